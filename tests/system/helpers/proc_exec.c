/* Exec variants for the process sensor tests.
 *   proc_exec execveat DIR REL [ARGS...]   execveat(dirfd(DIR), REL, ...)
 *   proc_exec fexecve FILE ARGV0 [ARGS...] open FILE, execveat(fd, "", AT_EMPTY_PATH)
 *   proc_exec memfd FILE ARGV0 [ARGS...]           copy FILE into a memfd and fexecve it
 *   proc_exec orphan DELAY_MS FILE [ARGS...]  fork; the child waits until its parent has
 *                                          exited, then execs FILE (parent exits at once)
 * Prints the pid that execs on stdout before exec'ing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sendfile.h>

extern char **environ;

static int xexecveat(int dfd, const char *path, char **argv, int flags)
{
	return syscall(SYS_execveat, dfd, path, argv, environ, flags);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "execveat") && argc >= 4) {
		int d = open(argv[2], O_PATH | O_DIRECTORY);
		printf("%d\n", getpid());
		fflush(stdout);
		xexecveat(d, argv[3], argv + 3, 0);
		perror("execveat");
		return 1;
	}
	if (!strcmp(argv[1], "fexecve")) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		printf("%d\n", getpid());
		fflush(stdout);
		xexecveat(fd, "", argv + 3, AT_EMPTY_PATH);
		perror("fexecve");
		return 1;
	}
	if (!strcmp(argv[1], "memfd")) {
		int in = open(argv[2], O_RDONLY);
		int fd = memfd_create("vigiltest", MFD_CLOEXEC);
		struct stat st;
		fstat(in, &st);
		sendfile(fd, in, NULL, st.st_size);
		printf("%d\n", getpid());
		fflush(stdout);
		xexecveat(fd, "", argv + 3, AT_EMPTY_PATH);
		perror("memfd exec");
		return 1;
	}
	if (!strcmp(argv[1], "orphan") && argc >= 4) {
		pid_t parent = getpid();
		pid_t c = fork();
		if (c == 0) {
			while (getppid() == parent)
				usleep(1000);
			usleep(atoi(argv[2]) * 1000);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		printf("%d %d\n", (int)parent, (int)c);
		fflush(stdout);
		return 0;
	}
	return 2;
}
