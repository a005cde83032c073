/*
 * Posture workloads: the containers running on this node, from the process
 * table (each entry carries the container id its cgroup path gave, see
 * container.h), one object per container with its process count.  See
 * posture_workloads() in posture.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture.h"
#include "proctab.h"

struct collect {
	const struct proc **v;
	size_t n, cap;
	bool nomem;
};

static void collect_one(const struct proc *p, void *ctx)
{
	struct collect *c = ctx;

	if (p->exited || !p->container.id[0] || c->nomem)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		const struct proc **v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->nomem = true;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = p;
}

static int by_container(const void *a, const void *b)
{
	const struct proc *x = *(const struct proc *const *)a, *y = *(const struct proc *const *)b;

	return strcmp(x->container.id, y->container.id);
}

json_t *posture_workloads(const struct proctab *t, size_t max, void (*enrich)(void *ctx, json_t *container),
			  void *ctx, size_t *omitted)
{
	struct collect c = { 0 };
	json_t *arr = json_array();
	size_t i, j, left = 0;

	if (!arr)
		goto nomem;
	proctab_foreach(t, collect_one, &c);
	if (c.nomem)
		goto nomem;
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), by_container);
	for (i = 0; i < c.n; i = j) {
		const struct container_info *ci = &c.v[i]->container;
		json_t *o;

		for (j = i + 1; j < c.n && !strcmp(c.v[j]->container.id, ci->id); j++)
			;
		if (json_array_size(arr) >= max) {
			left++;
			continue;
		}
		o = json_pack("{s:s, s:I}", "id", ci->id, "processes", (json_int_t)(j - i));
		if (!o || json_array_append_new(arr, o))
			goto nomem;
		/* the cgroup path of one process of the container names them all the same */
		if (ci->runtime[0])
			json_object_set_new(o, "runtime", json_string(ci->runtime));
		if (ci->pod_uid[0])
			json_object_set_new(o, "pod_uid", json_string(ci->pod_uid));
		if (enrich)
			enrich(ctx, o);
	}
	free(c.v);
	if (omitted)
		*omitted = left;
	return arr;
nomem:
	free(c.v);
	json_decref(arr);
	errno = ENOMEM;
	return NULL;
}
