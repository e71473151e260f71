/* An application context: its sessions, its login state per token and its
 * session objects. The in-process module has one; the daemon one per
 * connection. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int app_new(struct app **out)
{
	struct app *app;

	*out = NULL;
	if (!(app = calloc(1, sizeof(*app))))
		return TK_ERR_NOMEM;
	fe_mutex_init_recursive(&app->lock);
	pthread_cond_init(&app->idle, NULL);
	app->next_session = 1;
	app->next_obj = 1;
	app->share = (uint64_t)(uintptr_t)app;
	*out = app;
	return 0;
}

static void app_close_sessions(struct app *app, struct fe_slot *slot);

void app_free(struct app **p)
{
	struct app *app;

	if (!p || !(app = *p))
		return;
	frontend_app_drain(app);
	pthread_mutex_lock(&app->lock);
	app_close_sessions(app, NULL);
	for (size_t i = 0; i < app->nobjs; i++)
		secret_free(&app->objs[i].secret);
	free(app->objs);
	pthread_mutex_unlock(&app->lock);
	pthread_cond_destroy(&app->idle);
	pthread_mutex_destroy(&app->lock);
	free(app);
	*p = NULL;
}

void app_set_pin_provider(struct app *app, app_pin_provider cb, void *ctx)
{
	pthread_mutex_lock(&app->lock);
	app->pin_cb = cb;
	app->pin_ctx = ctx;
	pthread_mutex_unlock(&app->lock);
}

void app_set_object_filter(struct app *app, app_object_filter cb, void *ctx)
{
	pthread_mutex_lock(&app->lock);
	app->obj_filter = cb;
	app->obj_filter_ctx = ctx;
	pthread_mutex_unlock(&app->lock);
}

void app_set_share(struct app *app, uint64_t key)
{
	app->share = key;
}

void app_set_pin_guard(struct app *app, unsigned reserved)
{
	pthread_mutex_lock(&app->lock);
	app->pin_reserved = reserved;
	pthread_mutex_unlock(&app->lock);
}

bool app_has_pin_provider(const struct app *app)
{
	return app->pin_cb != NULL;
}

int app_fetch_pin(struct app *app, struct fe_slot *slot, enum tk_user user,
		  uint8_t *pin, size_t *len)
{
	if (!app->pin_cb)
		return TK_ERR_ARG;
	return app->pin_cb(app->pin_ctx, slot->id, user, pin, len);
}

/* ---- login records ---- */

static struct app_login *app_login_find(struct app *app, struct fe_slot *slot)
{
	for (size_t i = 0; i < app->nlogins; i++)
		if (app->logins[i].slot == slot)
			return &app->logins[i];
	return NULL;
}

CK_USER_TYPE app_user(struct app *app, struct fe_slot *slot)
{
	struct app_login *l = app_login_find(app, slot);

	if (!l || l->epoch != slot_epoch(slot))
		return (CK_USER_TYPE)-1;
	return l->user;
}

/* io and lock held, right after the token accepted the secret. */
void slot_login_count(struct fe_slot *slot, CK_USER_TYPE user)
{
	if (user == CKU_SO)
		slot->n_so++;
	else
		slot->n_user++;
}

/* The app's record of a login slot_login_count counted at epoch. */
void app_login_set(struct app *app, struct fe_slot *slot, uint64_t epoch,
		   CK_USER_TYPE user)
{
	struct app_login *l = app_login_find(app, slot);

	if (!l) {
		if (app->nlogins == FE_MAX_SLOTS)
			return; /* cannot happen: one record per slot */
		l = &app->logins[app->nlogins++];
	}
	l->slot = slot;
	l->epoch = epoch;
	l->user = user;
}

bool app_login_take(struct app *app, struct fe_slot *slot,
		    struct app_login *out)
{
	struct app_login *l = app_login_find(app, slot);

	if (!l)
		return false;
	*out = *l;
	*l = app->logins[--app->nlogins];
	return true;
}

void slot_logout(const struct app_login *l)
{
	struct fe_slot *slot = l->slot;
	bool so = l->user == CKU_SO;

	slot_card_lock(slot);
	if (l->epoch == slot_epoch(slot) && slot->tok) {
		unsigned *n = so ? &slot->n_so : &slot->n_user;
		if (*n > 0 && --*n == 0) {
			(void)slot->tok->ops->logout(
			    slot->tok, so ? TK_USER_ADMIN : TK_USER_PIN);
			/* the driver drops private objects with the PIN */
			if (!so)
				slot->private_loaded = false;
		}
	}
	slot_card_unlock(slot);
}

