/*
 * The "fim" policy section:
 *   {"enabled": true, "quiet_ms": 500, "max_files": 200000, "workers": 0,
 *    "watch": [{"path": "/etc/passwd", "recursive": false, "attributes": [...],
 *               "severity": "high", "exclude": ["*.swp"]}, ...]}
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fim.h"
#include "vigil_events.h"

#define FIM_SPECS_MAX    64      /* each becomes a watched root of the file sensor */
#define FIM_EXCLUDE_MAX  64
#define FIM_PATH_LEN     VIGIL_PREFIX_LEN

static const char *const attr_names[] = {
	"sha256", "mode", "uid", "gid", "size", "link", "inode", "xattrs", "type",
};

const char *fim_attr_name(unsigned bit)
{
	for (unsigned i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
		if (bit == 1u << i)
			return attr_names[i];
	return NULL;
}

static void spec_clear(struct fim_spec *s)
{
	free(s->path);
	policy_strv_free(&s->exclude);
}

void fim_config_free(void *p)
{
	struct fim_config *c = p;

	if (!c)
		return;
	for (size_t i = 0; i < c->nspecs; i++)
		spec_clear(&c->specs[i]);
	free(c->specs);
	free(c);
}

static const struct fim_config fim_disabled = { .enabled = false, .quiet_ms = 500, .max_files = 200000 };

const struct fim_config *fim_config_of(const struct vigil_policy *pol)
{
	const struct fim_config *c = pol ? pol->feature[POLICY_FIM] : NULL;

	return c ? c : &fim_disabled;
}

static int parse_attrs(const struct policy_ctx *c, const char *jpath, const json_t *v, unsigned *out)
{
	char ip[1024];
	size_t i;
	json_t *item;
	unsigned m = FIM_A_TYPE;

	if (!json_is_array(v))
		return policy_fail(c, jpath, "expected array of attribute names");
	json_array_foreach(v, i, item) {
		unsigned k;
		const char *s = json_string_value(item);

		policy_jpath_index(ip, sizeof(ip), jpath, i);
		if (!s)
			return policy_fail(c, ip, "expected string");
		for (k = 0; k < sizeof(attr_names) / sizeof(attr_names[0]); k++)
			if (!strcmp(s, attr_names[k]))
				break;
		if (k == sizeof(attr_names) / sizeof(attr_names[0]))
			return policy_fail(c, ip, "unknown attribute \"%.64s\" (allowed: sha256, mode, uid, gid, "
					   "size, link, inode, xattrs, type)", s);
		m |= 1u << k;
	}
	*out = m;
	return 0;
}

static int parse_exclude(const struct policy_ctx *c, const char *jpath, const json_t *v,
			 struct policy_strv *out)
{
	char ip[1024];
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return policy_fail(c, jpath, "expected array of globs or paths");
	if (json_array_size(v) > FIM_EXCLUDE_MAX)
		return policy_fail(c, jpath, "too many entries (at most %d)", FIM_EXCLUDE_MAX);
	if (json_array_size(v) && !(out->v = calloc(json_array_size(v), sizeof(char *))))
		return -ENOMEM;
	json_array_foreach(v, i, item) {
		const char *s = json_string_value(item);

		policy_jpath_index(ip, sizeof(ip), jpath, i);
		if (!s || !*s)
			return policy_fail(c, ip, "expected non-empty string");
		if (strlen(s) >= FIM_PATH_LEN)
			return policy_fail(c, ip, "pattern is longer than %d bytes", FIM_PATH_LEN - 1);
		if (!(out->v[out->n++] = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

static int parse_spec(const struct policy_ctx *c, const char *jpath, const json_t *v, struct fim_spec *s)
{
	static const char *const keys[] = { "path", "recursive", "attributes", "severity", "exclude", NULL };
	char cp[1024];
	json_t *x;
	int r;

	s->recursive = true;
	s->attrs = FIM_A_ALL;
	s->severity = VIGIL_SEV_MEDIUM;
	if ((r = policy_check_object(c, jpath, v, keys)) < 0)
		return r;
	if (!json_object_get(v, "path"))
		return policy_fail(c, jpath, "missing required key \"path\"");
	if ((r = policy_get_string(c, jpath, v, "path", POLICY_STR_ABSPATH, FIM_PATH_LEN, &s->path)) < 0 ||
	    (r = policy_get_bool(c, jpath, v, "recursive", &s->recursive)) < 0 ||
	    (r = policy_get_severity(c, jpath, v, "severity", &s->severity)) < 0)
		return r;
	s->glob = strpbrk(s->path, "*?[") != NULL;
	if ((x = json_object_get(v, "attributes"))) {
		policy_jpath_key(cp, sizeof(cp), jpath, "attributes");
		if ((r = parse_attrs(c, cp, x, &s->attrs)) < 0)
			return r;
	}
	if ((x = json_object_get(v, "exclude"))) {
		policy_jpath_key(cp, sizeof(cp), jpath, "exclude");
		if ((r = parse_exclude(c, cp, x, &s->exclude)) < 0)
			return r;
	}
	return 0;
}

int fim_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "enabled", "watch", "quiet_ms", "max_files", "workers", NULL };
	struct fim_config *cfg = calloc(1, sizeof(*cfg));
	char wp[1024], ip[1024];
	json_int_t n;
	json_t *w, *item;
	size_t i;
	int r;

	if (!cfg)
		return -ENOMEM;
	*cfg = fim_disabled;
	if (!v)
		goto done;
	cfg->enabled = true;
	if ((r = policy_check_object(c, jpath, v, keys)) < 0 ||
	    (r = policy_get_bool(c, jpath, v, "enabled", &cfg->enabled)) < 0)
		goto fail;
	n = cfg->quiet_ms;
	if ((r = policy_get_int(c, jpath, v, "quiet_ms", 10, 60000, &n)) < 0)
		goto fail;
	cfg->quiet_ms = (uint32_t)n;
	n = (json_int_t)cfg->max_files;
	if ((r = policy_get_int(c, jpath, v, "max_files", 1, 10000000, &n)) < 0)
		goto fail;
	cfg->max_files = (uint64_t)n;
	n = cfg->workers;
	if ((r = policy_get_int(c, jpath, v, "workers", 0, 256, &n)) < 0)
		goto fail;
	cfg->workers = (uint32_t)n;
	if ((w = json_object_get(v, "watch"))) {
		policy_jpath_key(wp, sizeof(wp), jpath, "watch");
		if (!json_is_array(w)) {
			r = policy_fail(c, wp, "expected array of watch specs");
			goto fail;
		}
		if (json_array_size(w) > FIM_SPECS_MAX) {
			r = policy_fail(c, wp, "too many watch specs (at most %d)", FIM_SPECS_MAX);
			goto fail;
		}
		if (json_array_size(w) && !(cfg->specs = calloc(json_array_size(w), sizeof(*cfg->specs)))) {
			r = -ENOMEM;
			goto fail;
		}
		json_array_foreach(w, i, item) {
			policy_jpath_index(ip, sizeof(ip), wp, i);
			cfg->nspecs++;
			if ((r = parse_spec(c, ip, item, &cfg->specs[i])) < 0)
				goto fail;
			for (size_t j = 0; j < i; j++)
				if (!strcmp(cfg->specs[j].path, cfg->specs[i].path)) {
					r = policy_fail(c, ip, "\"%.200s\" is listed twice (also entry %zu)",
							cfg->specs[i].path, j);
					goto fail;
				}
		}
	}
done:
	*out = cfg;
	return 0;
fail:
	fim_config_free(cfg);
	return r;
}

/* The directory the kernel must watch for a spec: the path itself, or for a glob
 * the directory holding its first wildcard. */
static size_t watch_root_len(const char *p)
{
	const char *w = strpbrk(p, "*?[");

	if (!w)
		return strlen(p);
	while (w > p && *w != '/')
		w--;
	return w == p ? 1 : (size_t)(w - p);
}

static int strv_add(struct policy_strv *sv, const char *p, size_t n)
{
	char **nv;

	for (size_t j = 0; j < sv->n; j++)
		if (strlen(sv->v[j]) == n && !strncmp(sv->v[j], p, n))
			return 0;
	if (!(nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv))))
		return -ENOMEM;
	sv->v = nv;
	if (!(sv->v[sv->n] = strndup(p, n)))
		return -ENOMEM;
	sv->n++;
	return 0;
}

int fim_watch_roots(const struct vigil_policy *pol, void *eng, struct policy_strv *sv)
{
	const struct fim_config *cfg = fim_config_of(pol);
	const char **links = NULL;
	size_t nl;
	int r;

	if (!cfg->enabled)
		return 0;
	for (size_t i = 0; i < cfg->nspecs; i++)
		if ((r = strv_add(sv, cfg->specs[i].path, watch_root_len(cfg->specs[i].path))))
			return r;
	nl = eng ? fim_engine_link_roots(eng, &links) : 0;
	for (size_t i = 0; i < nl; i++)
		if ((r = strv_add(sv, links[i], strlen(links[i]))))
			return r;
	return 0;
}

static bool under(const char *path, const char *dir, size_t n)
{
	if (n == 1 && dir[0] == '/')
		return path[0] == '/' && path[1];
	return !strncmp(path, dir, n) && path[n] == '/';
}

static bool excluded(const struct fim_spec *s, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < s->exclude.n; i++) {
		const char *e = s->exclude.v[i];

		if (!strchr(e, '/')) {
			if (!fnmatch(e, base, 0))
				return true;
		} else if (!fnmatch(e, path, 0) || !strcmp(path, e) || under(path, e, strlen(e))) {
			return true;
		}
	}
	return false;
}

