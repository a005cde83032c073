// SPDX-License-Identifier: GPL-2.0
/*
 * File sensor: successful changes to files, with the canonical absolute path
 * of the inode touched, resolved in the kernel.  Tracepoints only (no
 * fentry, kprobes or BPF LSM on the hosts we must support):
 *
 * - fd-based changes (open/openat/openat2/creat with write intent,
 *   ftruncate, fchmod, fchown, fsetxattr, fremovexattr, writable shared mmap)
 *   remember their arguments at sys_enter (a small per-thread hash) and, when
 *   the syscall succeeded, resolve the struct file of the fd at sys_exit:
 *   f_path is exactly what the kernel changed.
 *
 * - path-based changes (rename*, unlink*, rmdir, link*, symlink*, chmod*,
 *   chown*, truncate, mkdir*, setxattr*, removexattr*) store a pending op at
 *   sys_enter.  While the syscall runs the kernel updates the ctime of every
 *   inode it changes (inode_set_ctime_to_ts / ctime_ns_xchg /
 *   ctime_xchg_skip tracepoints, fs/inode.c); the sensor records those inodes
 *   with the alias dentry whose name is the last component the caller gave
 *   and that dentry's parent.  At sys_exit (ret == 0) the roles are told
 *   apart by the dentry tree (the object is the inode whose alias has the
 *   caller's last component as name and whose parent directory was also
 *   changed), and paths are built from dentries, never from the caller's
 *   strings: a removed name is "canonical parent directory" + "/" + the
 *   dentry name, which is exact because the final component of
 *   unlink/rmdir/rename is never followed.
 *
 * Both halves filter in the kernel with vigil_roots (dev, ino) of watched
 * directories: a record is sent only when the leaf or an ancestor of one of
 * its paths is a watched root, or cfg->file_all is set.  vigild's own
 * activity is never reported.  Failed reads and ringbuf failures are counted
 * in vigil_loss.
 */
#include "lib/common.bpf.h"

/* Watched roots: directories (and files) whose subtree the file sensor reports.
 * Key: kernel dev_t + inode of the directory; userspace fills it from the policy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_ino_key);
	__type(value, __u8);
} vigil_roots SEC(".maps");

/* include/uapi/asm-generic/fcntl.h, include/uapi/linux/mman.h, fcntl.h (AT_*) */
#define O_ACCMODE   00000003
#define O_WRONLY    00000001
#define O_RDWR      00000002
#define O_CREAT     00000100
#define O_TRUNC     00001000
#define O_PATH      010000000
#define O_TMPFILE_F 020000000      /* __O_TMPFILE */
#define FMODE_CREATED (1u << 20)   /* include/linux/fs.h */
#define PROT_WRITE  0x2
#define MAP_TYPE    0x0f
#define MAP_SHARED  0x01
#define MAP_SHARED_VALIDATE 0x03
#define MAP_ANONYMOUS 0x20
#define AT_FDCWD    -100
#define AT_REMOVEDIR 0x200
#define RENAME_EXCHANGE (1 << 1)

#define FENT_MAX    8              /* inodes recorded per pending op (overlayfs copy-up touches several) */
#define ALIAS_MAX   8              /* aliases (hard links) looked at per inode */
#define SB_MNT_MAX  16             /* mounts of one superblock looked at */
#define NAME_WORDS  (VIGIL_NAME_MAX / 8)

/* ---------- per-thread state ---------- */

/* open/creat with write intent and the fd-based ops: what sys_exit needs. */
struct fd_op {
	__u32 op;          /* enum vigil_file_op */
	__s32 fd;          /* fd argument (not used for open: the fd is ret) */
	__u32 flags;       /* open flags */
	__u32 a1, a2;      /* chmod mode; chown uid, gid */
	__u32 _pad;
	__u64 uname;       /* user pointer of the xattr name */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);             /* pid_tgid */
	__type(value, struct fd_op);
} vigil_ffd SEC(".maps");

/* One inode whose ctime the pending op changed. */
struct fent {
	struct inode *inode;
	struct dentry *dentry;   /* alias at the time (name1/name2 match preferred), may be NULL */
	struct dentry *parent;   /* dentry->d_parent then */
	struct inode *pinode;    /* parent->d_inode then */
	__u64 ino;
	__u64 dev;
	__u32 mode;
	__u32 nlink;             /* before the op's own nlink change on every fs we know */
	__u32 match;             /* bit 0: dentry name == name1, bit 1: == name2 */
	__u32 depth;             /* s_stack_depth: overlayfs inodes (what the caller sees) win */
};

struct path_op {
	__u32 op;
	__s32 dfd1, dfd2;        /* dirfds of path1 and path2 */
	__u32 a1, a2;            /* chmod mode; chown uid, gid */
	__u32 rflags;            /* renameat2 flags */
	__u64 up1;               /* user path whose last component names the object */
	__u64 up2;               /* rename/link: new path; symlink: target; xattr: name */
	__u32 n;                 /* fents used */
	__u32 names;             /* bit 0: names read, bit 1: path1 absolute, bit 2: path2 absolute */
	__u32 n1len, n2len;
	struct fent e[FENT_MAX];
	char n1[VIGIL_NAME_MAX]; /* last component of path1, zero padded */
	char n2[VIGIL_NAME_MAX]; /* last component of path2 (rename, link) */
};

/* Allocated on demand: only threads inside a path syscall hold an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct path_op);
} vigil_fpend SEC(".maps");

/* Scratch: a path_op being built, a user path, a dentry name. */
struct fscratch {
	struct path_op op;
	char upath[VIGIL_PATH_MAX];
	char name[VIGIL_NAME_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fscratch);
} vigil_fscr SEC(".maps");

static __always_inline struct fscratch *scratch_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vigil_fscr, &zero);
}

static __always_inline struct vigil_cfg *active_cfg(void)
{
	struct vigil_cfg *cfg = vigil_get_cfg();

	if (!cfg || !cfg->file_enabled || vigil_is_self(cfg))
		return NULL;
	return cfg;
}

