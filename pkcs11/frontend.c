/* The process-wide part of the front end: the drivers, the slot table (one
 * slot per device name, with a stable id), and opening and closing tokens
 * when devices change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#ifdef TOKEND_HAVE_DRIVERS
#include "registry.h"
#endif

/* C_WaitForSlotEvent: one blocked caller at a time (the watcher) waits on
 * the driver for this long, then rescans; the others wait for its scan.
 * Drivers without wait() are polled this often. */
#define FE_WATCH_MS 1000
#define FE_POLL_MS 200

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a watcher scanned; a wait was cancelled */
	bool watching;          /* a caller waits on the drivers */
	struct tk_driver *watch_drv; /* in its wait(), to wake */
	bool up;
	bool scanned;
	bool dev_scanned; /* devices known (perhaps no token opened) */
	struct tk_driver **drivers;
	size_t ndrivers;
	struct fe_slot *slots[FE_MAX_SLOTS];
	size_t nslots;
	CK_SLOT_ID next_id;
} fe = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .changed = PTHREAD_COND_INITIALIZER };

/* The drivers the module and the daemon use unless a test injects others
 * (drivers/registry.c names them). */
int frontend_default_drivers(struct tk_driver ***out, size_t *n)
{
#ifdef TOKEND_HAVE_DRIVERS
	return drivers_default(out, n);
#else
	*n = 0;
	return (*out = calloc(1, sizeof(**out))) ? 0 : TK_ERR_NOMEM;
#endif
}

int frontend_init(struct tk_driver **drivers, size_t ndrivers)
{
	int r = 0;

	pthread_mutex_lock(&fe.lock);
	if (fe.up) {
		r = TK_ERR_BUSY;
		goto out;
	}
	fe.drivers = drivers;
	fe.ndrivers = ndrivers;
	fe.nslots = 0;
	fe.next_id = 1;
	fe.scanned = false;
	fe.dev_scanned = false;
	fe.up = true;
out:
	pthread_mutex_unlock(&fe.lock);
	return r;
}

void frontend_fini(void)
{
	pthread_mutex_lock(&fe.lock);
	while (fe.watching) /* every app is gone: nobody should wait */
		pthread_cond_wait(&fe.changed, &fe.lock);
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		slot_card_lock(slot);
		slot_close_token(slot);
		slot_card_unlock(slot);
		pthread_mutex_destroy(&slot->info_lock);
		pthread_mutex_destroy(&slot->lock);
		pthread_mutex_destroy(&slot->io);
		free(slot);
		fe.slots[i] = NULL;
	}
	__atomic_store_n(&fe.nslots, 0, __ATOMIC_RELEASE);
	for (size_t i = 0; i < fe.ndrivers; i++)
		if (fe.drivers[i])
			fe.drivers[i]->ops->free(fe.drivers[i]);
	free(fe.drivers);
	fe.drivers = NULL;
	fe.ndrivers = 0;
	fe.up = false;
	pthread_mutex_unlock(&fe.lock);
}

/* Without fe.lock, which a scan holds while it opens a token: the table
 * only grows (a slot is published before nslots counts it) until
 * frontend_fini, when no app is left. */
struct fe_slot *frontend_slot(CK_SLOT_ID id)
{
	size_t n = __atomic_load_n(&fe.nslots, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < n; i++)
		if (fe.slots[i]->id == id)
			return fe.slots[i];
	return NULL;
}

/* ---- the slot's locks ---- */

/* Whether this thread must not wait (between fe_try_* and fe_try_end). */
static _Thread_local bool fe_nonblocking;

bool slot_nonblocking_set(bool on)
{
	bool was = fe_nonblocking;

	fe_nonblocking = on;
	return was;
}

bool fe_would_block(void)
{
	return fe_nonblocking;
}

/* io and lock held: the driver's info and mechanism list, copied for
 * readers that hold only lock or info_lock (the driver may change its
 * info during any card call). */
