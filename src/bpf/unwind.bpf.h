/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind.bpf.h - the kernel-side user stack walker.
 *
 * Debian builds almost nothing with frame pointers, and the kernel's own
 * frame-pointer walk both loses the allocator's caller and runs off the end
 * of the stack into a page fault on every call. So the walker uses the CFI
 * rows user space compiled from each module's .eh_frame (struct
 * mo_unwind_row): for each frame it finds the executable mapping (cached per
 * process, resolved once with bpf_find_vma), binary-searches the module's
 * rows, and computes CFA, return address and saved rbp. Code no CFI covers
 * (a file without any, a gap in a file's, anonymous JIT code) is stepped by a
 * frame-pointer guess, bounded so that rbp must point into the stack above
 * the current frame, and kept only if the return address it reads follows a
 * call instruction (call_insn.h). A file whose rows user space has not
 * compiled yet is not guessed through: the stack stops there, marked. No
 * return address outside executable memory is stored. It never reads below
 * sp or more than MO_FP_SPAN above it, and stops at the first frame it
 * cannot unwind. src/lib/unwind_walk.c is the same walk in C, the spec.
 */
#ifndef MO_UNWIND_BPF_H
#define MO_UNWIND_BPF_H

#include "call_insn.h"

#define MO_FP_SPAN (8ULL << 20)		/* a frame pointer further up is garbage */
#define MO_ROW_SEARCH_STEPS 24		/* 2^24 rows per module is plenty */
#define VM_EXEC_FLAG 0x00000004UL

struct vma_info {
	__u64 start;
	__u64 end;
	__u64 pgoff;
	__u64 dev;
	__u64 ino;
	__u32 exec;
	__u32 found;
};

struct walk_scratch {
	struct mo_stack st;
	struct mo_proc_maps pm;
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u64 now;			/* boot ns at the walk's start */
	__u32 tgid;
	__u32 pm_dirty;			/* pm gained an entry: write it back */
	__u32 stop;
	__u32 stamp;			/* refresh the last use of modules met */
	/* what bpf_find_vma found, and lookup keys: here, not on the stack,
	 * as the walk's frames come on top of the deepest programs' */
	struct vma_info vi;
	struct mo_module_key mk;
	__u64 fp[2];			/* words read from the user stack */
	__u64 code;			/* the 8 bytes before a guessed return address */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_scratch);
} walk_scratch SEC(".maps");

static long vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	__u32 zero = 0;
	struct walk_scratch *w = bpf_map_lookup_elem(&walk_scratch, &zero);
	struct vma_info *vi;
	struct file *f;

	if (!w)
		return 1;
	vi = &w->vi;

	vi->start = vma->vm_start;
	vi->end = vma->vm_end;
	vi->pgoff = vma->vm_pgoff;
	vi->exec = (vma->vm_flags & VM_EXEC_FLAG) != 0;
	f = vma->vm_file;
	if (f) {
		vi->ino = f->f_inode->i_ino;
		vi->dev = f->f_inode->i_sb->s_dev;
	}
	vi->found = 1;
	return 0;
}

static __always_inline void stamp_module(struct walk_scratch *w, struct mo_module_info *mi)
{
	/* a store per second at most: the line stays shared between CPUs */
	if ((__s64)(w->now - mi->last_ns) > (__s64)MO_STAMP_NS)
		mi->last_ns = w->now;
}

/* Ask user space once per file (the key stays in unknown_modules until it
 * asks for it again, after an eviction) to compile e's rows. */
static __always_inline void ask_module(struct walk_scratch *w, const struct mo_map_entry *e)
{
	struct mo_record *r;
	__u64 asked = MO_MODULE_ASKED;

	if (bpf_map_update_elem(&unknown_modules, &w->mk, &asked, BPF_NOEXIST))
		return;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		count(MO_C_DROP_RINGBUF_FULL);
		bpf_map_delete_elem(&unknown_modules, &w->mk);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = MO_REC_UNKNOWN_MODULE;
	r->pid = w->tgid;
	r->ts_ns = w->now;
	r->addr = e->start;
	r->len = e->end - e->start;
	r->dev = e->dev;
	r->ino = e->ino;
	/* once per module, and stacks walk short until its rows arrive */
	bpf_ringbuf_submit(r, 0);
}

/* e's rows, from its file's module entry; user space is asked for them
 * when there is none. Returns whether the file is settled: it has rows now,
 * or user space said it gets none (the frame-pointer guess applies); 0
 * while they are being compiled. */
