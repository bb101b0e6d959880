/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * safefile.h - open a file that a traced process controls (a library it
 * maps, a debug file its libraries name) so that nothing the process does
 * to the path or the file can hang, crash or redirect memobserver.
 *
 * Invariants of every descriptor returned here:
 *  - the path was resolved exactly once, to an O_PATH descriptor: nothing
 *    but a regular file is ever really opened (a FIFO, a tty or a device
 *    node is refused before open(2) could block or have side effects);
 *  - it is O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
 *  - it is at most MO_SAFE_MAX_SIZE bytes when opened;
 *  - when an identity is wanted (the dev/ino a mapping shows in
 *    /proc/PID/maps) it is that very inode, whatever the path names now.
 * Users then read through the descriptor, never the path again, and hand
 * the kernel mo_fd_path() ("/proc/self/fd/N") where it takes a path.
 *
 * A descriptor does not stop the file from being truncated or rewritten:
 * read it with pread or libelf's ELF_C_READ, never through an mmap that a
 * truncation turns into SIGBUS (mo_safe_copy makes a private copy for a
 * reader that insists on mapping, as libdw does for debug files).
 */
#ifndef MO_SAFEFILE_H
#define MO_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct mo_map;

/* Larger files are refused (-EFBIG): a huge sparse file at a module path
 * must not make memobserver read or allocate gigabytes. */
#define MO_SAFE_MAX_SIZE (2ULL << 30)

/* The identity /proc/PID/maps shows for a file mapping. */
struct mo_file_id {
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t ino;
};

enum {
	MO_SAFE_NOFOLLOW = 1,	/* refuse a symlink as the last component */
};

/*
 * Open path as described above. want: the identity it must have, or NULL.
 * *st (may be NULL) receives the file's fstat. Returns the fd or -errno:
 * -ENXIO not a regular file, -ESTALE not the wanted file, -EFBIG too large,
 * -ELOOP a symlink under MO_SAFE_NOFOLLOW, else open(2)'s error.
 */
int mo_safe_open(const char *path, const struct mo_file_id *want, unsigned flags,
		 struct stat *st);

/*
 * Open the file behind a file mapping of pid: the very inode mapped,
 * through /proc/PID/map_files/START-END (works for a deleted or replaced
 * file; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else through
 * /proc/PID/root/PATH or PATH itself while they still lead to the mapped
 * inode. name (may be NULL) receives the path that was opened. Returns the
 * fd or -errno (-ESTALE: the path names another file now and map_files
 * is not available).
 */
int mo_safe_open_mapping(pid_t pid, const struct mo_map *m, char *name, size_t len,
			 struct stat *st);

/* The identity of a mapping, as mo_safe_open wants it. */
void mo_map_file_id(const struct mo_map *m, struct mo_file_id *id);

/* "/proc/self/fd/N": a path the kernel resolves to fd's own file. */
void mo_fd_path(int fd, char *buf, size_t len);

/* The path of the file open at fd, as the kernel names it (the file
 * reached, symlinks resolved), NUL-terminated in buf: 0, or -errno with
 * buf "". */
int mo_fd_target(int fd, char *buf, size_t len);

/*
 * A private, sealed copy of fd's first size bytes in memory (a memfd that
 * nobody else can truncate or write). *crc, when not NULL, receives the
 * CRC-32 of the bytes (.gnu_debuglink's checksum). Returns the memfd or
 * -errno (-EFBIG past MO_SAFE_MAX_SIZE, -EIO when the file shrank).
 */
int mo_safe_copy(int fd, uint64_t size, uint32_t *crc);

/* Files refused since the process started, by reason (thread-safe). */
struct mo_safefile_stats {
	uint64_t opened;
	uint64_t not_regular;	/* FIFO, device, socket, directory */
	uint64_t replaced;	/* the path names another file than the mapping */
	uint64_t too_large;
	uint64_t symlinks;	/* MO_SAFE_NOFOLLOW */
	uint64_t via_map_files;	/* opened through /proc/PID/map_files */
};
void mo_safefile_stats(struct mo_safefile_stats *out);

#endif
