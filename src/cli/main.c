// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c - the memobserver command: options, targets, signals and the event
 * loop. Every error is one line on stderr naming the problem, and a
 * non-zero exit; nothing stays attached after an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memobserver.h"
#include "json.h"
#include "attach.h"
#include "container.h"
#include "flame.h"
#include "http.h"
#include "parse.h"
#include "pprof.h"
#include "procmaps.h"
#include "privs.h"
#include "render.h"

#define MAX_PIDS 256

/* --exit-on-broken-pipe: the status of a process killed by SIGPIPE, so a
 * pipeline under `set -o pipefail` sees what it sees of other tools */
#define EXIT_BROKEN_PIPE 141

struct cli {
	struct mo_config cfg;
	pid_t pids[MAX_PIDS];
	int npids;
	char **cmd;
	const char *output;
	enum out_format fmt;
	uint64_t duration_ns;
	int verbose;
	bool quiet;
	int out_fd;
	bool out_created;
	uint64_t write_errors;
	bool exit_on_broken_pipe;
	bool broken_pipe;	/* a write got EPIPE and we are asked to stop */
	struct mo_observer *obs;	/* counts write_errors for the metrics */
	const char *metrics;	/* listen spec, or NULL when off */
	bool metrics_explicit;
	const char *pprof;
	const char *folded;
	const char *flamegraph;
	const char *allocator_lib;
	const char *symbol_prefix;
	const char *container;	/* --container ID */
	const char *cgroup;	/* --cgroup PATH */
};

static const char *prog = "memobserver";

static void die(struct cli *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void die(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	/* leave nothing half-written behind */
	if (c && c->out_created && c->output)
		unlink(c->output);
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memobserver [OPTIONS] [-p PID]... [-- COMMAND [ARGS...]]\n"
		"Find memory leaks in running processes with eBPF, without restarting them.\n"
		"\n"
		"Targets (system-wide when none is given):\n"
		"  -p, --pid PID          observe a running process (repeatable)\n"
		"  -- COMMAND ARGS...     start COMMAND and observe it and its children\n"
		"      --container ID     only the processes of this container (id or prefix)\n"
		"      --cgroup PATH      only the processes of this cgroup v2 (and below)\n"
		"\n"
		"Allocators (found per process; see docs/troubleshooting.md):\n"
		"      --allocator-lib PATH   probe this allocator object instead\n"
		"      --symbol-prefix PFX    the allocator's C API has a prefix (je_)\n"
		"      --list-allocators PID  print the allocators PID maps and which one is used\n"
		"\n"
		"Detection:\n"
		"      --mode MODE        conservative | balanced (default) | aggressive\n"
		"      --min-size SIZE    smallest allocation tracked (10K, 1M; mode default)\n"
		"      --min-age DUR      age before an unfreed block counts (500ms, 30s, 5m)\n"
		"      --sample N         track 1 allocation in N (totals become estimates)\n"
		"      --dedup-window DUR report one stack at most once per window (5s)\n"
		"      --max-overhead PCT keep the probes' estimated cost under PCT %% of each\n"
		"                         process's CPU work by detaching the allocating\n"
		"                         probes part of the time (counts become estimates)\n"
		"      --large-size SIZE  report single allocations this big (mode default)\n"
		"      --max-stack-depth N frames per stack, 1-32 (32)\n"
		"      --config FILE      read settings from FILE (key = value)\n"
		"\n"
		"Output:\n"
		"  -o, --output FILE      write events and the report to FILE (default stdout)\n"
		"  -f, --format FMT       text (default) or json (one object per line)\n"
		"  -i, --interval DUR     period of leak analysis and reports (10s)\n"
		"  -d, --duration DUR     stop after DUR (default: until Ctrl-C or the targets exit)\n"
		"  -m, --metrics ADDR:PORT serve Prometheus metrics (127.0.0.1:9090; 'off')\n"
		"      --pprof FILE       write unfreed memory as a gzipped pprof profile\n"
		"      --folded FILE      write unfreed memory as folded stacks\n"
		"      --flamegraph FILE  write an SVG flame graph of unfreed memory\n"
		"  -v, --verbose          log what is attached and why\n"
		"  -q, --quiet            only the final report (no periodic events)\n"
		"      --exit-on-broken-pipe  stop (status 141) when the output's reader goes away\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n"
		"\n"
		"Examples:\n"
		"  memobserver -p 4242\n"
		"  memobserver --min-age 5s -- ./server --port 8080\n"
		"  memobserver --format json -o leaks.jsonl --duration 10m\n");
}

