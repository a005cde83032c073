/* vigil CLI subcommands: each takes argv with argv[0] = the subcommand name. */
#ifndef VIGIL_CMDS_H
#define VIGIL_CMDS_H

#include <stdbool.h>
#include <jansson.h>

int cmd_status(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_aac(int argc, char **argv);
int cmd_jit(int argc, char **argv);
int cmd_fim(int argc, char **argv);
int cmd_posture(int argc, char **argv);
int cmd_fix(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_incidents(int argc, char **argv);
/* Posture snapshot from vigild, or assessed in-process when it is not running or local is
 * set (cmd_posture.c).  New reference; NULL after printing an error. */
json_t *cli_posture_get(const char *sock, bool local);

/* Control socket path: --socket, $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock
 * (the first that exists).  Returns a static string. */
const char *cli_socket_path(const char *opt);
/* Sends {"cmd": cmd, ...fields} to the daemon; prints an error and returns NULL on failure. */
json_t *cli_request(const char *sock, const char *cmd, json_t *fields);

#endif
