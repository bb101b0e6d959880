// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probes.c - allocator probes per process and the overhead budget
 * (probes.h).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attach.h"
#include "budget.h"
#include "calib.h"
#include "core/env.h"
#include "core/kernel.h"
#include "core/probes.h"
#include "util.h"

struct mo_probes {
	const struct mo_env *env;
	struct mo_bpf *bpf;
	char *lib;		/* forced allocator module, or NULL: discover */
	char *prefix;		/* prefix of the allocator's C API, or NULL */
	struct mo_links links;
	struct mo_attach_progs progs;
	struct mo_shedder *shed;
	bool calibrate_pending;	/* the watch tier: at the first escalation */

	/* functions probed by each pid's own links, for the count when
	 * they go (escalations) */
	struct { pid_t pid; unsigned n; } *own;
	size_t nown, capown;
	uint64_t detached;	/* functions of links detached since */

	/* published for other threads */
	pthread_mutex_t lock;
	struct mo_shed_stats shed_stats;
	bool budget;
	uint64_t probes;
	uint64_t failures;
	uint64_t own_exe_skipped;

	dev_t own_dev;		/* memobserver's own executable */
	ino_t own_ino;
};

struct mo_probes *mo_probes_new(const struct mo_env *env, struct mo_bpf *bpf, const char *lib,
				const char *prefix)
{
	struct mo_probes *pr = calloc(1, sizeof(*pr));
	struct stat own;

	if (!pr)
		return NULL;
	pr->env = env;
	pr->bpf = bpf;
	mo_links_init(&pr->links);
	pthread_mutex_init(&pr->lock, NULL);
	if (stat("/proc/self/exe", &own) == 0) {
		pr->own_dev = own.st_dev;
		pr->own_ino = own.st_ino;
	}
	pr->lib = lib ? strdup(lib) : NULL;
	pr->prefix = prefix ? strdup(prefix) : NULL;
	if ((lib && !pr->lib) || (prefix && !pr->prefix)) {
		mo_probes_free(pr);
		errno = ENOMEM;
		return NULL;
	}
	if (bpf)
		mo_bpf_progs(bpf, &pr->progs);
	pr->progs.split = pr->progs.session && env->cfg.max_overhead_bp;
	pr->progs.prefix = pr->prefix;
	pr->shed_stats.duty = 1;
	return pr;
}

void mo_probes_detach(struct mo_probes *pr)
{
	if (pr->shed) {
		struct mo_shed_stats st;

		mo_shedder_stats(pr->shed, &st);
		mo_shedder_free(pr->shed);
		pr->shed = NULL;
		pthread_mutex_lock(&pr->lock);
		pr->shed_stats = st;
		pthread_mutex_unlock(&pr->lock);
	}
	mo_links_release(&pr->links);
}

void mo_probes_free(struct mo_probes *pr)
{
	if (!pr)
		return;
	mo_probes_detach(pr);
	free(pr->lib);
	free(pr->prefix);
	free(pr->own);
	pthread_mutex_destroy(&pr->lock);
	free(pr);
}

static void publish_count(struct mo_probes *pr)
{
	__atomic_store_n(&pr->probes, (uint64_t)pr->links.probes - pr->detached, __ATOMIC_RELAXED);
}

/* The allocator module of pid, unless the user forced one, opened once: it
 * is read and attached through a->fd (a path resolved twice could be
 * swapped in between by the traced side). */
static int allocator_of(struct mo_probes *pr, pid_t pid, const char *exe, struct mo_allocator *a)
{
	if (pr->lib)
		return mo_allocator_open_path(pr->lib, a);
	if (exe)
		return mo_allocator_open_exe(exe, pr->prefix, a);
	return mo_allocator_open(pid, pr->prefix, a);
}

/* Attach a (closed after) with a link for pid (0: every process): the
 * number of functions probed, 0 when attached already, or -errno with
 * err set. */
static int attach(struct mo_probes *pr, struct mo_allocator *a, pid_t pid, char *err,
		  size_t errlen)
{
	int r = mo_links_has(&pr->links, a, pid)
			? 0
			: mo_attach_allocator(&pr->links, &pr->progs, a, pid, err, errlen);

	mo_allocator_close(a);
	if (r < 0)
		mo_stat_add(&pr->failures, 1);
	else if (r > 0)
		publish_count(pr);
	return r;
}

/*
 * a is memobserver's own executable (another memobserver, its allocator
 * linked in): a link for every process on it would trap each of our own
 * allocations too; a link for one pid does not.
 */
static bool own_executable(const struct mo_probes *pr, const struct mo_allocator *a)
{
	return pr->own_ino && a->ino == pr->own_ino && a->dev == pr->own_dev;
}

