// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_pprof_diff.c - profiles written by the pprof writer read back
 * (frames, inlining, unsymbolized locations, labels, values), the diff of
 * two of them (growth by stack across pids and load addresses, commands
 * apart, saturation), bounded encoding, and the reader's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <zlib.h>
#include <cmocka.h>

#include "memobserver.h"
#include "sinks/pprof.h"
#include "sinks/pprof_diff.h"
#include "sinks/pprof_read.h"

#define APP "/usr/bin/app"

/* One stack: leak_fn with inner inlined at one address, an unsymbolized
 * frame of the executable, then libc; bias moves every address. */
static void leak_frames(struct mo_frame *f, uint64_t bias)
{
	f[0] = (struct mo_frame){ .address = bias + 0x1100, .symbol = "inner", .module = APP,
				  .module_offset = 0x1100, .file = "a.c", .line = 3,
				  .inlined = true };
	f[1] = (struct mo_frame){ .address = bias + 0x1100, .symbol = "leak_fn", .module = APP,
				  .module_offset = 0x1100, .file = "a.c", .line = 9 };
	f[2] = (struct mo_frame){ .address = bias + 0x1200, .module = APP, .module_offset = 0x1200 };
	f[3] = (struct mo_frame){ .address = bias + 0x7f0000024000, .symbol = "__libc_start_main",
				  .module = "/lib/libc.so.6", .module_offset = 0x24000 };
}

static void one_frame(struct mo_frame *f, const char *symbol, uint64_t address)
{
	*f = (struct mo_frame){ .address = address, .symbol = symbol, .module = APP,
				.module_offset = address & 0xffff };
}

static void set_leak(struct mo_leak *l, pid_t pid, const char *command, uint64_t count,
		     uint64_t bytes, struct mo_frame *frames, size_t nframes)
{
	memset(l, 0, sizeof(*l));
	l->pid = pid;
	snprintf(l->command, sizeof(l->command), "%s", command);
	l->count = count;
	l->unfreed_bytes = bytes;
	l->stack = (struct mo_stack_trace){ .id = (uint32_t)pid, .nframes = nframes, .frames = frames };
}

/* The report encoded and read back. */
static void roundtrip(const struct mo_leak *leaks, size_t n, enum mo_pprof_kind kind,
		      struct mo_pprof_data *out)
{
	struct mo_report r = { .timestamp_ns = 1700000000000000000ULL,
			       .leaks = (struct mo_leak *)leaks, .nleaks = n };
	const char *why;
	uint8_t *gz;
	size_t len;

	assert_int_equal(mo_pprof_encode(&r, kind, &gz, &len), 0);
	assert_int_equal(mo_pprof_read(gz, len, out, &why), 0);
	free(gz);
}

