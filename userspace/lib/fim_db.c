/*
 * FIM entries and databases: in-memory tables indexed by path and by
 * (dev, inode), reading one name from disk, comparison, and the authenticated
 * on-disk format:
 *
 *   "VIGILFIM" | u32 version | u32 meta_len | meta (JSON) | u64 count |
 *   u64 raw_len | u64 zlen | zlib(payload) | HMAC-SHA256(key, all bytes before)
 *
 * The payload is the entries, native byte order (a database never leaves its
 * host: the host identity is in the authenticated meta and checked at load).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>
#include <zlib.h>

#include "fim.h"
#include "hostfs.h"
#include "jsonx.h"
#include "util.h"

#define DB_MAGIC       "VIGILFIM"
#define DB_VERSION     1u
#define DB_FILE_MAX    (1ull << 31)      /* bytes; refuse anything larger */
#define XATTR_TEXT_MAX 1024              /* longer xattr sets are kept as their SHA-256 */
#define NO_IDX         ((size_t)-1)

struct fim_db {
	struct fim_entry *e;
	size_t n, cap, live;
	size_t *pidx;                /* open addressing: entry index + 1, 0 = empty, path hash */
	size_t pcap;
	size_t *iidx;                /* (dev, ino) -> first entry index + 1; chain via next_ino */
	size_t icap;
	size_t dead;
	struct fim_db_meta meta;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;          /* FNV-1a 64 */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static uint64_t hash_ino(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ (dev + 0x632BE59BD9B4E019ull);

	return h ^ (h >> 29);
}

struct fim_db *fim_db_new(void)
{
	return calloc(1, sizeof(struct fim_db));
}

void fim_entry_clear(struct fim_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->link);
	free(e->xattrs);
	e->path = e->link = e->xattrs = NULL;
}

void fim_db_free(struct fim_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++)
		fim_entry_clear(&db->e[i]);
	free(db->e);
	free(db->pidx);
	free(db->iidx);
	free(db);
}

struct fim_db_meta *fim_db_meta(struct fim_db *db)
{
	return &db->meta;
}

size_t fim_db_count(const struct fim_db *db)
{
	return db->live;
}

struct fim_entry *fim_db_next(struct fim_db *db, size_t *i)
{
	while (*i < db->n) {
		struct fim_entry *e = &db->e[(*i)++];
		if (!e->dead)
			return e;
	}
	return NULL;
}

/* Rebuilds both indexes for cap entries; drops dead entries first when many. */
static int reindex(struct fim_db *db, size_t want)
{
	size_t pcap = 64, icap;
	size_t *p, *q;

	if (db->dead > 64 && db->dead > db->n / 2) {
		size_t k = 0;
		for (size_t i = 0; i < db->n; i++) {
			if (db->e[i].dead)
				fim_entry_clear(&db->e[i]);
			else
				db->e[k++] = db->e[i];
		}
		db->n = k;
		db->dead = 0;
	}
	while (pcap < want * 2)
		pcap <<= 1;
	icap = pcap;
	p = calloc(pcap, sizeof(*p));
	q = calloc(icap, sizeof(*q));
	if (!p || !q) {
		free(p);
		free(q);
		return -ENOMEM;
	}
	free(db->pidx);
	free(db->iidx);
	db->pidx = p;
	db->pcap = pcap;
	db->iidx = q;
	db->icap = icap;
	for (size_t i = 0; i < db->n; i++) {
		struct fim_entry *e = &db->e[i];
		size_t h;

		e->next_ino = NO_IDX;
		if (e->dead)
			continue;
		for (h = hash_str(e->path) & (pcap - 1); p[h]; h = (h + 1) & (pcap - 1))
			;
		p[h] = i + 1;
		if (e->ino) {
			/* chain: one slot per (dev, ino), linear probing on collisions */
			for (h = hash_ino(e->dev, e->ino) & (icap - 1); q[h]; h = (h + 1) & (icap - 1)) {
				struct fim_entry *f = &db->e[q[h] - 1];
				if (f->dev == e->dev && f->ino == e->ino)
					break;
			}
			if (q[h])
				e->next_ino = q[h] - 1;
			q[h] = i + 1;
		}
	}
	return 0;
}

