// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_analysis.c - leak grouping: exact groups per (process, stack), the
 * age rule at its boundary, sampling weights, ranking ties, a large
 * snapshot, and empty input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analysis.h"
#include "sampling.h"

#define SEC 1000000000ULL

/* blocks: what the record stands for, in whole blocks (0: unset) */
static struct mo_alloc_rec rec(uint32_t tgid, uint64_t stack_id, uint64_t size,
			       uint64_t ts_ns, uint32_t blocks)
{
	static uint64_t addr = 0x10000;

	addr += 0x100;
	return (struct mo_alloc_rec){ .tgid = tgid, .stack_id = stack_id,
				      .size = size, .ts_ns = ts_ns,
				      .weight = blocks * MO_WEIGHT_ONE, .addr = addr };
}

static void assert_group(const struct mo_leak_group *g, uint32_t tgid,
			 uint64_t stack_id, uint64_t bytes, uint64_t count,
			 uint64_t oldest, uint64_t largest, bool estimate)
{
	assert_int_equal(g->tgid, tgid);
	assert_int_equal(g->stack_id, stack_id);
	assert_int_equal(g->unfreed_bytes, bytes);
	assert_int_equal(g->count, count);
	assert_int_equal(g->oldest_ts_ns, oldest);
	assert_int_equal(g->largest, largest);
	assert_int_equal(g->estimate, estimate);
}

static void test_exact_groups(void **state)
{
	const uint64_t now = 1000 * SEC, min_age = 30 * SEC;
	struct mo_alloc_rec r[] = {
		rec(100, 7, 4096, 100 * SEC, 1),
		rec(200, 7, 64, 500 * SEC, 1),		/* same stack, other process */
		rec(100, 9, 1000, 980 * SEC, 1),	/* too young */
		rec(100, 7, 1024, 50 * SEC, 1),
		rec(300, 5, 10, 10 * SEC, 1),
		rec(200, 7, 32, 600 * SEC, 1),
		rec(100, 9, 300, 900 * SEC, 1),
		rec(300, 5, 10, 20 * SEC, 1),
		rec(300, 5, 10, 30 * SEC, 1),
	};
	struct mo_leak_groups out;

	assert_int_equal(mo_analyze(r, 9, now, min_age, &out), 0);
	assert_int_equal(out.nr, 4);
	assert_group(&out.g[0], 100, 7, 5120, 2, 50 * SEC, 4096, false);
	assert_group(&out.g[1], 100, 9, 300, 1, 900 * SEC, 300, false);
	assert_group(&out.g[2], 200, 7, 96, 2, 500 * SEC, 64, false);
	assert_group(&out.g[3], 300, 5, 30, 3, 10 * SEC, 10, false);
	/* Outstanding counts every record, young ones included. */
	assert_int_equal(out.outstanding_bytes, 4096 + 64 + 1000 + 1024 + 10 +
						32 + 300 + 10 + 10);
	assert_int_equal(out.outstanding_count, 9);
	mo_leak_groups_release(&out);
	assert_null(out.g);
	assert_int_equal(out.nr, 0);
	mo_leak_groups_release(&out);
	mo_leak_groups_release(NULL);
}

static void test_age_boundary(void **state)
{
	const uint64_t now = 1000;
	struct mo_alloc_rec r[] = {
		rec(1, 1, 8, 900, 1),	/* age 100: exactly the threshold */
		rec(1, 2, 8, 901, 1),	/* age 99 */
		rec(1, 3, 8, 1000, 1),	/* age 0 */
		rec(1, 4, 8, 5000, 1),	/* in the future: age 0 */
		rec(1, 5, 8, 0, 1),	/* age 1000 */
	};
	struct mo_leak_groups out;

	assert_int_equal(mo_analyze(r, 5, now, 100, &out), 0);
	assert_int_equal(out.nr, 2);
	assert_int_equal(out.g[0].stack_id, 1);
	assert_int_equal(out.g[1].stack_id, 5);
	assert_int_equal(out.outstanding_count, 5);
	mo_leak_groups_release(&out);

	/* 1 ns past the threshold moves the second record in, not the rest. */
	assert_int_equal(mo_analyze(r, 5, now + 1, 100, &out), 0);
	assert_int_equal(out.nr, 3);
	assert_int_equal(out.g[0].stack_id, 1);
	assert_int_equal(out.g[1].stack_id, 2);
	assert_int_equal(out.g[2].stack_id, 5);
	mo_leak_groups_release(&out);

	/* min_age 0 takes everything, future timestamps included. */
	assert_int_equal(mo_analyze(r, 5, now, 0, &out), 0);
	assert_int_equal(out.nr, 5);
	assert_int_equal(out.g[3].stack_id, 4);
	assert_int_equal(out.g[3].oldest_ts_ns, 5000);
	mo_leak_groups_release(&out);

	/* min_age 1 already excludes future and current timestamps. */
	assert_int_equal(mo_analyze(r, 5, now, 1, &out), 0);
	assert_int_equal(out.nr, 3);
	assert_int_equal(out.g[0].stack_id, 1);
	assert_int_equal(out.g[1].stack_id, 2);
	assert_int_equal(out.g[2].stack_id, 5);
	mo_leak_groups_release(&out);

	/* The oldest record sits exactly on a 1000 ns threshold; 1001 is too much. */
	assert_int_equal(mo_analyze(r, 5, now, 1000, &out), 0);
	assert_int_equal(out.nr, 1);
	assert_int_equal(out.g[0].stack_id, 5);
	mo_leak_groups_release(&out);
	assert_int_equal(mo_analyze(r, 5, now, 1001, &out), 0);
	assert_int_equal(out.nr, 0);
	assert_null(out.g);
	assert_int_equal(out.outstanding_bytes, 40);
	mo_leak_groups_release(&out);
	assert_int_equal(mo_analyze(r, 5, now, UINT64_MAX, &out), 0);
	assert_int_equal(out.nr, 0);
	mo_leak_groups_release(&out);
}

