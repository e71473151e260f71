/* The ESYS layer (drivers/tpm/tpm_esys.h) against a real swtpm, started by
 * tests/harness/swtpm.sh (TOKEND_TEST_TCTI). Every signature is checked by
 * OpenSSL with the public key tpm_blob_pubkey parsed from the blob; RSA
 * padding is OpenSSL's, applied here, as the front end applies it. */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* RSA padding primitives */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tpm_esys.h"
#include "unit_filter.h"

static const uint8_t PIN[] = "123456";
#define PIN_LEN (sizeof(PIN) - 1)

static pid_t restarted_pid; /* alone_restart's swtpm */

struct env {
	struct tpm_ctx *ctx;
	struct tpm_caps caps;
};

static const char *tcti(void)
{
	const char *t = getenv("TOKEND_TEST_TCTI");

	if (!t) {
		fprintf(stderr, "run under tests/harness/swtpm.sh\n");
		abort();
	}
	return t;
}

static int setup(void **state)
{
	static struct env e;

	assert_int_equal(tpm_open(tcti(), 0, &e.ctx), 0);
	assert_int_equal(tpm_get_caps(e.ctx, &e.caps), 0);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	tpm_close(e->ctx);
	e->ctx = NULL;
	if (restarted_pid > 0) /* alone_restart's swtpm */
		kill(restarted_pid, SIGTERM);
	return 0;
}

/* The key's public half as OpenSSL sees it. */
static EVP_PKEY *pkey_of(const struct tpm_blob *blob)
{
	struct tpm_pubkey pk;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *c;
	EVP_PKEY *k = NULL;
	OSSL_PARAM *p;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t pt[1 + 2 * 66];

	assert_int_equal(tpm_blob_pubkey(blob, &pk), 0);
	if (pk.kind == TPM_KEY_RSA) {
		c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		n = BN_bin2bn(pk.n, (int)pk.n_len, NULL);
		e = BN_new();
		BN_set_word(e, pk.e);
		OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e);
	} else {
		c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		pt[0] = 0x04;
		memcpy(pt + 1, pk.x, pk.coord_len);
		memcpy(pt + 1 + pk.coord_len, pk.y, pk.coord_len);
		OSSL_PARAM_BLD_push_utf8_string(
		    b, OSSL_PKEY_PARAM_GROUP_NAME,
		    pk.bits == 384 ? "secp384r1" : "prime256v1", 0);
		OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt,
						 1 + 2 * pk.coord_len);
	}
	p = OSSL_PARAM_BLD_to_param(b);
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p), 1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(c);
	BN_free(n);
	BN_free(e);
	return k;
}

static int verify(EVP_PKEY *k, int pad, const EVP_MD *md, const uint8_t *sig,
		  size_t sig_len, const uint8_t *dgst, size_t dlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok;

	assert_int_equal(EVP_PKEY_verify_init(c), 1);
	if (pad) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, pad), 1);
		if (pad == RSA_PKCS1_PSS_PADDING)
			assert_int_equal(
			    EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32), 1);
	}
	if (md)
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md), 1);
	ok = EVP_PKEY_verify(c, sig, sig_len, dgst, dlen);
	EVP_PKEY_CTX_free(c);
	return ok;
}

/* r||s to the DER ECDSA-Sig-Value OpenSSL verifies. */
static size_t ecdsa_der(const uint8_t *rs, size_t n, uint8_t *der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	unsigned char *p = der;
	int len;

	ECDSA_SIG_set0(s, BN_bin2bn(rs, (int)n, NULL),
		       BN_bin2bn(rs + n, (int)n, NULL));
	len = i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	assert_true(len > 0);
	return (size_t)len;
}

static void make_key(struct env *e, enum tpm_key_kind kind, unsigned bits,
		     struct tpm_blob *blob, struct tpm_key **key)
{
	assert_int_equal(tpm_key_create(e->ctx, kind, bits, PIN, PIN_LEN, blob),
			 0);
	assert_int_equal(tpm_key_load(e->ctx, blob, PIN, PIN_LEN, key), 0);
}

