/* The TPM driver (tpm_driver.h): a thread opens the TPM behind the
 * configured TCTI, with back-off while nothing answers (swtpm not started
 * yet, /dev/tpmrm0 not there), announces the token when it does, checks
 * that it still answers (after 2 s, backing off to 30 s while it does,
 * 2 s again when clients look at the slots: drv_poll.h), and withdraws
 * the token when a call or the check finds it gone (TK_ERR_REMOVED): the
 * front end closes the token, and the thread reopens the TPM and announces it
 * again when it comes back on the same state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drv_log.h"
#include "hotplug.h"
#include "tpm_int.h"

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 10000u

static const struct tk_driver_ops tdrv_ops;

static struct tpm_drv *tdrv_of(struct tk_driver *drv)
{
	return (struct tpm_drv *)drv;
}

bool tpm_driver_is(const struct tk_driver *drv)
{
	return drv && drv->ops == &tdrv_ops;
}

/* d->lock held. */
static void announce(struct tpm_drv *d, enum hotplug_event ev)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_MODULE_TOKEN };

	if (!d->q)
		return;
	snprintf(m.id, sizeof(m.id), "%s", TPM_DEVICE_NAME);
	m.at_ms = hotplug_now_ms();
	if (hotplug_queue_push(d->q, &m) < 0)
		DRV_LOG("TPM: out of memory: an event is lost");
}

/* d->io held. */
static void tpm_lost(struct tpm_drv *d)
{
	tpm_close(d->ctx);
	d->ctx = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->up) {
		d->up = false;
		DRV_NOTICE("TPM (%s) stopped answering: its token is withdrawn",
			   d->tcti);
		announce(d, HOTPLUG_LEFT);
	}
	d->kick = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

int tpm_drv_io_done(struct tpm_drv *d, uint64_t gen, int rc)
{
	if (rc == TK_ERR_REMOVED && d->ctx && d->gen == gen)
		tpm_lost(d);
	/* One line per lockout, not one per refused login. */
	if (rc == TK_ERR_PIN_LOCKED && !d->lockout_said)
		DRV_NOTICE("TPM (%s) is in dictionary-attack lockout: PINs "
			   "are refused (CKR_PIN_LOCKED) until its lockout "
			   "interval passes or its owner clears it",
			   d->tcti);
	if (rc == TK_ERR_PIN_LOCKED)
		d->lockout_said = true;
	else if (rc == 0)
		d->lockout_said = false;
	return rc;
}

/* Without either lock: one try at opening the TPM. */
static int try_open(struct tpm_drv *d, bool quiet)
{
	struct tpm_ctx *ctx = NULL;
	struct tpm_caps caps;
	int r;

	if ((r = tpm_open(d->tcti, d->srk_handle, &ctx)) == 0 &&
	    (r = tpm_get_caps(ctx, &caps)) < 0) {
		tpm_close(ctx);
		ctx = NULL;
	}
	if (r < 0) {
		if (!quiet)
			DRV_NOTICE("TPM (%s): %s; retrying with back-off",
				   d->tcti, tk_strerror(r));
		return r;
	}
	if (caps.in_lockout)
		DRV_NOTICE("TPM (%s) is in dictionary-attack lockout (counter "
			   "%u of %u): the token's keys are noDA and still "
			   "work; other users of the TPM are locked out",
			   d->tcti, caps.lockout_counter, caps.max_auth_fail);
	pthread_mutex_lock(&d->io);
	d->ctx = ctx;
	d->caps = caps;
	d->gen++;
	pthread_mutex_unlock(&d->io);
	pthread_mutex_lock(&d->lock);
	d->up = true;
	announce(d, HOTPLUG_ARRIVED);
	pthread_mutex_unlock(&d->lock);
	DRV_NOTICE("TPM (%s) up: %s", d->tcti, caps.manufacturer);
	return 0;
}

