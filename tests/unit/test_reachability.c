// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_reachability.c - the core's reachability stage (core/reachability.c)
 * against the fake kernel of fake_kernel.h and a scanner standing in for
 * mo_reach_scan: verdicts summed per stack, the one-time announcement of a
 * loss, a process gone keeping its verdicts, refusals by reason, live mode's
 * two passes over a list read again, blocks freed during a scan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_kernel.h"

#include "core/env.h"
#include "core/proctab.h"
#include "core/reachability.h"
#include "core/stacks.h"
#include "modules.h"
#include "symbolize.h"

#define PID 4000001

/* The stand-in scanner: a class per address (the rest reachable), or one
 * scan-wide reason; it counts its calls and remembers the last prev. */
static struct {
	uint64_t lost_addr[8];
	uint8_t lost_cls[8];
	int nlost;
	enum mo_reach_why why;
	int calls;
	bool had_prev;
	enum mo_reach_mode mode;
	struct fake_kernel *free_during;	/* this kernel loses free_addr during */
	uint64_t free_addr;
	int free_call;				/* ... this call */
} sc;

static int fake_scan(pid_t pid, const struct mo_reach_block *b, size_t n,
		     const struct mo_reach_opts *o, const struct mo_reach_result *prev,
		     struct mo_reach_result *out)
{
	memset(out, 0, sizeof(*out));
	sc.calls++;
	sc.had_prev = prev != NULL;
	sc.mode = o->mode;
	out->nr = n;
	out->cls = calloc(n + 1, 1);
	out->why = calloc(n + 1, 1);
	if (!out->cls || !out->why)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint8_t cls = MO_REACH_REACHABLE;

		if (sc.why) {
			cls = MO_REACH_UNKNOWN;
			out->why[i] = sc.why;
		}
		for (int k = 0; k < sc.nlost && !sc.why; k++)
			if (sc.lost_addr[k] == b[i].addr)
				cls = sc.lost_cls[k];
		/* live: a first pass only proposes */
		if (o->mode == MO_REACH_LIVE && !prev &&
		    (cls == MO_REACH_DEFINITELY_LOST || cls == MO_REACH_INDIRECTLY_LOST)) {
			cls = MO_REACH_UNKNOWN;
			out->why[i] = MO_REACH_WHY_UNCONFIRMED;
		}
		out->cls[i] = cls;
		out->stats.count[cls]++;
		out->stats.bytes[cls] += b[i].size;
	}
	out->stats.why = sc.why;
	out->stats.pause_ns = o->mode == MO_REACH_STOP ? 1000000 : 0;
	out->stats.bytes_scanned = 4096;
	if (sc.free_during && sc.calls == sc.free_call) {
		fk_alloc_delete(sc.free_during, &(struct mo_alloc_key){ .tgid = PID, .gen = 1,
									.addr = sc.free_addr });
		sc.free_during = NULL;
	}
	(void)pid;
	return 0;
}

struct rig {
	struct mo_env env;
	struct fake_kernel *fk;
	struct mo_proctab *pt;
	struct mo_symbolizer *sym;
	struct mo_modules *mods;
	int rows_fd;
	struct mo_stacks *st;
	struct mo_reach_stage *rc;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	mo_config_init(&r->env.cfg);
	assert_int_equal(mo_config_resolve(&r->env.cfg, &r->env.cfg, NULL), 0);
	r->fk = fake_kernel_new();
	r->pt = mo_proctab_new();
	r->sym = mo_symbolizer_new();
	r->rows_fd = memfd_create("rows", 0);
	assert_int_equal(ftruncate(r->rows_fd, 1 << 20), 0);
	r->mods = mo_modules_new(r->rows_fd, 1024, -1);
	r->st = mo_stacks_new(&r->env, &r->fk->k, r->pt, r->sym, r->mods);
	r->rc = mo_reachability_new(&r->env, &r->fk->k, r->pt, r->st, fake_scan);
	assert_true(r->fk && r->pt && r->sym && r->mods && r->st && r->rc);
	memset(&sc, 0, sizeof(sc));
	/* stack 0xa: blocks 0x1000 (64 B) and 0x2000 (128 B); stack 0xb: 0x3000 (256 B) */
	fk_add_proc(r->fk, PID, 1, 3, 0);
	fk_add_alloc(r->fk, PID, 1, 0x1000, 64, 10, 0xa);
	fk_add_alloc(r->fk, PID, 1, 0x2000, 128, 11, 0xa);
	fk_add_alloc(r->fk, PID, 1, 0x3000, 256, 12, 0xb);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	mo_reachability_free(r->rc);
	mo_stacks_free(r->st);
	mo_modules_free(r->mods);
	close(r->rows_fd);
	mo_symbolizer_free(r->sym);
	mo_proctab_free(r->pt);
	fake_kernel_free(r->fk);
	free(r);
	return 0;
}

static void lose(uint64_t addr, uint8_t cls)
{
	sc.lost_addr[sc.nlost] = addr;
	sc.lost_cls[sc.nlost++] = cls;
}

