// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_extents.c - free runs of the unwind-row array: first fit, runs given
 * back merge with their neighbours, and a run given back is handed out only
 * after its grace period.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "extents.h"

static void test_first_fit_and_merge(void **state)
{
	struct mo_extents *x = mo_extents_new(100);

	(void)state;
	assert_non_null(x);
	assert_int_equal(mo_extents_alloc(x, 30), 0);
	assert_int_equal(mo_extents_alloc(x, 30), 30);
	assert_int_equal(mo_extents_alloc(x, 30), 60);
	assert_int_equal(mo_extents_alloc(x, 11), -ENOSPC);
	assert_int_equal(mo_extents_free_rows(x), 10);
	/* two holes of 30 apart: neither fits 40 */
	assert_int_equal(mo_extents_release(x, 0, 30, 0, 0), 0);
	assert_int_equal(mo_extents_release(x, 60, 30, 0, 0), 0);
	assert_int_equal(mo_extents_alloc(x, 41), -ENOSPC);
	/* 60..90 merged with the tail 90..100: 40 rows there, the first fit */
	assert_int_equal(mo_extents_alloc(x, 40), 60);
	/* the middle given back joins 0..30: one run of 60 at 0 */
	assert_int_equal(mo_extents_release(x, 30, 30, 0, 0), 0);
	assert_int_equal(mo_extents_free_rows(x), 60);
	assert_int_equal(mo_extents_alloc(x, 60), 0);
	assert_int_equal(mo_extents_alloc(x, 1), -ENOSPC);
	/* everything back in any order: one run of the whole array */
	assert_int_equal(mo_extents_release(x, 60, 40, 0, 0), 0);
	assert_int_equal(mo_extents_release(x, 0, 20, 0, 0), 0);
	assert_int_equal(mo_extents_release(x, 20, 40, 0, 0), 0);
	assert_int_equal(mo_extents_alloc(x, 100), 0);
	mo_extents_free(x);
}

static void test_grace(void **state)
{
	struct mo_extents *x = mo_extents_new(100);

	(void)state;
	assert_non_null(x);
	assert_int_equal(mo_extents_alloc(x, 50), 0);
	assert_int_equal(mo_extents_alloc(x, 50), 50);
	assert_int_equal(mo_extents_release(x, 0, 50, 1000, 500), 0);
	assert_int_equal(mo_extents_waiting_rows(x), 50);
	assert_true(mo_extents_fits_later(x, 50));
	assert_false(mo_extents_fits_later(x, 51));
	/* not before the grace ends */
	assert_int_equal(mo_extents_settle(x, 1499), 50);
	assert_int_equal(mo_extents_alloc(x, 1), -ENOSPC);
	/* a second run waiting next to the first: together they will fit 100 */
	assert_int_equal(mo_extents_release(x, 50, 50, 1200, 500), 0);
	assert_true(mo_extents_fits_later(x, 100));
	assert_int_equal(mo_extents_settle(x, 1500), 50);
	assert_int_equal(mo_extents_alloc(x, 51), -ENOSPC);
	assert_int_equal(mo_extents_settle(x, 1700), 0);
	assert_int_equal(mo_extents_free_rows(x), 100);
	assert_int_equal(mo_extents_alloc(x, 100), 0);
	mo_extents_free(x);
}

static void test_fits_later_chains_free_and_waiting(void **state)
{
	struct mo_extents *x = mo_extents_new(90);

	(void)state;
	assert_non_null(x);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mo_extents_alloc(x, 30), i * 30);
	assert_int_equal(mo_extents_release(x, 0, 30, 0, 0), 0);	/* free */
	assert_int_equal(mo_extents_release(x, 60, 30, 0, 10), 0);	/* waiting */
	assert_false(mo_extents_fits_later(x, 31));
	assert_int_equal(mo_extents_release(x, 30, 30, 0, 10), 0);	/* waiting, between */
	assert_true(mo_extents_fits_later(x, 90));
	mo_extents_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_fit_and_merge),
		cmocka_unit_test(test_grace),
		cmocka_unit_test(test_fits_later_chains_free_and_waiting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
