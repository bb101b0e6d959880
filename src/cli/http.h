/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http.h - the metrics endpoint (libmicrohttpd): GET /metrics, GET /healthz
 * and, when a profile handler is given, GET /debug/pprof/heap and
 * /debug/pprof/growth; other paths 404, other methods 405, oversized or
 * malformed requests rejected. Slow clients are bounded per address, in
 * total and in time; /healthz is served apart from the render, and
 * profiles apart from both (see http.c). Binds 127.0.0.1 unless told
 * otherwise.
 */
#ifndef MO_CLI_HTTP_H
#define MO_CLI_HTTP_H

#include <stddef.h>

struct http_server;

/* Produce the /metrics body (malloc'ed, *len bytes); 0 or -errno. Called on
 * the server's thread. */
typedef int (*http_render_fn)(void *ctx, char **body, size_t *len);

/* Profiles served under /debug/pprof/, as Go's net/http/pprof names them. */
enum http_profile {
	HTTP_PROFILE_HEAP,	/* /debug/pprof/heap */
	HTTP_PROFILE_GROWTH,	/* /debug/pprof/growth */
};

struct http_profile_request {
	enum http_profile which;
	const char *pid;	/* ?pid= as sent; NULL when absent */
	const char *container;	/* ?container= as sent; NULL when absent */
};

/* What the handler answers: 200 and the gzipped profile, or an error
 * status and a one-line message. body is malloc'ed; the server frees it. */
struct http_reply {
	unsigned status;
	char *body;
	size_t len;
};

/* Called on the profile server's own thread; may take a while (the
 * handler bounds it, well under a minute), during which /metrics and
 * /healthz are served. */
typedef void (*http_profile_fn)(void *ctx, const struct http_profile_request *req,
				struct http_reply *out);

struct http_handlers {
	http_render_fn metrics;		/* required */
	http_profile_fn profile;	/* NULL: /debug/pprof/ paths 404 */
	void *ctx;			/* passed to both */
};

/* "ADDR:PORT", "[v6addr]:PORT" or ":PORT" (127.0.0.1). 0 or -EINVAL. */
int http_parse_listen(const char *spec, char *host, size_t hostlen, unsigned *port);

/* Start serving; NULL with err filled ("cannot bind 127.0.0.1:9090: Address
 * already in use"). */
struct http_server *http_start(const char *spec, http_render_fn render, void *ctx, char *err,
			       size_t errlen);

/* The same, with profiles when h->profile is set. */
struct http_server *http_start_with(const char *spec, const struct http_handlers *h, char *err,
				    size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned http_port(const struct http_server *s);

void http_stop(struct http_server *s);	/* accepts NULL */

#endif
