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

/* A NUL in a name makes its line malformed (a name is a C string on both
 * sides of the parser process); a long name is cut at the limit, not in
 * the middle of a UTF-8 sequence. */
static void test_nul_and_long_names(void **state)
{
	static char text[3 * MO_PERFMAP_NAME_MAX];
	struct mo_perfmap m;
	char *t;
	int n;

	t = malloc(32);
	assert_non_null(t);
	memcpy(t, "10 10 \0name\n20 10 a\0b\n30 10 ok\n", 32);
	assert_int_equal(mo_perfmap_parse(t, 31, &m), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.malformed, 2);
	assert_string_equal(m.e[0].name, "ok");
	mo_perfmap_release(&m);

	n = snprintf(text, sizeof(text), "10 10 ");
	memset(text + n, 'x', MO_PERFMAP_NAME_MAX + 50);
	/* a 2-byte sequence across the limit */
	memcpy(text + n + MO_PERFMAP_NAME_MAX - 1, "\xc3\xa9", 2);
	m = parse(text);
	assert_int_equal(m.n, 1);
	assert_int_equal(strlen(m.e[0].name), MO_PERFMAP_NAME_MAX - 1);
	mo_perfmap_release(&m);
	text[n + MO_PERFMAP_NAME_MAX - 1] = 'x';
	text[n + MO_PERFMAP_NAME_MAX] = 'x';
	m = parse(text);
	assert_int_equal(strlen(m.e[0].name), MO_PERFMAP_NAME_MAX);
	mo_perfmap_release(&m);
}

/* More lines that parse than MO_PERFMAP_MAX_ENTRIES: refused whole. */
static void test_too_many_entries(void **state)
{
	static const char line[] = "1 1 a\n";
	size_t len = (MO_PERFMAP_MAX_ENTRIES + 1) * (sizeof(line) - 1);
	struct mo_perfmap m;
	char *t = malloc(len + 1);

	assert_non_null(t);
	for (size_t i = 0; i < len; i += sizeof(line) - 1)
		memcpy(t + i, line, sizeof(line) - 1);
	t[len] = '\0';
	assert_int_equal(mo_perfmap_parse(t, len, &m), -EFBIG);
	mo_perfmap_release(&m);
	t = malloc(len + 1);
	assert_non_null(t);
	for (size_t i = 0; i < len; i += sizeof(line) - 1)
		memcpy(t + i, line, sizeof(line) - 1);
	len -= sizeof(line) - 1;
	t[len] = '\0';
	assert_int_equal(mo_perfmap_parse(t, len, &m), 0);
	assert_int_equal(m.n, 1);	/* the same start: one entry */
	mo_perfmap_release(&m);
}

/* The parser set is handed our own map's descriptor and its size. */
static int seen_size = -1;

static int fake_parser(void *ctx, int fd, size_t size, struct mo_perfmap *out)
{
	assert_ptr_equal(ctx, &seen_size);
	seen_size = (int)size;
	return mo_perfmap_parse_fd(fd, size - 1, out);	/* all but the newline */
}

static void test_parser_hook(void **state)
{
	char path[64];
	struct mo_perfmap m;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "400000 100 through_hook\n");
	fclose(f);
	mo_perfmap_set_parser(fake_parser, &seen_size);
	assert_ptr_equal(mo_perfmap_parser_ctx(), &seen_size);
	assert_int_equal(mo_perfmap_read(getpid(), &m), 0);
	assert_int_equal(seen_size, 24);
	assert_string_equal(mo_perfmap_find(&m, 0x400010)->name, "through_hook");
	mo_perfmap_release(&m);
	mo_perfmap_set_parser(NULL, NULL);
	assert_null(mo_perfmap_parser_ctx());
	seen_size = -1;
	assert_int_equal(mo_perfmap_read(getpid(), &m), 0);
	assert_int_equal(seen_size, -1);
	mo_perfmap_release(&m);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_find),
		cmocka_unit_test(test_empty_and_unterminated),
		cmocka_unit_test(test_read_own),
		cmocka_unit_test(test_nul_and_long_names),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_parser_hook),
	};

	return cmocka_run_group_tests_name("perfmap", tests, NULL, NULL);
}