static void test_read_back(void **state)
{
	struct mo_frame f[4];
	struct mo_leak l[1];
	struct mo_pprof_data p;
	static const char *const names[] = { "inner", "leak_fn", "app+0x1200",
					     "__libc_start_main" };

	leak_frames(f, 0x400000);
	set_leak(&l[0], 42, "app", 3, 3000, f, 4);
	l[0].alloc_count = 5;
	l[0].alloc_bytes = 5000;
	roundtrip(l, 1, MO_PPROF_HEAP, &p);

	assert_int_equal(p.ntypes, 4);
	assert_string_equal(p.types[0], "alloc_objects");
	assert_string_equal(p.types[3], "inuse_space");
	assert_string_equal(p.units[3], "bytes");
	assert_int_equal(mo_pprof_type_index(&p, "inuse_objects"), 2);
	assert_int_equal(mo_pprof_type_index(&p, "growth_space"), -1);
	assert_true(p.time_nanos == 1700000000000000000LL);
	assert_int_equal(p.nstacks, 1);
	assert_string_equal(p.stacks[0].command, "app");
	assert_int_equal(p.stacks[0].nframes, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(p.stacks[0].frames[i].name, names[i]);
	assert_true(p.stacks[0].values[0] == 5 && p.stacks[0].values[1] == 5000);
	assert_true(p.stacks[0].values[2] == 3 && p.stacks[0].values[3] == 3000);
	assert_int_equal(p.frames_cut, 0);
	mo_pprof_data_release(&p);
}

/*
 * Between two snapshots, from another run of the program (other pid, other
 * load address): leak_fn grew by 3000, cache_fill stayed, new_fn appeared,
 * gone_fn was freed. Only the first and third grew, the most first.
 */
static void test_diff_growth(void **state)
{
	struct mo_frame fa[4], fb[4], cache_a, cache_b, gone, fresh;
	struct mo_leak a[3], b[3];
	struct mo_pprof_data pa, pb;
	struct mo_pprof_diff d;
	const char *why;

	leak_frames(fa, 0x400000);
	leak_frames(fb, 0x555500000000);
	one_frame(&cache_a, "cache_fill", 0x401300);
	one_frame(&cache_b, "cache_fill", 0x555500001300);
	one_frame(&gone, "gone_fn", 0x401400);
	one_frame(&fresh, "new_fn", 0x555500001500);
	set_leak(&a[0], 10, "app", 1, 1000, fa, 4);
	set_leak(&a[1], 10, "app", 50, 5000, &cache_a, 1);
	set_leak(&a[2], 10, "app", 3, 300, &gone, 1);
	set_leak(&b[0], 20, "app", 4, 4000, fb, 4);
	set_leak(&b[1], 20, "app", 50, 5000, &cache_b, 1);
	set_leak(&b[2], 20, "app", 2, 200, &fresh, 1);
	roundtrip(a, 3, MO_PPROF_HEAP, &pa);
	roundtrip(b, 3, MO_PPROF_HEAP, &pb);

	assert_int_equal(mo_pprof_diff(&pa, &pb, "inuse_space", "inuse_objects", &d, &why), 0);
	assert_int_equal(d.nstacks, 4);
	assert_int_equal(d.ngrew, 2);
	assert_true(d.objects);
	assert_string_equal(d.grew[0].stack->frames[1].name, "leak_fn");
	assert_true(d.grew[0].before == 1000 && d.grew[0].after == 4000);
	assert_true(d.grew[0].growth == 3000 && d.grew[0].objects_growth == 3);
	assert_string_equal(d.grew[1].stack->frames[0].name, "new_fn");
	assert_true(d.grew[1].before == 0 && d.grew[1].growth == 200);
	assert_true(d.total_before == 6300 && d.total_after == 9200);
	assert_true(d.total_growth == 2900);
	mo_pprof_diff_release(&d);

	/* the other way round, only what was freed "grew" */
	assert_int_equal(mo_pprof_diff(&pb, &pa, "inuse_space", NULL, &d, &why), 0);
	assert_int_equal(d.ngrew, 1);
	assert_false(d.objects);
	assert_string_equal(d.grew[0].stack->frames[0].name, "gone_fn");
	assert_true(d.grew[0].objects_growth == 0);
	mo_pprof_diff_release(&d);
	mo_pprof_data_release(&pa);
	mo_pprof_data_release(&pb);
}

/* One stack in two programs is two stacks; two samples of one stack (two
 * processes of one program) add up. */
static void test_diff_merges_by_command(void **state)
{
	struct mo_frame f1, f2, f3;
	struct mo_leak a[1], b[3];
	struct mo_pprof_data pa, pb;
	struct mo_pprof_diff d;
	const char *why;

	one_frame(&f1, "xmalloc", 0x401000);
	one_frame(&f2, "xmalloc", 0x402000);
	one_frame(&f3, "xmalloc", 0x403000);
	set_leak(&a[0], 1, "app", 1, 100, &f1, 1);
	set_leak(&b[0], 2, "app", 1, 100, &f1, 1);
	set_leak(&b[1], 3, "app", 1, 100, &f2, 1);
	set_leak(&b[2], 4, "other", 1, 50, &f3, 1);
	roundtrip(a, 1, MO_PPROF_HEAP, &pa);
	roundtrip(b, 3, MO_PPROF_HEAP, &pb);
	assert_int_equal(mo_pprof_diff(&pa, &pb, "inuse_space", NULL, &d, &why), 0);
	assert_int_equal(d.nstacks, 2);
	assert_int_equal(d.ngrew, 2);
	assert_string_equal(d.grew[0].stack->command, "app");
	assert_true(d.grew[0].before == 100 && d.grew[0].after == 200);
	assert_string_equal(d.grew[1].stack->command, "other");
	assert_true(d.grew[1].growth == 50);
	mo_pprof_diff_release(&d);
	mo_pprof_data_release(&pa);
	mo_pprof_data_release(&pb);
}

/* A growth profile has no inuse_space: the diff says which profile. */
static void test_diff_needs_the_type(void **state)
{
	struct mo_frame f;
	struct mo_leak l[1];
	struct mo_pprof_data heap, growth;
	struct mo_pprof_diff d;
	const char *why;

	one_frame(&f, "grow", 0x401000);
	set_leak(&l[0], 1, "app", 8, 1 << 20, &f, 1);
	roundtrip(l, 1, MO_PPROF_HEAP, &heap);
	roundtrip(l, 1, MO_PPROF_GROWTH, &growth);
	assert_int_equal(growth.ntypes, 2);
	assert_string_equal(growth.types[1], "growth_space");
	assert_int_equal(mo_pprof_diff(&heap, &growth, "inuse_space", NULL, &d, &why), -EINVAL);
	assert_non_null(strstr(why, "second"));
	mo_pprof_diff_release(&d);
	assert_int_equal(mo_pprof_diff(&growth, &heap, "inuse_space", NULL, &d, &why), -EINVAL);
	assert_non_null(strstr(why, "first"));
	mo_pprof_diff_release(&d);
	assert_int_equal(mo_pprof_diff(&growth, &growth, "growth_space", NULL, &d, &why), 0);
	assert_int_equal(d.ngrew, 0);
	mo_pprof_diff_release(&d);
	mo_pprof_data_release(&heap);
	mo_pprof_data_release(&growth);
}

/* Stacks deeper than the bound keep their leaf end. */
static void test_frames_cut(void **state)
{
	size_t n = MO_PPROF_READ_MAX_FRAMES + 76;
	struct mo_frame *f = calloc(n, sizeof(*f));
	struct mo_leak l[1];
	struct mo_pprof_data p;

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		one_frame(&f[i], i ? "recurse" : "leaf", 0x401000 + i * 16);
	set_leak(&l[0], 1, "app", 1, 64, f, n);
	roundtrip(l, 1, MO_PPROF_HEAP, &p);
	assert_int_equal(p.stacks[0].nframes, MO_PPROF_READ_MAX_FRAMES);
	assert_string_equal(p.stacks[0].frames[0].name, "leaf");
	assert_int_equal(p.frames_cut, 76);
	mo_pprof_data_release(&p);
	free(f);
}

/* gzip of len bytes of 'x'. */
static uint8_t *gzip_of(size_t len, size_t *outlen)
{
	uint8_t *in = malloc(len), *out;
	z_stream zs = { 0 };

	assert_non_null(in);
	memset(in, 'x', len);
	assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	out = malloc(deflateBound(&zs, len));
	assert_non_null(out);
	zs.next_in = in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)deflateBound(&zs, len);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	free(in);
	return out;
}