/* ---------- sys_enter ---------- */

static __always_inline int open_enter(int dfd, __u32 flags)
{
	struct fd_op o = {};
	__u64 id;

	if (flags & (O_PATH | O_TMPFILE_F))
		return 0;               /* O_PATH changes nothing; O_TMPFILE has no name (linkat gives it one) */
	if (!(flags & (O_ACCMODE | O_CREAT | O_TRUNC)))
		return 0;               /* read-only: costs nothing more */
	if ((flags & O_ACCMODE) == O_ACCMODE && !(flags & (O_CREAT | O_TRUNC)))
		return 0;               /* 3 is "no access" (ioctl-only opens) */
	if (!active_cfg())
		return 0;
	id = bpf_get_current_pid_tgid();
	o.op = VIGIL_FOP_OPEN_WRITE;
	o.flags = flags;
	if (bpf_map_update_elem(&vigil_ffd, &id, &o, BPF_ANY))
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
	return 0;
}

static __always_inline int fd_enter(__u32 op, int fd, __u32 a1, __u32 a2, __u64 uname)
{
	struct fd_op o = {};
	__u64 id;

	if (!active_cfg())
		return 0;
	id = bpf_get_current_pid_tgid();
	o.op = op;
	o.fd = fd;
	o.a1 = a1;
	o.a2 = a2;
	o.uname = uname;
	if (bpf_map_update_elem(&vigil_ffd, &id, &o, BPF_ANY))
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
	return 0;
}

static __always_inline int path_enter(__u32 op, int dfd1, __u64 up1, int dfd2, __u64 up2,
				      __u32 a1, __u32 a2, __u32 rflags)
{
	struct fscratch *s;
	struct path_op *p;
	__u64 id;

	if (!active_cfg())
		return 0;
	s = scratch_get();
	if (!s)
		return 0;
	p = &s->op;
	p->op = op;
	p->dfd1 = dfd1;
	p->dfd2 = dfd2;
	p->a1 = a1;
	p->a2 = a2;
	p->rflags = rflags;
	p->up1 = up1;
	p->up2 = up2;
	p->n = 0;
	p->names = 0;
	p->n1len = p->n2len = 0;
	id = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&vigil_fpend, &id, p, BPF_ANY))
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
	return 0;
}

#define ARG(i) (ctx->args[i])
#define ENTER(name) SEC("tp/syscalls/sys_enter_" #name) \
	int vigil_enter_##name(struct trace_event_raw_sys_enter *ctx)

ENTER(open)       { return open_enter(AT_FDCWD, ARG(1)); }
ENTER(openat)     { return open_enter(ARG(0), ARG(2)); }
ENTER(creat)      { return open_enter(AT_FDCWD, O_CREAT | O_WRONLY | O_TRUNC); }
ENTER(openat2)
{
	__u64 flags = 0;

	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG(2)))
		return 0;       /* the kernel will fail the same read */
	return open_enter(ARG(0), (__u32)flags);
}

ENTER(ftruncate)    { return fd_enter(VIGIL_FOP_TRUNCATE, ARG(0), 0, 0, 0); }
ENTER(fchmod)       { return fd_enter(VIGIL_FOP_CHMOD, ARG(0), ARG(1), 0, 0); }
ENTER(fchown)       { return fd_enter(VIGIL_FOP_CHOWN, ARG(0), ARG(1), ARG(2), 0); }
ENTER(fsetxattr)    { return fd_enter(VIGIL_FOP_SETXATTR, ARG(0), 0, 0, ARG(1)); }
ENTER(fremovexattr) { return fd_enter(VIGIL_FOP_REMOVEXATTR, ARG(0), 0, 0, ARG(1)); }
ENTER(mmap)
{
	__u32 prot = ARG(2), flags = ARG(3);
	int fd = ARG(4);
	__u32 type = flags & MAP_TYPE;

	if (!(prot & PROT_WRITE) || (flags & MAP_ANONYMOUS) || fd < 0 ||
	    (type != MAP_SHARED && type != MAP_SHARED_VALIDATE))
		return 0;
	return fd_enter(VIGIL_FOP_MMAP_WRITE, fd, 0, 0, 0);
}

