/* vigil score: the secure score of this host (vigild) or of the fleet (vigil-scored). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "http.h"
#include "jsonx.h"
#include "score.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil score [--server URL [--token-file FILE] [--host HOST]] [--top N] [--json] [--local]\n"
"\n"
"Prints the secure score, each security control (maximum, current score,\n"
"potential increase, healthy/unhealthy/not applicable resources) and the\n"
"recommendations ranked by potential score increase.  Without --server: this\n"
"host's score from vigild's posture assessment; with --server: the fleet's\n"
"from vigil-scored (or one host's with --host).\n"
"  --server URL       vigil-scored base URL (default: $VIGIL_SERVER)\n"
"  --token-file FILE  reader token (default: $VIGIL_TOKEN_FILE, or $VIGIL_TOKEN itself)\n"
"  --top N            recommendations listed (default 10)\n"
"  --json             {\"score\", \"controls\", \"recommendations\"} as one JSON object\n"
"  --local            with no --server: assess in this process even when vigild runs\n"
"Score model: control score = max x healthy / (healthy + unhealthy); secure score =\n"
"sum of control scores / sum of maxima of evaluable controls; potential increase =\n"
"max / resources in the control x unhealthy resources.\n");
}

/* One GET; the reply (new reference), or NULL after printing an error. */
static json_t *get(const char *server, const char *token, const char *path)
{
	json_t *o;
	long status;

	if (cli_http_json(server, token, "GET", path, NULL, &status, &o))
		return NULL;
	if (status != 200) {
		fprintf(stderr, "Error: %s%s: HTTP %ld: %s\n", server, path, status, cli_http_reason(o));
		json_decref(o);
		return NULL;
	}
	return o;
}

static void print(json_t *sc, json_t *controls, json_t *recs, const char *what, size_t top)
{
	json_t *v;
	size_t i;

	printf("Secure score (%s): %.0f%%  (%.2f of %.2f points; %lld of %zu controls evaluable)\n\n", what,
	       json_number_value(json_object_get(sc, "percent")), json_number_value(json_object_get(sc, "current")),
	       json_number_value(json_object_get(sc, "max")),
	       (long long)json_integer_value(json_object_get(sc, "evaluable_controls")), json_array_size(controls));
	printf("%-36s %5s %8s %9s %8s %9s %5s %7s\n", "CONTROL", "MAX", "CURRENT", "POTENTIAL", "HEALTHY", "UNHEALTHY",
	       "N/A", "UNKNOWN");
	json_array_foreach(controls, i, v) {
		bool ev = json_is_true(json_object_get(v, "evaluable"));
		double max = json_number_value(json_object_get(v, "max")), cur = json_number_value(json_object_get(v, "current"));
		char curs[16], pots[16];

		if (ev) {
			snprintf(curs, sizeof(curs), "%.2f", cur);
			snprintf(pots, sizeof(pots), "%+.2f", max - cur);
		} else {
			snprintf(curs, sizeof(curs), "-");
			snprintf(pots, sizeof(pots), "-");
		}
		printf("%-36s %5.0f %8s %9s %8lld %9lld %5lld %7lld%s\n", json_string_value(json_object_get(v, "title")), max,
		       curs, pots, (long long)json_integer_value(json_object_get(v, "healthy")),
		       (long long)json_integer_value(json_object_get(v, "unhealthy")),
		       (long long)json_integer_value(json_object_get(v, "not_applicable")),
		       (long long)json_integer_value(json_object_get(v, "unknown")), ev ? "" : "  (nothing evaluable)");
	}
	printf("\nTop recommendations by potential score increase:\n");
	printf("%9s  %-8s %-9s %-28s %s\n", "POTENTIAL", "SEVERITY", "UNHEALTHY", "RECOMMENDATION", "TITLE");
	size_t shown = 0;
	json_array_foreach(recs, i, v) {
		if (shown >= top)
			break;
		if (json_number_value(json_object_get(v, "potential_increase")) <= 0)
			continue;
		printf("%+9.2f  %-8s %-9lld %-28s %s\n", json_number_value(json_object_get(v, "potential_increase")),
		       json_string_value(json_object_get(v, "severity")) ?: "?",
		       (long long)json_integer_value(json_object_get(v, "unhealthy")),
		       json_string_value(json_object_get(v, "id")), json_string_value(json_object_get(v, "title")) ?: "");
		shown++;
	}
	if (!shown)
		printf("  (none: every evaluable recommendation is healthy)\n");
}

