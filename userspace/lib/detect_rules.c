/*
 * Detection rules: the field view of an event, the rule language compiler
 * and the evaluator.  See detect.h for the language.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "detect.h"
#include "detect_int.h"
#include "event.h"
#include "util.h"

#define JP 1024

static const char *const kind_names[DK_MAX] = {
	[DK_EXEC] = "exec", [DK_FILE] = "file", [DK_NETWORK] = "network", [DK_PTRACE] = "ptrace",
	[DK_MODULE] = "module_load", [DK_SETNS] = "setns", [DK_UNSHARE] = "unshare",
	[DK_SIGNAL] = "signal", [DK_FILE_READ] = "file_read", [DK_EXEC_STDIO] = "exec_stdio",
};

const char *detect_kind_name(unsigned k)
{
	return k < DK_MAX ? kind_names[k] : "unknown";
}

static int kind_parse(const char *s)
{
	for (int k = 0; s && k < DK_MAX; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

/* ---------- the field view ---------- */

/* Appends bytes (plus a NUL) to the event scratch; returns the offset or -1. */
static long scratch_put(struct detect_event *e, const char *s, size_t n)
{
	size_t need = e->scratch_len + n + 1;
	long off;

	if (need > e->scratch_cap) {
		size_t cap = e->scratch_cap ? e->scratch_cap * 2 : 1024;
		char *b;

		while (cap < need)
			cap *= 2;
		if (!(b = realloc(e->scratch, cap)))
			return -1;
		e->scratch = b;
		e->scratch_cap = cap;
	}
	off = (long)e->scratch_len;
	memcpy(e->scratch + off, s, n);
	e->scratch[off + n] = 0;
	e->scratch_len = need;
	return off;
}

void detect_event_done(struct detect_event *ev)
{
	free(ev->scratch);
	ev->scratch = NULL;
	ev->scratch_len = ev->scratch_cap = 0;
}

static const char *base_name(const char *s)
{
	const char *b = s ? strrchr(s, '/') : NULL;

	return b ? b + 1 : s;
}

static int v_str(struct dval *v, const char *s)
{
	if (!s)
		return 0;
	v->s = s;
	v->len = strlen(s);
	return 1;
}

static int v_int(struct dval *v, int64_t i)
{
	v->i = i;
	return 1;
}

#define P (e->p)
#define H (e->h)

static int g_pid(struct detect_event *e, struct dval *v) { return H ? v_int(v, H->tgid) : P ? v_int(v, P->tgid) : 0; }
static int g_tid(struct detect_event *e, struct dval *v) { return H ? v_int(v, H->pid) : 0; }
static int g_ppid(struct detect_event *e, struct dval *v) { return P && P->ppid ? v_int(v, P->ppid) : 0; }
static int g_uid(struct detect_event *e, struct dval *v) { return H ? v_int(v, H->uid) : P ? v_int(v, P->uid) : 0; }
static int g_gid(struct detect_event *e, struct dval *v) { return H ? v_int(v, H->gid) : P ? v_int(v, P->gid) : 0; }
static int g_euid(struct detect_event *e, struct dval *v) { return P && !P->seeded ? v_int(v, P->euid) : 0; }
static int g_loginuid(struct detect_event *e, struct dval *v)
{
	return P && !P->seeded ? v_int(v, P->loginuid == UINT32_MAX ? -1 : (int64_t)P->loginuid) : 0;
}
static int g_exe(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->exe) : 0; }
static int g_name(struct detect_event *e, struct dval *v)
{
	if (P && P->exe)
		return v_str(v, base_name(P->exe));
	if (P && P->comm[0])
		return v_str(v, P->comm);
	return 0;
}
static int g_comm(struct detect_event *e, struct dval *v)
{
	long off;

	if (!H)
		return P ? v_str(v, P->comm) : 0;
	off = scratch_put(e, H->comm, strnlen(H->comm, sizeof(H->comm)));
	return off < 0 ? 0 : v_str(v, e->scratch + off);
}
static int g_args(struct detect_event *e, struct dval *v)
{
	if (!P || !P->argv)
		return 0;
	v->s = P->argv;
	v->len = P->argv_len;
	return 1;
}
static int g_cmdline(struct detect_event *e, struct dval *v)
{
	long off;

	if (!P || !P->argv)
		return 0;
	off = scratch_put(e, P->argv, P->argv_len);
	if (off < 0)
		return 0;
	v->len = P->argv_len;
	while (v->len && !e->scratch[off + v->len - 1])
		v->len--;
	for (size_t i = 0; i < v->len; i++)
		if (!e->scratch[off + i])
			e->scratch[off + i] = ' ';
	e->scratch[off + v->len] = 0;
	v->s = e->scratch + off;
	return 1;
}
static int g_cwd(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->cwd) : 0; }
static int g_script(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->script) : 0; }
static int g_sha(struct detect_event *e, struct dval *v) { return P && P->sha256[0] ? v_str(v, P->sha256) : 0; }
static int g_user(struct detect_event *e, struct dval *v)
{
	return H ? v_str(v, proctab_user_name(H->uid)) : P ? v_str(v, proctab_user_name(P->uid)) : 0;
}
static int g_memfd(struct detect_event *e, struct dval *v) { return P && !P->seeded ? v_int(v, !!(P->exe_flags & VIGIL_F_EXE_MEMFD)) : 0; }
static int g_deleted(struct detect_event *e, struct dval *v) { return P && !P->seeded ? v_int(v, !!(P->exe_flags & VIGIL_F_EXE_DELETED)) : 0; }
static int g_tmpfile(struct detect_event *e, struct dval *v) { return P && !P->seeded ? v_int(v, !!(P->exe_flags & VIGIL_F_EXE_TMPFILE)) : 0; }

/* The parent entry, verified by its start time when known. */
static struct proc *parent_of(struct proctab *pt, const struct proc *p)
{
	struct proc *q;

	if (!pt || !p || !p->ppid || p->ppid == p->tgid)
		return NULL;
	q = proctab_lookup(pt, p->ppid);
	if (!q || (p->pstart_ns && q->start_ns && q->start_ns != p->pstart_ns &&
		   /* /proc-seeded starts have clock-tick precision */
		   (q->start_ns > p->pstart_ns ? q->start_ns - p->pstart_ns : p->pstart_ns - q->start_ns) > 20000000))
		return NULL;
	return q;
}

static int g_pexe(struct detect_event *e, struct dval *v) { struct proc *q = parent_of(e->pt, P); return q ? v_str(v, q->exe) : 0; }
static int g_pname(struct detect_event *e, struct dval *v)
{
	struct proc *q = parent_of(e->pt, P);

	if (!q)
		return 0;
	return q->exe ? v_str(v, base_name(q->exe)) : q->comm[0] ? v_str(v, q->comm) : 0;
}
static int g_ppid2(struct detect_event *e, struct dval *v) { struct proc *q = parent_of(e->pt, P); return q ? v_int(v, q->tgid) : 0; }
static int g_puid(struct detect_event *e, struct dval *v) { struct proc *q = parent_of(e->pt, P); return q ? v_int(v, q->uid) : 0; }

static void build_ancestors(struct detect_event *e)
{
	const struct proc *q = P;
	char *names = NULL;
	size_t nlen = 0;

	e->anc_off = e->anc_name_off = -1;
	e->anc_len = e->anc_name_len = 0;
	{
		long start = -1;
		/* exe list first, in scratch; names collected aside then appended */
		for (int d = 0; d < DETECT_ANC_DEPTH && (q = parent_of(e->pt, q)); d++) {
			const char *x = q->exe ? q->exe : "";
			const char *n = q->exe ? base_name(q->exe) : q->comm;
			size_t xl = strlen(x), nl = strlen(n);
			long o = scratch_put(e, x, xl);
			char *nn;

			if (o < 0)
				break;
			if (start < 0)
				start = o;
			e->anc_len += xl + 1;
			if (!(nn = realloc(names, nlen + nl + 1)))
				break;
			names = nn;
			memcpy(names + nlen, n, nl + 1);
			nlen += nl + 1;
		}
		e->anc_off = start < 0 ? (int)e->scratch_len : (int)start;
	}
	if (names) {
		long o = scratch_put(e, names, nlen ? nlen - 1 : 0);

		if (o >= 0) {
			e->anc_name_off = (int)o;
			e->anc_name_len = nlen;
		}
		free(names);
	} else {
		e->anc_name_off = (int)e->scratch_len;
	}
	if (!e->anc_len)
		e->anc_off = (int)e->scratch_len;
}