static void slot_info_refresh(struct fe_slot *slot)
{
	const struct tk_mech *mechs = NULL;
	struct tk_token_info ti;
	size_t nmechs = 0;

	memset(&ti, 0, sizeof(ti));
	if (slot->tok && slot->tok->ops->info(slot->tok, &ti) < 0)
		memset(&ti, 0, sizeof(ti));
	if (slot->tok && slot->tok->ops->mechanisms &&
	    slot->tok->ops->mechanisms(slot->tok, &mechs, &nmechs) < 0)
		mechs = NULL;
	pthread_mutex_lock(&slot->info_lock);
	slot->info = ti;
	slot->info_tok = slot->tok != NULL;
	slot->mechs = mechs;
	slot->nmechs = mechs ? nmechs : 0;
	pthread_mutex_unlock(&slot->info_lock);
}

void slot_io_lock(struct fe_slot *slot)
{
	pthread_mutex_lock(&slot->io);
}

void slot_io_unlock(struct fe_slot *slot)
{
	pthread_mutex_lock(&slot->lock);
	slot_info_refresh(slot);
	pthread_mutex_unlock(&slot->lock);
	pthread_mutex_unlock(&slot->io);
}

void slot_card_lock(struct fe_slot *slot)
{
	pthread_mutex_lock(&slot->io);
	pthread_mutex_lock(&slot->lock);
}

void slot_card_unlock(struct fe_slot *slot)
{
	slot_info_refresh(slot);
	pthread_mutex_unlock(&slot->lock);
	pthread_mutex_unlock(&slot->io);
}

/* slot->lock held, io not: takes io in the lock order. Returns the epoch
 * seen before, so the caller can tell the token changed meanwhile. */
static int slot_io_take(struct fe_slot *slot)
{
	uint64_t epoch = slot->epoch;

	if (fe_nonblocking)
		return TK_ERR_WOULD_BLOCK;
	if (pthread_mutex_trylock(&slot->io) != 0) {
		pthread_mutex_unlock(&slot->lock);
		pthread_mutex_lock(&slot->io);
		pthread_mutex_lock(&slot->lock);
	}
	if (!slot->tok || slot->epoch != epoch) {
		pthread_mutex_unlock(&slot->io);
		/* The token is gone; a new one is not the caller's. */
		return slot->tok ? TK_ERR_TRANSPORT : TK_ERR_REMOVED;
	}
	return 0;
}

/* io and lock held: after a driver call; keeps lock. */
static int slot_io_give(struct fe_slot *slot, int r)
{
	if (r == TK_ERR_REMOVED)
		slot_close_token(slot);
	slot_info_refresh(slot);
	pthread_mutex_unlock(&slot->io);
	return r;
}

static struct fe_disc *slot_disc_find(struct fe_slot *slot, const uint8_t *id,
				      size_t len)
{
	size_t n = slot->ndisc < FE_DISC_IDS ? slot->ndisc : FE_DISC_IDS;

	for (size_t i = 0; i < n; i++)
		if (slot->disc[i].id.len == len &&
		    memcmp(slot->disc[i].id.b, id, len) == 0)
			return &slot->disc[i];
	return NULL;
}

/* Whether discover(what, id) could read anything not read yet. */
static bool slot_disc_needed(struct fe_slot *slot, unsigned what,
			     const uint8_t *id, size_t len)
{
	unsigned parts = what & ~(unsigned)TK_DISCOVER_ALL;
	const struct fe_disc *d;

	if ((parts & ~slot->disc_all) == 0)
		return false;
	if (what & TK_DISCOVER_ALL)
		return true;
	if ((parts & TK_DISCOVER_DATA) && !(slot->disc_all & TK_DISCOVER_DATA))
		return true;
	parts &= TK_DISCOVER_KEY | TK_DISCOVER_CERT;
	parts &= ~slot->disc_all;
	if (!parts)
		return false;
	d = slot_disc_find(slot, id, len);
	return !d || (parts & ~d->parts);
}