int mo_probes_attach_shared(struct mo_probes *pr, pid_t pid)
{
	struct mo_allocator a;
	char err[512];
	int r;

	r = allocator_of(pr, pid, NULL, &a);
	if (r == -ECHILD)	/* the parser's warning says why, this one what it cost */
		mo_env_log(pr->env, MO_LOG_WARN, "pid %d: no allocator probes: %s", (int)pid,
			   mo_attach_strerror(r));
	if (r)
		return -ENOENT;
	if (own_executable(pr, &a)) {
		mo_allocator_close(&a);
		if (__atomic_fetch_add(&pr->own_exe_skipped, 1, __ATOMIC_RELAXED) == 0)
			mo_env_log(pr->env, MO_LOG_INFO,
				   "pid %d runs memobserver's own executable: its allocator is "
				   "not probed for every process (that would trap memobserver's "
				   "own allocations)",
				   (int)pid);
		return -ENOENT;
	}
	/* links are compared by file identity: the same library under two
	 * /proc/PID/root paths is one probe target, a container's own libc
	 * another */
	r = attach(pr, &a, 0, err, sizeof(err));
	if (r < 0)
		mo_env_log(pr->env, MO_LOG_WARN, "pid %d: %s", (int)pid, err);
	else if (r > 0)
		mo_env_log(pr->env, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s",
			   (int)pid, r, a.path);
	return r < 0 ? r : r > 0;
}

void mo_probes_attach_own(struct mo_probes *pr, pid_t pid)
{
	struct mo_allocator a;
	char err[512];

	if (!pr->env->heap_probes || allocator_of(pr, pid, NULL, &a))
		return;
	if (attach(pr, &a, pid, err, sizeof(err)) < 0)
		mo_env_log(pr->env, MO_LOG_WARN, "child %d: %s", (int)pid, err);
}

int mo_probes_attach_forced(struct mo_probes *pr)
{
	struct mo_allocator a;
	char err[512];
	int r;

	if (!pr->env->heap_probes || !pr->lib)
		return 0;
	r = allocator_of(pr, 0, NULL, &a);
	if (r) {
		mo_env_log(pr->env, MO_LOG_ERROR, "cannot open allocator library '%s': %s", pr->lib,
			   strerror(-r));
		return r;
	}
	r = attach(pr, &a, 0, err, sizeof(err));
	if (r < 0) {
		mo_env_log(pr->env, MO_LOG_ERROR, "%s", err);
		return r;
	}
	return 1;
}

bool mo_probes_forced(const struct mo_probes *pr)
{
	return pr->lib != NULL;
}

int mo_probes_attach_target(struct mo_probes *pr, pid_t pid, const char *exe, bool own)
{
	struct mo_allocator a;
	char err[512];
	pid_t link_pid = own ? pid : 0;
	int r;

	if (!pr->env->heap_probes)
		return 0;
	r = allocator_of(pr, pid, exe, &a);
	if (r == -EACCES || r == -EPERM) {
		mo_env_log(pr->env, MO_LOG_ERROR,
			   "cannot read the memory maps of pid %d: %s (needs CAP_SYS_PTRACE)",
			   (int)pid, strerror(-r));
		return r;
	}
	if (r == -ECHILD || r == -EAGAIN) {
		mo_env_log(pr->env, MO_LOG_ERROR, "pid %d: cannot choose its allocator: %s",
			   (int)pid, mo_attach_strerror(r));
		return r;
	}
	if (r) {
		mo_env_log(pr->env, MO_LOG_ERROR,
			   "pid %d: no allocator found: neither the program nor a library "
			   "it maps defines malloc",
			   (int)pid);
		return r;
	}
	if (own_executable(pr, &a))
		link_pid = pid;	/* its children are not followed through it */
	r = attach(pr, &a, link_pid, err, sizeof(err));
	if (r < 0) {
		mo_env_log(pr->env, MO_LOG_ERROR, "pid %d: %s", (int)pid, err);
		return r;
	}
	if (r > 0)
		mo_env_log(pr->env, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s%s",
			   (int)pid, r, a.path, pr->progs.session ? " (session uprobes)" : "");
	return 0;
}

/* The budget's cost per probe hit, measured here (calib.h); the defaults
 * stay if it cannot be. */
static void calibrate(struct mo_probes *pr)
{
	double entry, ret;
	int err = mo_calibrate_probe_cost(mo_bpf_calib_enter(pr->bpf), mo_bpf_calib_exit(pr->bpf),
					  &entry, &ret);

	if (err) {
		mo_env_log(pr->env, MO_LOG_WARN,
			   "cannot measure the cost of a probe hit (%s): the budget "
			   "assumes %.0f ns per entry, %.0f ns per return",
			   strerror(-err), MO_COST_ENTRY_NS, MO_COST_RETURN_NS);
		return;
	}
	entry += MO_COST_PROGRAM_NS;
	ret += MO_COST_PROGRAM_NS;
	mo_shedder_set_costs(pr->shed, entry, ret);
	mo_env_log(pr->env, MO_LOG_INFO,
		   "probe hit cost measured: entry %.0f ns, return %.0f ns "
		   "(with %.0f ns of program work each)",
		   entry, ret, MO_COST_PROGRAM_NS);
}

