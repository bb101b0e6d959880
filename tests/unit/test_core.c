// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_core.c - the observer core's stages driven without BPF: the record
 * dispatcher, the process table, process lifecycle (exit, exec, pid reuse,
 * short-lived exits, stack release), the periodic analysis and resident
 * memory, each against the fake kernel of fake_kernel.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_kernel.h"

#include <pthread.h>

#include "core/core.h"
#include "core/env.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/growth.h"
#include "core/probes.h"
#include "core/report.h"
#include "core/series.h"
#include "sinks/metrics.h"
#include "core/leaks.h"
#include "core/lifecycle.h"
#include "core/proctab.h"
#include "core/records.h"
#include "core/resident.h"
#include "core/stacks.h"
#include "modules.h"
#include "queue.h"
#include "symbolize.h"
#include "util.h"

/* pids no process has: /proc reads fail, as for exited processes */
#define PID0 4000000

struct rig {
	struct mo_env env;
	struct fake_kernel *fk;
	struct mo_queue *q;
	struct mo_proctab *pt;
	struct mo_symbolizer *sym;
	struct mo_modules *mods;
	int rows_fd;
	struct mo_stacks *st;
	struct mo_findings *f;
	struct mo_resident *rs;
	struct mo_leaks *lk;
	struct mo_lifecycle *lc;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	mo_config_init(&r->env.cfg);
	assert_int_equal(mo_config_resolve(&r->env.cfg, &r->env.cfg, NULL), 0);
	r->env.cfg.min_unfreed_age_ns = 1;
	r->fk = fake_kernel_new();
	r->q = mo_queue_new(10000);
	r->pt = mo_proctab_new();
	r->sym = mo_symbolizer_new();
	/* the unwind rows array: any mappable file stands in for the map */
	r->rows_fd = memfd_create("rows", 0);
	assert_int_equal(ftruncate(r->rows_fd, 1 << 20), 0);
	r->mods = mo_modules_new(r->rows_fd, 1024, -1);
	assert_non_null(r->mods);
	r->st = mo_stacks_new(&r->env, &r->fk->k, r->pt, r->sym, r->mods);
	r->f = mo_findings_new(&r->env, &r->fk->k, r->pt, r->st, NULL, r->q);
	r->rs = mo_resident_new(&r->env, &r->fk->k, r->pt, r->f, false);
	r->lk = mo_leaks_new(&r->env, &r->fk->k, r->pt, r->st, r->f, r->rs);
	r->lc = mo_lifecycle_new(&r->env, &r->fk->k, r->pt, r->st, r->f, NULL, r->mods, NULL);
	assert_true(r->fk && r->q && r->pt && r->sym && r->st && r->f && r->rs && r->lk && r->lc);
	*state = r;
	return 0;
}

static void free_event(void *p)
{
	mo_event_free(p);
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	mo_lifecycle_free(r->lc);
	mo_leaks_free(r->lk);
	mo_resident_free(r->rs);
	mo_findings_free(r->f);
	mo_stacks_free(r->st);
	mo_modules_free(r->mods);
	close(r->rows_fd);
	mo_symbolizer_free(r->sym);
	mo_proctab_free(r->pt);
	mo_queue_free(r->q, free_event);
	fake_kernel_free(r->fk);
	free(r);
	return 0;
}

/* The events queued so far, of kind (NULL: any), counted; freed. */
static size_t take_events(struct rig *r, const char *kind, struct mo_event **keep)
{
	size_t n = 0;
	void *item;

	while (mo_queue_pop(r->q, &item, 0) == 1) {
		struct mo_event *ev = item;

		if (!kind || !strcmp(ev->kind, kind)) {
			if (keep && !*keep) {
				*keep = ev;
				n++;
				continue;
			}
			n++;
		}
		mo_event_free(ev);
	}
	return n;
}

static struct mo_record rec(uint32_t type, uint32_t pid, uint32_t gen, uint64_t ts,
			    const char *comm)
{
	struct mo_record r = { .type = type, .pid = pid, .tid = pid, .ts_ns = ts, .gen = gen };

	snprintf(r.comm, sizeof(r.comm), "%s", comm);
	return r;
}

/* ------------------------------------------------------------- records */

static int hits[MO_REC__MAX], drains;

static void count_rec(void *ctx, const struct mo_record *r)
{
	hits[r->type]++;
}

static int count_drain(void *ctx)
{
	drains++;
	return 0;
}

static void test_records_dispatch(void **state)
{
	struct mo_records *rd = mo_records_new();
	struct mo_record r = { 0 };
	bool stopping = false;

	memset(hits, 0, sizeof(hits));
	drains = 0;
	mo_records_on(rd, MO_REC_EXIT, count_rec, NULL, true);
	mo_records_on(rd, MO_REC_MMAP, count_rec, NULL, false);
	r.type = MO_REC_EXIT;
	mo_records_take(rd, &r, sizeof(r));
	assert_int_equal(hits[MO_REC_EXIT], 1);	/* at once */
	r.type = MO_REC_MMAP;
	for (int i = 0; i < 20; i++)
		mo_records_take(rd, &r, sizeof(r));
	assert_int_equal(hits[MO_REC_MMAP], 0);	/* deferred */
	r.type = MO_REC_OOM_KILL;		/* nobody handles it */
	mo_records_take(rd, &r, sizeof(r));
	mo_records_take(rd, &r, 4);		/* short: ignored */
	mo_records_run(rd, count_drain, NULL, &stopping);
	assert_int_equal(hits[MO_REC_MMAP], 20);
	assert_int_equal(mo_records_unhandled(rd), 1);
	/* drained before, and every 8 deferred records */
	assert_int_equal(drains, 1 + 21 / 8);
	/* a stop leaves the rest for the next run */
	for (int i = 0; i < 5; i++)
		mo_records_take(rd, &(struct mo_record){ .type = MO_REC_MMAP }, sizeof(r));
	stopping = true;
	mo_records_run(rd, count_drain, NULL, &stopping);
	assert_int_equal(hits[MO_REC_MMAP], 20);
	stopping = false;
	mo_records_run(rd, count_drain, NULL, &stopping);
	assert_int_equal(hits[MO_REC_MMAP], 25);
	mo_records_free(rd);
}

