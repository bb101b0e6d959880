// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * observer.c - the observer's lifecycle: load the BPF object, attach, run
 * the worker thread that drains kernel records and analyses the allocation
 * table, stop and free. The work itself is in its obs_*.c siblings, which
 * share observer_int.h, the only header that includes the skeleton.
 *
 * Threads: the worker thread and API callers share everything under
 * o->lock; the event queue has its own lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "attach.h"
#include "observer_int.h"
#include "modules.h"
#include "rsswatch.h"
#include "budget.h"
#include "calib.h"
#include "shed.h"
#include "stackgc.h"
#include "queue.h"
#include "symbolize.h"
#include "traces.h"

#define MAINT_PERIOD_NS (100 * 1000000ULL)
#define RSS_PERIOD_NS NSEC		/* RSS sampling period */
#define RSS_WINDOW_NS (60 * NSEC)	/* growth is measured over this window */

void obs_log(struct mo_observer *o, enum mo_log_level lvl, const char *fmt, ...)
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

uint64_t obs_clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* Make room for need elements of size elem in *arr (capacity *cap,
 * doubling). 0 or -ENOMEM, *arr unchanged on failure. */
int obs_grow(void **arr, size_t *cap, size_t need, size_t elem)
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

/* ------------------------------------------------------------------- worker */

