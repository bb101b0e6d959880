// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_sampling.c - byte sampling's integer math (src/bpf/sampling_math.h, the code
 * the BPF program runs) against libm: the tables, the exponential draw
 * (accuracy of each draw, then the distribution of a million), the chance
 * of a block of a given size to be sampled by the thread's countdown, the
 * weights, the estimator on a stream of mixed sizes, and the estimates the
 * analysis makes of a simulated kernel's allocation table where blocks are
 * freed too. Random numbers come from fixed seeds: every run checks the
 * same draws.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/types.h>

static uint32_t rnd(uint64_t *s);
static __u64 next_countdown(void);
#define MO_SAMPLE_NEXT() next_countdown()

#include "analysis.h"
#include "sampling.h"

static uint32_t log2tab[MO_LOG2_N + 1], gtab[MO_GTAB_N + 1];
/* the countdowns' random numbers, as bpf_get_prandom_u32 gives them, and
 * their mean (the kernel side's sample_bytes) */
static uint64_t countdown_seed = 1, countdown_mean;

static __u64 next_countdown(void)
{
	return mo_sample_draw(log2tab, rnd(&countdown_seed), countdown_mean);
}

static int setup(void **state)
{
	mo_sample_tables_init(log2tab, gtab);
	return 0;
}

/* xorshift64*, upper half */
static uint32_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 0x2545f4914f6cdd1dULL) >> 32);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void test_tables(void **state)
{
	assert_int_equal(MO_LN2_Q32, llroundl(logl(2) * 4294967296.0L));
	assert_int_equal(log2tab[0], 0);
	assert_int_equal(log2tab[MO_LOG2_N], 1u << MO_LOG2_FRAC);
	assert_int_equal(log2tab[MO_LOG2_N / 2], llround(log2(1.5) * (1u << MO_LOG2_FRAC)));
	for (unsigned i = 0; i < MO_LOG2_N; i++)
		assert_true(log2tab[i] < log2tab[i + 1]);
	assert_int_equal(gtab[0], 1u << MO_GTAB_FRAC);
	assert_int_equal(gtab[1u << MO_GTAB_BITS], llround(1 / expm1(1.0) * (1u << MO_GTAB_FRAC)));
	for (unsigned i = 0; i < MO_GTAB_N; i++)
		assert_true(gtab[i] >= gtab[i + 1]);
	/* g(32) = 4e-13: nothing is left of it at 2^-31 */
	assert_int_equal(gtab[MO_GTAB_N], 0);
}

/* the draw for rnd, minus one, against -mean * ln((rnd + 1) / 2^32) */
static long double draw_error(uint32_t r, uint64_t mean)
{
	long double exact = -(long double)mean * logl(((long double)r + 1) / 4294967296.0L);

	return (long double)(mo_sample_draw(log2tab, r, mean) - 1) - exact;
}

/*
 * Each draw is within 3.1e-5 * mean + 2 bytes of the exact quantile (log2
 * interpolated between 65 points, plus the fixed point's truncations), never
 * too short by more than the truncations (2 + mean * 2^-25 bytes), and the
 * draws fall as rnd rises (U rises).
 */
