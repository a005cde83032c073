/*
 * The posture engine: assesses the catalogue (posture.c) at start and every
 * posture.interval_s, on demand (`vigil posture`), applies automated fixes
 * (`vigil fix`), and hands each snapshot to the forwarder.  It also tracks
 * what posture says about vigil itself: the last event loss (from the
 * agent's event_loss alerts) and its acknowledgement, kept in the state dir.
 *
 * Periodic runs assess on a worker thread (the SUID scan reads the file system
 * and the package database for about a second, which the event loop must not
 * wait for); the thread gets deep copies of everything it reads.  On-demand
 * runs are synchronous and reuse the slow checks' last results.
 *
 * Each snapshot also lists the containers running on the node ("workloads",
 * from the process table, with pod metadata from the kubernetes engine).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "aac.h"
#include "engine.h"
#include "fim.h"
#include "forward.h"
#include "jit.h"
#include "k8s.h"
#include "log.h"
#include "posture.h"
#include "util.h"

#define FIRST_RUN_NS   (3ull * 1000000000ull)
#define STATE_NAME     "posture.state"

/* Files whose changes matter most: the FIM baseline must cover those that exist. */
static const char *const fim_critical[] = {
	"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers",
	"/etc/ssh/sshd_config", "/etc/pam.d", "/etc/crontab", "/usr/bin", "/usr/sbin", "/boot", NULL,
};

struct posture {
	struct agent *a;
	const struct vigil_policy *pol;    /* the policy in force (owned by the agent) */
	uint64_t next_run_ns;              /* CLOCK_BOOTTIME */
	json_t *last;                      /* last snapshot */
	uint64_t runs;
	size_t workloads, workloads_omitted;   /* in the last snapshot */
	json_t *slow_cache;                /* {rec_id: assessment} of slow checks */
	/* background run */
	pthread_t th;
	bool bg_running;
	int bg_done;                       /* atomic */
	json_t *bg_runtime, *bg_result;
	char *bg_sysctl_dir;
	/* persisted */
	uint64_t last_loss_ns, ack_ns, ack_dropped;
};

static void state_path(struct posture *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", agent_state_dir(p->a), STATE_NAME);
}

static void state_load(struct posture *p)
{
	char path[PATH_MAX];
	json_t *o;

	state_path(p, path, sizeof(path));
	if (!(o = json_load_file(path, JSON_REJECT_DUPLICATES, NULL)))
		return;
	p->last_loss_ns = (uint64_t)json_integer_value(json_object_get(o, "last_loss_ns"));
	p->ack_ns = (uint64_t)json_integer_value(json_object_get(o, "ack_ns"));
	p->ack_dropped = (uint64_t)json_integer_value(json_object_get(o, "ack_dropped"));
	json_decref(o);
}

static int state_save(struct posture *p)
{
	char path[PATH_MAX], *s;
	json_t *o = json_pack("{s:I, s:I, s:I}", "last_loss_ns", (json_int_t)p->last_loss_ns,
			      "ack_ns", (json_int_t)p->ack_ns, "ack_dropped", (json_int_t)p->ack_dropped);
	int r;

	state_path(p, path, sizeof(path));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return -ENOMEM;
	r = util_write_file_atomic(path, s, strlen(s), 0600);
	free(s);
	return r;
}

static struct forward *fwd_of(struct posture *p)
{
	return agent_engine(p->a, "forward");
}

static json_t *runtime_aac(struct posture *p, uint64_t now)
{
	const struct aac_config *c = p->pol->feature[POLICY_AAC];
	const struct fwd_config *fc = forward_config_of(p->pol);
	struct stat st;
	json_int_t age = -1;

	if (p->pol->source && !stat(p->pol->source, &st))
		age = (json_int_t)(now / 1000000000ull) - (json_int_t)st.st_mtime;
	return json_pack("{s:s, s:I, s:I, s:I}", "mode", c ? aac_mode_name(c->mode) : "off",
			 "rules", (json_int_t)(c ? c->nrules : 0), "allowlist_age_s", age,
			 "max_age_s", (json_int_t)fc->allowlist_max_age_s);
}

