/* piv/objects.c and piv/pubkey.c: the slot table, certificate containers
 * (plain and gzip'd), CHUID, Key History, Discovery and 7F49 templates,
 * with truncated and garbled inputs for every parser. */
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
#include <zlib.h>

#include "error.h"
#include "piv.h"
#include "script.h"

typedef int (*parse_fn)(const uint8_t *p, size_t len, void *out);

/* Every prefix and every byte changed to a few values: the parser returns
 * something, never crashes or reads outside (ASan in the sanitizer build). */
static void torture(parse_fn fn, const uint8_t *good, size_t n, void *out)
{
	uint8_t *m = malloc(n ? n : 1);

	for (size_t len = 0; len < n; len++) {
		memcpy(m, good, len);
		/* A copy of exactly len bytes, so an over-read is caught. */
		uint8_t *exact = malloc(len ? len : 1);

		memcpy(exact, good, len);
		(void)fn(exact, len, out);
		free(exact);
	}
	for (size_t i = 0; i < n; i++) {
		static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0x80, 0x81,
						0x82, 0x83, 0x84, 0xff };

		for (size_t v = 0; v < sizeof(vals); v++) {
			memcpy(m, good, n);
			m[i] = vals[v];
			(void)fn(m, n, out);
		}
	}
	free(m);
}

static void test_slot_table(void **state)
{
	uint32_t tag;
	uint8_t slot;

	assert_int_equal(piv_slot_object(0x9a, &tag), 0);
	assert_int_equal(tag, 0x5fc105);
	assert_int_equal(piv_slot_object(0x9c, &tag), 0);
	assert_int_equal(tag, 0x5fc10a);
	assert_int_equal(piv_slot_object(0x9d, &tag), 0);
	assert_int_equal(tag, 0x5fc10b);
	assert_int_equal(piv_slot_object(0x9e, &tag), 0);
	assert_int_equal(tag, 0x5fc101);
	assert_int_equal(piv_slot_object(0x82, &tag), 0);
	assert_int_equal(tag, 0x5fc10d);
	assert_int_equal(piv_slot_object(0x95, &tag), 0);
	assert_int_equal(tag, 0x5fc120);
	assert_int_equal(piv_slot_object(0xf9, &tag), 0);
	assert_int_equal(tag, 0x5fff01);
	assert_int_equal(piv_slot_object(0x9b, &tag), TK_ERR_NOT_FOUND);
	assert_int_equal(piv_slot_object(0x96, &tag), TK_ERR_NOT_FOUND);
	assert_int_equal(piv_slot_object(0x81, &tag), TK_ERR_NOT_FOUND);
	for (unsigned s = 0; s < 256; s++) {
		if (piv_slot_object((uint8_t)s, &tag) == 0) {
			assert_int_equal(piv_object_slot(tag, &slot), 0);
			assert_int_equal(slot, s);
		}
	}
	assert_int_equal(piv_object_slot(0x5fc102, &slot), TK_ERR_NOT_FOUND);
	assert_true(piv_slot_is_key(0x9a));
	assert_true(piv_slot_is_key(0x95));
	assert_false(piv_slot_is_key(0x9b));
	assert_false(piv_slot_is_key(0xf9));
}

static uint8_t *fake_der(size_t n)
{
	uint8_t *d = malloc(n);

	/* Compressible but not trivially so, like a real certificate. */
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)((i % 61) ^ (i / 97));
	d[0] = 0x30;
	return d;
}

/* gzip the way yubikey-manager does, with zlib directly. */
static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t max)
{
	z_stream zs;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
	    deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)max;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	deflateEnd(&zs);
	return max - zs.avail_out;
}

static void make_container(struct buf *b, const uint8_t *cert, size_t n,
			   int info)
{
	buf_reset(b);
	buf_add_tlv(b, 0x70, cert, n);
	if (info >= 0)
		buf_add_tlv(b, 0x71, (const uint8_t[]){ (uint8_t)info }, 1);
	buf_add_tlv(b, 0xfe, NULL, 0);
}

static int cert_parse_fn(const uint8_t *p, size_t len, void *out)
{
	return piv_cert_parse(p, len, out);
}

