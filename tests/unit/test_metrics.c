// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_metrics.c - the Prometheus exposition: exact output for a small
 * snapshot, label escaping of hostile process names, aggregation by name,
 * the cardinality cap and the empty snapshot. Every rendering is also
 * checked by the real `promtool check metrics` (Debian package prometheus)
 * when it is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sinks/metrics.h"

struct text {
	char *s;
	size_t len;
};

static struct text render(const struct mo_metrics_snapshot *s, size_t max_series)
{
	struct mo_buf b;
	struct text t;

	mo_buf_init(&b);
	mo_metrics_render(&b, s, max_series);
	assert_false(b.oom);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);
	t.s = b.data;
	t.len = b.len;
	return t;
}

static bool have_promtool(void)
{
	static int have = -1;

	if (have < 0) {
		have = system("command -v promtool >/dev/null 2>&1") == 0;
		if (!have)
			printf("[  SKIP    ] promtool not installed (apt-get install prometheus): "
			       "output checked by these tests only\n");
	}
	return have;
}

/* `promtool check metrics` parses the text and lints names, HELP and TYPE. */
static void promtool_check(const struct text *t)
{
	char path[] = "/tmp/test_metrics.XXXXXX", cmd[128], line[512];
	FILE *p;
	int fd, status;

	if (!have_promtool())
		return;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, t->s, t->len), (ssize_t)t->len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		printf("promtool: %s", line);
	status = pclose(p);
	unlink(path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("rejected text:\n%s", t->s);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, prefix, plen))
			n++;
		if (!strchr(l, '\n'))
			break;
	}
	return n;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void set_proc(struct mo_proc_metrics *p, pid_t pid, const char *cmd, const char *cid,
		     uint64_t allocs, uint64_t frees, uint64_t unfreed, uint64_t largest)
{
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(p->command, sizeof(p->command), "%s", cmd);
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid);
	p->allocations = allocs;
	p->deallocations = frees;
	p->unfreed_bytes = unfreed;
	p->largest_allocation = largest;
}