static int cmp_pot(const void *a, const void *b)
{
	double x = json_number_value(json_object_get(*(json_t *const *)a, "potential_increase"));
	double y = json_number_value(json_object_get(*(json_t *const *)b, "potential_increase"));

	return x < y ? 1 : x > y ? -1 : 0;
}

int cmd_score(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "host", required_argument, NULL, 'H' },
		{ "top", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "local", no_argument, NULL, 'L' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = getenv("VIGIL_SERVER"), *token_file = NULL, *host = NULL, *sock = NULL;
	bool json = false, local = false;
	long top = 10;
	json_t *sc = NULL, *controls = NULL, *recs = NULL, *out;
	char *end;
	int c, rc = VIGIL_EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'S': server = optarg; break;
		case 'T': token_file = optarg; break;
		case 'H': host = optarg; break;
		case 'n':
			top = strtol(optarg, &end, 10);
			if (*end || top < 0 || top > 1000) {
				fprintf(stderr, "Error: --top must be 0 to 1000\n");
				return VIGIL_EXIT_USAGE;
			}
			break;
		case 'j': json = true; break;
		case 'L': local = true; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
		return VIGIL_EXIT_USAGE;
	}
	if (server && *server) {
		char *tok, spath[4096], rpath[4096], limit[24];
		const char *keys[] = { "limit", "host" }, *vals[] = { limit, host };
		json_t *s, *r;

		snprintf(limit, sizeof(limit), "%ld", top ? top : 1);
		if (cli_http_path(spath, sizeof(spath), "/api/v1/score", keys + 1, vals + 1, 1) ||
		    cli_http_path(rpath, sizeof(rpath), "/api/v1/recommendations", keys, vals, 2)) {
			fprintf(stderr, "Error: --host too long\n");
			return VIGIL_EXIT_USAGE;
		}
		cli_http_token(token_file, &tok);    /* without one the service answers 401 */
		s = get(server, tok, spath);
		r = s ? get(server, tok, rpath) : NULL;
		free(tok);
		if (!s || !r) {
			json_decref(s);
			json_decref(r);
			return VIGIL_EXIT_USAGE;
		}
		sc = json_incref(json_object_get(s, "score"));
		controls = json_incref(json_object_get(s, "controls"));
		recs = json_incref(json_object_get(r, "recommendations"));
		if (!json && !host)
			printf("fleet of %lld host(s) at %s\n", (long long)json_integer_value(json_object_get(s, "hosts")), server);
		json_decref(s);
		json_decref(r);
	} else {
		json_t *snap = cli_posture_get(cli_socket_path(sock), local), *v;
		size_t i, n;
		if (!snap)
			return VIGIL_EXIT_USAGE;
		sc = json_incref(json_object_get(snap, "score"));
		controls = json_incref(json_object_get(snap, "controls"));
		/* one host: a recommendation has one resource */
		json_t *src = json_object_get(snap, "recommendations");
		n = json_array_size(src);
		json_t **vv = calloc(n + 1, sizeof(*vv));
		json_array_foreach(src, i, v) {
			bool bad = !strcmp(json_string_value(json_object_get(v, "status")) ?: "", "unhealthy");
			json_object_set_new(v, "unhealthy", json_integer(bad));
			vv[i] = v;
		}
		qsort(vv, n, sizeof(*vv), cmp_pot);
		recs = json_array();
		for (i = 0; i < n && (long)i < top; i++)
			if (json_number_value(json_object_get(vv[i], "potential_increase")) > 0)
				json_array_append(recs, vv[i]);
		free(vv);
		host = json_string_value(json_object_get(snap, "host"));
		host = host ? strdup(host) : NULL;
		json_decref(snap);
		server = NULL;
	}
	if (json) {
		out = json_pack("{s:O, s:O, s:O}", "score", sc, "controls", controls, "recommendations", recs);
		char *s = json_dumps(out, JSON_COMPACT | JSONX_REAL_DIGITS);
		puts(s);
		free(s);
		json_decref(out);
	} else {
		char what[300];
		snprintf(what, sizeof(what), "%s%s", server && !host ? "fleet" : "host ", server && !host ? "" : host ? host : "?");
		print(sc, controls, recs, what, (size_t)top);
	}
	rc = 0;
	if (!server)
		free((char *)host);
	json_decref(sc);
	json_decref(controls);
	json_decref(recs);
	return rc;
}
