/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * procrss.h - a process's resident memory as /proc/PID/status reports it.
 *
 * The kmem:rss_stat tracepoint is memobserver's source of RSS; /proc is the
 * cross-check and the fallback: for counters that have not changed since
 * memobserver started (the tracepoint fires only on a change), when the
 * tracepoint is missing, and to catch updates the BPF side could not store.
 */
#ifndef MO_PROCRSS_H
#define MO_PROCRSS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mo_proc_rss {
	uint64_t anon;		/* RssAnon, bytes */
	uint64_t file;		/* RssFile */
	uint64_t shmem;		/* RssShmem */
	uint64_t swap;		/* VmSwap */
};

/* Parse the text of a /proc/PID/status file. 0, or -EINVAL when it has no
 * Rss lines (a kernel thread, or not a status file). */
int mo_proc_rss_parse(const char *buf, size_t len, struct mo_proc_rss *out);

/* Read /proc/PID/status. 0 or -errno (-ESRCH: the process is gone). */
int mo_proc_rss_read(pid_t pid, struct mo_proc_rss *out);

static inline uint64_t mo_proc_rss_total(const struct mo_proc_rss *r)
{
	return r->anon + r->file + r->shmem;
}

#endif
