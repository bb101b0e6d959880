/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind_walk.h - the reference stack walker: applies unwind rows exactly as
 * the kernel-side walker does, so it is both a test oracle for the tables
 * and the specification of the BPF code.
 *
 * One step, for a frame (pc, sp, bp) in module m:
 *   rel = pc - m.bias for the first frame, pc - 1 - m.bias after it (a
 *         return address points past the call, possibly past the function)
 *   row = the row with the greatest row.pc <= rel
 *   CFA = (cfa == MO_CFA_RBP ? bp : sp) + cfa_off     (MO_CFA_PLT: sp + cfa_off)
 *   ra  = *(CFA - 8)
 *   bp' = rbp_off8 ? *(CFA + 8 * rbp_off8) : bp
 *   sp' = CFA
 * A module with no rows is stepped by the frame-pointer guess
 *   ra = *(bp + 8), bp' = *bp, sp' = bp + 16      (MO_STACK_FP_FALLBACK).
 * The walk ends without a flag at a zero return address; it stops with
 * MO_STACK_UNWIND_STOP at a pc outside every module, before the first row,
 * on a MO_CFA_NONE row, on a failed read or when sp' <= sp; it sets
 * MO_STACK_TRUNCATED when MO_MAX_FRAMES frames are stored.
 */
#ifndef MO_UNWIND_WALK_H
#define MO_UNWIND_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../abi.h"
#include "unwind_table.h"

/* One executable mapping and the rows of its file. */
struct mo_unwind_module {
	uint64_t start;		/* mapping [start, end) */
	uint64_t end;
	uint64_t bias;		/* row pc = ip - bias */
	const struct mo_unwind_row *rows;	/* NULL or nrows 0: no rows */
	size_t nrows;
};

struct mo_unwind_regs {
	uint64_t pc;
	uint64_t sp;
	uint64_t bp;
};

/* Read the 8 bytes at addr of the walked address space: 0 or -errno. */
typedef int (*mo_unwind_read_fn)(uint64_t addr, uint64_t *val, void *ctx);

/* The bias of a mapping of t's file that starts at map_start with file
 * offset map_pgoff (both as /proc/PID/maps shows them). */
uint64_t mo_unwind_bias(const struct mo_unwind_table *t, uint64_t map_start,
			uint64_t map_pgoff);

/* The row covering rel (greatest row.pc <= rel), or NULL if rel precedes
 * every row. */
const struct mo_unwind_row *mo_unwind_find_row(const struct mo_unwind_row *rows,
					       size_t nrows, uint32_t rel);

/* Walk from regs. out->ips[0] = regs->pc, then one return address per frame.
 * 0, or -EINVAL for missing arguments. */
int mo_unwind_walk(const struct mo_unwind_module *mods, size_t nmods,
		   const struct mo_unwind_regs *regs, mo_unwind_read_fn read,
		   void *ctx, struct mo_stack *out);

#endif