/* Without either lock: whether the TPM still answers. */
static void check_alive(struct tpm_drv *d)
{
	struct tpm_caps caps;

	pthread_mutex_lock(&d->io);
	if (d->ctx && tpm_get_caps(d->ctx, &caps) == TK_ERR_REMOVED)
		tpm_lost(d);
	pthread_mutex_unlock(&d->io);
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *watch_thread(void *arg)
{
	struct tpm_drv *d = arg;
	unsigned backoff = 0, wait;
	struct timespec ts;
	bool up, failed_once = true; /* tpm_driver_new said it */

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		up = d->up;
		d->kick = false;
		pthread_mutex_unlock(&d->lock);
		if (!up) {
			if (try_open(d, failed_once) == 0) {
				backoff = 0;
				failed_once = false;
			} else {
				failed_once = true;
				backoff =
				    backoff ? backoff * 2 : BACKOFF_MIN_MS;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
			}
		} else {
			check_alive(d);
		}
		pthread_mutex_lock(&d->lock);
		d->rearm = false;
		if (d->up) {
			drv_poll_done(&d->alive, !up); /* !up: it just came */
			drv_poll_deadline(&d->alive, &ts);
		} else { /* kick: just lost, so soon */
			wait = d->kick ? BACKOFF_MIN_MS : backoff;
			deadline_after(&ts, wait);
		}
		while (!d->stop && !d->kick &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
			if (d->rearm && d->up) {
				d->rearm = false;
				drv_poll_deadline(&d->alive, &ts);
			}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static int drv_open(struct tk_driver *drv, const char *device,
		    struct tk_token **out)
{
	struct tpm_drv *d = tdrv_of(drv);

	if (!device || !out)
		return TK_ERR_ARG;
	if (strcmp(device, TPM_DEVICE_NAME) != 0)
		return TK_ERR_NOT_FOUND;
	return tpm_tok_open(d, out);
}

static void drv_free(struct tk_driver *drv)
{
	struct tpm_drv *d = tdrv_of(drv);

	if (!d)
		return;
	if (d->thread_on) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	tpm_close(d->ctx);
	free(d->tcti);
	free(d->state);
	free(d->label);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->io);
	free(d);
}

static const struct tk_driver_ops tdrv_ops = {
	.name = "tpm",
	.open = drv_open,
	.free = drv_free,
};

void tpm_driver_watch(struct tk_driver *drv, struct hotplug_queue *q)
{
	struct tpm_drv *d = tdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	d->q = q;
	if (d->up)
		announce(d, HOTPLUG_ARRIVED);
	pthread_mutex_unlock(&d->lock);
}

void tpm_driver_hint(struct tk_driver *drv, const struct hotplug_msg *m)
{
	struct tpm_drv *d = tdrv_of(drv);

	if (m->kind != HOTPLUG_TPM || m->ev != HOTPLUG_ARRIVED)
		return;
	pthread_mutex_lock(&d->lock);
	if (!d->up) {
		d->kick = true;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

void tpm_driver_attend(struct tk_driver *drv, bool waiting)
{
	struct tpm_drv *d = tdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	if (drv_poll_attend(&d->alive, waiting) && d->up) {
		d->rearm = true;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

static int cfg_copy(struct tpm_drv *d, const struct drv_config *cfg)
{
	const struct drv_tpm_cfg *c = &cfg->tpm;
	char host[256] = "";

	d->srk_handle = c->srk_handle;
	if (!(d->tcti = strdup(c->tcti ? c->tcti : DRV_TPM_TCTI_DEFAULT)))
		return TK_ERR_NOMEM;
	if (c->state) {
		d->state = strdup(c->state);
	} else {
		const char *base =
		    cfg->state_dir ? cfg->state_dir : DRV_STATE_DIR_DEFAULT;
		size_t len = strlen(base) + sizeof("/tpm");

		if ((d->state = malloc(len)))
			snprintf(d->state, len, "%s/tpm", base);
	}
	if (!c->label) {
		(void)gethostname(host, sizeof(host) - 1);
		host[32] = '\0'; /* a token label holds 32 bytes */
	}
	d->label = strdup(c->label ? c->label : host[0] ? host : "TPM");
	return d->state && d->label ? 0 : TK_ERR_NOMEM;
}

int tpm_driver_new(const struct drv_config *cfg, struct tk_driver **out)
{
	const struct drv_tpm_cfg *c = &cfg->tpm;
	struct tpm_drv *d;
	pthread_condattr_t ca;
	int r;

	*out = NULL;
	if (c->enabled == 0 || (cfg->in_process && !c->in_process))
		return TK_ERR_NOT_FOUND;
	if (c->enabled < 0 && !c->tcti && access(DRV_TPM_DEVICE, F_OK) != 0)
		return TK_ERR_NOT_FOUND;
	if (!(d = calloc(1, sizeof(*d))))
		return TK_ERR_NOMEM;
	d->base.ops = &tdrv_ops;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->io, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	drv_poll_init(&d->alive, DRV_POLL_MIN_MS, DRV_POLL_MAX_MS);
	if ((r = cfg_copy(d, cfg)) < 0)
		goto out;
	/* One try now, so a TPM that answers is there for the first slot
	 * list (the module's C_GetSlotList, the daemon's start-up scan);
	 * the thread retries with back-off otherwise. */
	(void)try_open(d, false);
	if (pthread_create(&d->thread, NULL, watch_thread, d) != 0) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	d->thread_on = true;
	*out = &d->base;
	return 0;
out:
	drv_free(&d->base);
	return r;
}
