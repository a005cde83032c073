/* cgroup v2 id -> path.  See cgroups.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "cgroups.h"
#include "paths.h"

#define CG_MAX_ENTRIES 65536
#define CG_MAX_DEPTH   16
#define CG_RESCAN_NS   (100ull * 1000000ull)   /* a new container's cgroup is found within 100 ms */

struct cgent {
	uint64_t id;
	char *path;
};

struct cgroups {
	char root[PATH_MAX];
	struct cgent *e;
	size_t n, cap;
	uint64_t last_scan;      /* CLOCK_MONOTONIC ns */
};

static bool is_cgroup2(const char *p)
{
	struct statfs sf;

	return statfs(p, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

static void clear(struct cgroups *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].path);
	c->n = 0;
}

static void add(struct cgroups *c, uint64_t id, const char *rel)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		if (ncap > CG_MAX_ENTRIES)
			return;
		struct cgent *ne = realloc(c->e, ncap * sizeof(*ne));
		if (!ne)
			return;
		c->e = ne;
		c->cap = ncap;
	}
	c->e[c->n].id = id;
	c->e[c->n].path = strdup(*rel ? rel : "/");
	if (c->e[c->n].path)
		c->n++;
}

static void walk(struct cgroups *c, const char *abs, const char *rel, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (depth > CG_MAX_DEPTH || stat(abs, &st))
		return;
	add(c, st.st_ino, rel);
	d = opendir(abs);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char a[PATH_MAX], r[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(a, sizeof(a), "%s/%s", abs, de->d_name) >= (int)sizeof(a) ||
		    snprintf(r, sizeof(r), "%s/%s", rel, de->d_name) >= (int)sizeof(r))
			continue;
		walk(c, a, r, depth + 1);
	}
	closedir(d);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void rescan(struct cgroups *c)
{
	clear(c);
	walk(c, c->root, "", 0);
	c->last_scan = mono_ns();
}

struct cgroups *cgroups_new(const char *root)
{
	static const char *const cand[] = VIGIL_CGROUP2_PATHS;
	struct cgroups *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (root) {
		snprintf(c->root, sizeof(c->root), "%s", root);
	} else {
		for (int i = 0; cand[i]; i++) {
			if (is_cgroup2(cand[i])) {
				snprintf(c->root, sizeof(c->root), "%s", cand[i]);
				break;
			}
		}
	}
	if (!c->root[0]) {
		free(c);
		errno = ENOENT;
		return NULL;
	}
	rescan(c);
	return c;
}

void cgroups_free(struct cgroups *c)
{
	if (!c)
		return;
	clear(c);
	free(c->e);
	free(c);
}

const char *cgroups_path(struct cgroups *c, uint64_t id)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->n; i++)
			if (c->e[i].id == id)
				return c->e[i].path;
		if (pass == 0) {
			if (mono_ns() - c->last_scan < CG_RESCAN_NS)
				return NULL;
			rescan(c);
		}
	}
	return NULL;
}

const char *cgroups_root(const struct cgroups *c)
{
	return c->root;
}
