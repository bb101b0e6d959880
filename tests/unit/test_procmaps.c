// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_procmaps.c - /proc/PID/maps parser: literal samples, malformed lines,
 * the test's own maps, and a mutation loop that must never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmaps.h"

static const char sample[] =
	"55b966a1e000-55b966a20000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n"
	"55b966a20000-55b966a25000 r-xp 00002000 fe:00 247134                     /usr/bin/cat\n"
	"55b9a2b0b000-55b9a2b2c000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f9cab903000-7f9cab925000 rw-p 00000000 00:00 0 \n"
	"7f9cab9ac000-7f9cabb02000 r-xp 00026000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f9cabb6b000-7f9cabb72000 r--s 00000000 fe:00 332280                     /opt/my app/lib  two  spaces.so\n"
	"7f9cabb72000-7f9cabb73000 r-xp 00001000 103:02 18446744073709551615     /tmp/gone.so (deleted)\n"
	"7f9cabb79000-7f9cabb7b000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7ffe40343000-7ffe40364000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

static void test_sample(void **state)
{
	struct mo_maps m;
	const struct mo_map *e;

	assert_int_equal(mo_procmaps_parse(sample, strlen(sample), &m), 0);
	assert_int_equal(m.nr, 10);

	e = &m.maps[0];
	assert_true(e->start == 0x55b966a1e000ULL);
	assert_true(e->end == 0x55b966a20000ULL);
	assert_true(e->offset == 0);
	assert_int_equal(e->dev_major, 0xfe);
	assert_int_equal(e->dev_minor, 0);
	assert_true(e->inode == 247134);
	assert_true(e->r && !e->w && !e->x && e->p);
	assert_false(e->deleted);
	assert_string_equal(e->path, "/usr/bin/cat");

	e = &m.maps[1];
	assert_true(e->offset == 0x2000);
	assert_true(e->r && !e->w && e->x && e->p);

	e = &m.maps[2];
	assert_string_equal(e->path, "[heap]");
	assert_true(e->r && e->w && !e->x);

	e = &m.maps[3];
	assert_null(e->path);
	assert_true(e->inode == 0);

	e = &m.maps[4];
	assert_true(e->offset == 0x26000);
	assert_string_equal(e->path, "/usr/lib/x86_64-linux-gnu/libc.so.6");

	e = &m.maps[5];
	assert_false(e->p);
	assert_string_equal(e->path, "/opt/my app/lib  two  spaces.so");

	e = &m.maps[6];
	assert_true(e->deleted);
	assert_string_equal(e->path, "/tmp/gone.so");
	assert_int_equal(e->dev_major, 0x103);
	assert_int_equal(e->dev_minor, 2);
	assert_true(e->inode == UINT64_MAX);

	assert_string_equal(m.maps[7].path, "[vdso]");
	assert_string_equal(m.maps[8].path, "[stack]");
	e = &m.maps[9];
	assert_true(e->start == 0xffffffffff600000ULL);
	assert_true(!e->r && !e->w && e->x && e->p);
	assert_string_equal(e->path, "[vsyscall]");

	/* Boundaries: start inclusive, end exclusive, gaps miss. */
	assert_ptr_equal(mo_maps_find(&m, 0x55b966a1e000ULL), &m.maps[0]);
	assert_ptr_equal(mo_maps_find(&m, 0x55b966a1ffffULL), &m.maps[0]);
	assert_ptr_equal(mo_maps_find(&m, 0x55b966a20000ULL), &m.maps[1]);
	assert_ptr_equal(mo_maps_find(&m, 0x55b966a24fffULL), &m.maps[1]);
	assert_null(mo_maps_find(&m, 0x55b966a25000ULL));
	assert_null(mo_maps_find(&m, 0x1000));
	assert_null(mo_maps_find(&m, 0));
	assert_ptr_equal(mo_maps_find(&m, 0x7f9cab924abcULL), &m.maps[3]);
	assert_ptr_equal(mo_maps_find(&m, 0xffffffffff600fffULL), &m.maps[9]);
	assert_null(mo_maps_find(&m, UINT64_MAX));

	mo_maps_release(&m);
	assert_int_equal(m.nr, 0);
	assert_null(m.maps);
	mo_maps_release(&m);
	mo_maps_release(NULL);
}

