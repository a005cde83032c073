/*
 * The FIM engine.  State: the baseline (what was accepted) and the drift (the
 * last state reported for every name that differs from the baseline), both
 * authenticated files in the state dir.  A change is compared with the known
 * state (drift over baseline), reported once, and stays drift until someone
 * accepts it (`vigil fim accept`): nothing becomes the new normal silently.
 *
 * Scans (baseline, start-up comparison, rescans after event loss, accept,
 * check) run on one job thread at a time (fim_scan's workers below it); the
 * loop gets the result through an eventfd.  Real-time checks run on the loop:
 * a kernel event marks a name pending; it is re-read (and re-hashed) when the
 * writer has closed it and nothing happened for SETTLE_MS, or after quiet_ms
 * without a change while a writer keeps it open, so a burst is one alert.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "alert.h"
#include "engine.h"
#include "event.h"
#include "fim.h"
#include "hostfs.h"
#include "jsonx.h"
#include "log.h"
#include "util.h"

#define SETTLE_CONTENT_NS  (50ull * 1000000)    /* after the last content event */
#define SETTLE_META_NS     (15ull * 1000000)    /* after the last metadata/name event */
#define POLL_NS            (10ull * 1000000)    /* pending poll period */
#define PENDING_MAX        8192                 /* names waiting for a check; more -> rescan */
#define DIFFS_MAX          10000                /* differences kept for `vigil fim check` */
#define LINK_ROOTS_MAX     1024                 /* hard-linked files watched by inode */
#define DRIFT_SAVE_NS      (1000ull * 1000000)  /* drift written at most once a second */
#define FD_SCAN_MAX        4096                 /* fds looked at to see if a writer still has a file */

enum job_type { JOB_BASELINE, JOB_START, JOB_RESCAN, JOB_ACCEPT, JOB_CHECK, JOB_EXTEND };
static const char *const job_names[] = { "baseline", "start", "rescan", "accept", "check", "extend" };

struct job {
	enum job_type type;
	uint64_t id;
	struct fim_config *cfg;
	char **scope;
	size_t nscope;                  /* scope == NULL: everything */
	const char *skip[4];
	unsigned workers;
	struct fim_scan_progress prog;
	struct fim_db *result;
	json_t *warnings;
	struct fim_scan_stats st;
	int rc;
	json_t *who;                    /* requester {uid, user, pid} or NULL */
	bool initial;
};

struct pending {
	char *path;
	uint64_t last_ns, first_ns;     /* CLOCK_BOOTTIME */
	uint32_t tgid;
	uint64_t dev, ino;
	unsigned ops;                   /* 1 << VIGIL_FOP_* */
	bool content;
	bool checked_open;              /* checked while the writer kept it open */
	int64_t seen_mtime;
	uint64_t seen_size, stable_since;
	uint32_t nevents;
	json_t *actor;                  /* process, parents, container, cgroup_id */
	char *via;                      /* the name written when it is outside the tree */
	struct pending *next;
};

struct fim {
	struct agent *a;
	const struct fim_config *cfg;
	char db_path[PATH_MAX], drift_path[PATH_MAX], key_path[PATH_MAX];
	char state_real[PATH_MAX];      /* canonical state dir: never scanned, any change by others alerted */
	const char *skip[4];
	uint8_t key[32];
	bool have_key;
	struct fim_db *base, *drift;
	const char *state;              /* "disabled" | "baselining" | "monitoring" | "error" */
	char error[PATH_MAX + 256];
	uint64_t start_wall_ns;
	uint64_t gap_from_ns;

	int epfd, tfd, efd;
	bool timer_on;
	pthread_t th;
	struct job *job;                /* running */
	struct job *queued;             /* next (one slot) */
	bool rescan_wanted;
	uint64_t next_job_id;
	json_t *last_job;
	json_t *warnings;

	struct pending *pend;
	size_t npend;
	uint64_t loss_seen;
	bool drift_dirty;
	uint64_t drift_saved_mono;
	char **link_roots;
	size_t nlink_roots;

	/* counters */
	uint64_t events, checks, hashed, alerts, coalesced, pending_dropped, rescans, ignored_early, drift_dropped;
};

static const struct vigil_mitre mitre_generic = {
	.tactic = "TA0040", .tactic_name = "Impact",
	.technique = "T1565.001", .technique_name = "Data Manipulation: Stored Data Manipulation",
};
static const struct vigil_mitre mitre_perm = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1222.002", .technique_name = "File and Directory Permissions Modification: Linux and Mac",
};
static const struct vigil_mitre mitre_setuid = {
	.tactic = "TA0004", .tactic_name = "Privilege Escalation",
	.technique = "T1548.001", .technique_name = "Abuse Elevation Control Mechanism: Setuid and Setgid",
};
static const struct vigil_mitre mitre_tamper = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1562.001", .technique_name = "Impair Defenses: Disable or Modify Tools",
};

/* ATT&CK technique by what the file is (attack.mitre.org). */
static const struct {
	const char *prefix;
	struct vigil_mitre m;
} mitre_paths[] = {
	{ "/etc/ld.so.preload", { "TA0003", "Persistence", "T1574.006", "Hijack Execution Flow: Dynamic Linker Hijacking" } },
	{ "/etc/ld.so.conf", { "TA0003", "Persistence", "T1574.006", "Hijack Execution Flow: Dynamic Linker Hijacking" } },
	{ "/etc/passwd", { "TA0003", "Persistence", "T1098", "Account Manipulation" } },
	{ "/etc/shadow", { "TA0003", "Persistence", "T1098", "Account Manipulation" } },
	{ "/etc/group", { "TA0003", "Persistence", "T1098", "Account Manipulation" } },
	{ "/etc/gshadow", { "TA0003", "Persistence", "T1098", "Account Manipulation" } },
	{ "/etc/sudoers", { "TA0004", "Privilege Escalation", "T1548.003", "Abuse Elevation Control Mechanism: Sudo and Sudo Caching" } },
	{ "/root/.ssh/authorized_keys", { "TA0003", "Persistence", "T1098.004", "Account Manipulation: SSH Authorized Keys" } },
	{ "/etc/ssh", { "TA0003", "Persistence", "T1098.004", "Account Manipulation: SSH Authorized Keys" } },
	{ "/etc/cron", { "TA0003", "Persistence", "T1053.003", "Scheduled Task/Job: Cron" } },
	{ "/var/spool/cron", { "TA0003", "Persistence", "T1053.003", "Scheduled Task/Job: Cron" } },
	{ "/etc/systemd", { "TA0003", "Persistence", "T1543.002", "Create or Modify System Process: Systemd Service" } },
	{ "/usr/lib/systemd", { "TA0003", "Persistence", "T1543.002", "Create or Modify System Process: Systemd Service" } },
	{ "/etc/pam.d", { "TA0006", "Credential Access", "T1556.003", "Modify Authentication Process: Pluggable Authentication Modules" } },
	{ "/boot", { "TA0003", "Persistence", "T1542", "Pre-OS Boot" } },
	{ "/usr/bin", { "TA0003", "Persistence", "T1554", "Compromise Host Software Binary" } },
	{ "/usr/sbin", { "TA0003", "Persistence", "T1554", "Compromise Host Software Binary" } },
};

static const struct vigil_mitre *mitre_for(const char *path, const char *kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(mitre_paths); i++)
		if (!strncmp(path, mitre_paths[i].prefix, strlen(mitre_paths[i].prefix)))
			return &mitre_paths[i].m;
	return !strcmp(kind, "metadata") ? &mitre_perm : &mitre_generic;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void set_time(json_t *o, const char *key, uint64_t wall_ns)
{
	char ts[48];

	json_object_set_new(o, key, json_string(util_rfc3339(wall_ns, ts, sizeof(ts))));
}

/* ---------- state files ---------- */

static int save_base(struct fim *f)
{
	int r = fim_db_save(f->base, f->db_path, f->key);

	if (r)
		vlog(VLOG_ERR, "fim: cannot write the baseline %s: %s", f->db_path, strerror(-r));
	return r;
}

