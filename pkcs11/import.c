/* Private keys from a C_CreateObject template, as OpenSSL keys for the
 * driver's import_key. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "internal.h"

static BIGNUM *tmpl_bn(const CK_ATTRIBUTE *t, CK_ULONG n,
		       CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, type);

	if (!a || !a->pValue || !a->ulValueLen || a->ulValueLen > 1024)
		return NULL;
	return BN_bin2bn(a->pValue, (int)a->ulValueLen, NULL);
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		(void)EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* RSA from CKA_MODULUS .. CKA_COEFFICIENT; d is computed when absent. */
static CK_RV import_rsa(const CK_ATTRIBUTE *t, CK_ULONG n, EVP_PKEY **out)
{
	enum { N, E, D, P, Q, DP, DQ, QI, NB };
	static const CK_ATTRIBUTE_TYPE types[NB] = {
		CKA_MODULUS,    CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
		CKA_PRIME_1,    CKA_PRIME_2,         CKA_EXPONENT_1,
		CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	static const char *names[NB] = {
		OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	BIGNUM *bn[NB] = { 0 }, *phi = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BN_CTX *bctx = BN_CTX_new();
	CK_RV rv = CKR_TEMPLATE_INCOMPLETE;
	int i;

	for (i = 0; i < NB; i++)
		bn[i] = tmpl_bn(t, n, types[i]);
	if (!bld || !bctx) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	for (i = 0; i < NB; i++)
		if (!bn[i] && i != D)
			goto out;
	if (!bn[D]) { /* d = e^-1 mod (p-1)(q-1) */
		BIGNUM *p1 = BN_dup(bn[P]), *q1 = BN_dup(bn[Q]);
		phi = BN_new();
		if (p1 && q1 && phi && BN_sub_word(p1, 1) &&
		    BN_sub_word(q1, 1) && BN_mul(phi, p1, q1, bctx))
			bn[D] = BN_mod_inverse(NULL, bn[E], phi, bctx);
		BN_clear_free(p1); /* p-1, q-1 and phi give the key away */
		BN_clear_free(q1);
	}
	rv = CKR_ATTRIBUTE_VALUE_INVALID;
	for (i = 0; i < NB; i++)
		if (!bn[i] || !OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]))
			goto out;
	if ((*out = pkey_fromdata("RSA", bld)))
		rv = CKR_OK;
out:
	for (i = 0; i < NB; i++)
		BN_clear_free(bn[i]);
	BN_clear_free(phi);
	BN_CTX_free(bctx);
	OSSL_PARAM_BLD_free(bld);
	return rv;
}

/* P-256 / P-384 from the scalar; the public point is computed. */
static CK_RV import_ec(enum tk_alg alg, const CK_ATTRIBUTE *v, EVP_PKEY **out)
{
	const char *curve = alg == TK_ALG_P256 ? "prime256v1" : "secp384r1";
	EC_GROUP *g = EC_GROUP_new_by_curve_name(
	    alg == TK_ALG_P256 ? NID_X9_62_prime256v1 : NID_secp384r1);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *d = BN_bin2bn(v->pValue, (int)v->ulValueLen, NULL);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	uint8_t pub[133];
	size_t plen = 0;
	CK_RV rv = CKR_ATTRIBUTE_VALUE_INVALID;

	if (!g || !bld || !d || !pt)
		goto out;
	if (!EC_POINT_mul(g, pt, d, NULL, NULL, NULL))
		goto out;
	plen = EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
				  sizeof(pub), NULL);
	if (!plen ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     curve, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					      plen))
		goto out;
	if ((*out = pkey_fromdata("EC", bld)))
		rv = CKR_OK;
out:
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	BN_clear_free(d);
	OSSL_PARAM_BLD_free(bld);
	return rv;
}

/* A private key and its algorithm from the template. */
CK_RV import_private_key(const CK_ATTRIBUTE *t, CK_ULONG n, EVP_PKEY **out,
			 enum tk_alg *alg)
{
	const CK_ATTRIBUTE *params = tmpl_find(t, n, CKA_EC_PARAMS);
	const CK_ATTRIBUTE *v = tmpl_find(t, n, CKA_VALUE);
	CK_KEY_TYPE kt;
	bool found;
	CK_RV rv;
	int bits;

	*out = NULL;
	if ((rv = tmpl_get_ulong(t, n, CKA_KEY_TYPE, &kt, &found)) != CKR_OK)
		return rv;
	if (!found)
		return CKR_TEMPLATE_INCOMPLETE;
	if (kt == CKK_RSA) {
		if ((rv = import_rsa(t, n, out)) != CKR_OK)
			return rv;
		bits = EVP_PKEY_get_bits(*out);
		*alg = bits == 1024   ? TK_ALG_RSA1024
		       : bits == 2048 ? TK_ALG_RSA2048
		       : bits == 3072 ? TK_ALG_RSA3072
		       : bits == 4096 ? TK_ALG_RSA4096
				      : TK_ALG_NONE;
		return *alg == TK_ALG_NONE ? CKR_KEY_SIZE_RANGE : CKR_OK;
	}
	if (kt != CKK_EC && kt != CKK_EC_EDWARDS && kt != CKK_EC_MONTGOMERY)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (!params || !params->pValue || !v || !v->pValue || !v->ulValueLen)
		return CKR_TEMPLATE_INCOMPLETE;
	*alg = attr_alg_from_params(params->pValue, params->ulValueLen);
	if (*alg == TK_ALG_P256 || *alg == TK_ALG_P384)
		return kt == CKK_EC ? import_ec(*alg, v, out)
				    : CKR_TEMPLATE_INCONSISTENT;
	if ((*alg == TK_ALG_ED25519 && kt != CKK_EC_EDWARDS) ||
	    (*alg == TK_ALG_X25519 && kt != CKK_EC_MONTGOMERY))
		return CKR_TEMPLATE_INCONSISTENT;
	if (*alg != TK_ALG_ED25519 && *alg != TK_ALG_X25519)
		return CKR_CURVE_NOT_SUPPORTED;
	*out = EVP_PKEY_new_raw_private_key(
	    *alg == TK_ALG_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519, NULL,
	    v->pValue, v->ulValueLen);
	return *out ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}
