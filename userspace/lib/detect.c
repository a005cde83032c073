/*
 * The detections engine: the "detections" policy section, the rule set it
 * loads, the detect.bpf.c sensor (only the programs of the event kinds the
 * rules use are loaded and attached), the field view of each enriched
 * record, and alert writing.
 *
 * Policy section:
 *   "detections": {"enabled": true, "rules_dir": "rules" | "rules": ["a.json"],
 *                  "dedup_window_s": 60, "disabled": ["rule-id", ...]}
 * Relative paths are resolved against the policy file's directory.  Without
 * rules_dir/rules, "rules" next to the policy is used when it exists.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "detect_int.h"
#include "engine.h"
#include "hostfs.h"
#include "event.h"
#include "jsonx.h"
#include "paths.h"
#include "util.h"
#include "detect.skel.h"

#define RULE_FILES_MAX   256
#define PENDING_MAX      256
#define RECENT_EXEC      256
#define STDIO_MATCH_NS   (50ull * 1000000ull)    /* exec record vs stdio record of one exec */
#define STDIO_WAIT_NS    (1000ull * 1000000ull)  /* give up waiting for the exec record */
#define RESTAT_NS        (2000ull * 1000000ull)
#define QUEUE_MAX        4096                    /* detect records held until the next tick */

/* ---------- policy section ---------- */

void detect_config_free(void *p)
{
	struct detect_config *c = p;

	if (!c)
		return;
	free(c->rules_dir);
	policy_strv_free(&c->files);
	policy_strv_free(&c->disabled);
	detect_ruleset_free(c->rules);
	free(c);
}

static int resolve(const char *policy_name, const char *p, char *out, size_t len)
{
	char dir[PATH_MAX];
	char *slash;

	if (p[0] == '/')
		return snprintf(out, len, "%s", p) >= (int)len ? -ENAMETOOLONG : 0;
	snprintf(dir, sizeof(dir), "%s", policy_name ? policy_name : "");
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir ? 1 : 0] = 0;
	return snprintf(out, len, "%s/%s", dir, p) >= (int)len ? -ENAMETOOLONG : 0;
}

static int json_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

static int strv_push(struct policy_strv *sv, const char *s)
{
	char **v = realloc(sv->v, (sv->n + 1) * sizeof(char *));

	if (!v)
		return -ENOMEM;
	sv->v = v;
	if (!(sv->v[sv->n] = strdup(s)))
		return -ENOMEM;
	sv->n++;
	return 0;
}