static void save_drift(struct fim *f)
{
	int r;

	if (!f->drift || !f->have_key)
		return;
	r = fim_db_save(f->drift, f->drift_path, f->key);
	if (r)
		vlog_ratelimited(VLOG_ERR, "fim: cannot write %s: %s", f->drift_path, strerror(-r));
	f->drift_dirty = false;
	f->drift_saved_mono = mono_ns();
}

/* Known state of path: the drift entry (may be FIM_E_ABSENT) or the baseline entry. */
static struct fim_entry *known(struct fim *f, const char *path)
{
	struct fim_entry *e = f->drift ? fim_db_find(f->drift, path) : NULL;

	return e ? e : fim_db_find(f->base, path);
}

/* Records cur (NULL = absent) as the state reported for path. */
static void set_known(struct fim *f, const char *path, const struct fim_entry *cur, unsigned attrs)
{
	struct fim_entry *b = fim_db_find(f->base, path);
	unsigned ch;

	if (!fim_classify(b, cur, attrs, &ch)) {
		fim_db_del(f->drift, path);          /* back to the baseline */
	} else if (!fim_db_find(f->drift, path) && fim_db_count(f->drift) >= f->cfg->max_files) {
		/* bounded: a flood of new names is still alerted, not all remembered */
		f->drift_dropped++;
		vlog_ratelimited(VLOG_WARN, "fim: drift record full (%llu names, fim.max_files): not recorded",
				 (unsigned long long)fim_db_count(f->drift));
		return;
	} else if (cur) {
		fim_db_put(f->drift, cur);
	} else {
		struct fim_entry gone = { .path = (char *)path, .flags = FIM_E_ABSENT };
		fim_db_put(f->drift, &gone);
	}
	f->drift_dirty = true;
}

/* ---------- alerts ---------- */

struct link_ctx {
	json_t *arr;
	const char *self;
};

static void add_link_name(void *ctx, struct fim_entry *e)
{
	struct link_ctx *l = ctx;

	if (strcmp(e->path, l->self) && json_array_size(l->arr) < 16)
		json_array_append_new(l->arr, jsonx_string_bytes(e->path, strlen(e->path), NULL));
}

/* Emits one change alert.  how: "realtime" | "offline" | "rescan" | "check". */
static void emit_change(struct fim *f, const char *path, const char *kind, const struct fim_entry *before,
			const struct fim_entry *after, unsigned changed, int spec, const char *how,
			struct pending *p)
{
	const struct fim_spec *sp = &f->cfg->specs[spec];
	int sev = sp->severity;
	bool suid = false;
	const char *title;
	json_t *al, *fo;
	char rule[32];

	if (after && !(after->flags & FIM_E_ABSENT) && (after->mode & (S_ISUID | S_ISGID)) &&
	    (!before || (before->flags & FIM_E_ABSENT) || (after->mode & ~before->mode & (S_ISUID | S_ISGID)))) {
		suid = true;
		sev = VIGIL_SEV_HIGH;
	}
	if (suid)
		title = "Setuid or setgid bit set on a watched file";
	else if (!strcmp(kind, "added"))
		title = "File created in a watched location";
	else if (!strcmp(kind, "deleted"))
		title = "Watched file deleted";
	else if (!strcmp(kind, "replaced"))
		title = "Watched file replaced";
	else if (!strcmp(kind, "metadata"))
		title = "Watched file permissions, ownership or attributes changed";
	else
		title = "Watched file modified";
	snprintf(rule, sizeof(rule), "fim_%s", !strcmp(how, "realtime") ? "change" :
		 !strcmp(how, "offline") ? "offline_change" : "rescan_change");
	al = alert_new(rule, title, sev, suid ? &mitre_setuid : mitre_for(path, kind),
		       "Confirm the change was intended (package update, configuration management, an "
		       "administrator). If it was, accept it with 'vigil fim accept PATH'; if not, restore "
		       "the file from a trusted source and investigate the actor.", "audited");
	if (!al)
		return;
	fo = json_object();
	jsonx_set_str(fo, "path", path);
	json_object_set_new(fo, "kind", json_string(kind));
	json_object_set_new(fo, "changes", fim_changes_json(before, after, changed));
	if (before && after && !(before->flags & FIM_E_ABSENT) && S_ISREG(after->mode) &&
	    (sp->attrs & FIM_A_SHA256) && !(changed & FIM_A_SHA256) && (after->flags & FIM_E_HASHED))
		json_object_set_new(fo, "sha256_unchanged", json_true());
	jsonx_set_str(fo, "watch", sp->path);
	json_object_set_new(fo, "detected", json_string(how));
	if (after && !(after->flags & FIM_E_ABSENT) && after->nlink > 1 && !S_ISDIR(after->mode)) {
		struct link_ctx l = { json_array(), path };
		fim_db_by_inode(f->base, after->dev, after->ino, add_link_name, &l);
		json_object_set_new(fo, "nlink", json_integer(after->nlink));
		json_object_set_new(fo, "hard_links", l.arr);
	}
	if (p) {
		json_t *ops = json_array();
		for (unsigned op = 1; op < VIGIL_FOP_MAX; op++)
			if (p->ops & (1u << op))
				json_array_append_new(ops, json_string(event_file_op_name(op)));
		json_object_set_new(fo, "operations", ops);
		json_object_set_new(fo, "events", json_integer(p->nevents));
		if (p->via)
			jsonx_set_str(fo, "written_through", p->via);
		set_time(al, "time", util_boot_to_wall_ns(p->last_ns));
		if (p->actor)
			json_object_update(al, p->actor);
	} else {
		json_object_set_new(al, "process", json_null());
		json_object_set_new(al, "container", json_null());
		if (!strcmp(how, "offline")) {
			json_t *g = json_object();
			json_object_set_new(al, "actor", json_string("unknown (monitoring gap)"));
			set_time(g, "from", f->gap_from_ns);
			set_time(g, "to", f->start_wall_ns);
			json_object_set_new(fo, "gap", g);
		} else {
			json_object_set_new(al, "actor", json_string("unknown (events lost)"));
		}
	}
	json_object_set_new(al, "fim", fo);
	agent_emit_alert(f->a, al);
	json_decref(al);
	f->alerts++;
}

static void emit_simple(struct fim *f, const char *rule, const char *title, int sev,
			const struct vigil_mitre *m, const char *remediation, json_t *fields, json_t *actor)
{
	json_t *al = alert_new(rule, title, sev, m, remediation, "audited");

	if (!al) {
		json_decref(fields);
		return;
	}
	if (actor) {
		json_object_update(al, actor);
	} else {
		json_object_set_new(al, "process", json_null());
		json_object_set_new(al, "container", json_null());
	}
	json_object_set_new(al, "fim", fields ? fields : json_object());
	agent_emit_alert(f->a, al);
	json_decref(al);
	f->alerts++;
}

/* ---------- jobs ---------- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	fim_config_free(j->cfg);
	for (size_t i = 0; i < j->nscope; i++)
		free(j->scope[i]);
	free(j->scope);
	fim_db_free(j->result);
	json_decref(j->warnings);
	json_decref(j->who);
	free(j);
}

static void *job_main(void *arg)
{
	struct fim *f = arg;
	struct job *j = f->job;
	uint64_t one = 1;

	j->rc = fim_scan(j->cfg, (const char *const *)j->scope, j->nscope, j->skip, j->workers,
			 &j->prog, &j->result, j->warnings, &j->st);
	if (write(f->efd, &one, sizeof(one)) < 0) {
		/* the loop also polls job completion on its timer */
	}
	return NULL;
}

