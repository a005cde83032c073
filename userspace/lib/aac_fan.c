/*
 * AAC fanotify backend: permission events answered by a pool of decision
 * threads.  See aac.h and fanotify(7), fanotify_mark(2).
 *
 * - Marks: FAN_MARK_FILESYSTEM (FAN_MARK_MOUNT where the filesystem refuses it)
 *   on each enforce path, which must be a mount point; mask FAN_OPEN_EXEC_PERM |
 *   FAN_OPEN_PERM.  New marks go in before old ones come out.
 * - FAN_OPEN_EXEC_PERM (execve, execveat, fexecve, the shebang interpreter): decided.
 *   FAN_OPEN_PERM: a non-ELF file is allowed and ignored from then on (inode ignore
 *   mark); an ELF file opened by the dynamic loader running as the program (ld.so PROG)
 *   is decided as an exec; other ELF opens are allowed.
 * - Verdict cache keyed by (dev, inode, size, mtime, ctime) and the policy generation;
 *   allowed files get an inode ignore mark, which the kernel clears when the file is
 *   modified (no FAN_MARK_IGNORED_SURV_MODIFY), so changed content is decided again.
 * - Every event is answered: the daemon's own accesses at once (never denied), errors
 *   and hashing past decision_timeout_ms with the on_error verdict.  Closing the group
 *   (shutdown or crash) makes the kernel allow whatever is still pending.
 * - Decision threads never open files on marked filesystems (only the event's fd, which
 *   the kernel opens FMODE_NONOTIFY), so they cannot wait on themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "aac.h"
#include "container.h"
#include "hostfs.h"
#include "util.h"

#define CACHE_SLOTS   8192
#define QUEUE_MAX     1024
#define LAT_SAMPLES   8192
#define MAX_THREADS   16
#define STAT_INC(f, x) __atomic_add_fetch(&(f)->st.x, 1, __ATOMIC_RELAXED)
#define FAN_MASK      (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM)

struct centry {
	dev_t dev;
	uint64_t ino, size;
	int64_t mtime_ns, ctime_ns;
	bool valid, elf;
	bool hashed, md5_ok;
	char sha[65];
	uint8_t md5[16];
	uint32_t gen;                 /* generation of the verdict below; 0 = none */
	uint64_t path_h;              /* the name it was decided under (rules may name paths) */
	bool allow;
	int rule;
	enum aac_reason reason;
	char package[128];
	bool verified;
};

struct mark {
	char path[PATH_MAX];
	unsigned flags;               /* FAN_MARK_FILESYSTEM or FAN_MARK_MOUNT */
};

struct aac_fan {
	int fd, stop_efd, report_efd;
	pid_t self;
	pthread_t th[MAX_THREADS];
	unsigned nth;

	pthread_rwlock_t cfg_lock;    /* cfg, dpkg, enforce, gen, marks */
	const struct aac_config *cfg;
	const struct aac_dpkg *dpkg;
	bool enforce, scoped;
	uint32_t gen;
	struct mark marks[AAC_MAX_ENFORCE];
	size_t nmarks;

	pthread_mutex_t lock;         /* cache, queue, stats */
	struct centry cache[CACHE_SLOTS];
	struct aac_fan_report *q;
	size_t qhead, qlen;
	uint64_t lat[LAT_SAMPLES];
	size_t nlat;
	struct aac_fan_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int aac_hash_fd(int fd, char sha_hex[65], uint8_t md5[16], bool want_md5, uint64_t deadline_ns)
{
	EVP_MD_CTX *s = EVP_MD_CTX_new(), *m = want_md5 ? EVP_MD_CTX_new() : NULL;
	static __thread unsigned char buf[1 << 16];
	unsigned char d[32];
	unsigned int dl;
	off_t off = 0;
	int r = 0;

