// SPDX-License-Identifier: GPL-2.0
/*
 * Detections sensor: behaviours the detection rules need that the process,
 * file and network sensors do not report.  Tracepoints only.  vigild attaches
 * only the programs of the event kinds its loaded rules use (the others are
 * not even loaded), so a rule set that never asks for, say, signals costs
 * nothing on kill(2).
 *
 *   ptrace       PTRACE_ATTACH / PTRACE_SEIZE that succeeded (sys_exit)
 *   module       init_module / finit_module attempts (sys_enter: the attempt is
 *                the signal, whatever the kernel then decides; on kernels
 *                built without module syscall tracepoints, raw sys_enter
 *                filtered by syscall number)
 *   setns        setns that succeeded, with the namespaces before and after
 *   unshare      unshare that succeeded
 *   signal       kill/tkill/tgkill whose target is a protected pid (vigild)
 *   file_read    open for reading of a protected inode (e.g. /etc/shadow),
 *                matched by (dev, inode) on the opened struct file: exact
 *                whatever path, symlink or dirfd the caller used
 *   exec_stdio   at exec, the kinds of fds 0/1/2, sent only when one of them
 *                is an inet socket (a shell on a socket is a reverse shell)
 *
 * Records go to this object's own ringbuf (struct vigil_det); ringbuf and
 * read failures are counted in vigil_loss (slot VIGIL_DET_* * 2 + cause).
 */
#include "lib/common.bpf.h"

#define PTRACE_ATTACH 16
#define PTRACE_SEIZE  0x4206
#define O_ACCMODE     00000003
#define O_WRONLY      00000001
#define O_PATH        010000000
#define S_IFSOCK      0140000
#define S_IFIFO       0010000
#define S_IFCHR       0020000
#define AF_UNIX       1
#define AF_INET       2
#define AF_INET6      10
#define NR_INIT_MODULE  175   /* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) */
#define NR_FINIT_MODULE 313

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} vigil_det_ev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_det_cfg);
} vigil_det_cfg SEC(".maps");

/* Protected pids (vigild): signals to them are reported. Key tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} vigil_det_pids SEC(".maps");

/* Protected inodes: reads of them are reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vigil_ino_key);
	__type(value, __u8);
} vigil_det_ino SEC(".maps");

/* Per-thread arguments kept from sys_enter to sys_exit. */
struct det_args {
	__u64 a[4];
	__u32 ns_before[VIGIL_NS_MAX];
	__u32 _pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct det_args);
} vigil_det_args SEC(".maps");

/* Scratch record (with room for one path). */
struct det_buf { __u8 b[sizeof(struct vigil_det) + VIGIL_PATH_MAX]; };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct det_buf);
} vigil_det_buf SEC(".maps");

static __always_inline void det_loss(__u32 kind, __u32 cause)
{
	__u32 idx = kind * VIGIL_LOSS_CAUSE_MAX + cause;
	__u64 *v = bpf_map_lookup_elem(&vigil_loss, &idx);

	if (v)
		*v += 1;
}

static __always_inline int det_self(void)
{
	__u32 zero = 0;
	struct vigil_det_cfg *c = bpf_map_lookup_elem(&vigil_det_cfg, &zero);

	return c && c->self_tgid && c->self_tgid == (bpf_get_current_pid_tgid() >> 32);
}

/* A zeroed record for the current task, or NULL. */
static __always_inline struct vigil_det *det_new(__u32 kind, struct task_struct *task)
{
	__u32 zero = 0;
	struct vigil_det *d = bpf_map_lookup_elem(&vigil_det_buf, &zero);

	if (!d)
		return NULL;
	__builtin_memset(d, 0, sizeof(*d));
	vigil_fill_hdr(&d->hdr, VIGIL_DET_REC_BASE + kind, task);
	d->hdr.size = sizeof(*d);
	d->kind = kind;
	return d;
}

static __always_inline void det_send(struct vigil_det *d)
{
	__u32 size = sizeof(*d) + d->path_len;

	if (size > sizeof(struct det_buf))
		size = sizeof(struct det_buf);
	d->hdr.size = size;
	asm volatile("" : "+r"(size));
	if (size < sizeof(*d) || size > sizeof(struct det_buf))
		return;
	if (bpf_ringbuf_output(&vigil_det_ev, d, size, 0))
		det_loss(d->kind, VIGIL_LOSS_RINGBUF);
}

/* Appends the path of f as the record's path. */
static __always_inline void det_path(struct vigil_det *d, struct file *f)
{
	struct vigil_pathbuf *pb = vigil_pathbuf_get();
	__u32 flags = 0, len;
	int off;

	if (!pb || !f)
		return;
	off = vigil_build_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), pb, NULL, &flags);
	if (off < 0 || off >= VIGIL_PB_HALF) {
		det_loss(d->kind, VIGIL_LOSS_READ);
		return;
	}
	len = VIGIL_PB_HALF - off;
	/* keep the verifier's bounds: the compiler must not fold the mask away */
	asm volatile("" : "+r"(len));
	len &= (VIGIL_PATH_MAX * 2 - 1);
	if (len == 0 || len > VIGIL_PATH_MAX)
		return;
	asm volatile("" : "+r"(len));
	len &= (VIGIL_PATH_MAX * 2 - 1);
	if (bpf_probe_read_kernel(d->data, len, &pb->buf[off & (VIGIL_PB_HALF - 1)]) == 0)
		d->path_len = len;
	if (flags & 1)
		d->hdr.flags |= VIGIL_F_PATH_TRUNC;
}

