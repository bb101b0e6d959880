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
#include "symbolize.h"

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
int obs_attach_new_allocator(struct mo_observer *o, pid_t pid)
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
		obs_log(o, MO_LOG_WARN, "pid %d: %s", (int)pid, err);
		return r;
	}
	obs_log(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s", (int)pid, r, path);
	o->probes = o->links.probes;
	return 1;
}

void obs_attach_child(struct mo_observer *o, pid_t child)
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
		obs_log(o, MO_LOG_WARN, "child %d: %s", (int)child, err);
	}
	o->probes = o->links.probes;
}

/* Allocator modules of every process on the machine, attached for all. */
int obs_attach_system_wide(struct mo_observer *o)
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
	char path[PATH_MAX], err[512];
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
		r = allocator_of(o, p->pid, p->exe, path, sizeof(path));
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
		if (mo_links_has(&o->links, path, link_pid))
			continue;
		r = mo_attach_allocator(&o->links, &o->progs, path, link_pid, err, sizeof(err));
		if (r < 0) {
			obs_log(o, MO_LOG_ERROR, "pid %d: %s", (int)p->pid, err);
			return r;
		}
		obs_log(o, MO_LOG_INFO, "pid %d: %d allocator functions probed in %s%s",
			(int)p->pid, r, path, o->session ? " (session uprobes)" : "");
	}
	return 0;
}
