// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symbolize.c - process addresses to frames with elfutils libdwfl.
 *
 * Three layers. Modules: one Dwfl per distinct ELF file, found by build-id
 * or by file identity (st_dev, st_ino, size, mtime), kept until the
 * symbolizer is freed. Views: per pid, the parsed maps plus, for each
 * mapping, its module and the delta from process address to ELF vaddr,
 * resolved on first use. Lookups: per module, the frames already resolved
 * for an ELF vaddr (bounded; dropped wholesale when full).
 *
 * module_offset in a frame is the ELF virtual address (what addr2line -e
 * module takes); when the file cannot be read it is the file offset.
 *
 * Files come from processes that may be hostile: every one is opened with
 * src/lib/safefile.h, the module file is the inode the process maps, and
 * libdw/libdwfl are handed descriptors and Elf handles, never a path to
 * open (no debuginfod either).
 *
 * Not thread-safe: a symbolizer belongs to one thread (the observer's
 * worker).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include "procmaps.h"
#include "safefile.h"
#include "symbolize.h"

#define MAX_CACHED_LOOKUPS 16384
#define MAX_SCOPES 64		/* nesting levels of code kept for one address */

struct segment {		/* one PT_LOAD */
	uint64_t offset;
	uint64_t vaddr;
	uint64_t filesz;
	bool x;
};

/* A resolved frame as cached; the strings belong to the cache. */
struct sym_frame {
	char *symbol;
	uint64_t offset;	/* looked-up vaddr - symbol start; 0 when inlined */
	char *file;
	int line;
	bool inlined;
};

struct lookup {
	uint64_t vaddr;
	size_t n;
	struct sym_frame *frames;
};

struct module {
	Dwfl *dwfl;		/* NULL: no symbols (not ELF, or libdwfl refused it) */
	Dwfl_Module *dmod;
	bool no_dwarf;		/* symbols only: its DWARF would make libdw open
				   files by paths it names (split units) */
	Dwarf *alt_stand_in;	/* see stand_in_alt() */
	GElf_Addr bias;		/* libdwfl address = ELF vaddr + bias */
	size_t nsegs;
	struct segment *segs;
	void *lookups;		/* tsearch tree of struct lookup, by vaddr */
	size_t nlookups;
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
};

struct frame_buf {
	struct mo_frame *f;
	size_t n, cap;
};

static int find_elf(Dwfl_Module *dmod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp);
static int find_debuginfo(Dwfl_Module *dmod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name);

/* libdwfl opens no file itself: find_elf hands it the Elf read from the
 * descriptor checked in find_module, find_debuginfo the debug files it
 * opened safely (no debuginfod, no paths of libdwfl's choosing). */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
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
	for (size_t i = 0; i < l->n; i++) {
		free(l->frames[i].symbol);
		free(l->frames[i].file);
	}
	free(l->frames);
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

static void free_module(struct module *mod)
{
	if (mod->dwfl)
		dwfl_end(mod->dwfl);
	if (mod->alt_stand_in)
		dwarf_end(mod->alt_stand_in);
	tdestroy(mod->lookups, free_lookup);
	free(mod->segs);
	free(mod);
}

struct mo_symbolizer *mo_symbolizer_new(void)
{
	struct mo_symbolizer *s;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOTSUP;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		errno = ENOMEM;
	return s;
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
		free_module(mod);
	}
	free(s);
}

void mo_frames_free(struct mo_frame *frames, size_t n)
{
	if (!frames)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)frames[i].symbol);
		free((char *)frames[i].module);
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

static char *build_id_key(Elf *elf)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *id;
	ssize_t len = dwelf_elf_gnu_build_id(elf, (const void **)&id);
	char *key;

	if (len <= 0)
		return NULL;
	key = malloc(2 + 2 * (size_t)len + 1);
	if (!key)
		return NULL;
	key[0] = 'b';
	key[1] = ':';
	for (ssize_t i = 0; i < len; i++) {
		key[2 + 2 * i] = hex[id[i] >> 4];
		key[3 + 2 * i] = hex[id[i] & 15];
	}
	key[2 + 2 * len] = '\0';
	return key;
}

