// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* resident.c - resident memory, growth findings, OOM risk (resident.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/findings.h"
#include "core/kernel.h"
#include "core/proctab.h"
#include "core/resident.h"
#include "pattern.h"
#include "procrss.h"
#include "rsswatch.h"
#include "sinks/metrics.h"
#include "util.h"

#define RSS_PERIOD_NS MO_NSEC		/* RSS sampling period */
#define RSS_WINDOW_NS (60 * MO_NSEC)	/* growth is measured over this window */
#define RSS_CHECK_NS (10 * MO_NSEC)	/* cross-check with /proc this often per process */
#define RSS_SCAN_NS (5 * MO_NSEC)	/* system-wide without rss_stat: /proc scan period */
#define RSS_TOLERANCE (1ULL << 20)	/* rss_stat and /proc agree within 1 MiB or 5 % */
#define OOM_HORIZON_S 300.0		/* predictions further out are not reported */
#define OOM_REPEAT_NS (10 * MO_NSEC)	/* at most one oom_risk per process per 10 s */
#define MAX_GROWTH_NAMES 1024		/* (command, severity) pairs counted apart */

struct mo_resident {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_findings *f;
	struct mo_rss_rule rule;	/* the configured growth threshold */
	struct mo_rss_rule cgrule;	/* cgroup usage: series only, no findings */
	bool from_proc;
	uint64_t last_ns;
	uint64_t last_scan_ns;
	uint64_t checks[2];		/* agreed, disagreed: any thread reads */
	uint64_t proc_reads;

	pthread_mutex_t lock;		/* growth counts, read by the metrics */
	struct mo_rss_growth_metric *growth;
	size_t ngrowth, capgrowth;
};

struct mo_resident *mo_resident_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_findings *f, bool from_proc)
{
	struct mo_resident *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->env = env;
	rs->k = k;
	rs->pt = pt;
	rs->f = f;
	rs->from_proc = from_proc;
	rs->rule = (struct mo_rss_rule){ env->cfg.rss_growth_threshold, RSS_WINDOW_NS };
	rs->cgrule = (struct mo_rss_rule){ UINT64_MAX, RSS_WINDOW_NS };
	pthread_mutex_init(&rs->lock, NULL);
	return rs;
}

void mo_resident_free(struct mo_resident *rs)
{
	if (!rs)
		return;
	free(rs->growth);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static void count_growth(struct mo_resident *rs, const char *comm, const char *severity)
{
	struct mo_rss_growth_metric *m = NULL;

	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < rs->ngrowth && !m; i++)
		if (rs->growth[i].severity == severity && !strcmp(rs->growth[i].command, comm))
			m = &rs->growth[i];
	/* beyond the cap, names share one entry: the count stays complete */
	if (!m && rs->ngrowth >= MAX_GROWTH_NAMES)
		for (size_t i = 0; i < rs->ngrowth && !m; i++)
			if (rs->growth[i].severity == severity &&
			    !strcmp(rs->growth[i].command, "__other__"))
				m = &rs->growth[i];
	if (!m && !MO_GROW(rs->growth, rs->ngrowth + 1, rs->capgrowth)) {
		m = &rs->growth[rs->ngrowth++];
		memset(m, 0, sizeof(*m));
		snprintf(m->command, sizeof(m->command), "%s",
			 rs->ngrowth > MAX_GROWTH_NAMES ? "__other__" : comm);
		m->severity = severity;
	}
	if (m)
		m->count++;
	pthread_mutex_unlock(&rs->lock);
}

int mo_resident_growth_counts(struct mo_resident *rs, struct mo_rss_growth_metric **out,
			      size_t *n)
{
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	*out = malloc((rs->ngrowth ? rs->ngrowth : 1) * sizeof(**out));
	if (*out) {
		if (rs->ngrowth)
			memcpy(*out, rs->growth, rs->ngrowth * sizeof(**out));
		*n = rs->ngrowth;
	} else {
		err = -ENOMEM;
	}
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* The cgroup directory that limits pid's memory (v1 memory controller, else
 * v2), and that limit; MemTotal when none applies. */
