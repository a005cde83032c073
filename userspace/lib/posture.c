/*
 * The posture catalogue and its checks.  See posture.h.
 *
 * Expected values follow the CIS Debian Linux benchmark and the kernel's
 * Documentation/admin-guide/sysctl/ (kernel.rst, fs.rst) and
 * networking/ip-sysctl.rst.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "aac.h"
#include "hostfs.h"
#include "jit.h"
#include "policy.h"
#include "posture.h"
#include "util.h"

#define EVIDENCE_MAX      20          /* listed items per finding; the rest is counted */
#define SUID_SCAN_MAX     200000      /* names visited by the SUID scan */
#define SUID_DEPTH_MAX    8
#define SYSCTL_CONF_NAME  "60-vigil-posture.conf"

void posture_env_default(struct posture_env *e)
{
	memset(e, 0, sizeof(*e));
	e->proc_sys = "/proc/sys";
	e->etc = "/etc";
	e->security = "/sys/kernel/security";
	e->proc_net = "/proc/net";
	e->dpkg_dir = "/var/lib/dpkg";
	e->sysctl_dir = "/etc/sysctl.d";
	e->path_dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	e->suid_dirs = "/usr/bin:/usr/sbin:/bin:/sbin:/usr/local:/usr/lib:/usr/libexec:/opt";
	e->sshd_bin = "/usr/sbin/sshd";
}

