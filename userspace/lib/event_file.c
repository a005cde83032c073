/* File record decoder (placeholder until the file sensor lands). */
#include <errno.h>
#include "event.h"

const char *event_file_op_name(unsigned op)
{
	return "unknown";
}

int event_file_to_json(const struct vigil_file *ev, size_t len, json_t *obj)
{
	return -EINVAL;
}
