// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_perfmap.c - libFuzzer harness for the perf map parser (perfmap.h):
 * a runtime's JIT map, written by the traced process. The input is the
 * text, followed by the NUL the reader adds. Entries must be sorted,
 * disjoint, sized, non-wrapping, with names inside the text of 1 to
 * MO_PERFMAP_NAME_MAX bytes and no newline (what a JIT message of the
 * parser process may carry, privsep_msg.h); every entry must be found at
 * its start and its last byte.
 *
 *   make build/fuzz/fuzz_perfmap
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "perfmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct mo_perfmap m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mo_perfmap_parse(text, size, &m)) {
		mo_perfmap_release(&m);
		return 0;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct mo_perfmap_entry *e = &m.e[i];

		CHECK(e->size && e->start + e->size > e->start);
		CHECK(i == 0 || m.e[i - 1].start + m.e[i - 1].size <= e->start);
		CHECK(e->name >= m.text && e->name < m.text + size);
		CHECK(strlen(e->name) >= 1 && strlen(e->name) <= MO_PERFMAP_NAME_MAX);
		CHECK(!strchr(e->name, '\n'));
		CHECK(mo_perfmap_find(&m, e->start) != NULL);
		CHECK(mo_perfmap_find(&m, e->start + e->size - 1) != NULL);
	}
	mo_perfmap_release(&m);
	return 0;
}
