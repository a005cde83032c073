/* Process table.  See proctab.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "proctab.h"
#include "jsonx.h"
#include "util.h"
#include "vigil_events.h"

#define NBUCKETS 16384

struct proctab {
	struct proc *buckets[NBUCKETS];
	struct proc lru;          /* sentinel: lru.lru_next is the most recently used */
	size_t n, max;
	uint64_t evictions;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct proctab *proctab_new(size_t max)
{
	struct proctab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max ? max : 65536;
	t->lru.lru_next = t->lru.lru_prev = &t->lru;
	return t;
}

static void proc_free(struct proc *p)
{
	if (!p)
		return;
	free(p->exe);
	free(p->argv);
	free(p->cwd);
	free(p->script);
	free(p);
}

static void lru_unlink(struct proc *p)
{
	p->lru_prev->lru_next = p->lru_next;
	p->lru_next->lru_prev = p->lru_prev;
}

static void lru_front(struct proctab *t, struct proc *p)
{
	p->lru_next = t->lru.lru_next;
	p->lru_prev = &t->lru;
	t->lru.lru_next->lru_prev = p;
	t->lru.lru_next = p;
}

static void remove_entry(struct proctab *t, struct proc *p)
{
	struct proc **pp = &t->buckets[p->tgid % NBUCKETS];

	while (*pp && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = p->hnext;
	lru_unlink(p);
	t->n--;
	proc_free(p);
}

void proctab_free(struct proctab *t)
{
	if (!t)
		return;
	while (t->lru.lru_next != &t->lru)
		remove_entry(t, t->lru.lru_next);
	free(t);
}

struct proc *proctab_lookup(struct proctab *t, uint32_t tgid)
{
	for (struct proc *p = t->buckets[tgid % NBUCKETS]; p; p = p->hnext) {
		if (p->tgid == tgid) {
			lru_unlink(p);
			lru_front(t, p);
			return p;
		}
	}
	return NULL;
}

static void make_room(struct proctab *t)
{
	struct proc *victim = NULL;

	if (t->n < t->max)
		return;
	/* oldest exited first (scan from the LRU tail, bounded), else the LRU tail */
	int scanned = 0;
	for (struct proc *p = t->lru.lru_prev; p != &t->lru && scanned < 256; p = p->lru_prev, scanned++) {
		if (p->exited) {
			victim = p;
			break;
		}
	}
	if (!victim)
		victim = t->lru.lru_prev;
	if (victim != &t->lru) {
		remove_entry(t, victim);
		t->evictions++;
	}
}

/* Same process?  Seeded entries only know the start to a clock tick. */
static bool same_start(const struct proc *p, uint64_t start_ns)
{
	uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);

	if (!start_ns || !p->start_ns)
		return true;
	if (p->seeded)
		return start_ns / tick == p->start_ns / tick || start_ns / tick + 1 == p->start_ns / tick ||
		       p->start_ns / tick + 1 == start_ns / tick;
	return p->start_ns == start_ns;
}

struct proc *proctab_get(struct proctab *t, uint32_t tgid, uint64_t start_ns)
{
	struct proc *p = proctab_lookup(t, tgid);

	if (p && same_start(p, start_ns)) {
		if (p->seeded && start_ns)
			p->start_ns = start_ns;
		return p;
	}
	if (p)
		remove_entry(t, p);   /* pid reused */
	make_room(t);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->start_ns = start_ns;
	p->loginuid = (uint32_t)-1;
	p->hnext = t->buckets[tgid % NBUCKETS];
	t->buckets[tgid % NBUCKETS] = p;
	lru_front(t, p);
	t->n++;
	return p;
}

int proc_set_bytes(char **field, size_t *flen, const char *buf, size_t len)
{
	char *n = malloc(len + 1);

	if (!n)
		return -ENOMEM;
	memcpy(n, buf, len);
	n[len] = 0;
	free(*field);
	*field = n;
	if (flen)
		*flen = len;
	return 0;
}

