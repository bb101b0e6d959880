// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * render.c - JSON lines and text rendering of events and reports.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sinks/render.h"

void out_rfc3339(char *buf, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ULL);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (uint64_t)(ns % 1000000000ULL));
}

void out_human_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void json_stack(struct mo_json *j, const struct mo_stack_trace *st)
{
	char addr[32];

	mo_json_key(j, "stack_id");
	snprintf(addr, sizeof(addr), "0x%016" PRIx64, st->id);
	mo_json_str(j, addr);
	if (st->flags) {
		mo_json_key(j, "stack_partial");
		mo_json_bool(j, true);
	}
	mo_json_key(j, "stack");
	mo_json_arr_begin(j);
	for (size_t i = 0; i < st->nframes; i++) {
		const struct mo_frame *f = &st->frames[i];

		mo_json_obj_begin(j);
		mo_json_key(j, "address");
		snprintf(addr, sizeof(addr), "0x%" PRIx64, f->address);
		mo_json_str(j, addr);
		if (f->symbol) {
			mo_json_key(j, "symbol");
			mo_json_str(j, f->symbol);
			if (f->linkage_name) {
				mo_json_key(j, "linkage_name");
				mo_json_str(j, f->linkage_name);
			}
			mo_json_key(j, "offset");
			mo_json_u64(j, f->offset);
		}
		if (f->module) {
			mo_json_key(j, "module");
			mo_json_str(j, f->module);
			mo_json_key(j, "module_offset");
			snprintf(addr, sizeof(addr), "0x%" PRIx64, f->module_offset);
			mo_json_str(j, addr);
		}
		if (f->file) {
			mo_json_key(j, "file");
			mo_json_str(j, f->file);
		}
		if (f->line > 0) {
			mo_json_key(j, "line");
			mo_json_i64(j, f->line);
		}
		if (f->inlined) {
			mo_json_key(j, "inlined");
			mo_json_bool(j, true);
		}
		mo_json_obj_end(j);
	}
	mo_json_arr_end(j);
}

/* The Kubernetes names that are known, as fields. */
static void json_k8s(struct mo_json *j, const char *ns, const char *pod, const char *ctr)
{
	const char *const kv[][2] = {
		{ "k8s_namespace", ns }, { "k8s_pod", pod }, { "k8s_container", ctr },
	};

	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!kv[i][1][0])
			continue;
		mo_json_key(j, kv[i][0]);
		mo_json_str(j, kv[i][1]);
	}
}

/* " [k8s namespace/pod/container]" after a process, when its pod is known. */
static void text_k8s(struct mo_buf *b, const char *ns, const char *pod, const char *ctr)
{
	if (!pod[0])
		return;
	mo_buf_puts(b, " [k8s ");
	mo_text_escape(b, ns, strlen(ns));
	mo_buf_puts(b, "/");
	mo_text_escape(b, pod, strlen(pod));
	if (ctr[0]) {
		mo_buf_puts(b, "/");
		mo_text_escape(b, ctr, strlen(ctr));
	}
	mo_buf_puts(b, "]");
}

static void json_reach(struct mo_json *j, const struct mo_event *ev)
{
	const struct mo_reachability *r = &ev->reach;

	mo_json_key(j, "reachability");
	mo_json_str(j, r->verdict);
	if (r->reason) {
		mo_json_key(j, "reachability_reason");
		mo_json_str(j, r->reason);
	}
	mo_json_key(j, "reachability_bytes");
	mo_json_obj_begin(j);
	mo_json_key(j, "definitely_lost");
	mo_json_u64(j, r->definitely_lost_bytes);
	mo_json_key(j, "indirectly_lost");
	mo_json_u64(j, r->indirectly_lost_bytes);
	mo_json_key(j, "reachable");
	mo_json_u64(j, r->reachable_bytes);
	mo_json_key(j, "unknown");
	mo_json_u64(j, r->unknown_bytes);
	mo_json_obj_end(j);
	mo_json_key(j, "reachability_blocks");
	mo_json_u64(j, r->blocks);
	mo_json_key(j, "reachability_mode");
	mo_json_str(j, r->mode);
	if (!strcmp(ev->kind, "reachability_scan")) {
		mo_json_key(j, "pause_seconds");
		mo_json_double(j, (double)r->scan_pause_ns / 1e9);
		mo_json_key(j, "cpu_seconds");
		mo_json_double(j, (double)r->scan_cpu_ns / 1e9);
		mo_json_key(j, "scanned_bytes");
		mo_json_u64(j, r->scan_bytes);
	} else {
		mo_json_key(j, "reachability_age_seconds");
		mo_json_double(j, r->age_seconds);
	}
}

