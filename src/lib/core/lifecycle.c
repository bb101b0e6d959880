// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* lifecycle.c - fork, exec, exit, reclaim, lost records (lifecycle.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#include "abi.h"
#include "analysis.h"
#include "core/env.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/kernel.h"
#include "core/lifecycle.h"
#include "core/probes.h"
#include "core/proctab.h"
#include "core/stacks.h"
#include "modules.h"
#include "pattern.h"
#include "procmaps.h"
#include "sinks/metrics.h"
#include "traces.h"
#include "util.h"

#define MAX_EXIT_LEAKS 1024		/* final findings kept for the report */
#define MAX_RETIRED 4096		/* (command, container) totals kept apart */
/* After a loss, how long the recovery scans go on: an exit record is
 * written while its process still runs, so a scan right after the loss can
 * see it alive; later scans see it gone. */
#define RECOVER_WINDOW_NS (5 * MO_NSEC)
/* How long after a loss an exited parent hands its view to children whose
 * fork record may have been lost. */
#define HAND_OVER_WINDOW_NS (60 * MO_NSEC)

struct reclaim {
	uint32_t pid;
	uint32_t gen;	/* the process instance the record is about */
	uint64_t ts_ns;
	bool exec;
};

struct mo_lifecycle {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_probes *pr;
	struct mo_modules *mods;
	struct mo_escalate *es;		/* watch tier, or NULL */

	struct reclaim *pending;	/* a ring: head is the next to reclaim */
	size_t head, npending, cappending;

	struct mo_leak *exit_leaks;
	size_t nexit, capexit;

	uint64_t ringbuf_drops_seen;	/* lost records already recovered from */
	uint64_t last_recover_ns;
	uint64_t last_loss_ns;

	struct mo_lifecycle_stats stats;	/* mo_stat_* */

	pthread_mutex_t lock;		/* retired, read by the metrics */
	struct mo_proc_metrics *retired;
	size_t nretired, capretired;
};

struct mo_lifecycle *mo_lifecycle_new(const struct mo_env *env, const struct mo_kernel *k,
				      struct mo_proctab *pt, struct mo_stacks *st,
				      struct mo_findings *f, struct mo_probes *pr,
				      struct mo_modules *mods, struct mo_escalate *es)
{
	struct mo_lifecycle *lc = calloc(1, sizeof(*lc));

	if (!lc)
		return NULL;
	lc->env = env;
	lc->k = k;
	lc->pt = pt;
	lc->st = st;
	lc->f = f;
	lc->pr = pr;
	lc->mods = mods;
	lc->es = es;
	pthread_mutex_init(&lc->lock, NULL);
	return lc;
}

void mo_lifecycle_free(struct mo_lifecycle *lc)
{
	if (!lc)
		return;
	for (size_t i = 0; i < lc->nexit; i++)
		mo_trace_release(&lc->exit_leaks[i].stack);
	free(lc->exit_leaks);
	free(lc->pending);
	free(lc->retired);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
}

/* ----------------------------------------------------------- the queue */

static int queue_push(struct mo_lifecycle *lc, const struct reclaim *rc)
{
	if (lc->npending == lc->cappending) {
		size_t cap = lc->cappending ? lc->cappending * 2 : 64;
		struct reclaim *n = malloc(cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < lc->npending; i++)
			n[i] = lc->pending[(lc->head + i) % lc->cappending];
		free(lc->pending);
		lc->pending = n;
		lc->cappending = cap;
		lc->head = 0;
	}
	lc->pending[(lc->head + lc->npending) % lc->cappending] = *rc;
	lc->npending++;
	return 0;
}

static struct reclaim queue_pop(struct mo_lifecycle *lc)
{
	struct reclaim rc = lc->pending[lc->head];

	lc->head = (lc->head + 1) % lc->cappending;
	lc->npending--;
	return rc;
}

size_t mo_lifecycle_pending(const struct mo_lifecycle *lc)
{
	return lc->npending;
}

/* -------------------------------------------------------------- records */

