// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * reach.c - the reachability core: block index, marking from roots,
 * propagation through reachable blocks, valgrind's split of lost blocks into
 * definitely/indirectly lost, and the live-mode confirmation against the
 * previous pass. Memory is read through the caller's readv callback in
 * batches (up to IOV_MAX pieces, one buffer of chunk_bytes): memory use is
 * O(blocks) plus the buffer, never a copy of the heap.
 *
 * Invariants: the lookup arrays hold only valid, non-overlapping blocks
 * sorted by start, so ends are sorted too; a block is pushed on the work
 * stack at most once per phase that can reach it (state changes only
 * NONE -> REACHED/MAYBE/INDIRECT, NONE -> LEADER -> INDIRECT), so every
 * phase scans each block at most once.
 */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reach.h"

#define PAGE 4096ULL
#define REDZONE 128ULL
#define MAX_IOV 1024
#define MIN_CHUNK (64 * 1024)
#define DEFAULT_CHUNK (256 * 1024)
#define HASH_K 0x9E3779B97F4A7C15ULL
/* Chain traversal (a list: each block known only once the previous one is
 * read) reads aligned windows around the block, kept in a direct-mapped
 * cache: neighbours allocated together are then read in one call. */
#define WIN (32 * 1024ULL)
#define NWIN 32

enum state { S_NONE, S_REACHED, S_MAYBE, S_LEADER, S_INDIRECT };
enum { F_UNREADABLE = 1, F_SEED = 2 };
enum phase { PH_MARK, PH_HASH, PH_MAYBE, PH_CLIQUE };

struct item {
	uint64_t addr;
	uint64_t len;
	int64_t blk;		/* lookup index, -1 for a root piece */
	uint64_t boff;		/* offset of addr in the block (hash order) */
};

struct core {
	const struct mo_reach_input *in;
	struct mo_reach_stats *stats;
	size_t m;		/* lookup blocks */
	uint64_t *start;
	uint64_t *end;		/* start + max(size, 1): a size-0 block owns its address */
	uint32_t *orig;		/* index into in->blocks */
	uint8_t *st;
	uint8_t *flag;
	uint8_t *bwhy;		/* why for a seed of live-mode doubt */
	uint64_t *hash;
	uint32_t *stack;
	size_t top;
	uint64_t lo, span;	/* a word w may point into a block iff w - lo < span */
	enum phase ph;
	uint32_t leader;

	uint8_t *buf;
	size_t bufsz;
	size_t used;
	unsigned nit;
	struct item items[MAX_IOV];
	struct iovec liov[MAX_IOV];
	struct iovec riov[MAX_IOV];

	uint8_t *win;		/* NWIN windows of WIN bytes */
	uint64_t win_base[NWIN];
	uint64_t win_valid[NWIN];	/* bytes read from the base; 0: empty */

	uint64_t deadline;
	enum mo_reach_why deadline_why;
	enum mo_reach_why halt;	/* set: stop scanning */
	int err;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t len)
{
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * HASH_K;
		h ^= h >> 32;
		p += 8;
		len -= 8;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w ^ ((uint64_t)len << 56)) * HASH_K;
		h ^= h >> 32;
	}
	return h;
}

static uint64_t hash_seed(uint64_t size)
{
	return (size + 1) * HASH_K;
}

/* Lookup index of the block containing w, or -1. */
static inline int64_t lookup(const struct core *c, uint64_t w)
{
	size_t l = 0, r = c->m;

	while (l < r) {
		size_t mid = l + (r - l) / 2;

		if (c->start[mid] <= w)
			l = mid + 1;
		else
			r = mid;
	}
	if (l == 0 || w >= c->end[l - 1])
		return -1;
	return (int64_t)(l - 1);
}

/* First lookup block whose end is past a. */
static size_t first_ending_after(const struct core *c, uint64_t a)
{
	size_t l = 0, r = c->m;

	while (l < r) {
		size_t mid = l + (r - l) / 2;

		if (c->end[mid] <= a)
			l = mid + 1;
		else
			r = mid;
	}
	return l;
}

