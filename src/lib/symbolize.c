// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symbolize.c - process addresses to frames.
 *
 * Three layers. Modules: one per distinct ELF file, found by build-id or
 * by file identity (st_dev, st_ino, size, mtime), kept until the
 * symbolizer is freed; what a file says is read by a source (symfile.c in
 * this process, or the confined parser of privsep.c), handed the
 * descriptor this file opened. Views: per pid, the parsed maps plus, for
 * each mapping, its module and the delta from process address to ELF
 * vaddr, resolved on first use. Lookups: per module, the frames already
 * resolved for an ELF vaddr (bounded; dropped wholesale when full).
 *
 * module_offset in a frame is the ELF virtual address (what addr2line -e
 * module takes); when the file cannot be read it is the file offset.
 *
 * Files come from processes that may be hostile: every one is opened with
 * src/lib/safefile.h and the module file is the inode the process maps.
 *
 * Not thread-safe: a symbolizer belongs to one thread (the observer's
 * worker).
 */
#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procmaps.h"
#include "safefile.h"
#include "symbolize.h"

#define MAX_CACHED_LOOKUPS 16384

struct lookup {
	uint64_t vaddr;
	size_t n;
	struct mo_symframe *frames;	/* the strings belong to the cache */
};

struct module {
	uint32_t handle;	/* the source's; 0: nothing to look up */
	uint32_t nsegs;
	struct mo_symseg segs[MO_SYMFILE_MAX_SEGS];
	void *lookups;		/* tsearch tree of struct lookup, by vaddr */
	size_t nlookups;
	char *build_id;		/* GNU build id, hex; NULL when the file has none */
	struct module *next;
};

struct module_key {
	char *key;
	struct module *mod;
};

struct view_entry {
	bool resolved;
	bool has_delta;
	struct module *mod;
	uint64_t delta;		/* ELF vaddr = address + delta (mod 2^64) */
};

struct pid_view {
	pid_t pid;
	bool stale;
	struct mo_maps maps;
	struct view_entry *entries;	/* parallel to maps.maps */
};

struct mo_symbolizer {
	bool first_is_return;	/* ips[0] is a return address too */
	void *views;		/* tsearch tree of struct pid_view, by pid */
	void *keys;		/* tsearch tree of struct module_key, by key */
	struct module *modules;
	struct mo_symsource src;
	struct mo_symfiles *local;	/* the in-process source's files */
};

struct frame_buf {
	struct mo_frame *f;
	size_t n, cap;
};

static int cmp_view(const void *a, const void *b)
{
	pid_t x = ((const struct pid_view *)a)->pid;
	pid_t y = ((const struct pid_view *)b)->pid;

	return x < y ? -1 : x > y;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct module_key *)a)->key,
		      ((const struct module_key *)b)->key);
}

static int cmp_lookup(const void *a, const void *b)
{
	uint64_t x = ((const struct lookup *)a)->vaddr;
	uint64_t y = ((const struct lookup *)b)->vaddr;

	return x < y ? -1 : x > y;
}

static void free_lookup(void *p)
{
	struct lookup *l = p;

	if (!l)
		return;
	mo_symframes_free(l->frames, l->n);
	free(l);
}

static void free_key(void *p)
{
	struct module_key *k = p;

	free(k->key);
	free(k);
}

static void free_view(void *p)
{
	struct pid_view *v = p;

	mo_maps_release(&v->maps);
	free(v->entries);
	free(v);
}

static void free_module(struct mo_symbolizer *s, struct module *mod)
{
	if (mod->handle)
		s->src.close(s->src.ctx, mod->handle);
	tdestroy(mod->lookups, free_lookup);
	free(mod->build_id);
	free(mod);
}

/* ---- the in-process source ---- */

struct local_debug {
	pid_t pid;
	const char *map_path;
};

static int local_debug_open(void *ctx, enum mo_debug_where where, const char *name)
{
	struct local_debug *d = ctx;

	return mo_debug_open(d->pid, d->map_path, where, name);
}

static int local_open(void *ctx, int fd, pid_t pid, const char *map_path,
		      struct mo_symfile_info *info, uint32_t *handle)
{
	struct local_debug d = { pid, map_path };
	struct mo_debug_opener op = { local_debug_open, &d };

