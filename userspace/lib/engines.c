/* The engines vigild runs, in this order (see engine.h). */
#include <stddef.h>
#include "engine.h"

const struct engine *const vigil_engines[] = {
	NULL,
};
