// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * container.c - cgroup path -> container runtime, id, pod UID, unit.
 *
 * The text functions only ever look at [text, text + len): a path is
 * handled as a (pointer, length) span, never copied into a fixed buffer, so
 * long or NUL-free fuzzed input cannot overflow. Classification works on
 * path components from the root down and stops at the first (outermost)
 * component that names a container: that is the one the host's runtime
 * manages, and nested cgroups below it ("init.scope", podman's
 * "container", a docker-in-docker tree) belong to it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"

#define ID_LEN 64
#define MIN_PREFIX_LEN 12
#define UUID_LEN 36
#define STATIC_POD_UID_LEN 32	/* kubelet's md5 hash for static pods */
#define DELETED_SUFFIX " (deleted)"
#define MAX_CGROUP_FILE (1 << 20)
#define WALK_MAX_DEPTH 16
#define WALK_MAX_DIRS (1 << 17)

struct span {
	const char *s;
	size_t n;
};

/* Container-naming prefixes: "<prefix>-<id>[.scope]" (systemd driver, and
 * podman's and cri-o's cgroupfs names), and runc's "slice:<prefix>:<id>". */
static const struct {
	const char *prefix;
	enum mo_runtime runtime;
} prefixes[] = {
	{ "docker", MO_RUNTIME_DOCKER },
	{ "cri-containerd", MO_RUNTIME_CONTAINERD },
	{ "crio", MO_RUNTIME_CRIO },
	{ "libpod", MO_RUNTIME_PODMAN },
};

static bool span_eq(struct span a, const char *lit)
{
	size_t n = strlen(lit);

	return a.n == n && memcmp(a.s, lit, n) == 0;
}

static bool span_starts(struct span a, const char *lit)
{
	size_t n = strlen(lit);

	return a.n >= n && memcmp(a.s, lit, n) == 0;
}

static bool span_ends(struct span a, const char *lit)
{
	size_t n = strlen(lit);

	return a.n >= n && memcmp(a.s + a.n - n, lit, n) == 0;
}

