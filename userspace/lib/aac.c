/*
 * The AAC engine: modes, learning, audit and enforcement, alerts, control
 * commands.  See aac.h for the pieces and docs in README ("Adaptive
 * application control") for the operator's view.
 *
 * Modes (policy "aac.mode", overridden at run time by `vigil aac mode`, which is
 * kept in <state>/aac/mode.json until `vigil aac mode reset`):
 *   off      nothing.
 *   learn    every in-scope exec (exec sensor) goes to the learning store.
 *   audit    every in-scope exec is decided against the rules; violations alert
 *            ("audited"); nothing is blocked.
 *   enforce  the fanotify backend decides in-scope execs before they happen (EPERM
 *            on deny, alert "blocked"); fileless execs are stopped by the BPF guard.
 *            Without a backend it degrades to audit and status says so.
 * Switching installs the new enforcement before removing the old one, so no
 * in-scope exec goes unchecked during the switch.
 *
 * When vigild dies, the kernel answers every pending permission event with
 * allow and no new one is raised (fail-open): execs are not blocked while the
 * daemon is down; a restart restores the same verdicts (rules, mode override
 * and learning store are on disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "aac.h"
#include "selfprot.h"
#include "agent.h"
#include "alert.h"
#include "engine.h"
#include "hostfs.h"
#include "jsonx.h"
#include "util.h"

#define CCACHE_SLOTS   1024
#define AGG_MAX        1024
#define SAVE_EVERY_NS  (5ull * 1000000000ull)
#define SEEN_MAX       4096

static const struct vigil_mitre mitre_exec = {
	.tactic = "TA0002", .tactic_name = "Execution",
	.technique = "T1204.002", .technique_name = "User Execution: Malicious File",
};
static const struct vigil_mitre mitre_fileless = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1620", .technique_name = "Reflective Code Loading",
};
static const struct vigil_mitre mitre_modified = {
	.tactic = "TA0003", .tactic_name = "Persistence",
	.technique = "T1554", .technique_name = "Compromise Host Software Binary",
};
static const struct vigil_mitre mitre_loader = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1218", .technique_name = "System Binary Proxy Execution",
};

/* Content hashes of files the main thread decides (exec records, scripts). */
struct centry {
	bool valid, md5_ok;
	dev_t dev;
	uint64_t ino, size;
	int64_t mtime_ns, ctime_ns;
	char sha[65];
	uint8_t md5[16];
};

/* An alert being aggregated: the first was written, the repeats are counted. */
struct agg {
	char *key;
	json_t *alert;              /* the first alert, re-sent with the count */
	uint64_t window_start_ns, first_ns, last_ns, repeats;
};

struct aac {
	struct agent *a;
	const struct aac_config *cfg;     /* the policy's section (owned by the agent's policy) */
	char policy_path[PATH_MAX];
	int override;                     /* mode set at run time, -1 = none */
	enum aac_mode mode;               /* effective */
	uint64_t enforce_since_ns;        /* boot ns when fanotify enforcement was in place */
	struct aac_dpkg *dpkg;
	char dpkg_dir[PATH_MAX];
	int dpkg_errno;
	struct aac_learn *learn;
	char state_dir[PATH_MAX];
	uint64_t last_save_ns;
	struct aac_fan *fan;
	int fan_errno;
	struct aac_bpf *bpf;
	int lsm_errno;
	enum aac_backend backend;
	enum aac_fileless_action fileless;
	dev_t scope[AAC_MAX_ENFORCE];
	size_t nscope;
	struct centry cc[CCACHE_SLOTS];
	struct agg agg[AGG_MAX];
	size_t nagg;
	char *seen[SEEN_MAX];             /* recommendations already reported (path + sha) */
	size_t nseen;
	uint64_t violations, blocked, aggregated, recommendations, errors, agg_dropped, learn_errors;
};

