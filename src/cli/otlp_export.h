/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_export.h - the OTLP/HTTP exporter: findings as log records to
 * ENDPOINT/v1/logs and the metrics snapshot every interval to
 * ENDPOINT/v1/metrics, binary protobuf (src/lib/sinks/otlp.c encodes). Sending
 * happens on the exporter's own thread, which holds no capability, through
 * a bounded queue: the caller never waits for the network. Failures are
 * retried (429, 502, 503, 504, connection errors and timeouts) with
 * exponential backoff and jitter, honouring Retry-After; what cannot be
 * sent is dropped. Every outcome is counted in the observer's otlp_* rows
 * (MO_COUNTERS, through mo_observer_note), which the metrics endpoint and
 * the OTLP metrics export.
 *
 * It lives in the CLI, not the library, so that only the memobserver
 * binary links libcurl and the library does no network I/O.
 */
#ifndef MO_OTLP_EXPORT_H
#define MO_OTLP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "memobserver.h"

struct otlp_exporter;

/* OTLP_metrics, OTLP_logs: the signals of MO_OTLP_SIGNALS */
enum otlp_signal {
#define OTLP_SIGNAL_ENUM(X, sig) OTLP_##sig,
	MO_OTLP_SIGNALS(OTLP_SIGNAL_ENUM, )
#undef OTLP_SIGNAL_ENUM
	OTLP__SIGNALS
};

struct otlp_config {
	struct mo_observer *obs;	/* counts the outcomes; its metrics are sent */
	const char *endpoint;		/* http[s]://host:port[/prefix]; /v1/... is appended */
	const char *const *headers;	/* "Key: value" lines sent with every request */
	size_t nheaders;
	uint64_t metrics_interval_ns;	/* metrics push period; 0: never */
	/* 0 below takes the default */
	uint64_t timeout_ms;		/* one attempt, connection included (10 s) */
	uint64_t backoff_initial_ms;	/* first retry delay before jitter (1 s) */
	uint64_t backoff_max_ms;	/* largest delay (30 s) */
	uint64_t retry_max_elapsed_ms;	/* give a request up after this long (120 s) */
	size_t queue_requests;		/* requests waiting at most (64) */
	size_t queue_bytes;		/* bytes waiting at most (16 MiB) */
};

/*
 * Check cfg and start the sending thread. NULL with a one-line reason in
 * err (the endpoint or a header is invalid, libcurl cannot start).
 */
struct otlp_exporter *otlp_exporter_start(const struct otlp_config *cfg, char *err,
					  size_t errlen);

/*
 * Hand over one encoded request (body is malloc'ed; taken in every case).
 * Never blocks: -ENOBUFS when the queue is full (counted as queue_full),
 * -ESHUTDOWN after stop began. 0 when queued.
 */
int otlp_exporter_submit(struct otlp_exporter *ex, enum otlp_signal sig, uint8_t *body,
			 size_t len);

/* Take ev (freed here or later); it leaves in the next logs request. */
void otlp_exporter_event(struct otlp_exporter *ex, struct mo_event *ev);

/*
 * Called by the CLI's loop: sends the events taken since the last request
 * when there are many or they have waited a second, and the observer's
 * metrics when the interval has passed. final: send both now (shutdown).
 * Accepts NULL.
 */
void otlp_exporter_tick(struct otlp_exporter *ex, bool final);

/*
 * Send what is queued for at most deadline_ms, then give up the rest
 * (counted as shutdown), stop the thread and free ex. Accepts NULL.
 */
void otlp_exporter_stop(struct otlp_exporter *ex, uint64_t deadline_ms);

/* An endpoint otlp_exporter_start takes; false with the reason in err. */
bool otlp_endpoint_check(const char *endpoint, char *err, size_t errlen);

/* "Key=value" (a command line --otlp-header) -> "Key: value"; -EINVAL when
 * the key is empty or not an HTTP token, or either part holds CR or LF. */
int otlp_header_line(const char *kv, char *out, size_t outlen);

#endif
