/* Mechanism parameters on the p11-kit wire (rpc/rpc_mech.c), per the
 * encoding of the version the client offered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "rpc_mech.h"

struct fx {
	struct rpc_arena arena;
	struct rpc_limits lim;
	struct rpc_dctx d;
};

static int dec(uint8_t offered, const uint8_t *p, size_t n, struct fx *f,
	       struct rpc_mech *m, size_t *left)
{
	uint8_t *copy = malloc(n ? n : 1); /* exact size for ASan */
	struct reader r;
	int rc;

	memcpy(copy, p, n);
	r = reader_init(copy, n);
	rpc_arena_init(&f->arena, 1 << 20);
	f->lim = (struct rpc_limits){ 256, 1 << 20, 8 };
	f->d = (struct rpc_dctx){ &f->arena, &f->lim, 0, offered };
	rc = rpc_mech_decode(&r, &f->d, m);
	*left = reader_left(&r);
	free(copy);
	return rc;
}

static void test_v0_vs_v2_bytes(void **state)
{
	/* CKM_RSA_PKCS: v0 a NULL array, v2 nothing */
	static const uint8_t pkcs_v0[] = { 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t pkcs_v2[] = { 0, 0, 0, 1 };
	/* PSS SHA-256/MGF1-SHA256/32: v0 inline, v2 behind a presence byte */
	static const uint8_t pss_v0[] = { 0, 0,    0, 0x0d, 0, 0, 0, 0,   0, 0,
					  2, 0x50, 0, 0,    0, 0, 0, 0,   0, 2,
					  0, 0,    0, 0,    0, 0, 0, 0x20 };
	uint8_t pss_v2[sizeof(pss_v0) + 1];
	static const uint8_t pss_v2_absent[] = { 0, 0, 0, 0x0d, 0 };
	static const uint8_t null_mech[] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t bare_zero[] = { 0, 0, 0, 0 };
	struct rpc_mech m;
	struct fx f;
	size_t left;
	CK_RSA_PKCS_PSS_PARAMS *pss;
	uint8_t v;

	(void)state;
	memcpy(pss_v2, pss_v0, 4);
	pss_v2[4] = 1;
	memcpy(pss_v2 + 5, pss_v0 + 4, sizeof(pss_v0) - 4);

	for (v = 0; v <= 1; v++) {
		assert_int_equal(
		    dec(v, pkcs_v0, sizeof(pkcs_v0), &f, &m, &left), 0);
		assert_int_equal(left, 0);
		assert_null(m.mech.pParameter);
		rpc_arena_free(&f.arena);
		assert_int_equal(dec(v, pss_v0, sizeof(pss_v0), &f, &m, &left),
				 0);
		pss = m.mech.pParameter;
		assert_int_equal(pss->hashAlg, CKM_SHA256);
		assert_int_equal(pss->sLen, 32);
		rpc_arena_free(&f.arena);
		/* the old NULL-mechanism form: a bare type 0 */
		assert_int_equal(dec(v, bare_zero, 4, &f, &m, &left), 0);
		assert_true(m.is_null);
		rpc_arena_free(&f.arena);
	}
	for (v = 2; v != 0 && v <= 200; v = v == 2 ? 200 : 0) {
		assert_int_equal(
		    dec(v, pkcs_v2, sizeof(pkcs_v2), &f, &m, &left), 0);
		assert_int_equal(left, 0);
		rpc_arena_free(&f.arena);
		assert_int_equal(
		    dec(v, pkcs_v0, sizeof(pkcs_v0), &f, &m, &left), 0);
		assert_int_equal(left, 4); /* not consumed: the caller fails */
		rpc_arena_free(&f.arena);
		assert_int_equal(dec(v, pss_v2, sizeof(pss_v2), &f, &m, &left),
				 0);
		assert_int_equal(left, 0);
		assert_int_equal(
		    ((CK_RSA_PKCS_PSS_PARAMS *)m.mech.pParameter)->mgf,
		    CKG_MGF1_SHA256);
		rpc_arena_free(&f.arena);
		assert_int_equal(dec(v, pss_v2_absent, 5, &f, &m, &left), 0);
		assert_null(m.mech.pParameter);
		rpc_arena_free(&f.arena);
		/* type 0 is CKM_RSA_PKCS_KEY_PAIR_GEN here */
		assert_int_equal(dec(v, bare_zero, 4, &f, &m, &left), 0);
		assert_false(m.is_null);
		rpc_arena_free(&f.arena);
	}
	for (v = 0; v <= 2; v++) {
		assert_int_equal(dec(v, null_mech, 4, &f, &m, &left), 0);
		assert_true(m.is_null);
		rpc_arena_free(&f.arena);
	}
}

static void rt(uint8_t offered, CK_MECHANISM_TYPE type, void *param,
	       CK_ULONG len, struct fx *f, struct rpc_mech *out)
{
	struct rpc_mech in = { false, { type, param, len } }, tmp;
	struct fx tf;
	struct buf b;
	size_t left, n;

	buf_init(&b, 0);
	assert_int_equal(rpc_mech_encode(&b, rpc_mech_encoding(offered), &in),
			 0);
	/* every truncation fails */
	for (n = 0; n < b.len; n++) {
		if (dec(offered, b.data, n, &tf, &tmp, &left) == 0 && left == 0)
			fail_msg("truncated mechanism %lx decoded", type);
		rpc_arena_free(&tf.arena);
	}
	assert_int_equal(dec(offered, b.data, b.len, f, out, &left), 0);
	assert_int_equal(left, 0);
	assert_int_equal(out->mech.mechanism, type);
	assert_int_equal(out->mech.ulParameterLen, len);
	buf_free(&b);
}

static void test_param_roundtrips(void **state)
{
	CK_BYTE iv[16] = { 1, 2, 3 }, aad[5] = { 9 }, pub[65] = { 4 };
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256,
					 CKZ_DATA_SPECIFIED, aad, 5 };
	CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, 65, pub };
	CK_GCM_PARAMS gcm = { iv, 12, 96, aad, 5, 128 };
	CK_AES_CTR_PARAMS ctr = { 32, { 7 } };
	CK_ULONG mac = 20;
	struct rpc_eddsa_params ed = { CK_TRUE, 5, aad };
	struct rpc_mech m;
	struct fx f;
	uint8_t v;

	(void)state;
	for (v = 0; v <= 2; v += 2) {
		rt(v, CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep), &f, &m);
		assert_memory_equal(
		    ((CK_RSA_PKCS_OAEP_PARAMS *)m.mech.pParameter)->pSourceData,
		    aad, 5);
		rpc_arena_free(&f.arena);
		rt(v, CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh), &f, &m);
		assert_null(
		    ((CK_ECDH1_DERIVE_PARAMS *)m.mech.pParameter)->pSharedData);
		assert_int_equal(((CK_ECDH1_DERIVE_PARAMS *)m.mech.pParameter)
				     ->ulPublicDataLen,
				 65);
		rpc_arena_free(&f.arena);
		rt(v, CKM_AES_GCM, &gcm, sizeof(gcm), &f, &m);
		assert_int_equal(
		    ((CK_GCM_PARAMS *)m.mech.pParameter)->ulTagBits, 128);
		rpc_arena_free(&f.arena);
		rt(v, CKM_AES_CTR, &ctr, sizeof(ctr), &f, &m);
		assert_int_equal(
		    ((CK_AES_CTR_PARAMS *)m.mech.pParameter)->cb[0], 7);
		rpc_arena_free(&f.arena);
		rt(v, CKM_AES_CBC_PAD, iv, 16, &f, &m);
		rpc_arena_free(&f.arena);
		rt(v, CKM_DES3_CBC, iv, 8, &f, &m);
		rpc_arena_free(&f.arena);
		rt(v, CKM_SHA256_HMAC_GENERAL, &mac, sizeof(mac), &f, &m);
		assert_int_equal(*(CK_ULONG *)m.mech.pParameter, 20);
		rpc_arena_free(&f.arena);
		rt(v, CKM_EDDSA, &ed, sizeof(ed), &f, &m);
		assert_int_equal(
		    ((struct rpc_eddsa_params *)m.mech.pParameter)->phFlag,
		    CK_TRUE);
		rpc_arena_free(&f.arena);
		rt(v, CKM_DH_PKCS_DERIVE, pub, 65, &f, &m);
		rpc_arena_free(&f.arena);
		/* an unlisted parameter travels as bytes */
		rt(v, CKM_VENDOR_DEFINED + 1, aad, 5, &f, &m);
		rpc_arena_free(&f.arena);
	}
}

