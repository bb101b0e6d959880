/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memobserver.h - public API of libmemobserver.
 *
 * An observer attaches eBPF probes to processes (by pid, to a command it is
 * told about, or system-wide), tracks their allocations, and produces events
 * and leak reports. The library never prints and never exits: problems are
 * reported through return codes (0 or -errno) and the log callback.
 *
 * Lifecycle (mirrors the seed's Go example):
 *   struct mo_config cfg; mo_config_init(&cfg);
 *   struct mo_observer *obs = mo_observer_new("memory", &cfg, log_cb, ctx);
 *   mo_observer_add_pid(obs, pid, 0);          (none: system-wide)
 *   mo_observer_start(obs);
 *   while (...) { struct mo_event *ev; mo_observer_read(obs, &ev, 1000); ...;
 *                 mo_event_free(ev); }
 *   mo_observer_stop(obs);
 *   struct mo_report *r = mo_observer_report(obs); ...; mo_report_free(r);
 *   mo_observer_free(obs);
 */
#ifndef MEMOBSERVER_H
#define MEMOBSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MO_VERSION "0.1.0"

enum mo_mode {
	MO_MODE_BALANCED = 0,	/* default: > 10 KB, unfreed > 30 s, RSS > 100 MB, large 1 GiB */
	MO_MODE_CONSERVATIVE,	/* > 100 KB, unfreed > 5 min, RSS > 500 MB, large 2 GiB */
	MO_MODE_AGGRESSIVE,	/* > 1 KB, unfreed > 10 s, RSS > 10 MB, large 256 MiB */
};

/*
 * The seed's Config, mapped to C. Thresholds left at 0 take the mode's value
 * (see mo_config_resolve); a non-zero value set by the caller overrides the
 * mode. To track every allocation regardless of mode set min_allocation_size
 * to 1.
 */
struct mo_config {
	char name[64];			/* observer name (default "memory") */
	uint32_t buffer_size;		/* event buffer capacity (default 10000) */
	uint64_t min_allocation_size;	/* bytes; 0 = mode (balanced: 10 KB) */
	uint64_t min_unfreed_age_ns;	/* 0 = mode (balanced: 30 s) */
	uint64_t rss_growth_threshold;	/* bytes; 0 = mode (balanced: 100 MB) */
	enum mo_mode mode;
	bool enable_ebpf;		/* default true; false: nothing to observe */
	uint64_t stack_dedup_window_ns;	/* default 5 s */
	uint32_t sampling_rate;		/* 1 = every allocation, N = 1 in N */

	/* Beyond the seed */
	uint32_t max_allocations;	/* allocation table entries (default 1,000,000) */
	uint32_t max_stacks;		/* distinct stacks (default 65536) */
	uint32_t max_stack_depth;	/* frames per stack, 1..32 (default 32) */
	uint64_t report_interval_ns;	/* leak analysis period (default 10 s) */
	uint32_t unwind_rows;		/* unwind table capacity (default 2,000,000) */
	uint64_t large_allocation_threshold; /* bytes; 0 = mode (balanced: 1 GiB) */
	uint32_t ring_buffer_size;	/* bytes of the kernel->user record ring (process,
					   mmap, large-allocation records); a power of two,
					   4 KiB to 1 GiB (default 4 MiB) */
	uint32_t max_overhead_bp;	/* overhead budget in hundredths of a percent of
					   each process's CPU time; 0 = none (default) */
};

/* Fill cfg with the documented defaults (balanced mode). */
void mo_config_init(struct mo_config *cfg);

/*
 * Compute the effective configuration: mode thresholds for fields left at 0.
 * Returns 0, or -EINVAL with *bad_field set to the name of the first invalid
 * field (a static string).
 */
int mo_config_resolve(const struct mo_config *cfg, struct mo_config *out,
		      const char **bad_field);

/* "conservative" | "balanced" | "aggressive" -> mode; -EINVAL otherwise. */
int mo_mode_parse(const char *s, enum mo_mode *mode);
const char *mo_mode_name(enum mo_mode mode);

/* Log levels for the callback. */
enum mo_log_level { MO_LOG_ERROR = 0, MO_LOG_WARN, MO_LOG_INFO, MO_LOG_DEBUG };
typedef void (*mo_log_fn)(enum mo_log_level level, const char *msg, void *ctx);

enum mo_event_type {
	MO_EVENT_MEMORY_PRESSURE = 0,	/* "memory_pressure": leak or pressure finding */
	MO_EVENT_KERNEL_FS,		/* "kernel_fs": mmap/munmap activity */
	MO_EVENT_KERNEL_PROCESS,	/* "kernel_process": process memory events */
};
const char *mo_event_type_name(enum mo_event_type type);

/* One symbolized frame. Strings are owned by the event/report. */
struct mo_frame {
	uint64_t address;	/* absolute address in the process */
	const char *symbol;	/* NULL if unknown */
	uint64_t offset;	/* address - symbol start */
	const char *module;	/* path of the mapped file, NULL if unknown */
	uint64_t module_offset;	/* address relative to the module's load base */
	const char *file;	/* source file, NULL without debug info */
	int line;		/* 0 if unknown */
	bool inlined;		/* this frame was inlined into the next one */
};

struct mo_stack_trace {
	uint64_t id;		/* stable within one run */
	size_t nframes;
	struct mo_frame *frames;
	uint32_t flags;		/* MO_STACK_* from abi: truncated, fp fallback */
};

/* Leak pattern classification (analysis). */
struct mo_event {
	enum mo_event_type type;
	const char *kind;	/* "leak", "mmap", "munmap", "exit", "exec", ... */
	const char *severity;	/* "info", "warning", "critical" or NULL */
	uint64_t timestamp_ns;	/* CLOCK_REALTIME */
	pid_t pid;
	char command[64];
	uint64_t cgroup_id;
	uint64_t size_bytes;	/* allocation / mapping size or total */
	uint64_t unfreed_bytes;
	uint64_t count;
	double age_seconds;
	uint64_t address;
	bool estimate;		/* true when scaled from sampling */
	bool final;		/* part of the final report */
	struct mo_stack_trace stack;

	/* container attribution ("" for host processes) */
	char container_id[65];
	char pod_uid[37];
	char cgroup[512];

	/* leak findings: the stack's history (docs/patterns.md) */
	const char *pattern;		/* "growing", "plateau", "churn", "fragmentation",
					   "unknown"; NULL when not classified */
	double growth_bytes_per_s;
	double confidence;
	bool rss_validated;		/* the process's RSS grew along with it */
	uint64_t repeats;		/* findings suppressed by the dedup window since
					   the previous report of this stack */

	/* rss_growth and oom_risk */
	uint64_t rss_bytes;
	uint64_t growth_bytes;		/* RSS growth over window_seconds */
	double window_seconds;
	double predicted_oom_seconds;	/* < 0: no prediction */
	uint64_t limit_bytes;
};

void mo_event_free(struct mo_event *ev);

/* One leaking stack in a report. */
struct mo_leak {
	pid_t pid;
	char command[64];
	char container_id[65];
	char pod_uid[37];
	const char *pattern;		/* as in struct mo_event */
	const char *severity;		/* "warning" (growing), "info" otherwise */
	double growth_bytes_per_s;
	double confidence;
	uint64_t unfreed_bytes;
	uint64_t count;
	uint64_t oldest_age_ns;
	uint64_t largest;
	uint64_t alloc_count;	/* allocations this stack made while observed (0: unknown) */
	uint64_t alloc_bytes;	/* their bytes */
	bool estimate;
	struct mo_stack_trace stack;
};

/* Counters of what was seen and what was dropped, by reason. */
struct mo_counters {
	uint64_t alloc_calls;
	uint64_t allocs_tracked;
	uint64_t frees_matched;
	uint64_t drop_alloc_table_full;
	uint64_t drop_stack_table_full;
	uint64_t drop_ringbuf_full;
	uint64_t drop_sampled;
	uint64_t drop_size_filtered;
	uint64_t drop_thread_table_full;
	uint64_t drop_event_buffer_full;
	uint64_t drop_stack_stats_full;	/* per-(process, stack) totals table full */
	uint64_t drop_unwind_maps_full;	/* a process's mappings did not fit the walker's
					   table: its frames fall back to frame pointers */
	uint64_t drop_targets_full;	/* forked children not followed: targets table full */
	uint64_t drop_proc_table_full;	/* processes whose statistics found no room */
	uint64_t drop_proc_maps_full;	/* walker mapping caches not stored (table full) */
	uint64_t drop_rss_table_full;	/* processes whose resident memory found no room */
	uint64_t drop_mmap_ranges_full;	/* tracked mappings not indexed by range: only an
					   munmap at their start finds them */
	uint64_t drop_mremap_unhandled;	/* mremaps over several tracked mappings: those
					   count as unmapped, the result is untracked */
	uint64_t allocator_internal_mmaps;
	uint64_t runtime_mmaps;
	uint64_t nested_calls;
	uint64_t unwind_fallbacks;
	uint64_t events_emitted;
	uint64_t short_lived_exits;	/* system-wide: exits younger than the age rule,
					   not reported */
	uint64_t probes_attached;
	uint64_t processes_tracked;
	uint64_t rss_checks_agreed;	/* rss_stat's RSS compared with /proc: */
	uint64_t rss_checks_disagreed;	/* beyond 1 MiB and 5 %: /proc was used */
	uint64_t rss_proc_reads;	/* /proc/PID/status reads */
	bool rss_from_proc;		/* no kmem:rss_stat: /proc is the only source */
	/* overhead budget (--max-overhead); fractions of the process's own work */
	double overhead_budget;		/* 0: none */
	double overhead_estimated;	/* probe cost at full attachment, worst process */
	double overhead_expected;	/* the same at the duty cycle in force */
	double overhead_duty;		/* share of time allocating probes are attached */
	uint64_t shed_ns;		/* time allocating probes were detached */
	uint64_t shed_allocs_estimated;	/* allocating calls estimated unseen meanwhile */
	uint64_t shed_unattainable;	/* decisions where frees alone exceeded the budget */
	uint64_t shed_switches;		/* detaches and re-attaches */
	uint64_t stale_calls;		/* allocating calls whose return probe was detached */
	uint64_t unattributed_blocks;	/* unfreed blocks with no stack (stack table was
					   full): not reported as leaks */
	uint64_t pids_reused;		/* exited processes whose pid was already reused
					   when reclaimed (their blocks were still told apart) */
	uint64_t exits_recovered;	/* exits found by pid after their record was lost */
	uint64_t stale_recovered;	/* blocks of an old program image dropped after its
					   exec record was lost */
};

struct mo_report {
	uint64_t timestamp_ns;		/* CLOCK_REALTIME */
	uint64_t min_unfreed_age_ns;	/* the age rule applied */
	size_t nleaks;
	struct mo_leak *leaks;		/* most unfreed bytes first */
	uint64_t total_unfreed_bytes;	/* over the leaks listed */
	uint64_t total_count;
	uint64_t outstanding_bytes;	/* every tracked allocation, any age */
	uint64_t outstanding_count;
	bool estimate;
	struct mo_counters counters;
};

void mo_report_free(struct mo_report *r);

struct mo_observer;

/* Create an observer. cfg is validated (errno = EINVAL on a bad field, with
 * the field named through the log callback). */
struct mo_observer *mo_observer_new(const char *name, const struct mo_config *cfg,
				    mo_log_fn log, void *log_ctx);

#define MO_PID_FOLLOW_CHILDREN (1u << 0)
/* Observe pid (repeatable). With none, the observer is system-wide. May be
 * called before or after start. Returns 0 or -errno (-ESRCH: no such pid). */
int mo_observer_add_pid(struct mo_observer *obs, pid_t pid, unsigned flags);

/*
 * Observe a command that the caller has forked but not yet exec'd (it waits
 * for the caller's go): pid is the child, exe the resolved path of the
 * program it will exec. Follows its children through fork and exec. Unwind
 * data for exe and its libraries is loaded before start returns, so the
 * command's first allocations already have whole stacks.
 */
int mo_observer_add_command(struct mo_observer *obs, pid_t pid, const char *exe);

/*
 * Force the allocator module to probe (lib, NULL: discover it per process)
 * and the prefix of its C API (prefix, e.g. "je_" for a jemalloc built with
 * --with-jemalloc-prefix; NULL: none). Before start only.
 */
int mo_observer_set_allocator(struct mo_observer *obs, const char *lib, const char *prefix);

/*
 * Observe only processes in this cgroup v2 (and its descendants), decided in
 * the kernel by cgroup id (the cgroup directory's inode number). Combined
 * with no pid: every process of that cgroup. Before start only.
 */
int mo_observer_set_cgroup(struct mo_observer *obs, uint64_t cgroup_id);

/*
 * The same for a cgroup of a cgroup v1 hierarchy: subsys_id is the kernel's
 * index of a controller bound to that hierarchy (its line, from 0, in
 * /proc/cgroups), cgroup_id the directory's inode number. -EINVAL when
 * subsys_id is out of range. Before start only.
 */
int mo_observer_set_cgroup_v1(struct mo_observer *obs, uint64_t cgroup_id, int subsys_id);

/* Load and attach the probes and start the worker thread. */
int mo_observer_start(struct mo_observer *obs);

/*
 * Read the next event, waiting up to timeout_ms (-1: forever, 0: poll).
 * Returns 1 with *ev set (free with mo_event_free), 0 on timeout, -errno on
 * error, -EPIPE once the observer is stopped and the buffer is drained.
 */
int mo_observer_read(struct mo_observer *obs, struct mo_event **ev, int timeout_ms);

/* A file descriptor that becomes readable when events are pending. */
int mo_observer_fd(const struct mo_observer *obs);

/* Current leak report (may be called while running or after stop). */
struct mo_report *mo_observer_report(struct mo_observer *obs);

/* Counters right now. */
void mo_observer_counters(struct mo_observer *obs, struct mo_counters *out);

/*
 * The Prometheus text exposition of the observer's state right now (the
 * seed's memory_* families plus memobserver_* health). *text is malloc'ed
 * and NUL-terminated. 0 or -errno.
 */
int mo_observer_metrics(struct mo_observer *obs, char **text, size_t *len);

/*
 * The caller failed to write n more pieces of its output (a full disk, a
 * closed pipe). Only counted, and exported by mo_observer_metrics as
 * memobserver_output_write_errors_total; safe from any thread.
 */
void mo_observer_note_output_errors(struct mo_observer *obs, uint64_t n);

/* True once every observed pid has exited (never for system-wide). */
bool mo_observer_targets_gone(struct mo_observer *obs);

/* Detach all probes, stop the worker. Idempotent. */
int mo_observer_stop(struct mo_observer *obs);

/* Free; accepts NULL; stops first if needed. */
void mo_observer_free(struct mo_observer *obs);

#ifdef __cplusplus
}
#endif
#endif /* MEMOBSERVER_H */
