/* Administration through PKCS#11: key generation, certificate and key
 * import, deletion (CKU_SO = the management key), PIN / PUK management by
 * the C_SetPIN prefix convention of tokend-pkcs11.h, and C_InitToken as a
 * factory reset. */
#include <string.h>

#include <openssl/x509.h>

#include "internal.h"

static CK_RV admin_ref(const CK_ATTRIBUTE *t, CK_ULONG n, uint8_t *ref,
		       bool *found)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, CKA_ID);

	*found = a != NULL;
	if (!a)
		return CKR_OK;
	return obj_id_ref(a->pValue, a->ulValueLen, ref)
		   ? CKR_OK
		   : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* Writes need a read/write session of an app logged in as SO. */
static CK_RV admin_check(struct app *app, struct session *s)
{
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (app_user(app, s->slot) != CKU_SO)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* The card half of an admin call: with s busy and app->lock dropped (the
 * app's other sessions go on), then the card lock; the token must still
 * be the session's. slot_card_unlock, then session_done after. */
static bool admin_card_lock(struct app *app, struct session *s)
{
	session_run(app, s);
	slot_card_lock(s->slot);
	return s->slot->tok && s->slot->epoch == s->epoch;
}

static void admin_card_unlock(struct app *app, struct session *s)
{
	slot_card_unlock(s->slot);
	session_done(app, s);
}

static CK_RV admin_policies(const CK_ATTRIBUTE *t, CK_ULONG n,
			    enum tk_pin_policy *pin,
			    enum tk_touch_policy *touch)
{
	CK_ULONG p = 0, q = 0;
	bool found;
	CK_RV rv;

	if ((rv = tmpl_get_ulong(t, n, CKA_TOKEND_PIN_POLICY, &p, &found)) !=
		CKR_OK ||
	    (rv = tmpl_get_ulong(t, n, CKA_TOKEND_TOUCH_POLICY, &q, &found)) !=
		CKR_OK)
		return rv;
	if (p > TOKEND_PIN_POLICY_MATCH_ALWAYS ||
	    q > TOKEND_TOUCH_POLICY_CACHED)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*pin = (enum tk_pin_policy)p;
	*touch = (enum tk_touch_policy)q;
	return CKR_OK;
}

static const struct {
	enum tk_alg alg;
	uint32_t cap;
} alg_caps[] = {
	{ TK_ALG_RSA1024, TK_CAP_RSA1024 }, { TK_ALG_RSA2048, TK_CAP_RSA2048 },
	{ TK_ALG_RSA3072, TK_CAP_RSA3072 }, { TK_ALG_RSA4096, TK_CAP_RSA4096 },
	{ TK_ALG_P256, TK_CAP_P256 },       { TK_ALG_P384, TK_CAP_P384 },
	{ TK_ALG_ED25519, TK_CAP_ED25519 }, { TK_ALG_X25519, TK_CAP_X25519 },
};

static bool alg_supported(enum tk_alg alg, uint32_t caps)
{
	for (size_t i = 0; i < sizeof(alg_caps) / sizeof(alg_caps[0]); i++)
		if (alg_caps[i].alg == alg)
			return caps & alg_caps[i].cap;
	return false;
}

/* The algorithm C_GenerateKeyPair asks for. */
static CK_RV gen_alg(CK_MECHANISM_TYPE mech, const CK_ATTRIBUTE *pub,
		     CK_ULONG npub, const CK_ATTRIBUTE *priv, CK_ULONG npriv,
		     enum tk_alg *alg)
{
	const CK_ATTRIBUTE *a = tmpl_find(pub, npub, CKA_EC_PARAMS);
	CK_ULONG bits = 0;
	bool found;
	CK_RV rv;

	if (!a)
		a = tmpl_find(priv, npriv, CKA_EC_PARAMS);
	switch (mech) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		if ((rv = tmpl_get_ulong(pub, npub, CKA_MODULUS_BITS, &bits,
					 &found)) != CKR_OK)
			return rv;
		if (!found)
			return CKR_TEMPLATE_INCOMPLETE;
		a = tmpl_find(pub, npub, CKA_PUBLIC_EXPONENT);
		if (a && !(a->ulValueLen == 3 && a->pValue &&
			   memcmp(a->pValue, "\x01\x00\x01", 3) == 0))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		*alg = bits == 1024   ? TK_ALG_RSA1024
		       : bits == 2048 ? TK_ALG_RSA2048
		       : bits == 3072 ? TK_ALG_RSA3072
		       : bits == 4096 ? TK_ALG_RSA4096
				      : TK_ALG_NONE;
		return *alg == TK_ALG_NONE ? CKR_KEY_SIZE_RANGE : CKR_OK;
	case CKM_EC_KEY_PAIR_GEN:
		if (!a || !a->pValue)
			return CKR_TEMPLATE_INCOMPLETE;
		*alg = attr_alg_from_params(a->pValue, a->ulValueLen);
		return (*alg == TK_ALG_P256 || *alg == TK_ALG_P384)
			   ? CKR_OK
			   : CKR_CURVE_NOT_SUPPORTED;
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
	case CKM_EC_MONTGOMERY_KEY_PAIR_GEN:
		*alg = mech == CKM_EC_EDWARDS_KEY_PAIR_GEN ? TK_ALG_ED25519
							   : TK_ALG_X25519;
		if (a && a->pValue &&
		    attr_alg_from_params(a->pValue, a->ulValueLen) != *alg)
			return CKR_CURVE_NOT_SUPPORTED;
		return CKR_OK;
	default:
		return CKR_MECHANISM_INVALID;
	}
}

/* The card lock held: generate on the token. */
static CK_RV gen_token(struct session *s, uint8_t ref, enum tk_alg alg,
		       enum tk_pin_policy pin, enum tk_touch_policy touch)
{
	struct tk_token_info ti;
	int r;

	if ((r = slot_info(s->slot, &ti)) < 0)
		return slot_rv(s->slot, r);
	if (!(ti.caps & TK_CAP_GENERATE))
		return CKR_MECHANISM_INVALID;
	if (!alg_supported(alg, ti.caps))
		return alg_family(alg) == KF_RSA ? CKR_KEY_SIZE_RANGE
						 : CKR_CURVE_NOT_SUPPORTED;
	if ((pin || touch) && !(ti.caps & TK_CAP_POLICIES))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((r = s->slot->tok->ops->generate(s->slot->tok, ref, alg, pin,
					     touch)) < 0)
		return slot_rv(s->slot, r);
	return CKR_OK;
}

CK_RV fe_C_GenerateKeyPair(struct app *app, CK_SESSION_HANDLE hSession,
			   CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPub,
			   CK_ULONG nPub, CK_ATTRIBUTE_PTR pPriv,
			   CK_ULONG nPriv, CK_OBJECT_HANDLE_PTR phPublicKey,
			   CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	enum tk_pin_policy pin = TK_PIN_POLICY_DEFAULT;
	enum tk_touch_policy touch = TK_TOUCH_POLICY_DEFAULT;
	uint8_t ref = 0, ref2 = 0;
	enum tk_alg alg = TK_ALG_NONE;
	bool f1, f2;
	struct session *s;
	CK_RV rv;

	if (!pMechanism || !phPublicKey || !phPrivateKey ||
	    tmpl_check(pPub, nPub) || tmpl_check(pPriv, nPriv))
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if ((rv = admin_check(app, s)) != CKR_OK ||
	    (rv = gen_alg(pMechanism->mechanism, pPub, nPub, pPriv, nPriv,
			  &alg)) != CKR_OK ||
	    (rv = admin_ref(pPub, nPub, &ref, &f1)) != CKR_OK ||
	    (rv = admin_ref(pPriv, nPriv, &ref2, &f2)) != CKR_OK ||
	    (rv = admin_policies(pPriv, nPriv, &pin, &touch)) != CKR_OK)
		goto out;
	if (!f1 && !f2) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (f1 && f2 && ref != ref2) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	ref = f1 ? ref : ref2;
	rv = admin_card_lock(app, s) ? gen_token(s, ref, alg, pin, touch)
				     : CKR_DEVICE_REMOVED;
	admin_card_unlock(app, s);
	if (rv == CKR_OK) {
		*phPublicKey = obj_handle(app, s->slot, OBJ_PUB, ref);
		*phPrivateKey = obj_handle(app, s->slot, OBJ_PRIV, ref);
		if (!*phPublicKey || !*phPrivateKey)
			rv = CKR_HOST_MEMORY;
	}
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* ---- C_CreateObject: certificates and private keys ---- */

static CK_RV create_cert(struct app *app, struct session *s,
			 const CK_ATTRIBUTE *t, CK_ULONG n, uint8_t ref)
{
	const CK_ATTRIBUTE *v = tmpl_find(t, n, CKA_VALUE);
	CK_ULONG type = CKC_X_509;
	const uint8_t *p;
	CK_RV rv = CKR_OK;
	bool found;
	X509 *x;
	int r;

	if (tmpl_get_ulong(t, n, CKA_CERTIFICATE_TYPE, &type, &found) !=
		CKR_OK ||
	    type != CKC_X_509)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!v || !v->pValue || !v->ulValueLen)
		return CKR_TEMPLATE_INCOMPLETE;
	p = v->pValue;
	if (!(x = d2i_X509(NULL, &p, (long)v->ulValueLen)))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	X509_free(x);
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = s->slot->tok->ops->write_cert(
		      s->slot->tok, ref, v->pValue, v->ulValueLen)) < 0)
		rv = slot_rv(s->slot, r);
	admin_card_unlock(app, s);
	return rv;
}

