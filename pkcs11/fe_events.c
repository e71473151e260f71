/* Slot events: C_WaitForSlotEvent per application, the daemon's watch of
 * the slots, and the module's own event source (a hotplug queue and a
 * PC/SC watcher) that C_GetSlotList and the waits pump. Nothing here polls
 * a device: a wait sleeps until a watcher's message was applied
 * (frontend.c) or it is cancelled. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotplug.h"
#include "internal.h"

/* ---- the module's source ---- */

int frontend_events_pcsc(void)
{
	struct hotplug_queue *q = NULL;
	struct hotplug_pcsc *w = NULL;
	int r;

	if ((r = hotplug_queue_new(&q)) < 0)
		return r;
	if ((r = hotplug_pcsc_new(&w, q, NULL)) < 0) {
		hotplug_queue_free(&q);
		return r;
	}
	pthread_mutex_lock(&fe.lock);
	fe.q = q;
	fe.pcsc = w;
	fe.own_q = true;
	pthread_mutex_unlock(&fe.lock);
	frontend_drivers_watch(q);
	return 0;
}

void frontend_events_queue(struct hotplug_queue *q)
{
	pthread_mutex_lock(&fe.lock);
	fe.q = q;
	fe.pcsc = NULL;
	fe.own_q = false;
	pthread_mutex_unlock(&fe.lock);
}

void fe_events_source_free(void)
{
	pthread_mutex_lock(&fe.lock);
	/* The watcher first: it pushes into the queue. */
	hotplug_pcsc_free(&fe.pcsc);
	fe.pcsc_started = false;
	if (fe.own_q)
		hotplug_queue_free(&fe.q);
	fe.q = NULL;
	fe.own_q = false;
	pthread_mutex_unlock(&fe.lock);
}

/* Without fe.lock: applies what the watchers queued, in order. scan: the
 * PC/SC watcher looks once first on this thread (unless its own thread
 * runs). Cards whose probe failed for a passing reason are probed again.
 * In the daemon (no queue) only the latter. */
void fe_events_pump(bool scan)
{
	struct fe_device_report rep;
	struct hotplug_msg m;

	pthread_mutex_lock(&fe.apply);
	if (fe.q) {
		if (scan && fe.pcsc)
			(void)hotplug_pcsc_scan(fe.pcsc);
		while (hotplug_queue_pop(fe.q, &m) == 1)
			fe_device_apply(&m, NULL);
	}
	while (fe_device_retry_one(&rep) && rep.opened)
		;
	pthread_mutex_unlock(&fe.apply);
	if (scan) { /* a client looks: polling drivers look soon too */
		pthread_mutex_lock(&fe.lock);
		fe_drivers_attend();
		pthread_mutex_unlock(&fe.lock);
	}
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts); /* fe.changed's clock */
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ---- the daemon's messages under way ---- */

void frontend_devices_pending(int delta)
{
	pthread_mutex_lock(&fe.lock);
	if (delta < 0 && fe.pending < (unsigned)-delta)
		fe.pending = 0;
	else
		fe.pending += (unsigned)delta;
	if (fe.pending == 0)
		pthread_cond_broadcast(&fe.changed);
	pthread_mutex_unlock(&fe.lock);
}

void fe_events_settle(void)
{
	struct timespec ts;

	pthread_mutex_lock(&fe.lock);
	if (fe.pending) {
		deadline_in(&ts, FE_PENDING_WAIT_MS);
		while (fe.pending && fe.up &&
		       pthread_cond_timedwait(&fe.changed, &fe.lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&fe.lock);
}

/* ---- what each app has seen ---- */

/* fe.lock held. */
static void app_seen_take(struct app *app)
{
	memset(app->seen, 0, sizeof(app->seen));
	for (size_t i = 0; i < fe.nslots; i++) {
		app->seen[i].known = true;
		app->seen[i].present = fe.slots[i]->dev.present;
		app->seen[i].events = fe.slots[i]->dev.events;
	}
	app->seen_taken = true;
}

void app_events_reset(struct app *app)
{
	if (fe.up)
		fe_events_pump(true);
	pthread_mutex_lock(&fe.lock);
	app_seen_take(app);
	pthread_mutex_unlock(&fe.lock);
}

/* fe.lock held: the first slot that changed since the app looked, which
 * it has now seen. */
static bool app_take_event(struct app *app, CK_SLOT_ID *id)
{
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		struct app_seen *seen = &app->seen[i];
		bool present = slot->dev.present, ev;

		ev = seen->known ? seen->present != present ||
				       seen->events != slot->dev.events
				 : present;
		seen->known = true;
		seen->present = present;
		seen->events = slot->dev.events;
		if (ev) {
			*id = slot->id;
			return true;
		}
	}
	return false;
}

/* ---- waiting ---- */

/* fe.lock held: one round of a blocking wait, until the slots may have
 * changed or a wait was cancelled. With the front end's own queue, one
 * waiter sleeps on it (the PC/SC watcher's thread running meanwhile) and
 * applies what comes; the others sleep until it did. Without one, the
 * daemon's device events wake the waits. timeout_ms < 0: none. */
static void fe_wait_round(int timeout_ms)
{
	struct timespec ts;

	if (!fe.q || fe.draining) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&fe.changed, &fe.lock);
			return;
		}
		deadline_in(&ts, (unsigned)timeout_ms);
		pthread_cond_timedwait(&fe.changed, &fe.lock, &ts);
		return;
	}
	fe.draining = true;
	if (fe.pcsc && !fe.pcsc_started)
		fe.pcsc_started = hotplug_pcsc_start(fe.pcsc) == 0;
	pthread_mutex_unlock(&fe.lock);
	if (hotplug_queue_wait(fe.q, timeout_ms) == HOTPLUG_WAIT_EVENT)
		fe_events_pump(false);
	pthread_mutex_lock(&fe.lock);
	fe.draining = false;
	pthread_cond_broadcast(&fe.changed);
}