static const struct aac_config *cfg_of(const struct vigil_policy *pol)
{
	return pol->feature[POLICY_AAC];
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- scope and hashing ---- */

static size_t scope_devs(const struct aac_config *c, dev_t *out)
{
	size_t n = 0;
	struct stat st;

	for (size_t i = 0; i < c->enforce_paths.n && n < AAC_MAX_ENFORCE; i++)
		if (hostfs_stat(c->enforce_paths.v[i], &st) == 0)
			out[n++] = st.st_dev;
	return n;
}

static bool in_scope(const dev_t *devs, size_t n, dev_t d)
{
	for (size_t i = 0; i < n; i++)
		if (devs[i] == d)
			return true;
	return false;
}

/* sha256 (and md5 when want_md5) of the open file fd, cached by identity. */
static int content_fd(struct aac *s, int fd, char sha[65], uint8_t md5[16], bool want_md5, struct stat *st)
{
	struct centry *e;
	int r;

	if (fstat(fd, st))
		return -errno;
	e = &s->cc[((uint64_t)st->st_dev * 31 + st->st_ino) % CCACHE_SLOTS];
	if (e->valid && e->dev == st->st_dev && e->ino == st->st_ino && e->size == (uint64_t)st->st_size &&
	    e->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
	    e->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec &&
	    (!want_md5 || e->md5_ok)) {
		memcpy(sha, e->sha, 65);
		memcpy(md5, e->md5, 16);
		return 0;
	}
	r = aac_hash_fd(fd, sha, md5, want_md5, 0);
	if (r)
		return r;
	e->valid = true;
	e->md5_ok = want_md5;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	memcpy(e->sha, sha, 65);
	memcpy(e->md5, md5, 16);
	return 0;
}

/* Opens proc_link (a /proc/<pid>/exe link, opened as it is) or else host_path (below the
 * host root), either may be NULL, that exists and is the file (want_dev, want_ino) when
 * want_ino is not 0, and hashes it.  The identity check matters for /proc/<pid>/exe: by the
 * time a record is read the process may have exec'd again, and its link names the new image. */
static int content_path_id(struct aac *s, const char *proc_link, const char *host_path, const char *owner_path,
			   char sha[65], uint8_t md5[16], bool *md5_ok, struct stat *st, dev_t want_dev,
			   uint64_t want_ino)
{
	uint8_t dbmd5[16];
	bool want = s->dpkg && owner_path && aac_dpkg_owner(s->dpkg, owner_path, dbmd5);
	int r = -ENOENT;

	*md5_ok = false;
	for (int i = 0; i < 2; i++) {
		const char *path = i ? host_path : proc_link;
		int fd;
		struct stat id;

		if (!path)
			continue;
		fd = i ? hostfs_open(path, O_RDONLY | O_NOCTTY, 0) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			r = i ? fd : -errno;
			continue;
		}
		if (want_ino && (fstat(fd, &id) || id.st_ino != want_ino || id.st_dev != want_dev)) {
			close(fd);
			r = -ESTALE;
			continue;
		}
		r = content_fd(s, fd, sha, md5, want, st);
		close(fd);
		if (!r) {
			*md5_ok = want;
			return 0;
		}
	}
	return r;
}

/* content_path_id() of a host path. */
static int content_path(struct aac *s, const char *host_path, char sha[65], uint8_t md5[16], bool *md5_ok,
			struct stat *st)
{
	return content_path_id(s, NULL, host_path, host_path, sha, md5, md5_ok, st, 0, 0);
}

/* ---- alerts ---- */

static const char *reason_text(enum aac_reason r)
{
	switch (r) {
	case AAC_REASON_RULE: return "allowed by rule";
	case AAC_REASON_MODIFIED: return "modified: a rule allows this path with other content";
	case AAC_REASON_NO_HASH: return "not in allowlist (content could not be hashed)";
	default: return "not in allowlist";
	}
}

static bool agg_take(struct aac *s, const char *key, json_t *al)
{
	uint64_t now = mono_ns(), win = (uint64_t)s->cfg->aggregate_s * 1000000000ull;

	if (!win)
		return false;
	for (size_t i = 0; i < s->nagg; i++) {
		struct agg *g = &s->agg[i];
		if (strcmp(g->key, key))
			continue;
		if (now - g->window_start_ns < win) {
			g->repeats++;
			g->last_ns = util_now_ns();
			return true;
		}
		return false;
	}
	if (s->nagg >= AGG_MAX) {
		s->agg_dropped++;
		return false;
	}
	s->agg[s->nagg] = (struct agg){ .key = strdup(key), .alert = json_deep_copy(al), .window_start_ns = now,
					 .first_ns = util_now_ns() };
	s->agg[s->nagg].last_ns = s->agg[s->nagg].first_ns;
	if (!s->agg[s->nagg].key || !s->agg[s->nagg].alert) {
		free(s->agg[s->nagg].key);
		json_decref(s->agg[s->nagg].alert);
		return false;
	}
	s->nagg++;
	return false;
}

/* Sends the counts of windows that ended; all of them when flush. */
static void agg_tick(struct aac *s, bool flush)
{
	uint64_t now = mono_ns(), win = (uint64_t)s->cfg->aggregate_s * 1000000000ull;
	char ts[48];

	for (size_t i = 0; i < s->nagg;) {
		struct agg *g = &s->agg[i];
		if (!flush && now - g->window_start_ns < win) {
			i++;
			continue;
		}
		if (g->repeats) {
			json_t *al = g->alert;
			json_object_set_new(al, "time", json_null());
			json_object_set_new(al, "count", json_integer((json_int_t)g->repeats));
			json_object_set_new(al, "aggregated", json_true());
			json_object_set_new(al, "first_seen", json_string(util_rfc3339(g->first_ns, ts, sizeof(ts))));
			json_object_set_new(al, "last_seen", json_string(util_rfc3339(g->last_ns, ts, sizeof(ts))));
			agent_emit_alert(s->a, al);
			s->aggregated++;
		}
		free(g->key);
		json_decref(g->alert);
		s->agg[i] = s->agg[--s->nagg];
	}
}

struct violation {
	const char *path;
	const char *sha256;
	const char *package;
	bool package_verified;
	bool fileless, via_loader, blocked, error, script;
	int err;
	enum aac_reason reason;
	const char *interpreter;   /* for a script: the interpreter running it */
};