static void test_draw_accuracy(void **state)
{
	static const uint64_t means[] = { 1, 1000, 65536, 524288, 1ULL << 30, MO_SAMPLE_BYTES_MAX };
	long double worst = 0;

	for (size_t m = 0; m < sizeof(means) / sizeof(means[0]); m++) {
		uint64_t mean = means[m], prev = UINT64_MAX;
		long double bound = 3.1e-5L * (long double)mean + 2;
		long double short_by = 2 + ldexpl((long double)mean, -25);

		for (uint64_t k = 0; k < (1ULL << 32); k += k < 100000 ? 1 : 65521) {
			uint32_t r = (uint32_t)k;
			long double e = draw_error(r, mean);
			uint64_t d = mo_sample_draw(log2tab, r, mean);

			if (fabsl(e) > bound || e < -short_by)
				fail_msg("mean %llu rnd %u: draw off by %Lg", (unsigned long long)mean,
					 r, e);
			if (mean > 1000 && fabsl(e) / mean > worst)
				worst = fabsl(e) / mean;
			assert_true(d <= prev && d >= 1);
			prev = d;
		}
		/* the ends: U = 1 (nothing to wait for), U = 2^-32 (the longest) */
		assert_int_equal(mo_sample_draw(log2tab, UINT32_MAX, mean), 1);
		assert_true(fabsl(draw_error(0, mean)) <= 2 + 1e-7L * mean);
		/* powers of two need no interpolation */
		for (int b = 0; b < 32; b++)
			assert_true(fabsl(draw_error((uint32_t)((1ULL << b) - 1), mean)) <=
				    2 + 1e-7L * mean);
	}
	/* the longest countdown fits the thread state's 32 bits */
	assert_true(mo_sample_draw(log2tab, 0, MO_SAMPLE_BYTES_MAX) <= UINT32_MAX);
	print_message("largest error of a draw: %.2Le of the mean\n", worst);
	assert_true(worst > 1e-6);	/* the sweep did reach interpolated points */
}

/*
 * A million draws are an exponential distribution of the mean asked for:
 * the mean, the Kolmogorov-Smirnov distance (floor(E) + 1 of a continuous
 * E: compared at the middle of each unit step) and the tail.
 */
static void test_draw_distribution(void **state)
{
	enum { N = 1000000 };
	static const uint64_t means[] = { 4096, 524288, MO_SAMPLE_BYTES_MAX };
	uint64_t *d = malloc(N * sizeof(*d)), seed = 0x9e3779b97f4a7c15ULL;

	assert_non_null(d);
	for (size_t m = 0; m < sizeof(means) / sizeof(means[0]); m++) {
		long double mean = (long double)means[m], sum = 0, ks = 0;
		size_t tail = 0;

		for (size_t i = 0; i < N; i++) {
			d[i] = mo_sample_draw(log2tab, rnd(&seed), means[m]);
			sum += d[i];
			tail += d[i] > 10 * means[m];
		}
		/* E[floor(E) + 1] = mean + 1/2 (to 1/(12 mean)); sd of the mean:
		 * mean / sqrt(N) */
		if (fabsl(sum / N - (mean + 0.5L)) > 4 * mean / sqrtl(N))
			fail_msg("mean %Lg: draws average %Lg", mean, sum / N);
		qsort(d, N, sizeof(*d), cmp_u64);
		for (size_t i = 0; i < N; i++) {
			long double f = -expm1l(-((long double)d[i] - 0.5L) / mean);
			long double hi = (long double)(i + 1) / N - f, lo = f - (long double)i / N;

			ks = fmaxl(ks, fmaxl(hi, lo));
		}
		/* the 0.1 % critical value: 1.95 / sqrt(N) */
		if (ks > 1.95L / sqrtl(N))
			fail_msg("mean %Lg: Kolmogorov-Smirnov distance %Lg", mean, ks);
		/* P(E > 10 mean) = e^-10: 45 of a million, sd 6.7 */
		assert_true(fabs((double)tail - N * exp(-10)) <= 4 * sqrt(N * exp(-10)));
		print_message("mean %.0Lf: average %.1Lf, KS distance %.2Le, %zu beyond 10x\n", mean,
			      sum / N, ks, tail);
	}
	free(d);
}

/* Calls of s bytes, counted down as the kernel does: the share sampled is
 * 1 - exp(-s / mean), for sizes far below and above the mean. */
static unsigned long count_hits(uint64_t mean, uint64_t size, unsigned long calls)
{
	__u32 left = 0;
	unsigned long hits = 0;

	countdown_mean = mean;
	for (unsigned long i = 0; i < calls; i++)
		hits += mo_sample_countdown(&left, size);
	return hits;
}