static inline void push(struct core *c, uint32_t i)
{
	c->stack[c->top++] = i;
}

static inline void found(struct core *c, uint64_t w)
{
	int64_t i = lookup(c, w);

	if (i < 0)
		return;
	switch (c->ph) {
	case PH_MARK:
		if (c->st[i] == S_NONE) {
			c->st[i] = S_REACHED;
			push(c, (uint32_t)i);
		}
		break;
	case PH_MAYBE:
		if (c->st[i] == S_NONE) {
			c->st[i] = S_MAYBE;
			push(c, (uint32_t)i);
		}
		break;
	case PH_CLIQUE:
		/* valgrind: a block of an earlier clique that this one reaches
		 * joins it; its own descendants are already indirect. */
		if (c->st[i] == S_NONE) {
			c->st[i] = S_INDIRECT;
			push(c, (uint32_t)i);
		} else if (c->st[i] == S_LEADER && (uint32_t)i != c->leader) {
			c->st[i] = S_INDIRECT;
		}
		break;
	case PH_HASH:
		break;
	}
}

/* Every 8-byte-aligned word of the remote range [ra, ra + len) at p. */
static void scan_words(struct core *c, uint64_t ra, const uint8_t *p, size_t len)
{
	uint64_t skip = ((ra + 7) & ~7ULL) - ra;
	uint64_t lo = c->lo, span = c->span;
	size_t nw, k;

	if (len < skip + 8)
		return;
	p += skip;
	nw = (len - skip) / 8;
	for (k = 0; k < nw; k++) {
		uint64_t w;

		memcpy(&w, p + 8 * k, 8);
		if (w - lo < span)
			found(c, w);
	}
}

static void process(struct core *c, const struct item *it, const uint8_t *p, size_t n)
{
	if (!n)
		return;
	c->stats->bytes_scanned += n;
	if (it->blk < 0)
		c->stats->root_bytes += n;
	if (c->ph != PH_HASH)
		scan_words(c, it->addr, p, n);
	if (it->blk >= 0 && c->ph != PH_MARK) {
		uint64_t b = (uint64_t)it->blk;

		if (it->boff == 0)
			c->hash[b] = hash_seed(c->in->blocks[c->orig[b]].size);
		c->hash[b] = hash_bytes(c->hash[b], p, n);
	}
}

static void halt_on_error(struct core *c, ssize_t r)
{
	c->err = (int)r;
	if (r == -ESRCH)
		c->halt = MO_REACH_WHY_GONE;
	else if (r == -EPERM || r == -EACCES)
		c->halt = MO_REACH_WHY_PERM;
	else
		c->halt = MO_REACH_WHY_ERROR;
}

/* Item i could be read only up to v bytes. A root range goes on after the
 * faulting page (a guard page or a hole), and is dropped at the second
 * fault in a row; a block is marked unreadable. */
static void fault(struct core *c, unsigned i, uint64_t v)
{
	const struct item *it = &c->items[i];
	uint8_t *base = c->liov[i].iov_base;
	uint64_t a = it->addr + v, e = it->addr + it->len;

	c->stats->holes++;
	if (it->blk >= 0) {
		c->flag[it->blk] |= F_UNREADABLE;
		return;
	}
	while (!c->halt) {
		struct iovec l, r;
		struct item sub;
		ssize_t got;

		a = (a + PAGE) & ~(PAGE - 1);
		if (a >= e)
			return;
		l.iov_base = base + (a - it->addr);
		l.iov_len = e - a;
		r.iov_base = (void *)(uintptr_t)a;
		r.iov_len = e - a;
		got = c->in->readv(c->in->ctx, &l, &r, 1);
		c->stats->read_calls++;
		if (got == -EFAULT || got == 0)
			return;
		if (got < 0) {
			halt_on_error(c, got);
			return;
		}
		sub = *it;
		sub.addr = a;
		sub.len = (uint64_t)got;
		process(c, &sub, l.iov_base, (size_t)got);
		if ((uint64_t)got == e - a)
			return;
		c->stats->holes++;
		a += (uint64_t)got;
	}
}

