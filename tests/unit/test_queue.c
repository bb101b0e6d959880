// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_queue.c - bounded queue: capacity and drop counting, FIFO order,
 * timeouts, blocking and wake-ups, close semantics, the eventfd's
 * readability, and a multi-producer/multi-consumer stress run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue.h"

#define P(x) ((void *)(uintptr_t)(x))

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool readable(struct mo_queue *q)
{
	struct pollfd pfd = { .fd = mo_queue_fd(q), .events = POLLIN };
	int n = poll(&pfd, 1, 0);

	assert_true(n >= 0);
	return n == 1 && (pfd.revents & POLLIN);
}

static void test_new_rejects_zero(void **state)
{
	errno = 0;
	assert_null(mo_queue_new(0));
	assert_int_equal(errno, EINVAL);
	mo_queue_free(NULL, NULL);
}

static void test_capacity_and_drops(void **state)
{
	struct mo_queue *q = mo_queue_new(3);
	void *item;

	assert_non_null(q);
	assert_int_equal(mo_queue_len(q), 0);
	assert_int_equal(mo_queue_push(q, P(1)), 0);
	assert_int_equal(mo_queue_push(q, P(2)), 0);
	assert_int_equal(mo_queue_push(q, P(3)), 0);
	assert_int_equal(mo_queue_len(q), 3);
	assert_int_equal(mo_queue_dropped(q), 0);
	assert_int_equal(mo_queue_push(q, P(4)), -ENOSPC);
	assert_int_equal(mo_queue_dropped(q), 1);
	assert_int_equal(mo_queue_push(q, P(5)), -ENOSPC);
	assert_int_equal(mo_queue_dropped(q), 2);
	assert_int_equal(mo_queue_len(q), 3);

	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_ptr_equal(item, P(1));
	assert_int_equal(mo_queue_push(q, P(6)), 0);
	assert_int_equal(mo_queue_dropped(q), 2);
	assert_int_equal(mo_queue_len(q), 3);
	mo_queue_free(q, NULL);
}

static void test_fifo_with_wraparound(void **state)
{
	struct mo_queue *q = mo_queue_new(4);
	uintptr_t next_in = 1, next_out = 1;
	void *item;

	assert_non_null(q);
	/* Uneven push/pop batches walk head and tail around the ring. */
	for (int round = 0; round < 50; round++) {
		int pushes = 1 + round % 4, pops = 1 + (round * 7) % 4;

		for (int i = 0; i < pushes; i++)
			if (mo_queue_len(q) < 4)
				assert_int_equal(mo_queue_push(q, P(next_in++)), 0);
		for (int i = 0; i < pops; i++) {
			if (mo_queue_len(q) == 0)
				break;
			assert_int_equal(mo_queue_pop(q, &item, 0), 1);
			assert_ptr_equal(item, P(next_out++));
		}
	}
	while (mo_queue_pop(q, &item, 0) == 1)
		assert_ptr_equal(item, P(next_out++));
	assert_int_equal(next_in, next_out);
	assert_true(next_in > 60);
	assert_int_equal(mo_queue_dropped(q), 0);
	mo_queue_free(q, NULL);
}

static void test_timeouts(void **state)
{
	struct mo_queue *q = mo_queue_new(2);
	void *item = P(99);
	int64_t t0, elapsed;

	assert_non_null(q);
	t0 = now_ms();
	assert_int_equal(mo_queue_pop(q, &item, 0), 0);
	assert_true(now_ms() - t0 < 20);
	assert_ptr_equal(item, P(99));

	t0 = now_ms();
	assert_int_equal(mo_queue_pop(q, &item, 50), 0);
	elapsed = now_ms() - t0;
	assert_true(elapsed >= 40);
	assert_ptr_equal(item, P(99));

	/* A timed pop returns at once when an item is there. */
	assert_int_equal(mo_queue_push(q, P(7)), 0);
	t0 = now_ms();
	assert_int_equal(mo_queue_pop(q, &item, 5000), 1);
	assert_true(now_ms() - t0 < 1000);
	assert_ptr_equal(item, P(7));
	mo_queue_free(q, NULL);
}

struct delayed {
	struct mo_queue *q;
	int delay_ms;
	void *item;
	int ret;
};

static void *push_later(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->delay_ms);
	d->ret = mo_queue_push(d->q, d->item);
	return NULL;
}

static void *close_later(void *arg)
{
	struct delayed *d = arg;

	sleep_ms(d->delay_ms);
	mo_queue_close(d->q);
	return NULL;
}