static void test_cert_plain_and_gzip(void **state)
{
	uint8_t *der = fake_der(1500), z[4096];
	size_t zn = gzip_bytes(der, 1500, z, sizeof(z));
	struct buf obj, out;

	buf_init(&obj, 0);
	buf_init(&out, 0);
	make_container(&obj, der, 1500, 0);
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out), 0);
	assert_int_equal(out.len, 1500);
	assert_memory_equal(out.data, der, 1500);
	make_container(&obj, der, 1500, -1); /* no CertInfo: plain */
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out), 0);
	assert_int_equal(out.len, 1500);

	assert_true(zn < 1500);
	make_container(&obj, z, zn, 1);
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out), 0);
	assert_int_equal(out.len, 1500);
	assert_memory_equal(out.data, der, 1500);
	torture(cert_parse_fn, obj.data, obj.len, &out);

	/* Truncated gzip stream, corrupted stream. */
	make_container(&obj, z, zn - 9, 1);
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out),
			 TK_ERR_DEVICE);
	z[zn / 2] ^= 0xff;
	make_container(&obj, z, zn, 1);
	assert_int_not_equal(piv_cert_parse(obj.data, obj.len, &out), 0);
	/* Empty and deleted objects. */
	assert_int_equal(piv_cert_parse(NULL, 0, &out), TK_ERR_NOT_FOUND);
	make_container(&obj, NULL, 0, 0);
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out),
			 TK_ERR_NOT_FOUND);
	/* Garbage around it. */
	assert_int_equal(
	    piv_cert_parse((const uint8_t[]){ 0x70, 0x05, 0x30 }, 3, &out),
	    TK_ERR_DEVICE);
	assert_int_equal(piv_cert_parse((const uint8_t[]){ 0x70, 0x01, 0x30,
							   0x71, 0x02, 0, 0 },
					7, &out),
			 TK_ERR_DEVICE);
	buf_free(&obj);
	buf_free(&out);
	free(der);
}

/* A small object that inflates past PIV_CERT_MAX is refused. */
static void test_cert_gzip_bomb(void **state)
{
	size_t n = 4 * PIV_CERT_MAX;
	uint8_t *zeros = calloc(1, n), z[8192];
	size_t zn = gzip_bytes(zeros, n, z, sizeof(z));
	struct buf obj, out;

	buf_init(&obj, 0);
	buf_init(&out, 0);
	make_container(&obj, z, zn, 1);
	assert_int_equal(piv_cert_parse(obj.data, obj.len, &out),
			 TK_ERR_TOO_LARGE);
	buf_free(&obj);
	buf_free(&out);
	free(zeros);
}

static void test_cert_build_round_trip(void **state)
{
	uint8_t *der = fake_der(2000);
	struct buf obj, out;

	buf_init(&obj, 0);
	buf_init(&out, 0);
	for (int compress = 0; compress < 2; compress++) {
		assert_int_equal(piv_cert_build(der, 2000, compress, &obj), 0);
		if (compress)
			assert_true(obj.len < 2000);
		assert_int_equal(piv_cert_parse(obj.data, obj.len, &out), 0);
		assert_int_equal(out.len, 2000);
		assert_memory_equal(out.data, der, 2000);
	}
	assert_int_equal(piv_cert_build(der, 0, false, &obj), TK_ERR_ARG);
	buf_free(&obj);
	buf_free(&out);
	free(der);
}

static int chuid_fn(const uint8_t *p, size_t len, void *out)
{
	return piv_chuid_parse(p, len, out);
}

static void test_chuid(void **state)
{
	uint8_t in[128];
	size_t n =
	    hex2bin("30 19 D4E739DA739CED39CE739D836858210842108421C84210C3EB"
		    "34 10 00112233445566778899AABBCCDDEEFF"
		    "35 08 3230333030313031"
		    "3E 00 FE 00",
		    in, sizeof(in));
	struct piv_chuid c;

	assert_int_equal(piv_chuid_parse(in, n, &c), 0);
	assert_true(c.has_fascn && c.has_guid && c.has_expiry);
	assert_int_equal(c.guid[0], 0x00);
	assert_int_equal(c.guid[15], 0xff);
	assert_int_equal(c.fascn[0], 0xd4);
	assert_string_equal(c.expiry, "20300101");
	torture(chuid_fn, in, n, &c);
	/* GUID of the wrong size; a repeated tag. */
	n = hex2bin("34 0F 00112233445566778899AABBCCDDEE", in, sizeof(in));
	assert_int_equal(piv_chuid_parse(in, n, &c), TK_ERR_DEVICE);
	assert_false(c.has_guid);
	n = hex2bin("34 01 00 34 01 00", in, sizeof(in));
	assert_int_equal(piv_chuid_parse(in, n, &c), TK_ERR_DEVICE);
	assert_int_equal(piv_chuid_parse(NULL, 0, &c), 0);
	assert_false(c.has_guid || c.has_fascn);
}

static int kh_fn(const uint8_t *p, size_t len, void *out)
{
	return piv_key_history_parse(p, len, out);
}

static int disc_fn(const uint8_t *p, size_t len, void *out)
{
	return piv_discovery_parse(p, len, out);
}