int detect_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "enabled", "rules_dir", "rules", "dedup_window_s", "disabled", NULL };
	struct detect_config *cfg = calloc(1, sizeof(*cfg));
	char kp[1024], path[PATH_MAX];
	json_int_t win = 60;
	char *dir = NULL;
	json_t *x;
	int r = 0;

	if (!cfg)
		return -ENOMEM;
	cfg->dedup_window_s = 60;
	if (!v)
		goto done;           /* no section: no detections */
	cfg->enabled = true;
	if ((r = policy_check_object(c, jpath, v, keys)) < 0 ||
	    (r = policy_get_bool(c, jpath, v, "enabled", &cfg->enabled)) < 0 ||
	    (r = policy_get_int(c, jpath, v, "dedup_window_s", 0, 86400, &win)) < 0 ||
	    (r = policy_get_string(c, jpath, v, "rules_dir", 0, PATH_MAX, &dir)) < 0)
		goto done;
	cfg->dedup_window_s = (uint64_t)win;
	if ((x = json_object_get(v, "disabled"))) {
		size_t i;
		json_t *it;

		policy_jpath_key(kp, sizeof(kp), jpath, "disabled");
		if (!json_is_array(x)) {
			r = policy_fail(c, kp, "expected an array of rule ids");
			goto done;
		}
		json_array_foreach(x, i, it) {
			char ip[1024];

			policy_jpath_index(ip, sizeof(ip), kp, i);
			if (!json_is_string(it)) {
				r = policy_fail(c, ip, "expected a rule id");
				goto done;
			}
			if ((r = strv_push(&cfg->disabled, json_string_value(it))) < 0)
				goto done;
		}
	}
	if ((x = json_object_get(v, "rules"))) {
		size_t i;
		json_t *it;

		policy_jpath_key(kp, sizeof(kp), jpath, "rules");
		if (dir) {
			r = policy_fail(c, kp, "give \"rules\" (files) or \"rules_dir\", not both");
			goto done;
		}
		if (!json_is_array(x) || json_array_size(x) > RULE_FILES_MAX) {
			r = policy_fail(c, kp, "expected an array of at most %d rule files", RULE_FILES_MAX);
			goto done;
		}
		json_array_foreach(x, i, it) {
			char ip[1024];

			policy_jpath_index(ip, sizeof(ip), kp, i);
			if (!json_is_string(it) || !json_string_length(it) ||
			    resolve(c->name, json_string_value(it), path, sizeof(path))) {
				r = policy_fail(c, ip, "expected a rule file path");
				goto done;
			}
			if ((r = strv_push(&cfg->files, path)) < 0)
				goto done;
		}
	} else {
		struct dirent **ents = NULL;
		bool given = dir != NULL;
		int n;

		policy_jpath_key(kp, sizeof(kp), jpath, "rules_dir");
		if ((r = resolve(c->name, dir ? dir : "rules", path, sizeof(path))) < 0) {
			r = policy_fail(c, given ? kp : jpath, "rules directory path too long");
			goto done;
		}
		if (!(cfg->rules_dir = strdup(path))) {
			r = -ENOMEM;
			goto done;
		}
		n = scandir(path, &ents, json_filter, alphasort);
		if (n < 0) {
			if (given || errno != ENOENT) {
				r = policy_fail(c, given ? kp : jpath, "cannot read rules directory %s: %s", path,
						strerror(errno));
				goto done;
			}
			cfg->rules_dir_missing = true;
		}
		for (int i = 0; i < n; i++) {
			char fp[PATH_MAX];

			if (!r && snprintf(fp, sizeof(fp), "%s/%s", path, ents[i]->d_name) < (int)sizeof(fp))
				r = strv_push(&cfg->files, fp);
			free(ents[i]);
		}
		free(ents);
		if (r < 0)
			goto done;
	}
	r = detect_ruleset_load((const char *const *)cfg->files.v, cfg->files.n, NULL, &cfg->rules, c->err, c->errlen);
	if (r < 0)
		goto done;
	for (size_t d = 0; d < cfg->disabled.n; d++) {
		size_t i;

		for (i = 0; i < cfg->rules->n; i++)
			if (!strcmp(cfg->rules->r[i].id, cfg->disabled.v[d]))
				break;
		policy_jpath_key(kp, sizeof(kp), jpath, "disabled");
		policy_jpath_index(path, sizeof(path), kp, d);
		if (i == cfg->rules->n) {
			r = policy_fail(c, path, "no rule file defines rule \"%.64s\"", cfg->disabled.v[d]);
			goto done;
		}
		cfg->rules->r[i].enabled = false;
	}
