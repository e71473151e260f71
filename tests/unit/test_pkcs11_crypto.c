/* Cryptography through the module on the soft token: every signature
 * mechanism verified with OpenSSL, PSS and OAEP, ECDH, multi-part signing,
 * size queries that cost no token call, CKU_CONTEXT_SPECIFIC, parameter and
 * state errors, and eight threads signing at once. */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "test_pkcs11_util.h"

/* pkcs11/pad.c (internal.h) */
void ecdsa_digest_fit(const uint8_t *in, size_t len, uint8_t *out,
		      size_t field);

static const CK_BYTE msg[] = "the quick brown fox jumps over the lazy dog";
#define MSGLEN (sizeof(msg) - 1)

struct sig_case {
	CK_MECHANISM_TYPE mech;
	uint8_t id, ref;
	const char *md; /* hash the verifier applies (NULL: none) */
	int kind;       /* 0 rsa pkcs1, 1 pss, 2 ecdsa, 3 eddsa, 4 raw rsa */
	bool prehash;   /* the caller hashes (CKM_RSA_PKCS, CKM_ECDSA,
			   CKM_RSA_PKCS_PSS) */
};

/* OpenSSL's view of a signature made by the module. */
static bool ossl_verify(const struct sig_case *c, const uint8_t *sig,
			size_t len)
{
	EVP_PKEY *k = soft_key(c->ref);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	const EVP_MD *md = c->md ? EVP_get_digestbyname(c->md) : NULL;
	uint8_t *der = NULL;
	bool ok = false;

	if (c->kind == 2) { /* r||s to DER */
		ECDSA_SIG *es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)len / 2, NULL),
			       BN_bin2bn(sig + len / 2, (int)len / 2, NULL));
		len = (size_t)i2d_ECDSA_SIG(es, &der);
		sig = der;
		ECDSA_SIG_free(es);
	}
	if (EVP_DigestVerifyInit(m, &pc, c->kind == 3 ? NULL : md, NULL, k) ==
	    1) {
		if (c->kind == 1) {
			EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32);
		}
		ok = EVP_DigestVerify(m, sig, len, msg, MSGLEN) == 1;
	}
	OPENSSL_free(der);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	return ok;
}

/* What the caller passes for the "hash in" mechanisms. */
static size_t prehash(const struct sig_case *c, uint8_t *out)
{
	static const uint8_t di256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06,
					 0x09, 0x60, 0x86, 0x48, 0x01,
					 0x65, 0x03, 0x04, 0x02, 0x01,
					 0x05, 0x00, 0x04, 0x20 };
	unsigned int n = 0;
	size_t off = c->mech == CKM_RSA_PKCS ? sizeof(di256) : 0;

	memcpy(out, di256, off);
	EVP_Digest(msg, MSGLEN, out + off, &n, EVP_get_digestbyname(c->md),
		   NULL);
	return off + n;
}