static void slot_disc_note(struct fe_slot *slot, unsigned what,
			   const uint8_t *id, size_t len)
{
	unsigned parts = what & ~(unsigned)TK_DISCOVER_ALL;
	struct fe_disc *d;

	if (what & TK_DISCOVER_ALL) {
		slot->disc_all |= parts;
		return;
	}
	slot->disc_all |= parts & TK_DISCOVER_DATA;
	parts &= TK_DISCOVER_KEY | TK_DISCOVER_CERT;
	if (!parts || len > TK_ID_MAX)
		return;
	if (!(d = slot_disc_find(slot, id, len))) {
		d = &slot->disc[slot->ndisc++ % FE_DISC_IDS];
		d->id.len = len;
		memcpy(d->id.b, id, len);
		d->parts = 0;
	}
	/* The certificate's discovery reads the key's too (driver.h). */
	d->parts |= parts | TK_DISCOVER_KEY;
}

int slot_discover(struct fe_slot *slot, unsigned what, const uint8_t *id,
		  size_t id_len)
{
	int r;

	if (!slot->tok)
		return TK_ERR_REMOVED;
	if (!slot->tok->ops->discover || !what ||
	    !slot_disc_needed(slot, what, id, id_len))
		return 0;
	if ((r = slot_io_take(slot)) < 0)
		return r;
	r = slot->tok->ops->discover(slot->tok, what, id, id_len);
	if (r == 0)
		slot_disc_note(slot, what, id, id_len);
	return slot_io_give(slot, r);
}

int slot_load_private(struct fe_slot *slot)
{
	int r;

	if (!slot->tok)
		return TK_ERR_REMOVED;
	if (slot->private_loaded || !slot->tok->ops->load_private)
		return 0;
	if ((r = slot_io_take(slot)) < 0)
		return r;
	r = slot->tok->ops->load_private(slot->tok);
	return slot_io_give(slot, r);
}

/* ---- the fast path's holds ---- */

bool fe_try_session(struct app *app, CK_SESSION_HANDLE h, struct fe_hold *hold)
{
	struct fe_slot *slot = NULL;
	struct session *s;

	memset(hold, 0, sizeof(*hold));
	if (pthread_mutex_trylock(&app->lock) != 0)
		return false;
	for (s = app->sessions; s && s->h != h; s = s->next)
		;
	if (s && s->busy)
		goto busy;
	if (s) {
		slot = s->slot;
		if (pthread_mutex_trylock(&slot->lock) != 0)
			goto busy;
		if (s->epoch != slot->epoch) { /* stale: freed elsewhere */
			pthread_mutex_unlock(&slot->lock);
			goto busy;
		}
	}
	hold->app = app;
	hold->app_held = true;
	hold->slot = slot;
	fe_nonblocking = true;
	return true;
busy:
	pthread_mutex_unlock(&app->lock);
	return false;
}

bool fe_try_slot(struct app *app, CK_SLOT_ID id, struct fe_hold *hold)
{
	struct fe_slot *slot = frontend_slot(id);

	memset(hold, 0, sizeof(*hold));
	if (pthread_mutex_trylock(&app->lock) != 0)
		return false;
	if (slot && pthread_mutex_trylock(&slot->lock) != 0) {
		pthread_mutex_unlock(&app->lock);
		return false;
	}
	hold->app = app;
	hold->app_held = true;
	hold->slot = slot;
	fe_nonblocking = true;
	return true;
}

void fe_try_end(struct fe_hold *hold)
{
	struct fe_slot *slot = hold->slot;

	fe_nonblocking = false;
	if (slot)
		pthread_mutex_unlock(&slot->lock);
	if (hold->app_held)
		pthread_mutex_unlock(&hold->app->lock);
	memset(hold, 0, sizeof(*hold));
}

void slot_close_token(struct fe_slot *slot)
{
	struct tk_token *tok = slot->tok;

	if (!tok)
		return;
	slot->tok = NULL;
	/* no token: no info, and no list once close() frees it */
	slot_info_refresh(slot);
	tok->ops->close(tok);
	__atomic_add_fetch(&slot->epoch, 1, __ATOMIC_RELEASE);
	slot->private_loaded = false;
	slot->n_user = slot->n_so = 0;
	slot->disc_all = 0;
	slot->ndisc = 0;
}

