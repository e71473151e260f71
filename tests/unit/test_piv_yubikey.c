/* piv/yubikey.c: FD, F8, F7, F9, FE, FF, FB, FA, F6 against a scripted
 * card, and the metadata parser with truncated and garbled input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "error.h"
#include "piv.h"
#include "reader.h"
#include "script.h"
#include "yubikey.h"

static void test_version_serial(void **state)
{
	static const struct script_step steps[] = {
		{ "00 FD 00 00 00", "05 07 02 9000", 0, NULL },
		{ "00 F8 00 00 00", "00 98 96 81 9000", 0, NULL },
		{ "00 FD 00 00 00", "05 07 9000", 0, NULL },
		{ "00 F8 00 00 00", "6D00", 0, NULL },
	};
	struct script s;
	struct yk_version v;
	uint32_t serial;

	SCRIPT(&s, steps, PIV_EXT_NO);
	assert_false(yk_card_version(s.card, &v));
	assert_int_equal(yk_get_version(s.card, &v), 0);
	assert_int_equal(v.major, 5);
	assert_int_equal(v.minor, 7);
	assert_int_equal(v.patch, 2);
	memset(&v, 0, sizeof(v));
	assert_true(yk_card_version(s.card, &v));
	assert_int_equal(v.minor, 7);
	assert_int_equal(yk_get_serial(s.card, &serial), 0);
	assert_int_equal(serial, 10000001);
	assert_int_equal(yk_get_version(s.card, &v), TK_ERR_DEVICE);
	/* Another vendor's card: no YubiKey extensions. */
	assert_int_equal(yk_get_serial(s.card, &serial), TK_ERR_UNSUPPORTED);
	script_finish(&s);
}

static int md_fn(const uint8_t *p, size_t len)
{
	struct yk_metadata md;

	return yk_metadata_parse(p, len, &md);
}

static void test_metadata(void **state)
{
	EVP_PKEY *pk = EVP_EC_gen("P-384"), *got;
	struct buf tmpl, resp;
	struct yk_metadata md;
	char *hex;

	buf_init(&tmpl, 0);
	buf_init(&resp, 0);
	assert_int_equal(piv_pubkey_encode(pk, NULL, &tmpl), 0);
	buf_add_tlv(&resp, 0x01, (const uint8_t[]){ PIV_ALG_ECCP384 }, 1);
	buf_add_tlv(&resp, 0x02, (const uint8_t[]){ 3, 2 }, 2);
	buf_add_tlv(&resp, 0x03, (const uint8_t[]){ 1 }, 1);
	buf_add_tlv(&resp, 0x04, tmpl.data, tmpl.len);
	hex = bin2hex(resp.data, resp.len);
	hex = realloc(hex, strlen(hex) + 5);
	strcat(hex, "9000");
	{
		struct script_step steps[] = {
			{ "00 F7 00 9C 00", hex, 0, NULL },
			{ "00 F7 00 80 00", "05 01 01 06 02 03 02 9000", 0,
			  NULL },
			{ "00 F7 00 9A 00", "6A88", 0, NULL },
			{ "00 F7 00 9B 00",
			  "01 01 0A 02 02 00 01 05 01 00 9000", 0, NULL },
		};
		struct script s;

		SCRIPT(&s, steps, PIV_EXT_NO);
		assert_int_equal(yk_get_metadata(s.card, 0x9c, &md), 0);
		assert_true(md.has_algorithm && md.has_policy && md.has_origin);
		assert_false(md.has_default || md.has_retries);
		assert_int_equal(md.algorithm, PIV_ALG_ECCP384);
		assert_int_equal(md.pin_policy, PIV_PIN_POLICY_ALWAYS);
		assert_int_equal(md.touch_policy, PIV_TOUCH_POLICY_ALWAYS);
		assert_int_equal(md.origin, YK_ORIGIN_GENERATED);
		assert_int_equal(piv_pubkey_parse(md.algorithm, md.pubkey,
						  md.pubkey_len, &got),
				 0);
		assert_int_equal(EVP_PKEY_eq(pk, got), 1);
		EVP_PKEY_free(got);
		assert_int_equal(yk_get_metadata(s.card, 0x80, &md), 0);
		assert_true(md.is_default);
		assert_int_equal(md.retries_total, 3);
		assert_int_equal(md.retries_left, 2);
		assert_int_equal(yk_get_metadata(s.card, 0x9a, &md),
				 TK_ERR_NOT_FOUND);
		assert_int_equal(yk_get_metadata(s.card, 0x9b, &md), 0);
		assert_int_equal(md.algorithm, PIV_ALG_AES192);
		assert_false(md.is_default);
		script_finish(&s);
	}
	/* Truncations and byte changes of the full answer. */
	for (size_t n = 0; n < resp.len; n++) {
		uint8_t *exact = malloc(n + 1), *m = malloc(resp.len);

		memcpy(exact, resp.data, n);
		(void)md_fn(exact, n);
		for (int b = 0; b < 256; b += 15) {
			memcpy(m, resp.data, resp.len);
			m[n] = (uint8_t)b;
			(void)md_fn(m, resp.len);
		}
		free(exact);
		free(m);
	}
	/* Wrong field sizes and repeated tags are refused. */
	{
		static const char *const bad[] = {
			"01 02 11 11",    "02 01 03",          "05 00",
			"06 03 03 03 03", "01 01 11 01 01 11", "04 82 05 00 00",
		};
		uint8_t in[32];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t n = hex2bin(bad[i], in, sizeof(in));

			assert_int_equal(yk_metadata_parse(in, n, &md),
					 TK_ERR_DEVICE);
			assert_false(md.has_algorithm);
		}
	}
	EVP_PKEY_free(pk);
	buf_free(&tmpl);
	buf_free(&resp);
	free(hex);
}

