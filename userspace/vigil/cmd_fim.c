/* vigil fim: file integrity baseline, check, accept, status. */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "alert.h"
#include "cmds.h"
#include "ctl.h"
#include "fim.h"
#include "jsonx.h"
#include "paths.h"
#include "policy.h"
#include "sink.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil fim baseline [OPTIONS]          hash every watched file and store the baseline\n"
"       vigil fim check [OPTIONS]             compare the disk with the baseline now\n"
"       vigil fim accept [OPTIONS] PATH...|--all   make the current state of PATH the baseline\n"
"       vigil fim status [--json] [--socket PATH]\n"
"\n"
"With a running vigild the work is done by the daemon (one writer of the baseline);\n"
"without one, the CLI does it itself from the policy and state directory.\n"
"  --policy FILE     policy (default " VIGIL_DEFAULT_POLICY ")\n"
"  --state-dir DIR   state directory (default $VIGIL_STATE_DIR or " VIGIL_DEFAULT_STATE_DIR ")\n"
"  --log-dir DIR     where a local baseline/accept is logged (default $VIGIL_LOG_DIR or " VIGIL_DEFAULT_LOG_DIR ")\n"
"  --socket PATH     control socket (default: $VIGIL_SOCKET, /run/vigil/vigild.sock, ./var/run/vigild.sock)\n"
"  --local           do not ask the daemon (refused for baseline/accept while one runs)\n"
"  --json            results as JSON\n"
"\n"
"Exit status: check: 0 no differences, 1 differences (or an untrusted baseline), 2 error.\n");
}

struct opts {
	const char *policy, *state_dir, *sock, *log_dir;
	bool json, local, all;
	char **paths;
	int npaths;
};

/* Prints bytes with C escapes for anything not printable ASCII, so odd names stay one line. */
static void put_path(FILE *o, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", o);
		else if (*p == '\n')
			fputs("\\n", o);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(o, "\\x%02x", *p);
		else
			fputc(*p, o);
	}
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Prints {"path","kind","changes"} differences; returns how many. */
static size_t print_diffs(json_t *diffs)
{
	size_t i;
	json_t *d;

	json_array_foreach(diffs, i, d) {
		const char *k;
		json_t *v, *ch = json_object_get(d, "changes");
		const char *kind = jstr(d, "kind");
		const char *path = jstr(d, "path");

		printf("%-9s ", kind);
		put_path(stdout, path);
		if (strcmp(kind, "added") && strcmp(kind, "deleted")) {
			printf("\n");
			json_object_foreach(ch, k, v) {
				char *b = json_dumps(json_object_get(v, "before"), JSON_ENCODE_ANY);
				char *a = json_dumps(json_object_get(v, "after"), JSON_ENCODE_ANY);
				printf("    %-7s %s -> %s\n", k, b ? b : "?", a ? a : "?");
				free(b);
				free(a);
			}
		} else {
			printf("\n");
		}
	}
	return i;
}

static void print_stats(const char *what, json_t *st)
{
	double secs = json_number_value(json_object_get(st, "seconds"));
	double mb = json_integer_value(json_object_get(st, "bytes")) / 1e6;
	long long files = json_integer_value(json_object_get(st, "files"));

	printf("%s: %lld files, %lld directories, %.1f MB in %.2f s (%.0f MB/s, %.0f files/s)%s\n", what,
	       files, json_integer_value(json_object_get(st, "dirs")), mb, secs,
	       secs > 0 ? mb / secs : 0.0, secs > 0 ? files / secs : 0.0,
	       json_is_true(json_object_get(st, "bounded")) ? " [bounded by max_files]" : "");
	if (json_integer_value(json_object_get(st, "unreadable")))
		printf("  %lld unreadable (see warnings)\n", json_integer_value(json_object_get(st, "unreadable")));
}

static void print_warnings(json_t *w)
{
	size_t i;
	json_t *v;

	json_array_foreach(w, i, v) {
		fprintf(stderr, "Warning: ");
		put_path(stderr, json_string_value(v) ? json_string_value(v) : "?");
		fprintf(stderr, "\n");
	}
}