static void memory_limit_of(struct mo_proc *x)
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
			const char *root =
				faccessat(AT_FDCWD, "/sys/fs/cgroup/unified", F_OK, AT_EACCESS) == 0
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
static uint64_t cgroup_usage(const struct mo_proc *x)
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

static void predict_oom(struct mo_resident *rs, struct mo_proc *x, uint64_t now, uint64_t rss)
{
	struct mo_usage_point pts[60];
	struct mo_rss_finding unused;
	struct mo_rss_series *w = x->rss;
	uint64_t usage = rss;
	struct mo_event *ev;
	size_t n;
	double secs;

	/* only a process whose memory is growing can be heading for OOM: look
	 * at its RSS trend before the (file-reading) limit discovery */
	n = mo_rss_series_points(x->rss, pts, 60);
	if (n < 5 || pts[n - 1].bytes <= pts[0].bytes)
		return;
	if (!x->limit_known)
		memory_limit_of(x);
	if (!x->limit)
		return;
	/* inside a limited cgroup, the cgroup's usage is what the limit counts */
	if (x->memdir[0] && (usage = cgroup_usage(x))) {
		if (!x->cgrss && !(x->cgrss = mo_rss_series_new()))
			return;
		w = x->cgrss;
		mo_rss_series_sample(w, &rs->cgrule, now, usage, &unused);
	} else {
		usage = rss;
	}
	n = mo_rss_series_points(w, pts, 60);
	if (n < 5)
		return;
	secs = mo_predict_oom_seconds(pts, n, x->limit);
	if (secs < 0 || secs > OOM_HORIZON_S)
		return;
	if (x->last_oom_ns && now - x->last_oom_ns < OOM_REPEAT_NS)
		return;
	x->last_oom_ns = now;
	ev = mo_findings_event(rs->f, MO_EVENT_MEMORY_PRESSURE, "oom_risk", x->pid, now);
	if (!ev)
		return;
	ev->severity = secs < 60 ? "critical" : "warning";
	ev->predicted_oom_seconds = secs;
	ev->limit_bytes = x->limit;
	ev->rss_bytes = usage;
	ev->window_seconds = (double)(pts[n - 1].t_ns - pts[0].t_ns) / 1e9;
	if (n >= 2 && ev->window_seconds > 0)
		ev->growth_bytes_per_s =
			((double)pts[n - 1].bytes - (double)pts[0].bytes) / ev->window_seconds;
	mo_findings_emit(rs->f, ev);
}

/* One RSS sample of a process: growth findings and OOM risk. */
static void sample(struct mo_resident *rs, pid_t pid, uint64_t now, uint64_t bytes)
{
	struct mo_proc *x = mo_proctab_get(rs->pt, pid);
	struct mo_rss_finding f;
	struct mo_event *ev;

	if (!x || (!x->rss && !(x->rss = mo_rss_series_new())))
		return;
	if (mo_rss_series_sample(x->rss, &rs->rule, now, bytes, &f) == 1 &&
	    (ev = mo_findings_event(rs->f, MO_EVENT_KERNEL_PROCESS, "rss_growth", pid, now))) {
		ev->severity = f.severity;
		ev->rss_bytes = f.rss;
		ev->growth_bytes = f.growth;
		ev->size_bytes = f.growth;
		ev->window_seconds = f.window_s;
		ev->growth_bytes_per_s = f.rate;
		count_growth(rs, ev->command, f.severity);
		mo_findings_emit(rs->f, ev);
	}
	predict_oom(rs, x, now, bytes);
}

/* /proc's view of pid, read at most every RSS_CHECK_NS (force: now). NULL
 * when the process is gone or /proc cannot be read. */
static const struct mo_proc_rss *proc_rss(struct mo_resident *rs, pid_t pid, uint64_t now,
					  bool force, bool *fresh)
{
	struct mo_proc *x = mo_proctab_get(rs->pt, pid);

	*fresh = false;
	if (!x)
		return NULL;
	if (x->rss_checked_ns && !force && now - x->rss_checked_ns < RSS_CHECK_NS)
		return &x->proc_rss;
	mo_stat_add(&rs->proc_reads, 1);
	if (mo_proc_rss_read(pid, &x->proc_rss))
		return NULL;
	x->rss_checked_ns = now;
	*fresh = true;
	return &x->proc_rss;
}

