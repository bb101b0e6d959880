// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kernel.c - the real kernel side (kernel.h): the BPF object loaded from
 * the skeleton, its tracepoints, its ring buffer, and the typed map readers
 * the core uses. The only file that includes the skeleton.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "core/kernel.h"
#include "memobserver.skel.h"
#include "sampling.h"
#include "util.h"

#define BATCH 4096

struct mo_bpf {
	struct memobserver_bpf *skel;
	struct ring_buffer *rb;
	struct mo_kernel k;
	bool session;
	int ncpu;
};

/* ----------------------------------------------------------- map readers */

static int fd_of(void *impl, int which)
{
	struct mo_bpf *b = impl;

	switch (which) {
	case 0: return bpf_map__fd(b->skel->maps.allocs);
	case 1: return bpf_map__fd(b->skel->maps.procs);
	case 2: return bpf_map__fd(b->skel->maps.stacks);
	case 3: return bpf_map__fd(b->skel->maps.stack_stats);
	case 4: return bpf_map__fd(b->skel->maps.proc_maps);
	case 5: return bpf_map__fd(b->skel->maps.rss);
	case 6: return bpf_map__fd(b->skel->maps.targets);
	case 7: return bpf_map__fd(b->skel->maps.growth);
	case 8: return bpf_map__fd(b->skel->maps.unknown_modules);
	default: return bpf_map__fd(b->skel->maps.counters);
	}
}

enum { M_ALLOCS, M_PROCS, M_STACKS, M_STACK_STATS, M_PROC_MAPS, M_RSS, M_TARGETS, M_GROWTH,
       M_UNKNOWN_MODULES };

static int lookup(void *impl, int map, const void *key, void *val)
{
	return bpf_map_lookup_elem(fd_of(impl, map), key, val) ? -errno : 0;
}

static int delete(void *impl, int map, const void *key)
{
	return bpf_map_delete_elem(fd_of(impl, map), key) ? -errno : 0;
}

/*
 * Every (key, value) of a hash map into an array of elements of size esz,
 * the key at offset 0 (ksz bytes), the value (vsz bytes, 0: none) at voff.
 * A walk of the keys: the slow path, for key-only reads and for kernels
 * without batch lookups.
 */
static int walk(int fd, size_t ksz, size_t vsz, size_t esz, size_t voff, char **out, size_t *n)
{
	char *arr = NULL, key[64], val[sizeof(struct mo_proc_maps)];
	const void *prev = NULL;
	size_t nr = 0, cap = 0;

	if (ksz > sizeof(key) || vsz > sizeof(val))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, prev, key) == 0) {
		if (mo_grow((void **)&arr, &cap, nr + 1, esz)) {
			free(arr);
			return -ENOMEM;
		}
		memcpy(arr + nr * esz, key, ksz);
		prev = arr + nr * esz;
		if (vsz && bpf_map_lookup_elem(fd, key, val))
			continue;	/* deleted meanwhile: go on from its key */
		if (vsz)
			memcpy(arr + nr * esz + voff, val, vsz);
		nr++;
	}
	*out = arr;
	*n = nr;
	return 0;
}

static int dump(void *impl, int map, size_t ksz, size_t vsz, size_t esz, size_t voff,
		void **out, size_t *n)
{
	int fd = fd_of(impl, map);
	char *keys = NULL, *vals = NULL, *arr = NULL;
	size_t nr = 0, cap = 0;
	__u64 batch = 0;
	bool first = true;
	int err = 0;

	if (!vsz)
		return walk(fd, ksz, 0, esz, 0, (char **)out, n);
	keys = malloc(BATCH * ksz);
	vals = malloc(BATCH * vsz);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					     NULL);
		bool done = r < 0 && errno == ENOENT;

		if (r < 0 && !done) {
			err = -errno;
			if (first && err == -EINVAL) {
				free(arr);
				arr = NULL;
				err = walk(fd, ksz, vsz, esz, voff, &arr, &nr);
			}
			goto out;
		}
		first = false;
		if (mo_grow((void **)&arr, &cap, nr + count, esz)) {
			err = -ENOMEM;
			goto out;
		}
		for (__u32 i = 0; i < count; i++, nr++) {
			memcpy(arr + nr * esz, keys + i * ksz, ksz);
			memcpy(arr + nr * esz + voff, vals + i * vsz, vsz);
		}
		if (done)
			break;
	}
