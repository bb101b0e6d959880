/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stacks.h - the kernel's stacks as the user reads them: symbolized once
 * per (process, stack id), even after the process is gone (from what the
 * kernel walker resolved, or the parent's view); each with its history of
 * unfreed bytes (pattern.h); and the stack table kept from filling with
 * the stacks of processes long gone.
 *
 * Owns: the symbolized stacks and histories (in each process's entry of
 * the process table), the symbolizer's per-process views, the collection
 * of the kernel's stack table. Worker thread only.
 */
#ifndef MO_CORE_STACKS_H
#define MO_CORE_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "analysis.h"
#include "memobserver.h"
#include "modules.h"
#include "pattern.h"
#include "traces.h"

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_proc;
struct mo_symbolizer;
struct mo_modules;
struct mo_record;
struct mo_stacks;

struct mo_stacks *mo_stacks_new(const struct mo_env *env, const struct mo_kernel *k,
				struct mo_proctab *pt, struct mo_symbolizer *sym,
				struct mo_modules *mods);
void mo_stacks_free(struct mo_stacks *st);

/* The cache entry of (pid, id), created when missing; NULL on ENOMEM. */
struct mo_trace_entry *mo_stacks_entry(struct mo_stacks *st, uint32_t pid, uint64_t id);

/* (pid, id) symbolized (frames may be empty when it cannot be); NULL on ENOMEM. */
const struct mo_stack_trace *mo_stacks_trace(struct mo_stacks *st, uint32_t pid, uint64_t id);

/* The blocks of g were made by the dynamic loader (segments, TLS): the
 * runtime's, not the program's. */
bool mo_stacks_runtime(struct mo_stacks *st, const struct mo_leak_group *g);

/* The history of an entry, created on first use; NULL past the cap. */
struct mo_history *mo_stacks_history(struct mo_stacks *st, struct mo_trace_entry *e);

/* The entry's history classified (MO_PATTERN_UNKNOWN without one). */
void mo_stacks_classify(const struct mo_trace_entry *e, struct mo_verdict *v);

/* pid's symbolized stacks, histories and view go (exec, exit). */
void mo_stacks_forget(struct mo_stacks *st, pid_t pid);

/* MO_REC_UNKNOWN_MODULE: the walker met a file without unwind rows. */
void mo_stacks_unknown_module(void *st, const struct mo_record *r);

/* A process's view of its mappings: read now (prime), re-read on next use. */
void mo_stacks_prime(struct mo_stacks *st, pid_t pid);

/*
 * Who refers to which stack (recs: the allocation table as last read, and
 * the per-stack totals): taken once for a batch of exits. NULL on ENOMEM
 * (then stacks are left to the collection).
 */
struct mo_stack_refs;
struct mo_stack_refs *mo_stacks_refs(struct mo_stacks *st, const struct mo_alloc_rec *recs,
				     size_t n);
void mo_stacks_refs_free(struct mo_stack_refs *refs);

/*
 * An exited process's per-stack totals leave the kernel, and the stacks
 * no other process refers to.
 */
void mo_stacks_release(struct mo_stacks *st, struct mo_stack_refs *refs, uint32_t pid);

/*
 * A process is about to be forgotten after lost records: its forked
 * children that user space never saw inherit its view and name.
 */
void mo_stacks_hand_over(struct mo_stacks *st, uint32_t pid, const char *comm);

/* Collect the kernel's stack table when it fills, and let unwind rows freed
 * by an eviction be reused (periodic, cheap when there is nothing to do). */
void mo_stacks_gc(struct mo_stacks *st, uint64_t now);

/* Stacks deleted from the kernel's table so far. */
uint64_t mo_stacks_deleted(const struct mo_stacks *st);

/* Any thread. */
struct mo_stacks_stats {
	uint64_t jit_named;		/* JIT frames named from a perf map */
	uint64_t jit_unnamed;		/* JIT frames without one: "[jit]" */
	uint64_t perfmaps_skipped;	/* perf maps not read: too big, not a file */
	uint64_t perfmap_lines_malformed;
};
void mo_stacks_stats(const struct mo_stacks *st, struct mo_stacks_stats *out);
/* Any thread: the unwind-row loader's counts (modules.h). */
void mo_stacks_module_stats(const struct mo_stacks *st, struct mo_modules_stats *out);

#endif
