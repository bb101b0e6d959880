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
		struct mo_proc_stats zero = {};

		zero.cgroup_id = bpf_get_current_cgroup_id();
		zero.gen = gen;
		bpf_map_update_elem(&procs, &tgid, &zero, ps ? BPF_ANY : BPF_NOEXIST);
		ps = bpf_map_lookup_elem(&procs, &tgid);
		/* system-wide, user space learns of a process that ran before
		 * the observer at its first tracked activity, while it still
		 * runs: its container is read from /proc then, not after a
		 * short-lived process is gone */
		if (trace_all)
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

static __always_inline struct mo_thread_state *thread_state(__u32 tid, bool create)
{
	struct mo_thread_state *ts = bpf_map_lookup_elem(&threads, &tid);

	if (!ts && create) {
		struct mo_thread_state zero = {};

		if (bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&threads, &tid)) {
			count(MO_C_DROP_THREAD_TABLE_FULL);
			return NULL;
		}
		ts = bpf_map_lookup_elem(&threads, &tid);
	}
	return ts;
}

static __always_inline bool sampled_out(void)
{
	if (sample_rate <= 1)
		return false;
	if (bpf_get_prandom_u32() % sample_rate == 0)
		return false;
	count(MO_C_DROP_SAMPLED);
	return true;
}

static __always_inline void stack_account(__u32 tgid, __u64 stack_id, __u64 size, bool alloc)
{
	struct mo_stack_key k = { .tgid = tgid, .stack_id = stack_id };
	struct mo_stack_stats *st = bpf_map_lookup_elem(&stack_stats, &k);

	if (!st) {
		struct mo_stack_stats zero = {};

		if (!alloc)
			return;	/* its allocation was counted before a reset */
		if (bpf_map_update_elem(&stack_stats, &k, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&stack_stats, &k)) {
			count(MO_C_STACK_STATS_FULL);
			return;
		}
		st = bpf_map_lookup_elem(&stack_stats, &k);
		if (!st)
			return;
	}
	if (alloc) {
		__sync_fetch_and_add(&st->allocs, 1);
		__sync_fetch_and_add(&st->alloc_bytes, size);
	} else {
		__sync_fetch_and_add(&st->frees, 1);
		__sync_fetch_and_add(&st->free_bytes, size);
	}
}

/* Record a new outstanding allocation with the caller's stack. */
static __always_inline __u64 track(__u32 tgid, __u64 addr, __u64 size, __u32 kind, __u64 ip,
				   __u64 sp, __u64 bp)
{
	__u32 gen = proc_gen();
	struct mo_alloc_key key = { .tgid = tgid, .gen = gen, .addr = addr };
	struct mo_alloc_info info = {};
	struct mo_proc_stats *ps;
	long err;

	info.size = size;
	info.ts_ns = bpf_ktime_get_boot_ns();
	info.kind = kind;
	info.sample_weight = sample_rate > 1 && kind == MO_KIND_HEAP ? sample_rate : 1;
	info.cgroup_id = bpf_get_current_cgroup_id();
	info.stack_id = capture_stack(tgid, ip, sp, bp);
	err = bpf_map_update_elem(&allocs, &key, &info, BPF_ANY);
	if (err) {
		count(MO_C_DROP_ALLOC_TABLE_FULL);
		return info.stack_id;
	}
	count(kind == MO_KIND_HEAP ? MO_C_ALLOCS_TRACKED : MO_C_MMAPS_TRACKED);
	stack_account(tgid, info.stack_id, size, true);
	ps = proc_stats(tgid, gen);
	if (ps) {
		__sync_fetch_and_add(&ps->allocs, 1);
		__sync_fetch_and_add(&ps->alloc_bytes, size);
		if (size > ps->largest)
			ps->largest = size;
	}
	return info.stack_id;
}

