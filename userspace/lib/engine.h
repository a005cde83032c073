/*
 * Engines: the features that act on what the sensors see (application
 * control, JIT port access, file integrity, detections, forwarding).  Each is
 * a table of callbacks the agent calls; every callback is optional.  An engine
 * keeps its own state, reads its policy section from pol->feature[...], and
 * reports through agent_emit_alert().  Register a new one in engines.c.
 */
#ifndef VIGIL_ENGINE_H
#define VIGIL_ENGINE_H

#include <stdint.h>
#include <stddef.h>
#include <jansson.h>

#include "ctl.h"
#include "policy.h"
#include "probe.h"
#include "proctab.h"
#include "vigil_events.h"

struct agent;

struct engine {
	const char *name;
	/* Called once at start-up, after the sensors are attached and before the loop.
	 * Returns the engine's state (non-NULL) or NULL with a one-line reason in err
	 * (vigild then exits 2 and detaches everything). */
	void *(*create)(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen);
	/* A new, already validated policy: apply it or return -errno with a reason (the
	 * agent then keeps the old policy for every engine). */
	int (*apply)(void *st, const struct vigil_policy *pol, char *err, size_t errlen);
	/* Each decoded kernel record after enrichment; p is the actor (may be NULL). */
	void (*on_record)(void *st, const struct vigil_hdr *h, const void *rec, size_t len, struct proc *p);
	/* Every 200 ms, with CLOCK_BOOTTIME ns. */
	void (*tick)(void *st, uint64_t boot_ns);
	/* An fd the agent polls for readability (or -1), and what to do when it is readable. */
	int (*poll_fd)(void *st);
	void (*on_poll)(void *st);
	/* Control-socket commands this engine serves (table ending with {NULL}); ctx = st. */
	const struct ctl_cmd *cmds;
	/* New JSON object for `vigil status` (key = engine name), or NULL. */
	json_t *(*status)(void *st);
	/* At shutdown, for every engine in order before any is destroyed: emits what is
	 * still pending (records left in a ringbuf, held alerts, open summaries) while
	 * every engine still receives alerts.  Optional. */
	void (*stop)(void *st);
	/* Frees; st may be NULL.  Engines are destroyed in reverse order; an alert emitted
	 * from here reaches only the engines not destroyed yet. */
	void (*destroy)(void *st);
	/* Each alert after it was written to the alert log (the forwarder spools it), also
	 * one the log could not take. */
	void (*on_alert)(void *st, const json_t *alert);
};

/* Registered engines (engines.c), NULL-terminated. */
extern const struct engine *const vigil_engines[];

/* Services the agent gives engines. */
int agent_emit_alert(struct agent *a, json_t *alert);
/* Adds process, parents, container and cgroup_id of p (may be NULL) to o. */
void agent_add_actor(struct agent *a, json_t *o, struct proc *p, const struct vigil_hdr *h);
const char *agent_state_dir(const struct agent *a);
const char *agent_log_dir(const struct agent *a);
const char *agent_host(const struct agent *a);
const struct probe_result *agent_probe(const struct agent *a);
struct proctab *agent_proctab(struct agent *a);
/* Recomputes the file sensor's watched roots (file.watch, FIM paths) and applies them. 0 or -errno. */
int agent_refresh_watch(struct agent *a);
/* Sums the sensors' loss counters (see sensors_loss); zeros when no sensors. */
void agent_loss(struct agent *a, uint64_t out[VIGIL_LOSS_SLOTS]);
/* agent_opts.metrics_listen ("HOST:PORT") or NULL when metrics are off. */
const char *agent_metrics_listen(const struct agent *a);
/* The engine state registered under name, or NULL (for engines that cooperate). */
void *agent_engine(struct agent *a, const char *name);

#endif
