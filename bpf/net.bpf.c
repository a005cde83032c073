// SPDX-License-Identifier: GPL-2.0
/*
 * Network sensor: connect, accept/accept4, listen and bind on TCP and UDP
 * sockets, IPv4 and IPv6.
 *
 * Only syscall tracepoints are used (no fentry, kprobes or LSM on the target
 * kernels).  sys_enter_* keeps the socket fd per thread (key pid_tgid);
 * sys_exit_* checks the return value and, on success, reads the endpoints
 * from the kernel's struct sock_common of that fd (fd -> struct file ->
 * private_data (struct socket) -> sk), never from the caller's sockaddr: the
 * record shows what the kernel bound or connected, including an ephemeral
 * local port and the source address routing picked.  accept needs no enter
 * state: its return value is the new fd.
 *
 * Reported: connect returning 0 or -EINPROGRESS (VIGIL_F_NET_INPROGRESS);
 * accept/accept4 returning a fd; listen and bind returning 0.  Failed calls
 * are not reported: after a failed connect the kernel has reset the socket's
 * destination and released its local port, so there is nothing true to show.
 * Likewise an -EINPROGRESS connect whose socket is already TCP_CLOSE at
 * sys_exit (on loopback the RST is processed before connect returns; the
 * local port is gone) is a failure and not reported.  connect(AF_UNSPEC) (a
 * disconnect, remote port 0 afterwards) is not reported either.
 *
 * An AF_INET6 socket whose peer (or, unconnected, whose local address) is
 * IPv4-mapped (::ffff:a.b.c.d) is sent with af = AF_INET, the addresses in
 * IPv4 form and VIGIL_F_NET_MAPPED; family stays AF_INET6.
 *
 * Not seen: io_uring connect/accept/bind/listen (they bypass the syscall
 * tracepoints), datagrams sent with sendto/sendmsg to an address on an
 * unconnected UDP socket, MPTCP and raw sockets.
 */
#include "lib/common.bpf.h"
#include <bpf/bpf_endian.h>

/* IPPROTO_*, SOCK_* and TCP_CLOSE are enums in vmlinux.h; these are macros in the uapi */
#define AF_INET      2
#define AF_INET6     10
#define S_IFSOCK     0140000
#define EINPROGRESS  115

/* Syscall arguments kept from sys_enter to sys_exit. */
struct net_args {
	__s32 fd;
	__u32 op;    /* enum vigil_net_op */
};

/* LRU: an entry left by a thread that never reached sys_exit is evicted, never blocks inserts. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct net_args);
} vigil_net_args SEC(".maps");

static __always_inline int net_wanted(void)
{
	struct vigil_cfg *cfg = vigil_get_cfg();

	return cfg && cfg->net_enabled && !vigil_is_self(cfg);
}

static __always_inline int net_enter(long fd, __u32 op)
{
	struct net_args a = { .fd = (__s32)fd, .op = op };
	__u64 id = bpf_get_current_pid_tgid();

	if (!net_wanted())
		return 0;
	if (bpf_map_update_elem(&vigil_net_args, &id, &a, BPF_ANY))
		vigil_count_loss(VIGIL_EV_NET, VIGIL_LOSS_READ);
	return 0;
}

static __always_inline int addr6_is_v4mapped(const __u32 *w)
{
	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int addr6_is_any(const __u32 *w)
{
	return w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0;
}

/* Keeps the IPv4 part of a mapped (or unspecified) IPv6 address, in place. */
static __always_inline void addr6_to_v4(__u32 *w)
{
	w[0] = w[3];
	w[1] = 0;
	w[2] = 0;
	w[3] = 0;
}

/*
 * Builds and sends the record for socket fd of the current task after a
 * successful op.  Sockets that are not TCP/UDP over IPv4/IPv6 are skipped.
 */
