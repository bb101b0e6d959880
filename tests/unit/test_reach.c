// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The reachability scanner: the core on synthetic address spaces (a readv
 * over local buffers with process_vm_readv's contract), the root rules on
 * synthetic maps, and the live driver on the reach_* fixtures run as
 * children (build/fixtures, or $MO_FIXTURES).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "reach.h"

/* ---- a synthetic address space ---- */

struct region {
	uint64_t addr;
	size_t len;
	uint8_t *data;
};

struct mem {
	struct region r[8];
	int n;
	int fail;		/* readv fails with -fail */
	unsigned long calls;
};

static ssize_t mem_readv(void *ctx, const struct iovec *l, const struct iovec *r, unsigned long n)
{
	struct mem *m = ctx;
	size_t total = 0;
	unsigned long i;

	m->calls++;
	if (m->fail)
		return -m->fail;
	for (i = 0; i < n; i++) {
		uint64_t a = (uint64_t)(uintptr_t)r[i].iov_base;
		size_t len = r[i].iov_len;
		uint8_t *dst = l[i].iov_base;

		assert_int_equal(l[i].iov_len, len);
		while (len) {
			const struct region *g = NULL;
			size_t k;
			int j;

			for (j = 0; j < m->n; j++)
				if (a >= m->r[j].addr && a < m->r[j].addr + m->r[j].len)
					g = &m->r[j];
			if (!g)
				return total ? (ssize_t)total : -EFAULT;
			k = g->addr + g->len - a;
			if (k > len)
				k = len;
			memcpy(dst, g->data + (a - g->addr), k);
			a += k;
			dst += k;
			len -= k;
			total += k;
		}
	}
	return (ssize_t)total;
}

static void mem_add(struct mem *m, uint64_t addr, size_t len)
{
	assert_true(m->n < 8);
	m->r[m->n].addr = addr;
	m->r[m->n].len = len;
	m->r[m->n].data = calloc(1, len);
	assert_non_null(m->r[m->n].data);
	m->n++;
}

static void mem_free(struct mem *m)
{
	int i;

	for (i = 0; i < m->n; i++)
		free(m->r[i].data);
	m->n = 0;
}

static void put(struct mem *m, uint64_t addr, uint64_t v)
{
	int j;

	for (j = 0; j < m->n; j++)
		if (addr >= m->r[j].addr && addr + 8 <= m->r[j].addr + m->r[j].len) {
			memcpy(m->r[j].data + (addr - m->r[j].addr), &v, 8);
			return;
		}
	fail_msg("put outside the regions: %#llx", (unsigned long long)addr);
}

/* Roots: the whole first region ("data + heap"). */
static int classify(struct mem *m, const struct mo_reach_block *b, size_t n,
		    struct mo_reach_result *out)
{
	struct mo_reach_range root = { m->r[0].addr, m->r[0].addr + m->r[0].len };
	struct mo_reach_input in = {
		.readv = mem_readv, .ctx = m, .roots = &root, .nr_roots = 1,
		.blocks = b, .nr = n, .chunk_bytes = 64 * 1024,
	};

	return mo_reach_classify(&in, out);
}

#define HEAP 0x10000000ULL
#define R MO_REACH_REACHABLE
#define DL MO_REACH_DEFINITELY_LOST
#define IL MO_REACH_INDIRECTLY_LOST
#define UN MO_REACH_UNKNOWN

static void expect_classes(const struct mo_reach_result *r, const uint8_t *want, size_t n)
{
	size_t i;

	assert_int_equal(r->nr, n);
	for (i = 0; i < n; i++) {
		if (r->cls[i] != want[i])
			fail_msg("block %zu: %s (why %s), want %s", i, mo_reach_class_name(r->cls[i]),
				 mo_reach_why_name(r->why[i]), mo_reach_class_name(want[i]));
	}
}

/* Interior pointers count, one past the end does not, a size-0 block owns
 * its address, unaligned words are not pointers. */