static json_t *runtime_fim(struct posture *p, uint64_t now)
{
	const struct fim_config *c = fim_config_of(p->pol);
	const struct fwd_config *fc = forward_config_of(p->pol);
	char path[PATH_MAX];
	uint8_t key[32];
	struct fim_db *db = NULL;
	json_t *o = json_pack("{s:b, s:b, s:I}", "enabled", c->enabled, "baseline", 0,
			      "max_age_s", (json_int_t)fc->fim_max_age_s);
	json_t *unc = json_array();
	int r;

	snprintf(path, sizeof(path), "%s/%s", agent_state_dir(p->a), FIM_KEY_NAME);
	r = fim_key_load(path, false, key);
	if (!r) {
		snprintf(path, sizeof(path), "%s/%s", agent_state_dir(p->a), FIM_DB_NAME);
		r = fim_db_load(path, key, &db);
	}
	if (r) {
		if (r != -ENOENT)
			json_object_set_new(o, "error", json_string(strerror(-r)));
		json_decref(unc);
		return o;
	}
	const struct fim_db_meta *m = fim_db_meta(db);
	uint64_t t = m->updated_ns ? m->updated_ns : m->created_ns;
	json_object_set_new(o, "baseline", json_true());
	json_object_set_new(o, "baseline_age_s", json_integer(t && t <= now ? (json_int_t)((now - t) / 1000000000ull) : 0));
	json_object_set_new(o, "entries", json_integer((json_int_t)fim_db_count(db)));
	for (const char *const *cp = fim_critical; *cp; cp++) {
		if (access(*cp, F_OK))
			continue;
		if (fim_spec_match(c, *cp) < 0 || !fim_db_find(db, *cp))
			json_array_append_new(unc, json_string(*cp));
	}
	json_object_set_new(o, "uncovered", unc);
	fim_db_free(db);
	return o;
}

static json_t *runtime_loss(struct posture *p, uint64_t now)
{
	char ts[48];
	uint64_t dropped = forward_dropped(fwd_of(p));
	bool acked = p->ack_ns && p->ack_ns >= p->last_loss_ns && dropped <= p->ack_dropped;

	return json_pack("{s:s?, s:I, s:b, s:I}",
			 "last_loss", p->last_loss_ns ? util_rfc3339(p->last_loss_ns, ts, sizeof(ts)) : NULL,
			 "last_loss_age_s", p->last_loss_ns && p->last_loss_ns <= now ?
				(json_int_t)((now - p->last_loss_ns) / 1000000000ull) : (json_int_t)-1,
			 "acknowledged", acked && (p->last_loss_ns || dropped),
			 "spool_dropped", (json_int_t)(dropped > p->ack_dropped ? dropped - p->ack_dropped : 0));
}

static json_t *runtime_backends(struct posture *p)
{
	const struct probe_result *pr = agent_probe(p->a);

	return json_pack("{s:b, s:s?, s:b, s:b, s:b}", "bpf_lsm", pr->bpf_lsm,
			 "bpf_lsm_error", pr->bpf_lsm ? NULL : strerror(pr->bpf_lsm_errno),
			 "fanotify_perm", pr->fanotify_perm, "xdp", pr->xdp, "tc", pr->tc);
}

static int ack_loss(void *ctx)
{
	struct posture *p = ctx;

	p->ack_ns = util_now_ns();
	if (p->ack_ns < p->last_loss_ns)
		p->ack_ns = p->last_loss_ns;
	p->ack_dropped = forward_dropped(fwd_of(p));
	return state_save(p);
}

/* The environment of a run; *runtime gets a new reference the caller drops. */
static void make_env(struct posture *p, struct posture_env *e, json_t **runtime)
{
	uint64_t now = util_now_ns();

	posture_env_default(e);
	e->sysctl_dir = forward_config_of(p->pol)->sysctl_dir;
	e->jit = p->pol->feature[POLICY_JIT];
	json_t *un = NULL;
	if (jit_scan_listeners(e->proc_net, e->jit, &un))
		un = NULL;
	*runtime = json_pack("{s:o, s:o, s:o, s:o, s:{s:o?}}", "aac", runtime_aac(p, now), "fim", runtime_fim(p, now),
			     "loss", runtime_loss(p, now), "backends", runtime_backends(p), "jit", "unprotected", un);
	e->runtime = *runtime;
	e->cached = p->slow_cache;
	e->skip_slow = true;
	e->ack_loss = ack_loss;
	e->ctx = p;
}

