/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * growth.h - the watch tier's analysis: the anonymous memory each stack of
 * a process faulted in (struct mo_growth), sampled every --interval into
 * the stack's history and classified like an allocation stack. A stack
 * that keeps growing while its process's resident memory grows with it is
 * a leak finding of the watch tier, and its process is escalated to the
 * precise tier (escalate.h).
 *
 * Owns: its counters. Worker thread only (counters: any thread).
 */
#ifndef MO_CORE_GROWTH_H
#define MO_CORE_GROWTH_H

#include <stdint.h>

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_findings;
struct mo_resident;
struct mo_escalate;
struct mo_growth_stage;

struct mo_growth_stage *mo_growth_new(const struct mo_env *env, const struct mo_kernel *k,
				      struct mo_proctab *pt, struct mo_stacks *st,
				      struct mo_findings *f, struct mo_resident *rs,
				      struct mo_escalate *es);
void mo_growth_free(struct mo_growth_stage *gs);

/* One analysis pass (every --interval). */
void mo_growth_periodic(struct mo_growth_stage *gs, uint64_t now);

/* Any thread. */
struct mo_growth_stats {
	uint64_t findings;	/* growing stacks reported */
	uint64_t unbacked;	/* growing stacks whose process's RSS did not grow
				   with them (memory given back and faulted again) */
	uint64_t suppressed;	/* held back by the dedup window */
};
void mo_growth_stats(const struct mo_growth_stage *gs, struct mo_growth_stats *out);

#endif
