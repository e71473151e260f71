/* Administration through the module on the soft token: key generation into
 * the slot chosen by CKA_ID, certificate and key import, deletion, PIN / PUK
 * management by the C_SetPIN prefixes, C_InitToken. */
#include <stdlib.h>

#include <openssl/x509.h>

#include "test_pkcs11_util.h"

#include "pin_guard.h"
#include "tokend-pkcs11.h"

static CK_SESSION_HANDLE so_session(void)
{
	CK_SESSION_HANDLE s = p11_open(false);

	assert_int_equal(fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_OK);
	return s;
}

/* A vendor attribute the driver reads from its device (as PIV's
 * attestation): under the card's lock, anew on each read, never matched
 * by a search; only on the objects the driver gives it to. */
static void test_device_attr(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE hk = p11_find(s, CKO_PRIVATE_KEY, 3),
			 hp = p11_find(s, CKO_PUBLIC_KEY, 3), h;
	CK_ULONG v1 = 0, v2 = 0;
	CK_ATTRIBUTE a = { SOFT_CKA_SERIAL, &v1, sizeof(v1) };

	assert_int_equal(fl->C_GetAttributeValue(s, hk, &a, 1), CKR_OK);
	a.pValue = &v2;
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &a, 1), CKR_OK);
	assert_int_equal(v2, v1 + 1);
	assert_int_equal(soft_stats.attr_device, 2);
	assert_int_equal(fl->C_GetAttributeValue(s, hp, &a, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(fl->C_FindObjectsInit(s, &a, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &h, 1, &(CK_ULONG){ 0 }), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(soft_stats.attr_device, 2);
	/* Attributes the driver does not claim stay the front end's. */
	a = (CK_ATTRIBUTE){ CKA_TOKEND_PIN_POLICY, &v1, sizeof(v1) };
	assert_int_equal(fl->C_GetAttributeValue(s, hk, &a, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
}

/* CKO_DATA: the driver takes the template (the soft token: by CKA_VALUE;
 * PIV: a container by CKA_OBJECT_ID or CKA_TOKEND_OBJECT_TAG). */
static void test_data_objects(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BYTE value[] = "NEW-DATA", got[32];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_VALUE, value, 8 },
	};
	CK_ATTRIBUTE q[] = { { CKA_VALUE, got, sizeof(got) },
			     { CKA_APPLICATION, NULL, 0 } };
	CK_OBJECT_HANDLE h, h2;

	assert_int_equal(fl->C_CreateObject(s, t, 2, &h),
			 CKR_USER_NOT_LOGGED_IN);
	fl->C_CloseSession(s);
	s = so_session();
	assert_int_equal(fl->C_CreateObject(s, t, 1, &h),
			 CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(fl->C_CreateObject(s, t, 2, &h), CKR_OK);
	assert_int_equal(soft_stats.create_data, 2);
	assert_int_equal(fl->C_GetAttributeValue(s, h, q, 2), CKR_OK);
	assert_int_equal(q[0].ulValueLen, 8);
	assert_memory_equal(got, value, 8);
	assert_int_equal(q[1].ulValueLen, 4); /* "soft", the driver's */
	/* The same object again: the same handle. */
	assert_int_equal(fl->C_CreateObject(s, t, 2, &h2), CKR_OK);
	assert_int_equal(h2, h);
	t[1].ulValueLen = 0;
	assert_int_equal(fl->C_CreateObject(s, t, 2, &h2),
			 CKR_ATTRIBUTE_VALUE_INVALID);
}

static void test_generate(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			   0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_BYTE id = 6; /* a new 20-byte ID */
	CK_ULONG pin = TOKEND_PIN_POLICY_NEVER;
	CK_BBOOL got = CK_TRUE;
	CK_ATTRIBUTE pub[] = { { CKA_EC_PARAMS, p256, sizeof(p256) },
			       { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN } };
	CK_ATTRIBUTE priv[] = { { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN },
				{ CKA_TOKEND_PIN_POLICY, &pin, sizeof(pin) } };
	CK_OBJECT_HANDLE hp, hk;
	CK_ATTRIBUTE q = { CKA_PRIVATE, &got, sizeof(got) };
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
	assert_int_equal(got, CK_FALSE); /* the policy reached the driver */
	assert_int_equal(fl->C_GetAttributeValue(s, hp, &ql, 1), CKR_OK);
	assert_memory_equal(label, "soft key 6", ql.ulValueLen);
	/* RSA needs a supported size; Ed25519 by mechanism. */
	CK_ULONG bits = 1000;
	CK_ATTRIBUTE rpub[] = { { CKA_MODULUS_BITS, &bits, sizeof(bits) },
				{ CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN } };
	m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, rpub, 2, NULL, 0, &hp, &hk),
	    CKR_KEY_SIZE_RANGE);
	m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk),
	    CKR_OK);
	pub[1].ulValueLen = TK_ID_MAX + 1; /* longer than any driver's */
	assert_int_equal(
	    fl->C_GenerateKeyPair(s, &m, pub + 1, 1, NULL, 0, &hp, &hk),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	/* A secret key: only a token that takes templates whole (a
	 * module) makes one; this one (as PIV) has none to offer. */
	m.mechanism = CKM_AES_KEY_GEN;
	hk = CK_INVALID_HANDLE;
	assert_int_equal(fl->C_GenerateKey(s, &m, priv, 0, &hk),
			 CKR_TEMPLATE_INCOMPLETE); /* no CKA_ID */
	assert_int_equal(fl->C_GenerateKey(s, &m, priv, 1, &hk),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(hk, CK_INVALID_HANDLE);
	assert_int_equal(soft_stats.generate, 2); /* the pairs above only */
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
			     { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN },
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
			      { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN },
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
	CK_UTF8CHAR wrong[] =
	    "000000000000000000000000000000000000000000000000";

	memset(label, ' ', sizeof(label));
	assert_int_equal(fl->C_InitToken(slot, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
					 sizeof(SOFT_SO_PIN) - 1, label),
			 CKR_SESSION_EXISTS);
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, NULL),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	/* The SO PIN (the management key) is proven before anything is
	 * reset: without it, or a wrong one, the token is never asked. */
	assert_int_equal(fl->C_InitToken(slot, NULL, 0, label),
			 CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_InitToken(slot, wrong, 48, label),
			 CKR_PIN_INCORRECT);
	assert_int_equal(
	    fl->C_InitToken(slot, (CK_UTF8CHAR_PTR) "xyz", 3, label),
	    CKR_PIN_INCORRECT);
	assert_int_equal(soft_stats.reset, 0);
	/* The card refuses while PIN and PUK still work. */
	assert_int_equal(fl->C_InitToken(slot, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
					 sizeof(SOFT_SO_PIN) - 1, label),
			 CKR_FUNCTION_REJECTED);
	assert_int_equal(soft_stats.reset, 1);
	/* Block the PUK (three wrong PUKs), then the PIN. */
	s = p11_open(false);
	for (int i = 0; i < 3; i++)
		fl->C_SetPIN(s, (CK_UTF8CHAR_PTR) "puk:00000000", 12,
			     (CK_UTF8CHAR_PTR) "12345678", 8);
	for (int i = 0; i < 3; i++)
		fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6);
	fl->C_CloseSession(s);
	assert_int_equal(fl->C_InitToken(slot, wrong, 48, label),
			 CKR_PIN_INCORRECT);
	assert_int_equal(soft_stats.reset, 1);
	assert_int_equal(fl->C_InitToken(slot, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
					 sizeof(SOFT_SO_PIN) - 1, label),
			 CKR_OK);
	assert_int_equal(soft_stats.reset, 2);
	assert_int_equal(soft_stats.open, opens + 1);
}

