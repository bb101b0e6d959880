/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * proctab.h - what user space knows of each process, one struct mo_proc
 * per pid in one table (hashed, O(1)), freed in one place.
 *
 * Threads: the worker is the only writer. It reads without the lock, and
 * changes what other threads read (the entry itself, comm, container,
 * alive, target) through the functions below, which take the lock. Other
 * threads read only through mo_proctab_describe and mo_proctab_targets_gone.
 */
#ifndef MO_CORE_PROCTAB_H
#define MO_CORE_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "container.h"
#include "k8snames.h"
#include "procrss.h"
#include "rsswatch.h"

struct mo_traces;

struct mo_proc {
	pid_t pid;

	/* a target: named by the user (or a followed child of one) */
	bool target;
	bool alive;		/* target not yet seen exiting */
	bool own_link;		/* its allocator probes are its own (per-pid link) */
	unsigned flags;		/* MO_PID_* */
	char *exe;		/* a command not yet exec'd: its program */

	char comm[64];		/* "" until known */
	/* its statistics when it got its name (exec): the counts before are
	 * its former name's, so per-name counters never go backwards */
	uint64_t base_allocs;
	uint64_t base_frees;
	bool exit_pending;	/* exit seen, its reclaim not done yet */

	bool container_known;
	struct mo_container c;

	/* memory limit and OOM prediction */
	bool limit_known;
	uint64_t limit;		/* the limit that applies, bytes */
	char memdir[512];	/* cgroup directory holding it, "" = MemTotal */
	uint64_t last_oom_ns;

	/* resident memory */
	uint64_t rss_checked_ns;	/* last /proc read, CLOCK_BOOTTIME */
	struct mo_proc_rss proc_rss;	/* what it said */
	struct mo_rss_series *rss;	/* the process's RSS, NULL until sampled */
	struct mo_rss_series *cgrss;	/* usage of the cgroup that limits it */

	/* symbolized stacks and their histories (stacks.c), NULL until used */
	struct mo_traces *traces;
	/* names of its JIT code (stacks.c), NULL until a frame needs them */
	struct mo_perfmap *jit;
	uint64_t jit_read_ns;	/* when the perf map was last read */
	bool jit_lost;		/* the parser process failed on it: not read again */
};

struct mo_proctab;

struct mo_proctab *mo_proctab_new(void);
void mo_proctab_free(struct mo_proctab *t);

/* The entry of pid, or NULL. Worker only. */
struct mo_proc *mo_proctab_find(struct mo_proctab *t, pid_t pid);

/* The entry of pid, created (empty) when missing; NULL on ENOMEM. */
struct mo_proc *mo_proctab_get(struct mo_proctab *t, pid_t pid);

/* Forget pid: its entry and everything it owns. */
void mo_proctab_remove(struct mo_proctab *t, pid_t pid);

/* Make pid a target (flags MO_PID_*); its name read from /proc when unknown. */
struct mo_proc *mo_proctab_add_target(struct mo_proctab *t, pid_t pid, unsigned flags);

/* Setters of what other threads read. */
void mo_proctab_set_comm(struct mo_proctab *t, struct mo_proc *p, const char *comm, size_t len);
void mo_proctab_set_alive(struct mo_proctab *t, struct mo_proc *p, bool alive);
void mo_proctab_set_exit_pending(struct mo_proctab *t, struct mo_proc *p, bool pending);

/*
 * The container pid runs in, read from /proc once while it lives; NULL when
 * unknown (the process is gone, or ENOMEM). A Kubernetes container's names
 * (c.k8s) are looked up until known, through the resolver if one is set;
 * once found they only gain the container name, never change.
 */
const struct mo_container *mo_proctab_container(struct mo_proctab *t, pid_t pid);

/* Resolve Kubernetes names with r (owned by the table from now on; NULL:
 * none). Before any lookup. */
void mo_proctab_set_k8snames(struct mo_proctab *t, struct mo_k8snames *r);

/* Any thread: the resolver's counts (zero without one). */
void mo_proctab_k8snames_stats(struct mo_proctab *t, struct mo_k8snames_stats *out);

/* Read /proc/PID/comm (raw, without its final newline) into buf. */
void mo_read_comm(pid_t pid, char *buf, size_t len);

/* Every target pid (the worker iterates these). *out is malloc'ed. */
int mo_proctab_targets(struct mo_proctab *t, pid_t **out, size_t *n);
size_t mo_proctab_ntargets(struct mo_proctab *t);

/* Any thread: pid's name, container id, pod UID and Kubernetes names (""
 * when not known) and the counts its name starts from. */
struct mo_proc_view {
	char comm[64];
	char container_id[80];
	char pod_uid[37];
	struct mo_k8s_names k8s;
	uint64_t base_allocs;
	uint64_t base_frees;
};
void mo_proctab_describe(struct mo_proctab *t, pid_t pid, struct mo_proc_view *out);

/* pid took a new name (exec): its counts from now on are the new name's. */
void mo_proctab_set_base(struct mo_proctab *t, struct mo_proc *p, uint64_t allocs,
			 uint64_t frees);

/* Any thread: no target is alive and none waits for its exit's reclaim. */
bool mo_proctab_targets_gone(struct mo_proctab *t);

/* Entries held (tests, metrics of memobserver itself). */
size_t mo_proctab_size(struct mo_proctab *t);

#endif
