// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* options.c - the command line (options.h). */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "options.h"
#include "parse.h"

const char *cli_prog = "memobserver";
const char *argp_program_version = "memobserver " MO_VERSION;

void cli_die(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* leave nothing half-written behind */
	if (c)
		mo_outfile_discard(&c->out);
	exit(2);
}

enum {
	OPT_MODE = 256,
	OPT_MIN_SIZE,
	OPT_MIN_AGE,
	OPT_SAMPLE,
	OPT_SAMPLE_BYTES,
	OPT_CONFIG,
	OPT_DEDUP,
	OPT_MAX_OVERHEAD,
	OPT_DEPTH,
	OPT_PPROF,
	OPT_FOLDED,
	OPT_FLAME,
	OPT_CONTAINER,
	OPT_CGROUP,
	OPT_LARGE,
	OPT_ALLOC_LIB,
	OPT_PREFIX,
	OPT_LIST_ALLOC,
	OPT_EXIT_EPIPE,
	OPT_TIER,
	OPT_ESCALATE_WINDOW,
	OPT_K8S_LOG_DIR,
	OPT_PROFILE_DIR,
	OPT_PROFILE_EVERY,
	OPT_PROFILE_KEEP,
	OPT_SCAN,
	OPT_SCAN_MODE,
	OPT_SCAN_MAX_PAUSE,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_INTERVAL,
	OPT_OTLP_HEADER,
};

/* --profile-*: a snapshot a minute for an hour, by default. */
#define PROFILE_EVERY_DEFAULT_NS (60 * 1000000000ULL)
#define PROFILE_EVERY_MIN_NS 1000000000ULL
#define PROFILE_KEEP_DEFAULT 60
#define PROFILE_KEEP_MAX 100000

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "Targets (system-wide when none is given):", 1 },
	{ "pid", 'p', "PID", 0, "observe a running process (repeatable)", 1 },
	{ "container", OPT_CONTAINER, "ID", 0, "only the processes of this container (id or prefix)", 1 },
	{ "cgroup", OPT_CGROUP, "PATH", 0, "only the processes of this cgroup (and below)", 1 },
	{ "k8s-log-dir", OPT_K8S_LOG_DIR, "DIR", 0,
	  "Kubernetes names from the names in the kubelet's DIR/containers and DIR/pods "
	  "(/var/log; 'off')", 1 },

	{ NULL, 0, NULL, 0, "Allocators (found per process; see docs/troubleshooting.md):", 2 },
	{ "allocator-lib", OPT_ALLOC_LIB, "PATH", 0, "probe this allocator object instead", 2 },
	{ "symbol-prefix", OPT_PREFIX, "PFX", 0, "the allocator's C API has a prefix (je_)", 2 },
	{ "list-allocators", OPT_LIST_ALLOC, "PID", 0,
	  "print the allocators PID maps and which one is used", 2 },

	{ NULL, 0, NULL, 0, "Detection:", 3 },
	{ "tier", OPT_TIER, "TIER", 0,
	  "watch: no allocator probes, growth by stack, precise tracking of a process on "
	  "demand; precise: probe the allocator of every observed process; auto (default): "
	  "watch system-wide, precise for pids, commands and containers", 3 },
	{ "escalate-window", OPT_ESCALATE_WINDOW, "DUR", 0,
	  "watch tier: how long a growing process is tracked precisely (60s)", 3 },
	{ "mode", OPT_MODE, "MODE", 0, "conservative | balanced (default) | aggressive", 3 },
	{ "min-size", OPT_MIN_SIZE, "SIZE", 0, "smallest allocation tracked (10K, 1M; mode default)", 3 },
	{ "min-age", OPT_MIN_AGE, "DUR", 0, "age before an unfreed block counts (500ms, 30s, 5m)", 3 },
	{ "sample", OPT_SAMPLE, "N", 0, "track 1 allocation in N (totals become estimates)", 3 },
	{ "sample-bytes", OPT_SAMPLE_BYTES, "SIZE", 0,
	  "sample by bytes: one allocation per SIZE bytes allocated on average (e.g. 512K), "
	  "large blocks more often, each weighted by what it stands for (totals become "
	  "estimates); every size unless --min-size is given", 3 },
	{ "dedup-window", OPT_DEDUP, "DUR", 0, "report one stack at most once per window (5s)", 3 },
	{ "max-overhead", OPT_MAX_OVERHEAD, "PCT", 0,
	  "keep the probes' estimated cost under PCT % of each process's CPU work by detaching the "
	  "allocating probes part of the time (counts become estimates)", 3 },
	{ "large-size", OPT_LARGE, "SIZE", 0, "report single allocations this big (mode default)", 3 },
	{ "max-stack-depth", OPT_DEPTH, "N", 0, "frames per stack, 1-32 (32)", 3 },
	{ "scan", OPT_SCAN, NULL, 0,
	  "scan the tracked heap blocks for pointers to them at the end of the run, at the "
	  "command's exit and for stacks that stopped growing: a block nobody points to is a "
	  "leak (docs/reachability.md). SIGUSR1 scans every observed process at once", 3 },
	{ "scan-mode", OPT_SCAN_MODE, "MODE", 0,
	  "stop (default: each process stopped, at most --scan-max-pause) or live (two "
	  "passes, nothing stopped, registers not seen)", 3 },
	{ "scan-max-pause", OPT_SCAN_MAX_PAUSE, "DUR", 0,
	  "stop scans: the longest a process stays stopped (200ms)", 3 },
	{ "config", OPT_CONFIG, "FILE", 0, "read settings from FILE (key = value)", 3 },

	{ NULL, 0, NULL, 0, "Output:", 4 },
	{ "output", 'o', "FILE", 0, "write events and the report to FILE (default stdout)", 4 },
	{ "format", 'f', "FMT", 0, "text (default) or json (one object per line)", 4 },
	{ "interval", 'i', "DUR", 0, "period of leak analysis and reports (10s)", 4 },
	{ "duration", 'd', "DUR", 0, "stop after DUR (default: until Ctrl-C or the targets exit)", 4 },
	{ "metrics", 'm', "ADDR:PORT", 0, "serve Prometheus metrics (127.0.0.1:9090; 'off')", 4 },
	{ "pprof", OPT_PPROF, "FILE", 0, "write unfreed memory as a gzipped pprof profile", 4 },
	{ "folded", OPT_FOLDED, "FILE", 0, "write unfreed memory as folded stacks", 4 },
	{ "flamegraph", OPT_FLAME, "FILE", 0, "write an SVG flame graph of unfreed memory", 4 },
	{ "profile-dir", OPT_PROFILE_DIR, "DIR", 0,
	  "write heap profile snapshots (pprof) into DIR while running", 4 },
	{ "profile-every", OPT_PROFILE_EVERY, "DUR", 0, "one snapshot every DUR (1m; at least 1s)", 4 },
	{ "profile-keep", OPT_PROFILE_KEEP, "N", 0, "keep the N newest snapshots (60)", 4 },
	{ "otlp-endpoint", OPT_OTLP_ENDPOINT, "URL", 0,
	  "send findings as OTLP logs and the metrics as OTLP metrics to URL/v1/logs and "
	  "URL/v1/metrics (OTLP/HTTP, protobuf; http://collector:4318)", 4 },
	{ "otlp-interval", OPT_OTLP_INTERVAL, "DUR", 0, "period of the OTLP metrics (15s)", 4 },
	{ "otlp-header", OPT_OTLP_HEADER, "K=V", 0,
	  "HTTP header of every OTLP request, e.g. for authentication (repeatable)", 4 },
	{ "verbose", 'v', NULL, 0, "log what is attached and why (twice: debug)", 4 },
	{ "quiet", 'q', NULL, 0, "only the final report (no periodic events)", 4 },
	{ "exit-on-broken-pipe", OPT_EXIT_EPIPE, NULL, 0,
	  "stop (status 141) when the output's reader goes away", 4 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, NULL, 0 },
	{ NULL },
};

