// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * observer.c - the public API (memobserver.h) and the worker loop. It wires
 * the stages together at start and drives them; nothing below calls back
 * into it.
 *
 * Data path, top to bottom (docs/design.md):
 *   kernel.c     BPF object, maps, ring buffer
 *   records.c    each kernel record to the stage that owns its type
 *   lifecycle.c  fork/exec/exit, reclaim, lost records    -> findings
 *   leaks.c      periodic analysis of the allocation table -> findings
 *   resident.c   RSS, growth, OOM risk                     -> findings
 *   reachability.c  scans of tracked heap blocks: verdicts read by findings
 *   findings.c   events into the queue the caller reads
 *   report.c     counters, the leak report, metrics data
 *
 * Threads: the worker owns every stage's state. Callers of the API read
 * what the stages publish (report.h says which); a report while running is
 * made by the worker on request. Nothing holds a lock while symbolizing or
 * reading /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "core/core.h"
#include "core/escalate.h"
#include "core/findings.h"
#include "core/growth.h"
#include "core/kernel.h"
#include "core/leaks.h"
#include "core/lifecycle.h"
#include "core/probes.h"
#include "core/proctab.h"
#include "core/reachability.h"
#include "core/records.h"
#include "core/report.h"
#include "core/resident.h"
#include "core/series.h"
#include "core/stacks.h"
#include "k8snames.h"
#include "memobserver.h"
#include "modules.h"
#include "perfmap.h"
#include "privsep.h"
#include "queue.h"
#include "safefile.h"
#include "sinks/metrics.h"
#include "sinks/otlp.h"
#include "sinks/pprof.h"
#include "symbolize.h"
#include "util.h"

#define RECLAIM_PERIOD_NS (100 * 1000000ULL)	/* exits reclaimed in batches */
#define RECLAIM_BUDGET_NS (50 * 1000000ULL)	/* at most this long per batch */
#define ESCALATION_BUDGET_BP 500		/* 5 % of an escalated process's work */

/* Work a caller hands to the worker, and waits for. */
struct request {
	void (*fn)(struct mo_observer *o, void *arg);
	void *arg;
	/* the caller stopped waiting (under req_lock): the worker frees the
	 * request and, through drop, arg and what fn made */
	void (*drop)(void *arg);
	bool abandoned;
	bool done;
};

struct mo_observer {
	struct mo_core c;
	struct mo_bpf *bpf;
	struct mo_symbolizer *sym;
	struct mo_modules *mods;
	char *allocator_lib;
	char *symbol_prefix;
	uint64_t target_cgroup;
	int target_v1_ssid;

	pthread_t worker;
	bool worker_running;	/* under call_lock */
	bool worker_exiting;	/* under req_lock: requests are no longer served */
	bool started, stopped;
	int stop_efd, timer_fd, req_efd;
	uint64_t last_reclaim_ns;
	bool scan_asked;	/* atomic: mo_observer_scan, served by the worker */
	pid_t command;		/* mo_observer_add_command's, or 0 */

	pthread_mutex_t call_lock;	/* one request at a time */
	pthread_mutex_t req_lock;
	pthread_cond_t req_done;
	struct request *req;
};

/* ------------------------------------------------------------ requests */

