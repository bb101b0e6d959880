/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * findings.h - events built from what the core knows of a process (name,
 * container) and leak findings built from a leak group (its stack, history,
 * allocation totals), pushed to the caller's event queue.
 *
 * Owns: nothing but its count of events emitted (read by any thread).
 */
#ifndef MO_CORE_FINDINGS_H
#define MO_CORE_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "analysis.h"
#include "memobserver.h"

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_probes;
struct mo_queue;
struct mo_record;
struct mo_reach_stage;
struct mo_reach_summary;
struct mo_findings;

struct mo_findings *mo_findings_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_stacks *st,
				    struct mo_probes *pr, struct mo_queue *q);
void mo_findings_free(struct mo_findings *f);

/* Leak findings carry the verdicts of rc's scans (NULL: none). */
void mo_findings_set_reach(struct mo_findings *f, struct mo_reach_stage *rc);

/* Some block of the verdict is lost (definitely or indirectly). */
bool mo_reach_lost(const struct mo_reachability *r);

/* The stack's blocks were just found lost: true once per loss (its first
 * finding is not held back by the dedup window). */
bool mo_findings_reach_news(struct mo_findings *f, uint32_t pid, uint64_t stack_id);

/* A process scanned (mo_reach_done_fn, ctx: the findings): its event. */
void mo_findings_scan_event(void *f, const struct mo_reach_summary *s);

/* The name of pid for events: as known, else /proc, else its exit record's,
 * else (a child whose fork and exit records were lost) its parent's. */
void mo_findings_comm(struct mo_findings *f, pid_t pid, char *buf, size_t len);

/* A new event about pid (boot_ts 0: now), named and placed in its container. */
struct mo_event *mo_findings_event(struct mo_findings *f, enum mo_event_type type,
				   const char *kind, pid_t pid, uint64_t boot_ts);

/* Hand ev to the queue (freed if it is full: the queue counts the drop). */
void mo_findings_emit(struct mo_findings *f, struct mo_event *ev);

/* A leak of group g as of now_boot: stack, pattern, totals, and the last
 * reachability verdict of its stack (a lost block makes it a warning; a
 * plateau found all reachable is kind "plateau"). */
/* l->pid's container, pod and Kubernetes names into l (left empty when
 * the process is not in a container). */
void mo_findings_fill_container(struct mo_findings *f, struct mo_leak *l);

void mo_findings_fill_leak(struct mo_findings *f, struct mo_leak *l,
			   const struct mo_leak_group *g, uint64_t now_boot);

/* The event of a leak finding. */
struct mo_event *mo_findings_leak_event(struct mo_findings *f, const struct mo_leak *l,
					const char *severity, bool final);

/* MO_REC_MMAP, MO_REC_MUNMAP, MO_REC_LARGE_*: their events. */
void mo_findings_map_record(void *f, const struct mo_record *r);

/* Any thread: events handed to the queue so far. */
uint64_t mo_findings_emitted(const struct mo_findings *f);

#endif
