/* piv/piv.c: SELECT, PIN commands, GENERAL AUTHENTICATE and GENERATE, with
 * the exact APDUs each sends and what garbage in their answers gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "error.h"
#include "piv.h"
#include "script.h"

#define SELECT "00 A4 04 00 0B A0000003080000100001 00 00"

static void test_select(void **state)
{
	static const struct script_step steps[] = {
		{ SELECT,
		  "61 11 4F 06 000010000100 79 07 4F 05 A000000308 9000", 0,
		  NULL },
		{ SELECT, "61 0F 4F 06 000010000100 AC 05 80 01 11 06 00 9000",
		  0, NULL },
		{ SELECT, "9000", 0, NULL },
		{ SELECT, "6A82", 0, NULL },
		{ SELECT, "61 20 4F 06 9000", 0, NULL },
		{ SELECT, "62 00 9000", 0, NULL },
		{ SELECT, "61 03 AC 01 80 9000", 0, NULL },
	};
	struct piv_app_info info;
	struct script s;

	SCRIPT(&s, steps, PIV_EXT_NO);
	assert_int_equal(piv_select(s.card, &info), 0);
	assert_int_equal(info.aid_len, 6);
	assert_int_equal(piv_select(s.card, &info), 0);
	assert_int_equal(info.nalgs, 1);
	assert_int_equal(info.algs[0], 0x11);
	assert_int_equal(piv_select(s.card, NULL), 0);
	assert_int_equal(piv_select(s.card, &info), TK_ERR_NOT_FOUND);
	assert_int_equal(piv_select(s.card, &info), TK_ERR_DEVICE);
	assert_int_equal(piv_select(s.card, &info), TK_ERR_DEVICE);
	assert_int_equal(piv_select(s.card, &info), TK_ERR_DEVICE);
	script_finish(&s);
}

static void test_pins(void **state)
{
	static const struct script_step steps[] = {
		{ "00 20 00 80 08 313233343536FFFF", "9000", 0, NULL },
		{ "00 20 00 80 08 3132333435FFFFFF", "63C2", 0, NULL },
		{ "00 20 00 80 08 3132333435FFFFFF", "6983", 0, NULL },
		{ "00 20 00 80", "63C3", 0, NULL },
		{ "00 20 00 80", "9000", 0, NULL },
		{ "00 20 00 81", "6983", 0, NULL },
		{ "00 20 FF 80", "9000", 0, NULL },
		{ "00 24 00 80 10 313233343536FFFF 3635343332317FFF", "63C1", 0,
		  NULL },
		{ "00 2C 00 80 10 3132333435363738 313233343536FFFF", "9000", 0,
		  NULL },
	};
	struct script s;
	int tries;

	SCRIPT(&s, steps, PIV_EXT_NO);
	assert_int_equal(piv_verify(s.card, PIV_REF_PIN,
				    (const uint8_t *)"123456", 6, &tries),
			 0);
	assert_int_equal(tries, -1);
	assert_int_equal(piv_verify(s.card, PIV_REF_PIN,
				    (const uint8_t *)"12345", 5, &tries),
			 TK_ERR_PIN_INCORRECT);
	assert_int_equal(tries, 2);
	assert_int_equal(piv_verify(s.card, PIV_REF_PIN,
				    (const uint8_t *)"12345", 5, &tries),
			 TK_ERR_PIN_LOCKED);
	assert_int_equal(tries, 0);
	assert_int_equal(piv_pin_status(s.card, PIV_REF_PIN, &tries),
			 TK_ERR_AUTH_REQUIRED);
	assert_int_equal(tries, 3);
	assert_int_equal(piv_pin_status(s.card, PIV_REF_PIN, &tries), 0);
	assert_int_equal(piv_pin_status(s.card, PIV_REF_PUK, &tries),
			 TK_ERR_PIN_LOCKED);
	assert_int_equal(piv_logout(s.card, PIV_REF_PIN), 0);
	assert_int_equal(
	    piv_change_reference(s.card, PIV_REF_PIN, (const uint8_t *)"123456",
				 6, (const uint8_t *)"654321\x7f", 7, &tries),
	    TK_ERR_PIN_INCORRECT);
	assert_int_equal(tries, 1);
	assert_int_equal(piv_unblock_pin(s.card, (const uint8_t *)"12345678", 8,
					 (const uint8_t *)"123456", 6, NULL),
			 0);
	/* Impossible PINs cost no APDU. */
	assert_int_equal(piv_verify(s.card, PIV_REF_PIN,
				    (const uint8_t *)"123456789", 9, NULL),
			 TK_ERR_ARG);
	assert_int_equal(piv_verify(s.card, PIV_REF_PIN, NULL, 0, NULL),
			 TK_ERR_ARG);
	script_finish(&s);
}

