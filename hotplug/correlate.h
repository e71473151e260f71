/* The USB-key-to-reader correlator: a USB security key that udev saw but
 * that shows no PC/SC reader within a grace period gets one log line
 * saying why that usually happens. It consumes the messages of both
 * watchers and keeps no clock of its own (the caller passes now_ms), so it
 * is unit-tested with injected events and a fake clock. Not thread-safe:
 * feed it from the thread that drains the queue. */
#ifndef TOKEND_HOTPLUG_CORRELATE_H
#define TOKEND_HOTPLUG_CORRELATE_H

#include <stdint.h>

#include "hotplug.h"

#define HOTPLUG_CORRELATE_GRACE_MS 5000

struct hotplug_correlate;

/* grace_ms 0: HOTPLUG_CORRELATE_GRACE_MS. log may be NULL. */
int hotplug_correlate_new(struct hotplug_correlate **out, unsigned grace_ms,
			  hotplug_log_fn log, void *log_ctx);
void hotplug_correlate_free(struct hotplug_correlate **c);

/* Takes one message: USB keys, PC/SC readers and pcscd lost/back count,
 * the rest is ignored. Returns 0 or TK_ERR_NOMEM. */
int hotplug_correlate_feed(struct hotplug_correlate *c,
			   const struct hotplug_msg *m, uint64_t now_ms);

/* Logs each key whose grace ran out by now_ms (once per key). Returns the
 * ms until the next deadline (arm a timer for it), or -1 when no key
 * waits for its reader. */
long hotplug_correlate_tick(struct hotplug_correlate *c, uint64_t now_ms);

#endif