static void ec_sign_check(struct env *e, unsigned bits)
{
	const EVP_MD *md = bits == 384 ? EVP_sha384() : EVP_sha256();
	uint8_t dgst[48], sig[132], der[160];
	size_t dlen = (size_t)EVP_MD_get_size(md), slen = sizeof(sig);
	struct tpm_blob blob;
	struct tpm_key *key;
	EVP_PKEY *k;

	make_key(e, TPM_KEY_EC, bits, &blob, &key);
	k = pkey_of(&blob);
	RAND_bytes(dgst, sizeof(dgst));
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, dlen, sig, &slen), 0);
	assert_int_equal(slen, 2 * bits / 8);
	assert_int_equal(
	    verify(k, 0, NULL, der, ecdsa_der(sig, slen / 2, der), dgst, dlen),
	    1);
	/* A different digest does not verify: the check can fail. */
	dgst[0] ^= 1;
	assert_int_not_equal(
	    verify(k, 0, NULL, der, ecdsa_der(sig, slen / 2, der), dgst, dlen),
	    1);
	/* Digests shorter and longer than the curve, as OpenSSL reads them
	 * (1, 20, 21..33, 48, 63). */
	for (size_t l = 1; l <= 64; l += l < 20 ? 19 : l < 33 ? 1 : 15) {
		uint8_t d[64];

		RAND_bytes(d, sizeof(d));
		slen = sizeof(sig);
		assert_int_equal(tpm_ecdsa(e->ctx, key, d, l, sig, &slen), 0);
		assert_int_equal(verify(k, 0, NULL, der,
					ecdsa_der(sig, slen / 2, der), d, l),
				 1);
	}
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 0, sig, &slen),
			 TK_ERR_ARG);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 65, sig, &slen),
			 TK_ERR_ARG);
	EVP_PKEY_free(k);
	tpm_key_unload(e->ctx, key);
}

static void test_ecdsa_p256(void **state)
{
	ec_sign_check(*state, 256);
}

static void test_ecdsa_p384(void **state)
{
	struct env *e = *state;

	if (!e->caps.p384)
		skip();
	ec_sign_check(e, 384);
}

/* PKCS#1 v1.5 and PSS signatures, OAEP decryption, all through the raw
 * private operation. */
static void rsa_check(struct env *e, unsigned bits)
{
	static const uint8_t sha256_info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06,
					       0x09, 0x60, 0x86, 0x48, 0x01,
					       0x65, 0x03, 0x04, 0x02, 0x01,
					       0x05, 0x00, 0x04, 0x20 };
	uint8_t dgst[32], di[sizeof(sha256_info) + 32], em[384], sig[384];
	uint8_t msg[32], ct[384], back[384];
	size_t k = bits / 8, slen, ctlen = sizeof(ct);
	struct tpm_blob blob;
	struct tpm_key *key;
	EVP_PKEY_CTX *c;
	EVP_PKEY *pk;
	int n;

	make_key(e, TPM_KEY_RSA, bits, &blob, &key);
	pk = pkey_of(&blob);
	assert_int_equal(EVP_PKEY_get_bits(pk), (int)bits);
	RAND_bytes(dgst, sizeof(dgst));

	memcpy(di, sha256_info, sizeof(sha256_info));
	memcpy(di + sizeof(sha256_info), dgst, 32);
	assert_int_equal(
	    RSA_padding_add_PKCS1_type_1(em, (int)k, di, (int)sizeof(di)), 1);
	slen = sizeof(sig);
	assert_int_equal(tpm_rsa_raw(e->ctx, key, em, k, sig, &slen), 0);
	assert_int_equal(slen, k);
	assert_int_equal(
	    verify(pk, RSA_PKCS1_PADDING, EVP_sha256(), sig, slen, dgst, 32),
	    1);

	assert_int_equal(RSA_padding_add_PKCS1_PSS_mgf1(
			     (RSA *)EVP_PKEY_get0_RSA(pk), em, dgst,
			     EVP_sha256(), EVP_sha256(), 32),
			 1);
	slen = sizeof(sig);
	assert_int_equal(tpm_rsa_raw(e->ctx, key, em, k, sig, &slen), 0);
	assert_int_equal(verify(pk, RSA_PKCS1_PSS_PADDING, EVP_sha256(), sig,
				slen, dgst, 32),
			 1);
	dgst[1] ^= 1;
	assert_int_not_equal(verify(pk, RSA_PKCS1_PSS_PADDING, EVP_sha256(),
				    sig, slen, dgst, 32),
			     1);

	RAND_bytes(msg, sizeof(msg));
	c = EVP_PKEY_CTX_new(pk, NULL);
	assert_int_equal(EVP_PKEY_encrypt_init(c), 1);
	assert_int_equal(
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_encrypt(c, ct, &ctlen, msg, sizeof(msg)), 1);
	EVP_PKEY_CTX_free(c);
	assert_int_equal(ctlen, k);
	slen = sizeof(em);
	assert_int_equal(tpm_rsa_raw(e->ctx, key, ct, k, em, &slen), 0);
	n = RSA_padding_check_PKCS1_OAEP_mgf1(back, (int)k, em, (int)k, (int)k,
					      NULL, 0, EVP_sha256(),
					      EVP_sha256());
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(back, msg, sizeof(msg));

	/* Input not the modulus length: the caller's mistake. */
	slen = sizeof(sig);
	assert_int_equal(tpm_rsa_raw(e->ctx, key, em, k - 1, sig, &slen),
			 TK_ERR_ARG);
	EVP_PKEY_free(pk);
	tpm_key_unload(e->ctx, key);
}

