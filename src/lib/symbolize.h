/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symbolize.h - turn process addresses into frames with elfutils libdw.
 *
 * A per-process view of modules (from /proc/PID/maps) on top of a module
 * cache keyed by build-id (path+size+mtime when there is none), so libc is
 * opened once however many processes map it. The files themselves are read
 * by a source (symfile.h in this process by default; privsep.h in a
 * confined one). Works for PIE, shared
 * libraries, and stripped files with separate debug info (debuglink and
 * /usr/lib/debug/.build-id). Unknown addresses come back as module+offset,
 * never dropped. Inlined functions expand into extra frames (innermost
 * first, marked inlined). Names come demangled from the source (symfile.h's
 * mo_demangle, run where the file is parsed), the name in the file kept as
 * the frame's linkage_name; nothing is demangled here.
 *
 * Not thread-safe: one thread (the observer's worker, under its lock) uses it.
 */
#ifndef MO_SYMBOLIZE_H
#define MO_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "memobserver.h"
#include "symfile.h"

struct mo_symbolizer;

struct mo_symbolizer *mo_symbolizer_new(void);
void mo_symbolizer_free(struct mo_symbolizer *s);	/* accepts NULL */

/*
 * What reads the modules' files, with mo_symfiles_* semantics: open takes
 * the descriptor of the mapped inode over (always), pid and map_path say
 * where its debug files are looked for. An open error other than -EAGAIN
 * (not available now: asked again later) and -ENOMEM leaves the module
 * without symbols for good; a lookup error leaves that frame unnamed.
 */
struct mo_symsource {
	int (*open)(void *ctx, int fd, pid_t pid, const char *map_path,
		    struct mo_symfile_info *info, uint32_t *handle);
	int (*lookup)(void *ctx, uint32_t handle, uint64_t vaddr, struct mo_symframe **frames,
		      size_t *n);
	void (*close)(void *ctx, uint32_t handle);
	void *ctx;
};

/* Read files through src (NULL: symfile.c in this process, the default);
 * before the first module is read (-EBUSY after). */
int mo_symbolizer_set_source(struct mo_symbolizer *s, const struct mo_symsource *src);

/*
 * Symbolize n addresses of process pid. ips[0] is the innermost frame. ips
 * after the first are return addresses: they are looked up at ip-1 so that a
 * call at the end of a function resolves to the caller, while address keeps
 * the original value. Writes a newly allocated frame array to *frames (free
 * with mo_frames_free) and its length to *nframes (>= n with inlines).
 * Returns 0 or -errno (-ESRCH: the process is gone and no cached view).
 */
int mo_symbolize(struct mo_symbolizer *s, pid_t pid, const uint64_t *ips, size_t n,
		 struct mo_frame **frames, size_t *nframes);

void mo_frames_free(struct mo_frame *frames, size_t n);

/* Stacks taken at a function's return (or right after a syscall) hold only
 * return addresses: look ips[0] up at ip-1 too, so an inlined callee whose
 * code follows the call is not named in place of the caller. */
void mo_symbolizer_first_is_return(struct mo_symbolizer *s, bool yes);

/* The process exec'd or exited: drop its module view (the module cache stays). */
void mo_symbolizer_forget(struct mo_symbolizer *s, pid_t pid);

/* Read pid's maps now, so its stacks can still be symbolized after it has
 * exited (an exited process keeps its last view). 0 or -errno. */
int mo_symbolizer_prime(struct mo_symbolizer *s, pid_t pid);

/* Give pid a view built elsewhere (for a process that is already gone);
 * takes ownership of maps' contents and leaves *maps empty. 0 or -errno. */
struct mo_maps;
int mo_symbolizer_set_maps(struct mo_symbolizer *s, pid_t pid, struct mo_maps *maps);

/* Give pid a copy of parent's view (a forked child that has not exec'd
 * maps the same code). 0 or -errno (-ESRCH: no view of the parent). */
int mo_symbolizer_inherit(struct mo_symbolizer *s, pid_t pid, pid_t parent);

/* Whether pid has a view (read, primed, given or inherited). */
bool mo_symbolizer_has_view(struct mo_symbolizer *s, pid_t pid);

/* Re-read /proc/PID/maps for pid on next use (after dlopen). */
void mo_symbolizer_refresh(struct mo_symbolizer *s, pid_t pid);

#endif