/* Does spec s cover path?  *depth gets the length of the spec part matched. */
static bool spec_covers(const struct fim_spec *s, const char *path)
{
	size_t n = strlen(s->path);

	if (s->glob) {
		char buf[4096];

		if (!fnmatch(s->path, path, FNM_PATHNAME | FNM_PERIOD))
			return true;
		/* a name under a directory the glob matches */
		snprintf(buf, sizeof(buf), "%s", path);
		for (char *sl = strrchr(buf, '/'); sl && sl > buf; sl = strrchr(buf, '/')) {
			bool direct = !strchr(path + (sl - buf) + 1, '/');
			*sl = 0;
			if (!fnmatch(s->path, buf, FNM_PATHNAME | FNM_PERIOD))
				return s->recursive || direct;
		}
		return false;
	}
	if (!strcmp(path, s->path))
		return true;
	if (!under(path, s->path, n))
		return false;
	return s->recursive || !strchr(path + (n == 1 ? 1 : n + 1), '/');
}

int fim_spec_match(const struct fim_config *cfg, const char *path)
{
	int best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < cfg->nspecs; i++) {
		size_t n = strlen(cfg->specs[i].path);

		if (spec_covers(&cfg->specs[i], path) && (best < 0 || n > best_len)) {
			best = (int)i;
			best_len = n;
		}
	}
	if (best >= 0 && excluded(&cfg->specs[best], path))
		return -1;
	return best;
}

struct fim_config *fim_config_dup(const struct fim_config *src)
{
	struct fim_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	*c = *src;
	c->specs = NULL;
	c->nspecs = 0;
	if (src->nspecs && !(c->specs = calloc(src->nspecs, sizeof(*c->specs))))
		goto fail;
	for (size_t i = 0; i < src->nspecs; i++) {
		const struct fim_spec *s = &src->specs[i];
		struct fim_spec *d = &c->specs[i];

		*d = *s;
		d->exclude = (struct policy_strv){ 0 };
		c->nspecs++;
		if (!(d->path = strdup(s->path)))
			goto fail;
		if (s->exclude.n && !(d->exclude.v = calloc(s->exclude.n, sizeof(char *))))
			goto fail;
		for (size_t j = 0; j < s->exclude.n; j++, d->exclude.n++)
			if (!(d->exclude.v[j] = strdup(s->exclude.v[j])))
				goto fail;
	}
	return c;
fail:
	fim_config_free(c);
	return NULL;
}

void fim_spec_list(const struct fim_config *cfg, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < cfg->nspecs && n < len; i++)
		n += snprintf(buf + n, len - n, "%s\n", cfg->specs[i].path);
}
