// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp.c - OTLP protobuf encoding of the metrics snapshot and of events.
 * Every message of one request is allocated from one arena and packed by
 * protobuf-c; the arena goes when the bytes are out. The host's metrics are
 * the rows of MO_COUNTERS and MO_SNAPSHOT_VALUES, as in the Prometheus text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#include "json.h"
#include "sinks/metrics.h"
#include "sinks/otlp.h"
#include "sinks/render.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__ArrayValue pb_array;
typedef Opentelemetry__Proto__Common__V1__KeyValueList pb_kvlist;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_rmetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_smetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__Gauge pb_gauge;
typedef Opentelemetry__Proto__Metrics__V1__Sum pb_sum;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_point;
typedef Opentelemetry__Proto__Logs__V1__ResourceLogs pb_rlogs;
typedef Opentelemetry__Proto__Logs__V1__ScopeLogs pb_slogs;
typedef Opentelemetry__Proto__Logs__V1__LogRecord pb_log;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_mreq;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest pb_lreq;

#define SCOPE_NAME "memobserver"
#define OTHER "__other__"
/* attributes of one record or resource: the most any event has, with room */
#define MAX_ATTRS 40

/* ---- arena: every message of one request, freed at once ---- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
	bool oom;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		c = calloc(1, sizeof(*c) + cap);
		if (!c) {
			a->oom = true;
			return NULL;
		}
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static void arena_release(struct arena *a)
{
	while (a->head) {
		struct chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

static char *arena_strdup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* b's text as an arena string; b is released. */
static char *buf_take(struct arena *a, struct mo_buf *b)
{
	char *p;

	if (b->oom)
		a->oom = true;
	p = arena_strdup(a, b->data ? b->data : "", b->len);
	mo_buf_release(b);
	return p;
}

/* A string from the traced system (at most max bytes, NUL-terminated or
 * not), escaped to valid UTF-8 without control characters. */
static char *traced(struct arena *a, const char *s, size_t max)
{
	struct mo_buf b;

	mo_buf_init(&b);
	mo_text_escape(&b, s, strnlen(s, max));
	return buf_take(a, &b);
}

/* ---- values and attributes ---- */

/* A value of the given case; the caller sets the member. */
static pb_any *any_new(struct arena *a, Opentelemetry__Proto__Common__V1__AnyValue__ValueCase vc)
{
	pb_any *v = arena_alloc(a, sizeof(*v));

	if (v) {
		opentelemetry__proto__common__v1__any_value__init(v);
		v->value_case = vc;
	}
	return v;
}

#define ANY_CASE(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static pb_any *any_str(struct arena *a, char *s)
{
	pb_any *v = s ? any_new(a, ANY_CASE(STRING_VALUE)) : NULL;

	if (v)
		v->string_value = s;
	return v;
}

static pb_any *any_int(struct arena *a, int64_t i)
{
	pb_any *v = any_new(a, ANY_CASE(INT_VALUE));

	if (v)
		v->int_value = i;
	return v;
}

static pb_any *any_double(struct arena *a, double d)
{
	pb_any *v = any_new(a, ANY_CASE(DOUBLE_VALUE));

	if (v)
		v->double_value = d;
	return v;
}

static pb_any *any_bool(struct arena *a, bool b)
{
	pb_any *v = any_new(a, ANY_CASE(BOOL_VALUE));

	if (v)
		v->bool_value = b;
	return v;
}

static int64_t clamp_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Attributes being collected; keys are trusted ASCII literals. */
struct attrs {
	struct arena *a;
	pb_kv *kv[MAX_ATTRS];
	size_t n;
};

static void attr(struct attrs *at, const char *key, pb_any *v)
{
	pb_kv *kv;

	if (!key || !v || at->n == MAX_ATTRS) {
		at->a->oom |= !key || !v;
		return;
	}
	kv = arena_alloc(at->a, sizeof(*kv));
	if (!kv)
		return;
	opentelemetry__proto__common__v1__key_value__init(kv);
	kv->key = (char *)key;
	kv->value = v;
	at->kv[at->n++] = kv;
}

static void attr_str(struct attrs *at, const char *key, const char *trusted)
{
	attr(at, key, any_str(at->a, arena_strdup(at->a, trusted, strlen(trusted))));
}

static void attr_traced(struct attrs *at, const char *key, const char *s, size_t max)
{
	attr(at, key, any_str(at->a, traced(at->a, s, max)));
}

