/* SHA-256 with a file-identity cache.  See hashcache.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "hashcache.h"
#include "hostfs.h"
#include "util.h"

struct hentry {
	dev_t dev;
	uint64_t ino, size;
	int64_t mtime_ns, ctime_ns;
	char hex[65];
	uint64_t used;
	bool valid;
};

struct hashcache {
	struct hentry *e;
	size_t max;
	uint64_t clock, hits, misses;
};

struct hashcache *hashcache_new(size_t max)
{
	struct hashcache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max = max ? max : 4096;
	c->e = calloc(c->max, sizeof(*c->e));
	if (!c->e) {
		free(c);
		return NULL;
	}
	return c;
}

void hashcache_free(struct hashcache *c)
{
	if (!c)
		return;
	free(c->e);
	free(c);
}

int sha256_fd(int fd, char hex[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned int mdlen = 0;
	static __thread unsigned char buf[1 << 16];
	off_t off = 0;
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		r = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, n);
		off += n;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen)) {
		r = -EIO;
		goto out;
	}
	util_hex(md, 32, hex);
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static size_t slot_of(const struct hashcache *c, dev_t dev, uint64_t ino)
{
	uint64_t h = (uint64_t)dev * 0x9e3779b97f4a7c15ull ^ ino * 0xc2b2ae3d27d4eb4full;

	return (h >> 17) % c->max;
}

int hashcache_fd(struct hashcache *c, int fd, dev_t dev, uint64_t ino, char hex[65])
{
	struct stat st;
	struct hentry *e;
	int r;

	if (fstat(fd, &st))
		return -errno;
	if ((dev && st.st_dev != dev) || (ino && st.st_ino != ino))
		return -ESTALE;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	e = &c->e[slot_of(c, st.st_dev, st.st_ino)];
	int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
	int64_t ct = (int64_t)st.st_ctim.tv_sec * 1000000000ll + st.st_ctim.tv_nsec;
	if (e->valid && e->dev == st.st_dev && e->ino == st.st_ino && e->size == (uint64_t)st.st_size &&
	    e->mtime_ns == mt && e->ctime_ns == ct) {
		memcpy(hex, e->hex, 65);
		c->hits++;
		return 0;
	}
	c->misses++;
	r = sha256_fd(fd, hex);
	if (!r) {
		e->valid = true;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = st.st_size;
		e->mtime_ns = mt;
		e->ctime_ns = ct;
		memcpy(e->hex, hex, 65);
	}
	return r;
}

int hashcache_file(struct hashcache *c, const char *path, dev_t dev, uint64_t ino, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r;

	if (fd < 0)
		return -errno;
	r = hashcache_fd(c, fd, dev, ino, hex);
	close(fd);
	return r;
}

int hashcache_host_file(struct hashcache *c, const char *path, dev_t dev, uint64_t ino, char hex[65])
{
	int fd = hostfs_open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0), r;

	if (fd < 0)
		return fd;
	r = hashcache_fd(c, fd, dev, ino, hex);
	close(fd);
	return r;
}

uint64_t hashcache_hits(const struct hashcache *c)
{
	return c->hits;
}

uint64_t hashcache_misses(const struct hashcache *c)
{
	return c->misses;
}
