// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp_export.c - the OTLP sender against an HTTP server in this
 * process (libmicrohttpd) that answers what each test scripts: Retry-After
 * is waited for, a 400 is dropped without a retry, a full queue refuses at
 * once, stop abandons a request the server sits on, headers arrive, and
 * the --otlp-header syntax. The outcomes are read where the exporter counts
 * them: the observer's counters (an observer not started).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <microhttpd.h>

#include "otlp_export.h"

struct server {
	struct MHD_Daemon *d;
	unsigned port;
	/* scripted answers: status[i] for request i, 200 past the end */
	int status[8];
	const char *retry_after;	/* sent with non-200 answers */
	unsigned sleep_ms;		/* before answering */
	/* what arrived, written by the server's threads under lock: the
	 * exporter's counters tell the test when, but through a socket, which
	 * a race detector cannot follow */
	pthread_mutex_t lock;
	unsigned requests;
	uint64_t at_ms[8];
	char path[64];
	char auth[64];
	size_t bytes;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **state)
{
	struct server *s = cls;
	struct MHD_Response *r;
	const char *auth;
	enum MHD_Result ret;
	unsigned n;
	int status;

	(void)method;
	(void)version;
	if (!*state) {		/* headers: wait for the body */
		*state = s;
		return MHD_YES;
	}
	pthread_mutex_lock(&s->lock);
	if (*size) {
		s->bytes += *size;
		*size = 0;
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	n = s->requests++;
	if (n < 8)
		s->at_ms[n] = now_ms();
	snprintf(s->path, sizeof(s->path), "%s", url);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(s->auth, sizeof(s->auth), "%s", auth ? auth : "");
	pthread_mutex_unlock(&s->lock);
	if (s->sleep_ms)
		usleep(s->sleep_ms * 1000);
	status = n < 8 && s->status[n] ? s->status[n] : 200;
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (status != 200 && s->retry_after)
		MHD_add_response_header(r, "Retry-After", s->retry_after);
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	(void)data;
	return ret;
}

/* What arrived so far (the scripted part as given). */
static struct server seen(struct server *s)
{
	struct server copy;

	pthread_mutex_lock(&s->lock);
	copy = *s;
	pthread_mutex_unlock(&s->lock);
	return copy;
}

static void server_start(struct server *s)
{
	const union MHD_DaemonInfo *info;

	pthread_mutex_init(&s->lock, NULL);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, handle, s, MHD_OPTION_END);
	assert_non_null(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info->port;
}

static void server_stop(struct server *s)
{
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->lock);
}

static struct mo_observer *obs;

static int setup(void **state)
{
	(void)state;
	obs = mo_observer_new("test", NULL, NULL, NULL);
	return obs ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mo_observer_free(obs);
	return 0;
}

/* The counters counted since the previous call (each test starts at 0). */
static struct mo_counters base;

static struct mo_counters counted(void)
{
	struct mo_counters now, d;

	mo_observer_counters(obs, &now);
#define DELTA(field, kind, family, label, json_key, help) d.field = now.field - base.field;
	MO_COUNTERS(DELTA)
#undef DELTA
	return d;
}

static void reset_counts(void)
{
	mo_observer_counters(obs, &base);
}

static uint64_t row(const struct mo_counters *c, enum mo_counter_id id)
{
	const uint64_t v[MO_CTR__COUNT] = {
#define VALUE(field, kind, family, label, json_key, help) c->field,
		MO_COUNTERS(VALUE)
#undef VALUE
	};

	return v[id];
}

/* Wait (10 s at most) until counter row id reaches want; the counters then. */
static struct mo_counters wait_stat(enum mo_counter_id id, uint64_t want)
{
	struct mo_counters c;

	for (int i = 0; i < 1000; i++) {
		c = counted();
		if (row(&c, id) >= want)
			return c;
		usleep(10000);
	}
	fail_msg("counter row %d never reached %lu", (int)id, (unsigned long)want);
	return c;
}

static struct otlp_exporter *start(struct server *s, struct otlp_config *cfg, char *url)
{
	char err[256];
	struct otlp_exporter *ex;

	sprintf(url, "http://127.0.0.1:%u/", s->port);
	cfg->endpoint = url;
	cfg->obs = obs;
	reset_counts();
	ex = otlp_exporter_start(cfg, err, sizeof(err));
	assert_non_null(ex);
	return ex;
}

static void submit(struct otlp_exporter *ex, enum otlp_signal sig, int expect)
{
	uint8_t *b = malloc(16);

	assert_non_null(b);
	memset(b, 'x', 16);
	assert_int_equal(otlp_exporter_submit(ex, sig, b, 16), expect);
}