static void retire(struct mo_lifecycle *lc, uint32_t pid, const struct mo_proc_stats *ps,
		   const char *name);

/*
 * The watch tier observes every process on the machine: a fork, exec or
 * exit event of each would be a firehose. Only those of processes it is
 * tracking precisely (escalated) become events; the others are counted.
 */
static bool process_event_wanted(struct mo_lifecycle *lc, pid_t pid)
{
	if (!lc->env->watch || (lc->es && mo_escalate_active(lc->es, pid)))
		return true;
	mo_stat_add(&lc->stats.process_events_filtered, 1);
	return false;
}

void mo_lifecycle_exit(void *ctx, const struct mo_record *r)
{
	struct mo_lifecycle *lc = ctx;
	struct mo_proc *p = mo_proctab_get(lc->pt, (pid_t)r->pid);
	struct reclaim rc = { r->pid, r->gen, r->ts_ns, false };

	if (p && p->target) {
		mo_proctab_set_alive(lc->pt, p, false);
		if (!p->comm[0])
			mo_proctab_set_comm(lc->pt, p, r->comm, sizeof(r->comm));
	} else if (p) {
		/* /proc has gone by the time its findings are made */
		mo_proctab_set_comm(lc->pt, p, r->comm, sizeof(r->comm));
	}
	if (queue_push(lc, &rc)) {
		mo_env_log(lc->env, MO_LOG_WARN, "pid %u exited: no memory to reclaim it", r->pid);
		return;
	}
	if (p)
		mo_proctab_set_exit_pending(lc->pt, p, true);
}

void mo_lifecycle_exec(void *ctx, const struct mo_record *r)
{
	struct mo_lifecycle *lc = ctx;
	struct mo_proc *p = mo_proctab_find(lc->pt, (pid_t)r->pid);
	struct reclaim rc = { r->pid, r->gen, r->ts_ns, true };
	struct mo_proc_stats ps;
	struct mo_event *ev;
	int lr;

	if (p) {
		/* what it did so far stays its former name's */
		if (p->comm[0] && !mo_kernel_proc(lc->k, r->pid, &ps)) {
			retire(lc, r->pid, &ps, p->comm);
			mo_proctab_set_base(lc->pt, p, ps.allocs, ps.frees);
		}
		mo_proctab_set_comm(lc->pt, p, r->comm, sizeof(r->comm));
	}
	queue_push(lc, &rc);
	mo_stacks_forget(lc->st, (pid_t)r->pid);
	if (!process_event_wanted(lc, (pid_t)r->pid))
		return;
	if (mo_env_ending(lc->env)) {
		mo_stacks_prime(lc->st, (pid_t)r->pid);
		goto event;
	}
	/* the new program's files and maps are read while it runs; the watch
	 * tier reads them only when a stack of its needs them */
	lr = mo_modules_load_pid(lc->mods, (pid_t)r->pid);
	mo_env_log(lc->env, MO_LOG_DEBUG, "exec of pid %u: %d new modules (%s)", r->pid, lr,
		   lr < 0 ? strerror(-lr) : "ok");
	mo_stacks_prime(lc->st, (pid_t)r->pid);
	/* the new program may bring its own allocator (statically linked,
	 * jemalloc...): attach there too */
	if (lc->env->heap_probes) {
		if (lc->env->system_wide || (p && !p->own_link))
			mo_probes_attach_shared(lc->pr, (pid_t)r->pid);
		else if (p)
			mo_probes_attach_own(lc->pr, (pid_t)r->pid);
	}
event:
	ev = mo_findings_event(lc->f, MO_EVENT_KERNEL_PROCESS, "exec", (pid_t)r->pid, r->ts_ns);
	mo_findings_emit(lc->f, ev);
}