/* Drops the app's login on slot; the last app out logs the card out. */
void app_logout_slot(struct app *app, struct fe_slot *slot)
{
	struct app_login l;

	if (app_login_take(app, slot, &l))
		slot_logout(&l);
}

/* ---- sessions ---- */

void op_reset(struct op *op)
{
	EVP_PKEY_free(op->pub);
	EVP_MD_CTX_free(op->md);
	op_uncharge(op);
	buf_free(&op->acc);
	buf_free(&op->result);
	free(op->oaep_label);
	free((void *)op->arg.param);
	memset(op, 0, sizeof(*op));
}

static void find_reset(struct find_state *f)
{
	free(f->found);
	memset(f, 0, sizeof(*f));
}

void session_free(struct session **p)
{
	struct session *s;

	if (!p || !(s = *p))
		return;
	for (int i = 0; i < OP_N; i++)
		op_reset(&s->op[i]);
	find_reset(&s->find);
	free(s);
	*p = NULL;
}

/* Unlinks and frees s with its session objects; logs the app out of the
 * token when s was its last session there. */
static void app_drop_session(struct app *app, struct session *s)
{
	struct fe_slot *slot = s->slot;
	struct session **pp;

	for (pp = &app->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	obj_drop_session(app, s->h);
	session_free(&s);
	if (app_count_sessions(app, slot, false) == 0)
		app_logout_slot(app, slot);
}

/* All sessions of the app, or those on slot; a busy one when its card
 * operation is over. */
static void app_close_sessions(struct app *app, struct fe_slot *slot)
{
	struct session *s, *next;

again:
	for (s = app->sessions; s; s = next) {
		next = s->next;
		if (slot && s->slot != slot)
			continue;
		if (s->busy) {
			pthread_cond_wait(&app->idle, &app->lock);
			goto again;
		}
		app_drop_session(app, s);
	}
	while (!slot && app->nlogins)
		app_logout_slot(app, app->logins[0].slot);
}

/* The epoch is read without slot->lock, which a card call that changes
 * the token's cache holds while it waits for the card. */
static bool session_stale(struct session *s)
{
	return s->epoch != slot_epoch(s->slot);
}

struct session *app_session(struct app *app, CK_SESSION_HANDLE h, CK_RV *rv)
{
again:
	for (struct session *s = app->sessions; s; s = s->next) {
		if (s->h != h)
			continue;
		if (s->busy) { /* as if its operation held app->lock */
			pthread_cond_wait(&app->idle, &app->lock);
			goto again;
		}
		if (session_stale(s)) {
			/* The token went away: this call says so, and the
			 * handle is gone with it (later calls: invalid). */
			app_drop_session(app, s);
			*rv = CKR_DEVICE_REMOVED;
			return NULL;
		}
		*rv = CKR_OK;
		return s;
	}
	*rv = CKR_SESSION_HANDLE_INVALID;
	return NULL;
}

/* app->lock held: whether another session of the app on slot is in a
 * call that changes the app's login there. */
static bool app_auth_busy(struct app *app, struct fe_slot *slot)
{
	for (struct session *o = app->sessions; o; o = o->next)
		if (o->slot == slot && o->auth)
			return true;
	return false;
}

void app_auth_wait(struct app *app, struct fe_slot *slot)
{
	while (app_auth_busy(app, slot))
		pthread_cond_wait(&app->idle, &app->lock);
}

struct session *app_session_auth(struct app *app, CK_SESSION_HANDLE h,
				 CK_RV *rv)
{
	struct session *s;

	/* Look again after every wait: the session may be gone. */
	while ((s = app_session(app, h, rv)) && app_auth_busy(app, s->slot))
		pthread_cond_wait(&app->idle, &app->lock);
	if (s)
		s->auth = true;
	return s;
}

void app_auth_end(struct app *app, struct session *s)
{
	s->auth = false;
	pthread_cond_broadcast(&app->idle);
}

void session_run(struct app *app, struct session *s)
{
	s->busy = true;
	pthread_mutex_unlock(&app->lock);
}

void session_done(struct app *app, struct session *s)
{
	pthread_mutex_lock(&app->lock);
	s->busy = false;
	pthread_cond_broadcast(&app->idle);
}

size_t app_count_sessions(struct app *app, struct fe_slot *slot, bool rw_only)
{
	size_t n = 0;

	for (struct session *s = app->sessions; s; s = s->next)
		if (s->slot == slot && s->epoch == slot_epoch(slot) &&
		    (!rw_only || (s->flags & CKF_RW_SESSION)))
			n++;
	return n;
}

size_t fe_session_count(struct app *app)
{
	size_t n = 0;

	pthread_mutex_lock(&app->lock);
	for (struct session *s = app->sessions; s; s = s->next)
		if (s->epoch == slot_epoch(s->slot))
			n++;
	pthread_mutex_unlock(&app->lock);
	return n;
}

CK_RV fe_C_OpenSession(struct app *app, CK_SLOT_ID slotID, CK_FLAGS flags,
		       CK_VOID_PTR pApplication, CK_NOTIFY Notify,
		       CK_SESSION_HANDLE_PTR phSession)
{
	struct fe_slot *slot;
	struct session *s;
	CK_RV rv = CKR_OK;

	if (!phSession)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!(slot = frontend_slot(slotID)))
		return CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&app->lock);
	/* A login under way decides CKU_SO's read-only rule: wait for it. */
	if (!(flags & CKF_RW_SESSION))
		app_auth_wait(app, slot);
	if (!(flags & CKF_RW_SESSION) && app_user(app, slot) == CKU_SO) {
		rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
		goto out;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	pthread_mutex_lock(&slot->lock);
	if (!slot->tok) {
		pthread_mutex_unlock(&slot->lock);
		free(s);
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	s->epoch = slot_epoch(slot);
	pthread_mutex_unlock(&slot->lock);
	s->slot = slot;
	s->flags = flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION);
	s->h = app->next_session++;
	s->next = app->sessions;
	app->sessions = s;
	*phSession = s->h;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_CloseSession(struct app *app, CK_SESSION_HANDLE hSession)
{
	struct session *s;
	CK_RV rv;

	APP_SESSION(app, hSession, s, rv);
	app_drop_session(app, s);
	pthread_mutex_unlock(&app->lock);
	return CKR_OK;
}

CK_RV fe_C_CloseAllSessions(struct app *app, CK_SLOT_ID slotID)
{
	struct fe_slot *slot;

	if (!(slot = frontend_slot(slotID)))
		return CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&app->lock);
	app_close_sessions(app, slot);
	app_logout_slot(app, slot);
	pthread_mutex_unlock(&app->lock);
	return CKR_OK;
}