out:
	free(keys);
	free(vals);
	if (err) {
		free(arr);
		return err;
	}
	*out = arr;
	*n = nr;
	return 0;
}

/* Sum of counter c over the CPUs (0 when it cannot be read). */
static uint64_t counter_sum(struct mo_bpf *b, int fd, __u32 c, __u64 *vals)
{
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(fd, &c, vals))
		return 0;
	for (int i = 0; i < b->ncpu; i++)
		sum += vals[i];
	return sum;
}

static uint64_t k_counter(void *impl, enum mo_counter c)
{
	struct mo_bpf *b = impl;
	__u64 *vals = b->ncpu > 0 ? calloc((size_t)b->ncpu, sizeof(*vals)) : NULL;
	uint64_t sum = vals ? counter_sum(b, bpf_map__fd(b->skel->maps.counters), c, vals) : 0;

	free(vals);
	return sum;
}

/*
 * Has no block ever been tracked? Then the allocation and per-stack tables
 * are empty: every entry of either was first a tracked block (the re-inserts
 * of realloc, munmap and mremap put back one that was). The watch tier, which
 * tracks none until an escalation, does not pay a walk of every bucket of
 * both at each batch of exits.
 */
static bool nothing_tracked(void *impl)
{
	return !k_counter(impl, MO_C_ALLOCS_TRACKED) && !k_counter(impl, MO_C_MMAPS_TRACKED);
}

struct alloc_kv {
	struct mo_alloc_key k;
	struct mo_alloc_info v;
};

/* What a record stands for * MO_WEIGHT_ONE, as the kernel side's
 * record_weight: under byte sampling a heap block's weight follows from its
 * size (the tables the BPF object was loaded with). */
static uint64_t record_weight(const struct mo_bpf *b, const struct mo_alloc_info *v)
{
	const struct memobserver_bpf__rodata *ro = b->skel->rodata;

	if (ro->sample_bytes && v->kind == MO_KIND_HEAP)
		return mo_sample_weight(ro->sample_gtab, v->size, ro->sample_bytes);
	return (uint64_t)(v->sample_weight ? v->sample_weight : 1) << MO_WEIGHT_SHIFT;
}

