/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fuzz.h - shared by the libFuzzer harnesses: the entry point's prototype
 * and CHECK, which traps (a crash libFuzzer records with its input) when a
 * parser breaks one of its promises.
 */
#ifndef MO_FUZZ_H
#define MO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define CHECK(cond)                   \
	do {                          \
		if (!(cond))          \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
