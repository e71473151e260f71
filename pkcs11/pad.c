/* Host-side padding for raw-RSA tokens and the ECDSA signature formats.
 * OpenSSL 3 keeps its padding primitives only under the deprecated RSA API;
 * they are the audited (and for OAEP constant-time) implementations, so
 * this one file uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>

#include "internal.h"

int pad_pkcs1_sign(const uint8_t *in, size_t in_len, uint8_t *out, size_t k)
{
	if (in_len > k || k - in_len < 11)
		return TK_ERR_TOO_LARGE;
	if (RSA_padding_add_PKCS1_type_1(out, (int)k, in, (int)in_len) != 1)
		return TK_ERR_CRYPTO;
	return 0;
}

int pad_pss(EVP_PKEY *pub, const uint8_t *mhash, const EVP_MD *md,
	    const EVP_MD *mgf, size_t salt_len, uint8_t *out, size_t k)
{
	const RSA *rsa = EVP_PKEY_get0_RSA(pub);

	if (!rsa)
		return TK_ERR_ARG;
	if (RSA_padding_add_PKCS1_PSS_mgf1((RSA *)rsa, out, mhash, md, mgf,
					   (int)salt_len) != 1)
		return TK_ERR_CRYPTO;
	(void)k;
	return 0;
}

int unpad_pkcs1_decrypt(const uint8_t *in, size_t k, uint8_t *out,
			size_t *out_len)
{
	int n = RSA_padding_check_PKCS1_type_2(out, (int)k, in, (int)k, (int)k);

	if (n < 0)
		return TK_ERR_INVALID;
	*out_len = (size_t)n;
	return 0;
}

int unpad_oaep(const uint8_t *in, size_t k, const EVP_MD *md, const EVP_MD *mgf,
	       const uint8_t *label, size_t label_len, uint8_t *out,
	       size_t *out_len)
{
	int n = RSA_padding_check_PKCS1_OAEP_mgf1(
	    out, (int)k, in, (int)k, (int)k, label, (int)label_len, md, mgf);

	if (n < 0)
		return TK_ERR_INVALID;
	*out_len = (size_t)n;
	return 0;
}

void ecdsa_digest_fit(const uint8_t *in, size_t len, uint8_t *out, size_t field)
{
	size_t n = len < field ? len : field;

	memset(out, 0, field - n);
	memcpy(out + (field - n), in, n);
}

/* ECDSA-Sig-Value (the card's DER) to r || s, each field bytes. */
int ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t field,
		     uint8_t *out)
{
	const uint8_t *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int ok;

	if (!sig)
		return TK_ERR_INVALID;
	if (p != der + der_len) {
		ECDSA_SIG_free(sig);
		return TK_ERR_INVALID;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, out, (int)field) == (int)field &&
	     BN_bn2binpad(s, out + field, (int)field) == (int)field;
	ECDSA_SIG_free(sig);
	return ok ? 0 : TK_ERR_INVALID;
}

int ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der,
		     size_t *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = NULL, *s = NULL;
	int n = -1;

	*der = NULL;
	if (!sig || len % 2)
		goto out;
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	if (!r || !s || !ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL;
	n = i2d_ECDSA_SIG(sig, der);
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return TK_ERR_CRYPTO;
	*der_len = (size_t)n;
	return 0;
}
