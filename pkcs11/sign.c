/* C_Sign* and C_Verify*: hashing and padding on the host, the raw private
 * operation on the token, verification in software. */
#include <string.h>

#include <openssl/rsa.h>

#include "internal.h"

#define MAX_SIG 1024 /* RSA 8192 */

static const struct {
	const char *md;
	uint8_t len;
	const uint8_t *der;
} digest_info[] = {
	{ "SHA1", 15,
	  (const uint8_t *)"\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05"
			   "\x00\x04\x14" },
	{ "SHA224", 19,
	  (const uint8_t *)"\x30\x2d\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
			   "\x04\x02\x04\x05\x00\x04\x1c" },
	{ "SHA256", 19,
	  (const uint8_t *)"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
			   "\x04\x02\x01\x05\x00\x04\x20" },
	{ "SHA384", 19,
	  (const uint8_t *)"\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
			   "\x04\x02\x02\x05\x00\x04\x30" },
	{ "SHA512", 19,
	  (const uint8_t *)"\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
			   "\x04\x02\x03\x05\x00\x04\x40" },
};

/* RSA: the k-byte block the token exponentiates. */
static CK_RV tbs_rsa(struct op *op, const uint8_t *msg, size_t len,
		     uint8_t *tbs, size_t k)
{
	uint8_t di[19 + EVP_MAX_MD_SIZE];
	size_t n = 0;

	switch (op->m->pad) {
	case PAD_X509:
		if (len > k)
			return CKR_DATA_LEN_RANGE;
		memset(tbs, 0, k - len);
		memcpy(tbs + (k - len), msg, len);
		return CKR_OK;
	case PAD_PSS:
		if (len != (size_t)EVP_MD_get_size(op->pss_md))
			return CKR_DATA_LEN_RANGE;
		return pad_pss(op->pub, msg, op->pss_md, op->mgf_md,
			       op->salt_len, tbs, k) < 0
			   ? CKR_FUNCTION_FAILED
			   : CKR_OK;
	case PAD_PKCS1:
		if (op->m->md) { /* wrap the digest in a DigestInfo */
			for (size_t i = 0;
			     i < sizeof(digest_info) / sizeof(digest_info[0]);
			     i++)
				if (strcmp(digest_info[i].md, op->m->md) == 0) {
					memcpy(di, digest_info[i].der,
					       digest_info[i].len);
					n = digest_info[i].len;
				}
			memcpy(di + n, msg, len);
			msg = di;
			len += n;
		}
		return pad_pkcs1_sign(msg, len, tbs, k) < 0 ? CKR_DATA_LEN_RANGE
							    : CKR_OK;
	default:
		return CKR_MECHANISM_INVALID;
	}
}

/* app->lock held (dropped during the card call). Builds what the token
 * signs and signs into sig (k bytes, the caller's buffer): RSA and EdDSA
 * land there as they are; only ECDSA's DER goes through der, into r || s. */
static CK_RV sign_token(struct app *app, struct session *s, struct op *op,
			const uint8_t *msg, size_t len, uint8_t *sig, size_t k)
{
	uint8_t tbs[MAX_SIG], der[MAX_SIG];
	enum key_family f = alg_family(op->alg);
	size_t field = alg_field_len(op->alg), rlen = k;
	uint8_t *out = sig;
	CK_RV rv = CKR_OK;
	int r;

	if (f == KF_RSA) {
		if (k > sizeof(tbs) ||
		    (rv = tbs_rsa(op, msg, len, tbs, k)) != CKR_OK)
			return rv == CKR_OK ? CKR_KEY_SIZE_RANGE : rv;
		msg = tbs;
		len = k;
	} else if (f == KF_EC) {
		ecdsa_digest_fit(msg, len, tbs, field);
		msg = tbs;
		len = field;
		out = der;
		rlen = sizeof(der);
	}
	if ((r = op_driver_sign(app, s, op, msg, len, out, &rlen)) < 0)
		return rv_from_tk(r); /* a removed token is closed already */
	if (f == KF_EC)
		return ecdsa_der_to_raw(der, rlen, field, sig) < 0
			   ? CKR_DEVICE_ERROR
			   : CKR_OK;
	if (rlen > k)
		return CKR_DEVICE_ERROR;
	/* a card may drop an RSA signature's leading zeros */
	memmove(sig + (k - rlen), sig, rlen);
	memset(sig, 0, k - rlen);
	return CKR_OK;
}

/* The final step of C_Sign / C_SignFinal (op_finish_fn). The size query
 * and a short buffer cost no token call and keep the operation. */
static CK_RV sign_finish(struct app *app, struct session *s,
			 const uint8_t *data, size_t len, CK_BYTE_PTR sig,
			 CK_ULONG_PTR sig_len)
{
	struct op *op = &s->op[OP_SIGN];
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t need = 0, hlen = 0, mlen = 0;
	const uint8_t *msg = NULL;
	CK_RV rv;
	int r;

	if (op->whole)
		return op_whole_final(app, s, op, data, len, sig, sig_len);
	if ((r = op_out_size(app, s, op, &need)) < 0) {
		op_reset(op);
		return rv_from_tk(r);
	}
	if (!out_room(need, sig, sig_len, &rv))
		return rv;
	rv = op_login_check(app, s, op);
	if (rv == CKR_OK)
		rv = op_message(op, data, len, hash, &hlen, &msg, &mlen);
	if (rv == CKR_OK)
		rv = sign_token(app, s, op, msg, mlen, sig, need);
	if (rv == CKR_OK)
		*sig_len = need;
	op_reset(op);
	return rv;
}

