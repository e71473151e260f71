/* Requests parked on the loop thread instead of holding a worker:
 *
 * * a blocking C_WaitForSlotEvent that found no event (it ran with
 *   CKF_DONT_BLOCK): listed here until the slot watcher reports a change,
 *   then every parked wait runs again the same way, and those that still
 *   find nothing come back;
 * * a login of a peer in back-off: on a loop timer until its back-off is
 *   over (the time is asked again then: other logins of the peer may have
 *   failed meanwhile).
 *
 * The slot watcher is one thread for the whole daemon, watching only
 * while a wait is parked; it posts each change to the loop thread. A
 * closing connection drops its parked requests unanswered. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "conn_int.h"
#include "error.h"
#include "frontend.h"
#include "log.h"
#include "loop.h"

/* How long one round of the watcher may block (it checks for stop). */
#define PARK_WATCH_MS 1000

/* Loop thread: */
static struct conn_req *waits; /* parked waits of every connection */
static size_t nwaits;
static uint64_t gen = 1; /* moves when the slots changed */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool want, stop, up;
	pthread_t thread;
	struct loop *loop;
} pw = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

uint64_t conn_park_gen(void)
{
	return gen;
}

static void park_want(bool want)
{
	pthread_mutex_lock(&pw.lock);
	if (pw.want != want) {
		pw.want = want;
		pthread_cond_signal(&pw.cond);
	}
	pthread_mutex_unlock(&pw.lock);
}

/* ---- the per-connection list ---- */

static void park_link(struct conn_req *q)
{
	struct conn *c = q->c;

	q->prev = NULL;
	q->next = c->parked;
	if (c->parked != NULL)
		c->parked->prev = q;
	c->parked = q;
	c->nparked++;
}

static void park_unlink(struct conn_req *q)
{
	struct conn *c = q->c;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		c->parked = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	c->nparked--;
	if (q->in_waits) {
		if (q->gprev != NULL)
			q->gprev->gnext = q->gnext;
		else
			waits = q->gnext;
		if (q->gnext != NULL)
			q->gnext->gprev = q->gprev;
		q->gprev = q->gnext = NULL;
		q->in_waits = false;
		if (--nwaits == 0)
			park_want(false);
	}
	loop_timer_cancel(c->loop, &q->timer);
}

/* ---- waits ---- */

void conn_park_wait(struct conn_req *q)
{
	if (q->gen != gen) { /* the slots changed while it ran */
		q->gen = gen;
		conn_run(q);
		return;
	}
	park_link(q);
	q->in_waits = true;
	q->gprev = NULL;
	q->gnext = waits;
	if (waits != NULL)
		waits->gprev = q;
	waits = q;
	if (nwaits++ == 0)
		park_want(true);
}

/* Posted by the watcher: every parked wait runs again. */
static void park_on_change(struct loop *loop, void *ctx)
{
	struct conn_req *q;

	(void)loop;
	(void)ctx;
	gen++;
	while ((q = waits) != NULL) {
		park_unlink(q);
		q->gen = gen;
		conn_run(q);
	}
}

void conn_park_finalize(struct conn *c)
{
	struct conn_req *q, *next;

	for (q = c->parked; q != NULL; q = next) {
		next = q->next;
		if (!q->wait)
			continue;
		park_unlink(q);
		q->cancel = true;
		conn_run(q);
	}
}

void conn_park_drop(struct conn *c)
{
	struct conn_req *q;

	while ((q = c->parked) != NULL) {
		park_unlink(q);
		conn_req_free(q);
	}
}

/* ---- logins in back-off ---- */

static void park_on_login_due(struct loop *loop, void *ctx)
{
	struct conn_req *q = ctx;
	unsigned delay;

	q->timer = NULL; /* fired: gone */
	if ((delay = backoff_delay_ms(q->c->peer.uid)) > 0 &&
	    loop_timer_add(loop, delay, park_on_login_due, q, &q->timer) == 0)
		return;
	park_unlink(q);
	conn_run(q);
}

int conn_park_login(struct conn_req *q, unsigned delay_ms)
{
	int r;

	r = loop_timer_add(q->c->loop, delay_ms, park_on_login_due, q,
			   &q->timer);
	if (r != 0) {
		conn_req_free(q);
		return r;
	}
	park_link(q);
	log_debug("connection %llu: uid %u in login back-off, login in %u ms",
		  (unsigned long long)q->c->id, (unsigned)q->c->peer.uid,
		  delay_ms);
	return 0;
}

/* ---- the slot watcher thread ---- */

static void *park_watch_main(void *unused)
{
	uint64_t seen = 0;
	bool changed;

	(void)unused;
	pthread_mutex_lock(&pw.lock);
	while (!pw.stop) {
		if (!pw.want) {
			pthread_cond_wait(&pw.cond, &pw.lock);
			continue;
		}
		pthread_mutex_unlock(&pw.lock);
		/* The first round always reports: a change between a wait's
		 * run and this snapshot must not be lost. */
		changed = frontend_events_watch(&seen, PARK_WATCH_MS);
		pthread_mutex_lock(&pw.lock);
		if (changed && !pw.stop &&
		    loop_post(pw.loop, park_on_change, NULL) != 0)
			log_err("slot watcher: cannot wake the parked waits");
	}
	pthread_mutex_unlock(&pw.lock);
	return NULL;
}

int conn_park_start(struct loop *loop)
{
	int e;

	pw.loop = loop;
	pw.stop = false;
	e = pthread_create(&pw.thread, NULL, park_watch_main, NULL);
	if (e != 0) {
		log_err("slot watcher: pthread_create: %s", strerror(e));
		return TK_ERR_NOMEM;
	}
	pw.up = true;
	return 0;
}

void conn_park_stop(void)
{
	if (!pw.up)
		return;
	pthread_mutex_lock(&pw.lock);
	pw.stop = true;
	pthread_cond_signal(&pw.cond);
	pthread_mutex_unlock(&pw.lock);
	frontend_events_wake();
	pthread_join(pw.thread, NULL);
	pw.up = false;
}