/* -------------------------------------------------------------- series */

/*
 * Keys move in and out of __other__ as their rank changes (one own series
 * allowed): __other__ (folded sum + offset) and every own series seen must
 * never go backwards.
 */
static void test_series_never_go_backwards(void **state)
{
	struct mo_series *s = mo_series_new(1);
	uint64_t v[3] = { 0, 0, 0 }, prev_other = 0, off[MO_SERIES_VALUES];
	uint64_t ranks[][3] = { { 3, 2, 1 }, { 1, 3, 2 }, { 1, 2, 3 }, { 3, 1, 2 }, { 2, 3, 1 } };
	const char *keys[3] = { "a", "b", "c" };

	for (int round = 0; round < 5; round++) {
		struct mo_series_row rows[3];
		uint64_t other;
		int own = 0;

		for (int i = 0; i < 3; i++) {
			v[i] += 10 + (uint64_t)i;
			rows[i] = (struct mo_series_row){ .key = keys[i], .rank = ranks[round][i] };
			rows[i].v[0] = v[i];
		}
		assert_int_equal(mo_series_decide(s, rows, 3, off), 0);
		other = off[0];
		for (int i = 0; i < 3; i++) {
			if (rows[i].other)
				other += rows[i].v[0];
			else
				own++;
		}
		assert_int_equal(own, 1);
		assert_true(other >= prev_other);
		prev_other = other;
	}
	mo_series_free(s);
}

/* ------------------------------------------------------------ proctab */

static void test_proctab(void **state)
{
	struct mo_proctab *t = mo_proctab_new();
	struct mo_proc_view v;
	struct mo_proc *p;

	for (pid_t pid = 1; pid <= 10000; pid++)
		assert_non_null(mo_proctab_get(t, PID0 + pid));
	assert_int_equal(mo_proctab_size(t), 10000);
	for (pid_t pid = 1; pid <= 10000; pid += 2)
		mo_proctab_remove(t, PID0 + pid);
	assert_int_equal(mo_proctab_size(t), 5000);
	assert_null(mo_proctab_find(t, PID0 + 1));
	p = mo_proctab_find(t, PID0 + 2);
	assert_non_null(p);
	mo_proctab_set_comm(t, p, "worker", 16);
	mo_proctab_describe(t, PID0 + 2, &v);
	assert_string_equal(v.comm, "worker");
	assert_string_equal(v.container_id, "");
	/* targets: alive until exit, then pending until reclaimed */
	assert_true(mo_proctab_targets_gone(t));
	p = mo_proctab_add_target(t, PID0 + 20001, 0);
	assert_false(mo_proctab_targets_gone(t));
	mo_proctab_set_alive(t, p, false);
	mo_proctab_set_exit_pending(t, p, true);
	assert_false(mo_proctab_targets_gone(t));
	mo_proctab_remove(t, PID0 + 20001);
	assert_true(mo_proctab_targets_gone(t));
	mo_proctab_free(t);
}

/* ---------------------------------------------------------- lifecycle */

/*
 * A file the walker asked rows for and that gets none (no CFI here: a page
 * of zeros mapped executable) is marked so: the walker then guesses through
 * it instead of stopping there as it does while rows may still come. One
 * whose process is gone is asked for again at its next use.
 */
static void test_unknown_module_settled(void **state)
{
	struct rig *r = *state;
	char path[] = "/tmp/mo-test-norows.XXXXXX";
	int fd = mkstemp(path);
	struct mo_record x;
	struct stat st;
	void *p;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	x = rec(MO_REC_UNKNOWN_MODULE, (uint32_t)getpid(), 1, 1000, "self");
	x.dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
	x.ino = st.st_ino;
	mo_stacks_unknown_module(r->st, &x);
	assert_int_equal(r->fk->nno_rows, 1);
	assert_int_equal(r->fk->no_rows[0].dev, x.dev);
	assert_int_equal(r->fk->no_rows[0].ino, x.ino);
	assert_int_equal(r->fk->nasked, 0);

	/* asked again (its key left the walker's LRU table): marked again */
	mo_stacks_unknown_module(r->st, &x);
	assert_int_equal(r->fk->nno_rows, 2);

	/* the process is gone before its maps were read: nothing is known of
	 * the file, the next process that uses it asks again */
	x.pid = PID0 + 9;
	x.ino++;
	mo_stacks_unknown_module(r->st, &x);
	assert_int_equal(r->fk->nno_rows, 2);
	assert_int_equal(r->fk->nasked, 1);
	assert_int_equal(r->fk->asked[0].ino, x.ino);
	munmap(p, 4096);
	close(fd);
}

static void test_exit_reports_and_forgets(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 1;
	uint64_t ips[2] = { 0x401000, 0x402000 };
	struct mo_record x = rec(MO_REC_EXIT, pid, 7, 1000000, "leaker");
	struct mo_event *ev = NULL;
	struct mo_lifecycle_stats ls;

	mo_proctab_add_target(r->pt, pid, 0);
	fk_add_proc(r->fk, pid, 7, 3, 1);
	fk_add_stack(r->fk, 11, 2, ips);
	fk_add_stack_stats(r->fk, pid, 11, 3, 1);
	fk_add_alloc(r->fk, pid, 7, 0x1000, 100, 10, 11);
	fk_add_alloc(r->fk, pid, 7, 0x2000, 200, 20, 11);
	fk_add_alloc(r->fk, pid + 1, 7, 0x3000, 300, 20, 11);	/* another process */
	mo_lifecycle_exit(r->lc, &x);
	assert_int_equal(mo_lifecycle_pending(r->lc), 1);
	assert_false(mo_proctab_targets_gone(r->pt));
	mo_lifecycle_reclaim(r->lc, UINT64_MAX);
	assert_int_equal(mo_lifecycle_pending(r->lc), 0);
	assert_int_equal(take_events(r, "leak", &ev), 1);
	assert_true(ev->final);
	assert_int_equal(ev->unfreed_bytes, 300);
	assert_int_equal(ev->count, 2);
	assert_string_equal(ev->command, "leaker");
	mo_event_free(ev);
	/* its blocks, totals, statistics and entry are gone; the other's stay */
	assert_int_equal(r->fk->nallocs, 1);
	assert_int_equal(r->fk->nsstats, 0);
	assert_int_equal(r->fk->nprocs, 0);
	assert_null(mo_proctab_find(r->pt, pid));
	assert_true(mo_proctab_targets_gone(r->pt));
	/* the stack is still the other process's */
	assert_int_equal(r->fk->nstacks, 1);
	mo_lifecycle_stats(r->lc, &ls);
	assert_int_equal(ls.short_lived_exits, 0);
	{
		const struct mo_leak *l;
		size_t n;

		mo_lifecycle_exit_leaks(r->lc, &l, &n);
		assert_int_equal(n, 1);
		assert_int_equal(l[0].unfreed_bytes, 300);
	}
}

