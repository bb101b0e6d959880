// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* perfmap.c - JIT code names from a runtime's perf map (perfmap.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perfmap.h"
#include "util.h"

static int hex(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end; s++, digits++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (digits >= 16)
			return -1;	/* more than 64 bits */
		v = v << 4 | (uint64_t)d;
	}
	if (!digits)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

/* By start; for the same start, the line written later first (it wins). */
static int entry_cmp(const void *a, const void *b)
{
	const struct mo_perfmap_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->name > y->name ? -1 : x->name < y->name;
}

/*
 * Overlapping entries (code re-compiled over old code): each entry ends
 * where the next one starts, so the lookup is over disjoint ranges and the
 * code written later names the addresses it covers from its start on.
 */
static void disjoin(struct mo_perfmap *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (k && m->e[k - 1].start == m->e[i].start)
			continue;	/* an older line for the same start */
		if (k && m->e[k - 1].start + m->e[k - 1].size > m->e[i].start)
			m->e[k - 1].size = m->e[i].start - m->e[k - 1].start;
		m->e[k++] = m->e[i];
	}
	m->n = k;
}

/* The name from name to eol cut to MO_PERFMAP_NAME_MAX bytes, backing off
 * over at most three continuation bytes so no UTF-8 sequence is split. */
static void cut_name(char *name, char *eol)
{
	char *cut = name + MO_PERFMAP_NAME_MAX;

	if (eol - name <= MO_PERFMAP_NAME_MAX)
		return;
	for (int k = 0; k < 3 && ((unsigned char)*cut & 0xc0) == 0x80; k++)
		cut--;
	*cut = '\0';
}

int mo_perfmap_parse(char *text, size_t len, struct mo_perfmap *out)
{
	size_t cap = 0;
	char *line = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	out->text = text;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *eol = nl ? nl : end;
		const char *p = line;
		uint64_t start, size;
		bool ok;

		if (eol > line && eol[-1] == '\r')
			eol--;
		/* START SIZE NAME, single spaces; the name runs to the end of
		 * the line and may hold spaces, not a NUL */
		ok = !hex(&p, eol, &start) && p < eol && *p == ' ';
		if (ok) {
			p++;
			ok = !hex(&p, eol, &size) && p + 1 < eol && *p == ' ' && size &&
			     start + size > start && !memchr(p + 1, '\0', (size_t)(eol - p - 1));
		}
		if (ok) {
			char *name = line + (p - line) + 1;

			if (out->n == MO_PERFMAP_MAX_ENTRIES)
				return -EFBIG;
			if (MO_GROW(out->e, out->n + 1, cap))
				return -ENOMEM;
			*eol = '\0';
			cut_name(name, eol);
			out->e[out->n++] = (struct mo_perfmap_entry){ start, size, name };
		} else if (eol > line) {
			out->malformed++;
		}
		if (!nl)
			break;
		*nl = '\0';
		line = nl + 1;
	}
	if (out->n) {
		qsort(out->e, out->n, sizeof(*out->e), entry_cmp);
		disjoin(out);
	}
	return 0;
}

int mo_perfmap_parse_fd(int fd, size_t size, struct mo_perfmap *out)
{
	ssize_t got;
	char *text;
	int err;

	memset(out, 0, sizeof(*out));
	if (size > MO_PERFMAP_MAX_BYTES)
		return -EFBIG;
	text = malloc(size + 1);
	if (!text)
		return -ENOMEM;
	/* the runtime may append while this reads: what was there at fstat */
	got = mo_read_all(fd, text, size, 0);
	if (got < 0) {
		free(text);
		return (int)got;
	}
	text[got] = '\0';
	err = mo_perfmap_parse(text, (size_t)got, out);
	if (err)
		mo_perfmap_release(out);
	return err;
}

static struct mo_hook parser = MO_HOOK_INIT;	/* a mo_perfmap_parser_fn */

void mo_perfmap_set_parser(mo_perfmap_parser_fn fn, void *ctx)
{
	mo_hook_set(&parser, (mo_hook_fn)fn, ctx);
}

void *mo_perfmap_parser_ctx(void)
{
	void *ctx;

	mo_hook_get(&parser, NULL, &ctx);
	return ctx;
}

const struct mo_perfmap_entry *mo_perfmap_find(const struct mo_perfmap *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	/* the last entry starting at or below addr (entries are disjoint) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	lo--;
	return addr - m->e[lo].start < m->e[lo].size ? &m->e[lo] : NULL;
}

/* pid's pid in its own namespace (the last NSpid field), or pid. */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t v = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "NSpid:", 6)) {
			char *last = strrchr(line, '\t');

			if (last)
				v = (pid_t)strtol(last + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v > 0 ? v : pid;
}

int mo_perfmap_read(pid_t pid, struct mo_perfmap *out)
{
	mo_hook_fn fn;
	char path[128];
	struct stat st;
	void *ctx;
	int fd, err;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/perf-%d.map", (int)pid, (int)ns_pid(pid));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EPERM;
	}
	if ((uint64_t)st.st_size > MO_PERFMAP_MAX_BYTES) {
		close(fd);
		return -EFBIG;
	}
	mo_hook_get(&parser, &fn, &ctx);
	err = fn ? ((mo_perfmap_parser_fn)fn)(ctx, fd, (size_t)st.st_size, out)
		 : mo_perfmap_parse_fd(fd, (size_t)st.st_size, out);
	close(fd);
	return err;
}

void mo_perfmap_release(struct mo_perfmap *m)
{
	free(m->e);
	free(m->text);
	memset(m, 0, sizeof(*m));
}