static const char expected_small[] =
	"# HELP memory_allocations_tracked_total Allocations tracked by the observer, by process name and container.\n"
	"# TYPE memory_allocations_tracked_total counter\n"
	"memory_allocations_tracked_total{process=\"nginx\",container_id=\"\"} 5\n"
	"memory_allocations_tracked_total{process=\"redis\",container_id=\"abc123\"} 7\n"
	"# HELP memory_deallocations_tracked_total Frees that matched a tracked allocation, by process name and container.\n"
	"# TYPE memory_deallocations_tracked_total counter\n"
	"memory_deallocations_tracked_total{process=\"nginx\",container_id=\"\"} 3\n"
	"memory_deallocations_tracked_total{process=\"redis\",container_id=\"abc123\"} 1\n"
	"# HELP memory_unfreed_memory_bytes Bytes of tracked allocations not freed yet, by process name and container.\n"
	"# TYPE memory_unfreed_memory_bytes gauge\n"
	"memory_unfreed_memory_bytes{process=\"nginx\",container_id=\"\"} 1024\n"
	"memory_unfreed_memory_bytes{process=\"redis\",container_id=\"abc123\"} 4096\n"
	"# HELP memory_largest_allocation_bytes Largest single tracked allocation in bytes, the maximum over the processes with this name.\n"
	"# TYPE memory_largest_allocation_bytes gauge\n"
	"memory_largest_allocation_bytes{process=\"nginx\"} 512\n"
	"memory_largest_allocation_bytes{process=\"redis\"} 2048\n"
	"# HELP memory_rss_growth_detected_total Sustained RSS growth detections, by process name and severity.\n"
	"# TYPE memory_rss_growth_detected_total counter\n"
	"memory_rss_growth_detected_total{process=\"redis\",severity=\"warning\"} 2\n"
	"# HELP memobserver_allocations_tracked_total Allocations (and mappings) entered in the allocation table.\n"
	"# TYPE memobserver_allocations_tracked_total counter\n"
	"memobserver_allocations_tracked_total 12\n"
	"# HELP memobserver_deallocations_tracked_total Frees (and unmaps) that matched a tracked allocation.\n"
	"# TYPE memobserver_deallocations_tracked_total counter\n"
	"memobserver_deallocations_tracked_total 4\n"
	"# HELP memobserver_allocator_calls_total Allocator calls seen in observed processes, tracked or not.\n"
	"# TYPE memobserver_allocator_calls_total counter\n"
	"memobserver_allocator_calls_total 33\n"
	"# HELP memobserver_probes_attached Probes (uprobes and tracepoints) attached.\n"
	"# TYPE memobserver_probes_attached gauge\n"
	"memobserver_probes_attached 32\n"
	"# HELP memobserver_events_emitted_total Events delivered to the output.\n"
	"# TYPE memobserver_events_emitted_total counter\n"
	"memobserver_events_emitted_total 31\n"
	"# HELP memobserver_processes_tracked Live processes being observed.\n"
	"# TYPE memobserver_processes_tracked gauge\n"
	"memobserver_processes_tracked 2\n"
	"# HELP memobserver_dropped_events_total Events lost because a table or buffer was full, by reason.\n"
	"# TYPE memobserver_dropped_events_total counter\n"
	"memobserver_dropped_events_total{reason=\"allocation_table_full\"} 21\n"
	"memobserver_dropped_events_total{reason=\"stack_table_full\"} 22\n"
	"memobserver_dropped_events_total{reason=\"ring_buffer_full\"} 23\n"
	"memobserver_dropped_events_total{reason=\"thread_table_full\"} 24\n"
	"memobserver_dropped_events_total{reason=\"event_buffer_full\"} 25\n"
	"memobserver_dropped_events_total{reason=\"stack_totals_table_full\"} 26\n"
	"memobserver_dropped_events_total{reason=\"unwind_maps_full\"} 27\n"
	"memobserver_dropped_events_total{reason=\"exit_findings_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"targets_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"process_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"process_maps_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"rss_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"mmap_ranges_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"mremap_unhandled\"} 0\n"
	"memobserver_dropped_events_total{reason=\"growth_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"growth_without_stack\"} 0\n"
	"memobserver_dropped_events_total{reason=\"k8s_names_table_full\"} 0\n"
	"memobserver_dropped_events_total{reason=\"unwind_rows_full\"} 0\n"
	"# HELP memory_filtered_events_total Allocator events deliberately not tracked or not reported, by filter reason.\n"
	"# TYPE memory_filtered_events_total counter\n"
	"memory_filtered_events_total{reason=\"below_min_size\"} 11\n"
	"memory_filtered_events_total{reason=\"sampled_out\"} 12\n"
	"memory_filtered_events_total{reason=\"allocator_internal_mmap\"} 13\n"
	"memory_filtered_events_total{reason=\"runtime_mmap\"} 14\n"
	"memory_filtered_events_total{reason=\"nested_allocator_call\"} 15\n"
	"memory_filtered_events_total{reason=\"deduplicated\"} 16\n"
	"memory_filtered_events_total{reason=\"overhead_budget\"} 17\n"
	"memory_filtered_events_total{reason=\"short_lived_exit\"} 0\n"
	"memory_filtered_events_total{reason=\"growth_not_resident\"} 0\n"
	"memory_filtered_events_total{reason=\"process_event\"} 0\n"
	"memory_filtered_events_total{reason=\"own_executable\"} 0\n"
	"memory_filtered_events_total{reason=\"young_process\"} 0\n"
	"# HELP memobserver_self_probe_hits_total Allocator probes hit by memobserver's own process (0: it never traps on itself).\n"
	"# TYPE memobserver_self_probe_hits_total counter\n"
	"memobserver_self_probe_hits_total 0\n"
	"# HELP memobserver_growth_samples_total Watch tier: anonymous memory growth samples attributed to a stack.\n"
	"# TYPE memobserver_growth_samples_total counter\n"
	"memobserver_growth_samples_total 0\n"
	"# HELP memobserver_growth_findings_total Watch tier: stacks reported as growing with their process's RSS.\n"
	"# TYPE memobserver_growth_findings_total counter\n"
	"memobserver_growth_findings_total 0\n"
	"# HELP memobserver_escalations_total Processes whose allocator the watch tier probed for a while, by result.\n"
	"# TYPE memobserver_escalations_total counter\n"
	"memobserver_escalations_total{result=\"started\"} 0\n"
	"memobserver_escalations_total{result=\"failed\"} 0\n"
	"memobserver_escalations_total{result=\"skipped\"} 0\n"
	"# HELP memobserver_escalation_sites_total Leak sites reported at the end of escalations.\n"
	"# TYPE memobserver_escalation_sites_total counter\n"
	"memobserver_escalation_sites_total 0\n"
	"# HELP memobserver_rss_crosschecks_total Comparisons of rss_stat's resident memory with /proc, by result.\n"
	"# TYPE memobserver_rss_crosschecks_total counter\n"
	"memobserver_rss_crosschecks_total{result=\"agreed\"} 41\n"
	"memobserver_rss_crosschecks_total{result=\"disagreed\"} 42\n"
	"# HELP memobserver_rss_proc_reads_total Reads of /proc/PID/status for resident memory.\n"
	"# TYPE memobserver_rss_proc_reads_total counter\n"
	"memobserver_rss_proc_reads_total 43\n"
	"# HELP memobserver_overhead_budget_unattainable_total Budget decisions where the free probes alone cost more than the budget.\n"
	"# TYPE memobserver_overhead_budget_unattainable_total counter\n"
	"memobserver_overhead_budget_unattainable_total 44\n"
	"# HELP memobserver_probe_switches_total Detaches and re-attaches of the allocating probes by the overhead budget.\n"
	"# TYPE memobserver_probe_switches_total counter\n"
	"memobserver_probe_switches_total 0\n"
	"# HELP memobserver_stale_calls_total Allocating calls in flight when their return probe was detached (not tracked).\n"
	"# TYPE memobserver_stale_calls_total counter\n"
	"memobserver_stale_calls_total 45\n"
	"# HELP memobserver_unattributed_blocks_total Unfreed blocks not reported because their stack could not be stored (stack table full).\n"
	"# TYPE memobserver_unattributed_blocks_total counter\n"
	"memobserver_unattributed_blocks_total 46\n"
	"# HELP memobserver_unwind_fallbacks_total Stack frames unwound by frame-pointer guess because no unwind table covered them.\n"
	"# TYPE memobserver_unwind_fallbacks_total counter\n"
	"memobserver_unwind_fallbacks_total 34\n"
	"# HELP memobserver_unwind_cuts_total Stacks stopped short, marked partial, by reason: rows_pending (a file whose unwind rows are still being compiled), not_code (a return address outside executable memory), guess_rejected (a frame-pointer guess that does not follow a call), vma_busy (a mapping not looked up in that walk: learned at a later one).\n"
	"# TYPE memobserver_unwind_cuts_total counter\n"
	"memobserver_unwind_cuts_total{reason=\"rows_pending\"} 0\n"
	"memobserver_unwind_cuts_total{reason=\"not_code\"} 0\n"
	"memobserver_unwind_cuts_total{reason=\"guess_rejected\"} 0\n"
	"memobserver_unwind_cuts_total{reason=\"vma_busy\"} 0\n"
	"# HELP memobserver_unwind_modules_total Executable files whose unwind rows the stack walker was given, by result.\n"
	"# TYPE memobserver_unwind_modules_total counter\n"
	"memobserver_unwind_modules_total{result=\"loaded\"} 0\n"
	"memobserver_unwind_modules_total{result=\"no_unwind_info\"} 0\n"
	"memobserver_unwind_modules_total{result=\"refused\"} 0\n"
	"memobserver_unwind_modules_total{result=\"evicted\"} 0\n"
	"# HELP memobserver_unwind_rows_used Rows of the stack walker's unwind table in use (of unwind_rows).\n"
	"# TYPE memobserver_unwind_rows_used gauge\n"
	"memobserver_unwind_rows_used 0\n"
	"# HELP memobserver_pids_reused_total Exited processes whose pid a new process already had when they were reclaimed.\n"
	"# TYPE memobserver_pids_reused_total counter\n"
	"memobserver_pids_reused_total 0\n"
	"# HELP memobserver_exits_recovered_total Process exits found by pid after their record was lost.\n"
	"# TYPE memobserver_exits_recovered_total counter\n"
	"memobserver_exits_recovered_total 0\n"
	"# HELP memobserver_jit_frames_total Frames in JIT code, named from the runtime's perf map or not.\n"
	"# TYPE memobserver_jit_frames_total counter\n"
	"memobserver_jit_frames_total{result=\"named\"} 0\n"
	"memobserver_jit_frames_total{result=\"unnamed\"} 0\n"
	"# HELP memobserver_perf_maps_skipped_total Perf maps not read: too big, or not a regular file.\n"
	"# TYPE memobserver_perf_maps_skipped_total counter\n"
	"memobserver_perf_maps_skipped_total 0\n"
	"# HELP memobserver_perf_map_lines_malformed_total Lines of perf maps that did not parse (skipped).\n"
	"# TYPE memobserver_perf_map_lines_malformed_total counter\n"
	"memobserver_perf_map_lines_malformed_total 0\n"
	"# HELP memobserver_files_refused_total Files of traced processes not read, by reason (a FIFO or device in a library's place, a file no longer the one mapped, too large, a symlink).\n"
	"# TYPE memobserver_files_refused_total counter\n"
	"memobserver_files_refused_total{reason=\"not_regular_file\"} 0\n"
	"memobserver_files_refused_total{reason=\"replaced\"} 0\n"
	"memobserver_files_refused_total{reason=\"too_large\"} 0\n"
	"memobserver_files_refused_total{reason=\"symlink\"} 0\n"
	"# HELP memobserver_k8s_log_scans_total Scans of the kubelet's log directories for Kubernetes names (at most one per 10 s, on a lookup that missed).\n"
	"# TYPE memobserver_k8s_log_scans_total counter\n"
	"memobserver_k8s_log_scans_total 0\n"
	"# HELP memobserver_k8s_log_entries_ignored_total Entries of the kubelet's log directories not used for names, by reason, counted at each scan.\n"
	"# TYPE memobserver_k8s_log_entries_ignored_total counter\n"
	"memobserver_k8s_log_entries_ignored_total{reason=\"bad_name\"} 0\n"
	"memobserver_k8s_log_entries_ignored_total{reason=\"bad_type\"} 0\n"
	"memobserver_k8s_log_entries_ignored_total{reason=\"mismatch\"} 0\n"
	"# HELP memobserver_stale_blocks_recovered_total Blocks of an old program image dropped after its exec record was lost.\n"
	"# TYPE memobserver_stale_blocks_recovered_total counter\n"
	"memobserver_stale_blocks_recovered_total 0\n"
	"# HELP memobserver_parser_starts_total Confined parser processes started (privsep: traced processes' ELF and DWARF are read in one).\n"
	"# TYPE memobserver_parser_starts_total counter\n"
	"memobserver_parser_starts_total 0\n"
	"# HELP memobserver_parser_failures_total Confined parser processes ended, by reason: died (a crash, the seccomp filter, a kill), timeout (no answer in 30 s), protocol (a malformed message).\n"
	"# TYPE memobserver_parser_failures_total counter\n"
	"memobserver_parser_failures_total{reason=\"died\"} 0\n"
	"memobserver_parser_failures_total{reason=\"timeout\"} 0\n"
	"memobserver_parser_failures_total{reason=\"protocol\"} 0\n"
	"# HELP memobserver_parser_files_lost_total Files left without unwind rows or symbols because the parser process died reading them.\n"
	"# TYPE memobserver_parser_files_lost_total counter\n"
	"memobserver_parser_files_lost_total 0\n"
	"# HELP memobserver_reachability_scans_total Reachability scans of a process's tracked heap blocks that ran (docs/reachability.md).\n"
	"# TYPE memobserver_reachability_scans_total counter\n"
	"memobserver_reachability_scans_total 0\n"
	"# HELP memobserver_reachability_scans_refused_total Reachability scans that could not decide anything, or were not run, by reason.\n"
	"# TYPE memobserver_reachability_scans_refused_total counter\n"
	"memobserver_reachability_scans_refused_total{reason=\"no_permission\"} 0\n"
	"memobserver_reachability_scans_refused_total{reason=\"already_traced\"} 0\n"
	"memobserver_reachability_scans_refused_total{reason=\"process_gone\"} 0\n"
	"memobserver_reachability_scans_refused_total{reason=\"pause_cap\"} 0\n"
	"memobserver_reachability_scans_refused_total{reason=\"over_budget\"} 0\n"
	"memobserver_reachability_scans_refused_total{reason=\"error\"} 0\n"
	"# HELP memobserver_reachability_blocks_total Tracked heap blocks classified by reachability scans, by class.\n"
	"# TYPE memobserver_reachability_blocks_total counter\n"
	"memobserver_reachability_blocks_total{class=\"definitely_lost\"} 0\n"
	"memobserver_reachability_blocks_total{class=\"indirectly_lost\"} 0\n"
	"memobserver_reachability_blocks_total{class=\"reachable\"} 0\n"
	"memobserver_reachability_blocks_total{class=\"unknown\"} 0\n"
	"# HELP memobserver_reachability_pauses_total Stop-the-world pauses of observed processes made by reachability scans.\n"
	"# TYPE memobserver_reachability_pauses_total counter\n"
	"memobserver_reachability_pauses_total 0\n"
	"# HELP memobserver_reachability_lost_bytes Tracked heap bytes that the last scan of each live process found lost, by class.\n"
	"# TYPE memobserver_reachability_lost_bytes gauge\n"
	"memobserver_reachability_lost_bytes{class=\"definitely_lost\"} 0\n"
	"memobserver_reachability_lost_bytes{class=\"indirectly_lost\"} 0\n"
	"# HELP memobserver_output_write_errors_total Writes of events or reports to the output that failed (full disk, closed pipe).\n"
	"# TYPE memobserver_output_write_errors_total counter\n"
	"memobserver_output_write_errors_total 35\n"
	"# HELP memobserver_profile_stacks_cut_total Stacks left out of served or written profiles to keep them within their bounds.\n"
	"# TYPE memobserver_profile_stacks_cut_total counter\n"
	"memobserver_profile_stacks_cut_total 7\n"
	"# HELP memobserver_otlp_requests_sent_total OTLP requests the collector accepted, by signal.\n"
	"# TYPE memobserver_otlp_requests_sent_total counter\n"
	"memobserver_otlp_requests_sent_total{signal=\"metrics\"} 0\n"
	"memobserver_otlp_requests_sent_total{signal=\"logs\"} 51\n"
	"# HELP memobserver_otlp_request_failures_total OTLP send attempts that failed (connection error, timeout, error status), by signal.\n"
	"# TYPE memobserver_otlp_request_failures_total counter\n"
	"memobserver_otlp_request_failures_total{signal=\"metrics\"} 0\n"
	"memobserver_otlp_request_failures_total{signal=\"logs\"} 0\n"
	"# HELP memobserver_otlp_retries_total OTLP send attempts after the first, by signal.\n"
	"# TYPE memobserver_otlp_retries_total counter\n"
	"memobserver_otlp_retries_total{signal=\"metrics\"} 52\n"
	"memobserver_otlp_retries_total{signal=\"logs\"} 0\n"
	"# HELP memobserver_otlp_requests_dropped_total OTLP requests given up, by signal and reason.\n"
	"# TYPE memobserver_otlp_requests_dropped_total counter\n"
	"memobserver_otlp_requests_dropped_total{signal=\"metrics\",reason=\"queue_full\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"metrics\",reason=\"send_failed\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"metrics\",reason=\"rejected\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"metrics\",reason=\"shutdown\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"logs\",reason=\"queue_full\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"logs\",reason=\"send_failed\"} 0\n"
	"memobserver_otlp_requests_dropped_total{signal=\"logs\",reason=\"rejected\"} 53\n"
	"memobserver_otlp_requests_dropped_total{signal=\"logs\",reason=\"shutdown\"} 0\n"
	"# HELP memobserver_rss_source Where resident memory comes from: 1 for the source in use.\n"
	"# TYPE memobserver_rss_source gauge\n"
	"memobserver_rss_source{source=\"rss_stat\"} 1\n"
	"memobserver_rss_source{source=\"proc\"} 0\n"
	"# HELP memobserver_overhead_budget_ratio Overhead budget (--max-overhead) as a fraction of each process's own CPU work; 0 when none.\n"
	"# TYPE memobserver_overhead_budget_ratio gauge\n"
	"memobserver_overhead_budget_ratio 0.05\n"
	"# HELP memobserver_overhead_estimated_ratio Estimated probe cost over the process's own CPU work with every probe attached, worst process, last measured (budget only).\n"
	"# TYPE memobserver_overhead_estimated_ratio gauge\n"
	"memobserver_overhead_estimated_ratio 0.5\n"
	"# HELP memobserver_overhead_expected_ratio The same at the duty cycle in force.\n"
	"# TYPE memobserver_overhead_expected_ratio gauge\n"
	"memobserver_overhead_expected_ratio 0.25\n"
	"# HELP memobserver_probe_duty_cycle Share of time the allocating functions' probes are attached (1: always).\n"
	"# TYPE memobserver_probe_duty_cycle gauge\n"
	"memobserver_probe_duty_cycle 0.5\n"
	"# HELP memobserver_probes_shed_seconds_total Time the allocating functions' probes were detached by the overhead budget.\n"
	"# TYPE memobserver_probes_shed_seconds_total counter\n"
	"memobserver_probes_shed_seconds_total 1.5\n"
	"# HELP memobserver_reachability_pause_seconds_total Time observed processes spent stopped by reachability scans.\n"
	"# TYPE memobserver_reachability_pause_seconds_total counter\n"
	"memobserver_reachability_pause_seconds_total 0\n"
	"# HELP memobserver_reachability_cpu_seconds_total CPU time memobserver spent in reachability scans.\n"
	"# TYPE memobserver_reachability_cpu_seconds_total counter\n"
	"memobserver_reachability_cpu_seconds_total 0\n"
	"# HELP memobserver_cpu_seconds_total CPU time memobserver itself used, user plus system, in seconds.\n"
	"# TYPE memobserver_cpu_seconds_total counter\n"
	"memobserver_cpu_seconds_total 1.25\n"
	"# HELP memobserver_resident_memory_bytes Resident memory of memobserver itself in bytes.\n"
	"# TYPE memobserver_resident_memory_bytes gauge\n"
	"memobserver_resident_memory_bytes 12345678\n"
	"# HELP memobserver_start_time_seconds Start time of memobserver since the Unix epoch in seconds.\n"
	"# TYPE memobserver_start_time_seconds gauge\n"
	"memobserver_start_time_seconds 1700000000\n";

