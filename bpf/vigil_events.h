/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * vigil event ABI: the only header shared by the BPF programs and userspace.
 *
 * Rules (STYLE.md): fixed-width fields, explicit padding, no pointers or
 * bool, sizes checked with _Static_assert.  Every record starts with
 * struct vigil_hdr.  Enum values are append-only: never renumber.
 * Variable-length payloads (paths, argv) follow the fixed part and only the
 * used bytes are sent; hdr.size is the total record size in bytes.
 */
#ifndef VIGIL_EVENTS_H
#define VIGIL_EVENTS_H

#ifdef __VIGIL_BPF__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

#define VIGIL_COMM_LEN     16
#define VIGIL_PATH_MAX     4096   /* bytes of one path, including NUL */
#define VIGIL_ARGV_MAX     1024   /* bytes of argv sent (NUL-separated) */
#define VIGIL_ARGC_MAX     32     /* arguments read at most */
#define VIGIL_NAME_MAX     256    /* one path component, including NUL */
#define VIGIL_PATH_DEPTH   48     /* dentry components walked at most */
#define VIGIL_MAX_PREFIXES 64     /* watched path prefixes filtered in BPF */
#define VIGIL_PREFIX_LEN   256

/* Event types: append-only. */
enum vigil_event_type {
	VIGIL_EV_EXEC = 1,
	VIGIL_EV_FORK = 2,
	VIGIL_EV_EXIT = 3,
	VIGIL_EV_FILE = 4,
	VIGIL_EV_NET  = 5,
	VIGIL_EV_TYPE_MAX,
};

/* Loss counter slots (per-CPU array vigil_loss, index = type * 2 + cause). */
enum vigil_loss_cause {
	VIGIL_LOSS_RINGBUF = 0,   /* bpf_ringbuf_output / reserve failed */
	VIGIL_LOSS_READ    = 1,   /* a probe read failed, the record was dropped */
	VIGIL_LOSS_CAUSE_MAX,
};
#define VIGIL_LOSS_SLOTS (VIGIL_EV_TYPE_MAX * VIGIL_LOSS_CAUSE_MAX)

/* Common header: who did it and when. */
struct vigil_hdr {
	__u16 type;          /* enum vigil_event_type */
	__u16 size;          /* total record size, bytes */
	__u32 flags;         /* per-type VIGIL_F_* */
	__u64 ts_ns;         /* bpf_ktime_get_boot_ns() at the event */
	__u32 pid;           /* thread id (kernel pid) */
	__u32 tgid;          /* process id */
	__u64 start_ns;      /* process (group leader) start, boot ns: (tgid, start_ns) names a process */
	__u32 uid;           /* real uid */
	__u32 gid;           /* real gid */
	__u64 cgroup_id;     /* cgroup v2 id of the task */
	char  comm[VIGIL_COMM_LEN];
};
_Static_assert(sizeof(struct vigil_hdr) == 64, "vigil_hdr size");

/* exec flags */
#define VIGIL_F_EXE_MEMFD      (1u << 0)  /* executed file is a memfd */
#define VIGIL_F_EXE_DELETED    (1u << 1)  /* executed file was unlinked */
#define VIGIL_F_ARGV_TRUNC     (1u << 2)  /* argv did not fit */
#define VIGIL_F_PATH_TRUNC     (1u << 3)  /* a path was cut at VIGIL_PATH_DEPTH/size */
#define VIGIL_F_EXE_TMPFILE    (1u << 4)  /* O_TMPFILE-style file with no name */

