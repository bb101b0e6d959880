// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp.c - the OTLP encoding, decoded again with protoc-c's unpack
 * functions: every resource attribute, every row of the counter table and
 * of the snapshot's values as a metric (name, unit, kind, temporality,
 * start and point times, value, point attributes), the resource cap, and
 * every log record field for each event kind, including hostile strings
 * (invalid UTF-8, control characters) that must arrive escaped and valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <protobuf-c/protobuf-c.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#include "json.h"
#include "sinks/metrics.h"
#include "sinks/otlp.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_rmetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_point;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs pb_rlogs;
typedef Opentelemetry__Proto__Logs__V1__LogRecord pb_log;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_mreq;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest pb_lreq;

#define NOW 1700000000123456789ULL
#define START 1700000000ULL
#define HOST "node-1"

#define ANY(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define AS_INT OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
#define AS_DOUBLE OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE
#define DATA_SUM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
#define DATA_GAUGE OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE
#define CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define SEV(x) OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_##x

static const pb_any *find(pb_kv *const *kv, size_t n, const char *key)
{
	const pb_any *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(kv[i]->key, key)) {
			assert_null(found);	/* keys are unique */
			found = kv[i]->value;
			assert_non_null(found);
		}
	}
	return found;
}

/* The value of key, which must be of case vc (NULL when absent). */
static const pb_any *typed(pb_kv *const *kv, size_t n, const char *key, int vc)
{
	const pb_any *v = find(kv, n, key);

	if (v)
		assert_int_equal(v->value_case, vc);
	return v;
}

static const char *str_of(pb_kv *const *kv, size_t n, const char *key)
{
	const pb_any *v = typed(kv, n, key, ANY(STRING_VALUE));

	return v ? v->string_value : NULL;
}

#define MUST(v) (assert_non_null(v), (v))
#define int_of(kv, n, key) MUST(typed(kv, n, key, ANY(INT_VALUE)))->int_value
#define double_of(kv, n, key) MUST(typed(kv, n, key, ANY(DOUBLE_VALUE)))->double_value
#define bool_of(kv, n, key) MUST(typed(kv, n, key, ANY(BOOL_VALUE)))->bool_value

/* Valid UTF-8 without control characters: what every escaped string is. */
static void assert_clean(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : mo_utf8_len((const unsigned char *)s + i, len - i);

		assert_true(n > 0);
		if (n == 1)
			assert_true(c >= 0x20 && c != 0x7f);
		i += n;
	}
}

static void check_scope(const Opentelemetry__Proto__Common__V1__InstrumentationScope *sc)
{
	assert_non_null(sc);
	assert_string_equal(sc->name, "memobserver");
	assert_string_equal(sc->version, MO_VERSION);
}

/* ---- metrics ---- */

static pb_mreq *encode_metrics(const struct mo_metrics_snapshot *s, size_t max_res)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	pb_mreq *req;

	assert_int_equal(mo_otlp_metrics_encode(s, HOST, NOW, max_res, &buf, &len), 0);
	assert_true(len > 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	/* nothing the schema does not know */
	for (size_t i = 0; i < req->n_resource_metrics; i++)
		assert_int_equal(req->resource_metrics[i]->base.n_unknown_fields, 0);
	free(buf);
	return req;
}

static void free_mreq(pb_mreq *req)
{
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

static const pb_rmetrics *resource_of(const pb_mreq *req, const char *exe, int64_t pid)
{
	for (size_t i = 0; i < req->n_resource_metrics; i++) {
		const pb_rmetrics *rm = req->resource_metrics[i];
		pb_kv *const *kv = rm->resource->attributes;
		size_t n = rm->resource->n_attributes;
		const char *e = str_of(kv, n, "process.executable.name");
		const pb_any *p = find(kv, n, "process.pid");

		if (!exe ? !e : e && !strcmp(e, exe) && (p ? p->int_value : 0) == pid)
			return rm;
	}
	return NULL;
}

static const pb_metric *metric_of(const pb_rmetrics *rm, const char *name)
{
	assert_int_equal(rm->n_scope_metrics, 1);
	check_scope(rm->scope_metrics[0]->scope);
	for (size_t i = 0; i < rm->scope_metrics[0]->n_metrics; i++) {
		const pb_metric *m = rm->scope_metrics[0]->metrics[i];

		if (!strcmp(m->name, name))
			return m;
	}
	fail_msg("no metric %s", name);
	return NULL;
}

/* The points of m after checking its kind and timestamps. */
static pb_point **points(const pb_metric *m, int kind, size_t *n)
{
	pb_point **p;

	assert_true(m->description && m->description[0]);
	assert_int_equal(m->data_case, kind);
	if (kind == DATA_SUM) {
		assert_int_equal(m->sum->aggregation_temporality, CUMULATIVE);
		assert_true(m->sum->is_monotonic);
		*n = m->sum->n_data_points;
		p = m->sum->data_points;
	} else {
		*n = m->gauge->n_data_points;
		p = m->gauge->data_points;
	}
	for (size_t i = 0; i < *n; i++) {
		assert_int_equal(p[i]->time_unix_nano, NOW);
		assert_int_equal(p[i]->start_time_unix_nano, kind == DATA_SUM ? START * 1000000000ULL : 0);
		assert_int_equal(p[i]->flags, 0);
	}
	return p;
}

static const pb_point *only_point(const pb_rmetrics *rm, const char *name, int kind,
				  const char *unit)
{
	const pb_metric *m = metric_of(rm, name);
	pb_point **p;
	size_t n;

	assert_string_equal(m->unit, unit);
	p = points(m, kind, &n);
	assert_int_equal(n, 1);
	assert_int_equal(p[0]->n_attributes, 0);
	return p[0];
}

static void one_int(const pb_rmetrics *rm, const char *name, int kind, const char *unit,
		    int64_t v)
{
	const pb_point *p = only_point(rm, name, kind, unit);

	assert_int_equal(p->value_case, AS_INT);
	assert_int_equal(p->as_int, v);
}

static void one_double(const pb_rmetrics *rm, const char *name, int kind, const char *unit,
		       double v)
{
	const pb_point *p = only_point(rm, name, kind, unit);

	assert_int_equal(p->value_case, AS_DOUBLE);
	assert_true(p->as_double == v);
}

/* Whether p's attributes are exactly the string pairs of label "k=v[,k=v]". */
static bool has_label(const pb_point *p, const char *label)
{
	char buf[256], *save = NULL;
	size_t n = 0;

	if (!label)
		return p->n_attributes == 0;
	snprintf(buf, sizeof(buf), "%s", label);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save), n++) {
		char *eq = strchr(kv, '=');
		const char *v;

		assert_non_null(eq);
		*eq = '\0';
		v = str_of(p->attributes, p->n_attributes, kv);
		if (!v || strcmp(v, eq + 1))
			return false;
	}
	return p->n_attributes == n;
}