void mo_lifecycle_fork(void *ctx, const struct mo_record *r)
{
	struct mo_lifecycle *lc = ctx;
	pid_t child = (pid_t)r->other_pid;
	struct mo_event *ev;

	if (!lc->env->system_wide) {
		struct mo_proc *parent = mo_proctab_find(lc->pt, (pid_t)r->pid), *p;
		unsigned pflags = parent && parent->target ? parent->flags : 0;
		bool plink = parent && parent->target && parent->own_link;

		p = mo_proctab_add_target(lc->pt, child, pflags);
		mo_stacks_prime(lc->st, child);
		mo_proctab_container(lc->pt, child);
		if (p && !p->comm[0])
			mo_proctab_set_comm(lc->pt, p, r->comm, sizeof(r->comm));
		if (p && plink && !mo_env_ending(lc->env)) {
			p->own_link = true;
			mo_probes_attach_own(lc->pr, child);
		}
	} else if (!lc->env->watch) {
		/* read while the child surely runs (see MO_REC_SEEN) */
		mo_proctab_container(lc->pt, child);
	}
	if (!process_event_wanted(lc, (pid_t)r->pid))
		return;
	ev = mo_findings_event(lc->f, MO_EVENT_KERNEL_PROCESS, "fork", (pid_t)r->pid, r->ts_ns);
	if (ev) {
		ev->address = r->other_pid;
		mo_findings_emit(lc->f, ev);
	}
}

void mo_lifecycle_seen(void *ctx, const struct mo_record *r)
{
	struct mo_lifecycle *lc = ctx;
	struct mo_proc *p;

	/* its container, while it runs (the watch tier reads it when a
	 * finding needs it: the process is alive then); its name, for after */
	if (!lc->env->watch)
		mo_proctab_container(lc->pt, (pid_t)r->pid);
	p = mo_proctab_get(lc->pt, (pid_t)r->pid);
	if (p && !p->comm[0])
		mo_proctab_set_comm(lc->pt, p, r->comm, sizeof(r->comm));
}

/* -------------------------------------------------------------- reclaim */

/* Is rec one of the blocks of the process instance rc is about? */
static bool rec_of(const struct mo_alloc_rec *rec, const struct reclaim *rc)
{
	return rec->tgid == rc->pid && rec->gen == rc->gen;
}

/* Does a newer process now hold rc's pid (its BPF statistics say so)? Then
 * the per-pid state is the new process's and must stay. */
static bool pid_reused(struct mo_lifecycle *lc, const struct reclaim *rc)
{
	struct mo_proc_stats ps;

	return !mo_kernel_proc(lc->k, rc->pid, &ps) && ps.gen != rc->gen;
}

static size_t smallest_exit_leak(const struct mo_lifecycle *lc)
{
	size_t m = 0;

	for (size_t i = 1; i < lc->nexit; i++)
		if (lc->exit_leaks[i].unfreed_bytes < lc->exit_leaks[m].unfreed_bytes)
			m = i;
	return m;
}

/* Keep l (copied) for the report; past the cap the smallest goes. */
static void keep_exit_leak(struct mo_lifecycle *lc, const struct mo_leak *l)
{
	struct mo_leak *slot;

	if (lc->nexit >= MAX_EXIT_LEAKS) {
		size_t m = smallest_exit_leak(lc);

		mo_stat_add(&lc->stats.exit_leaks_dropped, 1);
		if (lc->exit_leaks[m].unfreed_bytes >= l->unfreed_bytes)
			return;
		mo_trace_release(&lc->exit_leaks[m].stack);
		slot = &lc->exit_leaks[m];
	} else if (!MO_GROW(lc->exit_leaks, lc->nexit + 1, lc->capexit)) {
		slot = &lc->exit_leaks[lc->nexit++];
	} else {
		mo_stat_add(&lc->stats.exit_leaks_dropped, 1);
		return;
	}
	*slot = *l;
	mo_trace_copy(&slot->stack, &l->stack);
}

void mo_lifecycle_exit_leaks(const struct mo_lifecycle *lc, const struct mo_leak **out,
			     size_t *n)
{
	*out = lc->exit_leaks;
	*n = lc->nexit;
}

/*
 * A process's totals under its name (it exited, or took a new name at
 * exec), kept: the per-name counters of the metrics never go backwards.
 * ps: its statistics now; what it did before its name counts elsewhere.
 */
