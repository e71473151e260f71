/* YubiKey PIV attestation: the F9 key with its self-signed CA certificate
 * (object 5FFF01) and the per-slot attestation certificates it issues. */
#include "piv_app_int.h"

#include <string.h>

#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_NAME "Yubico PIV Attestation (tokend-vcard)"
#define OID_YK "1.3.6.1.4.1.41482.3."
#define FORM_FACTOR_USB_A_KEYCHAIN 0x01

static int set_cn(X509_NAME *name, const char *cn)
{
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					  (const unsigned char *)cn, -1, -1,
					  0) == 1
		   ? 0
		   : -1;
}

static int set_serial(X509 *x)
{
	uint8_t sn[16];
	BIGNUM *bn;
	int ret = -1;

	if (RAND_bytes(sn, sizeof(sn)) != 1)
		return -1;
	sn[0] &= 0x7f;
	bn = BN_bin2bn(sn, sizeof(sn), NULL);
	if (bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		ret = 0;
	BN_free(bn);
	return ret;
}

static int add_conf_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ret;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ret = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return ret;
}

/* A Yubico extension: the value bytes are the extension's OCTET STRING. */
static int add_yk_ext(X509 *x, const char *arc, const uint8_t *p, size_t n)
{
	char oid[64];
	ASN1_OBJECT *obj;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ret = -1;

	snprintf(oid, sizeof(oid), OID_YK "%s", arc);
	obj = OBJ_txt2obj(oid, 1);
	if (!obj || !os || ASN1_OCTET_STRING_set(os, p, (int)n) != 1)
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	if (ext && X509_add_ext(x, ext, -1) == 1)
		ret = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ret;
}

static int store_ca_cert(struct vcard_app *app, X509 *x)
{
	struct buf obj, inner;
	uint8_t *p;
	int n = i2d_X509(x, NULL), ret = -1;

	buf_init(&inner, 0);
	buf_init(&obj, 0);
	if (n <= 0)
		goto out;
	buf_add_tlv_header(&inner, 0x70, (size_t)n);
	p = buf_reserve(&inner, (size_t)n);
	if (!p || i2d_X509(x, &p) != n)
		goto out;
	buf_add_tlv(&inner, 0x71, NULL, 0);
	buf_add_tlv(&inner, 0xfe, NULL, 0);
	buf_add_tlv(&obj, 0x53, inner.data, inner.len);
	if (!buf_failed(&obj) &&
	    piv_obj_set(app, TAG_ATTEST_CERT, obj.data, obj.len) == 0)
		ret = 0;
out:
	buf_free(&inner);
	buf_free(&obj);
	return ret;
}

int piv_attest_init(struct vcard_app *app)
{
	struct piv_key *key = piv_key_of(app, SLOT_ATTEST);
	EVP_PKEY *pkey = NULL;
	X509 *x = X509_new();
	int ret = -1;

	if (!x || piv_keygen(ALG_ECCP256, &pkey) != 0)
		goto out;
	if (X509_set_version(x, 2) != 1 || set_serial(x) != 0 ||
	    set_cn(X509_get_subject_name(x), CA_NAME) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 30) ||
	    X509_set_pubkey(x, pkey) != 1)
		goto out;
	if (add_conf_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_conf_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_conf_ext(x, x, NID_subject_key_identifier, "hash"))
		goto out;
	if (X509_sign(x, pkey, EVP_sha256()) <= 0 || store_ca_cert(app, x) != 0)
		goto out;
	piv_key_clear(key);
	key->alg = ALG_ECCP256;
	key->pin_policy = PIN_NEVER;
	key->touch_policy = TOUCH_NEVER;
	key->origin = ORIGIN_IMPORTED; /* Yubico injects it at the factory */
	key->pkey = pkey;
	pkey = NULL;
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	X509_free(x);
	return ret;
}

/* Object 5FFF01 is 53 { 70 cert, 71 00, FE 00 }. */
static X509 *load_ca_cert(const struct vcard_app *app)
{
	const struct piv_obj *o = piv_obj_find(app, TAG_ATTEST_CERT);
	struct reader r, v, c;
	const unsigned char *p;

	if (!o)
		return NULL;
	r = reader_init(o->data, o->len);
	if (reader_expect_tlv(&r, 0x53, &v) != 0 ||
	    reader_find_tlv(&v, 0x70, &c) != 0)
		return NULL;
	p = c.p;
	return d2i_X509(NULL, &p, (long)reader_left(&c));
}

static int add_yk_exts(struct vcard_app *app, X509 *x, struct piv_key *key)
{
	uint8_t pol[2] = { key->pin_policy, key->touch_policy };
	uint8_t ff = FORM_FACTOR_USB_A_KEYCHAIN, sn[16], *p = sn;
	ASN1_INTEGER *ai = ASN1_INTEGER_new();
	int n = -1;

	/* The serial is a DER INTEGER inside the extension's octets. */
	if (ai && ASN1_INTEGER_set_uint64(ai, app->serial) == 1 &&
	    i2d_ASN1_INTEGER(ai, NULL) <= (int)sizeof(sn))
		n = i2d_ASN1_INTEGER(ai, &p);
	ASN1_INTEGER_free(ai);
	if (n <= 0)
		return -1;
	return add_yk_ext(x, "3", app->fw, 3) ||
	       add_yk_ext(x, "7", sn, (size_t)n) ||
	       add_yk_ext(x, "8", pol, 2) || add_yk_ext(x, "9", &ff, 1);
}

int piv_attest_cert(struct vcard_app *app, uint8_t slot, struct buf *out)
{
	struct piv_key *key = piv_key_of(app, slot);
	struct piv_key *ca = piv_key_of(app, SLOT_ATTEST);
	X509 *issuer = load_ca_cert(app), *x = X509_new();
	char cn[64];
	uint8_t *p;
	int n, ret = -1;

	if (!issuer || !x || !key || !ca || !ca->pkey)
		goto out;
	snprintf(cn, sizeof(cn), "YubiKey PIV Attestation %02x", slot);
	if (X509_set_version(x, 2) != 1 || set_serial(x) != 0 ||
	    set_cn(X509_get_subject_name(x), cn) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_set1_notBefore(x, X509_get0_notBefore(issuer)) != 1 ||
	    X509_set1_notAfter(x, X509_get0_notAfter(issuer)) != 1 ||
	    X509_set_pubkey(x, key->pkey) != 1 || add_yk_exts(app, x, key))
		goto out;
	if (X509_sign(x, ca->pkey,
		      EVP_PKEY_is_a(ca->pkey, "ED25519") ? NULL
							 : EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509(x, NULL);
	if (n <= 0)
		goto out;
	p = buf_reserve(out, (size_t)n);
	if (p && i2d_X509(x, &p) == n)
		ret = 0;
out:
	X509_free(issuer);
	X509_free(x);
	return ret;
}