static void emit_violation(struct aac *s, const struct violation *v, struct proc *p, const struct vigil_hdr *h)
{
	const struct vigil_mitre *m = v->fileless ? &mitre_fileless : v->via_loader ? &mitre_loader :
				      v->reason == AAC_REASON_MODIFIED ? &mitre_modified : &mitre_exec;
	struct aac_subject sub = { .path = v->path, .sha256 = v->sha256, .fileless = v->fileless };
	struct aac_verdict vd = { .package = v->package, .package_verified = v->package_verified };
	json_t *rr = v->error ? NULL : aac_remediation_rule(&sub, &vd), *al, *f, *ac;
	char *rs = rr ? json_dumps(rr, JSON_COMPACT) : NULL, rem[8192], key[8192];
	const char *action = v->blocked ? "blocked" : "audited";

	if (v->error)
		snprintf(rem, sizeof(rem), "vigild could not decide (%s) and applied on_error=%s; check the daemon "
			 "log and the file, and raise aac.decision_timeout_ms if large files time out.",
			 strerror(-v->err), s->cfg->on_error_allow ? "allow" : "deny");
	else if (rs)
		snprintf(rem, sizeof(rem), "If this executable is expected, add this rule to aac.rules in the policy: %s "
			 "(or review `vigil aac recommend` and run `vigil aac apply`).%s", rs,
			 v->reason == AAC_REASON_MODIFIED ? " The file differs from the allowed content at this path: "
			 "check it before trusting the new content." : "");
	else
		snprintf(rem, sizeof(rem), "Find out where this code came from; it cannot be allowed by rule "
			 "(its content is unknown).");
	al = alert_new(v->error ? "aac_decision_error" : "aac_not_allowed",
		       v->error ? "Application control could not decide" :
		       v->fileless ? "Fileless executable not in allowlist" : "Executable not in allowlist",
		       v->error ? VIGIL_SEV_MEDIUM : VIGIL_SEV_HIGH, m, rem, action);
	free(rs);
	if (!al) {
		json_decref(rr);
		return;
	}
	agent_add_actor(s->a, al, p, h);
	f = json_object();
	jsonx_set_str(f, "path", v->path);
	json_object_set_new(f, "sha256", v->sha256 && v->sha256[0] ? json_string(v->sha256) : json_null());
	json_object_set_new(f, "package", v->package ? json_string(v->package) : json_null());
	json_object_set_new(f, "package_verified", json_boolean(v->package_verified));
	json_object_set_new(f, "fileless", json_boolean(v->fileless));
	if (v->interpreter)
		jsonx_set_str(f, "interpreter", v->interpreter);
	json_object_set_new(al, "file", f);
	ac = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b}",
		       "mode", aac_mode_name(s->mode), "backend", aac_backend_name(s->backend),
		       "decided_by", v->error ? (s->cfg->on_error_allow ? "on_error=allow" : "on_error=deny") :
		       "default deny (no rule matched)",
		       "reason", v->error ? "internal error" : reason_text(v->reason),
		       "fileless", v->fileless, "via_loader", v->via_loader, "script", v->script);
	json_object_set_new(al, "aac", ac);
	json_object_set_new(al, "remediation_rule", rr ? rr : json_null());
	json_object_set_new(al, "count", json_integer(1));
	snprintf(key, sizeof(key), "%s|%s|%s|%s|%d", action, v->path ? v->path : "", v->sha256 ? v->sha256 : "",
		 v->error ? "e" : "v", (int)v->reason);
	if (v->error)
		s->errors++;
	else if (v->blocked)
		s->blocked++;
	else
		s->violations++;
	if (!agg_take(s, key, al))
		agent_emit_alert(s->a, al);
	json_decref(al);
}

/* A binary allowed by package trust that the baseline does not know: report, once. */
static void maybe_recommend(struct aac *s, const char *path, const char *sha, const char *pkg, int rule,
			    struct proc *p, const struct vigil_hdr *h)
{
	char key[PATH_MAX + 80];
	json_t *al, *f;

	if (!path || !sha || !sha[0] || aac_learn_has(s->learn, path, sha))
		return;
	snprintf(key, sizeof(key), "%s|%s", path, sha);
	for (size_t i = 0; i < s->nseen; i++)
		if (!strcmp(s->seen[i], key))
			return;
	if (s->nseen < SEEN_MAX)
		s->seen[s->nseen++] = strdup(key);
	al = alert_new("aac_recommendation", "New binary from a trusted package", VIGIL_SEV_INFORMATIONAL,
		       &mitre_exec,
		       "A package the policy trusts installed or changed this binary (e.g. an upgrade) and the "
		       "learned baseline does not know it: review it, then re-learn or refresh the allowlist "
		       "(`vigil aac recommend`).", "audited");
	if (!al)
		return;
	agent_add_actor(s->a, al, p, h);
	f = json_object();
	jsonx_set_str(f, "path", path);
	json_object_set_new(f, "sha256", json_string(sha));
	json_object_set_new(f, "package", json_string(pkg ? pkg : ""));
	json_object_set_new(f, "package_verified", json_true());
	json_object_set_new(al, "file", f);
	json_object_set_new(al, "aac", json_pack("{s:s, s:s, s:i, s:s}", "mode", aac_mode_name(s->mode),
						 "backend", aac_backend_name(s->backend), "rule", rule,
						 "reason", "allowed by package trust; not in the learned baseline"));
	agent_emit_alert(s->a, al);
	s->recommendations++;
	json_decref(al);
}

/* ---- modes ---- */