struct vigil_exec {
	struct vigil_hdr hdr;
	__u32 ppid;          /* real parent tgid */
	__u32 loginuid;      /* audit login uid, (__u32)-1 when unset */
	__u64 pstart_ns;     /* real parent start, boot ns */
	__u32 euid;
	__u32 egid;
	__u32 pidns;         /* pid namespace inode */
	__u32 mntns;         /* mount namespace inode */
	__u64 exe_dev;       /* kernel dev_t of the executed file's fs (MAJOR << 20 | MINOR) */
	__u64 exe_ino;
	__u64 exe_size;
	__s64 exe_mtime_ns;
	__s64 exe_ctime_ns;
	__u32 exe_mode;
	__u32 argc;          /* arguments in the process (may exceed those sent) */
	__u16 exe_len;       /* bytes of exe path incl. NUL */
	__u16 argv_len;      /* bytes of argv (NUL-separated, last NUL included) */
	__u16 cwd_len;       /* bytes of cwd incl. NUL */
	__u16 script_len;    /* bytes of the script path incl. NUL when an interpreter runs a file; 0 otherwise */
	/* data: exe path, argv, cwd, script */
	char data[];
};
_Static_assert(sizeof(struct vigil_exec) == 64 + 88, "vigil_exec size");

struct vigil_fork {
	struct vigil_hdr hdr;   /* the parent */
	__u32 child_pid;
	__u32 child_tgid;
	__u64 child_start_ns;
};
_Static_assert(sizeof(struct vigil_fork) == 64 + 16, "vigil_fork size");

struct vigil_exit {
	struct vigil_hdr hdr;
	__s32 exit_code;        /* wait(2) status as the kernel keeps it */
	__u32 _pad;
};
_Static_assert(sizeof(struct vigil_exit) == 64 + 8, "vigil_exit size");

/* File operations: append-only. */
enum vigil_file_op {
	VIGIL_FOP_OPEN_WRITE = 1,   /* open/openat/openat2/creat with write intent */
	VIGIL_FOP_RENAME     = 2,   /* path = source, path2 = destination */
	VIGIL_FOP_UNLINK     = 3,
	VIGIL_FOP_RMDIR      = 4,
	VIGIL_FOP_LINK       = 5,   /* path = existing, path2 = new name */
	VIGIL_FOP_SYMLINK    = 6,   /* path = new link, path2 = target string */
	VIGIL_FOP_CHMOD      = 7,
	VIGIL_FOP_CHOWN      = 8,
	VIGIL_FOP_TRUNCATE   = 9,
	VIGIL_FOP_MMAP_WRITE = 10,  /* writable shared mapping of a file */
	VIGIL_FOP_MKDIR      = 11,
	VIGIL_FOP_SETXATTR   = 12,  /* path2 = attribute name (e.g. security.capability) */
	VIGIL_FOP_REMOVEXATTR = 13, /* path2 = attribute name */
	VIGIL_FOP_IO_URING   = 14,  /* an io_uring request changed this inode (its ctime moved):
	                             * those bypass the syscalls above, so the record says what
	                             * changed (a file, or the directory a name was added to or
	                             * removed from), not how */
	VIGIL_FOP_MAX,
};

/* file flags */
#define VIGIL_F_FILE_CREATED   (1u << 0)  /* O_CREAT made a new file */
#define VIGIL_F_FILE_TRUNC     (1u << 1)  /* O_TRUNC */
#define VIGIL_F_FILE_REPLACED  (1u << 2)  /* rename replaced an existing inode (old_ino) */
#define VIGIL_F_FILE_PATH_TRUNC VIGIL_F_PATH_TRUNC

struct vigil_file {
	struct vigil_hdr hdr;
	__u16 op;            /* enum vigil_file_op */
	__u16 path_len;      /* bytes of path incl. NUL */
	__u16 path2_len;     /* bytes of path2 incl. NUL, 0 if none */
	__u16 _pad;
	__u32 open_flags;    /* open(2) flags for OPEN_WRITE */
	__u32 mode;          /* inode mode after the change (S_IFMT|perm) */
	__u64 dev;           /* kernel dev_t (MAJOR << 20 | MINOR) */
	__u64 ino;
	__u64 old_ino;       /* rename: the replaced inode; 0 if none */
	__u32 uid_arg;       /* chown: new uid ((__u32)-1 = unchanged); chmod: new mode */
	__u32 gid_arg;       /* chown: new gid */
	__u32 nlink;
	__s32 ret;           /* syscall return value */
	/* data: path, path2 */
	char data[];
};
_Static_assert(sizeof(struct vigil_file) == 64 + 56, "vigil_file size");

