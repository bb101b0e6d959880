// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* util.c - clock, array growth, comparator, read loop, hook (util.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

uint64_t mo_clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * MO_NSEC + (uint64_t)ts.tv_nsec;
}

int mo_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -ENOMEM;
		c *= 2;
	}
	if (elem && c > SIZE_MAX / elem)
		return -ENOMEM;
	n = realloc(*arr, c * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = c;
	return 0;
}

int mo_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

ssize_t mo_read_all(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = off < 0 ? read(fd, (char *)buf + got, len - got)
				    : pread(fd, (char *)buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void mo_hook_set(struct mo_hook *h, mo_hook_fn fn, void *ctx)
{
	pthread_mutex_lock(&h->lock);
	h->fn = fn;
	h->ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&h->lock);
}

void mo_hook_get(struct mo_hook *h, mo_hook_fn *fn, void **ctx)
{
	mo_hook_fn f;
	void *c;

	pthread_mutex_lock(&h->lock);
	f = h->fn;
	c = h->ctx;
	pthread_mutex_unlock(&h->lock);
	if (fn)
		*fn = f;
	if (ctx)
		*ctx = c;
}