	return mo_symfiles_open(ctx, fd, map_path, &op, info, handle);
}

static int local_lookup(void *ctx, uint32_t handle, uint64_t vaddr, struct mo_symframe **frames,
			size_t *n)
{
	return mo_symfiles_lookup(ctx, handle, vaddr, frames, n);
}

static void local_close(void *ctx, uint32_t handle)
{
	mo_symfiles_close(ctx, handle);
}

struct mo_symbolizer *mo_symbolizer_new(void)
{
	struct mo_symbolizer *s = calloc(1, sizeof(*s));

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->local = mo_symfiles_new();
	if (!s->local) {
		int err = errno;

		free(s);
		errno = err;
		return NULL;
	}
	s->src = (struct mo_symsource){ local_open, local_lookup, local_close, s->local };
	return s;
}

int mo_symbolizer_set_source(struct mo_symbolizer *s, const struct mo_symsource *src)
{
	if (!s || s->modules)
		return -EBUSY;
	if (!src)
		s->src = (struct mo_symsource){ local_open, local_lookup, local_close, s->local };
	else if (!src->open || !src->lookup || !src->close)
		return -EINVAL;
	else
		s->src = *src;
	return 0;
}

void mo_symbolizer_free(struct mo_symbolizer *s)
{
	struct module *mod, *next;

	if (!s)
		return;
	tdestroy(s->views, free_view);
	tdestroy(s->keys, free_key);
	for (mod = s->modules; mod; mod = next) {
		next = mod->next;
		free_module(s, mod);
	}
	mo_symfiles_free(s->local);
	free(s);
}

void mo_frames_free(struct mo_frame *frames, size_t n)
{
	if (!frames)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)frames[i].symbol);
		free((char *)frames[i].linkage_name);
		free((char *)frames[i].module);
		free((char *)frames[i].build_id);
		free((char *)frames[i].file);
	}
	free(frames);
}

/* ---- modules ---- */

static struct module *key_find(struct mo_symbolizer *s, const char *key)
{
	struct module_key k = { .key = (char *)key };
	void **slot = tfind(&k, &s->keys, cmp_key);

	return slot ? (*(struct module_key **)slot)->mod : NULL;
}

static int key_add(struct mo_symbolizer *s, const char *key, struct module *mod)
{
	struct module_key *k = calloc(1, sizeof(*k));
	void **slot;

	if (!k)
		return -ENOMEM;
	k->key = strdup(key);
	k->mod = mod;
	if (!k->key) {
		free(k);
		return -ENOMEM;
	}
	slot = tsearch(k, &s->keys, cmp_key);
	if (!slot) {
		free_key(k);
		return -ENOMEM;
	}
	if (*slot != k)
		free_key(k);
	return 0;
}

/*
 * The module behind a file mapping: the inode mapped, opened safely
 * (mo_safe_open_mapping) and read by the source. *out stays NULL when the
 * file cannot be opened; that is not an error. A file the source could not
 * read (it failed, or the parser process died on it) becomes a module
 * without symbols, so it is not read again. Returns 0, -EAGAIN (the source
 * is not available now: try again later) or -ENOMEM.
 */
static int find_module(struct mo_symbolizer *s, pid_t pid, const struct mo_map *m,
		       struct module **out)
{
	struct mo_symfile_info info;
	char idkey[128], bkey[sizeof(info.build_id) + 2];
	struct module *mod;
	struct stat st;
	uint32_t handle = 0;
	int fd, err;

	*out = NULL;
	fd = mo_safe_open_mapping(pid, m, NULL, 0, &st);
	if (fd < 0)
		return 0;
	snprintf(idkey, sizeof(idkey), "i:%llx:%llx:%llx:%lld.%09ld",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 (long)st.st_mtim.tv_nsec);
	mod = key_find(s, idkey);
	if (mod) {
		close(fd);
		*out = mod;
		return 0;
	}

