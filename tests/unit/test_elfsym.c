// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_elfsym.c - function lookup and build ids: a synthetic ELF whose
 * text segment's file offset differs from its address (no system binary
 * has one), versioned and local duplicates, symbols that must not count,
 * truncation; then glibc checked against nm and readelf run at test time,
 * so the test follows glibc updates; then the error codes.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "elfsym.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

/* Synthetic file layout. */
#define TEXT_OFF 0x1000
#define TEXT_ADDR 0x401000
#define TEXT_SIZE 0x100
#define TEXT_MEMSZ 0x200
#define NOTE_OFF 0xc0
#define SYMTAB_OFF 0x100
#define STRTAB_OFF 0x280
#define SHSTRTAB_OFF 0x380
#define SHDR_OFF 0x400
#define FILE_SIZE (TEXT_OFF + TEXT_SIZE)

struct test_sym {
	const char *name;
	unsigned char bind, type;
	uint16_t shndx;
	uint64_t value, size;
};

static const struct test_sym syms[] = {
	{ "delta", STB_LOCAL, STT_FUNC, 1, 0x401030, 8 },
	{ "alpha", STB_GLOBAL, STT_FUNC, 1, 0x401000, 4 },
	{ "beta@VERS_1", STB_GLOBAL, STT_FUNC, 1, 0x401020, 0x10 },
	{ "beta@@VERS_2", STB_GLOBAL, STT_FUNC, 1, 0x401010, 0 },
	{ "gamma", STB_GLOBAL, STT_FUNC, 1, 0x4010f8, 0 },
	{ "delta", STB_GLOBAL, STT_FUNC, 1, 0x401040, 8 },
	{ "obj", STB_GLOBAL, STT_OBJECT, 1, 0x401060, 8 },
	{ "undef", STB_GLOBAL, STT_FUNC, SHN_UNDEF, 0, 0 },
	{ "bss_fn", STB_GLOBAL, STT_FUNC, 1, 0x401180, 8 },
	{ "outside", STB_GLOBAL, STT_FUNC, 1, 0x900000, 8 },
	{ "ifn", STB_GLOBAL, STT_GNU_IFUNC, 1, 0x401050, 6 },
	{ "eps@VERS_1", STB_GLOBAL, STT_FUNC, 1, 0x401070, 0 },
};
#define NSYMS (sizeof(syms) / sizeof(syms[0]) + 1)

static uint32_t add_str(char *tab, size_t *len, const char *s)
{
	uint32_t off = (uint32_t)*len;

	strcpy(tab + *len, s);
	*len += strlen(s) + 1;
	return off;
}

/*
 * Write the synthetic ELF (truncated to size bytes) and return its path.
 * Text byte at file offset TEXT_OFF + i is i, so code[] is predictable.
 */
