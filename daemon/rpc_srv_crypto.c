/* RPC handlers: the encrypt, decrypt, digest, sign and verify families.
 * Most share one of four shapes, so each handler names its front-end
 * function and the shape does the rest. Signing and decrypting are audited
 * once per operation, when it ends. */
#include "rpc_srv_int.h"

typedef CK_RV (*fe_init_fn)(struct app *, CK_SESSION_HANDLE, CK_MECHANISM_PTR,
			    CK_OBJECT_HANDLE);
typedef CK_RV (*fe_data_fn)(struct app *, CK_SESSION_HANDLE, CK_BYTE_PTR,
			    CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*fe_final_fn)(struct app *, CK_SESSION_HANDLE, CK_BYTE_PTR,
			     CK_ULONG_PTR);
typedef CK_RV (*fe_part_fn)(struct app *, CK_SESSION_HANDLE, CK_BYTE_PTR,
			    CK_ULONG);

/* "uMu" -> "" */
static CK_RV op_init(struct srv_call *c, fe_init_fn fn)
{
	return fn(c->srv->app, srv_u(c, 0), srv_mech(c, 1), srv_u(c, 2));
}

/* "uayfy" -> "ay" */
static CK_RV op_data(struct srv_call *c, fe_data_fn fn, enum fe_op_kind op)
{
	struct fe_session_desc d;
	CK_BYTE_PTR in, out;
	CK_ULONG in_len, out_len;
	bool known = false;
	CK_RV rv;

	in = srv_bytes(c, 1, &in_len);
	if ((rv = srv_byte_buffer(c, 2, &out, &out_len)) != CKR_OK)
		return rv;
	/* a size query ends no operation: nothing to audit */
	if (op != FE_OP_NONE && out)
		known = srv_op_describe(c, op, srv_u(c, 0), &d);
	rv = fn(c->srv->app, srv_u(c, 0), in, in_len, out, &out_len);
	if (op != FE_OP_NONE)
		srv_op_end(c, &d, known, out, rv);
	return srv_out_bytes(c, rv, out, out_len);
}

/* "ufy" -> "ay" */
static CK_RV op_final(struct srv_call *c, fe_final_fn fn, enum fe_op_kind op)
{
	struct fe_session_desc d;
	CK_BYTE_PTR out;
	CK_ULONG out_len;
	bool known = false;
	CK_RV rv;

	if ((rv = srv_byte_buffer(c, 1, &out, &out_len)) != CKR_OK)
		return rv;
	/* a size query ends no operation: nothing to audit */
	if (op != FE_OP_NONE && out)
		known = srv_op_describe(c, op, srv_u(c, 0), &d);
	rv = fn(c->srv->app, srv_u(c, 0), out, &out_len);
	if (op != FE_OP_NONE)
		srv_op_end(c, &d, known, out, rv);
	return srv_out_bytes(c, rv, out, out_len);
}

/* "uay" -> "" */
static CK_RV op_part(struct srv_call *c, fe_part_fn fn)
{
	CK_ULONG len;
	CK_BYTE_PTR part = srv_bytes(c, 1, &len);

	return fn(c->srv->app, srv_u(c, 0), part, len);
}

CK_RV srv_C_EncryptInit(struct srv_call *c)
{
	return op_init(c, fe_C_EncryptInit);
}

CK_RV srv_C_Encrypt(struct srv_call *c)
{
	return op_data(c, fe_C_Encrypt, FE_OP_NONE);
}

CK_RV srv_C_DecryptInit(struct srv_call *c)
{
	return op_init(c, fe_C_DecryptInit);
}

CK_RV srv_C_Decrypt(struct srv_call *c)
{
	return op_data(c, fe_C_Decrypt, FE_OP_DECRYPT);
}

/* Multi-part: the parts are collected in the front end (0 bytes out)
 * and the operation runs, and is audited, at Final. */
CK_RV srv_C_EncryptUpdate(struct srv_call *c)
{
	return op_data(c, fe_C_EncryptUpdate, FE_OP_NONE);
}

CK_RV srv_C_EncryptFinal(struct srv_call *c)
{
	return op_final(c, fe_C_EncryptFinal, FE_OP_NONE);
}

CK_RV srv_C_DecryptUpdate(struct srv_call *c)
{
	return op_data(c, fe_C_DecryptUpdate, FE_OP_NONE);
}

CK_RV srv_C_DecryptFinal(struct srv_call *c)
{
	return op_final(c, fe_C_DecryptFinal, FE_OP_DECRYPT);
}

/* "uM" -> "" */
CK_RV srv_C_DigestInit(struct srv_call *c)
{
	return fe_C_DigestInit(c->srv->app, srv_u(c, 0), srv_mech(c, 1));
}

CK_RV srv_C_Digest(struct srv_call *c)
{
	return op_data(c, fe_C_Digest, FE_OP_NONE);
}

