// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_modules.c - the unwind-row loader's memory of files: failures are
 * remembered (not rebuilt on every walk) but only the last MAX_FAILED of
 * them, a builder that is not available now (-EAGAIN) leaves the file to be
 * tried again, and a builder's -ENOSPC counts as a full table. A full
 * table evicts the files used least recently, reuses their rows after the
 * grace period and has the waiting file asked for again. No BPF: the row
 * array is a memfd, the modules map an array here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "modules.h"
#include "unwind_table.h"
#include "util.h"

#define MAX_FAILED 4096		/* modules.c */

struct fixture {
	int rows_fd;
	struct mo_modules *m;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->rows_fd = memfd_create("rows", MFD_CLOEXEC);
	assert_true(f->rows_fd >= 0);
	assert_int_equal(ftruncate(f->rows_fd, 1024 * sizeof(struct mo_unwind_row)), 0);
	f->m = mo_modules_new(f->rows_fd, 1024, -1);
	assert_non_null(f->m);
	strcpy(f->dir, "/tmp/mo-modules.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	mo_modules_free(f->m);
	close(f->rows_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A new file (a new inode) that is not ELF; its identity in *dev, *ino. */
static void new_file(struct fixture *f, int i, char *path, uint64_t *dev, uint64_t *ino)
{
	struct stat st;
	int fd;

	snprintf(path, PATH_MAX, "%s/f%d", f->dir, i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not elf", 7), 7);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	*dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
	*ino = st.st_ino;
}

static void test_failures_bounded(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], first[PATH_MAX];
	uint64_t dev, ino, dev0, ino0;
	struct mo_modules_stats st;

	new_file(f, 0, first, &dev0, &ino0);
	assert_true(mo_modules_load_path(f->m, first) < 0);
	/* remembered: a second load does no work */
	assert_int_equal(mo_modules_load_path(f->m, first), 0);
	assert_string_equal(mo_modules_path(f->m, dev0, ino0), first);
	for (int i = 1; i < MAX_FAILED; i++) {
		new_file(f, i, path, &dev, &ino);
		assert_true(mo_modules_load_path(f->m, path) < 0);
	}
	assert_string_equal(mo_modules_path(f->m, dev0, ino0), first);
	/* one more: the oldest is forgotten, the newest kept */
	new_file(f, MAX_FAILED, path, &dev, &ino);
	assert_true(mo_modules_load_path(f->m, path) < 0);
	assert_null(mo_modules_path(f->m, dev0, ino0));
	assert_string_equal(mo_modules_path(f->m, dev, ino), path);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.failed, MAX_FAILED + 1);
	/* and the forgotten one is built again */
	assert_true(mo_modules_load_path(f->m, first) < 0);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.failed, MAX_FAILED + 2);
}

static int calls;

static int build_again(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out)
{
	calls++;
	return *(int *)ctx;
}

static void test_builder_errors(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	uint64_t dev, ino;
	struct mo_modules_stats st;
	int ret = -EAGAIN;

	mo_modules_set_builder(f->m, build_again, &ret);
	new_file(f, 0, path, &dev, &ino);
	calls = 0;
	assert_int_equal(mo_modules_load_path(f->m, path), -EAGAIN);
	assert_int_equal(mo_modules_load_path(f->m, path), -EAGAIN);
	assert_int_equal(calls, 2);
	assert_null(mo_modules_path(f->m, dev, ino));
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.failed + st.full, 0);

	ret = -ENOSPC;
	assert_int_equal(mo_modules_load_path(f->m, path), -ENOSPC);
	assert_int_equal(mo_modules_load_path(f->m, path), 0);
	assert_int_equal(calls, 3);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.full, 1);

	ret = -ECHILD;
	new_file(f, 1, path, &dev, &ino);
	assert_int_equal(mo_modules_load_path(f->m, path), -ECHILD);
	assert_int_equal(mo_modules_load_path(f->m, path), 0);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.failed, 1);
}

/* The modules map, and what the walker is told. */
#define NMAP 16
static struct {
	struct mo_module_key k;
	struct mo_module_info v;
	int used;
} map[NMAP];
static struct mo_module_key asked[NMAP];
static size_t nasked;
static uint32_t epoch;