static void test_exit_releases_own_stacks(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 2;
	uint64_t ips[1] = { 0x401000 };
	struct mo_record x = rec(MO_REC_EXIT, pid, 1, 1000000, "a");

	fk_add_proc(r->fk, pid, 1, 1, 1);
	fk_add_stack(r->fk, 21, 1, ips);	/* only its own totals refer to it */
	fk_add_stack(r->fk, 22, 1, ips);	/* also another process's totals */
	fk_add_stack_stats(r->fk, pid, 21, 1, 1);
	fk_add_stack_stats(r->fk, pid, 22, 1, 1);
	fk_add_stack_stats(r->fk, pid + 1, 22, 1, 0);
	mo_lifecycle_exit(r->lc, &x);
	mo_lifecycle_reclaim(r->lc, UINT64_MAX);
	assert_int_equal(r->fk->nstacks, 1);
	assert_int_equal(r->fk->stacks[0].id, 22);
	assert_int_equal(r->fk->nsstats, 1);
	assert_int_equal(mo_stacks_deleted(r->st), 1);
	take_events(r, NULL, NULL);
}

static void test_exec_drops_old_image(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 3;
	struct mo_record e = rec(MO_REC_EXEC, pid, 1, 500, "new");

	mo_proctab_add_target(r->pt, pid, 0);
	fk_add_alloc(r->fk, pid, 1, 0x1000, 10, 100, 1);	/* before the exec */
	fk_add_alloc(r->fk, pid, 1, 0x2000, 10, 900, 1);	/* after */
	mo_lifecycle_exec(r->lc, &e);
	assert_int_equal(take_events(r, "exec", NULL), 1);
	mo_lifecycle_reclaim(r->lc, UINT64_MAX);
	assert_int_equal(r->fk->nallocs, 1);
	assert_int_equal(r->fk->allocs[0].addr, 0x2000);
	assert_string_equal(mo_proctab_find(r->pt, pid)->comm, "new");
}

static void test_short_lived_system_wide(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 4;
	struct mo_record x = rec(MO_REC_EXIT, pid, 1, 2000, "sh");
	struct mo_lifecycle_stats ls;

	r->env.system_wide = true;
	r->env.cfg.min_unfreed_age_ns = 30 * MO_NSEC;
	fk_add_proc(r->fk, pid, 1, 1, 0);
	r->fk->procs[r->fk->nprocs - 1].st.exec_ts_ns = 1000;
	fk_add_alloc(r->fk, pid, 1, 0x1000, 10, 1500, 5);
	mo_lifecycle_exit(r->lc, &x);
	mo_lifecycle_reclaim(r->lc, UINT64_MAX);
	mo_lifecycle_stats(r->lc, &ls);
	assert_int_equal(ls.short_lived_exits, 1);
	assert_int_equal(take_events(r, "leak", NULL), 0);
	assert_int_equal(take_events(r, "exit", NULL), 0);
	assert_int_equal(r->fk->nallocs, 0);	/* reclaimed all the same */
}

static void test_pid_reuse_keeps_new_state(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 5;
	struct mo_record x = rec(MO_REC_EXIT, pid, 1, 2000, "old");
	struct mo_lifecycle_stats ls;

	fk_add_proc(r->fk, pid, 2, 0, 0);	/* the new process's statistics */
	fk_add_alloc(r->fk, pid, 1, 0x1000, 10, 100, 5);	/* the old one's block */
	fk_add_alloc(r->fk, pid, 2, 0x1000, 10, 100, 5);	/* the new one's */
	mo_lifecycle_exit(r->lc, &x);
	mo_lifecycle_reclaim(r->lc, UINT64_MAX);
	mo_lifecycle_stats(r->lc, &ls);
	assert_int_equal(ls.pids_reused, 1);
	assert_int_equal(r->fk->nallocs, 1);
	assert_int_equal(r->fk->allocs[0].gen, 2);
	assert_int_equal(r->fk->nprocs, 1);
	assert_false(mo_proctab_find(r->pt, pid)->exit_pending);
	take_events(r, NULL, NULL);
}

static void test_exit_findings_bounded(void **state)
{
	struct rig *r = *state;
	struct mo_lifecycle_stats ls;
	const struct mo_leak *l;
	size_t n;

	for (uint32_t i = 0; i < 1100; i++) {
		struct mo_record x = rec(MO_REC_EXIT, PID0 + 100 + i, 1, 1000000, "many");

		fk_add_alloc(r->fk, PID0 + 100 + i, 1, 0x1000, 1000 + i, 10, 5);
		mo_lifecycle_exit(r->lc, &x);
		mo_lifecycle_reclaim(r->lc, UINT64_MAX);
		take_events(r, NULL, NULL);
	}
	mo_lifecycle_exit_leaks(r->lc, &l, &n);
	mo_lifecycle_stats(r->lc, &ls);
	assert_int_equal(n, 1024);
	assert_int_equal(ls.exit_leaks_dropped, 1100 - 1024);
	/* the largest are kept */
	for (size_t i = 0; i < n; i++)
		assert_true(l[i].unfreed_bytes >= 1000 + 1100 - 1024);
	assert_int_equal(mo_proctab_size(r->pt), 0);
}

