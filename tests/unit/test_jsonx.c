/* Unit tests for jsonx: any bytes in, valid UTF-8 JSON out, exact bytes recoverable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "jsonx.h"

#define FFFD "\xef\xbf\xbd"

/* Prints both sides as escaped bytes, then fails. */
static void show_bytes(const char *what, const char *p, size_t n)
{
	size_t i;

	fprintf(stderr, "  %s (%zu bytes): \"", what, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"\n");
}

static void assert_bytes_eq(const char *exp, size_t exp_len, const char *seen, size_t seen_len,
			    const char *ctx)
{
	if (exp_len == seen_len && memcmp(exp, seen, exp_len) == 0)
		return;
	fprintf(stderr, "mismatch in %s\n", ctx);
	show_bytes("expected", exp, exp_len);
	show_bytes("seen", seen, seen_len);
	fail_msg("%s: bytes differ (expected %zu bytes, seen %zu)", ctx, exp_len, seen_len);
}

/* Bytes in -> expected decoded string after a dump/re-parse round trip, lossless flag. */
struct case_ {
	const char *name;
	const char *in;
	size_t in_len;
	const char *want;
	size_t want_len;
	bool lossless;
};

#define C(name, in, want, ll) { name, in, sizeof(in) - 1, want, sizeof(want) - 1, ll }

static const struct case_ cases[] = {
	C("newline", "a\nb", "a\nb", true),
	C("lone continuation 0x80", "\x80", FFFD, false),
	C("ESC", "x\x1b[31my", "x\x1b[31my", true),
	C("overlong slash c0 af", "/\xc0\xaf/", "/" FFFD FFFD "/", false),
	C("overlong e0 80 af", "\xe0\x80\xaf", FFFD FFFD FFFD, false),
	C("surrogate ed a0 80", "a\xed\xa0\x80z", "a" FFFD FFFD FFFD "z", false),
	C("above U+10FFFF f4 90 80 80", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, false),
	C("f5 lead", "\xf5\x80", FFFD FFFD, false),
	C("4-byte emoji", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", true),
	C("U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", true),
	C("U+D7FF then U+E000", "\xed\x9f\xbf\xee\x80\x80", "\xed\x9f\xbf\xee\x80\x80", true),
	C("truncated 3-byte at end", "ok\xe2\x82", "ok" FFFD FFFD, false),
	C("truncated 4-byte then ascii", "\xf0\x9f\x98z", FFFD FFFD FFFD "z", false),
	C("mixed", "caf\xc3\xa9\xff\xf0\x9f\x98\x80\xc0\n\xe2\x82\xac",
	  "caf\xc3\xa9" FFFD "\xf0\x9f\x98\x80" FFFD "\n\xe2\x82\xac", false),
	C("embedded NUL", "a\0b", "a\0b", true),
	C("empty", "", "", true),
};

static void test_string_bytes_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *c = &cases[i];
		bool lossless = !c->lossless;
		json_t *obj = json_object(), *back, *js;
		json_error_t err;
		char *line;

		js = jsonx_string_bytes(c->in, c->in_len, &lossless);
		assert_non_null(js);
		if (lossless != c->lossless)
			fail_msg("%s: lossless expected %d, seen %d", c->name, c->lossless, lossless);
		assert_int_equal(json_object_set_new(obj, "s", js), 0);

		line = jsonx_dump_line(obj);
		if (!line)
			fail_msg("%s: jsonx_dump_line returned NULL", c->name);
		if (strchr(line, '\n'))
			fail_msg("%s: dumped line holds a raw newline: %s", c->name, line);
		back = json_loads(line, JSON_ALLOW_NUL, &err);
		if (!back) {
			show_bytes("dumped", line, strlen(line));
			fail_msg("%s: expected valid JSON, seen a parse error (%s)", c->name, err.text);
		}
		js = json_object_get(back, "s");
		assert_true(json_is_string(js));
		assert_bytes_eq(c->want, c->want_len, json_string_value(js), json_string_length(js),
				c->name);
		json_decref(back);
		free(line);
		json_decref(obj);
	}
}

static void test_set_bytes_b64(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *c = &cases[i];
		json_t *obj = json_object(), *back, *b64;
		json_error_t err;
		unsigned char *raw;
		size_t n = 0;
		char *line;

		assert_int_equal(jsonx_set_bytes(obj, "path", c->in, c->in_len), 0);
		line = jsonx_dump_line(obj);
		if (!line)
			fail_msg("%s: expected a dumped line, seen NULL (string not valid UTF-8?)", c->name);
		back = json_loads(line, JSON_ALLOW_NUL, &err);
		if (!back) {
			show_bytes("dumped", line, strlen(line));
			fail_msg("%s: expected valid JSON, seen a parse error (%s)", c->name, err.text);
		}
		b64 = json_object_get(back, "path_b64");
		if (c->lossless) {
			if (b64)
				fail_msg("%s: lossless input but path_b64 present: %s", c->name, line);
		} else {
			if (!json_is_string(b64))
				fail_msg("%s: lossy input but no path_b64: %s", c->name, line);
			raw = jsonx_base64_decode(json_string_value(b64), &n);
			assert_non_null(raw);
			assert_bytes_eq(c->in, c->in_len, (const char *)raw, n, c->name);
			free(raw);
		}
		json_decref(back);
		free(line);
		json_decref(obj);
	}
}

