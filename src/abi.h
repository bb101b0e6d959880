/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * abi.h - the only header shared by the BPF programs and user space.
 *
 * Invariants: fixed-width __u8/__u16/__u32/__u64 only, no pointers, no long,
 * no includes beyond the type definitions the includer already has. Every
 * struct is laid out so that BPF and x86-64 user space agree without packing.
 */
#ifndef MO_ABI_H
#define MO_ABI_H

#define MO_MAX_FRAMES 32	/* user frames captured per stack */
#define MO_MAX_MAPS 64		/* executable mappings cached per process */
#define MO_MAX_MMAPS 64		/* tracked anonymous mappings indexed by range per process */
#define MO_COMM_LEN 16

/* Sample weights in fixed point: the blocks a record stands for, times
 * MO_WEIGHT_ONE (1-in-N sampling: N; byte sampling: 1 / (1 - exp(-s/R)),
 * src/bpf/sampling_math.h; not sampled: 1). */
#define MO_WEIGHT_SHIFT 16
#define MO_WEIGHT_ONE (1ULL << MO_WEIGHT_SHIFT)

/* Which allocator entry point a probe belongs to: the probe's BPF cookie. */
enum mo_fn {
	MO_FN_NONE = 0,
	MO_FN_MALLOC,
	MO_FN_CALLOC,
	MO_FN_REALLOC,
	MO_FN_REALLOCARRAY,
	MO_FN_POSIX_MEMALIGN,
	MO_FN_ALIGNED_ALLOC,
	MO_FN_MEMALIGN,
	MO_FN_VALLOC,
	MO_FN_PVALLOC,
	MO_FN_FREE,
	MO_FN__COUNT,
};

/* What kind of memory an allocation record describes. */
enum mo_alloc_kind {
	MO_KIND_HEAP = 0,	/* malloc family */
	MO_KIND_MMAP = 1,	/* anonymous mmap made by the program itself */
};

/* Key of the allocation table: per process, so system-wide mode cannot mix
 * processes that happen to use the same addresses. */
struct mo_alloc_key {
	__u32 tgid;
	__u32 gen;		/* the process instance (mo_proc_gen): a pid reused
				   while the old process's blocks are still being
				   reclaimed never touches them */
	__u64 addr;
};

/* Timestamps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns): they
 * keep counting across suspend, and user space converts to wall clock with
 * one offset taken at start. */
struct mo_alloc_info {
	__u64 size;
	__u64 ts_ns;
	__u64 stack_id;		/* key into the stacks map, 0 = none */
	__u64 cgroup_id;
	__u32 kind;		/* enum mo_alloc_kind */
	__u32 sample_weight;	/* allocations this record stands for: N under
				   --sample N, else 1; under --sample-bytes a heap
				   block's weight follows from its size alone
				   (mo_sample_weight) and is not stored */
};

/* Per-thread state between an allocator call's entry and its return. Nested
 * hooked calls (realloc calling malloc inside the C library) are counted in
 * depth and never overwrite the outer call's record. */
struct mo_thread_state {
	__u64 size;
	__u64 arg;		/* realloc: old pointer; posix_memalign: out-pointer */
	__u32 fn;		/* enum mo_fn of the outermost tracked call */
	__u32 depth;		/* hooked allocator calls active on this thread */
	/* syscall in flight (mmap/munmap/mremap/brk) */
	__u64 sc_len;
	__u64 sc_addr;
	__u64 sc_new_len;
	__u32 sc_nr;		/* enum mo_sc */
	__u32 sc_flags;		/* allocator entry->return: track the new block */
	__u32 sc_mode;		/* MO_SCM_* of the mmap/mremap in flight */
	__u32 gen;		/* shed_gen when depth became 1 */
	__u32 saved;		/* saved holds a record taken out at entry */
	/* realloc: the old block's record, taken out of the table at entry (so
	 * an address the allocator frees before our return probe can be
	 * reused by another thread without us deleting its new record), put
	 * back if realloc fails; mremap: the moved piece of a mapping */
	struct mo_alloc_info saved_info;
	__u64 saved_addr;
	__u32 saved_split;	/* mremap: part of the mapping stayed where it was */
	__u32 sample_left;	/* --sample-bytes: bytes this thread may still
				   allocate before its next sampled call
				   (src/bpf/sampling_math.h); 0: not drawn yet */
	/* Session uprobes: a sampled-out call runs no return probe, so nested
	 * hooked calls (operator new -> malloc) recognise it by its frame:
	 * the stack pointer and return address at its entry, and its entry ip.
	 * so_sp == 0: none. */
	__u64 so_sp;
	__u64 so_ra;
	__u64 so_ip;
	/* the outermost call's entry: user sp and the return address there.
	 * A later entry above that sp, or at it with the same return address
	 * (a tail call from a hooked function finds the return probe's
	 * trampoline there instead), means that call returned unseen */
	__u64 entry_sp;
	__u64 entry_ra;
};