static void test_edges(void **state)
{
	struct mo_maps m;
	const char *no_nl = "1000-2000 r-xp 00000000 08:01 42 /bin/x";
	const char *unsorted =
		"5000-6000 r--p 00000000 00:00 0\n"
		"1000-2000 r--p 00000000 00:00 0\n"
		"3000-4000 r--p 00000000 00:00 0\n";
	/* A path that is only the suffix keeps it: nothing precedes the blank. */
	const char *odd = "1000-2000 r--p 00000000 00:00 7 (deleted)\n";
	/* The kernel writes a newline in a path as \012; a backslash as is. */
	const char *nl = "1000-2000 r-xp 00000000 08:01 42 /t/a\\012b\\01\\x/c\\012 (deleted)\n";

	assert_int_equal(mo_procmaps_parse("", 0, &m), 0);
	assert_int_equal(m.nr, 0);
	assert_null(m.maps);
	assert_int_equal(mo_procmaps_parse(NULL, 0, &m), 0);
	assert_int_equal(m.nr, 0);

	assert_int_equal(mo_procmaps_parse(no_nl, strlen(no_nl), &m), 0);
	assert_int_equal(m.nr, 1);
	assert_string_equal(m.maps[0].path, "/bin/x");
	mo_maps_release(&m);

	/* len is honoured even when the text goes on. */
	assert_int_equal(mo_procmaps_parse(no_nl, strlen(no_nl) - 2, &m), 0);
	assert_string_equal(m.maps[0].path, "/bin");
	mo_maps_release(&m);

	assert_int_equal(mo_procmaps_parse(unsorted, strlen(unsorted), &m), 0);
	assert_int_equal(m.nr, 3);
	assert_true(m.maps[0].start == 0x1000 && m.maps[1].start == 0x3000 &&
		    m.maps[2].start == 0x5000);
	assert_ptr_equal(mo_maps_find(&m, 0x5800), &m.maps[2]);
	assert_null(mo_maps_find(&m, 0x2000));
	mo_maps_release(&m);

	assert_int_equal(mo_procmaps_parse(odd, strlen(odd), &m), 0);
	assert_string_equal(m.maps[0].path, "(deleted)");
	assert_false(m.maps[0].deleted);
	mo_maps_release(&m);

	assert_int_equal(mo_procmaps_parse(nl, strlen(nl), &m), 0);
	assert_string_equal(m.maps[0].path, "/t/a\nb\\01\\x/c\n");
	assert_true(m.maps[0].deleted);
	mo_maps_release(&m);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"\n",
		"1000-2000 r-xp 00000000 08:01 42 /a\n\n1000-2000 r-xp 00000000 08:01 42 /b\n",
		"1000 r-xp 00000000 08:01 42 /a\n",
		"1000-2000 r-xp 00000000 08:01\n",
		"1000-2000 r-xp 00000000 08:01 \n",
		"1000-2000 r-xp 00000000 0801 42\n",
		"1000-2000 rwxq 00000000 08:01 42\n",
		"1000-2000 r-x 00000000 08:01 42\n",
		"1000-2000 R-xp 00000000 08:01 42\n",
		"2000-1000 r-xp 00000000 08:01 42\n",
		"1000-1000 r-xp 00000000 08:01 42\n",
		"11111111111111111-2000 r-xp 00000000 08:01 42\n",
		"1000-2000 r-xp 00000000 123456789:01 42\n",
		"1000-2000 r-xp 00000000 08:01 18446744073709551616\n",
		"1000-2000 r-xp 00000000 08:01 42x /a\n",
		"1000-2000  r-xp 00000000 08:01 42 /a\n",
		"g000-2000 r-xp 00000000 08:01 42\n",
		"-2000 r-xp 00000000 08:01 42\n",
		"1000-2000 r-xp 00000000 08:01 42 /a\n garbage\n",
		/* overlapping maps (the kernel never writes them): nested, crossing, equal */
		"1000-9000 r-xp 00000000 08:01 42 /a\n2000-3000 r-xp 00000000 08:01 42 /b\n",
		"3000-5000 r-xp 00000000 08:01 42 /a\n1000-4000 r-xp 00000000 08:01 42 /b\n",
		"1000-2000 r-xp 00000000 08:01 42 /a\n1000-2000 r-xp 00000000 08:01 42 /a\n",
	};
	const char nul[] = "1000-2000 r-xp 00000000 08:01 42 /a\0b\n";
	struct mo_maps m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.nr = 99;
		m.maps = (struct mo_map *)&m;
		assert_int_equal(mo_procmaps_parse(bad[i], strlen(bad[i]), &m), -EINVAL);
		assert_int_equal(m.nr, 0);
		assert_null(m.maps);
	}
	assert_int_equal(mo_procmaps_parse(nul, sizeof(nul) - 1, &m), -EINVAL);
	assert_int_equal(m.nr, 0);
}