static void test_sign(void **state)
{
	uint8_t rsa_in[256], hash64[64], p384[48] = { 0 }, sig[600];
	size_t sig_len = sizeof(sig);
	char *rsa_cmd, *d;
	struct script s;

	memset(rsa_in, 0xab, sizeof(rsa_in));
	for (int i = 0; i < 64; i++)
		hash64[i] = (uint8_t)i;
	d = bin2hex(rsa_in, sizeof(rsa_in));
	rsa_cmd = malloc(strlen(d) + 64);
	sprintf(rsa_cmd,
		"00 87 07 9A 00 01 0A 7C 82 01 06 82 00 81 82 01 00 %s 00 00",
		d);
	free(d);
	{
		struct script_step steps[] = {
			{ rsa_cmd, "7C 05 82 03 010203 9000", 0, NULL },
			/* P-256: 32 bytes as given (the front end shaped
			 * them). */
			{ "00 87 11 9C 00 00 26 7C 24 82 00 81 20"
			  "000102030405060708090A0B0C0D0E0F"
			  "101112131415161718191A1B1C1D1E1F 00 00",
			  "7C 04 82 02 3000 9000", 0, NULL },
			/* P-384: 48 bytes as given. */
			{ "00 87 14 9C 00 00 36 7C 34 82 00 81 30"
			  "00000000000000000000000000000000"
			  "000102030405060708090A0B0C0D0E0F"
			  "101112131415161718191A1B1C1D1E1F 00 00",
			  "7C 04 82 02 3000 9000", 0, NULL },
			{ "00 87 E0 9A 00 00 09 7C 07 82 00 81 03 616263 00 00",
			  "7C 04 82 02 AABB 9000", 0, NULL },
			{ NULL, "7C 02 82 00 9000", 0, NULL }, /* empty sig */
			{ NULL, "7C 03 81 01 00 9000", 0, NULL }, /* no 82 */
			{ NULL, "7C 05 82 03 00 9000", 0, NULL }, /* short */
			{ NULL, "7D 03 82 01 00 9000", 0, NULL }, /* not 7C */
			{ NULL, "6982", 0, NULL },
		};

		SCRIPT(&s, steps, PIV_EXT_YES);
		memcpy(p384 + 16, hash64, 32);
		assert_int_equal(piv_sign(s.card, PIV_ALG_RSA2048, 0x9a, rsa_in,
					  256, sig, &sig_len),
				 0);
		assert_int_equal(sig_len, 3);
		assert_memory_equal(sig, "\x01\x02\x03", 3);
		/* A digest not shaped to the field: refused, no APDU. */
		sig_len = sizeof(sig);
		assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP256, 0x9c, hash64,
					  64, sig, &sig_len),
				 TK_ERR_ARG);
		assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP384, 0x9c, hash64,
					  32, sig, &sig_len),
				 TK_ERR_ARG);
		assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP256, 0x9c, hash64,
					  32, sig, &sig_len),
				 0);
		assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP384, 0x9c, p384,
					  48, sig, &sig_len),
				 0);
		/* An answer longer than the caller's buffer. */
		sig_len = 1;
		assert_int_equal(piv_sign(s.card, PIV_ALG_ED25519, 0x9a,
					  (const uint8_t *)"abc", 3, sig,
					  &sig_len),
				 TK_ERR_TOO_LARGE);
		assert_int_equal(sig_len, 1);
		sig_len = sizeof(sig);
		for (int i = 0; i < 4; i++)
			assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP256, 0x9a,
						  hash64, 32, sig, &sig_len),
					 TK_ERR_DEVICE);
		assert_int_equal(piv_sign(s.card, PIV_ALG_ECCP256, 0x9a, hash64,
					  32, sig, &sig_len),
				 TK_ERR_AUTH_REQUIRED);
		/* RSA input of the wrong size, X25519 signing: no APDU. */
		assert_int_equal(piv_sign(s.card, PIV_ALG_RSA2048, 0x9a, rsa_in,
					  255, sig, &sig_len),
				 TK_ERR_ARG);
		assert_int_equal(piv_sign(s.card, PIV_ALG_X25519, 0x9a, rsa_in,
					  32, sig, &sig_len),
				 TK_ERR_ARG);
		script_finish(&s);
	}
	free(rsa_cmd);
}

