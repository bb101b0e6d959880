/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * observer_int.h - the observer's internals, shared by observer.c and its
 * obs_*.c siblings (and included by nothing else): struct mo_observer, the
 * per-process state it keeps, and the obs_ functions one file defines for
 * the others. The only header that includes the skeleton.
 *
 * Threads: the worker thread and API callers share everything under
 * o->lock; the event queue has its own lock.
 */
#ifndef MO_OBSERVER_INT_H
#define MO_OBSERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "memobserver.h"
#include "abi.h"
#include "analysis.h"
#include "attach.h"
#include "memobserver.skel.h"
#include "container.h"
#include "procrss.h"
#include "shed.h"

#define NSEC 1000000000ULL

struct pidinfo {
	pid_t pid;
	unsigned flags;
	bool alive;
	bool own_link;		/* attached with a per-pid link */
	char *exe;		/* command not yet exec'd: its program */
	char comm[64];
};

/* Totals of exited processes, so per-name counters never go backwards. */
struct retired {
	char command[64];
	char container_id[65];
	uint64_t allocations;
	uint64_t deallocations;
	uint64_t largest;
};

/* Per-process state for container attribution and OOM prediction. */
struct procextra {
	pid_t pid;
	bool container_known;
	struct mo_container c;
	bool limit_known;
	uint64_t limit;		/* memory limit that applies, bytes */
	char memdir[512];	/* cgroup directory holding the limit, "" = MemTotal */
	uint64_t last_oom_ns;
	char comm[17];		/* from its exit record: /proc has gone by the report */
	uint64_t rss_checked_ns;	/* last /proc read, CLOCK_BOOTTIME */
	struct mo_proc_rss proc;	/* what it said */
};

struct rssmetric {
	char command[64];
	const char *severity;
	uint64_t count;
};

struct reclaim {
	uint32_t pid;
	uint64_t ts_ns;
	bool exec;
	uint32_t gen;	/* the process instance the record is about */
};

struct mo_observer {
	struct mo_config cfg;
	mo_log_fn log;
	void *log_ctx;

	struct memobserver_bpf *skel;
	bool session;
	bool heap_probes;	/* false: conservative mode, syscalls only */
	uint64_t target_cgroup;	/* only processes in this cgroup, 0 = any */
	int target_v1_ssid;	/* its v1 hierarchy's controller index, -1: v2 */
	char *allocator_lib;	/* forced allocator module, or NULL: discover */
	char *symbol_prefix;	/* prefix of the allocator's C API, or NULL */
	struct mo_links links;
	struct mo_attach_progs progs;
	struct ring_buffer *rb;
	struct mo_modules *mods;

	struct pidinfo *pids;
	size_t npids, cappids;
	bool system_wide;

	struct mo_queue *q;
	struct mo_symbolizer *sym;
	struct mo_traces *traces;

	pthread_t worker;
	bool worker_running;
	bool started, stopped;
	int stop_efd;
	int timer_fd;
	pthread_mutex_t lock;

	int64_t boot_to_real_ns;
	uint64_t last_maint_ns;

	struct reclaim *pending;
	size_t npending, cappending;

	struct mo_record *deferred;	/* records whose handling may be slow */
	size_t ndeferred, capdeferred;

	struct mo_leak *exit_leaks;
	size_t nexit, capexit;

	struct retired *retired;
	size_t nretired, capretired;

	struct mo_rsswatch *rssw;	/* process RSS */
	struct mo_rsswatch *cgw;	/* usage of cgroups with a limit, for OOM prediction */
	uint64_t last_rss_ns;
	uint64_t last_rss_scan_ns;
	bool rss_from_proc;		/* no kmem:rss_stat: /proc is the only source */
	uint64_t rss_checks[2];		/* cross-checks with /proc: agreed, disagreed */
	uint64_t rss_proc_reads;
	struct procextra *extra;
	size_t nextra, capextra;
	struct rssmetric *rssm;
	size_t nrssm, caprssm;
	uint64_t start_realtime_s;

