// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* outfile.c - output files opened without following others' links (outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

#define MAX_LINKS 40		/* as the kernel's path walk */

/* May a symlink with this owner be followed? */
static bool trusted(uid_t owner)
{
	return owner == 0 || owner == getuid();
}

/*
 * Walk path (relative to dirfd when not absolute), every component a
 * directory, following only trusted symlinks; returns an O_PATH descriptor
 * of the directory reached, or -errno. Consumes dirfd.
 */
static int walk(int dirfd, const char *path, int *links, const char **why)
{
	char buf[PATH_MAX], *save = NULL, *comp;

	if (strlen(path) >= sizeof(buf)) {
		close(dirfd);
		*why = "is too long";
		return -ENAMETOOLONG;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	if (buf[0] == '/') {
		close(dirfd);
		dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return -errno;
	}
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		char target[PATH_MAX];
		struct stat st;
		ssize_t n;
		int fd;

		if (!strcmp(comp, "."))
			continue;
		fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			int err = -errno;

			if (fd >= 0)
				close(fd);
			close(dirfd);
			return err;
		}
		if (S_ISDIR(st.st_mode)) {
			close(dirfd);
			dirfd = fd;
			continue;
		}
		if (!S_ISLNK(st.st_mode)) {
			close(fd);
			close(dirfd);
			*why = "has a component that is not a directory";
			return -ENOTDIR;
		}
		if (!trusted(st.st_uid) || ++*links > MAX_LINKS) {
			close(fd);
			close(dirfd);
			*why = *links > MAX_LINKS ? "has too many symlinks"
						  : "goes through a symlink owned by another user";
			return -ELOOP;
		}
		n = readlinkat(fd, "", target, sizeof(target) - 1);
		close(fd);
		if (n < 0) {
			int err = -errno;

			close(dirfd);
			return err;
		}
		target[n] = '\0';
		dirfd = walk(dirfd, target, links, why);
		if (dirfd < 0)
			return dirfd;
	}
	return dirfd;
}

int mo_outfile_parent(const char *path, char *leaf, size_t leaflen, const char **why)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int links = 0, cwd;

	*why = "";
	if (!path[0] || (slash && !slash[1])) {
		*why = "names no file";
		return -EISDIR;
	}
	if (strlen(slash ? slash + 1 : path) >= leaflen) {
		*why = "has a file name that is too long";
		return -ENAMETOOLONG;
	}
	snprintf(leaf, leaflen, "%s", slash ? slash + 1 : path);
	if (!strcmp(leaf, ".") || !strcmp(leaf, "..")) {
		*why = "names no file";
		return -EISDIR;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return -errno;
	return walk(cwd, dir, &links, why);
}

int mo_outfile_open(const char *path, struct mo_outfile *f, const char **why)
{
	struct stat st;
	int err;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->dirfd = mo_outfile_parent(path, f->leaf, sizeof(f->leaf), why);
	if (f->dirfd < 0) {
		err = f->dirfd;
		f->dirfd = -1;
		return err;
	}
	f->fd = openat(f->dirfd, f->leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       0644);
	if (f->fd >= 0) {
		f->created = true;
	} else if (errno == EEXIST) {
		f->fd = openat(f->dirfd, f->leaf, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
		if (f->fd < 0 && errno == ELOOP) {
			/* the name is a symlink: followed only when trusted */
			if (fstatat(f->dirfd, f->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    trusted(st.st_uid))
				f->fd = openat(f->dirfd, f->leaf, O_WRONLY | O_NOCTTY | O_CLOEXEC);
			else
				errno = ELOOP;
		}
	}
	if (f->fd < 0) {
		err = -errno;
		*why = err == -ELOOP ? "is a symlink owned by another user" : "";
		mo_outfile_discard(f);
		return err;
	}
	if (fstat(f->fd, &st)) {
		err = -errno;
		mo_outfile_discard(f);
		return err;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	if (S_ISREG(st.st_mode) && !f->created) {
		if (st.st_nlink > 1) {
			*why = "is a file with other hard links";
			mo_outfile_discard(f);
			return -EPERM;
		}
		if (ftruncate(f->fd, 0)) {
			err = -errno;
			mo_outfile_discard(f);
			return err;
		}
	}
	return 0;
}

void mo_outfile_discard(struct mo_outfile *f)
{
	struct stat st;

	if (f->created && f->dirfd >= 0 &&
	    fstatat(f->dirfd, f->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == f->dev &&
	    st.st_ino == f->ino)
		unlinkat(f->dirfd, f->leaf, 0);
	f->created = false;
	mo_outfile_close(f);
}

void mo_outfile_close(struct mo_outfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	f->fd = f->dirfd = -1;
}
