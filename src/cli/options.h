/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * options.h - the command line: every option in one table (argp), which
 * also makes --help, so the help cannot drift from what is accepted.
 */
#ifndef MO_CLI_OPTIONS_H
#define MO_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "memobserver.h"
#include "otlp_export.h"
#include "outfile.h"
#include "sinks/render.h"

#define MAX_PIDS 256
#define MAX_OTLP_HEADERS 32

struct cli {
	struct mo_config cfg;
	pid_t pids[MAX_PIDS];
	int npids;
	char **cmd;			/* after "--", or NULL */
	const char *output;		/* -o, or NULL: stdout */
	enum out_format fmt;
	uint64_t duration_ns;
	int verbose;
	bool quiet;
	bool exit_on_broken_pipe;
	const char *metrics;		/* listen spec, or NULL when off */
	bool metrics_explicit;
	const char *pprof;
	const char *folded;
	const char *flamegraph;
	const char *allocator_lib;
	const char *symbol_prefix;
	const char *container;		/* --container ID */
	const char *cgroup;		/* --cgroup PATH */
	pid_t list_allocators;		/* --list-allocators PID, 0: not asked */
	const char *profile_dir;	/* --profile-dir: heap snapshots, or NULL */
	uint64_t profile_every_ns;	/* --profile-every */
	unsigned profile_keep;		/* --profile-keep */
	struct otlp_config otlp;	/* endpoint NULL: no OTLP export */
	char otlp_hdr[MAX_OTLP_HEADERS][512];	/* "Key: value" */
	const char *otlp_hdrs[MAX_OTLP_HEADERS];

	/* the run */
	struct mo_outfile out;		/* -o, opened */
	int out_fd;
	uint64_t write_errors;
	bool broken_pipe;		/* a write got EPIPE and we are asked to stop */
	struct mo_observer *obs;	/* counts write errors for the metrics */
	struct otlp_exporter *otlp_ex;	/* takes the events when OTLP is on */
};

extern const char *cli_prog;

/* Defaults, then the config file (--config), then the options. Exits with
 * one error line (status 2) on bad input, 0 after --help/--version. */
void cli_parse(struct cli *c, int argc, char **argv);

/* One error line, the output file we created removed, exit status 2. */
void cli_die(struct cli *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
