/* Object calls a token takes whole (driver.h: create_tmpl, copy,
 * set_attrs, wrap, unwrap; a PKCS#11 module behind the bridge):
 * C_CreateObject of every class, C_CopyObject, C_SetAttributeValue,
 * C_WrapKey and C_UnwrapKey. The front end checks what the device cannot:
 * the object is visible to this application, private objects need this
 * application's own login (the device's may be another's), token objects
 * are writes (admin_check). A session object the device makes belongs to
 * the session that asked (obj_own): no other application sees it, and it
 * is destroyed in the device when that session closes. Tokens without the
 * ops answer as before. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool objw_takes_templates(struct fe_slot *slot)
{
	bool yes;

	pthread_mutex_lock(&slot->lock);
	yes = slot->tok && slot->tok->ops->create_tmpl;
	pthread_mutex_unlock(&slot->lock);
	return yes;
}

/* Whether app may make what template t asks for. token: what the object
 * is without CKA_TOKEN; priv the same for CKA_PRIVATE (-1: the device
 * decides, so some login is needed). */
static CK_RV objw_access(struct app *app, struct session *s,
			 const CK_ATTRIBUTE *t, CK_ULONG n, bool token,
			 int priv)
{
	CK_USER_TYPE u = app_user(app, s->slot);
	bool v, found;
	CK_RV rv;

	if ((rv = tmpl_get_bool(t, n, CKA_TOKEN, &v, &found)) != CKR_OK)
		return rv;
	if (found)
		token = v;
	if ((rv = tmpl_get_bool(t, n, CKA_PRIVATE, &v, &found)) != CKR_OK)
		return rv;
	if (found)
		priv = v;
	if (token && (rv = admin_check(app, s)) != CKR_OK)
		return rv;
	if (priv == 1 && u != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	if (priv < 0 && u != CKU_USER && u != CKU_SO)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

enum objw_call { W_CREATE, W_COPY, W_UNWRAP };

/* What a call that makes an object hands the driver. */
struct objw_req {
	enum objw_call call;
	const CK_ATTRIBUTE *t;
	CK_ULONG n;
	enum obj_kind kind; /* copy: the source; unwrap: the unwrapping key */
	uint32_t ident;
	const CK_MECHANISM *mech; /* unwrap */
	const uint8_t *in;
	size_t in_len;
};

/* The card lock held: a driver's answer to a call that makes an object;
 * not_found is what a missing object or template entry means for it. */
static CK_RV objw_rv(struct fe_slot *slot, int r, CK_RV not_found,
		     CK_RV invalid)
{
	if (r == TK_ERR_REMOVED)
		return slot_rv(slot, r);
	return rv_from_tk_object(r, not_found, CKR_ATTRIBUTE_READ_ONLY,
				 invalid);
}

/* The card lock held: the driver call of q; the new object's name. */
static int objw_drive(struct tk_token *tok, const struct objw_req *q,
		      const struct tk_attr *a, enum tk_obj_kind *kind,
		      uint32_t *ident)
{
	const struct tk_token_ops *ops = tok->ops;
	struct tk_mech_arg m;

	if (q->call == W_CREATE)
		return ops->create_tmpl(tok, a, q->n, kind, ident);
	if (q->call == W_COPY)
		return ops->copy(tok, (enum tk_obj_kind)q->kind, q->ident, a,
				 q->n, kind, ident);
	m = (struct tk_mech_arg){ q->mech->mechanism, q->mech->pParameter,
				  q->mech->ulParameterLen };
	return ops->unwrap(tok, &m, (enum tk_obj_kind)q->kind, q->ident, q->in,
			   q->in_len, a, q->n, kind, ident);
}

/* app->lock held (dropped during the card call): makes the object q asks
 * for and names it for the app (a session object: the session's). */
static CK_RV objw_make(struct app *app, struct session *s,
		       const struct objw_req *q, CK_OBJECT_HANDLE *out)
{
	struct tk_attr *a = calloc(q->n ? q->n : 1, sizeof(*a));
	enum tk_obj_kind kind = 0;
	uint32_t ident = 0;
	bool session = false;
	CK_RV rv = CKR_OK;
	int r;

	if (!a)
		return CKR_HOST_MEMORY;
	tmpl_to_tk(q->t, q->n, a);
	if (!admin_card_lock(app, s)) {
		rv = CKR_DEVICE_REMOVED;
	} else if ((r = objw_drive(s->slot->tok, q, a, &kind, &ident)) < 0) {
		rv = objw_rv(s->slot, r,
			     q->call == W_COPY ? CKR_OBJECT_HANDLE_INVALID
					       : CKR_TEMPLATE_INCOMPLETE,
			     q->call == W_UNWRAP ? CKR_WRAPPED_KEY_INVALID
						 : CKR_TEMPLATE_INCONSISTENT);
		/* a mechanism the device does not unwrap with */
		if (q->call == W_UNWRAP && r == TK_ERR_UNSUPPORTED)
			rv = CKR_MECHANISM_INVALID;
	} else {
		session =
		    obj_token_session(s->slot, (enum obj_kind)kind, ident);
	}
	admin_card_unlock(app, s);
	free(a);
	if (rv != CKR_OK)
		return rv;
	*out = session ? obj_own(app, s, (enum obj_kind)kind, ident)
		       : obj_handle(app, s->slot, (enum obj_kind)kind, ident);
	return *out ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV objw_create(struct app *app, struct session *s, const CK_ATTRIBUTE *t,
		  CK_ULONG n, CK_OBJECT_HANDLE *out)
{
	struct objw_req q = { .call = W_CREATE, .t = t, .n = n };
	CK_RV rv;

	/* PKCS#11: an object is a session object unless CKA_TOKEN says */
	if ((rv = objw_access(app, s, t, n, false, -1)) != CKR_OK)
		return rv;
	return objw_make(app, s, &q, out);
}

/* app->lock and slot->lock held: the token object behind handle h the
 * app may use, and whether the token has the op (has). */
static CK_RV objw_view(struct app *app, struct session *s, CK_OBJECT_HANDLE h,
		       bool has, struct obj_view *v)
{
	CK_RV rv = obj_view(app, s, h, v);

	if (rv != CKR_OK)
		return rv;
	if (v->secret) /* the front end's own (C_DeriveKey): not the token's */
		return CKR_ACTION_PROHIBITED;
	return has ? CKR_OK : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV fe_C_CopyObject(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
		      CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct objw_req q = { .call = W_COPY, .t = pTemplate, .n = ulCount };
	struct obj_view v;
	struct session *s;
	bool token = false;
	int priv = 0;
	CK_RV rv;

	if (!phNewObject)
		return CKR_ARGUMENTS_BAD;
	if ((rv = tmpl_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rv = objw_view(app, s, hObject, s->slot->tok && s->slot->tok->ops->copy,
		       &v);
	if (rv == CKR_OK) {
		q.kind = v.kind;
		q.ident = v.handle;
		token = !obj_is_session(&v);
		priv = obj_is_private(&v);
	}
	pthread_mutex_unlock(&s->slot->lock);
	/* the copy is what the source is unless the template says */
	if (rv == CKR_OK && (rv = objw_access(app, s, pTemplate, ulCount, token,
					      priv)) == CKR_OK)
		rv = objw_make(app, s, &q, phNewObject);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_SetAttributeValue(struct app *app, CK_SESSION_HANDLE hSession,
			     CK_OBJECT_HANDLE hObject,
			     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct tk_attr *a;
	struct obj_view v;
	struct session *s;
	bool session = false;
	CK_RV rv;
	int r;

	if ((rv = tmpl_check(pTemplate, ulCount)) != CKR_OK)
		return rv;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rv = objw_view(app, s, hObject,
		       s->slot->tok && s->slot->tok->ops->set_attrs, &v);
	if (rv == CKR_OK)
		session = obj_is_session(&v);
	pthread_mutex_unlock(&s->slot->lock);
	/* a token object's change is a write; a session object is the
	 * app's own (obj_view let only its maker through) */
	if (rv == CKR_OK && !session)
		rv = admin_check(app, s);
	if (rv != CKR_OK)
		goto out;
	if (!(a = calloc(ulCount ? ulCount : 1, sizeof(*a)))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	tmpl_to_tk(pTemplate, ulCount, a);
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = s->slot->tok->ops->set_attrs(s->slot->tok,
						   (enum tk_obj_kind)v.kind,
						   v.handle, a, ulCount)) < 0)
		rv = objw_rv(s->slot, r, CKR_OBJECT_HANDLE_INVALID,
			     CKR_TEMPLATE_INCONSISTENT);
	admin_card_unlock(app, s);
	free(a);
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* slot->lock held: the wrapping and the wrapped key of C_WrapKey. */
static CK_RV wrap_keys(struct app *app, struct session *s, CK_OBJECT_HANDLE w,
		       CK_OBJECT_HANDLE k, struct obj_view *wv,
		       struct obj_view *kv)
{
	bool has = s->slot->tok && s->slot->tok->ops->wrap;
	CK_RV rv;

	if ((rv = objw_view(app, s, w, has, wv)) != CKR_OK)
		return rv == CKR_OBJECT_HANDLE_INVALID
			   ? CKR_WRAPPING_KEY_HANDLE_INVALID
			   : rv;
	if ((rv = objw_view(app, s, k, has, kv)) != CKR_OK)
		return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID
						       : rv;
	if (wv->kind != OBJ_SECRET && wv->kind != OBJ_PUB)
		return CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
	if (kv->kind != OBJ_SECRET && kv->kind != OBJ_PRIV)
		return CKR_KEY_NOT_WRAPPABLE;
	return CKR_OK;
}

CK_RV fe_C_WrapKey(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
		   CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
		   CK_ULONG_PTR pulWrappedKeyLen)
{
	struct obj_view wv, kv;
	struct tk_mech_arg m;
	struct session *s;
	size_t len;
	CK_RV rv;
	int r;

	if (!pMechanism || !pulWrappedKeyLen)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rv = wrap_keys(app, s, hWrappingKey, hKey, &wv, &kv);
	pthread_mutex_unlock(&s->slot->lock);
	if (rv != CKR_OK)
		goto out;
	m = (struct tk_mech_arg){ pMechanism->mechanism, pMechanism->pParameter,
				  pMechanism->ulParameterLen };
	len = pWrappedKey ? *pulWrappedKeyLen : 0;
	if (!admin_card_lock(app, s))
		rv = CKR_DEVICE_REMOVED;
	else if ((r = s->slot->tok->ops->wrap(
		      s->slot->tok, &m, (enum tk_obj_kind)wv.kind, wv.handle,
		      (enum tk_obj_kind)kv.kind, kv.handle, pWrappedKey,
		      &len)) < 0)
		rv = r == TK_ERR_TOO_LARGE && pWrappedKey ? CKR_BUFFER_TOO_SMALL
		     : r == TK_ERR_UNSUPPORTED
			 ? CKR_MECHANISM_INVALID
			 : objw_rv(s->slot, r, CKR_KEY_HANDLE_INVALID,
				   CKR_KEY_NOT_WRAPPABLE);
	admin_card_unlock(app, s);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		*pulWrappedKeyLen = len;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_UnwrapKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		     CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct objw_req q = { .call = W_UNWRAP,
			      .t = pTemplate,
			      .n = ulAttributeCount,
			      .mech = pMechanism,
			      .in = pWrappedKey,
			      .in_len = ulWrappedKeyLen };
	struct obj_view v;
	struct session *s;
	CK_RV rv;

	if (!pMechanism || !phKey || (!pWrappedKey && ulWrappedKeyLen))
		return CKR_ARGUMENTS_BAD;
	if ((rv = tmpl_check(pTemplate, ulAttributeCount)) != CKR_OK)
		return rv;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rv = objw_view(app, s, hUnwrappingKey,
		       s->slot->tok && s->slot->tok->ops->unwrap, &v);
	if (rv == CKR_OBJECT_HANDLE_INVALID)
		rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
	else if (rv == CKR_OK && v.kind != OBJ_SECRET && v.kind != OBJ_PRIV)
		rv = CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
	if (rv == CKR_OK) {
		q.kind = v.kind;
		q.ident = v.handle;
	}
	pthread_mutex_unlock(&s->slot->lock);
	/* PKCS#11: the new key is a session object unless CKA_TOKEN says */
	if (rv == CKR_OK &&
	    (rv = objw_access(app, s, pTemplate, ulAttributeCount, false,
			      -1)) == CKR_OK)
		rv = objw_make(app, s, &q, phKey);
	pthread_mutex_unlock(&app->lock);
	return rv;
}