/* The containers running now (process table) with their pod metadata.  Runs on the event
 * loop's thread, which owns the process table, when a snapshot is finished: a background
 * assessment's snapshot lists the containers of the moment it is kept. */
static void add_workloads(struct posture *p, json_t *snap)
{
	size_t omitted = 0;
	json_t *w = posture_workloads(agent_proctab(p->a), POSTURE_WORKLOADS_MAX, k8s_engine_enrich,
				      agent_engine(p->a, "kubernetes"), &omitted);

	if (!w) {
		vlog_ratelimited(VLOG_WARN, "posture: cannot list the workloads: out of memory");
		return;
	}
	p->workloads = json_array_size(w) + omitted;
	p->workloads_omitted = omitted;
	json_object_set_new(snap, "workloads", w);
	json_object_set_new(snap, "workloads_omitted", json_integer((json_int_t)omitted));
}

static void add_host(struct posture *p, json_t *snap)
{
	struct utsname un;
	const struct probe_result *pr = agent_probe(p->a);

	json_object_set_new(snap, "host", json_string(agent_host(p->a)));
	json_object_set_new(snap, "agent_version", json_string(VIGIL_VERSION));
	if (!uname(&un))
		json_object_set_new(snap, "kernel", json_string(un.release));
	json_object_set_new(snap, "backends", json_pack("{s:b, s:b, s:b, s:b, s:b}", "bpf_lsm", pr->bpf_lsm,
		"fanotify_perm", pr->fanotify_perm, "xdp", pr->xdp, "tc", pr->tc, "ringbuf", pr->ringbuf));
	json_object_set_new(snap, "forwarder", json_pack("{s:I}", "spool_dropped",
							 (json_int_t)forward_dropped(fwd_of(p))));
	add_workloads(p, snap);
}

/* Keeps a new snapshot (and the slow checks' results) and queues it for the service. */
static void finish(struct posture *p, json_t *snap)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(snap, "recommendations"), i, v) {
		const struct posture_rec *r = posture_find(json_string_value(json_object_get(v, "id")));
		if (r && r->slow)
			json_object_set(p->slow_cache, r->id, v);
	}
	add_host(p, snap);
	json_decref(p->last);
	p->last = json_incref(snap);
	p->runs++;
	int r = forward_submit_posture(fwd_of(p), snap);
	if (r && r != -ENOTCONN)
		vlog_ratelimited(VLOG_WARN, "posture: cannot queue the snapshot for the service: %s", strerror(-r));
}

/* Runs the catalogue now (slow checks from the cache when there is one). New reference. */
static json_t *run(struct posture *p)
{
	struct posture_env e;
	json_t *rt, *snap;

	make_env(p, &e, &rt);
	snap = posture_assess(&e);
	json_decref(rt);
	if (snap)
		finish(p, snap);
	return snap;
}

static void *bg_main(void *arg)
{
	struct posture *p = arg;
	struct posture_env e;

	posture_env_default(&e);
	e.sysctl_dir = p->bg_sysctl_dir;
	e.runtime = p->bg_runtime;
	p->bg_result = posture_assess(&e);
	__atomic_store_n(&p->bg_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void bg_join(struct posture *p)
{
	if (!p->bg_running)
		return;
	pthread_join(p->th, NULL);
	p->bg_running = false;
	json_decref(p->bg_runtime);
	p->bg_runtime = NULL;
	free(p->bg_sysctl_dir);
	p->bg_sysctl_dir = NULL;
}

/* Starts a full run on the worker thread with copies of what it reads. */
static void bg_start(struct posture *p)
{
	struct posture_env e;
	json_t *rt;
	int r;

	make_env(p, &e, &rt);
	p->bg_runtime = json_deep_copy(rt);
	json_decref(rt);
	p->bg_sysctl_dir = strdup(e.sysctl_dir);
	p->bg_result = NULL;
	p->bg_done = 0;
	if (!p->bg_runtime || !p->bg_sysctl_dir || (r = pthread_create(&p->th, NULL, bg_main, p))) {
		vlog_ratelimited(VLOG_WARN, "posture: cannot start the assessment thread");
		json_decref(p->bg_runtime);
		p->bg_runtime = NULL;
		free(p->bg_sysctl_dir);
		p->bg_sysctl_dir = NULL;
		return;
	}
	p->bg_running = true;
}

static void *pst_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct posture *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->a = a;
	p->pol = pol;
	p->next_run_ns = util_boot_ns() + FIRST_RUN_NS;
	p->slow_cache = json_object();
	if (!p->slow_cache) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	state_load(p);
	return p;
}

static int pst_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct posture *p = st;

	p->pol = pol;
	return 0;
}

