// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * observer.c - the observer's lifecycle: load the BPF object, attach, run
 * the worker thread that drains kernel records and analyses the allocation
 * table, and build events and reports. The only includer of the skeleton.
 *
 * Threads: the worker thread and API callers share everything under
 * obs->lock; the event queue has its own lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "analysis.h"
#include "attach.h"
#include "memobserver.skel.h"
#include "metrics.h"
#include "container.h"
#include "modules.h"
#include "pattern.h"
#include "rsswatch.h"
#include "procrss.h"
#include "shed.h"
#include "stackgc.h"
#include "queue.h"
#include "symbolize.h"
#include "procmaps.h"
#include "traces.h"

#define NSEC 1000000000ULL
#define MAINT_PERIOD_NS (100 * 1000000ULL)
#define RSS_PERIOD_NS NSEC		/* RSS sampling period */
#define RSS_WINDOW_NS (60 * NSEC)	/* growth is measured over this window */
#define GC_PERIOD_NS (10 * NSEC)	/* stack table collection, when half full; */
#define GC_FULL_PERIOD_NS NSEC		/* every second when 90 % full */
#define RSS_CHECK_NS (10 * NSEC)	/* cross-check with /proc this often per process */
#define RSS_SCAN_NS (5 * NSEC)		/* system-wide without rss_stat: /proc scan period */
#define RSS_TOLERANCE (1ULL << 20)	/* rss_stat and /proc agree within 1 MiB or 5 % */
#define OOM_HORIZON_S 300.0		/* predictions further out are not reported */
#define OOM_REPEAT_NS (10 * NSEC)	/* at most one oom_risk per process per 10 s */
#define MAX_HISTORIES 4096		/* stacks with a pattern history */
/* A cache filling up looks like a leak until it stops: a periodic finding
 * needs this many analysis samples of history (80 s at the default 10 s). */
#define MIN_FINDING_SAMPLES 8
#define BATCH 4096

struct pidinfo {
	pid_t pid;
	unsigned flags;
	bool alive;
	bool own_link;		/* attached with a per-pid link */
	char *exe;		/* command not yet exec'd: its program */
	char comm[64];
};

/* Totals of exited processes, so per-name counters never go backwards. */
struct retired {
	char command[64];
	char container_id[65];
	uint64_t allocations;
	uint64_t deallocations;
	uint64_t largest;
};

/* Per-process state for container attribution and OOM prediction. */
struct procextra {
	pid_t pid;
	bool container_known;
	struct mo_container c;
	bool limit_known;
	uint64_t limit;		/* memory limit that applies, bytes */
	char memdir[512];	/* cgroup directory holding the limit, "" = MemTotal */
	uint64_t last_oom_ns;
	char comm[17];		/* from its exit record: /proc has gone by the report */
	uint64_t rss_checked_ns;	/* last /proc read, CLOCK_BOOTTIME */
	struct mo_proc_rss proc;	/* what it said */
};

struct rssmetric {
	char command[64];
	const char *severity;
	uint64_t count;
};

struct reclaim {
	uint32_t pid;
	uint64_t ts_ns;
	bool exec;
	uint32_t gen;	/* the process instance the record is about */
};

struct mo_observer {
	struct mo_config cfg;
	mo_log_fn log;
	void *log_ctx;

	struct memobserver_bpf *skel;
	bool session;
	bool heap_probes;	/* false: conservative mode, syscalls only */
	uint64_t target_cgroup;	/* only processes in this cgroup (v2 id), 0 = any */
	char *allocator_lib;	/* forced allocator module, or NULL: discover */
	char *symbol_prefix;	/* prefix of the allocator's C API, or NULL */
	struct mo_links links;
	struct mo_attach_progs progs;
	struct ring_buffer *rb;
	struct mo_modules *mods;

	struct pidinfo *pids;
	size_t npids, cappids;
	bool system_wide;

	struct mo_queue *q;
	struct mo_symbolizer *sym;
	struct mo_traces *traces;

	pthread_t worker;
	bool worker_running;
	bool started, stopped;
	int stop_efd;
	int timer_fd;
	pthread_mutex_t lock;

	int64_t boot_to_real_ns;
	uint64_t last_maint_ns;

	struct reclaim *pending;
	size_t npending, cappending;

	struct mo_record *deferred;	/* records whose handling may be slow */
	size_t ndeferred, capdeferred;

	struct mo_leak *exit_leaks;
	size_t nexit, capexit;

	struct retired *retired;
	size_t nretired, capretired;

	struct mo_rsswatch *rssw;	/* process RSS */
	struct mo_rsswatch *cgw;	/* usage of cgroups with a limit, for OOM prediction */
	uint64_t last_rss_ns;
	uint64_t last_rss_scan_ns;
	bool rss_from_proc;		/* no kmem:rss_stat: /proc is the only source */
	uint64_t rss_checks[2];		/* cross-checks with /proc: agreed, disagreed */
	uint64_t rss_proc_reads;
	struct procextra *extra;
	size_t nextra, capextra;
	struct rssmetric *rssm;
	size_t nrssm, caprssm;
	uint64_t start_realtime_s;

	uint64_t events_emitted;
	uint64_t short_lived_exits;
	uint64_t runtime_skipped;
	size_t probes;
	uint64_t dedup_suppressed;
	uint64_t attach_failures;
	struct mo_shedder *shed;	/* overhead budget, or NULL */
	struct mo_shed_stats shed_final;	/* its figures once stopped */
	uint64_t output_write_errors;	/* the caller's, atomic: any thread adds */
	uint64_t pids_reused;		/* exits reclaimed after a new process took the pid */
	bool stopping;			/* atomic: the worker must finish its iteration fast */
	struct mo_stackgc *stackgc;
	uint64_t last_gc_ns;
	uint64_t stacks_deleted;
	uint64_t unattributed;		/* leaked blocks with no stack (table was full) */
	uint64_t ringbuf_drops_seen;	/* lost records already recovered from */
	uint64_t last_recover_ns;
	uint64_t last_loss_ns;		/* when lost records were last seen */
	uint64_t exits_recovered;	/* exits whose record was lost, found by pid */
	uint64_t stale_recovered;	/* blocks of an old image whose exec record was lost */
};

static void olog(struct mo_observer *o, enum mo_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void olog(struct mo_observer *o, enum mo_log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->log(lvl, buf, o->log_ctx);
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t to_realtime(const struct mo_observer *o, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + o->boot_to_real_ns);
}

/* Make room for need elements of size elem in *arr (capacity *cap,
 * doubling). 0 or -ENOMEM, *arr unchanged on failure. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*arr, c * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------- process info */

static struct pidinfo *pid_find(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].pid == pid)
			return &o->pids[i];
	return NULL;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	/* The kernel writes comm raw and ends it with one '\n': a comm may
	 * itself hold newlines (prctl(PR_SET_NAME)), so only the last goes. */
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	if (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
}

static struct pidinfo *pid_add(struct mo_observer *o, pid_t pid, unsigned flags)
{
	struct pidinfo *p = pid_find(o, pid);

	if (p) {
		p->alive = true;
		p->flags |= flags;
		return p;
	}
	if (grow((void **)&o->pids, &o->cappids, o->npids + 1, sizeof(*o->pids)))
		return NULL;
	p = &o->pids[o->npids++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->flags = flags;
	p->alive = true;
	read_comm(pid, p->comm, sizeof(p->comm));
	return p;
}

/* Command name for events: cached for observed pids, read otherwise. */
static struct procextra *extra_find(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->nextra; i++)
		if (o->extra[i].pid == pid)
			return &o->extra[i];
	return NULL;
}

static void comm_of(struct mo_observer *o, pid_t pid, char *buf, size_t len)
{
	struct pidinfo *p = pid_find(o, pid);

	if (p && p->comm[0]) {
		snprintf(buf, len, "%s", p->comm);
		return;
	}
	read_comm(pid, buf, len);
	if (!buf[0]) {
		struct procextra *x = extra_find(o, pid);

		if (x)
			snprintf(buf, len, "%s", x->comm);
	}
	if (!buf[0] && o->skel) {
		/* gone, its fork and exit records lost: a child that did not
		 * exec carries the name its parent had */
		struct mo_proc_stats ps;
		uint32_t key = (uint32_t)pid;

		if (!bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &key, &ps) &&
		    ps.ppid && ps.ppid != key && !ps.exec_ts_ns && pid_find(o, (pid_t)ps.ppid))
			comm_of(o, (pid_t)ps.ppid, buf, len);
	}
}

static struct procextra *extra_of(struct mo_observer *o, pid_t pid)
{
	struct procextra *x = extra_find(o, pid);

	if (x)
		return x;
	if (grow((void **)&o->extra, &o->capextra, o->nextra + 1, sizeof(*o->extra)))
		return NULL;
	memset(&o->extra[o->nextra], 0, sizeof(o->extra[0]));
	o->extra[o->nextra].pid = pid;
	return &o->extra[o->nextra++];
}

static void extra_forget(struct mo_observer *o, pid_t pid)
{
	for (size_t i = 0; i < o->nextra; i++) {
		if (o->extra[i].pid == pid) {
			o->extra[i] = o->extra[--o->nextra];
			return;
		}
	}
}

/* The container a process runs in, read once while it lives. */
static const struct mo_container *container_of(struct mo_observer *o, pid_t pid)
{
	struct procextra *x = extra_of(o, pid);

	if (!x)
		return NULL;
	if (!x->container_known && mo_container_of_pid(pid, &x->c) == 0)
		x->container_known = true;
	return x->container_known ? &x->c : NULL;
}

static void fill_container(struct mo_observer *o, struct mo_event *ev)
{
	const struct mo_container *c = container_of(o, ev->pid);

	if (!c)
		return;
	snprintf(ev->container_id, sizeof(ev->container_id), "%s", c->id);
	snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", c->pod_uid);
	snprintf(ev->cgroup, sizeof(ev->cgroup), "%s", c->cgroup);
}

/* ------------------------------------------------------------------- events */

static struct mo_event *event_new(struct mo_observer *o, enum mo_event_type type,
				  const char *kind, pid_t pid, uint64_t boot_ts)
{
	struct mo_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->type = type;
	ev->kind = kind;
	ev->pid = pid;
	ev->timestamp_ns = boot_ts ? to_realtime(o, boot_ts) : clock_ns(CLOCK_REALTIME);
	ev->predicted_oom_seconds = -1;
	comm_of(o, pid, ev->command, sizeof(ev->command));
	fill_container(o, ev);
	return ev;
}

void mo_event_free(struct mo_event *ev)
{
	if (!ev)
		return;
	mo_trace_release(&ev->stack);
	free(ev);
}

static void emit(struct mo_observer *o, struct mo_event *ev)
{
	if (!ev)
		return;
	if (mo_queue_push(o->q, ev)) {
		mo_event_free(ev);
		return;
	}
	o->events_emitted++;
}

