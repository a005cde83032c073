/*
 * File-sensor test helper: one file change per run, done with the exact
 * syscall the test names, so the actor (this binary, this pid) and the
 * syscall flavour are known.  Exit 0 on success, 1 with a message otherwise.
 *
 *   file_ops openat DIR REL          chdir("/"), openat(DIR fd, REL, O_WRONLY|O_CREAT)
 *   file_ops renameat2 DIR OLD NEW   chdir("/"), renameat2(DIR fd, OLD, DIR fd, NEW, 0)
 *   file_ops unlinkat DIR NAME       chdir("/"), unlinkat(DIR fd, NAME, 0)
 *   file_ops fchmodat2 DIR NAME MODE fchmodat2(DIR fd, NAME, MODE, 0)
 *   file_ops mmap PATH               open O_RDWR, MAP_SHARED|PROT_WRITE, store a byte
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static int die(const char *what)
{
	fprintf(stderr, "file_ops: %s: %s\n", what, strerror(errno));
	return 1;
}

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		exit(die(dir));
	if (chdir("/"))
		exit(die("chdir /"));
	return fd;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "openat")) {
		int d = open_dir(argv[2]);
		int fd = openat(d, argv[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0640);

		if (fd < 0 || write(fd, "x", 1) != 1)
			return die("openat");
		return close(fd) ? die("close") : 0;
	}
	if (argc == 5 && !strcmp(argv[1], "renameat2")) {
		int d = open_dir(argv[2]);

		return syscall(SYS_renameat2, d, argv[3], d, argv[4], 0) ? die("renameat2") : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "unlinkat")) {
		int d = open_dir(argv[2]);

		return unlinkat(d, argv[3], 0) ? die("unlinkat") : 0;
	}
	if (argc == 5 && !strcmp(argv[1], "fchmodat2")) {
		int d = open_dir(argv[2]);
		unsigned mode = strtoul(argv[4], NULL, 8);

		return syscall(SYS_fchmodat2, d, argv[3], mode, 0) ? die("fchmodat2") : 0;
	}
	if (argc == 3 && !strcmp(argv[1], "mmap")) {
		int fd = open(argv[2], O_RDWR | O_CLOEXEC);
		char *p;

		if (fd < 0)
			return die("open");
		if (ftruncate(fd, 4096))
			return die("ftruncate");
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return die("mmap");
		p[0] = 'm';
		if (msync(p, 4096, MS_SYNC) || munmap(p, 4096))
			return die("msync");
		return close(fd) ? die("close") : 0;
	}
	fprintf(stderr, "usage: file_ops openat|renameat2|unlinkat|fchmodat2|mmap ...\n");
	return 2;
}
