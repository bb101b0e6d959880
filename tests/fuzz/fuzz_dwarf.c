// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_dwarf.c - libFuzzer harness: corrupt ELF files through the unwind
 * table builder (.eh_frame/.debug_frame CFI via libdw) and through
 * symbolization (symbols, DWARF lines and inlines, debuglink). The API
 * takes paths, so each input becomes a file on disk:
 *
 *   - an input starting with "\x7fELF" is the whole file;
 *   - any other input is a list of patches to a real program built with
 *     -O2 -g (tests/fuzz/elf_seed.c): records of a 3-byte little-endian
 *     offset (modulo the file size), a length byte (1-16) and that many
 *     bytes, so small inputs reach deep into headers, CFI and DWARF.
 *
 * The file is then mapped (for the symbolizer) at a fixed base in this
 * process's view and a few addresses in it are symbolized. Whatever the
 * bytes, nothing may crash, leak or read out of bounds; the table's rows
 * must be sorted and every frame must come back with the address asked.
 *
 *   make fuzz-replay FUZZERS=dwarf     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=dwarf    random exploration (tests/fuzz/README)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fuzz/elf_seed.h"	/* generated: unsigned char elf_seed[], elf_seed_len */
#include "fuzz.h"
#include "procmaps.h"
#include "symbolize.h"
#include "unwind_table.h"

#define BASE 0x10000000ull

static char path[] = "/tmp/fuzz_dwarf.XXXXXX";
static int fd = -1;
static unsigned char *file;

static void remove_input(void)
{
	if (fd >= 0)
		unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = mkstemp(path);
	file = malloc(elf_seed_len);
	if (fd < 0 || !file) {
		perror("fuzz_dwarf");
		abort();
	}
	atexit(remove_input);
	return 0;
}

/* The bytes to write: the input itself, or the seed program patched. */
static const unsigned char *compose(const uint8_t *data, size_t size, size_t *len)
{
	if (size >= 4 && !memcmp(data, "\x7f" "ELF", 4)) {
		*len = size;
		return data;
	}
	memcpy(file, elf_seed, elf_seed_len);
	while (size >= 5) {
		size_t off = ((size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16) %
			     elf_seed_len;
		size_t n = 1 + data[3] % 16;

		data += 4;
		size -= 4;
		if (n > size)
			n = size;
		if (n > elf_seed_len - off)
			n = elf_seed_len - off;
		memcpy(file + off, data, n);
		data += n;
		size -= n;
	}
	*len = elf_seed_len;
	return file;
}

static void fuzz_unwind(void)
{
	struct mo_unwind_table t;
	int err;

	memset(&t, 0x5a, sizeof(t));
	err = mo_unwind_table_build(path, &t);
	CHECK(err <= 0);
	if (err == 0) {
		CHECK(t.nrows == 0 || t.rows);
		for (size_t i = 1; i < t.nrows; i++)
			CHECK(t.rows[i - 1].pc <= t.rows[i].pc);
		mo_unwind_table_release(&t);
	}
}

static void fuzz_symbolize(size_t len, const uint8_t *data, size_t size)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	struct mo_map *m = calloc(1, sizeof(*m));
	struct mo_maps maps = { .nr = 1, .maps = m };
	uint64_t ips[4];
	struct mo_frame *frames = NULL;
	size_t nframes = 0, span = (len + 4095) & ~(size_t)4095;
	struct stat st;
	int err;

	CHECK(s && m && fstat(fd, &st) == 0);
	/* One executable mapping of the whole file at BASE, as the kernel would
	 * show it; the symbolizer opens the file through /proc/self/root. */
	m->start = BASE;
	m->end = BASE + (span ? span : 4096);
	m->r = m->x = m->p = true;
	m->dev_major = major(st.st_dev);
	m->dev_minor = minor(st.st_dev);
	m->inode = st.st_ino;
	m->path = strdup(path);
	CHECK(m->path);
	CHECK(mo_symbolizer_set_maps(s, getpid(), &maps) == 0);

	ips[0] = BASE + (size >= 2 ? (data[size - 1] | data[size - 2] << 8) : 0) % len;
	ips[1] = BASE + len / 2;	/* somewhere in the code of a real program */
	ips[2] = BASE + 0x1140;		/* near main in a -O2 x86-64 build */
	ips[3] = BASE - 1;		/* outside every map */
	err = mo_symbolize(s, getpid(), ips, 4, &frames, &nframes);
	CHECK(err <= 0);
	if (err == 0) {
		size_t k = 0;

		CHECK(nframes >= 4);
		/* inlined frames come before the frame they were inlined into */
		for (size_t i = 0; i < nframes; i++) {
			if (frames[i].symbol)
				CHECK(strlen(frames[i].symbol) < 1u << 20);
			if (frames[i].file)
				CHECK(strlen(frames[i].file) < 1u << 20);
			if (!frames[i].inlined)
				CHECK(k < 4 && frames[i].address == ips[k++]);
		}
		CHECK(k == 4);
		mo_frames_free(frames, nframes);
	}
	mo_maps_release(&maps);
	mo_symbolizer_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	const unsigned char *bytes = compose(data, size, &len);

	if (len == 0)
		return 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, bytes, len, 0) != (ssize_t)len)
		abort();
	fuzz_unwind();
	fuzz_symbolize(len, data, size);
	return 0;
}