static int map_cmp(const void *a, const void *b)
{
	const struct mo_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool is_loader(const char *module)
{
	const char *base;

	if (!module)
		return false;
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld-musl", 7) == 0 ||
	       strncmp(base, "ld64.so", 7) == 0;
}

/*
 * A process that exited before we read its maps: rebuild its executable
 * mappings from what the kernel walker resolved (proc_maps) and the paths
 * the module loader saw.
 */
static int view_from_kernel(struct mo_observer *o, uint32_t pid)
{
	struct mo_proc_maps pm;
	struct mo_maps maps = { 0 };
	int err;

	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.proc_maps), &pid, &pm))
		return -ESRCH;
	if (pm.nr > MO_MAX_MAPS)
		pm.nr = MO_MAX_MAPS;
	maps.maps = calloc(pm.nr ? pm.nr : 1, sizeof(*maps.maps));
	if (!maps.maps)
		return -ENOMEM;
	for (__u32 i = 0; i < pm.nr; i++) {
		const struct mo_map_entry *me = &pm.m[i];
		const char *path = mo_modules_path(o->mods, me->dev, me->ino);
		struct mo_map *m = &maps.maps[maps.nr];

		if (!path)
			continue;
		m->start = me->start;
		m->end = me->end;
		m->offset = me->file_off;
		m->dev_major = (uint32_t)(me->dev >> 20);
		m->dev_minor = (uint32_t)(me->dev & 0xfffff);
		m->inode = me->ino;
		m->r = m->x = m->p = true;
		m->path = strdup(path);
		if (!m->path)
			break;
		maps.nr++;
	}
	/* the symbolizer looks mappings up by address: keep them sorted */
	qsort(maps.maps, maps.nr, sizeof(*maps.maps), map_cmp);
	err = mo_symbolizer_set_maps(o->sym, (pid_t)pid, &maps);
	mo_maps_release(&maps);
	return err;
}

/*
 * A forked child gone before its maps were read, and without kernel-resolved
 * mappings (its fork record was lost, say): until it execs it maps the code
 * its parent maps, so the parent's view (or the parent's parent's) stands in.
 */
static int view_from_parent(struct mo_observer *o, uint32_t pid)
{
	int fd = bpf_map__fd(o->skel->maps.procs);
	struct mo_proc_stats ps;
	uint32_t at = pid;

	for (int depth = 0; depth < 8; depth++) {
		if (bpf_map_lookup_elem(fd, &at, &ps) || !ps.ppid || ps.exec_ts_ns)
			return -ESRCH;
		if (mo_symbolizer_inherit(o->sym, (pid_t)pid, (pid_t)ps.ppid) == 0)
			return 0;
		if (view_from_kernel(o, ps.ppid) == 0) {
			int err = mo_symbolizer_inherit(o->sym, (pid_t)pid, (pid_t)ps.ppid);

			/* built for this only: a later process with that pid
			 * must read its own */
			mo_symbolizer_forget(o->sym, (pid_t)ps.ppid);
			if (!err)
				return 0;
		}
		at = ps.ppid;
	}
	return -ESRCH;
}

/* Symbolized stack for (pid, stack id), cached. */
static const struct mo_stack_trace *trace_of(struct mo_observer *o, uint32_t pid, uint64_t id)
{
	struct mo_trace_entry *e = mo_traces_get(o->traces, pid, id);
	struct mo_stack st;
	int err;

	if (!e)
		return NULL;
	if (e->resolved)
		return &e->tr;
	e->resolved = true;
	e->tr.id = id;
	if (!id || bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stacks), &id, &st))
		return &e->tr;
	e->tr.flags = st.flags;
	if (st.nr > MO_MAX_FRAMES)
		st.nr = MO_MAX_FRAMES;
	err = mo_symbolize(o->sym, (pid_t)pid, (const uint64_t *)st.ips, st.nr, &e->tr.frames,
			   &e->tr.nframes);
	if (err == -ESRCH && (view_from_kernel(o, pid) == 0 || view_from_parent(o, pid) == 0))
		err = mo_symbolize(o->sym, (pid_t)pid, (const uint64_t *)st.ips, st.nr,
				   &e->tr.frames, &e->tr.nframes);
	if (err) {
		olog(o, MO_LOG_DEBUG, "cannot symbolize a stack of pid %u: %s", pid, strerror(-err));
		e->tr.frames = NULL;
		e->tr.nframes = 0;
	}
	e->runtime = e->tr.nframes && is_loader(e->tr.frames[e->tr.nframes > 1 ? 1 : 0].module) &&
		     is_loader(e->tr.frames[0].module);
	return &e->tr;
}

/* Blocks the dynamic loader maps (segments, TLS) belong to the runtime. */
/* Blocks whose stack could not be stored (the stack table was full, a drop
 * counted then) cannot be told from the runtime's own (loader mappings,
 * thread stacks): counted as unattributed, never reported as a leak. */
static bool no_stack(const struct mo_leak_group *g)
{
	return g->stack_id == 0;
}

static bool runtime_group(struct mo_observer *o, const struct mo_leak_group *g)
{
	const struct mo_stack_trace *tr = trace_of(o, g->tgid, g->stack_id);
	struct mo_trace_entry *e;

	if (!tr)
		return false;
	e = mo_traces_get(o->traces, g->tgid, g->stack_id);
	return e && e->runtime;
}

/* The overhead budget's figures, live or as it left them. */
static void shed_stats(const struct mo_observer *o, struct mo_shed_stats *st)
{
	*st = o->shed_final;
	if (o->shed)
		mo_shedder_stats(o->shed, st);
}

static bool shed_happened(const struct mo_observer *o)
{
	struct mo_shed_stats st;

	if (!o->cfg.max_overhead_bp)
		return false;
	shed_stats(o, &st);
	return st.shed_ns > 0 || st.duty < 1;
}

static void fill_leak(struct mo_observer *o, struct mo_leak *l, const struct mo_leak_group *g,
		      uint64_t now_boot)
{
	const struct mo_stack_trace *tr = trace_of(o, g->tgid, g->stack_id);

	memset(l, 0, sizeof(*l));
	l->pid = (pid_t)g->tgid;
	comm_of(o, l->pid, l->command, sizeof(l->command));
	l->unfreed_bytes = g->unfreed_bytes;
	l->count = g->count;
	l->oldest_age_ns = now_boot > g->oldest_ts_ns ? now_boot - g->oldest_ts_ns : 0;
	l->largest = g->largest;
	/* sampled, or seen only while the budget kept the probes attached */
	l->estimate = g->estimate || shed_happened(o);
	if (tr)
		mo_trace_copy(&l->stack, tr);
	l->stack.id = g->stack_id;
	{
		const struct mo_container *c = container_of(o, l->pid);
		struct mo_trace_entry *e = mo_traces_get(o->traces, g->tgid, g->stack_id);
		struct mo_verdict v = { 0 };

		if (c) {
			snprintf(l->container_id, sizeof(l->container_id), "%s", c->id);
			snprintf(l->pod_uid, sizeof(l->pod_uid), "%s", c->pod_uid);
		}
		struct mo_stack_key sk = { .tgid = g->tgid, .stack_id = g->stack_id };
		struct mo_stack_stats ss;

		if (g->stack_id &&
		    !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stack_stats), &sk, &ss)) {
			/* tracked allocations; scaled like the in-use totals */
			l->alloc_count = ss.allocs * o->cfg.sampling_rate;
			l->alloc_bytes = ss.alloc_bytes * o->cfg.sampling_rate;
		}
		if (e && e->hist)
			mo_classify(e->hist, &v);
		l->pattern = mo_pattern_name(v.pattern);
		l->growth_bytes_per_s = v.growth_bytes_per_s;
		l->confidence = v.confidence;
		l->severity = v.pattern == MO_PATTERN_GROWING || v.pattern == MO_PATTERN_FRAGMENTATION
				      ? "warning"
				      : "info";
	}
}

static struct mo_event *leak_event(struct mo_observer *o, const struct mo_leak *l,
				   const char *severity, bool final)
{
	struct mo_event *ev = event_new(o, MO_EVENT_MEMORY_PRESSURE, "leak", l->pid, 0);

	if (!ev)
		return NULL;
	snprintf(ev->command, sizeof(ev->command), "%s", l->command);
	ev->severity = severity;
	ev->size_bytes = l->largest;
	ev->unfreed_bytes = l->unfreed_bytes;
	ev->count = l->count;
	ev->age_seconds = (double)l->oldest_age_ns / 1e9;
	ev->estimate = l->estimate;
	ev->final = final;
	ev->pattern = l->pattern;
	ev->growth_bytes_per_s = l->growth_bytes_per_s;
	ev->confidence = l->confidence;
	if (mo_trace_copy(&ev->stack, &l->stack)) {
		mo_event_free(ev);
		return NULL;
	}
	return ev;
}

/* ----------------------------------------------------------------- snapshot */

static int snapshot(struct mo_observer *o, struct mo_alloc_rec **out, size_t *n)
{
	int fd = bpf_map__fd(o->skel->maps.allocs);
	struct mo_alloc_key *keys = malloc(BATCH * sizeof(*keys));
	struct mo_alloc_info *vals = malloc(BATCH * sizeof(*vals));
	struct mo_alloc_rec *recs = NULL;
	size_t nr = 0, cap = 0;
	__u64 batch = 0;
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					     NULL);
		int done = r < 0 && errno == ENOENT;

		if (r < 0 && !done) {
			err = -errno;
			goto out;
		}
		first = false;
		if (grow((void **)&recs, &cap, nr + count, sizeof(*recs))) {
			err = -ENOMEM;
			goto out;
		}
		for (__u32 i = 0; i < count; i++) {
			struct mo_alloc_rec *r2 = &recs[nr++];

			r2->tgid = keys[i].tgid;
			r2->gen = keys[i].gen;
			r2->addr = keys[i].addr;
			r2->size = vals[i].size;
			r2->ts_ns = vals[i].ts_ns;
			r2->stack_id = vals[i].stack_id;
			r2->kind = vals[i].kind;
			r2->weight = vals[i].sample_weight ? vals[i].sample_weight : 1;
		}
		if (done)
			break;
	}
out:
	free(keys);
	free(vals);
	if (err) {
		free(recs);
		return err;
	}
	*out = recs;
	*n = nr;
	return 0;
}

/* ------------------------------------------------------------- maintenance */

/* Kernel counter k (enum mo_counter), summed over the CPUs. */
static uint64_t counter_value(struct mo_observer *o, __u32 k)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*vals)) : NULL;
	uint64_t v = 0;

	if (vals && !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.counters), &k, vals))
		for (int i = 0; i < ncpu; i++)
			v += vals[i];
	free(vals);
	return v;
}

/*
 * The stack ids other processes than pid refer to (pid 0: every process):
 * their outstanding blocks (recs, a snapshot of the allocation table) and
 * their per-stack totals; pid's own totals keys go to *mine when asked.
 * 0, or -ENOMEM with the arrays holding what was collected.
 */
static int stack_refs(struct mo_observer *o, uint32_t pid, const struct mo_alloc_rec *recs,
		      size_t n, uint64_t **ids, size_t *nids, struct mo_stack_key **mine,
		      size_t *nmine)
{
	int fd = bpf_map__fd(o->skel->maps.stack_stats);
	struct mo_stack_key key, next, *prev = NULL;
	size_t cap = 0, capmine = 0;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].tgid == pid)
			continue;
		if (grow((void **)ids, &cap, *nids + 1, sizeof(**ids)))
			return -ENOMEM;
		(*ids)[(*nids)++] = recs[i].stack_id;
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.tgid == pid && mine) {
			if (grow((void **)mine, &capmine, *nmine + 1, sizeof(**mine)))
				return -ENOMEM;
			(*mine)[(*nmine)++] = key;
		} else if (key.tgid != pid) {
			if (grow((void **)ids, &cap, *nids + 1, sizeof(**ids)))
				return -ENOMEM;
			(*ids)[(*nids)++] = key.stack_id;
		}
	}
	return 0;
}

/* Every GC_PERIOD_NS, once the stack table is half full: drop the stacks no
 * outstanding allocation and no per-stack totals entry refers to. */
