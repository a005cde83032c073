/*
 * JSON output helpers.  Filenames, argv and comm come from the kernel as raw
 * bytes; jansson only accepts valid UTF-8, so every string that leaves vigil
 * passes through jsonx_string_bytes(): valid sequences are kept, each byte
 * that is not part of one becomes U+FFFD, and jsonx_set_bytes() adds the exact
 * bytes in base64 so nothing is ever dropped (STYLE.md).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Length of the well-formed UTF-8 sequence starting at p (at most n bytes
 * available), or 0 when the byte at p does not start one.  The ranges are
 * table 3-7 of the Unicode standard ("Well-Formed UTF-8 Byte Sequences"):
 * they exclude overlong forms, the surrogates U+D800..U+DFFF and code points
 * above U+10FFFF.
 */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	unsigned char b0 = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (b0 < 0x80)
		return 1;
	if (b0 >= 0xc2 && b0 <= 0xdf)
		need = 2;
	else if (b0 >= 0xe0 && b0 <= 0xef)
		need = 3;
	else if (b0 >= 0xf0 && b0 <= 0xf4)
		need = 4;
	else
		return 0;

	/* The second byte's range depends on the first (overlongs, surrogates, > U+10FFFF). */
	if (b0 == 0xe0)
		lo = 0xa0;
	else if (b0 == 0xed)
		hi = 0x9f;
	else if (b0 == 0xf0)
		lo = 0x90;
	else if (b0 == 0xf4)
		hi = 0x8f;

	if (n < need)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

json_t *jsonx_string_bytes(const char *buf, size_t len, bool *lossless)
{
	const unsigned char *p = (const unsigned char *)buf;
	bool clean = true;
	char *out;
	size_t i = 0, o = 0;
	json_t *js;

	if (!buf)
		len = 0;
	/* Worst case: every byte becomes the 3-byte U+FFFD. */
	if (len > (SIZE_MAX - 1) / 3) {
		errno = ENOMEM;
		return NULL;
	}
	out = malloc(len * 3 + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	while (i < len) {
		size_t k = utf8_seq_len(p + i, len - i);

		if (k) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			out[o++] = (char)0xef;
			out[o++] = (char)0xbf;
			out[o++] = (char)0xbd;
			i++;
			clean = false;
		}
	}
	out[o] = '\0';
	/* Embedded NULs are valid UTF-8; jansson (>= 2.7) keeps them with the length form. */
	js = json_stringn_nocheck(out, o);
	free(out);
	if (!js) {
		errno = ENOMEM;
		return NULL;
	}
	if (lossless)
		*lossless = clean;
	return js;
}

int jsonx_set_bytes(json_t *obj, const char *key, const char *buf, size_t len)
{
	bool clean = true;
	json_t *js;
	char *b64key = NULL, *b64 = NULL;
	size_t klen;
	int err = 0;

	if (!obj || !key || !json_is_object(obj))
		return -EINVAL;
	js = jsonx_string_bytes(buf, len, &clean);
	if (!js)
		return -ENOMEM;
	if (json_object_set_new(obj, key, js) < 0)
		return -ENOMEM;

	klen = strlen(key);
	b64key = malloc(klen + sizeof("_b64"));
	if (!b64key)
		return -ENOMEM;
	memcpy(b64key, key, klen);
	memcpy(b64key + klen, "_b64", sizeof("_b64"));

	if (clean) {
		/* A stale _b64 from an earlier value would contradict the new string. */
		json_object_del(obj, b64key);
		goto out;
	}
	b64 = jsonx_base64((const unsigned char *)buf, len);
	if (!b64) {
		err = -ENOMEM;
		goto out;
	}
	if (json_object_set_new(obj, b64key, json_string(b64)) < 0)
		err = -ENOMEM;
out:
	free(b64);
	free(b64key);
	return err;
}

int jsonx_set_str(json_t *obj, const char *key, const char *s)
{
	return jsonx_set_bytes(obj, key, s ? s : "", s ? strlen(s) : 0);
}

