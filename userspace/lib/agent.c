/* The agent: kernel records -> enrichment -> engines -> logs.  See agent.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>

#include "agent.h"
#include "alert.h"
#include "cgroups.h"
#include "container.h"
#include "ctl.h"
#include "engine.h"
#include "event.h"
#include "detect.h"
#include "fim.h"
#include "hashcache.h"
#include "hostfs.h"
#include "hostroot.h"
#include "jsonx.h"
#include "k8s.h"
#include "log.h"
#include "paths.h"
#include "proctab.h"
#include "sensors.h"
#include "sink.h"
#include "util.h"

#define PROCTAB_MAX     65536
#define HASHCACHE_MAX   8192
#define EXIT_GRACE_NS   (30ull * 1000000000ull)
#define LOSS_MARK_NS    (10ull * 1000000000ull)   /* alerts this long after a loss carry the marker */

#define EVENTS_BUFFER   (256 * 1024)   /* events log: whole lines kept until the batch ends */
#define ACTOR_SLOTS     64

#define DEDUP_SLOTS     1024
#define DEDUP_WINDOW_NS (60ull * 1000000000ull)

struct dedup_slot {
	uint64_t key;
	uint64_t first_wall_ns, last_wall_ns;
	uint32_t count;
	json_t *first;              /* the alert written first (id filled), for the summary */
};

/*
 * The serialized "process" and "parents" of recent actors.  A flood of records from one
 * process would otherwise rebuild and re-serialize the same ~1 kB for every record.  An
 * entry is valid while the process table is unchanged: same generation (bumped by every
 * exec, fork, exit, lazily completed entry and timer tick, so staleness is bounded by one
 * tick), same size and no eviction since it was filled.
 */
struct actor_slot {
	uint32_t tgid;
	uint64_t start_ns;
	uint64_t gen, evictions;
	size_t nprocs;
	char *proc, *parents;       /* proc_to_json() and proctab_ancestry() as JSON text */
	size_t proc_len, parents_len;
};

struct agent {
	struct agent_opts o;
	struct dedup_slot dedup[DEDUP_SLOTS];
	uint64_t alerts_deduplicated;
	char policy_path[PATH_MAX];
	char proc_root[PATH_MAX];
	struct vigil_policy *pol;
	struct probe_result probe;
	struct sensors *sens;
	struct proctab *pt;
	struct hashcache *hc;
	struct cgroups *cg;
	struct sink *alerts, *events;
	struct ctl_server *ctl;
	char host[256];
	int lock_fd;
	char pid_path[PATH_MAX];
	int epfd, sigfd, timerfd;
	bool stop;
	uint64_t start_wall_ns;

	/* loss accounting */
	uint64_t loss_seen[VIGIL_LOSS_SLOTS];
	uint64_t loss_check_wall_ns;     /* previous check: start of the next window */
	uint64_t loss_mark_until_ns;     /* wall ns until which alerts carry the marker */
	uint64_t loss_window_from_ns, loss_window_to_ns;

	/* engines (engines.c), state in the same order */
	void *eng[16];
	size_t neng;
	struct ctl_cmd *cmds;          /* agent + engine control commands */

	/* actor serialization cache */
	struct actor_slot actors[ACTOR_SLOTS];
	uint64_t actor_gen;
	struct jsonx_buf line;         /* scratch for one events line */
	char ts_text[48];              /* util_rfc3339() of the second ts_sec (start_event_line) */
	uint64_t ts_sec;

	/* counters */
	uint64_t records, malformed, alerts_written;
	json_t *alert_counts;          /* {rule: {severity: written}} */
	uint64_t sent_prev[VIGIL_EV_TYPE_MAX];
	uint64_t rate_prev_ns;
	double events_per_s;
};

/* ---------- helpers ---------- */

static const struct vigil_mitre mitre_ww_exec = {
	.tactic = "TA0002", .tactic_name = "Execution",
	.technique = "T1204.002", .technique_name = "User Execution: Malicious File",
};
static const struct vigil_mitre mitre_loss = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1562.001", .technique_name = "Impair Defenses: Disable or Modify Tools",
};

static const char *const ev_type_names[VIGIL_EV_TYPE_MAX] = {
	[VIGIL_EV_EXEC] = "exec", [VIGIL_EV_FORK] = "fork", [VIGIL_EV_EXIT] = "exit",
	[VIGIL_EV_FILE] = "file", [VIGIL_EV_NET] = "network",
};

static const char *type_name(unsigned t)
{
	return t < VIGIL_EV_TYPE_MAX && ev_type_names[t] ? ev_type_names[t] : "unknown";
}

static void set_time(json_t *o, const char *key, uint64_t wall_ns)
{
	char ts[48];

	json_object_set_new(o, key, json_string(util_rfc3339(wall_ns, ts, sizeof(ts))));
}

/* Logs (rate-limited) an events-log write that failed with r (-errno); returns r. */
static int events_result(struct agent *a, int r)
{
	if (r)
		vlog_ratelimited(VLOG_ERR, "cannot write %s: %s", sink_path(a->events), strerror(-r));
	return r;
}

static int write_event(struct agent *a, json_t *ev)
{
	return events_result(a, sink_write_json(a->events, ev));
}

/* Writes the buffered events (end of a ringbuf batch, timer, exit). */
static void flush_events(struct agent *a)
{
	events_result(a, sink_flush(a->events));
}

/* Handles every ringbuf record ready now, then writes the events they gave; the number
 * of records read. */
static int read_sensors(struct agent *a)
{
	int n = sensors_consume(a->sens);

	flush_events(a);
	return n;
}

/* alert_counts[rule][severity]++ (rules come from code and policy: a bounded set) */
static void count_alert(struct agent *a, const json_t *alert)
{
	const char *rule = json_string_value(json_object_get(alert, "rule"));
	const char *sev = json_string_value(json_object_get(alert, "severity"));
	json_t *r;

	rule = rule ? rule : "unknown";
	sev = sev ? sev : "unknown";
	if (!a->alert_counts && !(a->alert_counts = json_object()))
		return;
	if (!(r = json_object_get(a->alert_counts, rule)) &&
	    json_object_set_new(a->alert_counts, rule, r = json_object()))
		return;
	json_object_set_new(r, sev, json_integer(json_integer_value(json_object_get(r, sev)) + 1));
}

