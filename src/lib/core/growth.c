// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* growth.c - the watch tier's growth stacks (growth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/env.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/growth.h"
#include "core/kernel.h"
#include "core/proctab.h"
#include "core/resident.h"
#include "core/stacks.h"
#include "pattern.h"
#include "traces.h"
#include "util.h"

/* A stack gets a history once it faulted this much in: below it nothing is
 * worth a finding, and histories (a few KiB each) stay for the ones that are. */
#define MIN_GROWTH_BYTES (1ULL << 20)
/* As for allocation stacks: a cache filling up looks like a leak until it
 * stops, so a finding needs this many samples of history. */
#define MIN_FINDING_SAMPLES 8

/*
 * Go's runtime faults a growing heap in from its own functions (map
 * evacuation, zeroing under makeslice, the GC's marking), each in steps, so
 * no one stack of a leaking Go program grows steadily (measured: the leaking
 * function in 67 % of the growth, over four stacks). A stack whose first
 * frame is Go's runtime ("runtime.*") also counts for its site, its first
 * frame outside the runtime, as does a stack whose first frame is that
 * site; a site's history is the sum of its stacks' bytes and is judged
 * like one stack's, from the pass its first stack counted (a site is a few
 * of them: its history starts below the 1 MiB a stack's needs). Stacks
 * that are all runtime (the GC's) have no site.
 */
#define SITE_MIN_STACK_BYTES (256ULL << 10)	/* smaller stacks are not named for it */

struct site {
	uint32_t tgid;
	char *name;
	uint64_t bytes, samples;	/* this pass: the sum of its stacks' */
	uint64_t top_id, top_bytes;	/* its largest stack, the finding's */
	uint64_t last_emit_ns;
	bool seen;
	struct mo_history hist;
};

struct mo_growth_stage {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_resident *rs;
	struct mo_escalate *es;
	struct mo_growth_stats stats;	/* mo_stat_* */
	struct site **sites;
	size_t nsites, capsites;
};

struct mo_growth_stage *mo_growth_new(const struct mo_env *env, const struct mo_kernel *k,
				      struct mo_proctab *pt, struct mo_stacks *st,
				      struct mo_findings *f, struct mo_resident *rs,
				      struct mo_escalate *es)
{
	struct mo_growth_stage *gs = calloc(1, sizeof(*gs));

	if (!gs)
		return NULL;
	gs->env = env;
	gs->k = k;
	gs->pt = pt;
	gs->st = st;
	gs->f = f;
	gs->rs = rs;
	gs->es = es;
	return gs;
}

static void site_free(struct site *s)
{
	free(s->name);
	free(s);
}

void mo_growth_free(struct mo_growth_stage *gs)
{
	if (!gs)
		return;
	for (size_t i = 0; i < gs->nsites; i++)
		site_free(gs->sites[i]);
	free(gs->sites);
	free(gs);
}

/* The first frame of the stack that is named, for the escalation's reason. */
static const char *site_name(const struct mo_stack_trace *tr)
{
	for (size_t i = 0; tr && i < tr->nframes; i++)
		if (tr->frames[i].symbol)
			return tr->frames[i].symbol;
	return "an unnamed stack";
}

static void report(struct mo_growth_stage *gs, const struct mo_kgrowth *g,
		   const struct mo_verdict *v)
{
	pid_t pid = (pid_t)g->k.tgid;
	const struct mo_stack_trace *tr = mo_stacks_trace(gs->st, g->k.tgid, g->k.stack_id);
	struct mo_event *ev = mo_findings_event(gs->f, MO_EVENT_MEMORY_PRESSURE, "leak", pid, 0);
	char why[256];

	if (ev) {
		ev->severity = "warning";
		ev->tier = "watch";
		ev->pattern = mo_pattern_name(v->pattern);
		ev->growth_bytes_per_s = v->growth_bytes_per_s;
		ev->confidence = v->confidence;
		ev->rss_validated = true;
		ev->estimate = true;	/* sampled: ~32 pages per CPU per sample */
		ev->unfreed_bytes = g->g.bytes;
		ev->count = g->g.samples;
		if (tr && mo_trace_copy(&ev->stack, tr)) {
			mo_event_free(ev);
			ev = NULL;
		}
	}
	mo_findings_emit(gs->f, ev);
	mo_stat_add(&gs->stats.findings, 1);
	snprintf(why, sizeof(why), "resident memory growing at %s", site_name(tr));
	if (gs->es)
		mo_escalate_request(gs->es, pid, why);
}

