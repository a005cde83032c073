/* Shared record checks.  See event.h. */
#include <errno.h>
#include "event.h"

int event_check_str(const void *base, size_t len, size_t off, size_t n)
{
	const char *b = base;

	if (off > len || n > len - off)
		return -EINVAL;
	if (n && b[off + n - 1] != 0)
		return -EINVAL;
	return 0;
}

int event_exec_check(const struct vigil_exec *ev, size_t len)
{
	size_t off = sizeof(*ev);

	if (len < sizeof(*ev))
		return -EINVAL;
	if (event_check_str(ev, len, off, ev->exe_len) ||
	    (ev->argv_len && off + ev->exe_len + ev->argv_len > len) ||
	    event_check_str(ev, len, off + ev->exe_len + ev->argv_len, ev->cwd_len) ||
	    event_check_str(ev, len, off + ev->exe_len + ev->argv_len + ev->cwd_len, ev->script_len))
		return -EINVAL;
	return 0;
}
