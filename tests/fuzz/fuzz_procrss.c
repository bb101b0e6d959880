// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_procrss.c - libFuzzer harness for the /proc/PID/status RSS parser.
 * The input is the file text, in a buffer of exactly its size (ASan sees
 * any read past it). A success must have every field a multiple of 1 KiB
 * (the file counts in kB) and no sum that overflowed.
 *
 *   make fuzz-replay FUZZERS=procrss     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=procrss    random exploration (tests/fuzz/README)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procrss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct mo_proc_rss r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (mo_proc_rss_parse(buf, size, &r) == 0) {
		if ((r.anon | r.file | r.shmem | r.swap) & 1023)
			__builtin_trap();
		if (mo_proc_rss_total(&r) < r.anon)
			__builtin_trap();
	}
	free(buf);
	return 0;
}