static void test_lookup(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = {
		{ HEAP + 0x1000, 64, 1 }, { HEAP + 0x2000, 0, 2 },
		{ HEAP + 0x3000, 64, 3 }, { HEAP + 0x4000, 64, 4 },
	};
	static const uint8_t want[] = { R, R, DL, DL };
	struct mo_reach_result r;
	uint8_t *p;

	mem_add(&m, HEAP, 0x8000);
	put(&m, HEAP + 0x10, HEAP + 0x1000 + 63);
	put(&m, HEAP + 0x18, HEAP + 0x2000);
	put(&m, HEAP + 0x20, HEAP + 0x3000 + 64);
	/* HEAP + 0x4000 written at an odd offset */
	p = m.r[0].data + 0x31;
	{
		uint64_t v = HEAP + 0x4000;

		memcpy(p, &v, 8);
	}
	assert_int_equal(classify(&m, b, 4, &r), 0);
	expect_classes(&r, want, 4);
	assert_int_equal(r.stats.count[DL], 2);
	assert_int_equal(r.stats.bytes[DL], 128);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* A lost list whose head has the highest address: valgrind's cliques make
 * the head the only definitely lost block. Unsorted input. */
static void test_list(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[5];
	uint8_t want[5];
	struct mo_reach_result r;
	int i;

	mem_add(&m, HEAP, 0x8000);
	/* node i at HEAP + 0x1000 * (5 - i): head (i = 0) highest */
	for (i = 0; i < 5; i++) {
		b[i] = (struct mo_reach_block){ HEAP + 0x1000 * (5 - i), 32, (uint64_t)i };
		want[i] = i == 0 ? DL : IL;
	}
	for (i = 0; i < 4; i++)
		put(&m, b[i].addr + 8, b[i + 1].addr);
	assert_int_equal(classify(&m, b, 5, &r), 0);
	expect_classes(&r, want, 5);
	mo_reach_result_release(&r);
	/* referenced from untracked heap memory: all reachable */
	put(&m, HEAP + 0x10, b[0].addr + 16);
	assert_int_equal(classify(&m, b, 5, &r), 0);
	memset(want, R, sizeof(want));
	expect_classes(&r, want, 5);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* A 2-cycle: the lower address leads; a self loop; a 3-cycle with a tail
 * whose members are visited out of address order. */
static void test_cycles(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = {
		{ HEAP + 0x2000, 64, 0 }, { HEAP + 0x1000, 64, 0 },	/* 2-cycle */
		{ HEAP + 0x3000, 64, 0 },				/* self loop */
		{ HEAP + 0x6000, 64, 0 }, { HEAP + 0x4000, 64, 0 },	/* 3-cycle */
		{ HEAP + 0x5000, 64, 0 }, { HEAP + 0x7000, 64, 0 },	/* + tail */
	};
	static const uint8_t want[] = { IL, DL, DL, IL, DL, IL, IL };
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x8000);
	put(&m, b[0].addr, b[1].addr + 8);
	put(&m, b[1].addr, b[0].addr);
	put(&m, b[2].addr + 8, b[2].addr);
	put(&m, b[3].addr, b[4].addr);
	put(&m, b[4].addr, b[5].addr);
	put(&m, b[5].addr, b[3].addr);
	put(&m, b[3].addr + 16, b[6].addr);
	assert_int_equal(classify(&m, b, 7, &r), 0);
	expect_classes(&r, want, 7);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* Bytes inside a listed block are not roots, even inside a root mapping. */
static void test_tracked_not_root(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = { { HEAP + 0x1000, 256, 0 }, { HEAP + 0x2000, 64, 0 } };
	static const uint8_t want[] = { DL, IL };
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x4000);
	put(&m, HEAP + 0x1000 + 248, HEAP + 0x2000);
	assert_int_equal(classify(&m, b, 2, &r), 0);
	expect_classes(&r, want, 2);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* A chain through a block larger than the read buffer, found at its end;
 * registers are roots. */
static void test_big_block_and_regs(void **state)
{
	struct mem m = { 0 };
	uint64_t big = HEAP + 0x100000, reg;
	struct mo_reach_block b[] = {
		{ big, 300 * 1024, 0 }, { HEAP + 0x1000, 64, 0 }, { HEAP + 0x2000, 64, 0 },
	};
	static const uint8_t want[] = { R, R, R };
	struct mo_reach_range root = { HEAP, HEAP + 0x4000 };
	struct mo_reach_input in = {
		.readv = mem_readv, .ctx = &m, .roots = &root, .nr_roots = 1,
		.blocks = b, .nr = 3, .chunk_bytes = 64 * 1024,
		.regs = &reg, .nr_regs = 1,
	};
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x4000);
	mem_add(&m, big, 300 * 1024);
	reg = big + 12345;
	put(&m, big + 300 * 1024 - 8, HEAP + 0x1000);
	put(&m, HEAP + 0x1000 + 56, HEAP + 0x2000);
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	expect_classes(&r, want, 3);
	assert_int_equal(r.stats.reg_words, 1);
	assert_true(r.stats.bytes_scanned >= 300 * 1024);
	mo_reach_result_release(&r);
	/* without the register it is all lost: big leads */
	in.nr_regs = 0;
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(r.cls[0], DL);
	assert_int_equal(r.cls[1], IL);
	assert_int_equal(r.cls[2], IL);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* Many small blocks are read in few calls. */
static void test_batching(void **state)
{
	enum { N = 5000 };
	struct mem m = { 0 };
	struct mo_reach_block *b = calloc(N, sizeof(*b));
	struct mo_reach_result r;
	int i;

	assert_non_null(b);
	mem_add(&m, HEAP, 0x100000);
	for (i = 0; i < N; i++) {
		b[i] = (struct mo_reach_block){ HEAP + 0x1000 + 128 * (uint64_t)i, 112, 0 };
		if (i + 1 < N && i % 100 != 99)
			put(&m, b[i].addr, b[i].addr + 128);
	}
	put(&m, HEAP + 8, b[0].addr);
	assert_int_equal(classify(&m, b, N, &r), 0);
	/* chains of 100: the first is reachable, every later chain is lost */
	assert_int_equal(r.stats.count[R], 100);
	assert_int_equal(r.stats.count[DL], N / 100 - 1);
	assert_int_equal(r.stats.count[IL], N - 100 - (N / 100 - 1));
	assert_true(m.calls < 100);
	mo_reach_result_release(&r);
	free(b);
	mem_free(&m);
}

/* A root range with an unmapped page inside is read on both sides of it; a
 * block partly unmapped is UNKNOWN. */
static void test_holes(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = { { HEAP + 0x10000, 64, 0 }, { HEAP + 0x5ff0, 64, 0 } };
	struct mo_reach_range root = { HEAP, HEAP + 0x4000 };
	struct mo_reach_input in = {
		.readv = mem_readv, .ctx = &m, .roots = &root, .nr_roots = 1,
		.blocks = b, .nr = 2,
	};
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x1000);		/* hole at HEAP + 0x1000 */
	mem_add(&m, HEAP + 0x2000, 0x4000);	/* ends at 0x6000: block 1 cut */
	mem_add(&m, HEAP + 0x10000, 0x1000);
	put(&m, HEAP + 0x3000, HEAP + 0x10000 + 8);
	put(&m, HEAP + 0x3008, HEAP + 0x5ff0);
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(r.cls[0], R);
	assert_int_equal(r.cls[1], UN);
	assert_int_equal(r.why[1], MO_REACH_WHY_UNMAPPED);
	assert_true(r.stats.holes >= 2);
	mo_reach_result_release(&r);
	mem_free(&m);
}

static void test_read_errors(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = { { HEAP + 0x1000, 64, 0 } };
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x2000);
	m.fail = ESRCH;
	assert_int_equal(classify(&m, b, 1, &r), 0);
	assert_int_equal(r.cls[0], UN);
	assert_int_equal(r.why[0], MO_REACH_WHY_GONE);
	assert_int_equal(r.stats.why, MO_REACH_WHY_GONE);
	assert_int_equal(r.stats.error, -ESRCH);
	mo_reach_result_release(&r);
	m.fail = EPERM;
	assert_int_equal(classify(&m, b, 1, &r), 0);
	assert_int_equal(r.why[0], MO_REACH_WHY_PERM);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* Overlapping entries are UNKNOWN and their bytes stay roots; a wrapping
 * one is invalid. */
static void test_overlap(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = {
		{ HEAP + 0x1000, 256, 0 }, { HEAP + 0x1080, 64, 0 },
		{ HEAP + 0x2000, 64, 0 }, { UINT64_MAX - 8, 64, 0 },
	};
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x4000);
	put(&m, HEAP + 0x1090, HEAP + 0x2000);
	assert_int_equal(classify(&m, b, 4, &r), 0);
	assert_int_equal(r.why[0], MO_REACH_WHY_OVERLAP);
	assert_int_equal(r.why[1], MO_REACH_WHY_OVERLAP);
	assert_int_equal(r.cls[2], R);
	assert_int_equal(r.why[3], MO_REACH_WHY_INVALID);
	mo_reach_result_release(&r);
	mem_free(&m);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int marked_calls;

static void count_marked(void *arg)
{
	marked_calls++;
}

/* Past the pause deadline: what was reached stays reachable, nothing is
 * called lost; past the whole deadline: the same with time_cap. */
static void test_deadlines(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = { { HEAP + 0x1000, 64, 0 }, { HEAP + 0x200000, 64, 0 } };
	struct mo_reach_range roots[] = { { HEAP, HEAP + 0x100000 }, { HEAP + 0x100000, HEAP + 0x200000 } };
	struct mo_reach_input in = {
		.readv = mem_readv, .ctx = &m, .roots = roots, .nr_roots = 2,
		.blocks = b, .nr = 2, .chunk_bytes = 64 * 1024,
		.marked = count_marked,
	};
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x201000);
	put(&m, HEAP + 8, HEAP + 0x1000);
	in.mark_deadline_ns = mono_ns() - 1;
	marked_calls = 0;
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(marked_calls, 1);
	assert_int_equal(r.cls[0], R);
	assert_int_equal(r.cls[1], UN);
	assert_int_equal(r.why[1], MO_REACH_WHY_PAUSE_CAP);
	assert_int_equal(r.stats.why, MO_REACH_WHY_PAUSE_CAP);
	assert_int_equal(r.nr_lost, 0);
	mo_reach_result_release(&r);
	in.mark_deadline_ns = 0;
	in.deadline_ns = mono_ns() - 1;
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(r.cls[1], UN);
	assert_int_equal(r.why[1], MO_REACH_WHY_TIME_CAP);
	mo_reach_result_release(&r);
	/* no deadline: block 1 is lost */
	in.deadline_ns = 0;
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(r.cls[1], DL);
	mo_reach_result_release(&r);
	/* a root left out: lost is not decidable */
	in.roots_incomplete = true;
	assert_int_equal(mo_reach_classify(&in, &r), 0);
	assert_int_equal(r.cls[0], R);
	assert_int_equal(r.why[1], MO_REACH_WHY_ROOTS);
	mo_reach_result_release(&r);
	mem_free(&m);
}

