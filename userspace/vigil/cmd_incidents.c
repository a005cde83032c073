/* vigil incidents: triage the incidents of vigil-scored (list, show, assign, comment, update, close). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "http.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil incidents [OPTIONS] list [--status S] [--severity S] [--owner O] [--host H]\n"
"                                      [--search TEXT] [--limit N]\n"
"       vigil incidents [OPTIONS] show ID\n"
"       vigil incidents [OPTIONS] assign ID OWNER      (OWNER \"-\" unassigns)\n"
"       vigil incidents [OPTIONS] comment ID TEXT\n"
"       vigil incidents [OPTIONS] update ID [--status new|active] [--severity S] [--tags a,b]\n"
"       vigil incidents [OPTIONS] close ID --classification C [--comment TEXT]\n"
"\n"
"Incidents group the alerts of a host that share a process lineage, a container\n"
"or a user, or that advance along the ATT&CK tactic order, in vigil-scored.\n"
"Closing needs a classification: true_positive, benign_positive,\n"
"false_positive_incorrect_logic, false_positive_incorrect_data or undetermined.\n"
"Options:\n"
"  --server URL       vigil-scored base URL (default: $VIGIL_SERVER)\n"
"  --token-file FILE  reader token for list/show, operator token for changes\n"
"                     (default: $VIGIL_TOKEN_FILE, or $VIGIL_TOKEN itself)\n"
"  --json             print the service's JSON reply\n"
"Severity: informational, low, medium, high or critical; status: new, active,\n"
"closed (list also takes open = new or active).  --search matches id, title,\n"
"tags, owner and product.\n");
}

/* One API call.  Returns the reply (new reference) or NULL after printing an
 * error; *rc is the exit code to use then. */
static json_t *api(const char *server, const char *token, const char *method, const char *path, json_t *body,
		   int *rc)
{
	json_t *o;
	long status;

	*rc = VIGIL_EXIT_USAGE;
	if (cli_http_json(server, token, method, path, body, &status, &o))
		return NULL;
	if (status < 200 || status > 299) {
		fprintf(stderr, "Error: %s %s: HTTP %ld: %s\n", method, path, status, cli_http_reason(o));
		if (status == 401 || status == 403)
			*rc = VIGIL_EXIT_FINDINGS;     /* denied */
		json_decref(o);
		return NULL;
	}
	if (!o) {
		fprintf(stderr, "Error: %s %s: the reply is not JSON\n", method, path);
		return NULL;
	}
	*rc = VIGIL_EXIT_OK;
	return o;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

static const char *s_or(const json_t *o, const char *k, const char *def)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : def;
}

static void print_list(json_t *r)
{
	size_t i;
	json_t *v;

	printf("%-6s %-13s %-7s %-12s %6s  %-20s %s\n", "ID", "SEVERITY", "STATUS", "OWNER", "ALERTS", "LAST ACTIVITY",
	       "TITLE");
	json_array_foreach(json_object_get(r, "incidents"), i, v)
		printf("%-6lld %-13s %-7s %-12s %6lld  %-20.19s %s\n", (long long)json_integer_value(json_object_get(v, "id")),
		       s_or(v, "severity", "?"), s_or(v, "status", "?"), s_or(v, "owner", "-"),
		       (long long)json_integer_value(json_object_get(v, "alert_count")), s_or(v, "last_activity", "-"),
		       s_or(v, "title", ""));
	if (!json_array_size(json_object_get(r, "incidents")))
		printf("  (no incidents)\n");
}

