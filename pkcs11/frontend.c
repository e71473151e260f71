/* The process-wide part of the front end: the drivers, the slot table (one
 * slot per device name, with a stable id), and opening and closing tokens
 * when the watchers report a device change (fe_events.c waits for them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotplug.h"
#include "internal.h"
#ifdef TOKEND_HAVE_DRIVERS
#include "registry.h"
#endif

struct fe_table fe = { .lock = PTHREAD_MUTEX_INITIALIZER,
		       .changed = PTHREAD_COND_INITIALIZER,
		       .apply = PTHREAD_MUTEX_INITIALIZER };

int frontend_drivers(const struct drv_config *cfg, struct tk_driver ***out,
		     size_t *n)
{
#ifdef TOKEND_HAVE_DRIVERS
	return drivers_from_config(cfg, out, n);
#else
	*n = 0;
	return (*out = calloc(1, sizeof(**out))) ? 0 : TK_ERR_NOMEM;
#endif
}

int frontend_module_drivers(struct tk_driver ***out, size_t *n)
{
	const char *path = getenv(DRV_CONFIG_ENV);
	struct drv_config *cfg = NULL;
	char err[768];
	int r;

	*out = NULL;
	*n = 0;
	if (!path || !*path)
		path = DRV_CONFIG_PATH;
#ifdef TOKEND_HAVE_DRIVERS
	if ((r = drv_config_load(path, &cfg, err, sizeof(err))) != 0) {
		/* The one line a module prints unasked: without it the user
		 * sees only C_Initialize fail. */
		if (r != TK_ERR_NOMEM)
			fprintf(stderr,
				"tokend-pkcs11: %s; not initialising (fix the "
				"file, or name another in %s)\n",
				err, DRV_CONFIG_ENV);
		return r;
	}
#else
	(void)err;
#endif
	r = frontend_drivers(cfg, out, n);
#ifdef TOKEND_HAVE_DRIVERS
	drv_config_free(&cfg);
#endif
	return r;
}

static void slot_token_drop(struct fe_slot *slot);

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
	fe.pending = 0;
	fe.up = true;
out:
	pthread_mutex_unlock(&fe.lock);
	return r;
}

