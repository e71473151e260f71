/* Attribute tables: for each attribute, the object kinds that have it and a
 * getter that encodes the value from the driver's cached objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "internal.h"

#define K_KEYS (OBJ_PRIV | OBJ_PUB | OBJ_SECRET)
#define K_ASYM (OBJ_PRIV | OBJ_PUB)
#define K_ALL (OBJ_PRIV | OBJ_PUB | OBJ_CERT | OBJ_DATA | OBJ_SECRET)

static void put_ulong(struct buf *b, CK_ULONG v)
{
	buf_add(b, &v, sizeof(v));
}

static void put_bool(struct buf *b, bool v)
{
	CK_BBOOL x = v ? CK_TRUE : CK_FALSE;
	buf_add(b, &x, sizeof(x));
}

static void put_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* ---- labels ---- */

static const struct {
	const char *base, *cert;
} piv_names[] = {
	[1] = { "PIV AUTH", "Certificate for PIV Authentication" },
	[2] = { "SIGN", "Certificate for Digital Signature" },
	[3] = { "KEY MAN", "Certificate for Key Management" },
	[4] = { "CARD AUTH", "Certificate for Card Authentication" },
	[25] = { "ATTESTATION", "Certificate for PIV Attestation" },
};

/* Object label for key, its public key or certificate. */
static void key_label(const struct tk_key *k, enum obj_kind kind, struct buf *b)
{
	char s[80];

	if (k->id >= 5 && k->id <= 24) {
		unsigned n = k->id - 4u;
		if (kind == OBJ_CERT)
			snprintf(s, sizeof(s), "Certificate for Retired Key %u",
				 n);
		else
			snprintf(s, sizeof(s), "RETIRED KEY %u%s", n,
				 kind == OBJ_PUB ? " pubkey" : "");
	} else if (k->id < sizeof(piv_names) / sizeof(piv_names[0]) &&
		   piv_names[k->id].base) {
		if (kind == OBJ_CERT)
			snprintf(s, sizeof(s), "%s", piv_names[k->id].cert);
		else
			snprintf(s, sizeof(s), "%s %s", piv_names[k->id].base,
				 kind == OBJ_PUB ? "pubkey" : "key");
	} else {
		snprintf(s, sizeof(s), "%s", k->label);
	}
	put_str(b, s);
}

const char *attr_label_key(uint8_t id)
{
	return id < sizeof(piv_names) / sizeof(piv_names[0])
		   ? piv_names[id].base
		   : NULL;
}

/* ---- key material ---- */

static const struct {
	enum tk_alg alg;
	const uint8_t *der;
	size_t len;
} curves[] = {
	{ TK_ALG_P256,
	  (const uint8_t *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10 },
	{ TK_ALG_P384, (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x22", 7 },
	{ TK_ALG_ED25519, (const uint8_t *)"\x06\x03\x2b\x65\x70", 5 },
	{ TK_ALG_X25519, (const uint8_t *)"\x06\x03\x2b\x65\x6e", 5 },
	/* PKCS#11 3.0 also allows the curve by name. */
	{ TK_ALG_ED25519,
	  (const uint8_t *)"\x13\x0c"
			   "edwards25519",
	  14 },
	{ TK_ALG_X25519,
	  (const uint8_t *)"\x13\x0a"
			   "curve25519",
	  12 },
};

int attr_ec_params(enum tk_alg alg, struct buf *out)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].alg == alg) {
			buf_add(out, curves[i].der, curves[i].len);
			return ATTR_OK;
		}
	return ATTR_INVALID;
}

enum tk_alg attr_alg_from_params(const uint8_t *der, size_t len)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].len == len &&
		    memcmp(curves[i].der, der, len) == 0)
			return curves[i].alg;
	return TK_ALG_NONE;
}

