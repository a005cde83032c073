/*
 * B5 connection loop (tools/bench_jit.py).
 *   jit_connloop server PORT          accept and close (RST: no TIME_WAIT) forever; prints "ready"
 *   jit_connloop client ADDR PORT N   N connections, each: connect, wait for the server's
 *                                     close, close; prints {"n","seconds","rate","failed"}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int server(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT };
	struct linger lg = { 1, 0 };
	int one = 1, zero = 0, s = socket(AF_INET6, SOCK_STREAM, 0);

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 1024)) {
		perror("bind/listen");
		return 2;
	}
	puts("ready");
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
	}
}

static int client(const char *addr, int port, long n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { 2, 0 };
	long failed = 0;
	double t0;
	char b;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return 2;
	t0 = now();
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			(void)!recv(s, &b, 1, 0);   /* 0 or ECONNRESET: the server accepted and closed */
		else if (errno != ECONNRESET)       /* the server's reset can beat connect() back */
			failed++;
		close(s);
		if (failed > 3)
			break;
	}
	double dt = now() - t0;
	printf("{\"n\": %ld, \"seconds\": %.6f, \"rate\": %.1f, \"failed\": %ld}\n", n, dt, n / dt, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: jit_connloop server PORT | client ADDR PORT N\n");
	return 2;
}
