/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * k8snames.h - the Kubernetes names of a container (namespace, pod,
 * container) without API access, from the names the kubelet gives its log
 * files on the node:
 *   <root>/containers/<pod>_<namespace>_<container>-<64 hex id>.log
 *       symlinks, one per container: every name from the container id;
 *   <root>/pods/<namespace>_<pod>_<pod uid>/
 *       directories, one per pod: namespace and pod from the pod UID.
 * Only directory entries' names are used: no file is opened, no link
 * target read, nothing followed below root. Every name is hostile input
 * held to the kubelet's naming rules (namespace and container a DNS-1123
 * label, pod a DNS-1123 subdomain); anything else is ignored and counted.
 * Lookups are answered from a bounded cache; a miss rescans at most once
 * per refresh period, so pod churn does not make each event read a
 * directory.
 */
#ifndef MO_K8SNAMES_H
#define MO_K8SNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MO_K8S_LABEL_MAX 63	/* DNS-1123 label: namespace, container */
#define MO_K8S_SUBDOMAIN_MAX 253	/* DNS-1123 subdomain: pod */

/* Names of one container; "" where not known. */
struct mo_k8s_names {
	char ns[MO_K8S_LABEL_MAX + 1];
	char pod[MO_K8S_SUBDOMAIN_MAX + 1];
	char container[MO_K8S_LABEL_MAX + 1];
};

/* The kubelet's naming rules (apimachinery's IsDNS1123Label and
 * IsDNS1123Subdomain) on the n bytes at s. */
bool mo_k8s_dns_label(const char *s, size_t n);
bool mo_k8s_dns_subdomain(const char *s, size_t n);

/*
 * "<pod>_<namespace>_<container>-<id>.log" (len bytes, no NUL needed): the
 * names and the 64-lowercase-hex container id into id[65]. 0, or -EINVAL
 * for anything else, including a name the kubelet cut to 255 bytes (its id
 * is no longer whole). Outputs are untouched on error.
 */
int mo_k8s_parse_container_log(const char *name, size_t len, struct mo_k8s_names *out,
			       char id[65]);

/*
 * "<namespace>_<pod>_<uid>": namespace and pod into out (container ""), the
 * UID into uid[37]: a lowercase dashed UUID, or the 32 lowercase hex
 * digits of a static pod. 0 or -EINVAL; outputs untouched on error.
 */
int mo_k8s_parse_pod_dir(const char *name, size_t len, struct mo_k8s_names *out, char uid[37]);

struct mo_k8snames_opts {
	size_t max_entries;	/* per directory (containers, pods); 0: 8192 */
	size_t max_scan;	/* directory entries read per scan; 0: 65536 */
	uint64_t refresh_ns;	/* least time between scans; 0: 10 s */
	uint64_t (*now_ns)(void *ctx);	/* monotonic clock; NULL: CLOCK_MONOTONIC */
	void *now_ctx;
};

/* Cumulative counts (readable from any thread). Entries are counted again
 * at each scan that reads them. */
struct mo_k8snames_stats {
	uint64_t scans;		/* scans of the log directories */
	uint64_t bad_name;	/* entries whose name is not the kubelet's */
	uint64_t bad_type;	/* entries (or containers/, pods/ themselves) that are
				   not a symlink or file, or not a directory */
	uint64_t mismatched;	/* one id named twice differently, or a container
				   link disagreeing with its pod's directory */
	uint64_t table_full;	/* entries not cached: max_entries or max_scan hit */
};

struct mo_k8snames;

/*
 * A resolver under root (e.g. "/var/log"; opened as given, the admin's
 * choice). Reads nothing yet: a node without a kubelet is no error. NULL
 * with errno EINVAL (empty root) or ENOMEM.
 */
struct mo_k8snames *mo_k8snames_new(const char *root, const struct mo_k8snames_opts *opts);
void mo_k8snames_free(struct mo_k8snames *r);

/*
 * The names of container_id (64 hex) whose cgroup names pod_uid (may be ""
 * or NULL). Namespace and pod come from the pod's directory when there is
 * one, else from the container's link; the container name from its link,
 * and only when the link agrees with the pod's directory. 0 with at least
 * namespace and pod filled, -ENOENT when nothing is known, -EINVAL.
 * One thread at a time.
 */
int mo_k8snames_lookup(struct mo_k8snames *r, const char *container_id, const char *pod_uid,
		       struct mo_k8s_names *out);

void mo_k8snames_stats(const struct mo_k8snames *r, struct mo_k8snames_stats *out);

#endif
