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

/*
 * How allocations are seen. The watch tier places no allocator probe: it
 * follows RSS, the mmap family and the stacks that fault anonymous memory
 * in, and escalates a process that grows to the precise tier for a while.
 * The precise tier probes the allocator of every process it observes.
 */
enum mo_tier {
	MO_TIER_AUTO = 0,	/* watch system-wide, precise for pids, commands
				   and a container or cgroup */
	MO_TIER_WATCH,
	MO_TIER_PRECISE,
};

enum mo_mode {
	MO_MODE_BALANCED = 0,	/* default: > 10 KB, unfreed > 30 s, RSS > 100 MB, large 1 GiB */
	MO_MODE_CONSERVATIVE,	/* > 100 KB, unfreed > 5 min, RSS > 500 MB, large 2 GiB */
	MO_MODE_AGGRESSIVE,	/* > 1 KB, unfreed > 10 s, RSS > 10 MB, large 256 MiB */
};

/*
 * Reachability scans (docs/reachability.md): whether a tracked block is still
 * pointed to. stop: the process is stopped while its memory is read (capped
 * pause, registers seen); live: two passes, nothing stopped.
 */
enum mo_scan_mode {
	MO_SCAN_STOP = 0,
	MO_SCAN_LIVE,
};

/* "stop" | "live" -> mode; -EINVAL otherwise. */
int mo_scan_mode_parse(const char *s, enum mo_scan_mode *mode);
const char *mo_scan_mode_name(enum mo_scan_mode mode);

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
	bool session_uprobes;		/* session uprobes where the kernel has them
					   (6.13+); false: uprobe+uretprobe pairs
					   (default true) */
	bool rss_stat;			/* kmem:rss_stat where the kernel has it; false:
					   RSS from /proc only (default true) */
	enum mo_tier tier;		/* default MO_TIER_AUTO */
	bool escalate;			/* watch tier: a process found growing gets its
					   allocator probed for a while (default true) */
	uint64_t escalate_window_ns;	/* how long (default 60 s) */
	uint32_t max_escalations;	/* processes escalated at once (default 2) */
	bool privsep;			/* read traced processes' ELF and DWARF in a
					   confined child process (docs/privileges.md);
					   the program must serve MO_PRIVSEP_CHILD_ARG
					   as the memobserver command does (default
					   false; the command's default is true) */
	uint64_t sample_bytes;		/* byte sampling: one sample point per this many
					   bytes allocated on average (Poisson), each
					   sampled block weighted by what it stands for;
					   0 = off (default). Excludes sampling_rate > 1. */
	char k8s_log_dir[256];		/* the kubelet's log directory, where Kubernetes
					   names are read from the names of its entries
					   (default "/var/log"; "" = off) */
	bool scan;			/* reachability scans of the tracked heap
					   blocks at the end of the run, at exit
					   and of stacks that stopped growing
					   (default false; docs/reachability.md) */
	enum mo_scan_mode scan_mode;	/* of every scan, asked ones too (stop) */
	uint64_t scan_max_pause_ns;	/* stop mode: cap on a process's pause
					   (default 200 ms) */
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

/* "auto" | "watch" | "precise" -> tier; -EINVAL otherwise. */
int mo_tier_parse(const char *s, enum mo_tier *tier);
const char *mo_tier_name(enum mo_tier tier);

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
	const char *symbol;	/* NULL if unknown; C++ and Rust names demangled */
	const char *linkage_name; /* the name in the object file when symbol is its
				     demangled form ("_Z3fooi"), else NULL */
	uint64_t offset;	/* address - symbol start */
	const char *module;	/* path of the mapped file, NULL if unknown */
	const char *build_id;	/* the module's GNU build id (hex) as read when the
				   frame was symbolized; NULL when it has none */
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

/*
 * A stack's blocks as the last reachability scan of its process found them
 * (docs/reachability.md). verdict NULL: never scanned.
 */
struct mo_reachability {
	const char *verdict;		/* "definitely_lost" (some block lost, no other
					   points to it), "indirectly_lost" (lost, only
					   lost blocks point to it), "reachable" (every
					   block), "unknown" */
	const char *reason;		/* unknown: why ("no_permission", "already_traced",
					   "process_gone", "pause_cap", ...); else NULL */
	const char *mode;		/* "stop" or "live" */
	uint64_t definitely_lost_bytes;
	uint64_t indirectly_lost_bytes;
	uint64_t reachable_bytes;
	uint64_t unknown_bytes;
	uint64_t blocks;		/* blocks of the stack the scan classified */
	double age_seconds;		/* since the scan */
	uint64_t scan_pause_ns;		/* scan events: the process's pause */
	uint64_t scan_cpu_ns;		/* scan events: memobserver's CPU for the scan */
	uint64_t scan_bytes;		/* scan events: memory read and scanned */
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
	/* Kubernetes names from the kubelet's log layout ("" when not known) */
	char k8s_namespace[64];
	char k8s_pod[254];
	char k8s_container[64];

