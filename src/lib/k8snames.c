// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * k8snames.c - Kubernetes names from the kubelet's log layout (k8snames.h).
 *
 * A scan reads the two directories' entries (names and types only) into
 * two tables sorted by key, container id and pod UID, built aside and
 * swapped in whole, so a lookup sees one consistent scan. Each table holds
 * at most max_entries rows; their names live in one string arena per
 * table ("ns\0pod\0container\0" per row).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8snames.h"
#include "util.h"

#define ID_LEN 64
#define UUID_LEN 36
#define STATIC_UID_LEN 32	/* the kubelet's hash for a static pod */
#define FILE_NAME_MAX 255	/* the kubelet cuts link names to this */
#define LOG_SUFFIX ".log"
#define DEF_MAX_ENTRIES 8192
#define DEF_MAX_SCAN 65536
#define DEF_REFRESH_NS (10 * MO_NSEC)

struct entry {
	char key[ID_LEN + 1];	/* container id or pod UID */
	size_t off;		/* its names in the table's arena */
	bool mismatch_counted;	/* in this scan's tables */
};

struct table {
	struct entry *e;	/* sorted by key, keys distinct */
	size_t n, cap;
	char *s;
	size_t len, scap;
};

struct mo_k8snames {
	char *root;
	struct mo_k8snames_opts o;
	struct table ctrs;	/* by container id, from containers/ */
	struct table pods;	/* by pod UID, from pods/ */
	bool scanned;
	uint64_t last_scan_ns;
	struct mo_k8snames_stats st;	/* atomic: read from any thread */
};

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool lower_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, any length >= 1 */
static bool label_chars(const char *s, size_t n)
{
	if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool mo_k8s_dns_label(const char *s, size_t n)
{
	return s && n <= MO_K8S_LABEL_MAX && label_chars(s, n);
}

/* Labels joined by '.'; apimachinery bounds only the whole length. */
bool mo_k8s_dns_subdomain(const char *s, size_t n)
{
	const char *p, *end;

	if (!s || n == 0 || n > MO_K8S_SUBDOMAIN_MAX)
		return false;
	for (p = s, end = s + n; p <= end;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		const char *stop = dot ? dot : end;

		if (!label_chars(p, (size_t)(stop - p)))
			return false;
		p = stop + 1;
	}
	return true;
}

static bool is_id(const char *s, size_t n)
{
	if (n != ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_hex(s[i]))
			return false;
	return true;
}

static bool is_uid(const char *s, size_t n)
{
	if (n == STATIC_UID_LEN) {
		for (size_t i = 0; i < n; i++)
			if (!lower_hex(s[i]))
				return false;
		return true;
	}
	if (n != UUID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !lower_hex(s[i]))
			return false;
	}
	return true;
}

/* A name of exactly three '_'-separated fields: the two separators. None
 * of the kubelet's names may hold a '_', so the split is unambiguous. */
static bool split3(const char *s, size_t n, size_t *u1, size_t *u2)
{
	const char *a = memchr(s, '_', n), *b;

	if (!a)
		return false;
	b = memchr(a + 1, '_', n - (size_t)(a + 1 - s));
	if (!b || memchr(b + 1, '_', n - (size_t)(b + 1 - s)))
		return false;
	*u1 = (size_t)(a - s);
	*u2 = (size_t)(b - s);
	return true;
}

static void put(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
}

int mo_k8s_parse_container_log(const char *name, size_t len, struct mo_k8s_names *out,
			       char id[65])
{
	size_t n, u1, u2, rn, cn;
	const char *rest;

	if (!name || !out || !id || len > FILE_NAME_MAX || len < strlen(LOG_SUFFIX) ||
	    memcmp(name + len - strlen(LOG_SUFFIX), LOG_SUFFIX, strlen(LOG_SUFFIX)))
		return -EINVAL;
	n = len - strlen(LOG_SUFFIX);
	if (!split3(name, n, &u1, &u2))
		return -EINVAL;
	rest = name + u2 + 1;
	rn = n - u2 - 1;
	if (rn < ID_LEN + 2 || rest[rn - ID_LEN - 1] != '-' || !is_id(rest + rn - ID_LEN, ID_LEN))
		return -EINVAL;
	cn = rn - ID_LEN - 1;
	if (!mo_k8s_dns_subdomain(name, u1) || !mo_k8s_dns_label(name + u1 + 1, u2 - u1 - 1) ||
	    !mo_k8s_dns_label(rest, cn))
		return -EINVAL;
	put(out->pod, name, u1);
	put(out->ns, name + u1 + 1, u2 - u1 - 1);
	put(out->container, rest, cn);
	put(id, rest + cn + 1, ID_LEN);
	return 0;
}

