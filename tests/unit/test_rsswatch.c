// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rsswatch.h"

#define MB (1024ULL * 1024)
#define SEC 1000000000ULL

/* 10 MB/s for 20 s against a 100 MB threshold in a 60 s window: one finding
 * at 100 MB of growth, the next only after another 100 MB. */
static void test_growth_and_rearm(void **state)
{
	struct mo_rss_series *w = mo_rss_series_new();
	const struct mo_rss_rule rule = { 100 * MB, 60 * SEC };
	struct mo_rss_finding f;
	int found = 0, first_at = -1, second_at = -1;

	for (int s = 0; s <= 25; s++) {
		int r = mo_rss_series_sample(w, &rule, (uint64_t)s * SEC, 50 * MB + (uint64_t)s * 10 * MB, &f);

		assert_true(r == 0 || r == 1);
		if (r == 1) {
			found++;
			if (first_at < 0) {
				first_at = s;
				assert_int_equal(f.growth, 100 * MB);
				assert_string_equal(f.severity, "warning");
				assert_true(f.rate > 9.9 * MB && f.rate < 10.1 * MB);
				assert_true(f.window_s > 9.9 && f.window_s < 10.1);
			} else {
				second_at = s;
			}
		}
	}
	assert_int_equal(first_at, 10);
	assert_int_equal(second_at, 20);
	assert_int_equal(found, 2);
	mo_rss_series_free(w);
}

/* Growth spread over more than the window is not a finding. */
static void test_slow_growth_outside_window(void **state)
{
	struct mo_rss_series *w = mo_rss_series_new();
	const struct mo_rss_rule rule = { 100 * MB, 60 * SEC };
	struct mo_rss_finding f;

	/* 1 MB/s: 60 MB per window, below the threshold, for 120 samples */
	for (int s = 0; s < 120; s++)
		assert_int_equal(mo_rss_series_sample(w, &rule, (uint64_t)s * SEC,
						    (uint64_t)s * MB, &f), 0);
	mo_rss_series_free(w);
}

static void test_critical_and_points(void **state)
{
	struct mo_rss_series *w = mo_rss_series_new();
	const struct mo_rss_rule rule = { 10 * MB, 60 * SEC };
	struct mo_rss_finding f;
	struct mo_usage_point pts[4];

	assert_int_equal(mo_rss_series_sample(w, &rule, 0, 10 * MB, &f), 0);
	assert_int_equal(mo_rss_series_sample(w, &rule, SEC, 60 * MB, &f), 1);
	assert_string_equal(f.severity, "critical");
	assert_int_equal(f.growth, 50 * MB);
	assert_int_equal(mo_rss_series_points(w, pts, 4), 2);
	assert_int_equal(pts[0].bytes, 10 * MB);
	assert_int_equal(pts[1].bytes, 60 * MB);
	assert_int_equal(mo_rss_series_last(w), 60 * MB);
	assert_int_equal(mo_rss_series_last(NULL), 0);
	mo_rss_series_free(w);
}

/* The ring keeps the latest MO_RSS_POINTS samples. */
static void test_ring_wraps(void **state)
{
	struct mo_rss_series *w = mo_rss_series_new();
	const struct mo_rss_rule rule = { UINT64_MAX / 2, 1000 * SEC };
	struct mo_rss_finding f;
	struct mo_usage_point pts[MO_RSS_POINTS];

	for (uint64_t s = 0; s < MO_RSS_POINTS + 10; s++)
		mo_rss_series_sample(w, &rule, s * SEC, s, &f);
	assert_int_equal(mo_rss_series_points(w, pts, MO_RSS_POINTS), MO_RSS_POINTS);
	assert_int_equal(pts[0].bytes, 10);
	assert_int_equal(pts[MO_RSS_POINTS - 1].bytes, MO_RSS_POINTS + 9);
	mo_rss_series_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_and_rearm),
		cmocka_unit_test(test_slow_growth_outside_window),
		cmocka_unit_test(test_critical_and_points),
		cmocka_unit_test(test_ring_wraps),
	};

	return cmocka_run_group_tests_name("rsswatch", tests, NULL, NULL);
}
