/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * container.h - map a process's cgroup to the container it runs in.
 *
 * Parses /proc/PID/cgroup (v2 "0::/path" and v1 "N:controllers:/path"
 * lines) and recognizes the cgroup path layouts of docker, containerd/CRI
 * (Kubernetes pods: also the pod UID), cri-o, podman and systemd services,
 * with both the cgroupfs and the systemd cgroup drivers. Pure functions
 * over text, fuzzed; host processes get an empty container id.
 */
#ifndef MO_CONTAINER_H
#define MO_CONTAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "k8snames.h"

enum mo_runtime {
	MO_RUNTIME_NONE = 0,	/* host process */
	MO_RUNTIME_DOCKER,
	MO_RUNTIME_CONTAINERD,	/* containerd / CRI, including Kubernetes */
	MO_RUNTIME_CRIO,
	MO_RUNTIME_PODMAN,
	MO_RUNTIME_SYSTEMD,	/* a systemd service (no container id) */
};

struct mo_container {
	enum mo_runtime runtime;
	char id[65];		/* full 64-hex container id, "" if none */
	char pod_uid[37];	/* Kubernetes pod UID (dashes), "" if none */
	char unit[128];		/* systemd unit ("nginx.service"), "" if none */
	char cgroup[512];	/* the cgroup path the decision was made from */
	/* Kubernetes names: the parsers here leave them empty; the process
	 * table fills them from the kubelet's log layout (k8snames.h) */
	struct mo_k8s_names k8s;
};

/*
 * Classify one cgroup path ("/system.slice/docker-<id>.scope", ...).
 * Never fails: unknown layouts give MO_RUNTIME_NONE with cgroup filled
 * (cut to fit; the decision sees the whole path). The outermost component
 * naming a container decides, so nested cgroups below a container
 * ("init.scope", podman's "container") still belong to it. Ids must be 64
 * lowercase hex digits. A container has an id (and pod_uid under
 * Kubernetes) but no unit; MO_RUNTIME_SYSTEMD has the deepest ".service"
 * on the path as unit and no id. Monitors (crio-conmon-, libpod-conmon-)
 * are not containers. See docs/containers.md for the layouts.
 */
void mo_container_from_path(const char *path, struct mo_container *out);

/*
 * Parse /proc/PID/cgroup text (only text[0, len), no NUL needed; CR before
 * LF and malformed lines are skipped, " (deleted)" is dropped). A line
 * naming a container beats one naming a service, which beats a host path;
 * among equals the v2 line wins, then "name=systemd", then memory, then
 * the first other v1 line. 0 or -EINVAL (no parsable line).
 */
int mo_container_parse(const char *text, size_t len, struct mo_container *out);

/* Read /proc/PID/cgroup (pid <= 0: the caller's). 0, -ESRCH, -EINVAL, or
 * another -errno of open/read. */
int mo_container_of_pid(pid_t pid, struct mo_container *out);

const char *mo_runtime_name(enum mo_runtime r);

/*
 * Find the cgroup v2 directory of a container id (full or a unique prefix
 * of at least 12 hex digits, any case) under root (e.g. "/sys/fs/cgroup" or
 * "/sys/fs/cgroup/unified"), or resolve a cgroup path given by the user
 * (starts with '/', relative to root, no ".."). A directory matches when
 * its name holds a whole 64-digit lowercase hex run starting with the
 * prefix; conmon monitors are skipped and a match's subtree is not
 * searched. The walk reads at most 16 levels and 131072 directories.
 * Writes the directory path to dir[len] and its inode number to
 * *cgroup_id (may be NULL). 0, -ENOENT, -EEXIST (ambiguous), -EINVAL,
 * -ENOTDIR, -ENAMETOOLONG, -E2BIG (tree too large), -ENOMEM.
 *
 * The inode number is the cgroup id: verified on Linux 6.18 (Debian 12
 * userland, hybrid hierarchy with cgroup2 at /sys/fs/cgroup/unified) by
 * making a "docker-<id>.scope" cgroup, moving a child into it through
 * cgroup.procs, and comparing the directory's st_ino with the value
 * bpf_get_current_cgroup_id() returned in a tracepoint on that child
 * (a one-off libbpf program) and with the 64-bit id in the directory's
 * name_to_handle_at() handle; /proc/PID/cgroup's v2 path joined to root
 * named the same directory. test_container.c repeats all but the BPF part
 * when run as root. On cgroup v1 directories the inode is no cgroup id.
 */
int mo_container_find_cgroup(const char *root, const char *id_or_path, char *dir, size_t len,
			     uint64_t *cgroup_id);

/*
 * cgroup v1. In mountinfo text (/proc/self/mountinfo), the mount point of
 * the v1 hierarchy that the controller is bound to (filesystem type
 * "cgroup", the controller among its super options), into out[len]: 0,
 * -ENOENT, -ENAMETOOLONG. Mount points with escapes (\040) are decoded.
 */
int mo_cgroup_v1_mount(const char *text, size_t len, const char *controller, char *out,
		       size_t outlen);

/* The same for the cgroup v2 hierarchy (hybrid hosts: .../unified). */
int mo_cgroup2_mount(const char *text, size_t len, char *out, size_t outlen);

/* In /proc/cgroups text, the kernel's index of the controller (its line
 * among the controllers, from 0): >= 0, or -ENOENT. */
int mo_cgroup_subsys_index(const char *text, size_t len, const char *controller);

#endif