static void test_hit_probability(void **state)
{
	static const struct {
		uint64_t mean, size;
	} cases[] = {
		{ 4096, 0 },	/* counts as one byte */
		{ 4096, 1 },		{ 65536, 16 },	   { 65536, 200 },   { 65536, 4096 },
		{ 65536, 65536 },	{ 65536, 262144 }, { 524288, 40000 }, { 1, 1 },
		{ 1, 3 },
	};
	countdown_seed = 42;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double p = -expm1(-(double)(cases[c].size ? cases[c].size : 1) / cases[c].mean);
		unsigned long calls = (unsigned long)fmin(20000 / p, 2e7);
		unsigned long hits = count_hits(cases[c].mean, cases[c].size, calls);
		double want = calls * p, sd = sqrt(calls * p * (1 - p));

		if (fabs(hits - want) > 4 * sd + 1)
			fail_msg("mean %llu size %llu: %lu of %lu sampled, expected %.0f (sd %.1f)",
				 (unsigned long long)cases[c].mean,
				 (unsigned long long)cases[c].size, hits, calls, want, sd);
	}
}

/* The weight of every size against 1 / (1 - exp(-s / mean)): within 5e-5,
 * and exactly one from 32 means up. */
static void test_weight_accuracy(void **state)
{
	static const uint64_t means[] = { 1, 7, 4096, 65536, 524288, 1ULL << 30, MO_SAMPLE_BYTES_MAX };
	double worst = 0;

	for (size_t m = 0; m < sizeof(means) / sizeof(means[0]); m++) {
		uint64_t mean = means[m];

		for (int k = -1; k < 6000; k++) {
			/* every small size, then 2^-40 to 2^6 means in 1000 steps */
			long double sl = k < 5000 ? k + 1 : mean * powl(2, -40 + (k - 5000) * 46.0L / 1000);
			uint64_t s = sl < 1 ? 1 : sl > 1e18L ? (uint64_t)1e18 : (uint64_t)sl;
			long double x = (long double)s / mean, exact = -1 / expm1l(-x);
			uint64_t w = mo_sample_weight(gtab, k < 0 ? 0 : s, mean);
			long double got = (long double)w / MO_WEIGHT_ONE, rel = fabsl(got - exact) / exact;

			if (k < 0)	/* size 0 weighs as 1 byte */
				assert_int_equal(w, mo_sample_weight(gtab, 1, mean));
			if (s >= mean * 32) {
				assert_int_equal(w, MO_WEIGHT_ONE);
				continue;
			}
			if (rel > 5e-5L)
				fail_msg("mean %llu size %llu: weight %Lg, exact %Lg",
					 (unsigned long long)mean, (unsigned long long)s, got, exact);
			if (rel > worst)
				worst = (double)rel;
		}
	}
	print_message("largest relative error of a weight: %.2e\n", worst);
}

/* The kernel's split product is the exact one, rounded down. */
static void test_weighted_bytes(void **state)
{
	uint64_t seed = 7;

	for (int i = 0; i < 100000; i++) {
		uint64_t size = ((uint64_t)rnd(&seed) << 8 | rnd(&seed)) >> (rnd(&seed) % 40);
		uint64_t w = MO_WEIGHT_ONE + (((uint64_t)rnd(&seed) << 8) >> (rnd(&seed) % 40));
		unsigned __int128 p = (unsigned __int128)size * w >> MO_WEIGHT_SHIFT;

		if (p > UINT64_MAX)
			continue;
		assert_int_equal(mo_sample_bytes(size, w), (uint64_t)p);
	}
	assert_int_equal(mo_sample_bytes(100, MO_WEIGHT_ONE * 3 / 2), 150);
}

/*
 * The whole estimator: one thread allocating 16 B, 200 B, 4 KiB and 64 KiB
 * blocks in random order, mean 4 KiB, 100 times over. The weighted bytes
 * and counts of each size's sampled blocks, summed, are within 4 standard
 * deviations of the truth (sd of one run: truth * sqrt((1 - p) / (n p))).
 */
