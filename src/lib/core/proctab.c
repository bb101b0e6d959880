// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proctab.c - the process table (proctab.h): open addressing on pid with
 * tombstones, entries allocated one by one so pointers to them stay valid
 * while the table grows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proctab.h"
#include "perfmap.h"
#include "traces.h"
#include "util.h"

#define TOMB ((struct mo_proc *)1)

struct mo_proctab {
	pthread_mutex_t lock;
	struct mo_proc **slot;
	size_t cap;		/* power of two */
	size_t used;		/* live + tombstones */
	size_t live;
	size_t ntargets;
	size_t targets_alive;
	size_t targets_pending;	/* targets whose exit is not reclaimed yet */
	struct mo_k8snames *k8s;	/* NULL: no Kubernetes names */
};

static size_t hash(pid_t pid)
{
	uint64_t h = (uint64_t)(uint32_t)pid * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 29));
}

struct mo_proctab *mo_proctab_new(void)
{
	struct mo_proctab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cap = 64;
	t->slot = calloc(t->cap, sizeof(*t->slot));
	if (!t->slot) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void proc_free(struct mo_proc *p)
{
	free(p->exe);
	mo_rss_series_free(p->rss);
	mo_rss_series_free(p->cgrss);
	mo_traces_free(p->traces);
	if (p->jit)
		mo_perfmap_release(p->jit);
	free(p->jit);
	free(p);
}

void mo_proctab_free(struct mo_proctab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i] && t->slot[i] != TOMB)
			proc_free(t->slot[i]);
	free(t->slot);
	mo_k8snames_free(t->k8s);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static size_t probe(const struct mo_proctab *t, pid_t pid, size_t *free_slot)
{
	size_t i = hash(pid) & (t->cap - 1), tomb = (size_t)-1;

	while (t->slot[i]) {
		if (t->slot[i] == TOMB) {
			if (tomb == (size_t)-1)
				tomb = i;
		} else if (t->slot[i]->pid == pid) {
			return i;
		}
		i = (i + 1) & (t->cap - 1);
	}
	if (free_slot)
		*free_slot = tomb != (size_t)-1 ? tomb : i;
	return (size_t)-1;
}

struct mo_proc *mo_proctab_find(struct mo_proctab *t, pid_t pid)
{
	size_t i = probe(t, pid, NULL);

	return i == (size_t)-1 ? NULL : t->slot[i];
}

/* Rehash into a table sized for the live entries; under the lock. */
static int rehash(struct mo_proctab *t)
{
	size_t cap = 64;
	struct mo_proc **s;

	while (cap < t->live * 4)
		cap *= 2;
	s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->slot[i] || t->slot[i] == TOMB)
			continue;
		j = hash(t->slot[i]->pid) & (cap - 1);
		while (s[j])
			j = (j + 1) & (cap - 1);
		s[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = s;
	t->cap = cap;
	t->used = t->live;
	return 0;
}

struct mo_proc *mo_proctab_get(struct mo_proctab *t, pid_t pid)
{
	struct mo_proc *p = mo_proctab_find(t, pid);
	size_t i;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	pthread_mutex_lock(&t->lock);
	if ((t->used + 1) * 4 > t->cap * 3 && rehash(t)) {
		pthread_mutex_unlock(&t->lock);
		free(p);
		return NULL;
	}
	probe(t, pid, &i);
	if (!t->slot[i])
		t->used++;
	t->slot[i] = p;
	t->live++;
	pthread_mutex_unlock(&t->lock);
	return p;
}

void mo_proctab_remove(struct mo_proctab *t, pid_t pid)
{
	size_t i = probe(t, pid, NULL);
	struct mo_proc *p;

	if (i == (size_t)-1)
		return;
	p = t->slot[i];
	pthread_mutex_lock(&t->lock);
	t->slot[i] = TOMB;
	t->live--;
	if (p->target) {
		t->ntargets--;
		t->targets_alive -= p->alive;
		t->targets_pending -= p->exit_pending;
	}
	pthread_mutex_unlock(&t->lock);
	proc_free(p);
}

void mo_read_comm(pid_t pid, char *buf, size_t len)
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

struct mo_proc *mo_proctab_add_target(struct mo_proctab *t, pid_t pid, unsigned flags)
{
	struct mo_proc *p = mo_proctab_get(t, pid);
	char comm[64];

	if (!p)
		return NULL;
	if (!p->comm[0]) {
		mo_read_comm(pid, comm, sizeof(comm));
		mo_proctab_set_comm(t, p, comm, sizeof(comm));
	}
	pthread_mutex_lock(&t->lock);
	if (!p->target) {
		p->target = true;
		t->ntargets++;
		t->targets_pending += p->exit_pending;
	}
	if (!p->alive)
		t->targets_alive++;
	p->alive = true;
	p->flags |= flags;
	pthread_mutex_unlock(&t->lock);
	return p;
}