static void log_cb(enum mo_log_level lvl, const char *msg, void *ctx)
{
	struct cli *c = ctx;

	if (lvl > MO_LOG_WARN && c->verbose < (lvl == MO_LOG_INFO ? 1 : 2))
		return;
	fprintf(stderr, "%s: %s%s\n", prog,
		lvl == MO_LOG_ERROR ? "" : lvl == MO_LOG_WARN ? "warning: " : "", msg);
}

enum {
	OPT_MODE = 256,
	OPT_MIN_SIZE,
	OPT_MIN_AGE,
	OPT_SAMPLE,
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
};

static const struct option opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "min-size", required_argument, NULL, OPT_MIN_SIZE },
	{ "min-age", required_argument, NULL, OPT_MIN_AGE },
	{ "sample", required_argument, NULL, OPT_SAMPLE },
	{ "dedup-window", required_argument, NULL, OPT_DEDUP },
	{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
	{ "max-stack-depth", required_argument, NULL, OPT_DEPTH },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "output", required_argument, NULL, 'o' },
	{ "metrics", required_argument, NULL, 'm' },
	{ "pprof", required_argument, NULL, OPT_PPROF },
	{ "folded", required_argument, NULL, OPT_FOLDED },
	{ "flamegraph", required_argument, NULL, OPT_FLAME },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "large-size", required_argument, NULL, OPT_LARGE },
	{ "allocator-lib", required_argument, NULL, OPT_ALLOC_LIB },
	{ "symbol-prefix", required_argument, NULL, OPT_PREFIX },
	{ "list-allocators", required_argument, NULL, OPT_LIST_ALLOC },
	{ "format", required_argument, NULL, 'f' },
	{ "interval", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, 'd' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "exit-on-broken-pipe", no_argument, NULL, OPT_EXIT_EPIPE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* --list-allocators: what PID maps and what memobserver would probe. */
static int list_allocators(struct cli *c, pid_t pid)
{
	struct mo_allocator_candidate *a;
	size_t n;
	int r = mo_allocator_list(pid, c->symbol_prefix, &a, &n);

	if (r == -ESRCH || r == -ENOENT) {
		if (!n && r == -ESRCH)
			die(c, "no such process: %d", (int)pid);
	} else if (r) {
		die(c, "cannot read the memory maps of pid %d: %s", (int)pid, strerror(-r));
	}
	printf("%-3s %-10s %-6s %-5s %-5s %s\n", "use", "role", "entry", "c++", "jemx", "object");
	for (size_t i = 0; i < n; i++) {
		if (!a[i].entry_points && !a[i].chosen)
			continue;
		printf("%-3s %-10s %-6u %-5s %-5s %s\n", a[i].chosen ? "*" : "", a[i].role,
		       a[i].entry_points, a[i].cxx_operators ? "yes" : "no",
		       a[i].jemalloc_api ? "yes" : "no", a[i].map_path);
	}
	for (size_t i = 0; i < n; i++)
		if (a[i].chosen)
			printf("probing %s: %s\n", a[i].map_path, a[i].why);
	if (r)
		printf("no object defines %smalloc and %sfree: nothing to probe\n",
		       c->symbol_prefix ? c->symbol_prefix : "", c->symbol_prefix ? c->symbol_prefix : "");
	free(a);
	return r ? 1 : 0;
}

static void set_or_die(struct cli *c, const char *key, const char *opt, const char *val)
{
	int r = mo_config_set(&c->cfg, key, val);

	if (r)
		die(c, "invalid value '%s' for %s", val, opt);
}

static void parse_args(struct cli *c, int argc, char **argv)
{
	char err[512];
	int ch;

	/* the config file comes first so that options override it */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path && mo_config_load(&c->cfg, path, err, sizeof(err)))
			die(c, "config file '%s': %s", path, err);
	}

	while ((ch = getopt_long(argc, argv, "+p:o:f:i:d:m:vqhV", opts, NULL)) != -1) {
		uint64_t v;

		switch (ch) {
		case 'p':
			if (mo_parse_uint(optarg, 1, INT_MAX, &v))
				die(c, "invalid pid '%s'", optarg);
			if (c->npids == MAX_PIDS)
				die(c, "too many --pid options (at most %d)", MAX_PIDS);
			c->pids[c->npids++] = (pid_t)v;
			break;
		case OPT_MODE:
			set_or_die(c, "mode", "--mode (conservative, balanced, aggressive)", optarg);
			break;
		case OPT_MIN_SIZE:
			set_or_die(c, "min_allocation_size", "--min-size", optarg);
			break;
		case OPT_MIN_AGE:
			/* 0 in the config means "the mode's value"; on the command
			 * line 0 means what it says: every unfreed block counts */
			if (mo_parse_duration(optarg, &v) == 0 && v == 0)
				c->cfg.min_unfreed_age_ns = 1;
			else
				set_or_die(c, "min_unfreed_age", "--min-age", optarg);
			break;
		case OPT_SAMPLE:
			set_or_die(c, "sampling_rate", "--sample", optarg);
			break;
		case OPT_DEDUP:
			set_or_die(c, "stack_dedup_window", "--dedup-window", optarg);
			break;
		case OPT_MAX_OVERHEAD:
			set_or_die(c, "max_overhead", "--max-overhead", optarg);
			break;
		case OPT_DEPTH:
			set_or_die(c, "max_stack_depth", "--max-stack-depth", optarg);
			break;
		case OPT_CONFIG:
			break;	/* read above */
		case 'o':
			c->output = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "off")) {
				c->metrics = NULL;
			} else {
				char host[256];
				unsigned port;

				if (http_parse_listen(optarg, host, sizeof(host), &port))
					die(c, "invalid value '%s' for --metrics (ADDR:PORT or off)",
					    optarg);
				c->metrics = optarg;
			}
			c->metrics_explicit = true;
			break;
		case OPT_PPROF:
			c->pprof = optarg;
			break;
		case OPT_FOLDED:
			c->folded = optarg;
			break;
		case OPT_FLAME:
			c->flamegraph = optarg;
			break;
		case OPT_CONTAINER:
			c->container = optarg;
			break;
		case OPT_CGROUP:
			c->cgroup = optarg;
			break;
		case OPT_LARGE:
			set_or_die(c, "large_allocation_threshold", "--large-size", optarg);
			break;
		case OPT_ALLOC_LIB:
			if (faccessat(AT_FDCWD, optarg, R_OK, AT_EACCESS))
				die(c, "cannot read allocator library '%s': %s", optarg,
				    strerror(errno));
			c->allocator_lib = optarg;
			break;
		case OPT_PREFIX:
			if (!optarg[0] || strlen(optarg) > 32 || strpbrk(optarg, " /\t\n"))
				die(c, "invalid value '%s' for --symbol-prefix", optarg);
			c->symbol_prefix = optarg;
			break;
		case OPT_LIST_ALLOC:
			if (mo_parse_uint(optarg, 1, INT_MAX, &v))
				die(c, "invalid pid '%s'", optarg);
			exit(list_allocators(c, (pid_t)v));
		case 'f':
			if (!strcmp(optarg, "json"))
				c->fmt = OUT_JSON;
			else if (!strcmp(optarg, "text"))
				c->fmt = OUT_TEXT;
			else
				die(c, "invalid value '%s' for --format (text or json)", optarg);
			break;
		case 'i':
			set_or_die(c, "report_interval", "--interval", optarg);
			break;
		case 'd':
			if (mo_parse_duration(optarg, &c->duration_ns) || !c->duration_ns)
				die(c, "invalid value '%s' for --duration", optarg);
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
			usage(stdout);
			exit(0);
		case 'V':
			printf("memobserver %s\n", MO_VERSION);
			exit(0);
		default:
			fprintf(stderr, "Try 'memobserver --help'.\n");
			exit(2);
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0 && optind > 0 &&
		    argv[optind][0] != '-') {
			/* getopt stops at the first non-option: demand the "--" */
			die(c, "unexpected argument '%s' (put a command after '--')", argv[optind]);
		}
		c->cmd = &argv[optind];
	}
	if (c->cmd && c->npids)
		die(c, "give either --pid or a command, not both");
	if ((c->container || c->cgroup) && (c->cmd || c->npids))
		die(c, "--container and --cgroup select processes themselves: give no --pid or command");
	if (c->container && c->cgroup)
		die(c, "give either --container or --cgroup, not both");
}

