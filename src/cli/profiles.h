/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profiles.h - heap profiles while running: the /debug/pprof/ handler of
 * the metrics server (filters from the query string, errors as one line
 * and a status) and the snapshots of --profile-dir, written atomically
 * and rotated.
 */
#ifndef MO_CLI_PROFILES_H
#define MO_CLI_PROFILES_H

#include <stdint.h>

#include "http.h"
#include "options.h"

/* The http_profile_fn of the metrics server; ctx is the observer. */
void profiles_serve(void *ctx, const struct http_profile_request *req, struct http_reply *out);

/* --profile-dir must be a directory reached through trusted links and
 * writable now (exits with one line when not). */
void profiles_check_dir(struct cli *c);

/* A snapshot into --profile-dir, then its oldest snapshots beyond
 * --profile-keep removed. Failures are one warning line each, counted as
 * output write errors. */
void profiles_snapshot(struct cli *c);

#endif
