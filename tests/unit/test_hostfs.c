/* Unit tests for hostfs: host paths read below a host root the way a DaemonSet
 * mounts the node's / at /host.  A fake host tree in a temporary directory has an
 * absolute symlink (/var/run -> /run, as on Debian), a ".." escape attempt and a
 * symlinked file; every call must stay inside the tree and see what a process on
 * the host would see at the same path.  Needs no root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <cmocka.h>

#include "hostfs.h"

static char root[64];
static char outside[64];

static void put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

static void sub(const char *rel, char *out, size_t len)
{
	snprintf(out, len, "%s%s", root, rel);
}

static int setup(void **state)
{
	char p[256];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/vigil-hostfs-XXXXXX");
	snprintf(outside, sizeof(outside), "/tmp/vigil-hostfs-out-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_non_null(mkdtemp(outside));
	static const char *const dirs[] = { "/etc", "/run", "/run/app", "/var", "/proc", "/proc/42" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		sub(dirs[i], p, sizeof(p));
		assert_int_equal(mkdir(p, 0755), 0);
	}
	put("/etc/passwd", "root:x:0:0:host\n");
	put("/run/app/pid", "4242\n");
	sub("/var/run", p, sizeof(p));
	assert_int_equal(symlink("/run", p), 0);           /* absolute: must mean the host's /run */
	sub("/etc/link", p, sizeof(p));
	assert_int_equal(symlink("/etc/passwd", p), 0);
	sub("/etc/escape", p, sizeof(p));
	assert_int_equal(symlink("../../../../../../etc/hostname", p), 0);
	/* what a lookup that left the tree would find instead */
	snprintf(p, sizeof(p), "%s/secret", outside);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("outside\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	hostfs_set_root("/", NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, outside);
	return system(cmd) == 0 ? 0 : -1;
}

