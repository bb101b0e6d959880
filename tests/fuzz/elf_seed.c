// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elf_seed.c - not a fuzzer: the small real program (built -O2 -g by
 * mk/fuzz.mk) whose bytes fuzz_dwarf patches. Leaf and non-leaf functions,
 * an inlined one, a frame-pointer-free loop and a variable-size frame
 * (alloca) give its CFI and DWARF the usual shapes.
 */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline __attribute__((always_inline)) unsigned mix(unsigned x)
{
	return (x ^ (x >> 7)) * 2654435761u;
}

__attribute__((noinline)) unsigned leaf(unsigned x)
{
	return mix(x) + 1;
}

__attribute__((noinline)) unsigned frame(size_t n)
{
	char *buf = alloca(n + 1);

	memset(buf, 'a', n);
	buf[n] = '\0';
	return leaf((unsigned)strlen(buf));
}

__attribute__((noinline)) void *grow(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, (int)frame(n % 64), n);
	return p;
}

int main(int argc, char **argv)
{
	unsigned sum = 0;

	for (int i = 1; i < argc; i++)
		sum += leaf((unsigned)atoi(argv[i]));
	printf("%u %p\n", sum, grow(16));
	return 0;
}
