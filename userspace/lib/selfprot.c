/* Self-protection engine: write denial on vigil's own files, pin checks.  See selfprot.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "alert.h"
#include "engine.h"
#include "jit.h"
#include "jsonx.h"
#include "log.h"
#include "selfprot.h"
#include "util.h"

#define QUEUE_MAX     256          /* denials waiting for the main loop to alert */
#define PINS_MAX      256
#define CHECK_TICKS   5            /* 5 x 200 ms: marks and pins are re-checked every second */

static const struct vigil_mitre mitre_impair = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1562.001", .technique_name = "Impair Defenses: Disable or Modify Tools",
};

/* ---------- policy ---------- */

static int strv_add(struct policy_strv *sv, const char *s)
{
	char **v = realloc(sv->v, (sv->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	sv->v = v;
	if (!(v[sv->n] = strdup(s)))
		return -ENOMEM;
	sv->n++;
	return 0;
}

void selfprot_config_free(void *p)
{
	struct selfprot_config *c = p;

	if (!c)
		return;
	policy_strv_free(&c->files);
	policy_strv_free(&c->updaters);
	free(c);
}

int selfprot_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "deny_writes", "files", "updaters", "pins", "severity", NULL };
	struct selfprot_config *cfg = calloc(1, sizeof(*cfg));
	char jp[256];
	int r;

	if (!cfg)
		return -ENOMEM;
	cfg->pins = true;
	cfg->severity = VIGIL_SEV_HIGH;
	if (v) {
		if ((r = policy_check_object(c, jpath, v, keys)) ||
		    (r = policy_get_bool(c, jpath, v, "deny_writes", &cfg->deny_writes)) ||
		    (r = policy_get_bool(c, jpath, v, "pins", &cfg->pins)) ||
		    (r = policy_get_severity(c, jpath, v, "severity", &cfg->severity)) ||
		    (r = policy_get_paths(c, jpath, v, "files", SELFPROT_MAX_PATHS, 256, &cfg->files)) ||
		    (r = policy_get_paths(c, jpath, v, "updaters", SELFPROT_MAX_PATHS, 256, &cfg->updaters)))
			goto fail;
		for (size_t i = 0; i < cfg->files.n; i++) {
			if (!strcmp(cfg->files.v[i], "/")) {
				policy_jpath_key(jp, sizeof(jp), jpath, "files");
				policy_jpath_index(jp, sizeof(jp), jp, i);
				r = policy_fail(c, jp, "\"/\" cannot be protected: name vigil's own files or directories");
				goto fail;
			}
		}
	}
	*out = cfg;
	return 0;
fail:
	selfprot_config_free(cfg);
	return r;
}

/* ---------- /proc/TID/syscall ---------- */

/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) */
enum { NR_open = 2, NR_execve = 59, NR_creat = 85, NR_uselib = 134, NR_openat = 257,
       NR_open_by_handle_at = 304, NR_execveat = 322, NR_openat2 = 437 };

