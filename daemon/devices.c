/* See devices.h. */
#include "devices.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_watch.h"
#include "correlate.h"
#include "error.h"
#include "frontend.h"
#include "hotplug.h"
#include "log.h"
#include "loop.h"
#include "worker.h"

/* A card that could not be read for a passing reason (another program
 * holds it, pcscd just came back) is probed again: first after this, then
 * doubled up to the cap. */
#define DEVICES_RETRY_FIRST_MS 500
#define DEVICES_RETRY_MAX_MS 8000
/* Devices remembered as gone with pcscd, to log their return quietly. */
#define DEVICES_LOST_MAX 64

struct dev_item {
	struct dev_item *next;
	struct hotplug_msg m;
};

struct dev_lost {
	char id[HOTPLUG_ID_MAX];
	char serial[17]; /* the token's, "" when none */
};

struct devices {
	struct loop *loop;
	struct hotplug_queue *q;
	struct hotplug_pcsc *pcsc;
	struct hotplug_udev *udev;
	struct hotplug_correlate *corr;
	struct loop_watch *qwatch, *uwatch;
	struct loop_timer *tick, *retry; /* loop thread */
	unsigned retry_ms;               /* loop thread */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	/* under lock: the messages for the job, in order */
	struct dev_item *head, *tail;
	bool running;    /* a job is on a worker */
	bool want_retry; /* the job probes the failed cards again */
	bool stopping;
	/* the job's own (one job at a time). nlost comes first: the compiler
	 * reads the three flags above as one word, and that word must not
	 * reach into bytes the job writes (TSan reports it). */
	size_t nlost;
	struct dev_lost lost[DEVICES_LOST_MAX];
};

/* The one instance; loop posts find it here (NULL once freed). */
static struct devices *devices_self;

static void devices_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	log_msg(level, NULL, "%s", line);
}

/* ---- pcscd flaps: what left with it and comes back is no news ---- */

static struct dev_lost *lost_find(struct devices *d, const char *id)
{
	for (size_t i = 0; i < d->nlost; i++)
		if (strcmp(d->lost[i].id, id) == 0)
			return &d->lost[i];
	return NULL;
}

static void lost_add(struct devices *d, const char *id, const char *serial)
{
	struct dev_lost *l = lost_find(d, id);

	if (!l && d->nlost == DEVICES_LOST_MAX)
		return; /* only the log gets louder */
	if (!l)
		l = &d->lost[d->nlost++];
	snprintf(l->id, sizeof(l->id), "%s", id);
	if (serial || !l->serial[0])
		snprintf(l->serial, sizeof(l->serial), "%s",
			 serial ? serial : "");
}

static void lost_drop(struct devices *d, const char *id)
{
	struct dev_lost *l = lost_find(d, id);

	if (l)
		*l = d->lost[--d->nlost];
}

/* ---- the job: applies messages on a worker thread ---- */

static void token_line(const struct fe_device_report *rep, char *buf,
		       size_t len)
{
	const struct tk_token_info *ti = &rep->info;

	snprintf(buf, len, "%s%s%s, serial %s, firmware %u.%u.%u, %zu key%s",
		 rep->driver ? rep->driver : "?", ti->model[0] ? " " : "",
		 ti->model, ti->serial[0] ? ti->serial : "unknown",
		 ti->fw_major, ti->fw_minor, ti->fw_patch, rep->nkeys,
		 rep->nkeys == 1 ? "" : "s");
}

static void job_card_arrived(struct devices *d, const struct hotplug_msg *m,
			     const struct fe_device_report *rep)
{
	struct dev_lost *l = lost_find(d, m->id);
	char what[192], line[320];
	bool quiet;

	if (m->mute) {
		hotplug_msg_format(m, line, sizeof(line));
		log_warn("%s", line);
		return;
	}
	if (rep->opened) {
		/* Back after pcscd's return, the same token: no news. */
		quiet = l && strcmp(l->serial, rep->info.serial) == 0;
		lost_drop(d, m->id);
		token_line(rep, what, sizeof(what));
		log_msg(quiet ? LOG_DEBUG : LOG_NOTICE, NULL,
			"token arrived in '%s' (slot %lu): %s", m->id,
			(unsigned long)rep->slot, what);
		control_event_token(true, m->id, rep->slot, rep->info.serial,
				    what);
		return;
	}
	hotplug_msg_format(m, line, sizeof(line));
	if (rep->err == TK_ERR_NOT_FOUND)
		log_warn("%s: no driver serves this card (not a PIV card?)",
			 line);
	else
		log_warn("%s: cannot read the card now (%s); trying again",
			 line, tk_strerror(rep->err));
}

