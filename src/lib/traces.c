// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * traces.c - open-addressing hash of symbolized stacks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"
#include "traces.h"

struct slot {
	struct mo_trace_entry e;
	int state;	/* 0 empty, 1 used, 2 deleted */
};

struct mo_traces {
	struct slot *s;
	size_t cap;	/* power of two */
	size_t used;	/* used + deleted */
	size_t live;
};

static size_t hash(uint32_t pid, uint64_t id)
{
	uint64_t h = id ^ ((uint64_t)pid * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h;
}

struct mo_traces *mo_traces_new(void)
{
	struct mo_traces *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cap = 256;
	t->s = calloc(t->cap, sizeof(*t->s));
	if (!t->s) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void mo_trace_release(struct mo_stack_trace *tr)
{
	if (!tr)
		return;
	mo_frames_free(tr->frames, tr->nframes);
	tr->frames = NULL;
	tr->nframes = 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

int mo_trace_copy(struct mo_stack_trace *dst, const struct mo_stack_trace *src)
{
	bool oom = false;

	*dst = *src;
	dst->frames = NULL;
	if (!src->nframes)
		return 0;
	dst->frames = calloc(src->nframes, sizeof(*dst->frames));
	if (!dst->frames) {
		dst->nframes = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i < src->nframes; i++) {
		dst->frames[i] = src->frames[i];
		dst->frames[i].symbol = dup_or_null(src->frames[i].symbol, &oom);
		dst->frames[i].linkage_name = dup_or_null(src->frames[i].linkage_name, &oom);
		dst->frames[i].module = dup_or_null(src->frames[i].module, &oom);
		dst->frames[i].build_id = dup_or_null(src->frames[i].build_id, &oom);
		dst->frames[i].file = dup_or_null(src->frames[i].file, &oom);
	}
	return oom ? -ENOMEM : 0;
}

void mo_traces_free(struct mo_traces *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->s[i].state == 1) {
			mo_trace_release(&t->s[i].e.tr);
			free(t->s[i].e.hist);
		}
	}
	free(t->s);
	free(t);
}

static int grow(struct mo_traces *t)
{
	size_t cap = t->live * 4 > t->cap ? t->cap * 2 : t->cap;
	struct slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (t->s[i].state != 1)
			continue;
		j = hash(t->s[i].e.pid, t->s[i].e.id) & (cap - 1);
		while (s[j].state)
			j = (j + 1) & (cap - 1);
		s[j] = t->s[i];
	}
	free(t->s);
	t->s = s;
	t->cap = cap;
	t->used = t->live;
	return 0;
}

struct mo_trace_entry *mo_traces_get(struct mo_traces *t, uint32_t pid, uint64_t id)
{
	size_t i, tomb = (size_t)-1;

	if ((t->used + 1) * 4 > t->cap * 3 && grow(t))
		return NULL;
	i = hash(pid, id) & (t->cap - 1);
	while (t->s[i].state) {
		if (t->s[i].state == 1 && t->s[i].e.pid == pid && t->s[i].e.id == id)
			return &t->s[i].e;
		if (t->s[i].state == 2 && tomb == (size_t)-1)
			tomb = i;
		i = (i + 1) & (t->cap - 1);
	}
	if (tomb != (size_t)-1)
		i = tomb;
	else
		t->used++;
	memset(&t->s[i], 0, sizeof(t->s[i]));
	t->s[i].state = 1;
	t->s[i].e.pid = pid;
	t->s[i].e.id = id;
	t->live++;
	return &t->s[i].e;
}

size_t mo_traces_histories(const struct mo_traces *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		n += t->s[i].state == 1 && t->s[i].e.hist;
	return n;
}