static void test_rsa2048(void **state)
{
	rsa_check(*state, 2048);
}

static void test_rsa3072(void **state)
{
	struct env *e = *state;

	if (!e->caps.rsa3072)
		skip();
	rsa_check(e, 3072);
}

static void test_ecdh(void **state)
{
	struct env *e = *state;
	uint8_t point[65], z[32], want[32];
	size_t plen, zlen = sizeof(z), wlen = sizeof(want);
	struct tpm_blob blob;
	struct tpm_key *key;
	EVP_PKEY *peer = EVP_EC_gen("P-256"), *ours;
	EVP_PKEY_CTX *c;

	make_key(e, TPM_KEY_EC, 256, &blob, &key);
	assert_int_equal(
	    EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY,
					    point, sizeof(point), &plen),
	    1);
	assert_int_equal(plen, 65);
	assert_int_equal(tpm_ecdh(e->ctx, key, point, plen, z, &zlen), 0);
	assert_int_equal(zlen, 32);

	ours = pkey_of(&blob);
	c = EVP_PKEY_CTX_new(peer, NULL);
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(c, ours), 1);
	assert_int_equal(EVP_PKEY_derive(c, want, &wlen), 1);
	assert_int_equal(wlen, 32);
	assert_memory_equal(z, want, 32);
	EVP_PKEY_CTX_free(c);

	/* A point off the curve is refused, not computed with. */
	point[40] ^= 1;
	zlen = sizeof(z);
	assert_int_equal(tpm_ecdh(e->ctx, key, point, plen, z, &zlen),
			 TK_ERR_ARG);
	EVP_PKEY_free(ours);
	EVP_PKEY_free(peer);
	tpm_key_unload(e->ctx, key);
}