static void job_left(struct devices *d, const struct hotplug_msg *m,
		     const struct fe_device_report *rep)
{
	char line[320];
	int level = m->service_lost ? LOG_DEBUG : LOG_NOTICE;

	if (m->service_lost)
		lost_add(d, m->id, rep->closed ? rep->info.serial : NULL);
	else
		lost_drop(d, m->id);
	if (rep->closed) {
		log_msg(level, NULL,
			"token left '%s' (slot %lu): serial %s; its sessions "
			"are closed",
			m->id, (unsigned long)rep->slot,
			rep->info.serial[0] ? rep->info.serial : "unknown");
		control_event_token(false, m->id, rep->slot, rep->info.serial,
				    NULL);
		return;
	}
	hotplug_msg_format(m, line, sizeof(line));
	log_msg(m->kind == HOTPLUG_PCSC_CARD ? LOG_INFO : level, NULL, "%s",
		line);
}

static void job_apply(struct devices *d, const struct hotplug_msg *m)
{
	struct fe_device_report rep;
	char line[320];

	if (m->kind == HOTPLUG_PCSC_READER && m->ev == HOTPLUG_ARRIVED) {
		hotplug_msg_format(m, line, sizeof(line));
		log_msg(lost_find(d, m->id) ? LOG_DEBUG : LOG_NOTICE, NULL,
			"%s", line);
	}
	if (frontend_device_event(m, &rep) < 0)
		log_err("'%s': out of memory: the slot is not updated", m->id);
	if (m->ev == HOTPLUG_LEFT)
		job_left(d, m, &rep);
	else if (m->kind == HOTPLUG_PCSC_CARD)
		job_card_arrived(d, m, &rep);
	if (rep.retry) {
		pthread_mutex_lock(&d->lock);
		d->want_retry = true;
		pthread_mutex_unlock(&d->lock);
	}
}

static void devices_arm_retry(struct loop *loop, void *ctx);

/* Probes the cards that failed for a passing reason; whether some still
 * wait. */
static bool job_retry(struct devices *d)
{
	struct fe_device_report rep;
	char what[192];
	bool again = false;

	while (frontend_device_retry(&rep)) {
		if (!rep.opened) {
			again = again || rep.retry;
			if (!rep.retry)
				log_warn("slot %lu: no driver serves the card "
					 "(%s)",
					 (unsigned long)rep.slot,
					 tk_strerror(rep.err));
			if (rep.retry)
				break; /* the others wait for the next round */
			continue;
		}
		token_line(&rep, what, sizeof(what));
		log_notice("token arrived (slot %lu, on a retry): %s",
			   (unsigned long)rep.slot, what);
		control_event_token(true, NULL, rep.slot, rep.info.serial,
				    what);
	}
	return again;
}

static void devices_job(void *arg)
{
	struct devices *d = arg;
	struct dev_item *it;
	bool retry, again = false;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		if (d->stopping)
			break;
		if ((it = d->head)) {
			if (!(d->head = it->next))
				d->tail = NULL;
			pthread_mutex_unlock(&d->lock);
			job_apply(d, &it->m);
			frontend_devices_pending(-1);
			free(it);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		if (!(retry = d->want_retry))
			break;
		d->want_retry = false;
		pthread_mutex_unlock(&d->lock);
		again = job_retry(d);
		pthread_mutex_lock(&d->lock);
		if (again)
			break;
	}
	d->running = false;
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
	if (again && loop_post(d->loop, devices_arm_retry, NULL) != 0)
		log_err("cannot schedule a card's retry");
}

