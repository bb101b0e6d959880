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
};

/* Classify one cgroup path ("/system.slice/docker-<id>.scope", ...).
 * Never fails: unknown layouts give MO_RUNTIME_NONE with cgroup filled. */
void mo_container_from_path(const char *path, struct mo_container *out);

/* Parse /proc/PID/cgroup text: the v2 line wins, else the first v1 line
 * naming a container, else the v1 "name=systemd" or memory line.
 * 0 or -EINVAL (no parsable line). */
int mo_container_parse(const char *text, size_t len, struct mo_container *out);

/* Read /proc/PID/cgroup. 0, -ESRCH, -EINVAL. */
int mo_container_of_pid(pid_t pid, struct mo_container *out);

const char *mo_runtime_name(enum mo_runtime r);

/*
 * Find the cgroup v2 directory of a container id (full or a unique prefix
 * of at least 12 hex digits) under root (e.g. "/sys/fs/cgroup" or
 * "/sys/fs/cgroup/unified"), or resolve a cgroup path given by the user.
 * Writes the directory path; its inode number is the cgroup id the kernel
 * reports (bpf_get_current_cgroup_id). 0, -ENOENT, -EEXIST (ambiguous).
 */
int mo_container_find_cgroup(const char *root, const char *id_or_path, char *dir, size_t len,
			     uint64_t *cgroup_id);

#endif