static __always_inline void ns_read(struct task_struct *task, __u32 ns[VIGIL_NS_MAX])
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ns[VIGIL_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns[VIGIL_NS_PID] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns[VIGIL_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns[VIGIL_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns[VIGIL_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns[VIGIL_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns[VIGIL_NS_USER] = BPF_CORE_READ(task, cred, user_ns, ns.inum);
}

static __always_inline void args_put(__u64 a0, __u64 a1, __u64 a2, int with_ns)
{
	struct det_args a = { .a = { a0, a1, a2 } };
	__u64 id = bpf_get_current_pid_tgid();

	if (with_ns)
		ns_read(bpf_get_current_task_btf(), a.ns_before);
	bpf_map_update_elem(&vigil_det_args, &id, &a, BPF_ANY);
}

/* Takes (and removes) this thread's saved arguments into d; 0 if there were any. */
static __always_inline int args_take(struct vigil_det *d)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct det_args *a = bpf_map_lookup_elem(&vigil_det_args, &id);

	if (!a)
		return -1;
	d->a[0] = a->a[0];
	d->a[1] = a->a[1];
	d->a[2] = a->a[2];
	__builtin_memcpy(d->ns_before, a->ns_before, sizeof(d->ns_before));
	bpf_map_delete_elem(&vigil_det_args, &id);
	return 0;
}

static __always_inline void args_drop(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&vigil_det_args, &id);
}

#define ARG(i) (ctx->args[i])

/* ---------- ptrace ---------- */

SEC("tp/syscalls/sys_enter_ptrace")
int vigil_det_ptrace_in(struct trace_event_raw_sys_enter *ctx)
{
	long req = ARG(0);

	if ((req == PTRACE_ATTACH || req == PTRACE_SEIZE) && !det_self())
		args_put(req, ARG(1), 0, 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_ptrace")
int vigil_det_ptrace_out(struct trace_event_raw_sys_exit *ctx)
{
	struct vigil_det *d;

	if (ctx->ret != 0) {
		args_drop();
		return 0;
	}
	d = det_new(VIGIL_DET_PTRACE, bpf_get_current_task_btf());
	if (!d || args_take(d))
		return 0;
	det_send(d);
	return 0;
}

/* ---------- module load attempts ---------- */

static __always_inline int module_attempt(__u64 which, long fd, long flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_det *d;

	if (det_self())
		return 0;
	d = det_new(VIGIL_DET_MODULE, task);
	if (!d)
		return 0;
	d->a[0] = which;
	d->a[1] = fd;
	d->a[2] = flags;
	if (which == 1)
		det_path(d, vigil_fd_file(task, fd));
	det_send(d);
	return 0;
}

SEC("tp/syscalls/sys_enter_init_module")
int vigil_det_initmod(struct trace_event_raw_sys_enter *ctx)
{
	return module_attempt(0, -1, 0);
}

SEC("tp/syscalls/sys_enter_finit_module")
int vigil_det_finitmod(struct trace_event_raw_sys_enter *ctx)
{
	return module_attempt(1, ARG(0), ARG(2));
}

/* Kernels without module syscall tracepoints (CONFIG_MODULES=n still has the
 * syscall numbers, answering ENOSYS): every syscall entry, filtered by number. */
SEC("tp_btf/sys_enter")
int BPF_PROG(vigil_det_modraw, struct pt_regs *regs, long id)
{
	if (id != NR_INIT_MODULE && id != NR_FINIT_MODULE)
		return 0;
	if (id == NR_INIT_MODULE)
		return module_attempt(0, -1, 0);
	return module_attempt(1, PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs));
}

/* ---------- namespaces ---------- */

SEC("tp/syscalls/sys_enter_setns")
int vigil_det_setns_in(struct trace_event_raw_sys_enter *ctx)
{
	if (!det_self())
		args_put(ARG(0), ARG(1), 0, 1);
	return 0;
}

SEC("tp/syscalls/sys_exit_setns")
int vigil_det_setns_out(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_det *d;

	if (ctx->ret != 0) {
		args_drop();
		return 0;
	}
	d = det_new(VIGIL_DET_SETNS, task);
	if (!d || args_take(d))
		return 0;
	ns_read(task, d->ns);
	det_send(d);
	return 0;
}

SEC("tp/syscalls/sys_enter_unshare")
int vigil_det_unshare_in(struct trace_event_raw_sys_enter *ctx)
{
	if (!det_self())
		args_put(ARG(0), 0, 0, 1);
	return 0;
}

SEC("tp/syscalls/sys_exit_unshare")
int vigil_det_unshare_out(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_det *d;

	if (ctx->ret != 0) {
		args_drop();
		return 0;
	}
	d = det_new(VIGIL_DET_UNSHARE, task);
	if (!d || args_take(d))
		return 0;
	ns_read(task, d->ns);
	det_send(d);
	return 0;
}

/* ---------- signals to protected processes ---------- */

static __always_inline int signal_attempt(__u32 which, long pid, long tid, long sig)
{
	__u32 key;
	struct vigil_det *d;

	if (sig == 0 || pid <= 0)
		return 0;           /* kill(pid, 0) only probes; pid <= 0 is a group or everyone */
	key = pid;
	if (!bpf_map_lookup_elem(&vigil_det_pids, &key) || det_self())
		return 0;
	d = det_new(VIGIL_DET_SIGNAL, bpf_get_current_task_btf());
	if (!d)
		return 0;
	d->a[0] = sig;
	d->a[1] = pid;
	d->a[2] = which;
	d->a[3] = tid;
	det_send(d);
	return 0;
}

SEC("tp/syscalls/sys_enter_kill")
int vigil_det_kill(struct trace_event_raw_sys_enter *ctx)
{
	return signal_attempt(0, ARG(0), 0, ARG(1));
}

SEC("tp/syscalls/sys_enter_tkill")
int vigil_det_tkill(struct trace_event_raw_sys_enter *ctx)
{
	/* a tid: the protected set holds vigild's tgid, which is also its main thread's tid */
	return signal_attempt(1, ARG(0), ARG(0), ARG(1));
}

SEC("tp/syscalls/sys_enter_tgkill")
int vigil_det_tgkill(struct trace_event_raw_sys_enter *ctx)
{
	return signal_attempt(2, ARG(0), ARG(1), ARG(2));
}

/* ---------- reads of protected files ---------- */

static __always_inline int open_read_exit(long ret)
{
	struct task_struct *task;
	struct vigil_ino_key k;
	struct vigil_det *d;
	struct inode *inode;
	struct file *f;
	__u32 fflags;

	if (ret < 0)
		return 0;
	task = bpf_get_current_task_btf();
	f = vigil_fd_file(task, ret);
	if (!f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	k.dev = vigil_inode_dev(inode);
	k.ino = BPF_CORE_READ(inode, i_ino);
	if (!bpf_map_lookup_elem(&vigil_det_ino, &k))
		return 0;
	fflags = BPF_CORE_READ(f, f_flags);
	if ((fflags & O_PATH) || (fflags & O_ACCMODE) == O_WRONLY || det_self())
		return 0;
	d = det_new(VIGIL_DET_FILE_READ, task);
	if (!d)
		return 0;
	d->ret = ret;
	d->a[0] = k.dev;
	d->a[1] = k.ino;
	d->a[2] = fflags;
	det_path(d, f);
	det_send(d);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int vigil_det_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open_read_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_open")
int vigil_det_open(struct trace_event_raw_sys_exit *ctx)
{
	return open_read_exit(ctx->ret);
}

SEC("tp/syscalls/sys_exit_openat2")
int vigil_det_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open_read_exit(ctx->ret);
}

/* ---------- stdio at exec ---------- */

static __always_inline __u8 fd_kind(struct task_struct *task, int fd, struct vigil_det *d)
{
	struct file *f = vigil_fd_file(task, fd);
	struct socket *sock;
	struct sock *sk;
	__u16 fam;
	__u32 mode;

	if (!f)
		return VIGIL_FD_NONE;
	mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	if (mode == S_IFIFO)
		return VIGIL_FD_PIPE;
	if (mode == S_IFCHR)
		return VIGIL_FD_CHR;
	if (mode == S_IFREG || mode == S_IFDIR)
		return VIGIL_FD_FILE;
	if (mode != S_IFSOCK)
		return VIGIL_FD_OTHER;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam == AF_UNIX)
		return VIGIL_FD_UNIX;
	if (fam != AF_INET && fam != AF_INET6)
		return VIGIL_FD_SOCKET;
	if (!d->family) {
		d->family = fam;
		d->rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (fam == AF_INET)
			BPF_CORE_READ_INTO(&d->raddr, sk, __sk_common.skc_daddr);
		else
			BPF_CORE_READ_INTO(&d->raddr, sk, __sk_common.skc_v6_daddr);
	}
	return VIGIL_FD_INET;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_det_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_det *d = det_new(VIGIL_DET_EXEC_STDIO, task);

	if (!d)
		return 0;
	d->fdtype[0] = fd_kind(task, 0, d);
	d->fdtype[1] = fd_kind(task, 1, d);
	d->fdtype[2] = fd_kind(task, 2, d);
	if (d->fdtype[0] != VIGIL_FD_INET && d->fdtype[1] != VIGIL_FD_INET && d->fdtype[2] != VIGIL_FD_INET)
		return 0;
	d->a[0] = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	det_send(d);
	return 0;
}
