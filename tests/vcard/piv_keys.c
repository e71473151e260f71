/* Slot keys: generation, import helpers, public-key encoding and the private
 * key operations of GENERAL AUTHENTICATE (sign, decrypt, ECDH). OpenSSL 3
 * EVP/OSSL_PARAM APIs only. */
#include "piv_app_int.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

static size_t rsa_bits(uint8_t alg)
{
	switch (alg) {
	case ALG_RSA1024:
		return 1024;
	case ALG_RSA2048:
		return 2048;
	case ALG_RSA3072:
		return 3072;
	case ALG_RSA4096:
		return 4096;
	default:
		return 0;
	}
}

static const char *ec_group(uint8_t alg)
{
	return alg == ALG_ECCP256   ? "P-256"
	       : alg == ALG_ECCP384 ? "P-384"
				    : NULL;
}

static size_t ec_field(uint8_t alg)
{
	return alg == ALG_ECCP256 ? 32 : alg == ALG_ECCP384 ? 48 : 0;
}

bool piv_alg_supported(const struct vcard_app *app, uint8_t alg)
{
	switch (alg) {
	case ALG_RSA1024:
	case ALG_RSA2048:
	case ALG_ECCP256:
	case ALG_ECCP384:
		return true;
	case ALG_RSA3072:
	case ALG_RSA4096:
	case ALG_ED25519:
	case ALG_X25519:
		return !app->plain && piv_fw_at_least(app, 5, 7);
	default:
		return false;
	}
}

int piv_policies(uint8_t slot, uint8_t *pin_policy, uint8_t *touch_policy)
{
	if (*pin_policy > PIN_ALWAYS || *touch_policy > TOUCH_CACHED)
		return -1;
	if (*pin_policy == POL_DEFAULT)
		*pin_policy = slot == 0x9c                          ? PIN_ALWAYS
			      : slot == 0x9e || slot == SLOT_ATTEST ? PIN_NEVER
								    : PIN_ONCE;
	if (*touch_policy == POL_DEFAULT)
		*touch_policy = TOUCH_NEVER;
	return 0;
}

void piv_key_clear(struct piv_key *key)
{
	EVP_PKEY_free(key->pkey);
	memset(key, 0, sizeof(*key));
}

int piv_keygen(uint8_t alg, EVP_PKEY **pkey)
{
	if (rsa_bits(alg))
		*pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", rsa_bits(alg));
	else if (ec_group(alg))
		*pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", ec_group(alg));
	else if (alg == ALG_ED25519)
		*pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (alg == ALG_X25519)
		*pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	else
		return -1;
	return *pkey ? 0 : -1;
}

int piv_key_alg_of(EVP_PKEY *pkey, uint8_t *alg)
{
	char group[32];
	size_t glen;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		switch (EVP_PKEY_get_bits(pkey)) {
		case 1024:
			*alg = ALG_RSA1024;
			return 0;
		case 2048:
			*alg = ALG_RSA2048;
			return 0;
		case 3072:
			*alg = ALG_RSA3072;
			return 0;
		case 4096:
			*alg = ALG_RSA4096;
			return 0;
		default:
			return -1;
		}
	}
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*alg = ALG_ED25519;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "X25519")) {
		*alg = ALG_X25519;
		return 0;
	}
	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &glen) != 1)
		return -1;
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		*alg = ALG_ECCP256;
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		*alg = ALG_ECCP384;
	else
		return -1;
	return 0;
}

static void add_bn(struct buf *out, uint32_t tag, EVP_PKEY *pkey,
		   const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t *p;
	int n;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
		out->failed = true;
		return;
	}
	n = BN_num_bytes(bn);
	buf_add_tlv_header(out, tag, (size_t)n);
	p = buf_reserve(out, (size_t)n);
	if (p)
		BN_bn2bin(bn, p);
	BN_free(bn);
}

int piv_pubkey_encode(uint8_t alg, EVP_PKEY *pkey, struct buf *out)
{
	uint8_t pt[133];
	size_t len = 0;

	if (rsa_bits(alg)) {
		add_bn(out, 0x81, pkey, OSSL_PKEY_PARAM_RSA_N);
		add_bn(out, 0x82, pkey, OSSL_PKEY_PARAM_RSA_E);
		return buf_failed(out) ? -1 : 0;
	}
	if (ec_group(alg)) {
		if (EVP_PKEY_get_octet_string_param(
			pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
			sizeof(pt), &len) != 1)
			return -1;
	} else {
		len = sizeof(pt);
		if (EVP_PKEY_get_raw_public_key(pkey, pt, &len) != 1)
			return -1;
	}
	buf_add_tlv(out, 0x86, pt, len);
	return buf_failed(out) ? -1 : 0;
}