/*
 * rss_stat's view, completed and checked by /proc: a counter that has not
 * changed since attach was never reported by the tracepoint, so /proc gives
 * it; every RSS_CHECK_NS the sum is compared with /proc, and /proc wins a
 * disagreement (the BPF map entry may have missed updates).
 */
static uint64_t rss_checked(struct mo_resident *rs, pid_t pid, const struct mo_rss *r,
			    uint64_t now)
{
	uint64_t v[4] = { r->file, r->anon, r->swap, r->shmem }, bytes, pb, diff;
	const struct mo_proc_rss *p;
	bool fresh;

	p = proc_rss(rs, pid, now, false, &fresh);
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
		mo_stat_add(&rs->checks[0], 1);
		return bytes;
	}
	mo_stat_add(&rs->checks[1], 1);
	mo_env_log(rs->env, MO_LOG_DEBUG, "pid %d: rss_stat says %" PRIu64 " bytes, /proc %" PRIu64,
		   (int)pid, bytes, pb);
	return pb;
}

static bool exit_pending(struct mo_resident *rs, pid_t pid)
{
	struct mo_proc *p = mo_proctab_find(rs->pt, pid);

	return p && p->exit_pending;
}

/* Without rss_stat: the observed processes (all of them, every
 * RSS_SCAN_NS, system-wide) sampled from /proc. */
static void from_proc(struct mo_resident *rs, uint64_t now)
{
	const struct mo_proc_rss *p;
	struct dirent *de;
	bool fresh;
	DIR *d;

	if (!rs->env->system_wide) {
		pid_t *pids = NULL;
		size_t n = 0;

		if (mo_proctab_targets(rs->pt, &pids, &n))
			return;
		for (size_t i = 0; i < n; i++) {
			struct mo_proc *x = mo_proctab_find(rs->pt, pids[i]);

			if (!x || !x->alive || x->exit_pending)
				continue;
			if ((p = proc_rss(rs, pids[i], now, true, &fresh)))
				sample(rs, pids[i], now, mo_proc_rss_total(p));
		}
		free(pids);
		return;
	}
	if (now - rs->last_scan_ns < RSS_SCAN_NS)
		return;
	rs->last_scan_ns = now;
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		struct mo_proc_rss r;

		if (*end || pid <= 0 || pid == getpid() || exit_pending(rs, (pid_t)pid))
			continue;
		mo_stat_add(&rs->proc_reads, 1);
		/* kernel threads have no Rss lines and are skipped */
		if (mo_proc_rss_read((pid_t)pid, &r) == 0)
			sample(rs, (pid_t)pid, now, mo_proc_rss_total(&r));
	}
	if (d)
		closedir(d);
}

void mo_resident_tick(struct mo_resident *rs, uint64_t now)
{
	struct mo_krss *all = NULL;
	size_t n = 0;

	if (now - rs->last_ns < RSS_PERIOD_NS)
		return;
	rs->last_ns = now;
	if (rs->from_proc) {
		from_proc(rs, now);
		return;
	}
	if (mo_kernel_rss_all(rs->k, &all, &n))
		return;
	for (size_t i = 0; i < n && !mo_env_stopping(rs->env); i++) {
		pid_t pid = (pid_t)all[i].pid;

		if (exit_pending(rs, pid))
			continue;
		sample(rs, pid, now, rss_checked(rs, pid, &all[i].rss, now));
	}
	free(all);
}

uint64_t mo_resident_now(struct mo_resident *rs, pid_t pid)
{
	struct mo_proc *p = mo_proctab_find(rs->pt, pid);

	return p ? mo_rss_series_last(p->rss) : 0;
}

void mo_resident_stats(const struct mo_resident *rs, struct mo_resident_stats *out)
{
	out->from_proc = rs->from_proc;
	out->checks_agreed = mo_stat_get(&rs->checks[0]);
	out->checks_disagreed = mo_stat_get(&rs->checks[1]);
	out->proc_reads = mo_stat_get(&rs->proc_reads);
}
