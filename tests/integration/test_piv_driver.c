/* The PIV driver against the virtual YubiKey through pcscd, through the
 * driver interface only. Run by piv_driver.sh, which starts pcscd and the
 * vcard:  test_piv_driver READER APDU_LOG VCARD_PID
 *
 * The tests run in order and share one token: a fresh card is read, keys
 * are generated, used, certified, and the card is reset and finally pulled
 * by others. APDU costs are counted from the vcard's APDU log. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <PCSC/winscard.h>

#include "p11.h"
#include "piv_driver.h"
#include "tokend-pkcs11.h"

static const char *reader;
static const char *apdu_log;
static pid_t vcard_pid;
static struct tk_driver *drv;
static struct tk_token *tok;

/* The default management key, as the SO gives it (hex). */
static const uint8_t mgm_default[] =
    "010203040506070801020304050607080102030405060708";
#define MGM_LEN 48
static const uint8_t pin[] = "123456";
#define PIN_LEN 6

/* C-APDUs the vcard has logged: one line each. */
static unsigned long apdus(void)
{
	FILE *f = fopen(apdu_log, "r");
	unsigned long n = 0;
	int ch;

	if (!f)
		return 0;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static const struct tk_key *key_of(uint8_t ref)
{
	const struct tk_objects *o;

	assert_int_equal(tok->ops->objects(tok, &o), 0);
	for (size_t i = 0; i < o->nkeys; i++)
		if (o->keys[i].handle == ref)
			return &o->keys[i];
	return NULL;
}

/* The CKA_ID the driver gives slot ref (one byte, as OpenSC numbers them:
 * 9A..9E = 01..04, 82..95 = 05..18, F9 = 19). */
static struct tk_id id_of(uint8_t ref)
{
	static const uint8_t refs[] = { 0x9a, 0x9c, 0x9d, 0x9e, 0x82,
					0x83, 0x84, 0x85, 0x86, 0x87,
					0x88, 0x89, 0x8a, 0x8b, 0x8c,
					0x8d, 0x8e, 0x8f, 0x90, 0x91,
					0x92, 0x93, 0x94, 0x95, 0xf9 };
	struct tk_id id = { .len = 1 };

	for (size_t i = 0; i < sizeof(refs); i++)
		if (refs[i] == ref)
			id.b[0] = (uint8_t)(i + 1);
	return id;
}

/* Runs the driver's discovery and returns the APDUs it cost. */
static unsigned long discover(unsigned what, uint8_t ref)
{
	unsigned long before = apdus();
	struct tk_id id = id_of(ref);

	assert_int_equal(tok->ops->discover(tok, what, id.b, id.len), 0);
	return apdus() - before;
}

/* The PIV driver's vendor attribute of a private key (attestation). */
static int attest(uint8_t ref, uint8_t **der, size_t *len)
{
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = tok->ops->attr(tok, TK_OBJ_PRIVATE, ref, CKA_TOKEND_ATTESTATION,
			   &b);
	*der = buf_steal(&b, len);
	buf_free(&b);
	return r;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

/* EMSA-PKCS1-v1_5 of a SHA-256 hash, k bytes. */
static void pkcs1_block(const uint8_t hash[32], uint8_t *em, size_t k)
{
	static const uint8_t info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06,
					0x09, 0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x02, 0x01,
					0x05, 0x00, 0x04, 0x20 };
	size_t t = sizeof(info) + 32;

	em[0] = 0x00;
	em[1] = 0x01;
	memset(em + 2, 0xff, k - t - 3);
	em[k - t - 1] = 0x00;
	memcpy(em + k - t, info, sizeof(info));
	memcpy(em + k - 32, hash, 32);
}

static int verify_sig(EVP_PKEY *pub, const uint8_t *hash, const uint8_t *sig,
		      size_t siglen, bool rsa)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
	int ok = c && EVP_PKEY_verify_init(c) == 1;

	if (ok && rsa)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1;
	if (ok)
		ok = EVP_PKEY_verify(c, sig, siglen, hash, 32) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

/* Signs with the key in ref and checks the signature with OpenSSL; returns
 * the APDUs the signature cost. */
static unsigned long sign_and_verify(uint8_t ref)
{
	const struct tk_key *k = key_of(ref);
	static const char msg[] = "tokend driver test message";
	uint8_t hash[32], in[512], sig[600];
	size_t inlen = 32, siglen = sizeof(sig);
	unsigned long before;
	EVP_MD_CTX *md;
	bool rsa;

	assert_non_null(k);
	rsa = k->alg >= TK_ALG_RSA1024 && k->alg <= TK_ALG_RSA4096;
	sha256(msg, strlen(msg), hash);
	memcpy(in, hash, 32);
	if (rsa) {
		inlen = (size_t)EVP_PKEY_get_size(k->pub);
		pkcs1_block(hash, in, inlen);
	} else if (k->alg == TK_ALG_ED25519) {
		inlen = strlen(msg);
		memcpy(in, msg, inlen);
	} else if (k->alg == TK_ALG_P384) {
		/* the driver takes the digest shaped to the field (the front
		 * end's ecdsa_digest_fit): SHA-256 left-padded */
		memset(in, 0, 16);
		memcpy(in + 16, hash, 32);
		inlen = 48;
	}
	before = apdus();
	assert_int_equal(
	    tok->ops->sign(tok, ref, NULL, in, inlen, sig, &siglen), 0);
	before = apdus() - before;
	if (k->alg == TK_ALG_ED25519) {
		md = EVP_MD_CTX_new();
		assert_int_equal(
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pub), 1);
		assert_int_equal(EVP_DigestVerify(md, sig, siglen, in, inlen),
				 1);
		EVP_MD_CTX_free(md);
	} else {
		assert_true(verify_sig(k->pub, hash, sig, siglen, rsa));
	}
	return before;
}

