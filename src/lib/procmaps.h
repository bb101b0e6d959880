/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * procmaps.h - parse /proc/PID/maps.
 *
 * The parser is a pure function over text (fuzzed); mo_procmaps_read() wraps
 * it for a live pid. Paths may contain spaces; a " (deleted)" suffix is
 * removed from path and sets deleted.
 */
#ifndef MO_PROCMAPS_H
#define MO_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mo_map {
	uint64_t start;
	uint64_t end;
	uint64_t offset;	/* file offset of start */
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t inode;
	bool r, w, x, p;	/* permissions; p = private */
	bool deleted;		/* path ended in " (deleted)" (suffix removed) */
	char *path;		/* NULL for anonymous; "[heap]", "[stack]" kept */
};

struct mo_maps {
	size_t nr;
	struct mo_map *maps;
};

/* Parse maps text of len bytes. Returns 0 or -EINVAL (malformed line) /
 * -ENOMEM. On error *out is left empty. */
int mo_procmaps_parse(const char *text, size_t len, struct mo_maps *out);

/* Read a (/proc) text file whole into a malloc'd buffer *buf of *len
 * bytes plus a terminating NUL. 0 or -errno. */
int mo_read_text(const char *path, char **buf, size_t *len);

/* Read a /proc stat file (PID/stat, PID/task/TID/stat) into buf: a pointer
 * to its fields after the command name, the state letter first (the name
 * may hold anything; the fields follow its last ')'). NULL with errno set
 * when it cannot be read (ENOENT: gone) or is malformed (EINVAL). */
const char *mo_proc_stat_fields(const char *path, char *buf, size_t len);

/* Read and parse /proc/PID/maps. -ESRCH if the process is gone, -EACCES. */
int mo_procmaps_read(pid_t pid, struct mo_maps *out);

/* Map containing addr, or NULL. */
const struct mo_map *mo_maps_find(const struct mo_maps *m, uint64_t addr);

void mo_maps_release(struct mo_maps *m);	/* accepts an empty struct */

/* Deep copy of src into *dst. 0 or -ENOMEM (then *dst is empty). */
int mo_maps_copy(const struct mo_maps *src, struct mo_maps *dst);

#endif