static void test_small_snapshot_exact(void **state)
{
	struct mo_proc_metrics procs[2];
	struct mo_rss_growth_metric rss[1] = { { "redis", "warning", 2 } };
	struct mo_metrics_snapshot s = {
		.nprocs = 2, .procs = procs, .nrss = 1, .rss = rss,
		.counters = {
			.alloc_calls = 33, .allocs_tracked = 12,
			.frees_matched = 4,
			.drop_alloc_table_full = 21, .drop_stack_table_full = 22,
			.drop_ringbuf_full = 23, .drop_sampled = 12,
			.drop_size_filtered = 11, .drop_thread_table_full = 24,
			.drop_event_buffer_full = 25, .allocator_internal_mmaps = 13,
			.runtime_mmaps = 14, .nested_calls = 15, .unwind_fallbacks = 34,
			.events_emitted = 31, .probes_attached = 32, .processes_tracked = 2,
			.drop_stack_stats_full = 26, .drop_unwind_maps_full = 27, .rss_checks_agreed = 41,
			.rss_checks_disagreed = 42, .rss_proc_reads = 43,
			.overhead_budget = 0.05, .overhead_estimated = 0.5,
			.overhead_expected = 0.25, .overhead_duty = 0.5, .shed_ns = 1500000000,
			.shed_allocs_estimated = 17, .shed_unattainable = 44, .stale_calls = 45,
			.unattributed_blocks = 46, .dedup_suppressed = 16,
			.output_write_errors = 35, .profile_stacks_cut = 7, .otlp_logs_sent = 51,
			.otlp_metrics_retries = 52, .otlp_logs_rejected = 53,
		},
		.self_cpu_seconds = 1.25,
		.self_rss_bytes = 12345678,
		.start_time_seconds = 1700000000,
	};
	struct text t;

	/* Input order is not output order: series sort by their labels. */
	set_proc(&procs[0], 20, "redis", "abc123", 7, 1, 4096, 2048);
	set_proc(&procs[1], 10, "nginx", "", 5, 3, 1024, 512);
	t = render(&s, 200);
	assert_string_equal(t.s, expected_small);
	promtool_check(&t);
	free(t.s);
}