/* ---- the tests, in order ---- */

/* Whether pcscd says a card is in reader (no APDU). */
static bool card_present(void)
{
	SCARDCONTEXT h;
	SCARD_READERSTATE st = { .szReader = reader,
				 .dwCurrentState = SCARD_STATE_UNAWARE };
	LONG rv;

	assert_int_equal(
	    SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &h),
	    SCARD_S_SUCCESS);
	rv = SCardGetStatusChange(h, 0, &st, 1);
	SCardReleaseContext(h);
	assert_true(rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT);
	return (st.dwEventState & SCARD_STATE_PRESENT) != 0;
}

/* A reader the config gives to nobody but the PIV driver is served; one
 * its [piv] readers do not match, or a [module NAME] claims, answers
 * TK_ERR_NOT_FOUND without a single APDU. */
static void test_readers(void **state)
{
	char *other[] = { "Nothing like it *" }, *mine[] = { (char *)reader },
	     *vpcd[] = { "Virtual PCD *" };
	struct drv_module_cfg mod = { .name = "m",
				      .readers = vpcd,
				      .nreaders = 1 };
	struct drv_config cfg = { .piv = { true, other, 1 } };
	struct tk_driver *d = NULL;
	unsigned long before = apdus();

	assert_true(card_present());
	assert_int_equal(piv_driver_new(&cfg, &d), 0);
	assert_int_equal(d->ops->open(d, reader, &tok), TK_ERR_NOT_FOUND);
	d->ops->free(d);
	cfg.piv.readers = mine;
	cfg.modules = &mod;
	cfg.nmodules = 1;
	assert_int_equal(piv_driver_new(&cfg, &d), 0);
	assert_int_equal(d->ops->open(d, reader, &tok), TK_ERR_NOT_FOUND);
	d->ops->free(d);
	assert_null(tok);
	assert_int_equal(apdus(), before);
	cfg.nmodules = 0;
	assert_int_equal(piv_driver_new(&cfg, &drv), 0);
}

