/* Unit tests for the file record decoders: the direct writer (event_file_write, the events
 * log's hot path) gives byte for byte what event_file_to_json + jsonx_dump_line give. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "event.h"
#include "jsonx.h"

union rec {
	struct vigil_file f;
	unsigned char raw[sizeof(struct vigil_file) + 512];
};

/* A file record with path p1 (n1 bytes) and path2 p2 (n2 bytes, NULL = none). Returns its size. */
static size_t build(union rec *r, unsigned op, uint32_t flags, const char *p1, size_t n1,
		    const char *p2, size_t n2)
{
	memset(r, 0, sizeof(*r));
	r->f.hdr.type = VIGIL_EV_FILE;
	r->f.hdr.flags = flags;
	r->f.op = (uint16_t)op;
	r->f.path_len = (uint16_t)(n1 + 1);
	memcpy(r->f.data, p1, n1);
	if (p2) {
		r->f.path2_len = (uint16_t)(n2 + 1);
		memcpy(r->f.data + n1 + 1, p2, n2);
	}
	r->f.hdr.size = (uint16_t)(sizeof(r->f) + r->f.path_len + r->f.path2_len);
	return r->f.hdr.size;
}

/* "file" written directly equals "file" of event_file_to_json() dumped by jansson. */
static void check_same(const union rec *r, size_t len, const char *ctx)
{
	struct jsonx_buf b = { 0 };
	json_t *obj = json_object();
	char *want;
	int r1, r2;

	r1 = event_file_to_json(&r->f, len, obj);
	r2 = event_file_write(&r->f, len, &b);
	if (r1 != r2)
		fail_msg("%s: return codes differ: to_json %d, write %d", ctx, r1, r2);
	if (r1) {
		free(b.p);
		json_decref(obj);
		return;
	}
	want = jsonx_dump_line(json_object_get(obj, "file"));
	assert_non_null(want);
	assert_non_null(b.p);
	if (strlen(want) != b.len || memcmp(want, b.p, b.len))
		fail_msg("%s:\n  expected %s\n  seen     %.*s", ctx, want, (int)b.len, b.p);
	free(want);
	free(b.p);
	json_decref(obj);
}

static void test_every_op_and_flag(void **state)
{
	static const char *const names[][2] = {
		{ "/etc/passwd", NULL },
		{ "/etc/ld.so.preload", "/tmp/x" },
		{ "/tmp/caf\xc3\xa9\xff\x01\"\\q", "bad\xc0\xaf\ttab\nnl" },
		{ "/x", "" },
	};
	union rec r;
	char ctx[96];

	(void)state;
	for (unsigned op = 1; op < VIGIL_FOP_MAX; op++) {
		for (uint32_t fl = 0; fl < 16; fl++) {
			uint32_t flags = (fl & 1 ? VIGIL_F_FILE_CREATED : 0) | (fl & 2 ? VIGIL_F_FILE_TRUNC : 0) |
					 (fl & 4 ? VIGIL_F_FILE_REPLACED : 0) | (fl & 8 ? VIGIL_F_FILE_PATH_TRUNC : 0);

			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
				const char *p2 = names[k][1];
				size_t len = build(&r, op, flags, names[k][0], strlen(names[k][0]), p2,
						   p2 ? strlen(p2) : 0);

				r.f.open_flags = 0101 + op;
				r.f.mode = (op % 4 == 0 ? 0040755 : 0100644) + op;
				r.f.dev = 0xfd00001ull + k;
				r.f.ino = 0xfffffffffffffff0ull + op;      /* above INT64_MAX: printed signed */
				r.f.old_ino = 77 + fl;
				r.f.uid_arg = fl & 1 ? UINT32_MAX : 01777 + op;
				r.f.gid_arg = fl & 2 ? UINT32_MAX : 1000;
				r.f.nlink = op;
				r.f.ret = (int32_t)op - 7;
				snprintf(ctx, sizeof(ctx), "op %u flags %#x names %zu", op, flags, k);
				check_same(&r, len, ctx);
			}
		}
	}
}

static void test_malformed_agree(void **state)
{
	union rec r;
	size_t len;

	(void)state;
	len = build(&r, VIGIL_FOP_RENAME, 0, "/a/b", 4, "/c", 2);
	check_same(&r, len - 1, "short by one");
	r.f.op = VIGIL_FOP_MAX;
	check_same(&r, len, "op out of range");
	len = build(&r, VIGIL_FOP_UNLINK, 0, "/a/b", 4, NULL, 0);
	r.f.data[1] = 0;   /* NUL inside the path */
	check_same(&r, len, "NUL inside path");
	len = build(&r, VIGIL_FOP_UNLINK, 0, "/a/b", 4, NULL, 0);
	r.f.data[4] = 'x'; /* path not NUL-terminated */
	check_same(&r, len, "unterminated path");
	{
		struct jsonx_buf b = { 0 };

		assert_int_equal(event_file_write(&r.f, len, &b), -EINVAL);
		free(b.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_op_and_flag),
		cmocka_unit_test(test_malformed_agree),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