static void attr_u64(struct attrs *at, const char *key, uint64_t v)
{
	attr(at, key, any_int(at->a, clamp_i64(v)));
}

static void attr_hex(struct attrs *at, const char *key, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "0x%" PRIx64, v);
	attr_str(at, key, tmp);
}

/* The collected attributes as an arena array (*n of them). */
static pb_kv **attrs_take(struct attrs *at, size_t *n)
{
	pb_kv **v = arena_alloc(at->a, (at->n ? at->n : 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	memcpy(v, at->kv, at->n * sizeof(*v));
	*n = at->n;
	at->n = 0;
	return v;
}

static pb_scope *scope_new(struct arena *a)
{
	pb_scope *s = arena_alloc(a, sizeof(*s));

	if (s) {
		opentelemetry__proto__common__v1__instrumentation_scope__init(s);
		s->name = SCOPE_NAME;
		s->version = MO_VERSION;
	}
	return s;
}

/* ---- resources ---- */

/* One traced process as a resource; pid 0 is an exited process kept by name. */
struct proc_id {
	pid_t pid;
	const char *command;	/* escaped */
	const char *container_id;
	const char *pod_uid;
	/* Kubernetes names, escaped; NULL or "" when not known */
	const char *k8s_namespace, *k8s_pod, *k8s_container;
};

static pb_resource *resource_new(struct arena *a, const char *host, const struct proc_id *p)
{
	pb_resource *r = arena_alloc(a, sizeof(*r));
	struct attrs at = { .a = a };

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	if (host && host[0])
		attr_traced(&at, "host.name", host, 256);
	if (!p) {
		attr_str(&at, "service.name", "memobserver");
		attr_str(&at, "service.version", MO_VERSION);
	} else {
		if (p->pid > 0)
			attr(&at, "process.pid", any_int(a, p->pid));
		attr(&at, "process.executable.name", any_str(a, (char *)p->command));
		if (p->container_id[0])
			attr(&at, "container.id", any_str(a, (char *)p->container_id));
		if (p->pod_uid[0])
			attr(&at, "k8s.pod.uid", any_str(a, (char *)p->pod_uid));
		if (p->k8s_namespace && p->k8s_namespace[0])
			attr(&at, "k8s.namespace.name", any_str(a, (char *)p->k8s_namespace));
		if (p->k8s_pod && p->k8s_pod[0])
			attr(&at, "k8s.pod.name", any_str(a, (char *)p->k8s_pod));
		if (p->k8s_container && p->k8s_container[0])
			attr(&at, "k8s.container.name", any_str(a, (char *)p->k8s_container));
	}
	r->attributes = attrs_take(&at, &r->n_attributes);
	return r;
}

/* ---- metrics ---- */

enum mkind { GAUGE, SUM };

/* The metrics of one resource being collected. */
struct mlist {
	struct arena *a;
	uint64_t now, start;
	pb_metric **m;
	size_t n, cap;
};

/* A metric with npoints zeroed points stamped now (sums: since start). */
static pb_point **metric_new(struct mlist *ml, const char *name, const char *unit,
			     const char *desc, enum mkind kind, size_t npoints)
{
	struct arena *a = ml->a;
	pb_metric *m = arena_alloc(a, sizeof(*m));
	pb_point **pts = arena_alloc(a, (npoints ? npoints : 1) * sizeof(*pts));

	if (!m || !pts)
		return NULL;
	if (ml->n == ml->cap) {
		size_t cap = ml->cap ? 2 * ml->cap : 32;
		pb_metric **v = arena_alloc(a, cap * sizeof(*v));

		if (!v)
			return NULL;
		if (ml->n)
			memcpy(v, ml->m, ml->n * sizeof(*v));
		ml->m = v;
		ml->cap = cap;
	}
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)name;
	m->unit = (char *)unit;
	m->description = (char *)desc;
	for (size_t i = 0; i < npoints; i++) {
		pts[i] = arena_alloc(a, sizeof(*pts[i]));
		if (!pts[i])
			return NULL;
		opentelemetry__proto__metrics__v1__number_data_point__init(pts[i]);
		pts[i]->time_unix_nano = ml->now;
		if (kind == SUM)
			pts[i]->start_time_unix_nano = ml->start;
	}
	if (kind == SUM) {
		pb_sum *s = arena_alloc(a, sizeof(*s));

		if (!s)
			return NULL;
		opentelemetry__proto__metrics__v1__sum__init(s);
		s->aggregation_temporality =
			OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		s->is_monotonic = true;
		s->n_data_points = npoints;
		s->data_points = pts;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->sum = s;
	} else {
		pb_gauge *g = arena_alloc(a, sizeof(*g));

		if (!g)
			return NULL;
		opentelemetry__proto__metrics__v1__gauge__init(g);
		g->n_data_points = npoints;
		g->data_points = pts;
		m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		m->gauge = g;
	}
	ml->m[ml->n++] = m;
	return pts;
}

static void set_int(pb_point *p, uint64_t v)
{
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = clamp_i64(v);
}

static void set_double(pb_point *p, double v)
{
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	p->as_double = v;
}

/* One point without attributes. */
static void scalar_int(struct mlist *ml, const char *name, const char *unit, const char *desc,
		       enum mkind kind, uint64_t v)
{
	pb_point **p = metric_new(ml, name, unit, desc, kind, 1);

	if (p)
		set_int(p[0], v);
	else
		ml->a->oom = true;
}

/* A process's four families, the Prometheus ones keyed by (process, container_id). */
struct proc_row {
	struct proc_id id;
	uint64_t allocs, frees, unfreed, largest;
	bool other;
};

static int id_cmp(const struct proc_id *x, const struct proc_id *y)
{
	int c = (x->pid > y->pid) - (x->pid < y->pid);

	if (!c)
		c = strcmp(x->command, y->command);
	if (!c)
		c = strcmp(x->container_id, y->container_id);
	return c ? c : strcmp(x->pod_uid, y->pod_uid);
}

static int row_id_cmp(const void *p, const void *q)
{
	return id_cmp(&((const struct proc_row *)p)->id, &((const struct proc_row *)q)->id);
}

static int u64_desc(uint64_t x, uint64_t y)
{
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The same ranking as the Prometheus cap: most unfreed, then most allocations. */
static int row_rank(const void *p, const void *q)
{
	const struct proc_row *x = *(const struct proc_row *const *)p;
	const struct proc_row *y = *(const struct proc_row *const *)q;
	int c = u64_desc(x->unfreed, y->unfreed);

	if (!c)
		c = u64_desc(x->allocs, y->allocs);
	return c ? c : id_cmp(&x->id, &y->id);
}

static void proc_metrics(struct mlist *ml, const struct proc_row *r)
{
	scalar_int(ml, "memory_allocations_tracked", "", "Allocations tracked by the observer.",
		   SUM, r->allocs);
	scalar_int(ml, "memory_deallocations_tracked", "",
		   "Frees that matched a tracked allocation.", SUM, r->frees);
	scalar_int(ml, "memory_unfreed_memory_bytes", "By",
		   "Bytes of tracked allocations not freed yet.", GAUGE, r->unfreed);
	scalar_int(ml, "memory_largest_allocation_bytes", "By",
		   "Largest single tracked allocation in bytes.", GAUGE, r->largest);
}

/* r's counts added to into's; the largest allocation is the larger. */
static void fold(struct proc_row *into, const struct proc_row *r)
{
	into->allocs += r->allocs;
	into->frees += r->frees;
	into->unfreed += r->unfreed;
	if (r->largest > into->largest)
		into->largest = r->largest;
}

/*
 * Rows per identity, merged; NULL on OOM. Which are summed into other is
 * the snapshot's decision when it made one (the keys the metrics endpoint
 * folds into __other__, with what __other__ keeps of keys that left it, so
 * no cumulative sum goes backwards); else the max_res - 1 holding the most
 * keep their own resource.
 */
static struct proc_row *proc_rows(struct arena *a, const struct mo_metrics_snapshot *s,
				  size_t max_res, size_t *nrows, struct proc_row *other)
{
	struct proc_row *rows = arena_alloc(a, (s->nprocs ? s->nprocs : 1) * sizeof(*rows));
	struct proc_row **order;
	size_t m = 0;

	*nrows = 0;
	if (!rows)
		return NULL;
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct mo_proc_metrics *p = &s->procs[i];

		rows[i] = (struct proc_row){
			.id = {
				.pid = p->pid,
				.command = traced(a, p->command, sizeof(p->command)),
				.container_id = traced(a, p->container_id, sizeof(p->container_id)),
				.pod_uid = traced(a, p->pod_uid, sizeof(p->pod_uid)),
				.k8s_namespace = traced(a, p->k8s_namespace,
							sizeof(p->k8s_namespace)),
				.k8s_pod = traced(a, p->k8s_pod, sizeof(p->k8s_pod)),
				.k8s_container = traced(a, p->k8s_container,
							sizeof(p->k8s_container)),
			},
			.allocs = p->allocations,
			.frees = p->deallocations,
			.unfreed = p->unfreed_bytes,
			.largest = p->largest_allocation,
			.other = s->series_decided && p->other,
		};
	}
	if (a->oom)
		return NULL;
	qsort(rows, s->nprocs, sizeof(*rows), row_id_cmp);
	for (size_t i = 0; i < s->nprocs; i++) {
		struct proc_row *r = m ? &rows[m - 1] : NULL;

		if (r && !id_cmp(&r->id, &rows[i].id)) {
			fold(r, &rows[i]);
			r->other |= rows[i].other;
			continue;
		}
		rows[m++] = rows[i];
	}
	*nrows = m;
	if (s->series_decided) {
		other->allocs = s->other_allocations;
		other->frees = s->other_deallocations;
		for (size_t i = 0; i < m; i++)
			if (rows[i].other)
				fold(other, &rows[i]);
		other->other = other->other || other->allocs || other->frees;
		return rows;
	}
	if (!max_res || m <= max_res)
		return rows;
	order = malloc(m * sizeof(*order));
	if (!order)
		return NULL;
	for (size_t i = 0; i < m; i++)
		order[i] = &rows[i];
	qsort(order, m, sizeof(*order), row_rank);
	/* max_res - 1 kept, plus the one that sums the rest */
	for (size_t i = max_res - 1; i < m; i++) {
		order[i]->other = true;
		fold(other, order[i]);
	}
	free(order);
	other->other = true;
	return rows;
}

struct rss_row {
	const char *command;	/* escaped */
	const char *severity;
	uint64_t count;
};

static int rss_cmp(const void *p, const void *q)
{
	const struct rss_row *x = p, *y = q;
	int c = strcmp(x->command, y->command);

	return c ? c : strcmp(x->severity, y->severity);
}

static int rss_rank(const void *p, const void *q)
{
	const struct rss_row *x = p, *y = q;
	int c = u64_desc(x->count, y->count);

	return c ? c : rss_cmp(p, q);
}

/*
 * memory_rss_growth_detected by (process, severity): the names the snapshot
 * folds into __other__ there, with what __other__ keeps of names that left
 * it; else at most max_series points.
 */
static void rss_metric(struct mlist *ml, const struct mo_metrics_snapshot *s, size_t max_series)
{
	struct arena *a = ml->a;
	struct rss_row *rows = arena_alloc(a, (s->nrss + 2) * sizeof(*rows));
	struct attrs at = { .a = a };
	size_t n = 0, m = 0, keep, npts = 0;
	pb_point **p;

	if (!rows)
		return;
	for (size_t i = 0; i < s->nrss; i++, n++) {
		rows[n].command = s->series_decided && s->rss[i].other
					  ? OTHER
					  : traced(a, s->rss[i].command, sizeof(s->rss[i].command));
		rows[n].severity = traced(a, s->rss[i].severity ? s->rss[i].severity : "", 16);
		rows[n].count = s->rss[i].count;
		if (!rows[n].command || !rows[n].severity)
			return;
	}
	if (s->series_decided && s->other_rss_warning)
		rows[n++] = (struct rss_row){ OTHER, "warning", s->other_rss_warning };
	if (s->series_decided && s->other_rss_critical)
		rows[n++] = (struct rss_row){ OTHER, "critical", s->other_rss_critical };
	qsort(rows, n, sizeof(*rows), rss_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && !rss_cmp(&rows[m - 1], &rows[i]))
			rows[m - 1].count += rows[i].count;
		else
			rows[m++] = rows[i];
	}
	keep = m;
	if (!s->series_decided && max_series && m > max_series) {
		/* the rest summed per severity into process="__other__" rows */
		qsort(rows, m, sizeof(*rows), rss_rank);
		keep = max_series - 1;
		for (size_t i = keep; i < m; i++)
			rows[i].command = OTHER;
		qsort(rows + keep, m - keep, sizeof(*rows), rss_cmp);
		npts = keep;
		for (size_t i = keep; i < m; i++) {
			if (npts > keep && !rss_cmp(&rows[npts - 1], &rows[i]))
				rows[npts - 1].count += rows[i].count;
			else
				rows[npts++] = rows[i];
		}
		m = npts;
	}
	p = metric_new(ml, "memory_rss_growth_detected", "",
		       "Sustained RSS growth detections, by process name and severity.", SUM, m);
	if (!p) {
		a->oom = true;
		return;
	}
	for (size_t i = 0; i < m; i++) {
		set_int(p[i], rows[i].count);
		attr(&at, "process", any_str(a, (char *)rows[i].command));
		attr(&at, "severity", any_str(a, (char *)rows[i].severity));
		p[i]->attributes = attrs_take(&at, &p[i]->n_attributes);
	}
}