/* Forget a tracked block; returns its size, 0 when it was not tracked. */
static __always_inline __u64 untrack(__u32 tgid, __u64 addr, __u32 kind)
{
	struct mo_alloc_key key = { .tgid = tgid, .gen = proc_gen(), .addr = addr };
	struct mo_alloc_info *info = bpf_map_lookup_elem(&allocs, &key);
	struct mo_proc_stats *ps;
	__u64 size, sid;

	if (!info || info->kind != kind)
		return 0;
	size = info->size;
	sid = info->stack_id;
	if (bpf_map_delete_elem(&allocs, &key))
		return 0;	/* another CPU freed it first */
	stack_account(tgid, sid, size, false);
	ps = bpf_map_lookup_elem(&procs, &tgid);
	if (ps) {
		__sync_fetch_and_add(&ps->frees, 1);
		__sync_fetch_and_add(&ps->free_bytes, size);
	}
	return size;
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
	bpf_ringbuf_submit(r, 0);
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

static __always_inline int alloc_entry(struct pt_regs *ctx, __u32 fn)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct mo_thread_state *ts;
	__u64 size = 0, arg = 0, a1, a2, a3;
	bool track_new, need_return;

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

		if (p && untrack(tgid, p, MO_KIND_HEAP))
			count(MO_C_FREES_MATCHED);
		else if (p)
			count(MO_C_FREES_UNKNOWN);
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

	track_new = size >= min_size && size > 0;
	if (!track_new)
		count(MO_C_DROP_SIZE_FILTERED);
	else if (sampled_out())
		track_new = false;

	/* realloc of a tracked block must see the result even when the new
	 * size is filtered out: the old block is gone only if realloc worked.
	 * A large block that sampling skipped still needs its return: the
	 * allocator may mmap it, and that mmap is not the program's own. */
	need_return = track_new || size >= ALLOCATOR_MMAP_MIN;
	if (!need_return && arg &&
	    (fn == MO_FN_REALLOC || fn == MO_FN_REALLOCARRAY)) {
		struct mo_alloc_key key = { .tgid = tgid, .gen = proc_gen(), .addr = arg };

		need_return = bpf_map_lookup_elem(&allocs, &key) != NULL;
	}
	if (!need_return) {
		if (session_mode)
			return SKIP_RETURN;
		/* plain uretprobes fire anyway: keep the depth balanced */
		fn = MO_FN_NONE;
	}

	if (!ts)
		ts = thread_state(tid, true);
	if (!ts)
		return SKIP_RETURN;
	ts->fn = fn;
	ts->size = size;
	ts->arg = arg;
	ts->sc_flags = track_new;
	ts->depth = 1;
	ts->gen = shed_gen;
	ts->entry_sp = PT_REGS_SP(ctx);
	ts->entry_ra = 0;
	bpf_probe_read_user(&ts->entry_ra, sizeof(ts->entry_ra), (void *)ts->entry_sp);
	return RUN_RETURN;
}

