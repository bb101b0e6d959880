// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* profiles.c - live heap profiles and their history (profiles.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "memobserver.h"
#include "outfile.h"
#include "parse.h"
#include "profiles.h"

/* How long a request waits for the observer's worker: a report walks the
 * allocation table between two rounds of work. Under the profile server's
 * connection timeout (http.c). */
#define SERVE_WAIT_MS 20000
/* A snapshot holds up the event loop meanwhile. */
#define SNAPSHOT_WAIT_MS 30000
/* Snapshot names: heap-20261204T183005.123Z.pb.gz (UTC, so they sort by time). */
#define SNAP_PREFIX "heap-"
#define SNAP_SUFFIX "Z.pb.gz"
#define SNAP_STAMP_LEN 19	/* 20261204T183005.123 */
#define SNAP_NAME_LEN (sizeof(SNAP_PREFIX) - 1 + SNAP_STAMP_LEN + sizeof(SNAP_SUFFIX) - 1)
/* A container id is 64 hex digits; a filter may give a prefix. */
#define CONTAINER_ID_MAX 64

/* The default bounds, or fewer stacks when a test asks for them (as the
 * MEMOBSERVER_NO_* variables force kernel fallbacks), to see them cut. */
static struct mo_profile_limits limits(void)
{
	const char *s = getenv("MEMOBSERVER_PROFILE_MAX_STACKS");
	struct mo_profile_limits l = { 0 };
	uint64_t v;

	if (s && !mo_parse_uint(s, 1, MO_PROFILE_MAX_STACKS, &v))
		l.max_stacks = (size_t)v;
	return l;
}

static void answer(struct http_reply *out, unsigned status, const char *msg)
{
	out->status = status;
	out->body = strdup(msg);
	out->len = out->body ? strlen(msg) : 0;
	if (!out->body)
		out->status = 0;	/* the server answers 500 */
}

static bool hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Request values are not echoed: they are the client's, not ours to print. */
void profiles_serve(void *ctx, const struct http_profile_request *req, struct http_reply *out)
{
	const struct mo_profile_limits lim = limits();
	struct mo_report_query q = { 0 };
	struct mo_observer *obs = ctx;
	uint8_t *gz = NULL;
	size_t len = 0;
	uint64_t pid;
	char msg[160];
	int err;

	q.kind = req->which == HTTP_PROFILE_GROWTH ? MO_REPORT_GROWTH : MO_REPORT_HEAP;
	if (req->pid) {
		if (mo_parse_uint(req->pid, 1, INT_MAX, &pid))
			return answer(out, 400, "invalid pid: give a process id (1 to 2147483647)\n");
		q.pid = (pid_t)pid;
	}
	if (req->container) {
		if (!hex_prefix(req->container))
			return answer(out, 400,
				      "invalid container: give a container id or its first "
				      "characters (1 to 64 lowercase hex digits)\n");
		q.container = req->container;
	}
	err = mo_observer_profile(obs, &q, &lim, SERVE_WAIT_MS, &gz, &len);
	switch (err) {
	case 0:
		out->status = 200;
		out->body = (char *)gz;
		out->len = len;
		return;
	case -ESRCH:
		snprintf(msg, sizeof(msg), "no process %llu is known to memobserver\n",
			 (unsigned long long)q.pid);
		return answer(out, 404, msg);
	case -EOPNOTSUPP:
		return answer(out, 404,
			      "no growth profile: the watch tier is not running (--tier watch, "
			      "or auto when observing every process)\n");
	case -ETIMEDOUT:
		return answer(out, 503, "the observer is busy: try again\n");
	default:
		snprintf(msg, sizeof(msg), "cannot make the profile: %s\n", strerror(-err));
		return answer(out, 500, msg);
	}
}