static __always_inline int attach_rows(struct walk_scratch *w, struct mo_map_entry *e)
{
	struct mo_module_info *mi;
	__u64 *state;

	w->mk.dev = e->dev;
	w->mk.ino = e->ino;
	mi = bpf_map_lookup_elem(&modules, &w->mk);
	if (!mi) {
		state = bpf_map_lookup_elem(&unknown_modules, &w->mk);
		if (state)
			return *state == MO_MODULE_NO_ROWS;
		ask_module(w, e);
		return 0;
	}
	/* row pc = file offset + off_to_vaddr - vaddr_min */
	e->bias = e->start - e->file_off - mi->off_to_vaddr + mi->vaddr_min;
	e->row_start = mi->row_start;
	e->row_count = mi->row_count;
	stamp_module(w, mi);
	return 1;
}

/* Resolve pc's mapping into the scratch copy of the process's mappings.
 * Returns the entry index, -1 when pc is not in an executable mapping, -2
 * when the process's table is full, -3 when the mapping could not be looked
 * up now (bpf_find_vma only try-locks the memory map, which another thread's
 * mmap or munmap may hold: a later walk learns it). */
static __always_inline int resolve_mapping(struct walk_scratch *w, __u64 pc)
{
	struct vma_info *vi = &w->vi;
	struct mo_map_entry *e;
	__u32 n = w->pm.nr;
	long err;

	__builtin_memset(vi, 0, sizeof(*vi));
	err = bpf_find_vma(bpf_get_current_task_btf(), pc, vma_cb, NULL, 0);
	if (err == -16 /* EBUSY */)
		return -3;
	if (err || !vi->found || !vi->exec)
		return -1;
	if (n >= MO_MAX_MAPS) {
		count(MO_C_UNWIND_PROC_MAPS_FULL);
		return -2;
	}
	e = &w->pm.m[n & (MO_MAX_MAPS - 1)];
	e->start = vi->start;
	e->end = vi->end;
	e->bias = 0;
	e->row_start = 0;
	e->row_count = 0;
	e->file_off = vi->pgoff << 12;
	e->dev = vi->dev;
	e->ino = vi->ino;
	w->pm.nr = n + 1;
	w->pm_dirty = 1;
	return n;
}

static __always_inline struct mo_unwind_row *find_row(__u32 start, __u32 cnt, __u64 rel)
{
	struct mo_unwind_row *row;
	__u32 lo = 0, hi = cnt, idx;

	/* greatest row with row->pc <= rel */
	for (int i = 0; i < MO_ROW_SEARCH_STEPS && lo + 1 < hi; i++) {
		__u32 mid = lo + (hi - lo) / 2;

		idx = start + mid;
		row = bpf_map_lookup_elem(&rows, &idx);
		if (!row)
			return NULL;
		if (row->pc <= rel)
			lo = mid;
		else
			hi = mid;
	}
	idx = start + lo;
	row = bpf_map_lookup_elem(&rows, &idx);
	if (!row || row->pc > rel)
		return NULL;
	return row;
}