/* DER OCTET STRING of the public point (EC: uncompressed; 25519: raw). */
int attr_ec_point(EVP_PKEY *pub, enum tk_alg alg, struct buf *out)
{
	uint8_t pt[160];
	size_t len = sizeof(pt);
	enum key_family f = alg_family(alg);

	if (f == KF_EC) {
		if (!EVP_PKEY_get_octet_string_param(
			pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
			&len))
			return TK_ERR_CRYPTO;
	} else if (f == KF_ED || f == KF_X) {
		if (!EVP_PKEY_get_raw_public_key(pub, pt, &len))
			return TK_ERR_CRYPTO;
	} else {
		return ATTR_INVALID;
	}
	buf_add_u8(out, 0x04);
	if (len >= 0x80)
		buf_add_u8(out, 0x81);
	buf_add_u8(out, (uint8_t)len);
	buf_add(out, pt, len);
	return ATTR_OK;
}

static int put_bn(EVP_PKEY *pk, const char *name, struct buf *b)
{
	BIGNUM *bn = NULL;
	uint8_t *p;
	int n;

	if (!EVP_PKEY_get_bn_param(pk, name, &bn))
		return TK_ERR_CRYPTO;
	n = BN_num_bytes(bn);
	if ((p = buf_reserve(b, (size_t)n)))
		BN_bn2bin(bn, p);
	BN_free(bn);
	return ATTR_OK;
}

static X509 *view_cert(const struct obj_view *v)
{
	const uint8_t *p = v->key->cert;

	return d2i_X509(NULL, &p, (long)v->key->cert_len);
}

/* ---- getters ---- */

typedef int (*attr_fn)(const struct obj_view *v, struct buf *b);

static const CK_OBJECT_CLASS kind_class[] = {
	[OBJ_PRIV] = CKO_PRIVATE_KEY,  [OBJ_PUB] = CKO_PUBLIC_KEY,
	[OBJ_CERT] = CKO_CERTIFICATE,  [OBJ_DATA] = CKO_DATA,
	[OBJ_SECRET] = CKO_SECRET_KEY,
};

static int get_class(const struct obj_view *v, struct buf *b)
{
	put_ulong(b, kind_class[v->kind]);
	return ATTR_OK;
}

static int get_token(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind != OBJ_SECRET);
	return ATTR_OK;
}

static int get_private(const struct obj_view *v, struct buf *b)
{
	put_bool(b, obj_is_private(v));
	return ATTR_OK;
}

static int get_false(const struct obj_view *v, struct buf *b)
{
	put_bool(b, false);
	return ATTR_OK;
}

static int get_true(const struct obj_view *v, struct buf *b)
{
	put_bool(b, true);
	return ATTR_OK;
}

static int get_label(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_DATA)
		put_str(b, v->data->label);
	else if (v->kind == OBJ_SECRET)
		put_str(b, v->secret->label);
	else
		key_label(v->key, v->kind, b);
	return ATTR_OK;
}

static int get_id(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		buf_add(b, v->secret->id, v->secret->id_len);
	else
		buf_add_u8(b, v->key->id);
	return ATTR_OK;
}

static int get_key_type(const struct obj_view *v, struct buf *b)
{
	static const CK_KEY_TYPE types[] = {
		[KF_RSA] = CKK_RSA,
		[KF_EC] = CKK_EC,
		[KF_ED] = CKK_EC_EDWARDS,
		[KF_X] = CKK_EC_MONTGOMERY,
	};
	enum key_family f;

	if (v->kind == OBJ_SECRET) {
		put_ulong(b, v->secret->key_type);
		return ATTR_OK;
	}
	if ((f = alg_family(v->key->alg)) == KF_NONE)
		return TK_ERR_UNSUPPORTED;
	put_ulong(b, types[f]);
	return ATTR_OK;
}

static int get_sign(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind != OBJ_SECRET &&
			(alg_family(v->key->alg) & (KF_RSA | KF_EC | KF_ED)));
	return ATTR_OK;
}