/* ---------- through the daemon ---------- */

/* 1 = daemon reachable (reply in *resp), 0 = no daemon, -1 = error printed. */
static int daemon_req(const char *sock, const char *cmd, json_t *fields, json_t **resp)
{
	json_t *req = fields ? json_deep_copy(fields) : json_object();
	int r;

	json_object_set_new(req, "cmd", json_string(cmd));
	r = ctl_request(sock, req, resp, 10000);
	json_decref(req);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return 0;
	if (r) {
		fprintf(stderr, "Error: %s: %s\n", sock, strerror(-r));
		return -1;
	}
	if (json_object_get(*resp, "error")) {
		fprintf(stderr, "Error: %s\n", jstr(*resp, "error"));
		json_decref(*resp);
		*resp = NULL;
		return -1;
	}
	return 1;
}

/* Polls fim_status until job id has finished; returns its last_job object (new ref) or NULL. */
static json_t *wait_job(const char *sock, json_int_t id)
{
	bool tty = isatty(2);

	for (;;) {
		json_t *st = NULL, *lj, *job;
		int r = daemon_req(sock, "fim_status", NULL, &st);

		if (r != 1) {
			if (r == 0)
				fprintf(stderr, "Error: vigild went away during the scan\n");
			return NULL;
		}
		lj = json_object_get(st, "last_job");
		if (lj && json_integer_value(json_object_get(lj, "id")) >= id) {
			json_incref(lj);
			json_decref(st);
			if (tty)
				fprintf(stderr, "\r\033[K");
			return lj;
		}
		job = json_object_get(st, "job");
		if (tty && job && json_integer_value(json_object_get(job, "id")) == id)
			fprintf(stderr, "\r\033[K%s: %s %lld/%lld files, %.0f/%.0f MB", jstr(job, "type"), jstr(job, "phase"),
				json_integer_value(json_object_get(job, "files_done")),
				json_integer_value(json_object_get(job, "files_total")),
				json_integer_value(json_object_get(job, "bytes_done")) / 1e6,
				json_integer_value(json_object_get(job, "bytes_total")) / 1e6);
		json_decref(st);
		usleep(100000);
	}
}

static int via_daemon(const struct opts *o, const char *sub, json_t *resp)
{
	json_int_t id = json_integer_value(json_object_get(resp, "job"));
	json_t *lj = wait_job(o->sock, id);
	int rc = 0;

	if (!lj)
		return VIGIL_EXIT_USAGE;
	if (json_integer_value(json_object_get(lj, "rc"))) {
		fprintf(stderr, "Error: %s failed: %s\n", sub, jstr(lj, "error"));
		json_decref(lj);
		return VIGIL_EXIT_USAGE;
	}
	if (o->json) {
		char *s = json_dumps(lj, JSON_COMPACT);
		puts(s);
		free(s);
	} else {
		print_warnings(json_object_get(lj, "warnings"));
		if (!strcmp(sub, "check")) {
			print_diffs(json_object_get(lj, "differences"));
			printf("%lld differences from the baseline\n", json_integer_value(json_object_get(lj, "count")));
		} else if (!strcmp(sub, "accept")) {
			printf("accepted: %lld baseline entries updated\n", json_integer_value(json_object_get(lj, "accepted")));
		}
		print_stats(sub, json_object_get(lj, "stats"));
	}
	if (!strcmp(sub, "check") && json_integer_value(json_object_get(lj, "count")))
		rc = VIGIL_EXIT_FINDINGS;
	json_decref(lj);
	return rc;
}

/* ---------- local ---------- */

/* Without a daemon, a baseline change is still logged: one alert line in the alert log
 * (the same record vigild writes).  0 or -errno. */
