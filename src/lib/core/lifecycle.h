/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * lifecycle.h - processes coming and going: fork, exec and exit records;
 * the reclaim of an exited process (its remaining blocks become its final
 * findings, its state everywhere is forgotten) or of an exec'd one (the old
 * image's blocks are dropped); recovery when such records were lost.
 *
 * Owns: the reclaim queue, the final findings of exited processes (bounded),
 * the totals of exited processes per name (read by the metrics under its
 * own lock), its counters. Worker thread only, except where said.
 */
#ifndef MO_CORE_LIFECYCLE_H
#define MO_CORE_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memobserver.h"

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_findings;
struct mo_probes;
struct mo_modules;
struct mo_record;
struct mo_proc_metrics;
struct mo_escalate;
struct mo_lifecycle;

/* es: the watch tier's escalations (NULL in the precise tier). */
struct mo_lifecycle *mo_lifecycle_new(const struct mo_env *env, const struct mo_kernel *k,
				      struct mo_proctab *pt, struct mo_stacks *st,
				      struct mo_findings *f, struct mo_probes *pr,
				      struct mo_modules *mods, struct mo_escalate *es);
void mo_lifecycle_free(struct mo_lifecycle *lc);

/* Record handlers (ctx: the lifecycle). */
void mo_lifecycle_exit(void *lc, const struct mo_record *r);
void mo_lifecycle_exec(void *lc, const struct mo_record *r);
void mo_lifecycle_fork(void *lc, const struct mo_record *r);
void mo_lifecycle_seen(void *lc, const struct mo_record *r);

/*
 * Reclaim what is queued until deadline (CLOCK_BOOTTIME ns; UINT64_MAX:
 * all of it) or a stop; what is left waits for the next call.
 */
void mo_lifecycle_reclaim(struct mo_lifecycle *lc, uint64_t deadline);
size_t mo_lifecycle_pending(const struct mo_lifecycle *lc);

/* After lost records (once a second, cheap when there were none). */
void mo_lifecycle_recover(struct mo_lifecycle *lc, uint64_t now);

/* The final findings of exited processes, largest kept (worker only). */
void mo_lifecycle_exit_leaks(const struct mo_lifecycle *lc, const struct mo_leak **out,
			     size_t *n);

/* Any thread: totals of exited processes per (command, container);
 * *out is malloc'ed. */
int mo_lifecycle_retired(struct mo_lifecycle *lc, struct mo_proc_metrics **out, size_t *n);

/* Any thread. */
struct mo_lifecycle_stats {
	uint64_t short_lived_exits;	/* not reported: younger than the age rule */
	uint64_t runtime_skipped;	/* blocks of the runtime (loader) at exit */
	uint64_t unattributed;		/* blocks without a stack at exit */
	uint64_t pids_reused;
	uint64_t exits_recovered;
	uint64_t stale_recovered;
	uint64_t exit_leaks_dropped;	/* final findings beyond the cap, smallest */
	uint64_t process_events_filtered; /* watch tier: fork/exec/exit events of
					   processes not tracked precisely */
};
void mo_lifecycle_stats(const struct mo_lifecycle *lc, struct mo_lifecycle_stats *out);

#endif
