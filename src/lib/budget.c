// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* budget.c - duty cycle of the allocating probes under an overhead budget. */
#include "budget.h"

void mo_budget_decide(double budget, const struct mo_budget_window *w,
		      struct mo_budget_verdict *v)
{
	double entry = w->entry_ns > 0 ? w->entry_ns : MO_COST_ENTRY_NS;
	double ret = w->return_ns > 0 ? w->return_ns : MO_COST_RETURN_NS;
	double alloc_s = ((double)w->hits_alloc * entry + (double)w->hits_return * ret) / 1e9;
	double free_s = (double)w->hits_free * entry / 1e9;
	/* the process's own work: its CPU time minus what the probes took;
	 * the estimate may exceed the measured time (costs vary by machine) */
	double work = w->cpu_s - alloc_s - free_s;
	double d;

	if (work < w->cpu_s * 0.05)
		work = w->cpu_s * 0.05;
	v->duty = 1;
	v->overhead = 0;
	v->expected = 0;
	v->unattainable = 0;
	if (w->cpu_s <= 0 || (alloc_s <= 0 && free_s <= 0))
		return;
	v->overhead = (alloc_s + free_s) / work;
	v->expected = v->overhead;
	if (v->overhead <= budget || alloc_s <= 0 || alloc_s + free_s < MO_BUDGET_FLOOR_S)
		return;
	/* d * alloc + free = budget * work */
	d = (budget * work - free_s) / alloc_s;
	if (d < MO_DUTY_MIN) {
		d = MO_DUTY_MIN;
		v->unattainable = budget * work < free_s;
	}
	if (d > 1)
		d = 1;
	v->duty = d;
	v->expected = (d * alloc_s + free_s) / work;
}