/* Run fn in the worker (or here when there is none) and wait for it. */
static void call(struct mo_observer *o, void (*fn)(struct mo_observer *, void *), void *arg)
{
	struct request r = { fn, arg, false };
	uint64_t one = 1;

	pthread_mutex_lock(&o->call_lock);
	pthread_mutex_lock(&o->req_lock);
	if (!o->worker_running || o->worker_exiting) {
		/* no worker (before start, after stop): the call lock keeps
		 * this apart from the stop's own work */
		pthread_mutex_unlock(&o->req_lock);
		fn(o, arg);
		pthread_mutex_unlock(&o->call_lock);
		return;
	}
	o->req = &r;
	pthread_mutex_unlock(&o->req_lock);
	if (write(o->req_efd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd write fails only on overflow: the worker wakes anyway */
	}
	pthread_mutex_lock(&o->req_lock);
	while (!r.done)
		pthread_cond_wait(&o->req_done, &o->req_lock);
	pthread_mutex_unlock(&o->req_lock);
	pthread_mutex_unlock(&o->call_lock);
}

static struct timespec deadline_after(int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/*
 * As call(), waiting at most timeout_ms: 0 once fn has run. Otherwise
 * (-ETIMEDOUT, -ENOMEM) arg is dropped: here when fn was not started, by
 * the worker once fn is done when it had been.
 */
static int call_timed(struct mo_observer *o, void (*fn)(struct mo_observer *, void *), void *arg,
		      void (*drop)(void *), int timeout_ms)
{
	struct timespec deadline = deadline_after(timeout_ms);
	struct request *r;
	uint64_t one = 1;
	int err = 0;

	/* another caller's request ahead of ours counts against our time */
	if (pthread_mutex_clocklock(&o->call_lock, CLOCK_MONOTONIC, &deadline)) {
		drop(arg);
		return -ETIMEDOUT;
	}
	pthread_mutex_lock(&o->req_lock);
	if (!o->worker_running || o->worker_exiting) {
		pthread_mutex_unlock(&o->req_lock);
		fn(o, arg);
		pthread_mutex_unlock(&o->call_lock);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&o->req_lock);
		pthread_mutex_unlock(&o->call_lock);
		drop(arg);
		return -ENOMEM;
	}
	*r = (struct request){ .fn = fn, .arg = arg, .drop = drop };
	o->req = r;
	pthread_mutex_unlock(&o->req_lock);
	if (write(o->req_efd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd write fails only on overflow: the worker wakes anyway */
	}
	pthread_mutex_lock(&o->req_lock);
	while (!r->done && err != ETIMEDOUT)
		err = pthread_cond_clockwait(&o->req_done, &o->req_lock, CLOCK_MONOTONIC, &deadline);
	if (r->done) {
		free(r);
		err = 0;
	} else if (o->req == r) {
		o->req = NULL;	/* not taken yet: withdrawn */
		free(r);
		drop(arg);
		err = -ETIMEDOUT;
	} else {
		r->abandoned = true;
		err = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&o->req_lock);
	pthread_mutex_unlock(&o->call_lock);
	return err;
}

/* A request waiting, if any, done; exiting: no later one is taken. */
static void serve(struct mo_observer *o, bool exiting)
{
	struct request *r;
	bool abandoned;

	pthread_mutex_lock(&o->req_lock);
	o->worker_exiting = exiting;
	r = o->req;
	o->req = NULL;
	pthread_mutex_unlock(&o->req_lock);
	if (!r)
		return;
	r->fn(o, r->arg);
	pthread_mutex_lock(&o->req_lock);
	abandoned = r->abandoned;
	r->done = true;
	pthread_cond_broadcast(&o->req_done);
	pthread_mutex_unlock(&o->req_lock);
	if (abandoned) {
		r->drop(r->arg);
		free(r);
	}
}

/* -------------------------------------------------------------- worker */

static int drain(void *ctx)
{
	return mo_bpf_records_consume(ctx);
}

static void work(struct mo_observer *o, bool stop, bool tick)
{
	struct mo_core *c = &o->c;
	uint64_t t0, t1, t2, t3, t4;

	t0 = mo_clock_ns(CLOCK_BOOTTIME);
	mo_records_run(c->rd, drain, o->bpf, &c->env.stopping);
	t1 = mo_clock_ns(CLOCK_BOOTTIME);
	if (t1 - o->last_reclaim_ns >= RECLAIM_PERIOD_NS && !stop) {
		o->last_reclaim_ns = t1;
		mo_lifecycle_reclaim(c->lc, t1 + RECLAIM_BUDGET_NS);
	}
	if (!stop) {
		mo_probes_tick(c->pr, t1);
		if (c->es)
			mo_escalate_tick(c->es, t1);
	}
	t2 = mo_clock_ns(CLOCK_BOOTTIME);
	mo_resident_tick(c->rs, t2);
	if (!stop) {
		mo_stacks_gc(c->st, t2);
		mo_lifecycle_recover(c->lc, t2);
	}
	t3 = mo_clock_ns(CLOCK_BOOTTIME);
	if (tick && !stop) {
		/* plateaus scanned first: their findings carry the verdict */
		if (c->env.cfg.scan)
			mo_reachability_periodic(c->rc, t3, mo_findings_scan_event, c->f);
		mo_leaks_periodic(c->lk, t3);
		if (c->gs)
			mo_growth_periodic(c->gs, t3);
	}
	t4 = mo_clock_ns(CLOCK_BOOTTIME);
	if (t4 - t0 > 100000000ULL)
		mo_env_log(&c->env, MO_LOG_DEBUG,
			   "worker busy %.0f ms: records %.0f, exits %.0f, rss %.0f, analysis %.0f",
			   (t4 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6,
			   (t4 - t3) / 1e6);
}

enum { EV_RECORDS = 1, EV_STOP, EV_TIMER, EV_REQUEST, EV_HELD };

static void *worker_main(void *arg)
{
	struct mo_observer *o = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN };

	if (ep < 0) {
		mo_env_log(&o->c.env, MO_LOG_ERROR, "epoll_create1: %s", strerror(errno));
		return NULL;
	}
	e.data.u32 = EV_RECORDS;
	epoll_ctl(ep, EPOLL_CTL_ADD, mo_bpf_records_fd(o->bpf), &e);
	e.data.u32 = EV_STOP;
	epoll_ctl(ep, EPOLL_CTL_ADD, o->stop_efd, &e);
	e.data.u32 = EV_TIMER;
	epoll_ctl(ep, EPOLL_CTL_ADD, o->timer_fd, &e);
	e.data.u32 = EV_REQUEST;
	epoll_ctl(ep, EPOLL_CTL_ADD, o->req_efd, &e);
	if (mo_reachability_hold_fd(o->c.rc) >= 0) {
		e.data.u32 = EV_HELD;
		epoll_ctl(ep, EPOLL_CTL_ADD, mo_reachability_hold_fd(o->c.rc), &e);
	}

	for (;;) {
		struct epoll_event evs[5];
		/* exits waiting for their reclaim: come back soon */
		int timeout = mo_lifecycle_pending(o->c.lc) ? (int)(RECLAIM_PERIOD_NS / 1000000) : 100;
		int n = epoll_wait(ep, evs, 5, timeout);
		bool stop = false, tick = false, req = false, held = false;
		uint64_t x;

		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case EV_STOP:
				stop = true;
				break;
			case EV_TIMER:
				tick = read(o->timer_fd, &x, sizeof(x)) == sizeof(x);
				break;
			case EV_REQUEST:
				req = read(o->req_efd, &x, sizeof(x)) == sizeof(x);
				break;
			case EV_HELD:
				held = true;
				break;
			}
		}
		/* the command waits at its exit: its records are all in */
		if (held)
			mo_reachability_exits(o->c.rc, mo_findings_scan_event, o->c.f);
		work(o, stop, tick);
		if (!stop && __atomic_exchange_n(&o->scan_asked, false, __ATOMIC_SEQ_CST))
			mo_reachability_scan_all(o->c.rc, o->c.env.cfg.scan_mode, "request",
						 mo_findings_scan_event, o->c.f);
		if (req || stop)
			serve(o, stop);
		if (stop)
			break;
	}
	close(ep);
	return NULL;
}

