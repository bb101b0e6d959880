// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * metrics.c - the Prometheus text exposition (format 0.0.4) of a metrics
 * snapshot: label escaping, aggregation of processes by name, a bounded
 * number of series per family and a deterministic order.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/metrics.h"

#define OTHER "__other__"

static const char hexdig[] = "0123456789abcdef";

void mo_metrics_label_escape(struct mo_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = u[i];
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = mo_utf8_len(u + i, len - i);
			if (n) {
				i += n;
				continue;
			}
		}
		mo_buf_append(b, s + run, i - run);
		if (c == '\\') {
			mo_buf_append(b, "\\\\", 2);
		} else if (c == '"') {
			mo_buf_append(b, "\\\"", 2);
		} else if (c == '\n') {
			mo_buf_append(b, "\\n", 2);
		} else {
			/*
			 * The format has no escape for other bytes; the text
			 * \xNN (backslash escaped) keeps the byte visible and
			 * the output valid UTF-8 without raw control bytes.
			 */
			char tmp[5] = { '\\', '\\', 'x', hexdig[c >> 4], hexdig[c & 0xf] };

			mo_buf_append(b, tmp, sizeof(tmp));
		}
		i++;
		run = i;
	}
	mo_buf_append(b, s + run, i - run);
}

/* Per-process values, indexes into row.v. */
enum { V_ALLOCS, V_FREES, V_UNFREED, V_LARGEST, V__COUNT };

/*
 * One series before it is written. Labels are escaped and NUL-terminated;
 * grouping compares the escaped text, so two raw names that escape alike
 * share a series instead of producing a duplicate one.
 */
struct row {
	const char *a;	/* process */
	const char *b;	/* container_id or severity; "" when the family has neither */
	const char *k;	/* the Kubernetes labels written out (",k8s_namespace=\"..\",..."),
			   "" or NULL when none */
	uint64_t v[V__COUNT];
	bool other;	/* folded into the __other__ series */
};

static int label_cmp(const struct row *x, const struct row *y)
{
	int c = strcmp(x->a, y->a);

	if (!c)
		c = strcmp(x->b, y->b);
	return c ? c : strcmp(x->k ? x->k : "", y->k ? y->k : "");
}

static int row_cmp(const void *p, const void *q)
{
	return label_cmp(p, q);
}