static void test_open_fresh(void **state)
{
	unsigned long before = apdus(), cost;
	struct tk_token_info info;
	const struct tk_key *att;

	assert_int_equal(drv->ops->open(drv, reader, &tok), 0);
	cost = apdus() - before;
	printf("# open of a fresh card: %lu APDUs\n", cost);
	assert_true(cost > 0 && cost <= 5);
	before = apdus();
	assert_int_equal(tok->ops->info(tok, &info), 0);
	assert_string_equal(info.label, "YubiKey PIV #10000001");
	assert_string_equal(info.manufacturer, "Yubico");
	assert_string_equal(info.model, "YubiKey 5");
	assert_string_equal(info.serial, "10000001");
	assert_int_equal(info.fw_major, 5);
	assert_int_equal(info.pin_tries_left, 3);
	assert_int_equal(info.pin_tries_max, 3);
	assert_true(info.pin_is_default);
	assert_true(info.caps & TK_CAP_ED25519);
	assert_true(info.caps & TK_CAP_DELETE_KEY);
	assert_null(key_of(0xf9));             /* nothing discovered yet */
	assert_int_equal(apdus() - before, 0); /* info and objects: cache */

	/* An empty slot: its F7 only (no certificate without a key). */
	assert_int_equal(discover(TK_DISCOVER_CERT, 0x9a), 1);
	assert_null(key_of(0x9a));
	assert_int_equal(discover(TK_DISCOVER_CERT, 0x9a), 0);
	/* F9: only its certificate. */
	assert_int_equal(discover(TK_DISCOVER_KEY, 0xf9), 1);
	att = key_of(0xf9);
	assert_non_null(att);
	assert_int_equal(att->id.len, 1);
	assert_int_equal(att->id.b[0], 0x19);
	assert_string_equal(att->label, "ATTESTATION key");
	assert_non_null(att->cert);
	assert_int_equal(discover(TK_DISCOVER_CERT, 0xf9), 0);
	/* Everything else: 23 more F7s, data objects; then all is cached. */
	cost =
	    discover(TK_DISCOVER_CERT | TK_DISCOVER_ALL | TK_DISCOVER_DATA, 0);
	printf("# discovering the rest of a fresh card: %lu APDUs\n", cost);
	assert_int_equal(cost, 23 + 4);
	assert_int_equal(
	    discover(TK_DISCOVER_CERT | TK_DISCOVER_ALL | TK_DISCOVER_DATA, 0),
	    0);
}

struct gen_case {
	uint8_t ref;
	enum tk_alg alg;
	enum tk_pin_policy pin;
	uint8_t id;
	const char *label;
};

static const struct gen_case gens[] = {
	{ 0x9a, TK_ALG_RSA2048, TK_PIN_POLICY_ONCE, 1, "PIV AUTH key" },
	{ 0x9c, TK_ALG_P256, TK_PIN_POLICY_ALWAYS, 2, "SIGN key" },
	{ 0x9d, TK_ALG_P384, TK_PIN_POLICY_ONCE, 3, "KEY MAN key" },
	{ 0x82, TK_ALG_ED25519, TK_PIN_POLICY_ONCE, 5, "RETIRED KEY 1" },
	{ 0x83, TK_ALG_X25519, TK_PIN_POLICY_ONCE, 6, "RETIRED KEY 2" },
	{ 0x9e, TK_ALG_RSA1024, TK_PIN_POLICY_NEVER, 4, "CARD AUTH key" },
};

static void test_generate(void **state)
{
	unsigned long before = apdus();
	const struct tk_objects *o;
	uint64_t gen;

	struct tk_token_info info;

	assert_int_equal(
	    tok->ops->login(tok, TK_USER_ADMIN, mgm_default, MGM_LEN), 0);
	printf("# first management-key login: %lu APDUs\n", apdus() - before);
	assert_int_equal(apdus() - before, 3); /* F7 of 9B once, then 2 */
	assert_int_equal(tok->ops->info(tok, &info), 0);
	assert_true(info.admin_is_default);
	before = apdus();
	assert_int_equal(
	    tok->ops->login(tok, TK_USER_ADMIN, mgm_default, MGM_LEN), 0);
	assert_int_equal(apdus() - before, 2);
	assert_int_equal(tok->ops->objects(tok, &o), 0);
	gen = o->gen;
	for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
		const struct tk_key *k;

		before = apdus();
		struct tk_id id = id_of(gens[i].ref);
		uint32_t h = 0;

		assert_int_equal(tok->ops->generate(tok, &id, gens[i].alg,
						    TK_PIN_POLICY_DEFAULT,
						    TK_TOUCH_POLICY_DEFAULT,
						    &h),
				 0);
		assert_int_equal(h, gens[i].ref);
		assert_int_equal(apdus() - before, 1);
		k = key_of(gens[i].ref);
		assert_non_null(k);
		assert_int_equal(k->alg, gens[i].alg);
		assert_int_equal(k->id.len, 1);
		assert_int_equal(k->id.b[0], gens[i].id);
		assert_string_equal(k->label, gens[i].label);
		assert_int_equal(k->pin_policy, gens[i].pin);
		assert_int_equal(k->touch_policy, TK_TOUCH_POLICY_NEVER);
		assert_true(k->generated);
		assert_non_null(k->pub);
	}
	assert_int_equal(tok->ops->objects(tok, &o), 0);
	assert_true(o->gen > gen);
}