static void slot_open_token(struct fe_slot *slot)
{
	struct tk_token *tok = NULL;
	int r;

	r = slot->drv->ops->open(slot->drv, slot->dev.name, &tok);
	if (r < 0) {
		if (r != TK_ERR_NOT_FOUND)
			fprintf(stderr,
				"tokend-pkcs11: slot_open_token: %s: %s\n",
				slot->dev.name, tk_strerror(r));
		/* Retry a transient failure at the next scan, not a foreign
		 * card. */
		slot->open_failed = (r == TK_ERR_NOT_FOUND);
		return;
	}
	slot->tok = tok;
	__atomic_add_fetch(&slot->epoch, 1, __ATOMIC_RELEASE);
	slot->open_failed = false;
	slot->private_loaded = false;
	slot->n_user = slot->n_so = 0;
	slot->disc_all = 0;
	slot->ndisc = 0;
	slot_info_refresh(slot);
}

int slot_reopen(struct fe_slot *slot)
{
	slot_close_token(slot);
	slot_open_token(slot);
	return slot->tok ? 0 : TK_ERR_DEVICE;
}

int slot_info_peek(struct fe_slot *slot, struct tk_token_info *info)
{
	bool tok;

	pthread_mutex_lock(&slot->info_lock);
	tok = slot->info_tok;
	*info = slot->info;
	pthread_mutex_unlock(&slot->info_lock);
	if (!tok)
		memset(info, 0, sizeof(*info));
	return tok ? 0 : TK_ERR_REMOVED;
}

int slot_info(struct fe_slot *slot, struct tk_token_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!slot->tok)
		return TK_ERR_REMOVED;
	*info = slot->info;
	return 0;
}

CK_RV slot_rv(struct fe_slot *slot, int err)
{
	if (err == TK_ERR_REMOVED)
		slot_close_token(slot);
	return rv_from_tk(err);
}

/* fe.lock held. The slot for dev of drv, created on first sight. */
static struct fe_slot *slot_for(struct tk_driver *drv,
				const struct tk_device *dev)
{
	struct fe_slot *slot;

	for (size_t i = 0; i < fe.nslots; i++) {
		slot = fe.slots[i];
		if (slot->drv == drv && strcmp(slot->dev.name, dev->name) == 0)
			return slot;
	}
	if (fe.nslots == FE_MAX_SLOTS || !(slot = calloc(1, sizeof(*slot))))
		return NULL;
	pthread_mutex_init(&slot->io, NULL);
	fe_mutex_init_recursive(&slot->lock);
	pthread_mutex_init(&slot->info_lock, NULL);
	slot->id = fe.next_id++;
	slot->drv = drv;
	slot->dev = *dev;
	slot->dev.present = false; /* so the first update opens it */
	fe.slots[fe.nslots] = slot;
	__atomic_store_n(&fe.nslots, fe.nslots + 1, __ATOMIC_RELEASE);
	return slot;
}

/* fe.lock held. Applies one scanned device to its slot; open: opens a
 * token that came (else the next scan that opens does). */
static void slot_update(struct fe_slot *slot, const struct tk_device *dev,
			bool open)
{
	bool changed = dev->events != slot->dev.events || !dev->present;
	bool card;

	/* The card lock (waiting for a card operation) only to open or
	 * close a token. */
	pthread_mutex_lock(&slot->lock);
	card = slot->tok
		   ? changed
		   : open && dev->present && (changed || !slot->open_failed);
	if (card) {
		pthread_mutex_unlock(&slot->lock);
		slot_card_lock(slot);
	}
	if (slot->tok && changed)
		slot_close_token(slot);
	if (changed)
		slot->open_failed = false;
	slot->dev = *dev;
	slot->dev.name[sizeof(slot->dev.name) - 1] = '\0';
	slot->listed = true;
	if (open && !slot->tok && dev->present && !slot->open_failed)
		slot_open_token(slot);
	if (card)
		slot_card_unlock(slot);
	else
		pthread_mutex_unlock(&slot->lock);
}

/* fe.lock held: asks every driver for its devices (no token round trip) and
 * opens (with open), closes or keeps tokens accordingly. */
