/*
 * The "kubernetes" engine: owns the pod metadata cache (k8s.h), configured
 * from the environment a DaemonSet passes (in-cluster service account,
 * NODE_NAME from the downward API), completes alerts whose pod metadata is
 * not known yet, and reports the API state once when it changes for the worse.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "container.h"
#include "engine.h"
#include "hostfs.h"
#include "hostroot.h"
#include "k8s.h"
#include "log.h"
#include "util.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct pending {
	json_t *alert;
	uint64_t deadline_ns;      /* CLOCK_BOOTTIME */
};

struct k8s_engine {
	struct agent *a;
	struct k8s *k;
	char api_url[512];
	const char *node;
	char pod_log_dir[PATH_MAX];
	struct pending q[K8S_PENDING_MAX];
	size_t nq;
	bool reemitting;
	bool warned_api, warned_malformed, recovered_logged;
	uint64_t deferred, completed, timed_out, overflow;
};

static void *k8s_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct k8s_engine *e = calloc(1, sizeof(*e));
	const char *api = getenv("VIGIL_K8S_API"), *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *root = agent_host_root(a);
	char ctr_dir[PATH_MAX];
	struct k8s_opts o = { 0 };

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->a = a;
	if (api && !strcmp(api, "off")) {
		/* API disabled: the log-layout fallback only */
	} else if (api && *api) {
		snprintf(e->api_url, sizeof(e->api_url), "%s", api);
		o.token_file = getenv("VIGIL_K8S_TOKEN_FILE");
		o.ca_file = getenv("VIGIL_K8S_CA_FILE");
	} else if (host && *host) {
		/* in-cluster configuration, as client-go's rest.InClusterConfig() builds it */
		snprintf(e->api_url, sizeof(e->api_url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			 host, port && *port ? port : "443");
		o.token_file = getenv("VIGIL_K8S_TOKEN_FILE") ? getenv("VIGIL_K8S_TOKEN_FILE") : SA_DIR "/token";
		o.ca_file = getenv("VIGIL_K8S_CA_FILE") ? getenv("VIGIL_K8S_CA_FILE") : SA_DIR "/ca.crt";
	}
	e->node = getenv("NODE_NAME");
	o.api_url = e->api_url[0] ? e->api_url : NULL;
	o.node_name = e->node && *e->node ? e->node : NULL;
	if (hostroot_join(e->pod_log_dir, sizeof(e->pod_log_dir), root, "/var/log/pods") ||
	    hostroot_join(ctr_dir, sizeof(ctr_dir), root, "/var/log/containers")) {
		snprintf(err, errlen, "host root %s: path too long", root);
		free(e);
		return NULL;
	}
	o.pod_log_dir = e->pod_log_dir;
	o.container_log_dir = ctr_dir;
	e->k = k8s_new(&o);
	if (!e->k) {
		snprintf(err, errlen, "cannot start the Kubernetes metadata client: %s", strerror(errno));
		free(e);
		return NULL;
	}
	if (o.api_url)
		vlog(VLOG_INFO, "kubernetes: pod metadata from %s (node %s), fallback %s", o.api_url,
		     o.node_name ? o.node_name : "all nodes: NODE_NAME not set", e->pod_log_dir);
	return e;
}

static void emit(struct k8s_engine *e, json_t *alert)
{
	e->reemitting = true;
	agent_emit_alert(e->a, alert);
	e->reemitting = false;
}

void k8s_engine_enrich(void *st, json_t *container)
{
	struct k8s_engine *e = st;

	if (e && json_is_object(container))
		k8s_enrich(e->k, container);
}

/* The container of pid from <host root>/proc/<pid>/cgroup, for an actor whose cgroup was
 * not known when its event was decoded (created a moment before).  New object or NULL. */
static json_t *container_from_proc(struct k8s_engine *e, json_int_t pid)
{
	char path[PATH_MAX];
	struct container_info ci;
	json_t *o = NULL;
	char *buf, *l;

	/* the proc root: --proc-root when given, else <host root>/proc */
	if (pid <= 0 || hostfs_proc(path, sizeof(path), "/%lld/cgroup", (long long)pid) ||
	    !(buf = util_read_file(path, 65536, NULL)))
		return NULL;
	/* the cgroup v2 line "0::<path>" */
	for (l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, "0::", 3)) {
			l[strcspn(l, "\n")] = 0;
			if (container_from_cgroup(l + 3, &ci)) {
				o = json_pack("{s:s}", "id", ci.id);
				if (ci.runtime[0])
					json_object_set_new(o, "runtime", json_string(ci.runtime));
				if (ci.pod_uid[0])
					json_object_set_new(o, "pod_uid", json_string(ci.pod_uid));
			}
			break;
		}
	}
	free(buf);
	return o;
}

