// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_http.c - libFuzzer harness for the metrics server (src/cli/http.c on
 * libmicrohttpd). The real server is started once on 127.0.0.1 (ephemeral
 * port, built with ASan+UBSan like the harness); each input is sent as raw
 * bytes over a new TCP connection, the write side is then shut, and the
 * answer is read within a bounded time. The server must not crash, must
 * answer with well-formed status lines (or close, or wait for the rest of
 * a request), must serve 200 only for its paths (/healthz, /metrics and the
 * two profiles, from a handler that answers from its arguments) with their
 * exact bodies, and must answer a plain scrape (checked every 64 inputs) at
 * once, whatever the inputs before left behind.
 *
 *   make fuzz-replay FUZZERS=http     its corpus, as the test suite runs it
 *   make fuzz-explore FUZZERS=http    random exploration (tests/fuzz/README)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/http.h"
#include "fuzz.h"

static const char metrics[] = "# TYPE memobserver_up gauge\nmemobserver_up 1\n";
static struct http_server *server;
static unsigned port;
static unsigned long inputs;

static int render(void *ctx, char **body, size_t *len)
{
	*body = malloc(sizeof(metrics) - 1);
	if (!*body)
		return -12;
	memcpy(*body, metrics, sizeof(metrics) - 1);
	*len = sizeof(metrics) - 1;
	return 0;
}

static const char profile_body[] = "PROFILE\n";

/* 200 and a fixed body, or 404 for ?pid=0: the server passes arguments on. */
static void profile(void *ctx, const struct http_profile_request *req, struct http_reply *out)
{
	bool missing = req->pid && !strcmp(req->pid, "0");
	const char *body = missing ? "no such pid\n" : profile_body;

	CHECK(req->which == HTTP_PROFILE_HEAP || req->which == HTTP_PROFILE_GROWTH);
	out->status = missing ? 404 : 200;
	out->len = strlen(body);
	out->body = strdup(body);
	CHECK(out->body);
}

static void stop(void)
{
	http_stop(server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct http_handlers h = { .metrics = render, .profile = profile };
	char err[256];

	server = http_start_with("127.0.0.1:0", &h, err, sizeof(err));
	if (!server) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	port = http_port(server);
	atexit(stop);
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Send data, shut the write side, read the answer into buf (at most cap-1
 * bytes kept, NUL-terminated). Length read (to a close or 300 ms of
 * silence), or -1 if the server kept talking past the time bound. */
static long exchange(const void *data, size_t size, char *buf, size_t cap)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_usec = 300 * 1000 };
	size_t got = 0, sent = 0;
	double deadline = now() + 8.0;	/* > the server's 5 s header deadline */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	CHECK(connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	while (sent < size) {
		ssize_t n = send(fd, (const char *)data + sent, size - sent, MSG_NOSIGNAL);

		if (n <= 0)
			break;	/* the server closed early on what it rejects */
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		char sink[4096];
		ssize_t n = got + 1 < cap ? recv(fd, buf + got, cap - 1 - got, 0)
					  : recv(fd, sink, sizeof(sink), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		/* Silence: a kept-alive connection after its answers, or a
		 * request the server still waits on (its 5 s deadline ends it). */
		if (n < 0)
			break;
		if (n > 0 && got + 1 < cap)
			got += (size_t)n;
		if (now() > deadline) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	buf[got] = '\0';
	return (long)got;
}

/* Every response in the reply is well-formed; a 200 carries one of our bodies. */
static void check_reply(const char *buf, long len)
{
	const char *p = buf;

	if (len == 0)
		return;	/* closed without an answer: allowed for garbage */
	CHECK(!strncmp(p, "HTTP/1.", 7));
	while ((p = strstr(p, "HTTP/1.")) && p < buf + len) {
		int status = 0;

		CHECK(sscanf(p, "HTTP/1.%*1d %3d ", &status) == 1);
		CHECK(status >= 200 && status <= 599);
		if (status == 200) {
			const char *body = strstr(p, "\r\n\r\n");

			CHECK(body);
			body += 4;
			/* HEAD: no body; GET: exactly one of ours */
			CHECK(*body == '\0' || !strncmp(body, "ok\n", 3) ||
			      !strncmp(body, metrics, sizeof(metrics) - 1) ||
			      !strncmp(body, profile_body, sizeof(profile_body) - 1) ||
			      !strncmp(body, "HTTP/1.", 7));
		}
		p += 7;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[1 << 16];
	static const char scrape[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	long len = exchange(data, size, buf, sizeof(buf));

	CHECK(len >= 0);	/* answered or closed within the bound */
	check_reply(buf, len);
	if (++inputs % 64 == 0) {
		/* Abandoned half-requests wait at the gate, where a new
		 * connection displaces the oldest: a scrape is served at once. */
		double deadline = now() + 2.0;

		for (;;) {
			len = exchange(scrape, sizeof(scrape) - 1, buf, sizeof(buf));
			if (len > 0 && !strncmp(buf, "HTTP/1.1 200 ", 13))
				break;
			CHECK(now() < deadline);
			usleep(100 * 1000);
		}
		CHECK(strstr(buf, metrics));
	}
	return 0;
}
