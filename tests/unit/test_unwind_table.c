// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_unwind_table.c - unwind rows and the reference walker: the walker's
 * rules on a synthetic stack; rows of CFI written by hand in this file;
 * libc's malloc prologue and PLT; table invariants and build time for libc
 * and libstdc++; a live walk of this process compared with backtrace();
 * error codes.
 *
 * The live walk is only meaningful without frame pointers, so the call chain
 * forces -fomit-frame-pointer per function whatever the build flags are.
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <dwarf.h>

#include "unwind_table.h"
#include "unwind_walk.h"
#include "bpf/call_insn.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define LIBSTDCXX "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"

/* ---- synthetic memory for the walker ---------------------------------- */

struct fake_word {
	uint64_t addr;
	uint64_t val;
};

struct fake_mem {
	const struct fake_word *w;
	size_t n;
	/* if nonzero, every aligned address in [loop_lo, loop_hi) reads loop_val */
	uint64_t loop_lo, loop_hi, loop_val;
};

static int fake_read(uint64_t addr, uint64_t *val, void *ctx)
{
	const struct fake_mem *m = ctx;

	for (size_t i = 0; i < m->n; i++) {
		if (m->w[i].addr == addr) {
			*val = m->w[i].val;
			return 0;
		}
	}
	if (addr >= m->loop_lo && addr < m->loop_hi && !(addr & 7)) {
		*val = m->loop_val;
		return 0;
	}
	return -EFAULT;
}

static const struct mo_unwind_row synth_rows[] = {
	{ .pc = 0x000, .cfa = MO_CFA_RSP, .cfa_off = 8 },
	{ .pc = 0x100, .cfa = MO_CFA_RSP, .cfa_off = 24 },
	{ .pc = 0x200, .cfa = MO_CFA_RBP, .cfa_off = 16, .rbp_off8 = -2 },
	{ .pc = 0x300, .cfa = MO_CFA_NONE },
	{ .pc = 0x380, .cfa = MO_CFA_END },
	{ .pc = 0x400, .cfa = MO_CFA_PLT, .cfa_off = 8 },
	{ .pc = 0x410, .cfa = MO_CFA_RSP, .cfa_off = 0 },
	{ .pc = 0x420, .cfa = MO_CFA_NONE },
};

#define NSYNTH (sizeof(synth_rows) / sizeof(synth_rows[0]))

/* the 8 code bytes before 0x10050: a call rel32 (e8 at 0x1004b) ends there,
 * so the frame-pointer guess may return to 0x10050 */
#define CALL_BEFORE_10050 { 0x10048, 0x00000000e8000000ULL }

static const struct mo_unwind_module synth_mods[] = {
	{ .start = 0x10000, .end = 0x20000, .bias = 0x10000,
	  .rows = synth_rows, .nrows = NSYNTH },
	{ .start = 0x20000, .end = 0x21000, .bias = 0x20000 },	/* no rows */
};

static void test_find_row(void **state)
{
	static const struct mo_unwind_row late[] = {
		{ .pc = 0x50, .cfa = MO_CFA_RSP, .cfa_off = 8 },
		{ .pc = 0x60, .cfa = MO_CFA_NONE },
	};

	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, 0), &synth_rows[0]);
	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, 0xff), &synth_rows[0]);
	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, 0x100), &synth_rows[1]);
	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, 0x2ff), &synth_rows[2]);
	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, 0x420), &synth_rows[7]);
	assert_ptr_equal(mo_unwind_find_row(synth_rows, NSYNTH, UINT32_MAX),
			 &synth_rows[7]);
	assert_null(mo_unwind_find_row(late, 2, 0x4f));
	assert_ptr_equal(mo_unwind_find_row(late, 2, 0x50), &late[0]);
	assert_null(mo_unwind_find_row(late, 0, 0x50));
}

static void test_bias(void **state)
{
	/* non-PIE executable: text PT_LOAD at vaddr 0x401000, offset 0x1000 */
	struct mo_unwind_table exe = { .vaddr_min = 0x400000, .off_to_vaddr = 0x400000 };
	/* a library whose text vaddr is one page ahead of its file offset */
	struct mo_unwind_table lib = { .vaddr_min = 0, .off_to_vaddr = 0x1000 };

	assert_int_equal(mo_unwind_bias(&exe, 0x401000, 0x1000), 0x400000);
	/* vaddr 0x2345 lives at file offset 0x1345, mapped at 0x7f0000001345 */
	assert_int_equal(0x7f0000001345 - mo_unwind_bias(&lib, 0x7f0000001000, 0x1000),
			 0x2345);
}

/*
 * Every rule of the walker in one stack: an exact lookup for the first
 * frame, pc-1 for return addresses (0x10200 and 0x10250 sit on row
 * boundaries, so an exact lookup picks the wrong rows), an rbp-based CFA
 * restoring a saved rbp, the frame-pointer guess in a module without rows,
 * and a zero return address ending the walk.
 */
static void test_walk_synthetic(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7010, 0x10200 },	/* frame 0: CFA 0x7018 (rsp+24) */
		{ 0x7028, 0x10250 },	/* frame 1: CFA 0x7030 (row 0x100 via pc-1) */
		{ 0x7108, 0x20010 },	/* frame 2: CFA = bp 0x7100 + 16 */
		{ 0x7100, 0x7200 },	/* its saved rbp at CFA-16 */
		{ 0x7208, 0x10050 },	/* frame 3: fp guess, ra at bp+8 */
		{ 0x7200, 0x7300 },	/* saved rbp at bp */
		{ 0x7210, 0 },		/* frame 4: CFA 0x7218 (rsp+8): end */
		CALL_BEFORE_10050,
	};
	struct fake_mem mem = { w, sizeof(w) / sizeof(w[0]) };
	struct mo_unwind_regs regs = { .pc = 0x10100, .sp = 0x7000, .bp = 0x7100 };
	static const uint64_t want[] = { 0x10100, 0x10200, 0x10250, 0x20010, 0x10050 };
	struct mo_stack st;

	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 5);
	assert_memory_equal(st.ips, want, sizeof(want));
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK);
}