static int __attribute__((noinline)) marker(int x)
{
	return x * 7 + 1;
}

static void test_self(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct mo_maps m;
	const struct mo_map *e;
	int stack_var = marker(1);

	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(mo_procmaps_read(getpid(), &m), 0);
	assert_true(m.nr > 5);

	e = mo_maps_find(&m, (uint64_t)(uintptr_t)&marker);
	assert_non_null(e);
	assert_true(e->r && e->x && !e->w && e->p);
	assert_string_equal(e->path, exe);
	assert_true(e->inode != 0);

	e = mo_maps_find(&m, (uint64_t)(uintptr_t)&stack_var);
	assert_non_null(e);
	assert_true(e->r && e->w && !e->x);

	for (size_t i = 1; i < m.nr; i++)
		assert_true(m.maps[i - 1].end <= m.maps[i].start);
	mo_maps_release(&m);

	assert_int_equal(mo_procmaps_read(-1, &m), -ESRCH);
	assert_int_equal(m.nr, 0);
	assert_null(m.maps);
}

/* Random byte flips, truncations and splices of the sample: the parser must
 * return 0 or -EINVAL and, on success, hand back well-formed maps. */
static void test_mutations(void **state)
{
	size_t len = strlen(sample);
	char *buf = malloc(len);
	unsigned seed = 12345;
	int ok = 0, rejected = 0;
	static const char alphabet[] = "0123456789abcdefg-: \n\0rwxps()[]/";

	assert_non_null(buf);
	for (int iter = 0; iter < 20000; iter++) {
		struct mo_maps m;
		size_t cut = (size_t)rand_r(&seed) % (len + 1);
		int flips = rand_r(&seed) % 4;
		int err;

		memcpy(buf, sample, len);
		for (int f = 0; f < flips; f++)
			buf[(size_t)rand_r(&seed) % len] =
				alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
		/* Exactly cut bytes, copied so ASan sees any overread. */
		char *exact = malloc(cut ? cut : 1);

		assert_non_null(exact);
		memcpy(exact, buf, cut);
		err = mo_procmaps_parse(exact, cut, &m);
		assert_true(err == 0 || err == -EINVAL);
		if (err == 0) {
			ok++;
			for (size_t i = 0; i < m.nr; i++) {
				assert_true(m.maps[i].start < m.maps[i].end);
				if (i)
					assert_true(m.maps[i - 1].start <= m.maps[i].start);
				if (m.maps[i].path)
					assert_true(strlen(m.maps[i].path) > 0);
			}
		} else {
			rejected++;
			assert_int_equal(m.nr, 0);
		}
		mo_maps_release(&m);
		free(exact);
	}
	free(buf);
	/* Both outcomes must be exercised for the loop to mean anything. */
	assert_true(ok > 1000 && rejected > 1000);
}

/* A stat file's fields follow the command name's last ')', whatever the
 * name holds; unreadable and malformed files are told apart by errno. */
static void test_stat_fields(void **state)
{
	char path[] = "/tmp/mo-stat-XXXXXX", buf[256], self[64];
	const char *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "42 (a) Z (b) R 1 42 42 0 -1 4194560", 35), 35);
	close(fd);
	f = mo_proc_stat_fields(path, buf, sizeof(buf));
	assert_non_null(f);
	assert_int_equal(strncmp(f, "R 1 42", 6), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "42 (no end", 10), 10);
	close(fd);
	assert_null(mo_proc_stat_fields(path, buf, sizeof(buf)));
	assert_int_equal(errno, EINVAL);
	unlink(path);
	assert_null(mo_proc_stat_fields(path, buf, sizeof(buf)));
	assert_int_equal(errno, ENOENT);
	snprintf(self, sizeof(self), "/proc/%d/stat", (int)getpid());
	f = mo_proc_stat_fields(self, buf, sizeof(buf));
	assert_non_null(f);
	assert_int_equal(f[0], 'R');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_stat_fields),
	};

	return cmocka_run_group_tests_name("procmaps", tests, NULL, NULL);
}