ENTER(rename)     { return path_enter(VIGIL_FOP_RENAME, AT_FDCWD, ARG(0), AT_FDCWD, ARG(1), 0, 0, 0); }
ENTER(renameat)   { return path_enter(VIGIL_FOP_RENAME, ARG(0), ARG(1), ARG(2), ARG(3), 0, 0, 0); }
ENTER(renameat2)  { return path_enter(VIGIL_FOP_RENAME, ARG(0), ARG(1), ARG(2), ARG(3), 0, 0, ARG(4)); }
ENTER(unlink)     { return path_enter(VIGIL_FOP_UNLINK, AT_FDCWD, ARG(0), 0, 0, 0, 0, 0); }
ENTER(unlinkat)
{
	return path_enter(ARG(2) & AT_REMOVEDIR ? VIGIL_FOP_RMDIR : VIGIL_FOP_UNLINK,
			  ARG(0), ARG(1), 0, 0, 0, 0, 0);
}
ENTER(rmdir)      { return path_enter(VIGIL_FOP_RMDIR, AT_FDCWD, ARG(0), 0, 0, 0, 0, 0); }
ENTER(link)       { return path_enter(VIGIL_FOP_LINK, AT_FDCWD, ARG(0), AT_FDCWD, ARG(1), 0, 0, 0); }
ENTER(linkat)     { return path_enter(VIGIL_FOP_LINK, ARG(0), ARG(1), ARG(2), ARG(3), 0, 0, 0); }
ENTER(symlink)    { return path_enter(VIGIL_FOP_SYMLINK, AT_FDCWD, ARG(1), 0, ARG(0), 0, 0, 0); }
ENTER(symlinkat)  { return path_enter(VIGIL_FOP_SYMLINK, ARG(1), ARG(2), 0, ARG(0), 0, 0, 0); }
ENTER(chmod)      { return path_enter(VIGIL_FOP_CHMOD, AT_FDCWD, ARG(0), 0, 0, ARG(1), 0, 0); }
ENTER(fchmodat)   { return path_enter(VIGIL_FOP_CHMOD, ARG(0), ARG(1), 0, 0, ARG(2), 0, 0); }
ENTER(fchmodat2)  { return path_enter(VIGIL_FOP_CHMOD, ARG(0), ARG(1), 0, 0, ARG(2), 0, 0); }
ENTER(chown)      { return path_enter(VIGIL_FOP_CHOWN, AT_FDCWD, ARG(0), 0, 0, ARG(1), ARG(2), 0); }
ENTER(lchown)     { return path_enter(VIGIL_FOP_CHOWN, AT_FDCWD, ARG(0), 0, 0, ARG(1), ARG(2), 0); }
ENTER(fchownat)   { return path_enter(VIGIL_FOP_CHOWN, ARG(0), ARG(1), 0, 0, ARG(2), ARG(3), 0); }
ENTER(truncate)   { return path_enter(VIGIL_FOP_TRUNCATE, AT_FDCWD, ARG(0), 0, 0, 0, 0, 0); }
ENTER(mkdir)      { return path_enter(VIGIL_FOP_MKDIR, AT_FDCWD, ARG(0), 0, 0, ARG(1), 0, 0); }
ENTER(mkdirat)    { return path_enter(VIGIL_FOP_MKDIR, ARG(0), ARG(1), 0, 0, ARG(2), 0, 0); }
ENTER(setxattr)   { return path_enter(VIGIL_FOP_SETXATTR, AT_FDCWD, ARG(0), 0, ARG(1), 0, 0, 0); }
ENTER(lsetxattr)  { return path_enter(VIGIL_FOP_SETXATTR, AT_FDCWD, ARG(0), 0, ARG(1), 0, 0, 0); }
ENTER(setxattrat) { return path_enter(VIGIL_FOP_SETXATTR, ARG(0), ARG(1), 0, ARG(3), 0, 0, 0); }
ENTER(removexattr)   { return path_enter(VIGIL_FOP_REMOVEXATTR, AT_FDCWD, ARG(0), 0, ARG(1), 0, 0, 0); }
ENTER(lremovexattr)  { return path_enter(VIGIL_FOP_REMOVEXATTR, AT_FDCWD, ARG(0), 0, ARG(1), 0, 0, 0); }
ENTER(removexattrat) { return path_enter(VIGIL_FOP_REMOVEXATTR, ARG(0), ARG(1), 0, ARG(3), 0, 0, 0); }

/* ---------- names ---------- */

struct lastc {
	int pos;        /* next byte to look at, backwards */
	int end;        /* one past the last byte of the component, -1 while skipping slashes */
	int start;
};

/* Finds the last component of the NUL-terminated path in scratch->upath,
 * skipping trailing slashes ("dir/" names "dir"). */
static long lastc_step(__u32 i, void *arg)
{
	struct lastc *c = arg;
	struct fscratch *s = scratch_get();
	char ch;

	if (!s || c->pos < 0) {
		if (c->end >= 0)
			c->start = 0;
		return 1;
	}
	ch = s->upath[c->pos & (VIGIL_PATH_MAX - 1)];
	if (c->end < 0) {
		if (ch != '/')
			c->end = c->pos + 1;
	} else if (ch == '/') {
		c->start = c->pos + 1;
		return 1;
	}
	c->pos--;
	return 0;
}

/* Copies the last component of user path up into dst (zero padded); returns
 * its length (0 for "" or "/"), *abs = path starts with '/'. */
static __always_inline __u32 read_last(struct fscratch *s, __u64 up, char *dst, __u32 *abs)
{
	struct lastc c = { .end = -1, .start = -1 };
	long n;
	__u32 len;
	int i;

	for (i = 0; i < NAME_WORDS; i++)
		((__u64 *)dst)[i] = 0;
	if (!up)
		return 0;
	n = bpf_probe_read_user_str(s->upath, sizeof(s->upath), (void *)up);
	if (n <= 1)
		return 0;
	*abs = s->upath[0] == '/';
	c.pos = n - 2;
	bpf_loop(VIGIL_PATH_MAX + 1, lastc_step, &c, 0);
	if (c.end < 0 || c.start < 0 || c.end <= c.start)
		return 0;
	len = c.end - c.start;
	if (len >= VIGIL_NAME_MAX)
		return 0;
	asm volatile("" : "+r"(len));
	len &= VIGIL_NAME_MAX - 1;
	bpf_probe_read_kernel(dst, len, &s->upath[c.start & (VIGIL_PATH_MAX - 1)]);
	return len;
}

/*
 * The helpers below that loop are global functions: the verifier checks each
 * once instead of once per call site and loop iteration.  Kernel pointers
 * cross them as __u64 (they are only ever read with BPF_CORE_READ).
 */

