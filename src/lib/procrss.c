// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* procrss.c - resident memory from /proc/PID/status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procrss.h"

/* "Key:   1234 kB" at the start of line: the value in bytes, or -1. */
static int64_t kb_field(const char *line, size_t len, const char *key)
{
	size_t kl = strlen(key);
	uint64_t v = 0;
	size_t i;
	int digits = 0;

	if (len <= kl || memcmp(line, key, kl))
		return -1;
	for (i = kl; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && digits < 15; i++, digits++)
		v = v * 10 + (uint64_t)(line[i] - '0');
	if (!digits)
		return -1;
	return (int64_t)(v * 1024);
}

int mo_proc_rss_parse(const char *buf, size_t len, struct mo_proc_rss *out)
{
	static const char *const keys[] = { "RssAnon:", "RssFile:", "RssShmem:", "VmSwap:" };
	uint64_t *dst[] = { &out->anon, &out->file, &out->shmem, &out->swap };
	unsigned found = 0;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;

		for (unsigned k = 0; k < 4; k++) {
			int64_t v = kb_field(line, ll, keys[k]);

			if (v >= 0) {
				*dst[k] = (uint64_t)v;
				found |= 1u << k;
			}
		}
		pos += ll + 1;
	}
	return (found & 7) == 7 ? 0 : -EINVAL;
}

int mo_proc_rss_read(pid_t pid, struct mo_proc_rss *out)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf));
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	return mo_proc_rss_parse(buf, (size_t)n, out);
}
