// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* env.c - the core's logger (env.h). */
#include <stdarg.h>
#include <stdio.h>

#include "core/env.h"

void mo_env_log(const struct mo_env *e, enum mo_log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!e->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->log(lvl, buf, e->log_ctx);
}
