// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_snapshot.c - the kernel side's tables read from user space: the
 * allocation table in batches, and a counter summed over the CPUs.
 */
#include <errno.h>
#include <stdlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "abi.h"
#include "analysis.h"
#include "observer_int.h"

#define BATCH 4096

int obs_snapshot(struct mo_observer *o, struct mo_alloc_rec **out, size_t *n)
{
	int fd = bpf_map__fd(o->skel->maps.allocs);
	struct mo_alloc_key *keys = malloc(BATCH * sizeof(*keys));
	struct mo_alloc_info *vals = malloc(BATCH * sizeof(*vals));
	struct mo_alloc_rec *recs = NULL;
	size_t nr = 0, cap = 0;
	__u64 batch = 0;
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					     NULL);
		int done = r < 0 && errno == ENOENT;

		if (r < 0 && !done) {
			err = -errno;
			goto out;
		}
		first = false;
		if (obs_grow((void **)&recs, &cap, nr + count, sizeof(*recs))) {
			err = -ENOMEM;
			goto out;
		}
		for (__u32 i = 0; i < count; i++) {
			struct mo_alloc_rec *r2 = &recs[nr++];

			r2->tgid = keys[i].tgid;
			r2->gen = keys[i].gen;
			r2->addr = keys[i].addr;
			r2->size = vals[i].size;
			r2->ts_ns = vals[i].ts_ns;
			r2->stack_id = vals[i].stack_id;
			r2->kind = vals[i].kind;
			r2->weight = vals[i].sample_weight ? vals[i].sample_weight : 1;
		}
		if (done)
			break;
	}
out:
	free(keys);
	free(vals);
	if (err) {
		free(recs);
		return err;
	}
	*out = recs;
	*n = nr;
	return 0;
}

/* Kernel counter k (enum mo_counter), summed over the CPUs. */
uint64_t obs_counter_value(struct mo_observer *o, __u32 k)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*vals)) : NULL;
	uint64_t v = 0;

	if (vals && !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.counters), &k, vals))
		for (int i = 0; i < ncpu; i++)
			v += vals[i];
	free(vals);
	return v;
}
