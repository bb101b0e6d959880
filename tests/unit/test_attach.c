// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_attach.c - the allocator file is the inode the process maps, opened
 * once: a static program (its own allocator) whose path is swapped for a
 * symlink to the C library is still the file opened, and the path handed
 * to the kernel for the uprobes (/proc/self/fd/N) resolves to it; a
 * process whose library was replaced by a FIFO is listed without blocking.
 * Builds its programs with gcc at run time (a static one needs libc.a).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach.h"
#include "safefile.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

struct scratch {
	char dir[64];
	pid_t child;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	strcpy(s->dir, "/tmp/mo_attach_XXXXXX");
	if (!mkdtemp(s->dir)) {
		free(s);
		return -1;
	}
	*state = s;
	alarm(60);
	return 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	char cmd[96];

	alarm(0);
	if (s->child > 0) {
		kill(s->child, SIGKILL);
		waitpid(s->child, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	free(s);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run prog; it prints a line once it has allocated, then pauses. */
static pid_t start(struct scratch *s, const char *prog)
{
	char line[16];
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	s->child = pid;
	close(fds[1]);
	assert_true(read(fds[0], line, sizeof(line)) > 0);
	close(fds[0]);
	return pid;
}

static const char prog_src[] =
	"#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
	"int main(void) { volatile char *p = malloc(100); p[0] = 1;\n"
	"  puts(\"up\"); fflush(stdout); pause(); return 0; }\n";

static void build(const struct scratch *s, const char *flags, char *prog)
{
	char src[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *f;

	snprintf(src, sizeof(src), "%s/prog.c", s->dir);
	snprintf(prog, PATH_MAX, "%s/prog", s->dir);
	f = fopen(src, "w");
	assert_non_null(f);
	fputs(prog_src, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gcc -O1 %s -o '%s' '%s'", flags, prog, src);
	assert_int_equal(system(cmd), 0);
}

static void test_static_swapped_for_libc(void **state)
{
	struct scratch *s = *state;
	struct mo_allocator a = { .fd = -1 };
	char prog[PATH_MAX], self[64];
	struct stat orig, libc, st;
	pid_t pid;

	build(s, "-static", prog);
	assert_int_equal(stat(prog, &orig), 0);
	assert_int_equal(stat(LIBC, &libc), 0);
	pid = start(s, prog);
	/* the program's file goes; its path now leads to the C library, which
	 * defines malloc too */
	assert_int_equal(unlink(prog), 0);
	assert_int_equal(symlink(LIBC, prog), 0);

	if (geteuid() != 0) {
		/* no map_files: the deleted file cannot be read, and the path
		 * is never taken for it */
		assert_true(mo_allocator_open(pid, NULL, &a) < 0);
		assert_int_equal(a.fd, -1);
		return;
	}
	assert_int_equal(mo_allocator_open(pid, NULL, &a), 0);
	assert_true(a.fd >= 0);
	assert_int_equal(a.ino, orig.st_ino);
	assert_true(a.ino != libc.st_ino);
	/* what the uprobes are attached to */
	mo_fd_path(a.fd, self, sizeof(self));
	assert_int_equal(stat(self, &st), 0);
	assert_int_equal(st.st_ino, orig.st_ino);
	assert_int_equal(st.st_dev, orig.st_dev);
	mo_allocator_close(&a);
	assert_int_equal(a.fd, -1);
	mo_allocator_close(&a);
}

static void test_fifo_library_listed(void **state)
{
	struct scratch *s = *state;
	char prog[PATH_MAX], lib[PATH_MAX], cmd[3 * PATH_MAX];
	struct mo_allocator_candidate *c;
	struct mo_allocator a = { .fd = -1 };
	bool libc_chosen = false;
	size_t n;
	pid_t pid;

	snprintf(lib, sizeof(lib), "%s/libf.so", s->dir);
	snprintf(cmd, sizeof(cmd),
		 "echo 'int f(void) { return 1; }' | gcc -shared -fPIC -x c - -o '%s'", lib);
	assert_int_equal(system(cmd), 0);
	build(s, "", prog);
	snprintf(cmd, sizeof(cmd), "cd '%s' && gcc -O1 -o prog prog.c -L. -lf -Wl,--no-as-needed "
		 "-Wl,-rpath,'%s'", s->dir, s->dir);
	assert_int_equal(system(cmd), 0);
	pid = start(s, prog);
	assert_int_equal(unlink(lib), 0);
	assert_int_equal(mkfifo(lib, 0755), 0);
	assert_int_equal(mo_allocator_list(pid, NULL, &c, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (c[i].chosen)
			libc_chosen = strcmp(c[i].role, "C library") == 0;
	free(c);
	assert_true(libc_chosen);
	assert_int_equal(mo_allocator_open(pid, NULL, &a), 0);
	mo_allocator_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static_swapped_for_libc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_library_listed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
