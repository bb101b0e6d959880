// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symfile.c - one Dwfl per ELF file, handed a descriptor and an Elf read
 * from it, never a path: libdw/libdwfl open nothing by themselves (no
 * debuginfod, no debug paths of libdwfl's choosing); debug files come
 * through the caller's opener and are checked here (build id, CRC).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <linux/openat2.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>
#include <libiberty/demangle.h>

#include "safefile.h"
#include "symfile.h"

#define MAX_SCOPES 64		/* nesting levels of code kept for one address */
#define MAX_DEBUG_OPENS 8	/* debug candidates asked for per file */

struct symfile {
	Dwfl *dwfl;
	Dwfl_Module *dmod;
	bool no_dwarf;		/* symbols only: its DWARF would make libdw open
				   files by paths it names (split units) */
	Dwarf *alt_stand_in;	/* see confine_dwarf() */
	GElf_Addr bias;		/* libdwfl address = ELF vaddr + bias */
	char *build_id;		/* NULL: none (then never shared) */
	unsigned refs;
	struct mo_symfile_info info;
};

struct by_id {
	const char *build_id;	/* the file's own string */
	uint32_t handle;
};

struct mo_symfiles {
	struct symfile **files;	/* handle h is files[h - 1]; NULL: free */
	uint32_t n, cap;
	void *ids;		/* tsearch tree of struct by_id */
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct by_id *)a)->build_id, ((const struct by_id *)b)->build_id);
}

void mo_symframes_free(struct mo_symframe *f, size_t n)
{
	if (!f)
		return;
	for (size_t i = 0; i < n; i++) {
		free(f[i].symbol);
		free(f[i].linkage);
		free(f[i].file);
	}
	free(f);
}

static void free_file(struct symfile *f)
{
	if (!f)
		return;
	if (f->dwfl)
		dwfl_end(f->dwfl);
	if (f->alt_stand_in)
		dwarf_end(f->alt_stand_in);
	free(f->build_id);
	free(f);
}

struct mo_symfiles *mo_symfiles_new(void)
{
	struct mo_symfiles *fs;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOTSUP;
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		errno = ENOMEM;
	return fs;
}

static void free_id(void *p)
{
	free(p);
}

void mo_symfiles_free(struct mo_symfiles *fs)
{
	if (!fs)
		return;
	tdestroy(fs->ids, free_id);
	for (uint32_t i = 0; i < fs->n; i++)
		free_file(fs->files[i]);
	free(fs->files);
	free(fs);
}

static struct symfile *get_file(struct mo_symfiles *fs, uint32_t handle)
{
	return handle && handle <= fs->n ? fs->files[handle - 1] : NULL;
}

/* ---- opening ---- */

static char *build_id_hex(Elf *elf)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *id;
	ssize_t len = dwelf_elf_gnu_build_id(elf, (const void **)&id);
	char *s;

	if (len <= 0 || len > 64)
		return NULL;
	s = malloc(2 * (size_t)len + 1);
	if (!s)
		return NULL;
	for (ssize_t i = 0; i < len; i++) {
		s[2 * i] = hex[id[i] >> 4];
		s[2 * i + 1] = hex[id[i] & 15];
	}
	s[2 * len] = '\0';
	return s;
}

static void read_segments(Elf *elf, struct mo_symfile_info *info)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return;
	for (size_t i = 0; i < nph && info->nsegs < MO_SYMFILE_MAX_SEGS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		info->segs[info->nsegs++] = (struct mo_symseg){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.x = ph.p_flags & PF_X,
		};
	}
}

/* What the callbacks of one file's libdwfl session need, while open_dwfl
 * runs (they are not called afterwards: libdwfl keeps what it found). */
struct dwfl_ctx {
	const char *modname;
	Elf *elf;		/* handed to libdwfl by find_elf */
	int fd;
	const char *debuglink;	/* the file's .gnu_debuglink, or NULL */
	GElf_Word debuglink_crc;
	const char *build_id;	/* or NULL */
	const struct mo_debug_opener *op;
	int opens;
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
	*file_name = strdup(c->modname);
	fd = c->fd;
	c->elf = NULL;
	c->fd = -1;
	return fd;	/* libdwfl owns both now */
}