static int job_start(struct fim *f, struct job *j)
{
	sigset_t all, old;
	int r;

	if (!j->id)
		j->id = ++f->next_job_id;
	memcpy(j->skip, f->skip, sizeof(j->skip));
	j->workers = f->cfg->workers;
	if (!(j->warnings = json_array()))
		return -ENOMEM;
	f->job = j;
	/* the job and its workers block every signal: the loop's signalfd must get SIGTERM/SIGHUP
	 * even when the job starts before the loop blocks them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&f->th, NULL, job_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		f->job = NULL;
		return -EAGAIN;
	}
	return 0;
}

static struct job *job_new(struct fim *f, enum job_type type, const char *const *scope, size_t nscope)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->type = type;
	if (!(j->cfg = fim_config_dup(f->cfg)))
		goto fail;
	if (scope) {
		if (!(j->scope = calloc(nscope ? nscope : 1, sizeof(char *))))
			goto fail;
		for (; j->nscope < nscope; j->nscope++)
			if (!(j->scope[j->nscope] = strdup(scope[j->nscope])))
				goto fail;
	}
	return j;
fail:
	job_free(j);
	return NULL;
}

/* Starts j now or queues it (one slot); takes ownership.  0 or -EBUSY/-errno. */
static int job_submit(struct fim *f, struct job *j)
{
	int r;

	if (f->job) {
		if (f->queued) {
			job_free(j);
			return -EBUSY;
		}
		j->id = ++f->next_job_id;
		f->queued = j;
		return 0;
	}
	if ((r = job_start(f, j)))
		job_free(j);
	return r;
}

static void refresh_link_roots(struct fim *f)
{
	struct fim_entry *e;
	size_t i = 0, n = 0;

	for (size_t k = 0; k < f->nlink_roots; k++)
		free(f->link_roots[k]);
	free(f->link_roots);
	f->link_roots = NULL;
	f->nlink_roots = 0;
	if (!f->base)
		return;
	while ((e = fim_db_next(f->base, &i)))
		if (S_ISREG(e->mode) && e->nlink > 1)
			n++;
	if (!n)
		goto apply;
	if (n > LINK_ROOTS_MAX)
		n = LINK_ROOTS_MAX;
	if (!(f->link_roots = calloc(n, sizeof(char *))))
		return;
	i = 0;
	while ((e = fim_db_next(f->base, &i)) && f->nlink_roots < n)
		if (S_ISREG(e->mode) && e->nlink > 1 && strlen(e->path) < VIGIL_PREFIX_LEN)
			if ((f->link_roots[f->nlink_roots] = strdup(e->path)))
				f->nlink_roots++;
apply:
	if (agent_refresh_watch(f->a))
		vlog(VLOG_WARN, "fim: cannot update the file sensor's watched roots");
}

/* Watches the inode of path (a file that just got a name outside the tree). */
static void add_link_root(struct fim *f, const char *path)
{
	char **nv;

	for (size_t k = 0; k < f->nlink_roots; k++)
		if (!strcmp(f->link_roots[k], path))
			return;
	if (f->nlink_roots >= LINK_ROOTS_MAX || strlen(path) >= VIGIL_PREFIX_LEN ||
	    !(nv = realloc(f->link_roots, (f->nlink_roots + 1) * sizeof(*nv))))
		return;
	f->link_roots = nv;
	if (!(nv[f->nlink_roots] = strdup(path)))
		return;
	f->nlink_roots++;
	if (agent_refresh_watch(f->a))
		vlog_ratelimited(VLOG_WARN, "fim: cannot update the file sensor's watched roots");
}

size_t fim_engine_link_roots(void *eng, const char ***out)
{
	struct fim *f = eng;

	*out = (const char **)f->link_roots;
	return f->nlink_roots;
}

struct diff_ctx {
	struct fim *f;
	const char *how;
	json_t *list;
	size_t n;
};

/* Start-up/rescan difference against the baseline, filtered through the drift. */
static void on_gap_diff(void *ctx, const struct fim_diff *d)
{
	struct diff_ctx *c = ctx;
	struct fim *f = c->f;
	struct fim_entry *k = fim_db_find(f->drift, d->path);
	unsigned attrs = f->cfg->specs[d->spec].attrs, ch;
	const struct fim_entry *before = d->before;
	const char *kind = d->kind;

	if (k) {
		kind = fim_classify(k, d->after, attrs, &ch);
		if (!kind)
			return;                  /* already reported in this state */
		before = (k->flags & FIM_E_ABSENT) ? NULL : k;
	} else {
		ch = d->changed;
	}
	emit_change(f, d->path, kind, before, d->after, ch, d->spec, c->how, NULL);
	set_known(f, d->path, d->after, attrs);
	c->n++;
}

static void gap_compare(struct fim *f, struct job *j, const char *how)
{
	struct diff_ctx c = { .f = f, .how = how };
	struct fim_entry *e;
	size_t i = 0;
	char **back = NULL;
	size_t nback = 0;

	/* names reported earlier that are now back to the baseline state */
	while ((e = fim_db_next(f->drift, &i))) {
		struct fim_entry *b = fim_db_find(f->base, e->path), *cur = fim_db_find(j->result, e->path);
		int s = fim_spec_match(f->cfg, e->path);
		unsigned ch;
		bool inscope = !j->scope;

		for (size_t k = 0; k < j->nscope && !inscope; k++)
			inscope = !strncmp(e->path, j->scope[k], strlen(j->scope[k]));
		if (s < 0 || !inscope)
			continue;
		if (!fim_classify(b, cur, f->cfg->specs[s].attrs, &ch) &&
		    fim_classify(e, cur, f->cfg->specs[s].attrs, &ch)) {
			char **nb = realloc(back, (nback + 1) * sizeof(*nb));
			if (!nb)
				break;
			back = nb;
			back[nback++] = strdup(e->path);
		}
	}
	for (size_t k = 0; k < nback; k++) {
		struct fim_entry *d = back[k] ? fim_db_find(f->drift, back[k]) : NULL;
		struct fim_entry *cur = d ? fim_db_find(j->result, back[k]) : NULL;
		int s = d ? fim_spec_match(f->cfg, back[k]) : -1;
		unsigned ch;
		const char *kind;

		if (s >= 0 && (kind = fim_classify(d, cur, f->cfg->specs[s].attrs, &ch))) {
			struct fim_entry copy = *d;   /* set_known frees d */
			char *path = strdup(back[k]);
			copy.path = path;
			copy.link = d->link ? strdup(d->link) : NULL;
			copy.xattrs = d->xattrs ? strdup(d->xattrs) : NULL;
			emit_change(f, back[k], kind, (copy.flags & FIM_E_ABSENT) ? NULL : &copy, cur, ch, s, how, NULL);
			set_known(f, back[k], cur, f->cfg->specs[s].attrs);
			fim_entry_clear(&copy);
		}
		free(back[k]);
	}
	free(back);
	fim_compare(f->cfg, f->base, j->result, (const char *const *)j->scope, j->nscope, on_gap_diff, &c);
	if (f->drift_dirty)
		save_drift(f);
}

static void on_check_diff(void *ctx, const struct fim_diff *d)
{
	struct diff_ctx *c = ctx;
	json_t *o;

	c->n++;
	if (json_array_size(c->list) >= DIFFS_MAX)
		return;
	o = json_object();
	jsonx_set_str(o, "path", d->path);
	json_object_set_new(o, "kind", json_string(d->kind));
	json_object_set_new(o, "changes", fim_changes_json(d->before, d->after, d->changed));
	json_array_append_new(c->list, o);
}

static json_t *stats_json(const struct fim_scan_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:b}", "files", (json_int_t)st->files,
			 "dirs", (json_int_t)st->dirs, "bytes", (json_int_t)st->bytes,
			 "unreadable", (json_int_t)st->unreadable, "seconds", st->seconds,
			 "mb_per_s", st->seconds > 0 ? st->bytes / 1e6 / st->seconds : 0.0,
			 "bounded", st->skipped_max != 0);
}