static size_t find_idx(struct fim_db *db, const char *path)
{
	if (!db->pcap)
		return NO_IDX;
	for (size_t h = hash_str(path) & (db->pcap - 1); db->pidx[h]; h = (h + 1) & (db->pcap - 1)) {
		size_t i = db->pidx[h] - 1;
		if (!db->e[i].dead && !strcmp(db->e[i].path, path))
			return i;
	}
	return NO_IDX;
}

struct fim_entry *fim_db_find(struct fim_db *db, const char *path)
{
	size_t i = find_idx(db, path);

	return i == NO_IDX ? NULL : &db->e[i];
}

static int copy_entry(struct fim_entry *d, const struct fim_entry *s)
{
	*d = *s;
	d->dead = false;
	d->next_ino = NO_IDX;
	d->path = strdup(s->path);
	d->link = s->link ? strdup(s->link) : NULL;
	d->xattrs = s->xattrs ? strdup(s->xattrs) : NULL;
	if (!d->path || (s->link && !d->link) || (s->xattrs && !d->xattrs)) {
		fim_entry_clear(d);
		return -ENOMEM;
	}
	return 0;
}

int fim_db_put(struct fim_db *db, const struct fim_entry *src)
{
	size_t i = find_idx(db, src->path);
	struct fim_entry tmp;
	int r;

	if ((r = copy_entry(&tmp, src)))
		return r;
	if (i != NO_IDX) {
		struct fim_entry *e = &db->e[i];

		if (e->dev == tmp.dev && e->ino == tmp.ino) {
			tmp.next_ino = e->next_ino;
			fim_entry_clear(e);
			*e = tmp;
			return 0;
		}
		/* another inode: retire the old slot, append (both indexes stay valid) */
		e->dead = true;
		db->live--;
		db->dead++;
	}
	if (db->n == db->cap) {
		size_t nc = db->cap ? db->cap * 2 : 256;
		struct fim_entry *ne = realloc(db->e, nc * sizeof(*ne));

		if (!ne) {
			fim_entry_clear(&tmp);
			return -ENOMEM;
		}
		db->e = ne;
		db->cap = nc;
	}
	db->e[db->n++] = tmp;
	db->live++;
	if (db->n * 2 > db->pcap)
		return reindex(db, db->cap);
	/* incremental insert */
	{
		struct fim_entry *e = &db->e[db->n - 1];
		size_t h, k = db->n;

		for (h = hash_str(e->path) & (db->pcap - 1); db->pidx[h]; h = (h + 1) & (db->pcap - 1))
			;
		db->pidx[h] = k;
		if (e->ino) {
			for (h = hash_ino(e->dev, e->ino) & (db->icap - 1); db->iidx[h]; h = (h + 1) & (db->icap - 1)) {
				struct fim_entry *f = &db->e[db->iidx[h] - 1];
				if (f->dev == e->dev && f->ino == e->ino)
					break;
			}
			if (db->iidx[h])
				e->next_ino = db->iidx[h] - 1;
			db->iidx[h] = k;
		}
	}
	return 0;
}

int fim_db_del(struct fim_db *db, const char *path)
{
	size_t i = find_idx(db, path);

	if (i == NO_IDX)
		return -ENOENT;
	db->e[i].dead = true;
	db->live--;
	db->dead++;
	/* dead entries stay in the chains (skipped) until the next reindex */
	return 0;
}