static void test_login_sign(void **state)
{
	unsigned long before = apdus();
	static const uint8_t refs[] = { 0x9a, 0x9c, 0x9d, 0x82, 0x9e };
	uint8_t sig[8];
	size_t siglen = sizeof(sig);

	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN), 0);
	assert_int_equal(apdus() - before, 1);
	for (size_t i = 0; i < sizeof(refs); i++) {
		unsigned long cost = sign_and_verify(refs[i]);

		printf("# sign with %02X: %lu APDU\n", refs[i], cost);
		assert_int_equal(cost, 1);
	}
	/* A short buffer costs no APDU (and no PIN-always verification). */
	before = apdus();
	assert_int_equal(tok->ops->sign(tok, 0x9a, NULL, sig, 1, sig, &siglen),
			 TK_ERR_TOO_LARGE);
	assert_int_equal(siglen, 256);
	assert_int_equal(tok->ops->sign(tok, 0x83, NULL, sig, 1, NULL, &siglen),
			 TK_ERR_UNSUPPORTED);
	assert_int_equal(apdus() - before, 0);
}

static void test_decrypt(void **state)
{
	const struct tk_key *k = key_of(0x9a);
	static const uint8_t secret[] = "attack at dawn";
	uint8_t ct[256], pt[256];
	size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pub, NULL);
	unsigned long before;

	assert_int_equal(EVP_PKEY_encrypt_init(c), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
	assert_int_equal(
	    EVP_PKEY_encrypt(c, ct, &ctlen, secret, sizeof(secret)), 1);
	EVP_PKEY_CTX_free(c);
	before = apdus();
	assert_int_equal(
	    tok->ops->decrypt(tok, 0x9a, NULL, ct, ctlen, pt, &ptlen), 0);
	assert_int_equal(apdus() - before, 1);
	assert_int_equal(ptlen, 256);
	assert_int_equal(pt[0], 0x00);
	assert_int_equal(pt[1], 0x02);
	assert_memory_equal(pt + 256 - sizeof(secret), secret, sizeof(secret));
}

/* ECDH with the card's key in ref from a software peer; both sides agree. */
static void derive_check(uint8_t ref, EVP_PKEY *peer)
{
	const struct tk_key *k = key_of(ref);
	uint8_t point[200], mine[64], theirs[64];
	size_t plen = 0, mlen = sizeof(mine), tlen = sizeof(theirs);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(peer, NULL);

	if (k->alg == TK_ALG_X25519) {
		plen = sizeof(point);
		assert_int_equal(
		    EVP_PKEY_get_raw_public_key(peer, point, &plen), 1);
	} else {
		assert_int_equal(EVP_PKEY_get_octet_string_param(
				     peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
				     point, sizeof(point), &plen),
				 1);
	}
	assert_int_equal(tok->ops->derive(tok, ref, point, plen, mine, &mlen),
			 0);
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(c, k->pub), 1);
	assert_int_equal(EVP_PKEY_derive(c, theirs, &tlen), 1);
	EVP_PKEY_CTX_free(c);
	assert_int_equal(mlen, tlen);
	assert_memory_equal(mine, theirs, tlen);
}

static void test_derive(void **state)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");

	assert_non_null(p384);
	assert_non_null(x25519);
	derive_check(0x9d, p384);
	derive_check(0x83, x25519);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(x25519);
}

static void test_pin_always(void **state)
{
	uint8_t hash[32] = { 1 }, sig[128];
	size_t siglen = sizeof(sig);
	unsigned long before = apdus();

	/* 9C's verification was used by test_login_sign. */
	assert_int_equal(
	    tok->ops->sign(tok, 0x9c, NULL, hash, 32, sig, &siglen),
	    TK_ERR_AUTH_REQUIRED);
	assert_int_equal(apdus() - before, 1); /* GA refused; no re-VERIFY */
	before = apdus();
	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN), 0);
	assert_int_equal(sign_and_verify(0x9c), 1);
	assert_int_equal(apdus() - before, 2);
	assert_int_equal(sign_and_verify(0x9a), 1); /* PIN-once keys still go */
}

