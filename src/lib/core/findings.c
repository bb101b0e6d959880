// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* findings.c - events and leak findings (findings.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/types.h>

#include "abi.h"
#include "core/env.h"
#include "core/findings.h"
#include "core/kernel.h"
#include "core/probes.h"
#include "core/proctab.h"
#include "core/reachability.h"
#include "core/stacks.h"
#include "pattern.h"
#include "queue.h"
#include "traces.h"
#include "util.h"

struct mo_findings {
	const struct mo_env *env;
	const struct mo_kernel *k;
	struct mo_proctab *pt;
	struct mo_stacks *st;
	struct mo_probes *pr;
	struct mo_queue *q;
	struct mo_reach_stage *rc;	/* reachability verdicts, or NULL */
	uint64_t emitted;
};

struct mo_findings *mo_findings_new(const struct mo_env *env, const struct mo_kernel *k,
				    struct mo_proctab *pt, struct mo_stacks *st,
				    struct mo_probes *pr, struct mo_queue *q)
{
	struct mo_findings *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->env = env;
	f->k = k;
	f->pt = pt;
	f->st = st;
	f->pr = pr;
	f->q = q;
	return f;
}

void mo_findings_free(struct mo_findings *f)
{
	free(f);
}

void mo_findings_set_reach(struct mo_findings *f, struct mo_reach_stage *rc)
{
	f->rc = rc;
}

void mo_findings_comm(struct mo_findings *f, pid_t pid, char *buf, size_t len)
{
	struct mo_proc *p = mo_proctab_find(f->pt, pid);
	struct mo_proc_stats ps;

	if (p && p->comm[0] && (p->target || p->exit_pending)) {
		snprintf(buf, len, "%s", p->comm);
		return;
	}
	mo_read_comm(pid, buf, len);
	if (!buf[0] && p)
		snprintf(buf, len, "%s", p->comm);
	/* gone, its fork and exit records lost: a child that did not exec
	 * carries the name its parent had */
	if (!buf[0] && !mo_kernel_proc(f->k, (uint32_t)pid, &ps) && ps.ppid &&
	    ps.ppid != (uint32_t)pid && !ps.exec_ts_ns &&
	    (p = mo_proctab_find(f->pt, (pid_t)ps.ppid)) && p->target)
		mo_findings_comm(f, (pid_t)ps.ppid, buf, len);
}

/* The Kubernetes names into an event's or a leak's fields (sized alike). */
static void k8s_copy(const struct mo_k8s_names *n, char ns[MO_K8S_LABEL_MAX + 1],
		     char pod[MO_K8S_SUBDOMAIN_MAX + 1], char ctr[MO_K8S_LABEL_MAX + 1])
{
	snprintf(ns, MO_K8S_LABEL_MAX + 1, "%s", n->ns);
	snprintf(pod, MO_K8S_SUBDOMAIN_MAX + 1, "%s", n->pod);
	snprintf(ctr, MO_K8S_LABEL_MAX + 1, "%s", n->container);
}

struct mo_event *mo_findings_event(struct mo_findings *f, enum mo_event_type type,
				   const char *kind, pid_t pid, uint64_t boot_ts)
{
	struct mo_event *ev = calloc(1, sizeof(*ev));
	const struct mo_container *c;

	if (!ev)
		return NULL;
	ev->type = type;
	ev->kind = kind;
	ev->pid = pid;
	ev->timestamp_ns = boot_ts ? mo_env_realtime(f->env, boot_ts) : mo_clock_ns(CLOCK_REALTIME);
	ev->predicted_oom_seconds = -1;
	mo_findings_comm(f, pid, ev->command, sizeof(ev->command));
	c = mo_proctab_container(f->pt, pid);
	if (c) {
		snprintf(ev->container_id, sizeof(ev->container_id), "%s", c->id);
		snprintf(ev->pod_uid, sizeof(ev->pod_uid), "%s", c->pod_uid);
		snprintf(ev->cgroup, sizeof(ev->cgroup), "%s", c->cgroup);
		k8s_copy(&c->k8s, ev->k8s_namespace, ev->k8s_pod, ev->k8s_container);
	}
	return ev;
}

