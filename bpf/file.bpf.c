// SPDX-License-Identifier: GPL-2.0
/* File sensor: placeholder until the file sensor lands. */
#include "lib/common.bpf.h"

SEC("tp/syscalls/sys_exit_openat")
int vigil_file_placeholder(void *ctx)
{
	return 0;
}

/* Watched roots: directories (and files) whose subtree the file sensor reports.
 * Key: kernel dev_t + inode of the directory; userspace fills it from the policy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_ino_key);
	__type(value, __u8);
} vigil_roots SEC(".maps");
