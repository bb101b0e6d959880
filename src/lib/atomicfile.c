// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * atomicfile.c - temp file, fsync, rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "atomicfile.h"
#include "outfile.h"

#define TEMP_ATTEMPTS 100

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int create_temp(int dirfd, const char *leaf, char *tmp, size_t tmplen)
{
	static unsigned int seq;

	for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
		unsigned int n = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
		int len = snprintf(tmp, tmplen, "%s.tmp.%d.%u", leaf, (int)getpid(), n);
		int fd;

		if (len < 0 || (size_t)len >= tmplen)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int mo_write_file_atomic(const char *path, const void *data, size_t len, const char **what)
{
	char tmp[PATH_MAX], leaf[NAME_MAX + 1];
	const char *step = "create a temporary file for", *why;
	int fd, dirfd, ret;

	/* the directory reached through trusted links only; the name itself
	 * is replaced by the rename, never followed */
	dirfd = mo_outfile_parent(path, leaf, sizeof(leaf), &why);
	if (dirfd < 0) {
		if (what)
			*what = "reach the directory of";
		return dirfd;
	}
	fd = create_temp(dirfd, leaf, tmp, sizeof(tmp));
	if (fd < 0) {
		close(dirfd);
		if (what)
			*what = step;
		return fd;
	}
	step = "write";
	ret = write_all(fd, data, len);
	/* flushed before the rename: a crash never leaves a truncated file */
	if (!ret && fsync(fd) < 0) {
		step = "sync";
		ret = -errno;
	}
	if (close(fd) < 0 && !ret) {
		step = "write";
		ret = -errno;
	}
	if (!ret && renameat(dirfd, tmp, dirfd, leaf) < 0) {
		step = "rename a temporary file to";
		ret = -errno;
	}
	if (ret)
		unlinkat(dirfd, tmp, 0);
	close(dirfd);
	if (what)
		*what = step;
	return ret;
}
