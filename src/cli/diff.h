/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * diff.h - the `memobserver diff` subcommand: what grew between two heap
 * profiles (docs/profiles.md).
 */
#ifndef MO_CLI_DIFF_H
#define MO_CLI_DIFF_H

/* argv[0] is "diff". Returns the exit status; on bad usage or input,
 * exits with status 2 after one error line. */
int diff_main(int argc, char **argv);

#endif