static long walk_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct walk_scratch *w = bpf_map_lookup_elem(&walk_scratch, &zero);
	struct mo_map_entry *e = NULL;
	struct mo_unwind_row *row;
	__u64 pc, cfa, ret = 0;
	int mi = -1;

	if (!w || w->stop)
		return 1;
	pc = w->pc;

	/* Every pc we hold is a return address (or the instruction after a
	 * syscall): look up pc - 1 so a call ending a function stays in it. */
	pc -= 1;
	for (int k = 0; k < MO_MAX_MAPS; k++) {
		if (k >= w->pm.nr)
			break;
		if (pc >= w->pm.m[k].start && pc < w->pm.m[k].end) {
			mi = k;
			break;
		}
	}
	if (mi < 0)
		mi = resolve_mapping(w, pc);
	if (mi < 0) {
		/* not code: a return address read from a slot that holds
		 * something else is not a frame (the first pc is the
		 * registers': kept) */
		if (w->st.nr == 0) {
			w->st.ips[0] = w->pc;
			w->st.nr = 1;
		}
		if (mi == -1)
			count(MO_C_UNWIND_CUT_NOT_CODE);
		else if (mi == -3)
			count(MO_C_UNWIND_CUT_VMA_BUSY);
		goto cut;
	}
	if (w->st.nr >= max_depth || w->st.nr >= MO_MAX_FRAMES) {
		w->st.flags |= MO_STACK_TRUNCATED;
		return 1;
	}
	w->st.ips[w->st.nr & (MO_MAX_FRAMES - 1)] = w->pc;
	w->st.nr++;
	e = &w->pm.m[mi & (MO_MAX_MAPS - 1)];
	if (e->row_count == 0 && e->ino && e->row_start != MO_ROWS_NONE) {
		/* the module may have been loaded (again) since we cached it
		 * (anonymous code, a JIT's, never has rows) */
		if (!attach_rows(w, e)) {
			/* its rows are being compiled: guessing through
			 * code built without frame pointers would invent
			 * frames, the stack stops here */
			count(MO_C_UNWIND_CUT_ROWS_PENDING);
			goto cut;
		}
		/* rows, or none for good: not looked up again (an eviction's
		 * new rows epoch clears both) */
		if (!e->row_count)
			e->row_start = MO_ROWS_NONE;
		w->pm_dirty = 1;
	} else if (w->stamp && e->row_count) {
		struct mo_module_info *m;

		w->mk.dev = e->dev;
		w->mk.ino = e->ino;
		m = bpf_map_lookup_elem(&modules, &w->mk);
		if (m && m->row_start == e->row_start)
			stamp_module(w, m);
	}

	row = e->row_count ? find_row(e->row_start, e->row_count, pc - e->bias) : NULL;
	/* the outermost frame (_start, a thread's start): the stack is complete */
	if (row && row->cfa == MO_CFA_END)
		return 1;
	if (row && row->cfa != MO_CFA_NONE) {
		if (row->cfa == MO_CFA_RBP)
			cfa = w->bp + row->cfa_off;
		else if (row->cfa == MO_CFA_PLT)
			/* lazy PLT entry: the push in its last 5 bytes moved rsp */
			cfa = w->sp + ((((pc + 1) & 15) >= 11) ? 16 : 8);
		else
			cfa = w->sp + row->cfa_off;
		/* a step the rows describe but the stack does not allow: the
		 * stack is cut short, and says so */
		if (cfa <= w->sp || cfa - w->sp > MO_FP_SPAN ||
		    bpf_probe_read_user(&w->fp[1], sizeof(w->fp[1]), (void *)(cfa - 8)))
			goto cut;
		ret = w->fp[1];
		if (row->rbp_off8) {
			if (bpf_probe_read_user(&w->fp[0], sizeof(w->fp[0]),
						(void *)(cfa + (__s64)row->rbp_off8 * 8)))
				goto cut;
			w->bp = w->fp[0];
		}
		w->sp = cfa;
	} else {
		/* Code no CFI describes: a file without any (Go, stripped
		 * builds), code its file's CFI leaves out (a gap between FDEs:
		 * V8's builtins, hand-written assembly; a rule rows cannot
		 * express), anonymous JIT code: a bounded frame-pointer guess,
		 * marked. A register holding data instead of a frame pointer
		 * fails the bounds or the call check and ends the stack. */
		count(MO_C_UNWIND_MAP_MISS);
		w->st.flags |= MO_STACK_FP_FALLBACK;
		if (w->bp < w->sp || w->bp - w->sp > MO_FP_SPAN || (w->bp & 7) ||
		    bpf_probe_read_user(w->fp, sizeof(w->fp), (void *)w->bp))
			goto cut;
		ret = w->fp[1];
		if (ret < 4096)
			return 1;
		/* a word that does not follow a call is not a return address */
		if (bpf_probe_read_user(&w->code, sizeof(w->code), (void *)(ret - 8)) ||
		    !mo_ends_with_call(w->code)) {
			count(MO_C_UNWIND_CUT_GUESS_REJECTED);
			goto cut;
		}
		w->sp = w->bp + 16;
		w->bp = w->fp[0];
	}
	if (ret < 4096)
		return 1;
	w->pc = ret;
	return 0;
cut:
	w->st.flags |= MO_STACK_UNWIND_STOP;
	return 1;
}