static void accept_scope(struct fim *f, struct job *j)
{
	struct fim_entry *e;
	size_t i = 0, n = 0;
	char **del = NULL;
	size_t ndel = 0;

	/* baseline names in scope that are gone */
	while ((e = fim_db_next(f->base, &i))) {
		bool in = false;
		for (size_t k = 0; k < j->nscope && !in; k++) {
			size_t l = strlen(j->scope[k]);
			in = !strcmp(e->path, j->scope[k]) || (!strncmp(e->path, j->scope[k], l) && e->path[l] == '/');
		}
		if (in && !fim_db_find(j->result, e->path)) {
			char **nd = realloc(del, (ndel + 1) * sizeof(*nd));
			if (!nd)
				break;
			del = nd;
			del[ndel++] = strdup(e->path);
		}
	}
	for (size_t k = 0; k < ndel; k++) {
		if (del[k]) {
			fim_db_del(f->base, del[k]);
			fim_db_del(f->drift, del[k]);
			n++;
		}
		free(del[k]);
	}
	free(del);
	i = 0;
	while ((e = fim_db_next(j->result, &i))) {
		unsigned ch;
		struct fim_entry *b = fim_db_find(f->base, e->path);
		if (!b || fim_classify(b, e, FIM_A_ALL, &ch)) {
			fim_db_put(f->base, e);
			n++;
		}
		fim_db_del(f->drift, e->path);
	}
	fim_db_meta(f->base)->updated_ns = util_now_ns();
	save_base(f);
	save_drift(f);
	json_object_set_new(f->last_job, "accepted", json_integer((json_int_t)n));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Logs a scan's warnings: watch paths that are not there in one line of information
 * (they are watched when they appear), the others as warnings (the first 10). */
static void log_warnings(json_t *warnings)
{
	char missing[1024] = "";
	size_t nmiss = 0, nwarn = 0, len = 0;
	json_t *v;
	size_t i;

	json_array_foreach(warnings, i, v) {
		const char *w = json_string_value(v);
		bool miss = ends_with(w, ": " FIM_MISSING_NOTE), nomatch = ends_with(w, ": " FIM_NOMATCH_NOTE);

		if (miss || nomatch) {
			size_t plen = strlen(w) - strlen(miss ? FIM_MISSING_NOTE : FIM_NOMATCH_NOTE) - 2;
			if (nmiss++ < 16 && len + plen + 3 < sizeof(missing))
				len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%.*s", len ? ", " : "",
							 (int)plen, w);
		} else if (nwarn++ < 10) {
			vlog(VLOG_WARN, "fim: %s", w);
		}
	}
	if (nwarn > 10)
		vlog(VLOG_WARN, "fim: %zu more warnings (vigil fim status --json lists them)", nwarn - 10);
	if (nmiss)
		vlog(VLOG_INFO, "fim: %zu watch path%s not present, watched for when they appear: %s%s", nmiss,
		     nmiss == 1 ? "" : "s", missing, nmiss > 16 ? ", ..." : "");
}

static void job_done(struct fim *f)
{
	struct job *j = f->job;
	json_t *lj;

	pthread_join(f->th, NULL);
	f->job = NULL;
	lj = json_pack("{s:I, s:s, s:i}", "id", (json_int_t)j->id, "type", job_names[j->type], "rc", j->rc);
	json_object_set_new(lj, "stats", stats_json(&j->st));
	json_object_set(lj, "warnings", j->warnings);
	set_time(lj, "finished", util_now_ns());
	json_decref(f->last_job);
	f->last_job = lj;
	if (j->rc) {
		json_object_set_new(lj, "error", json_string(strerror(-j->rc)));
		vlog(VLOG_ERR, "fim: %s scan failed: %s", job_names[j->type], strerror(-j->rc));
		if (j->type == JOB_BASELINE && !f->base) {
			f->state = "error";
			snprintf(f->error, sizeof(f->error), "baseline scan failed: %s", strerror(-j->rc));
		}
		goto out;
	}
	log_warnings(j->warnings);
	switch (j->type) {
	case JOB_BASELINE: {
		char mid[64], host[256];
		uint64_t created = f->base ? fim_db_meta(f->base)->created_ns : 0;

		fim_db_free(f->base);
		f->base = j->result;
		j->result = NULL;
		fim_host_identity(mid, host);
		snprintf(fim_db_meta(f->base)->machine_id, sizeof(fim_db_meta(f->base)->machine_id), "%s", mid);
		snprintf(fim_db_meta(f->base)->hostname, sizeof(fim_db_meta(f->base)->hostname), "%s", host);
		fim_spec_list(j->cfg, fim_db_meta(f->base)->specs, sizeof(fim_db_meta(f->base)->specs));
		fim_db_meta(f->base)->created_ns = created && !j->initial ? created : util_now_ns();
		fim_db_meta(f->base)->updated_ns = util_now_ns();
		fim_db_free(f->drift);
		f->drift = fim_db_new();
		if (f->drift)
			*fim_db_meta(f->drift) = *fim_db_meta(f->base);
		save_base(f);
		save_drift(f);
		f->state = "monitoring";
		vlog(VLOG_INFO, "fim: baseline: %llu files, %llu directories, %.1f MB in %.2f s (%.0f MB/s)",
		     (unsigned long long)j->st.files, (unsigned long long)j->st.dirs, j->st.bytes / 1e6,
		     j->st.seconds, j->st.seconds > 0 ? j->st.bytes / 1e6 / j->st.seconds : 0.0);
		if (!j->initial) {
			json_t *fo = json_pack("{s:s, s:I}", "operation", "baseline", "entries",
					       (json_int_t)fim_db_count(f->base));
			if (j->who)
				json_object_set(fo, "requested_by", j->who);
			emit_simple(f, "fim_baseline_accepted", "FIM baseline rebuilt: the current state is the new normal",
				    VIGIL_SEV_INFORMATIONAL, &mitre_tamper,
				    "Nothing to do if this rebuild was intended; otherwise find out who requested it.",
				    fo, NULL);
		}
		refresh_link_roots(f);
		break;
	}
	case JOB_START:
	case JOB_RESCAN:
		gap_compare(f, j, j->type == JOB_START ? "offline" : "rescan");
		break;
	case JOB_ACCEPT: {
		json_t *fo = json_object(), *paths = json_array();

		accept_scope(f, j);
		for (size_t i = 0; i < j->nscope; i++)
			json_array_append_new(paths, jsonx_string_bytes(j->scope[i], strlen(j->scope[i]), NULL));
		json_object_set_new(fo, "operation", json_string("accept"));
		json_object_set_new(fo, "paths", paths);
		json_object_set(fo, "entries_updated", json_object_get(lj, "accepted"));
		if (j->who)
			json_object_set(fo, "requested_by", j->who);
		emit_simple(f, "fim_baseline_accepted", "FIM changes accepted into the baseline",
			    VIGIL_SEV_INFORMATIONAL, &mitre_tamper,
			    "Nothing to do if this acceptance was intended; otherwise find out who requested it.",
			    fo, NULL);
		refresh_link_roots(f);
		break;
	}
	case JOB_EXTEND: {
		struct fim_entry *e;
		size_t i = 0, n = 0;
		json_t *fo = json_object(), *paths = json_array();

		/* names of the new specs become baseline; what the old specs covered is untouched */
		while ((e = fim_db_next(j->result, &i)))
			if (!fim_db_find(f->base, e->path) && !fim_db_find(f->drift, e->path) && !fim_db_put(f->base, e))
				n++;
		fim_spec_list(j->cfg, fim_db_meta(f->base)->specs, sizeof(fim_db_meta(f->base)->specs));
		fim_db_meta(f->base)->updated_ns = util_now_ns();
		save_base(f);
		for (size_t k = 0; k < j->nscope; k++)
			json_array_append_new(paths, jsonx_string_bytes(j->scope[k], strlen(j->scope[k]), NULL));
		json_object_set_new(fo, "operation", json_string("extend"));
		json_object_set_new(fo, "watch", paths);
		json_object_set_new(fo, "entries_added", json_integer((json_int_t)n));
		emit_simple(f, "fim_scope_extended", "New FIM watch specs baselined", VIGIL_SEV_INFORMATIONAL,
			    &mitre_tamper, "Nothing to do if the policy change was intended.", fo, NULL);
		vlog(VLOG_INFO, "fim: %zu new watch specs baselined (%zu names)", j->nscope, n);
		refresh_link_roots(f);
		break;
	}
	case JOB_CHECK: {
		struct diff_ctx c = { .f = f, .list = json_array() };
		fim_compare(f->cfg, f->base, j->result, NULL, 0, on_check_diff, &c);
		json_object_set_new(lj, "differences", c.list);
		json_object_set_new(lj, "count", json_integer((json_int_t)c.n));
		break;
	}
	}
out:
	job_free(j);
	if (f->queued) {
		struct job *q = f->queued;
		f->queued = NULL;
		if (job_start(f, q))
			job_free(q);
	} else if (f->rescan_wanted && f->base) {
		struct job *r = job_new(f, JOB_RESCAN, NULL, 0);
		f->rescan_wanted = false;
		if (r && !job_submit(f, r))
			f->rescans++;
	}
}

