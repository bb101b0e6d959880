// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pprof_diff.c - merge both profiles' samples by stack in one open-
 * addressing table, then keep the stacks whose value grew.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/pprof_diff.h"

struct table {
	size_t *slots;		/* index + 1 into changes; 0: empty */
	size_t cap;		/* power of two */
	struct mo_pprof_change *changes;
	size_t n, changes_cap;
};

static int64_t sat_add(int64_t x, int64_t y)
{
	int64_t r;

	if (__builtin_add_overflow(x, y, &r))
		return y > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_sub(int64_t x, int64_t y)
{
	int64_t r;

	if (__builtin_sub_overflow(x, y, &r))
		return y < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static bool same_stack(const struct mo_pprof_stack *x, const struct mo_pprof_stack *y)
{
	if (x->hash != y->hash || x->nframes != y->nframes || strcmp(x->command, y->command))
		return false;
	for (size_t i = 0; i < x->nframes; i++)
		if (x->frames[i].hash != y->frames[i].hash)
			return false;
	return true;
}

static int grow_slots(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256;
	size_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = t->changes[i].stack->hash & (cap - 1);

		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* The entry of st's stack, added (zeroed) when new. */
static struct mo_pprof_change *entry(struct table *t, const struct mo_pprof_stack *st)
{
	size_t j;

	if ((t->n + 1) * 2 > t->cap && grow_slots(t))
		return NULL;
	for (j = st->hash & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1))
		if (same_stack(t->changes[t->slots[j] - 1].stack, st))
			return &t->changes[t->slots[j] - 1];
	if (t->n == t->changes_cap) {
		size_t ncap = t->changes_cap ? t->changes_cap * 2 : 256;
		struct mo_pprof_change *c = realloc(t->changes, ncap * sizeof(*c));

		if (!c)
			return NULL;
		t->changes = c;
		t->changes_cap = ncap;
	}
	t->changes[t->n] = (struct mo_pprof_change){ .stack = st };
	t->slots[j] = ++t->n;
	return &t->changes[t->n - 1];
}

static int add_profile(struct table *t, const struct mo_pprof_data *p, int vi, int oi, bool later,
		       int64_t *total)
{
	for (size_t i = 0; i < p->nstacks; i++) {
		const struct mo_pprof_stack *st = &p->stacks[i];
		struct mo_pprof_change *c = entry(t, st);
		int64_t v = st->values[vi], o = oi >= 0 ? st->values[oi] : 0;

		if (!c)
			return -ENOMEM;
		*total = sat_add(*total, v);
		if (later) {
			c->stack = st;	/* named as it is now */
			c->after = sat_add(c->after, v);
			c->objects_after = sat_add(c->objects_after, o);
		} else {
			c->before = sat_add(c->before, v);
			c->objects_before = sat_add(c->objects_before, o);
		}
	}
	return 0;
}

static int by_growth(const void *x, const void *y)
{
	const struct mo_pprof_change *a = x, *b = y;
	size_t n;

	if (a->growth != b->growth)
		return a->growth < b->growth ? 1 : -1;
	/* a stable order for ties: by command, then frame names */
	n = a->stack->nframes < b->stack->nframes ? a->stack->nframes : b->stack->nframes;
	for (size_t i = 0; i < n; i++) {
		int r = strcmp(a->stack->frames[i].name, b->stack->frames[i].name);

		if (r)
			return r;
	}
	if (a->stack->nframes != b->stack->nframes)
		return a->stack->nframes < b->stack->nframes ? -1 : 1;
	return strcmp(a->stack->command, b->stack->command);
}

int mo_pprof_diff(const struct mo_pprof_data *a, const struct mo_pprof_data *b, const char *type,
		  const char *objects, struct mo_pprof_diff *d, const char **why)
{
	int va = mo_pprof_type_index(a, type), vb = mo_pprof_type_index(b, type);
	int oa = objects ? mo_pprof_type_index(a, objects) : -1;
	int ob = objects ? mo_pprof_type_index(b, objects) : -1;
	struct table t = { 0 };
	size_t kept = 0;
	int err;

	memset(d, 0, sizeof(*d));
	*why = "";
	if (va < 0 || vb < 0) {
		*why = va < 0 ? "the first profile has no values of that sample type"
			      : "the second profile has no values of that sample type";
		return -EINVAL;
	}
	d->objects = oa >= 0 && ob >= 0;
	if (!d->objects)
		oa = ob = -1;
	err = add_profile(&t, a, va, oa, false, &d->total_before);
	if (!err)
		err = add_profile(&t, b, vb, ob, true, &d->total_after);
	free(t.slots);
	if (err) {
		free(t.changes);
		return err;
	}
	for (size_t i = 0; i < t.n; i++) {
		struct mo_pprof_change *c = &t.changes[i];

		c->growth = sat_sub(c->after, c->before);
		c->objects_growth = sat_sub(c->objects_after, c->objects_before);
		if (c->growth > 0)
			t.changes[kept++] = *c;
	}
	d->total_growth = sat_sub(d->total_after, d->total_before);
	if (kept)
		qsort(t.changes, kept, sizeof(*t.changes), by_growth);
	d->grew = t.changes;
	d->ngrew = kept;
	d->nstacks = t.n;
	return 0;
}

void mo_pprof_diff_release(struct mo_pprof_diff *d)
{
	if (!d)
		return;
	free(d->grew);
	memset(d, 0, sizeof(*d));
}