static void test_seal(void **state)
{
	struct env *e = *state;
	uint8_t secret[TPM_SEALED_MAX], out[TPM_SEALED_MAX];
	size_t len = sizeof(out);
	struct tpm_blob blob;

	RAND_bytes(secret, sizeof(secret));
	assert_int_equal(
	    tpm_seal(e->ctx, secret, sizeof(secret), PIN, PIN_LEN, &blob), 0);
	assert_int_equal(tpm_unseal(e->ctx, &blob, PIN, PIN_LEN, out, &len), 0);
	assert_int_equal(len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	len = sizeof(out);
	assert_int_equal(
	    tpm_unseal(e->ctx, &blob, (const uint8_t *)"654321", 6, out, &len),
	    TK_ERR_PIN_INCORRECT);
	/* A sealed blob is not a key. */
	struct tpm_pubkey pk;
	assert_int_equal(tpm_blob_pubkey(&blob, &pk), TK_ERR_INVALID);
	assert_int_equal(tpm_random(e->ctx, out, 100), 0);
}

/* Ten wrong auths, on a key and on a sealed secret: the TPM's
 * dictionary-attack counter does not move (noDA), the right auth works. */
static void test_wrong_auth_no_da(void **state)
{
	struct env *e = *state;
	static const uint8_t bad[] = "000000";
	uint8_t dgst[32] = { 1 }, sig[64], out[16];
	size_t slen;
	struct tpm_blob blob, sealed;
	struct tpm_key *key, *wrong;
	struct tpm_caps caps;

	assert_int_equal(
	    tpm_key_create(e->ctx, TPM_KEY_EC, 256, PIN, PIN_LEN, &blob), 0);
	assert_int_equal(
	    tpm_seal(e->ctx, (const uint8_t *)"s", 1, PIN, PIN_LEN, &sealed),
	    0);
	assert_int_equal(tpm_key_load(e->ctx, &blob, bad, 6, &wrong), 0);
	for (int i = 0; i < 10; i++) {
		slen = sizeof(sig);
		assert_int_equal(tpm_ecdsa(e->ctx, wrong, dgst, 32, sig, &slen),
				 TK_ERR_PIN_INCORRECT);
		slen = sizeof(out);
		assert_int_equal(
		    tpm_unseal(e->ctx, &sealed, bad, 6, out, &slen),
		    TK_ERR_PIN_INCORRECT);
	}
	tpm_key_unload(e->ctx, wrong);
	assert_int_equal(tpm_get_caps(e->ctx, &caps), 0);
	assert_int_equal(caps.lockout_counter, 0);
	assert_false(caps.in_lockout);
	assert_int_equal(tpm_key_load(e->ctx, &blob, PIN, PIN_LEN, &key), 0);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	tpm_key_unload(e->ctx, key);
}

/* More keys than the TPM has transient slots, all in use in turn: the
 * layer context-saves and reloads them. */
static void test_many_keys(void **state)
{
	struct env *e = *state;
	enum { N = 5 };
	struct tpm_blob blob[N];
	struct tpm_key *key[N];
	EVP_PKEY *pk[N];
	uint8_t dgst[32], sig[64], der[80];
	size_t slen;

	assert_true(N > e->caps.transient_slots);
	for (int i = 0; i < N; i++) {
		make_key(e, TPM_KEY_EC, 256, &blob[i], &key[i]);
		pk[i] = pkey_of(&blob[i]);
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			int j = round == 1 ? N - 1 - i : i;
			RAND_bytes(dgst, sizeof(dgst));
			slen = sizeof(sig);
			assert_int_equal(
			    tpm_ecdsa(e->ctx, key[j], dgst, 32, sig, &slen), 0);
			assert_int_equal(verify(pk[j], 0, NULL, der,
						ecdsa_der(sig, 32, der), dgst,
						32),
					 1);
		}
	}
	for (int i = 0; i < N; i++) {
		tpm_key_unload(e->ctx, key[i]);
		EVP_PKEY_free(pk[i]);
	}
}