int agent_emit_alert(struct agent *a, json_t *alert)
{
	char id[33];
	uint64_t now = util_now_ns();
	int r;

	if (json_is_null(json_object_get(alert, "time")) || !json_object_get(alert, "time"))
		set_time(alert, "time", now);
	if (k8s_engine_defer(agent_engine(a, "kubernetes"), alert))
		return 0;    /* pod metadata pending: the engine emits it when known */
	alert_new_id(id);
	json_object_set_new(alert, "id", json_string(id));
	jsonx_set_str(alert, "host", a->host);
	if (!json_object_get(alert, "process"))
		json_object_set_new(alert, "process", json_null());
	if (!json_object_get(alert, "container"))
		json_object_set_new(alert, "container", json_null());
	if (now <= a->loss_mark_until_ns) {
		json_t *w = json_object();
		set_time(w, "from", a->loss_window_from_ns);
		set_time(w, "to", a->loss_window_to_ns);
		json_object_set_new(alert, "event_loss_window", w);
	}
	r = sink_write_json(a->alerts, alert);
	if (r)
		vlog_ratelimited(VLOG_ERR, "cannot write %s: %s", sink_path(a->alerts), strerror(-r));
	else {
		a->alerts_written++;
		count_alert(a, alert);
	}
	/* an alert the local log could not take still reaches the engines (the forwarder's
	 * spool is in the state directory): a full log disk must not hide it from the service */
	for (size_t i = 0; i < a->neng; i++)
		if (vigil_engines[i]->on_alert && a->eng[i])
			vigil_engines[i]->on_alert(a->eng[i], alert);
	return r;
}

/* Adds process, parents, container and cgroup fields for the actor of a record. */
void agent_add_actor(struct agent *a, json_t *o, struct proc *p, const struct vigil_hdr *h)
{
	json_t *c;

	if (p) {
		json_t *pj = proc_to_json(p);
		if (h && h->pid != h->tgid)
			json_object_set_new(pj, "tid", json_integer(h->pid));
		json_object_set_new(o, "process", pj);
		json_object_set_new(o, "parents", proctab_ancestry(a->pt, p, 8));
		c = proc_container_json(p);
		if (c)
			k8s_engine_enrich(agent_engine(a, "kubernetes"), c);
		json_object_set_new(o, "container", c ? c : json_null());
	} else {
		json_object_set_new(o, "process", json_pack("{s:i}", "pid", h ? (json_int_t)h->tgid : 0));
		json_object_set_new(o, "container", json_null());
	}
	if (h)
		json_object_set_new(o, "cgroup_id", json_integer((json_int_t)h->cgroup_id));
}

/* Process entry for the actor of a record; filled from the header when unknown. */
static struct proc *actor(struct agent *a, const struct vigil_hdr *h)
{
	struct proc *p = proctab_get(a->pt, h->tgid, h->start_ns);

	if (!p)
		return NULL;
	if (!p->comm[0] || (!p->exe && !p->seeded) || (!p->cgroup_id && h->cgroup_id))
		a->actor_gen++;
	if (!p->comm[0])
		memcpy(p->comm, h->comm, sizeof(p->comm));
	if (!p->exe && !p->seeded) {
		/* never saw this process start: ask /proc once (it may be gone already) */
		char link[PATH_MAX], buf[PATH_MAX];
		ssize_t n = hostfs_proc(link, sizeof(link), "/%u/exe", h->tgid) ? -1 :
			    readlink(link, buf, sizeof(buf) - 1);
		if (n > 0)
			proc_set_bytes(&p->exe, &p->exe_len, buf, n);
		p->uid = h->uid;
		p->gid = h->gid;
	}
	if (!p->cgroup_id && h->cgroup_id) {
		const char *cp;
		p->cgroup_id = h->cgroup_id;
		if (a->cg && (cp = cgroups_path(a->cg, h->cgroup_id)))
			container_from_cgroup(cp, &p->container);
	}
	return p;
}

static void actor_slot_clear(struct actor_slot *c)
{
	free(c->proc);
	free(c->parents);
	memset(c, 0, sizeof(*c));
}

/* The cached serialization of p's "process" and "parents", filled when stale.  NULL on ENOMEM. */
static const struct actor_slot *actor_json(struct agent *a, const struct proc *p)
{
	struct actor_slot *c = &a->actors[p->tgid % ACTOR_SLOTS];
	uint64_t ev = proctab_evictions(a->pt);
	size_t n = proctab_size(a->pt);
	json_t *pj, *anc;

	if (c->proc && c->tgid == p->tgid && c->start_ns == p->start_ns && c->gen == a->actor_gen &&
	    c->evictions == ev && c->nprocs == n)
		return c;
	actor_slot_clear(c);
	pj = proc_to_json(p);
	anc = proctab_ancestry(a->pt, p, 8);
	c->proc = pj ? jsonx_dump_line(pj) : NULL;
	c->parents = anc ? jsonx_dump_line(anc) : NULL;
	json_decref(pj);
	json_decref(anc);
	if (!c->proc || !c->parents || c->proc[0] != '{') {
		actor_slot_clear(c);
		return NULL;
	}
	c->proc_len = strlen(c->proc);
	c->parents_len = strlen(c->parents);
	c->tgid = p->tgid;
	c->start_ns = p->start_ns;
	c->gen = a->actor_gen;
	c->evictions = ev;
	c->nprocs = n;
	return c;
}

/*
 * Completes a->line, which holds the start of an events line (an object left open after its
 * own fields), with the actor fields of agent_add_actor() (process, parents, container,
 * cgroup_id in that order, the thread id last in "process") and writes it to the events
 * log.  "process" and "parents" come from the actor cache.  With p, pextra (JSON members,
 * each with its leading comma) goes at the end of "process"; tail likewise at the end of the
 * record.  0 or -errno.
 */
static int finish_event_line_x(struct agent *a, struct proc *p, const struct vigil_hdr *h,
			       const char *pextra, const char *tail)
{
	struct jsonx_buf *b = &a->line;
	const struct actor_slot *c = p ? actor_json(a, p) : NULL;
	json_t *cj;

	if (p && !c)
		return -ENOMEM;
	jsonx_buf_key(b, false, "process");
	if (!c) {
		jsonx_buf_raw(b, "{\"pid\":", 7);
		jsonx_buf_int(b, (int)h->tgid);
		jsonx_buf_raw(b, "}", 1);
	} else if (h->pid != h->tgid || pextra) {
		jsonx_buf_raw(b, c->proc, c->proc_len - 1);
		if (h->pid != h->tgid) {
			jsonx_buf_key(b, false, "tid");
			jsonx_buf_int(b, h->pid);
		}
		if (pextra)
			jsonx_buf_raw(b, pextra, strlen(pextra));
		jsonx_buf_raw(b, "}", 1);
	} else {
		jsonx_buf_raw(b, c->proc, c->proc_len);
	}
	if (c) {
		jsonx_buf_key(b, false, "parents");
		jsonx_buf_raw(b, c->parents, c->parents_len);
	}
	jsonx_buf_key(b, false, "container");
	if (c && (cj = proc_container_json(p))) {
		char *cs;

		k8s_engine_enrich(agent_engine(a, "kubernetes"), cj);
		cs = jsonx_dump_line(cj);
		json_decref(cj);
		if (!cs)
			return -ENOMEM;
		jsonx_buf_raw(b, cs, strlen(cs));
		free(cs);
	} else {
		jsonx_buf_raw(b, "null", 4);
	}
	jsonx_buf_key(b, false, "cgroup_id");
	jsonx_buf_int(b, (json_int_t)h->cgroup_id);
	if (tail)
		jsonx_buf_raw(b, tail, strlen(tail));
	jsonx_buf_raw(b, "}", 1);
	if (b->err)
		return b->err;
	return events_result(a, sink_write_line(a->events, b->p, b->len));
}