/* True when dentry d is named p->n1 (which == 1) or p->n2 (which == 2). */
__noinline int name_eq(__u64 dp, struct path_op *p, int which)
{
	struct fscratch *s = scratch_get();
	struct dentry *d = (struct dentry *)dp;
	const char *name;
	struct qstr q;
	__u64 *a, *b;
	__u32 len;
	int i;

	if (!s || !d || !p)
		return 0;
	name = which == 1 ? p->n1 : p->n2;
	len = which == 1 ? p->n1len : p->n2len;
	if (!len)
		return 0;
	q = BPF_CORE_READ(d, d_name);
	if (q.len != len || len >= VIGIL_NAME_MAX)
		return 0;
	a = (__u64 *)s->name;
	for (i = 0; i < NAME_WORDS; i++)
		a[i] = 0;
	asm volatile("" : "+r"(len));
	len &= VIGIL_NAME_MAX - 1;
	if (bpf_probe_read_kernel(s->name, len, q.name))
		return 0;
	b = (__u64 *)name;
	for (i = 0; i < NAME_WORDS; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static __always_inline __u32 name_match(struct path_op *p, struct dentry *d)
{
	__u32 m = 0;

	if (name_eq((__u64)d, p, 1))
		m |= 1;
	if ((p->op == VIGIL_FOP_RENAME || p->op == VIGIL_FOP_LINK) && name_eq((__u64)d, p, 2))
		m |= 2;
	return m;
}

/* ---------- ctime: which inodes the pending op changes ---------- */

static __always_inline struct dentry *alias_of(struct hlist_node *node)
{
	return container_of(node, struct dentry, d_u.d_alias);
}

/* chmod, chown, truncate, setxattr, removexattr: one inode changed, last */
static __always_inline int is_attr_op(__u32 op)
{
	return op == VIGIL_FOP_CHMOD || op == VIGIL_FOP_CHOWN || op == VIGIL_FOP_TRUNCATE ||
	       op == VIGIL_FOP_SETXATTR || op == VIGIL_FOP_REMOVEXATTR;
}

static __always_inline __u32 i_new_flag(void)
{
	if (bpf_core_enum_value_exists(enum inode_state_flags_t, I_NEW))
		return bpf_core_enum_value(enum inode_state_flags_t, I_NEW);
	return 1 << 3;     /* before 6.12: #define I_NEW (1 << __I_NEW), __I_NEW = 3 */
}

static __noinline int uring_change(struct inode *inode);     /* io_uring, below */

static __noinline int record_inode(struct inode *inode)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct path_op *p = bpf_map_lookup_elem(&vigil_fpend, &id);
	struct dentry *d, *first = NULL, *pick = NULL;
	struct hlist_node *node;
	struct fscratch *s;
	struct fent *e;
	__u32 n, m = 0, abs = 0;
	int i;

	if (!inode)
		return 0;
	if (!p)
		return uring_change(inode);
	/* an inode being read in (I_NEW) gets its ctime from disk: a lookup on a
	 * cold cache, not a change; only mkdir and symlink want new inodes */
	if (p->op != VIGIL_FOP_MKDIR && p->op != VIGIL_FOP_SYMLINK &&
	    (BPF_CORE_READ(inode, i_state) & i_new_flag()))
		return 0;
	n = p->n;
	if (n >= FENT_MAX) {
		if (!is_attr_op(p->op))
			return 0;
		n = FENT_MAX - 1;   /* attribute changes: the target is changed last, keep it */
	}
	for (i = 0; i < FENT_MAX; i++)
		if (i < n && p->e[i].inode == inode)
			return 0;
	if (!(p->names & 1)) {
		/* the kernel has just copied these strings: they are resident */
		s = scratch_get();
		if (!s)
			return 0;
		p->names = 1;
		p->n1len = read_last(s, p->up1, p->n1, &abs);
		if (abs)
			p->names |= 2;
		if (p->op == VIGIL_FOP_RENAME || p->op == VIGIL_FOP_LINK) {
			abs = 0;
			p->n2len = read_last(s, p->up2, p->n2, &abs);
			if (abs)
				p->names |= 4;
		}
	}
	node = BPF_CORE_READ(inode, i_dentry.first);
	for (i = 0; i < ALIAS_MAX && node; i++) {
		d = alias_of(node);
		if (!first)
			first = d;
		m = name_match(p, d);
		if (m) {
			pick = d;
			break;
		}
		node = BPF_CORE_READ(node, next);
	}
	if (!pick)
		pick = first;
	e = &p->e[n & (FENT_MAX - 1)];
	e->inode = inode;
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->dev = vigil_inode_dev(inode);
	e->mode = BPF_CORE_READ(inode, i_mode);
	e->nlink = BPF_CORE_READ(inode, __i_nlink);
	e->dentry = pick;
	e->match = m;
	e->depth = BPF_CORE_READ(inode, i_sb, s_stack_depth);
	d = pick ? BPF_CORE_READ(pick, d_parent) : NULL;
	e->parent = d;
	e->pinode = d ? BPF_CORE_READ(d, d_inode) : NULL;
	p->n = n + 1;
	return 0;
}

SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(vigil_ctime_set, struct inode *inode, struct timespec64 *ts)
{
	return record_inode(inode);
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(vigil_ctime_xchg, struct inode *inode, u32 old, u32 new, u32 cur)
{
	return record_inode(inode);
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(vigil_ctime_skip, struct inode *inode, struct timespec64 *ts)
{
	return record_inode(inode);
}

/* ---------- mounts ---------- */

struct under {
	struct dentry *d;
	struct dentry *root;
	int found;
};

static long under_step(__u32 i, void *arg)
{
	struct under *u = arg;
	struct dentry *d = u->d, *parent;

	if (d == u->root) {
		u->found = 1;
		return 1;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d)
		return 1;
	u->d = parent;
	return 0;
}

/* True when root is d or one of its ancestors (bind mounts of a subtree). */
static __always_inline int dentry_under(struct dentry *d, struct dentry *root)
{
	struct under u = { .d = d, .root = root };

	bpf_loop(VIGIL_PATH_DEPTH * 4, under_step, &u, 0);
	return u.found;
}

/* The mount the caller started from: its root for absolute paths, the dirfd's
 * or the cwd's mount for relative ones. */
static __always_inline struct vfsmount *start_mnt(int dfd, int abs)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *f;

	if (abs)
		return BPF_CORE_READ(task, fs, root.mnt);
	if (dfd == AT_FDCWD)
		return BPF_CORE_READ(task, fs, pwd.mnt);
	f = vigil_fd_file(task, dfd);
	return f ? BPF_CORE_READ(f, f_path.mnt) : NULL;
}

/*
 * A mount through which the current task sees dentry d: the start mount when
 * it holds d, else a mount of d's superblock in the task's mount namespace
 * that holds d (a whole-filesystem mount first).  NULL when none.
 */
__noinline __u64 pick_mnt(__u64 dp, int dfd, int abs)
{
	struct dentry *d = (struct dentry *)dp;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mnt_namespace *ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	struct super_block *sb = BPF_CORE_READ(d, d_sb);
	struct dentry *sroot = BPF_CORE_READ(sb, s_root), *mroot;
	struct vfsmount *vm = start_mnt(dfd, abs);
	struct mount *m, *sub = NULL;
	int i;

	if (vm && BPF_CORE_READ(vm, mnt_sb) == sb) {
		mroot = BPF_CORE_READ(vm, mnt_root);
		if (mroot == sroot || dentry_under(d, mroot))
			return (__u64)vm;
	}
	m = BPF_CORE_READ(sb, s_mounts);
	for (i = 0; i < SB_MNT_MAX && m; i++) {
		if (BPF_CORE_READ(m, mnt_ns) == ns) {
			if (BPF_CORE_READ(m, mnt.mnt_root) == sroot)
				return (__u64)&m->mnt;
			if (!sub)
				sub = m;
		}
		m = BPF_CORE_READ(m, mnt_next_for_sb);
	}
	if (sub && dentry_under(d, BPF_CORE_READ(sub, mnt.mnt_root)))
		return (__u64)&sub->mnt;
	return 0;
}

static __always_inline struct vfsmount *mnt_for(struct dentry *d, int dfd, int abs)
{
	return d ? (struct vfsmount *)pick_mnt((__u64)d, dfd, abs) : NULL;
}

/* ---------- event assembly ---------- */

struct emit {
	__u32 pos;       /* next free byte in the event */
	__u32 watched;   /* a path is under a watched root (or file_all) */
	__u32 flags;     /* VIGIL_F_FILE_* */
};

/* Appends the path of d seen through mnt; returns bytes written incl. NUL, 0 on failure. */
__noinline __u32 put_path_g(struct emit *em, __u64 dp, __u64 mp)
{
	struct vigil_pathbuf *pb = vigil_pathbuf_get();
	__u8 *buf = vigil_evbuf_get();
	struct dentry *d = (struct dentry *)dp;
	struct vfsmount *mnt = (struct vfsmount *)mp;
	__u32 res = 0, n;
	int off;

	if (!pb || !buf || !em || !d || !mnt)
		return 0;
	off = vigil_build_path(d, mnt, pb, em->watched ? NULL : &vigil_roots, &res);
	n = vigil_copy_path(buf, em->pos, pb, off);
	if (!n)
		return 0;
	if (res & 1)
		em->flags |= VIGIL_F_FILE_PATH_TRUNC;
	if (res & 2)
		em->watched = 1;
	em->pos += n;
	return n;
}

static __always_inline __u32 put_path(__u8 *buf, struct emit *em, struct dentry *d, struct vfsmount *mnt)
{
	return put_path_g(em, (__u64)d, (__u64)mnt);
}

/* Appends path(dir) + "/" + name1: the name a removed or moved-away inode had. */
__noinline __u32 put_path_name_g(struct emit *em, __u64 dir, __u64 mnt, struct path_op *p)
{
	__u8 *buf = vigil_evbuf_get();
	__u32 start, n, nlen;
	__u64 at;   /* 64-bit: the bound check must be on the register used as index */
	const char *name;

	if (!buf || !em || !p)
		return 0;
	start = em->pos;
	nlen = p->n1len;
	name = p->n1;
	if (!nlen || nlen >= VIGIL_NAME_MAX)
		return 0;
	n = put_path_g(em, dir, mnt);
	if (!n)
		return 0;
	at = start + n - 1;                 /* the NUL */
	if (n == 2)
		at = start + 1;             /* "/" + name, not "//name" */
	else if (at < VIGIL_EVBUF_SIZE)
		buf[at & VIGIL_EVBUF_MASK] = '/', at++;
	if (at > VIGIL_EVBUF_SIZE - VIGIL_NAME_MAX - 1)
		return 0;
	asm volatile("" : "+r"(at));
	/* name is zero padded: nlen bytes and the NUL */
	asm volatile("" : "+r"(nlen));
	nlen &= VIGIL_NAME_MAX - 1;
	bpf_probe_read_kernel(&buf[at & VIGIL_EVBUF_MASK], nlen + 1, name);
	em->pos = at + nlen + 1;
	return em->pos - start;
}

static __always_inline __u32 put_path_name(__u8 *buf, struct emit *em, struct dentry *dir,
					   struct vfsmount *mnt, struct path_op *p)
{
	return put_path_name_g(em, (__u64)dir, (__u64)mnt, p);
}

/* Appends a user string (symlink target, xattr name) raw; returns bytes incl. NUL. */
static __always_inline __u32 put_user_str(__u8 *buf, struct emit *em, __u64 up, __u32 max)
{
	__u64 pos = em->pos;
	__u32 sz = max > VIGIL_NAME_MAX ? VIGIL_PATH_MAX : VIGIL_NAME_MAX;
	long n;

	if (!up || pos > VIGIL_EVBUF_SIZE - VIGIL_PATH_MAX)
		return 0;
	asm volatile("" : "+r"(pos));
	n = bpf_probe_read_user_str(&buf[pos & VIGIL_EVBUF_MASK], sz, (void *)up);
	if (n <= 0)
		return 0;
	em->pos += n;
	return n;
}

static __always_inline void fill_inode(struct vigil_file *ev, struct inode *inode)
{
	ev->dev = vigil_inode_dev(inode);
	ev->ino = BPF_CORE_READ(inode, i_ino);
	ev->mode = BPF_CORE_READ(inode, i_mode);
	ev->nlink = BPF_CORE_READ(inode, __i_nlink);
}

static __always_inline struct vigil_file *ev_start(__u32 op, long ret)
{
	struct vigil_file *ev = vigil_evbuf_get();

	if (!ev)
		return NULL;
	vigil_fill_hdr(&ev->hdr, VIGIL_EV_FILE, bpf_get_current_task_btf());
	ev->op = op;
	ev->path_len = ev->path2_len = 0;
	ev->_pad = 0;
	ev->open_flags = 0;
	ev->mode = 0;
	ev->dev = ev->ino = ev->old_ino = 0;
	ev->uid_arg = ev->gid_arg = 0;
	ev->nlink = 0;
	ev->ret = ret;
	return ev;
}

static __always_inline void ev_send(struct vigil_file *ev, struct emit *em)
{
	if (!em->watched)
		return;
	ev->hdr.flags |= em->flags;
	ev->hdr.size = em->pos;
	vigil_submit(ev, VIGIL_EV_FILE, em->pos);
}

/* ---------- io_uring ---------- */

#define PF_IO_WORKER      0x00000010   /* include/linux/sched.h: io-wq and SQPOLL threads */
#define NR_IO_URING_ENTER 426          /* x86_64 (arch/x86/entry/syscalls/syscall_64.tbl) */

/*
 * io_uring requests (IORING_OP_OPENAT, WRITE, RENAMEAT, UNLINKAT, MKDIRAT, ...) change
 * files without the syscalls hooked above: they run inline in io_uring_enter(2) or on
 * the submitter's io-wq/SQPOLL threads, which share its files, fs and thread group.
 * The kernel still moves the ctime of every inode they change, so a ctime change with
 * no pending syscall op, in one of those contexts, is reported as VIGIL_FOP_IO_URING
 * for the inode's name (its first alias) seen from the task's root: the changed file,
 * or the directory that gained or lost a name. The actor is the submitting process.
 */
static __noinline int uring_change(struct inode *inode)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vigil_cfg *cfg;
	struct vigil_file *ev;
	struct hlist_node *node;
	struct dentry *d;
	struct emit em = {};

	if (!inode)
		return 0;
	if (!(task->flags & PF_IO_WORKER)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (!regs || BPF_CORE_READ(regs, orig_ax) != NR_IO_URING_ENTER)
			return 0;
	}
	cfg = active_cfg();
	if (!cfg || (BPF_CORE_READ(inode, i_state) & i_new_flag()))
		return 0;       /* a new inode: its directory's change names it */
	node = BPF_CORE_READ(inode, i_dentry.first);
	if (!node)
		return 0;
	d = alias_of(node);
	ev = ev_start(VIGIL_FOP_IO_URING, 0);
	if (!ev)
		return 0;
	fill_inode(ev, inode);
	em.pos = sizeof(*ev);
	em.watched = cfg->file_all;
	ev->path_len = put_path((__u8 *)ev, &em, d, mnt_for(d, AT_FDCWD, 1));
	if (ev->path_len)
		ev_send(ev, &em);
	return 0;
}

/* ---------- sys_exit: fd-based ---------- */

static __noinline int fd_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fd_op *o = bpf_map_lookup_elem(&vigil_ffd, &id);
	struct vigil_cfg *cfg;
	struct vigil_file *ev;
	struct file *f;
	struct inode *inode;
	struct emit em = {};
	int fd;

	if (!o)
		return 0;
	if (o->op == VIGIL_FOP_MMAP_WRITE ? (unsigned long)ret >= (unsigned long)-4095 : ret < 0)
		goto out;
	if (o->op != VIGIL_FOP_OPEN_WRITE && o->op != VIGIL_FOP_MMAP_WRITE && ret != 0)
		goto out;
	cfg = vigil_get_cfg();
	ev = ev_start(o->op, o->op == VIGIL_FOP_MMAP_WRITE ? 0 : ret);
	if (!cfg || !ev)
		goto out;
	fd = o->op == VIGIL_FOP_OPEN_WRITE ? ret : o->fd;
	f = vigil_fd_file(bpf_get_current_task_btf(), fd);
	if (!f) {
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
		goto out;
	}
	inode = BPF_CORE_READ(f, f_inode);
	fill_inode(ev, inode);
	em.pos = sizeof(*ev);
	em.watched = cfg->file_all;
	ev->path_len = put_path((__u8 *)ev, &em, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
	if (!ev->path_len) {
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
		goto out;
	}
	switch (o->op) {
	case VIGIL_FOP_OPEN_WRITE:
		ev->open_flags = o->flags;
		if (BPF_CORE_READ(f, f_mode) & FMODE_CREATED)
			ev->hdr.flags |= VIGIL_F_FILE_CREATED;
		if (o->flags & O_TRUNC)
			ev->hdr.flags |= VIGIL_F_FILE_TRUNC;
		break;
	case VIGIL_FOP_CHMOD:
		ev->uid_arg = o->a1;
		break;
	case VIGIL_FOP_CHOWN:
		ev->uid_arg = o->a1;
		ev->gid_arg = o->a2;
		break;
	case VIGIL_FOP_SETXATTR:
	case VIGIL_FOP_REMOVEXATTR:
		if (em.watched)
			ev->path2_len = put_user_str((__u8 *)ev, &em, o->uname, VIGIL_NAME_MAX);
		break;
	}
	ev_send(ev, &em);
out:
	bpf_map_delete_elem(&vigil_ffd, &id);
	return 0;
}

/*
 * The exit logic is verified once, in the two handlers below; each per-syscall
 * exit program is a stub that tail-calls its handler only when the thread has
 * state (a read-only open costs one hash lookup).
 */
SEC("tracepoint")
int vigil_fd_exit(struct trace_event_raw_sys_exit *ctx)
{
	return fd_exit(ctx->ret);
}

SEC("tracepoint")
int vigil_path_exit(struct trace_event_raw_sys_exit *ctx);

enum { TAIL_FD = 0, TAIL_PATH = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} vigil_ftail SEC(".maps") = {
	.values = {
		[TAIL_FD] = (void *)&vigil_fd_exit,
		[TAIL_PATH] = (void *)&vigil_path_exit,
	},
};

/* Tail-calls the handler when the thread has state in map; a failed tail call
 * (never expected: libbpf fills the array at load) drops the state and counts. */
#define EXIT_STUB(name, map, slot) SEC("tp/syscalls/sys_exit_" #name)			\
	int vigil_exit_##name(struct trace_event_raw_sys_exit *ctx)			\
	{										\
		__u64 id = bpf_get_current_pid_tgid();					\
		if (!bpf_map_lookup_elem(&map, &id))					\
			return 0;							\
		bpf_tail_call(ctx, &vigil_ftail, slot);					\
		bpf_map_delete_elem(&map, &id);						\
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);			\
		return 0;								\
	}

