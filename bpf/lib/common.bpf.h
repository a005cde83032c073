/* SPDX-License-Identifier: GPL-2.0 */
/*
 * BPF-only helpers shared by every vigil sensor: the ringbuf, loss counters,
 * configuration, per-CPU scratch, the common header and in-kernel path
 * resolution (dentry + mount walk, the way d_path() does it).
 */
#ifndef VIGIL_COMMON_BPF_H
#define VIGIL_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

#define S_IFMT   00170000
#define S_IFDIR  0040000
#define S_IFREG  0100000
#define S_IFLNK  0120000
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)

/* One ringbuf shared by every sensor object (userspace reuses the first one's fd). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} vigil_events SEC(".maps");

/*
 * Consumer wake-ups: at most one per CPU per VIGIL_WAKE_NS.  A wake-up is an irq_work
 * (a self-IPI: on a VM a trapped APIC write that cost about 3 us per event under load);
 * the records in between are sent with BPF_RB_NO_WAKEUP and read by the woken consumer,
 * which polls once more VIGIL_WAKE_NS after its last non-empty read (sensors.h).
 */
#define VIGIL_WAKE_NS 1000000ull
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} vigil_wake SEC(".maps");

/* Loss counters, index = type * VIGIL_LOSS_CAUSE_MAX + cause. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_LOSS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} vigil_loss SEC(".maps");

/* Events emitted, per type (per-CPU): "events/s" and the base for loss ratios. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_EV_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vigil_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_cfg);
} vigil_cfg SEC(".maps");

/* Scratch: one event being built, and path assembly space. */
#define VIGIL_EVBUF_SIZE 16384
#define VIGIL_EVBUF_MASK (VIGIL_EVBUF_SIZE - 1)
struct vigil_evbuf { __u8 buf[VIGIL_EVBUF_SIZE]; };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_evbuf);
} vigil_evbuf SEC(".maps");

#define VIGIL_PB_SIZE   8192              /* components are written back to front in [0, 4096+NAME) */
#define VIGIL_PB_HALF   4096
struct vigil_pathbuf { char buf[VIGIL_PB_SIZE]; };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_pathbuf);
} vigil_pathbuf SEC(".maps");

static __always_inline struct vigil_cfg *vigil_get_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vigil_cfg, &zero);
}

static __always_inline void vigil_count_loss(__u32 type, __u32 cause)
{
	__u32 idx = type * VIGIL_LOSS_CAUSE_MAX + cause;
	__u64 *v = bpf_map_lookup_elem(&vigil_loss, &idx);
	if (v)
		*v += 1;
}

static __always_inline void vigil_count_sent(__u32 type)
{
	__u64 *v = bpf_map_lookup_elem(&vigil_sent, &type);
	if (v)
		*v += 1;
}

static __always_inline void *vigil_evbuf_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vigil_evbuf, &zero);
}

/* BPF_RB_FORCE_WAKEUP when this CPU has not woken the consumer for VIGIL_WAKE_NS, else
 * BPF_RB_NO_WAKEUP. */
static __always_inline __u64 vigil_wake_flags(void)
{
	__u32 zero = 0;
	__u64 *last = bpf_map_lookup_elem(&vigil_wake, &zero);
	__u64 now = bpf_ktime_get_ns();

	if (!last)
		return 0;
	if (now - *last < VIGIL_WAKE_NS)
		return BPF_RB_NO_WAKEUP;
	*last = now;
	return BPF_RB_FORCE_WAKEUP;
}

/* Sends size bytes of the scratch event; counts a loss on failure. */
static __always_inline int vigil_submit(void *ev, __u32 type, __u64 size)
{
	if (size > VIGIL_EVBUF_SIZE)
		size = VIGIL_EVBUF_SIZE;
	if (size < sizeof(struct vigil_hdr))
		size = sizeof(struct vigil_hdr);
	if (bpf_ringbuf_output(&vigil_events, ev, size, vigil_wake_flags())) {
		vigil_count_loss(type, VIGIL_LOSS_RINGBUF);
		return -1;
	}
	vigil_count_sent(type);
	return 0;
}

static __always_inline __u64 vigil_task_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* Kernel dev_t (MAJOR << 20 | MINOR) of an inode's filesystem. */
static __always_inline __u64 vigil_inode_dev(struct inode *inode)
{
	return BPF_CORE_READ(inode, i_sb, s_dev);
}

