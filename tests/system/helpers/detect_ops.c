/* Behaviours for the detection rule tests.
 *   detect_ops kmod FILE          finit_module(open(FILE)) then init_module(FILE's bytes): real attempts
 *   detect_ops ptrace PID         PTRACE_ATTACH to PID, wait for the stop, PTRACE_DETACH
 *   detect_ops sleep-as UID SECS  setuid(UID), then sleep (a target owned by another user)
 * Prints "ok <errno-or-0>" and exits 0 when the syscall was made (whatever the kernel answered).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "kmod")) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		char buf[256] = { 0 };
		long r1, r2;
		ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf), 0) : 0;

		r1 = syscall(SYS_finit_module, fd, "", 0);
		int e1 = r1 ? errno : 0;
		r2 = syscall(SYS_init_module, buf, n > 0 ? (unsigned long)n : 1ul, "");
		int e2 = r2 ? errno : 0;
		printf("ok %d %d\n", e1, e2);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "ptrace")) {
		pid_t pid = atoi(argv[2]);
		int st;

		if (ptrace(PTRACE_ATTACH, pid, 0, 0)) {
			printf("fail %d\n", errno);
			return 1;
		}
		waitpid(pid, &st, __WALL);
		ptrace(PTRACE_DETACH, pid, 0, 0);
		printf("ok 0\n");
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "sleep-as")) {
		if (setgid(atoi(argv[2])) || setuid(atoi(argv[2])))
			return 1;
		printf("ready\n");
		fflush(stdout);
		sleep(atoi(argv[3]));
		return 0;
	}
	fprintf(stderr, "usage: detect_ops kmod FILE | ptrace PID | sleep-as UID SECS\n");
	return 2;
}
