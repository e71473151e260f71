/* The module driver's object calls that pass through as the application
 * made them (driver.h: create_tmpl, copy, set_attrs, wrap, unwrap,
 * destroy): the templates reach the module unchanged, CKA_TOKEN included,
 * and every call that makes, changes or destroys an object brings the
 * cache up to date (the new object read alone where it can) so objects()
 * shows the result under a handle of the driver's. Session
 * objects live in the token's one module session: whose they are is the
 * front end's business (it destroys them here when their owner goes). */
#include <stdlib.h>
#include <string.h>

#include "module_int.h"

static struct mtok *tok_of(struct tk_token *tok)
{
	return (struct mtok *)tok;
}

/* The template as the module's codec takes it; malloc'ed. */
static CK_ATTRIBUTE *attrs_of(const struct tk_attr *t, size_t n)
{
	CK_ATTRIBUTE *a = calloc(n ? n : 1, sizeof(*a));

	for (size_t i = 0; a && i < n; i++)
		a[i] =
		    (CK_ATTRIBUTE){ t[i].type, (void *)t[i].value, t[i].len };
	return a;
}

static int reread(struct mtok *t)
{
	int e = mt_objects_read(t);

	if (e == 0)
		t->discovered = true;
	return e;
}

/* The module made object h: its name once the cache is read again. One
 * the cache cannot show (an EC private key no public key or certificate
 * of its CKA_ID describes) is undone. */
static int named(struct mtok *t, CK_OBJECT_HANDLE h, enum tk_obj_kind *kind,
		 uint32_t *handle)
{
	struct rpc_arg a[] = { MT_U(t->s), MT_U(h) };
	int e;

	if (!h) /* names nothing (an empty part of a key would match) */
		return TK_ERR_DEVICE;
	if ((e = mt_obj_named(t, &h, 1, kind, handle)) != TK_ERR_NOT_FOUND)
		return e;
	(void)mt_call0(t, RPC_C_DestroyObject, a, MT_N(a));
	return TK_ERR_INVALID;
}

/* A call whose answer is a new object's handle. */
static int call_new(struct mtok *t, uint32_t id, const struct rpc_arg *a,
		    size_t n, enum tk_obj_kind *kind, uint32_t *handle)
{
	struct mlink_reply r;
	CK_OBJECT_HANDLE h = 0;
	CK_RV rv = CKR_OK;
	int e = mt_call(t, id, a, n, &r, &rv);

	if (e == 0)
		e = mt_err(rv);
	if (e == 0 && (r.msg.nargs < 1 || r.msg.args[0].type != RPC_ARG_ULONG))
		e = TK_ERR_INVALID;
	if (e == 0)
		h = r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	return e < 0 ? e : named(t, h, kind, handle);
}

int mt_create_tmpl(struct tk_token *tok, const struct tk_attr *tmpl, size_t n,
		   enum tk_obj_kind *kind, uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_ATTRIBUTE *a;
	int e;

	if (!(a = attrs_of(tmpl, n)))
		return TK_ERR_NOMEM;
	{
		struct rpc_arg r[] = { MT_U(t->s), MT_AA(a, n) };

		e = call_new(t, RPC_C_CreateObject, r, MT_N(r), kind, handle);
	}
	free(a);
	return e;
}

int mt_copy(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	    const struct tk_attr *tmpl, size_t n, enum tk_obj_kind *new_kind,
	    uint32_t *new_handle)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE *a;
	int e;

	if ((e = mt_obj_module(t, kind, handle, &h)) < 0)
		return e;
	if (!(a = attrs_of(tmpl, n)))
		return TK_ERR_NOMEM;
	{
		struct rpc_arg r[] = { MT_U(t->s), MT_U(h), MT_AA(a, n) };

		e = call_new(t, RPC_C_CopyObject, r, MT_N(r), new_kind,
			     new_handle);
	}
	free(a);
	return e;
}

int mt_set_attrs(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
		 const struct tk_attr *tmpl, size_t n)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE *a;
	int e;

	if ((e = mt_obj_module(t, kind, handle, &h)) < 0)
		return e;
	if (!(a = attrs_of(tmpl, n)))
		return TK_ERR_NOMEM;
	{
		struct rpc_arg r[] = { MT_U(t->s), MT_U(h), MT_AA(a, n) };

		e = mt_call0(t, RPC_C_SetAttributeValue, r, MT_N(r));
	}
	free(a);
	/* a label or CKA_ID changed: the cache shows it (a new CKA_ID moves
	 * a key part to another tk_key: handles follow the cache) */
	return e < 0 ? e : reread(t);
}

int mt_wrap(struct tk_token *tok, const struct tk_mech_arg *mech,
	    enum tk_obj_kind wkind, uint32_t wrapping, enum tk_obj_kind kind,
	    uint32_t key, uint8_t *out, size_t *out_len)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE wh, kh;
	struct mlink_reply r;
	CK_ULONG len = *out_len;
	CK_RV rv = CKR_OK;
	int e;

	if ((e = mt_obj_module(t, wkind, wrapping, &wh)) < 0 ||
	    (e = mt_obj_module(t, kind, key, &kh)) < 0)
		return e;
	{
		struct rpc_arg a[] = {
			MT_U(t->s),
			MT_M(mech->type, mech->param, mech->param_len),
			MT_U(wh),
			MT_U(kh),
			MT_FY(out ? *out_len : 0),
		};

		e = mt_call(t, RPC_C_WrapKey, a, MT_N(a), &r, &rv);
	}
	if (e == 0 && (e = mt_err(rv)) == 0)
		e = mt_err(mlink_out_bytes(r.msg.nargs ? &r.msg.args[0] : NULL,
					   out, &len));
	if (e == 0 || e == TK_ERR_TOO_LARGE)
		*out_len = len;
	mlink_reply_clear(&r);
	return e;
}

int mt_unwrap(struct tk_token *tok, const struct tk_mech_arg *mech,
	      enum tk_obj_kind ukind, uint32_t unwrapping, const uint8_t *in,
	      size_t in_len, const struct tk_attr *tmpl, size_t n,
	      enum tk_obj_kind *kind, uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE uh;
	CK_ATTRIBUTE *a;
	int e;

	if ((e = mt_obj_module(t, ukind, unwrapping, &uh)) < 0)
		return e;
	if (!(a = attrs_of(tmpl, n)))
		return TK_ERR_NOMEM;
	{
		struct rpc_arg r[] = {
			MT_U(t->s),
			MT_M(mech->type, mech->param, mech->param_len),
			MT_U(uh),
			MT_AY(in, in_len),
			MT_AA(a, n),
		};

		e = call_new(t, RPC_C_UnwrapKey, r, MT_N(r), kind, handle);
	}
	free(a);
	return e;
}

int mt_destroy(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE h;
	int e;

	if ((e = mt_obj_module(t, kind, handle, &h)) < 0)
		return e;
	{
		struct rpc_arg a[] = { MT_U(t->s), MT_U(h) };

		e = mt_call0(t, RPC_C_DestroyObject, a, MT_N(a));
	}
	return e < 0 ? e : mt_objects_gone(t, &h, 1);
}
