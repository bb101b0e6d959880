// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * attach.c - allocator discovery and uprobe attachment.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "abi.h"
#include "attach.h"
#include "deps.h"
#include "elfsym.h"
#include "probesite.h"
#include "procmaps.h"
#include "safefile.h"
#include "util.h"

/*
 * Every entry point that allocates or frees, with the argument convention it
 * shares with a C function (the probe cookie): mallocx and operator new take
 * the size first like malloc, rallocx is realloc, sdallocx, dallocx and
 * every operator delete free their first argument. Prefixed entries take
 * --symbol-prefix (jemalloc's je_ builds); C++ operators never do. The
 * operators matter where the allocator defines them itself (jemalloc,
 * tcmalloc): their fast path does not go through malloc.
 */
static const struct {
	const char *name;
	enum mo_fn fn;
	bool prefixed;
} alloc_fns[] = {
	{ "malloc", MO_FN_MALLOC, true },
	{ "calloc", MO_FN_CALLOC, true },
	{ "realloc", MO_FN_REALLOC, true },
	{ "reallocarray", MO_FN_REALLOCARRAY, true },
	{ "posix_memalign", MO_FN_POSIX_MEMALIGN, true },
	{ "aligned_alloc", MO_FN_ALIGNED_ALLOC, true },
	{ "memalign", MO_FN_MEMALIGN, true },
	{ "valloc", MO_FN_VALLOC, true },
	{ "pvalloc", MO_FN_PVALLOC, true },
	{ "free", MO_FN_FREE, true },
	/* jemalloc's non-standard API */
	{ "mallocx", MO_FN_MALLOC, true },
	{ "rallocx", MO_FN_REALLOC, true },
	{ "sdallocx", MO_FN_FREE, true },
	{ "dallocx", MO_FN_FREE, true },
	/* C++ operators new and delete, plain, nothrow, aligned and sized */
	{ "_Znwm", MO_FN_MALLOC, false },
	{ "_Znam", MO_FN_MALLOC, false },
	{ "_ZnwmRKSt9nothrow_t", MO_FN_MALLOC, false },
	{ "_ZnamRKSt9nothrow_t", MO_FN_MALLOC, false },
	{ "_ZnwmSt11align_val_t", MO_FN_MALLOC, false },
	{ "_ZnamSt11align_val_t", MO_FN_MALLOC, false },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", MO_FN_MALLOC, false },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", MO_FN_MALLOC, false },
	{ "_ZdlPv", MO_FN_FREE, false },
	{ "_ZdaPv", MO_FN_FREE, false },
	{ "_ZdlPvm", MO_FN_FREE, false },
	{ "_ZdaPvm", MO_FN_FREE, false },
	{ "_ZdlPvRKSt9nothrow_t", MO_FN_FREE, false },
	{ "_ZdaPvRKSt9nothrow_t", MO_FN_FREE, false },
	{ "_ZdlPvSt11align_val_t", MO_FN_FREE, false },
	{ "_ZdaPvSt11align_val_t", MO_FN_FREE, false },
	{ "_ZdlPvmSt11align_val_t", MO_FN_FREE, false },
	{ "_ZdaPvmSt11align_val_t", MO_FN_FREE, false },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", MO_FN_FREE, false },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", MO_FN_FREE, false },
};
#define FN_MALLOC_IDX 0
#define FN_FREE_IDX 9
#define FN_MALLOCX_IDX 10
#define NFNS (sizeof(alloc_fns) / sizeof(alloc_fns[0]))

void mo_links_init(struct mo_links *ls)
{
	memset(ls, 0, sizeof(*ls));
}

static void link_free(typeof(((struct mo_links *)0)->l[0]) *l)
{
	bpf_link__destroy(l->link);
	if (l->fd >= 0)
		close(l->fd);
	if (l->file_fd >= 0)
		close(l->file_fd);
	free(l->path);
	free(l->offsets);
	free(l->cookies);
}