static char *write_synthetic(int with_note, size_t size)
{
	static uint8_t img[FILE_SIZE];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	Elf64_Nhdr *nh = (Elf64_Nhdr *)(img + NOTE_OFF);
	Elf64_Sym *st = (Elf64_Sym *)(img + SYMTAB_OFF);
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + SHDR_OFF);
	char *strtab = (char *)img + STRTAB_OFF;
	char *shstr = (char *)img + SHSTRTAB_OFF;
	size_t strlen_ = 1, shlen = 1;
	char *path = strdup("/tmp/test_elfsym.XXXXXX");
	int fd;

	memset(img, 0, sizeof(img));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = SHDR_OFF;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 6;
	eh->e_shstrndx = 5;

	ph[0].p_type = PT_LOAD;
	ph[0].p_flags = PF_R | PF_X;
	ph[0].p_offset = TEXT_OFF;
	ph[0].p_vaddr = ph[0].p_paddr = TEXT_ADDR;
	ph[0].p_filesz = TEXT_SIZE;
	ph[0].p_memsz = TEXT_MEMSZ;
	ph[0].p_align = 0x1000;
	ph[1].p_type = with_note ? PT_NOTE : PT_NULL;
	ph[1].p_offset = NOTE_OFF;
	ph[1].p_filesz = ph[1].p_memsz = sizeof(*nh) + 4 + 20;
	ph[1].p_align = 4;

	nh->n_namesz = 4;
	nh->n_descsz = 20;
	nh->n_type = NT_GNU_BUILD_ID;
	memcpy(nh + 1, "GNU", 4);
	for (int i = 0; i < 20; i++)
		((uint8_t *)(nh + 1))[4 + i] = (uint8_t)(i * 0x11);	/* wraps past 15 */

	for (size_t i = 1; i < NSYMS; i++) {
		const struct test_sym *s = &syms[i - 1];

		st[i].st_name = add_str(strtab, &strlen_, s->name);
		st[i].st_info = ELF64_ST_INFO(s->bind, s->type);
		st[i].st_shndx = s->shndx;
		st[i].st_value = s->value;
		st[i].st_size = s->size;
	}
	for (int i = 0; i < TEXT_SIZE; i++)
		img[TEXT_OFF + i] = (uint8_t)i;

	sh[1].sh_name = add_str(shstr, &shlen, ".text");
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_flags = SHF_ALLOC | SHF_EXECINSTR;
	sh[1].sh_addr = TEXT_ADDR;
	sh[1].sh_offset = TEXT_OFF;
	sh[1].sh_size = TEXT_SIZE;
	sh[1].sh_addralign = 16;
	sh[2].sh_name = add_str(shstr, &shlen, ".note.gnu.build-id");
	sh[2].sh_type = with_note ? SHT_NOTE : SHT_PROGBITS;
	sh[2].sh_flags = SHF_ALLOC;
	sh[2].sh_offset = NOTE_OFF;
	sh[2].sh_size = ph[1].p_filesz;
	sh[2].sh_addralign = 4;
	sh[3].sh_name = add_str(shstr, &shlen, ".symtab");
	sh[3].sh_type = SHT_SYMTAB;
	sh[3].sh_offset = SYMTAB_OFF;
	sh[3].sh_size = NSYMS * sizeof(*st);
	sh[3].sh_link = 4;
	sh[3].sh_info = 2;	/* first global */
	sh[3].sh_entsize = sizeof(*st);
	sh[3].sh_addralign = 8;
	sh[4].sh_name = add_str(shstr, &shlen, ".strtab");
	sh[5].sh_name = add_str(shstr, &shlen, ".shstrtab");
	sh[4].sh_type = SHT_STRTAB;
	sh[4].sh_offset = STRTAB_OFF;
	sh[4].sh_size = strlen_;
	sh[4].sh_addralign = 1;
	sh[5].sh_type = SHT_STRTAB;
	sh[5].sh_offset = SHSTRTAB_OFF;
	sh[5].sh_size = shlen;
	sh[5].sh_addralign = 1;
	assert_true(SYMTAB_OFF + NSYMS * sizeof(*st) <= STRTAB_OFF);
	assert_true(STRTAB_OFF + strlen_ <= SHSTRTAB_OFF);
	assert_true(SHSTRTAB_OFF + shlen <= SHDR_OFF);

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, size), (ssize_t)size);
	close(fd);
	return path;
}

static void remove_file(char *path)
{
	unlink(path);
	free(path);
}

