/* vigil status: what the daemon is doing. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "cmds.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil status [--json] [--socket PATH]\n"
"\n"
"Shows the running vigild: kernel capabilities and the backend each feature\n"
"uses, attached BPF programs, events per second, loss counters by event type\n"
"and cause, process-table size, hash-cache hits and the daemon's RSS.\n"
"  --json          the daemon's reply as one JSON object\n"
"  --socket PATH   control socket (default: $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock)\n");
}

static const char *yesno(json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k)) ? "yes" : "no";
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	bool json = false;
	json_t *r, *caps, *v;
	const char *k;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	r = cli_request(cli_socket_path(sock), "status", NULL);
	if (!r)
		return VIGIL_EXIT_USAGE;
	json_object_del(r, "ok");
	if (json) {
		char *s = json_dumps(r, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(r);
		return 0;
	}
	printf("vigild %s  pid %lld  up %llds  host %s\n", json_string_value(json_object_get(r, "version")),
	       json_integer_value(json_object_get(r, "pid")), json_integer_value(json_object_get(r, "uptime_s")),
	       json_string_value(json_object_get(r, "host")));
	printf("policy   %s\nalerts   %s\nevents   %s\n", json_string_value(json_object_get(r, "policy")),
	       json_string_value(json_object_get(r, "alerts_log")), json_string_value(json_object_get(r, "events_log")));
	caps = json_object_get(r, "capabilities");
	printf("kernel   btf %s, ringbuf %s, tracepoints %s, bpffs %s, BPF LSM %s%s%s%s, fanotify permission %s, XDP %s, TC %s, cgroup2 %s\n",
	       yesno(caps, "btf"), yesno(caps, "ringbuf"), yesno(caps, "tracepoints"), yesno(caps, "bpffs"), yesno(caps, "bpf_lsm"),
	       json_object_get(caps, "bpf_lsm_error") ? " (" : "",
	       json_object_get(caps, "bpf_lsm_error") ? json_string_value(json_object_get(caps, "bpf_lsm_error")) : "",
	       json_object_get(caps, "bpf_lsm_error") ? ")" : "",
	       yesno(caps, "fanotify_perm"), yesno(caps, "xdp"), yesno(caps, "tc_clsact"),
	       json_string_value(json_object_get(caps, "cgroup2")));
	/* per sensor: attached/total (the names are in --json) */
	printf("programs");
	{
		const char *names[8] = { 0 };
		int att[8] = { 0 }, tot[8] = { 0 }, n = 0;
		size_t i;

		json_array_foreach(json_object_get(r, "programs"), i, v) {
			const char *sn = json_string_value(json_object_get(v, "sensor"));
			int k;
			for (k = 0; k < n && strcmp(names[k], sn); k++)
				;
			if (k == n && n < 8)
				names[n++] = sn;
			if (k < 8) {
				tot[k]++;
				att[k] += json_is_true(json_object_get(v, "attached"));
			}
		}
		for (int k = 0; k < n; k++)
			printf(" %s %d/%d", names[k], att[k], tot[k]);
		printf(" attached");
	}
	printf("\nevents   %.1f/s  total:", json_number_value(json_object_get(r, "events_per_s")));
	json_object_foreach(json_object_get(r, "events"), k, v)
		printf(" %s %lld", k, json_integer_value(v));
	printf("\nloss    ");
	json_object_foreach(json_object_get(r, "loss"), k, v)
		printf(" %s %lld/%lld", k, json_integer_value(json_object_get(v, "ringbuf_full")),
		       json_integer_value(json_object_get(v, "read_failed")));
	printf("  (ringbuf full/read failed)\n");
	json_t *pt = json_object_get(r, "process_table"), *hc = json_object_get(r, "hash_cache");
	printf("procs    %lld (evicted %lld)   hash cache %lld hits, %lld misses\n",
	       json_integer_value(json_object_get(pt, "size")), json_integer_value(json_object_get(pt, "evictions")),
	       json_integer_value(json_object_get(hc, "hits")), json_integer_value(json_object_get(hc, "misses")));
	printf("alerts   %lld written   events %lld written   log write failures %lld\n",
	       json_integer_value(json_object_get(r, "alerts_written")),
	       json_integer_value(json_object_get(r, "events_written")),
	       json_integer_value(json_object_get(r, "log_write_failures")));
	printf("memory   RSS %lld kB, BPF maps %lld kB\n", json_integer_value(json_object_get(r, "rss_kb")),
	       json_integer_value(json_object_get(r, "bpf_map_bytes")) / 1024);
	if ((v = json_object_get(r, "aac")))
		printf("aac      mode %s, backend %s, enforcement %s\n", json_string_value(json_object_get(v, "mode")),
		       json_string_value(json_object_get(v, "backend")), json_string_value(json_object_get(v, "enforcement")));
	if ((v = json_object_get(r, "jit")))
		printf("jit      mode %s, %zu interface(s), %lld grant(s)\n", json_string_value(json_object_get(v, "mode")),
		       json_array_size(json_object_get(v, "interfaces")), json_integer_value(json_object_get(v, "grants")));
	if ((v = json_object_get(r, "fim")))
		printf("fim      %s, baseline %lld entries, %lld alert(s)\n", json_string_value(json_object_get(v, "state")),
		       json_integer_value(json_object_get(json_object_get(v, "baseline"), "entries")),
		       json_integer_value(json_object_get(v, "alerts")));
	if ((v = json_object_get(r, "detections")))
		printf("detect   %lld rule evaluation(s), %lld alert(s)\n",
		       json_integer_value(json_object_get(v, "rule_evaluations")),
		       json_integer_value(json_object_get(v, "alerts_written")));
	if ((v = json_object_get(r, "forward")))
		printf("forward  %s\n", json_is_true(json_object_get(v, "enabled")) ?
		       json_string_value(json_object_get(v, "url")) : "off");
	json_decref(r);
	return 0;
}
