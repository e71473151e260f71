/* Text and JSON helpers shared by the control socket and tokenctl. */
#include <stdarg.h>
#include <stdio.h>

#include "buf.h"
#include "control_fmt.h"

void control_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void control_json_str(struct buf *b, const char *s)
{
	buf_add_u8(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			control_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			control_printf(b, "\\u%04x", *p);
		else
			buf_add_u8(b, *p);
	}
	buf_add_u8(b, '"');
}
