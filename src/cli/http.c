// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http.c - the metrics endpoint on libmicrohttpd (MHD), built to stay up
 * while a client on the node misbehaves. Three threads serve it:
 *
 *   gate     owns the listening socket. It accepts every connection and
 *            holds it, only peeking at its bytes, until the request headers
 *            are in, but never longer than HEADER_DEADLINE_MS after accept,
 *            however slowly the client trickles them. It then hands the
 *            connection to one of the two servers below by its request
 *            line. Waiting connections are bounded per client address and
 *            in total; a new one displaces the oldest of its own address,
 *            or else the oldest of all, so a slow client holds a place only
 *            until somebody else needs it.
 *   metrics  an MHD daemon without a listening socket: every request but a
 *            health probe. Renders /metrics on its thread (the render takes
 *            the observer's lock).
 *   health   a second MHD daemon: answers /healthz and renders nothing, so
 *            a liveness probe is answered while a scrape is being rendered
 *            and while the metrics slots are all taken.
 *   profiles a third MHD daemon, when profiles are served: /debug/pprof/heap and growth.
 *            A profile waits for the observer's worker (seconds at most),
 *            which must hold neither scrapes nor probes.
 *
 * Every reply closes its connection, so every request passes the gate and
 * its deadline: a kept-alive connection cannot trickle its next request.
 *
 * None of these threads holds a capability: they are created by a
 * short-lived thread that first drops its own (capabilities are per thread
 * and a new thread inherits its creator's), so a flaw reachable from the
 * network does not reach root's powers along with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "http.h"

/* Requests being answered: Prometheus, a health checker and a curious
 * human fit with room to spare. */
#define METRICS_CONNECTIONS 64u
/* A probe is answered from bytes already received, in microseconds. */
#define HEALTH_CONNECTIONS 32u
/* Profiles are made one at a time by the observer: a few may queue. */
#define PROFILE_CONNECTIONS 4u
/* Connections whose request headers are not in yet, in total and from one
 * client address. */
#define PENDING_MAX 256u
#define PENDING_PER_ADDR 32u
/* From accept to the end of the request headers, trickled bytes or not: a
 * scrape or a probe sends its request at once. */
#define HEADER_DEADLINE_MS 5000u
/* Once a request is being answered: a client that reads nothing this long
 * is gone or hostile. */
#define IDLE_TIMEOUT_S 5u
/* A profile is answered once the observer has made it: the handler's own
 * wait (seconds, see http.h) must fit, or MHD would drop the connection
 * before its answer. */
#define PROFILE_IDLE_TIMEOUT_S 60u
/*
 * Per connection: request line, headers and I/O buffers. A scrape request
 * is a few hundred bytes; anything near this is answered 431 and closed.
 * The gate peeks as much: a head that does not end within that many bytes
 * cannot end within MHD's read buffer either, so MHD answers rather than
 * waits for more.
 */
#define CONNECTION_MEMORY (16u * 1024)
/* accept(2) ran out of descriptors with nothing to displace: retry after. */
#define ACCEPT_PAUSE_MS 100u

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"
#define PPROF_PREFIX "/debug/pprof/"

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * One MHD daemon and what it serves. The gate hands it at most `cap`
 * connections at a time (handed - closed), and MHD's own limit is set
 * above that, never reached: libmicrohttpd 0.9.75 leaves a mutex locked
 * when a connection added by MHD_add_connection finds the daemon full, and
 * the daemon's thread then hangs for good. (A connection MHD drops before
 * serving it, for want of memory for its pool, is never reported closed:
 * it keeps its place, one place per such failure.)
 */
struct endpoint {
	struct http_server *s;
	struct MHD_Daemon *d;
	bool metrics;		/* /metrics too, not only /healthz */
	bool profiles;		/* /debug/pprof/ too */
	unsigned cap;
	unsigned idle_s;	/* MHD's connection timeout */
	unsigned handed;	/* by the gate, which alone writes it */
	atomic_uint closed;	/* by MHD's thread, as it closes them */
};

/* A connection at the gate; fd -1 marks a free place. */
struct pending {
	int fd;
	uint64_t accepted_ms;	/* CLOCK_MONOTONIC: the header deadline runs from here */
	uint64_t seq;		/* accept order: the lowest is the oldest */
	struct endpoint *to;	/* request in, waiting for a place there; NULL: not in yet */
	union sockaddr_any peer;
	socklen_t peer_len;
};

/* epoll tags: a pending place's index, or one of these. */
#define TAG_LISTEN PENDING_MAX
#define TAG_STOP (PENDING_MAX + 1)
#define TAG_FREED (PENDING_MAX + 2)

struct http_server {
	struct endpoint metrics, health, profiles;
	http_render_fn render;
	http_profile_fn profile;	/* NULL: no profiles daemon */
	void *ctx;
	unsigned port;
	/* the gate's own; the gate thread alone touches them once started */
	int listen_fd, epoll_fd;
	int stop_fd;		/* eventfd: the gate returns */
	int freed_fd;		/* eventfd: a daemon closed a connection */
	pthread_t gate;
	bool gate_running;
	uint64_t accept_paused_until;	/* 0: accepting */
	uint64_t seq;
	struct pending pend[PENDING_MAX];
	char peek[CONNECTION_MEMORY];
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
	/* "close": the next request on this socket would skip the gate. */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES ||
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

static enum MHD_Result reply_message(struct MHD_Connection *conn, unsigned status,
				     const char *msg)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	return reply(conn, status, TEXT_TYPE, r);
}

/*
 * A profile as Go's net/http/pprof serves it: the gzipped profile.proto
 * as an attachment. What Go's handler takes beside (gc, debug=0) is
 * accepted; what it would answer otherwise is refused: a delta profile
 * (seconds=), a text rendering (debug=N).
 */
static enum MHD_Result reply_profile(struct http_server *s, struct MHD_Connection *conn,
				     enum http_profile which)
{
	struct http_profile_request req = { .which = which };
	struct http_reply out = { 0 };
	struct MHD_Response *r;
	const char *debug;
	char disposition[64];

	if (MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds"))
		return reply_message(conn, MHD_HTTP_BAD_REQUEST,
				     "delta profiles (seconds=) are not served: take two profiles "
				     "and compare them (go tool pprof -diff_base A B)\n");
	debug = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "debug");
	if (debug && strcmp(debug, "0"))
		return reply_message(conn, MHD_HTTP_BAD_REQUEST,
				     "only the binary profile is served (debug=0)\n");
	req.pid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pid");
	req.container = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "container");
	s->profile(s->ctx, &req, &out);
	if (!out.status || (out.len && !out.body)) {
		free(out.body);
		return reply_message(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				     "cannot make the profile\n");
	}
	r = MHD_create_response_from_buffer_with_free_callback(out.len, out.body, free);
	if (!r) {
		free(out.body);
		return MHD_NO;
	}
	if (out.status != MHD_HTTP_OK)
		return reply(conn, out.status, TEXT_TYPE, r);
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"",
		 which == HTTP_PROFILE_GROWTH ? "growth" : "heap");
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, "application/octet-stream", r);
}

