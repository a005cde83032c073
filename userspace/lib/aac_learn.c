/*
 * AAC learning store and allowlist recommendation.  See aac.h.
 *
 * One entry per (path, SHA-256): size, dpkg owner, first/last seen, count, and
 * small bounded sets of parents, users and container ids.  The store is bounded
 * (what the bound turns away is counted) and saved as JSON in the state
 * directory (atomic replace), so it survives restarts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aac.h"
#include "jsonx.h"
#include "util.h"

#define SET_MAX 4
#define NBUCKET 4096

struct lentry {
	char *path;
	char sha256[65];
	uint64_t size;
	char *package;
	bool verified, fileless;
	uint64_t first_ns, last_ns, count;
	char *sets[3][SET_MAX];          /* parents, users, containers */
	struct lentry *hnext;
};

struct aac_learn {
	struct lentry **v;               /* insertion order */
	size_t n, max;
	struct lentry *bucket[NBUCKET];
	uint64_t dropped;
	bool dirty;
};

static const char *const set_names[3] = { "parents", "users", "containers" };

static unsigned hkey(const char *path, const char *sha)
{
	uint32_t h = 2166136261u;

	for (const char *p = path; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (const char *p = sha; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % NBUCKET;
}

struct aac_learn *aac_learn_new(size_t max)
{
	struct aac_learn *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->max = max;
	l->v = calloc(max ? max : 1, sizeof(*l->v));
	if (!l->v) {
		free(l);
		return NULL;
	}
	return l;
}

static void entry_free(struct lentry *e)
{
	free(e->path);
	free(e->package);
	for (int s = 0; s < 3; s++)
		for (int i = 0; i < SET_MAX; i++)
			free(e->sets[s][i]);
	free(e);
}

void aac_learn_clear(struct aac_learn *l)
{
	for (size_t i = 0; i < l->n; i++)
		entry_free(l->v[i]);
	l->n = 0;
	memset(l->bucket, 0, sizeof(l->bucket));
	l->dirty = true;
}

void aac_learn_free(struct aac_learn *l)
{
	if (!l)
		return;
	aac_learn_clear(l);
	free(l->v);
	free(l);
}

static struct lentry *find(const struct aac_learn *l, const char *path, const char *sha)
{
	for (struct lentry *e = l->bucket[hkey(path, sha)]; e; e = e->hnext)
		if (!strcmp(e->path, path) && !strcmp(e->sha256, sha))
			return e;
	return NULL;
}

bool aac_learn_has(const struct aac_learn *l, const char *path, const char *sha256)
{
	return path && find(l, path, sha256 ? sha256 : "") != NULL;
}

static void set_add(char **set, const char *s)
{
	if (!s || !s[0])
		return;
	for (int i = 0; i < SET_MAX; i++) {
		if (!set[i]) {
			set[i] = strdup(s);
			return;
		}
		if (!strcmp(set[i], s))
			return;
	}
}

int aac_learn_add(struct aac_learn *l, const struct aac_observation *o)
{
	const char *sha = o->sha256 ? o->sha256 : "";
	struct lentry *e;

	if (!o->path)
		return -EINVAL;
	e = find(l, o->path, sha);
	if (!e) {
		if (l->n >= l->max) {
			l->dropped++;
			return -ENOSPC;
		}
		e = calloc(1, sizeof(*e));
		if (!e || !(e->path = strdup(o->path))) {
			free(e);
			return -ENOMEM;
		}
		snprintf(e->sha256, sizeof(e->sha256), "%s", sha);
		e->first_ns = o->wall_ns;
		e->size = o->size;
		e->fileless = o->fileless;
		if (o->package)
			e->package = strdup(o->package);
		e->verified = o->package_verified;
		unsigned b = hkey(e->path, e->sha256);
		e->hnext = l->bucket[b];
		l->bucket[b] = e;
		l->v[l->n++] = e;
	}
	e->count++;
	if (o->wall_ns > e->last_ns)
		e->last_ns = o->wall_ns;
	set_add(e->sets[0], o->parent);
	set_add(e->sets[1], o->user);
	set_add(e->sets[2], o->container);
	l->dirty = true;
	return 0;
}

size_t aac_learn_size(const struct aac_learn *l)
{
	return l->n;
}

uint64_t aac_learn_dropped(const struct aac_learn *l)
{
	return l->dropped;
}

bool aac_learn_dirty(const struct aac_learn *l)
{
	return l->dirty;
}

static json_t *entry_json(const struct lentry *e)
{
	char ts[48];
	json_t *o = json_object();

	jsonx_set_str(o, "path", e->path);
	json_object_set_new(o, "sha256", json_string(e->sha256));
	json_object_set_new(o, "size", json_integer((json_int_t)e->size));
	json_object_set_new(o, "package", e->package ? json_string(e->package) : json_null());
	json_object_set_new(o, "package_verified", json_boolean(e->verified));
	json_object_set_new(o, "fileless", json_boolean(e->fileless));
	json_object_set_new(o, "first_seen", json_string(util_rfc3339(e->first_ns, ts, sizeof(ts))));
	json_object_set_new(o, "last_seen", json_string(util_rfc3339(e->last_ns, ts, sizeof(ts))));
	json_object_set_new(o, "first_seen_ns", json_integer((json_int_t)e->first_ns));
	json_object_set_new(o, "last_seen_ns", json_integer((json_int_t)e->last_ns));
	json_object_set_new(o, "count", json_integer((json_int_t)e->count));
	for (int s = 0; s < 3; s++) {
		json_t *a = json_array();
		for (int i = 0; i < SET_MAX && e->sets[s][i]; i++)
			json_array_append_new(a, jsonx_string_bytes(e->sets[s][i], strlen(e->sets[s][i]), NULL));
		json_object_set_new(o, set_names[s], a);
	}
	return o;
}

json_t *aac_learn_to_json(const struct aac_learn *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, entry_json(l->v[i]));
	return a;
}

int aac_learn_save(struct aac_learn *l, const char *path)
{
	json_t *doc = json_pack("{s:i, s:o}", "version", 1, "entries", aac_learn_to_json(l));
	char *s;
	int r;

	if (!doc)
		return -ENOMEM;
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!s)
		return -ENOMEM;
	r = util_write_file_atomic(path, s, strlen(s), 0600);
	free(s);
	if (!r)
		l->dirty = false;
	return r;
}