static int u64_desc(uint64_t x, uint64_t y)
{
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Which series survive the cap: the ones holding the most unfreed memory. */
static int rank_proc(const void *p, const void *q)
{
	const struct row *x = *(const struct row *const *)p, *y = *(const struct row *const *)q;
	int c = u64_desc(x->v[V_UNFREED], y->v[V_UNFREED]);

	if (!c)
		c = u64_desc(x->v[V_ALLOCS], y->v[V_ALLOCS]);
	return c ? c : label_cmp(x, y);
}

static int rank_largest(const void *p, const void *q)
{
	const struct row *x = *(const struct row *const *)p, *y = *(const struct row *const *)q;
	int c = u64_desc(x->v[V_LARGEST], y->v[V_LARGEST]);

	return c ? c : label_cmp(x, y);
}

static int rank_count(const void *p, const void *q)
{
	const struct row *x = *(const struct row *const *)p, *y = *(const struct row *const *)q;
	int c = u64_desc(x->v[0], y->v[0]);

	return c ? c : label_cmp(x, y);
}

/* Folded rows ordered by their second label, so equal ones are adjacent. */
static int folded_cmp(const void *p, const void *q)
{
	const struct row *x = *(const struct row *const *)p, *y = *(const struct row *const *)q;
	int c = strcmp(x->b, y->b);

	return c ? c : strcmp(x->a, y->a);
}

/* The folded rows sorted by second label (*nf of them); NULL on OOM. */
static struct row **folded(struct row *rows, size_t n, size_t *nf)
{
	struct row **f = malloc((n ? n : 1) * sizeof(*f));

	*nf = 0;
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (rows[i].other)
			f[(*nf)++] = &rows[i];
	qsort(f, *nf, sizeof(*f), folded_cmp);
	return f;
}

/* How many __other__ series the folded rows make: one per second label or one. */
static size_t buckets(struct row **f, size_t nf, bool per_b)
{
	size_t k = nf ? 1 : 0;

	if (!per_b)
		return k;
	for (size_t i = 1; i < nf; i++)
		if (strcmp(f[i]->b, f[i - 1]->b))
			k++;
	return k;
}

/*
 * Mark the rows that do not fit in max_series (0: no cap) as folded into
 * __other__, keeping the highest-ranked ones, so that the kept series plus
 * the __other__ series number at most max_series. A traced process may
 * name itself __other__: once a bucket exists it joins the bucket rather
 * than duplicate its series. With per_b there is one bucket per second
 * label (severity); if there are more of those than max_series, the
 * buckets alone exceed the cap.
 */
static int cap_rows(struct row *rows, size_t n, size_t max_series,
		    int (*rank)(const void *, const void *), bool per_b)
{
	struct row **order, **f;
	size_t keep, nf, k;

	if (!max_series || n <= max_series)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = &rows[i];
	qsort(order, n, sizeof(*order), rank);
	for (keep = max_series - 1;; keep--) {
		size_t kept = 0;

		for (size_t i = 0; i < n; i++) {
			bool fold = kept >= keep || !strcmp(order[i]->a, OTHER);

			order[i]->other = fold;
			kept += !fold;
		}
		f = folded(rows, n, &nf);
		if (!f) {
			free(order);
			return -ENOMEM;
		}
		k = buckets(f, nf, per_b);
		free(f);
		if (keep == 0 || kept + k <= max_series)
			break;
	}
	free(order);
	return 0;
}

static void put_u64(struct mo_buf *b, uint64_t v)
{
	mo_buf_printf(b, " %" PRIu64 "\n", v);
}

/* Go's ParseFloat reads what this writes: the shortest round-trip %g. */
static void put_double(struct mo_buf *b, double v)
{
	char tmp[40];

	if (isnan(v)) {
		mo_buf_puts(b, " NaN\n");
		return;
	}
	if (isinf(v)) {
		mo_buf_puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* A host program's locale may use ',' as the decimal point. */
	for (char *p = tmp; *p; p++)
		if ((*p < '0' || *p > '9') && *p != '-' && *p != '+' && *p != 'e')
			*p = '.';
	mo_buf_printf(b, " %s\n", tmp);
}

static void family(struct mo_buf *b, const char *name, const char *type, const char *help)
{
	mo_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labels1(struct mo_buf *b, const char *name, const char *k, const char *v)
{
	mo_buf_printf(b, "%s{%s=\"%s\"}", name, k, v);
}

static void labels2(struct mo_buf *b, const char *name, const char *k1, const char *v1,
		    const char *k2, const char *v2)
{
	mo_buf_printf(b, "%s{%s=\"%s\",%s=\"%s\"}", name, k1, v1, k2, v2);
}

/* ,key="value" with the value escaped. */
static void label_text(struct mo_buf *b, const char *key, const char *v, size_t size)
{
	mo_buf_printf(b, ",%s=\"", key);
	mo_metrics_label_escape(b, v, strnlen(v, size));
	mo_buf_append(b, "\"", 1);
}

/*
 * Escape every label into one arena and group the processes by (process,
 * container_id, Kubernetes names): merged rows sorted by labels, pointing
 * into arena. The names are a container's, so they add no series of their
 * own beyond the container_id's.
 */
static struct row *proc_rows(const struct mo_metrics_snapshot *s, struct mo_buf *arena,
			     size_t *nrows)
{
	size_t n = s->nprocs, *off, m = 0;
	struct row *rows;

	*nrows = 0;
	rows = calloc(n ? n : 1, sizeof(*rows));
	off = calloc(3 * n + 1, sizeof(*off));
	if (!rows || !off)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct mo_proc_metrics *p = &s->procs[i];

		off[3 * i] = arena->len;
		mo_metrics_label_escape(arena, p->command, strnlen(p->command, sizeof(p->command)));
		mo_buf_append(arena, "", 1);
		off[3 * i + 1] = arena->len;
		mo_metrics_label_escape(arena, p->container_id,
					strnlen(p->container_id, sizeof(p->container_id)));
		mo_buf_append(arena, "", 1);
		off[3 * i + 2] = arena->len;
		if (p->k8s_namespace[0] || p->k8s_pod[0] || p->k8s_container[0]) {
			label_text(arena, "k8s_namespace", p->k8s_namespace,
				   sizeof(p->k8s_namespace));
			label_text(arena, "k8s_pod", p->k8s_pod, sizeof(p->k8s_pod));
			label_text(arena, "k8s_container", p->k8s_container,
				   sizeof(p->k8s_container));
		}
		mo_buf_append(arena, "", 1);
	}
	if (arena->oom)
		goto fail;
	/* The arena no longer moves: labels can be pointers now. */
	for (size_t i = 0; i < n; i++) {
		const struct mo_proc_metrics *p = &s->procs[i];

		rows[i].a = arena->data + off[3 * i];
		rows[i].b = arena->data + off[3 * i + 1];
		rows[i].k = arena->data + off[3 * i + 2];
		rows[i].v[V_ALLOCS] = p->allocations;
		rows[i].v[V_FREES] = p->deallocations;
		rows[i].v[V_UNFREED] = p->unfreed_bytes;
		rows[i].v[V_LARGEST] = p->largest_allocation;
		rows[i].other = s->series_decided && p->other;
	}
	free(off);
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && !label_cmp(&rows[m - 1], &rows[i])) {
			struct row *r = &rows[m - 1];

			r->v[V_ALLOCS] += rows[i].v[V_ALLOCS];
			r->v[V_FREES] += rows[i].v[V_FREES];
			r->v[V_UNFREED] += rows[i].v[V_UNFREED];
			if (rows[i].v[V_LARGEST] > r->v[V_LARGEST])
				r->v[V_LARGEST] = rows[i].v[V_LARGEST];
			r->other |= rows[i].other;
			continue;
		}
		rows[m++] = rows[i];
	}
	*nrows = m;
	return rows;
fail:
	free(rows);
	free(off);
	return NULL;
}

