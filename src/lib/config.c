// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * config.c - defaults, operation modes and validation of struct mo_config.
 * The mode thresholds are the ones docs/modes.md lists.
 */
#include <errno.h>
#include <string.h>

#include "memobserver.h"
#include "sampling.h"

#define KB 1024ULL
#define MB (1024ULL * KB)
#define SEC 1000000000ULL

struct mode_thresholds {
	const char *name;
	uint64_t min_allocation_size;
	uint64_t min_unfreed_age_ns;
	uint64_t rss_growth_threshold;
	uint64_t large_allocation_threshold;	/* beyond the seed: documented in docs/modes.md */
};

static const struct mode_thresholds modes[] = {
	[MO_MODE_BALANCED] = { "balanced", 10 * KB, 30 * SEC, 100 * MB, 1024 * MB },
	[MO_MODE_CONSERVATIVE] = { "conservative", 100 * KB, 300 * SEC, 500 * MB, 2048 * MB },
	[MO_MODE_AGGRESSIVE] = { "aggressive", 1 * KB, 10 * SEC, 10 * MB, 256 * MB },
};

void mo_config_init(struct mo_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->name, "memory");
	cfg->buffer_size = 10000;
	cfg->mode = MO_MODE_BALANCED;
	cfg->enable_ebpf = true;
	cfg->stack_dedup_window_ns = 5 * SEC;
	cfg->sampling_rate = 1;
	cfg->max_allocations = 1000000;
	cfg->max_stacks = 65536;
	cfg->max_stack_depth = 32;
	cfg->report_interval_ns = 10 * SEC;
	cfg->unwind_rows = 2000000;
	cfg->ring_buffer_size = 4 << 20;
	cfg->session_uprobes = true;
	cfg->rss_stat = true;
	cfg->escalate = true;
	cfg->escalate_window_ns = 60 * SEC;
	cfg->max_escalations = 2;
	strcpy(cfg->k8s_log_dir, "/var/log");
	cfg->scan = false;
	cfg->scan_mode = MO_SCAN_STOP;
	cfg->scan_max_pause_ns = 200 * (SEC / 1000);
}

static const char *const scan_modes[] = {
	[MO_SCAN_STOP] = "stop",
	[MO_SCAN_LIVE] = "live",
};

int mo_scan_mode_parse(const char *s, enum mo_scan_mode *mode)
{
	for (size_t i = 0; i < sizeof(scan_modes) / sizeof(scan_modes[0]); i++) {
		if (strcmp(s, scan_modes[i]) == 0) {
			*mode = (enum mo_scan_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mo_scan_mode_name(enum mo_scan_mode mode)
{
	if ((unsigned)mode >= sizeof(scan_modes) / sizeof(scan_modes[0]))
		return "unknown";
	return scan_modes[mode];
}

static const char *const tiers[] = {
	[MO_TIER_AUTO] = "auto",
	[MO_TIER_WATCH] = "watch",
	[MO_TIER_PRECISE] = "precise",
};

int mo_tier_parse(const char *s, enum mo_tier *tier)
{
	for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
		if (strcmp(s, tiers[i]) == 0) {
			*tier = (enum mo_tier)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mo_tier_name(enum mo_tier tier)
{
	if ((unsigned)tier >= sizeof(tiers) / sizeof(tiers[0]))
		return "unknown";
	return tiers[tier];
}

int mo_mode_parse(const char *s, enum mo_mode *mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i].name) == 0) {
			*mode = (enum mo_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mo_mode_name(enum mo_mode mode)
{
	if ((unsigned)mode >= sizeof(modes) / sizeof(modes[0]))
		return "unknown";
	return modes[mode].name;
}

#define BAD(field)                  \
	do {                        \
		if (bad_field)      \
			*bad_field = field; \
		return -EINVAL;     \
	} while (0)

int mo_config_resolve(const struct mo_config *cfg, struct mo_config *out,
		      const char **bad_field)
{
	struct mo_config r = *cfg;

	if ((unsigned)r.mode >= sizeof(modes) / sizeof(modes[0]))
		BAD("mode");
	if (memchr(r.name, '\0', sizeof(r.name)) == NULL || r.name[0] == '\0')
		BAD("name");
	/* byte sampling bounds the cost of small blocks by itself: by default
	 * it sees every size, or it could not estimate small leaks at all */
	if (r.min_allocation_size == 0)
		r.min_allocation_size = r.sample_bytes ? 1 : modes[r.mode].min_allocation_size;
	if (r.min_unfreed_age_ns == 0)
		r.min_unfreed_age_ns = modes[r.mode].min_unfreed_age_ns;
	if (r.rss_growth_threshold == 0)
		r.rss_growth_threshold = modes[r.mode].rss_growth_threshold;
	if (r.large_allocation_threshold == 0)
		r.large_allocation_threshold = modes[r.mode].large_allocation_threshold;
	if (r.buffer_size == 0 || r.buffer_size > 10000000)
		BAD("buffer_size");
	if (r.sampling_rate == 0 || r.sampling_rate > 1000000)
		BAD("sampling_rate");
	/* one way of sampling at a time: their weights do not combine */
	if (r.sample_bytes > MO_SAMPLE_BYTES_MAX || (r.sample_bytes && r.sampling_rate > 1))
		BAD("sample_bytes");
	if (r.stack_dedup_window_ns > 86400 * SEC)
		BAD("stack_dedup_window");
	if (r.min_unfreed_age_ns > 30 * 86400 * SEC)
		BAD("min_unfreed_age");
	if (r.min_allocation_size > (1ULL << 46))
		BAD("min_allocation_size");
	if (r.max_allocations < 1024 || r.max_allocations > 100000000)
		BAD("max_allocations");
	if (r.max_stacks < 64 || r.max_stacks > 10000000)
		BAD("max_stacks");
	if (r.max_stack_depth < 1 || r.max_stack_depth > 32)
		BAD("max_stack_depth");
	if (r.report_interval_ns < SEC / 100 || r.report_interval_ns > 86400 * SEC)
		BAD("report_interval");
	if (r.unwind_rows < 1024 || r.unwind_rows > 50000000)
		BAD("unwind_rows");
	if (r.max_overhead_bp > 10000)
		BAD("max_overhead");
	if ((unsigned)r.tier > MO_TIER_PRECISE)
		BAD("tier");
	if (r.escalate_window_ns < SEC || r.escalate_window_ns > 86400 * SEC)
		BAD("escalate_window");
	if (r.max_escalations > 64)
		BAD("max_escalations");
	if ((unsigned)r.scan_mode > MO_SCAN_LIVE)
		BAD("scan_mode");
	if (r.scan_max_pause_ns < SEC / 1000 || r.scan_max_pause_ns > 60 * SEC)
		BAD("scan_max_pause");
	if (r.ring_buffer_size < 4096 || r.ring_buffer_size > (1u << 30) ||
	    (r.ring_buffer_size & (r.ring_buffer_size - 1)))
		BAD("ring_buffer_size");
	if (out)
		*out = r;
	return 0;
}

const char *mo_event_type_name(enum mo_event_type type)
{
	switch (type) {
	case MO_EVENT_MEMORY_PRESSURE:
		return "memory_pressure";
	case MO_EVENT_KERNEL_FS:
		return "kernel_fs";
	case MO_EVENT_KERNEL_PROCESS:
		return "kernel_process";
	}
	return "unknown";
}
