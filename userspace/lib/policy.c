/*
 * Policy loading and strict validation.
 *
 * jansson parses the document (duplicate keys rejected) but keeps no source
 * positions for values, so every semantic error is located afterwards by
 * policy_locate(), a small scanner that walks the source text along a JSON
 * pointer.  Only the first error is reported, and nothing is returned unless
 * the whole document is valid: a bad policy is never half-applied.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil_events.h"
#include "policy.h"
#include "util.h"

#define POLICY_VERSION   1
#define POLICY_FILE_MAX  (16u << 20)     /* bytes, exclusive; feature sections may hold long allowlists */
#define JPATH_LEN        1024
#define MSG_LEN          768

/* ---- severities ------------------------------------------------------- */

static const char *const sev_names[] = {
	[VIGIL_SEV_INFORMATIONAL] = "informational",
	[VIGIL_SEV_LOW] = "low",
	[VIGIL_SEV_MEDIUM] = "medium",
	[VIGIL_SEV_HIGH] = "high",
};
#define NSEV ((int)(sizeof(sev_names) / sizeof(sev_names[0])))

int severity_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < NSEV; i++)
		if (strcmp(s, sev_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* Name of a VIGIL_SEV_* value; "unknown" for anything else (never NULL). */
const char *severity_name(int sev)
{
	if (sev < 0 || sev >= NSEV)
		return "unknown";
	return sev_names[sev];
}

/* ---- policy_locate: positions in the source text ---------------------- */

/*
 * Cursor over NUL-terminated JSON text.  Columns count characters (UTF-8 lead
 * bytes), as jansson's error.column does, so both kinds of error agree.
 */
struct scan {
	const char *p;
	int line, col;
};

static void sc_adv(struct scan *s)
{
	unsigned char c = (unsigned char)*s->p;

	if (!c)
		return;
	s->p++;
	if (c == '\n') {
		s->line++;
		s->col = 1;
	} else if (((unsigned char)*s->p & 0xC0) != 0x80) {
		s->col++;
	}
}

static void sc_ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
		sc_adv(s);
}

/* At '"': moves past the closing quote; *b and *e get the raw contents.  -1 if unterminated. */
static int sc_string(struct scan *s, const char **b, const char **e)
{
	sc_adv(s);
	if (b)
		*b = s->p;
	for (;;) {
		char c = *s->p;

		if (!c)
			return -1;
		if (c == '"')
			break;
		if (c == '\\') {
			sc_adv(s);
			if (!*s->p)
				return -1;
		}
		sc_adv(s);
	}
	if (e)
		*e = s->p;
	sc_adv(s);
	return 0;
}

/* Skips one value of any kind (nested containers iteratively).  -1 on bad text. */
static int sc_value(struct scan *s)
{
	int depth = 0;
	const char *start = s->p;

	do {
		char c = *s->p;

		if (!c)
			return -1;
		if (c == '"') {
			if (sc_string(s, NULL, NULL) < 0)
				return -1;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth < 0)
				return -1;
		} else if (depth == 0) {
			/* scalar: number, true, false, null */
			while (*s->p && !strchr(" \t\r\n,:]}", *s->p))
				sc_adv(s);
			return s->p == start ? -1 : 0;
		}
		sc_adv(s);
	} while (depth > 0);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *p, const char *e)
{
	int v = 0;

	if (e - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	return o;
}

/*
 * Decodes the raw string contents [b, e) into out, which must hold e - b + 1
 * bytes (a decoded string is never longer than its escaped form).  Returns
 * the decoded length, or -1 on a bad escape.
 */
static long json_unescape(const char *b, const char *e, char *out)
{
	char *o = out;

	while (b < e) {
		if (*b != '\\') {
			*o++ = *b++;
			continue;
		}
		if (++b >= e)
			return -1;
		switch (*b++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			int cp = hex4(b, e);

			if (cp < 0)
				return -1;
			b += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && e - b >= 6 && b[0] == '\\' && b[1] == 'u') {
				int lo = hex4(b + 2, e);

				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					b += 6;
				}
			}
			o = put_utf8(o, (unsigned)cp);
			break;
		}
		default:
			return -1;
		}
	}
	*o = '\0';
	return o - out;
}