/* Live mode: a pass proposes, the next confirms with the same id and
 * contents; a changed or new candidate and what it points to stay UNKNOWN. */
static void test_confirm(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = {
		{ HEAP + 0x1000, 64, 7 }, { HEAP + 0x2000, 64, 8 },	/* lost: 0 -> 1 */
		{ HEAP + 0x3000, 64, 9 },				/* lost alone */
		{ HEAP + 0x4000, 64, 10 },				/* reachable */
	};
	struct mo_reach_range root = { HEAP, HEAP + 0x8000 };
	struct mo_reach_input in = {
		.readv = mem_readv, .ctx = &m, .roots = &root, .nr_roots = 1,
		.blocks = b, .nr = 4, .confirm = true,
	};
	struct mo_reach_result r1, r2;

	mem_add(&m, HEAP, 0x8000);
	put(&m, HEAP + 0x1000, HEAP + 0x2000);
	put(&m, HEAP + 0x10, HEAP + 0x4000);
	assert_int_equal(mo_reach_classify(&in, &r1), 0);
	assert_int_equal(r1.cls[0], UN);
	assert_int_equal(r1.why[0], MO_REACH_WHY_UNCONFIRMED);
	assert_int_equal(r1.cls[3], R);
	assert_int_equal(r1.nr_lost, 3);
	assert_true(r1.lost[0].addr < r1.lost[1].addr);

	in.prev = &r1;
	assert_int_equal(mo_reach_classify(&in, &r2), 0);
	assert_int_equal(r2.cls[0], DL);
	assert_int_equal(r2.cls[1], IL);
	assert_int_equal(r2.cls[2], DL);
	assert_int_equal(r2.cls[3], R);
	mo_reach_result_release(&r2);

	/* block 0 written between the passes: it and its child are doubtful */
	put(&m, HEAP + 0x1000 + 32, 42);
	assert_int_equal(mo_reach_classify(&in, &r2), 0);
	assert_int_equal(r2.why[0], MO_REACH_WHY_WRITTEN);
	assert_int_equal(r2.cls[1], UN);
	assert_int_equal(r2.why[1], MO_REACH_WHY_UNCONFIRMED);
	assert_int_equal(r2.cls[2], DL);
	mo_reach_result_release(&r2);

	/* block 2 freed and allocated again at the same address */
	b[2].id = 99;
	assert_int_equal(mo_reach_classify(&in, &r2), 0);
	assert_int_equal(r2.why[2], MO_REACH_WHY_UNCONFIRMED);
	mo_reach_result_release(&r2);
	b[2].id = 9;

	/* block 3 was reachable in the first pass, lost now */
	put(&m, HEAP + 0x10, 0);
	put(&m, HEAP + 0x1000 + 32, 0);
	assert_int_equal(mo_reach_classify(&in, &r2), 0);
	assert_int_equal(r2.cls[0], DL);
	assert_int_equal(r2.why[3], MO_REACH_WHY_UNCONFIRMED);
	mo_reach_result_release(&r2);
	mo_reach_result_release(&r1);
	mem_free(&m);
}

