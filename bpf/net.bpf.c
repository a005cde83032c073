// SPDX-License-Identifier: GPL-2.0
/* Network sensor: placeholder until the network sensor lands. */
#include "lib/common.bpf.h"

SEC("tp/syscalls/sys_exit_connect")
int vigil_net_placeholder(void *ctx)
{
	return 0;
}