static void frontend_scan(bool open)
{
	for (size_t i = 0; i < fe.nslots; i++)
		fe.slots[i]->listed = false;
	for (size_t d = 0; d < fe.ndrivers; d++) {
		struct tk_driver *drv = fe.drivers[d];
		struct tk_device *list = NULL;
		size_t n = 0;

		if (drv->ops->scan(drv, &list, &n) < 0) {
			free(list);
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			struct fe_slot *slot = slot_for(drv, &list[j]);
			if (slot)
				slot_update(slot, &list[j], open);
		}
		free(list);
	}
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		if (slot->listed)
			continue;
		slot_card_lock(slot);
		slot_close_token(slot);
		slot->dev.present = false;
		slot_card_unlock(slot);
	}
	fe.dev_scanned = true;
}

CK_RV fe_C_GetSlotList(struct app *app, CK_BBOOL tokenPresent,
		       CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_SLOT_ID ids[FE_MAX_SLOTS];
	CK_ULONG n = 0;
	CK_RV rv = CKR_OK;

	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&fe.lock);
	/* A size query scans, so the call that fetches the list reports the
	 * same view (as OpenSC does). */
	if (!pSlotList || !fe.scanned)
		frontend_scan(true);
	fe.scanned = true;
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		pthread_mutex_lock(&slot->lock);
		if (slot->listed && (!tokenPresent || slot->tok))
			ids[n++] = slot->id;
		pthread_mutex_unlock(&slot->lock);
	}
	pthread_mutex_unlock(&fe.lock);
	if (pSlotList && *pulCount < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pSlotList)
		memcpy(pSlotList, ids, n * sizeof(ids[0]));
	*pulCount = n;
	return rv;
}

static void pad_copy(unsigned char *dst, size_t dst_len, const char *src)
{
	size_t n = strnlen(src, dst_len);

	memset(dst, ' ', dst_len);
	memcpy(dst, src, n);
}

CK_RV fe_C_GetInfo(struct app *app, CK_INFO_PTR pInfo)
{
	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 3;
	pInfo->cryptokiVersion.minor = 0;
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
		 "tokend");
	pad_copy(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
		 "tokend PKCS#11 front end");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}

CK_RV fe_C_GetSlotInfo(struct app *app, CK_SLOT_ID slotID,
		       CK_SLOT_INFO_PTR pInfo)
{
	struct fe_slot *slot;

	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	if (!(slot = frontend_slot(slotID)))
		return CKR_SLOT_ID_INVALID;
	memset(pInfo, 0, sizeof(*pInfo));
	pthread_mutex_lock(&slot->lock);
	pad_copy(pInfo->slotDescription, sizeof(pInfo->slotDescription),
		 slot->dev.description[0] ? slot->dev.description
					  : slot->dev.name);
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
		 slot->dev.manufacturer);
	pInfo->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	if (slot->tok)
		pInfo->flags |= CKF_TOKEN_PRESENT;
	pthread_mutex_unlock(&slot->lock);
	return CKR_OK;
}

static CK_FLAGS token_flags(const struct tk_token_info *ti, bool pin_provider)
{
	CK_FLAGS f = CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;

	if (ti->pin_tries_left == 0)
		f |= CKF_USER_PIN_LOCKED;
	else if (ti->pin_tries_left == 1)
		f |= CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW;
	else if (ti->pin_tries_left > 0 && ti->pin_tries_max > 0 &&
		 ti->pin_tries_left < ti->pin_tries_max)
		f |= CKF_USER_PIN_COUNT_LOW;
	if (ti->pin_is_default)
		f |= CKF_USER_PIN_TO_BE_CHANGED;
	if (ti->puk_tries_left == 0)
		f |= CKF_SO_PIN_LOCKED; /* informative: the PUK is blocked */
	if (ti->login & TK_LOGIN_USER)
		f |= CKF_LOGIN_REQUIRED;
	if (pin_provider || (ti->login & TK_LOGIN_PROTECTED_PATH))
		f |= CKF_PROTECTED_AUTHENTICATION_PATH;
	return f;
}

