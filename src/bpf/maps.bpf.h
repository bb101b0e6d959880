/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.bpf.h - the maps and knobs every memobserver BPF program shares, and
 * the per-CPU drop/activity counters. Sizes marked "set at load" are
 * overwritten by user space from the configuration before the object loads.
 */
#ifndef MO_MAPS_BPF_H
#define MO_MAPS_BPF_H

/* Knobs written through skel->rodata before load. */
const volatile bool trace_all = false;		/* system-wide: every process */
const volatile __u32 self_tgid = 0;		/* never trace ourselves */
const volatile __u64 min_size = 0;		/* size filter, bytes */
const volatile __u32 sample_rate = 1;		/* 1 in N */
const volatile __u32 max_depth = MO_MAX_FRAMES;	/* frames per stack */
const volatile bool session_mode = true;	/* session uprobes: entry decides */
const volatile __u64 large_size = ~0ULL;	/* large-allocation threshold, bytes */
const volatile __u64 target_cgroup = 0;		/* only this cgroup (and below), 0 = any */
const volatile __s32 target_v1_ssid = -1;	/* target_cgroup is on the cgroup v1
						   hierarchy of this controller (-1: v2) */
const volatile bool count_hits = false;		/* overhead budget: count probe hits */
const volatile bool track_growth = false;	/* watch tier: attribute RSS growth */
const volatile __u64 growth_min_age_ns = 0;	/* ... of processes at least this old */
const volatile bool track_mmaps = true;		/* anonymous mmaps as tracked blocks */

/* Bumped by user space whenever it detaches or re-attaches the probes of
 * allocating functions (overhead budget): an allocating call in flight
 * across a bump may never see its return probe. */
volatile __u32 shed_gen = 0;

/* Bumped by user space when it evicts modules to reuse their rows: row
 * indexes a process's cached mappings hold from an older epoch are stale
 * (struct mo_proc_maps.rows_epoch). */
volatile __u32 rows_epoch = 0;

/* Outstanding allocations: (tgid, address) -> record. Set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1000000);
	__type(key, struct mo_alloc_key);
	__type(value, struct mo_alloc_info);
} allocs SEC(".maps");

/* Distinct stacks: hash of the frames -> frames. Set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct mo_stack);
} stacks SEC(".maps");

/* Allocation/free totals per (process, stack). Sized like stacks. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct mo_stack_key);
	__type(value, struct mo_stack_stats);
} stack_stats SEC(".maps");

/* Per-thread in-flight state, keyed by tid; removed when the thread exits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct mo_thread_state);
} threads SEC(".maps");

/* Processes to observe when not system-wide: tgid -> MO_TARGET_* flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* Per-process statistics. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct mo_proc_stats);
} procs SEC(".maps");

/* Unwind rows of every loaded module, written by user space through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2000000);
	__type(key, __u32);
	__type(value, struct mo_unwind_row);
} rows SEC(".maps");

/* Modules whose rows are loaded, by file identity. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct mo_module_key);
	__type(value, struct mo_module_info);
} modules SEC(".maps");

/* Executable mappings each process's walks have resolved so far. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct mo_proc_maps);
} proc_maps SEC(".maps");

/*
 * Tracked anonymous mappings of a process by address range, so that an
 * munmap, mremap or MAP_FIXED mmap of any range finds every tracked mapping
 * it overlaps (the allocs table is keyed by start address only). Tracing
 * programs cannot take a bpf_spin_lock: a slot is owned by whoever swaps
 * its start from 0 (free) to the mapping's start, or back to 0 to take the
 * mapping out, so two threads mapping at once never share a slot.
 */
struct mmap_range {
	__u64 start;		/* 0: free slot */
	__u64 end;		/* page-rounded */
};

struct mmap_ranges {
	__u32 gen;		/* the process instance (proc_gen) */
	__u32 overflow;		/* some mapping did not fit: exact-start fallback */
	struct mmap_range r[MO_MAX_MMAPS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct mmap_ranges);
} mmaps SEC(".maps");

/* Never written: the initial value of a process's mmaps entry (too large
 * for the BPF stack). */
struct mmap_ranges_zero {
	__u8 b[sizeof(struct mmap_ranges)];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mmap_ranges_zero);
} mmaps_zero SEC(".maps");

/* What one range operation did to one tracked mapping, filled under the
 * lock and applied to the allocs table after it. */
struct range_cut {
	__u64 start;		/* the mapping's start (its allocs key) */
	__u64 end;
	__u64 lo_end;		/* a low piece [start, lo_end) stays; 0: none */
	__u64 hi_start;		/* a high piece [hi_start, end) stays; 0: none */
	__u32 hi_lost;		/* the high piece found no slot in the index */
	__u32 pad;
};

struct cut_scratch {
	__u32 n;
	__u32 pad;
	struct range_cut c[MO_MAX_MMAPS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cut_scratch);
} cut_scratch SEC(".maps");

/*
 * rss_stat's memory of the counter totals it last stored in the rss table,
 * direct mapped by mm and member, shared by all CPUs. The kernel's RSS
 * counters are percpu_counters: a change adds to the CPU's local count and
 * reaches the total read here only once a batch (32 pages or more) is
 * folded in, so about 31 events in 32 leave the total as it was. An event
 * whose slot holds its mm, member and the total it reads has nothing new
 * to tell and ends there, before the owner and the rss table are looked
 * up. Every store to the rss table stores its slot too (one 64-bit word,
 * written whole), so a slot that matches says what the table holds; it is
 * shared, not per CPU, because a total that went away and came back while
 * other CPUs stored it must not match a CPU's stale memory of it. A slot
 * taken by another mm (collision, or a freed mm's id reused) only sends
 * the next event the long way; the check is 24 bits of the mm's hash, so
 * two mms sharing a slot and those bits and a total match once in 16 M.
 * Two CPUs storing the same counter at the same instant may leave the
 * slot ahead of the table until the total next moves.
 */
