/*
 * AAC policy section, rule matching and proposal merging.  See aac.h.
 *
 * Section ("aac"):
 *   mode                 "off" | "learn" | "audit" | "enforce"      (default "learn")
 *   on_error             "allow" | "deny": verdict on internal error or timeout (default "allow")
 *   decision_timeout_ms  1..60000 (default 2000)
 *   enforce_paths        mount points whose filesystems are controlled (default ["/"])
 *   rules                [rule...], first match wins, default deny
 *   learn_max            learning-store entries, 16..1048576 (default 4096)
 *   aggregate_window_s   identical violations within it are counted, 0..86400 (default 60)
 *   threads              fanotify decision threads, 1..16 (default 2)
 *   dpkg_dir             dpkg admin directory (default "/var/lib/dpkg")
 * Rule: {"kind": "package", "package": NAME} | {"kind": "hash", "sha256": HEX64}
 *     | {"kind": "path_hash", "path": ABS, "sha256": HEX64} | {"kind": "glob", "pattern": GLOB}
 *   each with optional "scope": "any" | "host" | "container" | {"container": GLOB, "cgroup": GLOB}
 *   and optional "comment".
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aac.h"
#include "hostfs.h"
#include "jsonx.h"
#include "util.h"

#define JP 1024

static const char *const mode_names[] = { "off", "learn", "audit", "enforce" };

const char *aac_mode_name(enum aac_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "unknown";
}

int aac_mode_parse(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(s, mode_names[i]))
			return (int)i;
	return -EINVAL;
}

const char *aac_backend_name(enum aac_backend b)
{
	switch (b) {
	case AAC_BACKEND_BPF_LSM: return "bpf_lsm";
	case AAC_BACKEND_FANOTIFY: return "fanotify";
	case AAC_BACKEND_AUDIT_ONLY: return "audit_only";
	default: return "none";
	}
}

static const char *const kind_names[] = { "package", "hash", "path_hash", "glob" };

void aac_rules_free(struct aac_rule *rules, size_t n)
{
	for (size_t i = 0; rules && i < n; i++) {
		free(rules[i].package);
		free(rules[i].path);
		free(rules[i].pattern);
		free(rules[i].container);
		free(rules[i].cgroup);
	}
	free(rules);
}

void aac_config_free(void *p)
{
	struct aac_config *c = p;

	if (!c)
		return;
	policy_strv_free(&c->enforce_paths);
	aac_rules_free(c->rules, c->nrules);
	free(c->dpkg_dir);
	free(c);
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE: case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static int get_sha(const struct policy_ctx *c, const char *jpath, const json_t *obj, char out[65])
{
	char jp[JP];
	json_t *v = json_object_get(obj, "sha256");
	const char *s;
	size_t n;

	policy_jpath_key(jp, sizeof(jp), jpath, "sha256");
	if (!v)
		return policy_fail(c, jpath, "missing \"sha256\"");
	if (!json_is_string(v))
		return policy_fail(c, jp, "expected string, got %s", jtype(v));
	s = json_string_value(v);
	n = json_string_length(v);
	if (n != 64)
		return policy_fail(c, jp, "sha256 must be 64 hexadecimal digits, got %zu characters", n);
	for (size_t i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return policy_fail(c, jp, "sha256 must be 64 hexadecimal digits: '%c' at offset %zu", s[i], i);
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = 0;
	return 0;
}

static int parse_scope(const struct policy_ctx *c, const char *jpath, const json_t *v, struct aac_rule *r)
{
	static const char *const keys[] = { "container", "cgroup", NULL };
	int e;

	if (!v)
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!strcmp(s, "any"))
			r->scope = AAC_SCOPE_ANY;
		else if (!strcmp(s, "host"))
			r->scope = AAC_SCOPE_HOST;
		else if (!strcmp(s, "container"))
			r->scope = AAC_SCOPE_CONTAINER;
		else
			return policy_fail(c, jpath, "unknown scope \"%s\" (expected \"any\", \"host\", \"container\" or an object)", s);
		return 0;
	}
	if (!json_is_object(v))
		return policy_fail(c, jpath, "expected string or object, got %s", jtype(v));
	if ((e = policy_check_object(c, jpath, v, keys)) < 0 ||
	    (e = policy_get_string(c, jpath, v, "container", 0, 256, &r->container)) < 0 ||
	    (e = policy_get_string(c, jpath, v, "cgroup", 0, PATH_MAX, &r->cgroup)) < 0)
		return e;
	if (!r->container && !r->cgroup)
		return policy_fail(c, jpath, "scope object needs \"container\" or \"cgroup\"");
	if (r->container)
		r->scope = AAC_SCOPE_CONTAINER;
	return 0;
}

static int parse_rule(const struct policy_ctx *c, const char *jpath, const json_t *v, struct aac_rule *r)
{
	static const char *const k_pkg[] = { "kind", "package", "scope", "comment", NULL };
	static const char *const k_hash[] = { "kind", "sha256", "scope", "comment", NULL };
	static const char *const k_ph[] = { "kind", "path", "sha256", "scope", "comment", NULL };
	static const char *const k_glob[] = { "kind", "pattern", "scope", "comment", NULL };
	static const char *const *const keys[] = { k_pkg, k_hash, k_ph, k_glob };
	char jp[JP];
	json_t *k;
	int kind = -1, e;

	if (!json_is_object(v))
		return policy_fail(c, jpath, "expected rule object, got %s", jtype(v));
	k = json_object_get(v, "kind");
	policy_jpath_key(jp, sizeof(jp), jpath, "kind");
	if (!k)
		return policy_fail(c, jpath, "missing \"kind\" (package, hash, path_hash or glob)");
	if (!json_is_string(k))
		return policy_fail(c, jp, "expected string, got %s", jtype(k));
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (!strcmp(json_string_value(k), kind_names[i]))
			kind = (int)i;
	if (kind < 0)
		return policy_fail(c, jp, "unknown rule kind \"%s\" (expected package, hash, path_hash or glob)",
				   json_string_value(k));
	r->kind = kind;
	if ((e = policy_check_object(c, jpath, v, keys[kind])) < 0)
		return e;
	if (json_object_get(v, "comment") && !json_is_string(json_object_get(v, "comment"))) {
		policy_jpath_key(jp, sizeof(jp), jpath, "comment");
		return policy_fail(c, jp, "expected string, got %s", jtype(json_object_get(v, "comment")));
	}
	switch (r->kind) {
	case AAC_RULE_PACKAGE:
		if ((e = policy_get_string(c, jpath, v, "package", 0, 128, &r->package)) < 0)
			return e;
		if (!r->package)
			return policy_fail(c, jpath, "missing \"package\"");
		for (const char *p = r->package; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("+-.", *p)) {
				policy_jpath_key(jp, sizeof(jp), jpath, "package");
				return policy_fail(c, jp, "\"%s\" is not a Debian package name", r->package);
			}
		break;
	case AAC_RULE_HASH:
		if ((e = get_sha(c, jpath, v, r->sha256)) < 0)
			return e;
		break;
	case AAC_RULE_PATH_HASH:
		if ((e = policy_get_string(c, jpath, v, "path", POLICY_STR_ABSPATH, PATH_MAX, &r->path)) < 0)
			return e;
		if (!r->path)
			return policy_fail(c, jpath, "missing \"path\"");
		if ((e = get_sha(c, jpath, v, r->sha256)) < 0)
			return e;
		break;
	case AAC_RULE_GLOB:
		if ((e = policy_get_string(c, jpath, v, "pattern", 0, PATH_MAX, &r->pattern)) < 0)
			return e;
		if (!r->pattern)
			return policy_fail(c, jpath, "missing \"pattern\"");
		if (r->pattern[0] != '/') {
			policy_jpath_key(jp, sizeof(jp), jpath, "pattern");
			return policy_fail(c, jp, "glob must be absolute (start with '/')");
		}
		break;
	}
	policy_jpath_key(jp, sizeof(jp), jpath, "scope");
	return parse_scope(c, jp, json_object_get(v, "scope"), r);
}

int aac_rules_parse(const struct policy_ctx *c, const char *jpath, const json_t *v,
		    struct aac_rule **rules, size_t *n)
{
	struct aac_rule *rs;
	size_t cnt, i;
	int e = 0;

	*rules = NULL;
	*n = 0;
	if (!json_is_array(v))
		return policy_fail(c, jpath, "expected array of rules, got %s", jtype(v));
	cnt = json_array_size(v);
	if (cnt > AAC_MAX_RULES)
		return policy_fail(c, jpath, "%zu rules, at most %d allowed", cnt, AAC_MAX_RULES);
	rs = calloc(cnt ? cnt : 1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		char jp[JP];

		policy_jpath_index(jp, sizeof(jp), jpath, i);
		if ((e = parse_rule(c, jp, json_array_get(v, i), &rs[i])) < 0) {
			aac_rules_free(rs, i + 1);
			return e;
		}
	}
	*rules = rs;
	*n = cnt;
	return 0;
}

int aac_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "mode", "on_error", "decision_timeout_ms", "enforce_paths", "rules",
					    "learn_max", "aggregate_window_s", "threads", "dpkg_dir", NULL };
	struct aac_config *cfg = calloc(1, sizeof(*cfg));
	char *s = NULL;
	json_int_t iv;
	char jp[JP];
	int e;

	if (!cfg)
		return -ENOMEM;
	cfg->mode = AAC_MODE_LEARN;
	cfg->on_error_allow = true;
	cfg->decision_timeout_ms = 2000;
	cfg->learn_max = 4096;
	cfg->aggregate_s = 60;
	cfg->threads = 2;
	if (!(cfg->dpkg_dir = strdup("/var/lib/dpkg")))
		goto nomem;
	if (!v) {
		cfg->enforce_paths.v = calloc(1, sizeof(char *));
		if (!cfg->enforce_paths.v || !(cfg->enforce_paths.v[0] = strdup("/")))
			goto nomem;
		cfg->enforce_paths.n = 1;
		*out = cfg;
		return 0;
	}
	if ((e = policy_check_object(c, jpath, v, keys)) < 0)
		goto fail;
	if ((e = policy_get_string(c, jpath, v, "mode", 0, 16, &s)) < 0)
		goto fail;
	if (s) {
		int m = aac_mode_parse(s);
		policy_jpath_key(jp, sizeof(jp), jpath, "mode");
		if (m < 0) {
			e = policy_fail(c, jp, "unknown mode \"%s\" (expected off, learn, audit or enforce)", s);
			goto fail;
		}
		cfg->mode = m;
		free(s);
		s = NULL;
	}
	if ((e = policy_get_string(c, jpath, v, "on_error", 0, 16, &s)) < 0)
		goto fail;
	if (s) {
		policy_jpath_key(jp, sizeof(jp), jpath, "on_error");
		if (strcmp(s, "allow") && strcmp(s, "deny")) {
			e = policy_fail(c, jp, "expected \"allow\" or \"deny\", got \"%s\"", s);
			goto fail;
		}
		cfg->on_error_allow = !strcmp(s, "allow");
		free(s);
		s = NULL;
	}
	iv = cfg->decision_timeout_ms;
	if ((e = policy_get_int(c, jpath, v, "decision_timeout_ms", 1, 60000, &iv)) < 0)
		goto fail;
	cfg->decision_timeout_ms = (uint32_t)iv;
	iv = cfg->learn_max;
	if ((e = policy_get_int(c, jpath, v, "learn_max", 16, 1 << 20, &iv)) < 0)
		goto fail;
	cfg->learn_max = (uint32_t)iv;
	iv = cfg->aggregate_s;
	if ((e = policy_get_int(c, jpath, v, "aggregate_window_s", 0, 86400, &iv)) < 0)
		goto fail;
	cfg->aggregate_s = (uint32_t)iv;
	iv = cfg->threads;
	if ((e = policy_get_int(c, jpath, v, "threads", 1, 16, &iv)) < 0)
		goto fail;
	cfg->threads = (uint32_t)iv;
	if ((e = policy_get_string(c, jpath, v, "dpkg_dir", POLICY_STR_ABSPATH, PATH_MAX, &cfg->dpkg_dir)) < 0)
		goto fail;
	if (json_object_get(v, "enforce_paths")) {
		if ((e = policy_get_paths(c, jpath, v, "enforce_paths", AAC_MAX_ENFORCE, PATH_MAX,
					  &cfg->enforce_paths)) < 0)
			goto fail;
	} else {
		cfg->enforce_paths.v = calloc(1, sizeof(char *));
		if (!cfg->enforce_paths.v || !(cfg->enforce_paths.v[0] = strdup("/")))
			goto nomem;
		cfg->enforce_paths.n = 1;
	}
	if (json_object_get(v, "rules")) {
		policy_jpath_key(jp, sizeof(jp), jpath, "rules");
		if ((e = aac_rules_parse(c, jp, json_object_get(v, "rules"), &cfg->rules, &cfg->nrules)) < 0)
			goto fail;
	}
	*out = cfg;
	return 0;
nomem:
	e = -ENOMEM;
fail:
	free(s);
	aac_config_free(cfg);
	return e;
}

json_t *aac_rule_to_json(const struct aac_rule *r)
{
	json_t *o = json_pack("{s:s}", "kind", kind_names[r->kind]);

	if (!o)
		return NULL;
	switch (r->kind) {
	case AAC_RULE_PACKAGE: json_object_set_new(o, "package", json_string(r->package)); break;
	case AAC_RULE_HASH: json_object_set_new(o, "sha256", json_string(r->sha256)); break;
	case AAC_RULE_PATH_HASH:
		jsonx_set_str(o, "path", r->path);
		json_object_set_new(o, "sha256", json_string(r->sha256));
		break;
	case AAC_RULE_GLOB: jsonx_set_str(o, "pattern", r->pattern); break;
	}
	if (r->container || r->cgroup) {
		json_t *s = json_object();
		if (r->container)
			json_object_set_new(s, "container", json_string(r->container));
		if (r->cgroup)
			json_object_set_new(s, "cgroup", json_string(r->cgroup));
		json_object_set_new(o, "scope", s);
	} else if (r->scope != AAC_SCOPE_ANY) {
		json_object_set_new(o, "scope", json_string(r->scope == AAC_SCOPE_HOST ? "host" : "container"));
	}
	return o;
}

static bool streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool aac_rule_equal(const struct aac_rule *a, const struct aac_rule *b)
{
	return a->kind == b->kind && streq(a->package, b->package) && streq(a->path, b->path) &&
	       streq(a->pattern, b->pattern) && !strcmp(a->sha256, b->sha256) && a->scope == b->scope &&
	       streq(a->container, b->container) && streq(a->cgroup, b->cgroup);
}

/* ---- decisions ---- */