static int finish_event_line(struct agent *a, struct proc *p, const struct vigil_hdr *h)
{
	return finish_event_line_x(a, p, h, NULL, NULL);
}

/* Starts a->line with the fields of event_base(): {"time":..,"type":..,"host":.. (left open). */
static void start_event_line(struct agent *a, const struct vigil_hdr *h)
{
	uint64_t wall = util_boot_to_wall_ns(h->ts_ns);
	char *ts = a->ts_text;

	a->line.len = 0;
	a->line.err = 0;
	/* util_rfc3339() costs a gmtime and two formats: redo only the microseconds within a second */
	if (!ts[0] || wall / 1000000000ull != a->ts_sec) {
		util_rfc3339(wall, ts, sizeof(a->ts_text));
		a->ts_sec = wall / 1000000000ull;
	} else {
		char *us = strchr(ts, '.');
		unsigned v = (unsigned)(wall % 1000000000ull / 1000);

		for (int i = 6; us && i >= 1; i--, v /= 10)
			us[i] = (char)('0' + v % 10);
	}
	jsonx_buf_raw(&a->line, "{\"time\":\"", 9);
	jsonx_buf_raw(&a->line, ts, strlen(ts));
	jsonx_buf_raw(&a->line, "\",\"type\":", 9);
	jsonx_buf_str(&a->line, type_name(h->type), strlen(type_name(h->type)), NULL);
	jsonx_buf_key_bytes(&a->line, false, "host", a->host, strlen(a->host));
}

/* Writes record o (built by event_base() and a decoder) plus its actor to the events log:
 * the line agent_add_actor() and write_event() give.  0 or -errno. */
static int write_event_actor(struct agent *a, json_t *o, struct proc *p, const struct vigil_hdr *h)
{
	char *head = jsonx_dump_line(o);
	size_t hlen = head ? strlen(head) : 0;
	int r = -ENOMEM;

	/* event_base() always sets "time": the object is never empty */
	if (hlen > 2 && head[hlen - 1] == '}') {
		a->line.len = 0;
		a->line.err = 0;
		jsonx_buf_raw(&a->line, head, hlen - 1);
		r = finish_event_line(a, p, h);
	}
	free(head);
	return r;
}

static json_t *event_base(struct agent *a, const struct vigil_hdr *h)
{
	json_t *o = json_object();

	set_time(o, "time", util_boot_to_wall_ns(h->ts_ns));
	json_object_set_new(o, "type", json_string(type_name(h->type)));
	jsonx_set_str(o, "host", a->host);
	return o;
}

/* ---------- rules ---------- */

static bool under_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

/*
 * De-duplication of identical foundation-rule alerts (same file, content, arguments, user
 * and cgroup): the first is written at once; repeats inside DEDUP_WINDOW_NS are counted and, when
 * the window closes, one summary alert carries dedup.count, first and last.  Direct-mapped,
 * bounded: a colliding key closes the older window early.
 */
static uint64_t dedup_key(const char *path, const char *sha, const char *argv, size_t argv_len, uint32_t uid,
			  uint64_t cgroup_id)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *parts[3] = { (const unsigned char *)path, (const unsigned char *)sha,
					  (const unsigned char *)argv };
	size_t lens[3] = { path ? strlen(path) : 0, sha ? strlen(sha) : 0, argv ? argv_len : 0 };

	for (int i = 0; i < 3; i++) {
		for (size_t j = 0; j < lens[i]; j++) {
			h ^= parts[i][j];
			h *= 0x100000001b3ull;
		}
		h ^= 0xff;
		h *= 0x100000001b3ull;
	}
	h ^= uid;
	h *= 0x100000001b3ull;
	h ^= cgroup_id;     /* another container (or cgroup) is another subject */
	h *= 0x100000001b3ull;
	return h | 1;
}

static void dedup_flush(struct agent *a, struct dedup_slot *d)
{
	if (d->key && d->count > 1 && d->first) {
		json_t *sum = json_deep_copy(d->first), *dd = json_object();
		json_object_set_new(dd, "count", json_integer(d->count));
		set_time(dd, "first", d->first_wall_ns);
		set_time(dd, "last", d->last_wall_ns);
		json_object_set(dd, "summary_of", json_object_get(d->first, "id"));
		json_object_set_new(sum, "dedup", dd);
		json_object_set_new(sum, "time", json_null());
		agent_emit_alert(a, sum);
		json_decref(sum);
	}
	json_decref(d->first);
	memset(d, 0, sizeof(*d));
}

/* True when al repeats an alert of the open window (counted, not to be written). */
static bool dedup_seen(struct agent *a, uint64_t key, json_t *al)
{
	struct dedup_slot *d = &a->dedup[key % DEDUP_SLOTS];
	uint64_t now = util_now_ns();

	if (d->key == key && now - d->first_wall_ns < DEDUP_WINDOW_NS) {
		d->count++;
		d->last_wall_ns = now;
		a->alerts_deduplicated++;
		return true;
	}
	if (d->key)
		dedup_flush(a, d);
	d->key = key;
	d->count = 1;
	d->first_wall_ns = d->last_wall_ns = now;
	json_object_set_new(al, "dedup", json_pack("{s:i}", "count", 1));
	d->first = al;          /* agent_emit_alert fills its id before we keep it */
	json_incref(al);
	return false;
}

/* Closes the windows that have ended (called from the timer). */
static void dedup_sweep(struct agent *a, bool all)
{
	uint64_t now = util_now_ns();

	for (size_t i = 0; i < DEDUP_SLOTS; i++)
		if (a->dedup[i].key && (all || now - a->dedup[i].first_wall_ns >= DEDUP_WINDOW_NS))
			dedup_flush(a, &a->dedup[i]);
}

static void rule_exec_world_writable(struct agent *a, struct proc *p, const struct vigil_hdr *h)
{
	const struct vigil_policy *pol = a->pol;
	const char *hit = NULL, *which = NULL;

	if (!pol->rule_ww_enabled)
		return;
	for (size_t i = 0; i < pol->rule_ww_dirs.n && !hit; i++) {
		if (p->exe && under_dir(p->exe, pol->rule_ww_dirs.v[i])) {
			hit = pol->rule_ww_dirs.v[i];
			which = p->exe;
		} else if (p->script && under_dir(p->script, pol->rule_ww_dirs.v[i])) {
			hit = pol->rule_ww_dirs.v[i];
			which = p->script;
		}
	}
	if (!hit)
		return;
	json_t *al = alert_new("exec_world_writable", "Executable launched from a world-writable directory",
			       pol->rule_ww_severity, &mitre_ww_exec,
			       "Check who placed the file and why it runs from a world-writable directory; "
			       "remove it if unexpected, and mount the directory noexec "
			       "(e.g. 'mount -o remount,noexec /tmp').",
			       "audited");
	if (!al)
		return;
	set_time(al, "time", util_boot_to_wall_ns(h->ts_ns));
	agent_add_actor(a, al, p, h);
	json_t *f = json_object();
	jsonx_set_str(f, "path", which);
	jsonx_set_str(f, "directory", hit);
	json_object_set_new(al, "file", f);
	/* a loop running the same command from /tmp is one alert per window, not thousands */
	uint64_t key = dedup_key(which, p->sha256, p->argv, p->argv_len, p->uid, h->cgroup_id);
	if (!dedup_seen(a, key, al))
		agent_emit_alert(a, al);
	json_decref(al);
}

