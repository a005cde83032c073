/*
 * Detections runtime: runs the rules of an event's kind, advances sequences
 * (ordered steps on one process lineage, process or container within a
 * window; bounded: the oldest partial sequence goes first when the bound is
 * reached) and de-duplicates alerts (same rule and key fields within the
 * window: the first is written at once, the repeats are folded and one
 * summary alert with the exact count and first/last time closes the window).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "detect_int.h"
#include "jsonx.h"
#include "util.h"

#define KEY_MAX    2048
#define VAL_MAX    1024
#define DETAIL_MAX 512

struct seq_step_rec {
	enum detect_kind kind;
	uint64_t ts_ns;
	uint32_t pid;
	char *exe;
	char *detail;
};

struct partial {
	size_t rule;
	size_t next;                         /* index of the step awaited */
	uint64_t start_ns;
	uint32_t root_tgid;                  /* lineage / process key */
	uint64_t root_start;
	char cid[65];                        /* container key */
	char *vars[DETECT_SEQ_VARS];
	struct seq_step_rec trail[DETECT_SEQ_STEPS];
	size_t bytes;                        /* heap bytes held, for accounting */
	struct partial *prev, *next_p;
};

struct dd_entry {
	char *key;
	size_t rule;
	uint64_t first_ns, last_ns;          /* boot ns */
	uint64_t count;
	json_t *alert;                       /* the alert written first (for the summary) */
};

struct detect_state {
	const struct detect_ruleset *rs;
	struct detect_limits lim;
	detect_alert_fn fn;
	void *ctx;
	/* sequences */
	struct partial *head, *tail;
	size_t npartials, seq_bytes;
	uint64_t seq_started, seq_completed, seq_expired, seq_evicted;
	/* dedup */
	struct dd_entry *dd;
	size_t ndd;
	uint64_t alerts, folded, summaries, dd_evicted;
	uint64_t events, rule_evals;
	uint64_t per_rule_cap;
	uint64_t *fired;                     /* per rule */
	size_t nfired;
};

static uint64_t wall(uint64_t boot_ns)
{
	return boot_ns ? util_boot_to_wall_ns(boot_ns) : util_now_ns();
}

static void set_time(json_t *o, const char *key, uint64_t boot_ns)
{
	char ts[48];

	json_object_set_new(o, key, json_string(util_rfc3339(wall(boot_ns), ts, sizeof(ts))));
}

/* ---------- de-duplication ---------- */

static int emit(struct detect_state *st, json_t *al, const struct detect_event *ev)
{
	st->alerts++;
	return st->fn ? st->fn(st->ctx, al, ev) : 0;
}

static void dd_close(struct detect_state *st, size_t i)
{
	struct dd_entry *d = &st->dd[i];

	if (d->count > 1 && d->alert) {
		json_t *al = d->alert, *id = json_object_get(al, "id"), *dj = json_object();

		json_object_set_new(al, "summary_of", id ? json_copy(id) : json_null());
		json_object_del(al, "id");
		json_object_set_new(dj, "count", json_integer((json_int_t)d->count));
		set_time(dj, "first_time", d->first_ns);
		set_time(dj, "last_time", d->last_ns);
		json_object_set_new(dj, "window_s", json_integer((json_int_t)(st->lim.dedup_window_ns / 1000000000ull)));
		json_object_set_new(al, "dedup", dj);
		set_time(al, "time", d->last_ns);
		st->summaries++;
		emit(st, al, NULL);
	}
	json_decref(d->alert);
	free(d->key);
	st->dd[i] = st->dd[--st->ndd];
}

/* The key of an alert: rule id and the rule's key fields. */
static char *dd_key(const struct detect_rule *r, struct detect_event *ev)
{
	char *k = malloc(KEY_MAX), val[VAL_MAX];
	size_t len;

	if (!k)
		return NULL;
	len = (size_t)snprintf(k, KEY_MAX, "%s", r->id);
	for (size_t i = 0; i < r->ndedup && len < KEY_MAX - 2; i++) {
		if (detect_field_string(ev, r->dedup[i], val, sizeof(val)))
			val[0] = 0;
		len += (size_t)snprintf(k + len, KEY_MAX - len, "\x1f%s", val);
	}
	return k;
}

