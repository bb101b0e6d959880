/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp.h - OTLP encoding: a metrics snapshot as the body of POST /v1/metrics
 * (ExportMetricsServiceRequest), events as the body of POST /v1/logs
 * (ExportLogsServiceRequest), binary protobuf. Pure encoding, no I/O; the
 * exporter that sends them lives in the CLI (src/cli/otlp_export.c). The
 * mapping of every metric and field is in docs/otlp.md.
 *
 * Telemetry is grouped by resource as OTLP intends: one resource per traced
 * process (host.name, process.pid, process.executable.name, container.id,
 * k8s.pod.uid) and one for the host and memobserver itself (host.name,
 * service.name, service.version). Strings from the traced system are
 * escaped (mo_text_escape): always valid UTF-8, no control characters.
 */
#ifndef MO_OTLP_H
#define MO_OTLP_H

#include <stddef.h>
#include <stdint.h>
#include "memobserver.h"

struct mo_metrics_snapshot;

/*
 * Encode s as an ExportMetricsServiceRequest stamped now_ns (CLOCK_REALTIME);
 * cumulative sums start at s->start_time_seconds. At most max_resources
 * process resources (0: no cap): the rest, fewest unfreed bytes first, are
 * summed into one resource named "__other__". *out is malloc'ed. 0 or -errno.
 */
int mo_otlp_metrics_encode(const struct mo_metrics_snapshot *s, const char *host_name,
			   uint64_t now_ns, size_t max_resources, uint8_t **out, size_t *len);

/*
 * Encode n events as one ExportLogsServiceRequest: one log record each, in
 * order, grouped by process resource; observed_ns is the observed time of
 * every record. *out is malloc'ed. 0 or -errno.
 */
int mo_otlp_logs_encode(const struct mo_event *const *ev, size_t n, const char *host_name,
			uint64_t observed_ns, uint8_t **out, size_t *len);

#endif