/* ---- the pin guard (tries kept back for the owner) ---- */

/* The decision alone: tries left against the reserve, the remembered
 * secret, a token locked already, another token. */
static void test_pin_guard_rules(void **state)
{
	struct pin_guard g = { .epoch = 7 };
	struct pin_hash right, wrong;

	(void)state;
	assert_int_equal(pin_guard_hash((const uint8_t *)"123456", 6, &right),
			 0);
	assert_int_equal(pin_guard_hash((const uint8_t *)"654321", 6, &wrong),
			 0);
	assert_memory_not_equal(right.h, wrong.h, sizeof(right.h));
	/* No guard: everything passes, even to a locked token. */
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, 0, 0, &wrong));
	/* Above the reserve anything goes; at or below it nothing yet. */
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, 3, 1, &wrong));
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, 2, 1, &wrong));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, 1, 1, &right));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, 2, 2, &right));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, -1, 1, &right));
	/* The token accepts the right PIN: from now on it passes. */
	pin_guard_result(&g, 7, TK_USER_PIN, &right, 0);
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, 1, 1, &right));
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, -1, 1, &right));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, 1, 1, &wrong));
	/* ... but never to a locked token, nor as the PUK. */
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, 0, 1, &right));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PUK, 1, 1, &right));
	/* A wrong PIN refused changes nothing remembered. */
	pin_guard_result(&g, 7, TK_USER_PIN, &wrong, TK_ERR_PIN_INCORRECT);
	assert_true(pin_guard_allows(&g, 7, TK_USER_PIN, 1, 1, &right));
	/* Another token in the slot (epoch 8): nothing remembered. */
	assert_false(pin_guard_allows(&g, 8, TK_USER_PIN, 1, 1, &right));
	/* The remembered PIN refused (changed elsewhere): forgotten. */
	pin_guard_result(&g, 7, TK_USER_PIN, &right, TK_ERR_PIN_INCORRECT);
	assert_false(pin_guard_allows(&g, 7, TK_USER_PIN, 1, 1, &right));
	/* The PUK the same way; a change remembers the new secret. */
	pin_guard_result(&g, 7, TK_USER_PUK, &right, 0);
	assert_true(pin_guard_allows(&g, 7, TK_USER_PUK, 1, 1, &right));
	pin_guard_set(&g, 7, TK_USER_PUK, &wrong);
	assert_false(pin_guard_allows(&g, 7, TK_USER_PUK, 1, 1, &right));
	assert_true(pin_guard_allows(&g, 7, TK_USER_PUK, 1, 1, &wrong));
	/* An unset hash (hashing failed) never matches. */
	memset(&right, 0, sizeof(right));
	assert_false(pin_guard_allows(&g, 7, TK_USER_PUK, 1, 1, &right));
}