static void reason(struct posture_finding *f, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reason(struct posture_finding *f, int status, const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- sysctl */

enum { OP_EQ, OP_GE };

struct sysctl_req {
	const char *key;          /* dotted name, "kernel.kptr_restrict" */
	int op;
	long want;
	const char *fixval;       /* value the fix writes */
	bool optional;            /* absent file = not applicable (e.g. Yama not built in) */
};

struct sysctl_set {
	const struct sysctl_req *req;
	size_t n;
};

static void sysctl_path(const struct posture_env *e, const char *key, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/", e->proc_sys);

	for (const char *k = key; *k && n + 1 < (int)len; k++)
		buf[n++] = *k == '.' ? '/' : *k;
	buf[n < (int)len ? n : (int)len - 1] = 0;
}

/* Reads a sysctl's first integer.  0, -ENOENT, -EINVAL or -errno. */
static int sysctl_read(const struct posture_env *e, const char *key, long *out)
{
	char path[PATH_MAX], *buf, *end;
	size_t len;

	sysctl_path(e, key, path, sizeof(path));
	buf = util_read_file(path, 4096, &len);
	if (!buf)
		return -errno;
	errno = 0;
	*out = strtol(buf, &end, 10);
	int r = end == buf || errno ? -EINVAL : 0;
	free(buf);
	return r;
}

static void check_sysctl(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const struct sysctl_set *s = r->arg;
	json_t *ev = json_object();
	size_t bad = 0, seen = 0;
	char badkeys[256] = "";

	for (size_t i = 0; i < s->n; i++) {
		const struct sysctl_req *q = &s->req[i];
		long v;
		int rc = sysctl_read(e, q->key, &v);

		if (rc == -ENOENT && q->optional) {
			json_object_set_new(ev, q->key, json_null());
			continue;
		}
		if (rc) {
			json_decref(f->evidence);
			f->evidence = ev;
			reason(f, SCORE_UNKNOWN, "cannot read %s: %s", q->key, strerror(-rc));
			return;
		}
		seen++;
		json_object_set_new(ev, q->key, json_integer(v));
		if ((q->op == OP_EQ && v != q->want) || (q->op == OP_GE && v < q->want)) {
			size_t n = strlen(badkeys);
			snprintf(badkeys + n, sizeof(badkeys) - n, "%s%s = %ld (expected %s%ld)",
				 bad ? ", " : "", q->key, v, q->op == OP_GE ? ">= " : "", q->want);
			bad++;
		}
	}
	f->evidence = ev;
	if (!seen)
		reason(f, SCORE_NOT_APPLICABLE, "this kernel does not have %s", s->req[0].key);
	else if (bad)
		reason(f, SCORE_UNHEALTHY, "%s", badkeys);
	else
		f->status = SCORE_HEALTHY;
}

/* Replaces the file content's line for key with "key = value". New string. */
static char *conf_set(const char *old, const char *key, const char *value)
{
	size_t cap = (old ? strlen(old) : 0) + strlen(key) + strlen(value) + 8, n = 0;
	char *out = malloc(cap + 1);
	bool done = false;
	const char *p = old;

	if (!out)
		return NULL;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		const char *k = p;
		while (k < p + ll && (*k == ' ' || *k == '\t'))
			k++;
		size_t kl = strlen(key);
		const char *after = k + kl;
		bool match = (size_t)(p + ll - k) >= kl && !strncmp(k, key, kl);
		while (match && after < p + ll && (*after == ' ' || *after == '\t'))
			after++;
		match = match && after < p + ll && *after == '=';
		if (match && !done) {
			n += sprintf(out + n, "%s = %s\n", key, value);
			done = true;
		} else if (!match) {
			memcpy(out + n, p, ll);
			n += ll;
			out[n++] = '\n';
		}
		p = nl ? nl + 1 : p + ll;
	}
	if (!done)
		n += sprintf(out + n, "%s = %s\n", key, value);
	out[n] = 0;
	return out;
}

int posture_sysctl_persist(const char *dir, const char *key, const char *value)
{
	char path[PATH_MAX], *old, *nw;
	int r;

	if (util_path_join(path, sizeof(path), dir, SYSCTL_CONF_NAME))
		return -ENAMETOOLONG;
	r = util_mkdir_p(dir, 0755);
	if (r)
		return r;
	old = util_read_file(path, 1 << 20, NULL);
	if (!old && errno != ENOENT)
		return -errno;
	if (!old && !(old = strdup("# Written by `vigil fix` (vigil posture): hardening sysctls.\n")))
		return -ENOMEM;
	nw = conf_set(old, key, value);
	free(old);
	if (!nw)
		return -ENOMEM;
	r = util_write_file_atomic(path, nw, strlen(nw), 0644);
	free(nw);
	return r;
}

static int fix_sysctl(const struct posture_env *e, const struct posture_rec *r, bool dry_run,
		      json_t *actions, char *err, size_t errlen)
{
	const struct sysctl_set *s = r->arg;

	for (size_t i = 0; i < s->n; i++) {
		const struct sysctl_req *q = &s->req[i];
		char path[PATH_MAX], msg[512];
		long v;
		int rc = sysctl_read(e, q->key, &v);

		if (rc == -ENOENT && q->optional)
			continue;
		if (!rc && ((q->op == OP_EQ && v == q->want) || (q->op == OP_GE && v >= q->want)))
			continue;
		snprintf(msg, sizeof(msg), "sysctl %s = %s (persisted in %s/%s)", q->key, q->fixval,
			 e->sysctl_dir, SYSCTL_CONF_NAME);
		json_array_append_new(actions, json_string(msg));
		if (dry_run)
			continue;
		sysctl_path(e, q->key, path, sizeof(path));
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, q->fixval, strlen(q->fixval)) < 0) {
			int en = errno;
			if (fd >= 0)
				close(fd);
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(en));
			return -en;
		}
		close(fd);
		rc = posture_sysctl_persist(e->sysctl_dir, q->key, q->fixval);
		if (rc) {
			snprintf(err, errlen, "cannot persist %s in %s: %s", q->key, e->sysctl_dir, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

#define SYSCTLS(name, ...) \
	static const struct sysctl_req name##_req[] = { __VA_ARGS__ }; \
	static const struct sysctl_set name = { name##_req, ARRAY_SIZE(name##_req) }

SYSCTLS(sc_aslr, { "kernel.randomize_va_space", OP_EQ, 2, "2", false });
SYSCTLS(sc_kptr, { "kernel.kptr_restrict", OP_GE, 1, "1", false });
SYSCTLS(sc_dmesg, { "kernel.dmesg_restrict", OP_EQ, 1, "1", false });
SYSCTLS(sc_bpf, { "kernel.unprivileged_bpf_disabled", OP_GE, 1, "1", false });
SYSCTLS(sc_ptrace, { "kernel.yama.ptrace_scope", OP_GE, 1, "1", true });
SYSCTLS(sc_symlinks, { "fs.protected_symlinks", OP_EQ, 1, "1", false });
SYSCTLS(sc_hardlinks, { "fs.protected_hardlinks", OP_EQ, 1, "1", false });
SYSCTLS(sc_dumpable, { "fs.suid_dumpable", OP_EQ, 0, "0", false });
SYSCTLS(sc_redirects,
	{ "net.ipv4.conf.all.accept_redirects", OP_EQ, 0, "0", false },
	{ "net.ipv4.conf.default.accept_redirects", OP_EQ, 0, "0", false },
	{ "net.ipv4.conf.all.send_redirects", OP_EQ, 0, "0", false },
	{ "net.ipv4.conf.default.send_redirects", OP_EQ, 0, "0", false },
	{ "net.ipv6.conf.all.accept_redirects", OP_EQ, 0, "0", true },
	{ "net.ipv6.conf.default.accept_redirects", OP_EQ, 0, "0", true });
SYSCTLS(sc_srcroute,
	{ "net.ipv4.conf.all.accept_source_route", OP_EQ, 0, "0", false },
	{ "net.ipv4.conf.default.accept_source_route", OP_EQ, 0, "0", false },
	{ "net.ipv6.conf.all.accept_source_route", OP_EQ, 0, "0", true },
	{ "net.ipv6.conf.default.accept_source_route", OP_EQ, 0, "0", true });

/* ---------------------------------------------------------------- kernel LSMs */

static char *read_trim(const char *dir, const char *name)
{
	char path[PATH_MAX], *s;

	if (util_path_join(path, sizeof(path), dir, name))
		return NULL;
	s = util_read_file(path, 4096, NULL);
	if (s)
		s[strcspn(s, "\n")] = 0;
	return s;
}

static void check_lockdown(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	char *s = read_trim(e->security, "lockdown"), *b, *en;

	if (!s) {
		int err = errno;
		if (err == ENOENT)
			reason(f, SCORE_UNHEALTHY, "the kernel has no lockdown LSM (%s/lockdown is absent)", e->security);
		else
			reason(f, SCORE_UNKNOWN, "cannot read %s/lockdown: %s", e->security, strerror(err));
		return;
	}
	f->evidence = json_pack("{s:s}", "lockdown", s);
	b = strchr(s, '[');
	en = b ? strchr(b, ']') : NULL;
	if (!b || !en) {
		reason(f, SCORE_UNKNOWN, "unexpected lockdown state \"%s\"", s);
	} else {
		*en = 0;
		if (!strcmp(b + 1, "none"))
			reason(f, SCORE_UNHEALTHY, "kernel lockdown is off");
		else
			f->status = SCORE_HEALTHY;
	}
	free(s);
}

static bool list_has(const char *csv, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = csv; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && !strncmp(p, name, n))
			return true;
		p = c ? c + 1 : p + l;
	}
	return false;
}

static void check_bpf_lsm(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	char *lsm = read_trim(e->security, "lsm");
	const json_t *bk = json_object_get(e->runtime, "backends");
	bool listed;

	if (!lsm) {
		reason(f, SCORE_UNKNOWN, "cannot read %s/lsm: %s", e->security, strerror(errno));
		return;
	}
	listed = list_has(lsm, "bpf");
	f->evidence = json_pack("{s:s}", "lsm", lsm);
	if (!listed) {
		reason(f, SCORE_UNHEALTHY, "BPF LSM is not in the active LSM list (%s)", lsm);
	} else if (json_is_object(bk) && !json_is_true(json_object_get(bk, "bpf_lsm"))) {
		const char *why = json_string_value(json_object_get(bk, "bpf_lsm_error"));
		json_object_set_new(f->evidence, "bpf_lsm_usable", json_false());
		reason(f, SCORE_UNHEALTHY, "BPF LSM is listed but vigild cannot attach LSM programs%s%s",
		       why ? ": " : "", why ? why : "");
	} else {
		f->status = SCORE_HEALTHY;
	}
	free(lsm);
}

/* ---------------------------------------------------------------- sshd */

struct sshd_cfg {
	char permit_root[64];
	char password_auth[64];
	json_t *files;
};

/* sshd uses the first value it reads for each keyword, Include expands in place,
 * and a Match block lasts to the end of its file. */
static void sshd_parse(const struct posture_env *e, const char *path, struct sshd_cfg *c, int depth)
{
	char *text = hostfs_read_file(path, 1 << 20, NULL), *save = NULL;

	if (!text)
		return;
	json_array_append_new(c->files, json_string(path));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *k = line, *v;
		while (*k == ' ' || *k == '\t')
			k++;
		if (!*k || *k == '#')
			continue;
		v = k + strcspn(k, " \t=");
		if (*v)
			*v++ = 0;
		while (*v == ' ' || *v == '\t' || *v == '=')
			v++;
		v[strcspn(v, " \t\r")] = 0;
		if (!strcasecmp(k, "Match"))
			break;
		if (!strcasecmp(k, "Include") && depth < 4) {
			char pat[PATH_MAX];
			glob_t g;
			if (*v == '/')
				snprintf(pat, sizeof(pat), "%s", v);
			else
				snprintf(pat, sizeof(pat), "%s/ssh/%s", e->etc, v);
			if (hostfs_glob(pat, 0, &g) == 0) {
				for (size_t i = 0; i < g.gl_pathc; i++)
					sshd_parse(e, g.gl_pathv[i], c, depth + 1);
				globfree(&g);
			}
		} else if (!strcasecmp(k, "PermitRootLogin") && !c->permit_root[0]) {
			snprintf(c->permit_root, sizeof(c->permit_root), "%s", v);
		} else if (!strcasecmp(k, "PasswordAuthentication") && !c->password_auth[0]) {
			snprintf(c->password_auth, sizeof(c->password_auth), "%s", v);
		}
	}
	free(text);
}