void mo_links_release(struct mo_links *ls)
{
	for (size_t i = 0; i < ls->nr; i++)
		link_free(&ls->l[i]);
	free(ls->l);
	memset(ls, 0, sizeof(*ls));
}

size_t mo_links_release_pid(struct mo_links *ls, pid_t pid)
{
	size_t kept = 0, released = 0;

	for (size_t i = 0; i < ls->nr; i++) {
		if (ls->l[i].pid != pid) {
			ls->l[kept++] = ls->l[i];
			continue;
		}
		bpf_link__destroy(ls->l[i].link);
		if (ls->l[i].fd >= 0)
			close(ls->l[i].fd);
		free(ls->l[i].path);
		free(ls->l[i].offsets);
		free(ls->l[i].cookies);
		released++;
	}
	ls->nr = kept;
	return released;
}

bool mo_links_has(const struct mo_links *ls, const struct mo_allocator *a, pid_t pid)
{
	for (size_t i = 0; i < ls->nr; i++)
		if (ls->l[i].pid == pid && ls->l[i].dev == a->dev && ls->l[i].ino == a->ino)
			return true;
	return false;
}

void mo_allocator_close(struct mo_allocator *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

static int links_add(struct mo_links *ls, struct bpf_link *link, int fd,
		     const struct mo_allocator *a, pid_t pid)
{
	if (ls->nr == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 16;
		void *n = realloc(ls->l, cap * sizeof(*ls->l));

		if (!n)
			return -ENOMEM;
		ls->l = n;
		ls->cap = cap;
	}
	memset(&ls->l[ls->nr], 0, sizeof(ls->l[0]));
	ls->l[ls->nr].link = link;
	ls->l[ls->nr].fd = fd;
	ls->l[ls->nr].file_fd = -1;
	ls->l[ls->nr].pid = pid;
	ls->l[ls->nr].path = strdup(a->path);
	if (!ls->l[ls->nr].path)
		return -ENOMEM;
	ls->l[ls->nr].dev = a->dev;
	ls->l[ls->nr].ino = a->ino;
	ls->nr++;
	return 0;
}

/*
 * Prefixes tried when the user gave none, for an object that defines no
 * plain malloc/free: jemalloc built with --with-jemalloc-prefix=je_ (as
 * redis bundles it), mimalloc built without overriding malloc (mi_),
 * gperftools' tc_ entry points. A plain malloc in the same object wins.
 */
static const struct {
	const char *prefix;
	const char *allocator;
} auto_prefixes[] = {
	{ "je_", "jemalloc" },
	{ "mi_", "mimalloc" },
	{ "tc_", "tcmalloc" },
};
#define NAUTO (sizeof(auto_prefixes) / sizeof(auto_prefixes[0]))

static struct mo_hook reader = MO_HOOK_INIT;	/* a mo_funcs_reader_fn */

void mo_attach_set_reader(mo_funcs_reader_fn fn, void *ctx)
{
	mo_hook_set(&reader, (mo_hook_fn)fn, ctx);
}

void *mo_attach_reader_ctx(void)
{
	void *ctx;

	mo_hook_get(&reader, NULL, &ctx);
	return ctx;
}

/* The file's functions, through the reader set (the file is the traced
 * user's: a static program is its own allocator). */
static int find_funcs(int fd, struct mo_elf_func *f, size_t n)
{
	mo_hook_fn fn;
	void *ctx;

	mo_hook_get(&reader, &fn, &ctx);
	return fn ? ((mo_funcs_reader_fn)fn)(ctx, fd, f, n) : mo_elf_find_funcs_fd(fd, f, n);
}

/* A reader's failure that says nothing about the file. */
static bool transient(int err)
{
	return err == -EAGAIN || err == -ENOMEM;
}

/* The reader could not answer (its parser died, hung, lied or is being
 * restarted): no choice of allocator can be made without that file. */
static bool reader_failed(int err)
{
	return err == -ECHILD || err == -EAGAIN;
}

const char *mo_attach_strerror(int err)
{
	if (err == -ECHILD)
		return "the parser process failed reading its symbols (it died, did not answer "
		       "or sent a malformed reply)";
	if (err == -EAGAIN)
		return "no parser process to read its symbols now (restarting after failures)";
	return strerror(-err);
}

/* The symbol names of the table with prefix (NULL: none) applied. */
static void fn_names(const char *prefix, struct mo_elf_func *f, char (*names)[96])
{
	for (size_t i = 0; i < NFNS; i++) {
		snprintf(names[i], sizeof(names[i]), "%s%s",
			 alloc_fns[i].prefixed && prefix ? prefix : "", alloc_fns[i].name);
		f[i].name = names[i];
	}
}

/*
 * Reading a module's symbols costs a few milliseconds; system-wide every
 * exec asks again for the same few files. Results are cached by file
 * identity (device, inode, size, mtime) and prefix.
 */
struct probe_cache_entry {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char prefix[33];
	int err;
	uint64_t failed_ns;	/* a reader failure: when (asked again later) */
	struct mo_allocator_candidate c;	/* only the probe_module fields */
};

/* A file the parser failed on (it died, hung or lied) is not asked again
 * at every exec that maps it (a hostile file would kill parser after
 * parser), but is after this: the parser may have died of something else. */
static uint64_t reader_retry_ns = 600ULL * 1000000000ULL;

void mo_attach_set_reader_retry(uint64_t ns)
{
	__atomic_store_n(&reader_retry_ns, ns, __ATOMIC_RELAXED);
}

static struct {
	pthread_mutex_t lock;
	struct probe_cache_entry e[256];
	unsigned n, next;
} probe_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int probe_module_uncached(int fd, const char *prefix, struct mo_allocator_candidate *c);

static void copy_probe(struct mo_allocator_candidate *to, const struct mo_allocator_candidate *from)
{
	to->has_malloc = from->has_malloc;
	to->has_free = from->has_free;
	to->cxx_operators = from->cxx_operators;
	to->jemalloc_api = from->jemalloc_api;
	to->entry_points = from->entry_points;
	to->prefix = from->prefix;
	to->prefixed_allocator = from->prefixed_allocator;
}

/* What the object open at fd offers: which allocator entry points it defines. */
static int probe_module(int fd, const char *prefix, struct mo_allocator_candidate *c)
{
	struct probe_cache_entry *hit = NULL, *slot;
	struct stat st;
	uint64_t now = mo_clock_ns(CLOCK_MONOTONIC);
	int err, stale = -1;

	if (fstat(fd, &st))
		return -errno;
	pthread_mutex_lock(&probe_cache.lock);
	for (unsigned i = 0; i < probe_cache.n && !hit; i++) {
		struct probe_cache_entry *e = &probe_cache.e[i];

		if (e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
		    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec &&
		    strcmp(e->prefix, prefix ? prefix : "") == 0) {
			if (e->failed_ns &&
			    now - e->failed_ns >= __atomic_load_n(&reader_retry_ns, __ATOMIC_RELAXED))
				stale = (int)i;	/* asked again, answered here */
			else
				hit = e;
		}
	}
	if (hit) {
		err = hit->err;
		copy_probe(c, &hit->c);
		pthread_mutex_unlock(&probe_cache.lock);
		return err;
	}
	pthread_mutex_unlock(&probe_cache.lock);
	err = probe_module_uncached(fd, prefix, c);
	if (transient(err))
		return err;
	pthread_mutex_lock(&probe_cache.lock);
	if (stale >= 0) {
		slot = &probe_cache.e[stale];
	} else {
		slot = &probe_cache.e[probe_cache.next];
		probe_cache.next = (probe_cache.next + 1) % 256;
		if (probe_cache.n < 256)
			probe_cache.n++;
	}
	slot->dev = st.st_dev;
	slot->ino = st.st_ino;
	slot->size = st.st_size;
	slot->mtime = st.st_mtim;
	snprintf(slot->prefix, sizeof(slot->prefix), "%s", prefix ? prefix : "");
	slot->err = err;
	slot->failed_ns = reader_failed(err) ? (now ? now : 1) : 0;
	memset(&slot->c, 0, sizeof(slot->c));
	if (!err)
		copy_probe(&slot->c, c);
	pthread_mutex_unlock(&probe_cache.lock);
	return err;
}

/* Without a prefix from the user, one pass looks up the plain names and
 * every auto prefix's names: block 0 plain, block 1 + k auto_prefixes[k]. */
static int probe_module_uncached(int fd, const char *prefix, struct mo_allocator_candidate *c)
{
	size_t blocks = prefix ? 1 : 1 + NAUTO, b;
	struct mo_elf_func f[(1 + NAUTO) * NFNS];
	char names[(1 + NAUTO) * NFNS][96];
	const struct mo_elf_func *use;
	int r;

	memset(f, 0, sizeof(f));
	fn_names(prefix, f, names);
	for (b = 1; b < blocks; b++) {
		fn_names(auto_prefixes[b - 1].prefix, f + b * NFNS, names + b * NFNS);
		/* the C++ operators are never prefixed: block 0 has them */
		for (size_t i = 0; i < NFNS; i++)
			if (!alloc_fns[i].prefixed)
				f[b * NFNS + i].name = NULL;
	}
	r = find_funcs(fd, f, blocks * NFNS);
	if (r < 0)
		return r;
	for (b = 0; b < blocks; b++)
		if (f[b * NFNS + FN_MALLOC_IDX].found && f[b * NFNS + FN_FREE_IDX].found)
			break;
	if (b == blocks)
		b = 0;
	use = f + b * NFNS;
	c->prefix = b ? auto_prefixes[b - 1].prefix : NULL;
	c->prefixed_allocator = b ? auto_prefixes[b - 1].allocator : NULL;
	c->has_malloc = use[FN_MALLOC_IDX].found;
	c->has_free = use[FN_FREE_IDX].found;
	c->entry_points = 0;
	c->cxx_operators = false;
	c->jemalloc_api = use[FN_MALLOCX_IDX].found;
	for (size_t i = 0; i < NFNS; i++) {
		if (!(alloc_fns[i].prefixed ? use[i].found : f[i].found))
			continue;
		c->entry_points++;
		if (!alloc_fns[i].prefixed)
			c->cxx_operators = true;
	}
	return 0;
}

static bool is_libc(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0 ||
	       strncmp(base, "ld-musl", 7) == 0;
}

static bool is_loader(const char *path)
{
	return strstr(path, "/ld-linux") != NULL;
}

/*
 * Which allocator object wins, lowest first: the program's own malloc, the
 * program's prefixed one (its own calls go there), another library's malloc
 * (linked or preloaded: it interposes the C library's), a library's
 * prefixed one (the program links it to call it), the C library. -1: the
 * object defines no allocator.
 */
enum { RANK_EXE, RANK_EXE_PREFIXED, RANK_LIB, RANK_LIB_PREFIXED, RANK_LIBC, NRANKS };

static int allocator_rank(const struct mo_allocator_candidate *c, bool exe, bool libc)
{
	if (!c->has_malloc || !c->has_free)
		return -1;
	if (exe)
		return c->prefix ? RANK_EXE_PREFIXED : RANK_EXE;
	if (libc && !c->prefix)
		return RANK_LIBC;
	return c->prefix ? RANK_LIB_PREFIXED : RANK_LIB;
}

static void explain(struct mo_allocator_candidate *c, int rank)
{
	const char *p = c->prefix ? c->prefix : "";

	switch (rank) {
	case RANK_EXE:
		snprintf(c->why, sizeof(c->why),
			 "the program defines malloc itself (static or custom)");
		break;
	case RANK_EXE_PREFIXED:
	case RANK_LIB_PREFIXED:
		snprintf(c->why, sizeof(c->why),
			 "%s defines %smalloc and %sfree (%s built with the symbol prefix '%s'), "
			 "the program's own allocator; the C library's plain malloc is not probed "
			 "(--allocator-lib forces it)",
			 rank == RANK_EXE_PREFIXED ? "the program" : "a library", p, p,
			 c->prefixed_allocator, p);
		break;
	case RANK_LIB:
		snprintf(c->why, sizeof(c->why),
			 "a library defining malloc comes before the C library");
		break;
	default:
		snprintf(c->why, sizeof(c->why),
			 "the C library's malloc: no other object defines it");
	}
}

int mo_allocator_list(pid_t pid, const char *prefix, struct mo_allocator_candidate **out,
		      size_t *nout)
{
	struct mo_maps maps = { 0 };
	struct mo_allocator_candidate *c = NULL;
	size_t n = 0;
	ssize_t best[NRANKS], chosen = -1;
	char root[64];
	int err, rank = -1;

	*out = NULL;
	*nout = 0;
	for (int k = 0; k < NRANKS; k++)
		best[k] = -1;
	err = mo_procmaps_read(pid ? pid : getpid(), &maps);
	if (err)
		return err;
	snprintf(root, sizeof(root), "/proc/%d/root", pid ? (int)pid : (int)getpid());
	c = calloc(maps.nr ? maps.nr : 1, sizeof(*c));
	if (!c) {
		mo_maps_release(&maps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < maps.nr; i++) {
		const struct mo_map *m = &maps.maps[i];
		bool dup = false, first = n == 0;
		int r, fd;

		/* a memfd has no path: a program run from one (a sealed copy
		 * of itself, as container runtimes do) is not probed */
		if (!m->x || !m->path || m->path[0] != '/' || is_loader(m->path) ||
		    strncmp(m->path, "/memfd:", 7) == 0)
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(c[j].map_path, m->path) == 0;
		if (dup)
			continue;
		snprintf(c[n].map_path, sizeof(c[n].map_path), "%s", m->path);
		snprintf(c[n].path, sizeof(c[n].path), "%s%s", root, m->path);
		c[n].map_start = m->start;
		c[n].map_end = m->end;
		c[n].dev_major = m->dev_major;
		c[n].dev_minor = m->dev_minor;
		c[n].ino = m->inode;
		c[n].deleted = m->deleted;
		fd = mo_safe_open_mapping(pid ? pid : getpid(), m, NULL, 0, NULL);
		if (fd < 0)
			continue;
		r = probe_module(fd, prefix, &c[n]);
		close(fd);
		if (reader_failed(r)) {
			free(c);
			mo_maps_release(&maps);
			return r;
		}
		if (r)
			continue;
		/* the first executable mapping is the program itself */
		c[n].role = first ? "executable" : is_libc(m->path) ? "C library" : "library";
		r = allocator_rank(&c[n], first, is_libc(m->path));
		if (r >= 0 && best[r] < 0)
			best[r] = (ssize_t)n;
		n++;
	}
	mo_maps_release(&maps);
	for (int k = 0; k < NRANKS && chosen < 0; k++)
		if (best[k] >= 0) {
			chosen = best[k];
			rank = k;
		}
	if (chosen >= 0) {
		c[chosen].chosen = true;
		explain(&c[chosen], rank);
	}
	*out = c;
	*nout = n;
	return chosen >= 0 ? 0 : -ENOENT;
}

/* Takes fd over. */
static int allocator_set(struct mo_allocator *a, int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return err;
	}
	a->fd = fd;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	snprintf(a->path, sizeof(a->path), "%s", path);
	return 0;
}

int mo_allocator_open(pid_t pid, const char *prefix, struct mo_allocator *a)
{
	struct mo_allocator_candidate *c;
	size_t n;
	int err, fd;

	a->fd = -1;
	err = mo_allocator_list(pid, prefix, &c, &n);
	for (size_t i = 0; !err && i < n; i++) {
		struct mo_map m = {
			.start = c[i].map_start,
			.end = c[i].map_end,
			.dev_major = c[i].dev_major,
			.dev_minor = c[i].dev_minor,
			.inode = c[i].ino,
			.deleted = c[i].deleted,
			.path = c[i].map_path,
		};

		if (!c[i].chosen)
			continue;
		/* the mapping's inode again, not whatever its path names now */
		fd = mo_safe_open_mapping(pid ? pid : getpid(), &m, NULL, 0, NULL);
		err = fd < 0 ? fd : allocator_set(a, fd, c[i].path);
	}
	free(c);
	return err;
}

int mo_allocator_open_path(const char *path, struct mo_allocator *a)
{
	int fd = mo_safe_open(path, NULL, 0, NULL);

	a->fd = -1;
	return fd < 0 ? fd : allocator_set(a, fd, path);
}

int mo_allocator_open_exe(const char *exe, const char *prefix, struct mo_allocator *a)
{
	struct mo_deps d;
	int err, best = NRANKS;

	/* as mo_allocator_list; among equals the first object in the dynamic
	 * linker's lookup order wins, as in the dynamic linker */
	a->fd = -1;
	err = mo_deps_resolve(exe, &d);
	if (err)
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < d.nr; i++) {
		struct mo_allocator_candidate c;
		int r, fd;

		if (is_loader(d.paths[i]))
			continue;
		fd = mo_safe_open(d.paths[i], NULL, 0, NULL);
		if (fd < 0)
			continue;
		r = probe_module(fd, prefix, &c);
		if (reader_failed(r)) {
			close(fd);
			err = r;
			break;
		}
		if (r ||
		    (r = allocator_rank(&c, strcmp(d.paths[i], d.exe) == 0,
					is_libc(d.paths[i]))) < 0 ||
		    r >= best) {
			close(fd);
			continue;
		}
		/* the file read is the file attached: keep it open */
		best = r;
		mo_allocator_close(a);
		err = allocator_set(a, fd, d.paths[i]);
	}
	mo_deps_release(&d);
	if (err)
		mo_allocator_close(a);
	return err;
}

