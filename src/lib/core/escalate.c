// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* escalate.c - precise tracking of one process at a time (escalate.h). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/types.h>

#include "abi.h"
#include "analysis.h"
#include "core/env.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/kernel.h"
#include "core/probes.h"
#include "core/proctab.h"
#include "core/stacks.h"
#include "pattern.h"
#include "traces.h"
#include "util.h"

#define COOLDOWN_NS (3600 * MO_NSEC)	/* a process is escalated at most once an hour */
#define RETRY_NS (300 * MO_NSEC)	/* one turned away for want of room: again after */
#define MAX_RECENT 1024			/* escalations remembered for the cooldown */
#define MAX_SITES 10			/* precise findings per escalation */

struct escalation {
	pid_t pid;
	bool active;
	uint64_t start_ns;
	uint64_t end_ns;	/* active: when the window ends; else: when to allow again */
};

struct mo_escalate {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_probes *pr;
	struct escalation *e;
	size_t n, cap;
	size_t active;
	struct mo_escalate_stats stats;	/* mo_stat_* */
};

struct mo_escalate *mo_escalate_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_stacks *st,
				    struct mo_findings *f, struct mo_probes *pr)
{
	struct mo_escalate *es = calloc(1, sizeof(*es));

	if (!es)
		return NULL;
	es->env = env;
	es->k = k;
	es->pt = pt;
	es->st = st;
	es->f = f;
	es->pr = pr;
	return es;
}

void mo_escalate_free(struct mo_escalate *es)
{
	if (!es)
		return;
	free(es->e);
	free(es);
}

static struct escalation *find(const struct mo_escalate *es, pid_t pid)
{
	for (size_t i = 0; i < es->n; i++)
		if (es->e[i].pid == pid)
			return &es->e[i];
	return NULL;
}

bool mo_escalate_active(const struct mo_escalate *es, pid_t pid)
{
	const struct escalation *x = find(es, pid);

	return x && x->active;
}

/* An event about the escalation of pid, with what happened in detail. */
static void note(struct mo_escalate *es, pid_t pid, const char *kind, const char *severity,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void note(struct mo_escalate *es, pid_t pid, const char *kind, const char *severity,
		 const char *fmt, ...)
{
	struct mo_event *ev = mo_findings_event(es->f, MO_EVENT_KERNEL_PROCESS, kind, pid, 0);
	va_list ap;

	if (!ev)
		return;
	ev->severity = severity;
	va_start(ap, fmt);
	vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
	va_end(ap);
	mo_findings_emit(es->f, ev);
}

/* Remember pid until until_ns (a slot of a finished one is reused). */
static struct escalation *remember(struct mo_escalate *es, pid_t pid, uint64_t now)
{
	struct escalation *x = find(es, pid);

	if (x)
		return x;
	for (size_t i = 0; i < es->n; i++)
		if (!es->e[i].active && es->e[i].end_ns <= now)
			return memset(&es->e[i], 0, sizeof(es->e[i]));
	if (es->n >= MAX_RECENT || MO_GROW(es->e, es->n + 1, es->cap))
		return NULL;
	return memset(&es->e[es->n++], 0, sizeof(es->e[0]));
}

int mo_escalate_request(struct mo_escalate *es, pid_t pid, const char *why)
{
	uint64_t now = mo_clock_ns(CLOCK_BOOTTIME), window = es->env->cfg.escalate_window_ns;
	struct escalation *x = find(es, pid);
	char what[512];
	bool full;
	int r;

	if (!es->env->cfg.escalate)
		return 0;
	if (x && (x->active || x->end_ns > now)) {
		mo_stat_add(&es->stats.skipped, 1);
		return 0;
	}
	x = remember(es, pid, now);
	if (!x) {
		mo_stat_add(&es->stats.skipped, 1);
		return -ENOMEM;
	}
	x->pid = pid;
	if (es->env->cfg.mode == MO_MODE_CONSERVATIVE) {
		x->end_ns = now + COOLDOWN_NS;
		mo_stat_add(&es->stats.skipped, 1);
		note(es, pid, "escalate", "info",
		     "not escalated (%s): conservative mode places no allocator probes", why);
		return 0;
	}
	/* with every slot taken, a process that can never be escalated (no
	 * allocator: a static Go binary) is told so now, not asked to wait */
	full = es->active >= es->env->cfg.max_escalations;
	r = full ? mo_probes_can_attach_pid(es->pr, pid, what, sizeof(what))
		 : mo_probes_attach_pid(es->pr, pid, what, sizeof(what));
	if (r < 0) {
		x->end_ns = now + COOLDOWN_NS;
		mo_stat_add(&es->stats.failed, 1);
		note(es, pid, "escalate", "warning", "cannot escalate (%s): %s", why, what);
		return r;
	}
	if (full) {
		x->end_ns = now + RETRY_NS;
		mo_stat_add(&es->stats.skipped, 1);
		note(es, pid, "escalate", "info",
		     "not escalated yet (%s): %zu processes are (max_escalations); retried in "
		     "%llu s", why, es->active, (unsigned long long)(RETRY_NS / MO_NSEC));
		return 0;
	}
	x->active = true;
	x->start_ns = now;
	x->end_ns = now + window;
	es->active++;
	mo_stat_add(&es->stats.started, 1);
	note(es, pid, "escalate", "info", "precise tracking for %llu s (%s): %s",
	     (unsigned long long)(window / MO_NSEC), why, r ? what : "already probed");
	return 1;
}

static bool gone(struct mo_escalate *es, pid_t pid)
{
	struct mo_proc *p = mo_proctab_find(es->pt, pid);

	return (p && p->exit_pending) || (kill(pid, 0) && errno == ESRCH);
}

/* The blocks pid still holds from the window, grouped by stack: the leak
 * sites, most bytes first. */
static size_t report_sites(struct mo_escalate *es, const struct escalation *x, uint64_t now,
			   struct mo_alloc_rec *recs, size_t n)
{
	uint64_t min_age = (now - x->start_ns) / 4;
	struct mo_leak_groups g = { 0 };
	struct mo_alloc_rec *mine = malloc((n ? n : 1) * sizeof(*mine));
	size_t m = 0, sites = 0;

	if (!mine)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (recs[i].tgid == (uint32_t)x->pid && recs[i].kind == MO_KIND_HEAP)
			mine[m++] = recs[i];
	if (m && mo_analyze(mine, m, now, min_age, &g) == 0) {
		for (size_t i = 0; i < g.nr && sites < MAX_SITES; i++) {
			struct mo_event *ev;
			struct mo_leak l;
			bool growing;

			if (g.g[i].stack_id == 0 || mo_stacks_runtime(es->st, &g.g[i]))
				continue;
			mo_findings_fill_leak(es->f, &l, &g.g[i], now);
			growing = !strcmp(l.pattern, "growing") || !strcmp(l.pattern, "fragmentation");
			ev = mo_findings_leak_event(es->f, &l, growing ? "warning" : "info", false);
			if (ev)
				ev->kind = growing ? "leak" : "held";
			mo_findings_emit(es->f, ev);
			mo_trace_release(&l.stack);
			sites++;
		}
	}
	mo_leak_groups_release(&g);
	free(mine);
	return sites;
}

/* Its blocks leave the table with the probes: their frees would not be seen. */
static void forget_blocks(struct mo_escalate *es, pid_t pid, const struct mo_alloc_rec *recs,
			  size_t n)
{
	struct mo_stack_key *keys = NULL;
	size_t nkeys = 0;

	for (size_t i = 0; i < n; i++)
		if (recs[i].tgid == (uint32_t)pid && recs[i].kind == MO_KIND_HEAP)
			mo_kernel_alloc_delete(es->k, recs[i].tgid, recs[i].gen, recs[i].addr);
	if (mo_kernel_stack_stats_keys(es->k, &keys, &nkeys) == 0)
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].tgid == (uint32_t)pid)
				mo_kernel_stack_stats_delete(es->k, &keys[i]);
	free(keys);
}