/* Effective capabilities from /proc/self/status. */
static bool has_cap(int cap)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> cap) & 1;
}

/*
 * Capabilities memobserver may use after its programs are loaded: the worker
 * attaches uprobes to processes that appear later and mounts nothing; the
 * report reads other users' /proc entries and files (docs/privileges.md).
 */
#define CAPS_LATER                                                                     \
	(PRIV_BIT(CAP_BPF) | PRIV_BIT(CAP_PERFMON) | PRIV_BIT(CAP_SYS_ADMIN) |          \
	 PRIV_BIT(CAP_SYS_PTRACE) | PRIV_BIT(CAP_DAC_READ_SEARCH) |                     \
	 PRIV_BIT(CAP_CHECKPOINT_RESTORE))

/* What stays in the bounding set and, once started, in the main thread:
 * files written at the end may lie where only CAP_DAC_OVERRIDE writes. */
static uint64_t caps_kept(const struct cli *c)
{
	uint64_t keep = CAPS_LATER;

	if (c->pprof || c->folded || c->flamegraph)
		keep |= PRIV_BIT(CAP_DAC_OVERRIDE);
	return keep;
}

/* Before start: out of the bounding set goes everything but caps_kept; the
 * effective set also keeps, for start only, CAP_SYS_RESOURCE (libbpf raises
 * RLIMIT_MEMLOCK on kernels before 5.11) and CAP_NET_BIND_SERVICE (metrics
 * port below 1024). After start: those two go as well. */