static void stacks_gc(struct mo_observer *o, uint64_t now)
{
	struct mo_alloc_rec *recs = NULL;
	uint64_t *ids = NULL, live;
	size_t n = 0, nids = 0;
	int r;

	if (now - o->last_gc_ns < GC_FULL_PERIOD_NS)
		return;
	live = counter_value(o, MO_C_STACKS_NEW) - o->stacks_deleted;
	if (live < o->cfg.max_stacks / 10 * 9 && now - o->last_gc_ns < GC_PERIOD_NS)
		return;
	o->last_gc_ns = now;
	if (live < o->cfg.max_stacks / 2 || snapshot(o, &recs, &n))
		return;
	if (stack_refs(o, 0, recs, n, &ids, &nids, NULL, NULL))
		goto out;
	r = mo_stackgc_pass(o->stackgc, bpf_map__fd(o->skel->maps.stacks), ids, nids);
	if (r > 0)
		o->stacks_deleted += (uint64_t)r;
	olog(o, MO_LOG_DEBUG, "stack table: %" PRIu64 " live, %d unreferenced stacks freed", live,
	     r);
out:
	free(ids);
	free(recs);
}

static bool stopping(const struct mo_observer *o)
{
	return __atomic_load_n(&o->stopping, __ATOMIC_RELAXED);
}


static int add_pending(struct mo_observer *o, const struct mo_record *r, bool exec)
{
	if (grow((void **)&o->pending, &o->cappending, o->npending + 1, sizeof(*o->pending)))
		return -ENOMEM;
	o->pending[o->npending++] = (struct reclaim){ r->pid, r->ts_ns, exec, r->gen };
	return 0;
}

/* Is rec one of the blocks of the process instance rc is about? */
static bool rec_of(const struct mo_alloc_rec *rec, const struct reclaim *rc)
{
	return rec->tgid == rc->pid && rec->gen == rc->gen;
}

/* Does a newer process now hold rc's pid (its BPF statistics say so)? Then
 * the per-pid state is the new process's and must stay. */
static bool pid_reused(struct mo_observer *o, const struct reclaim *rc)
{
	struct mo_proc_stats ps;

	return !bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid, &ps) &&
	       ps.gen != rc->gen;
}

static void add_exit_leak(struct mo_observer *o, const struct mo_leak *l)
{
	if (grow((void **)&o->exit_leaks, &o->capexit, o->nexit + 1, sizeof(*o->exit_leaks)))
		return;
	o->exit_leaks[o->nexit] = *l;
	mo_trace_copy(&o->exit_leaks[o->nexit].stack, &l->stack);
	o->nexit++;
}

/*
 * Drop the per-stack totals of an exited process, and the stacks only it
 * used: with ASLR a process's stack ids are its own (forked children share
 * their parent's), and the stack table would otherwise fill with the stacks
 * of processes long gone. A stack another process has totals or outstanding
 * blocks (recs: the allocation table's snapshot) for stays.
 */
static void forget_stack_stats(struct mo_observer *o, uint32_t pid,
			       const struct mo_alloc_rec *recs, size_t nrecs)
{
	int fd = bpf_map__fd(o->skel->maps.stack_stats);
	int sfd = bpf_map__fd(o->skel->maps.stacks);
	struct mo_stack_key *mine = NULL;
	uint64_t *others = NULL;
	size_t nmine = 0, nothers = 0;
	bool complete = stack_refs(o, pid, recs, nrecs, &others, &nothers, &mine, &nmine) == 0;

	for (size_t i = 0; i < nmine; i++)
		bpf_map_delete_elem(fd, &mine[i]);
	/* with the references incomplete, leave stacks to the collection */
	qsort(others, nothers, sizeof(*others), mo_u64_cmp);
	for (size_t i = 0; complete && i < nmine; i++) {
		uint64_t id = mine[i].stack_id;

		if (id && !(nothers && bsearch(&id, others, nothers, sizeof(*others), mo_u64_cmp)) &&
		    bpf_map_delete_elem(sfd, &id) == 0)
			o->stacks_deleted++;
	}
	free(others);
	free(mine);
}

/*
 * A process is reclaimed, its view about to go. After lost records, some of
 * its forked children may never have been seen by user space (their fork
 * record was lost): those that did not exec inherit its view and name now,
 * so their findings can still be symbolized after both are gone. The view
 * is marked for re-reading: a child that is alive reads its own.
 */
static void hand_over_view(struct mo_observer *o, uint32_t pid)
{
	int fd = bpf_map__fd(o->skel->maps.procs);
	struct mo_proc_stats ps;
	__u32 key, next, *prev = NULL;
	char comm[64];

	if (!o->ringbuf_drops_seen || bpf_map_lookup_elem(fd, &pid, &ps) || !ps.forks)
		return;
	comm_of(o, (pid_t)pid, comm, sizeof(comm));
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct procextra *x;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps) || ps.ppid != pid || ps.exec_ts_ns ||
		    pid_find(o, (pid_t)key))
			continue;
		if (!mo_symbolizer_has_view(o->sym, (pid_t)key) &&
		    mo_symbolizer_inherit(o->sym, (pid_t)key, (pid_t)pid) == 0)
			mo_symbolizer_refresh(o->sym, (pid_t)key);
		x = extra_of(o, (pid_t)key);
		if (x && !x->comm[0])
			snprintf(x->comm, sizeof(x->comm), "%.16s", comm);
	}
}

static void retire(struct mo_observer *o, uint32_t pid)
{
	struct mo_proc_stats ps;
	struct retired *r = NULL;
	char comm[64];

	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &pid, &ps))
		return;
	const struct mo_container *c = container_of(o, (pid_t)pid);
	const char *cid = c ? c->id : "";

	comm_of(o, (pid_t)pid, comm, sizeof(comm));
	for (size_t i = 0; i < o->nretired && !r; i++)
		if (!strcmp(o->retired[i].command, comm) && !strcmp(o->retired[i].container_id, cid))
			r = &o->retired[i];
	if (!r) {
		if (grow((void **)&o->retired, &o->capretired, o->nretired + 1, sizeof(*o->retired)))
			return;
		r = &o->retired[o->nretired++];
		memset(r, 0, sizeof(*r));
		snprintf(r->command, sizeof(r->command), "%s", comm);
		snprintf(r->container_id, sizeof(r->container_id), "%s", cid);
	}
	r->allocations += ps.allocs;
	r->deallocations += ps.frees;
	if (ps.largest > r->largest)
		r->largest = ps.largest;
}

/*
 * Are an exited process's remaining blocks worth findings? Yes for the
 * processes the user named (and their children), for processes that lived
 * at least the age rule, and for any stack whose history was growing.
 */
static bool worth_reporting(struct mo_observer *o, const struct reclaim *rc,
			    const struct mo_leak_groups *g)
{
	struct mo_proc_stats ps;

	if (!o->system_wide && !o->target_cgroup)
		return true;
	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid, &ps) ||
	    !ps.exec_ts_ns || rc->ts_ns - ps.exec_ts_ns >= o->cfg.min_unfreed_age_ns)
		return true;
	for (size_t i = 0; i < g->nr; i++) {
		struct mo_trace_entry *e = mo_traces_get(o->traces, g->g[i].tgid, g->g[i].stack_id);
		struct mo_verdict v;

		if (e && e->hist) {
			mo_classify(e->hist, &v);
			if (v.pattern == MO_PATTERN_GROWING)
				return true;
		}
	}
	return false;
}

/* A process exited: its still-outstanding blocks are its final findings. */
static void reclaim_exit(struct mo_observer *o, const struct reclaim *rc,
			 const struct mo_alloc_rec *recs, size_t n, int allocs_fd)
{
	struct mo_alloc_rec *mine = malloc((n ? n : 1) * sizeof(*mine));
	struct mo_leak_groups g = { 0 };
	uint64_t bytes = 0, cnt = 0;
	size_t m = 0;
	bool m_reported = true;

	if (!mine)
		return;
	for (size_t i = 0; i < n; i++)
		if (rec_of(&recs[i], rc) && recs[i].ts_ns <= rc->ts_ns)
			mine[m++] = recs[i];
	if (m && mo_analyze(mine, m, rc->ts_ns, 0, &g) == 0 && !worth_reporting(o, rc, &g)) {
		/* a short-lived process nobody asked about: counted, not reported
		 * (system-wide, every shell command would otherwise be a finding) */
		o->short_lived_exits++;
		mo_leak_groups_release(&g);
		g.nr = 0;
		m_reported = false;
	}
	if (m && m_reported) {
		for (size_t i = 0; i < g.nr; i++) {
			struct mo_leak l;

			if (no_stack(&g.g[i])) {
				o->unattributed += g.g[i].count;
				continue;
			}
			if (runtime_group(o, &g.g[i])) {
				o->runtime_skipped += g.g[i].count;
				continue;
			}
			fill_leak(o, &l, &g.g[i], rc->ts_ns);
			/* held at exit: informational unless its history was growing */
			emit(o, leak_event(o, &l, l.severity, true));
			add_exit_leak(o, &l);
			mo_trace_release(&l.stack);
			bytes += g.g[i].unfreed_bytes;
			cnt += g.g[i].count;
		}
	}
	if (m_reported) {
		struct mo_event *ev = event_new(o, MO_EVENT_KERNEL_PROCESS, "exit", (pid_t)rc->pid,
						rc->ts_ns);

		if (ev) {
			ev->unfreed_bytes = bytes;
			ev->count = cnt;
			emit(o, ev);
		}
	}
	mo_leak_groups_release(&g);
	for (size_t i = 0; i < m; i++) {
		struct mo_alloc_key k = { .tgid = mine[i].tgid, .gen = mine[i].gen,
					  .addr = mine[i].addr };

		bpf_map_delete_elem(allocs_fd, &k);
	}
	free(mine);
	if (pid_reused(o, rc)) {
		/* a new process has the pid: the rest is its state */
		o->pids_reused++;
		return;
	}
	retire(o, rc->pid);
	hand_over_view(o, rc->pid);
	forget_stack_stats(o, rc->pid, recs, n);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.rss), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.procs), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.proc_maps), &rc->pid);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.targets), &rc->pid);
	mo_traces_forget_pid(o->traces, rc->pid);
	mo_symbolizer_forget(o->sym, (pid_t)rc->pid);
	mo_rsswatch_forget(o->rssw, (pid_t)rc->pid);
	mo_rsswatch_forget(o->cgw, (pid_t)rc->pid);
	extra_forget(o, (pid_t)rc->pid);
}

/* After exec the old image's blocks are gone with it: not leaks. */
static void reclaim_exec(struct mo_observer *o, const struct reclaim *rc,
			 struct mo_alloc_rec *recs, size_t n, int allocs_fd)
{
	for (size_t i = 0; i < n; i++) {
		if (rec_of(&recs[i], rc) && recs[i].ts_ns < rc->ts_ns) {
			struct mo_alloc_key k = { .tgid = recs[i].tgid, .gen = recs[i].gen,
						  .addr = recs[i].addr };

			bpf_map_delete_elem(allocs_fd, &k);
			recs[i].tgid = 0;	/* gone from this snapshot too */
		}
	}
}

static void maintenance(struct mo_observer *o)
{
	struct mo_alloc_rec *recs = NULL;
	struct reclaim *work;
	size_t n = 0, nwork;
	int fd = bpf_map__fd(o->skel->maps.allocs);

	o->last_maint_ns = clock_ns(CLOCK_BOOTTIME);
	if (!o->npending)
		return;
	if (snapshot(o, &recs, &n)) {
		olog(o, MO_LOG_WARN, "cannot read the allocation table; retrying");
		return;
	}
	/* Take the work list: records consumed meanwhile queue new work. */
	work = o->pending;
	nwork = o->npending;
	o->pending = NULL;
	o->npending = o->cappending = 0;
	for (size_t i = 0; i < nwork; i++) {
		if (stopping(o)) {
			/* keep the rest for after the detach */
			for (; i < nwork; i++)
				if (grow((void **)&o->pending, &o->cappending, o->npending + 1,
					 sizeof(*o->pending)) == 0)
					o->pending[o->npending++] = work[i];
			break;
		}
		/* exec records of new programs must be handled while those
		 * still run (their maps and files): drain them between exits */
		ring_buffer__consume(o->rb);
		if (work[i].exec)
			reclaim_exec(o, &work[i], recs, n, fd);
		else
			reclaim_exit(o, &work[i], recs, n, fd);
	}
	free(work);
	free(recs);
}

