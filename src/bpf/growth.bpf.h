/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * growth.bpf.h - the watch tier's attribution of anonymous memory growth to
 * the user stack that faulted it in (struct mo_growth in abi.h).
 *
 * kmem:rss_stat fires on every change of an mm's counters, but the counter
 * it reads is the kernel's batched total, which moves only when a CPU's
 * local batch (about 32 pages) is folded in. That fold is our sample: its
 * pages are attributed to the stack of the thread that completed the batch,
 * so the cost follows memory growth (one stack walk per ~128 KiB per CPU),
 * not the allocation rate, and no allocator is probed.
 */
#ifndef MO_GROWTH_BPF_H
#define MO_GROWTH_BPF_H

#define MM_ANONPAGES_MEMBER 1

/*
 * The anonymous RSS of mm (owned by tgid) went from old to now bytes.
 * Attributed only when current faulted it in for its own process (not
 * reclaim, khugepaged or process_vm_writev on its behalf) and the process
 * was seen before (its first sample is the baseline, not growth).
 */
static __always_inline void attribute_growth(struct mm_struct *mm, __u32 tgid, __u64 old,
					     __u64 now, bool seen_before)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mo_growth_key key = {};
	struct mo_growth *g, zero = {};
	struct mo_proc_stats *ps;
	struct pt_regs *regs;
	__u32 gen;
	__u64 ts;

	if (!track_growth || !seen_before || now <= old || t->mm != mm)
		return;
	if (bpf_ktime_get_ns() - BPF_CORE_READ(t, group_leader, start_time) < growth_min_age_ns) {
		count(MO_C_GROWTH_YOUNG);
		return;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
	gen = (__u32)BPF_CORE_READ(t, group_leader, start_time);
	ps = bpf_map_lookup_elem(&procs, &tgid);
	/* the faulting instruction itself, stored + 1 as the walker and the
	 * symbolizer take every first frame for a return address */
	key.stack_id = capture_stack_flags(tgid, gen, ps && ps->gen == gen ? ps->maps_epoch : 0,
					   BPF_CORE_READ(regs, ip) + 1, BPF_CORE_READ(regs, sp),
					   BPF_CORE_READ(regs, bp), MO_STACK_FAULT);
	if (!key.stack_id) {
		count(MO_C_GROWTH_NO_STACK);
		return;
	}
	key.tgid = tgid;
	key.gen = gen;
	ts = bpf_ktime_get_boot_ns();
	g = bpf_map_lookup_elem(&growth, &key);
	if (!g) {
		if (bpf_map_update_elem(&growth, &key, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&growth, &key)) {
			count(MO_C_DROP_GROWTH_FULL);
			return;
		}
		g = bpf_map_lookup_elem(&growth, &key);
		if (!g)
			return;
	}
	__sync_fetch_and_add(&g->bytes, now - old);
	__sync_fetch_and_add(&g->samples, 1);
	g->last_ns = ts;
	count(MO_C_GROWTH_SAMPLES);
}

#endif /* MO_GROWTH_BPF_H */
