/* Unit tests for the pod metadata cache (k8s.h): the recorded pod list and watch stream in
 * tests/fixtures/k8s, restarts, deletions, bounds, malformed input and the kubelet log
 * layout fallback.  No network: the API thread is not started (api_url NULL). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "k8s.h"
#include "util.h"

#define POD1_UID "6f1c2b8e-3d4a-4b5c-9e7f-0a1b2c3d4e5f"
#define NGINX_ID "8c3f1a9e5b7d4c2e6f0a1b3d5e7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f"
#define INIT_ID  "0b4c6e1f2a3d4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
#define POD2_UID "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
#define POD2_ID  "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
#define OTHER_ID "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

static char *fixture(const char *name, size_t *len)
{
	char path[256];
	char *b;

	snprintf(path, sizeof(path), "tests/fixtures/k8s/%s", name);
	b = util_read_file(path, 1 << 20, len);
	if (!b)
		fprintf(stderr, "cannot read %s (run from the repository root): %s\n", path, strerror(errno));
	assert_non_null(b);
	return b;
}

/* The n-th line (0-based) of the watch fixture, in a new buffer. */
static char *watch_line(int n, size_t *len)
{
	size_t all;
	char *b = fixture("watch.jsonl", &all), *s = b, *e, *out;

	for (int i = 0; i < n; i++) {
		s = strchr(s, '\n');
		assert_non_null(s);
		s++;
	}
	e = strchr(s, '\n');
	*len = e ? (size_t)(e - s) : strlen(s);
	out = strndup(s, *len);
	free(b);
	return out;
}

static struct k8s *cache(size_t max_pods, const char *pod_logs, const char *ctr_logs)
{
	struct k8s_opts o = { .max_pods = max_pods, .pod_log_dir = pod_logs, .container_log_dir = ctr_logs };
	struct k8s *k = k8s_new(&o);

	assert_non_null(k);
	return k;
}

static void test_container_id(void **state)
{
	char id[65];

	assert_int_equal(k8s_parse_container_id("containerd://" NGINX_ID, id), 0);
	assert_string_equal(id, NGINX_ID);
	assert_int_equal(k8s_parse_container_id("cri-o://" NGINX_ID, id), 0);
	assert_int_equal(k8s_parse_container_id("docker://8C3F1A9E5B7D4C2E6F0A1B3D5E7F9A2C4E6B8D0F1A3C5E7B9D2F4A6C8E0B1D3F", id), 0);
	assert_string_equal(id, NGINX_ID);     /* lowercased: cgroup paths are lowercase */
	assert_int_equal(k8s_parse_container_id("containerd://abc", id), -EINVAL);
	assert_int_equal(k8s_parse_container_id("containerd://" NGINX_ID "0", id), -EINVAL);
	assert_int_equal(k8s_parse_container_id(NULL, id), -EINVAL);
}

static void test_podlog_name(void **state)
{
	struct k8s_meta m = { 0 };

	assert_int_equal(k8s_parse_podlog_name("shop_web-6d8f7c9b5-x2kqp_" POD1_UID, &m), 0);
	assert_string_equal(m.ns, "shop");
	assert_string_equal(m.pod, "web-6d8f7c9b5-x2kqp");
	assert_string_equal(m.pod_uid, POD1_UID);
	assert_int_equal(k8s_parse_podlog_name("shop_web", &m), -EINVAL);
	assert_int_equal(k8s_parse_podlog_name("_web_" POD1_UID, &m), -EINVAL);
	assert_int_equal(k8s_parse_podlog_name("shop__" POD1_UID, &m), -EINVAL);
	assert_int_equal(k8s_parse_podlog_name("shop_web_not-a-uid!", &m), -EINVAL);
	assert_int_equal(k8s_parse_podlog_name("shop_web_" POD1_UID "_x", &m), -EINVAL);
}

static void test_recorded_list(void **state)
{
	struct k8s *k = cache(0, NULL, NULL);
	struct k8s_meta m;
	struct k8s_stats st;
	char rv[64] = "";
	size_t len;
	char *body = fixture("podlist.json", &len);

	/* two usable pods; "broken-no-uid" is skipped and counted */
	assert_int_equal(k8s_apply_list(k, body, len, rv, sizeof(rv)), 2);
	assert_string_equal(rv, "482913");
	k8s_get_stats(k, &st);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(st.pods, 2);
	assert_int_equal(st.containers, 4);
	assert_int_equal(st.api, K8S_API_OFF);

	assert_int_equal(k8s_lookup(k, NGINX_ID, POD1_UID, &m), 0);
	assert_string_equal(m.pod, "web-6d8f7c9b5-x2kqp");
	assert_string_equal(m.ns, "shop");
	assert_string_equal(m.container, "nginx");
	assert_string_equal(m.image, "docker.io/library/nginx:1.25.3");
	/* the container id alone finds the pod too (no pod uid in a docker-style path) */
	assert_int_equal(k8s_lookup(k, INIT_ID, NULL, &m), 0);
	assert_string_equal(m.container, "init-config");
	assert_string_equal(m.pod_uid, POD1_UID);
	/* pod known, container not yet */
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD1_UID, &m), -EAGAIN);
	assert_string_equal(m.pod, "web-6d8f7c9b5-x2kqp");
	assert_string_equal(m.container, "");
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD2_UID, &m), -ENOENT);
	assert_string_equal(m.pod, "");

	/* a list that is not a PodList changes nothing */
	assert_int_equal(k8s_apply_list(k, "{\"kind\":\"Status\"}", 17, NULL, 0), -EINVAL);
	assert_int_equal(k8s_apply_list(k, "not json", 8, NULL, 0), -EINVAL);
	assert_int_equal(k8s_lookup(k, NGINX_ID, POD1_UID, &m), 0);
	free(body);
	k8s_free(k);
}

