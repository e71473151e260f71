/* The module driver: one helper process per configured module (link.h),
 * its tokens as devices "module:NAME:SLOTID". A thread of the driver's
 * keeps the slot table: it reads the module's slot list when the helper
 * comes up, every poll_ms after (a size query first: modules look for new
 * readers then), and when woken; and it empties the table when the helper
 * goes down (a crash, a hang the link killed).
 *
 * A module without C_WaitForSlotEvent may never show a token made by
 * another process: SoftHSMv2 reads its token directory at C_Initialize
 * only (a softhsm2-util --init-token stays invisible to a running
 * process, whatever C_GetSlotList is asked). For such a module the thread
 * starts a fresh helper every poll_ms (a probe, with the same environment)
 * and reads its slot list (backing off to 30 s while nothing new shows,
 * poll_ms again when clients look at the slots and while one waits for
 * slot events: drv_poll.h); a probe that sees a token no running helper
 * serves becomes a helper of its own for those tokens, so the tokens and
 * sessions already served are not disturbed (restarting the first helper
 * would end every session). What
 * changed is announced as HOTPLUG_MODULE_TOKEN messages (module_driver_watch):
 * the front end closes the tokens that left (their
 * sessions answer CKR_DEVICE_REMOVED) and opens them again when the next
 * helper shows them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drv_log.h"
#include "hotplug.h"
#include "module_int.h"

static const struct tk_driver_ops mdrv_ops;

static struct mdrv *mdrv_of(struct tk_driver *drv)
{
	return (struct mdrv *)drv;
}

bool module_driver_is(const struct tk_driver *drv)
{
	return drv && drv->ops == &mdrv_ops;
}

/* ---- the slot table ---- */

static void announce(struct mdrv *d, const struct mdrv_slot *s,
		     enum hotplug_event ev)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_MODULE_TOKEN };

	d->changes++;
	pthread_cond_broadcast(&d->cond);
	if (!d->q)
		return;
	snprintf(m.id, sizeof(m.id), "%s", s->device);
	m.at_ms = hotplug_now_ms();
	if (hotplug_queue_push(d->q, &m) < 0)
		DRV_LOG("module %s: out of memory: an event for %s is lost",
			d->name, s->device);
}

static bool token_wanted(const struct mdrv *d, CK_TOKEN_INFO *ti)
{
	if (!d->nuris)
		return true;
	for (size_t i = 0; i < d->nuris; i++)
		if (p11_kit_uri_match_token_info(d->uris[i], ti))
			return true;
	return false;
}

/* Whether a link other than li serves the token (by serial number and
 * label: slot ids differ between processes of one module). */
static bool served_elsewhere(const struct mdrv *d, unsigned li,
			     const CK_TOKEN_INFO *ti)
{
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].present && d->slots[i].li != li &&
		    memcmp(d->slots[i].ti.serialNumber, ti->serialNumber, 16) ==
			0 &&
		    memcmp(d->slots[i].ti.label, ti->label, 32) == 0)
			return true;
	return false;
}

static void token_key(const CK_TOKEN_INFO *ti, uint8_t key[48])
{
	memcpy(key, ti->serialNumber, 16);
	memcpy(key + 16, ti->label, 32);
}

/* Whether link li may serve the token: link 0 any, a later one those it
 * was started for. */
static bool link_owns(const struct mdrv *d, unsigned li,
		      const CK_TOKEN_INFO *ti)
{
	const struct mdrv_link *L = &d->links[li];
	uint8_t key[48];

	if (li == 0)
		return true;
	token_key(ti, key);
	for (size_t i = 0; i < L->nown; i++)
		if (memcmp(L->own[i], key, sizeof(key)) == 0)
			return true;
	return false;
}

/* Under lock: link li's list of present tokens replaces what the table
 * has of that link's; a token another link serves stays with it. A slot
 * belongs to one link: link 0's are "module:NAME:SLOTID", a later link's
 * "module:NAME:LINK.SLOTID". */
