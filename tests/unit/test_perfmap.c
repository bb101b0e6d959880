// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_perfmap.c - the JIT perf map parser and lookup; reading a map safely. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "perfmap.h"

static struct mo_perfmap parse(const char *s)
{
	struct mo_perfmap m;
	char *t = strdup(s);

	assert_non_null(t);
	assert_int_equal(mo_perfmap_parse(t, strlen(s), &m), 0);
	return m;
}

static void test_parse_and_find(void **state)
{
	struct mo_perfmap m = parse("7f0000001040 20 Builtin:Adaptor\n"
				    "0x7f0000001000 40 LazyCompile:~leak /srv/app.js:3\r\n"
				    "bad line\n"
				    "1000 0 zero size\n"
				    "ffffffffffffffff 10 wraps\n"
				    "2000 10\n");
	const struct mo_perfmap_entry *e;

	assert_int_equal(m.n, 2);
	assert_int_equal(m.malformed, 4);
	e = mo_perfmap_find(&m, 0x7f0000001010);
	assert_non_null(e);
	assert_string_equal(e->name, "LazyCompile:~leak /srv/app.js:3");
	/* a later entry over the same code wins from its start on */
	e = mo_perfmap_find(&m, 0x7f0000001041);
	assert_string_equal(e->name, "Builtin:Adaptor");
	mo_perfmap_release(&m);
	m = parse("1000 100 outer\n1010 10 inner\n1000 100 again\n");
	assert_int_equal(m.n, 2);
	assert_string_equal(mo_perfmap_find(&m, 0x1005)->name, "again");
	assert_string_equal(mo_perfmap_find(&m, 0x1015)->name, "inner");
	assert_null(mo_perfmap_find(&m, 0x1020));
	assert_null(mo_perfmap_find(&m, 0x7f0000001060));
	assert_null(mo_perfmap_find(&m, 0x10));
	mo_perfmap_release(&m);
}

static void test_empty_and_unterminated(void **state)
{
	struct mo_perfmap m = parse("");

	assert_int_equal(m.n, 0);
	assert_null(mo_perfmap_find(&m, 1));
	mo_perfmap_release(&m);
	m = parse("10 10 last line without newline");
	assert_int_equal(m.n, 1);
	assert_string_equal(mo_perfmap_find(&m, 0x15)->name, "last line without newline");
	mo_perfmap_release(&m);
}

/* Our own perf map: found in our root, by our pid; a FIFO or a symlink put
 * in its place is refused without blocking. */
static void test_read_own(void **state)
{
	char path[64];
	struct mo_perfmap m;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	unlink(path);
	assert_int_equal(mo_perfmap_read(getpid(), &m), -ENOENT);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "400000 100 jitted_leak\n");
	fclose(f);
	assert_int_equal(mo_perfmap_read(getpid(), &m), 0);
	assert_string_equal(mo_perfmap_find(&m, 0x400010)->name, "jitted_leak");
	mo_perfmap_release(&m);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(mo_perfmap_read(getpid(), &m), -EPERM);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(mo_perfmap_read(getpid(), &m), -EPERM);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_find),
		cmocka_unit_test(test_empty_and_unterminated),
		cmocka_unit_test(test_read_own),
	};

	return cmocka_run_group_tests_name("perfmap", tests, NULL, NULL);
}