/* sc_mode bits */
#define MO_SCM_TRACK	(1u << 0)	/* track the new anonymous mapping */
#define MO_SCM_LARGE	(1u << 1)	/* report a large file mapping */
#define MO_SCM_FIXED	(1u << 2)	/* MAP_FIXED / MREMAP_FIXED: the target range is replaced */

enum mo_sc {
	MO_SC_NONE = 0,
	MO_SC_MMAP,
	MO_SC_MUNMAP,
	MO_SC_MREMAP,
	MO_SC_BRK,
};

/* Stack flags */
#define MO_STACK_TRUNCATED	(1u << 0) /* MO_MAX_FRAMES reached */
#define MO_STACK_FP_FALLBACK	(1u << 1) /* some frame used the frame-pointer guess */
#define MO_STACK_UNWIND_STOP	(1u << 2) /* walk stopped at a frame it could not unwind */
#define MO_STACK_FAULT		(1u << 3) /* the first frame is a faulting instruction,
					     stored + 1 like a return address */

struct mo_stack {
	__u32 nr;
	__u32 flags;
	__u64 ips[MO_MAX_FRAMES];
};

/*
 * Unwind rows: a compact form of .eh_frame CFI for x86-64, built in user space
 * and searched by the kernel walker. One row covers [pc, next row's pc) of one
 * module, pc relative to the module's ELF virtual addresses.
 */
enum mo_cfa {
	MO_CFA_NONE = 0,	/* no usable unwind info here (a gap between FDEs, a
				 * rule rows cannot express): frame-pointer guess */
	MO_CFA_RSP = 1,		/* CFA = rsp + cfa_off */
	MO_CFA_RBP = 2,		/* CFA = rbp + cfa_off */
	MO_CFA_PLT = 3,		/* lazy PLT entry: CFA = rsp + ((pc & 15) >= 11 ? 16 : 8) */
	MO_CFA_END = 4,		/* the outermost frame (_start, a thread's start: CFI
				 * leaves the return address undefined): the stack
				 * is complete */
};

#define MO_RBP_SAME 0		/* rbp_off == 0: rbp is unchanged in this frame */

struct mo_unwind_row {
	__u32 pc;		/* offset from the module's lowest vaddr */
	__u16 cfa_off;		/* bytes */
	__u8 cfa;		/* enum mo_cfa */
	__s8 rbp_off8;		/* rbp saved at CFA + 8 * rbp_off8, 0 = unchanged */
};

/* Values of the walker's unknown_modules entries (keyed by mo_module_key). */
#define MO_MODULE_ASKED		1 /* asked for: rows may come, no guessing through it */
#define MO_MODULE_NO_ROWS	2 /* user space has none for it: frame-pointer guess */

/* mo_map_entry.row_start of a file user space said gets no rows: the
 * walker guesses through it without looking the file up again. */
#define MO_ROWS_NONE 0xffffffffu

/* A module whose unwind rows are loaded, keyed by the file's identity. */
struct mo_module_key {
	__u64 dev;		/* kernel dev_t: major << 20 | minor (as in s_dev) */
	__u64 ino;
};

struct mo_module_info {
	__u32 row_start;	/* index of the first row in the rows array */
	__u32 row_count;
	__u64 vaddr_min;	/* the module's lowest PT_LOAD vaddr (rows are relative to it) */
	__s64 off_to_vaddr;	/* vaddr = file offset + off_to_vaddr, for the text segment */
	__u64 last_ns;		/* boot time the walker last used it (coarse: MO_STAMP_NS) */
};

/* The walker refreshes a module's last_ns at most this often. */
#define MO_STAMP_NS 1000000000ULL

/* One executable mapping of a process, resolved to a module's rows. */
struct mo_map_entry {
	__u64 start;
	__u64 end;
	__u64 bias;		/* row pc = ip - bias */
	__u32 row_start;	/* MO_ROWS_NONE with row_count 0: its file gets none */
	__u32 row_count;	/* 0: no rows (yet, or MO_ROWS_NONE) */
	__u64 file_off;		/* file offset of start */
	__u64 dev;		/* file identity (0/0: anonymous): lets user space */
	__u64 ino;		/* symbolize after the process is gone */
};

/* Valid only for the process instance gen, and only while epoch equals
 * its statistics' maps_epoch (bumped when an executable mapping goes). The
 * row indexes of its entries are valid only while rows_epoch equals the
 * walker's global one (bumped when user space evicts modules); the entries
 * themselves stay, for symbolizing. */