size_t fim_db_by_inode(struct fim_db *db, uint64_t dev, uint64_t ino,
		       void (*fn)(void *ctx, struct fim_entry *e), void *ctx)
{
	size_t n = 0, h;

	if (!db->icap || !ino)
		return 0;
	for (h = hash_ino(dev, ino) & (db->icap - 1); db->iidx[h]; h = (h + 1) & (db->icap - 1)) {
		struct fim_entry *f = &db->e[db->iidx[h] - 1];
		if (f->dev == dev && f->ino == ino)
			break;
	}
	if (!db->iidx[h])
		return 0;
	for (size_t i = db->iidx[h] - 1; i != NO_IDX; i = db->e[i].next_ino) {
		struct fim_entry *e = &db->e[i];
		if (e->dead || e->dev != dev || e->ino != ino)
			continue;
		n++;
		if (fn)
			fn(ctx, e);
	}
	return n;
}

/* ---------- reading one name ---------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name=base64,..." sorted by name; "sha256:<hex>" when longer than XATTR_TEXT_MAX. */
static char *read_xattrs(const char *path)
{
	char names[8192], *v[128], *out = NULL;
	ssize_t n = hostfs_llistxattr(path, names, sizeof(names));
	size_t nv = 0, len = 0, cap = 0;

	if (n <= 0)
		return NULL;
	for (char *p = names; p < names + n && nv < 128; p += strlen(p) + 1)
		v[nv++] = p;
	qsort(v, nv, sizeof(*v), cmp_str);
	for (size_t i = 0; i < nv; i++) {
		unsigned char val[4096];
		ssize_t m = hostfs_lgetxattr(path, v[i], val, sizeof(val));
		char *b64;
		size_t need;

		if (m < 0)
			continue;
		b64 = jsonx_base64(val, (size_t)m);
		if (!b64)
			break;
		need = strlen(v[i]) + strlen(b64) + 3;
		if (len + need > cap) {
			char *no = realloc(out, cap = (len + need) * 2);
			if (!no) {
				free(b64);
				break;
			}
			out = no;
		}
		len += sprintf(out + len, "%s%s=%s", len ? "," : "", v[i], b64);
		free(b64);
	}
	if (out && len > XATTR_TEXT_MAX) {
		unsigned char md[32];
		char *h = malloc(7 + 65);
		unsigned int mdlen;

		EVP_Digest(out, len, md, &mdlen, EVP_sha256(), NULL);
		if (h) {
			strcpy(h, "sha256:");
			util_hex(md, 32, h + 7);
		}
		free(out);
		out = h;
	}
	return out;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

static void fill_stat(struct fim_entry *e, const struct stat *st)
{
	e->dev = util_dev_to_kdev(st->st_dev);
	e->ino = st->st_ino;
	e->size = (uint64_t)st->st_size;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->ctime_ns = ts_ns(&st->st_ctim);
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->nlink = (uint32_t)st->st_nlink;
}

/* Hashes an open regular file into e->sha with buf as I/O buffer. 0 or -errno. */
static int hash_fd(int fd, unsigned char *buf, size_t buflen, EVP_MD_CTX *ctx, uint8_t sha[32])
{
	unsigned int mdlen;

	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		return -EIO;
	for (;;) {
		ssize_t n = read(fd, buf, buflen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	if (!EVP_DigestFinal_ex(ctx, sha, &mdlen))
		return -EIO;
	return 0;
}

int fim_entry_read_buf(const char *path, bool hash, struct fim_entry *e,
		       unsigned char *buf, size_t buflen, EVP_MD_CTX *ctx)
{
	struct stat st;
	int r;

	memset(e, 0, sizeof(*e));
	e->next_ino = NO_IDX;
	if ((r = hostfs_lstat(path, &st)))
		return r;
	if (!(e->path = strdup(path)))
		return -ENOMEM;
	fill_stat(e, &st);
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = hostfs_readlink(path, t, sizeof(t));
		if (n >= 0)
			e->link = strdup(t);
		else
			e->err = (int)-n;
	}
	e->xattrs = read_xattrs(path);
	if (hash && S_ISREG(st.st_mode)) {
		/* O_NONBLOCK: a FIFO swapped in after lstat must not hang the scan */
		int fd = hostfs_open(path, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK, 0);
		if (fd == -EPERM)
			fd = hostfs_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
		if (fd < 0) {
			e->err = -fd;
			return 0;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
			r = hash_fd(fd, buf, buflen, ctx, e->sha);
			if (r)
				e->err = -r;
			else
				e->flags |= FIM_E_HASHED;
			/* what was hashed is what the entry describes */
			if (fstat(fd, &st) == 0)
				fill_stat(e, &st);
		}
		close(fd);
	}
	return 0;
}

int fim_entry_read(const char *path, bool hash, struct fim_entry *e)
{
	size_t len = 256 * 1024;
	unsigned char *buf = hash ? malloc(len) : NULL;
	EVP_MD_CTX *ctx = hash ? EVP_MD_CTX_new() : NULL;
	int r;

	if (hash && (!buf || !ctx)) {
		free(buf);
		EVP_MD_CTX_free(ctx);
		memset(e, 0, sizeof(*e));
		return -ENOMEM;
	}
	r = fim_entry_read_buf(path, hash, e, buf, len, ctx);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* ---------- comparison ---------- */

static bool str_ne(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

unsigned fim_entry_diff(const struct fim_entry *a, const struct fim_entry *b, unsigned attrs)
{
	unsigned d = 0;

	if ((a->mode & S_IFMT) != (b->mode & S_IFMT))
		d |= FIM_A_TYPE;
	if ((a->mode & 07777) != (b->mode & 07777))
		d |= FIM_A_MODE;
	if (a->uid != b->uid)
		d |= FIM_A_UID;
	if (a->gid != b->gid)
		d |= FIM_A_GID;
	if (!S_ISDIR(a->mode) && !S_ISDIR(b->mode) && a->size != b->size)
		d |= FIM_A_SIZE;
	if ((a->flags & FIM_E_HASHED) && (b->flags & FIM_E_HASHED) && memcmp(a->sha, b->sha, 32))
		d |= FIM_A_SHA256;
	if (str_ne(a->link, b->link))
		d |= FIM_A_LINK;
	if (a->ino != b->ino || a->dev != b->dev)
		d |= FIM_A_INODE;
	if (str_ne(a->xattrs, b->xattrs))
		d |= FIM_A_XATTRS;
	return d & (attrs | FIM_A_TYPE);
}

const char *fim_classify(const struct fim_entry *before, const struct fim_entry *after,
			 unsigned attrs, unsigned *changed)
{
	if (before && (before->flags & FIM_E_ABSENT))
		before = NULL;
	if (after && (after->flags & FIM_E_ABSENT))
		after = NULL;
	*changed = 0;
	if (!before && !after)
		return NULL;
	if (!before) {
		*changed = attrs | FIM_A_TYPE;
		return "added";
	}
	if (!after) {
		*changed = attrs | FIM_A_TYPE;
		return "deleted";
	}
	*changed = fim_entry_diff(before, after, attrs);
	if (!*changed)
		return NULL;
	if (*changed & (FIM_A_INODE | FIM_A_TYPE))
		return "replaced";
	if (*changed & (FIM_A_SHA256 | FIM_A_SIZE | FIM_A_LINK))
		return "modified";
	return "metadata";
}

static const char *type_str(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "char_device";
	case S_IFBLK: return "block_device";
	default: return "unknown";
	}
}

json_t *fim_attr_json(const struct fim_entry *e, unsigned bit)
{
	char buf[80];

	if (!e || (e->flags & FIM_E_ABSENT))
		return json_null();
	switch (bit) {
	case FIM_A_SHA256:
		if (!(e->flags & FIM_E_HASHED))
			return json_null();
		util_hex(e->sha, 32, buf);
		return json_string(buf);
	case FIM_A_MODE:
		snprintf(buf, sizeof(buf), "%04o", e->mode & 07777);
		return json_string(buf);
	case FIM_A_UID: return json_integer(e->uid);
	case FIM_A_GID: return json_integer(e->gid);
	case FIM_A_SIZE: return json_integer((json_int_t)e->size);
	case FIM_A_LINK: return e->link ? jsonx_string_bytes(e->link, strlen(e->link), NULL) : json_null();
	case FIM_A_INODE: return json_integer((json_int_t)e->ino);
	case FIM_A_XATTRS: return e->xattrs ? json_string(e->xattrs) : json_null();
	case FIM_A_TYPE: return json_string(type_str(e->mode));
	}
	return json_null();
}

json_t *fim_changes_json(const struct fim_entry *before, const struct fim_entry *after, unsigned changed)
{
	json_t *o = json_object();

	for (unsigned bit = 1; bit <= FIM_A_TYPE; bit <<= 1) {
		json_t *b, *a;

		if (!(changed & bit))
			continue;
		b = fim_attr_json(before, bit);
		a = fim_attr_json(after, bit);
		if (json_is_null(b) && json_is_null(a)) {
			/* e.g. no content hash on either side of a symlink: nothing to show */
			json_decref(b);
			json_decref(a);
			continue;
		}
		json_object_set_new(o, fim_attr_name(bit), json_pack("{s:o, s:o}", "before", b, "after", a));
	}
	return o;
}

static bool in_scope(const char *path, const char *const *scope, size_t n)
{
	if (!scope)
		return true;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(scope[i]);
		if (!strcmp(path, scope[i]) ||
		    (!strncmp(path, scope[i], l) && (path[l] == '/' || (l == 1 && scope[i][0] == '/'))))
			return true;
	}
	return false;
}

size_t fim_compare(const struct fim_config *cfg, struct fim_db *ref, struct fim_db *cur,
		   const char *const *scope, size_t nscope,
		   void (*fn)(void *ctx, const struct fim_diff *d), void *ctx)
{
	struct fim_entry *e;
	size_t i = 0, n = 0;

	while ((e = fim_db_next(ref, &i))) {
		struct fim_entry *c;
		struct fim_diff d = { .path = e->path, .before = e };
		int s;

		if (!in_scope(e->path, scope, nscope) || (s = fim_spec_match(cfg, e->path)) < 0)
			continue;
		c = fim_db_find(cur, e->path);
		d.after = c;
		d.spec = s;
		if (!(d.kind = fim_classify(e, c, cfg->specs[s].attrs, &d.changed)))
			continue;
		n++;
		if (fn)
			fn(ctx, &d);
	}
	i = 0;
	while ((e = fim_db_next(cur, &i))) {
		struct fim_diff d = { .path = e->path, .after = e };
		int s;

		if (fim_db_find(ref, e->path) || !in_scope(e->path, scope, nscope) ||
		    (s = fim_spec_match(cfg, e->path)) < 0)
			continue;
		d.spec = s;
		if (!(d.kind = fim_classify(NULL, e, cfg->specs[s].attrs, &d.changed)))
			continue;
		n++;
		if (fn)
			fn(ctx, &d);
	}
	return n;
}

/* ---------- host identity and key ---------- */

void fim_host_identity(char machine_id[64], char hostname[256])
{
	struct utsname un;
	FILE *f = hostfs_fopen("/etc/machine-id");

	machine_id[0] = 0;
	if (f) {
		if (fgets(machine_id, 64, f))
			machine_id[strcspn(machine_id, "\n")] = 0;
		fclose(f);
	}
	hostname[0] = 0;
	if (uname(&un) == 0)
		snprintf(hostname, 256, "%s", un.nodename);
}

int fim_key_load(const char *path, bool create, uint8_t key[32])
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (getrandom(key, 32, 0) != 32 || write(fd, key, 32) != 32 || fsync(fd)) {
			int e = errno ? errno : EIO;
			close(fd);
			unlink(path);
			return -e;
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != 0) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, key, 32);
	close(fd);
	return n == 32 ? 0 : -EBADMSG;
}