int mo_k8s_parse_pod_dir(const char *name, size_t len, struct mo_k8s_names *out, char uid[37])
{
	size_t u1, u2;

	if (!name || !out || !uid || len > FILE_NAME_MAX || !split3(name, len, &u1, &u2))
		return -EINVAL;
	if (!mo_k8s_dns_label(name, u1) || !mo_k8s_dns_subdomain(name + u1 + 1, u2 - u1 - 1) ||
	    !is_uid(name + u2 + 1, len - u2 - 1))
		return -EINVAL;
	put(out->ns, name, u1);
	put(out->pod, name + u1 + 1, u2 - u1 - 1);
	out->container[0] = '\0';
	put(uid, name + u2 + 1, len - u2 - 1);
	return 0;
}

/* ---- tables ---- */

static void table_release(struct table *t)
{
	free(t->e);
	free(t->s);
	memset(t, 0, sizeof(*t));
}

static int table_add(struct table *t, const char *key, const struct mo_k8s_names *nm)
{
	size_t a = strlen(nm->ns) + 1, b = strlen(nm->pod) + 1, c = strlen(nm->container) + 1;
	struct entry *e;

	if (MO_GROW(t->e, t->n + 1, t->cap) || MO_GROW(t->s, t->len + a + b + c, t->scap))
		return -ENOMEM;
	e = &t->e[t->n++];
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->off = t->len;
	e->mismatch_counted = false;
	memcpy(t->s + t->len, nm->ns, a);
	memcpy(t->s + t->len + a, nm->pod, b);
	memcpy(t->s + t->len + a + b, nm->container, c);
	t->len += a + b + c;
	return 0;
}

static const char *ent_ns(const struct table *t, const struct entry *e)
{
	return t->s + e->off;
}

static const char *ent_pod(const struct table *t, const struct entry *e)
{
	const char *ns = ent_ns(t, e);

	return ns + strlen(ns) + 1;
}

static const char *ent_container(const struct table *t, const struct entry *e)
{
	const char *pod = ent_pod(t, e);

	return pod + strlen(pod) + 1;
}

static bool same_names(const struct table *t, const struct entry *x, const struct entry *y)
{
	return !strcmp(ent_ns(t, x), ent_ns(t, y)) && !strcmp(ent_pod(t, x), ent_pod(t, y)) &&
	       !strcmp(ent_container(t, x), ent_container(t, y));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

/*
 * Sort, and settle keys named more than once: the same names are one
 * entry; different names for one id mean one of them is forged, and
 * neither can be told right, so both go. Returns how many keys went.
 */
static uint64_t table_settle(struct table *t)
{
	size_t m = 0;
	uint64_t conflicts = 0;

	if (!t->n)
		return 0;
	qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	for (size_t i = 0; i < t->n;) {
		size_t j = i + 1;
		bool agree = true;

		for (; j < t->n && !strcmp(t->e[j].key, t->e[i].key); j++)
			agree &= same_names(t, &t->e[i], &t->e[j]);
		if (agree)
			t->e[m++] = t->e[i];
		else
			conflicts++;
		i = j;
	}
	t->n = m;
	return conflicts;
}

static struct entry *table_find(const struct table *t, const char *key)
{
	struct entry want;

	if (!t->n || strlen(key) >= sizeof(want.key))
		return NULL;
	snprintf(want.key, sizeof(want.key), "%s", key);
	return bsearch(&want, t->e, t->n, sizeof(*t->e), entry_cmp);
}

/* ---- scanning ---- */

/* The entry's type without following it (d_type, or lstat's when the
 * filesystem gives none). */
static mode_t entry_type(int dfd, const struct dirent *de)
{
	struct stat st;

	switch (de->d_type) {
	case DT_LNK:
		return S_IFLNK;
	case DT_REG:
		return S_IFREG;
	case DT_DIR:
		return S_IFDIR;
	case DT_UNKNOWN:
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return st.st_mode & S_IFMT;
		return 0;
	default:
		return S_IFIFO;	/* a FIFO, socket or device: never ours */
	}
}

/*
 * Read sub/ of root into t: container links (pods false) or pod
 * directories. Nothing below sub is followed: sub itself must be a real
 * directory, and entries are judged by their own type. -ENOMEM, else 0
 * (a missing or unreadable directory is an empty one).
 */
static int scan_dir(struct mo_k8snames *r, int rootfd, const char *sub, bool pods,
		    struct table *t)
{
	struct mo_k8snames_stats *st = &r->st;
	size_t seen = 0;
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	fd = openat(rootfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			mo_stat_add(&st->bad_type, 1);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		err = errno == ENOMEM ? -ENOMEM : 0;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		struct mo_k8s_names nm;
		char key[ID_LEN + 1];
		size_t len = strlen(de->d_name);
		mode_t type;
		int bad;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++seen > r->o.max_scan) {
			mo_stat_add(&st->table_full, 1);
			break;
		}
		type = entry_type(dirfd(d), de);
		if (pods ? type != S_IFDIR : type != S_IFLNK && type != S_IFREG) {
			mo_stat_add(&st->bad_type, 1);
			continue;
		}
		bad = pods ? mo_k8s_parse_pod_dir(de->d_name, len, &nm, key)
			   : mo_k8s_parse_container_log(de->d_name, len, &nm, key);
		if (bad) {
			mo_stat_add(&st->bad_name, 1);
			continue;
		}
		if (t->n >= r->o.max_entries) {
			mo_stat_add(&st->table_full, 1);
			continue;
		}
		err = table_add(t, key, &nm);
		if (err)
			break;
	}
	closedir(d);
	if (!err)
		mo_stat_add(&st->mismatched, table_settle(t));
	return err;
}