/* Does the raw JSON string [b, e) decode to exactly seg (seglen bytes)? */
static bool key_equals(const char *b, const char *e, const char *seg, size_t seglen)
{
	char small[256], *buf = small;
	size_t need = (size_t)(e - b) + 1;
	long n;
	bool eq;

	if (!memchr(b, '\\', (size_t)(e - b)))
		return (size_t)(e - b) == seglen && memcmp(b, seg, seglen) == 0;
	if (need > sizeof(small) && !(buf = malloc(need)))
		return false;
	n = json_unescape(b, e, buf);
	eq = n >= 0 && (size_t)n == seglen && memcmp(buf, seg, seglen) == 0;
	if (buf != small)
		free(buf);
	return eq;
}

/* Next RFC 6901 reference token of *jp, unescaped into seg; advances *jp. */
static int next_token(const char **jp, char *seg, size_t seglen, size_t *n)
{
	const char *p = *jp;
	size_t k = 0;

	if (*p != '/')
		return -1;
	for (p++; *p && *p != '/'; p++) {
		char c = *p;

		if (c == '~') {
			if (p[1] == '0')
				c = '~';
			else if (p[1] == '1')
				c = '/';
			else
				return -1;
			p++;
		}
		if (k + 1 >= seglen)
			return -1;
		seg[k++] = c;
	}
	seg[k] = '\0';
	*n = k;
	*jp = p;
	return 0;
}

