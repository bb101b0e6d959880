/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stackgc.h - free the stack table of stacks nothing refers to any more.
 *
 * A stack id is a hash of absolute addresses, so with ASLR every process
 * (and every exec) makes new ids; the BPF side only ever inserts. Without a
 * collector the table fills after enough processes have come and gone, and
 * from then on new allocations get no stack (id 0) and lose their site.
 *
 * A stack is referenced while an outstanding allocation or a per-(process,
 * stack) totals entry names it; exited processes lose both at reclaim. A
 * pass deletes only stacks found unreferenced in two passes in a row, so a
 * stack captured for an allocation that is being inserted right now is
 * never taken away under it.
 */
#ifndef MO_STACKGC_H
#define MO_STACKGC_H

#include <stddef.h>
#include <stdint.h>

struct mo_stackgc;

struct mo_stackgc *mo_stackgc_new(void);
void mo_stackgc_free(struct mo_stackgc *gc);

/*
 * One pass. stacks_fd: the stack table (key u64 id); referenced: the ids
 * in use (any order, duplicates allowed; sorted in place). Returns the
 * number of stacks deleted, or -errno.
 */
int mo_stackgc_pass(struct mo_stackgc *gc, int stacks_fd, uint64_t *referenced, size_t n);

/* qsort/bsearch order of uint64_t. */
int mo_u64_cmp(const void *a, const void *b);

#endif