static void test_unbiased(void **state)
{
	enum { RUNS = 100, NSIZES = 4 };
	static const uint64_t size[NSIZES] = { 16, 200, 4096, 65536 };
	static const unsigned n[NSIZES] = { 100000, 20000, 2000, 200 };
	const uint64_t mean = 4096;
	long double est_bytes[NSIZES] = { 0 }, est_count[NSIZES] = { 0 };
	uint64_t seed = 2024;

	countdown_seed = 2025;
	countdown_mean = mean;
	for (int run = 0; run < RUNS; run++) {
		unsigned left_n[NSIZES], total = 0;
		__u32 left = 0;

		for (int k = 0; k < NSIZES; k++)
			total += left_n[k] = n[k];
		while (total) {
			/* the next block: a size drawn in proportion to what is left */
			unsigned pick = rnd(&seed) % total;
			int k = 0;

			while (pick >= left_n[k])
				pick -= left_n[k++];
			left_n[k]--;
			total--;
			if (mo_sample_countdown(&left, size[k])) {
				uint64_t w = mo_sample_weight(gtab, size[k], mean);

				est_bytes[k] += mo_sample_bytes(size[k], w);
				est_count[k] += (long double)w / MO_WEIGHT_ONE;
			}
		}
	}
	for (int k = 0; k < NSIZES; k++) {
		long double truth = (long double)RUNS * n[k] * size[k];
		double p = -expm1(-(double)size[k] / mean);
		long double sd = truth * sqrtl((1 - p) / (RUNS * n[k] * p));

		print_message("%llu B: estimate %.4Lf of the truth (sd %.4Lf)\n",
			      (unsigned long long)size[k], est_bytes[k] / truth, sd / truth);
		if (fabsl(est_bytes[k] - truth) > 4 * sd + 1)
			fail_msg("%llu B blocks: estimated %Lg bytes of %Lg",
				 (unsigned long long)size[k], est_bytes[k], truth);
		if (fabsl(est_count[k] - (long double)RUNS * n[k]) > 4 * sd / size[k] + 1)
			fail_msg("%llu B blocks: estimated %Lg blocks of %u",
				 (unsigned long long)size[k], est_count[k], RUNS * n[k]);
	}
}

/*
 * The kernel side simulated on one thread: three stacks allocate mixed
 * sizes in random order, the countdown decides which calls are tracked,
 * tracked blocks enter a table with their weight and leave it when freed,
 * and the analysis groups what is left. Stack 1 leaks everything, stack 2
 * frees everything (nothing may remain of its weights), stack 3 frees
 * every other block. Over the runs, each stack's estimated unfreed bytes
 * and blocks average to the truth (4 standard errors) and spread as the
 * theory says (the sample standard deviation within 25 % of
 * sqrt(sum n s^2 (1 - p) / p)): right on average and for the right reason.
 */
struct sim_kind {
	uint64_t stack_id, size;
	unsigned n;
	bool freed;		/* every block, or every other one with half */
	bool half;
};

