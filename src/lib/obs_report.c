// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_report.c - what the observer hands out on request: its counters, the
 * leak report (live findings and exited processes' final ones) and the
 * metrics snapshot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "analysis.h"
#include "container.h"
#include "observer_int.h"
#include "metrics.h"
#include "shed.h"
#include "queue.h"
#include "traces.h"

void mo_observer_counters(struct mo_observer *o, struct mo_counters *c)
{
	uint64_t v[MO_C__COUNT];

	memset(c, 0, sizeof(*c));
	if (!o->skel)
		return;
	for (__u32 k = 0; k < MO_C__COUNT; k++)
		v[k] = obs_counter_value(o, k);
	c->alloc_calls = v[MO_C_ALLOC_CALLS];
	c->allocs_tracked = v[MO_C_ALLOCS_TRACKED] + v[MO_C_MMAPS_TRACKED];
	c->frees_matched = v[MO_C_FREES_MATCHED] + v[MO_C_MUNMAPS_MATCHED];
	c->drop_alloc_table_full = v[MO_C_DROP_ALLOC_TABLE_FULL];
	c->drop_stack_table_full = v[MO_C_DROP_STACK_TABLE_FULL] + v[MO_C_STACK_COLLIDED];
	c->drop_ringbuf_full = v[MO_C_DROP_RINGBUF_FULL];
	c->drop_sampled = v[MO_C_DROP_SAMPLED];
	c->drop_size_filtered = v[MO_C_DROP_SIZE_FILTERED];
	c->drop_thread_table_full = v[MO_C_DROP_THREAD_TABLE_FULL];
	c->drop_event_buffer_full = mo_queue_dropped(o->q);
	c->drop_stack_stats_full = v[MO_C_STACK_STATS_FULL];
	c->drop_unwind_maps_full = v[MO_C_UNWIND_PROC_MAPS_FULL];
	c->drop_targets_full = v[MO_C_DROP_TARGETS_FULL];
	c->drop_proc_table_full = v[MO_C_DROP_PROC_TABLE_FULL];
	c->drop_proc_maps_full = v[MO_C_DROP_PROC_MAPS_FULL];
	c->drop_rss_table_full = v[MO_C_DROP_RSS_TABLE_FULL];
	c->drop_mmap_ranges_full = v[MO_C_DROP_MMAP_RANGES_FULL];
	c->drop_mremap_unhandled = v[MO_C_MREMAP_UNHANDLED];
	c->allocator_internal_mmaps = v[MO_C_ALLOCATOR_MMAPS];
	c->runtime_mmaps = v[MO_C_RUNTIME_MMAPS] + o->runtime_skipped;
	c->nested_calls = v[MO_C_NESTED_CALLS];
	c->unwind_fallbacks = v[MO_C_UNWIND_MAP_MISS];
	c->events_emitted = o->events_emitted;
	c->short_lived_exits = o->short_lived_exits;
	c->probes_attached = o->probes;
	c->processes_tracked = o->system_wide ? 0 : o->npids;
	c->rss_checks_agreed = o->rss_checks[0];
	c->rss_checks_disagreed = o->rss_checks[1];
	c->rss_proc_reads = o->rss_proc_reads;
	c->rss_from_proc = o->rss_from_proc;
	{
		struct mo_shed_stats st;

		obs_shed_stats(o, &st);
		c->overhead_budget = o->cfg.max_overhead_bp / 10000.0;
		c->overhead_estimated = st.overhead;
		c->overhead_expected = st.expected;
		c->overhead_duty = o->cfg.max_overhead_bp ? st.duty : 1;
		c->shed_ns = st.shed_ns;
		c->shed_allocs_estimated = st.shed_allocs;
		c->shed_unattainable = st.unattainable;
		c->shed_switches = st.switches;
		c->stale_calls = v[MO_C_STALE_CALLS];
		c->unattributed_blocks = o->unattributed;
		c->pids_reused = o->pids_reused;
		c->exits_recovered = o->exits_recovered;
		c->stale_recovered = o->stale_recovered;
	}
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

struct mo_report *mo_observer_report(struct mo_observer *o)
{
	struct mo_report *r = calloc(1, sizeof(*r));
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t now = obs_clock_ns(CLOCK_BOOTTIME), live_unattributed = 0;
	size_t n = 0, cap;

	if (!r)
		return NULL;
	r->timestamp_ns = obs_clock_ns(CLOCK_REALTIME);
	r->min_unfreed_age_ns = o->cfg.min_unfreed_age_ns;
	if (!o->skel)
		return r;
	pthread_mutex_lock(&o->lock);
	if (obs_snapshot(o, &recs, &n) == 0 &&
	    mo_analyze(recs, n, now, o->cfg.min_unfreed_age_ns, &g) == 0) {
		cap = g.nr + o->nexit;
		r->leaks = calloc(cap ? cap : 1, sizeof(*r->leaks));
		if (r->leaks) {
			for (size_t i = 0; i < g.nr; i++) {
				if (obs_no_stack(&g.g[i]))
					live_unattributed += g.g[i].count;
				else if (!obs_runtime_group(o, &g.g[i]))
					obs_fill_leak(o, &r->leaks[r->nleaks++], &g.g[i], now);
			}
			for (size_t i = 0; i < o->nexit; i++) {
				r->leaks[r->nleaks] = o->exit_leaks[i];
				mo_trace_copy(&r->leaks[r->nleaks].stack, &o->exit_leaks[i].stack);
				r->nleaks++;
			}
		}
		r->outstanding_bytes = g.outstanding_bytes;
		r->outstanding_count = g.outstanding_count;
	}
	pthread_mutex_unlock(&o->lock);
	mo_leak_groups_release(&g);
	free(recs);
	if (r->nleaks)
		qsort(r->leaks, r->nleaks, sizeof(*r->leaks), leak_cmp);
	for (size_t i = 0; i < r->nleaks; i++) {
		r->total_unfreed_bytes += r->leaks[i].unfreed_bytes;
		r->total_count += r->leaks[i].count;
		r->estimate |= r->leaks[i].estimate;
	}
	mo_observer_counters(o, &r->counters);
	r->counters.unattributed_blocks += live_unattributed;
	/* with probes shed part of the time, counts cover the attached time */
	r->estimate |= r->counters.shed_ns > 0;
	return r;
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

int mo_observer_metrics(struct mo_observer *o, char **text, size_t *len)
{
	struct mo_metrics_snapshot snap = { 0 };
	struct mo_proc_metrics *pm = NULL;
	struct mo_rss_growth_metric *rssm;
	size_t n = 0, cap = 0;
	struct rusage ru;
	struct mo_buf b;
	__u32 key, next, *prev = NULL;
	int fd;

	if (!o->skel)
		return -ENODEV;
	fd = bpf_map__fd(o->skel->maps.procs);
	pthread_mutex_lock(&o->lock);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct mo_proc_stats ps;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps))
			continue;
		if (obs_grow((void **)&pm, &cap, n + 1, sizeof(*pm)))
			break;
		memset(&pm[n], 0, sizeof(pm[n]));
		pm[n].pid = (pid_t)key;
		obs_comm_of(o, (pid_t)key, pm[n].command, sizeof(pm[n].command));
		pm[n].allocations = ps.allocs;
		pm[n].deallocations = ps.frees;
		pm[n].unfreed_bytes = ps.alloc_bytes > ps.free_bytes ? ps.alloc_bytes - ps.free_bytes
								     : 0;
		pm[n].largest_allocation = ps.largest;
		{
			const struct mo_container *c = obs_container_of(o, (pid_t)key);

			if (c)
				snprintf(pm[n].container_id, sizeof(pm[n].container_id), "%s",
					 c->id);
		}
		n++;
	}
	/* exited processes keep their totals under their name */
	for (size_t i = 0; i < o->nretired; i++) {
		if (obs_grow((void **)&pm, &cap, n + 1, sizeof(*pm)))
			break;
		memset(&pm[n], 0, sizeof(pm[n]));
		snprintf(pm[n].command, sizeof(pm[n].command), "%s", o->retired[i].command);
		snprintf(pm[n].container_id, sizeof(pm[n].container_id), "%s",
			 o->retired[i].container_id);
		pm[n].allocations = o->retired[i].allocations;
		pm[n].deallocations = o->retired[i].deallocations;
		pm[n].largest_allocation = o->retired[i].largest;
		n++;
	}
	snap.dedup_suppressed = o->dedup_suppressed;
	rssm = calloc(o->nrssm ? o->nrssm : 1, sizeof(*rssm));
	for (size_t i = 0; rssm && i < o->nrssm; i++) {
		snprintf(rssm[i].command, sizeof(rssm[i].command), "%s", o->rssm[i].command);
		rssm[i].severity = o->rssm[i].severity;
		rssm[i].count = o->rssm[i].count;
	}
	snap.rss = rssm;
	snap.nrss = rssm ? o->nrssm : 0;
	pthread_mutex_unlock(&o->lock);

	snap.nprocs = n;
	snap.procs = pm;
	mo_observer_counters(o, &snap.counters);
	snap.counters.processes_tracked = n - (o->nretired < n ? o->nretired : n);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		snap.self_cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
					(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	snap.self_rss_bytes = self_rss();
	snap.start_time_seconds = o->start_realtime_s;
	snap.output_write_errors = __atomic_load_n(&o->output_write_errors, __ATOMIC_RELAXED);

	mo_buf_init(&b);
	mo_metrics_render(&b, &snap, 200);
	free(pm);
	free(rssm);
	if (b.oom) {
		mo_buf_release(&b);
		return -ENOMEM;
	}
	*text = b.data ? b.data : strdup("");
	*len = b.len;
	return *text ? 0 : -ENOMEM;
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
