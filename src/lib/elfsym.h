/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * elfsym.h - find functions in an ELF file for attaching uprobes: the
 * symbol's file offset (what uprobes take) and its first code bytes. Looks
 * in .dynsym then .symtab; versioned names ("malloc@@GLIBC_2.2.5") match
 * their base name; aliases at the same address are reported once each.
 *
 * When a name has several definitions the default version wins (.dynsym's
 * .gnu.version without the hidden bit, or "@@"/unversioned in .symtab),
 * then global over local, then .dynsym over .symtab. A symbol counts only
 * if it is STT_FUNC or STT_GNU_IFUNC, defined, and inside the file part of
 * a PT_LOAD. For an IFUNC the result is the resolver, which runs once at
 * relocation time: probing it does not see calls to the implementation.
 */
#ifndef MO_ELFSYM_H
#define MO_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct mo_elf_func {
	const char *name;	/* in: symbol to find (NULL: none, skipped) */
	uint64_t vaddr;		/* out: st_value, 0 if not found */
	uint64_t file_offset;	/* out: offset in the file */
	uint64_t size;		/* out: st_size */
	uint8_t code[64];	/* out: first bytes (fewer if the function is shorter) */
	size_t code_len;
	int found;
};

/* Resolve each funcs[i].name in the file (opened with mo_safe_open).
 * Returns the number found (>= 0) or -errno (-ENOENT, -ENOEXEC not an ELF
 * file or not a regular file). */
int mo_elf_find_funcs(const char *path, struct mo_elf_func *funcs, size_t n);

/* The same through an open descriptor (not closed; read with pread only,
 * so its file position does not matter). */
int mo_elf_find_funcs_fd(int fd, struct mo_elf_func *funcs, size_t n);

/* Build id of the file (opened with mo_safe_open) as lowercase hex into out (at least 41 bytes);
 * 0, -ENODATA when it has none, -ENOSPC when out is too small for it. */
int mo_elf_build_id(const char *path, char *out, size_t outlen);
/* The same through an open descriptor (not closed; read with pread only). */
int mo_elf_build_id_fd(int fd, char *out, size_t outlen);

#endif
