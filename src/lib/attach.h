/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * attach.h - find the allocator a process really uses and attach the
 * allocator probes there, each at the cheapest safe instruction.
 *
 * Table-driven: one row per allocator function (symbol -> enum mo_fn, the
 * probe's cookie). With session uprobes (kernel 6.13+) all functions of one
 * module go into a single uprobe_multi link created with the raw bpf()
 * syscall (libbpf 1.1 predates it); otherwise one perf-event uprobe and
 * uretprobe per function through libbpf.
 */
#ifndef MO_ATTACH_H
#define MO_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_program;
struct bpf_link;

/* BPF attach types newer than libbpf 1.1's headers. */
#define MO_BPF_TRACE_UPROBE_MULTI 48
#define MO_BPF_TRACE_UPROBE_SESSION 57

struct mo_elf_func;

/*
 * What reads an allocator file's symbols and first code bytes, with
 * elfsym.h's mo_elf_find_funcs_fd contract (privsep.h's parser, or this
 * process by default). Process-wide: set before the first attach, by the
 * observer that owns ctx; fn NULL restores the default. A reader's error
 * other than -ENOMEM and -EAGAIN is kept for that file: not asked again,
 * except after -ECHILD (the parser died, hung or lied), asked again once
 * the retry interval (10 minutes; mo_attach_set_reader_retry) has passed.
 */
typedef int (*mo_funcs_reader_fn)(void *ctx, int fd, struct mo_elf_func *funcs, size_t n);
void mo_attach_set_reader(mo_funcs_reader_fn fn, void *ctx);
void mo_attach_set_reader_retry(uint64_t ns);
/* The reader now: ctx, or NULL with the default. */
void *mo_attach_reader_ctx(void);
/* err (-errno from this file's functions) as words: a reader's -ECHILD and
 * -EAGAIN say what happened to the parser. */
const char *mo_attach_strerror(int err);

struct mo_links {
	size_t nr, cap;
	struct {
		struct bpf_link *link;	/* libbpf link, or NULL */
		int fd;			/* raw link fd, or -1 */
		pid_t pid;		/* 0: every process */
		char *path;		/* for messages only: never resolved again */
		dev_t dev;		/* the file's identity: one file may have */
		ino_t ino;		/* many paths (/lib, /usr/lib, /proc/PID/root) */
		int file_fd;		/* sheddable links: the checked file, which a
					   re-attach names as /proc/self/fd/N */
		/* a session link of allocating functions only, which the
		 * overhead budget may detach (fd -1, shed) and re-create */
		bool sheddable, shed;
		int prog_fd;
		unsigned long *offsets;
		unsigned long long *cookies;
		unsigned cnt;
	} *l;
	size_t probes;			/* functions probed in total */
};

void mo_links_init(struct mo_links *ls);
void mo_links_release(struct mo_links *ls);	/* detaches everything */
/* Detach the links of pid (its own, pid-filtered ones); how many. The
 * caller keeps the count of functions probed. */
size_t mo_links_release_pid(struct mo_links *ls, pid_t pid);

/* Detach (shed = true) or re-attach the sheddable links of pid (0: the
 * links for every process). Returns how many links changed, or -errno
 * from a re-attach (the links not re-created stay shed). */
int mo_links_shed(struct mo_links *ls, pid_t pid, bool shed);

/*
 * An allocator file, opened once (src/lib/safefile.h) and checked against
 * the mapping that made it the choice: its symbols and code bytes are read
 * through fd and the kernel attaches to fd's file (/proc/self/fd/N), so
 * the path a process controls is never resolved a second time.
 */
struct mo_allocator {
	int fd;			/* -1: none */
	dev_t dev;
	ino_t ino;
	char path[4160];	/* as found, for messages */
};

void mo_allocator_close(struct mo_allocator *a);	/* accepts a closed one */

bool mo_links_has(const struct mo_links *ls, const struct mo_allocator *a, pid_t pid);

/*
 * Open the object that provides malloc for pid: the executable when it
 * defines malloc itself (static or custom) or, lacking it, a prefixed
 * malloc family (je_malloc, mi_malloc, tc_malloc: tried when prefix is
 * NULL), else the first other mapped library that defines malloc (a linked
 * or preloaded allocator), else the first that defines a prefixed family,
 * else the C library.
 * pid 0 means memobserver's own C library (for commands it starts). The
 * file opened is the inode the process maps (mo_safe_open_mapping).
 * 0 or -errno (-ESRCH: no process; -ENOENT: no allocator found).
 */
int mo_allocator_open(pid_t pid, const char *prefix, struct mo_allocator *a);

/* Same decision for an executable not yet running, over its library
 * closure in the dynamic linker's lookup order (src/lib/deps.h). */
int mo_allocator_open_exe(const char *exe, const char *prefix, struct mo_allocator *a);

/* A file the operator named (--allocator-lib), opened with mo_safe_open. */
int mo_allocator_open_path(const char *path, struct mo_allocator *a);

/* Every executable object pid maps, what allocator entry points it defines,
 * and which one memobserver would probe and why (--list-allocators). */
struct mo_allocator_candidate {
	char path[4160];	/* through /proc/PID/root */
	char map_path[4096];	/* as the process maps it */
	uint64_t map_start;	/* its first executable mapping and the */
	uint64_t map_end;	/* identity maps shows: the file opened is */
	uint32_t dev_major;	/* that inode (mo_safe_open_mapping) */
	uint32_t dev_minor;
	uint64_t ino;
	bool deleted;
	const char *role;	/* "executable", "library", "C library" */
	bool has_malloc;
	bool has_free;
	bool cxx_operators;	/* defines operator new/delete itself */
	bool jemalloc_api;	/* mallocx & co */
	unsigned entry_points;	/* allocator entry points found */
	const char *prefix;	/* found by itself (the caller gave none) for an
				 * object with only prefixed names, else NULL */
	const char *prefixed_allocator;	/* "jemalloc" for "je_", ... */
	bool chosen;
	char why[256];		/* for the chosen one */
};
int mo_allocator_list(pid_t pid, const char *prefix, struct mo_allocator_candidate **out,
		      size_t *n);

struct mo_attach_progs {
	struct bpf_program *session_prog;	/* used when session is true */
	struct bpf_program *enter;
	struct bpf_program *exit;
	bool session;
	bool split;		/* session: allocating functions in a link of their
				   own, for the overhead budget */
	const char *prefix;	/* symbol prefix of the C API ("je_"), or NULL */
};

/*
 * Attach the allocator probes in a's file for pid (0 = every process using
 * the file). Without progs->prefix, a file with only prefixed names
 * (je_malloc) is probed under that prefix. Without session uprobes each
 * function's return probe is attached before its entry probe: an entry
 * seen always has its return seen. On failure nothing from this call stays
 * attached; err names the module and symbol. Returns the number of
 * functions probed or -errno.
 */
int mo_attach_allocator(struct mo_links *ls, const struct mo_attach_progs *progs,
			const struct mo_allocator *a, pid_t pid, char *err, size_t errlen);

#endif
