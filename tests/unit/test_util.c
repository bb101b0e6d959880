// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_util.c - the shared helpers: mo_read_all (read and pread, short
 * reads, EINTR, end of file, errors) and mo_hook (set, get, clear).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct writer {
	int fd;
	pthread_t reader;	/* interrupted before each piece when signal */
	bool signal;
	bool failed;		/* no cmocka assertion off the test's thread */
};

static void on_usr1(int sig)
{
	(void)sig;
}

/* "abcdefghij" into the pipe one byte at a time, then end of file. */
static void *write_slowly(void *arg)
{
	struct writer *w = arg;

	for (const char *s = "abcdefghij"; *s; s++) {
		sleep_ms(5);
		if (w->signal)
			pthread_kill(w->reader, SIGUSR1);
		if (write(w->fd, s, 1) != 1)
			w->failed = true;
	}
	close(w->fd);
	return NULL;
}

static void read_pipe(bool signal)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, old;	/* no SA_RESTART */
	struct writer w = { .reader = pthread_self(), .signal = signal };
	char buf[32] = { 0 };
	pthread_t t;
	int p[2];

	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pipe(p), 0);
	w.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, write_slowly, &w), 0);
	/* short reads, (maybe) EINTR, and end of file before len */
	assert_int_equal(mo_read_all(p[0], buf, sizeof(buf), -1), 10);
	assert_string_equal(buf, "abcdefghij");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_false(w.failed);
	close(p[0]);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

static void test_read_short_reads_to_eof(void **state)
{
	read_pipe(false);
}

static void test_read_retries_eintr(void **state)
{
	read_pipe(true);
}

static void test_read_stops_at_len(void **state)
{
	char buf[4];
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	assert_int_equal(mo_read_all(p[0], buf, sizeof(buf), -1), 4);
	assert_memory_equal(buf, "0123", 4);
	/* the rest is still there: read from the position on */
	assert_int_equal(mo_read_all(p[0], buf, 3, -1), 3);
	assert_memory_equal(buf, "456", 3);
	assert_int_equal(mo_read_all(p[0], buf, 0, -1), 0);
	close(p[0]);
	close(p[1]);
}

static void test_pread_from_offset(void **state)
{
	int fd = memfd_create("test_util", MFD_CLOEXEC);
	char buf[16] = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(mo_read_all(fd, buf, 4, 3), 4);
	assert_memory_equal(buf, "3456", 4);
	/* up to end of file only, and the position is not moved */
	assert_int_equal(mo_read_all(fd, buf, sizeof(buf), 6), 4);
	assert_memory_equal(buf, "6789", 4);
	assert_int_equal(mo_read_all(fd, buf, sizeof(buf), 10), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 2);
	close(fd);
}

static void test_read_errors(void **state)
{
	char buf[4];
	int p[2];

	assert_int_equal(mo_read_all(-1, buf, sizeof(buf), -1), -EBADF);
	assert_int_equal(mo_read_all(-1, buf, sizeof(buf), 0), -EBADF);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(mo_read_all(p[0], buf, sizeof(buf), 0), -ESPIPE);
	close(p[0]);
	close(p[1]);
}

static int calls;

static int add(void *ctx, int x)
{
	calls++;
	return *(int *)ctx + x;
}

typedef int (*add_fn)(void *ctx, int x);

static void test_hook(void **state)
{
	static struct mo_hook h = MO_HOOK_INIT;
	int base = 40, other = 1;
	mo_hook_fn fn = (mo_hook_fn)add;
	void *ctx = &other;

	mo_hook_get(&h, &fn, &ctx);
	assert_null(fn);
	assert_null(ctx);
	mo_hook_set(&h, (mo_hook_fn)add, &base);
	mo_hook_get(&h, &fn, &ctx);
	assert_ptr_equal(ctx, &base);
	assert_int_equal(((add_fn)fn)(ctx, 2), 42);
	assert_int_equal(calls, 1);
	/* either out may be left out */
	ctx = NULL;
	mo_hook_get(&h, NULL, &ctx);
	assert_ptr_equal(ctx, &base);
	fn = NULL;
	mo_hook_get(&h, &fn, NULL);
	assert_true(fn == (mo_hook_fn)add);
	/* no function: no context either */
	mo_hook_set(&h, NULL, &base);
	mo_hook_get(&h, &fn, &ctx);
	assert_null(fn);
	assert_null(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_short_reads_to_eof),
		cmocka_unit_test(test_read_retries_eintr),
		cmocka_unit_test(test_read_stops_at_len),
		cmocka_unit_test(test_pread_from_offset),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