static void *pop_forever(void *arg)
{
	struct delayed *d = arg;

	d->ret = mo_queue_pop(d->q, &d->item, -1);
	return NULL;
}

static void test_blocking_pop_woken_by_push(void **state)
{
	struct mo_queue *q = mo_queue_new(2);
	struct delayed d = { .q = q, .delay_ms = 30, .item = P(42), .ret = 1 };
	pthread_t t;
	void *item = NULL;
	int64_t t0;

	assert_non_null(q);
	t0 = now_ms();
	assert_int_equal(pthread_create(&t, NULL, push_later, &d), 0);
	assert_int_equal(mo_queue_pop(q, &item, -1), 1);
	assert_true(now_ms() - t0 >= 20);
	assert_ptr_equal(item, P(42));
	pthread_join(t, NULL);
	assert_int_equal(d.ret, 0);

	/* And a timed pop woken well before its deadline. */
	d.item = P(43);
	t0 = now_ms();
	assert_int_equal(pthread_create(&t, NULL, push_later, &d), 0);
	assert_int_equal(mo_queue_pop(q, &item, 10000), 1);
	assert_true(now_ms() - t0 < 5000);
	assert_ptr_equal(item, P(43));
	pthread_join(t, NULL);
	mo_queue_free(q, NULL);
}

static void test_close_wakes_poppers(void **state)
{
	struct mo_queue *q = mo_queue_new(2);
	struct delayed poppers[3];
	struct delayed closer = { .q = q, .delay_ms = 30 };
	pthread_t t[3], tc;

	assert_non_null(q);
	for (int i = 0; i < 3; i++) {
		poppers[i] = (struct delayed){ .q = q, .item = P(1), .ret = 1 };
		assert_int_equal(pthread_create(&t[i], NULL, pop_forever,
						&poppers[i]), 0);
	}
	assert_int_equal(pthread_create(&tc, NULL, close_later, &closer), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(poppers[i].ret, -EPIPE);
		assert_ptr_equal(poppers[i].item, P(1));
	}
	pthread_join(tc, NULL);
	mo_queue_free(q, NULL);
}

static void test_close_drains_then_epipe(void **state)
{
	struct mo_queue *q = mo_queue_new(4);
	void *item;

	assert_non_null(q);
	assert_int_equal(mo_queue_push(q, P(1)), 0);
	assert_int_equal(mo_queue_push(q, P(2)), 0);
	mo_queue_close(q);
	mo_queue_close(q);
	assert_int_equal(mo_queue_push(q, P(3)), -EPIPE);
	assert_int_equal(mo_queue_dropped(q), 0);
	assert_int_equal(mo_queue_len(q), 2);
	assert_int_equal(mo_queue_pop(q, &item, -1), 1);
	assert_ptr_equal(item, P(1));
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_ptr_equal(item, P(2));
	assert_int_equal(mo_queue_pop(q, &item, -1), -EPIPE);
	assert_int_equal(mo_queue_pop(q, &item, 0), -EPIPE);
	assert_int_equal(mo_queue_pop(q, &item, 20), -EPIPE);
	mo_queue_free(q, NULL);
}

static void test_fd_readable_exactly_when_nonempty(void **state)
{
	struct mo_queue *q = mo_queue_new(3);
	void *item;

	assert_non_null(q);
	assert_true(mo_queue_fd(q) >= 0);
	assert_false(readable(q));
	assert_int_equal(mo_queue_push(q, P(1)), 0);
	assert_true(readable(q));
	assert_int_equal(mo_queue_push(q, P(2)), 0);
	assert_true(readable(q));
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_true(readable(q));
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_false(readable(q));
	/* Timeouts and failed pushes leave it alone. */
	assert_int_equal(mo_queue_pop(q, &item, 0), 0);
	assert_false(readable(q));
	for (int i = 0; i < 4; i++)
		mo_queue_push(q, P(10 + i));
	assert_int_equal(mo_queue_dropped(q), 1);
	assert_true(readable(q));
	for (int i = 0; i < 3; i++) {
		assert_true(readable(q));
		assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	}
	assert_false(readable(q));

	/* Closed: readable for good, with items or without. */
	assert_int_equal(mo_queue_push(q, P(5)), 0);
	mo_queue_close(q);
	assert_true(readable(q));
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_true(readable(q));
	assert_int_equal(mo_queue_pop(q, &item, 0), -EPIPE);
	assert_true(readable(q));
	mo_queue_free(q, NULL);

	q = mo_queue_new(1);
	assert_non_null(q);
	mo_queue_close(q);
	assert_true(readable(q));
	mo_queue_free(q, NULL);
}