static __always_inline int net_emit(int fd, __u32 op, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sock_common *skc;
	struct vigil_net *ev;
	struct socket *sock;
	struct file *file;
	struct sock *sk;
	__u16 family = 0, proto = 0, num = 0, type = 0;
	__u8 state = 0;
	__be16 dport = 0;
	__u32 *sa, *da;
	long err = 0;

	file = vigil_fd_file(task, fd);
	if (!file) {
		/* closed by another thread between the syscall and here */
		vigil_count_loss(VIGIL_EV_NET, VIGIL_LOSS_READ);
		return 0;
	}
	/* the fd may have been replaced meanwhile: only a socket's private_data is a struct socket */
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk) {
		vigil_count_loss(VIGIL_EV_NET, VIGIL_LOSS_READ);
		return 0;
	}
	skc = &sk->__sk_common;
	err |= bpf_core_read(&family, sizeof(family), &skc->skc_family);
	err |= bpf_core_read(&proto, sizeof(proto), &sk->sk_protocol);
	err |= bpf_core_read(&type, sizeof(type), &sk->sk_type);
	if (err) {
		vigil_count_loss(VIGIL_EV_NET, VIGIL_LOSS_READ);
		return 0;
	}
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (!(proto == IPPROTO_TCP && type == SOCK_STREAM) &&
	    !(proto == IPPROTO_UDP && type == SOCK_DGRAM))
		return 0;

	ev = vigil_evbuf_get();
	if (!ev)
		return 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	vigil_fill_hdr(&ev->hdr, VIGIL_EV_NET, task);
	ev->hdr.size = sizeof(*ev);

	err |= bpf_core_read(&num, sizeof(num), &skc->skc_num);
	err |= bpf_core_read(&dport, sizeof(dport), &skc->skc_dport);
	err |= bpf_core_read(&state, sizeof(state), &skc->skc_state);
	sa = (__u32 *)ev->saddr;
	da = (__u32 *)ev->daddr;
	if (family == AF_INET) {
		err |= bpf_core_read(sa, 4, &skc->skc_rcv_saddr);
		err |= bpf_core_read(da, 4, &skc->skc_daddr);
		ev->af = AF_INET;
	} else {
		err |= bpf_core_read(sa, 16, &skc->skc_v6_rcv_saddr);
		err |= bpf_core_read(da, 16, &skc->skc_v6_daddr);
		ev->af = AF_INET6;
		if (addr6_is_v4mapped(da) || (addr6_is_any(da) && addr6_is_v4mapped(sa))) {
			/* both ends of a mapped socket are mapped (or unspecified) */
			addr6_to_v4(sa);
			addr6_to_v4(da);
			ev->af = AF_INET;
			ev->hdr.flags |= VIGIL_F_NET_MAPPED;
		}
	}
	if (err) {
		vigil_count_loss(VIGIL_EV_NET, VIGIL_LOSS_READ);
		return 0;
	}
	if (op == VIGIL_NOP_CONNECT && !dport)
		return 0;   /* connect(AF_UNSPEC): a disconnect, not an outbound connection */
	if (ret == -EINPROGRESS && state == TCP_CLOSE)
		return 0;   /* refused or reset before the syscall returned (loopback): a failure */

	ev->op = op;
	ev->family = family;
	ev->proto = proto;
	ev->sport = num;
	ev->dport = bpf_ntohs(dport);
	ev->ret = (__s32)ret;
	if (ret == -EINPROGRESS)
		ev->hdr.flags |= VIGIL_F_NET_INPROGRESS;
	vigil_submit(ev, VIGIL_EV_NET, sizeof(*ev));
	return 0;
}

/* Ends a connect/bind/listen: the fd comes from the enter state. */
static __always_inline int net_exit(long ret, __u32 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_args *a;
	__s32 fd;
	__u32 aop;

	a = bpf_map_lookup_elem(&vigil_net_args, &id);
	if (!a)
		return 0;
	fd = a->fd;
	aop = a->op;
	bpf_map_delete_elem(&vigil_net_args, &id);
	if (aop != op)
		return 0;
	if (ret != 0 && !(op == VIGIL_NOP_CONNECT && ret == -EINPROGRESS))
		return 0;
	return net_emit(fd, op, ret);
}

SEC("tp/syscalls/sys_enter_connect")
int vigil_net_connect_enter(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(ctx->args[0], VIGIL_NOP_CONNECT);
}

SEC("tp/syscalls/sys_exit_connect")
int vigil_net_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret, VIGIL_NOP_CONNECT);
}

SEC("tp/syscalls/sys_enter_bind")
int vigil_net_bind_enter(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(ctx->args[0], VIGIL_NOP_BIND);
}

SEC("tp/syscalls/sys_exit_bind")
int vigil_net_bind_exit(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret, VIGIL_NOP_BIND);
}

SEC("tp/syscalls/sys_enter_listen")
int vigil_net_listen_enter(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(ctx->args[0], VIGIL_NOP_LISTEN);
}

SEC("tp/syscalls/sys_exit_listen")
int vigil_net_listen_exit(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx->ret, VIGIL_NOP_LISTEN);
}

static __always_inline int accept_exit(long ret)
{
	if (ret < 0 || !net_wanted())
		return 0;
	return net_emit((int)ret, VIGIL_NOP_ACCEPT, 0);
}

SEC("tp/syscalls/sys_exit_accept")
int vigil_net_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_accept4")
int vigil_net_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}
