// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rsswatch.c - a process's RSS ring and the growth rule.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rsswatch.h"

struct mo_rss_series {
	struct mo_usage_point p[MO_RSS_POINTS];
	unsigned head;		/* next write */
	unsigned n;
	uint64_t rearm_rss;	/* a new finding needs RSS above this */
};

struct mo_rss_series *mo_rss_series_new(void)
{
	return calloc(1, sizeof(struct mo_rss_series));
}

void mo_rss_series_free(struct mo_rss_series *s)
{
	free(s);
}

/* i-th sample, 0 = oldest */
static const struct mo_usage_point *at(const struct mo_rss_series *p, unsigned i)
{
	return &p->p[(p->head + MO_RSS_POINTS - p->n + i) % MO_RSS_POINTS];
}

static double slope(const struct mo_rss_series *p, unsigned from)
{
	double st = 0, sb = 0, stt = 0, stb = 0, t0 = (double)at(p, from)->t_ns;
	unsigned k = p->n - from;

	if (k < 2)
		return 0;
	for (unsigned i = from; i < p->n; i++) {
		double t = ((double)at(p, i)->t_ns - t0) / 1e9, b = (double)at(p, i)->bytes;

		st += t;
		sb += b;
		stt += t * t;
		stb += t * b;
	}
	if (k * stt - st * st == 0)
		return 0;
	return (k * stb - st * sb) / (k * stt - st * st);
}

int mo_rss_series_sample(struct mo_rss_series *p, const struct mo_rss_rule *w, uint64_t t_ns,
			 uint64_t rss, struct mo_rss_finding *f)
{
	uint64_t low = UINT64_MAX, low_t = t_ns, threshold = w->threshold ? w->threshold : 1;
	unsigned from = 0;
	bool from_set = false;

	p->p[p->head] = (struct mo_usage_point){ t_ns, rss };
	p->head = (p->head + 1) % MO_RSS_POINTS;
	if (p->n < MO_RSS_POINTS)
		p->n++;

	/* the lowest point within the window */
	for (unsigned i = 0; i < p->n; i++) {
		const struct mo_usage_point *u = at(p, i);

		if (t_ns - u->t_ns > w->window_ns)
			continue;
		if (!from_set) {
			from = i;	/* the oldest sample inside the window */
			from_set = true;
		}
		if (u->bytes < low) {
			low = u->bytes;
			low_t = u->t_ns;
		}
	}
	if (low == UINT64_MAX || rss < low || rss - low < threshold)
		return 0;
	if (rss < p->rearm_rss)
		return 0;
	p->rearm_rss = rss + threshold;
	f->rss = rss;
	f->growth = rss - low;
	f->window_s = (double)(t_ns - low_t) / 1e9;
	f->rate = slope(p, from);
	f->severity = f->growth >= 4 * threshold ? "critical" : "warning";
	return 1;
}

size_t mo_rss_series_points(const struct mo_rss_series *p, struct mo_usage_point *out, size_t max)
{
	size_t k;

	if (!p)
		return 0;
	k = p->n < max ? p->n : max;
	for (size_t i = 0; i < k; i++)
		out[i] = *at(p, (unsigned)(p->n - k + i));
	return k;
}

uint64_t mo_rss_series_last(const struct mo_rss_series *p)
{
	return p && p->n ? at(p, p->n - 1)->bytes : 0;
}
