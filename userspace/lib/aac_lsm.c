/*
 * AAC BPF object: the BPF LSM backend probe and the fileless-exec guard.
 * See bpf/aac_lsm.bpf.c and aac.h.
 *
 * Open: the whole object (LSM hooks + guard) is loaded and attached first; when
 * the kernel refuses the LSM programs (EPERM without "bpf" in the LSM list,
 * EINVAL without CONFIG_BPF_LSM) the reason is kept and the object is loaded
 * again with only the tracepoint guard.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "aac.h"
#include "aac_lsm.skel.h"

struct aac_bpf {
	struct aac_lsm_bpf *skel;
	bool lsm;
};

static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	return 0;
}

static struct aac_lsm_bpf *load(bool with_lsm, int *err)
{
	struct aac_lsm_bpf *s = aac_lsm_bpf__open();
	int r;

	if (!s) {
		*err = -errno;
		return NULL;
	}
	if (!with_lsm) {
		bpf_program__set_autoload(s->progs.vigil_aac_bprm, false);
		bpf_program__set_autoload(s->progs.vigil_aac_mmap, false);
		bpf_program__set_autoload(s->progs.vigil_aac_mprotect, false);
	}
	if ((r = aac_lsm_bpf__load(s)) || (r = aac_lsm_bpf__attach(s))) {
		*err = r;
		aac_lsm_bpf__destroy(s);
		return NULL;
	}
	*err = 0;
	return s;
}

struct aac_bpf *aac_bpf_open(int *lsm_err)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	struct aac_bpf *b = calloc(1, sizeof(*b));
	int e = 0;

	*lsm_err = ENOMEM;
	if (!b)
		goto out;
	b->skel = load(true, &e);
	*lsm_err = e < 0 ? -e : e;
	if (b->skel) {
		/* the LSM programs attached, but decide nothing until enforce is set */
		b->lsm = true;
		goto out;
	}
	b->skel = load(false, &e);
	if (!b->skel) {
		free(b);
		b = NULL;
		errno = e < 0 ? -e : EINVAL;
	}
out:
	libbpf_set_print(old);
	return b;
}

int aac_bpf_set_fileless(struct aac_bpf *b, enum aac_fileless_action act, uint32_t self_tgid)
{
	struct {
		uint32_t enforce, self_tgid, fileless, miss_deny;
	} c = { 0, self_tgid, (uint32_t)act, 0 };
	uint32_t z = 0;

	if (!b)
		return -EINVAL;
	return bpf_map_update_elem(bpf_map__fd(b->skel->maps.vigil_aac_cfg), &z, &c, BPF_ANY) ? -errno : 0;
}

uint64_t aac_bpf_fileless_hits(struct aac_bpf *b)
{
	uint32_t k = 4;             /* C_FILELESS in aac_lsm.bpf.c */
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0, *v;

	if (!b || ncpu <= 0 || !(v = calloc(ncpu, sizeof(*v))))
		return 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.vigil_aac_cnt), &k, v))
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

void aac_bpf_free(struct aac_bpf *b)
{
	if (!b)
		return;
	aac_lsm_bpf__destroy(b->skel);
	free(b);
}
