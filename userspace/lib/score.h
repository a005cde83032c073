/*
 * Secure score: the formula of the cloud security center's published model
 * ("Secure score in Microsoft Defender for Cloud", section "How your secure
 * score is calculated", docs.microsoft.com/azure/defender-for-cloud/secure-score-security-controls):
 *
 *   control current score = max x healthy / (healthy + unhealthy)
 *   secure score (percent) = 100 x sum(current) / sum(max)
 *   potential increase of a recommendation = (max / resources in the control) x its unhealthy resources
 *
 * Resources that are not applicable (or whose assessment is unknown) are left
 * out of both counts.  A control with no evaluable resource contributes nothing
 * to either sum and is flagged as such; the secure score of nothing evaluable is
 * 0 with evaluable = false, never NaN and never 100 by default.
 *
 * vigil's resource unit is one assessment: a (host, recommendation) pair.  A
 * Linux host's hardening settings are remediated one by one, so with this unit
 * the potential increases of a control's recommendations add up to exactly the
 * points the control is missing.
 *
 * Pure functions: no I/O, no allocation except where stated.
 */
#ifndef VIGIL_SCORE_H
#define VIGIL_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Assessment states of one resource for one recommendation. */
enum score_status {
	SCORE_HEALTHY = 0,
	SCORE_UNHEALTHY,
	SCORE_NOT_APPLICABLE,   /* the check does not apply here (e.g. sshd not installed) */
	SCORE_UNKNOWN,          /* could not be evaluated: never counts as healthy */
	SCORE_STATUS_MAX,
};
/* "healthy" | "unhealthy" | "not_applicable" | "unknown"; -EINVAL otherwise. */
int score_status_parse(const char *s);
const char *score_status_name(int st);

/* A security control of the catalogue, with its maximum points. */
struct score_control_def {
	const char *id;          /* e.g. "harden_os" */
	const char *title;       /* e.g. "Harden the operating system" */
	double max;              /* points */
};
/* The catalogue, ending with {NULL}.  Agents send control ids; the service
 * scores with these maxima only (an agent cannot raise its own). */
extern const struct score_control_def score_controls[];
/* The definition of id, or NULL. */
const struct score_control_def *score_control_find(const char *id);
size_t score_control_count(void);

/* Control score: max x healthy / (healthy + unhealthy); 0 when both are 0. */
double score_control_current(double max, uint64_t healthy, uint64_t unhealthy);
/* Potential increase: (max / resources) x unhealthy, resources = the control's
 * evaluable (healthy + unhealthy) resources; 0 when resources is 0. */
double score_potential_increase(double max, uint64_t resources, uint64_t unhealthy);

/* Counts of one control, filled by the caller; current/evaluable by score_total(). */
struct score_control {
	const struct score_control_def *def;
	uint64_t n[SCORE_STATUS_MAX];     /* resources per enum score_status */
	double current;                   /* points */
	bool evaluable;                   /* healthy + unhealthy > 0 */
};

struct score_result {
	double current;          /* sum of control scores (points) */
	double max;              /* sum of the maxima of evaluable controls */
	double percent;          /* 100 x current / max; 0 when max is 0 */
	size_t evaluable;        /* controls with at least one evaluable resource */
	uint64_t healthy, unhealthy, not_applicable, unknown;
};

/* Computes each control's current score and the secure score of c[0..n).  Always
 * gives finite numbers. */
void score_total(struct score_control *c, size_t n, struct score_result *out);

/* Rounds to 2 decimals (what the product displays). */
double score_round2(double v);

#endif
