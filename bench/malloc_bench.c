// SPDX-License-Identifier: GPL-2.0
/*
 * malloc_bench: the cost of one malloc+free pair, for comparing tracers.
 *
 * The program sets itself up (threads, warm arenas, result buffers), prints
 * "READY pid=N" and waits for SIGUSR1 (or --wait-ms) so that a tracer can be
 * attached by pid first. Each thread then times chunks of about 2 ms and
 * records ns per pair for each chunk; the result is the median chunk, printed
 * as one "RESULT key=value ..." line. Every allocation goes through the PLT
 * to the C library's malloc/free: the compiler may not elide a pair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum mode { FIXED64, FIXED16K, MIXED, REALISTIC };

static const char *const mode_names[] = { "fixed64", "fixed16k", "mixed", "realistic" };

#define SIZE_TABLE 4096		/* entries of the fixed size sequence (power of 2) */
#define WINDOW 256		/* live blocks held by the realistic mode (power of 2) */
#define BATCH 16		/* pairs between clock reads */
#define CHUNK_NS 2000000ULL	/* one measurement covers at least this long */
#define MAX_CHUNKS (1 << 17)

struct opts {
	enum mode mode;
	int threads;
	double seconds;		/* run this long when iterations == 0 */
	uint64_t iterations;	/* pairs per thread; 0 = use seconds */
	long wait_ms;		/* -1 = wait for SIGUSR1 */
	unsigned work;		/* mixing rounds between allocations (realistic) */
};

struct worker {
	pthread_t tid;
	int id;
	double *chunk_ns;	/* ns per pair of each chunk */
	size_t nchunks;
	uint64_t pairs;
	uint64_t checksum;
};

static struct opts opt = { .mode = FIXED64, .threads = 1, .seconds = 3, .wait_ms = -1,
			   .work = 64 };
static size_t sizes[SIZE_TABLE];
static atomic_int started;
static uint64_t t_start_ns, t_end_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* keep p alive for the compiler: malloc/free pairs are otherwise elided */
static inline void sink(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* log-uniform sizes 16 B .. 256 KiB from a fixed seed: the same every run */
static void init_sizes(void)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < SIZE_TABLE; i++) {
		double u = (double)(xorshift64(&s) >> 11) / (double)(1ULL << 53);
		/* 2^4 .. 2^18 */
		double lg = 4.0 + u * 14.0;
		size_t sz = (size_t)exp2(lg);

		sizes[i] = sz < 16 ? 16 : sz > 262144 ? 262144 : sz;
	}
}

static size_t pick(enum mode m, unsigned long i)
{
	switch (m) {
	case FIXED64:
		return 64;
	case FIXED16K:
		return 16384;
	case MIXED:
		return sizes[i & (SIZE_TABLE - 1)];
	case REALISTIC:
		/* small objects as real programs mostly allocate: 16 B .. 4 KiB */
		return 16 + (sizes[i & (SIZE_TABLE - 1)] & 4095);
	}
	return 64;
}

