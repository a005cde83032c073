/*
 * B1 driver: posix_spawn + waitpid of PROGRAM, N times.  Prints one JSON object:
 * {"n":N,"ok":spawned,"denied":refused,"us_p50":...,"us_p99":...,"us_mean":...}
 * Usage: execloop PROGRAM N
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]), ok = 0, denied = 0;
	double *us = calloc(n, sizeof(double)), sum = 0;
	char *args[] = { argv[1], NULL };

	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		pid_t pid;
		int st;

		clock_gettime(CLOCK_MONOTONIC, &a);
		int r = posix_spawn(&pid, argv[1], NULL, NULL, args, environ);
		if (r == 0) {
			waitpid(pid, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
				denied++;   /* posix_spawn reports exec failure as exit 127 */
			else
				ok++;
		} else {
			denied++;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		us[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
		sum += us[i];
	}
	qsort(us, n, sizeof(double), cmp);
	printf("{\"n\":%d,\"ok\":%d,\"denied\":%d,\"us_p50\":%.2f,\"us_p99\":%.2f,\"us_mean\":%.2f}\n",
	       n, ok, denied, us[n / 2], us[(int)(n * 0.99)], sum / n);
	return 0;
}
