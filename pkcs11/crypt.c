/* C_Decrypt (raw on the token, unpadding on the host), C_Encrypt (software),
 * both whole on the token for its secret keys and in parts collected until
 * Final (op.c), C_Digest* (software) and C_DeriveKey (ECDH / X25519 on the
 * token). */
#include <stdlib.h>
#include <string.h>

#include <openssl/rsa.h>

#include "internal.h"

#define MAX_BLOCK 1024

/* ---- decrypt ---- */

static CK_RV decrypt_unpad(struct op *op, const uint8_t *raw, size_t k)
{
	uint8_t *out = buf_reserve(&op->result, k);
	size_t n = k;
	int r;

	if (!out)
		return CKR_HOST_MEMORY;
	if (op->m->pad == PAD_X509) {
		memcpy(out, raw, k);
		return CKR_OK;
	}
	if (op->m->pad == PAD_OAEP)
		r = unpad_oaep(raw, k, op->pss_md, op->mgf_md, op->oaep_label,
			       op->oaep_label_len, out, &n);
	else
		r = unpad_pkcs1_decrypt(raw, k, out, &n);
	if (r < 0)
		return CKR_ENCRYPTED_DATA_INVALID;
	op->result.len = n;
	return CKR_OK;
}

/* app->lock held (dropped during the card call): the raw block from the
 * token, straight into block, unpadded into op->result. */
static CK_RV decrypt_token(struct app *app, struct session *s, struct op *op,
			   const uint8_t *in, size_t k)
{
	uint8_t block[MAX_BLOCK];
	size_t rlen = k;
	CK_RV rv;
	int r;

	if ((r = op_driver_decrypt(app, s, op, in, k, block, &rlen)) < 0) {
		rv = rv_from_tk(r); /* a removed token is closed already */
		goto out;
	}
	if (rlen > k) { /* block may hold plaintext: wiped below */
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	/* a card may drop the block's leading zeros */
	memmove(block + (k - rlen), block, rlen);
	memset(block, 0, k - rlen);
	rv = decrypt_unpad(op, block, k);
out:
	explicit_bzero(block, sizeof(block));
	return rv;
}

/* The final step of C_Decrypt / C_DecryptFinal (op_finish_fn). The size
 * query (op_out_size: the modulus size) costs no token call; a short
 * buffer keeps the plaintext so the retry costs no second one. */
static CK_RV decrypt_finish(struct app *app, struct session *s,
			    const uint8_t *in, size_t in_len, CK_BYTE_PTR out,
			    CK_ULONG_PTR out_len)
{
	struct op *op = &s->op[OP_DECRYPT];
	size_t k = 0;
	CK_RV rv = CKR_OK;
	int r;

	if (op->whole)
		return op_whole_final(app, s, op, in, in_len, out, out_len);
	if (!op->have_result) {
		if ((r = op_out_size(app, s, op, &k)) < 0) {
			op_reset(op);
			return rv_from_tk(r);
		}
		if (in_len != k || k > MAX_BLOCK) {
			op_reset(op);
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		}
		if (!out) {
			*out_len = k;
			return CKR_OK;
		}
		if ((rv = op_login_check(app, s, op)) == CKR_OK)
			rv = decrypt_token(app, s, op, in, k);
		if (rv != CKR_OK) {
			op_reset(op);
			return rv;
		}
		op->have_result = true;
	}
	rv = out_copy(op->result.data, op->result.len, out, out_len);
	if (rv == CKR_OK && out)
		op_reset(op);
	return rv;
}

CK_RV fe_C_DecryptInit(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_begin(app, hSession, OP_DECRYPT, pMechanism, hKey);
}

CK_RV fe_C_Decrypt(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
		   CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	return op_single(app, hSession, OP_DECRYPT, pEncryptedData,
			 ulEncryptedDataLen, pData, pulDataLen, decrypt_finish);
}

/* ---- encrypt, in software ---- */

static CK_RV encrypt_sw(struct op *op, const uint8_t *in, size_t len,
			uint8_t *out, size_t *out_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(op->pub, NULL);
	int pad = op->m->pad == PAD_OAEP   ? RSA_PKCS1_OAEP_PADDING
		  : op->m->pad == PAD_X509 ? RSA_NO_PADDING
					   : RSA_PKCS1_PADDING;
	uint8_t block[MAX_BLOCK];
	size_t k = *out_len;
	CK_RV rv = CKR_DATA_LEN_RANGE;
	int ok;

	if (!ctx)
		return CKR_HOST_MEMORY;
	if (pad == RSA_NO_PADDING) { /* raw RSA takes exactly k bytes */
		if (len > k || k > sizeof(block))
			goto out;
		memset(block, 0, k - len);
		memcpy(block + (k - len), in, len);
		in = block;
		len = k;
	}
	ok = EVP_PKEY_encrypt_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1;
	if (ok && pad == RSA_PKCS1_OAEP_PADDING) {
		ok = EVP_PKEY_CTX_set_rsa_oaep_md(ctx, op->pss_md) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->mgf_md) == 1;
		if (ok && op->oaep_label_len) {
			void *l =
			    OPENSSL_memdup(op->oaep_label, op->oaep_label_len);
			ok = l && EVP_PKEY_CTX_set0_rsa_oaep_label(
				      ctx, l, (int)op->oaep_label_len) == 1;
			if (!ok)
				OPENSSL_free(l);
		}
	}
	if (ok && EVP_PKEY_encrypt(ctx, out, out_len, in, len) == 1)
		rv = CKR_OK;
out:
	explicit_bzero(block, sizeof(block)); /* a copy of the plaintext */
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

CK_RV fe_C_EncryptInit(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_begin(app, hSession, OP_ENCRYPT, pMechanism, hKey);
}

/* The final step of C_Encrypt / C_EncryptFinal (op_finish_fn). */
static CK_RV encrypt_finish(struct app *app, struct session *s,
			    const uint8_t *data, size_t len, CK_BYTE_PTR out,
			    CK_ULONG_PTR out_len)
{
	struct op *op = &s->op[OP_ENCRYPT];
	size_t k, n;
	CK_RV rv;

	if (op->whole) /* a token's secret key */
		return op_whole_final(app, s, op, data, len, out, out_len);
	k = n = (size_t)EVP_PKEY_get_size(op->pub);
	if (!out_room(k, out, out_len, &rv))
		return rv;
	rv = encrypt_sw(op, data, len, out, &n);
	if (rv == CKR_OK)
		*out_len = n;
	op_reset(op);
	return rv;
}

CK_RV fe_C_Encrypt(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		   CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	return op_single(app, hSession, OP_ENCRYPT, pData, ulDataLen,
			 pEncryptedData, pulEncryptedDataLen, encrypt_finish);
}

/* ---- multi-part encrypt and decrypt: collected, run at Final (op.c) ---- */

CK_RV fe_C_EncryptUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			 CK_BYTE_PTR pEncryptedPart,
			 CK_ULONG_PTR pulEncryptedPartLen)
{
	return op_part(app, hSession, OP_ENCRYPT, pPart, ulPartLen,
		       pEncryptedPart, pulEncryptedPartLen);
}

