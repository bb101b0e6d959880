/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof.h - write a leak report as a gzipped pprof profile (profile.proto):
 * sample types inuse_space/bytes and inuse_objects/count, one sample per
 * leaking stack, with functions, locations (inlined frames as lines of one
 * location) and mappings with build ids — what pprof, Grafana Pyroscope and
 * Parca read.
 */
#ifndef MO_PPROF_H
#define MO_PPROF_H

#include <stddef.h>
#include "memobserver.h"

/* Write to path atomically (temp file + rename). 0 or -errno; err gets a
 * one-line reason. */
int mo_pprof_write(const struct mo_report *r, const char *path, char *err, size_t errlen);

#endif
