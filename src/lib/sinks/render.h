/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * render.h - render events and reports as JSON lines or readable text. Every
 * string that comes from the traced system is escaped.
 */
#ifndef MO_RENDER_H
#define MO_RENDER_H

#include <stdio.h>
#include "memobserver.h"
#include "json.h"

enum out_format { OUT_TEXT, OUT_JSON };

/* One event: a JSON object on one line, or a short text block. */
void out_event(struct mo_buf *b, enum out_format fmt, const struct mo_event *ev);

/* An event's first text line without timestamp or newline:
 * "memory_pressure/leak pid 42 (server): 1.5 MiB unfreed in ...". */
void out_event_headline(struct mo_buf *b, const struct mo_event *ev);

/* One frame on one line: "0x... symbol+0x10 at file.c:12 in /lib/x.so". */
void out_frame(struct mo_buf *b, const struct mo_frame *f);

/* The final report: text, or (JSON) one leak event per stack plus a summary
 * line with the totals and every drop counter. */
void out_report(struct mo_buf *b, enum out_format fmt, const struct mo_report *r,
		const char *scope, const char *observer);

/* RFC 3339 UTC with nanoseconds: "2026-11-27T18:00:00.123456789Z". */
void out_rfc3339(char *buf, size_t len, uint64_t realtime_ns);

/* "1.5 MiB" style. */
void out_human_bytes(char *buf, size_t len, uint64_t bytes);

#endif