static void test_attest(void **state)
{
	static const struct script_step steps[] = {
		{ "00 F9 9A 00 00", "30 03 02 01 01 9000", 0, NULL },
		{ "00 F9 9A 00 00", "30 03 02 01 9000", 0, NULL },
		{ "00 F9 9A 00 00", "30 03 02 01 01 00 9000", 0, NULL },
		{ "00 F9 9A 00 00", "6A80", 0, NULL },
	};
	struct script s;
	struct buf der;

	SCRIPT(&s, steps, PIV_EXT_NO);
	buf_init(&der, 0);
	assert_int_equal(yk_attest(s.card, 0x9a, &der), 0);
	assert_int_equal(der.len, 5);
	assert_int_equal(yk_attest(s.card, 0x9a, &der), TK_ERR_DEVICE);
	assert_int_equal(der.len, 0);
	assert_int_equal(yk_attest(s.card, 0x9a, &der), TK_ERR_DEVICE);
	assert_int_equal(yk_attest(s.card, 0x9a, &der), TK_ERR_INVALID);
	assert_int_equal(yk_attest(s.card, 0xf9, &der), TK_ERR_ARG);
	script_finish(&s);
	buf_free(&der);
}

/* The card side of FE: checks the template's shape and sizes. */
struct import_check {
	uint8_t alg, slot;
	size_t part_len, nparts;
	uint8_t first_tag;
};

static int card_import(void *ctx, const uint8_t *c, size_t cl, uint8_t *r,
		       size_t *rl)
{
	const struct import_check *k = ctx;
	struct reader rd = reader_init(c, cl), data;
	uint8_t hdr[4], lc0;
	uint16_t lc;
	uint32_t tag;
	struct reader v;
	size_t parts = 0;
	bool pin = false, touch = false;

	assert_int_equal(reader_get_bytes(&rd, hdr, 4), 0);
	assert_int_equal(hdr[1], 0xfe);
	assert_int_equal(hdr[2], k->alg);
	assert_int_equal(hdr[3], k->slot);
	assert_int_equal(reader_get_u8(&rd, &lc0), 0); /* extended: 00 */
	assert_int_equal(lc0, 0);
	assert_int_equal(reader_get_u16be(&rd, &lc), 0);
	assert_int_equal(reader_get_sub(&rd, lc, &data), 0);
	assert_int_equal(reader_left(&rd), 0); /* no Le: no data back */
	while (reader_left(&data)) {
		assert_int_equal(reader_get_tlv(&data, &tag, &v), 0);
		if (tag == 0xaa) {
			pin = true;
		} else if (tag == 0xab) {
			touch = true;
		} else {
			assert_int_equal(tag, k->first_tag + parts);
			assert_int_equal(v.len, k->part_len);
			parts++;
		}
	}
	assert_int_equal(parts, k->nparts);
	assert_true(pin);
	assert_false(touch);
	r[0] = 0x90, r[1] = 0x00, *rl = 2;
	return 0;
}