static void pst_tick(void *st, uint64_t boot_ns)
{
	struct posture *p = st;

	if (p->bg_running && __atomic_load_n(&p->bg_done, __ATOMIC_ACQUIRE)) {
		json_t *snap = p->bg_result;
		bg_join(p);
		p->bg_result = NULL;
		if (snap)
			finish(p, snap);
		json_decref(snap);
	}
	if (boot_ns < p->next_run_ns || p->bg_running)
		return;
	p->next_run_ns = boot_ns + (uint64_t)forward_config_of(p->pol)->posture_interval_s * 1000000000ull;
	bg_start(p);
}

static void pst_on_alert(void *st, const json_t *alert)
{
	struct posture *p = st;
	const char *rule = json_string_value(json_object_get(alert, "rule"));

	if (!rule || strcmp(rule, "event_loss"))
		return;
	p->last_loss_ns = util_now_ns();
	if (state_save(p))
		vlog_ratelimited(VLOG_WARN, "posture: cannot save %s/%s", agent_state_dir(p->a), STATE_NAME);
}

static json_t *cmd_posture(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	json_t *snap = run(ctx);

	if (!snap)
		return ctl_error("out of memory");
	json_t *o = ctl_ok();
	json_object_set_new(o, "posture", snap);
	return o;
}

static json_t *cmd_posture_fix(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct posture *p = ctx;
	const char *id = json_string_value(json_object_get(req, "id"));
	bool dry = json_is_true(json_object_get(req, "dry_run"));
	const struct posture_rec *r = posture_find(id);
	struct posture_env e;
	json_t *rt, *actions = NULL, *before, *after, *o;
	char err[512] = "";
	int rc;

	if (!id)
		return ctl_error("posture_fix needs \"id\"");
	if (!r)
		return ctl_error("no recommendation \"%s\" (see `vigil posture`)", id);
	make_env(p, &e, &rt);
	before = posture_assess_one(&e, r);
	rc = posture_fix(&e, id, dry, &actions, err, sizeof(err));
	json_decref(rt);
	if (rc) {
		json_decref(before);
		json_decref(actions);
		return ctl_error("%s", err[0] ? err : strerror(-rc));
	}
	make_env(p, &e, &rt);
	after = posture_assess_one(&e, r);
	json_decref(rt);
	if (!dry)
		vlog(VLOG_INFO, "posture: fix %s applied by uid %u: %s", id, (unsigned)peer->uid,
		     json_string_value(json_object_get(after, "status")));
	if (!dry)
		json_decref(run(p));                /* the service sees the new state now */
	o = ctl_ok();
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "dry_run", json_boolean(dry));
	json_object_set_new(o, "actions", actions);
	json_object_set_new(o, "before", before);
	json_object_set_new(o, "after", after);
	return o;
}

static const struct ctl_cmd pst_cmds[] = {
	{ "posture", cmd_posture },
	{ "posture_fix", cmd_posture_fix },
	{ NULL, NULL },
};

static json_t *pst_status(void *st)
{
	struct posture *p = st;
	json_t *sc = json_object_get(p->last, "score");

	return json_pack("{s:I, s:O?, s:O?, s:I, s:I}", "runs", (json_int_t)p->runs,
			 "time", json_object_get(p->last, "time"),
			 "percent", json_object_get(sc, "percent"),
			 "workloads", (json_int_t)p->workloads, "workloads_omitted", (json_int_t)p->workloads_omitted);
}

static void pst_destroy(void *st)
{
	struct posture *p = st;

	if (!p)
		return;
	bg_join(p);
	json_decref(p->bg_result);
	json_decref(p->slow_cache);
	json_decref(p->last);
	free(p);
}

const struct engine posture_engine = {
	.name = "posture",
	.create = pst_create,
	.apply = pst_apply,
	.tick = pst_tick,
	.cmds = pst_cmds,
	.status = pst_status,
	.destroy = pst_destroy,
	.on_alert = pst_on_alert,
};
