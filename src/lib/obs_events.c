// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_events.c - what the observer knows of a process (name, container,
 * per-pid state) and the events built from it: process events, leak
 * findings, and their stacks symbolized, even once the process is gone.
 */
#include <errno.h>
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
#include "modules.h"
#include "pattern.h"
#include "shed.h"
#include "queue.h"
#include "symbolize.h"
#include "procmaps.h"
#include "traces.h"

static uint64_t to_realtime(const struct mo_observer *o, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + o->boot_to_real_ns);
}

/* ------------------------------------------------------------- process info */

struct pidinfo *obs_pid_find(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].pid == pid)
			return &o->pids[i];
	return NULL;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	/* The kernel writes comm raw and ends it with one '\n': a comm may
	 * itself hold newlines (prctl(PR_SET_NAME)), so only the last goes. */
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	if (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
}

struct pidinfo *obs_pid_add(struct mo_observer *o, pid_t pid, unsigned flags)
{
	struct pidinfo *p = obs_pid_find(o, pid);

	if (p) {
		p->alive = true;
		p->flags |= flags;
		return p;
	}
	if (obs_grow((void **)&o->pids, &o->cappids, o->npids + 1, sizeof(*o->pids)))
		return NULL;
	p = &o->pids[o->npids++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->flags = flags;
	p->alive = true;
	read_comm(pid, p->comm, sizeof(p->comm));
	return p;
}

static struct procextra *extra_find(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->nextra; i++)
		if (o->extra[i].pid == pid)
			return &o->extra[i];
	return NULL;
}

/* Command name for events: cached for observed pids, read otherwise. */
void obs_comm_of(struct mo_observer *o, pid_t pid, char *buf, size_t len)
{
	struct pidinfo *p = obs_pid_find(o, pid);

	if (p && p->comm[0]) {
		snprintf(buf, len, "%s", p->comm);
		return;
	}
	read_comm(pid, buf, len);
	if (!buf[0]) {
		struct procextra *x = extra_find(o, pid);

		if (x)
			snprintf(buf, len, "%s", x->comm);
	}
	if (!buf[0] && o->skel) {
		/* gone, its fork and exit records lost: a child that did not
		 * exec carries the name its parent had */
		struct mo_proc_stats ps;
		uint32_t key = (uint32_t)pid;

		if (!bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &key, &ps) &&
		    ps.ppid && ps.ppid != key && !ps.exec_ts_ns && obs_pid_find(o, (pid_t)ps.ppid))
			obs_comm_of(o, (pid_t)ps.ppid, buf, len);
	}
}

struct procextra *obs_extra_of(struct mo_observer *o, pid_t pid)
{
	struct procextra *x = extra_find(o, pid);

	if (x)
		return x;
	if (obs_grow((void **)&o->extra, &o->capextra, o->nextra + 1, sizeof(*o->extra)))
		return NULL;
	memset(&o->extra[o->nextra], 0, sizeof(o->extra[0]));
	o->extra[o->nextra].pid = pid;
	return &o->extra[o->nextra++];
}

void obs_extra_forget(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->nextra; i++) {
		if (o->extra[i].pid == pid) {
			o->extra[i] = o->extra[--o->nextra];
			return;
		}
	}
}

/* The container a process runs in, read once while it lives. */
const struct mo_container *obs_container_of(struct mo_observer *o, pid_t pid)
{
	struct procextra *x = obs_extra_of(o, pid);

	if (!x)
		return NULL;
	if (!x->container_known && mo_container_of_pid(pid, &x->c) == 0)
		x->container_known = true;
	return x->container_known ? &x->c : NULL;
}

static void fill_container(struct mo_observer *o, struct mo_event *ev)
{
	const struct mo_container *c = obs_container_of(o, ev->pid);

	if (!c)
		return;
	snprintf(ev->container_id, sizeof(ev->container_id), "%s", c->id);
	snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", c->pod_uid);
	snprintf(ev->cgroup, sizeof(ev->cgroup), "%s", c->cgroup);
}

/* ------------------------------------------------------------------- events */

struct mo_event *obs_event_new(struct mo_observer *o, enum mo_event_type type,
			       const char *kind, pid_t pid, uint64_t boot_ts)
{
	struct mo_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->type = type;
	ev->kind = kind;
	ev->pid = pid;
	ev->timestamp_ns = boot_ts ? to_realtime(o, boot_ts) : obs_clock_ns(CLOCK_REALTIME);
	ev->predicted_oom_seconds = -1;
	obs_comm_of(o, pid, ev->command, sizeof(ev->command));
	fill_container(o, ev);
	return ev;
}

void mo_event_free(struct mo_event *ev)
{
	if (!ev)
		return;
	mo_trace_release(&ev->stack);
	free(ev);
}

void obs_emit(struct mo_observer *o, struct mo_event *ev)
{
	if (!ev)
		return;
	if (mo_queue_push(o->q, ev)) {
		mo_event_free(ev);
		return;
	}
	o->events_emitted++;
}