/* Damaged blobs, as a bad disk or a foreign file gives them. */
static void test_corrupt_blobs(void **state)
{
	struct env *e = *state;
	struct tpm_blob good, bad;
	struct tpm_key *key = NULL;
	struct tpm_pubkey pk;
	uint8_t out[16];
	size_t len;

	assert_int_equal(
	    tpm_key_create(e->ctx, TPM_KEY_EC, 256, PIN, PIN_LEN, &good), 0);
	for (size_t i = 0; i < good.priv_len; i += 7) {
		bad = good;
		bad.priv[i] ^= 0x40;
		assert_int_equal(tpm_key_load(e->ctx, &bad, PIN, PIN_LEN, &key),
				 TK_ERR_INVALID);
		assert_null(key);
	}
	for (size_t cut = 0; cut < good.pub_len; cut++) {
		bad = good;
		bad.pub_len = cut;
		assert_int_equal(tpm_blob_pubkey(&bad, &pk), TK_ERR_INVALID);
		assert_int_equal(tpm_key_load(e->ctx, &bad, PIN, PIN_LEN, &key),
				 TK_ERR_INVALID);
	}
	bad = good;
	bad.priv_len--;
	assert_int_equal(tpm_key_load(e->ctx, &bad, PIN, PIN_LEN, &key),
			 TK_ERR_INVALID);
	/* The public point changed: the name no longer matches the private
	 * part's integrity value. */
	bad = good;
	bad.pub[bad.pub_len - 1] ^= 1;
	assert_int_equal(tpm_key_load(e->ctx, &bad, PIN, PIN_LEN, &key),
			 TK_ERR_INVALID);
	assert_int_equal(tpm_seal(e->ctx, out, 8, PIN, PIN_LEN, &bad), 0);
	bad.priv[bad.priv_len / 2] ^= 1;
	len = sizeof(out);
	assert_int_equal(tpm_unseal(e->ctx, &bad, PIN, PIN_LEN, out, &len),
			 TK_ERR_INVALID);
	/* The good one still loads. */
	assert_int_equal(tpm_key_load(e->ctx, &good, PIN, PIN_LEN, &key), 0);
	tpm_key_unload(e->ctx, key);
}

