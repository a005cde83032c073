/* vigil CLI subcommands: each takes argv with argv[0] = the subcommand name. */
#ifndef VIGIL_CMDS_H
#define VIGIL_CMDS_H

#include <jansson.h>

int cmd_status(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_jit(int argc, char **argv);

/* Control socket path: --socket, $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock
 * (the first that exists).  Returns a static string. */
const char *cli_socket_path(const char *opt);
/* Sends {"cmd": cmd, ...fields} to the daemon; prints an error and returns NULL on failure. */
json_t *cli_request(const char *sock, const char *cmd, json_t *fields);

#endif
