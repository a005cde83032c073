/* Host filesystem access below the host root.  See hostfs.h. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/openat2.h>

#include "hostfs.h"
#include "hostroot.h"
#include "util.h"

/* -1: the host itself; else an O_PATH fd of the host root (set once at start-up) */
static int root_fd = -1;
static char proc_dir[PATH_MAX] = "/proc";

int hostfs_set_root(const char *root, const char *proc_root)
{
	char proc[PATH_MAX];
	int fd;
	struct stat st;

	if (proc_root ? snprintf(proc, sizeof(proc), "%s", proc_root) >= (int)sizeof(proc)
		      : hostroot_join(proc, sizeof(proc), root, "/proc"))
		return -ENAMETOOLONG;

	if (hostroot_is_host(root)) {
		fd = -1;
	} else {
		if ((fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return errno == ENOTDIR ? -ENOTDIR : -errno;
		if (fstat(fd, &st)) {
			int e = errno;
			close(fd);
			return -e;
		}
	}
	if (root_fd >= 0)
		close(root_fd);
	root_fd = fd;
	strcpy(proc_dir, proc);
	return 0;
}

int hostfs_proc(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(proc_dir);
	va_list ap;
	int r;

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, proc_dir, n + 1);
	va_start(ap, fmt);
	r = vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	return r < 0 || (size_t)r >= len - n ? -ENAMETOOLONG : 0;
}

bool hostfs_is_host(void)
{
	return root_fd < 0;
}

/* openat2 below the root: absolute symlinks and ".." stay inside it; /proc magic
 * links (which could point anywhere) are refused. */
static int resolve(const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = flags & (O_CREAT | O_TMPFILE) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	/* EAGAIN: a rename raced with ".." resolution; the kernel asks to retry */
	for (int i = 0; i < 8; i++) {
		long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return -errno;
}

int hostfs_open(const char *path, int flags, mode_t mode)
{
	int fd;

	if (root_fd >= 0)
		return resolve(path, flags, mode);
	fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int stat_at(const char *path, struct stat *st, bool follow)
{
	int fd = resolve(path, O_PATH | (follow ? 0 : O_NOFOLLOW), 0), r = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st))
		r = -errno;
	close(fd);
	return r;
}

int hostfs_stat(const char *path, struct stat *st)
{
	if (root_fd >= 0)
		return stat_at(path, st, true);
	return stat(path, st) ? -errno : 0;
}

int hostfs_lstat(const char *path, struct stat *st)
{
	if (root_fd >= 0)
		return stat_at(path, st, false);
	return lstat(path, st) ? -errno : 0;
}

DIR *hostfs_opendir(const char *path)
{
	int fd;
	DIR *d;

	if (root_fd < 0)
		return opendir(path);
	if ((fd = resolve(path, O_RDONLY | O_DIRECTORY, 0)) < 0) {
		errno = -fd;
		return NULL;
	}
	if (!(d = fdopendir(fd))) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

FILE *hostfs_fopen(const char *path)
{
	int fd;
	FILE *f;

	if (root_fd < 0)
		return fopen(path, "re");
	if ((fd = resolve(path, O_RDONLY, 0)) < 0) {
		errno = -fd;
		return NULL;
	}
	if (!(f = fdopen(fd, "r"))) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

char *hostfs_read_file(const char *path, size_t max, size_t *len)
{
	int fd = hostfs_open(path, O_RDONLY, 0), e;
	char *buf;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	buf = util_read_fd(fd, max, len);
	e = errno;
	close(fd);
	errno = e;
	return buf;
}

bool hostfs_exists(const char *path)
{
	struct stat st;

	return hostfs_lstat(path, &st) == 0;
}

ssize_t hostfs_readlink(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = -1;

	if (!len)
		return -EINVAL;
	if (root_fd >= 0 && (fd = resolve(path, O_PATH | O_NOFOLLOW, 0)) < 0)
		return fd;
	n = fd < 0 ? readlink(path, buf, len - 1) : readlinkat(fd, "", buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = 0;
	if (fd >= 0)
		close(fd);
	return n;
}

/* The name itself as an O_PATH fd and its /proc/self/fd path: the xattr calls
 * follow that magic link to the name (a symlink stays the symlink). */
static int name_fd(const char *path, char *proc, size_t len)
{
	int fd = resolve(path, O_PATH | O_NOFOLLOW, 0);

	if (fd >= 0)
		snprintf(proc, len, "/proc/self/fd/%d", fd);
	return fd;
}

ssize_t hostfs_llistxattr(const char *path, char *list, size_t size)
{
	char proc[64];
	ssize_t n;
	int fd;

	if (root_fd < 0)
		return (n = llistxattr(path, list, size)) < 0 ? -errno : n;
	if ((fd = name_fd(path, proc, sizeof(proc))) < 0)
		return fd;
	n = listxattr(proc, list, size);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

ssize_t hostfs_lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	char proc[64];
	ssize_t n;
	int fd;

	if (root_fd < 0)
		return (n = lgetxattr(path, name, value, size)) < 0 ? -errno : n;
	if ((fd = name_fd(path, proc, sizeof(proc))) < 0)
		return fd;
	n = getxattr(proc, name, value, size);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

int hostfs_fanotify_mark(int fan_fd, unsigned int flags, uint64_t mask, const char *path)
{
	int fd, r;

	if (root_fd < 0)
		return fanotify_mark(fan_fd, flags, mask, AT_FDCWD, path) ? -errno : 0;
	if ((fd = resolve(path, O_PATH | (flags & FAN_MARK_DONT_FOLLOW ? O_NOFOLLOW : 0), 0)) < 0)
		return fd;
	r = fanotify_mark(fan_fd, flags & ~FAN_MARK_DONT_FOLLOW, mask, fd, NULL) ? -errno : 0;
	close(fd);
	return r;
}

static void *glob_opendir(const char *path)
{
	return hostfs_opendir(path);
}

static struct dirent *glob_readdir(void *d)
{
	return readdir(d);
}

static void glob_closedir(void *d)
{
	closedir(d);
}

static int glob_stat(const char *path, struct stat *st)
{
	int r = hostfs_stat(path, st);
	return r ? (errno = -r, -1) : 0;
}

static int glob_lstat(const char *path, struct stat *st)
{
	int r = hostfs_lstat(path, st);
	return r ? (errno = -r, -1) : 0;
}

int hostfs_glob(const char *pattern, int flags, glob_t *g)
{
	if (root_fd < 0)
		return glob(pattern, flags, NULL, g);
	memset(g, 0, sizeof(*g));
	g->gl_opendir = glob_opendir;
	g->gl_readdir = glob_readdir;
	g->gl_closedir = glob_closedir;
	g->gl_stat = glob_stat;
	g->gl_lstat = glob_lstat;
	return glob(pattern, flags | GLOB_ALTDIRFUNC, NULL, g);
}
