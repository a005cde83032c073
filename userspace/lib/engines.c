/* The engines vigild runs, in this order (see engine.h). */
#include <stddef.h>
#include "engine.h"
#include "forward.h"
#include "aac.h"
#include "jit.h"
#include "fim.h"
#include "k8s.h"
#include "detect.h"
#include "metrics.h"
#include "selfprot.h"

const struct engine *const vigil_engines[] = {
	&k8s_engine,       /* first: pod metadata for the alerts of the others */
	&aac_engine,
	&jit_engine,
	&fim_engine,
	&detect_engine,
	&forward_engine,
	&selfprot_engine,  /* after jit (its pin checks follow jit's changes) and forward (spools its alerts) */
	&posture_engine,
	&metrics_engine,   /* last: serves the status of all the others */
	NULL,
};
