/* C_Login / C_Logout: login state belongs to the application context. The
 * card's own state is shared, so the front end decides who may use a key;
 * the driver only verifies. */
#include <string.h>

#include "internal.h"

/* With slot->lock held: the driver's login behind the pin guard (the SO
 * secret is not guarded: PIV's management key has no retry counter). Check,
 * send and record stay in one critical section, so two clients cannot both pass
 * the check for the last try above the reserve. */
static int login_guarded(struct app *app, struct fe_slot *slot,
			 enum tk_user user, const uint8_t *pin, size_t len,
			 const struct pin_hash *h)
{
	int r;

	if (!slot->tok)
		return TK_ERR_REMOVED;
	/* A refusal answers TK_ERR_PIN_LOCKED, as the card would. */
	if (user == TK_USER_PIN && (r = guard_check(app, slot, user, h)) < 0)
		return r;
	r = slot->tok->ops->login(slot->tok, user, pin, len);
	if (user == TK_USER_PIN)
		guard_result(slot, user, h, r);
	return r;
}

/* The PIN's hash for the guard, computed before any lock a slot's other
 * users need (it is slow on purpose); unset without a guard or for SO, and
 * when hashing fails (then the PIN passes only above the reserve). */
static void login_hash(struct app *app, CK_USER_TYPE user, const uint8_t *pin,
		       size_t len, struct pin_hash *h)
{
	memset(h, 0, sizeof(*h));
	if (user != CKU_SO && guard_on(app))
		(void)pin_guard_hash(pin, len, h);
}

/* Whether the token takes PINs itself (TK_LOGIN_PROTECTED_PATH). */
static bool login_on_device(struct fe_slot *slot)
{
	bool on;

	pthread_mutex_lock(&slot->lock);
	on = slot->tok && (slot->info.login & TK_LOGIN_PROTECTED_PATH);
	pthread_mutex_unlock(&slot->lock);
	return on;
}

/* CKU_CONTEXT_SPECIFIC: the PIN again for the operation under way. */
static CK_RV login_context(struct app *app, struct session *s,
			   const uint8_t *pin, size_t len,
			   const struct pin_hash *h)
{
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
	slot_card_lock(s->slot);
	r = login_guarded(app, s->slot, TK_USER_PIN, pin, len, h);
	if (r < 0) {
		CK_RV rv = slot_rv(s->slot, r);
		slot_card_unlock(s->slot);
		return rv;
	}
	slot_card_unlock(s->slot);
	op->ctx_authed = true;
	memcpy(op->ctx_pin, pin, len);
	op->ctx_pin_len = len;
	return CKR_OK;
}

/* CKU_USER / CKU_SO: checks the app's state, then the driver verifies. */
static CK_RV login_user(struct app *app, struct session *s, CK_USER_TYPE user,
			const uint8_t *pin, size_t len,
			const struct pin_hash *h)
{
	CK_USER_TYPE cur = app_user(app, s->slot);
	struct fe_slot *slot = s->slot;
	CK_RV rv = CKR_OK;
	int r;

	if (cur == user)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (cur != (CK_USER_TYPE)-1)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (user == CKU_SO && app_count_sessions(app, slot, false) !=
				  app_count_sessions(app, slot, true))
		return CKR_SESSION_READ_ONLY_EXISTS;
	slot_card_lock(slot);
	if (!slot->tok) {
		rv = CKR_DEVICE_REMOVED;
		goto out;
	}
	/* The driver's login model: whether the token has an SO at all. */
	if (user == CKU_SO && !(slot->info.login & TK_LOGIN_SO)) {
		rv = CKR_USER_TYPE_INVALID;
		goto out;
	}
	/* The SO secret goes as given: its driver decodes it. */
	r = login_guarded(app, slot,
			  user == CKU_SO ? TK_USER_ADMIN : TK_USER_PIN, pin,
			  len, h);
	if (r < 0) {
		rv = slot_rv(slot, r);
		goto out;
	}
	app_login_add(app, slot, user);
out:
	slot_card_unlock(slot);
	return rv;
}

CK_RV fe_C_Login(struct app *app, CK_SESSION_HANDLE hSession,
		 CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	uint8_t pin[FE_MAX_PIN * 2];
	size_t len = ulPinLen;
	struct pin_hash h = { .set = false };
	struct session *s;
	CK_RV rv;

	if (userType != CKU_SO && userType != CKU_USER &&
	    userType != CKU_CONTEXT_SPECIFIC)
		return CKR_USER_TYPE_INVALID;
	APP_SESSION(app, hSession, s, rv);
	if (pPin && app_has_pin_provider(app) && userType != CKU_SO) {
		/* The export holds the PIN: a client's own never reaches the
		 * card, which would make the export a guessing oracle. */
		rv = CKR_PIN_INCORRECT;
		goto out;
	}
	if (!pPin && app_has_pin_provider(app)) {
		len = sizeof(pin);
		if (app_fetch_pin(app, s->slot,
				  userType == CKU_SO ? TK_USER_ADMIN
						     : TK_USER_PIN,
				  pin, &len) < 0 ||
		    len > sizeof(pin)) {
			rv = CKR_PIN_INCORRECT;
			goto out;
		}
	} else if (!pPin && !login_on_device(s->slot)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	} else if (!pPin) {
		len = 0; /* the device asks for the PIN itself */
	} else if (ulPinLen > sizeof(pin) || ulPinLen == 0) {
		rv = CKR_PIN_LEN_RANGE;
		goto out;
	} else {
		memcpy(pin, pPin, len);
	}
	login_hash(app, userType, pin, len, &h);
	if (userType == CKU_CONTEXT_SPECIFIC)
		rv = len > FE_MAX_PIN ? CKR_PIN_LEN_RANGE
				      : login_context(app, s, pin, len, &h);
	else
		rv = login_user(app, s, userType, pin, len, &h);
out:
	explicit_bzero(pin, sizeof(pin));
	pin_guard_wipe(&h);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_Logout(struct app *app, CK_SESSION_HANDLE hSession)
{
	struct session *s;
	CK_RV rv;

	APP_SESSION(app, hSession, s, rv);
	if (app_user(app, s->slot) == (CK_USER_TYPE)-1)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		app_logout_slot(app, s->slot);
	pthread_mutex_unlock(&app->lock);
	return rv;
}