static void sign_case(CK_SESSION_HANDLE s, const struct sig_case *c)
{
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { c->mech, NULL, 0 };
	CK_OBJECT_HANDLE key = p11_find(s, CKO_PRIVATE_KEY, c->id);
	CK_OBJECT_HANDLE pub = p11_find(s, CKO_PUBLIC_KEY, c->id);
	uint8_t in[128], sig[512];
	const uint8_t *data = msg;
	size_t dlen = MSGLEN;
	CK_ULONG n = 0;
	int signs = soft_stats.sign, queries = soft_stats.size_query;

	if (c->kind == 1) {
		pss.hashAlg = c->md[3] == '1'                      ? CKM_SHA_1
			      : c->md[3] == '2' && c->md[4] == '2' ? CKM_SHA224
			      : c->md[3] == '2'                    ? CKM_SHA256
			      : c->md[3] == '3'                    ? CKM_SHA384
								   : CKM_SHA512;
		pss.mgf = pss.hashAlg == CKM_SHA_1    ? CKG_MGF1_SHA1
			  : pss.hashAlg == CKM_SHA224 ? CKG_MGF1_SHA224
			  : pss.hashAlg == CKM_SHA256 ? CKG_MGF1_SHA256
			  : pss.hashAlg == CKM_SHA384 ? CKG_MGF1_SHA384
						      : CKG_MGF1_SHA512;
		m.pParameter = &pss;
		m.ulParameterLen = sizeof(pss);
	}
	if (c->prehash) {
		dlen = prehash(c, in);
		data = in;
	}
	assert_int_not_equal(key, CK_INVALID_HANDLE);
	assert_int_equal(fl->C_SignInit(s, &m, key), CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)data, dlen, NULL, &n),
			 CKR_OK);
	/* The key's published size: RSA k, ECDSA r || s, EdDSA 64. */
	assert_int_equal(n, c->kind == 2   ? 2 * (c->id == 3 ? 48 : 32)
			    : c->kind == 3 ? 64
					   : 256);
	n--;
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)data, dlen, sig, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(soft_stats.sign,
			 signs); /* size queries never reach the token */
	/* nor the driver for a raw operation (the key's size); a whole one
	 * (the soft token's CKM_SHA256_RSA_PKCS) asks it, device untouched */
	assert_int_equal(soft_stats.size_query - queries,
			 c->mech == CKM_SHA256_RSA_PKCS ? 2 : 0);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)data, dlen, sig, &n),
			 CKR_OK);
	assert_int_equal(soft_stats.sign, signs + 1);
	assert_true(ossl_verify(c, sig, n));
	/* And the front end's own software verify, with the public key. */
	assert_int_equal(fl->C_VerifyInit(s, &m, pub), CKR_OK);
	assert_int_equal(fl->C_Verify(s, (CK_BYTE_PTR)data, dlen, sig, n),
			 CKR_OK);
	sig[3] ^= 1;
	assert_int_equal(fl->C_VerifyInit(s, &m, pub), CKR_OK);
	assert_int_equal(fl->C_Verify(s, (CK_BYTE_PTR)data, dlen, sig, n),
			 CKR_SIGNATURE_INVALID);
	/* The operation ended: C_Sign without init. */
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)data, dlen, sig, &n),
			 CKR_OPERATION_NOT_INITIALIZED);
}

static void test_sign_all(void **state)
{
	static const struct sig_case cases[] = {
		{ CKM_RSA_PKCS, 1, 1, "SHA256", 0, true },
		{ CKM_SHA1_RSA_PKCS, 1, 1, "SHA1", 0, false },
		{ CKM_SHA224_RSA_PKCS, 1, 1, "SHA224", 0, false },
		{ CKM_SHA256_RSA_PKCS, 1, 1, "SHA256", 0, false },
		{ CKM_SHA384_RSA_PKCS, 1, 1, "SHA384", 0, false },
		{ CKM_SHA512_RSA_PKCS, 1, 1, "SHA512", 0, false },
		{ CKM_RSA_PKCS_PSS, 1, 1, "SHA256", 1, true },
		{ CKM_SHA1_RSA_PKCS_PSS, 1, 1, "SHA1", 1, false },
		{ CKM_SHA224_RSA_PKCS_PSS, 1, 1, "SHA224", 1, false },
		{ CKM_SHA256_RSA_PKCS_PSS, 1, 1, "SHA256", 1, false },
		{ CKM_SHA384_RSA_PKCS_PSS, 1, 1, "SHA384", 1, false },
		{ CKM_SHA512_RSA_PKCS_PSS, 1, 1, "SHA512", 1, false },
		{ CKM_ECDSA, 3, 3, "SHA384", 2, true },
		{ CKM_ECDSA, 3, 3, "SHA256", 2, true },
		{ CKM_ECDSA, 3, 3, "SHA512", 2, true },
		{ CKM_ECDSA_SHA1, 3, 3, "SHA1", 2, false },
		{ CKM_ECDSA_SHA224, 3, 3, "SHA224", 2, false },
		{ CKM_ECDSA_SHA256, 3, 3, "SHA256", 2, false },
		{ CKM_ECDSA_SHA384, 3, 3, "SHA384", 2, false },
		{ CKM_ECDSA_SHA512, 3, 3, "SHA512", 2, false },
		{ CKM_EDDSA, 4, 4, NULL, 3, false },
	};
	CK_SESSION_HANDLE s = p11_open(true);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("mechanism 0x%lx key %u\n", cases[i].mech,
			      cases[i].id);
		sign_case(s, &cases[i]);
	}
}