static char *dup_or_null(const char *s, size_t len)
{
	char *n;

	if (!s)
		return NULL;
	n = malloc(len + 1);
	if (n) {
		memcpy(n, s, len);
		n[len] = 0;
	}
	return n;
}

struct proc *proctab_fork(struct proctab *t, uint32_t ptgid, uint64_t pstart, uint32_t ctgid, uint64_t cstart)
{
	/* the child first: making room for it (or replacing a reused pid) may free the parent */
	struct proc *c = proctab_get(t, ctgid, cstart);
	struct proc *parent = proctab_lookup(t, ptgid);

	if (!c)
		return NULL;
	c->seeded = false;
	c->ppid = ptgid;
	c->pstart_ns = pstart;
	if (parent && parent != c) {
		c->uid = parent->uid;
		c->gid = parent->gid;
		c->euid = parent->euid;
		c->loginuid = parent->loginuid;
		memcpy(c->comm, parent->comm, sizeof(c->comm));
		free(c->exe);
		c->exe = dup_or_null(parent->exe, parent->exe_len);
		c->exe_len = parent->exe_len;
		free(c->argv);
		c->argv = dup_or_null(parent->argv, parent->argv_len);
		c->argv_len = parent->argv_len;
		c->argv_trunc = parent->argv_trunc;
		free(c->cwd);
		c->cwd = parent->cwd ? strdup(parent->cwd) : NULL;
		free(c->script);
		c->script = parent->script ? strdup(parent->script) : NULL;
		memcpy(c->sha256, parent->sha256, sizeof(c->sha256));
		c->exe_flags = parent->exe_flags;
		c->exe_dev = parent->exe_dev;
		c->exe_ino = parent->exe_ino;
		c->cgroup_id = parent->cgroup_id;
		c->container = parent->container;
		c->pidns = parent->pidns;
		c->mntns = parent->mntns;
	}
	return c;
}

void proctab_exit(struct proctab *t, uint32_t tgid, uint64_t start_ns, int code)
{
	struct proc *p = proctab_lookup(t, tgid);

	if (!p || !same_start(p, start_ns))
		return;
	p->exited = true;
	p->exit_code = code;
	p->exit_mono_ns = mono_ns();
}

size_t proctab_sweep(struct proctab *t, uint64_t grace_ns)
{
	uint64_t now = mono_ns();
	size_t n = 0;
	struct proc *p = t->lru.lru_prev;

	while (p != &t->lru) {
		struct proc *prev = p->lru_prev;

		if (p->exited && now - p->exit_mono_ns >= grace_ns) {
			remove_entry(t, p);
			n++;
		}
		p = prev;
	}
	return n;
}

size_t proctab_size(const struct proctab *t)
{
	return t->n;
}

void proctab_foreach(const struct proctab *t, void (*fn)(const struct proc *p, void *ctx), void *ctx)
{
	for (const struct proc *p = t->lru.lru_next; p != &t->lru; p = p->lru_next)
		fn(p, ctx);
}

uint64_t proctab_evictions(const struct proctab *t)
{
	return t->evictions;
}

/* ---- /proc seeding ---- */