static void retire(struct mo_lifecycle *lc, uint32_t pid, const struct mo_proc_stats *ps,
		   const char *name)
{
	const struct mo_container *c;
	struct mo_proc_metrics *r = NULL;
	struct mo_proc *p = mo_proctab_find(lc->pt, (pid_t)pid);
	uint64_t base_allocs = p ? p->base_allocs : 0, base_frees = p ? p->base_frees : 0;
	char comm[64];
	const char *cid;

	c = mo_proctab_container(lc->pt, (pid_t)pid);
	cid = c ? c->id : "";
	snprintf(comm, sizeof(comm), "%s", name);
	pthread_mutex_lock(&lc->lock);
	for (size_t i = 0; i < lc->nretired && !r; i++)
		if (!strcmp(lc->retired[i].command, comm) && !strcmp(lc->retired[i].container_id, cid))
			r = &lc->retired[i];
	if (!r && lc->nretired >= MAX_RETIRED) {
		snprintf(comm, sizeof(comm), "__other__");
		cid = "";
		for (size_t i = 0; i < lc->nretired && !r; i++)
			if (!strcmp(lc->retired[i].command, comm) && !lc->retired[i].container_id[0])
				r = &lc->retired[i];
	}
	if (!r && !MO_GROW(lc->retired, lc->nretired + 1, lc->capretired)) {
		r = &lc->retired[lc->nretired++];
		memset(r, 0, sizeof(*r));
		snprintf(r->command, sizeof(r->command), "%s", comm);
		snprintf(r->container_id, sizeof(r->container_id), "%s", cid);
		/* one container is in one pod */
		snprintf(r->pod_uid, sizeof(r->pod_uid), "%s", cid[0] && c ? c->pod_uid : "");
	}
	/* a container's names, found after its first process retired */
	if (r && c && cid[0] && !strcmp(r->container_id, c->id) && c->k8s.pod[0] &&
	    !r->k8s_container[0]) {
		snprintf(r->k8s_namespace, sizeof(r->k8s_namespace), "%s", c->k8s.ns);
		snprintf(r->k8s_pod, sizeof(r->k8s_pod), "%s", c->k8s.pod);
		snprintf(r->k8s_container, sizeof(r->k8s_container), "%s", c->k8s.container);
	}
	if (r) {
		r->allocations += ps->allocs > base_allocs ? ps->allocs - base_allocs : 0;
		r->deallocations += ps->frees > base_frees ? ps->frees - base_frees : 0;
		if (ps->largest > r->largest_allocation)
			r->largest_allocation = ps->largest;
	}
	pthread_mutex_unlock(&lc->lock);
}

int mo_lifecycle_retired(struct mo_lifecycle *lc, struct mo_proc_metrics **out, size_t *n)
{
	int err = 0;

	pthread_mutex_lock(&lc->lock);
	*out = malloc((lc->nretired ? lc->nretired : 1) * sizeof(**out));
	if (*out) {
		if (lc->nretired)
			memcpy(*out, lc->retired, lc->nretired * sizeof(**out));
		*n = lc->nretired;
	} else {
		err = -ENOMEM;
	}
	pthread_mutex_unlock(&lc->lock);
	return err;
}

/*
 * Are an exited process's remaining blocks worth findings? Yes for the
 * processes the user named (and their children), for processes that lived
 * at least the age rule, and for any stack whose history was growing.
 */
static bool worth_reporting(struct mo_lifecycle *lc, const struct reclaim *rc,
			    const struct mo_leak_groups *g)
{
	struct mo_proc_stats ps;

	if (!lc->env->system_wide && !lc->env->cgroup_filter)
		return true;
	if (mo_kernel_proc(lc->k, rc->pid, &ps) || !ps.exec_ts_ns ||
	    rc->ts_ns - ps.exec_ts_ns >= lc->env->cfg.min_unfreed_age_ns)
		return true;
	for (size_t i = 0; i < g->nr; i++) {
		struct mo_trace_entry *e = mo_stacks_entry(lc->st, g->g[i].tgid, g->g[i].stack_id);
		struct mo_verdict v;

		mo_stacks_classify(e, &v);
		if (v.pattern == MO_PATTERN_GROWING)
			return true;
	}
	return false;
}