static bool sshd_load(const struct posture_env *e, struct sshd_cfg *c, struct posture_finding *f)
{
	char path[PATH_MAX];

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "%s/ssh/sshd_config", e->etc);
	if (!hostfs_exists(e->sshd_bin) && !hostfs_exists(path)) {
		reason(f, SCORE_NOT_APPLICABLE, "sshd is not installed (no %s, no %s)", e->sshd_bin, path);
		return false;
	}
	int fd = hostfs_open(path, O_RDONLY, 0);
	if (fd < 0) {
		reason(f, SCORE_UNKNOWN, "cannot read %s: %s", path, strerror(-fd));
		return false;
	}
	close(fd);
	c->files = json_array();
	sshd_parse(e, path, c, 0);
	return true;
}

static void check_ssh_root(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	struct sshd_cfg c;
	const char *v;

	if (!sshd_load(e, &c, f))
		return;
	v = c.permit_root[0] ? c.permit_root : "prohibit-password";
	f->evidence = json_pack("{s:s, s:b, s:o}", "PermitRootLogin", v, "default", !c.permit_root[0], "files", c.files);
	if (!strcasecmp(v, "yes"))
		reason(f, SCORE_UNHEALTHY, "sshd allows root to log in with a password (PermitRootLogin %s)", v);
	else
		f->status = SCORE_HEALTHY;
}

static void check_ssh_password(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	struct sshd_cfg c;
	const char *v;

	if (!sshd_load(e, &c, f))
		return;
	v = c.password_auth[0] ? c.password_auth : "yes";
	f->evidence = json_pack("{s:s, s:b, s:o}", "PasswordAuthentication", v, "default", !c.password_auth[0],
				"files", c.files);
	if (strcasecmp(v, "no"))
		reason(f, SCORE_UNHEALTHY, "sshd accepts passwords (PasswordAuthentication %s%s)", v,
		       c.password_auth[0] ? "" : ", the default");
	else
		f->status = SCORE_HEALTHY;
}

/* ---------------------------------------------------------------- account files */

struct perm_req {
	const char *name;         /* under etc */
	mode_t forbidden;         /* mode bits that must be clear */
	mode_t fix_mode;
	bool group_shadow;        /* group may be root or shadow */
	bool optional;            /* absent = not applicable */
};

static const struct perm_req perm_shadow[] = {
	{ "shadow", 0137, 0640, true, false },
	{ "gshadow", 0137, 0640, true, true },
	{ NULL },
};
static const struct perm_req perm_passwd[] = {
	{ "passwd", 0133, 0644, false, false },
	{ "group", 0133, 0644, false, false },
	{ NULL },
};
static const struct perm_req perm_sudoers[] = {
	{ "sudoers", 0337, 0440, false, true },
	{ NULL },
};

static bool perm_ok(const struct perm_req *q, const struct stat *st, char *why, size_t len)
{
	struct group *g;

	if (st->st_uid != 0) {
		snprintf(why, len, "owned by uid %u, not root", (unsigned)st->st_uid);
		return false;
	}
	if (st->st_gid != 0) {
		g = q->group_shadow ? getgrgid(st->st_gid) : NULL;
		if (!g || strcmp(g->gr_name, "shadow")) {
			snprintf(why, len, "group %u is neither root%s", (unsigned)st->st_gid, q->group_shadow ? " nor shadow" : "");
			return false;
		}
	}
	if (st->st_mode & q->forbidden) {
		snprintf(why, len, "mode %04o allows more than %04o", (unsigned)(st->st_mode & 07777),
			 (unsigned)(07777 & ~q->forbidden & 0777));
		return false;
	}
	return true;
}

/* Paths checked for a perm_req list: the names, and for sudoers every file in sudoers.d. */
static json_t *perm_paths(const struct posture_env *e, const struct perm_req *reqs, json_t **which)
{
	json_t *paths = json_array();
	*which = json_array();

	for (size_t i = 0; reqs[i].name; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", e->etc, reqs[i].name);
		json_array_append_new(paths, json_string(p));
		json_array_append_new(*which, json_integer((json_int_t)i));
		if (!strcmp(reqs[i].name, "sudoers")) {
			DIR *d;
			struct dirent *de;
			snprintf(p, sizeof(p), "%s/sudoers.d", e->etc);
			if ((d = hostfs_opendir(p))) {
				while ((de = readdir(d))) {
					char q[PATH_MAX + 256];
					/* sudo skips names with '.' or ending in '~' */
					if (de->d_name[0] == '.' || strchr(de->d_name, '.') ||
					    de->d_name[strlen(de->d_name) - 1] == '~')
						continue;
					snprintf(q, sizeof(q), "%s/%s", p, de->d_name);
					json_array_append_new(paths, json_string(q));
					json_array_append_new(*which, json_integer((json_int_t)i));
				}
				closedir(d);
			}
		}
	}
	return paths;
}

