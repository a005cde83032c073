/* Unit tests for the posture catalogue (posture.c) against a fake host tree. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <jansson.h>

#include "posture.h"
#include "proctab.h"
#include "hostfs.h"
#include "util.h"

struct fx {
	char root[64];
	char sys[128], etc[128], sec[128], net[128], dpkg[128], sysctld[128], path[128];
	struct posture_env e;
};

static void put(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX], d[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	snprintf(d, sizeof(d), "%s", p);
	*strrchr(d, '/') = 0;
	assert_int_equal(util_mkdir_p(d, 0755), 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->root, "/tmp/vigil-test-posture.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
#define D(field, name) snprintf(f->field, sizeof(f->field), "%s/" name, f->root); util_mkdir_p(f->field, 0755)
	D(sys, "proc_sys");
	D(etc, "etc");
	D(sec, "security");
	D(net, "proc_net");
	D(dpkg, "dpkg");
	D(sysctld, "sysctl.d");
	D(path, "bin");
#undef D
	posture_env_default(&f->e);
	f->e.proc_sys = f->sys;
	f->e.etc = f->etc;
	f->e.security = f->sec;
	f->e.proc_net = f->net;
	f->e.dpkg_dir = f->dpkg;
	f->e.sysctl_dir = f->sysctld;
	f->e.path_dirs = f->path;
	f->e.suid_dirs = f->path;
	f->e.sshd_bin = "/nonexistent/sshd";
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	if (system(cmd)) {
		/* best effort */
	}
	free(f);
	return 0;
}

/* Status of recommendation id under f's environment. */
static char *status_of(struct fx *f, const char *id, json_t **out)
{
	static char st[32];
	const struct posture_rec *r = posture_find(id);
	json_t *o;

	assert_non_null(r);
	o = posture_assess_one(&f->e, r);
	assert_non_null(o);
	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(o, "status")));
	if (out)
		*out = o;
	else
		json_decref(o);
	return st;
}

static void test_sysctl_check_and_fix(void **state)
{
	struct fx *f = *state;
	json_t *actions = NULL, *o;
	char err[256], *conf;
	int r;

	/* missing: unknown, never healthy */
	assert_string_equal(status_of(f, "kernel.kptr_restrict", NULL), "unknown");
	put(f->sys, "kernel/kptr_restrict", "0\n", 0644);
	assert_string_equal(status_of(f, "kernel.kptr_restrict", &o), "unhealthy");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "kernel.kptr_restrict = 0"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "evidence"), "kernel.kptr_restrict")), 0);
	json_decref(o);
	/* dry run changes nothing */
	r = posture_fix(&f->e, "kernel.kptr_restrict", true, &actions, err, sizeof(err));
	assert_int_equal(r, 0);
	assert_int_equal(json_array_size(actions), 1);
	json_decref(actions);
	assert_string_equal(status_of(f, "kernel.kptr_restrict", NULL), "unhealthy");
	/* the fix writes the value and persists it */
	put(f->sysctld, "60-vigil-posture.conf", "# mine\nkernel.kptr_restrict=0\nvm.swappiness = 10\n", 0644);
	r = posture_fix(&f->e, "kernel.kptr_restrict", false, &actions, err, sizeof(err));
	assert_int_equal(r, 0);
	json_decref(actions);
	assert_string_equal(status_of(f, "kernel.kptr_restrict", NULL), "healthy");
	char p[256];
	snprintf(p, sizeof(p), "%s/60-vigil-posture.conf", f->sysctld);
	conf = util_read_file(p, 4096, NULL);
	assert_non_null(conf);
	assert_string_equal(conf, "# mine\nkernel.kptr_restrict = 1\nvm.swappiness = 10\n");
	free(conf);
	/* optional sysctl absent: not applicable */
	assert_string_equal(status_of(f, "kernel.ptrace_scope", NULL), "not_applicable");
	/* >= comparisons: 2 is as good as 1 */
	put(f->sys, "kernel/unprivileged_bpf_disabled", "2\n", 0644);
	assert_string_equal(status_of(f, "kernel.unprivileged_bpf", NULL), "healthy");
	/* not a number: unknown */
	put(f->sys, "kernel/randomize_va_space", "x\n", 0644);
	assert_string_equal(status_of(f, "kernel.aslr", NULL), "unknown");
	/* no fix for a check without one */
	r = posture_fix(&f->e, "kernel.lockdown", false, &actions, err, sizeof(err));
	assert_int_equal(r, -EOPNOTSUPP);
	r = posture_fix(&f->e, "no.such", false, &actions, err, sizeof(err));
	assert_int_equal(r, -ENOENT);
}

