// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stackgc.c - two-pass collection of unreferenced stacks. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <bpf/bpf.h>

#include "stackgc.h"

struct mo_stackgc {
	uint64_t *cand;		/* unreferenced at the last pass, sorted */
	size_t ncand;
};

struct mo_stackgc *mo_stackgc_new(void)
{
	return calloc(1, sizeof(struct mo_stackgc));
}

void mo_stackgc_free(struct mo_stackgc *gc)
{
	if (!gc)
		return;
	free(gc->cand);
	free(gc);
}

int mo_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool member(const uint64_t *set, size_t n, uint64_t v)
{
	return n && bsearch(&v, set, n, sizeof(*set), mo_u64_cmp) != NULL;
}

/* Append v to *arr (size *n, capacity *cap). 0 or -ENOMEM. */
static int push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint64_t *m = realloc(*arr, c * sizeof(*m));

		if (!m)
			return -ENOMEM;
		*arr = m;
		*cap = c;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

int mo_stackgc_pass(struct mo_stackgc *gc, int stacks_fd, uint64_t *referenced, size_t n)
{
	uint64_t key, next, *prev = NULL, *cand = NULL, *del = NULL;
	size_t ncand = 0, capc = 0, ndel = 0, capd = 0;
	int deleted = 0, err = 0;

	qsort(referenced, n, sizeof(*referenced), mo_u64_cmp);
	/* a hash map cannot be walked while deleting: collect, then delete */
	while (!err && bpf_map_get_next_key(stacks_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (member(referenced, n, key))
			continue;
		if (member(gc->cand, gc->ncand, key))
			err = push(&del, &ndel, &capd, key);
		else
			err = push(&cand, &ncand, &capc, key);
	}
	if (err) {
		free(cand);
		free(del);
		return err;
	}
	for (size_t i = 0; i < ndel; i++)
		if (bpf_map_delete_elem(stacks_fd, &del[i]) == 0)
			deleted++;
	free(del);
	qsort(cand, ncand, sizeof(*cand), mo_u64_cmp);
	free(gc->cand);
	gc->cand = cand;
	gc->ncand = ncand;
	return deleted;
}