static bool pending_exit(const struct mo_observer *o, uint32_t pid)
{
	for (size_t i = 0; i < o->npending; i++)
		if (o->pending[i].pid == pid && !o->pending[i].exec)
			return true;
	return false;
}

/* Add this tick's sample to the stack's history. */
static void sample_stack(struct mo_observer *o, const struct mo_leak_group *g, uint64_t now)
{
	struct mo_trace_entry *e = mo_traces_get(o->traces, g->tgid, g->stack_id);
	struct mo_stack_key k = { .tgid = g->tgid, .stack_id = g->stack_id };
	struct mo_stack_stats st = { 0 };
	struct mo_history *h;
	struct mo_sample smp;

	if (!e || !(h = mo_traces_history(o->traces, e, MAX_HISTORIES)))
		return;
	bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.stack_stats), &k, &st);
	smp.t_ns = now;
	smp.unfreed_bytes = g->unfreed_bytes;
	smp.live_blocks = g->count;
	smp.allocs_total = st.allocs;
	smp.frees_total = st.frees;
	mo_history_add(h, &smp);
}

/* Did the process's RSS grow along with this stack's unfreed bytes? */
static bool rss_backs(struct mo_observer *o, const struct mo_trace_entry *e, pid_t pid)
{
	const struct mo_history *h = e ? e->hist : NULL;
	const struct mo_sample *first, *last;
	int64_t rss_growth;

	if (!h || h->n < 2)
		return false;
	first = &h->s[(h->head + MO_HISTORY_LEN - h->n) % MO_HISTORY_LEN];
	last = &h->s[(h->head + MO_HISTORY_LEN - 1) % MO_HISTORY_LEN];
	if (last->unfreed_bytes <= first->unfreed_bytes)
		return false;
	if (!mo_rsswatch_growth_since(o->rssw, pid, first->t_ns, &rss_growth))
		return false;
	return rss_growth >= (int64_t)(last->unfreed_bytes - first->unfreed_bytes) / 2;
}

/*
 * Periodic analysis: every stack holding memory gets a history sample; the
 * ones older than the age rule are classified (docs/patterns.md). Growing
 * stacks and fragmentation are leaks; plateaus (caches, pools) are
 * informational; churn and stacks with too little history are not
 * reported. One report per stack per dedup window; the next one says how
 * many it stands for.
 */
static void periodic(struct mo_observer *o)
{
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t now = clock_ns(CLOCK_BOOTTIME);
	size_t n = 0;

	if (snapshot(o, &recs, &n))
		return;
	if (mo_analyze(recs, n, now, 0, &g) == 0) {
		for (size_t i = 0; i < g.nr; i++) {
			const struct mo_leak_group *gi = &g.g[i];
			struct mo_trace_entry *e;
			struct mo_leak l;
			struct mo_event *ev;
			const char *kind;

			if (pending_exit(o, gi->tgid) || no_stack(gi) || runtime_group(o, gi))
				continue;
			sample_stack(o, gi, now);
			if (now - gi->oldest_ts_ns < o->cfg.min_unfreed_age_ns)
				continue;
			fill_leak(o, &l, gi, now);
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (!e || !e->hist || e->hist->n < MIN_FINDING_SAMPLES)
				kind = NULL;
			else if (!strcmp(l.pattern, "growing") || !strcmp(l.pattern, "fragmentation"))
				kind = "leak";
			else if (!strcmp(l.pattern, "plateau"))
				kind = "plateau";
			else
				kind = NULL;
			if (!kind) {
				mo_trace_release(&l.stack);
				continue;
			}
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (e && e->last_emit_ns &&
			    now - e->last_emit_ns < o->cfg.stack_dedup_window_ns) {
				e->suppressed++;
				o->dedup_suppressed++;
				mo_trace_release(&l.stack);
				continue;
			}
			ev = leak_event(o, &l, l.severity, false);
			mo_trace_release(&l.stack);
			if (ev) {
				ev->kind = kind;
				ev->repeats = e ? e->suppressed : 0;
				ev->rss_validated = rss_backs(o, e, ev->pid);
			}
			emit(o, ev);
			e = mo_traces_get(o->traces, gi->tgid, gi->stack_id);
			if (e) {
				e->last_emit_ns = now;
				e->suppressed = 0;
			}
		}
	}
	mo_leak_groups_release(&g);
	free(recs);
}

/* ---------------------------------------------------------------- resident */

static void count_rss_growth(struct mo_observer *o, const char *comm, const char *severity)
{
	for (size_t i = 0; i < o->nrssm; i++) {
		if (o->rssm[i].severity == severity && !strcmp(o->rssm[i].command, comm)) {
			o->rssm[i].count++;
			return;
		}
	}
	if (grow((void **)&o->rssm, &o->caprssm, o->nrssm + 1, sizeof(*o->rssm)))
		return;
	snprintf(o->rssm[o->nrssm].command, sizeof(o->rssm[0].command), "%s", comm);
	o->rssm[o->nrssm].severity = severity;
	o->rssm[o->nrssm].count = 1;
	o->nrssm++;
}

/* The cgroup directory that limits pid's memory (v1 memory controller, else
 * v2), and that limit; MemTotal when none applies. */
static void memory_limit_of(struct procextra *x)
{
	char path[64], line[1024], dir[512] = "";
	uint64_t limit = 0;
	FILE *f;

	x->limit_known = true;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)x->pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*c1 = '\0';	/* line: hierarchy id */
		*c2 = '\0';	/* c1 + 1: controllers, c2 + 1: path */
		if (!strcmp(c1 + 1, "memory")) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s", c2 + 1);
			break;
		}
		if (!strcmp(line, "0") && !dir[0]) {
			const char *root = faccessat(AT_FDCWD, "/sys/fs/cgroup/unified", F_OK, AT_EACCESS) == 0
						   ? "/sys/fs/cgroup/unified"
						   : "/sys/fs/cgroup";

			snprintf(dir, sizeof(dir), "%s%s", root, c2 + 1);
		}
	}
	if (f)
		fclose(f);
	if (mo_memory_limit(dir[0] ? dir : NULL, "/proc/meminfo", &limit) == 0)
		x->limit = limit;
	snprintf(x->memdir, sizeof(x->memdir), "%s", dir);
}

static uint64_t read_u64_file(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Current usage of the cgroup that limits x, 0 if unknown. */
static uint64_t cgroup_usage(const struct procextra *x)
{
	char path[600];
	uint64_t v;

	if (!x->memdir[0])
		return 0;
	snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", x->memdir);
	v = read_u64_file(path);
	if (!v) {
		snprintf(path, sizeof(path), "%s/memory.current", x->memdir);
		v = read_u64_file(path);
	}
	return v;
}

static void predict_oom(struct mo_observer *o, pid_t pid, uint64_t now, uint64_t rss)
{
	struct procextra *x = extra_of(o, pid);
	struct mo_usage_point pts[60];
	struct mo_rss_finding unused;
	struct mo_rsswatch *w = o->rssw;
	uint64_t usage = rss;
	size_t n;
	double secs;
	struct mo_event *ev;

	if (!x)
		return;
	/* only a process whose memory is growing can be heading for OOM: look
	 * at its RSS trend before the (file-reading) limit discovery */
	n = mo_rsswatch_points(o->rssw, pid, pts, 60);
	if (n < 5 || pts[n - 1].bytes <= pts[0].bytes)
		return;
	if (!x->limit_known)
		memory_limit_of(x);
	if (!x->limit)
		return;
	/* inside a limited cgroup, the cgroup's usage is what the limit counts */
	if (x->memdir[0] && (usage = cgroup_usage(x))) {
		w = o->cgw;
		mo_rsswatch_sample(w, pid, now, usage, &unused);
	} else {
		usage = rss;
	}
	n = mo_rsswatch_points(w, pid, pts, 60);
	if (n < 5)
		return;
	secs = mo_predict_oom_seconds(pts, n, x->limit);
	if (secs < 0 || secs > OOM_HORIZON_S)
		return;
	if (x->last_oom_ns && now - x->last_oom_ns < OOM_REPEAT_NS)
		return;
	x->last_oom_ns = now;
	ev = event_new(o, MO_EVENT_MEMORY_PRESSURE, "oom_risk", pid, now);
	if (!ev)
		return;
	ev->severity = secs < 60 ? "critical" : "warning";
	ev->predicted_oom_seconds = secs;
	ev->limit_bytes = x->limit;
	ev->rss_bytes = usage;
	ev->window_seconds = (double)(pts[n - 1].t_ns - pts[0].t_ns) / 1e9;
	if (n >= 2 && ev->window_seconds > 0)
		ev->growth_bytes_per_s = ((double)pts[n - 1].bytes - (double)pts[0].bytes) /
					 ev->window_seconds;
	emit(o, ev);
}

/* One RSS sample of a process: growth findings and OOM risk. */
static void rss_sample(struct mo_observer *o, pid_t pid, uint64_t now, uint64_t bytes)
{
	struct mo_rss_finding f;

	if (mo_rsswatch_sample(o->rssw, pid, now, bytes, &f) == 1) {
		struct mo_event *ev = event_new(o, MO_EVENT_KERNEL_PROCESS, "rss_growth", pid, now);

		if (ev) {
			ev->severity = f.severity;
			ev->rss_bytes = f.rss;
			ev->growth_bytes = f.growth;
			ev->size_bytes = f.growth;
			ev->window_seconds = f.window_s;
			ev->growth_bytes_per_s = f.rate;
			count_rss_growth(o, ev->command, f.severity);
			emit(o, ev);
		}
	}
	predict_oom(o, pid, now, bytes);
}

/* /proc's view of pid, read at most every RSS_CHECK_NS (force: now). NULL
 * when the process is gone or /proc cannot be read. */
static const struct mo_proc_rss *proc_rss(struct mo_observer *o, pid_t pid, uint64_t now,
					  bool force, bool *fresh)
{
	struct procextra *x = extra_of(o, pid);

	*fresh = false;
	if (!x)
		return NULL;
	if (x->rss_checked_ns && !force && now - x->rss_checked_ns < RSS_CHECK_NS)
		return &x->proc;
	o->rss_proc_reads++;
	if (mo_proc_rss_read(pid, &x->proc))
		return NULL;
	x->rss_checked_ns = now;
	*fresh = true;
	return &x->proc;
}

/*
 * rss_stat's view, completed and checked by /proc: a counter that has not
 * changed since attach was never reported by the tracepoint, so /proc gives
 * it; every RSS_CHECK_NS the sum is compared with /proc, and /proc wins a
 * disagreement (the BPF map entry may have missed updates).
 */
static uint64_t rss_checked(struct mo_observer *o, pid_t pid, const struct mo_rss *r,
			    uint64_t now)
{
	uint64_t v[4] = { r->file, r->anon, r->swap, r->shmem }, bytes, pb, diff;
	const struct mo_proc_rss *p;
	bool fresh;

	p = proc_rss(o, pid, now, false, &fresh);
	if (!p)
		return r->file + r->anon + r->shmem;
	if (!(r->seen & (1u << MO_RSS_FILE)))
		v[MO_RSS_FILE] = p->file;
	if (!(r->seen & (1u << MO_RSS_ANON)))
		v[MO_RSS_ANON] = p->anon;
	if (!(r->seen & (1u << MO_RSS_SHMEM)))
		v[MO_RSS_SHMEM] = p->shmem;
	bytes = v[MO_RSS_FILE] + v[MO_RSS_ANON] + v[MO_RSS_SHMEM];
	if (!fresh)
		return bytes;
	pb = mo_proc_rss_total(p);
	diff = bytes > pb ? bytes - pb : pb - bytes;
	if (diff <= RSS_TOLERANCE || diff <= pb / 20) {
		o->rss_checks[0]++;
		return bytes;
	}
	o->rss_checks[1]++;
	olog(o, MO_LOG_DEBUG, "pid %d: rss_stat says %" PRIu64 " bytes, /proc %" PRIu64, (int)pid,
	     bytes, pb);
	return pb;
}

/* Without rss_stat: the observed processes (all of them, every
 * RSS_SCAN_NS, system-wide) sampled from /proc. */
static void rss_from_proc(struct mo_observer *o, uint64_t now)
{
	const struct mo_proc_rss *p;
	struct dirent *de;
	bool fresh;
	DIR *d;

	if (!o->system_wide) {
		for (size_t i = 0; i < o->npids; i++) {
			pid_t pid = o->pids[i].pid;

			if (!o->pids[i].alive || pending_exit(o, (uint32_t)pid))
				continue;
			if ((p = proc_rss(o, pid, now, true, &fresh)))
				rss_sample(o, pid, now, mo_proc_rss_total(p));
		}
		return;
	}
	if (now - o->last_rss_scan_ns < RSS_SCAN_NS)
		return;
	o->last_rss_scan_ns = now;
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		struct mo_proc_rss r;

		if (*end || pid <= 0 || pid == getpid() || pending_exit(o, (uint32_t)pid))
			continue;
		o->rss_proc_reads++;
		/* kernel threads have no Rss lines and are skipped */
		if (mo_proc_rss_read((pid_t)pid, &r) == 0)
			rss_sample(o, (pid_t)pid, now, mo_proc_rss_total(&r));
	}
	if (d)
		closedir(d);
}