static void check_perms(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const struct perm_req *reqs = r->arg;
	json_t *which, *paths = perm_paths(e, reqs, &which), *ev = json_object(), *v;
	size_t i, bad = 0, seen = 0;
	char msg[sizeof(f->reason)] = "";

	json_array_foreach(paths, i, v) {
		const struct perm_req *q = &reqs[json_integer_value(json_array_get(which, i))];
		const char *p = json_string_value(v);
		struct stat st;
		char why[128], mode[8];

		int rc = hostfs_lstat(p, &st);
		if (rc) {
			if (rc == -ENOENT && q->optional)
				continue;
			if (rc == -ENOENT) {
				json_object_set_new(ev, p, json_null());
				snprintf(msg, sizeof(msg), "%s is missing", p);
				bad++;
				continue;
			}
			reason(f, SCORE_UNKNOWN, "cannot stat %s: %s", p, strerror(-rc));
			json_decref(ev);
			goto out;
		}
		seen++;
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
		json_object_set_new(ev, p, json_pack("{s:s, s:i, s:i}", "mode", mode, "uid", (int)st.st_uid,
						       "gid", (int)st.st_gid));
		if (!S_ISREG(st.st_mode)) {
			snprintf(why, sizeof(why), "not a regular file");
		} else if (perm_ok(q, &st, why, sizeof(why))) {
			continue;
		}
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, "%s%s: %s", bad ? "; " : "", p, why);
		bad++;
	}
	f->evidence = ev;
	if (bad)
		reason(f, SCORE_UNHEALTHY, "%s", msg);
	else if (!seen)
		reason(f, SCORE_NOT_APPLICABLE, "none of the files exists (%s/%s)", e->etc, reqs[0].name);
	else
		f->status = SCORE_HEALTHY;
out:
	json_decref(paths);
	json_decref(which);
}

static int fix_perms(const struct posture_env *e, const struct posture_rec *r, bool dry_run,
		     json_t *actions, char *err, size_t errlen)
{
	const struct perm_req *reqs = r->arg;
	json_t *which, *paths = perm_paths(e, reqs, &which), *v;
	size_t i;
	int rc = 0;

	json_array_foreach(paths, i, v) {
		const struct perm_req *q = &reqs[json_integer_value(json_array_get(which, i))];
		const char *p = json_string_value(v);
		struct stat st;
		char why[128], msg[PATH_MAX + 64];

		/* the fix applies to the file that was checked, never to what a symlink swapped in names */
		int fd = hostfs_open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) || perm_ok(q, &st, why, sizeof(why))) {
			close(fd);
			continue;
		}
		gid_t gid = st.st_gid;
		if (gid != 0) {
			struct group *g = q->group_shadow ? getgrgid(gid) : NULL;
			if (!g || strcmp(g->gr_name, "shadow"))
				gid = 0;
		}
		mode_t mode = st.st_mode & 0777 & ~q->forbidden;
		snprintf(msg, sizeof(msg), "chown root:%u %s; chmod %04o %s", (unsigned)gid, p, (unsigned)mode, p);
		json_array_append_new(actions, json_string(msg));
		if (!dry_run && (fchown(fd, 0, gid) || fchmod(fd, mode))) {
			rc = -errno;
			snprintf(err, errlen, "cannot fix %s: %s", p, strerror(errno));
			close(fd);
			break;
		}
		close(fd);
	}
	json_decref(paths);
	json_decref(which);
	return rc;
}

static void check_empty_passwords(const struct posture_env *e, const struct posture_rec *r,
				  struct posture_finding *f)
{
	char path[PATH_MAX], *text, *save = NULL;
	json_t *users = json_array();
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/shadow", e->etc);
	text = hostfs_read_file(path, 16 << 20, NULL);
	if (!text) {
		int err = errno;
		json_decref(users);
		reason(f, err == ENOENT ? SCORE_NOT_APPLICABLE : SCORE_UNKNOWN, "cannot read %s: %s", path, strerror(err));
		return;
	}
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c = strchr(line, ':');
		if (!c || c == line)
			continue;
		if (c[1] == ':') {
			*c = 0;
			if (n++ < EVIDENCE_MAX)
				json_array_append_new(users, json_string(line));
		}
	}
	free(text);
	f->evidence = json_pack("{s:o, s:I}", "accounts", users, "count", (json_int_t)n);
	if (n)
		reason(f, SCORE_UNHEALTHY, "%zu account(s) have an empty password and can log in without one", n);
	else
		f->status = SCORE_HEALTHY;
}

/* ---------------------------------------------------------------- files */

static void add_limited(json_t *arr, size_t *n, const char *s)
{
	if ((*n)++ < EVIDENCE_MAX)
		json_array_append_new(arr, json_string(s));
}

static void check_path_ww(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	char *dirs = strdup(e->path_dirs ? e->path_dirs : ""), *save = NULL;
	json_t *items = json_array();
	size_t n = 0, scanned = 0;

	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct stat st;
		DIR *dh;
		struct dirent *de;

		if (hostfs_stat(d, &st) || !S_ISDIR(st.st_mode))
			continue;
		scanned++;
		if (st.st_mode & S_IWOTH)
			add_limited(items, &n, d);
		if (!(dh = hostfs_opendir(d)))
			continue;
		while ((de = readdir(dh))) {
			char p[PATH_MAX + 256];
			if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
				continue;
			snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
			if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || S_ISLNK(st.st_mode))
				continue;
			if (st.st_mode & S_IWOTH)
				add_limited(items, &n, p);
		}
		closedir(dh);
	}
	free(dirs);
	f->evidence = json_pack("{s:s, s:o, s:I}", "path", e->path_dirs ? e->path_dirs : "", "world_writable",
				items, "count", (json_int_t)n);
	if (!scanned)
		reason(f, SCORE_UNKNOWN, "none of the PATH directories exists");
	else if (n)
		reason(f, SCORE_UNHEALTHY, "%zu world-writable file(s) or directories in PATH: anyone can plant a binary", n);
	else
		f->status = SCORE_HEALTHY;
}

struct suid_walk {
	const struct aac_dpkg *dpkg;
	json_t *items;
	size_t n, visited;
	bool truncated;
};

