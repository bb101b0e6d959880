// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* series.c - counter series kept from going backwards (series.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/series.h"
#include "util.h"

struct known {
	char *key;
	bool other;				/* folded at the last scrape */
	bool seen;				/* in this scrape */
	uint64_t v[MO_SERIES_VALUES];		/* its counts at the last scrape */
};

struct mo_series {
	pthread_mutex_t lock;
	size_t max_own;
	struct known *k;	/* sorted by key */
	size_t n, cap;
	uint64_t offset[MO_SERIES_VALUES];
};

struct mo_series *mo_series_new(size_t max_own)
{
	struct mo_series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->max_own = max_own;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void mo_series_free(struct mo_series *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->k[i].key);
	free(s->k);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int known_cmp(const void *a, const void *b)
{
	return strcmp(((const struct known *)a)->key, ((const struct known *)b)->key);
}

/* The entry of key, added (folded, no counts) when missing; NULL on ENOMEM. */
static struct known *lookup(struct mo_series *s, const char *key)
{
	struct known want = { .key = (char *)key }, *k;
	size_t at;

	k = s->n ? bsearch(&want, s->k, s->n, sizeof(*s->k), known_cmp) : NULL;
	if (k)
		return k;
	if (MO_GROW(s->k, s->n + 1, s->cap))
		return NULL;
	for (at = s->n; at && strcmp(s->k[at - 1].key, key) > 0; at--)
		;
	memmove(&s->k[at + 1], &s->k[at], (s->n - at) * sizeof(*s->k));
	memset(&s->k[at], 0, sizeof(s->k[at]));
	s->k[at].key = strdup(key);
	if (!s->k[at].key) {
		memmove(&s->k[at], &s->k[at + 1], (s->n - at) * sizeof(*s->k));
		return NULL;
	}
	s->k[at].other = true;
	s->n++;
	return &s->k[at];
}

static int rank_desc(const void *a, const void *b)
{
	const struct mo_series_row *x = *(const struct mo_series_row *const *)a;
	const struct mo_series_row *y = *(const struct mo_series_row *const *)b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? 1 : -1;
	return strcmp(x->key, y->key);
}

int mo_series_decide(struct mo_series *s, struct mo_series_row *rows, size_t n,
		     uint64_t offset[MO_SERIES_VALUES])
{
	struct mo_series_row **order = malloc((n ? n : 1) * sizeof(*order));
	int err = 0;

	for (size_t i = 0; i < n; i++)
		rows[i].other = false;
	memset(offset, 0, MO_SERIES_VALUES * sizeof(*offset));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = &rows[i];
	qsort(order, n, sizeof(*order), rank_desc);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		struct known *k = lookup(s, order[i]->key);
		bool other = n > s->max_own && i >= s->max_own;

		if (!k) {
			err = -ENOMEM;
			break;
		}
		/* leaving __other__: what it had there stays there */
		if (k->other && !other)
			for (int j = 0; j < MO_SERIES_VALUES; j++)
				s->offset[j] += k->v[j];
		k->other = other;
		k->seen = true;
		memcpy(k->v, order[i]->v, sizeof(k->v));
		order[i]->other = other;
	}
	/* a key gone from __other__ leaves what it had there */
	for (size_t i = 0; !err && i < s->n; i++) {
		struct known *k = &s->k[i];

		if (!k->seen && k->other) {
			for (int j = 0; j < MO_SERIES_VALUES; j++)
				s->offset[j] += k->v[j];
			memset(k->v, 0, sizeof(k->v));
		}
		k->seen = false;
	}
	memcpy(offset, s->offset, MO_SERIES_VALUES * sizeof(*offset));
	pthread_mutex_unlock(&s->lock);
	free(order);
	if (err)
		for (size_t i = 0; i < n; i++)
			rows[i].other = false;
	return err;
}