static void put_file(const char *dir, const char *name, const uint8_t *p,
		     size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Our SRK is the TCG standard one: tpm2-tools makes the same key from the
 * template's description and loads our blob under it; tpm2-tools' default
 * attributes (without noda) make another key, which refuses it. A
 * provisioned persistent SRK is used when named, the template otherwise. */
static void test_srk_interop(void **state)
{
	struct env *e = *state;
	char dir[] = "/tmp/tpm-srk.XXXXXX";
	uint8_t dgst[32] = { 7 }, sig[64];
	size_t slen = sizeof(sig);
	struct tpm_blob blob;
	struct tpm_key *key;
	const char *t = tcti();

	assert_non_null(mkdtemp(dir));
	assert_int_equal(
	    tpm_key_create(e->ctx, TPM_KEY_EC, 256, PIN, PIN_LEN, &blob), 0);
	tpm_close(e->ctx); /* swtpm serves one client at a time */
	e->ctx = NULL;
	put_file(dir, "pub", blob.pub, blob.pub_len);
	put_file(dir, "priv", blob.priv, blob.priv_len);
	assert_int_equal(
	    sh("set -e; cd %s; export TPM2TOOLS_TCTI='%s';"
	       " tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -a"
	       " 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"
	       "|userwithauth|noda' -c srk.ctx;"
	       " tpm2_load -Q -C srk.ctx -u pub -r priv -c key.ctx;"
	       " tpm2_flushcontext -t",
	       dir, t),
	    0);
	assert_int_not_equal(
	    sh("cd %s; export TPM2TOOLS_TCTI='%s';"
	       " tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb"
	       " -c dflt.ctx && tpm2_load -Q -C dflt.ctx -u pub -r priv"
	       " -c key2.ctx 2>/dev/null; rc=$?; tpm2_flushcontext -t; exit "
	       "$rc",
	       dir, t),
	    0);
	assert_int_equal(sh("cd %s; export TPM2TOOLS_TCTI='%s';"
			    " tpm2_evictcontrol -Q -C o -c srk.ctx 0x81000101",
			    dir, t),
			 0);
	/* A signing key at the configured handle is no SRK. */
	assert_int_equal(
	    sh("set -e; cd %s; export TPM2TOOLS_TCTI='%s';"
	       " tpm2_create -Q -C srk.ctx -G ecc256 -u s.pub -r s.priv;"
	       " tpm2_flushcontext -t;"
	       " tpm2_load -Q -C srk.ctx -u s.pub -r s.priv -c s.ctx;"
	       " tpm2_evictcontrol -Q -C o -c s.ctx 0x81000103;"
	       " tpm2_flushcontext -t",
	       dir, t),
	    0);
	assert_int_equal(tpm_open(t, 0x81000103, &e->ctx), TK_ERR_INVALID);
	assert_null(e->ctx);
	/* Absent persistent handle: the template. */
	assert_int_equal(tpm_open(t, 0x81000102, &e->ctx), 0);
	assert_int_equal(tpm_key_load(e->ctx, &blob, PIN, PIN_LEN, &key), 0);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	tpm_key_unload(e->ctx, key);
	tpm_close(e->ctx);
	/* The provisioned one. */
	assert_int_equal(tpm_open(t, 0x81000101, &e->ctx), 0);
	assert_int_equal(tpm_key_load(e->ctx, &blob, PIN, PIN_LEN, &key), 0);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	tpm_key_unload(e->ctx, key);
	assert_int_equal(sh("rm -rf %s", dir), 0);
}

static void get_file(const char *dir, const char *name, uint8_t *p, size_t max,
		     size_t *n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	*n = fread(p, 1, max, f);
	assert_true(*n > 0 && *n < max);
	fclose(f);
}

/* A key made by tpm2-tools without noda, under our SRK: wrong auths count
 * in the TPM's dictionary-attack counter until it locks, and then even the
 * right auth answers TK_ERR_PIN_LOCKED. (Its own ctest: the swtpm stays
 * locked.) */
static void alone_lockout(void **state)
{
	struct env *e = *state;
	char dir[] = "/tmp/tpm-da.XXXXXX";
	uint8_t dgst[32] = { 7 }, sig[64];
	size_t slen;
	struct tpm_blob blob = { 0 };
	struct tpm_key *key;
	struct tpm_caps caps;
	const char *t = tcti();
	int rc, i;

	assert_non_null(mkdtemp(dir));
	tpm_close(e->ctx);
	e->ctx = NULL;
	assert_int_equal(
	    sh("set -e; cd %s; export TPM2TOOLS_TCTI='%s';"
	       " tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -a"
	       " 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"
	       "|userwithauth|noda' -c srk.ctx;"
	       " tpm2_create -Q -C srk.ctx -G ecc256 -p right -u pub -r priv;"
	       " tpm2_flushcontext -t",
	       dir, t),
	    0);
	get_file(dir, "pub", blob.pub, sizeof(blob.pub), &blob.pub_len);
	get_file(dir, "priv", blob.priv, sizeof(blob.priv), &blob.priv_len);
	assert_int_equal(sh("rm -rf %s", dir), 0);
	assert_int_equal(tpm_open(t, 0, &e->ctx), 0);
	assert_int_equal(tpm_get_caps(e->ctx, &caps), 0);
	assert_true(caps.max_auth_fail > 0 && caps.max_auth_fail < 100);
	assert_int_equal(
	    tpm_key_load(e->ctx, &blob, (const uint8_t *)"wrong", 5, &key), 0);
	for (i = 0; i < 100; i++) {
		slen = sizeof(sig);
		rc = tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen);
		if (rc != TK_ERR_PIN_INCORRECT)
			break;
	}
	assert_int_equal(rc, TK_ERR_PIN_LOCKED);
	assert_true((unsigned)i <= caps.max_auth_fail);
	tpm_key_unload(e->ctx, key);
	assert_int_equal(tpm_get_caps(e->ctx, &caps), 0);
	assert_true(caps.in_lockout);
	assert_int_equal(
	    tpm_key_load(e->ctx, &blob, (const uint8_t *)"right", 5, &key), 0);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen),
			 TK_ERR_PIN_LOCKED);
	tpm_key_unload(e->ctx, key);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Not asserted: prints what one context does per second on this swtpm. */
