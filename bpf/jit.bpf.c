/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just-in-time port access: protected ports refuse packets from sources
 * without a live grant.  One parser serves XDP (native or generic) and TC
 * (clsact ingress); packets are read with bpf_{xdp,skb}_load_bytes so every
 * read is bounds-checked by the kernel, whatever the offsets an attacker
 * chose.  Grants hold a CLOCK_BOOTTIME deadline compared with
 * bpf_ktime_get_boot_ns(): a grant expires on time with or without vigild.
 *
 * Parsing cannot be bypassed: up to two VLAN tags (802.1Q / 802.1ad; a third
 * is dropped; at TC ingress the kernel has already moved the outer tag into
 * the skb's metadata, so it counts as one of the two), IPv4 options (IHL), IPv4 fragments (a non-first fragment
 * carries no ports and cannot be delivered without its first fragment; a
 * first fragment is judged on its ports and dropped when too short to hold
 * them; TCP at fragment offset 8 is dropped, RFC 1858), IPv6 extension
 * headers (only real extension headers are walked, at most
 * VIGIL_JIT_MAX_EXT; a longer chain is dropped), IPv4 sources as
 * IPv4-mapped IPv6 so one grant covers both spellings.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_HLEN        14
#define ETH_P_IP        0x0800
#define ETH_P_IPV6      0x86DD
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88A8
#define IP_MF           0x2000
#define IP_OFFMASK      0x1fff

#define NH_HOPOPTS      0
#define NH_TCP          6
#define NH_UDP          17
#define NH_ROUTING      43
#define NH_FRAGMENT     44
#define NH_ESP          50
#define NH_AUTH         51
#define NH_NONE         59
#define NH_DSTOPTS      60
#define NH_MH           135
#define NH_HIP          139
#define NH_SHIM6        140

#define TCP_FLAG_SYN    0x02
#define TCP_FLAG_ACK    0x10

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_jit_cfg);
} vigil_jit_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIGIL_JIT_MAX_PORTS);
	__type(key, struct vigil_jit_port);
	__type(value, __u32);
} vigil_jit_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VIGIL_JIT_MAX_GRANTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_jit_key);
	__type(value, struct vigil_jit_grant);
} vigil_jit_grant SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VIGIL_JIT_MAX_SOURCES);
	__type(key, struct vigil_jit_src_key);
	__type(value, struct vigil_jit_src);
} vigil_jit_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_JIT_ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vigil_jit_stat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} vigil_jit_ev SEC(".maps");

enum { V_PASS = 0, V_DROP = 1 };
enum { P_PASS = 0, P_JUDGE = 1, P_BAD = 2 };

struct pkt {
	__u32 ifindex;
	__u32 flags;           /* VIGIL_JIT_F_V6 */
	__u8  proto;
	__u8  reason;          /* for P_BAD */
	__u8  has_ports;
	__u8  has_flags;
	__u8  tcpflags;
	__u16 dport;           /* host order */
	__u8  saddr[16];
};

static __always_inline long load(void *ctx, int xdp, __u32 off, void *to, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&vigil_jit_stat, &idx);

	if (v)
		*v += 1;
}

/* Reads the L4 ports (and TCP flags) at off; avail = bytes of L4 the IP
 * header says this packet (or first fragment) holds. */
static __always_inline int parse_l4(void *ctx, int xdp, struct pkt *p, __u32 off, __u32 avail)
{
	__u8 b[14];

	if (p->proto != NH_TCP && p->proto != NH_UDP)
		return P_PASS;
	if (avail < 4 || load(ctx, xdp, off, b, 4)) {
		p->reason = VIGIL_JIT_R_SHORT_FRAG;
		return P_BAD;
	}
	p->dport = ((__u16)b[2] << 8) | b[3];
	p->has_ports = 1;
	if (p->proto == NH_TCP && avail >= 14 && !load(ctx, xdp, off, b, 14)) {
		p->tcpflags = b[13];
		p->has_flags = 1;
	}
	return P_JUDGE;
}

static __always_inline int parse_v4(void *ctx, int xdp, struct pkt *p, __u32 off)
{
	struct iphdr ip;
	__u32 hl, tot, frag;

	if (load(ctx, xdp, off, &ip, sizeof(ip))) {
		p->reason = VIGIL_JIT_R_TRUNCATED;
		return P_BAD;
	}
	if (ip.version != 4 || ip.ihl < 5) {
		p->reason = VIGIL_JIT_R_BAD_HDR;
		return P_BAD;
	}
	__builtin_memset(p->saddr, 0, 10);
	p->saddr[10] = 0xff;
	p->saddr[11] = 0xff;
	__builtin_memcpy(&p->saddr[12], &ip.saddr, 4);
	p->proto = ip.protocol;
	hl = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	if (tot == 0)            /* BIG TCP / TSO: length not in the header */
		tot = 0xffff;
	if (tot < hl) {
		p->reason = VIGIL_JIT_R_BAD_HDR;
		return P_BAD;
	}
	frag = bpf_ntohs(ip.frag_off) & IP_OFFMASK;
	if (frag) {
		/* no ports here; the datagram is not delivered without its first fragment */
		if (frag == 1 && p->proto == NH_TCP) {
			p->reason = VIGIL_JIT_R_BAD_FRAG;
			return P_BAD;
		}
		return P_PASS;
	}
	return parse_l4(ctx, xdp, p, off + hl, tot - hl);
}