/* Once a second: every observed process's RSS, growth findings, OOM risk. */
static void rss_tick(struct mo_observer *o)
{
	int fd = bpf_map__fd(o->skel->maps.rss);
	uint64_t now = clock_ns(CLOCK_BOOTTIME);
	__u32 key, next, *prev = NULL;

	o->last_rss_ns = now;
	if (o->rss_from_proc) {
		rss_from_proc(o, now);
		return;
	}
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct mo_rss r;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &r) || pending_exit(o, key))
			continue;
		rss_sample(o, (pid_t)key, now, rss_checked(o, (pid_t)key, &r, now));
	}
}

/* ------------------------------------------------------------------ records */

/* The OOM killer chose a process: report it with its top findings, taken
 * before the exit record reclaims its blocks. */
static void oom_kill(struct mo_observer *o, const struct mo_record *r)
{
	struct mo_alloc_rec *recs = NULL, *mine;
	struct mo_leak_groups g = { 0 };
	struct mo_event *ev;
	size_t n = 0, m = 0;

	ev = event_new(o, MO_EVENT_KERNEL_PROCESS, "oom_kill", (pid_t)r->pid, r->ts_ns);
	if (!ev)
		return;
	if (!ev->command[0])
		snprintf(ev->command, sizeof(ev->command), "%.16s", r->comm);
	ev->severity = "critical";
	ev->cgroup_id = r->cgroup_id;
	if (snapshot(o, &recs, &n) == 0 && (mine = malloc((n ? n : 1) * sizeof(*mine)))) {
		for (size_t i = 0; i < n; i++)
			if (recs[i].tgid == r->pid)
				mine[m++] = recs[i];
		if (m && mo_analyze(mine, m, r->ts_ns, 0, &g) == 0 && g.nr) {
			const struct mo_stack_trace *tr = trace_of(o, r->pid, g.g[0].stack_id);

			/* the biggest holder travels with the event; all are in the
			 * exit findings that follow */
			ev->unfreed_bytes = g.outstanding_bytes;
			ev->count = g.outstanding_count;
			ev->size_bytes = g.g[0].unfreed_bytes;
			if (tr)
				mo_trace_copy(&ev->stack, tr);
		}
		mo_leak_groups_release(&g);
		free(mine);
	}
	free(recs);
	emit(o, ev);
}



/* The allocator module of pid (0: ours), unless the user forced one. */
static int allocator_of(struct mo_observer *o, pid_t pid, const char *exe, char *path,
			size_t len)
{
	if (o->allocator_lib) {
		snprintf(path, len, "%s", o->allocator_lib);
		return 0;
	}
	if (exe)
		return mo_allocator_find_exe(exe, o->symbol_prefix, path, len);
	return mo_allocator_find(pid, o->symbol_prefix, path, len);
}

/* Attach every process's allocator module not attached yet (pid 0 links). */
static int attach_new_allocator(struct mo_observer *o, pid_t pid)
{
	char path[PATH_MAX], err[512];
	int r;

	if (allocator_of(o, pid, NULL, path, sizeof(path)))
		return -ENOENT;
	/* links are compared by file identity: the same library under two
	 * /proc/PID/root paths is one probe target, a container's own libc
	 * another */
	if (mo_links_has(&o->links, path, 0))
		return 0;
	r = mo_attach_allocator(&o->links, &o->progs, path, 0, err, sizeof(err));
	if (r < 0) {
		o->attach_failures++;
		olog(o, MO_LOG_WARN, "pid %d: %s", (int)pid, err);
		return r;
	}
	olog(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s", (int)pid, r, path);
	o->probes = o->links.probes;
	return 1;
}

static void attach_child(struct mo_observer *o, pid_t child)
{
	char path[PATH_MAX], err[512];
	int r;

	if (!o->heap_probes)
		return;
	if (allocator_of(o, child, NULL, path, sizeof(path)))
		return;
	if (mo_links_has(&o->links, path, child))
		return;
	r = mo_attach_allocator(&o->links, &o->progs, path, child, err, sizeof(err));
	if (r < 0) {
		o->attach_failures++;
		olog(o, MO_LOG_WARN, "child %d: %s", (int)child, err);
	}
	o->probes = o->links.probes;
}

static void process_record(struct mo_observer *o, const struct mo_record *r)
{
	struct procextra *x;
	struct mo_event *ev;
	struct pidinfo *p;

	switch (r->type) {
	case MO_REC_EXIT:
		p = pid_find(o, (pid_t)r->pid);
		if (p) {
			p->alive = false;
			if (!p->comm[0])
				snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
		} else if ((x = extra_of(o, (pid_t)r->pid))) {
			snprintf(x->comm, sizeof(x->comm), "%.16s", r->comm);
		}
		add_pending(o, r, false);
		break;
	case MO_REC_EXEC:
		p = pid_find(o, (pid_t)r->pid);
		if (p)
			snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
		add_pending(o, r, true);
		mo_symbolizer_forget(o->sym, (pid_t)r->pid);
		mo_traces_forget_pid(o->traces, r->pid);
		{
			int lr = mo_modules_load_pid(o->mods, (pid_t)r->pid);

			olog(o, MO_LOG_DEBUG, "exec of pid %u: %d new modules (%s)", r->pid, lr, lr < 0 ? strerror(-lr) : "ok");
		}
		mo_symbolizer_prime(o->sym, (pid_t)r->pid);
		/* the new program may bring its own allocator (statically
		 * linked, jemalloc...): attach there too */
		if (o->heap_probes) {
			p = pid_find(o, (pid_t)r->pid);
			if (o->system_wide || (p && !p->own_link))
				attach_new_allocator(o, (pid_t)r->pid);
			else if (p)
				attach_child(o, (pid_t)r->pid);
		}
		ev = event_new(o, MO_EVENT_KERNEL_PROCESS, "exec", (pid_t)r->pid, r->ts_ns);
		emit(o, ev);
		break;
	case MO_REC_FORK:
		if (!o->system_wide) {
			struct pidinfo *parent = pid_find(o, (pid_t)r->pid);
			unsigned pflags = parent ? parent->flags : 0;
			bool plink = parent && parent->own_link;

			/* pid_add may move the array: parent is not used after */
			p = pid_add(o, (pid_t)r->other_pid, pflags);
			mo_symbolizer_prime(o->sym, (pid_t)r->other_pid);
			container_of(o, (pid_t)r->other_pid);
			if (p && !p->comm[0])
				snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
			if (p && plink) {
				p->own_link = true;
				attach_child(o, (pid_t)r->other_pid);
			}
		}
		ev = event_new(o, MO_EVENT_KERNEL_PROCESS, "fork", (pid_t)r->pid, r->ts_ns);
		if (ev) {
			ev->address = r->other_pid;
			emit(o, ev);
		}
		break;
	case MO_REC_OOM_KILL:
		oom_kill(o, r);
		break;
	case MO_REC_MMAP:
	case MO_REC_MUNMAP:
	case MO_REC_LARGE_MMAP:
	case MO_REC_LARGE_HEAP:
		ev = event_new(o,
			       r->type == MO_REC_LARGE_HEAP ? MO_EVENT_MEMORY_PRESSURE
							    : MO_EVENT_KERNEL_FS,
			       r->type == MO_REC_MMAP	  ? "mmap"
			       : r->type == MO_REC_MUNMAP ? "munmap"
							  : "large_allocation",
			       (pid_t)r->pid, r->ts_ns);
		if (ev && r->type >= MO_REC_LARGE_HEAP)
			ev->severity = "warning";
		if (!ev)
			break;
		if (!ev->command[0])
			snprintf(ev->command, sizeof(ev->command), "%.16s", r->comm);
		ev->address = r->addr;
		ev->size_bytes = r->len;
		ev->cgroup_id = r->cgroup_id;
		if (r->stack_id) {
			const struct mo_stack_trace *tr = trace_of(o, r->pid, r->stack_id);
			struct mo_trace_entry *te = mo_traces_get(o->traces, r->pid, r->stack_id);

			if (te && te->runtime) {
				/* the loader mapping a library: not the program's doing */
				mo_event_free(ev);
				break;
			}
			if (tr)
				mo_trace_copy(&ev->stack, tr);
		}
		emit(o, ev);
		break;
	case MO_REC_UNKNOWN_MODULE:
		mo_modules_load_id(o->mods, (pid_t)r->pid, r->dev, r->ino);
		/* a new file mapped (dlopen, or libraries after exec) */
		mo_symbolizer_prime(o->sym, (pid_t)r->pid);
		break;
	default:
		break;
	}
}

/*
 * Ring buffer callback. Exec, fork and exit records are handled at once:
 * an exec'd program must be read (maps, files) while it still runs. Records
 * that need symbolization or file parsing (mappings, new modules) wait in a
 * list handled right after, so a burst of them cannot delay an exec.
 */
static int handle_record(void *ctx, void *data, size_t size)
{
	struct mo_observer *o = ctx;
	const struct mo_record *r = data;

	if (size < sizeof(*r))
		return 0;
	if (r->type == MO_REC_EXEC || r->type == MO_REC_FORK || r->type == MO_REC_EXIT) {
		process_record(o, r);
		return 0;
	}
	if (grow((void **)&o->deferred, &o->capdeferred, o->ndeferred + 1, sizeof(*o->deferred))) {
		process_record(o, r);	/* no room to wait: handle it now */
		return 0;
	}
	o->deferred[o->ndeferred++] = *r;
	return 0;
}

/* Drain the ring buffer, then the deferred records, draining the ring
 * buffer again every few so new execs are never stuck behind them. */
static void consume_records(struct mo_observer *o)
{
	size_t i;

	ring_buffer__consume(o->rb);
	for (i = 0; i < o->ndeferred && !stopping(o); i++) {
		process_record(o, &o->deferred[i]);
		if (i % 8 == 7)
			ring_buffer__consume(o->rb);
	}
	/* on a stop, what is left is handled once the probes are detached */
	memmove(o->deferred, o->deferred + i, (o->ndeferred - i) * sizeof(*o->deferred));
	o->ndeferred -= i;
}

/*
 * A full ring buffer loses records, and a lost exit or exec record would
 * leave a dead process unreclaimed, or an old program image's blocks
 * counted as the new one's. After any loss, once a second until none is
 * new: processes that are gone get the exit they missed, and blocks older
 * than their process's last exec (the BPF statistics keep its time) are
 * dropped as the exec record would have had them dropped.
 */
struct exec_mark {
	uint32_t tgid, gen;
	uint64_t exec_ts;
};

static void synth_exit(struct mo_observer *o, uint32_t pid, uint32_t gen)
{
	/* stamped now, after the process was found gone: its last blocks
	 * are older than that, and the exit keeps only older blocks */
	struct mo_record r = { .type = MO_REC_EXIT, .pid = pid, .tid = pid,
			       .ts_ns = clock_ns(CLOCK_BOOTTIME), .gen = gen };

	o->exits_recovered++;
	process_record(o, &r);
}

static int mark_cmp(const void *a, const void *b)
{
	const struct exec_mark *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

static void drop_stale_blocks(struct mo_observer *o, struct exec_mark *marks, size_t nmarks)
{
	int afd = bpf_map__fd(o->skel->maps.allocs);
	struct mo_alloc_rec *recs = NULL;
	size_t n = 0;

	if (!nmarks || snapshot(o, &recs, &n))
		return;
	qsort(marks, nmarks, sizeof(*marks), mark_cmp);
	for (size_t i = 0; i < n; i++) {
		struct exec_mark want = { recs[i].tgid, recs[i].gen, 0 };
		const struct exec_mark *m = bsearch(&want, marks, nmarks, sizeof(*marks), mark_cmp);
		struct mo_alloc_key k = { recs[i].tgid, recs[i].gen, recs[i].addr };

		if (m && recs[i].ts_ns < m->exec_ts && bpf_map_delete_elem(afd, &k) == 0)
			o->stale_recovered++;
	}
	free(recs);
}

/*
 * Whether a thread group has ended: gone, or a zombie (or dying) leader with
 * no other thread left. The exit record is written before the process
 * becomes a zombie, and a parent may take its time to reap it.
 */
static bool group_gone(pid_t pid)
{
	char path[64], buf[256], *rp;
	size_t ntasks = 0;
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* the comm may hold ')': the state follows the last one */
	rp = strrchr(buf, ')');
	if (!rp || rp[1] != ' ' || (rp[2] != 'Z' && rp[2] != 'X'))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return true;
	while ((de = readdir(d)) && ntasks < 2)
		if (de->d_name[0] != '.')
			ntasks++;
	closedir(d);
	return ntasks <= 1;
}

/* How long after the last loss the scan goes on: an exit record is written
 * while its process still runs, so a scan right after the loss can see it
 * alive; later scans see it gone. */
#define RECOVER_WINDOW_NS (5 * NSEC)

static void recover_lost_records(struct mo_observer *o, uint64_t now)
{
	int fd = bpf_map__fd(o->skel->maps.procs);
	struct exec_mark *marks = NULL;
	size_t nmarks = 0, cap = 0;
	__u32 key, next, *prev = NULL;
	struct mo_proc_stats ps;
	uint64_t drops;

	if (now - o->last_recover_ns < NSEC)
		return;
	o->last_recover_ns = now;
	drops = counter_value(o, MO_C_DROP_RINGBUF_FULL);
	if (drops != o->ringbuf_drops_seen) {
		o->ringbuf_drops_seen = drops;
		o->last_loss_ns = now;
	}
	if (!o->last_loss_ns || now - o->last_loss_ns > RECOVER_WINDOW_NS)
		return;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps) || pending_exit(o, key))
			continue;
		if (group_gone((pid_t)key))
			synth_exit(o, key, ps.gen);
		else if (ps.exec_ts_ns &&
			 !grow((void **)&marks, &cap, nmarks + 1, sizeof(*marks)))
			marks[nmarks++] = (struct exec_mark){ key, ps.gen, ps.exec_ts_ns };
	}
	for (size_t i = 0; i < o->npids; i++) {
		struct pidinfo *p = &o->pids[i];

		if (p->alive && !pending_exit(o, (uint32_t)p->pid) && group_gone(p->pid))
			synth_exit(o, (uint32_t)p->pid, 0);
	}
	drop_stale_blocks(o, marks, nmarks);
	free(marks);
}

