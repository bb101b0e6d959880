// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pattern.h"

#define KIB 1024ULL
#define MB (1024ULL * 1024)
#define SEC 1000000000ULL
#define TICK (10 * SEC)		/* the default analysis interval */

/* Deterministic noise: the same "random" history on every run. */
static uint32_t lcg(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return *seed >> 8;
}

static void add(struct mo_history *h, unsigned i, uint64_t unfreed, uint64_t blocks,
		uint64_t allocs, uint64_t frees)
{
	struct mo_sample s = {
		.t_ns = 1000 * SEC + (uint64_t)i * TICK,
		.unfreed_bytes = unfreed,
		.live_blocks = blocks,
		.allocs_total = allocs,
		.frees_total = frees,
	};

	mo_history_add(h, &s);
}

static struct mo_verdict classify(const struct mo_history *h)
{
	struct mo_verdict v;

	mo_classify(h, &v);
	assert_true(v.confidence >= 0 && v.confidence <= 1);
	return v;
}

/* 64 KiB leaked per tick, nothing freed: growing at exactly 64 KiB / 10 s. */
static void test_steady_leak(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;

	for (unsigned i = 0; i < 20; i++)
		add(&h, i, (i + 1) * 64 * KIB, i + 1, i + 1, 0);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_GROWING);
	assert_true(fabs(v.growth_bytes_per_s - 64.0 * KIB / 10) < 1e-6);
	assert_true(v.confidence > 0.99);
	assert_int_equal(v.avg_block_bytes, 64 * KIB);
}

/*
 * The same stack leaks 64 KiB per tick and allocates and frees 20 x 32 KiB
 * per tick; each sample catches 0..19 of the short-lived blocks in flight.
 */
static void test_leak_amid_churn(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	uint32_t seed = 7;
	uint64_t allocs = 0, frees = 0;

	for (unsigned i = 0; i < 40; i++) {
		uint64_t inflight = lcg(&seed) % 20;

		allocs += 21 * 100;
		frees += 20 * 100 - inflight;
		add(&h, i, (i + 1) * 64 * KIB + inflight * 32 * KIB, i + 1 + inflight, allocs,
		    frees);
	}
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_GROWING);
	assert_true(fabs(v.growth_bytes_per_s - 64.0 * KIB / 10) < 0.2 * 64.0 * KIB / 10);
	assert_true(v.confidence > 0.5);
}

/* Leaks that are not straight: 1 MiB every 5 ticks, and growth that slows (4 MiB x sqrt). */
static void test_stairs_and_slowing_leak(void **state)
{
	struct mo_history stairs = { 0 }, slowing = { 0 };

	for (unsigned i = 0; i < 30; i++) {
		uint64_t y = (uint64_t)(4.0 * MB * sqrt(i + 1.0));

		add(&stairs, i, MB + (i / 5) * MB, 16 + (i / 5) * 16, 16 + (i / 5) * 16, 0);
		add(&slowing, i, y, y / (64 * KIB), y / (64 * KIB), 0);
	}
	assert_int_equal(classify(&stairs).pattern, MO_PATTERN_GROWING);
	assert_int_equal(classify(&slowing).pattern, MO_PATTERN_GROWING);
}

/*
 * A hash table that doubles (a Go map, measured: the watch tier's faulted-in
 * bytes of a 1 MiB/min grower, one sample per 10 s, from its first 1 MiB):
 * steps at 50 s and 190 s, flat in between. mo_classify does not call it
 * growing; mo_stairs does while the next step is due: after the first
 * doubling (the first sample rose from zero) for twice the 2 ticks before
 * it, then again from the next step on.
 */
