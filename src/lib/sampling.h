/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampling.h - byte sampling on the user side: the tables the kernel's
 * integer math (src/bpf/sampling_math.h, which this header brings in)
 * interpolates in, computed once with libm and written into the BPF object
 * before load.
 */
#ifndef MO_SAMPLING_H
#define MO_SAMPLING_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "abi.h"
#include "bpf/sampling_math.h"

/* log2tab: MO_LOG2_N + 1 entries; gtab: MO_GTAB_N + 1 entries. */
void mo_sample_tables_init(uint32_t *log2tab, uint32_t *gtab);

#endif
