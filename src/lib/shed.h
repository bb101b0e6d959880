/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * shed.h - keep the probes' cost within the overhead budget by detaching
 * the allocating functions' probes part of the time (duty cycle).
 *
 * Per group of sheddable links (one per observed pid with links of its own,
 * and the links every process shares, pid 0) the shedder runs cycles of
 * MO_SHED_CYCLE_NS: attached for duty * cycle, detached for the rest (at
 * duty 1, attached phases of MO_SHED_WATCH_NS, measured each). At the
 * end of each attached phase it measures every process the group covers
 * (probe hits from the BPF per-process statistics, CPU time from the
 * process's CPU clock) and sets the next duty cycle (budget.h). What the
 * detached phases cost in visibility is counted: their time, and the
 * allocations estimated from the rate seen while attached.
 *
 * The frees stay attached, so nothing tracked is ever freed unseen. Each
 * detach and re-attach bumps the BPF shed_gen, so an allocating call that
 * was in flight when its return probe went away is not taken for a live
 * one (see in_allocator() in the BPF program).
 */
#ifndef MO_SHED_H
#define MO_SHED_H

#include <stdint.h>
#include "attach.h"

#define MO_SHED_CYCLE_NS 2000000000ULL
/* While nothing is shed, a group is measured this often, so a load that
 * starts is met within half a second rather than a whole cycle. */
#define MO_SHED_WATCH_NS 500000000ULL

struct mo_shedder;

struct mo_shed_stats {
	double overhead;	/* highest estimated overhead at full attachment, last
				   measured (fraction of the process's own work) */
	double expected;	/* the same at the duty cycle chosen */
	double duty;		/* lowest duty cycle in force */
	uint64_t shed_ns;	/* time allocating probes were detached, summed over groups */
	uint64_t shed_allocs;	/* allocating calls estimated to have gone unseen */
	uint64_t unattainable;	/* decisions where even the free probes exceeded the budget */
	uint64_t switches;	/* detaches + re-attaches */
	uint64_t errors;	/* re-attach failures (the group stays detached, retried) */
};

/* budget: fraction (0.02 = 2 %); procs_fd: the BPF per-process statistics
 * map; shed_gen: the BPF program's global, mapped. NULL on ENOMEM. */
struct mo_shedder *mo_shedder_new(double budget, struct mo_links *links, int procs_fd,
				  volatile uint32_t *shed_gen);

/* Cost of one entry and one return hit, in ns (measured: calib.h); 0 keeps
 * budget.h's defaults. */
void mo_shedder_set_costs(struct mo_shedder *s, double entry_ns, double return_ns);

/* Advance the cycles (call every ~100 ms with the observer's lock held). */
void mo_shedder_tick(struct mo_shedder *s, uint64_t now_ns);

void mo_shedder_stats(const struct mo_shedder *s, struct mo_shed_stats *out);

/* Re-attach everything shed (before a final report) and free. */
void mo_shedder_free(struct mo_shedder *s);

#endif