static void test_doubling_stairs(void **state)
{
	static const uint32_t kib[] = { 1024, 1152, 2432, 2688, 2816, 2944, 2944, 2944, 2944,
					2944, 2944, 3072, 3200, 3328, 3456, 3712, 8468 };
	struct mo_history h = { 0 }, cut = { 0 };
	struct mo_verdict v;
	unsigned n = sizeof(kib) / sizeof(kib[0]), i;

	for (i = 0; i < n; i++) {
		add(&h, i, kib[i] * KIB, kib[i] / 64, kib[i] / 64, 0);
		if ((i >= 3 && i <= 6) || i == n - 1)
			assert_true(mo_stairs(&h, true, NULL));
		else
			assert_false(mo_stairs(&h, true, NULL));
	}
	assert_int_not_equal(classify(&h).pattern, MO_PATTERN_GROWING);
	assert_true(mo_stairs(&h, true, &v));
	assert_int_equal(v.pattern, MO_PATTERN_GROWING);
	assert_true(v.growth_bytes_per_s > 40 * KIB && v.growth_bytes_per_s < 50 * KIB);
	assert_true(v.confidence > 0 && v.confidence <= 1);
	/* not counted from zero: the two doublings alone */
	assert_true(mo_stairs(&h, false, NULL));

	/* the next step is due within twice the longest gap (14 ticks): a
	 * table that stopped growing is stairs no longer after 28 flat ticks */
	for (i = n; i < n + 28; i++) {
		add(&h, i, 8468 * KIB, 8468 / 64, 8468 / 64, 0);
		assert_true(mo_stairs(&h, true, NULL));
	}
	add(&h, i, 8468 * KIB, 8468 / 64, 8468 / 64, 0);
	assert_false(mo_stairs(&h, true, NULL));

	/* memory given back is no stairs, whatever rose before */
	for (i = 0; i < n; i++)
		add(&cut, i, kib[i] * KIB, 1, 1, 0);
	add(&cut, n, 4 * MB, 1, 1, 0);
	assert_false(mo_stairs(&cut, true, NULL));
}

/* Steps of +30 % every 5 ticks: two are not enough (a cache topped up
 * once), the third is. */
static void test_small_stairs(void **state)
{
	struct mo_history h = { 0 };
	double level = MB;

	for (unsigned i = 0; i < 16; i++) {
		if (i && i % 5 == 0)
			level *= 1.3;
		add(&h, i, (uint64_t)level, 16, 16, 0);
		assert_true(mo_stairs(&h, false, NULL) == (i >= 15));
	}
}

/* Steady growth is one long rise, a filled cache one short one: neither
 * is stairs (the first is mo_classify's to call). */
static void test_no_stairs(void **state)
{
	struct mo_history line = { 0 }, cache = { 0 }, empty = { 0 };

	for (unsigned i = 0; i < 30; i++) {
		add(&line, i, MB + i * MB, 16 * (i + 1), 16 * (i + 1), 0);
		add(&cache, i, i < 2 ? (i + 1) * 4 * MB : 8 * MB, 128, 128, 0);
	}
	assert_false(mo_stairs(&line, true, NULL));
	assert_false(mo_stairs(&cache, true, NULL));
	assert_false(mo_stairs(&empty, true, NULL));
	assert_false(mo_stairs(NULL, true, NULL));
}

/*
 * RSS backing is judged over the whole history, however long: a stack
 * whose scratch buffer is faulted in again every 5 ticks (its cumulative
 * bytes rise in stairs) while the process's RSS only wobbles is not
 * backed; a real leak over 60 ticks (10 minutes) is.
 */
static void test_rss_backs(void **state)
{
	struct mo_history churn = { 0 }, leak = { 0 }, unknown = { 0 };
	struct mo_sample s = { 0 };

	for (unsigned i = 0; i < 60; i++) {
		s.t_ns = 1000 * SEC + (uint64_t)i * TICK;
		s.unfreed_bytes = (1 + i / 5) * 4 * MB;
		s.rss_bytes = 100 * MB + (i % 5 < 2 ? 4 * MB : 0);
		mo_history_add(&churn, &s);
		s.unfreed_bytes = MB + i * 256 * KIB;
		s.rss_bytes = 100 * MB + i * 200 * KIB;
		mo_history_add(&leak, &s);
		s.rss_bytes = 0;
		mo_history_add(&unknown, &s);
	}
	assert_false(mo_history_rss_backs(&churn));
	assert_true(mo_history_rss_backs(&leak));
	assert_false(mo_history_rss_backs(&unknown));
	assert_false(mo_history_rss_backs(NULL));
}