static __always_inline int parse_v6(void *ctx, int xdp, struct pkt *p, __u32 off)
{
	struct ipv6hdr ip;
	__u32 avail, hl;
	__u8 nh, eh[2];
	struct frag_hdr fh;

	if (load(ctx, xdp, off, &ip, sizeof(ip))) {
		p->reason = VIGIL_JIT_R_TRUNCATED;
		return P_BAD;
	}
	if (ip.version != 6) {
		p->reason = VIGIL_JIT_R_BAD_HDR;
		return P_BAD;
	}
	p->flags |= VIGIL_JIT_F_V6;
	__builtin_memcpy(p->saddr, &ip.saddr, 16);
	avail = bpf_ntohs(ip.payload_len);
	if (avail == 0)          /* jumbogram or BIG TCP */
		avail = 0xffffffff;
	off += sizeof(ip);
	nh = ip.nexthdr;
	for (int i = 0; i < VIGIL_JIT_MAX_EXT; i++) {
		switch (nh) {
		case NH_HOPOPTS:
		case NH_ROUTING:
		case NH_DSTOPTS:
		case NH_MH:
		case NH_HIP:
		case NH_SHIM6:
			if (load(ctx, xdp, off, eh, 2))
				goto truncated;
			hl = ((__u32)eh[1] + 1) * 8;
			break;
		case NH_AUTH:
			if (load(ctx, xdp, off, eh, 2))
				goto truncated;
			hl = ((__u32)eh[1] + 2) * 4;
			break;
		case NH_FRAGMENT:
			if (load(ctx, xdp, off, &fh, sizeof(fh)))
				goto truncated;
			if (bpf_ntohs(fh.frag_off) & 0xfff8)
				return P_PASS;       /* non-first fragment: no ports */
			eh[0] = fh.nexthdr;
			hl = 8;
			break;
		default:
			/* upper layer (or ESP / no next header): done */
			p->proto = nh;
			return parse_l4(ctx, xdp, p, off, avail);
		}
		if (hl > avail)
			goto truncated;
		avail -= hl;
		off += hl;
		nh = eh[0];
	}
	switch (nh) {
	case NH_HOPOPTS: case NH_ROUTING: case NH_DSTOPTS: case NH_MH: case NH_HIP:
	case NH_SHIM6: case NH_AUTH: case NH_FRAGMENT:
		p->reason = VIGIL_JIT_R_EXT_CHAIN;
		return P_BAD;
	}
	p->proto = nh;
	return parse_l4(ctx, xdp, p, off, avail);
truncated:
	p->reason = VIGIL_JIT_R_TRUNCATED;
	return P_BAD;
}

/* tags: VLAN tags already taken out of the frame (TC: the skb's offloaded tag) */
static __always_inline int parse(void *ctx, int xdp, struct pkt *p, int tags)
{
	__u8 eth[ETH_HLEN];
	__u16 proto;
	__u32 off = ETH_HLEN;

	if (load(ctx, xdp, 0, eth, ETH_HLEN))
		return P_PASS;      /* not an Ethernet frame the stack would take */
	proto = ((__u16)eth[12] << 8) | eth[13];
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (i + tags < 2 && (proto == ETH_P_8021Q || proto == ETH_P_8021AD)) {
			__u8 vh[4];

			if (load(ctx, xdp, off, vh, 4)) {
				p->reason = VIGIL_JIT_R_TRUNCATED;
				return P_BAD;
			}
			proto = ((__u16)vh[2] << 8) | vh[3];
			off += 4;
		}
	}
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
		p->reason = VIGIL_JIT_R_VLAN_DEPTH;
		return P_BAD;
	}
	if (proto == ETH_P_IP)
		return parse_v4(ctx, xdp, p, off);
	if (proto == ETH_P_IPV6)
		return parse_v6(ctx, xdp, p, off);
	return P_PASS;
}

