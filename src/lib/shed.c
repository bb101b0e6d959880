// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* shed.c - duty-cycling the allocating probes under the overhead budget. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "abi.h"
#include "budget.h"
#include "shed.h"

struct snap {
	pid_t pid;
	uint64_t ha, hf, hr;
	double cpu_s;
};

struct group {
	pid_t pid;		/* the links' pid, 0: every process */
	bool shed;
	double duty;
	uint64_t phase_start, phase_end;
	double alloc_rate;	/* allocating calls/s while attached */
	struct snap *snaps;
	size_t nsnaps, capsnaps;
};

struct mo_shedder {
	double budget;
	double entry_ns, return_ns;	/* cost per hit, 0: the defaults */
	struct mo_links *links;
	int procs_fd;
	volatile uint32_t *shed_gen;
	struct group *g;
	size_t ng;
	struct mo_shed_stats st;
};

struct mo_shedder *mo_shedder_new(double budget, struct mo_links *links, int procs_fd,
				  volatile uint32_t *shed_gen)
{
	struct mo_shedder *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->budget = budget;
	s->links = links;
	s->procs_fd = procs_fd;
	s->shed_gen = shed_gen;
	s->st.duty = 1;
	return s;
}

void mo_shedder_set_costs(struct mo_shedder *s, double entry_ns, double return_ns)
{
	/* set by the escalating thread while the worker's tick reads them */
	__atomic_store(&s->entry_ns, &entry_ns, __ATOMIC_RELAXED);
	__atomic_store(&s->return_ns, &return_ns, __ATOMIC_RELAXED);
}