/* Group (process, container_id) rows by process alone; rows are sorted. */
static struct row *name_rows(const struct row *rows, size_t n, size_t *nnames)
{
	struct row *names = calloc(n ? n : 1, sizeof(*names));
	size_t m = 0;

	*nnames = 0;
	if (!names)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (m && !strcmp(names[m - 1].a, rows[i].a)) {
			if (rows[i].v[V_LARGEST] > names[m - 1].v[V_LARGEST])
				names[m - 1].v[V_LARGEST] = rows[i].v[V_LARGEST];
			continue;
		}
		names[m].a = rows[i].a;
		names[m].b = "";
		names[m].v[V_LARGEST] = rows[i].v[V_LARGEST];
		m++;
	}
	*nnames = m;
	return names;
}

/* offset: what __other__ keeps of keys that left it (counters only). */
static void proc_family(struct mo_buf *b, const char *name, const char *type, const char *help,
			const struct row *rows, size_t n, int v, uint64_t offset)
{
	uint64_t other = offset;
	bool any = offset > 0;

	family(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].other) {
			other += rows[i].v[v];
			any = true;
			continue;
		}
		mo_buf_printf(b, "%s{process=\"%s\",container_id=\"%s\"%s}", name, rows[i].a,
			      rows[i].b, rows[i].k);
		put_u64(b, rows[i].v[v]);
	}
	if (any) {
		labels2(b, name, "process", OTHER, "container_id", "");
		put_u64(b, other);
	}
}

