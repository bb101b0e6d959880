/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * util.h - the few helpers every part of the library shares: the clock,
 * one overflow-checked array growth, one u64 comparator, one read loop and
 * the process-wide hook (a function another module installs).
 */
#ifndef MO_UTIL_H
#define MO_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MO_NSEC 1000000000ULL

/* Nanoseconds of clock c. */
uint64_t mo_clock_ns(clockid_t c);

/*
 * Make room for need elements of size elem in *arr of capacity *cap
 * (doubling, at least 16). 0, or -ENOMEM (also on size overflow) with *arr
 * and *cap unchanged.
 */
int mo_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* MO_GROW(arr, need, cap): mo_grow for a typed array. */
#define MO_GROW(arr, need, cap) mo_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* qsort/bsearch comparator of uint64_t. */
int mo_u64_cmp(const void *a, const void *b);

/*
 * Read len bytes into buf: with pread from offset off on, or with read from
 * the file's position when off is negative. EINTR and short reads are
 * retried; fewer than len bytes only at end of file. The bytes read, or
 * -errno.
 */
ssize_t mo_read_all(int fd, void *buf, size_t len, off_t off);

/*
 * A process-wide function with its context, set and read under one lock
 * (a parser or reader another module installs). fn is kept as the generic
 * mo_hook_fn; the owner casts it back to its real type before calling it.
 */
typedef void (*mo_hook_fn)(void);

struct mo_hook {
	pthread_mutex_t lock;
	mo_hook_fn fn;
	void *ctx;
};

#define MO_HOOK_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Install fn with ctx; a NULL fn removes the hook and its ctx. */
void mo_hook_set(struct mo_hook *h, mo_hook_fn fn, void *ctx);

/* The installed fn and its ctx, read together; either out may be NULL. */
void mo_hook_get(struct mo_hook *h, mo_hook_fn *fn, void **ctx);

/* Counters written by one thread and read by others. */
static inline void mo_stat_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline uint64_t mo_stat_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