void mo_event_free(struct mo_event *ev)
{
	if (!ev)
		return;
	mo_trace_release(&ev->stack);
	free(ev);
}

void mo_findings_emit(struct mo_findings *f, struct mo_event *ev)
{
	if (!ev)
		return;
	if (mo_queue_push(f->q, ev)) {
		mo_event_free(ev);
		return;
	}
	mo_stat_add(&f->emitted, 1);
}

void mo_findings_fill_container(struct mo_findings *f, struct mo_leak *l)
{
	const struct mo_container *c = mo_proctab_container(f->pt, l->pid);

	if (!c)
		return;
	snprintf(l->container_id, sizeof(l->container_id), "%s", c->id);
	snprintf(l->pod_uid, sizeof(l->pod_uid), "%s", c->pod_uid);
	k8s_copy(&c->k8s, l->k8s_namespace, l->k8s_pod, l->k8s_container);
}

void mo_findings_fill_leak(struct mo_findings *f, struct mo_leak *l,
			   const struct mo_leak_group *g, uint64_t now_boot)
{
	const struct mo_stack_trace *tr = mo_stacks_trace(f->st, g->tgid, g->stack_id);
	struct mo_trace_entry *e;
	struct mo_stack_stats ss;
	struct mo_verdict v;

	memset(l, 0, sizeof(*l));
	l->pid = (pid_t)g->tgid;
	l->tier = "precise";	/* the allocation table: allocator probes saw it */
	mo_findings_comm(f, l->pid, l->command, sizeof(l->command));
	l->unfreed_bytes = g->unfreed_bytes;
	l->count = g->count;
	l->oldest_age_ns = now_boot > g->oldest_ts_ns ? now_boot - g->oldest_ts_ns : 0;
	l->largest = g->largest;
	/* sampled, or seen only while the budget kept the probes attached */
	l->estimate = g->estimate || (f->pr && mo_probes_shed_happened(f->pr));
	if (tr)
		mo_trace_copy(&l->stack, tr);
	l->stack.id = g->stack_id;
	mo_findings_fill_container(f, l);
	if (g->stack_id && !mo_kernel_stack_stats(f->k, g->tgid, g->stack_id, &ss)) {
		/* what the tracked allocations stand for, weighted by the
		 * kernel as the in-use totals are (sampling) */
		if (f->env->cfg.sampling_rate > 1 || f->env->cfg.sample_bytes) {
			l->alloc_count = ss.est_allocs / MO_WEIGHT_ONE +
					 (ss.est_allocs % MO_WEIGHT_ONE >= MO_WEIGHT_ONE / 2);
			l->alloc_bytes = ss.est_alloc_bytes;
		} else {
			l->alloc_count = ss.allocs;
			l->alloc_bytes = ss.alloc_bytes;
		}
	}
	e = mo_stacks_entry(f->st, g->tgid, g->stack_id);
	mo_stacks_classify(e, &v);
	l->pattern = mo_pattern_name(v.pattern);
	l->growth_bytes_per_s = v.growth_bytes_per_s;
	l->confidence = v.confidence;
	l->severity = v.pattern == MO_PATTERN_GROWING || v.pattern == MO_PATTERN_FRAGMENTATION
			      ? "warning"
			      : "info";
	l->kind = "leak";
	if (g->stack_id && mo_reachability_get(f->rc, g->tgid, g->stack_id, now_boot, &l->reach)) {
		/* a block nobody points to is a leak whatever its history; a
		 * plateau every block of which is pointed to is kept on purpose */
		if (mo_reach_lost(&l->reach))
			l->severity = "warning";
		else if (v.pattern == MO_PATTERN_PLATEAU && !strcmp(l->reach.verdict, "reachable"))
			l->kind = "plateau";
	}
}

bool mo_findings_reach_news(struct mo_findings *f, uint32_t pid, uint64_t stack_id)
{
	return mo_reachability_announce(f->rc, pid, stack_id);
}

