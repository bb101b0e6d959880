// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * obs_attach.c - which allocator module each process gets probes in
 * (attach.c places them): the targets' at start, every process's
 * system-wide, and the new program's after an exec or a fork.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "abi.h"
#include "attach.h"
#include "observer_int.h"
#include "modules.h"
#include "safefile.h"
#include "symbolize.h"

/* The allocator module of pid (0: ours), unless the user forced one,
 * opened once: it is read and attached through a->fd. */
static int allocator_of(struct mo_observer *o, pid_t pid, const char *exe,
			struct mo_allocator *a)
{
	if (o->allocator_lib)
		return mo_allocator_open_path(o->allocator_lib, a);
	if (exe)
		return mo_allocator_open_exe(exe, o->symbol_prefix, a);
	return mo_allocator_open(pid, o->symbol_prefix, a);
}

/* Attach every process's allocator module not attached yet (pid 0 links). */
int obs_attach_new_allocator(struct mo_observer *o, pid_t pid)
{
	struct mo_allocator a;
	char err[512];
	int r;

	if (allocator_of(o, pid, NULL, &a))
		return -ENOENT;
	/* links are compared by file identity: the same library under two
	 * /proc/PID/root paths is one probe target, a container's own libc
	 * another */
	if (mo_links_has(&o->links, &a, 0)) {
		mo_allocator_close(&a);
		return 0;
	}
	r = mo_attach_allocator(&o->links, &o->progs, &a, 0, err, sizeof(err));
	mo_allocator_close(&a);
	if (r < 0) {
		o->attach_failures++;
		obs_log(o, MO_LOG_WARN, "pid %d: %s", (int)pid, err);
		return r;
	}
	obs_log(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s", (int)pid, r,
		a.path);
	o->probes = o->links.probes;
	return 1;
}

void obs_attach_child(struct mo_observer *o, pid_t child)
{
	struct mo_allocator a;
	char err[512];
	int r;

	if (!o->heap_probes)
		return;
	if (allocator_of(o, child, NULL, &a))
		return;
	r = mo_links_has(&o->links, &a, child) ? 0 :
		mo_attach_allocator(&o->links, &o->progs, &a, child, err, sizeof(err));
	mo_allocator_close(&a);
	if (r < 0) {
		o->attach_failures++;
		obs_log(o, MO_LOG_WARN, "child %d: %s", (int)child, err);
	}
	o->probes = o->links.probes;
}

/* Allocator modules of every process on the machine, attached for all. */
int obs_attach_system_wide(struct mo_observer *o)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct mo_allocator a;
	char err[512];
	int attached = 0, r;

	if (!o->heap_probes) {
		if (d)
			closedir(d);
		return 0;
	}
	if (allocator_of(o, 0, NULL, &a) == 0) {
		r = mo_attach_allocator(&o->links, &o->progs, &a, 0, err, sizeof(err));
		mo_allocator_close(&a);
		if (r < 0) {
			obs_log(o, MO_LOG_ERROR, "%s", err);
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
		if (!o->allocator_lib && obs_attach_new_allocator(o, (pid_t)pid) >= 0)
			attached++;
	}
	if (d)
		closedir(d);
	return attached ? 0 : -ENOENT;
}

int obs_attach_targets(struct mo_observer *o)
{
	struct mo_allocator a;
	char err[512];
	__u32 tflags = MO_TARGET_TRACE | MO_TARGET_FOLLOW;
	int r;

	for (size_t i = 0; i < o->npids; i++) {
		struct pidinfo *p = &o->pids[i];
		pid_t link_pid = p->own_link ? p->pid : 0;

		bpf_map_update_elem(bpf_map__fd(o->skel->maps.targets), &p->pid, &tflags,
				    BPF_ANY);
		mo_symbolizer_prime(o->sym, p->pid);
		obs_container_of(o, p->pid);
		r = mo_modules_load_pid(o->mods, p->pid);
		if (r < 0 && r != -ENOENT) {
			obs_log(o, MO_LOG_ERROR, "cannot read the memory maps of pid %d: %s",
				(int)p->pid, strerror(-r));
			return r;
		}
		if (p->exe)
			mo_modules_preload_command(o->mods, p->exe);
		if (!o->heap_probes)
			continue;
		r = allocator_of(o, p->pid, p->exe, &a);
		if (r == -EACCES || r == -EPERM) {
			obs_log(o, MO_LOG_ERROR,
				"cannot read the memory maps of pid %d: %s (needs CAP_SYS_PTRACE)",
				(int)p->pid, strerror(-r));
			return r;
		}
		if (r) {
			obs_log(o, MO_LOG_ERROR,
				"pid %d: no allocator found: neither the program nor a library "
				"it maps defines malloc",
				(int)p->pid);
			return r;
		}
		if (mo_links_has(&o->links, &a, link_pid)) {
			mo_allocator_close(&a);
			continue;
		}
		r = mo_attach_allocator(&o->links, &o->progs, &a, link_pid, err, sizeof(err));
		mo_allocator_close(&a);
		if (r < 0) {
			obs_log(o, MO_LOG_ERROR, "pid %d: %s", (int)p->pid, err);
			return r;
		}
		obs_log(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s%s",
			(int)p->pid, r, a.path, o->session ? " (session uprobes)" : "");
	}
	return 0;
}

void obs_log_refused_files(struct mo_observer *o)
{
	struct mo_safefile_stats st;

	mo_safefile_stats(&st);
	if (!st.not_regular && !st.replaced && !st.too_large && !st.symlinks)
		return;
	obs_log(o, MO_LOG_WARN,
		"files of traced processes not read: %llu not regular files (FIFO, device), "
		"%llu no longer the file mapped, %llu larger than %llu bytes, %llu symlinks",
		(unsigned long long)st.not_regular, (unsigned long long)st.replaced,
		(unsigned long long)st.too_large, (unsigned long long)MO_SAFE_MAX_SIZE,
		(unsigned long long)st.symlinks);
}
