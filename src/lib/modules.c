// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * modules.c - feed the kernel walker with unwind rows, one file at a time.
 */
#include <errno.h>
#include <signal.h>
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
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/types.h>

#include "abi.h"
#include "deps.h"
#include "extents.h"
#include "modules.h"
#include "procmaps.h"
#include "safefile.h"
#include "unwind_table.h"
#include "util.h"

/* Files not loaded are remembered so a walk does not retry them on every
 * stack, but only this many: the oldest is forgotten (and may be tried
 * again) so a node that runs ever new programs does not grow the list. */
#define MAX_FAILED 4096

/* Files waiting for rows freed by an eviction (their grace period): beyond
 * this many, a file is left to the caller to ask for again. */
#define MAX_DEFERRED 1024

/* Rows of evicted files are reused only after this: a walk that read their
 * indexes before the eviction (microseconds) is done with them by then. */
#define GRACE_NS 1000000000ULL

/* Files the walker used this recently are evicted only when the file that
 * waits needs their rows, not to reach the 3/4 target. */
#define IDLE_NS 10000000000ULL

struct seen {
	uint64_t dev;
	uint64_t ino;
	int state;	/* 1 loaded, -1 failed */
	uint32_t row_start, row_count;	/* loaded ones */
	uint64_t seq;			/* load order: ties of last use */
	char *path;	/* as the process named it (no /proc/PID/root prefix) */
	struct seen *next;		/* hash chain */
	struct seen *newer;		/* failed ones, oldest first */
};

struct mo_modules {
	int rows_fd;
	int modules_fd;
	uint32_t capacity;
	uint32_t used;		/* rows of loaded files */
	struct mo_extents *ext;
	uint64_t grace_ns;
	uint32_t epoch;
	uint64_t seq;
	struct seen **buckets;	/* by (dev, ino); a power of two of them */
	size_t nbuckets, nseen, nloaded;
	struct seen *failed_oldest, *failed_newest;
	size_t nfailed;
	struct mo_module_key *deferred;
	size_t ndeferred, capdeferred;
	mo_rows_builder_fn build;
	void *build_ctx;
	const struct mo_modules_map_ops *map;
	void *map_ctx;
	const struct mo_modules_walker *walker;
	void *walker_ctx;
	struct mo_modules_stats st;
};

static int bpf_put(void *ctx, const struct mo_module_key *k, const struct mo_module_info *v)
{
	return bpf_map_update_elem(*(int *)ctx, k, v, BPF_ANY) ? -errno : 0;
}

static int bpf_get(void *ctx, const struct mo_module_key *k, struct mo_module_info *v)
{
	return bpf_map_lookup_elem(*(int *)ctx, k, v) ? -errno : 0;
}

static int bpf_del(void *ctx, const struct mo_module_key *k)
{
	return bpf_map_delete_elem(*(int *)ctx, k) ? -errno : 0;
}

static const struct mo_modules_map_ops bpf_map_ops = {
	.put = bpf_put,
	.get = bpf_get,
	.del = bpf_del,
};

static int build_here(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out)
{
	return mo_unwind_table_build_fd(fd, out);
}

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
	m->ext = mo_extents_new(capacity);
	if (!m->ext) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->rows_fd = rows_fd;
	m->modules_fd = modules_fd;
	m->capacity = capacity;
	m->grace_ns = GRACE_NS;
	m->st.rows_capacity = capacity;
	m->build = build_here;
	m->map = &bpf_map_ops;
	m->map_ctx = &m->modules_fd;
	return m;
}

void mo_modules_set_map(struct mo_modules *m, const struct mo_modules_map_ops *ops, void *ctx)
{
	m->map = ops ? ops : &bpf_map_ops;
	m->map_ctx = ops ? ctx : &m->modules_fd;
}

void mo_modules_set_walker(struct mo_modules *m, const struct mo_modules_walker *w, void *ctx)
{
	m->walker = w;
	m->walker_ctx = ctx;
}

void mo_modules_set_grace(struct mo_modules *m, uint64_t grace_ns)
{
	m->grace_ns = grace_ns;
}

void mo_modules_set_builder(struct mo_modules *m, mo_rows_builder_fn fn, void *ctx)
{
	m->build = fn ? fn : build_here;
	m->build_ctx = fn ? ctx : NULL;
}

