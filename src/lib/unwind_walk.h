/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind_walk.h - the reference stack walker: applies unwind rows exactly as
 * the kernel-side walker does, so it is both a test oracle for the tables
 * and the specification of the BPF code.
 *
 * One step, for a frame (pc, sp, bp):
 *   at  = pc - 1 if pc is a return address (every caller frame, and the
 *         first frame when regs->pc_is_return), else pc; a return address
 *         may point past the last instruction of its function or mapping
 *   m   = the module whose [start, end) holds at
 *   row = m's row with the greatest row.pc <= at - m.bias
 *   CFA = (cfa == MO_CFA_RBP ? bp : sp) + cfa_off     (MO_CFA_PLT: sp + cfa_off)
 *         and sp < CFA <= sp + MO_UNWIND_FRAME_SPAN
 *   ra  = *(CFA - 8)
 *   bp' = rbp_off8 ? *(CFA + 8 * rbp_off8) : bp
 *   sp' = CFA
 * Code without a row to step by (a module without rows, a pc before its
 * first row, a MO_CFA_NONE row: a gap between FDEs or a rule rows cannot
 * express) is stepped by the frame-pointer guess, sets
 * MO_STACK_FP_FALLBACK and needs sp <= bp <= sp + MO_UNWIND_FRAME_SPAN, bp
 * 8-aligned:  ra = *(bp + 8), bp' = *bp, sp' = bp + 16; and the guessed ra
 * must follow a call instruction (the 8 bytes at ra - 8 end with one,
 * src/bpf/call_insn.h), else MO_STACK_UNWIND_STOP. A module whose rows are
 * pending (not compiled yet) is not guessed through: MO_STACK_UNWIND_STOP.
 * A return address whose at (ra - 1) is in no module is not stored:
 * MO_STACK_UNWIND_STOP.
 *
 * ips[0] is the first pc, then one return address per frame. A MO_CFA_END
 * row (the outermost frame, _start or a thread's start, whose return
 * address CFI leaves undefined) or a return address below
 * MO_UNWIND_MIN_PC ends the walk with no flag. The walk stops with
 * MO_STACK_UNWIND_STOP where a step is impossible: no module, a CFA or bp
 * out of bounds, a failed read. MO_STACK_TRUNCATED: MO_MAX_FRAMES stored
 * and the next step was possible.
 */
#ifndef MO_UNWIND_WALK_H
#define MO_UNWIND_WALK_H

#include <stdbool.h>
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
	bool pending;		/* rows not compiled yet: no step, no guess */
};

#define MO_UNWIND_FRAME_SPAN (8ULL << 20)	/* a frame further up is garbage */
#define MO_UNWIND_MIN_PC 4096		/* return addresses below: no caller */

struct mo_unwind_regs {
	uint64_t pc;
	uint64_t sp;
	uint64_t bp;
	bool pc_is_return;	/* pc is a return address (uretprobe) */
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