static void test_rsa_x509(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
	uint8_t sig[256], rec[256], want[256] = { 0 };
	CK_ULONG n = sizeof(sig);
	EVP_PKEY *k = soft_key(1);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	size_t rl = sizeof(rec);

	assert_int_equal(fl->C_SignInit(s, &m, p11_find(s, CKO_PRIVATE_KEY, 1)),
			 CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_OK);
	assert_int_equal(n, 256);
	EVP_PKEY_verify_recover_init(c);
	EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING);
	assert_int_equal(EVP_PKEY_verify_recover(c, rec, &rl, sig, n), 1);
	memcpy(want + 256 - MSGLEN, msg, MSGLEN);
	assert_memory_equal(rec, want, 256);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
}

static void test_multipart(void **state)
{
	static const struct sig_case rsa = {
		CKM_SHA256_RSA_PKCS, 1, 1, "SHA256", 0, false
	};
	static const struct sig_case ec = { CKM_ECDSA_SHA384, 3, 3,
					    "SHA384",         2, false };
	const struct sig_case *cs[] = { &rsa, &ec };
	CK_SESSION_HANDLE s = p11_open(true);

	for (int i = 0; i < 2; i++) {
		CK_MECHANISM m = { cs[i]->mech, NULL, 0 };
		CK_OBJECT_HANDLE pub = p11_find(s, CKO_PUBLIC_KEY, cs[i]->id);
		uint8_t sig[512];
		CK_ULONG n = 0;

		assert_int_equal(
		    fl->C_SignInit(s, &m,
				   p11_find(s, CKO_PRIVATE_KEY, cs[i]->id)),
		    CKR_OK);
		assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg, 10),
				 CKR_OK);
		assert_int_equal(fl->C_SignUpdate(s, (CK_BYTE_PTR)msg + 10, 0),
				 CKR_OK);
		assert_int_equal(
		    fl->C_SignUpdate(s, (CK_BYTE_PTR)msg + 10, MSGLEN - 10),
		    CKR_OK);
		assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, 1, sig, &n),
				 CKR_OPERATION_ACTIVE);
		assert_int_equal(fl->C_SignFinal(s, NULL, &n), CKR_OK);
		assert_int_equal(fl->C_SignFinal(s, sig, &n), CKR_OK);
		assert_true(ossl_verify(cs[i], sig, n));
		assert_int_equal(fl->C_VerifyInit(s, &m, pub), CKR_OK);
		assert_int_equal(fl->C_VerifyUpdate(s, (CK_BYTE_PTR)msg, 5),
				 CKR_OK);
		assert_int_equal(
		    fl->C_VerifyUpdate(s, (CK_BYTE_PTR)msg + 5, MSGLEN - 5),
		    CKR_OK);
		assert_int_equal(fl->C_VerifyFinal(s, sig, n), CKR_OK);
	}
}

/* The one place a digest meets the curve: leftmost field bytes, or left
 * zero-padded. */
