/*
 * Load and probe generator for tests/system/test_faults.py.
 *
 *   fault_load procs N PAR EXEC_EVERY EXE   N short-lived children, PAR at a time; every
 *                                           EXEC_EVERY-th execs EXE (0: none), the rest _exit(0)
 *   fault_load execs SECONDS EXE [EXE2]     posix_spawn EXE (alternating with EXE2) for SECONDS
 *   fault_load files DIR SECONDS            write/replace/unlink files in DIR for SECONDS
 *   fault_load open PATH MODE               one open of PATH; MODE r | w | trunc | creat | openat2w
 *
 * Each prints one line "key=value ..." (counts, failures, the slowest operation in ms) and
 * exits 0; an operation that never returns is what the caller's timeout catches.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int procs(long n, long par, long every, const char *exe)
{
	long started = 0, running = 0, failed = 0, done = 0;
	double t0 = now_ms();

	while (done < n) {
		while (running < par && started < n) {
			pid_t p = fork();
			if (p == 0) {
				if (every > 0 && started % every == 0) {
					execl(exe, exe, (char *)NULL);
					_exit(127);
				}
				_exit(0);
			}
			if (p < 0) {
				failed++;
				break;
			}
			started++;
			running++;
		}
		int st;
		pid_t w = wait(&st);
		if (w < 0) {
			if (errno == ECHILD && started < n)
				continue;
			break;
		}
		running--;
		done++;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	printf("done=%ld failed=%ld secs=%.1f\n", done, failed, (now_ms() - t0) / 1e3);
	return 0;
}

static int execs(double secs, const char *a, const char *b)
{
	long ok = 0, denied = 0, nonzero = 0, failed = 0, i = 0;
	double end = now_ms() + secs * 1e3, worst = 0;

	while (now_ms() < end) {
		const char *exe = (b && (i++ & 1)) ? b : a;
		char *argv[] = { (char *)exe, NULL };
		double t = now_ms();
		pid_t p;
		int st, r = posix_spawn(&p, exe, NULL, NULL, argv, environ);

		if (r == EPERM || r == EACCES)
			denied++;
		else if (r)
			failed++;
		else if (waitpid(p, &st, 0) < 0)
			failed++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			denied++;       /* posix_spawn via vfork reports exec failure as 127 */
		else
			nonzero++;
		if (now_ms() - t > worst)
			worst = now_ms() - t;
	}
	printf("ok=%ld denied=%ld nonzero=%ld failed=%ld max_ms=%.1f\n", ok, denied, nonzero, failed, worst);
	return 0;
}

static int files(const char *dir, double secs)
{
	char p[4096], q[4096], buf[4096];
	long ops = 0, failed = 0;
	double end = now_ms() + secs * 1e3, worst = 0;

	memset(buf, 'x', sizeof(buf));
	for (long i = 0; now_ms() < end; i++) {
		double t = now_ms();
		int fd;

		snprintf(p, sizeof(p), "%s/f%ld", dir, i % 64);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			failed++;
		if (fd >= 0)
			close(fd);
		if (i % 8 == 0) {
			snprintf(q, sizeof(q), "%s/r%ld", dir, i % 16);
			if (rename(p, q) || unlink(q))
				failed++;
		}
		ops++;
		if (now_ms() - t > worst)
			worst = now_ms() - t;
	}
	printf("ops=%ld failed=%ld max_ms=%.1f\n", ops, failed, worst);
	return 0;
}

static int open_once(const char *path, const char *mode)
{
	double t = now_ms();
	int fd;

	if (!strcmp(mode, "r"))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	else if (!strcmp(mode, "w"))
		fd = open(path, O_WRONLY | O_CLOEXEC);
	else if (!strcmp(mode, "trunc"))
		fd = open(path, O_RDONLY | O_TRUNC | O_CLOEXEC);
	else if (!strcmp(mode, "creat"))
		fd = creat(path, 0644);
	else if (!strcmp(mode, "openat2w")) {
		struct open_how how = { .flags = O_RDWR | O_CLOEXEC };
		fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	int e = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	printf("errno=%d ms=%.1f\n", e, now_ms() - t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "procs"))
		return procs(atol(argv[2]), atol(argv[3]), atol(argv[4]), argv[5]);
	if (argc >= 4 && !strcmp(argv[1], "execs"))
		return execs(atof(argv[2]), argv[3], argc > 4 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "files"))
		return files(argv[2], atof(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "open"))
		return open_once(argv[2], argv[3]);
	fprintf(stderr, "usage: fault_load procs N PAR EXEC_EVERY EXE | execs SECONDS EXE [EXE2] | "
		"files DIR SECONDS | open PATH r|w|trunc|creat|openat2w\n");
	return 2;
}