static __always_inline int alloc_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct mo_thread_state *ts = bpf_map_lookup_elem(&threads, &tid);
	__u64 ret = PT_REGS_RC(ctx), addr = ret, size;
	__u32 fn;
	bool track_new;

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
		if (!ret) {
			/* glibc: realloc(p, 0) frees p and returns NULL; any
			 * other NULL is a failure that leaves p allocated. */
			if (size == 0 && ts->arg) {
				if (untrack(tgid, ts->arg, MO_KIND_HEAP))
					count(MO_C_FREES_MATCHED);
			} else {
				count(MO_C_REALLOC_FAILED);
			}
			return 0;
		}
		if (ts->arg && untrack(tgid, ts->arg, MO_KIND_HEAP))
			count(MO_C_FREES_MATCHED);
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
				  PT_REGS_FP(ctx));

		if (size >= large_size)
			emit_map_record(MO_REC_LARGE_HEAP, tgid, addr, size, sid);
	} else if (size >= large_size) {
		/* sampling skipped it, but a large allocation is always reported */
		emit_map_record(MO_REC_LARGE_HEAP, tgid, addr, size,
				capture_stack(tgid, PT_REGS_IP(ctx), PT_REGS_SP(ctx),
					      PT_REGS_FP(ctx)));
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
	ts->sc_nr = MO_SC_NONE;
	ts->sc_large_file = 0;
	if (!(flags & MAP_ANON_FLAG)) {
		/* file mappings are not allocations, but mapping a whole huge
		 * file is the seed's "2 GB mmap" scenario */
		if (len >= large_size) {
			ts->sc_nr = MO_SC_MMAP;
			ts->sc_len = len;
			ts->sc_large_file = 1;
		}
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
	ts->sc_nr = MO_SC_MMAP;
	ts->sc_len = len;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int sys_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	__u32 tgid;
	struct mo_thread_state *ts;
	struct mo_alloc_key key;
	struct mo_alloc_info *info;
	struct pt_regs *regs;
	__u64 len;

	asm volatile("" : "+r"(ret));
	ts = syscall_state(&tgid);
	if (!ts || ts->sc_nr != MO_SC_MMAP)
		return 0;
	ts->sc_nr = MO_SC_NONE;
	len = ts->sc_len;
	if (ret < 0 && ret > -4096)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (ts->sc_large_file) {
		__u64 sid = capture_stack(tgid, BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp),
					  BPF_CORE_READ(regs, bp));

		emit_map_record(MO_REC_LARGE_MMAP, tgid, (__u64)ret, len, sid);
		return 0;
	}
	track(tgid, (__u64)ret, len, MO_KIND_MMAP, BPF_CORE_READ(regs, ip),
	      BPF_CORE_READ(regs, sp), BPF_CORE_READ(regs, bp));
	key.tgid = tgid;
	key.gen = proc_gen();
	key.addr = (__u64)ret;
	info = bpf_map_lookup_elem(&allocs, &key);
	{
		struct mo_proc_stats *ps = bpf_map_lookup_elem(&procs, &tgid);

		if (ps)
			__sync_fetch_and_add(&ps->mmap_bytes, len);
	}
	emit_map_record(len >= large_size ? MO_REC_LARGE_MMAP : MO_REC_MMAP, tgid, (__u64)ret, len,
			info ? info->stack_id : 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
int sys_enter_munmap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u64 addr = ctx->args[0], len = ctx->args[1];
	struct mo_alloc_key key;

	asm volatile("" : "+r"(addr), "+r"(len));
	key.tgid = tgid;
	key.gen = proc_gen();
	key.addr = addr;
	struct mo_alloc_info *info, moved;
	struct mo_proc_stats *ps;

	if (!is_target(tgid))
		return 0;
	info = bpf_map_lookup_elem(&allocs, &key);
	if (!info || info->kind != MO_KIND_MMAP)
		return 0;
	if (len >= info->size) {
		__u64 size = untrack(tgid, addr, MO_KIND_MMAP);

		if (!size)
			return 0;
		count(MO_C_MUNMAPS_MATCHED);
		ps = bpf_map_lookup_elem(&procs, &tgid);
		if (ps)
			__sync_fetch_and_add(&ps->munmap_bytes, size);
		emit_map_record(MO_REC_MUNMAP, tgid, addr, size, 0);
		return 0;
	}
	/* The head of the mapping goes: the rest stays tracked. */
	moved = *info;
	moved.size -= len;
	bpf_map_delete_elem(&allocs, &key);
	key.addr = addr + len;
	bpf_map_update_elem(&allocs, &key, &moved, BPF_ANY);
	count(MO_C_MUNMAP_PARTIAL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mremap")
int sys_enter_mremap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 a0 = ctx->args[0], a1 = ctx->args[1], a2 = ctx->args[2];
	__u32 tgid;
	struct mo_thread_state *ts;

	asm volatile("" : "+r"(a0), "+r"(a1), "+r"(a2));
	ts = syscall_state(&tgid);
	if (!ts)
		return 0;
	ts->sc_nr = MO_SC_MREMAP;
	ts->sc_addr = a0;
	ts->sc_len = a1;
	ts->sc_new_len = a2;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mremap")
int sys_exit_mremap(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	__u32 tgid;
	struct mo_thread_state *ts;
	struct mo_alloc_key key;
	struct mo_alloc_info *info, moved;

	asm volatile("" : "+r"(ret));
	ts = syscall_state(&tgid);
	if (!ts || ts->sc_nr != MO_SC_MREMAP)
		return 0;
	ts->sc_nr = MO_SC_NONE;
	if (ret < 0 && ret > -4096)
		return 0;
	key.tgid = tgid;
	key.gen = proc_gen();
	key.addr = ts->sc_addr;
	info = bpf_map_lookup_elem(&allocs, &key);
	if (!info || info->kind != MO_KIND_MMAP)
		return 0;
	moved = *info;
	moved.size = ts->sc_new_len;
	bpf_map_delete_elem(&allocs, &key);
	key.addr = (__u64)ret;
	bpf_map_update_elem(&allocs, &key, &moved, BPF_ANY);
	count(MO_C_MREMAPS);
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
	bpf_ringbuf_submit(r, 0);
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
		bpf_map_update_elem(&targets, &ctgid, &cflags, BPF_ANY);
		count(MO_C_FORKS_FOLLOWED);
	}
	/* The child starts with the parent's mappings: reuse what was resolved. */
	pm = bpf_map_lookup_elem(&proc_maps, &ptgid);
	if (pm)
		bpf_map_update_elem(&proc_maps, &ctgid, pm, BPF_ANY);
	/* Its statistics name the parent, whose view symbolizes the child's
	 * stacks if the fork record is lost and the child is gone before its
	 * maps were read. */
	cs.cgroup_id = bpf_get_current_cgroup_id();
	cs.gen = (__u32)BPF_CORE_READ(child, start_time);
	cs.ppid = ptgid;
	bpf_map_update_elem(&procs, &ctgid, &cs, BPF_ANY);
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
	ps = proc_stats(tgid, proc_gen());
	if (ps) {
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
	/* proc_maps stays: user space symbolizes the final findings from it,
	 * then deletes it */
	emit_proc_record(MO_REC_EXIT, p, (__u32)(BPF_CORE_READ(p, exit_code) >> 8));
	return 0;
}

/* ---------------------------------------------------------------- resident */

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
	__u64 *slot, bytes, old, total;
	__s64 pages;
	bool seen;

	if (bpf_core_field_exists(mm->owner))
		owner = BPF_CORE_READ(mm, owner);
	tgid = owner ? BPF_CORE_READ(owner, tgid) : bpf_get_current_pid_tgid() >> 32;
	if (!is_target(tgid))
		return 0;
	pages = BPF_CORE_READ(mm, rss_stat[member & 3].count);
	bytes = pages > 0 ? (__u64)pages << 12 : 0;
	r = bpf_map_lookup_elem(&rss, &tgid);
	if (!r) {
		bpf_map_update_elem(&rss, &tgid, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&rss, &tgid);
		if (!r)
			return 0;
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
	/* the batched total moves once per ~32 pages per CPU: most events
	 * change nothing and end here, without a write to the shared entry */
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
	bpf_ringbuf_submit(r, 0);
	return 0;
}