	/* leak findings: the stack's history (docs/patterns.md) */
	const char *pattern;		/* "growing", "plateau", "churn", "fragmentation",
					   "unknown"; NULL when not classified */
	double growth_bytes_per_s;
	double confidence;
	bool rss_validated;		/* the process's RSS grew along with it */
	uint64_t repeats;		/* findings suppressed by the dedup window since
					   the previous report of this stack */

	const char *tier;		/* leak findings: "watch" (found from RSS growth by
					   stack) or "precise" (allocator probes); NULL else */
	char detail[160];		/* escalation and scan events: what happened */
	struct mo_reachability reach;	/* leak findings and scan events */

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
	char k8s_namespace[64];		/* as in struct mo_event */
	char k8s_pod[254];
	char k8s_container[64];
	const char *kind;		/* "leak", or "plateau" for a plateau every block
					   of which a scan found reachable */
	const char *pattern;		/* as in struct mo_event */
	const char *severity;		/* "warning" (growing, or a block lost), "info"
					   otherwise */
	double growth_bytes_per_s;
	double confidence;
	uint64_t unfreed_bytes;
	uint64_t count;
	uint64_t oldest_age_ns;
	uint64_t largest;
	const char *tier;		/* "watch" or "precise", as in struct mo_event */
	uint64_t alloc_count;	/* allocations this stack made while observed (0: unknown) */
	uint64_t alloc_bytes;	/* their bytes */
	bool estimate;
	struct mo_stack_trace stack;
	struct mo_reachability reach;	/* as in struct mo_event */
};

/*
 * Every counter, once: X(field, kind, family, label, json_key, help).
 *   kind     MO_CK_COUNTER or MO_CK_GAUGE: a Prometheus family of its own;
 *            MO_CK_DROP: memobserver_dropped_events_total{reason=label},
 *            something observed and lost (a table or buffer was full);
 *            MO_CK_FILTER: memory_filtered_events_total{reason=label},
 *            left out on purpose (a filter, sampling, dedup).
 *   family   the Prometheus family (rows of one family are adjacent)
 *   label    its label pairs "key=value[,key=value]", or NULL for a
 *            scalar family (trusted literals: rendered as they are)
 *   json_key the key in the JSON summary ("drops" and "filtered" objects
 *            for drops and filters), or NULL when not there
 *   help     the family's help text
 * Rows are in output order. struct mo_counters has one uint64_t per row;
 * enum mo_counter_id numbers them (MO_CTR_<field>). The OTLP metrics
 * (docs/otlp.md) are made from the same rows.
 */
#define MO_CK_COUNTER 0
#define MO_CK_GAUGE 1
#define MO_CK_DROP 2
#define MO_CK_FILTER 3

#define MO_DROP_HELP "Events lost because a table or buffer was full, by reason."
#define MO_FILTER_HELP "Allocator events deliberately not tracked or not reported, by filter reason."
#define MO_PARSER_HELP                                                                     \
	"Confined parser processes ended, by reason: died (a crash, the seccomp filter, a "     \
	"kill), timeout (no answer in 30 s), protocol (a malformed message)."
#define MO_UNWIND_CUT_HELP                                                                 \
	"Stacks stopped short, marked partial, by reason: rows_pending (a file whose unwind "  \
	"rows are still being compiled), not_code (a return address outside executable "      \
	"memory), guess_rejected (a frame-pointer guess that does not follow a call), vma_busy " \
	"(a mapping not looked up in that walk: learned at a later one)."
#define MO_DROPPED "memobserver_dropped_events_total"
#define MO_FILTERED "memory_filtered_events_total"
/*
 * The OTLP exporter's rows (src/cli/otlp_export.c), made from two lists:
 * the signals it sends, and why it gives a request up:
 *   queue_full   the send queue was full when the request was handed over
 *   send_failed  retries exhausted, a 5xx that must not be retried, or the
 *                request could not be encoded
 *   rejected     a 4xx other than 429: the request itself is refused
 *   shutdown     still queued or in flight at the stop deadline
 * S(X, signal) and R(X, signal, reason) are called once per item.
 */
#define MO_OTLP_SIGNALS(S, X) S(X, metrics) S(X, logs)
#define MO_OTLP_DROP_REASONS(R, X, sig)                                                         \
	R(X, sig, queue_full) R(X, sig, send_failed) R(X, sig, rejected) R(X, sig, shutdown)