/* Starts a baseline scan of the specs the baseline does not cover yet (policy changes). */
static void extend_scope(struct fim *f)
{
	const char *specs = fim_db_meta(f->base)->specs;
	const char **roots;
	size_t n = 0;
	struct job *j;

	if (!specs[0]) {
		/* made before specs were recorded: take the current ones as covered */
		fim_spec_list(f->cfg, fim_db_meta(f->base)->specs, sizeof(fim_db_meta(f->base)->specs));
		return;
	}
	if (!(roots = calloc(f->cfg->nspecs ? f->cfg->nspecs : 1, sizeof(*roots))))
		return;
	for (size_t i = 0; i < f->cfg->nspecs; i++) {
		const char *p = f->cfg->specs[i].path, *hit = specs;
		size_t l = strlen(p);
		bool found = false;

		while ((hit = strstr(hit, p)) && !found) {
			found = (hit == specs || hit[-1] == '\n') && hit[l] == '\n';
			hit += l;
		}
		if (!found)
			roots[n++] = p;
	}
	if (n) {
		/* a glob's names are found under the directory before its wildcard */
		struct policy_strv sv = { 0 };
		struct fim_config tmp = *f->cfg;
		struct fim_spec *sp = calloc(n, sizeof(*sp));

		if (sp) {
			for (size_t i = 0, k = 0; i < f->cfg->nspecs; i++)
				if (k < n && f->cfg->specs[i].path == roots[k])
					sp[k++] = f->cfg->specs[i];
			tmp.specs = sp;
			tmp.nspecs = n;
			tmp.enabled = true;
			struct vigil_policy fake = { 0 };
			fake.feature[POLICY_FIM] = &tmp;
			if (!fim_watch_roots(&fake, NULL, &sv)) {
				if ((j = job_new(f, JOB_EXTEND, (const char *const *)sv.v, sv.n)) && job_submit(f, j))
					vlog(VLOG_WARN, "fim: a scan is running: the new watch specs are baselined later");
			}
			policy_strv_free(&sv);
			free(sp);
		}
	}
	free(roots);
}

/* ---------- real time ---------- */

static struct pending *pend_find(struct fim *f, const char *path)
{
	for (struct pending *p = f->pend; p; p = p->next)
		if (!strcmp(p->path, path))
			return p;
	return NULL;
}

static void pend_free(struct pending *p)
{
	free(p->path);
	free(p->via);
	json_decref(p->actor);
	free(p);
}

static void timer_arm(struct fim *f, bool on)
{
	struct itimerspec its = { 0 };

	if (on == f->timer_on)
		return;
	if (on) {
		its.it_interval.tv_nsec = POLL_NS;
		its.it_value.tv_nsec = POLL_NS;
	}
	timerfd_settime(f->tfd, 0, &its, NULL);
	f->timer_on = on;
}

/* Marks path pending on behalf of the record's actor. */
static void mark(struct fim *f, const char *path, const struct vigil_file *ev, bool content,
		 json_t *actor, const char *via)
{
	struct pending *p = pend_find(f, path);

	if (!p) {
		if (f->npend >= PENDING_MAX) {
			f->pending_dropped++;
			f->rescan_wanted = true;   /* a rescan finds what was not checked */
			return;
		}
		if (!(p = calloc(1, sizeof(*p))) || !(p->path = strdup(path))) {
			free(p);
			f->pending_dropped++;
			f->rescan_wanted = true;
			return;
		}
		p->first_ns = ev->hdr.ts_ns;
		p->next = f->pend;
		f->pend = p;
		f->npend++;
	} else {
		f->coalesced++;
	}
	p->last_ns = ev->hdr.ts_ns;
	p->tgid = ev->hdr.tgid;
	p->dev = ev->dev;
	p->ino = ev->ino;
	p->ops |= 1u << ev->op;
	p->content |= content;
	p->nevents++;
	p->stable_since = 0;
	p->checked_open = false;
	if (actor) {
		json_decref(p->actor);
		p->actor = json_incref(actor);
	}
	if (via && !p->via)
		p->via = strdup(via);
	timer_arm(f, true);
}

/* Does process tgid hold an open fd on (dev, ino)? Writers with very many fds count as open. */
static bool holds_open(uint32_t tgid, uint64_t kdev, uint64_t ino)
{
	char dir[PATH_MAX], fp[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;
	int n = 0;
	bool open = false;

	if (hostfs_proc(dir, sizeof(dir), "/%u/fd", tgid) || !(d = opendir(dir)))
		return false;           /* gone: it closed everything */
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (++n > FD_SCAN_MAX) {
			open = true;
			break;
		}
		snprintf(fp, sizeof(fp), "%s/%s", dir, de->d_name);
		if (stat(fp, &st) == 0 && st.st_ino == ino && util_dev_to_kdev(st.st_dev) == kdev) {
			open = true;
			break;
		}
	}
	closedir(d);
	return open;
}

/* Re-reads path and reports a difference from the known state.  p may be NULL. */
static void check_path(struct fim *f, const char *path, struct pending *p, const char *how)
{
	int s = fim_spec_match(f->cfg, path);
	struct fim_entry cur, *k, kcopy;
	const char *kind;
	unsigned ch, attrs;
	bool hash;
	int r;

	if (s < 0)
		return;
	attrs = f->cfg->specs[s].attrs;
	k = known(f, path);
	/* metadata-only operations on an unchanged body keep the known hash */
	hash = (attrs & FIM_A_SHA256) != 0;
	r = fim_entry_read(path, false, &cur);
	if (r && r != -ENOENT)
		return;
	if (!r && hash && S_ISREG(cur.mode)) {
		if (p && !p->content && k && (k->flags & FIM_E_HASHED) && k->ino == cur.ino &&
		    k->dev == cur.dev && k->size == cur.size && k->mtime_ns == cur.mtime_ns) {
			memcpy(cur.sha, k->sha, 32);
			cur.flags |= FIM_E_HASHED;
		} else {
			fim_entry_clear(&cur);
			r = fim_entry_read(path, true, &cur);
			f->hashed++;
			if (r && r != -ENOENT)
				return;
		}
	}
	f->checks++;
	kind = fim_classify(k, r ? NULL : &cur, attrs, &ch);
	if (kind) {
		memset(&kcopy, 0, sizeof(kcopy));
		if (k) {
			kcopy = *k;
			kcopy.path = strdup(k->path);
			kcopy.link = k->link ? strdup(k->link) : NULL;
			kcopy.xattrs = k->xattrs ? strdup(k->xattrs) : NULL;
		}
		emit_change(f, path, kind, k && !(k->flags & FIM_E_ABSENT) ? &kcopy : NULL,
			    r ? NULL : &cur, ch, s, how, p);
		set_known(f, path, r ? NULL : &cur, attrs);
		fim_entry_clear(&kcopy);
	}
	if (!r)
		fim_entry_clear(&cur);
}

struct subtree_ctx {
	struct fim *f;
	const char *dir;
	size_t len;
	char **v;
	size_t n;
};

