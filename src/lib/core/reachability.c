// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* reachability.c - reachability scans of tracked heap blocks (reachability.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "abi.h"
#include "analysis.h"
#include "core/env.h"
#include "core/kernel.h"
#include "core/proctab.h"
#include "core/reachability.h"
#include "core/stacks.h"
#include "pattern.h"
#include "traces.h"
#include "util.h"

/* A plateau process is scanned again after this many analysis intervals
 * (the history a periodic finding needs), if the budget allows. */
#define RESCAN_INTERVALS 8
/* A live scan's passes and a stop scan's marking after the pause are
 * bounded: a worker stuck in a scan makes no other progress. */
#define MAX_SCAN_NS (60 * MO_NSEC)

/* The verdict of one (process, stack). */
struct verdict {
	uint32_t pid;
	uint64_t stack_id;
	uint64_t blocks[MO_REACH_NR_CLASSES];
	uint64_t bytes[MO_REACH_NR_CLASSES];
	uint8_t why;		/* enum mo_reach_why of its first unknown block */
	uint8_t mode;		/* enum mo_scan_mode */
	bool announced;		/* lost, and a finding said so already */
	uint64_t scanned_ns;	/* CLOCK_BOOTTIME */
};

/* A scanned process: which instance, and what its last scan cost. */
struct scanned {
	uint32_t pid;
	uint32_t gen;
	uint64_t exec_ts;
	uint64_t last_ns;	/* CLOCK_BOOTTIME of the last scan */
	uint64_t cost_ns;	/* its cost to the process: the pause, or our CPU */
};

struct mo_reach_stage {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	mo_reach_scan_fn scan;

	struct mo_reach_hold *hold;	/* the command, held at its exit */

	struct verdict *v;	/* sorted by (pid, stack_id) */
	size_t nv, capv;
	struct scanned *procs;
	size_t nprocs, capprocs;

	struct mo_reach_counts stats;	/* mo_stat_* */
};

struct mo_reach_stage *mo_reachability_new(const struct mo_env *env, const struct mo_kernel *k,
					   struct mo_proctab *pt, struct mo_stacks *st,
					   mo_reach_scan_fn scan)
{
	struct mo_reach_stage *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->env = env;
	rc->k = k;
	rc->pt = pt;
	rc->st = st;
	rc->scan = scan ? scan : mo_reach_scan;
	return rc;
}

void mo_reachability_free(struct mo_reach_stage *rc)
{
	if (!rc)
		return;
	mo_reach_hold_free(rc->hold);
	free(rc->v);
	free(rc->procs);
	free(rc);
}

/* ----------------------------------------------------------- the tables */