/* ---------------------------------------------------------------- leaks */

static void test_periodic_growing_and_dedup(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 6;
	struct mo_event *ev = NULL;
	size_t leaks = 0;

	r->env.cfg.stack_dedup_window_ns = 3600 * MO_NSEC;
	mo_proctab_add_target(r->pt, pid, 0);
	for (int pass = 0; pass < 16; pass++) {
		/* one more 64 KiB block per pass, never freed */
		fk_add_alloc(r->fk, pid, 1, 0x100000 + pass * 0x10000, 65536, 1, 9);
		mo_leaks_periodic(r->lk, mo_clock_ns(CLOCK_BOOTTIME));
		leaks += take_events(r, "leak", ev ? NULL : &ev);
		usleep(2000);
	}
	/* reported once its history was long enough, then held back */
	assert_int_equal(leaks, 1);
	assert_non_null(ev);
	assert_string_equal(ev->pattern, "growing");
	assert_string_equal(ev->severity, "warning");
	assert_false(ev->final);
	mo_event_free(ev);
	assert_true(mo_leaks_suppressed(r->lk) > 0);
}

static void test_periodic_plateau(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 7;
	struct mo_event *ev = NULL;

	mo_proctab_add_target(r->pt, pid, 0);
	for (int i = 0; i < 8; i++)
		fk_add_alloc(r->fk, pid, 1, 0x100000 + i * 0x10000, 65536, 1, 9);
	for (int pass = 0; pass < 16; pass++) {
		mo_leaks_periodic(r->lk, mo_clock_ns(CLOCK_BOOTTIME));
		take_events(r, NULL, ev ? NULL : &ev);
		usleep(2000);
	}
	assert_non_null(ev);
	assert_string_equal(ev->kind, "plateau");
	assert_string_equal(ev->severity, "info");
	mo_event_free(ev);
}

/* ------------------------------------------------------------- resident */

static void test_rss_growth_finding(void **state)
{
	struct rig *r = *state;
	uint32_t pid = PID0 + 8;
	struct mo_event *ev = NULL;
	uint64_t t = MO_NSEC;

	r->fk->rss[0].pid = pid;
	r->fk->rss[0].rss.seen = MO_RSS_RESIDENT;
	r->fk->nrss = 1;
	for (int s = 0; s < 9; s++, t += MO_NSEC) {
		r->fk->rss[0].rss.anon = (uint64_t)s * 20 * (1 << 20);
		mo_resident_tick(r->rs, t);
		/* a second tick within the same second is not a sample */
		mo_resident_tick(r->rs, t + 1000);
	}
	/* 160 MB of growth, 100 MB (balanced) within the window: one finding */
	assert_int_equal(take_events(r, "rss_growth", &ev), 1);
	assert_int_equal(ev->growth_bytes, 100ULL * 1024 * 1024);
	mo_event_free(ev);
}

/* ------------------------------------------------------------- metrics */

static uint64_t allocs_of(const struct mo_metrics_snapshot *snap, const char *name)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < snap->nprocs; i++)
		if (!strcmp(snap->procs[i].command, name))
			sum += snap->procs[i].allocations;
	return sum;
}

/* A process that execs takes a new name: what it did before stays its
 * former name's, so neither name's counter goes backwards. */
static void test_exec_keeps_counters_monotonic(void **state)
{
	struct rig *r = *state;
	struct mo_core c = { 0 };
	struct mo_metrics_snapshot snap;
	uint32_t pid = PID0 + 30;
	struct mo_record e = rec(MO_REC_EXEC, pid, 1, 100, "new");

	c.env = r->env;
	c.k = &r->fk->k;
	c.q = r->q;
	c.pt = r->pt;
	c.st = r->st;
	c.f = r->f;
	c.rs = r->rs;
	c.lk = r->lk;
	c.lc = r->lc;
	c.pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	c.proc_series = mo_series_new(MO_METRICS_MAX_SERIES - 1);
	c.rss_series = mo_series_new(MO_METRICS_MAX_SERIES - 1);
	mo_proctab_set_comm(r->pt, mo_proctab_add_target(r->pt, pid, 0), "old", 4);
	fk_add_proc(r->fk, pid, 1, 10, 0);
	assert_int_equal(mo_core_metrics(&c, &snap), 0);
	assert_int_equal(allocs_of(&snap, "old"), 10);
	mo_core_metrics_release(&snap);
	mo_lifecycle_exec(r->lc, &e);
	take_events(r, NULL, NULL);
	r->fk->procs[r->fk->nprocs - 1].st.allocs = 15;
	assert_int_equal(mo_core_metrics(&c, &snap), 0);
	assert_int_equal(allocs_of(&snap, "old"), 10);
	assert_int_equal(allocs_of(&snap, "new"), 5);
	assert_true(snap.series_decided);
	mo_core_metrics_release(&snap);
	mo_series_free(c.proc_series);
	mo_series_free(c.rss_series);
	mo_probes_free(c.pr);
}

/* --------------------------------------------------------------- growth */

/*
 * The watch tier: a stack whose faulted-in bytes grow with its process's
 * resident memory is a finding, once its history is long enough; its
 * process is escalated (here: no probes can be attached, which is an event
 * with the reason). A stack that grows while RSS stays flat (memory given
 * back and faulted in again) and one that plateaus are not findings.
 */