static void *worker_main(void *arg)
{
	struct mo_observer *o = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN };

	if (ep < 0) {
		obs_log(o, MO_LOG_ERROR, "epoll_create1: %s", strerror(errno));
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
		t0 = obs_clock_ns(CLOCK_BOOTTIME);
		obs_consume_records(o);
		t1 = obs_clock_ns(CLOCK_BOOTTIME);
		if (t1 - o->last_maint_ns >= MAINT_PERIOD_NS || stop)
			obs_maintenance(o);
		if (o->shed && !stop)
			mo_shedder_tick(o->shed, t1);
		t2 = obs_clock_ns(CLOCK_BOOTTIME);
		if (t2 - o->last_rss_ns >= RSS_PERIOD_NS)
			obs_rss_tick(o);
		if (!stop) {
			obs_stacks_gc(o, t2);
			obs_recover_lost_records(o, t2);
		}
		t3 = obs_clock_ns(CLOCK_BOOTTIME);
		if (tick)
			obs_periodic(o);
		t4 = obs_clock_ns(CLOCK_BOOTTIME);
		if (t4 - t0 > 100000000ULL)
			obs_log(o, MO_LOG_DEBUG, "worker busy %.0f ms: records %.0f, exits %.0f, rss %.0f, "
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
	o->target_v1_ssid = -1;
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
	p = obs_pid_find(o, pid);
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
	p = obs_pid_add(o, pid, flags);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	p->own_link = !(flags & MO_PID_FOLLOW_CHILDREN);
	if (o->started) {
		bpf_map_update_elem(bpf_map__fd(o->skel->maps.targets), &pid, &tflags, BPF_ANY);
		if (p->own_link)
			obs_attach_child(o, pid);
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

/* The budget's cost per probe hit, measured here (calib.h); the defaults
 * stay if it cannot be. */
static void calibrate(struct mo_observer *o)
{
	double entry, ret;
	int err = mo_calibrate_probe_cost(o->skel->progs.calib_enter, o->skel->progs.calib_exit,
					  &entry, &ret);

	if (err) {
		obs_log(o, MO_LOG_WARN, "cannot measure the cost of a probe hit (%s): the budget "
					"assumes %.0f ns per entry, %.0f ns per return",
			strerror(-err), MO_COST_ENTRY_NS, MO_COST_RETURN_NS);
		return;
	}
	entry += MO_COST_PROGRAM_NS;
	ret += MO_COST_PROGRAM_NS;
	mo_shedder_set_costs(o->shed, entry, ret);
	obs_log(o, MO_LOG_INFO, "probe hit cost measured: entry %.0f ns, return %.0f ns "
				"(with %.0f ns of program work each)",
		entry, ret, MO_COST_PROGRAM_NS);
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
	s->rodata->target_v1_ssid = o->target_v1_ssid;
	s->rodata->count_hits = session && o->cfg.max_overhead_bp && o->heap_probes;
	bpf_map__set_max_entries(s->maps.allocs, o->cfg.max_allocations);
	bpf_map__set_max_entries(s->maps.stacks, o->cfg.max_stacks);
	bpf_map__set_max_entries(s->maps.stack_stats, o->cfg.max_stacks);
	bpf_map__set_max_entries(s->maps.rows, o->cfg.unwind_rows);
	bpf_map__set_max_entries(s->maps.records, o->cfg.ring_buffer_size);
	bpf_program__set_autoattach(s->progs.alloc_session, false);
	bpf_program__set_autoattach(s->progs.alloc_enter, false);
	bpf_program__set_autoattach(s->progs.alloc_exit, false);
	bpf_program__set_autoattach(s->progs.calib_enter, false);
	bpf_program__set_autoattach(s->progs.calib_exit, false);
	if (!(session && o->cfg.max_overhead_bp && o->heap_probes)) {
		bpf_program__set_autoload(s->progs.calib_enter, false);
		bpf_program__set_autoload(s->progs.calib_exit, false);
	}
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

int mo_observer_start(struct mo_observer *o)
{
	struct itimerspec its = { 0 };
	int err;

	if (o->started)
		return -EALREADY;
	if (!o->cfg.enable_ebpf) {
		obs_log(o, MO_LOG_ERROR, "enable_ebpf is false: memobserver has no other source of "
					 "allocation data");
		return -EOPNOTSUPP;
	}
	if (faccessat(AT_FDCWD, "/sys/kernel/btf/vmlinux", R_OK, AT_EACCESS)) {
		obs_log(o, MO_LOG_ERROR,
			"kernel BTF not found at /sys/kernel/btf/vmlinux: a kernel "
			"built with CONFIG_DEBUG_INFO_BTF=y is required");
		return -ENOTSUP;
	}
	err = ensure_tracefs();
	if (err) {
		obs_log(o, MO_LOG_ERROR, "tracefs is not mounted and cannot be: %s",
			strerror(-err));
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
		obs_log(o, MO_LOG_INFO, "kmem:rss_stat unavailable: RSS is sampled from /proc");

	err = -EINVAL;
	if (!getenv("MEMOBSERVER_NO_SESSION"))
		err = open_and_load(o, true);
	if (err) {
		if (!getenv("MEMOBSERVER_NO_SESSION"))
			obs_log(o, MO_LOG_DEBUG, "session uprobes unavailable, using uprobe+uretprobe");
		err = open_and_load(o, false);
	}
	if (err) {
		obs_log(o, MO_LOG_ERROR, "cannot load the BPF programs: %s%s", strerror(-err),
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
		obs_log(o, MO_LOG_ERROR, "cannot map the unwind table: %s", strerror(errno));
		goto fail;
	}
	o->boot_to_real_ns =
		(int64_t)obs_clock_ns(CLOCK_REALTIME) - (int64_t)obs_clock_ns(CLOCK_BOOTTIME);
	o->start_realtime_s = obs_clock_ns(CLOCK_REALTIME) / NSEC;
	/* our own C library and loader are usually the targets' too */
	mo_modules_load_pid(o->mods, getpid());

	loading = NULL;
	err = memobserver_bpf__attach(o->skel);
	if (err) {
		obs_log(o, MO_LOG_ERROR, "cannot attach the tracepoints: %s", strerror(-err));
		goto fail;
	}
	err = o->system_wide ? obs_attach_system_wide(o) : obs_attach_targets(o);
	if (err)
		goto fail;
	o->probes = o->links.probes;
	if (o->cfg.max_overhead_bp && o->heap_probes && !o->session)
		obs_log(o, MO_LOG_WARN, "--max-overhead needs session uprobes (kernel 6.13+): "
					"no budget is applied");
	else if (o->cfg.max_overhead_bp && o->heap_probes &&
		 !(o->shed = mo_shedder_new(o->cfg.max_overhead_bp / 10000.0, &o->links,
					    bpf_map__fd(o->skel->maps.procs),
					    &o->skel->bss->shed_gen))) {
		err = -ENOMEM;
		goto fail;
	}
	if (o->shed)
		calibrate(o);
	if (!o->heap_probes)
		obs_log(o, MO_LOG_INFO, "conservative mode: no allocator probes; large blocks are "
					"seen through mmap/munmap/mremap");

	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.records), obs_handle_record, o, NULL);
	o->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!o->rb || o->timer_fd < 0) {
		err = -ENOMEM;
		obs_log(o, MO_LOG_ERROR, "cannot set up the event loop");
		goto fail;
	}
	its.it_value.tv_sec = (time_t)(o->cfg.report_interval_ns / NSEC);
	its.it_value.tv_nsec = (long)(o->cfg.report_interval_ns % NSEC);
	its.it_interval = its.it_value;
	timerfd_settime(o->timer_fd, 0, &its, NULL);
	o->started = true;
	o->last_maint_ns = obs_clock_ns(CLOCK_BOOTTIME);
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

int mo_observer_stop(struct mo_observer *o)
{
	uint64_t one = 1;

	if (!o->started || o->stopped)
		return 0;
	__atomic_store_n(&o->stopped, true, __ATOMIC_RELAXED);	/* the worker reads it */
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
	obs_consume_records(o);
	obs_maintenance(o);
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
