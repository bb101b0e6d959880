/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * budget.h - the overhead budget (--max-overhead PERCENT).
 *
 * What the probes cost a process is estimated from its probe hits (counted
 * by the BPF programs) times the cost of one hit, measured on the machines
 * we run on (docs/performance.md): an entry uprobe at an emulated
 * instruction, and the return probe. The budget compares that with the CPU
 * time the process spends on its own work, and answers the duty cycle: the
 * fraction of time the probes of the ALLOCATING functions may stay attached.
 * The probes of free/realloc/delete always stay (a missed free would make a
 * phantom leak), so their cost is the floor the budget cannot go under.
 * Pure arithmetic, unit-tested.
 */
#ifndef MO_BUDGET_H
#define MO_BUDGET_H

#include <stdint.h>

/* Defaults, measured on our machines (docs/performance.md); at start the
 * costs are measured on the machine itself when it can be (calib.h). */
#define MO_COST_ENTRY_NS 900.0	/* uprobe at an emulated instruction */
#define MO_COST_RETURN_NS 600.0	/* the return half (uretprobe trampoline) */
#define MO_COST_PROGRAM_NS 100.0	/* our programs' own work per hit, added to a
					   measured trap (the calibration's are empty) */
#define MO_DUTY_MIN 0.05	/* never shed more than 95 % of the time */
#define MO_BUDGET_FLOOR_S 0.001	/* probe CPU in a window below which nothing is
				   shed: 0.2 % of one core over the shortest
				   window, whatever share of a mostly sleeping
				   process's own work it is */

/* One process over one phase (attached or shed). */
struct mo_budget_window {
	uint64_t hits_alloc;	/* entries of allocating functions */
	uint64_t hits_free;	/* entries of freeing functions */
	uint64_t hits_return;	/* return probes */
	double cpu_s;		/* CPU time the process used, user + system */
	double entry_ns;	/* cost of an entry hit (0: MO_COST_ENTRY_NS) */
	double return_ns;	/* cost of a return hit (0: MO_COST_RETURN_NS) */
};

struct mo_budget_verdict {
	double duty;		/* MO_DUTY_MIN..1: share of time allocating probes stay */
	double overhead;	/* estimated probe cost / the process's own work,
				   at full attachment (fraction) */
	double expected;	/* the same at the chosen duty cycle */
	int unattainable;	/* the budget is below the free probes' cost alone */
};

/*
 * budget: fraction (0.02 = 2 %). w: a window measured with every probe
 * attached. A window without CPU time or hits keeps the duty cycle at 1.
 */
void mo_budget_decide(double budget, const struct mo_budget_window *w,
		      struct mo_budget_verdict *v);

#endif
