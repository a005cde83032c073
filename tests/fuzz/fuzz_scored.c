/*
 * libFuzzer target: vigil-scored's request handling (scored_handle: routing,
 * authentication, JSON body and query parsing, every handler) on an in-memory
 * database that persists between inputs, as the service's does.
 *
 * Input: "METHOD PATH[?k=v&...]\nROLE\nBODY" where ROLE is agent, reader,
 * operator or anything else (no Authorization header).  The reply must have a
 * valid HTTP status and a JSON object body, {"error": "..."} on 4xx/5xx.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "scored.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#define NARGS 16

static struct scored_db *db;
static struct scored *srv;
static char auth[3][80];   /* "Bearer <token>" for agent (host "web-01"), reader, operator */

static void setup(void)
{
	char err[256], tok[65];
	static const char *const names[] = { "web-01", "grafana", "alice" };
	static const int roles[] = { SCORED_ROLE_AGENT, SCORED_ROLE_READER, SCORED_ROLE_OPERATOR };

	CHECK(scored_db_open(":memory:", &db, err, sizeof(err)) == 0);
	CHECK(srv = scored_new(db));
	for (int i = 0; i < 3; i++) {
		CHECK(scored_token_add(db, names[i], roles[i], tok) == 0);
		snprintf(auth[i], sizeof(auth[i]), "Bearer %s", tok);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scored_arg args[NARGS];
	struct scored_req rq = { 0 };
	struct scored_resp rs = { 0 };
	char *text, *line2, *body, *sp, *q;
	size_t nargs = 0;

	if (size > 1 << 20)
		return 0;
	if (!srv)
		setup();
	text = malloc(size + 1);
	CHECK(text);
	memcpy(text, data, size);
	text[size] = 0;
	line2 = memchr(text, '\n', size);
	if (!line2 || !(sp = strchr(text, ' ')) || sp > line2)
		goto out;
	*line2++ = 0;
	*sp = 0;
	body = strchr(line2, '\n');
	if (body)
		*body++ = 0;
	rq.method = text;
	rq.path = sp + 1;
	if ((q = strchr(sp + 1, '?'))) {
		*q++ = 0;
		for (char *kv = strtok(q, "&"); kv && nargs < NARGS; kv = strtok(NULL, "&")) {
			char *eq = strchr(kv, '=');
			if (eq)
				*eq++ = 0;
			args[nargs++] = (struct scored_arg){ kv, eq ? eq : "" };
		}
	}
	rq.args = args;
	rq.nargs = nargs;
	rq.authorization = !strcmp(line2, "agent") ? auth[0] : !strcmp(line2, "reader") ? auth[1] :
			   !strcmp(line2, "operator") ? auth[2] : NULL;
	if (body) {
		rq.body = body;
		rq.body_len = size - (size_t)(body - text);   /* the raw bytes, NULs included */
	}
	scored_handle(srv, &rq, &rs);
	CHECK(rs.status >= 100 && rs.status <= 599);
	CHECK(json_is_object(rs.body));
	if (rs.status >= 400)
		CHECK(json_is_string(json_object_get(rs.body, "error")));
	json_decref(rs.body);
out:
	free(text);
	return 0;
}