static __always_inline __u64 hash_stack(const struct mo_stack *st)
{
	__u64 h = 0xcbf29ce484222325ULL ^ st->nr;

	for (int i = 0; i < MO_MAX_FRAMES; i++) {
		if (i >= st->nr)
			break;
		h ^= st->ips[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h | 1;	/* 0 means "no stack" */
}

/*
 * Walk the current thread's user stack from (ip, sp, bp) and store it in the
 * stacks map, with the MO_STACK_* flags given. Returns the stack id, or 0
 * when it could not be stored (the reason is counted).
 */
/*
 * A global function: the verifier checks it once, on its own, instead of
 * once for every path of every program that walks a stack (the walk's
 * mapping scan multiplied by the mmap/munmap range paths made
 * sys_exit_mmap too complex to load).
 */
__noinline __u64 walk_stack(__u64 tgid_gen, __u64 epoch_flags, __u64 ip, __u64 sp, __u64 bp)
{
	/* five arguments at most in a BPF call: pairs packed in one */
	__u32 tgid = tgid_gen >> 32, gen = (__u32)tgid_gen;
	__u32 epoch = epoch_flags >> 32, flags = (__u32)epoch_flags;
	__u32 zero = 0, re = rows_epoch;
	struct walk_scratch *w = bpf_map_lookup_elem(&walk_scratch, &zero);
	struct mo_proc_maps *pm;
	struct mo_stack *old;
	__u64 id;
	long err;

	if (!w)
		return 0;
	w->now = bpf_ktime_get_boot_ns();
	w->st.nr = 0;
	w->st.flags = flags;
	w->pc = ip;
	w->sp = sp;
	w->bp = bp;
	w->tgid = tgid;
	w->stop = 0;
	w->pm_dirty = 0;
	pm = bpf_map_lookup_elem(&proc_maps, &tgid);
	/* a cache of another process instance (reused pid), or one made
	 * before code was unmapped, is not used */
	if (pm && pm->gen == gen && pm->epoch == epoch) {
		bpf_probe_read_kernel(&w->pm, sizeof(w->pm), pm);
	} else {
		w->pm.nr = 0;
		w->pm.stamp_ns = 0;
		w->pm.rows_epoch = re;
	}
	w->pm.gen = gen;
	w->pm.epoch = epoch;
	/* rows were evicted since the cache was made: its row indexes may
	 * name rows reused by another file; the mappings stay (user space
	 * symbolizes from them), their rows are looked up again */
	if (w->pm.rows_epoch != re) {
		for (int k = 0; k < MO_MAX_MAPS; k++) {
			if (k >= w->pm.nr)
				break;
			w->pm.m[k].row_start = 0;
			w->pm.m[k].row_count = 0;
		}
		w->pm.rows_epoch = re;
		w->pm_dirty = 1;
	}
	/* once a second per process, the modules its frames use are marked
	 * used (the cache spares it the module lookups that would) */
	w->stamp = (__s64)(w->now - w->pm.stamp_ns) > (__s64)MO_STAMP_NS;
	if (w->stamp) {
		w->pm.stamp_ns = w->now;
		w->pm_dirty = 1;
	}

	/* one pass more than frames: it notices a stack that was cut short */
	bpf_loop(MO_MAX_FRAMES + 1, walk_step, NULL, 0);

	if (w->pm_dirty && bpf_map_update_elem(&proc_maps, &tgid, &w->pm, BPF_ANY))
		count(MO_C_DROP_PROC_MAPS_FULL);
	if (w->st.nr == 0)
		return 0;
	id = hash_stack(&w->st);
	old = bpf_map_lookup_elem(&stacks, &id);
	if (old) {
		if (old->nr != w->st.nr || old->ips[0] != w->st.ips[0])
			count(MO_C_STACK_COLLIDED);
		return id;
	}
	err = bpf_map_update_elem(&stacks, &id, &w->st, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU stored it */) {
		count(MO_C_DROP_STACK_TABLE_FULL);
		return 0;
	}
	count(MO_C_STACKS_NEW);
	return id;
}

static __always_inline __u64 capture_stack_flags(__u32 tgid, __u32 gen, __u32 epoch, __u64 ip,
						 __u64 sp, __u64 bp, __u32 flags)
{
	return walk_stack((__u64)tgid << 32 | gen, (__u64)epoch << 32 | flags, ip, sp, bp);
}

static __always_inline __u64 capture_stack(__u32 tgid, __u32 gen, __u32 epoch, __u64 ip,
					   __u64 sp, __u64 bp)
{
	return capture_stack_flags(tgid, gen, epoch, ip, sp, bp, 0);
}

#endif /* MO_UNWIND_BPF_H */