bool selfprot_flags_write(uint64_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

int selfprot_parse_syscall(const char *line, long *nr, uint64_t *flags, uint64_t *how_addr)
{
	unsigned long long a[6] = { 0 };
	char *end;
	const char *p = line;

	*flags = 0;
	*how_addr = 0;
	errno = 0;
	*nr = strtol(p, &end, 10);
	if (end == p || errno)
		return -EINVAL;
	if (*nr < 0)
		return SELFPROT_UNKNOWN;       /* blocked outside a syscall */
	p = end;
	for (int i = 0; i < 6; i++) {
		while (*p == ' ')
			p++;
		errno = 0;
		a[i] = strtoull(p, &end, 16);   /* "0x..." */
		if (end == p || errno)
			return -EINVAL;
		p = end;
	}
	switch (*nr) {
	case NR_execve: case NR_execveat: case NR_uselib:
		return SELFPROT_READ;
	case NR_creat:
		*flags = O_WRONLY | O_CREAT | O_TRUNC;
		return SELFPROT_WRITE;
	case NR_open:
		*flags = a[1];
		break;
	case NR_openat: case NR_open_by_handle_at:
		*flags = a[2];
		break;
	case NR_openat2:
		*how_addr = a[2];
		return SELFPROT_NEED_HOW;
	default:
		return SELFPROT_UNKNOWN;
	}
	return selfprot_flags_write(*flags) ? SELFPROT_WRITE : SELFPROT_READ;
}

/* ---------- engine state ---------- */

struct denial {
	uint32_t tid, tgid;
	uint32_t uid;
	long nr;
	uint64_t flags;
	bool flags_known;
	char exe[PATH_MAX];
	char comm[16];
	char path[PATH_MAX];
};

struct mark {
	dev_t dev;
	ino_t ino;
};

struct pin {
	char name[NAME_MAX + 1];
};

struct sp {
	struct agent *a;
	pid_t self;

	/* config in force; the decision thread reads it under lock */
	pthread_mutex_t lock;
	struct selfprot_config *cfg;     /* own copy */

	/* fanotify backend */
	int fan_fd, stop_fd, alert_fd;   /* alert_fd: eventfd the main loop polls */
	pthread_t th;
	bool th_running;
	char backend_err[256];
	struct mark *marks;
	size_t nmarks;
	uint64_t marks_skipped;          /* over SELFPROT_MAX_MARKS, or fanotify_mark failed */

	/* decision counters (decision thread; read racily for status) */
	uint64_t allowed, denied, self_allowed, updater_allowed, internal_errors, unknown_intent;
	uint64_t max_decision_ns;

	/* denials for the main loop (under lock) */
	struct denial q[QUEUE_MAX];
	size_t qhead, qlen;
	uint64_t alerts_dropped;

	/* pins */
	char pin_dir[PATH_MAX];          /* "" when JIT is off */
	struct pin pins[PINS_MAX];
	size_t npins;
	uint64_t pins_removed;

	unsigned ticks;
};

/* ---------- decisions (decision thread) ---------- */

static bool is_updater(struct sp *s, const char *exe)
{
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; s->cfg && i < s->cfg->updaters.n && !hit; i++)
		hit = !strcmp(s->cfg->updaters.v[i], exe);
	pthread_mutex_unlock(&s->lock);
	return hit;
}

static void push_denial(struct sp *s, const struct denial *d)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	if (s->qlen < QUEUE_MAX) {
		s->q[(s->qhead + s->qlen) % QUEUE_MAX] = *d;
		s->qlen++;
	} else {
		s->alerts_dropped++;
	}
	pthread_mutex_unlock(&s->lock);
	if (write(s->alert_fd, &one, sizeof(one)) < 0) {
		/* the counter saturates only after 2^64 - 1 unread wake-ups */
	}
}