/* ----------------------------------------------------------------- API */

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
	o->c.env.cfg = c;
	o->c.env.log = log;
	o->c.env.log_ctx = log_ctx;
	o->stop_efd = o->timer_fd = o->req_efd = -1;
	o->target_v1_ssid = -1;
	pthread_mutex_init(&o->call_lock, NULL);
	pthread_mutex_init(&o->req_lock, NULL);
	pthread_cond_init(&o->req_done, NULL);
	o->c.q = mo_queue_new(c.buffer_size);
	o->c.pt = mo_proctab_new();
	o->c.proc_series = mo_series_new(MO_METRICS_MAX_SERIES - 1);
	o->c.rss_series = mo_series_new(MO_METRICS_MAX_SERIES - 1);
	o->sym = mo_symbolizer_new();
	o->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	o->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!o->c.q || !o->c.pt || !o->sym || !o->c.proc_series || !o->c.rss_series ||
	    o->stop_efd < 0 || o->req_efd < 0) {
		mo_observer_free(o);
		errno = ENOMEM;
		return NULL;
	}
	if (c.k8s_log_dir[0]) {
		struct mo_k8snames *k8s = mo_k8snames_new(c.k8s_log_dir, NULL);

		if (!k8s) {
			mo_observer_free(o);
			errno = ENOMEM;
			return NULL;
		}
		mo_proctab_set_k8snames(o->c.pt, k8s);
	}
	/* every stack the walker takes starts at a return address */
	mo_symbolizer_first_is_return(o->sym, true);
	if (c.privsep) {
		struct mo_privsep_opts po = { .log = log, .log_ctx = log_ctx };
		struct mo_symsource src;

		o->c.ps = mo_privsep_new(&po);
		if (!o->c.ps) {
			mo_observer_free(o);
			errno = ENOMEM;
			return NULL;
		}
		mo_privsep_symsource(o->c.ps, &src);
		mo_symbolizer_set_source(o->sym, &src);
		/* allocator files, the modules a report names and the
		 * runtimes' perf maps are the traced users' too */
		mo_attach_set_reader(mo_privsep_find_funcs, o->c.ps);
		mo_pprof_set_build_id_reader(mo_privsep_build_id, o->c.ps);
		mo_perfmap_set_parser(mo_privsep_perfmap, o->c.ps);
	}
	return o;
}

int mo_observer_add_command(struct mo_observer *o, pid_t pid, const char *exe)
{
	struct mo_proc *p;
	const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	int err;

	if (o->started)
		return -EBUSY;
	err = mo_observer_add_pid(o, pid, MO_PID_FOLLOW_CHILDREN);
	if (err)
		return err;
	o->command = pid;
	p = mo_proctab_find(o->c.pt, pid);
	free(p->exe);
	p->exe = strdup(exe);
	if (!p->exe)
		return -ENOMEM;
	/* until exec the child is a copy of us: name it after its program */
	mo_proctab_set_comm(o->c.pt, p, base, 15);
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
	o->target_v1_ssid = -1;
	return 0;
}

int mo_observer_set_cgroup_v1(struct mo_observer *o, uint64_t cgroup_id, int subsys_id)
{
	if (o->started)
		return -EBUSY;
	/* the kernel has at most 16 controllers (CGROUP_SUBSYS_COUNT) */
	if (subsys_id < 0 || subsys_id > 15)
		return -EINVAL;
	o->target_cgroup = cgroup_id;
	o->target_v1_ssid = subsys_id;
	return 0;
}

