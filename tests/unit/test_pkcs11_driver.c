/* The front end is driver-neutral: what the soft token (shaped like a
 * PKCS#11 module, not a PIV card) says of itself reaches the application
 * unchanged — 20-byte CKA_IDs, a secret key and its attributes, whole
 * operations the driver does itself, and its own SO login model. */
#include <openssl/hmac.h>

#include "test_pkcs11_util.h"

static const CK_BYTE msg[] = "driver-neutral front end";
#define MSGLEN (sizeof(msg) - 1)

/* Keys by their 20-byte IDs: the key pair and certificate share one. */
static void test_find_by_long_id(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_ATTRIBUTE t = { CKA_ID, (void *)soft_idb(1), SOFT_ID_LEN };
	CK_OBJECT_HANDLE h[8];
	CK_BYTE id[TK_ID_MAX];
	CK_ATTRIBUTE q = { CKA_ID, id, sizeof(id) };
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(fl->C_FindObjectsInit(s, &t, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 8, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(n, 2); /* public key, certificate (not logged in) */
	assert_int_equal(fl->C_GetAttributeValue(s, h[0], &q, 1), CKR_OK);
	assert_int_equal(q.ulValueLen, SOFT_ID_LEN);
	assert_memory_equal(id, soft_idb(1), SOFT_ID_LEN);
	/* A prefix of the ID is another ID: nothing. */
	t.ulValueLen = 1;
	assert_int_equal(fl->C_FindObjectsInit(s, &t, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 8, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_not_equal(p11_find(s, CKO_PRIVATE_KEY, 1),
			     CK_INVALID_HANDLE);
}

/* CKM_SHA256_RSA_PKCS is the driver's whole operation: the message goes
 * to it as the application gave it, never padded here. */
static void test_sign_whole(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE k = p11_find(s, CKO_PRIVATE_KEY, 1);
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG n = 0;
	EVP_PKEY *pub = soft_key(1);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int raw = soft_stats.sign;

	(void)state;
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, NULL, &n),
			 CKR_OK);
	assert_int_equal(n, 256);
	n = 100; /* short: no signature spent */
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(soft_stats.sign_whole, 0);
	n = sizeof(sig);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(soft_stats.sign_whole, 1);
	assert_int_equal(soft_stats.whole_mech, CKM_SHA256_RSA_PKCS);
	assert_int_equal(soft_stats.sign, raw + 1); /* one call, not raw */
	assert_true(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) ==
		    1);
	assert_int_equal(EVP_DigestVerify(md, sig, n, msg, MSGLEN), 1);
	/* In parts: collected and handed over whole. */
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg, 5), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg + 5, MSGLEN - 5),
			 CKR_OK);
	n = sizeof(sig);
	assert_int_equal(fl->C_SignFinal(s, sig, &n), CKR_OK);
	assert_int_equal(soft_stats.sign_whole, 2);
	assert_int_equal(
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, n, msg, MSGLEN), 1);
	/* Verify stays on the host with the public key. */
	assert_int_equal(
	    fl->C_VerifyInit(s, &m, p11_find(s, CKO_PUBLIC_KEY, 1)), CKR_OK);
	assert_int_equal(fl->C_Verify(s, (CK_BYTE_PTR)msg, MSGLEN, sig, n),
			 CKR_OK);
	assert_int_equal(soft_stats.sign_whole, 2);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
}

/* The secret key: listed after login with what the driver says of it, its
 * value never shown, usable by the driver's own mechanism. */
static void test_secret_key(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_OBJECT_HANDLE k;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ULONG kt = 0, vlen = 0;
	CK_BBOOL sign = CK_FALSE, dec = CK_TRUE, priv = CK_FALSE,
		 token = CK_FALSE;
	CK_BYTE label[32], id[TK_ID_MAX], value[64];
	CK_MECHANISM_TYPE allowed[8];
	CK_ATTRIBUTE t[] = {
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
		{ CKA_SIGN, &sign, sizeof(sign) },
		{ CKA_DECRYPT, &dec, sizeof(dec) },
		{ CKA_PRIVATE, &priv, sizeof(priv) },
		{ CKA_TOKEN, &token, sizeof(token) },
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, value, sizeof(value) };
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_BYTE mac[32], want[32];
	CK_ULONG n = sizeof(mac);
	unsigned wl = 0;

	(void)state;
	assert_int_equal(p11_find(s, cls, SOFT_SECRET), CK_INVALID_HANDLE);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	k = p11_find(s, cls, SOFT_SECRET);
	assert_int_not_equal(k, CK_INVALID_HANDLE);
	assert_int_equal(fl->C_GetAttributeValue(s, k, t, 9), CKR_OK);
	assert_int_equal(kt, CKK_GENERIC_SECRET);
	assert_int_equal(vlen, 32);
	assert_true(sign);
	assert_false(dec);
	assert_true(priv);
	assert_true(token);
	assert_int_equal(t[6].ulValueLen, strlen("soft hmac"));
	assert_memory_equal(label, "soft hmac", t[6].ulValueLen);
	assert_int_equal(t[7].ulValueLen, SOFT_ID_LEN);
	assert_int_equal(t[8].ulValueLen, sizeof(CK_MECHANISM_TYPE));
	assert_int_equal(allowed[0], CKM_SHA256_HMAC);
	assert_int_equal(fl->C_GetAttributeValue(s, k, &v, 1),
			 CKR_ATTRIBUTE_SENSITIVE);
	/* HMAC by the driver. */
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, mac, &n),
			 CKR_OK);
	assert_int_equal(n, 32);
	assert_non_null(
	    HMAC(EVP_sha256(), soft_secret_value, 32, msg, MSGLEN, want, &wl));
	assert_memory_equal(mac, want, 32);
	assert_int_equal(soft_stats.whole_mech, CKM_SHA256_HMAC);
	/* Not a mechanism of the front end's table for asymmetric keys. */
	assert_int_equal(fl->C_SignInit(s, &m, p11_find(s, CKO_PRIVATE_KEY, 1)),
			 CKR_OK); /* the driver decides... */
	n = sizeof(mac);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, mac, &n),
			 CKR_FUNCTION_NOT_SUPPORTED); /* ...and refuses */
}