static void test_walk_stops(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7000, 0x10411 },	/* from the PLT row into the rsp+0 row */
		{ 0x8000, 0x10050 },
	};
	struct fake_mem mem = { w, 2 };
	struct mo_unwind_regs regs;
	struct mo_stack st;

	/* the outermost frame's MO_CFA_END row: a complete stack */
	regs = (struct mo_unwind_regs){ .pc = 0x10380, .sp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, 0);

	/* a MO_CFA_NONE row (code the CFI leaves out): the frame-pointer
	 * guess, which a bp holding no frame stops */
	regs = (struct mo_unwind_regs){ .pc = 0x10300, .sp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.ips[0], 0x10300);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);

	/* a pc outside every module */
	regs = (struct mo_unwind_regs){ .pc = 0x30000, .sp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);

	/* an unreadable return address slot */
	regs = (struct mo_unwind_regs){ .pc = 0x10000, .sp = 0x6000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);

	/* PLT row is rsp+8; then rsp+0 makes no progress and stops */
	regs = (struct mo_unwind_regs){ .pc = 0x10404, .sp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 2);
	assert_int_equal(st.ips[1], 0x10411);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);

	/* the rsp+0 row as the first frame: same rule, checked before use */
	regs = (struct mo_unwind_regs){ .pc = 0x10410, .sp = 0x8008 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);

	assert_int_equal(mo_unwind_walk(synth_mods, 2, NULL, fake_read, &mem, &st),
			 -EINVAL);
}

/*
 * Code a file's CFI leaves out (V8's builtins, hand-written assembly) between
 * described frames: the gap is stepped by frame pointers, and the walk goes
 * on by the rows after it. The stack says a frame was guessed.
 */
static void test_walk_through_gap(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7008, 0x10301 },	/* frame 0 (rsp+24 row): returns into the gap */
		{ 0x7100, 0x7200 },	/* the gap's frame: saved rbp */
		{ 0x7108, 0x10050 },	/* and its return address */
		{ 0x7110, 0 },		/* frame 2 (rsp+8): no caller */
		CALL_BEFORE_10050,
	};
	struct fake_mem mem = { w, sizeof(w) / sizeof(w[0]) };
	struct mo_unwind_regs regs = { .pc = 0x10100, .sp = 0x6ff8, .bp = 0x7100 };
	static const uint64_t want[] = { 0x10100, 0x10301, 0x10050 };
	struct mo_stack st;

	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 3);
	assert_memory_equal(st.ips, want, sizeof(want));
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK);
}

/* A uretprobe's pc is a return address: it is looked up as pc - 1 too. */
static void test_walk_first_pc_is_return(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7010, 0x10200 }, { 0x7028, 0x10250 }, { 0x7108, 0x20010 },
		{ 0x7100, 0x7200 }, { 0x7208, 0x10050 }, { 0x7200, 0x7300 },
		{ 0x7210, 0 }, CALL_BEFORE_10050,
	};
	struct fake_mem mem = { w, sizeof(w) / sizeof(w[0]) };
	struct mo_unwind_regs regs = { .pc = 0x10200, .sp = 0x7000, .bp = 0x7100,
				       .pc_is_return = true };
	static const uint64_t want[] = { 0x10200, 0x10200, 0x10250, 0x20010, 0x10050 };
	static const uint64_t exact[] = { 0x10200, 0x20010, 0x10050 };
	struct mo_stack st;

	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 5);
	assert_memory_equal(st.ips, want, sizeof(want));

	/* the same registers read as an exact pc pick the rbp row at 0x200 */
	regs.pc_is_return = false;
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 3);
	assert_memory_equal(st.ips, exact, sizeof(exact));
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK);
}

static void test_walk_bounds(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7500, 0x10 },	/* a return address in page 0: no caller */
		{ 0x7600, 0x20000 },	/* returns to the last byte of module 0 */
		/* readable, so that only the bounds stop the walks below */
		{ 0x7000, 0x10050 },
		{ 0x7008, 0x10050 },
		{ 0x7004, 0x7100 },
		{ 0x700c, 0x10050 },
		{ 0x7000 + MO_UNWIND_FRAME_SPAN + 8, 0x10050 },
		{ 0x7000 + MO_UNWIND_FRAME_SPAN, 0x7100 },
		CALL_BEFORE_10050,
	};
	struct fake_mem mem = { w, sizeof(w) / sizeof(w[0]) };
	struct mo_unwind_regs regs;
	struct mo_stack st;

	regs = (struct mo_unwind_regs){ .pc = 0x10000, .sp = 0x7500 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, 0);

	/* 0x20000 is where module 1 starts, but pc - 1 is module 0's NONE row:
	 * the frame-pointer guess, with bp 0 */
	regs = (struct mo_unwind_regs){ .pc = 0x10000, .sp = 0x7600 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 2);
	assert_int_equal(st.ips[1], 0x20000);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);

	/* frame-pointer guess: bp below sp, misaligned, or too far up */
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x7001, .bp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x6000, .bp = 0x7004 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x7000 - 8,
					.bp = 0x7000 + MO_UNWIND_FRAME_SPAN };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);
	/* bp == sp is a valid frame */
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x7000, .bp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 2);
	assert_int_equal(st.ips[1], 0x10050);

	/* an rbp-based CFA more than MO_UNWIND_FRAME_SPAN above sp */
	regs = (struct mo_unwind_regs){ .pc = 0x10250, .sp = 0x7000,
					.bp = 0x7000 + MO_UNWIND_FRAME_SPAN };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);
}

