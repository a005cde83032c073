/*
 * libFuzzer target: the JSON writer (jsonx.h).  Any bytes in must give one line
 * of valid JSON that parses back, and the exact bytes must come back: from the
 * string itself when it was lossless, else from the "_b64" companion.  Also
 * checks jsonx_base64 / jsonx_base64_decode round-trip and that decoding
 * arbitrary text never misbehaves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "jsonx.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	json_t *obj = json_object(), *back, *s;
	json_error_t jerr;
	bool lossless = false;
	size_t n;

	/* the string alone: lossless iff the bytes were valid UTF-8 */
	s = jsonx_string_bytes(buf, size, &lossless);
	CHECK(s);
	if (lossless)
		CHECK(json_string_length(s) == size && !memcmp(json_string_value(s), buf, size));
	json_decref(s);

	/* in an object: dump, parse, recover */
	CHECK(obj);
	CHECK(jsonx_set_bytes(obj, "k", buf, size) == 0);
	char *line = jsonx_dump_line(obj);
	CHECK(line);
	CHECK(!strchr(line, '\n'));
	back = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	CHECK(back);
	s = json_object_get(back, "k");
	CHECK(json_is_string(s));
	const char *b64 = json_string_value(json_object_get(back, "k_b64"));
	CHECK(lossless == !b64);
	if (b64) {
		unsigned char *raw = jsonx_base64_decode(b64, &n);
		CHECK(raw && n == size && !memcmp(raw, buf, size));
		free(raw);
	} else {
		CHECK(json_string_length(s) == size && !memcmp(json_string_value(s), buf, size));
	}
	json_decref(back);
	free(line);

	/* a later clean value must remove a stale _b64 */
	CHECK(jsonx_set_bytes(obj, "k", "clean", 5) == 0);
	CHECK(!json_object_get(obj, "k_b64"));
	json_decref(obj);

	/* base64 both ways, and decoding of arbitrary text (NUL-terminated copy) */
	char *enc = jsonx_base64(data, size);
	CHECK(enc && strlen(enc) == (size + 2) / 3 * 4);
	unsigned char *dec = jsonx_base64_decode(enc, &n);
	CHECK(dec && n == size && !memcmp(dec, data, size));
	free(dec);
	free(enc);
	char *text = strndup(buf, size);
	CHECK(text);
	dec = jsonx_base64_decode(text, &n);
	free(dec);
	free(text);
	return 0;
}