static bool scope_ok(const struct aac_rule *r, const struct aac_subject *s)
{
	bool in_ctr = s->container_id && s->container_id[0];

	if (r->scope == AAC_SCOPE_HOST && in_ctr)
		return false;
	if (r->scope == AAC_SCOPE_CONTAINER && !in_ctr)
		return false;
	if (r->container && (!in_ctr || fnmatch(r->container, s->container_id, 0)))
		return false;
	if (r->cgroup && (!s->cgroup || fnmatch(r->cgroup, s->cgroup, 0)))
		return false;
	return true;
}

void aac_decide(const struct aac_config *cfg, const struct aac_dpkg *dpkg,
		const struct aac_subject *s, struct aac_verdict *v)
{
	static const uint8_t zero[16];
	uint8_t dbmd5[16];
	const char *pkg = NULL;
	bool have_sha = s->sha256 && s->sha256[0], modified = false;

	memset(v, 0, sizeof(*v));
	v->rule = -1;
	if (!s->fileless && dpkg && s->path && (pkg = aac_dpkg_owner(dpkg, s->path, dbmd5))) {
		v->package = pkg;
		v->package_verified = s->md5 && memcmp(dbmd5, zero, 16) && !memcmp(dbmd5, s->md5, 16);
	}
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct aac_rule *r = &cfg->rules[i];
		bool m = false;

		if (!scope_ok(r, s))
			continue;
		switch (r->kind) {
		case AAC_RULE_PACKAGE:
			m = v->package_verified && !strcmp(pkg, r->package);
			break;
		case AAC_RULE_HASH:
			m = have_sha && !strcmp(s->sha256, r->sha256);
			break;
		case AAC_RULE_PATH_HASH:
			if (!s->fileless && s->path && !strcmp(s->path, r->path)) {
				m = have_sha && !strcmp(s->sha256, r->sha256);
				modified |= !m;
			} else if (!s->fileless && s->nlink > 1 && have_sha && !strcmp(s->sha256, r->sha256)) {
				/* a hard link: the same file as the one the rule names */
				struct stat st;
				m = hostfs_stat(r->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino;
			}
			break;
		case AAC_RULE_GLOB:
			m = !s->fileless && s->path && !fnmatch(r->pattern, s->path, FNM_PATHNAME);
			break;
		}
		if (m) {
			v->allow = true;
			v->rule = (int)i;
			v->reason = AAC_REASON_RULE;
			return;
		}
	}
	v->reason = modified ? AAC_REASON_MODIFIED : have_sha ? AAC_REASON_NOT_LISTED : AAC_REASON_NO_HASH;
}