static const char *esc(const char *s, size_t n)
{
	static char out[1024];
	struct mo_buf b;

	mo_buf_init(&b);
	mo_buf_append(&b, "", 0);
	mo_metrics_label_escape(&b, s, n);
	assert_false(b.oom);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.data, b.len + 1);
	mo_buf_release(&b);
	return out;
}

#define E(lit) esc(lit, sizeof(lit) - 1)

static void test_label_escape(void **state)
{
	assert_string_equal(E(""), "");
	assert_string_equal(E("plain name-1.2/x"), "plain name-1.2/x");
	/* The three escapes the exposition format defines. */
	assert_string_equal(E("a\"b"), "a\\\"b");
	assert_string_equal(E("a\\b"), "a\\\\b");
	assert_string_equal(E("a\nb"), "a\\nb");
	/* Everything else that is not printable text becomes the text \xNN. */
	assert_string_equal(E("\t\r\x01\x1b\x7f"), "\\\\x09\\\\x0d\\\\x01\\\\x1b\\\\x7f");
	assert_string_equal(E("a\0b"), "a\\\\x00b");
	assert_string_equal(E("bad\xff"), "bad\\\\xff");
	/* Valid UTF-8 passes; overlong, surrogate and truncated forms do not. */
	assert_string_equal(E("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98");
	assert_string_equal(E("\xc0\xaf"), "\\\\xc0\\\\xaf");
	assert_string_equal(E("\xed\xa0\x80"), "\\\\xed\\\\xa0\\\\x80");
	assert_string_equal(E("x\xe2\x82"), "x\\\\xe2\\\\x82");
	assert_string_equal(E("\xf4\x90\x80\x80"), "\\\\xf4\\\\x90\\\\x80\\\\x80");
}

static void test_hostile_names(void **state)
{
	struct mo_proc_metrics procs[6];
	struct mo_rss_growth_metric rss[1];
	struct mo_metrics_snapshot s = { .nprocs = 6, .procs = procs, .nrss = 1, .rss = rss };
	char long63[64];
	struct text t;

	memset(long63, 'L', 63);
	long63[63] = '\0';
	set_proc(&procs[0], 1, "q\"uote", "", 1, 0, 10, 10);
	set_proc(&procs[1], 2, "back\\slash", "", 1, 0, 20, 20);
	set_proc(&procs[2], 3, "new\nline} 1\nfake_metric", "c\"id", 1, 0, 30, 30);
	set_proc(&procs[3], 4, "bad\xff\xfe", "", 1, 0, 40, 40);
	set_proc(&procs[4], 5, long63, "", 1, 0, 50, 50);
	/* No terminator at all: the whole 64-byte field is the name. */
	set_proc(&procs[5], 6, "", "", 1, 0, 60, 60);
	memset(procs[5].command, 'M', sizeof(procs[5].command));
	rss[0] = (struct mo_rss_growth_metric){ "sev\"\n\\", "critical", 1 };
	snprintf(rss[0].command, sizeof(rss[0].command), "r\xff\n\"");

	t = render(&s, 200);
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"q\\\"uote\",container_id=\"\"} 10"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"back\\\\slash\",container_id=\"\"} 20"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"new\\nline} 1\\nfake_metric\","
				  "container_id=\"c\\\"id\"} 30"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"bad\\\\xff\\\\xfe\",container_id=\"\"} 40"));
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
				  "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL\"} 50"));
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM"
				  "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM\"} 60"));
	assert_true(has_line(t.s, "memory_rss_growth_detected_total{process=\"r\\\\xff\\n\\\"\","
				  "severity=\"critical\"} 1"));
	/* The injected name never starts a line of its own. */
	assert_int_equal(count_lines(t.s, "fake_metric"), 0);
	for (size_t i = 0; i < t.len; i++)
		assert_true(t.s[i] == '\n' || (unsigned char)t.s[i] >= 0x20);
	promtool_check(&t);
	free(t.s);
}