static void table_apply(struct mdrv *d, unsigned li,
			const struct mdrv_slot *now, size_t n)
{
	struct mdrv_slot *s;
	size_t i, j;

	for (i = 0; i < d->nslots; i++) {
		s = &d->slots[i];
		if (!s->present || s->li != li)
			continue;
		for (j = 0; j < n && now[j].id != s->id; j++)
			;
		if (j == n) {
			s->present = false;
			announce(d, s, HOTPLUG_LEFT);
		} else if (memcmp(s->ti.serialNumber, now[j].ti.serialNumber,
				  16) != 0 ||
			   memcmp(s->ti.label, now[j].ti.label, 32) != 0) {
			/* another token in the slot (re-initialised) */
			s->ti = now[j].ti;
			s->events++;
			announce(d, s, HOTPLUG_ARRIVED);
		} else {
			s->ti = now[j].ti; /* flags change: no news */
		}
	}
	for (j = 0; j < n; j++) {
		for (i = 0; i < d->nslots && !(d->slots[i].li == li &&
					       d->slots[i].id == now[j].id);
		     i++)
			;
		if (i < d->nslots && d->slots[i].present)
			continue;
		if (served_elsewhere(d, li, &now[j].ti) ||
		    !link_owns(d, li, &now[j].ti))
			continue;
		if (i == d->nslots) {
			if (d->nslots == MDRV_MAX_SLOTS)
				continue;
			s = &d->slots[d->nslots++];
			*s = now[j];
			s->li = li;
			if (li)
				snprintf(s->device, sizeof(s->device),
					 "%s%s:%u.%lu", MDRV_DEVICE_PREFIX,
					 d->name, li, (unsigned long)now[j].id);
			else
				snprintf(s->device, sizeof(s->device),
					 "%s%s:%lu", MDRV_DEVICE_PREFIX,
					 d->name, (unsigned long)now[j].id);
		}
		s = &d->slots[i];
		s->ti = now[j].ti;
		s->present = true;
		s->events++;
		announce(d, s, HOTPLUG_ARRIVED);
	}
}

/* Under lock: link li's helper went down; every token with it. */
static void table_clear(struct mdrv *d, unsigned li)
{
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].present && d->slots[i].li == li) {
			d->slots[i].present = false;
			announce(d, &d->slots[i], HOTPLUG_LEFT);
		}
}

static bool token_info_parse(const struct mlink_reply *r, CK_TOKEN_INFO *ti)
{
	const struct rpc_arg *a = r->msg.args;

	if (r->msg.nargs < 17)
		return false;
	memset(ti, 0, sizeof(*ti));
	for (int i = 0; i < 4; i++)
		if (a[i].type != RPC_ARG_SPACE)
			return false;
	memcpy(ti->label, a[0].bytes.p,
	       a[0].bytes.len < 32 ? a[0].bytes.len : 32);
	memcpy(ti->manufacturerID, a[1].bytes.p,
	       a[1].bytes.len < 32 ? a[1].bytes.len : 32);
	memcpy(ti->model, a[2].bytes.p,
	       a[2].bytes.len < 16 ? a[2].bytes.len : 16);
	memcpy(ti->serialNumber, a[3].bytes.p,
	       a[3].bytes.len < 16 ? a[3].bytes.len : 16);
	ti->flags = a[4].ulong;
	ti->ulMaxSessionCount = a[5].ulong;
	ti->ulSessionCount = a[6].ulong;
	ti->ulMaxRwSessionCount = a[7].ulong;
	ti->ulRwSessionCount = a[8].ulong;
	ti->ulMaxPinLen = a[9].ulong;
	ti->ulMinPinLen = a[10].ulong;
	ti->ulTotalPublicMemory = a[11].ulong;
	ti->ulFreePublicMemory = a[12].ulong;
	ti->ulTotalPrivateMemory = a[13].ulong;
	ti->ulFreePrivateMemory = a[14].ulong;
	ti->hardwareVersion = a[15].version;
	ti->firmwareVersion = a[16].version;
	return true;
}

/* The tokens present in generation gen now, filtered by the URIs. */
static int slots_read(struct mdrv *d, struct mlink *link, uint64_t gen,
		      struct mdrv_slot *now, size_t *n)
{
	struct rpc_arg q[] = { MT_Y(CK_FALSE), MT_FU(0) };
	struct mlink_reply r, ti;
	CK_ULONG count = 0;
	int e;

