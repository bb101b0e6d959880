/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof_read.h - a pprof profile read back (gzipped or not, ours or any
 * other profiler's), checked and flattened: each sample becomes a stack
 * of frame names, leaf first, with the sample's values. The input is
 * untrusted: every reference is checked, and decompressed size, memory
 * and frames are bounded.
 *
 * Frames are named by function (the demangled name, inlined frames each
 * their own); a location nobody symbolized by its file and the offset in
 * it ("libfoo.so+0x1a2b"), which stays the same from one run to the next.
 * Names carry a 64-bit hash: stacks are told apart by hashes only.
 */
#ifndef MO_PPROF_READ_H
#define MO_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

/* At most this many bytes once decompressed. */
#define MO_PPROF_READ_MAX (256u << 20)
/* Frames of one stack beyond this are dropped (counted in frames_cut). */
#define MO_PPROF_READ_MAX_FRAMES 1024u

struct mo_pprof_frame {
	const char *name;
	uint64_t hash;
};

struct mo_pprof_stack {
	const char *command;	/* the "command" label, "" when none */
	const struct mo_pprof_frame *frames;	/* leaf first */
	size_t nframes;
	uint64_t hash;		/* of the command and the frames' names */
	const int64_t *values;	/* one per sample type */
};

struct mo_pprof_data {
	size_t ntypes;
	const char **types;	/* sample types ("inuse_space") */
	const char **units;	/* and their units ("bytes") */
	int64_t time_nanos;	/* when it was taken; 0 when unknown */
	size_t nstacks;
	struct mo_pprof_stack *stacks;
	uint64_t frames_cut;	/* beyond MO_PPROF_READ_MAX_FRAMES */
	void *priv;		/* what the pointers above point into */
};

/*
 * Read a profile from len bytes at data. 0, or -EINVAL (not a profile,
 * corrupt: *why names the problem), -EFBIG (beyond the bounds), -ENOMEM.
 * Release with mo_pprof_data_release, also after an error.
 */
int mo_pprof_read(const void *data, size_t len, struct mo_pprof_data *out, const char **why);

void mo_pprof_data_release(struct mo_pprof_data *p);

/* The index of the sample type named type, or -1. */
int mo_pprof_type_index(const struct mo_pprof_data *p, const char *type);

#endif
