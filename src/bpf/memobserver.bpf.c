// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memobserver.bpf.c - the kernel side: allocator uprobes, the mmap family of
 * syscall tracepoints, and process lifecycle tracepoints. One object, so all
 * programs share the maps in maps.bpf.h without pinning.
 *
 * Cost is decided by traps, so the entry program decides everything: an
 * allocation that the size filter or sampling rejects returns before any
 * state is written and, with session uprobes, without a return probe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "abi.h"
#include "maps.bpf.h"
#include "sampling.bpf.h"
#include "unwind.bpf.h"
#include "growth.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAP_SHARED_FLAG 0x01
#define MAP_ANON_FLAG 0x20
#define MAP_STACK_FLAG 0x20000
#define PROT_RW_MASK 0x7
#define E2BIG_ERR 7
/* below glibc's smallest mmap threshold nothing is mmap'ed by malloc */
#define ALLOCATOR_MMAP_MIN (64 * 1024)
#define ENOMEM_ERR 12

extern bool bpf_session_is_return(void) __ksym __weak;

/* Run the return half of this call (session: 0 means "run it"). */
#define RUN_RETURN 0
#define SKIP_RETURN 1

/* The current process instance: its start time, low bits. A pid reused by
 * a new process gets another one (threads and exec keep it). */
static __always_inline __u32 proc_gen(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return (__u32)BPF_CORE_READ(t, group_leader, start_time);
}

/* with the process records, below */
static __always_inline void emit_proc_record(__u32 type, struct task_struct *task,
					     __u32 other);

/* The current process's statistics (gen: its proc_gen()). */
static __always_inline struct mo_proc_stats *proc_stats(__u32 tgid, __u32 gen)
{
	struct mo_proc_stats *ps = bpf_map_lookup_elem(&procs, &tgid);

	if (!ps || ps->gen != gen) {
		/* new, or left by an exited process whose pid this one reuses */
		__u32 z = 0;
		struct handler_scratch *hs = bpf_map_lookup_elem(&handler_scratch, &z);
		struct mo_proc_stats *fresh;
		long err;

		if (!hs)
			return NULL;
		fresh = &hs->fresh;
		__builtin_memset(fresh, 0, sizeof(*fresh));
		fresh->cgroup_id = bpf_get_current_cgroup_id();
		fresh->gen = gen;
		err = bpf_map_update_elem(&procs, &tgid, fresh, ps ? BPF_ANY : BPF_NOEXIST);
		ps = bpf_map_lookup_elem(&procs, &tgid);
		if (err && !ps) {
			/* full: counted, and no record (every call of such a
			 * process would send one) */
			count(MO_C_DROP_PROC_TABLE_FULL);
			return NULL;
		}
		/* system-wide, user space learns of a process that ran before
		 * the observer at its first tracked activity, while it still
		 * runs: its container is read from /proc then, not after a
		 * short-lived process is gone */
		if (trace_all && !err)
			emit_proc_record(MO_REC_SEEN, (struct task_struct *)bpf_get_current_task(), 0);
	}
	return ps;
}

/* Probe hits per process for the overhead budget (kind: 0 alloc entry,
 * 1 free entry, 2 return). */
static __always_inline void count_hit(__u32 tgid, int kind)
{
	struct mo_proc_stats *ps;

	if (!count_hits || !(ps = proc_stats(tgid, proc_gen())))
		return;
	if (kind == 0)
		__sync_fetch_and_add(&ps->hits_alloc, 1);
	else if (kind == 1)
		__sync_fetch_and_add(&ps->hits_free, 1);
	else
		__sync_fetch_and_add(&ps->hits_return, 1);
}

static __always_inline bool frees_memory(__u32 fn)
{
	return fn == MO_FN_FREE || fn == MO_FN_REALLOC || fn == MO_FN_REALLOCARRAY;
}

/*
 * Inside a hooked allocator call? An allocating call (malloc, not realloc)
 * that was in flight when the budget detached its probes never returns
 * through the probe: after a shed_gen bump its state is stale. Freeing
 * functions stay attached, so their state is always live.
 */
static __always_inline bool in_allocator(struct mo_thread_state *ts)
{
	if (!ts->depth)
		return false;
	if (ts->gen == shed_gen || frees_memory(ts->fn))
		return true;
	ts->depth = 0;
	ts->fn = MO_FN_NONE;
	count(MO_C_STALE_CALLS);
	return false;
}

/* A new thread's first state: read-only data, not a stack copy. */
const struct mo_thread_state thread_state_zero = {};

static __always_inline struct mo_thread_state *thread_state(__u32 tid, bool create)
{
	struct mo_thread_state *ts = bpf_map_lookup_elem(&threads, &tid);

	if (!ts && create) {
		if (bpf_map_update_elem(&threads, &tid, &thread_state_zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&threads, &tid)) {
			count(MO_C_DROP_THREAD_TABLE_FULL);
			return NULL;
		}
		ts = bpf_map_lookup_elem(&threads, &tid);
	}
	return ts;
}

/* A new per-stack entry's first value: read-only data, not a stack copy
 * (the mapping programs' frames and the walker's share 512 bytes). */
const struct mo_stack_stats stack_stats_zero = {};

/* Per-stack totals: n_allocs/n_frees records made/gone, bytes allocated/freed;
 * weight: what each record made stands for (MO_WEIGHT_ONE: itself). */
static __always_inline void stack_account(__u32 tgid, __u64 stack_id, __u64 n_allocs,
					  __u64 n_frees, __u64 alloc_bytes, __u64 free_bytes,
					  __u64 weight)
{
	struct mo_stack_key k = { .tgid = tgid, .stack_id = stack_id };
	struct mo_stack_stats *st = bpf_map_lookup_elem(&stack_stats, &k);

	if (!st) {
		if (!n_allocs && !alloc_bytes)
			return;	/* its allocation was counted before a reset */
		if (bpf_map_update_elem(&stack_stats, &k, &stack_stats_zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&stack_stats, &k)) {
			count(MO_C_STACK_STATS_FULL);
			return;
		}
		st = bpf_map_lookup_elem(&stack_stats, &k);
		if (!st)
			return;
	}
	if (n_allocs)
		__sync_fetch_and_add(&st->allocs, n_allocs);
	if (alloc_bytes)
		__sync_fetch_and_add(&st->alloc_bytes, alloc_bytes);
	/* unsampled, the estimates are the counts themselves (abi.h) */
	if (sample_rate > 1 || sample_bytes) {
		if (n_allocs)
			__sync_fetch_and_add(&st->est_allocs, n_allocs * weight);
		if (alloc_bytes)
			__sync_fetch_and_add(&st->est_alloc_bytes,
					     mo_sample_bytes(alloc_bytes, weight));
	}
	if (n_frees)
		__sync_fetch_and_add(&st->frees, n_frees);
	if (free_bytes)
		__sync_fetch_and_add(&st->free_bytes, free_bytes);
}