static int read_segments(Elf *elf, struct module *mod)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return 0;
	mod->segs = calloc(nph ? nph : 1, sizeof(*mod->segs));
	if (!mod->segs)
		return -ENOMEM;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		mod->segs[mod->nsegs++] = (struct segment){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.x = ph.p_flags & PF_X,
		};
	}
	return 0;
}

/* What the callbacks of one module's libdwfl session need, while open_dwfl
 * runs (they are not called afterwards: libdwfl keeps what it found). */
struct dwfl_ctx {
	pid_t pid;
	const char *map_path;	/* the module as the process names it */
	Elf *elf;		/* handed to libdwfl by find_elf */
	int fd;
	const char *debuglink;	/* the module's .gnu_debuglink, or NULL */
	GElf_Word debuglink_crc;
	char build_id[2 * 64 + 1];
	bool alt_found;
};

static int find_elf(Dwfl_Module *dmod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct dwfl_ctx *c = *userdata;
	int fd;

	if (!c || !c->elf)
		return -1;
	*elfp = c->elf;
	*file_name = strdup(c->map_path);
	fd = c->fd;
	c->elf = NULL;
	c->fd = -1;
	return fd;	/* libdwfl owns both now */
}

/* Debug files are owned by root and not writable by others under the
 * host's /usr/lib/debug: libdw may map those. Any other is handed over as
 * a sealed copy, so a truncation by its owner cannot SIGBUS us. */
