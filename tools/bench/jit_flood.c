/*
 * B6 sender (tools/bench_jit.py): UDP datagrams to DST:PORT as raw Ethernet frames on
 * IFACE (AF_PACKET, qdisc bypass, sendmmsg batches of 64) for SECONDS; prints
 * {"sent","errors","seconds","pps"}.  Source port varies so flows spread over queues.
 *
 *   jit_flood IFACE DST_MAC SRC DST PORT SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FLEN  (14 + 20 + 8 + 18)   /* 60 bytes: the Ethernet minimum without FCS */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint8_t f[BATCH][FLEN], dmac[6];
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct ifreq ifr = { 0 };
	struct in_addr s4, d4;
	unsigned long long sent = 0, errors = 0;
	int one = 1, sk;

	if (argc != 7 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
				&dmac[4], &dmac[5]) != 6 ||
	    inet_pton(AF_INET, argv[3], &s4) != 1 || inet_pton(AF_INET, argv[4], &d4) != 1) {
		fprintf(stderr, "usage: jit_flood IFACE DST_MAC SRC DST PORT SECONDS\n");
		return 2;
	}
	sk = socket(AF_PACKET, SOCK_RAW, 0);
	if (sk < 0) {
		perror("socket");
		return 2;
	}
	setsockopt(sk, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(sk, SIOCGIFHWADDR, &ifr)) {
		perror("SIOCGIFHWADDR");
		return 2;
	}
	sa.sll_ifindex = (int)if_nametoindex(argv[1]);
	memcpy(sa.sll_addr, dmac, 6);
	for (int i = 0; i < BATCH; i++) {
		uint8_t *p = f[i], *ip = p + 14, *u = ip + 20;
		uint32_t c = 0;
		uint16_t sport = (uint16_t)(10000 + i), dport = (uint16_t)atoi(argv[5]);

		memset(p, 0, FLEN);
		memcpy(p, dmac, 6);
		memcpy(p + 6, ifr.ifr_hwaddr.sa_data, 6);
		p[12] = 0x08;
		ip[0] = 0x45;
		ip[3] = FLEN - 14;
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, &s4, 4);
		memcpy(ip + 16, &d4, 4);
		for (int k = 0; k < 20; k += 2)
			c += (uint32_t)ip[k] << 8 | ip[k + 1];
		while (c >> 16)
			c = (c & 0xffff) + (c >> 16);
		ip[10] = (uint8_t)(~c >> 8);
		ip[11] = (uint8_t)~c;
		u[0] = sport >> 8; u[1] = sport & 0xff;
		u[2] = dport >> 8; u[3] = dport & 0xff;
		u[5] = FLEN - 14 - 20;      /* length; checksum 0 = none (IPv4) */
		iov[i] = (struct iovec){ p, FLEN };
		m[i].msg_hdr = (struct msghdr){ .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov[i],
					       .msg_iovlen = 1 };
	}
	double t0 = now(), end = t0 + atof(argv[6]), t;
	do {
		int r = sendmmsg(sk, m, BATCH, 0);
		if (r > 0)
			sent += (unsigned)r;
		else
			errors++;
		t = now();
	} while (t < end);
	printf("{\"sent\": %llu, \"errors\": %llu, \"seconds\": %.6f, \"pps\": %.0f}\n", sent, errors, t - t0,
	       sent / (t - t0));
	return 0;
}