static int g_anc_exe(struct detect_event *e, struct dval *v)
{
	if (!P)
		return 0;
	if (e->anc_off < 0)
		build_ancestors(e);
	if (!e->anc_len)
		return 0;
	v->s = e->scratch + e->anc_off;
	v->len = e->anc_len;
	return 1;
}
static int g_anc_name(struct detect_event *e, struct dval *v)
{
	if (!P)
		return 0;
	if (e->anc_off < 0)
		build_ancestors(e);
	if (!e->anc_name_len)
		return 0;
	v->s = e->scratch + e->anc_name_off;
	v->len = e->anc_name_len;
	return 1;
}

static int g_cid(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->container.id) : v_str(v, ""); }
static int g_crt(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->container.runtime) : v_str(v, ""); }
static int g_cpod(struct detect_event *e, struct dval *v) { return P ? v_str(v, P->container.pod_uid) : v_str(v, ""); }
static int g_kind(struct detect_event *e, struct dval *v) { return v_str(v, detect_kind_name(e->kind)); }

/* file */
static const char *file_target(const struct detect_event *e)
{
	if (e->file && (e->file->op == VIGIL_FOP_RENAME || e->file->op == VIGIL_FOP_LINK) && e->path2)
		return e->path2;
	return e->path;
}
static int g_fpath(struct detect_event *e, struct dval *v) { return v_str(v, e->path); }
static int g_fpath2(struct detect_event *e, struct dval *v) { return v_str(v, e->path2); }
static int g_ftarget(struct detect_event *e, struct dval *v) { return v_str(v, file_target(e)); }
static int g_fname(struct detect_event *e, struct dval *v) { return v_str(v, base_name(file_target(e))); }
static int g_fop(struct detect_event *e, struct dval *v)
{
	if (e->kind == DK_FILE_READ)
		return v_str(v, "open_read");
	return e->file ? v_str(v, event_file_op_name(e->file->op)) : 0;
}
static int g_fmode(struct detect_event *e, struct dval *v) { return e->file ? v_int(v, e->file->mode) : 0; }
static int g_fnewmode(struct detect_event *e, struct dval *v)
{
	return e->file && e->file->op == VIGIL_FOP_CHMOD ? v_int(v, e->file->uid_arg) : 0;
}
static int g_fcreated(struct detect_event *e, struct dval *v) { return e->file ? v_int(v, !!(e->file->hdr.flags & VIGIL_F_FILE_CREATED)) : 0; }
static int g_ftrunc(struct detect_event *e, struct dval *v)
{
	if (!e->file)
		return 0;
	return v_int(v, e->file->op == VIGIL_FOP_TRUNCATE || (e->file->hdr.flags & VIGIL_F_FILE_TRUNC));
}
static int g_fflags(struct detect_event *e, struct dval *v)
{
	if (e->kind == DK_FILE_READ && e->det)
		return v_int(v, (int64_t)e->det->a[2]);
	return e->file ? v_int(v, e->file->open_flags) : 0;
}

/* network */
static int put_addr(struct detect_event *e, struct dval *v, int af, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];
	long off;

	if (!inet_ntop(af, a, buf, sizeof(buf)) || (off = scratch_put(e, buf, strlen(buf))) < 0)
		return 0;
	return v_str(v, e->scratch + off);
}
static int g_nop(struct detect_event *e, struct dval *v) { return e->net ? v_str(v, event_net_op_name(e->net->op)) : 0; }
static int g_nproto(struct detect_event *e, struct dval *v)
{
	return e->net ? v_str(v, e->net->proto == 6 ? "tcp" : e->net->proto == 17 ? "udp" : "other") : 0;
}
static int g_nfam(struct detect_event *e, struct dval *v) { return e->net ? v_str(v, e->net->family == AF_INET ? "ipv4" : "ipv6") : 0; }
static bool net_has_remote(const struct vigil_net *n) { return n->op == VIGIL_NOP_CONNECT || n->op == VIGIL_NOP_ACCEPT; }
static int g_nraddr(struct detect_event *e, struct dval *v) { return e->net && net_has_remote(e->net) ? put_addr(e, v, e->net->af, e->net->daddr) : 0; }
static int g_nrport(struct detect_event *e, struct dval *v) { return e->net && net_has_remote(e->net) ? v_int(v, e->net->dport) : 0; }
static int g_nladdr(struct detect_event *e, struct dval *v) { return e->net ? put_addr(e, v, e->net->af, e->net->saddr) : 0; }
static int g_nlport(struct detect_event *e, struct dval *v) { return e->net ? v_int(v, e->net->sport) : 0; }

/* ptrace */
#define D (e->det)
static int g_preq(struct detect_event *e, struct dval *v) { return D ? v_str(v, D->a[0] == 16 ? "attach" : "seize") : 0; }
static int g_ptpid(struct detect_event *e, struct dval *v) { return D && e->kind == DK_PTRACE ? v_int(v, (int64_t)D->a[1]) : 0; }
static int g_ptuid(struct detect_event *e, struct dval *v) { return e->target_uid >= 0 ? v_int(v, e->target_uid) : 0; }
static int g_ptexe(struct detect_event *e, struct dval *v) { return v_str(v, e->target_exe); }
static int g_pcross(struct detect_event *e, struct dval *v)
{
	return e->target_uid >= 0 && H ? v_int(v, (uint32_t)e->target_uid != H->uid) : 0;
}
/* module */
static int g_msys(struct detect_event *e, struct dval *v) { return D ? v_str(v, D->a[0] ? "finit_module" : "init_module") : 0; }
static int g_mpath(struct detect_event *e, struct dval *v) { return v_str(v, e->path); }
/* namespaces */
static const char *const ns_names[VIGIL_NS_MAX] = { "mnt", "pid", "net", "uts", "ipc", "cgroup", "user" };
static int g_nstype(struct detect_event *e, struct dval *v) { return D && e->kind == DK_SETNS ? v_int(v, (int64_t)D->a[1]) : 0; }
static int g_joined(struct detect_event *e, struct dval *v)
{
	long off = -1;
	size_t len = 0;

	if (!D)
		return 0;
	for (int i = 0; i < VIGIL_NS_MAX; i++) {
		if (D->ns[i] == D->ns_before[i])
			continue;
		long o = scratch_put(e, ns_names[i], strlen(ns_names[i]));
		if (o < 0)
			return 0;
		if (off < 0)
			off = o;
		len += strlen(ns_names[i]) + 1;
	}
	if (off < 0)
		return 0;
	v->s = e->scratch + off;
	v->len = len;
	return 1;
}
static int g_nshost(struct detect_event *e, struct dval *v)
{
	bool host = false;

	if (!D || !e->env)
		return 0;
	for (int i = 0; i < VIGIL_NS_MAX; i++)
		if (D->ns[i] != D->ns_before[i] && e->env->host_ns[i] && D->ns[i] == e->env->host_ns[i])
			host = true;
	return v_int(v, host);
}
static const struct { uint64_t bit; const char *name; } clone_flags[] = {
	{ 0x00020000, "mnt" }, { 0x20000000, "pid" }, { 0x40000000, "net" }, { 0x04000000, "uts" },
	{ 0x08000000, "ipc" }, { 0x02000000, "cgroup" }, { 0x10000000, "user" }, { 0x00000080, "time" },
};
static int g_uflags(struct detect_event *e, struct dval *v)
{
	long off = -1;
	size_t len = 0;

	if (!D || e->kind != DK_UNSHARE)
		return 0;
	for (size_t i = 0; i < sizeof(clone_flags) / sizeof(clone_flags[0]); i++) {
		if (!(D->a[0] & clone_flags[i].bit))
			continue;
		long o = scratch_put(e, clone_flags[i].name, strlen(clone_flags[i].name));
		if (o < 0)
			return 0;
		if (off < 0)
			off = o;
		len += strlen(clone_flags[i].name) + 1;
	}
	if (off < 0)
		return 0;
	v->s = e->scratch + off;
	v->len = len;
	return 1;
}
/* signals */
static int g_signo(struct detect_event *e, struct dval *v) { return D && e->kind == DK_SIGNAL ? v_int(v, (int64_t)D->a[0]) : 0; }
static int g_signame(struct detect_event *e, struct dval *v)
{
	const char *n;

	if (!D || e->kind != DK_SIGNAL)
		return 0;
	n = sigabbrev_np((int)D->a[0]);
	return v_str(v, n ? n : "unknown");
}
static int g_sigpid(struct detect_event *e, struct dval *v) { return D && e->kind == DK_SIGNAL ? v_int(v, (int64_t)D->a[1]) : 0; }
static int g_sigvigild(struct detect_event *e, struct dval *v)
{
	return D && e->kind == DK_SIGNAL && e->env ? v_int(v, D->a[1] == e->env->self_tgid) : 0;
}
/* stdio */
static const char *const fd_names[] = { "none", "file", "pipe", "chr", "inet_socket", "unix_socket", "socket", "other" };
static int g_fd(struct detect_event *e, struct dval *v, int fd)
{
	unsigned t;

	if (!D || e->kind != DK_EXEC_STDIO)
		return 0;
	t = D->fdtype[fd];
	return v_str(v, t < sizeof(fd_names) / sizeof(fd_names[0]) ? fd_names[t] : "other");
}
static int g_fd0(struct detect_event *e, struct dval *v) { return g_fd(e, v, 0); }
static int g_fd1(struct detect_event *e, struct dval *v) { return g_fd(e, v, 1); }
static int g_fd2(struct detect_event *e, struct dval *v) { return g_fd(e, v, 2); }
static int g_inetn(struct detect_event *e, struct dval *v)
{
	if (!D || e->kind != DK_EXEC_STDIO)
		return 0;
	return v_int(v, (D->fdtype[0] == VIGIL_FD_INET) + (D->fdtype[1] == VIGIL_FD_INET) + (D->fdtype[2] == VIGIL_FD_INET));
}
static int g_sraddr(struct detect_event *e, struct dval *v)
{
	return D && e->kind == DK_EXEC_STDIO && D->family ? put_addr(e, v, D->family, D->raddr) : 0;
}
static int g_srport(struct detect_event *e, struct dval *v)
{
	return D && e->kind == DK_EXEC_STDIO && D->family ? v_int(v, D->rport) : 0;
}