done:
	free(dir);
	if (r < 0) {
		detect_config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

static const struct detect_config *config_of(const struct vigil_policy *pol)
{
	const struct detect_config *c = pol ? pol->feature[POLICY_DETECTIONS] : NULL;

	return c && c->enabled && c->rules ? c : NULL;
}

/* ---------- engine state ---------- */

struct pending {
	struct vigil_det *rec;           /* copy */
	size_t len;
};

struct recent {
	uint32_t tgid;
	uint64_t ts_ns;
};

struct det {
	struct agent *a;
	const struct detect_config *cfg;
	struct detect_env env;
	char exe[PATH_MAX], policy[PATH_MAX];
	struct detect_state *st;
	/* sensor */
	struct detect_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[24];
	size_t nlinks;
	unsigned kinds;                  /* kinds attached */
	int epfd;                        /* stable poll fd; the ringbuf's epoll fd is nested */
	struct policy_strv read_paths;
	uint64_t last_restat;
	/* exec_stdio correlation */
	struct pending pend[PENDING_MAX];
	size_t npend;
	struct recent recent[RECENT_EXEC];
	size_t recent_pos;
	/* counters */
	uint64_t records[DK_MAX], malformed, ino_updates;
	bool need_refresh;               /* file roots to recompute (variables bound) */
	struct pending q[QUEUE_MAX];     /* records waiting for the tick */
	size_t nq;
	uint64_t q_overflow;
};

static int alert_cb(void *ctx, json_t *al, const struct detect_event *ev);

static void det_env(struct det *d, const struct vigil_policy *pol)
{
	static const char *const ns[VIGIL_NS_MAX] = { "mnt", "pid_for_children", "net", "uts", "ipc", "cgroup", "user" };
	ssize_t n;

	n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
	d->exe[n > 0 ? n : 0] = 0;
	if (!realpath(pol->source, d->policy))
		snprintf(d->policy, sizeof(d->policy), "%s", pol->source);
	d->env.log_dir = agent_log_dir(d->a);
	d->env.state_dir = agent_state_dir(d->a);
	d->env.policy = d->policy;
	d->env.pin_dir = VIGIL_PIN_DIR;
	d->env.exe = d->exe;
	d->env.self_tgid = getpid();
	for (int i = 0; i < VIGIL_NS_MAX; i++) {
		char p[PATH_MAX];
		struct stat sb;

		/* init's namespaces are the host's; where init's are unreadable (a hardened
		 * or minimal init), vigild's own, which run on the host */
		if (hostfs_proc(p, sizeof(p), "/1/ns/%s", ns[i]) || stat(p, &sb)) {
			snprintf(p, sizeof(p), "/proc/self/ns/%s", ns[i]);
			if (stat(p, &sb))
				sb.st_ino = 0;
		}
		d->env.host_ns[i] = (uint32_t)sb.st_ino;
	}
}

int detect_watch_roots(const struct vigil_policy *pol, void *eng, struct policy_strv *sv)
{
	const struct detect_config *cfg = config_of(pol);
	struct det *d = eng;
	struct policy_strv w = { 0 };
	int r = 0;

	if (!cfg)
		return 0;
	if (d && detect_ruleset_bind(cfg->rules, &d->env))
		return -ENOMEM;
	detect_ruleset_watch(cfg->rules, &w);
	for (size_t i = 0; i < w.n && !r; i++) {
		size_t j;

		for (j = 0; j < sv->n; j++)
			if (!strcmp(sv->v[j], w.v[i]))
				break;
		if (j == sv->n)
			r = strv_push(sv, w.v[i]);
	}
	policy_strv_free(&w);
	return r;
}

/* ---------- the detect.bpf.c sensor ---------- */

static void sensor_close(struct det *d)
{
	for (size_t i = 0; i < d->nlinks; i++)
		bpf_link__destroy(d->links[i]);
	d->nlinks = 0;
	if (d->rb) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, ring_buffer__epoll_fd(d->rb), NULL);
		ring_buffer__free(d->rb);
		d->rb = NULL;
	}
	detect_bpf__destroy(d->skel);
	d->skel = NULL;
	d->kinds = 0;
}

static int on_det_record(void *ctx, void *data, size_t len);
static void det_flush(struct det *d, size_t n);

static bool tracepoint_exists(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), VIGIL_TRACEFS "/events/syscalls/%s", name);
	if (access(p, F_OK) == 0)
		return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/syscalls/%s", name);
	return access(p, F_OK) == 0;
}

/* Fills vigil_det_ino from the read paths (stat follows symlinks: the file really opened). */
static int set_read_inodes(struct det *d)
{
	int fd;
	struct vigil_ino_key { uint64_t dev, ino; } k, next;
	uint8_t one = 1;

	if (!d->skel || !(d->kinds & (1u << DK_FILE_READ)))
		return 0;
	fd = bpf_map__fd(d->skel->maps.vigil_det_ino);
	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		bpf_map_delete_elem(fd, &k);
	(void)next;
	for (size_t i = 0; i < d->read_paths.n; i++) {
		struct stat sb;

		if (hostfs_stat(d->read_paths.v[i], &sb))
			continue;     /* absent now: the periodic re-stat picks it up */
		k.dev = util_dev_to_kdev(sb.st_dev);
		k.ino = sb.st_ino;
		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
			return -errno;
	}
	d->ino_updates++;
	return 0;
}

#define PROG(name) d->skel->progs.name

