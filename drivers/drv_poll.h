/* A driver's polling interval with back-off: a driver that must poll a
 * device (the TPM's liveness check, a module's probe for tokens made by
 * another process) polls at min_ms after a change, doubles the interval
 * up to max_ms while nothing changes, and goes back to min_ms when a
 * client looks at the slots (drivers_attend: C_GetSlotList's size query,
 * C_WaitForSlotEvent). While a client waits for slot events the interval
 * stays at min_ms, so what the wait is for still comes within min_ms.
 * Not thread-safe: under the driver's own lock. */
#ifndef TOKEND_DRV_POLL_H
#define TOKEND_DRV_POLL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define DRV_POLL_MIN_MS 2000u
#define DRV_POLL_MAX_MS 30000u

struct drv_poll {
	unsigned min_ms, max_ms;
	unsigned cur_ms;  /* the wait after the last poll */
	uint64_t last_ms; /* CLOCK_MONOTONIC: the last poll */
	bool held;        /* a client waits: cur_ms stays at min_ms */
};

void drv_poll_init(struct drv_poll *p, unsigned min_ms, unsigned max_ms);
/* A poll ran now; changed: it found a change (or the device came). */
void drv_poll_done(struct drv_poll *p, bool changed);
/* Clients looked at the slots; waiting: whether one waits for slot events
 * now. True when the next poll comes earlier than planned: the poller
 * should take its deadline again (drv_poll_deadline). */
bool drv_poll_attend(struct drv_poll *p, bool waiting);
/* The next poll's time, for pthread_cond_timedwait on a CLOCK_MONOTONIC
 * condition (in the past when it is due). */
void drv_poll_deadline(const struct drv_poll *p, struct timespec *ts);

#endif