static int freed;

static void count_free(void *p)
{
	freed += (int)(uintptr_t)p;
}

static void test_free_releases_remaining(void **state)
{
	struct mo_queue *q = mo_queue_new(4);
	void *item;

	assert_non_null(q);
	/* Wrap the ring so the remaining items straddle the end. */
	for (int i = 1; i <= 3; i++)
		assert_int_equal(mo_queue_push(q, P(i)), 0);
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	assert_int_equal(mo_queue_pop(q, &item, 0), 1);
	for (int i = 10; i <= 30; i += 10)
		assert_int_equal(mo_queue_push(q, P(i)), 0);
	freed = 0;
	mo_queue_free(q, count_free);
	assert_int_equal(freed, 3 + 10 + 20 + 30);
}

enum { PRODUCERS = 4, CONSUMERS = 2, PER_PRODUCER = 50000 };

struct producer {
	struct mo_queue *q;
	unsigned id;
	uint64_t pushed, dropped, sum;
};

struct consumer {
	struct mo_queue *q;
	uint64_t popped, sum;
	uint32_t last_seq[PRODUCERS];
	bool order_ok;
	int end;
};

/* Item = (producer << 32 | seq) + 1: never NULL, and it tells its origin. */
static void *produce(void *arg)
{
	struct producer *p = arg;

	for (uint32_t seq = 1; seq <= PER_PRODUCER; seq++) {
		uint64_t v = ((uint64_t)p->id << 32 | seq) + 1;
		int ret = mo_queue_push(p->q, P(v));

		if (ret == 0) {
			p->pushed++;
			p->sum += v;
		} else if (ret == -ENOSPC) {
			p->dropped++;
			if (seq % 64 == 0)
				sched_yield();
		} else {
			break;
		}
	}
	return NULL;
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	void *item;
	int ret;

	c->order_ok = true;
	while ((ret = mo_queue_pop(c->q, &item, -1)) == 1) {
		uint64_t v = (uint64_t)(uintptr_t)item - 1;
		uint32_t prod = (uint32_t)(v >> 32), seq = (uint32_t)v;

		if (prod >= PRODUCERS || seq <= c->last_seq[prod])
			c->order_ok = false;
		else
			c->last_seq[prod] = seq;
		c->popped++;
		c->sum += v + 1;
	}
	c->end = ret;
	return NULL;
}

static void test_stress_mpmc(void **state)
{
	struct mo_queue *q = mo_queue_new(256);
	struct producer prod[PRODUCERS];
	struct consumer cons[CONSUMERS];
	pthread_t pt[PRODUCERS], ct[CONSUMERS];
	uint64_t pushed = 0, dropped = 0, popped = 0, psum = 0, csum = 0;

	assert_non_null(q);
	for (int i = 0; i < CONSUMERS; i++) {
		cons[i] = (struct consumer){ .q = q };
		assert_int_equal(pthread_create(&ct[i], NULL, consume, &cons[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		prod[i] = (struct producer){ .q = q, .id = (unsigned)i };
		assert_int_equal(pthread_create(&pt[i], NULL, produce, &prod[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(pt[i], NULL);
		pushed += prod[i].pushed;
		dropped += prod[i].dropped;
		psum += prod[i].sum;
	}
	mo_queue_close(q);
	for (int i = 0; i < CONSUMERS; i++) {
		pthread_join(ct[i], NULL);
		assert_int_equal(cons[i].end, -EPIPE);
		/* Global FIFO implies each consumer sees each producer in order. */
		assert_true(cons[i].order_ok);
		popped += cons[i].popped;
		csum += cons[i].sum;
	}
	assert_int_equal(pushed + dropped, (uint64_t)PRODUCERS * PER_PRODUCER);
	assert_int_equal(popped, pushed);
	assert_int_equal(csum, psum);
	assert_int_equal(mo_queue_dropped(q), dropped);
	assert_int_equal(mo_queue_len(q), 0);
	mo_queue_free(q, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_zero),
		cmocka_unit_test(test_capacity_and_drops),
		cmocka_unit_test(test_fifo_with_wraparound),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_blocking_pop_woken_by_push),
		cmocka_unit_test(test_close_wakes_poppers),
		cmocka_unit_test(test_close_drains_then_epipe),
		cmocka_unit_test(test_fd_readable_exactly_when_nonempty),
		cmocka_unit_test(test_free_releases_remaining),
		cmocka_unit_test(test_stress_mpmc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