static void test_recorded_watch(void **state)
{
	struct k8s *k = cache(0, NULL, NULL);
	struct k8s_meta m;
	struct k8s_stats st;
	char rv[64] = "", *l;
	size_t len;

	l = watch_line(0, &len);        /* ADDED, container still waiting: no id */
	assert_int_equal(k8s_apply_event(k, l, len, rv, sizeof(rv)), 0);
	free(l);
	assert_string_equal(rv, "482950");
	assert_int_equal(k8s_lookup(k, POD2_ID, POD2_UID, &m), -EAGAIN);
	assert_string_equal(m.pod, "batch-28391160-qk7cd");
	assert_string_equal(m.ns, "jobs");

	l = watch_line(1, &len);        /* truncated line */
	assert_int_equal(k8s_apply_event(k, l, len, rv, sizeof(rv)), -EINVAL);
	free(l);
	l = watch_line(2, &len);        /* BOOKMARK moves the resourceVersion */
	assert_int_equal(k8s_apply_event(k, l, len, rv, sizeof(rv)), 0);
	free(l);
	assert_string_equal(rv, "482990");
	l = watch_line(3, &len);        /* MODIFIED: running, with its container id */
	assert_int_equal(k8s_apply_event(k, l, len, rv, sizeof(rv)), 0);
	free(l);
	assert_int_equal(k8s_lookup(k, POD2_ID, POD2_UID, &m), 0);
	assert_string_equal(m.container, "worker");
	assert_string_equal(m.image, "ghcr.io/example/worker:2.4.1");
	k8s_get_stats(k, &st);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(st.watch_events, 3);

	/* restart: a new id for the same container replaces the old one */
	static const char restart[] = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"batch-28391160-qk7cd\","
		"\"namespace\":\"jobs\",\"uid\":\"" POD2_UID "\",\"resourceVersion\":\"483100\"},\"status\":{"
		"\"containerStatuses\":[{\"name\":\"worker\",\"image\":\"ghcr.io/example/worker:2.4.1\","
		"\"containerID\":\"containerd://" OTHER_ID "\"}]}}}";
	assert_int_equal(k8s_apply_event(k, restart, strlen(restart), rv, sizeof(rv)), 0);
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD2_UID, &m), 0);
	assert_int_equal(k8s_lookup(k, POD2_ID, NULL, &m), -ENOENT);

	/* DELETED forgets pod and containers */
	static const char del[] = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"batch-28391160-qk7cd\","
		"\"namespace\":\"jobs\",\"uid\":\"" POD2_UID "\"}}}";
	assert_int_equal(k8s_apply_event(k, del, strlen(del), rv, sizeof(rv)), 0);
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD2_UID, &m), -ENOENT);

	/* ERROR 410 Gone: relist; other errors end the watch too; junk is counted */
	static const char gone[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}";
	static const char e500[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500}}";
	assert_int_equal(k8s_apply_event(k, gone, strlen(gone), rv, sizeof(rv)), -ESTALE);
	assert_int_equal(k8s_apply_event(k, e500, strlen(e500), rv, sizeof(rv)), -EPROTO);
	assert_int_equal(k8s_apply_event(k, "{\"type\":\"ADDED\"}", 16, rv, sizeof(rv)), -EINVAL);
	assert_int_equal(k8s_apply_event(k, "{\"type\":\"RENAMED\",\"object\":{}}", 30, rv, sizeof(rv)), -EINVAL);
	assert_int_equal(k8s_apply_event(k, "[1,2]", 5, rv, sizeof(rv)), -EINVAL);
	k8s_get_stats(k, &st);
	assert_int_equal(st.malformed, 4);
	k8s_free(k);
}