/*
 * A row of MO_COUNTERS or MO_SNAPSHOT_VALUES; one metric per family (its
 * rows are adjacent), one point per row.
 */
struct trow {
	const char *family;
	int kind;		/* MO_CK_* */
	const char *label;	/* "k=v[,k=v]" or NULL */
	bool is_double;
	uint64_t u;
	double d;
	const char *help;
};

/* The OTLP name of a family: a counter's without the _total suffix. */
static const char *otlp_name(struct arena *a, const struct trow *r)
{
	size_t n = strlen(r->family);

	if (r->kind != MO_CK_GAUGE && n > 6 && !strcmp(r->family + n - 6, "_total"))
		n -= 6;
	return arena_strdup(a, r->family, n);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/*
 * UCUM units from the name's suffix. Counts get none: "1" would make a
 * collector's Prometheus exporter append _ratio to a gauge's name.
 */
static const char *unit_of(const char *name)
{
	if (ends_with(name, "_bytes"))
		return "By";
	if (ends_with(name, "_seconds"))
		return "s";
	if (ends_with(name, "_ratio"))
		return "1";
	return "";
}

/* The label pairs of a row as point attributes. */
static void label_attrs(struct attrs *at, const char *label)
{
	while (label && *label) {
		size_t k = strcspn(label, "="), v;

		if (!label[k])
			break;
		v = strcspn(label + k + 1, ",");
		attr(at, arena_strdup(at->a, label, k),
		     any_str(at->a, arena_strdup(at->a, label + k + 1, v)));
		label += k + 1 + v + (label[k + 1 + v] == ',');
	}
}

static void table_metrics(struct mlist *ml, const struct trow *rows, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *name = otlp_name(ml->a, &rows[i]);
		size_t j = i;
		pb_point **p;

		while (j < n && !strcmp(rows[j].family, rows[i].family))
			j++;
		p = name ? metric_new(ml, name, unit_of(name), rows[i].help,
				      rows[i].kind == MO_CK_GAUGE ? GAUGE : SUM, j - i)
			 : NULL;
		if (!p) {
			ml->a->oom = true;
			return;
		}
		for (size_t k = i; k < j; k++) {
			struct attrs at = { .a = ml->a };
			pb_point *pt = p[k - i];

			if (rows[k].is_double)
				set_double(pt, rows[k].d);
			else
				set_int(pt, rows[k].u);
			label_attrs(&at, rows[k].label);
			pt->attributes = attrs_take(&at, &pt->n_attributes);
		}
		i = j;
	}
}

