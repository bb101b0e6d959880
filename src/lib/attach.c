// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * attach.c - allocator discovery and uprobe attachment.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const struct {
	const char *name;
	enum mo_fn fn;
} alloc_fns[] = {
	{ "malloc", MO_FN_MALLOC },
	{ "calloc", MO_FN_CALLOC },
	{ "realloc", MO_FN_REALLOC },
	{ "reallocarray", MO_FN_REALLOCARRAY },
	{ "posix_memalign", MO_FN_POSIX_MEMALIGN },
	{ "aligned_alloc", MO_FN_ALIGNED_ALLOC },
	{ "memalign", MO_FN_MEMALIGN },
	{ "valloc", MO_FN_VALLOC },
	{ "pvalloc", MO_FN_PVALLOC },
	{ "free", MO_FN_FREE },
};
#define NFNS (sizeof(alloc_fns) / sizeof(alloc_fns[0]))

void mo_links_init(struct mo_links *ls)
{
	memset(ls, 0, sizeof(*ls));
}

void mo_links_release(struct mo_links *ls)
{
	for (size_t i = 0; i < ls->nr; i++) {
		bpf_link__destroy(ls->l[i].link);
		if (ls->l[i].fd >= 0)
			close(ls->l[i].fd);
		free(ls->l[i].path);
	}
	free(ls->l);
	memset(ls, 0, sizeof(*ls));
}

bool mo_links_has(const struct mo_links *ls, const char *path, pid_t pid)
{
	for (size_t i = 0; i < ls->nr; i++)
		if (ls->l[i].pid == pid && strcmp(ls->l[i].path, path) == 0)
			return true;
	return false;
}

static int links_add(struct mo_links *ls, struct bpf_link *link, int fd, const char *path,
		     pid_t pid)
{
	if (ls->nr == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 16;
		void *n = realloc(ls->l, cap * sizeof(*ls->l));

		if (!n)
			return -ENOMEM;
		ls->l = n;
		ls->cap = cap;
	}
	ls->l[ls->nr].link = link;
	ls->l[ls->nr].fd = fd;
	ls->l[ls->nr].pid = pid;
	ls->l[ls->nr].path = strdup(path);
	if (!ls->l[ls->nr].path)
		return -ENOMEM;
	ls->nr++;
	return 0;
}

static bool defines_malloc(const char *path)
{
	struct mo_elf_func f = { .name = "malloc" };

	return mo_elf_find_funcs(path, &f, 1) == 1 && f.found;
}

static bool is_libc(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0 ||
	       strncmp(base, "ld-musl", 7) == 0;
}

int mo_allocator_find(pid_t pid, char *path, size_t len)
{
	struct mo_maps maps = { 0 };
	const char *exe = NULL, *lib = NULL, *libc = NULL;
	char root[64];
	int err;

	err = mo_procmaps_read(pid ? pid : getpid(), &maps);
	if (err)
		return err;
	snprintf(root, sizeof(root), "/proc/%d/root", pid ? (int)pid : (int)getpid());
	for (size_t i = 0; i < maps.nr; i++) {
		const struct mo_map *m = &maps.maps[i];
		char p[PATH_MAX + 64];

		if (!m->x || !m->path || m->path[0] != '/')
			continue;
		snprintf(p, sizeof(p), "%s%s", root, m->path);
		if (!exe) {
			/* the first executable mapping is the program itself */
			exe = m->path;
			if (defines_malloc(p)) {
				snprintf(path, len, "%s", p);
				mo_maps_release(&maps);
				return 0;
			}
			continue;
		}
		if (is_libc(m->path)) {
			if (!libc && defines_malloc(p))
				libc = m->path;
		} else if (!lib && strstr(m->path, "ld-linux") == NULL && defines_malloc(p)) {
			lib = m->path;
		}
	}
	err = -ENOENT;
	if (lib || libc) {
		snprintf(path, len, "%s%s", root, lib ? lib : libc);
		err = 0;
	}
	mo_maps_release(&maps);
	return err;
}

int mo_allocator_find_exe(const char *exe, char *path, size_t len)
{
	struct mo_deps d;
	int err = -ENOENT;

	/* the first object in lookup order that defines malloc wins, as
	 * in the dynamic linker */
	err = mo_deps_resolve(exe, &d);
	if (err)
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < d.nr && err; i++) {
		if (strstr(d.paths[i], "ld-linux") || !defines_malloc(d.paths[i]))
			continue;
		snprintf(path, len, "%s", d.paths[i]);
		err = 0;
	}
	mo_deps_release(&d);
	return err;
}

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

int mo_attach_allocator(struct mo_links *ls, const struct mo_attach_progs *progs,
			const char *path, pid_t pid, char *err, size_t errlen)
{
	struct mo_elf_func f[NFNS];
	unsigned long offsets[NFNS];
	__u64 cookies[NFNS];
	size_t n = 0, first_link = ls->nr, i = 0;
	int ret;

	memset(f, 0, sizeof(f));
	for (size_t i = 0; i < NFNS; i++)
		f[i].name = alloc_fns[i].name;
	ret = mo_elf_find_funcs(path, f, NFNS);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read allocator module '%s': %s", path,
			 strerror(-ret));
		return ret;
	}
	if (!f[0].found || !f[NFNS - 1].found) {
		snprintf(err, errlen,
			 "allocator module '%s' exports no '%s' symbol: memobserver hooks "
			 "allocators that export the malloc family",
			 path, f[0].found ? "free" : "malloc");
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
		mo_probe_site_pick(f[i].code, f[i].code_len, &site);
		offsets[n] = f[i].file_offset + site.offset;
		cookies[n] = alloc_fns[i].fn;
		n++;
	}

	if (progs->session) {
		int fd = link_create_multi(bpf_program__fd(progs->session_prog),
					   MO_BPF_TRACE_UPROBE_SESSION, path, offsets, cookies,
					   (__u32)n, pid);

		if (fd < 0) {
			snprintf(err, errlen, "cannot attach session uprobes to '%s': %s", path,
				 strerror(-fd));
			return fd;
		}
		ret = links_add(ls, NULL, fd, path, pid);
		if (ret) {
			close(fd);
			return ret;
		}
		ls->probes += n;
		return (int)n;
	}

	for (i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookies[i]);
		struct bpf_link *l;

		l = bpf_program__attach_uprobe_opts(progs->enter, pid ? pid : -1, path,
						    offsets[i], &o);
		if (!l)
			goto fail;
		if (links_add(ls, l, -1, path, pid)) {
			bpf_link__destroy(l);
			goto fail;
		}
		if (cookies[i] == MO_FN_FREE)
			continue;
		o.retprobe = true;
		/* the site keeps sp at the return address, so the return
		 * probe may share it */
		l = bpf_program__attach_uprobe_opts(progs->exit, pid ? pid : -1, path,
						    offsets[i], &o);
		if (!l)
			goto fail;
		if (links_add(ls, l, -1, path, pid)) {
			bpf_link__destroy(l);
			goto fail;
		}
	}
	ls->probes += n;
	return (int)n;
fail:
	ret = -errno;
	snprintf(err, errlen, "cannot attach uprobe to '%s' at offset %#lx: %s", path,
		 offsets[i < n ? i : 0], strerror(errno));
	while (ls->nr > first_link) {
		ls->nr--;
		bpf_link__destroy(ls->l[ls->nr].link);
		free(ls->l[ls->nr].path);
	}
	return ret ? ret : -EINVAL;
}
