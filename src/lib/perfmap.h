/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * perfmap.h - names of JIT-compiled code from the perf map a runtime writes
 * (/tmp/perf-PID.map: "START SIZE NAME" per line, hex, as the JVM with
 * -XX:+DumpPerfMapAtExit or perf-map-agent, node --perf-basic-prof and
 * Python 3.12's -X perf write it).
 *
 * The file is the traced process's: it is opened without following links,
 * must be a regular file of at most MO_PERFMAP_MAX_BYTES, and lines that do
 * not parse are skipped and counted.
 */
#ifndef MO_PERFMAP_H
#define MO_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MO_PERFMAP_MAX_BYTES (64u << 20)

struct mo_perfmap_entry {
	uint64_t start;
	uint64_t size;
	const char *name;	/* into the map's own text */
};

struct mo_perfmap {
	struct mo_perfmap_entry *e;	/* sorted by start */
	size_t n;
	char *text;
	size_t malformed;		/* lines that did not parse */
};

/* Parse a perf map's text: len bytes followed by a NUL (taken over: freed by
 * mo_perfmap_release). 0 or -ENOMEM; out is always usable. */
int mo_perfmap_parse(char *text, size_t len, struct mo_perfmap *out);

/*
 * Read the perf map of pid as its runtime wrote it: /tmp/perf-N.map in the
 * process's own root, N its pid in its own pid namespace. 0, -ENOENT (no
 * map), -EFBIG (too big), -EPERM (not a regular file: a link, a FIFO...),
 * -errno.
 */
int mo_perfmap_read(pid_t pid, struct mo_perfmap *out);

/* The entry holding addr, or NULL. */
const struct mo_perfmap_entry *mo_perfmap_find(const struct mo_perfmap *m, uint64_t addr);

void mo_perfmap_release(struct mo_perfmap *m);

#endif
