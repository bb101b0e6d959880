// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * analysis.c - one pass over an allocation-table snapshot: records old
 * enough are grouped by (tgid, stack_id) in an open-addressing hash table,
 * then the groups are ranked. Cost is O(records + groups log groups).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "sampling.h"

struct grouper {
	size_t *slots;			/* group index + 1; 0 = empty */
	size_t mask;			/* slot count - 1 (power of two) */
	struct mo_leak_group *g;
	size_t nr;
	size_t cap;
};

/* Totals saturate rather than wrap: a huge wrong number beats a small one. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* The bytes a record of size bytes and weight w stands for: size * w /
 * MO_WEIGHT_ONE rounded down, as the kernel's mo_sample_bytes, saturated. */
static uint64_t weighted_bytes(uint64_t size, uint64_t w)
{
	unsigned __int128 p = (unsigned __int128)size * w >> MO_WEIGHT_SHIFT;

	return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

/* A sum of weights in blocks, to the nearest. */
static uint64_t blocks(uint64_t weight_sum)
{
	return weight_sum / MO_WEIGHT_ONE + (weight_sum % MO_WEIGHT_ONE >= MO_WEIGHT_ONE / 2);
}

/* splitmix64's finaliser: stack ids are hashes already, tgids are not. */
static uint64_t key_hash(uint32_t tgid, uint64_t stack_id)
{
	uint64_t x = stack_id ^ ((uint64_t)tgid * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static size_t *find_slot(size_t *slots, size_t mask,
			 const struct mo_leak_group *g, uint32_t tgid,
			 uint64_t stack_id)
{
	size_t i = key_hash(tgid, stack_id) & mask;

	for (;; i = (i + 1) & mask) {
		size_t s = slots[i];

		if (!s || (g[s - 1].tgid == tgid && g[s - 1].stack_id == stack_id))
			return &slots[i];
	}
}

/* Keep the load factor at most 1/2 so probes stay short. */
static int grow_slots(struct grouper *gr)
{
	size_t nslots = (gr->mask + 1) * 2;
	size_t *slots;

	if (nslots == 0 || nslots > SIZE_MAX / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t k = 0; k < gr->nr; k++)
		*find_slot(slots, nslots - 1, gr->g, gr->g[k].tgid,
			   gr->g[k].stack_id) = k + 1;
	free(gr->slots);
	gr->slots = slots;
	gr->mask = nslots - 1;
	return 0;
}

static struct mo_leak_group *lookup_or_add(struct grouper *gr, uint32_t tgid,
					   uint64_t stack_id)
{
	struct mo_leak_group *g;
	size_t *slot;

	slot = find_slot(gr->slots, gr->mask, gr->g, tgid, stack_id);
	if (*slot)
		return &gr->g[*slot - 1];
	if (gr->nr == gr->cap) {
		size_t cap = gr->cap * 2;

		if (cap > SIZE_MAX / sizeof(*g))
			return NULL;
		g = realloc(gr->g, cap * sizeof(*g));
		if (!g)
			return NULL;
		gr->g = g;
		gr->cap = cap;
	}
	if ((gr->nr + 1) * 2 > gr->mask + 1) {
		if (grow_slots(gr))
			return NULL;
		slot = find_slot(gr->slots, gr->mask, gr->g, tgid, stack_id);
	}
	g = &gr->g[gr->nr];
	memset(g, 0, sizeof(*g));
	g->tgid = tgid;
	g->stack_id = stack_id;
	g->oldest_ts_ns = UINT64_MAX;
	*slot = ++gr->nr;
	return g;
}

static int cmp_group(const void *pa, const void *pb)
{
	const struct mo_leak_group *a = pa, *b = pb;

	if (a->unfreed_bytes != b->unfreed_bytes)
		return a->unfreed_bytes > b->unfreed_bytes ? -1 : 1;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->tgid != b->tgid)
		return a->tgid < b->tgid ? -1 : 1;
	if (a->stack_id != b->stack_id)
		return a->stack_id < b->stack_id ? -1 : 1;
	return 0;
}

int mo_analyze(const struct mo_alloc_rec *recs, size_t n, uint64_t now_ns,
	       uint64_t min_age_ns, struct mo_leak_groups *out)
{
	struct grouper gr = { .mask = 63, .cap = 64 };
	struct mo_leak_group *shrunk;
	uint64_t outstanding_weight = 0;

	memset(out, 0, sizeof(*out));
	gr.slots = calloc(gr.mask + 1, sizeof(*gr.slots));
	gr.g = malloc(gr.cap * sizeof(*gr.g));
	if (!gr.slots || !gr.g)
		goto nomem;

	for (size_t i = 0; i < n; i++) {
		const struct mo_alloc_rec *r = &recs[i];
		uint64_t w = r->weight ? r->weight : MO_WEIGHT_ONE;
		uint64_t bytes = weighted_bytes(r->size, w);
		/* A timestamp ahead of now is clock skew: treat it as brand new. */
		uint64_t age = now_ns > r->ts_ns ? now_ns - r->ts_ns : 0;
		struct mo_leak_group *g;

		out->outstanding_bytes = sat_add(out->outstanding_bytes, bytes);
		outstanding_weight = sat_add(outstanding_weight, w);
		/* Same as ts_ns <= now_ns - min_age_ns, without the underflow. */
		if (age < min_age_ns)
			continue;
		g = lookup_or_add(&gr, r->tgid, r->stack_id);
		if (!g)
			goto nomem;
		g->unfreed_bytes = sat_add(g->unfreed_bytes, bytes);
		g->weight_sum = sat_add(g->weight_sum, w);
		if (r->ts_ns < g->oldest_ts_ns)
			g->oldest_ts_ns = r->ts_ns;
		if (r->size > g->largest)
			g->largest = r->size;
		if (w != MO_WEIGHT_ONE)
			g->estimate = true;
	}
	free(gr.slots);
	out->outstanding_count = blocks(outstanding_weight);
	for (size_t k = 0; k < gr.nr; k++)
		gr.g[k].count = blocks(gr.g[k].weight_sum);

	if (gr.nr == 0) {
		free(gr.g);
		return 0;
	}
	qsort(gr.g, gr.nr, sizeof(*gr.g), cmp_group);
	/* Give back the unused tail; keeping the larger block is harmless. */
	shrunk = realloc(gr.g, gr.nr * sizeof(*gr.g));
	out->g = shrunk ? shrunk : gr.g;
	out->nr = gr.nr;
	return 0;

nomem:
	free(gr.slots);
	free(gr.g);
	memset(out, 0, sizeof(*out));
	return -ENOMEM;
}

void mo_leak_groups_release(struct mo_leak_groups *g)
{
	if (!g)
		return;
	free(g->g);
	memset(g, 0, sizeof(*g));
}