#define ALL_KINDS ((1u << DK_MAX) - 1)
#define K(k) (1u << (k))

const struct detect_field detect_fields[] = {
	{ "process.pid", FT_INT, ALL_KINDS, g_pid },
	{ "process.tid", FT_INT, ALL_KINDS, g_tid },
	{ "process.ppid", FT_INT, ALL_KINDS, g_ppid },
	{ "process.uid", FT_INT, ALL_KINDS, g_uid },
	{ "process.gid", FT_INT, ALL_KINDS, g_gid },
	{ "process.euid", FT_INT, ALL_KINDS, g_euid },
	{ "process.loginuid", FT_INT, ALL_KINDS, g_loginuid },
	{ "process.user", FT_STR, ALL_KINDS, g_user },
	{ "process.exe", FT_STR, ALL_KINDS, g_exe },
	{ "process.name", FT_STR, ALL_KINDS, g_name },
	{ "process.comm", FT_STR, ALL_KINDS, g_comm },
	{ "process.args", FT_LIST, ALL_KINDS, g_args },
	{ "process.cmdline", FT_STR, ALL_KINDS, g_cmdline },
	{ "process.cwd", FT_STR, ALL_KINDS, g_cwd },
	{ "process.script", FT_STR, ALL_KINDS, g_script },
	{ "process.sha256", FT_STR, ALL_KINDS, g_sha },
	{ "process.exe_memfd", FT_BOOL, ALL_KINDS, g_memfd },
	{ "process.exe_deleted", FT_BOOL, ALL_KINDS, g_deleted },
	{ "process.exe_tmpfile", FT_BOOL, ALL_KINDS, g_tmpfile },
	{ "parent.pid", FT_INT, ALL_KINDS, g_ppid2 },
	{ "parent.uid", FT_INT, ALL_KINDS, g_puid },
	{ "parent.exe", FT_STR, ALL_KINDS, g_pexe },
	{ "parent.name", FT_STR, ALL_KINDS, g_pname },
	{ "ancestors.exe", FT_LIST, ALL_KINDS, g_anc_exe },
	{ "ancestors.name", FT_LIST, ALL_KINDS, g_anc_name },
	{ "container.id", FT_STR, ALL_KINDS, g_cid },
	{ "container.runtime", FT_STR, ALL_KINDS, g_crt },
	{ "container.pod_uid", FT_STR, ALL_KINDS, g_cpod },
	{ "event.kind", FT_STR, ALL_KINDS, g_kind },
	{ "file.path", FT_STR, K(DK_FILE) | K(DK_FILE_READ), g_fpath },
	{ "file.path2", FT_STR, K(DK_FILE), g_fpath2 },
	{ "file.target", FT_STR, K(DK_FILE) | K(DK_FILE_READ), g_ftarget },
	{ "file.name", FT_STR, K(DK_FILE) | K(DK_FILE_READ), g_fname },
	{ "file.op", FT_STR, K(DK_FILE) | K(DK_FILE_READ), g_fop },
	{ "file.mode", FT_INT, K(DK_FILE), g_fmode },
	{ "file.new_mode", FT_INT, K(DK_FILE), g_fnewmode },
	{ "file.created", FT_BOOL, K(DK_FILE), g_fcreated },
	{ "file.truncated", FT_BOOL, K(DK_FILE), g_ftrunc },
	{ "file.open_flags", FT_INT, K(DK_FILE) | K(DK_FILE_READ), g_fflags },
	{ "network.op", FT_STR, K(DK_NETWORK), g_nop },
	{ "network.protocol", FT_STR, K(DK_NETWORK), g_nproto },
	{ "network.family", FT_STR, K(DK_NETWORK), g_nfam },
	{ "network.remote.address", FT_STR, K(DK_NETWORK), g_nraddr },
	{ "network.remote.port", FT_INT, K(DK_NETWORK), g_nrport },
	{ "network.local.address", FT_STR, K(DK_NETWORK), g_nladdr },
	{ "network.local.port", FT_INT, K(DK_NETWORK), g_nlport },
	{ "ptrace.request", FT_STR, K(DK_PTRACE), g_preq },
	{ "ptrace.target.pid", FT_INT, K(DK_PTRACE), g_ptpid },
	{ "ptrace.target.uid", FT_INT, K(DK_PTRACE), g_ptuid },
	{ "ptrace.target.exe", FT_STR, K(DK_PTRACE), g_ptexe },
	{ "ptrace.cross_user", FT_BOOL, K(DK_PTRACE), g_pcross },
	{ "module.syscall", FT_STR, K(DK_MODULE), g_msys },
	{ "module.path", FT_STR, K(DK_MODULE), g_mpath },
	{ "setns.nstype", FT_INT, K(DK_SETNS), g_nstype },
	{ "setns.joined", FT_LIST, K(DK_SETNS), g_joined },
	{ "setns.host", FT_BOOL, K(DK_SETNS), g_nshost },
	{ "unshare.flags", FT_LIST, K(DK_UNSHARE), g_uflags },
	{ "signal.number", FT_INT, K(DK_SIGNAL), g_signo },
	{ "signal.name", FT_STR, K(DK_SIGNAL), g_signame },
	{ "signal.target.pid", FT_INT, K(DK_SIGNAL), g_sigpid },
	{ "signal.target.vigild", FT_BOOL, K(DK_SIGNAL), g_sigvigild },
	{ "stdio.fd0", FT_STR, K(DK_EXEC_STDIO), g_fd0 },
	{ "stdio.fd1", FT_STR, K(DK_EXEC_STDIO), g_fd1 },
	{ "stdio.fd2", FT_STR, K(DK_EXEC_STDIO), g_fd2 },
	{ "stdio.inet_count", FT_INT, K(DK_EXEC_STDIO), g_inetn },
	{ "stdio.remote.address", FT_STR, K(DK_EXEC_STDIO), g_sraddr },
	{ "stdio.remote.port", FT_INT, K(DK_EXEC_STDIO), g_srport },
	{ NULL, 0, 0, NULL },
};