static int sensor_open(struct det *d, void *rbctx, unsigned kinds, char *err, size_t errlen)
{
	struct bpf_program *want[24];
	size_t nwant = 0;
	struct bpf_program *p;
	unsigned det_kinds = kinds & ~((1u << DK_EXEC) | (1u << DK_FILE) | (1u << DK_NETWORK));
	struct vigil_det_cfg cfg = { .self_tgid = getpid() };
	uint32_t zero = 0, self = getpid();
	uint8_t one = 1;
	int r;

	if (!det_kinds)
		return 0;
	if (!(d->skel = detect_bpf__open())) {
		snprintf(err, errlen, "cannot open the detections BPF object: %s", strerror(errno));
		return -errno;
	}
	if (det_kinds & (1u << DK_PTRACE)) {
		want[nwant++] = PROG(vigil_det_ptrace_in);
		want[nwant++] = PROG(vigil_det_ptrace_out);
	}
	if (det_kinds & (1u << DK_MODULE)) {
		if (tracepoint_exists("sys_enter_finit_module")) {
			want[nwant++] = PROG(vigil_det_initmod);
			want[nwant++] = PROG(vigil_det_finitmod);
		} else {
			want[nwant++] = PROG(vigil_det_modraw);
		}
	}
	if (det_kinds & (1u << DK_SETNS)) {
		want[nwant++] = PROG(vigil_det_setns_in);
		want[nwant++] = PROG(vigil_det_setns_out);
	}
	if (det_kinds & (1u << DK_UNSHARE)) {
		want[nwant++] = PROG(vigil_det_unshare_in);
		want[nwant++] = PROG(vigil_det_unshare_out);
	}
	if (det_kinds & (1u << DK_SIGNAL)) {
		want[nwant++] = PROG(vigil_det_kill);
		want[nwant++] = PROG(vigil_det_tkill);
		want[nwant++] = PROG(vigil_det_tgkill);
	}
	if (det_kinds & (1u << DK_FILE_READ)) {
		want[nwant++] = PROG(vigil_det_openat);
		want[nwant++] = PROG(vigil_det_openat2);
		if (tracepoint_exists("sys_exit_open"))
			want[nwant++] = PROG(vigil_det_open);
	}
	if (det_kinds & (1u << DK_EXEC_STDIO))
		want[nwant++] = PROG(vigil_det_exec);
	bpf_object__for_each_program(p, d->skel->obj) {
		bool keep = false;

		for (size_t i = 0; i < nwant; i++)
			keep |= want[i] == p;
		bpf_program__set_autoload(p, keep);
	}
	/* common.bpf.h maps this object never uses */
	bpf_map__set_autocreate(d->skel->maps.vigil_events, false);
	bpf_map__set_autocreate(d->skel->maps.vigil_evbuf, false);
	bpf_map__set_autocreate(d->skel->maps.vigil_sent, false);
	bpf_map__set_autocreate(d->skel->maps.vigil_cfg, false);
	if ((r = detect_bpf__load(d->skel))) {
		snprintf(err, errlen, "cannot load the detections BPF programs: %s", strerror(-r));
		goto fail;
	}
	if (bpf_map_update_elem(bpf_map__fd(d->skel->maps.vigil_det_cfg), &zero, &cfg, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(d->skel->maps.vigil_det_pids), &self, &one, BPF_ANY)) {
		r = -errno;
		snprintf(err, errlen, "cannot configure the detections sensor: %s", strerror(-r));
		goto fail;
	}
	d->kinds = kinds;
	if ((r = set_read_inodes(d))) {
		snprintf(err, errlen, "cannot set the protected files: %s", strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < nwant; i++) {
		struct bpf_link *l = bpf_program__attach(want[i]);

		if (!l) {
			r = -errno;
			snprintf(err, errlen, "cannot attach %s: %s", bpf_program__name(want[i]), strerror(-r));
			goto fail;
		}
		d->links[d->nlinks++] = l;
	}
	d->rb = ring_buffer__new(bpf_map__fd(d->skel->maps.vigil_det_ev), on_det_record, rbctx, NULL);
	if (!d->rb) {
		r = -errno;
		snprintf(err, errlen, "cannot poll the detections ringbuf: %s", strerror(-r));
		goto fail;
	}
	{
		struct epoll_event ee = { .events = EPOLLIN };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(d->rb), &ee)) {
			r = -errno;
			snprintf(err, errlen, "cannot poll the detections ringbuf: %s", strerror(-r));
			goto fail;
		}
	}
	return 0;
fail:
	sensor_close(d);
	return r;
}

/* ---------- events ---------- */

static void run(struct det *d, struct detect_event *ev)
{
	ev->env = &d->env;
	ev->pt = agent_proctab(d->a);
	d->records[ev->kind]++;
	detect_state_event(d->st, ev);
	detect_event_done(ev);
}

