/* Administration through the module on the soft token: key generation into
 * the slot chosen by CKA_ID, certificate and key import, deletion, PIN / PUK
 * management by the C_SetPIN prefixes, C_InitToken. */
#include <stdlib.h>

#include <openssl/x509.h>

#include "test_pkcs11_util.h"

#include "tokend-pkcs11.h"

static CK_SESSION_HANDLE so_session(void)
{
	CK_SESSION_HANDLE s = p11_open(false);

	assert_int_equal(
	    fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_MGM_HEX, 48), CKR_OK);
	return s;
}

/* CKA_TOKEND_ATTESTATION: on demand, for generated keys only. */
static void test_attestation(void **state)
{
	CK_SESSION_HANDLE s = so_session();
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			   0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BYTE id = 3, der[2048];
	CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, p256, sizeof(p256) },
			       { CKA_ID, &id, 1 } };
	CK_ATTRIBUTE a = { CKA_TOKEND_ATTESTATION, NULL, 0 };
	CK_OBJECT_HANDLE hp, hk,
	    h1 = p11_find(s, CKO_PRIVATE_KEY, 4); /* PIN never */
	const uint8_t *p = der;
	EVP_PKEY *k;
	X509 *x;

	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub, 2, pub + 1, 1, &hp, &hk), CKR_OK);
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &a, 1), CKR_OK);
	assert_true(a.ulValueLen > 0 && a.ulValueLen <= sizeof(der));
	a.pValue = der; /* a new ECDSA signature may be a byte longer */
	a.ulValueLen = sizeof(der);
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &a, 1), CKR_OK);
	assert_int_equal(soft_stats.attest, 2);
	x = d2i_X509(NULL, &p, (long)a.ulValueLen);
	assert_non_null(x);
	k = soft_key(0x9D);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k) == 1,
			 false); /* a new key */
	EVP_PKEY_free(k);
	X509_free(x);
	/* Not for imported keys, public keys; not searchable. */
	a.pValue = NULL;
	assert_int_equal(fl->C_GetAttributeValue(s, h1, &a, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(fl->C_GetAttributeValue(s, hp, &a, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(fl->C_FindObjectsInit(s, &a, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &hp, 1, &(CK_ULONG){ 0 }),
			 CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(soft_stats.attest, 2);
}

/* CKO_DATA: the PIV containers, by CKA_OBJECT_ID or CKA_TOKEND_OBJECT_TAG. */
static void test_data_objects(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BYTE chuid_oid[] = { 0x06, 0x0a, 0x60, 0x86, 0x48, 0x01,
				0x65, 0x03, 0x07, 0x02, 0x30, 0x00 };
	CK_BYTE bad_oid[] = { 0x06, 0x03, 0x2a, 0x03, 0x04 };
	CK_BYTE value[] = "NEW-CHUID", got[32];
	CK_ULONG tag = 0x5FC102, sec = 0x5FC106, cert = 0x5FC105;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_VALUE, value, 9 },
		{ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) },
		{ CKA_TOKEND_OBJECT_TAG, &tag, sizeof(tag) },
	};
	CK_ATTRIBUTE q[] = { { CKA_VALUE, got, sizeof(got) },
			     { CKA_TOKEND_OBJECT_TAG, &tag, sizeof(tag) } };
	CK_OBJECT_HANDLE h, h2;

	assert_int_equal(fl->C_CreateObject(s, t, 3, &h),
			 CKR_USER_NOT_LOGGED_IN);
	fl->C_CloseSession(s);
	s = so_session();
	assert_int_equal(fl->C_CreateObject(s, t, 2, &h),
			 CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(fl->C_CreateObject(s, t, 3, &h), CKR_OK);
	assert_int_equal(soft_stats.write_data, 1);
	assert_int_equal(fl->C_GetAttributeValue(s, h, q, 2), CKR_OK);
	assert_int_equal(q[0].ulValueLen, 9);
	assert_memory_equal(got, value, 9);
	assert_int_equal(tag, 0x5FC102);
	/* By tag alone: the same object, the same handle. */
	t[1].ulValueLen = 3;
	t[2] = t[3];
	assert_int_equal(fl->C_CreateObject(s, t, 3, &h2), CKR_OK);
	assert_int_equal(h2, h);
	/* Both, disagreeing; not a container; certificates; no value. */
	t[2] = (CK_ATTRIBUTE){ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) };
	t[3].pValue = &sec;
	assert_int_equal(fl->C_CreateObject(s, t, 4, &h2),
			 CKR_TEMPLATE_INCONSISTENT);
	assert_int_equal(fl->C_CreateObject(s, t + 1, 3, &h2),
			 CKR_TEMPLATE_INCOMPLETE);
	t[2] = t[3];
	assert_int_equal(fl->C_CreateObject(s, t, 3, &h2),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	t[3].pValue = &cert;
	assert_int_equal(fl->C_CreateObject(s, t, 4, &h2),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	t[2] = (CK_ATTRIBUTE){ CKA_OBJECT_ID, bad_oid, sizeof(bad_oid) };
	assert_int_equal(fl->C_CreateObject(s, t, 3, &h2),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	t[1].ulValueLen = 0;
	t[2] = (CK_ATTRIBUTE){ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) };
	assert_int_equal(fl->C_CreateObject(s, t, 3, &h2),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(soft_stats.write_data, 2);
}

static void test_generate(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			   0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BYTE id = 6; /* retired 83 */
	CK_ULONG pin = TOKEND_PIN_POLICY_NEVER, got = 0;
	CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, p256, sizeof(p256) },
			       { CKA_ID, &id, 1 } };
	CK_ATTRIBUTE priv[] = { { CKA_ID, &id, 1 },
				{ CKA_TOKEND_PIN_POLICY, &pin, sizeof(pin) } };
	CK_OBJECT_HANDLE hp, hk;
	CK_ATTRIBUTE q = { CKA_TOKEND_PIN_POLICY, &got, sizeof(got) };
	CK_BYTE label[32];
	CK_ATTRIBUTE ql = { CKA_LABEL, label, sizeof(label) };

	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub, 2, priv, 2, &hp, &hk),
	    CKR_USER_NOT_LOGGED_IN);
	fl->C_CloseSession(s);
	s = so_session();
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub, 1, priv, 0, &hp, &hk),
	    CKR_TEMPLATE_INCOMPLETE); /* no CKA_ID */
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub + 1, 1, priv, 1, &hp, &hk),
	    CKR_TEMPLATE_INCOMPLETE); /* no curve */
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub, 2, priv, 2, &hp, &hk), CKR_OK);
	assert_int_equal(soft_stats.generate, 1);
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &q, 1), CKR_OK);
	assert_int_equal(got, TOKEND_PIN_POLICY_NEVER);
	assert_int_equal(fl->C_GetAttributeValue(s, hp, &ql, 1), CKR_OK);
	assert_memory_equal(label, "RETIRED KEY 2 pubkey", ql.ulValueLen);
	/* RSA needs a supported size; Ed25519 by mechanism. */
	CK_ULONG bits = 1000;
	CK_ATTRIBUTE rpub[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) },
				{ CKA_ID, &id, 1 } };
	m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, rpub, 2, NULL, 0, &hp, &hk),
	    CKR_KEY_SIZE_RANGE);
	m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk),
	    CKR_OK);
	id = 26;
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk),
	    CKR_ATTRIBUTE_VALUE_INVALID);
}