static void test_walk_truncates(void **state)
{
	/* a function that returns into itself forever, with a growing sp */
	struct fake_mem mem = { .loop_lo = 0x8000, .loop_hi = 0x9000,
				.loop_val = 0x10010 };
	struct mo_unwind_regs regs = { .pc = 0x10010, .sp = 0x8000 };
	struct mo_stack st;

	assert_int_equal(mo_unwind_walk(synth_mods, 1, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, MO_MAX_FRAMES);
	assert_int_equal(st.ips[MO_MAX_FRAMES - 1], 0x10010);
	assert_int_equal(st.flags, MO_STACK_TRUNCATED);

	/* exactly MO_MAX_FRAMES frames and then the end: not truncated */
	mem.loop_hi = 0x8000 + 8 * (MO_MAX_FRAMES - 1);
	mem.w = (const struct fake_word[]){ { mem.loop_hi, 0 } };
	mem.n = 1;
	assert_int_equal(mo_unwind_walk(synth_mods, 1, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, MO_MAX_FRAMES);
	assert_int_equal(st.flags, 0);
}

/*
 * What the frame-pointer guess may not do: return to a word that does not
 * follow a call, return outside code (a stack address, as rbp in code built
 * without frame pointers points at data), or step through a module whose
 * rows are not compiled yet. Each stops the stack, marked; none is stored.
 */
static void test_walk_guess_never_invents(void **state)
{
	static const struct fake_word w[] = {
		{ 0x7100, 0x7200 },	/* bp chain: saved rbp */
		{ 0x7108, 0x10050 },	/* return address, call or not below */
		{ 0x7200, 0x7300 },
		{ 0x7208, 0x7ffd0000 },	/* a stack address as a "return address" */
		{ 0x7010, 0x7ffd0000 },	/* the same read by a row (rsp+24) */
	};
	struct fake_word wc[sizeof(w) / sizeof(w[0]) + 1];
	struct fake_mem mem = { w, sizeof(w) / sizeof(w[0]) };
	struct mo_unwind_module pend[2];
	struct mo_unwind_regs regs;
	struct mo_stack st;

	/* 0x10050 follows no call (no code bytes before it are a call) */
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x7000, .bp = 0x7100 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);
	mem.w = (const struct fake_word[]){ { 0x7100, 0x7200 }, { 0x7108, 0x10050 },
					    { 0x10048, 0xc3c3c3c3c3c3c3c3ULL } };
	mem.n = 3;
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);

	/* with the call there: one guessed frame, then the stack address
	 * is not stored */
	memcpy(wc, w, sizeof(w));
	wc[sizeof(w) / sizeof(w[0])] = (struct fake_word)CALL_BEFORE_10050;
	mem.w = wc;
	mem.n = sizeof(wc) / sizeof(wc[0]);
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 2);
	assert_int_equal(st.ips[1], 0x10050);
	assert_int_equal(st.flags, MO_STACK_FP_FALLBACK | MO_STACK_UNWIND_STOP);

	/* a row's step that reads a stack address: not stored either */
	regs = (struct mo_unwind_regs){ .pc = 0x10100, .sp = 0x7000 };
	assert_int_equal(mo_unwind_walk(synth_mods, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);

	/* module 1's rows pending: no guess through it, even a good one */
	memcpy(pend, synth_mods, sizeof(pend));
	pend[1].pending = true;
	regs = (struct mo_unwind_regs){ .pc = 0x20010, .sp = 0x7000, .bp = 0x7100 };
	assert_int_equal(mo_unwind_walk(pend, 2, &regs, fake_read, &mem, &st), 0);
	assert_int_equal(st.nr, 1);
	assert_int_equal(st.flags, MO_STACK_UNWIND_STOP);
}

/* The call check on real encodings: each pair is the bytes that end right
 * before a return address, and whether a call ends there. */
static void test_ends_with_call(void **state)
{
	static const struct {
		unsigned char b[8];	/* bytes at ra - 8 .. ra - 1 */
		int call;
	} cases[] = {
		{ { 0x90, 0x90, 0x90, 0xe8, 0x10, 0x20, 0x30, 0x40 }, 1 }, /* call rel32 */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0xd0 }, 1 }, /* call *%rax */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0x41, 0xff, 0xd4 }, 1 }, /* call *%r12 */
		{ { 0x90, 0x90, 0xff, 0x15, 0x10, 0x20, 0x30, 0x00 }, 1 }, /* call *x(%rip) */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0x50, 0x08 }, 1 }, /* call *8(%rax) */
		{ { 0x90, 0x90, 0x90, 0x90, 0xff, 0x54, 0x24, 0x08 }, 1 }, /* call *8(%rsp) */
		{ { 0x90, 0xff, 0x14, 0x25, 0x10, 0x20, 0x30, 0x00 }, 1 }, /* call *abs32 */
		{ { 0x90, 0xff, 0x94, 0x24, 0x00, 0x01, 0x00, 0x00 }, 1 }, /* call *256(%rsp) */
		{ { 0x90, 0x90, 0xff, 0x90, 0x00, 0x01, 0x00, 0x00 }, 1 }, /* call *256(%rax) */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0x10 }, 1 }, /* call *(%rax) */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0xe0 }, 0 }, /* jmp *%rax */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0x15 }, 0 }, /* truncated */
		{ { 0x90, 0x90, 0x90, 0x90, 0x90, 0xff, 0x10, 0x00 }, 0 }, /* 2-byte call, then 0 */
		{ { 0x90, 0x90, 0x90, 0x90, 0xe8, 0x10, 0x20, 0x30 }, 0 }, /* rel32 one short */
		{ { 0x78, 0x56, 0x34, 0x12, 0xfd, 0x7f, 0x00, 0x00 }, 0 }, /* a stack address */
		{ { 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3 }, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t code;

		memcpy(&code, cases[i].b, sizeof(code));
		if (mo_ends_with_call(code) != cases[i].call)
			fail_msg("case %zu: expected %d", i, cases[i].call);
	}
}

/* ---- the live process -------------------------------------------------- */

struct live {
	struct mo_unwind_table tables[64];
	struct mo_unwind_module mods[64];
	char *paths[64];
	size_t ntables, nmods;
	char exe[PATH_MAX];
	uint64_t exe_bias;
};

static const struct mo_unwind_table *live_table(struct live *l, const char *path)
{
	for (size_t i = 0; i < l->ntables; i++)
		if (strcmp(l->paths[i], path) == 0)
			return &l->tables[i];
	if (l->ntables == 64)
		return NULL;
	if (mo_unwind_table_build(path, &l->tables[l->ntables]))
		return NULL;
	l->paths[l->ntables] = strdup(path);
	return &l->tables[l->ntables++];
}

/* Tables for every file-backed executable mapping of this process. A file
 * without usable CFI becomes a module without rows, as in the kernel. */
static struct live *live_load(void)
{
	struct live *l = calloc(1, sizeof(*l));
	FILE *f = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 128];
	ssize_t n;

	assert_non_null(l);
	assert_non_null(f);
	n = readlink("/proc/self/exe", l->exe, sizeof(l->exe) - 1);
	assert_true(n > 0);
	l->exe[n] = '\0';
	while (fgets(line, sizeof(line), f) && l->nmods < 64) {
		unsigned long long start, end, off;
		char perms[8], path[PATH_MAX];
		const struct mo_unwind_table *t;
		struct mo_unwind_module *m;

		path[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start, &end,
			   perms, &off, path) < 4 || perms[2] != 'x' || path[0] != '/')
			continue;
		t = live_table(l, path);
		m = &l->mods[l->nmods++];
		m->start = start;
		m->end = end;
		if (t) {
			m->bias = mo_unwind_bias(t, start, off);
			m->rows = t->rows;
			m->nrows = t->nrows;
			if (strcmp(path, l->exe) == 0)
				l->exe_bias = m->bias;
		}
	}
	fclose(f);
	return l;
}

