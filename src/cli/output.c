// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* output.c - the output and the end-of-run files (output.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "sinks/flame.h"
#include "sinks/pprof.h"

void output_open(struct cli *c)
{
	const char *why = "";
	int err;

	if (!c->output)
		return;
	err = mo_outfile_open(c->output, &c->out, &why);
	if (err)
		cli_die(NULL, "cannot open output file '%s': %s", c->output,
			why[0] ? why : strerror(-err));
	c->out_fd = c->out.fd;
}

/* A file written at the end: its directory must be writable now, so a typo
 * fails before anything is attached. */
static void check_writable(struct cli *c, const char *opt, const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (!path)
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS))
		cli_die(c, "cannot write %s file '%s': %s", opt, path, strerror(errno));
}

void output_check_files(struct cli *c)
{
	check_writable(c, "--pprof", c->pprof);
	check_writable(c, "--folded", c->folded);
	check_writable(c, "--flamegraph", c->flamegraph);
}

void output_write(struct cli *c, struct mo_buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(c->out_fd, b->data + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			/* keep observing: the metrics and the final warning
			 * still tell what the output missed */
			if (!c->write_errors++)
				fprintf(stderr, "%s: warning: cannot write the output: %s%s\n", cli_prog,
					strerror(err),
					err == EPIPE && c->exit_on_broken_pipe ? "; stopping"
									      : "; failed writes are counted");
			if (c->obs)
				mo_observer_note(c->obs, MO_CTR_output_write_errors, 1);
			if (err == EPIPE && c->exit_on_broken_pipe)
				c->broken_pipe = true;
			break;
		}
		off += (size_t)n;
	}
	mo_buf_reset(b);
}

void output_files(struct cli *c, const struct mo_report *rep)
{
	char err[512];
	int r;

	if (c->pprof && (r = mo_pprof_write(rep, c->pprof, err, sizeof(err))))
		fprintf(stderr, "%s: %s\n", cli_prog, err);
	if (c->folded && (r = mo_folded_write(rep, c->folded)))
		fprintf(stderr, "%s: cannot write folded stacks to '%s': %s\n", cli_prog, c->folded,
			strerror(-r));
	if (c->flamegraph &&
	    (r = mo_flamegraph_write(rep, c->flamegraph, "memobserver: unfreed memory")))
		fprintf(stderr, "%s: cannot write the flame graph to '%s': %s\n", cli_prog,
			c->flamegraph, strerror(-r));
}

void output_interval_summary(struct mo_buf *b, struct mo_observer *obs)
{
	struct mo_counters k;
	uint64_t drops;

	mo_observer_counters(obs, &k);
	drops = mo_counters_dropped(&k);
	mo_buf_printf(b,
		      "-- %" PRIu64 " allocations tracked, %" PRIu64 " freed, %" PRIu64
		      " outstanding; %" PRIu64 " filtered (size), %" PRIu64
		      " sampled out; %" PRIu64 " dropped%s\n",
		      k.allocs_tracked, k.frees_matched,
		      k.allocs_tracked > k.frees_matched ? k.allocs_tracked - k.frees_matched : 0,
		      k.drop_size_filtered, k.drop_sampled, drops,
		      drops ? " (see the report's last lines)" : "");
}
