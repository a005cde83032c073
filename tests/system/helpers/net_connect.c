/*
 * net_connect PROTO ADDR PORT: connects a tcp or udp socket to ADDR:PORT
 * (IPv4 or IPv6 literal; the socket's family follows the literal) with
 * connect(2) and prints "<local port> <errno>" on success, then exits.
 * Used by tests/system/test_net.py to have another process be the actor.
 * Exit status: 0 connected, 1 connect failed, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = {0}, local = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen, llen = sizeof(local);
	int fd, type, port;

	if (argc != 4 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
		fprintf(stderr, "usage: net_connect tcp|udp ADDR PORT\n");
		return 2;
	}
	type = strcmp(argv[1], "tcp") ? SOCK_DGRAM : SOCK_STREAM;
	port = atoi(argv[3]);
	if (inet_pton(AF_INET, argv[2], &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		slen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		slen = sizeof(*s6);
	} else {
		fprintf(stderr, "net_connect: bad address %s\n", argv[2]);
		return 2;
	}
	fd = socket(ss.ss_family, type, 0);
	if (fd < 0) {
		perror("net_connect: socket");
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&ss, slen)) {
		printf("0 %d\n", errno);
		return 1;
	}
	if (getsockname(fd, (struct sockaddr *)&local, &llen)) {
		perror("net_connect: getsockname");
		return 1;
	}
	printf("%u 0\n", ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
							 : ((struct sockaddr_in6 *)&local)->sin6_port));
	close(fd);
	return 0;
}