static void drop_privileges(struct cli *c, bool started)
{
	uint64_t keep = caps_kept(c);
	int r;

	if (!started)
		keep |= PRIV_BIT(CAP_SYS_RESOURCE) | PRIV_BIT(CAP_NET_BIND_SERVICE);
	r = privs_limit(caps_kept(c), keep);
	if (r)
		fprintf(stderr, "%s: warning: cannot drop capabilities: %s\n", prog, strerror(-r));
}

static void check_privileges(struct cli *c)
{
	/* CAP_SYS_ADMIN (21) covers both on older kernels */
	bool bpf = has_cap(39) || has_cap(21), perfmon = has_cap(38) || has_cap(21);

	if (!bpf || !perfmon)
		die(c, "insufficient privileges: run as root, or grant %s%s%s",
		    bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "",
		    perfmon ? "" : "CAP_PERFMON");
}

static void check_pid(struct cli *c, pid_t pid)
{
	char path[64];
	struct stat st;
	FILE *f;
	int ch;

	if (pid == getpid())
		die(c, "pid %d is memobserver itself", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st))
		die(c, "no such process: %d", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		die(c, "cannot read the memory maps of pid %d: %s", (int)pid, strerror(errno));
	ch = fgetc(f);
	fclose(f);
	if (ch == EOF)
		die(c, "pid %d has no user-space memory (a kernel thread or a zombie)", (int)pid);
}

/* Where the cgroup v2 hierarchy is mounted (hybrid systems: .../unified). */
static int cgroup2_root(char *out, size_t len)
{
	char *mi = NULL;
	size_t n = 0;
	int err = mo_read_text("/proc/self/mountinfo", &mi, &n);

	if (!err)
		err = mo_cgroup2_mount(mi, n, out, len);
	free(mi);
	return err;
}

/* The v1 memory hierarchy's mount point and the memory controller's index. */
static int memory_v1(char *mnt, size_t len, int *ssid)
{
	char *mi = NULL, *cg = NULL;
	size_t n1 = 0, n2 = 0;
	int err = -ENOENT;

	if (!mo_read_text("/proc/self/mountinfo", &mi, &n1) &&
	    !mo_read_text("/proc/cgroups", &cg, &n2) &&
	    mo_cgroup_v1_mount(mi, n1, "memory", mnt, len) == 0) {
		*ssid = mo_cgroup_subsys_index(cg, n2, "memory");
		err = *ssid >= 0 ? 0 : -ENOENT;
	}
	free(mi);
	free(cg);
	return err;
}

