// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* targets.c - pids, the command, the cgroup (targets.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "container.h"
#include "privsep.h"
#include "procmaps.h"
#include "targets.h"

static void parser_warning(enum mo_log_level lvl, const char *msg, void *ctx)
{
	(void)ctx;
	if (lvl <= MO_LOG_WARN)
		fprintf(stderr, "%s: warning: %s\n", cli_prog, msg);
}

int targets_list_allocators(struct cli *c, pid_t pid)
{
	struct mo_privsep_opts po = { .log = parser_warning };
	struct mo_privsep *ps = NULL;
	struct mo_allocator_candidate *a;
	size_t n;
	int r;

	/* the objects' symbols are read as in a run: by the parser process */
	if (c->cfg.privsep) {
		ps = mo_privsep_new(&po);
		if (!ps)
			cli_die(c, "cannot set up the parser process: %s", strerror(errno));
		mo_attach_set_reader(mo_privsep_find_funcs, ps);
	}
	r = mo_allocator_list(pid, c->symbol_prefix, &a, &n);
	mo_attach_set_reader(NULL, NULL);
	mo_privsep_free(ps);
	if (r == -ECHILD || r == -EAGAIN)
		cli_die(c, "pid %d: cannot choose its allocator: %s", (int)pid, mo_attach_strerror(r));
	if (r == -ESRCH || r == -ENOENT) {
		if (!n && r == -ESRCH)
			cli_die(c, "no such process: %d", (int)pid);
	} else if (r) {
		cli_die(c, "cannot read the memory maps of pid %d: %s", (int)pid, strerror(-r));
	}
	printf("%-3s %-10s %-6s %-5s %-5s %s\n", "use", "role", "entry", "c++", "jemx", "object");
	for (size_t i = 0; i < n; i++) {
		if (!a[i].entry_points && !a[i].chosen)
			continue;
		printf("%-3s %-10s %-6u %-5s %-5s %s\n", a[i].chosen ? "*" : "", a[i].role,
		       a[i].entry_points, a[i].cxx_operators ? "yes" : "no",
		       a[i].jemalloc_api ? "yes" : "no", a[i].map_path);
	}
	for (size_t i = 0; i < n; i++)
		if (a[i].chosen)
			printf("probing %s: %s\n", a[i].map_path, a[i].why);
	if (r)
		printf("no object defines %smalloc and %sfree: nothing to probe\n",
		       c->symbol_prefix ? c->symbol_prefix : "", c->symbol_prefix ? c->symbol_prefix : "");
	free(a);
	return r ? 1 : 0;
}

static void check_pid(struct cli *c, pid_t pid)
{
	char path[64];
	struct stat st;
	FILE *f;
	int ch;

	if (pid == getpid())
		cli_die(c, "pid %d is memobserver itself", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st))
		cli_die(c, "no such process: %d", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		cli_die(c, "cannot read the memory maps of pid %d: %s", (int)pid, strerror(errno));
	ch = fgetc(f);
	fclose(f);
	if (ch == EOF)
		cli_die(c, "pid %d has no user-space memory (a kernel thread or a zombie)", (int)pid);
}

void targets_check_pids(struct cli *c)
{
	for (int i = 0; i < c->npids; i++)
		check_pid(c, c->pids[i]);
}