struct mo_proc_maps {
	__u32 nr;
	__u32 gen;
	__u32 epoch;
	__u32 rows_epoch;
	__u64 stamp_ns;		/* when its modules' last_ns were last refreshed */
	struct mo_map_entry m[MO_MAX_MAPS];
};

/* Per (process, stack) allocation and free totals: what tells a leak from
 * churn (allocated and freed at the same rate). */
struct mo_stack_key {
	__u32 tgid;
	__u32 pad;
	__u64 stack_id;
};

struct mo_stack_stats {
	__u64 allocs;		/* records made (sampled ones once each) */
	__u64 frees;
	__u64 alloc_bytes;
	__u64 free_bytes;
	/* sampling only (0 otherwise: the estimates are allocs, alloc_bytes) */
	__u64 est_allocs;	/* allocations they stand for * MO_WEIGHT_ONE */
	__u64 est_alloc_bytes;	/* bytes they stand for */
};

/* Per-process statistics kept by the kernel side (atomic adds). */
struct mo_proc_stats {
	__u64 allocs;		/* tracked allocations (after filters) */
	__u64 frees;		/* frees that matched a tracked allocation */
	__u64 alloc_bytes;	/* these two: what the tracked blocks stand for */
	__u64 free_bytes;	/* (sampled: weighted alike, so their difference
				   estimates the unfreed bytes) */
	__u64 largest;		/* largest single tracked allocation */
	__u64 mmap_bytes;	/* anonymous mmap bytes made by the program itself */
	__u64 munmap_bytes;
	__u64 brk_growth;	/* bytes the heap grew through brk */
	__u64 brk_end;		/* last program break seen */
	__u64 exec_ts_ns;	/* last exec (entries older than this are stale) */
	__u64 cgroup_id;
	/* probe hits, counted only with an overhead budget (--max-overhead) */
	__u64 hits_alloc;	/* entries of allocating functions */
	__u64 hits_free;	/* entries of freeing functions (free, realloc, delete) */
	__u64 hits_return;	/* return probes */
	__u64 forks;		/* children whose fork was seen */
	__u32 gen;		/* the process instance these statistics belong to */
	__u32 ppid;		/* the parent, when its fork was seen (else 0) */
	__u32 maps_epoch;	/* bumped when an executable mapping is unmapped
				   or replaced: the walker's cache is stale */
	__u32 pad;
};

/* Resident memory of a process, from the kmem:rss_stat tracepoint (bytes;
 * the kernel's per-CPU counters are approximate by a few pages per CPU). */
struct mo_rss {
	__u64 file;
	__u64 anon;
	__u64 swap;
	__u64 shmem;
	__u64 ts_ns;		/* last update, CLOCK_BOOTTIME */
	__u64 peak;		/* highest file + anon + shmem seen */
	__u64 updates;
	__u32 seen;		/* bit MO_RSS_*: counters updated since attach;
				   the others still hold 0 (user space reads /proc) */
	__u32 pad;
};

enum { MO_RSS_FILE = 0, MO_RSS_ANON = 1, MO_RSS_SWAP = 2, MO_RSS_SHMEM = 3 };
#define MO_RSS_RESIDENT ((1u << MO_RSS_FILE) | (1u << MO_RSS_ANON) | (1u << MO_RSS_SHMEM))

