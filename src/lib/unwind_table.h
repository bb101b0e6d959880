/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind_table.h - compile an ELF file's .eh_frame (or .debug_frame) CFI into
 * the compact rows the kernel-side stack walker searches (struct
 * mo_unwind_row in abi.h). x86-64 only.
 *
 * Each row says, for pcs from row.pc up to the next row's pc: where the CFA
 * is (rsp+off or rbp+off) and where the caller's rbp was saved. The return
 * address is always at CFA-8 on x86-64. Rows are sorted by pc, relative to
 * the module's lowest PT_LOAD vaddr. Gaps without CFI get a MO_CFA_NONE row,
 * where the walker falls back to the frame-pointer guess and marks the stack
 * (code a file's CFI leaves out: V8's embedded builtins, hand-written
 * assembly); the outermost frame gets a MO_CFA_END row, where it stops.
 */
#ifndef MO_UNWIND_TABLE_H
#define MO_UNWIND_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../abi.h"

struct mo_unwind_table {
	struct mo_unwind_row *rows;
	size_t nrows;
	uint64_t vaddr_min;	/* lowest PT_LOAD p_vaddr (page-aligned down) */
	int64_t off_to_vaddr;	/* p_vaddr - p_offset of the executable PT_LOAD */
	size_t unsupported;	/* rows whose CFA rule could not be expressed */
};

/* Build the table for the ELF file at path (opened with mo_safe_open). 0 or
 * -errno (-ENOENT, -ENOEXEC for a file that is not x86-64 ELF, -ENODATA
 * when it has no CFI at all). */
int mo_unwind_table_build(const char *path, struct mo_unwind_table *out);

/* The same from an open regular file (read with pread, never mapped; fd is
 * not closed). */
int mo_unwind_table_build_fd(int fd, struct mo_unwind_table *out);

void mo_unwind_table_release(struct mo_unwind_table *t);

#endif