static CK_RV create_key(struct app *app, struct session *s,
			const CK_ATTRIBUTE *t, CK_ULONG n, uint8_t ref)
{
	enum tk_pin_policy pin = TK_PIN_POLICY_DEFAULT;
	enum tk_touch_policy touch = TK_TOUCH_POLICY_DEFAULT;
	struct tk_token_info ti;
	enum tk_alg alg = TK_ALG_NONE;
	EVP_PKEY *pk = NULL;
	CK_RV rv;
	int r;

	if ((rv = admin_policies(t, n, &pin, &touch)) != CKR_OK ||
	    (rv = import_private_key(t, n, &pk, &alg)) != CKR_OK)
		goto out;
	/* slot_info cannot fail with the token the session's */
	if (!admin_card_lock(app, s) || slot_info(s->slot, &ti) < 0)
		rv = CKR_DEVICE_REMOVED;
	else if (!(ti.caps & TK_CAP_IMPORT) || !alg_supported(alg, ti.caps))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	else if ((r = s->slot->tok->ops->import_key(s->slot->tok, ref, pk, pin,
						    touch)) < 0)
		rv = slot_rv(s->slot, r);
	admin_card_unlock(app, s);
out:
	EVP_PKEY_free(pk);
	return rv;
}

/* ---- C_CreateObject: PIV data containers ---- */

