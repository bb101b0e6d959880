/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * escalate.h - precise on demand: a process the watch tier found growing
 * gets its allocator probed, for that process only (a pid-filtered link),
 * for a bounded window; then the leak sites it holds are reported as
 * precise findings and the probes go again.
 *
 * Owns: the escalations in progress and recently done (bounded), its
 * counters. Worker thread only (counters: any thread).
 */
#ifndef MO_CORE_ESCALATE_H
#define MO_CORE_ESCALATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_stacks;
struct mo_findings;
struct mo_probes;
struct mo_escalate;

struct mo_escalate *mo_escalate_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_stacks *st,
				    struct mo_findings *f, struct mo_probes *pr);
void mo_escalate_free(struct mo_escalate *es);

/*
 * Escalate pid (why: what the watch tier saw, for the event). Nothing when
 * it is escalated already, was lately, or too many are; an escalation that
 * cannot attach is an event with the reason. 1 started, 0 not, -errno.
 */
int mo_escalate_request(struct mo_escalate *es, pid_t pid, const char *why);

/* Every maintenance pass: windows that ended are reported and closed. */
void mo_escalate_tick(struct mo_escalate *es, uint64_t now);

/* Is pid escalated now? */
bool mo_escalate_active(const struct mo_escalate *es, pid_t pid);

/* Close every escalation (the stop): reported, probes detached. */
void mo_escalate_finish(struct mo_escalate *es);

/* Any thread. */
struct mo_escalate_stats {
	uint64_t started;
	uint64_t failed;	/* could not attach: an event said why */
	uint64_t skipped;	/* not started: too many at once, or done lately */
	uint64_t sites;		/* precise leak sites reported */
};
void mo_escalate_stats(const struct mo_escalate *es, struct mo_escalate_stats *out);

#endif