CK_RV fe_C_GetTokenInfo(struct app *app, CK_SLOT_ID slotID,
			CK_TOKEN_INFO_PTR pInfo)
{
	struct tk_token_info ti;
	struct fe_slot *slot;
	int r;

	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	if (!(slot = frontend_slot(slotID)))
		return CKR_SLOT_ID_INVALID;
	memset(pInfo, 0, sizeof(*pInfo));
	pthread_mutex_lock(&app->lock);
	r = slot_info_peek(slot, &ti);
	if (r < 0) {
		pthread_mutex_unlock(&app->lock);
		return r == TK_ERR_REMOVED ? CKR_TOKEN_NOT_PRESENT
					   : rv_from_tk(r);
	}
	pad_copy(pInfo->label, sizeof(pInfo->label), ti.label);
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
		 ti.manufacturer);
	pad_copy(pInfo->model, sizeof(pInfo->model), ti.model);
	pad_copy(pInfo->serialNumber, sizeof(pInfo->serialNumber), ti.serial);
	pInfo->flags = token_flags(&ti, app_has_pin_provider(app));
	pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulSessionCount = app_count_sessions(app, slot, false);
	pInfo->ulRwSessionCount = app_count_sessions(app, slot, true);
	pthread_mutex_unlock(&app->lock);
	pInfo->ulMaxPinLen = ti.pin_max;
	pInfo->ulMinPinLen = ti.pin_min;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->firmwareVersion.major = ti.fw_major;
	pInfo->firmwareVersion.minor = ti.fw_minor;
	memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime));
	return CKR_OK;
}

/* The slot with its info_lock held and a token in it, or an error: the
 * mechanisms are answered from the published copy, not waiting for a
 * card call that holds slot->lock. */
static CK_RV slot_info_locked(CK_SLOT_ID id, struct fe_slot **out)
{
	struct fe_slot *slot;

	if (!(slot = frontend_slot(id)))
		return CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&slot->info_lock);
	if (!slot->info_tok) {
		pthread_mutex_unlock(&slot->info_lock);
		return CKR_TOKEN_NOT_PRESENT;
	}
	*out = slot;
	return CKR_OK;
}

CK_RV fe_C_GetMechanismList(struct app *app, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE_PTR pMechanismList,
			    CK_ULONG_PTR pulCount)
{
	const struct tk_mech *list;
	CK_MECHANISM_INFO info;
	struct fe_slot *slot;
	CK_ULONG n = 0;
	size_t nd = 0;
	CK_RV rv;

	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	if ((rv = slot_info_locked(slotID, &slot)) != CKR_OK)
		return rv;
	if ((list = slot_mech_list(slot, &nd))) {
		for (size_t i = 0; i < nd; i++, n++)
			if (pMechanismList && n < *pulCount)
				pMechanismList[n] = list[i].type;
	} else {
		for (const struct mech *m = mech_next(NULL); m;
		     m = mech_next(m)) {
			if (!mech_offered(m, slot->info.caps, &info))
				continue;
			if (pMechanismList && n < *pulCount)
				pMechanismList[n] = m->type;
			n++;
		}
	}
	pthread_mutex_unlock(&slot->info_lock);
	rv = (pMechanismList && n > *pulCount) ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*pulCount = n;
	return rv;
}

CK_RV fe_C_GetMechanismInfo(struct app *app, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	struct fe_slot *slot;
	CK_RV rv;

	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	if ((rv = slot_info_locked(slotID, &slot)) != CKR_OK)
		return rv;
	if (!mech_lookup(slot->mechs, slot->nmechs, slot->info.caps, type,
			 pInfo, NULL))
		rv = CKR_MECHANISM_INVALID;
	pthread_mutex_unlock(&slot->info_lock);
	return rv;
}

/* ---- slot events (C_WaitForSlotEvent) ---- */

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

static bool slot_present(const struct fe_slot *slot)
{
	return slot->listed && slot->dev.present;
}

/* fe.lock held. */
static void app_seen_take(struct app *app)
{
	memset(app->seen, 0, sizeof(app->seen));
	for (size_t i = 0; i < fe.nslots; i++) {
		app->seen[i].known = true;
		app->seen[i].present = slot_present(fe.slots[i]);
		app->seen[i].events = fe.slots[i]->dev.events;
	}
	app->seen_taken = true;
}

