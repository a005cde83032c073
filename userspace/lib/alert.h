/*
 * Alert records (DESIGN.md "Alert record"): one JSON object per line with
 * time, id, rule, title, severity, mitre, host, process, container, the
 * feature's own fields, remediation and action.
 */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include <stdint.h>
#include <jansson.h>

/* MITRE ATT&CK tactic and technique (ids as published at attack.mitre.org). */
struct vigil_mitre {
	const char *tactic;          /* e.g. "TA0002" */
	const char *tactic_name;     /* e.g. "Execution" */
	const char *technique;       /* e.g. "T1204.002" */
	const char *technique_name;
};

/* New alert object with rule, title, severity (VIGIL_SEV_*), mitre, remediation and
 * action ("audited" | "blocked").  time, id and host are added when it is written.
 * New reference; NULL on ENOMEM. */
json_t *alert_new(const char *rule, const char *title, int severity, const struct vigil_mitre *m,
		  const char *remediation, const char *action);

/* Writes a random 128-bit id as 32 hex digits into out[33]. */
void alert_new_id(char out[33]);

#endif