/* The one point of m labelled label. */
static const pb_point *point_by(const pb_metric *m, int kind, const char *label)
{
	size_t n;
	pb_point **p = points(m, kind, &n);
	const pb_point *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (has_label(p[i], label)) {
			assert_null(found);
			found = p[i];
		}
	}
	if (!found)
		fail_msg("%s has no point {%s}", m->name, label ? label : "");
	return found;
}

/* The OTLP name a table family must have: counters lose _total. */
static const char *otlp_name_of(const char *family, int kind)
{
	static char name[128];
	size_t n = strlen(family);

	if (kind != MO_CK_GAUGE) {
		assert_true(n > 6 && !strcmp(family + n - 6, "_total"));
		n -= 6;
	}
	snprintf(name, sizeof(name), "%.*s", (int)n, family);
	return name;
}

/* Every counter a distinct value (1000 + its row), the rest as given. */
static struct mo_metrics_snapshot snapshot(struct mo_proc_metrics *p, size_t np,
					   struct mo_rss_growth_metric *r, size_t nr)
{
	struct mo_metrics_snapshot s = {
		.nprocs = np, .procs = p, .nrss = nr, .rss = r,
		.counters = {
			.rss_from_proc = true, .overhead_budget = 0.05,
			.overhead_estimated = 0.25, .overhead_expected = 0.125,
			.overhead_duty = 0.5, .shed_ns = 1500000000,
		},
		.self_cpu_seconds = 2.5,
		.self_rss_bytes = 4096 * 25,
		.start_time_seconds = START,
	};

#define SET_ROW(field, kind, family, label, json_key, help) \
	s.counters.field = 1000 + MO_CTR_##field;
	MO_COUNTERS(SET_ROW)
#undef SET_ROW
	return s;
}