CK_RV srv_C_DigestUpdate(struct srv_call *c)
{
	return op_part(c, fe_C_DigestUpdate);
}

/* "uu" -> "": a use of the key (the token digests its value),
 * audited as such. */
CK_RV srv_C_DigestKey(struct srv_call *c)
{
	CK_MECHANISM m = { CK_UNAVAILABLE_INFORMATION, NULL, 0 };
	CK_RV rv = fe_C_DigestKey(c->srv->app, srv_u(c, 0), srv_u(c, 1));

	srv_audit_derive(c, srv_u(c, 0), &m, srv_u(c, 1), rv);
	return rv;
}

CK_RV srv_C_DigestFinal(struct srv_call *c)
{
	return op_final(c, fe_C_DigestFinal, FE_OP_NONE);
}

CK_RV srv_C_SignInit(struct srv_call *c)
{
	return op_init(c, fe_C_SignInit);
}

CK_RV srv_C_Sign(struct srv_call *c)
{
	return op_data(c, fe_C_Sign, FE_OP_SIGN);
}

CK_RV srv_C_SignUpdate(struct srv_call *c)
{
	return op_part(c, fe_C_SignUpdate);
}

CK_RV srv_C_SignFinal(struct srv_call *c)
{
	return op_final(c, fe_C_SignFinal, FE_OP_SIGN);
}

CK_RV srv_C_VerifyInit(struct srv_call *c)
{
	return op_init(c, fe_C_VerifyInit);
}

/* "uayay" -> "" */
CK_RV srv_C_Verify(struct srv_call *c)
{
	CK_ULONG len, sig_len;
	CK_BYTE_PTR data = srv_bytes(c, 1, &len);
	CK_BYTE_PTR sig = srv_bytes(c, 2, &sig_len);

	return fe_C_Verify(c->srv->app, srv_u(c, 0), data, len, sig, sig_len);
}

CK_RV srv_C_VerifyUpdate(struct srv_call *c)
{
	return op_part(c, fe_C_VerifyUpdate);
}

CK_RV srv_C_VerifyFinal(struct srv_call *c)
{
	return op_part(c, fe_C_VerifyFinal);
}

/* The front end's answer (CKR_RANDOM_NO_RNG for PIV), not
 * CKR_FUNCTION_NOT_SUPPORTED: pkcs11-tool --test counts the latter as an
 * error and takes the former for "no RNG". */
CK_RV srv_C_SeedRandom(struct srv_call *c)
{
	return op_part(c, fe_C_SeedRandom);
}

/* "ufy" -> "ay" */
CK_RV srv_C_GenerateRandom(struct srv_call *c)
{
	CK_BYTE_PTR out;
	CK_ULONG len;
	CK_RV rv;

	if ((rv = srv_byte_buffer(c, 1, &out, &len)) != CKR_OK)
		return rv;
	/* More than one answer may carry (limits.max_out): not a shorter
	 * answer the client would take for all it asked. */
	if (c->req.args[1].room != RPC_EMPTY_BUFFER &&
	    c->req.args[1].room > len)
		return CKR_ARGUMENTS_BAD;
	rv = fe_C_GenerateRandom(c->srv->app, srv_u(c, 0), out, len);
	return srv_out_bytes(c, rv, out, len);
}

/* "uMuufy" -> "ay": audited as a use of the wrapped key. */
CK_RV srv_C_WrapKey(struct srv_call *c)
{
	CK_MECHANISM_PTR mech = srv_mech(c, 1);
	CK_BYTE_PTR out;
	CK_ULONG len;
	CK_RV rv;

	if ((rv = srv_byte_buffer(c, 4, &out, &len)) != CKR_OK)
		return rv;
	rv = fe_C_WrapKey(c->srv->app, srv_u(c, 0), mech, srv_u(c, 2),
			  srv_u(c, 3), out, &len);
	if (out && rv != CKR_BUFFER_TOO_SMALL)
		srv_audit_derive(c, srv_u(c, 0), mech, srv_u(c, 3), rv);
	return srv_out_bytes(c, rv, out, len);
}

/* "uMuayaA" -> "u": audited as a use of the unwrapping key. */
CK_RV srv_C_UnwrapKey(struct srv_call *c)
{
	const struct rpc_arg *t = &c->req.args[4];
	CK_MECHANISM_PTR mech = srv_mech(c, 1);
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_BYTE_PTR in;
	CK_ULONG in_len;
	CK_RV rv;

	in = srv_bytes(c, 3, &in_len);
	rv = fe_C_UnwrapKey(c->srv->app, srv_u(c, 0), mech, srv_u(c, 2), in,
			    in_len, t->attrs.v, t->attrs.count, &h);
	srv_audit_derive(c, srv_u(c, 0), mech, srv_u(c, 2), rv);
	if (rv == CKR_OK)
		srv_out_ulong(c, h);
	return rv;
}