/* The same for the process's statistics. */
static __always_inline void proc_account(__u32 tgid, __u64 n_allocs, __u64 n_frees,
					 __u64 alloc_bytes, __u64 free_bytes)
{
	struct mo_proc_stats *ps = bpf_map_lookup_elem(&procs, &tgid);

	if (!ps)
		return;
	if (n_allocs)
		__sync_fetch_and_add(&ps->allocs, n_allocs);
	if (alloc_bytes)
		__sync_fetch_and_add(&ps->alloc_bytes, alloc_bytes);
	if (n_frees)
		__sync_fetch_and_add(&ps->frees, n_frees);
	if (free_bytes)
		__sync_fetch_and_add(&ps->free_bytes, free_bytes);
}

/* A stack for a record of the current process (ps may be NULL). */
static __always_inline __u64 stack_here(__u32 tgid, __u32 gen, struct mo_proc_stats *ps,
					__u64 ip, __u64 sp, __u64 bp)
{
	return capture_stack(tgid, gen, ps ? ps->maps_epoch : 0, ip, sp, bp);
}

/* Record a new outstanding allocation with the caller's stack. Returns
 * the stack id; *stored tells whether the record is in the table. */
static __always_inline __u64 track(__u32 tgid, __u64 addr, __u64 size, __u32 kind, __u64 ip,
				   __u64 sp, __u64 bp, bool *stored)
{
	__u32 gen = proc_gen();
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = addr };
	struct mo_alloc_info info = {};
	struct mo_proc_stats *ps = proc_stats(tgid, gen);
	__u64 w;
	long err;

	*stored = false;
	info.size = size;
	info.ts_ns = bpf_ktime_get_boot_ns();
	info.kind = kind;
	info.sample_weight = sample_rate > 1 && kind == MO_KIND_HEAP ? sample_rate : 1;
	info.cgroup_id = bpf_get_current_cgroup_id();
	info.stack_id = stack_here(tgid, gen, ps, ip, sp, bp);
	err = bpf_map_update_elem(&allocs, &key, &info, BPF_ANY);
	if (err) {
		count(MO_C_DROP_ALLOC_TABLE_FULL);
		return info.stack_id;
	}
	*stored = true;
	count(kind == MO_KIND_HEAP ? MO_C_ALLOCS_TRACKED : MO_C_MMAPS_TRACKED);
	w = record_weight(kind, size, info.sample_weight);
	stack_account(tgid, info.stack_id, 1, 0, size, 0, w);
	if (ps) {
		__sync_fetch_and_add(&ps->allocs, 1);
		__sync_fetch_and_add(&ps->alloc_bytes, mo_sample_bytes(size, w));
		if (size > ps->largest)
			ps->largest = size;
	}
	return info.stack_id;
}

/* Take a tracked block out of the table into *out (not accounted yet).
 * False when it was not tracked or another CPU took it first. */
static __always_inline bool take(__u32 tgid, __u32 gen, __u64 addr, __u32 kind,
				 struct mo_alloc_info *out)
{
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = addr };
	struct mo_alloc_info *info = bpf_map_lookup_elem(&allocs, &key);

	if (!info || info->kind != kind)
		return false;
	*out = *info;
	return bpf_map_delete_elem(&allocs, &key) == 0;
}

/* A taken heap block is gone for good: account its free, taking back the
 * weight its allocation added. */
static __always_inline void account_free(__u32 tgid, const struct mo_alloc_info *info)
{
	__u64 w = record_weight(info->kind, info->size, info->sample_weight);

	stack_account(tgid, info->stack_id, 0, 1, 0, info->size, w);
	proc_account(tgid, 0, 1, 0, mo_sample_bytes(info->size, w));
}

static __always_inline void emit_map_record(__u32 type, __u32 tgid, __u64 addr, __u64 len,
					    __u64 stack_id)
{
	struct mo_record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);

	if (!r) {
		count(MO_C_DROP_RINGBUF_FULL);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->pid = tgid;
	r->tid = (__u32)bpf_get_current_pid_tgid();
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->addr = addr;
	r->len = len;
	r->stack_id = stack_id;
	r->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	submit_record(r);
}

/* ---------------------------------------------------------------- allocator */

/* n * m without 128-bit helpers, which BPF lacks. */
static __always_inline bool mul_overflows(__u64 n, __u64 m, __u64 *out)
{
	__u64 p = n * m;

	/* keep clang from turning the check below into a 128-bit multiply */
	asm volatile("" : "+r"(p));
	*out = p;
	if ((n | m) >> 32 == 0)
		return false;
	return n && p / n != m;
}

static __always_inline bool stale_entry(struct mo_thread_state *ts, __u64 sp)
{
	__u64 ra = 0;

	if (sp != ts->entry_sp)
		return sp > ts->entry_sp;
	bpf_probe_read_user(&ra, sizeof(ra), (void *)sp);
	return ra == ts->entry_ra;
}

/* Code of a function this far past its probe is another function's. */
#define NEST_CODE_SPAN 4096

/*
 * Session uprobes only: is this call nested in the sampled-out call that
 * left its marker (no return probe tells when that call ended)? The outer
 * frame is live while the stack slot of its return address still holds it.
 * Then a call further down the stack is nested when it returns into the
 * outer function's code (operator new calling malloc), and a call at the
 * same stack pointer when it enters another function (a tail call:
 * operator new[] jumping to operator new). A call that is not nested ends
 * the marker.
 */
static __always_inline bool in_sampled_out(struct mo_thread_state *ts, struct pt_regs *ctx)
{
	__u64 sp = PT_REGS_SP(ctx), v = 0;
	bool nested = false;

	if (sp <= ts->so_sp && !bpf_probe_read_user(&v, sizeof(v), (void *)ts->so_sp) &&
	    v == ts->so_ra) {
		if (sp == ts->so_sp)
			nested = PT_REGS_IP(ctx) != ts->so_ip;
		else if (!bpf_probe_read_user(&v, sizeof(v), (void *)sp))
			nested = v > ts->so_ip && v - ts->so_ip < NEST_CODE_SPAN;
	}
	if (!nested)
		ts->so_sp = 0;
	return nested;
}

