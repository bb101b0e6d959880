// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_deps.c - a program's library closure (src/lib/deps.c) on files of
 * this system: /bin/sh's closure holds the C library after the program; a
 * "#!" script's program is its interpreter, through nested scripts; a
 * musl program's "libc.so" is its interpreter (when musl is installed: the
 * ELF is made here by musl-gcc, else that case is skipped); a program or
 * library that is a FIFO is not waited on (under an alarm: a hang fails).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "deps.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static char dir[] = "/tmp/mo-deps.XXXXXX";

static bool has_path(const struct mo_deps *d, const char *path)
{
	for (size_t i = 0; i < d->nr; i++)
		if (strcmp(d->paths[i], path) == 0)
			return true;
	return false;
}

static void write_script(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_elf_program(void **state)
{
	struct mo_deps d;

	(void)state;
	assert_int_equal(mo_deps_resolve("/bin/sh", &d), 0);
	assert_string_equal(d.exe, "/bin/sh");
	assert_true(d.nr >= 2);
	assert_string_equal(d.paths[0], "/bin/sh");
	assert_true(has_path(&d, LIBC));
	mo_deps_release(&d);
}

static void test_scripts(void **state)
{
	char a[64], b[64], c[64];
	struct mo_deps d;

	(void)state;
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	write_script(b, "#!/bin/sh -e\necho b\n");
	{
		char text[128];

		snprintf(text, sizeof(text), "#!  %s  arg\necho a\n", b);
		write_script(a, text);
	}
	write_script(c, "#!relative/interp\n");

	/* a -> b -> /bin/sh, spaces and arguments ignored */
	assert_int_equal(mo_deps_resolve(a, &d), 0);
	assert_string_equal(d.exe, "/bin/sh");
	assert_string_equal(d.paths[0], "/bin/sh");
	assert_true(has_path(&d, LIBC));
	assert_false(has_path(&d, a));
	mo_deps_release(&d);

	/* not an absolute interpreter: the file itself, no libraries */
	assert_int_equal(mo_deps_resolve(c, &d), 0);
	assert_string_equal(d.exe, c);
	assert_int_equal(d.nr, 1);
	mo_deps_release(&d);

	assert_int_equal(mo_deps_resolve("/nonexistent/prog", &d), -ENOENT);
	mo_deps_release(&d);
	unlink(a);
	unlink(b);
	unlink(c);
}

static void test_musl(void **state)
{
	char src[64], exe[64], cmd[256];
	struct mo_deps d;
	FILE *f;

	(void)state;
	if (access("/lib/ld-musl-x86_64.so.1", R_OK) || system("command -v musl-gcc >/dev/null"))
		skip();
	snprintf(src, sizeof(src), "%s/m.c", dir);
	snprintf(exe, sizeof(exe), "%s/m", dir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs("#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "musl-gcc %s -o %s", src, exe);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mo_deps_resolve(exe, &d), 0);
	assert_true(has_path(&d, "/lib/ld-musl-x86_64.so.1"));
	assert_false(has_path(&d, "/usr/lib/x86_64-linux-gnu/libc.so"));	/* glibc's linker script */
	mo_deps_release(&d);
	unlink(src);
	unlink(exe);
}

static void test_fifos(void **state)
{
	char fifo[64], lib[80], prog[80], cmd[512];
	const char *old = getenv("LD_LIBRARY_PATH");
	struct mo_deps d;

	(void)state;
	alarm(20);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0755), 0);
	assert_int_equal(mo_deps_resolve(fifo, &d), 0);
	assert_int_equal(d.nr, 1);	/* itself, with nothing read from it */
	mo_deps_release(&d);
	unlink(fifo);

	/* a program whose DT_NEEDED library is now a FIFO */
	snprintf(lib, sizeof(lib), "%s/libfifo.so", dir);
	snprintf(prog, sizeof(prog), "%s/prog", dir);
	snprintf(cmd, sizeof(cmd),
		 "echo 'int f(void) { return 1; }' | gcc -shared -fPIC -x c - -o '%s' && "
		 "echo 'int f(void); int main(void) { return f(); }' | "
		 "gcc -x c - -o '%s' -L'%s' -lfifo",
		 lib, prog, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(unlink(lib), 0);
	assert_int_equal(mkfifo(lib, 0755), 0);
	setenv("LD_LIBRARY_PATH", dir, 1);
	assert_int_equal(mo_deps_resolve(prog, &d), 0);
	assert_true(has_path(&d, lib));
	assert_true(has_path(&d, LIBC));
	mo_deps_release(&d);
	if (old)
		setenv("LD_LIBRARY_PATH", old, 1);
	else
		unsetenv("LD_LIBRARY_PATH");
	unlink(lib);
	unlink(prog);
	alarm(0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_program),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_musl),
		cmocka_unit_test(test_fifos),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
