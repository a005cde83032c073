/* Process table: identity by (pid, start), ancestry kept, hard bound with eviction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "proctab.h"
#include "container.h"

static void test_fork_inherits_and_keeps_parent(void **state)
{
	struct proctab *t = proctab_new(16);
	struct proc *p = proctab_get(t, 100, 1000);

	proc_set_bytes(&p->exe, &p->exe_len, "/usr/bin/bash", 13);
	strcpy(p->container.id, "abc");
	struct proc *c = proctab_fork(t, 100, 1000, 200, 2000);
	assert_non_null(c);
	assert_int_equal(c->ppid, 100);
	assert_string_equal(c->exe, "/usr/bin/bash");
	assert_string_equal(c->container.id, "abc");
	/* the parent dies; the child's recorded parent stays */
	proctab_exit(t, 100, 1000, 0);
	assert_int_equal(proctab_lookup(t, 200)->ppid, 100);
	proctab_free(t);
}

static void test_pid_reuse_replaces_entry(void **state)
{
	struct proctab *t = proctab_new(16);
	struct proc *p = proctab_get(t, 300, 5000);

	proc_set_bytes(&p->exe, &p->exe_len, "/old", 4);
	p = proctab_get(t, 300, 9000);     /* same pid, later start: a new process */
	assert_null(p->exe);
	assert_int_equal(p->start_ns, 9000);
	assert_int_equal(proctab_size(t), 1);
	/* same identity finds the same entry */
	assert_ptr_equal(proctab_get(t, 300, 9000), p);
	proctab_free(t);
}

static void test_bound_evicts_exited_first(void **state)
{
	struct proctab *t = proctab_new(4);

	for (unsigned i = 1; i <= 4; i++)
		proctab_get(t, i, i);
	proctab_exit(t, 3, 3, 0);
	proctab_get(t, 5, 5);
	assert_int_equal(proctab_size(t), 4);
	assert_null(proctab_lookup(t, 3));          /* the exited one went */
	assert_non_null(proctab_lookup(t, 1));
	for (unsigned i = 6; i < 1000; i++)
		proctab_get(t, i, i);
	assert_int_equal(proctab_size(t), 4);
	assert_int_equal(proctab_evictions(t), 1 + (999 - 6 + 1));
	proctab_free(t);
}

static void test_sweep_removes_only_old_exited(void **state)
{
	struct proctab *t = proctab_new(16);

	proctab_get(t, 1, 1);
	proctab_get(t, 2, 2);
	proctab_exit(t, 2, 2, 9);
	assert_int_equal(proctab_sweep(t, 60ull * 1000000000ull), 0);   /* within the grace period */
	assert_int_equal(proctab_sweep(t, 0), 1);
	assert_null(proctab_lookup(t, 2));
	assert_non_null(proctab_lookup(t, 1));
	proctab_free(t);
}

static void test_ancestry_bounded_and_loop_safe(void **state)
{
	struct proctab *t = proctab_new(16);
	struct proc *a = proctab_get(t, 10, 1), *b = proctab_get(t, 11, 1);

	a->ppid = 11;
	b->ppid = 10;           /* a corrupt loop must not hang */
	json_t *arr = proctab_ancestry(t, a, 8);
	assert_true(json_array_size(arr) <= 2);
	json_decref(arr);
	proctab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_inherits_and_keeps_parent),
		cmocka_unit_test(test_pid_reuse_replaces_entry),
		cmocka_unit_test(test_bound_evicts_exited_first),
		cmocka_unit_test(test_sweep_removes_only_old_exited),
		cmocka_unit_test(test_ancestry_bounded_and_loop_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
