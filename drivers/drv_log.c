#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "drv_log.h"

void drv_log(const char *fn, const char *fmt, ...)
{
	va_list ap;

	if (!getenv("TOKEND_DEBUG"))
		return;
	va_start(ap, fmt);
	fprintf(stderr, "tokend: %s: ", fn);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