#define EXIT_FD(name) EXIT_STUB(name, vigil_ffd, TAIL_FD)

EXIT_FD(open)
EXIT_FD(openat)
EXIT_FD(openat2)
EXIT_FD(creat)
EXIT_FD(ftruncate)
EXIT_FD(fchmod)
EXIT_FD(fchown)
EXIT_FD(fsetxattr)
EXIT_FD(fremovexattr)
EXIT_FD(mmap)

/* ---------- sys_exit: path-based ---------- */

__noinline int ent_has_g(struct path_op *p, __u64 inode)
{
	int i;

	if (!inode || !p)
		return 0;
	for (i = 0; i < FENT_MAX; i++)
		if (i < p->n && (__u64)p->e[i].inode == inode)
			return 1;
	return 0;
}

static __always_inline int ent_has(struct path_op *p, struct inode *inode)
{
	return ent_has_g(p, (__u64)inode);
}

/* True while dentry d still names inode (it was not freed, reused or made negative). */
static __always_inline int dentry_holds(struct dentry *d, struct inode *inode)
{
	return d && inode && BPF_CORE_READ(d, d_inode) == inode;
}

/*
 * The alias of inode named by name (which: 1 = n1, 2 = n2), other than skip,
 * whose parent directory the op changed; else (a stacked filesystem such as
 * overlayfs changes the lower directory, not its own) any alias so named when
 * loose.  NULL when none.
 */