/* Counts the drop for its source, samples a record, returns the verdict. */
static __always_inline int refuse(struct vigil_jit_cfg *cfg, struct pkt *p)
{
	struct vigil_jit_src_key sk = {};
	struct vigil_jit_src *s, ns = {};
	struct vigil_jit_drop *ev;
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 flags = p->flags;
	int emit = 0;

	__builtin_memcpy(sk.addr, p->saddr, 16);
	sk.port = p->has_ports ? p->dport : 0;
	sk.proto = p->proto;
	s = bpf_map_lookup_elem(&vigil_jit_src, &sk);
	if (!s) {
		ns.first_ns = now;
		bpf_map_update_elem(&vigil_jit_src, &sk, &ns, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&vigil_jit_src, &sk);
	}
	if (s) {
		__sync_fetch_and_add(&s->drops, 1);
		s->last_ns = now;
		if (now - s->win_start_ns > cfg->bf_window_ns) {
			s->win_start_ns = now;
			s->win_drops = 0;
		}
		__sync_fetch_and_add(&s->win_drops, 1);
		if (cfg->bf_threshold && s->win_drops == cfg->bf_threshold) {
			flags |= VIGIL_JIT_F_BRUTE;
			emit = 1;
		}
		if (!s->last_event_ns || now - s->last_event_ns >= cfg->sample_ns)
			emit = 1;
		if (emit)
			s->last_event_ns = now;
	}
	if (cfg->mode == VIGIL_JIT_AUDIT)
		flags |= VIGIL_JIT_F_AUDIT;
	if (emit) {
		ev = bpf_ringbuf_reserve(&vigil_jit_ev, sizeof(*ev), 0);
		if (ev) {
			ev->type = VIGIL_JIT_REC_DROP;
			ev->size = sizeof(*ev);
			ev->flags = flags;
			ev->ts_ns = now;
			ev->ifindex = p->ifindex;
			ev->port = sk.port;
			ev->proto = p->proto;
			ev->reason = p->reason;
			__builtin_memcpy(ev->addr, p->saddr, 16);
			ev->drops = s ? s->drops : 0;
			ev->win_drops = s ? s->win_drops : 0;
			ev->win_start_ns = s ? s->win_start_ns : 0;
			bpf_ringbuf_submit(ev, 0);
		} else {
			stat_inc(VIGIL_JIT_ST_EV_LOST);
		}
	}
	if (cfg->mode == VIGIL_JIT_AUDIT) {
		stat_inc(VIGIL_JIT_ST_AUDITED);
		return V_PASS;
	}
	stat_inc(VIGIL_JIT_ST_DROPPED);
	return V_DROP;
}

/* A grant is live while now < deadline.  When the longest matching prefix
 * has expired (vigild not yet there to remove it), shorter ones are tried. */
static __always_inline int granted(struct pkt *p)
{
	struct vigil_jit_key k = {};
	struct vigil_jit_grant *g;
	__u64 now = bpf_ktime_get_boot_ns();

	k.prefixlen = VIGIL_JIT_KEY_FIXED_BITS + 128;
	k.proto = p->proto;
	k.port = p->dport;
	__builtin_memcpy(k.addr, p->saddr, 16);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		g = bpf_map_lookup_elem(&vigil_jit_grant, &k);
		if (!g)
			return 0;
		if (now < g->deadline_ns)
			return 1;
		if (g->prefixlen <= VIGIL_JIT_KEY_FIXED_BITS || g->prefixlen > k.prefixlen)
			return 0;
		k.prefixlen = g->prefixlen - 1;
	}
	return 0;
}

static __always_inline int decide(void *ctx, int xdp, __u32 ifindex, int tags)
{
	__u32 zero = 0;
	struct vigil_jit_cfg *cfg = bpf_map_lookup_elem(&vigil_jit_cfg, &zero);
	struct vigil_jit_port pk = {};
	struct pkt p = {};
	int r;

	if (!cfg || cfg->mode == VIGIL_JIT_OFF || !cfg->nports)
		return V_PASS;
	p.ifindex = ifindex;
	r = parse(ctx, xdp, &p, tags);
	if (r == P_PASS)
		return V_PASS;
	if (r == P_BAD) {
		stat_inc(VIGIL_JIT_ST_MALFORMED);
		return refuse(cfg, &p);
	}
	pk.proto = p.proto;
	pk.port = p.dport;
	if (!bpf_map_lookup_elem(&vigil_jit_ports, &pk))
		return V_PASS;
	stat_inc(VIGIL_JIT_ST_JUDGED);
	if (granted(&p)) {
		stat_inc(VIGIL_JIT_ST_GRANTED);
		return V_PASS;
	}
	if (p.proto == NH_TCP && !cfg->strict) {
		if (!p.has_flags) {
			p.reason = VIGIL_JIT_R_SHORT_FRAG;
			stat_inc(VIGIL_JIT_ST_MALFORMED);
			return refuse(cfg, &p);
		}
		/* only new connections are refused: a session outlives its grant */
		if (!(p.tcpflags & TCP_FLAG_SYN) || (p.tcpflags & TCP_FLAG_ACK)) {
			stat_inc(VIGIL_JIT_ST_ESTABLISHED);
			return V_PASS;
		}
	}
	p.reason = VIGIL_JIT_R_NO_GRANT;
	return refuse(cfg, &p);
}

SEC("xdp")
int vigil_jit_xdp(struct xdp_md *ctx)
{
	return decide(ctx, 1, ctx->ingress_ifindex, 0) == V_DROP ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int vigil_jit_tc(struct __sk_buff *skb)
{
	/* the receive path strips the outer tag before TC ingress (skb_vlan_untag) */
	return decide(skb, 0, skb->ingress_ifindex, skb->vlan_present ? 1 : 0) == V_DROP ? TCX_DROP : TCX_PASS;
}
