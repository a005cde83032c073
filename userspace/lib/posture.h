/*
 * Posture: a catalogue of recommendations assessed on this host, each with
 * id, title, description, severity, security control (score.h), the evidence
 * found, remediation steps and, where one is safe, an automated fix.
 *
 * Checks read the host through the roots in struct posture_env, so tests run
 * them against a fake tree.  vigil's own coverage (application control, JIT,
 * FIM baseline, event loss, enforcement backends) comes from env->runtime, a
 * JSON object the posture engine fills from the running agent (its layout is
 * documented at struct posture_env); without it (no vigild) those checks are
 * unhealthy, since nothing protects the host at run time.
 *
 * A check that cannot be evaluated reports not_applicable or unknown with a
 * reason: never healthy, never a crash.
 */
#ifndef VIGIL_POSTURE_H
#define VIGIL_POSTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "score.h"

struct jit_config;

struct posture_env {
	const char *proc_sys;        /* "/proc/sys" */
	const char *etc;             /* "/etc" */
	const char *security;        /* "/sys/kernel/security" */
	const char *proc_net;        /* "/proc/net" */
	const char *dpkg_dir;        /* "/var/lib/dpkg" */
	const char *sysctl_dir;      /* where sysctl fixes persist: "/etc/sysctl.d" */
	const char *path_dirs;       /* ':'-separated PATH directories scanned for world-writable entries */
	const char *suid_dirs;       /* ':'-separated trees scanned for SUID/SGID binaries */
	const char *sshd_bin;        /* "/usr/sbin/sshd": sshd is installed when it exists */
	const struct jit_config *jit;  /* JIT policy (NULL: no port is protected) */
	/*
	 * What vigild knows about itself (borrowed; NULL = vigild not running):
	 *   "aac":      {"mode": "off|learn|audit|enforce", "rules": n, "allowlist_age_s": s,
	 *                "max_age_s": s}
	 *   "fim":      {"enabled": b, "baseline": b, "baseline_age_s": s, "max_age_s": s,
	 *                "entries": n, "uncovered": [critical paths not in the baseline]}
	 *   "loss":     {"last_loss": "RFC 3339" | null, "last_loss_age_s": s, "acknowledged": b,
	 *                "spool_dropped": n}
	 *   "backends": {"bpf_lsm": b, "bpf_lsm_error": "...", "fanotify_perm": b, "xdp": b, "tc": b}
	 *   "jit":      {"unprotected": [listeners]} (precomputed; otherwise scanned with jit)
	 */
	const json_t *runtime;
	/* Results of slow checks from an earlier run, {rec_id: assessment} (borrowed, may be
	 * NULL): posture_assess() reuses them instead of running those checks again. */
	const json_t *cached;
	/* Slow checks without a cached result report unknown instead of running (the
	 * daemon's event loop must not wait for a file-system scan). */
	bool skip_slow;
	/* Fix of "vigil.event_loss": acknowledges the losses seen so far (NULL: no fix). */
	int (*ack_loss)(void *ctx);
	void *ctx;
};

/* The default roots of the real host (proc, /etc, PATH, ...); runtime and jit NULL. */
void posture_env_default(struct posture_env *e);

/* The catalogue. */
struct posture_finding {
	int status;                  /* enum score_status */
	json_t *evidence;            /* new reference (any JSON) or NULL */
	char reason[512];            /* why: for unhealthy, not_applicable and unknown */
};

struct posture_rec {
	const char *id;              /* "kernel.aslr" */
	const char *title;
	const char *description;
	int severity;                /* VIGIL_SEV_* */
	const char *control;         /* score_controls[] id */
	const char *remediation;
	/* Fills f (status, evidence, reason). Never fails: errors become unknown. */
	void (*check)(const struct posture_env *e, const struct posture_rec *r, struct posture_finding *f);
	/* Automated fix (NULL: none). Appends what it did (or would do) to actions as strings.
	 * 0 or -errno with a reason in err. */
	int (*fix)(const struct posture_env *e, const struct posture_rec *r, bool dry_run,
		   json_t *actions, char *err, size_t errlen);
	const char *fix_desc;        /* what the fix changes */
	const void *arg;             /* check-specific data */
	bool slow;                   /* takes seconds (file-system scans): cacheable */
};

/* The catalogue, ending with {NULL}. */
extern const struct posture_rec posture_catalogue[];
/* The recommendation id, or NULL. */
const struct posture_rec *posture_find(const char *id);

/* Assesses one recommendation; new JSON object (see posture_assess). NULL on ENOMEM. */
json_t *posture_assess_one(const struct posture_env *e, const struct posture_rec *r);

/*
 * Runs the whole catalogue.  New object:
 *   {"time", "recommendations": [{id, title, description, severity, control, status,
 *     reason, evidence, remediation, fix: {automated, description}}],
 *    "controls": [{id, title, max, current, healthy, unhealthy, not_applicable,
 *     unknown, evaluable}],
 *    "score": {current, max, percent, evaluable_controls}}
 * vigild's snapshots add "host", "agent_version", "kernel", "backends", "forwarder",
 * "workloads" and "workloads_omitted" (posture_engine.c; see posture_workloads()).
 * NULL on ENOMEM.
 */
json_t *posture_assess(const struct posture_env *e);

/* Adds "controls" and "score" to a posture object from its "recommendations"
 * (one host: each recommendation is one resource).  0 or -EINVAL. */
int posture_score(json_t *posture);

/*
 * Applies the automated fix of id (or with dry_run only says what it would do).
 * *actions gets a new array of strings.  0; -ENOENT unknown id; -EOPNOTSUPP no
 * automated fix; -errno from the fix, with a reason in err.
 */
int posture_fix(const struct posture_env *e, const char *id, bool dry_run, json_t **actions,
		char *err, size_t errlen);

/*
 * Workloads: the containers running on this node now, for the snapshot vigild
 * forwards (the "workloads" array; see README "Posture: workloads").
 */
#define POSTURE_WORKLOADS_MAX 512     /* containers per snapshot; kubelet's default is 110 pods */

struct proctab;

/*
 * Groups the live (not exited) processes of t that run in a container by container id.
 * New array, sorted by id, of at most max objects {"id", "runtime", "pod_uid",
 * "processes"} (runtime and pod_uid when the cgroup path shows them); enrich (may be
 * NULL) is called on each kept object to add the pod fields ("pod", "namespace", "name",
 * "image": k8s_engine_enrich fits).  Containers past max (in id order) are left out and
 * counted in *omitted.  NULL with errno = ENOMEM.
 */
json_t *posture_workloads(const struct proctab *t, size_t max, void (*enrich)(void *ctx, json_t *container),
			  void *ctx, size_t *omitted);

/* Writes key = value into dir/60-vigil-posture.conf (replacing an earlier line
 * for key; the file is replaced atomically).  0 or -errno. */
int posture_sysctl_persist(const char *dir, const char *key, const char *value);

#endif