struct add_pid {
	pid_t pid;
	unsigned flags;
	int err;
};

static void add_pid(struct mo_observer *o, void *arg)
{
	struct add_pid *a = arg;
	struct mo_proc *p = mo_proctab_add_target(o->c.pt, a->pid, a->flags);

	if (!p) {
		a->err = -ENOMEM;
		return;
	}
	p->own_link = !(a->flags & MO_PID_FOLLOW_CHILDREN);
	if (o->started) {
		mo_kernel_target_set(o->c.k, (uint32_t)a->pid, MO_TARGET_TRACE | MO_TARGET_FOLLOW);
		if (p->own_link)
			mo_probes_attach_own(o->c.pr, a->pid);
	}
}

int mo_observer_add_pid(struct mo_observer *o, pid_t pid, unsigned flags)
{
	struct add_pid a = { pid, flags, 0 };
	char path[64];

	if (pid <= 0)
		return -EINVAL;
	if (o->stopped)
		return -EPIPE;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS))
		return -ESRCH;
	call(o, add_pid, &a);
	return a.err;
}

static void libbpf_log(void *ctx, const char *msg)
{
	struct mo_env *env = ctx;

	if (env->log)
		env->log(MO_LOG_DEBUG, msg, env->log_ctx);
}

static int load(struct mo_observer *o)
{
	const struct mo_config *cfg = &o->c.env.cfg;
	struct mo_bpf_params p = {
		.system_wide = o->c.env.system_wide,
		.heap_probes = o->c.env.heap_probes || o->c.env.watch,
		.track_growth = o->c.env.watch,
		/* a growth finding needs MIN_FINDING_SAMPLES analysis passes of
		 * history: a process younger than one pass (a build's compilers,
		 * a script's commands) costs no stack walk and no unwind rows */
		.growth_min_age_ns = cfg->report_interval_ns,
		.track_mmaps = !o->c.env.watch,
		.rss_stat = cfg->rss_stat &&
			    !faccessat(AT_FDCWD, "/sys/kernel/tracing/events/kmem/rss_stat", F_OK,
				       AT_EACCESS),
		.self_tgid = (uint32_t)getpid(),
		/* the watch tier probes allocators only to find exact leak
		 * sites of a process it saw grow: every size counts there */
		.min_size = o->c.env.watch ? 1 : cfg->min_allocation_size,
		.sample_rate = cfg->sampling_rate,
		.sample_bytes = cfg->sample_bytes,
		.max_depth = cfg->max_stack_depth,
		.large_size = cfg->large_allocation_threshold,
		.target_cgroup = o->target_cgroup,
		.target_v1_ssid = o->target_v1_ssid,
		.max_allocations = cfg->max_allocations,
		.max_stacks = cfg->max_stacks,
		.unwind_rows = cfg->unwind_rows,
		.ring_buffer_size = cfg->ring_buffer_size,
		.log = libbpf_log,
		.log_ctx = &o->c.env,
	};
	int err = -EINVAL;

	if (!p.rss_stat)
		mo_env_log(&o->c.env, MO_LOG_INFO, "kmem:rss_stat unavailable: RSS is sampled from /proc");
	if (cfg->session_uprobes) {
		p.session = true;
		p.count_hits = cfg->max_overhead_bp && p.heap_probes;
		p.calibrate = p.count_hits;
		o->bpf = mo_bpf_load(&p);
		err = o->bpf ? 0 : -errno;
		if (err)
			mo_env_log(&o->c.env, MO_LOG_DEBUG,
				   "session uprobes unavailable, using uprobe+uretprobe");
	}
	if (err) {
		p.session = p.count_hits = p.calibrate = false;
		o->bpf = mo_bpf_load(&p);
		err = o->bpf ? 0 : -errno;
	}
	if (err) {
		mo_env_log(&o->c.env, MO_LOG_ERROR, "cannot load the BPF programs: %s%s",
			   strerror(-err), err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		return err;
	}
	o->c.k = mo_bpf_kernel(o->bpf);
	return p.rss_stat ? 0 : 1;
}

/* The stages, bottom up; each is handed what it depends on. */
static int wire(struct mo_observer *o, bool rss_from_proc)
{
	struct mo_core *c = &o->c;

	o->mods = mo_modules_new(mo_bpf_rows_fd(o->bpf), c->env.cfg.unwind_rows,
				 mo_bpf_modules_fd(o->bpf));
	if (!o->mods) {
		mo_env_log(&c->env, MO_LOG_ERROR, "cannot map the unwind table: %s", strerror(errno));
		return -errno;
	}
	if (c->ps)
		mo_modules_set_builder(o->mods, mo_privsep_build_rows, c->ps);
	c->st = mo_stacks_new(&c->env, c->k, c->pt, o->sym, o->mods);
	c->pr = mo_probes_new(&c->env, o->bpf, o->allocator_lib, o->symbol_prefix);
	c->f = c->st && c->pr ? mo_findings_new(&c->env, c->k, c->pt, c->st, c->pr, c->q) : NULL;
	c->rs = c->f ? mo_resident_new(&c->env, c->k, c->pt, c->f, rss_from_proc) : NULL;
	c->lk = c->rs ? mo_leaks_new(&c->env, c->k, c->pt, c->st, c->f, c->rs) : NULL;
	c->rc = c->f ? mo_reachability_new(&c->env, c->k, c->pt, c->st, NULL) : NULL;
	if (!c->rc)
		return -ENOMEM;
	mo_findings_set_reach(c->f, c->rc);
	if (c->env.watch && c->lk) {
		c->es = mo_escalate_new(&c->env, c->k, c->pt, c->st, c->f, c->pr);
		c->gs = c->es ? mo_growth_new(&c->env, c->k, c->pt, c->st, c->f, c->rs, c->es) : NULL;
		if (!c->gs)
			return -ENOMEM;
	}
	c->lc = c->f ? mo_lifecycle_new(&c->env, c->k, c->pt, c->st, c->f, c->pr, o->mods, c->es)
		     : NULL;
	c->rd = mo_records_new();
	if (!c->lk || !c->lc || !c->rd)
		return -ENOMEM;
	mo_records_on(c->rd, MO_REC_EXIT, mo_lifecycle_exit, c->lc, true);
	mo_records_on(c->rd, MO_REC_EXEC, mo_lifecycle_exec, c->lc, true);
	mo_records_on(c->rd, MO_REC_FORK, mo_lifecycle_fork, c->lc, true);
	mo_records_on(c->rd, MO_REC_SEEN, mo_lifecycle_seen, c->lc, true);
	mo_records_on(c->rd, MO_REC_OOM_KILL, mo_leaks_oom_kill, c->lk, false);
	mo_records_on(c->rd, MO_REC_MMAP, mo_findings_map_record, c->f, false);
	mo_records_on(c->rd, MO_REC_MUNMAP, mo_findings_map_record, c->f, false);
	mo_records_on(c->rd, MO_REC_LARGE_HEAP, mo_findings_map_record, c->f, false);
	mo_records_on(c->rd, MO_REC_LARGE_MMAP, mo_findings_map_record, c->f, false);
	mo_records_on(c->rd, MO_REC_UNKNOWN_MODULE, mo_stacks_unknown_module, c->st, false);
	return 0;
}

/* Targets named before start: watched, their allocators probed. */
static int watch_targets(struct mo_observer *o)
{
	struct mo_core *c = &o->c;
	pid_t *pids = NULL;
	size_t n = 0;
	int err = mo_proctab_targets(c->pt, &pids, &n);

	for (size_t i = 0; !err && i < n; i++) {
		struct mo_proc *p = mo_proctab_find(c->pt, pids[i]);
		int r;

		mo_kernel_target_set(c->k, (uint32_t)p->pid, MO_TARGET_TRACE | MO_TARGET_FOLLOW);
		mo_stacks_prime(c->st, p->pid);
		mo_proctab_container(c->pt, p->pid);
		r = mo_modules_load_pid(o->mods, p->pid);
		if (r < 0 && r != -ENOENT) {
			mo_env_log(&c->env, MO_LOG_ERROR, "cannot read the memory maps of pid %d: %s",
				   (int)p->pid, strerror(-r));
			err = r;
			break;
		}
		if (p->exe)
			mo_modules_preload_command(o->mods, p->exe);
		err = mo_probes_attach_target(c->pr, p->pid, p->exe, p->own_link);
	}
	free(pids);
	return err;
}

/* System-wide: every running program's unwind rows (one that allocates and
 * exits before a lazy load could read its maps would keep unnamed, partial
 * stacks; modules load once per file), and every process's allocator. */
static int watch_system(struct mo_observer *o)
{
	struct mo_core *c = &o->c;
	struct dirent *de;
	int r, attached;
	DIR *d;

	if (!c->env.heap_probes)
		return 0;
	/* a forced allocator file, once for every process; else each
	 * process's own (memobserver's is its own copy: never probed) */
	attached = r = mo_probes_forced(c->pr) ? mo_probes_attach_forced(c->pr) : 0;
	if (r < 0)
		return r;
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		mo_modules_load_pid(o->mods, (pid_t)pid);
		if (!mo_probes_forced(c->pr) && mo_probes_attach_shared(c->pr, (pid_t)pid) >= 0)
			attached++;
	}
	if (d)
		closedir(d);
	return attached ? 0 : -ENOENT;
}