void app_events_reset(struct app *app)
{
	pthread_mutex_lock(&fe.lock);
	if (fe.up)
		frontend_scan(false); /* pcscd only: tokens open when listed */
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
		bool present = slot_present(slot), ev;

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

/* fe.lock held: one round of waiting. The first caller waits on the
 * driver (without fe.lock) and rescans; the others wait for that. */
static void frontend_watch(void)
{
	struct tk_driver *drv = NULL;
	struct timespec ts;
	int r = -1;

	if (fe.watching) {
		deadline_in(&ts, FE_WATCH_MS);
		pthread_cond_timedwait(&fe.changed, &fe.lock, &ts);
		return;
	}
	fe.watching = true;
	if (fe.ndrivers == 1 && fe.drivers[0]->ops->wait &&
	    fe.drivers[0]->ops->wake)
		drv = fe.drivers[0];
	if (drv) {
		fe.watch_drv = drv;
		pthread_mutex_unlock(&fe.lock);
		r = drv->ops->wait(drv, FE_WATCH_MS);
		pthread_mutex_lock(&fe.lock);
		fe.watch_drv = NULL;
	}
	if (r < 0) { /* no driver wait, or it failed: poll */
		deadline_in(&ts, FE_POLL_MS);
		pthread_cond_timedwait(&fe.changed, &fe.lock, &ts);
	}
	frontend_scan(true);
	fe.scanned = true;
	fe.watching = false;
	pthread_cond_broadcast(&fe.changed);
}

CK_RV fe_C_WaitForSlotEvent(struct app *app, CK_FLAGS flags,
			    CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	bool scanned = false;
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
		if (!scanned) {
			/* What the drivers say now, opening tokens as
			 * C_GetSlotList does. */
			frontend_scan(true);
			fe.scanned = scanned = true;
			continue;
		}
		if (flags & CKF_DONT_BLOCK) {
			rv = CKR_NO_EVENT;
			break;
		}
		frontend_watch();
	}
	app->waiters--;
	pthread_cond_broadcast(&fe.changed);
	pthread_mutex_unlock(&fe.lock);
	return rv;
}

/* fe.lock held: wakes the app's blocked waits (and the watcher, which may
 * be one of them). */
static void app_wake_waits(struct app *app)
{
	if (!app->waiters)
		return;
	pthread_cond_broadcast(&fe.changed);
	if (fe.watch_drv)
		fe.watch_drv->ops->wake(fe.watch_drv);
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
			     (slot_present(fe.slots[i]) ? 1u : 0u);
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
	struct timespec ts;
	uint64_t now;
	bool changed;

	pthread_mutex_lock(&fe.lock);
	if (!fe.up) { /* no busy loop: wait as a watch would */
		deadline_in(&ts, timeout_ms);
		pthread_cond_timedwait(&fe.changed, &fe.lock, &ts);
		pthread_mutex_unlock(&fe.lock);
		return false;
	}
	if (*seen == 0) {
		frontend_scan(true);
		fe.scanned = true;
	} else {
		frontend_watch();
	}
	now = frontend_events_state();
	changed = now != *seen;
	*seen = now;
	pthread_mutex_unlock(&fe.lock);
	return changed;
}

void frontend_events_wake(void)
{
	pthread_mutex_lock(&fe.lock);
	pthread_cond_broadcast(&fe.changed);
	if (fe.watch_drv)
		fe.watch_drv->ops->wake(fe.watch_drv);
	pthread_mutex_unlock(&fe.lock);
}

void frontend_app_drain(struct app *app)
{
	struct timespec ts;

	pthread_mutex_lock(&fe.lock);
	app->dead = true;
	while (app->waiters) {
		/* Again and again: a driver wake just before its wait blocks
		 * is lost until the wait's timeout. */
		app_wake_waits(app);
		deadline_in(&ts, 100);
		pthread_cond_timedwait(&fe.changed, &fe.lock, &ts);
	}
	pthread_mutex_unlock(&fe.lock);
}