static void live_free(struct live *l)
{
	for (size_t i = 0; i < l->ntables; i++) {
		mo_unwind_table_release(&l->tables[i]);
		free(l->paths[i]);
	}
	free(l);
}

static int self_read(uint64_t addr, uint64_t *val, void *ctx)
{
	struct iovec local = { val, sizeof(*val) };
	struct iovec remote = { (void *)(uintptr_t)addr, sizeof(*val) };

	/* a wrong row must fail the test, not crash it */
	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == sizeof(*val)
		       ? 0 : -EFAULT;
}

/* Symbol value and size from .symtab or .dynsym. */
static int elf_symbol(const char *path, const char *name, uint64_t *value,
		      uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = -ENOENT;
	Elf *elf;
	Elf_Scn *scn = NULL;

	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	while (elf && err && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, (int)i, &s) || s.st_value == 0)
				continue;
			n = elf_strptr(elf, sh.sh_link, s.st_name);
			if (n && strcmp(n, name) == 0) {
				*value = s.st_value;
				*size = s.st_size;
				err = 0;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return err;
}

/* The bytes of a file at a vaddr, through its PT_LOAD. */
static int elf_code(const char *path, uint64_t vaddr, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = -ENOENT;
	Elf *elf;
	size_t phnum;

	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && !elf_getphdrnum(elf, &phnum)) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
			    vaddr < ph.p_vaddr || vaddr + len > ph.p_vaddr + ph.p_filesz)
				continue;
			if (pread(fd, buf, len, (off_t)(vaddr - ph.p_vaddr + ph.p_offset)) ==
			    (ssize_t)len)
				err = 0;
			break;
		}
	}
	elf_end(elf);
	close(fd);
	return err;
}