/* "; definitely_lost (64.0 MiB definitely lost, 0 B indirectly, stop scan 1.2s ago)" */
static void text_reach(struct mo_buf *b, const struct mo_reachability *r)
{
	char dl[32], il[32], re[32], un[32];

	if (!r->verdict)
		return;
	out_human_bytes(dl, sizeof(dl), r->definitely_lost_bytes);
	out_human_bytes(il, sizeof(il), r->indirectly_lost_bytes);
	out_human_bytes(re, sizeof(re), r->reachable_bytes);
	out_human_bytes(un, sizeof(un), r->unknown_bytes);
	mo_buf_printf(b, "; %s%s%s (definitely lost %s, indirectly %s, reachable %s, unknown %s; "
			 "%s scan %.1fs ago)",
		      r->verdict, r->reason ? ": " : "", r->reason ? r->reason : "", dl, il, re, un,
		      r->mode, r->age_seconds);
}

static void json_event(struct mo_buf *b, const struct mo_event *ev)
{
	struct mo_json j;
	char ts[64];

	mo_json_init(&j, b);
	mo_json_obj_begin(&j);
	mo_json_key(&j, "type");
	mo_json_str(&j, mo_event_type_name(ev->type));
	mo_json_key(&j, "kind");
	mo_json_str(&j, ev->kind);
	if (ev->severity) {
		mo_json_key(&j, "severity");
		mo_json_str(&j, ev->severity);
	}
	out_rfc3339(ts, sizeof(ts), ev->timestamp_ns);
	mo_json_key(&j, "timestamp");
	mo_json_str(&j, ts);
	mo_json_key(&j, "pid");
	mo_json_i64(&j, ev->pid);
	mo_json_key(&j, "command");
	mo_json_str(&j, ev->command);
	mo_json_key(&j, "container_id");
	mo_json_str(&j, ev->container_id);
	if (ev->pod_uid[0]) {
		mo_json_key(&j, "pod_uid");
		mo_json_str(&j, ev->pod_uid);
	}
	json_k8s(&j, ev->k8s_namespace, ev->k8s_pod, ev->k8s_container);
	if (ev->cgroup[0]) {
		mo_json_key(&j, "cgroup");
		mo_json_str(&j, ev->cgroup);
	}
	if (ev->cgroup_id) {
		mo_json_key(&j, "cgroup_id");
		mo_json_u64(&j, ev->cgroup_id);
	}
	mo_json_key(&j, "size_bytes");
	mo_json_u64(&j, ev->size_bytes);
	if (ev->type == MO_EVENT_MEMORY_PRESSURE || !strcmp(ev->kind, "exit") ||
	    !strcmp(ev->kind, "oom_kill")) {
		mo_json_key(&j, "unfreed_bytes");
		mo_json_u64(&j, ev->unfreed_bytes);
		mo_json_key(&j, "count");
		mo_json_u64(&j, ev->count);
	}
	if (ev->type == MO_EVENT_MEMORY_PRESSURE) {
		mo_json_key(&j, "age_seconds");
		mo_json_double(&j, ev->age_seconds);
		mo_json_key(&j, "estimate");
		mo_json_bool(&j, ev->estimate);
		mo_json_key(&j, "final");
		mo_json_bool(&j, ev->final);
		if (ev->pattern) {
			mo_json_key(&j, "pattern");
			mo_json_str(&j, ev->pattern);
			mo_json_key(&j, "growth_bytes_per_s");
			mo_json_double(&j, ev->growth_bytes_per_s);
			mo_json_key(&j, "confidence");
			mo_json_double(&j, ev->confidence);
			mo_json_key(&j, "rss_validated");
			mo_json_bool(&j, ev->rss_validated);
			mo_json_key(&j, "repeats");
			mo_json_u64(&j, ev->repeats);
		}
	}
	if (!strcmp(ev->kind, "rss_growth") || !strcmp(ev->kind, "oom_risk")) {
		mo_json_key(&j, "rss_bytes");
		mo_json_u64(&j, ev->rss_bytes);
		mo_json_key(&j, "growth_bytes");
		mo_json_u64(&j, ev->growth_bytes);
		mo_json_key(&j, "window_seconds");
		mo_json_double(&j, ev->window_seconds);
		mo_json_key(&j, "growth_bytes_per_s");
		mo_json_double(&j, ev->growth_bytes_per_s);
	}
	if (!strcmp(ev->kind, "oom_risk")) {
		mo_json_key(&j, "predicted_oom_seconds");
		mo_json_double(&j, ev->predicted_oom_seconds);
		mo_json_key(&j, "limit_bytes");
		mo_json_u64(&j, ev->limit_bytes);
	}
	if (ev->address) {
		char a[32];

		if (!strcmp(ev->kind, "fork")) {
			mo_json_key(&j, "child_pid");
			mo_json_u64(&j, ev->address);
		} else {
			snprintf(a, sizeof(a), "0x%" PRIx64, ev->address);
			mo_json_key(&j, "address");
			mo_json_str(&j, a);
		}
	}
	if (ev->tier) {
		mo_json_key(&j, "tier");
		mo_json_str(&j, ev->tier);
	}
	if (ev->detail[0]) {
		mo_json_key(&j, "detail");
		mo_json_str(&j, ev->detail);
	}
	if (ev->reach.verdict)
		json_reach(&j, ev);
	if (ev->stack.id || ev->stack.nframes)
		json_stack(&j, &ev->stack);
	mo_json_obj_end(&j);
	mo_buf_puts(b, "\n");
}

