// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* records.c - the record dispatcher (records.h). */
#include <stdlib.h>
#include <string.h>

#include "core/records.h"
#include "util.h"

/* Deferred records handled between two drains of the ring buffer. */
#define RUN_BETWEEN_DRAINS 8

struct handler {
	mo_record_fn fn;
	void *ctx;
	bool at_once;
};

struct mo_records {
	struct handler h[MO_REC__MAX];
	struct mo_record *deferred;
	size_t ndeferred, cap;
	uint64_t unhandled;
};

struct mo_records *mo_records_new(void)
{
	return calloc(1, sizeof(struct mo_records));
}

void mo_records_free(struct mo_records *rd)
{
	if (!rd)
		return;
	free(rd->deferred);
	free(rd);
}

void mo_records_on(struct mo_records *rd, enum mo_rec_type type, mo_record_fn fn, void *ctx,
		   bool at_once)
{
	if ((unsigned)type < MO_REC__MAX)
		rd->h[type] = (struct handler){ fn, ctx, at_once };
}

static void dispatch(struct mo_records *rd, const struct mo_record *r)
{
	const struct handler *h = r->type < MO_REC__MAX ? &rd->h[r->type] : NULL;

	if (!h || !h->fn) {
		mo_stat_add(&rd->unhandled, 1);
		return;
	}
	h->fn(h->ctx, r);
}

int mo_records_take(void *ctx, void *data, size_t size)
{
	struct mo_records *rd = ctx;
	const struct mo_record *r = data;

	if (size < sizeof(*r))
		return 0;
	if (r->type < MO_REC__MAX && rd->h[r->type].at_once) {
		dispatch(rd, r);
		return 0;
	}
	if (MO_GROW(rd->deferred, rd->ndeferred + 1, rd->cap)) {
		dispatch(rd, r);	/* no room to wait: handle it now */
		return 0;
	}
	rd->deferred[rd->ndeferred++] = *r;
	return 0;
}

void mo_records_run(struct mo_records *rd, int (*drain)(void *ctx), void *drain_ctx,
		    const bool *stopping)
{
	size_t i;

	drain(drain_ctx);
	for (i = 0; i < rd->ndeferred && !__atomic_load_n(stopping, __ATOMIC_RELAXED); i++) {
		/* a copy: draining may grow (move) the list */
		struct mo_record r = rd->deferred[i];

		dispatch(rd, &r);
		if (i % RUN_BETWEEN_DRAINS == RUN_BETWEEN_DRAINS - 1)
			drain(drain_ctx);
	}
	memmove(rd->deferred, rd->deferred + i, (rd->ndeferred - i) * sizeof(*rd->deferred));
	rd->ndeferred -= i;
}

uint64_t mo_records_unhandled(const struct mo_records *rd)
{
	return mo_stat_get(&rd->unhandled);
}
