// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_config.c - libFuzzer harness for the configuration parser and the
 * size and duration parsers. Besides memory errors it checks the parsers'
 * promises: a failed parse leaves the config untouched and explains itself
 * as "line N: ...", a successful one always passes mo_config_resolve, and
 * the number parsers agree with each other.
 *
 *   make fuzz-replay FUZZERS=config     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=config    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

static int config_equal(const struct mo_config *a, const struct mo_config *b)
{
	return strcmp(a->name, b->name) == 0 && a->buffer_size == b->buffer_size &&
	       a->min_allocation_size == b->min_allocation_size &&
	       a->min_unfreed_age_ns == b->min_unfreed_age_ns &&
	       a->rss_growth_threshold == b->rss_growth_threshold && a->mode == b->mode &&
	       a->enable_ebpf == b->enable_ebpf &&
	       a->stack_dedup_window_ns == b->stack_dedup_window_ns &&
	       a->sampling_rate == b->sampling_rate &&
	       a->max_allocations == b->max_allocations && a->max_stacks == b->max_stacks &&
	       a->max_stack_depth == b->max_stack_depth &&
	       a->report_interval_ns == b->report_interval_ns &&
	       a->unwind_rows == b->unwind_rows;
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	struct mo_config cfg, before;
	char err[256];
	int ret;

	mo_config_init(&cfg);
	before = cfg;
	/* data is passed as is, without a terminator, so reading past len
	 * is caught by ASan. */
	memset(err, 'X', sizeof(err));
	ret = mo_config_parse(&cfg, (const char *)data, size, err, sizeof(err));
	check(memchr(err, '\0', sizeof(err)) != NULL);
	if (ret == 0) {
		check(err[0] == '\0');
		check(mo_config_resolve(&cfg, NULL, NULL) == 0);
	} else {
		check(ret == -EINVAL || ret == -ENOENT);
		check(strncmp(err, "line ", 5) == 0);
		check(config_equal(&cfg, &before));
	}

	/* A tiny error buffer must still be terminated and never overrun. */
	ret = mo_config_parse(&cfg, (const char *)data, size, err, 3);
	check(ret != 0 || err[0] == '\0');
	check(memchr(err, '\0', 3) != NULL);
}

static void fuzz_numbers(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t bytes, ns, n, again;
	int rsize, rdur, ruint;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';

	rsize = mo_parse_size(s, &bytes);
	rdur = mo_parse_duration(s, &ns);
	ruint = mo_parse_uint(s, 0, UINT64_MAX, &n);
	check(rsize == 0 || rsize == -EINVAL || rsize == -ERANGE);
	check(rdur == 0 || rdur == -EINVAL || rdur == -ERANGE);
	check(ruint == 0 || ruint == -EINVAL || ruint == -ERANGE);

	/* A plain integer is the same number of bytes, and of seconds. */
	if (ruint == 0) {
		check(rsize == 0 && bytes == n);
		check(rdur == -ERANGE || (rdur == 0 && ns == n * 1000000000ULL));
	}
	/* Whatever a size or duration is, "<that>ns"/"<that>B" of its exact
	 * integer reads back the same. */
	if (rsize == 0 && size < 64) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%lluB", (unsigned long long)bytes);
		check(mo_parse_size(buf, &again) == 0 && again == bytes);
	}
	if (rdur == 0 && size < 64) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%lluns", (unsigned long long)ns);
		check(mo_parse_duration(buf, &again) == 0 && again == ns);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_text(data, size);
	fuzz_numbers(data, size);
	return 0;
}
