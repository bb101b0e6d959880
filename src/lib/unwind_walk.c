// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind_walk.c - the reference stack walker over unwind rows; the rules it
 * applies are spelled out in unwind_walk.h and the BPF walker must match.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "unwind_walk.h"
#include "bpf/call_insn.h"

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
						  size_t nmods, uint64_t at)
{
	for (size_t i = 0; i < nmods; i++)
		if (at >= mods[i].start && at < mods[i].end)
			return &mods[i];
	return NULL;
}

static bool frame_in_bounds(uint64_t sp, uint64_t cfa)
{
	return cfa > sp && cfa - sp <= MO_UNWIND_FRAME_SPAN;
}

/* The module's row for at, or NULL (none: before its first row, or out of
 * its range). */
static const struct mo_unwind_row *row_at(const struct mo_unwind_module *m, uint64_t at)
{
	uint64_t rel = at - m->bias;

	if (!m->rows || !m->nrows || at < m->bias || rel > UINT32_MAX)
		return NULL;
	return mo_unwind_find_row(m->rows, m->nrows, (uint32_t)rel);
}

/* One step by a row; false when the frame cannot be unwound. */
static bool step_row(const struct mo_unwind_row *row, struct mo_unwind_regs *r,
		     mo_unwind_read_fn read, void *ctx, uint64_t *ra)
{
	uint64_t cfa, bp = r->bp;

	switch (row->cfa) {
	case MO_CFA_RSP:
	case MO_CFA_PLT:
		cfa = r->sp + row->cfa_off;
		break;
	case MO_CFA_RBP:
		cfa = r->bp + row->cfa_off;
		break;
	default:
		return false;
	}
	if (!frame_in_bounds(r->sp, cfa) || read(cfa - 8, ra, ctx))
		return false;
	if (row->rbp_off8 != MO_RBP_SAME &&
	    read(cfa + 8 * (int64_t)row->rbp_off8, &bp, ctx))
		return false;
	r->bp = bp;
	r->sp = cfa;
	return true;
}

static bool step_fp(struct mo_unwind_regs *r, mo_unwind_read_fn read, void *ctx,
		    uint64_t *ra)
{
	uint64_t bp, code;

	if (r->bp < r->sp || r->bp - r->sp > MO_UNWIND_FRAME_SPAN || (r->bp & 7))
		return false;
	if (read(r->bp + 8, ra, ctx) || read(r->bp, &bp, ctx))
		return false;
	/* a zero (an outermost frame) ends the walk as a row's would */
	if (*ra >= MO_UNWIND_MIN_PC &&
	    (read(*ra - 8, &code, ctx) || !mo_ends_with_call(code)))
		return false;
	r->sp = r->bp + 16;
	r->bp = bp;
	return true;
}

int mo_unwind_walk(const struct mo_unwind_module *mods, size_t nmods,
		   const struct mo_unwind_regs *regs, mo_unwind_read_fn read,
		   void *ctx, struct mo_stack *out)
{
	struct mo_unwind_regs r;
	bool after_call;

	if (!regs || !read || !out || (nmods && !mods))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	r = *regs;
	after_call = r.pc_is_return;
	out->ips[out->nr++] = r.pc;

	for (;;) {
		uint64_t at = after_call ? r.pc - 1 : r.pc, ra;
		const struct mo_unwind_module *m = find_module(mods, nmods, at);
		const struct mo_unwind_row *row = m ? row_at(m, at) : NULL;
		bool ok;

		if (row && row->cfa == MO_CFA_END)
			return 0;
		if (!m || m->pending) {
			ok = false;
		} else if (row && row->cfa != MO_CFA_NONE) {
			ok = step_row(row, &r, read, ctx, &ra);
		} else {
			out->flags |= MO_STACK_FP_FALLBACK;
			ok = step_fp(&r, read, ctx, &ra);
		}
		if (!ok) {
			out->flags |= MO_STACK_UNWIND_STOP;
			return 0;
		}
		if (ra < MO_UNWIND_MIN_PC)
			return 0;
		if (!find_module(mods, nmods, ra - 1)) {
			/* not code: not a frame */
			out->flags |= MO_STACK_UNWIND_STOP;
			return 0;
		}
		if (out->nr == MO_MAX_FRAMES) {
			out->flags |= MO_STACK_TRUNCATED;
			return 0;
		}
		out->ips[out->nr++] = ra;
		r.pc = ra;
		after_call = true;
	}
}
