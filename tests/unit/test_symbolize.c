// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_symbolize.c - symbolize the test's own functions, libc, anonymous and
 * file mappings, a dlopen'ed library and a stripped child program whose
 * symbols and lines live only in a separate debug file (.gnu_debuglink);
 * hostile files: a debuglink naming a FIFO, a library truncated after it
 * was read, a program replaced by a FIFO.
 * Needs gcc and objcopy at run time; build this file with -g.
 */
#include <dlfcn.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "elfsym.h"
#include "symbolize.h"

#define NOINL __attribute__((noinline, noclone, used))
#define KEEP(v) __asm__ volatile("" : : "r"(v) : "memory")

/* In .data: mapped from mid-segment after RELRO splits the RW segment. */
int mo_test_global[64] = { 1 };

/* Each probe function sits on one line, so its entry has that line. */
static const int target_line = __LINE__ + 1;
NOINL int target_fn(int x) { KEEP(x); return x * 3 + (int)(getpid() % 7); }

/* C functions under mangled names, as a C++ compiler names them. */
NOINL int mangled_plain(int x) __asm__("_Z22create_detached_threadv");
NOINL int mangled_plain(int x) { KEEP(x); return x + 1; }
NOINL int mangled_nested(int x) __asm__("_ZN2mo6detail5countEPKcm");
NOINL int mangled_nested(int x) { KEEP(x); return x + 2; }

NOINL void *ra_callee(void) { return __builtin_return_address(0); }
static const int ra_line = __LINE__ + 1;
NOINL void *ra_caller(void) { void *ra = ra_callee(); KEEP(ra); return ra; }

static const int inl_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void *inl_fn(void) { void *ra = ra_callee(); KEEP(ra); return ra; }
static const int inl_call_line = __LINE__ + 1;
NOINL void *inl_outer(void) { void *ra = inl_fn(); KEEP(ra); return ra; }

/* Two levels of inlining: each level is a frame at its own call line. */
static const int nest_inner_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void *nest_inner(void) { void *ra = ra_callee(); KEEP(ra); return ra; }
static const int nest_middle_line = __LINE__ + 1;
static inline __attribute__((always_inline)) void *nest_middle(void) { void *ra = nest_inner(); KEEP(ra); return ra; }
static const int nest_outer_line = __LINE__ + 1;
NOINL void *nest_outer(void) { void *ra = nest_middle(); KEEP(ra); return ra; }

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint64_t addr_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static char *self_exe(void)
{
	static char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	return exe;
}

/* ELF vaddr of p in its object: the object's first vaddr is 0 (PIE). */
static uint64_t object_offset(const void *p)
{
	Dl_info info;

	assert_true(dladdr(p, &info) != 0);
	return addr_of(p) - addr_of(info.dli_fbase);
}

static void test_own_function(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ip = addr_of(target_fn);
	struct mo_frame *f;
	char id[160];
	size_t n;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	/* Frames own their strings: they outlive the symbolizer. */
	mo_symbolizer_free(s);
	assert_int_equal(n, 1);
	assert_true(f[0].address == ip);
	assert_string_equal(f[0].symbol, "target_fn");
	assert_true(f[0].offset == 0);
	assert_string_equal(f[0].module, self_exe());
	assert_true(f[0].module_offset == object_offset(target_fn));
	/* the build id of the file that was read */
	assert_int_equal(mo_elf_build_id(self_exe(), id, sizeof(id)), 0);
	assert_non_null(f[0].build_id);
	assert_string_equal(f[0].build_id, id);
	assert_non_null(f[0].file);
	assert_true(ends_with(f[0].file, "/test_symbolize.c"));
	assert_int_equal(f[0].line, target_line);
	assert_false(f[0].inlined);
	mo_frames_free(f, n);
}