static void test_retry_after_is_waited_for(void **state)
{
	struct server s = { .status = { 503 }, .retry_after = "1" }, got;
	struct otlp_config cfg = { .headers = (const char *const[]){ "Authorization: Bearer x" },
				   .nheaders = 1 };
	struct mo_counters st;
	struct otlp_exporter *ex;
	char url[64];

	(void)state;
	server_start(&s);
	ex = start(&s, &cfg, url);
	submit(ex, OTLP_logs, 0);
	st = wait_stat(MO_CTR_otlp_logs_sent, 1);
	assert_int_equal(st.otlp_logs_retries, 1);
	assert_int_equal(st.otlp_logs_failures, 1);
	assert_int_equal(st.otlp_metrics_sent, 0);
	got = seen(&s);
	assert_int_equal(got.requests, 2);
	/* Retry-After: 1 replaces the backoff (which would start at 0.5-1.5 s) */
	assert_true(got.at_ms[1] - got.at_ms[0] >= 1000);
	assert_string_equal(got.path, "/v1/logs");
	assert_string_equal(got.auth, "Bearer x");
	assert_int_equal(got.bytes, 32);
	otlp_exporter_stop(ex, 1000);
	server_stop(&s);
}

static void test_rejected_is_not_retried(void **state)
{
	struct server s = { .status = { 400, 500 } };
	struct otlp_config cfg = { 0 };
	struct mo_counters st;
	struct otlp_exporter *ex;
	char url[64];

	(void)state;
	server_start(&s);
	ex = start(&s, &cfg, url);
	submit(ex, OTLP_metrics, 0);
	submit(ex, OTLP_metrics, 0);
	st = wait_stat(MO_CTR_otlp_metrics_send_failed, 1);
	assert_int_equal(st.otlp_metrics_rejected, 1);
	assert_int_equal(st.otlp_metrics_retries, 0);
	assert_int_equal(st.otlp_metrics_failures, 2);
	assert_int_equal(st.otlp_metrics_sent, 0);
	assert_string_equal(seen(&s).path, "/v1/metrics");
	otlp_exporter_stop(ex, 1000);
	assert_int_equal(seen(&s).requests, 2);
	server_stop(&s);
}

/* A request waiting for its retry holds the only place in the queue. */
static void test_full_queue_refuses_at_once(void **state)
{
	struct server s = { .status = { 503, 503 }, .retry_after = "100" };
	struct otlp_config cfg = { .queue_requests = 1 };
	struct mo_counters st;
	struct otlp_exporter *ex;
	uint64_t t0;
	char url[64];

	(void)state;
	server_start(&s);
	ex = start(&s, &cfg, url);
	submit(ex, OTLP_logs, 0);
	wait_stat(MO_CTR_otlp_logs_failures, 1);
	t0 = now_ms();
	submit(ex, OTLP_logs, -ENOBUFS);
	assert_true(now_ms() - t0 < 100);
	st = counted();
	assert_int_equal(st.otlp_logs_queue_full, 1);
	/* the retry is 100 s away: stop gives it up at once */
	t0 = now_ms();
	otlp_exporter_stop(ex, 300);
	assert_true(now_ms() - t0 < 1000);
	st = counted();
	assert_int_equal(st.otlp_logs_shutdown, 1);
	assert_int_equal(st.otlp_logs_sent, 0);
	server_stop(&s);
}

/* The server sits on the request; stop's deadline ends the transfer. */
static void test_stop_abandons_a_slow_request(void **state)
{
	struct server s = { .sleep_ms = 3000 };
	struct otlp_config cfg = { 0 };
	struct otlp_exporter *ex;
	uint64_t t0;
	char url[64];

	(void)state;
	server_start(&s);
	ex = start(&s, &cfg, url);
	submit(ex, OTLP_metrics, 0);
	for (int i = 0; i < 500 && !seen(&s).requests; i++)
		usleep(10000);
	assert_int_equal(seen(&s).requests, 1);
	t0 = now_ms();
	otlp_exporter_stop(ex, 200);
	assert_true(now_ms() - t0 < 700);
	assert_int_equal(counted().otlp_metrics_shutdown, 1);
	server_stop(&s);
}

static void test_header_syntax(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(otlp_header_line("Authorization=Bearer a=b", out, sizeof(out)), 0);
	assert_string_equal(out, "Authorization: Bearer a=b");
	assert_int_equal(otlp_header_line("X-Empty=", out, sizeof(out)), 0);
	assert_string_equal(out, "X-Empty: ");
	assert_int_equal(otlp_header_line("=v", out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_header_line("novalue", out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_header_line("a b=c", out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_header_line("a:b=c", out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_header_line("a=b\r\nX-Injected: 1", out, sizeof(out)), -EINVAL);
	assert_true(otlp_header_line("a=0123456789012345678901234567890123456789012345678901234567890",
				     out, sizeof(out)) < 0);
	assert_true(otlp_endpoint_check("https://c:4318/prefix", out, sizeof(out)));
	assert_false(otlp_endpoint_check("c:4318", out, sizeof(out)));
	assert_false(otlp_endpoint_check("http:///x", out, sizeof(out)));
	assert_false(otlp_endpoint_check("http://c?q=1", out, sizeof(out)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_is_waited_for),
		cmocka_unit_test(test_rejected_is_not_retried),
		cmocka_unit_test(test_full_queue_refuses_at_once),
		cmocka_unit_test(test_stop_abandons_a_slow_request),
		cmocka_unit_test(test_header_syntax),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
