// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_reclaim.c - maintenance: an exited process's remaining blocks become
 * its final findings and its state is released; an exec'd process's old
 * blocks are dropped; the stack table is collected once half full.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "analysis.h"
#include "container.h"
#include "observer_int.h"
#include "pattern.h"
#include "rsswatch.h"
#include "stackgc.h"
#include "symbolize.h"
#include "traces.h"

#define GC_PERIOD_NS (10 * NSEC)	/* stack table collection, when half full; */
#define GC_FULL_PERIOD_NS NSEC		/* every second when 90 % full */

/*
 * The stack ids other processes than pid refer to (pid 0: every process):
 * their outstanding blocks (recs, a snapshot of the allocation table) and
 * their per-stack totals; pid's own totals keys go to *mine when asked.
 * 0, or -ENOMEM with the arrays holding what was collected.
 */
static int stack_refs(struct mo_observer *o, uint32_t pid, const struct mo_alloc_rec *recs,
		      size_t n, uint64_t **ids, size_t *nids, struct mo_stack_key **mine,
		      size_t *nmine)
{
	int fd = bpf_map__fd(o->skel->maps.stack_stats);
	struct mo_stack_key key, next, *prev = NULL;
	size_t cap = 0, capmine = 0;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].tgid == pid)
			continue;
		if (obs_grow((void **)ids, &cap, *nids + 1, sizeof(**ids)))
			return -ENOMEM;
		(*ids)[(*nids)++] = recs[i].stack_id;
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.tgid == pid && mine) {
			if (obs_grow((void **)mine, &capmine, *nmine + 1, sizeof(**mine)))
				return -ENOMEM;
			(*mine)[(*nmine)++] = key;
		} else if (key.tgid != pid) {
			if (obs_grow((void **)ids, &cap, *nids + 1, sizeof(**ids)))
				return -ENOMEM;
			(*ids)[(*nids)++] = key.stack_id;
		}
	}
	return 0;
}

/* Every GC_PERIOD_NS, once the stack table is half full: drop the stacks no
 * outstanding allocation and no per-stack totals entry refers to. */
void obs_stacks_gc(struct mo_observer *o, uint64_t now)
{
	struct mo_alloc_rec *recs = NULL;
	uint64_t *ids = NULL, live;
	size_t n = 0, nids = 0;
	int r;

	if (now - o->last_gc_ns < GC_FULL_PERIOD_NS)
		return;
	live = obs_counter_value(o, MO_C_STACKS_NEW) - o->stacks_deleted;
	if (live < o->cfg.max_stacks / 10 * 9 && now - o->last_gc_ns < GC_PERIOD_NS)
		return;
	o->last_gc_ns = now;
	if (live < o->cfg.max_stacks / 2 || obs_snapshot(o, &recs, &n))
		return;
	if (stack_refs(o, 0, recs, n, &ids, &nids, NULL, NULL))
		goto out;
	r = mo_stackgc_pass(o->stackgc, bpf_map__fd(o->skel->maps.stacks), ids, nids);
	if (r > 0)
		o->stacks_deleted += (uint64_t)r;
	obs_log(o, MO_LOG_DEBUG, "stack table: %" PRIu64 " live, %d unreferenced stacks freed",
		live, r);
out:
	free(ids);
	free(recs);
}

bool obs_stopping(const struct mo_observer *o)
{
	return __atomic_load_n(&o->stopping, __ATOMIC_RELAXED);
}


int obs_add_pending(struct mo_observer *o, const struct mo_record *r, bool exec)
{
	if (obs_grow((void **)&o->pending, &o->cappending, o->npending + 1, sizeof(*o->pending)))
		return -ENOMEM;
	o->pending[o->npending++] = (struct reclaim){ r->pid, r->ts_ns, exec, r->gen };
	return 0;
}

/* Is rec one of the blocks of the process instance rc is about? */
static bool rec_of(const struct mo_alloc_rec *rec, const struct reclaim *rc)
{
	return rec->tgid == rc->pid && rec->gen == rc->gen;
}

