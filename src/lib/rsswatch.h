/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * rsswatch.h - resident memory growth per process.
 *
 * The observer feeds one RSS sample per process per second (from the
 * kmem:rss_stat tracepoint completed and checked by /proc, or /proc alone
 * as the fallback: see procrss.h). A growth finding is due when
 * RSS rose by at least the threshold within the window (growth = now minus
 * the lowest sample of the last window), and then again only after RSS rose
 * by another threshold since the previous finding. Severity: "warning" for
 * one threshold, "critical" for four or more thresholds within the window.
 */
#ifndef MO_RSSWATCH_H
#define MO_RSSWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "pattern.h"

#define MO_RSS_POINTS 128	/* samples kept per process (about 2 minutes) */

struct mo_rss_finding {
	uint64_t rss;		/* bytes now */
	uint64_t growth;	/* bytes over window_s */
	double window_s;	/* span the growth was measured over */
	double rate;		/* least-squares bytes/s over the window */
	const char *severity;	/* "warning" or "critical" */
};

struct mo_rsswatch;

struct mo_rsswatch *mo_rsswatch_new(uint64_t threshold, uint64_t window_ns);
void mo_rsswatch_free(struct mo_rsswatch *w);

/* Record a sample; 1 with *f filled when a finding is due, 0 otherwise,
 * -ENOMEM. */
int mo_rsswatch_sample(struct mo_rsswatch *w, pid_t pid, uint64_t t_ns, uint64_t rss,
		       struct mo_rss_finding *f);

/* RSS growth of pid from the sample nearest after t0_ns to the latest.
 * false when pid has no samples covering t0_ns. */
bool mo_rsswatch_growth_since(const struct mo_rsswatch *w, pid_t pid, uint64_t t0_ns,
			      int64_t *growth);

/* The latest samples of pid, oldest first, into out (at most max). */
size_t mo_rsswatch_points(const struct mo_rsswatch *w, pid_t pid, struct mo_usage_point *out,
			  size_t max);

/* Latest RSS of pid, 0 if unknown. */
uint64_t mo_rsswatch_last(const struct mo_rsswatch *w, pid_t pid);

void mo_rsswatch_forget(struct mo_rsswatch *w, pid_t pid);

#endif
