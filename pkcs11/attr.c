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
	/* a session's own objects are not, nor the token's session objects */
	put_bool(b, !v->secret && !obj_is_session(v));
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
		put_str(b, v->skey->label);
	else
		put_str(b, v->kind == OBJ_CERT  ? v->key->cert_label
			   : v->kind == OBJ_PUB ? v->key->pub_label
						: v->key->label);
	return ATTR_OK;
}

static int get_id(const struct obj_view *v, struct buf *b)
{
	const struct tk_id *id =
	    v->kind == OBJ_SECRET ? &v->skey->id : &v->key->id;

	buf_add(b, id->b, id->len);
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
		put_ulong(b, v->skey->key_type);
		return ATTR_OK;
	}
	if ((f = alg_family(v->key->alg)) == KF_NONE)
		return TK_ERR_UNSUPPORTED;
	put_ulong(b, types[f]);
	return ATTR_OK;
}

/* A secret key's use, as its driver says (CKF_SIGN ...). */
static bool secret_can(const struct obj_view *v, CK_FLAGS f)
{
	return (v->skey->usage & f) != 0;
}

static int get_sign(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		put_bool(b, secret_can(v, CKF_SIGN));
	else
		put_bool(b, alg_family(v->key->alg) & (KF_RSA | KF_EC | KF_ED));
	return ATTR_OK;
}

static int get_verify(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		put_bool(b, secret_can(v, CKF_VERIFY));
	else
		return get_sign(v, b);
	return ATTR_OK;
}

static int get_crypt(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		put_bool(b, secret_can(v, CKF_DECRYPT));
	else
		put_bool(b, alg_family(v->key->alg) == KF_RSA);
	return ATTR_OK;
}

static int get_encrypt(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		put_bool(b, secret_can(v, CKF_ENCRYPT));
	else
		return get_crypt(v, b);
	return ATTR_OK;
}

/* On the public key too, as on the private key: the pair is one ECDH key
 * (OpenSC's p11test compares them). */
static int get_derive(const struct obj_view *v, struct buf *b)
{
	if (v->kind == OBJ_SECRET)
		put_bool(b, secret_can(v, CKF_DERIVE));
	else
		put_bool(b, alg_family(v->key->alg) & (KF_EC | KF_X));
	return ATTR_OK;
}

/* A session secret says; a token's secret never leaves the token. */
static int get_sensitive(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->secret ? v->secret->sensitive : true);
	return ATTR_OK;
}

static int get_extractable(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->secret ? v->secret->extractable : false);
	return ATTR_OK;
}

static int get_generated(const struct obj_view *v, struct buf *b)
{
	put_bool(b, v->kind == OBJ_SECRET ? v->skey->generated
					  : v->key->generated);
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
		put_ulong(b, CK_UNAVAILABLE_INFORMATION); /* unknown */
	else
		put_ulong(b, gen[alg_family(v->key->alg)]);
	return ATTR_OK;
}

/* The mechanisms the key works with: of the front end's table by key
 * family; a secret key those of its token's list that the table does not
 * know (they are the driver's, e.g. HMAC) and that its use allows. */
static int get_allowed_mechs(const struct obj_view *v, struct buf *b)
{
	const struct tk_mech *list;
	CK_MECHANISM_INFO mi;
	enum key_family f;
	size_t n = 0;

	if (v->kind == OBJ_SECRET) {
		list = v->secret ? NULL : slot_mech_list(v->slot, &n);
		for (size_t i = 0; list && i < n; i++)
			if (!mech_find(list[i].type) &&
			    secret_can(v, list[i].flags))
				put_ulong(b, list[i].type);
		return ATTR_OK;
	}
	f = alg_family(v->key->alg);
	for (const struct mech *m = mech_next(NULL); m; m = mech_next(m))
		if ((m->families & f) && m->pad != PAD_KEYGEN &&
		    (!slot_mech_list(v->slot, &n) ||
		     slot_mech(v->slot, m->type, &mi, NULL)))
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
		if (!v->secret || v->secret->sensitive ||
		    !v->secret->extractable)
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
	if (!v->skey->value_len)
		return ATTR_INVALID;
	put_ulong(b, v->skey->value_len);
	return ATTR_OK;
}

static int get_application(const struct obj_view *v, struct buf *b)
{
	put_str(b, v->data->application);
	return ATTR_OK;
}

static int get_object_id(const struct obj_view *v, struct buf *b)
{
	if (!v->data->oid_len)
		return ATTR_INVALID;
	buf_add(b, v->data->oid, v->data->oid_len);
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
	{ CKA_VERIFY, OBJ_PUB | OBJ_SECRET, get_verify },
	{ CKA_ENCRYPT, OBJ_PUB | OBJ_SECRET, get_encrypt },
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
};

bool attr_on_device(const struct fe_slot *slot, CK_ATTRIBUTE_TYPE type)
{
	const struct tk_driver_ops *ops = slot->drv->ops;

	return ops->attr_on_device && ops->attr_on_device(type);
}

/* The driver's answer first (its vendor attributes); false: the driver
 * leaves type to the front end. */
static bool attr_driver(const struct obj_view *v, CK_ATTRIBUTE_TYPE type,
			struct buf *out, int *r)
{
	struct tk_token *tok = v->slot->tok;

	if (v->secret || !tok || !tok->ops->attr)
		return false;
	*r = tok->ops->attr(tok, (enum tk_obj_kind)v->kind, v->handle, type,
			    out);
	if (*r == TK_ATTR_DEFAULT)
		return false;
	if (*r == TK_ATTR_INVALID)
		*r = ATTR_INVALID;
	else if (*r == TK_ATTR_SENSITIVE)
		*r = ATTR_SENSITIVE;
	return true;
}

int attr_get(const struct obj_view *v, CK_ATTRIBUTE_TYPE type, struct buf *out)
{
	int r;

	if (attr_driver(v, type, out, &r))
		return r;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (attrs[i].type != type)
			continue;
		if (!(attrs[i].kinds & v->kind))
			return ATTR_INVALID;
		return attrs[i].get(v, out);
	}
	return ATTR_INVALID;
}
