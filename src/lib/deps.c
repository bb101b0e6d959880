// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * deps.c - resolve a program's shared-library closure like ld.so does
 * (without ld.so.cache: the directories it is built from are searched).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "safefile.h"

#define MAX_DEPS 512

static const char *const std_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib", "/usr/local/lib",
};

struct names {
	size_t n, cap;
	char **v;
};

static int push(struct names *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static bool has(const struct names *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static void release(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Its PT_INTERP into interp ("" when none). */
static void read_interp(Elf *e, char *interp, size_t len)
{
	size_t n = 0, size;
	const char *img;

	interp[0] = '\0';
	if (elf_getphdrnum(e, &n))
		return;
	img = elf_rawfile(e, &size);
	for (size_t i = 0; img && i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
			continue;
		if (ph.p_offset < size && ph.p_filesz <= size - ph.p_offset && ph.p_filesz)
			snprintf(interp, len, "%.*s", (int)ph.p_filesz, img + ph.p_offset);
	}
}

/* Append path's DT_NEEDED names to needed and its run paths to dirs; the
 * program interpreter into interp when asked. */
static void read_dynamic(const char *path, struct names *needed, struct names *dirs,
			 char *interp, size_t interp_len)
{
	int fd = mo_safe_open(path, NULL, 0, NULL);
	Elf_Scn *scn = NULL;
	Elf *e;

	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && interp)
		read_interp(e, interp, interp_len);
	while (e && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Dyn dyn;
			const char *s;

			if (!gelf_getdyn(d, (int)i, &dyn))
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH &&
			    dyn.d_tag != DT_RPATH)
				continue;
			s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!s)
				continue;
			if (dyn.d_tag == DT_NEEDED) {
				if (needed->n < MAX_DEPS)
					push(needed, s);
			} else if (dirs && !strstr(s, "$ORIGIN")) {
				/* colon-separated list */
				char *copy = strdup(s), *save = NULL;

				for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t;
				     t = strtok_r(NULL, ":", &save))
					push(dirs, t);
				free(copy);
			}
		}
	}
	if (e)
		elf_end(e);
	close(fd);
}

/* musl's dynamic linker is its C library: a program's DT_NEEDED "libc.so"
 * is the interpreter itself, not a file in the library path. */
static bool musl_libc(const char *name, const char *interp)
{
	const char *base = strrchr(interp, '/');

	return strncmp(base ? base + 1 : interp, "ld-musl", 7) == 0 &&
	       (strcmp(name, "libc.so") == 0 || strncmp(name, "ld-musl", 7) == 0);
}

static bool find_lib(const char *name, const struct names *dirs, const char *interp, char *out,
		     size_t len)
{
	if (musl_libc(name, interp)) {
		snprintf(out, len, "%s", interp);
		return faccessat(AT_FDCWD, out, R_OK, AT_EACCESS) == 0;
	}
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return faccessat(AT_FDCWD, out, R_OK, AT_EACCESS) == 0;
	}
	for (size_t i = 0; i < dirs->n; i++) {
		snprintf(out, len, "%s/%s", dirs->v[i], name);
		if (faccessat(AT_FDCWD, out, R_OK, AT_EACCESS) == 0)
			return true;
	}
	for (size_t i = 0; i < sizeof(std_dirs) / sizeof(std_dirs[0]); i++) {
		snprintf(out, len, "%s/%s", std_dirs[i], name);
		if (faccessat(AT_FDCWD, out, R_OK, AT_EACCESS) == 0)
			return true;
	}
	return false;
}

static void split_env(const char *var, const char *seps, struct names *out)
{
	const char *v = getenv(var);
	char *copy, *save = NULL;

	if (!v || !*v)
		return;
	copy = strdup(v);
	for (char *t = copy ? strtok_r(copy, seps, &save) : NULL; t; t = strtok_r(NULL, seps, &save))
		push(out, t);
	free(copy);
}

/* A script's interpreter ("#!/usr/bin/env bash" gives /usr/bin/env) into
 * out; false for anything else. */
static bool script_interpreter(const char *path, char *out, size_t len)
{
	char line[PATH_MAX + 3];
	int fd = mo_safe_open(path, NULL, 0, NULL);
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
	bool ok = false;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (fgets(line, sizeof(line), f) && line[0] == '#' && line[1] == '!') {
		const char *s = line + 2 + strspn(line + 2, " \t");
		size_t n = strcspn(s, " \t\r\n");

		if (n && n < len && s[0] == '/') {
			snprintf(out, len, "%.*s", (int)n, s);
			ok = true;
		}
	}
	fclose(f);
	return ok;
}

int mo_deps_resolve(const char *exe, struct mo_deps *out)
{
	struct names dirs = { 0 }, queue = { 0 }, res = { 0 }, preload = { 0 };
	char p[PATH_MAX], interp[PATH_MAX] = "", prog[PATH_MAX];

	memset(out, 0, sizeof(*out));
	if (faccessat(AT_FDCWD, exe, R_OK, AT_EACCESS))
		return -errno;
	/* the kernel runs a script's interpreter (at most 4 levels deep) */
	snprintf(prog, sizeof(prog), "%s", exe);
	for (int depth = 0; depth < 4 && script_interpreter(prog, p, sizeof(p)); depth++)
		snprintf(prog, sizeof(prog), "%s", p);
	exe = prog;
	out->exe = strdup(exe);
	if (!out->exe)
		return -ENOMEM;
	split_env("LD_LIBRARY_PATH", ":;", &dirs);
	split_env("LD_PRELOAD", ": ", &preload);
	for (size_t i = 0; i < preload.n; i++)
		if (find_lib(preload.v[i], &dirs, interp, p, sizeof(p)) && !has(&res, p))
			push(&res, p);
	push(&res, exe);
	read_dynamic(exe, &queue, &dirs, interp, sizeof(interp));
	for (size_t i = 0; i < queue.n && res.n < MAX_DEPS; i++) {
		if (!find_lib(queue.v[i], &dirs, interp, p, sizeof(p)) || has(&res, p))
			continue;
		push(&res, p);
		read_dynamic(p, &queue, NULL, NULL, 0);
	}
	release(&dirs);
	release(&queue);
	release(&preload);
	out->nr = res.n;
	out->paths = res.v;
	return 0;
}

void mo_deps_release(struct mo_deps *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr; i++)
		free(d->paths[i]);
	free(d->paths);
	free(d->exe);
	memset(d, 0, sizeof(*d));
}
