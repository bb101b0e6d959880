// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * reach_bench.c - run a reachability fixture, scan it live, print verdicts
 * and costs. The fixture protocol is tests/fixtures/reach_cases.c's:
 * READY, BLOCK <addr> <size> <expected> lines, DONE, exit when stdin closes.
 *
 *   reach_bench [--mode stop|live] [--max-pause-ms N] [--repeat N] [--print]
 *               -- FIXTURE [ARGS...]
 *
 * stop: one stop-the-world scan per repeat. live: a pass and a confirming
 * pass per repeat. Prints per repeat
 *   SCAN mode=.. blocks=.. bytes=.. pause_ms=.. cpu_ms=.. wall_ms=..
 *        threads=.. definite=N/B indirect=N/B reachable=N/B unknown=N/B why=..
 * and with --print, per block of the last repeat
 *   VERDICT <addr> <size> <expected> <class> <why>
 * Exit status 0, or 1 with one line on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reach.h"

struct fixture_block {
	struct mo_reach_block b;
	char expected[16];
};

static int die(const char *what)
{
	fprintf(stderr, "reach_bench: %s\n", what);
	return 1;
}

/* Wait (5 s at most) until the fixture's main thread blocks in read():
 * scanned while it still runs, its whole stack is a root in live mode. */
static void wait_blocked(pid_t pid)
{
	char path[64], buf[64];
	int i;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		int blocked = f && fgets(buf, sizeof(buf), f) && strncmp(buf, "running", 7);

		if (f)
			fclose(f);
		if (blocked)
			return;
		usleep(1000);
	}
}

static void print_scan(const char *mode, const struct mo_reach_result *r, uint64_t pause,
		       uint64_t cpu, uint64_t wall, uint64_t bytes)
{
	const struct mo_reach_stats *s = &r->stats;

	printf("SCAN mode=%s blocks=%zu bytes=%llu pause_ms=%.3f cpu_ms=%.3f wall_ms=%.3f "
	       "threads=%u definite=%llu/%llu indirect=%llu/%llu reachable=%llu/%llu "
	       "unknown=%llu/%llu why=%s\n",
	       mode, r->nr, (unsigned long long)bytes, pause / 1e6, cpu / 1e6, wall / 1e6,
	       s->threads_stopped,
	       (unsigned long long)s->count[MO_REACH_DEFINITELY_LOST],
	       (unsigned long long)s->bytes[MO_REACH_DEFINITELY_LOST],
	       (unsigned long long)s->count[MO_REACH_INDIRECTLY_LOST],
	       (unsigned long long)s->bytes[MO_REACH_INDIRECTLY_LOST],
	       (unsigned long long)s->count[MO_REACH_REACHABLE],
	       (unsigned long long)s->bytes[MO_REACH_REACHABLE],
	       (unsigned long long)s->count[MO_REACH_UNKNOWN],
	       (unsigned long long)s->bytes[MO_REACH_UNKNOWN], mo_reach_why_name(s->why));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct mo_reach_opts o;
	struct fixture_block *fb = NULL;
	struct mo_reach_block *blocks = NULL;
	size_t n = 0, cap = 0, i;
	int repeat = 1, print = 0, argi = 1, in[2], outp[2], status, rep;
	const char *mode = "stop";
	char line[256];
	pid_t child;
	FILE *f;

	mo_reach_opts_init(&o);
	for (; argi < argc && strcmp(argv[argi], "--"); argi++) {
		if (!strcmp(argv[argi], "--mode") && argi + 1 < argc) {
			mode = argv[++argi];
			if (!strcmp(mode, "live"))
				o.mode = MO_REACH_LIVE;
			else if (strcmp(mode, "stop"))
				return die("--mode must be stop or live");
		} else if (!strcmp(argv[argi], "--max-pause-ms") && argi + 1 < argc) {
			o.max_pause_ns = strtoull(argv[++argi], NULL, 10) * 1000000ULL;
		} else if (!strcmp(argv[argi], "--repeat") && argi + 1 < argc) {
			repeat = atoi(argv[++argi]);
		} else if (!strcmp(argv[argi], "--print")) {
			print = 1;
		} else {
			fprintf(stderr, "reach_bench: unknown option '%s'\n", argv[argi]);
			return 1;
		}
	}
	if (argi + 1 >= argc || repeat < 1)
		return die("usage: reach_bench [--mode stop|live] [--max-pause-ms N] "
			   "[--repeat N] [--print] -- FIXTURE [ARGS...]");
	if (pipe(in) || pipe(outp))
		return die("pipe failed");
	child = fork();
	if (child < 0)
		return die("fork failed");
	if (child == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[0]);
		close(in[1]);
		close(outp[0]);
		close(outp[1]);
		execv(argv[argi + 1], argv + argi + 1);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	f = fdopen(outp[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long addr, size;
		char exp[16];

		if (!strncmp(line, "DONE", 4))
			break;
		if (sscanf(line, "BLOCK %llx %llu %15s", &addr, &size, exp) != 3)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			fb = realloc(fb, cap * sizeof(*fb));
			if (!fb)
				return die("out of memory");
		}
		fb[n].b = (struct mo_reach_block){ addr, size, n + 1 };
		snprintf(fb[n].expected, sizeof(fb[n].expected), "%s", exp);
		n++;
	}
	if (!f || ferror(f) || feof(f)) {
		kill(child, SIGKILL);
		return die("the fixture ended before DONE");
	}
	blocks = malloc((n ? n : 1) * sizeof(*blocks));
	if (!blocks)
		return die("out of memory");
	for (i = 0; i < n; i++)
		blocks[i] = fb[i].b;

	wait_blocked(child);
	for (rep = 0; rep < repeat; rep++) {
		struct mo_reach_result r1 = { 0 }, r2 = { 0 }, *last = &r1;
		uint64_t bytes, cpu, wall;

		if (mo_reach_scan(child, blocks, n, &o, NULL, &r1))
			return die("scan failed");
		bytes = r1.stats.bytes_scanned;
		cpu = r1.stats.cpu_ns;
		wall = r1.stats.duration_ns;
		if (o.mode == MO_REACH_LIVE) {
			if (mo_reach_scan(child, blocks, n, &o, &r1, &r2))
				return die("scan failed");
			bytes += r2.stats.bytes_scanned;
			cpu += r2.stats.cpu_ns;
			wall += r2.stats.duration_ns;
			last = &r2;
		}
		if (mo_reach_recheck(last, blocks, blocks, n) < 0)
			return die("out of memory");
		print_scan(mode, last, r1.stats.pause_ns, cpu, wall, bytes);
		if (print && rep == repeat - 1)
			for (i = 0; i < n; i++)
				printf("VERDICT %#llx %llu %s %s %s\n",
				       (unsigned long long)blocks[i].addr,
				       (unsigned long long)blocks[i].size, fb[i].expected,
				       mo_reach_class_name(last->cls[i]),
				       mo_reach_why_name(last->why[i]));
		mo_reach_result_release(&r1);
		mo_reach_result_release(&r2);
	}
	close(in[1]);
	if (waitpid(child, &status, 0) < 0)
		return die("waitpid failed");
	free(fb);
	free(blocks);
	return 0;
}