static void run_growth(struct rig *r, int passes, uint64_t leak_step, uint64_t churn_step,
		       uint64_t cache_cap, uint64_t rss_step)
{
	struct mo_probes *pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	struct mo_escalate *es = mo_escalate_new(&r->env, &r->fk->k, r->pt, r->st, r->f, pr);
	struct mo_growth_stage *gs = mo_growth_new(&r->env, &r->fk->k, r->pt, r->st, r->f, r->rs, es);
	uint64_t t = mo_clock_ns(CLOCK_BOOTTIME);
	uint32_t pid = PID0 + 9;

	assert_true(pr && es && gs);
	r->fk->rss[0].pid = pid;
	r->fk->rss[0].rss.seen = MO_RSS_RESIDENT;
	r->fk->nrss = 1;
	for (int i = 1; i <= passes; i++, t += 10 * MO_NSEC) {
		uint64_t cache = (uint64_t)i * (4ULL << 20);

		fk_set_growth(r->fk, pid, 1, 101, (uint64_t)i * leak_step);
		fk_set_growth(r->fk, pid, 1, 102, (uint64_t)i * churn_step);
		fk_set_growth(r->fk, pid, 1, 103, cache < cache_cap ? cache : cache_cap);
		for (int s = 0; s < 10; s++) {
			r->fk->rss[0].rss.anon = (50ULL << 20) + ((uint64_t)i * 10 + s) * rss_step / 10;
			mo_resident_tick(r->rs, t + (uint64_t)s * MO_NSEC);
		}
		mo_growth_periodic(gs, t + 10 * MO_NSEC);
	}
	mo_growth_free(gs);
	mo_escalate_free(es);
	mo_probes_free(pr);
}

/* Functions of this test under Go's names, for the symbolizer (a Go
 * program's frames, as its symbol table names them). */
#define GO_FN(c, goname)                                                     \
	__attribute__((noinline, used)) void c(void) __asm__(goname);         \
	__attribute__((noinline, used)) void c(void) { __asm__ volatile("nop; nop; nop; nop"); }
GO_FN(go_evacuate, "runtime.evacuate_fast64")
GO_FN(go_mapassign, "runtime.mapassign_fast64")
GO_FN(go_memclr, "runtime.memclrNoHeapPointers")
GO_FN(go_mallocgc, "runtime.mallocgc")
GO_FN(go_scanobject, "runtime.scanobject")
GO_FN(go_gcdrain, "runtime.gcDrain")
GO_FN(go_leakmap, "main.leakMap")
GO_FN(go_main, "main.main")

/* This process's resident memory as /proc tells it (the resident stage
 * checks the kernel's view of a live process against it). */
static uint64_t own_rss(void)
{
	char line[256];
	uint64_t kb, sum = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if ((sscanf(line, "RssAnon: %" SCNu64, &kb) == 1 ||
		     sscanf(line, "RssFile: %" SCNu64, &kb) == 1 ||
		     sscanf(line, "RssShmem: %" SCNu64, &kb) == 1))
			sum += kb << 10;
	if (f)
		fclose(f);
	return sum;
}

/* Go's growth stacks, as return addresses into each function: the first
 * four start in the runtime and reach main.leakMap, the fifth starts
 * there, the sixth (the GC's) is all runtime. */
#define RA(f) ((uint64_t)(uintptr_t)(f) + 2)
static void go_stacks(struct rig *r, uint64_t first_id, int n)
{
	const uint64_t st[6][4] = {
		{ RA(go_evacuate), RA(go_mapassign), RA(go_leakmap), RA(go_main) },
		{ RA(go_memclr), RA(go_mallocgc), RA(go_leakmap), RA(go_main) },
		{ RA(go_mallocgc), RA(go_leakmap), RA(go_main), RA(go_main) },
		{ RA(go_mapassign), RA(go_leakmap), RA(go_main), RA(go_main) },
		{ RA(go_leakmap), RA(go_main), RA(go_main), RA(go_main) },
		{ RA(go_scanobject), RA(go_gcdrain), RA(go_gcdrain), RA(go_gcdrain) },
	};

	for (int s = 0; s < n && s < 6; s++)
		fk_add_stack(r->fk, first_id + (uint64_t)s, 4, st[s]);
}
#undef RA

/* The fake kernel's RSS view of this process is its real one (its RSS is
 * read: the resident stage checks it against /proc). */
static void own_rss_watched(struct rig *r, uint32_t pid)
{
	r->fk->rss[0].pid = pid;
	r->fk->rss[0].rss.seen = MO_RSS_RESIDENT;
	r->fk->nrss = 1;
}

/* One pass's ten resident ticks from t, each reading our RSS. */
static void own_rss_ticks(struct rig *r, uint64_t t)
{
	for (int k = 0; k < 10; k++) {
		r->fk->rss[0].rss.anon = own_rss();
		mo_resident_tick(r->rs, t + (uint64_t)k * MO_NSEC);
	}
}

/*
 * A Go program's growth: the runtime faults the heap in from its own
 * functions, so the leaking function's growth is spread over stacks, none
 * of which grows enough on its own (here each stays under the 1 MiB a
 * stack's history needs). Counted for their site, the first frame outside
 * the runtime, they are one finding there, shown with the largest stack;
 * the GC's stack (all runtime) counts for no site.
 */