/* d->lock held: makes sure a job runs. */
static void devices_kick(struct devices *d)
{
	if (d->running || d->stopping)
		return;
	if (worker_submit(devices_job, d) != 0) {
		log_err("no worker for the device events; they wait");
		return;
	}
	d->running = true;
}

/* ---- the loop thread ---- */

static void devices_on_retry(struct loop *loop, void *ctx)
{
	struct devices *d = ctx;

	(void)loop;
	d->retry = NULL; /* fired */
	pthread_mutex_lock(&d->lock);
	d->want_retry = true;
	devices_kick(d);
	pthread_mutex_unlock(&d->lock);
}

static void devices_arm_retry(struct loop *loop, void *ctx)
{
	struct devices *d = devices_self;

	(void)ctx;
	if (!d || d->retry)
		return;
	d->retry_ms = d->retry_ms ? d->retry_ms * 2 : DEVICES_RETRY_FIRST_MS;
	if (d->retry_ms > DEVICES_RETRY_MAX_MS)
		d->retry_ms = DEVICES_RETRY_MAX_MS;
	if (loop_timer_add(loop, d->retry_ms, devices_on_retry, d, &d->retry) !=
	    0)
		log_err("cannot schedule a card's retry");
}

static void devices_on_tick(struct loop *loop, void *ctx);

static void devices_tick_arm(struct devices *d)
{
	long next = hotplug_correlate_tick(d->corr, hotplug_now_ms());

	loop_timer_cancel(d->loop, &d->tick);
	if (next >= 0 && loop_timer_add(d->loop, (unsigned)next + 1,
					devices_on_tick, d, &d->tick) != 0)
		log_err("cannot arm the key/reader timer");
}

static void devices_on_tick(struct loop *loop, void *ctx)
{
	struct devices *d = ctx;

	(void)loop;
	d->tick = NULL; /* fired */
	devices_tick_arm(d);
}

/* A USB key, a TPM: said here; readers and cards: by the job, in order
 * with what it did with them. */
static void devices_note(struct devices *d, const struct hotplug_msg *m)
{
	char line[320];

	if (m->kind == HOTPLUG_PCSC_READER || m->kind == HOTPLUG_PCSC_CARD)
		return;
	if (m->kind == HOTPLUG_PCSC_SERVICE) { /* the watcher said it */
		if (m->ev == HOTPLUG_SERVICE_BACK)
			d->retry_ms = 0;
		return;
	}
	hotplug_msg_format(m, line, sizeof(line));
	log_notice("%s", line);
}

/* The messages the front end's slot table takes. */
static bool devices_slot_event(const struct hotplug_msg *m)
{
	return m->kind == HOTPLUG_PCSC_READER || m->kind == HOTPLUG_PCSC_CARD ||
	       m->kind == HOTPLUG_MODULE_TOKEN;
}

/* Takes in what the watchers queued: the correlator and the log see it
 * here; readers and cards go to the job, counted as under way for the
 * front end (a client listing slots meanwhile waits for them). */
static void devices_drain(struct devices *d)
{
	struct dev_item *it;
	struct hotplug_msg m;

	while (hotplug_queue_pop(d->q, &m) == 1) {
		if (hotplug_correlate_feed(d->corr, &m, hotplug_now_ms()) < 0)
			log_err("key/reader correlator: out of memory");
		devices_note(d, &m);
		if (m.kind == HOTPLUG_TPM) /* the TPM driver retries now */
			frontend_drivers_hint(&m);
		if (!devices_slot_event(&m))
			continue;
		if (!(it = calloc(1, sizeof(*it)))) {
			log_err("'%s': out of memory: an event is lost", m.id);
			continue;
		}
		it->m = m;
		frontend_devices_pending(1);
		pthread_mutex_lock(&d->lock);
		if (d->tail)
			d->tail->next = it;
		else
			d->head = it;
		d->tail = it;
		devices_kick(d);
		pthread_mutex_unlock(&d->lock);
	}
	devices_tick_arm(d);
}

static void devices_on_queue(struct loop *loop, int fd, uint32_t events,
			     void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	devices_drain(ctx);
}