	if (!s || (want_md5 && !m)) {
		r = -ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex(s, EVP_sha256(), NULL) || (m && !EVP_DigestInit_ex(m, EVP_md5(), NULL))) {
		r = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(s, buf, n);
		if (m)
			EVP_DigestUpdate(m, buf, n);
		off += n;
		if (deadline_ns && mono_ns() > deadline_ns) {
			r = -ETIMEDOUT;
			goto out;
		}
	}
	EVP_DigestFinal_ex(s, d, &dl);
	util_hex(d, 32, sha_hex);
	if (m)
		EVP_DigestFinal_ex(m, md5, &dl);
out:
	EVP_MD_CTX_free(s);
	EVP_MD_CTX_free(m);
	return r;
}

static struct centry *cslot(struct aac_fan *f, const struct stat *st)
{
	uint64_t h = (uint64_t)st->st_dev * 0x9e3779b97f4a7c15ull ^ (uint64_t)st->st_ino * 0xc2b2ae3d27d4eb4full;

	return &f->cache[(h >> 17) % CACHE_SLOTS];
}

static bool csame(const struct centry *e, const struct stat *st)
{
	return e->valid && e->dev == st->st_dev && e->ino == st->st_ino && e->size == (uint64_t)st->st_size &&
	       e->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
	       e->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static void cinit(struct centry *e, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->valid = true;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static bool is_loader(pid_t pid)
{
	char link[PATH_MAX], exe[PATH_MAX];
	ssize_t n;
	const char *b;

	if (hostfs_proc(link, sizeof(link), "/%d/exe", (int)pid))
		return false;
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	b = strrchr(exe, '/');
	b = b ? b + 1 : exe;
	return !strncmp(b, "ld-linux", 8) || !strncmp(b, "ld.so", 5) || !strncmp(b, "ld64.so", 7) ||
	       (!strncmp(b, "ld-", 3) && strstr(b, ".so"));
}

static void proc_cgroup(pid_t pid, char *cg, size_t len, struct container_info *ci)
{
	char path[PATH_MAX], buf[4096];

	cg[0] = 0;
	memset(ci, 0, sizeof(*ci));
	if (hostfs_proc(path, sizeof(path), "/%d/cgroup", (int)pid) || util_read_small(path, buf, sizeof(buf)) <= 0)
		return;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "0::", 3)) {
			snprintf(cg, len, "%.*s", (int)strcspn(l + 3, "\n"), l + 3);
			container_from_cgroup(cg, ci);
			return;
		}
	}
}