/* CPU time of a whole process (every thread, live and dead), or -1. */
static double cpu_seconds(pid_t pid)
{
	struct timespec ts;
	clockid_t c;

	if (clock_getcpuclockid(pid, &c) || clock_gettime(c, &ts))
		return -1;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int snap_add(struct group *g, pid_t pid, const struct mo_proc_stats *ps)
{
	double cpu = cpu_seconds(pid);

	if (cpu < 0)
		return 0;	/* gone */
	if (g->nsnaps == g->capsnaps) {
		size_t cap = g->capsnaps ? g->capsnaps * 2 : 16;
		struct snap *n = realloc(g->snaps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->snaps = n;
		g->capsnaps = cap;
	}
	g->snaps[g->nsnaps++] = (struct snap){ pid, ps->hits_alloc, ps->hits_free,
					       ps->hits_return, cpu };
	return 0;
}

/* Visit the processes a group covers with their BPF statistics. */
static void each_process(struct mo_shedder *s, struct group *g,
			 void (*fn)(struct mo_shedder *, struct group *, pid_t,
				    const struct mo_proc_stats *, void *),
			 void *arg)
{
	struct mo_proc_stats ps;
	__u32 key, next, *prev = NULL;

	if (g->pid) {
		key = (__u32)g->pid;
		if (!bpf_map_lookup_elem(s->procs_fd, &key, &ps))
			fn(s, g, g->pid, &ps, arg);
		return;
	}
	while (bpf_map_get_next_key(s->procs_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(s->procs_fd, &key, &ps) &&
		    ps.hits_alloc + ps.hits_free + ps.hits_return)
			fn(s, g, (pid_t)key, &ps, arg);
	}
}

static void take_snap(struct mo_shedder *s, struct group *g, pid_t pid,
		      const struct mo_proc_stats *ps, void *arg)
{
	(void)s;
	(void)arg;
	snap_add(g, pid, ps);
}

static void snapshot(struct mo_shedder *s, struct group *g)
{
	g->nsnaps = 0;
	each_process(s, g, take_snap, NULL);
}

struct measure {
	double duty, overhead, expected, calls;
	bool any;
};

static void measure_one(struct mo_shedder *s, struct group *g, pid_t pid,
			const struct mo_proc_stats *ps, void *arg)
{
	struct measure *m = arg;
	struct mo_budget_verdict v;
	struct mo_budget_window w;
	const struct snap *old = NULL;
	double cpu;

	for (size_t i = 0; i < g->nsnaps && !old; i++)
		if (g->snaps[i].pid == pid)
			old = &g->snaps[i];
	if (!old || (cpu = cpu_seconds(pid)) < 0)
		return;	/* new since the phase began, or gone */
	w.hits_alloc = ps->hits_alloc - old->ha;
	w.hits_free = ps->hits_free - old->hf;
	w.hits_return = ps->hits_return - old->hr;
	w.cpu_s = cpu - old->cpu_s;
	__atomic_load(&s->entry_ns, &w.entry_ns, __ATOMIC_RELAXED);
	__atomic_load(&s->return_ns, &w.return_ns, __ATOMIC_RELAXED);
	mo_budget_decide(s->budget, &w, &v);
	m->any = true;
	m->calls += (double)w.hits_alloc;
	if (v.duty < m->duty)
		m->duty = v.duty;
	if (v.overhead > m->overhead)
		m->overhead = v.overhead;
	if (v.expected > m->expected)
		m->expected = v.expected;
	s->st.unattainable += (uint64_t)v.unattainable;
}

static void bump_gen(struct mo_shedder *s)
{
	__atomic_add_fetch(s->shed_gen, 1, __ATOMIC_SEQ_CST);
}

/* The attached phase of g ended at now: decide, maybe detach. */
static void end_attached(struct mo_shedder *s, struct group *g, uint64_t now)
{
	struct measure m = { .duty = 1 };
	double on_s = (double)(now - g->phase_start) / 1e9;

	each_process(s, g, measure_one, &m);
	if (m.any) {
		g->duty = m.duty;
		g->alloc_rate = on_s > 0 ? m.calls / on_s : 0;
		s->st.overhead = m.overhead;
		s->st.expected = m.expected;
	}
	if (g->duty < 1 && mo_links_shed(s->links, g->pid, true) > 0) {
		bump_gen(s);
		s->st.switches++;
		g->shed = true;
		g->phase_start = now;
		g->phase_end = now + (uint64_t)((1 - g->duty) * (double)MO_SHED_CYCLE_NS);
		return;
	}
	g->phase_start = now;
	g->phase_end = now + (g->duty < 1 ? MO_SHED_CYCLE_NS : MO_SHED_WATCH_NS);
	snapshot(s, g);
}

/* The detached phase of g ended at now: re-attach, count what was missed. */
static void end_shed(struct mo_shedder *s, struct group *g, uint64_t now)
{
	double off_s = (double)(now - g->phase_start) / 1e9;

	if (mo_links_shed(s->links, g->pid, false) < 0) {
		s->st.errors++;
		g->phase_end = now + MO_SHED_CYCLE_NS / 10;	/* retry soon */
		return;
	}
	bump_gen(s);
	s->st.switches++;
	s->st.shed_ns += now - g->phase_start;
	s->st.shed_allocs += (uint64_t)(g->alloc_rate * off_s);
	g->shed = false;
	g->phase_start = now;
	g->phase_end = now + (uint64_t)(g->duty * (double)MO_SHED_CYCLE_NS);
	snapshot(s, g);
}

static struct group *group_of(struct mo_shedder *s, pid_t pid, uint64_t now)
{
	struct group *n;

	for (size_t i = 0; i < s->ng; i++)
		if (s->g[i].pid == pid)
			return &s->g[i];
	n = realloc(s->g, (s->ng + 1) * sizeof(*n));
	if (!n)
		return NULL;
	s->g = n;
	n = &s->g[s->ng++];
	memset(n, 0, sizeof(*n));
	n->pid = pid;
	n->duty = 1;
	n->phase_start = now;
	n->phase_end = now + MO_SHED_WATCH_NS;
	snapshot(s, n);
	return n;
}

void mo_shedder_tick(struct mo_shedder *s, uint64_t now)
{
	double duty = 1;

	/* links appear as processes are attached: one group per pid */
	for (size_t i = 0; i < s->links->nr; i++)
		if (s->links->l[i].sheddable)
			group_of(s, s->links->l[i].pid, now);
	for (size_t i = 0; i < s->ng; i++) {
		struct group *g = &s->g[i];

		if (now >= g->phase_end) {
			if (g->shed)
				end_shed(s, g, now);
			else
				end_attached(s, g, now);
		}
		if (g->duty < duty)
			duty = g->duty;
	}
	s->st.duty = duty;
}

void mo_shedder_stats(const struct mo_shedder *s, struct mo_shed_stats *out)
{
	*out = s->st;
}

void mo_shedder_free(struct mo_shedder *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ng; i++) {
		free(s->g[i].snaps);
		if (s->g[i].shed && mo_links_shed(s->links, s->g[i].pid, false) >= 0)
			bump_gen(s);
	}
	free(s->g);
	free(s);
}