__noinline __u64 alias_named_g(struct path_op *p, __u64 ip, int which, __u64 skip, int loose)
{
	struct inode *inode = (struct inode *)ip;
	struct hlist_node *node;
	struct dentry *d, *any = NULL;
	int i;

	if (!p || !inode)
		return 0;
	node = BPF_CORE_READ(inode, i_dentry.first);
	for (i = 0; i < ALIAS_MAX && node; i++) {
		d = alias_of(node);
		node = BPF_CORE_READ(node, next);
		if ((__u64)d == skip)
			continue;
		if (!name_eq((__u64)d, p, which))
			continue;
		if (ent_has(p, BPF_CORE_READ(d, d_parent, d_inode)))
			return (__u64)d;
		if (!any)
			any = d;
	}
	return loose ? (__u64)any : 0;
}

static __always_inline struct dentry *alias_named(struct path_op *p, struct inode *inode, int which,
						  struct dentry *skip, int loose)
{
	return (struct dentry *)alias_named_g(p, (__u64)inode, which, (__u64)skip, loose);
}

/* Index of the entry named name1 (the object of unlink, rmdir, rename and of
 * attribute changes), preferring an overlay inode over the layers below it,
 * then one whose parent the op changed too; -1 when none. */
static __always_inline int find_object(struct path_op *p)
{
	int i, best = -1;
	__u32 score, best_score = 0;

	for (i = 0; i < FENT_MAX; i++) {
		if (i >= p->n)
			break;
		if (!(p->e[i].match & 1))
			continue;
		score = 1 + ((p->e[i].depth & 0xff) << 1) + ent_has(p, p->e[i].pinode);
		if (score > best_score) {
			best = i;
			best_score = score;
		}
	}
	return best;
}

