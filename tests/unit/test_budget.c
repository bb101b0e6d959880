// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "budget.h"

#define EPS 1e-9

/* 1 s of CPU with 10,000 pairs: 10k alloc entries + 10k free entries, no
 * returns (size-filtered) = 18 ms of probes: 1.8 % of the work. Within a
 * 2 % budget nothing is shed. */
static void test_within_budget(void **state)
{
	struct mo_budget_window w = { 10000, 10000, 0, 1.0 };
	struct mo_budget_verdict v;

	mo_budget_decide(0.02, &w, &v);
	assert_true(v.duty == 1);
	assert_true(v.overhead > 0.018 && v.overhead < 0.0185);
	assert_false(v.unattainable);
}

/* 1 s of CPU, 100,000 mallocs with returns and 100,000 frees: probes
 * 90 + 60 + 90 = 240 ms, work 760 ms. Budget 20 %: duty d solves
 * d * 0.150 + 0.090 = 0.2 * 0.760 -> d = 0.41333. */
static void test_duty_solves_budget(void **state)
{
	struct mo_budget_window w = { 100000, 100000, 100000, 1.0 };
	struct mo_budget_verdict v;

	mo_budget_decide(0.20, &w, &v);
	assert_true(v.duty > 0.4133 - 1e-4 && v.duty < 0.4133 + 1e-4);
	assert_true(v.expected > 0.2 - EPS && v.expected < 0.2 + EPS);
	assert_true(v.overhead > 0.3157 && v.overhead < 0.3159);
	assert_false(v.unattainable);
}

/* The free probes alone cost more than the budget: the duty cycle stops at
 * its minimum and the verdict says so. */
static void test_unattainable(void **state)
{
	struct mo_budget_window w = { 100000, 100000, 100000, 1.0 };
	struct mo_budget_verdict v;

	mo_budget_decide(0.05, &w, &v);
	assert_true(v.duty == MO_DUTY_MIN);
	assert_true(v.unattainable);
	assert_true(v.expected > 0.05);
}

/* No CPU time, or no hits: nothing to decide. An estimate above the CPU
 * time measured keeps the work at 5 % of it instead of going negative. */
/* A process that mostly sleeps: 40 allocations over a window in which it
 * used 2 ms of CPU are far over 5 % of its work, but their cost (~60 us) is
 * under the floor: nothing is shed. Ten times the hits at ten times the
 * cost per hit is over it. */
static void test_sleeping_process_not_shed(void **state)
{
	struct mo_budget_window w = { 40, 40, 40, 0.002 };
	struct mo_budget_verdict v;

	(void)state;
	mo_budget_decide(0.05, &w, &v);
	assert_true(v.overhead > 0.05);
	assert_true(v.duty == 1);
	w.hits_alloc = w.hits_free = w.hits_return = 400;
	w.entry_ns = w.return_ns = 9000;
	mo_budget_decide(0.05, &w, &v);
	assert_true(v.duty < 1);
}

static void test_degenerate(void **state)
{
	struct mo_budget_window idle = { 0, 0, 0, 0.5 }, nocpu = { 10, 10, 10, 0 };
	struct mo_budget_window over = { 10000000, 0, 10000000, 1.0 };
	struct mo_budget_verdict v;

	mo_budget_decide(0.02, &idle, &v);
	assert_true(v.duty == 1 && v.overhead == 0);
	mo_budget_decide(0.02, &nocpu, &v);
	assert_true(v.duty == 1);
	mo_budget_decide(0.02, &over, &v);
	assert_true(v.overhead > 299 && v.overhead < 301);	/* 15 s / 0.05 s */
	assert_true(v.duty >= MO_DUTY_MIN && v.duty < 0.01 + MO_DUTY_MIN);
}

/* Measured costs replace the defaults: the window of test_within_budget
 * (1.8 % at 900 ns a hit) costs 10 % at 5 us a hit (the trap cost issue 6
 * quotes for other machines), and the duty cycle follows. */
static void test_measured_costs(void **state)
{
	struct mo_budget_window w = { 10000, 10000, 0, 1.0, 5000.0, 3000.0 };
	struct mo_budget_verdict v;

	mo_budget_decide(0.02, &w, &v);
	/* probes 100 ms, work 900 ms: 11.1 %; the frees alone (50 ms) are
	 * over 2 % of the work: unattainable, duty at its floor */
	assert_true(v.overhead > 0.1110 && v.overhead < 0.1112);
	assert_true(v.duty == MO_DUTY_MIN);
	assert_true(v.unattainable);
	/* zero costs mean the defaults */
	w.entry_ns = w.return_ns = 0;
	mo_budget_decide(0.02, &w, &v);
	assert_true(v.duty == 1);
	assert_true(v.overhead > 0.018 && v.overhead < 0.0185);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_within_budget),
		cmocka_unit_test(test_duty_solves_budget),
		cmocka_unit_test(test_unattainable),
		cmocka_unit_test(test_sleeping_process_not_shed),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_measured_costs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