static int elf_section(const char *path, const char *name, uint64_t *addr)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = -ENOENT;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && !elf_getshdrstrndx(elf, &shstrndx)) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *n;

			if (!gelf_getshdr(scn, &sh))
				continue;
			n = elf_strptr(elf, shstrndx, sh.sh_name);
			if (n && strcmp(n, name) == 0) {
				*addr = sh.sh_addr;
				err = 0;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return err;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sorted, strictly increasing, no two neighbours alike, ends in a stop. */
static void check_invariants(const struct mo_unwind_table *t)
{
	assert_true(t->nrows > 0);
	for (size_t i = 1; i < t->nrows; i++) {
		const struct mo_unwind_row *a = &t->rows[i - 1], *b = &t->rows[i];

		assert_true(a->pc < b->pc);
		assert_false(a->cfa == b->cfa && a->cfa_off == b->cfa_off &&
			     a->rbp_off8 == b->rbp_off8);
		assert_true(b->cfa <= MO_CFA_END);
	}
	assert_int_equal(t->rows[t->nrows - 1].cfa, MO_CFA_NONE);
}

static void assert_row(const struct mo_unwind_table *t, uint64_t rel,
		       uint64_t row_pc, int cfa, int cfa_off, int rbp_off8)
{
	const struct mo_unwind_row *r = mo_unwind_find_row(t->rows, t->nrows,
							   (uint32_t)rel);

	assert_non_null(r);
	assert_int_equal(r->pc, row_pc);
	assert_int_equal(r->cfa, cfa);
	assert_int_equal(r->cfa_off, cfa_off);
	assert_int_equal(r->rbp_off8, rbp_off8);
}

/*
 * Hand-written CFI with exact expectations. cfi_probe is a classic
 * frame-pointer prologue; cfi_odd has one nop per rule so that every rule
 * gets its own row: CFA in r10, rbp saved out of rbp_off8 range, CFA offset
 * beyond 16 bits (the three unsupported rules), an undefined return address
 * (the outermost frame), and a change only to registers rows do not track.
 * Neither is ever called.
 */
__asm__(
	"	.text\n"
	"	.p2align 4\n"
	"cfi_probe:\n"
	"	.cfi_startproc\n"
	"	push %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	mov %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	sub $0x1000, %rsp\n"
	"	.cfi_offset %rbx, -24\n"
	"	nop\n"
	"	leave\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	.cfi_restore %rbp\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.p2align 4\n"
	"cfi_odd:\n"
	"	.cfi_startproc\n"
	"	push %rbx\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbx, -16\n"
	"	nop\n"
	"	.cfi_def_cfa %r10, 0\n"
	"	nop\n"
	"	.cfi_def_cfa %rsp, 16\n"
	"	nop\n"
	"	.cfi_offset %rbp, -2048\n"
	"	nop\n"
	"	.cfi_offset %rbp, -24\n"
	"	nop\n"
	"	.cfi_def_cfa_offset 70000\n"
	"	nop\n"
	"	.cfi_def_cfa_offset 16\n"
	"	nop\n"
	"	.cfi_undefined %rip\n"
	"	nop\n"
	"	.cfi_offset %rip, -8\n"
	"	nop\n"
	"	.cfi_offset %r12, -32\n"
	"	pop %rbx\n"
	"	.cfi_def_cfa_offset 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	int3\n");

extern const char cfi_probe[], cfi_odd[];

static void test_handwritten_cfi(void **state)
{
	struct live *l = live_load();
	const struct mo_unwind_table *t = live_table(l, l->exe);
	uint64_t p, o;

	assert_non_null(t);
	check_invariants(t);
	assert_true(t->unsupported >= 3);
	p = (uintptr_t)cfi_probe - l->exe_bias;
	o = (uintptr_t)cfi_odd - l->exe_bias;
	assert_int_equal(o, p + 16);

	assert_row(t, p + 0, p + 0, MO_CFA_RSP, 8, 0);
	assert_row(t, p + 1, p + 1, MO_CFA_RSP, 16, -2);	/* push %rbp */
	assert_row(t, p + 4, p + 4, MO_CFA_RBP, 16, -2);	/* mov %rsp,%rbp */
	assert_row(t, p + 11, p + 4, MO_CFA_RBP, 16, -2);	/* rbx only: merged */
	assert_row(t, p + 12, p + 4, MO_CFA_RBP, 16, -2);
	assert_row(t, p + 13, p + 13, MO_CFA_RSP, 8, 0);	/* leave */
	assert_row(t, p + 14, p + 14, MO_CFA_NONE, 0, 0);	/* padding */
	assert_row(t, p + 15, p + 14, MO_CFA_NONE, 0, 0);

	assert_row(t, o + 0, o + 0, MO_CFA_RSP, 8, 0);
	assert_row(t, o + 1, o + 1, MO_CFA_RSP, 16, 0);
	assert_row(t, o + 2, o + 2, MO_CFA_NONE, 0, 0);	/* CFA = r10 */
	assert_row(t, o + 3, o + 3, MO_CFA_RSP, 16, 0);
	assert_row(t, o + 4, o + 4, MO_CFA_NONE, 0, 0);	/* rbp at CFA-2048 */
	assert_row(t, o + 5, o + 5, MO_CFA_RSP, 16, -3);
	assert_row(t, o + 6, o + 6, MO_CFA_NONE, 0, 0);	/* CFA = rsp+70000 */
	assert_row(t, o + 7, o + 7, MO_CFA_RSP, 16, -3);
	assert_row(t, o + 8, o + 8, MO_CFA_END, 0, 0);	/* ra undefined */
	assert_row(t, o + 9, o + 9, MO_CFA_RSP, 16, -3);
	assert_row(t, o + 10, o + 9, MO_CFA_RSP, 16, -3);	/* r12 only: merged */
	assert_row(t, o + 11, o + 11, MO_CFA_RSP, 8, -3);	/* pop %rbx */
	assert_row(t, o + 12, o + 12, MO_CFA_NONE, 0, 0);	/* int3: no FDE */
	live_free(l);
}

static void test_libc_malloc(void **state)
{
	static const uint8_t prologue[] = {
		0x41, 0x54,			/* push %r12 */
		0x55,				/* push %rbp */
		0x53,				/* push %rbx */
		0x48, 0x89, 0xfb,		/* mov %rdi,%rbx */
		0x48, 0x83, 0xec, 0x10,		/* sub $0x10,%rsp */
	};
	struct mo_unwind_table t;
	uint64_t malloc_va, size, plt = 0, m;
	uint8_t code[sizeof(prologue)], plt0[2];
	GElf_Phdr text = { 0 };
	double t0, ms;
	int fd;
	Elf *elf;
	size_t phnum;

	t0 = now_ms();
	assert_int_equal(mo_unwind_table_build(LIBC, &t), 0);
	ms = now_ms() - t0;
	printf("[ INFO     ] %s: %zu rows, %zu unsupported, built in %.1f ms\n",
	       LIBC, t.nrows, t.unsupported, ms);
	check_invariants(&t);
	assert_true(t.nrows > 1000);

	/* vaddr_min and off_to_vaddr as read straight from the program headers */
	fd = open(LIBC, O_RDONLY);
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getphdrnum(elf, &phnum), 0);
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		assert_non_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && !text.p_type)
			text = ph;
	}
	elf_end(elf);
	close(fd);
	assert_int_equal(t.vaddr_min, 0);
	assert_int_equal(t.off_to_vaddr, (int64_t)(text.p_vaddr - text.p_offset));

	assert_int_equal(elf_symbol(LIBC, "malloc", &malloc_va, &size), 0);
	assert_int_equal(elf_code(LIBC, malloc_va, code, sizeof(code)), 0);
	if (memcmp(code, prologue, sizeof(code)) != 0) {
		printf("[ SKIPPED  ] malloc in %s has another prologue\n", LIBC);
		mo_unwind_table_release(&t);
		return;
	}
	m = malloc_va - t.vaddr_min;
	/* each push moves the CFA by 8; push %rbp puts rbp at CFA-24 */
	assert_row(&t, m + 0, m + 0, MO_CFA_RSP, 8, 0);
	assert_row(&t, m + 1, m + 0, MO_CFA_RSP, 8, 0);
	assert_row(&t, m + 2, m + 2, MO_CFA_RSP, 16, 0);
	assert_row(&t, m + 3, m + 3, MO_CFA_RSP, 24, -3);
	assert_row(&t, m + 4, m + 4, MO_CFA_RSP, 32, -3);
	assert_row(&t, m + 7, m + 4, MO_CFA_RSP, 32, -3);	/* mov: no change */
	assert_row(&t, m + 11, m + 11, MO_CFA_RSP, 48, -3);	/* sub $0x10 */
	assert_row(&t, m + 12, m + 11, MO_CFA_RSP, 48, -3);

	/* The lazy-binding PLT: PLT0 pushes twice, entries use the expression. */
	if (elf_section(LIBC, ".plt", &plt) == 0 &&
	    elf_code(LIBC, plt, plt0, 2) == 0 && plt0[0] == 0xff && plt0[1] == 0x35) {
		assert_row(&t, plt, plt, MO_CFA_RSP, 16, 0);
		assert_row(&t, plt + 6, plt + 6, MO_CFA_RSP, 24, 0);
		assert_row(&t, plt + 0x10, plt + 0x10, MO_CFA_PLT, 8, 0);
		assert_row(&t, plt + 0x2b, plt + 0x10, MO_CFA_PLT, 8, 0);
	}
	mo_unwind_table_release(&t);
	assert_null(t.rows);
	assert_int_equal(t.nrows, 0);
}

static void test_libstdcxx(void **state)
{
	struct mo_unwind_table t;
	double t0, ms;

	if (access(LIBSTDCXX, R_OK) != 0) {
		printf("[ SKIPPED  ] %s not installed\n", LIBSTDCXX);
		return;
	}
	t0 = now_ms();
	assert_int_equal(mo_unwind_table_build(LIBSTDCXX, &t), 0);
	ms = now_ms() - t0;
	printf("[ INFO     ] %s: %zu rows, %zu unsupported, built in %.1f ms\n",
	       LIBSTDCXX, t.nrows, t.unsupported, ms);
	check_invariants(&t);
	assert_true(t.nrows > 1000);
	mo_unwind_table_release(&t);
}

/* ---- live walk against backtrace() -------------------------------------- */