static void test_ecdsa_digest_fit(void **state)
{
	uint8_t d[64], out[48], want[48];

	(void)state;
	for (int i = 0; i < 64; i++)
		d[i] = (uint8_t)(i + 1);
	/* P-256: SHA-512 cut to its leftmost 32 bytes, SHA-256 as is,
	 * SHA-1 padded on the left. */
	ecdsa_digest_fit(d, 64, out, 32);
	assert_memory_equal(out, d, 32);
	ecdsa_digest_fit(d, 32, out, 32);
	assert_memory_equal(out, d, 32);
	memset(want, 0, sizeof(want));
	memcpy(want + 12, d, 20);
	ecdsa_digest_fit(d, 20, out, 32);
	assert_memory_equal(out, want, 32);
	/* P-384: SHA-512 cut to 48 bytes, SHA-256 padded to 48. */
	ecdsa_digest_fit(d, 64, out, 48);
	assert_memory_equal(out, d, 48);
	memset(want, 0, sizeof(want));
	memcpy(want + 16, d, 32);
	ecdsa_digest_fit(d, 32, out, 48);
	assert_memory_equal(out, want, 48);
}

/* A whole operation's size is its driver's answer, asked without the
 * device; a raw decrypt's is the modulus, without asking. */
static void test_size_query_home(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_MECHANISM whole = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE k = p11_find(s, CKO_PRIVATE_KEY, 1);
	uint8_t ct[256] = { 0 };
	int signs = soft_stats.sign, decs = soft_stats.decrypt;
	int queries = soft_stats.size_query;
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(fl->C_SignInit(s, &whole, k), CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, NULL, &n),
			 CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(soft_stats.size_query, queries + 1);
	assert_int_equal(soft_stats.sign, signs);
	assert_int_equal(fl->C_SignInit(s, &raw, k), CKR_OPERATION_ACTIVE);
	assert_int_equal(fl->C_DecryptInit(s, &raw, k), CKR_OK);
	n = 0;
	assert_int_equal(fl->C_Decrypt(s, ct, sizeof(ct), NULL, &n), CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(soft_stats.size_query, queries + 1);
	assert_int_equal(soft_stats.decrypt, decs);
}

static void test_context_specific(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE k =
	    p11_find(s, CKO_PRIVATE_KEY, 2); /* 9C, PIN always */
	uint8_t sig[64];
	CK_ULONG n = sizeof(sig);
	static const struct sig_case c = { CKM_ECDSA_SHA256, 2, 2,
					   "SHA256",         2, false };

	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(
	    fl->C_Login(s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR) "999999", 6),
	    CKR_PIN_INCORRECT);
	assert_int_equal(
	    fl->C_Login(s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_OK);
	n = sizeof(sig);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_OK);
	assert_true(ossl_verify(&c, sig, n));
	/* The authorisation was for that one signature. */
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	n = sizeof(sig);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
			 CKR_USER_NOT_LOGGED_IN);
	/* Another session's PIN-always signature consumes the card's
	 * authorisation between this op's context login and its C_Sign: the
	 * driver verifies its held PIN again (the front end keeps none). */
	{
		CK_SESSION_HANDLE s2 = p11_open(false);
		int logins = soft_stats.login, reauths = soft_stats.reauth;

		assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
		assert_int_equal(fl->C_Login(s, CKU_CONTEXT_SPECIFIC,
					     (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
				 CKR_OK);
		assert_int_equal(fl->C_SignInit(s2, &m, k), CKR_OK);
		assert_int_equal(fl->C_Login(s2, CKU_CONTEXT_SPECIFIC,
					     (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
				 CKR_OK);
		n = sizeof(sig);
		assert_int_equal(
		    fl->C_Sign(s2, (CK_BYTE_PTR)msg, MSGLEN, sig, &n), CKR_OK);
		n = sizeof(sig);
		assert_int_equal(
		    fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n), CKR_OK);
		assert_true(ossl_verify(&c, sig, n));
		assert_int_equal(soft_stats.reauth, reauths + 1);
		assert_int_equal(soft_stats.login, logins + 2);
		/* Without the context login no reauth is asked for. */
		assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
		n = sizeof(sig);
		assert_int_equal(
		    fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n),
		    CKR_USER_NOT_LOGGED_IN);
		assert_int_equal(soft_stats.reauth, reauths + 1);
		assert_int_equal(fl->C_CloseSession(s2), CKR_OK);
	}
	/* After C_Logout the operation is still there, but a context-specific
	 * login must not verify (and have the driver hold) the PIN again. */
	assert_int_equal(fl->C_SignInit(s, &m, k), CKR_OK);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(
	    fl->C_Login(s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_USER_NOT_LOGGED_IN);
}

static void test_oaep_and_pkcs1_decrypt(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_BYTE label[] = "lbl";
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, CKG_MGF1_SHA256,
				       CKZ_DATA_SPECIFIED, label, 3 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM *mechs[] = { &oaep, &pkcs };
	CK_OBJECT_HANDLE priv = p11_find(s, CKO_PRIVATE_KEY, 1);
	CK_OBJECT_HANDLE pub = p11_find(s, CKO_PUBLIC_KEY, 1);

	for (int i = 0; i < 2; i++) {
		uint8_t ct[256], pt[256];
		CK_ULONG cl = sizeof(ct), pl = 0;
		int decs = soft_stats.decrypt;

		assert_int_equal(fl->C_EncryptInit(s, mechs[i], pub), CKR_OK);
		assert_int_equal(
		    fl->C_Encrypt(s, (CK_BYTE_PTR)msg, MSGLEN, ct, &cl),
		    CKR_OK);
		assert_int_equal(cl, 256);
		assert_int_equal(fl->C_DecryptInit(s, mechs[i], priv), CKR_OK);
		assert_int_equal(fl->C_Decrypt(s, ct, cl, NULL, &pl), CKR_OK);
		assert_int_equal(pl, 256);
		assert_int_equal(soft_stats.decrypt, decs);
		pl = 5;
		assert_int_equal(fl->C_Decrypt(s, ct, cl, pt, &pl),
				 CKR_BUFFER_TOO_SMALL);
		assert_int_equal(pl, MSGLEN);
		assert_int_equal(fl->C_Decrypt(s, ct, cl, pt, &pl), CKR_OK);
		assert_int_equal(soft_stats.decrypt,
				 decs + 1); /* kept, not decrypted twice */
		assert_memory_equal(pt, msg, MSGLEN);
		/* A corrupted block fails the padding check. */
		ct[10] ^= 0x55;
		pl = sizeof(pt);
		assert_int_equal(fl->C_DecryptInit(s, mechs[i], priv), CKR_OK);
		assert_int_equal(fl->C_Decrypt(s, ct, cl, pt, &pl),
				 CKR_ENCRYPTED_DATA_INVALID);
	}
	/* OpenSSL encrypts, the token decrypts. */
	{
		EVP_PKEY *k = soft_key(1);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
		uint8_t ct[256], pt[256];
		size_t cl = sizeof(ct);
		CK_ULONG pl = sizeof(pt);

		EVP_PKEY_encrypt_init(c);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256());
		EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup("lbl", 3),
						 3);
		assert_int_equal(EVP_PKEY_encrypt(c, ct, &cl, msg, MSGLEN), 1);
		assert_int_equal(fl->C_DecryptInit(s, &oaep, priv), CKR_OK);
		assert_int_equal(fl->C_Decrypt(s, ct, cl, pt, &pl), CKR_OK);
		assert_int_equal(pl, MSGLEN);
		EVP_PKEY_CTX_free(c);
		EVP_PKEY_free(k);
	}
}

