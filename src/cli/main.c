// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c - the memobserver command: set up what the options ask for
 * (options.c, targets.c, output.c, otlp_export.c), then the event loop
 * until a signal, the duration, or the targets' end. Every error is one
 * line on stderr and a non-zero exit; nothing stays attached after an
 * error.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "http.h"
#include "memobserver.h"
#include "options.h"
#include "otlp_export.h"
#include "output.h"
#include "privsep.h"
#include "privs.h"
#include "profiles.h"
#include "targets.h"

/* --exit-on-broken-pipe: the status of a process killed by SIGPIPE, so a
 * pipeline under `set -o pipefail` sees what it sees of other tools */
#define EXIT_BROKEN_PIPE 141

/* From the end of the run loop until the last OTLP request is given up: a
 * collector that is slow or gone never holds the stop much longer. */
#define OTLP_STOP_BUDGET_MS 1200
#define OTLP_STOP_MIN_MS 100

static void log_cb(enum mo_log_level lvl, const char *msg, void *ctx)
{
	struct cli *c = ctx;

	if (lvl > MO_LOG_WARN && c->verbose < (lvl == MO_LOG_INFO ? 1 : 2))
		return;
	fprintf(stderr, "%s: %s%s\n", cli_prog,
		lvl == MO_LOG_ERROR ? "" : lvl == MO_LOG_WARN ? "warning: " : "", msg);
}

static int render_metrics(void *ctx, char **body, size_t *len)
{
	return mo_observer_metrics(ctx, body, len);
}

static uint64_t elapsed_ns(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (uint64_t)(b.tv_sec - a->tv_sec) * 1000000000ULL + (uint64_t)b.tv_nsec -
	       (uint64_t)a->tv_nsec;
}

/* A failed start: nothing left behind, the command not started. */
static int give_up(struct cli *c, struct mo_observer *obs, pid_t child, int go, int status)
{
	mo_observer_free(obs);
	if (child > 0) {
		close(go);
		waitpid(child, NULL, 0);
	}
	mo_outfile_discard(&c->out);
	return status;
}

/* The events waiting, written out (final ones in text mode only: JSON
 * carries them in the report) and handed to the OTLP exporter. */
static void drain_events(struct cli *c, struct mo_buf *b)
{
	struct mo_event *ev;

	while (mo_observer_read(c->obs, &ev, 0) == 1) {
		if (!c->quiet && (!ev->final || c->fmt == OUT_TEXT))
			out_event(b, c->fmt, ev);
		if (c->otlp_ex)
			otlp_exporter_event(c->otlp_ex, ev);
		else
			mo_event_free(ev);
		if (b->len > 65536)
			output_write(c, b);
	}
	output_write(c, b);
}

/*
 * Has the command exited (then it is reaped)? A stop scan seizes it from a
 * thread of ours, and a wait in the tracer's process sees its ptrace stops
 * too: they are only looked at (WNOWAIT), never taken from the scanner.
 */
static bool child_exited(pid_t child)
{
	siginfo_t si = { 0 };

	if (waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) || si.si_pid != child)
		return false;
	if (si.si_code != CLD_EXITED && si.si_code != CLD_KILLED && si.si_code != CLD_DUMPED)
		return false;
	waitpid(child, NULL, 0);
	return true;
}

static void loop(struct cli *c, int sfd, pid_t *child)
{
	struct mo_buf b;
	struct timespec t0;
	uint64_t next_summary = c->cfg.report_interval_ns, next_profile = c->profile_every_ns;

	mo_buf_init(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = mo_observer_fd(c->obs), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		bool stop = false;

		poll(pfd, 2, 200);
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
				stop = true;
			else if (si.ssi_signo == SIGUSR1)
				mo_observer_scan(c->obs);
		}
		/* only our direct child is waited for here */
		if (*child > 0 && child_exited(*child))
			*child = -1;
		drain_events(c, &b);
		otlp_exporter_tick(c->otlp_ex, false);
		if (c->fmt == OUT_TEXT && !c->quiet && elapsed_ns(&t0) >= next_summary) {
			next_summary += c->cfg.report_interval_ns;
			output_interval_summary(&b, c->obs);
			output_write(c, &b);
		}
		if (c->profile_dir && elapsed_ns(&t0) >= next_profile) {
			profiles_snapshot(c);
			/* one at a time, however long a snapshot took */
			next_profile += c->profile_every_ns;
			if (next_profile <= elapsed_ns(&t0))
				next_profile = elapsed_ns(&t0) + c->profile_every_ns;
		}
		if (c->duration_ns && elapsed_ns(&t0) >= c->duration_ns)
			stop = true;
		if (stop || c->broken_pipe || mo_observer_targets_gone(c->obs))
			break;
	}
	mo_buf_release(&b);
}

/* Stop, then the last events, the report and the end-of-run files. */
static void finish(struct cli *c)
{
	struct mo_report *rep;
	struct mo_buf b;

	mo_observer_stop(c->obs);
	mo_buf_init(&b);
	drain_events(c, &b);
	rep = mo_observer_report(c->obs);
	if (rep) {
		out_report(&b, c->fmt, rep,
			   c->cmd ? "command" : c->npids ? "pids" : "system-wide", c->cfg.name);
		output_files(c, rep);
		mo_report_free(rep);
	}
	output_write(c, &b);
	mo_buf_release(&b);
}