/* Two raw names that escape to the same text must not make duplicate series. */
static void test_escape_collision_merges(void **state)
{
	struct mo_proc_metrics procs[2];
	struct mo_metrics_snapshot s = { .nprocs = 2, .procs = procs };
	struct text t;

	set_proc(&procs[0], 1, "a\xff", "", 1, 1, 100, 100);
	set_proc(&procs[1], 2, "a\\xff", "", 2, 0, 200, 300);
	t = render(&s, 200);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 1);
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"a\\\\xff\",container_id=\"\"} 300"));
	promtool_check(&t);
	free(t.s);
}

static void set_k8s(struct mo_proc_metrics *p, const char *ns, const char *pod, const char *ctr)
{
	snprintf(p->k8s_namespace, sizeof(p->k8s_namespace), "%s", ns);
	snprintf(p->k8s_pod, sizeof(p->k8s_pod), "%s", pod);
	snprintf(p->k8s_container, sizeof(p->k8s_container), "%s", ctr);
}

/* Kubernetes names are labels of the container's series, escaped; hosts
 * and __other__ have none; they make no series beyond the containers'. */
static void test_k8s_labels(void **state)
{
	struct mo_proc_metrics procs[5];
	struct mo_metrics_snapshot s = { .nprocs = 5, .procs = procs };
	struct text t;

	set_proc(&procs[0], 1, "api", "c1", 10, 2, 500, 64);
	set_k8s(&procs[0], "team-a", "api-7c9d", "server");
	set_proc(&procs[1], 2, "api", "c1", 5, 1, 100, 64);
	set_k8s(&procs[1], "team-a", "api-7c9d", "server");
	set_proc(&procs[2], 3, "sh", "c2", 1, 0, 30, 8);
	set_k8s(&procs[2], "x\"y", "new\nline} 1", "");
	set_proc(&procs[3], 4, "nginx", "", 3, 3, 20, 8);
	set_proc(&procs[4], 5, "small", "c3", 1, 0, 1, 1);
	set_k8s(&procs[4], "default", "small-0", "small");
	t = render(&s, 200);
	assert_true(has_line(t.s, "memory_allocations_tracked_total{process=\"api\",container_id=\"c1\","
				  "k8s_namespace=\"team-a\",k8s_pod=\"api-7c9d\",k8s_container=\"server\"} 15"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"api\",container_id=\"c1\","
				  "k8s_namespace=\"team-a\",k8s_pod=\"api-7c9d\",k8s_container=\"server\"} 600"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"sh\",container_id=\"c2\","
				  "k8s_namespace=\"x\\\"y\",k8s_pod=\"new\\nline} 1\",k8s_container=\"\"} 30"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"nginx\",container_id=\"\"} 20"));
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 4);
	promtool_check(&t);
	free(t.s);

	/* under the cap, the folded series carries no names */
	t = render(&s, 3);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 3);
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"__other__\",container_id=\"\"} 21"));
	promtool_check(&t);
	free(t.s);
}