/*
 * Churn whose in-flight count drifts (a queue depth following load: each
 * sample keeps 80 % of the last one's deviation) must not read as growth
 * just because the drift went up in this window.
 */
static void test_drifting_churn(void **state)
{
	unsigned leaks = 0;

	for (uint32_t seed = 1; seed <= 500; seed++) {
		struct mo_history h = { 0 };
		uint32_t r = seed;
		double dev = 0;
		uint64_t allocs = 0;

		for (unsigned i = 0; i < 40; i++) {
			double noise = ((double)(lcg(&r) % 2001) - 1000) / 1000 * 6;
			uint64_t inflight;

			dev = 0.8 * dev + noise;
			inflight = (uint64_t)fmax(1, 40 + dev);
			allocs += 5000;
			add(&h, i, inflight * 32 * KIB, inflight, allocs, allocs - inflight);
		}
		leaks += classify(&h).pattern == MO_PATTERN_GROWING;
	}
	/* the level and step tests are set for 1 in 10,000; drift costs some of that */
	assert_true(leaks <= 2);
}

/* An LRU of 10 x 64 KiB fills in 10 ticks, then every insert evicts one. */
static void test_lru_cache_plateau(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;

	for (unsigned i = 0; i < 30; i++) {
		unsigned held = i < 10 ? i + 1 : 10;

		add(&h, i, held * 64 * KIB, held, i + 1, i + 1 - held);
	}
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_PLATEAU);
	assert_true(fabs(v.growth_bytes_per_s) < 1);
	assert_true(v.confidence > 0.5);
}

/* A slightly noisy cache (entries of varying size) is still a plateau. */
static void test_noisy_cache_plateau(void **state)
{
	struct mo_history h = { 0 };
	uint32_t seed = 3;

	for (unsigned i = 0; i < 40; i++) {
		uint64_t level = i < 15 ? (i + 1) * MB : 15 * MB;

		add(&h, i, level - lcg(&seed) % (512 * KIB), 100 + i, 100 + 10 * i, 10 * i);
	}
	assert_int_equal(classify(&h).pattern, MO_PATTERN_PLATEAU);
}

/* 100 x 64 KiB allocated before the first sample and held: plateau at once. */
static void test_pool_allocated_once(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;

	for (unsigned i = 0; i < 4; i++)
		add(&h, i, 100 * 64 * KIB, 100, 100, 0);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_PLATEAU);
	assert_true(v.confidence > 0.3);
	for (unsigned i = 4; i < 30; i++)
		add(&h, i, 100 * 64 * KIB, 100, 100, 0);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_PLATEAU);
	assert_true(v.confidence > 0.99);
	assert_true(v.growth_bytes_per_s == 0);
}

/* 200 x 64 KiB over 5 ticks, held for 5, then freed but for one block. */
static void test_burst_freed_later(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	unsigned i = 0;

	for (; i < 5; i++)
		add(&h, i, (i + 1) * 40 * 64 * KIB, (i + 1) * 40, (i + 1) * 40, 0);
	for (; i < 10; i++)
		add(&h, i, 200 * 64 * KIB, 200, 200, 0);
	/* while held it is not a leak either */
	assert_int_not_equal(classify(&h).pattern, MO_PATTERN_GROWING);
	for (; i < 15; i++)
		add(&h, i, 64 * KIB, 1, 200, 199);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_CHURN);
	assert_true(v.growth_bytes_per_s <= 0);
}

/* Grew for 40 ticks, then all but one block was freed: given back, not a leak. */
static void test_growth_given_back(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	unsigned i = 0;

	for (; i < 40; i++)
		add(&h, i, (i + 1) * MB, i + 1, i + 1, 0);
	for (; i < 42; i++)
		add(&h, i, MB, 1, 40, 39);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_CHURN);
	assert_true(v.confidence > 0.9);
}

