/*
 * FIM scans: walk the watch specs (single thread: directory reads are cheap
 * next to hashing), then hash on one worker thread per core, each with its own
 * 256 KiB buffer and digest context, files handed out one at a time so a few
 * large files do not leave the other workers idle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "fim.h"
#include "hostfs.h"

#define HASH_BUF      (256 * 1024)
#define WARN_MAX      50           /* warnings kept per scan; the rest are counted */

struct item {
	char *path;
	uint64_t size;
};

struct walk {
	const struct fim_config *cfg;
	const char *const *skip;
	struct item *v;
	size_t n, cap;
	uint64_t max, bytes;
	bool full;                    /* the max_files bound was hit */
	json_t *warnings;
	size_t nwarn;
	uint64_t dirs;
	int err;                      /* -ENOMEM */
};

static void warn(struct walk *w, const char *fmt, const char *path, const char *why)
{
	char buf[PATH_MAX + 256];

	if (!w->warnings || ++w->nwarn > WARN_MAX)
		return;
	snprintf(buf, sizeof(buf), fmt, path, why);
	json_array_append_new(w->warnings, json_string(buf) ?: json_string("(warning not UTF-8)"));
}

static bool skipped(const struct walk *w, const char *path)
{
	for (const char *const *s = w->skip; s && *s; s++)
		if (!strcmp(*s, path))
			return true;
	return false;
}

static int add(struct walk *w, const char *path, uint64_t size)
{
	if (w->n >= w->max) {
		w->full = true;
		return -E2BIG;
	}
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 1024;
		struct item *nv = realloc(w->v, nc * sizeof(*nv));
		if (!nv)
			return w->err = -ENOMEM;
		w->v = nv;
		w->cap = nc;
	}
	if (!(w->v[w->n].path = strdup(path)))
		return w->err = -ENOMEM;
	w->v[w->n++].size = size;
	w->bytes += size;
	return 0;
}

/* Walks path (already lstat'ed into st): adds it when a spec covers it, then its
 * entries down to depth levels, staying on root_dev. */
static int walk(struct walk *w, const char *path, const struct stat *st, int depth, dev_t root_dev)
{
	DIR *d;
	struct dirent *de;
	int covered = fim_spec_match(w->cfg, path);

	if (skipped(w, path))
		return 0;
	if (covered >= 0 && add(w, path, S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0))
		return w->err ? w->err : 0;
	if (!S_ISDIR(st->st_mode) || depth == 0 || st->st_dev != root_dev)
		return 0;
	/* an excluded directory is not entered; a directory above a spec is */
	if (covered < 0) {
		bool above = false;
		size_t n = strlen(path);
		for (size_t i = 0; i < w->cfg->nspecs && !above; i++)
			above = !strncmp(w->cfg->specs[i].path, path, n) && w->cfg->specs[i].path[n] == '/';
		if (!above)
			return 0;
	}
	w->dirs++;
	if (!(d = hostfs_opendir(path))) {
		warn(w, "%s: cannot read directory: %s (the scan goes on)", path, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) && !w->full && !w->err) {
		char child[PATH_MAX];
		struct stat cst;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s%s%s", path, path[1] ? "/" : "", de->d_name) >= (int)sizeof(child)) {
			warn(w, "%s/...: %s", path, "name too long, not scanned");
			continue;
		}
		/* one name below an open directory: no symlink on the way, host root or not */
		if (fstatat(dirfd(d), de->d_name, &cst, AT_SYMLINK_NOFOLLOW))
			continue;          /* vanished */
		walk(w, child, &cst, depth < 0 ? -1 : depth - 1, root_dev);
	}
	closedir(d);
	return w->err;
}

static void walk_root(struct walk *w, const char *root, bool recursive)
{
	struct stat st;
	int r = hostfs_lstat(root, &st);

	if (r) {
		if (r == -ENOENT)
			warn(w, "%s: %s", root, FIM_MISSING_NOTE);
		else
			warn(w, "%s: %s", root, strerror(-r));
		return;
	}
	walk(w, root, &st, recursive ? -1 : 1, st.st_dev);
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

struct pool {
	struct item *v;
	struct fim_entry *out;
	int *rc;
	size_t n;
	atomic_size_t next;
	struct fim_scan_progress *prog;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	unsigned char *buf = malloc(HASH_BUF);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!buf || !ctx) {
		free(buf);
		EVP_MD_CTX_free(ctx);
		return (void *)-1;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);

		if (i >= p->n || (p->prog && p->prog->cancel))
			break;
		p->rc[i] = fim_entry_read_buf(p->v[i].path, true, &p->out[i], buf, HASH_BUF, ctx);
		if (p->prog) {
			__atomic_add_fetch(&p->prog->files_done, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&p->prog->bytes_done, p->v[i].size, __ATOMIC_RELAXED);
		}
	}
	free(buf);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int fim_scan(const struct fim_config *cfg, const char *const *scope, size_t nscope,
	     const char *const *skip, unsigned workers, struct fim_scan_progress *prog,
	     struct fim_db **out, json_t *warnings, struct fim_scan_stats *st)
{
	struct walk w = { .cfg = cfg, .skip = skip, .max = cfg->max_files, .warnings = warnings };
	struct pool p = { 0 };
	pthread_t th[256];
	unsigned nth = 0;
	struct fim_db *db = NULL;
	double t0 = now_s();
	size_t k = 0;
	int r = 0;

