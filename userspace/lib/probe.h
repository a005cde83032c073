/*
 * Kernel capability probe, run once at start-up (DESIGN.md "Kernel
 * capabilities and fallbacks").  Missing bpffs/tracefs are mounted.
 */
#ifndef VIGIL_PROBE_H
#define VIGIL_PROBE_H

#include <stdbool.h>
#include <jansson.h>

struct probe_result {
	bool btf;                 /* /sys/kernel/btf/vmlinux readable */
	bool ringbuf;
	bool tracepoints;         /* tracefs mounted with syscall events */
	bool bpffs;               /* /sys/fs/bpf is a bpf filesystem (mounted if it was not) */
	bool bpf_lsm;             /* an LSM program loaded and attached */
	int bpf_lsm_errno;        /* why not, when !bpf_lsm */
	bool fanotify_perm;       /* fanotify_init(FAN_CLASS_CONTENT) works */
	int fanotify_errno;
	bool xdp, tc;
	char cgroup2[256];        /* cgroup v2 mount, "" if none */
	char lsm_list[256];       /* /sys/kernel/security/lsm */
};

/* Fills r; never fails (each capability records its own result). */
void probe_run(struct probe_result *r);
/* New JSON object describing r. */
json_t *probe_to_json(const struct probe_result *r);

#endif
