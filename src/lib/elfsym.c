// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elfsym.c - function lookup and build ids through libelf. Every read goes
 * through libelf's bounds-checked accessors or a pread clamped to the file
 * size, because the files come from arbitrary processes' mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "safefile.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

/* .gnu.version entries with this bit are non-default ("sym@VER") versions. */
#define VERSYM_HIDDEN 0x8000

/*
 * Candidate ranks, lower is better: the default or only version of a
 * global symbol, then a non-default version, each +2 when local.
 */
#define RANK_NONE INT_MAX

struct elf_file {
	int fd;
	bool own_fd;
	Elf *elf;
	uint64_t size;
	size_t phnum;
};

static void elf_file_close(struct elf_file *f)
{
	if (!f)
		return;
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0 && f->own_fd)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

/* fd: a descriptor from mo_safe_open (a regular file); closed by
 * elf_file_close when own_fd. */
static int elf_file_begin(struct elf_file *f, int fd, bool own_fd)
{
	struct stat st;
	GElf_Ehdr ehdr;
	int err;

	f->fd = fd;
	f->own_fd = own_fd;
	f->elf = NULL;
	f->phnum = 0;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -ENOEXEC;
		goto fail;
	}
	f->size = (uint64_t)st.st_size;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		err = -ENOTSUP;
		goto fail;
	}
	/* ELF_C_READ, not MMAP: a file truncated under us must not SIGBUS. */
	f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF ||
	    !gelf_getehdr(f->elf, &ehdr)) {
		err = -ENOEXEC;
		goto fail;
	}
	if (elf_getphdrnum(f->elf, &f->phnum) < 0)
		f->phnum = 0;
	return 0;
fail:
	elf_file_close(f);
	return err;
}

static int elf_file_open(struct elf_file *f, const char *path)
{
	int fd;

	f->fd = -1;
	f->elf = NULL;
	if (!path)
		return -EINVAL;
	fd = mo_safe_open(path, NULL, 0, NULL);
	if (fd < 0)
		return fd == -ENXIO ? -ENOEXEC : fd;
	return elf_file_begin(f, fd, true);
}

/*
 * File offset of vaddr through the PT_LOAD that maps it from the file, and
 * how many file bytes of that segment follow it. Addresses only in a
 * segment's zero-filled tail, or past the end of a truncated file, have no
 * code to probe.
 */
static int vaddr_to_offset(const struct elf_file *f, uint64_t vaddr,
			   uint64_t *offset, uint64_t *avail)
{
	for (size_t i = 0; i < f->phnum; i++) {
		GElf_Phdr ph;
		uint64_t delta;

		if (!gelf_getphdr(f->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= ph.p_filesz)
			continue;
		delta = vaddr - ph.p_vaddr;
		if (ph.p_offset >= f->size || delta >= f->size - ph.p_offset)
			continue;
		*offset = ph.p_offset + delta;
		*avail = ph.p_filesz - delta;
		if (*avail > f->size - *offset)
			*avail = f->size - *offset;
		return 0;
	}
	return -ENOENT;
}

/*
 * Version rank of a symbol name against a wanted name: 0 for an exact or
 * default-version ("name@@VER") match, 1 for a non-default one
 * ("name@VER"), -1 for no match. .symtab spells versions into the name;
 * .dynsym keeps them in .gnu.version, handled by the caller.
 */
static int name_rank(const char *sym, const char *want)
{
	size_t len = strlen(want);

	if (strncmp(sym, want, len) != 0)
		return -1;
	if (sym[len] == '\0')
		return 0;
	if (sym[len] != '@' || strchr(want, '@'))
		return -1;
	return sym[len + 1] == '@' ? 0 : 1;
}

static void scan_symbols(const struct elf_file *f, Elf_Scn *scn,
			 Elf_Data *versym, struct mo_elf_func *funcs,
			 size_t n, int *ranks)
{
	GElf_Shdr shdr;
	Elf_Data *data;
	GElf_Sym sym;

	if (!gelf_getshdr(scn, &shdr))
		return;
	data = elf_getdata(scn, NULL);
	if (!data)
		return;

	for (int i = 0; gelf_getsym(data, i, &sym); i++) {
		int type = GELF_ST_TYPE(sym.st_info);
		const char *name;

		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(f->elf, shdr.sh_link, sym.st_name);
		if (!name || !*name)
			continue;

		for (size_t j = 0; j < n; j++) {
			uint64_t offset, avail;
			GElf_Versym vs;
			int rank;

			/* most symbols differ at once: skip name_rank's strlen */
			if (!funcs[j].name || (funcs[j].name[0] && funcs[j].name[0] != name[0]))
				continue;
			rank = name_rank(name, funcs[j].name);
			if (rank < 0)
				continue;
			if (versym && gelf_getversym(versym, i, &vs) &&
			    (vs & VERSYM_HIDDEN))
				rank = 1;
			if (GELF_ST_BIND(sym.st_info) == STB_LOCAL)
				rank += 2;
			/* Ties keep the first: .dynsym is scanned first. */
			if (rank >= ranks[j])
				continue;
			if (vaddr_to_offset(f, sym.st_value, &offset, &avail))
				continue;
			ranks[j] = rank;
			funcs[j].vaddr = sym.st_value;
			funcs[j].file_offset = offset;
			funcs[j].size = sym.st_size;
			/* code_len holds the readable bytes until read_code. */
			funcs[j].code_len = avail < sizeof(funcs[j].code) ?
					    (size_t)avail : sizeof(funcs[j].code);
			funcs[j].found = 1;
		}
	}
}

/* The .gnu.version table that parallels the given .dynsym, if any. */
static Elf_Data *find_versym(Elf *elf, size_t dynsym_ndx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;

		if (gelf_getshdr(scn, &shdr) && shdr.sh_type == SHT_GNU_versym &&
		    shdr.sh_link == dynsym_ndx)
			return elf_getdata(scn, NULL);
	}
	return NULL;
}

