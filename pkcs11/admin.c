/* Administration through PKCS#11: key generation, certificate and key
 * import, data objects, deletion (as CKU_SO), PIN management (the driver
 * says what C_SetPIN's old secret asks for), C_InitPIN and C_InitToken as
 * a factory reset, each as the token's login model allows. */
#include <string.h>

#include <openssl/x509.h>

#include "internal.h"

/* The CKA_ID a new key or certificate is to have. */
static CK_RV admin_id(const CK_ATTRIBUTE *t, CK_ULONG n, struct tk_id *id,
		      bool *found)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, CKA_ID);

	memset(id, 0, sizeof(*id));
	*found = a != NULL;
	if (!a)
		return CKR_OK;
	if (a->ulValueLen > TK_ID_MAX || (a->ulValueLen && !a->pValue))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	id->len = a->ulValueLen;
	if (id->len)
		memcpy(id->b, a->pValue, id->len);
	return CKR_OK;
}

/* slot->lock held: a driver's answer to an administrative call; an ID it
 * cannot place is the template's fault. */
static CK_RV admin_rv(struct fe_slot *slot, int r)
{
	if (r == TK_ERR_NOT_FOUND)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	return slot_rv(slot, r);
}

/* Writes need a read/write session of an app logged in as SO. */
CK_RV admin_check(struct app *app, struct session *s)
{
	struct tk_token_info ti;
	CK_USER_TYPE u = app_user(app, s->slot);

	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (u == CKU_USER && slot_info_peek(s->slot, &ti) == 0 &&
	    (ti.login & TK_LOGIN_USER_WRITES))
		return CKR_OK;
	if (u != CKU_SO)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* The card half of an admin call: with s busy and app->lock dropped (the
 * app's other sessions go on), then the card lock; the token must still
 * be the session's. admin_card_unlock after, whatever this answered. */
bool admin_card_lock(struct app *app, struct session *s)
{
	session_run(app, s);
	slot_card_lock(s->slot);
	return s->slot->tok && s->slot->epoch == s->epoch;
}

void admin_card_unlock(struct app *app, struct session *s)
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

/* The card lock held, the token the session's: generate on the token;
 * *handle names the new key. */
static CK_RV gen_token(struct session *s, const struct tk_id *id,
		       enum tk_alg alg, enum tk_pin_policy pin,
		       enum tk_touch_policy touch, uint32_t *handle)
{
	struct tk_token_info ti;
	int r;

	if ((r = slot_info(s->slot, &ti)) < 0)
		return slot_rv(s->slot, r);
	if (!(ti.caps & TK_CAP_GENERATE) || !s->slot->tok->ops->generate)
		return CKR_MECHANISM_INVALID;
	if (!alg_supported(alg, ti.caps))
		return alg_family(alg) == KF_RSA ? CKR_KEY_SIZE_RANGE
						 : CKR_CURVE_NOT_SUPPORTED;
	if ((pin || touch) && !(ti.caps & TK_CAP_POLICIES))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((r = s->slot->tok->ops->generate(s->slot->tok, id, alg, pin, touch,
					     handle)) < 0)
		return admin_rv(s->slot, r);
	return CKR_OK;
}

/* A template as the driver takes it (tk_attr), into out (room n). */
void tmpl_to_tk(const CK_ATTRIBUTE *t, CK_ULONG n, struct tk_attr *out)
{
	for (CK_ULONG i = 0; i < n; i++)
		out[i] =
		    (struct tk_attr){ t[i].type, t[i].pValue, t[i].ulValueLen };
}

/* The card lock held: a token that takes the application's templates
 * (generate_tmpl) gets them whole; pub NULL: a secret key's. *session:
 * the key is a session object (CKA_TOKEN false), the session's (obj_own). */
static CK_RV gen_token_tmpl(struct session *s, const struct tk_id *id,
			    const CK_MECHANISM *m, const CK_ATTRIBUTE *pub,
			    CK_ULONG npub, const CK_ATTRIBUTE *priv,
			    CK_ULONG npriv, uint32_t *handle, bool *session)
{
	const struct tk_token_ops *ops = s->slot->tok->ops;
	struct tk_mech_arg ma = { m->mechanism, m->pParameter,
				  m->ulParameterLen };
	struct tk_attr *a;
	CK_RV rv = CKR_OK;
	int r;

	if (!ops->generate_tmpl)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (!(a = calloc(npub + npriv + 1, sizeof(*a))))
		return CKR_HOST_MEMORY;
	tmpl_to_tk(pub, npub, a);
	tmpl_to_tk(priv, npriv, a + npub);
	if ((r = ops->generate_tmpl(s->slot->tok, id, &ma, pub ? a : NULL, npub,
				    a + npub, npriv, handle)) < 0)
		rv = admin_rv(s->slot, r);
	else
		*session = obj_token_session(
		    s->slot, pub ? OBJ_PRIV : OBJ_SECRET, *handle);
	free(a);
	return rv;
}

/* A new key's handle for the app: a session object's is the session's. */
static CK_OBJECT_HANDLE gen_handle(struct app *app, struct session *s,
				   enum obj_kind kind, uint32_t handle,
				   bool session)
{
	return session ? obj_own(app, s, kind, handle)
		       : obj_handle(app, s->slot, kind, handle);
}

CK_RV fe_C_GenerateKeyPair(struct app *app, CK_SESSION_HANDLE hSession,
			   CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPub,
			   CK_ULONG nPub, CK_ATTRIBUTE_PTR pPriv,
			   CK_ULONG nPriv, CK_OBJECT_HANDLE_PTR phPublicKey,
			   CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	enum tk_pin_policy pin = TK_PIN_POLICY_DEFAULT;
	enum tk_touch_policy touch = TK_TOUCH_POLICY_DEFAULT;
	struct tk_id id, id2;
	enum tk_alg alg = TK_ALG_NONE;
	uint32_t handle = 0;
	bool f1, f2, whole, locked, session = false;
	struct session *s;
	CK_RV rv, rv_alg;

	if (!pMechanism || !phPublicKey || !phPrivateKey ||
	    tmpl_check(pPub, nPub) || tmpl_check(pPriv, nPriv))
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if ((rv = admin_check(app, s)) != CKR_OK)
		goto out;
	/* Said once the token is known: one that takes the templates whole
	 * (generate_tmpl) decides on the algorithm itself. */
	rv_alg = gen_alg(pMechanism->mechanism, pPub, nPub, pPriv, nPriv, &alg);
	if ((rv = admin_id(pPub, nPub, &id, &f1)) != CKR_OK ||
	    (rv = admin_id(pPriv, nPriv, &id2, &f2)) != CKR_OK ||
	    (rv = admin_policies(pPriv, nPriv, &pin, &touch)) != CKR_OK)
		goto out;
	if (!f1 && !f2) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (f1 && f2 &&
	    (id.len != id2.len || memcmp(id.b, id2.b, id.len) != 0)) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	locked = admin_card_lock(app, s);
	whole = locked && s->slot->tok->ops->generate_tmpl;
	if (!locked)
		rv = CKR_DEVICE_REMOVED;
	else if (!whole && rv_alg != CKR_OK)
		rv = rv_alg;
	else if (whole && !pin && !touch)
		rv = gen_token_tmpl(s, f1 ? &id : &id2, pMechanism, pPub, nPub,
				    pPriv, nPriv, &handle, &session);
	else if (whole)
		rv = CKR_ATTRIBUTE_VALUE_INVALID; /* PIV policies */
	else
		rv = gen_token(s, f1 ? &id : &id2, alg, pin, touch, &handle);
	admin_card_unlock(app, s);
	if (rv == CKR_OK) {
		*phPublicKey = gen_handle(app, s, OBJ_PUB, handle, session);
		*phPrivateKey = gen_handle(app, s, OBJ_PRIV, handle, session);
		if (!*phPublicKey || !*phPrivateKey)
			rv = CKR_HOST_MEMORY;
	}
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* C_GenerateKey: a token that takes templates whole (generate_tmpl, a
 * module) makes the secret key; it is named by its CKA_ID, as key pairs
 * are. */
CK_RV fe_C_GenerateKey(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
		       CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	uint32_t handle = 0;
	struct session *s;
	struct tk_id id;
	bool found, session = false;
	CK_RV rv;

	if (!pMechanism || !phKey || tmpl_check(pTemplate, ulCount))
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if ((rv = admin_check(app, s)) != CKR_OK ||
	    (rv = admin_id(pTemplate, ulCount, &id, &found)) != CKR_OK)
		goto out;
	if (!found) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if (!s->slot->tok->ops->generate_tmpl)
		rv = CKR_MECHANISM_INVALID; /* PIV: no secret keys */
	else
		rv = gen_token_tmpl(s, &id, pMechanism, NULL, 0, pTemplate,
				    ulCount, &handle, &session);
	admin_card_unlock(app, s);
	if (rv == CKR_OK &&
	    !(*phKey = gen_handle(app, s, OBJ_SECRET, handle, session)))
		rv = CKR_HOST_MEMORY;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* ---- C_CreateObject: certificates and private keys ---- */

static CK_RV create_cert(struct app *app, struct session *s,
			 const CK_ATTRIBUTE *t, CK_ULONG n,
			 const struct tk_id *id, uint32_t *handle)
{
	const CK_ATTRIBUTE *v = tmpl_find(t, n, CKA_VALUE);
	const struct tk_token_ops *ops;
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
	if (!admin_card_lock(app, s)) {
		rv = CKR_DEVICE_REMOVED;
	} else {
		ops = s->slot->tok->ops;
		r = !ops->write_cert
			? TK_ERR_UNSUPPORTED
			: ops->write_cert(s->slot->tok, id, v->pValue,
					  v->ulValueLen, handle);
		if (r < 0)
			rv = admin_rv(s->slot, r);
	}
	admin_card_unlock(app, s);
	return rv;
}

static CK_RV create_key(struct app *app, struct session *s,
			const CK_ATTRIBUTE *t, CK_ULONG n,
			const struct tk_id *id, uint32_t *handle)
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
	else if (!(ti.caps & TK_CAP_IMPORT) || !alg_supported(alg, ti.caps) ||
		 !s->slot->tok->ops->import_key)
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	else if ((r = s->slot->tok->ops->import_key(s->slot->tok, id, pk, pin,
						    touch, handle)) < 0)
		rv = admin_rv(s->slot, r);
	admin_card_unlock(app, s);
out:
	EVP_PKEY_free(pk);
	return rv;
}

/* ---- C_CreateObject: data objects, as the driver names them ---- */

static CK_RV create_data(struct app *app, struct session *s,
			 const CK_ATTRIBUTE *t, CK_ULONG n, uint32_t *handle)
{
	struct tk_attr *a = calloc(n ? n : 1, sizeof(*a));
	struct tk_token *tok;
	CK_RV rv;
	int r;

	if (!a)
		return CKR_HOST_MEMORY;
	for (CK_ULONG i = 0; i < n; i++)
		a[i] =
		    (struct tk_attr){ t[i].type, t[i].pValue, t[i].ulValueLen };
	if (!admin_card_lock(app, s)) {
		rv = CKR_DEVICE_REMOVED;
	} else {
		tok = s->slot->tok;
		r = !tok->ops->create_data
			? TK_ERR_UNSUPPORTED
			: tok->ops->create_data(tok, a, n, handle);
		rv = r == TK_ERR_REMOVED ? slot_rv(s->slot, r)
		     : r < 0             ? rv_from_tk_template(r)
					 : CKR_OK;
	}
	admin_card_unlock(app, s);
	free(a);
	return rv;
}

CK_RV fe_C_CreateObject(struct app *app, CK_SESSION_HANDLE hSession,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
			CK_OBJECT_HANDLE_PTR phObject)
{
	CK_OBJECT_CLASS cls = 0;
	bool found, token = true;
	struct session *s;
	struct tk_id id;
	uint32_t handle = 0;
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
	if (objw_takes_templates(s->slot)) { /* a module: every class */
		rv = objw_create(app, s, pTemplate, ulCount, phObject);
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
		rv = create_data(app, s, pTemplate, ulCount, &handle);
		if (rv == CKR_OK &&
		    !(*phObject = obj_handle(app, s->slot, OBJ_DATA, handle)))
			rv = CKR_HOST_MEMORY;
		goto out;
	}
	if ((rv = admin_id(pTemplate, ulCount, &id, &found)) != CKR_OK)
		goto out;
	if (!found) {
		rv = CKR_TEMPLATE_INCOMPLETE;
		goto out;
	}
	if (cls == CKO_CERTIFICATE)
		rv = create_cert(app, s, pTemplate, ulCount, &id, &handle);
	else if (cls == CKO_PRIVATE_KEY)
		rv = create_key(app, s, pTemplate, ulCount, &id, &handle);
	else
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	if (rv == CKR_OK &&
	    !(*phObject = obj_handle(
		  app, s->slot, cls == CKO_CERTIFICATE ? OBJ_CERT : OBJ_PRIV,
		  handle)))
		rv = CKR_HOST_MEMORY;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* slot->lock held: whether the token deletes objects of kind (public keys
 * go with their private key). */
static bool destroy_allowed(const struct tk_token_ops *ops, enum obj_kind kind)
{
	return (kind == OBJ_CERT && ops->delete_cert) ||
	       (kind == OBJ_PRIV && ops->delete_key) ||
	       (kind == OBJ_DATA && ops->delete_data) || ops->destroy;
}

/* The card lock held, the token the session's (so destroy_allowed still
 * holds): deletes what kind and handle name; one object alone (a session
 * object: destroy()) when one says so. */
static int destroy_token(struct tk_token *tok, enum obj_kind kind,
			 uint32_t handle, bool one)
{
	const struct tk_token_ops *ops = tok->ops;

	if (kind == OBJ_CERT && ops->delete_cert && !one)
		return ops->delete_cert(tok, handle);
	if (kind == OBJ_PRIV && ops->delete_key && !one)
		return ops->delete_key(tok, handle);
	if (kind == OBJ_DATA && ops->delete_data && !one)
		return ops->delete_data(tok, handle);
	return ops->destroy ? ops->destroy(tok, (enum tk_obj_kind)kind, handle)
			    : TK_ERR_UNSUPPORTED;
}

CK_RV fe_C_DestroyObject(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_OBJECT_HANDLE hObject)
{
	struct obj_view v;
	struct session *s;
	bool session_obj = false, in_token = false, one = false;
	CK_RV rv;
	int r;

	APP_SESSION(app, hSession, s, rv);
	/* What the handle names, from the cache; the card after. */
	pthread_mutex_lock(&s->slot->lock);
	rv = obj_view(app, s, hObject, &v);
	if (rv == CKR_OK) {
		session_obj = v.secret != NULL;
		/* the app's own session object in the token: no write */
		in_token = obj_is_session(&v);
		/* a key whose parts are objects of their own (a module): the
		 * part alone, the others stay */
		one = in_token || (v.key && v.key->parts);
	}
	if (rv == CKR_OK && !session_obj && !in_token)
		rv = admin_check(app, s);
	if (rv == CKR_OK && !session_obj &&
	    (!s->slot->tok || !destroy_allowed(s->slot->tok->ops, v.kind)))
		rv = CKR_ACTION_PROHIBITED;
	pthread_mutex_unlock(&s->slot->lock);
	if (rv != CKR_OK || session_obj)
		goto out; /* a session object: just forget it */
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = destroy_token(s->slot->tok, v.kind, v.handle, one)) < 0)
		rv = slot_rv(s->slot, r);
	admin_card_unlock(app, s);
out:
	if (rv == CKR_OK)
		obj_drop(app, hObject);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* ---- PINs ---- */

/* slot->lock held: what C_SetPIN's old argument asks for, as the driver
 * reads it (without setpin_parse: the PIN changes the PIN). */
static int setpin_parse(struct fe_slot *slot, const uint8_t *old,
			size_t old_len, struct tk_setpin *q)
{
	q->spends = q->sets = TK_USER_PIN;
	q->old = old;
	q->old_len = old_len;
	if (!slot->tok)
		return TK_ERR_REMOVED;
	if (!slot->tok->ops->set_pin)
		return TK_ERR_UNSUPPORTED;
	if (!slot->tok->ops->setpin_parse)
		return 0;
	return slot->tok->ops->setpin_parse(slot->tok, old, old_len, q);
}

/* io held, slot->lock not, the token the session's: the change behind
 * the pin guard. io keeps check, send and record in one critical
 * section; slot->lock is held only around the guard, so cached reads go
 * on during the card call (set_pin changes no cached object, driver.h).
 * hold / hnew: hashes of the old and new secret. */
static int setpin_guarded(struct app *app, struct fe_slot *slot,
			  const struct tk_setpin *q, const uint8_t *new_pin,
			  size_t new_len, const struct pin_hash *hold,
			  const struct pin_hash *hnew)
{
	int r;

	pthread_mutex_lock(&slot->lock);
	r = guard_check(app, slot, q->spends, hold);
	pthread_mutex_unlock(&slot->lock);
	if (r < 0)
		return r;
	r = slot->tok->ops->set_pin(slot->tok, q, new_pin, new_len);
	pthread_mutex_lock(&slot->lock);
	guard_result(slot, q->spends, hold, r);
	if (r == 0) /* the token now holds the new secret */
		guard_set(slot, q->sets, hnew);
	pthread_mutex_unlock(&slot->lock);
	return r;
}

/* With s busy and app->lock dropped: hashes, then the card under io. The
 * token is the one setpin_parse asked (same epoch), so it has set_pin. */
static CK_RV setpin_run(struct app *app, struct session *s,
			const struct tk_setpin *q, const uint8_t *new_pin,
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
	do { /* a wrong-PIN delay waited out without io (guard_wait) */
		guard_wait(slot);
		slot_io_lock(slot);
		rv = CKR_OK;
		pthread_mutex_lock(&slot->lock);
		r = slot->epoch == s->epoch ? slot_info(slot, &ti)
					    : TK_ERR_REMOVED;
		pthread_mutex_unlock(&slot->lock);
		if (r < 0)
			rv = CKR_DEVICE_REMOVED;
		else if (ti.pin_max &&
			 (new_len < ti.pin_min || new_len > ti.pin_max))
			rv = CKR_PIN_LEN_RANGE;
		else if ((r = setpin_guarded(app, slot, q, new_pin, new_len,
					     &hold, &hnew)) < 0)
			rv = rv_from_tk(r);
		if (r == TK_ERR_REMOVED) {
			pthread_mutex_lock(&slot->lock);
			if (slot->epoch == s->epoch)
				slot_close_token(slot);
			pthread_mutex_unlock(&slot->lock);
		}
		slot_io_unlock(slot);
	} while (r == TK_ERR_NOT_YET);
	pin_guard_wipe(&hold);
	pin_guard_wipe(&hnew);
	return rv;
}

CK_RV fe_C_SetPIN(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
		  CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	struct tk_setpin q;
	struct session *s;
	CK_RV rv;
	int r;

	if (!pOldPin || !pNewPin)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	pthread_mutex_lock(&s->slot->lock);
	r = s->slot->epoch == s->epoch
		? setpin_parse(s->slot, pOldPin, ulOldLen, &q)
		: TK_ERR_REMOVED;
	pthread_mutex_unlock(&s->slot->lock);
	if (r < 0) {
		rv = r == TK_ERR_REMOVED ? CKR_DEVICE_REMOVED : rv_from_tk(r);
		goto out;
	}
	session_run(app, s);
	rv = setpin_run(app, s, &q, pNewPin, ulNewLen);
	session_done(app, s);
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* Only a token whose SO sets the user PIN (TK_LOGIN_INIT_PIN): PIV's
 * cannot; there the PUK unblocks (C_SetPIN, driver.h setpin_parse). */
CK_RV fe_C_InitPIN(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct fe_slot *slot;
	struct session *s;
	CK_RV rv = CKR_OK;
	int r;

	if (!pPin && ulPinLen)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	slot = s->slot;
	if (app_user(app, slot) != CKU_SO) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	if (!(s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if (!(slot->info.login & TK_LOGIN_INIT_PIN) ||
		 !slot->tok->ops->init_pin)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else if (slot->info.pin_max && (ulPinLen < slot->info.pin_min ||
					ulPinLen > slot->info.pin_max))
		rv = CKR_PIN_LEN_RANGE;
	else if ((r = slot->tok->ops->init_pin(slot->tok, pPin, ulPinLen)) < 0)
		rv = slot_rv(slot, r);
	admin_card_unlock(app, s);
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* The card lock held: proves the SO PIN, then resets. Nothing is reset
 * unless the token accepted the SO secret; an authentication left behind
 * by a failed reset is dropped unless an SO is logged in. */
static int init_token(struct fe_slot *slot, const uint8_t *so, size_t len)
{
	const struct tk_token_ops *ops;
	int r;

	if (!slot->tok)
		return TK_ERR_REMOVED;
	ops = slot->tok->ops;
	if (!(slot->info.login & TK_LOGIN_SO_RESET) || !ops->reset)
		return TK_ERR_UNSUPPORTED;
	r = ops->login(slot->tok, TK_USER_ADMIN, so, len);
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
	if (!pPin || ulPinLen == 0)
		return CKR_PIN_INCORRECT;
	for (;;) { /* a wrong-PIN delay waited out without io */
		guard_wait(slot);
		slot_card_lock(slot);
		if ((r = init_token(slot, pPin, ulPinLen)) != TK_ERR_NOT_YET)
			break;
		slot_card_unlock(slot);
	}
	if (r < 0)
		rv = r == TK_ERR_REMOVED ? CKR_TOKEN_NOT_PRESENT
					 : slot_rv(slot, r);
	slot_card_unlock(slot);
	return rv;
}