static int k_allocs(void *impl, struct mo_alloc_rec **out, size_t *n)
{
	struct alloc_kv *kv = NULL;
	struct mo_alloc_rec *recs;
	size_t nr = 0;
	int err;

	if (nothing_tracked(impl))
		goto out;
	err = dump(impl, M_ALLOCS, sizeof(kv->k), sizeof(kv->v), sizeof(*kv),
		   offsetof(struct alloc_kv, v), (void **)&kv, &nr);
	if (err)
		return err;
out:
	recs = malloc((nr ? nr : 1) * sizeof(*recs));
	if (!recs) {
		free(kv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr; i++) {
		recs[i] = (struct mo_alloc_rec){
			.tgid = kv[i].k.tgid,
			.gen = kv[i].k.gen,
			.addr = kv[i].k.addr,
			.size = kv[i].v.size,
			.ts_ns = kv[i].v.ts_ns,
			.stack_id = kv[i].v.stack_id,
			.kind = kv[i].v.kind,
			.weight = record_weight(impl, &kv[i].v),
		};
	}
	free(kv);
	*out = recs;
	*n = nr;
	return 0;
}

static int k_alloc_delete(void *impl, const struct mo_alloc_key *k)
{
	return delete(impl, M_ALLOCS, k);
}

static int k_proc(void *impl, uint32_t pid, struct mo_proc_stats *out)
{
	return lookup(impl, M_PROCS, &pid, out);
}

static int k_procs(void *impl, struct mo_kproc **out, size_t *n)
{
	return dump(impl, M_PROCS, sizeof(uint32_t), sizeof(struct mo_proc_stats),
		    sizeof(struct mo_kproc), offsetof(struct mo_kproc, st), (void **)out, n);
}

static int k_proc_delete(void *impl, uint32_t pid)
{
	return delete(impl, M_PROCS, &pid);
}

static int k_stack(void *impl, uint64_t id, struct mo_stack *out)
{
	return lookup(impl, M_STACKS, &id, out);
}

static int k_stack_ids(void *impl, uint64_t **out, size_t *n)
{
	return dump(impl, M_STACKS, sizeof(uint64_t), 0, sizeof(uint64_t), 0, (void **)out, n);
}

static int k_stack_delete(void *impl, uint64_t id)
{
	return delete(impl, M_STACKS, &id);
}

static int k_stack_stats(void *impl, const struct mo_stack_key *k, struct mo_stack_stats *out)
{
	return lookup(impl, M_STACK_STATS, k, out);
}

static int k_stack_stats_keys(void *impl, struct mo_stack_key **out, size_t *n)
{
	if (nothing_tracked(impl)) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	return dump(impl, M_STACK_STATS, sizeof(struct mo_stack_key), 0,
		    sizeof(struct mo_stack_key), 0, (void **)out, n);
}

static int k_stack_stats_delete(void *impl, const struct mo_stack_key *k)
{
	return delete(impl, M_STACK_STATS, k);
}

static int k_proc_maps(void *impl, uint32_t pid, struct mo_proc_maps *out)
{
	return lookup(impl, M_PROC_MAPS, &pid, out);
}

static int k_proc_maps_delete(void *impl, uint32_t pid)
{
	return delete(impl, M_PROC_MAPS, &pid);
}

static int k_module_ask_again(void *impl, uint64_t dev, uint64_t ino)
{
	struct mo_module_key key = { .dev = dev, .ino = ino };

	return delete(impl, M_UNKNOWN_MODULES, &key);
}

static int k_module_no_rows(void *impl, uint64_t dev, uint64_t ino)
{
	struct mo_module_key key = { .dev = dev, .ino = ino };
	__u64 v = MO_MODULE_NO_ROWS;

	return bpf_map_update_elem(fd_of(impl, M_UNKNOWN_MODULES), &key, &v, BPF_ANY) ? -errno : 0;
}

static int k_rows_epoch_set(void *impl, uint32_t epoch)
{
	struct mo_bpf *b = impl;

	/* after the module entries went (syscalls): a walk that sees the new
	 * epoch finds none of them */
	__atomic_store_n(&b->skel->bss->rows_epoch, epoch, __ATOMIC_SEQ_CST);
	return 0;
}

static int k_rss_all(void *impl, struct mo_krss **out, size_t *n)
{
	return dump(impl, M_RSS, sizeof(uint32_t), sizeof(struct mo_rss), sizeof(struct mo_krss),
		    offsetof(struct mo_krss, rss), (void **)out, n);
}

static int k_rss_delete(void *impl, uint32_t pid)
{
	return delete(impl, M_RSS, &pid);
}

static int k_target_set(void *impl, uint32_t pid, uint32_t flags)
{
	return bpf_map_update_elem(fd_of(impl, M_TARGETS), &pid, &flags, BPF_ANY) ? -errno : 0;
}

static int k_target_delete(void *impl, uint32_t pid)
{
	return delete(impl, M_TARGETS, &pid);
}

static int k_growth_all(void *impl, struct mo_kgrowth **out, size_t *n)
{
	return dump(impl, M_GROWTH, sizeof(struct mo_growth_key), sizeof(struct mo_growth),
		    sizeof(struct mo_kgrowth), offsetof(struct mo_kgrowth, g), (void **)out, n);
}

static int k_growth_delete(void *impl, const struct mo_growth_key *k)
{
	return delete(impl, M_GROWTH, k);
}

static void k_counters(void *impl, uint64_t v[MO_C__COUNT])
{
	struct mo_bpf *b = impl;
	__u64 *vals = b->ncpu > 0 ? calloc((size_t)b->ncpu, sizeof(*vals)) : NULL;
	int fd = bpf_map__fd(b->skel->maps.counters);

	memset(v, 0, MO_C__COUNT * sizeof(*v));
	for (__u32 k = 0; vals && k < MO_C__COUNT; k++)
		v[k] = counter_sum(b, fd, k, vals);
	free(vals);
}

static const struct mo_kernel_ops bpf_ops = {
	.allocs = k_allocs,
	.alloc_delete = k_alloc_delete,
	.proc = k_proc,
	.procs = k_procs,
	.proc_delete = k_proc_delete,
	.stack = k_stack,
	.stack_ids = k_stack_ids,
	.stack_delete = k_stack_delete,
	.stack_stats = k_stack_stats,
	.stack_stats_keys = k_stack_stats_keys,
	.stack_stats_delete = k_stack_stats_delete,
	.proc_maps = k_proc_maps,
	.proc_maps_delete = k_proc_maps_delete,
	.module_ask_again = k_module_ask_again,
	.module_no_rows = k_module_no_rows,
	.rows_epoch_set = k_rows_epoch_set,
	.rss_all = k_rss_all,
	.rss_delete = k_rss_delete,
	.target_set = k_target_set,
	.target_delete = k_target_delete,
	.growth_all = k_growth_all,
	.growth_delete = k_growth_delete,
	.counters = k_counters,
	.counter = k_counter,
};

/* ------------------------------------------------------------- lifecycle */

/* libbpf's print hook has no context pointer: while mo_bpf_load runs, the
 * caller's logger is kept here for this thread, and cleared on return. */
static __thread void (*load_log)(void *ctx, const char *msg);
static __thread void *load_log_ctx;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[65536];
	size_t n;

	if (!load_log || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	load_log(load_log_ctx, buf);
	return 0;
}

static int open_and_load(struct mo_bpf *b, const struct mo_bpf_params *p)
{
	struct memobserver_bpf *s = memobserver_bpf__open();
	int err;

	if (!s)
		return -errno;
	s->rodata->self_tgid = p->self_tgid;
	s->rodata->trace_all = p->system_wide;
	s->rodata->min_size = p->min_size;
	s->rodata->sample_rate = p->sample_rate;
	s->rodata->sample_bytes = p->sample_bytes;
	if (p->sample_bytes)
		mo_sample_tables_init(s->rodata->sample_log2tab, s->rodata->sample_gtab);
	s->rodata->max_depth = p->max_depth;
	s->rodata->session_mode = p->session;
	s->rodata->large_size = p->large_size;
	s->rodata->target_cgroup = p->target_cgroup;
	s->rodata->target_v1_ssid = p->target_v1_ssid;
	s->rodata->count_hits = p->count_hits;
	s->rodata->track_growth = p->track_growth;
	s->rodata->growth_min_age_ns = p->growth_min_age_ns;
	s->rodata->track_mmaps = p->track_mmaps;
	bpf_map__set_max_entries(s->maps.allocs, p->max_allocations);
	bpf_map__set_max_entries(s->maps.stacks, p->max_stacks);
	bpf_map__set_max_entries(s->maps.stack_stats, p->max_stacks);
	bpf_map__set_max_entries(s->maps.growth, p->max_stacks);
	bpf_map__set_max_entries(s->maps.rows, p->unwind_rows);
	bpf_map__set_max_entries(s->maps.records, p->ring_buffer_size);
	bpf_program__set_autoattach(s->progs.alloc_session, false);
	bpf_program__set_autoattach(s->progs.alloc_enter, false);
	bpf_program__set_autoattach(s->progs.alloc_exit, false);
	bpf_program__set_autoattach(s->progs.calib_enter, false);
	bpf_program__set_autoattach(s->progs.calib_exit, false);
	if (!p->calibrate) {
		bpf_program__set_autoload(s->progs.calib_enter, false);
		bpf_program__set_autoload(s->progs.calib_exit, false);
	}
	if (!p->rss_stat)
		bpf_program__set_autoload(s->progs.rss_stat, false);
	if (p->session) {
		bpf_program__set_expected_attach_type(
			s->progs.alloc_session, (enum bpf_attach_type)MO_BPF_TRACE_UPROBE_SESSION);
		bpf_program__set_autoload(s->progs.alloc_enter, false);
		bpf_program__set_autoload(s->progs.alloc_exit, false);
	} else {
		bpf_program__set_autoload(s->progs.alloc_session, false);
	}
	err = memobserver_bpf__load(s);
	if (err) {
		memobserver_bpf__destroy(s);
		return err;
	}
	b->skel = s;
	b->session = p->session;
	return 0;
}

struct mo_bpf *mo_bpf_load(const struct mo_bpf_params *p)
{
	struct mo_bpf *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return NULL;
	libbpf_set_print(libbpf_log);
	load_log = p->log;
	load_log_ctx = p->log_ctx;
	err = open_and_load(b, p);
	load_log = NULL;
	load_log_ctx = NULL;
	if (err) {
		free(b);
		errno = -err;
		return NULL;
	}
	b->ncpu = libbpf_num_possible_cpus();
	b->k.ops = &bpf_ops;
	b->k.impl = b;
	return b;
}

int mo_bpf_attach(struct mo_bpf *b)
{
	return memobserver_bpf__attach(b->skel);
}

void mo_bpf_detach(struct mo_bpf *b)
{
	if (b)
		memobserver_bpf__detach(b->skel);
}

void mo_bpf_free(struct mo_bpf *b)
{
	if (!b)
		return;
	ring_buffer__free(b->rb);
	memobserver_bpf__destroy(b->skel);
	free(b);
}

const struct mo_kernel *mo_bpf_kernel(struct mo_bpf *b)
{
	return &b->k;
}

int mo_bpf_records_open(struct mo_bpf *b, int (*fn)(void *ctx, void *data, size_t size),
			void *ctx)
{
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.records), fn, ctx, NULL);
	return b->rb ? 0 : -errno;
}