/* Every row of the counter table and of the snapshot's values is a point. */
static void test_metrics_every_row(void **state)
{
	struct mo_metrics_snapshot snap = snapshot(NULL, 0, NULL, 0);
	const struct mo_metrics_snapshot *s = &snap;
	const pb_rmetrics *rm;
	const char *prev = "";
	size_t families = 1;	/* memory_rss_growth_detected */
	pb_mreq *req;

	(void)state;
	req = encode_metrics(s, 0);
	assert_int_equal(req->n_resource_metrics, 1);
	rm = resource_of(req, NULL, 0);
	assert_non_null(rm);
#define CHECK_ROW(field, kind, family, label, json_key, help)                                 \
	{                                                                                     \
		const pb_metric *m = metric_of(rm, otlp_name_of(family, kind));                \
		const pb_point *p = point_by(m, kind == MO_CK_GAUGE ? DATA_GAUGE : DATA_SUM,   \
					     label);                                          \
                                                                                              \
		assert_string_equal(m->description, help);                                    \
		assert_int_equal(p->value_case, AS_INT);                                      \
		assert_int_equal(p->as_int, 1000 + MO_CTR_##field);                           \
		families += !!strcmp(prev, family);                                           \
		prev = family;                                                                \
	}
	MO_COUNTERS(CHECK_ROW)
#undef CHECK_ROW
#define CHECK_VALUE(family, kind, label, is_double, value, help)                              \
	{                                                                                     \
		const pb_metric *m = metric_of(rm, otlp_name_of(family, kind));                \
		const pb_point *p = point_by(m, kind == MO_CK_GAUGE ? DATA_GAUGE : DATA_SUM,   \
					     label);                                          \
                                                                                              \
		assert_string_equal(m->description, help);                                    \
		assert_int_equal(p->value_case, is_double ? AS_DOUBLE : AS_INT);              \
		if (is_double)                                                                \
			assert_true(p->as_double == (double)(value));                         \
		else                                                                          \
			assert_int_equal(p->as_int, (int64_t)(value));                        \
		families += !!strcmp(prev, family);                                           \
		prev = family;                                                                \
	}
	MO_SNAPSHOT_VALUES(CHECK_VALUE)
#undef CHECK_VALUE
	/* nothing else on the host resource */
	assert_int_equal(rm->scope_metrics[0]->n_metrics, families);

	/* what the generic loop takes for granted, spelled out */
	assert_int_equal(point_by(metric_of(rm, "memobserver_dropped_events"), DATA_SUM,
				  "reason=allocation_table_full")->as_int,
			 1000 + MO_CTR_drop_alloc_table_full);
	assert_int_equal(point_by(metric_of(rm, "memobserver_otlp_requests_dropped"), DATA_SUM,
				  "signal=logs,reason=rejected")->as_int,
			 1000 + MO_CTR_otlp_logs_rejected);
	assert_int_equal(point_by(metric_of(rm, "memobserver_otlp_requests_sent"), DATA_SUM,
				  "signal=metrics")->as_int,
			 1000 + MO_CTR_otlp_metrics_sent);
	one_int(rm, "memobserver_output_write_errors", DATA_SUM, "",
		1000 + MO_CTR_output_write_errors);
	one_int(rm, "memobserver_allocator_calls", DATA_SUM, "", 1000 + MO_CTR_alloc_calls);
	one_int(rm, "memobserver_probes_attached", DATA_GAUGE, "", 1000 + MO_CTR_probes_attached);
	assert_int_equal(point_by(metric_of(rm, "memobserver_rss_source"), DATA_GAUGE,
				  "source=proc")->as_int, 1);
	assert_int_equal(point_by(metric_of(rm, "memobserver_rss_source"), DATA_GAUGE,
				  "source=rss_stat")->as_int, 0);
	one_double(rm, "memobserver_overhead_budget_ratio", DATA_GAUGE, "1", 0.05);
	one_double(rm, "memobserver_probe_duty_cycle", DATA_GAUGE, "", 0.5);
	one_double(rm, "memobserver_probes_shed_seconds", DATA_SUM, "s", 1.5);
	one_double(rm, "memobserver_cpu_seconds", DATA_SUM, "s", 2.5);
	one_int(rm, "memobserver_resident_memory_bytes", DATA_GAUGE, "By", 4096 * 25);
	one_int(rm, "memobserver_start_time_seconds", DATA_GAUGE, "s", START);
	/* no RSS growth yet: the family is there with no points */
	assert_int_equal(metric_of(rm, "memory_rss_growth_detected")->sum->n_data_points, 0);
	free_mreq(req);
}

static void test_metrics_resources(void **state)
{
	struct mo_proc_metrics p[] = {
		{ .pid = 42, .command = "server", .container_id = "abc", .pod_uid = "pod-1",
		  .k8s_namespace = "shop", .k8s_pod = "cart-7d9f", .k8s_container = "app\n",
		  .allocations = 100, .deallocations = 40, .unfreed_bytes = 6000,
		  .largest_allocation = 1 << 20 },
		{ .pid = 43, .command = "worker", .allocations = 7, .deallocations = 7 },
		/* an exited process, kept by name */
		{ .pid = 0, .command = "gone", .allocations = 3, .deallocations = 1,
		  .largest_allocation = 77 },
	};
	struct mo_rss_growth_metric r[] = {
		{ .command = "server", .severity = "warning", .count = 2 },
		{ .command = "server", .severity = "critical", .count = 1 },
		{ .command = "server", .severity = "warning", .count = 3 },
	};
	struct mo_metrics_snapshot s = snapshot(p, 3, r, 3);
	const pb_rmetrics *rm;
	const pb_metric *m;
	pb_mreq *req;
	pb_kv *const *kv;

	(void)state;
	req = encode_metrics(&s, 0);
	assert_int_equal(req->n_resource_metrics, 4);

	/* the host resource: memobserver itself */
	rm = resource_of(req, NULL, 0);
	assert_non_null(rm);
	kv = rm->resource->attributes;
	assert_int_equal(rm->resource->n_attributes, 3);
	assert_string_equal(str_of(kv, 3, "host.name"), HOST);
	assert_string_equal(str_of(kv, 3, "service.name"), "memobserver");
	assert_string_equal(str_of(kv, 3, "service.version"), MO_VERSION);
	m = metric_of(rm, "memory_rss_growth_detected");
	assert_string_equal(m->unit, "");
	assert_int_equal(point_by(m, DATA_SUM, "process=server,severity=warning")->as_int, 5);
	assert_int_equal(point_by(m, DATA_SUM, "process=server,severity=critical")->as_int, 1);

	/* a process in a container of a pod */
	rm = resource_of(req, "server", 42);
	assert_non_null(rm);
	kv = rm->resource->attributes;
	assert_int_equal(rm->resource->n_attributes, 8);
	assert_string_equal(str_of(kv, 8, "host.name"), HOST);
	assert_int_equal(int_of(kv, 8, "process.pid"), 42);
	assert_string_equal(str_of(kv, 8, "container.id"), "abc");
	assert_string_equal(str_of(kv, 8, "k8s.pod.uid"), "pod-1");
	assert_string_equal(str_of(kv, 8, "k8s.namespace.name"), "shop");
	assert_string_equal(str_of(kv, 8, "k8s.pod.name"), "cart-7d9f");
	/* a traced string: escaped as in the text output */
	assert_string_equal(str_of(kv, 8, "k8s.container.name"), "app\\x0a");
	assert_int_equal(rm->scope_metrics[0]->n_metrics, 4);
	one_int(rm, "memory_allocations_tracked", DATA_SUM, "", 100);
	one_int(rm, "memory_deallocations_tracked", DATA_SUM, "", 40);
	one_int(rm, "memory_unfreed_memory_bytes", DATA_GAUGE, "By", 6000);
	one_int(rm, "memory_largest_allocation_bytes", DATA_GAUGE, "By", 1 << 20);

	/* a host process: no container attributes */
	rm = resource_of(req, "worker", 43);
	assert_non_null(rm);
	assert_int_equal(rm->resource->n_attributes, 3);
	assert_null(find(rm->resource->attributes, 3, "container.id"));
	one_int(rm, "memory_allocations_tracked", DATA_SUM, "", 7);

	/* an exited process: no pid */
	rm = resource_of(req, "gone", 0);
	assert_non_null(rm);
	assert_int_equal(rm->resource->n_attributes, 2);
	one_int(rm, "memory_deallocations_tracked", DATA_SUM, "", 1);
	one_int(rm, "memory_largest_allocation_bytes", DATA_GAUGE, "By", 77);
	free_mreq(req);
}

/* Counters beyond int64 clamp instead of wrapping negative. */
static void test_metrics_clamp(void **state)
{
	struct mo_proc_metrics p[] = {
		{ .pid = 1, .command = "big", .allocations = UINT64_MAX },
	};
	struct mo_metrics_snapshot s = snapshot(p, 1, NULL, 0);
	pb_mreq *req;

	(void)state;
	s.counters.alloc_calls = UINT64_MAX;
	req = encode_metrics(&s, 0);
	one_int(resource_of(req, NULL, 0), "memobserver_allocator_calls", DATA_SUM, "", INT64_MAX);
	one_int(resource_of(req, "big", 1), "memory_allocations_tracked", DATA_SUM, "", INT64_MAX);
	free_mreq(req);
}

/* Hostile names arrive escaped; one identity is one resource. */
static void test_metrics_escape_and_merge(void **state)
{
	struct mo_proc_metrics p[] = {
		{ .command = "a\nb\xff\x1b[31m", .allocations = 1 },
		{ .command = "a\nb\xff\x1b[31m", .allocations = 2, .largest_allocation = 9 },
		{ .command = "caf\xc3\xa9", .allocations = 3 },
	};
	struct mo_metrics_snapshot s = snapshot(p, 3, NULL, 0);
	pb_mreq *req;

	(void)state;
	req = encode_metrics(&s, 0);
	assert_int_equal(req->n_resource_metrics, 3);
	one_int(resource_of(req, "a\\x0ab\\xff\\x1b[31m", 0), "memory_allocations_tracked",
		DATA_SUM, "", 3);
	one_int(resource_of(req, "a\\x0ab\\xff\\x1b[31m", 0), "memory_largest_allocation_bytes",
		DATA_GAUGE, "By", 9);
	/* valid UTF-8 stays as it is */
	assert_non_null(resource_of(req, "caf\xc3\xa9", 0));
	for (size_t i = 0; i < req->n_resource_metrics; i++) {
		const Opentelemetry__Proto__Resource__V1__Resource *r =
			req->resource_metrics[i]->resource;

		for (size_t k = 0; k < r->n_attributes; k++)
			if (r->attributes[k]->value->value_case == ANY(STRING_VALUE))
				assert_clean(r->attributes[k]->value->string_value);
	}
	free_mreq(req);
}

/* The cap keeps the processes holding the most and sums the rest. */
static void test_metrics_resource_cap(void **state)
{
	struct mo_proc_metrics p[6];
	struct mo_metrics_snapshot s;
	const pb_rmetrics *rm;
	pb_mreq *req;

	(void)state;
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 6; i++) {
		p[i].pid = 100 + i;
		snprintf(p[i].command, sizeof(p[i].command), "p%d", i);
		p[i].allocations = 10;
		p[i].deallocations = 1;
		p[i].unfreed_bytes = 1000 * (uint64_t)(i + 1);
		p[i].largest_allocation = 50 + i;
	}
	s = snapshot(p, 6, NULL, 0);
	req = encode_metrics(&s, 3);
	/* host + 2 kept + __other__ */
	assert_int_equal(req->n_resource_metrics, 4);
	assert_non_null(resource_of(req, "p5", 105));
	assert_non_null(resource_of(req, "p4", 104));
	assert_null(resource_of(req, "p3", 103));
	rm = resource_of(req, "__other__", 0);
	assert_non_null(rm);
	one_int(rm, "memory_allocations_tracked", DATA_SUM, "", 40);
	one_int(rm, "memory_deallocations_tracked", DATA_SUM, "", 4);
	one_int(rm, "memory_unfreed_memory_bytes", DATA_GAUGE, "By", 10000);
	one_int(rm, "memory_largest_allocation_bytes", DATA_GAUGE, "By", 53);
	free_mreq(req);
}

