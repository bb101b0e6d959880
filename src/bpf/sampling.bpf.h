/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampling.bpf.h - which allocator calls the kernel side tracks and what a
 * tracked heap block stands for: every call, one call in N (--sample N), or
 * byte sampling (--sample-bytes R, the math in sampling_math.h) with its
 * countdown in the calling thread's state. Include after maps.bpf.h.
 */
#ifndef MO_SAMPLING_BPF_H
#define MO_SAMPLING_BPF_H

__u64 sample_next(void);
#define MO_SAMPLE_NEXT() sample_next()
#include "sampling_math.h"

const volatile __u64 sample_bytes = 0;			/* mean bytes between sample
							   points, 0 = off */
const volatile __u32 sample_log2tab[MO_LOG2_N + 1] = {};	/* its tables, */
const volatile __u32 sample_gtab[MO_GTAB_N + 1] = {};		/* filled at load */

/*
 * The next countdown, and the weight of a tracked block of size bytes. Global
 * functions, which the verifier checks once on their own: inlined, each of
 * the draw's branches (its bit scan) would multiply the states of the
 * allocator programs past the verifier's limit. bpf_get_prandom_u32 is
 * called at sample points only: a generator of our own per thread would
 * save nothing measurable.
 */
__noinline __u64 sample_next(void)
{
	return mo_sample_draw(sample_log2tab, bpf_get_prandom_u32(), sample_bytes);
}

__noinline __u64 sample_weight(__u64 size)
{
	return mo_sample_weight(sample_gtab, size, sample_bytes);
}

/*
 * Skip this call? --sample N: one call in N, at random. --sample-bytes R:
 * unless the call reaches the thread's next sample point (ts: the thread's
 * state, not NULL then). Counted as sampled out.
 */
static __always_inline bool sampled_out(struct mo_thread_state *ts, __u64 size)
{
	if (sample_bytes) {
		if (mo_sample_countdown(&ts->sample_left, size))
			return false;
	} else if (sample_rate <= 1 || bpf_get_prandom_u32() % sample_rate == 0) {
		return false;
	}
	count(MO_C_DROP_SAMPLED);
	return true;
}

/* What a tracked block stands for * MO_WEIGHT_ONE (abi.h's sample_weight).
 * Pass kind as the caller knows it (a constant where it is one): the
 * programs of mappings then make no call here and keep their stack for the
 * walker's frames (a call's saved registers can cross the verifier's
 * 512 bytes). */
static __always_inline __u64 record_weight(__u32 kind, __u64 size, __u32 stored_weight)
{
	if (sample_bytes && kind == MO_KIND_HEAP)
		return sample_weight(size);
	return (__u64)stored_weight << MO_WEIGHT_SHIFT;
}

#endif
