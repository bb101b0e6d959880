// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * safefile.c - resolve once to an O_PATH descriptor, check what it is, then
 * reopen that descriptor (not the path) for reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "procmaps.h"
#include "safefile.h"

static struct mo_safefile_stats stats;

static void bump(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void mo_safefile_stats(struct mo_safefile_stats *out)
{
	out->opened = __atomic_load_n(&stats.opened, __ATOMIC_RELAXED);
	out->not_regular = __atomic_load_n(&stats.not_regular, __ATOMIC_RELAXED);
	out->replaced = __atomic_load_n(&stats.replaced, __ATOMIC_RELAXED);
	out->too_large = __atomic_load_n(&stats.too_large, __ATOMIC_RELAXED);
	out->symlinks = __atomic_load_n(&stats.symlinks, __ATOMIC_RELAXED);
	out->via_map_files = __atomic_load_n(&stats.via_map_files, __ATOMIC_RELAXED);
}

void mo_fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

int mo_fd_target(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	mo_fd_path(fd, link, sizeof(link));
	n = readlink(link, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? 0 : n < 0 ? -errno : -ENOENT;
}

void mo_map_file_id(const struct mo_map *m, struct mo_file_id *id)
{
	id->dev_major = m->dev_major;
	id->dev_minor = m->dev_minor;
	id->ino = m->inode;
}

static bool same_id(const struct stat *st, const struct mo_file_id *id)
{
	return st->st_ino == id->ino && major(st->st_dev) == id->dev_major &&
	       minor(st->st_dev) == id->dev_minor;
}

int mo_safe_open(const char *path, const struct mo_file_id *want, unsigned flags,
		 struct stat *out)
{
	char self[64];
	struct stat st, st2;
	int pfd, fd, err;

	if (!path)
		return -EINVAL;
	/* O_PATH opens nothing: a FIFO does not block, a device's open
	 * routine does not run. The one lookup of path happens here. */
	pfd = open(path, O_PATH | O_CLOEXEC | (flags & MO_SAFE_NOFOLLOW ? O_NOFOLLOW : 0));
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st)) {
		err = -errno;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		bump(&stats.symlinks);
		err = -ELOOP;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		bump(&stats.not_regular);
		err = -ENXIO;
		goto out;
	}
	if (want && !same_id(&st, want)) {
		bump(&stats.replaced);
		err = -ESTALE;
		goto out;
	}
	if ((uint64_t)st.st_size > MO_SAFE_MAX_SIZE) {
		bump(&stats.too_large);
		err = -EFBIG;
		goto out;
	}
	/* The magic link of our own descriptor: the inode checked above,
	 * whatever has happened to path since. */
	mo_fd_path(pfd, self, sizeof(self));
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &st2) || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		close(fd);
		err = -ESTALE;
		goto out;
	}
	bump(&stats.opened);
	if (out)
		*out = st2;
	err = fd;
out:
	close(pfd);
	return err;
}

/* A /proc path of pid refused because the process is gone or exiting, or
 * for want of privilege: not a verdict on the file itself. */
static bool proc_gone_or_denied(int err)
{
	return err == -ENOENT || err == -ESRCH || err == -EPERM || err == -EACCES;
}

int mo_safe_open_mapping(pid_t pid, const struct mo_map *m, char *name, size_t len,
			 struct stat *st)
{
	struct mo_file_id id;
	char buf[4200];
	int fd, n;

	if (!m->path || m->path[0] != '/')
		return -EINVAL;
	if (!name) {
		name = buf;
		len = sizeof(buf);
	}
	mo_map_file_id(m, &id);
	n = snprintf(name, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start,
		     m->end);
	if (n > 0 && (size_t)n < len) {
		fd = mo_safe_open(name, &id, 0, st);
		/* only a missing link, a process gone or exiting (-ESRCH: its
		 * mm is torn down) or privilege sends us to the paths: any
		 * other refusal is about the mapped file itself */
		if (fd >= 0)
			bump(&stats.via_map_files);
		if (fd >= 0 || !proc_gone_or_denied(fd))
			return fd;
	}
	/* a deleted file's path names something else, or nothing */
	if (m->deleted) {
		bump(&stats.replaced);
		return -ESTALE;
	}
	n = snprintf(name, len, "/proc/%d/root%s", (int)pid, m->path);
	if (n > 0 && (size_t)n < len) {
		fd = mo_safe_open(name, &id, 0, st);
		if (fd >= 0 || !proc_gone_or_denied(fd))
			return fd;
	}
	/* the process is gone (its view outlives it): the same path in our
	 * root, if it is still the inode it mapped */
	n = snprintf(name, len, "%s", m->path);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return mo_safe_open(name, &id, 0, st);
}

int mo_safe_copy(int fd, uint64_t size, uint32_t *crc)
{
	char buf[1 << 16];
	uLong c = crc32(0L, Z_NULL, 0);
	uint64_t done = 0;
	int mfd, err;

	if (size > MO_SAFE_MAX_SIZE)
		return -EFBIG;
	mfd = memfd_create("memobserver-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	while (done < size) {
		size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto fail;
		}
		if (r == 0) {
			err = -EIO;	/* truncated while we read it */
			goto fail;
		}
		c = crc32(c, (const Bytef *)buf, (uInt)r);
		for (ssize_t w = 0; w < r;) {
			ssize_t k = write(mfd, buf + w, (size_t)(r - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				err = -errno;
				goto fail;
			}
			w += k;
		}
		done += (uint64_t)r;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		err = -errno;
		goto fail;
	}
	if (crc)
		*crc = (uint32_t)c;
	return mfd;
fail:
	close(mfd);
	return err;
}