static void queue_report(struct aac_fan *f, const struct aac_fan_report *r)
{
	uint64_t one = 1;

	pthread_mutex_lock(&f->lock);
	if (f->qlen >= QUEUE_MAX) {
		f->st.reports_dropped++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	f->q[(f->qhead + f->qlen) % QUEUE_MAX] = *r;
	f->qlen++;
	pthread_mutex_unlock(&f->lock);
	if (write(f->report_efd, &one, sizeof(one)) < 0) {
		/* the counter saturating is harmless: the reader drains the queue */
	}
}

static void respond(struct aac_fan *f, int fd, bool allow)
{
	struct fanotify_response resp = { .fd = fd, .response = allow ? FAN_ALLOW : FAN_DENY };

	while (write(f->fd, &resp, sizeof(resp)) < 0 && errno == EINTR)
		;
}

/* Decides one permission event; returns the answer.  Called with cfg_lock read-held. */
static bool decide(struct aac_fan *f, const struct fanotify_event_metadata *md, uint64_t t0,
		   struct aac_fan_report *rep, bool *report)
{
	const struct aac_config *cfg = f->cfg;
	bool exec = md->mask & FAN_OPEN_EXEC_PERM, via_loader = false, need_md5;
	uint64_t deadline = t0 + (uint64_t)cfg->decision_timeout_ms * 1000000ull;
	struct centry *e, snap;
	struct stat st;
	char link[64], cg[1024];
	struct container_info ci;
	struct aac_subject s = { 0 };
	struct aac_verdict v;
	uint8_t dbmd5[16];
	uint64_t path_h;
	ssize_t n;
	int r;

	*report = false;
	if (fstat(md->fd, &st)) {
		rep->err = -errno;
		goto error;
	}
	if (!S_ISREG(st.st_mode))
		return true;

	pthread_mutex_lock(&f->lock);
	e = cslot(f, &st);
	if (!csame(e, &st))
		cinit(e, &st);
	snap = *e;
	pthread_mutex_unlock(&f->lock);

	if (!exec) {
		STAT_INC(f, open_events);
		if (!snap.hashed && !snap.elf) {
			unsigned char mag[4];
			bool elf = pread(md->fd, mag, 4, 0) == 4 && !memcmp(mag, "\177ELF", 4);
			if (!elf) {
				/* data, not code: never ask about opening it again (until it changes) */
				if (!fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_PERM, md->fd, NULL))
					STAT_INC(f, ignore_marks);
				return true;
			}
			snap.elf = true;
		}
		via_loader = is_loader(md->pid);
	} else {
		STAT_INC(f, exec_events);
	}

	snprintf(link, sizeof(link), "/proc/self/fd/%d", md->fd);
	n = readlink(link, rep->path, sizeof(rep->path) - 1);
	rep->path[n > 0 ? n : 0] = 0;
	s.fileless = st.st_nlink == 0 || !strncmp(rep->path, "/memfd:", 7);
	s.path = rep->path;
	s.dev = st.st_dev;
	s.ino = st.st_ino;
	s.nlink = st.st_nlink;

	path_h = 1469598103934665603ull;
	for (const char *c = rep->path; *c; c++)
		path_h = (path_h ^ (unsigned char)*c) * 1099511628211ull;
	if (snap.gen == f->gen && snap.path_h == path_h && !f->scoped && !s.fileless) {
		STAT_INC(f, cache_hits);
		v.allow = snap.allow;
		v.rule = snap.rule;
		v.reason = snap.reason;
		snprintf(rep->sha256, sizeof(rep->sha256), "%s", snap.sha);
		goto decided;
	}
	STAT_INC(f, cache_misses);
	need_md5 = !s.fileless && aac_dpkg_owner(f->dpkg, rep->path, dbmd5);
	if (!snap.hashed || (need_md5 && !snap.md5_ok)) {
		r = aac_hash_fd(md->fd, snap.sha, snap.md5, need_md5, deadline);
		if (r) {
			rep->err = r;
			goto error;
		}
		snap.hashed = true;
		snap.md5_ok = need_md5;
	}
	s.sha256 = snap.sha;
	s.md5 = snap.md5_ok ? snap.md5 : NULL;
	if (f->scoped) {
		proc_cgroup(md->pid, cg, sizeof(cg), &ci);
		s.cgroup = cg;
		s.container_id = ci.id;
	}
	aac_decide(cfg, f->dpkg, &s, &v);
	snap.gen = f->gen;
	snap.path_h = path_h;
	snap.allow = v.allow;
	snap.rule = v.rule;
	snap.reason = v.reason;
	snap.verified = v.package_verified;
	snprintf(snap.package, sizeof(snap.package), "%s", v.package ? v.package : "");
	snprintf(rep->sha256, sizeof(rep->sha256), "%s", snap.sha);
	snprintf(rep->package, sizeof(rep->package), "%s", snap.package);
	rep->package_verified = v.package_verified;
	pthread_mutex_lock(&f->lock);
	if (csame(e, &st) && !s.fileless)
		*e = snap;
	pthread_mutex_unlock(&f->lock);
	/* first decision of a file allowed through package trust: the engine checks the baseline */
	if (v.allow && v.rule >= 0 && cfg->rules[v.rule].kind == AAC_RULE_PACKAGE && (exec || via_loader))
		*report = true;
decided:
	rep->fileless = s.fileless;
	rep->via_loader = via_loader;
	rep->rule = v.rule;
	rep->reason = v.reason;
	rep->allow = v.allow;
	if (v.allow) {
		/* allowed code: stop asking until the file changes (not with scoped rules,
		 * whose verdict depends on the process) */
		if (!f->scoped && !s.fileless &&
		    !fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_MASK, md->fd, NULL))
			STAT_INC(f, ignore_marks);
		return true;
	}
	if (!exec && !via_loader)
		return true;              /* reading an unlisted ELF is not running it */
	*report = true;
	return false;
error:
	rep->error = true;
	rep->allow = cfg->on_error_allow;
	rep->rule = -1;
	rep->fileless = false;
	*report = true;
	if (rep->err == -ETIMEDOUT)
		STAT_INC(f, timeouts);
	STAT_INC(f, errors);
	if (!rep->path[0]) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", md->fd);
		n = readlink(link, rep->path, sizeof(rep->path) - 1);
		rep->path[n > 0 ? n : 0] = 0;
	}
	return cfg->on_error_allow;
}