/* Checks every known name under dir and what is there now (directory renames and removals). */
static void check_subtree(struct fim *f, const char *dir, struct pending *p)
{
	struct fim_db *dbs[2] = { f->base, f->drift };
	size_t len = strlen(dir), n = 0, cap = 0;
	char **v = NULL;
	struct fim_entry *e;
	DIR *d;
	struct dirent *de;

	for (int k = 0; k < 2; k++) {
		size_t i = 0;
		while ((e = fim_db_next(dbs[k], &i))) {
			if (strncmp(e->path, dir, len) || e->path[len] != '/')
				continue;
			if (n == cap) {
				char **nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*nv));
				if (!nv)
					break;
				v = nv;
			}
			v[n++] = strdup(e->path);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] && !pend_find(f, v[i]))
			check_path(f, v[i], p, "realtime");
		free(v[i]);
	}
	free(v);
	/* new names: walk what is there (bounded by the specs and max_files) */
	if ((d = hostfs_opendir(dir))) {
		while ((de = readdir(d))) {
			char child[PATH_MAX];
			struct stat st;

			if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
				continue;
			if (snprintf(child, sizeof(child), "%s/%s", dir, de->d_name) >= (int)sizeof(child))
				continue;
			/* a name with its own pending events is reported with its own actor */
			if (known(f, child) || fim_spec_match(f->cfg, child) < 0 || pend_find(f, child))
				continue;
			check_path(f, child, p, "realtime");
			if (hostfs_lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
				check_subtree(f, child, p);
		}
		closedir(d);
	}
}

static void process_pending(struct fim *f)
{
	uint64_t now = util_boot_ns();
	struct pending **pp = &f->pend;

	while (*pp) {
		struct pending *p = *pp;
		uint64_t settle = p->content ? SETTLE_CONTENT_NS : SETTLE_META_NS;
		bool open_now = false, done = true;
		struct stat st;

		if (now - p->last_ns < settle ||
		    /* a new name may be a temporary file about to be renamed (editors' atomic save) */
		    (!known(f, p->path) && now - p->first_ns < (uint64_t)f->cfg->quiet_ms * 1000000)) {
			pp = &p->next;
			continue;
		}
		if (p->content && (p->ops & ((1u << VIGIL_FOP_OPEN_WRITE) | (1u << VIGIL_FOP_MMAP_WRITE)))) {
			open_now = holds_open(p->tgid, p->dev, p->ino) || (p->ops & (1u << VIGIL_FOP_MMAP_WRITE) &&
				   now - p->last_ns < (uint64_t)f->cfg->quiet_ms * 1000000);
			if (open_now) {
				/* long-lived writer: hash once the file stopped changing for quiet_ms */
				uint64_t m = mono_ns();
				if (hostfs_lstat(p->path, &st) == 0 &&
				    (st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec != p->seen_mtime ||
				     (uint64_t)st.st_size != p->seen_size || !p->stable_since)) {
					p->seen_mtime = st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
					p->seen_size = (uint64_t)st.st_size;
					p->stable_since = m;
					p->checked_open = false;
				}
				if (p->checked_open || m - p->stable_since < (uint64_t)f->cfg->quiet_ms * 1000000) {
					pp = &p->next;
					continue;
				}
				done = false;
			}
		}
		check_path(f, p->path, p, "realtime");
		if (hostfs_lstat(p->path, &st) == 0 && S_ISDIR(st.st_mode)) {
			/* io_uring: a changed directory gained or lost a name (the record names
			 * the directory, not the entry) */
			if (p->ops & ((1u << VIGIL_FOP_RENAME) | (1u << VIGIL_FOP_MKDIR) | (1u << VIGIL_FOP_IO_URING)))
				check_subtree(f, p->path, p);
		} else if (p->ops & ((1u << VIGIL_FOP_RENAME) | (1u << VIGIL_FOP_RMDIR) | (1u << VIGIL_FOP_UNLINK) |
				     (1u << VIGIL_FOP_IO_URING))) {
			/* a directory moved away or removed: its names went with it */
			check_subtree(f, p->path, p);
		}
		if (!done) {
			p->checked_open = true;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		f->npend--;
		pend_free(p);
	}
	if (!f->pend)
		timer_arm(f, false);
}

struct ino_ctx {
	struct fim *f;
	const struct vigil_file *ev;
	json_t *actor;
	const char *via;
};

static void mark_inode_name(void *ctx, struct fim_entry *e)
{
	struct ino_ctx *c = ctx;

	mark(c->f, e->path, c->ev, true, c->actor, c->via);
}

/* vigil's own state: only vigild writes there (its own writes are never reported). */
static bool is_state_file(struct fim *f, const char *path)
{
	size_t n = strlen(f->state_real);

	return path && n && !strncmp(path, f->state_real, n) && (path[n] == '/' || !path[n]);
}

static json_t *actor_snapshot(struct fim *f, const struct vigil_hdr *h, struct proc *p)
{
	json_t *o = json_object();

	if (!p) {
		/* a process vigild never saw start: fill it from /proc while it is there */
		p = proctab_get(agent_proctab(f->a), h->tgid, h->start_ns);
		if (p && !p->exe) {
			char link[PATH_MAX], buf[PATH_MAX];
			ssize_t n;
			if (!hostfs_proc(link, sizeof(link), "/%u/exe", h->tgid) &&
			    (n = readlink(link, buf, sizeof(buf) - 1)) > 0)
				proc_set_bytes(&p->exe, &p->exe_len, buf, (size_t)n);
			memcpy(p->comm, h->comm, sizeof(p->comm));
			p->uid = h->uid;
			p->gid = h->gid;
		}
	}
	agent_add_actor(f->a, o, p, h);
	return o;
}

static void fim_on_record(void *st, const struct vigil_hdr *h, const void *rec, size_t len, struct proc *pr)
{
	struct fim *f = st;
	const struct vigil_file *ev = rec;
	const char *p1, *p2 = NULL;
	json_t *actor = NULL;
	bool content, m1, m2;

	if (h->type != VIGIL_EV_FILE || !f->cfg->enabled || len < sizeof(*ev))
		return;
	if (event_check_str(ev, len, sizeof(*ev), ev->path_len) || !ev->path_len ||
	    event_check_str(ev, len, sizeof(*ev) + ev->path_len, ev->path2_len))
		return;
	if (ev->ret < 0)
		return;
	p1 = ev->data;
	if (ev->path2_len && ev->op != VIGIL_FOP_SYMLINK)
		p2 = ev->data + ev->path_len;
	f->events++;
	if (is_state_file(f, p1) || is_state_file(f, p2)) {
		json_t *fo = json_object();
		jsonx_set_str(fo, "path", is_state_file(f, p1) ? p1 : p2);
		if (p2 && !is_state_file(f, p1))
			jsonx_set_str(fo, "from", p1);
		json_object_set_new(fo, "operation", json_string(event_file_op_name(ev->op)));
		actor = actor_snapshot(f, h, pr);
		emit_simple(f, "fim_state_tampered", "vigil's FIM state was modified by another process",
			    VIGIL_SEV_HIGH, &mitre_tamper,
			    "Only vigild writes its state. Investigate the actor; the next load of a modified "
			    "baseline fails authentication and is not trusted.", fo, actor);
		json_decref(actor);
		return;
	}
	if (!f->base) {
		f->ignored_early++;   /* the first baseline is being built: it records the state */
		return;
	}
	content = ev->op == VIGIL_FOP_OPEN_WRITE || ev->op == VIGIL_FOP_TRUNCATE || ev->op == VIGIL_FOP_MMAP_WRITE ||
		  ev->op == VIGIL_FOP_IO_URING;
	m1 = fim_spec_match(f->cfg, p1) >= 0 || known(f, p1);
	m2 = p2 && (fim_spec_match(f->cfg, p2) >= 0 || known(f, p2));
	if (ev->op == VIGIL_FOP_LINK && m1 && p2 && !m2) {
		json_t *fo = json_object();
		jsonx_set_str(fo, "path", p1);
		jsonx_set_str(fo, "link", p2);
		json_object_set_new(fo, "kind", json_string("hardlink"));
		json_object_set_new(fo, "nlink", json_integer(ev->nlink));
		actor = actor_snapshot(f, h, pr);
		emit_simple(f, "fim_hardlink", "Hard link to a watched file created outside the watched tree",
			    VIGIL_SEV_HIGH, &mitre_generic,
			    "A second name lets the file be changed where no watch spec looks. Remove the link "
			    "unless it is expected, and investigate the actor.", fo, actor);
		add_link_root(f, p1);
	}
	if (m1 || m2) {
		if (!actor)
			actor = actor_snapshot(f, h, pr);
		if (m1)
			mark(f, p1, ev, content, actor, NULL);
		if (m2)
			mark(f, p2, ev, content, actor, NULL);
	}
	/* a name outside the tree for a watched inode: a hard link */
	if (!m1 && ev->ino && ev->op != VIGIL_FOP_RENAME && ev->op != VIGIL_FOP_UNLINK) {
		struct ino_ctx c = { f, ev, NULL, p1 };
		if (fim_db_by_inode(f->base, ev->dev, ev->ino, NULL, NULL)) {
			c.actor = actor ? actor : (actor = actor_snapshot(f, h, pr));
			fim_db_by_inode(f->base, ev->dev, ev->ino, mark_inode_name, &c);
		}
	}
	json_decref(actor);
}

static void check_loss(struct fim *f)
{
	uint64_t loss[VIGIL_LOSS_SLOTS], n = 0;

	agent_loss(f->a, loss);
	for (int c = 0; c < VIGIL_LOSS_CAUSE_MAX; c++)
		n += loss[VIGIL_EV_FILE * VIGIL_LOSS_CAUSE_MAX + c];
	if (n != f->loss_seen) {
		bool grew = n > f->loss_seen;
		f->loss_seen = n;
		if (grew && f->base) {
			vlog(VLOG_WARN, "fim: file events were lost: rescanning the watched trees");
			f->rescan_wanted = true;
		}
	}
	if (f->rescan_wanted && !f->job && f->base) {
		struct job *j = job_new(f, JOB_RESCAN, NULL, 0);
		f->rescan_wanted = false;
		if (j && !job_submit(f, j))
			f->rescans++;
	}
}

/* ---------- engine callbacks ---------- */

static void fim_tick(void *st, uint64_t boot_ns)
{
	struct fim *f = st;

	if (!f->cfg->enabled)
		return;
	check_loss(f);
	if (f->drift_dirty && mono_ns() - f->drift_saved_mono >= DRIFT_SAVE_NS)
		save_drift(f);
}

static int fim_poll_fd(void *st)
{
	return ((struct fim *)st)->epfd;
}

static void fim_on_poll(void *st)
{
	struct fim *f = st;
	struct epoll_event ev[4];
	int n = epoll_wait(f->epfd, ev, 4, 0);
	uint64_t v;

	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == f->efd) {
			if (read(f->efd, &v, sizeof(v)) == sizeof(v) && f->job)
				job_done(f);
		} else if (ev[i].data.fd == f->tfd) {
			if (read(f->tfd, &v, sizeof(v)) < 0) {
				/* nothing to read: spurious wake-up */
			}
			process_pending(f);
		}
	}
}