/* ---------- record handlers ---------- */

static void hash_exe(struct agent *a, struct proc *p, const struct vigil_exec *ev)
{
	char path[PATH_MAX];
	int r;

	p->sha256[0] = 0;
	/* /proc/<pid>/exe reaches the file even in another mount namespace, memfd or deleted */
	r = hostfs_proc(path, sizeof(path), "/%u/exe", ev->hdr.tgid);
	if (!r)
		r = hashcache_file(a->hc, path, util_kdev_to_dev(ev->exe_dev), ev->exe_ino, p->sha256);
	if (r && p->exe && p->exe[0] == '/')
		r = hashcache_host_file(a->hc, p->exe, util_kdev_to_dev(ev->exe_dev), ev->exe_ino, p->sha256);
	if (r)
		p->sha256[0] = 0;
}

static int handle_exec(struct agent *a, const struct vigil_exec *ev, size_t len)
{
	const char *d = ev->data;
	struct proc *p;

	if (event_exec_check(ev, len))
		return -EINVAL;
	a->actor_gen++;

	p = proctab_get(a->pt, ev->hdr.tgid, ev->hdr.start_ns);
	if (!p)
		return -ENOMEM;
	/* keep the original ancestry: a parent seen at fork wins over a later reparenting */
	if (p->seeded || !p->ppid) {
		p->ppid = ev->ppid;
		p->pstart_ns = ev->pstart_ns;
		p->real_ppid = 0;
	} else if (p->ppid != ev->ppid) {
		p->real_ppid = ev->ppid;
	}
	p->seeded = false;
	p->uid = ev->hdr.uid;
	p->gid = ev->hdr.gid;
	p->euid = ev->euid;
	p->loginuid = ev->loginuid;
	memcpy(p->comm, ev->hdr.comm, sizeof(p->comm));
	p->exe_flags = ev->hdr.flags;
	p->exe_dev = ev->exe_dev;
	p->exe_ino = ev->exe_ino;
	p->pidns = ev->pidns;
	p->mntns = ev->mntns;
	p->exited = false;
	proc_set_bytes(&p->exe, &p->exe_len, d, ev->exe_len ? ev->exe_len - 1 : 0);
	proc_set_bytes(&p->argv, &p->argv_len, d + ev->exe_len, ev->argv_len);
	p->argv_trunc = ev->hdr.flags & VIGIL_F_ARGV_TRUNC;
	if (ev->cwd_len)
		proc_set_bytes(&p->cwd, NULL, d + ev->exe_len + ev->argv_len, ev->cwd_len - 1);
	free(p->script);
	p->script = NULL;
	if (ev->script_len)
		proc_set_bytes(&p->script, NULL, d + ev->exe_len + ev->argv_len + ev->cwd_len, ev->script_len - 1);
	p->cgroup_id = ev->hdr.cgroup_id;
	memset(&p->container, 0, sizeof(p->container));
	if (a->cg) {
		const char *cp = cgroups_path(a->cg, ev->hdr.cgroup_id);
		if (cp)
			container_from_cgroup(cp, &p->container);
	}
	hash_exe(a, p, ev);

	if (a->pol->tel_exec) {
		/* what agent_add_actor() plus these members of "process" and "namespaces" give */
		char pextra[192], tail[96];

		snprintf(pextra, sizeof(pextra), ",\"argc\":%lld,\"exe_dev\":%lld,\"exe_ino\":%lld,\"exe_mode\":%lld%s",
			 (long long)(json_int_t)ev->argc, (long long)(json_int_t)util_kdev_to_dev(ev->exe_dev),
			 (long long)(json_int_t)ev->exe_ino, (long long)(json_int_t)ev->exe_mode,
			 ev->hdr.flags & VIGIL_F_PATH_TRUNC ? ",\"exe_path_truncated\":true" : "");
		snprintf(tail, sizeof(tail), ",\"namespaces\":{\"pid\":%lld,\"mnt\":%lld}",
			 (long long)(json_int_t)ev->pidns, (long long)(json_int_t)ev->mntns);
		start_event_line(a, &ev->hdr);
		finish_event_line_x(a, p, &ev->hdr, pextra, tail);
	}
	rule_exec_world_writable(a, p, &ev->hdr);
	return 0;
}

static int handle_fork(struct agent *a, const struct vigil_fork *ev, size_t len)
{
	if (len < sizeof(*ev))
		return -EINVAL;
	a->actor_gen++;
	actor(a, &ev->hdr);
	struct proc *c = proctab_fork(a->pt, ev->hdr.tgid, ev->hdr.start_ns, ev->child_tgid, ev->child_start_ns);
	if (c && a->pol->tel_fork_exit) {
		json_t *o = event_base(a, &ev->hdr);
		agent_add_actor(a, o, c, NULL);
		json_object_set_new(o, "cgroup_id", json_integer((json_int_t)ev->hdr.cgroup_id));
		write_event(a, o);
		json_decref(o);
	}
	return 0;
}

static int handle_exit(struct agent *a, const struct vigil_exit *ev, size_t len)
{
	struct proc *p;

	if (len < sizeof(*ev))
		return -EINVAL;
	a->actor_gen++;
	p = proctab_lookup(a->pt, ev->hdr.tgid);
	proctab_exit(a->pt, ev->hdr.tgid, ev->hdr.start_ns, ev->exit_code);
	if (p && a->pol->tel_fork_exit) {
		json_t *o = event_base(a, &ev->hdr);
		agent_add_actor(a, o, p, &ev->hdr);
		json_object_set_new(o, "exit_code", json_integer(ev->exit_code));
		write_event(a, o);
		json_decref(o);
	}
	return 0;
}

static bool file_watched(struct agent *a, const char *path)
{
	if (!path)
		return false;
	for (size_t i = 0; i < a->pol->file_watch.n; i++) {
		const char *w = a->pol->file_watch.v[i];
		if (!strcmp(path, w) || under_dir(path, w))
			return true;
	}
	return false;
}

/* file_watched() on a record's path bytes (n includes the NUL; 0 = absent). */
static bool file_watched_raw(struct agent *a, const char *path, size_t n)
{
	return n && file_watched(a, path);
}

