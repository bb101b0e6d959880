// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http.c - the metrics endpoint on libmicrohttpd. One internal polling
 * thread serves every connection, so the render callback never runs
 * concurrently with itself; limits on connections, idle time and
 * per-connection memory keep a misbehaving client from costing more than a
 * scrape does. That thread holds no capability at all: it is created by a
 * short-lived thread that first drops its own (capabilities are per thread
 * and a new thread inherits its creator's), so a flaw reachable from the
 * network does not reach root's powers along with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"

/* Prometheus, a health checker and a curious human fit with room to spare. */
#define MAX_CONNECTIONS 64u
/* A scrape sends its request at once; a client idle this long is gone or hostile. */
#define IDLE_TIMEOUT_S 5u
/*
 * Per connection: request line, headers and I/O buffers. A scrape request
 * is a few hundred bytes; anything near this is answered 431 and closed.
 */
#define CONNECTION_MEMORY (16u * 1024)

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

struct http_server {
	struct MHD_Daemon *d;
	http_render_fn render;
	void *ctx;
	unsigned port;
};

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static int parse_port(const char *s, unsigned *port)
{
	unsigned long v = 0;
	size_t n = 0;

	/* Digits only: strtoul would take signs, spaces and hex. */
	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		v = v * 10 + (unsigned long)(s[n] - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (n == 0 || s[n] != '\0')
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

int http_parse_listen(const char *spec, char *host, size_t hostlen, unsigned *port)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *h, *colon;
	const char *out = addr;
	bool v6 = false;
	size_t hlen;
	unsigned p;

	if (!spec || !host || !port)
		return -EINVAL;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = spec + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
		v6 = true;
	} else {
		colon = strchr(spec, ':');
		/* An IPv6 address without brackets cannot be told from its port. */
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		h = spec;
		hlen = (size_t)(colon - spec);
	}
	if (parse_port(colon + 1, &p))
		return -EINVAL;
	if (hlen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, h, hlen);
	addr[hlen] = '\0';
	if (v6) {
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return -EINVAL;
	} else if (hlen == 0 || !strcmp(addr, "localhost")) {
		out = "127.0.0.1";
	} else if (inet_pton(AF_INET, addr, bin) != 1) {
		/* Literal addresses only: resolving names here would block on DNS. */
		return -EINVAL;
	}
	if (strlen(out) >= hostlen)
		return -EINVAL;
	strcpy(host, out);
	*port = p;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;	/* out of memory: MHD closes the connection */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	return reply(conn, status, TEXT_TYPE, r);
}

static enum MHD_Result reply_metrics(struct http_server *s, struct MHD_Connection *conn)
{
	struct MHD_Response *r;
	char *body = NULL, msg[128], ebuf[64];
	size_t len = 0;
	int err;

	err = s->render(s->ctx, &body, &len);
	if (err) {
		free(body);
		snprintf(msg, sizeof(msg), "cannot render metrics: %s\n",
			 strerror_r(-err, ebuf, sizeof(ebuf)));
		r = MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_MUST_COPY);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT_TYPE, r);
	}
	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!r)
		free(body);
	return reply(conn, MHD_HTTP_OK, METRICS_TYPE, r);
}

static enum MHD_Result dispatch(struct http_server *s, struct MHD_Connection *conn,
			       const char *url)
{
	/* MHD answers HEAD with the headers of the GET reply and no body. */
	if (!strcmp(url, "/metrics"))
		return reply_metrics(s, conn);
	if (!strcmp(url, "/healthz"))
		return reply_text(conn, MHD_HTTP_OK, "ok\n");
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (cl && strcmp(cl, "0")) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/*
 * MHD calls this once when the headers are in, then once per chunk of body,
 * then once more with no data. A reply queued on the first call makes MHD
 * close the connection afterwards instead of reading the body: that is how
 * other methods and requests with a body are answered. A plain GET or HEAD
 * is answered on the second call, which keeps the connection alive for the
 * next scrape.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	static int seen, answered;
	struct http_server *s = cls;

	if (*req_ctx == &answered) {
		*upload_data_size = 0;	/* a body after the reply: dropped */
		return MHD_YES;
	}
	if (*req_ctx == &seen) {
		*req_ctx = &answered;
		return dispatch(s, conn, url);
	}
	*req_ctx = &answered;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (has_body(conn))
		return dispatch(s, conn, url);
	*req_ctx = &seen;
	return MHD_YES;
}

/*
 * The listening socket is made here, by the calling thread, which may hold
 * CAP_NET_BIND_SERVICE (a port below 1024); the server is then started
 * with none. Returns the socket or -errno.
 */