/* Everything the core keeps of pid goes: the one place that forgets. */
static void forget(struct mo_lifecycle *lc, uint32_t pid, struct mo_stack_refs *refs)
{
	mo_stacks_release(lc->st, refs, pid);
	mo_kernel_rss_delete(lc->k, pid);
	mo_kernel_proc_delete(lc->k, pid);
	mo_kernel_proc_maps_delete(lc->k, pid);
	mo_kernel_target_delete(lc->k, pid);
	mo_stacks_forget(lc->st, (pid_t)pid);
	mo_proctab_remove(lc->pt, (pid_t)pid);
}

/* A process exited: its still-outstanding blocks are its final findings. */
static void reclaim_exit(struct mo_lifecycle *lc, const struct reclaim *rc,
			 const struct mo_alloc_rec *recs, size_t n, struct mo_stack_refs *refs)
{
	struct mo_alloc_rec *mine = malloc((n ? n : 1) * sizeof(*mine));
	struct mo_leak_groups g = { 0 };
	uint64_t bytes = 0, cnt = 0;
	bool reported = true;
	struct mo_proc *p;
	size_t m = 0;

	if (!mine)
		return;
	for (size_t i = 0; i < n; i++)
		if (rec_of(&recs[i], rc) && recs[i].ts_ns <= rc->ts_ns)
			mine[m++] = recs[i];
	if (m && mo_analyze(mine, m, rc->ts_ns, 0, &g) == 0 && !worth_reporting(lc, rc, &g)) {
		/* a short-lived process nobody asked about: counted, not reported
		 * (system-wide, every shell command would otherwise be a finding) */
		mo_stat_add(&lc->stats.short_lived_exits, 1);
		mo_leak_groups_release(&g);
		g.nr = 0;
		reported = false;
	}
	for (size_t i = 0; m && reported && i < g.nr; i++) {
		struct mo_leak l;

		if (g.g[i].stack_id == 0) {
			/* its stack could not be stored (the stack table was
			 * full, a drop counted then): not told from the
			 * runtime's own blocks, never reported */
			mo_stat_add(&lc->stats.unattributed, g.g[i].count);
			continue;
		}
		if (mo_stacks_runtime(lc->st, &g.g[i])) {
			mo_stat_add(&lc->stats.runtime_skipped, g.g[i].count);
			continue;
		}
		mo_findings_fill_leak(lc->f, &l, &g.g[i], rc->ts_ns);
		/* held at exit: informational unless its history was growing */
		mo_findings_emit(lc->f, mo_findings_leak_event(lc->f, &l, l.severity, true));
		keep_exit_leak(lc, &l);
		mo_trace_release(&l.stack);
		bytes += g.g[i].unfreed_bytes;
		cnt += g.g[i].count;
	}
	if (reported && (cnt || process_event_wanted(lc, (pid_t)rc->pid))) {
		struct mo_event *ev = mo_findings_event(lc->f, MO_EVENT_KERNEL_PROCESS, "exit",
							(pid_t)rc->pid, rc->ts_ns);

		if (ev) {
			ev->unfreed_bytes = bytes;
			ev->count = cnt;
			mo_findings_emit(lc->f, ev);
		}
	}
	mo_leak_groups_release(&g);
	for (size_t i = 0; i < m; i++)
		mo_kernel_alloc_delete(lc->k, mine[i].tgid, mine[i].gen, mine[i].addr);
	free(mine);
	if (pid_reused(lc, rc)) {
		/* a new process has the pid: the rest is its state */
		mo_stat_add(&lc->stats.pids_reused, 1);
		if ((p = mo_proctab_find(lc->pt, (pid_t)rc->pid)))
			mo_proctab_set_exit_pending(lc->pt, p, false);
		return;
	}
	{
		struct mo_proc_stats ps;
		char comm[64];

		mo_findings_comm(lc->f, (pid_t)rc->pid, comm, sizeof(comm));
		if (!mo_kernel_proc(lc->k, rc->pid, &ps))
			retire(lc, rc->pid, &ps, comm);
	}
	if (lc->last_loss_ns &&
	    mo_clock_ns(CLOCK_BOOTTIME) - lc->last_loss_ns <= HAND_OVER_WINDOW_NS) {
		char comm[64];

		mo_findings_comm(lc->f, (pid_t)rc->pid, comm, sizeof(comm));
		mo_stacks_hand_over(lc->st, rc->pid, comm);
	}
	forget(lc, rc->pid, refs);
}