static void eval_stdio(struct det *d, const struct vigil_det *rec)
{
	struct detect_event ev = { .kind = DK_EXEC_STDIO, .ts_ns = rec->hdr.ts_ns, .h = &rec->hdr, .det = rec,
				   .target_uid = -1 };

	ev.p = proctab_lookup(agent_proctab(d->a), rec->hdr.tgid);
	run(d, &ev);
}

static bool exec_seen(struct det *d, uint32_t tgid, uint64_t ts)
{
	for (size_t i = 0; i < RECENT_EXEC; i++) {
		const struct recent *r = &d->recent[i];

		if (r->tgid == tgid && (r->ts_ns > ts ? r->ts_ns - ts : ts - r->ts_ns) < STDIO_MATCH_NS)
			return true;
	}
	return false;
}

static void pending_release(struct det *d, size_t i)
{
	struct vigil_det *rec = d->pend[i].rec;

	d->pend[i] = d->pend[--d->npend];
	eval_stdio(d, rec);
	free(rec);
}

static int target_uid(struct det *d, uint32_t pid, const char **exe)
{
	struct proc *t = proctab_lookup(agent_proctab(d->a), pid);
	char path[PATH_MAX], line[256];
	int uid = -1;
	FILE *f;

	*exe = t ? t->exe : NULL;
	if (!hostfs_proc(path, sizeof(path), "/%u/status", pid) && (f = fopen(path, "re"))) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Uid: %d", &uid) == 1)
				break;
		fclose(f);
	}
	if (uid < 0 && t)
		uid = (int)t->uid;
	return uid;
}

/* Queues a record: the agent's sensors are drained at each tick before the engines run,
 * so records processed then see the process table updated by the execs before them
 * (the two ringbufs have no common order). */
static int on_det_record(void *ctx, void *data, size_t len)
{
	struct det *d = ctx;
	void *c;

	if (d->nq == QUEUE_MAX) {
		d->q_overflow++;
		det_flush(d, 1);
	}
	if (len > sizeof(struct vigil_det) + VIGIL_PATH_MAX || !(c = malloc(len))) {
		d->malformed++;
		return 0;
	}
	memcpy(c, data, len);
	d->q[d->nq].rec = c;
	d->q[d->nq++].len = len;
	return 0;
}

static int det_record(void *ctx, void *data, size_t len)
{
	struct det *d = ctx;
	const struct vigil_det *rec = data;
	struct detect_event ev = { .target_uid = -1 };
	static const int kmap[VIGIL_DET_KIND_MAX] = {
		[VIGIL_DET_PTRACE] = DK_PTRACE, [VIGIL_DET_MODULE] = DK_MODULE, [VIGIL_DET_SETNS] = DK_SETNS,
		[VIGIL_DET_UNSHARE] = DK_UNSHARE, [VIGIL_DET_SIGNAL] = DK_SIGNAL, [VIGIL_DET_FILE_READ] = DK_FILE_READ,
		[VIGIL_DET_EXEC_STDIO] = DK_EXEC_STDIO,
	};

	if (len < sizeof(*rec) || rec->hdr.size > len || rec->hdr.size < sizeof(*rec) ||
	    rec->kind == 0 || rec->kind >= VIGIL_DET_KIND_MAX ||
	    event_check_str(rec, rec->hdr.size, sizeof(*rec), rec->path_len)) {
		d->malformed++;
		return 0;
	}
	if (rec->kind == VIGIL_DET_EXEC_STDIO) {
		if (exec_seen(d, rec->hdr.tgid, rec->hdr.ts_ns) || !d->st) {
			eval_stdio(d, rec);
			return 0;
		}
		if (d->npend == PENDING_MAX)
			pending_release(d, 0);
		if ((d->pend[d->npend].rec = malloc(rec->hdr.size))) {
			memcpy(d->pend[d->npend].rec, rec, rec->hdr.size);
			d->pend[d->npend++].len = rec->hdr.size;
		}
		return 0;
	}
	ev.kind = kmap[rec->kind];
	ev.ts_ns = rec->hdr.ts_ns;
	ev.h = &rec->hdr;
	ev.det = rec;
	ev.p = proctab_lookup(agent_proctab(d->a), rec->hdr.tgid);
	if (rec->path_len)
		ev.path = rec->data;
	if (rec->kind == VIGIL_DET_PTRACE)
		ev.target_uid = target_uid(d, (uint32_t)rec->a[1], &ev.target_exe);
	run(d, &ev);
	return 0;
}

