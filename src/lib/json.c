// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * json.c - growable string buffer, streaming JSON writer and the escaping
 * of untrusted bytes (process names, paths, symbols) for JSON and for text.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH ((int)(sizeof(((struct mo_json *)0)->need_comma) / sizeof(bool)))

static const char hexdig[] = "0123456789abcdef";

void mo_buf_init(struct mo_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->oom = false;
}

void mo_buf_release(struct mo_buf *b)
{
	if (!b)
		return;
	free(b->data);
	mo_buf_init(b);
}

void mo_buf_reset(struct mo_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

/*
 * Make room for extra bytes plus the terminating NUL. Once an append has
 * failed the buffer refuses all further appends until reset: a buffer with
 * a hole in the middle would be worse than a truncated one.
 */
static bool reserve(struct mo_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX - 1 - b->len)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		goto fail;
	b->data = p;
	b->cap = cap;
	return true;
fail:
	b->oom = true;
	return false;
}

void mo_buf_append(struct mo_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void mo_buf_puts(struct mo_buf *b, const char *s)
{
	mo_buf_append(b, s, strlen(s));
}

static void putc_buf(struct mo_buf *b, char c)
{
	mo_buf_append(b, &c, 1);
}

void mo_buf_printf(struct mo_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (!reserve(b, 0))
		return;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		b->oom = true;
		return;
	}
	if ((size_t)n >= room) {
		if (!reserve(b, (size_t)n)) {
			b->data[b->len] = '\0';
			return;
		}
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode 15, table 3-7),
 * or 0 when the byte at s does not start one: that rejects overlongs,
 * UTF-16 surrogates, code points above U+10FFFF and truncated sequences.
 */
size_t mo_utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static void put_hex_escape(struct mo_buf *b, const char *prefix, size_t plen,
			   unsigned char c)
{
	char tmp[8];

	memcpy(tmp, prefix, plen);
	tmp[plen] = hexdig[c >> 4];
	tmp[plen + 1] = hexdig[c & 0xf];
	mo_buf_append(b, tmp, plen + 2);
}

void mo_json_string(struct mo_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	putc_buf(b, '"');
	while (i < len) {
		unsigned char c = u[i];
		const char *esc = NULL;
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
		/* Flush the run of bytes that need no escaping. */
		mo_buf_append(b, s + run, i - run);
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		}
		if (esc)
			mo_buf_puts(b, esc);
		else if (c < 0x80)
			put_hex_escape(b, "\\u00", 4, c);
		else
			/* Decodes to the text \xNN: the byte survives as text. */
			put_hex_escape(b, "\\\\x", 3, c);
		i++;
		run = i;
	}
	mo_buf_append(b, s + run, i - run);
	putc_buf(b, '"');
}

void mo_text_escape(struct mo_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = u[i];
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			n = mo_utf8_len(u + i, len - i);
			/*
			 * C1 controls (U+0080..U+009F) are valid UTF-8 but some
			 * terminals act on them (U+009B is CSI), so their bytes
			 * are escaped like any other control.
			 */
			if (n > 1 && !(c == 0xc2 && u[i + 1] < 0xa0)) {
				i += n;
				continue;
			}
		}
		mo_buf_append(b, s + run, i - run);
		if (c == '\\') {
			mo_buf_append(b, "\\\\", 2);
			i++;
		} else if (c == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
			   u[i + 1] < 0xa0) {
			put_hex_escape(b, "\\x", 2, c);
			put_hex_escape(b, "\\x", 2, u[i + 1]);
			i += 2;
		} else {
			put_hex_escape(b, "\\x", 2, c);
			i++;
		}
		run = i;
	}
	mo_buf_append(b, s + run, i - run);
}

void mo_json_init(struct mo_json *j, struct mo_buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
}

/*
 * Emit the comma that separates this value from the previous one in the
 * enclosing container. Top-level values (depth 0) are never separated, so
 * one writer can produce newline-delimited JSON.
 */
static void value_begin(struct mo_json *j)
{
	bool *need;

	if (j->depth == 0 || j->depth > MAX_DEPTH)
		return;
	need = &j->need_comma[j->depth - 1];
	if (*need)
		putc_buf(j->b, ',');
	*need = true;
}

static void open_container(struct mo_json *j, char c)
{
	value_begin(j);
	putc_buf(j->b, c);
	j->depth++;
	if (j->depth > MAX_DEPTH)
		/* Too deep to track commas: mark the output unusable. */
		j->b->oom = true;
	else
		j->need_comma[j->depth - 1] = false;
}

static void close_container(struct mo_json *j, char c)
{
	if (j->depth > 0)
		j->depth--;
	putc_buf(j->b, c);
}

void mo_json_obj_begin(struct mo_json *j)
{
	open_container(j, '{');
}

void mo_json_obj_end(struct mo_json *j)
{
	close_container(j, '}');
}

void mo_json_arr_begin(struct mo_json *j)
{
	open_container(j, '[');
}

void mo_json_arr_end(struct mo_json *j)
{
	close_container(j, ']');
}

void mo_json_key(struct mo_json *j, const char *key)
{
	value_begin(j);
	/* Escaped anyway: a wrong key must not break the document. */
	mo_json_string(j->b, key, strlen(key));
	putc_buf(j->b, ':');
	/* The value that follows belongs to this key: no comma before it. */
	if (j->depth > 0 && j->depth <= MAX_DEPTH)
		j->need_comma[j->depth - 1] = false;
}

void mo_json_str(struct mo_json *j, const char *s)
{
	if (!s) {
		value_begin(j);
		mo_buf_puts(j->b, "null");
		return;
	}
	mo_json_strn(j, s, strlen(s));
}

void mo_json_strn(struct mo_json *j, const char *s, size_t n)
{
	value_begin(j);
	mo_json_string(j->b, s, n);
}

void mo_json_u64(struct mo_json *j, uint64_t v)
{
	value_begin(j);
	mo_buf_printf(j->b, "%" PRIu64, v);
}

void mo_json_i64(struct mo_json *j, int64_t v)
{
	value_begin(j);
	mo_buf_printf(j->b, "%" PRId64, v);
}

void mo_json_double(struct mo_json *j, double v)
{
	char tmp[40];

	value_begin(j);
	if (!isfinite(v)) {
		mo_buf_puts(j->b, "null");
		return;
	}
	/* The shortest %g form that reads back as the same double. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/*
	 * A host program may have set a locale whose decimal point is not
	 * '.'; JSON only knows '.'.
	 */
	for (char *p = tmp; *p; p++)
		if ((*p < '0' || *p > '9') && *p != '-' && *p != '+' && *p != 'e')
			*p = '.';
	mo_buf_puts(j->b, tmp);
}

void mo_json_bool(struct mo_json *j, bool v)
{
	value_begin(j);
	mo_buf_puts(j->b, v ? "true" : "false");
}