int aac_learn_load(struct aac_learn *l, const char *path)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je), *ents, *e;
	size_t i;

	if (!doc)
		return access(path, F_OK) ? 0 : -EINVAL;
	ents = json_object_get(doc, "entries");
	if (!json_is_array(ents)) {
		json_decref(doc);
		return -EINVAL;
	}
	json_array_foreach(ents, i, e) {
		struct aac_observation o = { 0 };
		const char *p64 = json_string_value(json_object_get(e, "path_b64"));
		unsigned char *raw = NULL;
		size_t rn;

		o.path = json_string_value(json_object_get(e, "path"));
		if (p64 && (raw = jsonx_base64_decode(p64, &rn)) && !memchr(raw, 0, rn)) {
			char *z = realloc(raw, rn + 1);
			if (z) {
				z[rn] = 0;
				raw = (unsigned char *)z;
				o.path = z;
			}
		}
		o.sha256 = json_string_value(json_object_get(e, "sha256"));
		o.size = (uint64_t)json_integer_value(json_object_get(e, "size"));
		o.package = json_string_value(json_object_get(e, "package"));
		o.package_verified = json_is_true(json_object_get(e, "package_verified"));
		o.fileless = json_is_true(json_object_get(e, "fileless"));
		o.wall_ns = (uint64_t)json_integer_value(json_object_get(e, "first_seen_ns"));
		if (!o.path || !o.sha256 || aac_learn_add(l, &o)) {
			free(raw);
			continue;
		}
		struct lentry *le = find(l, o.path, o.sha256);
		le->last_ns = (uint64_t)json_integer_value(json_object_get(e, "last_seen_ns"));
		le->count = (uint64_t)json_integer_value(json_object_get(e, "count"));
		for (int s = 0; s < 3; s++) {
			size_t k;
			json_t *x;
			json_array_foreach(json_object_get(e, set_names[s]), k, x)
				set_add(le->sets[s], json_string_value(x));
		}
		free(raw);
	}
	json_decref(doc);
	l->dirty = false;
	return 0;
}

static bool has_rule(const struct aac_config *c, const struct aac_rule *r)
{
	for (size_t i = 0; c && i < c->nrules; i++)
		if (aac_rule_equal(&c->rules[i], r))
			return true;
	return false;
}

json_t *aac_recommend(const struct aac_learn *l, const struct aac_dpkg *dpkg,
		      const struct aac_config *existing)
{
	json_t *rules = json_array(), *risky = json_array(), *out;
	size_t npkg = 0, nph = 0;
	char **pkgs = calloc(l->n + 1, sizeof(char *));

	if (!rules || !risky || !pkgs) {
		json_decref(rules);
		json_decref(risky);
		free(pkgs);
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct lentry *e = l->v[i];
		char why[512];

		if (e->fileless || !e->sha256[0] || aac_path_risky(e->path, why, sizeof(why))) {
			json_t *o = json_object();
			jsonx_set_str(o, "path", e->path);
			json_object_set_new(o, "sha256", json_string(e->sha256));
			json_object_set_new(o, "reason", json_string(e->fileless ? "fileless (memfd, O_TMPFILE or unlinked)" :
								   !e->sha256[0] ? "content could not be hashed" : why));
			json_object_set_new(o, "count", json_integer((json_int_t)e->count));
			json_array_append_new(risky, o);
			continue;
		}
		if (e->package && e->verified) {
			struct aac_rule r = { .kind = AAC_RULE_PACKAGE, .package = e->package };
			bool dup = has_rule(existing, &r);
			for (size_t k = 0; k < npkg && !dup; k++)
				dup = !strcmp(pkgs[k], e->package);
			if (dup)
				continue;
			pkgs[npkg++] = e->package;
			json_array_append_new(rules, aac_rule_to_json(&r));
			continue;
		}
		struct aac_rule r = { .kind = AAC_RULE_PATH_HASH, .path = e->path };
		memcpy(r.sha256, e->sha256, sizeof(r.sha256));
		if (has_rule(existing, &r))
			continue;
		json_array_append_new(rules, aac_rule_to_json(&r));
		nph++;
	}
	free(pkgs);
	out = json_pack("{s:{s:o}, s:o, s:{s:I, s:I, s:I, s:I}}",
			"aac", "rules", rules, "risky", risky,
			"summary", "learned", (json_int_t)l->n, "package_rules", (json_int_t)npkg,
			"path_hash_rules", (json_int_t)nph, "risky", (json_int_t)json_array_size(risky));
	(void)dpkg;
	return out;
}
