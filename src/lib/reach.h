/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * reach.h - which tracked heap blocks of a live process are still reachable.
 *
 * A conservative pointer scan in the manner of valgrind's and LeakSanitizer's
 * leak checkers, run from outside on a live process. The caller gives a list
 * of blocks {addr, size, id}; every block gets a class:
 *
 *   REACHABLE         a chain of pointers leads to it from a root
 *   DEFINITELY_LOST   no pointer chain from a root, and no other lost block
 *                     points to it (in a lost cycle, valgrind's rule: the
 *                     block of lowest address not pointed to by another lost
 *                     block outside the cycle)
 *   INDIRECTLY_LOST   lost, but pointed to by another lost block
 *   UNKNOWN           not decided; why[] says why
 *
 * Roots are the readable, pointer-holding mappings of the process (data and
 * bss of every module, [heap], anonymous mappings, thread stacks, TLS) minus
 * the listed blocks' own bytes, plus (stop mode) every thread's registers.
 * Heap memory of blocks that are not listed (allocated before the observer
 * attached) is therefore a root: it can only make blocks reachable, never
 * lost. Any 8-byte-aligned word whose value falls in [addr, addr + size) of
 * a block points to it: interior pointers count, as in LeakSanitizer.
 *
 * Two modes:
 *   MO_REACH_STOP  every thread is stopped with ptrace (PTRACE_SEIZE +
 *                  PTRACE_INTERRUPT) while the roots and reachable blocks are
 *                  scanned; the threads are resumed before the lost blocks
 *                  are split into definitely/indirectly lost (nothing can
 *                  write a block nobody points to). The pause is capped.
 *   MO_REACH_LIVE  nothing is stopped; registers are not seen. A pass only
 *                  proposes lost blocks: a block is called lost when it is
 *                  lost in this pass and in the previous one (prev), with the
 *                  same id and the same contents hash.
 *
 * The core (mo_reach_classify) runs over any memory through a readv
 * callback with process_vm_readv's contract; mo_reach_scan() is the driver
 * for a live pid. lib/ rules: nothing is printed, 0 or -errno.
 */
#ifndef MO_REACH_H
#define MO_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "procmaps.h"

enum mo_reach_class {
	MO_REACH_UNKNOWN = 0,
	MO_REACH_REACHABLE,
	MO_REACH_INDIRECTLY_LOST,
	MO_REACH_DEFINITELY_LOST,
	MO_REACH_NR_CLASSES
};

/* Why a block is UNKNOWN (MO_REACH_WHY_NONE for decided blocks). */
enum mo_reach_why {
	MO_REACH_WHY_NONE = 0,
	MO_REACH_WHY_PERM,		/* may not read or ptrace the process */
	MO_REACH_WHY_TRACED,		/* stop mode: another tracer (gdb, strace) holds it */
	MO_REACH_WHY_GONE,		/* the process exited */
	MO_REACH_WHY_PAUSE_CAP,		/* stop mode: not decided within max_pause_ns */
	MO_REACH_WHY_TIME_CAP,		/* not decided within max_scan_ns */
	MO_REACH_WHY_OVERLAP,		/* overlaps another listed block (stale entry?) */
	MO_REACH_WHY_INVALID,		/* addr + size wraps around */
	MO_REACH_WHY_UNMAPPED,		/* its memory could not be read (freed since listed?) */
	MO_REACH_WHY_UNCONFIRMED,	/* live mode: lost in this pass, not in the previous */
	MO_REACH_WHY_WRITTEN,		/* live mode: contents changed since the previous pass */
	MO_REACH_WHY_ROOTS,		/* a root could not be scanned: nothing may be lost */
	MO_REACH_WHY_SELF,		/* stop mode on the calling process */
	MO_REACH_WHY_FREED,		/* not listed any more after the scan */
	MO_REACH_WHY_ERROR,		/* another error: stats.error */
	MO_REACH_NR_WHY
};

/* One tracked allocation. id tells apart successive allocations at the same
 * address (the allocation timestamp); 0 when the caller has none, and then
 * only the contents hash detects a block freed and allocated again. */
struct mo_reach_block {
	uint64_t addr;
	uint64_t size;
	uint64_t id;
};

enum mo_reach_mode {
	MO_REACH_STOP = 0,
	MO_REACH_LIVE,
};