static json_t *make_alert(const struct detect_rule *r, const struct detect_event *ev, uint64_t ts)
{
	struct vigil_mitre m = { r->mitre[0], r->mitre[1], r->mitre[2], r->mitre[3] };
	json_t *al = alert_new(r->id, r->title, r->severity, &m, r->remediation, "audited"), *dj;

	if (!al)
		return NULL;
	json_object_set_new(al, "description", json_string(r->description));
	json_object_set_new(al, "detection", json_pack("{s:s, s:s}", "event", detect_kind_name(ev->kind),
						       "rule_file", r->source ? r->source : ""));
	set_time(al, "time", ts);
	dj = json_object();
	json_object_set_new(dj, "count", json_integer(1));
	set_time(dj, "first_time", ts);
	set_time(dj, "last_time", ts);
	json_object_set_new(al, "dedup", dj);
	return al;
}

/* Writes the alert of rule ri for ev, or folds it into an open window. */
static void fire(struct detect_state *st, size_t ri, struct detect_event *ev, json_t *seq)
{
	const struct detect_rule *r = &st->rs->r[ri];
	uint64_t ts = ev->ts_ns;
	char *key = NULL;
	json_t *al;

	if (ri < st->nfired)
		st->fired[ri]++;
	if (st->lim.dedup_window_ns && (key = dd_key(r, ev))) {
		for (size_t i = 0; i < st->ndd; i++) {
			struct dd_entry *d = &st->dd[i];

			if (d->rule != ri || strcmp(d->key, key))
				continue;
			if (ts >= d->first_ns && ts - d->first_ns < st->lim.dedup_window_ns) {
				d->count++;
				d->last_ns = ts > d->last_ns ? ts : d->last_ns;
				st->folded++;
				free(key);
				json_decref(seq);
				return;
			}
			dd_close(st, i);
			break;
		}
	}
	al = make_alert(r, ev, ts);
	if (!al) {
		free(key);
		json_decref(seq);
		return;
	}
	if (seq)
		json_object_set_new(al, "sequence", seq);
	emit(st, al, ev);
	if (key) {
		if (st->ndd >= st->lim.dedup_max) {
			size_t oldest = 0;

			for (size_t i = 1; i < st->ndd; i++)
				if (st->dd[i].first_ns < st->dd[oldest].first_ns)
					oldest = i;
			dd_close(st, oldest);
			st->dd_evicted++;
		}
		st->dd[st->ndd++] = (struct dd_entry){ .key = key, .rule = ri, .first_ns = ts, .last_ns = ts,
						       .count = 1, .alert = json_deep_copy(al) };
	}
	json_decref(al);
}

/* ---------- sequences ---------- */

static char *bounded_dup(const char *s, size_t max, size_t *bytes)
{
	size_t n = strnlen(s ? s : "", max);
	char *d = strndup(s ? s : "", n);

	if (d)
		*bytes += n + 1;
	return d;
}

static void partial_free(struct detect_state *st, struct partial *p)
{
	if (p->prev)
		p->prev->next_p = p->next_p;
	else
		st->head = p->next_p;
	if (p->next_p)
		p->next_p->prev = p->prev;
	else
		st->tail = p->prev;
	for (size_t i = 0; i < DETECT_SEQ_VARS; i++)
		free(p->vars[i]);
	for (size_t i = 0; i < DETECT_SEQ_STEPS; i++) {
		free(p->trail[i].exe);
		free(p->trail[i].detail);
	}
	st->seq_bytes -= p->bytes;
	st->npartials--;
	free(p);
}

static void partial_append(struct detect_state *st, struct partial *p)
{
	p->prev = st->tail;
	p->next_p = NULL;
	if (st->tail)
		st->tail->next_p = p;
	else
		st->head = p;
	st->tail = p;
}

static void partial_unlink(struct detect_state *st, struct partial *p)
{
	if (p->prev)
		p->prev->next_p = p->next_p;
	else
		st->head = p->next_p;
	if (p->next_p)
		p->next_p->prev = p->prev;
	else
		st->tail = p->prev;
}