/* The families of the host resource: what memobserver saw and what it cost. */
static void host_metrics(struct mlist *ml, const struct mo_metrics_snapshot *s, size_t max_series)
{
	const struct mo_counters *c = &s->counters;
	const struct trow rows[] = {
#define MO_COUNTER_TROW(field, kind, family, label, json_key, help) \
	{ family, kind, label, false, c->field, 0, help },
		MO_COUNTERS(MO_COUNTER_TROW)
#undef MO_COUNTER_TROW
#define MO_VALUE_TROW(family, kind, label, is_double, value, help) \
	{ family, kind, label, is_double, is_double ? 0 : (uint64_t)(value),       \
	  is_double ? (double)(value) : 0, help },
		MO_SNAPSHOT_VALUES(MO_VALUE_TROW)
#undef MO_VALUE_TROW
	};

	rss_metric(ml, s, max_series);
	table_metrics(ml, rows, sizeof(rows) / sizeof(rows[0]));
}

static pb_rmetrics *rmetrics_new(struct arena *a, pb_resource *res, struct mlist *ml)
{
	pb_rmetrics *rm = arena_alloc(a, sizeof(*rm));
	pb_smetrics *sm = arena_alloc(a, sizeof(*sm));
	pb_smetrics **sms = arena_alloc(a, sizeof(*sms));

	if (!rm || !sm || !sms || !res || a->oom)
		return NULL;
	opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
	opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
	sm->scope = scope_new(a);
	sm->n_metrics = ml->n;
	sm->metrics = ml->m;
	sms[0] = sm;
	rm->resource = res;
	rm->n_scope_metrics = 1;
	rm->scope_metrics = sms;
	return rm;
}

