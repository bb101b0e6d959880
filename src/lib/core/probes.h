/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probes.h - which allocator module each process gets probes in (attach.c
 * places them): the targets' at start, every process's system-wide, the
 * new program's after an exec, a followed child's own; and the overhead
 * budget that detaches the allocating probes part of the time.
 *
 * Owns: the links, the shedder. The worker changes them; other threads
 * read only the published figures (mo_probes_shed_stats, mo_probes_count).
 */
#ifndef MO_CORE_PROBES_H
#define MO_CORE_PROBES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shed.h"

struct mo_env;
struct mo_bpf;
struct mo_probes;

/* lib, prefix: forced allocator module and symbol prefix (NULL: none);
 * bpf NULL: nothing can be attached (tests). */
struct mo_probes *mo_probes_new(const struct mo_env *env, struct mo_bpf *bpf, const char *lib,
				const char *prefix);
void mo_probes_free(struct mo_probes *pr);	/* detaches everything */

/* Start: the allocator of each target (exe: its program, for a command not
 * yet exec'd; own: a per-pid link). 0 or -errno, with the reason logged. */
int mo_probes_attach_target(struct mo_probes *pr, pid_t pid, const char *exe, bool own);

/* Start, system-wide: the forced allocator file (--allocator-lib), for
 * every process: 1 attached, 0 none forced, -errno. */
int mo_probes_attach_forced(struct mo_probes *pr);

/* The user forced the allocator module: no per-process discovery. */
bool mo_probes_forced(const struct mo_probes *pr);

/* A process's allocator module, for every process (pid 0 links): 1 attached,
 * 0 already, -errno. */
int mo_probes_attach_shared(struct mo_probes *pr, pid_t pid);

/* A followed child's (or an exec'd target's) own per-pid link. */
void mo_probes_attach_own(struct mo_probes *pr, pid_t pid);

/*
 * An escalation: pid's allocator, for pid only, whatever the tier. The
 * number of functions probed (0: already), or -errno; why says what was
 * done or why not, for an event.
 */
int mo_probes_attach_pid(struct mo_probes *pr, pid_t pid, char *why, size_t whylen);
/* Could pid be escalated at all (an allocator found, probes available)? 0,
 * or -errno with why set as mo_probes_attach_pid sets it. */
int mo_probes_can_attach_pid(struct mo_probes *pr, pid_t pid, char *why, size_t whylen);
void mo_probes_detach_pid(struct mo_probes *pr, pid_t pid);

/* The overhead budget: start it (measures the probe-hit cost), tick it. */
int mo_probes_budget_start(struct mo_probes *pr);
void mo_probes_tick(struct mo_probes *pr, uint64_t now);

/* Detach every allocator probe (the budget's figures stay readable). */
void mo_probes_detach(struct mo_probes *pr);

/* Any thread: the budget's figures, live or as it left them. */
void mo_probes_shed_stats(struct mo_probes *pr, struct mo_shed_stats *st);
bool mo_probes_shed_happened(struct mo_probes *pr);

/* Any thread: functions probed, attach failures. */
uint64_t mo_probes_count(struct mo_probes *pr);
uint64_t mo_probes_failures(struct mo_probes *pr);
/* Processes running memobserver's own executable whose allocator was not
 * probed for every process. */
uint64_t mo_probes_own_exe_skipped(struct mo_probes *pr);

#endif