/* The value of the Prometheus line that starts with prefix (one space then
 * the value), in the rendering of s. */
static uint64_t prom_value(const struct mo_metrics_snapshot *s, const char *prefix)
{
	struct mo_buf b;
	char *at;
	uint64_t v;

	mo_buf_init(&b);
	mo_metrics_render(&b, s, MO_METRICS_MAX_SERIES);
	assert_false(b.oom);
	at = strstr(b.data, prefix);
	if (!at)
		fail_msg("no line %s", prefix);
	v = strtoull(at + strlen(prefix), NULL, 10);
	mo_buf_release(&b);
	return v;
}

/*
 * With the snapshot's series decision, the folded keys' processes are in
 * __other__ (every pid of a key, exited ones too) with the offsets it
 * keeps, exactly the values of the Prometheus __other__ series; kept keys
 * keep one resource per process, however many.
 */
static void test_metrics_series_decided(void **state)
{
	struct mo_proc_metrics p[] = {
		{ .pid = 10, .command = "kept", .allocations = 5, .deallocations = 1,
		  .unfreed_bytes = 900 },
		{ .pid = 11, .command = "kept", .allocations = 6, .deallocations = 2,
		  .unfreed_bytes = 800 },
		{ .pid = 20, .command = "folded", .allocations = 7, .deallocations = 3,
		  .unfreed_bytes = 100, .largest_allocation = 64, .other = true },
		{ .pid = 0, .command = "folded", .allocations = 8, .deallocations = 4,
		  .largest_allocation = 32, .other = true },
		{ .pid = 30, .command = "alsofolded", .container_id = "c1", .allocations = 9,
		  .deallocations = 5, .unfreed_bytes = 50, .other = true },
	};
	struct mo_rss_growth_metric r[] = {
		{ .command = "kept", .severity = "warning", .count = 2 },
		{ .command = "folded", .severity = "warning", .count = 3, .other = true },
	};
	struct mo_metrics_snapshot s = snapshot(p, 5, r, 2);
	const pb_rmetrics *rm;
	const pb_metric *m;
	pb_mreq *req;

	(void)state;
	s.series_decided = true;
	s.other_allocations = 1000;
	s.other_deallocations = 100;
	s.other_rss_warning = 40;
	s.other_rss_critical = 4;
	/* the cap is not applied: the decision is the snapshot's */
	req = encode_metrics(&s, 2);
	/* host, kept 10 and 11, __other__ */
	assert_int_equal(req->n_resource_metrics, 4);
	one_int(resource_of(req, "kept", 10), "memory_allocations_tracked", DATA_SUM, "", 5);
	one_int(resource_of(req, "kept", 11), "memory_allocations_tracked", DATA_SUM, "", 6);
	assert_null(resource_of(req, "folded", 20));
	assert_null(resource_of(req, "folded", 0));
	rm = resource_of(req, "__other__", 0);
	assert_non_null(rm);
	one_int(rm, "memory_allocations_tracked", DATA_SUM, "", 1000 + 7 + 8 + 9);
	one_int(rm, "memory_deallocations_tracked", DATA_SUM, "", 100 + 3 + 4 + 5);
	one_int(rm, "memory_unfreed_memory_bytes", DATA_GAUGE, "By", 150);
	one_int(rm, "memory_largest_allocation_bytes", DATA_GAUGE, "By", 64);
	assert_int_equal(prom_value(&s, "memory_allocations_tracked_total{process=\"__other__\","
					"container_id=\"\"} "),
			 1000 + 7 + 8 + 9);
	assert_int_equal(prom_value(&s, "memory_deallocations_tracked_total{process=\"__other__\","
					"container_id=\"\"} "),
			 100 + 3 + 4 + 5);

	m = metric_of(resource_of(req, NULL, 0), "memory_rss_growth_detected");
	assert_int_equal(m->sum->n_data_points, 3);
	assert_int_equal(point_by(m, DATA_SUM, "process=kept,severity=warning")->as_int, 2);
	assert_int_equal(point_by(m, DATA_SUM, "process=__other__,severity=warning")->as_int, 43);
	assert_int_equal(point_by(m, DATA_SUM, "process=__other__,severity=critical")->as_int, 4);
	assert_int_equal(prom_value(&s, "memory_rss_growth_detected_total{process=\"__other__\","
					"severity=\"warning\"} "),
			 43);
	free_mreq(req);

	/* nothing folded now, but __other__ keeps what keys that left it had */
	for (size_t i = 0; i < 5; i++)
		p[i].other = false;
	r[1].other = false;
	req = encode_metrics(&s, 0);
	assert_int_equal(req->n_resource_metrics, 7);
	rm = resource_of(req, "__other__", 0);
	assert_non_null(rm);
	one_int(rm, "memory_allocations_tracked", DATA_SUM, "", 1000);
	one_int(rm, "memory_unfreed_memory_bytes", DATA_GAUGE, "By", 0);
	free_mreq(req);
}