/* After exec the old image's blocks are gone with it: not leaks. */
static void reclaim_exec(struct mo_lifecycle *lc, const struct reclaim *rc,
			 struct mo_alloc_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rec_of(&recs[i], rc) && recs[i].ts_ns < rc->ts_ns) {
			mo_kernel_alloc_delete(lc->k, recs[i].tgid, recs[i].gen, recs[i].addr);
			recs[i].tgid = 0;	/* gone from this snapshot too */
		}
	}
}

void mo_lifecycle_reclaim(struct mo_lifecycle *lc, uint64_t deadline)
{
	struct mo_alloc_rec *recs = NULL;
	struct mo_stack_refs *refs = NULL;
	bool refs_taken = false;
	size_t n = 0;

	if (!lc->npending)
		return;
	if (mo_kernel_allocs(lc->k, &recs, &n)) {
		mo_env_log(lc->env, MO_LOG_WARN, "cannot read the allocation table; retrying");
		return;
	}
	/* at least one, so a slow machine still makes progress */
	do {
		struct reclaim rc = queue_pop(lc);

		if (rc.exec) {
			reclaim_exec(lc, &rc, recs, n);
			continue;
		}
		if (!refs_taken) {
			refs = mo_stacks_refs(lc->st, recs, n);
			refs_taken = true;
		}
		reclaim_exit(lc, &rc, recs, n, refs);
	} while (lc->npending && !mo_env_stopping(lc->env) &&
		 (deadline == UINT64_MAX || mo_clock_ns(CLOCK_BOOTTIME) < deadline));
	mo_stacks_refs_free(refs);
	free(recs);
}

/* ------------------------------------------------------- lost records */

struct exec_mark {
	uint32_t tgid, gen;
	uint64_t exec_ts;
};

static void synth_exit(struct mo_lifecycle *lc, uint32_t pid, uint32_t gen)
{
	/* stamped now, after the process was found gone: its last blocks
	 * are older than that, and the exit keeps only older blocks */
	struct mo_record r = { .type = MO_REC_EXIT, .pid = pid, .tid = pid,
			       .ts_ns = mo_clock_ns(CLOCK_BOOTTIME), .gen = gen };

	mo_stat_add(&lc->stats.exits_recovered, 1);
	mo_lifecycle_exit(lc, &r);
}

static int mark_cmp(const void *a, const void *b)
{
	const struct exec_mark *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Blocks older than their process's last exec (the BPF statistics keep its
 * time) go, as the lost exec record would have had them go. */
static void drop_stale_blocks(struct mo_lifecycle *lc, struct exec_mark *marks, size_t nmarks)
{
	struct mo_alloc_rec *recs = NULL;
	size_t n = 0;

	if (!nmarks || mo_kernel_allocs(lc->k, &recs, &n))
		return;
	qsort(marks, nmarks, sizeof(*marks), mark_cmp);
	for (size_t i = 0; i < n; i++) {
		struct exec_mark want = { recs[i].tgid, recs[i].gen, 0 };
		const struct exec_mark *m = bsearch(&want, marks, nmarks, sizeof(*marks), mark_cmp);

		if (m && recs[i].ts_ns < m->exec_ts &&
		    mo_kernel_alloc_delete(lc->k, recs[i].tgid, recs[i].gen, recs[i].addr) == 0)
			mo_stat_add(&lc->stats.stale_recovered, 1);
	}
	free(recs);
}

