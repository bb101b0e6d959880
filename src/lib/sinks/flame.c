// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flame.c - unfreed bytes by stack as folded stacks and as an SVG flame
 * graph drawn here (no external tool), both written atomically.
 *
 * Frame names follow flamegraph.pl's conventions: the symbol without its
 * offset; "module+0xOFF" (the module's basename and the offset from its load
 * base) or "0xADDR" when the symbol is unknown; inlined frames carry the
 * "_[i]" suffix of stackcollapse-perf.pl --inline (flamegraph.pl colours
 * them aqua, and so do we). The root of every stack is "command (pid)".
 * Names come from untrusted processes and files, so they are escaped like
 * human text output (mo_text_escape: control bytes and invalid UTF-8 become
 * the text \xNN, backslash doubled) and ';', the frame separator, becomes
 * \x3b: every stack stays on one line and nothing is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "sinks/flame.h"

#define NONE SIZE_MAX
#define INLINED_SUFFIX "_[i]"
#define DEFAULT_TITLE "Unfreed memory"

/*
 * Layout in SVG user units. Horizontal positions are computed in integer
 * hundredths of a unit ("cpx") so the output never depends on float
 * rounding or on the caller's LC_NUMERIC.
 */
#define SVG_WIDTH	1200
#define XPAD		10
#define FRAME_H		16
#define FONT_SIZE	12
#define HEAD_H		52
#define FOOT_H		8
#define AVAIL_CPX	((uint64_t)(SVG_WIDTH - 2 * XPAD) * 100)
/* flamegraph.pl's --minwidth default (0.1): narrower frames and their
 * subtrees are not drawn, their bytes stay in the parent's width. */
#define MIN_WIDTH_CPX	10
/* Average Verdana glyph width, 0.59 em as flamegraph.pl estimates it. */
#define CHAR_W_CPX	(FONT_SIZE * 59)

/* One leak's stack, root first; names point into the arena. */
struct stack {
	size_t first;		/* index of its first name in offs/names */
	size_t n;
	uint64_t bytes;
	const char **names;
};

struct stacks {
	struct mo_buf arena;	/* every name, each NUL-terminated */
	size_t *offs;		/* name start offsets in arena, while it grows */
	size_t noffs, capoffs;
	const char **names;	/* offs resolved once arena stops moving */
	struct stack *v;
	size_t n;
};

/*
 * Node of the merged tree. Nodes are created in depth-first preorder
 * (stacks are inserted sorted), so a parent's index is always lower than
 * its children's and one pass in index order lays the tree out.
 */
struct node {
	const char *name;
	size_t parent;
	size_t last_child;
	unsigned depth;
	uint64_t total;		/* bytes of every stack through this node */
	uint64_t next;		/* byte offset where the next child starts */
	uint64_t x_cpx, w_cpx;
	bool drawn;
};

struct tree {
	struct node *v;
	size_t n, cap;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t s;

