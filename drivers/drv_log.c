#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "drv_log.h"

static drv_log_sink log_sink;

void drv_log_set_sink(drv_log_sink sink)
{
	log_sink = sink;
}

static void drv_vlog(const char *fn, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void drv_vlog(const char *fn, const char *fmt, va_list ap)
{
	fprintf(stderr, "tokend: %s%s", fn ? fn : "", fn ? ": " : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void drv_log(const char *fn, const char *fmt, ...)
{
	va_list ap;

	if (!getenv("TOKEND_DEBUG"))
		return;
	va_start(ap, fmt);
	drv_vlog(fn, fmt, ap);
	va_end(ap);
}

void drv_notice(const char *fn, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	if (log_sink) {
		vsnprintf(line, sizeof(line), fmt, ap);
		log_sink(false, line);
	} else if (getenv("TOKEND_DEBUG")) {
		drv_vlog(fn, fmt, ap);
	}
	va_end(ap);
}

void drv_warn(const char *fn, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	if (log_sink) {
		vsnprintf(line, sizeof(line), fmt, ap);
		log_sink(true, line);
	} else {
		drv_vlog(fn, fmt, ap);
	}
	va_end(ap);
}