#define MO_RSS_SEEN_SLOTS 512
#define MO_RSS_SEEN_PAGES_BITS 40

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MO_RSS_SEEN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);	/* check << 40 | total's low 40 bits; 0: empty */
} rss_seen SEC(".maps");

/* An mm's identity as a number: its mm_id where the kernel has one, else
 * its address (read through the stack: the verifier gives no pointer's
 * value to arithmetic). */
static __always_inline __u64 rss_seen_mm(struct mm_struct *mm)
{
	struct mm_struct *p = mm;
	__u64 v = 0;

	if (bpf_core_field_exists(mm->mm_id))
		return (__u64)(__u32)mm->mm_id + 1;
	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

static __always_inline __u64 rss_seen_hash(__u64 mm, int member)
{
	return ((mm << 2) | (__u64)(member & 3)) * 0x9e3779b97f4a7c15ULL;
}

static __always_inline __u64 *rss_seen_slot(__u64 hash)
{
	__u32 k = (__u32)(hash >> 55) & (MO_RSS_SEEN_SLOTS - 1);

	return bpf_map_lookup_elem(&rss_seen, &k);
}

/* never 0, so an empty slot matches nothing */
static __always_inline __u64 rss_seen_word(__u64 hash, __s64 pages)
{
	return (((hash >> 16) & 0xffffff) | 1) << MO_RSS_SEEN_PAGES_BITS |
	       ((__u64)pages & ((1ULL << MO_RSS_SEEN_PAGES_BITS) - 1));
}

/*
 * The handlers' large temporaries, kept here rather than on the stack: a
 * handler's frame and the frames it calls (the walker, loop callbacks)
 * share 512 bytes. Each member has one user, and the walker keeps its own
 * (walk_scratch), so a value here survives a walk_stack call.
 */
struct handler_scratch {
	struct mo_proc_stats fresh;	/* proc_stats(): a new process's first value */
	struct mo_alloc_info rec;	/* apply_cut(): the record being cut */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct handler_scratch);
} handler_scratch SEC(".maps");

/* Files the walker met without rows, already reported to user space: value
 * MO_MODULE_ASKED (rows may come) or MO_MODULE_NO_ROWS (none will). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mo_module_key);
	__type(value, __u64);
} unknown_modules SEC(".maps");

/* Watch tier: anonymous RSS growth per (process, stack). Set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct mo_growth_key);
	__type(value, struct mo_growth);
} growth SEC(".maps");

/* Resident memory per process (kmem:rss_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct mo_rss);
} rss SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} records SEC(".maps");

/*
 * Hand a record to user space. Waking the reader costs the kernel an
 * interrupt (irq_work: a self-IPI, a trap to the hypervisor on a VM) each
 * time a record lands in an empty ring, that is for nearly every record
 * when the reader keeps up. System-wide, records come with every fork,
 * exec and exit of the node and none is urgent: user space drains the
 * ring at least every 100 ms anyway, so records wait for that unless a
 * good part of the ring is full. A targeted run has few records, and its
 * users wait for each: those wake the reader at once.
 */
#define MO_RB_WAKE_BYTES (512u << 10)

static __always_inline void submit_record(void *r)
{
	__u64 flags = 0;

	if (trace_all)
		flags = bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) >= MO_RB_WAKE_BYTES ?
				BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(r, flags);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MO_C__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(enum mo_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		(*v)++;
}

/*
 * cgroup v1: the task's cgroup on the hierarchy of controller
 * target_v1_ssid (task->cgroups->subsys[ssid]->cgroup), then its parents.
 * A cgroup's id is its kernfs node id on v1 as on v2 (the directory's
 * inode number on 64-bit kernels).
 */
static __always_inline bool in_target_cgroup_v1(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct cgroup_subsys_state *css = NULL;
	struct cgroup *cg;
	char *slot;

	slot = (char *)BPF_CORE_READ(task, cgroups);
	if (!slot)
		return false;
	slot += bpf_core_field_offset(struct css_set, subsys);
	slot += (__u32)(target_v1_ssid & 15) * sizeof(css);
	if (bpf_probe_read_kernel(&css, sizeof(css), slot) || !css)
		return false;
	cg = BPF_CORE_READ(css, cgroup);
	for (int level = 0; level < 16 && cg; level++) {
		if (BPF_CORE_READ(cg, kn, id) == target_cgroup)
			return true;
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
	}
	return false;
}

/* Is current in target_cgroup or below it? cgroup v2 ids are per level. */
static __always_inline bool in_target_cgroup(void)
{
	if (!target_cgroup)
		return true;
	if (target_v1_ssid >= 0)
		return in_target_cgroup_v1();
	if (bpf_get_current_cgroup_id() == target_cgroup)
		return true;
	for (int level = 1; level < 16; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		if (id == target_cgroup)
			return true;
	}
	return false;
}

static __always_inline bool is_target(__u32 tgid)
{
	if (tgid == self_tgid || tgid == 0)
		return false;
	if (trace_all)
		return in_target_cgroup();
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

#endif /* MO_MAPS_BPF_H */