static int map_find(const struct mo_module_key *k)
{
	for (int i = 0; i < NMAP; i++)
		if (map[i].used && map[i].k.dev == k->dev && map[i].k.ino == k->ino)
			return i;
	return -1;
}

static int fput(void *ctx, const struct mo_module_key *k, const struct mo_module_info *v)
{
	int i = map_find(k);

	for (int j = 0; i < 0 && j < NMAP; j++)
		if (!map[j].used)
			i = j;
	if (i < 0)
		return -E2BIG;
	map[i].k = *k;
	map[i].v = *v;
	map[i].used = 1;
	return 0;
}

static int fget(void *ctx, const struct mo_module_key *k, struct mo_module_info *v)
{
	int i = map_find(k);

	if (i < 0)
		return -ENOENT;
	*v = map[i].v;
	return 0;
}

static int fdel(void *ctx, const struct mo_module_key *k)
{
	int i = map_find(k);

	if (i < 0)
		return -ENOENT;
	map[i].used = 0;
	return 0;
}

static const struct mo_modules_map_ops fake_map = { .put = fput, .get = fget, .del = fdel };

static void ask(void *ctx, uint64_t dev, uint64_t ino)
{
	if (nasked < NMAP)
		asked[nasked++] = (struct mo_module_key){ .dev = dev, .ino = ino };
}

static void set_epoch(void *ctx, uint32_t e)
{
	epoch = e;
}

static const struct mo_modules_walker fake_walker = { .ask_again = ask, .rows_epoch = set_epoch };

/* A table of *(size_t *)ctx rows. */
static int build_n(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out)
{
	size_t n = *(size_t *)ctx;

	calls++;
	if (n > max_rows)
		return -ENOSPC;
	memset(out, 0, sizeof(*out));
	out->rows = calloc(n, sizeof(*out->rows));
	if (!out->rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		out->rows[i].pc = (uint32_t)i;
	out->nrows = n;
	return 0;
}

static const struct mo_module_info *info_of(uint64_t dev, uint64_t ino)
{
	struct mo_module_key k = { .dev = dev, .ino = ino };
	int i = map_find(&k);

	return i < 0 ? NULL : &map[i].v;
}

static int was_asked(uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < nasked; i++)
		if (asked[i].dev == dev && asked[i].ino == ino)
			return 1;
	return 0;
}

static void eviction_setup(struct fixture *f, size_t *rows)
{
	memset(map, 0, sizeof(map));
	nasked = 0;
	epoch = 0;
	mo_modules_set_map(f->m, &fake_map, NULL);
	mo_modules_set_walker(f->m, &fake_walker, NULL);
	mo_modules_set_builder(f->m, build_n, rows);
}

/* Three files of 300 rows in 1024: a fourth evicts the two the walker used
 * least recently (down to 3/4 of the table with it), not the one it used
 * last, and takes their rows. */
static void test_evicts_least_recently_used(void **state)
{
	struct fixture *f = *state;
	char path[4][PATH_MAX];
	uint64_t dev[4], ino[4];
	const uint64_t last[3] = { 3000, 1000, 2000 };
	struct mo_modules_stats st;
	const struct mo_module_info *a, *d;
	size_t rows = 300;

	eviction_setup(f, &rows);
	mo_modules_set_grace(f->m, 0);
	for (int i = 0; i < 4; i++)
		new_file(f, i, path[i], &dev[i], &ino[i]);
	for (int i = 0; i < 3; i++) {
		struct mo_module_key k = { .dev = dev[i], .ino = ino[i] };

		assert_int_equal(mo_modules_load_path(f->m, path[i]), 1);
		/* what the walker's stamps would say */
		map[map_find(&k)].v.last_ns = last[i];
	}
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.rows_used, 900);
	assert_int_equal(mo_modules_load_path(f->m, path[3]), 1);

	assert_non_null(info_of(dev[0], ino[0]));
	assert_null(info_of(dev[1], ino[1]));
	assert_null(info_of(dev[2], ino[2]));
	assert_string_equal(mo_modules_path(f->m, dev[0], ino[0]), path[0]);
	assert_null(mo_modules_path(f->m, dev[1], ino[1]));
	assert_null(mo_modules_path(f->m, dev[2], ino[2]));
	assert_int_equal(nasked, 2);
	assert_true(was_asked(dev[1], ino[1]) && was_asked(dev[2], ino[2]));
	assert_int_equal(epoch, 1);
	a = info_of(dev[0], ino[0]);
	d = info_of(dev[3], ino[3]);
	assert_non_null(d);
	/* D's rows are B's old ones (the first fit): not A's */
	assert_int_equal(d->row_start, 300);
	assert_true(d->row_start + d->row_count <= a->row_start ||
		    a->row_start + a->row_count <= d->row_start);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.rows_used, 600);
	assert_int_equal(st.full, 0);
	/* an evicted file loads again (into the rows still free) */
	assert_int_equal(mo_modules_load_path(f->m, path[1]), 1);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.rows_used, 900);
	assert_int_equal(st.evicted, 2);
}