/* fe.lock held: a thread starts or ends a blocking wait; the last one out
 * stops the module's watcher thread (no thread while nobody waits). */
static void fe_blocked(bool in)
{
	if (in) {
		/* the first waiter holds polling drivers at their interval */
		if (fe.blocked++ == 0)
			fe_drivers_attend();
		return;
	}
	if (--fe.blocked == 0)
		fe_drivers_attend();
	if (fe.blocked == 0 && fe.pcsc_started) {
		hotplug_pcsc_stop(fe.pcsc);
		fe.pcsc_started = false;
	}
	pthread_cond_broadcast(&fe.changed);
}

CK_RV fe_C_WaitForSlotEvent(struct app *app, CK_FLAGS flags,
			    CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	bool pumped = false, blocked = false;
	uint64_t gen;
	CK_RV rv;

	if (!pSlot || pReserved)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&fe.lock);
	gen = app->cancel_gen;
	app->waiters++;
	if (!app->seen_taken)
		app_seen_take(app);
	for (;;) {
		if (!fe.up || app->dead || app->cancel_gen != gen) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		if (app_take_event(app, pSlot)) {
			rv = CKR_OK;
			break;
		}
		if (!pumped) { /* what the watchers have to say now */
			pthread_mutex_unlock(&fe.lock);
			fe_events_pump(true);
			pthread_mutex_lock(&fe.lock);
			pumped = true;
			continue;
		}
		if (flags & CKF_DONT_BLOCK) {
			rv = CKR_NO_EVENT;
			break;
		}
		if (!blocked)
			fe_blocked(blocked = true);
		fe_wait_round(-1);
	}
	if (blocked)
		fe_blocked(false);
	app->waiters--;
	pthread_cond_broadcast(&fe.changed);
	pthread_mutex_unlock(&fe.lock);
	return rv;
}

/* fe.lock held: wakes the app's blocked waits (and the one sleeping on the
 * queue, which may be another app's: it goes back to sleep). */
static void app_wake_waits(struct app *app)
{
	if (!app->waiters)
		return;
	pthread_cond_broadcast(&fe.changed);
	if (fe.q && fe.draining)
		hotplug_queue_wake(fe.q);
}

void app_wait_cancel(struct app *app)
{
	pthread_mutex_lock(&fe.lock);
	app->cancel_gen++;
	app_wake_waits(app);
	pthread_mutex_unlock(&fe.lock);
}

void app_wait_close(struct app *app)
{
	pthread_mutex_lock(&fe.lock);
	app->dead = true; /* checked by every wait before it blocks */
	app->cancel_gen++;
	app_wake_waits(app);
	pthread_mutex_unlock(&fe.lock);
}

/* fe.lock held: a fingerprint of what C_WaitForSlotEvent reports (FNV-1a
 * over each slot's presence and event count), never 0. */
static uint64_t frontend_events_state(void)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < fe.nslots; i++) {
		uint64_t v = fe.slots[i]->dev.events * 2u +
			     (fe.slots[i]->dev.present ? 1u : 0u);
		for (int b = 0; b < 64; b += 8) {
			h ^= (v >> b) & 0xff;
			h *= 1099511628211ull;
		}
		h ^= 0xff; /* slot separator */
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

bool frontend_events_watch(uint64_t *seen, unsigned timeout_ms)
{
	uint64_t now;
	bool changed;

	pthread_mutex_lock(&fe.lock);
	if (fe.up && *seen != 0 && frontend_events_state() == *seen) {
		fe_blocked(true);
		fe_wait_round((int)timeout_ms);
		fe_blocked(false);
	} else if (!fe.up) {
		fe_wait_round((int)timeout_ms);
	}
	now = fe.up ? frontend_events_state() : 0;
	changed = now != *seen;
	*seen = now;
	pthread_mutex_unlock(&fe.lock);
	return changed;
}

void frontend_events_wake(void)
{
	pthread_mutex_lock(&fe.lock);
	pthread_cond_broadcast(&fe.changed);
	if (fe.q && fe.draining)
		hotplug_queue_wake(fe.q);
	pthread_mutex_unlock(&fe.lock);
}

void frontend_app_drain(struct app *app)
{
	pthread_mutex_lock(&fe.lock);
	app->dead = true;
	while (app->waiters) {
		app_wake_waits(app);
		pthread_cond_wait(&fe.changed, &fe.lock);
	}
	pthread_mutex_unlock(&fe.lock);
}