/* Does a newer process now hold rc's pid (its BPF statistics say so)? Then
 * the per-pid state is the new process's and must stay. */
static bool pid_reused(struct mo_observer *o, const struct reclaim *rc)
{
	struct mo_proc_stats ps;

	return !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid, &ps) &&
	       ps.gen != rc->gen;
}

static void add_exit_leak(struct mo_observer *o, const struct mo_leak *l)
{
	if (obs_grow((void **)&o->exit_leaks, &o->capexit, o->nexit + 1, sizeof(*o->exit_leaks)))
		return;
	o->exit_leaks[o->nexit] = *l;
	mo_trace_copy(&o->exit_leaks[o->nexit].stack, &l->stack);
	o->nexit++;
}

/*
 * Drop the per-stack totals of an exited process, and the stacks only it
 * used: with ASLR a process's stack ids are its own (forked children share
 * their parent's), and the stack table would otherwise fill with the stacks
 * of processes long gone. A stack another process has totals or outstanding
 * blocks (recs: the allocation table's snapshot) for stays.
 */
static void forget_stack_stats(struct mo_observer *o, uint32_t pid,
			       const struct mo_alloc_rec *recs, size_t nrecs)
{
	int fd = bpf_map__fd(o->skel->maps.stack_stats);
	int sfd = bpf_map__fd(o->skel->maps.stacks);
	struct mo_stack_key *mine = NULL;
	uint64_t *others = NULL;
	size_t nmine = 0, nothers = 0;
	bool complete = stack_refs(o, pid, recs, nrecs, &others, &nothers, &mine, &nmine) == 0;

	for (size_t i = 0; i < nmine; i++)
		bpf_map_delete_elem(fd, &mine[i]);
	/* with the references incomplete, leave stacks to the collection */
	qsort(others, nothers, sizeof(*others), mo_u64_cmp);
	for (size_t i = 0; complete && i < nmine; i++) {
		uint64_t id = mine[i].stack_id;

		if (id && !(nothers && bsearch(&id, others, nothers, sizeof(*others), mo_u64_cmp)) &&
		    bpf_map_delete_elem(sfd, &id) == 0)
			o->stacks_deleted++;
	}
	free(others);
	free(mine);
}

/*
 * A process is reclaimed, its view about to go. After lost records, some of
 * its forked children may never have been seen by user space (their fork
 * record was lost): those that did not exec inherit its view and name now,
 * so their findings can still be symbolized after both are gone. The view
 * is marked for re-reading: a child that is alive reads its own. The scan
 * walks the process table, so it runs only for a parent that forked, in the
 * minute after a loss. A child that lives on is symbolized from its own
 * maps while it runs, and after its exit from the mappings the stack walker
 * resolved for it (view_from_kernel).
 */
#define HAND_OVER_WINDOW_NS (60 * NSEC)

static void hand_over_view(struct mo_observer *o, uint32_t pid)
{
	int fd = bpf_map__fd(o->skel->maps.procs);
	struct mo_proc_stats ps;
	__u32 key, next, *prev = NULL;
	char comm[64];

	if (!o->last_loss_ns ||
	    obs_clock_ns(CLOCK_BOOTTIME) - o->last_loss_ns > HAND_OVER_WINDOW_NS ||
	    bpf_map_lookup_elem(fd, &pid, &ps) || !ps.forks)
		return;
	obs_comm_of(o, (pid_t)pid, comm, sizeof(comm));
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct procextra *x;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps) || ps.ppid != pid || ps.exec_ts_ns ||
		    obs_pid_find(o, (pid_t)key))
			continue;
		if (!mo_symbolizer_has_view(o->sym, (pid_t)key) &&
		    mo_symbolizer_inherit(o->sym, (pid_t)key, (pid_t)pid) == 0)
			mo_symbolizer_refresh(o->sym, (pid_t)key);
		x = obs_extra_of(o, (pid_t)key);
		if (x && !x->comm[0])
			snprintf(x->comm, sizeof(x->comm), "%.16s", comm);
	}
}