char *jsonx_base64(const unsigned char *in, size_t n)
{
	size_t olen, i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3) {
		errno = ENOMEM;
		return NULL;
	}
	olen = (n + 2) / 3 * 4;
	out = malloc(olen + 1);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Accepts the padded form jsonx_base64() produces and, for robustness, the
 * unpadded one (RFC 4648 section 3.2).  Characters outside the alphabet,
 * misplaced '=' and a dangling single character are errors (EINVAL).
 */
unsigned char *jsonx_base64_decode(const char *s, size_t *n)
{
	size_t len, pad = 0, i, o = 0;
	unsigned char *out;
	uint32_t acc = 0;
	int bits = 0;

	if (!s) {
		errno = EINVAL;
		return NULL;
	}
	len = strlen(s);
	if (len % 4 == 0 && len >= 4) {
		if (s[len - 1] == '=')
			pad++;
		if (s[len - 2] == '=')
			pad++;
	}
	len -= pad;
	if (len % 4 == 1) {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(len / 4 * 3 + 3);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	if (n)
		*n = o;
	return out;
}

char *jsonx_dump_line(const json_t *obj)
{
	char *line;

	if (!obj) {
		errno = EINVAL;
		return NULL;
	}
	/*
	 * JSON_COMPACT never emits a newline between tokens and the encoder
	 * escapes control characters inside strings; jansson >= 2.8 keeps
	 * object keys in insertion order (JSON_PRESERVE_ORDER is kept for
	 * older versions).
	 */
	errno = 0;
	line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!line) {
		/* json_dumps fails on ENOMEM or on a string that is not UTF-8 (nocheck). */
		errno = errno ? errno : EINVAL;
		return NULL;
	}
	if (strchr(line, '\n')) {
		free(line);
		errno = EINVAL;
		return NULL;
	}
	return line;
}

/* Room for n more bytes (and a NUL); false (err set) on ENOMEM. */
static bool buf_room(struct jsonx_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return false;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void jsonx_buf_raw(struct jsonx_buf *b, const char *s, size_t n)
{
	if (!buf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void jsonx_buf_str(struct jsonx_buf *b, const char *s, size_t n, bool *lossless)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	bool clean = true;
	size_t i = 0;
	char *o;

	/* worst case: every byte becomes \u00XX (6) or U+FFFD (3), plus the quotes */
	if (n > (SIZE_MAX - 3) / 6 || !buf_room(b, n * 6 + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
	while (i < n) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_seq_len(p + i, n - i);

			if (k) {
				memcpy(o, p + i, k);
				o += k;
				i += k;
			} else {
				*o++ = (char)0xef;
				*o++ = (char)0xbf;
				*o++ = (char)0xbd;
				i++;
				clean = false;
			}
			continue;
		}
		/* the escapes of jansson's dump_string() */
		*o++ = '\\';
		switch (c) {
		case '"':  *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
			break;
		}
		i++;
	}
	*o++ = '"';
	*o = 0;
	b->len = (size_t)(o - b->p);
	if (lossless)
		*lossless = clean;
}

void jsonx_buf_int(struct jsonx_buf *b, long long v)
{
	char num[24], *o = num + sizeof(num);
	/* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do {
		*--o = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--o = '-';
	jsonx_buf_raw(b, o, (size_t)(num + sizeof(num) - o));
}

void jsonx_buf_key(struct jsonx_buf *b, bool first, const char *key)
{
	size_t n = strlen(key);

	if (!buf_room(b, n + 4))
		return;
	if (!first)
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, key, n);
	b->len += n;
	b->p[b->len++] = '"';
	b->p[b->len++] = ':';
	b->p[b->len] = 0;
}

void jsonx_buf_key_bytes(struct jsonx_buf *b, bool first, const char *key, const char *s, size_t n)
{
	bool clean = true;
	char *b64;

	jsonx_buf_key(b, first, key);
	jsonx_buf_str(b, s, n, &clean);
	if (clean || b->err)
		return;
	b64 = jsonx_base64((const unsigned char *)s, n);
	if (!b64) {
		b->err = -ENOMEM;
		return;
	}
	jsonx_buf_raw(b, ",\"", 2);
	jsonx_buf_raw(b, key, strlen(key));
	jsonx_buf_raw(b, "_b64\":\"", 7);
	jsonx_buf_raw(b, b64, strlen(b64));
	jsonx_buf_raw(b, "\"", 1);
	free(b64);
}