static int get_crypt(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind != OBJ_SECRET && alg_family(v->key->alg) == KF_RSA);
	return ATTR_OK;
}

/* On the public key too, as on the private key: the pair is one ECDH key
 * (OpenSC's p11test compares them). */
static int get_derive(const struct obj_view *v, struct buf *b)
{
	put_bool(b, (v->kind == OBJ_PRIV || v->kind == OBJ_PUB) &&
			(alg_family(v->key->alg) & (KF_EC | KF_X)));
	return ATTR_OK;
}

static int get_sensitive(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind == OBJ_SECRET ? v->secret->sensitive : true);
	return ATTR_OK;
}

static int get_extractable(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind == OBJ_SECRET ? v->secret->extractable : false);
	return ATTR_OK;
}

static int get_generated(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind != OBJ_SECRET && v->key->generated);
	return ATTR_OK;
}

static int get_always_auth(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->key->pin_policy == TK_PIN_POLICY_ALWAYS ||
			v->key->pin_policy == TK_PIN_POLICY_MATCH_ALWAYS);
	return ATTR_OK;
}

static int get_keygen_mech(const struct obj_view *v, struct buf *b)
{
	static const CK_MECHANISM_TYPE gen[] = {
		[KF_RSA] = CKM_RSA_PKCS_KEY_PAIR_GEN,
		[KF_EC] = CKM_EC_KEY_PAIR_GEN,
		[KF_ED] = CKM_EC_EDWARDS_KEY_PAIR_GEN,
		[KF_X] = CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
	};

	if (v->kind == OBJ_SECRET || !v->key->generated)
		put_ulong(b, CK_UNAVAILABLE_INFORMATION);
	else
		put_ulong(b, gen[alg_family(v->key->alg)]);
	return ATTR_OK;
}

static int get_allowed_mechs(const struct obj_view *v, struct buf *b)
{
	enum key_family f;

	if (v->kind == OBJ_SECRET)
		return ATTR_OK;
	f = alg_family(v->key->alg);
	for (const struct mech *m = mech_next(NULL); m; m = mech_next(m))
		if ((m->families & f) && m->pad != PAD_KEYGEN)
			put_ulong(b, m->type);
	return ATTR_OK;
}

static int get_rsa(const struct obj_view *v, struct buf *b, const char *name)
{
	if (alg_family(v->key->alg) != KF_RSA)
		return ATTR_INVALID;
	return put_bn(v->key->pub, name, b);
}

static int get_modulus(const struct obj_view *v, struct buf *b)
{
	return get_rsa(v, b, OSSL_PKEY_PARAM_RSA_N);
}

static int get_exponent(const struct obj_view *v, struct buf *b)
{
	return get_rsa(v, b, OSSL_PKEY_PARAM_RSA_E);
}

static int get_modulus_bits(const struct obj_view *v, struct buf *b)
{
	if (alg_family(v->key->alg) != KF_RSA)
		return ATTR_INVALID;
	put_ulong(b, (CK_ULONG)EVP_PKEY_get_bits(v->key->pub));
	return ATTR_OK;
}

static int get_ec_params(const struct obj_view *v, struct buf *b)
{
	return attr_ec_params(v->key->alg, b);
}

static int get_ec_point(const struct obj_view *v, struct buf *b)
{
	return attr_ec_point(v->key->pub, v->key->alg, b);
}

static int get_spki(const struct obj_view *v, struct buf *b)
{
	int n = i2d_PUBKEY(v->key->pub, NULL);
	uint8_t *p;

	if (n <= 0)
		return TK_ERR_CRYPTO;
	if ((p = buf_reserve(b, (size_t)n)))
		i2d_PUBKEY(v->key->pub, &p);
	return ATTR_OK;
}

static int get_sensitive_attr(const struct obj_view *v, struct buf *b)
{
	return ATTR_SENSITIVE;
}