static void handle(struct aac_fan *f, const struct fanotify_event_metadata *md)
{
	static __thread struct aac_fan_report rep;
	uint64_t t0 = mono_ns();
	bool allow = true, report = false, counted = false;

	if (!(md->mask & FAN_MASK))
		return;
	if (md->pid == f->self) {
		/* vigild's own accesses (hashing, reading policy) are always allowed */
		respond(f, md->fd, true);
		pthread_mutex_lock(&f->lock);
		f->st.events++;
		f->st.self++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	rep.pid = md->pid;
	rep.rule = -1;
	pthread_rwlock_rdlock(&f->cfg_lock);
	if (f->enforce && f->cfg) {
		allow = decide(f, md, t0, &rep, &report);
		counted = true;
	}
	pthread_rwlock_unlock(&f->cfg_lock);
	respond(f, md->fd, allow);
	rep.latency_ns = mono_ns() - t0;
	rep.wall_ns = util_now_ns();
	pthread_mutex_lock(&f->lock);
	f->st.events++;
	if (allow)
		f->st.allowed++;
	else
		f->st.denied++;
	if (counted && (md->mask & FAN_OPEN_EXEC_PERM || rep.via_loader))
		f->lat[f->nlat++ % LAT_SAMPLES] = rep.latency_ns;
	pthread_mutex_unlock(&f->lock);
	if (report)
		queue_report(f, &rep);
}

static void *worker(void *arg)
{
	struct aac_fan *f = arg;
	char buf[8192] __attribute__((aligned(8)));

	for (;;) {
		struct pollfd p[2] = { { .fd = f->fd, .events = POLLIN }, { .fd = f->stop_efd, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(f->fd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		for (struct fanotify_event_metadata *md = (void *)buf; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
			if (md->vers != FANOTIFY_METADATA_VERSION || md->fd < 0)
				continue;
			handle(f, md);
			close(md->fd);
		}
	}
	return NULL;
}

struct aac_fan *aac_fan_new(unsigned nthreads)
{
	struct aac_fan *f = calloc(1, sizeof(*f));
	int e;

	if (!f)
		return NULL;
	f->fd = f->stop_efd = f->report_efd = -1;
	f->self = getpid();
	pthread_rwlock_init(&f->cfg_lock, NULL);
	pthread_mutex_init(&f->lock, NULL);
	f->q = calloc(QUEUE_MAX, sizeof(*f->q));
	if (!f->q) {
		e = ENOMEM;
		goto fail;
	}
	f->fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
			      O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (f->fd < 0) {
		e = errno;
		goto fail;
	}
	f->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->report_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_efd < 0 || f->report_efd < 0) {
		e = errno;
		goto fail;
	}
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	{
		/* decision threads take no signals: vigild's main loop handles them (signalfd) */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		for (unsigned i = 0; i < nthreads; i++) {
			if ((e = pthread_create(&f->th[i], NULL, worker, f)))
				break;
			f->nth++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e)
			goto fail;
	}
	return f;
fail:
	aac_fan_free(f);
	errno = e;
	return NULL;
}

static bool is_mount_point(const char *path)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	if (!strcmp(path, "/"))
		return true;
	snprintf(parent, sizeof(parent), "%s/..", path);
	return hostfs_stat(path, &a) == 0 && hostfs_stat(parent, &b) == 0 && (a.st_dev != b.st_dev || a.st_ino == b.st_ino);
}

static bool has_mark(const struct mark *m, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].path, path))
			return true;
	return false;
}

