/* Daemon logging.  See log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

int vlog_verbosity = VLOG_INFO;

void vlog(enum vlog_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if ((int)lvl > vlog_verbosity)
		return;
	fprintf(stderr, "vigild: %s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int vlog_rl_ok(struct vlog_rl *rl)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - rl->window_start >= rl->interval_s) {
		if (rl->suppressed)
			fprintf(stderr, "vigild: warning: %lu similar messages suppressed\n", rl->suppressed);
		rl->window_start = ts.tv_sec;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < rl->burst) {
		rl->count++;
		return 1;
	}
	rl->suppressed++;
	return 0;
}