static void test_import_and_destroy(void **state)
{
	CK_SESSION_HANDLE s = so_session();
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIGNUM *d = NULL;
	CK_BYTE dv[32], id = 7;
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			   0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, cc = CKO_CERTIFICATE;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &pc, sizeof(pc) },
			     { CKA_KEY_TYPE, &kt, sizeof(kt) },
			     { CKA_ID, &id, 1 },
			     { CKA_EC_PARAMS, p256, sizeof(p256) },
			     { CKA_VALUE, dv, sizeof(dv) } };
	CK_OBJECT_HANDLE h, hc;
	X509 *x = X509_new();
	uint8_t *der = NULL;
	int dl;

	EVP_PKEY_get_bn_param(k, "priv", &d);
	BN_bn2binpad(d, dv, 32);
	assert_int_equal(fl->C_CreateObject(s, t, 5, &h), CKR_OK);
	assert_int_equal(soft_stats.import_key, 1);
	/* A certificate for it. */
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"imported", -1, -1,
				   0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 60);
	X509_sign(x, k, EVP_sha256());
	dl = i2d_X509(x, &der);
	CK_ATTRIBUTE ct[] = { { CKA_CLASS, &cc, sizeof(cc) },
			      { CKA_ID, &id, 1 },
			      { CKA_VALUE, der, (CK_ULONG)dl } };
	assert_int_equal(fl->C_CreateObject(s, ct, 3, &hc), CKR_OK);
	assert_int_equal(p11_find(s, CKO_CERTIFICATE, 7), hc);
	ct[2].ulValueLen = 10;
	assert_int_equal(fl->C_CreateObject(s, ct, 3, &hc),
			 CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(fl->C_DestroyObject(s, p11_find(s, CKO_PUBLIC_KEY, 7)),
			 CKR_ACTION_PROHIBITED);
	assert_int_equal(fl->C_DestroyObject(s, hc), CKR_OK);
	assert_int_equal(p11_find(s, CKO_CERTIFICATE, 7), CK_INVALID_HANDLE);
	assert_int_equal(fl->C_DestroyObject(s, h), CKR_OK);
	assert_int_equal(fl->C_DestroyObject(s, h), CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(p11_find(s, CKO_PUBLIC_KEY, 7), CK_INVALID_HANDLE);
	/* Read-only sessions cannot write. */
	CK_SESSION_HANDLE ro;
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro),
	    CKR_OK);
	assert_int_equal(fl->C_CreateObject(ro, ct, 3, &hc),
			 CKR_SESSION_READ_ONLY);
	OPENSSL_free(der);
	X509_free(x);
	BN_free(d);
	EVP_PKEY_free(k);
}