static json_t *job_json(const struct job *j)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "id", (json_int_t)j->id,
			 "type", job_names[j->type], "phase", j->prog.phase == 0 ? "walking" : "hashing",
			 "files_done", (json_int_t)j->prog.files_done, "files_total", (json_int_t)j->prog.files_total,
			 "bytes_done", (json_int_t)j->prog.bytes_done, "bytes_total", (json_int_t)j->prog.bytes_total);
}

static json_t *fim_status(void *st)
{
	struct fim *f = st;
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(f->state));
	if (f->error[0])
		json_object_set_new(o, "error", json_string(f->error));
	if (f->base) {
		json_t *b = json_object();
		struct fim_db_meta *m = fim_db_meta(f->base);
		json_object_set_new(b, "entries", json_integer((json_int_t)fim_db_count(f->base)));
		set_time(b, "created", m->created_ns);
		set_time(b, "updated", m->updated_ns);
		json_object_set_new(b, "path", json_string(f->db_path));
		json_object_set_new(o, "baseline", b);
	}
	json_object_set_new(o, "drift", json_integer(f->drift ? (json_int_t)fim_db_count(f->drift) : 0));
	json_object_set_new(o, "watch_specs", json_integer((json_int_t)f->cfg->nspecs));
	json_object_set_new(o, "pending", json_integer((json_int_t)f->npend));
	json_object_set_new(o, "events", json_integer((json_int_t)f->events));
	json_object_set_new(o, "checks", json_integer((json_int_t)f->checks));
	json_object_set_new(o, "hashed", json_integer((json_int_t)f->hashed));
	json_object_set_new(o, "coalesced", json_integer((json_int_t)f->coalesced));
	json_object_set_new(o, "alerts", json_integer((json_int_t)f->alerts));
	json_object_set_new(o, "pending_dropped", json_integer((json_int_t)f->pending_dropped));
	json_object_set_new(o, "rescans", json_integer((json_int_t)f->rescans));
	json_object_set_new(o, "drift_dropped", json_integer((json_int_t)f->drift_dropped));
	json_object_set_new(o, "events_before_baseline", json_integer((json_int_t)f->ignored_early));
	json_object_set_new(o, "hard_links_watched", json_integer((json_int_t)f->nlink_roots));
	if (f->job)
		json_object_set_new(o, "job", job_json(f->job));
	if (f->queued)
		json_object_set_new(o, "queued_job", json_integer((json_int_t)f->queued->id));
	if (f->last_job)
		json_object_set(o, "last_job", f->last_job);
	return o;
}

static json_t *peer_json(const struct ctl_peer *peer)
{
	return json_pack("{s:i, s:i, s:s}", "pid", (int)peer->pid, "uid", (int)peer->uid, "user", peer->user);
}

static json_t *cmd_fim_status(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	json_t *o = fim_status(ctx);

	json_object_set_new(o, "ok", json_true());
	return o;
}

static json_t *submit_reply(struct fim *f, struct job *j)
{
	uint64_t id;
	int r;

	if (!j)
		return ctl_error("out of memory");
	r = job_submit(f, j);
	if (r == -EBUSY)
		return ctl_error("a FIM scan is already running and another is queued: try again when it ends");
	if (r)
		return ctl_error("cannot start the scan: %s", strerror(-r));
	id = f->queued == j ? j->id : f->job->id;
	return json_pack("{s:b, s:I}", "ok", 1, "job", (json_int_t)id);
}

static json_t *cmd_fim_baseline(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct fim *f = ctx;
	struct job *j;

	if (!f->cfg->enabled)
		return ctl_error("FIM is disabled in the policy (fim.enabled)");
	if (!(j = job_new(f, JOB_BASELINE, NULL, 0)))
		return ctl_error("out of memory");
	j->who = peer_json(peer);
	return submit_reply(f, j);
}

static json_t *cmd_fim_check(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct fim *f = ctx;

	if (!f->cfg->enabled)
		return ctl_error("FIM is disabled in the policy (fim.enabled)");
	if (!f->base)
		return ctl_error("no baseline yet (%s)", f->state);
	return submit_reply(f, job_new(f, JOB_CHECK, NULL, 0));
}

static json_t *cmd_fim_accept(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct fim *f = ctx;
	json_t *paths = json_object_get(req, "paths"), *v;
	const char **scope;
	struct job *j;
	size_t i;

	if (!f->cfg->enabled)
		return ctl_error("FIM is disabled in the policy (fim.enabled)");
	if (!f->base)
		return ctl_error("no baseline yet (%s)", f->state);
	if (json_is_true(json_object_get(req, "all"))) {
		if (!(j = job_new(f, JOB_BASELINE, NULL, 0)))
			return ctl_error("out of memory");
		j->who = peer_json(peer);
		return submit_reply(f, j);
	}
	if (!json_is_array(paths) || !json_array_size(paths))
		return ctl_error("\"paths\" (array of absolute paths) or \"all\": true is required");
	scope = calloc(json_array_size(paths), sizeof(*scope));
	if (!scope)
		return ctl_error("out of memory");
	json_array_foreach(paths, i, v) {
		const char *s = json_string_value(v);
		if (!s || s[0] != '/') {
			free(scope);
			return ctl_error("paths[%zu]: expected an absolute path", i);
		}
		scope[i] = s;
	}
	j = job_new(f, JOB_ACCEPT, scope, json_array_size(paths));
	free(scope);
	if (j)
		j->who = peer_json(peer);
	return submit_reply(f, j);
}

