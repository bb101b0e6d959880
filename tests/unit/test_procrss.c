// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "procrss.h"

static const char status[] =
	"Name:\tredis-server\nUmask:\t0022\nState:\tS (sleeping)\n"
	"VmRSS:\t   12348 kB\nRssAnon:\t    8000 kB\nRssFile:\t    4096 kB\n"
	"RssShmem:\t     252 kB\nVmData:\t  100000 kB\nVmSwap:\t      16 kB\nThreads:\t5\n";

static void test_parse_fields(void **state)
{
	struct mo_proc_rss r;

	assert_int_equal(mo_proc_rss_parse(status, strlen(status), &r), 0);
	assert_int_equal(r.anon, 8000ULL * 1024);
	assert_int_equal(r.file, 4096ULL * 1024);
	assert_int_equal(r.shmem, 252ULL * 1024);
	assert_int_equal(r.swap, 16ULL * 1024);
	assert_int_equal(mo_proc_rss_total(&r), 12348ULL * 1024);
}

/* A kernel thread's status has no Rss lines; a truncated one lacks some. */
static void test_parse_missing(void **state)
{
	static const char kthread[] = "Name:\tkworker/0:1\nState:\tI (idle)\nThreads:\t1\n";
	struct mo_proc_rss r;

	assert_int_equal(mo_proc_rss_parse(kthread, strlen(kthread), &r), -EINVAL);
	/* cut inside RssShmem's number: the line has no digits left */
	assert_int_equal(mo_proc_rss_parse(status, strstr(status, "RssShmem") - status + 10, &r),
			 -EINVAL);
	assert_int_equal(mo_proc_rss_parse("", 0, &r), -EINVAL);
	assert_int_equal(mo_proc_rss_parse("RssAnon:", 8, &r), -EINVAL);
}

/* Keys are matched at the start of a line only, and absurd numbers are
 * capped instead of overflowing. */
static void test_parse_hostile(void **state)
{
	static const char s[] = "Name:\tRssAnon: 5 kB\nRssAnon:\t99999999999999999999999 kB\n"
				"RssFile: 1 kB\nRssShmem: 2 kB\n";
	struct mo_proc_rss r;

	assert_int_equal(mo_proc_rss_parse(s, strlen(s), &r), 0);
	assert_true(r.anon > 5 * 1024);
	assert_int_equal(r.file, 1024);
}

static void test_read_self(void **state)
{
	struct mo_proc_rss r;

	assert_int_equal(mo_proc_rss_read(getpid(), &r), 0);
	assert_true(mo_proc_rss_total(&r) > 0);
	assert_int_equal(mo_proc_rss_read(0x7ffffff0, &r), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_missing),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_read_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