static void test_demangle(void **state)
{
	static const char *const cases[][2] = {
		{ "_Z22create_detached_threadv", "create_detached_thread()" },
		{ "_Znwm", "operator new(unsigned long)" },
		{ "_ZNSt6vectorIcSaIcEE7reserveEm", "std::vector<char, std::allocator<char> >::reserve(unsigned long)" },
		{ "_Z3foov.cold", "foo() [clone .cold]" },
		/* Rust, legacy (hash dropped) and v0 */
		{ "_ZN7mycrate4leak17h0123456789abcdefE", "mycrate::leak" },
		{ "_RNvCs1234_7mycrate4leak", "mycrate::leak" },
	};
	static const char *const kept[] = { "main", "_start", "_Z", "_Zzz", "_R", "__libc_start_main",
					    "" };
	char *long_name = malloc(MO_DEMANGLE_MAX + 16);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = mo_demangle(cases[i][0]);

		assert_non_null(d);
		assert_string_equal(d, cases[i][1]);
		free(d);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		assert_null(mo_demangle(kept[i]));
	assert_null(mo_demangle(NULL));
	/* too long to be worth it: kept as it is */
	assert_non_null(long_name);
	snprintf(long_name, MO_DEMANGLE_MAX + 16, "_Z%d", MO_DEMANGLE_MAX + 4);
	memset(long_name + strlen(long_name), 'a', MO_DEMANGLE_MAX + 15 - strlen(long_name));
	long_name[MO_DEMANGLE_MAX + 15] = '\0';
	assert_null(mo_demangle(long_name));
	free(long_name);
}

