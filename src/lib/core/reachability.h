/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * reachability.h - which of a process's tracked heap blocks are still
 * pointed to: the heap blocks of the allocation table (this process
 * instance) scanned with mo_reach_scan (reach.h), the verdicts summed per
 * stack and kept for the findings. Scans run when the worker asks: at the
 * end of the run, on request, and periodically for processes holding a
 * plateau, within the overhead budget.
 *
 * Owns: the last verdict of each (process, stack), each scanned process's
 * last scan (time, cost), its counters. Worker thread only (counters: any
 * thread). A scan holds no lock but the scanner's own.
 */
#ifndef MO_CORE_REACHABILITY_H
#define MO_CORE_REACHABILITY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memobserver.h"
#include "reach.h"

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_reach_stage;

/* What one scan of one process found. */
struct mo_reach_summary {
	pid_t pid;
	enum mo_scan_mode mode;
	const char *trigger;		/* "end", "request", "plateau" */
	uint64_t blocks[MO_REACH_NR_CLASSES];
	uint64_t bytes[MO_REACH_NR_CLASSES];
	uint64_t pause_ns;		/* stop mode: how long the process was stopped */
	uint64_t cpu_ns;		/* memobserver's CPU for the scan, all threads */
	uint64_t bytes_scanned;		/* read and scanned: roots and blocks */
	uint64_t duration_ns;
	enum mo_reach_why why;		/* scan-wide reason, MO_REACH_WHY_NONE if none */
	int error;
};

/* Called after each process scanned (the worker emits its event there). */
typedef void (*mo_reach_done_fn)(void *ctx, const struct mo_reach_summary *s);

/*
 * The scanner is mo_reach_scan; a test may put another function with its
 * contract in its place (NULL: mo_reach_scan).
 */
typedef int (*mo_reach_scan_fn)(pid_t pid, const struct mo_reach_block *blocks, size_t n,
				const struct mo_reach_opts *o, const struct mo_reach_result *prev,
				struct mo_reach_result *out);

struct mo_reach_stage *mo_reachability_new(const struct mo_env *env, const struct mo_kernel *k,
					   struct mo_proctab *pt, struct mo_stacks *st,
					   mo_reach_scan_fn scan);
void mo_reachability_free(struct mo_reach_stage *rc);

/*
 * Scan pid's tracked heap blocks now (mode stop or live: a live scan is two
 * passes, the second confirming the first). 0 with *s filled (a process
 * that cannot be scanned gets unknown verdicts and s->why says why),
 * -ENOENT when pid has no tracked heap block, -ENOMEM.
 */
int mo_reachability_scan_pid(struct mo_reach_stage *rc, pid_t pid, enum mo_scan_mode mode,
			     const char *trigger, struct mo_reach_summary *s);

/*
 * Hold pid at its exit (mo_reach_hold, reach.h): its last scan is made
 * there, its memory still whole. One process (the command). 0 or -errno
 * (-EPERM: may not trace it, or traced already).
 */
int mo_reachability_hold(struct mo_reach_stage *rc, pid_t pid);

/* Readable when the held process stopped at its exit, or ended; -1 when
 * nothing is held. */
int mo_reachability_hold_fd(const struct mo_reach_stage *rc);

/* The held process stopped at its exit: scanned (stop mode: it is stopped
 * anyway; trigger "exit"), its stacks symbolized while its mappings are
 * there, then released. Clears the fd. */
void mo_reachability_exits(struct mo_reach_stage *rc, mo_reach_done_fn done, void *ctx);

/* Stop holding (the process goes on untraced). */
void mo_reachability_unhold(struct mo_reach_stage *rc);

/* Every live process with tracked heap blocks but memobserver itself. */
void mo_reachability_scan_all(struct mo_reach_stage *rc, enum mo_scan_mode mode,
			      const char *trigger, mo_reach_done_fn done, void *ctx);

/*
 * Every --interval: processes holding a stack whose blocks are older than
 * the age rule and whose history is a plateau or churn get scanned when that stack
 * has no verdict yet or their last scan is old; a scan whose process's last
 * one cost more than the overhead budget over the time since is skipped
 * (counted). Verdicts of processes gone or exec'd are dropped here.
 */
void mo_reachability_periodic(struct mo_reach_stage *rc, uint64_t now, mo_reach_done_fn done,
			      void *ctx);

/* The verdict of (pid, stack_id) as of now_boot; false when never scanned. */
bool mo_reachability_get(const struct mo_reach_stage *rc, uint32_t pid, uint64_t stack_id,
			 uint64_t now_boot, struct mo_reachability *out);

/*
 * True once per loss: (pid, stack_id)'s verdict has a lost block and no
 * finding carried it yet (a finding that does bypasses the dedup window).
 */
bool mo_reachability_announce(struct mo_reach_stage *rc, uint32_t pid, uint64_t stack_id);

/* A summary's totals as a verdict (scan events). */
void mo_reachability_of_summary(const struct mo_reach_summary *s, struct mo_reachability *out);

/* Any thread. */
struct mo_reach_counts {
	uint64_t run;			/* scans that read the process's memory */
	uint64_t no_permission;
	uint64_t already_traced;
	uint64_t process_gone;
	uint64_t pause_cap;		/* ran, stopped at the pause cap */
	uint64_t over_budget;		/* periodic scans skipped */
	uint64_t failed;		/* other errors */
	uint64_t blocks[MO_REACH_NR_CLASSES];
	uint64_t pauses;
	uint64_t pause_ns;
	uint64_t cpu_ns;
	/* gauges: lost bytes in the verdicts held now (live processes) */
	uint64_t lost_definitely_bytes;
	uint64_t lost_indirectly_bytes;
};
void mo_reachability_stats(const struct mo_reach_stage *rc, struct mo_reach_counts *out);

#endif