static void test_pins(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false), ro;
	CK_TOKEN_INFO ti;

	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro),
	    CKR_OK);
	assert_int_equal(fl->C_SetPIN(ro, (CK_UTF8CHAR_PTR)SOFT_PIN, 6,
				      (CK_UTF8CHAR_PTR) "654321", 6),
			 CKR_SESSION_READ_ONLY);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6,
				      (CK_UTF8CHAR_PTR) "123", 3),
			 CKR_PIN_LEN_RANGE);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6,
				      (CK_UTF8CHAR_PTR) "654321", 6),
			 CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_false(ti.flags & CKF_USER_PIN_TO_BE_CHANGED);
	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "654321", 6), CKR_OK);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	/* PUK change, then unblock with the new PUK. */
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "puk:" SOFT_PUK, 12,
				      (CK_UTF8CHAR_PTR) "87654321", 8),
			 CKR_OK);
	for (int i = 0; i < 3; i++)
		fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_USER_PIN_LOCKED);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "unblock:" SOFT_PUK,
				      16, (CK_UTF8CHAR_PTR) "111111", 6),
			 CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "unblock:87654321",
				      16, (CK_UTF8CHAR_PTR) "111111", 6),
			 CKR_OK);
	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "111111", 6), CKR_OK);
	assert_int_equal(fl->C_InitPIN(s, (CK_UTF8CHAR_PTR) "1", 1),
			 CKR_USER_NOT_LOGGED_IN);
}

static void test_init_token(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_BYTE label[32];
	int opens = soft_stats.open;

	memset(label, ' ', sizeof(label));
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label),
			 CKR_SESSION_EXISTS);
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, NULL),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	/* The card refuses while PIN and PUK still work. */
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label),
			 CKR_FUNCTION_REJECTED);
	/* Block the PUK (three wrong PUKs), then the PIN. */
	s = p11_open(false);
	for (int i = 0; i < 3; i++)
		fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "puk:00000000", 12,
			     (CK_UTF8CHAR_PTR) "12345678", 8);
	for (int i = 0; i < 3; i++)
		fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6);
	fl->C_CloseSession(s);
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label), CKR_OK);
	assert_int_equal(soft_stats.reset, 2);
	assert_int_equal(soft_stats.open, opens + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_attestation, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_data_objects, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_import_and_destroy, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_pins, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_init_token, p11_up,
						p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
