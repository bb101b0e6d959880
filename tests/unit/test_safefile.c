// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_safefile.c - what a traced process can put at a path: a FIFO (must
 * not block), a symlink to a device, a huge sparse file, another file than
 * the one mapped; a mapped file deleted and replaced by a FIFO is still
 * read (the mapped inode); /proc/self/fd/N of a checked descriptor names
 * that file after the path changed; sealed copies with their CRC. Every
 * test runs under an alarm: a hang is a failure, not a stuck suite.
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
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "procmaps.h"
#include "safefile.h"

struct dir {
	char path[64];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	strcpy(d->path, "/tmp/mo_safefile_XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	alarm(20);
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	char cmd[96];

	alarm(0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	free(d);
	return system(cmd) == 0 ? 0 : -1;
}

static void in_dir(const struct dir *d, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", d->path, name);
}

static void write_bytes(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void id_of(const char *path, struct mo_file_id *id)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	id->dev_major = major(st.st_dev);
	id->dev_minor = minor(st.st_dev);
	id->ino = st.st_ino;
}

static void test_regular(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX], buf[16] = "";
	struct mo_file_id id;
	struct stat st;
	int fd, fl;

	in_dir(d, "f", p);
	write_bytes(p, "hello");
	id_of(p, &id);
	fd = mo_safe_open(p, &id, 0, &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_ino, id.ino);
	fl = fcntl(fd, F_GETFL);
	assert_true((fl & O_ACCMODE) == O_RDONLY && (fl & O_NONBLOCK));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "hello");
	close(fd);
}

static void test_fifo_refused_without_blocking(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX];

	in_dir(d, "fifo", p);
	assert_int_equal(mkfifo(p, 0644), 0);
	/* a plain open(O_RDONLY) would wait for a writer forever */
	assert_int_equal(mo_safe_open(p, NULL, 0, NULL), -ENXIO);
}

static void test_device_symlink_refused(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX];

	in_dir(d, "zero", p);
	assert_int_equal(symlink("/dev/zero", p), 0);
	assert_int_equal(mo_safe_open(p, NULL, 0, NULL), -ENXIO);
	assert_int_equal(mo_safe_open(p, NULL, MO_SAFE_NOFOLLOW, NULL), -ELOOP);
	assert_int_equal(mo_safe_open(d->path, NULL, 0, NULL), -ENXIO);	/* a directory */
}

static void test_huge_sparse_refused(void **state)
{
	struct dir *d = *state;
	struct mo_safefile_stats before, after;
	char p[PATH_MAX];
	int fd;

	in_dir(d, "sparse", p);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(64ULL << 30)), 0);
	close(fd);
	mo_safefile_stats(&before);
	assert_int_equal(mo_safe_open(p, NULL, 0, NULL), -EFBIG);
	mo_safefile_stats(&after);
	assert_int_equal(after.too_large, before.too_large + 1);
	/* just at the limit is fine */
	fd = open(p, O_WRONLY);
	assert_int_equal(ftruncate(fd, (off_t)MO_SAFE_MAX_SIZE), 0);
	close(fd);
	fd = mo_safe_open(p, NULL, 0, NULL);
	assert_true(fd >= 0);
	close(fd);
}

/* The checked descriptor's /proc/self/fd path is what the kernel resolves
 * for a uprobe: the file opened, whatever now lies at the path. */
static void test_fd_path_survives_swap(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX], other[PATH_MAX], self[64];
	struct mo_file_id id, other_id;
	struct stat st;
	int fd;

	in_dir(d, "lib", p);
	in_dir(d, "other", other);
	write_bytes(p, "checked");
	write_bytes(other, "attacker's");
	id_of(p, &id);
	id_of(other, &other_id);
	fd = mo_safe_open(p, &id, 0, NULL);
	assert_true(fd >= 0);
	assert_int_equal(rename(other, p), 0);	/* the path now names another file */
	assert_int_equal(mo_safe_open(p, &id, 0, NULL), -ESTALE);
	mo_fd_path(fd, self, sizeof(self));
	assert_int_equal(stat(self, &st), 0);
	assert_int_equal(st.st_ino, id.ino);
	assert_true(st.st_ino != other_id.ino);
	close(fd);
}

/* A mapped file deleted and replaced by a FIFO: the mapping's inode is read
 * (map_files, as root), never the FIFO. */