static enum aac_fileless_action fileless_action(const struct aac_config *c)
{
	for (size_t i = 0; i < c->nrules; i++)
		if (c->rules[i].kind == AAC_RULE_HASH)
			return AAC_FILELESS_STOP;       /* a hash rule may allow it: hold for a decision */
	return AAC_FILELESS_KILL;
}

/* Brings enforcement in line with (cfg, mode); new protection before old is removed. */
static int set_enforcement(struct aac *s, const struct aac_config *cfg, enum aac_mode mode, char *err, size_t errlen)
{
	bool enf = mode == AAC_MODE_ENFORCE;
	enum aac_fileless_action fa = enf ? fileless_action(cfg) : AAC_FILELESS_OFF;
	int r = 0;

	if (s->fan && (r = aac_fan_configure(s->fan, cfg, s->dpkg, enf, err, errlen)))
		return r;
	if (s->bpf && fa != s->fileless && aac_bpf_set_fileless(s->bpf, fa, (uint32_t)getpid()) == 0)
		s->fileless = fa;
	return 0;
}

static void load_dpkg(struct aac *s, const struct aac_config *c)
{
	struct aac_dpkg *old = s->dpkg;

	if (s->dpkg && !strcmp(s->dpkg_dir, c->dpkg_dir))
		return;
	s->dpkg = aac_dpkg_load(c->dpkg_dir);
	s->dpkg_errno = s->dpkg ? 0 : errno;
	snprintf(s->dpkg_dir, sizeof(s->dpkg_dir), "%s", c->dpkg_dir);
	/* the fanotify threads may hold old until they see the new one */
	if (s->fan)
		aac_fan_configure(s->fan, s->cfg, s->dpkg, s->mode == AAC_MODE_ENFORCE, (char[8]){ 0 }, 8);
	aac_dpkg_free(old);
}

static void path_in_state(struct aac *s, char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", s->state_dir, name);
}

static int save_override(struct aac *s)
{
	char p[PATH_MAX + 32], buf[128];
	int n;

	path_in_state(s, p, sizeof(p), "mode.json");
	if (s->override < 0)
		return unlink(p) && errno != ENOENT ? -errno : 0;
	n = snprintf(buf, sizeof(buf), "{\"mode\": \"%s\"}\n", aac_mode_name(s->override));
	return util_write_file_atomic(p, buf, n, 0600);
}

static void load_override(struct aac *s)
{
	char p[PATH_MAX + 32];
	json_t *j;

	path_in_state(s, p, sizeof(p), "mode.json");
	s->override = -1;
	if ((j = json_load_file(p, 0, NULL))) {
		s->override = aac_mode_parse(json_string_value(json_object_get(j, "mode")));
		json_decref(j);
	}
	if (s->override < 0 && !access(p, F_OK))
		selfprot_state_corrupt(p, "not a {\"mode\": MODE} document", "the policy's mode applies");
}

/* ---- self protection ---- */

/* Refuses (cfg, enforce) when it would deny vigild, the vigil CLI asking, or the shell
 * running it.  0, or -EPERM with an explanation in err. */
static int check_self(struct aac *s, const struct aac_config *cfg, const struct ctl_peer *peer, char *err, size_t errlen)
{
	dev_t devs[AAC_MAX_ENFORCE];
	size_t nd = scope_devs(cfg, devs);
	pid_t pids[3] = { getpid(), peer ? peer->pid : 0, 0 };
	const char *what[3] = { "vigild itself", "the vigil command", "the shell running vigil" };
	char link[PATH_MAX], buf[512];

	if (peer && peer->pid > 0) {
		FILE *f;
		if (!hostfs_proc(link, sizeof(link), "/%d/stat", (int)peer->pid) && (f = fopen(link, "re"))) {
			if (fgets(buf, sizeof(buf), f)) {
				char *rp = strrchr(buf, ')');
				int pp = 0;
				if (rp && sscanf(rp + 2, "%*c %d", &pp) == 1)
					pids[2] = pp;
			}
			fclose(f);
		}
	}
	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX], sha[65];
		uint8_t md5[16];
		bool md5_ok;
		struct stat st;
		struct aac_subject sub = { 0 };
		struct aac_verdict v;
		ssize_t n;

		if (pids[i] <= 0)
			continue;
		if (hostfs_proc(link, sizeof(link), "/%d/exe", (int)pids[i]))
			continue;
		n = readlink(link, path, sizeof(path) - 1);
		if (n <= 0)
			continue;
		path[n] = 0;
		if (stat(link, &st) || !in_scope(devs, nd, st.st_dev))
			continue;
		if (content_path_id(s, link, NULL, path, sha, md5, &md5_ok, &st, 0, 0))
			continue;
		sub.path = path;
		sub.sha256 = sha;
		sub.md5 = md5_ok ? md5 : NULL;
		aac_decide(cfg, s->dpkg, &sub, &v);
		if (!v.allow) {
			json_t *rr = aac_remediation_rule(&sub, &v);
			char *rs = rr ? json_dumps(rr, JSON_COMPACT) : NULL;
			snprintf(err, errlen, "refused: in enforce mode this policy would deny %s (%s, sha256 %s); "
				 "add a rule for it first, e.g. %s", what[i], path, sha, rs ? rs : "(none)");
			free(rs);
			json_decref(rr);
			return -EPERM;
		}
	}
	return 0;
}