static void test_recheck(void **state)
{
	struct mem m = { 0 };
	struct mo_reach_block b[] = { { HEAP + 0x1000, 64, 1 }, { HEAP + 0x2000, 64, 2 } };
	struct mo_reach_block now[] = { { HEAP + 0x2000, 64, 2 }, { HEAP + 0x1000, 64, 5 } };
	struct mo_reach_result r;

	mem_add(&m, HEAP, 0x4000);
	assert_int_equal(classify(&m, b, 2, &r), 0);
	assert_int_equal(r.stats.count[DL], 2);
	assert_int_equal(mo_reach_recheck(&r, b, now, 2), 1);
	assert_int_equal(r.cls[0], UN);
	assert_int_equal(r.why[0], MO_REACH_WHY_FREED);
	assert_int_equal(r.cls[1], DL);
	assert_int_equal(r.stats.count[DL], 1);
	assert_int_equal(r.stats.count[UN], 1);
	mo_reach_result_release(&r);
	mem_free(&m);
}

static struct mo_map map(uint64_t s, uint64_t e, const char *perm, const char *path)
{
	struct mo_map m = { .start = s, .end = e };

	m.r = perm[0] == 'r';
	m.w = perm[1] == 'w';
	m.x = perm[2] == 'x';
	m.p = perm[3] == 'p';
	m.path = (char *)path;
	return m;
}

static void test_roots(void **state)
{
	struct mo_map mm[] = {
		map(0x1000, 0x2000, "r--p", "/bin/prog"),	/* skipped */
		map(0x2000, 0x3000, "rw-p", "/bin/prog"),	/* data */
		map(0x3000, 0x5000, "rw-p", NULL),		/* bss: a user stack inside */
		map(0x10000, 0x20000, "rw-p", "[heap]"),
		map(0x30000, 0x31000, "---p", NULL),		/* guard */
		map(0x31000, 0x41000, "rw-p", NULL),		/* thread stack */
		map(0x50000, 0x51000, "---p", NULL),
		map(0x51000, 0x61000, "rw-p", NULL),		/* tls far from the top */
		map(0x70000, 0x71000, "r--p", NULL),		/* read-only anonymous: kept */
		map(0x80000, 0x81000, "rw-s", "/dev/dri/card0"),
		map(0x90000, 0x91000, "rw-p", "/dev/zero"),
		map(0xa0000, 0xa1000, "r--p", "[vvar]"),
		map(0xb0000, 0xb1000, "r-xp", "[vdso]"),
		map(0x100000, 0x200000, "rw-p", NULL),		/* too large */
		map(0x7f0000, 0x800000, "rw-p", "[stack]"),
	};
	struct mo_maps maps = { sizeof(mm) / sizeof(mm[0]), mm };
	struct mo_reach_thread th[] = {
		{ 0x7f8000, 0 },		/* main thread */
		{ 0x38000, 0x40f00 },		/* glibc thread */
		{ 0x4000, 0x4f00 },		/* user stack in bss */
		{ 0x58000, 0x52000 },		/* tls not near the top */
	};
	static const struct mo_reach_range want[] = {
		{ 0x2000, 0x3000 }, { 0x3000, 0x5000 }, { 0x10000, 0x20000 },
		{ 0x38000 - 128, 0x41000 }, { 0x51000, 0x61000 }, { 0x70000, 0x71000 },
		{ 0x90000, 0x91000 }, { 0x7f8000 - 128, 0x800000 },
	};
	struct mo_reach_range *r;
	size_t n, i;
	bool incomplete;

	assert_int_equal(mo_reach_roots(&maps, th, 4, 0x80000, &r, &n, &incomplete), 0);
	assert_true(incomplete);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		if (r[i].start != want[i].start || r[i].end != want[i].end)
			fail_msg("root %zu: %#llx-%#llx, want %#llx-%#llx", i,
				 (unsigned long long)r[i].start, (unsigned long long)r[i].end,
				 (unsigned long long)want[i].start, (unsigned long long)want[i].end);
	}
	free(r);
	/* without stack pointers nothing is cut */
	assert_int_equal(mo_reach_roots(&maps, NULL, 0, 1ULL << 40, &r, &n, &incomplete), 0);
	assert_false(incomplete);
	assert_int_equal(r[3].start, 0x31000);
	assert_int_equal(r[n - 1].start, 0x7f0000);
	free(r);
}

static void test_parse_syscall(void **state)
{
	static const char blocked[] = "0 0x0 0x7ffd1c 0x40 0x0 0x0 0x0 0x7ffd0008 0x7f12a\n";
	uint64_t sp = 0;

	assert_int_equal(mo_reach_parse_syscall(blocked, strlen(blocked), &sp), 0);
	assert_int_equal(sp, 0x7ffd0008);
	assert_int_equal(mo_reach_parse_syscall("-1 0x7ffe10 0x4011\n", 19, &sp), 0);
	assert_int_equal(sp, 0x7ffe10);
	assert_int_equal(mo_reach_parse_syscall("running\n", 8, &sp), -EAGAIN);
	assert_int_equal(mo_reach_parse_syscall("1 2 3", 5, &sp), -EINVAL);
	assert_int_equal(mo_reach_parse_syscall("0 1 2 3 4 5 6 zz 8", 18, &sp), -EINVAL);
	assert_string_equal(mo_reach_class_name(MO_REACH_DEFINITELY_LOST), "definitely_lost");
	assert_string_equal(mo_reach_why_name(MO_REACH_WHY_PAUSE_CAP), "pause_cap");
}

