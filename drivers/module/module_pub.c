/* The module driver's public values: an EVP_PKEY from a module object's
 * attributes (RSA: CKA_MODULUS and CKA_PUBLIC_EXPONENT; EC and the
 * Edwards/Montgomery curves: CKA_EC_PARAMS and CKA_EC_POINT), and the
 * tk_alg of one. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "module_int.h"
#include "reader.h"

static EVP_PKEY *pub_from_params(const char *type, OSSL_PARAM_BLD *b)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM *p = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
	EVP_PKEY *k = NULL;

	if (c && p && EVP_PKEY_fromdata_init(c) == 1)
		(void)EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p);
	OSSL_PARAM_free(p);
	EVP_PKEY_CTX_free(c);
	return k;
}

EVP_PKEY *mt_pub_rsa(const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e,
		     enum tk_alg *alg)
{
	OSSL_PARAM_BLD *b;
	BIGNUM *bn = NULL, *be = NULL;
	EVP_PKEY *k = NULL;
	int bits;

	if (!mt_has(n) || !mt_has(e) || !(b = OSSL_PARAM_BLD_new()))
		return NULL;
	bn = BN_bin2bn(n->pValue, (int)n->ulValueLen, NULL);
	be = BN_bin2bn(e->pValue, (int)e->ulValueLen, NULL);
	if (bn && be && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be))
		k = pub_from_params("RSA", b);
	bits = bn ? BN_num_bits(bn) : 0;
	*alg = bits == 1024   ? TK_ALG_RSA1024
	       : bits == 2048 ? TK_ALG_RSA2048
	       : bits == 3072 ? TK_ALG_RSA3072
	       : bits == 4096 ? TK_ALG_RSA4096
			      : TK_ALG_NONE;
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(b);
	return k;
}

static const struct {
	enum tk_alg alg;
	const uint8_t *oid;
	size_t len;
	size_t point; /* bytes of the public key */
	const char *name;
} curves[] = {
	{ TK_ALG_P256,
	  (const uint8_t *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10, 65,
	  "prime256v1" },
	{ TK_ALG_P384, (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x22", 7, 97,
	  "secp384r1" },
	{ TK_ALG_ED25519, (const uint8_t *)"\x06\x03\x2b\x65\x70", 5, 32,
	  "ED25519" },
	{ TK_ALG_X25519, (const uint8_t *)"\x06\x03\x2b\x65\x6e", 5, 32,
	  "X25519" },
	/* PKCS #11 3.0's printable-string names */
	{ TK_ALG_ED25519,
	  (const uint8_t *)"\x13\x0c"
			   "edwards25519",
	  14, 32, "ED25519" },
	{ TK_ALG_X25519,
	  (const uint8_t *)"\x13\x0a"
			   "curve25519",
	  12, 32, "X25519" },
};

/* CKA_EC_POINT: a DER OCTET STRING around the point, or (some modules)
 * the bare point. */
static bool ec_point(const CK_ATTRIBUTE *a, size_t want, const uint8_t **p)
{
	struct reader r = reader_init(a->pValue, a->ulValueLen), v;
	uint32_t tag;

	if (a->ulValueLen == want) {
		*p = a->pValue;
		return true;
	}
	if (reader_get_tlv(&r, &tag, &v) < 0 || tag != 0x04 ||
	    reader_left(&r) || reader_left(&v) != want)
		return false;
	return reader_get_ref(&v, want, p) == 0;
}

/* The curves[] entry CKA_EC_PARAMS names; -1: none we know. */
int mt_curve_of(const CK_ATTRIBUTE *params)
{
	if (!mt_has(params))
		return -1;
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (params->ulValueLen == curves[i].len &&
		    memcmp(params->pValue, curves[i].oid, curves[i].len) == 0)
			return (int)i;
	return -1;
}

EVP_PKEY *mt_pub_ec(const CK_ATTRIBUTE *params, const CK_ATTRIBUTE *point,
		    enum tk_alg *alg)
{
	OSSL_PARAM_BLD *b;
	const uint8_t *q;
	EVP_PKEY *k = NULL;
	int i = mt_curve_of(params);

	if (i < 0 || !mt_has(point) || !ec_point(point, curves[i].point, &q))
		return NULL;
	*alg = curves[i].alg;
	if (*alg == TK_ALG_ED25519 || *alg == TK_ALG_X25519)
		return EVP_PKEY_new_raw_public_key_ex(NULL, curves[i].name,
						      NULL, q, 32);
	if (!(b = OSSL_PARAM_BLD_new()))
		return NULL;
	if (OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
					    curves[i].name, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, q,
					     curves[i].point))
		k = pub_from_params("EC", b);
	OSSL_PARAM_BLD_free(b);
	return k;
}

enum tk_alg mt_alg_of(EVP_PKEY *k)
{
	char group[32];
	int bits = EVP_PKEY_get_bits(k);

	if (EVP_PKEY_is_a(k, "RSA"))
		return bits == 1024   ? TK_ALG_RSA1024
		       : bits == 2048 ? TK_ALG_RSA2048
		       : bits == 3072 ? TK_ALG_RSA3072
		       : bits == 4096 ? TK_ALG_RSA4096
				      : TK_ALG_NONE;
	if (EVP_PKEY_is_a(k, "ED25519"))
		return TK_ALG_ED25519;
	if (EVP_PKEY_is_a(k, "X25519"))
		return TK_ALG_X25519;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), NULL) != 1)
		return TK_ALG_NONE;
	return strcmp(group, "prime256v1") == 0  ? TK_ALG_P256
	       : strcmp(group, "secp384r1") == 0 ? TK_ALG_P384
						 : TK_ALG_NONE;
}

enum tk_alg mt_curve_alg(int curve)
{
	return curve >= 0 ? curves[curve].alg : TK_ALG_NONE;
}