static int pack(struct arena *a, const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
	size_t n;
	uint8_t *buf;

	if (a->oom)
		return -ENOMEM;
	n = protobuf_c_message_get_packed_size(msg);
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	*len = protobuf_c_message_pack(msg, buf);
	*out = buf;
	return 0;
}

int mo_otlp_metrics_encode(const struct mo_metrics_snapshot *s, const char *host_name,
			   uint64_t now_ns, size_t max_resources, uint8_t **out, size_t *len)
{
	struct arena a = { 0 };
	struct proc_row other = { .id = { .command = OTHER, .container_id = "", .pod_uid = "" } };
	struct mlist host = { .a = &a, .now = now_ns, .start = s->start_time_seconds * 1000000000ULL };
	struct proc_row *rows;
	pb_rmetrics **rms;
	size_t nrows = 0, nrm = 0;
	pb_mreq req;
	int err = -ENOMEM;

	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
	rows = proc_rows(&a, s, max_resources, &nrows, &other);
	if (!rows)
		goto out;
	rms = arena_alloc(&a, (nrows + 2) * sizeof(*rms));
	if (!rms)
		goto out;
	host_metrics(&host, s, max_resources);
	rms[nrm++] = rmetrics_new(&a, resource_new(&a, host_name, NULL), &host);
	for (size_t i = 0; i <= nrows; i++) {
		const struct proc_row *r = i < nrows ? &rows[i] : &other;
		struct mlist ml = { .a = &a, .now = host.now, .start = host.start };

		/* folded rows are in other; other is sent only when it holds any */
		if (i < nrows ? r->other : !r->other)
			continue;
		proc_metrics(&ml, r);
		rms[nrm++] = rmetrics_new(&a, resource_new(&a, host_name, &r->id), &ml);
	}
	for (size_t i = 0; i < nrm; i++)
		if (!rms[i])
			goto out;
	req.n_resource_metrics = nrm;
	req.resource_metrics = rms;
	err = pack(&a, &req.base, out, len);
out:
	arena_release(&a);
	return err;
}

