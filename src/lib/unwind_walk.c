// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind_walk.c - the reference stack walker over unwind rows; the rules it
 * applies are spelled out in unwind_walk.h and the BPF walker must match.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "unwind_walk.h"

uint64_t mo_unwind_bias(const struct mo_unwind_table *t, uint64_t map_start,
			uint64_t map_pgoff)
{
	return map_start - map_pgoff - (uint64_t)t->off_to_vaddr + t->vaddr_min;
}

const struct mo_unwind_row *mo_unwind_find_row(const struct mo_unwind_row *rows,
					       size_t nrows, uint32_t rel)
{
	size_t lo = 0, hi = nrows;

	/* first row with pc > rel; the answer is the one before it */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].pc <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &rows[lo - 1] : NULL;
}

static const struct mo_unwind_module *find_module(const struct mo_unwind_module *mods,
						  size_t nmods, uint64_t pc)
{
	for (size_t i = 0; i < nmods; i++)
		if (pc >= mods[i].start && pc < mods[i].end)
			return &mods[i];
	return NULL;
}

enum step_result {
	STEP_OK,
	STEP_STOP,
};

static enum step_result step_rows(const struct mo_unwind_module *m,
				  struct mo_unwind_regs *r, bool first,
				  mo_unwind_read_fn read, void *ctx,
				  uint64_t *ra)
{
	uint64_t lookup = first ? r->pc : r->pc - 1;
	uint64_t rel = lookup - m->bias, cfa, bp = r->bp;
	const struct mo_unwind_row *row;

	if (lookup < m->bias || rel > UINT32_MAX)
		return STEP_STOP;
	row = mo_unwind_find_row(m->rows, m->nrows, (uint32_t)rel);
	if (!row)
		return STEP_STOP;
	switch (row->cfa) {
	case MO_CFA_RSP:
	case MO_CFA_PLT:
		cfa = r->sp + row->cfa_off;
		break;
	case MO_CFA_RBP:
		cfa = r->bp + row->cfa_off;
		break;
	default:
		return STEP_STOP;
	}
	if (read(cfa - 8, ra, ctx))
		return STEP_STOP;
	if (row->rbp_off8 != MO_RBP_SAME &&
	    read(cfa + 8 * (int64_t)row->rbp_off8, &bp, ctx))
		return STEP_STOP;
	r->bp = bp;
	r->sp = cfa;
	return STEP_OK;
}

static enum step_result step_fp(struct mo_unwind_regs *r, mo_unwind_read_fn read,
				void *ctx, uint64_t *ra)
{
	uint64_t bp;

	if (read(r->bp + 8, ra, ctx) || read(r->bp, &bp, ctx))
		return STEP_STOP;
	r->sp = r->bp + 16;
	r->bp = bp;
	return STEP_OK;
}

int mo_unwind_walk(const struct mo_unwind_module *mods, size_t nmods,
		   const struct mo_unwind_regs *regs, mo_unwind_read_fn read,
		   void *ctx, struct mo_stack *out)
{
	struct mo_unwind_regs r;

	if (!regs || !read || !out || (nmods && !mods))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	r = *regs;
	out->ips[out->nr++] = r.pc;

	while (out->nr < MO_MAX_FRAMES) {
		const struct mo_unwind_module *m = find_module(mods, nmods, r.pc);
		uint64_t old_sp = r.sp, ra;
		enum step_result res;

		if (!m) {
			out->flags |= MO_STACK_UNWIND_STOP;
			return 0;
		}
		if (m->rows && m->nrows) {
			res = step_rows(m, &r, out->nr == 1, read, ctx, &ra);
		} else {
			res = step_fp(&r, read, ctx, &ra);
			out->flags |= MO_STACK_FP_FALLBACK;
		}
		if (res == STEP_STOP || (ra != 0 && r.sp <= old_sp)) {
			out->flags |= MO_STACK_UNWIND_STOP;
			return 0;
		}
		if (ra == 0)
			return 0;
		out->ips[out->nr++] = ra;
		r.pc = ra;
	}
	out->flags |= MO_STACK_TRUNCATED;
	return 0;
}