/* Index of the entry (other than skip) with an alias named name (which)
 * under a directory the op changed, the highest in a filesystem stack first;
 * *out gets the alias.  -1 when none. */
static __always_inline int find_named(struct path_op *p, int which, int skip, struct dentry **out)
{
	struct dentry *d;
	int i, best = -1;
	__u32 depth, best_depth = 0;

	for (i = 0; i < FENT_MAX; i++) {
		if (i >= p->n)
			break;
		if (i == skip)
			continue;
		d = alias_named(p, p->e[i].inode, which, which == 2 ? p->e[i].dentry : NULL,
				p->e[i].depth > 0);
		if (!d)
			continue;
		depth = (p->e[i].depth & 0xff) + 1;
		if (depth > best_depth) {
			best = i;
			best_depth = depth;
			*out = d;
		}
	}
	return best;
}

static __noinline int path_exit_op(struct path_op *p, long ret)
{
	struct vigil_cfg *cfg = vigil_get_cfg();
	struct vigil_file *ev;
	struct emit em = {};
	struct dentry *d = NULL, *dir = NULL;
	struct inode *inode;
	struct fent *e;
	int i, t = -1;
	int abs1 = !!(p->names & 2), abs2 = !!(p->names & 4);
	__u8 *buf;

	if (!cfg || p->n == 0)
		return 0;   /* no inode changed (e.g. a filesystem that keeps no ctime) */
	ev = ev_start(p->op, ret);
	if (!ev)
		return 0;
	buf = (__u8 *)ev;
	em.pos = sizeof(*ev);
	em.watched = cfg->file_all;

	switch (p->op) {
	case VIGIL_FOP_UNLINK:
	case VIGIL_FOP_RMDIR:
		t = find_object(p);
		if (t < 0)
			return 0;
		e = &p->e[t & (FENT_MAX - 1)];
		if (ent_has(p, e->pinode) && dentry_holds(e->parent, e->pinode)) {
			dir = e->parent;
		} else {
			/* the recorded alias was another hard link: the changed directory
			 * of the same filesystem */
			for (i = 0; i < FENT_MAX; i++) {
				if (i >= p->n || i == t)
					continue;
				if (S_ISDIR(p->e[i].mode) && p->e[i].dev == e->dev &&
				    dentry_holds(p->e[i].dentry, p->e[i].inode)) {
					dir = p->e[i].dentry;
					break;
				}
			}
		}
		if (!dir && dentry_holds(e->parent, e->pinode))
			dir = e->parent;    /* overlayfs: its directory's ctime is not always set */
		if (!dir)
			break;
		ev->path_len = put_path_name(buf, &em, dir, mnt_for(dir, p->dfd1, abs1), p);
		ev->dev = e->dev;
		ev->ino = e->ino;
		ev->mode = e->mode;
		/* another link keeps the inode: read its count; a freed or reused
		 * inode no longer has the recorded number (the last link went) */
		inode = e->inode;
		if (p->op == VIGIL_FOP_UNLINK && BPF_CORE_READ(inode, i_ino) == e->ino &&
		    vigil_inode_dev(inode) == e->dev)
			ev->nlink = BPF_CORE_READ(inode, __i_nlink);
		break;

	case VIGIL_FOP_RENAME:
		t = find_object(p);
		if (t < 0)
			break;
		e = &p->e[t & (FENT_MAX - 1)];
		if (!dentry_holds(e->parent, e->pinode))
			break;
		inode = e->inode;
		/* destination: the alias now named name2 in a changed directory */
		d = alias_named(p, inode, 2, NULL, e->depth > 0);
		if (!d)
			break;
		ev->path_len = put_path_name(buf, &em, e->parent, mnt_for(e->parent, p->dfd1, abs1), p);
		if (!ev->path_len)
			break;
		ev->path2_len = put_path(buf, &em, d, mnt_for(d, p->dfd2, abs2));
		fill_inode(ev, inode);
		if (!(p->rflags & RENAME_EXCHANGE)) {
			struct dentry *nparent = BPF_CORE_READ(d, d_parent);

			/* replaced: another inode that had name2 in the destination directory */
			for (i = 0; i < FENT_MAX; i++) {
				if (i >= p->n || i == t)
					continue;
				if ((p->e[i].match & 2) && p->e[i].parent == nparent &&
				    p->e[i].inode != inode) {
					ev->old_ino = p->e[i].ino;
					ev->hdr.flags |= VIGIL_F_FILE_REPLACED;
					break;
				}
			}
		}
		break;

	case VIGIL_FOP_LINK:
		/* the inode that now has an alias name2 in a changed directory */
		t = find_named(p, 2, -1, &d);
		if (t < 0 || !d)
			break;
		e = &p->e[t & (FENT_MAX - 1)];
		if (!dentry_holds(e->dentry, e->inode))
			break;
		ev->path_len = put_path(buf, &em, e->dentry, mnt_for(e->dentry, p->dfd1, abs1));
		if (!ev->path_len)
			break;
		ev->path2_len = put_path(buf, &em, d, mnt_for(d, p->dfd2, abs2));
		fill_inode(ev, e->inode);
		break;

	case VIGIL_FOP_SYMLINK:
	case VIGIL_FOP_MKDIR:
		/* the new inode: its alias is named name1 and its parent was changed */
		t = find_named(p, 1, -1, &d);
		if (t < 0 || !d)
			break;
		e = &p->e[t & (FENT_MAX - 1)];
		ev->path_len = put_path(buf, &em, d, mnt_for(d, p->dfd1, abs1));
		if (!ev->path_len)
			break;
		fill_inode(ev, e->inode);
		if (p->op == VIGIL_FOP_SYMLINK && em.watched)
			ev->path2_len = put_user_str(buf, &em, p->up2, VIGIL_PATH_MAX);
		break;

	default:
		/* chmod, chown, truncate, setxattr, removexattr: the inode changed last
		 * (lookups may have created others first: /proc/self/fd/N, ...;
		 * overlayfs copies the attributes up to its own inode last) */
		t = p->n - 1;
		e = &p->e[t & (FENT_MAX - 1)];
		d = e->dentry;
		if (!dentry_holds(d, e->inode))
			break;
		ev->path_len = put_path(buf, &em, d, mnt_for(d, p->dfd1, abs1));
		if (!ev->path_len)
			break;
		fill_inode(ev, e->inode);
		if (p->op == VIGIL_FOP_CHMOD) {
			ev->uid_arg = p->a1;
		} else if (p->op == VIGIL_FOP_CHOWN) {
			ev->uid_arg = p->a1;
			ev->gid_arg = p->a2;
		} else if (p->op == VIGIL_FOP_SETXATTR || p->op == VIGIL_FOP_REMOVEXATTR) {
			if (em.watched)
				ev->path2_len = put_user_str(buf, &em, p->up2, VIGIL_NAME_MAX);
		}
		break;
	}
	if (!ev->path_len) {
		/* the op changed inodes but none could be named: do not send a guess */
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
		return 0;
	}
	if ((p->op == VIGIL_FOP_RENAME || p->op == VIGIL_FOP_LINK) && !ev->path2_len) {
		vigil_count_loss(VIGIL_EV_FILE, VIGIL_LOSS_READ);
		return 0;
	}
	ev_send(ev, &em);
	return 0;
}

