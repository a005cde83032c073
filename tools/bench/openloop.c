/*
 * B3/B4 driver: open + close of PATH, N times, with FLAGS ("r", "w" or "missing").
 * With RATE > 0 it paces itself to RATE opens/s (B4's generator).
 * Prints {"n":N,"ns_per_op":...,"seconds":...,"rate":...}.
 * Usage: openloop PATH N r|w [RATE]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long n = atol(argv[2]);
	int flags = argv[3][0] == 'w' ? O_WRONLY | O_CREAT : O_RDONLY;
	double rate = argc > 4 ? atof(argv[4]) : 0;
	double t0 = now();

	for (long i = 0; i < n; i++) {
		int fd = open(argv[1], flags, 0644);
		if (fd >= 0)
			close(fd);
		if (rate > 0 && (i & 63) == 63) {
			double due = t0 + (i + 1) / rate;
			double d = due - now();
			if (d > 0)
				usleep((useconds_t)(d * 1e6));
		}
	}
	double s = now() - t0;
	printf("{\"n\":%ld,\"ns_per_op\":%.1f,\"seconds\":%.3f,\"rate\":%.0f}\n", n, s * 1e9 / n, s, n / s);
	return 0;
}