/* ---- live processes ---- */

struct fixture {
	pid_t pid;
	int in;			/* its stdin: closing it ends it */
	FILE *out;
	size_t n;
	struct mo_reach_block b[64];
	char expected[64][16];
};

static const char *fixture_dir(void)
{
	const char *d = getenv("MO_FIXTURES");

	return d ? d : "build/fixtures";
}

/* Start a fixture; false when it is not built. */
static bool fixture_start(struct fixture *f, const char *name, ...)
{
	char path[512], line[256];
	char *argv[16];
	int in[2], out[2], argc = 0;
	va_list ap;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/%s", fixture_dir(), name);
	if (access(path, X_OK))
		return false;
	argv[argc++] = path;
	va_start(ap, name);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(path, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f->in = in[1];
	f->out = fdopen(out[0], "r");
	assert_non_null(f->out);
	while (fgets(line, sizeof(line), f->out)) {
		unsigned long long addr, size;

		if (!strncmp(line, "DONE", 4))
			return true;
		if (f->n < 64 && sscanf(line, "BLOCK %llx %llu %15s", &addr, &size,
					f->expected[f->n]) == 3) {
			f->b[f->n] = (struct mo_reach_block){ addr, size, f->n + 1 };
			f->n++;
		}
	}
	fail_msg("fixture %s ended before DONE", name);
	return false;
}

static void fixture_stop(struct fixture *f)
{
	int st;

	close(f->in);
	fclose(f->out);
	assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* No thread of pid is stopped (ptrace or job control). */
static void assert_running(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char p[320], buf[512], *c;
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		c = strrchr(buf, ')');
		assert_non_null(c);
		if (c[2] == 't' || c[2] == 'T')
			fail_msg("thread %s of %d is stopped (%c)", de->d_name, (int)pid, c[2]);
	}
	closedir(d);
}

/* Wait until the main thread of pid is blocked in a system call (the
 * fixtures wait in read()): its stack pointer is known then. */
static void wait_blocked(pid_t pid)
{
	char path[64], buf[256];
	int i;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (i = 0; i < 10000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n;

		assert_true(fd >= 0);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0 && strncmp(buf, "running", 7) != 0)
			return;
		usleep(1000);
	}
	fail_msg("%d never blocked", (int)pid);
}

static uint8_t expected_class(const char *e, enum mo_reach_mode mode)
{
	if (!strcmp(e, "definite"))
		return DL;
	if (!strcmp(e, "indirect"))
		return IL;
	if (!strcmp(e, "regonly"))	/* live mode cannot see registers */
		return mode == MO_REACH_STOP ? R : DL;
	return R;
}

static void scan_case(const char *name, enum mo_reach_mode mode)
{
	struct fixture f;
	struct mo_reach_opts o;
	struct mo_reach_result r1 = { 0 }, r2 = { 0 }, *r = &r1;
	size_t i;

	if (!fixture_start(&f, "reach_cases", "--case", name, NULL))
		skip();
	mo_reach_opts_init(&o);
	o.mode = mode;
	o.max_pause_ns = 2000000000ULL;	/* generous: a busy core slows the scan */
	/* live: a running thread's whole stack is a root, stale frames too */
	if (mode == MO_REACH_LIVE)
		wait_blocked(f.pid);
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r1), 0);
	if (mode == MO_REACH_LIVE) {
		assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, &r1, &r2), 0);
		r = &r2;
	} else {
		if (r1.stats.threads_stopped < 1)
			fail_msg("%s/stop: no thread stopped (why %s)", name,
				 mo_reach_why_name(r1.stats.why));
		assert_true(r1.stats.pause_ns > 0);
		assert_true(r1.stats.pause_ns <= o.max_pause_ns);
	}
	assert_int_equal(mo_reach_recheck(r, f.b, f.b, f.n), 0);
	assert_int_equal(r->stats.why, MO_REACH_WHY_NONE);
	for (i = 0; i < f.n; i++) {
		uint8_t want = expected_class(f.expected[i], mode);

		if (r->cls[i] != want)
			fail_msg("%s/%s block %zu (%s): %s (why %s)", name,
				 mode == MO_REACH_STOP ? "stop" : "live", i, f.expected[i],
				 mo_reach_class_name(r->cls[i]), mo_reach_why_name(r->why[i]));
	}
	assert_running(f.pid);
	mo_reach_result_release(&r1);
	mo_reach_result_release(&r2);
	fixture_stop(&f);
}

static const char *const cases[] = {
	"buffer64", "list", "interior", "cycle", "tree", "register", "stack", "spawn",
};

static void test_live_cases_stop(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		scan_case(cases[i], MO_REACH_STOP);
}

static void test_live_cases_live(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		scan_case(cases[i], MO_REACH_LIVE);
}

/* The scanning process dies while the target is stopped: the kernel
 * detaches and the target runs on. */
static void die_now(void *arg, pid_t pid)
{
	raise(SIGKILL);
}

static void test_tracer_dies(void **state)
{
	struct fixture f;
	pid_t scanner;
	int st;

	if (!fixture_start(&f, "reach_cases", "--case", "register", NULL))
		skip();
	scanner = fork();
	assert_true(scanner >= 0);
	if (scanner == 0) {
		struct mo_reach_opts o;
		struct mo_reach_result r;

		mo_reach_opts_init(&o);
		o.max_pause_ns = 60ULL * 1000000000ULL;
		o.on_paused = die_now;
		mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r);
		_exit(3);	/* not reached: the hook kills us */
	}
	assert_int_equal(waitpid(scanner, &st, 0), scanner);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_running(f.pid);
	fixture_stop(&f);
}

/* A heap too large to scan within the cap: the pause stays near the cap,
 * nothing is called lost, the target runs on. */