void out_frame(struct mo_buf *b, const struct mo_frame *f)
{
	mo_buf_printf(b, "0x%016" PRIx64 " ", f->address);
	if (f->symbol) {
		mo_text_escape(b, f->symbol, strlen(f->symbol));
		mo_buf_printf(b, "+0x%" PRIx64, f->offset);
	} else {
		mo_buf_puts(b, "??");
	}
	if (f->inlined)
		mo_buf_puts(b, " (inlined)");
	if (f->file) {
		mo_buf_puts(b, " at ");
		mo_text_escape(b, f->file, strlen(f->file));
		if (f->line > 0)
			mo_buf_printf(b, ":%d", f->line);
	}
	if (f->module) {
		mo_buf_puts(b, " in ");
		mo_text_escape(b, f->module, strlen(f->module));
	}
}

static void text_frames(struct mo_buf *b, const struct mo_stack_trace *st)
{
	if (!st->nframes) {
		mo_buf_puts(b, "        (no stack: see drop counters)\n");
		return;
	}
	for (size_t i = 0; i < st->nframes; i++) {
		mo_buf_printf(b, "        #%-2zu ", i);
		out_frame(b, &st->frames[i]);
		mo_buf_puts(b, "\n");
	}
	if (st->flags)
		mo_buf_puts(b, "        (stack may be incomplete)\n");
}

/* What the text output writes under an event's headline. */
enum text_stack { STACK_NONE, STACK_IF_ANY, STACK_ALWAYS };