static void read_all(FILE *f, char *buf, size_t len)
{
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

static void test_host_mode_is_plain(void **state)
{
	char p[256], buf[64];
	struct stat a, b;

	(void)state;
	assert_int_equal(hostfs_set_root("/", NULL), 0);
	assert_true(hostfs_is_host());
	sub("/etc/passwd", p, sizeof(p));
	assert_int_equal(hostfs_lstat(p, &a), 0);
	assert_int_equal(lstat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(hostfs_proc(buf, sizeof(buf), "/%u/exe", 42u), 0);
	assert_string_equal(buf, "/proc/42/exe");
	assert_int_equal(hostfs_lstat("/nonexistent-vigil-path", &a), -ENOENT);
}

static void test_paths_resolve_below_root(void **state)
{
	char buf[256];
	struct stat st, want;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(hostfs_set_root(root, NULL), 0);
	assert_false(hostfs_is_host());

	/* a plain host path */
	assert_non_null(f = hostfs_fopen("/etc/passwd"));
	read_all(f, buf, sizeof(buf));
	assert_string_equal(buf, "root:x:0:0:host\n");

	/* an absolute symlink on the way (/var/run -> /run) is the host's /run */
	fd = hostfs_open("/var/run/app/pid", O_RDONLY, 0);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, 5), 5);
	close(fd);
	assert_memory_equal(buf, "4242\n", 5);
	sub("/run/app/pid", buf, sizeof(buf));
	assert_int_equal(stat(buf, &want), 0);
	assert_int_equal(hostfs_stat("/var/run/app/pid", &st), 0);
	assert_int_equal(st.st_ino, want.st_ino);

	/* lstat sees the symlink itself, stat its host target */
	assert_int_equal(hostfs_lstat("/etc/link", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(hostfs_stat("/etc/link", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(hostfs_readlink("/etc/link", buf, sizeof(buf)), (ssize_t)strlen("/etc/passwd"));
	assert_string_equal(buf, "/etc/passwd");

	/* ".." cannot climb above the root: the escape lands on the (missing) host /etc/hostname */
	assert_int_equal(hostfs_stat("/etc/escape", &st), -ENOENT);
	snprintf(buf, sizeof(buf), "/../../../..%s/secret", outside);
	assert_int_equal(hostfs_stat(buf, &st), -ENOENT);

	/* a missing path, and O_NOFOLLOW on a symlink */
	assert_int_equal(hostfs_lstat("/etc/shadow", &st), -ENOENT);
	assert_int_equal(hostfs_open("/etc/link", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);

	/* /proc is the host's below the root */
	assert_int_equal(hostfs_proc(buf, sizeof(buf), "/%u/cgroup", 42u), 0);
	char want_proc[256];
	snprintf(want_proc, sizeof(want_proc), "%s/proc/42/cgroup", root);
	assert_string_equal(buf, want_proc);
	/* an explicit proc root wins */
	assert_int_equal(hostfs_set_root(root, "/elsewhere/proc"), 0);
	assert_int_equal(hostfs_proc(buf, sizeof(buf), "/%d/stat", 7), 0);
	assert_string_equal(buf, "/elsewhere/proc/7/stat");
	char tiny[8];
	assert_int_equal(hostfs_proc(tiny, sizeof(tiny), "/%d/stat", 7), -ENAMETOOLONG);
}

static void test_dirs_and_globs(void **state)
{
	glob_t g;
	DIR *d;
	struct dirent *de;
	int n = 0;

	(void)state;
	assert_int_equal(hostfs_set_root(root, NULL), 0);
	assert_non_null(d = hostfs_opendir("/var/run/app"));
	while ((de = readdir(d)))
		n += !strcmp(de->d_name, "pid");
	closedir(d);
	assert_int_equal(n, 1);
	assert_null(hostfs_opendir("/etc/passwd"));
	assert_int_equal(errno, ENOTDIR);

	/* matches are host paths, found through the host's symlinks */
	assert_int_equal(hostfs_glob("/var/run/*/pid", 0, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	assert_string_equal(g.gl_pathv[0], "/var/run/app/pid");
	globfree(&g);
	assert_int_equal(hostfs_glob("/etc/pass*", 0, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	assert_string_equal(g.gl_pathv[0], "/etc/passwd");
	globfree(&g);
	assert_int_equal(hostfs_glob("/nothing/*", 0, &g), GLOB_NOMATCH);
	globfree(&g);
}

static void test_xattrs(void **state)
{
	char p[256], list[256], val[16];
	ssize_t n;

	(void)state;
	sub("/etc/passwd", p, sizeof(p));
	if (setxattr(p, "user.vigil", "v1", 2, 0)) {
		/* tmpfs without user xattrs: the calls must still answer, with nothing listed */
		assert_int_equal(hostfs_set_root(root, NULL), 0);
		n = hostfs_llistxattr("/etc/passwd", list, sizeof(list));
		assert_true(n == 0 || n == -ENOTSUP);
		return;
	}
	assert_int_equal(hostfs_set_root(root, NULL), 0);
	n = hostfs_llistxattr("/etc/passwd", list, sizeof(list));
	assert_true(n > 0);
	assert_non_null(memmem(list, (size_t)n, "user.vigil", 11));
	assert_int_equal(hostfs_lgetxattr("/etc/passwd", "user.vigil", val, sizeof(val)), 2);
	assert_memory_equal(val, "v1", 2);
	/* through the symlink name: the symlink's own (none), never the target's */
	n = hostfs_llistxattr("/etc/link", list, sizeof(list));
	assert_true(n <= 0 || !memmem(list, (size_t)n, "user.vigil", 11));
	assert_int_equal(hostfs_lgetxattr("/etc/missing", "user.vigil", val, sizeof(val)), -ENOENT);
}

static void test_bad_root(void **state)
{
	char p[256];

	(void)state;
	assert_int_equal(hostfs_set_root(root, NULL), 0);
	sub("/etc/passwd", p, sizeof(p));
	assert_int_equal(hostfs_set_root(p, NULL), -ENOTDIR);
	assert_int_equal(hostfs_set_root("/nonexistent-vigil-root", NULL), -ENOENT);
	/* the previous root is kept */
	assert_false(hostfs_is_host());
	struct stat st;
	assert_int_equal(hostfs_stat("/run/app/pid", &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_mode_is_plain),
		cmocka_unit_test(test_paths_resolve_below_root),
		cmocka_unit_test(test_dirs_and_globs),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_bad_root),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