static int log_accept(const struct opts *o, const char *op, size_t entries)
{
	static const struct vigil_mitre m = {
		.tactic = "TA0005", .tactic_name = "Defense Evasion",
		.technique = "T1562.001", .technique_name = "Impair Defenses: Disable or Modify Tools",
	};
	struct sink_opts so = { .mode = 0640 };
	struct utsname un;
	struct sink *sk;
	char id[33], ts[48];
	json_t *al, *fo, *paths = json_array();
	int r;

	al = alert_new("fim_baseline_accepted", !strcmp(op, "accept") ? "FIM changes accepted into the baseline" :
		       "FIM baseline rebuilt: the current state is the new normal", VIGIL_SEV_INFORMATIONAL, &m,
		       "Nothing to do if this was intended; otherwise find out who ran it.", "audited");
	if (!al)
		return -ENOMEM;
	for (int i = 0; i < o->npaths; i++)
		json_array_append_new(paths, jsonx_string_bytes(o->paths[i], strlen(o->paths[i]), NULL));
	fo = json_pack("{s:s, s:o, s:I, s:{s:i, s:i}, s:b}", "operation", op, "paths", paths,
		       "entries_updated", (json_int_t)entries, "requested_by", "pid", (int)getpid(), "uid",
		       (int)getuid(), "daemon_running", 0);
	json_object_set_new(al, "fim", fo);
	json_object_set_new(al, "process", json_null());
	json_object_set_new(al, "container", json_null());
	json_object_set_new(al, "time", json_string(util_rfc3339(util_now_ns(), ts, sizeof(ts))));
	alert_new_id(id);
	json_object_set_new(al, "id", json_string(id));
	json_object_set_new(al, "host", json_string(uname(&un) == 0 ? un.nodename : "unknown"));
	if ((r = util_mkdir_p(o->log_dir, 0750)) == 0) {
		sk = sink_open(o->log_dir, VIGIL_ALERTS_NAME, &so);
		r = sk ? sink_write_json(sk, al) : -errno;
		sink_free(sk);
	}
	json_decref(al);
	return r;
}

struct local {
	const struct fim_config *cfg;
	const char *const *scope;
	size_t nscope;
	const char *skip[4];
	struct fim_scan_progress prog;
	struct fim_db *db;
	json_t *warnings;
	struct fim_scan_stats st;
	int rc;
	volatile int done;
};

static void *scan_thread(void *arg)
{
	struct local *l = arg;

	l->rc = fim_scan(l->cfg, l->scope, l->nscope, l->skip, l->cfg->workers, &l->prog, &l->db,
			 l->warnings, &l->st);
	l->done = 1;
	return NULL;
}

/* Scans with a progress line on a terminal.  0 or -errno. */
static int scan_local(struct local *l)
{
	pthread_t th;
	bool tty = isatty(2);

	l->warnings = json_array();
	if (pthread_create(&th, NULL, scan_thread, l))
		return -EAGAIN;
	while (!l->done) {
		usleep(100000);
		if (tty && !l->done)
			fprintf(stderr, "\r\033[K%s %llu/%llu files, %.0f/%.0f MB", l->prog.phase ? "hashing" : "walking",
				(unsigned long long)l->prog.files_done, (unsigned long long)l->prog.files_total,
				l->prog.bytes_done / 1e6, l->prog.bytes_total / 1e6);
	}
	pthread_join(th, NULL);
	if (tty)
		fprintf(stderr, "\r\033[K");
	return l->rc;
}

static json_t *stats_obj(const struct fim_scan_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:b}", "files", (json_int_t)st->files, "dirs",
			 (json_int_t)st->dirs, "bytes", (json_int_t)st->bytes, "unreadable",
			 (json_int_t)st->unreadable, "seconds", st->seconds, "bounded", st->skipped_max != 0);
}

static json_t *diff_json(const struct fim_diff *d)
{
	json_t *o = json_object();

	jsonx_set_str(o, "path", d->path);   /* not UTF-8: U+FFFD and path_b64 with the bytes */
	json_object_set_new(o, "kind", json_string(d->kind));
	json_object_set_new(o, "changes", fim_changes_json(d->before, d->after, d->changed));
	return o;
}

static void collect_diff(void *ctx, const struct fim_diff *d)
{
	json_array_append_new(ctx, diff_json(d));
}

