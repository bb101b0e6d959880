// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_elfsym.c - libFuzzer harness: each input becomes an ELF file on
 * disk (the API takes paths), is searched for functions and a build id,
 * and every function found goes through the probe-site decoder.
 *
 *   make fuzz-replay FUZZERS=elfsym     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=elfsym    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"
#include "probesite.h"

static char path[] = "/tmp/fuzz_elfsym.XXXXXX";
static int fd = -1;

static void remove_input(void)
{
	if (fd >= 0)
		unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	atexit(remove_input);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Names in the seed corpus plus versioned and absent ones. */
	struct mo_elf_func funcs[] = {
		{ .name = "main" }, { .name = "work" }, { .name = "_start" },
		{ .name = "f" }, { .name = "g" }, { .name = "f@V1" },
		{ .name = "old_f" }, { .name = "malloc" }, { .name = "" },
		{ .name = NULL },
	};
	const size_t n = sizeof(funcs) / sizeof(funcs[0]);
	char id[41];
	size_t idlen = size ? 1 + data[0] % sizeof(id) : sizeof(id);
	int found;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	found = mo_elf_find_funcs(path, funcs, n);
	if (found < 0 && found != -ENOEXEC && found != -ENOMEM)
		abort();
	for (size_t i = 0; found > 0 && i < n; i++) {
		struct mo_probe_site site;

		if (!funcs[i].found)
			continue;
		if (funcs[i].code_len > sizeof(funcs[i].code) ||
		    funcs[i].file_offset >= size ||
		    funcs[i].code_len > size - funcs[i].file_offset ||
		    memcmp(funcs[i].code, data + funcs[i].file_offset,
			   funcs[i].code_len))
			abort();
		mo_probe_site_pick(funcs[i].code, funcs[i].code_len, &site);
		if (site.offset >= funcs[i].code_len + !funcs[i].code_len)
			abort();
	}

	/* A random-length output buffer exercises -ENOSPC as well. */
	if (mo_elf_build_id(path, id, idlen) == 0 &&
	    (strnlen(id, idlen) == idlen || strnlen(id, idlen) % 2))
		abort();
	return 0;
}