#define ENFORCE_MARGIN_NS (200ull * 1000000ull)

static int switch_mode(struct aac *s, int override, const struct ctl_peer *peer, char *err, size_t errlen)
{
	enum aac_mode nm = override >= 0 ? (enum aac_mode)override : s->cfg->mode;
	int r;

	if (nm == AAC_MODE_ENFORCE && (r = check_self(s, s->cfg, peer, err, errlen)))
		return r;
	if (nm == AAC_MODE_ENFORCE) {
		/* marks first, then the mode: nothing runs unchecked in between */
		if ((r = set_enforcement(s, s->cfg, nm, err, errlen)))
			return r;
		/* the permission check happens when the kernel opens the file, before the exec
		 * tracepoint's timestamp: an exec that opened its file before the marks existed can
		 * still be stamped after this point, so the sensor keeps auditing for a margin */
		if (s->mode != AAC_MODE_ENFORCE)
			s->enforce_since_ns = util_boot_ns() + ENFORCE_MARGIN_NS;
		s->mode = nm;
	} else {
		/* the exec sensor audits from now on, then the marks go */
		s->mode = nm;
		set_enforcement(s, s->cfg, nm, err, errlen);
	}
	s->override = override;
	return save_override(s);
}

/* ---- engine callbacks ---- */

static void *aac_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen);
static int aac_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen);

static void handle_report(struct aac *s, const struct aac_fan_report *r)
{
	struct proc *p = proctab_lookup(agent_proctab(s->a), (uint32_t)r->pid);
	struct violation v = {
		.path = r->path, .sha256 = r->sha256, .package = r->package[0] ? r->package : NULL,
		.package_verified = r->package_verified, .fileless = r->fileless, .via_loader = r->via_loader,
		.blocked = !r->allow, .error = r->error, .err = r->err, .reason = r->reason,
	};

	if (r->allow && !r->error) {
		maybe_recommend(s, r->path, r->sha256, r->package, r->rule, p, NULL);
		return;
	}
	emit_violation(s, &v, p, NULL);
}

static void aac_on_poll(void *st)
{
	struct aac *s = st;
	struct aac_fan_report *r = malloc(sizeof(*r));

	if (!r)
		return;
	while (s->fan && aac_fan_pop(s->fan, r) == 0)
		handle_report(s, r);
	free(r);
}

static int aac_poll_fd(void *st)
{
	struct aac *s = st;

	return s->fan ? aac_fan_report_fd(s->fan) : -1;
}

/* Decides one file seen by the exec sensor (binary, interpreter or script). */
static void sensor_decide(struct aac *s, struct proc *p, const struct vigil_hdr *h, const char *path,
			  const char *sha, const uint8_t *md5, bool fileless, bool script, const char *interp)
{
	struct aac_subject sub = { .path = path, .sha256 = sha, .md5 = md5, .fileless = fileless,
				   .container_id = p->container.id };
	struct aac_verdict v;
	struct stat st;

	if (!fileless && hostfs_stat(path, &st) == 0) {
		sub.dev = st.st_dev;
		sub.ino = st.st_ino;
		sub.nlink = st.st_nlink;
	}

	aac_decide(s->cfg, s->dpkg, &sub, &v);
	if (v.allow) {
		if (v.rule >= 0 && s->cfg->rules[v.rule].kind == AAC_RULE_PACKAGE)
			maybe_recommend(s, path, sha, v.package, v.rule, p, h);
		return;
	}
	struct violation vi = { .path = path, .sha256 = sha, .package = v.package,
				.package_verified = v.package_verified, .fileless = fileless, .script = script,
				.reason = v.reason, .interpreter = interp };
	emit_violation(s, &vi, p, h);
}