static void test_mapping_replaced_by_fifo(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX], name[PATH_MAX + 64], buf[8] = "";
	struct mo_maps maps = { 0 };
	const struct mo_map *m;
	struct stat st;
	void *map;
	int fd;

	in_dir(d, "mapped", p);
	write_bytes(p, "mapped!");
	fd = open(p, O_RDONLY);
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(mo_procmaps_read(getpid(), &maps), 0);
	m = mo_maps_find(&maps, (uint64_t)(uintptr_t)map);
	assert_non_null(m);
	assert_true(m->deleted);
	fd = mo_safe_open_mapping(getpid(), m, name, sizeof(name), &st);
	if (geteuid() == 0) {
		assert_true(fd >= 0);
		assert_int_equal(st.st_ino, m->inode);
		assert_non_null(strstr(name, "/map_files/"));
		assert_int_equal(pread(fd, buf, 7, 0), 7);
		assert_string_equal(buf, "mapped!");
		close(fd);
	} else {
		/* without map_files: skipped, never the FIFO */
		assert_int_equal(fd, -ESTALE);
	}
	mo_maps_release(&maps);
	munmap(map, 4096);
}

/* A mapping whose path now names another regular file: refused by
 * identity when map_files is not usable (the path fallback). */
static void test_mapping_path_fallback(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX], other[PATH_MAX];
	struct mo_map m = { .start = 1, .end = 2 };	/* no such map_files link */
	struct mo_file_id id;
	int fd;

	in_dir(d, "lib", p);
	in_dir(d, "other", other);
	write_bytes(p, "mapped");
	write_bytes(other, "other");
	id_of(p, &id);
	m.dev_major = id.dev_major;
	m.dev_minor = id.dev_minor;
	m.inode = id.ino;
	m.path = p;
	fd = mo_safe_open_mapping(getpid(), &m, NULL, 0, NULL);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rename(other, p), 0);
	assert_int_equal(mo_safe_open_mapping(getpid(), &m, NULL, 0, NULL), -ESTALE);
	m.deleted = true;
	assert_int_equal(mo_safe_open_mapping(getpid(), &m, NULL, 0, NULL), -ESTALE);
}

/* A process that exited (a zombie: no mm, no root) still has its mapped
 * files found, in our root, by their identity. */
static void test_mapping_of_exited_process(void **state)
{
	struct mo_maps maps = { 0 };
	const struct mo_map *m = NULL;
	char self[PATH_MAX];
	ssize_t n;
	pid_t child;
	int fd, st;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_int_equal(mo_procmaps_read(getpid(), &maps), 0);
	for (size_t i = 0; i < maps.nr && !m; i++)
		if (maps.maps[i].x && maps.maps[i].path && !strcmp(maps.maps[i].path, self))
			m = &maps.maps[i];
	assert_non_null(m);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	/* a zombie once waitid sees it exited (WNOWAIT: not reaped) */
	{
		siginfo_t si;

		assert_int_equal(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
	}
	fd = mo_safe_open_mapping(child, m, NULL, 0, NULL);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(waitpid(child, &st, 0), child);
	/* reaped: the pid is gone altogether */
	fd = mo_safe_open_mapping(child, m, NULL, 0, NULL);
	assert_true(fd >= 0);
	close(fd);
	mo_maps_release(&maps);
}

static void test_sealed_copy(void **state)
{
	struct dir *d = *state;
	char p[PATH_MAX], buf[32] = "";
	const char *text = "debug info, more or less";
	uint32_t crc = 0;
	int fd, copy;

	in_dir(d, "dbg", p);
	write_bytes(p, text);
	fd = mo_safe_open(p, NULL, 0, NULL);
	assert_true(fd >= 0);
	copy = mo_safe_copy(fd, strlen(text), &crc);
	assert_true(copy >= 0);
	assert_int_equal(crc, (uint32_t)crc32(0, (const Bytef *)text, (uInt)strlen(text)));
	/* the owner truncates the original: the copy is unchanged */
	assert_int_equal(truncate(p, 0), 0);
	assert_int_equal(pread(copy, buf, sizeof(buf), 0), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
	/* and nobody shrinks or writes the copy */
	assert_int_equal(ftruncate(copy, 0), -1);
	assert_int_equal(pwrite(copy, "x", 1, 0), -1);
	close(copy);
	/* the original shrank: a copy of the size seen before fails */
	assert_int_equal(mo_safe_copy(fd, strlen(text), NULL), -EIO);
	assert_int_equal(mo_safe_copy(fd, MO_SAFE_MAX_SIZE + 1, NULL), -EFBIG);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused_without_blocking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_sparse_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_path_survives_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_replaced_by_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_path_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_copy, setup, teardown),
		cmocka_unit_test(test_mapping_of_exited_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
