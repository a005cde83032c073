// SPDX-License-Identifier: GPL-2.0
/* Bench floor for B5/B6 (tools/bench_jit.py): the least an XDP port filter can do.
 * xdp_drop parses Ethernet, IPv4 and the L4 ports with direct packet access and drops
 * TCP or UDP packets to port VB_PORT (set with -DVB_PORT=...), counting them; xdp_pass
 * passes everything (the cost of having a program on the veth at all). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef VB_PORT
#define VB_PORT 2201
#endif

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} vb_drops SEC(".maps");

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u16 *ports;
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(0x0800))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || (ip->protocol != 6 && ip->protocol != 17))
		return XDP_PASS;
	ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 2) > end || ports[1] != bpf_htons(VB_PORT))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&vb_drops, &zero);
	if (n)
		*n += 1;
	return XDP_DROP;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
