/* The module driver's calls to its helper: always to the generation a
 * token was opened on, the module's CK_RV mapped to driver errors. */
#include <stdlib.h>
#include <string.h>

#include "module_int.h"

/* The longest attribute value read (certificates, data objects). */
#define MT_MAX_ATTR ((CK_ULONG)1 << 20)

int mt_err(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		return 0;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		return TK_ERR_NOMEM;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return TK_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		return TK_ERR_PIN_LOCKED;
	case CKR_USER_NOT_LOGGED_IN:
		return TK_ERR_AUTH_REQUIRED;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return TK_ERR_REMOVED;
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
		return TK_ERR_NOT_FOUND;
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_INDIGESTIBLE:
	case CKR_CURVE_NOT_SUPPORTED:
		return TK_ERR_UNSUPPORTED;
	case CKR_DATA_LEN_RANGE:
	case CKR_BUFFER_TOO_SMALL:
		return TK_ERR_TOO_LARGE;
	case CKR_ARGUMENTS_BAD: /* e.g. a parameter the module refuses */
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_TEMPLATE_INCONSISTENT:
		return TK_ERR_ARG;
	case CKR_TEMPLATE_INCOMPLETE:
		return TK_ERR_NOT_FOUND;
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
		return TK_ERR_SIGNATURE;
	case CKR_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
		return TK_ERR_INVALID;
	case CKR_FUNCTION_REJECTED:
	case CKR_ACTION_PROHIBITED:
	case CKR_TOKEN_WRITE_PROTECTED:
	case CKR_USER_PIN_NOT_INITIALIZED:
	case CKR_SESSION_READ_ONLY:
	case CKR_SESSION_EXISTS:
		return TK_ERR_DENIED;
	case CKR_ATTRIBUTE_READ_ONLY:
	case CKR_KEY_NOT_WRAPPABLE:
	case CKR_KEY_UNEXTRACTABLE:
		return TK_ERR_DENIED;
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		return TK_ERR_INVALID;
	case CKR_WRAPPING_KEY_TYPE_INCONSISTENT:
	case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
		return TK_ERR_UNSUPPORTED;
	case CKR_DEVICE_ERROR:
	default:
		return TK_ERR_DEVICE;
	}
}

int mt_call(struct mtok *t, uint32_t id, const struct rpc_arg *a, size_t n,
	    struct mlink_reply *r, CK_RV *rv)
{
	/* Only t's helper: a newer one may reuse the session's number. */
	if (mlink_call_gen(t->link, t->gen, id, a, n, 0, r) < 0)
		return TK_ERR_REMOVED;
	*rv = r->rv;
	return 0;
}

int mt_call0(struct mtok *t, uint32_t id, const struct rpc_arg *a, size_t n)
{
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	int e = mt_call(t, id, a, n, &r, &rv);

	mlink_reply_clear(&r);
	return e ? e : mt_err(rv);
}

int mt_call_init(struct mtok *t, uint32_t init, const struct rpc_arg *ia,
		 size_t in, uint32_t id, const struct rpc_arg *a, size_t n,
		 struct mlink_reply *r, CK_RV *rv)
{
	struct mlink_reply ri;
	int e = 0;

	if (mlink_call2_gen(t->link, t->gen, init, ia, in, &ri, id, a, n, r) <
	    0)
		e = TK_ERR_REMOVED;
	else if ((e = mt_err(ri.rv)) == 0)
		*rv = r->rv;
	mlink_reply_clear(&ri);
	return e;
}

int mt_attrs(struct mtok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *a, size_t n,
	     struct mlink_reply *r)
{
	return mt_attrs_on(t, t->s, h, a, n, r);
}