static void test_growth_go_site(void **state)
{
	struct rig *r = *state;
	struct mo_probes *pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	struct mo_escalate *es = mo_escalate_new(&r->env, &r->fk->k, r->pt, r->st, r->f, pr);
	struct mo_growth_stage *gs = mo_growth_new(&r->env, &r->fk->k, r->pt, r->st, r->f, r->rs, es);
	uint64_t t = mo_clock_ns(CLOCK_BOOTTIME);
	uint32_t pid = (uint32_t)getpid();
	struct mo_event *leak = NULL;
	const char *top[8] = { 0 };
	char *held[12];

	assert_true(pr && es && gs);
	r->env.cfg.stack_dedup_window_ns = 3600 * MO_NSEC;
	go_stacks(r, 301, 6);
	own_rss_watched(r, pid);
	for (int i = 1; i <= 12; i++, t += 10 * MO_NSEC) {
		/* each stack 256 KiB + 60 KiB a pass: under 1 MiB for good */
		for (int s = 0; s < 6; s++)
			fk_set_growth(r->fk, pid, 1, 301 + s, (256ULL << 10) + (uint64_t)i * (60 << 10) +
				      (uint64_t)s * 1024);
		/* the process grows with them, really (its RSS is read) */
		held[i - 1] = malloc(512 << 10);
		assert_non_null(held[i - 1]);
		memset(held[i - 1], i, 512 << 10);
		own_rss_ticks(r, t);
		mo_growth_periodic(gs, t + 10 * MO_NSEC);
	}
	for (int i = 0; i < 12; i++)
		free(held[i]);
	assert_int_equal(take_events(r, "leak", &leak), 1);
	assert_non_null(leak);
	assert_string_equal(leak->tier, "watch");
	assert_string_equal(leak->pattern, "growing");
	/* the site's largest stack (main.leakMap's own); the bytes are the
	 * sum of main.leakMap's five stacks at the pass it was found (the
	 * 8th: the first with 8 samples), not the GC's */
	assert_true(leak->stack.id == 305);
	assert_true(leak->unfreed_bytes == 5 * ((256ULL << 10) + 8 * (60 << 10)) +
					     (0 + 1 + 2 + 3 + 4) * 1024);
	for (size_t f = 0; f < leak->stack.nframes && f < 8; f++)
		top[f] = leak->stack.frames[f].symbol;
	assert_string_equal(top[0], "main.leakMap");
	mo_event_free(leak);
	mo_growth_free(gs);
	mo_escalate_free(es);
	mo_probes_free(pr);
}

/*
 * A Go map that doubles: its site's bytes rise in steps (1 MiB, 2 MiB at the
 * 3rd pass, 4 MiB at the 17th), flat in between, spread over four runtime
 * stacks none of which reaches the 1 MiB a stack's own history needs. The
 * site is found at the 17th pass (the 3rd step; after the 2nd the history
 * is too short for a finding, and the step is 14 passes old when it is
 * long enough), not before.
 */
static void test_growth_go_stairs(void **state)
{
	struct rig *r = *state;
	struct mo_growth_stage *gs = mo_growth_new(&r->env, &r->fk->k, r->pt, r->st, r->f, r->rs, NULL);
	uint64_t t = mo_clock_ns(CLOCK_BOOTTIME);
	uint32_t pid = (uint32_t)getpid();
	struct mo_event *leak = NULL;
	char *held[2] = { NULL, NULL };
	uint64_t sum = 0;

	assert_non_null(gs);
	r->env.cfg.stack_dedup_window_ns = 3600 * MO_NSEC;
	go_stacks(r, 311, 4);	/* the four that start in the runtime */
	own_rss_watched(r, pid);
	for (int i = 1; i <= 17; i++, t += 10 * MO_NSEC) {
		uint64_t each = i < 3 ? 256ULL << 10 : i < 17 ? 512ULL << 10 : 1000ULL << 10;

		sum = 0;
		for (int k = 0; k < 4; k++) {
			/* the first is the largest: the finding's stack */
			fk_set_growth(r->fk, pid, 1, 311 + k, each + (k ? 0 : 4096));
			sum += each + (k ? 0 : 4096);
		}
		/* the process's RSS steps with it, really (its RSS is read) */
		if (i == 3 || i == 17) {
			size_t sz = i == 3 ? 1 << 20 : 2 << 20;

			held[i == 17] = malloc(sz);
			assert_non_null(held[i == 17]);
			memset(held[i == 17], i, sz);
		}
		own_rss_ticks(r, t);
		mo_growth_periodic(gs, t + 10 * MO_NSEC);
		if (i < 17)
			assert_int_equal(take_events(r, "leak", NULL), 0);
	}
	free(held[0]);
	free(held[1]);
	assert_int_equal(take_events(r, "leak", &leak), 1);
	assert_non_null(leak);
	assert_string_equal(leak->tier, "watch");
	assert_string_equal(leak->pattern, "growing");
	assert_true(leak->stack.id == 311);	/* the site's largest stack */
	assert_true(leak->unfreed_bytes == sum);
	mo_event_free(leak);
	mo_growth_free(gs);
}

static void test_growth_finding_and_escalation(void **state)
{
	struct rig *r = *state;
	struct mo_event *leak = NULL;
	uint64_t ips[1] = { 0x401000 };

	fk_add_stack(r->fk, 101, 1, ips);
	r->env.cfg.stack_dedup_window_ns = 3600 * MO_NSEC;
	/* the leak grows 2 MiB a pass and RSS with it; the churn stack
	 * faults 20 MiB a pass in memory given back; the cache stops at 16 MiB */
	run_growth(r, 12, 2 << 20, 20 << 20, 16 << 20, 2 << 20);
	assert_int_equal(take_events(r, "leak", &leak), 1);
	assert_string_equal(leak->tier, "watch");
	assert_string_equal(leak->pattern, "growing");
	assert_true(leak->rss_validated);
	assert_true(leak->stack.id == 101);
	mo_event_free(leak);
}

static void test_growth_escalation_failure_is_an_event(void **state)
{
	struct rig *r = *state;
	struct mo_event *esc = NULL;

	run_growth(r, 12, 2 << 20, 0, 0, 2 << 20);
	assert_int_equal(take_events(r, "escalate", &esc), 1);
	assert_string_equal(esc->severity, "warning");
	assert_non_null(strstr(esc->detail, "cannot escalate"));
	mo_event_free(esc);
}

/* With every slot taken, a process that cannot be escalated at all is told
 * why at once, not asked to wait for a slot. */
static void test_growth_escalation_refused_before_waiting(void **state)
{
	struct rig *r = *state;
	struct mo_event *esc = NULL;

	r->env.cfg.max_escalations = 0;
	run_growth(r, 12, 2 << 20, 0, 0, 2 << 20);
	assert_int_equal(take_events(r, "escalate", &esc), 1);
	assert_non_null(strstr(esc->detail, "cannot escalate"));
	assert_null(strstr(esc->detail, "not escalated yet"));
	mo_event_free(esc);
}