static void largest_family(struct mo_buf *b, const struct row *names, size_t n)
{
	static const char name[] = "memory_largest_allocation_bytes";
	uint64_t other = 0;
	bool any = false;

	family(b, name, "gauge",
	       "Largest single tracked allocation in bytes, the maximum over the processes with this name.");
	for (size_t i = 0; i < n; i++) {
		if (names[i].other) {
			/* A maximum: summing maxima would describe no allocation. */
			if (names[i].v[V_LARGEST] > other)
				other = names[i].v[V_LARGEST];
			any = true;
			continue;
		}
		labels1(b, name, "process", names[i].a);
		put_u64(b, names[i].v[V_LARGEST]);
	}
	if (any) {
		labels1(b, name, "process", OTHER);
		put_u64(b, other);
	}
}

static bool folded_has(struct row **f, size_t nf, const char *b)
{
	for (size_t i = 0; i < nf; i++)
		if (!strcmp(f[i]->b, b))
			return true;
	return false;
}

static int rss_family(struct mo_buf *b, const struct mo_metrics_snapshot *s, size_t max_series)
{
	static const char name[] = "memory_rss_growth_detected_total";
	size_t n = s->nrss, m = 0, nf = 0, *off = NULL;
	struct row *rows = NULL, **f = NULL;
	struct mo_buf arena;
	int err = -ENOMEM;

	family(b, name, "counter",
	       "Sustained RSS growth detections, by process name and severity.");
	mo_buf_init(&arena);
	if (!n)
		return 0;
	rows = calloc(n, sizeof(*rows));
	off = calloc(2 * n, sizeof(*off));
	if (!rows || !off)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct mo_rss_growth_metric *r = &s->rss[i];
		const char *sev = r->severity ? r->severity : "";

		off[2 * i] = arena.len;
		mo_metrics_label_escape(&arena, r->command,
					strnlen(r->command, sizeof(r->command)));
		mo_buf_append(&arena, "", 1);
		off[2 * i + 1] = arena.len;
		mo_metrics_label_escape(&arena, sev, strlen(sev));
		mo_buf_append(&arena, "", 1);
	}
	if (arena.oom)
		goto out;
	for (size_t i = 0; i < n; i++) {
		rows[i].a = arena.data + off[2 * i];
		rows[i].b = arena.data + off[2 * i + 1];
		rows[i].v[0] = s->rss[i].count;
		rows[i].other = s->series_decided && s->rss[i].other;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && !label_cmp(&rows[m - 1], &rows[i])) {
			rows[m - 1].v[0] += rows[i].v[0];
			rows[m - 1].other |= rows[i].other;
		} else {
			rows[m++] = rows[i];
		}
	}
	err = s->series_decided ? 0 : cap_rows(rows, m, max_series, rank_count, true);
	if (err)
		goto out;
	for (size_t i = 0; i < m; i++) {
		if (rows[i].other)
			continue;
		labels2(b, name, "process", rows[i].a, "severity", rows[i].b);
		put_u64(b, rows[i].v[0]);
	}
	err = -ENOMEM;
	f = folded(rows, m, &nf);
	if (!f)
		goto out;
	for (size_t i = 0; i < nf;) {
		uint64_t sum = 0;
		size_t j = i;

		for (; j < nf && !strcmp(f[j]->b, f[i]->b); j++)
			sum += f[j]->v[0];
		sum += !strcmp(f[i]->b, "warning") ? s->other_rss_warning
		       : !strcmp(f[i]->b, "critical") ? s->other_rss_critical : 0;
		labels2(b, name, "process", OTHER, "severity", f[i]->b);
		put_u64(b, sum);
		i = j;
	}
	/* keys that left __other__: what they had there stays there */
	if (s->other_rss_warning && !folded_has(f, nf, "warning")) {
		labels2(b, name, "process", OTHER, "severity", "warning");
		put_u64(b, s->other_rss_warning);
	}
	if (s->other_rss_critical && !folded_has(f, nf, "critical")) {
		labels2(b, name, "process", OTHER, "severity", "critical");
		put_u64(b, s->other_rss_critical);
	}
	err = 0;