int mt_attrs_on(struct mtok *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
		CK_ATTRIBUTE *a, size_t n, struct mlink_reply *r)
{
	struct rpc_arg args[] = { MT_U(s), MT_U(h), MT_FA(a, n) };
	static CK_BYTE want;
	CK_ATTRIBUTE *v;
	CK_RV rv = CKR_OK;
	int e;

	/* The codec sends a room only with a buffer (NULL: a size query). */
	for (size_t i = 0; i < n; i++)
		a[i].pValue = a[i].ulValueLen ? &want : NULL;
	if ((e = mt_call(t, RPC_C_GetAttributeValue, args, MT_N(args), r,
			 &rv)) < 0)
		return e;
	/* Some attributes missing, hidden or too long is an answer too. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		return mt_err(rv);
	if (r->msg.nargs < 1 || r->msg.args[0].type != RPC_ARG_ATTRS ||
	    r->msg.args[0].attrs.count != n)
		return TK_ERR_INVALID;
	v = r->msg.args[0].attrs.v;
	for (size_t i = 0; i < n; i++) {
		a[i].pValue = v[i].pValue;
		a[i].ulValueLen = v[i].pValue ? v[i].ulValueLen : (CK_ULONG)-1;
		if (a[i].ulValueLen == (CK_ULONG)-1)
			a[i].pValue = NULL;
	}
	return 0;
}

int mt_attr_alloc(struct mtok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		  uint8_t **out, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	struct rpc_arg args[] = { MT_U(t->s), MT_U(h), MT_FA(&a, 1) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	CK_ULONG size;
	int e;

	*out = NULL;
	*len = 0;
	/* The size: room 0. */
	if ((e = mt_call(t, RPC_C_GetAttributeValue, args, MT_N(args), &r,
			 &rv)) < 0)
		goto out;
	e = rv == CKR_OK ? 0 : TK_ERR_NOT_FOUND;
	if (e || r.msg.nargs < 1 || r.msg.args[0].attrs.count != 1)
		goto out;
	size = r.msg.args[0].attrs.v[0].ulValueLen;
	mlink_reply_clear(&r);
	if (size == (CK_ULONG)-1 || size > MT_MAX_ATTR)
		return TK_ERR_NOT_FOUND;
	if (size == 0)
		return (*out = malloc(1)) ? 0 : TK_ERR_NOMEM;
	a.ulValueLen = size;
	if ((e = mt_attrs(t, h, &a, 1, &r)) < 0)
		goto out;
	if (!a.pValue || a.ulValueLen > size) {
		e = TK_ERR_NOT_FOUND;
		goto out;
	}
	if (!(*out = malloc(a.ulValueLen))) {
		e = TK_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, a.pValue, a.ulValueLen);
	*len = a.ulValueLen;
out:
	mlink_reply_clear(&r);
	return e;
}

#define MT_FIND_BATCH 256

int mt_find(struct mtok *t, const CK_ATTRIBUTE *tmpl, size_t n,
	    CK_OBJECT_HANDLE **out, size_t *count)
{
	struct rpc_arg init[] = { MT_U(t->s), MT_AA((CK_ATTRIBUTE *)tmpl, n) };
	struct rpc_arg more[] = { MT_U(t->s), MT_FU(MT_FIND_BATCH) };
	CK_OBJECT_HANDLE *list = NULL, *grown;
	size_t k = 0;
	int e;

	*out = NULL;
	*count = 0;
	if ((e = mt_call0(t, RPC_C_FindObjectsInit, init, MT_N(init))) < 0)
		return e;
	for (;;) {
		struct mlink_reply r;
		CK_RV rv = CKR_OK;
		const struct rpc_arg *a;

		if ((e = mt_call(t, RPC_C_FindObjects, more, MT_N(more), &r,
				 &rv)) == 0)
			e = mt_err(rv);
		a = r.msg.nargs ? &r.msg.args[0] : NULL;
		if (!e && (!a || a->type != RPC_ARG_ULONGS ||
			   a->ulongs.count > MT_FIND_BATCH))
			e = TK_ERR_INVALID;
		if (!e && a->ulongs.count &&
		    !(grown =
			  realloc(list, (k + a->ulongs.count) * sizeof(*list))))
			e = TK_ERR_NOMEM;
		if (!e && a->ulongs.count) {
			list = grown;
			memcpy(list + k, a->ulongs.v,
			       a->ulongs.count * sizeof(*list));
			k += a->ulongs.count;
		}
		if (e || !a->ulongs.count || k > 65536) {
			mlink_reply_clear(&r);
			break;
		}
		mlink_reply_clear(&r);
	}
	(void)mt_call0(t, RPC_C_FindObjectsFinal, init, 1);
	if (e) {
		free(list);
		return e;
	}
	*out = list;
	*count = k;
	return 0;
}