/* Byte sampling's weights are fractions of blocks: bytes and counts are
 * scaled by them (bytes rounded down per record, counts to the nearest
 * block per group), and a weight of exactly one is no estimate. */
static void test_fractional_weights(void **state)
{
	struct mo_alloc_rec r[] = {
		rec(1, 1, 100, 0, 0),
		rec(1, 1, 100, 0, 0),
		rec(1, 1, 100, 0, 0),
		rec(1, 2, 1 << 20, 0, 1),	/* far above the mean: weight one */
		rec(1, 3, 3, 0, 0),
	};
	struct mo_leak_groups out;

	for (int i = 0; i < 3; i++)
		r[i].weight = MO_WEIGHT_ONE * 3 / 2;	/* 150 B, 1.5 blocks each */
	/* 1.33 blocks of 3 B: 3.99998 B, rounded down */
	r[4].weight = MO_WEIGHT_ONE + MO_WEIGHT_ONE / 3;
	assert_int_equal(mo_analyze(r, 5, 100, 0, &out), 0);
	assert_int_equal(out.nr, 3);
	assert_group(&out.g[0], 1, 2, 1 << 20, 1, 0, 1 << 20, false);
	assert_group(&out.g[1], 1, 1, 450, 5, 0, 100, true);	/* 4.5 blocks: 5 */
	assert_group(&out.g[2], 1, 3, 3, 1, 0, 3, true);
	assert_int_equal(out.g[1].weight_sum, 3 * (MO_WEIGHT_ONE * 3 / 2));
	/* 4.5 + 1 + 1.33 = 6.83 blocks */
	assert_int_equal(out.outstanding_count, 7);
	assert_int_equal(out.outstanding_bytes, 450 + (1 << 20) + 3);
	mo_leak_groups_release(&out);
}

static void test_weights(void **state)
{
	struct mo_alloc_rec r[] = {
		rec(10, 1, 100, 0, 0),		/* weight 0 counts as 1 */
		rec(10, 1, 50, 0, 1),
		rec(10, 2, 100, 0, 10),		/* sampled */
		rec(10, 2, 200, 5, 1),
		rec(10, 3, UINT64_MAX / 2, 0, 3),	/* saturates */
	};
	struct mo_leak_groups out;

	assert_int_equal(mo_analyze(r, 5, 100, 0, &out), 0);
	assert_int_equal(out.nr, 3);
	assert_group(&out.g[0], 10, 3, UINT64_MAX, 3, 0, UINT64_MAX / 2, true);
	assert_group(&out.g[1], 10, 2, 1000 + 200, 11, 0, 200, true);
	assert_group(&out.g[2], 10, 1, 150, 2, 0, 100, false);
	assert_int_equal(out.outstanding_bytes, UINT64_MAX);
	assert_int_equal(out.outstanding_count, 1 + 1 + 10 + 1 + 3);
	mo_leak_groups_release(&out);

	/* Without the saturating record the totals are exact. */
	assert_int_equal(mo_analyze(r, 4, 100, 0, &out), 0);
	assert_int_equal(out.outstanding_bytes, 100 + 50 + 1000 + 200);
	assert_int_equal(out.outstanding_count, 13);
	mo_leak_groups_release(&out);
}