static void test_bad_params(void **state)
{
	/* AES-CBC with a 15-byte IV, DH derive with an empty value */
	static const uint8_t cbc15[] = { 0, 0, 0x10, 0x82, 0, 0, 0, 15,
					 0, 0, 0,    0,    0, 0, 0, 0,
					 0, 0, 0,    0,    0, 0, 0 };
	static const uint8_t dh0[] = { 0, 0, 0, 0x21, 0, 0, 0, 0 };
	static const uint8_t ctr_null_cb[] = { 0,    0,    0x10, 0x86, 0, 0,
					       0,    0,    0,    0,    0, 32,
					       0xff, 0xff, 0xff, 0xff };
	struct rpc_mech m = { false, { CKM_AES_CBC, "short", 5 } };
	struct fx f;
	struct buf b;
	size_t left;

	(void)state;
	assert_int_equal(dec(0, cbc15, sizeof(cbc15), &f, &m, &left),
			 TK_ERR_INVALID);
	rpc_arena_free(&f.arena);
	assert_int_equal(dec(0, dh0, sizeof(dh0), &f, &m, &left),
			 TK_ERR_INVALID);
	rpc_arena_free(&f.arena);
	assert_int_equal(
	    dec(0, ctr_null_cb, sizeof(ctr_null_cb), &f, &m, &left),
	    TK_ERR_INVALID);
	rpc_arena_free(&f.arena);
	buf_init(&b, 0);
	m = (struct rpc_mech){ false, { CKM_AES_CBC, "short", 5 } };
	assert_int_equal(rpc_mech_encode(&b, RPC_MECH_ENC_V0, &m), TK_ERR_ARG);
	buf_free(&b);
	assert_true(rpc_mech_no_params(CKM_ECDSA_SHA256));
	assert_false(rpc_mech_no_params(CKM_RSA_PKCS_PSS));
	assert_int_equal(rpc_mech_encoding(1), RPC_MECH_ENC_V0);
	assert_int_equal(rpc_mech_encoding(200), RPC_MECH_ENC_V2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v0_vs_v2_bytes),
		cmocka_unit_test(test_param_roundtrips),
		cmocka_unit_test(test_bad_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
