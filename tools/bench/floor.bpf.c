// SPDX-License-Identifier: GPL-2.0
/* Bench "floor": do-nothing programs on the hooks vigil uses, to separate the cost of
 * having a BPF program there at all from the cost of vigil's work. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_exec")
int BPF_PROG(floor_exec, struct task_struct *t, pid_t old, struct linux_binprm *b) { return 0; }

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork, struct task_struct *p, struct task_struct *c) { return 0; }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_exit, struct task_struct *t, bool g) { return 0; }

SEC("tp/syscalls/sys_enter_openat")
int floor_openat_enter(void *ctx) { return 0; }

SEC("tp/syscalls/sys_exit_openat")
int floor_openat_exit(void *ctx) { return 0; }