/* ---- logs ---- */

static int severity_number(const char *sev)
{
	if (!sev)
		return OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
	if (!strcmp(sev, "critical"))
		return OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_ERROR2;
	if (!strcmp(sev, "warning"))
		return OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
	return OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_INFO;
}

/* code.stacktrace: one frame a line, as the text output writes them. */
static char *stack_text(struct arena *a, const struct mo_stack_trace *st)
{
	struct mo_buf b;

	mo_buf_init(&b);
	for (size_t i = 0; i < st->nframes; i++) {
		mo_buf_printf(&b, "#%zu ", i);
		out_frame(&b, &st->frames[i]);
		mo_buf_puts(&b, "\n");
	}
	return buf_take(a, &b);
}

/* memobserver.stack: one key/value list a frame, the JSON output's fields. */
static pb_any *stack_frames(struct arena *a, const struct mo_stack_trace *st)
{
	pb_any *v = any_new(a, ANY_CASE(ARRAY_VALUE));
	pb_array *arr = arena_alloc(a, sizeof(*arr));
	pb_any **vals = arena_alloc(a, (st->nframes ? st->nframes : 1) * sizeof(*vals));

	if (!v || !arr || !vals)
		return NULL;
	opentelemetry__proto__common__v1__array_value__init(arr);
	for (size_t i = 0; i < st->nframes; i++) {
		const struct mo_frame *f = &st->frames[i];
		struct attrs at = { .a = a };
		pb_kvlist *kl = arena_alloc(a, sizeof(*kl));

		vals[i] = any_new(a, ANY_CASE(KVLIST_VALUE));
		if (!kl || !vals[i])
			return NULL;
		opentelemetry__proto__common__v1__key_value_list__init(kl);
		attr_hex(&at, "address", f->address);
		if (f->symbol) {
			attr_traced(&at, "symbol", f->symbol, SIZE_MAX);
			attr_u64(&at, "offset", f->offset);
		}
		if (f->module) {
			attr_traced(&at, "module", f->module, SIZE_MAX);
			attr_hex(&at, "module_offset", f->module_offset);
		}
		if (f->file)
			attr_traced(&at, "file", f->file, SIZE_MAX);
		if (f->line > 0)
			attr_u64(&at, "line", (uint64_t)f->line);
		if (f->inlined)
			attr(&at, "inlined", any_bool(a, true));
		kl->values = attrs_take(&at, &kl->n_values);
		vals[i]->kvlist_value = kl;
	}
	arr->n_values = st->nframes;
	arr->values = vals;
	v->array_value = arr;
	return v;
}