static __always_inline int alloc_entry(struct pt_regs *ctx, __u32 fn)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct mo_thread_state *ts;
	struct mo_alloc_info *old = NULL;
	struct mo_alloc_key okey = {};
	__u64 size = 0, arg = 0, a1, a2, a3;
	bool track_new, need_return, sampled = false;

	if (tgid == self_tgid) {
		/* never expected: memobserver allocates with its own copy of an
		 * allocator, not through the files it probes */
		count(MO_C_SELF_HITS);
		return SKIP_RETURN;
	}
	if (!is_target(tgid))
		return SKIP_RETURN;

	count_hit(tgid, frees_memory(fn) ? 1 : 0);
	if (fn == MO_FN_FREE) {
		__u64 p = PT_REGS_PARM1(ctx);
		struct mo_alloc_info info;

		if (p && take(tgid, proc_gen(), p, MO_KIND_HEAP, &info)) {
			account_free(tgid, &info);
			count(MO_C_FREES_MATCHED);
		} else if (p) {
			count(MO_C_FREES_UNKNOWN);
		}
		return SKIP_RETURN;
	}

	count(MO_C_ALLOC_CALLS);
	/* read the argument registers once, at fixed offsets: the verifier
	 * rejects a ctx access whose offset depends on the switch below */
	a1 = PT_REGS_PARM1(ctx);
	a2 = PT_REGS_PARM2(ctx);
	a3 = PT_REGS_PARM3(ctx);
	asm volatile("" : "+r"(a1), "+r"(a2), "+r"(a3));
	ts = bpf_map_lookup_elem(&threads, &tid);
	/* A call nested in the one recorded runs deeper (abi.h, entry_sp):
	 * if not, the recorded call returned without its return probe firing
	 * (probes attached between its entry and its return, the kernel's
	 * return-probe limit) and this call is the outermost one. */
	if (ts && ts->depth && stale_entry(ts, PT_REGS_SP(ctx))) {
		ts->depth = 0;
		ts->fn = MO_FN_NONE;
		count(MO_C_STALE_CALLS);
	}
	if (ts && in_allocator(ts)) {
		/* A hooked call inside a hooked call: the outer one accounts. */
		count(MO_C_NESTED_CALLS);
		if (session_mode)
			return SKIP_RETURN;
		ts->depth++;
		return RUN_RETURN;
	}
	if (session_mode && ts && ts->so_sp && in_sampled_out(ts, ctx)) {
		/* inside a call that sampling skipped: skipped with it, or
		 * operator new's malloc would get a second chance */
		count(MO_C_NESTED_CALLS);
		return SKIP_RETURN;
	}

	switch (fn) {
	case MO_FN_MALLOC:
	case MO_FN_VALLOC:
	case MO_FN_PVALLOC:
		size = a1;
		break;
	case MO_FN_CALLOC:
		if (mul_overflows(a1, a2, &size))
			return SKIP_RETURN;	/* calloc fails: nothing allocated */
		break;
	case MO_FN_REALLOC:
		arg = a1;
		size = a2;
		break;
	case MO_FN_REALLOCARRAY:
		arg = a1;
		if (mul_overflows(a2, a3, &size))
			return SKIP_RETURN;
		break;
	case MO_FN_POSIX_MEMALIGN:
		arg = a1;
		size = a3;
		break;
	case MO_FN_ALIGNED_ALLOC:
	case MO_FN_MEMALIGN:
		size = a2;
		break;
	default:
		return SKIP_RETURN;
	}

	/* a zero-size block has an address and can leak like any other: it
	 * counts as one byte against the size filter (it holds at least that) */
	track_new = (size ? size : 1) >= min_size;
	if (!track_new) {
		count(MO_C_DROP_SIZE_FILTERED);
	} else {
		/* byte sampling keeps its countdown in the thread's state */
		if (sample_bytes && !ts)
			ts = thread_state(tid, true);
		if (sample_bytes && !ts)
			return SKIP_RETURN;
		if (sampled_out(ts, size)) {
			track_new = false;
			sampled = true;
		}
	}

	/* A large block that sampling skipped still needs its return: the
	 * allocator may mmap it, and that mmap is not the program's own. */
	need_return = track_new || size >= ALLOCATOR_MMAP_MIN;
	if (arg && (fn == MO_FN_REALLOC || fn == MO_FN_REALLOCARRAY)) {
		/* realloc of a tracked block must see the result even when the
		 * new size is filtered out: the old block is gone only if
		 * realloc worked */
		okey.tgid = tgid;
		okey.gen = proc_gen();
		okey.addr = arg;
		old = bpf_map_lookup_elem(&allocs, &okey);
		if (old && old->kind == MO_KIND_HEAP)
			need_return = true;
		else
			old = NULL;
	}
	if (!need_return) {
		if (session_mode) {
			if (sampled) {
				if (!ts)
					ts = thread_state(tid, true);
				if (ts) {
					__u64 sp = PT_REGS_SP(ctx);

					if (!bpf_probe_read_user(&ts->so_ra, sizeof(ts->so_ra),
								 (void *)sp)) {
						ts->so_sp = sp;
						ts->so_ip = PT_REGS_IP(ctx);
					}
				}
			}
			return SKIP_RETURN;
		}
		/* plain uretprobes fire anyway: keep the depth balanced */
		fn = MO_FN_NONE;
	}

	if (!ts)
		ts = thread_state(tid, true);
	if (!ts)
		return SKIP_RETURN;
	ts->so_sp = 0;
	ts->fn = fn;
	ts->size = size;
	ts->arg = arg;
	ts->sc_flags = track_new;
	ts->depth = 1;
	ts->gen = shed_gen;
	ts->entry_sp = PT_REGS_SP(ctx);
	ts->entry_ra = 0;
	bpf_probe_read_user(&ts->entry_ra, sizeof(ts->entry_ra), (void *)ts->entry_sp);
	ts->saved = 0;
	/* The old block leaves the table now, before the allocator can free
	 * it: once freed, its address may go to another thread, whose new
	 * record our return must not delete. Put back if realloc fails. */
	if (old) {
		ts->saved_info = *old;
		ts->saved_addr = arg;
		ts->saved = bpf_map_delete_elem(&allocs, &okey) == 0;
	}
	return RUN_RETURN;
}