json_t *aac_remediation_rule(const struct aac_subject *s, const struct aac_verdict *v)
{
	bool have_sha = s->sha256 && s->sha256[0];

	if (s->fileless)
		return have_sha ? json_pack("{s:s, s:s}", "kind", "hash", "sha256", s->sha256) : NULL;
	if (v->package && v->package_verified)
		return json_pack("{s:s, s:s}", "kind", "package", "package", v->package);
	if (have_sha && s->path && s->path[0] == '/')
		return json_pack("{s:s, s:s, s:s}", "kind", "path_hash", "path", s->path, "sha256", s->sha256);
	return NULL;
}

bool aac_path_risky(const char *path, char *why, size_t len)
{
	char dir[PATH_MAX];
	struct stat st, child;
	bool parent = true;
	char *slash;

	if (!path || path[0] != '/' || strlen(path) >= sizeof(dir)) {
		snprintf(why, len, "not a regular path");
		return true;
	}
	if (hostfs_stat(path, &st) == 0) {
		if (st.st_mode & S_IWOTH) {
			snprintf(why, len, "file is world-writable");
			return true;
		}
		if (st.st_uid != 0) {
			snprintf(why, len, "file is owned by uid %u", (unsigned)st.st_uid);
			return true;
		}
		if ((st.st_mode & S_IWGRP) && st.st_gid != 0) {
			snprintf(why, len, "file is group-writable (gid %u)", (unsigned)st.st_gid);
			return true;
		}
	}
	child = st;
	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/'))) {
		if (slash == dir)
			slash[1] = 0;
		else
			*slash = 0;
		if (hostfs_stat(dir, &st) == 0) {
			/* a sticky world-writable ancestor (/tmp) cannot have its root-owned entries
			 * replaced; the directory holding the binary itself is risky either way */
			if ((st.st_mode & S_IWOTH) && (parent || !(st.st_mode & S_ISVTX) || child.st_uid != 0)) {
				snprintf(why, len, "world-writable directory %s", dir);
				return true;
			}
			if (st.st_uid != 0) {
				snprintf(why, len, "directory %s is owned by uid %u", dir, (unsigned)st.st_uid);
				return true;
			}
			if ((st.st_mode & S_IWGRP) && st.st_gid != 0) {
				snprintf(why, len, "directory %s is group-writable (gid %u)", dir, (unsigned)st.st_gid);
				return true;
			}
			child = st;
		}
		parent = false;
		if (!strcmp(dir, "/"))
			break;
	}
	return false;
}