static void test_bounded(void **state)
{
	struct k8s *k = cache(4, NULL, NULL);
	struct k8s_stats st;
	struct k8s_meta m;
	char ev[512];

	for (int i = 0; i < 10; i++) {
		int n = snprintf(ev, sizeof(ev), "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p%d\","
				 "\"namespace\":\"ns\",\"uid\":\"00000000-0000-0000-0000-%012d\"}}}", i, i);
		assert_int_equal(k8s_apply_event(k, ev, n, NULL, 0), 0);
	}
	k8s_get_stats(k, &st);
	assert_int_equal(st.pods, 4);
	assert_int_equal(st.evictions, 6);
	/* the newest stay, the oldest went */
	assert_int_equal(k8s_lookup(k, NULL, "00000000-0000-0000-0000-000000000009", &m), 0);
	assert_string_equal(m.pod, "p9");
	assert_int_equal(k8s_lookup(k, NULL, "00000000-0000-0000-0000-000000000000", &m), -ENOENT);
	k8s_free(k);
}

static void mkdirs(const char *p)
{
	assert_int_equal(util_mkdir_p(p, 0755), 0);
}

static void touch(const char *p)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fclose(f);
}

static void test_pod_log_fallback(void **state)
{
	char root[] = "/tmp/vigil-k8s-unit-XXXXXX", pods[256], ctrs[256], p[512];
	struct k8s_meta m;
	struct k8s *k;

	assert_non_null(mkdtemp(root));
	snprintf(pods, sizeof(pods), "%s/var/log/pods", root);
	snprintf(ctrs, sizeof(ctrs), "%s/var/log/containers", root);
	snprintf(p, sizeof(p), "%s/shop_web-6d8f7c9b5-x2kqp_%s/nginx", pods, POD1_UID);
	mkdirs(p);
	snprintf(p, sizeof(p), "%s/shop_web-6d8f7c9b5-x2kqp_%s/log-shipper", pods, POD1_UID);
	mkdirs(p);
	mkdirs(ctrs);
	/* the kubelet's link name: <pod>_<namespace>_<container>-<id>.log */
	snprintf(p, sizeof(p), "%s/web-6d8f7c9b5-x2kqp_shop_log-shipper-%s.log", ctrs, NGINX_ID);
	touch(p);

	k = cache(0, pods, ctrs);
	assert_int_equal(k8s_lookup(k, NGINX_ID, POD1_UID, &m), 0);
	assert_string_equal(m.pod, "web-6d8f7c9b5-x2kqp");
	assert_string_equal(m.ns, "shop");
	assert_string_equal(m.container, "log-shipper");
	assert_string_equal(m.image, "");         /* the logs do not say */
	/* a second container of the same pod without a link: pod known only */
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD1_UID, &m), -EAGAIN);
	assert_string_equal(m.pod, "web-6d8f7c9b5-x2kqp");
	/* an unknown pod uid */
	assert_int_equal(k8s_lookup(k, OTHER_ID, POD2_UID, &m), -ENOENT);
	k8s_free(k);

	/* no container links: two container dirs cannot be told apart, one can */
	k = cache(0, pods, NULL);
	assert_int_equal(k8s_lookup(k, NGINX_ID, POD1_UID, &m), -EAGAIN);
	k8s_free(k);
	snprintf(p, sizeof(p), "%s/shop_web-6d8f7c9b5-x2kqp_%s/log-shipper", pods, POD1_UID);
	assert_int_equal(rmdir(p), 0);
	k = cache(0, pods, NULL);
	assert_int_equal(k8s_lookup(k, NGINX_ID, POD1_UID, &m), 0);
	assert_string_equal(m.container, "nginx");
	k8s_free(k);

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_enrich_json(void **state)
{
	struct k8s *k = cache(0, NULL, NULL);
	size_t len;
	char *body = fixture("podlist.json", &len);
	json_t *c = json_pack("{s:s, s:s, s:s}", "id", NGINX_ID, "runtime", "containerd", "pod_uid", POD1_UID);

	assert_int_equal(k8s_apply_list(k, body, len, NULL, 0), 2);
	assert_int_equal(k8s_enrich(k, c), 0);
	assert_string_equal(json_string_value(json_object_get(c, "pod")), "web-6d8f7c9b5-x2kqp");
	assert_string_equal(json_string_value(json_object_get(c, "namespace")), "shop");
	assert_string_equal(json_string_value(json_object_get(c, "name")), "nginx");
	assert_string_equal(json_string_value(json_object_get(c, "image")), "docker.io/library/nginx:1.25.3");
	assert_string_equal(json_string_value(json_object_get(c, "pod_uid")), POD1_UID);
	json_decref(c);
	/* a container outside any pod gets nothing added */
	c = json_pack("{s:s}", "id", OTHER_ID);
	assert_int_equal(k8s_enrich(k, c), -ENOENT);
	assert_int_equal(json_object_size(c), 1);
	json_decref(c);
	assert_int_equal(k8s_enrich(NULL, NULL), -ENOENT);
	free(body);
	k8s_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_id),
		cmocka_unit_test(test_podlog_name),
		cmocka_unit_test(test_recorded_list),
		cmocka_unit_test(test_recorded_watch),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_pod_log_fallback),
		cmocka_unit_test(test_enrich_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