/* The symbolizer demangles and keeps the name in the file beside it. */
static void test_mangled_names(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ips[3] = { addr_of(mangled_plain), addr_of(mangled_nested), addr_of(target_fn) };
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(s, getpid(), ips, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "create_detached_thread()");
	assert_string_equal(f[0].linkage_name, "_Z22create_detached_threadv");
	mo_frames_free(f, n);
	/* one at a time: later frames are looked up as return addresses */
	assert_int_equal(mo_symbolize(s, getpid(), &ips[1], 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "mo::detail::count(char const*, unsigned long)");
	assert_string_equal(f[0].linkage_name, "_ZN2mo6detail5countEPKcm");
	mo_frames_free(f, n);
	assert_int_equal(mo_symbolize(s, getpid(), &ips[2], 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "target_fn");
	assert_null(f[0].linkage_name);
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
	KEEP(mangled_plain(1) + mangled_nested(2));
}

static void test_data_symbol(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ip = addr_of(&mo_test_global[3]);
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "mo_test_global");
	assert_true(f[0].offset == 3 * sizeof(int));
	assert_string_equal(f[0].module, self_exe());
	assert_true(f[0].module_offset == object_offset(&mo_test_global[3]));
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
}

static void test_return_address(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ips[2] = { addr_of(target_fn), addr_of(ra_caller()) };
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_true(ips[1] > addr_of(ra_caller));
	for (int round = 0; round < 2; round++) {	/* second round: cached */
		assert_int_equal(mo_symbolize(s, getpid(), ips, 2, &f, &n), 0);
		assert_int_equal(n, 2);
		assert_string_equal(f[0].symbol, "target_fn");
		assert_true(f[1].address == ips[1]);
		assert_string_equal(f[1].symbol, "ra_caller");
		assert_true(f[1].offset == ips[1] - addr_of(ra_caller));
		assert_true(f[1].module_offset == object_offset((void *)(uintptr_t)ips[1]));
		assert_true(ends_with(f[1].file, "/test_symbolize.c"));
		assert_int_equal(f[1].line, ra_line);
		assert_false(f[1].inlined);
		mo_frames_free(f, n);
	}

	/* As the innermost frame the same address is not moved back. */
	assert_int_equal(mo_symbolize(s, getpid(), &ips[1], 1, &f, &n), 0);
	assert_true(f[0].address == ips[1]);
	assert_true(f[0].offset == ips[1] - addr_of(ra_caller));
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
}

static void test_inlined_nested(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ips[2] = { addr_of(target_fn), addr_of(nest_outer()) };
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(s, getpid(), ips, 2, &f, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(f[0].symbol, "target_fn");

	assert_string_equal(f[1].symbol, "nest_inner");
	assert_true(f[1].inlined);
	assert_int_equal(f[1].line, nest_inner_line);

	assert_string_equal(f[2].symbol, "nest_middle");
	assert_true(f[2].inlined);
	assert_true(ends_with(f[2].file, "/test_symbolize.c"));
	assert_int_equal(f[2].line, nest_middle_line);

	assert_string_equal(f[3].symbol, "nest_outer");
	assert_false(f[3].inlined);
	assert_true(f[3].offset == ips[1] - addr_of(nest_outer));
	assert_int_equal(f[3].line, nest_outer_line);
	for (size_t i = 1; i < n; i++)
		assert_true(f[i].address == ips[1]);
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
}

static void test_inlined(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ips[2] = { addr_of(target_fn), addr_of(inl_outer()) };
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(s, getpid(), ips, 2, &f, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(f[0].symbol, "target_fn");
	assert_false(f[0].inlined);

	assert_true(f[1].address == ips[1]);
	assert_string_equal(f[1].symbol, "inl_fn");
	assert_true(f[1].inlined);
	assert_true(ends_with(f[1].file, "/test_symbolize.c"));
	assert_int_equal(f[1].line, inl_line);
	assert_string_equal(f[1].module, self_exe());

	assert_true(f[2].address == ips[1]);
	assert_string_equal(f[2].symbol, "inl_outer");
	assert_false(f[2].inlined);
	assert_true(f[2].offset == ips[1] - addr_of(inl_outer));
	assert_true(ends_with(f[2].file, "/test_symbolize.c"));
	assert_int_equal(f[2].line, inl_call_line);
	assert_true(f[2].module_offset == f[1].module_offset);
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
}

static void test_libc(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	/* libc's own malloc: under ASan the global one is the interceptor. */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *fn;
	uint64_t ip;
	struct mo_frame *f;
	size_t n;

	assert_non_null(s);
	assert_non_null(libc);
	fn = dlsym(libc, "malloc");
	assert_non_null(fn);
	ip = addr_of(fn);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_true(ends_with(f[0].module, "/libc.so.6"));
	assert_non_null(f[0].symbol);
	assert_true(strcmp(f[0].symbol, "malloc") == 0 ||
		    strcmp(f[0].symbol, "__libc_malloc") == 0);
	assert_true(f[0].offset == 0);
	assert_true(f[0].module_offset == object_offset(fn));
	mo_frames_free(f, n);
	dlclose(libc);
	mo_symbolizer_free(s);
}

static void test_unknown(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ips[3] = { addr_of(target_fn), 0, 0x10 };
	struct mo_frame *f;
	size_t n;
	char path[] = "/tmp/mo_symXXXXXX";
	char page[4096];
	void *anon, *filemap;
	int fd;

	assert_non_null(s);
	/* The view exists before the mappings below: found by re-reading. */
	assert_int_equal(mo_symbolize(s, getpid(), ips, 1, &f, &n), 0);
	mo_frames_free(f, n);

	anon = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(page, 'x', sizeof(page));
	assert_int_equal(write(fd, page, sizeof(page)), sizeof(page));
	assert_int_equal(write(fd, page, sizeof(page)), sizeof(page));
	filemap = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	/* Unlinked now so a failed assertion leaves nothing behind; the map
	 * then reads "(deleted)", which must not reach the module name. */
	unlink(path);
	close(fd);
	assert_true(filemap != MAP_FAILED);

	ips[0] = addr_of(anon) + 100;
	ips[1] = addr_of(filemap) + 201;	/* looked up at +200 */
	assert_int_equal(mo_symbolize(s, getpid(), ips, 3, &f, &n), 0);
	assert_int_equal(n, 3);

	assert_true(f[0].address == ips[0]);
	assert_null(f[0].symbol);
	assert_null(f[0].module);
	assert_null(f[0].file);
	assert_int_equal(f[0].line, 0);

	assert_true(f[1].address == ips[1]);
	assert_null(f[1].symbol);
	assert_string_equal(f[1].module, path);
	assert_true(f[1].module_offset == 4096 + 201);
	assert_null(f[1].file);

	assert_true(f[2].address == 0x10);
	assert_null(f[2].symbol);
	assert_null(f[2].module);
	assert_true(f[2].module_offset == 0);
	mo_frames_free(f, n);

	munmap(anon, 2 * 4096);
	munmap(filemap, 4096);
	mo_symbolizer_free(s);
}

static void test_api_edges(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ip = addr_of(target_fn);
	struct mo_frame *f = (struct mo_frame *)&ip;
	size_t n = 7;
	pid_t child;

	assert_non_null(s);
	assert_int_equal(mo_symbolize(NULL, getpid(), &ip, 1, &f, &n), -EINVAL);
	assert_int_equal(mo_symbolize(s, getpid(), NULL, 1, &f, &n), -EINVAL);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 0, &f, &n), 0);
	assert_null(f);
	assert_int_equal(n, 0);

	/* forget drops the view; the next call builds a new one. */
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	mo_frames_free(f, n);
	mo_symbolizer_forget(s, getpid());
	mo_symbolizer_forget(s, 999999999);
	mo_symbolizer_refresh(s, getpid());
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "target_fn");
	mo_frames_free(f, n);
	mo_symbolizer_refresh(s, getpid());
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "target_fn");
	mo_frames_free(f, n);

	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(mo_symbolize(s, child, &ip, 1, &f, &n), -ESRCH);

	mo_frames_free(NULL, 0);
	mo_symbolizer_free(NULL);
	mo_symbolizer_forget(NULL, 1);
	mo_symbolizer_refresh(NULL, 1);
	mo_symbolizer_free(s);
}

