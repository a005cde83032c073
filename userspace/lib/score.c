/* Secure score formula (see score.h for the source of the model). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "score.h"

static const char *const status_names[SCORE_STATUS_MAX] = {
	[SCORE_HEALTHY] = "healthy",
	[SCORE_UNHEALTHY] = "unhealthy",
	[SCORE_NOT_APPLICABLE] = "not_applicable",
	[SCORE_UNKNOWN] = "unknown",
};

int score_status_parse(const char *s)
{
	for (int i = 0; s && i < SCORE_STATUS_MAX; i++)
		if (!strcmp(s, status_names[i]))
			return i;
	return -EINVAL;
}

const char *score_status_name(int st)
{
	return st >= 0 && st < SCORE_STATUS_MAX ? status_names[st] : "unknown";
}

/*
 * Maxima follow the cloud product's weights where a control has a counterpart
 * (secure management ports 8, apply adaptive application control 3,
 * remediate security configurations 4, manage access and permissions 4).
 * Runtime health weighs 6 because a silent agent protects nothing.
 */
const struct score_control_def score_controls[] = {
	{ "mgmt_ports", "Secure management ports", 8 },
	{ "runtime_health", "Keep runtime protection healthy", 6 },
	{ "harden_os", "Harden the operating system", 4 },
	{ "protect_accounts", "Protect accounts and access", 4 },
	{ "app_control", "Apply adaptive application control", 3 },
	{ "file_integrity", "Monitor file integrity", 3 },
	{ NULL, NULL, 0 },
};

const struct score_control_def *score_control_find(const char *id)
{
	for (const struct score_control_def *d = score_controls; id && d->id; d++)
		if (!strcmp(d->id, id))
			return d;
	return NULL;
}

size_t score_control_count(void)
{
	return sizeof(score_controls) / sizeof(score_controls[0]) - 1;
}

double score_control_current(double max, uint64_t healthy, uint64_t unhealthy)
{
	if (healthy + unhealthy == 0 || !isfinite(max) || max <= 0)
		return 0.0;
	return max * (double)healthy / (double)(healthy + unhealthy);
}

double score_potential_increase(double max, uint64_t resources, uint64_t unhealthy)
{
	if (resources == 0 || !isfinite(max) || max <= 0)
		return 0.0;
	if (unhealthy > resources)
		unhealthy = resources;
	return max / (double)resources * (double)unhealthy;
}

void score_total(struct score_control *c, size_t n, struct score_result *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		uint64_t h = c[i].n[SCORE_HEALTHY], u = c[i].n[SCORE_UNHEALTHY];
		double max = c[i].def ? c[i].def->max : 0;

		c[i].evaluable = h + u > 0 && max > 0;
		c[i].current = c[i].evaluable ? score_control_current(max, h, u) : 0.0;
		out->healthy += h;
		out->unhealthy += u;
		out->not_applicable += c[i].n[SCORE_NOT_APPLICABLE];
		out->unknown += c[i].n[SCORE_UNKNOWN];
		if (!c[i].evaluable)
			continue;
		out->evaluable++;
		out->current += c[i].current;
		out->max += max;
	}
	out->percent = out->max > 0 ? 100.0 * out->current / out->max : 0.0;
}

double score_round2(double v)
{
	if (!isfinite(v))
		return 0.0;
	return (double)(int64_t)(v * 100.0 + (v >= 0 ? 0.5 : -0.5)) / 100.0;
}