#define MO_OTLP_ROW_SENT(X, sig)                                                                \
	X(otlp_##sig##_sent, MO_CK_COUNTER, "memobserver_otlp_requests_sent_total",             \
	  "signal=" #sig, NULL, "OTLP requests the collector accepted, by signal.")
#define MO_OTLP_ROW_FAILURES(X, sig)                                                            \
	X(otlp_##sig##_failures, MO_CK_COUNTER, "memobserver_otlp_request_failures_total",      \
	  "signal=" #sig, NULL,                                                                 \
	  "OTLP send attempts that failed (connection error, timeout, error status), by "       \
	  "signal.")
#define MO_OTLP_ROW_RETRIES(X, sig)                                                             \
	X(otlp_##sig##_retries, MO_CK_COUNTER, "memobserver_otlp_retries_total", "signal=" #sig, \
	  NULL, "OTLP send attempts after the first, by signal.")
#define MO_OTLP_ROW_DROP(X, sig, reason)                                                        \
	X(otlp_##sig##_##reason, MO_CK_COUNTER, "memobserver_otlp_requests_dropped_total",      \
	  "signal=" #sig ",reason=" #reason, NULL, "OTLP requests given up, by signal and reason.")
#define MO_OTLP_ROWS_DROP(X, sig) MO_OTLP_DROP_REASONS(MO_OTLP_ROW_DROP, X, sig)

#define MO_COUNTERS(X)                                                                           \
	X(allocs_tracked, MO_CK_COUNTER, "memobserver_allocations_tracked_total", NULL,           \
	  "allocations_tracked", "Allocations (and mappings) entered in the allocation table.")   \
	X(frees_matched, MO_CK_COUNTER, "memobserver_deallocations_tracked_total", NULL,          \
	  "deallocations_tracked", "Frees (and unmaps) that matched a tracked allocation.")       \
	X(alloc_calls, MO_CK_COUNTER, "memobserver_allocator_calls_total", NULL,                  \
	  "allocator_calls", "Allocator calls seen in observed processes, tracked or not.")       \
	X(probes_attached, MO_CK_GAUGE, "memobserver_probes_attached", NULL, "probes_attached",  \
	  "Probes (uprobes and tracepoints) attached.")                                           \
	X(events_emitted, MO_CK_COUNTER, "memobserver_events_emitted_total", NULL,                \
	  "events_emitted", "Events delivered to the output.")                                    \
	X(processes_tracked, MO_CK_GAUGE, "memobserver_processes_tracked", NULL, NULL,            \
	  "Live processes being observed.")                                                       \
	X(drop_alloc_table_full, MO_CK_DROP, MO_DROPPED, "reason=allocation_table_full",          \
	  "allocation_table_full", MO_DROP_HELP)                                                  \
	X(drop_stack_table_full, MO_CK_DROP, MO_DROPPED, "reason=stack_table_full",               \
	  "stack_table_full_or_collided", MO_DROP_HELP)                                           \
	X(drop_ringbuf_full, MO_CK_DROP, MO_DROPPED, "reason=ring_buffer_full",                   \
	  "ring_buffer_full", MO_DROP_HELP)                                                       \
	X(drop_thread_table_full, MO_CK_DROP, MO_DROPPED, "reason=thread_table_full",             \
	  "thread_table_full", MO_DROP_HELP)                                                      \
	X(drop_event_buffer_full, MO_CK_DROP, MO_DROPPED, "reason=event_buffer_full",             \
	  "event_buffer_full", MO_DROP_HELP)                                                      \
	X(drop_stack_stats_full, MO_CK_DROP, MO_DROPPED, "reason=stack_totals_table_full",        \
	  "stack_totals_table_full", MO_DROP_HELP)                                                \
	X(drop_unwind_maps_full, MO_CK_DROP, MO_DROPPED, "reason=unwind_maps_full",               \
	  "unwind_maps_full", MO_DROP_HELP)                                                       \
	X(drop_exit_leaks, MO_CK_DROP, MO_DROPPED, "reason=exit_findings_full", "exit_findings_full", \
	  MO_DROP_HELP)                                                                           \
	X(drop_targets_full, MO_CK_DROP, MO_DROPPED, "reason=targets_table_full",                 \
	  "targets_table_full", MO_DROP_HELP)                                                     \
	X(drop_proc_table_full, MO_CK_DROP, MO_DROPPED, "reason=process_table_full",              \
	  "process_table_full", MO_DROP_HELP)                                                     \
	X(drop_proc_maps_full, MO_CK_DROP, MO_DROPPED, "reason=process_maps_table_full",          \
	  "process_maps_table_full", MO_DROP_HELP)                                                \
	X(drop_rss_table_full, MO_CK_DROP, MO_DROPPED, "reason=rss_table_full", "rss_table_full", \
	  MO_DROP_HELP)                                                                           \
	X(drop_mmap_ranges_full, MO_CK_DROP, MO_DROPPED, "reason=mmap_ranges_full",               \
	  "mmap_ranges_full", MO_DROP_HELP)                                                       \
	X(drop_mremap_unhandled, MO_CK_DROP, MO_DROPPED, "reason=mremap_unhandled",               \
	  "mremap_unhandled", MO_DROP_HELP)                                                       \
	X(drop_growth_full, MO_CK_DROP, MO_DROPPED, "reason=growth_table_full", "growth_table_full", \
	  MO_DROP_HELP)                                                                           \
	X(drop_growth_no_stack, MO_CK_DROP, MO_DROPPED, "reason=growth_without_stack",            \
	  "growth_without_stack", MO_DROP_HELP)                                                   \
	X(drop_k8s_names_full, MO_CK_DROP, MO_DROPPED, "reason=k8s_names_table_full",             \
	  "k8s_names_table_full", MO_DROP_HELP)                                                   \
	X(drop_unwind_rows_full, MO_CK_DROP, MO_DROPPED, "reason=unwind_rows_full",               \
	  "unwind_rows_full", MO_DROP_HELP)                                                       \
	X(drop_size_filtered, MO_CK_FILTER, MO_FILTERED, "reason=below_min_size", "below_min_size", \
	  MO_FILTER_HELP)                                                                         \
	X(drop_sampled, MO_CK_FILTER, MO_FILTERED, "reason=sampled_out", "sampled_out",           \
	  MO_FILTER_HELP)                                                                         \
	X(allocator_internal_mmaps, MO_CK_FILTER, MO_FILTERED, "reason=allocator_internal_mmap",  \
	  "allocator_internal_mmap", MO_FILTER_HELP)                                              \
	X(runtime_mmaps, MO_CK_FILTER, MO_FILTERED, "reason=runtime_mmap", "runtime_mmap",        \
	  MO_FILTER_HELP)                                                                         \
	X(nested_calls, MO_CK_FILTER, MO_FILTERED, "reason=nested_allocator_call",                \
	  "nested_allocator_call", MO_FILTER_HELP)                                                \
	X(dedup_suppressed, MO_CK_FILTER, MO_FILTERED, "reason=deduplicated", "deduplicated",     \
	  MO_FILTER_HELP)                                                                         \
	X(shed_allocs_estimated, MO_CK_FILTER, MO_FILTERED, "reason=overhead_budget",             \
	  "overhead_budget", MO_FILTER_HELP)                                                      \
	X(short_lived_exits, MO_CK_FILTER, MO_FILTERED, "reason=short_lived_exit",                \
	  "short_lived_exit", MO_FILTER_HELP)                                                     \
	X(growth_unbacked, MO_CK_FILTER, MO_FILTERED, "reason=growth_not_resident",               \
	  "growth_not_resident", MO_FILTER_HELP)                                                  \
	X(process_events_filtered, MO_CK_FILTER, MO_FILTERED, "reason=process_event",             \
	  "process_event", MO_FILTER_HELP)                                                        \
	X(own_executable_skipped, MO_CK_FILTER, MO_FILTERED, "reason=own_executable",             \
	  "own_executable", MO_FILTER_HELP)                                                       \
	X(growth_young, MO_CK_FILTER, MO_FILTERED, "reason=young_process", "young_process",       \
	  MO_FILTER_HELP)                                                                         \
	X(self_probe_hits, MO_CK_COUNTER, "memobserver_self_probe_hits_total", NULL,              \
	  "self_probe_hits",                                                                      \
	  "Allocator probes hit by memobserver's own process (0: it never traps on itself).")     \
	X(growth_samples, MO_CK_COUNTER, "memobserver_growth_samples_total", NULL,                \
	  "growth_samples",                                                                       \
	  "Watch tier: anonymous memory growth samples attributed to a stack.")                   \
	X(growth_findings, MO_CK_COUNTER, "memobserver_growth_findings_total", NULL,              \
	  "growth_findings", "Watch tier: stacks reported as growing with their process's RSS.")  \
	X(escalations_started, MO_CK_COUNTER, "memobserver_escalations_total", "result=started",  \
	  "escalations_started",                                                                  \
	  "Processes whose allocator the watch tier probed for a while, by result.")             \
	X(escalations_failed, MO_CK_COUNTER, "memobserver_escalations_total", "result=failed",    \
	  "escalations_failed",                                                                   \
	  "Processes whose allocator the watch tier probed for a while, by result.")             \
	X(escalations_skipped, MO_CK_COUNTER, "memobserver_escalations_total", "result=skipped",  \
	  "escalations_skipped",                                                                  \
	  "Processes whose allocator the watch tier probed for a while, by result.")             \
	X(escalation_sites, MO_CK_COUNTER, "memobserver_escalation_sites_total", NULL,            \
	  "escalation_sites", "Leak sites reported at the end of escalations.")                  \
	X(rss_checks_agreed, MO_CK_COUNTER, "memobserver_rss_crosschecks_total", "result=agreed", \
	  NULL, "Comparisons of rss_stat's resident memory with /proc, by result.")              \
	X(rss_checks_disagreed, MO_CK_COUNTER, "memobserver_rss_crosschecks_total",               \
	  "result=disagreed", NULL,                                                               \
	  "Comparisons of rss_stat's resident memory with /proc, by result.")                    \
	X(rss_proc_reads, MO_CK_COUNTER, "memobserver_rss_proc_reads_total", NULL, NULL,          \
	  "Reads of /proc/PID/status for resident memory.")                                       \
	X(shed_unattainable, MO_CK_COUNTER, "memobserver_overhead_budget_unattainable_total",     \
	  NULL, NULL, "Budget decisions where the free probes alone cost more than the budget.")  \
	X(shed_switches, MO_CK_COUNTER, "memobserver_probe_switches_total", NULL, NULL,           \
	  "Detaches and re-attaches of the allocating probes by the overhead budget.")            \
	X(stale_calls, MO_CK_COUNTER, "memobserver_stale_calls_total", NULL, NULL,                \
	  "Allocating calls in flight when their return probe was detached (not tracked).")       \
	X(unattributed_blocks, MO_CK_COUNTER, "memobserver_unattributed_blocks_total", NULL,      \
	  "unattributed_blocks",                                                                  \
	  "Unfreed blocks not reported because their stack could not be stored (stack table "     \
	  "full).")                                                                               \
	X(unwind_fallbacks, MO_CK_COUNTER, "memobserver_unwind_fallbacks_total", NULL,            \
	  "unwind_fallbacks",                                                                     \
	  "Stack frames unwound by frame-pointer guess because no unwind table covered them.")    \
	X(unwind_cut_rows_pending, MO_CK_COUNTER, "memobserver_unwind_cuts_total",                \
	  "reason=rows_pending", "unwind_cut_rows_pending", MO_UNWIND_CUT_HELP)                   \
	X(unwind_cut_not_code, MO_CK_COUNTER, "memobserver_unwind_cuts_total",                    \
	  "reason=not_code", "unwind_cut_not_code", MO_UNWIND_CUT_HELP)                           \
	X(unwind_cut_guess_rejected, MO_CK_COUNTER, "memobserver_unwind_cuts_total",              \
	  "reason=guess_rejected", "unwind_cut_guess_rejected", MO_UNWIND_CUT_HELP)               \
	X(unwind_cut_vma_busy, MO_CK_COUNTER, "memobserver_unwind_cuts_total",                    \
	  "reason=vma_busy", "unwind_cut_vma_busy", MO_UNWIND_CUT_HELP)                           \
	X(unwind_modules_loaded, MO_CK_COUNTER, "memobserver_unwind_modules_total",             \
	  "result=loaded", "unwind_modules_loaded",                                               \
	  "Executable files whose unwind rows the stack walker was given, by result.")            \
	X(unwind_modules_failed, MO_CK_COUNTER, "memobserver_unwind_modules_total",             \
	  "result=no_unwind_info", "unwind_modules_failed",                                       \
	  "Executable files whose unwind rows the stack walker was given, by result.")            \
	X(unwind_modules_refused, MO_CK_COUNTER, "memobserver_unwind_modules_total",            \
	  "result=refused", "unwind_modules_refused",                                             \
	  "Executable files whose unwind rows the stack walker was given, by result.")            \
	X(unwind_modules_evicted, MO_CK_COUNTER, "memobserver_unwind_modules_total",            \
	  "result=evicted", "unwind_modules_evicted",                                             \
	  "Executable files whose unwind rows the stack walker was given, by result.")            \
	X(unwind_rows_used, MO_CK_GAUGE, "memobserver_unwind_rows_used", NULL, "unwind_rows_used", \
	  "Rows of the stack walker's unwind table in use (of unwind_rows).")                     \
	X(pids_reused, MO_CK_COUNTER, "memobserver_pids_reused_total", NULL, "pids_reused",       \
	  "Exited processes whose pid a new process already had when they were reclaimed.")       \
	X(exits_recovered, MO_CK_COUNTER, "memobserver_exits_recovered_total", NULL,              \
	  "exits_recovered", "Process exits found by pid after their record was lost.")           \
	X(jit_frames_named, MO_CK_COUNTER, "memobserver_jit_frames_total", "result=named",         \
	  "jit_frames_named", "Frames in JIT code, named from the runtime's perf map or not.")    \
	X(jit_frames_unnamed, MO_CK_COUNTER, "memobserver_jit_frames_total", "result=unnamed",     \
	  "jit_frames_unnamed", "Frames in JIT code, named from the runtime's perf map or not.")  \
	X(perfmaps_skipped, MO_CK_COUNTER, "memobserver_perf_maps_skipped_total", NULL,           \
	  "perf_maps_skipped", "Perf maps not read: too big, or not a regular file.")            \
	X(perfmap_lines_malformed, MO_CK_COUNTER, "memobserver_perf_map_lines_malformed_total",    \
	  NULL, "perf_map_lines_malformed", "Lines of perf maps that did not parse (skipped).")  \
	X(files_not_regular, MO_CK_COUNTER, "memobserver_files_refused_total",                    \
	  "reason=not_regular_file", "files_not_regular",                                         \
	  "Files of traced processes not read, by reason (a FIFO or device in a library's "       \
	  "place, a file no longer the one mapped, too large, a symlink).")                      \
	X(files_replaced, MO_CK_COUNTER, "memobserver_files_refused_total", "reason=replaced",    \
	  "files_replaced",                                                                       \
	  "Files of traced processes not read, by reason (a FIFO or device in a library's "       \
	  "place, a file no longer the one mapped, too large, a symlink).")                      \
	X(files_too_large, MO_CK_COUNTER, "memobserver_files_refused_total", "reason=too_large",  \
	  "files_too_large",                                                                      \
	  "Files of traced processes not read, by reason (a FIFO or device in a library's "       \
	  "place, a file no longer the one mapped, too large, a symlink).")                      \
	X(files_symlinks, MO_CK_COUNTER, "memobserver_files_refused_total", "reason=symlink",     \
	  "files_symlinks",                                                                       \
	  "Files of traced processes not read, by reason (a FIFO or device in a library's "       \
	  "place, a file no longer the one mapped, too large, a symlink).")                      \
	X(k8s_log_scans, MO_CK_COUNTER, "memobserver_k8s_log_scans_total", NULL, "k8s_log_scans",    \
	  "Scans of the kubelet's log directories for Kubernetes names (at most one per 10 s, "  \
	  "on a lookup that missed).")                                                            \
	X(k8s_entries_bad_name, MO_CK_COUNTER, "memobserver_k8s_log_entries_ignored_total",       \
	  "reason=bad_name", "k8s_entries_bad_name",                                              \
	  "Entries of the kubelet's log directories not used for names, by reason, counted at "   \
	  "each scan.")                                                                           \
	X(k8s_entries_bad_type, MO_CK_COUNTER, "memobserver_k8s_log_entries_ignored_total",       \
	  "reason=bad_type", "k8s_entries_bad_type",                                              \
	  "Entries of the kubelet's log directories not used for names, by reason, counted at "   \
	  "each scan.")                                                                           \
	X(k8s_entries_mismatched, MO_CK_COUNTER, "memobserver_k8s_log_entries_ignored_total",     \
	  "reason=mismatch", "k8s_entries_mismatched",                                            \
	  "Entries of the kubelet's log directories not used for names, by reason, counted at "   \
	  "each scan.")                                                                           \
	X(stale_recovered, MO_CK_COUNTER, "memobserver_stale_blocks_recovered_total", NULL,       \
	  "stale_blocks_recovered",                                                               \
	  "Blocks of an old program image dropped after its exec record was lost.")              \
	X(parser_starts, MO_CK_COUNTER, "memobserver_parser_starts_total", NULL, "parser_starts", \
	  "Confined parser processes started (privsep: traced processes' ELF and DWARF are "      \
	  "read in one).")                                                                        \
	X(parser_died, MO_CK_COUNTER, "memobserver_parser_failures_total", "reason=died",         \
	  "parser_died", MO_PARSER_HELP)                                                          \
	X(parser_timeouts, MO_CK_COUNTER, "memobserver_parser_failures_total", "reason=timeout",  \
	  "parser_timeouts", MO_PARSER_HELP)                                                      \
	X(parser_protocol, MO_CK_COUNTER, "memobserver_parser_failures_total", "reason=protocol", \
	  "parser_protocol_errors", MO_PARSER_HELP)                                               \
	X(parser_files_lost, MO_CK_COUNTER, "memobserver_parser_files_lost_total", NULL,          \
	  "parser_files_lost",                                                                    \
	  "Files left without unwind rows or symbols because the parser process died reading "    \
	  "them.")                                                                                \
	X(scans_run, MO_CK_COUNTER, "memobserver_reachability_scans_total", NULL, "scans_run",    \
	  "Reachability scans of a process's tracked heap blocks that ran (docs/reachability.md).") \
	X(scans_no_permission, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",    \
	  "reason=no_permission", "scans_no_permission",                                          \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scans_already_traced, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",   \
	  "reason=already_traced", "scans_already_traced",                                        \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scans_process_gone, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",     \
	  "reason=process_gone", "scans_process_gone",                                            \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scans_pause_cap, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",        \
	  "reason=pause_cap", "scans_pause_cap",                                                  \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scans_over_budget, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",      \
	  "reason=over_budget", "scans_over_budget",                                              \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scans_failed, MO_CK_COUNTER, "memobserver_reachability_scans_refused_total",           \
	  "reason=error", "scans_failed",                                                         \
	  "Reachability scans that could not decide anything, or were not run, by reason.")      \
	X(scan_blocks_definitely_lost, MO_CK_COUNTER, "memobserver_reachability_blocks_total",   \
	  "class=definitely_lost", "scan_blocks_definitely_lost",                                 \
	  "Tracked heap blocks classified by reachability scans, by class.")                      \
	X(scan_blocks_indirectly_lost, MO_CK_COUNTER, "memobserver_reachability_blocks_total",   \
	  "class=indirectly_lost", "scan_blocks_indirectly_lost",                                 \
	  "Tracked heap blocks classified by reachability scans, by class.")                      \
	X(scan_blocks_reachable, MO_CK_COUNTER, "memobserver_reachability_blocks_total",         \
	  "class=reachable", "scan_blocks_reachable",                                             \
	  "Tracked heap blocks classified by reachability scans, by class.")                      \
	X(scan_blocks_unknown, MO_CK_COUNTER, "memobserver_reachability_blocks_total",           \
	  "class=unknown", "scan_blocks_unknown",                                                 \
	  "Tracked heap blocks classified by reachability scans, by class.")                      \
	X(scan_pauses, MO_CK_COUNTER, "memobserver_reachability_pauses_total", NULL, "scan_pauses", \
	  "Stop-the-world pauses of observed processes made by reachability scans.")             \
	X(lost_definitely_bytes, MO_CK_GAUGE, "memobserver_reachability_lost_bytes",              \
	  "class=definitely_lost", "lost_definitely_bytes",                                       \
	  "Tracked heap bytes that the last scan of each live process found lost, by class.")    \
	X(lost_indirectly_bytes, MO_CK_GAUGE, "memobserver_reachability_lost_bytes",              \
	  "class=indirectly_lost", "lost_indirectly_bytes",                                       \
	  "Tracked heap bytes that the last scan of each live process found lost, by class.")      \
	/* counted by the caller (mo_observer_note) */                                            \
	X(output_write_errors, MO_CK_COUNTER, "memobserver_output_write_errors_total", NULL, NULL, \
	  "Writes of events or reports to the output that failed (full disk, closed pipe).")     \
	X(profile_stacks_cut, MO_CK_COUNTER, "memobserver_profile_stacks_cut_total", NULL, NULL,  \
	  "Stacks left out of served or written profiles to keep them within their bounds.")     \
	MO_OTLP_SIGNALS(MO_OTLP_ROW_SENT, X)                                                      \
	MO_OTLP_SIGNALS(MO_OTLP_ROW_FAILURES, X)                                                  \
	MO_OTLP_SIGNALS(MO_OTLP_ROW_RETRIES, X)                                                   \
	MO_OTLP_SIGNALS(MO_OTLP_ROWS_DROP, X)

/* Counters of what was seen and what was dropped, by reason. */
struct mo_counters {
#define MO_COUNTER_FIELD(field, kind, family, label, json_key, help) uint64_t field;
	MO_COUNTERS(MO_COUNTER_FIELD)
#undef MO_COUNTER_FIELD
	bool rss_from_proc;		/* no kmem:rss_stat: /proc is the only source */
	/* overhead budget (--max-overhead); fractions of the process's own work */
	double overhead_budget;		/* 0: none */
	double overhead_estimated;	/* probe cost at full attachment, worst process */
	double overhead_expected;	/* the same at the duty cycle in force */
	double overhead_duty;		/* share of time allocating probes are attached */
	uint64_t shed_ns;		/* time allocating probes were detached */
	uint64_t scan_pause_ns;		/* observed processes stopped by scans */
	uint64_t scan_cpu_ns;		/* memobserver's CPU in scans */
};

enum mo_counter_id {
#define MO_COUNTER_ID(field, kind, family, label, json_key, help) MO_CTR_##field,
	MO_COUNTERS(MO_COUNTER_ID)
#undef MO_COUNTER_ID
	MO_CTR__COUNT
};

/* The sum of the MO_CK_DROP counters: everything observed and lost. */
uint64_t mo_counters_dropped(const struct mo_counters *c);

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

/* What a report asked for while running covers (mo_observer_query). */
enum mo_report_kind {
	MO_REPORT_LEAKS = 0,	/* as mo_observer_report: unfreed for min_unfreed_age,
				   exited processes' final leaks included */
	MO_REPORT_HEAP,		/* every tracked allocation live processes still
				   hold, any age (a heap profile's in-use memory);
				   min_unfreed_age_ns is 0 in the report */
	MO_REPORT_GROWTH,	/* the watch tier's growth stacks: per process and
				   stack, unfreed_bytes is the anonymous memory it
				   faulted in, count the samples (estimates) */
};

struct mo_report_query {
	enum mo_report_kind kind;
	pid_t pid;		/* only this process; 0: every one */
	const char *container;	/* only processes of a container whose id starts
				   with this (a whole id or a prefix); NULL: any */
};

/*
 * A report for q, made by the worker, waiting at most timeout_ms for it (-1:
 * as long as it takes; the worker takes requests between rounds of work).
 * Returns 0 with *out set (free with mo_report_free); -ETIMEDOUT when the
 * worker did not answer in time (a report it had started is dropped when
 * done); -ESRCH when q->pid is a process memobserver knows nothing of;
 * -EOPNOTSUPP for MO_REPORT_GROWTH when the watch tier is not running;
 * -EINVAL, -ENOMEM.
 */
int mo_observer_query(struct mo_observer *obs, const struct mo_report_query *q, int timeout_ms,
		      struct mo_report **out);

/*
 * Bounds of a profile: the stacks with the least unfreed bytes are left out
 * beyond them. 0 takes the default.
 */
struct mo_profile_limits {
	size_t max_stacks;	/* samples (default MO_PROFILE_MAX_STACKS) */
	size_t max_bytes;	/* gzipped size (default MO_PROFILE_MAX_BYTES) */
};
#define MO_PROFILE_MAX_STACKS 20000u
#define MO_PROFILE_MAX_BYTES (8u << 20)

/*
 * The report for q (made by the worker, as mo_observer_query, with its
 * errors and wait) as a gzipped profile.proto in the layout of Go's heap
 * profiles (sample types alloc_objects, alloc_space, inuse_objects,
 * inuse_space; growth_samples, growth_space for MO_REPORT_GROWTH), encoded
 * on the calling thread. What the limits (NULL: defaults) leave out is
 * said in a comment of the profile and counted in
 * memobserver_profile_stacks_cut_total. *gz is malloc'ed. 0 or -errno.
 */
int mo_observer_profile(struct mo_observer *obs, const struct mo_report_query *q,
			const struct mo_profile_limits *limits, int timeout_ms, uint8_t **gz,
			size_t *len);

/* Counters right now. */
void mo_observer_counters(struct mo_observer *obs, struct mo_counters *out);

/*
 * The Prometheus text exposition of the observer's state right now (the
 * seed's memory_* families plus memobserver_* health). *text is malloc'ed
 * and NUL-terminated. 0 or -errno.
 */
int mo_observer_metrics(struct mo_observer *obs, char **text, size_t *len);

/*
 * The OTLP encoding of the same state (an ExportMetricsServiceRequest,
 * binary protobuf, the body of POST /v1/metrics; docs/otlp.md), stamped
 * now_ns (CLOCK_REALTIME), resources named with host_name. *body is
 * malloc'ed. 0 or -errno (-ENODEV before start).
 */
int mo_observer_metrics_otlp(struct mo_observer *obs, const char *host_name, uint64_t now_ns,
			     uint8_t **body, size_t *len);

/*
 * Add n to a counter of the caller's own work: output_write_errors (writes
 * of its output that failed) and the otlp_* rows (its OTLP exporter). The
 * library counts the other rows itself; for them this adds to its count.
 * Exported by every rendering of the counters; safe from any thread, before
 * start too.
 */
void mo_observer_note(struct mo_observer *obs, enum mo_counter_id id, uint64_t n);

/*
 * Scan every observed process with tracked heap blocks for reachability now,
 * in the configured scan mode (scans need not be on). Asynchronous: the
 * worker scans; each process gets a "reachability_scan" event, and later
 * findings carry the verdicts. Safe from any thread (an atomic flag and
 * an eventfd write). 0, or -EAGAIN when the observer is not running.
 */
int mo_observer_scan(struct mo_observer *obs);

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