/* Allocated and freed at the same rate, a noisy number in flight: churn, whatever the noise. */
static void test_pure_churn_noise(void **state)
{
	for (uint32_t seed = 1; seed <= 200; seed++) {
		struct mo_history h = { 0 };
		struct mo_verdict v;
		uint32_t r = seed;
		uint64_t allocs = 0, frees = 0;

		for (unsigned i = 0; i < 64; i++) {
			uint64_t inflight = 1 + lcg(&r) % 20;

			allocs += 5000;
			frees = allocs - inflight;
			add(&h, i, inflight * 32 * KIB, inflight, allocs, frees);
		}
		v = classify(&h);
		if (v.pattern != MO_PATTERN_CHURN)
			fail_msg("seed %u: %s", seed, mo_pattern_name(v.pattern));
	}
}

/* One buffer always in flight, the set replaced every tick: churn, not a pool. */
static void test_steady_inflight_churn(void **state)
{
	struct mo_history h = { 0 };

	for (unsigned i = 0; i < 10; i++)
		add(&h, i, 32 * KIB, 1, 1000 * (i + 1), 1000 * (i + 1) - 1);
	assert_int_equal(classify(&h).pattern, MO_PATTERN_CHURN);
}

/* String building: 48-byte blocks pile up irregularly, a few freed at times. */
static void test_fragmentation(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	uint32_t seed = 11;
	uint64_t blocks = 0, allocs = 0, frees = 0;

	for (unsigned i = 0; i < 30; i++) {
		uint64_t added = lcg(&seed) % 300, freed = i % 4 == 3 ? blocks / 10 : 0;

		blocks += added;
		blocks -= freed;
		allocs += added;
		frees += freed;
		add(&h, i, blocks * 48, blocks, allocs, frees);
	}
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_FRAGMENTATION);
	assert_int_equal(v.avg_block_bytes, 48);
	assert_true(v.growth_bytes_per_s > 0);
}

/* The same 48-byte blocks once the program stops adding: a plateau, not fragmentation. */
static void test_small_blocks_stop(void **state)
{
	struct mo_history h = { 0 };

	for (unsigned i = 0; i < 30; i++) {
		uint64_t blocks = 200 * (i < 15 ? i + 1 : 15);

		add(&h, i, blocks * 48, blocks, blocks, 0);
	}
	assert_int_equal(classify(&h).pattern, MO_PATTERN_PLATEAU);
}

static void test_short_history_unknown(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	struct mo_sample s = { .t_ns = SEC, .unfreed_bytes = MB, .live_blocks = 1 };

	mo_classify(NULL, &v);
	assert_int_equal(v.pattern, MO_PATTERN_UNKNOWN);
	mo_classify(&h, &v);
	assert_int_equal(v.pattern, MO_PATTERN_UNKNOWN);
	for (unsigned i = 0; i < 3; i++)
		add(&h, i, (i + 1) * MB, i + 1, i + 1, 0);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_UNKNOWN);
	assert_true(v.confidence == 0);

	/* four samples, but three of them in the same tick: less than two ticks */
	memset(&h, 0, sizeof(h));
	for (unsigned i = 0; i < 3; i++) {
		s.unfreed_bytes = (i + 1) * MB;
		mo_history_add(&h, &s);
	}
	s.t_ns += TICK;
	s.unfreed_bytes = 4 * MB;
	mo_history_add(&h, &s);
	assert_int_equal(classify(&h).pattern, MO_PATTERN_UNKNOWN);
}

/* 36 samples at 1 GiB, then 64 of a leak from 0: only the latest 64 count. */
static void test_ring_wraps(void **state)
{
	struct mo_history h = { 0 };
	struct mo_verdict v;
	unsigned i = 0;

	for (; i < 36; i++)
		add(&h, i, 1024 * MB, 1, 1, 0);
	for (; i < 100; i++)
		add(&h, i, (i - 35) * MB, i - 35, i - 35, 0);
	assert_int_equal(h.n, MO_HISTORY_LEN);
	assert_int_equal(h.head, 100 % MO_HISTORY_LEN);
	assert_int_equal(h.s[(h.head + MO_HISTORY_LEN - 1) % MO_HISTORY_LEN].unfreed_bytes,
			 64 * MB);
	assert_int_equal(h.s[h.head].unfreed_bytes, 1 * MB);
	v = classify(&h);
	assert_int_equal(v.pattern, MO_PATTERN_GROWING);
	assert_true(fabs(v.growth_bytes_per_s - (double)MB / 10) < 1e-3);
}