static void test_aggregate_by_name(void **state)
{
	struct mo_proc_metrics procs[3];
	struct mo_metrics_snapshot s = { .nprocs = 3, .procs = procs };
	struct text t;

	set_proc(&procs[0], 100, "worker", "", 10, 4, 1000, 64);
	set_proc(&procs[1], 200, "worker", "", 5, 5, 0, 4096);
	set_proc(&procs[2], 300, "worker", "ctr1", 1, 0, 7, 8192);
	t = render(&s, 200);
	assert_true(has_line(t.s, "memory_allocations_tracked_total{process=\"worker\",container_id=\"\"} 15"));
	assert_true(has_line(t.s, "memory_deallocations_tracked_total{process=\"worker\",container_id=\"\"} 9"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"worker\",container_id=\"\"} 1000"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"worker\",container_id=\"ctr1\"} 7"));
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 2);
	/* One series per name, the maximum over both containers. */
	assert_int_equal(count_lines(t.s, "memory_largest_allocation_bytes{"), 1);
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"worker\"} 8192"));
	/* No pid anywhere: names bound the cardinality, not pids. */
	assert_null(strstr(t.s, "pid="));
	promtool_check(&t);
	free(t.s);
}

static void test_cardinality_cap(void **state)
{
	struct mo_proc_metrics procs[10];
	struct mo_rss_growth_metric rss[6];
	struct mo_metrics_snapshot s = { .nprocs = 10, .procs = procs, .nrss = 6, .rss = rss };
	static const char *const sev[] = { "info", "warning" };
	struct text t;
	char name[16];

	for (int i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		/* p8 holds the most memory, p0 the least; largest runs the other way. */
		set_proc(&procs[i], 1000 + i, name, "", 1, 1, (uint64_t)(i + 1) * 100,
			 (uint64_t)(10 - i));
	}
	/* A process that calls itself __other__ joins the bucket once there is one. */
	set_proc(&procs[9], 2000, "__other__", "", 1, 0, 1000000, 1);
	for (int i = 0; i < 6; i++) {
		snprintf(rss[i].command, sizeof(rss[i].command), "r%d", i);
		rss[i].severity = sev[i % 2];
		rss[i].count = (uint64_t)i + 1;
	}

	t = render(&s, 4);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 4);
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"p6\",container_id=\"\"} 700"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"p7\",container_id=\"\"} 800"));
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"p8\",container_id=\"\"} 900"));
	/* p0..p5 (100+...+600) plus the impostor's 1000000. */
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"__other__\",container_id=\"\"} 1002100"));
	assert_true(has_line(t.s, "memory_allocations_tracked_total{process=\"__other__\",container_id=\"\"} 7"));
	assert_true(has_line(t.s, "memory_deallocations_tracked_total{process=\"__other__\",container_id=\"\"} 6"));
	assert_int_equal(count_lines(t.s, "memory_allocations_tracked_total{process=\"p"), 3);
	/* Largest: its own ranking, and the bucket holds a maximum, not a sum. */
	assert_int_equal(count_lines(t.s, "memory_largest_allocation_bytes{"), 4);
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"p0\"} 10"));
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"p1\"} 9"));
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"p2\"} 8"));
	assert_true(has_line(t.s, "memory_largest_allocation_bytes{process=\"__other__\"} 7"));
	/* RSS: one bucket per severity, still four series in all. */
	assert_int_equal(count_lines(t.s, "memory_rss_growth_detected_total{"), 4);
	assert_true(has_line(t.s, "memory_rss_growth_detected_total{process=\"r5\",severity=\"warning\"} 6"));
	assert_true(has_line(t.s, "memory_rss_growth_detected_total{process=\"r4\",severity=\"info\"} 5"));
	assert_true(has_line(t.s, "memory_rss_growth_detected_total{process=\"__other__\",severity=\"info\"} 4"));
	assert_true(has_line(t.s, "memory_rss_growth_detected_total{process=\"__other__\",severity=\"warning\"} 6"));
	promtool_check(&t);
	free(t.s);

	/* Under the cap (and with 0, no cap) nothing is folded. */
	t = render(&s, 0);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 10);
	assert_true(has_line(t.s, "memory_unfreed_memory_bytes{process=\"__other__\",container_id=\"\"} 1000000"));
	assert_int_equal(count_lines(t.s, "memory_rss_growth_detected_total{"), 6);
	free(t.s);
	t = render(&s, 10);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 10);
	free(t.s);
}