static int verdict_cmp(const void *a, const void *b)
{
	const struct verdict *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static const struct verdict *verdict_find(const struct mo_reach_stage *rc, uint32_t pid,
					  uint64_t stack_id)
{
	struct verdict key = { .pid = pid, .stack_id = stack_id };

	if (!rc->nv)
		return NULL;
	return bsearch(&key, rc->v, rc->nv, sizeof(*rc->v), verdict_cmp);
}

/* The lost-bytes gauges, from the verdicts held now. */
static void publish_lost(struct mo_reach_stage *rc)
{
	uint64_t dl = 0, il = 0;

	for (size_t i = 0; i < rc->nv; i++) {
		dl += rc->v[i].bytes[MO_REACH_DEFINITELY_LOST];
		il += rc->v[i].bytes[MO_REACH_INDIRECTLY_LOST];
	}
	__atomic_store_n(&rc->stats.lost_definitely_bytes, dl, __ATOMIC_RELAXED);
	__atomic_store_n(&rc->stats.lost_indirectly_bytes, il, __ATOMIC_RELAXED);
}

/* Has pid any verdict? */
static bool verdict_pid(const struct mo_reach_stage *rc, uint32_t pid)
{
	size_t lo = 0, hi = rc->nv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rc->v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < rc->nv && rc->v[lo].pid == pid;
}

static void verdicts_drop(struct mo_reach_stage *rc, uint32_t pid)
{
	size_t k = 0;

	for (size_t i = 0; i < rc->nv; i++)
		if (rc->v[i].pid != pid)
			rc->v[k++] = rc->v[i];
	rc->nv = k;
	publish_lost(rc);
}

static struct scanned *scanned_find(struct mo_reach_stage *rc, uint32_t pid)
{
	for (size_t i = 0; i < rc->nprocs; i++)
		if (rc->procs[i].pid == pid)
			return &rc->procs[i];
	return NULL;
}

/* Forget what was found of pid. */
static void forget(struct mo_reach_stage *rc, uint32_t pid)
{
	struct scanned *s = scanned_find(rc, pid);

	verdicts_drop(rc, pid);
	if (s)
		*s = rc->procs[--rc->nprocs];
}

/* Verdicts of a process gone (forgotten by the core: its statistics left
 * the kernel), of a new process with its pid, or of an image replaced by
 * exec, go. */
static void prune(struct mo_reach_stage *rc)
{
	for (size_t i = 0; i < rc->nprocs;) {
		struct mo_proc_stats ps;
		struct scanned *s = &rc->procs[i];

		if (mo_kernel_proc(rc->k, s->pid, &ps) || ps.gen != s->gen ||
		    ps.exec_ts_ns != s->exec_ts) {
			forget(rc, s->pid);
			continue;	/* the last entry moved here */
		}
		i++;
	}
}

/* ------------------------------------------------------------- the scan */

struct block_list {
	struct mo_reach_block *b;
	uint64_t *stack;	/* stack id of each block */
	size_t n, cap, capstack;
};

static void list_release(struct block_list *l)
{
	free(l->b);
	free(l->stack);
	memset(l, 0, sizeof(*l));
}

/* pid's heap blocks (instance gen) as the allocation table holds them now. */
static int list_blocks(struct mo_reach_stage *rc, uint32_t pid, uint32_t gen,
		       struct block_list *l)
{
	struct mo_alloc_rec *recs = NULL;
	size_t n = 0;
	int err = mo_kernel_allocs(rc->k, &recs, &n);

	l->n = 0;
	for (size_t i = 0; !err && i < n; i++) {
		if (recs[i].tgid != pid || recs[i].gen != gen || recs[i].kind != MO_KIND_HEAP)
			continue;
		if (MO_GROW(l->b, l->n + 1, l->cap) || MO_GROW(l->stack, l->n + 1, l->capstack)) {
			err = -ENOMEM;
			break;
		}
		/* the allocation time tells apart two blocks at one address */
		l->b[l->n] = (struct mo_reach_block){ recs[i].addr, recs[i].size, recs[i].ts_ns };
		l->stack[l->n++] = recs[i].stack_id;
	}
	free(recs);
	return err;
}

static uint64_t thread_cpu_ns(void)
{
	return mo_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* One pass of the scanner over l, its cost added to s: the pause, and the
 * CPU of the scanner's own threads (the tracer's; this thread's is taken
 * over the whole scan by the caller). */
static int run_scan(struct mo_reach_stage *rc, pid_t pid, const struct block_list *l,
		    const struct mo_reach_opts *o, const struct mo_reach_result *prev,
		    struct mo_reach_result *out, struct mo_reach_summary *s)
{
	uint64_t c0 = thread_cpu_ns(), mine;
	const struct mo_reach_stats *x = &out->stats;
	int err = rc->scan(pid, l->b, l->n, o, prev, out);

	if (err)
		return err;
	mine = thread_cpu_ns() - c0;
	memcpy(s->blocks, x->count, sizeof(s->blocks));
	memcpy(s->bytes, x->bytes, sizeof(s->bytes));
	s->why = x->why;
	s->error = x->error;
	s->pause_ns += x->pause_ns;
	s->cpu_ns += x->cpu_ns > mine ? x->cpu_ns - mine : 0;
	s->duration_ns += x->duration_ns;
	s->bytes_scanned += x->bytes_scanned;
	if (x->pause_ns) {
		mo_stat_add(&rc->stats.pauses, 1);
		mo_stat_add(&rc->stats.pause_ns, x->pause_ns);
	}
	return 0;
}

/* The scan's outcome in the counters: ran (perhaps capped), or refused. */
static void count_outcome(struct mo_reach_stage *rc, const struct mo_reach_summary *s)
{
	switch (s->why) {
	case MO_REACH_WHY_PERM:
		mo_stat_add(&rc->stats.no_permission, 1);
		return;
	case MO_REACH_WHY_TRACED:
		mo_stat_add(&rc->stats.already_traced, 1);
		return;
	case MO_REACH_WHY_GONE:
		mo_stat_add(&rc->stats.process_gone, 1);
		return;
	case MO_REACH_WHY_SELF:
	case MO_REACH_WHY_ERROR:
		mo_stat_add(&rc->stats.failed, 1);
		return;
	case MO_REACH_WHY_PAUSE_CAP:
		mo_stat_add(&rc->stats.pause_cap, 1);
		break;
	default:
		break;
	}
	mo_stat_add(&rc->stats.run, 1);
	for (int c = 0; c < MO_REACH_NR_CLASSES; c++)
		mo_stat_add(&rc->stats.blocks[c], s->blocks[c]);
}

/* Indexes into a block list, by stack id. */
static int stack_order_cmp(const void *a, const void *b, void *stacks)
{
	const uint64_t *st = stacks;
	uint64_t x = st[*(const size_t *)a], y = st[*(const size_t *)b];

	return x < y ? -1 : x > y;
}

static bool lost(const struct verdict *v)
{
	return v->blocks[MO_REACH_DEFINITELY_LOST] || v->blocks[MO_REACH_INDIRECTLY_LOST];
}

/* Sum the verdicts of l's blocks per stack into the table. A stack found
 * lost again keeps its announcement: only a new loss is news. */
static int keep_verdicts(struct mo_reach_stage *rc, uint32_t pid, const struct block_list *l,
			 const struct mo_reach_result *r, enum mo_scan_mode mode, uint64_t now)
{
	size_t first = rc->nv, k = 0;
	size_t *order = malloc((l->n ? l->n : 1) * sizeof(*order));

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		order[i] = i;
	qsort_r(order, l->n, sizeof(*order), stack_order_cmp, l->stack);
	/* the new verdicts go after the table (still sorted and searchable),
	 * then replace pid's old ones */
	for (size_t o = 0; o < l->n; o++) {
		size_t i = order[o];
		uint8_t cls = r->cls[i];
		struct verdict *v;

		if (rc->nv == first || rc->v[rc->nv - 1].stack_id != l->stack[i]) {
			if (MO_GROW(rc->v, rc->nv + 1, rc->capv)) {
				rc->nv = first;
				free(order);
				return -ENOMEM;
			}
			v = &rc->v[rc->nv++];
			memset(v, 0, sizeof(*v));
			v->pid = pid;
			v->stack_id = l->stack[i];
			v->mode = (uint8_t)mode;
			v->scanned_ns = now;
		}
		v = &rc->v[rc->nv - 1];
		v->blocks[cls]++;
		v->bytes[cls] += l->b[i].size;
		if (cls == MO_REACH_UNKNOWN && !v->why)
			v->why = r->why[i];
	}
	free(order);
	for (size_t i = first; i < rc->nv; i++) {
		const struct verdict *old = first ? bsearch(&rc->v[i], rc->v, first,
							    sizeof(*rc->v), verdict_cmp) : NULL;

		rc->v[i].announced = old && old->announced && lost(old) && lost(&rc->v[i]);
	}
	for (size_t i = 0; i < rc->nv; i++)
		if (i >= first || rc->v[i].pid != pid)
			rc->v[k++] = rc->v[i];
	rc->nv = k;
	qsort(rc->v, rc->nv, sizeof(*rc->v), verdict_cmp);
	publish_lost(rc);
	return 0;
}

bool mo_reachability_announce(struct mo_reach_stage *rc, uint32_t pid, uint64_t stack_id)
{
	struct verdict *v = rc ? (struct verdict *)verdict_find(rc, pid, stack_id) : NULL;

	if (!v || !lost(v) || v->announced)
		return false;
	v->announced = true;
	return true;
}

static void opts_for(const struct mo_reach_stage *rc, enum mo_scan_mode mode,
		     struct mo_reach_opts *o)
{
	mo_reach_opts_init(o);
	o->mode = mode == MO_SCAN_LIVE ? MO_REACH_LIVE : MO_REACH_STOP;
	o->max_pause_ns = rc->env->cfg.scan_max_pause_ns;
	o->max_scan_ns = MAX_SCAN_NS;
	/* a held process is stopped by its holder, the one tracer it may have */
	o->hold = rc->hold;
}

int mo_reachability_scan_pid(struct mo_reach_stage *rc, pid_t pid, enum mo_scan_mode mode,
			     const char *trigger, struct mo_reach_summary *s)
{
	struct block_list l = { 0 }, now = { 0 };
	struct mo_reach_result r = { 0 }, prev = { 0 };
	struct mo_reach_opts o;
	struct mo_proc_stats ps;
	struct scanned *sc;
	uint64_t t, c0 = thread_cpu_ns();
	int err;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->mode = mode == MO_SCAN_LIVE ? MO_SCAN_LIVE : MO_SCAN_STOP;
	s->trigger = trigger;
	if (mo_kernel_proc(rc->k, (uint32_t)pid, &ps))
		return -ENOENT;
	err = list_blocks(rc, (uint32_t)pid, ps.gen, &l);
	if (!err && !l.n)
		err = -ENOENT;
	if (err)
		goto out;
	opts_for(rc, s->mode, &o);
	if (s->mode == MO_SCAN_LIVE) {
		/* a pass only proposes; the next one, over the list read
		 * again, confirms what is lost in both with the same contents */
		err = run_scan(rc, pid, &l, &o, NULL, &prev, s);
		if (err)
			goto out;
		if (prev.stats.why == MO_REACH_WHY_NONE) {
			err = list_blocks(rc, (uint32_t)pid, ps.gen, &l);
			if (!err)
				err = run_scan(rc, pid, &l, &o, &prev, &r, s);
			if (err)
				goto out;
		} else {
			r = prev;
			memset(&prev, 0, sizeof(prev));
		}
	} else {
		err = run_scan(rc, pid, &l, &o, NULL, &r, s);
		if (err)
			goto out;
	}
	/* a block freed while the scan ran is nobody's to point to: lost
	 * only if it is still listed, the same block, after the scan */
	err = list_blocks(rc, (uint32_t)pid, ps.gen, &now);
	if (!err && mo_reach_recheck(&r, l.b, now.b, now.n) < 0)
		err = -ENOMEM;
	if (err)
		goto out;
	memcpy(s->blocks, r.stats.count, sizeof(s->blocks));
	memcpy(s->bytes, r.stats.bytes, sizeof(s->bytes));
	/* a scan that ran names why its undecided blocks are: the first one's */
	for (size_t i = 0; !s->why && i < l.n; i++)
		if (r.cls[i] == MO_REACH_UNKNOWN)
			s->why = r.why[i];
	t = mo_clock_ns(CLOCK_BOOTTIME);
	/* a process gone meanwhile keeps what its last scan found (its exit
	 * findings are made from it) */
	if (r.stats.why != MO_REACH_WHY_GONE || !verdict_pid(rc, (uint32_t)pid))
		err = keep_verdicts(rc, (uint32_t)pid, &l, &r, s->mode, t);
	if (err)
		goto out;
	/* the worker's CPU for all of it: listing, scanning, summing */
	s->cpu_ns += thread_cpu_ns() - c0;
	mo_stat_add(&rc->stats.cpu_ns, s->cpu_ns);
	sc = scanned_find(rc, (uint32_t)pid);
	if (!sc && !MO_GROW(rc->procs, rc->nprocs + 1, rc->capprocs)) {
		sc = &rc->procs[rc->nprocs++];
		sc->pid = (uint32_t)pid;
	}
	if (sc) {
		sc->gen = ps.gen;
		sc->exec_ts = ps.exec_ts_ns;
		sc->last_ns = t;
		sc->cost_ns = s->pause_ns > s->cpu_ns ? s->pause_ns : s->cpu_ns;
	}
	count_outcome(rc, s);
out:
	mo_reach_result_release(&r);
	mo_reach_result_release(&prev);
	list_release(&l);
	list_release(&now);
	return err;
}

/* ---------------------------------------------------------- when to scan */

static bool scannable(struct mo_reach_stage *rc, uint32_t pid)
{
	struct mo_proc *p = mo_proctab_find(rc->pt, (pid_t)pid);

	if (pid == (uint32_t)getpid() || (p && (p->exit_pending || (p->target && !p->alive))))
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int pid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The distinct pids of the heap blocks in the table, sorted. */
static int heap_pids(struct mo_reach_stage *rc, uint32_t **out, size_t *n)
{
	struct mo_alloc_rec *recs = NULL;
	size_t nr = 0, m = 0;
	uint32_t *pids;
	int err = mo_kernel_allocs(rc->k, &recs, &nr);

	*out = NULL;
	*n = 0;
	if (err)
		return err;
	pids = malloc((nr ? nr : 1) * sizeof(*pids));
	if (!pids) {
		free(recs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr; i++)
		if (recs[i].kind == MO_KIND_HEAP)
			pids[m++] = recs[i].tgid;
	free(recs);
	qsort(pids, m, sizeof(*pids), pid_cmp);
	*n = 0;
	for (size_t i = 0; i < m; i++)
		if (!*n || pids[*n - 1] != pids[i])
			pids[(*n)++] = pids[i];
	*out = pids;
	return 0;
}

int mo_reachability_hold(struct mo_reach_stage *rc, pid_t pid)
{
	if (rc->hold)
		return -EBUSY;
	rc->hold = mo_reach_hold_new(pid);
	return rc->hold ? 0 : -errno;
}

int mo_reachability_hold_fd(const struct mo_reach_stage *rc)
{
	return rc->hold ? mo_reach_hold_fd(rc->hold) : -1;
}

void mo_reachability_exits(struct mo_reach_stage *rc, mo_reach_done_fn done, void *ctx)
{
	struct mo_reach_summary s;
	uint64_t v;

	if (!rc->hold)
		return;
	while (read(mo_reach_hold_fd(rc->hold), &v, sizeof(v)) == sizeof(v))
		;
	if (mo_reach_hold_exiting(rc->hold)) {
		pid_t pid = mo_reach_hold_pid(rc->hold);

		if (mo_reachability_scan_pid(rc, pid, MO_SCAN_STOP, "exit", &s) == 0 && done)
			done(ctx, &s);
		/* its stacks are named while its mappings can still be read: a
		 * short-lived command may be gone before its exec was handled */
		mo_stacks_prime(rc->st, pid);
		for (size_t i = 0; i < rc->nv; i++)
			if (rc->v[i].pid == (uint32_t)pid)
				mo_stacks_trace(rc->st, (uint32_t)pid, rc->v[i].stack_id);
		mo_reach_hold_release(rc->hold);
	}
}

void mo_reachability_unhold(struct mo_reach_stage *rc)
{
	mo_reach_hold_free(rc->hold);
	rc->hold = NULL;
}

void mo_reachability_scan_all(struct mo_reach_stage *rc, enum mo_scan_mode mode,
			      const char *trigger, mo_reach_done_fn done, void *ctx)
{
	uint32_t *pids = NULL;
	size_t n = 0;

	prune(rc);
	if (heap_pids(rc, &pids, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct mo_reach_summary s;

		if (!scannable(rc, pids[i]))
			continue;
		if (mo_reachability_scan_pid(rc, (pid_t)pids[i], mode, trigger, &s) == 0 && done)
			done(ctx, &s);
	}
	free(pids);
}

/* The stack's history says it stopped growing: a plateau, or churn that
 * holds blocks. Growing stacks are leaks already; unknown ones too young. */
static bool settled(struct mo_reach_stage *rc, const struct mo_leak_group *g)
{
	struct mo_trace_entry *e = mo_stacks_entry(rc->st, g->tgid, g->stack_id);
	struct mo_verdict v;

	mo_stacks_classify(e, &v);
	return v.pattern == MO_PATTERN_PLATEAU || v.pattern == MO_PATTERN_CHURN;
}

void mo_reachability_periodic(struct mo_reach_stage *rc, uint64_t now, mo_reach_done_fn done,
			      void *ctx)
{
	const struct mo_config *cfg = &rc->env->cfg;
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t rescan = RESCAN_INTERVALS * cfg->report_interval_ns;
	size_t n = 0, m = 0;
	int err;

	prune(rc);
	if (mo_kernel_allocs(rc->k, &recs, &n))
		return;
	/* heap blocks only: programs' own mappings are roots, never scanned */
	for (size_t i = 0; i < n; i++)
		if (recs[i].kind == MO_KIND_HEAP)
			recs[m++] = recs[i];
	err = mo_analyze(recs, m, now, cfg->min_unfreed_age_ns, &g);
	free(recs);
	if (err)
		return;
	for (size_t i = 0; i < g.nr && !mo_env_stopping(rc->env); i++) {
		uint32_t pid = g.g[i].tgid;
		struct mo_reach_summary s;
		struct scanned *sc;

		if (!pid || !g.g[i].stack_id || !settled(rc, &g.g[i]))
			continue;
		sc = scanned_find(rc, pid);
		if (sc && verdict_find(rc, pid, g.g[i].stack_id) && now - sc->last_ns < rescan)
			continue;
		if (!scannable(rc, pid))
			continue;
		/* the budget: the process's last scan cost against its share of
		 * the time since */
		if (sc && cfg->max_overhead_bp &&
		    (double)sc->cost_ns > (double)(now - sc->last_ns) * cfg->max_overhead_bp / 1e4) {
			mo_stat_add(&rc->stats.over_budget, 1);
			continue;
		}
		if (mo_reachability_scan_pid(rc, (pid_t)pid, cfg->scan_mode, "plateau", &s) == 0 && done)
			done(ctx, &s);
		/* one scan per process per pass: its other stacks were in it */
		for (size_t j = i + 1; j < g.nr; j++)
			if (g.g[j].tgid == pid)
				g.g[j].tgid = 0;
	}
	mo_leak_groups_release(&g);
}

/* --------------------------------------------------------------- verdicts */

static const char *verdict_name(const uint64_t bytes[MO_REACH_NR_CLASSES],
				const uint64_t blocks[MO_REACH_NR_CLASSES])
{
	/* a stack that dropped one block is leaking, whatever else it holds */
	if (blocks[MO_REACH_DEFINITELY_LOST])
		return mo_reach_class_name(MO_REACH_DEFINITELY_LOST);
	if (blocks[MO_REACH_INDIRECTLY_LOST])
		return mo_reach_class_name(MO_REACH_INDIRECTLY_LOST);
	if (blocks[MO_REACH_REACHABLE] && !blocks[MO_REACH_UNKNOWN])
		return mo_reach_class_name(MO_REACH_REACHABLE);
	return mo_reach_class_name(MO_REACH_UNKNOWN);
}

static void fill(struct mo_reachability *out, const uint64_t bytes[MO_REACH_NR_CLASSES],
		 const uint64_t blocks[MO_REACH_NR_CLASSES], enum mo_reach_why why,
		 enum mo_scan_mode mode)
{
	memset(out, 0, sizeof(*out));
	out->verdict = verdict_name(bytes, blocks);
	out->mode = mo_scan_mode_name(mode);
	out->definitely_lost_bytes = bytes[MO_REACH_DEFINITELY_LOST];
	out->indirectly_lost_bytes = bytes[MO_REACH_INDIRECTLY_LOST];
	out->reachable_bytes = bytes[MO_REACH_REACHABLE];
	out->unknown_bytes = bytes[MO_REACH_UNKNOWN];
	for (int c = 0; c < MO_REACH_NR_CLASSES; c++)
		out->blocks += blocks[c];
	if (!strcmp(out->verdict, "unknown"))
		out->reason = mo_reach_why_name(why ? why : MO_REACH_WHY_ERROR);
}

bool mo_reachability_get(const struct mo_reach_stage *rc, uint32_t pid, uint64_t stack_id,
			 uint64_t now_boot, struct mo_reachability *out)
{
	const struct verdict *v = rc ? verdict_find(rc, pid, stack_id) : NULL;

	if (!v)
		return false;
	fill(out, v->bytes, v->blocks, (enum mo_reach_why)v->why, (enum mo_scan_mode)v->mode);
	out->age_seconds = now_boot > v->scanned_ns ? (double)(now_boot - v->scanned_ns) / 1e9 : 0;
	return true;
}

void mo_reachability_of_summary(const struct mo_reach_summary *s, struct mo_reachability *out)
{
	fill(out, s->bytes, s->blocks, s->why, s->mode);
}

void mo_reachability_stats(const struct mo_reach_stage *rc, struct mo_reach_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (!rc)
		return;
	out->run = mo_stat_get(&rc->stats.run);
	out->no_permission = mo_stat_get(&rc->stats.no_permission);
	out->already_traced = mo_stat_get(&rc->stats.already_traced);
	out->process_gone = mo_stat_get(&rc->stats.process_gone);
	out->pause_cap = mo_stat_get(&rc->stats.pause_cap);
	out->over_budget = mo_stat_get(&rc->stats.over_budget);
	out->failed = mo_stat_get(&rc->stats.failed);
	for (int c = 0; c < MO_REACH_NR_CLASSES; c++)
		out->blocks[c] = mo_stat_get(&rc->stats.blocks[c]);
	out->pauses = mo_stat_get(&rc->stats.pauses);
	out->pause_ns = mo_stat_get(&rc->stats.pause_ns);
	out->cpu_ns = mo_stat_get(&rc->stats.cpu_ns);
	out->lost_definitely_bytes = mo_stat_get(&rc->stats.lost_definitely_bytes);
	out->lost_indirectly_bytes = mo_stat_get(&rc->stats.lost_indirectly_bytes);
}