static void check_deadline(struct core *c)
{
	if (c->deadline && !c->halt && now_ns() > c->deadline)
		c->halt = c->deadline_why;
}

static void flush(struct core *c)
{
	unsigned i = 0;

	while (i < c->nit && !c->halt) {
		ssize_t r = c->in->readv(c->in->ctx, c->liov + i, c->riov + i, c->nit - i);

		c->stats->read_calls++;
		if (r == -EFAULT) {
			fault(c, i, 0);
			i++;
			continue;
		}
		if (r < 0) {
			halt_on_error(c, r);
			break;
		}
		while (i < c->nit && (uint64_t)r >= c->riov[i].iov_len) {
			process(c, &c->items[i], c->liov[i].iov_base, c->riov[i].iov_len);
			r -= (ssize_t)c->riov[i].iov_len;
			i++;
		}
		if (i < c->nit) {
			process(c, &c->items[i], c->liov[i].iov_base, (size_t)r);
			fault(c, i, (uint64_t)r);
			i++;
		}
	}
	c->nit = 0;
	c->used = 0;
	check_deadline(c);
}

/* Queue [addr, addr + len) of block blk (-1: root) starting at block
 * offset boff, flushing as the buffer fills. Pieces of a block are cut at
 * multiples of 8 from its start, so its hash does not depend on batching. */
static void add(struct core *c, uint64_t addr, uint64_t len, int64_t blk, uint64_t boff)
{
	while (len && !c->halt) {
		size_t off = c->used + ((addr - c->used) & 7);
		uint64_t piece;

		if (c->nit == MAX_IOV || off + 8 > c->bufsz) {
			flush(c);
			continue;
		}
		piece = c->bufsz - off;
		if (piece >= len)
			piece = len;
		else
			piece &= ~7ULL;
		c->items[c->nit] = (struct item){ addr, piece, blk, boff };
		c->liov[c->nit].iov_base = c->buf + off;
		c->liov[c->nit].iov_len = piece;
		c->riov[c->nit].iov_base = (void *)(uintptr_t)addr;
		c->riov[c->nit].iov_len = piece;
		c->nit++;
		c->used = off + piece;
		addr += piece;
		boff += piece;
		len -= piece;
	}
}

static void add_block(struct core *c, uint32_t b)
{
	uint64_t size = c->in->blocks[c->orig[b]].size;

	c->stats->blocks_scanned++;
	if (size == 0) {
		c->hash[b] = hash_seed(0);
		return;
	}
	add(c, c->start[b], size, b, 0);
}

static void win_reset(struct core *c)
{
	memset(c->win_valid, 0, sizeof(c->win_valid));
}

/* Scan block b from the window cache; false if it is not in a readable
 * window (the caller reads it the usual way). */
static bool scan_in_window(struct core *c, uint32_t b)
{
	uint64_t addr = c->start[b], size = c->in->blocks[c->orig[b]].size;
	uint64_t base = addr & ~(WIN - 1);
	unsigned slot = (unsigned)((base / WIN) % NWIN);
	uint8_t *w = c->win + (size_t)slot * WIN;
	struct item it = { addr, size, b, 0 };

	if (size == 0 || addr + size > base + WIN)
		return false;
	if (c->win_base[slot] != base || !c->win_valid[slot]) {
		struct iovec l = { w, WIN }, r = { (void *)(uintptr_t)base, WIN };
		ssize_t got = c->in->readv(c->in->ctx, &l, &r, 1);

		c->stats->read_calls++;
		if (got < 0 && got != -EFAULT) {
			halt_on_error(c, got);
			return true;
		}
		c->win_base[slot] = base;
		c->win_valid[slot] = got > 0 ? (uint64_t)got : 0;
	}
	if (addr + size > base + c->win_valid[slot])
		return false;
	c->stats->blocks_scanned++;
	process(c, &it, w + (addr - base), size);
	return true;
}