static int handle_file(struct agent *a, const struct vigil_file *ev, size_t len)
{
	const char *d = ev->data;
	bool link_target = ev->op == VIGIL_FOP_SYMLINK;   /* path2 is the target string */
	bool xattr = ev->op == VIGIL_FOP_SETXATTR || ev->op == VIGIL_FOP_REMOVEXATTR;
	int r;

	if ((r = event_file_check(ev, len)))
		return r;
	/* the policy's watch list on the kernel's bytes: records outside it cost nothing more
	 * (a path that is not UTF-8 compares the same: the watch list is UTF-8) */
	if (!file_watched_raw(a, d, ev->path_len) &&
	    (link_target || xattr || !file_watched_raw(a, d + ev->path_len, ev->path2_len)))
		return 0;
	if (!a->pol->tel_file)
		return 0;
	start_event_line(a, &ev->hdr);
	jsonx_buf_key(&a->line, false, "file");
	r = event_file_write(ev, len, &a->line);
	if (r)
		return r == -EINVAL ? r : 0;
	finish_event_line(a, actor(a, &ev->hdr), &ev->hdr);
	return 0;
}

static int handle_net(struct agent *a, const struct vigil_net *ev, size_t len)
{
	json_t *o;
	int r;

	if (len < sizeof(*ev))
		return -EINVAL;
	if (!a->pol->tel_network)
		return 0;
	o = event_base(a, &ev->hdr);
	r = event_net_to_json(ev, len, o);
	if (!r)
		write_event_actor(a, o, actor(a, &ev->hdr), &ev->hdr);
	json_decref(o);
	return r;
}

int agent_handle_record(struct agent *a, const void *rec, size_t len)
{
	const struct vigil_hdr *h = rec;
	int r;

	a->records++;
	if (len < sizeof(*h) || h->size > len) {
		a->malformed++;
		return -EINVAL;
	}
	switch (h->type) {
	case VIGIL_EV_EXEC: r = handle_exec(a, rec, len); break;
	case VIGIL_EV_FORK: r = handle_fork(a, rec, len); break;
	case VIGIL_EV_EXIT: r = handle_exit(a, rec, len); break;
	case VIGIL_EV_FILE: r = handle_file(a, rec, len); break;
	case VIGIL_EV_NET:  r = handle_net(a, rec, len); break;
	default: r = -EINVAL;
	}
	if (r == 0 && a->neng) {
		struct proc *p = proctab_lookup(a->pt, h->tgid);

		for (size_t i = 0; i < a->neng; i++)
			if (vigil_engines[i]->on_record)
				vigil_engines[i]->on_record(a->eng[i], h, rec, len, p);
	}
	if (r == -EINVAL) {
		a->malformed++;
		vlog_ratelimited(VLOG_WARN, "malformed %s record (%zu bytes) dropped", type_name(h->type), len);
	}
	return r;
}

static int on_record(void *ctx, const void *rec, size_t len)
{
	agent_handle_record(ctx, rec, len);
	return 0;
}

/* ---------- loss ---------- */

static void check_loss(struct agent *a)
{
	uint64_t now_loss[VIGIL_LOSS_SLOTS], now = util_now_ns();
	json_t *by = NULL;
	uint64_t total = 0;

	if (!a->sens)
		return;
	sensors_loss(a->sens, now_loss);
	for (int i = 0; i < VIGIL_LOSS_SLOTS; i++) {
		uint64_t d = now_loss[i] - a->loss_seen[i];
		if (!d)
			continue;
		if (!by)
			by = json_array();
		json_array_append_new(by, json_pack("{s:s, s:s, s:I}",
			"type", type_name(i / VIGIL_LOSS_CAUSE_MAX),
			"cause", i % VIGIL_LOSS_CAUSE_MAX == VIGIL_LOSS_RINGBUF ? "ringbuf_full" : "read_failed",
			"count", (json_int_t)d));
		total += d;
	}
	memcpy(a->loss_seen, now_loss, sizeof(now_loss));
	if (by) {
		a->loss_window_from_ns = a->loss_check_wall_ns;
		a->loss_window_to_ns = now;
		a->loss_mark_until_ns = now + LOSS_MARK_NS;
		json_t *al = alert_new("event_loss", "Kernel events were lost", VIGIL_SEV_MEDIUM, &mitre_loss,
				       "Events in this window were not seen: treat silence in it as a gap. "
				       "If it repeats, reduce the telemetry the policy asks for or give vigild more CPU.",
				       "audited");
		json_t *l = json_object();
		json_object_set_new(l, "lost", json_integer((json_int_t)total));
		json_object_set_new(l, "by", by);
		json_object_set_new(al, "loss", l);
		agent_emit_alert(a, al);
		json_decref(al);
	}
	a->loss_check_wall_ns = now;
}

/* ---------- control commands ---------- */

static long rss_kb(void)
{
	char buf[4096];
	long kb = -1;

	if (util_read_small("/proc/self/status", buf, sizeof(buf)) <= 0)
		return -1;
	char *p = strstr(buf, "VmRSS:");
	if (p)
		kb = strtol(p + 6, NULL, 10);
	return kb;
}

static json_t *cmd_status(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	json_t *o = ctl_ok(), *st = agent_status_json(ctx);

	json_object_update(o, st);
	json_decref(st);
	return o;
}

json_t *agent_status_json(struct agent *a)
{
	json_t *o = json_object();
	uint64_t loss[VIGIL_LOSS_SLOTS], sent[VIGIL_EV_TYPE_MAX];
	char ts[48];

	json_object_set_new(o, "version", json_string(VIGIL_VERSION));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "started", json_string(util_rfc3339(a->start_wall_ns, ts, sizeof(ts))));
	json_object_set_new(o, "uptime_s", json_integer((util_now_ns() - a->start_wall_ns) / 1000000000ull));
	jsonx_set_str(o, "host", a->host);
	jsonx_set_str(o, "policy", a->pol->source);
	jsonx_set_str(o, "alerts_log", sink_path(a->alerts));
	jsonx_set_str(o, "events_log", sink_path(a->events));
	json_object_set_new(o, "capabilities", probe_to_json(&a->probe));
	json_object_set_new(o, "programs", sensors_programs(a->sens));
	json_object_set_new(o, "bpf_map_bytes", json_integer((json_int_t)sensors_map_bytes(a->sens)));

	sensors_loss(a->sens, loss);
	sensors_sent(a->sens, sent);
	json_t *ev = json_object(), *lo = json_object();
	for (int t = 1; t < VIGIL_EV_TYPE_MAX; t++) {
		json_object_set_new(ev, type_name(t), json_integer((json_int_t)sent[t]));
		json_object_set_new(lo, type_name(t), json_pack("{s:I, s:I}",
			"ringbuf_full", (json_int_t)loss[t * VIGIL_LOSS_CAUSE_MAX + VIGIL_LOSS_RINGBUF],
			"read_failed", (json_int_t)loss[t * VIGIL_LOSS_CAUSE_MAX + VIGIL_LOSS_READ]));
	}
	json_object_set_new(o, "events", ev);
	json_object_set_new(o, "events_per_s", json_real(a->events_per_s));
	json_object_set_new(o, "loss", lo);
	json_object_set_new(o, "records", json_integer((json_int_t)a->records));
	json_object_set_new(o, "malformed_records", json_integer((json_int_t)a->malformed));
	json_object_set_new(o, "alerts_written", json_integer((json_int_t)a->alerts_written));
	json_object_set_new(o, "alerts_deduplicated", json_integer((json_int_t)a->alerts_deduplicated));
	json_object_set_new(o, "alerts_by_rule", a->alert_counts ? json_deep_copy(a->alert_counts) : json_object());
	json_object_set_new(o, "events_written", json_integer((json_int_t)sink_lines(a->events)));
	json_object_set_new(o, "log_write_failures",
			    json_integer((json_int_t)(sink_failures(a->alerts) + sink_failures(a->events))));
	json_object_set_new(o, "process_table", json_pack("{s:I, s:I}",
		"size", (json_int_t)proctab_size(a->pt), "evictions", (json_int_t)proctab_evictions(a->pt)));
	json_object_set_new(o, "hash_cache", json_pack("{s:I, s:I}",
		"hits", (json_int_t)hashcache_hits(a->hc), "misses", (json_int_t)hashcache_misses(a->hc)));
	json_object_set_new(o, "rss_kb", json_integer(rss_kb()));
	for (size_t i = 0; i < a->neng; i++) {
		json_t *es = vigil_engines[i]->status ? vigil_engines[i]->status(a->eng[i]) : NULL;
		if (es)
			json_object_set_new(o, vigil_engines[i]->name, es);
	}
	return o;
}