static bool only_root_writes(const char *path, const struct stat *st)
{
	return strncmp(path, "/usr/lib/debug/", 15) == 0 && st->st_uid == 0 &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int crc_file(int fd, uint64_t size, uint32_t *crc)
{
	char buf[1 << 16];
	uLong c = crc32(0L, Z_NULL, 0);

	for (uint64_t off = 0; off < size;) {
		ssize_t r = pread(fd, buf, size - off < sizeof(buf) ? size - off : sizeof(buf),
				  (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		c = crc32(c, (const Bytef *)buf, (uInt)r);
		off += (uint64_t)r;
	}
	*crc = (uint32_t)c;
	return 0;
}

/*
 * Open a candidate debug file: safely, checked by CRC when crc is given
 * (.gnu_debuglink), by build id when id is (.build-id paths). Returns an
 * fd libdw may map, or -1.
 */
static int open_debug(const char *path, const GElf_Word *crc, const char *id)
{
	struct stat st;
	uint32_t got;
	int fd = mo_safe_open(path, NULL, 0, &st), out;

	if (fd < 0)
		return -1;
	if (id) {
		Elf *e = elf_begin(fd, ELF_C_READ, NULL);
		char *key = e ? build_id_key(e) : NULL;
		bool same = key && strcmp(key + 2, id) == 0;

		free(key);
		if (e)
			elf_end(e);
		if (!same) {
			close(fd);
			return -1;
		}
	}
	if (only_root_writes(path, &st)) {
		if (crc && (crc_file(fd, (uint64_t)st.st_size, &got) || got != *crc)) {
			close(fd);
			return -1;
		}
		return fd;
	}
	out = mo_safe_copy(fd, (uint64_t)st.st_size, &got);
	close(fd);
	if (out >= 0 && crc && got != *crc) {
		close(out);
		return -1;
	}
	return out < 0 ? -1 : out;
}

/* A file name from a file we read: one path component. */
static bool plain_name(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int find_debuginfo(Dwfl_Module *dmod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct dwfl_ctx *c = *userdata;
	char path[PATH_MAX + 64], dir[PATH_MAX];
	const char *slash;
	int fd = -1;

	if (!c)
		return -1;
	if (debuglink_file && !(c->debuglink && debuglink_crc == c->debuglink_crc &&
				strcmp(debuglink_file, c->debuglink) == 0)) {
		/* the .gnu_debugaltlink file (dwz): an absolute name in the
		 * host's debug tree only */
		if (strncmp(debuglink_file, "/usr/lib/debug/", 15) == 0 &&
		    !strstr(debuglink_file, "/../"))
			fd = open_debug(debuglink_file, NULL, NULL);
		c->alt_found = fd >= 0;
		goto out;
	}
	if (c->build_id[0]) {
		snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug",
			 c->build_id, c->build_id + 2);
		fd = open_debug(path, NULL, c->build_id);
	}
	if (fd < 0 && plain_name(c->debuglink)) {
		slash = strrchr(c->map_path, '/');
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - c->map_path), c->map_path);
		snprintf(path, sizeof(path), "/proc/%d/root%s/%s", (int)c->pid, dir, c->debuglink);
		fd = open_debug(path, &c->debuglink_crc, NULL);
		if (fd < 0) {
			snprintf(path, sizeof(path), "/proc/%d/root%s/.debug/%s", (int)c->pid, dir,
				 c->debuglink);
			fd = open_debug(path, &c->debuglink_crc, NULL);
		}
		if (fd < 0) {
			snprintf(path, sizeof(path), "/usr/lib/debug%s/%s", dir, c->debuglink);
			fd = open_debug(path, &c->debuglink_crc, NULL);
		}
	}
out:
	/* a name without a descriptor would make libdwfl open it itself */
	if (fd >= 0)
		*debuginfo_file_name = strdup(debuglink_file ? debuglink_file : c->map_path);
	return fd;
}

/*
 * libdw opens, by itself and with a blocking open(2), the files a DWARF
 * unit names: the .gnu_debugaltlink file when no alt was set, split units
 * (.dwo) of skeleton units. An alt file not found gets a stand-in (the
 * debug data itself: wrong strings at worst, never an open); a module with
 * skeleton units keeps its symbol table only.
 */
static void confine_dwarf(struct module *mod, Dwarf *dw, bool alt_found)
{
	const char *altname;
	const void *id;
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Half version;
	uint8_t type;

	if (!alt_found && dwelf_dwarf_gnu_debugaltlink(dw, &altname, &id) > 0) {
		mod->alt_stand_in = dwarf_begin_elf(dwarf_getelf(dw), DWARF_C_READ, NULL);
		if (!mod->alt_stand_in) {
			mod->no_dwarf = true;
			return;
		}
		dwarf_setalt(dw, mod->alt_stand_in);
	}
	while (dwarf_get_units(dw, cu, &next, &version, &type, NULL, NULL) == 0) {
		if (type == DW_UT_skeleton || type == DW_UT_split_compile ||
		    type == DW_UT_split_type) {
			mod->no_dwarf = true;
			return;
		}
		cu = next;
	}
}

/* The vaddr range of elf's PT_LOADs, as libdwfl lays a module out. */
static bool load_range(Elf *elf, GElf_Addr *lo, GElf_Addr *hi)
{
	size_t nph;
	bool any = false;

	if (elf_getphdrnum(elf, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		GElf_Addr start, end;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		start = ph.p_align > 1 ? ph.p_vaddr & -ph.p_align : ph.p_vaddr;
		end = ph.p_vaddr + ph.p_memsz;
		if (!any || start < *lo)
			*lo = start;
		if (!any || end > *hi)
			*hi = end;
		any = true;
	}
	return any && *hi > *lo;
}

/* Takes ownership of elf and fd (the descriptor find_module checked). */
static void open_dwfl(struct module *mod, pid_t pid, const char *modname, Elf *elf, int fd)
{
	struct dwfl_ctx c = { .pid = pid, .map_path = modname, .elf = elf, .fd = fd };
	char *key = build_id_key(elf);
	GElf_Addr lo = 0, hi = 0;
	Dwarf_Addr bias;
	Dwarf *dw;
	void **ud;

	if (key)
		snprintf(c.build_id, sizeof(c.build_id), "%s", key + 2);
	free(key);
	c.debuglink = dwelf_elf_gnu_debuglink(elf, &c.debuglink_crc);
	mod->dwfl = load_range(elf, &lo, &hi) ? dwfl_begin(&dwfl_callbacks) : NULL;
	if (!mod->dwfl)
		goto drop;
	dwfl_report_begin(mod->dwfl);
	mod->dmod = dwfl_report_module(mod->dwfl, modname, lo, hi);
	dwfl_report_end(mod->dwfl, NULL, NULL);
	if (!mod->dmod)
		goto drop;
	dwfl_module_info(mod->dmod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = &c;
	if (!dwfl_module_getelf(mod->dmod, &mod->bias))
		goto drop;
	/*
	 * Find separate debug info and the symbol table now, while the path
	 * (through /proc/PID/root) still exists: the module outlives the pid.
	 */
	dw = dwfl_module_getdwarf(mod->dmod, &bias);
	if (dw)
		confine_dwarf(mod, dw, c.alt_found);
	dwfl_module_getsymtab(mod->dmod);
	*ud = NULL;
	return;
drop:
	if (c.elf)
		elf_end(c.elf);
	if (c.fd >= 0)
		close(c.fd);
	if (mod->dwfl)
		dwfl_end(mod->dwfl);
	mod->dwfl = NULL;
	mod->dmod = NULL;
}

/*
 * The module behind a file mapping: the inode mapped, opened safely
 * (mo_safe_open_mapping), read with ELF_C_READ (never a mapping the file's
 * owner could truncate under us). *out stays NULL when the file cannot be
 * read; that is not an error. Returns 0 or -ENOMEM.
 */
static int find_module(struct mo_symbolizer *s, pid_t pid, const struct mo_map *m,
		       struct module **out)
{
	char idkey[128];
	char *bkey = NULL;
	struct module *mod;
	struct stat st;
	Elf *elf = NULL;
	int fd, err = 0;

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

	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF) {
		bkey = build_id_key(elf);
		mod = bkey ? key_find(s, bkey) : NULL;
	}
	if (mod) {
		elf_end(elf);
		close(fd);
		err = key_add(s, idkey, mod);
		goto out;
	}

	mod = calloc(1, sizeof(*mod));
	if (!mod) {
		elf_end(elf);
		close(fd);
		err = -ENOMEM;
		goto out;
	}
	mod->next = s->modules;
	s->modules = mod;
	if (elf && elf_kind(elf) == ELF_K_ELF)
		err = read_segments(elf, mod);
	if (!err && mod->nsegs) {
		open_dwfl(mod, pid, m->path, elf, fd);
	} else {
		if (elf)
			elf_end(elf);
		close(fd);
	}
	if (!err)
		err = key_add(s, idkey, mod);
	if (!err && bkey)
		err = key_add(s, bkey, mod);
out:
	free(bkey);
	if (!err)
		*out = mod;
	return err;
}

/* Which PT_LOAD a mapping comes from: the one whose file range holds the
 * mapping's offset, preferring matching executability when pages are shared. */
static bool mapping_delta(const struct module *mod, const struct mo_map *m, uint64_t *delta)
{
	const struct segment *best = NULL;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t mask = page > 0 ? (uint64_t)page - 1 : 4095;

	for (size_t i = 0; i < mod->nsegs; i++) {
		const struct segment *g = &mod->segs[i];

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
	if (err)
		return err;
	e->resolved = true;
	if (e->mod)
		e->has_delta = mapping_delta(e->mod, m, &e->delta);
	return 0;
}

/* ---- lookups ---- */

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
	return name;
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* The inlined call site of scope: file and line in the caller. */
static int call_site(Dwarf_Die *cu, Dwarf_Die *scope, struct sym_frame *caller)
{
	Dwarf_Attribute attr;
	Dwarf_Files *files;
	Dwarf_Word idx, line;
	size_t nfiles;
	const char *file = NULL;

	if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_line, &attr), &line) == 0 &&
	    line <= INT_MAX)
		caller->line = (int)line;
	if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_file, &attr), &idx) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
		file = dwarf_filesrc(files, idx, NULL, NULL);
	return dup_str(&caller->file, file);
}

