/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * traces.h - per (process, stack id) cache of symbolized stacks, with the
 * last time a finding for that stack was reported (stack dedup window).
 * Stacks are symbolized once; the cache is dropped per process on exec and
 * after an exited process's final report.
 */
#ifndef MO_TRACES_H
#define MO_TRACES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "memobserver.h"
#include "pattern.h"

struct mo_trace_entry {
	uint32_t pid;
	uint64_t id;
	bool resolved;
	bool runtime;		/* made by the dynamic loader: not the program's */
	struct mo_stack_trace tr;
	uint64_t last_emit_ns;	/* CLOCK_BOOTTIME of the last report, 0 = never */
	uint64_t suppressed;	/* repeats suppressed since the last report */
	struct mo_history *hist;	/* unfreed bytes over time, NULL until sampled */
};

struct mo_traces;

struct mo_traces *mo_traces_new(void);
void mo_traces_free(struct mo_traces *t);

/* The entry for (pid, id); created empty when absent. NULL on ENOMEM. The
 * pointer is valid until the next call that may create or forget. */
struct mo_trace_entry *mo_traces_get(struct mo_traces *t, uint32_t pid, uint64_t id);

/* How many entries hold a history (each is a few KiB). */
size_t mo_traces_histories(const struct mo_traces *t);

/* Deep copy of a trace (frames and their strings). 0 or -ENOMEM. */
int mo_trace_copy(struct mo_stack_trace *dst, const struct mo_stack_trace *src);
void mo_trace_release(struct mo_stack_trace *tr);

#endif