static void test_multi_sysctl(void **state)
{
	struct fx *f = *state;
	json_t *actions;
	char err[256];

	put(f->sys, "net/ipv4/conf/all/accept_redirects", "1\n", 0644);
	put(f->sys, "net/ipv4/conf/default/accept_redirects", "0\n", 0644);
	put(f->sys, "net/ipv4/conf/all/send_redirects", "0\n", 0644);
	put(f->sys, "net/ipv4/conf/default/send_redirects", "0\n", 0644);
	/* IPv6 absent: optional */
	assert_string_equal(status_of(f, "net.icmp_redirects", NULL), "unhealthy");
	assert_int_equal(posture_fix(&f->e, "net.icmp_redirects", false, &actions, err, sizeof(err)), 0);
	assert_int_equal(json_array_size(actions), 1);      /* only the bad key is written */
	json_decref(actions);
	assert_string_equal(status_of(f, "net.icmp_redirects", NULL), "healthy");
}

static void test_lsm_and_lockdown(void **state)
{
	struct fx *f = *state;
	json_t *rt;

	assert_string_equal(status_of(f, "kernel.lockdown", NULL), "unhealthy");
	put(f->sec, "lockdown", "[none] integrity confidentiality\n", 0644);
	assert_string_equal(status_of(f, "kernel.lockdown", NULL), "unhealthy");
	put(f->sec, "lockdown", "none [integrity] confidentiality\n", 0644);
	assert_string_equal(status_of(f, "kernel.lockdown", NULL), "healthy");
	put(f->sec, "lsm", "lockdown,capability,yama\n", 0644);
	assert_string_equal(status_of(f, "kernel.bpf_lsm", NULL), "unhealthy");
	put(f->sec, "lsm", "lockdown,capability,bpf\n", 0644);
	assert_string_equal(status_of(f, "kernel.bpf_lsm", NULL), "healthy");
	/* listed but vigild cannot attach: unhealthy */
	rt = json_pack("{s:{s:b, s:s}}", "backends", "bpf_lsm", 0, "bpf_lsm_error", "Operation not permitted");
	f->e.runtime = rt;
	assert_string_equal(status_of(f, "kernel.bpf_lsm", NULL), "unhealthy");
	f->e.runtime = NULL;
	json_decref(rt);
}

static void test_sshd(void **state)
{
	struct fx *f = *state;
	json_t *o;

	assert_string_equal(status_of(f, "ssh.permit_root_login", NULL), "not_applicable");
	put(f->etc, "ssh/sshd_config", "Include sshd_config.d/*.conf\nPermitRootLogin yes\n", 0644);
	assert_string_equal(status_of(f, "ssh.permit_root_login", NULL), "unhealthy");
	/* default PasswordAuthentication is yes */
	assert_string_equal(status_of(f, "ssh.password_auth", &o), "unhealthy");
	assert_true(json_is_true(json_object_get(json_object_get(o, "evidence"), "default")));
	json_decref(o);
	/* an included file read first wins (sshd keeps the first value) */
	put(f->etc, "ssh/sshd_config.d/10-hard.conf", "PermitRootLogin no\npasswordauthentication no\n", 0644);
	assert_string_equal(status_of(f, "ssh.permit_root_login", NULL), "healthy");
	assert_string_equal(status_of(f, "ssh.password_auth", NULL), "healthy");
	/* Match blocks do not change the global value */
	put(f->etc, "ssh/sshd_config", "Match User bob\n  PermitRootLogin yes\n", 0644);
	assert_string_equal(status_of(f, "ssh.permit_root_login", NULL), "healthy");
}