/* ------------------------------------------------------------------- worker */

static void *worker_main(void *arg)
{
	struct mo_observer *o = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN };

	if (ep < 0) {
		olog(o, MO_LOG_ERROR, "epoll_create1: %s", strerror(errno));
		return NULL;
	}
	e.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(o->rb), &e);
	e.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, o->stop_efd, &e);
	e.data.u32 = 3;
	epoll_ctl(ep, EPOLL_CTL_ADD, o->timer_fd, &e);

	for (;;) {
		struct epoll_event evs[4];
		uint64_t t0, t1, t2, t3, t4;
		int n = epoll_wait(ep, evs, 4, 100);
		bool stop = false, tick = false;

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 2)
				stop = true;
			if (evs[i].data.u32 == 3) {
				uint64_t x;

				if (read(o->timer_fd, &x, sizeof(x)) == sizeof(x))
					tick = true;
			}
		}
		pthread_mutex_lock(&o->lock);
		t0 = clock_ns(CLOCK_BOOTTIME);
		consume_records(o);
		t1 = clock_ns(CLOCK_BOOTTIME);
		if (t1 - o->last_maint_ns >= MAINT_PERIOD_NS || stop)
			maintenance(o);
		if (o->shed && !stop)
			mo_shedder_tick(o->shed, t1);
		t2 = clock_ns(CLOCK_BOOTTIME);
		if (t2 - o->last_rss_ns >= RSS_PERIOD_NS)
			rss_tick(o);
		if (!stop) {
			stacks_gc(o, t2);
			recover_lost_records(o, t2);
		}
		t3 = clock_ns(CLOCK_BOOTTIME);
		if (tick)
			periodic(o);
		t4 = clock_ns(CLOCK_BOOTTIME);
		if (t4 - t0 > 100000000ULL)
			olog(o, MO_LOG_DEBUG, "worker busy %.0f ms: records %.0f, exits %.0f, rss %.0f, "
			     "analysis %.0f", (t4 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
			     (t3 - t2) / 1e6, (t4 - t3) / 1e6);
		pthread_mutex_unlock(&o->lock);
		if (stop)
			break;
	}
	close(ep);
	return NULL;
}

/* ---------------------------------------------------------------------- API */

struct mo_observer *mo_observer_new(const char *name, const struct mo_config *cfg,
				    mo_log_fn log, void *log_ctx)
{
	struct mo_observer *o;
	const char *bad = NULL;
	struct mo_config c;

	if (cfg)
		c = *cfg;
	else
		mo_config_init(&c);
	if (name) {
		if (!name[0] || strlen(name) >= sizeof(c.name)) {
			if (log)
				log(MO_LOG_ERROR, "invalid configuration: field 'name'", log_ctx);
			errno = EINVAL;
			return NULL;
		}
		snprintf(c.name, sizeof(c.name), "%s", name);
	}
	if (mo_config_resolve(&c, &c, &bad)) {
		if (log) {
			char msg[128];

			snprintf(msg, sizeof(msg), "invalid configuration: field '%s'", bad);
			log(MO_LOG_ERROR, msg, log_ctx);
		}
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->cfg = c;
	o->log = log;
	o->log_ctx = log_ctx;
	o->stop_efd = -1;
	o->timer_fd = -1;
	mo_links_init(&o->links);
	pthread_mutex_init(&o->lock, NULL);
	o->q = mo_queue_new(c.buffer_size);
	o->sym = mo_symbolizer_new();
	/* every stack the walker takes starts at a return address */
	mo_symbolizer_first_is_return(o->sym, true);
	o->traces = mo_traces_new();
	o->rssw = mo_rsswatch_new(c.rss_growth_threshold, RSS_WINDOW_NS);
	o->cgw = mo_rsswatch_new(UINT64_MAX, RSS_WINDOW_NS);
	o->stackgc = mo_stackgc_new();
	o->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!o->q || !o->sym || !o->traces || !o->rssw || !o->cgw || !o->stackgc ||
	    o->stop_efd < 0) {
		mo_observer_free(o);
		errno = ENOMEM;
		return NULL;
	}
	return o;
}

int mo_observer_add_command(struct mo_observer *o, pid_t pid, const char *exe)
{
	struct pidinfo *p;
	int err;

	if (o->started)
		return -EBUSY;
	err = mo_observer_add_pid(o, pid, MO_PID_FOLLOW_CHILDREN);
	if (err)
		return err;
	p = pid_find(o, pid);
	p->exe = strdup(exe);
	if (!p->exe)
		return -ENOMEM;
	/* until exec the child is a copy of us: name it after its program */
	snprintf(p->comm, sizeof(p->comm), "%.15s", strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	return 0;
}

int mo_observer_set_allocator(struct mo_observer *o, const char *lib, const char *prefix)
{
	if (o->started)
		return -EBUSY;
	free(o->allocator_lib);
	free(o->symbol_prefix);
	o->allocator_lib = lib ? strdup(lib) : NULL;
	o->symbol_prefix = prefix ? strdup(prefix) : NULL;
	if ((lib && !o->allocator_lib) || (prefix && !o->symbol_prefix))
		return -ENOMEM;
	return 0;
}

int mo_observer_set_cgroup(struct mo_observer *o, uint64_t cgroup_id)
{
	if (o->started)
		return -EBUSY;
	o->target_cgroup = cgroup_id;
	return 0;
}

int mo_observer_add_pid(struct mo_observer *o, pid_t pid, unsigned flags)
{
	char path[64];
	struct pidinfo *p;
	__u32 tflags = MO_TARGET_TRACE | MO_TARGET_FOLLOW;
	int err = 0;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS))
		return -ESRCH;
	pthread_mutex_lock(&o->lock);
	p = pid_add(o, pid, flags);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	p->own_link = !(flags & MO_PID_FOLLOW_CHILDREN);
	if (o->started) {
		bpf_map_update_elem(bpf_map__fd(o->skel->maps.targets), &pid, &tflags, BPF_ANY);
		if (p->own_link)
			attach_child(o, pid);
	}
out:
	pthread_mutex_unlock(&o->lock);
	return err;
}

static int ensure_tracefs(void)
{
	if (faccessat(AT_FDCWD, "/sys/kernel/tracing/events", F_OK, AT_EACCESS) == 0 ||
	    faccessat(AT_FDCWD, "/sys/kernel/debug/tracing/events", F_OK, AT_EACCESS) == 0)
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return -errno;
	return 0;
}

