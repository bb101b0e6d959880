/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * privs.h - least privilege for the memobserver process: once the probes
 * are loaded, give up the capabilities that nothing will need again
 * (docs/privileges.md says which and why).
 */
#ifndef MO_PRIVS_H
#define MO_PRIVS_H

#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>

#define PRIV_BIT(cap) (1ULL << (cap))

/*
 * Limit the calling thread: its bounding set to the capabilities in
 * bounding (when it holds CAP_SETPCAP; without it the bounding set stays),
 * its effective, permitted and inheritable sets to those in keep (PRIV_BIT
 * masks), its ambient set to none. Threads created later inherit the
 * result; threads that already exist keep theirs. 0 or -errno; on error
 * what was dropped stays dropped.
 */
int privs_limit(uint64_t bounding, uint64_t keep);

/* The calling thread's capability sets as masks. 0 or -errno. */
int privs_get(uint64_t *effective, uint64_t *permitted);

/* The command's policy (docs/privileges.md). */

/* What is missing to load BPF programs ("CAP_BPF", ...), or NULL. */
const char *privs_missing(void);

/*
 * Drop what memobserver will not need: before start (started false) all
 * but what loading, attaching and binding need; after start, those too.
 * writes_files: files are written at the end (pprof, folded, flame graph)
 * and may lie where only CAP_DAC_OVERRIDE writes. parser: the parser
 * process is started later (privsep.h): CAP_SETUID and CAP_SETGID, when
 * held, stay permitted, inheritable and ambient but not effective, so that
 * the program it runs may give up its user and no thread here can use
 * them. 0 or -errno.
 */
int privs_drop(bool writes_files, bool parser, bool started);

/*
 * The parser process (MO_PRIVSEP_CHILD_ARG), its socket at fd sock: user
 * nobody (its groups none), no capability, not dumpable, limits on core
 * files and address space, then mo_privsep_confine and serving. Returns
 * the process's exit status.
 */
int privs_parser_main(int sock);

#endif