static void test_accounts(void **state)
{
	struct fx *f = *state;
	json_t *o;

	assert_string_equal(status_of(f, "accounts.empty_password", NULL), "not_applicable");
	put(f->etc, "shadow", "root:$6$x:19000:0:99999:7:::\nguest::19000:0:99999:7:::\nsvc:!:1::::::\n", 0640);
	assert_string_equal(status_of(f, "accounts.empty_password", &o), "unhealthy");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(o, "evidence"), "accounts"), 0)),
			    "guest");
	json_decref(o);
	/* a world-readable shadow file is unhealthy whoever owns it */
	chmod(strcat(strcpy((char[256]){0}, f->etc), "/shadow"), 0644);
	assert_string_equal(status_of(f, "accounts.shadow_perms", &o), "unhealthy");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "shadow"));
	json_decref(o);
	/* no sudoers: not applicable */
	assert_string_equal(status_of(f, "accounts.sudoers_perms", NULL), "not_applicable");
	put(f->etc, "sudoers", "root ALL=(ALL) ALL\n", 0666);
	assert_string_equal(status_of(f, "accounts.sudoers_perms", NULL), "unhealthy");
}

/* In a DaemonSet the node's / is at a host root: the checks read the node's files below it,
 * host paths in the environment and in sshd's Include resolve there, and a fix changes the
 * node's file.  The fixture root stands for /host. */
static void test_host_root(void **state)
{
	struct fx *f = *state;
	char err[256], p[PATH_MAX];
	json_t *o, *actions = NULL;
	struct stat st;

	assert_int_equal(hostfs_set_root(f->root, NULL), 0);
	f->e.etc = "/etc";
	f->e.sshd_bin = "/usr/sbin/sshd";
	f->e.path_dirs = "/bin";
	f->e.suid_dirs = "/bin";
	f->e.dpkg_dir = "/dpkg";
	put(f->etc, "ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n", 0644);
	put(f->etc, "ssh/sshd_config.d/10-hard.conf", "PermitRootLogin no\n", 0644);
	assert_string_equal(status_of(f, "ssh.permit_root_login", &o), "healthy");
	/* the evidence names the node's paths, not the host root's */
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(o, "evidence"), "files"), 1)),
			    "/etc/ssh/sshd_config.d/10-hard.conf");
	json_decref(o);
	put(f->etc, "shadow", "guest::19000:0:99999:7:::\n", 0640);
	assert_string_equal(status_of(f, "accounts.empty_password", NULL), "unhealthy");
	put(f->etc, "sudoers", "root ALL=(ALL) ALL\n", 0666);
	assert_string_equal(status_of(f, "accounts.sudoers_perms", NULL), "unhealthy");
	put(f->path, "evil", "#!/bin/sh\n", 0777);
	assert_string_equal(status_of(f, "files.path_world_writable", &o), "unhealthy");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(o, "evidence"),
									      "world_writable"), 0)), "/bin/evil");
	json_decref(o);
	assert_int_equal(posture_fix(&f->e, "accounts.sudoers_perms", false, &actions, err, sizeof(err)), 0);
	json_decref(actions);
	snprintf(p, sizeof(p), "%s/sudoers", f->etc);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0440);
	assert_string_equal(status_of(f, "accounts.sudoers_perms", NULL), "healthy");
	assert_int_equal(hostfs_set_root("/", NULL), 0);
}