/* The headline, and (through *stack) whether the stack follows it. */
static void headline(struct mo_buf *b, const struct mo_event *ev, enum text_stack *stack)
{
	char sz[32], unf[32];

	*stack = STACK_NONE;
	out_human_bytes(sz, sizeof(sz), ev->size_bytes);
	out_human_bytes(unf, sizeof(unf), ev->unfreed_bytes);
	mo_buf_printf(b, "%s/%s pid %d (", mo_event_type_name(ev->type), ev->kind, (int)ev->pid);
	mo_text_escape(b, ev->command, strlen(ev->command));
	mo_buf_puts(b, ")");
	text_k8s(b, ev->k8s_namespace, ev->k8s_pod, ev->k8s_container);
	if (!strcmp(ev->kind, "mmap") || !strcmp(ev->kind, "munmap") ||
	    !strcmp(ev->kind, "large_allocation")) {
		mo_buf_printf(b, ": %s at 0x%" PRIx64, sz, ev->address);
		*stack = STACK_IF_ANY;
	} else if (!strcmp(ev->kind, "oom_risk")) {
		char lim[32], use[32];

		out_human_bytes(lim, sizeof(lim), ev->limit_bytes);
		out_human_bytes(use, sizeof(use), ev->rss_bytes);
		mo_buf_printf(b, ": out of memory in about %.0fs (%s of %s, growing %.0f B/s)",
			      ev->predicted_oom_seconds, use, lim, ev->growth_bytes_per_s);
	} else if (ev->type == MO_EVENT_MEMORY_PRESSURE && ev->tier && !strcmp(ev->tier, "watch")) {
		mo_buf_printf(b, ": %s of resident memory faulted in by this stack (watch tier, "
			      "sampled); %s %.0f B/s (confidence %.2f), RSS grew with it",
			      unf, ev->pattern ? ev->pattern : "growing", ev->growth_bytes_per_s,
			      ev->confidence);
		*stack = STACK_ALWAYS;
	} else if (ev->type == MO_EVENT_MEMORY_PRESSURE) {
		mo_buf_printf(b, ": %s unfreed in %" PRIu64 " allocation%s, oldest %.1fs%s%s",
			      unf, ev->count, ev->count == 1 ? "" : "s", ev->age_seconds,
			      ev->estimate ? " (estimate)" : "",
			      ev->final ? " [held at exit]" : "");
		if (ev->pattern)
			mo_buf_printf(b, "; %s %.0f B/s (confidence %.2f)%s", ev->pattern,
				      ev->growth_bytes_per_s, ev->confidence,
				      ev->rss_validated ? ", RSS grew with it" : "");
		text_reach(b, &ev->reach);
		*stack = STACK_ALWAYS;
	} else if (!strcmp(ev->kind, "rss_growth")) {
		char g[32], rss[32];

		out_human_bytes(g, sizeof(g), ev->growth_bytes);
		out_human_bytes(rss, sizeof(rss), ev->rss_bytes);
		mo_buf_printf(b, ": RSS grew %s in %.0fs to %s [%s]", g, ev->window_seconds, rss,
			      ev->severity ? ev->severity : "");
	} else if (!strcmp(ev->kind, "exit")) {
		mo_buf_printf(b, ": exited holding %s in %" PRIu64 " tracked allocations", unf,
			      ev->count);
	} else if (!strcmp(ev->kind, "oom_kill")) {
		mo_buf_printf(b, ": killed by the OOM killer holding %s in %" PRIu64
			      " tracked allocations; biggest holder:", unf, ev->count);
		*stack = STACK_ALWAYS;
	} else if (!strcmp(ev->kind, "reachability_scan")) {
		mo_buf_puts(b, ": ");
		mo_text_escape(b, ev->detail, strlen(ev->detail));
		mo_buf_printf(b, "; paused %.1f ms, CPU %.1f ms [%s]",
			      (double)ev->reach.scan_pause_ns / 1e6, (double)ev->reach.scan_cpu_ns / 1e6,
			      ev->severity ? ev->severity : "");
	} else if (!strcmp(ev->kind, "fork")) {
		mo_buf_printf(b, ": forked child %" PRIu64, ev->address);
	} else if (ev->detail[0]) {
		mo_buf_puts(b, ": ");
		mo_text_escape(b, ev->detail, strlen(ev->detail));
	}
}

void out_event_headline(struct mo_buf *b, const struct mo_event *ev)
{
	enum text_stack stack;

	headline(b, ev, &stack);
}

static void text_event(struct mo_buf *b, const struct mo_event *ev)
{
	enum text_stack stack;
	char ts[64];

	out_rfc3339(ts, sizeof(ts), ev->timestamp_ns);
	mo_buf_printf(b, "%s ", ts);
	headline(b, ev, &stack);
	mo_buf_puts(b, "\n");
	if (stack == STACK_ALWAYS || (stack == STACK_IF_ANY && ev->stack.nframes))
		text_frames(b, &ev->stack);
}

void out_event(struct mo_buf *b, enum out_format fmt, const struct mo_event *ev)
{
	if (fmt == OUT_JSON)
		json_event(b, ev);
	else
		text_event(b, ev);
}

/* The counters of one kind (MO_CK_*) as "key": value pairs. */
static void counters_kind_json(struct mo_json *j, const struct mo_counters *c, int want)
{
#define MO_JSON_ROW(field, kind, family, label, json_key, help) \
	if (kind == want && json_key) {                          \
		mo_json_key(j, json_key);                        \
		mo_json_u64(j, c->field);                        \
	}
	MO_COUNTERS(MO_JSON_ROW)
#undef MO_JSON_ROW
}