static void propagate(struct core *c)
{
	while ((c->top || c->nit) && !c->halt) {
		if (c->top) {
			uint32_t b = c->stack[--c->top];

			/* nothing else to batch with: a chain */
			if (c->top || c->nit || !scan_in_window(c, b))
				add_block(c, b);
		} else {
			flush(c);
		}
	}
	check_deadline(c);
}

/* A root range without the listed blocks inside it. */
static void scan_root(struct core *c, uint64_t s, uint64_t e)
{
	size_t bi = first_ending_after(c, s);
	uint64_t pos = s;

	while (pos < e && !c->halt) {
		uint64_t gap_end = e;

		if (bi < c->m && c->start[bi] <= pos) {
			pos = c->end[bi++];
			continue;
		}
		if (bi < c->m && c->start[bi] < e)
			gap_end = c->start[bi];
		add(c, pos, gap_end - pos, -1, 0);
		pos = gap_end;
	}
}

static int cmp_orig(const void *a, const void *b, void *arg)
{
	const struct mo_reach_block *bl = arg;
	const struct mo_reach_block *x = &bl[*(const uint32_t *)a], *y = &bl[*(const uint32_t *)b];

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return 0;
}

static void core_free(struct core *c)
{
	free(c->start);
	free(c->end);
	free(c->orig);
	free(c->st);
	free(c->flag);
	free(c->bwhy);
	free(c->hash);
	free(c->stack);
	free(c->buf);
	free(c->win);
}

void mo_reach_result_release(struct mo_reach_result *r)
{
	if (!r)
		return;
	free(r->cls);
	free(r->why);
	free(r->lost);
	memset(r, 0, sizeof(*r));
}

/* Sort the blocks; valid, non-overlapping ones go into the lookup arrays,
 * the others get their UNKNOWN verdict now (their bytes stay roots). */