static int apply_policy(struct agent *a, struct vigil_policy *np, char *err, size_t errlen);

static json_t *cmd_reload(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct agent *a = ctx;
	struct vigil_policy *np = NULL;
	char err[512];
	int r = policy_load(a->policy_path, &np, err, sizeof(err));

	if (r)
		return ctl_error("%s (the previous policy stays in force)", err);
	r = apply_policy(a, np, err, sizeof(err));
	if (r)
		return ctl_error("%s (the previous policy stays in force)", err);
	return ctl_ok();
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status },
	{ "reload", cmd_reload },
	{ NULL, NULL },
};

/* Engine commands get their engine's state: the agent dispatches by name. */
static json_t *cmd_engine(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct agent *a = ctx;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	for (size_t i = 0; i < a->neng; i++)
		for (const struct ctl_cmd *c = vigil_engines[i]->cmds; c && c->name; c++)
			if (!strcmp(c->name, cmd))
				return c->fn(a->eng[i], req, peer);
	return ctl_error("unknown command \"%s\"", cmd);
}

static int build_cmds(struct agent *a)
{
	size_t n = ARRAY_SIZE(ctl_cmds), k = 0;

	for (size_t i = 0; i < a->neng; i++)
		for (const struct ctl_cmd *c = vigil_engines[i]->cmds; c && c->name; c++)
			n++;
	a->cmds = calloc(n, sizeof(*a->cmds));
	if (!a->cmds)
		return -ENOMEM;
	for (const struct ctl_cmd *c = ctl_cmds; c->name; c++)
		a->cmds[k++] = *c;
	for (size_t i = 0; i < a->neng; i++)
		for (const struct ctl_cmd *c = vigil_engines[i]->cmds; c && c->name; c++)
			a->cmds[k++] = (struct ctl_cmd){ c->name, cmd_engine };
	return 0;
}

const char *agent_state_dir(const struct agent *a)
{
	return a->o.state_dir;
}

const char *agent_log_dir(const struct agent *a)
{
	return a->o.log_dir;
}

const char *agent_host_root(const struct agent *a)
{
	return a->o.host_root;
}

const char *agent_metrics_listen(const struct agent *a)
{
	return a->o.metrics_listen;
}

const char *agent_host(const struct agent *a)
{
	return a->host;
}

const struct probe_result *agent_probe(const struct agent *a)
{
	return &a->probe;
}

struct proctab *agent_proctab(struct agent *a)
{
	return a->pt;
}

static int watch_list(struct agent *a, const struct vigil_policy *pol, struct policy_strv *sv);

int agent_refresh_watch(struct agent *a)
{
	struct policy_strv watch;
	int r;

	if (!a->sens)
		return 0;
	r = watch_list(a, a->pol, &watch);
	if (!r)
		r = sensors_set_watch(a->sens, (const char *const *)watch.v, watch.n, false);
	policy_strv_free(&watch);
	return r;
}

void agent_loss(struct agent *a, uint64_t out[VIGIL_LOSS_SLOTS])
{
	if (a->sens)
		sensors_loss(a->sens, out);
	else
		memset(out, 0, sizeof(uint64_t) * VIGIL_LOSS_SLOTS);
}

void *agent_engine(struct agent *a, const char *name)
{
	for (size_t i = 0; i < a->neng; i++)
		if (!strcmp(vigil_engines[i]->name, name))
			return a->eng[i];
	return NULL;
}

/* ---------- lifecycle ---------- */

/* The file sensor's roots: file.watch plus the FIM watch paths (sv: policy_strv_free). */
static int watch_list(struct agent *a, const struct vigil_policy *pol, struct policy_strv *sv)
{
	*sv = (struct policy_strv){ 0 };
	if (pol->file_watch.n && !(sv->v = calloc(pol->file_watch.n, sizeof(char *))))
		return -ENOMEM;
	for (; sv->n < pol->file_watch.n; sv->n++)
		if (!(sv->v[sv->n] = strdup(pol->file_watch.v[sv->n])))
			return -ENOMEM;
	if (detect_watch_roots(pol, a ? agent_engine(a, "detections") : NULL, sv))
		return -ENOMEM;
	return fim_watch_roots(pol, a ? agent_engine(a, "fim") : NULL, sv);
}

static int open_sensors(struct agent *a, const struct vigil_policy *pol, struct sensors **out,
			char *err, size_t errlen)
{
	struct policy_strv watch;
	struct sensors_opts so = {
		.exec = pol->sensor_exec,
		.file = pol->sensor_file,
		.net = pol->sensor_network,
		.self_tgid = getpid(),
	};

	if (watch_list(a, pol, &watch)) {
		policy_strv_free(&watch);
		snprintf(err, errlen, "out of memory");
		*out = NULL;
		return -ENOMEM;
	}
	so.watch = (const char *const *)watch.v;
	so.nwatch = watch.n;
	*out = sensors_open(&so, on_record, a, err, errlen);
	policy_strv_free(&watch);
	return *out ? 0 : -errno;
}

