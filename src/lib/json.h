/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * json.h - a small JSON writer into a growable buffer, and the string
 * buffer it uses. Every string is escaped: control characters as \u00XX,
 * quotes and backslashes, and invalid UTF-8 bytes as \uFFFD-free escapes
 * (each invalid byte becomes "\\xNN" text so nothing is lost or corrupted).
 * Output is always valid JSON and valid UTF-8.
 */
#ifndef MO_JSON_H
#define MO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mo_buf {
	char *data;	/* NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
	bool oom;	/* an append failed; contents are truncated */
};

void mo_buf_init(struct mo_buf *b);			/* allocates nothing */
void mo_buf_release(struct mo_buf *b);
void mo_buf_reset(struct mo_buf *b);			/* len = 0, keeps memory */
void mo_buf_append(struct mo_buf *b, const char *s, size_t n);
void mo_buf_puts(struct mo_buf *b, const char *s);
void mo_buf_printf(struct mo_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append s (len bytes, may hold any byte) as a quoted JSON string. */
void mo_json_string(struct mo_buf *b, const char *s, size_t len);

/* Streaming writer: tracks commas and nesting (max depth 32). */
struct mo_json {
	struct mo_buf *b;
	int depth;
	bool need_comma[32];
};

void mo_json_init(struct mo_json *j, struct mo_buf *b);
void mo_json_obj_begin(struct mo_json *j);
void mo_json_obj_end(struct mo_json *j);
void mo_json_arr_begin(struct mo_json *j);
void mo_json_arr_end(struct mo_json *j);
void mo_json_key(struct mo_json *j, const char *key);	/* key is trusted ASCII */
void mo_json_str(struct mo_json *j, const char *s);	/* NULL -> null */
void mo_json_strn(struct mo_json *j, const char *s, size_t n);
void mo_json_u64(struct mo_json *j, uint64_t v);
void mo_json_i64(struct mo_json *j, int64_t v);
void mo_json_double(struct mo_json *j, double v);	/* non-finite -> null */
void mo_json_bool(struct mo_json *j, bool v);

/* Length of the well-formed UTF-8 sequence at s (avail bytes left), or 0
 * when s does not start one (overlongs, surrogates, > U+10FFFF, truncated). */
size_t mo_utf8_len(const unsigned char *s, size_t avail);

/* Escape for human text output: control bytes and invalid UTF-8 as \xNN,
 * backslash doubled. */
void mo_text_escape(struct mo_buf *b, const char *s, size_t len);

#endif