static void seed_one(struct proctab *t, const char *proc_root, uint32_t tgid)
{
	char path[PATH_MAX], buf[4096], link[PATH_MAX];
	unsigned long long start_ticks = 0;
	int ppid = 0, n;
	char *s;
	struct proc *p;
	uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, tgid);
	if (util_read_small(path, buf, sizeof(buf)) <= 0)
		return;
	s = strrchr(buf, ')');
	if (!s)
		return;
	/* fields after comm: state ppid ... starttime is field 22 overall */
	{
		char *tok, *save = NULL;
		int field = 3;

		for (tok = strtok_r(s + 2, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
			if (field == 4)
				ppid = atoi(tok);
			if (field == 22) {
				start_ticks = strtoull(tok, NULL, 10);
				break;
			}
		}
	}
	p = proctab_get(t, tgid, start_ticks * tick);
	if (!p)
		return;
	p->seeded = true;
	p->start_ns = start_ticks * tick;
	p->ppid = ppid;
	{
		char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
		if (lp && rp && rp > lp) {
			size_t cl = rp - lp - 1;
			if (cl > sizeof(p->comm) - 1)
				cl = sizeof(p->comm) - 1;
			memcpy(p->comm, lp + 1, cl);
			p->comm[cl] = 0;
		}
	}
	snprintf(path, sizeof(path), "%s/%u/status", proc_root, tgid);
	if (util_read_small(path, buf, sizeof(buf)) > 0) {
		char *u = strstr(buf, "\nUid:");
		char *g = strstr(buf, "\nGid:");
		unsigned a, b;
		if (u && sscanf(u, "\nUid:\t%u\t%u", &a, &b) == 2) {
			p->uid = a;
			p->euid = b;
		}
		if (g && sscanf(g, "\nGid:\t%u", &a) == 1)
			p->gid = a;
	}
	snprintf(path, sizeof(path), "%s/%u/loginuid", proc_root, tgid);
	if (util_read_small(path, buf, 32) > 0)
		p->loginuid = (uint32_t)strtoul(buf, NULL, 10);
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, tgid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (n > 10 && !strcmp(link + n - 10, " (deleted)")) {
			p->exe_flags |= VIGIL_F_EXE_DELETED;
			n -= 10;
			link[n] = 0;
		}
		if (!strncmp(link, "/memfd:", 7))
			p->exe_flags |= VIGIL_F_EXE_MEMFD;
		proc_set_bytes(&p->exe, &p->exe_len, link, n);
	}
	snprintf(path, sizeof(path), "%s/%u/cwd", proc_root, tgid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0)
		proc_set_bytes(&p->cwd, NULL, link, n);
	snprintf(path, sizeof(path), "%s/%u/cmdline", proc_root, tgid);
	n = util_read_small(path, buf, VIGIL_ARGV_MAX + 1);
	if (n > 0) {
		if (n >= VIGIL_ARGV_MAX) {
			n = VIGIL_ARGV_MAX;
			p->argv_trunc = true;
		}
		proc_set_bytes(&p->argv, &p->argv_len, buf, n);
	}
	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, tgid);
	if (util_read_small(path, buf, sizeof(buf)) > 0) {
		char *l = strstr(buf, "0::");
		if (l == buf || (l && l[-1] == '\n')) {
			char *e = strchr(l, '\n');
			if (e)
				*e = 0;
			container_from_cgroup(l + 3, &p->container);
		}
	}
}

int proctab_seed(struct proctab *t, const char *proc_root)
{
	DIR *d = opendir(proc_root);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid)
			continue;
		seed_one(t, proc_root, (uint32_t)pid);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- JSON ---- */

struct uname_cache {
	uint32_t uid;
	char name[64];
	bool used;
};

const char *proctab_user_name(uint32_t uid)
{
	static struct uname_cache cache[64];
	struct uname_cache *c = &cache[uid % 64];
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (c->used && c->uid == uid)
		return c->name;
	c->used = true;
	c->uid = uid;
	c->name[0] = 0;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(c->name, sizeof(c->name), "%s", res->pw_name);
	return c->name;
}

/* cmdline: arguments joined by spaces (NULs become spaces), bytes escaped by jsonx. */
static void set_cmdline(json_t *o, const struct proc *p)
{
	json_t *args = json_array();
	char *line;
	size_t len = p->argv_len;

	if (!p->argv || !len) {
		json_object_set_new(o, "cmdline", json_string(""));
		json_object_set_new(o, "args", args);
		return;
	}
	while (len && p->argv[len - 1] == 0)
		len--;
	line = malloc(len + 1);
	if (line) {
		memcpy(line, p->argv, len);
		for (size_t i = 0; i < len; i++)
			if (!line[i])
				line[i] = ' ';
		jsonx_set_bytes(o, "cmdline", line, len);
		free(line);
	}
	for (size_t i = 0; i < len;) {
		size_t l = strnlen(p->argv + i, len - i);
		json_array_append_new(args, jsonx_string_bytes(p->argv + i, l, NULL));
		i += l + 1;
	}
	json_object_set_new(o, "args", args);
	if (p->argv_trunc)
		json_object_set_new(o, "args_truncated", json_true());
}