/* DIEs whose pc ranges nest code: a chain of them leads to an address. */
static bool code_scope(int tag)
{
	switch (tag) {
	case DW_TAG_subprogram:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_lexical_block:
	case DW_TAG_try_block:
	case DW_TAG_catch_block:
	case DW_TAG_with_stmt:
	case DW_TAG_entry_point:
	case DW_TAG_module:
		return true;
	default:
		return false;
	}
}

/*
 * The DIEs of cu that contain pc, innermost first, at most max: the concrete
 * tree as compiled, so each level of nested inlining is its own
 * DW_TAG_inlined_subroutine and the outermost subprogram is the function
 * the code is in. (dwarf_getscopes stops at the innermost inlined instance
 * and continues with its abstract definition's parents; on corrupt DWARF it
 * also loses its own allocation.) A chain deeper than max keeps its outer
 * levels. DIE offsets only grow along the walk, so corrupt sibling links
 * cannot make it loop.
 */
static int scopes_at(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *scopes, int max)
{
	Dwarf_Die die, next;
	int n = 0;

	if (dwarf_child(cu, &die) != 0)
		return 0;
	for (;;) {
		if (code_scope(dwarf_tag(&die)) && dwarf_haspc(&die, pc) > 0) {
			scopes[n++] = die;
			if (n == max || dwarf_child(&die, &next) != 0)
				break;
		} else if (dwarf_siblingof(&die, &next) != 0) {
			break;
		}
		if (dwarf_dieoffset(&next) <= dwarf_dieoffset(&die))
			break;
		die = next;
	}
	for (int i = 0; i < n / 2; i++) {
		Dwarf_Die t = scopes[i];

		scopes[i] = scopes[n - 1 - i];
		scopes[n - 1 - i] = t;
	}
	return n;
}