static void retire(struct mo_observer *o, uint32_t pid)
{
	struct mo_proc_stats ps;
	struct retired *r = NULL;
	char comm[64];

	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &pid, &ps))
		return;
	const struct mo_container *c = obs_container_of(o, (pid_t)pid);
	const char *cid = c ? c->id : "";

	obs_comm_of(o, (pid_t)pid, comm, sizeof(comm));
	for (size_t i = 0; i < o->nretired && !r; i++)
		if (!strcmp(o->retired[i].command, comm) && !strcmp(o->retired[i].container_id, cid))
			r = &o->retired[i];
	if (!r) {
		if (obs_grow((void **)&o->retired, &o->capretired, o->nretired + 1, sizeof(*o->retired)))
			return;
		r = &o->retired[o->nretired++];
		memset(r, 0, sizeof(*r));
		snprintf(r->command, sizeof(r->command), "%s", comm);
		snprintf(r->container_id, sizeof(r->container_id), "%s", cid);
	}
	r->allocations += ps.allocs;
	r->deallocations += ps.frees;
	if (ps.largest > r->largest)
		r->largest = ps.largest;
}

/*
 * Are an exited process's remaining blocks worth findings? Yes for the
 * processes the user named (and their children), for processes that lived
 * at least the age rule, and for any stack whose history was growing.
 */
static bool worth_reporting(struct mo_observer *o, const struct reclaim *rc,
			    const struct mo_leak_groups *g)
{
	struct mo_proc_stats ps;

	if (!o->system_wide && !o->target_cgroup)
		return true;
	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid, &ps) ||
	    !ps.exec_ts_ns || rc->ts_ns - ps.exec_ts_ns >= o->cfg.min_unfreed_age_ns)
		return true;
	for (size_t i = 0; i < g->nr; i++) {
		struct mo_trace_entry *e = mo_traces_get(o->traces, g->g[i].tgid, g->g[i].stack_id);
		struct mo_verdict v;

		if (e && e->hist) {
			mo_classify(e->hist, &v);
			if (v.pattern == MO_PATTERN_GROWING)
				return true;
		}
	}
	return false;
}

