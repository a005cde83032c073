/*
 * dpkg database reader for AAC: which installed package owns a path, and the
 * md5 of its content as shipped.
 *
 * Formats (dpkg(1), deb-md5sums(5)): <admin>/status holds one stanza per
 * package ("Package:", "Status: install ok installed"); <admin>/info/<pkg>.list
 * lists a package's paths, one per line; <admin>/info/<pkg>.md5sums holds
 * "<32 hex>  <path without the leading '/'>".  Multi-arch packages use
 * "<pkg>:<arch>.list".
 *
 * The table keeps a 64-bit FNV-1a hash of each path, not the path: while
 * loading, every (hash, package, md5) is appended in reading order; then the
 * entries are sorted by hash, each hash keeps the package and md5 of its first
 * entry (a later md5sums line of the same package replaces the md5), and the
 * result is packed into one array of 28-byte entries (8 hash + 4 package +
 * 16 md5) with a 4096-bucket index on the hash's top bits.  A Debian desktop
 * (about 60k relevant files) costs 1.6 MB, half of a hash table at load 0.5;
 * /usr/share and /usr/include (data, not code) are left out.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac.h"
#include "hostfs.h"

#define BUCKET_BITS  12
#define SEQ_MD5      0x80000000u   /* ldent.seq: the line carried an md5 */

struct dent {
	uint64_t h;                 /* never 0 */
	uint32_t pkg;               /* index in names */
	uint8_t md5[16];            /* all zero when dpkg has none */
} __attribute__((packed));

/* One path as read, before sorting. */
struct ldent {
	uint64_t h;
	uint32_t pkg;
	uint32_t seq;               /* reading order | SEQ_MD5 */
	uint8_t md5[16];
};