/* FAN_ALLOW or FAN_DENY for the open that tid (blocked in it) is making on md->fd. */
static uint32_t decide(struct sp *s, const struct fanotify_event_metadata *md)
{
	char p[64], line[512], st[4096];
	struct denial d = { .tid = (uint32_t)md->pid };
	uint64_t how = 0;
	ssize_t n;
	int intent;

	snprintf(p, sizeof(p), "/proc/self/task/%d", md->pid);
	if (!access(p, F_OK)) {
		s->self_allowed++;
		return FAN_ALLOW;
	}
	snprintf(p, sizeof(p), "/proc/%d/syscall", md->pid);
	if (util_read_small(p, line, sizeof(line)) <= 0 ||
	    (intent = selfprot_parse_syscall(line, &d.nr, &d.flags, &how)) < 0) {
		s->internal_errors++;
		return FAN_ALLOW;
	}
	if (intent == SELFPROT_NEED_HOW) {
		struct iovec lo = { &d.flags, sizeof(d.flags) }, re = { (void *)(uintptr_t)how, sizeof(d.flags) };
		if (process_vm_readv(md->pid, &lo, 1, &re, 1, 0) != (ssize_t)sizeof(d.flags)) {
			s->internal_errors++;
			return FAN_ALLOW;
		}
		intent = selfprot_flags_write(d.flags) ? SELFPROT_WRITE : SELFPROT_READ;
	}
	if (intent == SELFPROT_READ) {
		s->allowed++;
		return FAN_ALLOW;
	}
	d.flags_known = intent == SELFPROT_WRITE;
	if (intent == SELFPROT_UNKNOWN)
		s->unknown_intent++;
	snprintf(p, sizeof(p), "/proc/%d/exe", md->pid);
	n = readlink(p, d.exe, sizeof(d.exe) - 1);
	d.exe[n > 0 ? n : 0] = 0;
	if (n > 0 && is_updater(s, d.exe)) {
		s->updater_allowed++;
		return FAN_ALLOW;
	}
	/* the rest only names the process in the alert: failures leave fields empty */
	snprintf(p, sizeof(p), "/proc/%d/status", md->pid);
	if (util_read_small(p, st, sizeof(st)) > 0) {
		char *t = strstr(st, "\nTgid:"), *u = strstr(st, "\nUid:"), *c = strstr(st, "Name:");
		if (t)
			d.tgid = (uint32_t)strtoul(t + 6, NULL, 10);
		if (u)
			d.uid = (uint32_t)strtoul(u + 5, NULL, 10);
		if (c) {
			c += 5;
			while (*c == '\t' || *c == ' ')
				c++;
			size_t k = strcspn(c, "\n");
			snprintf(d.comm, sizeof(d.comm), "%.*s", (int)(k < 15 ? k : 15), c);
		}
	}
	if (!d.tgid)
		d.tgid = d.tid;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", md->fd);
	n = readlink(p, d.path, sizeof(d.path) - 1);
	d.path[n > 0 ? n : 0] = 0;
	s->denied++;
	push_denial(s, &d);
	return FAN_DENY;
}

static void *decision_thread(void *arg)
{
	struct sp *s = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));

	for (;;) {
		struct pollfd pf[2] = { { s->fan_fd, POLLIN, 0 }, { s->stop_fd, POLLIN, 0 } };

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		ssize_t len = read(s->fan_fd, buf, sizeof(buf));
		if (len <= 0) {
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			break;
		}
		const struct fanotify_event_metadata *md = (const void *)buf;
		for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
			if (md->vers != FANOTIFY_METADATA_VERSION)
				break;
			if (md->fd < 0)
				continue;
			if (md->mask & FAN_OPEN_PERM) {
				struct timespec t0, t1;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				struct fanotify_response resp = { .fd = md->fd, .response = decide(s, md) };
				if (write(s->fan_fd, &resp, sizeof(resp)) != sizeof(resp))
					s->internal_errors++;
				clock_gettime(CLOCK_MONOTONIC, &t1);
				uint64_t ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + t1.tv_nsec - t0.tv_nsec;
				if (ns > s->max_decision_ns)
					s->max_decision_ns = ns;
			}
			close(md->fd);
		}
	}
	return NULL;
}

/* ---------- marks (main thread) ---------- */

struct markset {
	struct mark *m;
	char **paths;
	size_t n;
	uint64_t skipped;
};

static void markset_free(struct markset *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->paths[i]);
	free(ms->paths);
	free(ms->m);
	*ms = (struct markset){ 0 };
}

static void markset_add(struct markset *ms, const char *path, const struct stat *sb)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].dev == sb->st_dev && ms->m[i].ino == sb->st_ino)
			return;
	if (ms->n >= SELFPROT_MAX_MARKS) {
		ms->skipped++;
		return;
	}
	if (!(ms->n & (ms->n - 1))) {          /* grow at powers of two */
		size_t cap = ms->n ? ms->n * 2 : 8;
		struct mark *m = realloc(ms->m, cap * sizeof(*m));
		char **p = m ? realloc(ms->paths, cap * sizeof(*p)) : NULL;
		if (m)
			ms->m = m;
		if (!p) {
			ms->skipped++;
			return;
		}
		ms->paths = p;
	}
	if (!(ms->paths[ms->n] = strdup(path))) {
		ms->skipped++;
		return;
	}
	ms->m[ms->n++] = (struct mark){ sb->st_dev, sb->st_ino };
}

/* Regular files under dir (no symlinks followed), depth-bounded. */
static void walk(struct markset *ms, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;

	if (depth > 8 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (util_path_join(p, sizeof(p), dir, e->d_name) || lstat(p, &sb))
			continue;
		if (S_ISREG(sb.st_mode))
			markset_add(ms, p, &sb);
		else if (S_ISDIR(sb.st_mode))
			walk(ms, p, depth + 1);
	}
	closedir(d);
}

