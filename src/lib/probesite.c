// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probesite.c - a deliberately tiny x86-64 decoder for function prologues.
 * It knows three classes: what the kernel emulates on a uprobe hit (push,
 * jmp, jcc, call and, since 6.16, the kernel's own nop encodings); what
 * may run before the probe without changing what the probe observes
 * (flags-only test/cmp, endbr64, other nops); and straight-line
 * instructions that write one general register (mov, lea, add, and, shr,
 * ...), which may run before the probe when that register is none of the
 * function's live arguments, rsp or rbp. Everything else is "unknown" and
 * ends the search.
 */
#include <string.h>

#include "probesite.h"

/*
 * glibc's allocator needs two instructions (cmpb + push, test + jcc);
 * jemalloc's free computes its thread cache slot in nine register-only
 * instructions before its first jcc. Twelve covers both.
 */
#define MAX_INSNS 12

enum insn_class {
	INSN_UNKNOWN,
	INSN_SKIP,	/* flags or nothing change: the probe may go after it */
	INSN_EMULATED,	/* the kernel emulates it: probe here */
	INSN_WRITES,	/* writes general register dst only: skippable unless dst is live */
};

struct insn {
	enum insn_class cls;
	size_t len;
	const char *name;
	unsigned dst;	/* INSN_WRITES: register number, rax = 0 ... r15 = 15 */
};

/*
 * The kernel emulates a nop only when it is byte for byte one of its own
 * x86_nops[len] (arch/x86/include/asm/nops.h, since 6.16), or has opcode
 * 0x90. Other nop encodings are still nops, so they are merely skipped.
 */
static const uint8_t kernel_nops[9][8] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static void set(struct insn *insn, enum insn_class cls, size_t len,
		const char *name)
{
	insn->cls = cls;
	insn->len = len;
	insn->name = name;
}

static int is_rex(uint8_t b)
{
	return b >= 0x40 && b <= 0x4f;
}

/* Full ModRM + SIB + displacement length of an operand (memory operands
 * are only ever read by the instructions accepted here), 0 if cut short. */
static size_t modrm_len(const uint8_t *p, size_t avail)
{
	uint8_t mod = p[0] >> 6, rm = p[0] & 7;
	size_t len = 1;

	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (avail < 2)
			return 0;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			return len + 4;
	}
	if (mod == 0 && rm == 5)
		len += 4;
	else if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return len <= avail ? len : 0;
}

/* 0f 1f /0 with optional 66 and 2e prefixes, as assemblers pad with. */
static void decode_nop(const uint8_t *p, size_t avail, struct insn *insn)
{
	size_t i = 0, m;

	while (i < avail && i < 8 && (p[i] == 0x66 || p[i] == 0x2e))
		i++;
	if (avail - i < 3 || p[i] != 0x0f || p[i + 1] != 0x1f ||
	    ((p[i + 2] >> 3) & 7) != 0)
		return;
	m = modrm_len(p + i + 2, avail - i - 2);
	if (!m || m > avail - i - 2)
		return;
	i += 2 + m;
	if (i < sizeof(kernel_nops[0]) + 1 && !memcmp(p, kernel_nops[i], i))
		set(insn, INSN_EMULATED, i, "nop");
	else
		set(insn, INSN_SKIP, i, "nop");
}

/*
 * Flags-only instructions after an optional REX prefix at p[0..i): test
 * and cmp between registers, against an immediate, or reading memory.
 */
static void decode_flags_only(const uint8_t *p, size_t avail, size_t i,
			      struct insn *insn)
{
	size_t m, imm;
	uint8_t op;

