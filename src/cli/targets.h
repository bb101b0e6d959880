/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * targets.h - what the command line asks to observe, checked and set up:
 * pids, a command started under observation, a container or cgroup, and
 * the --list-allocators report. Each exits with one error line on bad input.
 */
#ifndef MO_CLI_TARGETS_H
#define MO_CLI_TARGETS_H

#include <sys/types.h>

#include "options.h"

/* --list-allocators: print; the exit status. */
int targets_list_allocators(struct cli *c, pid_t pid);

/* Every -p names a process memobserver can observe. */
void targets_check_pids(struct cli *c);

/* The program the command will run (PATH lookup like execvp), into exe. */
void targets_resolve_command(struct cli *c, char *exe, size_t len);

/* Fork the command, stopped until targets_release_command; -1 on error. */
pid_t targets_fork_command(struct cli *c, const char *exe, int *go);
void targets_release_command(struct cli *c, int go);

/* --container/--cgroup: the cgroup to filter on, set on obs. */
void targets_set_cgroup(struct cli *c, struct mo_observer *obs);

/* Mount tracefs where it is missing (the library never mounts). */
void targets_mount_tracefs(void);

#endif
