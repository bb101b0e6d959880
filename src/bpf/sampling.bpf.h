/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampling.bpf.h - which allocator calls the kernel side tracks and what a
 * tracked heap block stands for: every call, one call in N (--sample N), or
 * byte sampling (--sample-bytes R, the math in sampling_math.h) with its
 * countdown in the calling thread's state. Include after maps.bpf.h.
 */
#ifndef MO_SAMPLING_BPF_H
#define MO_SAMPLING_BPF_H

/* bpf_get_prandom_u32 is called at sample points only: a per-thread
 * generator would save nothing measurable there */
#define MO_SAMPLE_RANDOM() bpf_get_prandom_u32()
#include "sampling_math.h"

const volatile __u64 sample_bytes = 0;			/* mean bytes between sample
							   points, 0 = off */
const volatile __u32 sample_log2tab[MO_LOG2_N + 1] = {};	/* its tables, */
const volatile __u32 sample_gtab[MO_GTAB_N + 1] = {};		/* filled at load */

/*
 * Skip this call? --sample N: one call in N, at random. --sample-bytes R:
 * unless the call reaches the thread's next sample point (ts: the thread's
 * state, not NULL then). Counted as sampled out.
 */
static __always_inline bool sampled_out(struct mo_thread_state *ts, __u64 size)
{
	if (sample_bytes) {
		if (mo_sample_countdown(sample_log2tab, &ts->sample_left, size, sample_bytes))
			return false;
	} else if (sample_rate <= 1 || bpf_get_prandom_u32() % sample_rate == 0) {
		return false;
	}
	count(MO_C_DROP_SAMPLED);
	return true;
}

/* The blocks a tracked heap block of size bytes stands for * MO_WEIGHT_ONE. */
static __always_inline __u64 heap_weight(__u64 size)
{
	if (sample_bytes)
		return mo_sample_weight(sample_gtab, size, sample_bytes);
	return sample_rate > 1 ? (__u64)sample_rate << MO_WEIGHT_SHIFT : MO_WEIGHT_ONE;
}

#endif
