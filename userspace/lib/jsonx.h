/* JSON output helpers: any bytes in, valid UTF-8 JSON out (STYLE.md: escape, never drop). */
#ifndef VIGIL_JSONX_H
#define VIGIL_JSONX_H

#include <float.h>
#include <stddef.h>
#include <stdbool.h>
#include <jansson.h>

/*
 * Returns a new JSON string for bytes buf[0..len): valid UTF-8 sequences are
 * kept (control characters are escaped by the JSON encoder), each byte that is
 * not part of a valid UTF-8 sequence becomes U+FFFD.  *lossless (may be NULL)
 * is set to false when a byte was replaced.  New reference; NULL on ENOMEM.
 */
json_t *jsonx_string_bytes(const char *buf, size_t len, bool *lossless);

/*
 * Sets obj[key] to jsonx_string_bytes(buf, len); when a byte had to be replaced
 * it also sets obj[key + "_b64"] to the exact bytes, base64 (RFC 4648), so the
 * original is always recoverable.  Returns 0 or -ENOMEM.
 */
int jsonx_set_bytes(json_t *obj, const char *key, const char *buf, size_t len);

/* Same for a NUL-terminated C string. */
int jsonx_set_str(json_t *obj, const char *key, const char *s);

/* Base64 (RFC 4648, with padding) of n bytes into a new malloc'd string; NULL on ENOMEM. */
char *jsonx_base64(const unsigned char *in, size_t n);
/* Decodes base64; returns a new buffer (caller frees) and *n, or NULL on bad input. */
unsigned char *jsonx_base64_decode(const char *s, size_t *n);

/*
 * json_dumps flag for user-facing output with reals (scores): DBL_DIG (15) significant digits
 * instead of jansson's 17, so a real that is a short decimal, such as a score rounded to 2
 * decimals by score_round2(), is written as itself (66.67, not 66.670000000000002).  Any real
 * still keeps 15 significant digits, and parses back to the same 2-decimal value.
 */
#define JSONX_REAL_DIGITS JSON_REAL_PRECISION(DBL_DIG)

/* Serialises obj as one compact line (no newline) into a new malloc'd string. */
char *jsonx_dump_line(const json_t *obj);

/*
 * Direct writer for hot paths: appends JSON text to a growing buffer without building
 * json_t objects, byte for byte what jsonx_dump_line() gives for the same values (compact
 * separators; strings escaped as jansson's encoder does: \" \\ \b \f \n \r \t, other
 * controls as \u00XX; invalid UTF-8 replaced as in jsonx_string_bytes()).  A failed
 * allocation sets err (-ENOMEM) and later calls do nothing; check it once at the end.
 * The buffer (p) is owned by the caller: free() it, or keep it for reuse (len = 0).
 */
struct jsonx_buf {
	char *p;
	size_t len, cap;
	int err;
};

/* Raw text (already JSON). */
void jsonx_buf_raw(struct jsonx_buf *b, const char *s, size_t n);
/* A string value for bytes s[0..n); *lossless (may be NULL) as in jsonx_string_bytes(). */
void jsonx_buf_str(struct jsonx_buf *b, const char *s, size_t n, bool *lossless);
/* An integer value, as jansson prints json_integer(). */
void jsonx_buf_int(struct jsonx_buf *b, long long v);
/* "key":"bytes" and, when a byte was replaced, ,"key_b64":"..." (jsonx_set_bytes()); prefixed by
 * a comma unless first.  key is plain ASCII without characters to escape. */
void jsonx_buf_key_bytes(struct jsonx_buf *b, bool first, const char *key, const char *s, size_t n);
/* "key": prefixed by a comma unless first (key as above); the value follows. */
void jsonx_buf_key(struct jsonx_buf *b, bool first, const char *key);

#endif