static void test_path_world_writable(void **state)
{
	struct fx *f = *state;
	json_t *o;

	assert_string_equal(status_of(f, "files.path_world_writable", NULL), "healthy");
	put(f->path, "evil", "#!/bin/sh\n", 0777);
	chmod(strcat(strcpy((char[256]){0}, f->path), "/evil"), 0777);
	assert_string_equal(status_of(f, "files.path_world_writable", &o), "unhealthy");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "evidence"), "count")), 1);
	json_decref(o);
	f->e.path_dirs = "/nonexistent-a:/nonexistent-b";
	assert_string_equal(status_of(f, "files.path_world_writable", NULL), "unknown");
	/* no package database: package ownership cannot be known */
	assert_string_equal(status_of(f, "files.suid_not_packaged", NULL), "unknown");
}

static int count_ack(void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_runtime_checks(void **state)
{
	struct fx *f = *state;
	json_t *rt, *actions;
	char err[256];
	int acks = 0;

	/* no vigild: nothing protects the host */
	assert_string_equal(status_of(f, "vigil.app_control", NULL), "unhealthy");
	assert_string_equal(status_of(f, "vigil.event_loss", NULL), "unhealthy");
	assert_string_equal(status_of(f, "vigil.enforcement_backend", NULL), "unhealthy");
	assert_string_equal(status_of(f, "vigil.fim_baseline", NULL), "unhealthy");
	rt = json_pack("{s:{s:s, s:i, s:i, s:i}, s:{s:b, s:b, s:i, s:i, s:[]},"
		       " s:{s:n, s:i, s:b, s:i}, s:{s:b, s:b, s:b, s:b}, s:{s:[]}}",
		"aac", "mode", "enforce", "rules", 12, "allowlist_age_s", 3600, "max_age_s", 86400,
		"fim", "enabled", 1, "baseline", 1, "baseline_age_s", 60, "max_age_s", 86400, "uncovered",
		"loss", "last_loss", "last_loss_age_s", -1, "acknowledged", 0, "spool_dropped", 0,
		"backends", "bpf_lsm", 0, "fanotify_perm", 1, "xdp", 1, "tc", 1,
		"jit", "unprotected");
	f->e.runtime = rt;
	assert_string_equal(status_of(f, "vigil.app_control", NULL), "healthy");
	assert_string_equal(status_of(f, "vigil.fim_baseline", NULL), "healthy");
	assert_string_equal(status_of(f, "vigil.event_loss", NULL), "healthy");
	assert_string_equal(status_of(f, "vigil.enforcement_backend", NULL), "healthy");
	assert_string_equal(status_of(f, "vigil.jit_ports", NULL), "healthy");
	/* learn mode, stale allowlist, stale baseline, recent loss, unprotected port */
	json_object_set_new(json_object_get(rt, "aac"), "mode", json_string("learn"));
	assert_string_equal(status_of(f, "vigil.app_control", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "aac"), "mode", json_string("audit"));
	json_object_set_new(json_object_get(rt, "aac"), "allowlist_age_s", json_integer(2 * 86400));
	assert_string_equal(status_of(f, "vigil.app_control", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "fim"), "uncovered", json_pack("[s]", "/etc/shadow"));
	assert_string_equal(status_of(f, "vigil.fim_baseline", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "loss"), "last_loss_age_s", json_integer(600));
	assert_string_equal(status_of(f, "vigil.event_loss", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "loss"), "acknowledged", json_true());
	assert_string_equal(status_of(f, "vigil.event_loss", NULL), "healthy");
	json_object_set_new(json_object_get(rt, "loss"), "acknowledged", json_false());
	json_object_set_new(json_object_get(rt, "loss"), "last_loss_age_s", json_integer(2 * 86400));
	json_object_set_new(json_object_get(rt, "loss"), "spool_dropped", json_integer(3));
	assert_string_equal(status_of(f, "vigil.event_loss", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "jit"), "unprotected",
			    json_pack("[{s:s, s:s, s:i}]", "protocol", "tcp", "address", "0.0.0.0", "port", 22));
	assert_string_equal(status_of(f, "vigil.jit_ports", NULL), "unhealthy");
	json_object_set_new(json_object_get(rt, "backends"), "fanotify_perm", json_false());
	assert_string_equal(status_of(f, "vigil.enforcement_backend", NULL), "unhealthy");
	/* acknowledging loss goes through the agent's callback */
	assert_int_equal(posture_fix(&f->e, "vigil.event_loss", false, &actions, err, sizeof(err)), -EOPNOTSUPP);
	json_decref(actions);
	f->e.ack_loss = count_ack;
	f->e.ctx = &acks;
	assert_int_equal(posture_fix(&f->e, "vigil.event_loss", false, &actions, err, sizeof(err)), 0);
	json_decref(actions);
	assert_int_equal(acks, 1);
	f->e.runtime = NULL;
	json_decref(rt);
}

/* Nothing readable: every check reports something other than healthy, and the score is finite. */
static void test_empty_host(void **state)
{
	struct fx *f = *state;
	json_t *p, *v;
	size_t i;

	f->e.path_dirs = "/nonexistent";
	f->e.proc_net = "/nonexistent";
	p = posture_assess(&f->e);
	assert_non_null(p);
	json_array_foreach(json_object_get(p, "recommendations"), i, v) {
		const char *st = json_string_value(json_object_get(v, "status"));
		if (!strcmp(st, "healthy"))
			fail_msg("%s: expected not healthy on an empty host, seen healthy",
				 json_string_value(json_object_get(v, "id")));
		if (strcmp(st, "unhealthy") && !json_string_value(json_object_get(v, "reason")))
			fail_msg("%s: %s without a reason", json_string_value(json_object_get(v, "id")), st);
	}
	double pct = json_number_value(json_object_get(json_object_get(p, "score"), "percent"));
	assert_true(pct >= 0 && pct <= 0.0001);
	json_decref(p);
}

static void test_score_from_snapshot(void **state)
{
	json_t *p = json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]}",
		"recommendations",
		"id", "a", "control", "harden_os", "status", "healthy",
		"id", "b", "control", "harden_os", "status", "unhealthy",
		"id", "c", "control", "harden_os", "status", "not_applicable",
		"id", "d", "control", "mgmt_ports", "status", "unknown");
	json_t *v;
	size_t i;

	assert_int_equal(posture_score(p), 0);
	json_t *sc = json_object_get(p, "score");
	/* harden_os: 4 x 1/2 = 2 of 4; mgmt_ports has nothing evaluable and adds to neither sum */
	assert_true(fabs(json_number_value(json_object_get(sc, "percent")) - 50.0) < 1e-9);
	assert_true(fabs(json_number_value(json_object_get(sc, "max")) - 4.0) < 1e-9);
	json_array_foreach(json_object_get(p, "recommendations"), i, v) {
		double pot = json_number_value(json_object_get(v, "potential_increase"));
		double want = !strcmp(json_string_value(json_object_get(v, "id")), "b") ? 2.0 : 0.0;
		if (fabs(pot - want) > 1e-9)
			fail_msg("%s: expected potential %.2f, seen %.2f", json_string_value(json_object_get(v, "id")), want, pot);
	}
	json_decref(p);
}

