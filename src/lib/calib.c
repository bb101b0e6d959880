// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* calib.c - time one probe hit (calib.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "calib.h"
#include "probesite.h"
#include "procmaps.h"

#define CALLS 20000
#define ROUNDS 5

/*
 * The probed function. It starts as the allocators' probe sites do, with an
 * instruction the kernel emulates (push %rbp): a compiler would make a leaf
 * of it whose first instruction is single-stepped, several times costlier.
 */
#ifdef __x86_64__
int mo_calib_target(int x);
__asm__(".text\n"
	".globl mo_calib_target\n"
	".type mo_calib_target, @function\n"
	"mo_calib_target:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	lea 1(%rdi), %eax\n"
	"	pop %rbp\n"
	"	ret\n"
	".size mo_calib_target, .-mo_calib_target\n");

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ns per call of CALLS calls through a volatile pointer. */
static double time_calls(void)
{
	int (*volatile fn)(int) = mo_calib_target;
	uint64_t t0 = now_ns();
	int acc = 0;

	for (int i = 0; i < CALLS; i++)
		acc = fn(acc);
	__asm__ volatile("" : : "r"(acc));
	return (double)(now_ns() - t0) / CALLS;
}

/* The file and offset of the probe site in our own mappings. */
static int own_site(char *path, size_t len, uint64_t *offset)
{
	uintptr_t addr = (uintptr_t)mo_calib_target;
	struct mo_probe_site site;
	const struct mo_map *m;
	struct mo_maps maps;
	int err = mo_procmaps_read(getpid(), &maps);

	if (err)
		return err;
	m = mo_maps_find(&maps, addr);
	if (!m || !m->path || !m->x) {
		mo_maps_release(&maps);
		return -ENOENT;
	}
	snprintf(path, len, "%s", m->path);
	mo_probe_site_pick_args((const uint8_t *)addr, 64, MO_ARG_RDI, &site);
	*offset = addr - m->start + m->offset + site.offset;
	mo_maps_release(&maps);
	return 0;
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

int mo_calibrate_probe_cost(struct bpf_program *enter, struct bpf_program *ret,
			    double *entry_ns, double *return_ns)
{
	LIBBPF_OPTS(bpf_uprobe_opts, eo);
	LIBBPF_OPTS(bpf_uprobe_opts, ro, .retprobe = true);
	double entry[ROUNDS], retn[ROUNDS];
	char path[4096];
	uint64_t off;
	int err = own_site(path, sizeof(path), &off);

	if (err)
		return err;
	for (int r = 0; r < ROUNDS; r++) {
		struct bpf_link *le, *lr;
		double base, with_entry, with_both;

		base = time_calls();
		le = bpf_program__attach_uprobe_opts(enter, getpid(), path, off, &eo);
		if (!le)
			return -errno;
		with_entry = time_calls();
		lr = bpf_program__attach_uprobe_opts(ret, getpid(), path, off, &ro);
		if (!lr) {
			err = -errno;
			bpf_link__destroy(le);
			return err;
		}
		with_both = time_calls();
		bpf_link__destroy(lr);
		bpf_link__destroy(le);
		entry[r] = with_entry - base;
		retn[r] = with_both - with_entry;
	}
	/* the median round: one disturbed round moves neither figure */
	*entry_ns = median(entry, ROUNDS);
	*return_ns = median(retn, ROUNDS);
	if (*entry_ns < 0)
		*entry_ns = 0;
	if (*return_ns < 0)
		*return_ns = 0;
	return 0;
}

#else	/* the target above is x86-64 code */

int mo_calibrate_probe_cost(struct bpf_program *enter, struct bpf_program *ret,
			    double *entry_ns, double *return_ns)
{
	(void)enter, (void)ret, (void)entry_ns, (void)return_ns;
	return -EOPNOTSUPP;
}

#endif