/* ---- logs ---- */

static pb_lreq *encode_logs(const struct mo_event *const *ev, size_t n)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	pb_lreq *req;

	assert_int_equal(mo_otlp_logs_encode(ev, n, HOST, NOW, &buf, &len), 0);
	req = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, len, buf);
	assert_non_null(req);
	free(buf);
	return req;
}

static void free_lreq(pb_lreq *req)
{
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(req,
											      NULL);
}

static const pb_log *only_record(const pb_lreq *req, size_t i)
{
	const pb_rlogs *rl = req->resource_logs[i];

	assert_int_equal(rl->n_scope_logs, 1);
	check_scope(rl->scope_logs[0]->scope);
	assert_int_equal(rl->scope_logs[0]->n_log_records, 1);
	return rl->scope_logs[0]->log_records[0];
}

static void test_logs_leak_every_field(void **state)
{
	struct mo_frame frames[] = {
		{ .address = 0x401136, .symbol = "leak_malloc", .offset = 0x16,
		  .module = "/usr/bin/leak", .module_offset = 0x1136, .file = "leak.c",
		  .line = 12, .inlined = true },
		{ .address = 0x7f0000001000 },
	};
	struct mo_event ev = {
		.type = MO_EVENT_MEMORY_PRESSURE, .kind = "leak", .severity = "warning",
		.timestamp_ns = NOW - 5, .pid = 4242, .command = "server", .cgroup_id = 77,
		.size_bytes = 17000, .unfreed_bytes = 51000, .count = 3, .age_seconds = 31.5,
		.estimate = true, .final = false, .container_id = "c0ffee",
		.pod_uid = "1234-5678", .cgroup = "/kubepods/pod1234",
		.k8s_namespace = "shop", .k8s_pod = "cart-7d9f", .k8s_container = "app",
		.pattern = "growing", .growth_bytes_per_s = 100.5, .confidence = 0.875,
		.rss_validated = true, .repeats = 2,
		.stack = { .id = 0xabc, .nframes = 2, .frames = frames, .flags = 1 },
	};
	const struct mo_event *evs[] = { &ev };
	const pb_log *r;
	const pb_any *st;
	pb_kv *const *kv;
	size_t n;
	pb_lreq *req;

	(void)state;
	req = encode_logs(evs, 1);
	assert_int_equal(req->n_resource_logs, 1);
	kv = req->resource_logs[0]->resource->attributes;
	n = req->resource_logs[0]->resource->n_attributes;
	assert_int_equal(n, 8);
	assert_string_equal(str_of(kv, n, "host.name"), HOST);
	assert_int_equal(int_of(kv, n, "process.pid"), 4242);
	assert_string_equal(str_of(kv, n, "process.executable.name"), "server");
	assert_string_equal(str_of(kv, n, "container.id"), "c0ffee");
	assert_string_equal(str_of(kv, n, "k8s.pod.uid"), "1234-5678");
	assert_string_equal(str_of(kv, n, "k8s.namespace.name"), "shop");
	assert_string_equal(str_of(kv, n, "k8s.pod.name"), "cart-7d9f");
	assert_string_equal(str_of(kv, n, "k8s.container.name"), "app");

	r = only_record(req, 0);
	assert_int_equal(r->base.n_unknown_fields, 0);
	assert_int_equal(r->time_unix_nano, NOW - 5);
	assert_int_equal(r->observed_time_unix_nano, NOW);
	assert_int_equal(r->severity_number, SEV(WARN));
	assert_string_equal(r->severity_text, "warning");
	assert_string_equal(r->event_name, "memobserver.memory_pressure.leak");
	assert_int_equal(r->body->value_case, ANY(STRING_VALUE));
	assert_string_equal(r->body->string_value,
			    "memory_pressure/leak pid 4242 (server) [k8s shop/cart-7d9f/app]: 49.8 KiB unfreed in 3 "
			    "allocations, oldest 31.5s (estimate); growing 100 B/s (confidence "
			    "0.88), RSS grew with it");
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->trace_id.len, 0);
	kv = r->attributes;
	n = r->n_attributes;
	assert_string_equal(str_of(kv, n, "memobserver.type"), "memory_pressure");
	assert_string_equal(str_of(kv, n, "memobserver.kind"), "leak");
	assert_string_equal(str_of(kv, n, "memobserver.cgroup"), "/kubepods/pod1234");
	assert_int_equal(int_of(kv, n, "memobserver.cgroup_id"), 77);
	assert_int_equal(int_of(kv, n, "memobserver.size_bytes"), 17000);
	assert_int_equal(int_of(kv, n, "memobserver.unfreed_bytes"), 51000);
	assert_int_equal(int_of(kv, n, "memobserver.count"), 3);
	assert_true(double_of(kv, n, "memobserver.age_seconds") == 31.5);
	assert_true(bool_of(kv, n, "memobserver.estimate"));
	assert_false(bool_of(kv, n, "memobserver.final"));
	assert_string_equal(str_of(kv, n, "memobserver.pattern"), "growing");
	assert_true(double_of(kv, n, "memobserver.growth_bytes_per_s") == 100.5);
	assert_true(double_of(kv, n, "memobserver.confidence") == 0.875);
	assert_true(bool_of(kv, n, "memobserver.rss_validated"));
	assert_int_equal(int_of(kv, n, "memobserver.repeats"), 2);
	assert_string_equal(str_of(kv, n, "memobserver.stack_id"), "0x0000000000000abc");
	assert_true(bool_of(kv, n, "memobserver.stack_partial"));
	assert_string_equal(str_of(kv, n, "code.stacktrace"),
			    "#0 0x0000000000401136 leak_malloc+0x16 (inlined) at leak.c:12 in "
			    "/usr/bin/leak\n#1 0x00007f0000001000 ??\n");
	/* not this kind's fields */
	assert_null(find(kv, n, "memobserver.rss_bytes"));
	assert_null(find(kv, n, "memobserver.address"));
	assert_int_equal(n, 19);

	st = find(kv, n, "memobserver.stack");
	assert_non_null(st);
	assert_int_equal(st->value_case, ANY(ARRAY_VALUE));
	assert_int_equal(st->array_value->n_values, 2);
	{
		const pb_any *f0 = st->array_value->values[0], *f1 = st->array_value->values[1];
		pb_kv *const *fk = f0->kvlist_value->values;
		size_t fn = f0->kvlist_value->n_values;

		assert_int_equal(f0->value_case, ANY(KVLIST_VALUE));
		assert_int_equal(fn, 8);
		assert_string_equal(str_of(fk, fn, "address"), "0x401136");
		assert_string_equal(str_of(fk, fn, "symbol"), "leak_malloc");
		assert_int_equal(int_of(fk, fn, "offset"), 0x16);
		assert_string_equal(str_of(fk, fn, "module"), "/usr/bin/leak");
		assert_string_equal(str_of(fk, fn, "module_offset"), "0x1136");
		assert_string_equal(str_of(fk, fn, "file"), "leak.c");
		assert_int_equal(int_of(fk, fn, "line"), 12);
		assert_true(bool_of(fk, fn, "inlined"));
		assert_int_equal(f1->kvlist_value->n_values, 1);
		assert_string_equal(str_of(f1->kvlist_value->values, 1, "address"),
				    "0x7f0000001000");
	}
	free_lreq(req);
}

