/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * flame.h - folded stacks and an SVG flame graph of unfreed memory.
 * Folded: one line per stack, root first, frames joined by ';', then a
 * space and the unfreed bytes (the format flamegraph.pl and speedscope
 * read). SVG: a self-contained flame graph (widths = unfreed bytes) with
 * tooltips, that a browser renders; all text escaped for XML.
 */
#ifndef MO_FLAME_H
#define MO_FLAME_H

#include <stddef.h>
#include "memobserver.h"
#include "json.h"

void mo_folded_render(struct mo_buf *b, const struct mo_report *r);
void mo_flamegraph_render(struct mo_buf *b, const struct mo_report *r, const char *title);

/* Render and write to path atomically (temp file + rename). 0 or -errno. */
int mo_folded_write(const struct mo_report *r, const char *path);
int mo_flamegraph_write(const struct mo_report *r, const char *path, const char *title);

#endif