static void test_param_and_state_errors(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE rsa = p11_find(s, CKO_PRIVATE_KEY, 1);
	CK_OBJECT_HANDLE ec = p11_find(s, CKO_PRIVATE_KEY, 3);
	CK_OBJECT_HANDLE pub = p11_find(s, CKO_PUBLIC_KEY, 1);
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA384, CKG_MGF1_SHA256, 32 };
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA256, 77, 0, NULL, 0 };
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) };
	uint8_t sig[256];
	CK_ULONG n = sizeof(sig);

	assert_int_equal(fl->C_SignInit(s, &m, rsa),
			 CKR_MECHANISM_PARAM_INVALID); /* hash */
	pss.hashAlg = CKM_SHA256;
	pss.sLen = 300;
	assert_int_equal(fl->C_SignInit(s, &m, rsa),
			 CKR_MECHANISM_PARAM_INVALID); /* salt */
	pss.sLen = 32;
	pss.mgf = 99;
	assert_int_equal(fl->C_SignInit(s, &m, rsa),
			 CKR_MECHANISM_PARAM_INVALID); /* mgf */
	m.pParameter = NULL;
	assert_int_equal(fl->C_SignInit(s, &m, rsa),
			 CKR_MECHANISM_PARAM_INVALID);
	m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	assert_int_equal(fl->C_DecryptInit(s, &m, rsa),
			 CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(fl->C_SignInit(s, &m, rsa),
			 CKR_MECHANISM_INVALID); /* OAEP can't sign */
	m = (CK_MECHANISM){ CKM_ECDSA, NULL, 0 };
	assert_int_equal(fl->C_SignInit(s, &m, rsa), CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(fl->C_SignInit(s, &m, pub), CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(fl->C_SignInit(s, &m, 4242), CKR_KEY_HANDLE_INVALID);
	assert_int_equal(fl->C_SignInit(s, NULL, ec), CKR_ARGUMENTS_BAD);
	m.mechanism = 0x7777;
	assert_int_equal(fl->C_SignInit(s, &m, ec), CKR_MECHANISM_INVALID);
	m.mechanism = CKM_SHA256;
	assert_int_equal(fl->C_SignInit(s, &m, ec), CKR_MECHANISM_INVALID);
	m.mechanism = CKM_ECDSA;
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, 32, sig, &n),
			 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(fl->C_SignInit(s, &m, ec), CKR_OK);
	assert_int_equal(fl->C_SignInit(s, &m, ec), CKR_OPERATION_ACTIVE);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, 32, sig, NULL),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_Sign(s, (CK_BYTE_PTR)msg, 32, sig, &n), CKR_OK);
	assert_int_equal(fl->C_Sign(999, (CK_BYTE_PTR)msg, 32, sig, &n),
			 CKR_SESSION_HANDLE_INVALID);
	/* Not logged in: the private key's handle is invalid (PKCS#11:
	 * C_Logout invalidates handles of private objects). */
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(fl->C_SignInit(s, &m, ec), CKR_KEY_HANDLE_INVALID);
}

