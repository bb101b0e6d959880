// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_probesite.c - the prologue decoder on byte arrays for every class
 * it knows (emulated, skippable, unknown) and its limits, then on glibc's
 * allocator entry points located with mo_elf_find_funcs. The glibc
 * expectations were read off `objdump -d` of Debian 12's glibc 2.36.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "elfsym.h"
#include "probesite.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static void expect(const uint8_t *code, size_t len, size_t offset,
		   int emulated, const char *insn)
{
	struct mo_probe_site s = { .offset = 99, .emulated = 7, .insn = NULL };

	mo_probe_site_pick(code, len, &s);
	assert_int_equal(s.offset, offset);
	assert_int_equal(s.emulated, emulated);
	assert_non_null(s.insn);
	assert_string_equal(s.insn, insn);
}

#define EXPECT(offset, emulated, insn, ...)                                  \
	do {                                                                 \
		const uint8_t c_[] = { __VA_ARGS__ };                        \
		expect(c_, sizeof(c_), offset, emulated, insn);              \
	} while (0)

#define ENTRY(...) EXPECT(0, 0, "entry", __VA_ARGS__)

static void test_push(void **state)
{
	EXPECT(0, 1, "push", 0x55, 0x48, 0x89, 0xe5);		/* push %rbp */
	EXPECT(0, 1, "push", 0x50);				/* push %rax */
	EXPECT(0, 1, "push", 0x57);				/* push %rdi */
	EXPECT(0, 1, "push", 0x41, 0x54);			/* push %r12 */
	EXPECT(0, 1, "push", 0x41, 0x57);			/* push %r15 */
	/* The kernel emulates push only with no REX or REX.B alone. */
	ENTRY(0x48, 0x50);					/* rex.W push %rax */
	ENTRY(0x49, 0x54);					/* rex.WB push %r12 */
	ENTRY(0x41);						/* truncated */
	ENTRY(0x41, 0x58);					/* pop %r8 */
}

static void test_branches(void **state)
{
	EXPECT(0, 1, "jmp", 0xeb, 0x05);
	EXPECT(0, 1, "jmp", 0xe9, 0x10, 0x00, 0x00, 0x00);
	EXPECT(0, 1, "call", 0xe8, 0x10, 0x00, 0x00, 0x00);
	EXPECT(0, 1, "jcc", 0x70, 0x02);			/* jo */
	EXPECT(0, 1, "jcc", 0x74, 0x07);			/* je */
	EXPECT(0, 1, "jcc", 0x7f, 0xfe);			/* jg */
	EXPECT(0, 1, "jcc", 0x0f, 0x80, 0, 0, 0, 0);		/* jo rel32 */
	EXPECT(0, 1, "jcc", 0x0f, 0x84, 0xbf, 0, 0, 0);	/* je rel32 */
	EXPECT(0, 1, "jcc", 0x0f, 0x8f, 0, 0, 0, 0);		/* jg rel32 */
	/* Truncated immediates are not trusted. */
	ENTRY(0xeb);
	ENTRY(0xe9, 0x10, 0x00, 0x00);
	ENTRY(0xe8, 0x10);
	ENTRY(0x74);
	ENTRY(0x0f, 0x84, 0, 0, 0);
	/* The kernel refuses 66-prefixed branches; indirect ones are unknown. */
	ENTRY(0x66, 0xe9, 0x10, 0x00);
	ENTRY(0xff, 0xe0);					/* jmp *%rax */
	ENTRY(0xc3);						/* ret */
}

static void test_nops(void **state)
{
	/* The kernel's x86_nops[1..8] are emulated. */
	EXPECT(0, 1, "nop", 0x90);
	EXPECT(0, 1, "nop", 0x66, 0x90);
	EXPECT(0, 1, "nop", 0x0f, 0x1f, 0x00);
	EXPECT(0, 1, "nop", 0x0f, 0x1f, 0x40, 0x00);
	EXPECT(0, 1, "nop", 0x0f, 0x1f, 0x44, 0x00, 0x00);
	EXPECT(0, 1, "nop", 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00);
	EXPECT(0, 1, "nop", 0x0f, 0x1f, 0x80, 0, 0, 0, 0);
	EXPECT(0, 1, "nop", 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0);
	/* Other nop encodings are skipped to the next instruction. */
	EXPECT(10, 1, "push", 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0,
	       0x55);						/* nopw %cs:0(%rax,%rax) */
	EXPECT(11, 1, "push", 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0,
	       0, 0x55);
	EXPECT(3, 1, "jcc", 0x0f, 0x1f, 0xc0, 0x74, 0x00);	/* nop %eax */
	EXPECT(4, 1, "push", 0x0f, 0x1f, 0x40, 0x08, 0x53);	/* nopl 8(%rax) */
	EXPECT(4, 1, "push", 0x0f, 0x1f, 0x04, 0x00, 0x53);	/* nopl (%rax,%rax) */
	/* 0f 1f with reg != 0 is not a nop; f3 90 is pause; 41 90 is xchg. */
	ENTRY(0x0f, 0x1f, 0x48, 0x00, 0x55);
	ENTRY(0xf3, 0x90, 0x55);
	ENTRY(0x41, 0x90, 0x55);
	ENTRY(0x0f, 0x1f, 0x84, 0, 0, 0);			/* truncated */
}