int detect_field_find(const char *name)
{
	for (int i = 0; detect_fields[i].name; i++)
		if (!strcmp(detect_fields[i].name, name))
			return i;
	return -1;
}

int detect_field_get(struct detect_event *e, int field, struct dval *v)
{
	memset(v, 0, sizeof(*v));
	return detect_fields[field].get(e, v);
}

int detect_field_string(struct detect_event *e, int field, char *buf, size_t len)
{
	struct dval v;
	const struct detect_field *f = &detect_fields[field];

	if (!detect_field_get(e, field, &v))
		return -ENOENT;
	if (f->type == FT_INT)
		snprintf(buf, len, "%" PRId64, v.i);
	else if (f->type == FT_BOOL)
		snprintf(buf, len, "%s", v.i ? "true" : "false");
	else {
		size_t n = v.len < len - 1 ? v.len : len - 1;

		memcpy(buf, v.s, n);
		buf[n] = 0;
		for (size_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
	}
	return 0;
}

/* ---------- evaluation ---------- */

static bool str_match(enum dop op, const char *s, size_t n, const char *pat, size_t plen)
{
	switch (op) {
	case OP_EQUALS:
	case OP_IN:
		return n == plen && !memcmp(s, pat, n);
	case OP_PREFIX:
		return n >= plen && !memcmp(s, pat, plen);
	case OP_SUFFIX:
		return n >= plen && !memcmp(s + n - plen, pat, plen);
	case OP_CONTAINS:
		return plen <= n && memmem(s, n, pat, plen) != NULL;
	case OP_GLOB:
		return fnmatch(pat, s, 0) == 0;
	default:
		return false;
	}
}

static bool str_leaf(const struct dnode *n, const char *s, size_t len)
{
	for (size_t i = 0; i < n->nstr; i++)
		if (str_match(n->op, s, len, n->str[i], n->slen[i]))
			return true;
	return false;
}

static bool leaf_eval(const struct dnode *n, struct detect_event *e)
{
	const struct detect_field *f = &detect_fields[n->field];
	struct dval v;
	int have = detect_field_get(e, n->field, &v);

	if (n->op == OP_EXISTS)
		return have ? n->num != 0 : n->num == 0;
	if (!have)
		return false;
	switch (f->type) {
	case FT_STR:
		return str_leaf(n, v.s, v.len);
	case FT_LIST:
		for (size_t off = 0; off < v.len;) {
			size_t l = strnlen(v.s + off, v.len - off);

			if (str_leaf(n, v.s + off, l))
				return true;
			off += l + 1;
		}
		return false;
	case FT_BOOL:
		return (v.i != 0) == (n->num != 0);
	case FT_INT:
		switch (n->op) {
		case OP_EQUALS: return v.i == n->num;
		case OP_IN:
			for (size_t i = 0; i < n->nnum; i++)
				if (v.i == n->nums[i])
					return true;
			return false;
		case OP_GT: return v.i > n->num;
		case OP_GE: return v.i >= n->num;
		case OP_LT: return v.i < n->num;
		case OP_LE: return v.i <= n->num;
		case OP_BITS_ANY: return (v.i & n->num) != 0;
		case OP_BITS_ALL: return (v.i & n->num) == n->num;
		default: return false;
		}
	}
	return false;
}

bool detect_cond_eval(const struct dnode *n, struct detect_event *e)
{
	if (!n)
		return true;
	switch (n->type) {
	case N_ALL:
		for (size_t i = 0; i < n->nkids; i++)
			if (!detect_cond_eval(n->kids[i], e))
				return false;
		return true;
	case N_ANY:
		for (size_t i = 0; i < n->nkids; i++)
			if (detect_cond_eval(n->kids[i], e))
				return true;
		return false;
	case N_NOT:
		return !detect_cond_eval(n->kids[0], e);
	case N_LEAF:
		return leaf_eval(n, e);
	}
	return false;
}

bool detect_rule_matches(const struct detect_rule *r, const struct dnode *cond, struct detect_event *e)
{
	if (!detect_cond_eval(cond, e))
		return false;
	for (size_t i = 0; i < r->nexc; i++)
		if (detect_cond_eval(r->exc[i], e))
			return false;
	return true;
}

int detect_rule_eval(const struct detect_ruleset *rs, const char *id, struct detect_event *ev)
{
	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct detect_rule *r = &rs->r[i];

		if (strcmp(r->id, id))
			continue;
		if (r->nsteps || r->kind != ev->kind)
			return 0;
		ev->anc_off = ev->anc_name_off = -1;
		return detect_rule_matches(r, r->cond, ev);
	}
	return -ENOENT;
}

/* ---------- compiler ---------- */

static const char *const op_names[] = {
	[OP_EQUALS] = "equals", [OP_IN] = "in", [OP_PREFIX] = "prefix", [OP_SUFFIX] = "suffix",
	[OP_CONTAINS] = "contains", [OP_GLOB] = "glob", [OP_GT] = "gt", [OP_GE] = "ge", [OP_LT] = "lt",
	[OP_LE] = "le", [OP_BITS_ANY] = "bits_any", [OP_BITS_ALL] = "bits_all", [OP_EXISTS] = "exists",
};
#define NOPS ((int)(sizeof(op_names) / sizeof(op_names[0])))
static const char *const type_names[] = { [FT_STR] = "string", [FT_INT] = "integer", [FT_BOOL] = "boolean",
					  [FT_LIST] = "list of strings" };
static const char *const var_names[] = { "vigil.log_dir", "vigil.state_dir", "vigil.policy", "vigil.pin_dir",
					 "vigil.exe", NULL };

#define MAX_LIST   256
#define MAX_DEPTH  16
#define MAX_STR    4096

static void node_free(struct dnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	for (size_t i = 0; i < n->nstr; i++) {
		if (n->raw && n->raw[i] != n->str[i])
			free(n->raw[i]);
		free(n->str[i]);
	}
	free(n->raw);
	free(n->str);
	free(n->slen);
	free(n->nums);
	free(n);
}

/* Checks ${...} references in s; 0 or policy_fail. */
static int check_vars(const struct policy_ctx *c, const char *jp, const char *s)
{
	for (const char *p = strstr(s, "${"); p; p = strstr(p + 2, "${")) {
		const char *e = strchr(p, '}');
		size_t i;

		if (!e)
			return policy_fail(c, jp, "unterminated \"${\" in \"%.100s\"", s);
		for (i = 0; var_names[i]; i++)
			if ((size_t)(e - p - 2) == strlen(var_names[i]) && !strncmp(p + 2, var_names[i], e - p - 2))
				break;
		if (!var_names[i])
			return policy_fail(c, jp, "unknown variable \"%.*s\" (known: vigil.log_dir, vigil.state_dir, "
					   "vigil.policy, vigil.pin_dir, vigil.exe)", (int)(e - p + 1), p);
	}
	return 0;
}

static int leaf_strings(const struct policy_ctx *c, const char *jp, const json_t *val, bool list_ok,
			struct dnode *n)
{
	char ip[JP];
	size_t cnt = json_is_array(val) ? json_array_size(val) : 1;

	if (json_is_array(val) && !list_ok)
		return policy_fail(c, jp, "expected a string");
	if (!json_is_array(val) && !json_is_string(val))
		return policy_fail(c, jp, list_ok ? "expected a string or an array of strings" : "expected a string");
	if (cnt == 0 || cnt > MAX_LIST)
		return policy_fail(c, jp, "expected 1 to %d values", MAX_LIST);
	if (!(n->str = calloc(cnt, sizeof(char *))) || !(n->raw = calloc(cnt, sizeof(char *))) ||
	    !(n->slen = calloc(cnt, sizeof(size_t))))
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		const json_t *s = json_is_array(val) ? json_array_get(val, i) : val;
		const char *where = jp;
		int r;