static enum MHD_Result dispatch(const struct endpoint *ep, struct MHD_Connection *conn,
			       const char *url)
{
	/* MHD answers HEAD with the headers of the GET reply and no body. */
	if (ep->metrics && !strcmp(url, "/metrics"))
		return reply_metrics(ep->s, conn);
	if (ep->profiles && !strcmp(url, PPROF_PREFIX "heap"))
		return reply_profile(ep->s, conn, HTTP_PROFILE_HEAP);
	if (ep->profiles && !strcmp(url, PPROF_PREFIX "growth"))
		return reply_profile(ep->s, conn, HTTP_PROFILE_GROWTH);
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
 * is answered on the second call.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	static int seen, answered;
	const struct endpoint *ep = cls;

	if (*req_ctx == &answered) {
		*upload_data_size = 0;	/* a body after the reply: dropped */
		return MHD_YES;
	}
	if (*req_ctx == &seen) {
		*req_ctx = &answered;
		return dispatch(ep, conn, url);
	}
	*req_ctx = &answered;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (has_body(conn))
		return dispatch(ep, conn, url);
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
	if (bind(fd, &addr->sa, len) || listen(fd, (int)PENDING_MAX)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static bool same_addr(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return a->sa.sa_family == AF_INET6 &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
}

/* Closing the socket also takes it out of the epoll set. */
static void drop(struct http_server *s, unsigned i)
{
	close(s->pend[i].fd);
	s->pend[i].fd = -1;
}

enum route { ROUTE_WAIT, ROUTE_HEALTH, ROUTE_METRICS, ROUTE_PROFILE };

static bool is_health(const char *b, size_t n)
{
	static const char *const lines[] = { "GET /healthz", "HEAD /healthz" };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t len = strlen(lines[i]);

		if (n > len && !memcmp(b, lines[i], len) && (b[len] == ' ' || b[len] == '?'))
			return true;
	}
	return false;
}

static bool is_profile(const char *b, size_t n)
{
	static const char *const lines[] = { "GET " PPROF_PREFIX, "HEAD " PPROF_PREFIX };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t len = strlen(lines[i]);

		if (n > len && !memcmp(b, lines[i], len))
			return true;
	}
	return false;
}