static void test_wrong_pin(void **state)
{
	static const uint8_t bad[] = "000000";
	struct tk_token_info info;
	int tries = -1;
	bool verified = true;

	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, bad, 6),
			 TK_ERR_PIN_INCORRECT);
	assert_int_equal(tok->ops->info(tok, &info), 0);
	assert_int_equal(info.pin_tries_left, 2);
	assert_int_equal(tok->ops->pin_status(tok, &tries, &verified), 0);
	assert_int_equal(tries, 2);
	assert_false(verified);
	/* The wrong VERIFY dropped the card's state; the held PIN restores it
	 * for the application still logged in: GA 6982, VERIFY, GA. */
	assert_int_equal(sign_and_verify(0x9a), 3);
	assert_int_equal(tok->ops->pin_status(tok, &tries, &verified), 0);
	assert_true(verified);
	assert_int_equal(tok->ops->info(tok, &info), 0);
	assert_int_equal(info.pin_tries_left, 3);
}

static uint8_t *make_cert(EVP_PKEY *subject, size_t *len)
{
	EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t *der = NULL;
	int n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"tokend 9A", -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, subject);
	assert_true(X509_sign(x, ca, EVP_sha256()) > 0);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(ca);
	return der;
}

static void test_cert_reopen(void **state)
{
	size_t len;
	uint8_t *der = make_cert(key_of(0x9a)->pub, &len);
	const struct tk_key *k;
	unsigned long before, cost;
	struct tk_id id;
	uint32_t h = 0;

	assert_int_equal(
	    tok->ops->login(tok, TK_USER_ADMIN, mgm_default, MGM_LEN), 0);
	id = id_of(0x9a);
	assert_int_equal(tok->ops->write_cert(tok, &id, der, len, &h), 0);
	assert_int_equal(h, 0x9a);
	k = key_of(0x9a);
	assert_int_equal(k->cert_len, len);
	tok->ops->close(tok);
	tok = NULL;
	before = apdus();
	assert_int_equal(drv->ops->open(drv, reader, &tok), 0);
	printf("# open with 7 keys and 2 certificates: %lu APDUs\n",
	       apdus() - before);
	assert_true(apdus() - before <= 5);
	/* A search for the private key with CKA_ID 01: F7 of 9A only (its
	 * RSA-2048 public key takes a GET RESPONSE in short APDUs). */
	assert_null(key_of(0x9a));
	cost = discover(TK_DISCOVER_KEY, 0x9a);
	printf("# find the key with id 01: %lu APDUs\n", cost);
	assert_true(cost >= 1 && cost <= 2);
	k = key_of(0x9a);
	assert_non_null(k);
	assert_null(k->cert);
	assert_int_equal(discover(TK_DISCOVER_KEY, 0x9a), 0);
	/* Then its certificate: one GET DATA; once. */
	assert_int_equal(discover(TK_DISCOVER_CERT, 0x9a), 1);
	assert_int_equal(discover(TK_DISCOVER_CERT, 0x9a), 0);
	before = apdus();
	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN), 0);
	assert_int_equal(apdus() - before, 1);
	assert_int_equal(sign_and_verify(0x9a), 1);
	assert_int_equal(tok->ops->logout(tok, TK_USER_PIN), 0);
	printf("# discovering all keys and certificates: %lu APDUs\n",
	       discover(TK_DISCOVER_CERT | TK_DISCOVER_ALL, 0));
	k = key_of(0x9a);
	assert_non_null(k->cert);
	assert_int_equal(k->cert_len, len);
	assert_memory_equal(k->cert, der, len);
	assert_int_equal(key_of(0x9c)->pin_policy, TK_PIN_POLICY_ALWAYS);
	assert_int_equal(key_of(0x9e)->pin_policy, TK_PIN_POLICY_NEVER);
	assert_true(key_of(0x83)->generated);
	OPENSSL_free(der);
}

static void test_attest(void **state)
{
	uint8_t *der = NULL;
	const uint8_t *p;
	size_t len = 0, len2 = 0;
	unsigned long before;
	X509 *x;

	assert_int_equal(attest(0x9d, &der, &len), 0);
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key_of(0x9d)->pub),
			 1);
	X509_free(x);
	free(der);
	/* Kept: a size query and the read after it see the same bytes. */
	before = apdus();
	assert_int_equal(attest(0x9d, &der, &len2), 0);
	assert_int_equal(apdus() - before, 0);
	assert_int_equal(len2, len);
	free(der);
}