/* Renderings of the same snapshot are identical, whatever the input order. */
static void test_deterministic(void **state)
{
	struct mo_proc_metrics a[4], b[4];
	struct mo_metrics_snapshot sa = { .nprocs = 4, .procs = a };
	struct mo_metrics_snapshot sb = { .nprocs = 4, .procs = b };
	struct text ta, tb;

	set_proc(&a[0], 1, "x", "c2", 1, 1, 5, 5);
	set_proc(&a[1], 2, "x", "c1", 1, 1, 5, 5);
	set_proc(&a[2], 3, "y", "", 1, 1, 5, 5);
	set_proc(&a[3], 4, "x", "", 1, 1, 5, 5);
	for (int i = 0; i < 4; i++)
		b[i] = a[3 - i];
	ta = render(&sa, 3);
	tb = render(&sb, 3);
	assert_string_equal(ta.s, tb.s);
	/* Ties in value are broken by labels: x/"" and x/c1 stay. */
	assert_true(has_line(ta.s, "memory_unfreed_memory_bytes{process=\"x\",container_id=\"\"} 5"));
	assert_true(has_line(ta.s, "memory_unfreed_memory_bytes{process=\"x\",container_id=\"c1\"} 5"));
	assert_true(has_line(ta.s, "memory_unfreed_memory_bytes{process=\"__other__\",container_id=\"\"} 10"));
	free(ta.s);
	free(tb.s);
}