/*
 * The event's fields as attributes, under the JSON output's names with the
 * prefix "memobserver."; the same fields are present for the same kinds
 * (src/lib/sinks/render.c). pid, command, container_id and pod_uid are the
 * resource's; timestamp and severity are the record's own fields.
 */
static void event_attrs(struct attrs *at, const struct mo_event *ev)
{
	struct arena *a = at->a;
	bool pressure = ev->type == MO_EVENT_MEMORY_PRESSURE;

	attr_str(at, "memobserver.type", mo_event_type_name(ev->type));
	attr_traced(at, "memobserver.kind", ev->kind ? ev->kind : "", SIZE_MAX);
	if (ev->cgroup[0])
		attr_traced(at, "memobserver.cgroup", ev->cgroup, sizeof(ev->cgroup));
	if (ev->cgroup_id)
		attr_u64(at, "memobserver.cgroup_id", ev->cgroup_id);
	attr_u64(at, "memobserver.size_bytes", ev->size_bytes);
	if (pressure || !strcmp(ev->kind, "exit") || !strcmp(ev->kind, "oom_kill")) {
		attr_u64(at, "memobserver.unfreed_bytes", ev->unfreed_bytes);
		attr_u64(at, "memobserver.count", ev->count);
	}
	if (pressure) {
		attr(at, "memobserver.age_seconds", any_double(a, ev->age_seconds));
		attr(at, "memobserver.estimate", any_bool(a, ev->estimate));
		attr(at, "memobserver.final", any_bool(a, ev->final));
		if (ev->pattern) {
			attr_traced(at, "memobserver.pattern", ev->pattern, SIZE_MAX);
			attr(at, "memobserver.growth_bytes_per_s",
			     any_double(a, ev->growth_bytes_per_s));
			attr(at, "memobserver.confidence", any_double(a, ev->confidence));
			attr(at, "memobserver.rss_validated", any_bool(a, ev->rss_validated));
			attr_u64(at, "memobserver.repeats", ev->repeats);
		}
	}
	if (!strcmp(ev->kind, "rss_growth") || !strcmp(ev->kind, "oom_risk")) {
		attr_u64(at, "memobserver.rss_bytes", ev->rss_bytes);
		attr_u64(at, "memobserver.growth_bytes", ev->growth_bytes);
		attr(at, "memobserver.window_seconds", any_double(a, ev->window_seconds));
		attr(at, "memobserver.growth_bytes_per_s", any_double(a, ev->growth_bytes_per_s));
	}
	if (!strcmp(ev->kind, "oom_risk")) {
		attr(at, "memobserver.predicted_oom_seconds",
		     any_double(a, ev->predicted_oom_seconds));
		attr_u64(at, "memobserver.limit_bytes", ev->limit_bytes);
	}
	if (ev->address) {
		if (!strcmp(ev->kind, "fork"))
			attr_u64(at, "memobserver.child_pid", ev->address);
		else
			attr_hex(at, "memobserver.address", ev->address);
	}
	if (ev->tier)
		attr_traced(at, "memobserver.tier", ev->tier, SIZE_MAX);
	if (ev->detail[0])
		attr_traced(at, "memobserver.detail", ev->detail, sizeof(ev->detail));
	if (ev->stack.id || ev->stack.nframes) {
		char id[24];

		snprintf(id, sizeof(id), "0x%016" PRIx64, ev->stack.id);
		attr_str(at, "memobserver.stack_id", id);
		if (ev->stack.flags)
			attr(at, "memobserver.stack_partial", any_bool(a, true));
		attr(at, "memobserver.stack", stack_frames(a, &ev->stack));
		if (ev->stack.nframes)
			attr(at, "code.stacktrace", any_str(a, stack_text(a, &ev->stack)));
	}
}

