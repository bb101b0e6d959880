/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * modules.h - load executable modules' unwind rows into the kernel walker's
 * maps. Rows live in one mmap-able BPF array shared by all processes; each
 * file (by device and inode) is compiled once, found in O(1). Files that
 * cannot be compiled are remembered so they are not retried on every walk
 * (the last few thousand of them).
 */
#ifndef MO_MODULES_H
#define MO_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>

#include "abi.h"

struct mo_modules;

struct mo_modules_stats {
	uint64_t loaded;	/* files with rows in the kernel */
	uint64_t failed;	/* files without usable CFI */
	uint64_t rows_used;
	uint64_t rows_capacity;
	uint64_t full;		/* files skipped because the row array is full */
	uint64_t refused;	/* files not opened: not a regular file, not the
				   inode mapped, too large (safefile.h) */
	uint64_t evicted;	/* files whose rows were freed for others */
	uint64_t deferred;	/* loads that waited for freed rows */
};

/* rows_fd: the mmap-able array (capacity entries); modules_fd: the hash. */
struct mo_modules *mo_modules_new(int rows_fd, uint32_t capacity, int modules_fd);
void mo_modules_free(struct mo_modules *m);

struct mo_unwind_table;
/*
 * What compiles a file's rows from its descriptor (not closed): by default
 * mo_unwind_table_build_fd in this process. More than max_rows may be
 * refused with -ENOSPC. -EAGAIN: not available now, the file is not
 * remembered and is tried again at its next use; any other error marks the
 * file failed (remembered, up to a bound).
 */
typedef int (*mo_rows_builder_fn)(void *ctx, int fd, size_t max_rows,
				   struct mo_unwind_table *out);
void mo_modules_set_builder(struct mo_modules *m, mo_rows_builder_fn fn, void *ctx);

/*
 * Where a file's rows are published for the walker: by default the BPF hash
 * modules_fd. Each returns 0 or -errno.
 */
struct mo_modules_map_ops {
	int (*put)(void *ctx, const struct mo_module_key *k, const struct mo_module_info *v);
	int (*get)(void *ctx, const struct mo_module_key *k, struct mo_module_info *v);
	int (*del)(void *ctx, const struct mo_module_key *k);
};
void mo_modules_set_map(struct mo_modules *m, const struct mo_modules_map_ops *ops, void *ctx);

/*
 * The array is finite: a file that does not fit makes room by evicting the
 * files the walker used least recently (mo_module_info.last_ns). Their rows
 * are reused only after a grace period (1 s; settable for tests) and the
 * file waiting for them is loaded when the walker asks again. The walker is
 * told so through these (not set: nobody is told).
 */
struct mo_modules_walker {
	/* the walker asks for this file again at its next use */
	void (*ask_again)(void *ctx, uint64_t dev, uint64_t ino);
	/* row indexes cached before this epoch are stale */
	void (*rows_epoch)(void *ctx, uint32_t epoch);
};
void mo_modules_set_walker(struct mo_modules *m, const struct mo_modules_walker *w, void *ctx);
void mo_modules_set_grace(struct mo_modules *m, uint64_t grace_ns);

/* Rows whose grace ended become reusable, and the files that waited for
 * them are asked for again. now: CLOCK_BOOTTIME ns. */
void mo_modules_tick(struct mo_modules *m, uint64_t now);

/* Load every executable file mapped by pid, each the inode mapped (read
 * through /proc/PID/map_files, or its path while that is still the same
 * inode). Returns how many new files were
 * loaded, or -errno when the maps cannot be read. */
int mo_modules_load_pid(struct mo_modules *m, pid_t pid);

/* The same for pid's C library and dynamic loader only. */
int mo_modules_load_libc(struct mo_modules *m, pid_t pid);

/* Load one file by path (dev/ino taken from stat). 1 loaded, 0 known, -errno
 * (-EBUSY: it waits for rows being freed; the walker is asked to ask for it
 * again when they are). */
int mo_modules_load_path(struct mo_modules *m, const char *path);

/* Load the file with this kernel dev_t and inode as mapped by pid. */
int mo_modules_load_id(struct mo_modules *m, pid_t pid, uint64_t dev, uint64_t ino);

/* Whether the file's rows are loaded (published to the walker). */
bool mo_modules_loaded(const struct mo_modules *m, uint64_t dev, uint64_t ino);

/* An executable and the shared libraries it names (DT_NEEDED, transitively,
 * searched in the standard library directories), for a command about to be
 * started, so its first allocations already unwind. Returns files loaded. */
int mo_modules_preload_command(struct mo_modules *m, const char *exe_path);

/* Path of a file seen before, by kernel dev_t and inode; NULL if unknown. */
const char *mo_modules_path(const struct mo_modules *m, uint64_t dev, uint64_t ino);

void mo_modules_stats(const struct mo_modules *m, struct mo_modules_stats *out);

#endif