/* Processes the first n queued records (all when n is 0). */
static void det_flush(struct det *d, size_t n)
{
	size_t i;

	if (!n || n > d->nq)
		n = d->nq;
	for (i = 0; i < n; i++) {
		det_record(d, d->q[i].rec, d->q[i].len);
		free(d->q[i].rec);
	}
	memmove(d->q, d->q + n, (d->nq - n) * sizeof(d->q[0]));
	d->nq -= n;
}

static void on_record(void *st, const struct vigil_hdr *h, const void *rec, size_t len, struct proc *p)
{
	struct det *d = st;
	struct detect_event ev = { .ts_ns = h->ts_ns, .h = h, .p = p, .target_uid = -1 };

	if (!d->st)
		return;
	switch (h->type) {
	case VIGIL_EV_EXEC:
		ev.kind = DK_EXEC;
		d->recent[d->recent_pos++ % RECENT_EXEC] = (struct recent){ h->tgid, h->ts_ns };
		run(d, &ev);
		for (size_t i = 0; i < d->npend;) {
			const struct vigil_hdr *ph = &d->pend[i].rec->hdr;

			if (ph->tgid == h->tgid && (ph->ts_ns > h->ts_ns ? ph->ts_ns - h->ts_ns : h->ts_ns - ph->ts_ns) < STDIO_MATCH_NS)
				pending_release(d, i);
			else
				i++;
		}
		return;
	case VIGIL_EV_FILE: {
		const struct vigil_file *f = rec;

		if (len < sizeof(*f) || event_check_str(f, len, sizeof(*f), f->path_len) ||
		    event_check_str(f, len, sizeof(*f) + f->path_len, f->path2_len) || !f->path_len) {
			d->malformed++;
			return;
		}
		ev.kind = DK_FILE;
		ev.file = f;
		ev.path = f->data;
		ev.path2 = f->path2_len ? f->data + f->path_len : NULL;
		run(d, &ev);
		return;
	}
	case VIGIL_EV_NET:
		if (len < sizeof(struct vigil_net)) {
			d->malformed++;
			return;
		}
		ev.kind = DK_NETWORK;
		ev.net = rec;
		run(d, &ev);
		return;
	default:
		return;
	}
}

/* ---------- alerts ---------- */

static json_t *kind_details(struct detect_event *ev, const char **key)
{
	static const struct { enum detect_kind k; const char *key; const char *fields[6]; } tab[] = {
		{ DK_FILE, "file", { "file.path", "file.path2", "file.op", "file.mode", "file.new_mode", NULL } },
		{ DK_FILE_READ, "file", { "file.path", "file.op", "file.open_flags", NULL } },
		{ DK_NETWORK, "network", { "network.op", "network.protocol", "network.remote.address",
					   "network.remote.port", "network.local.port", NULL } },
		{ DK_PTRACE, "ptrace", { "ptrace.request", "ptrace.target.pid", "ptrace.target.uid",
					 "ptrace.target.exe", NULL } },
		{ DK_MODULE, "module", { "module.syscall", "module.path", NULL } },
		{ DK_SETNS, "namespaces", { "setns.nstype", "setns.joined", "setns.host", NULL } },
		{ DK_UNSHARE, "namespaces", { "unshare.flags", NULL } },
		{ DK_SIGNAL, "signal", { "signal.number", "signal.name", "signal.target.pid", "signal.target.vigild", NULL } },
		{ DK_EXEC_STDIO, "stdio", { "stdio.fd0", "stdio.fd1", "stdio.fd2", "stdio.remote.address",
					    "stdio.remote.port", NULL } },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		json_t *o;

		if (tab[i].k != ev->kind)
			continue;
		o = json_object();
		for (const char *const *f = tab[i].fields; *f; f++) {
			int fi = detect_field_find(*f);
			struct dval v;
			const char *name = strchr(*f, '.') + 1;

			json_t *dst = o;
			char part[64];
			const char *dot;

			if (fi < 0 || !detect_field_get(ev, fi, &v))
				continue;
			/* "remote.port" -> {"remote": {"port": ...}} */
			while ((dot = strchr(name, '.')) && (size_t)(dot - name) < sizeof(part)) {
				json_t *sub;

				snprintf(part, sizeof(part), "%.*s", (int)(dot - name), name);
				if (!(sub = json_object_get(dst, part))) {
					sub = json_object();
					json_object_set_new(dst, part, sub);
				}
				dst = sub;
				name = dot + 1;
			}
			switch (detect_fields[fi].type) {
			case FT_INT: json_object_set_new(dst, name, json_integer(v.i)); break;
			case FT_BOOL: json_object_set_new(dst, name, json_boolean(v.i)); break;
			case FT_STR: jsonx_set_bytes(dst, name, v.s, v.len); break;
			case FT_LIST: {
				json_t *a = json_array();

				for (size_t off = 0; off < v.len;) {
					size_t l = strnlen(v.s + off, v.len - off);

					json_array_append_new(a, jsonx_string_bytes(v.s + off, l, NULL));
					off += l + 1;
				}
				json_object_set_new(dst, name, a);
				break;
			}
			}
		}
		*key = tab[i].key;
		return o;
	}
	return NULL;
}

