/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * analysis.h - leak analysis over a snapshot of the allocation table.
 *
 * Groups outstanding allocations older than the age rule by (process,
 * stack), in one pass (hash grouping, O(allocations)), and ranks the groups
 * by unfreed bytes. Sampled records carry a weight (the blocks each stands
 * for, fixed point: abi.h's MO_WEIGHT_ONE is one): bytes and counts are
 * scaled by it and a group with any weight other than one is an estimate.
 */
#ifndef MO_ANALYSIS_H
#define MO_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mo_alloc_rec {
	uint32_t tgid;
	uint32_t kind;		/* enum mo_alloc_kind */
	uint32_t gen;		/* process instance (key of the allocation table) */
	uint64_t addr;
	uint64_t size;
	uint64_t ts_ns;		/* CLOCK_BOOTTIME of the allocation */
	uint64_t stack_id;
	uint64_t weight;	/* allocations this record stands for * MO_WEIGHT_ONE
				   (0 counts as MO_WEIGHT_ONE) */
};

struct mo_leak_group {
	uint32_t tgid;
	uint64_t stack_id;
	uint64_t unfreed_bytes;	/* scaled by weight */
	uint64_t count;		/* scaled by weight, rounded */
	uint64_t oldest_ts_ns;
	uint64_t largest;
	bool estimate;		/* some record's weight was not one */
	uint64_t weight_sum;	/* the records' weights (count * MO_WEIGHT_ONE) */
};

struct mo_leak_groups {
	size_t nr;
	struct mo_leak_group *g;	/* sorted: unfreed_bytes desc, then count desc,
					   then tgid, stack_id asc (deterministic) */
	uint64_t outstanding_bytes;	/* all records, any age (scaled) */
	uint64_t outstanding_count;
};

/* Group records with ts_ns <= now_ns - min_age_ns. Records with a ts in
 * the future (clock skew) count as age 0. 0 or -ENOMEM. */
int mo_analyze(const struct mo_alloc_rec *recs, size_t n, uint64_t now_ns,
	       uint64_t min_age_ns, struct mo_leak_groups *out);

void mo_leak_groups_release(struct mo_leak_groups *g);

#endif
