/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * series.h - which labelled series of a counter family get their own
 * series, scrape after scrape, so that no counter ever goes backwards.
 *
 * A family keeps at most max series of its own; the rest are summed into
 * one __other__ series. Which keys get their own is decided anew at each
 * scrape (by a rank the caller gives), and a key may move either way:
 *  - into __other__: its counts join the sum, which only grows;
 *  - out of __other__: the counts it had there stay in __other__ as an
 *    offset, so the sum does not drop; its own series starts whole.
 * Counts of one key must never decrease (the caller keeps them cumulative).
 *
 * Thread-safe: scrapes come from any thread.
 */
#ifndef MO_CORE_SERIES_H
#define MO_CORE_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MO_SERIES_VALUES 2

struct mo_series_row {
	const char *key;		/* the label values, as one string */
	uint64_t v[MO_SERIES_VALUES];	/* cumulative counts */
	uint64_t rank;			/* larger: more deserving of its own series */
	bool other;			/* out: summed into __other__ */
};

struct mo_series;

struct mo_series *mo_series_new(size_t max_own);
void mo_series_free(struct mo_series *s);

/*
 * Decide rows[i].other for this scrape (rows with distinct keys), and give
 * the offsets to add to the sum of the folded rows' values for __other__.
 * 0 or -ENOMEM (then every row keeps its own series, nothing remembered).
 */
int mo_series_decide(struct mo_series *s, struct mo_series_row *rows, size_t n,
		     uint64_t offset[MO_SERIES_VALUES]);

#endif