	uint64_t events_emitted;
	uint64_t short_lived_exits;
	uint64_t runtime_skipped;
	size_t probes;
	uint64_t dedup_suppressed;
	uint64_t attach_failures;
	struct mo_shedder *shed;	/* overhead budget, or NULL */
	struct mo_shed_stats shed_final;	/* its figures once stopped */
	uint64_t output_write_errors;	/* the caller's, atomic: any thread adds */
	uint64_t pids_reused;		/* exits reclaimed after a new process took the pid */
	bool stopping;			/* atomic: the worker must finish its iteration fast */
	struct mo_stackgc *stackgc;
	uint64_t last_gc_ns;
	uint64_t stacks_deleted;
	uint64_t unattributed;		/* leaked blocks with no stack (table was full) */
	uint64_t ringbuf_drops_seen;	/* lost records already recovered from */
	uint64_t last_recover_ns;
	uint64_t last_loss_ns;		/* when lost records were last seen */
	uint64_t exits_recovered;	/* exits whose record was lost, found by pid */
	uint64_t stale_recovered;	/* blocks of an old image whose exec record was lost */
};

/* observer.c: logging, time, arrays */
void obs_log(struct mo_observer *o, enum mo_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t obs_clock_ns(clockid_t c);
int obs_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* obs_events.c: process info, events and leak findings */
struct pidinfo *obs_pid_find(struct mo_observer *o, pid_t pid);
struct pidinfo *obs_pid_add(struct mo_observer *o, pid_t pid, unsigned flags);
void obs_comm_of(struct mo_observer *o, pid_t pid, char *buf, size_t len);
struct procextra *obs_extra_of(struct mo_observer *o, pid_t pid);
void obs_extra_forget(struct mo_observer *o, pid_t pid);
const struct mo_container *obs_container_of(struct mo_observer *o, pid_t pid);
struct mo_event *obs_event_new(struct mo_observer *o, enum mo_event_type type,
			       const char *kind, pid_t pid, uint64_t boot_ts);
void obs_emit(struct mo_observer *o, struct mo_event *ev);
const struct mo_stack_trace *obs_trace_of(struct mo_observer *o, uint32_t pid, uint64_t id);
bool obs_no_stack(const struct mo_leak_group *g);
bool obs_runtime_group(struct mo_observer *o, const struct mo_leak_group *g);
void obs_shed_stats(const struct mo_observer *o, struct mo_shed_stats *st);
void obs_fill_leak(struct mo_observer *o, struct mo_leak *l, const struct mo_leak_group *g,
		   uint64_t now_boot);
struct mo_event *obs_leak_event(struct mo_observer *o, const struct mo_leak *l,
				const char *severity, bool final);

/* obs_snapshot.c: the kernel side's tables */
int obs_snapshot(struct mo_observer *o, struct mo_alloc_rec **out, size_t *n);
uint64_t obs_counter_value(struct mo_observer *o, __u32 k);

/* obs_reclaim.c: reclaim of exited and exec'd processes, stack GC */
void obs_stacks_gc(struct mo_observer *o, uint64_t now);
bool obs_stopping(const struct mo_observer *o);
int obs_add_pending(struct mo_observer *o, const struct mo_record *r, bool exec);
void obs_maintenance(struct mo_observer *o);
bool obs_pending_exit(const struct mo_observer *o, uint32_t pid);

/* obs_analysis.c: periodic analysis */
void obs_periodic(struct mo_observer *o);

/* obs_rss.c: resident memory */
void obs_rss_tick(struct mo_observer *o);

/* obs_records.c: ring-buffer records, lost-record recovery */
int obs_handle_record(void *ctx, void *data, size_t size);
void obs_consume_records(struct mo_observer *o);
void obs_recover_lost_records(struct mo_observer *o, uint64_t now);

/* obs_attach.c: allocator probes */
int obs_attach_new_allocator(struct mo_observer *o, pid_t pid);
void obs_attach_child(struct mo_observer *o, pid_t child);
int obs_attach_system_wide(struct mo_observer *o);
/* One warning naming the files of traced processes that were not read
 * (src/lib/safefile.h), if any. */
void obs_log_refused_files(struct mo_observer *o);
int obs_attach_targets(struct mo_observer *o);

#endif