	*out = NULL;
	memset(st, 0, sizeof(*st));
	if (scope) {
		for (size_t i = 0; i < nscope && !w.full && !w.err; i++) {
			struct stat s;
			if (hostfs_lstat(scope[i], &s) == 0)
				walk(&w, scope[i], &s, -1, s.st_dev);
		}
	} else {
		for (size_t i = 0; i < cfg->nspecs && !w.full && !w.err; i++) {
			const struct fim_spec *sp = &cfg->specs[i];
			glob_t g;

			if (!sp->glob) {
				walk_root(&w, sp->path, sp->recursive);
				continue;
			}
			if (hostfs_glob(sp->path, GLOB_NOSORT, &g)) {
				warn(&w, "%s: %s", sp->path, FIM_NOMATCH_NOTE);
				continue;
			}
			for (size_t j = 0; j < g.gl_pathc && !w.full && !w.err; j++)
				walk_root(&w, g.gl_pathv[j], sp->recursive);
			globfree(&g);
		}
	}
	if (w.err) {
		r = w.err;
		goto out;
	}
	if (w.full) {
		char why[160];
		snprintf(why, sizeof(why), "%llu names; the rest is not watched: narrow the watch specs "
			 "or raise fim.max_files", (unsigned long long)cfg->max_files);
		st->skipped_max = 1;
		w.nwarn = 0;    /* this one always gets through */
		warn(&w, "watch specs cover more than max_files (%s): %s", "bound hit", why);
	}
	/* specs may overlap: one entry per name (qsort(NULL, 0, ...) is undefined) */
	if (w.n)
		qsort(w.v, w.n, sizeof(*w.v), cmp_item);
	for (size_t i = 0; i < w.n; i++) {
		if (k && !strcmp(w.v[k - 1].path, w.v[i].path)) {
			free(w.v[i].path);
			w.bytes -= w.v[i].size;
			continue;
		}
		w.v[k++] = w.v[i];
	}
	w.n = k;
	if (prog) {
		prog->files_total = w.n;
		prog->bytes_total = w.bytes;
		prog->phase = 1;
	}
	p.v = w.v;
	p.n = w.n;
	p.prog = prog;
	p.out = calloc(w.n ? w.n : 1, sizeof(*p.out));
	p.rc = calloc(w.n ? w.n : 1, sizeof(*p.rc));
	if (!p.out || !p.rc) {
		r = -ENOMEM;
		goto out;
	}
	if (!workers) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		workers = c > 0 ? (unsigned)c : 1;
	}
	if (workers > 256)
		workers = 256;
	if ((size_t)workers > w.n)
		workers = w.n ? (unsigned)w.n : 1;
	for (nth = 0; nth < workers; nth++)
		if (pthread_create(&th[nth], NULL, worker, &p))
			break;
	if (!nth)
		worker(&p);     /* no threads: hash here */
	for (unsigned i = 0; i < nth; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		if (ret)
			r = -ENOMEM;
	}
	if (r)
		goto out;
	if (prog && prog->cancel) {
		r = -ECANCELED;
		goto out;
	}
	if (!(db = fim_db_new())) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		struct fim_entry *e = &p.out[i];

		if (p.rc[i] == -ENOENT)
			continue;       /* vanished between the walk and the hash */
		if (p.rc[i]) {
			warn(&w, "%s: %s (the scan goes on)", w.v[i].path, strerror(-p.rc[i]));
			st->unreadable++;
			continue;
		}
		if (e->err) {
			warn(&w, "%s: unreadable: %s (the scan goes on)", w.v[i].path, strerror(e->err));
			st->unreadable++;
		}
		if (S_ISDIR(e->mode))
			st->dirs++;
		else
			st->files++;
		if (e->flags & FIM_E_HASHED)
			st->bytes += e->size;
		if ((r = fim_db_put(db, e)))
			goto out;
	}
	if (w.nwarn > WARN_MAX && warnings) {
		char buf[96];
		snprintf(buf, sizeof(buf), "%zu more warnings not shown", w.nwarn - WARN_MAX);
		json_array_append_new(warnings, json_string(buf));
	}
	*out = db;
	db = NULL;
out:
	st->seconds = now_s() - t0;
	if (prog)
		prog->phase = 2;
	for (size_t i = 0; i < w.n; i++) {
		free(w.v[i].path);
		if (p.out)
			fim_entry_clear(&p.out[i]);
	}
	free(w.v);
	free(p.out);
	free(p.rc);
	fim_db_free(db);
	return r;
}
