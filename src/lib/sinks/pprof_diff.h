/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof_diff.h - what grew between two profiles (pprof_read.h), stack by
 * stack: samples are matched by command and frame names, never by
 * address or pid, so two runs of one program compare.
 */
#ifndef MO_PPROF_DIFF_H
#define MO_PPROF_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/pprof_read.h"

struct mo_pprof_change {
	const struct mo_pprof_stack *stack;	/* the later profile's, else the earlier's */
	int64_t before, after;		/* the type's values, summed over the stack's samples */
	int64_t growth;			/* after - before */
	int64_t objects_before, objects_after;	/* the objects type's; 0 without it */
	int64_t objects_growth;
};

struct mo_pprof_diff {
	struct mo_pprof_change *grew;	/* the stacks that grew, most first */
	size_t ngrew;
	size_t nstacks;			/* distinct stacks in either profile */
	int64_t total_before, total_after, total_growth;
	bool objects;			/* both profiles have the objects type */
};

/*
 * Compare a (earlier) with b (later) on sample type `type` (both must
 * have it) and, when both have it, `objects` (may be NULL). Sums and
 * differences saturate. 0, -EINVAL with *why naming the profile ("the first profile
 * has no inuse_space values"), -ENOMEM. Release with
 * mo_pprof_diff_release, also after an error; d points into b and a.
 */
int mo_pprof_diff(const struct mo_pprof_data *a, const struct mo_pprof_data *b, const char *type,
		  const char *objects, struct mo_pprof_diff *d, const char **why);

void mo_pprof_diff_release(struct mo_pprof_diff *d);

#endif
