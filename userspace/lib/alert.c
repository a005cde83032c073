/* Alert records.  See alert.h. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "alert.h"
#include "policy.h"
#include "util.h"

void alert_new_id(char out[33])
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		static uint64_t ctr;
		uint64_t t = util_now_ns() ^ ++ctr;
		memcpy(b, &t, 8);
		memcpy(b + 8, &ctr, 8);
	}
	util_hex(b, sizeof(b), out);
}

json_t *alert_new(const char *rule, const char *title, int severity, const struct vigil_mitre *m,
		  const char *remediation, const char *action)
{
	json_t *a = json_object();
	json_t *mi = json_object();

	if (!a || !mi) {
		json_decref(a);
		json_decref(mi);
		return NULL;
	}
	json_object_set_new(a, "time", json_null());      /* filled when written */
	json_object_set_new(a, "id", json_null());
	json_object_set_new(a, "rule", json_string(rule));
	json_object_set_new(a, "title", json_string(title));
	json_object_set_new(a, "severity", json_string(severity_name(severity)));
	if (m) {
		json_object_set_new(mi, "tactic", json_string(m->tactic));
		if (m->tactic_name)
			json_object_set_new(mi, "tactic_name", json_string(m->tactic_name));
		json_object_set_new(mi, "technique", json_string(m->technique));
		if (m->technique_name)
			json_object_set_new(mi, "technique_name", json_string(m->technique_name));
	}
	json_object_set_new(a, "mitre", mi);
	json_object_set_new(a, "host", json_null());
	json_object_set_new(a, "remediation", json_string(remediation ? remediation : ""));
	json_object_set_new(a, "action", json_string(action ? action : "audited"));
	return a;
}
