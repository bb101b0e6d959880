/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof.h - a report as a gzipped pprof profile (profile.proto) in the
 * layout of Go's heap profiles: one sample per stack, labelled with its
 * pid, command and container; functions (demangled name, and the linkage
 * name as system_name), locations (inlined frames as lines of one
 * location) and mappings with build ids — what `go tool pprof`, Grafana
 * Pyroscope and Parca read.
 */
#ifndef MO_PPROF_H
#define MO_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include "memobserver.h"

enum mo_pprof_kind {
	/* sample types alloc_objects/count, alloc_space/bytes,
	 * inuse_objects/count, inuse_space/bytes (each leak's count and
	 * unfreed_bytes are what is in use) */
	MO_PPROF_HEAP,
	/* growth_samples/count, growth_space/bytes: the watch tier's
	 * growth stacks (count: samples, unfreed_bytes: bytes faulted in) */
	MO_PPROF_GROWTH,
};

/*
 * What reads the build id of a frame's module when the frame came without
 * one (the file is the traced process's, opened here with mo_safe_open):
 * elfsym.h's mo_elf_build_id_fd contract; privsep.h's parser, or this
 * process by default. Process-wide: set by the observer that owns ctx; fn
 * NULL restores the default.
 */
typedef int (*mo_build_id_reader_fn)(void *ctx, int fd, char *out, size_t outlen);
void mo_pprof_set_build_id_reader(mo_build_id_reader_fn fn, void *ctx);
/* The reader now: ctx, or NULL with the default. */
void *mo_pprof_build_id_reader_ctx(void);

/* The gzipped profile into *gz (malloc'ed, *len bytes). 0 or -errno. */
int mo_pprof_encode(const struct mo_report *r, enum mo_pprof_kind kind, uint8_t **gz,
		    size_t *len);

/* What a bounded profile left out. */
struct mo_pprof_cut {
	uint64_t samples;	/* stacks (the report's leaks) left out */
	uint64_t bytes;		/* their unfreed bytes */
};

/*
 * As mo_pprof_encode, with at most max_samples samples and max_len gzipped
 * bytes (0: no limit): the leaks with the most unfreed bytes are kept, the
 * others are counted in *cut and in a comment of the profile. 0 or -errno
 * (-EFBIG: not even an empty profile fits).
 */
int mo_pprof_encode_bounded(const struct mo_report *r, enum mo_pprof_kind kind,
			    size_t max_samples, size_t max_len, uint8_t **gz, size_t *len,
			    struct mo_pprof_cut *cut);

/* A heap profile written to path atomically (temp file + rename). 0 or
 * -errno; err gets a one-line reason. */
int mo_pprof_write(const struct mo_report *r, const char *path, char *err, size_t errlen);

#endif