/* The containers C_CreateObject may write (certificates are CKO_CERTIFICATE;
 * the driver caches exactly these). */
static const uint32_t data_tags[] = { 0x5FC102, 0x5FC107, 0x00007E, 0x5FC10C,
				      0x5FC109 };

/* The container a template names by CKA_OBJECT_ID and/or CKA_TOKEND_OBJECT_TAG.
 */
static CK_RV data_tag(const CK_ATTRIBUTE *t, CK_ULONG n, uint32_t *tag)
{
	const CK_ATTRIBUTE *oid = tmpl_find(t, n, CKA_OBJECT_ID);
	CK_ULONG v = 0;
	uint32_t by_oid = 0;
	bool found;
	CK_RV rv;

	if ((rv = tmpl_get_ulong(t, n, CKA_TOKEND_OBJECT_TAG, &v, &found)) !=
	    CKR_OK)
		return rv;
	if (!oid && !found)
		return CKR_TEMPLATE_INCOMPLETE;
	if (oid &&
	    (!oid->pValue ||
	     attr_tag_from_oid(oid->pValue, oid->ulValueLen, &by_oid) < 0))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (oid && found && v != by_oid)
		return CKR_TEMPLATE_INCONSISTENT;
	*tag = oid ? by_oid : (uint32_t)v;
	for (size_t i = 0; i < sizeof(data_tags) / sizeof(data_tags[0]); i++)
		if (data_tags[i] == *tag && (!found || v == *tag))
			return CKR_OK;
	return CKR_ATTRIBUTE_VALUE_INVALID;
}