static void test_pause_cap(void **state)
{
	struct fixture f;
	struct mo_reach_opts o;
	struct mo_reach_result r;
	size_t i;

	if (!fixture_start(&f, "reach_big", "--blocks", "60", "--size", "16777216", "--lost", "4",
			   NULL))
		skip();
	mo_reach_opts_init(&o);
	o.max_pause_ns = 5000000;
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
	assert_int_equal(r.stats.why, MO_REACH_WHY_PAUSE_CAP);
	for (i = 0; i < f.n; i++)
		assert_true(r.cls[i] == R || (r.cls[i] == UN && r.why[i] == MO_REACH_WHY_PAUSE_CAP));
	assert_int_equal(r.stats.count[DL] + r.stats.count[IL], 0);
	/* the tracer releases at the cap itself, at real-time priority */
	assert_true(r.stats.pause_ns < o.max_pause_ns + 20000000ULL);
	print_message("pause %.3f ms for a cap of 5 ms\n", r.stats.pause_ns / 1e6);
	assert_running(f.pid);
	mo_reach_result_release(&r);
	/* with room enough the same heap is decided */
	o.max_pause_ns = 20ULL * 1000000000ULL;
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
	assert_int_equal(r.stats.why, MO_REACH_WHY_NONE);
	assert_int_equal(r.stats.count[DL], 4);
	assert_int_equal(r.stats.count[R], 60);
	mo_reach_result_release(&r);
	fixture_stop(&f);
}

/* Another user without CAP_SYS_PTRACE: UNKNOWN, no_permission. */
static void test_no_permission(void **state)
{
	struct fixture f;
	pid_t child;
	int st;

	if (geteuid() != 0)
		skip();
	if (!fixture_start(&f, "reach_cases", "--case", "list", NULL))
		skip();
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct mo_reach_opts o;
		struct mo_reach_result r;
		int bad = 0;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		mo_reach_opts_init(&o);
		if (mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r) || r.stats.why != MO_REACH_WHY_PERM ||
		    r.cls[0] != UN || r.why[0] != MO_REACH_WHY_PERM)
			bad = 1;
		mo_reach_result_release(&r);
		o.mode = MO_REACH_LIVE;
		if (mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r) || r.stats.why != MO_REACH_WHY_PERM)
			bad |= 4;
		mo_reach_result_release(&r);
		_exit(bad);
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_running(f.pid);
	fixture_stop(&f);
}

/* Already traced (here by this test's own thread): UNKNOWN, already_traced,
 * and the other tracer's hold is left alone. */
static void test_already_traced(void **state)
{
	struct fixture f;
	struct mo_reach_opts o;
	struct mo_reach_result r;
	int st;

	if (!fixture_start(&f, "reach_cases", "--case", "list", NULL))
		skip();
	assert_int_equal(ptrace(PTRACE_SEIZE, f.pid, 0, 0), 0);
	mo_reach_opts_init(&o);
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
	assert_int_equal(r.stats.why, MO_REACH_WHY_TRACED);
	assert_int_equal(r.cls[0], UN);
	assert_int_equal(r.why[0], MO_REACH_WHY_TRACED);
	mo_reach_result_release(&r);
	/* still ours: interrupt, wait, detach */
	assert_int_equal(ptrace(PTRACE_INTERRUPT, f.pid, 0, 0), 0);
	assert_int_equal(waitpid(f.pid, &st, __WALL), f.pid);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(ptrace(PTRACE_DETACH, f.pid, 0, 0), 0);
	assert_running(f.pid);
	fixture_stop(&f);
}

static void test_gone_and_self(void **state)
{
	struct mo_reach_block b = { 0x1000, 16, 0 };
	struct mo_reach_opts o;
	struct mo_reach_result r;
	pid_t child = fork();
	int st;

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &st, 0), child);
	mo_reach_opts_init(&o);
	assert_int_equal(mo_reach_scan(child, &b, 1, &o, NULL, &r), 0);
	assert_int_equal(r.why[0], MO_REACH_WHY_GONE);
	mo_reach_result_release(&r);
	o.mode = MO_REACH_LIVE;
	assert_int_equal(mo_reach_scan(child, &b, 1, &o, NULL, &r), 0);
	assert_int_equal(r.why[0], MO_REACH_WHY_GONE);
	mo_reach_result_release(&r);
	o.mode = MO_REACH_STOP;
	assert_int_equal(mo_reach_scan(getpid(), &b, 1, &o, NULL, &r), 0);
	assert_int_equal(r.why[0], MO_REACH_WHY_SELF);
	mo_reach_result_release(&r);
	assert_int_equal(mo_reach_scan(0, &b, 1, &o, NULL, &r), -EINVAL);
	o.mode = (enum mo_reach_mode)7;
	assert_int_equal(mo_reach_scan(getppid(), &b, 1, &o, NULL, &r), -EINVAL);
}

/* reach_cache's table: the blocks allocated now, read under its seqlocks. */
struct entry {
	uint64_t seq, addr, size, gen;
};

static size_t read_table(const struct entry *t, size_t slots, struct mo_reach_block *out)
{
	size_t i, n = 0;

	for (i = 0; i < slots; i++) {
		struct entry e;
		uint64_t s1, s2;

		do {
			s1 = __atomic_load_n(&t[i].seq, __ATOMIC_SEQ_CST);
			e.addr = __atomic_load_n(&t[i].addr, __ATOMIC_SEQ_CST);
			e.size = __atomic_load_n(&t[i].size, __ATOMIC_SEQ_CST);
			e.gen = __atomic_load_n(&t[i].gen, __ATOMIC_SEQ_CST);
			s2 = __atomic_load_n(&t[i].seq, __ATOMIC_SEQ_CST);
		} while ((s1 & 1) || s1 != s2);
		if (e.addr)
			out[n++] = (struct mo_reach_block){ e.addr ^ 0x5a5a000000000000ULL, e.size,
							    e.gen };
	}
	return n;
}