/* ---- proposals ---- */

int aac_proposal_merge(const char *policy_text, const char *proposal, const char *name,
		       char **out, size_t *added, char *err, size_t errlen)
{
	static const char *const top_keys[] = { "aac", "risky", "summary", NULL };
	static const char *const aac_keys[] = { "rules", NULL };
	struct policy_ctx pc = { .text = proposal, .name = name, .err = err, .errlen = errlen };
	struct aac_rule *nr = NULL, *old = NULL;
	size_t nn = 0, no = 0;
	json_error_t je;
	json_t *prop = NULL, *doc = NULL, *sec, *rules;
	int e;

	*out = NULL;
	*added = 0;
	prop = json_loads(proposal, JSON_REJECT_DUPLICATES, &je);
	if (!prop) {
		snprintf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column < 1 ? 1 : je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(prop)) {
		e = policy_fail(&pc, "", "expected a proposal object {\"aac\": {\"rules\": [...]}}");
		goto out;
	}
	if ((e = policy_check_object(&pc, "", prop, top_keys)) < 0)
		goto out;
	sec = json_object_get(prop, "aac");
	if (!json_is_object(sec)) {
		e = policy_fail(&pc, sec ? "/aac" : "", sec ? "expected object" : "missing \"aac\"");
		goto out;
	}
	if ((e = policy_check_object(&pc, "/aac", sec, aac_keys)) < 0)
		goto out;
	if (!json_object_get(sec, "rules")) {
		e = policy_fail(&pc, "/aac", "missing \"rules\"");
		goto out;
	}
	if ((e = aac_rules_parse(&pc, "/aac/rules", json_object_get(sec, "rules"), &nr, &nn)) < 0)
		goto out;

	doc = json_loads(policy_text, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "policy: cannot parse the policy in force (%d:%d: %s)", je.line, je.column, je.text);
		e = -EINVAL;
		goto out;
	}
	sec = json_object_get(doc, "aac");
	if (!sec) {
		sec = json_object();
		json_object_set_new(doc, "aac", sec);
	}
	rules = json_object_get(sec, "rules");
	if (!rules) {
		rules = json_array();
		json_object_set_new(sec, "rules", rules);
	}
	{
		struct policy_ctx q = { .text = NULL, .name = "policy", .err = err, .errlen = errlen };
		if (!json_is_array(rules) || (e = aac_rules_parse(&q, "/aac/rules", rules, &old, &no)) < 0) {
			snprintf(err, errlen, "policy: the policy in force has an invalid /aac/rules");
			e = -EINVAL;
			goto out;
		}
	}
	for (size_t i = 0; i < nn; i++) {
		bool dup = false;
		for (size_t j = 0; j < no && !dup; j++)
			dup = aac_rule_equal(&nr[i], &old[j]);
		for (size_t j = 0; j < i && !dup; j++)
			dup = aac_rule_equal(&nr[i], &nr[j]);
		if (dup)
			continue;
		json_t *rj = json_deep_copy(json_array_get(json_object_get(json_object_get(prop, "aac"), "rules"), i));
		if (!rj || json_array_append_new(rules, rj)) {
			e = -ENOMEM;
			goto out;
		}
		(*added)++;
	}
	*out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	e = *out ? 0 : -ENOMEM;
out:
	aac_rules_free(nr, nn);
	aac_rules_free(old, no);
	json_decref(prop);
	json_decref(doc);
	return e;
}
