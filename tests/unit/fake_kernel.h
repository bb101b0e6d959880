/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fake_kernel.h - an in-memory kernel side (core/kernel.h) for the unit
 * tests of the core's stages: the maps are plain arrays the test fills and
 * inspects. Included by one test file each (static functions).
 */
#ifndef MO_FAKE_KERNEL_H
#define MO_FAKE_KERNEL_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "abi.h"
#include "core/kernel.h"

#define FK_MAX 4096

struct fake_kernel {
	struct mo_kernel k;
	pthread_mutex_t lock;	/* the real maps may be read from any thread */
	struct mo_alloc_rec allocs[FK_MAX];
	size_t nallocs;
	struct mo_kproc procs[FK_MAX];
	size_t nprocs;
	struct { uint64_t id; struct mo_stack st; } stacks[FK_MAX];
	size_t nstacks;
	struct { struct mo_stack_key k; struct mo_stack_stats v; } sstats[FK_MAX];
	size_t nsstats;
	struct { uint32_t pid; struct mo_proc_maps pm; } *maps;
	size_t nmaps;
	struct mo_krss rss[FK_MAX];
	size_t nrss;
	struct { uint32_t pid, flags; } targets[FK_MAX];
	size_t ntargets;
	struct mo_kgrowth growth[FK_MAX];
	size_t ngrowth;
	uint64_t counters[MO_C__COUNT];
	struct mo_module_key asked[FK_MAX];	/* module_ask_again calls */
	size_t nasked;
	struct mo_module_key no_rows[FK_MAX];	/* module_no_rows calls */
	size_t nno_rows;
	uint32_t rows_epoch;
	size_t reads;		/* map reads made: what a stage costs */
};

#define FK_DEL(arr, n, i) ((arr)[i] = (arr)[--(n)])