/* DIR/x resolved as every output file is: the directory's descriptor. */
static int open_dir(const char *dir, const char **why)
{
	char probe[PATH_MAX], leaf[NAME_MAX + 1];
	int n = snprintf(probe, sizeof(probe), "%s/x", dir);

	*why = "";
	if (n < 0 || (size_t)n >= sizeof(probe))
		return -ENAMETOOLONG;
	return mo_outfile_parent(probe, leaf, sizeof(leaf), why);
}

void profiles_check_dir(struct cli *c)
{
	const char *why;
	int fd;

	if (!c->profile_dir)
		return;
	fd = open_dir(c->profile_dir, &why);
	if (fd >= 0 && faccessat(fd, ".", W_OK, AT_EACCESS))
		fd = -errno;
	if (fd < 0)
		cli_die(c, "cannot write snapshots to --profile-dir '%s': %s", c->profile_dir,
			why[0] ? why : strerror(-fd));
	close(fd);
}

/* One of our snapshot names, exactly (temporary files and others are not). */
static bool snapshot_name(const char *name)
{
	const char *stamp = name + sizeof(SNAP_PREFIX) - 1;

	if (strlen(name) != SNAP_NAME_LEN || strncmp(name, SNAP_PREFIX, sizeof(SNAP_PREFIX) - 1) ||
	    strcmp(stamp + SNAP_STAMP_LEN, SNAP_SUFFIX))
		return false;
	for (int i = 0; i < SNAP_STAMP_LEN; i++) {
		char ch = stamp[i];

		if (i == 8 ? ch != 'T' : i == 15 ? ch != '.' : ch < '0' || ch > '9')
			return false;
	}
	return true;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Remove the oldest snapshots beyond keep: regular files with our exact
 * name pattern, in the directory as resolved for the write, never
 * following a link. 0 or -errno.
 */
static int rotate(const char *dir, unsigned keep)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	const char *why;
	int dfd, lfd, err = 0;
	DIR *d;

	dfd = open_dir(dir, &why);
	if (dfd < 0)
		return dfd;
	lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		err = -errno;
		if (lfd >= 0)
			close(lfd);
		close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!snapshot_name(de->d_name) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **p = realloc(names, ncap * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			names = p;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	if (!err && n > keep) {
		qsort(names, n, sizeof(*names), by_name);
		for (size_t i = 0; i < n - keep; i++)
			if (unlinkat(dfd, names[i], 0) && errno != ENOENT && !err)
				err = -errno;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	close(dfd);
	return err;
}

static void snapshot_failed(struct cli *c, const char *what, const char *path, int err)
{
	fprintf(stderr, "%s: warning: cannot %s profile snapshot '%s': %s\n", cli_prog, what, path,
		strerror(-err));
	mo_observer_note(c->obs, MO_CTR_output_write_errors, 1);
}

void profiles_snapshot(struct cli *c)
{
	const struct mo_report_query all = { .kind = MO_REPORT_HEAP };
	const struct mo_profile_limits lim = limits();
	char path[PATH_MAX], stamp[32];
	const char *what = "write";
	struct timespec now;
	struct tm tm;
	uint8_t *gz = NULL;
	size_t len;
	int err, n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	n = snprintf(path, sizeof(path), "%s/" SNAP_PREFIX "%s.%03ld" SNAP_SUFFIX, c->profile_dir,
		     stamp, now.tv_nsec / 1000000);
	if (n < 0 || (size_t)n >= sizeof(path))
		return snapshot_failed(c, "name", c->profile_dir, -ENAMETOOLONG);
	err = mo_observer_profile(c->obs, &all, &lim, SNAPSHOT_WAIT_MS, &gz, &len);
	if (err)
		return snapshot_failed(c, "make", path, err);
	err = mo_write_file_atomic(path, gz, len, &what);
	free(gz);
	if (err)
		return snapshot_failed(c, what, path, err);
	if (c->verbose)
		fprintf(stderr, "%s: profile snapshot %s\n", cli_prog, path);
	err = rotate(c->profile_dir, c->profile_keep);
	if (err)
		snapshot_failed(c, "rotate", c->profile_dir, err);
}
