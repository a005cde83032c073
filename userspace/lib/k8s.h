/*
 * Pod metadata for containers: container id (from the cgroup path, see
 * container.h) -> pod name, namespace, pod uid, container name and image.
 *
 * Two sources feed one bounded cache:
 *  - the Kubernetes API: a background thread lists the pods of this node
 *    (GET /api/v1/pods?fieldSelector=spec.nodeName=<node>) and then follows
 *    the watch stream (one JSON event per line: ADDED, MODIFIED, DELETED,
 *    BOOKMARK, ERROR; "410 Gone" means relist), with libcurl and jansson, as
 *    client-go's reflector does;
 *  - the kubelet's log layout, when the API is not configured or not
 *    reachable: /var/log/pods/<namespace>_<pod>_<uid>/<container>/ and the
 *    /var/log/containers/<pod>_<namespace>_<container>-<id>.log links.
 *
 * Thread-safe: the watch thread writes, the agent's thread reads.  Library
 * code: nothing is logged; k8s_get_stats() reports state for the caller to log.
 */
#ifndef VIGIL_K8S_H
#define VIGIL_K8S_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <jansson.h>

#define K8S_DEFAULT_MAX_PODS       1024   /* kubelet's own default is 110 pods per node */
#define K8S_DEFAULT_MAX_CONTAINERS 4096

/* Kubernetes limits: names are DNS labels/subdomains (63/253 bytes); images have no
 * formal limit, longer ones are truncated. */
struct k8s_meta {
	char pod[254];
	char ns[64];
	char pod_uid[37];
	char container[254];
	char image[512];
};

struct k8s_opts {
	const char *api_url;       /* "https://10.96.0.1:443"; NULL: no API (fallback only) */
	const char *token_file;    /* bearer token, reread on every connect (tokens rotate); NULL: none */
	const char *ca_file;       /* CA bundle for the API server; NULL: system CAs */
	const char *node_name;     /* list/watch only this node's pods; NULL: every pod */
	const char *pod_log_dir;   /* "/var/log/pods" (below the host root); NULL: no fallback */
	const char *container_log_dir;   /* "/var/log/containers"; NULL: not used */
	size_t max_pods, max_containers; /* 0: the defaults above */
};

enum k8s_api_state {
	K8S_API_OFF,          /* not configured */
	K8S_API_CONNECTING,   /* first list not done yet */
	K8S_API_OK,           /* listed; watching */
	K8S_API_UNREACHABLE,  /* connection or TLS failure, timeout, 5xx */
	K8S_API_FORBIDDEN,    /* 401 or 403: RBAC or token */
};

struct k8s_stats {
	enum k8s_api_state api;
	long last_http_status;        /* 0 when no response */
	char last_error[160];         /* why the API is not OK, "" when it is */
	uint64_t lists, watch_events, api_errors;
	uint64_t malformed;           /* pod objects or watch lines that could not be used */
	uint64_t pods, containers;    /* in the cache now */
	uint64_t evictions;           /* entries the bounds turned away */
	uint64_t lookups, hits, podlog_hits;
};

struct k8s;

/* Creates the cache and, when o->api_url is set, starts the list/watch thread.  Strings
 * are copied.  NULL with errno set on failure. */
struct k8s *k8s_new(const struct k8s_opts *o);
/* Stops the thread (within about a second) and frees; NULL is a no-op. */
void k8s_free(struct k8s *k);

/* Metadata for a container.  id: 64 hex digits (may be "" or NULL); pod_uid from the
 * cgroup path (may be "" or NULL).  out is always initialised with what is known.
 * Returns 0 when pod and container name are known, -EAGAIN when only part is known
 * (e.g. the pod but not yet the container: retry later), -ENOENT when nothing is. */
int k8s_lookup(struct k8s *k, const char *id, const char *pod_uid, struct k8s_meta *out);

/* Adds pod, namespace, pod_uid, name and image to a container JSON object
 * {id, pod_uid, ...} with what k8s_lookup() knows; returns k8s_lookup()'s result
 * (-ENOENT also when obj has neither id nor pod_uid). */
int k8s_enrich(struct k8s *k, json_t *container);

void k8s_get_stats(struct k8s *k, struct k8s_stats *s);
const char *k8s_api_state_name(enum k8s_api_state s);

/* --- exposed for tests; the thread uses them --- */

/* Replaces the API-sourced cache content with a PodList body.  Returns the number of
 * pods added or -EINVAL when the body is not a PodList (malformed items are skipped
 * and counted).  rv (may be NULL) gets metadata.resourceVersion. */
int k8s_apply_list(struct k8s *k, const char *body, size_t len, char *rv, size_t rvlen);
/* Applies one watch line.  0, -EINVAL (malformed, counted), -ESTALE for an ERROR event
 * with code 410 (the caller must relist).  rv as above (BOOKMARKs move it too). */
int k8s_apply_event(struct k8s *k, const char *line, size_t len, char *rv, size_t rvlen);
/* Splits a /var/log/pods entry "<namespace>_<pod>_<uid>".  0 or -EINVAL. */
int k8s_parse_podlog_name(const char *name, struct k8s_meta *out);
/* Strips "<runtime>://" from a containerStatuses[].containerID into id (65 bytes):
 * 0, or -EINVAL when what follows is not 64 hex digits. */
int k8s_parse_container_id(const char *s, char id[65]);

/* --- the "kubernetes" engine (k8s_engine.c): the agent's hooks --- */

struct engine;
extern const struct engine k8s_engine;

/* Adds pod fields to a container JSON object (see k8s_enrich); st may be NULL. */
void k8s_engine_enrich(void *st, json_t *container);
/* Called by agent_emit_alert before it writes alert: when the alert's container is in a pod
 * whose metadata is not complete yet (a container that starts and execs at once), keeps a
 * reference and returns true; the engine retries the lookup every tick and emits the alert
 * once the metadata is known or after K8S_DEFER_MS.  false: write it now.  st may be NULL. */
bool k8s_engine_defer(void *st, json_t *alert);

#define K8S_DEFER_MS     5000
#define K8S_PENDING_MAX  256

#endif