static bool span_has(struct span a, const char *lit)
{
	return memmem(a.s, a.n, lit, strlen(lit)) != NULL;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Runtimes write ids in lowercase; anything else is not theirs. */
static bool is_id(const char *s, size_t n)
{
	if (n != ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

/*
 * A pod UID as kubelet writes it into cgroup names: a UUID with '-'
 * (cgroupfs) or '_' (systemd, which reserves '-' for nesting), or the 32
 * hex digits of a static pod. Normalized to dashes into uid[37].
 */
static bool parse_pod_uid(struct span s, char *uid)
{
	if (s.n == STATIC_POD_UID_LEN) {
		for (size_t i = 0; i < s.n; i++)
			if (!is_lower_hex(s.s[i]))
				return false;
	} else if (s.n == UUID_LEN) {
		for (size_t i = 0; i < s.n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? s.s[i] != '-' && s.s[i] != '_' : !is_lower_hex(s.s[i]))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < s.n; i++)
		uid[i] = s.s[i] == '_' ? '-' : s.s[i];
	uid[s.n] = '\0';
	return true;
}

/*
 * The pod a component names: cgroupfs "pod<uid>", systemd
 * "kubepods-<qos>-pod<uid>.slice" (also inside runc's "slice:prefix:id").
 */
static bool pod_of(struct span c, char *uid)
{
	const char *colon = memchr(c.s, ':', c.n);
	const char *p;

	if (colon)
		c.n = (size_t)(colon - c.s);
	if (span_starts(c, "pod"))
		return parse_pod_uid((struct span){ c.s + 3, c.n - 3 }, uid);
	if (!span_ends(c, ".slice"))
		return false;
	c.n -= strlen(".slice");
	for (p = c.s + c.n; p - c.s >= 4; p--) {
		if (memcmp(p - 4, "-pod", 4) == 0)
			return parse_pod_uid((struct span){ p, c.n - (size_t)(p - c.s) }, uid);
	}
	return false;
}

static enum mo_runtime runtime_of_prefix(struct span p)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (span_eq(p, prefixes[i].prefix))
			return prefixes[i].runtime;
	return MO_RUNTIME_NONE;
}

/* "<prefix>-<id>" or "<prefix>-<id>.scope". Monitors ("crio-conmon-<id>",
 * "libpod-conmon-<id>") fail here: "conmon-<id>" is no id. */
static enum mo_runtime prefixed_id(struct span c, struct span *id)
{
	const char *dash;

	if (span_ends(c, ".scope"))
		c.n -= strlen(".scope");
	if (c.n <= ID_LEN + 1 || c.s[c.n - ID_LEN - 1] != '-')
		return MO_RUNTIME_NONE;
	dash = c.s + c.n - ID_LEN - 1;
	if (!is_id(dash + 1, ID_LEN))
		return MO_RUNTIME_NONE;
	*id = (struct span){ dash + 1, ID_LEN };
	return runtime_of_prefix((struct span){ c.s, (size_t)(dash - c.s) });
}

/* runc's systemd form used as a plain path when systemd does not manage
 * the tree, e.g. "/system.slice/containerd.service/kubepods-besteffort-
 * pod<uid>.slice:cri-containerd:<id>" (kubernetes/kubernetes#106514). */
static enum mo_runtime colon_id(struct span c, struct span *id)
{
	const char *first = memchr(c.s, ':', c.n);
	const char *last;

	if (!first)
		return MO_RUNTIME_NONE;
	last = memrchr(c.s, ':', c.n);
	if (last == first || !is_id(last + 1, (size_t)(c.s + c.n - last - 1)))
		return MO_RUNTIME_NONE;
	*id = (struct span){ last + 1, ID_LEN };
	return runtime_of_prefix((struct span){ first + 1, (size_t)(last - first - 1) });
}

/* A containerd namespace as a cgroup parent ("/default/<id>", "/k8s.io/<id>"):
 * a plain name, not a systemd unit. */
static bool is_namespace(struct span c)
{
	if (c.n == 0 || span_ends(c, ".slice") || span_ends(c, ".service") ||
	    span_ends(c, ".scope") || span_has(c, "kubepods"))
		return false;
	for (size_t i = 0; i < c.n; i++) {
		char ch = c.s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static void copy_span(char *dst, size_t size, struct span s)
{
	size_t n = s.n < size - 1 ? s.n : size - 1;

	memcpy(dst, s.s, n);
	dst[n] = '\0';
}

/* The decision itself; path need not be NUL-terminated. */
static void classify(const char *path, size_t len, struct mo_container *out)
{
	struct span prev = { NULL, 0 }, unit = { NULL, 0 }, id = { NULL, 0 };
	enum mo_runtime rt = MO_RUNTIME_NONE;
	char pod[sizeof(out->pod_uid)] = "";
	bool in_kube = false;
	const char *p = path, *end = path + len;
	int depth = 0;

	memset(out, 0, sizeof(*out));
	copy_span(out->cgroup, sizeof(out->cgroup), (struct span){ path, len });

	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		struct span c = { p, (size_t)((slash ? slash : end) - p) };
		char uid[sizeof(out->pod_uid)];

		p = slash ? slash + 1 : end;
		if (c.n == 0)
			continue;
		if (span_has(c, "kubepods"))
			in_kube = true;
		if (in_kube && pod_of(c, uid))
			memcpy(pod, uid, sizeof(pod));

		rt = prefixed_id(c, &id);
		if (rt == MO_RUNTIME_NONE)
			rt = colon_id(c, &id);
		if (rt == MO_RUNTIME_NONE && is_id(c.s, c.n) && prev.s) {
			/* A bare id names its runtime only through its parent. */
			char scratch[sizeof(out->pod_uid)];

			if (span_eq(prev, "docker"))
				rt = MO_RUNTIME_DOCKER;
			else if (in_kube && pod_of(prev, scratch))
				rt = MO_RUNTIME_CONTAINERD;
			else if (depth == 1 && is_namespace(prev))
				rt = MO_RUNTIME_CONTAINERD;
			if (rt != MO_RUNTIME_NONE)
				id = c;
		}
		if (rt != MO_RUNTIME_NONE)
			break;
		if (span_ends(c, ".service") && c.n > strlen(".service"))
			unit = c;
		prev = c;
		depth++;
	}

	if (rt != MO_RUNTIME_NONE) {
		out->runtime = rt;
		copy_span(out->id, sizeof(out->id), id);
		if (in_kube)
			memcpy(out->pod_uid, pod, sizeof(pod));
	} else if (unit.s && unit.n < sizeof(out->unit)) {
		/* The deepest service: a user service beats user@UID.service. */
		out->runtime = MO_RUNTIME_SYSTEMD;
		copy_span(out->unit, sizeof(out->unit), unit);
	}
}

void mo_container_from_path(const char *path, struct mo_container *out)
{
	if (!out)
		return;
	if (!path)
		path = "";
	classify(path, strlen(path), out);
}

enum line_kind {
	LINE_V1_OTHER,
	LINE_V1_MEMORY,
	LINE_V1_SYSTEMD,
	LINE_V2,
};

static bool has_controller(struct span list, const char *name)
{
	const char *p = list.s, *end = list.s + list.n;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		struct span c = { p, (size_t)((comma ? comma : end) - p) };

		if (span_eq(c, name))
			return true;
		p = comma ? comma + 1 : end;
	}
	return false;
}

/* "ID:controllers:/path" -> kind and path; false for anything else. */
static bool parse_line(struct span line, enum line_kind *kind, struct span *path)
{
	const char *p = line.s, *end = line.s + line.n, *c1, *c2;
	struct span ctl;

	while (end > p && end[-1] == '\r')
		end--;
	if (memchr(p, '\0', (size_t)(end - p)))
		return false;
	c1 = memchr(p, ':', (size_t)(end - p));
	if (!c1 || c1 == p || c1 - p > 10)
		return false;
	for (const char *d = p; d < c1; d++)
		if (*d < '0' || *d > '9')
			return false;
	c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (!c2 || c2 + 1 >= end || c2[1] != '/')
		return false;
	ctl = (struct span){ c1 + 1, (size_t)(c2 - c1 - 1) };
	*path = (struct span){ c2 + 1, (size_t)(end - c2 - 1) };
	/* cgroup v2 marks a removed cgroup after its path */
	if (span_ends(*path, DELETED_SUFFIX) && path->n > strlen(DELETED_SUFFIX))
		path->n -= strlen(DELETED_SUFFIX);

	if (ctl.n == 0 && c1 - p == 1 && *p == '0')
		*kind = LINE_V2;
	else if (span_eq(ctl, "name=systemd"))
		*kind = LINE_V1_SYSTEMD;
	else if (has_controller(ctl, "memory"))
		*kind = LINE_V1_MEMORY;
	else
		*kind = LINE_V1_OTHER;
	return true;
}

/*
 * A line naming a container beats one naming a service, which beats a host
 * path; between equals, v2 beats name=systemd beats memory beats the rest,
 * and the earlier line wins. A container named only by a v1 line is still
 * a container: hybrid hosts whose runc left the v2 path at "/" exist.
 */
static int rank(const struct mo_container *c, enum line_kind kind)
{
	int what = c->id[0] ? 2 : c->runtime == MO_RUNTIME_SYSTEMD ? 1 : 0;

	return what * 4 + (int)kind;
}

int mo_container_parse(const char *text, size_t len, struct mo_container *out)
{
	const char *p = text, *end = text + len;
	struct mo_container cur;
	int best = -1;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!text)
		return -EINVAL;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct span line = { p, (size_t)((nl ? nl : end) - p) };
		enum line_kind kind;
		struct span path;
		int r;

		p = nl ? nl + 1 : end;
		if (!parse_line(line, &kind, &path))
			continue;
		classify(path.s, path.n, &cur);
		r = rank(&cur, kind);
		if (r > best) {
			best = r;
			*out = cur;
		}
	}
	return best < 0 ? -EINVAL : 0;
}

