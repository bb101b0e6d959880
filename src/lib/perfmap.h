/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * perfmap.h - names of JIT-compiled code from the perf map a runtime writes
 * (/tmp/perf-PID.map: "START SIZE NAME" per line, hex, as the JVM with
 * -XX:+DumpPerfMapAtExit or perf-map-agent, node --perf-basic-prof and
 * Python 3.12's -X perf write it).
 *
 * The file is the traced process's: it is opened without following links,
 * must be a regular file of at most MO_PERFMAP_MAX_BYTES, and lines that do
 * not parse are skipped and counted. It is opened here and parsed by a
 * parser set with mo_perfmap_set_parser (privsep.h's confined child) or,
 * by default, in this process.
 */
#ifndef MO_PERFMAP_H
#define MO_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MO_PERFMAP_MAX_BYTES (64u << 20)
/* Lines that parse in one map: a map with more is refused (-EFBIG), like
 * one over MO_PERFMAP_MAX_BYTES (it would take lines of under 32 bytes on
 * average to reach it within that size). */
#define MO_PERFMAP_MAX_ENTRIES (1u << 21)
/* A longer name is cut to this many bytes (not inside a UTF-8 sequence). */
#define MO_PERFMAP_NAME_MAX 4095

struct mo_perfmap_entry {
	uint64_t start;
	uint64_t size;		/* >= 1, start + size does not wrap */
	const char *name;	/* into text: 1..MO_PERFMAP_NAME_MAX bytes, no
				   newline */
};

struct mo_perfmap {
	struct mo_perfmap_entry *e;	/* sorted by start, disjoint */
	size_t n;
	char *text;
	size_t malformed;		/* lines that did not parse */
};

/* Parse a perf map's text: len bytes followed by a NUL (taken over: freed by
 * mo_perfmap_release). A line "START SIZE NAME" with a zero size, a range
 * that wraps, an empty name or a NUL in it is malformed. 0, -ENOMEM or
 * -EFBIG (over MO_PERFMAP_MAX_ENTRIES); out is always usable. */
int mo_perfmap_parse(char *text, size_t len, struct mo_perfmap *out);

/* Read the first size bytes (at most MO_PERFMAP_MAX_BYTES; fewer if the
 * file is shorter) of fd with pread, and parse them. 0 or -errno. */
int mo_perfmap_parse_fd(int fd, size_t size, struct mo_perfmap *out);

/*
 * What parses a perf map this side opened (fd, of size bytes as fstat
 * said: at most MO_PERFMAP_MAX_BYTES): mo_perfmap_parse_fd's contract, fd
 * not taken over. privsep.h's parser, or this process by default.
 * Process-wide: set by the observer that owns ctx; fn NULL restores the
 * default.
 */
typedef int (*mo_perfmap_parser_fn)(void *ctx, int fd, size_t size, struct mo_perfmap *out);
void mo_perfmap_set_parser(mo_perfmap_parser_fn fn, void *ctx);
/* The parser now: ctx, or NULL with the default. */
void *mo_perfmap_parser_ctx(void);

/*
 * Read the perf map of pid as its runtime wrote it: /tmp/perf-N.map in the
 * process's own root, N its pid in its own pid namespace, parsed by the
 * parser set. 0, -ENOENT (no map), -EFBIG (too big), -EPERM (not a
 * regular file: a link, a FIFO...), the parser's -errno (privsep.h's
 * -ECHILD, -EAGAIN).
 */
int mo_perfmap_read(pid_t pid, struct mo_perfmap *out);

/* The entry holding addr, or NULL. */
const struct mo_perfmap_entry *mo_perfmap_find(const struct mo_perfmap *m, uint64_t addr);

void mo_perfmap_release(struct mo_perfmap *m);

#endif