/* pid's allocator for an escalation, opened, or -errno with why set. */
static int escalation_allocator(struct mo_probes *pr, pid_t pid, struct mo_allocator *a,
				char *why, size_t whylen)
{
	int r;

	if (!pr->bpf) {
		snprintf(why, whylen, "no allocator probes can be attached");
		return -EOPNOTSUPP;
	}
	r = allocator_of(pr, pid, NULL, a);
	if (r)
		snprintf(why, whylen, "no allocator found: %s", mo_attach_strerror(r));
	return r;
}

int mo_probes_can_attach_pid(struct mo_probes *pr, pid_t pid, char *why, size_t whylen)
{
	struct mo_allocator a;
	int r = escalation_allocator(pr, pid, &a, why, whylen);

	if (!r)
		mo_allocator_close(&a);
	return r;
}

int mo_probes_attach_pid(struct mo_probes *pr, pid_t pid, char *why, size_t whylen)
{
	struct mo_allocator a;
	int r;

	r = escalation_allocator(pr, pid, &a, why, whylen);
	if (r)
		return r;
	if (pr->calibrate_pending) {	/* set only with a shedder */
		pr->calibrate_pending = false;
		calibrate(pr);
	}
	if (MO_GROW(pr->own, pr->nown + 1, pr->capown)) {
		mo_allocator_close(&a);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	r = attach(pr, &a, pid, why, whylen);
	if (r <= 0)
		return r;
	pr->own[pr->nown].pid = pid;
	pr->own[pr->nown++].n = (unsigned)r;
	snprintf(why, whylen, "%d allocator functions probed in %s for this process only", r,
		 a.path);
	publish_count(pr);
	return r;
}

void mo_probes_detach_pid(struct mo_probes *pr, pid_t pid)
{
	mo_links_release_pid(&pr->links, pid);
	for (size_t i = 0; i < pr->nown; i++) {
		if (pr->own[i].pid == pid) {
			pr->detached += pr->own[i].n;
			pr->own[i--] = pr->own[--pr->nown];
		}
	}
	publish_count(pr);
}

int mo_probes_budget_start(struct mo_probes *pr)
{
	const struct mo_config *cfg = &pr->env->cfg;

	if (!cfg->max_overhead_bp || !(pr->env->heap_probes || pr->env->watch) || !pr->bpf)
		return 0;
	if (!pr->progs.session) {
		mo_env_log(pr->env, MO_LOG_WARN, "--max-overhead needs session uprobes (kernel 6.13+): "
						 "no budget is applied");
		return 0;
	}
	pr->shed = mo_shedder_new(cfg->max_overhead_bp / 10000.0, &pr->links,
				  mo_bpf_procs_fd(pr->bpf), mo_bpf_shed_gen(pr->bpf));
	if (!pr->shed)
		return -ENOMEM;
	/* the watch tier places no allocator probe until an escalation: the
	 * calibration (a second of probe hits) waits for the first one, so a
	 * node that never escalates never pays it */
	if (pr->env->heap_probes)
		calibrate(pr);
	else
		pr->calibrate_pending = true;
	pthread_mutex_lock(&pr->lock);
	pr->budget = true;
	mo_shedder_stats(pr->shed, &pr->shed_stats);
	pthread_mutex_unlock(&pr->lock);
	return 0;
}

void mo_probes_tick(struct mo_probes *pr, uint64_t now)
{
	struct mo_shed_stats st;

	if (!pr->shed)
		return;
	mo_shedder_tick(pr->shed, now);
	mo_shedder_stats(pr->shed, &st);
	pthread_mutex_lock(&pr->lock);
	pr->shed_stats = st;
	pthread_mutex_unlock(&pr->lock);
}

void mo_probes_shed_stats(struct mo_probes *pr, struct mo_shed_stats *st)
{
	pthread_mutex_lock(&pr->lock);
	*st = pr->shed_stats;
	pthread_mutex_unlock(&pr->lock);
}

bool mo_probes_shed_happened(struct mo_probes *pr)
{
	struct mo_shed_stats st;

	if (!pr->env->cfg.max_overhead_bp)
		return false;
	mo_probes_shed_stats(pr, &st);
	return st.shed_ns > 0 || st.duty < 1;
}

uint64_t mo_probes_count(struct mo_probes *pr)
{
	return __atomic_load_n(&pr->probes, __ATOMIC_RELAXED);
}

uint64_t mo_probes_failures(struct mo_probes *pr)
{
	return mo_stat_get(&pr->failures);
}

uint64_t mo_probes_own_exe_skipped(struct mo_probes *pr)
{
	return mo_stat_get(&pr->own_exe_skipped);
}
