/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * deps.h - the objects a program will load, in the dynamic linker's symbol
 * lookup order: LD_PRELOAD entries, the executable, then its DT_NEEDED
 * libraries breadth-first, each searched in LD_LIBRARY_PATH, the
 * executable's DT_RUNPATH/DT_RPATH and the standard library directories.
 * musl's "libc.so" is its dynamic linker (the PT_INTERP). For a "#!"
 * script the program is its interpreter. Used for a
 * command that has not been exec'd yet. Files are read through
 * mo_safe_open (src/lib/safefile.h).
 */
#ifndef MO_DEPS_H
#define MO_DEPS_H

#include <stddef.h>

struct mo_deps {
	char *exe;	/* the program: for a "#!" script, its interpreter */
	size_t nr;
	char **paths;	/* resolved paths, lookup order, no duplicates */
};

/* 0 or -errno (-ENOENT: exe missing). Missing libraries are skipped. */
int mo_deps_resolve(const char *exe, struct mo_deps *out);
void mo_deps_release(struct mo_deps *d);

#endif
