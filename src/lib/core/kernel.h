/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kernel.h - the kernel side as the core sees it: typed readers and writers
 * of the BPF maps (struct mo_kernel, a table of functions so the stages can
 * be driven by a fake in unit tests), and the real one (struct mo_bpf:
 * load, attach, ring buffer), the only user of the skeleton.
 *
 * Every reader returns 0 or -errno (-ENOENT: no such entry); the batch
 * readers hand out a malloc'ed array the caller frees. The functions may be
 * called from any thread: the kernel serializes map access.
 */
#ifndef MO_CORE_KERNEL_H
#define MO_CORE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "abi.h"
#include "analysis.h"

struct mo_kproc {
	uint32_t pid;
	struct mo_proc_stats st;
};

struct mo_krss {
	uint32_t pid;
	struct mo_rss rss;
};

struct mo_kgrowth {
	struct mo_growth_key k;
	struct mo_growth g;
};

struct mo_kernel_ops {
	int (*allocs)(void *impl, struct mo_alloc_rec **out, size_t *n);
	int (*alloc_delete)(void *impl, const struct mo_alloc_key *k);
	int (*proc)(void *impl, uint32_t pid, struct mo_proc_stats *out);
	int (*procs)(void *impl, struct mo_kproc **out, size_t *n);
	int (*proc_delete)(void *impl, uint32_t pid);
	int (*stack)(void *impl, uint64_t id, struct mo_stack *out);
	int (*stack_ids)(void *impl, uint64_t **out, size_t *n);
	int (*stack_delete)(void *impl, uint64_t id);
	int (*stack_stats)(void *impl, const struct mo_stack_key *k, struct mo_stack_stats *out);
	int (*stack_stats_keys)(void *impl, struct mo_stack_key **out, size_t *n);
	int (*stack_stats_delete)(void *impl, const struct mo_stack_key *k);
	int (*proc_maps)(void *impl, uint32_t pid, struct mo_proc_maps *out);
	int (*proc_maps_delete)(void *impl, uint32_t pid);
	int (*module_ask_again)(void *impl, uint64_t dev, uint64_t ino);
	/* optional: the walker may guess through the file (it has no rows) */
	int (*module_no_rows)(void *impl, uint64_t dev, uint64_t ino);
	int (*rows_epoch_set)(void *impl, uint32_t epoch);
	int (*rss_all)(void *impl, struct mo_krss **out, size_t *n);
	int (*rss_delete)(void *impl, uint32_t pid);
	int (*target_set)(void *impl, uint32_t pid, uint32_t flags);
	int (*target_delete)(void *impl, uint32_t pid);
	int (*growth_all)(void *impl, struct mo_kgrowth **out, size_t *n);
	int (*growth_delete)(void *impl, const struct mo_growth_key *k);
	/* every counter of enum mo_counter, summed over the CPUs */
	void (*counters)(void *impl, uint64_t v[MO_C__COUNT]);
	/* one of them (optional: else read through counters) */
	uint64_t (*counter)(void *impl, enum mo_counter c);
};

struct mo_kernel {
	const struct mo_kernel_ops *ops;
	void *impl;
};

static inline int mo_kernel_allocs(const struct mo_kernel *k, struct mo_alloc_rec **out, size_t *n)
{
	return k->ops->allocs(k->impl, out, n);
}

static inline int mo_kernel_alloc_delete(const struct mo_kernel *k, uint32_t tgid, uint32_t gen,
					 uint64_t addr)
{
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = addr };

	return k->ops->alloc_delete(k->impl, &key);
}

static inline int mo_kernel_proc(const struct mo_kernel *k, uint32_t pid,
				 struct mo_proc_stats *out)
{
	return k->ops->proc(k->impl, pid, out);
}

static inline int mo_kernel_procs(const struct mo_kernel *k, struct mo_kproc **out, size_t *n)
{
	return k->ops->procs(k->impl, out, n);
}

static inline int mo_kernel_proc_delete(const struct mo_kernel *k, uint32_t pid)
{
	return k->ops->proc_delete(k->impl, pid);
}

static inline int mo_kernel_stack(const struct mo_kernel *k, uint64_t id, struct mo_stack *out)
{
	return k->ops->stack(k->impl, id, out);
}

static inline int mo_kernel_stack_ids(const struct mo_kernel *k, uint64_t **out, size_t *n)
{
	return k->ops->stack_ids(k->impl, out, n);
}

static inline int mo_kernel_stack_delete(const struct mo_kernel *k, uint64_t id)
{
	return k->ops->stack_delete(k->impl, id);
}

static inline int mo_kernel_stack_stats(const struct mo_kernel *k, uint32_t tgid, uint64_t id,
					struct mo_stack_stats *out)
{
	struct mo_stack_key key = { .tgid = tgid, .stack_id = id };

	return k->ops->stack_stats(k->impl, &key, out);
}

static inline int mo_kernel_stack_stats_keys(const struct mo_kernel *k, struct mo_stack_key **out,
					     size_t *n)
{
	return k->ops->stack_stats_keys(k->impl, out, n);
}

static inline int mo_kernel_stack_stats_delete(const struct mo_kernel *k,
					       const struct mo_stack_key *key)
{
	return k->ops->stack_stats_delete(k->impl, key);
}

static inline int mo_kernel_proc_maps(const struct mo_kernel *k, uint32_t pid,
				      struct mo_proc_maps *out)
{
	return k->ops->proc_maps(k->impl, pid, out);
}