static void test_key_history_discovery(void **state)
{
	uint8_t in[64];
	size_t n =
	    hex2bin("C1 01 03 C2 01 02 F3 04 68747470 FE 00", in, sizeof(in));
	struct piv_key_history kh;
	struct piv_discovery d;

	assert_int_equal(piv_key_history_parse(in, n, &kh), 0);
	assert_int_equal(kh.on_card, 3);
	assert_int_equal(kh.off_card, 2);
	assert_true(kh.has_url);
	torture(kh_fn, in, n, &kh);
	n = hex2bin("C1 01 15", in, sizeof(in)); /* 21 > 20 retired slots */
	assert_int_equal(piv_key_history_parse(in, n, &kh), TK_ERR_DEVICE);
	n = hex2bin("C1 01 0F C2 01 0F", in, sizeof(in));
	assert_int_equal(piv_key_history_parse(in, n, &kh), TK_ERR_DEVICE);

	n = hex2bin("4F 0B A0000003080000100001 00 5F2F 02 4000", in,
		    sizeof(in));
	assert_int_equal(piv_discovery_parse(in, n, &d), 0);
	assert_int_equal(d.aid_len, 11);
	assert_true(d.has_pin_policy);
	assert_int_equal(d.pin_policy[0], 0x40);
	torture(disc_fn, in, n, &d);
	n = hex2bin("4F 11 A0000003080000100001000000000000", in, sizeof(in));
	assert_int_equal(piv_discovery_parse(in, n, &d), TK_ERR_DEVICE);
}

static EVP_PKEY *gen(const char *alg, const char *param)
{
	EVP_PKEY *pk = NULL;

	if (strcmp(alg, "RSA") == 0)
		pk = EVP_RSA_gen((unsigned)atoi(param));
	else if (strcmp(alg, "EC") == 0)
		pk = EVP_EC_gen(param);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, alg);
	assert_non_null(pk);
	return pk;
}

static void test_pubkey_round_trip(void **state)
{
	static const struct {
		const char *alg, *param;
		uint8_t piv;
	} keys[] = {
		{ "RSA", "1024", PIV_ALG_RSA1024 },
		{ "RSA", "2048", PIV_ALG_RSA2048 },
		{ "EC", "P-256", PIV_ALG_ECCP256 },
		{ "EC", "P-384", PIV_ALG_ECCP384 },
		{ "ED25519", NULL, PIV_ALG_ED25519 },
		{ "X25519", NULL, PIV_ALG_X25519 },
	};
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		EVP_PKEY *pk = gen(keys[i].alg, keys[i].param), *back;
		uint8_t alg = 0;

		assert_int_equal(piv_pubkey_encode(pk, &alg, &b), 0);
		assert_int_equal(alg, keys[i].piv);
		assert_int_equal(piv_pubkey_parse(alg, b.data, b.len, &back),
				 0);
		assert_int_equal(EVP_PKEY_eq(pk, back), 1);
		EVP_PKEY_free(back);
		/* Every truncation fails cleanly. */
		for (size_t n = 0; n < b.len; n++) {
			assert_int_not_equal(
			    piv_pubkey_parse(alg, b.data, n, &back), 0);
			assert_null(back);
		}
		/* The template of one algorithm is not another's. */
		assert_int_not_equal(piv_pubkey_parse(alg == PIV_ALG_RSA1024
							  ? PIV_ALG_RSA2048
							  : PIV_ALG_RSA1024,
						      b.data, b.len, &back),
				     0);
		EVP_PKEY_free(pk);
	}
	buf_free(&b);
}

static void test_pubkey_garbage(void **state)
{
	uint8_t in[128];
	EVP_PKEY *pk;
	size_t n;

	/* A P-256 "point" that is not on the curve. */
	memset(in, 0, sizeof(in));
	in[0] = 0x86;
	in[1] = 65;
	in[2] = 0x04;
	in[3] = 1;
	assert_int_equal(piv_pubkey_parse(PIV_ALG_ECCP256, in, 67, &pk),
			 TK_ERR_DEVICE);
	in[2] = 0x02; /* compressed form is not what PIV sends */
	assert_int_equal(piv_pubkey_parse(PIV_ALG_ECCP256, in, 67, &pk),
			 TK_ERR_DEVICE);
	n = hex2bin("86 1F 00", in, sizeof(in));
	assert_int_equal(piv_pubkey_parse(PIV_ALG_ED25519, in, n, &pk),
			 TK_ERR_DEVICE);
	n = hex2bin("81 01 05 82 01 03", in, sizeof(in)); /* tiny modulus */
	assert_int_equal(piv_pubkey_parse(PIV_ALG_RSA2048, in, n, &pk),
			 TK_ERR_DEVICE);
	assert_int_equal(piv_pubkey_parse(0x42, in, n, &pk),
			 TK_ERR_UNSUPPORTED);
	assert_true(piv_alg_is_rsa(PIV_ALG_RSA4096));
	assert_int_equal(piv_alg_size(PIV_ALG_RSA3072), 384);
	assert_int_equal(piv_alg_size(PIV_ALG_ECCP384), 48);
	assert_false(piv_alg_is_ec(PIV_ALG_X25519));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_table),
		cmocka_unit_test(test_cert_plain_and_gzip),
		cmocka_unit_test(test_cert_gzip_bomb),
		cmocka_unit_test(test_cert_build_round_trip),
		cmocka_unit_test(test_chuid),
		cmocka_unit_test(test_key_history_discovery),
		cmocka_unit_test(test_pubkey_round_trip),
		cmocka_unit_test(test_pubkey_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