#if defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLANG_ASAN 1
#endif
#endif

#ifdef __clang__
#define NOFP __attribute__((noinline))
#else
#define NOFP __attribute__((noinline, noclone, optimize("omit-frame-pointer")))
#endif

static struct live *g_live;
static struct mo_stack g_walk;
static void *g_bt[64];
static int g_nbt;
static volatile int g_sink;
static volatile int g_one = 1;	/* keeps the VLA's size unknown to the compiler */

static void touch(char *buf, size_t len)
{
	memset(buf, 1, len);
}

/* Called through a volatile pointer, so the arrays it gets must exist. */
static void (*volatile g_touch)(char *, size_t) = touch;

static NOFP int level4(int x)
{
	struct mo_unwind_regs regs;
	uint64_t pc, sp, bp;

	/* rbp first: an output register may be rbp itself when it is free */
	__asm__ volatile("mov %%rbp, %2\n\t"
			 "mov %%rsp, %1\n\t"
			 "lea 0(%%rip), %0"
			 : "=r"(pc), "=r"(sp), "=r"(bp));
	g_nbt = backtrace(g_bt, 64);
	regs = (struct mo_unwind_regs){ .pc = pc, .sp = sp, .bp = bp };
	mo_unwind_walk(g_live->mods, g_live->nmods, &regs, self_read, NULL, &g_walk);
	return x + g_sink;
}

static NOFP int level3(int x)
{
	char big[40000];

	g_touch(big, sizeof(big));
	return level4(x + 1) + big[x];
}

/* A variable-length array forces an rbp-based CFA. */
static NOFP int level2(int x)
{
	char vla[x + 300];

	g_touch(vla, sizeof(vla));
	return level3(x + 1) + vla[x];
}

static NOFP int level1(int x)
{
	char big[5000];

	g_touch(big, sizeof(big));
	return level2(x + 1) + big[x];
}

static int in_symbol(const struct live *l, const char *name, uint64_t ip)
{
	uint64_t value, size;

	if (elf_symbol(l->exe, name, &value, &size))
		return 0;
	return ip - l->exe_bias >= value && ip - l->exe_bias < value + size;
}

static void test_walk_live_vs_backtrace(void **state)
{
	const struct mo_unwind_table *t;
	const struct mo_unwind_row *r;
	int main_at = -1, bt0 = 0;

	/* backtrace() loads libgcc_s on first use: map it before the tables */
	g_nbt = backtrace(g_bt, 64);
	g_live = live_load();
	t = live_table(g_live, g_live->exe);
	assert_non_null(t);

	assert_int_equal(level1(g_one) > 0, 1);

	/* backtrace()'s first frame is in level4 after its call, or in the
	 * sanitizer's interceptor one frame further in */
	while (bt0 < 2 && !in_symbol(g_live, "level4", (uintptr_t)g_bt[bt0]))
		bt0++;
	assert_true(bt0 < 2);
	assert_true(g_nbt - bt0 >= 6);
	assert_int_equal(g_walk.nr, g_nbt - bt0);
	for (int i = 1; i < (int)g_walk.nr; i++)
		assert_int_equal(g_walk.ips[i], (uintptr_t)g_bt[bt0 + i]);
	/* backtrace stops at _start, whose return address is undefined: a
	 * complete stack */
	assert_int_equal(g_walk.flags, 0);

	assert_true(in_symbol(g_live, "level4", g_walk.ips[0]));
	assert_true(in_symbol(g_live, "level3", g_walk.ips[1]));
	assert_true(in_symbol(g_live, "level2", g_walk.ips[2]));
	assert_true(in_symbol(g_live, "level1", g_walk.ips[3]));
	for (int i = 4; i < (int)g_walk.nr; i++)
		if (in_symbol(g_live, "main", g_walk.ips[i]))
			main_at = i;
	assert_true(main_at > 4);

	/* The frames were unwound through large rsp offsets and an rbp CFA.
	 * clang's ASan gives every frame with arrays an rbp CFA instead. */
	r = mo_unwind_find_row(t->rows, t->nrows,
			       (uint32_t)(g_walk.ips[2] - 1 - g_live->exe_bias));
	assert_int_equal(r->cfa, MO_CFA_RBP);
	assert_int_equal(r->rbp_off8, -2);
#ifndef CLANG_ASAN
	r = mo_unwind_find_row(t->rows, t->nrows,
			       (uint32_t)(g_walk.ips[1] - 1 - g_live->exe_bias));
	assert_int_equal(r->cfa, MO_CFA_RSP);
	assert_true(r->cfa_off > 40000);
	r = mo_unwind_find_row(t->rows, t->nrows,
			       (uint32_t)(g_walk.ips[3] - 1 - g_live->exe_bias));
	assert_int_equal(r->cfa, MO_CFA_RSP);
	assert_true(r->cfa_off > 5000);
#endif

	live_free(g_live);
	g_live = NULL;
}

/* ---- a crafted non-PIE file with known CFI ----------------------------- */

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* File offset = vaddr - IMG_VADDR throughout. F1 is [0x100, 0x110) and F2
 * [0x110, 0x118): adjacent FDEs, then nothing. */
#define IMG_VADDR 0x400000
#define IMG_TEXT 0x100
#define IMG_HDR 0x200
#define IMG_EH 0x240
#define IMG_SHSTR 0x300
#define IMG_SH 0x340
#define IMG_SIZE (IMG_SH + 5 * sizeof(Elf64_Shdr))

struct img {
	uint8_t b[IMG_SIZE];
	size_t at;
};

static void put(struct img *m, const void *p, size_t n)
{
	memcpy(m->b + m->at, p, n);
	m->at += n;
}

static void put8(struct img *m, uint8_t v)
{
	put(m, &v, 1);
}

static void put32(struct img *m, uint32_t v)
{
	put(m, &v, 4);
}

/* DW_EH_PE_pcrel|sdata4: relative to the field's own vaddr */
static void put_pcrel(struct img *m, uint64_t target)
{
	put32(m, (uint32_t)(target - (IMG_VADDR + m->at)));
}

static size_t entry_begin(struct img *m)
{
	m->at += 4;
	return m->at - 4;
}

/* pad with DW_CFA_nop and fill in the length */
static void entry_end(struct img *m, size_t at)
{
	uint32_t len;

	while ((m->at - at) % 8)
		put8(m, DW_CFA_nop);
	len = (uint32_t)(m->at - at - 4);
	memcpy(m->b + at, &len, 4);
}