static __always_inline int path_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct path_op *p = bpf_map_lookup_elem(&vigil_fpend, &id);

	if (!p)
		return 0;
	if (ret == 0)
		path_exit_op(p, ret);
	bpf_map_delete_elem(&vigil_fpend, &id);
	return 0;
}

SEC("tracepoint")
int vigil_path_exit(struct trace_event_raw_sys_exit *ctx)
{
	return path_exit(ctx->ret);
}

#define EXIT_PATH(name) EXIT_STUB(name, vigil_fpend, TAIL_PATH)

EXIT_PATH(rename)
EXIT_PATH(renameat)
EXIT_PATH(renameat2)
EXIT_PATH(unlink)
EXIT_PATH(unlinkat)
EXIT_PATH(rmdir)
EXIT_PATH(link)
EXIT_PATH(linkat)
EXIT_PATH(symlink)
EXIT_PATH(symlinkat)
EXIT_PATH(chmod)
EXIT_PATH(fchmodat)
EXIT_PATH(fchmodat2)
EXIT_PATH(chown)
EXIT_PATH(lchown)
EXIT_PATH(fchownat)
EXIT_PATH(truncate)
EXIT_PATH(mkdir)
EXIT_PATH(mkdirat)
EXIT_PATH(setxattr)
EXIT_PATH(lsetxattr)
EXIT_PATH(setxattrat)
EXIT_PATH(removexattr)
EXIT_PATH(lremovexattr)
EXIT_PATH(removexattrat)
