// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rsswatch.c - per-process RSS rings and the growth rule.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rsswatch.h"

struct proc {
	pid_t pid;
	struct mo_usage_point p[MO_RSS_POINTS];
	unsigned head;		/* next write */
	unsigned n;
	uint64_t rearm_rss;	/* a new finding needs RSS above this */
};

struct mo_rsswatch {
	uint64_t threshold;
	uint64_t window_ns;
	struct proc *procs;
	size_t n, cap;
};

struct mo_rsswatch *mo_rsswatch_new(uint64_t threshold, uint64_t window_ns)
{
	struct mo_rsswatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->threshold = threshold ? threshold : 1;
	w->window_ns = window_ns;
	return w;
}

void mo_rsswatch_free(struct mo_rsswatch *w)
{
	if (!w)
		return;
	free(w->procs);
	free(w);
}

static struct proc *find(const struct mo_rsswatch *w, pid_t pid)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->procs[i].pid == pid)
			return &w->procs[i];
	return NULL;
}

/* i-th sample, 0 = oldest */
static const struct mo_usage_point *at(const struct proc *p, unsigned i)
{
	return &p->p[(p->head + MO_RSS_POINTS - p->n + i) % MO_RSS_POINTS];
}

static double slope(const struct proc *p, unsigned from)
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

int mo_rsswatch_sample(struct mo_rsswatch *w, pid_t pid, uint64_t t_ns, uint64_t rss,
		       struct mo_rss_finding *f)
{
	struct proc *p = find(w, pid);
	uint64_t low = UINT64_MAX, low_t = t_ns;
	unsigned from = 0;
	bool from_set = false;

	if (!p) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 16;
			struct proc *np = realloc(w->procs, cap * sizeof(*np));

			if (!np)
				return -ENOMEM;
			w->procs = np;
			w->cap = cap;
		}
		p = &w->procs[w->n++];
		memset(p, 0, sizeof(*p));
		p->pid = pid;
	}
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
	if (low == UINT64_MAX || rss < low || rss - low < w->threshold)
		return 0;
	if (rss < p->rearm_rss)
		return 0;
	p->rearm_rss = rss + w->threshold;
	f->rss = rss;
	f->growth = rss - low;
	f->window_s = (double)(t_ns - low_t) / 1e9;
	f->rate = slope(p, from);
	f->severity = f->growth >= 4 * w->threshold ? "critical" : "warning";
	return 1;
}

bool mo_rsswatch_growth_since(const struct mo_rsswatch *w, pid_t pid, uint64_t t0_ns,
			      int64_t *growth)
{
	const struct proc *p = find(w, pid);

	if (!p || !p->n || at(p, 0)->t_ns > t0_ns + 2000000000ULL)
		return false;
	for (unsigned i = 0; i < p->n; i++) {
		if (at(p, i)->t_ns >= t0_ns) {
			*growth = (int64_t)at(p, p->n - 1)->bytes - (int64_t)at(p, i)->bytes;
			return true;
		}
	}
	return false;
}

size_t mo_rsswatch_points(const struct mo_rsswatch *w, pid_t pid, struct mo_usage_point *out,
			  size_t max)
{
	const struct proc *p = find(w, pid);
	size_t k;

	if (!p)
		return 0;
	k = p->n < max ? p->n : max;
	for (size_t i = 0; i < k; i++)
		out[i] = *at(p, (unsigned)(p->n - k + i));
	return k;
}

uint64_t mo_rsswatch_last(const struct mo_rsswatch *w, pid_t pid)
{
	const struct proc *p = find(w, pid);

	return p && p->n ? at(p, p->n - 1)->bytes : 0;
}

void mo_rsswatch_forget(struct mo_rsswatch *w, pid_t pid)
{
	struct proc *p = find(w, pid);

	if (p)
		*p = w->procs[--w->n];
}