static void build_image(struct img *m, bool with_hdr, bool huge_reg)
{
	/* DW_CFA_val_offset of register 200000000 (uleb 0x80 0x84 0xaf 0x5f) */
	static const uint8_t huge_insn[] = { DW_CFA_val_offset, 0x80, 0x84, 0xaf, 0x5f, 1 };
	static const uint8_t cie_insns[] = { DW_CFA_def_cfa, 7, 8,
					     DW_CFA_offset | 16, 1 };
	/* push %rbp; mov %rsp,%rbp; 8 bytes of body; leave at 0x10c */
	static const uint8_t f1_insns[] = {
		DW_CFA_advance_loc | 1, DW_CFA_def_cfa_offset, 16,
		DW_CFA_offset | 6, 2,
		DW_CFA_advance_loc | 3, DW_CFA_def_cfa_register, 6,
		DW_CFA_advance_loc | 8, DW_CFA_def_cfa, 7, 8,
	};
	/* a PLT entry from 0x114, then an outermost frame from 0x116 */
	static const uint8_t f2_insns[] = {
		DW_CFA_advance_loc | 4, DW_CFA_def_cfa_expression, 11,
		DW_OP_breg7, 8, DW_OP_breg16, 0, DW_OP_lit15, DW_OP_and,
		DW_OP_lit11, DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus,
		DW_CFA_advance_loc | 2, DW_CFA_undefined, 16,
	};
	static const char shstr[] = "\0.text\0.eh_frame_hdr\0.eh_frame\0.shstrtab";
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m->b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(m->b + sizeof(*eh));
	Elf64_Shdr *sh = (Elf64_Shdr *)(m->b + IMG_SH);
	size_t cie, f1, f2, eh_end;

	memset(m, 0, sizeof(*m));
	memset(m->b + IMG_TEXT, 0xc3, 0x18);

	m->at = IMG_EH;
	cie = entry_begin(m);
	put32(m, 0);				/* CIE id */
	put8(m, 1);				/* version */
	put(m, "zR", 3);
	put8(m, 1);				/* code alignment */
	put8(m, 0x78);				/* data alignment -8 */
	put8(m, 16);				/* return address column */
	put8(m, 1);				/* augmentation data length */
	put8(m, 0x1b);				/* FDE pointers: pcrel|sdata4 */
	put(m, cie_insns, sizeof(cie_insns));
	entry_end(m, cie);

	f1 = entry_begin(m);
	put32(m, (uint32_t)(m->at - cie));	/* back to the CIE */
	put_pcrel(m, IMG_VADDR + 0x100);
	put32(m, 0x10);
	put8(m, 0);
	if (huge_reg)
		put(m, huge_insn, sizeof(huge_insn));
	put(m, f1_insns, sizeof(f1_insns));
	entry_end(m, f1);

	f2 = entry_begin(m);
	put32(m, (uint32_t)(m->at - cie));
	put_pcrel(m, IMG_VADDR + 0x110);
	put32(m, 0x8);
	put8(m, 0);
	put(m, f2_insns, sizeof(f2_insns));
	entry_end(m, f2);
	put32(m, 0);				/* terminator */
	eh_end = m->at;

	m->at = IMG_HDR;
	put8(m, 1);				/* version */
	put8(m, 0x1b);				/* eh_frame_ptr: pcrel|sdata4 */
	put8(m, 0x03);				/* fde_count: udata4 */
	put8(m, 0x3b);				/* table: datarel|sdata4 */
	put_pcrel(m, IMG_VADDR + IMG_EH);
	put32(m, 2);
	put32(m, (uint32_t)(0x100 - IMG_HDR));
	put32(m, (uint32_t)(f1 - IMG_HDR));
	put32(m, (uint32_t)(0x110 - IMG_HDR));
	put32(m, (uint32_t)(f2 - IMG_HDR));

	memcpy(m->b + IMG_SHSTR, shstr, sizeof(shstr));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = IMG_VADDR + IMG_TEXT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = IMG_SH;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 5;
	eh->e_shstrndx = 4;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
			      .p_vaddr = IMG_VADDR, .p_paddr = IMG_VADDR,
			      .p_filesz = IMG_SIZE, .p_memsz = IMG_SIZE,
			      .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = with_hdr ? PT_GNU_EH_FRAME : PT_NULL,
			      .p_flags = PF_R, .p_offset = IMG_HDR,
			      .p_vaddr = IMG_VADDR + IMG_HDR,
			      .p_paddr = IMG_VADDR + IMG_HDR,
			      .p_filesz = 28, .p_memsz = 28, .p_align = 4 };
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS,
			      .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = IMG_VADDR + IMG_TEXT, .sh_offset = IMG_TEXT,
			      .sh_size = 0x18, .sh_addralign = 16 };
	/* without the header, the section keeps its bytes but not its name */
	sh[2] = (Elf64_Shdr){ .sh_name = with_hdr ? 7 : 0, .sh_type = SHT_PROGBITS,
			      .sh_flags = SHF_ALLOC, .sh_addr = IMG_VADDR + IMG_HDR,
			      .sh_offset = IMG_HDR, .sh_size = 28, .sh_addralign = 4 };
	sh[3] = (Elf64_Shdr){ .sh_name = 21, .sh_type = SHT_PROGBITS,
			      .sh_flags = SHF_ALLOC, .sh_addr = IMG_VADDR + IMG_EH,
			      .sh_offset = IMG_EH, .sh_size = eh_end - IMG_EH,
			      .sh_addralign = 8 };
	sh[4] = (Elf64_Shdr){ .sh_name = 31, .sh_type = SHT_STRTAB,
			      .sh_offset = IMG_SHSTR, .sh_size = sizeof(shstr),
			      .sh_addralign = 1 };
}

/*
 * The crafted image (with or without an absurd register in its first FDE)
 * through the .eh_frame_hdr table and by scanning .eh_frame: exactly the
 * rows want, without a jump in peak memory.
 */
