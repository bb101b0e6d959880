/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * env.h - what every stage of the core is handed from above: the caller's
 * logger, the clock offset, the configuration, and the stop flag that makes
 * long loops end early. Nothing in the core calls back into observer.c.
 */
#ifndef MO_CORE_ENV_H
#define MO_CORE_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "memobserver.h"

struct mo_env {
	struct mo_config cfg;		/* resolved */
	mo_log_fn log;
	void *log_ctx;
	int64_t boot_to_real_ns;	/* CLOCK_REALTIME - CLOCK_BOOTTIME */
	bool system_wide;		/* no pid, no command: every process */
	bool cgroup_filter;		/* --container/--cgroup */
	bool watch;			/* the watch tier: no allocator probes but for
					   escalated processes; growth by stack */
	bool heap_probes;		/* allocator probes on every observed process:
					   the precise tier, not conservative mode */
	bool stopping;			/* atomic: leave long loops */
	bool ending;			/* atomic: a stop began; never cleared */
};

void mo_env_log(const struct mo_env *e, enum mo_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool mo_env_stopping(const struct mo_env *e)
{
	return __atomic_load_n(&e->stopping, __ATOMIC_RELAXED);
}

/*
 * Once a stop has begun no stack is walked and no probe attached any more:
 * an exec's unwind rows and allocator probes would be wasted work, and under
 * a stream of execs (a parallel build, system-wide) that work kept the
 * worker inside the ring buffer's consume, so a stop never ended.
 */
static inline bool mo_env_ending(const struct mo_env *e)
{
	return __atomic_load_n(&e->ending, __ATOMIC_RELAXED);
}

/* CLOCK_BOOTTIME nanoseconds as CLOCK_REALTIME. */
static inline uint64_t mo_env_realtime(const struct mo_env *e, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns + e->boot_to_real_ns);
}

#endif
