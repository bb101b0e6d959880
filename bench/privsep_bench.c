// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privsep_bench.c - what reading a module through the confined parser
 * process costs (src/lib/privsep.h), next to reading it in this process:
 * the unwind rows of the whole file, opening it for symbols (symbol table,
 * DWARF, debug file), N lookups of addresses spread over its code, and
 * the allocator functions attach.c looks for in it (elfsym.c).
 * Each side reads the same file through the same code (symfile.c,
 * unwind_table.c); the child is the program named (memobserver itself by
 * default, as in production). Both sides must agree on every frame.
 *
 *   privsep_bench MODULE LOOKUPS ROUNDS CHILD [CHILD_ARGS...]
 * prints one "step here_ms child_ms" line per step, medians over ROUNDS,
 * and the round trip of one request that needs no parsing
 * (bench/privsep.sh). Link it as memobserver is (its own jemalloc), so the
 * two sides allocate alike.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elfsym.h"
#include "modules.h"
#include "privsep.h"
#include "privsep_msg.h"
#include "safefile.h"
#include "symbolize.h"
#include "unwind_table.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct side {
	double rows_ms, open_ms, lookup_ms, again_ms;
	size_t nrows, named;
	struct mo_symframe **frames;	/* per lookup */
	size_t *nframes;
};

static int local_debug(void *ctx, enum mo_debug_where where, const char *name)
{
	return mo_debug_open(getpid(), ctx, where, name);
}

static int open_module(const char *path)
{
	int fd = mo_safe_open(path, NULL, 0, NULL);

	if (fd < 0) {
		fprintf(stderr, "privsep_bench: cannot open '%s': %s\n", path, strerror(-fd));
		exit(1);
	}
	return fd;
}

/* The addresses to look up: n, evenly over the first executable segment. */
static uint64_t *addresses(const struct mo_symfile_info *info, size_t n)
{
	uint64_t *a = calloc(n, sizeof(*a));

	for (uint32_t i = 0; a && i < info->nsegs; i++) {
		const struct mo_symseg *g = &info->segs[i];

		if (!g->x)
			continue;
		for (size_t k = 0; k < n; k++)
			a[k] = g->vaddr + (g->filesz / n) * k + 1;
		return a;
	}
	free(a);
	return NULL;
}

static void run(struct side *s, const char *path, size_t n, struct mo_symsource *src,
		mo_rows_builder_fn rows, void *rows_ctx, uint64_t **addrs)
{
	struct mo_unwind_table t = { 0 };
	struct mo_symfile_info info;
	uint32_t h;
	double t0;
	int fd = open_module(path), err;

	t0 = now_ms();
	err = rows(rows_ctx, fd, SIZE_MAX, &t);
	s->rows_ms = now_ms() - t0;
	s->nrows = err ? 0 : t.nrows;
	mo_unwind_table_release(&t);
	close(fd);

	fd = open_module(path);
	t0 = now_ms();
	err = src->open(src->ctx, fd, getpid(), path, &info, &h);
	s->open_ms = now_ms() - t0;
	if (err || !h) {
		fprintf(stderr, "privsep_bench: '%s': nothing to look up (%s)\n", path,
			strerror(err ? -err : ENODATA));
		exit(1);
	}
	if (!*addrs)
		*addrs = addresses(&info, n);
	if (!*addrs) {
		fprintf(stderr, "privsep_bench: '%s' has no executable segment\n", path);
		exit(1);
	}
	s->frames = calloc(n, sizeof(*s->frames));
	s->nframes = calloc(n, sizeof(*s->nframes));
	t0 = now_ms();
	for (size_t k = 0; k < n; k++) {
		if (src->lookup(src->ctx, h, (*addrs)[k], &s->frames[k], &s->nframes[k]) == 0 &&
		    s->frames[k][s->nframes[k] - 1].symbol)
			s->named++;
	}
	s->lookup_ms = now_ms() - t0;
	/* the same addresses again: libdw's own caches are warm now */
	t0 = now_ms();
	for (size_t k = 0; k < n; k++) {
		struct mo_symframe *f;
		size_t nf;

		if (src->lookup(src->ctx, h, (*addrs)[k], &f, &nf) == 0)
			mo_symframes_free(f, nf);
	}
	s->again_ms = now_ms() - t0;
	src->close(src->ctx, h);
}

static int rows_here(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out)
{
	return mo_unwind_table_build_fd(fd, out);
}