static void test_catalogue(void **state)
{
	size_t n = 0;

	for (const struct posture_rec *r = posture_catalogue; r->id; r++, n++) {
		assert_non_null(score_control_find(r->control));
		assert_non_null(r->title);
		assert_non_null(r->remediation);
		assert_ptr_equal(posture_find(r->id), r);
		assert_true(!r->fix || r->fix_desc);
	}
	assert_true(n >= 25);
}

static struct proc *ctr_proc(struct proctab *t, uint32_t pid, const char *id, const char *runtime, const char *pod_uid)
{
	struct proc *p = proctab_get(t, pid, 1000 + pid);

	assert_non_null(p);
	snprintf(p->container.id, sizeof(p->container.id), "%s", id);
	snprintf(p->container.runtime, sizeof(p->container.runtime), "%s", runtime);
	snprintf(p->container.pod_uid, sizeof(p->container.pod_uid), "%s", pod_uid);
	return p;
}

/* Stands in for k8s_engine_enrich: one pod is known. */
static void fake_enrich(void *ctx, json_t *c)
{
	const char *uid = json_string_value(json_object_get(c, "pod_uid"));

	(*(int *)ctx)++;
	if (uid && !strcmp(uid, "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f")) {
		json_object_set_new(c, "pod", json_string("api-7f9c6b5d4-rt2xz"));
		json_object_set_new(c, "namespace", json_string("payments"));
		json_object_set_new(c, "name", json_string("api"));
	}
}

