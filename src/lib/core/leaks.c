// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* leaks.c - periodic leak analysis and the OOM kill report (leaks.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "core/env.h"
#include "core/findings.h"
#include "core/kernel.h"
#include "core/leaks.h"
#include "core/proctab.h"
#include "core/resident.h"
#include "core/stacks.h"
#include "pattern.h"
#include "traces.h"
#include "util.h"

/* A cache filling up looks like a leak until it stops: a periodic finding
 * needs this many analysis samples of history (80 s at the default 10 s). */
#define MIN_FINDING_SAMPLES 8

struct mo_leaks {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_resident *rs;
	uint64_t suppressed;
};

struct mo_leaks *mo_leaks_new(const struct mo_env *env, const struct mo_kernel *k,
			      struct mo_proctab *pt, struct mo_stacks *st,
			      struct mo_findings *f, struct mo_resident *rs)
{
	struct mo_leaks *lk = calloc(1, sizeof(*lk));

	if (!lk)
		return NULL;
	lk->env = env;
	lk->k = k;
	lk->pt = pt;
	lk->st = st;
	lk->f = f;
	lk->rs = rs;
	return lk;
}

void mo_leaks_free(struct mo_leaks *lk)
{
	free(lk);
}

/* Add this pass's sample to the stack's history. */
static void sample_stack(struct mo_leaks *lk, const struct mo_leak_group *g, uint64_t now)
{
	struct mo_trace_entry *e = mo_stacks_entry(lk->st, g->tgid, g->stack_id);
	struct mo_stack_stats ss = { 0 };
	struct mo_history *h;
	struct mo_sample smp;

	if (!e || !(h = mo_stacks_history(lk->st, e)))
		return;
	mo_kernel_stack_stats(lk->k, g->tgid, g->stack_id, &ss);
	smp.t_ns = now;
	smp.unfreed_bytes = g->unfreed_bytes;
	smp.live_blocks = g->count;
	smp.allocs_total = ss.allocs;
	smp.frees_total = ss.frees;
	smp.rss_bytes = mo_resident_now(lk->rs, (pid_t)g->tgid);
	mo_history_add(h, &smp);
}

static bool exit_pending(struct mo_leaks *lk, uint32_t pid)
{
	struct mo_proc *p = mo_proctab_find(lk->pt, (pid_t)pid);

	return p && p->exit_pending;
}

/* The finding a group's history makes: "leak", "plateau", or none. */
static const char *finding_kind(const struct mo_trace_entry *e, const struct mo_leak *l)
{
	/* a block nobody points to is a leak, however short its history */
	if (mo_reach_lost(&l->reach))
		return "leak";
	if (!e || !e->hist || e->hist->n < MIN_FINDING_SAMPLES)
		return NULL;
	if (!strcmp(l->pattern, "growing") || !strcmp(l->pattern, "fragmentation"))
		return "leak";
	if (!strcmp(l->pattern, "plateau"))
		return "plateau";
	return NULL;
}

static void report_group(struct mo_leaks *lk, const struct mo_leak_group *gi, uint64_t now)
{
	struct mo_trace_entry *e;
	struct mo_event *ev;
	const char *kind;
	struct mo_leak l;
	bool news;

	mo_findings_fill_leak(lk->f, &l, gi, now);
	e = mo_stacks_entry(lk->st, gi->tgid, gi->stack_id);
	kind = finding_kind(e, &l);
	if (!kind) {
		mo_trace_release(&l.stack);
		return;
	}
	/* a loss just found is reported at once, whatever was said before */
	news = mo_reach_lost(&l.reach) && mo_findings_reach_news(lk->f, gi->tgid, gi->stack_id);
	if (!news && e && e->last_emit_ns &&
	    now - e->last_emit_ns < lk->env->cfg.stack_dedup_window_ns) {
		e->suppressed++;
		mo_stat_add(&lk->suppressed, 1);
		mo_trace_release(&l.stack);
		return;
	}
	ev = mo_findings_leak_event(lk->f, &l, l.severity, false);
	mo_trace_release(&l.stack);
	e = mo_stacks_entry(lk->st, gi->tgid, gi->stack_id);
	if (ev) {
		ev->kind = kind;
		ev->repeats = e ? e->suppressed : 0;
		ev->rss_validated = e && mo_history_rss_backs(e->hist);
	}
	mo_findings_emit(lk->f, ev);
	e = mo_stacks_entry(lk->st, gi->tgid, gi->stack_id);
	if (e) {
		e->last_emit_ns = now;
		e->suppressed = 0;
	}
}

/*
 * Growing stacks and fragmentation are leaks; plateaus (caches, pools) are
 * informational; churn and stacks with too little history are not
 * reported. One report per stack per dedup window; the next one says how
 * many it stands for.
 */
void mo_leaks_periodic(struct mo_leaks *lk, uint64_t now)
{
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	size_t n = 0;

	if (mo_kernel_allocs(lk->k, &recs, &n))
		return;
	if (mo_analyze(recs, n, now, 0, &g) == 0) {
		for (size_t i = 0; i < g.nr && !mo_env_stopping(lk->env); i++) {
			const struct mo_leak_group *gi = &g.g[i];

			if (exit_pending(lk, gi->tgid) || gi->stack_id == 0 ||
			    mo_stacks_runtime(lk->st, gi))
				continue;
			sample_stack(lk, gi, now);
			if (now - gi->oldest_ts_ns < lk->env->cfg.min_unfreed_age_ns)
				continue;
			report_group(lk, gi, now);
		}
	}
	mo_leak_groups_release(&g);
	free(recs);
}

void mo_leaks_oom_kill(void *ctx, const struct mo_record *r)
{
	struct mo_leaks *lk = ctx;
	struct mo_alloc_rec *recs = NULL, *mine;
	struct mo_leak_groups g = { 0 };
	struct mo_event *ev;
	size_t n = 0, m = 0;

	ev = mo_findings_event(lk->f, MO_EVENT_KERNEL_PROCESS, "oom_kill", (pid_t)r->pid, r->ts_ns);
	if (!ev)
		return;
	if (!ev->command[0])
		snprintf(ev->command, sizeof(ev->command), "%.16s", r->comm);
	ev->severity = "critical";
	ev->cgroup_id = r->cgroup_id;
	if (mo_kernel_allocs(lk->k, &recs, &n) == 0 &&
	    (mine = malloc((n ? n : 1) * sizeof(*mine)))) {
		for (size_t i = 0; i < n; i++)
			if (recs[i].tgid == r->pid)
				mine[m++] = recs[i];
		if (m && mo_analyze(mine, m, r->ts_ns, 0, &g) == 0 && g.nr) {
			const struct mo_stack_trace *tr =
				mo_stacks_trace(lk->st, r->pid, g.g[0].stack_id);

			/* the biggest holder travels with the event; all are in the
			 * exit findings that follow */
			ev->unfreed_bytes = g.outstanding_bytes;
			ev->count = g.outstanding_count;
			ev->size_bytes = g.g[0].unfreed_bytes;
			if (tr)
				mo_trace_copy(&ev->stack, tr);
		}
		mo_leak_groups_release(&g);
		free(mine);
	}
	free(recs);
	mo_findings_emit(lk->f, ev);
}

uint64_t mo_leaks_suppressed(const struct mo_leaks *lk)
{
	return mo_stat_get(&lk->suppressed);
}