/* GENERATE ASYMMETRIC KEY PAIR: 47 00 slot, AC { 80 alg, AA pin, AB touch } */
uint16_t piv_ins_generate(struct vcard_app *app, const struct vcard_apdu *cmd,
			  struct buf *out, bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len), ac, v;
	struct piv_key *key = piv_key_of(app, cmd->p2);
	uint8_t alg, pp = POL_DEFAULT, tp = POL_DEFAULT;
	EVP_PKEY *pkey = NULL;
	struct buf pub;

	if (cmd->p1 != 0x00 || !key)
		return SW_WRONG_P1P2;
	if (!app->mgm_authed)
		return SW_SECURITY;
	if (reader_expect_tlv(&r, 0xac, &ac) != 0 ||
	    reader_find_tlv(&ac, 0x80, &v) != 0 || reader_get_u8(&v, &alg) != 0)
		return SW_WRONG_DATA;
	if (reader_find_tlv(&ac, 0xaa, &v) == 0 && reader_get_u8(&v, &pp) != 0)
		return SW_WRONG_DATA;
	if (reader_find_tlv(&ac, 0xab, &v) == 0 && reader_get_u8(&v, &tp) != 0)
		return SW_WRONG_DATA;
	if (!piv_alg_supported(app, alg) ||
	    piv_policies(cmd->p2, &pp, &tp) != 0)
		return SW_WRONG_DATA;
	if (piv_keygen(alg, &pkey) != 0)
		return SW_NO_INFO;
	buf_init(&pub, 0);
	if (piv_pubkey_encode(alg, pkey, &pub) != 0) {
		buf_free(&pub);
		EVP_PKEY_free(pkey);
		return SW_NO_INFO;
	}
	buf_add_tlv(out, 0x7f49, pub.data, pub.len);
	buf_free(&pub);
	piv_key_clear(key);
	key->alg = alg;
	key->pin_policy = pp;
	key->touch_policy = tp;
	key->origin = ORIGIN_GENERATED;
	key->pkey = pkey;
	return piv_commit(app, SW_OK);
}

/* ---- private key operations ---- */

static size_t len_of_len(size_t n)
{
	return n < 0x80 ? 1 : n <= 0xff ? 2 : 3;
}

/* 7C { 82 result } */
static void add_response(struct buf *out, const uint8_t *p, size_t n)
{
	buf_add_tlv_header(out, 0x7c, 1 + len_of_len(n) + n);
	buf_add_tlv(out, 0x82, p, n);
}

static uint16_t op_rsa(struct piv_key *key, struct reader *in, struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	size_t mod = rsa_bits(key->alg) / 8, olen = mod;
	uint8_t res[512];
	uint16_t sw = SW_WRONG_DATA;

	if (!ctx)
		return SW_NO_INFO;
	if (reader_left(in) != mod || EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1)
		goto out;
	/* Input not below the modulus: OpenSSL refuses, as the card does. */
	if (EVP_PKEY_decrypt(ctx, res, &olen, in->p, mod) != 1 || olen != mod)
		goto out;
	add_response(out, res, olen);
	sw = SW_OK;
out:
	OPENSSL_cleanse(res, sizeof(res));
	EVP_PKEY_CTX_free(ctx);
	return sw;
}

/* ECDSA over a hash: left-pads or truncates to the field size as the card
 * does, DER signature. */
static uint16_t op_ecdsa(struct piv_key *key, struct reader *in,
			 struct buf *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	size_t field = ec_field(key->alg), slen = 0;
	uint8_t hash[48] = { 0 }, sig[128];
	uint16_t sw = SW_WRONG_DATA;

	if (!ctx)
		return SW_NO_INFO;
	if (reader_left(in) == 0 || reader_left(in) > field)
		goto out;
	memcpy(hash + field - reader_left(in), in->p, reader_left(in));
	slen = sizeof(sig);
	if (EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &slen, hash, field) != 1) {
		sw = SW_NO_INFO;
		goto out;
	}
	add_response(out, sig, slen);
	sw = SW_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return sw;
}

static uint16_t op_ed25519(struct piv_key *key, struct reader *in,
			   struct buf *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[64];
	size_t slen = sizeof(sig);
	uint16_t sw = SW_NO_INFO;

	if (!md)
		return SW_NO_INFO;
	if (EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key->pkey,
				  NULL) != 1 ||
	    EVP_DigestSign(md, sig, &slen, in->p, reader_left(in)) != 1)
		goto out;
	add_response(out, sig, slen);
	sw = SW_OK;
out:
	EVP_MD_CTX_free(md);
	return sw;
}

static EVP_PKEY *peer_key(uint8_t alg, struct reader *pt)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *peer = NULL;

	if (alg == ALG_X25519)
		return reader_left(pt) == 32
			   ? EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL,
							 pt->p, 32)
			   : NULL;
	if (reader_left(pt) != 1 + 2 * ec_field(alg) || pt->p[0] != 0x04)
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)ec_group(alg), 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, (void *)pt->p, reader_left(pt));
	params[2] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
		peer = NULL;
	EVP_PKEY_CTX_free(ctx);
	return peer;
}