static int get_policy(const struct obj_view *v, struct buf *b, bool pin)
{
	put_ulong(b, pin ? (CK_ULONG)v->key->pin_policy
			 : (CK_ULONG)v->key->touch_policy);
	return ATTR_OK;
}

static int get_pin_policy(const struct obj_view *v, struct buf *b)
{
	return get_policy(v, b, true);
}

static int get_touch_policy(const struct obj_view *v, struct buf *b)
{
	return get_policy(v, b, false);
}

/* Certificate fields, also the subject of a key that has a certificate. */
static int get_cert_field(const struct obj_view *v, struct buf *b, int which)
{
	X509 *x;
	int n = -1;
	uint8_t *p;

	if (!v->key->cert)
		return v->kind == OBJ_CERT ? TK_ERR_INVALID : ATTR_OK;
	if (!(x = view_cert(v)))
		return TK_ERR_INVALID;
	for (int pass = 0; pass < 2; pass++) {
		p = pass ? buf_reserve(b, (size_t)n) : NULL;
		if (pass && !p)
			break;
		if (which == 0)
			n = i2d_X509_NAME(X509_get_subject_name(x),
					  p ? &p : NULL);
		else if (which == 1)
			n = i2d_X509_NAME(X509_get_issuer_name(x),
					  p ? &p : NULL);
		else
			n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x),
					     p ? &p : NULL);
		if (n <= 0)
			break;
	}
	X509_free(x);
	return n > 0 ? ATTR_OK : TK_ERR_INVALID;
}

static int get_subject(const struct obj_view *v, struct buf *b)
{
	return get_cert_field(v, b, 0);
}

static int get_issuer(const struct obj_view *v, struct buf *b)
{
	return get_cert_field(v, b, 1);
}

static int get_serial(const struct obj_view *v, struct buf *b)
{
	return get_cert_field(v, b, 2);
}

static int get_cert_type(const struct obj_view *v, struct buf *b)
{
	put_ulong(b, CKC_X_509);
	return ATTR_OK;
}

static int get_cert_category(const struct obj_view *v, struct buf *b)
{
	put_ulong(b, 0); /* unspecified */
	return ATTR_OK;
}

static int get_value(const struct obj_view *v, struct buf *b)
{
	switch (v->kind) {
	case OBJ_CERT:
		buf_add(b, v->key->cert, v->key->cert_len);
		return ATTR_OK;
	case OBJ_DATA:
		buf_add(b, v->data->value, v->data->len);
		return ATTR_OK;
	case OBJ_SECRET:
		if (v->secret->sensitive || !v->secret->extractable)
			return ATTR_SENSITIVE;
		buf_add(b, v->secret->value, v->secret->len);
		return ATTR_OK;
	case OBJ_PRIV:
		return ATTR_SENSITIVE;
	default:
		return ATTR_INVALID;
	}
}

static int get_value_len(const struct obj_view *v, struct buf *b)
{
	put_ulong(b, v->secret->len);
	return ATTR_OK;
}

static int get_application(const struct obj_view *v, struct buf *b)
{
	put_str(b, "PIV");
	return ATTR_OK;
}

/* DER OIDs 2.16.840.1.101.3.7.2.x.y of the SP 800-73-4 containers. */
static const struct {
	uint32_t tag;
	uint8_t x[2], y;
	size_t xlen;
} piv_oids[] = {
	{ 0x5FC102, { 0x30 }, 0x00, 1 },       /* CHUID 48.0 */
	{ 0x5FC107, { 0x81, 0x5B }, 0x00, 2 }, /* CCC 219.0 */
	{ 0x00007E, { 0x60 }, 0x50, 1 },       /* Discovery 96.80 */
	{ 0x5FC10C, { 0x60 }, 0x60, 1 },       /* Key History 96.96 */
	{ 0x5FC109, { 0x30 }, 0x01, 1 },       /* Printed Information 48.1 */
	{ 0x5FC106, { 0x81, 0x10 }, 0x00, 2 }, /* Security Object 144.0 */
};