static __always_inline int alloc_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct mo_thread_state *ts = bpf_map_lookup_elem(&threads, &tid);
	__u64 ret = PT_REGS_RC(ctx), addr = ret, size;
	__u32 fn;
	bool track_new, stored;

	count_hit(tgid, 2);
	if (!ts || !ts->depth)
		return 0;
	if (--ts->depth)
		return 0;	/* a nested call returned (plain uretprobes) */
	fn = ts->fn;
	size = ts->size;
	track_new = ts->sc_flags;
	ts->fn = MO_FN_NONE;
	if (fn == MO_FN_NONE)
		return 0;

	switch (fn) {
	case MO_FN_POSIX_MEMALIGN:
		addr = 0;
		if ((int)ret == 0 && ts->arg)
			bpf_probe_read_user(&addr, sizeof(addr), (void *)ts->arg);
		break;
	case MO_FN_REALLOC:
	case MO_FN_REALLOCARRAY:
		if (!ret && !(size == 0 && ts->arg)) {
			/* failed: the old block stays allocated. glibc's
			 * realloc(p, 0) frees p and returns NULL. */
			count(MO_C_REALLOC_FAILED);
			if (ts->saved) {
				struct mo_alloc_key key = { .tgid = tgid, .gen = proc_gen(),
							    .addr = ts->saved_addr };

				ts->saved = 0;
				if (bpf_map_update_elem(&allocs, &key, &ts->saved_info, BPF_ANY)) {
					count(MO_C_DROP_ALLOC_TABLE_FULL);
					account_free(tgid, &ts->saved_info);
				}
			}
			return 0;
		}
		if (ts->saved) {
			ts->saved = 0;
			account_free(tgid, &ts->saved_info);
			count(MO_C_FREES_MATCHED);
		}
		if (!ret)
			return 0;
		break;
	default:
		break;
	}
	if (!addr) {
		count(MO_C_ALLOC_FAILED);
		return 0;
	}
	if (track_new) {
		__u64 sid = track(tgid, addr, size, MO_KIND_HEAP, PT_REGS_IP(ctx), PT_REGS_SP(ctx),
				  PT_REGS_FP(ctx), &stored);

		if (size >= large_size)
			emit_map_record(MO_REC_LARGE_HEAP, tgid, addr, size, sid);
	} else if (size >= large_size) {
		/* sampling skipped it, but a large allocation is always reported */
		__u32 gen = proc_gen();

		emit_map_record(MO_REC_LARGE_HEAP, tgid, addr, size,
				stack_here(tgid, gen, bpf_map_lookup_elem(&procs, &tgid),
					   PT_REGS_IP(ctx), PT_REGS_SP(ctx), PT_REGS_FP(ctx)));
	}
	return 0;
}

/* Session uprobe (kernel 6.13+): one program for every allocator function,
 * the function named by the attach cookie. */
SEC("uprobe")
int alloc_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return alloc_return(ctx);
	return alloc_entry(ctx, (__u32)bpf_get_attach_cookie(ctx));
}

