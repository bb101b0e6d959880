/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * report.h - what the observer hands out: its counters (any thread), the
 * leak report (the worker, or after the stop), and the data of a metrics
 * scrape (any thread: it reads the kernel maps and the stages' published
 * figures, never waits for the worker).
 */
#ifndef MO_CORE_REPORT_H
#define MO_CORE_REPORT_H

#include "memobserver.h"

struct mo_core;
struct mo_metrics_snapshot;

void mo_core_counters(struct mo_core *c, struct mo_counters *out);

/* The leak report now. NULL on ENOMEM. */
struct mo_report *mo_core_report(struct mo_core *c);

/* The report q asks for now (worker); NULL with *err set (-ESRCH,
 * -EOPNOTSUPP, -ENOMEM: see mo_observer_query). */
struct mo_report *mo_core_query(struct mo_core *c, const struct mo_report_query *q, int *err);

/* r as a bounded gzipped profile (any thread; counts what is cut). */
int mo_core_profile(struct mo_core *c, const struct mo_report *r, enum mo_report_kind kind,
		    const struct mo_profile_limits *limits, uint8_t **gz, size_t *len);

/* The metrics snapshot now; release with mo_core_metrics_release. */
int mo_core_metrics(struct mo_core *c, struct mo_metrics_snapshot *snap);
void mo_core_metrics_release(struct mo_metrics_snapshot *snap);

#endif
