/* Kernel capability probe.  See probe.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "probe.h"
#include "paths.h"
#include "lsm_probe.skel.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

static bool fs_is(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == magic;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static void probe_lsm(struct probe_result *r)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);
	struct lsm_probe_bpf *skel = lsm_probe_bpf__open();
	int err = 0;

	if (!skel)
		err = -errno;
	else if ((err = lsm_probe_bpf__load(skel)) == 0)
		err = lsm_probe_bpf__attach(skel);
	r->bpf_lsm = err == 0;
	r->bpf_lsm_errno = err < 0 ? -err : 0;
	lsm_probe_bpf__destroy(skel);
	libbpf_set_print(old);
}

void probe_run(struct probe_result *r)
{
	static const char *const cg[] = VIGIL_CGROUP2_PATHS;
	int fd;

	memset(r, 0, sizeof(*r));
	r->btf = access(VIGIL_BTF_VMLINUX, R_OK) == 0;

	if (!fs_is(VIGIL_BPFFS, BPF_FS_MAGIC))
		mount("bpf", VIGIL_BPFFS, "bpf", 0, "mode=0700");
	r->bpffs = fs_is(VIGIL_BPFFS, BPF_FS_MAGIC);

	if (!fs_is(VIGIL_TRACEFS, TRACEFS_MAGIC))
		mount("tracefs", VIGIL_TRACEFS, "tracefs", 0, NULL);
	r->tracepoints = access(VIGIL_TRACEFS "/events/syscalls", R_OK) == 0;

	r->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	r->xdp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) == 1;
	r->tc = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) == 1;

	if (access("/sys/kernel/security/lsm", R_OK))
		mount("securityfs", "/sys/kernel/security", "securityfs", 0, NULL);
	fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, r->lsm_list, sizeof(r->lsm_list) - 1);
		if (n > 0)
			r->lsm_list[n] = 0;
		close(fd);
	}
	probe_lsm(r);

	fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	r->fanotify_perm = fd >= 0;
	r->fanotify_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);

	for (int i = 0; cg[i]; i++) {
		if (fs_is(cg[i], CGROUP2_SUPER_MAGIC)) {
			snprintf(r->cgroup2, sizeof(r->cgroup2), "%s", cg[i]);
			break;
		}
	}
}

json_t *probe_to_json(const struct probe_result *r)
{
	json_t *o = json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:s}",
			      "btf", r->btf, "ringbuf", r->ringbuf, "tracepoints", r->tracepoints,
			      "bpffs", r->bpffs, "bpf_lsm", r->bpf_lsm, "fanotify_perm", r->fanotify_perm,
			      "xdp", r->xdp, "tc_clsact", r->tc, "cgroup2", r->cgroup2);
	if (!r->bpf_lsm)
		json_object_set_new(o, "bpf_lsm_error", json_string(strerror(r->bpf_lsm_errno)));
	if (!r->fanotify_perm)
		json_object_set_new(o, "fanotify_error", json_string(strerror(r->fanotify_errno)));
	json_object_set_new(o, "lsm_list", json_string(r->lsm_list));
	return o;
}
