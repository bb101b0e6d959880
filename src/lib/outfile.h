/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * outfile.h - opening the files memobserver writes (it runs as root), so
 * that nobody else's symlink or hard link can make it write elsewhere.
 *
 * Paths are resolved one component at a time. A symlink is followed only
 * when root or the invoking user (the real uid) owns it: /dev/stdout works,
 * a link another user planted in a directory they own is refused. The file
 * itself is created with O_EXCL, or opened without following a link (a
 * trusted link as the last component is followed by the kernel, for the
 * /proc/self/fd links behind /dev/stdout), and an existing regular file
 * with another hard link is refused.
 */
#ifndef MO_OUTFILE_H
#define MO_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* An output file opened for writing. */
struct mo_outfile {
	int fd;
	int dirfd;		/* its directory (O_PATH), for the cleanup */
	char leaf[256];		/* its name there */
	bool created;		/* this open created it */
	dev_t dev;		/* what was opened */
	ino_t ino;
};

/*
 * Open path for writing: created (0644), or truncated when it is an
 * existing regular file. 0 or -errno; *why names the problem for an
 * error line ("is a symlink owned by uid 65534", ...).
 */
int mo_outfile_open(const char *path, struct mo_outfile *out, const char **why);

/* Remove the file, only if this open created it and it is still what was
 * created; then close. Accepts an outfile that failed to open. */
void mo_outfile_discard(struct mo_outfile *f);

/* Close (keeping the file). */
void mo_outfile_close(struct mo_outfile *f);

/*
 * The directory of path resolved as above: an O_PATH descriptor, and the
 * last component in leaf. 0 or -errno with *why set.
 */
int mo_outfile_parent(const char *path, char *leaf, size_t leaflen, const char **why);

#endif