void mo_modules_free(struct mo_modules *m)
{
	if (!m)
		return;
	for (size_t b = 0; b < m->nbuckets; b++) {
		struct seen *e, *next;

		for (e = m->buckets[b]; e; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
	}
	free(m->buckets);
	free(m->deferred);
	mo_extents_free(m->ext);
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

static size_t bucket_of(size_t nbuckets, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;

	return (size_t)(h >> 32) & (nbuckets - 1);
}

static struct seen *find_seen(const struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	if (!m->nbuckets)
		return NULL;
	for (struct seen *e = m->buckets[bucket_of(m->nbuckets, dev, ino)]; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e;
	return NULL;
}

static int rehash(struct mo_modules *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 256;
	struct seen **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct seen *e, *next;

		for (e = m->buckets[i]; e; e = next) {
			size_t k = bucket_of(n, e->dev, e->ino);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

static void forget(struct mo_modules *m, struct seen *old)
{
	struct seen **pp;

	for (pp = &m->buckets[bucket_of(m->nbuckets, old->dev, old->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == old) {
			*pp = old->next;
			break;
		}
	}
	m->nseen--;
	free(old->path);
	free(old);
}

static void forget_oldest_failure(struct mo_modules *m)
{
	struct seen *old = m->failed_oldest;

	m->failed_oldest = old->newer;
	if (!m->failed_oldest)
		m->failed_newest = NULL;
	m->nfailed--;
	forget(m, old);
}

static struct seen *remember(struct mo_modules *m, uint64_t dev, uint64_t ino, int state,
			     const char *path)
{
	struct seen *e;
	size_t k;

	if (m->nseen >= m->nbuckets && rehash(m))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	*e = (struct seen){ .dev = dev, .ino = ino, .state = state, .seq = ++m->seq };
	e->path = path ? strdup(path) : NULL;
	k = bucket_of(m->nbuckets, dev, ino);
	e->next = m->buckets[k];
	m->buckets[k] = e;
	m->nseen++;
	if (state < 0) {
		if (m->failed_newest)
			m->failed_newest->newer = e;
		else
			m->failed_oldest = e;
		m->failed_newest = e;
		if (++m->nfailed > MAX_FAILED)
			forget_oldest_failure(m);
	}
	return e;
}

/* A file that waits for rows being freed: the walker is asked to ask for it
 * again once they are (mo_modules_tick). -EBUSY, or -EAGAIN when too many
 * wait already (the caller has it asked for again itself). */
static int defer(struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < m->ndeferred; i++)
		if (m->deferred[i].dev == dev && m->deferred[i].ino == ino)
			return -EBUSY;
	if (m->ndeferred >= MAX_DEFERRED ||
	    MO_GROW(m->deferred, m->ndeferred + 1, m->capdeferred))
		return -EAGAIN;
	m->deferred[m->ndeferred++] = (struct mo_module_key){ .dev = dev, .ino = ino };
	mo_stat_add(&m->st.deferred, 1);
	return -EBUSY;
}

struct victim {
	struct seen *e;
	uint64_t last_ns;
};

static int by_last_use(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	if (x->last_ns != y->last_ns)
		return x->last_ns < y->last_ns ? -1 : 1;
	return x->e->seq < y->e->seq ? -1 : x->e->seq > y->e->seq;
}

/*
 * Make room for a file of n rows: evict the files the walker used least
 * recently until n rows will fit once the grace period of the freed ones
 * ends, and, among files idle for IDLE_NS, until at most 3/4 of the array
 * stays used with them (so rounds are rare). Evicted files leave the modules map and the seen list; the walker
 * is told to ask for them again and that row indexes it cached are stale.
 * Returns how many files were evicted.
 */
static size_t evict(struct mo_modules *m, uint32_t n, uint64_t now)
{
	uint64_t quarter = m->capacity / 4 * 3;
	uint64_t target = quarter >= n ? quarter - n : 0;
	struct victim *v;
	size_t nv = 0, done = 0;

	if (mo_extents_fits_later(m->ext, n) && m->used <= target)
		return 0;
	v = calloc(m->nloaded ? m->nloaded : 1, sizeof(*v));
	if (!v)
		return 0;
	for (size_t b = 0; b < m->nbuckets; b++) {
		for (struct seen *e = m->buckets[b]; e && nv < m->nloaded; e = e->next) {
			struct mo_module_key k = { .dev = e->dev, .ino = e->ino };
			struct mo_module_info info;

			if (e->state != 1)
				continue;
			v[nv].e = e;
			v[nv++].last_ns = m->map->get(m->map_ctx, &k, &info) ? 0 : info.last_ns;
		}
	}
	qsort(v, nv, sizeof(*v), by_last_use);
	for (size_t i = 0; i < nv; i++) {
		struct seen *e = v[i].e;
		struct mo_module_key k = { .dev = e->dev, .ino = e->ino };
		int r;

		if (mo_extents_fits_later(m->ext, n) &&
		    (m->used <= target || now - v[i].last_ns < IDLE_NS))
			break;
		/* gone from the map first: a walk that looks it up from now on
		 * asks for it; only then are its rows given back */
		r = m->map->del(m->map_ctx, &k);
		if (r && r != -ENOENT)
			continue;
		/* no memory to note its rows free: they stay taken for good,
		 * but the file, gone from the map, is forgotten all the same
		 * (else it would pass for loaded and never be asked for) */
		if (!mo_extents_release(m->ext, e->row_start, e->row_count, now, m->grace_ns))
			m->used -= e->row_count;
		m->nloaded--;
		if (m->walker)
			m->walker->ask_again(m->walker_ctx, e->dev, e->ino);
		forget(m, e);
		done++;
	}
	free(v);
	if (done) {
		m->epoch++;
		if (m->walker)
			m->walker->rows_epoch(m->walker_ctx, m->epoch);
		mo_stat_add(&m->st.evicted, done);
		__atomic_store_n(&m->st.rows_used, m->used, __ATOMIC_RELAXED);
	}
	return done;
}

void mo_modules_tick(struct mo_modules *m, uint64_t now)
{
	if (mo_extents_settle(m->ext, now) || !m->ndeferred)
		return;
	/* the rows are free: the files that waited for them are asked for */
	for (size_t i = 0; i < m->ndeferred; i++)
		if (m->walker)
			m->walker->ask_again(m->walker_ctx, m->deferred[i].dev, m->deferred[i].ino);
	m->ndeferred = 0;
}

/* Compile the rows of the file open at fd (-errno: it could not be opened
 * safely, remembered as refused) and publish them under (dev, ino). */
static int load_file(struct mo_modules *m, int fd, const char *name, uint64_t dev, uint64_t ino)
{
	struct mo_unwind_table t = { 0 };
	struct mo_module_key key = { .dev = dev, .ino = ino };
	struct mo_module_info info = { 0 };
	uint64_t now;
	struct seen *e;
	int64_t start;
	int err;

	if (find_seen(m, dev, ino))
		return 0;
	if (fd < 0) {
		mo_stat_add(&m->st.refused, 1);
		remember(m, dev, ino, -1, name);
		return fd;
	}
	now = mo_clock_ns(CLOCK_BOOTTIME);
	mo_extents_settle(m->ext, now);
	/* others wait for freed rows already: no build that would wait too */
	if (m->ndeferred)
		return defer(m, dev, ino);
	err = m->build(m->build_ctx, fd, m->capacity, &t);
	if (err == -EAGAIN)
		return err;	/* not remembered: the caller has it asked for again */
	if (err == -ENOSPC || (!err && t.nrows > m->capacity)) {
		/* larger than the whole array: no eviction makes room */
		mo_stat_add(&m->st.full, 1);
		mo_unwind_table_release(&t);
		remember(m, dev, ino, -1, name);
		return -ENOSPC;
	}
	if (err || t.nrows == 0) {
		mo_stat_add(&m->st.failed, 1);
		mo_unwind_table_release(&t);
		remember(m, dev, ino, -1, name);
		return err ? err : -ENODATA;
	}
	start = mo_extents_alloc(m->ext, (uint32_t)t.nrows);
	if (start < 0 && evict(m, (uint32_t)t.nrows, now)) {
		mo_extents_settle(m->ext, now);
		start = mo_extents_alloc(m->ext, (uint32_t)t.nrows);
	}
	if (start < 0) {
		mo_unwind_table_release(&t);
		return defer(m, dev, ino);
	}
	info.row_start = (uint32_t)start;
	info.row_count = (uint32_t)t.nrows;
	info.vaddr_min = t.vaddr_min;
	info.off_to_vaddr = t.off_to_vaddr;
	info.last_ns = now;
	err = put_rows(m, info.row_start, t.rows, t.nrows);
	mo_unwind_table_release(&t);
	/* rows first, then the module entry that makes them visible */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!err)
		err = m->map->put(m->map_ctx, &key, &info);
	e = err ? NULL : remember(m, dev, ino, 1, name);
	if (!e) {
		/* never visible (or no longer): the rows are free at once */
		if (!err)
			m->map->del(m->map_ctx, &key);
		mo_extents_release(m->ext, info.row_start, info.row_count, now, 0);
		remember(m, dev, ino, -1, name);
		return err ? err : -ENOMEM;
	}
	e->row_start = info.row_start;
	e->row_count = info.row_count;
	m->nloaded++;
	m->used += info.row_count;
	__atomic_store_n(&m->st.rows_used, m->used, __ATOMIC_RELAXED);
	mo_stat_add(&m->st.loaded, 1);
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
	/* the process went away meanwhile: nothing is known of the file */
	if (fd < 0 && kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	r = load_file(m, fd, mp->path, dev, mp->inode);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Does path's last component start with one of the prefixes (NULL: any)? */
static bool named(const char *path, const char *const *prefixes)
{
	const char *base = strrchr(path, '/');

	if (!prefixes)
		return true;
	base = base ? base + 1 : path;
	for (; *prefixes; prefixes++)
		if (!strncmp(base, *prefixes, strlen(*prefixes)))
			return true;
	return false;
}

static int load_pid_named(struct mo_modules *m, pid_t pid, const char *const *prefixes)
{
	struct mo_maps maps = { 0 };
	int err, n = 0;

	err = mo_procmaps_read(pid, &maps);
	if (err)
		return err;
	for (size_t i = 0; i < maps.nr; i++) {
		const struct mo_map *mp = &maps.maps[i];

		if (!mp->x || !mp->inode || !mp->path || mp->path[0] != '/' ||
		    !named(mp->path, prefixes))
			continue;
		if (load_mapping(m, pid, mp) == 1)
			n++;
	}
	mo_maps_release(&maps);
	return n;
}

int mo_modules_load_pid(struct mo_modules *m, pid_t pid)
{
	return load_pid_named(m, pid, NULL);
}

int mo_modules_load_libc(struct mo_modules *m, pid_t pid)
{
	static const char *const libc[] = { "libc.so", "libc-2.", "ld-linux", "ld-musl", NULL };

	return load_pid_named(m, pid, libc);
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

bool mo_modules_loaded(const struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	const struct seen *e = find_seen(m, dev, ino);

	return e && e->state > 0;
}

int mo_modules_load_path(struct mo_modules *m, const char *path)
{
	struct stat st;
	int fd = mo_safe_open(path, NULL, 0, &st), r;
	char real[PATH_MAX];

	if (fd < 0)
		return fd;
	/* named as a mapping of it will be (/proc/PID/maps shows the file
	 * reached, not the symlinks of the path that found it) */
	if (!mo_fd_target(fd, real, sizeof(real)) && real[0] == '/' &&
	    strncmp(real, "/memfd:", 7))
		path = real;
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

/* Any thread: the worker writes them. */
void mo_modules_stats(const struct mo_modules *m, struct mo_modules_stats *out)
{
	out->loaded = mo_stat_get(&m->st.loaded);
	out->failed = mo_stat_get(&m->st.failed);
	out->rows_used = mo_stat_get(&m->st.rows_used);
	out->rows_capacity = m->st.rows_capacity;
	out->full = mo_stat_get(&m->st.full);
	out->refused = mo_stat_get(&m->st.refused);
	out->evicted = mo_stat_get(&m->st.evicted);
	out->deferred = mo_stat_get(&m->st.deferred);
}

const char *mo_modules_path(const struct mo_modules *m, uint64_t dev, uint64_t ino)
{
	const struct seen *e = find_seen(m, dev, ino);

	return e ? e->path : NULL;
}
