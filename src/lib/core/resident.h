/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * resident.h - resident memory: every observed process sampled once a
 * second (kmem:rss_stat, checked against /proc; or /proc alone), rss_growth
 * findings, and OOM prediction against the memory limit that applies.
 *
 * Owns: the RSS series of each process (in its process table entry), the
 * count of rss_growth findings per (command, severity) that the metrics
 * read (under its own lock), and its counters.
 */
#ifndef MO_CORE_RESIDENT_H
#define MO_CORE_RESIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mo_env;
struct mo_kernel;
struct mo_proctab;
struct mo_findings;
struct mo_resident;

struct mo_resident *mo_resident_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_findings *f,
				    bool from_proc);
void mo_resident_free(struct mo_resident *rs);

/* Once a second (does nothing when called sooner). */
void mo_resident_tick(struct mo_resident *rs, uint64_t now);

/* pid's resident bytes at its latest sample; 0 when it has none. */
uint64_t mo_resident_now(struct mo_resident *rs, pid_t pid);

/* Any thread. */
struct mo_resident_stats {
	bool from_proc;		/* no kmem:rss_stat: /proc is the only source */
	uint64_t checks_agreed;	/* rss_stat compared with /proc */
	uint64_t checks_disagreed;
	uint64_t proc_reads;	/* /proc/PID/status reads */
};
void mo_resident_stats(const struct mo_resident *rs, struct mo_resident_stats *out);

struct mo_rss_growth_metric;
/* rss_growth findings so far per (command, severity); *out is malloc'ed. */
int mo_resident_growth_counts(struct mo_resident *rs, struct mo_rss_growth_metric **out,
			      size_t *n);

#endif