void frontend_fini(void)
{
	fe_events_source_free(); /* no wait is left: no watcher thread */
	pthread_mutex_lock(&fe.lock);
	while (fe.blocked) /* every app is gone: nobody should wait */
		pthread_cond_wait(&fe.changed, &fe.lock);
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		slot_card_lock(slot);
		slot_token_drop(slot);
		slot_card_unlock(slot);
		pthread_mutex_destroy(&slot->info_lock);
		pthread_mutex_destroy(&slot->lock);
		pthread_rwlock_destroy(&slot->io);
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

/* Without fe.lock: the table only grows (a slot is published before nslots
 * counts it) until frontend_fini, when no app is left. */
/* A slot whose identity moves to another reader (slot_identity_claim)
 * swaps ids under fe.lock: a lookup that raced it and found nothing looks
 * again under the lock. */
struct fe_slot *frontend_slot(CK_SLOT_ID id)
{
	size_t n = __atomic_load_n(&fe.nslots, __ATOMIC_ACQUIRE);
	struct fe_slot *slot = NULL;

	for (size_t i = 0; i < n; i++)
		if (__atomic_load_n(&fe.slots[i]->id, __ATOMIC_ACQUIRE) == id)
			return fe.slots[i];
	pthread_mutex_lock(&fe.lock);
	for (size_t i = 0; i < fe.nslots && !slot; i++)
		if (fe.slots[i]->id == id)
			slot = fe.slots[i];
	pthread_mutex_unlock(&fe.lock);
	return slot;
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

/* Writers first: a stream of overlapping signatures must not keep a
 * logout, a login or a token change waiting for ever. Nonrecursive: no
 * thread takes io twice. */
static void slot_io_init(struct fe_slot *slot)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(
	    &a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&slot->io, &a);
	pthread_rwlockattr_destroy(&a);
}

void slot_io_lock(struct fe_slot *slot)
{
	pthread_rwlock_wrlock(&slot->io);
}

void slot_io_unlock(struct fe_slot *slot)
{
	pthread_mutex_lock(&slot->lock);
	slot_info_refresh(slot);
	pthread_mutex_unlock(&slot->lock);
	pthread_rwlock_unlock(&slot->io);
}

void slot_card_lock(struct fe_slot *slot)
{
	pthread_rwlock_wrlock(&slot->io);
	pthread_mutex_lock(&slot->lock);
}

void slot_card_unlock(struct fe_slot *slot)
{
	slot_info_refresh(slot);
	pthread_mutex_unlock(&slot->lock);
	pthread_rwlock_unlock(&slot->io);
}

/* slot->tok changes only with io held alone, so a shared hold keeps it and
 * its concurrent flag. */
bool slot_op_lock(struct fe_slot *slot)
{
	pthread_rwlock_rdlock(&slot->io);
	if (slot->tok && slot->tok->concurrent)
		return true;
	pthread_rwlock_unlock(&slot->io);
	slot_io_lock(slot);
	return false;
}

void slot_op_unlock(struct fe_slot *slot, bool shared)
{
	/* A concurrent token's key operations change no info (driver.h). */
	if (shared)
		pthread_rwlock_unlock(&slot->io);
	else
		slot_io_unlock(slot);
}

bool slot_op_alone(struct fe_slot *slot, bool *shared, uint64_t epoch)
{
	if (*shared) {
		pthread_rwlock_unlock(&slot->io);
		pthread_rwlock_wrlock(&slot->io);
		*shared = false;
	}
	return slot->tok && slot_epoch(slot) == epoch;
}

/* slot->lock held, io not: takes io in the lock order. Returns the epoch
 * seen before, so the caller can tell the token changed meanwhile. */
static int slot_io_take(struct fe_slot *slot)
{
	uint64_t epoch = slot->epoch;

	if (fe_nonblocking)
		return TK_ERR_WOULD_BLOCK;
	if (pthread_rwlock_trywrlock(&slot->io) != 0) {
		pthread_mutex_unlock(&slot->lock);
		pthread_rwlock_wrlock(&slot->io);
		pthread_mutex_lock(&slot->lock);
	}
	if (!slot->tok || slot->epoch != epoch) {
		pthread_rwlock_unlock(&slot->io);
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
	pthread_rwlock_unlock(&slot->io);
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

/* lock held: closes the token, if any (the watchers' events and
 * frontend_fini; slot_close_token for the rest). */
static void slot_token_drop(struct fe_slot *slot)
{
	struct tk_token *tok = slot->tok;

	if (!tok)
		return;
	slot->tok = NULL;
	/* no token: no info, and no list once close() frees it */
	slot_info_refresh(slot);
	tok->ops->close(tok);
	__atomic_add_fetch(&slot->epoch, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&fe.tokens_gen, 1, __ATOMIC_RELEASE);
	slot->private_loaded = false;
	slot->n_user = slot->n_so = 0;
	slot->disc_all = 0;
	slot->ndisc = 0;
}

/* A driver call found the token gone: the watcher's departure, which
 * follows, still reports it once. */
void slot_close_token(struct fe_slot *slot)
{
	if (slot->tok) {
		slot->left_info = slot->info;
		slot->left_unsaid = true;
	}
	slot_token_drop(slot);
}

/* io and lock held, no token: a new token in the slot. */
static void slot_token_set(struct fe_slot *slot, struct tk_driver *drv,
			   struct tk_token *tok)
{
	slot->tok = tok;
	slot->drv = drv;
	__atomic_add_fetch(&slot->epoch, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&fe.tokens_gen, 1, __ATOMIC_RELEASE);
	slot->open_failed = false;
	slot->probe_err = 0;
	slot->private_loaded = false;
	slot->n_user = slot->n_so = 0;
	slot->disc_all = 0;
	slot->ndisc = 0;
	slot_info_refresh(slot);
}

/* io and lock held, no token: asks each driver in turn to open the card in
 * the slot's device (open() is the probe). Returns 0, TK_ERR_NOT_FOUND when
 * none understands it, or the first other failure (which may pass). */
static int slot_open_token(struct fe_slot *slot)
{
	int r = TK_ERR_NOT_FOUND, e;

	for (size_t d = 0; d < fe.ndrivers; d++) {
		struct tk_driver *drv = fe.drivers[d];
		struct tk_token *tok = NULL;

		if (!drv)
			continue;
		e = drv->ops->open(drv, slot->dev.name, &tok);
		if (e == 0) {
			slot_token_set(slot, drv, tok);
			return 0;
		}
		if (r == TK_ERR_NOT_FOUND)
			r = e;
	}
	slot->open_failed = r == TK_ERR_NOT_FOUND;
	slot->probe_err = r == TK_ERR_NOT_FOUND ? 0 : r;
	return r;
}

/* io and lock held, a token open: for the daemon, reads what a client's
 * first search would (every key, certificate and public data object), so
 * the first client after an insert costs the card what every later client
 * costs. A failed read is left to that search; a card gone meanwhile
 * closes the token (TK_ERR_REMOVED). */
static int slot_read_all(struct fe_slot *slot)
{
	const unsigned what = TK_DISCOVER_KEY | TK_DISCOVER_CERT |
			      TK_DISCOVER_ALL | TK_DISCOVER_DATA;
	int r = 0;

	if (__atomic_load_n(&fe.read_all, __ATOMIC_RELAXED) &&
	    slot->tok->ops->discover &&
	    (r = slot->tok->ops->discover(slot->tok, what, NULL, 0)) == 0)
		slot_disc_note(slot, what, NULL, 0);
	if (r == TK_ERR_REMOVED)
		slot_token_drop(slot);
	slot_info_refresh(slot);
	return r == TK_ERR_REMOVED ? r : 0;
}

/* io and lock held: opens the token and reads it (slot_read_all). */
static int slot_probe(struct fe_slot *slot)
{
	int r;

	if ((r = slot_open_token(slot)) < 0)
		return r;
	return slot_read_all(slot);
}

int slot_reopen(struct fe_slot *slot)
{
	slot_token_drop(slot);
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

/* ---- the slot table, driven by the watchers' messages ---- */

/* fe.lock held. The slot of device name, created on first sight. */
static struct fe_slot *slot_for(const char *name)
{
	struct fe_slot *slot;
	size_t w;

	for (size_t i = 0; i < fe.nslots; i++)
		if (strcmp(fe.slots[i]->dev.name, name) == 0)
			return fe.slots[i];
	if (fe.nslots == FE_MAX_SLOTS || !(slot = calloc(1, sizeof(*slot))))
		return NULL;
	slot_io_init(slot);
	fe_mutex_init_recursive(&slot->lock);
	pthread_mutex_init(&slot->info_lock, NULL);
	slot->id = fe.next_id++;
	snprintf(slot->dev.name, sizeof(slot->dev.name), "%s", name);
	snprintf(slot->dev.description, sizeof(slot->dev.description), "%s",
		 name);
	/* A reader's name starts with its maker ("Yubico YubiKey ..."). */
	w = strcspn(name, " ");
	if (w >= sizeof(slot->dev.manufacturer))
		w = sizeof(slot->dev.manufacturer) - 1;
	memcpy(slot->dev.manufacturer, name, w);
	fe.slots[fe.nslots] = slot;
	__atomic_store_n(&fe.nslots, fe.nslots + 1, __ATOMIC_RELEASE);
	return slot;
}

/* Takes fe.lock: publishes the slot's state to C_WaitForSlotEvent. */
static void slot_publish(struct fe_slot *slot, bool moved)
{
	pthread_mutex_lock(&fe.lock);
	pthread_mutex_lock(&slot->lock);
	slot->dev.present = slot->tok != NULL;
	if (moved)
		slot->dev.events++;
	pthread_mutex_unlock(&slot->lock);
	pthread_cond_broadcast(&fe.changed);
	pthread_mutex_unlock(&fe.lock);
}

/* io and lock held: fills the report of a probe. */
static void slot_report(struct fe_slot *slot, int r,
			struct fe_device_report *rep)
{
	const struct tk_objects *objs = NULL;

	rep->slot = slot->id;
	rep->err = r;
	rep->retry = slot->probe_err != 0;
	if (!slot->tok)
		return;
	rep->opened = true;
	rep->driver = slot->drv->ops->name;
	rep->info = slot->info;
	if (slot->tok->ops->objects(slot->tok, &objs) == 0 && objs)
		rep->nkeys = objs->nkeys;
}

/* fe.lock held: the other slot that remembers serial, or NULL. */
static struct fe_slot *slot_identity_find(const struct fe_slot *self,
					  const char *serial)
{
	for (size_t i = 0; i < fe.nslots; i++)
		if (fe.slots[i] != self &&
		    strcmp(fe.slots[i]->serial, serial) == 0)
			return fe.slots[i];
	return NULL;
}

/* fe.lock held: whether x's identity may move to another reader: x is
 * empty (no token, no card), or holds the token whose identity is want's
 * (the two cards swapped readers and the module saw both at once). */
static bool slot_identity_free(struct fe_slot *x, const char *want)
{
	bool ok;

	if (!x->tok && !x->card_in)
		return true;
	pthread_mutex_lock(&x->lock);
	ok = x->tok && want[0] && strcmp(x->info.serial, want) == 0;
	pthread_mutex_unlock(&x->lock);
	return ok;
}

/* fe.lock held: a and b trade identities (id, event count, place in the
 * table, remembered serial). */
static void slot_identity_swap(struct fe_slot *a, struct fe_slot *b)
{
	char serial[sizeof(a->serial)];
	size_t i = 0, j = 0;
	CK_SLOT_ID id;
	uint32_t ev;

	pthread_mutex_lock(&a->lock);
	pthread_mutex_lock(&b->lock);
	for (size_t k = 0; k < fe.nslots; k++) {
		if (fe.slots[k] == a)
			i = k;
		if (fe.slots[k] == b)
			j = k;
	}
	id = a->id;
	__atomic_store_n(&a->id, b->id, __ATOMIC_RELEASE);
	__atomic_store_n(&b->id, id, __ATOMIC_RELEASE);
	ev = a->dev.events;
	a->dev.events = b->dev.events;
	b->dev.events = ev;
	if (b->tok) /* its token now shows under another id: news there */
		b->dev.events++;
	memcpy(serial, a->serial, sizeof(serial));
	memcpy(a->serial, b->serial, sizeof(serial));
	memcpy(b->serial, serial, sizeof(serial));
	fe.slots[i] = b;
	fe.slots[j] = a;
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&a->lock);
}

/* Takes fe.lock. Slot ids follow the token, not only the reader: a token
 * (by serial) that arrives in slot's reader but was last seen in another
 * slot gets that slot's id back (two YubiKeys swapped between two readers
 * each keep their slot). The two slots trade identities; what is bound to
 * the reader (the token, its sessions, the locks) stays. The other slot
 * has no token to lose, or holds the token that wants slot's identity
 * (opened a moment ago in this same pass of events). Runs under fe.apply,
 * the only writer of card_in and of an empty slot's token. A slot keeps
 * remembering its last token while that token's identity is busy
 * elsewhere, so it can still come back. */
static void slot_identity_claim(struct fe_slot *slot, const char *serial)
{
	struct fe_slot *x;

	if (!serial[0])
		return;
	pthread_mutex_lock(&fe.lock);
	if (strcmp(slot->serial, serial) != 0) {
		x = slot_identity_find(slot, serial);
		if (x && slot_identity_free(x, slot->serial))
			slot_identity_swap(slot, x);
		else if (!x)
			snprintf(slot->serial, sizeof(slot->serial), "%s",
				 serial);
	}
	pthread_mutex_unlock(&fe.lock);
}

/* After a probe: the opened token's slot identity, in the report too. */
static void slot_identity_settle(struct fe_slot *slot,
				 struct fe_device_report *rep)
{
	if (!rep->opened)
		return;
	slot_identity_claim(slot, rep->info.serial);
	rep->slot = slot->id;
}

/* A card arrived (or came back with new facts): whatever token the slot
 * had is gone, and the drivers probe the new card. */
static void device_card_arrived(const struct hotplug_msg *m,
				struct fe_device_report *rep)
{
	struct fe_slot *slot;
	int r = TK_ERR_NOT_FOUND;
	uint64_t epoch;

	pthread_mutex_lock(&fe.lock);
	if (!(slot = slot_for(m->id))) {
		pthread_mutex_unlock(&fe.lock);
		rep->err = TK_ERR_NOMEM;
		return;
	}
	/* Locked before anyone can see the card: a client that asks now
	 * waits for the read below. */
	slot_card_lock(slot);
	pthread_mutex_unlock(&fe.lock);
	rep->closed = slot->tok != NULL;
	slot->left_unsaid = false;
	slot_token_drop(slot);
	slot->card_in = !m->mute;
	slot->open_failed = m->mute;
	slot->probe_err = 0;
	if (slot->card_in)
		r = slot_open_token(slot);
	slot_report(slot, r, rep);
	epoch = slot_epoch(slot);
	slot_card_unlock(slot);
	slot_identity_settle(slot, rep);
	/* Waiters learn of the token once it is open (a few APDUs); the
	 * read that follows holds the slot again at once, so a client that
	 * comes for it waits for the read rather than reading itself (and
	 * the daemon's C_GetSlotList waits for the message to be applied). */
	slot_publish(slot, true);
	if (!rep->opened || !__atomic_load_n(&fe.read_all, __ATOMIC_RELAXED))
		return;
	slot_card_lock(slot);
	if (slot->tok && slot_epoch(slot) == epoch &&
	    (r = slot_read_all(slot)) == 0)
		slot_report(slot, r, rep); /* with the keys it read */
	else if (r == TK_ERR_REMOVED) {
		rep->opened = false;
		rep->err = r;
	}
	slot_card_unlock(slot);
	if (r == TK_ERR_REMOVED)
		slot_publish(slot, true);
}

/* A card or its reader left. The slot stays, empty. */
static void device_left(const struct hotplug_msg *m,
			struct fe_device_report *rep)
{
	struct fe_slot *slot = NULL;

	pthread_mutex_lock(&fe.lock);
	for (size_t i = 0; i < fe.nslots && !slot; i++)
		if (strcmp(fe.slots[i]->dev.name, m->id) == 0)
			slot = fe.slots[i];
	if (!slot) {
		pthread_mutex_unlock(&fe.lock);
		return;
	}
	/* Waits for an operation at the card: it fails by itself, the card
	 * being gone. */
	slot_card_lock(slot);
	pthread_mutex_unlock(&fe.lock);
	rep->slot = slot->id;
	rep->closed = slot->tok != NULL || slot->left_unsaid;
	if (rep->closed)
		rep->info = slot->tok ? slot->info : slot->left_info;
	slot->left_unsaid = false;
	slot_token_drop(slot);
	slot->card_in = false;
	slot->open_failed = false;
	slot->probe_err = 0;
	slot_card_unlock(slot);
	slot_publish(slot, m->kind != HOTPLUG_PCSC_READER || rep->closed);
}

void fe_device_apply(const struct hotplug_msg *m, struct fe_device_report *rep)
{
	struct fe_device_report scratch;

	if (!rep)
		rep = &scratch;
	memset(rep, 0, sizeof(*rep));
	if (m->kind != HOTPLUG_PCSC_READER && m->kind != HOTPLUG_PCSC_CARD &&
	    m->kind != HOTPLUG_MODULE_TOKEN)
		return; /* USB keys show up as readers; no TPM driver yet */
	if (m->kind == HOTPLUG_PCSC_READER && m->ev == HOTPLUG_ARRIVED) {
		pthread_mutex_lock(&fe.lock);
		if (slot_for(m->id))
			pthread_cond_broadcast(&fe.changed);
		else
			rep->err = TK_ERR_NOMEM;
		pthread_mutex_unlock(&fe.lock);
		return;
	}
	if (m->ev == HOTPLUG_LEFT)
		device_left(m, rep);
	else if ((m->kind == HOTPLUG_PCSC_CARD ||
		  m->kind == HOTPLUG_MODULE_TOKEN) &&
		 (m->ev == HOTPLUG_ARRIVED || m->ev == HOTPLUG_CHANGED))
		device_card_arrived(m, rep);
}

void frontend_read_on_arrival(bool on)
{
	__atomic_store_n(&fe.read_all, on, __ATOMIC_RELAXED);
}

int frontend_device_event(const struct hotplug_msg *m,
			  struct fe_device_report *rep)
{
	if (!m)
		return TK_ERR_ARG;
	pthread_mutex_lock(&fe.apply);
	fe_device_apply(m, rep);
	pthread_mutex_unlock(&fe.apply);
	return rep && rep->err == TK_ERR_NOMEM ? TK_ERR_NOMEM : 0;
}

bool fe_device_retry_one(struct fe_device_report *rep)
{
	struct fe_slot *slot = NULL;
	int r;

	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&fe.lock);
	for (size_t i = 0; i < fe.nslots && !slot; i++)
		if (fe.slots[i]->probe_err && fe.slots[i]->card_in &&
		    !fe.slots[i]->tok)
			slot = fe.slots[i];
	if (!slot) {
		pthread_mutex_unlock(&fe.lock);
		return false;
	}
	slot_card_lock(slot);
	pthread_mutex_unlock(&fe.lock);
	slot->probe_err = 0;
	r = slot->tok ? 0 : slot_probe(slot);
	slot_report(slot, r, rep);
	slot_card_unlock(slot);
	slot_identity_settle(slot, rep);
	slot_publish(slot, rep->opened);
	return true;
}

bool frontend_device_retry(struct fe_device_report *rep)
{
	bool r;

	pthread_mutex_lock(&fe.apply);
	r = fe_device_retry_one(rep);
	pthread_mutex_unlock(&fe.apply);
	return r;
}

CK_RV fe_C_GetSlotList(struct app *app, CK_BBOOL tokenPresent,
		       CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_SLOT_ID ids[FE_MAX_SLOTS];
	CK_ULONG n = 0;
	CK_RV rv = CKR_OK;

	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	/* A size query looks for changes, so the call that fetches the list
	 * reports the same view (as OpenSC does). */
	if (!pSlotList) {
		fe_events_pump(true);
		fe_events_settle();
	}
	pthread_mutex_lock(&fe.lock);
	for (size_t i = 0; i < fe.nslots; i++) {
		struct fe_slot *slot = fe.slots[i];
		/* Waits for a card read under way (device_card_arrived). */
		pthread_mutex_lock(&slot->lock);
		if (!tokenPresent || slot->tok)
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
	CK_FLAGS f = 0;

	if (!ti->uninitialised)
		f |= CKF_TOKEN_INITIALIZED;
	if (!ti->user_pin_unset)
		f |= CKF_USER_PIN_INITIALIZED;
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

/* ---- read-only status for the daemon's control socket ---- */

/* The most helpers one driver reports (a module runs up to 8). */
#define FE_HELPERS_PER_DRIVER 16

/* Never waits: a slot or app whose lock is taken (a card call under way)
 * is reported busy, with what info_lock alone gives. */
size_t frontend_status(struct fe_slot_status *out, size_t max)
{
	size_t n = __atomic_load_n(&fe.nslots, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < n && i < max; i++) {
		struct fe_slot *slot = fe.slots[i];
		struct fe_slot_status *st = &out[i];
		const struct tk_objects *objs = NULL;

		memset(st, 0, sizeof(*st));
		st->id = slot->id;
		snprintf(st->reader, sizeof(st->reader), "%s", slot->dev.name);
		st->token = slot_info_peek(slot, &st->info) == 0;
		if (pthread_mutex_trylock(&slot->lock) != 0) {
			st->busy = true;
			continue;
		}
		if (slot->tok) {
			st->driver = slot->drv->ops->name;
			st->n_user = slot->n_user;
			st->n_so = slot->n_so;
			if (slot->tok->ops->objects(slot->tok, &objs) == 0 &&
			    objs)
				st->nkeys = objs->nkeys;
		}
		pthread_mutex_unlock(&slot->lock);
	}
	return n;
}

size_t frontend_helpers(struct fe_helper_status *out, size_t max)
{
	struct tk_helper_status h[FE_HELPERS_PER_DRIVER];
	size_t n = 0, k;

	pthread_mutex_lock(&fe.lock);
	for (size_t i = 0; i < fe.ndrivers; i++) {
		struct tk_driver *drv = fe.drivers[i];

		if (!drv || !drv->ops->helpers)
			continue;
		k = drv->ops->helpers(drv, h, FE_HELPERS_PER_DRIVER);
		for (size_t j = 0; j < k && j < FE_HELPERS_PER_DRIVER; j++, n++)
			if (n < max) {
				out[n].driver = drv->ops->name;
				out[n].h = h[j];
			}
	}
	pthread_mutex_unlock(&fe.lock);
	return n;
}

bool app_status(struct app *app, struct fe_app_status *st)
{
	memset(st, 0, sizeof(*st));
	if (pthread_mutex_trylock(&app->lock) != 0)
		return false;
	for (const struct session *s = app->sessions; s; s = s->next)
		st->nsessions++;
	for (size_t i = 0; i < app->nlogins && st->nlogins < FE_STATUS_LOGINS;
	     i++) {
		const struct app_login *l = &app->logins[i];

		if (l->slot == NULL || l->epoch != slot_epoch(l->slot))
			continue;
		st->logins[st->nlogins].slot = l->slot->id;
		st->logins[st->nlogins].user = l->user;
		st->nlogins++;
	}
	pthread_mutex_unlock(&app->lock);
	return true;
}

void frontend_drivers_watch(struct hotplug_queue *q)
{
	drivers_watch(fe.drivers, fe.ndrivers, q);
}

void frontend_drivers_hint(const struct hotplug_msg *m)
{
	drivers_hint(fe.drivers, fe.ndrivers, m);
}

uint64_t frontend_tokens_gen(void)
{
	return __atomic_load_n(&fe.tokens_gen, __ATOMIC_ACQUIRE);
}

void fe_drivers_attend(void)
{
	drivers_attend(fe.drivers, fe.ndrivers, fe.blocked > 0);
}
