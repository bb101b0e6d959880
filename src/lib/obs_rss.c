// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_rss.c - resident memory: every observed process sampled once a second
 * (kmem:rss_stat checked against /proc, or /proc alone), rss_growth
 * findings, and OOM prediction against the memory limit that applies.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "memobserver.h"
#include "abi.h"
#include "observer_int.h"
#include "pattern.h"
#include "rsswatch.h"
#include "procrss.h"

#define RSS_CHECK_NS (10 * NSEC)	/* cross-check with /proc this often per process */
#define RSS_SCAN_NS (5 * NSEC)		/* system-wide without rss_stat: /proc scan period */
#define RSS_TOLERANCE (1ULL << 20)	/* rss_stat and /proc agree within 1 MiB or 5 % */
#define OOM_HORIZON_S 300.0		/* predictions further out are not reported */
#define OOM_REPEAT_NS (10 * NSEC)	/* at most one oom_risk per process per 10 s */

static void count_rss_growth(struct mo_observer *o, const char *comm, const char *severity)
{
	for (size_t i = 0; i < o->nrssm; i++) {
		if (o->rssm[i].severity == severity && !strcmp(o->rssm[i].command, comm)) {
			o->rssm[i].count++;
			return;
		}
	}
	if (obs_grow((void **)&o->rssm, &o->caprssm, o->nrssm + 1, sizeof(*o->rssm)))
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
	struct procextra *x = obs_extra_of(o, pid);
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
	ev = obs_event_new(o, MO_EVENT_MEMORY_PRESSURE, "oom_risk", pid, now);
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
	obs_emit(o, ev);
}

/* One RSS sample of a process: growth findings and OOM risk. */
static void rss_sample(struct mo_observer *o, pid_t pid, uint64_t now, uint64_t bytes)
{
	struct mo_rss_finding f;

	if (mo_rsswatch_sample(o->rssw, pid, now, bytes, &f) == 1) {
		struct mo_event *ev = obs_event_new(o, MO_EVENT_KERNEL_PROCESS, "rss_growth",
						    pid, now);

		if (ev) {
			ev->severity = f.severity;
			ev->rss_bytes = f.rss;
			ev->growth_bytes = f.growth;
			ev->size_bytes = f.growth;
			ev->window_seconds = f.window_s;
			ev->growth_bytes_per_s = f.rate;
			count_rss_growth(o, ev->command, f.severity);
			obs_emit(o, ev);
		}
	}
	predict_oom(o, pid, now, bytes);
}

/* /proc's view of pid, read at most every RSS_CHECK_NS (force: now). NULL
 * when the process is gone or /proc cannot be read. */
static const struct mo_proc_rss *proc_rss(struct mo_observer *o, pid_t pid, uint64_t now,
					  bool force, bool *fresh)
{
	struct procextra *x = obs_extra_of(o, pid);

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
	obs_log(o, MO_LOG_DEBUG, "pid %d: rss_stat says %" PRIu64 " bytes, /proc %" PRIu64,
		(int)pid, bytes, pb);
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

			if (!o->pids[i].alive || obs_pending_exit(o, (uint32_t)pid))
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

		if (*end || pid <= 0 || pid == getpid() || obs_pending_exit(o, (uint32_t)pid))
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
void obs_rss_tick(struct mo_observer *o)
{
	int fd = bpf_map__fd(o->skel->maps.rss);
	uint64_t now = obs_clock_ns(CLOCK_BOOTTIME);
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
		if (bpf_map_lookup_elem(fd, &key, &r) || obs_pending_exit(o, key))
			continue;
		rss_sample(o, (pid_t)key, now, rss_checked(o, (pid_t)key, &r, now));
	}
}