/* Both tables read anew; on ENOMEM the old ones stay. */
static void rescan(struct mo_k8snames *r)
{
	struct table ctrs = { 0 }, pods = { 0 };
	int rootfd, err;

	mo_stat_add(&r->st.scans, 1);
	rootfd = open(r->root, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
	if (rootfd >= 0) {
		err = scan_dir(r, rootfd, "containers", false, &ctrs);
		if (!err)
			err = scan_dir(r, rootfd, "pods", true, &pods);
		close(rootfd);
		if (err) {
			table_release(&ctrs);
			table_release(&pods);
			return;
		}
	}
	table_release(&r->ctrs);
	table_release(&r->pods);
	r->ctrs = ctrs;
	r->pods = pods;
}

static uint64_t now_ns(const struct mo_k8snames *r)
{
	return r->o.now_ns ? r->o.now_ns(r->o.now_ctx) : mo_clock_ns(CLOCK_MONOTONIC);
}

struct mo_k8snames *mo_k8snames_new(const char *root, const struct mo_k8snames_opts *opts)
{
	struct mo_k8snames *r;

	if (!root || !*root) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->root = strdup(root);
	if (!r->root) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	if (opts)
		r->o = *opts;
	if (!r->o.max_entries)
		r->o.max_entries = DEF_MAX_ENTRIES;
	if (!r->o.max_scan)
		r->o.max_scan = DEF_MAX_SCAN;
	if (!r->o.refresh_ns)
		r->o.refresh_ns = DEF_REFRESH_NS;
	return r;
}

void mo_k8snames_free(struct mo_k8snames *r)
{
	if (!r)
		return;
	table_release(&r->ctrs);
	table_release(&r->pods);
	free(r->root);
	free(r);
}

int mo_k8snames_lookup(struct mo_k8snames *r, const char *container_id, const char *pod_uid,
		       struct mo_k8s_names *out)
{
	struct entry *ce, *pe;
	const char *id = container_id ? container_id : "";
	const char *uid = pod_uid ? pod_uid : "";

	if (!r || !out || (!id[0] && !uid[0]))
		return -EINVAL;
	ce = id[0] ? table_find(&r->ctrs, id) : NULL;
	pe = uid[0] ? table_find(&r->pods, uid) : NULL;
	if ((id[0] && !ce) || (uid[0] && !pe)) {
		uint64_t now = now_ns(r);

		if (!r->scanned || now - r->last_scan_ns >= r->o.refresh_ns) {
			r->scanned = true;
			r->last_scan_ns = now;
			rescan(r);
			ce = id[0] ? table_find(&r->ctrs, id) : NULL;
			pe = uid[0] ? table_find(&r->pods, uid) : NULL;
		}
	}
	memset(out, 0, sizeof(*out));
	if (pe) {
		snprintf(out->ns, sizeof(out->ns), "%s", ent_ns(&r->pods, pe));
		snprintf(out->pod, sizeof(out->pod), "%s", ent_pod(&r->pods, pe));
		if (ce && !strcmp(ent_ns(&r->ctrs, ce), out->ns) &&
		    !strcmp(ent_pod(&r->ctrs, ce), out->pod))
			snprintf(out->container, sizeof(out->container), "%s",
				 ent_container(&r->ctrs, ce));
		else if (ce && !ce->mismatch_counted) {
			/* once per scan, however often the process is looked up */
			mo_stat_add(&r->st.mismatched, 1);
			ce->mismatch_counted = true;
		}
		return 0;
	}
	if (!ce)
		return -ENOENT;
	snprintf(out->ns, sizeof(out->ns), "%s", ent_ns(&r->ctrs, ce));
	snprintf(out->pod, sizeof(out->pod), "%s", ent_pod(&r->ctrs, ce));
	snprintf(out->container, sizeof(out->container), "%s", ent_container(&r->ctrs, ce));
	return 0;
}

void mo_k8snames_stats(const struct mo_k8snames *r, struct mo_k8snames_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->scans = mo_stat_get(&r->st.scans);
	out->bad_name = mo_stat_get(&r->st.bad_name);
	out->bad_type = mo_stat_get(&r->st.bad_type);
	out->mismatched = mo_stat_get(&r->st.mismatched);
	out->table_full = mo_stat_get(&r->st.table_full);
}