/* Each kind's own fields; one resource per process, records in order. */
static void test_logs_kinds_and_grouping(void **state)
{
	struct mo_event oom = {
		.type = MO_EVENT_MEMORY_PRESSURE, .kind = "oom_risk", .severity = "critical",
		.timestamp_ns = 1, .pid = 7, .command = "a", .rss_bytes = 900, .growth_bytes = 0,
		.window_seconds = 30, .growth_bytes_per_s = 10, .predicted_oom_seconds = 12.5,
		.limit_bytes = 1000,
	};
	struct mo_event fork_ev = {
		.type = MO_EVENT_KERNEL_PROCESS, .kind = "fork", .timestamp_ns = 2, .pid = 8,
		.command = "b", .address = 9,
	};
	struct mo_event mm = {
		.type = MO_EVENT_KERNEL_FS, .kind = "mmap", .timestamp_ns = 3, .pid = 7,
		.command = "a", .size_bytes = 4096, .address = 0x7000,
	};
	struct mo_event rss = {
		.type = MO_EVENT_KERNEL_PROCESS, .kind = "rss_growth", .severity = "info",
		.timestamp_ns = 4, .pid = 7, .command = "a", .rss_bytes = 5000,
		.growth_bytes = 2000, .window_seconds = 60, .growth_bytes_per_s = 33.25,
	};
	const struct mo_event *evs[] = { &oom, &fork_ev, &mm, &rss };
	const pb_rlogs *rl;
	const pb_log *r;
	pb_lreq *req;

	(void)state;
	req = encode_logs(evs, 4);
	assert_int_equal(req->n_resource_logs, 2);
	rl = req->resource_logs[0];
	assert_int_equal(int_of(rl->resource->attributes, rl->resource->n_attributes,
				"process.pid"), 7);
	assert_int_equal(rl->scope_logs[0]->n_log_records, 3);
	/* in the order they came */
	r = rl->scope_logs[0]->log_records[0];
	assert_int_equal(r->time_unix_nano, 1);
	assert_int_equal(r->severity_number, SEV(ERROR2));
	assert_string_equal(r->severity_text, "critical");
	assert_true(double_of(r->attributes, r->n_attributes, "memobserver.predicted_oom_seconds") ==
		    12.5);
	assert_int_equal(int_of(r->attributes, r->n_attributes, "memobserver.limit_bytes"), 1000);
	assert_int_equal(int_of(r->attributes, r->n_attributes, "memobserver.rss_bytes"), 900);
	assert_null(find(r->attributes, r->n_attributes, "memobserver.stack"));
	assert_null(find(r->attributes, r->n_attributes, "code.stacktrace"));
	r = rl->scope_logs[0]->log_records[1];
	assert_int_equal(r->time_unix_nano, 3);
	assert_int_equal(r->severity_number, SEV(INFO));
	assert_string_equal(r->severity_text, "");
	assert_string_equal(str_of(r->attributes, r->n_attributes, "memobserver.address"), "0x7000");
	assert_null(find(r->attributes, r->n_attributes, "memobserver.unfreed_bytes"));
	assert_string_equal(r->body->string_value, "kernel_fs/mmap pid 7 (a): 4.0 KiB at 0x7000");
	r = rl->scope_logs[0]->log_records[2];
	assert_int_equal(r->severity_number, SEV(INFO));
	assert_int_equal(int_of(r->attributes, r->n_attributes, "memobserver.growth_bytes"), 2000);
	assert_true(double_of(r->attributes, r->n_attributes, "memobserver.window_seconds") == 60);
	assert_null(find(r->attributes, r->n_attributes, "memobserver.limit_bytes"));

	r = only_record(req, 1);
	assert_string_equal(r->event_name, "memobserver.kernel_process.fork");
	assert_int_equal(int_of(r->attributes, r->n_attributes, "memobserver.child_pid"), 9);
	assert_null(find(r->attributes, r->n_attributes, "memobserver.address"));
	free_lreq(req);
}