/* Network operations: append-only. */
enum vigil_net_op {
	VIGIL_NOP_CONNECT = 1,   /* outbound connect (TCP, or UDP connect) */
	VIGIL_NOP_ACCEPT  = 2,   /* inbound accepted connection */
	VIGIL_NOP_LISTEN  = 3,
	VIGIL_NOP_BIND    = 4,
	VIGIL_NOP_MAX,
};

#define VIGIL_F_NET_MAPPED   (1u << 0)  /* IPv6 socket, IPv4-mapped peer: addrs hold IPv4 */
#define VIGIL_F_NET_INPROGRESS (1u << 1) /* non-blocking connect, EINPROGRESS */

struct vigil_net {
	struct vigil_hdr hdr;
	__u16 op;            /* enum vigil_net_op */
	__u16 family;        /* AF_INET or AF_INET6: the socket's family as seen */
	__u16 af;            /* address family of saddr/daddr after normalisation */
	__u16 proto;         /* IPPROTO_TCP / IPPROTO_UDP */
	__u16 sport;         /* local port, host order */
	__u16 dport;         /* remote port, host order */
	__s32 ret;
	__u8  saddr[16];     /* local address; IPv4 in the first 4 bytes */
	__u8  daddr[16];     /* remote address */
};
_Static_assert(sizeof(struct vigil_net) == 64 + 48, "vigil_net size");

/* Largest record userspace must accept. */
#define VIGIL_EVENT_MAX (sizeof(struct vigil_exec) + 2 * VIGIL_PATH_MAX + VIGIL_ARGV_MAX)

/* Watched prefix entry, for the file sensor's in-kernel filter (array map). */
struct vigil_prefix {
	__u32 len;                  /* bytes, without NUL; 0 = unused slot */
	__u32 _pad;
	char  path[VIGIL_PREFIX_LEN];
};

/* Sensor configuration (array map vigil_cfg, one entry). */
struct vigil_cfg {
	__u32 self_tgid;            /* vigild itself: never reported as actor */
	__u32 file_all;             /* 1 = report every file change, ignore prefixes */
	__u32 nprefixes;            /* slots used in vigil_prefixes */
	__u32 net_enabled;
	__u32 exec_enabled;
	__u32 file_enabled;
};

/*
 * JIT port access (bpf/jit.bpf.c).  Its maps are pinned under the policy's
 * jit.pin_dir (default VIGIL_PIN_DIR "/jit") so that enforcement outlives the
 * daemon; userspace and BPF share these layouts.  The JIT ringbuf carries only
 * struct vigil_jit_drop, whose first 16 bytes have the layout of vigil_hdr's
 * (type, size, flags, ts_ns); its type values are the JIT's own.
 */
#define VIGIL_JIT_MAX_GRANTS  4096
#define VIGIL_JIT_MAX_PORTS   64
#define VIGIL_JIT_MAX_SOURCES 16384   /* per-source drop counters (LRU) */
#define VIGIL_JIT_MAX_EXT     8       /* IPv6 extension headers walked at most */

enum vigil_jit_mode { VIGIL_JIT_OFF = 0, VIGIL_JIT_AUDIT = 1, VIGIL_JIT_ENFORCE = 2 };

/* vigil_jit_cfg array map, one entry. */
struct vigil_jit_cfg {
	__u32 mode;                 /* enum vigil_jit_mode */
	__u32 strict;               /* 1 = judge every packet, not only new connections */
	__u32 nports;               /* entries in vigil_jit_ports; 0 = nothing to judge */
	__u32 bf_threshold;         /* drops from one source in bf_window_ns that raise a brute-force record */
	__u64 bf_window_ns;
	__u64 sample_ns;            /* at most one sampled drop record per source per sample_ns */
};