static void test_empty_snapshot(void **state)
{
	/* the families outside the counter table, then the table's own */
	static const char *const fixed[][2] = {
		{ "memory_allocations_tracked_total", "counter" },
		{ "memory_deallocations_tracked_total", "counter" },
		{ "memory_unfreed_memory_bytes", "gauge" },
		{ "memory_largest_allocation_bytes", "gauge" },
		{ "memory_rss_growth_detected_total", "counter" },
		{ "memobserver_rss_source", "gauge" },
		{ "memobserver_overhead_budget_ratio", "gauge" },
		{ "memobserver_overhead_estimated_ratio", "gauge" },
		{ "memobserver_overhead_expected_ratio", "gauge" },
		{ "memobserver_probe_duty_cycle", "gauge" },
		{ "memobserver_probes_shed_seconds_total", "counter" },
		{ "memobserver_reachability_pause_seconds_total", "counter" },
		{ "memobserver_reachability_cpu_seconds_total", "counter" },
		{ "memobserver_cpu_seconds_total", "counter" },
		{ "memobserver_resident_memory_bytes", "gauge" },
		{ "memobserver_start_time_seconds", "gauge" },
	};
	static const char *const table[][2] = {
#define FAMILY_ROW(field, kind, family, label, json_key, help) \
	{ family, kind == MO_CK_GAUGE ? "gauge" : "counter" },
		MO_COUNTERS(FAMILY_ROW)
#undef FAMILY_ROW
	};
	const char *families[96][2];
	size_t nfam = 0;
	struct mo_metrics_snapshot s = { 0 };
	char line[128];
	struct text t;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		families[nfam][0] = fixed[i][0];
		families[nfam++][1] = fixed[i][1];
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		/* rows of one family are adjacent */
		if (i && !strcmp(table[i][0], table[i - 1][0]))
			continue;
		assert_true(nfam < 96);
		families[nfam][0] = table[i][0];
		families[nfam++][1] = table[i][1];
	}
	t = render(&s, 200);
	for (size_t i = 0; i < nfam; i++) {
		snprintf(line, sizeof(line), "# HELP %s ", families[i][0]);
		assert_int_equal(count_lines(t.s, line), 1);
		snprintf(line, sizeof(line), "# TYPE %s %s", families[i][0], families[i][1]);
		assert_true(has_line(t.s, line));
	}
	assert_int_equal(count_lines(t.s, "# HELP "), nfam);
	assert_int_equal(count_lines(t.s, "memory_unfreed_memory_bytes{"), 0);
	assert_int_equal(count_lines(t.s, "memory_rss_growth_detected_total{"), 0);
	assert_true(has_line(t.s, "memory_filtered_events_total{reason=\"deduplicated\"} 0"));
	assert_true(has_line(t.s, "memobserver_dropped_events_total{reason=\"event_buffer_full\"} 0"));
	assert_true(has_line(t.s, "memobserver_cpu_seconds_total 0"));
	promtool_check(&t);
	free(t.s);
}

/* Random bytes as names and container ids: promtool parses every rendering. */
static void test_random_names_parse(void **state)
{
	struct mo_proc_metrics procs[64];
	struct mo_rss_growth_metric rss[16];
	struct mo_metrics_snapshot s = { .nprocs = 64, .procs = procs, .nrss = 16, .rss = rss };
	static const char *const sev[] = { "info", "warning", "critical" };
	unsigned seed = 12345;
	struct text t;

	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 64; i++) {
			memset(&procs[i], 0, sizeof(procs[i]));
			procs[i].pid = i;
			for (size_t k = 0; k < (size_t)(rand_r(&seed) % 64); k++)
				procs[i].command[k] = (char)(rand_r(&seed) % 255 + 1);
			for (size_t k = 0; k < (size_t)(rand_r(&seed) % 8); k++)
				procs[i].container_id[k] = (char)(rand_r(&seed) % 255 + 1);
			procs[i].allocations = (uint64_t)rand_r(&seed);
			procs[i].unfreed_bytes = (uint64_t)rand_r(&seed);
			procs[i].largest_allocation = (uint64_t)rand_r(&seed);
		}
		for (int i = 0; i < 16; i++) {
			memset(&rss[i], 0, sizeof(rss[i]));
			for (size_t k = 0; k < (size_t)(rand_r(&seed) % 16); k++)
				rss[i].command[k] = (char)(rand_r(&seed) % 255 + 1);
			rss[i].severity = sev[i % 3];
			rss[i].count = (uint64_t)i;
		}
		t = render(&s, round * 16);
		for (size_t i = 0; i < t.len; i++)
			assert_true(t.s[i] == '\n' || (unsigned char)t.s[i] >= 0x20);
		promtool_check(&t);
		free(t.s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_snapshot_exact),
		cmocka_unit_test(test_label_escape),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_escape_collision_merges),
		cmocka_unit_test(test_aggregate_by_name),
		cmocka_unit_test(test_k8s_labels),
		cmocka_unit_test(test_cardinality_cap),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_empty_snapshot),
		cmocka_unit_test(test_random_names_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