struct aac_dpkg {
	struct dent *t;             /* sorted by h, unique h */
	size_t n;
	uint32_t bucket[(1u << BUCKET_BITS) + 1];   /* t[bucket[b] .. bucket[b+1]) have h >> 52 == b */
	struct ldent *l;            /* while loading */
	size_t nl, capl;
	char **names;
	size_t nnames, capnames;
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* Appends path (absolute) with md5 (may be NULL); duplicates are resolved by finish(). */
static int put(struct aac_dpkg *d, const char *path, size_t n, uint32_t pkg, const uint8_t *md5)
{
	struct ldent *e;

	if ((n >= 11 && !memcmp(path, "/usr/share/", 11)) || (n >= 13 && !memcmp(path, "/usr/include/", 13)))
		return 0;
	if (d->nl >= SEQ_MD5 - 1)
		return -E2BIG;
	if (d->nl == d->capl) {
		size_t nc = d->capl ? d->capl * 2 : 1 << 14;
		struct ldent *nl = realloc(d->l, nc * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		d->l = nl;
		d->capl = nc;
	}
	e = &d->l[d->nl];
	e->h = fnv1a(path, n);
	e->pkg = pkg;
	e->seq = (uint32_t)d->nl++ | (md5 ? SEQ_MD5 : 0);
	if (md5)
		memcpy(e->md5, md5, 16);
	else
		memset(e->md5, 0, 16);
	return 0;
}

static int ldent_cmp(const void *a, const void *b)
{
	const struct ldent *x = a, *y = b;
	uint32_t sx = x->seq & ~SEQ_MD5, sy = y->seq & ~SEQ_MD5;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return sx < sy ? -1 : sx > sy;
}

/* Sorts what put() collected into the packed table, in place: the first entry of a
 * hash gives its package and md5, and a later entry of the same package with an md5
 * replaces the md5 (what a hash table filled md5sums-first, then .list, answers). */
static void finish(struct aac_dpkg *d)
{
	size_t i = 0, k = 0;

	if (d->nl)      /* an empty database: d->l is NULL, and qsort(NULL, 0, ...) is undefined */
		qsort(d->l, d->nl, sizeof(*d->l), ldent_cmp);
	/* dent k (28 bytes) never reaches ldent j >= k + 1 (32 bytes each): safe in place */
	while (i < d->nl) {
		struct dent o = { .h = d->l[i].h, .pkg = d->l[i].pkg };
		size_t j;

		memcpy(o.md5, d->l[i].md5, 16);
		for (j = i + 1; j < d->nl && d->l[j].h == o.h; j++)
			if ((d->l[j].seq & SEQ_MD5) && d->l[j].pkg == o.pkg)
				memcpy(o.md5, d->l[j].md5, 16);
		memcpy((struct dent *)(void *)d->l + k++, &o, sizeof(o));
		i = j;
	}
	d->n = k;
	d->t = (struct dent *)(void *)d->l;
	d->l = NULL;
	d->nl = d->capl = 0;
	if (k) {
		struct dent *t = realloc(d->t, k * sizeof(*t));
		if (t)
			d->t = t;
	} else {
		free(d->t);
		d->t = NULL;
	}
	for (size_t b = 0, x = 0; b <= 1u << BUCKET_BITS; b++) {
		while (x < k && (d->t[x].h >> (64 - BUCKET_BITS)) < b)
			x++;
		d->bucket[b] = (uint32_t)x;
	}
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static int add_name(struct aac_dpkg *d, const char *name, uint32_t *idx)
{
	if (d->nnames == d->capnames) {
		size_t nc = d->capnames ? d->capnames * 2 : 256;
		char **nn = realloc(d->names, nc * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		d->names = nn;
		d->capnames = nc;
	}
	if (!(d->names[d->nnames] = strdup(name)))
		return -ENOMEM;
	*idx = (uint32_t)d->nnames++;
	return 0;
}

/* Installed package names from status, as a NUL-separated list; NULL when unreadable. */
static char *read_installed(const char *admin, size_t *len)
{
	char path[4200], *line = NULL, pkg[256] = "";
	size_t cap = 0, n = 0, bcap = 4096;
	char *out = malloc(bcap);
	FILE *f;

	snprintf(path, sizeof(path), "%s/status", admin);
	f = hostfs_fopen(path);
	if (!f || !out) {
		if (f)
			fclose(f);
		free(out);
		return NULL;
	}
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			pkg[0] = 0;
		else if (!strncmp(line, "Package: ", 9))
			snprintf(pkg, sizeof(pkg), "%s", line + 9);
		else if (!strncmp(line, "Status: ", 8) && pkg[0] && strstr(line, " installed") &&
			 !strstr(line, "not-installed") && !strstr(line, "config-files")) {
			size_t l = strlen(pkg) + 1;
			if (n + l > bcap) {
				char *nb = realloc(out, (bcap = (n + l) * 2));
				if (!nb)
					break;
				out = nb;
			}
			memcpy(out + n, pkg, l);
			n += l;
		}
	}
	free(line);
	fclose(f);
	*len = n;
	return out;
}

static bool in_list(const char *list, size_t len, const char *name)
{
	for (size_t o = 0; o < len; o += strlen(list + o) + 1)
		if (!strcmp(list + o, name))
			return true;
	return false;
}

static int read_pkg(struct aac_dpkg *d, const char *info, const char *file, uint32_t idx, bool md5s)
{
	char path[4400], *line = NULL, abs[4096];
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "%s/%s", info, file);
	if (!(f = hostfs_fopen(path)))
		return 0;
	while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (md5s) {
			uint8_t md5[16];
			bool ok = n > 34 && line[32] == ' ';
			for (int i = 0; ok && i < 32; i++)
				ok = isxdigit((unsigned char)line[i]);
			if (!ok)
				continue;
			for (int i = 0; i < 16; i++)
				md5[i] = (uint8_t)(hexval(line[2 * i]) << 4 | hexval(line[2 * i + 1]));
			const char *p = line + 33;
			while (*p == ' ' || *p == '*')
				p++;
			int l = snprintf(abs, sizeof(abs), "/%s", p);
			if (l > 1 && (size_t)l < sizeof(abs))
				r = put(d, abs, l, idx, md5);
		} else if (line[0] == '/') {
			r = put(d, line, n, idx, NULL);
		}
	}
	free(line);
	fclose(f);
	return r;
}

struct aac_dpkg *aac_dpkg_load(const char *admin_dir)
{
	struct aac_dpkg *d = calloc(1, sizeof(*d));
	char info[4096];
	size_t ilen = 0;
	char *installed = NULL;
	struct dirent *de;
	DIR *dir = NULL;
	int e = 0;