/* Swaps in np (taking ownership) or, on failure, frees np and keeps the old policy. */
static int apply_policy(struct agent *a, struct vigil_policy *np, char *err, size_t errlen)
{
	struct vigil_policy *old = a->pol;
	int r = 0;

	if (a->sens && (np->sensor_exec != old->sensor_exec || np->sensor_file != old->sensor_file ||
			np->sensor_network != old->sensor_network)) {
		struct sensors *ns = NULL;

		/* attach the new set before detaching the old: no window without sensors */
		r = open_sensors(a, np, &ns, err, errlen);
		if (r) {
			policy_free(np);
			return r;
		}
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, sensors_fd(a->sens), NULL);
		sensors_consume(a->sens);
		sensors_free(a->sens);
		a->sens = ns;
		memset(a->loss_seen, 0, sizeof(a->loss_seen));
		sensors_loss(a->sens, a->loss_seen);
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = 1 };
		epoll_ctl(a->epfd, EPOLL_CTL_ADD, sensors_fd(a->sens), &ee);
	} else if (a->sens) {
		struct policy_strv watch;

		r = watch_list(a, np, &watch);
		if (!r)
			r = sensors_set_watch(a->sens, (const char *const *)watch.v, watch.n, false);
		policy_strv_free(&watch);
		if (r) {
			snprintf(err, errlen, "cannot update the watched paths: %s", strerror(-r));
			policy_free(np);
			return r;
		}
	}
	for (size_t i = 0; i < a->neng; i++) {
		if (vigil_engines[i]->apply && (r = vigil_engines[i]->apply(a->eng[i], np, err, errlen))) {
			/* engines applied so far go back to the policy in force */
			for (size_t j = 0; j < i; j++)
				if (vigil_engines[j]->apply)
					vigil_engines[j]->apply(a->eng[j], old, err + strlen(err), 0);
			policy_free(np);
			return r;
		}
	}
	a->pol = np;
	policy_free(old);
	return 0;
}