static bool parse_index(const char *seg, size_t n, unsigned long *idx)
{
	char *end;

	if (n == 0 || (n > 1 && seg[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (seg[i] < '0' || seg[i] > '9')
			return false;
	errno = 0;
	*idx = strtoul(seg, &end, 10);
	return errno == 0 && *end == '\0';
}

int policy_locate(const char *text, const char *jpath, int *line, int *col)
{
	struct scan s = { .p = text, .line = 1, .col = 1 };
	char seg[JPATH_LEN];
	size_t n;

	if (!text || !jpath || (*jpath && *jpath != '/'))
		return -ENOENT;
	sc_ws(&s);
	if (!*s.p)
		return -ENOENT;
	while (*jpath) {
		bool last;

		if (next_token(&jpath, seg, sizeof(seg), &n) < 0)
			return -ENOENT;
		last = *jpath == '\0';
		if (*s.p == '{') {
			sc_adv(&s);
			for (;;) {
				struct scan key;
				const char *b, *e;

				sc_ws(&s);
				if (*s.p != '"')
					return -ENOENT;
				key = s;
				if (sc_string(&s, &b, &e) < 0)
					return -ENOENT;
				sc_ws(&s);
				if (*s.p != ':')
					return -ENOENT;
				sc_adv(&s);
				sc_ws(&s);
				if (key_equals(b, e, seg, n)) {
					if (last) {
						s = key;
						goto found;
					}
					break;
				}
				if (sc_value(&s) < 0)
					return -ENOENT;
				sc_ws(&s);
				if (*s.p != ',')
					return -ENOENT;
				sc_adv(&s);
			}
		} else if (*s.p == '[') {
			unsigned long idx;

			if (!parse_index(seg, n, &idx))
				return -ENOENT;
			sc_adv(&s);
			for (unsigned long i = 0;; i++) {
				sc_ws(&s);
				if (*s.p == ']' || !*s.p)
					return -ENOENT;
				if (i == idx)
					break;
				if (sc_value(&s) < 0)
					return -ENOENT;
				sc_ws(&s);
				if (*s.p != ',')
					return -ENOENT;
				sc_adv(&s);
			}
		} else {
			return -ENOENT;
		}
	}
found:
	if (line)
		*line = s.line;
	if (col)
		*col = s.col;
	return 0;
}

/* ---- error reporting and typed getters -------------------------------- */

static void put_err(const struct policy_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put_err(const struct policy_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->err || !c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	/* keys and values from the document may hold control characters: one line, always */
	for (char *p = c->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int policy_fail(const struct policy_ctx *c, const char *jpath, const char *fmt, ...)
{
	char msg[MSG_LEN];
	const char *sep = *jpath ? ": " : "";
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (policy_locate(c->text, jpath, &line, &col) == 0)
		put_err(c, "%s:%d:%d: %s%s%s", c->name, line, col, jpath, sep, msg);
	else
		put_err(c, "%s: %s%s%s", c->name, jpath, sep, msg);
	return -EINVAL;
}

int policy_jpath_key(char *buf, size_t len, const char *parent, const char *key)
{
	size_t k = strlen(parent);

	if (k + 1 >= len)
		return -ENAMETOOLONG;
	memmove(buf, parent, k);
	buf[k++] = '/';
	for (; *key; key++) {
		const char *rep = *key == '~' ? "~0" : *key == '/' ? "~1" : NULL;
		size_t m = rep ? 2 : 1;

		if (k + m >= len)
			return -ENAMETOOLONG;
		if (rep)
			memcpy(buf + k, rep, 2);
		else
			buf[k] = *key;
		k += m;
	}
	buf[k] = '\0';
	return 0;
}

int policy_jpath_index(char *buf, size_t len, const char *parent, size_t index)
{
	char tmp[JPATH_LEN];
	int n = snprintf(tmp, sizeof(tmp), "%s/%zu", parent, index);

	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(buf, tmp, (size_t)n + 1);
	return 0;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* The child path for messages; on overflow the parent is used (still locatable). */
static const char *child(char *buf, const char *parent, const char *key)
{
	if (policy_jpath_key(buf, JPATH_LEN, parent, key) < 0)
		return parent;
	return buf;
}

int policy_check_object(const struct policy_ctx *c, const char *jpath, const json_t *v,
			const char *const allowed[])
{
	char cp[JPATH_LEN], list[MSG_LEN / 2];
	const char *key;
	json_t *val;
	size_t k = 0;

	if (!json_is_object(v))
		return policy_fail(c, jpath, "expected object, got %s", type_name(v));
	json_object_foreach((json_t *)v, key, val) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i])
			continue;
		list[0] = '\0';
		for (i = 0; allowed[i] && k < sizeof(list); i++) {
			int n = snprintf(list + k, sizeof(list) - k, "%s%s", i ? ", " : "", allowed[i]);

			if (n < 0)
				break;
			k += (size_t)n;
		}
		return policy_fail(c, child(cp, jpath, key), "unknown key (allowed: %s)", list);
	}
	return 0;
}

int policy_get_bool(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		    const char *key, bool *out)
{
	char cp[JPATH_LEN];
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return policy_fail(c, child(cp, jpath, key), "expected boolean, got %s", type_name(v));
	*out = json_is_true(v);
	return 0;
}

int policy_get_int(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		   const char *key, json_int_t min, json_int_t max, json_int_t *out)
{
	char cp[JPATH_LEN];
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return policy_fail(c, child(cp, jpath, key), "expected integer, got %s", type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max)
		return policy_fail(c, child(cp, jpath, key),
				   "%" JSON_INTEGER_FORMAT " is out of range %" JSON_INTEGER_FORMAT
				   "..%" JSON_INTEGER_FORMAT, n, min, max);
	*out = n;
	return 0;
}

int policy_get_severity(const struct policy_ctx *c, const char *jpath, const json_t *obj,
			const char *key, int *out)
{
	char cp[JPATH_LEN];
	json_t *v = json_object_get(obj, key);
	int sev;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return policy_fail(c, child(cp, jpath, key), "expected string, got %s", type_name(v));
	sev = severity_parse(json_string_value(v));
	if (sev < 0)
		return policy_fail(c, child(cp, jpath, key),
				   "unknown severity \"%.64s\" (allowed: informational, low, medium, high)",
				   json_string_value(v));
	*out = sev;
	return 0;
}

/*
 * Checks a path and copies it without trailing '/': absolute, no empty, "."
 * or ".." component (the kernel filter compares prefixes byte by byte, so
 * only one spelling of a directory can match), shorter than maxlen bytes.
 */
static int check_path(const struct policy_ctx *c, const char *jpath, const json_t *v,
		      size_t maxlen, char **out)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (n == 0)
		return policy_fail(c, jpath, "empty path");
	if (s[0] != '/')
		return policy_fail(c, jpath, "\"%.200s\" is not an absolute path", s);
	while (n > 1 && s[n - 1] == '/')
		n--;
	for (const char *p = s + 1; p < s + n;) {
		const char *e = memchr(p, '/', (size_t)(s + n - p));
		size_t m = e ? (size_t)(e - p) : (size_t)(s + n - p);

		if (m == 0 || (m == 1 && p[0] == '.') || (m == 2 && p[0] == '.' && p[1] == '.'))
			return policy_fail(c, jpath, "\"%.200s\" is not a normalised path "
					   "(empty, \".\" or \"..\" component)", s);
		p += m + 1;
	}
	if (n >= maxlen)
		return policy_fail(c, jpath, "path is %zu bytes, at most %zu allowed", n, maxlen - 1);
	if (!(*out = strndup(s, n)))
		return -ENOMEM;
	return 0;
}

int policy_get_string(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		      const char *key, unsigned flags, size_t maxlen, char **out)
{
	char cp[JPATH_LEN];
	const char *path = child(cp, jpath, key);
	json_t *v = json_object_get(obj, key);
	char *s = NULL;
	size_t n;

	if (!v)
		return 0;
	if (json_is_null(v) && (flags & POLICY_STR_NULLABLE))
		goto done;
	if (!json_is_string(v))
		return policy_fail(c, path, "expected %s, got %s",
				   flags & POLICY_STR_NULLABLE ? "string or null" : "string", type_name(v));
	if (flags & POLICY_STR_ABSPATH) {
		int r = check_path(c, path, v, maxlen, &s);

		if (r < 0)
			return r;
		goto done;
	}
	n = json_string_length(v);
	if (n == 0)
		return policy_fail(c, path, "empty string");
	if (n >= maxlen)
		return policy_fail(c, path, "string is %zu bytes, at most %zu allowed", n, maxlen - 1);
	if (!(s = strdup(json_string_value(v))))
		return -ENOMEM;
done:
	free(*out);
	*out = s;
	return 0;
}

void policy_strv_free(struct policy_strv *sv)
{
	if (!sv)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int policy_get_paths(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		     const char *key, size_t max, size_t maxlen, struct policy_strv *out)
{
	char cp[JPATH_LEN], ip[JPATH_LEN];
	const char *path = child(cp, jpath, key);
	json_t *v = json_object_get(obj, key), *item;
	struct policy_strv sv = { 0 };
	size_t i;
	int r = 0;

	if (!v)
		return 0;
	if (!json_is_array(v))
		return policy_fail(c, path, "expected array, got %s", type_name(v));
	if (json_array_size(v) && !(sv.v = calloc(json_array_size(v), sizeof(*sv.v))))
		return -ENOMEM;
	json_array_foreach(v, i, item) {
		const char *where = policy_jpath_index(ip, sizeof(ip), path, i) < 0 ? path : ip;

		if (i >= max) {
			r = policy_fail(c, where, "too many entries (at most %zu)", max);
			goto out;
		}
		if (!json_is_string(item)) {
			r = policy_fail(c, where, "expected string, got %s", type_name(item));
			goto out;
		}
		r = check_path(c, where, item, maxlen, &sv.v[sv.n]);
		if (r < 0)
			goto out;
		sv.n++;
		for (size_t j = 0; j + 1 < sv.n; j++) {
			if (strcmp(sv.v[j], sv.v[sv.n - 1]) == 0) {
				r = policy_fail(c, where, "\"%.200s\" is listed twice (also entry %zu)",
						sv.v[j], j);
				goto out;
			}
		}
	}
	policy_strv_free(out);
	*out = sv;
	sv = (struct policy_strv){ 0 };
out:
	policy_strv_free(&sv);
	return r;
}

/* ---- the document ----------------------------------------------------- */

static const char *const default_watch[] = {
	"/etc", "/usr/bin", "/usr/sbin", "/usr/lib/systemd/system", "/boot", "/root/.ssh",
};
static const char *const default_ww_dirs[] = { "/tmp", "/var/tmp", "/dev/shm" };

static int strv_set(struct policy_strv *sv, const char *const *src, size_t n)
{
	if (!(sv->v = calloc(n, sizeof(*sv->v))))
		return -ENOMEM;
	for (sv->n = 0; sv->n < n; sv->n++)
		if (!(sv->v[sv->n] = strdup(src[sv->n])))
			return -ENOMEM;
	return 0;
}

static struct vigil_policy *policy_new_default(const char *name)
{
	struct vigil_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->sensor_exec = p->sensor_file = p->sensor_network = true;
	p->tel_exec = p->tel_file = p->tel_network = true;
	p->tel_fork_exit = false;
	p->out_max_bytes = 64ull << 20;
	p->out_keep = 5;
	p->out_compress = true;
	p->control_group = NULL;
	p->rule_ww_enabled = true;
	p->rule_ww_severity = VIGIL_SEV_MEDIUM;
	if (!(p->source = strdup(name)) ||
	    strv_set(&p->file_watch, default_watch, sizeof(default_watch) / sizeof(*default_watch)) ||
	    strv_set(&p->rule_ww_dirs, default_ww_dirs, sizeof(default_ww_dirs) / sizeof(*default_ww_dirs))) {
		policy_free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

static const char *const top_keys[] = {
	"version", "host", "sensors", "file", "telemetry", "output", "control", "rules",
	/* Feature sections: only their being objects is checked here; their
	 * parsers (policy_parse_<section>) live in the feature modules and read
	 * them from p->doc. */
	"aac", "jit", "fim", "detections", "forward", "self_protection",
	NULL,
};
static const char *const feature_sections[] = { "aac", "jit", "fim", "detections", "forward", "self_protection", NULL };

static int parse_sections(const struct policy_ctx *c, json_t *doc, struct vigil_policy *p)
{
	static const char *const host_keys[] = { "name", NULL };
	static const char *const sensor_keys[] = { "exec", "file", "network", NULL };
	static const char *const file_keys[] = { "watch", NULL };
	static const char *const tel_keys[] = { "exec", "fork_exit", "file", "network", NULL };
	static const char *const out_keys[] = { "max_bytes", "keep", "compress", NULL };
	static const char *const ctl_keys[] = { "group", NULL };
	static const char *const rules_keys[] = { "exec_world_writable", NULL };
	static const char *const ww_keys[] = { "enabled", "severity", "dirs", NULL };
	json_t *v, *sec;
	json_int_t n;
	int r;

	if (!json_is_object(doc))
		return policy_fail(c, "", "a policy is a JSON object, got %s", type_name(doc));

	/* version first: a future format is rejected as such, not key by key */
	if (!(v = json_object_get(doc, "version")))
		return policy_fail(c, "", "missing required key \"version\" (this vigil reads version %d)",
				   POLICY_VERSION);
	if (!json_is_integer(v))
		return policy_fail(c, "/version", "expected integer, got %s", type_name(v));
	if (json_integer_value(v) != POLICY_VERSION)
		return policy_fail(c, "/version", "unsupported version %" JSON_INTEGER_FORMAT
				   " (this vigil reads version %d)", json_integer_value(v), POLICY_VERSION);
	if ((r = policy_check_object(c, "", doc, top_keys)) < 0)
		return r;

	if ((sec = json_object_get(doc, "host"))) {
		if ((r = policy_check_object(c, "/host", sec, host_keys)) < 0 ||
		    (r = policy_get_string(c, "/host", sec, "name", 0, 256, &p->host_name)) < 0)
			return r;
	}
	if ((sec = json_object_get(doc, "sensors"))) {
		if ((r = policy_check_object(c, "/sensors", sec, sensor_keys)) < 0 ||
		    (r = policy_get_bool(c, "/sensors", sec, "exec", &p->sensor_exec)) < 0 ||
		    (r = policy_get_bool(c, "/sensors", sec, "file", &p->sensor_file)) < 0 ||
		    (r = policy_get_bool(c, "/sensors", sec, "network", &p->sensor_network)) < 0)
			return r;
	}
	if ((sec = json_object_get(doc, "file"))) {
		if ((r = policy_check_object(c, "/file", sec, file_keys)) < 0 ||
		    (r = policy_get_paths(c, "/file", sec, "watch", VIGIL_MAX_PREFIXES,
					  VIGIL_PREFIX_LEN, &p->file_watch)) < 0)
			return r;
	}
	if ((sec = json_object_get(doc, "telemetry"))) {
		if ((r = policy_check_object(c, "/telemetry", sec, tel_keys)) < 0 ||
		    (r = policy_get_bool(c, "/telemetry", sec, "exec", &p->tel_exec)) < 0 ||
		    (r = policy_get_bool(c, "/telemetry", sec, "fork_exit", &p->tel_fork_exit)) < 0 ||
		    (r = policy_get_bool(c, "/telemetry", sec, "file", &p->tel_file)) < 0 ||
		    (r = policy_get_bool(c, "/telemetry", sec, "network", &p->tel_network)) < 0)
			return r;
	}
	if ((sec = json_object_get(doc, "output"))) {
		if ((r = policy_check_object(c, "/output", sec, out_keys)) < 0)
			return r;
		n = (json_int_t)p->out_max_bytes;
		if ((r = policy_get_int(c, "/output", sec, "max_bytes", 0, (json_int_t)LLONG_MAX, &n)) < 0)
			return r;
		if (n > 0 && n < 4096)
			return policy_fail(c, "/output/max_bytes",
					   "%" JSON_INTEGER_FORMAT " is too small (0 = no rotation, "
					   "otherwise at least 4096)", n);
		p->out_max_bytes = (uint64_t)n;
		n = p->out_keep;
		if ((r = policy_get_int(c, "/output", sec, "keep", 0, 100, &n)) < 0 ||
		    (r = policy_get_bool(c, "/output", sec, "compress", &p->out_compress)) < 0)
			return r;
		p->out_keep = (int)n;
	}
	if ((sec = json_object_get(doc, "control"))) {
		/* 32 bytes: the longest group name shadow-utils accepts */
		if ((r = policy_check_object(c, "/control", sec, ctl_keys)) < 0 ||
		    (r = policy_get_string(c, "/control", sec, "group", POLICY_STR_NULLABLE, 33,
					   &p->control_group)) < 0)
			return r;
	}
	if ((sec = json_object_get(doc, "rules"))) {
		if ((r = policy_check_object(c, "/rules", sec, rules_keys)) < 0)
			return r;
		if ((v = json_object_get(sec, "exec_world_writable"))) {
			const char *w = "/rules/exec_world_writable";

			if ((r = policy_check_object(c, w, v, ww_keys)) < 0 ||
			    (r = policy_get_bool(c, w, v, "enabled", &p->rule_ww_enabled)) < 0 ||
			    (r = policy_get_severity(c, w, v, "severity", &p->rule_ww_severity)) < 0 ||
			    (r = policy_get_paths(c, w, v, "dirs", VIGIL_MAX_PREFIXES,
						  VIGIL_PREFIX_LEN, &p->rule_ww_dirs)) < 0)
				return r;
		}
	}
	for (const char *const *f = feature_sections; *f; f++) {
		char jp[JPATH_LEN];

		if ((sec = json_object_get(doc, *f)) && !json_is_object(sec))
			return policy_fail(c, child(jp, "", *f), "expected object, got %s", type_name(sec));
	}
	for (const struct policy_section *ps = policy_sections; ps->name; ps++) {
		char jp[JPATH_LEN];

		if (!ps->parse)
			continue;
		sec = json_object_get(doc, ps->name);
		r = ps->parse(c, child(jp, "", ps->name), sec, &p->feature[ps->id]);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Reports a jansson load error.  Syntax errors keep jansson's own line and
 * column; a duplicate key is pointed at its opening quote (jansson points at
 * the closing one) so that it agrees with the other key errors.
 */
static int load_error(const struct policy_ctx *c, const json_error_t *je)
{
	int line = je->line, col = je->column < 1 ? 1 : je->column;

#if JANSSON_VERSION_HEX >= 0x020b00
	if (json_error_code(je) == json_error_duplicate_key && je->position > 0 &&
	    (size_t)je->position <= strlen(c->text)) {
		const char *end = c->text + je->position - 1, *b = end;
		struct scan s = { .p = c->text, .line = 1, .col = 1 };

		/* back to the unescaped opening quote: a quote inside a JSON string is escaped */
		while (b > c->text) {
			const char *q = --b;
			size_t bs = 0;

			while (q > c->text && q[-1] == '\\')
				q--, bs++;
			if (*b == '"' && bs % 2 == 0)
				break;
		}
		if (*b == '"' && *end == '"' && b < end) {
			while (s.p < b)
				sc_adv(&s);
			put_err(c, "%s:%d:%d: duplicate key \"%.*s\"", c->name, s.line, s.col,
				(int)(end - b - 1 > 200 ? 200 : end - b - 1), b + 1);
			return -EINVAL;
		}
	}
#endif
	if (line < 1)
		put_err(c, "%s: %s", c->name, je->text);
	else
		put_err(c, "%s:%d:%d: %s", c->name, line, col, je->text);
	return -EINVAL;
}

static int load_text(const char *text, size_t len, const char *name, struct vigil_policy **out,
		     char *err, size_t errlen)
{
	struct policy_ctx c = { .text = text, .name = name, .err = err, .errlen = errlen };
	struct vigil_policy *p = NULL;
	json_error_t je;
	json_t *doc;
	int r;

	*out = NULL;
	/* json_loadb: a NUL byte inside the file is an error, not the end of the policy */
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return load_error(&c, &je);
	if (!(p = policy_new_default(name))) {
		r = -ENOMEM;
		put_err(&c, "%s: %s", name, strerror(ENOMEM));
		goto fail;
	}
	r = parse_sections(&c, doc, p);
	if (r == -ENOMEM)
		put_err(&c, "%s: %s", name, strerror(ENOMEM));
	if (r < 0)
		goto fail;
	p->doc = doc;
	*out = p;
	return 0;
fail:
	json_decref(doc);
	policy_free(p);
	return r;
}

int policy_load_string(const char *text, const char *name, struct vigil_policy **out,
		       char *err, size_t errlen)
{
	if (!name)
		name = "<string>";
	if (!text || !out) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", name, strerror(EINVAL));
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return load_text(text, strlen(text), name, out, err, errlen);
}

int policy_load(const char *path, struct vigil_policy **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!path)
		return -EINVAL;
	if (!(text = util_read_file(path, POLICY_FILE_MAX, &len))) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	r = load_text(text, len, path, out, err, errlen);
	free(text);
	return r;
}

void policy_free(struct vigil_policy *p)
{
	if (!p)
		return;
	free(p->source);
	free(p->host_name);
	free(p->control_group);
	policy_strv_free(&p->file_watch);
	policy_strv_free(&p->rule_ww_dirs);
	for (const struct policy_section *ps = policy_sections; ps->name; ps++)
		if (p->feature[ps->id] && ps->free_fn)
			ps->free_fn(p->feature[ps->id]);
	json_decref(p->doc);
	free(p);
}
