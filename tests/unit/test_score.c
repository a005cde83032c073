/* Unit tests for the secure-score formula (score.c), including the published worked example. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "score.h"

#define NEAR(a, b, eps) do { double _a = (a), _b = (b); \
	if (!(fabs(_a - _b) <= (eps))) fail_msg("expected %.6f, seen %.6f", _b, _a); } while (0)

/* The cloud product's worked example: a control worth 6 points, 78 resources,
 * 4 healthy: 6 x 4 / 78 = 0.3077, displayed 0.31; each unhealthy resource is
 * worth 6 / 78 = 0.077 points of potential increase. */
static void test_published_example(void **state)
{
	NEAR(score_control_current(6, 4, 74), 0.3077, 0.0001);
	NEAR(score_round2(score_control_current(6, 4, 74)), 0.31, 1e-9);
	NEAR(score_potential_increase(6, 78, 1), 0.0769, 0.0001);
	NEAR(score_potential_increase(6, 78, 74), 6 - 0.3077, 0.0001);
}

static void test_zero_resources(void **state)
{
	struct score_control c[2] = { { .def = &score_controls[0] }, { .def = &score_controls[1] } };
	struct score_result r;

	NEAR(score_control_current(8, 0, 0), 0, 0);
	NEAR(score_potential_increase(8, 0, 0), 0, 0);
	/* only not-applicable and unknown resources: nothing evaluable, score 0 (not NaN, not 100) */
	c[0].n[SCORE_NOT_APPLICABLE] = 3;
	c[1].n[SCORE_UNKNOWN] = 2;
	score_total(c, 2, &r);
	assert_false(c[0].evaluable);
	assert_false(c[1].evaluable);
	assert_true(isfinite(r.percent));
	NEAR(r.percent, 0, 0);
	NEAR(r.max, 0, 0);
	assert_int_equal(r.evaluable, 0);
	assert_int_equal(r.not_applicable, 3);
	assert_int_equal(r.unknown, 2);
	/* nothing at all */
	score_total(c, 0, &r);
	NEAR(r.percent, 0, 0);
}

static void test_total(void **state)
{
	/* mgmt_ports (8): 1 healthy of 2 -> 4; harden_os (4): 3 of 4 -> 3; protect_accounts: n/a only */
	struct score_control c[3] = {
		{ .def = score_control_find("mgmt_ports") },
		{ .def = score_control_find("harden_os") },
		{ .def = score_control_find("protect_accounts") },
	};
	struct score_result r;

	assert_non_null(c[0].def);
	assert_non_null(c[1].def);
	c[0].n[SCORE_HEALTHY] = 1;
	c[0].n[SCORE_UNHEALTHY] = 1;
	c[1].n[SCORE_HEALTHY] = 3;
	c[1].n[SCORE_UNHEALTHY] = 1;
	c[1].n[SCORE_NOT_APPLICABLE] = 5;      /* excluded: does not dilute */
	c[2].n[SCORE_NOT_APPLICABLE] = 2;
	score_total(c, 3, &r);
	NEAR(c[0].current, 4, 1e-9);
	NEAR(c[1].current, 3, 1e-9);
	NEAR(c[2].current, 0, 0);
	assert_false(c[2].evaluable);
	NEAR(r.current, 7, 1e-9);
	NEAR(r.max, 12, 1e-9);                 /* protect_accounts contributes to neither sum */
	NEAR(r.percent, 100.0 * 7 / 12, 1e-9);
	/* potential increases of a control's recommendations add up to its gap */
	NEAR(score_potential_increase(4, 4, 1), 4 - c[1].current, 1e-9);
}

static void test_all_healthy_and_unhealthy(void **state)
{
	struct score_control c = { .def = score_control_find("harden_os") };
	struct score_result r;

	c.n[SCORE_HEALTHY] = 10;
	score_total(&c, 1, &r);
	NEAR(r.percent, 100, 1e-9);
	c.n[SCORE_HEALTHY] = 0;
	c.n[SCORE_UNHEALTHY] = 10;
	score_total(&c, 1, &r);
	NEAR(r.percent, 0, 1e-9);
	assert_true(c.evaluable);
}

static void test_status_names(void **state)
{
	for (int i = 0; i < SCORE_STATUS_MAX; i++)
		assert_int_equal(score_status_parse(score_status_name(i)), i);
	assert_true(score_status_parse("passing") < 0);
	assert_true(score_status_parse(NULL) < 0);
	assert_null(score_control_find("nope"));
	assert_int_equal(score_control_count(), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_example),
		cmocka_unit_test(test_zero_resources),
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_all_healthy_and_unhealthy),
		cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