static int get_object_id(const struct obj_view *v, struct buf *b)
{
	static const uint8_t prefix[] = { 0x60, 0x86, 0x48, 0x01,
					  0x65, 0x03, 0x07, 0x02 };

	for (size_t i = 0; i < sizeof(piv_oids) / sizeof(piv_oids[0]); i++) {
		if (piv_oids[i].tag != v->data->tag)
			continue;
		buf_add_u8(b, 0x06);
		buf_add_u8(b, (uint8_t)(sizeof(prefix) + piv_oids[i].xlen + 1));
		buf_add(b, prefix, sizeof(prefix));
		buf_add(b, piv_oids[i].x, piv_oids[i].xlen);
		buf_add_u8(b, piv_oids[i].y);
		return ATTR_OK;
	}
	return ATTR_INVALID;
}

int attr_tag_from_oid(const uint8_t *der, size_t len, uint32_t *tag)
{
	struct obj_view v = { .kind = OBJ_DATA };
	struct tk_data d = { 0 };
	struct buf b;
	int r = TK_ERR_NOT_FOUND;

	v.data = &d;
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(piv_oids) / sizeof(piv_oids[0]) && r;
	     i++) {
		d.tag = piv_oids[i].tag;
		buf_reset(&b);
		if (get_object_id(&v, &b) == ATTR_OK && !buf_failed(&b) &&
		    b.len == len && memcmp(b.data, der, len) == 0) {
			*tag = d.tag;
			r = 0;
		}
	}
	buf_free(&b);
	return r;
}

static int get_object_tag(const struct obj_view *v, struct buf *b)
{
	put_ulong(b, v->data->tag);
	return ATTR_OK;
}

/* One F9 APDU per read, for keys the token generated. */
static int get_attestation(const struct obj_view *v, struct buf *b)
{
	struct tk_token *tok = v->slot->tok;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if (!v->key->generated || !tok)
		return ATTR_INVALID;
	r = tok->ops->attest(tok, v->key->ref, &der, &len);
	if (r == TK_ERR_UNSUPPORTED || r == TK_ERR_ARG)
		return ATTR_INVALID;
	if (r < 0)
		return r;
	buf_add(b, der, len);
	free(der);
	return ATTR_OK;
}

static int get_empty(const struct obj_view *v, struct buf *b)
{
	return ATTR_OK;
}

