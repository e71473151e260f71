/* C_DeriveKey with CKM_ECDH1_DERIVE (CKD_NULL): the token computes the
 * shared secret; it becomes a session object of the application. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The peer's public value: a raw point (uncompressed EC, or 32 bytes for
 * X25519), or the same wrapped in a DER OCTET STRING as some callers do. */
static CK_RV derive_peer(enum tk_alg alg, const CK_ECDH1_DERIVE_PARAMS *p,
			 const uint8_t **peer, size_t *len)
{
	size_t field = alg_field_len(alg);
	size_t want = alg_family(alg) == KF_X ? field : 1 + 2 * field;
	const uint8_t *d = p->pPublicData;
	size_t n = p->ulPublicDataLen;

	if (!d || n == 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (n == want + 2 && d[0] == 0x04 && d[1] == want) {
		d += 2;
		n -= 2;
	}
	if (n != want)
		return CKR_MECHANISM_PARAM_INVALID;
	*peer = d;
	*len = n;
	return CKR_OK;
}

/* The new secret's attributes from the template. */
static CK_RV derive_template(const CK_ATTRIBUTE *t, CK_ULONG n,
			     struct secret *sec, CK_ULONG *value_len)
{
	CK_ULONG cls = CKO_SECRET_KEY, kt = CKK_GENERIC_SECRET;
	bool token = false, found;
	const CK_ATTRIBUTE *a;
	CK_RV rv;

	sec->desc.private = true;
	sec->extractable = true;
	if ((rv = tmpl_check(t, n)) != CKR_OK ||
	    (rv = tmpl_get_ulong(t, n, CKA_CLASS, &cls, &found)) != CKR_OK ||
	    (rv = tmpl_get_ulong(t, n, CKA_KEY_TYPE, &kt, &found)) != CKR_OK ||
	    (rv = tmpl_get_ulong(t, n, CKA_VALUE_LEN, value_len, &found)) !=
		CKR_OK ||
	    (rv = tmpl_get_bool(t, n, CKA_TOKEN, &token, &found)) != CKR_OK ||
	    (rv = tmpl_get_bool(t, n, CKA_PRIVATE, &sec->desc.private,
				&found)) != CKR_OK ||
	    (rv = tmpl_get_bool(t, n, CKA_SENSITIVE, &sec->sensitive,
				&found)) != CKR_OK ||
	    (rv = tmpl_get_bool(t, n, CKA_EXTRACTABLE, &sec->extractable,
				&found)) != CKR_OK)
		return rv;
	if (cls != CKO_SECRET_KEY || token)
		return CKR_TEMPLATE_INCONSISTENT;
	sec->desc.key_type = kt;
	if ((a = tmpl_find(t, n, CKA_LABEL)) && a->ulValueLen) {
		size_t l = a->ulValueLen < sizeof(sec->desc.label) - 1
			       ? a->ulValueLen
			       : sizeof(sec->desc.label) - 1;
		memcpy(sec->desc.label, a->pValue, l);
	}
	if ((a = tmpl_find(t, n, CKA_ID)) && a->ulValueLen) {
		if (a->ulValueLen > sizeof(sec->desc.id.b))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		memcpy(sec->desc.id.b, a->pValue, a->ulValueLen);
		sec->desc.id.len = a->ulValueLen;
	}
	return CKR_OK;
}

/* app->lock held: checks the base key and runs the derivation with the
 * session busy and app->lock dropped. */
static CK_RV derive_token(struct app *app, struct session *s,
			  const CK_MECHANISM *mech, CK_OBJECT_HANDLE base,
			  uint8_t *out, size_t *out_len)
{
	CK_ECDH1_DERIVE_PARAMS p;
	struct op op = { 0 };
	const uint8_t *peer;
	size_t peer_len;
	bool shared;
	CK_RV rv;
	int r;

	if (!mech->pParameter || mech->ulParameterLen != sizeof(p))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&p, mech->pParameter, sizeof(p));
	if (p.kdf != CKD_NULL || p.ulSharedDataLen)
		return CKR_MECHANISM_PARAM_INVALID;
	pthread_mutex_lock(&s->slot->lock);
	rv = op_key(app, s, base, OBJ_PRIV, &op);
	pthread_mutex_unlock(&s->slot->lock);
	if (rv != CKR_OK)
		goto out;
	if (!(alg_family(op.alg) & (KF_EC | KF_X))) {
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	if ((rv = derive_peer(op.alg, &p, &peer, &peer_len)) != CKR_OK)
		goto out;
	if (op.need_login && app_user(app, s->slot) != CKU_USER) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	session_run(app, s);
	shared = slot_op_lock(s->slot); /* op.c: why login still holds */
	tk_caller_set(app->share);
	r = s->slot->tok && s->epoch == slot_epoch(s->slot)
		? s->slot->tok->ops->derive(s->slot->tok, op.handle, peer,
					    peer_len, out, out_len)
		: TK_ERR_REMOVED;
	if (r < 0) {
		/* slot_rv closes a removed token: io alone for that */
		if (r != TK_ERR_REMOVED ||
		    slot_op_alone(s->slot, &shared, s->epoch)) {
			pthread_mutex_lock(&s->slot->lock);
			rv = s->epoch == slot_epoch(s->slot)
				 ? slot_rv(s->slot, r)
				 : CKR_DEVICE_REMOVED;
			pthread_mutex_unlock(&s->slot->lock);
		} else {
			rv = CKR_DEVICE_REMOVED;
		}
	}
	slot_op_unlock(s->slot, shared);
	session_done(app, s);
out:
	op_reset(&op);
	return rv;
}

CK_RV fe_C_DeriveKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
		     CK_OBJECT_HANDLE_PTR phKey)
{
	uint8_t z[128];
	size_t zlen = sizeof(z);
	CK_ULONG want = 0;
	struct secret *sec = NULL;
	struct session *s;
	CK_RV rv;

	if (!pMechanism || !phKey || (ulAttributeCount && !pTemplate))
		return CKR_ARGUMENTS_BAD;
	if (pMechanism->mechanism != CKM_ECDH1_DERIVE)
		return CKR_MECHANISM_INVALID;
	APP_SESSION(app, hSession, s, rv);
	if (!(sec = calloc(1, sizeof(*sec)))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if ((rv = derive_template(pTemplate, ulAttributeCount, sec, &want)) !=
	    CKR_OK)
		goto out;
	rv = derive_token(app, s, pMechanism, hBaseKey, z, &zlen);
	if (rv != CKR_OK)
		goto out;
	if (want > zlen) {
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	sec->len = sec->desc.value_len = want ? want : zlen;
	if (!(sec->value = malloc(sec->len))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	memcpy(sec->value, z, sec->len);
	if ((*phKey = obj_add_secret(app, s, sec)) == CK_INVALID_HANDLE)
		rv = CKR_DEVICE_MEMORY; /* the per-application cap, or no memory
					 */
	else
		sec = NULL;
out:
	explicit_bzero(z, sizeof(z));
	secret_free(&sec);
	pthread_mutex_unlock(&app->lock);
	return rv;
}