/* Fallback pair for kernels without session uprobes. */
SEC("uprobe")
int alloc_enter(struct pt_regs *ctx)
{
	alloc_entry(ctx, (__u32)bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("uretprobe")
int alloc_exit(struct pt_regs *ctx)
{
	return alloc_return(ctx);
}

/* Calibration of the overhead budget (src/lib/calib.c): empty programs on
 * a function of memobserver's own, to time what one probe hit costs. */
SEC("uprobe")
int calib_enter(struct pt_regs *ctx)
{
	return 0;
}

SEC("uretprobe")
int calib_exit(struct pt_regs *ctx)
{
	return 0;
}

/* ----------------------------------------------------------------- syscalls */

static __always_inline struct mo_thread_state *syscall_state(__u32 *tgid_out)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	*tgid_out = tgid;
	if (!is_target(tgid))
		return NULL;
	return thread_state((__u32)pid_tgid, true);
}

#define PAGE_SZ 4096ULL
#define MAP_FIXED_FLAG 0x10
#define MREMAP_FIXED_FLAG 2
#define MREMAP_DONTUNMAP_FLAG 4
#define MO_SCM_DONTUNMAP (1u << 3)

static __always_inline __u64 page_up(__u64 len)
{
	return (len + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
}

struct code_ctx {
	struct mo_proc_maps *pm;
	__u64 a;
	__u64 b;
	__u32 hit;
	__u32 pad;
};

static long code_cb(__u32 k, void *ctx)
{
	struct code_ctx *cc = ctx;
	struct mo_map_entry *e;

	if (k >= cc->pm->nr)
		return 1;
	e = &cc->pm->m[k & (MO_MAX_MAPS - 1)];
	if (e->start < cc->b && e->end > cc->a) {
		cc->hit = 1;
		return 1;
	}
	return 0;
}

/* Code in [a, b) goes away: the walker's cache of the process's
 * executable mappings is stale if it holds any of it. */
static __always_inline void invalidate_code(__u32 tgid, __u32 gen, __u64 a, __u64 b)
{
	struct code_ctx cc = { .a = a, .b = b };
	struct mo_proc_stats *ps;

	cc.pm = bpf_map_lookup_elem(&proc_maps, &tgid);
	if (!cc.pm || cc.pm->gen != gen)
		return;
	bpf_loop(MO_MAX_MAPS, code_cb, &cc, 0);
	if (!cc.hit)
		return;
	/* bump first: a walk that copied the cache before writes it back
	 * with the old epoch, which no reader accepts */
	ps = bpf_map_lookup_elem(&procs, &tgid);
	if (ps && ps->gen == gen)
		__sync_fetch_and_add(&ps->maps_epoch, 1);
	bpf_map_delete_elem(&proc_maps, &tgid);
	count(MO_C_MAPS_INVALIDATED);
}

/* The process's range index, reset if it belongs to an older instance. */
static __always_inline struct mmap_ranges *ranges_of(__u32 tgid, __u32 gen, bool create)
{
	struct mmap_ranges *rr = bpf_map_lookup_elem(&mmaps, &tgid);
	__u32 z = 0;
	void *zero;

	if (rr && rr->gen == gen)
		return rr;
	if (!rr && !create)
		return NULL;
	zero = bpf_map_lookup_elem(&mmaps_zero, &z);
	if (!zero)
		return NULL;
	bpf_map_update_elem(&mmaps, &tgid, zero, rr ? BPF_ANY : BPF_NOEXIST);
	rr = bpf_map_lookup_elem(&mmaps, &tgid);
	if (!rr) {
		count(MO_C_DROP_MMAP_RANGES_FULL);
		return NULL;
	}
	rr->gen = gen;
	return rr;
}

/* Slot start values that are not addresses. */
#define SLOT_FREE 0
#define SLOT_BUSY 1	/* being changed by its owner */

struct claim_ctx {
	struct mmap_ranges *rr;
	__u64 start;
	__u64 end;
	__u32 done;
	__u32 pad;
};

static long claim_cb(__u32 i, void *ctx)
{
	struct claim_ctx *cl = ctx;
	struct mmap_range *sl = &cl->rr->r[i & (MO_MAX_MMAPS - 1)];

	if (sl->start != SLOT_FREE ||
	    __sync_val_compare_and_swap(&sl->start, SLOT_FREE, SLOT_BUSY) != SLOT_FREE)
		return 0;
	sl->end = cl->end;
	/* the start published last: readers see a whole range */
	__sync_lock_test_and_set(&sl->start, cl->start);
	cl->done = 1;
	return 1;
}

/* Claim a free slot for [start, end); false when every slot is taken. */
static __always_inline bool claim_slot(struct mmap_ranges *rr, __u64 start, __u64 end)
{
	struct claim_ctx cl = { .rr = rr, .start = start, .end = end };

	bpf_loop(MO_MAX_MMAPS, claim_cb, &cl, 0);
	if (!cl.done)
		rr->overflow = 1;
	return cl.done;
}

/* Index a tracked mapping [start, end) of the current process by range. */
static __always_inline void index_range(__u32 tgid, __u32 gen, __u64 start, __u64 end)
{
	struct mmap_ranges *rr = ranges_of(tgid, gen, true);

	if (rr && !claim_slot(rr, start, end))
		count(MO_C_DROP_MMAP_RANGES_FULL);
}

struct cut_ctx {
	struct mmap_ranges *rr;
	struct cut_scratch *cs;
	__u64 a;
	__u64 b;
	__u32 tgid;
	__u32 gen;
};

/*
 * One slot of the index against the cut [a, b): an overlapping mapping is
 * made busy (so a concurrent cut leaves it alone), trimmed to its low or
 * high piece or freed, and recorded in cs. A split's high piece gets its
 * own slot in apply_cb.
 */
static long cut_cb(__u32 i, void *ctx)
{
	struct cut_ctx *cc = ctx;
	struct mmap_range *sl = &cc->rr->r[i & (MO_MAX_MMAPS - 1)];
	struct range_cut *c;
	__u64 s = sl->start, e = sl->end;

	if (s <= SLOT_BUSY || e <= cc->a || s >= cc->b)
		return 0;
	if (__sync_val_compare_and_swap(&sl->start, s, SLOT_BUSY) != s)
		return 0;	/* another thread has it */
	e = sl->end;
	/* the count lives in the map, not on the stack: a stack value would
	 * be tracked exactly and every iteration verified as a new state */
	c = &cc->cs->c[cc->cs->n & (MO_MAX_MMAPS - 1)];
	cc->cs->n++;
	c->start = s;
	c->end = e;
	c->lo_end = s < cc->a ? cc->a : 0;
	c->hi_start = e > cc->b ? cc->b : 0;
	c->hi_lost = 0;
	if (c->lo_end) {
		sl->end = c->lo_end;
		__sync_lock_test_and_set(&sl->start, s);
	} else if (c->hi_start) {
		__sync_lock_test_and_set(&sl->start, c->hi_start);
	} else {
		__sync_lock_test_and_set(&sl->start, SLOT_FREE);
	}
	return 0;
}

/* Cut [a, b) out of the index; returns the number of cuts in cs.
 * *fallback: some mapping is not indexed (or there is no index), so an
 * unindexed mapping starting at a must be looked up by key. */
static __always_inline __u32 cut_ranges(struct cut_ctx *cc, bool *fallback)
{
	cc->rr = ranges_of(cc->tgid, cc->gen, false);
	cc->cs->n = 0;
	*fallback = true;
	if (!cc->rr)
		return 0;
	bpf_loop(MO_MAX_MMAPS, cut_cb, cc, 0);
	*fallback = cc->rr->overflow;
	return cc->cs->n;
}

/*
 * Apply one cut to the allocs table: the low piece keeps the record (its
 * size shrinks), a high piece becomes a record of its own with the same
 * stack and age, the middle is gone. Sizes stay the bytes asked for: a
 * piece's size is what of the original request lies in it. Records count
 * as allocations and frees: a split makes one, a removal ends one. With
 * stash, the middle is kept in *stash (mremap moves it) instead of being
 * accounted as freed. Returns the bytes cut out.
 */
static __always_inline __u64 apply_cut(__u32 tgid, __u32 gen, const struct range_cut *c, __u64 a,
				       struct mo_thread_state *stash)
{
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = c->start };
	struct mo_alloc_info *info = bpf_map_lookup_elem(&allocs, &key), *rec;
	__u64 lo = 0, hi = 0, gone, rend, at, whole;
	__u64 n_allocs, n_frees;
	__u32 z = 0;
	struct handler_scratch *hs = bpf_map_lookup_elem(&handler_scratch, &z);

	if (c->hi_lost)
		count(MO_C_DROP_MMAP_RANGES_FULL);
	if (!info || info->kind != MO_KIND_MMAP || !hs)
		return 0;
	rec = &hs->rec;
	*rec = *info;
	whole = rec->size;
	rend = c->start + whole;
	if (c->lo_end)
		lo = c->lo_end - c->start < whole ? c->lo_end - c->start : whole;
	if (c->hi_start && rend > c->hi_start)
		hi = rend - c->hi_start;
	gone = whole - lo - hi;
	if (lo)
		info->size = lo;
	else if (bpf_map_delete_elem(&allocs, &key))
		return 0;	/* another CPU took it */
	if (hi) {
		/* the high piece: the record with its own size */
		rec->size = hi;
		key.addr = c->hi_start;
		if (bpf_map_update_elem(&allocs, &key, rec, BPF_ANY)) {
			count(MO_C_DROP_ALLOC_TABLE_FULL);
			gone += hi;	/* lost: accounted as gone */
			hi = 0;
		}
	}
	n_allocs = lo && hi;
	n_frees = !lo && !hi;
	at = c->start > a ? c->start : a;
	if (stash) {
		stash->saved_info = *rec;
		stash->saved_info.size = gone;
		stash->saved_addr = at;
		stash->saved_split = lo || hi;
		stash->saved = gone != 0;
		n_frees = 0;
		gone = 0;
	} else {
		struct mo_proc_stats *ps;

		count(n_frees ? MO_C_MUNMAPS_MATCHED : MO_C_MUNMAP_PARTIAL);
		ps = bpf_map_lookup_elem(&procs, &tgid);
		if (ps)
			__sync_fetch_and_add(&ps->munmap_bytes, gone);
		emit_map_record(MO_REC_MUNMAP, tgid, at, gone, 0);
	}
	/* a mapping is never sampled: it stands for itself */
	stack_account(tgid, rec->stack_id, n_allocs, n_frees, 0, gone, MO_WEIGHT_ONE);
	proc_account(tgid, n_allocs, n_frees, 0, gone);
	return gone;
}

static long apply_cb(__u32 k, void *ctx)
{
	struct cut_ctx *cc = ctx;
	struct range_cut *c;

	if (k >= cc->cs->n)
		return 1;
	c = &cc->cs->c[k & (MO_MAX_MMAPS - 1)];
	if (c->lo_end && c->hi_start && !claim_slot(cc->rr, c->hi_start, c->end))
		c->hi_lost = 1;
	apply_cut(cc->tgid, cc->gen, c, cc->a, NULL);
	return 0;
}

/*
 * [a, a + len) is unmapped (munmap, or replaced by MAP_FIXED): trim, split
 * or forget every tracked mapping it overlaps. With stash (mremap), a
 * single overlapped mapping's cut piece is kept in the thread state; more
 * than one cannot be moved as one record and count as unmapped.
 */
static __always_inline void unmap_range(__u32 tgid, __u32 gen, __u64 a, __u64 len,
					struct mo_thread_state *stash)
{
	__u32 z = 0;
	struct cut_ctx cc = { .tgid = tgid, .gen = gen, .a = a, .b = a + page_up(len) };
	bool fallback;
	__u32 n;

	if (stash)
		stash->saved = 0;
	cc.cs = bpf_map_lookup_elem(&cut_scratch, &z);
	if (!cc.cs || !len)
		return;
	n = cut_ranges(&cc, &fallback);
	if (stash && n == 1) {
		struct range_cut *c = &cc.cs->c[0];

		if (c->lo_end && c->hi_start && !claim_slot(cc.rr, c->hi_start, c->end))
			c->hi_lost = 1;
		apply_cut(tgid, gen, c, a, stash);
	} else if (n) {
		if (stash)
			count(MO_C_MREMAP_UNHANDLED);
		stash = NULL;
		bpf_loop(MO_MAX_MMAPS, apply_cb, &cc, 0);
	}
	if (fallback && !(stash && stash->saved)) {
		/* an unindexed mapping is found only by its start */
		struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = a };
		struct mo_alloc_info *info = bpf_map_lookup_elem(&allocs, &key);
		struct range_cut c = {};

		if (!info || info->kind != MO_KIND_MMAP)
			return;
		c.start = a;
		c.end = a + page_up(info->size);
		if (c.end > cc.b)
			c.hi_start = cc.b;
		apply_cut(tgid, gen, &c, a, stash);
	}
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int sys_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 len = ctx->args[1], prot = ctx->args[2], flags = ctx->args[3];
	__u32 tgid;
	struct mo_thread_state *ts;

	asm volatile("" : "+r"(len), "+r"(prot), "+r"(flags));
	ts = syscall_state(&tgid);
	if (!ts)
		return 0;
	ts->sc_nr = MO_SC_MMAP;
	ts->sc_len = len;
	/* a fixed mapping replaces whatever was mapped there */
	ts->sc_mode = (flags & MAP_FIXED_FLAG) ? MO_SCM_FIXED : 0;
	if (!(flags & MAP_ANON_FLAG)) {
		/* file mappings are not allocations, but mapping a whole huge
		 * file is the seed's "2 GB mmap" scenario */
		if (len >= large_size)
			ts->sc_mode |= MO_SCM_LARGE;
		return 0;
	}
	if (in_allocator(ts)) {
		/* glibc's malloc maps large blocks and arenas itself: that
		 * memory belongs to the allocator call already tracked. */
		count(MO_C_ALLOCATOR_MMAPS);
		return 0;
	}
	if ((flags & MAP_STACK_FLAG) || !(prot & PROT_RW_MASK)) {
		/* thread stacks and PROT_NONE reservations: the runtime's */
		count(MO_C_RUNTIME_MMAPS);
		return 0;
	}
	if (len < min_size) {
		count(MO_C_DROP_SIZE_FILTERED);
		return 0;
	}
	/* the watch tier sees anonymous memory through its growth; only a
	 * large mapping is an event of its own */
	if (!track_mmaps && len < large_size)
		return 0;
	ts->sc_mode |= MO_SCM_TRACK;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sys_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	__u32 tgid, gen, mode;
	struct mo_thread_state *ts;
	struct pt_regs *regs;
	__u64 len, sid;
	bool stored;

	asm volatile("" : "+r"(ret));
	ts = syscall_state(&tgid);
	if (!ts || ts->sc_nr != MO_SC_MMAP)
		return 0;
	ts->sc_nr = MO_SC_NONE;
	len = ts->sc_len;
	mode = ts->sc_mode;
	if ((ret < 0 && ret > -4096) || !mode)
		return 0;
	gen = proc_gen();
	if (mode & MO_SCM_FIXED) {
		/* the new mapping took the place of the old ones atomically:
		 * nobody else can have mapped there since */
		unmap_range(tgid, gen, (__u64)ret, len, NULL);
		invalidate_code(tgid, gen, (__u64)ret, (__u64)ret + page_up(len));
	}
	if (!(mode & (MO_SCM_TRACK | MO_SCM_LARGE)))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (mode & MO_SCM_LARGE) {
		sid = stack_here(tgid, gen, bpf_map_lookup_elem(&procs, &tgid),
				 BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp),
				 BPF_CORE_READ(regs, bp));
		emit_map_record(MO_REC_LARGE_MMAP, tgid, (__u64)ret, len, sid);
		return 0;
	}
	sid = track(tgid, (__u64)ret, len, MO_KIND_MMAP, BPF_CORE_READ(regs, ip),
		    BPF_CORE_READ(regs, sp), BPF_CORE_READ(regs, bp), &stored);
	if (stored) {
		struct mo_proc_stats *ps = bpf_map_lookup_elem(&procs, &tgid);

		index_range(tgid, gen, (__u64)ret, (__u64)ret + page_up(len));
		if (ps)
			__sync_fetch_and_add(&ps->mmap_bytes, len);
	}
	emit_map_record(len >= large_size ? MO_REC_LARGE_MMAP : MO_REC_MMAP, tgid, (__u64)ret, len,
			sid);
	return 0;
}