/*
 * Do the first n bytes hold a whole request head, as MHD reads one? MHD
 * ends a line at LF (CRLF or bare), skips empty lines before the request
 * line, and ends the head at the first empty line after it. Skipping every
 * leading CR and LF here may skip a line MHD would not (a lone CR), but
 * MHD then rejects that line at once: handing over early never leaves MHD
 * waiting for more, which is the point.
 */
static bool head_complete(const char *b, size_t n, size_t *start)
{
	size_t i = 0;

	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	*start = i;
	for (; i + 1 < n; i++) {
		if (b[i] == '\n' &&
		    (b[i + 1] == '\n' || (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')))
			return true;
	}
	return false;
}

/*
 * Where the request in the first n bytes goes. Handed over only when the
 * server will not wait for more: the head is complete, or the buffer is
 * full (MHD answers 431), or the client has shut its side (MHD answers
 * what it got). The route is only a choice of thread: MHD parses the
 * request again and answers anything odd with an error.
 */
static enum route route_of(const char *b, size_t n, bool full, bool eof, bool profiles)
{
	size_t start;

	if (!head_complete(b, n, &start))
		return full || eof ? ROUTE_METRICS : ROUTE_WAIT;
	if (is_health(b + start, n - start))
		return ROUTE_HEALTH;
	return profiles && is_profile(b + start, n - start) ? ROUTE_PROFILE : ROUTE_METRICS;
}

/* Hand pending connection i to its daemon if it has a place; else it
 * waits at the gate, its deadline running. */
static void hand_over(struct http_server *s, unsigned i)
{
	struct pending *p = &s->pend[i];
	struct endpoint *ep = p->to;
	int fd = p->fd;

	if (ep->handed - atomic_load(&ep->closed) >= ep->cap)
		return;
	p->fd = -1;
	p->to = NULL;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	/* MHD owns the socket now: it closes it itself on failure, and then
	 * never reports it closed. */
	if (MHD_add_connection(ep->d, fd, &p->peer.sa, p->peer_len) == MHD_YES)
		ep->handed++;
}

/* Connections waiting for a place, oldest first, while places are free. */
static void hand_over_waiting(struct http_server *s)
{
	for (;;) {
		unsigned next = PENDING_MAX;

		for (unsigned i = 0; i < PENDING_MAX; i++) {
			const struct pending *p = &s->pend[i];

			if (p->fd >= 0 && p->to &&
			    p->to->handed - atomic_load(&p->to->closed) < p->to->cap &&
			    (next == PENDING_MAX || p->seq < s->pend[next].seq))
				next = i;
		}
		if (next == PENDING_MAX)
			return;
		hand_over(s, next);
	}
}

/* Look at what pending connection i has sent; route it once its request
 * is in. */
static void examine(struct http_server *s, unsigned i, bool eof)
{
	struct pending *p = &s->pend[i];
	enum route r;
	ssize_t n;

	if (p->fd < 0)
		return;
	n = recv(p->fd, s->peek, sizeof(s->peek), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		drop(s, i);	/* gone, or reset, before it was served */
		return;
	}
	if (p->to)
		return;	/* already waiting for a place */
	r = route_of(s->peek, (size_t)n, (size_t)n == sizeof(s->peek), eof, s->profile != NULL);
	if (r == ROUTE_WAIT)
		return;
	p->to = r == ROUTE_HEALTH ? &s->health : r == ROUTE_PROFILE ? &s->profiles : &s->metrics;
	hand_over(s, i);
}

/* The oldest pending connection (from peer only, unless NULL) and how
 * many there are; PENDING_MAX if none. */
static unsigned oldest_pending(const struct http_server *s, const union sockaddr_any *peer,
			       unsigned *count)
{
	unsigned oldest = PENDING_MAX;

	*count = 0;
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		const struct pending *p = &s->pend[i];

		if (p->fd < 0 || (peer && !same_addr(&p->peer, peer)))
			continue;
		(*count)++;
		if (oldest == PENDING_MAX || p->seq < s->pend[oldest].seq)
			oldest = i;
	}
	return oldest;
}

/*
 * A place for a new connection from peer: a client address at its limit
 * gives up its own oldest; otherwise a free place, or the oldest of all
 * (a request that arrives at once is long gone by then: the oldest are the
 * slow ones).
 */
static unsigned place_for(struct http_server *s, const union sockaddr_any *peer)
{
	unsigned i, same, total;

	i = oldest_pending(s, peer, &same);
	if (same < PENDING_PER_ADDR) {
		i = oldest_pending(s, NULL, &total);
		if (total < PENDING_MAX) {
			for (i = 0; s->pend[i].fd >= 0; i++)
				;
			return i;
		}
	}
	drop(s, i);
	return i;
}

static void pause_accept(struct http_server *s, bool pause)
{
	struct epoll_event ev = { .events = pause ? 0 : EPOLLIN, .data.u32 = TAG_LISTEN };

	epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev);
	s->accept_paused_until = pause ? now_ms() + ACCEPT_PAUSE_MS : 0;
}

/* Accept what is queued (a bounded batch, so pending connections are not
 * starved by a flood) and look at each at once: a request is often in. */
static void accept_batch(struct http_server *s)
{
	for (unsigned k = 0; k < PENDING_MAX; k++) {
		union sockaddr_any peer;
		socklen_t len = sizeof(peer);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
		unsigned i, count;
		int fd;

		fd = accept4(s->listen_fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
			    errno != ENOMEM)
				return;	/* EAGAIN: all taken */
			/* Out of descriptors: give up the oldest waiting one. */
			i = oldest_pending(s, NULL, &count);
			if (i == PENDING_MAX) {
				pause_accept(s, true);
				return;
			}
			drop(s, i);
			continue;
		}
		i = place_for(s, &peer);
		s->pend[i] = (struct pending){ .fd = fd, .accepted_ms = now_ms(), .seq = ++s->seq,
					       .peer = peer, .peer_len = len };
		ev.data.u32 = i;
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
			drop(s, i);
			continue;
		}
		examine(s, i, false);
	}
}

