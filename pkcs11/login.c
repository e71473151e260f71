/* C_Login / C_Logout: login state belongs to the application context. The
 * card's own state is shared, so the front end decides who may use a key;
 * the driver only verifies. */
#include <string.h>

#include "internal.h"

/* A secret for the token of a session. */
struct login_req {
	enum tk_user user;
	const uint8_t *secret;
	size_t len;
	const struct pin_hash *h; /* for the pin guard */
	uint64_t epoch;           /* the session's token */
};

/* The driver's login behind the pin guard (the SO secret is not guarded:
 * PIV's management key has no retry counter), with app->lock not held.
 * io keeps check, send and record in one critical section, so two clients
 * cannot both pass the check for the last try above the reserve;
 * slot->lock is held only around the guard and the count, so cached reads
 * go on during the VERIFY (login changes no object of the driver's cache,
 * driver.h). count: the user to count on the slot on success, or
 * (CK_USER_TYPE)-1. */
static int login_try(struct app *app, struct fe_slot *slot,
		     const struct login_req *q, CK_USER_TYPE count)
{
	struct tk_token *tok;
	int r = 0;

	slot_io_lock(slot);
	pthread_mutex_lock(&slot->lock);
	tok = slot->tok; /* stable while io is held */
	if (!tok || slot->epoch != q->epoch) {
		tok = NULL;
		r = TK_ERR_REMOVED;
		goto out;
	}
	/* A refusal answers TK_ERR_PIN_LOCKED, as the card would. */
	if (q->user == TK_USER_PIN &&
	    (r = guard_check(app, slot, q->user, q->h)) < 0)
		goto out;
	pthread_mutex_unlock(&slot->lock);
	r = tok->ops->login(tok, q->user, q->secret, q->len);
	pthread_mutex_lock(&slot->lock);
	if (q->user == TK_USER_PIN)
		guard_result(slot, q->user, q->h, r);
	if (r == 0 && count != (CK_USER_TYPE)-1)
		slot_login_count(slot, count);
out:
	if (r == TK_ERR_REMOVED && tok)
		slot_close_token(slot);
	pthread_mutex_unlock(&slot->lock);
	slot_io_unlock(slot);
	return r;
}

/* A token's wrong-PIN delay is waited out before io, holding no lock. */
static int login_card(struct app *app, struct fe_slot *slot,
		      const struct login_req *q, CK_USER_TYPE count)
{
	int r;

	do {
		guard_wait(slot);
		r = login_try(app, slot, q, count);
	} while (r == TK_ERR_NOT_YET);
	return r;
}

/* The PIN's hash for the guard, computed without a lock others need (it
 * is slow on purpose); unset without a guard or for SO, and when hashing
 * fails (then the PIN passes only above the reserve). */
static void login_hash(struct app *app, CK_USER_TYPE user, const uint8_t *pin,
		       size_t len, struct pin_hash *h)
{
	memset(h, 0, sizeof(*h));
	if (user != CKU_SO && guard_on(app))
		(void)pin_guard_hash(pin, len, h);
}

/* app->lock held, s not busy: the card half of a login with s busy and
 * app->lock dropped, so the app's other sessions go on. */
static int login_run(struct app *app, struct session *s, CK_USER_TYPE user,
		     struct login_req *q, struct pin_hash *h,
		     CK_USER_TYPE count)
{
	int r;

	q->h = h;
	q->epoch = s->epoch;
	session_run(app, s);
	login_hash(app, user, q->secret, q->len, h);
	r = login_card(app, s->slot, q, count);
	session_done(app, s);
	return r;
}

/* Whether the token takes PINs itself (TK_LOGIN_PROTECTED_PATH). */
static bool login_on_device(struct fe_slot *slot)
{
	struct tk_token_info ti;

	return slot_info_peek(slot, &ti) == 0 &&
	       (ti.login & TK_LOGIN_PROTECTED_PATH);
}