static void suid_walk(struct suid_walk *w, const char *dir, int depth, dev_t dev)
{
	DIR *dh;
	struct dirent *de;

	if (depth > SUID_DEPTH_MAX || !(dh = hostfs_opendir(dir)))
		return;
	while ((de = readdir(dh))) {
		char p[PATH_MAX + 256];
		struct stat st;

		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (++w->visited > SUID_SCAN_MAX) {
			w->truncated = true;
			break;
		}
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) ||
		    fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
			suid_walk(w, p, depth + 1, dev);
		} else if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID))) {
			uint8_t md5[16];
			if (!aac_dpkg_owner(w->dpkg, p, md5))
				add_limited(w->items, &w->n, p);
		}
	}
	closedir(dh);
}

static void check_suid(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	struct aac_dpkg *dpkg = aac_dpkg_load(e->dpkg_dir);
	struct suid_walk w = { 0 };
	char *dirs, *save = NULL;

	if (!dpkg) {
		reason(f, SCORE_UNKNOWN, "cannot read the package database %s: %s", e->dpkg_dir, strerror(errno));
		return;
	}
	w.dpkg = dpkg;
	w.items = json_array();
	dirs = strdup(e->suid_dirs ? e->suid_dirs : "");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct stat st;
		if (!hostfs_stat(d, &st) && S_ISDIR(st.st_mode))
			suid_walk(&w, d, 0, st.st_dev);
	}
	free(dirs);
	aac_dpkg_free(dpkg);
	f->evidence = json_pack("{s:s, s:o, s:I, s:b}", "scanned", e->suid_dirs ? e->suid_dirs : "",
				"not_packaged", w.items, "count", (json_int_t)w.n, "truncated", w.truncated);
	if (w.n)
		reason(f, SCORE_UNHEALTHY, "%zu SUID/SGID binar%s no installed package owns", w.n, w.n == 1 ? "y" : "ies");
	else if (w.truncated)
		reason(f, SCORE_UNKNOWN, "scan stopped after %d names", SUID_SCAN_MAX);
	else
		f->status = SCORE_HEALTHY;
}

/* ---------------------------------------------------------------- vigil's coverage */

static bool need_runtime(const struct posture_env *e, struct posture_finding *f, const char *what)
{
	if (e->runtime)
		return true;
	reason(f, SCORE_UNHEALTHY, "vigild is not running: %s", what);
	return false;
}

static int64_t jint(const json_t *o, const char *k, int64_t def)
{
	const json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

static void check_aac(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const json_t *a;
	const char *mode;
	int64_t rules, age, max;

	if (!need_runtime(e, f, "no application control"))
		return;
	a = json_object_get(e->runtime, "aac");
	mode = json_string_value(json_object_get(a, "mode"));
	if (!mode) {
		reason(f, SCORE_UNKNOWN, "application control state is not available from vigild");
		return;
	}
	rules = jint(a, "rules", 0);
	age = jint(a, "allowlist_age_s", -1);
	max = jint(a, "max_age_s", 90 * 86400);
	f->evidence = json_deep_copy(a);
	if (strcmp(mode, "enforce") && strcmp(mode, "audit"))
		reason(f, SCORE_UNHEALTHY, "application control is in %s mode: unknown executables run unnoticed", mode);
	else if (rules <= 0)
		reason(f, SCORE_UNHEALTHY, "application control is in %s mode with an empty allowlist", mode);
	else if (age < 0 || age > max)
		reason(f, SCORE_UNHEALTHY, "the allowlist was last changed %lld days ago (more than %lld): review "
		       "`vigil aac recommend`", (long long)(age / 86400), (long long)(max / 86400));
	else
		f->status = SCORE_HEALTHY;
}

static void check_jit(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	json_t *un = NULL, *v, *pre = json_object_get(json_object_get(e->runtime, "jit"), "unprotected");
	size_t i;
	int rc = 0;
	char msg[sizeof(f->reason)] = "";

	char tcp[PATH_MAX];

	snprintf(tcp, sizeof(tcp), "%s/tcp", e->proc_net);
	if (json_is_array(pre))
		un = json_deep_copy(pre);
	else if (access(tcp, R_OK))
		rc = -errno;          /* no socket table: nothing can be said */
	else
		rc = jit_scan_listeners(e->proc_net, e->runtime ? e->jit : NULL, &un);
	if (rc) {
		reason(f, SCORE_UNKNOWN, "cannot list listening sockets in %s: %s", e->proc_net, strerror(-rc));
		return;
	}
	f->evidence = json_pack("{s:o}", "unprotected", un);
	json_array_foreach(un, i, v) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, "%s%s/%lld", i ? ", " : "",
			 json_string_value(json_object_get(v, "protocol")) ?: "tcp",
			 (long long)json_integer_value(json_object_get(v, "port")));
	}
	if (json_array_size(un))
		reason(f, SCORE_UNHEALTHY, "management port(s) listening without JIT protection: %s%s", msg,
		       e->runtime ? "" : " (vigild is not running)");
	else
		f->status = SCORE_HEALTHY;
}

static void check_fim(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const json_t *m;
	int64_t age, max;

	if (!need_runtime(e, f, "no file integrity monitoring"))
		return;
	m = json_object_get(e->runtime, "fim");
	if (!json_is_object(m)) {
		reason(f, SCORE_UNKNOWN, "file integrity state is not available from vigild");
		return;
	}
	f->evidence = json_deep_copy(m);
	age = jint(m, "baseline_age_s", -1);
	max = jint(m, "max_age_s", 30 * 86400);
	if (!json_is_true(json_object_get(m, "enabled")))
		reason(f, SCORE_UNHEALTHY, "file integrity monitoring is disabled in the policy");
	else if (!json_is_true(json_object_get(m, "baseline")))
		reason(f, SCORE_UNHEALTHY, "there is no FIM baseline");
	else if (age < 0 || age > max)
		reason(f, SCORE_UNHEALTHY, "the FIM baseline is %lld days old (more than %lld)",
		       (long long)(age / 86400), (long long)(max / 86400));
	else if (json_array_size(json_object_get(m, "uncovered")))
		reason(f, SCORE_UNHEALTHY, "%zu critical path(s) are not in the baseline",
		       json_array_size(json_object_get(m, "uncovered")));
	else
		f->status = SCORE_HEALTHY;
}