int mo_container_of_pid(pid_t pid, struct mo_container *out)
{
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, err = 0;

	if (!out)
		return -EINVAL;
	if (pid <= 0)
		snprintf(path, sizeof(path), "/proc/self/cgroup");
	else
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nbuf;

			if (cap >= MAX_CGROUP_FILE) {
				err = -EFBIG;
				goto cleanup;
			}
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	err = mo_container_parse(buf ? buf : "", len, out);

cleanup:
	free(buf);
	close(fd);
	return err;
}

const char *mo_runtime_name(enum mo_runtime r)
{
	switch (r) {
	case MO_RUNTIME_NONE:
		return "none";
	case MO_RUNTIME_DOCKER:
		return "docker";
	case MO_RUNTIME_CONTAINERD:
		return "containerd";
	case MO_RUNTIME_CRIO:
		return "cri-o";
	case MO_RUNTIME_PODMAN:
		return "podman";
	case MO_RUNTIME_SYSTEMD:
		return "systemd";
	}
	return "unknown";
}

/* Root and a relative path joined into dir[len]. */
static int join(char *dir, size_t len, const char *root, const char *rel)
{
	size_t rn = strlen(root);
	int n;

	while (rn > 1 && root[rn - 1] == '/')
		rn--;
	if (!*rel)
		n = snprintf(dir, len, "%.*s", (int)rn, root);
	else
		n = snprintf(dir, len, "%.*s%s%s", (int)rn, root,
			     rn == 1 && root[0] == '/' ? "" : "/", rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A user's cgroup path under root; ".." is refused so it stays under root. */
static int resolve_path(const char *root, const char *path, char *dir, size_t len,
			uint64_t *cgroup_id)
{
	char rel[PATH_MAX];
	size_t rn = 0;
	const char *p = path;
	struct stat st;
	int err;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (rn + n + 2 > sizeof(rel))
				return -ENAMETOOLONG;
			if (rn)
				rel[rn++] = '/';
			memcpy(rel + rn, p, n);
			rn += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	rel[rn] = '\0';
	err = join(dir, len, root, rel);
	if (err)
		return err;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (cgroup_id)
		*cgroup_id = st.st_ino;
	return 0;
}

struct walk {
	char query[ID_LEN + 1];
	size_t qlen;
	unsigned int dirs;
	unsigned int matches;
	char rel[PATH_MAX];	/* path of the directory being read, from root */
	char found[PATH_MAX];
	uint64_t found_ino;
};

/*
 * Does a directory name hold a full id starting with the query? Ids are
 * matched as whole 64-digit hex runs so a short query never matches the
 * 12-digit tail of a pod UUID. Monitor cgroups ("crio-conmon-<id>.scope")
 * carry the container's id but are not the container.
 */
static bool name_matches(const struct walk *w, const char *name)
{
	const char *p = name;

	if (strstr(name, "conmon"))
		return false;
	while (*p) {
		const char *run = p;

		while (is_lower_hex(*p))
			p++;
		if (p - run == ID_LEN && memcmp(run, w->query, w->qlen) == 0)
			return true;
		if (p == run)
			p++;
	}
	return false;
}

static int walk_dir(struct walk *w, int dfd, int depth)
{
	size_t base = strlen(w->rel);
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int err = 0;

	if (!d) {
		err = -errno;
		close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;	/* cgroups come and go while we read */
		if (++w->dirs > WALK_MAX_DIRS) {
			err = -E2BIG;
			break;
		}
		if (base + 1 + strlen(de->d_name) + 1 > sizeof(w->rel))
			continue;
		snprintf(w->rel + base, sizeof(w->rel) - base, "%s%s", base ? "/" : "",
			 de->d_name);
		if (name_matches(w, de->d_name)) {
			/* Descendants belong to this container: not searched. */
			if (w->matches++ == 0) {
				memcpy(w->found, w->rel, sizeof(w->found));
				w->found_ino = st.st_ino;
			}
		} else if (depth + 1 < WALK_MAX_DEPTH) {
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				err = walk_dir(w, sub, depth + 1);
		}
		w->rel[base] = '\0';
		if (err)
			break;
	}
	closedir(d);
	return err;
}

int mo_container_find_cgroup(const char *root, const char *id_or_path, char *dir, size_t len,
			     uint64_t *cgroup_id)
{
	struct walk *w;
	size_t qlen;
	int fd, err;

	if (!root || !*root || !id_or_path || !dir || !len)
		return -EINVAL;
	if (id_or_path[0] == '/')
		return resolve_path(root, id_or_path, dir, len, cgroup_id);

	qlen = strlen(id_or_path);
	if (qlen < MIN_PREFIX_LEN || qlen > ID_LEN)
		return -EINVAL;
	/* The walk's path buffers would not fit on a small thread stack. */
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < qlen; i++) {
		char c = id_or_path[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!is_lower_hex(c)) {
			err = -EINVAL;
			goto cleanup;
		}
		w->query[i] = c;
	}
	w->qlen = qlen;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = walk_dir(w, fd, 0);
	if (err)
		goto cleanup;
	if (w->matches == 0) {
		err = -ENOENT;
		goto cleanup;
	}
	if (w->matches > 1) {
		err = -EEXIST;
		goto cleanup;
	}
	err = join(dir, len, root, w->found);
	if (!err && cgroup_id)
		*cgroup_id = w->found_ino;

cleanup:
	free(w);
	return err;
}

/* ---- cgroup v1 ---- */

/* The line of text starting at p (up to end), NUL-terminated into buf. */
static const char *next_line(const char *p, const char *end, char *buf, size_t len)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = (size_t)((nl ? nl : end) - p);

	if (n >= len)
		n = len - 1;	/* a longer line is cut: it matches nothing */
	memcpy(buf, p, n);
	buf[n] = '\0';
	return nl ? nl + 1 : end;
}