static void assert_text_code(const struct mo_elf_func *f, size_t len)
{
	assert_int_equal(f->code_len, len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(f->code[i], (f->file_offset - TEXT_OFF + i) & 0xff);
}

static void test_synthetic_offsets(void **state)
{
	char *path = write_synthetic(1, FILE_SIZE);
	struct mo_elf_func f[] = {
		{ .name = "alpha" }, { .name = "beta" }, { .name = "gamma" },
		{ .name = "delta" }, { .name = "ifn" }, { .name = "eps" },
		{ .name = "beta@VERS_1" },
	};

	assert_int_equal(mo_elf_find_funcs(path, f, 7), 7);

	/* Offset = st_value - p_vaddr + p_offset; code bounded by st_size. */
	assert_int_equal(f[0].found, 1);
	assert_int_equal(f[0].vaddr, 0x401000);
	assert_int_equal(f[0].file_offset, 0x1000);
	assert_int_equal(f[0].size, 4);
	assert_text_code(&f[0], 4);

	/* "@@" beats the "@" listed before it; size 0 reads a full code[]. */
	assert_int_equal(f[1].vaddr, 0x401010);
	assert_int_equal(f[1].file_offset, 0x1010);
	assert_int_equal(f[1].size, 0);
	assert_text_code(&f[1], sizeof(f[1].code));

	/* Eight file bytes remain in the segment after gamma. */
	assert_int_equal(f[2].file_offset, 0x10f8);
	assert_text_code(&f[2], 8);

	/* The global beats the local listed before it. */
	assert_int_equal(f[3].vaddr, 0x401040);
	assert_int_equal(f[3].file_offset, 0x1040);
	assert_text_code(&f[3], 8);

	/* An IFUNC resolves to its resolver. */
	assert_int_equal(f[4].vaddr, 0x401050);
	assert_text_code(&f[4], 6);

	/* Only a non-default version exists: it is still found. */
	assert_int_equal(f[5].vaddr, 0x401070);

	/* An exact versioned request picks that version. */
	assert_int_equal(f[6].vaddr, 0x401020);
	assert_int_equal(f[6].file_offset, 0x1020);
	assert_text_code(&f[6], 16);
	remove_file(path);
}

static void test_synthetic_not_found(void **state)
{
	char *path = write_synthetic(1, FILE_SIZE);
	struct mo_elf_func f[] = {
		{ .name = "obj" },	/* not a function */
		{ .name = "undef" },	/* not defined here */
		{ .name = "bss_fn" },	/* in p_memsz but not p_filesz */
		{ .name = "outside" },	/* in no PT_LOAD */
		{ .name = "missing" },
		{ .name = "alph" },	/* prefixes do not match */
		{ .name = NULL },
		{ .name = "alpha", .vaddr = 7, .found = 1 },
	};

	f[0].vaddr = 99;
	f[0].found = 1;
	assert_int_equal(mo_elf_find_funcs(path, f, 8), 1);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(f[i].found, 0);
		assert_int_equal(f[i].vaddr, 0);
		assert_int_equal(f[i].file_offset, 0);
		assert_int_equal(f[i].code_len, 0);
	}
	assert_int_equal(f[7].found, 1);
	assert_int_equal(f[7].vaddr, 0x401000);

	assert_int_equal(mo_elf_find_funcs(path, NULL, 0), 0);
	remove_file(path);
}

static void test_synthetic_truncated(void **state)
{
	/* The file ends 8 bytes into the text: alpha fits, beta is gone. */
	char *path = write_synthetic(1, TEXT_OFF + 8);
	struct mo_elf_func f[] = { { .name = "alpha" }, { .name = "beta" } };
	char id[64];

	assert_int_equal(mo_elf_find_funcs(path, f, 2), 1);
	assert_int_equal(f[0].file_offset, 0x1000);
	assert_text_code(&f[0], 4);
	assert_int_equal(f[1].found, 0);
	remove_file(path);

	/*
	 * Cut inside the symbol table: the section headers are gone with the
	 * tail, so the file is still ELF but has no symbols; the build id in
	 * the program headers survives.
	 */
	path = write_synthetic(1, SYMTAB_OFF + 30);
	assert_int_equal(mo_elf_find_funcs(path, f, 2), 0);
	assert_int_equal(f[0].found, 0);
	assert_int_equal(mo_elf_build_id(path, id, sizeof(id)), 0);
	assert_string_equal(id, "00112233445566778899aabbccddeeff10213243");
	remove_file(path);
}

static void test_synthetic_build_id(void **state)
{
	char *path = write_synthetic(1, FILE_SIZE);
	char id[64];

	assert_int_equal(mo_elf_build_id(path, id, sizeof(id)), 0);
	assert_string_equal(id, "00112233445566778899aabbccddeeff10213243");
	assert_int_equal(mo_elf_build_id(path, id, 41), 0);
	assert_int_equal(strlen(id), 40);
	assert_int_equal(mo_elf_build_id(path, id, 40), -ENOSPC);
	assert_int_equal(mo_elf_build_id(path, NULL, 41), -EINVAL);
	remove_file(path);

	path = write_synthetic(0, FILE_SIZE);
	assert_int_equal(mo_elf_build_id(path, id, sizeof(id)), -ENODATA);
	assert_string_equal(id, "");
	remove_file(path);
}