/* Drop connections past their header deadline; the time to the next
 * deadline (ms, -1 for none) is the gate's wait. */
static int expire(struct http_server *s)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	for (unsigned i = 0; i < PENDING_MAX; i++) {
		uint64_t due = s->pend[i].accepted_ms + HEADER_DEADLINE_MS;

		if (s->pend[i].fd < 0)
			continue;
		if (due <= now)
			drop(s, i);
		else if (due < next)
			next = due;
	}
	if (s->accept_paused_until) {
		if (s->accept_paused_until <= now)
			pause_accept(s, false);
		else if (s->accept_paused_until < next)
			next = s->accept_paused_until;
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static void *gate_main(void *arg)
{
	struct http_server *s = arg;
	struct epoll_event ev[64];
	int timeout = -1;

	for (;;) {
		bool incoming = false, freed = false;
		int n = epoll_wait(s->epoll_fd, ev, sizeof(ev) / sizeof(ev[0]), timeout);

		for (int k = 0; k < n; k++) {
			unsigned tag = ev[k].data.u32;

			if (tag == TAG_STOP)
				return NULL;
			if (tag == TAG_LISTEN)
				incoming = true;
			else if (tag == TAG_FREED)
				freed = true;
			else
				examine(s, tag, ev[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		}
		if (freed) {
			uint64_t count;

			if (read(s->freed_fd, &count, sizeof(count)) < 0)
				count = 0;	/* EAGAIN: read already */
			hand_over_waiting(s);
		}
		if (incoming)
			accept_batch(s);
		timeout = expire(s);
	}
}

struct starter {
	struct http_server *s;
	int drop_err;	/* capset failed: nothing was started */
	int err;	/* starting a server failed: its errno */
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

/* MHD closed a connection (on its own thread): a place is free, and the
 * gate may have requests waiting for it. */
static void connection_event(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			     enum MHD_ConnectionNotificationCode what)
{
	struct endpoint *ep = cls;
	uint64_t one = 1;

	if (what != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	atomic_fetch_add(&ep->closed, 1);
	if (write(ep->s->freed_fd, &one, sizeof(one)) < 0)
		return;	/* EAGAIN: the counter is full of wake-ups already */
}

static struct MHD_Daemon *start_daemon(struct endpoint *ep)
{
	/* No MHD_USE_ERROR_LOG: failures reach the caller through errno only. */
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET, 0, NULL,
				NULL, handle, ep,
				/* above ep->cap: see struct endpoint */
				MHD_OPTION_CONNECTION_LIMIT, ep->cap + 8,
				MHD_OPTION_NOTIFY_CONNECTION, connection_event, ep,
				MHD_OPTION_CONNECTION_TIMEOUT, ep->idle_s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				MHD_OPTION_STRICT_FOR_CLIENT, 1,
				MHD_OPTION_END);
}

/*
 * Runs on a thread of its own: drops every capability, then starts the MHD
 * daemons (their threads are "MHD-single") and the gate thread
 * ("http-gate"), which all inherit the empty sets.
 */
static void *start_unprivileged(void *arg)
{
	struct starter *st = arg;
	struct http_server *s = st->s;

	st->drop_err = drop_capabilities();
	if (st->drop_err)
		return NULL;
	errno = 0;
	s->metrics.d = start_daemon(&s->metrics);
	if (s->metrics.d)
		s->health.d = start_daemon(&s->health);
	if (s->health.d && s->profile)
		s->profiles.d = start_daemon(&s->profiles);
	if (!s->health.d || (s->profile && !s->profiles.d)) {
		st->err = errno ? errno : EIO;
		return NULL;
	}
	st->err = pthread_create(&s->gate, NULL, gate_main, s);
	if (!st->err) {
		s->gate_running = true;
		pthread_setname_np(s->gate, "http-gate");
	}
	return NULL;
}

/* Everything but the listening socket and the struct; safe on a partly
 * started server. Stops the gate first: nothing is handed over after. */
static void shut_down(struct http_server *s)
{
	uint64_t one = 1;

	if (s->gate_running) {
		if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
			abort();	/* the first write of 1 to an eventfd cannot fail */
		pthread_join(s->gate, NULL);
		s->gate_running = false;
	}
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		if (s->pend[i].fd >= 0)
			drop(s, i);
	}
	/* Joins the server threads: no render call is running after this. */
	if (s->metrics.d)
		MHD_stop_daemon(s->metrics.d);
	if (s->health.d)
		MHD_stop_daemon(s->health.d);
	if (s->profiles.d)
		MHD_stop_daemon(s->profiles.d);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->freed_fd >= 0)
		close(s->freed_fd);
}

/* The gate's epoll set and wake-ups; 0 or -errno. */
static int gate_init(struct http_server *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_LISTEN };

	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->freed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epoll_fd < 0 || s->stop_fd < 0 || s->freed_fd < 0 ||
	    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev))
		return -errno;
	ev.data.u32 = TAG_STOP;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->stop_fd, &ev))
		return -errno;
	ev.data.u32 = TAG_FREED;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->freed_fd, &ev))
		return -errno;
	return 0;
}

