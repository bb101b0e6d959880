/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * atomicfile.h - write a whole file so readers see the old one or the new
 * one, never a partial write: a temp file beside path (rename is atomic
 * only within one file system), written, fsynced, renamed; removed on any
 * error. The temp name holds our pid and O_EXCL rather than mkstemp, so the
 * file gets the usual 0666 & ~umask mode, as if path were created directly.
 */
#ifndef MO_ATOMICFILE_H
#define MO_ATOMICFILE_H

#include <stddef.h>

/* 0 or -errno. what (may be NULL) gets the step that failed: "create a
 * temporary file for", "write", "sync", "rename a temporary file to". */
int mo_write_file_atomic(const char *path, const void *data, size_t len, const char **what);

#endif