static const struct ctl_cmd fim_cmds[] = {
	{ "fim_status", cmd_fim_status },
	{ "fim_baseline", cmd_fim_baseline },
	{ "fim_check", cmd_fim_check },
	{ "fim_accept", cmd_fim_accept },
	{ NULL, NULL },
};

static void fim_destroy(void *st)
{
	struct fim *f = st;

	if (!f)
		return;
	if (f->job) {
		f->job->prog.cancel = 1;
		pthread_join(f->th, NULL);
		job_free(f->job);
	}
	job_free(f->queued);
	if (f->base && f->drift)
		save_drift(f);       /* its saved_ns marks the start of the monitoring gap */
	while (f->pend) {
		struct pending *p = f->pend;
		f->pend = p->next;
		pend_free(p);
	}
	for (size_t k = 0; k < f->nlink_roots; k++)
		free(f->link_roots[k]);
	free(f->link_roots);
	fim_db_free(f->base);
	fim_db_free(f->drift);
	json_decref(f->last_job);
	json_decref(f->warnings);
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->tfd >= 0)
		close(f->tfd);
	if (f->efd >= 0)
		close(f->efd);
	free(f);
}

/* Moves a state file that failed its check aside (kept for the investigation). */
static void set_aside(const char *path, const char *why)
{
	char dst[PATH_MAX + 64];

	snprintf(dst, sizeof(dst), "%s.%s-%llu", path, why, (unsigned long long)(util_now_ns() / 1000000000ull));
	if (rename(path, dst))
		unlink(path);
}

static void start_up(struct fim *f)
{
	struct job *j;
	int r;

	r = fim_key_load(f->key_path, true, f->key);
	if (r) {
		f->state = "error";
		snprintf(f->error, sizeof(f->error), "cannot use the key %s: %s", f->key_path,
			 r == -EPERM ? "not a root-only file (mode 0600, owner root)" : strerror(-r));
		vlog(VLOG_ERR, "fim: %s: FIM is off", f->error);
		return;
	}
	f->have_key = true;
	r = fim_db_load(f->db_path, f->key, &f->base);
	if (r == -EBADMSG || r == -EXDEV) {
		json_t *fo = json_object();
		bool foreign = r == -EXDEV;

		jsonx_set_str(fo, "path", f->db_path);
		json_object_set_new(fo, "reason", json_string(foreign ?
			"the baseline was made on another host (machine-id or host name differ)" :
			"the baseline failed authentication (HMAC mismatch, truncated or malformed)"));
		set_aside(f->db_path, foreign ? "foreign" : "tampered");
		json_object_set_new(fo, "action", json_string("set aside; a new baseline is being built from the "
							       "current disk state, which is not verified"));
		emit_simple(f, foreign ? "fim_baseline_foreign" : "fim_baseline_tampered",
			    foreign ? "FIM baseline from another host refused" : "FIM baseline tampered with or truncated",
			    VIGIL_SEV_HIGH, &mitre_tamper,
			    "Find out who changed the state directory. The files on disk could not be verified "
			    "against a trusted baseline: check them against packages (e.g. 'debsums -c') "
			    "before accepting the new baseline.", fo, NULL);
		vlog(VLOG_ERR, "fim: %s: %s", f->db_path, foreign ? "made on another host: refused" :
		     "failed authentication: not used");
		unlink(f->drift_path);
	} else if (r && r != -ENOENT) {
		vlog(VLOG_ERR, "fim: cannot read %s: %s", f->db_path, strerror(-r));
	}
	if (!f->base) {
		f->state = "baselining";
		if ((j = job_new(f, JOB_BASELINE, NULL, 0))) {
			j->initial = true;
			if (job_submit(f, j))
				vlog(VLOG_ERR, "fim: cannot start the baseline scan");
		}
		return;
	}
	f->state = "monitoring";
	r = fim_db_load(f->drift_path, f->key, &f->drift);
	if (r == -EBADMSG || r == -EXDEV) {
		json_t *fo = json_object();
		jsonx_set_str(fo, "path", f->drift_path);
		json_object_set_new(fo, "reason", json_string("the FIM drift record failed authentication"));
		set_aside(f->drift_path, "tampered");
		emit_simple(f, "fim_baseline_tampered", "FIM state tampered with or truncated", VIGIL_SEV_HIGH,
			    &mitre_tamper, "Find out who changed the state directory.", fo, NULL);
	}
	if (!f->drift && !(f->drift = fim_db_new())) {
		f->state = "error";
		return;
	}
	f->gap_from_ns = fim_db_meta(f->drift)->saved_ns > fim_db_meta(f->base)->saved_ns ?
			 fim_db_meta(f->drift)->saved_ns : fim_db_meta(f->base)->saved_ns;
	refresh_link_roots(f);
	extend_scope(f);
	/* what changed while nobody watched */
	if ((j = job_new(f, JOB_START, NULL, 0)) && job_submit(f, j))
		vlog(VLOG_ERR, "fim: cannot start the start-up comparison");
}

static void *fim_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct fim *f = calloc(1, sizeof(*f));
	const char *sd = agent_state_dir(a);
	struct epoll_event ee = { .events = EPOLLIN };
	uint64_t loss[VIGIL_LOSS_SLOTS];

	if (!f) {
		snprintf(err, errlen, "fim: out of memory");
		return NULL;
	}
	f->a = a;
	f->cfg = fim_config_of(pol);
	f->state = "disabled";
	f->start_wall_ns = util_now_ns();
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->epfd < 0 || f->tfd < 0 || f->efd < 0 ||
	    util_path_join(f->db_path, sizeof(f->db_path), sd, FIM_DB_NAME) ||
	    util_path_join(f->drift_path, sizeof(f->drift_path), sd, FIM_DRIFT_NAME) ||
	    util_path_join(f->key_path, sizeof(f->key_path), sd, FIM_KEY_NAME)) {
		snprintf(err, errlen, "fim: cannot set up: %s", strerror(errno ? errno : ENAMETOOLONG));
		fim_destroy(f);
		return NULL;
	}
	ee.data.fd = f->tfd;
	epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->tfd, &ee);
	ee.data.fd = f->efd;
	epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->efd, &ee);
	if (!realpath(sd, f->state_real))
		snprintf(f->state_real, sizeof(f->state_real), "%s", sd);
	/* vigild rewrites its state: scans skip it, real-time events there are tampering */
	f->skip[0] = f->state_real;
	f->skip[1] = f->db_path;
	f->skip[2] = f->drift_path;
	f->skip[3] = NULL;
	agent_loss(a, loss);
	for (int c = 0; c < VIGIL_LOSS_CAUSE_MAX; c++)
		f->loss_seen += loss[VIGIL_EV_FILE * VIGIL_LOSS_CAUSE_MAX + c];
	if (f->cfg->enabled)
		start_up(f);
	return f;
}

static int fim_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct fim *f = st;
	bool was = f->cfg->enabled;

	/* the watched roots were already recomputed by the agent for pol */
	f->cfg = fim_config_of(pol);
	if (!was && f->cfg->enabled && !f->have_key)
		start_up(f);
	else if (f->cfg->enabled && f->base)
		extend_scope(f);
	return 0;
}

const struct engine fim_engine = {
	.name = "fim",
	.create = fim_create,
	.apply = fim_apply,
	.on_record = fim_on_record,
	.tick = fim_tick,
	.poll_fd = fim_poll_fd,
	.on_poll = fim_on_poll,
	.cmds = fim_cmds,
	.status = fim_status,
	.destroy = fim_destroy,
};