static void expect_refused(const void *data, size_t len, int err, const char *why_part)
{
	struct mo_pprof_data p;
	const char *why = NULL;

	assert_int_equal(mo_pprof_read(data, len, &p, &why), err);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("'%s' does not say '%s'", why, why_part);
	mo_pprof_data_release(&p);
}

static void test_refusals(void **state)
{
	static const char text[] = "READY 42\nEXPECT leak 100 1\n";
	struct mo_frame f;
	struct mo_leak l[1];
	struct mo_report r = { .nleaks = 1, .leaks = l };
	uint8_t *gz, *bomb;
	size_t len;

	expect_refused("", 0, -EINVAL, "empty");
	expect_refused(text, sizeof(text) - 1, -EINVAL, "not a pprof profile");
	one_frame(&f, "leak", 0x401000);
	set_leak(&l[0], 1, "app", 1, 64, &f, 1);
	assert_int_equal(mo_pprof_encode(&r, MO_PPROF_HEAP, &gz, &len), 0);
	expect_refused(gz, len / 2, -EINVAL, "truncated");
	gz[len / 2] ^= 0xff;
	expect_refused(gz, len, -EINVAL, "gzip");
	free(gz);
	/* 300 MiB of 'x' in about 1 MiB of gzip */
	bomb = gzip_of(300u << 20, &len);
	expect_refused(bomb, len, -EFBIG, "256 MiB");
	free(bomb);
	bomb = gzip_of(1000, &len);
	expect_refused(bomb, len, -EINVAL, "not a pprof profile");
	free(bomb);
}

