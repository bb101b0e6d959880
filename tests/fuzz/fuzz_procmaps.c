// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_procmaps.c - libFuzzer harness for the /proc/PID/maps parser. The
 * input is handed over in a buffer of exactly its size (ASan sees a read
 * past it). A successful parse must give ordered maps with start < end,
 * paths without NUL, with a newline only where the input escaped one as
 * "\012", without a " (deleted)" suffix left on a deleted map, and
 * mo_maps_find must return, for every map's first and last byte, a map
 * that contains it; a failed one must leave the result empty.
 *
 *   make fuzz-replay FUZZERS=procmaps     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=procmaps    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"
#include "fuzz.h"
static void check_found(const struct mo_maps *m, uint64_t addr)
{
	const struct mo_map *f = mo_maps_find(m, addr);

	CHECK(f && f->start <= addr && addr < f->end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct mo_maps m;
	int err;

	CHECK(buf);
	memcpy(buf, data, size);
	memset(&m, 0x5a, sizeof(m));
	err = mo_procmaps_parse(buf, size, &m);
	CHECK(err == 0 || err == -EINVAL || err == -ENOMEM);
	if (err) {
		CHECK(m.nr == 0 && m.maps == NULL);
	} else {
		for (size_t i = 0; i < m.nr; i++) {
			const struct mo_map *x = &m.maps[i];

			CHECK(x->start < x->end);
			CHECK(i == 0 || m.maps[i - 1].start <= x->start);
			CHECK(!x->deleted || x->path);
			if (x->path) {
				size_t n = strlen(x->path);

				CHECK(n > 0 && n < size);
				/* lines end at raw newlines: one in a path can
				 * only come from the kernel's "\012" escape */
				CHECK(!memchr(x->path, '\n', n) || memmem(data, size, "\\012", 4));
			}
		}
		for (size_t i = 0; i < m.nr; i++) {
			check_found(&m, m.maps[i].start);
			check_found(&m, m.maps[i].end - 1);
		}
		/* below every map nothing is found */
		if (m.nr && m.maps[0].start > 0)
			CHECK(mo_maps_find(&m, m.maps[0].start - 1) == NULL);
	}
	mo_maps_release(&m);
	CHECK(m.nr == 0 && m.maps == NULL);
	free(buf);
	return 0;
}