static void unwire(struct mo_observer *o)
{
	struct mo_core *c = &o->c;

	mo_probes_free(c->pr);
	c->pr = NULL;
	mo_bpf_detach(o->bpf);
	mo_records_free(c->rd);
	mo_growth_free(c->gs);
	mo_escalate_free(c->es);
	mo_lifecycle_free(c->lc);
	mo_leaks_free(c->lk);
	mo_resident_free(c->rs);
	mo_findings_free(c->f);
	mo_reachability_free(c->rc);
	mo_stacks_free(c->st);
	mo_modules_free(o->mods);
	mo_bpf_free(o->bpf);
	c->rd = NULL;
	c->gs = NULL;
	c->es = NULL;
	c->lc = NULL;
	c->lk = NULL;
	c->rs = NULL;
	c->f = NULL;
	c->rc = NULL;
	c->st = NULL;
	o->mods = NULL;
	o->bpf = NULL;
	c->k = NULL;
}

int mo_observer_start(struct mo_observer *o)
{
	struct mo_core *c = &o->c;
	struct itimerspec its = { 0 };
	int err, loaded;

	if (o->started)
		return -EALREADY;
	if (!c->env.cfg.enable_ebpf) {
		mo_env_log(&c->env, MO_LOG_ERROR,
			   "enable_ebpf is false: memobserver has no other source of allocation data");
		return -EOPNOTSUPP;
	}
	if (faccessat(AT_FDCWD, "/sys/kernel/btf/vmlinux", R_OK, AT_EACCESS)) {
		mo_env_log(&c->env, MO_LOG_ERROR,
			   "kernel BTF not found at /sys/kernel/btf/vmlinux: a kernel "
			   "built with CONFIG_DEBUG_INFO_BTF=y is required");
		return -ENOTSUP;
	}
	if (faccessat(AT_FDCWD, "/sys/kernel/tracing/events", F_OK, AT_EACCESS) &&
	    faccessat(AT_FDCWD, "/sys/kernel/debug/tracing/events", F_OK, AT_EACCESS)) {
		mo_env_log(&c->env, MO_LOG_ERROR,
			   "tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing");
		return -ENOENT;
	}
	c->env.system_wide = mo_proctab_ntargets(c->pt) == 0;
	c->env.cgroup_filter = o->target_cgroup != 0;
	/* asked for processes (pids, a command, a container): precise; the
	 * whole machine: watch, and precise on demand */
	c->env.watch = c->env.cfg.tier == MO_TIER_WATCH ||
		       (c->env.cfg.tier == MO_TIER_AUTO && c->env.system_wide &&
			!c->env.cgroup_filter);
	/* Conservative mode only wants blocks of 100 KB and more, which the
	 * allocator maps with mmap: the syscall tracepoints see them at no
	 * cost on the malloc fast path, so no allocator probe is placed. */
	c->env.heap_probes = !c->env.watch && c->env.cfg.mode != MO_MODE_CONSERVATIVE;
	/* a process escalated by the watch tier is tracked precisely under an
	 * overhead budget unless --max-overhead names one */
	if (c->env.watch && c->env.cfg.escalate && !c->env.cfg.max_overhead_bp)
		c->env.cfg.max_overhead_bp = ESCALATION_BUDGET_BP;
	loaded = load(o);
	if (loaded < 0)
		return loaded;
	c->env.boot_to_real_ns =
		(int64_t)mo_clock_ns(CLOCK_REALTIME) - (int64_t)mo_clock_ns(CLOCK_BOOTTIME);
	c->start_realtime_s = mo_clock_ns(CLOCK_REALTIME) / MO_NSEC;
	err = wire(o, loaded == 1);
	if (err)
		goto fail;
	/* our own C library and loader are usually the targets' too (the
	 * rest of what we map, libdw, libbpf..., seldom is: loaded when a
	 * stack needs it) */
	mo_modules_load_libc(o->mods, getpid());
	err = mo_bpf_attach(o->bpf);
	if (err) {
		mo_env_log(&c->env, MO_LOG_ERROR, "cannot attach the tracepoints: %s", strerror(-err));
		goto fail;
	}
	err = c->env.system_wide ? watch_system(o) : watch_targets(o);
	if (!err)
		err = mo_probes_budget_start(c->pr);
	if (err)
		goto fail;
	if (c->env.watch)
		mo_env_log(&c->env, MO_LOG_INFO, "watch tier: no allocator probes; growth by stack, "
						 "precise tracking on demand");
	else if (!c->env.heap_probes)
		mo_env_log(&c->env, MO_LOG_INFO, "conservative mode: no allocator probes; large blocks "
						 "are seen through mmap/munmap/mremap");
	err = mo_bpf_records_open(o->bpf, mo_records_take, c->rd);
	o->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (err || o->timer_fd < 0) {
		err = err ? err : -errno;
		mo_env_log(&c->env, MO_LOG_ERROR, "cannot set up the event loop");
		goto fail;
	}
	its.it_value.tv_sec = (time_t)(c->env.cfg.report_interval_ns / MO_NSEC);
	its.it_value.tv_nsec = (long)(c->env.cfg.report_interval_ns % MO_NSEC);
	its.it_interval = its.it_value;
	timerfd_settime(o->timer_fd, 0, &its, NULL);
	/* what the command holds at its exit is scanned there, before its
	 * memory goes: it is traced from now on (docs/reachability.md) */
	if (c->env.cfg.scan && o->command) {
		err = mo_reachability_hold(c->rc, o->command);
		if (err)
			mo_env_log(&c->env, MO_LOG_WARN,
				   "cannot hold the command at its exit (%s): what it holds "
				   "then is not scanned",
				   strerror(-err));
	}
	o->started = true;
	o->last_reclaim_ns = mo_clock_ns(CLOCK_BOOTTIME);
	err = -pthread_create(&o->worker, NULL, worker_main, o);
	if (err) {
		o->started = false;
		goto fail;
	}
	/* told apart from the caller's threads (ps -L, perf, a debugger) */
	pthread_setname_np(o->worker, "mo-worker");
	pthread_mutex_lock(&o->call_lock);
	o->worker_running = true;
	pthread_mutex_unlock(&o->call_lock);
	return 0;
fail:
	unwire(o);
	return err;
}