struct mo_reach_opts {
	enum mo_reach_mode mode;
	uint64_t max_pause_ns;	/* stop mode: cap on the pause (default 200 ms) */
	uint64_t max_scan_ns;	/* cap on the whole call, 0 = none (default 0) */
	size_t chunk_bytes;	/* read buffer (default 256 KiB, at least 64 KiB): the
				 * pause cap is checked once per buffer */
	uint64_t max_map_bytes;	/* larger mappings are not scanned, and then no
				 * block is called lost (default 64 GiB) */
	/* Called while every thread is stopped, before the scan (tests). */
	void (*on_paused)(void *arg, pid_t pid);
	void *on_paused_arg;
	/* Stop mode on hold's process: its threads are stopped by the holder
	 * (which traces them already) instead of being seized. */
	struct mo_reach_hold *hold;
};

struct mo_reach_stats {
	uint64_t bytes_scanned;	/* bytes read and scanned, roots and blocks */
	uint64_t root_bytes;	/* of which roots */
	uint64_t roots;		/* root ranges (mappings after stack cuts) */
	uint64_t reg_words;	/* register words scanned */
	uint64_t blocks_scanned;
	uint64_t read_calls;	/* readv calls */
	uint64_t holes;		/* reads that hit unmapped memory */
	uint64_t duration_ns;	/* the whole call */
	uint64_t pause_ns;	/* stop mode: first interrupt to last detach */
	uint64_t cpu_ns;	/* CPU time of the calling thread */
	uint32_t threads_stopped;
	int error;		/* -errno behind a scan-wide UNKNOWN, else 0 */
	enum mo_reach_why why;	/* scan-wide reason, MO_REACH_WHY_NONE if none */
	uint64_t count[MO_REACH_NR_CLASSES];	/* blocks per class */
	uint64_t bytes[MO_REACH_NR_CLASSES];	/* their sizes */
};

/* A block this pass found unreachable, with its contents hash: the next
 * live pass confirms it (same addr, size, id and hash). */
struct mo_reach_lost {
	uint64_t addr;
	uint64_t size;
	uint64_t id;
	uint64_t hash;
};

struct mo_reach_result {
	size_t nr;		/* = number of blocks passed */
	uint8_t *cls;		/* enum mo_reach_class per block, in input order */
	uint8_t *why;		/* enum mo_reach_why per block, in input order */
	size_t nr_lost;
	struct mo_reach_lost *lost;	/* sorted by addr */
	struct mo_reach_stats stats;
};

void mo_reach_opts_init(struct mo_reach_opts *o);

/*
 * Classify blocks[0, n) of process pid. prev: live mode, the previous pass's
 * result (NULL for the first pass: then every lost block is UNKNOWN with
 * MO_REACH_WHY_UNCONFIRMED); ignored in stop mode. Returns 0 with *out
 * filled (blocks that could not be decided are UNKNOWN, stats.why says why),
 * or -EINVAL / -ENOMEM with *out empty. In stop mode the process is never
 * left stopped: every path detaches, and if the caller dies while it is
 * stopped the kernel detaches and resumes it. Stop mode runs ptrace from a
 * tracer thread it creates and joins; one call at a time per target.
 */
int mo_reach_scan(pid_t pid, const struct mo_reach_block *blocks, size_t n,
		  const struct mo_reach_opts *o, const struct mo_reach_result *prev,
		  struct mo_reach_result *out);

/*
 * The list a scan works on is read before it: a block freed in between is
 * no longer memory anyone points to, and would look lost. Call this with
 * the list read again after mo_reach_scan(): a lost block of blocks[] (the
 * list the scan got) not in now[] with the same addr, size and id becomes
 * UNKNOWN (MO_REACH_WHY_FREED). A block listed before and after was
 * allocated throughout. Returns how many verdicts changed, or -ENOMEM.
 */
int mo_reach_recheck(struct mo_reach_result *r, const struct mo_reach_block *blocks,
		     const struct mo_reach_block *now, size_t n_now);

void mo_reach_result_release(struct mo_reach_result *r);	/* accepts empty */

const char *mo_reach_class_name(enum mo_reach_class c);	/* "definitely_lost" */
const char *mo_reach_why_name(enum mo_reach_why w);	/* "pause_cap" */

/* ---- holding a process at its exit ----
 *
 * A process's memory is gone once it has exited; to scan what it still held
 * at its exit (valgrind's moment), something must stop it on the way out. A
 * holder traces every thread of pid from a thread of its own (PTRACE_SEIZE
 * with PTRACE_O_TRACEEXIT and PTRACE_O_TRACECLONE): a thread that ends the
 * process (exit_group, a fatal signal, the last thread's exit) stops before
 * its memory goes, the holder's fd becomes readable, and the caller scans
 * (stop mode with opts.hold) and releases it. Meanwhile the holder forwards
 * every signal the process gets and keeps its job-control stops. Stop scans
 * of a held process must pass opts.hold: another tracer cannot seize it.
 *
 * Costs to the process while held: each signal it receives and each thread
 * exit is a ptrace stop the holder resumes (microseconds); no debugger can
 * attach. If the caller dies, the kernel detaches its tracees: the process
 * goes on as if never held.
 */
