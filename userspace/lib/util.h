/* Small helpers shared by every vigil program. */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#define VIGIL_VERSION "0.1.0"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit codes (DESIGN.md): 0 ok, 1 findings/denied, 2 usage or input error. */
enum { VIGIL_EXIT_OK = 0, VIGIL_EXIT_FINDINGS = 1, VIGIL_EXIT_USAGE = 2 };

/* Wall clock in ns since the epoch (CLOCK_REALTIME). */
uint64_t util_now_ns(void);
/* CLOCK_BOOTTIME in ns: the clock of bpf_ktime_get_boot_ns(). */
uint64_t util_boot_ns(void);
/* Converts a CLOCK_BOOTTIME timestamp to wall-clock ns. */
uint64_t util_boot_to_wall_ns(uint64_t boot_ns);
/* Formats wall ns as RFC 3339 UTC with microseconds ("2026-12-06T09:10:11.123456Z").
 * buf must hold at least 32 bytes; returns buf. */
char *util_rfc3339(uint64_t wall_ns, char *buf, size_t len);
/* Creates dir and its parents with mode; 0 or -errno. */
int util_mkdir_p(const char *dir, mode_t mode);
/* Reads a whole file (at most max bytes) into a new NUL-terminated buffer owned by the
 * caller (free()); *len gets its length.  Returns NULL and sets errno on failure. */
char *util_read_file(const char *path, size_t max, size_t *len);
/* Same from an open fd (read to its end; the fd stays the caller's). */
char *util_read_fd(int fd, size_t max, size_t *len);
/* Reads at most len-1 bytes of path (one read(2): meant for /proc and sysfs files) into buf
 * and NUL-terminates it.  Returns the bytes read or -errno. */
int util_read_small(const char *path, char *buf, size_t len);
/* Writes data to path atomically (temp file + fsync + rename) with mode; 0 or -errno. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Hex-encodes n bytes into out (2n+1 bytes). */
void util_hex(const uint8_t *in, size_t n, char *out);
/* Parses a duration like "90s", "15m", "3h", "1d" or plain seconds; returns seconds or -EINVAL. */
long util_parse_duration(const char *s);
/* Converts kernel dev_t (MAJOR << 20 | MINOR) to userspace dev_t and back. */
dev_t util_kdev_to_dev(uint64_t kdev);
uint64_t util_dev_to_kdev(dev_t dev);
/* snprintf that reports truncation as -ENAMETOOLONG; 0 on success. */
int util_path_join(char *out, size_t len, const char *a, const char *b);

#endif