static void reset_from_elsewhere(void)
{
	SCARDCONTEXT ctx;
	SCARDHANDLE h;
	DWORD proto;

	assert_int_equal(
	    SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx),
	    SCARD_S_SUCCESS);
	assert_int_equal(SCardConnect(ctx, reader, SCARD_SHARE_SHARED,
				      SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h,
				      &proto),
			 SCARD_S_SUCCESS);
	assert_int_equal(SCardDisconnect(h, SCARD_RESET_CARD), SCARD_S_SUCCESS);
	SCardReleaseContext(ctx);
}

static void test_other_program(void **state)
{
	char cmd[256];
	unsigned long before;

	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN), 0);
	assert_int_equal(sign_and_verify(0x9a), 1);
	/* Another program resets the card between two signatures. */
	reset_from_elsewhere();
	before = apdus();
	sign_and_verify(0x9a);
	printf("# sign after a reset by another program: %lu APDUs\n",
	       apdus() - before);
	assert_int_equal(apdus() - before, 3); /* SELECT, VERIFY, GA */
	/* yubico-piv-tool uses the card in between. */
	snprintf(cmd, sizeof(cmd),
		 "yubico-piv-tool -r '%s' -a status >/dev/null 2>&1", reader);
	if (system(cmd) == 0) {
		before = apdus();
		sign_and_verify(0x9a);
		printf("# sign after yubico-piv-tool: %lu APDUs\n",
		       apdus() - before);
	}
	assert_int_equal(sign_and_verify(0x9a), 1);
}

static const struct tk_data *data_of(uint32_t tag)
{
	const struct tk_objects *o;

	assert_int_equal(tok->ops->objects(tok, &o), 0);
	for (size_t i = 0; i < o->ndata; i++)
		if (o->data[i].handle == tag)
			return &o->data[i];
	return NULL;
}

static void test_admin(void **state)
{
	EVP_PKEY *priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	static const uint8_t printed[] = { 0x01, 0x04, 'T', 'e', 's', 't' };
	static const uint8_t pin2[] = "654321";
	static const CK_ULONG printed_tag = 0x5fc109;
	const struct tk_attr printed_tmpl[] = {
		{ CKA_TOKEND_OBJECT_TAG, &printed_tag, sizeof(printed_tag) },
		{ CKA_VALUE, printed, sizeof(printed) },
	};
	struct tk_setpin change = { TK_USER_PIN, TK_USER_PIN, pin, PIN_LEN };
	const struct tk_key *k;
	const struct tk_data *d;
	unsigned long before;
	struct tk_id id;
	uint32_t h = 0;

	assert_int_equal(
	    tok->ops->login(tok, TK_USER_ADMIN, mgm_default, MGM_LEN), 0);
	id = id_of(0x84);
	assert_int_equal(tok->ops->import_key(tok, &id, priv,
					      TK_PIN_POLICY_NEVER,
					      TK_TOUCH_POLICY_DEFAULT, &h),
			 0);
	k = key_of(0x84);
	assert_non_null(k);
	assert_false(k->generated);
	assert_int_equal(k->pin_policy, TK_PIN_POLICY_NEVER);
	assert_int_equal(EVP_PKEY_eq(k->pub, priv), 1);
	assert_int_equal(sign_and_verify(0x84), 1);
	EVP_PKEY_free(priv);

	/* Printed Information: private, loaded once after login. */
	assert_int_equal(tok->ops->create_data(tok, printed_tmpl, 2, &h), 0);
	assert_int_equal(h, 0x5fc109);
	assert_null(data_of(0x5fc109));
	before = apdus();
	assert_int_equal(tok->ops->load_private(tok), 0);
	assert_int_equal(tok->ops->load_private(tok), 0);
	assert_int_equal(apdus() - before, 1);
	d = data_of(0x5fc109);
	assert_non_null(d);
	assert_true(d->private);
	assert_int_equal(d->len, sizeof(printed));
	assert_int_equal(tok->ops->logout(tok, TK_USER_PIN), 0);
	assert_null(data_of(0x5fc109));

	assert_int_equal(tok->ops->delete_key(tok, 0x9e), 0);
	assert_null(key_of(0x9e));
	assert_int_equal(tok->ops->delete_cert(tok, 0x9a), 0);
	assert_null(key_of(0x9a)->cert);

	assert_int_equal(tok->ops->set_pin(tok, &change, pin2, 6), 0);
	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN),
			 TK_ERR_PIN_INCORRECT);
	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin2, 6), 0);
	change.old = pin2;
	change.old_len = 6;
	assert_int_equal(tok->ops->set_pin(tok, &change, pin, PIN_LEN), 0);
	assert_int_equal(sign_and_verify(0x9a), 1);
	/* Reset is refused while the PIN and PUK are not blocked. */
	assert_int_equal(tok->ops->reset(tok), TK_ERR_DENIED);
}