static int map_cmp(const void *a, const void *b)
{
	const struct mo_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool is_loader(const char *module)
{
	const char *base;

	if (!module)
		return false;
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld-musl", 7) == 0 ||
	       strncmp(base, "ld64.so", 7) == 0;
}

/*
 * Memory the dynamic loader allocates for itself (link maps, DTVs, segments
 * while loading) is the runtime's: its two innermost frames are in the
 * loader. Not so a thread's block of a module's dynamic TLS: the loader
 * allocates it when the program's code first asks for it, through
 * __tls_get_addr, which is then among the loader frames.
 */
static bool loader_bookkeeping(const struct mo_stack_trace *tr)
{
	size_t i;

	if (!tr->nframes || !is_loader(tr->frames[0].module) ||
	    !is_loader(tr->frames[tr->nframes > 1 ? 1 : 0].module))
		return false;
	for (i = 0; i < tr->nframes && is_loader(tr->frames[i].module); i++) {
		const char *sym = tr->frames[i].symbol;

		if (sym && strncmp(sym, "__tls_get_addr", 14) == 0)
			return false;
	}
	return true;
}

/*
 * A process that exited before we read its maps: rebuild its executable
 * mappings from what the kernel walker resolved (proc_maps) and the paths
 * the module loader saw.
 */
static int view_from_kernel(struct mo_observer *o, uint32_t pid)
{
	struct mo_proc_maps pm;
	struct mo_maps maps = { 0 };
	int err;

	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.proc_maps), &pid, &pm))
		return -ESRCH;
	if (pm.nr > MO_MAX_MAPS)
		pm.nr = MO_MAX_MAPS;
	maps.maps = calloc(pm.nr ? pm.nr : 1, sizeof(*maps.maps));
	if (!maps.maps)
		return -ENOMEM;
	for (__u32 i = 0; i < pm.nr; i++) {
		const struct mo_map_entry *me = &pm.m[i];
		const char *path = mo_modules_path(o->mods, me->dev, me->ino);
		struct mo_map *m = &maps.maps[maps.nr];

		if (!path)
			continue;
		m->start = me->start;
		m->end = me->end;
		m->offset = me->file_off;
		m->dev_major = (uint32_t)(me->dev >> 20);
		m->dev_minor = (uint32_t)(me->dev & 0xfffff);
		m->inode = me->ino;
		m->r = m->x = m->p = true;
		m->path = strdup(path);
		if (!m->path)
			break;
		maps.nr++;
	}
	/* the symbolizer looks mappings up by address: keep them sorted */
	qsort(maps.maps, maps.nr, sizeof(*maps.maps), map_cmp);
	err = mo_symbolizer_set_maps(o->sym, (pid_t)pid, &maps);
	mo_maps_release(&maps);
	return err;
}

/*
 * A forked child gone before its maps were read, and without kernel-resolved
 * mappings (its fork record was lost, say): until it execs it maps the code
 * its parent maps, so the parent's view (or the parent's parent's) stands in.
 */
static int view_from_parent(struct mo_observer *o, uint32_t pid)
{
	int fd = bpf_map__fd(o->skel->maps.procs);
	struct mo_proc_stats ps;
	uint32_t at = pid;

	for (int depth = 0; depth < 8; depth++) {
		if (bpf_map_lookup_elem(fd, &at, &ps) || !ps.ppid || ps.exec_ts_ns)
			return -ESRCH;
		if (mo_symbolizer_inherit(o->sym, (pid_t)pid, (pid_t)ps.ppid) == 0)
			return 0;
		if (view_from_kernel(o, ps.ppid) == 0) {
			int err = mo_symbolizer_inherit(o->sym, (pid_t)pid, (pid_t)ps.ppid);

			/* built for this only: a later process with that pid
			 * must read its own */
			mo_symbolizer_forget(o->sym, (pid_t)ps.ppid);
			if (!err)
				return 0;
		}
		at = ps.ppid;
	}
	return -ESRCH;
}

/* Symbolized stack for (pid, stack id), cached. */
const struct mo_stack_trace *obs_trace_of(struct mo_observer *o, uint32_t pid, uint64_t id)
{
	struct mo_trace_entry *e = mo_traces_get(o->traces, pid, id);
	struct mo_stack st;
	int err;

	if (!e)
		return NULL;
	if (e->resolved)
		return &e->tr;
	e->resolved = true;
	e->tr.id = id;
	if (!id || bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stacks), &id, &st))
		return &e->tr;
	e->tr.flags = st.flags;
	if (st.nr > MO_MAX_FRAMES)
		st.nr = MO_MAX_FRAMES;
	err = mo_symbolize(o->sym, (pid_t)pid, (const uint64_t *)st.ips, st.nr, &e->tr.frames,
			   &e->tr.nframes);
	if (err == -ESRCH && (view_from_kernel(o, pid) == 0 || view_from_parent(o, pid) == 0))
		err = mo_symbolize(o->sym, (pid_t)pid, (const uint64_t *)st.ips, st.nr,
				   &e->tr.frames, &e->tr.nframes);
	if (err) {
		obs_log(o, MO_LOG_DEBUG, "cannot symbolize a stack of pid %u: %s", pid, strerror(-err));
		e->tr.frames = NULL;
		e->tr.nframes = 0;
	}
	e->runtime = loader_bookkeeping(&e->tr);
	return &e->tr;
}