	if (i >= avail)
		return;
	op = p[i];
	switch (op) {
	case 0x3c:	/* cmp $imm8, %al */
		if (avail - i >= 2)
			set(insn, INSN_SKIP, i + 2, "cmp");
		return;
	case 0x3d:	/* cmp $imm32, %eax/%rax */
		if (avail - i >= 5)
			set(insn, INSN_SKIP, i + 5, "cmp");
		return;
	case 0x84:	/* test r8, r/m8 */
	case 0x85:	/* test r, r/m */
	case 0x38:	/* cmp r8, r/m8 */
	case 0x39:	/* cmp r, r/m */
	case 0x3a:	/* cmp r/m8, r8 */
	case 0x3b:	/* cmp r/m, r */
		if (avail - i < 2)
			return;
		m = modrm_len(p + i + 1, avail - i - 1);
		if (m)
			set(insn, INSN_SKIP, i + 1 + m,
			    op == 0x84 || op == 0x85 ? "test" : "cmp");
		return;
	case 0x80:	/* cmp $imm8, r/m8 (/7) */
	case 0x81:	/* cmp $imm32, r/m (/7) */
	case 0x83:	/* cmp $imm8, r/m (/7) */
		if (avail - i < 2 || ((p[i + 1] >> 3) & 7) != 7)
			return;
		m = modrm_len(p + i + 1, avail - i - 1);
		imm = op == 0x81 ? 4 : 1;
		if (m && avail - i - 1 >= m + imm)
			set(insn, INSN_SKIP, i + 1 + m + imm, "cmp");
		return;
	default:
		return;
	}
}

static void writes(struct insn *insn, size_t len, unsigned dst, const char *name)
{
	set(insn, INSN_WRITES, len, name);
	insn->dst = dst;
}

/*
 * Straight-line instructions that write one general register and read
 * registers, immediates or memory: p[0..i) holds an optional fs/gs prefix
 * and REX. Register-direct destinations only (mod = 11) where the ModRM's
 * r/m is the destination; any memory operand when it is a source.
 */
static void decode_writes(const uint8_t *p, size_t avail, size_t i, uint8_t rex,
			  struct insn *insn)
{
	unsigned reg, rm, ext;
	uint8_t op;
	size_t m;

	if (i >= avail)
		return;
	op = p[i];
	switch (op) {
	case 0x05: case 0x0d: case 0x25: case 0x2d: case 0x35:
		/* add/or/and/sub/xor $imm32, %eax/%rax */
		if (avail - i >= 5)
			writes(insn, i + 5, 0, "alu");
		return;
	case 0xb8 ... 0xbf: {	/* mov $imm, %reg */
		size_t imm = rex & 8 ? 8 : 4;

		if (avail - i >= 1 + imm)
			writes(insn, i + 1 + imm, (unsigned)(op - 0xb8) | (rex & 1 ? 8 : 0), "mov");
		return;
	}
	default:
		break;
	}
	if (avail - i < 2)
		return;
	reg = ((p[i + 1] >> 3) & 7) | (rex & 4 ? 8 : 0);
	rm = (p[i + 1] & 7) | (rex & 1 ? 8 : 0);
	ext = (p[i + 1] >> 3) & 7;
	m = modrm_len(p + i + 1, avail - i - 1);
	if (!m)
		return;
	switch (op) {
	case 0x8b: case 0x03: case 0x2b: case 0x23: case 0x0b: case 0x33: case 0x8d:
		/* mov/add/sub/and/or/xor r/m -> reg, lea */
		writes(insn, i + 1 + m, reg, op == 0x8d ? "lea" : "mov");
		return;
	case 0x89: case 0x01: case 0x29: case 0x21: case 0x09: case 0x31:
		/* reg -> r/m, register destinations only */
		if (p[i + 1] >> 6 == 3)
			writes(insn, i + 2, rm, "mov");
		return;
	case 0xc1:	/* shl/shr/sar $imm8 */
		if (p[i + 1] >> 6 == 3 && (ext == 4 || ext == 5 || ext == 7) && avail - i >= 3)
			writes(insn, i + 3, rm, "shift");
		return;
	case 0x81: case 0x83: {	/* add/or/and/sub/xor $imm (cmp is flags-only) */
		size_t imm = op == 0x81 ? 4 : 1;

		if (p[i + 1] >> 6 == 3 && ext != 2 && ext != 3 && ext != 7 &&
		    avail - i >= 2 + imm)
			writes(insn, i + 2 + imm, rm, "alu");
		return;
	}
	default:
		return;
	}
}

