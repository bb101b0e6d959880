// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * modules.c - feed the kernel walker with unwind rows, one file at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/types.h>

#include "abi.h"
#include "deps.h"
#include "modules.h"
#include "procmaps.h"
#include "safefile.h"
#include "unwind_table.h"

struct seen {
	uint64_t dev;
	uint64_t ino;
	int state;	/* 1 loaded, -1 failed */
	char *path;	/* as the process named it (no /proc/PID/root prefix) */
};

struct mo_modules {
	int rows_fd;
	int modules_fd;
	uint32_t capacity;
	uint32_t used;
	struct seen *seen;
	size_t nseen, capseen;
	struct mo_modules_stats st;
};

struct mo_modules *mo_modules_new(int rows_fd, uint32_t capacity, int modules_fd)
{
	struct mo_modules *m = calloc(1, sizeof(*m));
	void *p;

	if (!m)
		return NULL;
	/* check now that the array maps at all; rows are then written through
	 * short-lived mappings of just the pages a module needs, so the
	 * (mostly empty) array never counts in our resident memory */
	p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, rows_fd,
		 0);
	if (p == MAP_FAILED) {
		int err = errno;

		free(m);
		errno = err;
		return NULL;
	}
	munmap(p, (size_t)sysconf(_SC_PAGESIZE));
	m->rows_fd = rows_fd;
	m->modules_fd = modules_fd;
	m->capacity = capacity;
	m->st.rows_capacity = capacity;
	return m;
}

void mo_modules_free(struct mo_modules *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nseen; i++)
		free(m->seen[i].path);
	free(m->seen);
	free(m);
}

/* Copy rows into the array at index first, through a temporary mapping. */
static int put_rows(struct mo_modules *m, uint32_t first, const struct mo_unwind_row *rows,
		    size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t start = (size_t)first * sizeof(*rows), len = n * sizeof(*rows);
	size_t off = start & ~(page - 1), maplen = start + len - off;
	char *p;

	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, m->rows_fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	memcpy(p + (start - off), rows, len);
	munmap(p, maplen);
	return 0;
}

static struct seen *find_seen(struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < m->nseen; i++)
		if (m->seen[i].dev == dev && m->seen[i].ino == ino)
			return &m->seen[i];
	return NULL;
}

