// SPDX-License-Identifier: GPL-2.0
/*
 * BPF LSM probe: the smallest program on the exec hook the application
 * control backend needs.  vigild loads and attaches it at start-up; success
 * means the BPF LSM backend is usable on this kernel, failure (EPERM when
 * "bpf" is not in the active LSM list, EINVAL without CONFIG_BPF_LSM) is
 * reported in `vigil status` and posture.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/bprm_check_security")
int BPF_PROG(vigil_lsm_probe, struct linux_binprm *bprm, int ret)
{
	return ret;
}