static void check_loss(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const json_t *l;
	int64_t age, dropped;

	if (!need_runtime(e, f, "no events are collected"))
		return;
	l = json_object_get(e->runtime, "loss");
	if (!json_is_object(l)) {
		reason(f, SCORE_UNKNOWN, "loss counters are not available from vigild");
		return;
	}
	f->evidence = json_deep_copy(l);
	age = jint(l, "last_loss_age_s", -1);
	dropped = jint(l, "spool_dropped", 0);
	if (json_is_true(json_object_get(l, "acknowledged")))
		f->status = SCORE_HEALTHY;
	else if (age >= 0 && age < 86400)
		reason(f, SCORE_UNHEALTHY, "kernel events were lost %lld s ago: a gap an attacker could hide in",
		       (long long)age);
	else if (dropped > 0)
		reason(f, SCORE_UNHEALTHY, "the forwarder spool overflowed: %lld alert(s) were not forwarded",
		       (long long)dropped);
	else
		f->status = SCORE_HEALTHY;
}

static int fix_loss(const struct posture_env *e, const struct posture_rec *r, bool dry_run,
		    json_t *actions, char *err, size_t errlen)
{
	if (!e->ack_loss) {
		snprintf(err, errlen, "acknowledging event loss needs a running vigild");
		return -EOPNOTSUPP;
	}
	json_array_append_new(actions, json_string("acknowledge the event loss seen so far"));
	if (dry_run)
		return 0;
	return e->ack_loss(e->ctx);
}

static void check_backend(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f)
{
	const json_t *b;
	bool exec, port;

	if (!need_runtime(e, f, "nothing enforces"))
		return;
	b = json_object_get(e->runtime, "backends");
	if (!json_is_object(b)) {
		reason(f, SCORE_UNKNOWN, "backend probe results are not available from vigild");
		return;
	}
	f->evidence = json_deep_copy(b);
	exec = json_is_true(json_object_get(b, "bpf_lsm")) || json_is_true(json_object_get(b, "fanotify_perm"));
	port = json_is_true(json_object_get(b, "xdp")) || json_is_true(json_object_get(b, "tc"));
	if (!exec && !port)
		reason(f, SCORE_UNHEALTHY, "no backend can block executions (BPF LSM, fanotify) nor packets (XDP, TC)");
	else if (!exec)
		reason(f, SCORE_UNHEALTHY, "no backend can block executions (neither BPF LSM nor fanotify permission events)");
	else if (!port)
		reason(f, SCORE_UNHEALTHY, "no backend can filter packets (neither XDP nor TC)");
	else
		f->status = SCORE_HEALTHY;
}

/* ---------------------------------------------------------------- catalogue */

#define SYSCTL_REC(ID, TITLE, DESC, SEV, SET, REM) \
	{ ID, TITLE, DESC, SEV, "harden_os", REM, check_sysctl, fix_sysctl, \
	  "sets the value now and persists it in the sysctl.d directory", &SET }