int aac_fan_configure(struct aac_fan *f, const struct aac_config *cfg, const struct aac_dpkg *dpkg,
		      bool enforce, char *err, size_t errlen)
{
	struct mark nm[AAC_MAX_ENFORCE];
	size_t nn = 0;
	int r = 0;

	pthread_rwlock_wrlock(&f->cfg_lock);
	/* 1. new marks first: no window in which a controlled filesystem is unchecked */
	for (size_t i = 0; enforce && i < cfg->enforce_paths.n && i < AAC_MAX_ENFORCE; i++) {
		const char *p = cfg->enforce_paths.v[i];
		struct mark *old = NULL;

		for (size_t j = 0; j < f->nmarks; j++)
			if (!strcmp(f->marks[j].path, p))
				old = &f->marks[j];
		if (old) {
			nm[nn++] = *old;
			continue;
		}
		if (!is_mount_point(p)) {
			snprintf(err, errlen, "aac: enforce path %s is not a mount point", p);
			r = -EINVAL;
			goto undo;
		}
		snprintf(nm[nn].path, sizeof(nm[nn].path), "%s", p);
		nm[nn].flags = FAN_MARK_FILESYSTEM;
		/* a filesystem mark: below a host root a mount mark would sit on our bind mount, not the host's */
		if (hostfs_fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_MASK, p)) {
			nm[nn].flags = FAN_MARK_MOUNT;
			if ((r = hostfs_fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_MASK, p))) {
				snprintf(err, errlen, "aac: cannot place a fanotify mark on %s: %s", p, strerror(-r));
				goto undo;
			}
		}
		nn++;
	}
	/* 2. the new rules, a new verdict generation, and no ignore mark from the old ones */
	f->cfg = cfg;
	f->dpkg = dpkg;
	f->enforce = enforce;
	f->scoped = false;
	for (size_t i = 0; cfg && i < cfg->nrules; i++)
		f->scoped |= cfg->rules[i].scope != AAC_SCOPE_ANY || cfg->rules[i].cgroup;
	f->gen++;
	if (!f->gen)
		f->gen = 1;
	fanotify_mark(f->fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
	/* 3. old marks that are no longer wanted */
	for (size_t j = 0; j < f->nmarks; j++)
		if (!has_mark(nm, nn, f->marks[j].path))
			hostfs_fanotify_mark(f->fd, FAN_MARK_REMOVE | f->marks[j].flags, FAN_MASK, f->marks[j].path);
	memcpy(f->marks, nm, nn * sizeof(nm[0]));
	f->nmarks = nn;
	pthread_rwlock_unlock(&f->cfg_lock);
	return 0;
undo:
	for (size_t i = 0; i < nn; i++)
		if (!has_mark(f->marks, f->nmarks, nm[i].path))
			hostfs_fanotify_mark(f->fd, FAN_MARK_REMOVE | nm[i].flags, FAN_MASK, nm[i].path);
	pthread_rwlock_unlock(&f->cfg_lock);
	return r;
}

int aac_fan_report_fd(const struct aac_fan *f)
{
	return f->report_efd;
}

int aac_fan_pop(struct aac_fan *f, struct aac_fan_report *out)
{
	uint64_t v;
	int r = -EAGAIN;

	pthread_mutex_lock(&f->lock);
	if (f->qlen) {
		*out = f->q[f->qhead];
		f->qhead = (f->qhead + 1) % QUEUE_MAX;
		if (!--f->qlen)
			f->qhead = 0;    /* restart at slot 0: only the deepest backlog's pages get touched */
		r = 0;
	}
	if (!f->qlen && read(f->report_efd, &v, sizeof(v)) < 0) {
		/* already drained */
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void aac_fan_stats(struct aac_fan *f, struct aac_fan_stats *s)
{
	static uint64_t tmp[LAT_SAMPLES];
	size_t n;

	pthread_mutex_lock(&f->lock);
	*s = f->st;
	n = f->nlat < LAT_SAMPLES ? f->nlat : LAT_SAMPLES;
	memcpy(tmp, f->lat, n * sizeof(tmp[0]));
	pthread_mutex_unlock(&f->lock);
	if (n) {
		qsort(tmp, n, sizeof(tmp[0]), cmp_u64);
		s->lat_p50_ns = tmp[n / 2];
		s->lat_p99_ns = tmp[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	}
}

void aac_fan_free(struct aac_fan *f)
{
	uint64_t one = 1;

	if (!f)
		return;
	if (f->stop_efd >= 0 && write(f->stop_efd, &one, sizeof(one)) < 0) {
		/* cannot happen with a fresh eventfd; threads would then block until the fd closes */
	}
	for (unsigned i = 0; i < f->nth; i++)
		pthread_join(f->th[i], NULL);
	/* closing the group answers FAN_ALLOW for every event still pending (fanotify_release) */
	if (f->fd >= 0)
		close(f->fd);
	if (f->stop_efd >= 0)
		close(f->stop_efd);
	if (f->report_efd >= 0)
		close(f->report_efd);
	pthread_rwlock_destroy(&f->cfg_lock);
	pthread_mutex_destroy(&f->lock);
	free(f->q);
	free(f);
}