/* ---- programs built at test time ---- */

/* Per-test scratch: a directory and a child, both removed by teardown even
 * when an assertion fails. */
struct tmpdir {
	char path[256];
	pid_t child;
};

static void tmp_file(const struct tmpdir *d, const char *name, char *out)
{
	int len = snprintf(out, PATH_MAX, "%.255s/%.64s", d->path, name);

	assert_true(len > 0 && len < PATH_MAX);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void run(const char *cmd)
{
	assert_int_equal(system(cmd), 0);
}

static int setup_tmpdir(void **state)
{
	struct tmpdir *d = calloc(1, sizeof(*d));
	char tmpl[] = "/tmp/mo_symbolize_XXXXXX", real[PATH_MAX];

	/* Maps show resolved paths: /tmp may be a symlink. */
	if (!d || !mkdtemp(tmpl) || !realpath(tmpl, real) ||
	    strlen(real) >= sizeof(d->path)) {
		free(d);
		return -1;
	}
	strcpy(d->path, real);
	*state = d;
	return 0;
}

static int teardown_tmpdir(void **state)
{
	struct tmpdir *d = *state;
	char cmd[sizeof(d->path) + 16];

	if (d->child > 0) {
		kill(d->child, SIGKILL);
		waitpid(d->child, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	free(d);
	return system(cmd) == 0 ? 0 : -1;
}

/* dl_fn is on line 2. */
static const char lib_src[] =
	"/* loaded after the symbolizer read the maps */\n"
	"int dl_fn(int x) { return x * 11 + 1; }\n";

static void *load(const char *path, void **handle)
{
	void *fn;

	*handle = dlopen(path, RTLD_NOW);
	assert_non_null(*handle);
	fn = dlsym(*handle, "dl_fn");
	assert_non_null(fn);
	return fn;
}

static void test_dlopen(void **state)
{
	struct tmpdir *d = *state;
	struct mo_symbolizer *s = mo_symbolizer_new();
	char src[PATH_MAX], so[PATH_MAX], gone[PATH_MAX], cmd[5 * PATH_MAX];
	uint64_t ip = addr_of(target_fn);
	struct mo_frame *f;
	size_t n;
	void *h, *h2, *fn;

	assert_non_null(s);
	tmp_file(d, "dl.c", src);
	tmp_file(d, "libmo_dl.so", so);
	tmp_file(d, "libmo_gone.so", gone);
	write_file(src, lib_src);
	/* Code whose vaddr is far from its file offset (0x2000 here). */
	snprintf(cmd, sizeof(cmd),
		 "gcc -g -O1 -shared -fPIC -Wl,--section-start=.text=0x300000 -o '%s' '%s' && "
		 "gcc -g -O1 -shared -fPIC -o '%s' '%s'", so, src, gone, src);
	run(cmd);

	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	mo_frames_free(f, n);

	fn = load(so, &h);
	assert_true(object_offset(fn) >= 0x300000);
	ip = addr_of(fn);
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "dl_fn");
	assert_true(f[0].offset == 0);
	assert_string_equal(f[0].module, so);
	assert_true(f[0].module_offset == object_offset(fn));
	assert_string_equal(f[0].file, src);
	assert_int_equal(f[0].line, 2);
	mo_frames_free(f, n);

	/* A deleted file is reached through /proc/PID/map_files, which
	 * needs CAP_SYS_ADMIN; without it the frame keeps module+offset. */
	fn = load(gone, &h2);
	assert_int_equal(unlink(gone), 0);
	ip = addr_of(fn) + 1;
	assert_int_equal(mo_symbolize(s, getpid(), &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].module, gone);
	assert_true(f[0].module_offset == object_offset(fn) + 1);
	if (geteuid() == 0) {
		assert_string_equal(f[0].symbol, "dl_fn");
		assert_true(f[0].offset == 1);
		assert_int_equal(f[0].line, 2);
	}
	mo_frames_free(f, n);
	dlclose(h2);
	dlclose(h);
	mo_symbolizer_free(s);
}

static const char prog_src[] =
	"#include <stdio.h>\n"
	"#include <unistd.h>\n"
	"static int __attribute__((noinline)) leaf_work(int x) { return x * 5 + getpid() % 3; }\n"
	"int main(void)\n"
	"{\n"
	"	printf(\"%p %d\\n\", (void *)leaf_work, leaf_work(2));\n"
	"	fflush(stdout);\n"
	"	pause();\n"
	"	return 0;\n"
	"}\n";

static pid_t spawn(struct tmpdir *d, const char *prog, uint64_t *addr)
{
	int fds[2];
	char line[128];
	FILE *fp;
	pid_t pid;
	void *p = NULL;

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
	d->child = pid;
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_int_equal(sscanf(line, "%p", &p), 1);
	*addr = addr_of(p);
	return pid;
}

static void reap(struct tmpdir *d)
{
	pid_t pid = d->child;

	d->child = 0;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_separate_debuginfo(void **state)
{
	struct tmpdir *d = *state;
	char src[PATH_MAX], prog[PATH_MAX], dbg[PATH_MAX], moved[PATH_MAX];
	char cmd[4 * PATH_MAX];
	struct mo_symbolizer *s = mo_symbolizer_new(), *s2;
	struct mo_frame *f;
	size_t n;
	uint64_t ip;
	pid_t pid;

	assert_non_null(s);
	tmp_file(d, "prog.c", src);
	tmp_file(d, "prog", prog);
	tmp_file(d, "prog.debug", dbg);
	tmp_file(d, "elsewhere.debug", moved);
	write_file(src, prog_src);
	snprintf(cmd, sizeof(cmd),
		 "gcc -g -O1 -o '%s' '%s' && cd '%s' && "
		 "objcopy --only-keep-debug prog prog.debug && "
		 "objcopy --strip-all --add-gnu-debuglink=prog.debug prog",
		 prog, src, d->path);
	run(cmd);

	pid = spawn(d, prog, &ip);
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "leaf_work");
	assert_true(f[0].offset == 0);
	assert_string_equal(f[0].module, prog);
	assert_string_equal(f[0].file, src);
	assert_int_equal(f[0].line, 3);
	mo_frames_free(f, n);

	/* Without the debug file the stripped program has no such symbol,
	 * which proves the names above came from it. */
	assert_int_equal(rename(dbg, moved), 0);
	s2 = mo_symbolizer_new();
	assert_non_null(s2);
	assert_int_equal(mo_symbolize(s2, pid, &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_null(f[0].symbol);
	assert_null(f[0].file);
	assert_string_equal(f[0].module, prog);
	mo_frames_free(f, n);

	reap(d);

	/* The process is gone: the cached view still answers, a fresh one
	 * cannot be made. */
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "leaf_work");
	mo_frames_free(f, n);
	mo_symbolizer_forget(s2, pid);
	assert_int_equal(mo_symbolize(s2, pid, &ip, 1, &f, &n), -ESRCH);
	mo_symbolizer_free(s2);
	mo_symbolizer_free(s);
}

/* A .gnu_debuglink naming a FIFO: refused without blocking (the symbols
 * the stripped program lacks stay missing). */
static void test_debuglink_fifo(void **state)
{
	struct tmpdir *d = *state;
	char src[PATH_MAX], prog[PATH_MAX], dbg[PATH_MAX];
	char cmd[4 * PATH_MAX];
	struct mo_symbolizer *s = mo_symbolizer_new();
	struct mo_frame *f;
	size_t n;
	uint64_t ip;
	pid_t pid;

	assert_non_null(s);
	tmp_file(d, "prog.c", src);
	tmp_file(d, "prog", prog);
	tmp_file(d, "prog.debug", dbg);
	write_file(src, prog_src);
	snprintf(cmd, sizeof(cmd),
		 "gcc -g -O1 -o '%s' '%s' && cd '%s' && "
		 "objcopy --only-keep-debug prog prog.debug && "
		 "objcopy --strip-all --add-gnu-debuglink=prog.debug prog && "
		 "rm prog.debug && mkfifo prog.debug",
		 prog, src, d->path);
	run(cmd);
	pid = spawn(d, prog, &ip);
	alarm(20);	/* a blocking open of the FIFO fails the test here */
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	alarm(0);
	assert_int_equal(n, 1);
	assert_null(f[0].symbol);
	assert_string_equal(f[0].module, prog);
	mo_frames_free(f, n);
	reap(d);
	mo_symbolizer_free(s);
}

/* A library's file is truncated to nothing after the symbolizer read it:
 * new lookups still work from what was read (no SIGBUS from a mapping of
 * the file), and a fresh symbolizer simply finds no symbols. A child maps
 * the library and is killed, never running it again. */
static void test_truncated_after_read(void **state)
{
	struct tmpdir *d = *state;
	char src[PATH_MAX], lib[PATH_MAX];
	char cmd[4 * PATH_MAX];
	struct mo_symbolizer *s = mo_symbolizer_new(), *s2 = mo_symbolizer_new();
	struct mo_frame *f;
	size_t n;
	uint64_t ip, ip2;
	int fds[2];
	pid_t pid;

	assert_non_null(s);
	assert_non_null(s2);
	tmp_file(d, "lib.c", src);
	tmp_file(d, "libtrunc.so", lib);
	write_file(src, lib_src);
	snprintf(cmd, sizeof(cmd), "gcc -g -O1 -shared -fPIC -o '%s' '%s'", lib, src);
	run(cmd);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *h = dlopen(lib, RTLD_NOW);
		uint64_t a = h ? addr_of(dlsym(h, "dl_fn")) : 0;

		if (write(fds[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		pause();
		_exit(0);
	}
	d->child = pid;
	close(fds[1]);
	assert_int_equal(read(fds[0], &ip, sizeof(ip)), sizeof(ip));
	close(fds[0]);
	assert_true(ip != 0);
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "dl_fn");
	mo_frames_free(f, n);

	assert_int_equal(truncate(lib, 0), 0);
	ip2 = ip + 1;	/* not looked up yet */
	assert_int_equal(mo_symbolize(s, pid, &ip2, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "dl_fn");
	assert_int_equal(f[0].offset, 1);
	assert_int_equal(f[0].line, 2);
	mo_frames_free(f, n);

	assert_int_equal(mo_symbolize(s2, pid, &ip, 1, &f, &n), 0);
	assert_null(f[0].symbol);
	assert_string_equal(f[0].module, lib);
	mo_frames_free(f, n);
	reap(d);
	mo_symbolizer_free(s2);
	mo_symbolizer_free(s);
}

/* The program's file is deleted and a FIFO put at its path while it runs:
 * the mapped inode is read (as root, through map_files), never the FIFO. */
static void test_replaced_by_fifo(void **state)
{
	struct tmpdir *d = *state;
	char src[PATH_MAX], prog[PATH_MAX];
	char cmd[4 * PATH_MAX];
	struct mo_symbolizer *s = mo_symbolizer_new();
	struct mo_frame *f;
	size_t n;
	uint64_t ip;
	pid_t pid;

	assert_non_null(s);
	tmp_file(d, "prog.c", src);
	tmp_file(d, "prog", prog);
	write_file(src, prog_src);
	snprintf(cmd, sizeof(cmd), "gcc -g -O1 -o '%s' '%s'", prog, src);
	run(cmd);
	pid = spawn(d, prog, &ip);
	assert_int_equal(unlink(prog), 0);
	assert_int_equal(mkfifo(prog, 0644), 0);
	alarm(20);
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	alarm(0);
	assert_string_equal(f[0].module, prog);
	if (geteuid() == 0)
		assert_string_equal(f[0].symbol, "leaf_work");
	else
		assert_null(f[0].symbol);
	mo_frames_free(f, n);
	reap(d);
	mo_symbolizer_free(s);
}

/* A forked child gone before its maps were read takes its parent's view. */
static void test_inherit(void **state)
{
	struct mo_symbolizer *s = mo_symbolizer_new();
	uint64_t ip = addr_of(target_fn);
	struct mo_frame *f;
	size_t n;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_non_null(s);
	assert_false(mo_symbolizer_has_view(s, pid));
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), -ESRCH);
	assert_int_equal(mo_symbolizer_inherit(s, pid, pid), -EINVAL);
	assert_int_equal(mo_symbolizer_inherit(s, pid, pid + 1000000), -ESRCH);
	assert_int_equal(mo_symbolizer_inherit(s, pid, getpid()), 0);
	assert_true(mo_symbolizer_has_view(s, pid));
	/* marked for re-reading, the gone child keeps the inherited view */
	mo_symbolizer_refresh(s, pid);
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].symbol, "target_fn");
	assert_string_equal(f[0].module, self_exe());
	mo_frames_free(f, n);
	/* the copy is the child's own: the parent's view may go */
	mo_symbolizer_forget(s, getpid());
	assert_int_equal(mo_symbolize(s, pid, &ip, 1, &f, &n), 0);
	assert_string_equal(f[0].symbol, "target_fn");
	mo_frames_free(f, n);
	mo_symbolizer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_function),
		cmocka_unit_test(test_data_symbol),
		cmocka_unit_test(test_demangle),
		cmocka_unit_test(test_mangled_names),
		cmocka_unit_test(test_return_address),
		cmocka_unit_test(test_inlined),
		cmocka_unit_test(test_inlined_nested),
		cmocka_unit_test(test_libc),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_api_edges),
		cmocka_unit_test(test_inherit),
		cmocka_unit_test_setup_teardown(test_dlopen, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_debuglink_fifo, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_truncated_after_read, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_replaced_by_fifo, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_separate_debuginfo, setup_tmpdir,
						teardown_tmpdir),
	};

	/* Debug info comes from local files only in tests. */
	unsetenv("DEBUGINFOD_URLS");
	return cmocka_run_group_tests_name("symbolize", tests, NULL, NULL);
}