/* A process exited: its still-outstanding blocks are its final findings. */
static void reclaim_exit(struct mo_observer *o, const struct reclaim *rc,
			 const struct mo_alloc_rec *recs, size_t n, int allocs_fd)
{
	struct mo_alloc_rec *mine = malloc((n ? n : 1) * sizeof(*mine));
	struct mo_leak_groups g = { 0 };
	uint64_t bytes = 0, cnt = 0;
	size_t m = 0;
	bool m_reported = true;

	if (!mine)
		return;
	for (size_t i = 0; i < n; i++)
		if (rec_of(&recs[i], rc) && recs[i].ts_ns <= rc->ts_ns)
			mine[m++] = recs[i];
	if (m && mo_analyze(mine, m, rc->ts_ns, 0, &g) == 0 && !worth_reporting(o, rc, &g)) {
		/* a short-lived process nobody asked about: counted, not reported
		 * (system-wide, every shell command would otherwise be a finding) */
		o->short_lived_exits++;
		mo_leak_groups_release(&g);
		g.nr = 0;
		m_reported = false;
	}
	if (m && m_reported) {
		for (size_t i = 0; i < g.nr; i++) {
			struct mo_leak l;

			if (obs_no_stack(&g.g[i])) {
				o->unattributed += g.g[i].count;
				continue;
			}
			if (obs_runtime_group(o, &g.g[i])) {
				o->runtime_skipped += g.g[i].count;
				continue;
			}
			obs_fill_leak(o, &l, &g.g[i], rc->ts_ns);
			/* held at exit: informational unless its history was growing */
			obs_emit(o, obs_leak_event(o, &l, l.severity, true));
			add_exit_leak(o, &l);
			mo_trace_release(&l.stack);
			bytes += g.g[i].unfreed_bytes;
			cnt += g.g[i].count;
		}
	}
	if (m_reported) {
		struct mo_event *ev = obs_event_new(o, MO_EVENT_KERNEL_PROCESS, "exit",
						    (pid_t)rc->pid, rc->ts_ns);

		if (ev) {
			ev->unfreed_bytes = bytes;
			ev->count = cnt;
			obs_emit(o, ev);
		}
	}
	mo_leak_groups_release(&g);
	for (size_t i = 0; i < m; i++) {
		struct mo_alloc_key k = { .tgid = mine[i].tgid, .gen = mine[i].gen,
					  .addr = mine[i].addr };

		bpf_map_delete_elem(allocs_fd, &k);
	}
	free(mine);
	if (pid_reused(o, rc)) {
		/* a new process has the pid: the rest is its state */
		o->pids_reused++;
		return;
	}
	retire(o, rc->pid);
	hand_over_view(o, rc->pid);
	forget_stack_stats(o, rc->pid, recs, n);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.rss), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.proc_maps), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.targets), &rc->pid);
	mo_traces_forget_pid(o->traces, rc->pid);
	mo_symbolizer_forget(o->sym, (pid_t)rc->pid);
	mo_rsswatch_forget(o->rssw, (pid_t)rc->pid);
	mo_rsswatch_forget(o->cgw, (pid_t)rc->pid);
	obs_extra_forget(o, (pid_t)rc->pid);
}

/* After exec the old image's blocks are gone with it: not leaks. */
static void reclaim_exec(struct mo_observer *o, const struct reclaim *rc,
			 struct mo_alloc_rec *recs, size_t n, int allocs_fd)
{
	for (size_t i = 0; i < n; i++) {
		if (rec_of(&recs[i], rc) && recs[i].ts_ns < rc->ts_ns) {
			struct mo_alloc_key k = { .tgid = recs[i].tgid, .gen = recs[i].gen,
						  .addr = recs[i].addr };

			bpf_map_delete_elem(allocs_fd, &k);
			recs[i].tgid = 0;	/* gone from this snapshot too */
		}
	}
}

void obs_maintenance(struct mo_observer *o)
{
	struct mo_alloc_rec *recs = NULL;
	struct reclaim *work;
	size_t n = 0, nwork;
	int fd = bpf_map__fd(o->skel->maps.allocs);

	o->last_maint_ns = obs_clock_ns(CLOCK_BOOTTIME);
	if (!o->npending)
		return;
	if (obs_snapshot(o, &recs, &n)) {
		obs_log(o, MO_LOG_WARN, "cannot read the allocation table; retrying");
		return;
	}
	/* Take the work list: records consumed meanwhile queue new work. */
	work = o->pending;
	nwork = o->npending;
	o->pending = NULL;
	o->npending = o->cappending = 0;
	for (size_t i = 0; i < nwork; i++) {
		if (obs_stopping(o)) {
			/* keep the rest for after the detach */
			for (; i < nwork; i++)
				if (obs_grow((void **)&o->pending, &o->cappending, o->npending + 1,
					     sizeof(*o->pending)) == 0)
					o->pending[o->npending++] = work[i];
			break;
		}
		/* exec records of new programs must be handled while those
		 * still run (their maps and files): drain them between exits */
		ring_buffer__consume(o->rb);
		if (work[i].exec)
			reclaim_exec(o, &work[i], recs, n, fd);
		else
			reclaim_exit(o, &work[i], recs, n, fd);
	}
	free(work);
	free(recs);
}

bool obs_pending_exit(const struct mo_observer *o, uint32_t pid)
{
	for (size_t i = 0; i < o->npending; i++)
		if (o->pending[i].pid == pid && !o->pending[i].exec)
			return true;
	return false;
}