CK_RV fe_C_GetSessionInfo(struct app *app, CK_SESSION_HANDLE hSession,
			  CK_SESSION_INFO_PTR pInfo)
{
	struct session *s;
	CK_USER_TYPE u;
	bool rw;
	CK_RV rv;

	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	u = app_user(app, s->slot);
	rw = s->flags & CKF_RW_SESSION;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->slot->id;
	pInfo->flags = s->flags;
	if (u == CKU_SO)
		pInfo->state = CKS_RW_SO_FUNCTIONS;
	else if (u == CKU_USER)
		pInfo->state =
		    rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		pInfo->state =
		    rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	pthread_mutex_unlock(&app->lock);
	return CKR_OK;
}

/* A token with an RNG (driver.h's random) does not take seeds: a
 * client's seed would go into an RNG shared with every other client of
 * the token (an HSM's, a module's), which a hostile client should not
 * stir, and PKCS#11 allows CKR_RANDOM_SEED_NOT_SUPPORTED. Without an RNG,
 * not that answer (it says an RNG exists, and pkcs11-tool --test then
 * counts C_GenerateRandom's refusal as an error): CKR_RANDOM_NO_RNG, as
 * PKCS#11 allows for both functions. */
CK_RV fe_C_SeedRandom(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	struct session *s;
	bool rng;
	CK_RV rv;

	if (!pSeed && ulSeedLen)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rng = s->slot->tok && s->slot->tok->ops->random;
	pthread_mutex_unlock(&s->slot->lock);
	pthread_mutex_unlock(&app->lock);
	return rng ? CKR_RANDOM_SEED_NOT_SUPPORTED : CKR_RANDOM_NO_RNG;
}

/* From the token's RNG (the driver bounds what it asks the device for at
 * once); CKR_RANDOM_NO_RNG for a token without one (PIV). */
CK_RV fe_C_GenerateRandom(struct app *app, CK_SESSION_HANDLE hSession,
			  CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
	struct session *s;
	CK_RV rv;
	int r;

	if (!pRandomData && ulRandomLen)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	r = op_driver_random(app, s, pRandomData, ulRandomLen);
	pthread_mutex_unlock(&app->lock);
	return r == TK_ERR_UNSUPPORTED ? CKR_RANDOM_NO_RNG : rv_from_tk(r);
}