static void test_digest_and_mechs(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	uint8_t d[64], want[32];
	CK_ULONG n = 0, count = 0;
	CK_MECHANISM_TYPE list[64];
	CK_MECHANISM_INFO mi;

	assert_int_equal(fl->C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(fl->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, NULL, &n),
			 CKR_OK);
	assert_int_equal(n, 32);
	assert_int_equal(fl->C_Digest(s, (CK_BYTE_PTR)msg, MSGLEN, d, &n),
			 CKR_OK);
	EVP_Digest(msg, MSGLEN, want, NULL, EVP_sha256(), NULL);
	assert_memory_equal(d, want, 32);
	assert_int_equal(fl->C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(fl->C_DigestUpdate(s, (CK_BYTE_PTR)msg, 3), CKR_OK);
	assert_int_equal(
	    fl->C_DigestUpdate(s, (CK_BYTE_PTR)msg + 3, MSGLEN - 3), CKR_OK);
	n = sizeof(d);
	assert_int_equal(fl->C_DigestFinal(s, d, &n), CKR_OK);
	assert_memory_equal(d, want, 32);
	/* A driver without digest_parts (PIV's, this one) digests no key:
	 * C_DigestKey is refused and the digest goes on. */
	assert_int_equal(fl->C_DigestKey(s, 1), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(fl->C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(fl->C_DigestUpdate(s, (CK_BYTE_PTR)msg, MSGLEN),
			 CKR_OK);
	assert_int_equal(fl->C_DigestKey(s, 1), CKR_FUNCTION_NOT_SUPPORTED);
	n = sizeof(d);
	assert_int_equal(fl->C_DigestFinal(s, d, &n), CKR_OK);
	assert_memory_equal(d, want, 32);

	assert_int_equal(fl->C_GetMechanismList(slot, NULL, &count), CKR_OK);
	assert_true(count > 25 && count <= 64);
	n = 2;
	assert_int_equal(fl->C_GetMechanismList(slot, list, &n),
			 CKR_BUFFER_TOO_SMALL);
	n = 64;
	assert_int_equal(fl->C_GetMechanismList(slot, list, &n), CKR_OK);
	assert_int_equal(fl->C_GetMechanismInfo(slot, CKM_RSA_PKCS, &mi),
			 CKR_OK);
	assert_int_equal(mi.ulMinKeySize, 1024);
	assert_int_equal(mi.ulMaxKeySize, 4096);
	assert_true(mi.flags & CKF_SIGN && mi.flags & CKF_DECRYPT &&
		    mi.flags & CKF_HW);
	assert_int_equal(fl->C_GetMechanismInfo(slot, CKM_ECDH1_DERIVE, &mi),
			 CKR_OK);
	assert_true(mi.flags & CKF_DERIVE);
	assert_int_equal(fl->C_GetMechanismInfo(slot, CKM_AES_CBC, &mi),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(fl->C_GetMechanismInfo(slot + 5, CKM_RSA_PKCS, &mi),
			 CKR_SLOT_ID_INVALID);
}

static EVP_PKEY *peer_for(uint8_t ref, uint8_t *pt, size_t *len)
{
	EVP_PKEY *p = ref == 5 ? EVP_PKEY_Q_keygen(NULL, NULL, "X25519")
			       : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	if (ref == 5)
		EVP_PKEY_get_raw_public_key(p, pt, len);
	else
		EVP_PKEY_get_octet_string_param(
		    p, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, *len, len);
	return p;
}

static void test_ecdh(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	const uint8_t refs[2] = { 3, 5 }, ids[2] = { 3, 5 };

	for (int i = 0; i < 2; i++) {
		uint8_t pt[200], wrapped[202], z[64], want[64];
		size_t plen = sizeof(pt), wl = sizeof(want);
		EVP_PKEY *peer = peer_for(refs[i], pt, &plen),
			 *mine = soft_key(refs[i]);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(peer, NULL);
		CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, plen, pt };
		CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
		CK_BBOOL f = CK_FALSE, t = CK_TRUE;
		CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
					{ CKA_KEY_TYPE, &kt, sizeof(kt) },
					{ CKA_TOKEN, &f, 1 },
					{ CKA_SENSITIVE, &f, 1 },
					{ CKA_EXTRACTABLE, &t, 1 } };
		CK_ATTRIBUTE val = { CKA_VALUE, z, sizeof(z) };
		CK_OBJECT_HANDLE h;

		EVP_PKEY_derive_init(c);
		EVP_PKEY_derive_set_peer(c, mine);
		assert_int_equal(EVP_PKEY_derive(c, want, &wl), 1);
		assert_int_equal(
		    fl->C_DeriveKey(s, &m, p11_find(s, CKO_PRIVATE_KEY, ids[i]),
				    tmpl, 5, &h),
		    CKR_OK);
		assert_int_equal(fl->C_GetAttributeValue(s, h, &val, 1),
				 CKR_OK);
		assert_int_equal(val.ulValueLen, wl);
		assert_memory_equal(z, want, wl);
		/* The peer point DER-wrapped, as some callers send it;
		 * sensitive result. */
		wrapped[0] = 0x04;
		wrapped[1] = (uint8_t)plen;
		memcpy(wrapped + 2, pt, plen);
		p.pPublicData = wrapped;
		p.ulPublicDataLen = plen + 2;
		tmpl[3].pValue = &t;
		assert_int_equal(
		    fl->C_DeriveKey(s, &m, p11_find(s, CKO_PRIVATE_KEY, ids[i]),
				    tmpl, 5, &h),
		    CKR_OK);
		val.ulValueLen = sizeof(z);
		assert_int_equal(fl->C_GetAttributeValue(s, h, &val, 1),
				 CKR_ATTRIBUTE_SENSITIVE);
		assert_int_equal(fl->C_DestroyObject(s, h), CKR_OK);
		/* Bad parameters. */
		p.kdf = CKD_SHA1_KDF;
		assert_int_equal(
		    fl->C_DeriveKey(s, &m, p11_find(s, CKO_PRIVATE_KEY, ids[i]),
				    tmpl, 5, &h),
		    CKR_MECHANISM_PARAM_INVALID);
		EVP_PKEY_CTX_free(c);
		EVP_PKEY_free(peer);
		EVP_PKEY_free(mine);
	}
}

/* A client deriving in a loop meets a cap (CKR_DEVICE_MEMORY), and a
 * destroyed object makes room again. */
static void test_session_object_cap(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	uint8_t pt[200];
	size_t plen = sizeof(pt);
	EVP_PKEY *peer = peer_for(3, pt, &plen);
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, plen, pt };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_KEY_TYPE, &kt, sizeof(kt) },
				{ CKA_TOKEN, &f, 1 } };
	CK_OBJECT_HANDLE key = p11_find(s, CKO_PRIVATE_KEY, 3), h = 0, last = 0;
	CK_RV rv = CKR_OK;
	int n = 0;

	(void)state;
	while (n < 10000 &&
	       (rv = fl->C_DeriveKey(s, &m, key, tmpl, 3, &h)) == CKR_OK) {
		last = h;
		n++;
	}
	assert_int_equal(rv, CKR_DEVICE_MEMORY);
	assert_true(n >= 64 && n <= 1024);
	assert_int_equal(fl->C_DestroyObject(s, last), CKR_OK);
	assert_int_equal(fl->C_DeriveKey(s, &m, key, tmpl, 3, &h), CKR_OK);
	EVP_PKEY_free(peer);
}

