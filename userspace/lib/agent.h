/*
 * The agent: everything vigild does between the kernel and the logs.  It
 * owns the policy, sensors, process table, caches and sinks, decodes each
 * kernel record, enriches it (process lineage, user, container), runs the
 * engines (rules, and the feature engines as they land) and writes
 * telemetry and alerts.  vigild/main.c only parses arguments and runs the
 * loop; tests drive the same code.
 */
#ifndef VIGIL_AGENT_H
#define VIGIL_AGENT_H

#include <stdint.h>
#include <stdbool.h>
#include <jansson.h>

#include "policy.h"
#include "probe.h"
#include "vigil_events.h"

struct agent_opts {
	const char *policy_path;
	const char *log_dir;
	const char *state_dir;
	const char *run_dir;
	const char *proc_root;       /* NULL: <host_root>/proc */
	const char *host_root;       /* where the host's / is: "/" (default) or e.g. "/host" in a pod */
	const char *metrics_listen;  /* "HOST:PORT" serving Prometheus GET /metrics; NULL = off */
};

struct agent;

/* Creates the agent: takes the pid-file lock, loads the policy, opens the logs, probes the
 * kernel, seeds the process table, loads and attaches the sensors and opens the control
 * socket.  NULL on failure with a one-line reason in err (the caller exits 2); nothing is
 * left attached. */
struct agent *agent_new(const struct agent_opts *o, char *err, size_t errlen);
/* Runs the event loop until SIGINT/SIGTERM.  Returns 0 or -errno. */
int agent_run(struct agent *a);
/* Detaches everything and frees; NULL is a no-op. */
void agent_free(struct agent *a);

/* Handles one kernel record (exposed for tests and benchmarks).  0 or -EINVAL. */
int agent_handle_record(struct agent *a, const void *rec, size_t len);
/* Writes an alert: fills time, id, host, loss-window marker, writes it to the alert log
 * and hands it to the engines (forwarding) even when the log write failed; returns 0 or
 * the -errno of the log write. */
int agent_emit_alert(struct agent *a, json_t *alert);
/* What `vigil status` shows, as a new JSON object (engines' status under their names).
 * The metrics endpoint renders the same object, so both always agree. */
json_t *agent_status_json(struct agent *a);
/* The host root ("/" on a host): engines read a host file H at hostroot_join(root, H). */
const char *agent_host_root(const struct agent *a);

#endif
