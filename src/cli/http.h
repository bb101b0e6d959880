/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http.h - the metrics endpoint (libmicrohttpd): GET /metrics and GET
 * /healthz only; other paths 404, other methods 405, oversized or malformed
 * requests rejected. Slow clients are bounded per address, in total and in
 * time, and /healthz is served apart from the render (see http.c). Binds
 * 127.0.0.1 unless told otherwise.
 */
#ifndef MO_CLI_HTTP_H
#define MO_CLI_HTTP_H

#include <stddef.h>

struct http_server;

/* Produce the /metrics body (malloc'ed, *len bytes); 0 or -errno. Called on
 * the server's thread. */
typedef int (*http_render_fn)(void *ctx, char **body, size_t *len);

/* "ADDR:PORT", "[v6addr]:PORT" or ":PORT" (127.0.0.1). 0 or -EINVAL. */
int http_parse_listen(const char *spec, char *host, size_t hostlen, unsigned *port);

/* Start serving; NULL with err filled ("cannot bind 127.0.0.1:9090: Address
 * already in use"). */
struct http_server *http_start(const char *spec, http_render_fn render, void *ctx, char *err,
			       size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned http_port(const struct http_server *s);

void http_stop(struct http_server *s);	/* accepts NULL */

#endif