static void test_skip_endbr_test(void **state)
{
	/* endbr64; push %rbp */
	EXPECT(4, 1, "push", 0xf3, 0x0f, 0x1e, 0xfa, 0x55);
	/* endbr64; test %rdi,%rdi; je */
	EXPECT(7, 1, "jcc", 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x85, 0xff, 0x74, 0x10);
	/* test %rdi,%rdi; je rel32 (glibc free) */
	EXPECT(3, 1, "jcc", 0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0);
	EXPECT(2, 1, "jcc", 0x85, 0xff, 0x74, 0x05);		/* test %edi,%edi */
	EXPECT(2, 1, "jcc", 0x84, 0xc0, 0x75, 0x05);		/* test %al,%al */
	EXPECT(3, 1, "jcc", 0x4d, 0x85, 0xc0, 0x74, 0x05);	/* test %r8,%r8 */
	EXPECT(3, 1, "push", 0x40, 0x84, 0xff, 0x53);		/* test %dil,%dil */
	/* test %eax,0x10(%rip) reads memory only. */
	EXPECT(6, 1, "jcc", 0x85, 0x05, 0x10, 0, 0, 0, 0x74, 0x00);
	/* test with a base-register memory operand only reads memory. */
	EXPECT(2, 1, "jcc", 0x85, 0x07, 0x74, 0x00);		/* test %eax,(%rdi) */
	/* test then mul: stop, probe the entry. */
	ENTRY(0x48, 0x85, 0xff, 0x48, 0xf7, 0xe7);
	/* test then the end of the buffer. */
	ENTRY(0x48, 0x85, 0xff);
	ENTRY(0x48, 0x85);
	ENTRY(0xf3, 0x0f, 0x1e);
}

static void test_skip_cmp(void **state)
{
	EXPECT(3, 1, "jcc", 0x48, 0x39, 0xf7, 0x77, 0x00);	/* cmp %rsi,%rdi */
	EXPECT(3, 1, "jcc", 0x48, 0x3b, 0xfe, 0x77, 0x00);	/* cmp %rsi,%rdi */
	EXPECT(2, 1, "jcc", 0x38, 0xc8, 0x77, 0x00);		/* cmp %cl,%al */
	EXPECT(2, 1, "jcc", 0x3a, 0xc1, 0x77, 0x00);		/* cmp %cl,%al */
	EXPECT(4, 1, "jcc", 0x48, 0x83, 0xff, 0x40, 0x76, 0x00);	/* cmp $0x40,%rdi */
	EXPECT(3, 1, "jcc", 0x83, 0xff, 0x40, 0x76, 0x00);	/* cmp $0x40,%edi */
	EXPECT(7, 1, "jcc", 0x48, 0x81, 0xff, 0, 0x10, 0, 0, 0x76, 0x00);
	EXPECT(3, 1, "jcc", 0x80, 0xff, 0x05, 0x74, 0x00);	/* cmp $5,%bh */
	EXPECT(4, 1, "jcc", 0x41, 0x80, 0xf8, 0x05, 0x74, 0x00);	/* cmp $5,%r8b */
	EXPECT(2, 1, "jcc", 0x3c, 0x05, 0x74, 0x00);		/* cmp $5,%al */
	EXPECT(5, 1, "jcc", 0x3d, 0, 1, 0, 0, 0x74, 0x00);	/* cmp $0x100,%eax */
	EXPECT(6, 1, "jcc", 0x48, 0x3d, 0, 1, 0, 0, 0x74, 0x00);	/* cmp $0x100,%rax */
	/* cmp $imm, disp32(%rip): glibc's malloc-initialized checks. */
	EXPECT(7, 1, "push", 0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x41, 0x54);
	EXPECT(7, 1, "jcc", 0x83, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x74, 0x07);
	EXPECT(8, 1, "jcc", 0x48, 0x83, 0x3d, 1, 2, 3, 4, 0x00, 0x74, 0x07);
	EXPECT(10, 1, "jcc", 0x81, 0x3d, 1, 2, 3, 4, 0, 1, 0, 0, 0x74, 0x07);
	EXPECT(11, 1, "jcc", 0x48, 0x81, 0x3d, 1, 2, 3, 4, 0, 1, 0, 0, 0x74, 0x07);
	/* cmp %rdi,disp32(%rip) */
	EXPECT(7, 1, "jcc", 0x48, 0x39, 0x3d, 1, 2, 3, 4, 0x74, 0x07);
	/* 83 with /reg != 7 is add/or/sub/...: they write the register. */
	ENTRY(0x83, 0xc7, 0x05, 0x74, 0x00);			/* add $5,%edi */
	ENTRY(0x48, 0x83, 0xec, 0x18, 0x55);			/* sub $0x18,%rsp */
	ENTRY(0x80, 0x35, 1, 2, 3, 4, 0, 0x55);		/* xorb $0,(%rip) */
	/* cmpb $0,8(%rdi) reads memory through a base register. */
	EXPECT(4, 1, "jcc", 0x80, 0x7f, 0x08, 0x00, 0x74, 0x00);
	/* Immediates cut off by the buffer end. */
	ENTRY(0x80, 0x3d, 0x01, 0x02, 0x14, 0x00);
	ENTRY(0x48, 0x81, 0xff, 0, 0x10, 0);
	ENTRY(0x3d, 0, 1, 0);
	ENTRY(0x3c);
}