		if (json_is_array(val)) {
			policy_jpath_index(ip, sizeof(ip), jp, i);
			where = ip;
		}
		if (!json_is_string(s))
			return policy_fail(c, where, "expected a string");
		if (json_string_length(s) >= MAX_STR || strlen(json_string_value(s)) != json_string_length(s))
			return policy_fail(c, where, "string too long or holds a NUL byte");
		if ((r = check_vars(c, where, json_string_value(s))) < 0)
			return r;
		if (!(n->str[i] = strdup(json_string_value(s))))
			return -ENOMEM;
		n->raw[i] = n->str[i];
		n->slen[i] = strlen(n->str[i]);
		n->nstr++;
	}
	return 0;
}

static int compile_leaf(const struct policy_ctx *c, const char *jp, const json_t *v, unsigned kinds,
			struct dnode *n)
{
	char fp[JP], op_path[JP];
	const char *key, *opkey = NULL;
	json_t *val, *fv = json_object_get(v, "field");
	const struct detect_field *f;
	int fi, r;

	json_object_foreach((json_t *)v, key, val) {
		int o;

		if (!strcmp(key, "field"))
			continue;
		for (o = 0; o < NOPS; o++)
			if (!strcmp(key, op_names[o]))
				break;
		policy_jpath_key(op_path, sizeof(op_path), jp, key);
		if (o == NOPS)
			return policy_fail(c, op_path, "unknown key (a condition is {\"all\"}, {\"any\"}, {\"not\"} or "
					   "{\"field\", OP} with OP one of equals, in, prefix, suffix, contains, glob, "
					   "gt, ge, lt, le, bits_any, bits_all, exists)");
		if (opkey)
			return policy_fail(c, op_path, "a condition has one operator (also \"%s\")", opkey);
		opkey = key;
		n->op = o;
	}
	policy_jpath_key(fp, sizeof(fp), jp, "field");
	if (!fv)
		return policy_fail(c, jp, "missing \"field\"");
	if (!json_is_string(fv))
		return policy_fail(c, fp, "expected a field name string");
	if ((fi = detect_field_find(json_string_value(fv))) < 0)
		return policy_fail(c, fp, "unknown field \"%.100s\"", json_string_value(fv));
	f = &detect_fields[fi];
	for (int k = 0; k < DK_MAX; k++)
		if ((kinds & K(k)) && !(f->kinds & K(k)))
			return policy_fail(c, fp, "field \"%s\" does not exist for \"%s\" events", f->name,
					   detect_kind_name(k));
	if (!opkey)
		return policy_fail(c, jp, "missing operator (equals, in, prefix, suffix, contains, glob, gt, ge, "
				   "lt, le, bits_any, bits_all, exists)");
	n->type = N_LEAF;
	n->field = fi;
	policy_jpath_key(op_path, sizeof(op_path), jp, opkey);
	val = json_object_get(v, opkey);
	switch (n->op) {
	case OP_EXISTS:
		if (!json_is_boolean(val))
			return policy_fail(c, op_path, "expected a boolean");
		n->num = json_is_true(val);
		return 0;
	case OP_EQUALS:
		if (f->type == FT_INT) {
			if (!json_is_integer(val))
				return policy_fail(c, op_path, "field \"%s\" is an integer: expected an integer", f->name);
			n->num = json_integer_value(val);
			return 0;
		}
		if (f->type == FT_BOOL) {
			if (!json_is_boolean(val))
				return policy_fail(c, op_path, "field \"%s\" is a boolean: expected true or false", f->name);
			n->num = json_is_true(val);
			return 0;
		}
		return leaf_strings(c, op_path, val, false, n);
	case OP_IN:
		if (!json_is_array(val))
			return policy_fail(c, op_path, "expected an array");
		if (f->type == FT_BOOL)
			return policy_fail(c, op_path, "\"in\" does not apply to boolean field \"%s\"", f->name);
		if (f->type == FT_INT) {
			size_t cnt = json_array_size(val);
			char ip[JP];

			if (cnt == 0 || cnt > MAX_LIST)
				return policy_fail(c, op_path, "expected 1 to %d values", MAX_LIST);
			if (!(n->nums = calloc(cnt, sizeof(int64_t))))
				return -ENOMEM;
			for (size_t i = 0; i < cnt; i++) {
				json_t *x = json_array_get(val, i);

				policy_jpath_index(ip, sizeof(ip), op_path, i);
				if (!json_is_integer(x))
					return policy_fail(c, ip, "field \"%s\" is an integer: expected an integer", f->name);
				n->nums[n->nnum++] = json_integer_value(x);
			}
			return 0;
		}
		return leaf_strings(c, op_path, val, true, n);
	case OP_PREFIX:
	case OP_SUFFIX:
	case OP_CONTAINS:
	case OP_GLOB:
		if (f->type != FT_STR && f->type != FT_LIST)
			return policy_fail(c, op_path, "\"%s\" applies to strings; field \"%s\" is %s %s", op_names[n->op],
					   f->name, f->type == FT_INT ? "an" : "a", type_names[f->type]);
		return leaf_strings(c, op_path, val, true, n);
	default:
		if (f->type != FT_INT)
			return policy_fail(c, op_path, "\"%s\" applies to integers; field \"%s\" is a %s", op_names[n->op],
					   f->name, type_names[f->type]);
		if (!json_is_integer(val))
			return policy_fail(c, op_path, "expected an integer");
		n->num = json_integer_value(val);
		return 0;
	}
	(void)r;
}

static int compile_cond(const struct policy_ctx *c, const char *jp, const json_t *v, unsigned kinds,
			int depth, struct dnode **out)
{
	struct dnode *n;
	char cp[JP];
	int r = 0;

	*out = NULL;
	if (depth > MAX_DEPTH)
		return policy_fail(c, jp, "conditions nest deeper than %d", MAX_DEPTH);
	if (!json_is_object(v))
		return policy_fail(c, jp, "expected a condition object");
	if (!(n = calloc(1, sizeof(*n))))
		return -ENOMEM;
	*out = n;
	if (json_object_get(v, "all") || json_object_get(v, "any")) {
		const char *key = json_object_get(v, "all") ? "all" : "any";
		json_t *arr = json_object_get(v, key), *item;
		size_t i;

		if (json_object_size(v) != 1) {
			const char *k2;
			json_t *x;

			json_object_foreach((json_t *)v, k2, x)
				if (strcmp(k2, key))
					break;
			policy_jpath_key(cp, sizeof(cp), jp, k2);
			return policy_fail(c, cp, "unexpected key next to \"%s\"", key);
		}
		policy_jpath_key(cp, sizeof(cp), jp, key);
		if (!json_is_array(arr) || !json_array_size(arr))
			return policy_fail(c, cp, "expected a non-empty array of conditions");
		n->type = !strcmp(key, "all") ? N_ALL : N_ANY;
		if (!(n->kids = calloc(json_array_size(arr), sizeof(*n->kids))))
			return -ENOMEM;
		json_array_foreach(arr, i, item) {
			char ip[JP];

			policy_jpath_index(ip, sizeof(ip), cp, i);
			r = compile_cond(c, ip, item, kinds, depth + 1, &n->kids[i]);
			n->nkids = i + 1;
			if (r)
				return r;
		}
		return 0;
	}
	if (json_object_get(v, "not")) {
		if (json_object_size(v) != 1)
			return policy_fail(c, jp, "\"not\" takes one condition and nothing else");
		policy_jpath_key(cp, sizeof(cp), jp, "not");
		n->type = N_NOT;
		if (!(n->kids = calloc(1, sizeof(*n->kids))))
			return -ENOMEM;
		n->nkids = 1;
		return compile_cond(c, cp, json_object_get(v, "not"), kinds, depth + 1, &n->kids[0]);
	}
	return compile_leaf(c, jp, v, kinds, n);
}