static void close_one(struct mo_escalate *es, struct escalation *x, uint64_t now)
{
	struct mo_alloc_rec *recs = NULL;
	size_t n = 0, sites = 0;
	bool exited = gone(es, x->pid);

	if (!exited && mo_kernel_allocs(es->k, &recs, &n) == 0)
		sites = report_sites(es, x, now, recs, n);
	mo_probes_detach_pid(es->pr, x->pid);
	if (!exited)
		forget_blocks(es, x->pid, recs, n);
	free(recs);
	x->active = false;
	x->end_ns = now + COOLDOWN_NS;
	es->active--;
	mo_stat_add(&es->stats.sites, sites);
	if (exited)
		note(es, x->pid, "escalate_end", "info",
		     "the process exited: its final findings are precise; probes detached");
	else
		note(es, x->pid, "escalate_end", "info",
		     "%zu leak site%s held for at least %llu s; probes detached", sites,
		     sites == 1 ? "" : "s",
		     (unsigned long long)((now - x->start_ns) / 4 / MO_NSEC));
}

void mo_escalate_tick(struct mo_escalate *es, uint64_t now)
{
	for (size_t i = 0; i < es->n; i++) {
		struct escalation *x = &es->e[i];

		if (x->active && (now >= x->end_ns || gone(es, x->pid)))
			close_one(es, x, now);
	}
}

void mo_escalate_finish(struct mo_escalate *es)
{
	uint64_t now = mo_clock_ns(CLOCK_BOOTTIME);

	for (size_t i = 0; i < es->n; i++)
		if (es->e[i].active)
			close_one(es, &es->e[i], now);
}

void mo_escalate_stats(const struct mo_escalate *es, struct mo_escalate_stats *out)
{
	out->started = mo_stat_get(&es->stats.started);
	out->failed = mo_stat_get(&es->stats.failed);
	out->skipped = mo_stat_get(&es->stats.skipped);
	out->sites = mo_stat_get(&es->stats.sites);
}