/* CKU_CONTEXT_SPECIFIC: the PIN again for the operation under way. */
static CK_RV login_context(struct app *app, struct session *s,
			   const uint8_t *pin, size_t len, struct pin_hash *h)
{
	struct login_req q = { .user = TK_USER_PIN, .secret = pin, .len = len };
	struct op *op = NULL;
	int r;

	if (s->op[OP_SIGN].active && s->op[OP_SIGN].always_auth)
		op = &s->op[OP_SIGN];
	else if (s->op[OP_DECRYPT].active && s->op[OP_DECRYPT].always_auth)
		op = &s->op[OP_DECRYPT];
	if (!op)
		return CKR_OPERATION_NOT_INITIALIZED;
	/* An operation may outlive a C_Logout: without a user login here the
	 * driver would take the PIN (and the card stay verified) after the
	 * last app logged out. */
	if (app_user(app, s->slot) != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	if ((r = login_run(app, s, CKU_CONTEXT_SPECIFIC, &q, h,
			   (CK_USER_TYPE)-1)) < 0)
		return rv_from_tk(r);
	/* s was busy meanwhile: op is as it was. The PIN is the driver's to
	 * hold (reauth), not the op's. */
	op->ctx_authed = true;
	return CKR_OK;
}

/* CKU_USER / CKU_SO: checks the app's state, then the driver verifies.
 * s is marked (app_session_auth): no other login or logout of the app on
 * the slot runs meanwhile, so the state checked here holds until the
 * login is recorded. */
static CK_RV login_user(struct app *app, struct session *s, CK_USER_TYPE user,
			const uint8_t *pin, size_t len, struct pin_hash *h)
{
	CK_USER_TYPE cur = app_user(app, s->slot);
	struct fe_slot *slot = s->slot;
	struct login_req q = { .user = TK_USER_PIN, .secret = pin, .len = len };
	struct tk_token_info ti;
	int r;

	if (cur == user)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (cur != (CK_USER_TYPE)-1)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (user == CKU_SO) {
		if (app_count_sessions(app, slot, false) !=
		    app_count_sessions(app, slot, true))
			return CKR_SESSION_READ_ONLY_EXISTS;
		if ((r = slot_info_peek(slot, &ti)) < 0)
			return r == TK_ERR_REMOVED ? CKR_DEVICE_REMOVED
						   : rv_from_tk(r);
		/* The driver's login model: whether the token has an SO. */
		if (!(ti.login & TK_LOGIN_SO))
			return CKR_USER_TYPE_INVALID;
		/* The SO secret goes as given: its driver decodes it. */
		q.user = TK_USER_ADMIN;
	}
	if ((r = login_run(app, s, user, &q, h, user)) < 0)
		return rv_from_tk(r);
	app_login_set(app, slot, s->epoch, user);
	return CKR_OK;
}

/* app->lock held: the PIN into pin (the client's, or the export's for a
 * NULL PIN). */
static CK_RV login_secret(struct app *app, struct session *s, CK_USER_TYPE user,
			  const CK_UTF8CHAR *pPin, CK_ULONG ulPinLen,
			  uint8_t *pin, size_t *len)
{
	size_t cap = *len;

	if (pPin && app_has_pin_provider(app) && user != CKU_SO) {
		/* The export holds the PIN: a client's own never reaches the
		 * card, which would make the export a guessing oracle. */
		return CKR_PIN_INCORRECT;
	}
	if (!pPin && app_has_pin_provider(app)) {
		if (app_fetch_pin(app, s->slot,
				  user == CKU_SO ? TK_USER_ADMIN : TK_USER_PIN,
				  pin, len) < 0 ||
		    *len > cap)
			return CKR_PIN_INCORRECT;
		return CKR_OK;
	}
	if (!pPin && !login_on_device(s->slot))
		return CKR_ARGUMENTS_BAD;
	if (!pPin) {
		*len = 0; /* the device asks for the PIN itself */
		return CKR_OK;
	}
	if (ulPinLen > cap || ulPinLen == 0)
		return CKR_PIN_LEN_RANGE;
	memcpy(pin, pPin, ulPinLen);
	*len = ulPinLen;
	return CKR_OK;
}

CK_RV fe_C_Login(struct app *app, CK_SESSION_HANDLE hSession,
		 CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	uint8_t pin[FE_MAX_PIN * 2];
	size_t len = sizeof(pin);
	struct pin_hash h = { .set = false };
	bool ctx = userType == CKU_CONTEXT_SPECIFIC;
	struct session *s;
	CK_RV rv;

	if (userType != CKU_SO && userType != CKU_USER && !ctx)
		return CKR_USER_TYPE_INVALID;
	pthread_mutex_lock(&app->lock);
	/* A login of the user or SO changes the app's state: one at a time
	 * per slot; a context login changes only its operation. */
	s = ctx ? app_session(app, hSession, &rv)
		: app_session_auth(app, hSession, &rv);
	if (!s) {
		pthread_mutex_unlock(&app->lock);
		return rv;
	}
	rv = login_secret(app, s, userType, pPin, ulPinLen, pin, &len);
	if (rv == CKR_OK && ctx)
		rv = len > FE_MAX_PIN ? CKR_PIN_LEN_RANGE
				      : login_context(app, s, pin, len, &h);
	else if (rv == CKR_OK)
		rv = login_user(app, s, userType, pin, len, &h);
	if (!ctx)
		app_auth_end(app, s);
	explicit_bzero(pin, sizeof(pin));
	pin_guard_wipe(&h);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* The app is logged out at once (its private objects vanish); the token,
 * after the last app, with s busy and app->lock dropped. */
CK_RV fe_C_Logout(struct app *app, CK_SESSION_HANDLE hSession)
{
	struct app_login l;
	struct session *s;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&app->lock);
	if (!(s = app_session_auth(app, hSession, &rv))) {
		pthread_mutex_unlock(&app->lock);
		return rv;
	}
	if (app_user(app, s->slot) == (CK_USER_TYPE)-1) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else if (app_login_take(app, s->slot, &l)) {
		session_run(app, s);
		slot_logout(&l);
		session_done(app, s);
	}
	app_auth_end(app, s);
	pthread_mutex_unlock(&app->lock);
	return rv;
}