#define NTHREADS 8
#define NSIGS 25

static void *signer(void *arg)
{
	static const struct sig_case c = { CKM_ECDSA_SHA256, 3, 3,
					   "SHA256",         2, false };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	long bad = 0;

	if (fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		return (void *)1L;
	k = p11_find(s, CKO_PRIVATE_KEY, 3);
	for (int i = 0; i < NSIGS; i++) {
		uint8_t sig[96];
		CK_ULONG n = sizeof(sig);
		if (fl->C_SignInit(s, &m, k) != CKR_OK ||
		    fl->C_Sign(s, (CK_BYTE_PTR)msg, MSGLEN, sig, &n) !=
			CKR_OK ||
		    !ossl_verify(&c, sig, n))
			bad++;
	}
	fl->C_CloseSession(s);
	return (void *)bad;
}

static void test_threads(void **state)
{
	CK_SESSION_HANDLE keep = p11_open(true); /* keeps the app logged in */
	pthread_t th[NTHREADS];
	void *bad;

	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, signer, NULL), 0);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_null(bad);
	}
	assert_int_equal(soft_stats.sign, NTHREADS * NSIGS);
	assert_int_equal(fl->C_CloseSession(keep), CKR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sign_all, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_rsa_x509, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_multipart, p11_up,
						p11_down),
		cmocka_unit_test(test_ecdsa_digest_fit),
		cmocka_unit_test_setup_teardown(test_size_query_home, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_context_specific, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_oaep_and_pkcs1_decrypt,
						p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_param_and_state_errors,
						p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_digest_and_mechs, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_ecdh, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_session_object_cap, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_threads, p11_up, p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
