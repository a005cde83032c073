/* Exec variants for the application-control tests.  An exec that fails exits
 * 100 + errno (EPERM -> 101) after printing "errno=N".
 *   aac_exec execveat DIR REL [ARGS...]   execveat(open(DIR), REL, ...)
 *   aac_exec fexecve FILE [ARGS...]       open FILE O_RDONLY|O_CLOEXEC... then execveat(fd, "", AT_EMPTY_PATH)
 *   aac_exec memfd FILE [ARGS...]         copy FILE into a memfd, fexecve it
 *   aac_exec tmpfile DIR FILE [ARGS...]   copy FILE into an O_TMPFILE in DIR, fexecve it
 *   aac_exec spawn N FILE [ARGS...]       posix_spawn + waitpid N times; prints
 *                                         "ok=A failed=B eperm=C" (exit 0)
 *   aac_exec bench N FILE [ARGS...]       the same, timed: prints "n=N ok=A eperm=C
 *                                         total_ns=T p50_ns=P p99_ns=Q" (CLOCK_MONOTONIC)
 * argv[0] of the new program is FILE (or REL).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static int fail(const char *what)
{
	int e = errno;

	printf("errno=%d\n", e);
	fflush(stdout);
	fprintf(stderr, "aac_exec: %s: %s\n", what, strerror(e));
	return 100 + (e < 100 ? e : 99);
}

static int xexecveat(int dfd, const char *path, char **argv, int flags)
{
	return (int)syscall(SYS_execveat, dfd, path, argv, environ, flags);
}

static int copy_into(int dst, const char *src)
{
	struct stat st;
	int s = open(src, O_RDONLY | O_CLOEXEC);
	off_t off = 0;

	if (s < 0 || fstat(s, &st))
		return -1;
	while (off < st.st_size)
		if (sendfile(dst, s, &off, st.st_size - off) <= 0)
			return -1;
	close(s);
	return 0;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "execveat") && argc >= 4) {
		int d = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return fail("open dir");
		xexecveat(d, argv[3], argv + 3, 0);
		return fail("execveat");
	}
	if (!strcmp(argv[1], "fexecve")) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("open");
		xexecveat(fd, "", argv + 2, AT_EMPTY_PATH);
		return fail("fexecve");
	}
	if (!strcmp(argv[1], "memfd")) {
		int fd = memfd_create("aac-test", MFD_CLOEXEC | 0x0010U /* MFD_EXEC */);
		if (fd < 0)
			fd = memfd_create("aac-test", MFD_CLOEXEC);
		if (fd < 0 || copy_into(fd, argv[2]))
			return fail("memfd");
		xexecveat(fd, "", argv + 2, AT_EMPTY_PATH);
		return fail("fexecve memfd");
	}
	if (!strcmp(argv[1], "tmpfile") && argc >= 4) {
		char p[64];
		int w = open(argv[2], O_TMPFILE | O_RDWR | O_CLOEXEC, 0755), r;
		if (w < 0 || copy_into(w, argv[3]))
			return fail("O_TMPFILE");
		snprintf(p, sizeof(p), "/proc/self/fd/%d", w);
		r = open(p, O_RDONLY | O_CLOEXEC);
		if (r < 0)
			return fail("reopen");
		close(w);
		xexecveat(r, "", argv + 3, AT_EMPTY_PATH);
		return fail("fexecve tmpfile");
	}
	if ((!strcmp(argv[1], "spawn") || !strcmp(argv[1], "bench")) && argc >= 4) {
		long n = atol(argv[2]), ok = 0, bad = 0, eperm = 0;
		long long *lat = calloc(n > 0 ? n : 1, sizeof(*lat)), t0 = now_ns(), total;

		if (!lat)
			return fail("calloc");
		for (long i = 0; i < n; i++) {
			pid_t pid;
			long long s0 = now_ns();
			int st, r = posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, environ);
			if (r) {
				lat[i] = now_ns() - s0;
				bad++;
				eperm += r == EPERM || r == EACCES;
				continue;
			}
			waitpid(pid, &st, 0);
			lat[i] = now_ns() - s0;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				ok++;
			else
				bad++;
		}
		total = now_ns() - t0;
		if (!strcmp(argv[1], "bench")) {
			qsort(lat, n, sizeof(*lat), cmp_ll);
			printf("n=%ld ok=%ld eperm=%ld total_ns=%lld p50_ns=%lld p99_ns=%lld\n", n, ok, eperm, total,
			       n ? lat[n / 2] : 0, n ? lat[n * 99 / 100] : 0);
			return 0;
		}
		printf("ok=%ld failed=%ld eperm=%ld\n", ok, bad, eperm);
		return 0;
	}
	return 2;
}
