// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_export.c - OTLP/HTTP sending on a thread of its own. The queue and
 * the counters are guarded by one mutex that is never held across I/O; the
 * transfer runs in a curl multi handle polled in short slices, so a stop
 * request (or its deadline) interrupts even a connection that hangs.
 *
 * Invariants: a request is in exactly one place (the queue, the thread's
 * hands, or freed); each request is counted once as sent or as dropped with
 * one reason; the caller's side (event batching, metrics timing) is used by
 * one thread, the CLI's loop.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "otlp_export.h"
#include "privs.h"
#include "sinks/otlp.h"

#define DEF_TIMEOUT_MS 10000
#define DEF_BACKOFF_INITIAL_MS 1000
#define DEF_BACKOFF_MAX_MS 30000
#define DEF_RETRY_MAX_ELAPSED_MS 120000
#define DEF_QUEUE_REQUESTS 64
#define DEF_QUEUE_BYTES (16u << 20)
/* A Retry-After beyond this is taken as this: the queue behind must move. */
#define RETRY_AFTER_MAX_MS 300000
/* How often a transfer in progress looks at the stop deadline, at worst. */
#define POLL_SLICE_MS 50
/* Events of one logs request at most, and the longest one waits. */
#define BATCH_EVENTS 512
#define BATCH_WAIT_NS 1000000000ULL

/* Why a request was given up (the reasons of MO_OTLP_DROP_REASONS); each
 * request is counted once. */
enum otlp_drop {
#define DROP_ENUM(X, sig, reason) DROP_##reason,
	MO_OTLP_DROP_REASONS(DROP_ENUM, , )
#undef DROP_ENUM
	DROP__COUNT
};