static int alert_cb(void *ctx, json_t *al, const struct detect_event *cev)
{
	struct det *d = ctx;
	struct detect_event *ev = (struct detect_event *)cev;

	if (ev) {
		const char *key = NULL;
		json_t *x;

		agent_add_actor(d->a, al, ev->p, ev->h);
		if ((x = kind_details(ev, &key)))
			json_object_set_new(al, key, x);
	}
	return agent_emit_alert(d->a, al);
}

/* ---------- engine callbacks ---------- */

static struct detect_limits limits(const struct detect_config *cfg)
{
	return (struct detect_limits){
		.dedup_window_ns = cfg ? cfg->dedup_window_s * 1000000000ull : 0,
		.dedup_max = 1024,
		.seq_max = 4096,
	};
}

/* Binds, (re)opens the sensor for the kinds used and sets the watch/read paths. */
static int activate(struct det *d, const struct vigil_policy *pol, char *err, size_t errlen)
{
	const struct detect_config *cfg = config_of(pol);
	unsigned kinds = cfg ? detect_ruleset_kinds(cfg->rules) : 0;
	struct detect_limits lim = limits(cfg);
	struct policy_strv rp = { 0 };
	struct detect_bpf *old_skel = NULL;
	int r;

	det_env(d, pol);
	if (cfg && detect_ruleset_bind(cfg->rules, &d->env)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (cfg)
		detect_ruleset_read_paths(cfg->rules, &rp);
	if (kinds != d->kinds || !d->skel) {
		/* new set attached before the old one goes: no window without sensors */
		struct det tmp = *d;

		tmp.skel = NULL;
		tmp.rb = NULL;
		tmp.nlinks = 0;
		tmp.kinds = 0;
		tmp.read_paths = rp;
		if ((r = sensor_open(&tmp, d, kinds, err, errlen))) {
			policy_strv_free(&rp);
			return r;
		}
		old_skel = d->skel;
		if (old_skel) {
			if (d->rb)
				ring_buffer__consume(d->rb);
			det_flush(d, 0);
			sensor_close(d);
		}
		d->skel = tmp.skel;
		d->rb = tmp.rb;
		memcpy(d->links, tmp.links, sizeof(d->links));
		d->nlinks = tmp.nlinks;
		d->kinds = tmp.kinds;
	}
	policy_strv_free(&d->read_paths);
	d->read_paths = rp;
	set_read_inodes(d);
	d->cfg = cfg;
	if (d->st)
		detect_state_reset(d->st, cfg ? cfg->rules : NULL, &lim);
	else if (!(d->st = detect_state_new(cfg ? cfg->rules : NULL, &lim, alert_cb, d))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void *det_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct det *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->a = a;
	d->need_refresh = true;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		free(d);
		return NULL;
	}
	if ((r = activate(d, pol, err, errlen))) {
		sensor_close(d);
		detect_state_free(d->st);
		close(d->epfd);
		free(d);
		return NULL;
	}
	return d;
}

static int det_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct det *d = st;
	int r = activate(d, pol, err, errlen);

	d->need_refresh = true;
	return r;
}

static void det_tick(void *st, uint64_t now)
{
	struct det *d = st;

	if (d->rb)
		ring_buffer__consume(d->rb);
	det_flush(d, 0);
	for (size_t i = 0; i < d->npend;) {
		if (now > d->pend[i].rec->hdr.ts_ns && now - d->pend[i].rec->hdr.ts_ns > STDIO_WAIT_NS)
			pending_release(d, i);
		else
			i++;
	}
	if (d->need_refresh) {
		/* at the first tick the agent knows this engine: roots with ${vigil.*} bound */
		d->need_refresh = false;
		agent_refresh_watch(d->a);
	}
	if (d->st)
		detect_state_tick(d->st, now);
	if (d->read_paths.n && now - d->last_restat > RESTAT_NS) {
		/* /etc/shadow is replaced by rename on every password change: follow the inode */
		d->last_restat = now;
		set_read_inodes(d);
	}
}