static int local_run(const struct opts *o, const char *sub)
{
	struct vigil_policy *pol = NULL;
	const struct fim_config *cfg;
	char err[1024], db_path[4096], drift_path[4096], key_path[4096], state_real[4096];
	uint8_t key[32];
	struct fim_db *base = NULL;
	struct local l = { 0 };
	int r, rc = VIGIL_EXIT_USAGE;

	if ((r = policy_load(o->policy, &pol, err, sizeof(err)))) {
		fprintf(stderr, "Error: %s\n", err);
		return VIGIL_EXIT_USAGE;
	}
	cfg = fim_config_of(pol);
	if (!cfg->enabled) {
		fprintf(stderr, "Error: %s: FIM is not enabled (no \"fim\" section or fim.enabled false)\n", o->policy);
		goto out;
	}
	if (util_path_join(db_path, sizeof(db_path), o->state_dir, FIM_DB_NAME) ||
	    util_path_join(drift_path, sizeof(drift_path), o->state_dir, FIM_DRIFT_NAME) ||
	    util_path_join(key_path, sizeof(key_path), o->state_dir, FIM_KEY_NAME)) {
		fprintf(stderr, "Error: state directory path too long\n");
		goto out;
	}
	if (!strcmp(sub, "baseline") && (r = util_mkdir_p(o->state_dir, 0750))) {
		fprintf(stderr, "Error: cannot create %s: %s\n", o->state_dir, strerror(-r));
		goto out;
	}
	r = fim_key_load(key_path, !strcmp(sub, "baseline"), key);
	if (r) {
		fprintf(stderr, "Error: %s: %s\n", key_path, r == -ENOENT ? "no key: make a baseline first "
			"('vigil fim baseline')" : r == -EPERM ? "not a root-only file (mode 0600, owner root)" :
			strerror(-r));
		goto out;
	}
	if (strcmp(sub, "baseline")) {
		r = fim_db_load(db_path, key, &base);
		if (r == -EBADMSG || r == -EXDEV) {
			fprintf(stderr, "Error: %s: %s: it is not used as truth\n", db_path, r == -EXDEV ?
				"made on another host (machine-id or host name differ)" :
				"failed authentication (tampered with or truncated)");
			rc = VIGIL_EXIT_FINDINGS;
			goto out;
		}
		if (r) {
			fprintf(stderr, "Error: %s: %s\n", db_path, r == -ENOENT ? "no baseline yet ('vigil fim baseline')" :
				strerror(-r));
			goto out;
		}
	}
	l.cfg = cfg;
	/* vigild rewrites its state directory: never part of a scan (as in the daemon) */
	if (!realpath(o->state_dir, state_real))
		snprintf(state_real, sizeof(state_real), "%s", o->state_dir);
	l.skip[0] = state_real;
	l.skip[1] = db_path;
	l.skip[2] = drift_path;
	if (!strcmp(sub, "accept") && !o->all) {
		l.scope = (const char *const *)o->paths;
		l.nscope = (size_t)o->npaths;
	}
	if ((r = scan_local(&l))) {
		fprintf(stderr, "Error: scan failed: %s\n", strerror(-r));
		goto out;
	}
	if (!o->json)
		print_warnings(l.warnings);
	if (!strcmp(sub, "baseline") || (!strcmp(sub, "accept") && o->all)) {
		struct fim_db_meta *m = fim_db_meta(l.db);
		struct fim_db *drift = fim_db_new();

		fim_host_identity(m->machine_id, m->hostname);
		fim_spec_list(cfg, m->specs, sizeof(m->specs));
		m->created_ns = m->updated_ns = util_now_ns();
		if (drift)
			*fim_db_meta(drift) = *m;
		if ((r = fim_db_save(l.db, db_path, key)) || (drift && (r = fim_db_save(drift, drift_path, key)))) {
			fim_db_free(drift);
			fprintf(stderr, "Error: cannot write %s: %s\n", db_path, strerror(-r));
			goto out;
		}
		fim_db_free(drift);
		if ((r = log_accept(o, "baseline", fim_db_count(l.db))))
			fprintf(stderr, "Warning: cannot log the baseline change in %s: %s\n", o->log_dir, strerror(-r));
	} else if (!strcmp(sub, "accept")) {
		struct fim_entry *e;
		size_t i = 0, n = 0;

		/* names in scope that are gone, then what is there now */
		while ((e = fim_db_next(base, &i))) {
			for (int k = 0; k < o->npaths; k++) {
				size_t len = strlen(o->paths[k]);
				if ((!strcmp(e->path, o->paths[k]) || (!strncmp(e->path, o->paths[k], len) && e->path[len] == '/')) &&
				    !fim_db_find(l.db, e->path)) {
					e->dead = true;   /* dropped when saved */
					n++;
					break;
				}
			}
		}
		{
			/* rebuild without the dead entries */
			struct fim_db *nb = fim_db_new();
			i = 0;
			while (nb && (e = fim_db_next(base, &i)))
				if (!e->dead)
					fim_db_put(nb, e);
			if (nb) {
				*fim_db_meta(nb) = *fim_db_meta(base);
				fim_db_free(base);
				base = nb;
			}
		}
		i = 0;
		while ((e = fim_db_next(l.db, &i))) {
			fim_db_put(base, e);
			n++;
		}
		fim_db_meta(base)->updated_ns = util_now_ns();
		if ((r = fim_db_save(base, db_path, key))) {
			fprintf(stderr, "Error: cannot write %s: %s\n", db_path, strerror(-r));
			goto out;
		}
		unlink(drift_path);   /* the daemon re-derives it at its next start */
		if ((r = log_accept(o, "accept", n)))
			fprintf(stderr, "Warning: cannot log the acceptance in %s: %s\n", o->log_dir, strerror(-r));
		if (!o->json)
			printf("accepted: %zu baseline entries updated\n", n);
	} else {
		json_t *diffs = json_array();
		size_t n = fim_compare(cfg, base, l.db, NULL, 0, collect_diff, diffs);

		if (o->json) {
			json_t *out = json_pack("{s:o, s:I, s:o, s:O}", "differences", diffs, "count", (json_int_t)n,
						"stats", stats_obj(&l.st), "warnings", l.warnings);
			char *s = json_dumps(out, JSON_COMPACT);
			puts(s);
			free(s);
			json_decref(out);
		} else {
			print_diffs(diffs);
			printf("%zu differences from the baseline\n", n);
			json_decref(diffs);
		}
		if (!o->json) {
			json_t *st = stats_obj(&l.st);   /* print_stats borrows it */
			print_stats(sub, st);
			json_decref(st);
		}
		rc = n ? VIGIL_EXIT_FINDINGS : VIGIL_EXIT_OK;
		goto out;
	}
	if (!o->json) {
		json_t *st = stats_obj(&l.st);
		print_stats(sub, st);
		json_decref(st);
	} else {
		json_t *out = json_pack("{s:o, s:O}", "stats", stats_obj(&l.st), "warnings", l.warnings);
		char *s = json_dumps(out, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(out);
	}
	rc = VIGIL_EXIT_OK;
out:
	fim_db_free(l.db);
	fim_db_free(base);
	json_decref(l.warnings);
	policy_free(pol);
	return rc;
}

/* ---------- status ---------- */

static int do_status(const struct opts *o)
{
	json_t *st = NULL, *b, *lj;
	int r = daemon_req(o->sock, "fim_status", NULL, &st);

	if (r == 0)
		fprintf(stderr, "Error: vigild is not running (no control socket at %s)\n", o->sock);
	if (r != 1)
		return VIGIL_EXIT_USAGE;
	json_object_del(st, "ok");
	if (o->json) {
		char *s = json_dumps(st, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(st);
		return 0;
	}
	printf("state     %s%s%s\n", jstr(st, "state"), json_object_get(st, "error") ? ": " : "", jstr(st, "error"));
	if ((b = json_object_get(st, "baseline")))
		printf("baseline  %lld entries, created %s, updated %s (%s)\n",
		       json_integer_value(json_object_get(b, "entries")), jstr(b, "created"), jstr(b, "updated"),
		       jstr(b, "path"));
	printf("drift     %lld names differ from the baseline (reported, not accepted)\n",
	       json_integer_value(json_object_get(st, "drift")));
	printf("realtime  %lld events, %lld checks, %lld hashed, %lld coalesced, %lld alerts, %lld pending\n",
	       json_integer_value(json_object_get(st, "events")), json_integer_value(json_object_get(st, "checks")),
	       json_integer_value(json_object_get(st, "hashed")), json_integer_value(json_object_get(st, "coalesced")),
	       json_integer_value(json_object_get(st, "alerts")), json_integer_value(json_object_get(st, "pending")));
	printf("rescans   %lld after event loss or overflow (%lld names dropped from the queue)\n",
	       json_integer_value(json_object_get(st, "rescans")),
	       json_integer_value(json_object_get(st, "pending_dropped")));
	if ((lj = json_object_get(st, "last_job"))) {
		char what[64];
		snprintf(what, sizeof(what), "last %s", jstr(lj, "type"));
		print_stats(what, json_object_get(lj, "stats"));
	}
	json_decref(st);
	return 0;
}

int cmd_fim(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "log-dir", required_argument, NULL, 'L' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "local", no_argument, NULL, 'l' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	const char *sub;
	json_t *resp = NULL, *fields = NULL;
	int c, r;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? VIGIL_EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "baseline") && strcmp(sub, "check") && strcmp(sub, "accept") && strcmp(sub, "status")) {
		fprintf(stderr, "Error: unknown fim command '%s'\n", sub);
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p': o.policy = optarg; break;
		case 'd': o.state_dir = optarg; break;
		case 'L': o.log_dir = optarg; break;
		case 's': o.sock = optarg; break;
		case 'j': o.json = true; break;
		case 'l': o.local = true; break;
		case 'a': o.all = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	o.paths = argv + 1 + optind;
	o.npaths = argc - 1 - optind;
	if (!strcmp(sub, "accept") && !o.all && !o.npaths) {
		fprintf(stderr, "Error: accept needs PATH... or --all\n");
		return VIGIL_EXIT_USAGE;
	}
	for (int i = 0; i < o.npaths; i++)
		if (o.paths[i][0] != '/') {
			fprintf(stderr, "Error: %s: an absolute path is required\n", o.paths[i]);
			return VIGIL_EXIT_USAGE;
		}
	if (!o.policy)
		o.policy = VIGIL_DEFAULT_POLICY;
	if (!o.state_dir)
		o.state_dir = getenv("VIGIL_STATE_DIR") && *getenv("VIGIL_STATE_DIR") ? getenv("VIGIL_STATE_DIR") :
			      VIGIL_DEFAULT_STATE_DIR;
	if (!o.log_dir)
		o.log_dir = getenv("VIGIL_LOG_DIR") && *getenv("VIGIL_LOG_DIR") ? getenv("VIGIL_LOG_DIR") :
			    VIGIL_DEFAULT_LOG_DIR;
	o.sock = cli_socket_path(o.sock);
	if (!strcmp(sub, "status"))
		return do_status(&o);

	if (!strcmp(sub, "accept")) {
		json_t *p = json_array();
		fields = json_object();
		for (int i = 0; i < o.npaths; i++)
			json_array_append_new(p, jsonx_string_bytes(o.paths[i], strlen(o.paths[i]), NULL));
		json_object_set_new(fields, "paths", p);
		if (o.all)
			json_object_set_new(fields, "all", json_true());
	}
	if (o.local) {
		if (strcmp(sub, "check") && daemon_req(o.sock, "fim_status", NULL, &resp) == 1) {
			fprintf(stderr, "Error: vigild is running: it is the only writer of the baseline\n");
			json_decref(resp);
			json_decref(fields);
			return VIGIL_EXIT_USAGE;
		}
		json_decref(resp);
		json_decref(fields);
		return local_run(&o, sub);
	}
	r = daemon_req(o.sock, !strcmp(sub, "baseline") ? "fim_baseline" : !strcmp(sub, "check") ? "fim_check" :
		       "fim_accept", fields, &resp);
	json_decref(fields);
	if (r < 0)
		return VIGIL_EXIT_USAGE;
	if (r == 1) {
		r = via_daemon(&o, sub, resp);
		json_decref(resp);
		return r;
	}
	return local_run(&o, sub);
}