const struct posture_rec posture_catalogue[] = {
	SYSCTL_REC("kernel.aslr", "Address space layout randomisation should be fully enabled",
		   "kernel.randomize_va_space = 2 randomises stack, mmap, VDSO and heap addresses, which "
		   "makes memory-corruption exploits much harder.", VIGIL_SEV_HIGH, sc_aslr,
		   "Set kernel.randomize_va_space = 2 in /etc/sysctl.d and run `sysctl --system`."),
	SYSCTL_REC("kernel.kptr_restrict", "Kernel pointers should be hidden from unprivileged users",
		   "kernel.kptr_restrict >= 1 hides kernel addresses in /proc and elsewhere, which defeats "
		   "KASLR bypasses.", VIGIL_SEV_MEDIUM, sc_kptr,
		   "Set kernel.kptr_restrict = 1 (or 2) in /etc/sysctl.d."),
	SYSCTL_REC("kernel.dmesg_restrict", "The kernel log should be readable by root only",
		   "kernel.dmesg_restrict = 1 keeps kernel addresses and hardware details in the kernel log "
		   "away from unprivileged users.", VIGIL_SEV_LOW, sc_dmesg,
		   "Set kernel.dmesg_restrict = 1 in /etc/sysctl.d."),
	SYSCTL_REC("kernel.unprivileged_bpf", "Unprivileged BPF should be disabled",
		   "kernel.unprivileged_bpf_disabled >= 1 stops unprivileged users from loading BPF programs, "
		   "a frequent source of kernel privilege escalations.", VIGIL_SEV_HIGH, sc_bpf,
		   "Set kernel.unprivileged_bpf_disabled = 1 in /etc/sysctl.d (2 still allows re-enabling by root)."),
	SYSCTL_REC("kernel.ptrace_scope", "ptrace should be restricted to descendants",
		   "kernel.yama.ptrace_scope >= 1 stops a compromised process from attaching to other processes "
		   "of the same user to steal credentials.", VIGIL_SEV_MEDIUM, sc_ptrace,
		   "Set kernel.yama.ptrace_scope = 1 in /etc/sysctl.d."),
	SYSCTL_REC("fs.protected_symlinks", "Symlinks in sticky world-writable directories should be protected",
		   "fs.protected_symlinks = 1 blocks the /tmp symlink race (time-of-check to time-of-use) attacks.",
		   VIGIL_SEV_MEDIUM, sc_symlinks, "Set fs.protected_symlinks = 1 in /etc/sysctl.d."),
	SYSCTL_REC("fs.protected_hardlinks", "Hardlinks to files the user does not own should be refused",
		   "fs.protected_hardlinks = 1 blocks hardlink-based privilege escalation.",
		   VIGIL_SEV_MEDIUM, sc_hardlinks, "Set fs.protected_hardlinks = 1 in /etc/sysctl.d."),
	SYSCTL_REC("fs.suid_dumpable", "SUID programs should not dump core",
		   "fs.suid_dumpable = 0 keeps the memory of privileged programs (keys, password hashes) out of "
		   "core files.", VIGIL_SEV_MEDIUM, sc_dumpable, "Set fs.suid_dumpable = 0 in /etc/sysctl.d."),
	SYSCTL_REC("net.icmp_redirects", "ICMP redirects should be neither accepted nor sent",
		   "Accepting ICMP redirects lets an attacker on the link reroute traffic through itself; a "
		   "host that is not a router should not send them either.", VIGIL_SEV_MEDIUM, sc_redirects,
		   "Set net.ipv4.conf.{all,default}.accept_redirects = 0, send_redirects = 0 and "
		   "net.ipv6.conf.{all,default}.accept_redirects = 0 in /etc/sysctl.d."),
	SYSCTL_REC("net.source_route", "Source-routed packets should be refused",
		   "Source routing lets a sender choose the path of its packets and bypass network controls.",
		   VIGIL_SEV_MEDIUM, sc_srcroute,
		   "Set net.ipv4.conf.{all,default}.accept_source_route = 0 and the IPv6 equivalents in /etc/sysctl.d."),
	{ "kernel.lockdown", "Kernel lockdown should be enabled",
	  "Lockdown (integrity mode) stops root from modifying the running kernel (/dev/mem, unsigned "
	  "modules, kexec of unsigned images), so a root compromise cannot become a kernel compromise.",
	  VIGIL_SEV_MEDIUM, "harden_os",
	  "Boot with lockdown=integrity on the kernel command line (or enable Secure Boot on a kernel "
	  "that locks down under it).", check_lockdown, NULL, NULL, NULL },
	{ "kernel.bpf_lsm", "The BPF LSM should be active",
	  "With the BPF LSM vigil blocks unapproved executables inside the kernel; without it, it falls "
	  "back to fanotify permission events answered in user space, a weaker backend.",
	  VIGIL_SEV_MEDIUM, "harden_os",
	  "Add \"bpf\" to the lsm= kernel parameter (e.g. lsm=lockdown,capability,landlock,yama,apparmor,bpf) "
	  "on a kernel built with CONFIG_BPF_LSM, and reboot.", check_bpf_lsm, NULL, NULL, NULL },
	{ "ssh.permit_root_login", "sshd should not let root log in with a password",
	  "Root logins with a password are the first target of brute-force attacks.",
	  VIGIL_SEV_HIGH, "protect_accounts",
	  "Set \"PermitRootLogin no\" (or prohibit-password) in /etc/ssh/sshd_config and reload sshd.",
	  check_ssh_root, NULL, NULL, NULL },
	{ "ssh.password_auth", "sshd should accept keys only",
	  "Password authentication exposes every account to password guessing and credential stuffing.",
	  VIGIL_SEV_MEDIUM, "protect_accounts",
	  "Set \"PasswordAuthentication no\" in /etc/ssh/sshd_config after installing keys, and reload sshd.",
	  check_ssh_password, NULL, NULL, NULL },
	{ "accounts.shadow_perms", "/etc/shadow and /etc/gshadow should be readable by root and group shadow only",
	  "The shadow files hold password hashes that can be cracked offline.", VIGIL_SEV_HIGH,
	  "protect_accounts", "chown root:shadow /etc/shadow /etc/gshadow; chmod 0640 /etc/shadow /etc/gshadow",
	  check_perms, fix_perms, "sets owner root, group root or shadow, and removes excess mode bits", perm_shadow },
	{ "accounts.passwd_perms", "/etc/passwd and /etc/group should be writable by root only",
	  "Whoever can write these files can create a uid-0 account.", VIGIL_SEV_HIGH, "protect_accounts",
	  "chown root:root /etc/passwd /etc/group; chmod 0644 /etc/passwd /etc/group",
	  check_perms, fix_perms, "sets owner root:root and removes excess mode bits", perm_passwd },
	{ "accounts.sudoers_perms", "sudoers files should be readable by root only",
	  "Whoever can write a sudoers file is root; sudo also refuses group- or world-writable files.",
	  VIGIL_SEV_HIGH, "protect_accounts",
	  "chown root:root /etc/sudoers /etc/sudoers.d/*; chmod 0440 /etc/sudoers /etc/sudoers.d/*",
	  check_perms, fix_perms, "sets owner root:root and removes excess mode bits", perm_sudoers },
	{ "accounts.empty_password", "No account should have an empty password",
	  "An account with an empty password field can log in (su, console, some PAM stacks) without "
	  "any password.", VIGIL_SEV_HIGH, "protect_accounts",
	  "Lock the accounts (`passwd -l USER`) or set a password; check why they were created.",
	  check_empty_passwords, NULL, NULL, NULL },
	{ "files.path_world_writable", "No world-writable file or directory should be in PATH",
	  "Anyone could replace or add a command that root or a service later runs.", VIGIL_SEV_HIGH,
	  "harden_os", "chmod o-w the listed entries and find out who made them writable.",
	  check_path_ww, NULL, NULL, NULL },
	{ "files.suid_not_packaged", "SUID/SGID binaries should come from installed packages",
	  "A set-uid or set-gid binary no package owns is a classic persistence and privilege-escalation "
	  "backdoor.", VIGIL_SEV_HIGH, "harden_os",
	  "Check each listed binary; remove it or its set-id bits (chmod u-s,g-s FILE) unless it is known.",
	  check_suid, NULL, NULL, NULL, true },
	{ "vigil.app_control", "Adaptive application control should be enforced with a fresh allowlist",
	  "In audit or enforce mode vigil reports or blocks executables outside the allowlist; an old "
	  "allowlist produces noise and gets ignored.", VIGIL_SEV_HIGH, "app_control",
	  "Review `vigil aac recommend`, merge it with `vigil aac apply`, then set \"aac\": {\"mode\": "
	  "\"enforce\"} in the policy.", check_aac, NULL, NULL, NULL },
	{ "vigil.jit_ports", "Management ports should be protected by just-in-time access",
	  "A listening SSH, RDP or WinRM port is exposed to brute force and exploits; JIT keeps it closed "
	  "until an approved request opens it for one source.", VIGIL_SEV_HIGH, "mgmt_ports",
	  "Add the ports to the \"jit\" policy section with \"mode\": \"enforce\", or stop the listeners.",
	  check_jit, NULL, NULL, NULL },
	{ "vigil.fim_baseline", "File integrity monitoring should have a fresh baseline covering critical files",
	  "Without a baseline nothing shows that /etc/shadow, sudoers or system binaries changed.",
	  VIGIL_SEV_MEDIUM, "file_integrity",
	  "Enable the \"fim\" policy section with the critical paths and run `vigil fim baseline`.",
	  check_fim, NULL, NULL, NULL },
	{ "vigil.event_loss", "vigil should not have lost events in the last 24 hours",
	  "Lost kernel events or forwarded alerts are a blind spot; an attacker can cause losses on "
	  "purpose.", VIGIL_SEV_MEDIUM, "runtime_health",
	  "Look at `vigil status` loss counters; raise ring-buffer sizes or filter noisy paths; then "
	  "acknowledge with `vigil fix vigil.event_loss`.", check_loss, fix_loss,
	  "acknowledges the losses seen so far (vigil's own state)", NULL },
	{ "vigil.enforcement_backend", "An enforcement backend should be available",
	  "vigil blocks executions with the BPF LSM or fanotify permission events, and packets with XDP "
	  "or TC; without them it can only report.", VIGIL_SEV_HIGH, "runtime_health",
	  "Use a kernel with CONFIG_FANOTIFY_ACCESS_PERMISSIONS and BPF LSM, and XDP or TC (clsact) support.",
	  check_backend, NULL, NULL, NULL },
	{ NULL },
};