/* vigil_jit_ports hash map key (value: __u32, unused). */
struct vigil_jit_port {
	__u8  proto;                /* IPPROTO_TCP / IPPROTO_UDP */
	__u8  _pad;
	__u16 port;                 /* host order */
};

/* vigil_jit_grant LPM trie key.  prefixlen counts bits from proto on:
 * VIGIL_JIT_KEY_FIXED_BITS for proto, pad and port, then the address prefix
 * over the 128-bit form (IPv4 as IPv4-mapped IPv6, ::ffff:a.b.c.d). */
struct vigil_jit_key {
	__u32 prefixlen;
	__u8  proto;
	__u8  _pad;
	__u16 port;                 /* host order */
	__u8  addr[16];
};
#define VIGIL_JIT_KEY_FIXED_BITS 32
_Static_assert(sizeof(struct vigil_jit_key) == 24, "vigil_jit_key size");

struct vigil_jit_grant {
	__u64 deadline_ns;          /* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); live while now < deadline */
	__u64 grant_id;
	__u32 prefixlen;            /* the key's prefixlen: lets BPF look past an expired entry */
	__u32 _pad;
};

/* vigil_jit_src LRU hash: drop counters per source and destination port. */
struct vigil_jit_src_key {
	__u8  addr[16];             /* IPv4-mapped for IPv4 */
	__u16 port;                 /* host order; 0 when the packet could not be parsed that far */
	__u8  proto;
	__u8  _pad;
};
struct vigil_jit_src {
	__u64 drops;                /* since the entry was created */
	__u64 first_ns, last_ns;    /* boot ns */
	__u64 last_event_ns;        /* last sampled record */
	__u64 win_start_ns;         /* brute-force window */
	__u64 win_drops;
};

/* Why a packet was judged bad (append-only). */
enum vigil_jit_reason {
	VIGIL_JIT_R_NO_GRANT    = 1,  /* protected port, no live grant for the source */
	VIGIL_JIT_R_TRUNCATED   = 2,  /* header cut short */
	VIGIL_JIT_R_VLAN_DEPTH  = 3,  /* more VLAN tags than parsed */
	VIGIL_JIT_R_EXT_CHAIN   = 4,  /* IPv6 extension header chain too long */
	VIGIL_JIT_R_SHORT_FRAG  = 5,  /* first fragment too short for the L4 header */
	VIGIL_JIT_R_BAD_FRAG    = 6,  /* IPv4 TCP fragment at offset 8 (RFC 1858) */
	VIGIL_JIT_R_BAD_HDR     = 7,  /* bad IP version or header length */
};

/* Statistics (per-CPU array vigil_jit_stat, index = enum). */
enum vigil_jit_stat {
	VIGIL_JIT_ST_JUDGED = 0,      /* packets to a protected port */
	VIGIL_JIT_ST_GRANTED,         /* passed: live grant */
	VIGIL_JIT_ST_ESTABLISHED,     /* passed: TCP segment of an existing connection (not strict) */
	VIGIL_JIT_ST_DROPPED,
	VIGIL_JIT_ST_AUDITED,         /* would have been dropped (audit mode) */
	VIGIL_JIT_ST_MALFORMED,       /* judged bad by the parser (also counted as dropped/audited) */
	VIGIL_JIT_ST_EV_LOST,         /* ringbuf full */
	VIGIL_JIT_ST_MAX,
};

#define VIGIL_JIT_REC_DROP      0x4a01   /* type of struct vigil_jit_drop */
#define VIGIL_JIT_F_AUDIT       (1u << 0) /* audit mode: the packet passed */
#define VIGIL_JIT_F_BRUTE       (1u << 1) /* this drop reached bf_threshold in the window */
#define VIGIL_JIT_F_V6          (1u << 2) /* arrived as IPv6 (else IPv4) */