/* Watch/read paths implied by the top of a condition; *ok = false when none. */
static bool path_field(int f, bool read_only)
{
	const char *nm = detect_fields[f].name;

	if (read_only)
		return !strcmp(nm, "file.path") || !strcmp(nm, "file.target");
	return !strcmp(nm, "file.path") || !strcmp(nm, "file.target") || !strcmp(nm, "file.path2");
}

static bool leaf_paths(const struct dnode *n, bool read_only, struct policy_strv *out)
{
	if (n->type != N_LEAF || !path_field(n->field, read_only))
		return false;
	if (read_only ? (n->op != OP_EQUALS && n->op != OP_IN) :
	    (n->op != OP_EQUALS && n->op != OP_IN && n->op != OP_PREFIX && n->op != OP_GLOB))
		return false;
	for (size_t i = 0; out && i < n->nstr; i++) {
		char *s = strdup(n->str[i]), **v;

		if (!s)
			return false;
		if (n->op == OP_GLOB) {
			char *w = strpbrk(s, "*?[");
			if (w) {
				*w = 0;
				char *sl = strrchr(s, '/');
				if (sl)
					sl[sl == s ? 1 : 0] = 0;
			}
		}
		{
			size_t l = strlen(s);
			while (l > 1 && s[l - 1] == '/')
				s[--l] = 0;
		}
		if (s[0] != '/' || !(v = realloc(out->v, (out->n + 1) * sizeof(char *)))) {
			free(s);
			continue;
		}
		out->v = v;
		out->v[out->n++] = s;
	}
	return true;
}

/* True when the condition restricts the path; appends the paths to out (may be NULL). */
bool detect_cond_paths(const struct dnode *n, bool read_only, struct policy_strv *out)
{
	if (!n)
		return false;
	if (n->type == N_LEAF)
		return leaf_paths(n, read_only, out);
	if (n->type == N_ALL) {
		for (size_t i = 0; i < n->nkids; i++)
			if (detect_cond_paths(n->kids[i], read_only, NULL))
				return detect_cond_paths(n->kids[i], read_only, out);
		return false;
	}
	if (n->type == N_ANY) {
		for (size_t i = 0; i < n->nkids; i++)
			if (!detect_cond_paths(n->kids[i], read_only, NULL))
				return false;
		for (size_t i = 0; out && i < n->nkids; i++)
			detect_cond_paths(n->kids[i], read_only, out);
		return true;
	}
	return false;
}

static int need_paths(const struct policy_ctx *c, const char *jp, int kind, const struct dnode *cond)
{
	if (kind == DK_FILE && !detect_cond_paths(cond, false, NULL))
		return policy_fail(c, jp, "a \"file\" condition must restrict file.path, file.target or file.path2 "
				   "with equals, in, prefix or glob at its top (\"all\" member or every \"any\" "
				   "branch): the file sensor reports watched paths only");
	if (kind == DK_FILE_READ && !detect_cond_paths(cond, true, NULL))
		return policy_fail(c, jp, "a \"file_read\" condition must name the files with file.path equals or "
				   "in at its top: the kernel matches reads by inode");
	return 0;
}

static void rule_clear(struct detect_rule *r)
{
	free(r->id);
	free(r->title);
	free(r->description);
	free(r->remediation);
	for (int i = 0; i < 4; i++)
		free(r->mitre[i]);
	node_free(r->cond);
	for (size_t i = 0; i < r->nexc; i++)
		node_free(r->exc[i]);
	free(r->exc);
	for (size_t i = 0; i < r->nsteps; i++)
		node_free(r->steps[i].cond);
	for (size_t i = 0; i < r->nvars; i++)
		free(r->vars[i]);
	free(r->source);
}

void detect_ruleset_free(struct detect_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_clear(&rs->r[i]);
	free(rs->r);
	free(rs);
}

static int get_str(const struct policy_ctx *c, const char *jp, const json_t *o, const char *key,
		   bool required, size_t max, char **out)
{
	char kp[JP];

	if (!json_object_get(o, key)) {
		if (required)
			return policy_fail(c, jp, "missing required key \"%s\"", key);
		return 0;
	}
	policy_jpath_key(kp, sizeof(kp), jp, key);
	return policy_get_string(c, jp, o, key, 0, max, out);
}

static bool id_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static int compile_mitre(const struct policy_ctx *c, const char *jp, const json_t *m, struct detect_rule *r)
{
	static const char *const keys[] = { "tactic", "tactic_name", "technique", "technique_name", NULL };
	char kp[JP];
	int rc;

	if ((rc = policy_check_object(c, jp, m, keys)) < 0)
		return rc;
	for (int i = 0; i < 4; i++)
		if ((rc = get_str(c, jp, m, keys[i], true, 128, &r->mitre[i])) < 0)
			return rc;
	policy_jpath_key(kp, sizeof(kp), jp, "tactic");
	if (strncmp(r->mitre[0], "TA", 2) || strlen(r->mitre[0]) != 6 || strspn(r->mitre[0] + 2, "0123456789") != 4)
		return policy_fail(c, kp, "\"%s\" is not a MITRE ATT&CK tactic id (TA followed by 4 digits)", r->mitre[0]);
	policy_jpath_key(kp, sizeof(kp), jp, "technique");
	{
		const char *t = r->mitre[2];
		size_t l = strlen(t);

		if (t[0] != 'T' || strspn(t + 1, "0123456789") != 4 ||
		    !(l == 5 || (l == 9 && t[5] == '.' && strspn(t + 6, "0123456789") == 3)))
			return policy_fail(c, kp, "\"%s\" is not a MITRE ATT&CK technique id (T1234 or T1234.001)", t);
	}
	return 0;
}

static int dedup_fields(const struct policy_ctx *c, const char *jp, const json_t *v, unsigned kinds,
			struct detect_rule *r)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v) || json_array_size(v) > DETECT_DEDUP_FIELDS)
		return policy_fail(c, jp, "expected an array of at most %d field names", DETECT_DEDUP_FIELDS);
	json_array_foreach(v, i, x) {
		char ip[JP];
		int f;

		policy_jpath_index(ip, sizeof(ip), jp, i);
		if (!json_is_string(x) || (f = detect_field_find(json_string_value(x))) < 0)
			return policy_fail(c, ip, "expected a known field name");
		for (int k = 0; k < DK_MAX; k++)
			if ((kinds & K(k)) && !(detect_fields[f].kinds & K(k)))
				return policy_fail(c, ip, "field \"%s\" does not exist for \"%s\" events",
						   detect_fields[f].name, detect_kind_name(k));
		r->dedup[r->ndedup++] = f;
	}
	return 0;
}

static int var_index(struct detect_rule *r, const char *name, bool create)
{
	for (size_t i = 0; i < r->nvars; i++)
		if (!strcmp(r->vars[i], name))
			return (int)i;
	if (!create || r->nvars >= DETECT_SEQ_VARS)
		return -1;
	if (!(r->vars[r->nvars] = strdup(name)))
		return -2;
	return (int)r->nvars++;
}