/* The last events and metrics, then what the collector takes before the
 * stop budget (counted from loop_end) runs out. */
static void otlp_finish(struct cli *c, const struct timespec *loop_end)
{
	uint64_t spent;

	if (!c->otlp_ex)
		return;
	otlp_exporter_tick(c->otlp_ex, true);
	spent = elapsed_ns(loop_end) / 1000000;
	otlp_exporter_stop(c->otlp_ex, spent + OTLP_STOP_MIN_MS < OTLP_STOP_BUDGET_MS ?
					       OTLP_STOP_BUDGET_MS - spent : OTLP_STOP_MIN_MS);
	c->otlp_ex = NULL;
}

int main(int argc, char **argv)
{
	struct http_server *http = NULL;
	struct mo_observer *obs;
	struct timespec loop_end;
	struct cli c;
	char exe[PATH_MAX];
	pid_t child = -1;
	int go = -1, sfd, err;
	const char *missing;
	sigset_t mask;

	/* the parser process (src/lib/privsep.h), started by memobserver */
	if (argc == 2 && !strcmp(argv[1], MO_PRIVSEP_CHILD_ARG))
		return privs_parser_main(MO_PRIVSEP_CHILD_FD);
	if (argc > 1 && !strcmp(argv[1], "diff"))
		return diff_main(argc - 1, argv + 1);
	cli_parse(&c, argc, argv);
	if (c.list_allocators)
		return targets_list_allocators(&c, c.list_allocators);
	targets_check_pids(&c);
	if (c.cmd)
		targets_resolve_command(&c, exe, sizeof(exe));
	output_check_files(&c);
	profiles_check_dir(&c);
	if ((missing = privs_missing()))
		cli_die(&c, "insufficient privileges: run as root, or grant %s", missing);
	output_open(&c);
	signal(SIGPIPE, SIG_IGN);

	obs = mo_observer_new(c.cfg.name, &c.cfg, log_cb, &c);
	if (!obs)
		cli_die(&c, "cannot create the observer: %s", strerror(errno));
	if (c.cmd) {
		child = targets_fork_command(&c, exe, &go);
		err = mo_observer_add_command(obs, child, exe);
		if (err) {
			kill(child, SIGKILL);
			cli_die(&c, "cannot observe the command: %s", strerror(-err));
		}
	}
	if (c.allocator_lib || c.symbol_prefix) {
		err = mo_observer_set_allocator(obs, c.allocator_lib, c.symbol_prefix);
		if (err)
			cli_die(&c, "cannot set the allocator: %s", strerror(-err));
	}
	targets_set_cgroup(&c, obs);
	for (int i = 0; i < c.npids; i++) {
		err = mo_observer_add_pid(obs, c.pids[i], 0);
		if (err)
			cli_die(&c, "cannot observe pid %d: %s", (int)c.pids[i], strerror(-err));
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);	/* a reachability scan now */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	targets_mount_tracefs();
	/* after the fork: the command keeps the privileges it was given */
	if ((err = privs_drop(c.pprof || c.folded || c.flamegraph || c.profile_dir, c.cfg.privsep,
			       false)))
		fprintf(stderr, "%s: warning: cannot drop capabilities: %s\n", cli_prog,
			strerror(-err));
	err = mo_observer_start(obs);
	if (err)
		return give_up(&c, obs, child, go, 1);	/* the library said why */
	if (c.metrics) {
		const struct http_handlers h = { render_metrics, profiles_serve, obs };
		char herr[256];

		http = http_start_with(c.metrics, &h, herr, sizeof(herr));
		if (!http && c.metrics_explicit) {
			fprintf(stderr, "%s: %s\n", cli_prog, herr);
			return give_up(&c, obs, child, go, 2);
		}
		if (!http)
			fprintf(stderr, "%s: warning: metrics disabled: %s\n", cli_prog, herr);
		else if (c.verbose)
			fprintf(stderr, "%s: metrics on http://%s/metrics\n", cli_prog, c.metrics);
	}
	if ((err = privs_drop(c.pprof || c.folded || c.flamegraph || c.profile_dir, c.cfg.privsep,
			       true)))
		fprintf(stderr, "%s: warning: cannot drop capabilities: %s\n", cli_prog,
			strerror(-err));
	c.obs = obs;
	if (c.otlp.endpoint) {
		char oerr[256];

		c.otlp.obs = obs;
		c.otlp_ex = otlp_exporter_start(&c.otlp, oerr, sizeof(oerr));
		if (!c.otlp_ex)
			fprintf(stderr, "%s: warning: OTLP export disabled: %s\n", cli_prog, oerr);
	}
	if (child > 0)
		targets_release_command(&c, go);
	if (c.verbose)
		fprintf(stderr, "%s: observing %s\n", cli_prog,
			c.cmd ? "the command" : c.npids ? "the given pids" : "every process");

	loop(&c, sfd, &child);
	clock_gettime(CLOCK_MONOTONIC, &loop_end);
	http_stop(http);
	finish(&c);
	otlp_finish(&c, &loop_end);
	c.obs = NULL;
	mo_observer_free(obs);
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	if (c.write_errors)
		fprintf(stderr, "%s: warning: %llu writes to the output failed\n", cli_prog,
			(unsigned long long)c.write_errors);
	mo_outfile_close(&c.out);
	return c.broken_pipe ? EXIT_BROKEN_PIPE : 0;
}
