/* Detections internals shared by detect_rules.c, detect_state.c and detect.c. */
#ifndef VIGIL_DETECT_INT_H
#define VIGIL_DETECT_INT_H

#include "detect.h"

#define DETECT_ANC_DEPTH    8      /* ancestors looked at (fields, lineage) */
#define DETECT_DEDUP_FIELDS 8
#define DETECT_SEQ_STEPS    8
#define DETECT_SEQ_VARS     4

enum ftype { FT_STR, FT_INT, FT_BOOL, FT_LIST };

/* A field value: strings and lists point into the event (lists are NUL-separated). */
struct dval {
	const char *s;
	size_t len;
	int64_t i;
};

struct detect_field {
	const char *name;
	enum ftype type;
	unsigned kinds;                    /* 1 << enum detect_kind */
	int (*get)(struct detect_event *e, struct dval *v);   /* 1 present, 0 absent */
};
extern const struct detect_field detect_fields[];
int detect_field_find(const char *name);
int detect_field_get(struct detect_event *e, int field, struct dval *v);
/* Field as text (lists joined by spaces); 0 or -ENOENT. */
int detect_field_string(struct detect_event *e, int field, char *buf, size_t len);

enum dop { OP_EQUALS, OP_IN, OP_PREFIX, OP_SUFFIX, OP_CONTAINS, OP_GLOB, OP_GT, OP_GE, OP_LT, OP_LE,
	   OP_BITS_ANY, OP_BITS_ALL, OP_EXISTS };
enum dnode_type { N_ALL, N_ANY, N_NOT, N_LEAF };

struct dnode {
	enum dnode_type type;
	enum dop op;
	int field;
	struct dnode **kids;
	size_t nkids;
	char **str;                /* values after ${} binding */
	char **raw;                /* values as written (raw[i] == str[i] when unbound) */
	size_t *slen;
	size_t nstr;
	int64_t num;               /* integer/boolean operand */
	int64_t *nums;             /* "in" on integers */
	size_t nnum;
};

enum seq_by { SEQ_LINEAGE, SEQ_PROCESS, SEQ_CONTAINER };

struct detect_step {
	enum detect_kind kind;
	struct dnode *cond;
	int cap_var[DETECT_SEQ_VARS], cap_field[DETECT_SEQ_VARS];
	size_t ncap;
	int same_field[DETECT_SEQ_VARS], same_var[DETECT_SEQ_VARS];
	size_t nsame;
};

struct detect_rule {
	char *id, *title, *description, *remediation;
	char *mitre[4];            /* tactic, tactic_name, technique, technique_name */
	int severity;
	bool enabled;
	enum detect_kind kind;     /* event kind (last step's for sequences) */
	unsigned kinds;            /* every kind it uses */
	struct dnode *cond;
	struct dnode **exc;
	size_t nexc;
	int dedup[DETECT_DEDUP_FIELDS];
	size_t ndedup;
	/* sequence (nsteps >= 2) */
	struct detect_step steps[DETECT_SEQ_STEPS];
	size_t nsteps;
	enum seq_by by;
	uint64_t window_ns;
	char *vars[DETECT_SEQ_VARS];
	size_t nvars;
	char *source;              /* rule file */
};

struct detect_ruleset {
	struct detect_rule *r;
	size_t n;
};

bool detect_cond_eval(const struct dnode *n, struct detect_event *e);
/* Condition holds and no exception does. */
bool detect_rule_matches(const struct detect_rule *r, const struct dnode *cond, struct detect_event *e);
bool detect_cond_paths(const struct dnode *n, bool read_only, struct policy_strv *out);

#endif