/* some computation between allocations, touching the block */
static uint64_t work(unsigned char *p, size_t sz, uint64_t h)
{
	size_t n = sz < 256 ? sz : 256;

	for (unsigned r = 0; r < opt.work; r++)
		h = (h ^ r) * 0x100000001b3ULL;
	memset(p, (int)(h & 0xff), n);
	for (size_t i = 0; i < n; i += 16)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* run BATCH pairs; returns a value the compiler cannot drop */
static uint64_t batch(struct worker *w, unsigned long *i, void **window, uint64_t h)
{
	for (int k = 0; k < BATCH; k++, (*i)++) {
		size_t sz = pick(opt.mode, *i + (unsigned long)w->id * 977);

		if (opt.mode == REALISTIC) {
			unsigned slot = *i & (WINDOW - 1);

			free(window[slot]);
			window[slot] = malloc(sz);
			if (!window[slot])
				abort();
			h = work(window[slot], sz, h);
		} else {
			unsigned char *p = malloc(sz);

			if (!p)
				abort();
			p[0] = (unsigned char)h;
			sink(p);
			free(p);
		}
	}
	return h;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	void *window[WINDOW] = { 0 };
	unsigned long i = 0;
	uint64_t h = 1469598103934665603ULL;
	uint64_t deadline, pairs = 0;

	/* warm up the arena, tcache and window before the tracer arrives */
	for (int k = 0; k < 4096 / BATCH; k++)
		h = batch(w, &i, window, h);
	while (!atomic_load_explicit(&started, memory_order_acquire))
		usleep(1000);

	deadline = opt.iterations ? UINT64_MAX : t_start_ns + (uint64_t)(opt.seconds * 1e9);
	for (;;) {
		uint64_t c0 = now_ns(), c1, n = 0;

		do {
			h = batch(w, &i, window, h);
			n += BATCH;
			c1 = now_ns();
		} while (c1 - c0 < CHUNK_NS &&
			 (!opt.iterations || pairs + n < opt.iterations));
		if (w->nchunks < MAX_CHUNKS)
			w->chunk_ns[w->nchunks++] = (double)(c1 - c0) / (double)n;
		pairs += n;
		if (opt.iterations ? pairs >= opt.iterations : c1 >= deadline)
			break;
	}
	for (int k = 0; k < WINDOW; k++)
		free(window[k]);
	w->pairs = pairs;
	w->checksum = h;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--mode fixed64|fixed16k|mixed|realistic] [--threads N]\n"
		"          [--seconds S | --iterations N] [--wait-ms MS] [--work N]\n"
		"Prints READY pid=N, waits for SIGUSR1 (or --wait-ms), then measures and\n"
		"prints one RESULT line: ns_per_pair is the median of ~2 ms chunks over all\n"
		"threads; wall_ns_per_pair is wall time x threads / total pairs.\n",
		prog);
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "wait-ms", required_argument, NULL, 'w' },
		{ "work", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "m:t:s:n:w:k:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': {
			int found = 0;

			for (int m = 0; m < 4; m++)
				if (!strcmp(optarg, mode_names[m])) {
					opt.mode = (enum mode)m;
					found = 1;
				}
			if (!found) {
				fprintf(stderr, "malloc_bench: unknown mode '%s'\n", optarg);
				exit(2);
			}
			break;
		}
		case 't':
			opt.threads = atoi(optarg);
			break;
		case 's':
			opt.seconds = atof(optarg);
			break;
		case 'n':
			opt.iterations = strtoull(optarg, NULL, 10);
			break;
		case 'w':
			opt.wait_ms = atol(optarg);
			break;
		case 'k':
			opt.work = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			exit(2);
		}
	}
	if (opt.threads < 1 || opt.threads > 64 || (opt.seconds <= 0 && !opt.iterations)) {
		fprintf(stderr, "malloc_bench: invalid --threads or --seconds\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct worker *ws;
	sigset_t set;
	double *all, med, wall;
	size_t total = 0, k = 0;
	uint64_t pairs = 0, sum = 0;
	struct rusage ru;

	parse(argc, argv);
	init_sizes();

	/* block SIGUSR1 before any thread exists, so only sigwait sees it */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ws = calloc((size_t)opt.threads, sizeof(*ws));
	if (!ws)
		return 1;
	for (int t = 0; t < opt.threads; t++) {
		ws[t].id = t;
		ws[t].chunk_ns = calloc(MAX_CHUNKS, sizeof(double));
		if (!ws[t].chunk_ns || pthread_create(&ws[t].tid, NULL, run, &ws[t])) {
			fprintf(stderr, "malloc_bench: cannot start thread %d\n", t);
			return 1;
		}
	}

	printf("READY pid=%d mode=%s threads=%d\n", (int)getpid(), mode_names[opt.mode],
	       opt.threads);
	fflush(stdout);
	if (opt.wait_ms >= 0) {
		struct timespec ts = { opt.wait_ms / 1000, (opt.wait_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	} else {
		int sig;

		sigwait(&set, &sig);
	}

	t_start_ns = now_ns();
	atomic_store_explicit(&started, 1, memory_order_release);
	for (int t = 0; t < opt.threads; t++)
		pthread_join(ws[t].tid, NULL);
	t_end_ns = now_ns();

	for (int t = 0; t < opt.threads; t++)
		total += ws[t].nchunks;
	all = malloc(total * sizeof(double) + 1);
	if (!all)
		return 1;
	for (int t = 0; t < opt.threads; t++) {
		memcpy(all + k, ws[t].chunk_ns, ws[t].nchunks * sizeof(double));
		k += ws[t].nchunks;
		pairs += ws[t].pairs;
		sum ^= ws[t].checksum;
	}
	qsort(all, total, sizeof(double), cmp_double);
	med = total ? (total % 2 ? all[total / 2] : (all[total / 2 - 1] + all[total / 2]) / 2) : 0;
	wall = pairs ? (double)(t_end_ns - t_start_ns) * opt.threads / (double)pairs : 0;

	/* the kernel side of a uprobe (trap, BPF program) shows up as system time */
	getrusage(RUSAGE_SELF, &ru);
	printf("RESULT mode=%s threads=%d ns_per_pair=%.1f wall_ns_per_pair=%.1f pairs=%llu "
	       "chunks=%zu seconds=%.3f utime_s=%.3f stime_s=%.3f checksum=%llx\n",
	       mode_names[opt.mode], opt.threads, med, wall, (unsigned long long)pairs, total,
	       (double)(t_end_ns - t_start_ns) / 1e9,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, (unsigned long long)(sum & 0xffff));
	fflush(stdout);
	free(all);
	for (int t = 0; t < opt.threads; t++)
		free(ws[t].chunk_ns);
	free(ws);
	return 0;
}