/* The watch tier's findings and the escalations' events: tier and detail. */
static void test_logs_watch_and_escalation(void **state)
{
	struct mo_frame f = { .address = 0x401000, .symbol = "grow" };
	struct mo_event watch = {
		.type = MO_EVENT_MEMORY_PRESSURE, .kind = "leak", .severity = "warning",
		.timestamp_ns = 1, .pid = 9, .command = "svc", .unfreed_bytes = 2 << 20,
		.pattern = "growing", .growth_bytes_per_s = 4096, .confidence = 0.5,
		.rss_validated = true, .tier = "watch",
		.stack = { .id = 5, .nframes = 1, .frames = &f },
	};
	struct mo_event esc = {
		.type = MO_EVENT_KERNEL_PROCESS, .kind = "escalate", .severity = "info",
		.timestamp_ns = 2, .pid = 9, .command = "svc",
		.detail = "precise tracking for 60 s (growing):\x1b[31m",
	};
	const struct mo_event *evs[] = { &watch, &esc };
	const pb_log *r;
	pb_lreq *req;

	(void)state;
	req = encode_logs(evs, 2);
	assert_int_equal(req->n_resource_logs, 1);
	assert_int_equal(req->resource_logs[0]->scope_logs[0]->n_log_records, 2);
	r = req->resource_logs[0]->scope_logs[0]->log_records[0];
	assert_string_equal(str_of(r->attributes, r->n_attributes, "memobserver.tier"), "watch");
	assert_null(find(r->attributes, r->n_attributes, "memobserver.detail"));
	assert_string_equal(r->body->string_value,
			    "memory_pressure/leak pid 9 (svc): 2.0 MiB of resident memory faulted in "
			    "by this stack (watch tier, sampled); growing 4096 B/s (confidence "
			    "0.50), RSS grew with it");
	r = req->resource_logs[0]->scope_logs[0]->log_records[1];
	assert_string_equal(r->event_name, "memobserver.kernel_process.escalate");
	assert_null(find(r->attributes, r->n_attributes, "memobserver.tier"));
	assert_string_equal(str_of(r->attributes, r->n_attributes, "memobserver.detail"),
			    "precise tracking for 60 s (growing):\\x1b[31m");
	assert_string_equal(r->body->string_value,
			    "kernel_process/escalate pid 9 (svc): precise tracking for 60 s "
			    "(growing):\\x1b[31m");
	free_lreq(req);
}