static int read_code(const struct elf_file *f, struct mo_elf_func *func)
{
	size_t want = func->code_len, got = 0;

	if (func->size && func->size < want)
		want = (size_t)func->size;
	while (got < want) {
		ssize_t r = pread(f->fd, func->code + got, want - got,
				  (off_t)(func->file_offset + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	func->code_len = got;
	return 0;
}

static int find_funcs(struct elf_file *fp, struct mo_elf_func *funcs, size_t n);

static void clear_funcs(struct mo_elf_func *funcs, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		funcs[j].vaddr = 0;
		funcs[j].file_offset = 0;
		funcs[j].size = 0;
		funcs[j].code_len = 0;
		funcs[j].found = 0;
	}
}

int mo_elf_find_funcs(const char *path, struct mo_elf_func *funcs, size_t n)
{
	struct elf_file f;
	int err;

	if (n && !funcs)
		return -EINVAL;
	clear_funcs(funcs, n);
	err = elf_file_open(&f, path);
	return err ? err : find_funcs(&f, funcs, n);
}

int mo_elf_find_funcs_fd(int fd, struct mo_elf_func *funcs, size_t n)
{
	struct elf_file f;
	int err;

	if ((n && !funcs) || fd < 0)
		return -EINVAL;
	clear_funcs(funcs, n);
	err = elf_file_begin(&f, fd, false);
	return err ? err : find_funcs(&f, funcs, n);
}

/* Takes f over (closes it). */
static int find_funcs(struct elf_file *fp, struct mo_elf_func *funcs, size_t n)
{
	static const GElf_Word tables[] = { SHT_DYNSYM, SHT_SYMTAB };
	struct elf_file f = *fp;
	int *ranks = NULL;
	int err = 0, found = 0;

	if (!n)
		goto out;
	ranks = malloc(n * sizeof(*ranks));
	if (!ranks) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		ranks[j] = RANK_NONE;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(f.elf, scn))) {
			GElf_Shdr shdr;
			Elf_Data *versym = NULL;

			if (!gelf_getshdr(scn, &shdr) ||
			    shdr.sh_type != tables[t])
				continue;
			if (shdr.sh_type == SHT_DYNSYM)
				versym = find_versym(f.elf, elf_ndxscn(scn));
			scan_symbols(&f, scn, versym, funcs, n, ranks);
		}
	}

	for (size_t j = 0; j < n; j++) {
		if (!funcs[j].found)
			continue;
		err = read_code(&f, &funcs[j]);
		if (err)
			goto out;
		found++;
	}
out:
	free(ranks);
	elf_file_close(&f);
	return err ? err : found;
}

static int to_hex(const uint8_t *id, size_t len, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";

	if (len > (outlen - 1) / 2)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 0xf];
	}
	out[2 * len] = '\0';
	return 0;
}

/* Search one note area; gelf_getnote bounds name and desc by d_size. */
static int note_build_id(Elf_Data *data, char *out, size_t outlen)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!data || !data->d_buf)
		return -ENODATA;
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off))) {
		const uint8_t *buf = data->d_buf;

		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp(buf + name_off, "GNU", 4) && nh.n_descsz)
			return to_hex(buf + desc_off, nh.n_descsz, out, outlen);
		off = next;
	}
	return -ENODATA;
}

static int build_id(struct elf_file *fp, char *out, size_t outlen);

int mo_elf_build_id(const char *path, char *out, size_t outlen)
{
	struct elf_file f;
	int err;

	if (!out || !outlen)
		return -EINVAL;
	out[0] = '\0';
	err = elf_file_open(&f, path);
	return err ? err : build_id(&f, out, outlen);
}

int mo_elf_build_id_fd(int fd, char *out, size_t outlen)
{
	struct elf_file f;
	int err;

	if (!out || !outlen || fd < 0)
		return -EINVAL;
	out[0] = '\0';
	err = elf_file_begin(&f, fd, false);
	return err ? err : build_id(&f, out, outlen);
}

/* Takes f over (closes it). */
static int build_id(struct elf_file *fp, char *out, size_t outlen)
{
	struct elf_file f = *fp;
	Elf_Scn *scn = NULL;
	int err;

	/* Program headers first: they survive section-header stripping. */
	err = -ENODATA;
	for (size_t i = 0; i < f.phnum && err == -ENODATA; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(f.elf, (int)i, &ph) || ph.p_type != PT_NOTE ||
		    !ph.p_filesz)
			continue;
		data = elf_getdata_rawchunk(f.elf, (int64_t)ph.p_offset,
					    ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 :
							      ELF_T_NHDR);
		err = note_build_id(data, out, outlen);
	}
	while (err == -ENODATA && (scn = elf_nextscn(f.elf, scn))) {
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		err = note_build_id(elf_getdata(scn, NULL), out, outlen);
	}
	elf_file_close(&f);
	return err;
}