	*n = 0;
	/* The size query first: SoftHSMv2 looks for new tokens then. */
	if ((e = mlink_call_gen(link, gen, RPC_C_GetSlotList, q, 2, 0, &r)) <
		0 ||
	    r.rv != CKR_OK) {
		mlink_reply_clear(&r);
		return e < 0 ? e : TK_ERR_DEVICE;
	}
	mlink_reply_clear(&r);
	q[0].byte = CK_TRUE;
	q[1].room = MDRV_MAX_SLOTS;
	if ((e = mlink_call_gen(link, gen, RPC_C_GetSlotList, q, 2, 0, &r)) <
		0 ||
	    r.rv != CKR_OK || r.msg.nargs < 1 ||
	    r.msg.args[0].type != RPC_ARG_ULONGS) {
		mlink_reply_clear(&r);
		return e < 0 ? e : TK_ERR_DEVICE;
	}
	count = r.msg.args[0].ulongs.count;
	for (CK_ULONG i = 0; i < count && *n < MDRV_MAX_SLOTS; i++) {
		struct mdrv_slot *s = &now[*n];
		struct rpc_arg a[] = { MT_U(r.msg.args[0].ulongs.v[i]) };

		memset(s, 0, sizeof(*s));
		s->id = a[0].ulong;
		if (mlink_call_gen(link, gen, RPC_C_GetTokenInfo, a, 1, 0,
				   &ti) == 0 &&
		    ti.rv == CKR_OK && token_info_parse(&ti, &s->ti) &&
		    (s->ti.flags & CKF_TOKEN_INITIALIZED) &&
		    token_wanted(d, &s->ti))
			(*n)++;
		mlink_reply_clear(&ti);
	}
	mlink_reply_clear(&r);
	return 0;
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

/* Waits for the module's slot events (a blocking C_WaitForSlotEvent in
 * the helper, CKF_OS_LOCKING_OK modules only) and wakes the watch on each.
 * A module that has none (SoftHSMv2: CKR_FUNCTION_NOT_SUPPORTED; its
 * non-blocking form answers CKR_NO_EVENT, which says nothing) is put on
 * probes instead. */
static void *event_thread(void *arg)
{
	struct mdrv *d = arg;
	struct rpc_arg a[] = { MT_U(0) };
	struct mlink_reply r;
	struct mlink *link;
	struct timespec ts;
	uint64_t gen;
	int e;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		if (!d->links[0].up) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		gen = d->links[0].gen;
		link = d->links[0].link;
		d->waiting = true;
		pthread_mutex_unlock(&d->lock);
		e = mlink_call_gen(link, gen, RPC_C_WaitForSlotEvent, a, 1, 0,
				   &r);
		pthread_mutex_lock(&d->lock);
		d->waiting = false;
		if (e == 0 && r.rv == CKR_FUNCTION_NOT_SUPPORTED) {
			d->static_view = true;
			d->kick = true;
			pthread_cond_broadcast(&d->cond);
			mlink_reply_clear(&r);
			break;
		}
		mlink_reply_clear(&r);
		if (e == 0 && r.rv == CKR_OK) {
			d->kick = true;
			pthread_cond_broadcast(&d->cond);
			continue;
		}
		/* The helper went down or the module failed: not in a loop. */
		deadline_after(&ts, d->poll_ms);
		while (!d->stop &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void on_state(void *ctx, uint64_t gen, bool up);

static bool seen_before(const struct mdrv *d, const uint8_t key[48])
{
	for (size_t i = 0; i < d->nseen; i++)
		if (memcmp(d->seen[i], key, 48) == 0)
			return true;
	return false;
}

/* How long a probe may take to come up. */
#define PROBE_WAIT_MS 10000u
#define PROBE_STEP_MS 100u

/* A fresh helper: kept as link li when it serves a token that no running
 * helper does, freed otherwise. Called without the lock. True when it saw
 * a token the probe before did not (the next one may take it). */
/* The probe's helper up within PROBE_WAIT_MS, looking at d->stop every
 * PROBE_STEP_MS: a module that hangs in C_Initialize must not hold the
 * driver's end (drv_free joins this thread) for the whole wait. */
static int probe_wait_up(struct mdrv *d, struct mlink *link, uint64_t *gen)
{
	bool stop = false;

	for (unsigned ms = 0; ms < PROBE_WAIT_MS && !stop;
	     ms += PROBE_STEP_MS) {
		if (mlink_wait_up(link, PROBE_STEP_MS, 0, gen) == 0)
			return 0;
		pthread_mutex_lock(&d->lock);
		stop = d->stop;
		pthread_mutex_unlock(&d->lock);
	}
	return TK_ERR_TRANSPORT;
}

static bool probe(struct mdrv *d, struct mdrv_slot *now)
{
	struct mlink_config lc = d->lc;
	struct mdrv_link *L = NULL;
	struct mlink *link = NULL;
	uint64_t gen = 0;
	bool keep = false, fresh = false;
	unsigned li;
	size_t n = 0;

	uint64_t gens[MDRV_MAX_LINKS];
	uint8_t seen[MDRV_MAX_SLOTS][48], key[48];
	size_t nseen;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < MDRV_MAX_LINKS; i++)
		gens[i] = d->links[i].up ? d->links[i].gen : 0;
	for (li = 1; li < MDRV_MAX_LINKS && d->links[li].used; li++)
		;
	if (li < MDRV_MAX_LINKS) {
		L = &d->links[li];
		memset(L, 0, sizeof(*L));
		L->d = d;
		L->used = true;
		L->probing = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (!L)
		return false; /* said once, when the last one was taken */
	lc.env = d->probe_env;
	lc.ctx = L;
	lc.on_state = on_state;
	if (mlink_new(&lc, &link) == 0 && probe_wait_up(d, link, &gen) == 0 &&
	    slots_read(d, link, gen, now, &n) == 0) {
		pthread_mutex_lock(&d->lock);
		/* A helper that went down meanwhile: its tokens are its own,
		 * not the probe's. */
		for (unsigned i = 0; i < MDRV_MAX_LINKS; i++)
			if (i != li && d->links[i].used &&
			    (!d->links[i].up || d->links[i].gen != gens[i]))
				n = 0;
		/* A token caught half made (softhsm2-util sets the user PIN
		 * after C_InitToken) keeps that state in the process that
		 * caught it: a token is taken by the probe after the first
		 * that saw it whole. */
		nseen = 0;
		for (size_t j = 0; j < n; j++) {
			if (served_elsewhere(d, li, &now[j].ti) ||
			    !(now[j].ti.flags & CKF_USER_PIN_INITIALIZED))
				continue;
			token_key(&now[j].ti, key);
			if (seen_before(d, key) && L->nown < MDRV_MAX_SLOTS) {
				memcpy(L->own[L->nown++], key, sizeof(key));
				keep = true;
			} else if (!seen_before(d, key)) {
				fresh = true;
			}
			if (nseen < MDRV_MAX_SLOTS)
				memcpy(seen[nseen++], key, sizeof(key));
		}
		memcpy(d->seen, seen, nseen * sizeof(seen[0]));
		d->nseen = nseen;
		if (keep) {
			L->link = link;
			L->probing = false;
			if (L->gen < gen) { /* before its on_state */
				L->up = true;
				L->gen = gen;
			}
			if (L->up && L->gen == gen)
				table_apply(d, li, now, n);
			if (li == MDRV_MAX_LINKS - 1)
				DRV_LOG(
				    "module %s: %u helpers: tokens made from "
				    "now on show after a restart of tokend",
				    d->name, MDRV_MAX_LINKS);
		}
		pthread_mutex_unlock(&d->lock);
	}
	if (keep)
		return true;
	mlink_free(&link);
	pthread_mutex_lock(&d->lock);
	memset(L, 0, sizeof(*L));
	pthread_mutex_unlock(&d->lock);
	return fresh;
}

static void *watch_thread(void *arg)
{
	struct mdrv *d = arg;
	struct mdrv_slot *now = calloc(MDRV_MAX_SLOTS, sizeof(*now));
	struct timespec ts;
	struct mlink *link;
	uint64_t gen;
	unsigned long changes;
	size_t n;
	bool up, all, fresh;
	int e;

	pthread_mutex_lock(&d->lock);
	while (now && !d->stop) {
		d->kick = false;
		changes = d->changes;
		fresh = false;
		/* Before OpenSC's slot list looks for new readers: a reader
		 * the file misjudges restarts the helpers with a new one. */
		if (d->osc) {
			struct mlink *kill[MDRV_MAX_LINKS];
			uint64_t kgen[MDRV_MAX_LINKS];
			unsigned nk = 0;

			pthread_mutex_unlock(&d->lock);
			e = osc_refresh(d->osc);
			pthread_mutex_lock(&d->lock);
			for (unsigned li = 0; e > 0 && li < MDRV_MAX_LINKS;
			     li++)
				if (d->links[li].used && d->links[li].link &&
				    d->links[li].up) {
					kill[nk] = d->links[li].link;
					kgen[nk++] = d->links[li].gen;
				}
			pthread_mutex_unlock(&d->lock);
			for (unsigned i = 0; i < nk; i++)
				mlink_kill(kill[i], kgen[i]);
			pthread_mutex_lock(&d->lock);
		}
		all = true; /* every helper's tokens are in the table */
		for (unsigned li = 0; li < MDRV_MAX_LINKS && !d->stop; li++) {
			if (!d->links[li].used || !d->links[li].link)
				continue;
			up = d->links[li].up;
			gen = d->links[li].gen;
			link = d->links[li].link;
			pthread_mutex_unlock(&d->lock);
			e = up ? slots_read(d, link, gen, now, &n)
			       : TK_ERR_TRANSPORT;
			pthread_mutex_lock(&d->lock);
			/* A helper that went down meanwhile: on_state
			 * cleared. */
			if (e == 0 && d->links[li].up &&
			    d->links[li].gen == gen) {
				table_apply(d, li, now, n);
				if (li == 0 && !d->read_once) {
					d->read_once = true;
					pthread_cond_broadcast(&d->cond);
				}
			} else {
				all = false;
			}
		}
		/* A probe compares with what the helpers serve: only once it
		 * is all known (else it would take over their tokens). */
		if (d->static_view && all && !d->stop) {
			pthread_mutex_unlock(&d->lock);
			fresh = probe(d, now);
			pthread_mutex_lock(&d->lock);
		}
		d->rearm = false;
		if (d->static_view) { /* probes back off */
			drv_poll_done(&d->probes,
				      fresh || d->changes != changes);
			drv_poll_deadline(&d->probes, &ts);
		} else {
			deadline_after(&ts, d->poll_ms);
		}
		while (!d->stop && !d->kick &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
			if (d->rearm && d->static_view) {
				d->rearm = false;
				drv_poll_deadline(&d->probes, &ts);
			}
	}
	pthread_mutex_unlock(&d->lock);
	free(now);
	return NULL;
}

/* A link's thread: its helper came up or went down. */
static void on_state(void *ctx, uint64_t gen, bool up)
{
	struct mdrv_link *L = ctx;
	struct mdrv *d = L->d;

	pthread_mutex_lock(&d->lock);
	if (up) {
		L->up = true;
		L->gen = gen;
	} else if (L->gen == gen) {
		L->up = false;
		DRV_LOG("module %s: helper down: its tokens are withdrawn",
			d->name);
		table_clear(d, (unsigned)(L - d->links));
	}
	if (!L->probing) {
		d->kick = true;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

bool mdrv_slot_get(struct mdrv *d, const char *device, struct mdrv_slot *out,
		   struct mlink **link, uint64_t *gen)
{
	const struct mdrv_link *L;
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nslots && !found; i++)
		if (d->slots[i].present &&
		    strcmp(d->slots[i].device, device) == 0) {
			*out = d->slots[i];
			L = &d->links[out->li];
			found = L->up && L->link;
			*link = L->link;
			*gen = L->gen;
		}
	pthread_mutex_unlock(&d->lock);
	return found;
}

void module_driver_attend(struct tk_driver *drv, bool waiting)
{
	struct mdrv *d = mdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	if (drv_poll_attend(&d->probes, waiting) && d->static_view) {
		d->rearm = true;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- driver ops ---- */

static int drv_open(struct tk_driver *drv, const char *device,
		    struct tk_token **out)
{
	struct mdrv *d = mdrv_of(drv);
	size_t pre = strlen(MDRV_DEVICE_PREFIX), nl = strlen(d->name);
	struct mdrv_slot s;
	struct mlink *link;
	uint64_t gen;

	if (!device || !out)
		return TK_ERR_ARG;
	if (strncmp(device, MDRV_DEVICE_PREFIX, pre) != 0 ||
	    strncmp(device + pre, d->name, nl) != 0 || device[pre + nl] != ':')
		return TK_ERR_NOT_FOUND;
	if (!mdrv_slot_get(d, device, &s, &link, &gen))
		return TK_ERR_NOT_FOUND;
	return mt_open(d, link, &s, gen, out);
}

static void drv_free(struct tk_driver *drv)
{
	struct mdrv *d = mdrv_of(drv);

	if (!d)
		return;
	if (d->thread_on) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	if (d->event_on) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_broadcast(&d->cond);
		/* A wait in the helper ends only with an event or with the
		 * helper: the thread must leave the link before it is freed. */
		if (d->waiting)
			mlink_kill(d->links[0].link, d->links[0].gen);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->event, NULL);
	}
	for (unsigned li = 0; li < MDRV_MAX_LINKS; li++)
		mlink_free(&d->links[li].link);
	for (size_t i = 0; d->probe_env && d->probe_env[i]; i++)
		free((char *)d->probe_env[i]);
	free(d->probe_env);
	free((char *)d->lc.module);
	free((char *)d->lc.helper);
	osc_free(&d->osc);
	for (size_t i = 0; i < d->nuris; i++)
		p11_kit_uri_free(d->uris[i]);
	free(d->uris);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* The helpers serving tokens: links[0] and the probes kept for tokens. */
static size_t drv_helpers(struct tk_driver *drv, struct tk_helper_status *out,
			  size_t max)
{
	struct mdrv *d = mdrv_of(drv);
	struct mlink_stats st;
	size_t n = 0;

	/* d->lock before a link's: on_state takes d->lock with none held. */
	pthread_mutex_lock(&d->lock);
	for (unsigned li = 0; li < MDRV_MAX_LINKS; li++) {
		struct tk_helper_status *h;

		if (!d->links[li].used || !d->links[li].link)
			continue;
		if (n++ >= max)
			continue;
		h = &out[n - 1];
		mlink_stats(d->links[li].link, &st);
		memset(h, 0, sizeof(*h));
		if (li == 0)
			snprintf(h->name, sizeof(h->name), "%s", d->name);
		else
			snprintf(h->name, sizeof(h->name), "%.50s (%u)",
				 d->name, li + 1);
		h->up = st.up;
		h->pid = st.up ? (int)st.pid : 0;
		h->restarts =
		    st.starts > 1 ? (unsigned long)(st.starts - 1) : 0;
		snprintf(h->last_exit, sizeof(h->last_exit), "%s",
			 st.last_exit);
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

static const struct tk_driver_ops mdrv_ops = {
	.name = "module",
	.open = drv_open,
	.free = drv_free,
	.helpers = drv_helpers,
};

void module_driver_rescan(struct tk_driver *drv)
{
	struct mdrv *d = mdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	d->kick = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void module_driver_watch(struct tk_driver *drv, struct hotplug_queue *q)
{
	struct mdrv *d = mdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	/* Called before tokend says READY: a client that comes right after
	 * (the one that socket-activated it, a script's next line) finds the
	 * module's tokens, not an empty list while the helper starts. A
	 * module that takes longer is not waited for past MDRV_START_WAIT_MS
	 * after its helper started: its tokens arrive as hot inserts. The
	 * deadline is the driver's, not the call's: the registry makes every
	 * module's driver before it watches the first, so N hanging modules
	 * hold READY MDRV_START_WAIT_MS, not N times that. */
	while (!d->read_once && !d->stop && d->thread_on &&
	       pthread_cond_timedwait(&d->cond, &d->lock, &d->start_until) == 0)
		;
	d->q = q;
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].present)
			announce(d, &d->slots[i], HOTPLUG_ARRIVED);
	pthread_mutex_unlock(&d->lock);
}

void module_driver_helper(struct tk_driver *drv, pid_t *pid, uint64_t *gen)
{
	struct mlink_stats st;

	mlink_stats(mdrv_of(drv)->links[0].link, &st);
	*pid = st.up ? st.pid : 0;
	*gen = st.up ? st.gen : 0;
}

static int uris_parse(struct mdrv *d, const struct drv_module_cfg *cfg)
{
	if (!cfg->ntokens)
		return 0;
	if (!(d->uris = calloc(cfg->ntokens, sizeof(*d->uris))))
		return TK_ERR_NOMEM;
	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (!(d->uris[i] = p11_kit_uri_new()))
			return TK_ERR_NOMEM;
		d->nuris++;
		if (p11_kit_uri_parse(cfg->tokens[i], P11_KIT_URI_FOR_TOKEN,
				      d->uris[i]) != P11_KIT_URI_OK) {
			DRV_LOG("module %s: token URI '%s' does not parse",
				cfg->name, cfg->tokens[i]);
			return TK_ERR_ARG;
		}
	}
	return 0;
}

/* The probes' configuration: the link's, with copies that outlive cfg and
 * the probe's mark in the environment. */
static int probe_config(struct mdrv *d, const struct mlink_config *lc)
{
	size_t n = 0;

	d->lc = *lc;
	d->lc.module = strdup(lc->module);
	d->lc.helper = lc->helper ? strdup(lc->helper) : NULL;
	for (; lc->env && lc->env[n]; n++)
		;
	if (!d->lc.module || (lc->helper && !d->lc.helper) ||
	    !(d->probe_env = calloc(n + 2, sizeof(*d->probe_env))))
		return TK_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(d->probe_env[i] = strdup(lc->env[i])))
			return TK_ERR_NOMEM;
	if (!(d->probe_env[n] = strdup(MDRV_PROBE_ENV)))
		return TK_ERR_NOMEM;
	d->lc.env = NULL;
	return 0;
}

int module_driver_new(const struct drv_module_cfg *cfg, struct tk_driver **out)
{
	struct drv_config one = { .modules = (struct drv_module_cfg *)cfg,
				  .nmodules = cfg ? 1 : 0 };

	return module_driver_new_in(&one, 0, out);
}

int module_driver_new_in(const struct drv_config *all, size_t self,
			 struct tk_driver **out)
{
	const struct drv_module_cfg *cfg =
	    all && self < all->nmodules ? &all->modules[self] : NULL;
	struct mlink_config lc = { 0 };
	struct mdrv *d;
	const char **env = NULL;
	int r;

	*out = NULL;
	if (!cfg || !cfg->path || !cfg->name[0])
		return TK_ERR_ARG;
	if (!(d = calloc(1, sizeof(*d))) ||
	    !(env = calloc(cfg->nenv + 2, sizeof(*env)))) {
		free(d);
		return TK_ERR_NOMEM;
	}
	d->links[0].d = d;
	d->links[0].used = true;
	d->base.ops = &mdrv_ops;
	snprintf(d->name, sizeof(d->name), "%s", cfg->name);
	d->poll_ms = MODULE_POLL_MS;
	drv_poll_init(&d->probes, d->poll_ms, DRV_POLL_MAX_MS);
	pthread_mutex_init(&d->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if ((r = uris_parse(d, cfg)) < 0)
		goto out;
	for (size_t i = 0; i < cfg->nenv; i++)
		env[i] = cfg->env[i];
	if ((r = osc_new(all, self, &d->osc)) < 0)
		goto out;
	if (d->osc)
		env[cfg->nenv] = osc_env(d->osc);
	lc.module = cfg->path;
	lc.helper = getenv("TOKEND_MODULE_HELPER"); /* tests; NULL: beside */
	lc.env = env;
	lc.timeout_ms =
	    (cfg->timeout ? cfg->timeout : DRV_MODULE_TIMEOUT_DEFAULT) * 1000u;
	lc.on_state = on_state;
	lc.ctx = &d->links[0];
	if ((r = probe_config(d, &lc)) < 0)
		goto out;
	deadline_after(&d->start_until, MDRV_START_WAIT_MS);
	if ((r = mlink_new(&lc, &d->links[0].link)) < 0) {
		DRV_LOG("module %s (%s): %s", cfg->name, cfg->path,
			tk_strerror(r));
		goto out;
	}
	if (pthread_create(&d->thread, NULL, watch_thread, d) != 0) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	d->thread_on = true;
	if (pthread_create(&d->event, NULL, event_thread, d) != 0) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	d->event_on = true;
	*out = &d->base;
	d = NULL;
out:
	free(env);
	if (d)
		drv_free(&d->base);
	return r;
}