static int here_open(void *ctx, int fd, pid_t pid, const char *map_path,
		     struct mo_symfile_info *info, uint32_t *handle)
{
	struct mo_debug_opener op = { local_debug, (void *)map_path };

	return mo_symfiles_open(ctx, fd, map_path, &op, info, handle);
}

static int here_lookup(void *ctx, uint32_t handle, uint64_t vaddr, struct mo_symframe **f,
		       size_t *n)
{
	return mo_symfiles_lookup(ctx, handle, vaddr, f, n);
}

static void here_close(void *ctx, uint32_t handle)
{
	mo_symfiles_close(ctx, handle);
}

static bool same(const struct mo_symframe *a, size_t na, const struct mo_symframe *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (a[i].offset != b[i].offset || a[i].line != b[i].line ||
		    a[i].inlined != b[i].inlined || !a[i].symbol != !b[i].symbol ||
		    !a[i].file != !b[i].file || (a[i].symbol && strcmp(a[i].symbol, b[i].symbol)) ||
		    (a[i].file && strcmp(a[i].file, b[i].file)))
			return false;
	}
	return true;
}

/*
 * The cost of asking alone: n requests for a handle the child never gave,
 * each answered at once (DONE -ENOENT), to a child started here as the
 * client starts it. Microseconds per request, or -1.
 */
static double round_trip(char *const *argv, size_t n)
{
	static uint8_t buf[MO_PS_MAX_MSG];
	static struct mo_ps_msg m;
	struct mo_ps_msg q = { .type = MO_PS_LOOKUP, .lookup = { .handle = UINT32_MAX } };
	int sv[2], fd, status;
	double t0, us = -1;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(sv[1], MO_PRIVSEP_CHILD_FD);
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	/* the first answer: the child is past its setup */
	if (pid > 0 && mo_ps_send(sv[0], &q, -1) == 0 && mo_ps_recv(sv[0], buf, &m, &fd, 0) == 0) {
		t0 = now_ms();
		for (size_t k = 0; k < n; k++)
			if (mo_ps_send(sv[0], &q, -1) || mo_ps_recv(sv[0], buf, &m, &fd, 0) ||
			    m.type != MO_PS_DONE)
				break;
		us = (now_ms() - t0) * 1000 / (double)n;
	}
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return us;
}

/* What attach.c asks of a module it probes: the malloc family plain and
 * under each prefix it tries (je_, mi_, tc_), and the C++ operators. */