/* The readers and cards present at start are listed on this thread before
 * tokend reports READY (no card I/O: a PC/SC status query), and read in
 * the background like a hot insert. A socket-activated tokend's first
 * client (the one that started it) so finds their slots: its
 * C_GetSlotList waits for the reads under way. */
static void devices_settle(struct devices *d)
{
	if (hotplug_pcsc_scan(d->pcsc) < 0)
		return; /* pcscd away: the watcher reports it and retries */
	devices_drain(d);
}

static void devices_on_udev(struct loop *loop, int fd, uint32_t events,
			    void *ctx)
{
	struct devices *d = ctx;
	int r;

	(void)loop;
	(void)fd;
	(void)events;
	if ((r = hotplug_udev_dispatch(d->udev)) < 0)
		log_err("udev monitor: %s", tk_strerror(r));
}

/* Without udevd (a container) the USB and TPM watch is off; PC/SC does
 * not need it. */
static void devices_udev_start(struct devices *d)
{
	int r;

	if ((r = hotplug_udev_new(&d->udev, hotplug_queue_push_device, d->q)) <
	    0) {
		log_info("udev monitor unavailable (%s): USB keys and TPMs "
			 "are not watched; PC/SC readers are",
			 tk_strerror(r));
		return;
	}
	if ((r = loop_add(d->loop, hotplug_udev_fd(d->udev), EPOLLIN,
			  devices_on_udev, d, &d->uwatch)) < 0 ||
	    (r = hotplug_udev_scan(d->udev)) < 0) {
		log_warn("udev monitor: %s", tk_strerror(r));
		loop_remove(d->loop, &d->uwatch);
		hotplug_udev_free(&d->udev);
	}
}

int devices_new(struct loop *loop, struct devices **out)
{
	struct hotplug_pcsc_opts po = { .log = devices_log };
	struct devices *d;
	int r;

	*out = NULL;
	if (!(d = calloc(1, sizeof(*d))))
		return TK_ERR_NOMEM;
	d->loop = loop;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	devices_self = d;
	frontend_read_on_arrival(true);
	if ((r = hotplug_queue_new(&d->q)) < 0 ||
	    (r = hotplug_correlate_new(&d->corr, 0, devices_log, NULL)) < 0 ||
	    (r = loop_add(loop, hotplug_queue_fd(d->q), EPOLLIN,
			  devices_on_queue, d, &d->qwatch)) < 0)
		goto out;
	devices_udev_start(d);
	frontend_drivers_watch(d->q);
	if ((r = hotplug_pcsc_new(&d->pcsc, d->q, &po)) < 0)
		goto out;
	devices_settle(d);
	if ((r = hotplug_pcsc_start(d->pcsc)) < 0)
		goto out;
	*out = d;
	d = NULL;
out:
	if (r < 0)
		log_err("device watch: %s", tk_strerror(r));
	devices_free(&d);
	return r;
}

void devices_free(struct devices **p)
{
	struct devices *d = *p;
	struct dev_item *it;

	if (!d)
		return;
	*p = NULL;
	/* The watchers first: they push into the queue. The drivers' own
	 * threads (a module's helper supervision, the TPM's) push too, and
	 * outlive the service (the front end stops later). */
	frontend_drivers_watch(NULL);
	hotplug_pcsc_free(&d->pcsc);
	loop_remove(d->loop, &d->uwatch);
	hotplug_udev_free(&d->udev);
	loop_remove(d->loop, &d->qwatch);
	loop_timer_cancel(d->loop, &d->tick);
	loop_timer_cancel(d->loop, &d->retry);
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	while (d->running) /* the message under way ends */
		pthread_cond_wait(&d->idle, &d->lock);
	while ((it = d->head)) {
		d->head = it->next;
		frontend_devices_pending(-1);
		free(it);
	}
	d->tail = NULL;
	pthread_mutex_unlock(&d->lock);
	hotplug_correlate_free(&d->corr);
	hotplug_queue_free(&d->q);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->lock);
	devices_self = NULL;
	free(d);
}