/* The field that best describes a step of this kind, for the alert's sequence trail. */
static const char *detail_field(enum detect_kind k)
{
	switch (k) {
	case DK_EXEC: return "process.cmdline";
	case DK_FILE: return "file.target";
	case DK_FILE_READ: return "file.path";
	case DK_NETWORK: return "network.remote.address";
	case DK_MODULE: return "module.path";
	case DK_SIGNAL: return "signal.name";
	case DK_PTRACE: return "ptrace.target.pid";
	case DK_EXEC_STDIO: return "stdio.remote.address";
	default: return "event.kind";
	}
}

static void record_step(struct partial *p, size_t s, struct detect_event *ev)
{
	char buf[DETAIL_MAX];
	struct seq_step_rec *t = &p->trail[s];

	t->kind = ev->kind;
	t->ts_ns = ev->ts_ns;
	t->pid = ev->h ? ev->h->tgid : ev->p ? ev->p->tgid : 0;
	p->bytes -= (t->exe ? strlen(t->exe) + 1 : 0) + (t->detail ? strlen(t->detail) + 1 : 0);
	free(t->exe);
	free(t->detail);
	t->exe = bounded_dup(ev->p ? ev->p->exe : NULL, 256, &p->bytes);
	if (detect_field_string(ev, detect_field_find(detail_field(ev->kind)), buf, sizeof(buf)))
		buf[0] = 0;
	t->detail = bounded_dup(buf, DETAIL_MAX, &p->bytes);
}

static bool is_ancestor_or_self(struct detect_event *ev, uint32_t tgid, uint64_t start)
{
	const struct proc *q = ev->p;

	for (int d = 0; q && d <= DETECT_ANC_DEPTH; d++) {
		if (q->tgid == tgid && (!start || !q->start_ns || q->start_ns == start))
			return true;
		if (!q->ppid || q->ppid == q->tgid || !ev->pt)
			break;
		q = proctab_lookup(ev->pt, q->ppid);
	}
	return false;
}

static bool correlates(const struct detect_rule *r, const struct partial *p, struct detect_event *ev)
{
	switch (r->by) {
	case SEQ_PROCESS:
		return ev->p && ev->p->tgid == p->root_tgid && ev->p->start_ns == p->root_start;
	case SEQ_CONTAINER:
		return !strcmp(ev->p ? ev->p->container.id : "", p->cid);
	case SEQ_LINEAGE:
		return is_ancestor_or_self(ev, p->root_tgid, p->root_start);
	}
	return false;
}

static bool same_ok(const struct detect_step *s, const struct partial *p, struct detect_event *ev)
{
	char buf[VAL_MAX];

	for (size_t i = 0; i < s->nsame; i++) {
		const char *want = p->vars[s->same_var[i]];

		if (!want || detect_field_string(ev, s->same_field[i], buf, sizeof(buf)) || strcmp(buf, want))
			return false;
	}
	return true;
}

static void capture(struct partial *p, const struct detect_step *s, struct detect_event *ev)
{
	char buf[VAL_MAX];

	for (size_t i = 0; i < s->ncap; i++) {
		char **v = &p->vars[s->cap_var[i]];

		if (detect_field_string(ev, s->cap_field[i], buf, sizeof(buf)))
			buf[0] = 0;
		p->bytes -= *v ? strlen(*v) + 1 : 0;
		free(*v);
		p->vars[s->cap_var[i]] = bounded_dup(buf, VAL_MAX, &p->bytes);
	}
}

static json_t *trail_json(const struct partial *p, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct seq_step_rec *t = &p->trail[i];
		json_t *o = json_pack("{s:i, s:s, s:i}", "step", (json_int_t)(i + 1), "event",
				      detect_kind_name(t->kind), "pid", (json_int_t)t->pid);

		set_time(o, "time", t->ts_ns);
		if (t->exe && t->exe[0])
			jsonx_set_str(o, "exe", t->exe);
		else
			json_object_set_new(o, "exe", json_null());
		jsonx_set_str(o, "detail", t->detail ? t->detail : "");
		json_array_append_new(a, o);
	}
	return a;
}