static CK_RV create_data(struct app *app, struct session *s,
			 const CK_ATTRIBUTE *t, CK_ULONG n, uint32_t *tag)
{
	const CK_ATTRIBUTE *v = tmpl_find(t, n, CKA_VALUE);
	CK_RV rv;
	int r;

	if ((rv = data_tag(t, n, tag)) != CKR_OK)
		return rv;
	if (!v)
		return CKR_TEMPLATE_INCOMPLETE;
	if (!v->pValue || !v->ulValueLen)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = s->slot->tok->ops->write_data(
		      s->slot->tok, *tag, v->pValue, v->ulValueLen)) < 0)
		rv = slot_rv(s->slot, r);
	admin_card_unlock(app, s);
	return rv;
}

CK_RV fe_C_CreateObject(struct app *app, CK_SESSION_HANDLE hSession,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
			CK_OBJECT_HANDLE_PTR phObject)
{
	CK_OBJECT_CLASS cls = 0;
	bool found, token = true;
	struct session *s;
	uint8_t ref = 0;
	uint32_t tag = 0;
	CK_RV rv;

	if (!phObject || tmpl_check(pTemplate, ulCount) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if ((rv = tmpl_get_ulong(pTemplate, ulCount, CKA_CLASS, &cls,
				 &found)) != CKR_OK)
		goto out;
	if (!found) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if ((rv = tmpl_get_bool(pTemplate, ulCount, CKA_TOKEN, &token,
				&found)) != CKR_OK)
		goto out;
	if (!token) { /* session objects are made only by C_DeriveKey */
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	if ((rv = admin_check(app, s)) != CKR_OK)
		goto out;
	if (cls == CKO_DATA) {
		rv = create_data(app, s, pTemplate, ulCount, &tag);
		if (rv == CKR_OK &&
		    !(*phObject = obj_handle(app, s->slot, OBJ_DATA, tag)))
			rv = CKR_HOST_MEMORY;
		goto out;
	}
	if ((rv = admin_ref(pTemplate, ulCount, &ref, &found)) != CKR_OK)
		goto out;
	if (!found) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (cls == CKO_CERTIFICATE)
		rv = create_cert(app, s, pTemplate, ulCount, ref);
	else if (cls == CKO_PRIVATE_KEY)
		rv = create_key(app, s, pTemplate, ulCount, ref);
	else
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK &&
	    !(*phObject = obj_handle(
		  app, s->slot, cls == CKO_CERTIFICATE ? OBJ_CERT : OBJ_PRIV,
		  ref)))
		rv = CKR_HOST_MEMORY;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* The card lock held, the token the session's: deletes what kind and
 * ident (a key ref or a data tag) name. */
static int destroy_token(struct fe_slot *slot, enum obj_kind kind,
			 uint32_t ident)
{
	const struct tk_token_ops *ops = slot->tok->ops;

	if (kind == OBJ_CERT)
		return ops->delete_cert(slot->tok, (uint8_t)ident);
	if (kind == OBJ_PRIV)
		return ops->delete_key(slot->tok, (uint8_t)ident);
	/* an empty PUT DATA deletes */
	return ops->write_data(slot->tok, ident, NULL, 0);
}

CK_RV fe_C_DestroyObject(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_OBJECT_HANDLE hObject)
{
	struct obj_view v;
	struct session *s;
	uint32_t ident = 0;
	CK_RV rv;
	int r;

	APP_SESSION(app, hSession, s, rv);
	/* What the handle names, from the cache; the card after. */
	pthread_mutex_lock(&s->slot->lock);
	rv = obj_view(app, s, hObject, &v);
	if (rv == CKR_OK && v.kind != OBJ_SECRET)
		rv = admin_check(app, s);
	if (rv == CKR_OK && v.kind == OBJ_PUB)
		rv = CKR_ACTION_PROHIBITED; /* goes with its private key */
	if (rv == CKR_OK && v.kind != OBJ_SECRET)
		ident = v.kind == OBJ_DATA ? v.data->tag : v.key->ref;
	pthread_mutex_unlock(&s->slot->lock);
	if (rv != CKR_OK || v.kind == OBJ_SECRET)
		goto out; /* a session object: just forget it */
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = destroy_token(s->slot, v.kind, ident)) < 0)
		rv = slot_rv(s->slot, r);
	admin_card_unlock(app, s);
out:
	if (rv == CKR_OK)
		obj_drop(app, hObject);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* ---- PINs ---- */

/* What C_SetPIN's old-PIN argument names, by the prefix convention of
 * tokend-pkcs11.h: the secret checked and which counter it spends. */
struct setpin_req {
	enum { SETPIN_PIN, SETPIN_PUK, SETPIN_UNBLOCK } kind;
	enum tk_user which; /* the counter the old secret spends */
	const uint8_t *old;
	size_t old_len;
};

static bool has_prefix(const uint8_t *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

static void setpin_parse(const uint8_t *old, size_t old_len,
			 struct setpin_req *q)
{
	size_t pl = strlen(TOKEND_SETPIN_PUK_PREFIX),
	       ul = strlen(TOKEND_SETPIN_UNBLOCK_PREFIX);

	q->kind = SETPIN_PIN;
	q->which = TK_USER_PIN;
	q->old = old;
	q->old_len = old_len;
	if (has_prefix(old, old_len, TOKEND_SETPIN_PUK_PREFIX)) {
		q->kind = SETPIN_PUK;
		q->old += pl;
		q->old_len -= pl;
	} else if (has_prefix(old, old_len, TOKEND_SETPIN_UNBLOCK_PREFIX)) {
		q->kind = SETPIN_UNBLOCK;
		q->old += ul;
		q->old_len -= ul;
	}
	if (q->kind != SETPIN_PIN)
		q->which = TK_USER_PUK;
}

/* io held, the token the session's. */
static int setpin_token(struct fe_slot *slot, const struct setpin_req *q,
			const uint8_t *new_pin, size_t new_len)
{
	const struct tk_token_ops *ops = slot->tok->ops;

	switch (q->kind) {
	case SETPIN_PUK:
		return ops->change_pin(slot->tok, TK_USER_PUK, q->old,
				       q->old_len, new_pin, new_len);
	case SETPIN_UNBLOCK:
		return ops->unblock_pin(slot->tok, q->old, q->old_len, new_pin,
					new_len);
	default:
		return ops->change_pin(slot->tok, TK_USER_PIN, q->old,
				       q->old_len, new_pin, new_len);
	}
}

/* io held, slot->lock not, the token the session's: the change behind
 * the pin guard. io keeps check, send and record in one critical
 * section; slot->lock is held only around the guard, so cached reads go
 * on during the card call (a PIN change changes no cached object).
 * hold / hnew: hashes of the old and new secret. */
static int setpin_guarded(struct app *app, struct fe_slot *slot,
			  const struct setpin_req *q, const uint8_t *new_pin,
			  size_t new_len, const struct pin_hash *hold,
			  const struct pin_hash *hnew)
{
	int r;

	pthread_mutex_lock(&slot->lock);
	r = guard_check(app, slot, q->which, hold);
	pthread_mutex_unlock(&slot->lock);
	if (r < 0)
		return r;
	r = setpin_token(slot, q, new_pin, new_len);
	pthread_mutex_lock(&slot->lock);
	guard_result(slot, q->which, hold, r);
	if (r == 0) /* the token now holds the new secret */
		guard_set(slot,
			  q->kind == SETPIN_PUK ? TK_USER_PUK : TK_USER_PIN,
			  hnew);
	pthread_mutex_unlock(&slot->lock);
	return r;
}

/* With s busy and app->lock dropped: hashes, then the card under io. */
static CK_RV setpin_run(struct app *app, struct session *s,
			const struct setpin_req *q, const uint8_t *new_pin,
			size_t new_len)
{
	struct pin_hash hold = { .set = false }, hnew = { .set = false };
	struct fe_slot *slot = s->slot;
	struct tk_token_info ti;
	CK_RV rv = CKR_OK;
	int r;

	/* Slow hashes first, without a lock; unset on failure (then only a
	 * counter above the reserve lets the secret through). */
	if (guard_on(app) && (pin_guard_hash(q->old, q->old_len, &hold) < 0 ||
			      pin_guard_hash(new_pin, new_len, &hnew) < 0)) {
		pin_guard_wipe(&hold);
		pin_guard_wipe(&hnew);
	}
	slot_io_lock(slot);
	pthread_mutex_lock(&slot->lock);
	r = slot->epoch == s->epoch ? slot_info(slot, &ti) : TK_ERR_REMOVED;
	pthread_mutex_unlock(&slot->lock);
	if (r < 0)
		rv = CKR_DEVICE_REMOVED;
	else if (ti.pin_max && (new_len < ti.pin_min || new_len > ti.pin_max))
		rv = CKR_PIN_LEN_RANGE;
	else if ((r = setpin_guarded(app, slot, q, new_pin, new_len, &hold,
				     &hnew)) < 0)
		rv = rv_from_tk(r);
	if (r == TK_ERR_REMOVED) {
		pthread_mutex_lock(&slot->lock);
		if (slot->epoch == s->epoch)
			slot_close_token(slot);
		pthread_mutex_unlock(&slot->lock);
	}
	slot_io_unlock(slot);
	pin_guard_wipe(&hold);
	pin_guard_wipe(&hnew);
	return rv;
}

CK_RV fe_C_SetPIN(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
		  CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	struct setpin_req q;
	struct session *s;
	CK_RV rv;

	if (!pOldPin || !pNewPin)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	setpin_parse(pOldPin, ulOldLen, &q);
	session_run(app, s);
	rv = setpin_run(app, s, &q, pNewPin, ulNewLen);
	session_done(app, s);
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* The management key cannot set a PIV PIN; unblock is C_SetPIN("unblock:"). */
CK_RV fe_C_InitPIN(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct session *s;
	CK_RV rv;

	APP_SESSION(app, hSession, s, rv);
	if (app_user(app, s->slot) != CKU_SO)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* C_InitToken's SO PIN: the management key as hex (as CKU_SO logs in). */
static int init_so_key(const uint8_t *pin, size_t len, uint8_t *key, size_t cap,
		       size_t *key_len)
{
	if (!pin || len == 0)
		return TK_ERR_PIN_INCORRECT;
	if (login_key_decode(pin, len, key, cap, key_len) < 0)
		return TK_ERR_PIN_INCORRECT;
	return 0;
}

/* slot->lock held: proves the SO PIN, then resets. Nothing is reset
 * unless the token accepted the management key; an authentication left
 * behind by a failed reset is dropped unless an SO is logged in. */
static int init_token(struct fe_slot *slot, const uint8_t *key, size_t len)
{
	const struct tk_token_ops *ops;
	int r;

	if (!slot->tok)
		return TK_ERR_REMOVED;
	ops = slot->tok->ops;
	r = ops->login(slot->tok, TK_USER_ADMIN, key, len);
	if (r == TK_ERR_ARG || r == TK_ERR_AUTH_REQUIRED)
		r = TK_ERR_PIN_INCORRECT; /* e.g. a key of the wrong length */
	if (r < 0)
		return r;
	if ((r = ops->reset(slot->tok)) == 0)
		return slot_reopen(slot); /* every session of every app ends */
	if (slot->tok && slot->n_so == 0 && r != TK_ERR_REMOVED)
		(void)ops->logout(slot->tok, TK_USER_ADMIN);
	return r;
}

CK_RV fe_C_InitToken(struct app *app, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		     CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	struct fe_slot *slot;
	uint8_t key[64];
	size_t key_len = 0;
	CK_RV rv = CKR_OK;
	int r;

	if (!pLabel)
		return CKR_ARGUMENTS_BAD;
	if (!(slot = frontend_slot(slotID)))
		return CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&app->lock);
	if (app_count_sessions(app, slot, false)) {
		pthread_mutex_unlock(&app->lock);
		return CKR_SESSION_EXISTS;
	}
	pthread_mutex_unlock(&app->lock);
	/* The app is not needed any more: its other slots' sessions go on
	 * meanwhile; one it opens here now ends with the reset. */
	if ((r = init_so_key(pPin, ulPinLen, key, sizeof(key), &key_len)) < 0) {
		rv = rv_from_tk(r);
		goto out;
	}
	slot_card_lock(slot);
	r = init_token(slot, key, key_len);
	if (r < 0)
		rv = r == TK_ERR_REMOVED ? CKR_TOKEN_NOT_PRESENT
					 : slot_rv(slot, r);
	slot_card_unlock(slot);
out:
	explicit_bzero(key, sizeof(key));
	return rv;
}
