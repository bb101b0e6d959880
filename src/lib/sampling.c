// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sampling.c - the tables of byte sampling (sampling.h). */
#include <math.h>

#include "sampling.h"

/* g(x) = x / (e^x - 1), 1 at 0 */
static double g(double x)
{
	return x > 0 ? x / expm1(x) : 1.0;
}

void mo_sample_tables_init(uint32_t *log2tab, uint32_t *gtab)
{
	for (unsigned i = 0; i <= MO_LOG2_N; i++)
		log2tab[i] = (uint32_t)llround(log2(1.0 + (double)i / MO_LOG2_N) *
					       (double)(1u << MO_LOG2_FRAC));
	for (unsigned i = 0; i <= MO_GTAB_N; i++)
		gtab[i] = (uint32_t)llround(g((double)i / (1u << MO_GTAB_BITS)) *
					    (double)(1u << MO_GTAB_FRAC));
}
