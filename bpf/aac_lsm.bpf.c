// SPDX-License-Identifier: GPL-2.0
/*
 * Adaptive application control in the kernel.
 *
 * BPF LSM backend (used when the kernel lets BPF LSM programs attach: "bpf" in
 * the active LSM list): bprm_check_security for every exec, mmap_file and
 * file_mprotect for PROT_EXEC mappings (the dynamic loader mapping a program or
 * library).  The verdict comes from vigil_aac_verd, keyed by file identity
 * (kernel dev_t, inode), which userspace fills with the verdict it computed from
 * the rules and content hash; an identity with no verdict is reported on the
 * vigil_aac_miss ringbuf for userspace to decide, and denied or allowed meanwhile
 * as cfg.miss_deny says.  vigild's own accesses are always allowed.
 *
 * Fileless guard (works without BPF LSM): at sched_process_exec, after the point
 * of no return, an exec of a memfd or of a file with no name (O_TMPFILE,
 * unlinked) gets SIGKILL (cfg.fileless = 1) or SIGSTOP for a userspace decision
 * by hash (cfg.fileless = 2) before the new image runs one instruction.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define EPERM     1
#define PROT_EXEC 0x4
#define SIGKILL   9
#define SIGSTOP   19

enum { AAC_V_NONE = 0, AAC_V_ALLOW = 1, AAC_V_DENY = 2 };
enum { C_EXEC = 0, C_MMAP = 1, C_DENY = 2, C_MISS = 3, C_FILELESS = 4, C_RB_FULL = 5, C_MAX = 8 };

struct aac_key {
	__u64 dev;
	__u64 ino;
};

struct aac_cfg {
	__u32 enforce;     /* LSM hooks decide (0: allow everything) */
	__u32 self_tgid;
	__u32 fileless;    /* 0 off, 1 SIGKILL, 2 SIGSTOP for a userspace decision */
	__u32 miss_deny;   /* identity without verdict: 1 deny, 0 allow */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct aac_key);
	__type(value, __u8);
} vigil_aac_verd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aac_cfg);
} vigil_aac_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vigil_aac_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} vigil_aac_miss SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&vigil_aac_cnt, &i);

	if (c)
		*c += 1;
}

static __always_inline struct aac_cfg *cfg(void)
{
	__u32 z = 0;

	return bpf_map_lookup_elem(&vigil_aac_cfg, &z);
}

static __always_inline int decide(struct file *file)
{
	struct aac_cfg *c = cfg();
	struct aac_key k = {};
	struct inode *ino;
	__u8 *v;

	if (!c || !c->enforce || !file)
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == c->self_tgid)
		return 0;
	ino = BPF_CORE_READ(file, f_inode);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.ino = BPF_CORE_READ(ino, i_ino);
	v = bpf_map_lookup_elem(&vigil_aac_verd, &k);
	if (v && *v == AAC_V_ALLOW)
		return 0;
	if (v && *v == AAC_V_DENY) {
		count(C_DENY);
		return -EPERM;
	}
	count(C_MISS);
	if (bpf_ringbuf_output(&vigil_aac_miss, &k, sizeof(k), 0))
		count(C_RB_FULL);
	if (c->miss_deny) {
		count(C_DENY);
		return -EPERM;
	}
	return 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(vigil_aac_bprm, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	count(C_EXEC);
	return decide(BPF_CORE_READ(bprm, file));
}

SEC("lsm/mmap_file")
int BPF_PROG(vigil_aac_mmap, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret || !file || !(prot & PROT_EXEC))
		return ret;
	count(C_MMAP);
	return decide(file);
}

SEC("lsm/file_mprotect")
int BPF_PROG(vigil_aac_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct file *file;

	if (ret || !(prot & PROT_EXEC))
		return ret;
	file = BPF_CORE_READ(vma, vm_file);
	if (!file)
		return 0;
	count(C_MMAP);
	return decide(file);
}

static __always_inline int nameless(struct file *f)
{
	char name[8] = {};
	const unsigned char *p;

	if (!f)
		return 0;
	if (BPF_CORE_READ(f, f_inode, __i_nlink) == 0)
		return 1;
	p = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	bpf_probe_read_kernel(name, 6, p);
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' &&
	       name[4] == 'd' && name[5] == ':';
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_aac_fileless, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct aac_cfg *c = cfg();

	if (!c || !c->fileless)
		return 0;
	if (!nameless(BPF_CORE_READ(bprm, file)) && !nameless(BPF_CORE_READ(bprm, executable)))
		return 0;
	count(C_FILELESS);
	bpf_send_signal(c->fileless == 1 ? SIGKILL : SIGSTOP);
	return 0;
}
