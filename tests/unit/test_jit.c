/* Unit tests for JIT port access logic (userspace/lib/jit_policy.c): policy
 * section, prefixes, request validation, /proc/net parsing.  No root needed. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jit.h"
#include "policy.h"
#include "vigil_events.h"

#define expect_str(seen, want) do {                                                     \
	const char *__s = (seen), *__w = (want);                                          \
	if (strcmp(__s, __w)) {                                                           \
		print_error("expected \"%s\"\n    seen \"%s\"\n", __w, __s);                \
		fail();                                                                   \
	}                                                                                 \
} while (0)

static struct vigil_policy *load(const char *jit, char *err, size_t errlen)
{
	char text[4096];
	struct vigil_policy *p = NULL;

	snprintf(text, sizeof(text), "{\"version\": 1%s%s}", jit ? ",\n\"jit\": " : "", jit ? jit : "");
	if (policy_load_string(text, "t.json", &p, err, errlen))
		return NULL;
	return p;
}

static const struct jit_config *cfg_of(struct vigil_policy *p)
{
	return p->feature[POLICY_JIT];
}

static void test_defaults(void **state)
{
	char err[512] = "";
	struct vigil_policy *p = load(NULL, err, sizeof(err));
	const struct jit_config *c;

	assert_non_null(p);
	c = cfg_of(p);
	assert_non_null(c);
	assert_int_equal(c->mode, VIGIL_JIT_OFF);
	assert_int_equal(c->nports, 4);
	assert_int_equal(c->ports[0].port, 22);
	assert_int_equal(c->ports[1].port, 3389);
	assert_int_equal(c->ports[2].port, 5985);
	assert_int_equal(c->ports[3].port, 5986);
	assert_int_equal(c->ports[0].max_duration_s, 3 * 3600);
	expect_str(c->pin_dir, "/sys/fs/bpf/vigil/jit");
	policy_free(p);
}

static void test_parse_full(void **state)
{
	char err[512] = "";
	struct vigil_policy *p = load("{\"mode\": \"enforce\", \"strict\": true, \"interfaces\": [\"eth0\"],"
				      " \"hook\": \"tc\", \"pin_dir\": \"/sys/fs/bpf/t1\","
				      " \"brute_force\": {\"threshold\": 5, \"window\": \"30s\"},"
				      " \"ports\": [{\"port\": 22, \"allowed_sources\": [\"10.0.0.0/8\"], \"max_duration\": \"1h\"},"
				      " {\"port\": 53, \"protocol\": \"udp\", \"max_duration\": 60}]}", err, sizeof(err));
	const struct jit_config *c;

	if (!p)
		print_error("%s\n", err);
	assert_non_null(p);
	c = cfg_of(p);
	assert_int_equal(c->mode, VIGIL_JIT_ENFORCE);
	assert_true(c->strict);
	assert_int_equal(c->hook, JIT_HOOK_TC);
	assert_int_equal(c->interfaces.n, 1);
	assert_int_equal(c->bf_threshold, 5);
	assert_int_equal(c->bf_window_s, 30);
	assert_int_equal(c->nports, 2);
	assert_int_equal(c->ports[0].max_duration_s, 3600);
	assert_int_equal(c->ports[0].nallowed, 1);
	assert_int_equal(c->ports[1].proto, IPPROTO_UDP);
	assert_int_equal(c->ports[1].max_duration_s, 60);
	assert_int_equal(c->ports[1].nallowed, 2);
	policy_free(p);
}

static void test_parse_errors(void **state)
{
	static const struct { const char *jit, *want; } cases[] = {
		{ "{\"mode\": \"on\"}", "t.json:2:9: /jit/mode: unknown mode \"on\" (allowed: off, audit, enforce)" },
		{ "{\"modes\": \"on\"}", NULL },
		{ "{\"ports\": [{\"port\": 0}]}", NULL },
		{ "{\"ports\": [{\"port\": 22}, {\"port\": 22}]}", NULL },
		{ "{\"ports\": [{\"port\": 22, \"protocol\": \"sctp\"}]}", NULL },
		{ "{\"ports\": [{\"port\": 22, \"allowed_sources\": [\"10.0.0.1/8\"]}]}", NULL },
		{ "{\"ports\": [{\"port\": 22, \"allowed_sources\": []}]}", NULL },
		{ "{\"ports\": [{\"port\": 22, \"max_duration\": \"0\"}]}", NULL },
		{ "{\"ports\": [{\"port\": 22, \"max_duration\": \"3x\"}]}", NULL },
		{ "{\"pin_dir\": \"/tmp/x\"}", NULL },
		{ "{\"interfaces\": [\"a/b\"]}", NULL },
		{ "{\"hook\": \"nf\"}", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512] = "";
		struct vigil_policy *p = load(cases[i].jit, err, sizeof(err));

		if (p) {
			print_error("accepted: %s\n", cases[i].jit);
			policy_free(p);
			fail();
		}
		/* every error names the file, a position and the jit path */
		if (strncmp(err, "t.json:", 7) || !strstr(err, "/jit")) {
			print_error("case %zu: expected \"t.json:L:C: /jit...\", seen \"%s\"\n", i, err);
			fail();
		}
		if (cases[i].want)
			expect_str(err, cases[i].want);
	}
}

