/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * leaks.h - the periodic leak analysis: every stack holding memory gets a
 * history sample, and those old enough a finding (leak or plateau) when
 * their history says so, one per stack per dedup window. Also the OOM
 * kill's report, taken before the exit reclaims the victim's blocks.
 *
 * Owns: the dedup counter. Worker thread only (counters: any thread).
 */
#ifndef MO_CORE_LEAKS_H
#define MO_CORE_LEAKS_H

#include <stdint.h>

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_findings;
struct mo_resident;
struct mo_record;
struct mo_leaks;

struct mo_leaks *mo_leaks_new(const struct mo_env *env, const struct mo_kernel *k,
			      struct mo_proctab *pt, struct mo_stacks *st,
			      struct mo_findings *f, struct mo_resident *rs);
void mo_leaks_free(struct mo_leaks *lk);

/* One analysis pass (every --interval). */
void mo_leaks_periodic(struct mo_leaks *lk, uint64_t now);

/* MO_REC_OOM_KILL: the victim with its biggest holder. */
void mo_leaks_oom_kill(void *lk, const struct mo_record *r);

/* Any thread: findings held back by the dedup window. */
uint64_t mo_leaks_suppressed(const struct mo_leaks *lk);

#endif
