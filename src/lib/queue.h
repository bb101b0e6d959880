/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * queue.h - the bounded event buffer between the observer's worker thread
 * and the reader. Multi-producer, multi-consumer, mutex-protected ring of
 * pointers; an eventfd is readable while the queue is non-empty so readers
 * can poll/epoll it. A push into a full queue fails and is counted: nothing
 * is lost silently.
 */
#ifndef MO_QUEUE_H
#define MO_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct mo_queue;

/* capacity >= 1. NULL with errno on failure. */
struct mo_queue *mo_queue_new(size_t capacity);

/* Free; remaining items are passed to free_item (may be NULL). Accepts NULL. */
void mo_queue_free(struct mo_queue *q, void (*free_item)(void *));

/* 0, or -ENOSPC when full (the drop is counted), -EPIPE when closed. */
int mo_queue_push(struct mo_queue *q, void *item);

/* Wait up to timeout_ms (-1 forever, 0 poll). 1 with *item, 0 on timeout,
 * -EPIPE when closed and empty. */
int mo_queue_pop(struct mo_queue *q, void **item, int timeout_ms);

/* No more pushes; pops drain what is left, then get -EPIPE. */
void mo_queue_close(struct mo_queue *q);

int mo_queue_fd(const struct mo_queue *q);	/* readable while non-empty or closed */
uint64_t mo_queue_dropped(const struct mo_queue *q);
size_t mo_queue_len(const struct mo_queue *q);

#endif