/* The soft token's SO PIN is a plain PIN (no hex management key), and its
 * SO sets the user PIN (C_InitPIN), as SoftHSMv2's does. */
static void test_so_login_model(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_TOKEN_INFO ti;

	(void)state;
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_LOGIN_REQUIRED);
	assert_false(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	assert_int_equal(fl->C_InitPIN(s, (CK_UTF8CHAR_PTR) "654321", 6),
			 CKR_USER_NOT_LOGGED_IN);
	/* The hex of the SO PIN is not the SO PIN here. */
	assert_int_equal(
	    fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) "736f2d736563726574", 18),
	    CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_OK);
	assert_int_equal(fl->C_InitPIN(s, (CK_UTF8CHAR_PTR) "654", 3),
			 CKR_PIN_LEN_RANGE);
	assert_int_equal(fl->C_InitPIN(s, (CK_UTF8CHAR_PTR) "654321", 6),
			 CKR_OK);
	assert_int_equal(soft_stats.init_pin, 1);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_PIN_INCORRECT);
	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "654321", 6), CKR_OK);
}

/* What an application's multi-part operations collect together is capped
 * (4 MiB): a client cannot pin memory by starting an operation in every
 * session and never ending it; an ended operation gives its share back. */
static void test_collect_budget(void **state)
{
	enum { NS = 5, PART = 900 << 10 };
	CK_SESSION_HANDLE s[NS];
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k;
	CK_BYTE mac[64], *big = calloc(1, PART);
	CK_ULONG n;

	(void)state;
	assert_non_null(big);
	s[0] = p11_open(true);
	for (int i = 1; i < NS; i++)
		s[i] = p11_open(false);
	k = p11_find(s[0], CKO_SECRET_KEY, SOFT_SECRET);
	for (int i = 0; i < NS; i++) {
		assert_int_equal(fl->C_SignInit(s[i], &m, k), CKR_OK);
		assert_int_equal(fl->C_SignUpdate(s[i], big, PART),
				 i < NS - 1 ? CKR_OK : CKR_HOST_MEMORY);
	}
	/* the refused one is over; the first one ends and gives back */
	n = sizeof(mac);
	assert_int_equal(fl->C_SignFinal(s[NS - 1], mac, &n),
			 CKR_OPERATION_NOT_INITIALIZED);
	n = sizeof(mac);
	assert_int_equal(fl->C_SignFinal(s[0], mac, &n), CKR_OK);
	assert_int_equal(n, 32);
	assert_int_equal(fl->C_SignInit(s[NS - 1], &m, k), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s[NS - 1], big, PART), CKR_OK);
	/* closing a session gives its operation's share back too */
	assert_int_equal(fl->C_CloseSession(s[1]), CKR_OK);
	assert_int_equal(fl->C_SignInit(s[0], &m, k), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s[0], big, PART), CKR_OK);
	free(big);
}

/* MACs verified by the driver (not on the host); multi-part MACs and
 * RSA encryption and decryption collected by the front end and run once at
 * Final; the 1 MiB cap of what one operation may collect. */
