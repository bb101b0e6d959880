/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * metrics.h - the Prometheus text exposition (format 0.0.4) of a snapshot
 * of the observer's state. Pure rendering: the observer builds the
 * snapshot, the HTTP server serves the text. Label values come from the
 * traced system and are escaped; cardinality is bounded (max_series per
 * family, the rest summed into process="__other__"). The snapshot and the
 * tables below are also what the OTLP encoding (otlp.h) renders.
 */
#ifndef MO_METRICS_H
#define MO_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "memobserver.h"
#include "json.h"

struct mo_proc_metrics {
	pid_t pid;
	char command[64];	/* raw comm: any bytes */
	char container_id[80];	/* "" for host processes */
	char pod_uid[37];	/* Kubernetes pod UID, "" if none */
	uint64_t allocations;	/* tracked allocations */
	uint64_t deallocations;	/* frees that matched a tracked allocation */
	uint64_t unfreed_bytes;	/* outstanding tracked bytes right now */
	uint64_t largest_allocation;
	/* Kubernetes names of the container ("" when not known): labels of
	 * the container_id series, one set per container id */
	char k8s_namespace[64];
	char k8s_pod[254];
	char k8s_container[64];
	bool other;		/* series_decided: summed into __other__ */
};

struct mo_rss_growth_metric {
	char command[64];
	const char *severity;	/* "info", "warning", "critical" */
	uint64_t count;
	bool other;		/* series_decided: summed into __other__ */
};

/* Series per family: the rest are summed into one __other__ series (and,
 * without the caller's decision, resources of an OTLP request). */
#define MO_METRICS_MAX_SERIES 200

struct mo_metrics_snapshot {
	size_t nprocs;
	const struct mo_proc_metrics *procs;
	size_t nrss;
	const struct mo_rss_growth_metric *rss;
	struct mo_counters counters;
	double self_cpu_seconds;	/* memobserver's own CPU time */
	uint64_t self_rss_bytes;	/* memobserver's own resident memory */
	uint64_t start_time_seconds;	/* unix time memobserver started */
	/*
	 * The caller decided which (process, container_id) and (process,
	 * severity) keys are summed into __other__ (the rows' other flags),
	 * scrape after scrape so counters never go backwards, and gives what
	 * __other__ keeps of keys that left it; else the renderer ranks.
	 */
	bool series_decided;
	uint64_t other_allocations;
	uint64_t other_deallocations;
	uint64_t other_rss_warning;	/* memory_rss_growth_detected_total */
	uint64_t other_rss_critical;
};

/*
 * The snapshot's values beyond the counter table, once for every rendering:
 * X(family, kind, label, is_double, value, help) as in MO_COUNTERS (kind
 * MO_CK_COUNTER or MO_CK_GAUGE), value an expression of the snapshot `s`.
 */
#define MO_SNAPSHOT_VALUES(X)                                                                    \
	X("memobserver_rss_source", MO_CK_GAUGE, "source=rss_stat", false,                       \
	  !s->counters.rss_from_proc, MO_RSS_SOURCE_HELP)                                        \
	X("memobserver_rss_source", MO_CK_GAUGE, "source=proc", false, s->counters.rss_from_proc, \
	  MO_RSS_SOURCE_HELP)                                                                    \
	X("memobserver_overhead_budget_ratio", MO_CK_GAUGE, NULL, true,                          \
	  s->counters.overhead_budget,                                                           \
	  "Overhead budget (--max-overhead) as a fraction of each process's own CPU work; 0 "   \
	  "when none.")                                                                          \
	X("memobserver_overhead_estimated_ratio", MO_CK_GAUGE, NULL, true,                       \
	  s->counters.overhead_estimated,                                                        \
	  "Estimated probe cost over the process's own CPU work with every probe attached, "    \
	  "worst process, last measured (budget only).")                                         \
	X("memobserver_overhead_expected_ratio", MO_CK_GAUGE, NULL, true,                        \
	  s->counters.overhead_expected, "The same at the duty cycle in force.")                 \
	X("memobserver_probe_duty_cycle", MO_CK_GAUGE, NULL, true, s->counters.overhead_duty,    \
	  "Share of time the allocating functions' probes are attached (1: always).")           \
	X("memobserver_probes_shed_seconds_total", MO_CK_COUNTER, NULL, true,                    \
	  (double)s->counters.shed_ns / 1e9,                                                     \
	  "Time the allocating functions' probes were detached by the overhead budget.")        \
	X("memobserver_reachability_pause_seconds_total", MO_CK_COUNTER, NULL, true,             \
	  (double)s->counters.scan_pause_ns / 1e9,                                               \
	  "Time observed processes spent stopped by reachability scans.")                       \
	X("memobserver_reachability_cpu_seconds_total", MO_CK_COUNTER, NULL, true,               \
	  (double)s->counters.scan_cpu_ns / 1e9,                                                 \
	  "CPU time memobserver spent in reachability scans.")                                  \
	X("memobserver_cpu_seconds_total", MO_CK_COUNTER, NULL, true, s->self_cpu_seconds,       \
	  "CPU time memobserver itself used, user plus system, in seconds.")                    \
	X("memobserver_resident_memory_bytes", MO_CK_GAUGE, NULL, false, s->self_rss_bytes,      \
	  "Resident memory of memobserver itself in bytes.")                                    \
	X("memobserver_start_time_seconds", MO_CK_GAUGE, NULL, false, s->start_time_seconds,     \
	  "Start time of memobserver since the Unix epoch in seconds.")

#define MO_RSS_SOURCE_HELP "Where resident memory comes from: 1 for the source in use."

/* Append the exposition text to b. */
void mo_metrics_render(struct mo_buf *b, const struct mo_metrics_snapshot *s, size_t max_series);

/* Escape a label value per the exposition format (backslash, double quote,
 * newline); invalid UTF-8 bytes become \\xNN text so output stays UTF-8. */
void mo_metrics_label_escape(struct mo_buf *b, const char *s, size_t len);

#endif
