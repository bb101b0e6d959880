/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symfile.h - the parsing half of symbolization: ELF files read from
 * descriptors with libdw/libdwfl, addresses in them resolved to functions,
 * files and lines (inlines expanded). No /proc, no pids, no paths opened
 * here: descriptors come in, debug files come from an opener the caller
 * supplies (mo_debug_open in this process, or the privileged side of
 * privsep.c). Everything a file says is untrusted; this is the code that
 * runs in the confined parser process.
 *
 * Not thread-safe: a set of files belongs to one thread.
 */
#ifndef MO_SYMFILE_H
#define MO_SYMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* PT_LOADs kept per file; a file with more keeps its first ones. */
#define MO_SYMFILE_MAX_SEGS 16
/* Symbol and file names longer than this are cut (the frame still names
 * the function's first bytes). */
#define MO_SYMFILE_MAX_NAME 4095
/* Frames for one address: nested inlined calls plus the function. */
#define MO_SYMFILE_MAX_FRAMES 65

struct mo_symseg {		/* one PT_LOAD */
	uint64_t offset;
	uint64_t vaddr;
	uint64_t filesz;
	bool x;
};

struct mo_symfile_info {
	char build_id[2 * 64 + 1];	/* lowercase hex; "" when none */
	uint32_t nsegs;
	struct mo_symseg segs[MO_SYMFILE_MAX_SEGS];
	bool symbols;			/* lookups may name functions */
};

/* Longest name demangled (in and out); longer ones are kept as they are. */
#define MO_DEMANGLE_MAX 4096

/*
 * A mangled C++ (Itanium ABI) or Rust name demangled with libiberty, as
 * c++filt prints it ("_Z3fooi" -> "foo(int)"): malloc'ed, or NULL when name
 * is not a mangled name (a C name), does not demangle, or is too long.
 */
char *mo_demangle(const char *name);

/* One frame of a lookup, innermost first; strings are malloc'ed. */
struct mo_symframe {
	char *symbol;		/* NULL: unknown */
	char *linkage;		/* the name in the file when symbol was demangled from it */
	uint64_t offset;	/* looked-up vaddr - symbol start; 0 when inlined */
	char *file;		/* NULL: unknown */
	int line;
	bool inlined;
};

void mo_symframes_free(struct mo_symframe *f, size_t n);	/* accepts NULL */

/*
 * Where separate debug information is looked for, in this order: the
 * host's /usr/lib/debug/.build-id/ (name: the hex build id); the module's
 * .gnu_debuglink name (a plain file name) next to the module, in its
 * .debug/ directory (both in the process's own root) and under
 * /usr/lib/debug; the .gnu_debugaltlink file (dwz), an absolute name
 * under /usr/lib/debug.
 */
enum mo_debug_where {
	MO_DEBUG_BUILD_ID = 1,
	MO_DEBUG_LINK_SIBLING,
	MO_DEBUG_LINK_DOTDEBUG,
	MO_DEBUG_LINK_USR,
	MO_DEBUG_ALT,
	MO_DEBUG_WHERE_END,
};

/* Opens a candidate debug file: an fd the reader may map and keeps (it
 * checks build id or CRC itself), or -errno. */
struct mo_debug_opener {
	int (*open)(void *ctx, enum mo_debug_where where, const char *name);
	void *ctx;
};

/*
 * The privileged half of a debug file lookup for the module pid maps as
 * map_path: where and name are checked (a build id is hex, a link a plain
 * file name, an alt name absolute under /usr/lib/debug without ".."),
 * candidates in the process's root are reached without following any
 * symlink, and the file is opened with safefile.h. Unless it is root's
 * and not writable by others under the host's /usr/lib/debug, the fd is a
 * sealed private copy (a truncation cannot SIGBUS its reader). Returns the
 * fd or -errno (-EINVAL: a name the checks refuse).
 */
int mo_debug_open(pid_t pid, const char *map_path, enum mo_debug_where where, const char *name);

/* Files open for lookups, each named by a handle (never 0). */
struct mo_symfiles;

struct mo_symfiles *mo_symfiles_new(void);
void mo_symfiles_free(struct mo_symfiles *fs);	/* accepts NULL */

/*
 * Read the ELF file open at fd (taken over in every case). modname names
 * it in libdwfl (the path the process maps). A file whose build id is
 * already open shares that file's handle (closed as often as opened).
 * *info is filled whenever 0 is returned; *handle is 0 when nothing can be
 * looked up in the file (not ELF, no PT_LOAD, libdwfl refused it).
 * 0 or -ENOMEM.
 */
int mo_symfiles_open(struct mo_symfiles *fs, int fd, const char *modname,
		     const struct mo_debug_opener *op, struct mo_symfile_info *info,
		     uint32_t *handle);

/* Frames for ELF vaddr in the file: 1 to MO_SYMFILE_MAX_FRAMES, written to
 * a new array *frames (free with mo_symframes_free). A mangled name is
 * demangled (mo_demangle) with the name in the file kept as linkage.
 * 0, -ENOENT (no such handle) or -ENOMEM. */
int mo_symfiles_lookup(struct mo_symfiles *fs, uint32_t handle, uint64_t vaddr,
		       struct mo_symframe **frames, size_t *n);

void mo_symfiles_close(struct mo_symfiles *fs, uint32_t handle);

#endif