static void test_mac_verify_multipart(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE k = p11_find(s, CKO_SECRET_KEY, SOFT_SECRET);
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM rsa = { CKM_RSA_PKCS, NULL, 0 };
	CK_BYTE mac[64], want[32], ct[256], pt[256], *big;
	CK_ULONG n = 0;
	unsigned wl = 0;
	int calls;

	(void)state;
	assert_non_null(
	    HMAC(EVP_sha256(), soft_secret_value, 32, msg, MSGLEN, want, &wl));
	/* multi-part sign: the size query is the MAC's, one driver call */
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg, 7), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, NULL, 0), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg + 7, MSGLEN - 7),
			 CKR_OK);
	assert_int_equal(fl->C_SignFinal(s, NULL, &n), CKR_OK);
	assert_int_equal(n, 32);
	n = sizeof(mac);
	assert_int_equal(fl->C_SignFinal(s, mac, &n), CKR_OK);
	assert_int_equal(n, 32);
	assert_memory_equal(mac, want, 32);
	assert_int_equal(soft_stats.sign_whole, 1);
	/* verify: the driver's, single- and multi-part */
	assert_int_equal(fl->C_VerifyInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Verify(s, (CK_BYTE_PTR)msg, MSGLEN, want, 32),
			 CKR_OK);
	assert_int_equal(soft_stats.verify, 1);
	want[31] ^= 1;
	assert_int_equal(fl->C_VerifyInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Verify(s, (CK_BYTE_PTR)msg, MSGLEN, want, 32),
			 CKR_SIGNATURE_INVALID);
	want[31] ^= 1;
	assert_int_equal(fl->C_VerifyInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_VerifyUpdate(s, (CK_BYTE_PTR)msg, 3), CKR_OK);
	assert_int_equal(
	    fl->C_VerifyUpdate(s, (CK_BYTE_PTR)msg + 3, MSGLEN - 3), CKR_OK);
	assert_int_equal(fl->C_VerifyFinal(s, want, 32), CKR_OK);
	assert_int_equal(soft_stats.verify, 3);
	/* beyond the cap: refused, the operation over, no driver call */
	big = calloc(1, 600 << 10);
	assert_non_null(big);
	calls = soft_stats.sign_whole;
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, big, 600 << 10), CKR_OK);
	assert_int_equal(fl->C_SignUpdate(s, big, 600 << 10),
			 CKR_DATA_LEN_RANGE);
	n = sizeof(mac);
	assert_int_equal(fl->C_SignFinal(s, mac, &n),
			 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(soft_stats.sign_whole, calls);
	free(big);
	/* RSA encryption (host) and decryption (token) in parts; a size
	 * query of Update collects nothing */
	assert_int_equal(
	    fl->C_EncryptInit(s, &rsa, p11_find(s, CKO_PUBLIC_KEY, 1)), CKR_OK);
	n = 0;
	assert_int_equal(fl->C_EncryptUpdate(s, (CK_BYTE_PTR)msg, 5, NULL, &n),
			 CKR_OK);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < MSGLEN; i += 10) {
		n = sizeof(ct);
		assert_int_equal(fl->C_EncryptUpdate(
				     s, (CK_BYTE_PTR)msg + i,
				     MSGLEN - i < 10 ? MSGLEN - i : 10, ct, &n),
				 CKR_OK);
		assert_int_equal(n, 0);
	}
	assert_int_equal(fl->C_Encrypt(s, (CK_BYTE_PTR)msg, 1, ct, &n),
			 CKR_OPERATION_ACTIVE);
	n = 0;
	assert_int_equal(fl->C_EncryptFinal(s, NULL, &n), CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(fl->C_EncryptFinal(s, ct, &n), CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(
	    fl->C_DecryptInit(s, &rsa, p11_find(s, CKO_PRIVATE_KEY, 1)),
	    CKR_OK);
	n = sizeof(pt);
	assert_int_equal(fl->C_DecryptUpdate(s, ct, 100, pt, &n), CKR_OK);
	assert_int_equal(n, 0);
	n = sizeof(pt);
	assert_int_equal(fl->C_DecryptUpdate(s, ct + 100, 156, pt, &n), CKR_OK);
	n = 4;
	assert_int_equal(fl->C_DecryptFinal(s, pt, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, MSGLEN);
	n = sizeof(pt);
	assert_int_equal(fl->C_DecryptFinal(s, pt, &n), CKR_OK);
	assert_int_equal(n, MSGLEN);
	assert_memory_equal(pt, msg, MSGLEN);
	assert_int_equal(soft_stats.decrypt, 1);
}

/* The token's RNG; seeds are refused (a shared RNG). */
static void test_random(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_BYTE a[48] = { 0 }, b[48] = { 0 }, seed[4] = { 0 };

	(void)state;
	assert_int_equal(fl->C_GenerateRandom(s, a, sizeof(a)), CKR_OK);
	assert_int_equal(fl->C_GenerateRandom(s, b, sizeof(b)), CKR_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(soft_stats.random, 2);
	assert_int_equal(fl->C_GenerateRandom(s, NULL, 8), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_SeedRandom(s, seed, sizeof(seed)),
			 CKR_RANDOM_SEED_NOT_SUPPORTED);
}

static int p11_up_rng(void **state)
{
	soft_control.rng = true;
	return p11_up(state);
}

static int p11_down_rng(void **state)
{
	soft_control.rng = false;
	return p11_down(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find_by_long_id, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_sign_whole, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_secret_key, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_mac_verify_multipart,
						p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_collect_budget, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_random, p11_up_rng,
						p11_down_rng),
		cmocka_unit_test_setup_teardown(test_so_login_model, p11_up,
						p11_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