	err = s->src.open(s->src.ctx, fd, pid, m->path, &info, &handle);
	if (err == -EAGAIN || err == -ENOMEM)
		return err;
	if (err)
		memset(&info, 0, sizeof(info));
	snprintf(bkey, sizeof(bkey), "b:%s", info.build_id);
	mod = info.build_id[0] ? key_find(s, bkey) : NULL;
	if (mod) {
		if (handle)
			s->src.close(s->src.ctx, handle);
		err = key_add(s, idkey, mod);
		if (!err)
			*out = mod;
		return err;
	}

	mod = calloc(1, sizeof(*mod));
	if (!mod) {
		if (handle)
			s->src.close(s->src.ctx, handle);
		return -ENOMEM;
	}
	mod->next = s->modules;
	s->modules = mod;
	mod->handle = handle;
	mod->nsegs = info.nsegs <= MO_SYMFILE_MAX_SEGS ? info.nsegs : 0;
	memcpy(mod->segs, info.segs, mod->nsegs * sizeof(mod->segs[0]));
	err = 0;
	if (info.build_id[0] && !(mod->build_id = strdup(info.build_id)))
		err = -ENOMEM;
	if (!err)
		err = key_add(s, idkey, mod);
	if (!err && info.build_id[0])
		err = key_add(s, bkey, mod);
	if (!err)
		*out = mod;
	return err;
}

/* Which PT_LOAD a mapping comes from: the one whose file range holds the
 * mapping's offset, preferring matching executability when pages are shared. */
static bool mapping_delta(const struct module *mod, const struct mo_map *m, uint64_t *delta)
{
	const struct mo_symseg *best = NULL;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t mask = page > 0 ? (uint64_t)page - 1 : 4095;

	for (size_t i = 0; i < mod->nsegs; i++) {
		const struct mo_symseg *g = &mod->segs[i];

		if ((g->offset & ~mask) > m->offset || m->offset >= g->offset + g->filesz)
			continue;
		if (!best || (g->x == m->x && best->x != m->x))
			best = g;
	}
	if (!best)
		return false;
	*delta = m->offset + best->vaddr - best->offset - m->start;
	return true;
}

/* Names of anonymous memory: no module to report. */
static bool anonymous_name(const char *path)
{
	return !path || !strcmp(path, "[heap]") || !strncmp(path, "[stack", 6) ||
	       !strncmp(path, "[anon", 5);
}

static int resolve_entry(struct mo_symbolizer *s, pid_t pid, const struct mo_map *m,
			 struct view_entry *e)
{
	int err;

	if (e->resolved)
		return 0;
	if (!m->path || m->path[0] != '/') {
		e->resolved = true;
		return 0;
	}
	err = find_module(s, pid, m, &e->mod);
	if (err == -EAGAIN)
		return 0;	/* unresolved: tried again at the next stack */
	if (err)
		return err;
	e->resolved = true;
	if (e->mod)
		e->has_delta = mapping_delta(e->mod, m, &e->delta);
	return 0;
}

/* ---- lookups ---- */

/* The frames of vaddr, cached. -ENOMEM, or another error from the source
 * (the frame then goes out without a name, and is asked again next time). */