json_t *proc_to_json(const struct proc *p)
{
	json_t *o = json_object();
	char ts[40];

	json_object_set_new(o, "pid", json_integer(p->tgid));
	json_object_set_new(o, "ppid", json_integer(p->ppid));
	if (p->real_ppid && p->real_ppid != p->ppid)
		json_object_set_new(o, "reparented_to", json_integer(p->real_ppid));
	json_object_set_new(o, "uid", json_integer(p->uid));
	jsonx_set_str(o, "user", proctab_user_name(p->uid));
	json_object_set_new(o, "gid", json_integer(p->gid));
	if (p->euid != p->uid)
		json_object_set_new(o, "euid", json_integer(p->euid));
	if (p->loginuid != (uint32_t)-1)
		json_object_set_new(o, "loginuid", json_integer(p->loginuid));
	jsonx_set_bytes(o, "comm", p->comm, strnlen(p->comm, sizeof(p->comm)));
	if (p->exe)
		jsonx_set_bytes(o, "exe", p->exe, p->exe_len);
	else
		json_object_set_new(o, "exe", json_null());
	set_cmdline(o, p);
	if (p->cwd)
		jsonx_set_str(o, "cwd", p->cwd);
	if (p->script)
		jsonx_set_str(o, "script", p->script);
	if (p->sha256[0])
		json_object_set_new(o, "sha256", json_string(p->sha256));
	if (p->exe_flags & VIGIL_F_EXE_MEMFD)
		json_object_set_new(o, "exe_memfd", json_true());
	if (p->exe_flags & VIGIL_F_EXE_DELETED)
		json_object_set_new(o, "exe_deleted", json_true());
	if (p->start_ns) {
		util_rfc3339(util_boot_to_wall_ns(p->start_ns), ts, sizeof(ts));
		json_object_set_new(o, "start_time", json_string(ts));
	}
	json_object_set_new(o, "start_boot_ns", json_integer((json_int_t)p->start_ns));
	if (p->exited)
		json_object_set_new(o, "exit_code", json_integer(p->exit_code));
	return o;
}

json_t *proctab_ancestry(struct proctab *t, const struct proc *p, int depth)
{
	json_t *arr = json_array();
	uint32_t seen[16];
	int n = 0;

	while (p && p->ppid && n < depth && n < 16) {
		struct proc *pp = proctab_lookup(t, p->ppid);
		json_t *o;

		for (int i = 0; i < n; i++)
			if (seen[i] == p->ppid)
				goto out;
		seen[n++] = p->ppid;
		o = json_object();
		json_object_set_new(o, "pid", json_integer(p->ppid));
		if (pp && pp->exe)
			jsonx_set_bytes(o, "exe", pp->exe, pp->exe_len);
		if (pp && pp->argv) {
			size_t l = strnlen(pp->argv, pp->argv_len);
			jsonx_set_bytes(o, "arg0", pp->argv, l);
		}
		json_array_append_new(arr, o);
		p = pp;
	}
out:
	return arr;
}

json_t *proc_container_json(const struct proc *p)
{
	json_t *o;

	if (!p->container.id[0])
		return NULL;
	o = json_object();
	json_object_set_new(o, "id", json_string(p->container.id));
	if (p->container.runtime[0])
		json_object_set_new(o, "runtime", json_string(p->container.runtime));
	if (p->container.pod_uid[0])
		json_object_set_new(o, "pod_uid", json_string(p->container.pod_uid));
	return o;
}