const struct posture_rec *posture_find(const char *id)
{
	for (const struct posture_rec *r = posture_catalogue; id && r->id; r++)
		if (!strcmp(r->id, id))
			return r;
	return NULL;
}

/* The JSON of one assessment; takes f->evidence. */
static json_t *rec_json(const struct posture_rec *r, struct posture_finding *f)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:b, s:s?}}",
		      "id", r->id, "title", r->title, "description", r->description,
		      "severity", severity_name(r->severity), "control", r->control,
		      "status", score_status_name(f->status),
		      "evidence", f->evidence ? f->evidence : json_null(),
		      "remediation", r->remediation,
		      "fix", "automated", r->fix != NULL, "description", r->fix_desc);
	if (o && f->status != SCORE_HEALTHY)
		json_object_set_new(o, "reason", json_string(f->reason));
	return o;
}

json_t *posture_assess_one(const struct posture_env *e, const struct posture_rec *r)
{
	struct posture_finding f = { .status = SCORE_UNKNOWN };

	r->check(e, r, &f);
	if (f.status == SCORE_UNKNOWN && !f.reason[0])
		snprintf(f.reason, sizeof(f.reason), "the check gave no result");
	return rec_json(r, &f);
}

int posture_score(json_t *posture)
{
	size_t nc = score_control_count(), i;
	struct score_control *c = calloc(nc, sizeof(*c));
	struct score_result res;
	json_t *recs = json_object_get(posture, "recommendations"), *v, *ca;

	if (!c)
		return -ENOMEM;
	if (!json_is_array(recs)) {
		free(c);
		return -EINVAL;
	}
	for (i = 0; i < nc; i++)
		c[i].def = &score_controls[i];
	json_array_foreach(recs, i, v) {
		const struct score_control_def *d = score_control_find(json_string_value(json_object_get(v, "control")));
		int st = score_status_parse(json_string_value(json_object_get(v, "status")));
		if (d && st >= 0)
			c[d - score_controls].n[st]++;
	}
	score_total(c, nc, &res);
	/* potential increase of each recommendation: (max / resources) x unhealthy */
	json_array_foreach(recs, i, v) {
		const struct score_control_def *d = score_control_find(json_string_value(json_object_get(v, "control")));
		if (!d)
			continue;
		const struct score_control *sc = &c[d - score_controls];
		bool bad = score_status_parse(json_string_value(json_object_get(v, "status"))) == SCORE_UNHEALTHY;
		json_object_set_new(v, "potential_increase", json_real(score_round2(score_potential_increase(
			d->max, sc->n[SCORE_HEALTHY] + sc->n[SCORE_UNHEALTHY], bad))));
	}
	ca = json_array();
	for (i = 0; i < nc; i++)
		json_array_append_new(ca, json_pack("{s:s, s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:b}",
			"id", c[i].def->id, "title", c[i].def->title, "max", c[i].def->max,
			"current", score_round2(c[i].current),
			"healthy", (json_int_t)c[i].n[SCORE_HEALTHY], "unhealthy", (json_int_t)c[i].n[SCORE_UNHEALTHY],
			"not_applicable", (json_int_t)c[i].n[SCORE_NOT_APPLICABLE],
			"unknown", (json_int_t)c[i].n[SCORE_UNKNOWN], "evaluable", c[i].evaluable));
	json_object_set_new(posture, "controls", ca);
	json_object_set_new(posture, "score", json_pack("{s:f, s:f, s:f, s:I}",
		"current", score_round2(res.current), "max", score_round2(res.max),
		"percent", score_round2(res.percent), "evaluable_controls", (json_int_t)res.evaluable));
	free(c);
	return 0;
}

json_t *posture_assess(const struct posture_env *e)
{
	json_t *o = json_object(), *recs = json_array();
	char ts[48];

	if (!o || !recs) {
		json_decref(o);
		json_decref(recs);
		return NULL;
	}
	json_object_set_new(o, "time", json_string(util_rfc3339(util_now_ns(), ts, sizeof(ts))));
	for (const struct posture_rec *r = posture_catalogue; r->id; r++) {
		json_t *c = r->slow ? json_object_get(e->cached, r->id) : NULL, *one;

		if (c) {
			one = json_deep_copy(c);
		} else if (r->slow && e->skip_slow) {
			struct posture_finding f = { .status = SCORE_UNKNOWN };
			snprintf(f.reason, sizeof(f.reason), "not assessed yet: this scan runs in the background "
				 "and its first run has not finished");
			one = rec_json(r, &f);
		} else {
			one = posture_assess_one(e, r);
		}
		if (one)
			json_array_append_new(recs, one);
	}
	json_object_set_new(o, "recommendations", recs);
	posture_score(o);
	return o;
}

int posture_fix(const struct posture_env *e, const char *id, bool dry_run, json_t **actions,
		char *err, size_t errlen)
{
	const struct posture_rec *r = posture_find(id);

	*actions = NULL;
	if (!r) {
		snprintf(err, errlen, "no recommendation \"%s\" (see `vigil posture`)", id ? id : "");
		return -ENOENT;
	}
	if (!r->fix) {
		snprintf(err, errlen, "%s has no automated fix: %s", id, r->remediation);
		return -EOPNOTSUPP;
	}
	*actions = json_array();
	if (!*actions)
		return -ENOMEM;
	err[0] = 0;
	return r->fix(e, r, dry_run, *actions, err, errlen);
}