static struct app *guard_app(unsigned reserved, CK_SESSION_HANDLE *s)
{
	struct app *app = NULL;

	assert_int_equal(app_new(&app), 0);
	app_set_pin_guard(app, reserved);
	assert_int_equal(fe_C_OpenSession(app, slot,
					  CKF_SERIAL_SESSION | CKF_RW_SESSION,
					  NULL, NULL, s),
			 CKR_OK);
	return app;
}

static int soft_tries(void)
{
	CK_TOKEN_INFO ti;

	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	if (ti.flags & CKF_USER_PIN_LOCKED)
		return 0;
	if (ti.flags & CKF_USER_PIN_FINAL_TRY)
		return 1;
	return ti.flags & CKF_USER_PIN_COUNT_LOW ? 2 : 3;
}

/* An app with a guard of 1 (a socket client): the lock attempt stops with
 * one try left, without reaching the token, and the owner's PIN -- the one
 * the token last accepted -- still logs in. */
static void test_pin_guard_login(void **state)
{
	CK_SESSION_HANDLE s;
	struct app *app = guard_app(1, &s);
	const CK_UTF8CHAR *bad = (const CK_UTF8CHAR *)"000000";
	int logins;

	(void)state;
	assert_int_equal(
	    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	assert_int_equal(fe_C_Logout(app, s), CKR_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)bad, 6),
		    CKR_PIN_INCORRECT);
	assert_int_equal(soft_tries(), 1);
	logins = soft_stats.login;
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)bad, 6),
		    CKR_PIN_LOCKED);
	assert_int_equal(soft_stats.login, logins);
	assert_int_equal(soft_tries(), 1);
	/* The owner's PIN reaches the token and restores the counter. */
	assert_int_equal(
	    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	assert_int_equal(soft_stats.login, logins + 1);
	assert_int_equal(soft_tries(), 3);
	app_free(&app);
}