	if (!d)
		return NULL;
	snprintf(info, sizeof(info), "%s/info", admin_dir);
	if (!(dir = hostfs_opendir(info))) {
		e = errno;
		goto fail;
	}
	installed = read_installed(admin_dir, &ilen);
	/* md5sums first, so entries carry the md5; then .list adds files without one */
	for (int pass = 0; pass < 2 && !e; pass++) {
		const char *ext = pass == 0 ? ".md5sums" : ".list";
		rewinddir(dir);
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name), el = strlen(ext);
			char name[256];
			uint32_t idx = UINT32_MAX;

			if (l <= el || l - el >= sizeof(name) || strcmp(de->d_name + l - el, ext))
				continue;
			memcpy(name, de->d_name, l - el);
			name[l - el] = 0;
			name[strcspn(name, ":")] = 0;          /* "libc6:amd64" -> "libc6" */
			if (installed && !in_list(installed, ilen, name))
				continue;
			for (size_t i = 0; i < d->nnames; i++)
				if (!strcmp(d->names[i], name)) {
					idx = (uint32_t)i;
					break;
				}
			if (idx == UINT32_MAX && add_name(d, name, &idx)) {
				e = ENOMEM;
				break;
			}
			if (read_pkg(d, info, de->d_name, idx, pass == 0)) {
				e = ENOMEM;
				break;
			}
		}
	}
	if (e)
		goto fail;
	finish(d);
	closedir(dir);
	free(installed);
	return d;
fail:
	if (dir)
		closedir(dir);
	free(installed);
	aac_dpkg_free(d);
	errno = e ? e : ENOMEM;
	return NULL;
}

void aac_dpkg_free(struct aac_dpkg *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nnames; i++)
		free(d->names[i]);
	free(d->names);
	free(d->t);
	free(d->l);
	free(d);
}

static const char *lookup(const struct aac_dpkg *d, const char *path, size_t n, uint8_t md5[16])
{
	uint64_t h = fnv1a(path, n);
	size_t b = h >> (64 - BUCKET_BITS), lo = d->bucket[b], hi = d->bucket[b + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t mh = d->t[mid].h;

		if (mh == h) {
			memcpy(md5, d->t[mid].md5, 16);
			return d->names[d->t[mid].pkg];
		}
		if (mh < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *aac_dpkg_owner(const struct aac_dpkg *d, const char *path, uint8_t md5[16])
{
	/* usr-merge: /bin, /sbin, /lib* are symlinks into /usr, but dpkg may list either */
	static const char *const merged[] = { "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", NULL };
	char alt[4096];
	const char *p;
	size_t n;

	if (!d || !path)
		return NULL;
	n = strlen(path);
	if ((p = lookup(d, path, n, md5)))
		return p;
	if (!strncmp(path, "/usr/", 5)) {
		for (int i = 0; merged[i]; i++)
			if (!strncmp(path + 4, merged[i], strlen(merged[i])))
				return lookup(d, path + 4, n - 4, md5);
	} else {
		for (int i = 0; merged[i]; i++)
			if (!strncmp(path, merged[i], strlen(merged[i])) && n + 4 < sizeof(alt)) {
				snprintf(alt, sizeof(alt), "/usr%s", path);
				return lookup(d, alt, n + 4, md5);
			}
	}
	return NULL;
}

size_t aac_dpkg_files(const struct aac_dpkg *d)
{
	return d ? d->n : 0;
}

size_t aac_dpkg_packages(const struct aac_dpkg *d)
{
	return d ? d->nnames : 0;
}