bool k8s_engine_defer(void *st, json_t *alert)
{
	struct k8s_engine *e = st;
	json_t *c = json_object_get(alert, "container");
	int r;

	if (!e || e->reemitting)
		return false;
	if (!json_is_object(c) && json_is_object(json_object_get(alert, "process"))) {
		c = container_from_proc(e, json_integer_value(json_object_get(json_object_get(alert, "process"), "pid")));
		if (c)
			json_object_set_new(alert, "container", c);
	}
	if (!json_is_object(c))
		return false;
	r = k8s_enrich(e->k, c);
	/* only pod containers (a pod uid from the cgroup path or the API) can be completed */
	if (r == 0 || (r == -ENOENT && !json_object_get(c, "pod_uid")))
		return false;
	if (e->nq == K8S_PENDING_MAX) {
		e->overflow++;
		return false;
	}
	e->q[e->nq].alert = json_incref(alert);
	e->q[e->nq].deadline_ns = util_boot_ns() + K8S_DEFER_MS * 1000000ull;
	e->nq++;
	e->deferred++;
	return true;
}

static void flush(struct k8s_engine *e, bool all)
{
	uint64_t now = util_boot_ns();
	size_t j = 0;

	for (size_t i = 0; i < e->nq; i++) {
		struct pending *p = &e->q[i];
		int r = k8s_enrich(e->k, json_object_get(p->alert, "container"));

		if (r == 0 || all || now >= p->deadline_ns) {
			if (r == 0)
				e->completed++;
			else
				e->timed_out++;
			emit(e, p->alert);
			json_decref(p->alert);
		} else {
			e->q[j++] = *p;
		}
	}
	e->nq = j;
}

static void k8s_tick(void *st, uint64_t boot_ns)
{
	struct k8s_engine *e = st;
	struct k8s_stats s;

	flush(e, false);
	k8s_get_stats(e->k, &s);
	if ((s.api == K8S_API_UNREACHABLE || s.api == K8S_API_FORBIDDEN) && !e->warned_api) {
		vlog(VLOG_WARN, "kubernetes API %s (%s): pod metadata from %s until it answers",
		     k8s_api_state_name(s.api), s.last_error, e->pod_log_dir);
		e->warned_api = true;
	} else if (s.api == K8S_API_OK && e->warned_api && !e->recovered_logged) {
		vlog(VLOG_INFO, "kubernetes API answers again: pod metadata from the API");
		e->recovered_logged = true;
	}
	if (s.malformed && !e->warned_malformed) {
		vlog(VLOG_WARN, "kubernetes: ignored a malformed pod object (counted in vigil status)");
		e->warned_malformed = true;
	}
}

static json_t *k8s_status(void *st)
{
	struct k8s_engine *e = st;
	struct k8s_stats s;

	k8s_get_stats(e->k, &s);
	return json_pack("{s:s, s:s?, s:s?, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:{s:I, s:I, s:I, s:I, s:I}}",
		"api", k8s_api_state_name(s.api),
		"api_url", e->api_url[0] ? e->api_url : NULL,
		"node", e->node,
		"pod_log_dir", e->pod_log_dir,
		"http_status", (json_int_t)s.last_http_status,
		"last_error", s.last_error,
		"lists", (json_int_t)s.lists,
		"watch_events", (json_int_t)s.watch_events,
		"api_errors", (json_int_t)s.api_errors,
		"malformed", (json_int_t)s.malformed,
		"pods", (json_int_t)s.pods,
		"containers", (json_int_t)s.containers,
		"evictions", (json_int_t)s.evictions,
		"lookups", (json_int_t)s.lookups,
		"podlog_hits", (json_int_t)s.podlog_hits,
		"alerts",
		"deferred", (json_int_t)e->deferred, "completed", (json_int_t)e->completed,
		"timed_out", (json_int_t)e->timed_out, "overflow", (json_int_t)e->overflow,
		"pending", (json_int_t)e->nq);
}

/* Emits the alerts still waiting for pod metadata (as they are). */
static void k8s_stop(void *st)
{
	flush(st, true);
}

static void k8s_destroy(void *st)
{
	struct k8s_engine *e = st;

	if (!e)
		return;
	flush(e, true);
	k8s_free(e->k);
	free(e);
}

const struct engine k8s_engine = {
	.name = "kubernetes",
	.create = k8s_create,
	.tick = k8s_tick,
	.status = k8s_status,
	.stop = k8s_stop,
	.destroy = k8s_destroy,
};