static int det_poll_fd(void *st)
{
	return ((struct det *)st)->epfd;
}

static void det_on_poll(void *st)
{
	struct det *d = st;

	if (d->rb)
		ring_buffer__consume(d->rb);
}

static json_t *det_status(void *st)
{
	struct det *d = st;
	json_t *o = d->st ? detect_state_status(d->st) : json_object(), *k = json_array(), *rec = json_object();
	uint64_t loss = 0;

	json_object_set_new(o, "enabled", json_boolean(d->cfg != NULL));
	json_object_set_new(o, "rules", json_integer(d->cfg ? (json_int_t)detect_ruleset_size(d->cfg->rules) : 0));
	if (d->cfg && d->cfg->rules_dir)
		jsonx_set_str(o, "rules_dir", d->cfg->rules_dir);
	if (d->cfg && d->cfg->rules_dir_missing)
		json_object_set_new(o, "rules_dir_missing", json_true());
	for (int i = 0; i < DK_MAX; i++) {
		if (d->kinds & (1u << i))
			json_array_append_new(k, json_string(detect_kind_name(i)));
		if (d->records[i])
			json_object_set_new(rec, detect_kind_name(i), json_integer((json_int_t)d->records[i]));
	}
	json_object_set_new(o, "event_kinds", k);
	json_object_set_new(o, "records", rec);
	json_object_set_new(o, "malformed_records", json_integer((json_int_t)d->malformed));
	json_object_set_new(o, "programs_attached", json_integer((json_int_t)d->nlinks));
	if (d->skel) {
		int ncpu = libbpf_num_possible_cpus();
		uint64_t *vals = ncpu > 0 ? calloc(ncpu, sizeof(uint64_t)) : NULL;

		for (uint32_t i = 0; vals && i < VIGIL_LOSS_SLOTS; i++)
			if (!bpf_map_lookup_elem(bpf_map__fd(d->skel->maps.vigil_loss), &i, vals))
				for (int c = 0; c < ncpu; c++)
					loss += vals[c];
		free(vals);
	}
	json_object_set_new(o, "loss", json_integer((json_int_t)loss));
	json_object_set_new(o, "stdio_pending", json_integer((json_int_t)d->npend));
	json_object_set_new(o, "queue_overflow", json_integer((json_int_t)d->q_overflow));
	return o;
}

static void det_stop(void *st)
{
	struct det *d = st;

	if (d->rb)
		ring_buffer__consume(d->rb);    /* e.g. the signal that is stopping vigild */
	det_flush(d, 0);
	detect_state_flush(d->st);          /* the open dedup summaries */
}

static void det_destroy(void *st)
{
	struct det *d = st;

	if (!d)
		return;
	while (d->npend)
		pending_release(d, d->npend - 1);
	detect_state_free(d->st);           /* writes the open dedup summaries */
	sensor_close(d);
	policy_strv_free(&d->read_paths);
	if (d->epfd >= 0)
		close(d->epfd);
	free(d);
}

static json_t *cmd_rules(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct det *d = ctx;
	json_t *o = ctl_ok(), *arr = json_array();

	for (size_t i = 0; d->cfg && i < d->cfg->rules->n; i++) {
		const struct detect_rule *r = &d->cfg->rules->r[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s}",
			"id", r->id, "title", r->title, "severity", severity_name(r->severity), "enabled", r->enabled,
			"event", r->nsteps ? "sequence" : detect_kind_name(r->kind), "tactic", r->mitre[0],
			"technique", r->mitre[2]));
	}
	json_object_set_new(o, "rules", arr);
	return o;
}

static const struct ctl_cmd det_cmds[] = {
	{ "detections.rules", cmd_rules },
	{ NULL, NULL },
};

const struct engine detect_engine = {
	.name = "detections",
	.create = det_create,
	.apply = det_apply,
	.on_record = on_record,
	.tick = det_tick,
	.poll_fd = det_poll_fd,
	.on_poll = det_on_poll,
	.cmds = det_cmds,
	.status = det_status,
	.stop = det_stop,
	.destroy = det_destroy,
};