/*
 * Bounds: at most max_samples, the largest by unfreed bytes; at most
 * max_len gzipped bytes; what was left out counted; nothing fits: -EFBIG.
 */
static void test_encode_bounded(void **state)
{
	enum { N = 200 };
	static char names[N][16];
	struct mo_frame *f = calloc(N, sizeof(*f));
	struct mo_leak *l = calloc(N, sizeof(*l));
	struct mo_report r = { .leaks = l, .nleaks = N };
	struct mo_pprof_cut cut;
	struct mo_pprof_data p;
	uint64_t cut_bytes = 0;
	const char *why;
	uint8_t *gz;
	size_t len, full;

	assert_true(f && l);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "fn_%03zu", i);
		one_frame(&f[i], names[i], 0x401000 + i * 64);
		/* interleaved sizes: the report's order is not the bytes' */
		set_leak(&l[i], 1, "app", 1, (uint64_t)(i % 2 ? i : N + i) * 100, &f[i], 1);
	}
	assert_int_equal(mo_pprof_encode_bounded(&r, MO_PPROF_HEAP, 0, 0, &gz, &full, &cut), 0);
	assert_int_equal(cut.samples, 0);
	free(gz);

	assert_int_equal(mo_pprof_encode_bounded(&r, MO_PPROF_HEAP, 10, 0, &gz, &len, &cut), 0);
	assert_int_equal(cut.samples, N - 10);
	assert_int_equal(mo_pprof_read(gz, len, &p, &why), 0);
	assert_int_equal(p.nstacks, 10);
	/* the ten largest are the even ones from 180 up */
	for (size_t i = 0; i < p.nstacks; i++) {
		unsigned k;

		assert_int_equal(sscanf(p.stacks[i].frames[0].name, "fn_%u", &k), 1);
		assert_true(k % 2 == 0 && k >= 180);
	}
	for (size_t i = 0; i < N; i++)
		cut_bytes += l[i].unfreed_bytes;
	for (size_t i = 0; i < p.nstacks; i++)
		cut_bytes -= (uint64_t)p.stacks[i].values[3];
	assert_true(cut.bytes == cut_bytes);
	mo_pprof_data_release(&p);
	free(gz);

	assert_int_equal(mo_pprof_encode_bounded(&r, MO_PPROF_HEAP, 0, full / 2, &gz, &len, &cut),
			 0);
	assert_true(len <= full / 2);
	assert_true(cut.samples > 0 && cut.samples < N);
	assert_int_equal(mo_pprof_read(gz, len, &p, &why), 0);
	assert_int_equal(p.nstacks + cut.samples, N);
	mo_pprof_data_release(&p);
	free(gz);

	assert_int_equal(mo_pprof_encode_bounded(&r, MO_PPROF_HEAP, 0, 16, &gz, &len, &cut),
			 -EFBIG);
	assert_null(gz);
	assert_int_equal(cut.samples, 0);
	free(f);
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_back),
		cmocka_unit_test(test_diff_growth),
		cmocka_unit_test(test_diff_merges_by_command),
		cmocka_unit_test(test_diff_needs_the_type),
		cmocka_unit_test(test_frames_cut),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_encode_bounded),
	};

	return cmocka_run_group_tests_name("pprof_diff", tests, NULL, NULL);
}