/* Fills the common header for the current task. */
static __always_inline void vigil_fill_hdr(struct vigil_hdr *h, __u32 type, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	h->type = type;
	h->flags = 0;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = (__u32)id;
	h->tgid = id >> 32;
	h->start_ns = vigil_task_start(task);
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* True when the current process is vigild itself (never an actor). */
static __always_inline int vigil_is_self(struct vigil_cfg *cfg)
{
	return cfg && cfg->self_tgid && cfg->self_tgid == (bpf_get_current_pid_tgid() >> 32);
}

/*
 * Path resolution: walks dentry->d_parent up to the mount root, then hops to
 * the parent mount's mountpoint, as prepend_path() in fs/d_path.c does.
 * Components are written back to front into the per-CPU path buffer ending
 * at VIGIL_PB_HALF.  Returns the offset of the first byte of the
 * NUL-terminated absolute path in pb->buf, or a negative value on failure.
 * *flags gets VIGIL_F_PATH_TRUNC when the walk hit VIGIL_PATH_DEPTH.
 * When watch is non-NULL, *watch is set to 1 if any directory on the way
 * (or the leaf) is in the watched-roots map passed as roots (may be NULL).
 */
struct vigil_ino_key {
	__u64 dev;   /* kernel dev_t */
	__u64 ino;
};

struct vigil_walk {
	struct dentry *dentry;
	struct mount *mnt;
	void *roots;
	int off;
	__u32 result;      /* bit 0: truncated, bit 1: under a watched root */
};

static __always_inline struct vigil_pathbuf *vigil_pathbuf_get(void);

/* One step of the walk (bpf_loop callback: the verifier checks it once). */
static long vigil_walk_step(__u32 i, void *arg)
{
	struct vigil_walk *w = arg;
	struct vigil_pathbuf *pb = vigil_pathbuf_get();
	struct dentry *dentry = w->dentry, *parent, *mnt_root;
	struct mount *mnt = w->mnt, *mnt_parent;
	struct qstr d_name;
	__u32 len;
	int off, o;

	if (!pb)
		return 1;
	if (w->roots && !(w->result & 2)) {
		struct vigil_ino_key k = {
			.dev = BPF_CORE_READ(dentry, d_sb, s_dev),
			.ino = BPF_CORE_READ(dentry, d_inode, i_ino),
		};
		if (bpf_map_lookup_elem(w->roots, &k))
			w->result |= 2;
	}
	mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	if (dentry == mnt_root) {
		mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (mnt == mnt_parent || !mnt_parent)
			return 1;        /* root of this namespace */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == parent)
		return 1;                /* root of a detached tree (memfd, pipe, ...) */
	d_name = BPF_CORE_READ(dentry, d_name);
	len = d_name.len & (VIGIL_NAME_MAX - 1);
	off = w->off - (int)(len + 1);
	if (off < 0) {
		w->result |= 1;
		return 1;
	}
	o = off & (VIGIL_PB_HALF - 1);
	pb->buf[o] = '/';
	bpf_probe_read_kernel(&pb->buf[(o + 1) & (VIGIL_PB_HALF - 1)], len, d_name.name);
	w->off = off;
	w->dentry = parent;
	return 0;
}

/*
 * Path resolution: walks dentry->d_parent up to the mount root, then hops to
 * the parent mount's mountpoint, as prepend_path() in fs/d_path.c does.
 * Components are written back to front into the per-CPU path buffer ending
 * at VIGIL_PB_HALF - 1 (the NUL).  Returns the offset of the first byte of the
 * NUL-terminated absolute path in pb->buf, or -1.  *out gets bit 0 when the
 * walk was cut (VIGIL_PATH_DEPTH or buffer), bit 1 when roots (a hash map of
 * struct vigil_ino_key, may be NULL) holds the leaf or one of its ancestors.
 */
static __always_inline int vigil_build_path(struct dentry *dentry, struct vfsmount *vfsmnt,
					    struct vigil_pathbuf *pb, void *roots, __u32 *out)
{
	struct vigil_walk w = {
		.dentry = dentry,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.roots = roots,
		.off = VIGIL_PB_HALF - 1,
	};
	long n;

	if (!pb || !dentry || !vfsmnt)
		return -1;
	pb->buf[VIGIL_PB_HALF - 1] = 0;
	n = bpf_loop(VIGIL_PATH_DEPTH, vigil_walk_step, &w, 0);
	if (n >= VIGIL_PATH_DEPTH)
		w.result |= 1;
	if (w.off == VIGIL_PB_HALF - 1) {
		/* the root itself, or a detached dentry: use its own name */
		struct dentry *last = w.dentry;
		struct qstr d_name = BPF_CORE_READ(last, d_name);
		__u32 len = d_name.len & (VIGIL_NAME_MAX - 1);
		char c0 = 0;

		bpf_probe_read_kernel(&c0, 1, d_name.name);
		if (len && !(len == 1 && c0 == '/')) {
			int o = (w.off - (int)(len + 1)) & (VIGIL_PB_HALF - 1);
			pb->buf[o] = '/';
			bpf_probe_read_kernel(&pb->buf[(o + 1) & (VIGIL_PB_HALF - 1)], len, d_name.name);
			w.off = o;
		} else {
			w.off = VIGIL_PB_HALF - 2;
			pb->buf[VIGIL_PB_HALF - 2] = '/';
		}
	}
	if (out)
		*out = w.result;
	return w.off;
}

/*
 * Copies the path built by vigil_build_path() at offset off into dst at
 * position pos of the event buffer.  Returns bytes copied including the NUL.
 */
static __always_inline __u32 vigil_copy_path(__u8 *evbuf, __u32 pos, struct vigil_pathbuf *pb, int off)
{
	__u32 len;

	if (off < 0 || off >= VIGIL_PB_HALF)
		return 0;
	len = VIGIL_PB_HALF - off;
	/* keep the verifier's bounds: the compiler must not fold these masks away */
	asm volatile("" : "+r"(len));
	len &= (VIGIL_PATH_MAX * 2 - 1);
	if (len > VIGIL_PATH_MAX || len == 0)
		return 0;
	if (pos > VIGIL_EVBUF_SIZE - VIGIL_PATH_MAX)
		return 0;
	asm volatile("" : "+r"(pos));
	bpf_probe_read_kernel(&evbuf[pos & VIGIL_EVBUF_MASK], len, &pb->buf[off & (VIGIL_PB_HALF - 1)]);
	return len;
}

static __always_inline struct vigil_pathbuf *vigil_pathbuf_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vigil_pathbuf, &zero);
}

/* struct file * of fd in the current task, or NULL. */
static __always_inline struct file *vigil_fd_file(struct task_struct *task, int fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	struct file **fdarr;
	struct file *f = NULL;
	unsigned int max;

	if (fd < 0 || !fdt)
		return NULL;
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max)
		return NULL;
	fdarr = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fdarr[fd]);
	return f;
}

#endif /* VIGIL_COMMON_BPF_H */