out:
	free(f);
	free(rows);
	free(off);
	mo_buf_release(&arena);
	return err;
}

static int process_families(struct mo_buf *b, const struct mo_metrics_snapshot *s,
			    size_t max_series)
{
	struct row *rows = NULL, *names = NULL;
	size_t n = 0, nn = 0;
	struct mo_buf arena;
	int err = -ENOMEM;

	mo_buf_init(&arena);
	rows = proc_rows(s, &arena, &n);
	if (!rows)
		goto out;
	names = name_rows(rows, n, &nn);
	if (!names)
		goto out;
	/*
	 * One choice for the three families keyed by (process, container_id),
	 * so that ratios between them join on the same series.
	 */
	if (!s->series_decided)
		err = cap_rows(rows, n, max_series, rank_proc, false);
	else
		err = 0;
	if (!err)
		err = cap_rows(names, nn, max_series, rank_largest, false);
	if (err)
		goto out;
	proc_family(b, "memory_allocations_tracked_total", "counter",
		    "Allocations tracked by the observer, by process name and container.",
		    rows, n, V_ALLOCS, s->other_allocations);
	proc_family(b, "memory_deallocations_tracked_total", "counter",
		    "Frees that matched a tracked allocation, by process name and container.",
		    rows, n, V_FREES, s->other_deallocations);
	proc_family(b, "memory_unfreed_memory_bytes", "gauge",
		    "Bytes of tracked allocations not freed yet, by process name and container.",
		    rows, n, V_UNFREED, 0);
	largest_family(b, names, nn);
out:
	free(names);
	free(rows);
	mo_buf_release(&arena);
	return err;
}

/* A row of a table: "k=v[,k=v]" written as {k="v",k="v"}. */
static void table_row(struct mo_buf *b, const char *fam, const char *label)
{
	mo_buf_puts(b, fam);
	if (!label)
		return;
	mo_buf_puts(b, "{");
	while (*label) {
		size_t k = strcspn(label, "="), v;

		if (!label[k])
			break;
		v = strcspn(label + k + 1, ",");
		mo_buf_printf(b, "%.*s=\"%.*s\"", (int)k, label, (int)v, label + k + 1);
		label += k + 1 + v;
		if (*label == ',') {
			mo_buf_puts(b, ",");
			label++;
		}
	}
	mo_buf_puts(b, "}");
}

static void counter_families(struct mo_buf *b, const struct mo_metrics_snapshot *s)
{
	const struct mo_counters *c = &s->counters;
	const char *prev = "";

#define MO_COUNTER_ROW(field, kind, fam, label, json_key, help)                         \
	if (strcmp(prev, fam))                                                          \
		family(b, fam, kind == MO_CK_GAUGE ? "gauge" : "counter", help);        \
	table_row(b, fam, label);                                                       \
	put_u64(b, c->field);                                                           \
	prev = fam;
	MO_COUNTERS(MO_COUNTER_ROW)
#undef MO_COUNTER_ROW
#define MO_VALUE_ROW(fam, kind, label, is_double, value, help)                          \
	if (strcmp(prev, fam))                                                          \
		family(b, fam, kind == MO_CK_GAUGE ? "gauge" : "counter", help);        \
	table_row(b, fam, label);                                                       \
	if (is_double)                                                                  \
		put_double(b, (double)(value));                                         \
	else                                                                            \
		put_u64(b, (uint64_t)(value));                                          \
	prev = fam;
	MO_SNAPSHOT_VALUES(MO_VALUE_ROW)
#undef MO_VALUE_ROW
}

void mo_metrics_render(struct mo_buf *b, const struct mo_metrics_snapshot *s, size_t max_series)
{
	/*
	 * The void signature reports failure through the buffer: a family
	 * left out for want of memory must not pass for a complete scrape.
	 */
	if (process_families(b, s, max_series) || rss_family(b, s, max_series)) {
		b->oom = true;
		return;
	}
	counter_families(b, s);
}
