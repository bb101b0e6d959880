/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * privsep.h - privilege separation for the files traced processes control:
 * their ELF and DWARF (unwind rows, symbols) and their runtimes' perf maps
 * are parsed in a child process with no capabilities, an unprivileged user
 * and a seccomp filter that allows no open(2), on descriptors that this
 * side opened and checked (safefile.h, perfmap.h) and passes over a socket
 * (privsep_msg.h). What comes back (rows, names) is checked like any input.
 *
 * The child is started on first use by running a program (by default
 * /proc/self/exe MO_PRIVSEP_CHILD_ARG: the program must then call
 * mo_privsep_confine and mo_privsep_serve on descriptor 3, after dropping
 * its privileges, when it is given that argument; src/cli/privs.c does).
 * If it dies (a crash on a hostile file, the seccomp filter, a kill), does
 * not answer within the timeout or breaks the protocol, it is killed and
 * counted; the file it was reading gets no rows or symbols (for good), and
 * a new child is started for the next request: at once the first time,
 * then after a delay that doubles while deaths keep coming (up to 10 s).
 * Requests meanwhile fail with -EAGAIN, so their files are asked for again
 * later. Nothing a child does makes this side hang or crash.
 *
 * One thread at a time uses a client (a mutex makes others wait); the
 * statistics may be read from any thread.
 */
#ifndef MO_PRIVSEP_H
#define MO_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfsym.h"
#include "memobserver.h"
#include "symbolize.h"
#include "unwind_table.h"

/* The argument that makes a program the parser child; its socket is fd 3. */
#define MO_PRIVSEP_CHILD_ARG "--privsep-parser"
#define MO_PRIVSEP_CHILD_FD 3

struct mo_privsep_opts {
	char *const *argv;	/* the child's program and arguments; NULL:
				   /proc/self/exe MO_PRIVSEP_CHILD_ARG */
	uint32_t timeout_ms;	/* per request; 0: 30 s */
	mo_log_fn log;		/* deaths are logged as warnings (may be NULL) */
	void *log_ctx;
};

struct mo_privsep_stats {
	uint64_t starts;	/* children started */
	uint64_t died;		/* exited or killed by a signal while in use */
	uint64_t timeouts;	/* killed: no answer in time */
	uint64_t protocol;	/* killed: a record refused (privsep_msg.h) */
	uint64_t files_lost;	/* files left without rows or symbols by those */
};

struct mo_privsep;

/* A client; no child runs until the first request. NULL + errno. */
struct mo_privsep *mo_privsep_new(const struct mo_privsep_opts *opts);
/* Ends the child (socket closed, then SIGKILL if it lingers); accepts NULL. */
void mo_privsep_free(struct mo_privsep *p);

/* The symbolizer's source (symbolize.h) through the child. */
void mo_privsep_symsource(struct mo_privsep *p, struct mo_symsource *out);

/* modules.h's row builder through the child (ctx: the client). */
int mo_privsep_build_rows(void *ctx, int fd, size_t max_rows, struct mo_unwind_table *out);

/*
 * elfsym.h's mo_elf_find_funcs_fd through the child (ctx: the client):
 * the same results, each checked against fd's file (offsets inside it,
 * the code bytes read again here). -ECHILD when the child died, did not
 * answer or lied (counted, the file lost as for rows), -EAGAIN while no
 * child may start, -ENAMETOOLONG for a name over MO_PS_FUNC_NAME_MAX.
 */
int mo_privsep_find_funcs(void *ctx, int fd, struct mo_elf_func *funcs, size_t n);

/* elfsym.h's mo_elf_build_id_fd through the child (ctx: the client):
 * errors as mo_privsep_find_funcs. */
int mo_privsep_build_id(void *ctx, int fd, char *out, size_t outlen);

struct mo_perfmap;

/*
 * perfmap.h's parser through the child (ctx: the client): the map's
 * entries as mo_perfmap_parse_fd gives them, checked (sorted, disjoint,
 * names as the parser makes them, at most MO_PERFMAP_MAX_ENTRIES, no more
 * name bytes than size). Errors as mo_privsep_find_funcs.
 */
int mo_privsep_perfmap(void *ctx, int fd, size_t size, struct mo_perfmap *out);

void mo_privsep_stats(const struct mo_privsep *p, struct mo_privsep_stats *out);

/* The running child's pid, or 0. */
pid_t mo_privsep_child(const struct mo_privsep *p);

/* ---- the child's side ---- */

/*
 * Confine the calling process for parsing: no new privileges, and a
 * seccomp filter that kills it on any system call parsing does not need
 * (open calls fail with EACCES instead). Single-threaded callers only.
 * 0 or -errno.
 */
int mo_privsep_confine(void);

/*
 * Answer requests on sock until it is closed: 0 then, or -errno on a
 * failure of the socket itself. A malformed request is answered with
 * DONE(-EPROTO) and serving goes on.
 */
int mo_privsep_serve(int sock);

#endif
