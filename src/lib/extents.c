// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * extents.c - free runs of a row array (extents.h). Both lists are sorted by
 * start and never overlap each other; free runs are never adjacent (merged
 * on insertion). Their lengths are bounded by the modules loaded, a few
 * thousand: linear scans.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extents.h"
#include "util.h"

struct run {
	uint32_t start;
	uint32_t len;
	uint64_t ready_ns;	/* waiting runs: free from then on */
};

struct mo_extents {
	struct run *free;
	size_t nfree, capfree;
	struct run *wait;
	size_t nwait, capwait;
	uint64_t free_rows, waiting_rows;
};

struct mo_extents *mo_extents_new(uint32_t capacity)
{
	struct mo_extents *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	if (capacity) {
		if (mo_grow((void **)&x->free, &x->capfree, 1, sizeof(*x->free))) {
			free(x);
			errno = ENOMEM;
			return NULL;
		}
		x->free[0] = (struct run){ .start = 0, .len = capacity };
		x->nfree = 1;
		x->free_rows = capacity;
	}
	return x;
}

void mo_extents_free(struct mo_extents *x)
{
	if (!x)
		return;
	free(x->free);
	free(x->wait);
	free(x);
}

int64_t mo_extents_alloc(struct mo_extents *x, uint32_t n)
{
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < x->nfree; i++) {
		struct run *r = &x->free[i];
		uint32_t start = r->start;

		if (r->len < n)
			continue;
		r->start += n;
		r->len -= n;
		if (!r->len) {
			memmove(r, r + 1, (x->nfree - i - 1) * sizeof(*r));
			x->nfree--;
		}
		x->free_rows -= n;
		return start;
	}
	return -ENOSPC;
}

/* Into the free list, merged with the runs it touches. */
static int insert_free(struct mo_extents *x, uint32_t start, uint32_t len)
{
	size_t i = 0;

	while (i < x->nfree && x->free[i].start < start)
		i++;
	x->free_rows += len;
	if (i > 0 && x->free[i - 1].start + x->free[i - 1].len == start) {
		x->free[i - 1].len += len;
		if (i < x->nfree && start + len == x->free[i].start) {
			x->free[i - 1].len += x->free[i].len;
			memmove(&x->free[i], &x->free[i + 1], (x->nfree - i - 1) * sizeof(*x->free));
			x->nfree--;
		}
		return 0;
	}
	if (i < x->nfree && start + len == x->free[i].start) {
		x->free[i].start = start;
		x->free[i].len += len;
		return 0;
	}
	if (mo_grow((void **)&x->free, &x->capfree, x->nfree + 1, sizeof(*x->free))) {
		x->free_rows -= len;
		return -ENOMEM;
	}
	memmove(&x->free[i + 1], &x->free[i], (x->nfree - i) * sizeof(*x->free));
	x->free[i] = (struct run){ .start = start, .len = len };
	x->nfree++;
	return 0;
}

int mo_extents_release(struct mo_extents *x, uint32_t start, uint32_t n, uint64_t now_ns,
		       uint64_t grace_ns)
{
	size_t i = 0;

	if (!n)
		return 0;
	if (!grace_ns)
		return insert_free(x, start, n);
	if (mo_grow((void **)&x->wait, &x->capwait, x->nwait + 1, sizeof(*x->wait)))
		return -ENOMEM;
	while (i < x->nwait && x->wait[i].start < start)
		i++;
	memmove(&x->wait[i + 1], &x->wait[i], (x->nwait - i) * sizeof(*x->wait));
	x->wait[i] = (struct run){ .start = start, .len = n, .ready_ns = now_ns + grace_ns };
	x->nwait++;
	x->waiting_rows += n;
	return 0;
}

uint64_t mo_extents_settle(struct mo_extents *x, uint64_t now_ns)
{
	size_t k = 0;

	for (size_t i = 0; i < x->nwait; i++) {
		struct run r = x->wait[i];

		/* a run that cannot be inserted (ENOMEM) waits for the next settle */
		if (r.ready_ns <= now_ns && !insert_free(x, r.start, r.len)) {
			x->waiting_rows -= r.len;
			continue;
		}
		x->wait[k++] = r;
	}
	x->nwait = k;
	return x->waiting_rows;
}

bool mo_extents_fits_later(const struct mo_extents *x, uint32_t n)
{
	size_t i = 0, j = 0;
	uint64_t run = 0, end = 0;

	/* the two lists merged by start: the longest chain of touching runs */
	while (i < x->nfree || j < x->nwait) {
		const struct run *r;

		if (j >= x->nwait || (i < x->nfree && x->free[i].start < x->wait[j].start))
			r = &x->free[i++];
		else
			r = &x->wait[j++];
		if (run && r->start == end)
			run += r->len;
		else
			run = r->len;
		end = (uint64_t)r->start + r->len;
		if (run >= n)
			return true;
	}
	return false;
}

uint64_t mo_extents_free_rows(const struct mo_extents *x)
{
	return x->free_rows;
}

uint64_t mo_extents_waiting_rows(const struct mo_extents *x)
{
	return x->waiting_rows;
}