static void test_live_estimate(void **state)
{
	enum { RUNS = 300, NK = 6, MAXB = 50000 };
	static const struct sim_kind kinds[NK] = {
		{ 1, 32, 20000, false, false },	 { 1, 1 << 20, 4, false, false },
		{ 2, 32, 20000, true, false },	 { 2, 1 << 20, 4, true, false },
		{ 3, 200, 8000, true, true },	 { 3, 64 << 10, 10, true, true },
	};
	const uint64_t mean = 16384;
	struct mo_alloc_rec *table = calloc(MAXB, sizeof(*table));
	long *slot = malloc(MAXB * sizeof(*slot));	/* block -> table index, -1 */
	unsigned *order = malloc(MAXB * sizeof(*order));
	long double sum_b[4] = { 0 }, sq_b[4] = { 0 }, sum_c[4] = { 0 };
	long double truth_b[4] = { 0 }, truth_c[4] = { 0 }, var_b[4] = { 0 }, var_c[4] = { 0 };
	unsigned nblocks = 0, kind_of[MAXB];
	uint64_t seed = 77;

	assert_true(table && slot && order);
	for (int k = 0; k < NK; k++) {
		double p = -expm1(-(double)kinds[k].size / mean);
		unsigned live = kinds[k].freed ? (kinds[k].half ? kinds[k].n / 2 : 0) : kinds[k].n;
		uint64_t id = kinds[k].stack_id;

		assert_true(nblocks + kinds[k].n <= MAXB);
		for (unsigned i = 0; i < kinds[k].n; i++)
			kind_of[nblocks++] = k;
		truth_b[id] += (long double)live * kinds[k].size;
		truth_c[id] += live;
		var_b[id] += live * (long double)kinds[k].size * kinds[k].size * (1 - p) / p;
		var_c[id] += live * (1 - p) / p;
	}
	countdown_seed = 99;
	countdown_mean = mean;
	for (int run = 0; run < RUNS; run++) {
		struct mo_leak_groups out;
		size_t nrec = 0;
		__u32 left = 0;

		/* allocation order: a random permutation */
		for (unsigned i = 0; i < nblocks; i++)
			order[i] = i;
		for (unsigned i = nblocks - 1; i > 0; i--) {
			unsigned j = rnd(&seed) % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned i = 0; i < nblocks; i++) {
			unsigned b = order[i];
			const struct sim_kind *k = &kinds[kind_of[b]];

			slot[b] = -1;
			if (!mo_sample_countdown(&left, k->size))
				continue;
			slot[b] = (long)nrec;
			table[nrec++] = (struct mo_alloc_rec){
				.tgid = 1, .addr = b, .size = k->size, .stack_id = k->stack_id,
				.weight = mo_sample_weight(gtab, k->size, mean),
			};
		}
		/* frees, in allocation order: a tracked block leaves the table */
		for (unsigned i = 0; i < nblocks; i++) {
			unsigned b = order[i];
			const struct sim_kind *k = &kinds[kind_of[b]];
			long at = slot[b];

			if (!k->freed || (k->half && (b & 1)) || at < 0)
				continue;
			table[at] = table[--nrec];
			slot[table[at].addr] = at;
		}
		assert_int_equal(mo_analyze(table, nrec, 1, 0, &out), 0);
		for (size_t g = 0; g < out.nr; g++) {
			uint64_t id = out.g[g].stack_id;

			assert_true(id == 1 || id == 3);
			assert_true(out.g[g].estimate);
			sum_b[id] += out.g[g].unfreed_bytes;
			sq_b[id] += (long double)out.g[g].unfreed_bytes * out.g[g].unfreed_bytes;
			sum_c[id] += out.g[g].count;
		}
		mo_leak_groups_release(&out);
	}
	for (int id = 1; id <= 3; id += 2) {
		long double m = sum_b[id] / RUNS, sd = sqrtl(var_b[id]);
		long double sample_sd = sqrtl((sq_b[id] - RUNS * m * m) / (RUNS - 1));

		print_message("stack %d: %.4Lf of the bytes, %.4Lf of the blocks; sd %.4Lf, "
			      "theory %.4Lf\n", id, m / truth_b[id], sum_c[id] / RUNS / truth_c[id],
			      sample_sd / truth_b[id], sd / truth_b[id]);
		if (fabsl(m - truth_b[id]) > 4 * sd / sqrtl(RUNS))
			fail_msg("stack %d: %Lg bytes on average, truth %Lg", id, m, truth_b[id]);
		/* counts round to whole blocks once per group: +-0.5 */
		if (fabsl(sum_c[id] / RUNS - truth_c[id]) > 4 * sqrtl(var_c[id] / RUNS) + 0.5)
			fail_msg("stack %d: %Lg blocks on average, truth %Lg", id, sum_c[id] / RUNS,
				 truth_c[id]);
		if (fabsl(sample_sd / sd - 1) > 0.25)
			fail_msg("stack %d: estimates spread by %Lg, theory %Lg", id, sample_sd, sd);
	}
	free(order);
	free(slot);
	free(table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_draw_accuracy),
		cmocka_unit_test(test_draw_distribution),
		cmocka_unit_test(test_hit_probability),
		cmocka_unit_test(test_weight_accuracy),
		cmocka_unit_test(test_weighted_bytes),
		cmocka_unit_test(test_unbiased),
		cmocka_unit_test(test_live_estimate),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