static void test_verdicts_per_stack(void **state)
{
	struct rig *r = *state;
	struct mo_reach_summary s;
	struct mo_reachability v;
	struct mo_reach_counts c;

	assert_false(mo_reachability_get(r->rc, PID, 0xa, 0, &v));
	lose(0x1000, MO_REACH_DEFINITELY_LOST);
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "request", &s), 0);
	assert_int_equal(sc.calls, 1);
	assert_int_equal(sc.mode, MO_REACH_STOP);
	assert_int_equal(s.blocks[MO_REACH_DEFINITELY_LOST], 1);
	assert_int_equal(s.blocks[MO_REACH_REACHABLE], 2);
	assert_int_equal(s.pause_ns, 1000000);
	assert_int_equal(s.bytes_scanned, 4096);
	assert_true(mo_reachability_get(r->rc, PID, 0xa, 0, &v));
	assert_string_equal(v.verdict, "definitely_lost");
	assert_string_equal(v.mode, "stop");
	assert_int_equal(v.definitely_lost_bytes, 64);
	assert_int_equal(v.reachable_bytes, 128);
	assert_int_equal(v.blocks, 2);
	assert_null(v.reason);
	assert_true(mo_reachability_get(r->rc, PID, 0xb, 0, &v));
	assert_string_equal(v.verdict, "reachable");
	assert_int_equal(v.reachable_bytes, 256);
	mo_reachability_stats(r->rc, &c);
	assert_int_equal(c.run, 1);
	assert_int_equal(c.pauses, 1);
	assert_int_equal(c.blocks[MO_REACH_DEFINITELY_LOST], 1);
	assert_int_equal(c.lost_definitely_bytes, 64);
	assert_int_equal(c.lost_indirectly_bytes, 0);
}

/* A loss is news once; found again it is not; lost after being kept, it is. */
static void test_announce_once(void **state)
{
	struct rig *r = *state;
	struct mo_reach_summary s;

	lose(0x3000, MO_REACH_INDIRECTLY_LOST);
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "plateau", &s), 0);
	assert_false(mo_reachability_announce(r->rc, PID, 0xa));	/* reachable */
	assert_true(mo_reachability_announce(r->rc, PID, 0xb));
	assert_false(mo_reachability_announce(r->rc, PID, 0xb));
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "plateau", &s), 0);
	assert_false(mo_reachability_announce(r->rc, PID, 0xb));
	sc.nlost = 0;
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "plateau", &s), 0);
	assert_false(mo_reachability_announce(r->rc, PID, 0xb));
	lose(0x3000, MO_REACH_DEFINITELY_LOST);
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "plateau", &s), 0);
	assert_true(mo_reachability_announce(r->rc, PID, 0xb));
}

/* A scan that finds the process gone keeps its last verdicts; one it may
 * not scan says why. */
static void test_gone_and_refused(void **state)
{
	struct rig *r = *state;
	struct mo_reach_summary s;
	struct mo_reachability v;
	struct mo_reach_counts c;

	lose(0x2000, MO_REACH_DEFINITELY_LOST);
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "request", &s), 0);
	sc.why = MO_REACH_WHY_GONE;
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "end", &s), 0);
	assert_true(mo_reachability_get(r->rc, PID, 0xa, 0, &v));
	assert_string_equal(v.verdict, "definitely_lost");
	sc.why = MO_REACH_WHY_TRACED;
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_STOP, "end", &s), 0);
	assert_true(mo_reachability_get(r->rc, PID, 0xa, 0, &v));
	assert_string_equal(v.verdict, "unknown");
	assert_string_equal(v.reason, "already_traced");
	assert_int_equal(v.unknown_bytes, 192);
	mo_reachability_stats(r->rc, &c);
	assert_int_equal(c.run, 1);
	assert_int_equal(c.process_gone, 1);
	assert_int_equal(c.already_traced, 1);
	assert_int_equal(c.lost_definitely_bytes, 0);
	/* a pid with no tracked block is not scanned at all */
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID + 1, MO_SCAN_STOP, "end", &s), -ENOENT);
}

/* Live: two passes, the second given the first; a block lost in both is
 * lost. A block freed during the scan is unknown (freed), not lost. */
static void test_live_and_freed(void **state)
{
	struct rig *r = *state;
	struct mo_reach_summary s;
	struct mo_reachability v;

	lose(0x1000, MO_REACH_DEFINITELY_LOST);
	lose(0x3000, MO_REACH_DEFINITELY_LOST);
	/* freed during the second pass, listed before it */
	sc.free_during = r->fk;
	sc.free_addr = 0x3000;
	sc.free_call = 2;
	assert_int_equal(mo_reachability_scan_pid(r->rc, PID, MO_SCAN_LIVE, "request", &s), 0);
	assert_int_equal(sc.calls, 2);
	assert_true(sc.had_prev);
	assert_int_equal(sc.mode, MO_REACH_LIVE);
	assert_int_equal(s.pause_ns, 0);
	assert_true(mo_reachability_get(r->rc, PID, 0xa, 0, &v));
	assert_string_equal(v.verdict, "definitely_lost");
	assert_string_equal(v.mode, "live");
	/* 0x3000 was freed after the list was read: nobody's to point to */
	assert_true(mo_reachability_get(r->rc, PID, 0xb, 0, &v));
	assert_string_equal(v.verdict, "unknown");
	assert_string_equal(v.reason, "freed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verdicts_per_stack, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_announce_once, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_gone_and_refused, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_live_and_freed, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