static void desired_marks(const struct selfprot_config *cfg, struct markset *ms)
{
	for (size_t i = 0; i < cfg->files.n; i++) {
		struct stat sb;

		if (!strcmp(cfg->files.v[i], "/") || stat(cfg->files.v[i], &sb))
			continue;
		if (S_ISREG(sb.st_mode))
			markset_add(ms, cfg->files.v[i], &sb);
		else if (S_ISDIR(sb.st_mode))
			walk(ms, cfg->files.v[i], 0);
	}
}

static bool has_mark(const struct mark *m, size_t n, const struct mark *k)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].dev == k->dev && m[i].ino == k->ino)
			return true;
	return false;
}

/* Brings the group's inode marks to the protected files of the config in force:
 * adds new ones; when a marked file went (replaced, deleted) flushes and re-marks. */
static void refresh_marks(struct sp *s)
{
	struct markset ms = { 0 };
	bool gone = false;
	struct mark *kept;
	size_t nk = 0;

	if (s->fan_fd < 0)
		return;
	desired_marks(s->cfg, &ms);
	for (size_t i = 0; i < s->nmarks && !gone; i++)
		gone = !has_mark(ms.m, ms.n, &s->marks[i]);
	if (gone) {
		fanotify_mark(s->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
		s->nmarks = 0;
	}
	kept = calloc(ms.n ? ms.n : 1, sizeof(*kept));
	if (!kept) {
		markset_free(&ms);
		return;
	}
	for (size_t i = 0; i < ms.n; i++) {
		if (has_mark(s->marks, s->nmarks, &ms.m[i])) {
			kept[nk++] = ms.m[i];
			continue;
		}
		/* an inode mark on this one file: never a mount or filesystem mark */
		if (fanotify_mark(s->fan_fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD,
				  ms.paths[i])) {
			ms.skipped++;
			vlog_ratelimited(VLOG_WARN, "self-protection: cannot mark %s: %s", ms.paths[i], strerror(errno));
			continue;
		}
		kept[nk++] = ms.m[i];
	}
	free(s->marks);
	s->marks = kept;
	s->nmarks = nk;
	s->marks_skipped = ms.skipped;
	markset_free(&ms);
}

static void backend_stop(struct sp *s)
{
	uint64_t one = 1;

	if (s->th_running) {
		if (write(s->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write fails only on counter overflow */
		}
		pthread_join(s->th, NULL);
		s->th_running = false;
		/* drain the stop signal for a later restart */
		if (read(s->stop_fd, &one, sizeof(one)) < 0) {
			/* nothing pending */
		}
	}
	if (s->fan_fd >= 0) {
		close(s->fan_fd);        /* the kernel allows every open still waiting */
		s->fan_fd = -1;
	}
	free(s->marks);
	s->marks = NULL;
	s->nmarks = 0;
}

static int backend_start(struct sp *s)
{
	int r;

	s->backend_err[0] = 0;
	s->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_REPORT_TID, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (s->fan_fd < 0) {
		r = -errno;
		snprintf(s->backend_err, sizeof(s->backend_err), "fanotify_init: %s", strerror(-r));
		return r;
	}
	if ((r = pthread_create(&s->th, NULL, decision_thread, s))) {
		snprintf(s->backend_err, sizeof(s->backend_err), "decision thread: %s", strerror(r));
		close(s->fan_fd);
		s->fan_fd = -1;
		return -r;
	}
	s->th_running = true;
	refresh_marks(s);
	return 0;
}

/* ---------- pins (main thread) ---------- */

static void pins_snapshot(struct sp *s, const struct vigil_policy *pol)
{
	const struct jit_config *jc = pol->feature[POLICY_JIT];
	DIR *d;
	struct dirent *e;

	s->npins = 0;
	s->pin_dir[0] = 0;
	if (!s->cfg->pins || !jc || jc->mode == VIGIL_JIT_OFF || !jc->pin_dir)
		return;
	snprintf(s->pin_dir, sizeof(s->pin_dir), "%s", jc->pin_dir);
	if (!(d = opendir(s->pin_dir)))
		return;
	while ((e = readdir(d)) && s->npins < PINS_MAX)
		if (e->d_name[0] != '.')
			snprintf(s->pins[s->npins++].name, sizeof(s->pins[0].name), "%s", e->d_name);
	closedir(d);
}

static void alert_unpinned(struct sp *s, const char *path)
{
	json_t *al = alert_new("vigil_tamper_unpin", "vigil's pinned BPF object removed", s->cfg->severity,
			       &mitre_impair,
			       "A pinned map, program or link of vigil was removed from the BPF filesystem: "
			       "restart vigild to restore it (jit re-pins its maps and links) and find who "
			       "removed it (who has root, bpftool or rm history).",
			       "audited");

	if (!al)
		return;
	json_object_set_new(al, "process", json_null());
	json_t *f = json_object();
	jsonx_set_str(f, "path", path);
	jsonx_set_str(f, "pin_dir", s->pin_dir);
	json_object_set_new(al, "bpf_pin", f);
	agent_emit_alert(s->a, al);
	json_decref(al);
}

/* Runs after the JIT engine's tick (engine order): what is gone now was not removed by vigil. */
static void pins_check(struct sp *s)
{
	if (!s->pin_dir[0])
		return;
	for (size_t i = 0; i < s->npins;) {
		char p[PATH_MAX];
		const char *n = s->pins[i].name;
		struct stat sb;

		if (util_path_join(p, sizeof(p), s->pin_dir, n) || !lstat(p, &sb)) {
			i++;
			continue;
		}
		/* an XDP link pin goes with its interface: JIT unpins it when the link disappears */
		if (!strncmp(n, "xdp_", 4) && !if_nametoindex(n + 4)) {
			s->pins[i] = s->pins[--s->npins];
			continue;
		}
		s->pins_removed++;
		alert_unpinned(s, p);
		s->pins[i] = s->pins[--s->npins];
	}
	/* objects pinned since (a new interface): watch them too */
	DIR *d = opendir(s->pin_dir);
	struct dirent *e;
	while (d && (e = readdir(d)) && s->npins < PINS_MAX) {
		size_t j;
		if (e->d_name[0] == '.')
			continue;
		for (j = 0; j < s->npins && strcmp(s->pins[j].name, e->d_name); j++)
			;
		if (j == s->npins)
			snprintf(s->pins[s->npins++].name, sizeof(s->pins[0].name), "%s", e->d_name);
	}
	if (d)
		closedir(d);
}

/* ---------- alerts (main thread) ---------- */

static const char *syscall_name(long nr)
{
	switch (nr) {
	case NR_open: return "open";
	case NR_creat: return "creat";
	case NR_openat: return "openat";
	case NR_openat2: return "openat2";
	case NR_open_by_handle_at: return "open_by_handle_at";
	default: return NULL;
	}
}

static void alert_denied(struct sp *s, const struct denial *d)
{
	json_t *al = alert_new("vigil_selfprot_write_denied", "Write to a vigil file blocked", s->cfg->severity,
			       &mitre_impair,
			       "A process tried to open one of vigil's own files (binaries, policy, state, keys) "
			       "for writing and was refused. If it was a legitimate update, run it through an "
			       "updater named in self_protection.updaters; otherwise investigate the process.",
			       "blocked");
	struct proc *p;
	json_t *f, *pj;
	char nrbuf[24];

	if (!al)
		return;
	p = proctab_lookup(agent_proctab(s->a), d->tgid);
	agent_add_actor(s->a, al, p, NULL);
	pj = json_object_get(al, "process");
	if (json_is_object(pj)) {
		json_object_set_new(pj, "pid", json_integer(d->tgid));
		if (d->tid != d->tgid)
			json_object_set_new(pj, "tid", json_integer(d->tid));
		if (d->exe[0] && !json_string_value(json_object_get(pj, "exe")))
			jsonx_set_str(pj, "exe", d->exe);
		if (d->comm[0] && !json_object_get(pj, "name"))
			jsonx_set_str(pj, "name", d->comm);
		if (!json_object_get(pj, "uid"))
			json_object_set_new(pj, "uid", json_integer(d->uid));
	}
	f = json_object();
	jsonx_set_str(f, "path", d->path[0] ? d->path : NULL);
	if (d->flags_known)
		json_object_set_new(f, "open_flags", json_integer((json_int_t)d->flags));
	const char *sn = syscall_name(d->nr);
	if (!sn) {
		snprintf(nrbuf, sizeof(nrbuf), "%ld", d->nr);
		sn = nrbuf;
	}
	jsonx_set_str(f, "syscall", sn);
	json_object_set_new(al, "file", f);
	json_object_set_new(al, "self_protection", json_pack("{s:s}", "backend", "fanotify"));
	agent_emit_alert(s->a, al);
	json_decref(al);
}

static void sp_on_poll(void *st)
{
	struct sp *s = st;
	uint64_t v;
	struct denial d;

	if (read(s->alert_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: woken for nothing */
	}
	for (;;) {
		pthread_mutex_lock(&s->lock);
		if (!s->qlen) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		d = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % QUEUE_MAX;
		if (!--s->qlen)
			s->qhead = 0;    /* restart at slot 0: only the deepest backlog's pages get touched */
		pthread_mutex_unlock(&s->lock);
		alert_denied(s, &d);
	}
}

/* ---------- corrupt state files (any engine, main thread) ---------- */

#define CORRUPT_MAX 16
static json_t *corrupt_q[CORRUPT_MAX];
static size_t ncorrupt;
static uint64_t corrupt_total;

int selfprot_state_corrupt(const char *path, const char *reason, const char *consequence)
{
	char aside[PATH_MAX + 32];
	int r = 0;
	json_t *al;

	snprintf(aside, sizeof(aside), "%s.corrupt-%llu", path, (unsigned long long)(util_now_ns() / 1000000000ull));
	if (rename(path, aside))
		r = -errno;
	corrupt_total++;
	vlog(VLOG_WARN, "%s is corrupt (%s): %s%s%s", path, reason, consequence,
	     r ? "; it could not be moved aside: " : "; kept as ", r ? strerror(-r) : aside);
	if (ncorrupt >= CORRUPT_MAX)
		return r;
	al = alert_new("vigil_state_corrupt", "vigil state file corrupt and not trusted", VIGIL_SEV_MEDIUM,
		       &mitre_impair,
		       "vigil ignored this state file and went on from its policy. Compare the copy kept aside "
		       "with a backup, check the disk and who wrote the file (the alert log, vigil_tamper_files).",
		       "audited");
	if (!al)
		return r;
	json_object_set_new(al, "process", json_null());
	json_object_set_new(al, "state", json_pack("{s:s, s:s?, s:s, s:s}", "path", path,
		"kept_as", r ? NULL : aside, "reason", reason, "consequence", consequence));
	corrupt_q[ncorrupt++] = al;
	return r;
}

static void flush_corrupt(struct sp *s)
{
	for (size_t i = 0; i < ncorrupt; i++) {
		agent_emit_alert(s->a, corrupt_q[i]);
		json_decref(corrupt_q[i]);
	}
	ncorrupt = 0;
}

/* ---------- engine callbacks ---------- */

static struct selfprot_config *cfg_dup(const struct vigil_policy *pol)
{
	const struct selfprot_config *src = pol->feature[POLICY_SELFPROT];
	struct selfprot_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->pins = true;
	c->severity = VIGIL_SEV_HIGH;
	if (!src)
		return c;
	c->deny_writes = src->deny_writes;
	c->pins = src->pins;
	c->severity = src->severity;
	for (size_t i = 0; i < src->files.n; i++)
		if (strv_add(&c->files, src->files.v[i]))
			goto fail;
	for (size_t i = 0; i < src->updaters.n; i++)
		if (strv_add(&c->updaters, src->updaters.v[i]))
			goto fail;
	return c;
fail:
	selfprot_config_free(c);
	return NULL;
}

static void sp_destroy(void *st)
{
	struct sp *s = st;

	if (!s)
		return;
	backend_stop(s);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->alert_fd >= 0)
		close(s->alert_fd);
	selfprot_config_free(s->cfg);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void *sp_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct sp *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "self-protection: out of memory");
		return NULL;
	}
	s->a = a;
	s->self = getpid();
	s->fan_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->alert_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0 || s->alert_fd < 0 || !(s->cfg = cfg_dup(pol))) {
		snprintf(err, errlen, "self-protection: %s", strerror(errno ? errno : ENOMEM));
		sp_destroy(s);
		return NULL;
	}
	if (s->cfg->deny_writes && backend_start(s))
		vlog(VLOG_WARN, "self-protection: writes to vigil's files cannot be denied (%s): "
		     "detections and FIM still report them", s->backend_err);
	pins_snapshot(s, pol);
	flush_corrupt(s);
	return s;
}

