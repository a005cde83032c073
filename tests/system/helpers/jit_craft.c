/*
 * jit_craft: sends one crafted TCP SYN on an interface (AF_PACKET) and reports
 * whether the target answered with a SYN-ACK within a second, i.e. whether
 * the packet reached the listening socket.  Used to check that header tricks
 * never get past the JIT filter.
 *
 *   jit_craft IFACE DST_MAC CASE SRC DST DPORT [VLANS]   prints SYNACK or NONE
 *
 * VLANS (optional): the frame's VLAN tags, outermost first, as TPID:VID in
 * hex TPID and decimal VID, comma-separated: "8100:100" (802.1Q),
 * "88a8:300,8100:400" (QinQ), up to 4 tags.
 *
 * CASE: v4_plain | v4_opts (8 bytes of IPv4 options) | v4_frag16 (SYN split
 * after 16 TCP bytes) | v4_frag8 (split after 8: ports but no flags in the
 * first fragment) | v4_trunc (IPv4 header cut short) | v6_plain | v6_ext
 * (hop-by-hop + destination options) | v6_longchain (12 destination options
 * headers) | v6_frag_short (first fragment holds 8 TCP bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint8_t smac[6], dmac[6];
static int sk, ifindex;
static uint16_t ipid;   /* random: fragment queues of earlier runs must not mix in */
static uint16_t vlan_tpid[4], vlan_tci[4];
static int nvlan;

static uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void send_frame(const uint8_t *l3, size_t n, uint16_t ethertype)
{
	uint8_t f[2048];
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
	size_t off = 12;

	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	for (int i = 0; i < nvlan; i++, off += 4) {
		f[off] = vlan_tpid[i] >> 8;
		f[off + 1] = vlan_tpid[i] & 0xff;
		f[off + 2] = vlan_tci[i] >> 8;
		f[off + 3] = vlan_tci[i] & 0xff;
	}
	f[off] = ethertype >> 8;
	f[off + 1] = ethertype & 0xff;
	memcpy(f + off + 2, l3, n);
	memcpy(sa.sll_addr, dmac, 6);
	if (sendto(sk, f, off + 2 + n, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("sendto");
		exit(2);
	}
}

/* 20-byte SYN with a checksum over the pseudo header given as a partial sum */
static void build_syn(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t psum)
{
	memset(t, 0, 20);
	t[0] = sport >> 8; t[1] = sport & 0xff;
	t[2] = dport >> 8; t[3] = dport & 0xff;
	t[4] = 0x12; t[5] = 0x34; t[6] = 0x56; t[7] = 0x78;
	t[12] = 5 << 4;
	t[13] = 0x02;                /* SYN */
	t[14] = 0xff; t[15] = 0xff;  /* window */
	uint16_t c = fold(sum16(t, 20, psum));
	t[16] = c >> 8; t[17] = c & 0xff;
}

static void ip4_hdr(uint8_t *h, int ihl, size_t tot, uint16_t frag, const struct in_addr *s, const struct in_addr *d)
{
	memset(h, 0, ihl * 4);
	h[0] = 0x40 | ihl;
	h[2] = tot >> 8; h[3] = tot & 0xff;
	h[4] = ipid >> 8; h[5] = ipid & 0xff;
	h[6] = frag >> 8; h[7] = frag & 0xff;
	h[8] = 64;
	h[9] = 6;
	memcpy(h + 12, s, 4);
	memcpy(h + 16, d, 4);
	for (int i = 20; i < ihl * 4; i++)
		h[i] = 1;                /* NOP options */
	if (ihl > 5)
		h[ihl * 4 - 1] = 0;      /* EOL */
	uint16_t c = fold(sum16(h, ihl * 4, 0));
	h[10] = c >> 8; h[11] = c & 0xff;
}

static void ip6_hdr(uint8_t *h, size_t plen, uint8_t nh, const struct in6_addr *s, const struct in6_addr *d)
{
	memset(h, 0, 40);
	h[0] = 0x60;
	h[4] = plen >> 8; h[5] = plen & 0xff;
	h[6] = nh;
	h[7] = 64;
	memcpy(h + 8, s, 16);
	memcpy(h + 24, d, 16);
}

static int wait_synack(int v6, uint16_t sport, uint16_t dport)
{
	struct timespec t0, t;
	uint8_t b[2048];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = sk, .events = POLLIN };
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ms = 1000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0 || poll(&p, 1, (int)ms) <= 0)
			return 0;
		ssize_t n = recv(sk, b, sizeof(b), 0);
		if (n < 14)
			continue;
		size_t off = 12;
		uint16_t et = b[off] << 8 | b[off + 1];
		/* the reply of a VLAN sub-interface: the outer tag is usually in the
		 * packet's metadata (VLAN offload), inner ones in the data */
		while ((et == 0x8100 || et == 0x88a8) && off + 6 <= (size_t)n) {
			off += 4;
			et = b[off] << 8 | b[off + 1];
		}
		off += 2;
		uint8_t *tcp;
		if (!v6 && et == 0x0800 && off + 20 <= (size_t)n && b[off + 9] == 6)
			tcp = b + off + (b[off] & 0xf) * 4;
		else if (v6 && et == 0x86dd && off + 40 <= (size_t)n && b[off + 6] == 6)
			tcp = b + off + 40;
		else
			continue;
		if (tcp + 14 > b + n)
			continue;
		if ((tcp[0] << 8 | tcp[1]) == dport && (tcp[2] << 8 | tcp[3]) == sport && (tcp[13] & 0x12) == 0x12)
			return 1;
	}
}

