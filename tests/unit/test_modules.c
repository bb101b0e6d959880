// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_modules.c - the unwind-row loader's memory of files: failures are
 * remembered (not rebuilt on every walk) but only the last MAX_FAILED of
 * them, a builder that is not available now (-EAGAIN) leaves the file to be
 * tried again, and a builder's -ENOSPC counts as a full table. No BPF: the
 * row array is a memfd and no file ever loads.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_failures_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