static int sp_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct sp *s = st;
	struct selfprot_config *nc = cfg_dup(pol), *old;

	if (!nc) {
		snprintf(err, errlen, "self-protection: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	old = s->cfg;
	s->cfg = nc;
	pthread_mutex_unlock(&s->lock);
	selfprot_config_free(old);
	if (!nc->deny_writes && s->fan_fd >= 0)
		backend_stop(s);
	else if (nc->deny_writes && s->fan_fd < 0) {
		if (backend_start(s))
			vlog(VLOG_WARN, "self-protection: writes to vigil's files cannot be denied (%s)", s->backend_err);
	} else if (s->fan_fd >= 0) {
		/* a new file list: mark afresh (a flush and re-mark leaves no file of both lists open
		 * for longer than the loop below) */
		free(s->marks);
		s->marks = NULL;
		s->nmarks = 0;
		fanotify_mark(s->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
		refresh_marks(s);
	}
	pins_snapshot(s, pol);
	return 0;
}

static void sp_tick(void *st, uint64_t boot_ns)
{
	struct sp *s = st;

	flush_corrupt(s);
	if (++s->ticks % CHECK_TICKS)
		return;
	refresh_marks(s);
	pins_check(s);
}

static int sp_poll_fd(void *st)
{
	return ((struct sp *)st)->alert_fd;
}

static json_t *sp_status(void *st)
{
	struct sp *s = st;
	json_t *o = json_object();

	json_object_set_new(o, "deny_writes", json_boolean(s->cfg->deny_writes));
	jsonx_set_str(o, "backend", s->fan_fd >= 0 ? "fanotify" : s->cfg->deny_writes ? "unavailable" : "off");
	if (s->backend_err[0])
		jsonx_set_str(o, "reason", s->backend_err);
	json_object_set_new(o, "protected_files", json_integer((json_int_t)s->nmarks));
	json_object_set_new(o, "files_not_marked", json_integer((json_int_t)s->marks_skipped));
	json_object_set_new(o, "decisions", json_pack("{s:I, s:I, s:I, s:I}",
		"allowed", (json_int_t)s->allowed, "denied", (json_int_t)s->denied,
		"self", (json_int_t)s->self_allowed, "updater", (json_int_t)s->updater_allowed));
	json_object_set_new(o, "unknown_intent", json_integer((json_int_t)s->unknown_intent));
	json_object_set_new(o, "internal_errors", json_integer((json_int_t)s->internal_errors));
	json_object_set_new(o, "max_decision_us", json_integer((json_int_t)(s->max_decision_ns / 1000)));
	json_object_set_new(o, "alerts_dropped", json_integer((json_int_t)s->alerts_dropped));
	json_object_set_new(o, "corrupt_state_files", json_integer((json_int_t)corrupt_total));
	json_object_set_new(o, "pins", json_pack("{s:s?, s:I, s:I}", "dir", s->pin_dir[0] ? s->pin_dir : NULL,
		"watched", (json_int_t)s->npins, "removed", (json_int_t)s->pins_removed));
	return o;
}

const struct engine selfprot_engine = {
	.name = "self_protection",
	.create = sp_create,
	.apply = sp_apply,
	.tick = sp_tick,
	.poll_fd = sp_poll_fd,
	.on_poll = sp_on_poll,
	.status = sp_status,
	.destroy = sp_destroy,
};