static int compile_sequence(const struct policy_ctx *c, const char *jp, const json_t *s, struct detect_rule *r)
{
	static const char *const keys[] = { "by", "window_s", "steps", NULL };
	static const char *const step_keys[] = { "event", "condition", "capture", "same", NULL };
	char kp[JP];
	json_t *steps, *st;
	json_int_t win = 60;
	size_t i;
	int rc;

	if ((rc = policy_check_object(c, jp, s, keys)) < 0)
		return rc;
	policy_jpath_key(kp, sizeof(kp), jp, "by");
	{
		const char *by = json_string_value(json_object_get(s, "by"));

		if (!json_object_get(s, "by"))
			return policy_fail(c, jp, "missing required key \"by\" (lineage, process or container)");
		if (!by || (strcmp(by, "lineage") && strcmp(by, "process") && strcmp(by, "container")))
			return policy_fail(c, kp, "expected \"lineage\", \"process\" or \"container\"");
		r->by = !strcmp(by, "lineage") ? SEQ_LINEAGE : !strcmp(by, "process") ? SEQ_PROCESS : SEQ_CONTAINER;
	}
	if ((rc = policy_get_int(c, jp, s, "window_s", 1, 86400, &win)) < 0)
		return rc;
	r->window_ns = (uint64_t)win * 1000000000ull;
	policy_jpath_key(kp, sizeof(kp), jp, "steps");
	steps = json_object_get(s, "steps");
	if (!json_is_array(steps) || json_array_size(steps) < 2 || json_array_size(steps) > DETECT_SEQ_STEPS)
		return policy_fail(c, steps ? kp : jp, "\"steps\" must be an array of 2 to %d steps", DETECT_SEQ_STEPS);
	json_array_foreach(steps, i, st) {
		struct detect_step *sp = &r->steps[i];
		char sp_path[JP], xp[JP];
		const char *ev, *key;
		json_t *x, *val;
		int k;

		policy_jpath_index(sp_path, sizeof(sp_path), kp, i);
		if ((rc = policy_check_object(c, sp_path, st, step_keys)) < 0)
			return rc;
		policy_jpath_key(xp, sizeof(xp), sp_path, "event");
		if (!(ev = json_string_value(json_object_get(st, "event"))))
			return policy_fail(c, json_object_get(st, "event") ? xp : sp_path, "expected \"event\": an event kind");
		if ((k = kind_parse(ev)) < 0)
			return policy_fail(c, xp, "unknown event kind \"%.64s\"", ev);
		sp->kind = k;
		r->nsteps = i + 1;
		policy_jpath_key(xp, sizeof(xp), sp_path, "condition");
		if (!(x = json_object_get(st, "condition")))
			return policy_fail(c, sp_path, "missing required key \"condition\"");
		if ((rc = compile_cond(c, xp, x, K(k), 0, &sp->cond)) < 0 || (rc = need_paths(c, xp, k, sp->cond)) < 0)
			return rc;
		if ((x = json_object_get(st, "capture"))) {
			policy_jpath_key(xp, sizeof(xp), sp_path, "capture");
			if (!json_is_object(x))
				return policy_fail(c, xp, "expected an object {\"variable\": \"field\"}");
			json_object_foreach(x, key, val) {
				char vp[JP];
				int f, vi = -1;

				policy_jpath_key(vp, sizeof(vp), xp, key);
				if (!json_is_string(val) || (f = detect_field_find(json_string_value(val))) < 0 ||
				    !(detect_fields[f].kinds & K(k)))
					return policy_fail(c, vp, "expected a field name of \"%s\" events", ev);
				if (sp->ncap >= DETECT_SEQ_VARS || (vi = var_index(r, key, true)) < 0)
					return vi == -2 ? -ENOMEM : policy_fail(c, vp, "at most %d variables", DETECT_SEQ_VARS);
				sp->cap_var[sp->ncap] = vi;
				sp->cap_field[sp->ncap++] = f;
			}
		}
		if ((x = json_object_get(st, "same"))) {
			policy_jpath_key(xp, sizeof(xp), sp_path, "same");
			if (!json_is_object(x))
				return policy_fail(c, xp, "expected an object {\"field\": \"variable\"}");
			json_object_foreach(x, key, val) {
				char vp[JP];
				int f, vi;

				policy_jpath_key(vp, sizeof(vp), xp, key);
				if ((f = detect_field_find(key)) < 0 || !(detect_fields[f].kinds & K(k)))
					return policy_fail(c, vp, "\"%.64s\" is not a field of \"%s\" events", key, ev);
				if (!json_is_string(val) || (vi = var_index(r, json_string_value(val), false)) < 0)
					return policy_fail(c, vp, "expected a variable captured by an earlier step");
				if (sp->nsame >= DETECT_SEQ_VARS)
					return policy_fail(c, vp, "at most %d comparisons", DETECT_SEQ_VARS);
				sp->same_field[sp->nsame] = f;
				sp->same_var[sp->nsame++] = vi;
			}
		}
	}
	return 0;
}

static int compile_rule(const struct policy_ctx *c, const char *jp, const json_t *v, struct detect_rule *r)
{
	static const char *const keys[] = { "id", "title", "description", "severity", "enabled", "mitre", "event",
					    "condition", "exceptions", "dedup", "remediation", "sequence", NULL };
	char kp[JP];
	json_t *x;
	unsigned kinds = 0;
	int rc;

	if ((rc = policy_check_object(c, jp, v, keys)) < 0)
		return rc;
	if ((rc = get_str(c, jp, v, "id", true, 64, &r->id)) < 0)
		return rc;
	policy_jpath_key(kp, sizeof(kp), jp, "id");
	if (!id_ok(r->id))
		return policy_fail(c, kp, "rule ids use a-z, 0-9, '_', '-' and '.' only");
	if ((rc = get_str(c, jp, v, "title", true, 256, &r->title)) < 0 ||
	    (rc = get_str(c, jp, v, "description", true, 4096, &r->description)) < 0 ||
	    (rc = get_str(c, jp, v, "remediation", true, 4096, &r->remediation)) < 0)
		return rc;
	if (!json_object_get(v, "severity"))
		return policy_fail(c, jp, "missing required key \"severity\"");
	r->enabled = true;
	if ((rc = policy_get_severity(c, jp, v, "severity", &r->severity)) < 0 ||
	    (rc = policy_get_bool(c, jp, v, "enabled", &r->enabled)) < 0)
		return rc;
	policy_jpath_key(kp, sizeof(kp), jp, "mitre");
	if (!(x = json_object_get(v, "mitre")))
		return policy_fail(c, jp, "missing required key \"mitre\"");
	if ((rc = compile_mitre(c, kp, x, r)) < 0)
		return rc;
	if ((x = json_object_get(v, "sequence"))) {
		if (json_object_get(v, "event") || json_object_get(v, "condition")) {
			policy_jpath_key(kp, sizeof(kp), jp, json_object_get(v, "event") ? "event" : "condition");
			return policy_fail(c, kp, "a sequence rule has its events and conditions in its steps");
		}
		policy_jpath_key(kp, sizeof(kp), jp, "sequence");
		if ((rc = compile_sequence(c, kp, x, r)) < 0)
			return rc;
		for (size_t i = 0; i < r->nsteps; i++)
			kinds |= K(r->steps[i].kind);
		r->kind = r->steps[r->nsteps - 1].kind;
	} else {
		const char *ev = json_string_value(json_object_get(v, "event"));
		int k;

		policy_jpath_key(kp, sizeof(kp), jp, "event");
		if (!json_object_get(v, "event"))
			return policy_fail(c, jp, "missing required key \"event\" (or \"sequence\")");
		if (!ev || (k = kind_parse(ev)) < 0)
			return policy_fail(c, kp, "unknown event kind (allowed: exec, file, network, ptrace, module_load, "
					   "setns, unshare, signal, file_read, exec_stdio)");
		r->kind = k;
		kinds = K(k);
		policy_jpath_key(kp, sizeof(kp), jp, "condition");
		if (!(x = json_object_get(v, "condition")))
			return policy_fail(c, jp, "missing required key \"condition\"");
		if ((rc = compile_cond(c, kp, x, kinds, 0, &r->cond)) < 0 || (rc = need_paths(c, kp, k, r->cond)) < 0)
			return rc;
	}
	r->kinds = kinds;
	if ((x = json_object_get(v, "exceptions"))) {
		size_t i;
		json_t *e;

		policy_jpath_key(kp, sizeof(kp), jp, "exceptions");
		if (!json_is_array(x))
			return policy_fail(c, kp, "expected an array of conditions");
		if (json_array_size(x) && !(r->exc = calloc(json_array_size(x), sizeof(*r->exc))))
			return -ENOMEM;
		json_array_foreach(x, i, e) {
			char ip[JP];

			policy_jpath_index(ip, sizeof(ip), kp, i);
			rc = compile_cond(c, ip, e, kinds, 0, &r->exc[i]);
			r->nexc = i + 1;
			if (rc < 0)
				return rc;
		}
	}
	if ((x = json_object_get(v, "dedup"))) {
		policy_jpath_key(kp, sizeof(kp), jp, "dedup");
		if ((rc = dedup_fields(c, kp, x, r->nsteps ? K(r->kind) : kinds, r)) < 0)
			return rc;
	} else {
		r->dedup[r->ndedup++] = detect_field_find("process.exe");
		r->dedup[r->ndedup++] = detect_field_find("container.id");
	}
	return 0;
}

