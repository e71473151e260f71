/* piv/mgm.c: management-key mutual authentication against a scripted card
 * that does the real crypto (3DES, AES-128/192/256). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "error.h"
#include "piv.h"
#include "script.h"

struct mgm_card {
	uint8_t alg;
	const uint8_t *key; /* the card's key */
	size_t block;
	uint8_t witness[16];
	bool lie;           /* answer the challenge wrongly */
	bool short_witness; /* send a witness one byte short */
};

static void ecb(const struct mgm_card *m, bool enc, const uint8_t *in,
		uint8_t *out)
{
	const EVP_CIPHER *c = m->alg == PIV_ALG_3DES     ? EVP_des_ede3_ecb()
			      : m->alg == PIV_ALG_AES128 ? EVP_aes_128_ecb()
			      : m->alg == PIV_ALG_AES192 ? EVP_aes_192_ecb()
							 : EVP_aes_256_ecb();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	assert_int_equal(EVP_CipherInit_ex(ctx, c, NULL, m->key, NULL, enc), 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_int_equal(EVP_CipherUpdate(ctx, out, &n, in, (int)m->block), 1);
	assert_int_equal(n, (int)m->block);
	EVP_CIPHER_CTX_free(ctx);
}

/* Step 1: 00 87 alg 9B 04 7C 02 80 00 00 -> 7C { 80 E(witness) }. */
static int card_witness(void *ctx, const uint8_t *c, size_t cl, uint8_t *r,
			size_t *rl)
{
	struct mgm_card *m = ctx;
	const uint8_t want[] = { 0x00, 0x87, m->alg, 0x9b, 0x04,
				 0x7c, 0x02, 0x80,   0x00, 0x00 };
	size_t n = m->short_witness ? m->block - 1 : m->block;

	assert_int_equal(cl, sizeof(want));
	assert_memory_equal(c, want, cl);
	RAND_bytes(m->witness, (int)m->block);
	r[0] = 0x7c;
	r[1] = (uint8_t)(n + 2);
	r[2] = 0x80;
	r[3] = (uint8_t)n;
	ecb(m, true, m->witness, r + 4);
	r[4 + n] = 0x90;
	r[5 + n] = 0x00;
	*rl = n + 6;
	return 0;
}

/* Step 2: 7C { 80 witness, 81 challenge } -> 7C { 82 E(challenge) }, or
 * 6982 when the witness came back wrong. */
static int card_response(void *ctx, const uint8_t *c, size_t cl, uint8_t *r,
			 size_t *rl)
{
	struct mgm_card *m = ctx;
	size_t b = m->block;

	assert_int_equal(cl, 5 + 2 + 2 * (2 + b) + 1);
	assert_int_equal(c[4], 2 + 2 * (2 + b));
	assert_int_equal(c[5], 0x7c);
	assert_int_equal(c[7], 0x80);
	assert_int_equal(c[8], b);
	assert_int_equal(c[9 + b], 0x81);
	assert_int_equal(c[10 + b], b);
	if (memcmp(c + 9, m->witness, b) != 0) {
		r[0] = 0x69, r[1] = 0x82, *rl = 2;
		return 0;
	}
	r[0] = 0x7c;
	r[1] = (uint8_t)(b + 2);
	r[2] = 0x82;
	r[3] = (uint8_t)b;
	ecb(m, true, c + 11 + b, r + 4);
	if (m->lie)
		r[4] ^= 1;
	r[4 + b] = 0x90;
	r[5 + b] = 0x00;
	*rl = b + 6;
	return 0;
}

static const struct script_step exchange[] = {
	{ NULL, NULL, 0, card_witness },
	{ NULL, NULL, 0, card_response },
};

static int run(struct mgm_card *m, const uint8_t *key, size_t keylen,
	       size_t steps)
{
	struct script s;
	int rc;

	script_start(&s, exchange, steps, PIV_EXT_NO);
	s.card_ctx = m;
	rc = piv_mgm_auth(s.card, m->alg, key, keylen);
	script_finish(&s);
	return rc;
}

static void test_all_algorithms(void **state)
{
	static const struct {
		uint8_t alg;
		size_t len, block;
	} algs[] = { { PIV_ALG_3DES, 24, 8 },
		     { PIV_ALG_AES128, 16, 16 },
		     { PIV_ALG_AES192, 24, 16 },
		     { PIV_ALG_AES256, 32, 16 } };
	uint8_t key[32], wrong[32];

	for (size_t i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 13 + 1), wrong[i] = (uint8_t)~key[i];
	for (size_t i = 0; i < 4; i++) {
		struct mgm_card m = { .alg = algs[i].alg,
				      .key = key,
				      .block = algs[i].block };

		assert_int_equal(piv_mgm_key_len(algs[i].alg), algs[i].len);
		assert_int_equal(run(&m, key, algs[i].len, 2), 0);
		assert_int_equal(run(&m, wrong, algs[i].len, 2),
				 TK_ERR_PIN_INCORRECT);
		m.lie = true; /* a card that does not hold the key */
		assert_int_equal(run(&m, key, algs[i].len, 2), TK_ERR_DEVICE);
		m.lie = false;
		m.short_witness = true;
		assert_int_equal(run(&m, key, algs[i].len, 1), TK_ERR_DEVICE);
		/* Wrong key length or algorithm: no APDU at all. */
		assert_int_equal(run(&m, key, algs[i].len - 1, 0), TK_ERR_ARG);
	}
	assert_int_equal(piv_mgm_key_len(PIV_ALG_RSA2048), 0);
}

/* The card's errors and garbage on either step. */
static void test_card_errors(void **state)
{
	static const uint8_t key[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const struct script_step steps[] = {
		{ "00 87 03 9B 04 7C 02 80 00 00", "6A80", 0, NULL },
		{ "00 87 03 9B 04 7C 02 80 00 00",
		  "7C 0A 81 08 0102030405060708 9000", 0, NULL },
		{ "00 87 03 9B 04 7C 02 80 00 00",
		  "7C 0B 80 08 0102030405060708 9000", 0, NULL },
		{ "00 87 03 9B 04 7C 02 80 00 00",
		  "7C 0A 80 08 0102030405060708 00 9000", 0, NULL },
		{ "00 87 03 9B 04 7C 02 80 00 00", NULL, TK_ERR_REMOVED, NULL },
	};
	static const int want[] = { TK_ERR_INVALID, TK_ERR_DEVICE,
				    TK_ERR_DEVICE, TK_ERR_DEVICE,
				    TK_ERR_REMOVED };
	struct script s;

	SCRIPT(&s, steps, PIV_EXT_NO);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(piv_mgm_auth(s.card, PIV_ALG_3DES, key, 24),
				 want[i]);
	script_finish(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_algorithms),
		cmocka_unit_test(test_card_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