static void test_logs_hostile_strings(void **state)
{
	struct mo_frame f = { .address = 1, .symbol = "sym\x01\xc3", .module = "/tmp/\xff\n.so",
			      .file = "a\\b.c" };
	struct mo_event ev = {
		.type = MO_EVENT_MEMORY_PRESSURE, .kind = "leak", .severity = "warning",
		.timestamp_ns = 1, .pid = 5, .command = "x\x1b]0;pwn\x07",
		.container_id = "\xfe", .cgroup = "/a\nb",
		.stack = { .id = 1, .nframes = 1, .frames = &f },
	};
	const struct mo_event *evs[] = { &ev };
	const pb_any *st;
	const pb_log *r;
	pb_lreq *req;

	(void)state;
	req = encode_logs(evs, 1);
	assert_string_equal(str_of(req->resource_logs[0]->resource->attributes,
				   req->resource_logs[0]->resource->n_attributes,
				   "process.executable.name"), "x\\x1b]0;pwn\\x07");
	assert_string_equal(str_of(req->resource_logs[0]->resource->attributes,
				   req->resource_logs[0]->resource->n_attributes, "container.id"),
			    "\\xfe");
	r = only_record(req, 0);
	assert_clean(r->body->string_value);
	assert_string_equal(str_of(r->attributes, r->n_attributes, "memobserver.cgroup"), "/a\\x0ab");
	{
		/* one frame a line, each line clean */
		char *t = strdup(str_of(r->attributes, r->n_attributes, "code.stacktrace"));

		assert_non_null(t);
		assert_int_equal(t[strlen(t) - 1], '\n');
		for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
			assert_clean(line);
		free(t);
	}
	st = find(r->attributes, r->n_attributes, "memobserver.stack");
	assert_string_equal(str_of(st->array_value->values[0]->kvlist_value->values,
				   st->array_value->values[0]->kvlist_value->n_values, "symbol"),
			    "sym\\x01\\xc3");
	assert_string_equal(str_of(st->array_value->values[0]->kvlist_value->values,
				   st->array_value->values[0]->kvlist_value->n_values, "module"),
			    "/tmp/\\xff\\x0a.so");
	assert_string_equal(str_of(st->array_value->values[0]->kvlist_value->values,
				   st->array_value->values[0]->kvlist_value->n_values, "file"),
			    "a\\\\b.c");
	free_lreq(req);
}

static void test_logs_empty(void **state)
{
	uint8_t *buf = NULL;
	size_t len = 99;

	(void)state;
	assert_int_equal(mo_otlp_logs_encode(NULL, 0, HOST, NOW, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
}

/* The same rows in the Prometheus text: two label pairs, the caller's counts. */
static void test_prometheus_table_rows(void **state)
{
	struct mo_metrics_snapshot s = snapshot(NULL, 0, NULL, 0);
	char line[160];
	struct mo_buf b;

	(void)state;
	mo_buf_init(&b);
	mo_metrics_render(&b, &s, 0);
	assert_false(b.oom);
	snprintf(line, sizeof(line),
		 "\nmemobserver_otlp_requests_dropped_total{signal=\"metrics\",reason=\"send_failed\"} "
		 "%d\n", 1000 + MO_CTR_otlp_metrics_send_failed);
	assert_non_null(strstr(b.data, line));
	snprintf(line, sizeof(line), "\nmemobserver_otlp_requests_sent_total{signal=\"logs\"} %d\n",
		 1000 + MO_CTR_otlp_logs_sent);
	assert_non_null(strstr(b.data, line));
	snprintf(line, sizeof(line), "\nmemobserver_output_write_errors_total %d\n",
		 1000 + MO_CTR_output_write_errors);
	assert_non_null(strstr(b.data, line));
	assert_non_null(strstr(b.data, "# TYPE memobserver_otlp_retries_total counter\n"));
	mo_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_every_row),
		cmocka_unit_test(test_metrics_resources),
		cmocka_unit_test(test_metrics_clamp),
		cmocka_unit_test(test_metrics_escape_and_merge),
		cmocka_unit_test(test_metrics_resource_cap),
		cmocka_unit_test(test_metrics_series_decided),
		cmocka_unit_test(test_logs_leak_every_field),
		cmocka_unit_test(test_logs_kinds_and_grouping),
		cmocka_unit_test(test_logs_watch_and_escalation),
		cmocka_unit_test(test_logs_hostile_strings),
		cmocka_unit_test(test_logs_empty),
		cmocka_unit_test(test_prometheus_table_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
