/*
 * Host filesystem access: every read of a host file (FIM, executables to hash,
 * the watched roots of the file sensor, posture checks, the dpkg database) goes
 * through these calls with the host's path ("/etc/passwd").
 *
 * On a host (host root "/") they are the plain system calls.  In a container
 * whose host / is mounted at e.g. /host (vigild --host-root /host) the path is
 * resolved below that directory with openat2(2) RESOLVE_IN_ROOT, so absolute
 * symlinks and ".." in the host's tree stay in the host's tree (/var/run ->
 * /run is the host's /run, not the container's) and alerts keep host paths.
 *
 * The root is process-wide: hostfs_set_root() is called once at start-up,
 * before threads; the other calls are thread-safe.  Errors are negative errno
 * unless a call says otherwise.
 */
#ifndef VIGIL_HOSTFS_H
#define VIGIL_HOSTFS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Sets the host root (NULL, "" or "/": the host itself) and where the host's
 * /proc is (NULL: <root>/proc).  Opens root as an O_PATH directory; 0, -ENOTDIR,
 * -ENAMETOOLONG or -errno (the previous root is kept on error). */
int hostfs_set_root(const char *root, const char *proc_root);
/* True when host paths are used as they are (no host root set). */
bool hostfs_is_host(void);

/* Formats the path of a host /proc file: the proc root followed by fmt ("/%u/exe"
 * gives "/proc/42/exe", or "/host/proc/42/exe" in a container).  procfs paths are
 * used as they are (its magic links must be followed), not through open below the
 * root.  0 or -ENAMETOOLONG. */
int hostfs_proc(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* open(2) of a host path; O_CLOEXEC is added.  fd or -errno. */
int hostfs_open(const char *path, int flags, mode_t mode);
/* stat(2) / lstat(2) of a host path.  0 or -errno. */
int hostfs_stat(const char *path, struct stat *st);
int hostfs_lstat(const char *path, struct stat *st);
/* opendir(3) of a host path; NULL with errno set.  closedir() frees it. */
DIR *hostfs_opendir(const char *path);
/* fopen(path, "re") of a host path; NULL with errno set.  fclose() frees it. */
FILE *hostfs_fopen(const char *path);
/* Reads a whole host file (at most max bytes) into a new NUL-terminated buffer the
 * caller frees; *len (may be NULL) gets its length.  NULL with errno set
 * (EFBIG over max). */
char *hostfs_read_file(const char *path, size_t max, size_t *len);
/* access(path, F_OK) of a host path: true when it exists. */
bool hostfs_exists(const char *path);
/* readlink(2) of a host path into buf, NUL-terminated (truncated at len-1).
 * Length or -errno. */
ssize_t hostfs_readlink(const char *path, char *buf, size_t len);
/* llistxattr(2) / lgetxattr(2) of a host path (the name itself, never a symlink's
 * target).  Bytes or -errno. */
ssize_t hostfs_llistxattr(const char *path, char *list, size_t size);
ssize_t hostfs_lgetxattr(const char *path, const char *name, void *value, size_t size);
/* glob(3) of a host pattern (GLOB_ALTDIRFUNC below the host root); the
 * matches are host paths.  glob(3)'s return values; globfree() frees g. */
int hostfs_glob(const char *pattern, int flags, glob_t *g);
/* fanotify_mark(2) on a host path (the path is resolved here; flags may hold
 * FAN_MARK_DONT_FOLLOW).  0 or -errno. */
int hostfs_fanotify_mark(int fan_fd, unsigned int flags, uint64_t mask, const char *path);

#endif