static int open_and_load(struct mo_observer *o, bool session)
{
	struct memobserver_bpf *s = memobserver_bpf__open();
	int err;

	if (!s)
		return -errno;
	s->rodata->self_tgid = (__u32)getpid();
	s->rodata->trace_all = o->system_wide;
	s->rodata->min_size = o->cfg.min_allocation_size;
	s->rodata->sample_rate = o->cfg.sampling_rate;
	s->rodata->max_depth = o->cfg.max_stack_depth;
	s->rodata->session_mode = session;
	s->rodata->large_size = o->cfg.large_allocation_threshold;
	s->rodata->target_cgroup = o->target_cgroup;
	s->rodata->count_hits = session && o->cfg.max_overhead_bp && o->heap_probes;
	bpf_map__set_max_entries(s->maps.allocs, o->cfg.max_allocations);
	bpf_map__set_max_entries(s->maps.stacks, o->cfg.max_stacks);
	bpf_map__set_max_entries(s->maps.stack_stats, o->cfg.max_stacks);
	bpf_map__set_max_entries(s->maps.rows, o->cfg.unwind_rows);
	bpf_map__set_max_entries(s->maps.records, o->cfg.ring_buffer_size);
	bpf_program__set_autoattach(s->progs.alloc_session, false);
	bpf_program__set_autoattach(s->progs.alloc_enter, false);
	bpf_program__set_autoattach(s->progs.alloc_exit, false);
	if (o->rss_from_proc)
		bpf_program__set_autoload(s->progs.rss_stat, false);
	if (session) {
		bpf_program__set_expected_attach_type(
			s->progs.alloc_session, (enum bpf_attach_type)MO_BPF_TRACE_UPROBE_SESSION);
		bpf_program__set_autoload(s->progs.alloc_enter, false);
		bpf_program__set_autoload(s->progs.alloc_exit, false);
	} else {
		bpf_program__set_autoload(s->progs.alloc_session, false);
	}
	err = memobserver_bpf__load(s);
	if (err) {
		memobserver_bpf__destroy(s);
		return err;
	}
	o->skel = s;
	o->session = session;
	return 0;
}

/* libbpf's print hook has no context pointer: the observer being loaded
 * is remembered here, and libbpf's messages become debug-level logs. */
static __thread struct mo_observer *loading;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[65536];
	size_t n;

	if (!loading || !loading->log || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	loading->log(MO_LOG_DEBUG, buf, loading->log_ctx);
	return 0;
}

/* Allocator modules of every process on the machine, attached for all. */
static int attach_system_wide(struct mo_observer *o)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[PATH_MAX], err[512];
	int attached = 0, r;

	if (!o->heap_probes) {
		if (d)
			closedir(d);
		return 0;
	}
	if (allocator_of(o, 0, NULL, path, sizeof(path)) == 0) {
		r = mo_attach_allocator(&o->links, &o->progs, path, 0, err, sizeof(err));
		if (r < 0) {
			olog(o, MO_LOG_ERROR, "%s", err);
			if (d)
				closedir(d);
			return r;
		}
		attached++;
	}
	while (d && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		/* the unwind rows of every program already running: one that
		 * allocates and exits before a lazy load could read its maps
		 * would keep unnamed, partial stacks (modules are loaded once
		 * per file, so this is one pass over the distinct files) */
		mo_modules_load_pid(o->mods, (pid_t)pid);
		if (!o->allocator_lib && attach_new_allocator(o, (pid_t)pid) >= 0)
			attached++;
	}
	if (d)
		closedir(d);
	return attached ? 0 : -ENOENT;
}

static int attach_targets(struct mo_observer *o)
{
	char path[PATH_MAX], err[512];
	__u32 tflags = MO_TARGET_TRACE | MO_TARGET_FOLLOW;
	int r;

	for (size_t i = 0; i < o->npids; i++) {
		struct pidinfo *p = &o->pids[i];
		pid_t link_pid = p->own_link ? p->pid : 0;

		bpf_map_update_elem(bpf_map__fd(o->skel->maps.targets), &p->pid, &tflags,
				    BPF_ANY);
		mo_symbolizer_prime(o->sym, p->pid);
		container_of(o, p->pid);
		r = mo_modules_load_pid(o->mods, p->pid);
		if (r < 0 && r != -ENOENT) {
			olog(o, MO_LOG_ERROR, "cannot read the memory maps of pid %d: %s",
			     (int)p->pid, strerror(-r));
			return r;
		}
		if (p->exe)
			mo_modules_preload_command(o->mods, p->exe);
		if (!o->heap_probes)
			continue;
		r = allocator_of(o, p->pid, p->exe, path, sizeof(path));
		if (r == -EACCES || r == -EPERM) {
			olog(o, MO_LOG_ERROR,
			     "cannot read the memory maps of pid %d: %s (needs CAP_SYS_PTRACE)",
			     (int)p->pid, strerror(-r));
			return r;
		}
		if (r) {
			olog(o, MO_LOG_ERROR,
			     "pid %d: no allocator found: neither the program nor a library "
			     "it maps defines malloc",
			     (int)p->pid);
			return r;
		}
		if (mo_links_has(&o->links, path, link_pid))
			continue;
		r = mo_attach_allocator(&o->links, &o->progs, path, link_pid, err, sizeof(err));
		if (r < 0) {
			olog(o, MO_LOG_ERROR, "pid %d: %s", (int)p->pid, err);
			return r;
		}
		olog(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s%s", (int)p->pid,
		     r, path, o->session ? " (session uprobes)" : "");
	}
	return 0;
}

int mo_observer_start(struct mo_observer *o)
{
	struct itimerspec its = { 0 };
	int err;

	if (o->started)
		return -EALREADY;
	if (!o->cfg.enable_ebpf) {
		olog(o, MO_LOG_ERROR, "enable_ebpf is false: memobserver has no other source of "
				      "allocation data");
		return -EOPNOTSUPP;
	}
	if (faccessat(AT_FDCWD, "/sys/kernel/btf/vmlinux", R_OK, AT_EACCESS)) {
		olog(o, MO_LOG_ERROR, "kernel BTF not found at /sys/kernel/btf/vmlinux: a kernel "
				      "built with CONFIG_DEBUG_INFO_BTF=y is required");
		return -ENOTSUP;
	}
	err = ensure_tracefs();
	if (err) {
		olog(o, MO_LOG_ERROR, "tracefs is not mounted and cannot be: %s", strerror(-err));
		return err;
	}
	o->system_wide = o->npids == 0;
	/* Conservative mode only wants blocks of 100 KB and more, which the
	 * allocator maps with mmap: the syscall tracepoints see them at no
	 * cost on the malloc fast path, so no allocator probe is placed. */
	o->heap_probes = o->cfg.mode != MO_MODE_CONSERVATIVE;
	libbpf_set_print(libbpf_log);
	loading = o;
	/* tp_btf/rss_stat needs the tracepoint; without it RSS comes from /proc */
	o->rss_from_proc = getenv("MEMOBSERVER_NO_RSS_STAT") ||
			   faccessat(AT_FDCWD, "/sys/kernel/tracing/events/kmem/rss_stat", F_OK,
				     AT_EACCESS);
	if (o->rss_from_proc)
		olog(o, MO_LOG_INFO, "kmem:rss_stat unavailable: RSS is sampled from /proc");

	err = -EINVAL;
	if (!getenv("MEMOBSERVER_NO_SESSION"))
		err = open_and_load(o, true);
	if (err) {
		if (!getenv("MEMOBSERVER_NO_SESSION"))
			olog(o, MO_LOG_DEBUG, "session uprobes unavailable, using uprobe+uretprobe");
		err = open_and_load(o, false);
	}
	if (err) {
		olog(o, MO_LOG_ERROR, "cannot load the BPF programs: %s%s", strerror(-err),
		     err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		return err;
	}
	o->progs.session_prog = o->skel->progs.alloc_session;
	o->progs.enter = o->skel->progs.alloc_enter;
	o->progs.exit = o->skel->progs.alloc_exit;
	o->progs.session = o->session;
	o->progs.split = o->session && o->cfg.max_overhead_bp;
	o->progs.prefix = o->symbol_prefix;
	o->mods = mo_modules_new(bpf_map__fd(o->skel->maps.rows), o->cfg.unwind_rows,
				 bpf_map__fd(o->skel->maps.modules));
	if (!o->mods) {
		err = -errno;
		olog(o, MO_LOG_ERROR, "cannot map the unwind table: %s", strerror(errno));
		goto fail;
	}
	o->boot_to_real_ns = (int64_t)clock_ns(CLOCK_REALTIME) - (int64_t)clock_ns(CLOCK_BOOTTIME);
	o->start_realtime_s = clock_ns(CLOCK_REALTIME) / NSEC;
	/* our own C library and loader are usually the targets' too */
	mo_modules_load_pid(o->mods, getpid());

	loading = NULL;
	err = memobserver_bpf__attach(o->skel);
	if (err) {
		olog(o, MO_LOG_ERROR, "cannot attach the tracepoints: %s", strerror(-err));
		goto fail;
	}
	err = o->system_wide ? attach_system_wide(o) : attach_targets(o);
	if (err)
		goto fail;
	o->probes = o->links.probes;
	if (o->cfg.max_overhead_bp && o->heap_probes && !o->session)
		olog(o, MO_LOG_WARN, "--max-overhead needs session uprobes (kernel 6.13+): "
				     "no budget is applied");
	else if (o->cfg.max_overhead_bp && o->heap_probes &&
		 !(o->shed = mo_shedder_new(o->cfg.max_overhead_bp / 10000.0, &o->links,
					    bpf_map__fd(o->skel->maps.procs),
					    &o->skel->bss->shed_gen))) {
		err = -ENOMEM;
		goto fail;
	}
	if (!o->heap_probes)
		olog(o, MO_LOG_INFO, "conservative mode: no allocator probes; large blocks are "
				     "seen through mmap/munmap/mremap");

	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.records), handle_record, o, NULL);
	o->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!o->rb || o->timer_fd < 0) {
		err = -ENOMEM;
		olog(o, MO_LOG_ERROR, "cannot set up the event loop");
		goto fail;
	}
	its.it_value.tv_sec = (time_t)(o->cfg.report_interval_ns / NSEC);
	its.it_value.tv_nsec = (long)(o->cfg.report_interval_ns % NSEC);
	its.it_interval = its.it_value;
	timerfd_settime(o->timer_fd, 0, &its, NULL);
	o->started = true;
	o->last_maint_ns = clock_ns(CLOCK_BOOTTIME);
	err = pthread_create(&o->worker, NULL, worker_main, o);
	if (err) {
		err = -err;
		o->started = false;
		goto fail;
	}
	o->worker_running = true;
	return 0;
fail:
	mo_shedder_free(o->shed);
	o->shed = NULL;
	mo_links_release(&o->links);
	ring_buffer__free(o->rb);
	o->rb = NULL;
	mo_modules_free(o->mods);
	o->mods = NULL;
	memobserver_bpf__destroy(o->skel);
	o->skel = NULL;
	return err;
}

int mo_observer_read(struct mo_observer *o, struct mo_event **ev, int timeout_ms)
{
	void *item = NULL;
	int r = mo_queue_pop(o->q, &item, timeout_ms);

	if (r == 1)
		*ev = item;
	return r;
}

int mo_observer_fd(const struct mo_observer *o)
{
	return mo_queue_fd(o->q);
}

void mo_observer_note_output_errors(struct mo_observer *o, uint64_t n)
{
	__atomic_add_fetch(&o->output_write_errors, n, __ATOMIC_RELAXED);
}

bool mo_observer_targets_gone(struct mo_observer *o)
{
	bool gone = true;

	if (o->system_wide || !o->started)
		return false;
	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].alive)
			gone = false;
	/* findings are final only once their exit has been processed */
	if (o->npending)
		gone = false;
	pthread_mutex_unlock(&o->lock);
	return gone;
}