/* Defined symbol from `nm -D -S`: the default version, or the only one. */
static int nm_lookup(const char *want, uint64_t *addr, uint64_t *size)
{
	char line[512], name[256], type;
	size_t len = strlen(want);
	int found = 0;
	FILE *p = popen("nm -D -S --defined-only " LIBC " 2>/dev/null", "r");

	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		uint64_t a, s;

		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %c %255s", &a, &s,
			   &type, name) != 4)
			continue;
		if (strncmp(name, want, len) ||
		    (name[len] && strncmp(name + len, "@@", 2)))
			continue;
		*addr = a;
		*size = s;
		found = 1;
	}
	pclose(p);
	return found;
}

/* File offset of addr by `readelf -lW`'s PT_LOAD lines. */
static uint64_t readelf_offset(uint64_t addr)
{
	char line[512];
	uint64_t result = UINT64_MAX;
	FILE *p = popen("readelf -lW " LIBC " 2>/dev/null", "r");

	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		uint64_t off, vaddr, paddr, filesz;

		if (sscanf(line, " LOAD 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64
			   " 0x%" SCNx64, &off, &vaddr, &paddr, &filesz) != 4)
			continue;
		if (addr >= vaddr && addr - vaddr < filesz)
			result = addr - vaddr + off;
	}
	pclose(p);
	return result;
}

static void test_libc_against_nm(void **state)
{
	/* memcpy and pthread_cond_wait have an older, hidden version too. */
	const char *names[] = { "malloc", "free", "calloc", "memcpy",
				"pthread_cond_wait" };
	struct mo_elf_func f[5];
	FILE *lib = fopen(LIBC, "rb");

	assert_non_null(lib);
	memset(f, 0, sizeof(f));
	for (int i = 0; i < 5; i++)
		f[i].name = names[i];
	assert_int_equal(mo_elf_find_funcs(LIBC, f, 5), 5);

	for (int i = 0; i < 5; i++) {
		uint64_t addr = 0, size = 0;
		uint8_t raw[sizeof(f[0].code)];
		size_t want;

		assert_true(nm_lookup(names[i], &addr, &size));
		assert_int_equal(f[i].found, 1);
		assert_int_equal(f[i].vaddr, addr);
		assert_int_equal(f[i].size, size);
		assert_int_equal(f[i].file_offset, readelf_offset(addr));

		want = size && size < sizeof(raw) ? size : sizeof(raw);
		assert_int_equal(f[i].code_len, want);
		assert_int_equal(fseeko(lib, (off_t)f[i].file_offset, SEEK_SET), 0);
		assert_int_equal(fread(raw, 1, want, lib), want);
		assert_memory_equal(f[i].code, raw, want);
	}
	fclose(lib);
}

static void test_libc_build_id(void **state)
{
	char line[512], expect[128] = "", id[128];
	FILE *p = popen("readelf -n " LIBC " 2>/dev/null", "r");

	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, " Build ID: %127s", expect) == 1)
			break;
	pclose(p);
	assert_true(strlen(expect) == 40);

	assert_int_equal(mo_elf_build_id(LIBC, id, sizeof(id)), 0);
	assert_string_equal(id, expect);
}

static void test_errors(void **state)
{
	struct mo_elf_func f = { .name = "malloc" };
	char id[64];

	assert_int_equal(mo_elf_find_funcs("/nonexistent/libc.so", &f, 1), -ENOENT);
	assert_int_equal(mo_elf_build_id("/nonexistent/libc.so", id, sizeof(id)),
			 -ENOENT);
	assert_int_equal(mo_elf_find_funcs("/etc/hostname", &f, 1), -ENOEXEC);
	assert_int_equal(mo_elf_build_id("/etc/hostname", id, sizeof(id)),
			 -ENOEXEC);
	assert_int_equal(mo_elf_find_funcs("/tmp", &f, 1), -ENOEXEC);
	assert_int_equal(mo_elf_find_funcs(NULL, &f, 1), -EINVAL);
	assert_int_equal(mo_elf_find_funcs(LIBC, NULL, 1), -EINVAL);
	assert_int_equal(f.found, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_offsets),
		cmocka_unit_test(test_synthetic_not_found),
		cmocka_unit_test(test_synthetic_truncated),
		cmocka_unit_test(test_synthetic_build_id),
		cmocka_unit_test(test_libc_against_nm),
		cmocka_unit_test(test_libc_build_id),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