static void test_import(void **state)
{
	static const struct script_step steps[] = {
		{ NULL, NULL, 0, card_import },
	};
	const struct {
		EVP_PKEY *pk;
		struct import_check k;
	} cases[] = {
		{ EVP_RSA_gen(1024), { PIV_ALG_RSA1024, 0x9a, 64, 5, 0x01 } },
		{ EVP_EC_gen("P-256"), { PIV_ALG_ECCP256, 0x82, 32, 1, 0x06 } },
		{ EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
		  { PIV_ALG_ED25519, 0x9c, 32, 1, 0x07 } },
		{ EVP_PKEY_Q_keygen(NULL, NULL, "X25519"),
		  { PIV_ALG_X25519, 0x9d, 32, 1, 0x08 } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct script s;

		assert_non_null(cases[i].pk);
		SCRIPT(&s, steps, PIV_EXT_YES);
		s.card_ctx = (void *)&cases[i].k;
		assert_int_equal(yk_import_key(s.card, cases[i].k.slot,
					       cases[i].pk, PIV_PIN_POLICY_ONCE,
					       0),
				 0);
		script_finish(&s);
		EVP_PKEY_free(cases[i].pk);
	}
	{
		EVP_PKEY *e3 =
		    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		EVP_PKEY *k521 = EVP_EC_gen("P-521");
		static const struct script_step none[1];
		struct script s;

		/* Default exponent from Q_keygen is 65537; P-521 has no PIV id.
		 */
		script_start(&s, none, 0, PIV_EXT_YES);
		assert_int_equal(yk_import_key(s.card, 0x9a, k521, 0, 0),
				 TK_ERR_UNSUPPORTED);
		assert_int_equal(yk_import_key(s.card, 0x9b, e3, 0, 0),
				 TK_ERR_ARG);
		script_finish(&s);
		EVP_PKEY_free(e3);
		EVP_PKEY_free(k521);
	}
}

static void test_admin(void **state)
{
	static const struct script_step steps[] = {
		{ "00 FF FF FF 1B 03 9B 18 "
		  "010203040506070801020304050607080102030405060708",
		  "9000", 0, NULL },
		{ "00 FF FF FE 13 08 9B 10 01020304050607080102030405060708",
		  "6982", 0, NULL },
		{ "00 FB 00 00", "6985", 0, NULL },
		{ "00 FA 05 03", "9000", 0, NULL },
		{ "00 F6 83 9A", "9000", 0, NULL },
		{ "00 F6 FF 9E", "6A88", 0, NULL },
	};
	static const uint8_t key[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct script s;

	SCRIPT(&s, steps, PIV_EXT_NO);
	assert_int_equal(yk_set_mgm_key(s.card, PIV_ALG_3DES, key, 24, false),
			 0);
	assert_int_equal(yk_set_mgm_key(s.card, PIV_ALG_AES128, key, 16, true),
			 TK_ERR_AUTH_REQUIRED);
	assert_int_equal(yk_reset(s.card), TK_ERR_DENIED);
	assert_int_equal(yk_set_pin_retries(s.card, 5, 3), 0);
	assert_int_equal(yk_move_key(s.card, 0x9a, 0x83), 0);
	assert_int_equal(yk_delete_key(s.card, 0x9e), TK_ERR_NOT_FOUND);
	/* Caught before the card. */
	assert_int_equal(yk_set_mgm_key(s.card, PIV_ALG_AES256, key, 24, false),
			 TK_ERR_ARG);
	assert_int_equal(yk_set_pin_retries(s.card, 0, 3), TK_ERR_ARG);
	assert_int_equal(yk_move_key(s.card, 0x9a, 0x9a), TK_ERR_ARG);
	assert_int_equal(yk_delete_key(s.card, 0x9b), TK_ERR_ARG);
	script_finish(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_serial),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_attest),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_admin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