static void counters_json(struct mo_json *j, const struct mo_counters *c)
{
	counters_kind_json(j, c, MO_CK_COUNTER);
	counters_kind_json(j, c, MO_CK_GAUGE);
	mo_json_key(j, "scan_pause_seconds");
	mo_json_double(j, (double)c->scan_pause_ns / 1e9);
	mo_json_key(j, "scan_cpu_seconds");
	mo_json_double(j, (double)c->scan_cpu_ns / 1e9);
	mo_json_key(j, "drops");
	mo_json_obj_begin(j);
	counters_kind_json(j, c, MO_CK_DROP);
	mo_json_obj_end(j);
	mo_json_key(j, "filtered");
	mo_json_obj_begin(j);
	counters_kind_json(j, c, MO_CK_FILTER);
	mo_json_obj_end(j);
	if (c->overhead_budget > 0) {
		mo_json_key(j, "overhead");
		mo_json_obj_begin(j);
		mo_json_key(j, "budget");
		mo_json_double(j, c->overhead_budget);
		mo_json_key(j, "estimated");
		mo_json_double(j, c->overhead_estimated);
		mo_json_key(j, "expected");
		mo_json_double(j, c->overhead_expected);
		mo_json_key(j, "duty_cycle");
		mo_json_double(j, c->overhead_duty);
		mo_json_key(j, "shed_seconds");
		mo_json_double(j, (double)c->shed_ns / 1e9);
		mo_json_key(j, "unattainable");
		mo_json_u64(j, c->shed_unattainable);
		mo_json_key(j, "stale_calls");
		mo_json_u64(j, c->stale_calls);
		mo_json_obj_end(j);
	}
}

/* "what: N key words, N key words" for the counters of one kind. */
static void counters_kind_text(struct mo_buf *b, const char *what, const struct mo_counters *c,
			       int want)
{
	const char *sep = ": ";

	mo_buf_puts(b, what);
#define MO_TEXT_ROW(field, kind, family, label, json_key, help)        \
	if (kind == want && json_key) {                                 \
		mo_buf_printf(b, "%s%" PRIu64 " ", sep, c->field);      \
		for (const char *p = json_key; *p; p++)                 \
			mo_buf_append(b, *p == '_' ? " " : p, 1);       \
		sep = ", ";                                             \
	}
	MO_COUNTERS(MO_TEXT_ROW)
#undef MO_TEXT_ROW
	mo_buf_puts(b, "\n");
}