static void test_growth_without_rss_is_not_a_leak(void **state)
{
	struct rig *r = *state;

	/* every stack faults in memory, RSS stays flat: churn everywhere */
	run_growth(r, 12, 2 << 20, 20 << 20, 0, 0);
	assert_int_equal(take_events(r, "leak", NULL), 0);
}

/* ------------------------------------------------------------- queries */

static void rig_core(struct rig *r, struct mo_core *c)
{
	memset(c, 0, sizeof(*c));
	c->env = r->env;
	c->k = &r->fk->k;
	c->q = r->q;
	c->pt = r->pt;
	c->st = r->st;
	c->f = r->f;
	c->rs = r->rs;
	c->lk = r->lk;
	c->lc = r->lc;
}

/* A process of a container, as /proc would have told. */
static void in_container(struct rig *r, pid_t pid, const char *id)
{
	struct mo_proc *p = mo_proctab_get(r->pt, pid);

	assert_non_null(p);
	snprintf(p->c.id, sizeof(p->c.id), "%s", id);
	p->container_known = true;
}

static struct mo_report *query(struct mo_core *c, enum mo_report_kind kind, pid_t pid,
			       const char *container, int *err)
{
	struct mo_report_query q = { .kind = kind, .pid = pid, .container = container };

	return mo_core_query(c, &q, err);
}

/*
 * Reports on request: the leaks (age rule) or the whole heap (any age),
 * narrowed to a pid or a container prefix; a pid nobody knows is -ESRCH;
 * growth stacks only with the watch tier.
 */
static void test_query_scopes(void **state)
{
	struct rig *r = *state;
	uint64_t now = mo_clock_ns(CLOCK_BOOTTIME), ips[1] = { 0x401000 };
	struct mo_report *rep;
	struct mo_core c;
	int err;

	r->env.cfg.min_unfreed_age_ns = 60 * MO_NSEC;
	rig_core(r, &c);
	c.pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	assert_non_null(c.pr);
	fk_add_stack(r->fk, 7, 1, ips);
	fk_add_stack(r->fk, 8, 1, ips);
	/* PID0+1: one old block and one young; PID0+2 (in container
	 * c0ffee...): one old block */
	fk_add_alloc(r->fk, PID0 + 1, 1, 0x1000, 4000, now - 120 * MO_NSEC, 7);
	fk_add_alloc(r->fk, PID0 + 1, 1, 0x2000, 500, now - MO_NSEC, 8);
	fk_add_alloc(r->fk, PID0 + 2, 1, 0x1000, 3000, now - 120 * MO_NSEC, 7);
	fk_add_proc(r->fk, PID0 + 3, 1, 0, 0);
	in_container(r, PID0 + 1, "");
	in_container(r, PID0 + 2, "c0ffee0123");

	rep = query(&c, MO_REPORT_LEAKS, 0, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 2);
	assert_int_equal(rep->total_unfreed_bytes, 7000);
	assert_int_equal(rep->min_unfreed_age_ns, 60 * MO_NSEC);
	mo_report_free(rep);

	rep = query(&c, MO_REPORT_HEAP, 0, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 3);
	assert_int_equal(rep->total_unfreed_bytes, 7500);
	assert_int_equal(rep->min_unfreed_age_ns, 0);
	mo_report_free(rep);

	rep = query(&c, MO_REPORT_HEAP, PID0 + 1, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 2);
	for (size_t i = 0; i < rep->nleaks; i++)
		assert_int_equal(rep->leaks[i].pid, PID0 + 1);
	mo_report_free(rep);

	rep = query(&c, MO_REPORT_HEAP, 0, "c0ff", &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 1);
	assert_int_equal(rep->leaks[0].pid, PID0 + 2);
	assert_string_equal(rep->leaks[0].container_id, "c0ffee0123");
	mo_report_free(rep);
	rep = query(&c, MO_REPORT_HEAP, 0, "c0ffee0123", &err);
	assert_int_equal(rep->nleaks, 1);
	mo_report_free(rep);
	rep = query(&c, MO_REPORT_HEAP, 0, "beef", &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 0);
	mo_report_free(rep);

	/* known but holding nothing: an empty report; unknown: -ESRCH */
	rep = query(&c, MO_REPORT_HEAP, PID0 + 3, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 0);
	mo_report_free(rep);
	assert_null(query(&c, MO_REPORT_HEAP, PID0 + 4, NULL, &err));
	assert_int_equal(err, -ESRCH);
	assert_null(query(&c, MO_REPORT_LEAKS, PID0 + 4, NULL, &err));
	assert_int_equal(err, -ESRCH);

	/* no watch tier, no growth stacks */
	assert_null(query(&c, MO_REPORT_GROWTH, 0, NULL, &err));
	assert_int_equal(err, -EOPNOTSUPP);
	mo_probes_free(c.pr);
}

/* The watch tier's growth stacks as a report: bytes faulted in by stack. */
static void test_query_growth(void **state)
{
	struct rig *r = *state;
	struct mo_probes *pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	struct mo_escalate *es = mo_escalate_new(&r->env, &r->fk->k, r->pt, r->st, r->f, pr);
	struct mo_growth_stage *gs = mo_growth_new(&r->env, &r->fk->k, r->pt, r->st, r->f, r->rs, es);
	uint64_t ips[1] = { 0x401000 };
	struct mo_report *rep;
	struct mo_core c;
	int err;

	assert_true(pr && es && gs);
	rig_core(r, &c);
	c.pr = pr;
	c.es = es;
	c.gs = gs;
	fk_add_stack(r->fk, 101, 1, ips);
	fk_set_growth(r->fk, PID0 + 9, 1, 101, 8 << 20);
	fk_set_growth(r->fk, PID0 + 9, 1, 102, 1 << 20);
	fk_set_growth(r->fk, PID0 + 8, 1, 101, 0);

	rep = query(&c, MO_REPORT_GROWTH, 0, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 2);
	assert_int_equal(rep->leaks[0].unfreed_bytes, 8 << 20);
	assert_int_equal(rep->leaks[0].count, (8 << 20) >> 17);
	assert_true(rep->leaks[0].stack.id == 101);
	assert_string_equal(rep->leaks[0].tier, "watch");
	assert_true(rep->leaks[0].estimate);
	assert_int_equal(rep->leaks[1].unfreed_bytes, 1 << 20);
	assert_true(rep->estimate);
	mo_report_free(rep);

	rep = query(&c, MO_REPORT_GROWTH, PID0 + 8, NULL, &err);
	assert_null(rep);
	assert_int_equal(err, -ESRCH);

	mo_growth_free(gs);
	mo_escalate_free(es);
	mo_probes_free(pr);
}