/* Each signal's rows of the counter table. */
static const struct {
	enum mo_counter_id sent, failures, retries, dropped[DROP__COUNT];
} rows[OTLP__SIGNALS] = {
#define DROP_ID(X, sig, reason) MO_CTR_otlp_##sig##_##reason,
#define SIGNAL_ROWS(X, sig)                                                                      \
	[OTLP_##sig] = { MO_CTR_otlp_##sig##_sent, MO_CTR_otlp_##sig##_failures,                 \
			 MO_CTR_otlp_##sig##_retries, { MO_OTLP_DROP_REASONS(DROP_ID, , sig) } },
	MO_OTLP_SIGNALS(SIGNAL_ROWS, )
#undef SIGNAL_ROWS
#undef DROP_ID
};

struct request {
	struct request *next;
	enum otlp_signal sig;
	uint8_t *body;
	size_t len;
	unsigned attempts;
	uint64_t first_ms;	/* first attempt, monotonic */
};

struct otlp_exporter {
	/* set at start, then read-only */
	struct otlp_config cfg;
	char url[OTLP__SIGNALS][1024];
	char **headers;
	char host[256];
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	pthread_t thread;

	/* guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct request *head, *tail;
	size_t queued, queued_bytes;
	uint64_t not_before_ms;	/* head waits for its retry until then */
	bool stopping;
	uint64_t deadline_ms;	/* with stopping: give up at this time */

	/* the CLI thread's */
	struct mo_event *batch[BATCH_EVENTS];
	size_t nbatch;
	uint64_t batch_since_ns;
	uint64_t next_metrics_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void count(struct otlp_exporter *ex, enum mo_counter_id id)
{
	mo_observer_note(ex->cfg.obs, id, 1);
}

static void request_free(struct request *r)
{
	if (r) {
		free(r->body);
		free(r);
	}
}

/* ---- the sending thread ---- */

enum outcome { SENT, RETRY, REJECTED, FAILED, ABORTED };

struct attempt {
	long status;
	uint64_t retry_after_ms;	/* 0: none given */
	bool has_retry_after;
};

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
static size_t on_header(char *buf, size_t size, size_t n, void *userp)
{
	struct attempt *at = userp;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	char val[128];
	size_t i = sizeof(name) - 1, k = 0;

	if (len < i || strncasecmp(buf, name, i))
		return len;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	while (i < len && k + 1 < sizeof(val) && buf[i] != '\r' && buf[i] != '\n')
		val[k++] = buf[i++];
	val[k] = '\0';
	if (k && strspn(val, "0123456789") == k) {
		unsigned long long s = strtoull(val, NULL, 10);

		at->retry_after_ms = s > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : s * 1000;
		at->has_retry_after = true;
	} else if (k) {
		time_t when = curl_getdate(val, NULL), now = time(NULL);

		if (when != (time_t)-1) {
			uint64_t d = when > now ? (uint64_t)(when - now) * 1000 : 0;

			at->retry_after_ms = d > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : d;
			at->has_retry_after = true;
		}
	}
	return len;
}

/* The answer's body (an ExportServiceResponse or an error) is not needed. */
static size_t on_body(char *buf, size_t size, size_t n, void *userp)
{
	(void)buf;
	(void)userp;
	return size * n;
}

/* The stop deadline has passed: abandon what is in flight. */
static bool past_deadline(struct otlp_exporter *ex)
{
	bool past;

	pthread_mutex_lock(&ex->lock);
	past = ex->stopping && mono_ms() >= ex->deadline_ms;
	pthread_mutex_unlock(&ex->lock);
	return past;
}

static enum outcome send_once(struct otlp_exporter *ex, const struct request *r,
			      struct attempt *at)
{
	CURL *e = ex->easy;
	CURLcode res = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;

	memset(at, 0, sizeof(*at));
	curl_easy_setopt(e, CURLOPT_URL, ex->url[r->sig]);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, at);
	if (curl_multi_add_handle(ex->multi, e) != CURLM_OK)
		return RETRY;
	while (running) {
		if (curl_multi_perform(ex->multi, &running) != CURLM_OK)
			break;
		if (!running)
			break;
		if (past_deadline(ex)) {
			curl_multi_remove_handle(ex->multi, e);
			return ABORTED;
		}
		curl_multi_poll(ex->multi, NULL, 0, POLL_SLICE_MS, NULL);
	}
	while ((msg = curl_multi_info_read(ex->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
			res = msg->data.result;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &at->status);
	curl_multi_remove_handle(ex->multi, e);
	if (res != CURLE_OK)
		return RETRY;	/* connection refused, reset, timed out */
	if (at->status >= 200 && at->status < 300)
		return SENT;
	/* OTLP/HTTP: only these are worth another try */
	if (at->status == 429 || at->status == 502 || at->status == 503 || at->status == 504)
		return RETRY;
	if (at->status >= 400 && at->status < 500)
		return REJECTED;
	return FAILED;
}

/* Exponential backoff with jitter: a uniform pick in [d/2, 3d/2). */
static uint64_t backoff_ms(const struct otlp_exporter *ex, unsigned attempts, unsigned *seed)
{
	uint64_t d = ex->cfg.backoff_initial_ms;

	for (unsigned i = 1; i < attempts && d < ex->cfg.backoff_max_ms; i++)
		d *= 2;
	if (d > ex->cfg.backoff_max_ms)
		d = ex->cfg.backoff_max_ms;
	return d / 2 + (uint64_t)rand_r(seed) % (d ? d : 1);
}

/* Count r as dropped and free it. */
static void drop(struct otlp_exporter *ex, struct request *r, enum otlp_drop why)
{
	count(ex, rows[r->sig].dropped[why]);
	request_free(r);
}

static struct request *pop(struct otlp_exporter *ex)
{
	struct request *r = ex->head;

	ex->head = r->next;
	if (!ex->head)
		ex->tail = NULL;
	ex->queued--;
	ex->queued_bytes -= r->len;
	r->next = NULL;
	return r;
}

static void push_front(struct otlp_exporter *ex, struct request *r)
{
	r->next = ex->head;
	ex->head = r;
	if (!ex->tail)
		ex->tail = r;
	ex->queued++;
	ex->queued_bytes += r->len;
}

static void wait_until(struct otlp_exporter *ex, uint64_t when_ms)
{
	struct timespec ts;
	uint64_t now = mono_ms(), real;

	if (when_ms <= now)
		return;
	/* the condition variable uses CLOCK_MONOTONIC (see start) */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	real = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (when_ms - now);
	ts.tv_sec = (time_t)(real / 1000);
	ts.tv_nsec = (long)(real % 1000) * 1000000;
	pthread_cond_timedwait(&ex->cond, &ex->lock, &ts);
}

static void *sender(void *arg)
{
	struct otlp_exporter *ex = arg;
	unsigned seed = (unsigned)mono_ns() ^ (unsigned)getpid();

	/* answers come from the network: nothing here needs a capability */
	privs_limit(0, 0);
	pthread_mutex_lock(&ex->lock);
	for (;;) {
		struct request *r;
		struct attempt at;
		enum outcome out;
		uint64_t now = mono_ms();

		if (ex->stopping && (!ex->head || now >= ex->deadline_ms))
			break;
		if (!ex->head) {
			pthread_cond_wait(&ex->cond, &ex->lock);
			continue;
		}
		if (now < ex->not_before_ms) {
			wait_until(ex, ex->stopping && ex->deadline_ms < ex->not_before_ms ?
					       ex->deadline_ms : ex->not_before_ms);
			continue;
		}
		r = pop(ex);
		if (!r->attempts)
			r->first_ms = now;
		else
			count(ex, rows[r->sig].retries);
		r->attempts++;
		pthread_mutex_unlock(&ex->lock);
		out = send_once(ex, r, &at);
		pthread_mutex_lock(&ex->lock);
		now = mono_ms();
		if (out == SENT) {
			count(ex, rows[r->sig].sent);
			request_free(r);
			continue;
		}
		if (out == ABORTED) {
			drop(ex, r, DROP_shutdown);
			continue;
		}
		count(ex, rows[r->sig].failures);
		if (out == REJECTED) {
			drop(ex, r, DROP_rejected);
		} else if (out == FAILED) {
			drop(ex, r, DROP_send_failed);
		} else {
			uint64_t wait = at.has_retry_after ? at.retry_after_ms
							   : backoff_ms(ex, r->attempts, &seed);

			if (now + wait - r->first_ms > ex->cfg.retry_max_elapsed_ms) {
				drop(ex, r, DROP_send_failed);
			} else if (ex->stopping && now + wait >= ex->deadline_ms) {
				drop(ex, r, DROP_shutdown);
			} else {
				/* in order: the rest waits behind it */
				push_front(ex, r);
				ex->not_before_ms = now + wait;
			}
		}
	}
	while (ex->head)
		drop(ex, pop(ex), DROP_shutdown);
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

/* ---- setup ---- */

int otlp_header_line(const char *kv, char *out, size_t outlen)
{
	const char *eq = strchr(kv, '=');
	const char *v;
	size_t klen;

	if (!eq || eq == kv)
		return -EINVAL;
	klen = (size_t)(eq - kv);
	/* RFC 9110 token characters */
	for (size_t i = 0; i < klen; i++)
		if (!isalnum((unsigned char)kv[i]) && !strchr("!#$%&'*+-.^_`|~", kv[i]))
			return -EINVAL;
	v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strpbrk(v, "\r\n"))
		return -EINVAL;
	if ((size_t)snprintf(out, outlen, "%.*s: %s", (int)klen, kv, v) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

bool otlp_endpoint_check(const char *e, char *err, size_t errlen)
{
	const char *host = !strncmp(e, "http://", 7) ? e + 7 : !strncmp(e, "https://", 8) ? e + 8 :
										      NULL;

	if (!host) {
		snprintf(err, errlen, "invalid value '%s' for --otlp-endpoint (http:// or https:// URL)",
			 e);
		return false;
	}
	if (!*host || *host == '/' || strpbrk(e, " \t\r\n?#")) {
		snprintf(err, errlen, "invalid value '%s' for --otlp-endpoint (no host, or a query, "
			 "fragment or space)", e);
		return false;
	}
	if (strlen(e) > 900) {
		snprintf(err, errlen, "--otlp-endpoint is too long");
		return false;
	}
	return true;
}

static void set_defaults(struct otlp_config *c)
{
	if (!c->timeout_ms)
		c->timeout_ms = DEF_TIMEOUT_MS;
	if (!c->backoff_initial_ms)
		c->backoff_initial_ms = DEF_BACKOFF_INITIAL_MS;
	if (!c->backoff_max_ms)
		c->backoff_max_ms = DEF_BACKOFF_MAX_MS;
	if (!c->retry_max_elapsed_ms)
		c->retry_max_elapsed_ms = DEF_RETRY_MAX_ELAPSED_MS;
	if (!c->queue_requests)
		c->queue_requests = DEF_QUEUE_REQUESTS;
	if (!c->queue_bytes)
		c->queue_bytes = DEF_QUEUE_BYTES;
}

static void exporter_free(struct otlp_exporter *ex)
{
	curl_slist_free_all(ex->hdrs);
	if (ex->easy)
		curl_easy_cleanup(ex->easy);
	if (ex->multi)
		curl_multi_cleanup(ex->multi);
	pthread_cond_destroy(&ex->cond);
	pthread_mutex_destroy(&ex->lock);
	for (size_t i = 0; i < ex->nbatch; i++)
		mo_event_free(ex->batch[i]);
	free(ex);
}

static bool setup_curl(struct otlp_exporter *ex)
{
	struct curl_slist *h;
	CURL *e;

	ex->multi = curl_multi_init();
	ex->easy = e = curl_easy_init();
	if (!ex->multi || !e)
		return false;
	h = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	/* no "Expect: 100-continue" round trip before a large body */
	h = h ? curl_slist_append(h, "Expect:") : NULL;
	for (size_t i = 0; h && i < ex->cfg.nheaders; i++) {
		struct curl_slist *n = curl_slist_append(h, ex->cfg.headers[i]);

		if (!n)
			curl_slist_free_all(h);
		h = n;
	}
	if (!h)
		return false;
	ex->hdrs = h;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ex->cfg.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ex->cfg.timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "memobserver/" MO_VERSION);
	return true;
}

struct otlp_exporter *otlp_exporter_start(const struct otlp_config *cfg, char *err,
					  size_t errlen)
{
	struct otlp_exporter *ex;
	pthread_condattr_t ca;
	size_t n;
	int r;

	if (!cfg->obs) {
		snprintf(err, errlen, "OTLP exporter: no observer");
		return NULL;
	}
	if (!otlp_endpoint_check(cfg->endpoint, err, errlen))
		return NULL;
	ex = calloc(1, sizeof(*ex));
	if (!ex) {
		snprintf(err, errlen, "OTLP exporter: %s", strerror(ENOMEM));
		return NULL;
	}
	ex->cfg = *cfg;
	set_defaults(&ex->cfg);
	n = strlen(cfg->endpoint);
	while (n && cfg->endpoint[n - 1] == '/')
		n--;
#define SIGNAL_URL(X, sig)                                                                       \
	snprintf(ex->url[OTLP_##sig], sizeof(ex->url[0]), "%.*s/v1/" #sig, (int)n, cfg->endpoint);
	MO_OTLP_SIGNALS(SIGNAL_URL, )
#undef SIGNAL_URL
	if (gethostname(ex->host, sizeof(ex->host)))
		ex->host[0] = '\0';
	pthread_mutex_init(&ex->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->cond, &ca);
	pthread_condattr_destroy(&ca);
	ex->next_metrics_ns = mono_ns() + ex->cfg.metrics_interval_ns;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !setup_curl(ex)) {
		snprintf(err, errlen, "OTLP exporter: libcurl cannot start");
		exporter_free(ex);
		return NULL;
	}
	r = pthread_create(&ex->thread, NULL, sender, ex);
	if (r) {
		snprintf(err, errlen, "OTLP exporter: cannot start its thread: %s", strerror(r));
		exporter_free(ex);
		return NULL;
	}
	return ex;
}

int otlp_exporter_submit(struct otlp_exporter *ex, enum otlp_signal sig, uint8_t *body,
			 size_t len)
{
	struct request *r = calloc(1, sizeof(*r));
	int err = 0;

	pthread_mutex_lock(&ex->lock);
	if (ex->stopping) {
		err = -ESHUTDOWN;
		count(ex, rows[sig].dropped[DROP_shutdown]);
	} else if (!r || ex->queued >= ex->cfg.queue_requests ||
		   ex->queued_bytes + len > ex->cfg.queue_bytes) {
		err = -ENOBUFS;
		count(ex, rows[sig].dropped[DROP_queue_full]);
	} else {
		r->sig = sig;
		r->body = body;
		r->len = len;
		if (ex->tail)
			ex->tail->next = r;
		else
			ex->head = r;
		ex->tail = r;
		ex->queued++;
		ex->queued_bytes += len;
		pthread_cond_signal(&ex->cond);
	}
	pthread_mutex_unlock(&ex->lock);
	if (err) {
		free(r);
		free(body);
	}
	return err;
}

/* ---- the CLI thread's side ---- */

static void flush_events(struct otlp_exporter *ex)
{
	uint8_t *body = NULL;
	size_t len = 0;

	if (!ex->nbatch)
		return;
	if (mo_otlp_logs_encode((const struct mo_event *const *)ex->batch, ex->nbatch, ex->host,
				real_ns(), &body, &len) == 0)
		otlp_exporter_submit(ex, OTLP_logs, body, len);
	else
		count(ex, rows[OTLP_logs].dropped[DROP_send_failed]);
	for (size_t i = 0; i < ex->nbatch; i++)
		mo_event_free(ex->batch[i]);
	ex->nbatch = 0;
}

void otlp_exporter_event(struct otlp_exporter *ex, struct mo_event *ev)
{
	if (ex->nbatch == BATCH_EVENTS)
		flush_events(ex);
	if (!ex->nbatch)
		ex->batch_since_ns = mono_ns();
	ex->batch[ex->nbatch++] = ev;
}

static void push_metrics(struct otlp_exporter *ex)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int err = mo_observer_metrics_otlp(ex->cfg.obs, ex->host, real_ns(), &body, &len);

	if (!err)
		otlp_exporter_submit(ex, OTLP_metrics, body, len);
	else if (err != -ENODEV)
		count(ex, rows[OTLP_metrics].dropped[DROP_send_failed]);
}

void otlp_exporter_tick(struct otlp_exporter *ex, bool final)
{
	uint64_t now = mono_ns();

	if (!ex)
		return;
	if (final || ex->nbatch >= BATCH_EVENTS ||
	    (ex->nbatch && now - ex->batch_since_ns >= BATCH_WAIT_NS))
		flush_events(ex);
	if (ex->cfg.metrics_interval_ns && (final || now >= ex->next_metrics_ns)) {
		push_metrics(ex);
		while (ex->next_metrics_ns <= now)
			ex->next_metrics_ns += ex->cfg.metrics_interval_ns;
	}
}

void otlp_exporter_stop(struct otlp_exporter *ex, uint64_t deadline_ms)
{
	if (!ex)
		return;
	pthread_mutex_lock(&ex->lock);
	ex->stopping = true;
	ex->deadline_ms = mono_ms() + deadline_ms;
	pthread_cond_signal(&ex->cond);
	pthread_mutex_unlock(&ex->lock);
	curl_multi_wakeup(ex->multi);
	pthread_join(ex->thread, NULL);
	exporter_free(ex);
	curl_global_cleanup();
}