/* The kernel refuses a second uprobe at an address where another tool placed
 * one with a different reference counter offset (bcc's memleak does so). */
#define CONFLICT_HINT \
	" (another tracer, such as bcc's memleak, may hold a conflicting uprobe on the same " \
	"function: stop it first)"

/* BPF_LINK_CREATE for uprobe_multi, laid out as the kernel's union bpf_attr. */
struct uprobe_multi_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 um_flags;
	__u32 pid;
	__u32 pad[17];	/* zero up to well past the end of the command */
};

static int link_create_multi(int prog_fd, __u32 attach_type, const char *path,
			     const unsigned long *offsets, const __u64 *cookies, __u32 cnt,
			     pid_t pid)
{
	struct uprobe_multi_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = prog_fd;
	a.attach_type = attach_type;
	a.path = (__u64)(unsigned long)path;
	a.offsets = (__u64)(unsigned long)offsets;
	a.cookies = (__u64)(unsigned long)cookies;
	a.cnt = cnt;
	a.pid = (__u32)pid;
	fd = (int)syscall(__NR_bpf, 28 /* BPF_LINK_CREATE */, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

/* The argument registers the BPF entry program reads for fn: the probe may
 * go after instructions that write only other registers. */
static unsigned live_args(enum mo_fn fn)
{
	switch (fn) {
	case MO_FN_MALLOC:
	case MO_FN_VALLOC:
	case MO_FN_PVALLOC:
	case MO_FN_FREE:
		return MO_ARG_RDI;
	case MO_FN_CALLOC:
	case MO_FN_REALLOC:
	case MO_FN_ALIGNED_ALLOC:
	case MO_FN_MEMALIGN:
		return MO_ARG_RDI | MO_ARG_RSI;
	default:	/* posix_memalign, reallocarray: three */
		return MO_ARG_RDI | MO_ARG_RSI | MO_ARG_RDX;
	}
}

static bool frees_memory(__u64 fn)
{
	return fn == MO_FN_FREE || fn == MO_FN_REALLOC || fn == MO_FN_REALLOCARRAY;
}

static void links_truncate(struct mo_links *ls, size_t nr)
{
	while (ls->nr > nr)
		link_free(&ls->l[--ls->nr]);
}

/* Keep what re-creating a shed link needs: the checked file stays open,
 * so a re-attach names the same inode. */
static int links_keep_args(struct mo_links *ls, int prog_fd, const unsigned long *offsets,
			   const __u64 *cookies, size_t cnt, int file_fd)
{
	typeof(ls->l[0]) *l = &ls->l[ls->nr - 1];

	l->file_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 3);
	if (l->file_fd < 0)
		return -errno;
	l->offsets = malloc(cnt * sizeof(*offsets));
	l->cookies = malloc(cnt * sizeof(*cookies));
	if (!l->offsets || !l->cookies)
		return -ENOMEM;
	memcpy(l->offsets, offsets, cnt * sizeof(*offsets));
	memcpy(l->cookies, cookies, cnt * sizeof(*cookies));
	l->cnt = (unsigned)cnt;
	l->prog_fd = prog_fd;
	l->sheddable = true;
	return 0;
}

/* One session link for every function, or with progs->split two: the
 * allocating functions (which the overhead budget may detach) and the
 * freeing ones (never detached, so no free is missed). */
static int attach_session(struct mo_links *ls, const struct mo_attach_progs *progs,
			  const struct mo_allocator *a, pid_t pid, const unsigned long *offsets,
			  const __u64 *cookies, size_t n, char *err, size_t errlen)
{
	char path[64];
	int prog_fd = bpf_program__fd(progs->session_prog);
	unsigned long off[2][NFNS];
	__u64 ck[2][NFNS];
	size_t cnt[2] = { 0, 0 }, first = ls->nr;

	mo_fd_path(a->fd, path, sizeof(path));
	for (size_t i = 0; i < n; i++) {
		int g = progs->split && !frees_memory(cookies[i]) ? 0 : 1;

		off[g][cnt[g]] = offsets[i];
		ck[g][cnt[g]++] = cookies[i];
	}
	for (int g = 0; g < 2; g++) {
		int fd, ret;

		if (!cnt[g])
			continue;
		fd = link_create_multi(prog_fd, MO_BPF_TRACE_UPROBE_SESSION, path, off[g], ck[g],
				       (__u32)cnt[g], pid);
		if (fd < 0) {
			snprintf(err, errlen, "cannot attach session uprobes to '%s': %s%s",
				 a->path, strerror(-fd), fd == -EINVAL ? CONFLICT_HINT : "");
			links_truncate(ls, first);
			return fd;
		}
		ret = links_add(ls, NULL, fd, a, pid);
		if (ret)
			close(fd);	/* not in ls */
		else if (g == 0)
			ret = links_keep_args(ls, prog_fd, off[g], ck[g], cnt[g], a->fd);
		if (ret) {
			links_truncate(ls, first);
			return ret;
		}
	}
	ls->probes += n;
	return (int)n;
}

int mo_links_shed(struct mo_links *ls, pid_t pid, bool shed)
{
	int changed = 0;

	for (size_t i = 0; i < ls->nr; i++) {
		typeof(ls->l[0]) *l = &ls->l[i];
		char path[64];
		int fd;

		if (!l->sheddable || l->pid != pid || l->shed == shed)
			continue;
		if (shed) {
			close(l->fd);
			l->fd = -1;
		} else {
			mo_fd_path(l->file_fd, path, sizeof(path));
			fd = link_create_multi(l->prog_fd, MO_BPF_TRACE_UPROBE_SESSION, path,
					       l->offsets, (const __u64 *)l->cookies, l->cnt,
					       l->pid);
			if (fd < 0)
				return fd;
			l->fd = fd;
		}
		l->shed = shed;
		changed++;
	}
	return changed;
}

/* One perf-event uprobe (ret: uretprobe) at offset of the file at path. */
static int attach_one(struct mo_links *ls, struct bpf_program *prog, const char *path,
		      unsigned long offset, __u64 cookie, bool ret, const struct mo_allocator *a,
		      pid_t pid)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookie, .retprobe = ret);
	struct bpf_link *l;
	int err;

	l = bpf_program__attach_uprobe_opts(prog, pid ? pid : -1, path, offset, &o);
	if (!l)
		return -errno ? -errno : -EINVAL;
	err = links_add(ls, l, -1, a, pid);
	if (err)
		bpf_link__destroy(l);
	return err;
}