struct vigil_jit_drop {
	__u16 type;                 /* VIGIL_JIT_REC_DROP */
	__u16 size;
	__u32 flags;                /* VIGIL_JIT_F_* */
	__u64 ts_ns;                /* boot ns */
	__u32 ifindex;
	__u16 port;                 /* host order */
	__u8  proto;
	__u8  reason;               /* enum vigil_jit_reason */
	__u8  addr[16];
	__u64 drops;                /* from this source to this port so far */
	__u64 win_drops;            /* in the current brute-force window */
	__u64 win_start_ns;
};
_Static_assert(sizeof(struct vigil_jit_drop) == 64, "vigil_jit_drop size");

/*
 * Detections sensor (bpf/detect.bpf.c): the extra behaviours detection rules
 * need that the process, file and network sensors do not report.  Its own
 * ringbuf carries only struct vigil_det; hdr.type is VIGIL_DET_REC_BASE + kind.
 */
enum vigil_det_kind {
	VIGIL_DET_PTRACE     = 1,   /* a[0] request, a[1] target pid (caller's pid ns) */
	VIGIL_DET_MODULE     = 2,   /* a[0] 0 init_module / 1 finit_module, a[1] fd, a[2] flags; path = fd's file */
	VIGIL_DET_SETNS      = 3,   /* a[0] fd, a[1] nstype; ns_before / ns after the call */
	VIGIL_DET_UNSHARE    = 4,   /* a[0] flags */
	VIGIL_DET_SIGNAL     = 5,   /* a[0] signal, a[1] target pid, a[2] 0 kill/1 tkill/2 tgkill, a[3] tid */
	VIGIL_DET_FILE_READ  = 6,   /* a[0] kernel dev_t, a[1] inode, a[2] open flags; path */
	VIGIL_DET_EXEC_STDIO = 7,   /* fdtype[0..2], family/raddr/rport of the first inet socket */
	VIGIL_DET_KIND_MAX,
};
#define VIGIL_DET_REC_BASE 0x4400

/* Namespace slots in vigil_det.ns / ns_before. */
enum vigil_det_ns { VIGIL_NS_MNT, VIGIL_NS_PID, VIGIL_NS_NET, VIGIL_NS_UTS, VIGIL_NS_IPC,
		    VIGIL_NS_CGROUP, VIGIL_NS_USER, VIGIL_NS_MAX };

/* What an fd refers to (exec_stdio). */
enum vigil_det_fd { VIGIL_FD_NONE = 0, VIGIL_FD_FILE, VIGIL_FD_PIPE, VIGIL_FD_CHR,
		    VIGIL_FD_INET, VIGIL_FD_UNIX, VIGIL_FD_SOCKET, VIGIL_FD_OTHER };

struct vigil_det {
	struct vigil_hdr hdr;
	__u32 kind;          /* enum vigil_det_kind */
	__s32 ret;           /* syscall return value; 0 for exec_stdio */
	__u64 a[4];          /* per kind, see enum vigil_det_kind */
	__u32 ns_before[VIGIL_NS_MAX];
	__u32 ns[VIGIL_NS_MAX];
	__u8  fdtype[4];     /* enum vigil_det_fd of fds 0, 1, 2 */
	__u16 family;        /* AF_INET/AF_INET6 of the first inet socket on 0..2, else 0 */
	__u16 rport;         /* its remote port, host order */
	__u8  raddr[16];     /* its remote address (IPv4 in the first 4 bytes) */
	__u16 path_len;      /* bytes of path incl. NUL, 0 if none */
	__u16 _pad[3];
	char  data[];        /* path */
};
_Static_assert(sizeof(struct vigil_det) == 64 + 128, "vigil_det size");

/* detect.bpf.c configuration (array map vigil_det_cfg, one entry). */
struct vigil_det_cfg {
	__u32 self_tgid;     /* vigild: its own actions are never reported */
	__u32 _pad;
};

#endif /* VIGIL_EVENTS_H */