static pb_log *log_record(struct arena *a, const struct mo_event *ev, uint64_t observed)
{
	pb_log *r = arena_alloc(a, sizeof(*r));
	struct attrs at = { .a = a };
	struct mo_buf b;
	char name[96];

	if (!r)
		return NULL;
	opentelemetry__proto__logs__v1__log_record__init(r);
	r->time_unix_nano = ev->timestamp_ns;
	r->observed_time_unix_nano = observed;
	r->severity_number = severity_number(ev->severity);
	if (ev->severity)
		r->severity_text = traced(a, ev->severity, 16);
	snprintf(name, sizeof(name), "memobserver.%s.%s", mo_event_type_name(ev->type),
		 ev->kind ? ev->kind : "");
	r->event_name = traced(a, name, sizeof(name));
	mo_buf_init(&b);
	out_event_headline(&b, ev);
	r->body = any_str(a, buf_take(a, &b));
	event_attrs(&at, ev);
	r->attributes = attrs_take(&at, &r->n_attributes);
	return r;
}

struct ev_ref {
	struct proc_id id;
	size_t index;
};

static int ev_ref_cmp(const void *p, const void *q)
{
	const struct ev_ref *x = p, *y = q;
	int c = id_cmp(&x->id, &y->id);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

int mo_otlp_logs_encode(const struct mo_event *const *ev, size_t n, const char *host_name,
			uint64_t observed_ns, uint8_t **out, size_t *len)
{
	struct arena a = { 0 };
	struct ev_ref *refs = arena_alloc(&a, (n ? n : 1) * sizeof(*refs));
	pb_rlogs **rls = arena_alloc(&a, (n ? n : 1) * sizeof(*rls));
	size_t nrl = 0;
	pb_lreq req;
	int err = -ENOMEM;

	opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&req);
	if (!refs || !rls)
		goto out;
	for (size_t i = 0; i < n; i++) {
		refs[i].index = i;
		refs[i].id.pid = ev[i]->pid;
		refs[i].id.command = traced(&a, ev[i]->command, sizeof(ev[i]->command));
		refs[i].id.container_id = traced(&a, ev[i]->container_id,
						 sizeof(ev[i]->container_id));
		refs[i].id.pod_uid = traced(&a, ev[i]->pod_uid, sizeof(ev[i]->pod_uid));
		refs[i].id.k8s_namespace = traced(&a, ev[i]->k8s_namespace,
						  sizeof(ev[i]->k8s_namespace));
		refs[i].id.k8s_pod = traced(&a, ev[i]->k8s_pod, sizeof(ev[i]->k8s_pod));
		refs[i].id.k8s_container = traced(&a, ev[i]->k8s_container,
						  sizeof(ev[i]->k8s_container));
	}
	if (a.oom)
		goto out;
	/* one resource per process, its records in the order they came */
	qsort(refs, n, sizeof(*refs), ev_ref_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		pb_rlogs *rl = arena_alloc(&a, sizeof(*rl));
		pb_slogs *sl = arena_alloc(&a, sizeof(*sl));
		pb_slogs **sls = arena_alloc(&a, sizeof(*sls));
		pb_log **recs;

		while (j < n && !id_cmp(&refs[i].id, &refs[j].id))
			j++;
		recs = arena_alloc(&a, (j - i) * sizeof(*recs));
		if (!rl || !sl || !sls || !recs)
			goto out;
		opentelemetry__proto__logs__v1__resource_logs__init(rl);
		opentelemetry__proto__logs__v1__scope_logs__init(sl);
		for (size_t k = i; k < j; k++) {
			recs[k - i] = log_record(&a, ev[refs[k].index], observed_ns);
			if (!recs[k - i])
				goto out;
		}
		sl->scope = scope_new(&a);
		sl->n_log_records = j - i;
		sl->log_records = recs;
		sls[0] = sl;
		rl->resource = resource_new(&a, host_name, &refs[i].id);
		rl->n_scope_logs = 1;
		rl->scope_logs = sls;
		if (!rl->resource || !sl->scope)
			goto out;
		rls[nrl++] = rl;
		i = j;
	}
	req.n_resource_logs = nrl;
	req.resource_logs = rls;
	err = pack(&a, &req.base, out, len);
out:
	arena_release(&a);
	return err;
}