struct cache_fixture {
	struct fixture f;
	char path[32];
	struct entry *t;
	struct { uint64_t cmd, ack; } *ctl;
};

static bool cache_start(struct cache_fixture *c, bool step)
{
	int fd;

	strcpy(c->path, "/tmp/mo-reach-table.XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	close(fd);
	if (!fixture_start(&c->f, "reach_cache", "--table", c->path, "--slots", "64",
			   step ? "--step" : NULL, NULL)) {
		unlink(c->path);
		return false;
	}
	fd = open(c->path, O_RDWR);
	assert_true(fd >= 0);
	c->t = mmap(NULL, 64 * sizeof(*c->t) + 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(c->t != MAP_FAILED);
	close(fd);
	c->ctl = (void *)(c->t + 64);
	return true;
}

static void cache_stop(struct cache_fixture *c)
{
	munmap(c->t, 64 * sizeof(*c->t) + 16);
	unlink(c->path);
	fixture_stop(&c->f);
}

static void cache_cmd(struct cache_fixture *c, uint64_t cmd)
{
	int i;

	__atomic_store_n(&c->ctl->cmd, cmd, __ATOMIC_SEQ_CST);
	for (i = 0; i < 10000 && __atomic_load_n(&c->ctl->ack, __ATOMIC_SEQ_CST) != cmd; i++)
		usleep(1000);
	assert_int_equal(c->ctl->ack, cmd);
}

/* The cache emptied after the list was read: its blocks are unreached by
 * the first live pass, refilled before the second; nothing is lost. In
 * stop mode the list read after the scan drops them. */
static void test_cache_emptied(void **state)
{
	struct mo_reach_block l1[64], l2[64], l3[64];
	struct cache_fixture c;
	struct mo_reach_opts o;
	struct mo_reach_result r1, r2;
	size_t n1, n2, n3;
	uint64_t cmd = 0;
	int round;

	if (!cache_start(&c, true))
		skip();
	mo_reach_opts_init(&o);
	o.max_pause_ns = 2000000000ULL;
	for (round = 0; round < 3; round++) {
		o.mode = MO_REACH_LIVE;
		n1 = read_table(c.t, 64, l1);
		assert_int_equal(n1, 64);
		cache_cmd(&c, ++cmd);
		assert_int_equal(mo_reach_scan(c.f.pid, l1, n1, &o, NULL, &r1), 0);
		/* freed blocks are unreached, but one pass decides nothing */
		assert_true(r1.nr_lost >= 32);
		assert_int_equal(r1.stats.count[DL] + r1.stats.count[IL], 0);
		cache_cmd(&c, ++cmd);
		n2 = read_table(c.t, 64, l2);
		assert_int_equal(mo_reach_scan(c.f.pid, l2, n2, &o, &r1, &r2), 0);
		n3 = read_table(c.t, 64, l3);
		assert_true(mo_reach_recheck(&r2, l2, l3, n3) >= 0);
		assert_int_equal(r2.stats.count[DL] + r2.stats.count[IL], 0);
		assert_int_equal(r2.stats.count[R], 64);
		mo_reach_result_release(&r1);
		mo_reach_result_release(&r2);

		o.mode = MO_REACH_STOP;
		n1 = read_table(c.t, 64, l1);
		cache_cmd(&c, ++cmd);
		assert_int_equal(mo_reach_scan(c.f.pid, l1, n1, &o, NULL, &r1), 0);
		assert_true(r1.stats.count[DL] >= 32);	/* freed since listed */
		n3 = read_table(c.t, 64, l3);
		assert_int_equal(n3, 0);
		assert_true(mo_reach_recheck(&r1, l1, l3, n3) >= 32);
		assert_int_equal(r1.stats.count[DL] + r1.stats.count[IL], 0);
		mo_reach_result_release(&r1);
		cache_cmd(&c, ++cmd);
	}
	assert_running(c.f.pid);
	cache_stop(&c);
}

/* The cache emptied and refilled without pause, during the scans: never
 * lost, in either mode. */
static void test_cache_churn(void **state)
{
	struct mo_reach_block l1[64], l2[64], l3[64];
	struct cache_fixture c;
	struct mo_reach_opts o;
	size_t n1, n2, n3;
	unsigned candidates = 0, round;

	if (!cache_start(&c, false))
		skip();
	mo_reach_opts_init(&o);
	o.max_pause_ns = 2000000000ULL;
	for (round = 0; round < 20; round++) {
		struct mo_reach_result r1, r2;

		o.mode = MO_REACH_LIVE;
		n1 = read_table(c.t, 64, l1);
		assert_int_equal(mo_reach_scan(c.f.pid, l1, n1, &o, NULL, &r1), 0);
		candidates += r1.nr_lost > 0;
		n2 = read_table(c.t, 64, l2);
		assert_int_equal(mo_reach_scan(c.f.pid, l2, n2, &o, &r1, &r2), 0);
		n3 = read_table(c.t, 64, l3);
		assert_true(mo_reach_recheck(&r2, l2, l3, n3) >= 0);
		if (r2.stats.count[DL] + r2.stats.count[IL])
			fail_msg("round %u: %llu blocks of a live cache called lost", round,
				 (unsigned long long)(r2.stats.count[DL] + r2.stats.count[IL]));
		mo_reach_result_release(&r1);
		mo_reach_result_release(&r2);

		o.mode = MO_REACH_STOP;
		n1 = read_table(c.t, 64, l1);
		assert_int_equal(mo_reach_scan(c.f.pid, l1, n1, &o, NULL, &r1), 0);
		n3 = read_table(c.t, 64, l3);
		assert_true(mo_reach_recheck(&r1, l1, l3, n3) >= 0);
		if (r1.stats.count[DL] + r1.stats.count[IL])
			fail_msg("round %u (stop): %llu cache blocks called lost", round,
				 (unsigned long long)(r1.stats.count[DL] + r1.stats.count[IL]));
		mo_reach_result_release(&r1);
	}
	print_message("%u of 20 first live passes had unconfirmed lost blocks\n", candidates);
	assert_running(c.f.pid);
	cache_stop(&c);
}

/* ---- the holder ---- */

static bool fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void check_verdicts(const struct fixture *f, const struct mo_reach_result *r,
			   const char *when)
{
	for (size_t i = 0; i < f->n; i++) {
		uint8_t want = expected_class(f->expected[i], MO_REACH_STOP);

		if (r->cls[i] != want)
			fail_msg("%s: block %zu (%s): %s (why %s)", when, i, f->expected[i],
				 mo_reach_class_name(r->cls[i]), mo_reach_why_name(r->why[i]));
	}
}

/* A held process: stop scans go through the holder (seizing it would
 * fail: it is traced), it runs on between scans, and its exit stops until
 * released, its memory still there to scan: the same verdicts. */
static void hold_case(const char *name)
{
	struct fixture f;
	struct mo_reach_hold *h;
	struct mo_reach_opts o;
	struct mo_reach_result r;
	siginfo_t si;
	uint64_t v;
	int st, i;

	if (!fixture_start(&f, "reach_cases", "--case", name, NULL))
		skip();
	h = mo_reach_hold_new(f.pid);
	assert_non_null(h);
	mo_reach_opts_init(&o);
	o.max_pause_ns = 2000000000ULL;
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
	assert_int_equal(r.stats.why, MO_REACH_WHY_TRACED);
	mo_reach_result_release(&r);
	o.hold = h;
	for (i = 0; i < 3; i++) {
		assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
		assert_int_equal(r.stats.why, MO_REACH_WHY_NONE);
		assert_true(r.stats.threads_stopped >= 1);
		assert_true(r.stats.pause_ns > 0 && r.stats.pause_ns <= o.max_pause_ns);
		check_verdicts(&f, &r, name);
		mo_reach_result_release(&r);
		assert_running(f.pid);
	}
	assert_false(mo_reach_hold_exiting(h));
	/* its stdin closed, the fixture exits: held there */
	close(f.in);
	assert_true(fd_readable(mo_reach_hold_fd(h), 30000));
	assert_int_equal(read(mo_reach_hold_fd(h), &v, sizeof(v)), sizeof(v));
	assert_true(mo_reach_hold_exiting(h));
	/* not exited: only looked at (a wait here, in the tracer's process,
	 * would take the holder's ptrace stops) */
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)f.pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
	assert_true(si.si_pid == 0 || si.si_code == CLD_TRAPPED || si.si_code == CLD_STOPPED);
	assert_int_equal(mo_reach_scan(f.pid, f.b, f.n, &o, NULL, &r), 0);
	assert_int_equal(r.stats.why, MO_REACH_WHY_NONE);
	/* the other threads were stopped at their exits: registers too */
	check_verdicts(&f, &r, "at exit");
	mo_reach_result_release(&r);
	assert_true(mo_reach_hold_exiting(h));	/* a scan does not release it */
	mo_reach_hold_release(h);
	for (i = 0; i < 30000 && !mo_reach_hold_ended(h); i++)
		fd_readable(mo_reach_hold_fd(h), 1);
	assert_true(mo_reach_hold_ended(h));
	mo_reach_hold_free(h);
	fclose(f.out);
	assert_int_equal(waitpid(f.pid, &st, 0), f.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_hold_list(void **state)
{
	hold_case("list");
}

/* threads: another thread's stack, a register of a spinning thread */
static void test_hold_threads(void **state)
{
	hold_case("stack");
	hold_case("register");
}

/* The state letter of pid's main thread. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	p = strrchr(buf, ')');
	assert_non_null(p);
	return p[2];
}

/* Signals reach the held process as they would: a job-control stop stays
 * a stop until SIGCONT, and a fatal signal is held at the exit it causes. */
static void test_hold_signals(void **state)
{
	struct fixture f;
	struct mo_reach_hold *h;
	int st, i;
	char c = 0;

	if (!fixture_start(&f, "reach_cases", "--case", "list", NULL))
		skip();
	h = mo_reach_hold_new(f.pid);
	assert_non_null(h);
	assert_int_equal(kill(f.pid, SIGSTOP), 0);
	for (i = 0; i < 10000 && (c = proc_state(f.pid)) != 't' && c != 'T'; i++)
		usleep(1000);
	assert_true(c == 't' || c == 'T');
	assert_int_equal(kill(f.pid, SIGCONT), 0);
	for (i = 0; i < 10000 && ((c = proc_state(f.pid)) == 't' || c == 'T'); i++)
		usleep(1000);
	assert_true(c != 't' && c != 'T');
	assert_int_equal(kill(f.pid, SIGTERM), 0);
	assert_true(fd_readable(mo_reach_hold_fd(h), 30000));
	assert_true(mo_reach_hold_exiting(h));
	mo_reach_hold_free(h);	/* lets it go */
	fclose(f.out);
	close(f.in);
	assert_int_equal(waitpid(f.pid, &st, 0), f.pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_tracked_not_root),
		cmocka_unit_test(test_big_block_and_regs),
		cmocka_unit_test(test_batching),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_confirm),
		cmocka_unit_test(test_recheck),
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_parse_syscall),
		cmocka_unit_test(test_live_cases_stop),
		cmocka_unit_test(test_live_cases_live),
		cmocka_unit_test(test_tracer_dies),
		cmocka_unit_test(test_pause_cap),
		cmocka_unit_test(test_no_permission),
		cmocka_unit_test(test_already_traced),
		cmocka_unit_test(test_gone_and_self),
		cmocka_unit_test(test_cache_emptied),
		cmocka_unit_test(test_cache_churn),
		cmocka_unit_test(test_hold_list),
		cmocka_unit_test(test_hold_threads),
		cmocka_unit_test(test_hold_signals),
	};

	if (argc > 1)	/* a test's name (or a pattern): that one only */
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
