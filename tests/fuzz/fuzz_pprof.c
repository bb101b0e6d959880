// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_pprof.c - libFuzzer harness for the pprof reader and the diff that
 * `memobserver diff` runs on what it read. The input is a file as given to
 * the command: gzipped or raw profile.proto, or anything else. It is read
 * from a buffer of exactly its size (ASan sees any read past it). A read
 * that succeeds must give stacks within the frame bound, named frames and
 * sample types; a profile compared with itself grows nowhere and keeps
 * its total; an error must say why.
 *
 *   make fuzz-replay FUZZERS=pprof     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=pprof    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sinks/pprof_diff.h"
#include "sinks/pprof_read.h"

static void check_profile(const struct mo_pprof_data *p)
{
	struct mo_pprof_diff d;
	const char *why;

	CHECK(p->ntypes > 0 && p->types && p->units);
	for (size_t i = 0; i < p->ntypes; i++)
		CHECK(p->types[i] && p->units[i]);
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct mo_pprof_stack *st = &p->stacks[i];

		CHECK(st->command && st->values);
		CHECK(st->nframes <= MO_PPROF_READ_MAX_FRAMES);
		for (size_t f = 0; f < st->nframes; f++)
			CHECK(st->frames[f].name);
	}
	CHECK(mo_pprof_type_index(p, p->types[0]) >= 0);
	CHECK(mo_pprof_diff(p, p, p->types[0], p->ntypes > 1 ? p->types[1] : NULL, &d, &why) == 0);
	CHECK(d.ngrew == 0);
	CHECK(d.total_before == d.total_after);
	CHECK(d.nstacks <= p->nstacks);
	mo_pprof_diff_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	struct mo_pprof_data p;
	const char *why = NULL;
	int err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	err = mo_pprof_read(buf, size, &p, &why);
	if (err == 0)
		check_profile(&p);
	else
		CHECK(err == -ENOMEM || (why && why[0]));
	mo_pprof_data_release(&p);
	free(buf);
	return 0;
}