void targets_resolve_command(struct cli *c, char *out, size_t len)
{
	const char *path = getenv("PATH"), *name = c->cmd[0];
	char buf[PATH_MAX];

	if (strchr(name, '/')) {
		if (!faccessat(AT_FDCWD, name, X_OK, AT_EACCESS) && realpath(name, buf) &&
		    strlen(buf) < len) {
			snprintf(out, len, "%s", buf);
			return;
		}
		cli_die(c, "command not found: '%s'", name);
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char real[PATH_MAX];

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (!faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) && realpath(buf, real) &&
		    strlen(real) < len) {
			snprintf(out, len, "%s", real);
			return;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	cli_die(c, "command not found: '%s'", name);
}

pid_t targets_fork_command(struct cli *c, const char *exe, int *go)
{
	int p[2];
	pid_t child;

	if (pipe2(p, O_CLOEXEC))
		cli_die(c, "pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		cli_die(c, "fork: %s", strerror(errno));
	if (child == 0) {
		char x;

		close(p[1]);
		/* the command gets the signal dispositions a shell would give
		 * it, not ours (SIGPIPE is ignored here) */
		signal(SIGPIPE, SIG_DFL);
		/* wait until the probes are attached; EOF means give up */
		if (read(p[0], &x, 1) != 1)
			_exit(127);
		if (c->out_fd != STDOUT_FILENO)
			close(c->out_fd);
		execv(exe, c->cmd);
		fprintf(stderr, "%s: cannot run '%s': %s\n", cli_prog, exe, strerror(errno));
		_exit(127);
	}
	close(p[0]);
	*go = p[1];
	return child;
}

void targets_release_command(struct cli *c, int go)
{
	if (write(go, "g", 1) != 1)
		cli_die(c, "cannot start the command");
	close(go);
}

/* Where the cgroup v2 hierarchy is mounted (hybrid systems: .../unified). */
static int cgroup2_root(char *out, size_t len)
{
	char *mi = NULL;
	size_t n = 0;
	int err = mo_read_text("/proc/self/mountinfo", &mi, &n);

	if (!err)
		err = mo_cgroup2_mount(mi, n, out, len);
	free(mi);
	return err;
}

/* The v1 memory hierarchy's mount point and the memory controller's index. */
static int memory_v1(char *mnt, size_t len, int *ssid)
{
	char *mi = NULL, *cg = NULL;
	size_t n1 = 0, n2 = 0;
	int err = -ENOENT;

	if (!mo_read_text("/proc/self/mountinfo", &mi, &n1) &&
	    !mo_read_text("/proc/cgroups", &cg, &n2) &&
	    mo_cgroup_v1_mount(mi, n1, "memory", mnt, len) == 0) {
		*ssid = mo_cgroup_subsys_index(cg, n2, "memory");
		err = *ssid >= 0 ? 0 : -ENOENT;
	}
	free(mi);
	free(cg);
	return err;
}

/*
 * --container / --cgroup -> the cgroup the kernel filters on: looked up on
 * the v2 hierarchy, then on the v1 memory hierarchy (hosts where container
 * runtimes use cgroup v1).
 */
void targets_set_cgroup(struct cli *c, struct mo_observer *obs)
{
	char v2[PATH_MAX] = "", v1[PATH_MAX] = "", dir[PATH_MAX], where[2 * PATH_MAX + 8];
	const char *what = c->container ? c->container : c->cgroup;
	bool have_v2 = cgroup2_root(v2, sizeof(v2)) == 0;
	int ssid = -1, r = -ENOENT, err;
	uint64_t id = 0;

	if (!what)
		return;
	if (c->cgroup && c->cgroup[0] != '/')
		cli_die(c, "invalid value '%s' for --cgroup (an absolute cgroup path)", c->cgroup);
	if (have_v2)
		r = mo_container_find_cgroup(v2, what, dir, sizeof(dir), &id);
	if (r == -ENOENT && memory_v1(v1, sizeof(v1), &ssid) == 0) {
		r = mo_container_find_cgroup(v1, what, dir, sizeof(dir), &id);
		if (r)
			ssid = -1;
	}
	if (r == -EEXIST)
		cli_die(c, "container id '%s' is ambiguous: give more of it", what);
	if (!have_v2 && !v1[0])
		cli_die(c, "no cgroup v2 hierarchy and no cgroup v1 memory hierarchy is mounted: "
			   "--container and --cgroup need one");
	snprintf(where, sizeof(where), "%s%s%s", v2, v2[0] && v1[0] ? " or " : "", v1);
	if (r)
		cli_die(c, "no %s '%s' under %s", c->container ? "container" : "cgroup", what, where);
	err = ssid < 0 ? mo_observer_set_cgroup(obs, id) : mo_observer_set_cgroup_v1(obs, id, ssid);
	if (err)
		cli_die(c, "cannot filter by cgroup: %s", strerror(-err));
}

void targets_mount_tracefs(void)
{
	if (faccessat(AT_FDCWD, "/sys/kernel/tracing/events", F_OK, AT_EACCESS) == 0 ||
	    faccessat(AT_FDCWD, "/sys/kernel/debug/tracing/events", F_OK, AT_EACCESS) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		fprintf(stderr, "%s: warning: cannot mount tracefs on /sys/kernel/tracing: %s\n",
			cli_prog, strerror(errno));
}
