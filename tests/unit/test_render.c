// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_render.c - Kubernetes names in rendered events and reports: present
 * only when known, and escaped in JSON and text like every string from the
 * traced system (the resolver admits only DNS-1123 names, but the renderer
 * must not rely on that).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memobserver.h"
#include "json.h"
#include "sinks/render.h"

/* A namespace, pod and container as a writer to /var/log could spell them. */
#define EVIL_NS "a\"b\\c"
#define EVIL_POD "p\nq\x1b[31m\r"
#define EVIL_CTR "c\xff\x7f"

static void set_names(char *ns, size_t nsz, char *pod, size_t psz, char *ctr, size_t csz)
{
	snprintf(ns, nsz, "%s", EVIL_NS);
	snprintf(pod, psz, "%s", EVIL_POD);
	snprintf(ctr, csz, "%s", EVIL_CTR);
}

static struct mo_event leak_event(void)
{
	struct mo_event ev = {
		.type = MO_EVENT_MEMORY_PRESSURE,
		.kind = "leak",
		.severity = "warning",
		.timestamp_ns = 1700000000000000000ull,
		.pid = 42,
		.size_bytes = 4096,
		.unfreed_bytes = 8192,
		.count = 2,
		.pattern = "growing",
	};

	snprintf(ev.command, sizeof(ev.command), "server");
	return ev;
}

/* The line count of b: every rendered event and report line ends in '\n'
 * and holds no other newline. */
static size_t lines(const struct mo_buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

static void test_event_json_escaped(void **state)
{
	struct mo_event ev = leak_event();
	struct mo_buf b;

	(void)state;
	set_names(ev.k8s_namespace, sizeof(ev.k8s_namespace), ev.k8s_pod, sizeof(ev.k8s_pod),
		  ev.k8s_container, sizeof(ev.k8s_container));
	mo_buf_init(&b);
	out_event(&b, OUT_JSON, &ev);
	assert_false(b.oom);
	assert_int_equal(lines(&b), 1);
	assert_non_null(strstr(b.data, "\"k8s_namespace\":\"a\\\"b\\\\c\""));
	assert_non_null(strstr(b.data, "\"k8s_pod\":\"p\\nq\\u001b[31m\\r\""));
	assert_non_null(strstr(b.data, "\"k8s_container\":\"c\\\\xff\\u007f\""));
	assert_null(strchr(b.data, '\x1b'));
	assert_null(strchr(b.data, '\r'));
	assert_null(memchr(b.data, 0xff, b.len));
	mo_buf_release(&b);
}

static void test_event_text_escaped(void **state)
{
	struct mo_event ev = leak_event();
	struct mo_buf b;
	const char *head;

	(void)state;
	set_names(ev.k8s_namespace, sizeof(ev.k8s_namespace), ev.k8s_pod, sizeof(ev.k8s_pod),
		  ev.k8s_container, sizeof(ev.k8s_container));
	mo_buf_init(&b);
	out_event(&b, OUT_TEXT, &ev);
	assert_false(b.oom);
	head = strstr(b.data, "pid 42 (server) [k8s a\"b\\\\c/p\\x0aq\\x1b[31m\\x0d/c\\xff\\x7f]: ");
	assert_non_null(head);
	/* the headline stays one line whatever the names hold; the line after
	 * it is the (missing) stack's */
	assert_ptr_equal(strchr(b.data, '\n'), strchr(head, '\n'));
	assert_int_equal(lines(&b), 2);
	assert_non_null(strstr(b.data, "\n        (no stack"));
	assert_null(strchr(b.data, '\x1b'));
	assert_null(memchr(b.data, 0xff, b.len));
	mo_buf_release(&b);
}

/* No names: no fields, no bracket. The pod alone, without a container. */
static void test_event_names_only_when_known(void **state)
{
	struct mo_event ev = leak_event();
	struct mo_buf b;

	(void)state;
	mo_buf_init(&b);
	out_event(&b, OUT_JSON, &ev);
	assert_null(strstr(b.data, "k8s_"));
	mo_buf_reset(&b);
	out_event(&b, OUT_TEXT, &ev);
	assert_null(strstr(b.data, "[k8s"));

	snprintf(ev.k8s_namespace, sizeof(ev.k8s_namespace), "team-a");
	snprintf(ev.k8s_pod, sizeof(ev.k8s_pod), "api-0");
	mo_buf_reset(&b);
	out_event(&b, OUT_JSON, &ev);
	assert_non_null(strstr(b.data, "\"k8s_namespace\":\"team-a\",\"k8s_pod\":\"api-0\""));
	assert_null(strstr(b.data, "k8s_container"));
	mo_buf_reset(&b);
	out_event(&b, OUT_TEXT, &ev);
	assert_non_null(strstr(b.data, "(server) [k8s team-a/api-0]: "));
	mo_buf_release(&b);
}

static void test_report_escaped(void **state)
{
	struct mo_leak leak = {
		.pid = 42,
		.pattern = "growing",
		.severity = "warning",
		.unfreed_bytes = 8192,
		.count = 2,
		.largest = 4096,
	};
	struct mo_report r = {
		.timestamp_ns = 1700000000000000000ull,
		.nleaks = 1,
		.leaks = &leak,
		.total_unfreed_bytes = 8192,
		.total_count = 2,
	};
	struct mo_buf b;

	(void)state;
	snprintf(leak.command, sizeof(leak.command), "server");
	r.counters.k8s_log_scans = 3;
	r.counters.k8s_entries_bad_name = 5;
	r.counters.k8s_entries_bad_type = 7;
	r.counters.k8s_entries_mismatched = 11;
	r.counters.drop_k8s_names_full = 13;
	set_names(leak.k8s_namespace, sizeof(leak.k8s_namespace), leak.k8s_pod,
		  sizeof(leak.k8s_pod), leak.k8s_container, sizeof(leak.k8s_container));
	mo_buf_init(&b);
	out_report(&b, OUT_TEXT, &r, "pids", "memory");
	assert_false(b.oom);
	assert_non_null(strstr(b.data, "[pid 42 server] [k8s a\"b\\\\c/p\\x0aq\\x1b[31m\\x0d/c\\xff\\x7f]\n"));
	assert_null(strchr(b.data, '\x1b'));
	assert_null(memchr(b.data, 0xff, b.len));

	mo_buf_reset(&b);
	out_report(&b, OUT_JSON, &r, "pids", "memory");
	assert_false(b.oom);
	/* the leak line and the summary line */
	assert_int_equal(lines(&b), 2);
	assert_non_null(strstr(b.data, "\"k8s_namespace\":\"a\\\"b\\\\c\""));
	assert_non_null(strstr(b.data, "\"k8s_pod\":\"p\\nq\\u001b[31m\\r\""));
	assert_non_null(strstr(b.data, "\"k8s_container\":\"c\\\\xff\\u007f\""));
	/* the resolver's counters in the summary, as docs/events.md lists them */
	assert_non_null(strstr(b.data, "\"k8s_names_table_full\":13"));
	assert_non_null(strstr(b.data, "\"k8s_log_scans\":3"));
	assert_non_null(strstr(b.data, "\"k8s_entries_bad_name\":5"));
	assert_non_null(strstr(b.data, "\"k8s_entries_bad_type\":7"));
	assert_non_null(strstr(b.data, "\"k8s_entries_mismatched\":11"));
	mo_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_json_escaped),
		cmocka_unit_test(test_event_text_escaped),
		cmocka_unit_test(test_event_names_only_when_known),
		cmocka_unit_test(test_report_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
