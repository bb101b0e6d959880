/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * core.h - the stages of one observer, wired together by observer.c, and
 * handed as a whole only to what sits above them all (report.c).
 */
#ifndef MO_CORE_CORE_H
#define MO_CORE_CORE_H

#include "core/env.h"
#include "memobserver.h"

struct mo_core {
	struct mo_env env;
	const struct mo_kernel *k;
	struct mo_queue *q;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_probes *pr;
	struct mo_resident *rs;
	struct mo_leaks *lk;
	struct mo_lifecycle *lc;
	struct mo_escalate *es;		/* watch tier only */
	struct mo_growth_stage *gs;	/* watch tier only */
	struct mo_privsep *ps;		/* the parser process's client (config privsep) */
	struct mo_records *rd;
	struct mo_reach_stage *rc;	/* reachability scans */
	struct mo_series *proc_series;	/* metrics: (process, container) counters */
	struct mo_series *rss_series;	/* metrics: rss_growth counters by process */
	uint64_t start_realtime_s;
	uint64_t noted[MO_CTR__COUNT];	/* the caller's counts (mo_observer_note),
					   atomic: any thread adds */
};

#endif