/*
 * Resolve one ELF vaddr: frames for the inlined subroutines that contain it
 * (innermost first), then the function they were inlined into.
 */
static int resolve(struct module *mod, struct lookup *l)
{
	Dwarf_Addr a = l->vaddr + mod->bias, cubias = 0;
	Dwarf_Die *cu, scopes[MAX_SCOPES], *sub = NULL;
	GElf_Off symoff = 0;
	GElf_Sym sym;
	Dwfl_Line *dl;
	const char *name, *file = NULL;
	size_t ninl = 0, k = 0;
	int nscopes = 0, line = 0, err;

	name = dwfl_module_addrinfo(mod->dmod, a, &symoff, &sym, NULL, NULL, NULL);
	cu = mod->no_dwarf ? NULL : dwfl_module_addrdie(mod->dmod, a, &cubias);
	if (cu)
		nscopes = scopes_at(cu, a - cubias, scopes, MAX_SCOPES);
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_subprogram) {
			sub = &scopes[i];
			nscopes = i;
			break;
		}
		if (tag == DW_TAG_inlined_subroutine)
			ninl++;
	}

	l->frames = calloc(ninl + 1, sizeof(*l->frames));
	if (!l->frames)
		return -ENOMEM;
	l->n = ninl + 1;

	dl = mod->no_dwarf ? NULL : dwfl_module_getsrc(mod->dmod, a);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	err = dup_str(&l->frames[0].file, file);
	l->frames[0].line = file ? line : 0;

	for (int i = 0; !err && i < nscopes; i++) {
		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		l->frames[k].inlined = true;
		err = dup_str(&l->frames[k].symbol, die_name(&scopes[i]));
		if (!err)
			err = call_site(cu, &scopes[i], &l->frames[k + 1]);
		k++;
	}
	if (err)
		return err;

	if (name) {
		l->frames[ninl].offset = symoff;
	} else if (sub) {
		Dwarf_Addr low;

		name = die_name(sub);
		if (dwarf_lowpc(sub, &low) == 0 && a - cubias >= low)
			l->frames[ninl].offset = a - cubias - low;
	}
	return dup_str(&l->frames[ninl].symbol, name);
}

static int module_lookup(struct module *mod, uint64_t vaddr, const struct lookup **out)
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
	err = resolve(mod, l);
	if (!err && !tsearch(l, &mod->lookups, cmp_lookup))
		err = -ENOMEM;
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
	dst->module = f->module ? strdup(f->module) : NULL;
	dst->file = f->file ? strdup(f->file) : NULL;
	if ((f->symbol && !dst->symbol) || (f->module && !dst->module) ||
	    (f->file && !dst->file)) {
		free((char *)dst->symbol);
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
	}
	if (!e->mod || !e->mod->dwfl || !e->has_delta)
		return push_frame(b, &f);

	err = module_lookup(e->mod, at + e->delta, &l);
	if (err)
		return err;
	for (size_t i = 0; i < l->n; i++) {
		const struct sym_frame *sf = &l->frames[i];

		f.symbol = sf->symbol;
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