static void test_sort_ties(void **state)
{
	/* Listed in the reverse of the expected order. */
	struct mo_alloc_rec r[] = {
		rec(9, 1, 10, 0, 1),			/* 10 B, 1 */
		rec(2, 8, 50, 0, 1),			/* 100 B, 2 */
		rec(2, 8, 50, 0, 1),
		rec(2, 6, 25, 0, 1),			/* 100 B, 4 */
		rec(2, 6, 25, 0, 1),
		rec(2, 6, 25, 0, 1),
		rec(2, 6, 25, 0, 1),
		rec(3, 5, 100, 0, 1),			/* 100 B, 1, tgid 3 */
		rec(2, 9, 100, 0, 1),			/* 100 B, 1, tgid 2, stack 9 */
		rec(2, 4, 100, 0, 1),			/* 100 B, 1, tgid 2, stack 4 */
		rec(1, 0xffffffffffffffffULL, 100, 0, 1),	/* tgid 1 */
		rec(7, 1, 1000, 0, 1),			/* largest bytes */
	};
	struct mo_leak_groups out;
	static const struct { uint32_t tgid; uint64_t stack; } want[] = {
		{ 7, 1 }, { 2, 6 }, { 2, 8 }, { 1, 0xffffffffffffffffULL },
		{ 2, 4 }, { 2, 9 }, { 3, 5 }, { 9, 1 },
	};

	assert_int_equal(mo_analyze(r, sizeof(r) / sizeof(r[0]), 1, 0, &out), 0);
	assert_int_equal(out.nr, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(out.g[i].tgid, want[i].tgid);
		assert_int_equal(out.g[i].stack_id, want[i].stack);
	}
	mo_leak_groups_release(&out);
}

static void test_large_snapshot(void **state)
{
	enum { N = 1000000, STACKS = 1000 };
	struct mo_alloc_rec *r = calloc(N, sizeof(*r));
	struct mo_leak_groups out;
	uint64_t total = 0;

	assert_non_null(r);
	/* Stack s gets N / STACKS records of s + 1 bytes each, interleaved. */
	for (size_t i = 0; i < N; i++) {
		uint64_t s = i % STACKS;

		r[i] = (struct mo_alloc_rec){
			.tgid = 4242, .stack_id = s * 0x100000001ULL,
			.size = s + 1, .ts_ns = i, .weight = MO_WEIGHT_ONE,
		};
		total += s + 1;
	}
	assert_int_equal(mo_analyze(r, N, N, 0, &out), 0);
	assert_int_equal(out.nr, STACKS);
	assert_int_equal(out.outstanding_bytes, total);
	assert_int_equal(out.outstanding_count, N);
	for (size_t k = 0; k < STACKS; k++) {
		uint64_t s = STACKS - 1 - k;

		assert_int_equal(out.g[k].stack_id, s * 0x100000001ULL);
		assert_int_equal(out.g[k].count, N / STACKS);
		assert_int_equal(out.g[k].unfreed_bytes, (s + 1) * (N / STACKS));
		assert_int_equal(out.g[k].oldest_ts_ns, s);
		assert_int_equal(out.g[k].largest, s + 1);
	}
	mo_leak_groups_release(&out);

	/* Every record its own group: the table must keep growing. */
	for (size_t i = 0; i < N; i++)
		r[i].tgid = (uint32_t)i;
	assert_int_equal(mo_analyze(r, N, N, 0, &out), 0);
	assert_int_equal(out.nr, N);
	assert_int_equal(out.g[0].unfreed_bytes, STACKS);
	assert_int_equal(out.g[0].tgid, STACKS - 1);
	assert_int_equal(out.g[N - 1].tgid, N - STACKS);
	mo_leak_groups_release(&out);
	free(r);
}

static void test_empty(void **state)
{
	struct mo_leak_groups out;
	struct mo_alloc_rec young = rec(1, 1, 100, 999, 1);

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(mo_analyze(NULL, 0, 1000, 10, &out), 0);
	assert_int_equal(out.nr, 0);
	assert_null(out.g);
	assert_int_equal(out.outstanding_bytes, 0);
	assert_int_equal(out.outstanding_count, 0);
	mo_leak_groups_release(&out);

	assert_int_equal(mo_analyze(&young, 1, 1000, 10, &out), 0);
	assert_int_equal(out.nr, 0);
	assert_null(out.g);
	assert_int_equal(out.outstanding_bytes, 100);
	assert_int_equal(out.outstanding_count, 1);
	mo_leak_groups_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_groups),
		cmocka_unit_test(test_age_boundary),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_fractional_weights),
		cmocka_unit_test(test_sort_ties),
		cmocka_unit_test(test_large_snapshot),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