static void expect_args(const uint8_t *code, size_t len, unsigned live, size_t offset,
			int emulated)
{
	struct mo_probe_site s;

	mo_probe_site_pick_args(code, len, live, &s);
	assert_int_equal(s.offset, offset);
	assert_int_equal(s.emulated, emulated);
}

/*
 * jemalloc 5.3 (Debian's libjemalloc2): free computes its thread cache
 * slot in nine register-only instructions before its first jcc. Only rdi
 * is an argument of free: the probe goes on the jne (0x30). With every
 * argument register live the write to rdx stops the walk at the entry.
 */
static void test_register_writes(void **state)
{
	static const uint8_t je_free[] = {
		0x48, 0x89, 0xf8,				/* mov %rdi,%rax */
		0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00,	/* mov 0xa530e(%rip),%rdx */
		0x48, 0x89, 0xf9,				/* mov %rdi,%rcx */
		0x48, 0xc1, 0xe8, 0x1a,				/* shr $0x1a,%rax */
		0x48, 0x81, 0xe1, 0x00, 0x00, 0x00, 0xc0,	/* and $0xc0000000,%rcx */
		0x25, 0xf0, 0x00, 0x00, 0x00,			/* and $0xf0,%eax */
		0x64, 0x48, 0x03, 0x04, 0x25, 0, 0, 0, 0,	/* add %fs:0x0,%rax */
		0x48, 0x01, 0xd0,				/* add %rdx,%rax */
		0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00,	/* cmp 0x1b0(%rax),%rcx */
		0x0f, 0x85, 0x8a, 0x00, 0x00, 0x00,		/* jne */
	};
	static const uint8_t je_sdallocx[] = {
		0x49, 0x89, 0xf8,				/* mov %rdi,%r8 */
		0x48, 0x81, 0xfe, 0x00, 0x10, 0x00, 0x00,	/* cmp $0x1000,%rsi */
		0x77, 0x0c,					/* ja */
	};
	static const uint8_t writes_rsi[] = {
		0x48, 0x89, 0xfe,				/* mov %rdi,%rsi */
		0x74, 0x00,
	};

	expect_args(je_free, sizeof(je_free), MO_ARG_RDI, 0x30, 1);
	expect_args(je_free, sizeof(je_free), MO_ARGS_ALL, 0, 0);
	expect_args(je_free, sizeof(je_free) - 1, MO_ARG_RDI, 0, 0);	/* jne cut short */
	expect_args(je_sdallocx, sizeof(je_sdallocx), MO_ARG_RDI | MO_ARG_RSI | MO_ARG_RDX, 10, 1);
	expect_args(je_sdallocx, sizeof(je_sdallocx), MO_ARGS_ALL, 0, 0);	/* r8 */
	expect_args(writes_rsi, sizeof(writes_rsi), MO_ARG_RDI, 3, 1);
	expect_args(writes_rsi, sizeof(writes_rsi), MO_ARG_RDI | MO_ARG_RSI, 0, 0);
	/* rsp and rbp are never written before the probe, whatever is live */
	{
		static const uint8_t c[] = { 0x48, 0x89, 0xe5, 0x74, 0x00 };	/* mov %rsp,%rbp */
		static const uint8_t d[] = { 0x48, 0x83, 0xc4, 0x08, 0x74, 0x00 }; /* add $8,%rsp */

		expect_args(c, sizeof(c), 0, 0, 0);
		expect_args(d, sizeof(d), 0, 0, 0);
	}
	/* writes to memory are never skipped */
	{
		static const uint8_t c[] = { 0x48, 0x89, 0x07, 0x74, 0x00 };	/* mov %rax,(%rdi) */

		expect_args(c, sizeof(c), 0, 0, 0);
	}
}