static const char *const c_api[] = {
	"malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
	"valloc", "pvalloc", "free", "mallocx", "rallocx", "sdallocx", "dallocx",
};
static const char *const cxx_api[] = {
	"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
	"_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
	"_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
	"_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t",
	"_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
	"_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};
#define NC (sizeof(c_api) / sizeof(c_api[0]))
#define NCXX (sizeof(cxx_api) / sizeof(cxx_api[0]))
#define NFUNCS (4 * NC + NCXX)

static void funcs_names(struct mo_elf_func *f, char (*names)[32])
{
	static const char *const prefixes[] = { "", "je_", "mi_", "tc_" };
	size_t k = 0;

	memset(f, 0, NFUNCS * sizeof(*f));
	for (size_t p = 0; p < 4; p++)
		for (size_t i = 0; i < NC; i++, k++)
			snprintf(names[k], sizeof(names[k]), "%s%s", prefixes[p], c_api[i]);
	for (size_t i = 0; i < NCXX; i++, k++)
		snprintf(names[k], sizeof(names[k]), "%s", cxx_api[i]);
	for (k = 0; k < NFUNCS; k++)
		f[k].name = names[k];
}

/* One lookup of the allocator functions, here (p NULL) or through the
 * child: milliseconds, the results in f. */
static double funcs_once(struct mo_privsep *p, const char *path, struct mo_elf_func *f,
			 char (*names)[32])
{
	int fd = open_module(path), r;
	double t0;

	funcs_names(f, names);
	t0 = now_ms();
	r = p ? mo_privsep_find_funcs(p, fd, f, NFUNCS) : mo_elf_find_funcs_fd(fd, f, NFUNCS);
	t0 = now_ms() - t0;
	close(fd);
	if (r < 0) {
		fprintf(stderr, "privsep_bench: '%s': allocator functions: %s\n", path, strerror(-r));
		exit(1);
	}
	return t0;
}

static bool funcs_same(const struct mo_elf_func *a, const struct mo_elf_func *b)
{
	for (size_t k = 0; k < NFUNCS; k++)
		if (a[k].found != b[k].found || a[k].vaddr != b[k].vaddr ||
		    a[k].file_offset != b[k].file_offset || a[k].size != b[k].size ||
		    a[k].code_len != b[k].code_len || memcmp(a[k].code, b[k].code, a[k].code_len))
			return false;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void release(struct side *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		mo_symframes_free(s->frames[k], s->nframes[k]);
	free(s->frames);
	free(s->nframes);
}

enum { ROWS, OPEN, LOOKUPS, AGAIN, FUNCS, NSTEPS };

int main(int argc, char **argv)
{
	static const char *const names[NSTEPS] = { "rows", "open", "lookups", "again", "funcs" };
	static struct mo_elf_func fn[2][NFUNCS];
	static char fnames[2][NFUNCS][32];
	struct mo_privsep_opts o = { .timeout_ms = 600000 };
	struct mo_symsource local, remote;
	struct mo_privsep_stats st;
	struct mo_privsep *p;
	uint64_t *addrs = NULL;
	size_t n, rounds, differ = 0, nrows[2] = { 0 }, named[2] = { 0 };
	double *ms[2][NSTEPS];

	if (argc < 5) {
		fprintf(stderr, "usage: privsep_bench MODULE LOOKUPS ROUNDS CHILD [ARGS...]\n");
		return 2;
	}
	n = strtoul(argv[2], NULL, 10);
	rounds = strtoul(argv[3], NULL, 10);
	if (!n || !rounds) {
		fprintf(stderr, "privsep_bench: LOOKUPS and ROUNDS must be at least 1\n");
		return 2;
	}
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < NSTEPS; k++)
			ms[i][k] = calloc(rounds, sizeof(double));
	o.argv = argv + 4;
	p = mo_privsep_new(&o);
	if (!p) {
		fprintf(stderr, "privsep_bench: %s\n", strerror(errno));
		return 1;
	}
	mo_privsep_symsource(p, &remote);
	/* the two sides alternate who goes first, so neither always finds
	 * the file in the page cache warmed by the other */
	for (size_t r = 0; r < rounds; r++) {
		struct side sd[2] = { { 0 } };
		struct mo_symfiles *fs = mo_symfiles_new();

		local = (struct mo_symsource){ here_open, here_lookup, here_close, fs };
		for (int k = 0; k < 2; k++) {
			int i = (int)((r + (size_t)k) % 2);

			if (i == 0)
				run(&sd[0], argv[1], n, &local, rows_here, NULL, &addrs);
			else
				run(&sd[1], argv[1], n, &remote, mo_privsep_build_rows, p, &addrs);
		}
		for (int k = 0; k < 2; k++) {
			int i = (int)((r + (size_t)k) % 2);

			ms[i][FUNCS][r] = funcs_once(i ? p : NULL, argv[1], fn[i], fnames[i]);
		}
		differ += !funcs_same(fn[0], fn[1]);
		for (int i = 0; i < 2; i++) {
			ms[i][ROWS][r] = sd[i].rows_ms;
			ms[i][OPEN][r] = sd[i].open_ms;
			ms[i][LOOKUPS][r] = sd[i].lookup_ms;
			ms[i][AGAIN][r] = sd[i].again_ms;
			nrows[i] = sd[i].nrows;
			named[i] = sd[i].named;
		}
		for (size_t k = 0; k < n; k++)
			differ += !same(sd[0].frames[k], sd[0].nframes[k], sd[1].frames[k],
					sd[1].nframes[k]);
		release(&sd[0], n);
		release(&sd[1], n);
		mo_symfiles_free(fs);
	}
	mo_privsep_stats(p, &st);
	for (int k = 0; k < NSTEPS; k++)
		printf("%s %.3f %.3f\n", names[k], median(ms[0][k], rounds), median(ms[1][k], rounds));
	printf("round_trip_us %.1f\n", round_trip(argv + 4, 10000));
	printf("rows_count %zu %zu\n", nrows[0], nrows[1]);
	printf("named %zu %zu\n", named[0], named[1]);
	printf("differ %zu\n", differ);
	printf("deaths %llu\n", (unsigned long long)(st.died + st.timeouts + st.protocol));
	mo_privsep_free(p);
	free(addrs);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < NSTEPS; k++)
			free(ms[i][k]);
	return differ || nrows[0] != nrows[1] ? 1 : 0;
}