void mo_observer_counters(struct mo_observer *o, struct mo_counters *c)
{
	uint64_t v[MO_C__COUNT];

	memset(c, 0, sizeof(*c));
	if (!o->skel)
		return;
	for (__u32 k = 0; k < MO_C__COUNT; k++)
		v[k] = counter_value(o, k);
	c->alloc_calls = v[MO_C_ALLOC_CALLS];
	c->allocs_tracked = v[MO_C_ALLOCS_TRACKED] + v[MO_C_MMAPS_TRACKED];
	c->frees_matched = v[MO_C_FREES_MATCHED] + v[MO_C_MUNMAPS_MATCHED];
	c->drop_alloc_table_full = v[MO_C_DROP_ALLOC_TABLE_FULL];
	c->drop_stack_table_full = v[MO_C_DROP_STACK_TABLE_FULL] + v[MO_C_STACK_COLLIDED];
	c->drop_ringbuf_full = v[MO_C_DROP_RINGBUF_FULL];
	c->drop_sampled = v[MO_C_DROP_SAMPLED];
	c->drop_size_filtered = v[MO_C_DROP_SIZE_FILTERED];
	c->drop_thread_table_full = v[MO_C_DROP_THREAD_TABLE_FULL];
	c->drop_event_buffer_full = mo_queue_dropped(o->q);
	c->drop_stack_stats_full = v[MO_C_STACK_STATS_FULL];
	c->drop_unwind_maps_full = v[MO_C_UNWIND_PROC_MAPS_FULL];
	c->allocator_internal_mmaps = v[MO_C_ALLOCATOR_MMAPS];
	c->runtime_mmaps = v[MO_C_RUNTIME_MMAPS] + o->runtime_skipped;
	c->nested_calls = v[MO_C_NESTED_CALLS];
	c->unwind_fallbacks = v[MO_C_UNWIND_MAP_MISS];
	c->events_emitted = o->events_emitted;
	c->short_lived_exits = o->short_lived_exits;
	c->probes_attached = o->probes;
	c->processes_tracked = o->system_wide ? 0 : o->npids;
	c->rss_checks_agreed = o->rss_checks[0];
	c->rss_checks_disagreed = o->rss_checks[1];
	c->rss_proc_reads = o->rss_proc_reads;
	c->rss_from_proc = o->rss_from_proc;
	{
		struct mo_shed_stats st;

		shed_stats(o, &st);
		c->overhead_budget = o->cfg.max_overhead_bp / 10000.0;
		c->overhead_estimated = st.overhead;
		c->overhead_expected = st.expected;
		c->overhead_duty = o->cfg.max_overhead_bp ? st.duty : 1;
		c->shed_ns = st.shed_ns;
		c->shed_allocs_estimated = st.shed_allocs;
		c->shed_unattainable = st.unattainable;
		c->shed_switches = st.switches;
		c->stale_calls = v[MO_C_STALE_CALLS];
		c->unattributed_blocks = o->unattributed;
		c->pids_reused = o->pids_reused;
		c->exits_recovered = o->exits_recovered;
		c->stale_recovered = o->stale_recovered;
	}
}

static int leak_cmp(const void *a, const void *b)
{
	const struct mo_leak *x = a, *y = b;

	if (x->unfreed_bytes != y->unfreed_bytes)
		return x->unfreed_bytes < y->unfreed_bytes ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->pid - y->pid;
}

struct mo_report *mo_observer_report(struct mo_observer *o)
{
	struct mo_report *r = calloc(1, sizeof(*r));
	struct mo_alloc_rec *recs = NULL;
	struct mo_leak_groups g = { 0 };
	uint64_t now = clock_ns(CLOCK_BOOTTIME), live_unattributed = 0;
	size_t n = 0, cap;

	if (!r)
		return NULL;
	r->timestamp_ns = clock_ns(CLOCK_REALTIME);
	r->min_unfreed_age_ns = o->cfg.min_unfreed_age_ns;
	if (!o->skel)
		return r;
	pthread_mutex_lock(&o->lock);
	if (snapshot(o, &recs, &n) == 0 &&
	    mo_analyze(recs, n, now, o->cfg.min_unfreed_age_ns, &g) == 0) {
		cap = g.nr + o->nexit;
		r->leaks = calloc(cap ? cap : 1, sizeof(*r->leaks));
		if (r->leaks) {
			for (size_t i = 0; i < g.nr; i++) {
				if (no_stack(&g.g[i]))
					live_unattributed += g.g[i].count;
				else if (!runtime_group(o, &g.g[i]))
					fill_leak(o, &r->leaks[r->nleaks++], &g.g[i], now);
			}
			for (size_t i = 0; i < o->nexit; i++) {
				r->leaks[r->nleaks] = o->exit_leaks[i];
				mo_trace_copy(&r->leaks[r->nleaks].stack, &o->exit_leaks[i].stack);
				r->nleaks++;
			}
		}
		r->outstanding_bytes = g.outstanding_bytes;
		r->outstanding_count = g.outstanding_count;
	}
	pthread_mutex_unlock(&o->lock);
	mo_leak_groups_release(&g);
	free(recs);
	if (r->nleaks)
		qsort(r->leaks, r->nleaks, sizeof(*r->leaks), leak_cmp);
	for (size_t i = 0; i < r->nleaks; i++) {
		r->total_unfreed_bytes += r->leaks[i].unfreed_bytes;
		r->total_count += r->leaks[i].count;
		r->estimate |= r->leaks[i].estimate;
	}
	mo_observer_counters(o, &r->counters);
	r->counters.unattributed_blocks += live_unattributed;
	/* with probes shed part of the time, counts cover the attached time */
	r->estimate |= r->counters.shed_ns > 0;
	return r;
}

static uint64_t self_rss(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

int mo_observer_metrics(struct mo_observer *o, char **text, size_t *len)
{
	struct mo_metrics_snapshot snap = { 0 };
	struct mo_proc_metrics *pm = NULL;
	struct mo_rss_growth_metric *rssm;
	size_t n = 0, cap = 0;
	struct rusage ru;
	struct mo_buf b;
	__u32 key, next, *prev = NULL;
	int fd;

	if (!o->skel)
		return -ENODEV;
	fd = bpf_map__fd(o->skel->maps.procs);
	pthread_mutex_lock(&o->lock);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct mo_proc_stats ps;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps))
			continue;
		if (grow((void **)&pm, &cap, n + 1, sizeof(*pm)))
			break;
		memset(&pm[n], 0, sizeof(pm[n]));
		pm[n].pid = (pid_t)key;
		comm_of(o, (pid_t)key, pm[n].command, sizeof(pm[n].command));
		pm[n].allocations = ps.allocs;
		pm[n].deallocations = ps.frees;
		pm[n].unfreed_bytes = ps.alloc_bytes > ps.free_bytes ? ps.alloc_bytes - ps.free_bytes
								     : 0;
		pm[n].largest_allocation = ps.largest;
		{
			const struct mo_container *c = container_of(o, (pid_t)key);

			if (c)
				snprintf(pm[n].container_id, sizeof(pm[n].container_id), "%s",
					 c->id);
		}
		n++;
	}
	/* exited processes keep their totals under their name */
	for (size_t i = 0; i < o->nretired; i++) {
		if (grow((void **)&pm, &cap, n + 1, sizeof(*pm)))
			break;
		memset(&pm[n], 0, sizeof(pm[n]));
		snprintf(pm[n].command, sizeof(pm[n].command), "%s", o->retired[i].command);
		snprintf(pm[n].container_id, sizeof(pm[n].container_id), "%s",
			 o->retired[i].container_id);
		pm[n].allocations = o->retired[i].allocations;
		pm[n].deallocations = o->retired[i].deallocations;
		pm[n].largest_allocation = o->retired[i].largest;
		n++;
	}
	snap.dedup_suppressed = o->dedup_suppressed;
	rssm = calloc(o->nrssm ? o->nrssm : 1, sizeof(*rssm));
	for (size_t i = 0; rssm && i < o->nrssm; i++) {
		snprintf(rssm[i].command, sizeof(rssm[i].command), "%s", o->rssm[i].command);
		rssm[i].severity = o->rssm[i].severity;
		rssm[i].count = o->rssm[i].count;
	}
	snap.rss = rssm;
	snap.nrss = rssm ? o->nrssm : 0;
	pthread_mutex_unlock(&o->lock);

	snap.nprocs = n;
	snap.procs = pm;
	mo_observer_counters(o, &snap.counters);
	snap.counters.processes_tracked = n - (o->nretired < n ? o->nretired : n);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		snap.self_cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
					(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	snap.self_rss_bytes = self_rss();
	snap.start_time_seconds = o->start_realtime_s;
	snap.output_write_errors = __atomic_load_n(&o->output_write_errors, __ATOMIC_RELAXED);

	mo_buf_init(&b);
	mo_metrics_render(&b, &snap, 200);
	free(pm);
	free(rssm);
	if (b.oom) {
		mo_buf_release(&b);
		return -ENOMEM;
	}
	*text = b.data ? b.data : strdup("");
	*len = b.len;
	return *text ? 0 : -ENOMEM;
}

void mo_report_free(struct mo_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nleaks; i++)
		mo_trace_release(&r->leaks[i].stack);
	free(r->leaks);
	free(r);
}

int mo_observer_stop(struct mo_observer *o)
{
	uint64_t one = 1;

	if (!o->started || o->stopped)
		return 0;
	o->stopped = true;
	if (o->worker_running) {
		/* the worker leaves its long loops (records of new programs
		 * keep coming while probes are attached) and stops */
		__atomic_store_n(&o->stopping, true, __ATOMIC_RELAXED);
		if (write(o->stop_efd, &one, sizeof(one)) != sizeof(one))
			return -errno;
		pthread_join(o->worker, NULL);
		o->worker_running = false;
		__atomic_store_n(&o->stopping, false, __ATOMIC_RELAXED);
	}
	/* Detach first so nothing new arrives, then settle what is pending:
	 * exits seen just before the stop still get their final findings. */
	if (o->shed) {
		mo_shedder_stats(o->shed, &o->shed_final);
		mo_shedder_free(o->shed);
		o->shed = NULL;
	}
	mo_links_release(&o->links);
	memobserver_bpf__detach(o->skel);
	pthread_mutex_lock(&o->lock);
	consume_records(o);
	maintenance(o);
	pthread_mutex_unlock(&o->lock);
	mo_queue_close(o->q);
	return 0;
}

static void free_event_item(void *p)
{
	mo_event_free(p);
}

void mo_observer_free(struct mo_observer *o)
{
	if (!o)
		return;
	mo_observer_stop(o);
	mo_links_release(&o->links);
	ring_buffer__free(o->rb);
	mo_modules_free(o->mods);
	memobserver_bpf__destroy(o->skel);
	mo_queue_free(o->q, free_event_item);
	mo_symbolizer_free(o->sym);
	mo_traces_free(o->traces);
	mo_rsswatch_free(o->rssw);
	mo_stackgc_free(o->stackgc);
	mo_rsswatch_free(o->cgw);
	free(o->extra);
	free(o->rssm);
	free(o->allocator_lib);
	free(o->symbol_prefix);
	for (size_t i = 0; i < o->nexit; i++)
		mo_trace_release(&o->exit_leaks[i].stack);
	free(o->exit_leaks);
	free(o->pending);
	free(o->deferred);
	free(o->retired);
	for (size_t i = 0; i < o->npids; i++)
		free(o->pids[i].exe);
	free(o->pids);
	if (o->stop_efd >= 0)
		close(o->stop_efd);
	if (o->timer_fd >= 0)
		close(o->timer_fd);
	pthread_mutex_destroy(&o->lock);
	free(o);
}