static void test_set_bytes_clears_stale_b64(void **state)
{
	json_t *obj = json_object();

	(void)state;
	assert_int_equal(jsonx_set_bytes(obj, "exe", "\xff", 1), 0);
	assert_non_null(json_object_get(obj, "exe_b64"));
	assert_int_equal(jsonx_set_str(obj, "exe", "/bin/sh"), 0);
	if (json_object_get(obj, "exe_b64"))
		fail_msg("expected exe_b64 removed after a clean value, seen it still set");
	assert_string_equal(json_string_value(json_object_get(obj, "exe")), "/bin/sh");
	json_decref(obj);
}

static void test_base64_vectors(void **state)
{
	/* RFC 4648 section 10 test vectors. */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++) {
		char *e = jsonx_base64((const unsigned char *)plain[i], strlen(plain[i]));
		unsigned char *d;
		size_t n = 99;

		assert_non_null(e);
		if (strcmp(e, enc[i]))
			fail_msg("base64(\"%s\"): expected \"%s\", seen \"%s\"", plain[i], enc[i], e);
		d = jsonx_base64_decode(e, &n);
		assert_non_null(d);
		assert_bytes_eq(plain[i], strlen(plain[i]), (const char *)d, n, enc[i]);
		free(d);
		free(e);
	}
}

static void test_base64_round_trip_all_bytes(void **state)
{
	unsigned char in[515];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (len = 0; len <= sizeof(in); len += (len < 16 ? 1 : 37)) {
		char *e = jsonx_base64(in, len);
		unsigned char *d;
		size_t n = 0;

		assert_non_null(e);
		assert_int_equal(strlen(e), (len + 2) / 3 * 4);
		d = jsonx_base64_decode(e, &n);
		assert_non_null(d);
		assert_bytes_eq((const char *)in, len, (const char *)d, n, "round trip");
		free(d);
		free(e);
	}
}

static void test_base64_decode_rejects(void **state)
{
	static const char *const bad[] = { "Z", "Zm9v!", "Zm=v", "====", "Zm9vY===", "Zg=\n" };
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *d = jsonx_base64_decode(bad[i], &n);

		if (d) {
			free(d);
			fail_msg("decode(\"%s\"): expected NULL (bad input), seen a buffer", bad[i]);
		}
	}
}

static void test_dump_line_order_and_compact(void **state)
{
	json_t *obj = json_object();
	char *line;

	(void)state;
	json_object_set_new(obj, "time", json_string("2026-12-06T09:10:11Z"));
	json_object_set_new(obj, "rule", json_string("r1"));
	json_object_set_new(obj, "a", json_integer(1));
	jsonx_set_str(obj, "title", "two\nlines");
	line = jsonx_dump_line(obj);
	assert_non_null(line);
	assert_string_equal(line,
		"{\"time\":\"2026-12-06T09:10:11Z\",\"rule\":\"r1\",\"a\":1,\"title\":\"two\\nlines\"}");
	free(line);
	json_decref(obj);
}

/* The direct writer gives what jansson gives for {"k":jsonx_set_bytes(..),"n":int}. */
static void check_writer(const char *in, size_t n, long long v, const char *ctx)
{
	struct jsonx_buf b = { 0 };
	json_t *obj = json_object();
	char *line;

	assert_int_equal(jsonx_set_bytes(obj, "k", in, n), 0);
	json_object_set_new(obj, "n", json_integer(v));
	line = jsonx_dump_line(obj);
	assert_non_null(line);
	jsonx_buf_raw(&b, "{", 1);
	jsonx_buf_key_bytes(&b, true, "k", in, n);
	jsonx_buf_key(&b, false, "n");
	jsonx_buf_int(&b, v);
	jsonx_buf_raw(&b, "}", 1);
	assert_int_equal(b.err, 0);
	assert_bytes_eq(line, strlen(line), b.p, b.len, ctx);
	free(line);
	free(b.p);
	json_decref(obj);
}

static void test_writer_matches_jansson(void **state)
{
	static const long long ints[] = { 0, -1, 1, 4294967295ll, -9223372036854775807ll - 1,
					  9223372036854775807ll };
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_writer(cases[i].in, cases[i].in_len, ints[i % 6], cases[i].name);
	/* every byte alone, and every byte between ASCII neighbours and after a lead byte */
	for (i = 0; i < 256; i++) {
		buf[0] = (char)i;
		check_writer(buf, 1, (long long)i, "single byte");
		snprintf(buf, sizeof(buf), "a%cz\xc3%c\"\\", (int)i, (int)i);
		check_writer(buf, 7, -(long long)i, "byte in context");
	}
	/* pseudo-random byte strings (fixed seed: reproducible) */
	srand(42);
	for (i = 0; i < 20000; i++) {
		size_t n = (size_t)rand() % sizeof(buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = (char)(rand() % 4 ? rand() % 256 : 0x80 + rand() % 64);
		check_writer(buf, n, (long long)rand() - RAND_MAX / 2, "random bytes");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_bytes_cases),
		cmocka_unit_test(test_set_bytes_b64),
		cmocka_unit_test(test_set_bytes_clears_stale_b64),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_round_trip_all_bytes),
		cmocka_unit_test(test_base64_decode_rejects),
		cmocka_unit_test(test_dump_line_order_and_compact),
		cmocka_unit_test(test_writer_matches_jansson),
	};

	return cmocka_run_group_tests_name("jsonx", tests, NULL, NULL);
}
