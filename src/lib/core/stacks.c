// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stacks.c - symbolized stacks, their histories, and the stack table's
 * collection (stacks.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/kernel.h"
#include "core/proctab.h"
#include "core/stacks.h"
#include "modules.h"
#include "perfmap.h"
#include "procmaps.h"
#include "symbolize.h"
#include "util.h"

#define MAX_HISTORIES 4096		/* stacks with a pattern history */
#define GC_PERIOD_NS (10 * MO_NSEC)	/* stack table collection, when half full; */
#define GC_FULL_PERIOD_NS MO_NSEC	/* every second when 90 % full */
#define JIT_REREAD_NS (10 * MO_NSEC)	/* a perf map is read again at most this often */

struct mo_stacks {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_symbolizer *sym;
	struct mo_modules *mods;
	size_t histories;
	uint64_t deleted;	/* read by other threads */
	uint64_t last_gc_ns;
	uint64_t next_check_ns;	/* the table's fill is read at most this often */
	uint64_t *cand;		/* unreferenced at the last collection, sorted */
	size_t ncand;
	struct mo_stacks_stats stats;	/* mo_stat_* */
};

static void walker_ask_again(void *ctx, uint64_t dev, uint64_t ino)
{
	struct mo_stacks *st = ctx;

	mo_kernel_module_ask_again(st->k, dev, ino);
}

static void walker_rows_epoch(void *ctx, uint32_t epoch)
{
	struct mo_stacks *st = ctx;

	mo_kernel_rows_epoch_set(st->k, epoch);
}

static const struct mo_modules_walker walker = {
	.ask_again = walker_ask_again,
	.rows_epoch = walker_rows_epoch,
};

struct mo_stacks *mo_stacks_new(const struct mo_env *env, const struct mo_kernel *k,
				struct mo_proctab *pt, struct mo_symbolizer *sym,
				struct mo_modules *mods)
{
	struct mo_stacks *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->env = env;
	st->k = k;
	st->pt = pt;
	st->sym = sym;
	st->mods = mods;
	if (mods)
		mo_modules_set_walker(mods, &walker, st);
	return st;
}

void mo_stacks_free(struct mo_stacks *st)
{
	if (!st)
		return;
	if (st->mods)
		mo_modules_set_walker(st->mods, NULL, NULL);
	free(st->cand);
	free(st);
}

struct mo_trace_entry *mo_stacks_entry(struct mo_stacks *st, uint32_t pid, uint64_t id)
{
	struct mo_proc *p = mo_proctab_get(st->pt, (pid_t)pid);

	if (!p)
		return NULL;
	if (!p->traces && !(p->traces = mo_traces_new()))
		return NULL;
	return mo_traces_get(p->traces, pid, id);
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
 * A process that exited before its maps were read: its executable mappings
 * rebuilt from what the kernel walker resolved and the paths the module
 * loader saw.
 */
static int view_from_kernel(struct mo_stacks *st, uint32_t pid)
{
	struct mo_proc_maps pm;
	struct mo_maps maps = { 0 };
	int err;

	if (mo_kernel_proc_maps(st->k, pid, &pm))
		return -ESRCH;
	if (pm.nr > MO_MAX_MAPS)
		pm.nr = MO_MAX_MAPS;
	maps.maps = calloc(pm.nr ? pm.nr : 1, sizeof(*maps.maps));
	if (!maps.maps)
		return -ENOMEM;
	for (__u32 i = 0; i < pm.nr; i++) {
		const struct mo_map_entry *me = &pm.m[i];
		const char *path = mo_modules_path(st->mods, me->dev, me->ino);
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
	err = mo_symbolizer_set_maps(st->sym, (pid_t)pid, &maps);
	mo_maps_release(&maps);
	return err;
}

/*
 * A forked child gone before its maps were read, and without kernel-resolved
 * mappings (its fork record was lost, say): until it execs it maps the code
 * its parent maps, so the parent's view (or the parent's parent's) stands in.
 */
static int view_from_parent(struct mo_stacks *st, uint32_t pid)
{
	struct mo_proc_stats ps;
	uint32_t at = pid;

	for (int depth = 0; depth < 8; depth++) {
		if (mo_kernel_proc(st->k, at, &ps) || !ps.ppid || ps.exec_ts_ns)
			return -ESRCH;
		if (mo_symbolizer_inherit(st->sym, (pid_t)pid, (pid_t)ps.ppid) == 0)
			return 0;
		if (view_from_kernel(st, ps.ppid) == 0) {
			int err = mo_symbolizer_inherit(st->sym, (pid_t)pid, (pid_t)ps.ppid);

			/* built for this only: a later process with that pid
			 * must read its own */
			mo_symbolizer_forget(st->sym, (pid_t)ps.ppid);
			if (!err)
				return 0;
		}
		at = ps.ppid;
	}
	return -ESRCH;
}

/* The perf map of p, read when missing or stale; NULL when there is none. */
static const struct mo_perfmap *jit_map(struct mo_stacks *st, struct mo_proc *p, uint64_t now)
{
	int err;

	if (p->jit && now - p->jit_read_ns < JIT_REREAD_NS)
		return p->jit;
	if (p->jit_lost || (p->jit_read_ns && now - p->jit_read_ns < JIT_REREAD_NS))
		return NULL;	/* none a moment ago */
	p->jit_read_ns = now;
	if (!p->jit && !(p->jit = calloc(1, sizeof(*p->jit))))
		return NULL;
	mo_perfmap_release(p->jit);
	err = mo_perfmap_read(p->pid, p->jit);
	if (err) {
		/* -ECHILD: the parser process died, hung or lied on it (counted
		 * and logged there); like any file that did, it is not read
		 * again. -EAGAIN: no parser for now, read again later. */
		p->jit_lost = err == -ECHILD;
		if (err != -ENOENT && err != -EAGAIN)
			mo_stat_add(&st->stats.perfmaps_skipped, 1);
		return NULL;
	}
	mo_stat_add(&st->stats.perfmap_lines_malformed, p->jit->malformed);
	return p->jit;
}

/*
 * Frames without a name in code no file backs: the runtime's JIT code, named
 * from its perf map where it writes one, else "[jit]". Only a live process's
 * (the map and the mappings are read from /proc). The walker stores only
 * return addresses in executable mappings, and a file's frames get at least
 * a module: a frame with neither was in anonymous code when it was walked.
 * Its mapping need not be executable now (runtimes that keep code W^X flip
 * it to writable while they write code: V8, the JVM); one unmapped since is
 * named only if the perf map names it.
 */
static void name_jit_frames(struct mo_stacks *st, uint32_t pid, struct mo_stack_trace *tr)
{
	struct mo_proc *p = mo_proctab_find(st->pt, (pid_t)pid);
	const struct mo_perfmap *jm = NULL;
	struct mo_maps maps = { 0 };
	bool maps_read = false;

	for (size_t i = 0; p && i < tr->nframes; i++) {
		struct mo_frame *fr = &tr->frames[i];
		const struct mo_perfmap_entry *je;
		const struct mo_map *m;
		char *name;

		if (fr->symbol || fr->module)
			continue;
		if (!maps_read) {
			maps_read = true;
			if (mo_procmaps_read((pid_t)pid, &maps))
				break;
			jm = jit_map(st, p, mo_clock_ns(CLOCK_BOOTTIME));
		}
		m = mo_maps_find(&maps, fr->address);
		if (m && m->path)
			continue;	/* [vdso], [vsyscall]: not a JIT's */
		je = jm ? mo_perfmap_find(jm, fr->address) : NULL;
		if (!m && !je)
			continue;	/* unmapped since, and unnamed: unknown */
		name = strdup(je ? je->name : "[jit]");
		if (!name)
			break;
		fr->symbol = name;
		fr->offset = je ? fr->address - je->start : 0;
		mo_stat_add(je ? &st->stats.jit_named : &st->stats.jit_unnamed, 1);
	}
	mo_maps_release(&maps);
}

/* Whether pid is gone or exiting (PF_EXITING): its /proc maps may then be
 * empty or half torn down while the process still exists. */
static bool exiting(uint32_t pid)
{
	char path[64], buf[1024];
	unsigned long flags = 0;
	const char *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = mo_proc_stat_fields(path, buf, sizeof(buf));
	/* "S ppid pgrp session tty_nr tpgid flags" */
	if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return true;
	return (flags & 0x4) != 0;	/* PF_EXITING */
}

static bool any_unmapped(const struct mo_stack_trace *tr)
{
	for (size_t i = 0; i < tr->nframes; i++)
		if (!tr->frames[i].module)
			return true;
	return false;
}

const struct mo_stack_trace *mo_stacks_trace(struct mo_stacks *st, uint32_t pid, uint64_t id)
{
	struct mo_trace_entry *e = mo_stacks_entry(st, pid, id);
	struct mo_stack s;
	int err;

	if (!e)
		return NULL;
	if (e->resolved)
		return &e->tr;
	e->resolved = true;
	e->tr.id = id;
	if (!id || mo_kernel_stack(st->k, id, &s))
		return &e->tr;
	e->tr.flags = s.flags;
	if (s.nr > MO_MAX_FRAMES)
		s.nr = MO_MAX_FRAMES;
	err = mo_symbolize(st->sym, (pid_t)pid, (const uint64_t *)s.ips, s.nr, &e->tr.frames,
			   &e->tr.nframes);
	if (err == -ESRCH && (view_from_kernel(st, pid) == 0 || view_from_parent(st, pid) == 0))
		err = mo_symbolize(st->sym, (pid_t)pid, (const uint64_t *)s.ips, s.nr,
				   &e->tr.frames, &e->tr.nframes);
	/* A view read from /proc while the process was exiting lacks the
	 * mappings already torn down: the mappings the kernel walker resolved
	 * stand in for all of them. */
	if (!err && any_unmapped(&e->tr) && exiting(pid) && view_from_kernel(st, pid) == 0) {
		mo_frames_free(e->tr.frames, e->tr.nframes);
		e->tr.frames = NULL;
		e->tr.nframes = 0;
		err = mo_symbolize(st->sym, (pid_t)pid, (const uint64_t *)s.ips, s.nr,
				   &e->tr.frames, &e->tr.nframes);
	}
	if (err) {
		mo_env_log(st->env, MO_LOG_DEBUG, "cannot symbolize a stack of pid %u: %s", pid,
			   strerror(-err));
		e->tr.frames = NULL;
		e->tr.nframes = 0;
	}
	/* a fault's first frame is the faulting instruction, stored + 1; the
	 * flags handed out say only how complete the stack is */
	if ((s.flags & MO_STACK_FAULT) && e->tr.nframes)
		e->tr.frames[0].address -= 1;
	e->tr.flags &= ~MO_STACK_FAULT;
	name_jit_frames(st, pid, &e->tr);
	e->runtime = loader_bookkeeping(&e->tr);
	return &e->tr;
}

bool mo_stacks_runtime(struct mo_stacks *st, const struct mo_leak_group *g)
{
	struct mo_trace_entry *e;

	if (!mo_stacks_trace(st, g->tgid, g->stack_id))
		return false;
	e = mo_stacks_entry(st, g->tgid, g->stack_id);
	return e && e->runtime;
}

struct mo_history *mo_stacks_history(struct mo_stacks *st, struct mo_trace_entry *e)
{
	if (e->hist || st->histories >= MAX_HISTORIES)
		return e->hist;
	e->hist = calloc(1, sizeof(*e->hist));
	if (e->hist)
		st->histories++;
	return e->hist;
}

void mo_stacks_classify(const struct mo_trace_entry *e, struct mo_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (e && e->hist)
		mo_classify(e->hist, v);
}

void mo_stacks_forget(struct mo_stacks *st, pid_t pid)
{
	struct mo_proc *p = mo_proctab_find(st->pt, pid);

	mo_symbolizer_forget(st->sym, pid);
	if (!p || !p->traces)
		return;
	st->histories -= mo_traces_histories(p->traces);
	mo_traces_free(p->traces);
	p->traces = NULL;
}

void mo_stacks_unknown_module(void *ctx, const struct mo_record *r)
{
	struct mo_stacks *st = ctx;
	int err = mo_modules_load_id(st->mods, (pid_t)r->pid, r->dev, r->ino);

	/* the parser was restarting, or the process that asked is gone
	 * before its maps were read (short-lived ones often are): the walker
	 * asks again at the file's next use */
	if (err == -EAGAIN || err == -ESRCH)
		mo_kernel_module_ask_again(st->k, r->dev, r->ino);
	/* no rows will come (no CFI, refused, too large, or no mapping of it
	 * in a live process: unmapped, or named differently): the walker
	 * guesses through it from now on; rows waiting for evicted ones to be
	 * freed (-EBUSY) come later */
	else if (err != -EBUSY && !mo_modules_loaded(st->mods, r->dev, r->ino))
		mo_kernel_module_no_rows(st->k, r->dev, r->ino);
	/* a new file mapped (dlopen, or libraries after exec) */
	mo_symbolizer_prime(st->sym, (pid_t)r->pid);
}

void mo_stacks_prime(struct mo_stacks *st, pid_t pid)
{
	mo_symbolizer_prime(st->sym, pid);
}

/*
 * The stack ids other processes than pid refer to (pid 0: every process):
 * their outstanding blocks (recs) and their per-stack totals; pid's own
 * totals keys go to *mine when asked. 0, or -ENOMEM.
 */
static int stack_refs(struct mo_stacks *st, uint32_t pid, const struct mo_alloc_rec *recs,
		      size_t n, uint64_t **ids, size_t *nids, struct mo_stack_key **mine,
		      size_t *nmine)
{
	struct mo_stack_key *keys = NULL;
	struct mo_kgrowth *gr = NULL;
	size_t nkeys = 0, ngr = 0, cap = 0, capmine = 0;
	int err = mo_kernel_stack_stats_keys(st->k, &keys, &nkeys);

	if (!err)
		err = mo_kernel_growth_all(st->k, &gr, &ngr);
	if (err) {
		free(keys);
		return err;
	}
	for (size_t i = 0; i < ngr; i++) {
		if (MO_GROW(*ids, *nids + 1, cap)) {
			err = -ENOMEM;
			goto out;
		}
		(*ids)[(*nids)++] = gr[i].k.stack_id;
	}
	for (size_t i = 0; i < n; i++) {
		if (recs[i].tgid == pid)
			continue;
		if (MO_GROW(*ids, *nids + 1, cap)) {
			err = -ENOMEM;
			goto out;
		}
		(*ids)[(*nids)++] = recs[i].stack_id;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].tgid == pid && mine) {
			if (MO_GROW(*mine, *nmine + 1, capmine)) {
				err = -ENOMEM;
				goto out;
			}
			(*mine)[(*nmine)++] = keys[i];
		} else if (keys[i].tgid != pid) {
			if (MO_GROW(*ids, *nids + 1, cap)) {
				err = -ENOMEM;
				goto out;
			}
			(*ids)[(*nids)++] = keys[i].stack_id;
		}
	}
out:
	free(keys);
	free(gr);
	return err;
}

/* One reference to a stack: by a process's block or per-stack totals. */
enum ref_kind { REF_BLOCK, REF_TOTALS, REF_GROWTH };

struct ref {
	uint32_t tgid;
	uint32_t gen;		/* REF_GROWTH: the process instance */
	uint8_t kind;		/* enum ref_kind */
	bool released;		/* its process was released */
	uint64_t id;
};

struct count {
	uint64_t id;
	uint64_t n;
};

struct mo_stack_refs {
	struct ref *refs;	/* sorted by tgid */
	size_t nrefs;
	struct count *counts;	/* sorted by id */
	size_t ncounts;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static int count_cmp(const void *a, const void *b)
{
	const struct count *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void mo_stacks_refs_free(struct mo_stack_refs *r)
{
	if (!r)
		return;
	free(r->refs);
	free(r->counts);
	free(r);
}

struct mo_stack_refs *mo_stacks_refs(struct mo_stacks *st, const struct mo_alloc_rec *recs,
				     size_t n)
{
	struct mo_stack_refs *r = calloc(1, sizeof(*r));
	struct mo_stack_key *keys = NULL;
	struct mo_kgrowth *gr = NULL;
	size_t nkeys = 0, ngr = 0, k = 0;

	if (!r || mo_kernel_stack_stats_keys(st->k, &keys, &nkeys) ||
	    mo_kernel_growth_all(st->k, &gr, &ngr))
		goto fail;
	r->refs = malloc((n + nkeys + ngr + 1) * sizeof(*r->refs));
	r->counts = malloc((n + nkeys + ngr + 1) * sizeof(*r->counts));
	if (!r->refs || !r->counts)
		goto fail;
	for (size_t i = 0; i < n; i++)
		r->refs[r->nrefs++] = (struct ref){ .tgid = recs[i].tgid, .kind = REF_BLOCK,
						    .id = recs[i].stack_id };
	for (size_t i = 0; i < nkeys; i++)
		r->refs[r->nrefs++] = (struct ref){ .tgid = keys[i].tgid, .kind = REF_TOTALS,
						    .id = keys[i].stack_id };
	for (size_t i = 0; i < ngr; i++)
		r->refs[r->nrefs++] = (struct ref){ .tgid = gr[i].k.tgid, .gen = gr[i].k.gen,
						    .kind = REF_GROWTH, .id = gr[i].k.stack_id };
	free(keys);
	free(gr);
	keys = NULL;
	gr = NULL;
	for (size_t i = 0; i < r->nrefs; i++)
		r->counts[i] = (struct count){ r->refs[i].id, 1 };
	qsort(r->counts, r->nrefs, sizeof(*r->counts), count_cmp);
	for (size_t i = 0; i < r->nrefs; i++) {
		if (k && r->counts[k - 1].id == r->counts[i].id)
			r->counts[k - 1].n++;
		else
			r->counts[k++] = r->counts[i];
	}
	r->ncounts = k;
	qsort(r->refs, r->nrefs, sizeof(*r->refs), ref_cmp);
	return r;
fail:
	free(keys);
	free(gr);
	mo_stacks_refs_free(r);
	return NULL;
}

void mo_stacks_release(struct mo_stacks *st, struct mo_stack_refs *r, uint32_t pid)
{
	struct ref want = { .tgid = pid };
	struct ref *at;
	size_t lo;

	if (!r)
		return;
	at = bsearch(&want, r->refs, r->nrefs, sizeof(*r->refs), ref_cmp);
	if (!at)
		return;
	lo = (size_t)(at - r->refs);
	while (lo && r->refs[lo - 1].tgid == pid)
		lo--;
	/* pid's references go first, then the stacks left without any */
	for (size_t i = lo; i < r->nrefs && r->refs[i].tgid == pid; i++) {
		struct count c = { .id = r->refs[i].id }, *cp;

		if (r->refs[i].released)
			continue;
		if (r->refs[i].kind == REF_TOTALS) {
			struct mo_stack_key key = { .tgid = pid, .stack_id = r->refs[i].id };

			mo_kernel_stack_stats_delete(st->k, &key);
		} else if (r->refs[i].kind == REF_GROWTH) {
			struct mo_growth_key key = { .tgid = pid, .gen = r->refs[i].gen,
						     .stack_id = r->refs[i].id };

			mo_kernel_growth_delete(st->k, &key);
		}
		cp = bsearch(&c, r->counts, r->ncounts, sizeof(*r->counts), count_cmp);
		if (cp && cp->n)
			cp->n--;
	}
	for (size_t i = lo; i < r->nrefs && r->refs[i].tgid == pid; i++) {
		struct count c = { .id = r->refs[i].id }, *cp;

		if (r->refs[i].released)
			continue;
		cp = bsearch(&c, r->counts, r->ncounts, sizeof(*r->counts), count_cmp);
		if (r->refs[i].kind == REF_BLOCK || !c.id || !cp || cp->n)
			continue;
		cp->n = UINT64_MAX;	/* deleted once */
		if (mo_kernel_stack_delete(st->k, c.id) == 0)
			mo_stat_add(&st->deleted, 1);
	}
	/* a later exit of a new process with this pid has none of these */
	for (size_t i = lo; i < r->nrefs && r->refs[i].tgid == pid; i++)
		r->refs[i].released = true;
}

void mo_stacks_hand_over(struct mo_stacks *st, uint32_t pid, const char *comm)
{
	struct mo_kproc *procs = NULL;
	struct mo_proc_stats ps;
	size_t n = 0;

	if (mo_kernel_proc(st->k, pid, &ps) || !ps.forks || mo_kernel_procs(st->k, &procs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		pid_t child = (pid_t)procs[i].pid;
		struct mo_proc *x;

		if (procs[i].st.ppid != pid || procs[i].st.exec_ts_ns ||
		    ((x = mo_proctab_find(st->pt, child)) && x->target))
			continue;
		if (!mo_symbolizer_has_view(st->sym, child) &&
		    mo_symbolizer_inherit(st->sym, child, (pid_t)pid) == 0)
			mo_symbolizer_refresh(st->sym, child);
		x = mo_proctab_get(st->pt, child);
		if (x && !x->comm[0])
			mo_proctab_set_comm(st->pt, x, comm, 16);
	}
	free(procs);
}

static bool member(const uint64_t *set, size_t n, uint64_t v)
{
	return n && bsearch(&v, set, n, sizeof(*set), mo_u64_cmp) != NULL;
}

/*
 * Two-pass collection: a stack no outstanding block and no per-stack totals
 * entry refers to is a candidate; one that is still a candidate at the next
 * pass is deleted (its allocation may have been in flight the first time).
 * Returns the stacks deleted, or -errno.
 */
static int gc_pass(struct mo_stacks *st, uint64_t *referenced, size_t n)
{
	uint64_t *all = NULL, *cand = NULL;
	size_t nall = 0, ncand = 0;
	int deleted = 0, err;

	err = mo_kernel_stack_ids(st->k, &all, &nall);
	if (err)
		return err;
	qsort(referenced, n, sizeof(*referenced), mo_u64_cmp);
	cand = malloc((nall ? nall : 1) * sizeof(*cand));
	if (!cand) {
		free(all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nall; i++) {
		if (member(referenced, n, all[i]))
			continue;
		if (member(st->cand, st->ncand, all[i])) {
			if (mo_kernel_stack_delete(st->k, all[i]) == 0)
				deleted++;
		} else {
			cand[ncand++] = all[i];
		}
	}
	free(all);
	qsort(cand, ncand, sizeof(*cand), mo_u64_cmp);
	free(st->cand);
	st->cand = cand;
	st->ncand = ncand;
	return deleted;
}

void mo_stacks_gc(struct mo_stacks *st, uint64_t now)
{
	const uint32_t max = st->env->cfg.max_stacks;
	struct mo_alloc_rec *recs = NULL;
	uint64_t *ids = NULL, live;
	size_t n = 0, nids = 0;
	int r;

	/* cheap: a look at the rows waiting for their grace period */
	if (st->mods)
		mo_modules_tick(st->mods, now);
	if (now - st->last_gc_ns < GC_FULL_PERIOD_NS || now < st->next_check_ns)
		return;
	/* the worker comes here at every batch of records */
	st->next_check_ns = now + GC_FULL_PERIOD_NS;
	live = mo_kernel_counter(st->k, MO_C_STACKS_NEW) - mo_stat_get(&st->deleted);
	if (live < max / 10 * 9 && now - st->last_gc_ns < GC_PERIOD_NS)
		return;
	st->last_gc_ns = now;
	if (live < max / 2 || mo_kernel_allocs(st->k, &recs, &n))
		return;
	if (stack_refs(st, 0, recs, n, &ids, &nids, NULL, NULL))
		goto out;
	r = gc_pass(st, ids, nids);
	if (r > 0)
		mo_stat_add(&st->deleted, (uint64_t)r);
	mo_env_log(st->env, MO_LOG_DEBUG, "stack table: %" PRIu64 " live, %d unreferenced stacks freed",
		   live, r);
out:
	free(ids);
	free(recs);
}

uint64_t mo_stacks_deleted(const struct mo_stacks *st)
{
	return mo_stat_get(&st->deleted);
}

void mo_stacks_module_stats(const struct mo_stacks *st, struct mo_modules_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (st->mods)
		mo_modules_stats(st->mods, out);
}

void mo_stacks_stats(const struct mo_stacks *st, struct mo_stacks_stats *out)
{
	out->jit_named = mo_stat_get(&st->stats.jit_named);
	out->jit_unnamed = mo_stat_get(&st->stats.jit_unnamed);
	out->perfmaps_skipped = mo_stat_get(&st->stats.perfmaps_skipped);
	out->perfmap_lines_malformed = mo_stat_get(&st->stats.perfmap_lines_malformed);
}