static int module_lookup(struct mo_symbolizer *s, struct module *mod, uint64_t vaddr,
			 const struct lookup **out)
{
	struct lookup key = { .vaddr = vaddr }, *l;
	void **slot = tfind(&key, &mod->lookups, cmp_lookup);
	int err;

	if (slot) {
		*out = *(struct lookup **)slot;
		return 0;
	}
	if (mod->nlookups >= MAX_CACHED_LOOKUPS) {
		tdestroy(mod->lookups, free_lookup);
		mod->lookups = NULL;
		mod->nlookups = 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->vaddr = vaddr;
	err = s->src.lookup(s->src.ctx, mod->handle, vaddr, &l->frames, &l->n);
	if (!err && (!l->n || !tsearch(l, &mod->lookups, cmp_lookup)))
		err = l->n ? -ENOMEM : -ENODATA;
	if (err == -ECHILD) {
		/* the file killed the parser: it is never asked again */
		s->src.close(s->src.ctx, mod->handle);
		mod->handle = 0;
	}
	if (err) {
		free_lookup(l);
		return err;
	}
	mod->nlookups++;
	*out = l;
	return 0;
}

/* ---- views ---- */

static int view_load(struct pid_view *v)
{
	struct mo_maps maps;
	struct view_entry *entries = NULL;
	int err = mo_procmaps_read(v->pid, &maps);

	if (err)
		return err;
	if (!maps.nr) {
		/* a zombie has no maps left: it is gone, keep what we had */
		mo_maps_release(&maps);
		return -ESRCH;
	}
	if (maps.nr) {
		entries = calloc(maps.nr, sizeof(*entries));
		if (!entries) {
			mo_maps_release(&maps);
			return -ENOMEM;
		}
	}
	mo_maps_release(&v->maps);
	free(v->entries);
	v->maps = maps;
	v->entries = entries;
	return 0;
}

static int get_view(struct mo_symbolizer *s, pid_t pid, struct pid_view **out)
{
	struct pid_view key = { .pid = pid }, *v;
	void **slot = tfind(&key, &s->views, cmp_view);
	int err;

	if (slot) {
		v = *(struct pid_view **)slot;
		/* A process that is gone keeps its last view. */
		if (v->stale)
			view_load(v);
		v->stale = false;
		*out = v;
		return 0;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->pid = pid;
	err = view_load(v);
	if (!err && !tsearch(v, &s->views, cmp_view))
		err = -ENOMEM;
	if (err) {
		free_view(v);
		return err;
	}
	*out = v;
	return 0;
}

void mo_symbolizer_forget(struct mo_symbolizer *s, pid_t pid)
{
	struct pid_view key = { .pid = pid }, *v;
	void **slot;

	if (!s)
		return;
	slot = tfind(&key, &s->views, cmp_view);
	if (!slot)
		return;
	v = *(struct pid_view **)slot;
	tdelete(&key, &s->views, cmp_view);
	free_view(v);
}

bool mo_symbolizer_has_view(struct mo_symbolizer *s, pid_t pid)
{
	struct pid_view key = { .pid = pid };

	return s && tfind(&key, &s->views, cmp_view);
}

void mo_symbolizer_refresh(struct mo_symbolizer *s, pid_t pid)
{
	struct pid_view key = { .pid = pid };
	void **slot;

	if (!s)
		return;
	slot = tfind(&key, &s->views, cmp_view);
	if (slot)
		(*(struct pid_view **)slot)->stale = true;
}

/* ---- frames ---- */

static int push_frame(struct frame_buf *b, const struct mo_frame *f)
{
	struct mo_frame *dst;

	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		struct mo_frame *nf = realloc(b->f, ncap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		b->f = nf;
		b->cap = ncap;
	}
	dst = &b->f[b->n];
	*dst = *f;
	dst->symbol = f->symbol ? strdup(f->symbol) : NULL;
	dst->linkage_name = f->linkage_name ? strdup(f->linkage_name) : NULL;
	dst->module = f->module ? strdup(f->module) : NULL;
	dst->build_id = f->build_id ? strdup(f->build_id) : NULL;
	dst->file = f->file ? strdup(f->file) : NULL;
	if ((f->symbol && !dst->symbol) || (f->linkage_name && !dst->linkage_name) ||
	    (f->module && !dst->module) || (f->build_id && !dst->build_id) ||
	    (f->file && !dst->file)) {
		free((char *)dst->symbol);
		free((char *)dst->linkage_name);
		free((char *)dst->build_id);
		free((char *)dst->module);
		free((char *)dst->file);
		return -ENOMEM;
	}
	b->n++;
	return 0;
}

/* Frames for ip, looked up at `at` (ip, or ip - 1 for return addresses). */
static int emit(struct mo_symbolizer *s, struct pid_view *v, const struct mo_map *m,
		uint64_t ip, uint64_t at, struct frame_buf *b)
{
	struct mo_frame f = { .address = ip };
	const struct lookup *l;
	struct view_entry *e;
	int err;

	if (!m)
		return push_frame(b, &f);
	e = &v->entries[m - v->maps.maps];
	err = resolve_entry(s, v->pid, m, e);
	if (err)
		return err;
	if (!anonymous_name(m->path)) {
		f.module = m->path;
		f.module_offset = e->has_delta ? ip + e->delta : ip - m->start + m->offset;
		f.build_id = e->mod ? e->mod->build_id : NULL;
	}
	if (!e->mod || !e->mod->handle || !e->has_delta)
		return push_frame(b, &f);

	err = module_lookup(s, e->mod, at + e->delta, &l);
	if (err == -ENOMEM)
		return err;
	if (err)
		return push_frame(b, &f);
	for (size_t i = 0; i < l->n; i++) {
		const struct mo_symframe *sf = &l->frames[i];

		f.symbol = sf->symbol;
		f.linkage_name = sf->linkage;
		f.offset = sf->symbol && !sf->inlined ? sf->offset + (ip - at) : 0;
		f.file = sf->file;
		f.line = sf->line;
		f.inlined = sf->inlined;
		err = push_frame(b, &f);
		if (err)
			return err;
	}
	return 0;
}

int mo_symbolize(struct mo_symbolizer *s, pid_t pid, const uint64_t *ips, size_t n,
		 struct mo_frame **frames, size_t *nframes)
{
	struct frame_buf b = { 0 };
	struct pid_view *v;
	bool reloaded = false;
	int err;

	if (!s || !frames || !nframes || (n && !ips))
		return -EINVAL;
	*frames = NULL;
	*nframes = 0;
	if (!n)
		return 0;
	err = get_view(s, pid, &v);
	if (err)
		return err;

	for (size_t i = 0; i < n; i++) {
		uint64_t ip = ips[i];
		uint64_t at = (i > 0 || s->first_is_return) && ip > 0 ? ip - 1 : ip;
		const struct mo_map *m = mo_maps_find(&v->maps, at);

		/* Mapped since the view was read (dlopen): read it once more. */
		if (!m && !reloaded) {
			reloaded = true;
			if (view_load(v) == 0)
				m = mo_maps_find(&v->maps, at);
		}
		err = emit(s, v, m, ip, at, &b);
		if (err) {
			mo_frames_free(b.f, b.n);
			return err;
		}
	}
	*frames = b.f;
	*nframes = b.n;
	return 0;
}

int mo_symbolizer_prime(struct mo_symbolizer *s, pid_t pid)
{
	struct pid_view *v;
	int err;

	if (!s)
		return -EINVAL;
	err = get_view(s, pid, &v);
	if (err)
		return err;
	/* an existing view may predate an exec or dlopen: read it again */
	return view_load(v) == 0 || v->maps.nr ? 0 : -ESRCH;
}

int mo_symbolizer_set_maps(struct mo_symbolizer *s, pid_t pid, struct mo_maps *maps)
{
	struct pid_view *v;
	struct view_entry *entries;
	int err;

	if (!s || !maps)
		return -EINVAL;
	entries = calloc(maps->nr ? maps->nr : 1, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	err = get_view(s, pid, &v);
	if (err == -ESRCH || err == -ENOENT) {
		v = calloc(1, sizeof(*v));
		if (!v) {
			free(entries);
			return -ENOMEM;
		}
		v->pid = pid;
		if (!tsearch(v, &s->views, cmp_view)) {
			free(v);
			free(entries);
			return -ENOMEM;
		}
	} else if (err) {
		free(entries);
		return err;
	}
	mo_maps_release(&v->maps);
	free(v->entries);
	v->maps = *maps;
	v->entries = entries;
	v->stale = false;
	memset(maps, 0, sizeof(*maps));
	return 0;
}

int mo_symbolizer_inherit(struct mo_symbolizer *s, pid_t pid, pid_t parent)
{
	struct mo_maps copy = { 0 };
	struct pid_view *pv;
	int err;

	if (!s || pid == parent)
		return -EINVAL;
	err = get_view(s, parent, &pv);
	if (err)
		return err;
	err = mo_maps_copy(&pv->maps, &copy);
	if (!err)
		err = mo_symbolizer_set_maps(s, pid, &copy);
	mo_maps_release(&copy);
	return err;
}

void mo_symbolizer_first_is_return(struct mo_symbolizer *s, bool yes)
{
	if (s)
		s->first_is_return = yes;
}