/* At entry, not at return: once the kernel has unmapped the range another
 * thread may map there, and its new mapping is not ours to forget. */
SEC("tracepoint/syscalls/sys_enter_munmap")
int sys_enter_munmap(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, gen;
	__u64 addr = ctx->args[0], len = ctx->args[1];

	asm volatile("" : "+r"(addr), "+r"(len));
	if (!is_target(tgid) || !len)
		return 0;
	gen = proc_gen();
	unmap_range(tgid, gen, addr, len, NULL);
	invalidate_code(tgid, gen, addr, addr + page_up(len));
	return 0;
}

/* The moved piece leaves the index and the table at entry, for the reason
 * munmap's does; the return puts it where mremap left it. */
SEC("tracepoint/syscalls/sys_enter_mremap")
int sys_enter_mremap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 a0 = ctx->args[0], a1 = ctx->args[1], a2 = ctx->args[2], a3 = ctx->args[3];
	__u32 tgid, gen;
	struct mo_thread_state *ts;

	asm volatile("" : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3));
	ts = syscall_state(&tgid);
	if (!ts)
		return 0;
	gen = proc_gen();
	ts->sc_nr = MO_SC_MREMAP;
	ts->sc_addr = a0;
	ts->sc_len = a1;
	ts->sc_new_len = a2;
	ts->sc_mode = ((a3 & MREMAP_FIXED_FLAG) ? MO_SCM_FIXED : 0) |
		      ((a3 & MREMAP_DONTUNMAP_FLAG) ? MO_SCM_DONTUNMAP : 0);
	unmap_range(tgid, gen, a0, a1, ts);
	invalidate_code(tgid, gen, a0, a0 + page_up(a1));
	return 0;
}

