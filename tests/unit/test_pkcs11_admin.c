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

	assert_int_equal(fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_MGM_HEX, 48), CKR_OK);
	return s;
}

static void test_generate(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BYTE id = 6; /* retired 83 */
	CK_ULONG pin = TOKEND_PIN_POLICY_NEVER, got = 0;
	CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, p256, sizeof(p256) }, { CKA_ID, &id, 1 } };
	CK_ATTRIBUTE priv[] = { { CKA_ID, &id, 1 }, { CKA_TOKEND_PIN_POLICY, &pin, sizeof(pin) } };
	CK_OBJECT_HANDLE hp, hk;
	CK_ATTRIBUTE q = { CKA_TOKEND_PIN_POLICY, &got, sizeof(got) };
	CK_BYTE label[32];
	CK_ATTRIBUTE ql = { CKA_LABEL, label, sizeof(label) };

	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub, 2, priv, 2, &hp, &hk),
			 CKR_USER_NOT_LOGGED_IN);
	fl->C_CloseSession(s);
	s = so_session();
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub, 1, priv, 0, &hp, &hk),
			 CKR_TEMPLATE_INCOMPLETE); /* no CKA_ID */
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub + 1, 1, priv, 1, &hp, &hk),
			 CKR_TEMPLATE_INCOMPLETE); /* no curve */
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub, 2, priv, 2, &hp, &hk), CKR_OK);
	assert_int_equal(soft_stats.generate, 1);
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &q, 1), CKR_OK);
	assert_int_equal(got, TOKEND_PIN_POLICY_NEVER);
	assert_int_equal(fl->C_GetAttributeValue(s, hp, &ql, 1), CKR_OK);
	assert_memory_equal(label, "RETIRED KEY 2 pubkey", ql.ulValueLen);
	/* RSA needs a supported size; Ed25519 by mechanism. */
	CK_ULONG bits = 1000;
	CK_ATTRIBUTE rpub[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_ID, &id, 1 } };
	m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, rpub, 2, NULL, 0, &hp, &hk),
			 CKR_KEY_SIZE_RANGE);
	m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk), CKR_OK);
	id = 26;
	assert_int_equal(fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk),
			 CKR_ATTRIBUTE_VALUE_INVALID);
}

static void test_import_and_destroy(void **state)
{
	CK_SESSION_HANDLE s = so_session();
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIGNUM *d = NULL;
	CK_BYTE dv[32], id = 7;
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, cc = CKO_CERTIFICATE;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &pc, sizeof(pc) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
			     { CKA_ID, &id, 1 }, { CKA_EC_PARAMS, p256, sizeof(p256) },
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
				   (const unsigned char *)"imported", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 60);
	X509_sign(x, k, EVP_sha256());
	dl = i2d_X509(x, &der);
	CK_ATTRIBUTE ct[] = { { CKA_CLASS, &cc, sizeof(cc) }, { CKA_ID, &id, 1 },
			      { CKA_VALUE, der, (CK_ULONG)dl } };
	assert_int_equal(fl->C_CreateObject(s, ct, 3, &hc), CKR_OK);
	assert_int_equal(p11_find(s, CKO_CERTIFICATE, 7), hc);
	ct[2].ulValueLen = 10;
	assert_int_equal(fl->C_CreateObject(s, ct, 3, &hc), CKR_ATTRIBUTE_VALUE_INVALID);
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
	assert_int_equal(fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	assert_int_equal(fl->C_CreateObject(ro, ct, 3, &hc), CKR_SESSION_READ_ONLY);
	OPENSSL_free(der);
	X509_free(x);
	BN_free(d);
	EVP_PKEY_free(k);
}

static void test_pins(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false), ro;
	CK_TOKEN_INFO ti;

	assert_int_equal(fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
	assert_int_equal(fl->C_SetPIN(ro, (CK_UTF8CHAR_PTR)SOFT_PIN, 6, (CK_UTF8CHAR_PTR) "654321",
				      6),
			 CKR_SESSION_READ_ONLY);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6, (CK_UTF8CHAR_PTR) "123", 3),
			 CKR_PIN_LEN_RANGE);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6, (CK_UTF8CHAR_PTR) "654321",
				      6),
			 CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_false(ti.flags & CKF_USER_PIN_TO_BE_CHANGED);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "654321", 6), CKR_OK);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	/* PUK change, then unblock with the new PUK. */
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "puk:" SOFT_PUK, 12,
				      (CK_UTF8CHAR_PTR) "87654321", 8),
			 CKR_OK);
	for (int i = 0; i < 3; i++)
		fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_USER_PIN_LOCKED);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "unblock:" SOFT_PUK, 16,
				      (CK_UTF8CHAR_PTR) "111111", 6),
			 CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "unblock:87654321", 16,
				      (CK_UTF8CHAR_PTR) "111111", 6),
			 CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "111111", 6), CKR_OK);
	assert_int_equal(fl->C_InitPIN(s, (CK_UTF8CHAR_PTR) "1", 1), CKR_USER_NOT_LOGGED_IN);
}

static void test_init_token(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_BYTE label[32];
	int opens = soft_stats.open;

	memset(label, ' ', sizeof(label));
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label), CKR_SESSION_EXISTS);
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	/* The card refuses while PIN and PUK still work. */
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label), CKR_FUNCTION_REJECTED);
	/* Block the PUK (three wrong PUKs), then the PIN. */
	s = p11_open(false);
	for (int i = 0; i < 3; i++)
		fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "puk:00000000", 12, (CK_UTF8CHAR_PTR) "12345678", 8);
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
		cmocka_unit_test_setup_teardown(test_generate, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_import_and_destroy, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_pins, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_init_token, p11_up, p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