static int remember(struct mo_modules *m, uint64_t dev, uint64_t ino, int state,
		    const char *path)
{
	if (m->nseen == m->capseen) {
		size_t cap = m->capseen ? m->capseen * 2 : 64;
		struct seen *n = realloc(m->seen, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->seen = n;
		m->capseen = cap;
	}
	m->seen[m->nseen++] = (struct seen){ dev, ino, state, path ? strdup(path) : NULL };
	return 0;
}

/* Compile the rows of the file open at fd (-errno: it could not be opened
 * safely, remembered as refused) and publish them under (dev, ino). */
static int load_file(struct mo_modules *m, int fd, const char *name, uint64_t dev, uint64_t ino)
{
	struct mo_unwind_table t = { 0 };
	struct mo_module_key key = { .dev = dev, .ino = ino };
	struct mo_module_info info = { 0 };
	int err;

	if (find_seen(m, dev, ino))
		return 0;
	if (fd < 0) {
		m->st.refused++;
		remember(m, dev, ino, -1, name);
		return fd;
	}
	err = mo_unwind_table_build_fd(fd, &t);
	if (err || t.nrows == 0) {
		m->st.failed++;
		mo_unwind_table_release(&t);
		remember(m, dev, ino, -1, name);
		return err ? err : -ENODATA;
	}
	if (t.nrows > m->capacity - m->used) {
		m->st.full++;
		mo_unwind_table_release(&t);
		remember(m, dev, ino, -1, name);
		return -ENOSPC;
	}
	err = put_rows(m, m->used, t.rows, t.nrows);
	if (err) {
		mo_unwind_table_release(&t);
		remember(m, dev, ino, -1, name);
		return err;
	}
	info.row_start = m->used;
	info.row_count = (uint32_t)t.nrows;
	info.vaddr_min = t.vaddr_min;
	info.off_to_vaddr = t.off_to_vaddr;
	mo_unwind_table_release(&t);
	/* rows first, then the module entry that makes them visible */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (bpf_map_update_elem(m->modules_fd, &key, &info, BPF_ANY)) {
		err = -errno;
		remember(m, dev, ino, -1, name);
		return err;
	}
	m->used += info.row_count;
	m->st.rows_used = m->used;
	m->st.loaded++;
	remember(m, dev, ino, 1, name);
	return 1;
}

static uint64_t kdev(uint32_t major, uint32_t minor)
{
	return ((uint64_t)major << 20) | minor;
}

/* The mapped inode itself (safefile.h), whatever its path names now. */
static int load_mapping(struct mo_modules *m, pid_t pid, const struct mo_map *mp)
{
	uint64_t dev = kdev(mp->dev_major, mp->dev_minor);
	int fd, r;

	if (find_seen(m, dev, mp->inode))
		return 0;
	fd = mo_safe_open_mapping(pid, mp, NULL, 0, NULL);
	r = load_file(m, fd, mp->path, dev, mp->inode);
	if (fd >= 0)
		close(fd);
	return r;
}

int mo_modules_load_pid(struct mo_modules *m, pid_t pid)
{
	struct mo_maps maps = { 0 };
	int err, n = 0;

	err = mo_procmaps_read(pid, &maps);
	if (err)
		return err;
	for (size_t i = 0; i < maps.nr; i++) {
		const struct mo_map *mp = &maps.maps[i];

		if (!mp->x || !mp->inode || !mp->path || mp->path[0] != '/')
			continue;
		if (load_mapping(m, pid, mp) == 1)
			n++;
	}
	mo_maps_release(&maps);
	return n;
}

int mo_modules_load_id(struct mo_modules *m, pid_t pid, uint64_t dev, uint64_t ino)
{
	struct mo_maps maps = { 0 };
	int err = -ENOENT;

	if (find_seen(m, dev, ino))
		return 0;
	if (mo_procmaps_read(pid, &maps))
		return -ESRCH;
	for (size_t i = 0; i < maps.nr; i++) {
		const struct mo_map *mp = &maps.maps[i];

		if (mp->inode != ino || kdev(mp->dev_major, mp->dev_minor) != dev || !mp->path)
			continue;
		err = load_mapping(m, pid, mp);
		break;
	}
	mo_maps_release(&maps);
	return err;
}

int mo_modules_load_path(struct mo_modules *m, const char *path)
{
	struct stat st;
	int fd = mo_safe_open(path, NULL, 0, &st), r;

	char link[64], real[PATH_MAX];
	ssize_t n;

	if (fd < 0)
		return fd;
	/* named as a mapping of it will be (/proc/PID/maps shows the file
	 * reached, not the symlinks of the path that found it) */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n > 0 && real[0] == '/' && strncmp(real, "/memfd:", 7)) {
		real[n] = '\0';
		path = real;
	}
	r = load_file(m, fd, path, kdev(major(st.st_dev), minor(st.st_dev)), st.st_ino);
	close(fd);
	return r;
}

int mo_modules_preload_command(struct mo_modules *m, const char *exe_path)
{
	struct mo_deps d;
	int loaded = 0;

	if (mo_deps_resolve(exe_path, &d))
		return 0;
	for (size_t i = 0; i < d.nr; i++)
		if (mo_modules_load_path(m, d.paths[i]) == 1)
			loaded++;
	mo_deps_release(&d);
	return loaded;
}

void mo_modules_stats(const struct mo_modules *m, struct mo_modules_stats *out)
{
	*out = m->st;
}

const char *mo_modules_path(const struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < m->nseen; i++)
		if (m->seen[i].dev == dev && m->seen[i].ino == ino)
			return m->seen[i].path;
	return NULL;
}