void mo_proctab_set_comm(struct mo_proctab *t, struct mo_proc *p, const char *comm, size_t len)
{
	pthread_mutex_lock(&t->lock);
	snprintf(p->comm, sizeof(p->comm), "%.*s", (int)strnlen(comm, len), comm);
	pthread_mutex_unlock(&t->lock);
}

void mo_proctab_set_alive(struct mo_proctab *t, struct mo_proc *p, bool alive)
{
	pthread_mutex_lock(&t->lock);
	if (p->target && p->alive != alive)
		t->targets_alive += alive ? 1 : (size_t)-1;
	p->alive = alive;
	pthread_mutex_unlock(&t->lock);
}

void mo_proctab_set_exit_pending(struct mo_proctab *t, struct mo_proc *p, bool pending)
{
	pthread_mutex_lock(&t->lock);
	if (p->target && p->exit_pending != pending)
		t->targets_pending += pending ? 1 : (size_t)-1;
	p->exit_pending = pending;
	pthread_mutex_unlock(&t->lock);
}

void mo_proctab_set_k8snames(struct mo_proctab *t, struct mo_k8snames *r)
{
	mo_k8snames_free(t->k8s);
	t->k8s = r;
}

void mo_proctab_k8snames_stats(struct mo_proctab *t, struct mo_k8snames_stats *out)
{
	mo_k8snames_stats(t->k8s, out);
}

/*
 * A pod's container names: its link may come after its first process (the
 * kubelet makes it once the container started), so they are looked up
 * until whole; the resolver bounds how often that reads a directory.
 */
static void k8s_names(struct mo_proctab *t, struct mo_proc *p)
{
	struct mo_k8s_names n;

	if (mo_k8snames_lookup(t->k8s, p->c.id, p->c.pod_uid, &n))
		return;
	if (p->c.k8s.pod[0] && (!n.container[0] || strcmp(n.ns, p->c.k8s.ns) ||
				strcmp(n.pod, p->c.k8s.pod)))
		return;
	pthread_mutex_lock(&t->lock);
	p->c.k8s = n;
	pthread_mutex_unlock(&t->lock);
}

const struct mo_container *mo_proctab_container(struct mo_proctab *t, pid_t pid)
{
	struct mo_proc *p = mo_proctab_get(t, pid);
	struct mo_container c;

	if (!p)
		return NULL;
	if (!p->container_known && mo_container_of_pid(pid, &c) == 0) {
		pthread_mutex_lock(&t->lock);
		p->c = c;
		p->container_known = true;
		pthread_mutex_unlock(&t->lock);
	}
	if (p->container_known && t->k8s && p->c.pod_uid[0] && !p->c.k8s.container[0])
		k8s_names(t, p);
	return p->container_known ? &p->c : NULL;
}

int mo_proctab_targets(struct mo_proctab *t, pid_t **out, size_t *n)
{
	pid_t *v = malloc((t->ntargets ? t->ntargets : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap && k < t->ntargets; i++)
		if (t->slot[i] && t->slot[i] != TOMB && t->slot[i]->target)
			v[k++] = t->slot[i]->pid;
	*out = v;
	*n = k;
	return 0;
}

size_t mo_proctab_ntargets(struct mo_proctab *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->ntargets;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void mo_proctab_describe(struct mo_proctab *t, pid_t pid, struct mo_proc_view *out)
{
	struct mo_proc *p;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	p = mo_proctab_find(t, pid);
	if (p) {
		snprintf(out->comm, sizeof(out->comm), "%s", p->comm);
		if (p->container_known) {
			snprintf(out->container_id, sizeof(out->container_id), "%s", p->c.id);
			out->k8s = p->c.k8s;
			snprintf(out->pod_uid, sizeof(out->pod_uid), "%s", p->c.pod_uid);
		}
		out->base_allocs = p->base_allocs;
		out->base_frees = p->base_frees;
	}
	pthread_mutex_unlock(&t->lock);
}

void mo_proctab_set_base(struct mo_proctab *t, struct mo_proc *p, uint64_t allocs,
			 uint64_t frees)
{
	pthread_mutex_lock(&t->lock);
	p->base_allocs = allocs;
	p->base_frees = frees;
	pthread_mutex_unlock(&t->lock);
}

bool mo_proctab_targets_gone(struct mo_proctab *t)
{
	bool gone;

	pthread_mutex_lock(&t->lock);
	gone = t->targets_alive == 0 && t->targets_pending == 0;
	pthread_mutex_unlock(&t->lock);
	return gone;
}

size_t mo_proctab_size(struct mo_proctab *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->live;
	pthread_mutex_unlock(&t->lock);
	return n;
}