static const char doc[] =
	"Find memory leaks in running processes with eBPF, without restarting them."
	"\vExamples:\n"
	"  memobserver -p 4242\n"
	"  memobserver --min-age 5s -- ./server --port 8080\n"
	"  memobserver --format json -o leaks.jsonl --duration 10m";

static void set_or_die(struct cli *c, const char *key, const char *opt, const char *val)
{
	char shown[128];
	size_t i;

	if (!mo_config_set(&c->cfg, key, val))
		return;
	/* the error stays one line whatever the value holds */
	for (i = 0; val[i] && i + 1 < sizeof(shown); i++)
		shown[i] = (unsigned char)val[i] < 0x20 || val[i] == 0x7f ? '?' : val[i];
	shown[i] = '\0';
	cli_die(c, "invalid value '%s%s' for %s", shown, val[i] ? "..." : "", opt);
}

/* The command after "--": only there may a non-option start. */
static void take_command(struct cli *c, struct argp_state *state, char *arg)
{
	int at = state->next - 1;

	for (int i = 1; i < at; i++) {
		if (!strcmp(state->argv[i], "--")) {
			c->cmd = &state->argv[at];
			state->next = state->argc;
			return;
		}
	}
	cli_die(c, "unexpected argument '%s' (put a command after '--')", arg);
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli *c = state->input;
	char err[256];
	uint64_t v;

	switch (key) {
	case 'p':
		if (mo_parse_uint(arg, 1, INT_MAX, &v))
			cli_die(c, "invalid pid '%s'", arg);
		if (c->npids == MAX_PIDS)
			cli_die(c, "too many --pid options (at most %d)", MAX_PIDS);
		c->pids[c->npids++] = (pid_t)v;
		break;
	case OPT_MODE:
		set_or_die(c, "mode", "--mode (conservative, balanced, aggressive)", arg);
		break;
	case OPT_TIER:
		set_or_die(c, "tier", "--tier (auto, watch, precise)", arg);
		break;
	case OPT_ESCALATE_WINDOW:
		set_or_die(c, "escalate_window", "--escalate-window (1s to 24h)", arg);
		break;
	case OPT_MIN_SIZE:
		set_or_die(c, "min_allocation_size", "--min-size", arg);
		break;
	case OPT_MIN_AGE:
		/* 0 in the config means "the mode's value"; on the command
		 * line 0 means what it says: every unfreed block counts */
		if (mo_parse_duration(arg, &v) == 0 && v == 0)
			c->cfg.min_unfreed_age_ns = 1;
		else
			set_or_die(c, "min_unfreed_age", "--min-age", arg);
		break;
	case OPT_SAMPLE:
		set_or_die(c, "sampling_rate", "--sample", arg);
		break;
	case OPT_SAMPLE_BYTES:
		set_or_die(c, "sample_bytes", "--sample-bytes", arg);
		break;
	case OPT_DEDUP:
		set_or_die(c, "stack_dedup_window", "--dedup-window", arg);
		break;
	case OPT_MAX_OVERHEAD:
		set_or_die(c, "max_overhead", "--max-overhead", arg);
		break;
	case OPT_DEPTH:
		set_or_die(c, "max_stack_depth", "--max-stack-depth", arg);
		break;
	case OPT_SCAN:
		c->cfg.scan = true;
		break;
	case OPT_SCAN_MODE:
		set_or_die(c, "scan_mode", "--scan-mode (stop or live)", arg);
		break;
	case OPT_SCAN_MAX_PAUSE:
		set_or_die(c, "scan_max_pause", "--scan-max-pause (1ms to 60s)", arg);
		break;
	case OPT_CONFIG:
		break;	/* read before the options */
	case 'o':
		c->output = arg;
		break;
	case 'm':
		if (!strcmp(arg, "off")) {
			c->metrics = NULL;
		} else {
			char host[256];
			unsigned port;

			if (http_parse_listen(arg, host, sizeof(host), &port))
				cli_die(c, "invalid value '%s' for --metrics (ADDR:PORT or off)", arg);
			c->metrics = arg;
		}
		c->metrics_explicit = true;
		break;
	case OPT_PPROF:
		c->pprof = arg;
		break;
	case OPT_FOLDED:
		c->folded = arg;
		break;
	case OPT_FLAME:
		c->flamegraph = arg;
		break;
	case OPT_PROFILE_DIR:
		if (!arg[0])
			cli_die(c, "invalid value '' for --profile-dir (a directory)");
		c->profile_dir = arg;
		break;
	case OPT_PROFILE_EVERY:
		if (mo_parse_duration(arg, &v) || v < PROFILE_EVERY_MIN_NS)
			cli_die(c, "invalid value '%s' for --profile-every (a duration of 1s or more)",
				arg);
		c->profile_every_ns = v;
		break;
	case OPT_PROFILE_KEEP:
		if (mo_parse_uint(arg, 1, PROFILE_KEEP_MAX, &v))
			cli_die(c, "invalid value '%s' for --profile-keep (1 to %d)", arg,
				PROFILE_KEEP_MAX);
		c->profile_keep = (unsigned)v;
		break;
	case OPT_OTLP_ENDPOINT:
		if (!otlp_endpoint_check(arg, err, sizeof(err)))
			cli_die(c, "%s", err);
		c->otlp.endpoint = arg;
		break;
	case OPT_OTLP_INTERVAL:
		if (mo_parse_duration(arg, &c->otlp.metrics_interval_ns) ||
		    c->otlp.metrics_interval_ns < 1000000000ULL)
			cli_die(c, "invalid value '%s' for --otlp-interval (1s or more)", arg);
		break;
	case OPT_OTLP_HEADER:
		if (c->otlp.nheaders == MAX_OTLP_HEADERS)
			cli_die(c, "too many --otlp-header options (at most %d)", MAX_OTLP_HEADERS);
		/* the value may be a secret: never echoed */
		if (otlp_header_line(arg, c->otlp_hdr[c->otlp.nheaders], sizeof(c->otlp_hdr[0])))
			cli_die(c, "invalid value for --otlp-header (KEY=VALUE, KEY an HTTP token, "
				   "no line breaks, at most %zu bytes)", sizeof(c->otlp_hdr[0]) - 2);
		c->otlp_hdrs[c->otlp.nheaders] = c->otlp_hdr[c->otlp.nheaders];
		c->otlp.nheaders++;
		break;
	case OPT_CONTAINER:
		c->container = arg;
		break;
	case OPT_CGROUP:
		c->cgroup = arg;
		break;
	case OPT_K8S_LOG_DIR:
		set_or_die(c, "k8s_log_dir", "--k8s-log-dir (a directory or off)", arg);
		break;
	case OPT_LARGE:
		set_or_die(c, "large_allocation_threshold", "--large-size", arg);
		break;
	case OPT_ALLOC_LIB:
		if (faccessat(AT_FDCWD, arg, R_OK, AT_EACCESS))
			cli_die(c, "cannot read allocator library '%s': %s", arg, strerror(errno));
		c->allocator_lib = arg;
		break;
	case OPT_PREFIX:
		if (!arg[0] || strlen(arg) > 32 || strpbrk(arg, " /\t\n"))
			cli_die(c, "invalid value '%s' for --symbol-prefix", arg);
		c->symbol_prefix = arg;
		break;
	case OPT_LIST_ALLOC:
		if (mo_parse_uint(arg, 1, INT_MAX, &v))
			cli_die(c, "invalid pid '%s'", arg);
		c->list_allocators = (pid_t)v;
		break;
	case 'f':
		if (!strcmp(arg, "json"))
			c->fmt = OUT_JSON;
		else if (!strcmp(arg, "text"))
			c->fmt = OUT_TEXT;
		else
			cli_die(c, "invalid value '%s' for --format (text or json)", arg);
		break;
	case 'i':
		set_or_die(c, "report_interval", "--interval", arg);
		break;
	case 'd':
		if (mo_parse_duration(arg, &c->duration_ns) || !c->duration_ns)
			cli_die(c, "invalid value '%s' for --duration", arg);
		break;
	case 'v':
		c->verbose++;
		break;
	case 'q':
		c->quiet = true;
		break;
	case OPT_EXIT_EPIPE:
		c->exit_on_broken_pipe = true;
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		take_command(c, state, arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = { options, parse_opt, "[-p PID]... [-- COMMAND [ARGS...]]", doc };

void cli_parse(struct cli *c, int argc, char **argv)
{
	char err[512];
	const char *bad;

	memset(c, 0, sizeof(*c));
	c->fmt = OUT_TEXT;
	c->out_fd = STDOUT_FILENO;
	c->out.fd = c->out.dirfd = -1;
	c->metrics = "127.0.0.1:9090";
	mo_config_init(&c->cfg);
	/* the command parses traced processes' files in a confined process
	 * (main.c serves it); the library leaves that to its caller */
	c->cfg.privsep = true;
	/* kernel-feature fallbacks forced for tests (also config keys) */
	if (getenv("MEMOBSERVER_NO_SESSION"))
		c->cfg.session_uprobes = false;
	if (getenv("MEMOBSERVER_NO_RSS_STAT"))
		c->cfg.rss_stat = false;
	/* the config file comes first so that options override it */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path && mo_config_load(&c->cfg, path, err, sizeof(err)))
			cli_die(c, "config file '%s': %s", path, err);
	}
	argp_err_exit_status = 2;
	/* errors name the command, not the path it was run by */
	program_invocation_name = program_invocation_short_name = (char *)cli_prog;
	argv[0] = (char *)cli_prog;
	argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, c);
	if (c->cmd && c->npids)
		cli_die(c, "give either --pid or a command, not both");
	if ((c->container || c->cgroup) && (c->cmd || c->npids))
		cli_die(c, "--container and --cgroup select processes themselves: give no --pid or "
			   "command");
	if (c->container && c->cgroup)
		cli_die(c, "give either --container or --cgroup, not both");
	if ((c->profile_every_ns || c->profile_keep) && !c->profile_dir)
		cli_die(c, "--profile-every and --profile-keep need --profile-dir");
	if (!c->profile_every_ns)
		c->profile_every_ns = PROFILE_EVERY_DEFAULT_NS;
	if (!c->profile_keep)
		c->profile_keep = PROFILE_KEEP_DEFAULT;
	if (c->cfg.sample_bytes && c->cfg.sampling_rate > 1)
		cli_die(c, "give either --sample or --sample-bytes (sampling_rate or sample_bytes), "
			   "not both");
	if ((c->otlp.nheaders || c->otlp.metrics_interval_ns) && !c->otlp.endpoint)
		cli_die(c, "--otlp-interval and --otlp-header need --otlp-endpoint");
	c->otlp.headers = c->otlp_hdrs;
	if (!c->otlp.metrics_interval_ns)
		c->otlp.metrics_interval_ns = 15000000000ULL;
	if (mo_config_resolve(&c->cfg, NULL, &bad))
		cli_die(c, "invalid configuration: field '%s'", bad);
}