static void test_unknown_and_limits(void **state)
{
	struct mo_probe_site s;

	/* mov %rdi,%rbx writes no argument register: skipped */
	EXPECT(3, 1, "push", 0x48, 0x89, 0xfb, 0x55);
	ENTRY(0x48, 0x89, 0xdf, 0x55);				/* mov %rbx,%rdi */
	ENTRY(0x48, 0x83, 0xec, 0x08);				/* sub $8,%rsp */
	ENTRY(0x48, 0x89, 0xe5, 0x55);				/* mov %rsp,%rbp */
	ENTRY(0x31, 0xc0);					/* xor %eax,%eax, then nothing */
	ENTRY(0xcc);						/* int3 */
	ENTRY(0x40);						/* lone REX */

	/* Eleven skipped instructions then an emulated twelfth. */
	EXPECT(22, 1, "jcc", 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0,
	       0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x74, 0x00);
	/* Twelve skipped: the thirteenth is beyond the search. */
	ENTRY(0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0,
	      0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x85, 0xc0, 0x74, 0x00);

	/* len bounds the walk, not the array. */
	{
		const uint8_t c[] = { 0x48, 0x85, 0xff, 0x74, 0x00 };

		expect(c, 3, 0, 0, "entry");
		expect(c, 4, 0, 0, "entry");
		expect(c, 5, 3, 1, "jcc");
		expect(c, 0, 0, 0, "entry");
	}
	mo_probe_site_pick(NULL, 16, &s);
	assert_int_equal(s.offset, 0);
	assert_int_equal(s.emulated, 0);
	assert_string_equal(s.insn, "entry");
	mo_probe_site_pick((const uint8_t *)"\x55", 1, NULL);
}

struct libc_case {
	const char *name;
	size_t offset;
	const char *insn;
	uint8_t first[2];	/* code bytes at offset, as objdump shows */
};

static void test_libc_allocators(void **state)
{
	static const struct libc_case cases[] = {
		{ "malloc", 0, "push", { 0x41, 0x54 } },	/* push %r12 */
		{ "free", 3, "jcc", { 0x0f, 0x84 } },		/* test; je */
		{ "posix_memalign", 7, "push", { 0x41, 0x54 } },	/* cmpb; push */
		{ "memalign", 7, "jcc", { 0x74, 0x07 } },	/* cmpb; je */
		{ "aligned_alloc", 7, "jcc", { 0x74, 0x07 } },
		{ "calloc", 0, "push", { 0x41, 0x55 } },	/* push %r13 */
		{ "realloc", 0, "push", { 0x41, 0x57 } },	/* push %r15 */
		{ "valloc", 7, "push", { 0x53, 0x48 } },	/* cmpb; push %rbx */
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct mo_elf_func f[N];

	memset(f, 0, sizeof(f));
	for (int i = 0; i < N; i++)
		f[i].name = cases[i].name;
	assert_int_equal(mo_elf_find_funcs(LIBC, f, N), N);

	for (int i = 0; i < N; i++) {
		struct mo_probe_site s;

		assert_int_equal(f[i].found, 1);
		assert_true(f[i].code_len >= 16 && f[i].code_len <= sizeof(f[i].code));
		mo_probe_site_pick(f[i].code, f[i].code_len, &s);
		assert_int_equal(s.offset, cases[i].offset);
		assert_int_equal(s.emulated, 1);
		assert_string_equal(s.insn, cases[i].insn);
		assert_memory_equal(f[i].code + s.offset, cases[i].first, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push),
		cmocka_unit_test(test_branches),
		cmocka_unit_test(test_nops),
		cmocka_unit_test(test_skip_endbr_test),
		cmocka_unit_test(test_skip_cmp),
		cmocka_unit_test(test_unknown_and_limits),
		cmocka_unit_test(test_register_writes),
		cmocka_unit_test(test_libc_allocators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