bool mo_reach_lost(const struct mo_reachability *r)
{
	return r->verdict && (!strcmp(r->verdict, "definitely_lost") ||
			      !strcmp(r->verdict, "indirectly_lost"));
}

struct mo_event *mo_findings_leak_event(struct mo_findings *f, const struct mo_leak *l,
					const char *severity, bool final)
{
	struct mo_event *ev = mo_findings_event(f, MO_EVENT_MEMORY_PRESSURE, "leak", l->pid, 0);

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
	ev->tier = l->tier;
	ev->reach = l->reach;
	if (mo_trace_copy(&ev->stack, &l->stack)) {
		mo_event_free(ev);
		return NULL;
	}
	return ev;
}

void mo_findings_map_record(void *ctx, const struct mo_record *r)
{
	struct mo_findings *f = ctx;
	bool large = r->type == MO_REC_LARGE_HEAP || r->type == MO_REC_LARGE_MMAP;
	struct mo_event *ev;

	ev = mo_findings_event(f, r->type == MO_REC_LARGE_HEAP ? MO_EVENT_MEMORY_PRESSURE
							       : MO_EVENT_KERNEL_FS,
			       r->type == MO_REC_MMAP	  ? "mmap"
			       : r->type == MO_REC_MUNMAP ? "munmap"
							  : "large_allocation",
			       (pid_t)r->pid, r->ts_ns);
	if (!ev)
		return;
	if (large)
		ev->severity = "warning";
	if (!ev->command[0])
		snprintf(ev->command, sizeof(ev->command), "%.16s", r->comm);
	ev->address = r->addr;
	ev->size_bytes = r->len;
	ev->cgroup_id = r->cgroup_id;
	if (r->stack_id) {
		const struct mo_stack_trace *tr = mo_stacks_trace(f->st, r->pid, r->stack_id);
		struct mo_trace_entry *te = mo_stacks_entry(f->st, r->pid, r->stack_id);

		if (te && te->runtime) {
			/* the loader mapping a library: not the program's doing */
			mo_event_free(ev);
			return;
		}
		if (tr)
			mo_trace_copy(&ev->stack, tr);
	}
	mo_findings_emit(f, ev);
}

void mo_findings_scan_event(void *ctx, const struct mo_reach_summary *s)
{
	struct mo_findings *f = ctx;
	struct mo_event *ev = mo_findings_event(f, MO_EVENT_KERNEL_PROCESS, "reachability_scan",
						s->pid, 0);
	uint64_t blocks = 0, bytes = 0;

	if (!ev)
		return;
	for (int c = 0; c < MO_REACH_NR_CLASSES; c++) {
		blocks += s->blocks[c];
		bytes += s->bytes[c];
	}
	mo_reachability_of_summary(s, &ev->reach);
	ev->reach.scan_pause_ns = s->pause_ns;
	ev->reach.scan_cpu_ns = s->cpu_ns;
	ev->reach.scan_bytes = s->bytes_scanned;
	ev->severity = mo_reach_lost(&ev->reach) ? "warning" : "info";
	ev->count = blocks;
	ev->size_bytes = bytes;
	snprintf(ev->detail, sizeof(ev->detail),
		 "%s scan (%s) of %" PRIu64 " blocks: %" PRIu64 " definitely lost, %" PRIu64
		 " indirectly lost, %" PRIu64 " reachable, %" PRIu64 " unknown%s%s",
		 mo_scan_mode_name(s->mode), s->trigger, blocks, s->blocks[MO_REACH_DEFINITELY_LOST],
		 s->blocks[MO_REACH_INDIRECTLY_LOST], s->blocks[MO_REACH_REACHABLE],
		 s->blocks[MO_REACH_UNKNOWN], s->why ? ": " : "",
		 s->why ? mo_reach_why_name(s->why) : "");
	mo_findings_emit(f, ev);
}

uint64_t mo_findings_emitted(const struct mo_findings *f)
{
	return mo_stat_get(&f->emitted);
}