static void print_incident(json_t *o)
{
	static const char *const groups[] = { "hosts", "processes", "files", "addresses", "users", "containers" };
	json_t *v, *tags = json_object_get(o, "tags");
	size_t i;

	printf("Incident %lld: %s\n", (long long)json_integer_value(json_object_get(o, "id")), s_or(o, "title", ""));
	printf("  severity %s (%s), status %s, owner %s, host %s\n", s_or(o, "severity", "?"),
	       s_or(o, "severity_source", "?"), s_or(o, "status", "?"), s_or(o, "owner", "unassigned"), s_or(o, "host", "?"));
	printf("  created %s; activity %s .. %s; %lld alert(s)\n", s_or(o, "created", "-"), s_or(o, "first_activity", "-"),
	       s_or(o, "last_activity", "-"), (long long)json_integer_value(json_object_get(o, "alert_count")));
	printf("  tactics:");
	json_array_foreach(json_object_get(o, "tactics"), i, v)
		printf("%s %s", i ? " ->" : "", s_or(v, "name", "?"));
	printf("%s\n  tags:", json_array_size(json_object_get(o, "tactics")) ? "" : " -");
	json_array_foreach(tags, i, v)
		printf(" %s", json_string_value(v));
	printf("%s\n", json_array_size(tags) ? "" : " -");
	if (json_string_value(json_object_get(o, "classification")))
		printf("  closed %s as %s: %s\n", s_or(o, "closed", "-"), s_or(o, "classification", "?"),
		       s_or(o, "classification_comment", "(no comment)"));
	printf("\nAlerts:\n");
	json_array_foreach(json_object_get(o, "alerts"), i, v) {
		json_t *m = json_object_get(v, "mitre"), *p = json_object_get(v, "process");
		printf("  %s  %-8s %-26s %-22s %s (%s)\n", s_or(v, "time", "-"), s_or(v, "severity", "?"), s_or(v, "rule", "?"),
		       s_or(m, "tactic_name", s_or(m, "tactic", "-")), s_or(p, "exe", "-"), s_or(v, "joined_by", "?"));
	}
	printf("\nEntities:\n");
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		json_t *arr = json_object_get(json_object_get(o, "entities"), groups[g]);
		if (!json_array_size(arr))
			continue;
		printf("  %s:\n", groups[g]);
		json_array_foreach(arr, i, v)
			printf("    %s  (%lld alert(s))\n", s_or(v, "node", "?"), (long long)json_integer_value(json_object_get(v, "alerts")));
	}
	printf("\nRelations:\n");
	json_array_foreach(json_object_get(o, "relations"), i, v)
		printf("  %s -[%s]-> %s\n", s_or(v, "from", "?"), s_or(v, "relation", "?"), s_or(v, "to", "?"));
	printf("\nTimeline:\n");
	json_array_foreach(json_object_get(o, "timeline"), i, v) {
		const char *type = s_or(v, "type", "?");
		if (!strcmp(type, "alert")) {
			printf("  %s  alert    %s [%s] %s\n", s_or(v, "time", "-"), s_or(v, "title", "?"), s_or(v, "tactic", "-"),
			       s_or(v, "process", ""));
		} else {
			char *d = json_dumps(json_object_get(v, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
			printf("  %s  %-8s by %s %s\n", s_or(v, "time", "-"), type, s_or(v, "actor", "?"),
			       d && strcmp(d, "null") ? d : "");
			free(d);
		}
	}
}

static int id_path(const char *id, const char *suffix, char *buf, size_t len)
{
	char *end;
	long long v = strtoll(id, &end, 10);

	if (!*id || *end || v <= 0) {
		fprintf(stderr, "Error: bad incident id '%s'\n", id);
		return -EINVAL;
	}
	snprintf(buf, len, "/api/v1/incidents/%lld%s", v, suffix);
	return 0;
}

int cmd_incidents(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 'S' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "status", required_argument, NULL, 's' },
		{ "severity", required_argument, NULL, 'v' },
		{ "owner", required_argument, NULL, 'o' },
		{ "host", required_argument, NULL, 'H' },
		{ "search", required_argument, NULL, 'q' },
		{ "limit", required_argument, NULL, 'n' },
		{ "classification", required_argument, NULL, 'c' },
		{ "comment", required_argument, NULL, 'm' },
		{ "tags", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server = getenv("VIGIL_SERVER"), *token_file = NULL, *status = NULL, *sev = NULL, *owner = NULL,
		   *host = NULL, *search = NULL, *limit = NULL, *cls = NULL, *comment = NULL, *tags = NULL, *sub;
	bool json = false;
	char path[4096], *tok = NULL;
	json_t *body = NULL, *r = NULL;
	int c, rc = VIGIL_EXIT_USAGE, npos;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'S': server = optarg; break;
		case 'T': token_file = optarg; break;
		case 'j': json = true; break;
		case 's': status = optarg; break;
		case 'v': sev = optarg; break;
		case 'o': owner = optarg; break;
		case 'H': host = optarg; break;
		case 'q': search = optarg; break;
		case 'n': limit = optarg; break;
		case 'c': cls = optarg; break;
		case 'm': comment = optarg; break;
		case 't': tags = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	sub = argv[optind];
	npos = argc - optind - 1;
	if (!server || !*server) {
		fprintf(stderr, "Error: no vigil-scored URL: give --server URL or set $VIGIL_SERVER\n");
		return VIGIL_EXIT_USAGE;
	}
	if (!strcmp(sub, "list") && npos == 0) {
		const char *keys[] = { "status", "severity", "owner", "host", "search", "limit" };
		const char *vals[] = { status, sev, owner, host, search, limit };
		if (cli_http_path(path, sizeof(path), "/api/v1/incidents", keys, vals, 6)) {
			fprintf(stderr, "Error: filters too long\n");
			return VIGIL_EXIT_USAGE;
		}
		cli_http_token(token_file, &tok);
		if ((r = api(server, tok, "GET", path, NULL, &rc)))
			json ? print_json(r) : print_list(r);
	} else if (!strcmp(sub, "show") && npos == 1) {
		if (id_path(argv[optind + 1], "", path, sizeof(path)))
			return VIGIL_EXIT_USAGE;
		cli_http_token(token_file, &tok);
		if ((r = api(server, tok, "GET", path, NULL, &rc)))
			json ? print_json(r) : print_incident(r);
	} else if (!strcmp(sub, "assign") && npos == 2) {
		const char *who = argv[optind + 2];
		if (id_path(argv[optind + 1], "", path, sizeof(path)))
			return VIGIL_EXIT_USAGE;
		body = !strcmp(who, "-") ? json_pack("{s:n}", "owner") : json_pack("{s:s}", "owner", who);
	} else if (!strcmp(sub, "comment") && npos == 2) {
		if (id_path(argv[optind + 1], "/comments", path, sizeof(path)))
			return VIGIL_EXIT_USAGE;
		body = json_pack("{s:s}", "text", argv[optind + 2]);
	} else if (!strcmp(sub, "close") && npos == 1) {
		if (!cls) {
			fprintf(stderr, "Error: closing needs --classification: true_positive, benign_positive,"
				" false_positive_incorrect_logic, false_positive_incorrect_data or undetermined\n");
			return VIGIL_EXIT_USAGE;
		}
		if (id_path(argv[optind + 1], "/close", path, sizeof(path)))
			return VIGIL_EXIT_USAGE;
		char *cl = strdup(cls);
		for (char *p = cl; p && *p; p++)
			if (*p == '-')
				*p = '_';          /* "true-positive" as well */
		body = json_pack("{s:s}", "classification", cl ? cl : cls);
		free(cl);
		if (comment)
			json_object_set_new(body, "comment", json_string(comment));
	} else if (!strcmp(sub, "update") && npos == 1) {
		if (id_path(argv[optind + 1], "", path, sizeof(path)))
			return VIGIL_EXIT_USAGE;
		body = json_object();
		if (status)
			json_object_set_new(body, "status", json_string(status));
		if (sev)
			json_object_set_new(body, "severity", json_string(sev));
		if (owner)
			json_object_set_new(body, "owner", strcmp(owner, "-") ? json_string(owner) : json_null());
		if (comment)
			json_object_set_new(body, "comment", json_string(comment));
		if (tags) {
			json_t *a = json_array();
			char *t = strdup(tags), *save = NULL;
			for (char *p = t ? strtok_r(t, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save))
				json_array_append_new(a, json_string(p));
			free(t);
			json_object_set_new(body, "tags", a);
		}
		if (!json_object_size(body)) {
			fprintf(stderr, "Error: update needs --status, --severity, --owner, --tags or --comment\n");
			json_decref(body);
			return VIGIL_EXIT_USAGE;
		}
	} else {
		fprintf(stderr, "Error: unknown or incomplete subcommand '%s' (see vigil incidents --help)\n", sub);
		return VIGIL_EXIT_USAGE;
	}
	if (body) {
		cli_http_token(token_file, &tok);
		r = api(server, tok, !strcmp(sub, "assign") || !strcmp(sub, "update") ? "PATCH" : "POST", path, body, &rc);
		if (r && json)
			print_json(r);
		else if (r && !strcmp(sub, "comment"))
			printf("comment %lld added to incident %lld\n", (long long)json_integer_value(json_object_get(r, "id")),
			       (long long)json_integer_value(json_object_get(r, "incident")));
		else if (r)
			printf("incident %lld: status %s, owner %s, severity %s%s%s\n",
			       (long long)json_integer_value(json_object_get(r, "id")), s_or(r, "status", "?"),
			       s_or(r, "owner", "unassigned"), s_or(r, "severity", "?"),
			       json_string_value(json_object_get(r, "classification")) ? ", classification " : "",
			       s_or(r, "classification", ""));
		json_decref(body);
	}
	json_decref(r);
	free(tok);
	return rc;
}
