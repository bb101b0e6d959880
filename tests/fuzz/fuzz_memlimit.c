// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_memlimit.c - libFuzzer harness for the memory-limit parsers behind
 * mo_memory_limit: a cgroup memory.max / memory.limit_in_bytes value and
 * /proc/meminfo. Input in a buffer of exactly its size. Results are checked
 * against a plain reference: a limit is "max" or digits up to the first
 * newline, and reads back as the same text when printed.
 *
 *   make fuzz-replay FUZZERS=memlimit     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=memlimit    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "fuzz.h"


static void fuzz_limit(const char *buf, size_t size)
{
	uint64_t v = 7, again;
	const char *nl = memchr(buf, '\n', size);
	size_t n = nl ? (size_t)(nl - buf) : size;
	int err = mo_parse_limit(buf, size, &v);

	CHECK(err == 0 || err == -EINVAL);
	if (err) {
		CHECK(v == 7);
		return;
	}
	CHECK(n > 0);
	if (v == UINT64_MAX) {
		/* "max", or a v1 "unlimited" count */
		CHECK((n == 3 && !memcmp(buf, "max", 3)) || (buf[0] >= '0' && buf[0] <= '9'));
	} else {
		char text[32];
		int len = snprintf(text, sizeof(text), "%" PRIu64, v);

		for (size_t i = 0; i < n; i++)
			CHECK(buf[i] >= '0' && buf[i] <= '9');
		/* the same number, leading zeros aside */
		CHECK(mo_parse_limit(text, (size_t)len, &again) == 0 && again == v);
	}
}

static void fuzz_meminfo(const char *buf, size_t size)
{
	uint64_t bytes = 7;
	int err = mo_parse_meminfo_total(buf, size, &bytes);

	CHECK(err == 0 || err == -EINVAL || err == -ENODATA);
	if (err)
		CHECK(bytes == 7);
	else
		CHECK(bytes % 1024 == 0);
	/* no line starts with the key */
	if (err == -ENODATA)
		CHECK(!memmem(buf, size, "\nMemTotal:", 10) &&
		      (size < 9 || memcmp(buf, "MemTotal:", 9)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);

	CHECK(buf);
	memcpy(buf, data, size);
	fuzz_limit(buf, size);
	fuzz_meminfo(buf, size);
	free(buf);
	return 0;
}