/* Put a record taken out by mremap's entry back at addr with size bytes;
 * n_allocs: it is a new record (not the same one moved). */
static __always_inline void put_back(__u32 tgid, __u32 gen, struct mo_thread_state *ts,
				     __u64 addr, __u64 size, __u64 n_allocs)
{
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = addr };
	struct mo_alloc_info rec = ts->saved_info;
	__u64 old = rec.size;

	rec.size = size;
	if (bpf_map_update_elem(&allocs, &key, &rec, BPF_ANY)) {
		count(MO_C_DROP_ALLOC_TABLE_FULL);
		/* lost: what was there is gone (a mapping: never sampled) */
		stack_account(tgid, rec.stack_id, 0, !n_allocs, 0, n_allocs ? 0 : old,
			      MO_WEIGHT_ONE);
		proc_account(tgid, 0, !n_allocs, 0, n_allocs ? 0 : old);
		return;
	}
	index_range(tgid, gen, addr, addr + page_up(size));
	if (n_allocs || size != old) {
		__u64 more = size > old ? size - old : 0, less = size < old ? old - size : 0;
		struct mo_proc_stats *ps = bpf_map_lookup_elem(&procs, &tgid);

		if (n_allocs) {
			/* a record of its own: all of its bytes are new */
			more = size;
			less = 0;
		}
		stack_account(tgid, rec.stack_id, n_allocs, 0, more, less, MO_WEIGHT_ONE);
		proc_account(tgid, n_allocs, 0, more, less);
		if (ps) {
			if (more)
				__sync_fetch_and_add(&ps->mmap_bytes, more);
			if (less)
				__sync_fetch_and_add(&ps->munmap_bytes, less);
		}
	}
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int sys_exit_mremap(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	__u32 tgid, gen;
	struct mo_thread_state *ts;
	__u64 old_len, new_len, size, addr;

	asm volatile("" : "+r"(ret));
	ts = syscall_state(&tgid);
	if (!ts || ts->sc_nr != MO_SC_MREMAP)
		return 0;
	ts->sc_nr = MO_SC_NONE;
	gen = proc_gen();
	if (ret < 0 && ret > -4096) {
		/* nothing moved: the piece goes back where it was */
		if (ts->saved) {
			ts->saved = 0;
			put_back(tgid, gen, ts, ts->saved_addr, ts->saved_info.size,
				 ts->saved_split);
		}
		return 0;
	}
	old_len = ts->sc_len;
	new_len = ts->sc_new_len;
	addr = (__u64)ret;
	if (ts->sc_mode & MO_SCM_FIXED)
		unmap_range(tgid, gen, addr, new_len, NULL);
	if (!ts->saved)
		return 0;
	ts->saved = 0;
	count(MO_C_MREMAPS);
	/* growth belongs to the tracked piece; shrinking cuts its tail */
	size = ts->saved_info.size;
	if (new_len >= old_len)
		size += new_len - old_len;
	else if (size > new_len)
		size = new_len;
	if (ts->sc_mode & MO_SCM_DONTUNMAP) {
		/* the old range stays mapped (empty): both are the program's */
		put_back(tgid, gen, ts, ts->saved_addr, ts->saved_info.size, ts->saved_split);
		put_back(tgid, gen, ts, addr, size, 1);
		return 0;
	}
	put_back(tgid, gen, ts, addr, size, ts->saved_split);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int sys_exit_brk(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mo_proc_stats *ps;
	__u64 end = (__u64)ctx->ret;

	asm volatile("" : "+r"(end));
	if (!is_target(tgid))
		return 0;
	ps = proc_stats(tgid, proc_gen());
	if (!ps)
		return 0;
	if (ps->brk_end && end > ps->brk_end)
		__sync_fetch_and_add(&ps->brk_growth, end - ps->brk_end);
	ps->brk_end = end;
	return 0;
}

/* ---------------------------------------------------------------- processes */

static __always_inline void emit_proc_record(__u32 type, struct task_struct *task, __u32 other)
{
	struct mo_record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);

	if (!r) {
		count(MO_C_DROP_RINGBUF_FULL);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->pid = BPF_CORE_READ(task, tgid);
	r->tid = BPF_CORE_READ(task, pid);
	r->other_pid = other;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->gen = (__u32)BPF_CORE_READ(task, group_leader, start_time);
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
	submit_record(r);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct mo_proc_stats cs = {}, *ps;
	__u32 *flags, cflags;
	struct mo_proc_maps *pm;

	if (ctgid == ptgid)
		return 0;	/* a new thread, not a new process */
	if (!is_target(ptgid))
		return 0;
	if (!trace_all) {
		flags = bpf_map_lookup_elem(&targets, &ptgid);
		if (!flags || !(*flags & MO_TARGET_FOLLOW))
			return 0;
		cflags = *flags;
		if (bpf_map_update_elem(&targets, &ctgid, &cflags, BPF_ANY)) {
			count(MO_C_DROP_TARGETS_FULL);
			return 0;
		}
		count(MO_C_FORKS_FOLLOWED);
	}
	cs.cgroup_id = bpf_get_current_cgroup_id();
	cs.gen = (__u32)BPF_CORE_READ(child, start_time);
	cs.ppid = ptgid;
	/* The child starts with the parent's mappings: reuse what was
	 * resolved, as the child's (its instance, its first epoch). */
	pm = bpf_map_lookup_elem(&proc_maps, &ptgid);
	if (pm && pm->gen == proc_gen()) {
		__u32 z = 0;
		struct walk_scratch *w = bpf_map_lookup_elem(&walk_scratch, &z);

		if (w) {
			bpf_probe_read_kernel(&w->pm, sizeof(w->pm), pm);
			w->pm.gen = cs.gen;
			w->pm.epoch = 0;
			if (bpf_map_update_elem(&proc_maps, &ctgid, &w->pm, BPF_ANY))
				count(MO_C_DROP_PROC_MAPS_FULL);
		}
	}
	/* Its statistics name the parent, whose view symbolizes the child's
	 * stacks if the fork record is lost and the child is gone before its
	 * maps were read. */
	if (bpf_map_update_elem(&procs, &ctgid, &cs, BPF_ANY))
		count(MO_C_DROP_PROC_TABLE_FULL);
	ps = proc_stats(ptgid, proc_gen());
	if (ps)
		__sync_fetch_and_add(&ps->forks, 1);
	emit_proc_record(MO_REC_FORK, parent, ctgid);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	struct mo_proc_stats *ps;

	if (!is_target(tgid))
		return 0;
	count(MO_C_EXECS);
	bpf_map_delete_elem(&proc_maps, &tgid);
	bpf_map_delete_elem(&mmaps, &tgid);
	ps = proc_stats(tgid, proc_gen());
	if (ps) {
		/* a walk in flight across the exec must not store its cache */
		__sync_fetch_and_add(&ps->maps_epoch, 1);
		ps->exec_ts_ns = bpf_ktime_get_boot_ns();
		ps->brk_end = 0;
	}
	emit_proc_record(MO_REC_EXEC, p, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p, bool group_dead)
{
	__u32 tid = p->pid, tgid = p->tgid;

	bpf_map_delete_elem(&threads, &tid);
	if (!group_dead || !is_target(tgid))
		return 0;
	count(MO_C_EXITS);
	bpf_map_delete_elem(&mmaps, &tgid);
	/* proc_maps stays: user space symbolizes the final findings from it,
	 * then deletes it */
	emit_proc_record(MO_REC_EXIT, p, (__u32)(BPF_CORE_READ(p, exit_code) >> 8));
	return 0;
}

/* ---------------------------------------------------------------- resident */

/* An RSS counter's batched total, read directly (no helper call): the
 * event handler's first and most frequent read. */
static __always_inline __s64 rss_total(struct mm_struct *mm, int member)
{
	switch (member) {
	case 0:
		return mm->rss_stat[0].count;
	case 1:
		return mm->rss_stat[1].count;
	case 2:
		return mm->rss_stat[2].count;
	default:
		return mm->rss_stat[3].count;
	}
}

/*
 * kmem:rss_stat fires on every change of one of an mm's RSS counters, also
 * for changes made on behalf of another task (reclaim, process_vm_writev):
 * the process is the mm's owner, not necessarily current.
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *owner = NULL;
	struct mo_rss *r, zero = {};
	__u32 tgid, bit = 1u << (member & 3);
	__u64 *slot, *seen_slot, bytes, old, total, h, seen_word;
	__s64 pages;
	bool seen;

	pages = rss_total(mm, member & 3);
	h = rss_seen_hash(rss_seen_mm(mm), member);
	seen_slot = rss_seen_slot(h);
	seen_word = rss_seen_word(h, pages);
	if (seen_slot && *seen_slot == seen_word)
		return 0;
	if (bpf_core_field_exists(mm->owner))
		owner = BPF_CORE_READ(mm, owner);
	tgid = owner ? BPF_CORE_READ(owner, tgid) : bpf_get_current_pid_tgid() >> 32;
	if (!is_target(tgid))
		return 0;
	bytes = pages > 0 ? (__u64)pages << 12 : 0;
	r = bpf_map_lookup_elem(&rss, &tgid);
	if (!r) {
		bpf_map_update_elem(&rss, &tgid, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&rss, &tgid);
		if (!r) {
			count(MO_C_DROP_RSS_TABLE_FULL);
			return 0;
		}
	}
	switch (member & 3) {
	case 0:
		slot = &r->file;
		break;
	case 1:
		slot = &r->anon;
		break;
	case 2:
		slot = &r->swap;
		break;
	default:
		slot = &r->shmem;
		break;
	}
	old = *slot;
	seen = r->seen & bit;
	/* the table holds this total from here on: the slot may say so */
	if (seen_slot)
		*seen_slot = seen_word;
	/* already held (the slot had been taken by another mm): no write to
	 * the shared entry */
	if (seen && old == bytes)
		return 0;
	*slot = bytes;
	r->seen |= bit;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->updates++;
	total = r->file + r->anon + r->shmem;
	if (total > r->peak)
		r->peak = total;
	count(MO_C_RSS_UPDATES);
	if ((member & 3) == MM_ANONPAGES_MEMBER)
		attribute_growth(mm, tgid, old, bytes, seen);
	return 0;
}

/* The OOM killer picked a victim: user space attaches its last findings. */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *task, uid_t uid)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct mo_record *r;

	count(MO_C_OOM_KILLS);
	if (!is_target(tgid))
		return 0;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		count(MO_C_DROP_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = MO_REC_OOM_KILL;
	r->pid = tgid;
	r->tid = BPF_CORE_READ(task, pid);
	r->other_pid = uid;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
	/* rare, and the victim's findings are wanted before it is gone */
	bpf_ringbuf_submit(r, 0);
	return 0;
}