static bool has_option(const char *opts, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = opts; *p;) {
		size_t m = strcspn(p, ",");

		if (m == n && !strncmp(p, name, n))
			return true;
		p += m;
		if (*p == ',')
			p++;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int unescape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		char c = *p;

		if (c == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		}
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* The first mount of fstype (with controller among its super options, when
 * given) in mountinfo text. */
static int find_mount(const char *text, size_t len, const char *fstype_want,
		      const char *controller, char *out, size_t outlen)
{
	const char *p = text, *end = text + len;
	char line[4096];

	while (p < end) {
		char mnt[4096], fstype[64], opts[1024];
		const char *sep;

		p = next_line(p, end, line, sizeof(line));
		sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (strcmp(fstype, fstype_want) || (controller && !has_option(opts, controller)))
			continue;
		return unescape(mnt, out, outlen);
	}
	return -ENOENT;
}

int mo_cgroup_v1_mount(const char *text, size_t len, const char *controller, char *out,
		       size_t outlen)
{
	if (!text || !controller || !*controller || !out || !outlen)
		return -EINVAL;
	return find_mount(text, len, "cgroup", controller, out, outlen);
}

int mo_cgroup2_mount(const char *text, size_t len, char *out, size_t outlen)
{
	if (!text || !out || !outlen)
		return -EINVAL;
	return find_mount(text, len, "cgroup2", NULL, out, outlen);
}

int mo_cgroup_subsys_index(const char *text, size_t len, const char *controller)
{
	const char *p = text, *end = text + len;
	char line[256], name[64];
	int index = 0;

	if (!text || !controller || !*controller)
		return -EINVAL;
	while (p < end) {
		p = next_line(p, end, line, sizeof(line));
		if (line[0] == '#' || sscanf(line, "%63s", name) != 1)
			continue;
		if (!strcmp(name, controller))
			return index;
		index++;
	}
	return -ENOENT;
}
