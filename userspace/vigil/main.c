/* vigil: the command-line interface (bpftool-style command table). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "ctl.h"
#include "paths.h"
#include "util.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "status", cmd_status, "capabilities, attached programs, events/s, losses, memory" },
	{ "tail", cmd_tail, "show and follow the alert log" },
	{ "policy", cmd_policy, "check a policy file" },
	{ "aac", cmd_aac, "application control: status, mode, recommend, apply, learned" },
	{ "jit", cmd_jit, "just-in-time port access: request, list, revoke, history, status, disable" },
	{ "fim", cmd_fim, "file integrity: baseline, check, accept, status" },
	{ "posture", cmd_posture, "assess this host: recommendations, evidence, remediation" },
	{ "fix", cmd_fix, "apply the automated fix of a recommendation" },
	{ "score", cmd_score, "secure score of this host or of the fleet (--server)" },
	{ "incidents", cmd_incidents, "fleet incidents (--server): list, show, assign, comment, update, close" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: vigil COMMAND [ARGS]   (vigil COMMAND --help for details)\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n  --version  print the version\n");
	fprintf(f, "\nExit status: 0 ok, 1 findings or denied, 2 usage or input error.\n");
}

const char *cli_socket_path(const char *opt)
{
	static char buf[4096];
	const char *env = getenv("VIGIL_SOCKET");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	if (access(VIGIL_DEFAULT_RUN_DIR "/" VIGIL_SOCK_NAME, F_OK) == 0)
		return VIGIL_DEFAULT_RUN_DIR "/" VIGIL_SOCK_NAME;
	snprintf(buf, sizeof(buf), "%s/%s", VIGIL_LOCAL_RUN_DIR, VIGIL_SOCK_NAME);
	if (access(buf, F_OK) == 0)
		return buf;
	return VIGIL_DEFAULT_RUN_DIR "/" VIGIL_SOCK_NAME;
}

json_t *cli_request(const char *sock, const char *cmd, json_t *fields)
{
	json_t *req = fields ? json_deep_copy(fields) : json_object();
	json_t *resp = NULL;
	int r;

	json_object_set_new(req, "cmd", json_string(cmd));
	r = ctl_request(sock, req, &resp, 10000);
	json_decref(req);
	if (r) {
		if (r == -ENOENT || r == -ECONNREFUSED)
			fprintf(stderr, "Error: vigild is not running (no control socket at %s)\n", sock);
		else
			fprintf(stderr, "Error: %s: %s\n", sock, strerror(-r));
		return NULL;
	}
	if (json_object_get(resp, "error")) {
		fprintf(stderr, "Error: %s\n", json_string_value(json_object_get(resp, "error")));
		json_decref(resp);
		return NULL;
	}
	return resp;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vigil %s\n", VIGIL_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "Error: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return VIGIL_EXIT_USAGE;
}