/*
 * --container / --cgroup -> the cgroup the kernel filters on: looked up on
 * the v2 hierarchy, then on the v1 memory hierarchy (hosts where container
 * runtimes use cgroup v1). Returns the v1 controller index, or -1 for v2.
 */
static int resolve_cgroup(struct cli *c, uint64_t *id)
{
	char v2[PATH_MAX] = "", v1[PATH_MAX] = "", dir[PATH_MAX], where[2 * PATH_MAX + 8];
	const char *what = c->container ? c->container : c->cgroup;
	bool have_v2 = cgroup2_root(v2, sizeof(v2)) == 0;
	int ssid = -1, r = -ENOENT;

	if (c->cgroup && c->cgroup[0] != '/')
		die(c, "invalid value '%s' for --cgroup (an absolute cgroup path)", c->cgroup);
	if (have_v2)
		r = mo_container_find_cgroup(v2, what, dir, sizeof(dir), id);
	if (r == -ENOENT && memory_v1(v1, sizeof(v1), &ssid) == 0) {
		r = mo_container_find_cgroup(v1, what, dir, sizeof(dir), id);
		if (r)
			ssid = -1;
	}
	if (r == -EEXIST)
		die(c, "container id '%s' is ambiguous: give more of it", what);
	if (!have_v2 && !v1[0])
		die(c, "no cgroup v2 hierarchy and no cgroup v1 memory hierarchy is mounted: "
		    "--container and --cgroup need one");
	snprintf(where, sizeof(where), "%s%s%s", v2, v2[0] && v1[0] ? " or " : "", v1);
	if (r)
		die(c, "no %s '%s' under %s", c->container ? "container" : "cgroup", what, where);
	return ssid;
}

/* PATH lookup like execvp, so we know what the child will run. */
static int resolve_command(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/')) {
		if (faccessat(AT_FDCWD, name, X_OK, AT_EACCESS))
			return -errno;
		return realpath(name, out) ? 0 : -errno;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (!faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) && realpath(buf, out) && strlen(out) < len)
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -ENOENT;
}

static void write_out(struct cli *c, struct mo_buf *b)
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
				fprintf(stderr, "%s: warning: cannot write the output: %s%s\n", prog,
					strerror(err),
					err == EPIPE && c->exit_on_broken_pipe ? "; stopping" :
					"; failed writes are counted");
			if (c->obs)
				mo_observer_note_output_errors(c->obs, 1);
			if (err == EPIPE && c->exit_on_broken_pipe)
				c->broken_pipe = true;
			break;
		}
		off += (size_t)n;
	}
	mo_buf_reset(b);
}

/* A file we will write at the end: its directory must be writable now,
 * so a typo fails before anything is attached. */
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
		die(c, "cannot write %s file '%s': %s", opt, path, strerror(errno));
}

static int render_metrics(void *ctx, char **body, size_t *len)
{
	return mo_observer_metrics(ctx, body, len);
}

static void write_outputs(struct cli *c, const struct mo_report *rep)
{
	char err[512];
	int r;

	if (c->pprof && (r = mo_pprof_write(rep, c->pprof, err, sizeof(err))))
		fprintf(stderr, "%s: %s\n", prog, err);
	if (c->folded && (r = mo_folded_write(rep, c->folded)))
		fprintf(stderr, "%s: cannot write folded stacks to '%s': %s\n", prog, c->folded,
			strerror(-r));
	if (c->flamegraph &&
	    (r = mo_flamegraph_write(rep, c->flamegraph, "memobserver: unfreed memory")))
		fprintf(stderr, "%s: cannot write the flame graph to '%s': %s\n", prog,
			c->flamegraph, strerror(-r));
}

static uint64_t elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)(b->tv_sec - a->tv_sec) * 1000000000ULL + (uint64_t)b->tv_nsec -
	       (uint64_t)a->tv_nsec;
}

/* Text mode, every --interval: one line of totals and drops between the
 * findings, so a terminal shows that observation goes on and what it costs. */