static void test_names(void **state)
{
	assert_string_equal(mo_pattern_name(MO_PATTERN_UNKNOWN), "unknown");
	assert_string_equal(mo_pattern_name(MO_PATTERN_GROWING), "growing");
	assert_string_equal(mo_pattern_name(MO_PATTERN_PLATEAU), "plateau");
	assert_string_equal(mo_pattern_name(MO_PATTERN_CHURN), "churn");
	assert_string_equal(mo_pattern_name(MO_PATTERN_FRAGMENTATION), "fragmentation");
	assert_string_equal(mo_pattern_name((enum mo_pattern)99), "unknown");
}

/* 100 MB + 10 MB/s over 10 s against 500 MB: 190 MB now, 31 s left. */
static void test_oom_exact_line(void **state)
{
	struct mo_usage_point p[10];

	for (unsigned i = 0; i < 10; i++)
		p[i] = (struct mo_usage_point){ 5000 * SEC + i * SEC, 100 * MB + i * 10 * MB };
	assert_true(fabs(mo_predict_oom_seconds(p, 10, 500 * MB) - 31.0) < 1e-9);
	/* at or above the limit: now */
	assert_true(mo_predict_oom_seconds(p, 10, 190 * MB) == 0);
	assert_true(mo_predict_oom_seconds(p, 10, 150 * MB) == 0);
	/* no prediction: too few points, no limit */
	assert_true(mo_predict_oom_seconds(p, 1, 500 * MB) < 0);
	assert_true(mo_predict_oom_seconds(p, 10, 0) < 0);
	assert_true(mo_predict_oom_seconds(NULL, 10, 500 * MB) < 0);
}

static void test_oom_noise_and_flat(void **state)
{
	struct mo_usage_point p[60];
	uint32_t seed = 5;
	double s;

	/* 1 MB/s with +-2 MB noise, 200 MB used of 1000 MB: ~800 s left */
	for (unsigned i = 0; i < 60; i++) {
		int64_t noise = (int64_t)(lcg(&seed) % (4 * MB)) - (int64_t)(2 * MB);

		p[i] = (struct mo_usage_point){ i * SEC, (uint64_t)((int64_t)(141 * MB + i * MB) + noise) };
	}
	s = mo_predict_oom_seconds(p, 60, 1000 * MB);
	assert_true(s > 0.95 * 800 && s < 1.05 * 800);

	/* flat or falling: no prediction */
	for (unsigned i = 0; i < 60; i++)
		p[i] = (struct mo_usage_point){ i * SEC, 300 * MB };
	assert_true(mo_predict_oom_seconds(p, 60, 1000 * MB) < 0);
	for (unsigned i = 0; i < 60; i++)
		p[i] = (struct mo_usage_point){ i * SEC, 900 * MB - i * MB };
	assert_true(mo_predict_oom_seconds(p, 60, 1000 * MB) < 0);
}

static char tmp[] = "/tmp/mo_pattern.XXXXXX";

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup_tree(void **state)
{
	if (!mkdtemp(tmp))
		return -1;
	dir("v2");
	dir("v2/kubepods");
	dir("v2/kubepods/pod");
	dir("v2/kubepods/pod/ctr");
	dir("v2/free");
	dir("v2/free/leaf");
	dir("v2/tight");
	dir("v2/tight/leaf");
	dir("v1");
	dir("v1/docker");
	dir("v1/docker/abc");
	dir("v1/unl");
	dir("bad");
	/* the v2 root has cgroup.procs but no memory.max */
	put("v2/cgroup.procs", "");
	put("v2/kubepods/cgroup.procs", "");
	put("v2/kubepods/memory.max", "max\n");
	put("v2/kubepods/pod/memory.max", "1073741824\n");
	put("v2/kubepods/pod/ctr/memory.max", "max\n");
	put("v2/free/memory.max", "max\n");
	put("v2/free/leaf/memory.max", "max\n");
	put("v2/tight/memory.max", "268435456\n");
	put("v2/tight/leaf/memory.max", "2147483648\n");
	put("v1/docker/memory.limit_in_bytes", "9223372036854771712\n");
	put("v1/docker/abc/memory.limit_in_bytes", "536870912\n");
	put("v1/unl/memory.limit_in_bytes", "9223372036854771712\n");
	put("bad/memory.max", "lots\n");
	put("meminfo", "MemTotal:       16318480 kB\nMemFree:         1000 kB\n");
	put("meminfo_empty", "MemFree:         1000 kB\n");
	return 0;
}

