/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * extents.h - free space of a fixed array of rows, handed out in contiguous
 * runs (first fit), given back and coalesced. A run given back is not
 * handed out again at once: it waits a grace period, for readers that may
 * still hold its indexes (a BPF walk in flight) to be done with it.
 */
#ifndef MO_EXTENTS_H
#define MO_EXTENTS_H

#include <stdbool.h>
#include <stdint.h>

struct mo_extents;

/* All of [0, capacity) free. NULL + errno on ENOMEM. */
struct mo_extents *mo_extents_new(uint32_t capacity);
void mo_extents_free(struct mo_extents *x);

/* The first free run of n rows (n > 0): its start, or -ENOSPC. */
int64_t mo_extents_alloc(struct mo_extents *x, uint32_t n);

/* [start, start + n) given back at now_ns: free from now_ns + grace_ns. 0 or -ENOMEM. */
int mo_extents_release(struct mo_extents *x, uint32_t start, uint32_t n, uint64_t now_ns,
		       uint64_t grace_ns);

/* Runs whose grace ended by now_ns become free (merged with their neighbours).
 * Returns how many rows are still waiting. */
uint64_t mo_extents_settle(struct mo_extents *x, uint64_t now_ns);

/* Whether n contiguous rows will be free once every waiting run is. */
bool mo_extents_fits_later(const struct mo_extents *x, uint32_t n);

/* Rows free now, and rows waiting for their grace to end. */
uint64_t mo_extents_free_rows(const struct mo_extents *x);
uint64_t mo_extents_waiting_rows(const struct mo_extents *x);

#endif