static void interval_summary(struct mo_buf *b, struct mo_observer *obs)
{
	struct mo_counters k;
	uint64_t drops;

	mo_observer_counters(obs, &k);
	drops = k.drop_alloc_table_full + k.drop_stack_table_full + k.drop_ringbuf_full +
		k.drop_thread_table_full + k.drop_event_buffer_full + k.drop_stack_stats_full +
		k.drop_targets_full + k.drop_proc_table_full + k.drop_proc_maps_full +
		k.drop_rss_table_full + k.drop_mmap_ranges_full + k.drop_mremap_unhandled;
	mo_buf_printf(b,
		      "-- %" PRIu64 " allocations tracked, %" PRIu64 " freed, %" PRIu64
		      " outstanding; %" PRIu64 " filtered (size), %" PRIu64
		      " sampled out; %" PRIu64 " dropped%s\n",
		      k.allocs_tracked, k.frees_matched,
		      k.allocs_tracked > k.frees_matched ? k.allocs_tracked - k.frees_matched : 0,
		      k.drop_size_filtered, k.drop_sampled, drops,
		      drops ? " (see the report's last lines)" : "");
}

int main(int argc, char **argv)
{
	struct cli c = { .fmt = OUT_TEXT, .out_fd = STDOUT_FILENO, .metrics = "127.0.0.1:9090" };
	struct http_server *http = NULL;
	struct mo_observer *obs;
	struct mo_buf b;
	struct mo_report *rep;
	char exe[PATH_MAX];
	int go[2] = { -1, -1 };
	pid_t child = -1;
	sigset_t mask;
	int sfd, err, status, exit_code = 0;
	struct timespec t0, now;
	uint64_t next_summary;
	const char *bad;

	mo_config_init(&c.cfg);
	parse_args(&c, argc, argv);
	if (mo_config_resolve(&c.cfg, NULL, &bad))
		die(&c, "invalid configuration: field '%s'", bad);

	for (int i = 0; i < c.npids; i++)
		check_pid(&c, c.pids[i]);
	if (c.cmd && resolve_command(c.cmd[0], exe, sizeof(exe)))
		die(&c, "command not found: '%s'", c.cmd[0]);
	check_writable(&c, "--pprof", c.pprof);
	check_writable(&c, "--folded", c.folded);
	check_writable(&c, "--flamegraph", c.flamegraph);
	check_privileges(&c);

	if (c.output) {
		struct stat st;
		/* only a file we create is removed on failure: never a user's
		 * existing file, nor /dev/null */
		bool existed = stat(c.output, &st) == 0;

		c.out_fd = open(c.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c.out_fd < 0)
			die(NULL, "cannot open output file '%s': %s", c.output, strerror(errno));
		c.out_created = !existed;
	}
	signal(SIGPIPE, SIG_IGN);

	obs = mo_observer_new(c.cfg.name, &c.cfg, log_cb, &c);
	if (!obs)
		die(&c, "cannot create the observer: %s", strerror(errno));

	if (c.cmd) {
		if (pipe2(go, O_CLOEXEC))
			die(&c, "pipe: %s", strerror(errno));
		child = fork();
		if (child < 0)
			die(&c, "fork: %s", strerror(errno));
		if (child == 0) {
			char x;

			close(go[1]);
			/* wait until the probes are attached; EOF means give up */
			if (read(go[0], &x, 1) != 1)
				_exit(127);
			if (c.out_fd != STDOUT_FILENO)
				close(c.out_fd);
			execv(exe, c.cmd);
			fprintf(stderr, "%s: cannot run '%s': %s\n", prog, exe, strerror(errno));
			_exit(127);
		}
		close(go[0]);
		err = mo_observer_add_command(obs, child, exe);
		if (err) {
			kill(child, SIGKILL);
			die(&c, "cannot observe the command: %s", strerror(-err));
		}
	}
	if (c.allocator_lib || c.symbol_prefix) {
		err = mo_observer_set_allocator(obs, c.allocator_lib, c.symbol_prefix);
		if (err)
			die(&c, "cannot set the allocator: %s", strerror(-err));
	}
	if (c.container || c.cgroup) {
		uint64_t cgid = 0;
		int ssid = resolve_cgroup(&c, &cgid);

		err = ssid < 0 ? mo_observer_set_cgroup(obs, cgid)
			       : mo_observer_set_cgroup_v1(obs, cgid, ssid);
		if (err)
			die(&c, "cannot filter by cgroup: %s", strerror(-err));
	}
	for (int i = 0; i < c.npids; i++) {
		err = mo_observer_add_pid(obs, c.pids[i], 0);
		if (err)
			die(&c, "cannot observe pid %d: %s", (int)c.pids[i], strerror(-err));
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	/* after the fork: the command keeps the privileges it was given */
	drop_privileges(&c, false);
	err = mo_observer_start(obs);
	if (err) {
		/* the library named the problem through log_cb */
		mo_observer_free(obs);
		if (child > 0) {
			close(go[1]);
			waitpid(child, NULL, 0);
		}
		if (c.out_created)
			unlink(c.output);
		return 1;
	}
	if (c.metrics) {
		char herr[256];

		http = http_start(c.metrics, render_metrics, obs, herr, sizeof(herr));
		if (!http && c.metrics_explicit) {
			fprintf(stderr, "%s: %s\n", prog, herr);
			mo_observer_free(obs);
			if (child > 0) {
				close(go[1]);
				waitpid(child, NULL, 0);
			}
			if (c.out_created)
				unlink(c.output);
			return 2;
		}
		if (!http)
			fprintf(stderr, "%s: warning: metrics disabled: %s\n", prog, herr);
		else if (c.verbose)
			fprintf(stderr, "%s: metrics on http://%s/metrics\n", prog, c.metrics);
	}
	drop_privileges(&c, true);
	c.obs = obs;
	if (child > 0) {
		if (write(go[1], "g", 1) != 1)
			die(&c, "cannot start the command");
		close(go[1]);
	}
	if (c.verbose)
		fprintf(stderr, "%s: observing %s\n", prog,
			c.cmd ? "the command" : c.npids ? "the given pids" : "every process");

	mo_buf_init(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	next_summary = c.cfg.report_interval_ns;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = mo_observer_fd(obs), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		struct mo_event *ev;
		bool stop = false;

		poll(pfd, 2, 200);
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
				stop = true;
		}
		if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
			exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			child = -1;
		}
		/* reap grandchildren reparented to us as a subreaper would not be:
		 * only our direct child matters for the exit code */
		while (mo_observer_read(obs, &ev, 0) == 1) {
			if (!c.quiet && !ev->final)
				out_event(&b, c.fmt, ev);
			else if (!c.quiet && ev->final && c.fmt == OUT_TEXT)
				out_event(&b, c.fmt, ev);
			mo_event_free(ev);
			if (b.len > 65536)
				write_out(&c, &b);
		}
		write_out(&c, &b);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (c.fmt == OUT_TEXT && !c.quiet && c.cfg.report_interval_ns &&
		    elapsed_ns(&t0, &now) >= next_summary) {
			next_summary += c.cfg.report_interval_ns;
			interval_summary(&b, obs);
			write_out(&c, &b);
		}
		if (c.duration_ns &&
		    (uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000ULL + (uint64_t)now.tv_nsec -
				    (uint64_t)t0.tv_nsec >=
			    c.duration_ns)
			stop = true;
		if (stop || c.broken_pipe || mo_observer_targets_gone(obs))
			break;
	}

	http_stop(http);
	mo_observer_stop(obs);
	{
		struct mo_event *ev;

		while (mo_observer_read(obs, &ev, 0) == 1) {
			if (!c.quiet && c.fmt == OUT_TEXT)
				out_event(&b, c.fmt, ev);
			else if (!c.quiet && !ev->final)
				out_event(&b, c.fmt, ev);
			mo_event_free(ev);
		}
	}
	rep = mo_observer_report(obs);
	if (rep) {
		out_report(&b, c.fmt, rep,
			   c.cmd ? "command" : c.npids ? "pids" : "system-wide", c.cfg.name);
		write_outputs(&c, rep);
		mo_report_free(rep);
	}
	write_out(&c, &b);
	mo_buf_release(&b);
	c.obs = NULL;
	mo_observer_free(obs);
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, &status, 0);
	}
	if (c.write_errors)
		fprintf(stderr, "%s: warning: %" PRIu64 " writes to the output failed\n", prog,
			c.write_errors);
	if (c.out_fd != STDOUT_FILENO)
		close(c.out_fd);
	(void)exit_code;
	return c.broken_pipe ? EXIT_BROKEN_PIPE : 0;
}
