/* vigil fix: applies the automated fix of a recommendation and re-assesses it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "ctl.h"
#include "posture.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil fix REC_ID [--dry-run] [--json] [--local [--sysctl-dir DIR]] [--socket PATH]\n"
"\n"
"Applies the safe automated fix of a recommendation (see `vigil posture`):\n"
"sysctl values set now and persisted in the sysctl.d directory, permissions of\n"
"account files, vigil's own settings (e.g. acknowledging event loss); then\n"
"assesses the recommendation again.  vigild applies it; --local (or no vigild)\n"
"applies it in this process.\n"
"  --dry-run         print what would change, change nothing\n"
"  --json            the result as one JSON object\n"
"  --sysctl-dir DIR  with --local: where sysctl fixes persist (default /etc/sysctl.d)\n"
"Exit status: 0 healthy after the fix (or dry run), 1 still not healthy, 2 error.\n");
}

static json_t *fix_local(const char *id, bool dry, const char *sysctl_dir)
{
	const struct posture_rec *r = posture_find(id);
	struct posture_env e;
	json_t *actions = NULL, *before, *after;
	char err[512] = "";
	int rc;

	if (!r) {
		fprintf(stderr, "Error: no recommendation \"%s\" (see `vigil posture`)\n", id);
		return NULL;
	}
	posture_env_default(&e);
	if (sysctl_dir)
		e.sysctl_dir = sysctl_dir;
	before = posture_assess_one(&e, r);
	rc = posture_fix(&e, id, dry, &actions, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "Error: %s\n", err[0] ? err : strerror(-rc));
		json_decref(before);
		json_decref(actions);
		return NULL;
	}
	after = posture_assess_one(&e, r);
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:b}", "id", id, "dry_run", dry, "actions", actions,
			 "before", before, "after", after, "local", 1);
}

int cmd_fix(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "local", no_argument, NULL, 'L' },
		{ "sysctl-dir", required_argument, NULL, 'D' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *sysctl_dir = NULL, *id;
	bool dry = false, json = false, local = false;
	json_t *res = NULL, *v;
	size_t i;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "njh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': dry = true; break;
		case 'j': json = true; break;
		case 'L': local = true; break;
		case 'D': sysctl_dir = optarg; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	id = argv[optind];
	if (sysctl_dir && !local) {
		fprintf(stderr, "Error: --sysctl-dir goes with --local (vigild uses forward.posture.sysctl_dir)\n");
		return VIGIL_EXIT_USAGE;
	}
	if (!local) {
		json_t *req = json_pack("{s:s, s:s, s:b}", "cmd", "posture_fix", "id", id, "dry_run", dry);
		int r = ctl_request(cli_socket_path(sock), req, &res, 120000);
		json_decref(req);
		if (r == -ENOENT || r == -ECONNREFUSED) {
			fprintf(stderr, "vigil: vigild is not running: fixing in this process\n");
			local = true;
		} else if (r) {
			fprintf(stderr, "Error: %s: %s\n", cli_socket_path(sock), strerror(-r));
			return VIGIL_EXIT_USAGE;
		} else if (json_object_get(res, "error")) {
			fprintf(stderr, "Error: %s\n", json_string_value(json_object_get(res, "error")));
			json_decref(res);
			return VIGIL_EXIT_USAGE;
		}
	}
	if (local && !(res = fix_local(id, dry, sysctl_dir)))
		return VIGIL_EXIT_USAGE;
	json_object_del(res, "ok");
	const char *after = json_string_value(json_object_get(json_object_get(res, "after"), "status"));
	if (json) {
		char *s = json_dumps(res, JSON_COMPACT);
		puts(s);
		free(s);
	} else {
		printf("%s%s: %s\n", id, dry ? " (dry run)" : "",
		       json_array_size(json_object_get(res, "actions")) ? "" : "nothing to change");
		json_array_foreach(json_object_get(res, "actions"), i, v)
			printf("  %s %s\n", dry ? "would" : "did", json_string_value(v));
		printf("status: %s -> %s\n", json_string_value(json_object_get(json_object_get(res, "before"), "status")),
		       after ? after : "?");
		const char *why = json_string_value(json_object_get(json_object_get(res, "after"), "reason"));
		if (why && !dry)
			printf("  why: %s\n", why);
	}
	int rc = dry || (after && (!strcmp(after, "healthy") || !strcmp(after, "not_applicable"))) ? 0 : VIGIL_EXIT_FINDINGS;
	json_decref(res);
	return rc;
}