struct http_server *http_start(const char *spec, http_render_fn render, void *ctx, char *err,
			       size_t errlen)
{
	const struct http_handlers h = { .metrics = render, .ctx = ctx };

	return http_start_with(spec, &h, err, errlen);
}

struct http_server *http_start_with(const char *spec, const struct http_handlers *h, char *err,
				    size_t errlen)
{
	union sockaddr_any addr;
	struct http_server *s;
	struct starter st = { 0 };
	char host[INET6_ADDRSTRLEN], where[INET6_ADDRSTRLEN + 10], ebuf[64];
	socklen_t alen, bound;
	bool dual = false;
	unsigned port;
	pthread_t t;
	int e, fd;

	if (http_parse_listen(spec, host, sizeof(host), &port) || !h || !h->metrics) {
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
	s->render = h->metrics;
	s->profile = h->profile;
	s->ctx = h->ctx;
	s->metrics.s = s;
	s->metrics.metrics = true;
	s->metrics.cap = METRICS_CONNECTIONS;
	s->metrics.idle_s = IDLE_TIMEOUT_S;
	s->health.s = s;
	s->health.cap = HEALTH_CONNECTIONS;
	s->health.idle_s = IDLE_TIMEOUT_S;
	s->profiles.s = s;
	s->profiles.profiles = true;
	s->profiles.cap = PROFILE_CONNECTIONS;
	s->profiles.idle_s = PROFILE_IDLE_TIMEOUT_S;
	s->listen_fd = fd;
	for (unsigned i = 0; i < PENDING_MAX; i++)
		s->pend[i].fd = -1;
	e = -gate_init(s);
	st.s = s;
	if (!e)
		e = pthread_create(&t, NULL, start_unprivileged, &st);
	if (!e) {
		pthread_join(t, NULL);
		e = st.drop_err ? st.drop_err : st.err;
	}
	if (e) {
		shut_down(s);
		close(fd);
		free(s);
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
	shut_down(s);
	close(s->listen_fd);
	free(s);
}
