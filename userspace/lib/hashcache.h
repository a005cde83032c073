/*
 * SHA-256 of files (OpenSSL EVP), cached by file identity (dev, inode, size,
 * mtime, ctime): a file is hashed again only when one of those changed.
 * Bounded LRU; what the bound evicts is counted.
 */
#ifndef VIGIL_HASHCACHE_H
#define VIGIL_HASHCACHE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct hashcache;

/* New cache of at most max entries; NULL on ENOMEM. */
struct hashcache *hashcache_new(size_t max);
void hashcache_free(struct hashcache *c);

/* SHA-256 of the open file fd (read from offset 0 with pread) into hex (65 bytes).
 * Returns 0 or -errno. */
int sha256_fd(int fd, char hex[65]);

/*
 * Hex SHA-256 of the open file fd, which must be the file identified by
 * (dev, ino) (userspace dev_t; 0 = any): fstat-checked so a different file is
 * never hashed in its place.  Cached by (dev, ino, size, mtime, ctime).  The fd
 * stays the caller's.  Returns 0, -ESTALE when fd is another file, -EINVAL when
 * it is not a regular file, or -errno.
 */
int hashcache_fd(struct hashcache *c, int fd, dev_t dev, uint64_t ino, char hex[65]);
/* Same for the file at path opened as it is (a /proc/<pid>/exe link). */
int hashcache_file(struct hashcache *c, const char *path, dev_t dev, uint64_t ino, char hex[65]);
/* Same for a host path, opened below the host root (hostfs_open). */
int hashcache_host_file(struct hashcache *c, const char *path, dev_t dev, uint64_t ino, char hex[65]);

uint64_t hashcache_hits(const struct hashcache *c);
uint64_t hashcache_misses(const struct hashcache *c);

#endif
