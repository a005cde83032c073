/*
 * `vigil policy`: policy commands that need no daemon.  `check` runs the
 * daemon's own parser (userspace/lib/policy.c), so a file that passes here is
 * one vigild accepts.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "util.h"

int cmd_policy(int argc, char **argv);

static void usage(FILE *f)
{
	fputs("Usage: vigil policy check FILE...\n"
	      "       vigil policy --help\n"
	      "\n"
	      "Commands:\n"
	      "  check FILE...  validate policy files strictly, as vigild does; prints\n"
	      "                 \"FILE: ok\", or the first error as FILE:LINE:COLUMN: message\n"
	      "                 on stderr\n"
	      "\n"
	      "Exit status: 0 all files valid, 2 invalid policy, unreadable file or usage error.\n",
	      f);
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0;
}

static int policy_check(int argc, char **argv)
{
	int rc = VIGIL_EXIT_OK, i = 1;

	if (argc > 1 && is_help(argv[1])) {
		usage(stdout);
		return VIGIL_EXIT_OK;
	}
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		i++;
	else if (argc > 1 && argv[1][0] == '-' && argv[1][1]) {
		fprintf(stderr, "vigil policy check: unknown option '%s'\n", argv[1]);
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	if (i >= argc) {
		fputs("vigil policy check: missing FILE\n", stderr);
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	for (; i < argc; i++) {
		struct vigil_policy *p = NULL;
		char err[1024];

		if (policy_load(argv[i], &p, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = VIGIL_EXIT_USAGE;
			continue;
		}
		printf("%s: ok\n", argv[i]);
		policy_free(p);
	}
	return rc;
}

/* argv[0] is "policy"; returns the process exit code (DESIGN.md). */
int cmd_policy(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	if (is_help(argv[1])) {
		usage(stdout);
		return VIGIL_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return policy_check(argc - 1, argv + 1);
	fprintf(stderr, "vigil policy: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return VIGIL_EXIT_USAGE;
}
