// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_analysis.c - the periodic analysis: every stack holding memory gets a
 * history sample, and those old enough a finding (leak or plateau) when
 * their history says so, one per stack per dedup window.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "analysis.h"
#include "observer_int.h"
#include "pattern.h"
#include "rsswatch.h"
#include "traces.h"

#define MAX_HISTORIES 4096		/* stacks with a pattern history */
/* A cache filling up looks like a leak until it stops: a periodic finding
 * needs this many analysis samples of history (80 s at the default 10 s). */
#define MIN_FINDING_SAMPLES 8

/* Add this tick's sample to the stack's history. */
static void sample_stack(struct mo_observer *o, const struct mo_leak_group *g, uint64_t now)
{
	struct mo_trace_entry *e = mo_traces_get(o->traces, g->tgid, g->stack_id);
	struct mo_stack_key k = { .tgid = g->tgid, .stack_id = g->stack_id };
	struct mo_stack_stats st = { 0 };
	struct mo_history *h;
	struct mo_sample smp;

	if (!e || !(h = mo_traces_history(o->traces, e, MAX_HISTORIES)))
		return;
	bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stack_stats), &k, &st);
	smp.t_ns = now;
	smp.unfreed_bytes = g->unfreed_bytes;
	smp.live_blocks = g->count;
	smp.allocs_total = st.allocs;
	smp.frees_total = st.frees;
	mo_history_add(h, &smp);
}

/* Did the process's RSS grow along with this stack's unfreed bytes? */
static bool rss_backs(struct mo_observer *o, const struct mo_trace_entry *e, pid_t pid)
{
	const struct mo_history *h = e ? e->hist : NULL;
	const struct mo_sample *first, *last;
	int64_t rss_growth;

	if (!h || h->n < 2)
		return false;
	first = &h->s[(h->head + MO_HISTORY_LEN - h->n) % MO_HISTORY_LEN];
	last = &h->s[(h->head + MO_HISTORY_LEN - 1) % MO_HISTORY_LEN];
	if (last->unfreed_bytes <= first->unfreed_bytes)
		return false;
	if (!mo_rsswatch_growth_since(o->rssw, pid, first->t_ns, &rss_growth))
		return false;
	return rss_growth >= (int64_t)(last->unfreed_bytes - first->unfreed_bytes) / 2;
}

/*
 * Periodic analysis: every stack holding memory gets a history sample; the
 * ones older than the age rule are classified (docs/patterns.md). Growing
 * stacks and fragmentation are leaks; plateaus (caches, pools) are
 * informational; churn and stacks with too little history are not
 * reported. One report per stack per dedup window; the next one says how
 * many it stands for.
 */
void obs_periodic(struct mo_observer *o)
{
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t now = obs_clock_ns(CLOCK_BOOTTIME);
	size_t n = 0;

	if (obs_snapshot(o, &recs, &n))
		return;
	if (mo_analyze(recs, n, now, 0, &g) == 0) {
		for (size_t i = 0; i < g.nr; i++) {
			const struct mo_leak_group *gi = &g.g[i];
			struct mo_trace_entry *e;
			struct mo_leak l;
			struct mo_event *ev;
			const char *kind;

			if (obs_pending_exit(o, gi->tgid) || obs_no_stack(gi) ||
			    obs_runtime_group(o, gi))
				continue;
			sample_stack(o, gi, now);
			if (now - gi->oldest_ts_ns < o->cfg.min_unfreed_age_ns)
				continue;
			obs_fill_leak(o, &l, gi, now);
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (!e || !e->hist || e->hist->n < MIN_FINDING_SAMPLES)
				kind = NULL;
			else if (!strcmp(l.pattern, "growing") || !strcmp(l.pattern, "fragmentation"))
				kind = "leak";
			else if (!strcmp(l.pattern, "plateau"))
				kind = "plateau";
			else
				kind = NULL;
			if (!kind) {
				mo_trace_release(&l.stack);
				continue;
			}
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (e && e->last_emit_ns &&
			    now - e->last_emit_ns < o->cfg.stack_dedup_window_ns) {
				e->suppressed++;
				o->dedup_suppressed++;
				mo_trace_release(&l.stack);
				continue;
			}
			ev = obs_leak_event(o, &l, l.severity, false);
			mo_trace_release(&l.stack);
			if (ev) {
				ev->kind = kind;
				ev->repeats = e ? e->suppressed : 0;
				ev->rss_validated = rss_backs(o, e, ev->pid);
			}
			obs_emit(o, ev);
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (e) {
				e->last_emit_ns = now;
				e->suppressed = 0;
			}
		}
	}
	mo_leak_groups_release(&g);
	free(recs);
}
