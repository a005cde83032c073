/* vigild: the vigil agent.  Argument parsing and the loop; the work is in lib/agent.c. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "hostroot.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigild [OPTIONS]\n"
"\n"
"The vigil agent: loads the eBPF sensors, follows every exec, file change and\n"
"network event, and writes telemetry and alerts as JSON lines.  Runs in the\n"
"foreground; SIGHUP reloads the policy and reopens the logs; SIGINT/SIGTERM\n"
"detach every program and exit.\n"
"\n"
"Options:\n"
"  -p, --policy FILE     policy (default " VIGIL_DEFAULT_POLICY ")\n"
"  -l, --log-dir DIR     alerts.jsonl and events.jsonl (default " VIGIL_DEFAULT_LOG_DIR ")\n"
"  -s, --state-dir DIR   persistent state (default " VIGIL_DEFAULT_STATE_DIR ")\n"
"  -r, --run-dir DIR     pid file and control socket (default " VIGIL_DEFAULT_RUN_DIR ")\n"
"      --proc-root DIR   where the host's /proc is (default <host root>/proc)\n"
"      --host-root DIR   where the host's / is mounted, e.g. /host in a container\n"
"                        (default /); host files are read below it, alerts name\n"
"                        the host's paths\n"
"      --print-host-paths  print every host path vigild uses (JSON) and exit\n"
"      --metrics ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                        (off by default; e.g. 127.0.0.1:9464, [::1]:9464, :9464 = all)\n"
"  -v, --verbose         more messages (repeat for debug)\n"
"  -V, --version         print the version and exit\n"
"  -h, --help            this help\n"
"\n"
"Environment (Kubernetes pod metadata; see deploy/README.md):\n"
"  KUBERNETES_SERVICE_HOST/PORT  in-cluster API server (service-account token and CA\n"
"                        from /var/run/secrets/kubernetes.io/serviceaccount)\n"
"  NODE_NAME             this node: only its pods are listed and watched\n"
"  VIGIL_K8S_API         API server URL overriding the in-cluster one; \"off\"\n"
"                        disables the API (the /var/log/pods fallback stays)\n"
"\n"
"Exit status: 0 after a clean shutdown, 2 when it cannot start (the reason is\n"
"printed on one line).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "log-dir", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "proc-root", required_argument, NULL, 'P' },
		{ "host-root", required_argument, NULL, 'H' },
		{ "print-host-paths", no_argument, NULL, 'L' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_opts o = {
		.policy_path = VIGIL_DEFAULT_POLICY,
		.log_dir = VIGIL_DEFAULT_LOG_DIR,
		.state_dir = VIGIL_DEFAULT_STATE_DIR,
		.run_dir = VIGIL_DEFAULT_RUN_DIR,
		.host_root = "/",
	};
	bool print_paths = false;
	char err[1024];
	struct agent *a;
	int c, r;

	while ((c = getopt_long(argc, argv, "p:l:s:r:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.policy_path = optarg; break;
		case 'l': o.log_dir = optarg; break;
		case 's': o.state_dir = optarg; break;
		case 'r': o.run_dir = optarg; break;
		case 'P': o.proc_root = optarg; break;
		case 'H': o.host_root = optarg; break;
		case 'L': print_paths = true; break;
		case 'M': o.metrics_listen = optarg; break;
		case 'v': vlog_verbosity++; break;
		case 'V': printf("vigild %s\n", VIGIL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vigild: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	if (print_paths) {
		struct hostroot_dirs hd = { o.host_root, o.proc_root, o.log_dir, o.state_dir, o.run_dir };
		json_t *l = hostroot_paths(&hd);

		if (!l || json_dumpf(l, stdout, JSON_INDENT(1)) || puts("") == EOF) {
			fprintf(stderr, "vigild: error: cannot print the host paths\n");
			return VIGIL_EXIT_USAGE;
		}
		json_decref(l);
		return 0;
	}
	if (o.metrics_listen) {
		struct sockaddr_storage ss;
		bool dual;

		if (metrics_parse_listen(o.metrics_listen, &ss, &dual)) {
			fprintf(stderr, "vigild: error: --metrics %s: expected ADDRESS:PORT, [IPV6]:PORT or :PORT\n",
				o.metrics_listen);
			return VIGIL_EXIT_USAGE;
		}
	}
	/* Fixed glibc thresholds (their documented defaults, mallopt(3)): left dynamic, the
	 * first large free raises them to its size, so a start-up table freed later (the dpkg
	 * index while it grows, FIM scan lists) makes glibc keep megabytes of free heap and
	 * arena top for good, and puts later large callocs on reused heap, zeroed page by page,
	 * instead of untouched mmap'd pages. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	if (hostroot_check(o.host_root, err, sizeof(err))) {
		fprintf(stderr, "vigild: error: --host-root: %s\n", err);
		return VIGIL_EXIT_USAGE;
	}
	a = agent_new(&o, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "vigild: error: %s\n", err);
		return VIGIL_EXIT_USAGE;
	}
	r = agent_run(a);
	agent_free(a);
	fprintf(stderr, "vigild: stopped, every program detached\n");
	return r ? 1 : 0;
}