/* With a grace period the freed rows are not reused at once: the file
 * waits (not marked failed, not rebuilt while it waits) and is asked for
 * again once they are free. Files used recently go only as far as the
 * waiting file needs (not down to 3/4). */
static void test_waits_for_grace(void **state)
{
	struct fixture *f = *state;
	char path[4][PATH_MAX];
	uint64_t dev[4], ino[4];
	struct mo_modules_stats st;
	size_t rows = 500;
	uint64_t now;

	eviction_setup(f, &rows);
	for (int i = 0; i < 4; i++)
		new_file(f, i, path[i], &dev[i], &ino[i]);
	assert_int_equal(mo_modules_load_path(f->m, path[0]), 1);
	assert_int_equal(mo_modules_load_path(f->m, path[1]), 1);
	calls = 0;
	assert_int_equal(mo_modules_load_path(f->m, path[2]), -EBUSY);
	now = mo_clock_ns(CLOCK_BOOTTIME);
	assert_int_equal(calls, 1);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.rows_used, 500);
	assert_int_equal(st.failed + st.full, 0);
	assert_int_equal(epoch, 1);
	/* the older one went */
	assert_null(info_of(dev[0], ino[0]));
	assert_non_null(info_of(dev[1], ino[1]));
	assert_null(mo_modules_path(f->m, dev[2], ino[2]));
	/* while it waits: neither it nor another file is built */
	assert_int_equal(mo_modules_load_path(f->m, path[2]), -EBUSY);
	assert_int_equal(mo_modules_load_path(f->m, path[3]), -EBUSY);
	assert_int_equal(calls, 1);
	nasked = 0;
	mo_modules_tick(f->m, now);
	assert_int_equal(nasked, 0);
	mo_modules_tick(f->m, now + 1100000000ULL);
	assert_int_equal(nasked, 2);
	assert_true(was_asked(dev[2], ino[2]) && was_asked(dev[3], ino[3]));
	/* asked for again: loaded, into the rows freed */
	assert_int_equal(mo_modules_load_path(f->m, path[2]), 1);
	assert_int_equal(info_of(dev[2], ino[2])->row_start, 0);
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.rows_used, 1000);
	assert_int_equal(st.evicted, 1);
}

/* A file larger than the whole table evicts nothing: refused as full. */
static void test_larger_than_table(void **state)
{
	struct fixture *f = *state;
	char path[2][PATH_MAX];
	uint64_t dev[2], ino[2];
	struct mo_modules_stats st;
	size_t rows = 600;

	eviction_setup(f, &rows);
	mo_modules_set_grace(f->m, 0);
	new_file(f, 0, path[0], &dev[0], &ino[0]);
	new_file(f, 1, path[1], &dev[1], &ino[1]);
	assert_int_equal(mo_modules_load_path(f->m, path[0]), 1);
	rows = 1025;
	assert_int_equal(mo_modules_load_path(f->m, path[1]), -ENOSPC);
	assert_non_null(info_of(dev[0], ino[0]));
	mo_modules_stats(f->m, &st);
	assert_int_equal(st.full, 1);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.rows_used, 600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failures_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evicts_least_recently_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_larger_than_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
