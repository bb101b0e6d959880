// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * queue.c - bounded MPMC ring of pointers under one mutex, with a condition
 * variable for blocking pops and an eventfd for poll/epoll readers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

/*
 * Invariant (under lock): the eventfd counter is 1 exactly when len > 0 or
 * the queue is closed, and 0 otherwise. Readers must poll the fd (level
 * triggered) and never read it: only the queue moves the counter.
 */
struct mo_queue {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;	/* signalled on push, broadcast on close */
	void **ring;
	size_t cap;
	size_t head;			/* index of the oldest item */
	size_t len;
	bool closed;
	int efd;
	uint64_t dropped;
};

/*
 * With the counter kept at 0 or 1 neither call can block or overflow, so
 * the only possible failure is EINTR, which is retried.
 */
static void efd_raise(int fd)
{
	while (eventfd_write(fd, 1) < 0 && errno == EINTR)
		;
}

static void efd_drain(int fd)
{
	eventfd_t v;

	while (eventfd_read(fd, &v) < 0 && errno == EINTR)
		;
}

struct mo_queue *mo_queue_new(size_t capacity)
{
	struct mo_queue *q;
	pthread_condattr_t ca;
	int err;

	if (capacity == 0) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->efd = -1;
	q->cap = capacity;
	q->ring = calloc(capacity, sizeof(*q->ring));
	if (!q->ring) {
		err = errno;
		goto err_free;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		err = errno;
		goto err_free;
	}
	err = pthread_mutex_init(&q->lock, NULL);
	if (err)
		goto err_free;
	/* Timeouts are measured on the monotonic clock: immune to settimeofday. */
	err = pthread_condattr_init(&ca);
	if (err)
		goto err_mutex;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(&q->nonempty, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		goto err_mutex;
	return q;

err_mutex:
	pthread_mutex_destroy(&q->lock);
err_free:
	if (q->efd >= 0)
		close(q->efd);
	free(q->ring);
	free(q);
	errno = err;
	return NULL;
}

void mo_queue_free(struct mo_queue *q, void (*free_item)(void *))
{
	if (!q)
		return;
	for (; q->len; q->len--) {
		if (free_item)
			free_item(q->ring[q->head]);
		q->head = (q->head + 1) % q->cap;
	}
	pthread_cond_destroy(&q->nonempty);
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
	free(q->ring);
	free(q);
}

int mo_queue_push(struct mo_queue *q, void *item)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		ret = -EPIPE;
	} else if (q->len == q->cap) {
		q->dropped++;
		ret = -ENOSPC;
	} else {
		q->ring[(q->head + q->len) % q->cap] = item;
		if (q->len++ == 0)
			efd_raise(q->efd);
		pthread_cond_signal(&q->nonempty);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int mo_queue_pop(struct mo_queue *q, void **item, int timeout_ms)
{
	struct timespec deadline;
	int ret = 1;

	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&q->lock);
	while (q->len == 0 && !q->closed) {
		if (timeout_ms == 0) {
			ret = 0;
			goto out;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&q->nonempty, &q->lock);
		} else if (pthread_cond_timedwait(&q->nonempty, &q->lock,
						  &deadline) == ETIMEDOUT) {
			/* An item that raced the timeout is still taken. */
			if (q->len == 0 && !q->closed) {
				ret = 0;
				goto out;
			}
		}
	}
	if (q->len == 0) {
		ret = -EPIPE;
		goto out;
	}
	*item = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	if (--q->len == 0 && !q->closed)
		efd_drain(q->efd);
out:
	pthread_mutex_unlock(&q->lock);
	return ret;
}

void mo_queue_close(struct mo_queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (!q->closed) {
		q->closed = true;
		if (q->len == 0)
			efd_raise(q->efd);
		pthread_cond_broadcast(&q->nonempty);
	}
	pthread_mutex_unlock(&q->lock);
}

int mo_queue_fd(const struct mo_queue *q)
{
	return q->efd;
}

/*
 * The mutex lives inside a const object only from the caller's view: the
 * queue itself was allocated writable, so casting const away is defined.
 */
uint64_t mo_queue_dropped(const struct mo_queue *q)
{
	struct mo_queue *w = (struct mo_queue *)q;
	uint64_t v;

	pthread_mutex_lock(&w->lock);
	v = w->dropped;
	pthread_mutex_unlock(&w->lock);
	return v;
}

size_t mo_queue_len(const struct mo_queue *q)
{
	struct mo_queue *w = (struct mo_queue *)q;
	size_t v;

	pthread_mutex_lock(&w->lock);
	v = w->len;
	pthread_mutex_unlock(&w->lock);
	return v;
}