/* Drop and activity counters: per-CPU array indexed by this enum. */
enum mo_counter {
	MO_C_ALLOC_CALLS = 0,	/* allocator entries seen for target processes */
	MO_C_ALLOCS_TRACKED,	/* inserted into the allocation table */
	MO_C_FREES_MATCHED,
	MO_C_FREES_UNKNOWN,	/* free of an address we do not track (normal) */
	MO_C_DROP_ALLOC_TABLE_FULL,
	MO_C_DROP_STACK_TABLE_FULL,
	MO_C_STACK_COLLIDED,	/* two stacks with one hash: the first one's frames are kept */
	MO_C_DROP_RINGBUF_FULL,
	MO_C_DROP_SAMPLED,
	MO_C_DROP_SIZE_FILTERED,
	MO_C_DROP_THREAD_TABLE_FULL,
	MO_C_ALLOC_FAILED,	/* allocator returned NULL: nothing to track */
	MO_C_NESTED_CALLS,	/* hooked call inside a hooked call: outer accounts */
	MO_C_ALLOCATOR_MMAPS,	/* mmap made inside an allocator call: not counted twice */
	MO_C_RUNTIME_MMAPS,	/* thread stacks (MAP_STACK) and PROT_NONE reservations */
	MO_C_MMAPS_TRACKED,
	MO_C_MUNMAPS_MATCHED,
	MO_C_MUNMAP_PARTIAL,
	MO_C_MREMAPS,
	MO_C_UNWIND_MAP_MISS,	/* pc in a mapping without rows: frame-pointer guess */
	MO_C_UNWIND_PROC_MAPS_FULL,
	MO_C_STACKS_NEW,
	MO_C_REALLOC_FAILED,	/* realloc returned NULL: old block kept */
	MO_C_EXITS,
	MO_C_EXECS,
	MO_C_FORKS_FOLLOWED,
	MO_C_RSS_UPDATES,
	MO_C_STACK_STATS_FULL,
	MO_C_OOM_KILLS,
	MO_C_STALE_CALLS,	/* in-flight call whose return probe was detached */
	MO_C_DROP_TARGETS_FULL,	/* forked child of a followed process not followed */
	MO_C_DROP_PROC_TABLE_FULL, /* a process's statistics could not be stored */
	MO_C_DROP_PROC_MAPS_FULL, /* walker's mapping cache of a process not stored */
	MO_C_DROP_RSS_TABLE_FULL, /* a process's resident memory not tracked */
	MO_C_DROP_MMAP_RANGES_FULL, /* a tracked mapping not indexed by range: only
				     an munmap starting at it matches it */
	MO_C_MREMAP_UNHANDLED,	/* mremap over several tracked mappings: they count
				   as unmapped, the result is untracked */
	MO_C_MAPS_INVALIDATED,	/* walker's mapping cache dropped (code unmapped) */
	MO_C_GROWTH_SAMPLES,	/* anonymous RSS growth attributed to a stack */
	MO_C_DROP_GROWTH_FULL,	/* growth table full: the growth went unattributed */
	MO_C_GROWTH_NO_STACK,	/* growth whose stack could not be stored */
	MO_C_SELF_HITS,		/* allocator probes hit by memobserver itself */
	MO_C_GROWTH_YOUNG,	/* growth of a process younger than the minimum age */
	MO_C_UNWIND_CUT_ROWS_PENDING, /* stack stopped at a file whose rows are not compiled yet */
	MO_C_UNWIND_CUT_NOT_CODE, /* stack stopped at a return address outside executable memory */
	MO_C_UNWIND_CUT_GUESS_REJECTED, /* frame-pointer guess not after a call: stopped */
	MO_C_UNWIND_CUT_VMA_BUSY, /* a frame's mapping could not be looked up in that walk */
	MO_C__COUNT,
};

/* Records sent through the ring buffer. */
enum mo_rec_type {
	MO_REC_EXIT = 1,	/* a traced process died (group dead) */
	MO_REC_EXEC,		/* a traced process exec'd: its old entries are stale */
	MO_REC_FORK,		/* a traced process forked a followed child */
	MO_REC_MMAP,		/* program-made anonymous mmap >= min size */
	MO_REC_MUNMAP,		/* munmap of a tracked mapping */
	MO_REC_UNKNOWN_MODULE,	/* walker met an executable file without rows */
	MO_REC_OOM_KILL,	/* the OOM killer chose a process (oom:mark_victim) */
	MO_REC_LARGE_HEAP,	/* one malloc-family block >= the large threshold */
	MO_REC_LARGE_MMAP,	/* one mmap (anonymous or file) >= the large threshold */
	MO_REC_SEEN,		/* system-wide: a process's first tracked activity */
};

struct mo_record {
	__u32 type;		/* enum mo_rec_type */
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 other_pid;	/* fork: child tgid; exit: exit code */
	__u64 ts_ns;		/* CLOCK_BOOTTIME */
	__u64 addr;
	__u64 len;
	__u64 stack_id;
	__u64 cgroup_id;
	__u64 dev;		/* UNKNOWN_MODULE: file identity */
	__u64 ino;
	__u32 gen;		/* process records: the process instance */
	__u32 pad;
	char comm[MO_COMM_LEN];
};

/*
 * The watch tier: anonymous memory each stack of a process faulted in. The
 * kernel batches a process's RSS counter per CPU; each time a batch reaches
 * the process's total and makes its anonymous RSS grow, the growth is
 * attributed to the stack of the thread whose fault completed the batch: a
 * sample every ~32 pages per CPU, weighted by the pages it carries.
 */
struct mo_growth_key {
	__u32 tgid;
	__u32 gen;		/* the process instance */
	__u64 stack_id;
};

struct mo_growth {
	__u64 bytes;		/* anonymous RSS growth attributed to the stack */
	__u64 samples;		/* batches attributed */
	__u64 last_ns;		/* CLOCK_BOOTTIME of the last one */
};

/* Target flags (value of the targets map) */
#define MO_TARGET_TRACE		(1u << 0)
#define MO_TARGET_FOLLOW	(1u << 1) /* add forked children to the targets */

#endif /* MO_ABI_H */