#define CID(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* Grouping by container id: live processes only, host processes left out, sorted by id,
 * bounded with the rest counted. */
static void test_workloads(void **state)
{
	struct proctab *t = proctab_new(64);
	const char *pod_uid = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
	json_t *w, *v;
	size_t omitted = 99;
	int calls = 0;

	assert_non_null(t);
	/* container b (a pod): 3 processes, one exited; container a (docker): 1; container c:
	 * only exited processes; pids 1 and 2 on the host */
	ctr_proc(t, 10, CID("b"), "containerd", pod_uid);
	ctr_proc(t, 11, CID("b"), "containerd", pod_uid);
	ctr_proc(t, 12, CID("b"), "containerd", pod_uid);
	proctab_exit(t, 12, 1012, 0);
	ctr_proc(t, 20, CID("a"), "docker", "");
	ctr_proc(t, 30, CID("c"), "cri-o", "");
	proctab_exit(t, 30, 1030, 0);
	assert_non_null(proctab_get(t, 1, 1001));
	assert_non_null(proctab_get(t, 2, 1002));

	w = posture_workloads(t, 16, fake_enrich, &calls, &omitted);
	assert_non_null(w);
	if (json_array_size(w) != 2)
		fail_msg("workloads: expected 2 (a, b), seen %zu: %s", json_array_size(w), json_dumps(w, JSON_COMPACT));
	assert_int_equal(omitted, 0);
	assert_int_equal(calls, 2);
	v = json_array_get(w, 0);
	assert_string_equal(json_string_value(json_object_get(v, "id")), CID("a"));
	assert_string_equal(json_string_value(json_object_get(v, "runtime")), "docker");
	assert_null(json_object_get(v, "pod_uid"));
	assert_null(json_object_get(v, "pod"));
	assert_int_equal(json_integer_value(json_object_get(v, "processes")), 1);
	v = json_array_get(w, 1);
	assert_string_equal(json_string_value(json_object_get(v, "id")), CID("b"));
	assert_string_equal(json_string_value(json_object_get(v, "pod_uid")), pod_uid);
	assert_string_equal(json_string_value(json_object_get(v, "pod")), "api-7f9c6b5d4-rt2xz");
	assert_string_equal(json_string_value(json_object_get(v, "namespace")), "payments");
	assert_string_equal(json_string_value(json_object_get(v, "name")), "api");
	if (json_integer_value(json_object_get(v, "processes")) != 2)
		fail_msg("processes of b: expected 2 (the exited one not counted), seen %lld",
			 (long long)json_integer_value(json_object_get(v, "processes")));
	json_decref(w);

	/* the bound: the first container (by id) kept, the other counted; no enrichment */
	w = posture_workloads(t, 1, NULL, NULL, &omitted);
	assert_int_equal(json_array_size(w), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "id")), CID("a"));
	assert_int_equal(omitted, 1);
	json_decref(w);
	w = posture_workloads(t, 0, NULL, NULL, &omitted);
	assert_int_equal(json_array_size(w), 0);
	assert_int_equal(omitted, 2);
	json_decref(w);
	proctab_free(t);

	/* an empty table: an empty array, not NULL */
	t = proctab_new(8);
	w = posture_workloads(t, 16, NULL, NULL, &omitted);
	assert_true(json_is_array(w) && json_array_size(w) == 0);
	assert_int_equal(omitted, 0);
	json_decref(w);
	proctab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sysctl_check_and_fix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_sysctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsm_and_lockdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sshd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_world_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runtime_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_host, setup, teardown),
		cmocka_unit_test(test_score_from_snapshot),
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_workloads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