/* Blocks whose stack could not be stored (the stack table was full, a drop
 * counted then) cannot be told from the runtime's own (loader mappings,
 * thread stacks): counted as unattributed, never reported as a leak. */
bool obs_no_stack(const struct mo_leak_group *g)
{
	return g->stack_id == 0;
}

/* Blocks the dynamic loader maps (segments, TLS) belong to the runtime. */
bool obs_runtime_group(struct mo_observer *o, const struct mo_leak_group *g)
{
	const struct mo_stack_trace *tr = obs_trace_of(o, g->tgid, g->stack_id);
	struct mo_trace_entry *e;

	if (!tr)
		return false;
	e = mo_traces_get(o->traces, g->tgid, g->stack_id);
	return e && e->runtime;
}

/* The overhead budget's figures, live or as it left them. */
void obs_shed_stats(const struct mo_observer *o, struct mo_shed_stats *st)
{
	*st = o->shed_final;
	if (o->shed)
		mo_shedder_stats(o->shed, st);
}

static bool shed_happened(const struct mo_observer *o)
{
	struct mo_shed_stats st;

	if (!o->cfg.max_overhead_bp)
		return false;
	obs_shed_stats(o, &st);
	return st.shed_ns > 0 || st.duty < 1;
}

void obs_fill_leak(struct mo_observer *o, struct mo_leak *l, const struct mo_leak_group *g,
		   uint64_t now_boot)
{
	const struct mo_stack_trace *tr = obs_trace_of(o, g->tgid, g->stack_id);

	memset(l, 0, sizeof(*l));
	l->pid = (pid_t)g->tgid;
	obs_comm_of(o, l->pid, l->command, sizeof(l->command));
	l->unfreed_bytes = g->unfreed_bytes;
	l->count = g->count;
	l->oldest_age_ns = now_boot > g->oldest_ts_ns ? now_boot - g->oldest_ts_ns : 0;
	l->largest = g->largest;
	/* sampled, or seen only while the budget kept the probes attached */
	l->estimate = g->estimate || shed_happened(o);
	if (tr)
		mo_trace_copy(&l->stack, tr);
	l->stack.id = g->stack_id;
	{
		const struct mo_container *c = obs_container_of(o, l->pid);
		struct mo_trace_entry *e = mo_traces_get(o->traces, g->tgid, g->stack_id);
		struct mo_verdict v = { 0 };

		if (c) {
			snprintf(l->container_id, sizeof(l->container_id), "%s", c->id);
			snprintf(l->pod_uid, sizeof(l->pod_uid), "%s", c->pod_uid);
		}
		struct mo_stack_key sk = { .tgid = g->tgid, .stack_id = g->stack_id };
		struct mo_stack_stats ss;

		if (g->stack_id &&
		    !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stack_stats), &sk, &ss)) {
			/* tracked allocations; scaled like the in-use totals */
			l->alloc_count = ss.allocs * o->cfg.sampling_rate;
			l->alloc_bytes = ss.alloc_bytes * o->cfg.sampling_rate;
		}
		if (e && e->hist)
			mo_classify(e->hist, &v);
		l->pattern = mo_pattern_name(v.pattern);
		l->growth_bytes_per_s = v.growth_bytes_per_s;
		l->confidence = v.confidence;
		l->severity = v.pattern == MO_PATTERN_GROWING || v.pattern == MO_PATTERN_FRAGMENTATION
				      ? "warning"
				      : "info";
	}
}

struct mo_event *obs_leak_event(struct mo_observer *o, const struct mo_leak *l,
				const char *severity, bool final)
{
	struct mo_event *ev = obs_event_new(o, MO_EVENT_MEMORY_PRESSURE, "leak", l->pid, 0);

	if (!ev)
		return NULL;
	snprintf(ev->command, sizeof(ev->command), "%s", l->command);
	ev->severity = severity;
	ev->size_bytes = l->largest;
	ev->unfreed_bytes = l->unfreed_bytes;
	ev->count = l->count;
	ev->age_seconds = (double)l->oldest_age_ns / 1e9;
	ev->estimate = l->estimate;
	ev->final = final;
	ev->pattern = l->pattern;
	ev->growth_bytes_per_s = l->growth_bytes_per_s;
	ev->confidence = l->confidence;
	if (mo_trace_copy(&ev->stack, &l->stack)) {
		mo_event_free(ev);
		return NULL;
	}
	return ev;
}
