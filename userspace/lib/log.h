/* Daemon logging to stderr, with a rate limit for hot paths. */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

enum vlog_level { VLOG_ERR, VLOG_WARN, VLOG_INFO, VLOG_DEBUG };

extern int vlog_verbosity;   /* messages above this level are dropped; default VLOG_INFO */

void vlog(enum vlog_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At most `burst` messages per `interval_s` seconds per call site; counts what it dropped. */
#define vlog_ratelimited(lvl, fmt, ...) do {                                   \
	static struct vlog_rl __rl = { .interval_s = 5, .burst = 5 };          \
	if (vlog_rl_ok(&__rl))                                                 \
		vlog(lvl, fmt, ##__VA_ARGS__);                                 \
} while (0)

struct vlog_rl {
	int interval_s;
	int burst;
	long window_start;
	int count;
	unsigned long suppressed;
};
int vlog_rl_ok(struct vlog_rl *rl);

#endif
