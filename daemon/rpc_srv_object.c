/* RPC handlers: objects, attributes, search, key generation and key
 * derivation. */
#include <string.h>

#include "rpc_srv_int.h"

#define FIND_MAX 1024 /* handles returned by one C_FindObjects */

CK_RV srv_C_CreateObject(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[1];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = fe_C_CreateObject(c->srv->app, srv_u(c, 0), t->attrs.v,
			       t->attrs.count, &h);
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, h);
	return CKR_OK;
}

CK_RV srv_C_DestroyObject(struct srv_call *c)
{
	return fe_C_DestroyObject(c->srv->app, srv_u(c, 0), srv_u(c, 1));
}

/* "uuaA" -> "u" */
CK_RV srv_C_CopyObject(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[2];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = fe_C_CopyObject(c->srv->app, srv_u(c, 0), srv_u(c, 1), t->attrs.v,
			     t->attrs.count, &h);
	if (rv == CKR_OK)
		srv_out_ulong(c, h);
	return rv;
}

/* "uuaA" -> "" */
CK_RV srv_C_SetAttributeValue(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[2];

	return fe_C_SetAttributeValue(c->srv->app, srv_u(c, 0), srv_u(c, 1),
				      t->attrs.v, t->attrs.count);
}

CK_RV srv_C_GetObjectSize(struct srv_call *c)
{
	CK_ULONG size = 0;
	CK_RV rv;

	rv = fe_C_GetObjectSize(c->srv->app, srv_u(c, 0), srv_u(c, 1), &size);
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, size);
	return CKR_OK;
}

/* Gives every attribute the buffer the client has room for (ulValueLen;
 * 0: none, a size query), clamped to max_out. Nested templates (clients
 * offering protocol 1+) were decoded into arrays whose members get theirs. */
static CK_RV attr_buffers(struct srv_call *c, CK_ATTRIBUTE *t, CK_ULONG n,
			  unsigned depth)
{
	size_t max = c->srv->policy.limits.max_out;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (t[i].pValue && depth < RPC_DEFAULT_MAX_DEPTH) {
			rv = attr_buffers(
			    c, t[i].pValue,
			    t[i].ulValueLen / sizeof(CK_ATTRIBUTE), depth + 1);
			if (rv != CKR_OK)
				return rv;
			continue;
		}
		if (t[i].pValue || t[i].ulValueLen == 0)
			continue;
		if (t[i].ulValueLen > max)
			t[i].ulValueLen = max;
		if (!(t[i].pValue = srv_alloc(c, t[i].ulValueLen)))
			return CKR_DEVICE_MEMORY;
	}
	return CKR_OK;
}

/* "uufA" -> "aAu": the attributes travel back with the CK_RV for the
 * results that still carry values (p11-kit's rule). */
CK_RV srv_C_GetAttributeValue(struct srv_call *c)
{
	struct rpc_arg *a = &c->req.args[2];
	CK_RV rv;

	if ((rv = attr_buffers(c, a->attrs.v, a->attrs.count, 0)) != CKR_OK)
		return rv;
	rv = fe_C_GetAttributeValue(c->srv->app, srv_u(c, 0), srv_u(c, 1),
				    a->attrs.v, a->attrs.count);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	c->out[0] = (struct rpc_arg){ .type = RPC_ARG_ATTRS,
				      .attrs = { a->attrs.v, a->attrs.count } };
	c->nout = 1;
	srv_out_ulong(c, rv);
	return CKR_OK;
}

CK_RV srv_C_FindObjectsInit(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[1];

	return fe_C_FindObjectsInit(c->srv->app, srv_u(c, 0), t->attrs.v,
				    t->attrs.count);
}

/* "ufu" -> "au": up to the client's room of handles. */
CK_RV srv_C_FindObjects(struct srv_call *c)
{
	CK_ULONG room = c->req.args[1].room, n = 0;
	CK_OBJECT_HANDLE *h;
	CK_RV rv;

	if (room > FIND_MAX)
		room = FIND_MAX;
	if (!(h = srv_alloc(c, (room ? room : 1) * sizeof(*h))))
		return CKR_DEVICE_MEMORY;
	rv = fe_C_FindObjects(c->srv->app, srv_u(c, 0), h, room, &n);
	if (rv != CKR_OK)
		return rv;
	return srv_out_ulongs(c, CKR_OK, h, n);
}

CK_RV srv_C_FindObjectsFinal(struct srv_call *c)
{
	return fe_C_FindObjectsFinal(c->srv->app, srv_u(c, 0));
}

/* "uMaA" -> "u" */
CK_RV srv_C_GenerateKey(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[2];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = fe_C_GenerateKey(c->srv->app, srv_u(c, 0), srv_mech(c, 1),
			      t->attrs.v, t->attrs.count, &h);
	if (rv == CKR_OK)
		srv_out_ulong(c, h);
	return rv;
}

/* "uMaAaA" -> "uu" */
CK_RV srv_C_GenerateKeyPair(struct srv_call *c)
{
	const struct rpc_arg *pub = &c->req.args[2], *priv = &c->req.args[3];
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = fe_C_GenerateKeyPair(c->srv->app, srv_u(c, 0), srv_mech(c, 1),
				  pub->attrs.v, pub->attrs.count, priv->attrs.v,
				  priv->attrs.count, &hpub, &hpriv);
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, hpub);
	srv_out_ulong(c, hpriv);
	return CKR_OK;
}

/* "uMuaA": a private-key operation, audited. */
static CK_RV derive(struct srv_call *c, CK_OBJECT_HANDLE *out)
{
	const struct rpc_arg *t = &c->req.args[3];
	CK_MECHANISM_PTR mech = srv_mech(c, 1);
	CK_RV rv;

	*out = CK_INVALID_HANDLE;
	rv = fe_C_DeriveKey(c->srv->app, srv_u(c, 0), mech, srv_u(c, 2),
			    t->attrs.v, t->attrs.count, out);
	srv_audit_derive(c, srv_u(c, 0), mech, srv_u(c, 2), rv);
	return rv;
}

CK_RV srv_C_DeriveKey(struct srv_call *c)
{
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if ((rv = derive(c, &h)) != CKR_OK)
		return rv;
	srv_out_ulong(c, h);
	return CKR_OK;
}

/* -> "uPu": the CK_RV, the mechanism parameter as updated (none of the
 * mechanisms we derive with has output fields), then the new key. That is
 * the order p11-kit 0.26's client reads (it takes the first u as the
 * error); a failure other than CKR_BUFFER_TOO_SMALL is an error reply. */
CK_RV srv_C_DeriveKey2(struct srv_call *c)
{
	CK_MECHANISM_PTR mech = srv_mech(c, 1);
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if (!mech)
		return CKR_MECHANISM_INVALID;
	if ((rv = derive(c, &h)) != CKR_OK)
		return rv;
	srv_out_ulong(c, rv);
	c->out[c->nout++] =
	    (struct rpc_arg){ .type = RPC_ARG_MECH_UPDATE, .update = *mech };
	srv_out_ulong(c, h);
	return CKR_OK;
}