/* ---------- save / load ---------- */

struct buf {
	unsigned char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 65536;
		unsigned char *np;
		while (nc < b->n + n)
			nc *= 2;
		if (!(np = realloc(b->p, nc))) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

static void put_str(struct buf *b, const char *s)
{
	put_u32(b, s ? (uint32_t)strlen(s) : UINT32_MAX);
	if (s)
		put(b, s, strlen(s));
}

int fim_db_save(struct fim_db *db, const char *path, const uint8_t key[32])
{
	struct buf raw = { 0 }, out = { 0 };
	struct fim_entry *e;
	size_t i = 0;
	uLongf zlen;
	unsigned char md[32], *z = NULL;
	unsigned int mdlen;
	json_t *meta;
	char *ms = NULL;
	int r = 0;

	db->meta.saved_ns = util_now_ns();
	while ((e = fim_db_next(db, &i))) {
		put_str(&raw, e->path);
		put_str(&raw, e->link);
		put_str(&raw, e->xattrs);
		put_u64(&raw, e->dev);
		put_u64(&raw, e->ino);
		put_u64(&raw, e->size);
		put_u64(&raw, (uint64_t)e->mtime_ns);
		put_u64(&raw, (uint64_t)e->ctime_ns);
		put_u32(&raw, e->mode);
		put_u32(&raw, e->uid);
		put_u32(&raw, e->gid);
		put_u32(&raw, e->nlink);
		put_u32(&raw, e->flags);
		put_u32(&raw, (uint32_t)e->err);
		put(&raw, e->sha, 32);
	}
	meta = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "specs", db->meta.specs,
			 "machine_id", db->meta.machine_id,
			 "hostname", db->meta.hostname, "created_ns", (json_int_t)db->meta.created_ns,
			 "updated_ns", (json_int_t)db->meta.updated_ns, "saved_ns", (json_int_t)db->meta.saved_ns,
			 "entries", (json_int_t)db->live);
	ms = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	zlen = compressBound(raw.n);
	z = malloc(zlen);
	if (raw.oom || !ms || !z) {
		r = -ENOMEM;
		goto out;
	}
	if (compress2(z, &zlen, raw.p ? raw.p : (unsigned char *)"", raw.n, 1) != Z_OK) {
		r = -EIO;
		goto out;
	}
	put(&out, DB_MAGIC, 8);
	put_u32(&out, DB_VERSION);
	put_u32(&out, (uint32_t)strlen(ms));
	put(&out, ms, strlen(ms));
	put_u64(&out, db->live);
	put_u64(&out, raw.n);
	put_u64(&out, zlen);
	put(&out, z, zlen);
	if (out.oom) {
		r = -ENOMEM;
		goto out;
	}
	if (!HMAC(EVP_sha256(), key, 32, out.p, out.n, md, &mdlen)) {
		r = -EIO;
		goto out;
	}
	put(&out, md, 32);
	r = out.oom ? -ENOMEM : util_write_file_atomic(path, out.p, out.n, 0600);
out:
	free(raw.p);
	free(out.p);
	free(z);
	free(ms);
	return r;
}

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static void get(struct rd *r, void *d, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(d, 0, n);
		return;
	}
	memcpy(d, r->p, n);
	r->p += n;
}