/*
 * One analysis pass of a growth history, a stack's or a site's: g's bytes
 * are its new sample; g is reported (its stack the finding's) when the
 * history is growing (steadily, or in stairs: doubling containers), the
 * process's RSS grew with it and the last report is older than the dedup
 * window. 1 reported, -1 held back by the window, 0 otherwise.
 */
static int judge(struct mo_growth_stage *gs, struct mo_history *h, const struct mo_kgrowth *g,
		 uint64_t last_emit_ns, uint64_t now)
{
	struct mo_sample smp = { .t_ns = now, .unfreed_bytes = g->g.bytes,
				 .live_blocks = g->g.samples, .allocs_total = g->g.samples,
				 .rss_bytes = mo_resident_now(gs->rs, (pid_t)g->k.tgid) };
	struct mo_verdict v;

	mo_history_add(h, &smp);
	if (h->n < MIN_FINDING_SAMPLES)
		return 0;
	mo_classify(h, &v);
	/* faulted-in bytes are counted from 0 when the process is old enough */
	if (v.pattern != MO_PATTERN_GROWING && !mo_stairs(h, true, &v))
		return 0;
	/* else the stack faults in memory its process gives back: churn */
	if (!mo_history_rss_backs(h)) {
		mo_stat_add(&gs->stats.unbacked, 1);
		return 0;
	}
	if (last_emit_ns && now - last_emit_ns < gs->env->cfg.stack_dedup_window_ns) {
		mo_stat_add(&gs->stats.suppressed, 1);
		return -1;
	}
	report(gs, g, &v);
	return 1;
}

/* A stack's finding was made (r > 0) or held back by the window (r < 0),
 * by its own history or by its site's: one per stack and window. */
static void stack_judged(struct mo_growth_stage *gs, uint32_t tgid, uint64_t id, int r,
			 uint64_t now)
{
	/* looked up again: the table grows (entries move) when stacks are named */
	struct mo_trace_entry *e = r ? mo_stacks_entry(gs->st, tgid, id) : NULL;

	if (!e)
		return;
	if (r < 0) {
		e->suppressed++;
		return;
	}
	e->last_emit_ns = now;
	e->suppressed = 0;
}

static bool go_runtime(const char *sym)
{
	return sym && !strncmp(sym, "runtime.", 8);
}

static struct site *site_find(struct mo_growth_stage *gs, uint32_t tgid, const char *name)
{
	for (size_t i = 0; i < gs->nsites; i++)
		if (gs->sites[i]->tgid == tgid && !strcmp(gs->sites[i]->name, name))
			return gs->sites[i];
	return NULL;
}

static struct site *site_get(struct mo_growth_stage *gs, uint32_t tgid, const char *name)
{
	struct site *s = site_find(gs, tgid, name);

	if (s)
		return s;
	if (MO_GROW(gs->sites, gs->nsites + 1, gs->capsites) || !(s = calloc(1, sizeof(*s))))
		return NULL;
	if (!(s->name = strdup(name))) {
		free(s);
		return NULL;
	}
	s->tgid = tgid;
	gs->sites[gs->nsites++] = s;
	return s;
}

static void site_add(struct site *s, const struct mo_kgrowth *g)
{
	if (!s->seen) {
		s->seen = true;
		s->bytes = s->samples = s->top_bytes = 0;
	}
	s->bytes += g->g.bytes;
	s->samples += g->g.samples;
	if (g->g.bytes > s->top_bytes) {
		s->top_bytes = g->g.bytes;
		s->top_id = g->k.stack_id;
	}
}

/* g's symbolized stack, when it is big enough to count for a site, its
 * first frame is named and its process is not on its way out; else NULL. */
static const struct mo_stack_trace *site_trace(struct mo_growth_stage *gs,
					       const struct mo_kgrowth *g)
{
	struct mo_proc *p = mo_proctab_find(gs->pt, (pid_t)g->k.tgid);
	const struct mo_stack_trace *tr;

	if ((p && p->exit_pending) || g->g.bytes < SITE_MIN_STACK_BYTES ||
	    !(tr = mo_stacks_trace(gs->st, g->k.tgid, g->k.stack_id)) || !tr->nframes ||
	    !tr->frames[0].symbol)
		return NULL;
	return tr;
}

