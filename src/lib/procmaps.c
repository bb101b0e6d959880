// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procmaps.c - parse /proc/PID/maps.
 *
 * The parser only ever looks at text[0, len): it never relies on a NUL
 * terminator, so it is safe on arbitrary (fuzzed) input. Every line must
 * have the kernel's shape "start-end perms offset major:minor inode [path]";
 * anything else is -EINVAL, and so are maps that overlap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"
#include "util.h"

#define DELETED_SUFFIX " (deleted)"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* At most max_digits hex digits, at least one. */
static int parse_hex(const char **p, const char *end, int max_digits, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0, d;

	while (s < end && (d = hex_digit(*s)) >= 0) {
		if (++n > max_digits)
			return -EINVAL;
		v = (v << 4) | (uint64_t)d;
		s++;
	}
	if (n == 0)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static int parse_dec(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	while (s < end && *s >= '0' && *s <= '9') {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		n++;
		s++;
	}
	if (n == 0)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

static int parse_flag(const char **p, const char *end, char set, bool *flag)
{
	if (*p >= end)
		return -EINVAL;
	if (**p == set)
		*flag = true;
	else if (**p == '-')
		*flag = false;
	else
		return -EINVAL;
	(*p)++;
	return 0;
}

static int parse_perms(const char **p, const char *end, struct mo_map *m)
{
	if (parse_flag(p, end, 'r', &m->r) || parse_flag(p, end, 'w', &m->w) ||
	    parse_flag(p, end, 'x', &m->x))
		return -EINVAL;
	if (*p >= end)
		return -EINVAL;
	if (**p == 'p')
		m->p = true;
	else if (**p == 's')
		m->p = false;
	else
		return -EINVAL;
	(*p)++;
	return 0;
}

static int parse_path(const char *s, const char *end, struct mo_map *m)
{
	size_t len = (size_t)(end - s);
	size_t slen = sizeof(DELETED_SUFFIX) - 1;

	if (memchr(s, '\0', len))
		return -EINVAL;
	if (len > slen && memcmp(end - slen, DELETED_SUFFIX, slen) == 0) {
		m->deleted = true;
		len -= slen;
	}
	m->path = strndup(s, len);
	if (!m->path)
		return -ENOMEM;
	/*
	 * The kernel writes a newline in a path as the text \012 (seq_file_path
	 * with "\n") and nothing else escaped: decode it, so the path names the
	 * file. A name holding the four characters \012 itself reads as a
	 * newline too; the format cannot tell them apart.
	 */
	for (char *r = m->path, *w = m->path;; r++, w++) {
		if (r[0] == '\\' && r[1] == '0' && r[2] == '1' && r[3] == '2') {
			*w = '\n';
			r += 3;
		} else if (!(*w = *r)) {
			break;
		}
	}
	return 0;
}

/* One line without its '\n'. On success m->path is allocated (or NULL). */
static int parse_line(const char *p, const char *end, struct mo_map *m)
{
	uint64_t major, minor;

	memset(m, 0, sizeof(*m));
	if (parse_hex(&p, end, 16, &m->start) || expect(&p, end, '-') ||
	    parse_hex(&p, end, 16, &m->end) || expect(&p, end, ' ') ||
	    parse_perms(&p, end, m) || expect(&p, end, ' ') ||
	    parse_hex(&p, end, 16, &m->offset) || expect(&p, end, ' ') ||
	    parse_hex(&p, end, 8, &major) || expect(&p, end, ':') ||
	    parse_hex(&p, end, 8, &minor) || expect(&p, end, ' ') ||
	    parse_dec(&p, end, &m->inode))
		return -EINVAL;
	if (m->start >= m->end)
		return -EINVAL;
	m->dev_major = (uint32_t)major;
	m->dev_minor = (uint32_t)minor;

	/* The kernel pads the path to a column; anonymous maps end in blanks. */
	if (p < end && *p != ' ')
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return 0;
	return parse_path(p, end, m);
}

static int cmp_map_start(const void *a, const void *b)
{
	const struct mo_map *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int mo_procmaps_parse(const char *text, size_t len, struct mo_maps *out)
{
	struct mo_maps res = { 0 };
	size_t cap = 0;
	const char *p = text, *end = text + len;
	bool sorted = true;
	int err;

	out->nr = 0;
	out->maps = NULL;
	if (!text && len)
		return -EINVAL;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (res.nr == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct mo_map *n = realloc(res.maps, ncap * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				goto fail;
			}
			res.maps = n;
			cap = ncap;
		}
		err = parse_line(p, eol, &res.maps[res.nr]);
		if (err)
			goto fail;
		if (res.nr && res.maps[res.nr].start < res.maps[res.nr - 1].start)
			sorted = false;
		res.nr++;
		p = nl ? nl + 1 : end;
	}

	/* mo_maps_find bisects; the kernel already emits ascending order. */
	if (!sorted)
		qsort(res.maps, res.nr, sizeof(*res.maps), cmp_map_start);
	/* The kernel's maps never overlap; mo_maps_find relies on it (a map
	 * nested in another would hide the outer one's tail). */
	for (size_t i = 1; i < res.nr; i++) {
		if (res.maps[i].start < res.maps[i - 1].end) {
			err = -EINVAL;
			goto fail;
		}
	}
	*out = res;
	return 0;

fail:
	mo_maps_release(&res);
	return err;
}

static int read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *b = malloc(cap);

	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t r = mo_read_all(fd, b + n, cap - n, -1);
		char *nb;

		if (r < 0) {
			free(b);
			return (int)r;
		}
		n += (size_t)r;
		if (n < cap)
			break;	/* end of file, with room for the NUL */
		nb = realloc(b, cap * 2);
		if (!nb) {
			free(b);
			return -ENOMEM;
		}
		b = nb;
		cap *= 2;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int mo_read_text(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = read_all(fd, buf, len);
	close(fd);
	return err;
}

const char *mo_proc_stat_fields(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		errno = n < 0 ? errno : EIO;
		return NULL;
	}
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2]) {
		errno = EINVAL;
		return NULL;
	}
	return p + 2;
}

int mo_procmaps_read(pid_t pid, struct mo_maps *out)
{
	char path[64], *text = NULL;
	size_t len = 0;
	int fd, err;

	out->nr = 0;
	out->maps = NULL;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	err = read_all(fd, &text, &len);
	close(fd);
	if (err)
		return err;
	err = mo_procmaps_parse(text, len, out);
	free(text);
	return err;
}

const struct mo_map *mo_maps_find(const struct mo_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nr;

	/* Last map with start <= addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= m->maps[lo - 1].end)
		return NULL;
	return &m->maps[lo - 1];
}

void mo_maps_release(struct mo_maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nr; i++)
		free(m->maps[i].path);
	free(m->maps);
	m->nr = 0;
	m->maps = NULL;
}

int mo_maps_copy(const struct mo_maps *src, struct mo_maps *dst)
{
	dst->nr = 0;
	dst->maps = calloc(src->nr ? src->nr : 1, sizeof(*dst->maps));
	if (!dst->maps)
		return -ENOMEM;
	for (size_t i = 0; i < src->nr; i++) {
		dst->maps[i] = src->maps[i];
		if (src->maps[i].path && !(dst->maps[i].path = strdup(src->maps[i].path))) {
			mo_maps_release(dst);
			return -ENOMEM;
		}
		dst->nr++;
	}
	return 0;
}