static void decode(const uint8_t *p, size_t avail, struct insn *insn)
{
	set(insn, INSN_UNKNOWN, 0, "entry");
	if (!avail)
		return;

	switch (p[0]) {
	case 0x50 ... 0x57:
		set(insn, INSN_EMULATED, 1, "push");
		return;
	case 0x41:	/* the only REX prefix the kernel emulates push with */
		if (avail >= 2 && p[1] >= 0x50 && p[1] <= 0x57) {
			set(insn, INSN_EMULATED, 2, "push");
			return;
		}
		break;
	case 0x70 ... 0x7f:
		if (avail >= 2)
			set(insn, INSN_EMULATED, 2, "jcc");
		return;
	case 0xeb:
		if (avail >= 2)
			set(insn, INSN_EMULATED, 2, "jmp");
		return;
	case 0xe9:
		if (avail >= 5)
			set(insn, INSN_EMULATED, 5, "jmp");
		return;
	case 0xe8:
		if (avail >= 5)
			set(insn, INSN_EMULATED, 5, "call");
		return;
	case 0x90:
		set(insn, INSN_EMULATED, 1, "nop");
		return;
	case 0x0f:
		if (avail >= 6 && p[1] >= 0x80 && p[1] <= 0x8f) {
			set(insn, INSN_EMULATED, 6, "jcc");
			return;
		}
		decode_nop(p, avail, insn);
		return;
	case 0x66:
		if (avail >= 2 && p[1] == 0x90) {
			set(insn, INSN_EMULATED, 2, "nop");
			return;
		}
		decode_nop(p, avail, insn);
		return;
	case 0x2e:
		decode_nop(p, avail, insn);
		return;
	case 0xf3:
		if (avail >= 4 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
			set(insn, INSN_SKIP, 4, "endbr64");
		return;
	default:
		break;
	}
	decode_flags_only(p, avail, is_rex(p[0]) ? 1 : 0, insn);
	if (insn->cls == INSN_UNKNOWN) {
		size_t i = p[0] == 0x64 || p[0] == 0x65 ? 1 : 0;	/* fs, gs */
		uint8_t rex = i < avail && is_rex(p[i]) ? p[i] : 0;

		decode_writes(p, avail, i + (rex ? 1 : 0), rex, insn);
	}
}

void mo_probe_site_pick(const uint8_t *code, size_t len, struct mo_probe_site *out)
{
	mo_probe_site_pick_args(code, len, MO_ARGS_ALL, out);
}

void mo_probe_site_pick_args(const uint8_t *code, size_t len, unsigned live,
			     struct mo_probe_site *out)
{
	/* rsp and rbp: the return address and the frame-pointer guess */
	unsigned keep = live | (1u << 4) | (1u << 5);

	size_t off = 0;
	struct insn insn;

	if (!out)
		return;
	out->offset = 0;
	out->emulated = 0;
	out->insn = "entry";
	if (!code)
		return;

	/*
	 * Every skipped instruction is straight-line and leaves rsp, rbp, rip
	 * flow and the live argument registers as they were at entry, so a
	 * probe after them sees the entry state; any jump into the skipped
	 * range still falls through to the probe.
	 */
	for (int n = 0; n < MAX_INSNS && off < len; n++) {
		decode(code + off, len - off, &insn);
		if (insn.cls == INSN_EMULATED) {
			out->offset = off;
			out->emulated = 1;
			out->insn = insn.name;
			return;
		}
		if (insn.cls == INSN_WRITES && (keep >> insn.dst) & 1)
			return;
		if (insn.cls != INSN_SKIP && insn.cls != INSN_WRITES)
			return;
		off += insn.len;
	}
}
