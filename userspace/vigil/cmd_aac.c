/*
 * `vigil aac`: adaptive application control.  Talks to vigild (the learning
 * store, mode and proposals live in the daemon); `apply` lets the daemon merge
 * and validate, then asks it to reload the policy.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

static void usage(FILE *f)
{
	fputs("Usage: vigil aac COMMAND [OPTIONS]\n"
	      "\n"
	      "Commands:\n"
	      "  status                 mode, backend (bpf_lsm | fanotify | audit_only), counters\n"
	      "  mode MODE              switch the running mode: off | learn | audit | enforce, or\n"
	      "                         reset (back to the policy's aac.mode).  Kept across restarts\n"
	      "                         (<state dir>/aac/mode.json) until reset.  Switching to\n"
	      "                         enforce is refused when it would deny vigild, this command\n"
	      "                         or the shell running it\n"
	      "  recommend [-o FILE]    allowlist proposal from what was learned (JSON in the policy's\n"
	      "                         format: {\"aac\": {\"rules\": [...]}, \"risky\": [...]})\n"
	      "  apply FILE [--dry-run] merge a reviewed proposal into the policy and reload it;\n"
	      "                         errors are FILE:LINE:COLUMN: message and nothing is applied\n"
	      "  learned [--clear]      the learning store (path, sha256, package, counts, ...)\n"
	      "\n"
	      "Options: --json (status, learned), --socket PATH\n"
	      "Exit status: 0 ok, 2 usage, input error or refusal.\n", f);
}

static int print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (!s)
		return VIGIL_EXIT_USAGE;
	puts(s);
	free(s);
	return 0;
}

int cmd_aac(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "clear", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *out = NULL, *sub;
	bool json = false, dry = false, clear = false;
	json_t *r = NULL, *req;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+jo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	sub = argv[optind++];
	if (!strcmp(sub, "help")) {
		usage(stdout);
		return 0;
	}
	/* options may also follow the subcommand */
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "--clear"))
			clear = true;
		else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else
			continue;
		argv[i] = NULL;
		if (i > 0 && argv[i - 1] && (!strcmp(argv[i - 1], "-o") || !strcmp(argv[i - 1], "--output") ||
					     !strcmp(argv[i - 1], "--socket")))
			argv[i - 1] = NULL;
	}
	const char *arg = NULL;
	for (int i = optind; i < argc; i++)
		if (argv[i]) {
			if (arg) {
				fprintf(stderr, "vigil aac %s: unexpected argument '%s'\n", sub, argv[i]);
				return VIGIL_EXIT_USAGE;
			}
			arg = argv[i];
		}
	sock = cli_socket_path(sock);

	if (!strcmp(sub, "status")) {
		if (!(r = cli_request(sock, "status", NULL)))
			return VIGIL_EXIT_USAGE;
		json_t *a = json_object_get(r, "aac");
		if (!a) {
			fputs("Error: this vigild runs no application control\n", stderr);
			rc = VIGIL_EXIT_USAGE;
		} else if (json) {
			rc = print_json(a);
		} else {
			json_t *fa = json_object_get(a, "fanotify"), *bl = json_object_get(a, "bpf_lsm");
			printf("mode        %s (policy: %s)\nbackend     %s, enforcement %s, on_error %s\n",
			       json_string_value(json_object_get(a, "mode")), json_string_value(json_object_get(a, "policy_mode")),
			       json_string_value(json_object_get(a, "backend")), json_string_value(json_object_get(a, "enforcement")),
			       json_string_value(json_object_get(a, "on_error")));
			printf("BPF LSM     %s (%s)\n", json_is_true(json_object_get(bl, "usable")) ? "usable" : "refused",
			       json_string_value(json_object_get(bl, "detail")));
			printf("rules       %lld (%lld glob, weaker)   learned %lld (dropped %lld)\n",
			       json_integer_value(json_object_get(a, "rules")), json_integer_value(json_object_get(a, "weak_rules")),
			       json_integer_value(json_object_get(a, "learned")), json_integer_value(json_object_get(a, "learn_dropped")));
			if (json_is_true(json_object_get(fa, "usable")))
				printf("fanotify    %lld events, %lld denied, %lld errors, cache %lld hits / %lld misses, "
				       "decision p50 %.1f us p99 %.1f us\n",
				       json_integer_value(json_object_get(fa, "events")), json_integer_value(json_object_get(fa, "denied")),
				       json_integer_value(json_object_get(fa, "errors")), json_integer_value(json_object_get(fa, "cache_hits")),
				       json_integer_value(json_object_get(fa, "cache_misses")),
				       json_number_value(json_object_get(fa, "decision_p50_us")),
				       json_number_value(json_object_get(fa, "decision_p99_us")));
		}
	} else if (!strcmp(sub, "mode")) {
		if (!arg) {
			fputs("vigil aac mode: missing MODE (off, learn, audit, enforce or reset)\n", stderr);
			return VIGIL_EXIT_USAGE;
		}
		req = json_pack("{s:s}", "mode", arg);
		r = cli_request(sock, "aac_mode", req);
		json_decref(req);
		if (!r)
			return VIGIL_EXIT_USAGE;
		printf("aac mode %s (enforcement %s)\n", json_string_value(json_object_get(r, "mode")),
		       json_string_value(json_object_get(r, "enforcement")));
	} else if (!strcmp(sub, "recommend")) {
		if (!(r = cli_request(sock, "aac_recommend", NULL)))
			return VIGIL_EXIT_USAGE;
		char *s = json_dumps(json_object_get(r, "proposal"), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (!s) {
			rc = VIGIL_EXIT_USAGE;
		} else if (out) {
			int e = util_write_file_atomic(out, s, strlen(s), 0644);
			if (e) {
				fprintf(stderr, "Error: cannot write %s: %s\n", out, strerror(-e));
				rc = VIGIL_EXIT_USAGE;
			}
		} else {
			puts(s);
		}
		free(s);
	} else if (!strcmp(sub, "apply")) {
		size_t len;
		char *text;

		if (!arg) {
			fputs("vigil aac apply: missing FILE (a proposal from `vigil aac recommend`)\n", stderr);
			return VIGIL_EXIT_USAGE;
		}
		if (!(text = util_read_file(arg, 16u << 20, &len))) {
			fprintf(stderr, "Error: %s: %s\n", arg, strerror(errno));
			return VIGIL_EXIT_USAGE;
		}
		req = json_pack("{s:s, s:s, s:b}", "proposal", text, "name", arg, "dry_run", dry);
		free(text);
		if (!req) {
			fprintf(stderr, "Error: %s: not valid UTF-8 text\n", arg);
			return VIGIL_EXIT_USAGE;
		}
		r = cli_request(sock, "aac_apply", req);
		json_decref(req);
		if (!r)
			return VIGIL_EXIT_USAGE;
		if (!dry) {
			json_t *rl = cli_request(sock, "reload", NULL);
			if (!rl) {
				json_decref(r);
				return VIGIL_EXIT_USAGE;
			}
			json_decref(rl);
		}
		printf("%s %lld new rule(s) into %s%s\n", dry ? "would merge" : "merged",
		       json_integer_value(json_object_get(r, "added")), json_string_value(json_object_get(r, "policy")),
		       dry ? "" : "; policy reloaded");
	} else if (!strcmp(sub, "learned")) {
		req = json_pack("{s:b}", "clear", clear);
		r = cli_request(sock, "aac_learned", req);
		json_decref(req);
		if (!r)
			return VIGIL_EXIT_USAGE;
		if (clear) {
			puts("learning store cleared");
		} else if (json) {
			rc = print_json(json_object_get(r, "entries"));
		} else {
			size_t i;
			json_t *e;
			json_array_foreach(json_object_get(r, "entries"), i, e)
				printf("%6lld  %-16.16s  %.16s  %s\n", json_integer_value(json_object_get(e, "count")),
				       json_is_string(json_object_get(e, "package")) ?
				       json_string_value(json_object_get(e, "package")) : "-",
				       json_string_value(json_object_get(e, "sha256")),
				       json_string_value(json_object_get(e, "path")));
		}
	} else {
		fprintf(stderr, "vigil aac: unknown command '%s'\n", sub);
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	json_decref(r);
	return rc;
}
