// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_records.c - the kernel's records (exec, fork, exit, OOM kill,
 * mappings, new modules) drained from the ring buffer and handled, and the
 * recovery from lost ones: exits found by pid, stale blocks dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "analysis.h"
#include "observer_int.h"
#include "modules.h"
#include "symbolize.h"
#include "traces.h"

/* The OOM killer chose a process: report it with its top findings, taken
 * before the exit record reclaims its blocks. */
static void oom_kill(struct mo_observer *o, const struct mo_record *r)
{
	struct mo_alloc_rec *recs = NULL, *mine;
	struct mo_leak_groups g = { 0 };
	struct mo_event *ev;
	size_t n = 0, m = 0;

	ev = obs_event_new(o, MO_EVENT_KERNEL_PROCESS, "oom_kill", (pid_t)r->pid, r->ts_ns);
	if (!ev)
		return;
	if (!ev->command[0])
		snprintf(ev->command, sizeof(ev->command), "%.16s", r->comm);
	ev->severity = "critical";
	ev->cgroup_id = r->cgroup_id;
	if (obs_snapshot(o, &recs, &n) == 0 && (mine = malloc((n ? n : 1) * sizeof(*mine)))) {
		for (size_t i = 0; i < n; i++)
			if (recs[i].tgid == r->pid)
				mine[m++] = recs[i];
		if (m && mo_analyze(mine, m, r->ts_ns, 0, &g) == 0 && g.nr) {
			const struct mo_stack_trace *tr = obs_trace_of(o, r->pid, g.g[0].stack_id);

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
	obs_emit(o, ev);
}

/*
 * Once a stop has begun no stack will be walked and no probe attached any
 * more: an exec's unwind rows and allocator probes would be wasted work,
 * and under a stream of execs (a parallel build, system-wide) that work
 * kept the worker inside ring_buffer__consume, so a stop never ended.
 */
static bool ending(const struct mo_observer *o)
{
	return obs_stopping(o) || __atomic_load_n(&o->stopped, __ATOMIC_RELAXED);
}

static void process_record(struct mo_observer *o, const struct mo_record *r)
{
	struct procextra *x;
	struct mo_event *ev;
	struct pidinfo *p;

	switch (r->type) {
	case MO_REC_EXIT:
		p = obs_pid_find(o, (pid_t)r->pid);
		if (p) {
			p->alive = false;
			if (!p->comm[0])
				snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
		} else if ((x = obs_extra_of(o, (pid_t)r->pid))) {
			snprintf(x->comm, sizeof(x->comm), "%.16s", r->comm);
		}
		obs_add_pending(o, r, false);
		break;
	case MO_REC_EXEC:
		p = obs_pid_find(o, (pid_t)r->pid);
		if (p)
			snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
		obs_add_pending(o, r, true);
		mo_symbolizer_forget(o->sym, (pid_t)r->pid);
		mo_traces_forget_pid(o->traces, r->pid);
		if (!ending(o)) {
			int lr = mo_modules_load_pid(o->mods, (pid_t)r->pid);

			obs_log(o, MO_LOG_DEBUG, "exec of pid %u: %d new modules (%s)", r->pid, lr, lr < 0 ? strerror(-lr) : "ok");
		}
		mo_symbolizer_prime(o->sym, (pid_t)r->pid);
		/* the new program may bring its own allocator (statically
		 * linked, jemalloc...): attach there too */
		if (o->heap_probes && !ending(o)) {
			p = obs_pid_find(o, (pid_t)r->pid);
			if (o->system_wide || (p && !p->own_link))
				obs_attach_new_allocator(o, (pid_t)r->pid);
			else if (p)
				obs_attach_child(o, (pid_t)r->pid);
		}
		ev = obs_event_new(o, MO_EVENT_KERNEL_PROCESS, "exec", (pid_t)r->pid, r->ts_ns);
		obs_emit(o, ev);
		break;
	case MO_REC_FORK:
		if (!o->system_wide) {
			struct pidinfo *parent = obs_pid_find(o, (pid_t)r->pid);
			unsigned pflags = parent ? parent->flags : 0;
			bool plink = parent && parent->own_link;

			/* obs_pid_add may move the array: parent is not used after */
			p = obs_pid_add(o, (pid_t)r->other_pid, pflags);
			mo_symbolizer_prime(o->sym, (pid_t)r->other_pid);
			obs_container_of(o, (pid_t)r->other_pid);
			if (p && !p->comm[0])
				snprintf(p->comm, sizeof(p->comm), "%.16s", r->comm);
			if (p && plink && !ending(o)) {
				p->own_link = true;
				obs_attach_child(o, (pid_t)r->other_pid);
			}
		} else {
			/* read while the child surely runs (see MO_REC_SEEN) */
			obs_container_of(o, (pid_t)r->other_pid);
		}
		ev = obs_event_new(o, MO_EVENT_KERNEL_PROCESS, "fork", (pid_t)r->pid, r->ts_ns);
		if (ev) {
			ev->address = r->other_pid;
			obs_emit(o, ev);
		}
		break;
	case MO_REC_OOM_KILL:
		oom_kill(o, r);
		break;
	case MO_REC_SEEN:
		/* its container, while it runs; its name, for after */
		obs_container_of(o, (pid_t)r->pid);
		if ((x = obs_extra_of(o, (pid_t)r->pid)) && !x->comm[0])
			snprintf(x->comm, sizeof(x->comm), "%.16s", r->comm);
		break;
	case MO_REC_MMAP:
	case MO_REC_MUNMAP:
	case MO_REC_LARGE_MMAP:
	case MO_REC_LARGE_HEAP:
		ev = obs_event_new(o,
				   r->type == MO_REC_LARGE_HEAP ? MO_EVENT_MEMORY_PRESSURE
								: MO_EVENT_KERNEL_FS,
				   r->type == MO_REC_MMAP     ? "mmap"
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
			const struct mo_stack_trace *tr = obs_trace_of(o, r->pid, r->stack_id);
			struct mo_trace_entry *te = mo_traces_get(o->traces, r->pid, r->stack_id);

			if (te && te->runtime) {
				/* the loader mapping a library: not the program's doing */
				mo_event_free(ev);
				break;
			}
			if (tr)
				mo_trace_copy(&ev->stack, tr);
		}
		obs_emit(o, ev);
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
int obs_handle_record(void *ctx, void *data, size_t size)
{
	struct mo_observer *o = ctx;
	const struct mo_record *r = data;

	if (size < sizeof(*r))
		return 0;
	if (r->type == MO_REC_EXEC || r->type == MO_REC_FORK || r->type == MO_REC_EXIT ||
	    r->type == MO_REC_SEEN) {
		process_record(o, r);
		return 0;
	}
	if (obs_grow((void **)&o->deferred, &o->capdeferred, o->ndeferred + 1,
		     sizeof(*o->deferred))) {
		process_record(o, r);	/* no room to wait: handle it now */
		return 0;
	}
	o->deferred[o->ndeferred++] = *r;
	return 0;
}

/* Drain the ring buffer, then the deferred records, draining the ring
 * buffer again every few so new execs are never stuck behind them. */
void obs_consume_records(struct mo_observer *o)
{
	size_t i;

	ring_buffer__consume(o->rb);
	for (i = 0; i < o->ndeferred && !obs_stopping(o); i++) {
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
			       .ts_ns = obs_clock_ns(CLOCK_BOOTTIME), .gen = gen };

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

	if (!nmarks || obs_snapshot(o, &recs, &n))
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

void obs_recover_lost_records(struct mo_observer *o, uint64_t now)
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
	drops = obs_counter_value(o, MO_C_DROP_RINGBUF_FULL);
	if (drops != o->ringbuf_drops_seen) {
		o->ringbuf_drops_seen = drops;
		o->last_loss_ns = now;
	}
	if (!o->last_loss_ns || now - o->last_loss_ns > RECOVER_WINDOW_NS)
		return;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ps) || obs_pending_exit(o, key))
			continue;
		if (group_gone((pid_t)key))
			synth_exit(o, key, ps.gen);
		else if (ps.exec_ts_ns &&
			 !obs_grow((void **)&marks, &cap, nmarks + 1, sizeof(*marks)))
			marks[nmarks++] = (struct exec_mark){ key, ps.gen, ps.exec_ts_ns };
	}
	for (size_t i = 0; i < o->npids; i++) {
		struct pidinfo *p = &o->pids[i];

		if (p->alive && !obs_pending_exit(o, (uint32_t)p->pid) && group_gone(p->pid))
			synth_exit(o, (uint32_t)p->pid, 0);
	}
	drop_stale_blocks(o, marks, nmarks);
	free(marks);
}