static void check_crafted(bool huge_reg, const struct mo_unwind_row *want, size_t nwant)
{
	char dir[] = "/tmp/mo_unwind_XXXXXX", path[64];
	struct img *m = malloc(sizeof(*m));
	struct mo_unwind_table t;
	struct rusage before, after;

	assert_non_null(m);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/crafted", dir);
	for (int with_hdr = 1; with_hdr >= 0; with_hdr--) {
		build_image(m, with_hdr, huge_reg);
		write_file(path, m->b, sizeof(m->b));
		getrusage(RUSAGE_SELF, &before);
		assert_int_equal(mo_unwind_table_build(path, &t), 0);
		getrusage(RUSAGE_SELF, &after);
		assert_true(after.ru_maxrss - before.ru_maxrss < 64 * 1024);	/* KiB */
		assert_int_equal(t.vaddr_min, IMG_VADDR);
		assert_int_equal(t.off_to_vaddr, IMG_VADDR);
		assert_int_equal(t.unsupported, 0);
		assert_int_equal(t.nrows, nwant);
		assert_memory_equal(t.rows, want, nwant * sizeof(*want));
		mo_unwind_table_release(&t);
	}
	unlink(path);
	rmdir(dir);
	free(m);
}

/* Rows relative to 0x400000, the adjacent FDE's first row kept, the PLT
 * expression, the outermost frame, then the gap where the FDEs end. */
static void test_crafted_file(void **state)
{
	static const struct mo_unwind_row want[] = {
		{ .pc = 0x100, .cfa = MO_CFA_RSP, .cfa_off = 8 },
		{ .pc = 0x101, .cfa = MO_CFA_RSP, .cfa_off = 16, .rbp_off8 = -2 },
		{ .pc = 0x104, .cfa = MO_CFA_RBP, .cfa_off = 16, .rbp_off8 = -2 },
		{ .pc = 0x10c, .cfa = MO_CFA_RSP, .cfa_off = 8, .rbp_off8 = -2 },
		{ .pc = 0x110, .cfa = MO_CFA_RSP, .cfa_off = 8 },
		{ .pc = 0x114, .cfa = MO_CFA_PLT, .cfa_off = 8 },
		{ .pc = 0x116, .cfa = MO_CFA_END },
		{ .pc = 0x118, .cfa = MO_CFA_NONE },
	};

	check_crafted(false, want, sizeof(want) / sizeof(want[0]));
}

/* An FDE whose program names an absurd register (libdw would size each of
 * its frames by it: gigabytes) gets no rows; its neighbour keeps its own. */
static void test_crafted_huge_register(void **state)
{
	static const struct mo_unwind_row want[] = {
		{ .pc = 0x110, .cfa = MO_CFA_RSP, .cfa_off = 8 },
		{ .pc = 0x114, .cfa = MO_CFA_PLT, .cfa_off = 8 },
		{ .pc = 0x116, .cfa = MO_CFA_END },
		{ .pc = 0x118, .cfa = MO_CFA_NONE },
	};

	check_crafted(true, want, sizeof(want) / sizeof(want[0]));
}

/* ---- errors ----------------------------------------------------------- */

static void test_errors(void **state)
{
	char dir[] = "/tmp/mo_unwind_XXXXXX", path[64];
	struct mo_unwind_table t;
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint8_t code[16];
	} elf = { 0 };

	assert_non_null(mkdtemp(dir));
	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(mo_unwind_table_build("/nonexistent/libnothing.so", &t),
			 -ENOENT);
	assert_null(t.rows);
	assert_int_equal(t.nrows, 0);

	/* a FIFO: refused at once, not waited on for a writer */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	alarm(20);
	assert_int_equal(mo_unwind_table_build(path, &t), -ENOEXEC);
	alarm(0);
	unlink(path);

	snprintf(path, sizeof(path), "%s/text", dir);
	write_file(path, "#!/bin/sh\necho not an ELF file\n", 31);
	assert_int_equal(mo_unwind_table_build(path, &t), -ENOEXEC);
	assert_null(t.rows);
	unlink(path);

	/* a valid x86-64 executable with code and no CFI at all */
	memcpy(elf.eh.e_ident, ELFMAG, SELFMAG);
	elf.eh.e_ident[EI_CLASS] = ELFCLASS64;
	elf.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	elf.eh.e_ident[EI_VERSION] = EV_CURRENT;
	elf.eh.e_type = ET_EXEC;
	elf.eh.e_machine = EM_X86_64;
	elf.eh.e_version = EV_CURRENT;
	elf.eh.e_entry = 0x401000 + offsetof(typeof(elf), code);
	elf.eh.e_phoff = offsetof(typeof(elf), ph);
	elf.eh.e_ehsize = sizeof(Elf64_Ehdr);
	elf.eh.e_phentsize = sizeof(Elf64_Phdr);
	elf.eh.e_phnum = 1;
	elf.ph.p_type = PT_LOAD;
	elf.ph.p_flags = PF_R | PF_X;
	elf.ph.p_vaddr = elf.ph.p_paddr = 0x401000;
	elf.ph.p_filesz = elf.ph.p_memsz = sizeof(elf);
	elf.ph.p_align = 0x1000;
	memset(elf.code, 0xc3, sizeof(elf.code));
	snprintf(path, sizeof(path), "%s/nocfi", dir);
	write_file(path, &elf, sizeof(elf));
	assert_int_equal(mo_unwind_table_build(path, &t), -ENODATA);
	assert_null(t.rows);

	/* the same file for another machine */
	elf.eh.e_machine = EM_AARCH64;
	write_file(path, &elf, sizeof(elf));
	assert_int_equal(mo_unwind_table_build(path, &t), -ENOEXEC);
	unlink(path);
	rmdir(dir);

	mo_unwind_table_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_row),
		cmocka_unit_test(test_bias),
		cmocka_unit_test(test_walk_synthetic),
		cmocka_unit_test(test_walk_stops),
		cmocka_unit_test(test_walk_through_gap),
		cmocka_unit_test(test_walk_first_pc_is_return),
		cmocka_unit_test(test_walk_bounds),
		cmocka_unit_test(test_walk_truncates),
		cmocka_unit_test(test_walk_guess_never_invents),
		cmocka_unit_test(test_ends_with_call),
		cmocka_unit_test(test_handwritten_cfi),
		cmocka_unit_test(test_libc_malloc),
		cmocka_unit_test(test_libstdcxx),
		cmocka_unit_test(test_walk_live_vs_backtrace),
		cmocka_unit_test(test_crafted_file),
		cmocka_unit_test(test_crafted_huge_register),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