int mo_bpf_records_fd(struct mo_bpf *b)
{
	return ring_buffer__epoll_fd(b->rb);
}

int mo_bpf_records_consume(struct mo_bpf *b)
{
	return b->rb ? ring_buffer__consume(b->rb) : 0;
}

int mo_bpf_rows_fd(struct mo_bpf *b)
{
	return bpf_map__fd(b->skel->maps.rows);
}

int mo_bpf_modules_fd(struct mo_bpf *b)
{
	return bpf_map__fd(b->skel->maps.modules);
}

int mo_bpf_procs_fd(struct mo_bpf *b)
{
	return bpf_map__fd(b->skel->maps.procs);
}

volatile uint32_t *mo_bpf_shed_gen(struct mo_bpf *b)
{
	return &b->skel->bss->shed_gen;
}

void mo_bpf_progs(struct mo_bpf *b, struct mo_attach_progs *out)
{
	out->session_prog = b->skel->progs.alloc_session;
	out->enter = b->skel->progs.alloc_enter;
	out->exit = b->skel->progs.alloc_exit;
	out->session = b->session;
}

struct bpf_program *mo_bpf_calib_enter(struct mo_bpf *b)
{
	return b->skel->progs.calib_enter;
}

struct bpf_program *mo_bpf_calib_exit(struct mo_bpf *b)
{
	return b->skel->progs.calib_exit;
}