static void aac_on_record(void *st, const struct vigil_hdr *h, const void *rec, size_t len, struct proc *p)
{
	struct aac *s = st;
	const struct vigil_exec *ev = rec;
	bool fileless, enforce_path;
	char exe_link[PATH_MAX];
	char sha[65] = "";
	uint8_t md5[16];
	bool md5_ok = false;
	struct stat stt;

	if (h->type != VIGIL_EV_EXEC || s->mode == AAC_MODE_OFF || !p || !p->exe || len < sizeof(*ev))
		return;
	fileless = ev->hdr.flags & (VIGIL_F_EXE_MEMFD | VIGIL_F_EXE_TMPFILE | VIGIL_F_EXE_DELETED);
	if (!fileless && !in_scope(s->scope, s->nscope, util_kdev_to_dev(ev->exe_dev)) &&
	    !(p->script && hostfs_stat(p->script, &stt) == 0 && in_scope(s->scope, s->nscope, stt.st_dev)))
		return;
	/* content: /proc/<pid>/exe reaches memfds and unlinked files; md5 only for dpkg-owned paths */
	if (hostfs_proc(exe_link, sizeof(exe_link), "/%u/exe", ev->hdr.tgid))
		exe_link[0] = 0;
	if (content_path_id(s, exe_link[0] ? exe_link : NULL, fileless ? NULL : p->exe, fileless ? NULL : p->exe, sha, md5, &md5_ok, &stt,
			    util_kdev_to_dev(ev->exe_dev), ev->exe_ino)) {
		/* the image is gone or replaced: the agent hashed it with the same identity check */
		sha[0] = 0;
		if (p->sha256[0] && p->exe_ino == ev->exe_ino)
			memcpy(sha, p->sha256, sizeof(sha));
	}

	if (s->mode == AAC_MODE_LEARN) {
		struct proc *pp = p->ppid ? proctab_lookup(agent_proctab(s->a), p->ppid) : NULL;
		uint8_t dbmd5[16];
		const char *pkg = fileless ? NULL : aac_dpkg_owner(s->dpkg, p->exe, dbmd5);
		struct aac_observation o = {
			.path = p->exe, .sha256 = sha, .size = ev->exe_size, .package = pkg,
			.package_verified = pkg && md5_ok && !memcmp(md5, dbmd5, 16), .fileless = fileless,
			.parent = pp ? pp->exe : NULL, .user = proctab_user_name(p->uid), .container = p->container.id,
			.wall_ns = util_boot_to_wall_ns(h->ts_ns),
		};
		if (aac_learn_add(s->learn, &o) == -ENOMEM)
			s->learn_errors++;
		if (p->script) {
			char ssha[65] = "";
			bool sm;
			if (!content_path(s, p->script, ssha, md5, &sm, &stt)) {
				pkg = aac_dpkg_owner(s->dpkg, p->script, dbmd5);
				o.path = p->script;
				o.sha256 = ssha;
				o.size = stt.st_size;
				o.package = pkg;
				o.package_verified = pkg && sm && !memcmp(md5, dbmd5, 16);
				o.fileless = false;
				aac_learn_add(s->learn, &o);
			}
		}
		return;
	}
	/* audit; in enforce the fanotify backend decided files on marked filesystems already,
	 * fileless code is held (or killed) by the BPF guard and decided here */
	/* an exec from before the marks were in place (its record read late) is audited */
	enforce_path = s->mode == AAC_MODE_ENFORCE && s->backend == AAC_BACKEND_FANOTIFY &&
		       h->ts_ns >= s->enforce_since_ns;
	if (fileless && s->mode == AAC_MODE_ENFORCE && s->fileless != AAC_FILELESS_OFF) {
		struct aac_subject sub = { .path = p->exe, .sha256 = sha, .fileless = true, .container_id = p->container.id };
		struct aac_verdict v;

		aac_decide(s->cfg, s->dpkg, &sub, &v);
		if (s->fileless == AAC_FILELESS_STOP)
			kill((pid_t)ev->hdr.tgid, v.allow ? SIGCONT : SIGKILL);
		if (!v.allow) {
			struct violation vi = { .path = p->exe, .sha256 = sha, .fileless = true, .blocked = true,
						.reason = v.reason };
			emit_violation(s, &vi, p, h);
		}
		return;
	}
	if (enforce_path)
		return;
	sensor_decide(s, p, h, p->exe, sha, md5_ok ? md5 : NULL, fileless, false, NULL);
	if (p->script) {
		char ssha[65] = "";
		bool sm;
		if (!content_path(s, p->script, ssha, md5, &sm, &stt) && in_scope(s->scope, s->nscope, stt.st_dev))
			sensor_decide(s, p, h, p->script, ssha, sm ? md5 : NULL, false, true, p->exe);
	}
}

static void save_learned(struct aac *s)
{
	char p[PATH_MAX + 32];

	path_in_state(s, p, sizeof(p), "learned.json");
	if (aac_learn_save(s->learn, p))
		s->learn_errors++;
	s->last_save_ns = mono_ns();
}

static void aac_tick(void *st, uint64_t boot_ns)
{
	struct aac *s = st;

	agg_tick(s, false);
	if (aac_learn_dirty(s->learn) && mono_ns() - s->last_save_ns > SAVE_EVERY_NS)
		save_learned(s);
}