static void test_speed(void **state)
{
	struct env *e = *state;
	uint8_t in[256] = { 0 }, out[256];
	size_t olen;
	struct tpm_blob b1, b2;
	struct tpm_key *ec, *rsa;
	double t0, t;
	int n;

	make_key(e, TPM_KEY_EC, 256, &b1, &ec);
	make_key(e, TPM_KEY_RSA, 2048, &b2, &rsa);
	in[255] = 2;
	t0 = now_s();
	for (n = 0; (t = now_s() - t0) < 1.0; n++) {
		olen = sizeof(out);
		assert_int_equal(tpm_ecdsa(e->ctx, ec, in, 32, out, &olen), 0);
	}
	printf("speed: ECDSA P-256 %.0f/s\n", n / t);
	t0 = now_s();
	for (n = 0; (t = now_s() - t0) < 1.0; n++) {
		olen = sizeof(out);
		assert_int_equal(tpm_rsa_raw(e->ctx, rsa, in, 256, out, &olen),
				 0);
	}
	printf("speed: RSA-2048 raw %.0f/s\n", n / t);
	tpm_key_unload(e->ctx, ec);
	tpm_key_unload(e->ctx, rsa);
}

/* swtpm killed under a loaded key: TK_ERR_REMOVED, and again, and a new
 * open too. Its own ctest (the TPM is gone afterwards). */
static void alone_removed(void **state)
{
	struct env *e = *state;
	const char *pid = getenv("TOKEND_TEST_SWTPM_PID");
	uint8_t dgst[32] = { 0 }, sig[64];
	size_t slen = sizeof(sig);
	struct tpm_blob blob;
	struct tpm_key *key;
	struct tpm_ctx *again = NULL;

	assert_non_null(pid);
	make_key(e, TPM_KEY_EC, 256, &blob, &key);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	assert_int_equal(kill((pid_t)atoi(pid), SIGKILL), 0);
	usleep(200 * 1000);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen),
			 TK_ERR_REMOVED);
	assert_int_equal(tpm_key_load(e->ctx, &blob, PIN, PIN_LEN, &key),
			 TK_ERR_REMOVED);
	assert_int_equal(tpm_random(e->ctx, sig, 8), TK_ERR_REMOVED);
	assert_int_equal(tpm_open(tcti(), 0, &again), TK_ERR_REMOVED);
	assert_null(again);
	/* teardown closes e->ctx with the key still loaded. */
}

/* swtpm killed and restarted on the same state before the layer sent
 * anything: the next command finds the session gone (TK_ERR_REMOVED), a new
 * open works and the old blob still loads and signs (same SRK). */
static void alone_restart(void **state)
{
	struct env *e = *state;
	uint8_t dgst[32] = { 3 }, sig[64];
	size_t slen = sizeof(sig);
	struct tpm_blob blob;
	struct tpm_key *key;
	char line[32] = "";
	FILE *p;

	make_key(e, TPM_KEY_EC, 256, &blob, &key);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	/* The harness's swtpm_restart kills the old swtpm and starts a new
	 * one on the same ports and state; we stop that one (teardown). */
	p = popen("bash -c '. " TOKEND_SOURCE_DIR "/tests/harness/swtpm.sh"
		  " && swtpm_restart >&2 && echo $TOKEND_TEST_SWTPM_PID'",
		  "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	restarted_pid = (pid_t)atoi(line);
	assert_true(restarted_pid > 0);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen),
			 TK_ERR_REMOVED);
	tpm_key_unload(e->ctx, key);
	tpm_close(e->ctx);
	assert_int_equal(tpm_open(tcti(), 0, &e->ctx), 0);
	assert_int_equal(tpm_key_load(e->ctx, &blob, PIN, PIN_LEN, &key), 0);
	slen = sizeof(sig);
	assert_int_equal(tpm_ecdsa(e->ctx, key, dgst, 32, sig, &slen), 0);
	tpm_key_unload(e->ctx, key);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecdsa_p256),
		cmocka_unit_test(test_ecdsa_p384),
		cmocka_unit_test(test_rsa2048),
		cmocka_unit_test(test_rsa3072),
		cmocka_unit_test(test_ecdh),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_wrong_auth_no_da),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_corrupt_blobs),
		cmocka_unit_test(test_srk_interop),
		cmocka_unit_test(test_speed),
		cmocka_unit_test(alone_removed),
		cmocka_unit_test(alone_lockout),
		cmocka_unit_test(alone_restart),
	};

	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, setup, teardown);
}
