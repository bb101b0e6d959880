/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probesite.h - choose where in a function to place a uprobe.
 *
 * A uprobe on an instruction the kernel can emulate (push reg, jmp, jcc,
 * call, nop) costs one trap; any other instruction is single-stepped out of
 * line, several times as costly here (glibc free+0 is "test %rdi,%rdi").
 * This decoder walks a function's first instructions, skipping only
 * straight-line instructions that change no live argument register, no
 * stack or frame pointer and no control flow (test, cmp, endbr64, and
 * register writes to other registers), and returns the offset of the first
 * emulated instruction. Anything it does not recognize ends the search at
 * the last safe offset (0 in the worst case), so a wrong guess is
 * impossible, only a missed optimisation. x86-64 only.
 */
#ifndef MO_PROBESITE_H
#define MO_PROBESITE_H

#include <stddef.h>
#include <stdint.h>

struct mo_probe_site {
	size_t offset;		/* bytes from the function start */
	int emulated;		/* 1: the instruction at offset is one the kernel emulates */
	const char *insn;	/* short mnemonic of that instruction, for logs */
};

/* Argument registers, as bits of their x86 numbers (rax = 0 ... r15 = 15). */
#define MO_ARG_RDI (1u << 7)
#define MO_ARG_RSI (1u << 6)
#define MO_ARG_RDX (1u << 2)
#define MO_ARGS_ALL (MO_ARG_RDI | MO_ARG_RSI | MO_ARG_RDX | (1u << 1) | (1u << 8) | (1u << 9))

/* code: the function's first len bytes (64 is plenty). Never fails.
 * Every argument register counts as live. */
void mo_probe_site_pick(const uint8_t *code, size_t len, struct mo_probe_site *out);

/* The same when only the registers in live (MO_ARG_*) hold arguments the
 * probe reads: instructions writing other registers may run before it. */
void mo_probe_site_pick_args(const uint8_t *code, size_t len, unsigned live,
			     struct mo_probe_site *out);

#endif
