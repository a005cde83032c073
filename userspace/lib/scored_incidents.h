/*
 * vigil-scored incidents: alerts of one host grouped into incidents that an
 * analyst triages (severity, status, owner, tags, comments, a classification
 * on close), with the incident's entities, their relations and a timeline.
 *
 * Correlation runs at ingest, inside the transaction that stores a batch of
 * alerts (scored_api.c h_alerts_post), one alert at a time, so a batch is
 * correlated completely or not at all.  An alert joins an open incident of
 * its host when, within INCIDENT_WINDOW_NS of that incident's use of the key,
 *   - it is the de-duplication summary of an alert of the incident, or
 *   - it shares a process lineage (the process itself, its parent or its
 *     grandparent, service managers such as systemd, containerd-shim or cron
 *     excepted), a container, or a non-root user (login uid when set), or
 *   - no key matches and it advances the incident along the ATT&CK tactic
 *     order (INCIDENT_CHAIN_WINDOW_NS, same container or both on the host):
 *     every earlier alert of the incident has a lower tactic and every later
 *     one a higher tactic (so alerts may arrive out of order);
 * otherwise it opens a new incident.  Closed incidents take no new alerts.
 * Each lookup is a point query on (host, key), so the work per alert is
 * bounded whatever the number of incidents.  An alert id joins at most once.
 *
 * Severity: the highest alert severity, one step higher (up to "critical")
 * when the alerts span two or more tactics; an analyst's setting overrides.
 */
#ifndef VIGIL_SCORED_INCIDENTS_H
#define VIGIL_SCORED_INCIDENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "scored.h"

#define INCIDENT_WINDOW_NS        (3600ll * 1000000000ll)  /* entity keys: 1 h */
#define INCIDENT_CHAIN_WINDOW_NS  (1800ll * 1000000000ll)  /* tactic order alone: 30 min */
#define INCIDENT_KEY_TTL_NS       (86400ll * 1000000000ll) /* unused keys are pruned after a day */
#define INCIDENT_ENTITIES_MAX     1000                     /* per incident; more are counted */
#define INCIDENT_EDGES_MAX        2000
#define INCIDENT_ALERTS_SHOWN     1000                     /* alerts returned by GET one incident */
#define INCIDENT_SEV_CRITICAL     4                        /* above VIGIL_SEV_HIGH: incidents only */

/* Kill-chain stage of an ATT&CK tactic id ("TA0002"): 1 (initial access) .. 12
 * (impact) in the order initial access, execution, persistence, privilege
 * escalation, defense evasion, credential access, discovery, lateral movement,
 * collection, command and control, exfiltration, impact; 0 when not one of them. */
int incident_tactic_stage(const char *tactic);
/* The tactic id and name of stage 1..12; NULL otherwise. */
const char *incident_stage_tactic(int stage);
const char *incident_stage_name(int stage);

/* "informational" .. "critical" <-> 0 .. 4; -EINVAL for anything else. */
int incident_severity_parse(const char *s);
const char *incident_severity_name(int sev);

/* Closing classifications (Microsoft Sentinel's): true_positive, benign_positive,
 * false_positive_incorrect_logic, false_positive_incorrect_data, undetermined. */
bool incident_classification_valid(const char *s);

/* False when $VIGIL_SCORED_INCIDENTS is "off" (read once): ingest then stores
 * alerts without correlating them (for measuring the cost of correlation). */
bool scored_incidents_enabled(void);

struct incident_batch;

/* Prepares the statements for correlating alerts inside the caller's open
 * transaction on db.  0 or -EIO (the SQLite error is on the handle). */
int scored_incidents_begin(struct scored_db *db, struct incident_batch **out);
/* Correlates one alert just stored for host (alert is the stored JSON object,
 * borrowed; time_ns its time).  Returns the incident id (> 0), 0 when this
 * alert id already belongs to an incident, or -EIO. */
int64_t scored_incidents_add(struct incident_batch *b, const char *host, const json_t *alert, int64_t time_ns);
/* Finalises the statements; NULL is a no-op. */
void scored_incidents_end(struct incident_batch *b);

/* API handlers (routes in scored_api.c). */
int scored_h_incidents_list(struct scored_ctx *c, struct scored_resp *rs);
int scored_h_incident_get(struct scored_ctx *c, struct scored_resp *rs);
int scored_h_incident_update(struct scored_ctx *c, struct scored_resp *rs);
int scored_h_incident_comment(struct scored_ctx *c, struct scored_resp *rs);
int scored_h_incident_close(struct scored_ctx *c, struct scored_resp *rs);

#endif
