/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probesite.h - choose where in a function to place a uprobe.
 *
 * A uprobe on an instruction the kernel can emulate (push reg, jmp, jcc,
 * call, nop) costs one trap; any other instruction is single-stepped out of
 * line, several times as costly here (glibc free+0 is "test %rdi,%rdi").
 * This decoder walks a function's first instructions, skipping only
 * instructions that change no argument register, no stack pointer and no
 * control flow (test, cmp, endbr64), and returns the offset of the first
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

/* code: the function's first len bytes (32 is plenty). Never fails. */
void mo_probe_site_pick(const uint8_t *code, size_t len, struct mo_probe_site *out);

#endif