	return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

static void stacks_release(struct stacks *s)
{
	mo_buf_release(&s->arena);
	free(s->offs);
	free(s->names);
	free(s->v);
}

static int push_name(struct stacks *s)
{
	if (s->noffs == s->capoffs) {
		size_t cap = s->capoffs ? s->capoffs * 2 : 256;
		size_t *p = reallocarray(s->offs, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->offs = p;
		s->capoffs = cap;
	}
	s->offs[s->noffs++] = s->arena.len;
	return 0;
}

/* Append untrusted bytes as a folded-safe name. mo_text_escape never emits
 * ';' itself, so every ';' left in its output came from the input. */
static void put_escaped(struct mo_buf *arena, struct mo_buf *tmp, const char *s, size_t len)
{
	size_t run = 0;

	mo_buf_reset(tmp);
	mo_text_escape(tmp, s, len);
	if (tmp->oom) {
		arena->oom = true;
		return;
	}
	for (size_t i = 0; i < tmp->len; i++) {
		if (tmp->data[i] != ';')
			continue;
		mo_buf_append(arena, tmp->data + run, i - run);
		mo_buf_puts(arena, "\\x3b");
		run = i + 1;
	}
	mo_buf_append(arena, tmp->data + run, tmp->len - run);
}

static void put_process(struct stacks *s, struct mo_buf *tmp, const struct mo_leak *l)
{
	size_t len = strnlen(l->command, sizeof(l->command));

	if (len)
		put_escaped(&s->arena, tmp, l->command, len);
	else
		mo_buf_puts(&s->arena, "[unknown]");
	mo_buf_printf(&s->arena, " (%d)", (int)l->pid);
	mo_buf_append(&s->arena, "", 1);
}

static void put_frame(struct stacks *s, struct mo_buf *tmp, const struct mo_frame *f)
{
	if (f->symbol && f->symbol[0]) {
		put_escaped(&s->arena, tmp, f->symbol, strlen(f->symbol));
	} else if (f->module && f->module[0]) {
		const char *base = strrchr(f->module, '/');

		/* The basename keeps names short; a path ending in '/' keeps all. */
		base = base && base[1] ? base + 1 : f->module;
		put_escaped(&s->arena, tmp, base, strlen(base));
		mo_buf_printf(&s->arena, "+0x%" PRIx64, f->module_offset);
	} else {
		mo_buf_printf(&s->arena, "0x%" PRIx64, f->address);
	}
	if (f->inlined)
		mo_buf_puts(&s->arena, INLINED_SUFFIX);
	mo_buf_append(&s->arena, "", 1);
}

/* Frame by frame, a prefix first: stacks sharing a prefix end up adjacent. */
static int cmp_stack(const void *pa, const void *pb)
{
	const struct stack *a = pa, *b = pb;
	size_t n = a->n < b->n ? a->n : b->n;

	for (size_t i = 0; i < n; i++) {
		int c = strcmp(a->names[i], b->names[i]);

		if (c)
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

static bool same_stack(const struct stack *a, const struct stack *b)
{
	return a->n == b->n && !cmp_stack(a, b);
}

/* The report's leaks as root-first stacks of escaped names, sorted. Leaks
 * with no unfreed bytes carry no weight and are left out. */
static int collect(struct stacks *s, const struct mo_report *r)
{
	struct mo_buf tmp;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	mo_buf_init(&s->arena);
	if (!r || !r->nleaks || !r->leaks)
		return 0;
	s->v = calloc(r->nleaks, sizeof(*s->v));
	if (!s->v)
		return -ENOMEM;
	mo_buf_init(&tmp);
	for (size_t i = 0; i < r->nleaks; i++) {
		const struct mo_leak *l = &r->leaks[i];
		const struct mo_stack_trace *st = &l->stack;
		struct stack *out = &s->v[s->n];

		if (!l->unfreed_bytes || (st->nframes && !st->frames))
			continue;
		out->first = s->noffs;
		out->n = st->nframes + 1;
		out->bytes = l->unfreed_bytes;
		ret = push_name(s);
		if (ret)
			goto out;
		put_process(s, &tmp, l);
		for (size_t k = st->nframes; k-- > 0;) {
			ret = push_name(s);
			if (ret)
				goto out;
			put_frame(s, &tmp, &st->frames[k]);
		}
		s->n++;
	}
	if (s->arena.oom) {
		ret = -ENOMEM;
		goto out;
	}
	if (s->noffs) {
		s->names = calloc(s->noffs, sizeof(*s->names));
		if (!s->names) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < s->noffs; i++)
			s->names[i] = s->arena.data + s->offs[i];
	}
	for (size_t i = 0; i < s->n; i++)
		s->v[i].names = s->names + s->v[i].first;
	qsort(s->v, s->n, sizeof(*s->v), cmp_stack);
out:
	mo_buf_release(&tmp);
	return ret;
}

void mo_folded_render(struct mo_buf *b, const struct mo_report *r)
{
	struct stacks s;

	if (collect(&s, r)) {
		b->oom = true;
		goto out;
	}
	for (size_t i = 0, j; i < s.n; i = j) {
		uint64_t bytes = 0;

		for (j = i; j < s.n && same_stack(&s.v[i], &s.v[j]); j++)
			bytes = add_sat(bytes, s.v[j].bytes);
		for (size_t k = 0; k < s.v[i].n; k++) {
			if (k)
				mo_buf_append(b, ";", 1);
			mo_buf_puts(b, s.v[i].names[k]);
		}
		mo_buf_printf(b, " %" PRIu64 "\n", bytes);
	}
out:
	stacks_release(&s);
}

static size_t tree_add(struct tree *t, const char *name, size_t parent)
{
	struct node *nd;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct node *p = reallocarray(t->v, cap, sizeof(*p));

		if (!p)
			return NONE;
		t->v = p;
		t->cap = cap;
	}
	nd = &t->v[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->name = name;
	nd->parent = parent;
	nd->last_child = NONE;
	if (parent != NONE) {
		nd->depth = t->v[parent].depth + 1;
		t->v[parent].last_child = t->n;
	}
	return t->n++;
}

/*
 * Merge sorted stacks into a tree under "all". Stacks through the same
 * prefix are adjacent, so the child to descend into, when it exists, is
 * always the last one added to the current node.
 */
static int tree_build(struct tree *t, const struct stacks *s)
{
	memset(t, 0, sizeof(*t));
	if (tree_add(t, "all", NONE) == NONE)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		const struct stack *st = &s->v[i];
		size_t cur = 0;

		t->v[0].total = add_sat(t->v[0].total, st->bytes);
		for (size_t k = 0; k < st->n; k++) {
			size_t last = t->v[cur].last_child;

			if (last == NONE || strcmp(t->v[last].name, st->names[k])) {
				last = tree_add(t, st->names[k], cur);
				if (last == NONE)
					return -ENOMEM;
			}
			cur = last;
			t->v[cur].total = add_sat(t->v[cur].total, st->bytes);
		}
	}
	return 0;
}

static uint64_t scale(uint64_t bytes, uint64_t total, uint64_t span)
{
	return (uint64_t)((unsigned __int128)bytes * span / total);
}

/*
 * Children are laid left to right in name order from their parent's left
 * edge; a parent's own bytes (stacks ending there) are the gap on its
 * right. Edges come from absolute byte offsets, so siblings tile exactly.
 * Returns the deepest drawn level.
 */
static unsigned tree_layout(struct tree *t)
{
	uint64_t total = t->v[0].total;
	unsigned deepest = 0;

	if (!total)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		struct node *nd = &t->v[i];
		uint64_t start = 0, end, x0, x1;
		bool parent_drawn = true;

		if (nd->parent != NONE) {
			struct node *p = &t->v[nd->parent];

			start = p->next;
			p->next = add_sat(start, nd->total);
			parent_drawn = p->drawn;
		}
		nd->next = start;
		end = add_sat(start, nd->total);
		if (end > total)
			end = total;
		x0 = scale(start, total, AVAIL_CPX);
		x1 = scale(end, total, AVAIL_CPX);
		nd->x_cpx = x0;
		nd->w_cpx = x1 - x0;
		nd->drawn = parent_drawn && nd->w_cpx >= MIN_WIDTH_CPX;
		if (nd->drawn && nd->depth > deepest)
			deepest = nd->depth;
	}
	return deepest;
}

/* Hundredths as "N.NN": fixed point, independent of the locale. */
static void put_cpx(struct mo_buf *b, uint64_t cpx)
{
	mo_buf_printf(b, "%" PRIu64 ".%02u", cpx / 100, (unsigned)(cpx % 100));
}

static void put_human(struct mo_buf *b, uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	uint64_t div = 1024, tenths;

	if (v < 1024) {
		mo_buf_printf(b, "%" PRIu64 " B", v);
		return;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v / div >= 1024) {
		div *= 1024;
		u++;
	}
	tenths = (uint64_t)(((unsigned __int128)v * 10 + div / 2) / div);
	mo_buf_printf(b, "%" PRIu64 ".%u %s", tenths / 10, (unsigned)(tenths % 10), units[u]);
}

/*
 * XML text and attribute content. s is already escaped text (no control
 * bytes, valid UTF-8); XML 1.0 still forbids the noncharacters U+FFFE and
 * U+FFFF, written as \xNN text like every other byte we cannot carry.
 */
static void xml_put(struct mo_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *ent;

		switch (u[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&apos;"; break;
		case 0xef:
			if (i + 2 < len && u[i + 1] == 0xbf && (u[i + 2] & 0xfe) == 0xbe) {
				mo_buf_append(b, s + run, i - run);
				mo_buf_printf(b, "\\xef\\xbf\\x%02x", u[i + 2]);
				i += 2;
				run = i + 1;
			}
			continue;
		default:
			continue;
		}
		mo_buf_append(b, s + run, i - run);
		mo_buf_puts(b, ent);
		run = i + 1;
	}
	mo_buf_append(b, s + run, len - run);
}

/* Raw untrusted text (the caller's title) made safe for XML. */
static void xml_put_raw(struct mo_buf *b, const char *s)
{
	struct mo_buf tmp;

	mo_buf_init(&tmp);
	mo_text_escape(&tmp, s, strlen(s));
	if (tmp.oom)
		b->oom = true;
	else
		xml_put(b, tmp.data ? tmp.data : "", tmp.len);
	mo_buf_release(&tmp);
}

/* FNV-1a: stable across runs and machines, so colours are too. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static bool is_inlined(const char *name)
{
	size_t len = strlen(name), slen = strlen(INLINED_SUFFIX);

	return len >= slen && !strcmp(name + len - slen, INLINED_SUFFIX);
}

/* flamegraph.pl's "hot" palette, and "aqua" for inlined frames. */
static void put_fill(struct mo_buf *b, const char *name)
{
	uint32_t h = name_hash(name);
	unsigned v1 = h & 0xff, v2 = (h >> 8) & 0xff, v3 = (h >> 16) & 0xff;

	if (is_inlined(name))
		mo_buf_printf(b, "rgb(%u,%u,%u)", 50 + 60 * v1 / 255, 165 + 55 * v1 / 255,
			      165 + 55 * v1 / 255);
	else
		mo_buf_printf(b, "rgb(%u,%u,%u)", 205 + 50 * v3 / 255, 230 * v1 / 255,
			      55 * v2 / 255);
}

/* As many characters as fit, cut on a UTF-8 boundary and marked "..". */
static void put_label(struct mo_buf *b, const char *name, uint64_t fit)
{
	uint64_t chars = 0;
	size_t len = strlen(name), cut = len;

	for (size_t i = 0; i < len; i++) {
		if (((unsigned char)name[i] & 0xc0) == 0x80)
			continue;
		if (chars == fit - 2)
			cut = i;
		chars++;
	}
	if (chars <= fit) {
		xml_put(b, name, len);
	} else {
		xml_put(b, name, cut);
		mo_buf_puts(b, "..");
	}
}

static void put_frame_svg(struct mo_buf *b, const struct node *nd, uint64_t total,
			  unsigned height)
{
	unsigned y = height - FOOT_H - (nd->depth + 1) * FRAME_H;
	/* Text starts 3 units in from the left edge and stays as far from the right. */
	uint64_t fit = nd->w_cpx > 600 ? (nd->w_cpx - 600) / CHAR_W_CPX : 0;
	uint64_t pct = (uint64_t)(((unsigned __int128)nd->total * 10000 + total / 2) / total);

	mo_buf_puts(b, "<g><title>");
	xml_put(b, nd->name, strlen(nd->name));
	mo_buf_printf(b, " (%" PRIu64 " bytes, %" PRIu64 ".%02u%%)</title><rect x=\"",
		      nd->total, pct / 100, (unsigned)(pct % 100));
	put_cpx(b, XPAD * 100 + nd->x_cpx);
	mo_buf_printf(b, "\" y=\"%u\" width=\"", y);
	put_cpx(b, nd->w_cpx);
	mo_buf_printf(b, "\" height=\"%u\" rx=\"2\" ry=\"2\" fill=\"", FRAME_H - 1);
	put_fill(b, nd->name);
	mo_buf_puts(b, "\"/>");
	if (fit >= 3) {
		mo_buf_puts(b, "<text x=\"");
		put_cpx(b, XPAD * 100 + nd->x_cpx + 300);
		mo_buf_printf(b, "\" y=\"%u\">", y + FRAME_H - 4);
		put_label(b, nd->name, fit);
		mo_buf_puts(b, "</text>");
	}
	mo_buf_puts(b, "</g>\n");
}

void mo_flamegraph_render(struct mo_buf *b, const struct mo_report *r, const char *title)
{
	struct stacks s;
	struct tree t = { 0 };
	unsigned deepest, height;
	uint64_t total;

	if (collect(&s, r) || tree_build(&t, &s)) {
		b->oom = true;
		goto out;
	}
	deepest = tree_layout(&t);
	total = t.v[0].total;
	height = HEAD_H + (deepest + 1) * FRAME_H + FOOT_H;

	mo_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		    "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
		    "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n");
	mo_buf_printf(b, "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		      "width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\">\n",
		      SVG_WIDTH, height, SVG_WIDTH, height);
	mo_buf_puts(b, "<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
		    "<stop stop-color=\"#eeeeee\" offset=\"5%\"/>"
		    "<stop stop-color=\"#eeeeb0\" offset=\"95%\"/>"
		    "</linearGradient></defs>\n");
	mo_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" "
		      "fill=\"url(#background)\"/>\n", SVG_WIDTH, height);
	mo_buf_puts(b, "<g font-family=\"Verdana, sans-serif\" fill=\"rgb(0,0,0)\">\n");
	mo_buf_printf(b, "<text x=\"%u\" y=\"24\" font-size=\"17\" text-anchor=\"middle\">",
		      SVG_WIDTH / 2);
	xml_put_raw(b, title ? title : DEFAULT_TITLE);
	mo_buf_printf(b, "</text>\n<text x=\"%u\" y=\"42\" font-size=\"%u\" "
		      "text-anchor=\"middle\">", SVG_WIDTH / 2, FONT_SIZE);
	put_human(b, total);
	mo_buf_printf(b, " unfreed (%" PRIu64 " bytes)%s</text>\n", total,
		      r && r->estimate ? ", estimated from sampling" : "");
	mo_buf_printf(b, "</g>\n<g font-family=\"Verdana, sans-serif\" font-size=\"%u\">\n",
		      FONT_SIZE);
	if (total) {
		for (size_t i = 0; i < t.n; i++)
			if (t.v[i].drawn)
				put_frame_svg(b, &t.v[i], total, height);
	} else {
		mo_buf_printf(b, "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\">"
			      "No unfreed memory</text>\n", SVG_WIDTH / 2, height - FOOT_H - 4);
	}
	mo_buf_puts(b, "</g>\n</svg>\n");
out:
	free(t.v);
	stacks_release(&s);
}

static int write_atomic(const char *path, const struct mo_buf *b)
{
	if (b->oom)
		return -ENOMEM;
	return mo_write_file_atomic(path, b->data, b->len, NULL);
}

int mo_folded_write(const struct mo_report *r, const char *path)
{
	struct mo_buf b;
	int ret;

	if (!r || !path || !path[0])
		return -EINVAL;
	mo_buf_init(&b);
	mo_folded_render(&b, r);
	ret = write_atomic(path, &b);
	mo_buf_release(&b);
	return ret;
}

int mo_flamegraph_write(const struct mo_report *r, const char *path, const char *title)
{
	struct mo_buf b;
	int ret;

	if (!r || !path || !path[0])
		return -EINVAL;
	mo_buf_init(&b);
	mo_flamegraph_render(&b, r, title);
	ret = write_atomic(path, &b);
	mo_buf_release(&b);
	return ret;
}