CK_RV fe_C_SignInit(struct app *app, CK_SESSION_HANDLE hSession,
		    CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_begin(app, hSession, OP_SIGN, pMechanism, hKey);
}

CK_RV fe_C_Sign(struct app *app, CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		CK_ULONG_PTR pulSignatureLen)
{
	return op_single(app, hSession, OP_SIGN, pData, ulDataLen, pSignature,
			 pulSignatureLen, sign_finish);
}

CK_RV fe_C_SignUpdate(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_part(app, hSession, OP_SIGN, pPart, ulPartLen, NULL, NULL);
}

CK_RV fe_C_SignFinal(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	return op_final(app, hSession, OP_SIGN, pSignature, pulSignatureLen,
			sign_finish);
}

/* ---- verify, in software ---- */

static CK_RV verify_ctx_setup(struct op *op, EVP_PKEY_CTX *ctx)
{
	int ok = EVP_PKEY_verify_init(ctx) == 1;

	if (ok && op->m->pad == PAD_PKCS1) {
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
		if (ok && op->m->md)
			ok = EVP_PKEY_CTX_set_signature_md(
				 ctx, EVP_get_digestbyname(op->m->md)) == 1;
	} else if (ok && op->m->pad == PAD_PSS) {
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) ==
			 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, op->pss_md) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->mgf_md) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)op->salt_len) ==
			 1;
	}
	return ok ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* RSA_X_509: recover the block and compare with the zero-extended data. */
static CK_RV verify_raw_rsa(struct op *op, EVP_PKEY_CTX *ctx,
			    const uint8_t *msg, size_t len, const uint8_t *sig,
			    size_t sig_len)
{
	uint8_t rec[MAX_SIG], want[MAX_SIG];
	size_t rlen = sizeof(rec), k = op_sig_size(op);

	if (len > k || k > sizeof(want))
		return CKR_DATA_LEN_RANGE;
	if (EVP_PKEY_verify_recover_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1 ||
	    EVP_PKEY_verify_recover(ctx, rec, &rlen, sig, sig_len) != 1 ||
	    rlen != k)
		return CKR_SIGNATURE_INVALID;
	memset(want, 0, k - len);
	memcpy(want + (k - len), msg, len);
	return memcmp(rec, want, k) == 0 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

static CK_RV verify_sw(struct op *op, const uint8_t *msg, size_t len,
		       const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	CK_RV rv = CKR_SIGNATURE_INVALID;

	if (sig_len != op_sig_size(op))
		return CKR_SIGNATURE_LEN_RANGE;
	if (op->m->pad == PAD_EDDSA) {
		if ((mctx = EVP_MD_CTX_new()) &&
		    EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, op->pub) ==
			1 &&
		    EVP_DigestVerify(mctx, sig, sig_len, msg, len) == 1)
			rv = CKR_OK;
		goto out;
	}
	if (!(ctx = EVP_PKEY_CTX_new(op->pub, NULL))) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (op->m->pad == PAD_X509) {
		rv = verify_raw_rsa(op, ctx, msg, len, sig, sig_len);
		goto out;
	}
	if (op->m->pad == PAD_ECDSA) {
		if (ecdsa_raw_to_der(sig, sig_len, &der, &der_len) < 0)
			goto out;
		sig = der;
		sig_len = der_len;
	}
	if ((rv = verify_ctx_setup(op, ctx)) == CKR_OK)
		rv = EVP_PKEY_verify(ctx, sig, sig_len, msg, len) == 1
			 ? CKR_OK
			 : CKR_SIGNATURE_INVALID;
out:
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_CTX_free(mctx);
	return rv;
}

/* A whole verification on the token (a module's MAC): app->lock held,
 * dropped during the call. */
static CK_RV verify_token(struct app *app, struct session *s, struct op *op,
			  const uint8_t *msg, size_t len, const uint8_t *sig,
			  size_t sig_len)
{
	CK_RV rv;
	int r;

	if ((rv = op_login_check(app, s, op)) != CKR_OK)
		return rv;
	r = op_driver_verify(app, s, op, msg, len, sig, sig_len);
	return r < 0 ? rv_from_tk(r) : CKR_OK;
}

/* The final step of C_Verify / C_VerifyFinal (op_finish_fn: sig is the
 * signature, *sig_len its length). */
static CK_RV verify_finish(struct app *app, struct session *s,
			   const uint8_t *data, size_t len, CK_BYTE_PTR sig,
			   CK_ULONG_PTR sig_len)
{
	struct op *op = &s->op[OP_VERIFY];
	uint8_t hash[EVP_MAX_MD_SIZE];
	size_t hlen = 0, mlen = 0;
	const uint8_t *msg = NULL;
	CK_RV rv;

	rv = op_message(op, data, len, hash, &hlen, &msg, &mlen);
	if (rv == CKR_OK)
		rv = op->whole
			 ? verify_token(app, s, op, msg, mlen, sig, *sig_len)
			 : verify_sw(op, msg, mlen, sig, *sig_len);
	op_reset(op);
	return rv;
}

CK_RV fe_C_VerifyInit(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_begin(app, hSession, OP_VERIFY, pMechanism, hKey);
}

CK_RV fe_C_Verify(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		  CK_ULONG ulSignatureLen)
{
	return op_single(app, hSession, OP_VERIFY, pData, ulDataLen, pSignature,
			 &ulSignatureLen, verify_finish);
}

CK_RV fe_C_VerifyUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_part(app, hSession, OP_VERIFY, pPart, ulPartLen, NULL, NULL);
}

CK_RV fe_C_VerifyFinal(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	return op_final(app, hSession, OP_VERIFY, pSignature, &ulSignatureLen,
			verify_finish);
}
