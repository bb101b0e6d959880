/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * output.h - where events and reports go: the output file (opened safely,
 * outfile.h), writes that fail without stopping the observation (counted),
 * the files written at the end (pprof, folded stacks, flame graph), and the
 * periodic totals line of text mode.
 */
#ifndef MO_CLI_OUTPUT_H
#define MO_CLI_OUTPUT_H

#include "json.h"
#include "options.h"

/* -o: open it (exits with one line when it cannot be). */
void output_open(struct cli *c);

/* The end-of-run files' directories must be writable now. */
void output_check_files(struct cli *c);

/* Write b out and empty it; failures are counted, EPIPE may stop the run. */
void output_write(struct cli *c, struct mo_buf *b);

/* The report's files: pprof, folded stacks, flame graph. */
void output_files(struct cli *c, const struct mo_report *rep);

/* Text mode, every --interval: totals and drops so far. */
void output_interval_summary(struct mo_buf *b, struct mo_observer *obs);

#endif