int main(int argc, char **argv)
{
	struct ifreq ifr = { 0 };
	struct in_addr s4, d4;
	struct in6_addr s6, d6;
	uint8_t pkt[2048], syn[20];
	const char *c;
	uint16_t sport, dport;
	int v6;

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: jit_craft IFACE DST_MAC CASE SRC DST DPORT [TPID:VID,...]\n");
		return 2;
	}
	if (argc == 8) {
		const char *v = argv[7];
		unsigned tpid, vid;
		int used;

		while (*v) {
			if (nvlan == 4 || sscanf(v, "%x:%u%n", &tpid, &vid, &used) != 2 || vid > 4095 ||
			    (v[used] && v[used] != ',')) {
				fprintf(stderr, "bad VLAN list %s\n", argv[7]);
				return 2;
			}
			vlan_tpid[nvlan] = (uint16_t)tpid;
			vlan_tci[nvlan++] = (uint16_t)vid;
			v += used + (v[used] == ',');
		}
	}
	c = argv[3];
	v6 = !strncmp(c, "v6", 2);
	dport = (uint16_t)atoi(argv[6]);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	sport = (uint16_t)(40000 + rand() % 20000);
	ipid = (uint16_t)rand();
	if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3], &dmac[4],
		   &dmac[5]) != 6)
		return 2;
	if ((v6 && (inet_pton(AF_INET6, argv[4], &s6) != 1 || inet_pton(AF_INET6, argv[5], &d6) != 1)) ||
	    (!v6 && (inet_pton(AF_INET, argv[4], &s4) != 1 || inet_pton(AF_INET, argv[5], &d4) != 1))) {
		fprintf(stderr, "bad address\n");
		return 2;
	}
	sk = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (sk < 0) {
		perror("socket");
		return 2;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(sk, SIOCGIFHWADDR, &ifr)) {
		perror("SIOCGIFHWADDR");
		return 2;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	ifindex = (int)if_nametoindex(argv[1]);
	struct sockaddr_ll bind_sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
	bind(sk, (struct sockaddr *)&bind_sa, sizeof(bind_sa));

	if (!v6) {
		uint8_t ph[12];
		memcpy(ph, &s4, 4);
		memcpy(ph + 4, &d4, 4);
		ph[8] = 0; ph[9] = 6; ph[10] = 0; ph[11] = 20;
		build_syn(syn, sport, dport, sum16(ph, 12, 0));
		if (!strcmp(c, "v4_plain") || !strcmp(c, "v4_opts")) {
			int ihl = !strcmp(c, "v4_opts") ? 7 : 5;
			ip4_hdr(pkt, ihl, ihl * 4 + 20, 0, &s4, &d4);
			memcpy(pkt + ihl * 4, syn, 20);
			send_frame(pkt, ihl * 4 + 20, 0x0800);
		} else if (!strcmp(c, "v4_frag16") || !strcmp(c, "v4_frag8")) {
			size_t first = !strcmp(c, "v4_frag16") ? 16 : 8;
			ip4_hdr(pkt, 5, 20 + first, 0x2000, &s4, &d4);          /* MF, offset 0 */
			memcpy(pkt + 20, syn, first);
			send_frame(pkt, 20 + first, 0x0800);
			ip4_hdr(pkt, 5, 20 + 20 - first, (uint16_t)(first / 8), &s4, &d4);
			memcpy(pkt + 20, syn + first, 20 - first);
			send_frame(pkt, 20 + 20 - first, 0x0800);
		} else if (!strcmp(c, "v4_trunc")) {
			ip4_hdr(pkt, 5, 40, 0, &s4, &d4);
			send_frame(pkt, 12, 0x0800);                           /* header cut at 12 bytes */
		} else {
			fprintf(stderr, "unknown case %s\n", c);
			return 2;
		}
	} else {
		uint8_t ph[40];
		memcpy(ph, &s6, 16);
		memcpy(ph + 16, &d6, 16);
		memset(ph + 32, 0, 8);
		ph[35] = 20;
		ph[39] = 6;
		build_syn(syn, sport, dport, sum16(ph, 40, 0));
		if (!strcmp(c, "v6_plain")) {
			ip6_hdr(pkt, 20, 6, &s6, &d6);
			memcpy(pkt + 40, syn, 20);
			send_frame(pkt, 60, 0x86dd);
		} else if (!strcmp(c, "v6_ext") || !strcmp(c, "v6_longchain")) {
			int n = !strcmp(c, "v6_ext") ? 2 : 12;
			size_t off = 40;
			ip6_hdr(pkt, (size_t)n * 8 + 20, !strcmp(c, "v6_ext") ? 0 : 60, &s6, &d6);
			for (int i = 0; i < n; i++) {
				memset(pkt + off, 0, 8);
				pkt[off] = i == n - 1 ? 6 : 60;    /* next: dest opts ... then TCP */
				pkt[off + 2] = 1;                  /* PadN, 4 bytes of padding */
				pkt[off + 3] = 4;
				off += 8;
			}
			memcpy(pkt + off, syn, 20);
			send_frame(pkt, off + 20, 0x86dd);
		} else if (!strcmp(c, "v6_frag_short")) {
			ip6_hdr(pkt, 8 + 8, 44, &s6, &d6);
			memset(pkt + 40, 0, 8);
			pkt[40] = 6;
			pkt[43] = 1;                           /* offset 0, M = 1 */
			pkt[44] = 0x12; pkt[45] = 0x34; pkt[46] = ipid >> 8; pkt[47] = ipid & 0xff;  /* id */
			memcpy(pkt + 48, syn, 8);
			send_frame(pkt, 56, 0x86dd);
			ip6_hdr(pkt, 8 + 12, 44, &s6, &d6);
			memset(pkt + 40, 0, 8);
			pkt[40] = 6;
			pkt[43] = 8;                           /* offset 1 (8 bytes), M = 0 */
			pkt[44] = 0x12; pkt[45] = 0x34; pkt[46] = ipid >> 8; pkt[47] = ipid & 0xff;
			memcpy(pkt + 48, syn + 8, 12);
			send_frame(pkt, 60, 0x86dd);
		} else {
			fprintf(stderr, "unknown case %s\n", c);
			return 2;
		}
	}
	puts(wait_synack(v6, sport, dport) ? "SYNACK" : "NONE");
	return 0;
}
