// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* report.c - counters, the leak report, the metrics snapshot (report.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "core/core.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/growth.h"
#include "core/kernel.h"
#include "core/leaks.h"
#include "core/lifecycle.h"
#include "core/probes.h"
#include "core/proctab.h"
#include "core/reachability.h"
#include "core/report.h"
#include "core/resident.h"
#include "core/series.h"
#include "core/stacks.h"
#include "privsep.h"
#include "queue.h"
#include "safefile.h"
#include "sinks/metrics.h"
#include "sinks/pprof.h"
#include "traces.h"
#include "util.h"

/* What the caller counted, added to the row it names. */
static void add_noted(struct mo_core *c, struct mo_counters *out)
{
#define MO_ADD_NOTED(field, kind, family, label, json_key, help) \
	out->field += mo_stat_get(&c->noted[MO_CTR_##field]);
	MO_COUNTERS(MO_ADD_NOTED)
#undef MO_ADD_NOTED
}

void mo_core_counters(struct mo_core *c, struct mo_counters *out)
{
	uint64_t v[MO_C__COUNT];
	struct mo_lifecycle_stats ls;
	struct mo_resident_stats rs;
	struct mo_escalate_stats es = { 0 };
	struct mo_stacks_stats ss;
	struct mo_modules_stats ms;
	struct mo_safefile_stats sf;
	struct mo_growth_stats gs = { 0 };
	struct mo_shed_stats sh;
	struct mo_privsep_stats ps = { 0 };
	struct mo_k8snames_stats ks;
	struct mo_reach_counts rch;

	memset(out, 0, sizeof(*out));
	if (!c->k) {
		add_noted(c, out);
		return;
	}
	if (c->es)
		mo_escalate_stats(c->es, &es);
	if (c->gs)
		mo_growth_stats(c->gs, &gs);
	mo_kernel_counters(c->k, v);
	mo_lifecycle_stats(c->lc, &ls);
	mo_resident_stats(c->rs, &rs);
	mo_probes_shed_stats(c->pr, &sh);
	mo_stacks_stats(c->st, &ss);
	mo_stacks_module_stats(c->st, &ms);
	mo_safefile_stats(&sf);
	if (c->ps)
		mo_privsep_stats(c->ps, &ps);
	mo_proctab_k8snames_stats(c->pt, &ks);
	mo_reachability_stats(c->rc, &rch);

	out->allocs_tracked = v[MO_C_ALLOCS_TRACKED] + v[MO_C_MMAPS_TRACKED];
	out->frees_matched = v[MO_C_FREES_MATCHED] + v[MO_C_MUNMAPS_MATCHED];
	out->alloc_calls = v[MO_C_ALLOC_CALLS];
	out->probes_attached = mo_probes_count(c->pr);
	out->events_emitted = mo_findings_emitted(c->f);
	out->processes_tracked = c->env.system_wide ? 0 : mo_proctab_ntargets(c->pt);
	out->drop_alloc_table_full = v[MO_C_DROP_ALLOC_TABLE_FULL];
	out->drop_stack_table_full = v[MO_C_DROP_STACK_TABLE_FULL] + v[MO_C_STACK_COLLIDED];
	out->drop_ringbuf_full = v[MO_C_DROP_RINGBUF_FULL];
	out->drop_thread_table_full = v[MO_C_DROP_THREAD_TABLE_FULL];
	out->drop_event_buffer_full = mo_queue_dropped(c->q);
	out->drop_stack_stats_full = v[MO_C_STACK_STATS_FULL];
	out->drop_unwind_maps_full = v[MO_C_UNWIND_PROC_MAPS_FULL];
	out->drop_exit_leaks = ls.exit_leaks_dropped;
	out->drop_targets_full = v[MO_C_DROP_TARGETS_FULL];
	out->drop_proc_table_full = v[MO_C_DROP_PROC_TABLE_FULL];
	out->drop_proc_maps_full = v[MO_C_DROP_PROC_MAPS_FULL];
	out->drop_rss_table_full = v[MO_C_DROP_RSS_TABLE_FULL];
	out->drop_mmap_ranges_full = v[MO_C_DROP_MMAP_RANGES_FULL];
	out->drop_mremap_unhandled = v[MO_C_MREMAP_UNHANDLED];
	out->drop_size_filtered = v[MO_C_DROP_SIZE_FILTERED];
	out->drop_sampled = v[MO_C_DROP_SAMPLED];
	out->allocator_internal_mmaps = v[MO_C_ALLOCATOR_MMAPS];
	out->runtime_mmaps = v[MO_C_RUNTIME_MMAPS] + ls.runtime_skipped;
	out->nested_calls = v[MO_C_NESTED_CALLS];
	out->dedup_suppressed = mo_leaks_suppressed(c->lk);
	out->shed_allocs_estimated = sh.shed_allocs;
	out->short_lived_exits = ls.short_lived_exits;
	out->rss_checks_agreed = rs.checks_agreed;
	out->rss_checks_disagreed = rs.checks_disagreed;
	out->rss_proc_reads = rs.proc_reads;
	out->shed_unattainable = sh.unattainable;
	out->shed_switches = sh.switches;
	out->stale_calls = v[MO_C_STALE_CALLS];
	out->unattributed_blocks = ls.unattributed;
	out->unwind_fallbacks = v[MO_C_UNWIND_MAP_MISS];
	out->unwind_cut_rows_pending = v[MO_C_UNWIND_CUT_ROWS_PENDING];
	out->unwind_cut_not_code = v[MO_C_UNWIND_CUT_NOT_CODE];
	out->unwind_cut_guess_rejected = v[MO_C_UNWIND_CUT_GUESS_REJECTED];
	out->unwind_cut_vma_busy = v[MO_C_UNWIND_CUT_VMA_BUSY];
	out->unwind_modules_loaded = ms.loaded;
	out->unwind_modules_failed = ms.failed;
	out->unwind_modules_refused = ms.refused;
	out->unwind_modules_evicted = ms.evicted;
	out->unwind_rows_used = ms.rows_used;
	out->drop_unwind_rows_full = ms.full;
	out->pids_reused = ls.pids_reused;
	out->exits_recovered = ls.exits_recovered;
	out->stale_recovered = ls.stale_recovered;
	out->drop_growth_full = v[MO_C_DROP_GROWTH_FULL];
	out->drop_growth_no_stack = v[MO_C_GROWTH_NO_STACK];
	out->growth_young = v[MO_C_GROWTH_YOUNG];
	out->growth_unbacked = gs.unbacked;
	out->process_events_filtered = ls.process_events_filtered;
	out->own_executable_skipped = mo_probes_own_exe_skipped(c->pr);
	out->growth_samples = v[MO_C_GROWTH_SAMPLES];
	out->self_probe_hits = v[MO_C_SELF_HITS];
	out->files_not_regular = sf.not_regular;
	out->files_replaced = sf.replaced;
	out->files_too_large = sf.too_large;
	out->files_symlinks = sf.symlinks;
	out->jit_frames_named = ss.jit_named;
	out->jit_frames_unnamed = ss.jit_unnamed;
	out->perfmaps_skipped = ss.perfmaps_skipped;
	out->perfmap_lines_malformed = ss.perfmap_lines_malformed;
	out->growth_findings = gs.findings;
	out->escalations_started = es.started;
	out->escalations_failed = es.failed;
	out->escalations_skipped = es.skipped;
	out->escalation_sites = es.sites;
	out->parser_starts = ps.starts;
	out->parser_died = ps.died;
	out->parser_timeouts = ps.timeouts;
	out->parser_protocol = ps.protocol;
	out->parser_files_lost = ps.files_lost;
	out->dedup_suppressed += gs.suppressed;
	out->k8s_log_scans = ks.scans;
	out->k8s_entries_bad_name = ks.bad_name;
	out->k8s_entries_bad_type = ks.bad_type;
	out->k8s_entries_mismatched = ks.mismatched;
	out->drop_k8s_names_full = ks.table_full;
	out->scans_run = rch.run;
	out->scans_no_permission = rch.no_permission;
	out->scans_already_traced = rch.already_traced;
	out->scans_process_gone = rch.process_gone;
	out->scans_pause_cap = rch.pause_cap;
	out->scans_over_budget = rch.over_budget;
	out->scans_failed = rch.failed;
	out->scan_blocks_definitely_lost = rch.blocks[MO_REACH_DEFINITELY_LOST];
	out->scan_blocks_indirectly_lost = rch.blocks[MO_REACH_INDIRECTLY_LOST];
	out->scan_blocks_reachable = rch.blocks[MO_REACH_REACHABLE];
	out->scan_blocks_unknown = rch.blocks[MO_REACH_UNKNOWN];
	out->scan_pauses = rch.pauses;
	out->scan_pause_ns = rch.pause_ns;
	out->scan_cpu_ns = rch.cpu_ns;
	out->lost_definitely_bytes = rch.lost_definitely_bytes;
	out->lost_indirectly_bytes = rch.lost_indirectly_bytes;
	add_noted(c, out);

	out->rss_from_proc = rs.from_proc;
	out->overhead_budget = c->env.cfg.max_overhead_bp / 10000.0;
	out->overhead_estimated = sh.overhead;
	out->overhead_expected = sh.expected;
	out->overhead_duty = c->env.cfg.max_overhead_bp ? sh.duty : 1;
	out->shed_ns = sh.shed_ns;
}

static int leak_cmp(const void *a, const void *b)
{
	const struct mo_leak *x = a, *y = b;

	if (x->unfreed_bytes != y->unfreed_bytes)
		return x->unfreed_bytes < y->unfreed_bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->pid - y->pid;
}

/* Is pid's (worker side) in q's scope? */
static bool wanted(struct mo_core *c, const struct mo_report_query *q, pid_t pid)
{
	const struct mo_container *ct;

	if (q->pid && pid != q->pid)
		return false;
	if (!q->container)
		return true;
	ct = mo_proctab_container(c->pt, pid);
	return ct && !strncmp(ct->id, q->container, strlen(q->container));
}

/* An exited process's final leak: it holds its own container id. */
static bool exit_wanted(const struct mo_report_query *q, const struct mo_leak *l)
{
	return (!q->pid || l->pid == q->pid) &&
	       (!q->container || !strncmp(l->container_id, q->container, strlen(q->container)));
}

/* The allocation table grouped by stack: leaks, or the whole heap. */
static void table_leaks(struct mo_core *c, const struct mo_report_query *q, struct mo_report *r,
			uint64_t *live_unattributed)
{
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t now = mo_clock_ns(CLOCK_BOOTTIME);
	const struct mo_leak *exits = NULL;
	size_t n = 0, nexit = 0, cap;

	if (q->kind == MO_REPORT_LEAKS)
		mo_lifecycle_exit_leaks(c->lc, &exits, &nexit);
	if (mo_kernel_allocs(c->k, &recs, &n) == 0 &&
	    mo_analyze(recs, n, now, r->min_unfreed_age_ns, &g) == 0) {
		cap = g.nr + nexit;
		r->leaks = calloc(cap ? cap : 1, sizeof(*r->leaks));
		if (r->leaks) {
			for (size_t i = 0; i < g.nr; i++) {
				if (g.g[i].stack_id == 0)
					*live_unattributed += g.g[i].count;
				else if (wanted(c, q, (pid_t)g.g[i].tgid) &&
					 !mo_stacks_runtime(c->st, &g.g[i]))
					mo_findings_fill_leak(c->f, &r->leaks[r->nleaks++], &g.g[i],
							      now);
			}
			for (size_t i = 0; i < nexit; i++) {
				if (!exit_wanted(q, &exits[i]))
					continue;
				r->leaks[r->nleaks] = exits[i];
				mo_trace_copy(&r->leaks[r->nleaks].stack, &exits[i].stack);
				r->nleaks++;
			}
		}
		r->outstanding_bytes = g.outstanding_bytes;
		r->outstanding_count = g.outstanding_count;
	}
	mo_leak_groups_release(&g);
	free(recs);
}

/* The watch tier's growth stacks, one leak per (process, stack). */
static int growth_leaks(struct mo_core *c, const struct mo_report_query *q, struct mo_report *r)
{
	struct mo_kgrowth *all = NULL;
	size_t n = 0;
	int err;

	if (!c->gs)
		return -EOPNOTSUPP;
	err = mo_kernel_growth_all(c->k, &all, &n);
	if (err)
		return err;
	r->leaks = calloc(n ? n : 1, sizeof(*r->leaks));
	if (!r->leaks) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mo_kgrowth *g = &all[i];
		pid_t pid = (pid_t)g->k.tgid;
		struct mo_proc *p = mo_proctab_find(c->pt, pid);
		const struct mo_stack_trace *tr;
		struct mo_leak *l;

		if (!g->g.bytes || (p && p->exit_pending) || !wanted(c, q, pid))
			continue;
		l = &r->leaks[r->nleaks++];
		l->pid = pid;
		l->tier = "watch";
		l->severity = "info";
		l->estimate = true;	/* sampled, as the growth findings */
		l->unfreed_bytes = g->g.bytes;
		l->count = g->g.samples;
		mo_findings_comm(c->f, pid, l->command, sizeof(l->command));
		mo_findings_fill_container(c->f, l);
		tr = mo_stacks_trace(c->st, g->k.tgid, g->k.stack_id);
		if (tr)
			mo_trace_copy(&l->stack, tr);
		l->stack.id = g->k.stack_id;
	}
	free(all);
	return 0;
}

/* Does memobserver know anything of pid (worker side)? */
static bool pid_known(struct mo_core *c, pid_t pid)
{
	struct mo_proc_stats ps;

	return mo_proctab_find(c->pt, pid) || mo_kernel_proc(c->k, (uint32_t)pid, &ps) == 0;
}

struct mo_report *mo_core_query(struct mo_core *c, const struct mo_report_query *q, int *errp)
{
	struct mo_report *r = calloc(1, sizeof(*r));
	uint64_t live_unattributed = 0;
	int err = 0;

	*errp = 0;
	if (!r) {
		*errp = -ENOMEM;
		return NULL;
	}
	r->timestamp_ns = mo_clock_ns(CLOCK_REALTIME);
	r->min_unfreed_age_ns = q->kind == MO_REPORT_LEAKS ? c->env.cfg.min_unfreed_age_ns : 0;
	if (!c->k) {
		if (q->kind == MO_REPORT_GROWTH)
			err = -EOPNOTSUPP;
		else if (q->pid)
			err = -ESRCH;
		goto out;
	}
	if (q->kind == MO_REPORT_GROWTH)
		err = growth_leaks(c, q, r);
	else
		table_leaks(c, q, r, &live_unattributed);
	if (err)
		goto out;
	if (q->pid && !r->nleaks && !pid_known(c, q->pid)) {
		err = -ESRCH;
		goto out;
	}
	if (r->nleaks)
		qsort(r->leaks, r->nleaks, sizeof(*r->leaks), leak_cmp);
	for (size_t i = 0; i < r->nleaks; i++) {
		r->total_unfreed_bytes += r->leaks[i].unfreed_bytes;
		r->total_count += r->leaks[i].count;
		r->estimate |= r->leaks[i].estimate;
	}
	mo_core_counters(c, &r->counters);
	r->counters.unattributed_blocks += live_unattributed;
	/* with probes shed part of the time, counts cover the attached time;
	 * sampled, the totals are estimates even where no stack was sampled */
	r->estimate |= r->counters.shed_ns > 0 || c->env.cfg.sampling_rate > 1 ||
		       c->env.cfg.sample_bytes;
out:
	if (err) {
		mo_report_free(r);
		*errp = err;
		return NULL;
	}
	return r;
}

struct mo_report *mo_core_report(struct mo_core *c)
{
	const struct mo_report_query all = { .kind = MO_REPORT_LEAKS };
	int err;

	return mo_core_query(c, &all, &err);
}

int mo_core_profile(struct mo_core *c, const struct mo_report *r, enum mo_report_kind kind,
		    const struct mo_profile_limits *limits, uint8_t **gz, size_t *len)
{
	size_t max_stacks = limits && limits->max_stacks ? limits->max_stacks
							 : MO_PROFILE_MAX_STACKS;
	size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : MO_PROFILE_MAX_BYTES;
	struct mo_pprof_cut cut;
	int err;

	err = mo_pprof_encode_bounded(r, kind == MO_REPORT_GROWTH ? MO_PPROF_GROWTH : MO_PPROF_HEAP,
				      max_stacks, max_bytes, gz, len, &cut);
	if (!err)
		mo_stat_add(&c->noted[MO_CTR_profile_stacks_cut], cut.samples);
	return err;
}

static uint64_t self_rss(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* One key per distinct label set: "process\x1fcontainer_id\x1fnamespace..." */
static void series_key(char *out, size_t len, const struct mo_proc_metrics *m)
{
	snprintf(out, len, "%s\x1f%s\x1f%s\x1f%s\x1f%s", m->command, m->container_id,
		 m->k8s_namespace, m->k8s_pod, m->k8s_container);
}

static int key_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Which keys of the per-process counter families are summed into __other__
 * (series.h), set on the rows; the offsets __other__ keeps. Rows of one key
 * get one decision.
 */
static void decide_proc_series(struct mo_core *c, struct mo_metrics_snapshot *snap,
			       struct mo_proc_metrics *pm, size_t n)
{
	char (*keys)[sizeof(pm->command) + sizeof(pm->container_id) + sizeof(pm->k8s_namespace) +
		     sizeof(pm->k8s_pod) + sizeof(pm->k8s_container)] =
		calloc(n ? n : 1, sizeof(*keys));
	char **sorted = calloc(n ? n : 1, sizeof(*sorted));
	struct mo_series_row *rows = calloc(n ? n : 1, sizeof(*rows));
	uint64_t off[MO_SERIES_VALUES];
	size_t m = 0;

	if (!keys || !sorted || !rows || !c->proc_series)
		goto out;
	for (size_t i = 0; i < n; i++) {
		series_key(keys[i], sizeof(keys[i]), &pm[i]);
		sorted[i] = keys[i];
	}
	qsort(sorted, n, sizeof(*sorted), key_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || strcmp(rows[m - 1].key, sorted[i]))
			rows[m++].key = sorted[i];
	for (size_t i = 0; i < n; i++) {
		struct mo_series_row want = { .key = keys[i] }, *r;

		r = bsearch(&want, rows, m, sizeof(*rows), key_cmp);
		r->v[0] += pm[i].allocations;
		r->v[1] += pm[i].deallocations;
		r->rank += pm[i].unfreed_bytes;
	}
	if (mo_series_decide(c->proc_series, rows, m, off))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct mo_series_row want = { .key = keys[i] };

		pm[i].other = ((struct mo_series_row *)bsearch(&want, rows, m, sizeof(*rows),
							       key_cmp))->other;
	}
	snap->other_allocations = off[0];
	snap->other_deallocations = off[1];
	snap->series_decided = true;
out:
	free(keys);
	free(sorted);
	free(rows);
}

/* The same for rss_growth counts, by process name (both severities). */
static void decide_rss_series(struct mo_core *c, struct mo_metrics_snapshot *snap,
			      struct mo_rss_growth_metric *g, size_t n)
{
	struct mo_series_row *rows = calloc(n ? n : 1, sizeof(*rows));
	uint64_t off[MO_SERIES_VALUES];
	size_t m = 0;

	if (!rows || !c->rss_series) {
		free(rows);
		snap->series_decided = false;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j;
		int sev = g[i].severity && !strcmp(g[i].severity, "critical");

		for (j = 0; j < m && strcmp(rows[j].key, g[i].command); j++)
			;
		if (j == m)
			rows[m++].key = g[i].command;
		rows[j].v[sev] += g[i].count;
		rows[j].rank += g[i].count;
	}
	if (mo_series_decide(c->rss_series, rows, m, off)) {
		snap->series_decided = false;
		free(rows);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m; j++)
			if (!strcmp(rows[j].key, g[i].command))
				g[i].other = rows[j].other;
	snap->other_rss_warning = off[0];
	snap->other_rss_critical = off[1];
	free(rows);
}

int mo_core_metrics(struct mo_core *c, struct mo_metrics_snapshot *snap)
{
	struct mo_proc_metrics *pm = NULL, *retired = NULL;
	struct mo_rss_growth_metric *growth = NULL;
	struct mo_kproc *procs = NULL;
	size_t nprocs = 0, nretired = 0, ngrowth = 0;
	struct rusage ru;
	int err;

	memset(snap, 0, sizeof(*snap));
	if (!c->k)
		return -ENODEV;
	err = mo_kernel_procs(c->k, &procs, &nprocs);
	if (!err)
		err = mo_lifecycle_retired(c->lc, &retired, &nretired);
	if (!err)
		err = mo_resident_growth_counts(c->rs, &growth, &ngrowth);
	if (!err && !(pm = calloc(nprocs + nretired + 1, sizeof(*pm))))
		err = -ENOMEM;
	if (err) {
		free(procs);
		free(retired);
		free(growth);
		return err;
	}
	for (size_t i = 0; i < nprocs; i++) {
		const struct mo_proc_stats *ps = &procs[i].st;
		struct mo_proc_metrics *m = &pm[i];

		struct mo_proc_view v;

		m->pid = (pid_t)procs[i].pid;
		mo_proctab_describe(c->pt, m->pid, &v);
		snprintf(m->command, sizeof(m->command), "%s", v.comm);
		snprintf(m->container_id, sizeof(m->container_id), "%s", v.container_id);
		snprintf(m->k8s_namespace, sizeof(m->k8s_namespace), "%s", v.k8s.ns);
		snprintf(m->k8s_pod, sizeof(m->k8s_pod), "%s", v.k8s.pod);
		snprintf(m->k8s_container, sizeof(m->k8s_container), "%s", v.k8s.container);
		snprintf(m->pod_uid, sizeof(m->pod_uid), "%s", v.pod_uid);
		if (!m->command[0])
			mo_read_comm(m->pid, m->command, sizeof(m->command));
		/* what it did under this name; before, under its former one */
		m->allocations = ps->allocs >= v.base_allocs ? ps->allocs - v.base_allocs : 0;
		m->deallocations = ps->frees >= v.base_frees ? ps->frees - v.base_frees : 0;
		m->unfreed_bytes = ps->alloc_bytes > ps->free_bytes ? ps->alloc_bytes - ps->free_bytes
								    : 0;
		m->largest_allocation = ps->largest;
	}
	/* exited processes keep their totals under their name */
	if (nretired)
		memcpy(pm + nprocs, retired, nretired * sizeof(*pm));
	free(retired);
	free(procs);

	decide_proc_series(c, snap, pm, nprocs + nretired);
	if (snap->series_decided)
		decide_rss_series(c, snap, growth, ngrowth);
	snap->procs = pm;
	snap->nprocs = nprocs + nretired;
	snap->rss = growth;
	snap->nrss = ngrowth;
	mo_core_counters(c, &snap->counters);
	snap->counters.processes_tracked = nprocs;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		snap->self_cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
					 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	snap->self_rss_bytes = self_rss();
	snap->start_time_seconds = c->start_realtime_s;
	return 0;
}

void mo_core_metrics_release(struct mo_metrics_snapshot *snap)
{
	free((void *)snap->procs);
	free((void *)snap->rss);
	memset(snap, 0, sizeof(*snap));
}

uint64_t mo_counters_dropped(const struct mo_counters *c)
{
	uint64_t sum = 0;

#define MO_ADD_DROP(field, kind, family, label, json_key, help) \
	if (kind == MO_CK_DROP)                                  \
		sum += c->field;
	MO_COUNTERS(MO_ADD_DROP)
#undef MO_ADD_DROP
	return sum;
}

void mo_report_free(struct mo_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nleaks; i++)
		mo_trace_release(&r->leaks[i].stack);
	free(r->leaks);
	free(r);
}