void out_report(struct mo_buf *b, enum out_format fmt, const struct mo_report *r,
		const char *scope, const char *observer)
{
	char ts[64], h[32], age[32];

	out_rfc3339(ts, sizeof(ts), r->timestamp_ns);
	if (fmt == OUT_JSON) {
		struct mo_json j;

		for (size_t i = 0; i < r->nleaks; i++) {
			const struct mo_leak *l = &r->leaks[i];
			struct mo_event ev = {
				.type = MO_EVENT_MEMORY_PRESSURE,
				.kind = l->kind ? l->kind : "leak",
				.severity = "warning",
				.timestamp_ns = r->timestamp_ns,
				.pid = l->pid,
				.size_bytes = l->largest,
				.unfreed_bytes = l->unfreed_bytes,
				.count = l->count,
				.age_seconds = (double)l->oldest_age_ns / 1e9,
				.estimate = l->estimate,
				.final = true,
				.stack = l->stack,
				.pattern = l->pattern,
				.growth_bytes_per_s = l->growth_bytes_per_s,
				.confidence = l->confidence,
				.reach = l->reach,
			};

			if (l->severity)
				ev.severity = l->severity;
			snprintf(ev.container_id, sizeof(ev.container_id), "%s", l->container_id);
			snprintf(ev.pod_uid, sizeof(ev.pod_uid), "%s", l->pod_uid);
			snprintf(ev.k8s_namespace, sizeof(ev.k8s_namespace), "%s", l->k8s_namespace);
			snprintf(ev.k8s_pod, sizeof(ev.k8s_pod), "%s", l->k8s_pod);
			snprintf(ev.k8s_container, sizeof(ev.k8s_container), "%s", l->k8s_container);

			snprintf(ev.command, sizeof(ev.command), "%s", l->command);
			json_event(b, &ev);
		}
		mo_json_init(&j, b);
		mo_json_obj_begin(&j);
		mo_json_key(&j, "type");
		mo_json_str(&j, "summary");
		mo_json_key(&j, "timestamp");
		mo_json_str(&j, ts);
		mo_json_key(&j, "observer");
		mo_json_str(&j, observer);
		mo_json_key(&j, "scope");
		mo_json_str(&j, scope);
		mo_json_key(&j, "leaking_stacks");
		mo_json_u64(&j, r->nleaks);
		mo_json_key(&j, "unfreed_bytes");
		mo_json_u64(&j, r->total_unfreed_bytes);
		mo_json_key(&j, "count");
		mo_json_u64(&j, r->total_count);
		mo_json_key(&j, "outstanding_bytes");
		mo_json_u64(&j, r->outstanding_bytes);
		mo_json_key(&j, "outstanding_count");
		mo_json_u64(&j, r->outstanding_count);
		mo_json_key(&j, "min_unfreed_age_seconds");
		mo_json_double(&j, (double)r->min_unfreed_age_ns / 1e9);
		mo_json_key(&j, "estimate");
		mo_json_bool(&j, r->estimate);
		counters_json(&j, &r->counters);
		mo_json_obj_end(&j);
		mo_buf_puts(b, "\n");
		return;
	}

	out_human_bytes(h, sizeof(h), r->total_unfreed_bytes);
	mo_buf_puts(b, "\n=== ");
	mo_text_escape(b, observer, strlen(observer));
	mo_buf_printf(b, " leak report (%s) at %s ===\n", scope, ts);
	if (!r->nleaks) {
		mo_buf_printf(b, "No leaks: no unfreed allocation older than %.1fs.\n",
			      (double)r->min_unfreed_age_ns / 1e9);
	} else {
		mo_buf_printf(b,
			      "%zu leaking stack%s, %s unfreed in %" PRIu64
			      " allocations%s (unfreed at process exit, or older than %.1fs)\n",
			      r->nleaks, r->nleaks == 1 ? "" : "s", h, r->total_count,
			      r->estimate ? " (estimate: sampled or probes shed)" : "",
			      (double)r->min_unfreed_age_ns / 1e9);
	}
	for (size_t i = 0; i < r->nleaks; i++) {
		const struct mo_leak *l = &r->leaks[i];

		out_human_bytes(h, sizeof(h), l->unfreed_bytes);
		snprintf(age, sizeof(age), "%.1fs", (double)l->oldest_age_ns / 1e9);
		mo_buf_printf(b, "\n#%zu  %s (%" PRIu64 " bytes) unfreed in %" PRIu64
			      " allocation%s, oldest %s%s, %s  [pid %d ",
			      i + 1, h, l->unfreed_bytes, l->count, l->count == 1 ? "" : "s", age,
			      l->estimate ? ", estimate" : "", l->pattern ? l->pattern : "unknown",
			      (int)l->pid);
		mo_text_escape(b, l->command, strlen(l->command));
		mo_buf_puts(b, "]");
		text_k8s(b, l->k8s_namespace, l->k8s_pod, l->k8s_container);
		if (l->kind && strcmp(l->kind, "leak"))
			mo_buf_printf(b, " %s", l->kind);
		text_reach(b, &l->reach);
		mo_buf_puts(b, "\n");
		text_frames(b, &l->stack);
	}
	mo_buf_printf(b,
		      "\ntracked %" PRIu64 " allocations, %" PRIu64 " frees matched; "
		      "%" PRIu64 " probes attached\n",
		      r->counters.allocs_tracked, r->counters.frees_matched,
		      r->counters.probes_attached);
	counters_kind_text(b, "filtered", &r->counters, MO_CK_FILTER);
	counters_kind_text(b, "dropped", &r->counters, MO_CK_DROP);
	if (r->counters.overhead_budget > 0)
		mo_buf_printf(b,
			      "overhead budget %.2f%%: probe cost estimated at %.1f%% of the work, "
			      "allocating probes attached %.0f%% of the time (shed %.1fs, about "
			      "%" PRIu64 " allocating calls unseen)\n",
			      r->counters.overhead_budget * 100, r->counters.overhead_estimated * 100,
			      r->counters.overhead_duty * 100, (double)r->counters.shed_ns / 1e9,
			      r->counters.shed_allocs_estimated);
}
