/* The engines vigild runs, in this order (see engine.h). */
#include <stddef.h>
#include "engine.h"
#include "jit.h"

const struct engine *const vigil_engines[] = {
	&jit_engine,
	NULL,
};