static json_t *aac_status(void *st)
{
	struct aac *s = st;
	struct aac_fan_stats fs = { 0 };
	size_t weak = 0;
	json_t *o, *ep = json_array();

	for (size_t i = 0; i < s->cfg->nrules; i++)
		weak += s->cfg->rules[i].kind == AAC_RULE_GLOB;
	for (size_t i = 0; i < s->cfg->enforce_paths.n; i++)
		json_array_append_new(ep, json_string(s->cfg->enforce_paths.v[i]));
	if (s->fan)
		aac_fan_stats(s->fan, &fs);
	o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I}",
		      "mode", aac_mode_name(s->mode), "policy_mode", aac_mode_name(s->cfg->mode),
		      "mode_override", s->override >= 0 ? json_string(aac_mode_name(s->override)) : json_null(),
		      "backend", aac_backend_name(s->backend),
		      "enforcement", s->mode != AAC_MODE_ENFORCE ? "inactive" :
				     s->backend == AAC_BACKEND_FANOTIFY ? "active" : "unavailable",
		      "on_error", s->cfg->on_error_allow ? "allow" : "deny",
		      "enforce_paths", ep,
		      "rules", (json_int_t)s->cfg->nrules, "weak_rules", (json_int_t)weak,
		      "learned", (json_int_t)aac_learn_size(s->learn), "learn_dropped", (json_int_t)aac_learn_dropped(s->learn));
	json_object_set_new(o, "bpf_lsm", json_pack("{s:b, s:s}", "usable", s->lsm_errno == 0,
		"detail", s->lsm_errno ? strerror(s->lsm_errno) :
		"LSM programs attach; enforcement still uses fanotify (verdict map not populated)"));
	json_object_set_new(o, "fanotify", s->fan ? json_pack(
		"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
		"usable", 1, "events", (json_int_t)fs.events, "exec_events", (json_int_t)fs.exec_events,
		"open_events", (json_int_t)fs.open_events, "allowed", (json_int_t)fs.allowed,
		"denied", (json_int_t)fs.denied, "errors", (json_int_t)fs.errors, "timeouts", (json_int_t)fs.timeouts,
		"self", (json_int_t)fs.self, "cache_hits", (json_int_t)fs.cache_hits,
		"cache_misses", (json_int_t)fs.cache_misses, "ignore_marks", (json_int_t)fs.ignore_marks,
		"reports_dropped", (json_int_t)fs.reports_dropped,
		"decision_p50_us", fs.lat_p50_ns / 1000.0, "decision_p99_us", fs.lat_p99_ns / 1000.0) :
		json_pack("{s:b, s:s}", "usable", 0, "error", strerror(s->fan_errno)));
	json_object_set_new(o, "fileless_guard", json_pack("{s:s, s:I}",
		"action", s->fileless == AAC_FILELESS_KILL ? "kill" : s->fileless == AAC_FILELESS_STOP ? "hold" : "off",
		"hits", (json_int_t)aac_bpf_fileless_hits(s->bpf)));
	json_object_set_new(o, "dpkg", s->dpkg ? json_pack("{s:s, s:I, s:I}", "dir", s->dpkg_dir,
		"packages", (json_int_t)aac_dpkg_packages(s->dpkg), "files", (json_int_t)aac_dpkg_files(s->dpkg)) :
		json_pack("{s:s, s:s}", "dir", s->dpkg_dir, "error", strerror(s->dpkg_errno)));
	json_object_set_new(o, "alerts", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
		"audited", (json_int_t)s->violations, "blocked", (json_int_t)s->blocked,
		"aggregated", (json_int_t)s->aggregated, "recommendations", (json_int_t)s->recommendations,
		"decision_errors", (json_int_t)s->errors, "aggregation_dropped", (json_int_t)s->agg_dropped));
	return o;
}

/* ---- control commands ---- */

static json_t *cmd_mode(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct aac *s = ctx;
	const char *m = json_string_value(json_object_get(req, "mode"));
	char err[1024] = "";
	int nm;

	if (!m)
		return ctl_error("missing \"mode\"");
	if (!strcmp(m, "reset"))
		nm = -1;
	else if ((nm = aac_mode_parse(m)) < 0)
		return ctl_error("unknown mode \"%s\" (expected off, learn, audit, enforce or reset)", m);
	if (switch_mode(s, nm, peer, err, sizeof(err)))
		return ctl_error("%s", err[0] ? err : "cannot switch mode");
	return json_pack("{s:b, s:s, s:s}", "ok", 1, "mode", aac_mode_name(s->mode),
			 "enforcement", s->mode != AAC_MODE_ENFORCE ? "inactive" :
			 s->backend == AAC_BACKEND_FANOTIFY ? "active" : "unavailable");
}

static json_t *cmd_recommend(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct aac *s = ctx;
	json_t *p = aac_recommend(s->learn, s->dpkg, s->cfg);

	if (!p)
		return ctl_error("out of memory");
	return json_pack("{s:b, s:o}", "ok", 1, "proposal", p);
}

static json_t *cmd_learned(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct aac *s = ctx;

	if (json_is_true(json_object_get(req, "clear"))) {
		aac_learn_clear(s->learn);
		save_learned(s);
		return ctl_ok();
	}
	return json_pack("{s:b, s:o, s:I}", "ok", 1, "entries", aac_learn_to_json(s->learn),
			 "dropped", (json_int_t)aac_learn_dropped(s->learn));
}

/* Merges a proposal into the policy file (the CLI then asks for "reload"). */
static json_t *cmd_apply(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct aac *s = ctx;
	const char *text = json_string_value(json_object_get(req, "proposal"));
	const char *name = json_string_value(json_object_get(req, "name"));
	bool dry = json_is_true(json_object_get(req, "dry_run"));
	char err[2048] = "", *pol_text = NULL, *merged = NULL;
	struct vigil_policy *np = NULL;
	size_t len, added = 0;
	json_t *out = NULL;
	int r;

	if (!text)
		return ctl_error("missing \"proposal\"");
	if (!(pol_text = util_read_file(s->policy_path, 16u << 20, &len)))
		return ctl_error("cannot read the policy %s: %s", s->policy_path, strerror(errno));
	if (aac_proposal_merge(pol_text, text, name ? name : "proposal", &merged, &added, err, sizeof(err))) {
		out = ctl_error("%s (nothing applied)", err);
		goto done;
	}
	if (policy_load_string(merged, s->policy_path, &np, err, sizeof(err))) {
		out = ctl_error("the merged policy is invalid: %s (nothing applied)", err);
		goto done;
	}
	if ((s->override >= 0 ? s->override : (int)cfg_of(np)->mode) == AAC_MODE_ENFORCE &&
	    check_self(s, cfg_of(np), peer, err, sizeof(err))) {
		out = ctl_error("%s (nothing applied)", err);
		goto done;
	}
	if (!dry && (r = util_write_file_atomic(s->policy_path, merged, strlen(merged), 0640))) {
		out = ctl_error("cannot write %s: %s (nothing applied)", s->policy_path, strerror(-r));
		goto done;
	}
	out = json_pack("{s:b, s:s, s:I, s:b}", "ok", 1, "policy", s->policy_path, "added", (json_int_t)added,
			"dry_run", dry);
done:
	policy_free(np);
	free(pol_text);
	free(merged);
	return out;
}