static uint32_t get_u32(struct rd *r) { uint32_t v; get(r, &v, 4); return v; }
static uint64_t get_u64(struct rd *r) { uint64_t v; get(r, &v, 8); return v; }

static char *get_str(struct rd *r, bool *fail)
{
	uint32_t n = get_u32(r);
	char *s;

	if (r->bad || n == UINT32_MAX)
		return NULL;
	if (n > PATH_MAX * 4 || (size_t)(r->end - r->p) < n || memchr(r->p, 0, n)) {
		r->bad = true;
		return NULL;
	}
	if (!(s = strndup((const char *)r->p, n))) {
		*fail = true;
		return NULL;
	}
	r->p += n;
	return s;
}

int fim_db_load(const char *path, const uint8_t key[32], struct fim_db **out)
{
	size_t len = 0;
	unsigned char *data = (unsigned char *)util_read_file(path, DB_FILE_MAX, &len);
	unsigned char md[32], *raw = NULL;
	unsigned int mdlen;
	struct rd rd;
	struct fim_db *db = NULL;
	json_t *meta = NULL;
	uint32_t mlen;
	uint64_t count, rawlen, zlen;
	char mid[64], host[256];
	bool oom = false;
	int r = -EBADMSG;

	*out = NULL;
	if (!data)
		return errno == EFBIG ? -EBADMSG : -errno;
	if (len < 8 + 4 + 4 + 24 + 32 || memcmp(data, DB_MAGIC, 8))
		goto out;
	if (!HMAC(EVP_sha256(), key, 32, data, len - 32, md, &mdlen) || CRYPTO_memcmp(md, data + len - 32, 32))
		goto out;
	rd = (struct rd){ data + 8, data + len - 32, false };
	if (get_u32(&rd) != DB_VERSION)
		goto out;
	mlen = get_u32(&rd);
	if (rd.bad || mlen > (size_t)(rd.end - rd.p))
		goto out;
	meta = json_loadb((const char *)rd.p, mlen, 0, NULL);
	rd.p += mlen;
	count = get_u64(&rd);
	rawlen = get_u64(&rd);
	zlen = get_u64(&rd);
	if (!meta || rd.bad || zlen != (uint64_t)(rd.end - rd.p) || rawlen > (1ull << 32))
		goto out;
	if (!(db = fim_db_new()) || !(raw = malloc(rawlen ? rawlen : 1))) {
		r = -ENOMEM;
		goto out;
	}
	{
		uLongf rl = rawlen;
		if (uncompress(raw, &rl, rd.p, zlen) != Z_OK || rl != rawlen)
			goto out;
	}
	snprintf(db->meta.machine_id, sizeof(db->meta.machine_id), "%s",
		 json_string_value(json_object_get(meta, "machine_id")) ?: "");
	snprintf(db->meta.hostname, sizeof(db->meta.hostname), "%s",
		 json_string_value(json_object_get(meta, "hostname")) ?: "");
	snprintf(db->meta.specs, sizeof(db->meta.specs), "%s",
		 json_string_value(json_object_get(meta, "specs")) ?: "");
	db->meta.created_ns = (uint64_t)json_integer_value(json_object_get(meta, "created_ns"));
	db->meta.updated_ns = (uint64_t)json_integer_value(json_object_get(meta, "updated_ns"));
	db->meta.saved_ns = (uint64_t)json_integer_value(json_object_get(meta, "saved_ns"));
	rd = (struct rd){ raw, raw + rawlen, false };
	for (uint64_t k = 0; k < count; k++) {
		struct fim_entry e = { 0 };

		e.path = get_str(&rd, &oom);
		e.link = get_str(&rd, &oom);
		e.xattrs = get_str(&rd, &oom);
		e.dev = get_u64(&rd);
		e.ino = get_u64(&rd);
		e.size = get_u64(&rd);
		e.mtime_ns = (int64_t)get_u64(&rd);
		e.ctime_ns = (int64_t)get_u64(&rd);
		e.mode = get_u32(&rd);
		e.uid = get_u32(&rd);
		e.gid = get_u32(&rd);
		e.nlink = get_u32(&rd);
		e.flags = get_u32(&rd);
		e.err = (int32_t)get_u32(&rd);
		get(&rd, e.sha, 32);
		if (rd.bad || oom || !e.path || fim_db_put(db, &e)) {
			fim_entry_clear(&e);
			r = oom ? -ENOMEM : -EBADMSG;
			goto out;
		}
		fim_entry_clear(&e);
	}
	if (rd.p != rd.end)
		goto out;
	fim_host_identity(mid, host);
	if (strcmp(mid, db->meta.machine_id) || strcmp(host, db->meta.hostname)) {
		r = -EXDEV;
		goto out;
	}
	*out = db;
	db = NULL;
	r = 0;
out:
	json_decref(meta);
	free(raw);
	free(data);
	fim_db_free(db);
	return r;
}
