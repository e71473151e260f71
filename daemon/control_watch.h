/* tokenctl watch and trace, the daemon's side: events and trace lines
 * posted from any thread, queued per subscriber (a control connection,
 * control.c) and never waited for. */
#ifndef TOKEND_CONTROL_WATCH_H
#define TOKEND_CONTROL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* A watch or trace subscriber: lines (and their bytes) queued for it, and
 * bytes in its output not yet written. Past any of these, lines are dropped
 * and counted ("N events dropped"). */
#define CONTROL_SUB_QUEUE 1024
#define CONTROL_SUB_QUEUE_BYTES (1u << 20)
#define CONTROL_SUB_BACKLOG (256u << 10)

struct ctl_sub;

/* One event field: name and value (a number when number is set, written
 * bare in JSON). A NULL value is left out. */
struct control_field {
	const char *name;
	const char *value;
	bool number;
};

/* Posts an event to every watcher; any thread, never waits. Costs one
 * atomic load when nobody watches. */
void control_event(const char *event, const struct control_field *f, size_t n);
/* token-arrived / token-left (devices.c). what: the token's description. */
void control_event_token(bool arrived, const char *reader, unsigned long slot,
			 const char *serial, const char *what);

/* Whether a tracer wants the calls of connection conn on export. */
bool control_tracing(const char *export, uint64_t conn);
/* Posts one trace line to the tracers of (export, conn): format writes it
 * as text or JSON, only for the forms some tracer wants. Any thread. */
void control_trace(const char *export, uint64_t conn,
		   void (*format)(struct buf *b, bool json, void *ctx),
		   void *ctx);

/* For control.c (loop thread): a subscriber (a watcher, or a tracer of
 * export or of connection conn when conn is not 0). */
int control_sub_new(bool trace, bool json, const char *export, uint64_t conn,
		    struct ctl_sub **out);
void control_sub_free(struct ctl_sub **p);
/* Moves queued lines to out while out holds under CONTROL_SUB_BACKLOG
 * bytes past sent; whether any moved. */
bool control_sub_take(struct ctl_sub *s, struct buf *out, size_t sent);
/* The eventfd that says lines are queued; -1 on failure. */
int control_hub_open(void);
void control_hub_close(int fd);
void control_hub_drain(int fd);

#endif