static uint16_t op_ecdh(struct piv_key *key, struct reader *pt, struct buf *out)
{
	EVP_PKEY *peer = peer_key(key->alg, pt);
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t secret[64];
	size_t slen = sizeof(secret);
	uint16_t sw = SW_WRONG_DATA;

	if (!peer)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, secret, &slen) != 1)
		goto out;
	add_response(out, secret, slen);
	sw = SW_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return sw;
}

static uint16_t check_pin_policy(struct vcard_app *app, struct piv_key *key)
{
	if (key->pin_policy == PIN_NEVER)
		return SW_OK;
	if (!app->pin_verified)
		return SW_SECURITY;
	if (key->pin_policy == PIN_ALWAYS) {
		if (!app->pin_fresh)
			return SW_SECURITY;
		app->pin_fresh = false; /* consumed by this operation */
	}
	return SW_OK;
}

uint16_t piv_key_operation(struct vcard_app *app, uint8_t alg, uint8_t slot,
			   struct reader *tmpl, struct buf *out, bool *key_op)
{
	struct piv_key *key = piv_key_of(app, slot);
	struct reader resp, data;
	bool ecdh;
	uint16_t sw;

	if (!key || key->alg == 0)
		return SW_NOT_FOUND;
	if (alg != key->alg)
		return SW_WRONG_DATA;
	if (reader_find_tlv(tmpl, 0x82, &resp) != 0 || reader_left(&resp) != 0)
		return SW_WRONG_DATA;
	ecdh = reader_find_tlv(tmpl, 0x85, &data) == 0;
	if (!ecdh && reader_find_tlv(tmpl, 0x81, &data) != 0)
		return SW_WRONG_DATA;
	if (ecdh && !ec_group(alg) && alg != ALG_X25519)
		return SW_WRONG_DATA;
	if (!ecdh && alg == ALG_X25519)
		return SW_WRONG_DATA;
	sw = check_pin_policy(app, key);
	if (sw != SW_OK)
		return sw;
	*key_op = true; /* touch, if required, is simulated as immediate */
	if (ecdh)
		return op_ecdh(key, &data, out);
	if (rsa_bits(alg))
		return op_rsa(key, &data, out);
	if (alg == ALG_ED25519)
		return op_ed25519(key, &data, out);
	return op_ecdsa(key, &data, out);
}

/* ---- import helpers ---- */

static BIGNUM *get_bn(struct reader *data, uint32_t tag, size_t max)
{
	struct reader v;

	if (reader_find_tlv(data, tag, &v) != 0 || reader_left(&v) == 0 ||
	    reader_left(&v) > max)
		return NULL;
	return BN_bin2bn(v.p, (int)reader_left(&v), NULL);
}

EVP_PKEY *piv_import_rsa(uint8_t alg, struct reader *data)
{
	size_t half = rsa_bits(alg) / 16;
	BIGNUM *p = get_bn(data, 1, half), *q = get_bn(data, 2, half);
	BIGNUM *dp = get_bn(data, 3, half), *dq = get_bn(data, 4, half);
	BIGNUM *qi = get_bn(data, 5, half), *e = BN_new(), *n = BN_new();
	BIGNUM *d = BN_new(), *p1 = BN_new(), *q1 = BN_new(), *phi = BN_new();
	BN_CTX *bc = BN_CTX_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!p || !q || !dp || !dq || !qi || !e || !n || !d || !p1 || !q1 ||
	    !phi || !bc || !bld || BN_set_word(e, 65537) != 1 ||
	    BN_mul(n, p, q, bc) != 1 || BN_sub(p1, p, BN_value_one()) != 1 ||
	    BN_sub(q1, q, BN_value_one()) != 1 ||
	    BN_mul(phi, p1, q1, bc) != 1 || !BN_mod_inverse(d, e, phi, bc))
		goto out;
	if ((size_t)BN_num_bits(n) != rsa_bits(alg))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
out:
	BN_clear_free(p), BN_clear_free(q), BN_clear_free(dp);
	BN_clear_free(dq), BN_clear_free(qi), BN_free(e), BN_free(n);
	BN_clear_free(d), BN_clear_free(p1), BN_clear_free(q1);
	BN_clear_free(phi), BN_CTX_free(bc);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* EC private scalar: the public point is derived with EC_POINT_mul. */
EVP_PKEY *piv_import_ec(uint8_t alg, const uint8_t *dbytes, size_t len)
{
	int nid = alg == ALG_ECCP256 ? NID_X9_62_prime256v1 : NID_secp384r1;
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(nid);
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *d = BN_bin2bn(dbytes, (int)len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	uint8_t pub[97];
	size_t plen = 0;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!pt || !d || !bld || len != ec_field(alg) || BN_is_zero(d) ||
	    BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0 ||
	    EC_POINT_mul(grp, pt, d, NULL, NULL, NULL) != 1)
		goto out;
	plen = EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
				  sizeof(pub), NULL);
	if (plen == 0 ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     ec_group(alg), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					      plen) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return pkey;
}