int mo_observer_read(struct mo_observer *o, struct mo_event **ev, int timeout_ms)
{
	void *item = NULL;
	int r = mo_queue_pop(o->c.q, &item, timeout_ms);

	if (r == 1)
		*ev = item;
	return r;
}

int mo_observer_fd(const struct mo_observer *o)
{
	return mo_queue_fd(o->c.q);
}

void mo_observer_note(struct mo_observer *o, enum mo_counter_id id, uint64_t n)
{
	if ((unsigned)id < MO_CTR__COUNT)
		mo_stat_add(&o->c.noted[id], n);
}

int mo_observer_scan(struct mo_observer *o)
{
	uint64_t one = 1;

	if (!o->started || o->stopped)
		return -EAGAIN;
	__atomic_store_n(&o->scan_asked, true, __ATOMIC_SEQ_CST);
	if (write(o->req_efd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd write fails only on overflow: the worker wakes anyway */
	}
	return 0;
}

bool mo_observer_targets_gone(struct mo_observer *o)
{
	if (o->c.env.system_wide || !o->started)
		return false;
	return mo_proctab_targets_gone(o->c.pt);
}

/* One warning naming the files of traced processes that were not read. */
static void log_refused_files(struct mo_observer *o)
{
	struct mo_safefile_stats st;

	mo_safefile_stats(&st);
	if (!st.not_regular && !st.replaced && !st.too_large && !st.symlinks)
		return;
	mo_env_log(&o->c.env, MO_LOG_WARN,
		   "files of traced processes not read: %llu not regular files (FIFO, device), "
		   "%llu no longer the file mapped, %llu larger than %llu bytes, %llu symlinks",
		   (unsigned long long)st.not_regular, (unsigned long long)st.replaced,
		   (unsigned long long)st.too_large, (unsigned long long)MO_SAFE_MAX_SIZE,
		   (unsigned long long)st.symlinks);
}

int mo_observer_stop(struct mo_observer *o)
{
	struct mo_core *c = &o->c;
	uint64_t one = 1;

	if (!o->started || o->stopped)
		return 0;
	__atomic_store_n(&c->env.ending, true, __ATOMIC_RELAXED);
	if (o->worker_running) {
		/* the worker leaves its long loops (records of new programs
		 * keep coming while probes are attached) and stops */
		__atomic_store_n(&c->env.stopping, true, __ATOMIC_RELAXED);
		if (write(o->stop_efd, &one, sizeof(one)) != sizeof(one))
			return -errno;
		pthread_join(o->worker, NULL);
		__atomic_store_n(&c->env.stopping, false, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&o->call_lock);
	o->worker_running = false;
	o->stopped = true;
	/* escalations report what they found so far */
	if (c->es)
		mo_escalate_finish(c->es);
	/* the processes still running, scanned while their blocks are tracked:
	 * the report made after the stop carries the verdicts; the command,
	 * if it waits at its exit, first, then it goes */
	mo_reachability_exits(c->rc, mo_findings_scan_event, c->f);
	if (c->env.cfg.scan)
		mo_reachability_scan_all(c->rc, c->env.cfg.scan_mode, "end", mo_findings_scan_event,
					 c->f);
	mo_reachability_unhold(c->rc);
	/* Detach first so nothing new arrives, then settle what is pending:
	 * exits seen just before the stop still get their final findings. */
	mo_probes_detach(c->pr);
	mo_bpf_detach(o->bpf);
	mo_records_run(c->rd, drain, o->bpf, &c->env.stopping);
	mo_lifecycle_reclaim(c->lc, UINT64_MAX);
	log_refused_files(o);
	mo_queue_close(c->q);
	pthread_mutex_unlock(&o->call_lock);
	return 0;
}

static void make_report(struct mo_observer *o, void *arg)
{
	*(struct mo_report **)arg = mo_core_report(&o->c);
}

struct mo_report *mo_observer_report(struct mo_observer *o)
{
	struct mo_report *r = NULL;

	if (!o->c.k) {
		r = calloc(1, sizeof(*r));
		if (r) {
			r->timestamp_ns = mo_clock_ns(CLOCK_REALTIME);
			r->min_unfreed_age_ns = o->c.env.cfg.min_unfreed_age_ns;
		}
		return r;
	}
	call(o, make_report, &r);
	return r;
}

struct query {
	struct mo_report_query q;
	char container[72];	/* q.container points here */
	struct mo_report *r;
	int err;
};

static void run_query(struct mo_observer *o, void *arg)
{
	struct query *qa = arg;

	qa->r = mo_core_query(&o->c, &qa->q, &qa->err);
}

static void drop_query(void *arg)
{
	struct query *qa = arg;

	mo_report_free(qa->r);
	free(qa);
}

int mo_observer_query(struct mo_observer *o, const struct mo_report_query *q, int timeout_ms,
		      struct mo_report **out)
{
	struct query *qa;
	int err;

	if (!o || !q || !out || q->pid < 0 || (unsigned)q->kind > MO_REPORT_GROWTH)
		return -EINVAL;
	*out = NULL;
	/* the worker may outlive our wait: it gets its own copy */
	qa = calloc(1, sizeof(*qa));
	if (!qa)
		return -ENOMEM;
	qa->q = *q;
	if (q->container) {
		if (strlen(q->container) >= sizeof(qa->container)) {
			free(qa);
			return -EINVAL;
		}
		strcpy(qa->container, q->container);
		qa->q.container = qa->container;
	}
	if (timeout_ms < 0) {
		call(o, run_query, qa);
	} else {
		err = call_timed(o, run_query, qa, drop_query, timeout_ms);
		if (err)
			return err;	/* qa is dropped */
	}
	err = qa->err;
	*out = qa->r;
	free(qa);
	return err;
}

int mo_observer_profile(struct mo_observer *o, const struct mo_report_query *q,
			const struct mo_profile_limits *limits, int timeout_ms, uint8_t **gz,
			size_t *len)
{
	struct mo_report *r;
	int err;

	if (!gz || !len)
		return -EINVAL;
	*gz = NULL;
	*len = 0;
	err = mo_observer_query(o, q, timeout_ms, &r);
	if (err)
		return err;
	/* here and not in the worker: compression holds no stage's state */
	err = mo_core_profile(&o->c, r, q->kind, limits, gz, len);
	mo_report_free(r);
	return err;
}

void mo_observer_counters(struct mo_observer *o, struct mo_counters *out)
{
	mo_core_counters(&o->c, out);
}

int mo_observer_metrics(struct mo_observer *o, char **text, size_t *len)
{
	struct mo_metrics_snapshot snap;
	struct mo_buf b;
	int err = mo_core_metrics(&o->c, &snap);

	if (err)
		return err;
	mo_buf_init(&b);
	mo_metrics_render(&b, &snap, MO_METRICS_MAX_SERIES);
	mo_core_metrics_release(&snap);
	if (b.oom) {
		mo_buf_release(&b);
		return -ENOMEM;
	}
	*text = b.data ? b.data : strdup("");
	*len = b.len;
	return *text ? 0 : -ENOMEM;
}

int mo_observer_metrics_otlp(struct mo_observer *o, const char *host_name, uint64_t now_ns,
			     uint8_t **body, size_t *len)
{
	struct mo_metrics_snapshot snap;
	int err = mo_core_metrics(&o->c, &snap);

	if (err)
		return err;
	err = mo_otlp_metrics_encode(&snap, host_name, now_ns, MO_METRICS_MAX_SERIES, body, len);
	mo_core_metrics_release(&snap);
	return err;
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
	unwire(o);
	mo_queue_free(o->c.q, free_event_item);
	mo_proctab_free(o->c.pt);
	mo_series_free(o->c.proc_series);
	mo_series_free(o->c.rss_series);
	mo_symbolizer_free(o->sym);
	if (o->c.ps && mo_attach_reader_ctx() == o->c.ps)
		mo_attach_set_reader(NULL, NULL);
	if (o->c.ps && mo_pprof_build_id_reader_ctx() == o->c.ps)
		mo_pprof_set_build_id_reader(NULL, NULL);
	if (o->c.ps && mo_perfmap_parser_ctx() == o->c.ps)
		mo_perfmap_set_parser(NULL, NULL);
	mo_privsep_free(o->c.ps);	/* after the symbolizer, which closes its files */
	free(o->allocator_lib);
	free(o->symbol_prefix);
	if (o->stop_efd >= 0)
		close(o->stop_efd);
	if (o->timer_fd >= 0)
		close(o->timer_fd);
	if (o->req_efd >= 0)
		close(o->req_efd);
	pthread_cond_destroy(&o->req_done);
	pthread_mutex_destroy(&o->req_lock);
	pthread_mutex_destroy(&o->call_lock);
	free(o);
}