static void seq_start(struct detect_state *st, size_t ri, struct detect_event *ev)
{
	const struct detect_rule *r = &st->rs->r[ri];
	struct partial *p;
	uint32_t root = 0;
	uint64_t root_start = 0;

	if (r->by == SEQ_LINEAGE && ev->p) {
		/* the lineage is the actor's parent (the shell or script that drives the steps);
		 * under init itself the actor alone, or everything would correlate */
		root = ev->p->tgid;
		root_start = ev->p->start_ns;
		if (ev->p->ppid > 1 && ev->pt) {
			struct proc *q = proctab_lookup(ev->pt, ev->p->ppid);

			if (q && (!ev->p->pstart_ns || !q->start_ns || q->start_ns == ev->p->pstart_ns)) {
				root = q->tgid;
				root_start = q->start_ns;
			}
		}
	} else if (ev->p) {
		root = ev->p->tgid;
		root_start = ev->p->start_ns;
	}
	/* the same beginning again (same key and captures): restart that partial */
	for (p = st->head; p; p = p->next_p) {
		char buf[VAL_MAX];
		bool same = p->rule == ri && p->next == 1 && p->root_tgid == root && p->root_start == root_start &&
			    !strcmp(p->cid, ev->p ? ev->p->container.id : "");

		for (size_t i = 0; same && i < r->steps[0].ncap; i++)
			same = !detect_field_string(ev, r->steps[0].cap_field[i], buf, sizeof(buf)) &&
			       p->vars[r->steps[0].cap_var[i]] && !strcmp(buf, p->vars[r->steps[0].cap_var[i]]);
		if (same) {
			size_t before = p->bytes;

			p->start_ns = ev->ts_ns;
			record_step(p, 0, ev);
			st->seq_bytes = st->seq_bytes - before + p->bytes;
			partial_unlink(st, p);
			partial_append(st, p);
			return;
		}
	}
	if (st->npartials >= st->lim.seq_max) {
		partial_free(st, st->head);
		st->seq_evicted++;
	}
	if (!(p = calloc(1, sizeof(*p))))
		return;
	p->bytes = sizeof(*p);
	p->rule = ri;
	p->next = 1;
	p->start_ns = ev->ts_ns;
	p->root_tgid = root;
	p->root_start = root_start;
	snprintf(p->cid, sizeof(p->cid), "%s", ev->p ? ev->p->container.id : "");
	capture(p, &r->steps[0], ev);
	record_step(p, 0, ev);
	partial_append(st, p);
	st->npartials++;
	st->seq_bytes += p->bytes;
	st->seq_started++;
}

static int seq_event(struct detect_state *st, size_t ri, struct detect_event *ev)
{
	const struct detect_rule *r = &st->rs->r[ri];
	signed char m[DETECT_SEQ_STEPS];
	struct partial *p, *nx;
	int fired = 0;

	for (size_t s = 0; s < r->nsteps; s++)
		m[s] = r->steps[s].kind == ev->kind ? -1 : 0;      /* -1: not evaluated yet */
	for (p = st->head; p; p = nx) {
		size_t s = p->next;

		nx = p->next_p;
		if (p->rule != ri || !m[s])
			continue;
		if (ev->ts_ns > p->start_ns && ev->ts_ns - p->start_ns > r->window_ns)
			continue;      /* expired: the tick removes it */
		if (m[s] < 0)
			m[s] = detect_rule_matches(r, r->steps[s].cond, ev);
		if (!m[s] || !correlates(r, p, ev) || !same_ok(&r->steps[s], p, ev))
			continue;
		{
			size_t before = p->bytes;

			capture(p, &r->steps[s], ev);
			record_step(p, s, ev);
			st->seq_bytes = st->seq_bytes - before + p->bytes;
		}
		if (s + 1 == r->nsteps) {
			json_t *trail = trail_json(p, r->nsteps);

			partial_free(st, p);
			st->seq_completed++;
			fire(st, ri, ev, trail);
			fired++;
		} else {
			p->next = s + 1;
		}
	}
	if (m[0] < 0 && detect_rule_matches(r, r->steps[0].cond, ev))
		seq_start(st, ri, ev);
	return fired;
}

/* ---------- public ---------- */

