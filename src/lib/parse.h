/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * parse.h - parsers for human input: sizes, durations, counts, pids and the
 * key = value configuration file. Pure functions, fuzzed.
 */
#ifndef MO_PARSE_H
#define MO_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "memobserver.h"

/* "4096", "10K", "10k", "1M", "2G", "1T", "10KB", "10KiB", "1.5M" (binary
 * units: K = 1024). No sign, no spaces, no overflow. 0 or -EINVAL/-ERANGE. */
int mo_parse_size(const char *s, uint64_t *bytes);

/* "500ms", "30s", "5m", "1h", "1d", "250us", "100ns", "1.5s"; a bare number
 * is seconds. 0 or -EINVAL/-ERANGE. */
int mo_parse_duration(const char *s, uint64_t *ns);

/* Decimal unsigned integer within [min, max]. 0 or -EINVAL/-ERANGE. */
int mo_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A percentage, "2", "0.5", "2.25%", in hundredths of a percent (basis
 * points, truncated), at most 100 %. 0 or -EINVAL/-ERANGE. */
int mo_parse_percent(const char *s, uint64_t *bp);

/*
 * Apply one configuration setting by name to cfg. Names follow struct
 * mo_config's fields in snake_case: name, buffer_size, min_allocation_size (size),
 * min_unfreed_age (duration), rss_growth_threshold (size), mode,
 * enable_ebpf (true/false/yes/no/1/0), stack_dedup_window (duration),
 * sampling_rate, sample_bytes (size, 0 = off), max_allocations, max_stacks,
 * max_stack_depth, report_interval (duration), unwind_rows,
 * large_allocation_threshold (size),
 * max_overhead (percent, 0 = no budget), ring_buffer_size (size, power of
 * two), session_uprobes and rss_stat (booleans), k8s_log_dir (a directory
 * path of printable bytes, or "off"), scan (boolean), scan_mode (stop,
 * live), scan_max_pause (duration). Returns 0, -ENOENT for an
 * unknown key, -EINVAL for a bad value.
 */
int mo_config_set(struct mo_config *cfg, const char *key, const char *value);

/*
 * Parse a configuration file's text: lines "key = value", '#' comments,
 * blank lines, optional double quotes around values. On error returns
 * -EINVAL/-ENOENT and writes "line N: <problem>" into err.
 */
int mo_config_parse(struct mo_config *cfg, const char *text, size_t len, char *err,
		    size_t errlen);

/* Read path and parse it (err as above, or "cannot read '<path>': <strerror>"). */
int mo_config_load(struct mo_config *cfg, const char *path, char *err, size_t errlen);

#endif