static inline int mo_kernel_proc_maps_delete(const struct mo_kernel *k, uint32_t pid)
{
	return k->ops->proc_maps_delete(k->impl, pid);
}

/* The walker asks for (dev, ino)'s unwind rows again the next time it
 * meets the file (its first request could not be served). */
static inline int mo_kernel_module_ask_again(const struct mo_kernel *k, uint64_t dev, uint64_t ino)
{
	return k->ops->module_ask_again(k->impl, dev, ino);
}

/* (dev, ino) will get no rows (no CFI, refused, too large): the walker
 * steps through it by the frame-pointer guess instead of stopping there. */
static inline int mo_kernel_module_no_rows(const struct mo_kernel *k, uint64_t dev, uint64_t ino)
{
	return k->ops->module_no_rows ? k->ops->module_no_rows(k->impl, dev, ino) : 0;
}

/* Row indexes the walker cached under an older epoch are stale: modules
 * were evicted, their rows are about to be reused. */
static inline int mo_kernel_rows_epoch_set(const struct mo_kernel *k, uint32_t epoch)
{
	return k->ops->rows_epoch_set(k->impl, epoch);
}

static inline int mo_kernel_rss_all(const struct mo_kernel *k, struct mo_krss **out, size_t *n)
{
	return k->ops->rss_all(k->impl, out, n);
}

static inline int mo_kernel_rss_delete(const struct mo_kernel *k, uint32_t pid)
{
	return k->ops->rss_delete(k->impl, pid);
}

static inline int mo_kernel_target_set(const struct mo_kernel *k, uint32_t pid, uint32_t flags)
{
	return k->ops->target_set(k->impl, pid, flags);
}

static inline int mo_kernel_target_delete(const struct mo_kernel *k, uint32_t pid)
{
	return k->ops->target_delete(k->impl, pid);
}

static inline int mo_kernel_growth_all(const struct mo_kernel *k, struct mo_kgrowth **out,
				       size_t *n)
{
	return k->ops->growth_all(k->impl, out, n);
}

static inline int mo_kernel_growth_delete(const struct mo_kernel *k, const struct mo_growth_key *key)
{
	return k->ops->growth_delete(k->impl, key);
}

static inline void mo_kernel_counters(const struct mo_kernel *k, uint64_t v[MO_C__COUNT])
{
	k->ops->counters(k->impl, v);
}

static inline uint64_t mo_kernel_counter(const struct mo_kernel *k, enum mo_counter c)
{
	uint64_t v[MO_C__COUNT];

	if (k->ops->counter)
		return k->ops->counter(k->impl, c);
	k->ops->counters(k->impl, v);
	return v[c];
}

/* ------------------------------------------------------- the real kernel */

struct mo_bpf;
struct bpf_program;
struct mo_attach_progs;

struct mo_bpf_params {
	bool system_wide;
	bool session;			/* session uprobes (kernel 6.13+) */
	bool heap_probes;		/* allocator probes will be attached */
	bool count_hits;		/* per-process probe hits (overhead budget) */
	bool calibrate;			/* load the calibration programs */
	bool rss_stat;			/* kmem:rss_stat is there */
	bool track_growth;		/* watch tier: RSS growth per stack */
	uint64_t growth_min_age_ns;	/* ... of processes at least this old */
	bool track_mmaps;		/* anonymous mmaps as tracked blocks */
	uint32_t self_tgid;
	uint64_t min_size;
	uint32_t sample_rate;
	uint64_t sample_bytes;		/* byte sampling's mean, 0 = off */
	uint32_t max_depth;
	uint64_t large_size;
	uint64_t target_cgroup;
	int target_v1_ssid;
	uint32_t max_allocations;
	uint32_t max_stacks;
	uint32_t unwind_rows;
	uint32_t ring_buffer_size;
	/* libbpf's messages while loading, at debug level (NULL: dropped) */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

/* Open and load the BPF object. NULL with errno set. */
struct mo_bpf *mo_bpf_load(const struct mo_bpf_params *p);

/* Attach the tracepoints (syscalls, processes, rss_stat, OOM). 0 or -errno. */
int mo_bpf_attach(struct mo_bpf *b);

/* Detach the tracepoints. */
void mo_bpf_detach(struct mo_bpf *b);

/* Free; accepts NULL. */
void mo_bpf_free(struct mo_bpf *b);

/* The map readers of this object. */
const struct mo_kernel *mo_bpf_kernel(struct mo_bpf *b);

/*
 * The ring buffer of kernel records: fn is called for each record (as
 * libbpf's ring_buffer_sample_fn). 0 or -errno.
 */
int mo_bpf_records_open(struct mo_bpf *b, int (*fn)(void *ctx, void *data, size_t size),
			void *ctx);
int mo_bpf_records_fd(struct mo_bpf *b);
/* Handle what is in the ring buffer now; the number of records, or -errno. */
int mo_bpf_records_consume(struct mo_bpf *b);

/* Descriptors and programs the other parts need. */
int mo_bpf_rows_fd(struct mo_bpf *b);
int mo_bpf_modules_fd(struct mo_bpf *b);
int mo_bpf_procs_fd(struct mo_bpf *b);
volatile uint32_t *mo_bpf_shed_gen(struct mo_bpf *b);
void mo_bpf_progs(struct mo_bpf *b, struct mo_attach_progs *out);
struct bpf_program *mo_bpf_calib_enter(struct mo_bpf *b);
struct bpf_program *mo_bpf_calib_exit(struct mo_bpf *b);

#endif
