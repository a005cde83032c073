/* vigil jit: just-in-time port access (request, list, revoke, history, status, disable). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "ctl.h"
#include "jit.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil jit COMMAND [OPTIONS]\n"
"\n"
"Just-in-time access to protected management ports, enforced in the kernel.\n"
"\n"
"Commands:\n"
"  request --port PORT [--proto tcp|udp] --from ADDR[/LEN] --duration D --justification TEXT\n"
"                 open PORT for ADDR[/LEN] for D (\"90s\", \"15m\", \"1h\"); a request for the\n"
"                 same source and port replaces the previous grant\n"
"  list           live grants: id, source, port, requestor, justification, start, end, remaining\n"
"  revoke ID      close a grant now\n"
"  history        the request history (issued, refused, replaced, expired, revoked)\n"
"  status         mode, interfaces and hooks, packet counters, unprotected listening ports\n"
"  disable [--pin-dir DIR]\n"
"                 detach the programs and remove the pinned maps (also without a daemon);\n"
"                 set jit.mode \"off\" in the policy to keep it off across restarts\n"
"\n"
"Options:\n"
"  --json          the daemon's reply as JSON\n"
"  --socket PATH   control socket (default: $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock)\n"
"\n"
"Exit status: 0 ok, 1 refused, 2 usage error or no daemon.\n");
}

static void print_time(const char *label, json_t *v)
{
	printf("%s%s", label, json_string_value(v) ? json_string_value(v) : "-");
}

static int print_json(json_t *r)
{
	char *s;

	json_object_del(r, "ok");
	s = json_dumps(r, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(r);
	return 0;
}

static void print_grant(json_t *g)
{
	json_t *rq = json_object_get(g, "requestor");

	printf("%-16s %-22s %s/%-5lld %-12s", json_string_value(json_object_get(g, "id")),
	       json_string_value(json_object_get(g, "source")),
	       json_string_value(json_object_get(g, "protocol")), json_integer_value(json_object_get(g, "port")),
	       json_string_value(json_object_get(rq, "user")) ?: "?");
	print_time(" ", json_object_get(g, "start"));
	print_time(" ", json_object_get(g, "end"));
	printf(" %llds  %s\n", json_integer_value(json_object_get(g, "remaining_s")),
	       json_string_value(json_object_get(g, "justification")) ?: "");
}

int cmd_jit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "justification", required_argument, NULL, 'J' },
		{ "pin-dir", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *proto = NULL, *from = NULL, *dur = NULL, *just = NULL, *pin_dir = NULL, *sub;
	long port = -1;
	bool json = false;
	json_t *r, *req;
	char *end;
	int c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? VIGIL_EXIT_USAGE : 0;
	}
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (!*optarg || *end) {
				fprintf(stderr, "Error: --port: \"%s\" is not a number\n", optarg);
				return VIGIL_EXIT_USAGE;
			}
			break;
		case 'P': proto = optarg; break;
		case 'f': from = optarg; break;
		case 'd': dur = optarg; break;
		case 'J': just = optarg; break;
		case 'D': pin_dir = optarg; break;
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	sock = cli_socket_path(sock);

	if (!strcmp(sub, "request")) {
		if (port < 0 || !from || !dur || !just) {
			fprintf(stderr, "Error: request needs --port, --from, --duration and --justification\n");
			return VIGIL_EXIT_USAGE;
		}
		req = json_pack("{s:I, s:s, s:s, s:s, s:s}", "port", (json_int_t)port, "protocol", proto ? proto : "tcp",
				"from", from, "duration", dur, "justification", just);
		r = cli_request(sock, "jit_request", req);
		json_decref(req);
		if (!r)
			return VIGIL_EXIT_FINDINGS;
		if (json)
			return print_json(r);
		json_t *g = json_object_get(r, "grant");
		printf("granted %s: %s to %s/%lld until %s (%llds)%s%s\n", json_string_value(json_object_get(g, "id")),
		       json_string_value(json_object_get(g, "source")), json_string_value(json_object_get(g, "protocol")),
		       json_integer_value(json_object_get(g, "port")), json_string_value(json_object_get(g, "end")),
		       json_integer_value(json_object_get(g, "remaining_s")),
		       json_object_get(g, "replaces") ? ", replaces " : "",
		       json_object_get(g, "replaces") ? json_string_value(json_object_get(g, "replaces")) : "");
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "list")) {
		size_t i;
		json_t *g;

		if (!(r = cli_request(sock, "jit_list", NULL)))
			return VIGIL_EXIT_USAGE;
		if (json)
			return print_json(r);
		printf("%-16s %-22s %-11s %-12s %-27s %-27s %s  %s\n", "ID", "SOURCE", "PORT", "REQUESTOR", "START",
		       "END", "REMAINING", "JUSTIFICATION");
		json_array_foreach(json_object_get(r, "grants"), i, g)
			print_grant(g);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "revoke")) {
		if (optind >= argc) {
			fprintf(stderr, "Error: revoke needs a grant id (see 'vigil jit list')\n");
			return VIGIL_EXIT_USAGE;
		}
		req = json_pack("{s:s}", "id", argv[optind]);
		r = cli_request(sock, "jit_revoke", req);
		json_decref(req);
		if (!r)
			return VIGIL_EXIT_FINDINGS;
		if (json)
			return print_json(r);
		printf("revoked %s\n", argv[optind]);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "history")) {
		size_t i;
		json_t *e;

		if (!(r = cli_request(sock, "jit_history", NULL)))
			return VIGIL_EXIT_USAGE;
		if (json)
			return print_json(r);
		json_array_foreach(json_object_get(r, "history"), i, e) {
			char *s = json_dumps(e, JSON_COMPACT);
			puts(s);
			free(s);
		}
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "status")) {
		if (!(r = cli_request(sock, "jit_status", NULL)))
			return VIGIL_EXIT_USAGE;
		if (json)
			return print_json(r);
		json_t *s = json_object_get(r, "jit"), *v;
		const char *k;
		size_t i;

		printf("mode     %s%s, pin dir %s\n", json_string_value(json_object_get(s, "mode")),
		       json_is_true(json_object_get(s, "strict")) ? " (strict)" : "",
		       json_string_value(json_object_get(s, "pin_dir")));
		printf("hooks   ");
		json_array_foreach(json_object_get(s, "interfaces"), i, v)
			printf(" %s:%s%s", json_string_value(json_object_get(v, "name")),
			       json_string_value(json_object_get(v, "hook")),
			       json_is_true(json_object_get(v, "adopted")) ? "(adopted)" : "");
		printf("\ngrants   %lld\npackets ", json_integer_value(json_object_get(s, "grants")));
		json_object_foreach(json_object_get(s, "packets"), k, v)
			printf(" %s %lld", k, json_integer_value(v));
		printf("\nunprotected management listeners:");
		json_array_foreach(json_object_get(r, "unprotected_listeners"), i, v)
			printf(" %s/[%s]:%lld", json_string_value(json_object_get(v, "protocol")),
			       json_string_value(json_object_get(v, "address")), json_integer_value(json_object_get(v, "port")));
		printf("%s\n", json_array_size(json_object_get(r, "unprotected_listeners")) ? "" : " none");
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "disable")) {
		json_t *resp = NULL;

		req = json_pack("{s:s}", "cmd", "jit_disable");
		c = ctl_request(sock, req, &resp, 10000);
		json_decref(req);
		if (c == 0 && !json_object_get(resp, "error")) {
			printf("JIT disabled: programs detached, pins under %s removed\n",
			       json_string_value(json_object_get(resp, "pin_dir")));
			json_decref(resp);
			return 0;
		}
		if (c == 0) {
			fprintf(stderr, "Error: %s\n", json_string_value(json_object_get(resp, "error")));
			json_decref(resp);
			return VIGIL_EXIT_FINDINGS;
		}
		/* no daemon: remove the pins ourselves */
		c = jit_unpin_all(pin_dir ? pin_dir : JIT_DEFAULT_PIN_DIR);
		if (c) {
			fprintf(stderr, "Error: cannot remove %s: %s\n", pin_dir ? pin_dir : JIT_DEFAULT_PIN_DIR, strerror(-c));
			return VIGIL_EXIT_FINDINGS;
		}
		printf("JIT disabled (no daemon): pins under %s removed\n", pin_dir ? pin_dir : JIT_DEFAULT_PIN_DIR);
		return 0;
	}
	fprintf(stderr, "Error: unknown jit command '%s'\n", sub);
	usage(stderr);
	return VIGIL_EXIT_USAGE;
}