static const struct ctl_cmd aac_cmds[] = {
	{ "aac_mode", cmd_mode },
	{ "aac_recommend", cmd_recommend },
	{ "aac_learned", cmd_learned },
	{ "aac_apply", cmd_apply },
	{ NULL, NULL },
};

static void aac_destroy(void *st)
{
	struct aac *s = st;

	if (!s)
		return;
	aac_fan_free(s->fan);            /* releases every waiting process */
	aac_bpf_free(s->bpf);
	agg_tick(s, true);
	if (s->learn && aac_learn_dirty(s->learn))
		save_learned(s);
	aac_learn_free(s->learn);
	aac_dpkg_free(s->dpkg);
	for (size_t i = 0; i < s->nseen; i++)
		free(s->seen[i]);
	free(s);
}

static void *aac_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct aac *s = calloc(1, sizeof(*s));
	const struct aac_config *c = cfg_of(pol);
	char p[PATH_MAX + 32];
	int r;

	if (!s || !c) {
		snprintf(err, errlen, "aac: %s", s ? "policy has no aac section" : "out of memory");
		free(s);
		return NULL;
	}
	s->a = a;
	s->cfg = c;
	snprintf(s->policy_path, sizeof(s->policy_path), "%s", pol->source ? pol->source : "");
	snprintf(s->state_dir, sizeof(s->state_dir), "%s/aac", agent_state_dir(a));
	if ((r = util_mkdir_p(s->state_dir, 0700))) {
		snprintf(err, errlen, "aac: cannot create %s: %s", s->state_dir, strerror(-r));
		goto fail;
	}
	s->learn = aac_learn_new(c->learn_max);
	if (!s->learn) {
		snprintf(err, errlen, "aac: out of memory");
		goto fail;
	}
	path_in_state(s, p, sizeof(p), "learned.json");
	if (aac_learn_load(s->learn, p))
		selfprot_state_corrupt(p, "not a learning store", "starting with an empty learning store");
	s->dpkg = aac_dpkg_load(c->dpkg_dir);
	s->dpkg_errno = s->dpkg ? 0 : errno;
	snprintf(s->dpkg_dir, sizeof(s->dpkg_dir), "%s", c->dpkg_dir);
	load_override(s);

	/* backends: BPF LSM (probe), fanotify, audit only */
	s->bpf = aac_bpf_open(&s->lsm_errno);
	if (!s->bpf && !s->lsm_errno)
		s->lsm_errno = errno;
	if (agent_probe(a)->fanotify_perm) {
		s->fan = aac_fan_new(c->threads);
		s->fan_errno = s->fan ? 0 : errno;
	} else {
		s->fan_errno = agent_probe(a)->fanotify_errno;
	}
	s->backend = s->fan ? AAC_BACKEND_FANOTIFY : AAC_BACKEND_AUDIT_ONLY;
	s->nscope = scope_devs(c, s->scope);
	s->mode = s->override >= 0 ? (enum aac_mode)s->override : c->mode;
	if (set_enforcement(s, c, s->mode, err, errlen))
		goto fail;
	s->enforce_since_ns = util_boot_ns() + ENFORCE_MARGIN_NS;
	s->last_save_ns = mono_ns();
	return s;
fail:
	aac_destroy(s);
	return NULL;
}

static int aac_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct aac *s = st;
	const struct aac_config *c = cfg_of(pol), *old = s->cfg;
	enum aac_mode nm = s->override >= 0 ? (enum aac_mode)s->override : c->mode;
	int r;

	if (errlen && nm == AAC_MODE_ENFORCE && (r = check_self(s, c, NULL, err, errlen)))
		return r;
	if ((r = set_enforcement(s, c, nm, err, errlen))) {
		set_enforcement(s, old, s->mode, (char[8]){ 0 }, 8);
		return r;
	}
	s->cfg = c;
	if (nm == AAC_MODE_ENFORCE && s->mode != AAC_MODE_ENFORCE)
		s->enforce_since_ns = util_boot_ns() + ENFORCE_MARGIN_NS;
	s->mode = nm;
	s->nscope = scope_devs(c, s->scope);
	snprintf(s->policy_path, sizeof(s->policy_path), "%s", pol->source ? pol->source : s->policy_path);
	load_dpkg(s, c);
	return 0;
}

const struct engine aac_engine = {
	.name = "aac",
	.create = aac_create,
	.apply = aac_apply,
	.on_record = aac_on_record,
	.tick = aac_tick,
	.poll_fd = aac_poll_fd,
	.on_poll = aac_on_poll,
	.cmds = aac_cmds,
	.status = aac_status,
	.destroy = aac_destroy,
};
