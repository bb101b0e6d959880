/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pattern.h - leak versus cache: classify a stack's history of unfreed
 * bytes, and predict when a process or cgroup runs out of memory.
 *
 * A history is a bounded ring of (time, unfreed bytes, live blocks,
 * allocations so far, frees so far) samples taken at each analysis. The
 * classifier is deterministic and documented in docs/patterns.md:
 *   growing        keeps rising across the observation: a leak
 *   plateau        rose, then stopped (cache, pool): informational
 *   churn          allocated and freed at the same rate: not a leak
 *   fragmentation  many small unfreed blocks that keep accumulating slowly
 *   unknown        too little history to say
 * with a growth rate (bytes/s, least squares over the window) and a
 * confidence in [0, 1].
 */
#ifndef MO_PATTERN_H
#define MO_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MO_HISTORY_LEN 64

enum mo_pattern {
	MO_PATTERN_UNKNOWN = 0,
	MO_PATTERN_GROWING,
	MO_PATTERN_PLATEAU,
	MO_PATTERN_CHURN,
	MO_PATTERN_FRAGMENTATION,
};

struct mo_sample {
	uint64_t t_ns;		/* monotonic/boottime */
	uint64_t unfreed_bytes;
	uint64_t live_blocks;
	uint64_t allocs_total;	/* allocations from this stack so far (0 if unknown) */
	uint64_t frees_total;	/* of those, freed so far (0 if unknown) */
	uint64_t rss_bytes;	/* the process's resident memory then (0 if unknown) */
};

struct mo_history {
	struct mo_sample s[MO_HISTORY_LEN];
	unsigned head;		/* index of the next write */
	unsigned n;		/* samples held, <= MO_HISTORY_LEN */
};

struct mo_verdict {
	enum mo_pattern pattern;
	double growth_bytes_per_s;
	double confidence;
	uint64_t avg_block_bytes;
};

void mo_history_add(struct mo_history *h, const struct mo_sample *s);
void mo_classify(const struct mo_history *h, struct mo_verdict *out);
const char *mo_pattern_name(enum mo_pattern p);	/* "growing", ... */
/*
 * Growth in stairs whose steps keep coming (doubling containers: a hash
 * table, a vector, a garbage-collected heap), which mo_classify does not
 * call growing while the history is flat between two steps. true, with
 * out (may be NULL) filled as a "growing" verdict, when h is such stairs.
 * from_zero: h is a cumulative count that was 0 before its first sample.
 */
bool mo_stairs(const struct mo_history *h, bool from_zero, struct mo_verdict *out);

/*
 * Did the process's resident memory grow by at least half as much as the
 * history's bytes, from its first sample with a known RSS to its last?
 * Otherwise the memory is given back as fast as it is taken (churn), or is
 * not resident. false when the bytes did not grow or an RSS is unknown.
 */
bool mo_history_rss_backs(const struct mo_history *h);

/*
 * Time to OOM: given a history of a process's or cgroup's memory use
 * (bytes over time) and the limit that applies, the seconds until the
 * linear trend over the recent window reaches the limit. Returns a
 * negative value when usage is not growing (no prediction).
 */
struct mo_usage_point {
	uint64_t t_ns;
	uint64_t bytes;
};
double mo_predict_oom_seconds(const struct mo_usage_point *pts, size_t n, uint64_t limit_bytes);

/*
 * The memory limit for a cgroup directory: cgroup v2 memory.max (walking up
 * to the root while "max"), else v1 memory.limit_in_bytes, else MemTotal
 * from meminfo_path ("/proc/meminfo"). 0 or -errno.
 */
int mo_memory_limit(const char *cgroup_dir, const char *meminfo_path, uint64_t *bytes);

/*
 * The parsers behind it, pure over text[0, len) (no terminator needed;
 * fuzzed). A limit file holds "max" or a decimal byte count, then an
 * optional newline: 0 with *v set (UINT64_MAX for no limit) or -EINVAL.
 * meminfo: MemTotal in bytes, -ENODATA without that line, -EINVAL if its
 * value is not a number of kB that fits.
 */
int mo_parse_limit(const char *text, size_t len, uint64_t *v);
int mo_parse_meminfo_total(const char *text, size_t len, uint64_t *bytes);

#endif