static void test_prefix(void **state)
{
	struct jit_prefix a, b;
	char buf[64], why[128];

	assert_int_equal(jit_prefix_parse("10.0.0.2", &a, NULL, 0), 0);
	assert_int_equal(a.len, 128);
	expect_str(jit_prefix_format(&a, buf, sizeof(buf)), "10.0.0.2/32");
	/* IPv4-mapped spelling is the same grant */
	assert_int_equal(jit_prefix_parse("::ffff:10.0.0.2", &b, NULL, 0), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(jit_prefix_parse("::ffff:10.0.0.0/120", &b, NULL, 0), 0);
	expect_str(jit_prefix_format(&b, buf, sizeof(buf)), "10.0.0.0/24");
	assert_int_equal(jit_prefix_parse("10.0.0.0/24", &a, NULL, 0), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(jit_prefix_parse("fd00::2/128", &a, NULL, 0), 0);
	expect_str(jit_prefix_format(&a, buf, sizeof(buf)), "fd00::2/128");

	assert_int_equal(jit_prefix_parse("10.0.0.5/24", &a, why, sizeof(why)), -EINVAL);
	expect_str(why, "\"10.0.0.5/24\" has host bits set beyond the prefix length");
	assert_int_equal(jit_prefix_parse("10.0.0.1/33", &a, NULL, 0), -EINVAL);
	assert_int_equal(jit_prefix_parse("10.0.0.1/", &a, NULL, 0), -EINVAL);
	assert_int_equal(jit_prefix_parse("10.0.0.1/-1", &a, NULL, 0), -EINVAL);
	assert_int_equal(jit_prefix_parse("10.0.0", &a, NULL, 0), -EINVAL);
	assert_int_equal(jit_prefix_parse("", &a, NULL, 0), -EINVAL);
	assert_int_equal(jit_prefix_parse("fd00::/129", &a, NULL, 0), -EINVAL);

	assert_int_equal(jit_prefix_parse("10.0.0.0/8", &a, NULL, 0), 0);
	assert_int_equal(jit_prefix_parse("10.1.2.0/24", &b, NULL, 0), 0);
	assert_true(jit_prefix_contains(&a, &b));
	assert_false(jit_prefix_contains(&b, &a));
	assert_int_equal(jit_prefix_parse("::/0", &a, NULL, 0), 0);
	assert_true(jit_prefix_contains(&a, &b));   /* ::/0 covers IPv4 too */
	assert_int_equal(jit_prefix_parse("0.0.0.0/0", &a, NULL, 0), 0);
	assert_int_equal(jit_prefix_parse("fd00::1", &b, NULL, 0), 0);
	assert_false(jit_prefix_contains(&a, &b));  /* 0.0.0.0/0 covers no IPv6 address */
}

static void test_request_check(void **state)
{
	char err[512] = "", why[512];
	struct vigil_policy *p = load("{\"mode\": \"enforce\", \"ports\": [{\"port\": 22, \"allowed_sources\": "
				      "[\"10.0.0.0/16\", \"fd00::/64\"], \"max_duration\": \"1h\"}]}", err, sizeof(err));
	const struct jit_port_cfg *pc;
	struct jit_prefix src;
	struct jit_request rq = { .port = 22, .source = "10.0.1.2", .duration_s = 600, .justification = "x" };

	assert_non_null(p);
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), 0);
	assert_int_equal(pc->port, 22);
	assert_int_equal(src.len, 128);

	rq.port = 23;
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -ENOENT);
	expect_str(why, "tcp port 23 is not protected by the JIT policy");
	rq.port = 22;
	rq.proto = "udp";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -ENOENT);
	rq.proto = NULL;
	rq.source = "10.0.0.0/8";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EPERM);
	expect_str(why, "source 10.0.0.0/8 is not inside the prefixes allowed for tcp port 22 "
		   "(10.0.0.0/16, fd00::/64)");
	rq.source = "fd00::5";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), 0);
	rq.source = "::ffff:10.0.3.4";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), 0);
	rq.source = "bogus";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EINVAL);
	rq.source = "10.0.1.2";
	rq.duration_s = 3601;
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EPERM);
	expect_str(why, "duration 3601 s exceeds the maximum 3600 s for tcp port 22");
	rq.duration_s = 0;
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EINVAL);
	rq.duration_s = -5;
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EINVAL);
	rq.duration_s = 60;
	rq.justification = "";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -EINVAL);
	policy_free(p);

	/* mode off: nothing is granted */
	p = load("{\"mode\": \"off\"}", err, sizeof(err));
	rq.justification = "x";
	assert_int_equal(jit_request_check(cfg_of(p), &rq, &src, &pc, why, sizeof(why)), -ENOTCONN);
	policy_free(p);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_proc_net(void **state)
{
	char dir[] = "/tmp/test_jit.XXXXXX", err[256];
	json_t *out = NULL;
	struct jit_prefix src;
	struct vigil_policy *p;

	assert_non_null(mkdtemp(dir));
	/* 0.0.0.0:22 LISTEN, 127.0.0.1:3389 LISTEN, 10.0.0.1:22 <- 10.0.0.2:40000 ESTABLISHED, 0.0.0.0:80 LISTEN */
	write_file(dir, "tcp",
		   "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
		   "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
		   "   1: 0100007F:0D3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
		   "   2: 0100000A:0016 0200000A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
		   "   3: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1\n");
	/* [::]:5985 LISTEN; [fd00::1]:22 <- [fd00::2]:40001 ESTABLISHED */
	write_file(dir, "tcp6",
		   "  sl  local_address                         remote_address                        st\n"
		   "   0: 00000000000000000000000000000000:1761 00000000000000000000000000000000:0000 0A 0 0 0\n"
		   "   1: 000000FD000000000000000001000000:0016 000000FD000000000000000002000000:9C41 01 0 0 0\n");

	assert_int_equal(jit_scan_listeners(dir, NULL, &out), 0);
	assert_int_equal(json_array_size(out), 3);
	expect_str(json_string_value(json_object_get(json_array_get(out, 0), "address")), "0.0.0.0");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "port")), 22);
	expect_str(json_string_value(json_object_get(json_array_get(out, 1), "address")), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 2), "port")), 5985);
	expect_str(json_string_value(json_object_get(json_array_get(out, 2), "address")), "::");
	json_decref(out);

	/* enforced 22 and 3389 are no longer findings; 5985 still is */
	p = load("{\"mode\": \"enforce\", \"ports\": [{\"port\": 22}, {\"port\": 3389}]}", err, sizeof(err));
	assert_int_equal(jit_scan_listeners(dir, cfg_of(p), &out), 0);
	assert_int_equal(json_array_size(out), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "port")), 5985);
	json_decref(out);
	policy_free(p);

	assert_int_equal(jit_prefix_parse("10.0.0.2", &src, NULL, 0), 0);
	assert_int_equal(jit_scan_sessions(dir, 22, &src, &out), 0);
	assert_int_equal(json_array_size(out), 1);
	expect_str(json_string_value(json_object_get(json_array_get(out, 0), "peer")), "10.0.0.2");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "peer_port")), 40000);
	json_decref(out);
	assert_int_equal(jit_prefix_parse("fd00::/64", &src, NULL, 0), 0);
	assert_int_equal(jit_scan_sessions(dir, 22, &src, &out), 0);
	assert_int_equal(json_array_size(out), 1);
	expect_str(json_string_value(json_object_get(json_array_get(out, 0), "peer")), "fd00::2");
	json_decref(out);

	char path[600];
	snprintf(path, sizeof(path), "%s/tcp", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tcp6", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_request_check),
		cmocka_unit_test(test_proc_net),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