static int fk_allocs(void *impl, struct mo_alloc_rec **out, size_t *n)
{
	struct fake_kernel *f = impl;

	f->reads++;
	*out = malloc((f->nallocs + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, f->allocs, f->nallocs * sizeof(**out));
	*n = f->nallocs;
	return 0;
}

static int fk_alloc_delete(void *impl, const struct mo_alloc_key *k)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nallocs; i++) {
		if (f->allocs[i].tgid == k->tgid && f->allocs[i].gen == k->gen &&
		    f->allocs[i].addr == k->addr) {
			FK_DEL(f->allocs, f->nallocs, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_proc(void *impl, uint32_t pid, struct mo_proc_stats *out)
{
	struct fake_kernel *f = impl;

	f->reads++;
	for (size_t i = 0; i < f->nprocs; i++) {
		if (f->procs[i].pid == pid) {
			*out = f->procs[i].st;
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_procs(void *impl, struct mo_kproc **out, size_t *n)
{
	struct fake_kernel *f = impl;

	f->reads++;
	*out = malloc((f->nprocs + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, f->procs, f->nprocs * sizeof(**out));
	*n = f->nprocs;
	return 0;
}

static int fk_proc_delete(void *impl, uint32_t pid)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nprocs; i++) {
		if (f->procs[i].pid == pid) {
			FK_DEL(f->procs, f->nprocs, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_stack(void *impl, uint64_t id, struct mo_stack *out)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nstacks; i++) {
		if (f->stacks[i].id == id) {
			*out = f->stacks[i].st;
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_stack_ids(void *impl, uint64_t **out, size_t *n)
{
	struct fake_kernel *f = impl;

	*out = malloc((f->nstacks + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < f->nstacks; i++)
		(*out)[i] = f->stacks[i].id;
	*n = f->nstacks;
	return 0;
}

static int fk_stack_delete(void *impl, uint64_t id)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nstacks; i++) {
		if (f->stacks[i].id == id) {
			FK_DEL(f->stacks, f->nstacks, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_stack_stats(void *impl, const struct mo_stack_key *k, struct mo_stack_stats *out)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nsstats; i++) {
		if (f->sstats[i].k.tgid == k->tgid && f->sstats[i].k.stack_id == k->stack_id) {
			*out = f->sstats[i].v;
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_stack_stats_keys(void *impl, struct mo_stack_key **out, size_t *n)
{
	struct fake_kernel *f = impl;

	*out = malloc((f->nsstats + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < f->nsstats; i++)
		(*out)[i] = f->sstats[i].k;
	*n = f->nsstats;
	return 0;
}

static int fk_stack_stats_delete(void *impl, const struct mo_stack_key *k)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nsstats; i++) {
		if (f->sstats[i].k.tgid == k->tgid && f->sstats[i].k.stack_id == k->stack_id) {
			FK_DEL(f->sstats, f->nsstats, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_proc_maps(void *impl, uint32_t pid, struct mo_proc_maps *out)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nmaps; i++) {
		if (f->maps[i].pid == pid) {
			*out = f->maps[i].pm;
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_proc_maps_delete(void *impl, uint32_t pid)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nmaps; i++) {
		if (f->maps[i].pid == pid) {
			FK_DEL(f->maps, f->nmaps, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_rss_all(void *impl, struct mo_krss **out, size_t *n)
{
	struct fake_kernel *f = impl;

	*out = malloc((f->nrss + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, f->rss, f->nrss * sizeof(**out));
	*n = f->nrss;
	return 0;
}

static int fk_rss_delete(void *impl, uint32_t pid)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->nrss; i++) {
		if (f->rss[i].pid == pid) {
			FK_DEL(f->rss, f->nrss, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_target_set(void *impl, uint32_t pid, uint32_t flags)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->ntargets; i++) {
		if (f->targets[i].pid == pid) {
			f->targets[i].flags = flags;
			return 0;
		}
	}
	if (f->ntargets == FK_MAX)
		return -E2BIG;
	f->targets[f->ntargets].pid = pid;
	f->targets[f->ntargets++].flags = flags;
	return 0;
}

static int fk_target_delete(void *impl, uint32_t pid)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->ntargets; i++) {
		if (f->targets[i].pid == pid) {
			FK_DEL(f->targets, f->ntargets, i);
			return 0;
		}
	}
	return -ENOENT;
}

static int fk_growth_all(void *impl, struct mo_kgrowth **out, size_t *n)
{
	struct fake_kernel *f = impl;

	*out = malloc((f->ngrowth + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, f->growth, f->ngrowth * sizeof(**out));
	*n = f->ngrowth;
	return 0;
}

static int fk_growth_delete(void *impl, const struct mo_growth_key *k)
{
	struct fake_kernel *f = impl;

	for (size_t i = 0; i < f->ngrowth; i++) {
		if (!memcmp(&f->growth[i].k, k, sizeof(*k))) {
			FK_DEL(f->growth, f->ngrowth, i);
			return 0;
		}
	}
	return -ENOENT;
}

static void fk_counters(void *impl, uint64_t v[MO_C__COUNT])
{
	struct fake_kernel *f = impl;

	memcpy(v, f->counters, sizeof(f->counters));
}

/* Every map access under the lock, as the kernel serializes them. */
#define FK_LOCKED(name, params, args)                                   \
	static int fkl_##name params                                    \
	{                                                               \
		struct fake_kernel *f_ = impl;                          \
		int r_;                                                 \
		pthread_mutex_lock(&f_->lock);                          \
		r_ = fk_##name args;                                    \
		pthread_mutex_unlock(&f_->lock);                        \
		return r_;                                              \
	}
FK_LOCKED(allocs, (void *impl, struct mo_alloc_rec **o, size_t *n), (impl, o, n))
FK_LOCKED(alloc_delete, (void *impl, const struct mo_alloc_key *k), (impl, k))
FK_LOCKED(proc, (void *impl, uint32_t pid, struct mo_proc_stats *o), (impl, pid, o))
FK_LOCKED(procs, (void *impl, struct mo_kproc **o, size_t *n), (impl, o, n))
FK_LOCKED(proc_delete, (void *impl, uint32_t pid), (impl, pid))
FK_LOCKED(stack, (void *impl, uint64_t id, struct mo_stack *o), (impl, id, o))
FK_LOCKED(stack_ids, (void *impl, uint64_t **o, size_t *n), (impl, o, n))
FK_LOCKED(stack_delete, (void *impl, uint64_t id), (impl, id))
FK_LOCKED(stack_stats, (void *impl, const struct mo_stack_key *k, struct mo_stack_stats *o),
	  (impl, k, o))
FK_LOCKED(stack_stats_keys, (void *impl, struct mo_stack_key **o, size_t *n), (impl, o, n))
FK_LOCKED(stack_stats_delete, (void *impl, const struct mo_stack_key *k), (impl, k))
FK_LOCKED(proc_maps, (void *impl, uint32_t pid, struct mo_proc_maps *o), (impl, pid, o))
FK_LOCKED(proc_maps_delete, (void *impl, uint32_t pid), (impl, pid))
/* (dev, ino) appended to one of the calls' logs */
static int fk_note_module(struct fake_kernel *f, struct mo_module_key *log, size_t *n,
			  uint64_t dev, uint64_t ino)
{
	pthread_mutex_lock(&f->lock);
	if (*n < FK_MAX)
		log[(*n)++] = (struct mo_module_key){ .dev = dev, .ino = ino };
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fkl_module_ask_again(void *impl, uint64_t dev, uint64_t ino)
{
	struct fake_kernel *f = impl;

	return fk_note_module(f, f->asked, &f->nasked, dev, ino);
}

static int fkl_module_no_rows(void *impl, uint64_t dev, uint64_t ino)
{
	struct fake_kernel *f = impl;

	return fk_note_module(f, f->no_rows, &f->nno_rows, dev, ino);
}

static int fkl_rows_epoch_set(void *impl, uint32_t epoch)
{
	struct fake_kernel *f = impl;

	pthread_mutex_lock(&f->lock);
	f->rows_epoch = epoch;
	pthread_mutex_unlock(&f->lock);
	return 0;
}
FK_LOCKED(rss_all, (void *impl, struct mo_krss **o, size_t *n), (impl, o, n))
FK_LOCKED(rss_delete, (void *impl, uint32_t pid), (impl, pid))
FK_LOCKED(target_set, (void *impl, uint32_t pid, uint32_t flags), (impl, pid, flags))
FK_LOCKED(target_delete, (void *impl, uint32_t pid), (impl, pid))
FK_LOCKED(growth_all, (void *impl, struct mo_kgrowth **o, size_t *n), (impl, o, n))
FK_LOCKED(growth_delete, (void *impl, const struct mo_growth_key *k), (impl, k))

static void fkl_counters(void *impl, uint64_t v[MO_C__COUNT])
{
	struct fake_kernel *f = impl;

	pthread_mutex_lock(&f->lock);
	fk_counters(impl, v);
	pthread_mutex_unlock(&f->lock);
}

static const struct mo_kernel_ops fake_ops = {
	.allocs = fkl_allocs,
	.alloc_delete = fkl_alloc_delete,
	.proc = fkl_proc,
	.procs = fkl_procs,
	.proc_delete = fkl_proc_delete,
	.stack = fkl_stack,
	.stack_ids = fkl_stack_ids,
	.stack_delete = fkl_stack_delete,
	.stack_stats = fkl_stack_stats,
	.stack_stats_keys = fkl_stack_stats_keys,
	.stack_stats_delete = fkl_stack_stats_delete,
	.proc_maps = fkl_proc_maps,
	.proc_maps_delete = fkl_proc_maps_delete,
	.module_ask_again = fkl_module_ask_again,
	.module_no_rows = fkl_module_no_rows,
	.rows_epoch_set = fkl_rows_epoch_set,
	.rss_all = fkl_rss_all,
	.rss_delete = fkl_rss_delete,
	.target_set = fkl_target_set,
	.target_delete = fkl_target_delete,
	.growth_all = fkl_growth_all,
	.growth_delete = fkl_growth_delete,
	.counters = fkl_counters,
};

/* A fresh fake kernel (calloc'ed: big). */
static inline struct fake_kernel *fake_kernel_new(void)
{
	struct fake_kernel *f = calloc(1, sizeof(*f));

	if (f) {
		f->k.ops = &fake_ops;
		f->k.impl = f;
		pthread_mutex_init(&f->lock, NULL);
	}
	return f;
}

static inline void fake_kernel_free(struct fake_kernel *f)
{
	if (f) {
		free(f->maps);
		pthread_mutex_destroy(&f->lock);
	}
	free(f);
}

/* Test helpers: fill the maps. */
static inline void fk_add_alloc(struct fake_kernel *f, uint32_t tgid, uint32_t gen, uint64_t addr,
				uint64_t size, uint64_t ts, uint64_t stack_id)
{
	f->allocs[f->nallocs++] = (struct mo_alloc_rec){ .tgid = tgid, .gen = gen, .addr = addr,
							 .size = size, .ts_ns = ts,
							 .stack_id = stack_id,
							 .weight = MO_WEIGHT_ONE };
}

static inline void fk_add_proc(struct fake_kernel *f, uint32_t pid, uint32_t gen, uint64_t allocs,
			       uint64_t frees)
{
	f->procs[f->nprocs].pid = pid;
	memset(&f->procs[f->nprocs].st, 0, sizeof(f->procs[0].st));
	f->procs[f->nprocs].st.gen = gen;
	f->procs[f->nprocs].st.allocs = allocs;
	f->procs[f->nprocs].st.frees = frees;
	f->nprocs++;
}

static inline void fk_add_stack(struct fake_kernel *f, uint64_t id, size_t nips,
				const uint64_t *ips)
{
	f->stacks[f->nstacks].id = id;
	memset(&f->stacks[f->nstacks].st, 0, sizeof(f->stacks[0].st));
	f->stacks[f->nstacks].st.nr = (uint32_t)nips;
	memcpy(f->stacks[f->nstacks].st.ips, ips, nips * sizeof(*ips));
	f->nstacks++;
}

static inline void fk_add_stack_stats(struct fake_kernel *f, uint32_t tgid, uint64_t id,
				      uint64_t allocs, uint64_t frees)
{
	f->sstats[f->nsstats].k = (struct mo_stack_key){ .tgid = tgid, .stack_id = id };
	/* not sampled: each record stands for itself */
	f->sstats[f->nsstats].v = (struct mo_stack_stats){ .allocs = allocs, .frees = frees,
							   .est_allocs = allocs * MO_WEIGHT_ONE };
	f->nsstats++;
}

/* Set (or add) the growth of (tgid, gen, stack) to bytes. */
static inline void fk_set_growth(struct fake_kernel *f, uint32_t tgid, uint32_t gen,
				 uint64_t stack_id, uint64_t bytes)
{
	struct mo_growth_key k = { .tgid = tgid, .gen = gen, .stack_id = stack_id };
	size_t i;

	for (i = 0; i < f->ngrowth; i++)
		if (!memcmp(&f->growth[i].k, &k, sizeof(k)))
			break;
	if (i == f->ngrowth) {
		memset(&f->growth[i], 0, sizeof(f->growth[i]));
		f->growth[i].k = k;
		f->ngrowth++;
	}
	f->growth[i].g.bytes = bytes;
	f->growth[i].g.samples = bytes >> 17;
}

#endif