static int listen_on(const union sockaddr_any *addr, socklen_t len, bool dual)
{
	int fd, one = 1, v6only = !dual, err;

	fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, &addr->sa, len) || listen(fd, MAX_CONNECTIONS)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

struct starter {
	struct http_server *s;
	unsigned flags;
	int fd;		/* bound and listening; MHD owns it once started */
	int drop_err;	/* capset failed: no server was started */
	int mhd_err;	/* MHD failed: its errno */
};

/* Empty effective, permitted and inheritable sets for the calling thread
 * only (capset(2) with pid 0); an emptied permitted set cannot be refilled. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &hdr, data) ? errno : 0;
}

/*
 * Runs on a thread of its own: drops every capability, then starts MHD on
 * the socket already bound, and MHD's server thread ("MHD-single")
 * inherits the empty sets.
 */
static void *start_unprivileged(void *arg)
{
	struct starter *st = arg;

	st->drop_err = drop_capabilities();
	if (st->drop_err)
		return NULL;
	/* No MHD_USE_ERROR_LOG: failures reach the caller through err only. */
	errno = 0;
	st->s->d = MHD_start_daemon(st->flags, 0, NULL, NULL, handle, st->s,
				    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)st->fd,
				    MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
				    MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				    MHD_OPTION_STRICT_FOR_CLIENT, 1,
				    MHD_OPTION_END);
	if (!st->s->d)
		st->mhd_err = errno ? errno : EIO;
	return NULL;
}

struct http_server *http_start(const char *spec, http_render_fn render, void *ctx, char *err,
			       size_t errlen)
{
	union sockaddr_any addr;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
	struct http_server *s;
	struct starter st = { 0 };
	char host[INET6_ADDRSTRLEN], where[INET6_ADDRSTRLEN + 10], ebuf[64];
	socklen_t alen, bound;
	bool dual = false;
	unsigned port;
	pthread_t t;
	int e, fd;

	if (http_parse_listen(spec, host, sizeof(host), &port) || !render) {
		snprintf(err, errlen,
			 "invalid listen address '%s' (ADDR:PORT, [ADDR]:PORT or :PORT)",
			 spec ? spec : "");
		errno = EINVAL;
		return NULL;
	}
	memset(&addr, 0, sizeof(addr));
	if (strchr(host, ':')) {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &addr.in6.sin6_addr);
		alen = sizeof(addr.in6);
		/* [::] means every address, IPv4 ones included; others are v6 only. */
		dual = IN6_IS_ADDR_UNSPECIFIED(&addr.in6.sin6_addr);
		snprintf(where, sizeof(where), "[%s]:%u", host, port);
	} else {
		addr.in.sin_family = AF_INET;
		addr.in.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &addr.in.sin_addr);
		alen = sizeof(addr.in);
		snprintf(where, sizeof(where), "%s:%u", host, port);
	}
	fd = listen_on(&addr, alen, dual);
	if (fd < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", where,
			 strerror_r(-fd, ebuf, sizeof(ebuf)));
		errno = -fd;
		return NULL;
	}
	bound = (socklen_t)sizeof(addr);
	if (getsockname(fd, &addr.sa, &bound) == 0)
		port = ntohs(addr.sa.sa_family == AF_INET6 ? addr.in6.sin6_port
							    : addr.in.sin_port);
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		snprintf(err, errlen, "cannot serve metrics on %s: %s", where, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	s->render = render;
	s->ctx = ctx;
	st.s = s;
	st.flags = flags;
	st.fd = fd;
	e = pthread_create(&t, NULL, start_unprivileged, &st);
	if (e) {
		close(fd);
		free(s);
		snprintf(err, errlen, "cannot serve metrics on %s: %s", where,
			 strerror_r(e, ebuf, sizeof(ebuf)));
		errno = e;
		return NULL;
	}
	pthread_join(t, NULL);
	if (!s->d) {
		close(fd);
		free(s);
		e = st.drop_err ? st.drop_err : st.mhd_err;
		if (st.drop_err)
			snprintf(err, errlen, "cannot drop capabilities for the metrics server: %s",
				 strerror_r(e, ebuf, sizeof(ebuf)));
		else
			snprintf(err, errlen, "cannot serve metrics on %s: %s", where,
				 strerror_r(e, ebuf, sizeof(ebuf)));
		errno = e;
		return NULL;
	}
	s->port = port;
	return s;
}

unsigned http_port(const struct http_server *s)
{
	return s ? s->port : 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/* Joins the server thread: no render call is running after this. */
	MHD_stop_daemon(s->d);
	free(s);
}