CK_RV fe_C_EncryptFinal(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pLastEncryptedPart,
			CK_ULONG_PTR pulLastEncryptedPartLen)
{
	return op_final(app, hSession, OP_ENCRYPT, pLastEncryptedPart,
			pulLastEncryptedPartLen, encrypt_finish);
}

CK_RV fe_C_DecryptUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_BYTE_PTR pEncryptedPart,
			 CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
			 CK_ULONG_PTR pulPartLen)
{
	return op_part(app, hSession, OP_DECRYPT, pEncryptedPart,
		       ulEncryptedPartLen, pPart, pulPartLen);
}

CK_RV fe_C_DecryptFinal(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
	return op_final(app, hSession, OP_DECRYPT, pLastPart, pulLastPartLen,
			decrypt_finish);
}

/* ---- digest ---- */

CK_RV fe_C_DigestInit(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_MECHANISM_PTR pMechanism)
{
	return op_begin(app, hSession, OP_DIGEST, pMechanism,
			CK_INVALID_HANDLE);
}

/* The final step of C_Digest / C_DigestFinal (op_finish_fn; the parts
 * went into the hash, and are kept at Final for a token that digests
 * keys: after C_DigestKey the driver digests them). */
static CK_RV digest_finish(struct app *app, struct session *s,
			   const uint8_t *data, size_t len, CK_BYTE_PTR out,
			   CK_ULONG_PTR out_len)
{
	struct op *op = &s->op[OP_DIGEST];
	size_t need = (size_t)EVP_MD_CTX_get_size(op->md);
	unsigned int n = 0;
	CK_RV rv;

	if (!out_room(need, out, out_len, &rv))
		return rv;
	if (op->nkeys) {
		rv = op_digest_parts(app, s, op, out, out_len);
		op_reset(op);
		return rv;
	}
	if ((!op->updated && len && !EVP_DigestUpdate(op->md, data, len)) ||
	    !EVP_DigestFinal_ex(op->md, out, &n)) {
		op_reset(op);
		return CKR_FUNCTION_FAILED;
	}
	*out_len = n;
	op_reset(op);
	return CKR_OK;
}

CK_RV fe_C_Digest(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
		  CK_ULONG_PTR pulDigestLen)
{
	return op_single(app, hSession, OP_DIGEST, pData, ulDataLen, pDigest,
			 pulDigestLen, digest_finish);
}

CK_RV fe_C_DigestUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_part(app, hSession, OP_DIGEST, pPart, ulPartLen, NULL, NULL);
}

CK_RV fe_C_DigestKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_OBJECT_HANDLE hKey)
{
	return op_digest_key(app, hSession, hKey);
}

CK_RV fe_C_DigestFinal(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	return op_final(app, hSession, OP_DIGEST, pDigest, pulDigestLen,
			digest_finish);
}