static void test_decipher_ecdh(void **state)
{
	uint8_t ct[128], pt65[65] = { 0x04 }, out[64];
	size_t out_len = sizeof(out);
	struct script s;
	static const struct script_step steps[] = {
		{ NULL, "7C 05 82 03 000201 9000", 0, NULL },
		{ "00 87 E1 9D 00 00 26 7C 24 82 00 85 20"
		  "000000000000000000000000000000000000000000000000000000000000"
		  "0000 00 00",
		  "7C 22 82 20 "
		  "111111111111111111111111111111111111111111111111111111111111"
		  "1111 9000",
		  0, NULL },
	};

	memset(ct, 1, sizeof(ct));
	SCRIPT(&s, steps, PIV_EXT_YES);
	assert_int_equal(
	    piv_decipher(s.card, PIV_ALG_RSA1024, 0x9d, ct, 128, out, &out_len),
	    0);
	assert_int_equal(out_len, 3);
	out_len = sizeof(out);
	assert_int_equal(
	    piv_ecdh(s.card, PIV_ALG_X25519, 0x9d, pt65 + 1, 32, out, &out_len),
	    0);
	assert_int_equal(out_len, 32);
	assert_int_equal(
	    piv_ecdh(s.card, PIV_ALG_ECCP256, 0x9d, pt65, 64, out, &out_len),
	    TK_ERR_ARG);
	assert_int_equal(
	    piv_ecdh(s.card, PIV_ALG_RSA2048, 0x9d, pt65, 65, out, &out_len),
	    TK_ERR_ARG);
	assert_int_equal(
	    piv_decipher(s.card, PIV_ALG_ECCP256, 0x9d, ct, 32, out, &out_len),
	    TK_ERR_ARG);
	script_finish(&s);
	explicit_bzero(out, sizeof(out));
}

static void test_generate(void **state)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256"), *got = NULL;
	struct buf tmpl, wrapped;
	struct script s;
	char *r, *hex;

	buf_init(&tmpl, 0);
	buf_init(&wrapped, 0);
	assert_int_equal(piv_pubkey_encode(pk, NULL, &tmpl), 0);
	buf_add_tlv(&wrapped, 0x7f49, tmpl.data, tmpl.len);
	hex = bin2hex(wrapped.data, wrapped.len);
	r = malloc(strlen(hex) + 5);
	sprintf(r, "%s9000", hex);
	{
		struct script_step steps[] = {
			{ "00 47 00 9A 0B AC 09 80 01 11 AA 01 03 AB 01 02 00",
			  r, 0, NULL },
			{ "00 47 00 9C 05 AC 03 80 01 11 00",
			  "7F49 03 86 01 04 9000", 0, NULL },
			{ NULL, "7F48 00 9000", 0, NULL },
		};

		SCRIPT(&s, steps, PIV_EXT_NO);
		assert_int_equal(
		    piv_generate(s.card, 0x9a, PIV_ALG_ECCP256, 3, 2, &got), 0);
		assert_int_equal(EVP_PKEY_eq(pk, got), 1);
		EVP_PKEY_free(got);
		assert_int_equal(
		    piv_generate(s.card, 0x9c, PIV_ALG_ECCP256, 0, 0, &got),
		    TK_ERR_DEVICE);
		assert_null(got);
		assert_int_equal(
		    piv_generate(s.card, 0x9c, PIV_ALG_ECCP256, 0, 0, &got),
		    TK_ERR_DEVICE);
		assert_int_equal(
		    piv_generate(s.card, 0x9b, PIV_ALG_ECCP256, 0, 0, &got),
		    TK_ERR_ARG);
		script_finish(&s);
	}
	EVP_PKEY_free(pk);
	buf_free(&tmpl);
	buf_free(&wrapped);
	free(hex);
	free(r);
}

static void test_app_info_torture(void **state)
{
	uint8_t in[64], m[64];
	size_t n = hex2bin(
	    "61 16 4F 06 000010000100 79 07 4F 05 A000000308 AC 03 80 01 07",
	    in, sizeof(in));
	struct piv_app_info info;

	assert_int_equal(piv_app_info_parse(in, n, &info), 0);
	for (size_t len = 0; len < n; len++) {
		uint8_t *exact = malloc(len + 1);

		memcpy(exact, in, len);
		assert_int_not_equal(
		    len == 0 ? -1 : piv_app_info_parse(exact, len, &info), 0);
		free(exact);
		for (int b = 0; b < 256; b += 51) {
			memcpy(m, in, n);
			m[len] = (uint8_t)b;
			(void)piv_app_info_parse(m, n, &info);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_decipher_ecdh),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_app_info_torture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
