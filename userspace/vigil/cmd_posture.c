/* vigil posture: the host's recommendations (from vigild, or assessed here when it is not running). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "cmds.h"
#include "ctl.h"
#include "jsonx.h"
#include "posture.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil posture [--json] [--local] [--socket PATH] [--control ID] [--unhealthy]\n"
"\n"
"Assesses this host against vigil's recommendation catalogue (kernel and OS\n"
"hardening, accounts and access, files, and vigil's own runtime coverage) and\n"
"prints each recommendation's status, the evidence found and the remediation,\n"
"then the containers running on the node (pod, namespace, container name, image).\n"
"vigild runs the assessment; when it is not running (or with --local) the CLI\n"
"assesses in-process and the runtime checks report that nothing protects the host.\n"
"  --json          the snapshot as one JSON object\n"
"  --local         assess in this process even when vigild runs\n"
"  --control ID    only this security control (e.g. harden_os)\n"
"  --unhealthy     only recommendations that are not healthy\n"
"  --socket PATH   control socket (default: $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock)\n"
"Exit status: 0 all evaluable recommendations healthy, 1 some unhealthy, 2 error.\n");
}

json_t *cli_posture_get(const char *sock, bool local)
{
	struct posture_env e;
	struct utsname un;
	char host[256] = "";
	json_t *snap;

	if (!local) {
		json_t *req = json_pack("{s:s}", "cmd", "posture"), *resp = NULL;
		int r = ctl_request(sock, req, &resp, 120000);

		json_decref(req);
		if (!r && json_object_get(resp, "error")) {
			fprintf(stderr, "Error: %s\n", json_string_value(json_object_get(resp, "error")));
			json_decref(resp);
			return NULL;
		}
		if (!r) {
			snap = json_incref(json_object_get(resp, "posture"));
			json_decref(resp);
			if (!snap)
				fprintf(stderr, "Error: vigild sent no posture\n");
			return snap;
		}
		if (r != -ENOENT && r != -ECONNREFUSED) {
			fprintf(stderr, "Error: %s: %s\n", sock, strerror(-r));
			return NULL;
		}
		fprintf(stderr, "vigil: vigild is not running (%s): assessing in this process\n", sock);
	}
	posture_env_default(&e);
	snap = posture_assess(&e);
	if (!snap) {
		fprintf(stderr, "Error: out of memory\n");
		return NULL;
	}
	gethostname(host, sizeof(host) - 1);
	json_object_set_new(snap, "host", json_string(host));
	json_object_set_new(snap, "agent_version", json_string(VIGIL_VERSION));
	if (!uname(&un))
		json_object_set_new(snap, "kernel", json_string(un.release));
	json_object_set_new(snap, "local", json_true());
	return snap;
}

static int status_rank(const char *s)
{
	static const char *const order[] = { "unhealthy", "unknown", "not_applicable", "healthy" };

	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, order[i]))
			return i;
	return 4;
}

/* The containers vigild saw running (snapshot "workloads"), ids shortened as `docker ps` does. */
static void print_workloads(const json_t *snap)
{
	const json_t *w = json_object_get(snap, "workloads"), *v;
	json_int_t omitted = json_integer_value(json_object_get(snap, "workloads_omitted"));
	size_t i;

	if (!json_array_size(w) && !omitted)
		return;
	printf("\n%zu container(s) running", json_array_size(w) + (size_t)omitted);
	if (omitted)
		printf(" (%lld not listed)", (long long)omitted);
	printf("\n%-12s %-10s %5s  %-40s %-16s %s\n", "CONTAINER", "RUNTIME", "PROCS", "NAMESPACE/POD", "NAME", "IMAGE");
	json_array_foreach(w, i, v) {
		const char *ns = json_string_value(json_object_get(v, "namespace"));
		const char *pod = json_string_value(json_object_get(v, "pod"));
		char nspod[320];

		snprintf(nspod, sizeof(nspod), "%s%s%s", ns ?: "", ns ? "/" : "", pod ?: "-");
		printf("%-12.12s %-10s %5lld  %-40s %-16s %s\n", json_string_value(json_object_get(v, "id")) ?: "?",
		       json_string_value(json_object_get(v, "runtime")) ?: "-",
		       (long long)json_integer_value(json_object_get(v, "processes")), nspod,
		       json_string_value(json_object_get(v, "name")) ?: "-",
		       json_string_value(json_object_get(v, "image")) ?: "-");
	}
}

int cmd_posture(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "local", no_argument, NULL, 'L' },
		{ "socket", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "unhealthy", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *control = NULL;
	bool json = false, local = false, only_bad = false;
	json_t *snap, *recs, *v, *sc;
	size_t i, bad = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'L': local = true; break;
		case 's': sock = optarg; break;
		case 'c': control = optarg; break;
		case 'u': only_bad = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
		return VIGIL_EXIT_USAGE;
	}
	if (control && !score_control_find(control)) {
		fprintf(stderr, "Error: unknown control '%s'\n", control);
		return VIGIL_EXIT_USAGE;
	}
	if (!(snap = cli_posture_get(cli_socket_path(sock), local)))
		return VIGIL_EXIT_USAGE;
	recs = json_object_get(snap, "recommendations");
	json_array_foreach(recs, i, v)
		bad += !strcmp(json_string_value(json_object_get(v, "status")) ?: "", "unhealthy");
	if (json) {
		char *s = json_dumps(snap, JSON_COMPACT | JSONX_REAL_DIGITS);
		puts(s);
		free(s);
		json_decref(snap);
		return bad ? VIGIL_EXIT_FINDINGS : 0;
	}
	sc = json_object_get(snap, "score");
	printf("host %s  kernel %s  assessed %s%s\n", json_string_value(json_object_get(snap, "host")) ?: "?",
	       json_string_value(json_object_get(snap, "kernel")) ?: "?", json_string_value(json_object_get(snap, "time")) ?: "?",
	       json_is_true(json_object_get(snap, "local")) ? " (in-process: vigild not consulted)" : "");
	printf("secure score %.0f%% (%.2f of %.2f points)\n\n", json_number_value(json_object_get(sc, "percent")),
	       json_number_value(json_object_get(sc, "current")), json_number_value(json_object_get(sc, "max")));
	printf("%-15s %-8s %-9s %-28s %s\n", "STATUS", "SEVERITY", "POTENTIAL", "RECOMMENDATION", "TITLE");
	for (int rank = 0; rank < 4; rank++) {
		json_array_foreach(recs, i, v) {
			const char *st = json_string_value(json_object_get(v, "status"));
			const char *reason = json_string_value(json_object_get(v, "reason"));
			if (status_rank(st) != rank || (only_bad && rank == 3))
				continue;
			if (control && strcmp(control, json_string_value(json_object_get(v, "control")) ?: ""))
				continue;
			printf("%-15s %-8s %+9.2f %-28s %s\n", st, json_string_value(json_object_get(v, "severity")),
			       json_number_value(json_object_get(v, "potential_increase")),
			       json_string_value(json_object_get(v, "id")), json_string_value(json_object_get(v, "title")));
			if (reason)
				printf("%-15s   why: %s\n", "", reason);
			if (!strcmp(st, "unhealthy")) {
				if (json_is_true(json_object_get(json_object_get(v, "fix"), "automated")))
					printf("%-15s   fix: vigil fix %s\n", "", json_string_value(json_object_get(v, "id")));
				else
					printf("%-15s   remediation: %s\n", "", json_string_value(json_object_get(v, "remediation")));
			}
		}
	}
	print_workloads(snap);
	json_decref(snap);
	return bad ? VIGIL_EXIT_FINDINGS : 0;
}
