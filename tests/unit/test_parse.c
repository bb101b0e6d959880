// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_parse.c - sizes, durations, counts, mo_config_set and the
 * configuration file parser and loader. Runs from the repository root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "parse.h"

#define SEC 1000000000ULL
#define DAY (86400 * SEC)
#define EXAMPLE_PATH "docs/memobserver.conf.example"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct parse_case {
	const char *in;
	int ret;
	uint64_t out;
};

static void check_cases(int (*parse)(const char *, uint64_t *),
			const struct parse_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0xdeadbeef;
		int ret = parse(cases[i].in, &v);

		if (ret != cases[i].ret || (ret == 0 && v != cases[i].out) ||
		    (ret != 0 && v != 0xdeadbeef))
			fail_msg("'%s': got ret %d value %llu, want ret %d value %llu",
				 cases[i].in, ret, (unsigned long long)v, cases[i].ret,
				 (unsigned long long)cases[i].out);
	}
}

static void test_size_valid(void **state)
{
	static const struct parse_case cases[] = {
		{ "0", 0, 0 },
		{ "4096", 0, 4096 },
		{ "007", 0, 7 },
		{ "12B", 0, 12 },
		{ "12b", 0, 12 },
		{ "10K", 0, 10240 },
		{ "10k", 0, 10240 },
		{ "10KB", 0, 10240 },
		{ "10kb", 0, 10240 },
		{ "10KiB", 0, 10240 },
		{ "10kib", 0, 10240 },
		{ "10KIB", 0, 10240 },
		{ "1M", 0, 1ULL << 20 },
		{ "1m", 0, 1ULL << 20 },
		{ "1MiB", 0, 1ULL << 20 },
		{ "2G", 0, 2ULL << 30 },
		{ "2gb", 0, 2ULL << 30 },
		{ "1T", 0, 1ULL << 40 },
		{ "1t", 0, 1ULL << 40 },
		{ "0K", 0, 0 },
		{ "1.5M", 0, 1572864 },
		{ "1.5KiB", 0, 1536 },
		{ "0.1K", 0, 102 },		/* 102.4, rounded down */
		{ "1.9", 0, 1 },
		{ "0.5B", 0, 0 },
		/* 2^-10 exactly, and one digit less: the fraction is exact. */
		{ "1.0009765625K", 0, 1025 },
		{ "1.0009765624K", 0, 1024 },
		{ "15.99999999999999999999T", 0, (1ULL << 44) - 1 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551615.9", 0, UINT64_MAX },
		{ "16777215T", 0, 16777215ULL << 40 },
		{ "16777215.99999999999999999999T", 0, UINT64_MAX },
	};

	check_cases(mo_parse_size, cases, ARRAY_SIZE(cases));
}

static void test_size_invalid(void **state)
{
	static const struct parse_case cases[] = {
		{ "", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1 K", -EINVAL, 0 },
		{ "1K ", -EINVAL, 0 },
		{ "1K\n", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "-0", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ ".5", -EINVAL, 0 },
		{ "1.5.5", -EINVAL, 0 },
		{ "1,5K", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "B", -EINVAL, 0 },
		{ "1KK", -EINVAL, 0 },
		{ "1Ki", -EINVAL, 0 },
		{ "1iB", -EINVAL, 0 },
		{ "1KBB", -EINVAL, 0 },
		{ "1KiBB", -EINVAL, 0 },
		{ "1P", -EINVAL, 0 },
		{ "1X", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "inf", -EINVAL, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "16777216.0T", -ERANGE, 0 },
	};

	check_cases(mo_parse_size, cases, ARRAY_SIZE(cases));
	assert_int_equal(mo_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
	assert_int_equal(mo_parse_size("1", NULL), -EINVAL);
}

static void test_duration_valid(void **state)
{
	static const struct parse_case cases[] = {
		{ "0", 0, 0 },
		{ "30", 0, 30 * SEC },
		{ "1.5", 0, 1500000000 },
		{ "100ns", 0, 100 },
		{ "250us", 0, 250000 },
		{ "500ms", 0, 500000000 },
		{ "30s", 0, 30 * SEC },
		{ "1.5s", 0, 1500000000 },
		{ "5m", 0, 300 * SEC },
		{ "1h", 0, 3600 * SEC },
		{ "1d", 0, DAY },
		{ "0.5ns", 0, 0 },
		{ "1.9ns", 0, 1 },
		{ "1.0000000005s", 0, 1000000000 },
		{ "0.001ms", 0, 1000 },
		{ "213503d", 0, 213503 * DAY },
		{ "18446744073709551615ns", 0, UINT64_MAX },
		{ "18446744073.709551615s", 0, UINT64_MAX },
	};

	check_cases(mo_parse_duration, cases, ARRAY_SIZE(cases));
}

static void test_duration_invalid(void **state)
{
	static const struct parse_case cases[] = {
		{ "", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "ms", -EINVAL, 0 },
		{ "1S", -EINVAL, 0 },
		{ "1MS", -EINVAL, 0 },
		{ "1 s", -EINVAL, 0 },
		{ " 1s", -EINVAL, 0 },
		{ "1s ", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "1sec", -EINVAL, 0 },
		{ "1ms5", -EINVAL, 0 },
		{ "1.s", -EINVAL, 0 },
		{ ".5s", -EINVAL, 0 },
		{ "1mm", -EINVAL, 0 },
		{ "1d1h", -EINVAL, 0 },
		{ "1K", -EINVAL, 0 },
		{ "1w", -EINVAL, 0 },
		{ "1e9ns", -EINVAL, 0 },
		{ "213504d", -ERANGE, 0 },
		{ "18446744073709551616ns", -ERANGE, 0 },
		{ "18446744073.709551616s", -ERANGE, 0 },
		{ "18446744074", -ERANGE, 0 },
		{ "99999999999999999999999999h", -ERANGE, 0 },
	};

	check_cases(mo_parse_duration, cases, ARRAY_SIZE(cases));
	assert_int_equal(mo_parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
	assert_int_equal(mo_parse_duration("1s", NULL), -EINVAL);
}

static void test_uint(void **state)
{
	uint64_t v = 7;

	assert_int_equal(mo_parse_uint("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mo_parse_uint("0", 0, 100, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mo_parse_uint("100", 0, 100, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(mo_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);

	v = 7;
	assert_int_equal(mo_parse_uint("101", 0, 100, &v), -ERANGE);
	assert_int_equal(mo_parse_uint("9", 10, 100, &v), -ERANGE);
	assert_int_equal(mo_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(mo_parse_uint("", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("-1", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("+1", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("1.0", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("1K", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint(" 1", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("1 ", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("0x1", 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint(NULL, 0, 100, &v), -EINVAL);
	assert_int_equal(mo_parse_uint("1", 0, 100, NULL), -EINVAL);
	assert_int_equal(v, 7);
}

static void assert_config_equal(const struct mo_config *a, const struct mo_config *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->buffer_size, b->buffer_size);
	assert_true(a->min_allocation_size == b->min_allocation_size);
	assert_true(a->min_unfreed_age_ns == b->min_unfreed_age_ns);
	assert_true(a->rss_growth_threshold == b->rss_growth_threshold);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->enable_ebpf, b->enable_ebpf);
	assert_true(a->stack_dedup_window_ns == b->stack_dedup_window_ns);
	assert_int_equal(a->sampling_rate, b->sampling_rate);
	assert_int_equal(a->max_allocations, b->max_allocations);
	assert_int_equal(a->max_stacks, b->max_stacks);
	assert_string_equal(a->k8s_log_dir, b->k8s_log_dir);
	assert_int_equal(a->max_stack_depth, b->max_stack_depth);
	assert_true(a->report_interval_ns == b->report_interval_ns);
	assert_int_equal(a->unwind_rows, b->unwind_rows);
}

static void test_set_name(void **state)
{
	struct mo_config cfg, def;
	char buf[80];

	mo_config_init(&cfg);
	mo_config_init(&def);
	assert_int_equal(mo_config_set(&cfg, "name", "web-1"), 0);
	assert_string_equal(cfg.name, "web-1");
	assert_int_equal(mo_config_set(&cfg, "name", "caf\xc3\xa9 ok"), 0);
	assert_string_equal(cfg.name, "caf\xc3\xa9 ok");

	memset(buf, 'n', 63);
	buf[63] = '\0';
	assert_int_equal(mo_config_set(&cfg, "name", buf), 0);
	assert_string_equal(cfg.name, buf);

	assert_int_equal(mo_config_set(&cfg, "name", "memory"), 0);
	memset(buf, 'n', 64);
	buf[64] = '\0';
	assert_int_equal(mo_config_set(&cfg, "name", buf), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "name", ""), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "name", "a\tb"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "name", "a\nb"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "name", "a\x7f"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "name", "\x1b[31m"), -EINVAL);
	assert_config_equal(&cfg, &def);
}

static void test_set_k8s_log_dir(void **state)
{
	struct mo_config cfg;
	char buf[300];

	mo_config_init(&cfg);
	assert_string_equal(cfg.k8s_log_dir, "/var/log");
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", "/tmp/kubelet logs"), 0);
	assert_string_equal(cfg.k8s_log_dir, "/tmp/kubelet logs");
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", "off"), 0);
	assert_string_equal(cfg.k8s_log_dir, "");
	memset(buf, 'd', 255);
	buf[255] = '\0';
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", buf), 0);
	buf[255] = 'd';
	buf[256] = '\0';
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", buf), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", ""), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "k8s_log_dir", "/var/log\n"), -EINVAL);
	assert_int_equal(strlen(cfg.k8s_log_dir), 255);
}

static void test_set_values(void **state)
{
	struct mo_config cfg, def;

	mo_config_init(&cfg);
	assert_int_equal(mo_config_set(&cfg, "buffer_size", "500"), 0);
	assert_int_equal(cfg.buffer_size, 500);
	assert_int_equal(mo_config_set(&cfg, "min_allocation_size", "64K"), 0);
	assert_true(cfg.min_allocation_size == 65536);
	assert_int_equal(mo_config_set(&cfg, "min_unfreed_age", "2m"), 0);
	assert_true(cfg.min_unfreed_age_ns == 120 * SEC);
	assert_int_equal(mo_config_set(&cfg, "rss_growth_threshold", "1.5G"), 0);
	assert_true(cfg.rss_growth_threshold == 1610612736ULL);
	assert_int_equal(mo_config_set(&cfg, "rss_growth_threshold", "16777215T"), 0);
	assert_true(cfg.rss_growth_threshold == 16777215ULL << 40);
	assert_int_equal(mo_config_set(&cfg, "mode", "aggressive"), 0);
	assert_int_equal(cfg.mode, MO_MODE_AGGRESSIVE);
	assert_int_equal(mo_config_set(&cfg, "mode", "conservative"), 0);
	assert_int_equal(cfg.mode, MO_MODE_CONSERVATIVE);
	assert_int_equal(mo_config_set(&cfg, "mode", "balanced"), 0);
	assert_int_equal(cfg.mode, MO_MODE_BALANCED);
	assert_int_equal(mo_config_set(&cfg, "stack_dedup_window", "250ms"), 0);
	assert_true(cfg.stack_dedup_window_ns == 250000000);
	assert_int_equal(mo_config_set(&cfg, "sampling_rate", "10"), 0);
	assert_int_equal(cfg.sampling_rate, 10);
	assert_int_equal(mo_config_set(&cfg, "max_allocations", "2000000"), 0);
	assert_int_equal(cfg.max_allocations, 2000000);
	assert_int_equal(mo_config_set(&cfg, "max_stacks", "4096"), 0);
	assert_int_equal(cfg.max_stacks, 4096);
	assert_int_equal(mo_config_set(&cfg, "max_stack_depth", "16"), 0);
	assert_int_equal(cfg.max_stack_depth, 16);
	assert_int_equal(mo_config_set(&cfg, "report_interval", "1.5s"), 0);
	assert_true(cfg.report_interval_ns == 1500000000);
	assert_int_equal(mo_config_set(&cfg, "unwind_rows", "4096"), 0);
	assert_int_equal(cfg.unwind_rows, 4096);

	/* Bad values leave the field alone. */
	mo_config_init(&cfg);
	mo_config_init(&def);
	assert_int_equal(mo_config_set(&cfg, "buffer_size", "1K"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "buffer_size", "-1"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "buffer_size", "4294967296"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "min_allocation_size", "x"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "min_allocation_size", "64.0000001T"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "min_allocation_size", "10 K"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "min_unfreed_age", "31d"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "min_unfreed_age", "10K"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "rss_growth_threshold", "16777216T"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "mode", "Balanced"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "mode", ""), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "mode", "fast"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "stack_dedup_window", "25h"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "sampling_rate", "0"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "report_interval", "9ms"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "max_stack_depth", "33"), -EINVAL);
	assert_config_equal(&cfg, &def);
}

static void test_set_bool(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "True", "yes", "YES", "1" };
	static const char *const no[] = { "false", "FALSE", "no", "No", "0" };
	static const char *const bad[] = { "", "on", "off", "2", "truee", "y", " true", "01" };
	struct mo_config cfg;

	mo_config_init(&cfg);
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		cfg.enable_ebpf = false;
		assert_int_equal(mo_config_set(&cfg, "enable_ebpf", yes[i]), 0);
		assert_true(cfg.enable_ebpf);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		cfg.enable_ebpf = true;
		assert_int_equal(mo_config_set(&cfg, "enable_ebpf", no[i]), 0);
		assert_false(cfg.enable_ebpf);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cfg.enable_ebpf = true;
		assert_int_equal(mo_config_set(&cfg, "enable_ebpf", bad[i]), -EINVAL);
		assert_true(cfg.enable_ebpf);
	}
	/* the library reads files in process unless asked (the command asks) */
	mo_config_init(&cfg);
	assert_false(cfg.privsep);
	assert_int_equal(mo_config_set(&cfg, "privsep", "true"), 0);
	assert_true(cfg.privsep);
	assert_int_equal(mo_config_set(&cfg, "privsep", "no"), 0);
	assert_false(cfg.privsep);
}

static void test_set_keys(void **state)
{
	struct mo_config cfg;

	mo_config_init(&cfg);
	assert_int_equal(mo_config_set(&cfg, "foo", "1"), -ENOENT);
	assert_int_equal(mo_config_set(&cfg, "Name", "x"), -ENOENT);
	assert_int_equal(mo_config_set(&cfg, "min_unfreed_age_ns", "1"), -ENOENT);
	assert_int_equal(mo_config_set(&cfg, "mode ", "balanced"), -ENOENT);
	assert_int_equal(mo_config_set(&cfg, "", "1"), -ENOENT);
	assert_int_equal(mo_config_set(NULL, "mode", "balanced"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, NULL, "balanced"), -EINVAL);
	assert_int_equal(mo_config_set(&cfg, "mode", NULL), -EINVAL);
}

/*
 * Every numeric bound mo_config_set enforces must be the bound
 * mo_config_resolve enforces: the value at the bound is accepted by both,
 * the value just outside it is rejected by both.
 */
enum unit { PLAIN, BYTES, NANOSECONDS };

struct bound {
	const char *key;
	size_t offset;
	size_t width;
	enum unit unit;
	uint64_t low;
	uint64_t high;	/* 0: no upper bound */
};

#define FIELD(f) offsetof(struct mo_config, f), sizeof(((struct mo_config *)0)->f)

static const struct bound bounds[] = {
	{ "buffer_size", FIELD(buffer_size), PLAIN, 1, 10000000 },
	{ "sampling_rate", FIELD(sampling_rate), PLAIN, 1, 1000000 },
	{ "max_allocations", FIELD(max_allocations), PLAIN, 1024, 100000000 },
	{ "max_stacks", FIELD(max_stacks), PLAIN, 64, 10000000 },
	{ "max_stack_depth", FIELD(max_stack_depth), PLAIN, 1, 32 },
	{ "unwind_rows", FIELD(unwind_rows), PLAIN, 1024, 50000000 },
	{ "min_allocation_size", FIELD(min_allocation_size), BYTES, 0, 1ULL << 46 },
	{ "rss_growth_threshold", FIELD(rss_growth_threshold), BYTES, 0, 0 },
	{ "large_allocation_threshold", FIELD(large_allocation_threshold), BYTES, 0, 0 },
	{ "min_unfreed_age", FIELD(min_unfreed_age_ns), NANOSECONDS, 0, 30 * DAY },
	{ "stack_dedup_window", FIELD(stack_dedup_window_ns), NANOSECONDS, 0, DAY },
	{ "report_interval", FIELD(report_interval_ns), NANOSECONDS, SEC / 100, DAY },
};

static void store(struct mo_config *cfg, const struct bound *b, uint64_t v)
{
	char *field = (char *)cfg + b->offset;

	if (b->width == sizeof(uint32_t))
		*(uint32_t *)field = (uint32_t)v;
	else
		*(uint64_t *)field = v;
}

static int set_number(struct mo_config *cfg, const struct bound *b, uint64_t v)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%llu%s", (unsigned long long)v,
		 b->unit == NANOSECONDS ? "ns" : "");
	return mo_config_set(cfg, b->key, buf);
}

static void check_accepted(const struct bound *b, uint64_t v)
{
	struct mo_config cfg;

	mo_config_init(&cfg);
	if (set_number(&cfg, b, v) != 0)
		fail_msg("%s = %llu rejected by mo_config_set", b->key, (unsigned long long)v);
	if (mo_config_resolve(&cfg, NULL, NULL) != 0)
		fail_msg("%s = %llu rejected by mo_config_resolve", b->key,
			 (unsigned long long)v);
}

static void check_rejected(const struct bound *b, uint64_t v)
{
	const char *bad = NULL;
	struct mo_config cfg;

	mo_config_init(&cfg);
	if (set_number(&cfg, b, v) != -EINVAL)
		fail_msg("%s = %llu accepted by mo_config_set", b->key, (unsigned long long)v);
	store(&cfg, b, v);
	if (mo_config_resolve(&cfg, NULL, &bad) != -EINVAL || !bad || strcmp(bad, b->key))
		fail_msg("%s = %llu not rejected by mo_config_resolve", b->key,
			 (unsigned long long)v);
}

static void test_bounds_match_resolve(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(bounds); i++) {
		const struct bound *b = &bounds[i];

		check_accepted(b, b->low);
		if (b->low > 0)
			check_rejected(b, b->low - 1);
		if (b->high) {
			check_accepted(b, b->high);
			check_rejected(b, b->high + 1);
		}
	}
}

static const char full_text[] =
	"# a comment\n"
	"   # an indented comment\n"
	"\n"
	"\t\n"
	"name = \"web # 1\"  # quoted, with a trailing comment\r\n"
	"mode=aggressive\n"
	"  min_allocation_size\t=\t64KiB   # trailing comment\n"
	"min_unfreed_age = 2m\r\n"
	"rss_growth_threshold = \"1.5G\"\n"
	"enable_ebpf = no\n"
	"buffer_size = 123\n"
	"stack_dedup_window = 1s\n"
	"sampling_rate = 7\n"
	"max_allocations = 4096\n"
	"max_stacks = 128\n"
	"max_stack_depth = 8\n"
	"report_interval = 250ms\n"
	"unwind_rows = 2048\n"
	"sampling_rate = 9";	/* duplicate, no final newline: last wins */

static void test_parse_full(void **state)
{
	struct mo_config cfg;
	char err[128] = "untouched";

	mo_config_init(&cfg);
	assert_int_equal(mo_config_parse(&cfg, full_text, strlen(full_text), err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.name, "web # 1");
	assert_int_equal(cfg.mode, MO_MODE_AGGRESSIVE);
	assert_true(cfg.min_allocation_size == 65536);
	assert_true(cfg.min_unfreed_age_ns == 120 * SEC);
	assert_true(cfg.rss_growth_threshold == 1610612736ULL);
	assert_false(cfg.enable_ebpf);
	assert_int_equal(cfg.buffer_size, 123);
	assert_true(cfg.stack_dedup_window_ns == SEC);
	assert_int_equal(cfg.sampling_rate, 9);
	assert_int_equal(cfg.max_allocations, 4096);
	assert_int_equal(cfg.max_stacks, 128);
	assert_int_equal(cfg.max_stack_depth, 8);
	assert_true(cfg.report_interval_ns == 250000000);
	assert_int_equal(cfg.unwind_rows, 2048);
	assert_int_equal(mo_config_resolve(&cfg, NULL, NULL), 0);
}

static void parse_name(const char *text, const char *want)
{
	struct mo_config cfg;
	char err[128];

	mo_config_init(&cfg);
	if (mo_config_parse(&cfg, text, strlen(text), err, sizeof(err)) != 0)
		fail_msg("'%s' failed: %s", text, err);
	if (strcmp(cfg.name, want) != 0)
		fail_msg("'%s' gave name '%s', want '%s'", text, cfg.name, want);
}

static void test_parse_values(void **state)
{
	parse_name("name = a#b", "a#b");
	parse_name("name = a #b", "a");
	parse_name("name = a\t#b", "a");
	parse_name("name = a b c  ", "a b c");
	parse_name("name = \"a # b\" # c", "a # b");
	parse_name("name = \"  padded  \"", "  padded  ");
	parse_name("name = \"#\"", "#");
	parse_name("name = it\"s", "it\"s");
	parse_name("name=x\r\n", "x");
	parse_name("name = x\r", "x");
	parse_name("\xef\xbb\xbfname = bom", "bom");
	parse_name("name = first\nname = second\n", "second");
	parse_name("\r\n\r\nname = crlf\r\n\r\n", "crlf");
}

static void test_parse_length(void **state)
{
	static const char text[] = "mode = aggressive\nname = cut here";
	struct mo_config cfg;
	char err[128];

	/* Only len bytes count; the text need not be NUL-terminated. */
	mo_config_init(&cfg);
	assert_int_equal(mo_config_parse(&cfg, text, strlen(text) - 5, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, MO_MODE_AGGRESSIVE);
	assert_string_equal(cfg.name, "cut");

	mo_config_init(&cfg);
	assert_int_equal(mo_config_parse(&cfg, text, 0, err, sizeof(err)), 0);
	assert_int_equal(mo_config_parse(&cfg, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(mo_config_parse(&cfg, "# only\n\n  \n", 11, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, MO_MODE_BALANCED);
	assert_int_equal(mo_config_parse(&cfg, NULL, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(mo_config_parse(NULL, text, 1, err, sizeof(err)), -EINVAL);
}

static void parse_error(const char *text, size_t len, int want_ret, const char *want_err)
{
	struct mo_config cfg, def;
	char err[256];
	int ret;

	mo_config_init(&cfg);
	mo_config_init(&def);
	ret = mo_config_parse(&cfg, text, len, err, sizeof(err));
	if (ret != want_ret || strcmp(err, want_err) != 0)
		fail_msg("got %d '%s', want %d '%s'", ret, err, want_ret, want_err);
	/* All or nothing: nothing from the good lines was applied. */
	assert_config_equal(&cfg, &def);
}

#define PARSE_ERROR(text, ret, msg) parse_error(text, sizeof(text) - 1, ret, msg)

static void test_parse_errors(void **state)
{
	char text[512], want[256];

	PARSE_ERROR("mode = aggressive\n\nfoo = 1\n", -ENOENT, "line 3: unknown key 'foo'");
	PARSE_ERROR("mode = aggressive\n\n# c\n\nmin_allocation_size = x\n", -EINVAL,
		    "line 5: invalid value 'x' for min_allocation_size");
	PARSE_ERROR("a = 1\r\nb = 2\r\n", -ENOENT, "line 1: unknown key 'a'");
	PARSE_ERROR("mode = aggressive\r\nb = 2\r\n", -ENOENT, "line 2: unknown key 'b'");
	PARSE_ERROR("just words\n", -EINVAL, "line 1: expected 'key = value', got 'just words'");
	PARSE_ERROR("mode\n", -EINVAL, "line 1: expected 'key = value', got 'mode'");
	PARSE_ERROR("mode aggressive\n", -EINVAL,
		    "line 1: expected 'key = value', got 'mode aggressive'");
	PARSE_ERROR("= 5\n", -EINVAL, "line 1: missing key before '='");
	PARSE_ERROR("name = \"abc\n", -EINVAL, "line 1: missing closing '\"'");
	PARSE_ERROR("name = \"abc\" def\n", -EINVAL,
		    "line 1: unexpected text after closing '\"'");
	PARSE_ERROR("name =\n", -EINVAL, "line 1: invalid value '' for name");
	PARSE_ERROR("name = \"\"\n", -EINVAL, "line 1: invalid value '' for name");
	PARSE_ERROR("name = # comment\n", -EINVAL, "line 1: invalid value '' for name");
	PARSE_ERROR("sampling_rate = 1 0\n", -EINVAL,
		    "line 1: invalid value '1 0' for sampling_rate");
	PARSE_ERROR("mode = balanced\nname = a\0b\n", -EINVAL, "line 2: NUL byte in text");
	PARSE_ERROR("name = a\x1b[31m\n", -EINVAL,
		    "line 1: invalid value 'a\\x1b[31m' for name");
	PARSE_ERROR("caf\xc3\xa9 = 1\n", -ENOENT, "line 1: unknown key 'caf\\xc3\\xa9'");
	PARSE_ERROR("mode = aggressive\nmode = fast\n", -EINVAL,
		    "line 2: invalid value 'fast' for mode");

	/* Long text is quoted only in part. */
	snprintf(text, sizeof(text), "name = %0100d\n", 0);
	snprintf(want, sizeof(want), "line 1: invalid value '%048d...' for name", 0);
	parse_error(text, strlen(text), -EINVAL, want);
	snprintf(text, sizeof(text), "%0100d = 1\n", 0);
	snprintf(want, sizeof(want), "line 1: unknown key '%048d...'", 0);
	parse_error(text, strlen(text), -ENOENT, want);
	snprintf(text, sizeof(text), "sampling_rate = %0300d\n", 1);
	parse_error(text, strlen(text), -EINVAL, "line 1: value too long for sampling_rate");
	snprintf(text, sizeof(text), "foo = %0300d\n", 1);
	parse_error(text, strlen(text), -ENOENT, "line 1: unknown key 'foo'");
}

static void test_parse_err_buffer(void **state)
{
	static const char text[] = "\n\nfoo = 1\n";
	struct mo_config cfg;
	char err[8];

	mo_config_init(&cfg);
	assert_int_equal(mo_config_parse(&cfg, text, strlen(text), NULL, 0), -ENOENT);
	assert_int_equal(mo_config_parse(&cfg, text, strlen(text), err, 0), -ENOENT);
	assert_int_equal(mo_config_parse(&cfg, text, strlen(text), err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "line 3:");
}

/* Write n bytes of text to a fresh temporary file; returns its path. */
static char *write_temp(const char *text, size_t n)
{
	char *path = strdup("/tmp/test_parse.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, n) == (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return path;
}

static const char *const all_keys[] = {
	"name", "buffer_size", "min_allocation_size", "min_unfreed_age",
	"rss_growth_threshold", "mode", "enable_ebpf", "stack_dedup_window",
	"sampling_rate", "max_allocations", "max_stacks", "max_stack_depth",
	"report_interval", "unwind_rows", "large_allocation_threshold", "k8s_log_dir",
};

static void test_load_example(void **state)
{
	struct mo_config cfg, def;
	char err[256] = "untouched";
	char line[512];
	bool seen[ARRAY_SIZE(all_keys)] = { false };
	FILE *f;

	mo_config_init(&cfg);
	mo_config_init(&def);
	/* Start away from the defaults so the file must set every field. */
	assert_int_equal(mo_config_parse(&cfg, full_text, strlen(full_text), err,
					 sizeof(err)), 0);
	assert_int_equal(mo_config_load(&cfg, EXAMPLE_PATH, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_config_equal(&cfg, &def);

	/* Every key appears, uncommented. */
	f = fopen(EXAMPLE_PATH, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < ARRAY_SIZE(all_keys); i++) {
			size_t n = strlen(all_keys[i]);

			if (strncmp(line, all_keys[i], n) == 0 && strncmp(line + n, " = ", 3) == 0)
				seen[i] = true;
		}
	}
	fclose(f);
	for (size_t i = 0; i < ARRAY_SIZE(all_keys); i++) {
		if (!seen[i])
			fail_msg("%s does not set %s", EXAMPLE_PATH, all_keys[i]);
		/* And mo_config_set knows it. */
		assert_int_not_equal(mo_config_set(&cfg, all_keys[i], "?"), -ENOENT);
	}
}

static void test_load_file(void **state)
{
	static const char text[] = "mode = conservative\nmax_stack_depth = 99\n";
	struct mo_config cfg, def;
	char err[256];
	char *path;

	mo_config_init(&cfg);
	mo_config_init(&def);
	path = write_temp(text, strlen(text));
	assert_int_equal(mo_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: invalid value '99' for max_stack_depth");
	assert_config_equal(&cfg, &def);
	unlink(path);
	free(path);

	path = write_temp(text, strlen("mode = conservative\n"));
	assert_int_equal(mo_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, MO_MODE_CONSERVATIVE);
	unlink(path);
	free(path);

	path = write_temp("", 0);
	assert_int_equal(mo_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, MO_MODE_CONSERVATIVE);
	unlink(path);
	free(path);
}

static void test_load_errors(void **state)
{
	struct mo_config cfg;
	char err[256], want[512];
	char dir[] = "/tmp/test_parse.dir.XXXXXX";

	mo_config_init(&cfg);
	assert_int_equal(mo_config_load(&cfg, "/nonexistent/memobserver.conf", err,
					sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot read '/nonexistent/memobserver.conf': "
			    "No such file or directory");

	assert_non_null(mkdtemp(dir));
	assert_int_equal(mo_config_load(&cfg, dir, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "cannot read '%s': Is a directory", dir);
	assert_string_equal(err, want);
	rmdir(dir);

	assert_int_equal(mo_config_load(NULL, EXAMPLE_PATH, err, sizeof(err)), -EINVAL);
	assert_int_equal(mo_config_load(&cfg, NULL, err, sizeof(err)), -EINVAL);
}

static void test_load_size_limit(void **state)
{
	const size_t limit = 1024 * 1024;
	struct mo_config cfg;
	char err[256], want[512];
	char *text, *path;

	/* Comment lines, then a real setting as the very last bytes. */
	text = malloc(limit + 1);
	assert_non_null(text);
	memset(text, '#', limit + 1);
	for (size_t i = 99; i < limit; i += 100)
		text[i] = '\n';
	memcpy(text + limit - 16, "\nmode = balanced", 16);

	/* Exactly 1 MiB is allowed, and read to its end. */
	mo_config_init(&cfg);
	cfg.mode = MO_MODE_AGGRESSIVE;
	path = write_temp(text, limit);
	assert_int_equal(mo_config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, MO_MODE_BALANCED);
	unlink(path);
	free(path);

	/* One byte more is not, and nothing is applied. */
	cfg.mode = MO_MODE_CONSERVATIVE;
	text[limit] = '\n';
	path = write_temp(text, limit + 1);
	assert_int_equal(mo_config_load(&cfg, path, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "cannot read '%s': larger than 1 MiB", path);
	assert_string_equal(err, want);
	assert_int_equal(cfg.mode, MO_MODE_CONSERVATIVE);
	unlink(path);
	free(path);
	free(text);
}

/* --max-overhead: percent in basis points, at most 100 %. */
static void test_percent(void **state)
{
	struct mo_config c;
	uint64_t v;

	assert_int_equal(mo_parse_percent("2", &v), 0);
	assert_int_equal(v, 200);
	assert_int_equal(mo_parse_percent("0.5", &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(mo_parse_percent("2.25%", &v), 0);
	assert_int_equal(v, 225);
	assert_int_equal(mo_parse_percent("100", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(mo_parse_percent("0.001", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mo_parse_percent("100.01", &v), -ERANGE);
	assert_int_equal(mo_parse_percent("-1", &v), -EINVAL);
	assert_int_equal(mo_parse_percent("5%%", &v), -EINVAL);
	assert_int_equal(mo_parse_percent("%", &v), -EINVAL);
	assert_int_equal(mo_parse_percent("", &v), -EINVAL);
	assert_int_equal(mo_parse_percent("1e3", &v), -EINVAL);
	mo_config_init(&c);
	assert_int_equal(c.max_overhead_bp, 0);
	assert_int_equal(mo_config_set(&c, "max_overhead", "3.5"), 0);
	assert_int_equal(c.max_overhead_bp, 350);
	assert_int_equal(mo_config_set(&c, "max_overhead", "101"), -EINVAL);
	assert_int_equal(c.max_overhead_bp, 350);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_valid),
		cmocka_unit_test(test_size_invalid),
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_set_name),
		cmocka_unit_test(test_set_k8s_log_dir),
		cmocka_unit_test(test_set_values),
		cmocka_unit_test(test_set_bool),
		cmocka_unit_test(test_set_keys),
		cmocka_unit_test(test_bounds_match_resolve),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_err_buffer),
		cmocka_unit_test(test_load_example),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_size_limit),
		cmocka_unit_test(test_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