/* Without a PIN ever accepted, the right PIN too waits for the owner (who
 * still has the reserved try with the card's own tools); the in-process
 * module (no guard) sends it. */
static void test_pin_guard_unknown_pin(void **state)
{
	CK_SESSION_HANDLE s, s2;
	struct app *app = guard_app(1, &s);

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6),
		    CKR_PIN_INCORRECT);
	assert_int_equal(
	    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_PIN_LOCKED);
	assert_int_equal(soft_tries(), 1);
	s2 = p11_open(false);
	assert_int_equal(
	    fl->C_Login(s2, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	assert_int_equal(soft_tries(), 3);
	app_free(&app);
}

/* PUK: changes and unblocks stop above the reserve too; the PIN change
 * through C_SetPIN spends PIN tries and is guarded like a login. */
static void test_pin_guard_puk(void **state)
{
	CK_SESSION_HANDLE s;
	struct app *app = guard_app(1, &s);
	int changes, unblocks;

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR) "puk:00000000", 12,
				(CK_UTF8CHAR_PTR) "11111111", 8),
		    CKR_PIN_INCORRECT);
	changes = soft_stats.change_pin;
	unblocks = soft_stats.unblock_pin;
	assert_int_equal(fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR) "puk:00000000",
				     12, (CK_UTF8CHAR_PTR) "11111111", 8),
			 CKR_PIN_LOCKED);
	assert_int_equal(fe_C_SetPIN(app, s,
				     (CK_UTF8CHAR_PTR) "unblock:00000000", 16,
				     (CK_UTF8CHAR_PTR) "111111", 6),
			 CKR_PIN_LOCKED);
	/* The right PUK was never accepted through the front end: held. */
	assert_int_equal(fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR) "puk:" SOFT_PUK,
				     12, (CK_UTF8CHAR_PTR) "87654321", 8),
			 CKR_PIN_LOCKED);
	assert_int_equal(soft_stats.change_pin, changes);
	assert_int_equal(soft_stats.unblock_pin, unblocks);
	/* PIN changes: two wrong old PINs, then held back. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR) "000000",
					     6, (CK_UTF8CHAR_PTR) "222222", 6),
				 CKR_PIN_INCORRECT);
	assert_int_equal(fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR) "000000", 6,
				     (CK_UTF8CHAR_PTR) "222222", 6),
			 CKR_PIN_LOCKED);
	assert_int_equal(soft_tries(), 1);
	app_free(&app);
}

/* A change through a guarded app remembers the new secret: the owner's
 * new PIN passes at the reserve. */
static void test_pin_guard_change(void **state)
{
	CK_SESSION_HANDLE s;
	struct app *app = guard_app(1, &s);

	(void)state;
	assert_int_equal(fe_C_SetPIN(app, s, (CK_UTF8CHAR_PTR)SOFT_PIN, 6,
				     (CK_UTF8CHAR_PTR) "246810", 6),
			 CKR_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
		    CKR_PIN_INCORRECT);
	assert_int_equal(
	    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_PIN_LOCKED);
	assert_int_equal(
	    fe_C_Login(app, s, CKU_USER, (CK_UTF8CHAR_PTR) "246810", 6),
	    CKR_OK);
	app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_device_attr, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_data_objects, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_import_and_destroy, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_pins, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_init_token, p11_up,
						p11_down),
		cmocka_unit_test(test_pin_guard_rules),
		cmocka_unit_test_setup_teardown(test_pin_guard_login, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_pin_guard_unknown_pin,
						p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_pin_guard_puk, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_pin_guard_change, p11_up,
						p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
