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
