/* Network record decoder (placeholder until the network sensor lands). */
#include <errno.h>
#include "event.h"

const char *event_net_op_name(unsigned op)
{
	return "unknown";
}

int event_net_to_json(const struct vigil_net *ev, size_t len, json_t *obj)
{
	return -EINVAL;
}