static int build_index(struct core *c, struct mo_reach_result *out)
{
	const struct mo_reach_block *bl = c->in->blocks;
	size_t n = c->in->nr, i, m = 0;
	uint32_t *idx;
	uint64_t max_end = 0;
	size_t max_at = SIZE_MAX;
	uint8_t *bad;

	idx = malloc((n ? n : 1) * sizeof(*idx));
	bad = calloc(n ? n : 1, 1);
	if (!idx || !bad) {
		free(idx);
		free(bad);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	qsort_r(idx, n, sizeof(*idx), cmp_orig, (void *)bl);
	for (i = 0; i < n; i++) {
		const struct mo_reach_block *b = &bl[idx[i]];
		uint64_t len = b->size ? b->size : 1;

		if (b->addr + len < b->addr) {
			bad[i] = MO_REACH_WHY_INVALID;
			continue;
		}
		if (max_at != SIZE_MAX && b->addr < max_end) {
			bad[i] = MO_REACH_WHY_OVERLAP;
			if (!bad[max_at])
				bad[max_at] = MO_REACH_WHY_OVERLAP;
		}
		if (max_at == SIZE_MAX || b->addr + len > max_end) {
			max_end = b->addr + len;
			max_at = i;
		}
	}
	for (i = 0; i < n; i++) {
		const struct mo_reach_block *b = &bl[idx[i]];

		if (bad[i]) {
			out->cls[idx[i]] = MO_REACH_UNKNOWN;
			out->why[idx[i]] = bad[i];
			continue;
		}
		c->start[m] = b->addr;
		c->end[m] = b->addr + (b->size ? b->size : 1);
		c->orig[m] = idx[i];
		m++;
	}
	c->m = m;
	if (m) {
		c->lo = c->start[0];
		c->span = c->end[m - 1] - c->lo;
	}
	free(idx);
	free(bad);
	return 0;
}

static const struct mo_reach_lost *prev_find(const struct mo_reach_result *prev, uint64_t addr)
{
	size_t l = 0, r = prev ? prev->nr_lost : 0;

	while (l < r) {
		size_t mid = l + (r - l) / 2;

		if (prev->lost[mid].addr < addr)
			l = mid + 1;
		else
			r = mid;
	}
	if (prev && l < prev->nr_lost && prev->lost[l].addr == addr)
		return &prev->lost[l];
	return NULL;
}

/* Live mode: blocks lost in this pass that the previous pass did not find
 * lost with the same identity and contents become seeds of doubt; every
 * block they reach is doubtful too. */
static void confirm(struct core *c)
{
	const struct mo_reach_result *prev = c->in->prev;
	const struct mo_reach_block *bl = c->in->blocks;
	size_t b;

	c->ph = PH_HASH;
	win_reset(c);
	for (b = 0; b < c->m && !c->halt; b++) {
		const struct mo_reach_block *x = &bl[c->orig[b]];
		const struct mo_reach_lost *p;

		if (c->st[b] != S_NONE)
			continue;
		p = prev_find(prev, x->addr);
		if (!p || p->size != x->size || p->id != x->id) {
			c->flag[b] |= F_SEED;
			c->bwhy[b] = MO_REACH_WHY_UNCONFIRMED;
			continue;
		}
		add_block(c, (uint32_t)b);
	}
	flush(c);
	for (b = 0; b < c->m; b++) {
		const struct mo_reach_lost *p;

		if (c->st[b] != S_NONE || (c->flag[b] & (F_SEED | F_UNREADABLE)))
			continue;
		p = prev_find(prev, c->start[b]);
		if (p && p->hash != c->hash[b]) {
			c->flag[b] |= F_SEED;
			c->bwhy[b] = MO_REACH_WHY_WRITTEN;
		}
	}
	c->ph = PH_MAYBE;
	win_reset(c);
	for (b = 0; b < c->m && !c->halt; b++) {
		/* a seed another seed reached is scanned already */
		if (!(c->flag[b] & F_SEED) || c->st[b] != S_NONE)
			continue;
		c->st[b] = S_MAYBE;
		push(c, (uint32_t)b);
		propagate(c);
	}
	propagate(c);
}

/* valgrind's leak cliques: in address order, each block still unreached
 * leads a clique; everything it reaches that is unreached (or led an
 * earlier clique) is indirectly lost; leaders left are definitely lost. */
static void cliques(struct core *c)
{
	size_t b;

	c->ph = PH_CLIQUE;
	win_reset(c);
	for (b = 0; b < c->m && !c->halt; b++) {
		if (c->st[b] != S_NONE)
			continue;
		c->st[b] = S_LEADER;
		c->leader = (uint32_t)b;
		push(c, (uint32_t)b);
		propagate(c);
	}
}

static void verdicts(struct core *c, struct mo_reach_result *out, bool mark_done)
{
	const struct mo_reach_block *bl = c->in->blocks;
	size_t b, nl = 0;

	for (b = 0; b < c->m; b++) {
		uint32_t o = c->orig[b];
		uint8_t cls = MO_REACH_UNKNOWN, why = MO_REACH_WHY_NONE;
		bool observed_lost = mark_done && c->st[b] != S_REACHED;

		if (c->flag[b] & F_UNREADABLE) {
			why = MO_REACH_WHY_UNMAPPED;
		} else if (c->st[b] == S_REACHED) {
			/* a pointer chain was seen: true even if the scan stopped early,
			 * unless the process is gone or unreadable */
			if (c->halt == MO_REACH_WHY_GONE || c->halt == MO_REACH_WHY_PERM ||
			    c->halt == MO_REACH_WHY_ERROR)
				why = c->halt;
			else
				cls = MO_REACH_REACHABLE;
		} else if (!mark_done || c->halt) {
			why = c->halt ? c->halt : MO_REACH_WHY_ERROR;
			observed_lost = false;
		} else if (c->in->roots_incomplete) {
			why = MO_REACH_WHY_ROOTS;
		} else if (c->st[b] == S_MAYBE) {
			why = c->bwhy[b] ? c->bwhy[b] : MO_REACH_WHY_UNCONFIRMED;
		} else if (c->st[b] == S_LEADER) {
			cls = MO_REACH_DEFINITELY_LOST;
		} else if (c->st[b] == S_INDIRECT) {
			cls = MO_REACH_INDIRECTLY_LOST;
		} else {
			why = MO_REACH_WHY_ERROR;
		}
		out->cls[o] = cls;
		out->why[o] = why;
		if (observed_lost && !(c->flag[b] & F_UNREADABLE) && c->st[b] != S_NONE)
			out->lost[nl++] = (struct mo_reach_lost){ bl[o].addr, bl[o].size, bl[o].id,
								 c->hash[b] };
	}
	out->nr_lost = nl;
	for (b = 0; b < out->nr; b++) {
		out->stats.count[out->cls[b]]++;
		out->stats.bytes[out->cls[b]] += bl[b].size;
	}
	if (c->halt && !out->stats.why) {
		out->stats.why = c->halt;
		out->stats.error = c->err;
	} else if (c->in->roots_incomplete && !out->stats.why) {
		out->stats.why = MO_REACH_WHY_ROOTS;
	}
}

static void marked(const struct mo_reach_input *in)
{
	if (in->marked)
		in->marked(in->marked_arg);
}

int mo_reach_classify(const struct mo_reach_input *in, struct mo_reach_result *out)
{
	struct core c = { .in = in };
	size_t n = in->nr, i, cap = n ? n : 1;
	bool mark_done;

	memset(out, 0, sizeof(*out));
	if ((n && !in->blocks) || !in->readv || n > UINT32_MAX) {
		marked(in);
		return -EINVAL;
	}
	c.stats = &out->stats;
	c.bufsz = in->chunk_bytes ? in->chunk_bytes : DEFAULT_CHUNK;
	if (c.bufsz < MIN_CHUNK)
		c.bufsz = MIN_CHUNK;
	out->nr = n;
	out->cls = calloc(cap, 1);
	out->why = calloc(cap, 1);
	out->lost = malloc(cap * sizeof(*out->lost));
	c.start = malloc(cap * sizeof(*c.start));
	c.end = malloc(cap * sizeof(*c.end));
	c.orig = malloc(cap * sizeof(*c.orig));
	c.st = calloc(cap, 1);
	c.flag = calloc(cap, 1);
	c.bwhy = calloc(cap, 1);
	c.hash = calloc(cap, sizeof(*c.hash));
	c.stack = malloc(cap * sizeof(*c.stack));
	c.buf = malloc(c.bufsz);
	c.win = malloc(NWIN * WIN);
	if (!c.win || !out->cls || !out->why || !out->lost || !c.start || !c.end || !c.orig || !c.st ||
	    !c.flag || !c.bwhy || !c.hash || !c.stack || !c.buf || build_index(&c, out)) {
		core_free(&c);
		mo_reach_result_release(out);
		marked(in);
		return -ENOMEM;
	}
	if (in->ready) {
		int r = in->ready(in->ready_arg);

		if (r) {
			core_free(&c);
			mo_reach_result_release(out);
			marked(in);
			return r;
		}
	}

	/* Marking from the roots: the part that needs the process still. */
	c.ph = PH_MARK;
	c.deadline = in->deadline_ns;
	c.deadline_why = MO_REACH_WHY_TIME_CAP;
	if (in->mark_deadline_ns && (!c.deadline || in->mark_deadline_ns < c.deadline)) {
		c.deadline = in->mark_deadline_ns;
		c.deadline_why = MO_REACH_WHY_PAUSE_CAP;
	}
	out->stats.roots = in->nr_roots;
	out->stats.reg_words = in->nr_regs;
	if (c.m) {
		for (i = 0; i < in->nr_regs; i++)
			if (in->regs[i] - c.lo < c.span)
				found(&c, in->regs[i]);
		for (i = 0; i < in->nr_roots && !c.halt; i++)
			if (in->roots[i].end > in->roots[i].start)
				scan_root(&c, in->roots[i].start, in->roots[i].end);
		flush(&c);
		propagate(&c);
	}
	mark_done = !c.halt;
	marked(in);

	/* Lost blocks cannot change under us (nothing points to them): the
	 * rest runs with the process resumed, under the whole-call deadline. */
	c.deadline = in->deadline_ns;
	c.deadline_why = MO_REACH_WHY_TIME_CAP;
	if (mark_done && !in->roots_incomplete) {
		if (in->confirm)
			confirm(&c);
		cliques(&c);
	}
	verdicts(&c, out, mark_done);
	core_free(&c);
	return 0;
}

#define TCB_NEAR_TOP (64 * 1024ULL)

static bool is_guard(const struct mo_map *m)
{
	return !m->r && !m->w && !m->x;
}

/* Lowest stack pointer of a thread whose stack is mapping i, or UINT64_MAX. */
static uint64_t stack_cut(const struct mo_maps *maps, size_t i,
			  const struct mo_reach_thread *th, size_t nr)
{
	const struct mo_map *mp = &maps->maps[i];
	bool main_stack = mp->path && !strcmp(mp->path, "[stack]");
	bool thread_stack = !mp->path && mp->p && i > 0 &&
			    maps->maps[i - 1].end == mp->start && is_guard(&maps->maps[i - 1]);
	uint64_t cut = UINT64_MAX;
	size_t j;

	if (!main_stack && !thread_stack)
		return cut;
	for (j = 0; j < nr; j++) {
		if (th[j].sp < mp->start || th[j].sp >= mp->end || th[j].sp >= cut)
			continue;
		if (!main_stack && (th[j].tls < th[j].sp || th[j].tls >= mp->end ||
				    mp->end - th[j].tls > TCB_NEAR_TOP))
			continue;
		cut = th[j].sp;
	}
	return cut;
}

int mo_reach_roots(const struct mo_maps *maps, const struct mo_reach_thread *threads,
		   size_t nr_threads, uint64_t max_map_bytes, struct mo_reach_range **roots,
		   size_t *nr, bool *incomplete)
{
	struct mo_reach_range *r;
	size_t i, k = 0;

	*roots = NULL;
	*nr = 0;
	*incomplete = false;
	r = malloc((maps->nr ? maps->nr : 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < maps->nr; i++) {
		const struct mo_map *mp = &maps->maps[i];
		const char *path = mp->path;
		bool anon = !path || path[0] == '[';
		uint64_t s = mp->start, cut;

		if (!mp->r || mp->end <= mp->start)
			continue;
		if (path && (!strcmp(path, "[vvar]") || !strcmp(path, "[vvar_vclock]") ||
			     !strcmp(path, "[vsyscall]") || !strcmp(path, "[vdso]") ||
			     !strcmp(path, "[uprobes]")))
			continue;
		/* not written since it was loaded, or a device */
		if (!anon && !mp->w)
			continue;
		if (path && !strncmp(path, "/dev/", 5) && strcmp(path, "/dev/zero") != 0)
			continue;
		if (mp->end - mp->start > max_map_bytes) {
			*incomplete = true;
			continue;
		}
		cut = stack_cut(maps, i, threads, nr_threads);
		if (cut != UINT64_MAX && cut >= REDZONE && cut - REDZONE > mp->start)
			s = (cut - REDZONE) & ~7ULL;
		r[k++] = (struct mo_reach_range){ s, mp->end };
	}
	*roots = r;
	*nr = k;
	return 0;
}

int mo_reach_parse_syscall(const char *text, size_t len, uint64_t *sp)
{
	char tmp[256], *tok[10], *save = NULL, *t;
	int n = 0;

	if (len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, text, len);
	tmp[len] = '\0';
	for (t = strtok_r(tmp, " \n", &save); t && n < 10; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if (n == 1 && !strcmp(tok[0], "running"))
		return -EAGAIN;
	/* "nr a1 .. a6 sp pc" in a syscall, "-1 sp pc" blocked outside one */
	if (n == 3 && !strcmp(tok[0], "-1"))
		t = tok[1];
	else if (n == 9)
		t = tok[7];
	else
		return -EINVAL;
	{
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(t, &end, 16);
		if (errno || *end || end == t)
			return -EINVAL;
		*sp = v;
	}
	return 0;
}

static int cmp_block(const void *a, const void *b)
{
	const struct mo_reach_block *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

int mo_reach_recheck(struct mo_reach_result *r, const struct mo_reach_block *blocks,
		     const struct mo_reach_block *now, size_t n_now)
{
	struct mo_reach_block *sorted;
	size_t i;
	int changed = 0;

	sorted = malloc((n_now ? n_now : 1) * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	if (n_now)
		memcpy(sorted, now, n_now * sizeof(*sorted));
	qsort(sorted, n_now, sizeof(*sorted), cmp_block);
	for (i = 0; i < r->nr; i++) {
		if (r->cls[i] != MO_REACH_DEFINITELY_LOST && r->cls[i] != MO_REACH_INDIRECTLY_LOST)
			continue;
		if (bsearch(&blocks[i], sorted, n_now, sizeof(*sorted), cmp_block))
			continue;
		r->stats.count[r->cls[i]]--;
		r->stats.bytes[r->cls[i]] -= blocks[i].size;
		r->cls[i] = MO_REACH_UNKNOWN;
		r->why[i] = MO_REACH_WHY_FREED;
		r->stats.count[MO_REACH_UNKNOWN]++;
		r->stats.bytes[MO_REACH_UNKNOWN] += blocks[i].size;
		changed++;
	}
	free(sorted);
	return changed;
}

static const char *const class_names[MO_REACH_NR_CLASSES] = {
	[MO_REACH_UNKNOWN] = "unknown",
	[MO_REACH_REACHABLE] = "reachable",
	[MO_REACH_INDIRECTLY_LOST] = "indirectly_lost",
	[MO_REACH_DEFINITELY_LOST] = "definitely_lost",
};

static const char *const why_names[MO_REACH_NR_WHY] = {
	[MO_REACH_WHY_NONE] = "none",
	[MO_REACH_WHY_PERM] = "no_permission",
	[MO_REACH_WHY_TRACED] = "already_traced",
	[MO_REACH_WHY_GONE] = "process_gone",
	[MO_REACH_WHY_PAUSE_CAP] = "pause_cap",
	[MO_REACH_WHY_TIME_CAP] = "time_cap",
	[MO_REACH_WHY_OVERLAP] = "overlap",
	[MO_REACH_WHY_INVALID] = "invalid",
	[MO_REACH_WHY_UNMAPPED] = "unmapped",
	[MO_REACH_WHY_UNCONFIRMED] = "unconfirmed",
	[MO_REACH_WHY_WRITTEN] = "written",
	[MO_REACH_WHY_ROOTS] = "roots_incomplete",
	[MO_REACH_WHY_SELF] = "self",
	[MO_REACH_WHY_FREED] = "freed",
	[MO_REACH_WHY_ERROR] = "error",
};

const char *mo_reach_class_name(enum mo_reach_class c)
{
	return (unsigned)c < MO_REACH_NR_CLASSES ? class_names[c] : "?";
}

const char *mo_reach_why_name(enum mo_reach_why w)
{
	return (unsigned)w < MO_REACH_NR_WHY ? why_names[w] : "?";
}