/* The first frame of tr outside Go's runtime when tr starts in it; NULL
 * when it does not, or reaches an unnamed frame or its end first. */
static const char *runtime_site(const struct mo_stack_trace *tr)
{
	if (!go_runtime(tr->frames[0].symbol))
		return NULL;
	for (size_t f = 1; f < tr->nframes; f++)
		if (!tr->frames[f].symbol || !go_runtime(tr->frames[f].symbol))
			return tr->frames[f].symbol;
	return NULL;
}

/* This pass's sums: the runtime's stacks make the sites, then the stacks
 * that start at a site count for it too. */
static void sites_collect(struct mo_growth_stage *gs, const struct mo_kgrowth *all, size_t n)
{
	const struct mo_stack_trace *tr;
	const char *name;
	struct site *s;

	for (size_t i = 0; i < n && !mo_env_stopping(gs->env); i++)
		if ((tr = site_trace(gs, &all[i])) && (name = runtime_site(tr)) &&
		    (s = site_get(gs, all[i].k.tgid, name)))
			site_add(s, &all[i]);
	for (size_t i = 0; i < n && gs->nsites && !mo_env_stopping(gs->env); i++)
		if ((tr = site_trace(gs, &all[i])) && !go_runtime(tr->frames[0].symbol) &&
		    (s = site_find(gs, all[i].k.tgid, tr->frames[0].symbol)))
			site_add(s, &all[i]);
}

/* Each site's history gets this pass's sum; a growing one is a finding with
 * its largest stack. Sites no stack counted for this pass go. */
static void sites_judge(struct mo_growth_stage *gs, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < gs->nsites; i++) {
		struct site *s = gs->sites[i];
		struct mo_trace_entry *e;
		struct mo_kgrowth g;
		uint64_t last;
		int r;

		if (!s->seen) {
			site_free(s);
			continue;
		}
		gs->sites[keep++] = s;
		s->seen = false;
		memset(&g, 0, sizeof(g));
		g.k.tgid = s->tgid;
		g.k.stack_id = s->top_id;
		g.g.bytes = s->bytes;
		g.g.samples = s->samples;
		/* one finding per stack and window, made by its own history or
		 * by its site's */
		e = mo_stacks_entry(gs->st, s->tgid, s->top_id);
		last = e && e->last_emit_ns > s->last_emit_ns ? e->last_emit_ns : s->last_emit_ns;
		r = judge(gs, &s->hist, &g, last, now);
		if (r > 0)
			s->last_emit_ns = now;
		stack_judged(gs, s->tgid, s->top_id, r, now);
	}
	gs->nsites = keep;
}

void mo_growth_periodic(struct mo_growth_stage *gs, uint64_t now)
{
	struct mo_kgrowth *all = NULL;
	size_t n = 0;

	if (mo_kernel_growth_all(gs->k, &all, &n))
		return;
	for (size_t i = 0; i < n && !mo_env_stopping(gs->env); i++) {
		const struct mo_kgrowth *g = &all[i];
		struct mo_proc *p = mo_proctab_find(gs->pt, (pid_t)g->k.tgid);
		struct mo_trace_entry *e;
		struct mo_history *h;
		int r;

		if ((p && p->exit_pending) || g->g.bytes < MIN_GROWTH_BYTES)
			continue;
		e = mo_stacks_entry(gs->st, g->k.tgid, g->k.stack_id);
		if (!e || !(h = mo_stacks_history(gs->st, e)))
			continue;
		r = judge(gs, h, g, e->last_emit_ns, now);
		stack_judged(gs, g->k.tgid, g->k.stack_id, r, now);
	}
	sites_collect(gs, all, n);
	sites_judge(gs, now);
	free(all);
}

void mo_growth_stats(const struct mo_growth_stage *gs, struct mo_growth_stats *out)
{
	out->findings = mo_stat_get(&gs->stats.findings);
	out->unbacked = mo_stat_get(&gs->stats.unbacked);
	out->suppressed = mo_stat_get(&gs->stats.suppressed);
}