static int take_lock(struct agent *a, char *err, size_t errlen)
{
	char buf[32];
	int n;

	if (util_path_join(a->pid_path, sizeof(a->pid_path), a->o.run_dir, VIGIL_PID_NAME)) {
		snprintf(err, errlen, "run directory path too long");
		return -ENAMETOOLONG;
	}
	a->lock_fd = open(a->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (a->lock_fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open pid file %s: %s", a->pid_path, strerror(e));
		return -e;
	}
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		n = pread(a->lock_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		snprintf(err, errlen, "another vigild is running (pid %s, lock %s)", buf[0] ? buf : "?", a->pid_path);
		close(a->lock_fd);
		a->lock_fd = -1;
		return -(e == EWOULDBLOCK ? EBUSY : e);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(a->lock_fd, 0) || pwrite(a->lock_fd, buf, n, 0) != n) {
		/* the lock is what matters; the pid text is informational */
	}
	return 0;
}

struct agent *agent_new(const struct agent_opts *o, char *err, size_t errlen)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct utsname un;
	struct sink_opts so;
	int r;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->o = *o;
	if (!a->o.host_root)
		a->o.host_root = "/";
	if (!a->o.proc_root) {
		hostroot_join(a->proc_root, sizeof(a->proc_root), a->o.host_root, "/proc");
		a->o.proc_root = a->proc_root;
	}
	a->lock_fd = a->epfd = a->sigfd = a->timerfd = -1;
	a->actor_gen = 1;
	a->start_wall_ns = util_now_ns();
	err[0] = 0;
	if ((r = hostfs_set_root(a->o.host_root, a->o.proc_root))) {
		snprintf(err, errlen, "host root %s: %s", a->o.host_root, strerror(-r));
		goto fail;
	}

	if (geteuid() != 0) {
		snprintf(err, errlen, "vigild must run as root (it loads BPF programs)");
		goto fail;
	}
	if (!realpath(o->policy_path, a->policy_path))
		snprintf(a->policy_path, sizeof(a->policy_path), "%s", o->policy_path);
	r = policy_load(a->policy_path, &a->pol, err, errlen);
	if (r)
		goto fail;
	if (access(VIGIL_BTF_VMLINUX, R_OK)) {
		snprintf(err, errlen, "kernel BTF is missing (%s): vigil needs a kernel built with CONFIG_DEBUG_INFO_BTF",
			 VIGIL_BTF_VMLINUX);
		goto fail;
	}
	for (const char *d, **dp = (const char *[]){ o->run_dir, o->state_dir, o->log_dir, NULL }; (d = *dp); dp++) {
		r = util_mkdir_p(d, 0750);
		if (r) {
			snprintf(err, errlen, "cannot create directory %s: %s", d, strerror(-r));
			goto fail;
		}
	}
	if (take_lock(a, err, errlen))
		goto fail;

	so = (struct sink_opts){ .max_bytes = a->pol->out_max_bytes, .keep = a->pol->out_keep,
				 .compress = a->pol->out_compress, .compress_async = true, .mode = 0640 };
	a->alerts = sink_open(o->log_dir, VIGIL_ALERTS_NAME, &so);
	if (!a->alerts) {
		snprintf(err, errlen, "cannot open %s/%s: %s", o->log_dir, VIGIL_ALERTS_NAME, strerror(errno));
		goto fail;
	}
	so.buffer_bytes = EVENTS_BUFFER;   /* flushed after every ringbuf batch and on the timer */
	a->events = sink_open(o->log_dir, VIGIL_EVENTS_NAME, &so);
	if (!a->events) {
		snprintf(err, errlen, "cannot open %s/%s: %s", o->log_dir, VIGIL_EVENTS_NAME, strerror(errno));
		goto fail;
	}
	if (a->pol->host_name)
		snprintf(a->host, sizeof(a->host), "%s", a->pol->host_name);
	else if (uname(&un) == 0)
		snprintf(a->host, sizeof(a->host), "%s", un.nodename);

	probe_run(&a->probe);
	if (!a->probe.bpffs) {
		snprintf(err, errlen, "bpffs is not mounted at %s and cannot be mounted", VIGIL_BPFFS);
		goto fail;
	}
	if (!a->probe.ringbuf) {
		snprintf(err, errlen, "this kernel has no BPF ringbuf (needs Linux 5.8 or later)");
		goto fail;
	}
	a->pt = proctab_new(PROCTAB_MAX);
	a->hc = hashcache_new(HASHCACHE_MAX);
	if (!a->pt || !a->hc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	{
		char hcg[PATH_MAX];    /* in a pod, the host's cgroup tree rather than the pod's namespace */
		bool below = !hostroot_is_host(a->o.host_root) &&
			     !hostroot_cgroup2(a->o.host_root, hcg, sizeof(hcg));
		a->cg = cgroups_new(below ? hcg : a->probe.cgroup2[0] ? a->probe.cgroup2 : NULL);
	}
	if (!a->cg)
		vlog(VLOG_WARN, "no cgroup v2 mount: container ids will come from /proc only");
	proctab_seed(a->pt, a->o.proc_root);

	if (open_sensors(a, a->pol, &a->sens, err, errlen))
		goto fail;
	sensors_loss(a->sens, a->loss_seen);
	a->loss_check_wall_ns = util_now_ns();

	/* threads engines start inherit this: only the main loop takes these (signalfd) */
	{
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGINT);
		sigaddset(&m, SIGTERM);
		sigaddset(&m, SIGHUP);
		sigprocmask(SIG_BLOCK, &m, NULL);
	}
	for (size_t i = 0; vigil_engines[i] && i < ARRAY_SIZE(a->eng); i++) {
		a->eng[i] = vigil_engines[i]->create ? vigil_engines[i]->create(a, a->pol, err, errlen) : a;
		if (!a->eng[i]) {
			if (!err[0])
				snprintf(err, errlen, "cannot start %s", vigil_engines[i]->name);
			goto fail;
		}
		a->neng = i + 1;
	}
	if (build_cmds(a)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	{
		char sock[PATH_MAX];
		gid_t gid = (gid_t)-1;

		if (a->pol->control_group) {
			struct group *g = getgrnam(a->pol->control_group);
			if (g)
				gid = g->gr_gid;
			else
				vlog(VLOG_WARN, "control group \"%s\" does not exist: root only", a->pol->control_group);
		}
		util_path_join(sock, sizeof(sock), o->run_dir, VIGIL_SOCK_NAME);
		a->ctl = ctl_server_new(sock, gid, a->cmds, a);
		if (!a->ctl) {
			snprintf(err, errlen, "cannot listen on %s: %s", sock, strerror(errno));
			goto fail;
		}
	}
	return a;
fail:
	if (!err[0])
		snprintf(err, errlen, "start-up failed");
	agent_free(a);
	return NULL;
}

int agent_run(struct agent *a)
{
	sigset_t mask;
	struct epoll_event ee, evs[8];
	struct itimerspec its = { .it_interval = { 0, 200000000 }, .it_value = { 0, 200000000 } };
	int ticks = 0;
	bool recheck = false;   /* woken or records read: more may come without a wake-up */

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sigfd < 0 || a->timerfd < 0 || a->epfd < 0)
		return -errno;
	timerfd_settime(a->timerfd, 0, &its, NULL);

	ee = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, sensors_fd(a->sens), &ee);
	ee.data.u32 = 2;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sigfd, &ee);
	ee.data.u32 = 3;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->timerfd, &ee);
	ee.data.u32 = 4;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, ctl_server_fd(a->ctl), &ee);
	for (size_t i = 0; i < a->neng; i++) {
		int fd = vigil_engines[i]->poll_fd ? vigil_engines[i]->poll_fd(a->eng[i]) : -1;
		if (fd >= 0) {
			ee.data.u32 = 100 + i;
			epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ee);
		}
	}

	fprintf(stderr, "vigild: ready: policy %s, alerts %s, events %s, control %s/%s\n",
		a->pol->source, sink_path(a->alerts), sink_path(a->events), a->o.run_dir, VIGIL_SOCK_NAME);

	while (!a->stop) {
		int n = epoll_wait(a->epfd, evs, ARRAY_SIZE(evs), recheck ? SENSORS_RECHECK_MS : 1000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && recheck) {
			recheck = read_sensors(a) > 0;
			continue;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case 1:
				read_sensors(a);
				recheck = true;
				break;
			case 2: {
				struct signalfd_siginfo si;
				while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						char err[512];
						struct vigil_policy *np = NULL;
						sink_reopen(a->alerts);
						sink_reopen(a->events);
						if (policy_load(a->policy_path, &np, err, sizeof(err)) ||
						    apply_policy(a, np, err, sizeof(err)))
							vlog(VLOG_ERR, "policy not reloaded, the previous one stays in force: %s", err);
						else
							vlog(VLOG_INFO, "policy reloaded from %s", a->policy_path);
					} else {
						a->stop = true;
					}
				}
				break;
			}
			case 3: {
				uint64_t exp;
				if (read(a->timerfd, &exp, sizeof(exp)) < 0)
					break;
				/* drain first so loss checks see what is really lost */
				read_sensors(a);
				a->actor_gen++;     /* bounds what the actor cache can miss */
				check_loss(a);
				dedup_sweep(a, false);
				for (size_t e = 0; e < a->neng; e++)
					if (vigil_engines[e]->tick)
						vigil_engines[e]->tick(a->eng[e], util_boot_ns());
				sink_check_external(a->alerts);
				sink_check_external(a->events);
				ctl_server_handle(a->ctl);      /* control deadlines */
				/* give back what start-up and bursts freed (baselines, seeding, floods):
				 * glibc keeps freed heap otherwise, and RSS is what operators watch */
				if (ticks == 25 || ticks % 300 == 0)
					malloc_trim(0);
				if (++ticks % 5 == 0) {
					uint64_t sent[VIGIL_EV_TYPE_MAX], total = 0, now = util_now_ns();
					sensors_sent(a->sens, sent);
					for (int t = 0; t < VIGIL_EV_TYPE_MAX; t++) {
						total += sent[t] - a->sent_prev[t];
						a->sent_prev[t] = sent[t];
					}
					if (a->rate_prev_ns)
						a->events_per_s = total * 1e9 / (double)(now - a->rate_prev_ns);
					a->rate_prev_ns = now;
					proctab_sweep(a->pt, EXIT_GRACE_NS);
				}
				break;
			}
			case 4:
				ctl_server_handle(a->ctl);
				break;
			default:
				/* an engine's record may refer to a process whose exec record is
				 * waiting in the ringbuf without a wake-up: read that first */
				if (recheck)
					read_sensors(a);
				if (evs[i].data.u32 >= 100 && evs[i].data.u32 - 100 < a->neng &&
				    vigil_engines[evs[i].data.u32 - 100]->on_poll)
					vigil_engines[evs[i].data.u32 - 100]->on_poll(a->eng[evs[i].data.u32 - 100]);
				break;
			}
		}
	}
	/* drain what the kernel already produced (bounded: a flood may go on) */
	for (int i = 0; i < 64 && sensors_consume(a->sens) >= 4096; i++)
		;
	flush_events(a);
	check_loss(a);
	dedup_sweep(a, true);   /* summaries of open windows before exit */
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	ctl_server_free(a->ctl);
	free(a->cmds);
	for (size_t i = 0; i < DEDUP_SLOTS; i++)
		json_decref(a->dedup[i].first);
	/* first every engine emits what it holds, while all of them still take alerts;
	 * then they go in reverse order, and an alert from a destroy reaches the live ones */
	for (size_t i = 0; i < a->neng; i++)
		if (vigil_engines[i]->stop && a->eng[i])
			vigil_engines[i]->stop(a->eng[i]);
	for (size_t i = a->neng; i-- > 0;) {
		if (vigil_engines[i]->destroy)
			vigil_engines[i]->destroy(a->eng[i]);
		a->eng[i] = NULL;
	}
	for (size_t i = 0; i < ACTOR_SLOTS; i++)
		actor_slot_clear(&a->actors[i]);
	free(a->line.p);
	sensors_free(a->sens);
	sink_free(a->alerts);
	sink_free(a->events);
	cgroups_free(a->cg);
	hashcache_free(a->hc);
	proctab_free(a->pt);
	policy_free(a->pol);
	json_decref(a->alert_counts);
	if (a->epfd >= 0)
		close(a->epfd);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->timerfd >= 0)
		close(a->timerfd);
	if (a->lock_fd >= 0) {
		unlink(a->pid_path);
		close(a->lock_fd);
	}
	free(a);
}