int mo_attach_allocator(struct mo_links *ls, const struct mo_attach_progs *progs,
			const struct mo_allocator *a, pid_t pid, char *err, size_t errlen)
{
	char path[64];
	struct mo_elf_func f[NFNS];
	char names[NFNS][96];
	unsigned long offsets[NFNS];
	__u64 cookies[NFNS];
	size_t n = 0, first_link = ls->nr, i = 0;
	const char *prefix = progs->prefix;
	struct mo_allocator_candidate c;
	int ret;

	/* without --symbol-prefix, a module with only prefixed names (je_malloc)
	 * is probed under its prefix */
	if (a->fd < 0) {
		snprintf(err, errlen, "no allocator module open");
		return -EBADF;
	}
	if (!prefix && probe_module(a->fd, NULL, &c) == 0)
		prefix = c.prefix;
	memset(f, 0, sizeof(f));
	fn_names(prefix, f, names);
	ret = find_funcs(a->fd, f, NFNS);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read allocator module '%s': %s", a->path,
			 mo_attach_strerror(ret));
		return ret;
	}
	if (!f[FN_MALLOC_IDX].found || !f[FN_FREE_IDX].found) {
		snprintf(err, errlen,
			 "allocator module '%s' exports no '%s' symbol: memobserver hooks "
			 "allocators that export the malloc family (je_, mi_ and tc_ "
			 "prefixes are found; for another prefix, give --symbol-prefix)",
			 a->path, f[FN_MALLOC_IDX].found ? names[FN_FREE_IDX] : names[FN_MALLOC_IDX]);
		return -ENOENT;
	}
	for (size_t i = 0; i < NFNS; i++) {
		struct mo_probe_site site;
		bool dup = false;

		if (!f[i].found)
			continue;
		/* aliases (memalign == aligned_alloc in glibc) are probed once */
		for (size_t j = 0; j < i && !dup; j++)
			dup = f[j].found && f[j].file_offset == f[i].file_offset;
		if (dup)
			continue;
		mo_probe_site_pick_args(f[i].code, f[i].code_len, live_args(alloc_fns[i].fn),
					&site);
		offsets[n] = f[i].file_offset + site.offset;
		cookies[n] = alloc_fns[i].fn;
		n++;
	}

	if (progs->session)
		return attach_session(ls, progs, a, pid, offsets, cookies, n, err, errlen);

	/* the kernel resolves this to a->fd's file: the one just read */
	mo_fd_path(a->fd, path, sizeof(path));
	for (i = 0; i < n; i++) {
		/* the return probe first: a call whose entry the entry probe
		 * sees then always returns through the return probe (the
		 * other order leaves a call that entered in between counted
		 * as in flight for the thread's life) */
		if (cookies[i] != MO_FN_FREE) {
			ret = attach_one(ls, progs->exit, path, offsets[i], cookies[i], true, a, pid);
			if (ret)
				goto fail;
		}
		ret = attach_one(ls, progs->enter, path, offsets[i], cookies[i], false, a, pid);
		if (ret)
			goto fail;
	}
	ls->probes += n;
	return (int)n;
fail:
	snprintf(err, errlen, "cannot attach uprobe to '%s' at offset %#lx: %s%s", a->path,
		 offsets[i < n ? i : 0], strerror(-ret), ret == -EINVAL ? CONFLICT_HINT : "");
	links_truncate(ls, first_link);
	return ret;
}
