/* Test helper: file changes made through io_uring only (raw syscalls, no liburing),
 * the way a tool that avoids syscall hooks would make them.  Each operation is one
 * submission whose result is waited for; the program's own syscalls are only
 * io_uring_setup, mmap and io_uring_enter.
 *
 *   uring_ops write PATH TEXT     open(O_WRONLY|O_TRUNC|O_CREAT), write TEXT, close
 *   uring_ops rename FROM TO
 *   uring_ops unlink PATH
 *   uring_ops mkdir PATH
 *
 * Prints "pid=N" first, then "ok" or "error OP: -ERRNO" per operation; exit 0 when all
 * succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_init(struct ring *r)
{
	struct io_uring_params p = { 0 };
	void *sq, *cq;

	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -errno;
	size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, cqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -errno;
	r->sq_tail = (unsigned *)((char *)sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)((char *)sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)((char *)sq + p.sq_off.array);
	r->cq_head = (unsigned *)((char *)cq + p.cq_off.head);
	r->cq_tail = (unsigned *)((char *)cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)((char *)cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
	return 0;
}

/* Submits sqe, waits for its completion; the cqe's result. */
static int ring_do(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	int res;

	r->sqes[idx] = *sqe;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static int report(const char *op, int res)
{
	if (res < 0) {
		printf("error %s: %d\n", op, res);
		return 1;
	}
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct ring r;
	struct io_uring_sqe s;
	int res;

	if (argc < 3) {
		fprintf(stderr, "usage: uring_ops write PATH TEXT | rename FROM TO | unlink PATH | mkdir PATH\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid=%d\n", getpid());
	res = ring_init(&r);
	if (res)
		return report("setup", res);
	memset(&s, 0, sizeof(s));
	if (!strcmp(argv[1], "write") && argc == 4) {
		s.opcode = IORING_OP_OPENAT;
		s.fd = AT_FDCWD;
		s.addr = (uintptr_t)argv[2];
		s.open_flags = O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC;
		s.len = 0644;
		int fd = ring_do(&r, &s);
		if (fd < 0)
			return report("openat", fd);
		memset(&s, 0, sizeof(s));
		s.opcode = IORING_OP_WRITE;
		s.fd = fd;
		s.addr = (uintptr_t)argv[3];
		s.len = strlen(argv[3]);
		s.off = 0;
		res = ring_do(&r, &s);
		if (res < 0)
			return report("write", res);
		memset(&s, 0, sizeof(s));
		s.opcode = IORING_OP_CLOSE;
		s.fd = fd;
		return report("close", ring_do(&r, &s));
	}
	if (!strcmp(argv[1], "rename") && argc == 4) {
		s.opcode = IORING_OP_RENAMEAT;
		s.fd = AT_FDCWD;
		s.addr = (uintptr_t)argv[2];
		s.len = AT_FDCWD;
		s.addr2 = (uintptr_t)argv[3];
		return report("renameat", ring_do(&r, &s));
	}
	if (!strcmp(argv[1], "unlink")) {
		s.opcode = IORING_OP_UNLINKAT;
		s.fd = AT_FDCWD;
		s.addr = (uintptr_t)argv[2];
		return report("unlinkat", ring_do(&r, &s));
	}
	if (!strcmp(argv[1], "mkdir")) {
		s.opcode = IORING_OP_MKDIRAT;
		s.fd = AT_FDCWD;
		s.addr = (uintptr_t)argv[2];
		s.len = 0755;
		return report("mkdirat", ring_do(&r, &s));
	}
	fprintf(stderr, "uring_ops: unknown operation %s\n", argv[1]);
	return 2;
}
