/* PIV algorithms and the public-key template 7F49 <-> EVP_PKEY: RSA as
 * 81 modulus 82 exponent, EC as 86 uncompressed point, Ed25519 / X25519 as
 * 86 with the raw 32 bytes. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "error.h"
#include "internal.h"

enum alg_kind { KIND_RSA, KIND_EC, KIND_ED25519, KIND_X25519 };

struct alg_info {
	uint8_t alg;
	enum alg_kind kind;
	size_t size; /* modulus or field bytes */
	const char *group;
	int nid;
};

static const struct alg_info algs[] = {
	{ PIV_ALG_RSA1024, KIND_RSA, 128, NULL, 0 },
	{ PIV_ALG_RSA2048, KIND_RSA, 256, NULL, 0 },
	{ PIV_ALG_RSA3072, KIND_RSA, 384, NULL, 0 },
	{ PIV_ALG_RSA4096, KIND_RSA, 512, NULL, 0 },
	{ PIV_ALG_ECCP256, KIND_EC, 32, "prime256v1", NID_X9_62_prime256v1 },
	{ PIV_ALG_ECCP384, KIND_EC, 48, "secp384r1", NID_secp384r1 },
	{ PIV_ALG_ED25519, KIND_ED25519, 32, NULL, 0 },
	{ PIV_ALG_X25519, KIND_X25519, 32, NULL, 0 },
};

static const struct alg_info *alg_find(uint8_t alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return &algs[i];
	return NULL;
}

bool piv_alg_is_rsa(uint8_t alg)
{
	const struct alg_info *a = alg_find(alg);

	return a && a->kind == KIND_RSA;
}

bool piv_alg_is_ec(uint8_t alg)
{
	const struct alg_info *a = alg_find(alg);

	return a && a->kind == KIND_EC;
}

size_t piv_alg_size(uint8_t alg)
{
	const struct alg_info *a = alg_find(alg);

	return a ? a->size : 0;
}

/* Builds a key from OSSL params; type is "RSA" or "EC". */
static int from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int rc = TK_ERR_DEVICE;

	if (!params || !ctx) {
		rc = TK_ERR_NOMEM;
		goto out;
	}
	/* A point off the curve or a degenerate modulus fails here. */
	if (EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1)
		rc = 0;
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int parse_rsa(const struct alg_info *a, struct reader n, struct reader e,
		     EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n.p, (int)n.len, NULL);
	BIGNUM *be = BN_bin2bn(e.p, (int)e.len, NULL);
	int rc = TK_ERR_NOMEM;

	if (!bld || !bn || !be)
		goto out;
	rc = TK_ERR_DEVICE;
	if ((size_t)BN_num_bits(bn) != a->size * 8 || !BN_is_odd(be) ||
	    BN_is_one(be))
		goto out;
	rc = TK_ERR_NOMEM;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	rc = from_params("RSA", bld, out);
out:
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

static int parse_ec(const struct alg_info *a, struct reader pt, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld;
	int rc = TK_ERR_NOMEM;

	if (pt.len != 2 * a->size + 1 || pt.p[0] != 0x04)
		return TK_ERR_DEVICE;
	bld = OSSL_PARAM_BLD_new();
	if (!bld)
		return TK_ERR_NOMEM;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    a->group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt.p,
					     pt.len))
		rc = from_params("EC", bld, out);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int piv_pubkey_parse(uint8_t alg, const uint8_t *p, size_t len, EVP_PKEY **out)
{
	static const uint32_t tags[] = { 0x81, 0x82, 0x86 };
	const struct alg_info *a = alg_find(alg);
	struct reader v[3];
	unsigned found;
	int rc;

	*out = NULL;
	if (!a)
		return TK_ERR_UNSUPPORTED;
	rc = piv_tlv_scan(reader_init(p, len), tags, 3, v, &found);
	if (rc)
		return rc;
	switch (a->kind) {
	case KIND_RSA:
		if ((found & 3) != 3 || v[0].len == 0 || v[1].len == 0 ||
		    v[0].len > a->size + 1 || v[1].len > 8)
			return TK_ERR_DEVICE;
		return parse_rsa(a, v[0], v[1], out);
	case KIND_EC:
		if (!(found & 4))
			return TK_ERR_DEVICE;
		return parse_ec(a, v[2], out);
	default:
		if (!(found & 4) || v[2].len != 32)
			return TK_ERR_DEVICE;
		*out = EVP_PKEY_new_raw_public_key(a->kind == KIND_ED25519
						       ? EVP_PKEY_ED25519
						       : EVP_PKEY_X25519,
						   NULL, v[2].p, v[2].len);
		return *out ? 0 : TK_ERR_DEVICE;
	}
}

int piv_pubkey_alg(const EVP_PKEY *pk, uint8_t *alg)
{
	char group[64];
	int nid;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			if (algs[i].kind == KIND_RSA &&
			    (size_t)EVP_PKEY_get_bits(pk) == algs[i].size * 8) {
				*alg = algs[i].alg;
				return 0;
			}
		}
		return TK_ERR_UNSUPPORTED;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL))
			return TK_ERR_UNSUPPORTED;
		nid = OBJ_txt2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			if (algs[i].kind == KIND_EC && algs[i].nid == nid) {
				*alg = algs[i].alg;
				return 0;
			}
		}
		return TK_ERR_UNSUPPORTED;
	case EVP_PKEY_ED25519:
		*alg = PIV_ALG_ED25519;
		return 0;
	case EVP_PKEY_X25519:
		*alg = PIV_ALG_X25519;
		return 0;
	}
	return TK_ERR_UNSUPPORTED;
}

/* A big number as exactly n big-endian bytes. */
static void add_bn_tlv(struct buf *b, uint32_t tag, const BIGNUM *bn, size_t n)
{
	uint8_t *p;

	buf_add_tlv_header(b, tag, n);
	p = buf_reserve(b, n);
	if (p && BN_bn2binpad(bn, p, (int)n) < 0)
		b->failed = true;
}

static int encode_rsa(const EVP_PKEY *pk, size_t size, struct buf *out)
{
	BIGNUM *n = NULL, *e = NULL;
	int rc = TK_ERR_CRYPTO;

	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e)) {
		add_bn_tlv(out, 0x81, n, size);
		add_bn_tlv(out, 0x82, e, (size_t)BN_num_bytes(e));
		rc = buf_failed(out) ? TK_ERR_NOMEM : 0;
	}
	BN_free(n);
	BN_free(e);
	return rc;
}

int piv_pubkey_encode(const EVP_PKEY *pk, uint8_t *alg, struct buf *out)
{
	uint8_t pt[2 * 48 + 1], a;
	size_t len = sizeof(pt);
	int rc = piv_pubkey_alg(pk, &a);

	if (rc)
		return rc;
	if (alg)
		*alg = a;
	buf_reset(out);
	if (piv_alg_is_rsa(a))
		return encode_rsa(pk, piv_alg_size(a), out);
	if (piv_alg_is_ec(a)) {
		if (!EVP_PKEY_get_octet_string_param(
			pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, len,
			&len) ||
		    len != 2 * piv_alg_size(a) + 1 || pt[0] != 0x04)
			return TK_ERR_CRYPTO;
	} else if (!EVP_PKEY_get_raw_public_key(pk, pt, &len) || len != 32) {
		return TK_ERR_CRYPTO;
	}
	buf_add_tlv(out, 0x86, pt, len);
	return buf_failed(out) ? TK_ERR_NOMEM : 0;
}