struct mo_reach_hold;

/* Trace pid's threads. NULL + errno (EPERM: may not trace it, or another
 * tracer has it; ESRCH: gone; ENOMEM). */
struct mo_reach_hold *mo_reach_hold_new(pid_t pid);
/* Stop holding: every thread goes on (one held at its exit exits). NULL ok. */
void mo_reach_hold_free(struct mo_reach_hold *h);
pid_t mo_reach_hold_pid(const struct mo_reach_hold *h);
/* Readable (an eventfd: read it to clear) when the process stopped at its
 * exit, and when the holder stopped holding (the process is gone). */
int mo_reach_hold_fd(const struct mo_reach_hold *h);
/* The process is stopped at its exit, until mo_reach_hold_release. */
bool mo_reach_hold_exiting(struct mo_reach_hold *h);
void mo_reach_hold_release(struct mo_reach_hold *h);
/* The process is gone (or could no longer be traced): nothing is held. */
bool mo_reach_hold_ended(struct mo_reach_hold *h);

/* ---- the core, over any memory ---- */

struct mo_reach_range {
	uint64_t start;
	uint64_t end;
};

/* process_vm_readv's contract: fill local[] in order from remote[], stop at
 * the first unreadable byte; return the bytes read, or -errno when none
 * could be (-EFAULT: the first remote byte is unreadable). */
typedef ssize_t (*mo_reach_readv_fn)(void *ctx, const struct iovec *local,
				     const struct iovec *remote, unsigned long n);

struct mo_reach_input {
	mo_reach_readv_fn readv;
	void *ctx;
	const struct mo_reach_range *roots;	/* any order; listed blocks inside
						 * them are skipped */
	size_t nr_roots;
	const uint64_t *regs;	/* register words (stop mode) */
	size_t nr_regs;
	const struct mo_reach_block *blocks;
	size_t nr;
	bool confirm;		/* live: a lost verdict needs prev */
	const struct mo_reach_result *prev;
	bool roots_incomplete;	/* a root was skipped: nothing may be lost */
	size_t chunk_bytes;
	/* CLOCK_MONOTONIC deadlines in ns, 0 = none: mark_deadline ends the
	 * marking from roots (the pause, MO_REACH_WHY_PAUSE_CAP), deadline the
	 * whole classification (MO_REACH_WHY_TIME_CAP). */
	uint64_t mark_deadline_ns;
	uint64_t deadline_ns;
	/* Called once the blocks are indexed, before any read: the driver
	 * stops the process there and fills roots, nr_roots, regs, nr_regs,
	 * roots_incomplete and mark_deadline_ns, so that the pause holds the
	 * marking only. Nonzero: classify returns it, *out empty. NULL: none. */
	int (*ready)(void *arg);
	void *ready_arg;
	/* Called once the reachable set is known (the driver resumes the
	 * process there); also called on every early return. */
	void (*marked)(void *arg);
	void *marked_arg;
};

/* Classify in->blocks into *out (allocated here). 0, or -ENOMEM/-EINVAL.
 * Read errors become UNKNOWN verdicts, not errors. */
int mo_reach_classify(const struct mo_reach_input *in, struct mo_reach_result *out);

/* A thread's stack pointer and thread pointer (x86-64 fs_base; 0 when not
 * known, as in live mode). */
struct mo_reach_thread {
	uint64_t sp;
	uint64_t tls;
};

/* Roots of a process from its maps: readable mappings that may hold heap
 * pointers, without [vvar]/[vsyscall]/[vdso]/[uprobes], read-only file
 * mappings and devices other than /dev/zero. A thread stack holding some of
 * the threads' stack pointers is cut below the lowest one minus the 128-byte
 * red zone: [stack], or an anonymous mapping right above a guard mapping
 * whose top 64 KiB hold that thread's thread pointer (glibc and musl put the
 * thread control block there); a user-provided stack (in .bss, in a heap
 * block) is never cut. Mappings over max_map_bytes are left out and set
 * *incomplete. *roots is malloc'd, sorted. 0 or -ENOMEM. */
int mo_reach_roots(const struct mo_maps *maps, const struct mo_reach_thread *threads,
		   size_t nr_threads, uint64_t max_map_bytes, struct mo_reach_range **roots,
		   size_t *nr, bool *incomplete);

/* Parse /proc/PID/task/TID/syscall: the user stack pointer of a thread
 * blocked in the kernel. 0 and *sp, -EAGAIN if it is running, -EINVAL. */
int mo_reach_parse_syscall(const char *text, size_t len, uint64_t *sp);

#endif