/* Compiles one rule document into rs (appending). */
static int compile_doc(struct detect_ruleset *rs, const char *text, size_t len, const char *name,
		       char *err, size_t errlen)
{
	struct policy_ctx c = { .text = text, .name = name, .err = err, .errlen = errlen };
	static const char *const top[] = { "rules", NULL };
	json_error_t je;
	json_t *doc, *arr, *rv;
	size_t i;
	int rc;

	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		if (err && errlen) {
			snprintf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column < 1 ? 1 : je.column, je.text);
			for (char *p = err; *p; p++)    /* jansson quotes the input: keep one line */
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		}
		return -EINVAL;
	}
	if ((rc = policy_check_object(&c, "", doc, top)) < 0)
		goto out;
	arr = json_object_get(doc, "rules");
	if (!json_is_array(arr)) {
		rc = policy_fail(&c, arr ? "/rules" : "", arr ? "expected an array of rules" : "missing key \"rules\"");
		goto out;
	}
	json_array_foreach(arr, i, rv) {
		char jp[JP];
		struct detect_rule *nr = realloc(rs->r, (rs->n + 1) * sizeof(*rs->r));

		if (!nr) {
			rc = -ENOMEM;
			goto out;
		}
		rs->r = nr;
		memset(&rs->r[rs->n], 0, sizeof(*rs->r));
		rs->n++;
		policy_jpath_index(jp, sizeof(jp), "/rules", i);
		if ((rc = compile_rule(&c, jp, rv, &rs->r[rs->n - 1])) < 0)
			goto out;
		rs->r[rs->n - 1].source = strdup(name);
		for (size_t j = 0; j + 1 < rs->n; j++) {
			if (!strcmp(rs->r[j].id, rs->r[rs->n - 1].id)) {
				char ip[JP];

				policy_jpath_key(ip, sizeof(ip), jp, "id");
				rc = policy_fail(&c, ip, "rule id \"%s\" is already defined in %s", rs->r[j].id,
						 rs->r[j].source ? rs->r[j].source : name);
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: %s", name, strerror(ENOMEM));
	json_decref(doc);
	return rc;
}

int detect_ruleset_load_string(const char *text, const char *name, struct detect_ruleset **out,
			       char *err, size_t errlen)
{
	struct detect_ruleset *rs = calloc(1, sizeof(*rs));
	int r;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	r = compile_doc(rs, text, strlen(text), name ? name : "<string>", err, errlen);
	if (r) {
		detect_ruleset_free(rs);
		return r;
	}
	*out = rs;
	return 0;
}

int detect_ruleset_load(const char *const *files, size_t nfiles, const struct policy_strv *disabled,
			struct detect_ruleset **out, char *err, size_t errlen)
{
	struct detect_ruleset *rs = calloc(1, sizeof(*rs));
	int r = 0;

	*out = NULL;
	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < nfiles && !r; i++) {
		size_t len;
		char *text = util_read_file(files[i], 4u << 20, &len);

		if (!text) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", files[i], strerror(errno));
			break;
		}
		r = compile_doc(rs, text, len, files[i], err, errlen);
		free(text);
	}
	for (size_t d = 0; !r && disabled && d < disabled->n; d++) {
		size_t i;

		for (i = 0; i < rs->n; i++)
			if (!strcmp(rs->r[i].id, disabled->v[d]))
				break;
		if (i == rs->n) {
			snprintf(err, errlen, "disabled rule \"%s\" is not defined by any rule file", disabled->v[d]);
			r = -EINVAL;
		} else {
			rs->r[i].enabled = false;
		}
	}
	if (r) {
		detect_ruleset_free(rs);
		return r;
	}
	*out = rs;
	return 0;
}

/* ---------- binding and queries ---------- */

static const char *var_value(const struct detect_env *env, const char *name, size_t n)
{
	const char *vals[] = { env->log_dir, env->state_dir, env->policy, env->pin_dir, env->exe };

	for (int i = 0; var_names[i]; i++)
		if (strlen(var_names[i]) == n && !strncmp(var_names[i], name, n))
			return vals[i] ? vals[i] : "";
	return "";
}

static char *subst(const char *s, const struct detect_env *env)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *o = malloc(cap);

	if (!o)
		return NULL;
	while (*s) {
		const char *add = s, *e;
		size_t n = 1;

		if (s[0] == '$' && s[1] == '{' && (e = strchr(s, '}'))) {
			add = var_value(env, s + 2, e - s - 2);
			n = strlen(add);
			s = e + 1;
		} else {
			s++;
		}
		if (len + n + 1 > cap) {
			char *no;

			cap = (len + n + 1) * 2;
			if (!(no = realloc(o, cap))) {
				free(o);
				return NULL;
			}
			o = no;
		}
		memcpy(o + len, add, n);
		len += n;
	}
	o[len] = 0;
	return o;
}

static int bind_node(struct dnode *n, const struct detect_env *env)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n->nkids; i++)
		if (bind_node(n->kids[i], env))
			return -ENOMEM;
	for (size_t i = 0; i < n->nstr; i++) {
		char *s;

		if (!strstr(n->raw[i], "${"))
			continue;
		if (!(s = subst(n->raw[i], env)))
			return -ENOMEM;
		if (n->str[i] != n->raw[i])
			free(n->str[i]);
		n->str[i] = s;
		n->slen[i] = strlen(s);
	}
	return 0;
}

int detect_ruleset_bind(struct detect_ruleset *rs, const struct detect_env *env)
{
	for (size_t i = 0; rs && i < rs->n; i++) {
		struct detect_rule *r = &rs->r[i];

		if (bind_node(r->cond, env))
			return -ENOMEM;
		for (size_t j = 0; j < r->nexc; j++)
			if (bind_node(r->exc[j], env))
				return -ENOMEM;
		for (size_t j = 0; j < r->nsteps; j++)
			if (bind_node(r->steps[j].cond, env))
				return -ENOMEM;
	}
	return 0;
}

size_t detect_ruleset_size(const struct detect_ruleset *rs)
{
	size_t n = 0;

	for (size_t i = 0; rs && i < rs->n; i++)
		n += rs->r[i].enabled;
	return n;
}

unsigned detect_ruleset_kinds(const struct detect_ruleset *rs)
{
	unsigned k = 0;

	for (size_t i = 0; rs && i < rs->n; i++)
		if (rs->r[i].enabled)
			k |= rs->r[i].kinds;
	return k;
}

static int collect(const struct detect_ruleset *rs, enum detect_kind kind, bool read_only, struct policy_strv *out)
{
	struct policy_strv all = { 0 };

	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct detect_rule *r = &rs->r[i];

		if (!r->enabled)
			continue;
		if (!r->nsteps && r->kind == kind)
			detect_cond_paths(r->cond, read_only, &all);
		for (size_t j = 0; j < r->nsteps; j++)
			if (r->steps[j].kind == kind)
				detect_cond_paths(r->steps[j].cond, read_only, &all);
	}
	/* drop duplicates */
	for (size_t i = 0; i < all.n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (all.v[j] && all.v[i] && !strcmp(all.v[i], all.v[j])) {
				free(all.v[i]);
				all.v[i] = NULL;
				break;
			}
		}
	}
	*out = (struct policy_strv){ 0 };
	for (size_t i = 0; i < all.n; i++) {
		if (!all.v[i])
			continue;
		all.v[out->n++] = all.v[i];
	}
	out->v = all.v;
	if (!out->n) {
		free(all.v);
		out->v = NULL;
	}
	return 0;
}

int detect_ruleset_watch(const struct detect_ruleset *rs, struct policy_strv *out)
{
	return collect(rs, DK_FILE, false, out);
}

int detect_ruleset_read_paths(const struct detect_ruleset *rs, struct policy_strv *out)
{
	return collect(rs, DK_FILE_READ, true, out);
}