static int crc_file(int fd, uint32_t *crc)
{
	char buf[1 << 16];
	uLong c = crc32(0L, Z_NULL, 0);
	struct stat st;

	if (fstat(fd, &st) || st.st_size < 0)
		return -EIO;
	for (uint64_t off = 0; off < (uint64_t)st.st_size;) {
		uint64_t left = (uint64_t)st.st_size - off;
		ssize_t r = pread(fd, buf, left < sizeof(buf) ? left : sizeof(buf), (off_t)off);

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

/* A candidate from the opener, kept only when it is the file asked for:
 * the same build id, or the CRC .gnu_debuglink names. fd or -1. */
static int open_debug(struct dwfl_ctx *c, enum mo_debug_where where, const char *name)
{
	uint32_t crc;
	int fd;

	if (!c->op || !c->op->open || c->opens >= MAX_DEBUG_OPENS)
		return -1;
	c->opens++;
	fd = c->op->open(c->op->ctx, where, name);
	if (fd < 0)
		return -1;
	if (where == MO_DEBUG_BUILD_ID) {
		Elf *e = elf_begin(fd, ELF_C_READ, NULL);
		char *id = e ? build_id_hex(e) : NULL;
		bool same = id && strcmp(id, name) == 0;

		free(id);
		if (e)
			elf_end(e);
		if (!same)
			goto drop;
	} else if (where != MO_DEBUG_ALT) {
		if (crc_file(fd, &crc) || crc != c->debuglink_crc)
			goto drop;
	}
	return fd;
drop:
	close(fd);
	return -1;
}

static int find_debuginfo(Dwfl_Module *dmod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	static const enum mo_debug_where links[] = {
		MO_DEBUG_LINK_SIBLING, MO_DEBUG_LINK_DOTDEBUG, MO_DEBUG_LINK_USR,
	};
	struct dwfl_ctx *c = *userdata;
	int fd = -1;

	if (!c)
		return -1;
	if (debuglink_file && !(c->debuglink && debuglink_crc == c->debuglink_crc &&
				strcmp(debuglink_file, c->debuglink) == 0)) {
		/* the .gnu_debugaltlink file (dwz) */
		fd = open_debug(c, MO_DEBUG_ALT, debuglink_file);
		c->alt_found = fd >= 0;
		goto out;
	}
	if (c->build_id)
		fd = open_debug(c, MO_DEBUG_BUILD_ID, c->build_id);
	for (size_t i = 0; fd < 0 && c->debuglink && i < sizeof(links) / sizeof(links[0]); i++)
		fd = open_debug(c, links[i], c->debuglink);
out:
	/* a name without a descriptor would make libdwfl open it itself */
	if (fd >= 0)
		*debuginfo_file_name = strdup(debuglink_file ? debuglink_file : c->modname);
	return fd;
}

/* libdwfl opens no file itself: find_elf hands it the Elf read from the
 * descriptor we were given, find_debuginfo what the opener found. */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/*
 * libdw opens, by itself and with a blocking open(2), the files a DWARF
 * unit names: the .gnu_debugaltlink file when no alt was set, split units
 * (.dwo) of skeleton units. An alt file not found gets a stand-in (the
 * debug data itself: wrong strings at worst, never an open); a file with
 * skeleton units keeps its symbol table only.
 */
static void confine_dwarf(struct symfile *f, Dwarf *dw, bool alt_found)
{
	const char *altname;
	const void *id;
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Half version;
	uint8_t type;

	if (!alt_found && dwelf_dwarf_gnu_debugaltlink(dw, &altname, &id) > 0) {
		f->alt_stand_in = dwarf_begin_elf(dwarf_getelf(dw), DWARF_C_READ, NULL);
		if (!f->alt_stand_in) {
			f->no_dwarf = true;
			return;
		}
		dwarf_setalt(dw, f->alt_stand_in);
	}
	while (dwarf_get_units(dw, cu, &next, &version, &type, NULL, NULL) == 0) {
		if (type == DW_UT_skeleton || type == DW_UT_split_compile ||
		    type == DW_UT_split_type) {
			f->no_dwarf = true;
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

/* Takes ownership of elf and fd. f->dwfl stays NULL when libdwfl refuses. */
static void open_dwfl(struct symfile *f, const char *modname, Elf *elf, int fd,
		      const struct mo_debug_opener *op)
{
	struct dwfl_ctx c = {
		.modname = modname, .elf = elf, .fd = fd, .build_id = f->build_id, .op = op,
	};
	GElf_Addr lo = 0, hi = 0;
	Dwarf_Addr bias;
	Dwarf *dw;
	void **ud;

	c.debuglink = dwelf_elf_gnu_debuglink(elf, &c.debuglink_crc);
	f->dwfl = load_range(elf, &lo, &hi) ? dwfl_begin(&dwfl_callbacks) : NULL;
	if (!f->dwfl)
		goto drop;
	dwfl_report_begin(f->dwfl);
	f->dmod = dwfl_report_module(f->dwfl, modname, lo, hi);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->dmod)
		goto drop;
	dwfl_module_info(f->dmod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	*ud = &c;
	if (!dwfl_module_getelf(f->dmod, &f->bias))
		goto drop;
	/* Separate debug info and the symbol table now, while the opener's
	 * paths (through the process's root) still lead somewhere. */
	dw = dwfl_module_getdwarf(f->dmod, &bias);
	if (dw)
		confine_dwarf(f, dw, c.alt_found);
	dwfl_module_getsymtab(f->dmod);
	*ud = NULL;
	return;
drop:
	if (c.elf)
		elf_end(c.elf);
	if (c.fd >= 0)
		close(c.fd);
	if (f->dwfl)
		dwfl_end(f->dwfl);
	f->dwfl = NULL;
	f->dmod = NULL;
}

static int add_file(struct mo_symfiles *fs, struct symfile *f, uint32_t *handle)
{
	uint32_t i;

	for (i = 0; i < fs->n && fs->files[i]; i++)
		;
	if (i == fs->n) {
		if (fs->n == fs->cap) {
			uint32_t cap = fs->cap ? fs->cap * 2 : 32;
			struct symfile **nf = realloc(fs->files, cap * sizeof(*nf));

			if (!nf)
				return -ENOMEM;
			fs->files = nf;
			fs->cap = cap;
		}
		fs->n++;
	}
	fs->files[i] = f;
	*handle = i + 1;
	if (f->build_id) {
		struct by_id *k = malloc(sizeof(*k));

		if (k) {
			k->build_id = f->build_id;
			k->handle = *handle;
		}
		if (!k || !tsearch(k, &fs->ids, cmp_id)) {
			free(k);
			fs->files[i] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

int mo_symfiles_open(struct mo_symfiles *fs, int fd, const char *modname,
		     const struct mo_debug_opener *op, struct mo_symfile_info *info,
		     uint32_t *handle)
{
	struct symfile *f = NULL;
	char *id = NULL;
	Elf *elf;
	int err = 0;

	memset(info, 0, sizeof(*info));
	*handle = 0;
	/* read, never mapped: the file's owner could truncate it under us */
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		goto plain;
	id = build_id_hex(elf);
	if (id) {
		struct by_id key = { .build_id = id };
		void **slot = tfind(&key, &fs->ids, cmp_id);

		if (slot) {
			struct by_id *k = *slot;
			struct symfile *known = get_file(fs, k->handle);

			known->refs++;
			*info = known->info;
			*handle = k->handle;
			goto plain;
		}
		snprintf(info->build_id, sizeof(info->build_id), "%s", id);
	}
	read_segments(elf, info);
	if (!info->nsegs)
		goto plain;
	f = calloc(1, sizeof(*f));
	if (!f) {
		err = -ENOMEM;
		goto plain;
	}
	f->build_id = id;
	id = NULL;
	f->refs = 1;
	open_dwfl(f, modname ? modname : "", elf, fd, op);
	info->symbols = f->dwfl != NULL;
	f->info = *info;
	if (!f->dwfl) {
		free_file(f);
		return 0;
	}
	err = add_file(fs, f, handle);
	if (err) {
		free_file(f);
		*handle = 0;
	}
	return err;
plain:
	free(id);
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}

void mo_symfiles_close(struct mo_symfiles *fs, uint32_t handle)
{
	struct symfile *f = fs ? get_file(fs, handle) : NULL;

	if (!f || --f->refs)
		return;
	if (f->build_id) {
		struct by_id key = { .build_id = f->build_id };
		void **slot = tfind(&key, &fs->ids, cmp_id);

		if (slot) {
			struct by_id *k = *slot;

			tdelete(&key, &fs->ids, cmp_id);
			free(k);
		}
	}
	fs->files[handle - 1] = NULL;
	free_file(f);
}

/* ---- the privileged half of debug lookups ---- */

/* Debug files are owned by root and not writable by others under the
 * host's /usr/lib/debug: a reader may map those. */
static bool only_root_writes(const char *path, const struct stat *st)
{
	return strncmp(path, "/usr/lib/debug/", 15) == 0 && st->st_uid == 0 &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* A file name read from a file: one path component. */
static bool plain_name(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) < NAME_MAX;
}

static bool hex_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n > 128 || n % 2)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

/*
 * rel (no leading slash) in pid's root, with no symlink on the way: the
 * module's directory had none when the kernel named the mapping, so one
 * there now was put by someone who wants us elsewhere. An O_PATH fd or
 * -errno.
 */
static int open_in_root(pid_t pid, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	char root[64];
	int rfd, fd;

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, rfd, rel, &how, sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(rfd);
	return fd;
}

int mo_debug_open(pid_t pid, const char *map_path, enum mo_debug_where where, const char *name)
{
	char path[PATH_MAX + 64], dir[PATH_MAX];
	const char *slash = map_path ? strrchr(map_path, '/') : NULL;
	struct stat st;
	int fd, out;

	if (!name)
		return -EINVAL;
	if (where == MO_DEBUG_LINK_SIBLING || where == MO_DEBUG_LINK_DOTDEBUG ||
	    where == MO_DEBUG_LINK_USR) {
		if (!plain_name(name) || !slash || map_path[0] != '/' ||
		    (size_t)(slash - map_path) >= sizeof(dir))
			return -EINVAL;
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - map_path), map_path);
	}
	switch (where) {
	case MO_DEBUG_BUILD_ID:
		if (!hex_id(name))
			return -EINVAL;
		snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", name,
			 name + 2);
		break;
	case MO_DEBUG_LINK_SIBLING:
	case MO_DEBUG_LINK_DOTDEBUG: {
		char rel[PATH_MAX + 64];
		int pfd;

		if (pid <= 0)
			return -EINVAL;
		snprintf(rel, sizeof(rel), "%s%s/%s", dir + 1,
			 where == MO_DEBUG_LINK_DOTDEBUG ? "/.debug" : "", name);
		pfd = open_in_root(pid, rel[0] ? rel : ".");
		if (pfd < 0)
			return pfd;
		/* reopened through our own descriptor: the file just found */
		mo_fd_path(pfd, path, sizeof(path));
		fd = mo_safe_open(path, NULL, 0, &st);
		close(pfd);
		goto opened;
	}
	case MO_DEBUG_LINK_USR:
		snprintf(path, sizeof(path), "/usr/lib/debug%s/%s", dir, name);
		break;
	case MO_DEBUG_ALT:
		if (strncmp(name, "/usr/lib/debug/", 15) || strstr(name, "/../") ||
		    strlen(name) >= PATH_MAX)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s", name);
		break;
	default:
		return -EINVAL;
	}
	fd = mo_safe_open(path, NULL, 0, &st);
opened:
	if (fd < 0)
		return fd;
	if (only_root_writes(path, &st))
		return fd;
	out = mo_safe_copy(fd, (uint64_t)st.st_size, NULL);
	close(fd);
	return out;
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
	*dst = strndup(src, MO_SYMFILE_MAX_NAME);
	return *dst ? 0 : -ENOMEM;
}

/* The inlined call site of scope: file and line in the caller. */
static int call_site(Dwarf_Die *cu, Dwarf_Die *scope, struct mo_symframe *caller)
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
static int resolve(struct symfile *f, uint64_t vaddr, struct mo_symframe **out, size_t *nout)
{
	Dwarf_Addr a = vaddr + f->bias, cubias = 0;
	Dwarf_Die *cu, scopes[MAX_SCOPES], *sub = NULL;
	struct mo_symframe *frames;
	GElf_Off symoff = 0;
	GElf_Sym sym;
	Dwfl_Line *dl;
	const char *name, *file = NULL;
	size_t ninl = 0, k = 0;
	int nscopes = 0, line = 0, err;

	name = dwfl_module_addrinfo(f->dmod, a, &symoff, &sym, NULL, NULL, NULL);
	cu = f->no_dwarf ? NULL : dwfl_module_addrdie(f->dmod, a, &cubias);
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

	frames = calloc(ninl + 1, sizeof(*frames));
	if (!frames)
		return -ENOMEM;

	dl = f->no_dwarf ? NULL : dwfl_module_getsrc(f->dmod, a);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	err = dup_str(&frames[0].file, file);
	frames[0].line = file ? line : 0;

	for (int i = 0; !err && i < nscopes; i++) {
		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		frames[k].inlined = true;
		err = dup_str(&frames[k].symbol, die_name(&scopes[i]));
		if (!err)
			err = call_site(cu, &scopes[i], &frames[k + 1]);
		k++;
	}
	if (!err) {
		if (name) {
			frames[ninl].offset = symoff;
		} else if (sub) {
			Dwarf_Addr low;

			name = die_name(sub);
			if (dwarf_lowpc(sub, &low) == 0 && a - cubias >= low)
				frames[ninl].offset = a - cubias - low;
		}
		err = dup_str(&frames[ninl].symbol, name);
	}
	if (err) {
		mo_symframes_free(frames, ninl + 1);
		return err;
	}
	*out = frames;
	*nout = ninl + 1;
	return 0;
}

char *mo_demangle(const char *name)
{
	char *d;

	/* Itanium C++ (_Z), Rust legacy (_ZN...17h<hash>E) and v0 (_R). */
	if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R') ||
	    strnlen(name, MO_DEMANGLE_MAX + 1) > MO_DEMANGLE_MAX)
		return NULL;
	/* libiberty bounds its recursion, so a hostile name cannot
	 * exhaust the stack; DMGL_PARAMS: argument types, as c++filt */
	d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	if (d && strlen(d) > MO_DEMANGLE_MAX) {
		free(d);
		return NULL;
	}
	return d;
}

int mo_symfiles_lookup(struct mo_symfiles *fs, uint32_t handle, uint64_t vaddr,
		       struct mo_symframe **frames, size_t *n)
{
	struct symfile *f = fs ? get_file(fs, handle) : NULL;
	int err;

	*frames = NULL;
	*n = 0;
	if (!f || !f->dmod)
		return -ENOENT;
	err = resolve(f, vaddr, frames, n);
	/* names are demangled here, by whoever parses the file (the
	 * confined parser when there is one): the demangler reads the
	 * file's bytes as much as libdw does */
	for (size_t i = 0; !err && i < *n; i++) {
		struct mo_symframe *sf = &(*frames)[i];
		char *d = mo_demangle(sf->symbol);

		if (d) {
			sf->linkage = sf->symbol;
			sf->symbol = d;
		}
	}
	return err;
}
