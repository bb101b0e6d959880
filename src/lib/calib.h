/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * calib.h - what one probe hit costs on this machine, measured at start
 * for the overhead budget: a function of memobserver's own is called in a
 * loop without probes, with an entry uprobe, and with a return probe too
 * (empty BPF programs), and the differences are divided by the calls. The
 * probe sits where the allocator probes would (probesite.h), so the kernel
 * emulates the probed instruction as it does for them.
 */
#ifndef MO_CALIB_H
#define MO_CALIB_H

struct bpf_program;

/* enter, ret: the "uprobe" and "uretprobe" calibration programs, loaded.
 * Writes nanoseconds per hit (the median of five rounds). 0 or -errno
 * (the probes could not be attached). */
int mo_calibrate_probe_cost(struct bpf_program *enter, struct bpf_program *ret,
			    double *entry_ns, double *return_ns);

#endif