/*
 * A profile of the heap report: what its bounds leave out is counted and
 * shows in the metrics; the growth kind makes a growth profile.
 */
static void test_profile_counts_cut(void **state)
{
	struct rig *r = *state;
	uint64_t now = mo_clock_ns(CLOCK_BOOTTIME), ips[1] = { 0x401000 };
	const struct mo_profile_limits one = { .max_stacks = 1 };
	struct mo_metrics_snapshot snap;
	struct mo_report *rep;
	struct mo_core c;
	uint8_t *gz;
	size_t len;
	int err;

	rig_core(r, &c);
	c.pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	assert_non_null(c.pr);
	for (uint32_t s = 1; s <= 3; s++) {
		fk_add_stack(r->fk, s, 1, ips);
		fk_add_alloc(r->fk, PID0 + 1, 1, 0x1000 * s, 100 * s, now, s);
	}
	rep = query(&c, MO_REPORT_HEAP, 0, NULL, &err);
	assert_non_null(rep);
	assert_int_equal(rep->nleaks, 3);
	assert_int_equal(mo_core_profile(&c, rep, MO_REPORT_HEAP, NULL, &gz, &len), 0);
	free(gz);
	assert_int_equal(mo_stat_get(&c.noted[MO_CTR_profile_stacks_cut]), 0);
	assert_int_equal(mo_core_profile(&c, rep, MO_REPORT_HEAP, &one, &gz, &len), 0);
	free(gz);
	assert_int_equal(mo_core_profile(&c, rep, MO_REPORT_GROWTH, &one, &gz, &len), 0);
	free(gz);
	assert_int_equal(mo_stat_get(&c.noted[MO_CTR_profile_stacks_cut]), 4);
	assert_int_equal(mo_core_metrics(&c, &snap), 0);
	assert_int_equal(snap.counters.profile_stacks_cut, 4);
	mo_core_metrics_release(&snap);
	mo_report_free(rep);
	mo_probes_free(c.pr);
}

/* ------------------------------------------------------------- threads */

struct reader {
	struct mo_core *c;
	bool stop;
	size_t reads;
};

static void *read_loop(void *arg)
{
	struct reader *rd = arg;

	while (!__atomic_load_n(&rd->stop, __ATOMIC_ACQUIRE)) {
		struct mo_metrics_snapshot snap;
		struct mo_counters k;
		struct mo_proc_view v;

		mo_core_counters(rd->c, &k);
		assert_int_equal(mo_core_metrics(rd->c, &snap), 0);
		mo_core_metrics_release(&snap);
		mo_proctab_describe(rd->c->pt, PID0 + 1, &v);
		(void)mo_proctab_targets_gone(rd->c->pt);
		rd->reads++;
	}
	return NULL;
}

/*
 * What other threads read (counters, metrics, names) while the worker's
 * stages run: run under ThreadSanitizer (make tsan), any unguarded shared
 * access is a report.
 */
static void test_readers_while_working(void **state)
{
	struct rig *r = *state;
	struct mo_core c = { 0 };
	struct reader rd = { .c = &c };
	pthread_t t;

	c.env = r->env;
	c.k = &r->fk->k;
	c.q = r->q;
	c.pt = r->pt;
	c.st = r->st;
	c.f = r->f;
	c.rs = r->rs;
	c.lk = r->lk;
	c.lc = r->lc;
	c.pr = mo_probes_new(&r->env, NULL, NULL, NULL);
	assert_non_null(c.pr);
	assert_int_equal(pthread_create(&t, NULL, read_loop, &rd), 0);
	for (uint32_t i = 0; i < 300; i++) {
		uint32_t pid = PID0 + 1 + i % 50;
		struct mo_record f = rec(MO_REC_FORK, PID0, 1, i, "parent");
		struct mo_record x = rec(MO_REC_EXIT, pid, 1, 1000000 + i, "child");
		struct mo_record e = rec(MO_REC_EXEC, pid, 1, 500 + i, "exec");

		f.other_pid = pid;
		mo_lifecycle_fork(r->lc, &f);
		mo_lifecycle_exec(r->lc, &e);
		fk_add_alloc(r->fk, pid, 1, 0x1000 + i, 100, 600 + i, 5);
		mo_lifecycle_exit(r->lc, &x);
		if (i % 10 == 9)
			mo_lifecycle_reclaim(r->lc, UINT64_MAX);
		if (i % 30 == 29)
			mo_leaks_periodic(r->lk, mo_clock_ns(CLOCK_BOOTTIME));
		take_events(r, NULL, NULL);
	}
	__atomic_store_n(&rd.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_true(rd.reads > 0);
	mo_probes_free(c.pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_dispatch),
		cmocka_unit_test(test_proctab),
		cmocka_unit_test(test_series_never_go_backwards),
		cmocka_unit_test_setup_teardown(test_unknown_module_settled, rig_setup, rig_teardown),
cmocka_unit_test_setup_teardown(test_exit_reports_and_forgets, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_exit_releases_own_stacks, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_exec_drops_old_image, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_short_lived_system_wide, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_pid_reuse_keeps_new_state, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_exit_findings_bounded, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_periodic_growing_and_dedup, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_periodic_plateau, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_rss_growth_finding, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_readers_while_working, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_exec_keeps_counters_monotonic, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_go_site, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_go_stairs, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_finding_and_escalation, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_escalation_failure_is_an_event, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_escalation_refused_before_waiting, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_growth_without_rss_is_not_a_leak, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_query_scopes, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_query_growth, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_profile_counts_cut, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