/*
 * Whether a thread group has ended: gone, or a zombie (or dying) leader with
 * no other thread left. The exit record is written before the process
 * becomes a zombie, and a parent may take its time to reap it.
 */
static bool group_gone(pid_t pid)
{
	char path[64], buf[256];
	const char *st;
	size_t ntasks = 0;
	struct dirent *de;
	DIR *d;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	st = mo_proc_stat_fields(path, buf, sizeof(buf));
	if (!st)
		return errno == ENOENT;
	if (*st != 'Z' && *st != 'X')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while ((de = readdir(d)) && ntasks < 2)
		if (de->d_name[0] != '.')
			ntasks++;
	closedir(d);
	return ntasks <= 1;
}

static bool exit_pending(struct mo_lifecycle *lc, uint32_t pid)
{
	struct mo_proc *p = mo_proctab_find(lc->pt, (pid_t)pid);

	return p && p->exit_pending;
}

/*
 * A full ring buffer loses records, and a lost exit or exec record would
 * leave a dead process unreclaimed, or an old program image's blocks
 * counted as the new one's. After any loss, once a second until none is
 * new: processes that are gone get the exit they missed, and stale blocks
 * are dropped.
 */
void mo_lifecycle_recover(struct mo_lifecycle *lc, uint64_t now)
{
	struct exec_mark *marks = NULL;
	struct mo_kproc *procs = NULL;
	size_t nmarks = 0, cap = 0, n = 0, ntargets = 0;
	pid_t *targets = NULL;
	uint64_t drops;

	if (now - lc->last_recover_ns < MO_NSEC)
		return;
	lc->last_recover_ns = now;
	drops = mo_kernel_counter(lc->k, MO_C_DROP_RINGBUF_FULL);
	if (drops != lc->ringbuf_drops_seen) {
		lc->ringbuf_drops_seen = drops;
		lc->last_loss_ns = now;
	}
	if (!lc->last_loss_ns || now - lc->last_loss_ns > RECOVER_WINDOW_NS)
		return;
	if (mo_kernel_procs(lc->k, &procs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		uint32_t pid = procs[i].pid;

		if (exit_pending(lc, pid))
			continue;
		if (group_gone((pid_t)pid))
			synth_exit(lc, pid, procs[i].st.gen);
		else if (procs[i].st.exec_ts_ns && !MO_GROW(marks, nmarks + 1, cap))
			marks[nmarks++] = (struct exec_mark){ pid, procs[i].st.gen,
							      procs[i].st.exec_ts_ns };
	}
	free(procs);
	if (mo_proctab_targets(lc->pt, &targets, &ntargets) == 0) {
		for (size_t i = 0; i < ntargets; i++) {
			struct mo_proc *p = mo_proctab_find(lc->pt, targets[i]);

			if (p && p->alive && !p->exit_pending && group_gone(p->pid))
				synth_exit(lc, (uint32_t)p->pid, 0);
		}
		free(targets);
	}
	drop_stale_blocks(lc, marks, nmarks);
	free(marks);
}

void mo_lifecycle_stats(const struct mo_lifecycle *lc, struct mo_lifecycle_stats *out)
{
	out->short_lived_exits = mo_stat_get(&lc->stats.short_lived_exits);
	out->runtime_skipped = mo_stat_get(&lc->stats.runtime_skipped);
	out->unattributed = mo_stat_get(&lc->stats.unattributed);
	out->pids_reused = mo_stat_get(&lc->stats.pids_reused);
	out->exits_recovered = mo_stat_get(&lc->stats.exits_recovered);
	out->stale_recovered = mo_stat_get(&lc->stats.stale_recovered);
	out->exit_leaks_dropped = mo_stat_get(&lc->stats.exit_leaks_dropped);
	out->process_events_filtered = mo_stat_get(&lc->stats.process_events_filtered);
}
