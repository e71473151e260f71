/* Text and JSON helpers shared by the control socket and tokenctl. */
#ifndef TOKEND_CONTROL_FMT_H
#define TOKEND_CONTROL_FMT_H

struct buf;

/* printf into a buf (sticky failure on a buf error). */
void control_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal of s: quotes, backslashes and bytes outside
 * printable ASCII escaped as \uXXXX, so any token label is valid JSON. */
void control_json_str(struct buf *b, const char *s);

#endif