static const struct {
	CK_ATTRIBUTE_TYPE type;
	unsigned kinds;
	attr_fn get;
} attrs[] = {
	{ CKA_CLASS, K_ALL, get_class },
	{ CKA_TOKEN, K_ALL, get_token },
	{ CKA_PRIVATE, K_ALL, get_private },
	{ CKA_LABEL, K_ALL, get_label },
	{ CKA_MODIFIABLE, K_ALL, get_false },
	{ CKA_COPYABLE, K_ALL, get_false },
	{ CKA_DESTROYABLE, K_ALL, get_true },
	{ CKA_ID, K_KEYS | OBJ_CERT, get_id },
	{ CKA_KEY_TYPE, K_KEYS, get_key_type },
	{ CKA_START_DATE, K_KEYS, get_empty },
	{ CKA_END_DATE, K_KEYS, get_empty },
	{ CKA_LOCAL, K_KEYS, get_generated },
	{ CKA_KEY_GEN_MECHANISM, K_KEYS, get_keygen_mech },
	{ CKA_DERIVE, K_KEYS, get_derive },
	{ CKA_ALLOWED_MECHANISMS, K_KEYS, get_allowed_mechs },
	{ CKA_SUBJECT, K_ASYM | OBJ_CERT, get_subject },
	{ CKA_SIGN, OBJ_PRIV | OBJ_SECRET, get_sign },
	{ CKA_DECRYPT, OBJ_PRIV | OBJ_SECRET, get_crypt },
	{ CKA_SIGN_RECOVER, OBJ_PRIV, get_false },
	{ CKA_UNWRAP, OBJ_PRIV | OBJ_SECRET, get_false },
	{ CKA_SENSITIVE, OBJ_PRIV | OBJ_SECRET, get_sensitive },
	{ CKA_EXTRACTABLE, OBJ_PRIV | OBJ_SECRET, get_extractable },
	{ CKA_ALWAYS_SENSITIVE, OBJ_PRIV | OBJ_SECRET, get_generated },
	{ CKA_NEVER_EXTRACTABLE, OBJ_PRIV | OBJ_SECRET, get_generated },
	{ CKA_ALWAYS_AUTHENTICATE, OBJ_PRIV, get_always_auth },
	{ CKA_WRAP_WITH_TRUSTED, OBJ_PRIV | OBJ_SECRET, get_false },
	{ CKA_VERIFY, OBJ_PUB | OBJ_SECRET, get_sign },
	{ CKA_ENCRYPT, OBJ_PUB | OBJ_SECRET, get_crypt },
	{ CKA_VERIFY_RECOVER, OBJ_PUB, get_false },
	{ CKA_WRAP, OBJ_PUB | OBJ_SECRET, get_false },
	{ CKA_TRUSTED, OBJ_PUB | OBJ_CERT, get_false },
	{ CKA_MODULUS, K_ASYM, get_modulus },
	{ CKA_PUBLIC_EXPONENT, K_ASYM, get_exponent },
	{ CKA_MODULUS_BITS, K_ASYM, get_modulus_bits },
	{ CKA_EC_PARAMS, K_ASYM, get_ec_params },
	{ CKA_EC_POINT, K_ASYM, get_ec_point },
	{ CKA_PUBLIC_KEY_INFO, K_ASYM | OBJ_CERT, get_spki },
	{ CKA_PRIVATE_EXPONENT, OBJ_PRIV, get_sensitive_attr },
	{ CKA_PRIME_1, OBJ_PRIV, get_sensitive_attr },
	{ CKA_PRIME_2, OBJ_PRIV, get_sensitive_attr },
	{ CKA_EXPONENT_1, OBJ_PRIV, get_sensitive_attr },
	{ CKA_EXPONENT_2, OBJ_PRIV, get_sensitive_attr },
	{ CKA_COEFFICIENT, OBJ_PRIV, get_sensitive_attr },
	{ CKA_VALUE, OBJ_PRIV | OBJ_CERT | OBJ_DATA | OBJ_SECRET, get_value },
	{ CKA_VALUE_LEN, OBJ_SECRET, get_value_len },
	{ CKA_CERTIFICATE_TYPE, OBJ_CERT, get_cert_type },
	{ CKA_CERTIFICATE_CATEGORY, OBJ_CERT, get_cert_category },
	{ CKA_ISSUER, OBJ_CERT, get_issuer },
	{ CKA_SERIAL_NUMBER, OBJ_CERT, get_serial },
	{ CKA_APPLICATION, OBJ_DATA, get_application },
	{ CKA_OBJECT_ID, OBJ_DATA, get_object_id },
	{ CKA_TOKEND_PIN_POLICY, OBJ_PRIV, get_pin_policy },
	{ CKA_TOKEND_TOUCH_POLICY, OBJ_PRIV, get_touch_policy },
	{ CKA_TOKEND_ATTESTATION, OBJ_PRIV, get_attestation },
	{ CKA_TOKEND_OBJECT_TAG, OBJ_DATA, get_object_tag },
};

int attr_get(const struct obj_view *v, CK_ATTRIBUTE_TYPE type, struct buf *out)
{
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (attrs[i].type != type)
			continue;
		if (!(attrs[i].kinds & v->kind))
			return ATTR_INVALID;
		return attrs[i].get(v, out);
	}
	return ATTR_INVALID;
}