static void test_pulled(void **state)
{
	uint8_t hash[32] = { 0 }, sig[256];
	size_t siglen = sizeof(sig);
	bool present = true;

	assert_int_equal(kill(vcard_pid, SIGUSR1), 0);
	for (int i = 0; i < 100 && present; i++) {
		usleep(100 * 1000);
		present = card_present();
	}
	assert_false(present);
	pkcs1_block(hash, sig, 256);
	memcpy(hash, sig, 32);
	assert_int_equal(
	    tok->ops->sign(tok, 0x9a, NULL, sig, 256, sig, &siglen),
	    TK_ERR_REMOVED);
	assert_int_equal(
	    tok->ops->sign(tok, 0x9a, NULL, sig, 256, sig, &siglen),
	    TK_ERR_REMOVED);
	tok->ops->close(tok);
	tok = NULL;
	assert_int_equal(drv->ops->open(drv, reader, &tok), TK_ERR_NOT_FOUND);
	drv->ops->free(drv);
	drv = NULL;
}

/* Firmware 5.2 (no F7): keys are found from their certificates, with
 * the slots' default policies. piv_driver.sh put a P-256 key and a
 * certificate in 9C with yubico-piv-tool. */
static void test_legacy(void **state)
{
	struct tk_token_info info;
	const struct tk_key *k;
	unsigned long before;

	assert_int_equal(piv_driver_new(NULL, &drv), 0);
	before = apdus();
	assert_int_equal(drv->ops->open(drv, reader, &tok), 0);
	printf("# open of a 5.2 card with 1 certificate: %lu APDUs\n",
	       apdus() - before);
	assert_true(apdus() - before <= 5);
	assert_null(key_of(0x9c));
	/* Without F7 a key is found by its certificate: one GET DATA. */
	assert_int_equal(discover(TK_DISCOVER_KEY, 0x9c), 1);
	assert_non_null(key_of(0x9c));
	printf(
	    "# discovering the rest of a 5.2 card: %lu APDUs\n",
	    discover(TK_DISCOVER_CERT | TK_DISCOVER_ALL | TK_DISCOVER_DATA, 0));
	assert_int_equal(tok->ops->info(tok, &info), 0);
	assert_string_equal(info.label, "YubiKey PIV #20000002");
	assert_int_equal(info.pin_tries_left, 3);
	assert_false(info.caps & TK_CAP_ED25519);
	k = key_of(0x9c);
	assert_non_null(k);
	assert_non_null(k->cert);
	assert_int_equal(k->alg, TK_ALG_P256);
	assert_int_equal(k->pin_policy, TK_PIN_POLICY_ALWAYS);
	assert_false(k->generated);
	assert_null(key_of(0x9a));
	assert_int_equal(tok->ops->login(tok, TK_USER_PIN, pin, PIN_LEN), 0);
	assert_int_equal(sign_and_verify(0x9c), 1);
	tok->ops->close(tok);
	tok = NULL;
	drv->ops->free(drv);
	drv = NULL;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest legacy[] = {
		cmocka_unit_test(test_legacy),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers),
		cmocka_unit_test(test_open_fresh),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_login_sign),
		cmocka_unit_test(test_decrypt),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_pin_always),
		cmocka_unit_test(test_wrong_pin),
		cmocka_unit_test(test_cert_reopen),
		cmocka_unit_test(test_attest),
		cmocka_unit_test(test_other_program),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_pulled),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s READER APDU_LOG VCARD_PID\n",
			argv[0]);
		return 2;
	}
	reader = argv[1];
	apdu_log = argv[2];
	vcard_pid = (pid_t)atol(argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("TEST_PIV_LEGACY"))
		return cmocka_run_group_tests(legacy, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
