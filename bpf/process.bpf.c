// SPDX-License-Identifier: GPL-2.0
/*
 * Process sensor: fork (new processes, not threads), exec, exit.
 *
 * Exec is taken at sched_process_exec, after the point of no return, from
 * the linux_binprm: bprm->file is the file the kernel actually runs (the
 * interpreter for scripts), bprm->executable the file the caller named when
 * an interpreter runs it (shebang, binfmt_misc).  Paths are resolved from
 * those struct files, never from the syscall's path argument, so execveat
 * with a dirfd or AT_EMPTY_PATH, relative paths and symlinks all give the
 * real path.
 */
#include "lib/common.bpf.h"

#define MAX_ARG_READ VIGIL_ARGV_MAX

static __always_inline __u32 ns_inum_pid(struct task_struct *task)
{
	unsigned int level = BPF_CORE_READ(task, thread_pid, level);
	struct pid *p = BPF_CORE_READ(task, thread_pid);
	struct upid up;

	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level & 31]);
	return BPF_CORE_READ(up.ns, ns.inum);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_cfg *cfg = vigil_get_cfg();
	struct vigil_fork *ev;

	if (!cfg || !cfg->exec_enabled)
		return 0;
	/* threads share the process: only new thread groups are processes */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	ev = vigil_evbuf_get();
	if (!ev)
		return 0;
	vigil_fill_hdr(&ev->hdr, VIGIL_EV_FORK, bpf_get_current_task_btf());
	ev->hdr.size = sizeof(*ev);
	ev->child_pid = BPF_CORE_READ(child, pid);
	ev->child_tgid = BPF_CORE_READ(child, tgid);
	ev->child_start_ns = BPF_CORE_READ(child, start_boottime);
	vigil_submit(ev, VIGIL_EV_FORK, sizeof(*ev));
	return 0;
}

static __always_inline int is_memfd(struct file *f)
{
	char name[8] = {};
	const unsigned char *p = BPF_CORE_READ(f, f_path.dentry, d_name.name);

	bpf_probe_read_kernel(name, 6, p);
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' &&
	       name[4] == 'd' && name[5] == ':';
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_cfg *cfg = vigil_get_cfg();
	struct vigil_pathbuf *pb;
	struct vigil_exec *ev;
	struct file *file, *script;
	struct inode *inode;
	__u8 *buf;
	__u32 pos, n, pflags = 0;
	int off;

	if (!cfg || !cfg->exec_enabled)
		return 0;
	ev = vigil_evbuf_get();
	pb = vigil_pathbuf_get();
	if (!ev || !pb)
		return 0;
	buf = (__u8 *)ev;

	vigil_fill_hdr(&ev->hdr, VIGIL_EV_EXEC, task);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->pstart_ns = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	ev->loginuid = BPF_CORE_READ(task, loginuid.val);
	ev->euid = BPF_CORE_READ(task, cred, euid.val);
	ev->egid = BPF_CORE_READ(task, cred, egid.val);
	ev->pidns = ns_inum_pid(task);
	ev->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	ev->argc = BPF_CORE_READ(bprm, argc);

	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	ev->exe_dev = vigil_inode_dev(inode);
	ev->exe_ino = BPF_CORE_READ(inode, i_ino);
	ev->exe_size = BPF_CORE_READ(inode, i_size);
	ev->exe_mode = BPF_CORE_READ(inode, i_mode);
	ev->exe_mtime_ns = BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ll +
			   BPF_CORE_READ(inode, i_mtime_nsec);
	ev->exe_ctime_ns = BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ll +
			   (BPF_CORE_READ(inode, i_ctime_nsec) & 0x3fffffff);
	if (is_memfd(file))
		ev->hdr.flags |= VIGIL_F_EXE_MEMFD;
	if (BPF_CORE_READ(inode, __i_nlink) == 0)
		ev->hdr.flags |= VIGIL_F_EXE_DELETED;

	/* exe path */
	pos = sizeof(*ev);
	off = vigil_build_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			       pb, NULL, &pflags);
	n = vigil_copy_path(buf, pos, pb, off);
	if (!n) {
		vigil_count_loss(VIGIL_EV_EXEC, VIGIL_LOSS_READ);
		return 0;
	}
	if (pflags & 1)
		ev->hdr.flags |= VIGIL_F_PATH_TRUNC;
	ev->exe_len = n;
	pos += n;

	/* argv from the new mm: [arg_start, arg_end) */
	{
		struct mm_struct *mm = BPF_CORE_READ(task, mm);
		unsigned long as = BPF_CORE_READ(mm, arg_start);
		unsigned long ae = BPF_CORE_READ(mm, arg_end);
		__u32 alen = ae > as ? ae - as : 0;

		if (alen > MAX_ARG_READ) {
			alen = MAX_ARG_READ;
			ev->hdr.flags |= VIGIL_F_ARGV_TRUNC;
		}
		asm volatile("" : "+r"(alen));
		alen &= (MAX_ARG_READ * 2 - 1);
		if (alen > MAX_ARG_READ)
			alen = MAX_ARG_READ;
		if (pos > VIGIL_EVBUF_SIZE - VIGIL_PATH_MAX - MAX_ARG_READ)
			return 0;
		asm volatile("" : "+r"(pos));
		pos &= VIGIL_EVBUF_MASK;
		if (alen && bpf_probe_read_user(&buf[pos], alen, (void *)as) == 0) {
			buf[(pos + alen - 1) & VIGIL_EVBUF_MASK] = 0;
			ev->argv_len = alen;
			pos += alen;
		} else {
			ev->argv_len = 0;
		}
	}

	/* cwd */
	{
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		pflags = 0;
		off = vigil_build_path(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), pb, NULL, &pflags);
		n = vigil_copy_path(buf, pos, pb, off);
		ev->cwd_len = n;
		pos += n;
	}

	/* script: the file named by the caller when an interpreter runs it */
	script = BPF_CORE_READ(bprm, executable);
	ev->script_len = 0;
	if (script && script != file) {
		pflags = 0;
		off = vigil_build_path(BPF_CORE_READ(script, f_path.dentry), BPF_CORE_READ(script, f_path.mnt),
				       pb, NULL, &pflags);
		n = vigil_copy_path(buf, pos, pb, off);
		ev->script_len = n;
		pos += n;
	}

	ev->hdr.size = pos;
	vigil_submit(ev, VIGIL_EV_EXEC, pos);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task, bool group_dead)
{
	struct vigil_cfg *cfg = vigil_get_cfg();
	struct vigil_exit *ev;

	if (!cfg || !cfg->exec_enabled || !group_dead)
		return 0;
	ev = vigil_evbuf_get();
	if (!ev)
		return 0;
	vigil_fill_hdr(&ev->hdr, VIGIL_EV_EXIT, task);
	ev->hdr.size = sizeof(*ev);
	ev->exit_code = BPF_CORE_READ(task, exit_code);
	if (BPF_CORE_READ(task, signal, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
		ev->exit_code = BPF_CORE_READ(task, signal, group_exit_code);
	ev->_pad = 0;
	vigil_submit(ev, VIGIL_EV_EXIT, sizeof(*ev));
	return 0;
}
