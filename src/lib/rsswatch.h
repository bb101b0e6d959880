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

/* One process's RSS series: a ring of MO_RSS_POINTS samples. */
struct mo_rss_series;

struct mo_rss_series *mo_rss_series_new(void);
void mo_rss_series_free(struct mo_rss_series *s);	/* accepts NULL */

/* The growth rule's parameters: threshold bytes within window_ns. */
struct mo_rss_rule {
	uint64_t threshold;
	uint64_t window_ns;
};

/* Record a sample; 1 with *f filled when a finding is due, 0 otherwise. */
int mo_rss_series_sample(struct mo_rss_series *s, const struct mo_rss_rule *rule, uint64_t t_ns,
			 uint64_t rss, struct mo_rss_finding *f);

/* The last max samples, oldest first; how many. */
size_t mo_rss_series_points(const struct mo_rss_series *s, struct mo_usage_point *out, size_t max);

/* The last sample's bytes, 0 when none. */
uint64_t mo_rss_series_last(const struct mo_rss_series *s);

#endif