struct detect_state *detect_state_new(const struct detect_ruleset *rs, const struct detect_limits *lim,
				      detect_alert_fn fn, void *ctx)
{
	struct detect_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->fn = fn;
	st->ctx = ctx;
	detect_state_reset(st, rs, lim);
	if (!st->dd && st->lim.dedup_max) {
		free(st);
		errno = ENOMEM;
		return NULL;
	}
	return st;
}

void detect_state_reset(struct detect_state *st, const struct detect_ruleset *rs, const struct detect_limits *lim)
{
	while (st->ndd)
		dd_close(st, st->ndd - 1);
	while (st->head)
		partial_free(st, st->head);
	free(st->dd);
	free(st->fired);
	st->rs = rs;
	st->lim = *lim;
	if (!st->lim.dedup_max)
		st->lim.dedup_max = 1024;
	if (!st->lim.seq_max)
		st->lim.seq_max = 4096;
	st->dd = calloc(st->lim.dedup_max, sizeof(*st->dd));
	st->nfired = rs ? rs->n : 0;
	st->fired = st->nfired ? calloc(st->nfired, sizeof(*st->fired)) : NULL;
	if (!st->fired)
		st->nfired = 0;
}

int detect_state_event(struct detect_state *st, struct detect_event *ev)
{
	const struct detect_ruleset *rs = st->rs;
	int n = 0;

	st->events++;
	ev->anc_off = ev->anc_name_off = -1;
	for (size_t i = 0; rs && i < rs->n; i++) {
		const struct detect_rule *r = &rs->r[i];

		if (!r->enabled || !(r->kinds & (1u << ev->kind)))
			continue;
		st->rule_evals++;
		if (r->nsteps) {
			n += seq_event(st, i, ev);
		} else if (detect_rule_matches(r, r->cond, ev)) {
			fire(st, i, ev, NULL);
			n++;
		}
	}
	return n;
}

void detect_state_tick(struct detect_state *st, uint64_t now_ns)
{
	struct partial *p, *nx;

	for (size_t i = 0; i < st->ndd;) {
		if (now_ns > st->dd[i].first_ns && now_ns - st->dd[i].first_ns >= st->lim.dedup_window_ns)
			dd_close(st, i);
		else
			i++;
	}
	for (p = st->head; p; p = nx) {
		nx = p->next_p;
		if (now_ns > p->start_ns && now_ns - p->start_ns > st->rs->r[p->rule].window_ns) {
			partial_free(st, p);
			st->seq_expired++;
		}
	}
}

size_t detect_state_partials(const struct detect_state *st)
{
	return st->npartials;
}

size_t detect_state_seq_bytes(const struct detect_state *st)
{
	return st->seq_bytes;
}

json_t *detect_state_status(const struct detect_state *st)
{
	json_t *o = json_object(), *fired = json_object();

	for (size_t i = 0; i < st->nfired; i++)
		if (st->fired[i])
			json_object_set_new(fired, st->rs->r[i].id, json_integer((json_int_t)st->fired[i]));
	json_object_set_new(o, "events", json_integer((json_int_t)st->events));
	json_object_set_new(o, "rule_evaluations", json_integer((json_int_t)st->rule_evals));
	json_object_set_new(o, "alerts_written", json_integer((json_int_t)st->alerts));
	json_object_set_new(o, "matches_by_rule", fired);
	json_object_set_new(o, "dedup", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"open_windows", (json_int_t)st->ndd, "max", (json_int_t)st->lim.dedup_max,
		"folded", (json_int_t)st->folded, "summaries", (json_int_t)st->summaries,
		"evicted", (json_int_t)st->dd_evicted));
	json_object_set_new(o, "sequences", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"partial", (json_int_t)st->npartials, "max", (json_int_t)st->lim.seq_max,
		"bytes", (json_int_t)st->seq_bytes, "started", (json_int_t)st->seq_started,
		"completed", (json_int_t)st->seq_completed, "expired", (json_int_t)st->seq_expired,
		"evicted", (json_int_t)st->seq_evicted));
	return o;
}

void detect_state_flush(struct detect_state *st)
{
	while (st && st->ndd)
		dd_close(st, st->ndd - 1);
}

void detect_state_free(struct detect_state *st)
{
	if (!st)
		return;
	detect_state_flush(st);
	while (st->head)
		partial_free(st, st->head);
	free(st->dd);
	free(st->fired);
	free(st);
}