static int teardown_tree(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static uint64_t limit_of(const char *rel, int *err)
{
	char d[512], mi[512];
	uint64_t v = 0;

	snprintf(d, sizeof(d), "%s/%s", tmp, rel);
	snprintf(mi, sizeof(mi), "%s/meminfo", tmp);
	*err = mo_memory_limit(d, mi, &v);
	return v;
}

static void test_limit_v2(void **state)
{
	int err;

	/* "max" at the leaf: the pod's number above it applies */
	assert_int_equal(limit_of("v2/kubepods/pod/ctr", &err), 1024 * MB);
	assert_int_equal(err, 0);
	assert_int_equal(limit_of("v2/kubepods/pod/ctr/", &err), 1024 * MB);
	/* a larger leaf limit does not lift the parent's */
	assert_int_equal(limit_of("v2/tight/leaf", &err), 256 * MB);
	/* "max" up to the root: MemTotal */
	assert_int_equal(limit_of("v2/free/leaf", &err), 16318480ULL * 1024);
	assert_int_equal(err, 0);
	assert_int_equal(limit_of("v2", &err), 16318480ULL * 1024);
	limit_of("bad", &err);
	assert_int_equal(err, -EINVAL);
}

static void test_limit_v1_and_meminfo(void **state)
{
	char mi[512];
	uint64_t v = 0;
	int err;

	assert_int_equal(limit_of("v1/docker/abc", &err), 512 * MB);
	assert_int_equal(err, 0);
	/* 2^63 rounded down to a page means unlimited */
	assert_int_equal(limit_of("v1/unl", &err), 16318480ULL * 1024);
	assert_int_equal(limit_of("no/such/dir", &err), 16318480ULL * 1024);
	assert_int_equal(err, 0);

	snprintf(mi, sizeof(mi), "%s/meminfo", tmp);
	assert_int_equal(mo_memory_limit(NULL, mi, &v), 0);
	assert_int_equal(v, 16318480ULL * 1024);
	snprintf(mi, sizeof(mi), "%s/meminfo_empty", tmp);
	assert_true(mo_memory_limit(NULL, mi, &v) < 0);
	snprintf(mi, sizeof(mi), "%s/missing", tmp);
	assert_int_equal(mo_memory_limit("", mi, &v), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_leak),
		cmocka_unit_test(test_leak_amid_churn),
		cmocka_unit_test(test_stairs_and_slowing_leak),
		cmocka_unit_test(test_drifting_churn),
		cmocka_unit_test(test_lru_cache_plateau),
		cmocka_unit_test(test_noisy_cache_plateau),
		cmocka_unit_test(test_pool_allocated_once),
		cmocka_unit_test(test_burst_freed_later),
		cmocka_unit_test(test_growth_given_back),
		cmocka_unit_test(test_pure_churn_noise),
		cmocka_unit_test(test_steady_inflight_churn),
		cmocka_unit_test(test_fragmentation),
		cmocka_unit_test(test_small_blocks_stop),
		cmocka_unit_test(test_short_history_unknown),
		cmocka_unit_test(test_ring_wraps),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_oom_exact_line),
		cmocka_unit_test(test_oom_noise_and_flat),
		cmocka_unit_test(test_limit_v2),
		cmocka_unit_test(test_limit_v1_and_meminfo),
		cmocka_unit_test(test_doubling_stairs),
		cmocka_unit_test(test_small_stairs),
		cmocka_unit_test(test_no_stairs),
		cmocka_unit_test(test_rss_backs),
	};

	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
