/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * records.h - the kernel's records (abi.h, struct mo_record) dispatched to
 * the stage that owns each type: a table of handlers filled at start.
 *
 * Process records (exec, fork, exit, seen) are handled at once: an exec'd
 * program must be read (maps, files) while it still runs. Records whose
 * handling may be slow (symbolization, file parsing) wait in a list run
 * right after, a few at a time between drains of the ring buffer, so a
 * burst of them cannot delay an exec.
 *
 * Owns: the table and the waiting list. Worker thread only.
 */
#ifndef MO_CORE_RECORDS_H
#define MO_CORE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "abi.h"

#define MO_REC__MAX 16

typedef void (*mo_record_fn)(void *ctx, const struct mo_record *r);

struct mo_records;

struct mo_records *mo_records_new(void);
void mo_records_free(struct mo_records *rd);

/* Handle records of type with fn(ctx, r); at_once: not deferred. */
void mo_records_on(struct mo_records *rd, enum mo_rec_type type, mo_record_fn fn, void *ctx,
		   bool at_once);

/* The ring buffer's callback (ctx: the records). */
int mo_records_take(void *ctx, void *data, size_t size);

/*
 * Run the deferred records, calling drain(drain_ctx) every few so new
 * process records are taken meanwhile; stop early when *stopping turns
 * true (what is left stays for the next call).
 */
void mo_records_run(struct mo_records *rd, int (*drain)(void *ctx), void *drain_ctx,
		    const bool *stopping);

/* Records taken without a handler (unknown types, from a newer kernel side). */
uint64_t mo_records_unhandled(const struct mo_records *rd);

#endif
