/* piv/apdu.c on iso7816/: short and extended APDUs, the extended-length
 * probe on GET DATA, command chaining, 61xx and 6Cxx, the status words, and
 * what a misbehaving card or transport gets back, as PIV commands see them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "iso7816.h"
#include "piv.h"
#include "script.h"

#define GET_CERT_EXT "00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00"
#define GET_CERT_SHORT "00 CB 3F FF 05 5C 03 5F C1 05 00"
#define GET_CERT_SHORT_LE4 "00 CB 3F FF 05 5C 03 5F C1 05 04"

/* The PIV names of the status-word table are iso7816's (its table is
 * tested in test_iso7816.c), for every status word. */
static void test_sw_table(void **state)
{
	for (uint32_t sw = 0; sw <= 0xffff; sw++) {
		assert_int_equal(piv_sw_error((uint16_t)sw),
				 iso7816_sw_error((uint16_t)sw));
		assert_int_equal(piv_sw_tries((uint16_t)sw),
				 iso7816_sw_tries((uint16_t)sw));
	}
	assert_int_equal(piv_sw_error(0x6a82), TK_ERR_NOT_FOUND);
	assert_int_equal(piv_sw_tries(0x63c2), 2);
}

/* A certificate object of n value bytes, wrapped in 53, as hex + SW. */
static char *cert_object_hex(size_t n, const char *sw, uint8_t **raw,
			     size_t *rawlen)
{
	struct buf b;
	uint8_t *v = malloc(n);
	char *hex, *out;

	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 7);
	buf_init(&b, 0);
	buf_add_tlv(&b, 0x53, v, n);
	hex = bin2hex(b.data, b.len);
	out = malloc(strlen(hex) + strlen(sw) + 1);
	strcpy(out, hex);
	strcat(out, sw);
	free(hex);
	*raw = v;
	if (rawlen)
		*rawlen = b.len;
	buf_free(&b);
	return out;
}

/* The efficiency promise: a 2 KB certificate is one APDU when the card
 * takes extended length, and the library remembers that it does. */
static void test_ext_probe_one_apdu(void **state)
{
	uint8_t *raw;
	char *r = cert_object_hex(2048, "9000", &raw, NULL);
	struct script_step steps[] = {
		{ GET_CERT_EXT, r, 0, NULL },
		{ "00 CB 3F FF 00 00 03 5C 01 7E 00 00", "6A82", 0, NULL },
	};
	struct script s;
	struct buf out;

	SCRIPT(&s, steps, PIV_EXT_UNKNOWN);
	buf_init(&out, 0);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out), 0);
	assert_int_equal(out.len, 2048);
	assert_memory_equal(out.data, raw, 2048);
	assert_int_equal(piv_card_apdu_count(s.card), 1);
	assert_int_equal(piv_card_extended(s.card), PIV_EXT_YES);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_DISCOVERY, &out),
			 TK_ERR_NOT_FOUND);
	script_finish(&s);
	buf_free(&out);
	free(raw);
	free(r);
}

/* A card that refuses extended length: the probe is resent short, the
 * 61xx chain is followed to the end, and NO is remembered. */
static void test_ext_refused_61xx_chain(void **state)
{
	uint8_t *raw;
	size_t total;
	char *all = cert_object_hex(1996, "", &raw, &total);
	char *chunk[8];
	struct script_step steps[11];
	struct script s;
	struct buf out;
	size_t k = 0;

	assert_int_equal(total, 2000);
	steps[k++] = (struct script_step){ GET_CERT_EXT, "6700", 0, NULL };
	for (int i = 0; i < 8; i++) {
		size_t off = (size_t)i * 256 * 2, n = i < 7 ? 256 : 208;
		const char *sw = i < 6 ? "6100" : i == 6 ? "61D0" : "9000";

		chunk[i] = malloc(2 * n + 5);
		memcpy(chunk[i], all + off, 2 * n);
		strcpy(chunk[i] + 2 * n, sw);
		steps[k++] = (struct script_step){ i == 0   ? GET_CERT_SHORT
						   : i == 7 ? "00 C0 00 00 D0"
							    : "00 C0 00 00 00",
						   chunk[i], 0, NULL };
	}
	steps[k++] = (struct script_step){ "00 CB 3F FF 03 5C 01 7E 00",
					   "7E 00 9000", 0, NULL };
	s.n = 0;
	script_start(&s, steps, k, PIV_EXT_UNKNOWN);
	buf_init(&out, 0);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out), 0);
	assert_int_equal(out.len, 1996);
	assert_memory_equal(out.data, raw, 1996);
	assert_int_equal(piv_card_extended(s.card), PIV_EXT_NO);
	assert_int_equal(piv_card_apdu_count(s.card), 9);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_DISCOVERY, &out), 0);
	assert_int_equal(out.len, 0);
	script_finish(&s);
	for (int i = 0; i < 8; i++)
		free(chunk[i]);
	buf_free(&out);
	free(all);
	free(raw);
}

/* A reader that fails extended APDUs at the transport: same fallback. */
static void test_ext_probe_transport_error(void **state)
{
	static const struct script_step steps[] = {
		{ GET_CERT_EXT, NULL, TK_ERR_TRANSPORT, NULL },
		{ GET_CERT_SHORT, "53 03 70 01 00 9000", 0, NULL },
	};
	struct script s;
	struct buf out;

	SCRIPT(&s, steps, PIV_EXT_UNKNOWN);
	buf_init(&out, 0);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out), 0);
	assert_int_equal(out.len, 3);
	assert_int_equal(piv_card_extended(s.card), PIV_EXT_NO);
	script_finish(&s);
	buf_free(&out);
}

/* Removal and reset reach the driver unchanged, even mid-chain. */
static void test_removed_reset_pass_through(void **state)
{
	static const struct script_step steps[] = {
		{ GET_CERT_EXT, NULL, TK_ERR_REMOVED, NULL },
		{ GET_CERT_SHORT, "53 82 01 00 0000 6100", 0, NULL },
		{ "00 C0 00 00 00", NULL, TK_ERR_RESET, NULL },
		{ GET_CERT_SHORT, NULL, 7, NULL }, /* positive: bad transport */
	};
	struct script s;
	struct buf out;

	SCRIPT(&s, steps, PIV_EXT_UNKNOWN);
	buf_init(&out, 0);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_REMOVED);
	assert_int_equal(piv_card_extended(s.card), PIV_EXT_UNKNOWN);
	piv_card_set_extended(s.card, PIV_EXT_NO);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_RESET);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_TRANSPORT);
	script_finish(&s);
	buf_free(&out);
}

static void test_6cxx_retry(void **state)
{
	static const struct script_step steps[] = {
		{ GET_CERT_SHORT, "6C04", 0, NULL },
		{ GET_CERT_SHORT_LE4, "53 02 AA BB 9000", 0, NULL },
		{ GET_CERT_SHORT, "6C04", 0, NULL },
		{ GET_CERT_SHORT_LE4, "6C04", 0, NULL },
	};
	struct script s;
	struct buf out;

	SCRIPT(&s, steps, PIV_EXT_NO);
	buf_init(&out, 0);
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out), 0);
	assert_int_equal(out.len, 2);
	/* A card that keeps saying 6Cxx is not followed forever. */
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_DEVICE);
	script_finish(&s);
	buf_free(&out);
}

/* PUT DATA of 609 bytes: chained in 255-byte parts when the card is short
 * only, one APDU when it takes extended length. */
static void test_chaining_and_extended_put(void **state)
{
	uint8_t cert[600], body[700];
	struct buf b;
	char *h[4];
	struct script_step steps[4];
	struct script s;

	for (size_t i = 0; i < sizeof(cert); i++)
		cert[i] = (uint8_t)i;
	buf_init(&b, 0);
	buf_add(&b, (const uint8_t[]){ 0x5c, 0x03, 0x5f, 0xc1, 0x05 }, 5);
	buf_add_tlv(&b, 0x53, cert, sizeof(cert));
	assert_int_equal(b.len, 609);
	memcpy(body, b.data, b.len);
	for (int i = 0; i < 3; i++) {
		size_t off = (size_t)i * 255, n = i < 2 ? 255 : 99;
		char *d = bin2hex(body + off, n);

		h[i] = malloc(strlen(d) + 16);
		sprintf(h[i], "%s DB 3F FF %02zX %s", i < 2 ? "10" : "00", n,
			d);
		free(d);
		steps[i] = (struct script_step){ h[i], "9000", 0, NULL };
	}
	{
		char *d = bin2hex(body, 609);

		h[3] = malloc(strlen(d) + 32);
		sprintf(h[3], "00 DB 3F FF 00 02 61 %s", d);
		free(d);
		steps[3] = (struct script_step){ h[3], "9000", 0, NULL };
	}
	script_start(&s, steps, 3, PIV_EXT_NO);
	assert_int_equal(piv_put_data(s.card, PIV_OBJ_AUTH, cert, 600), 0);
	script_finish(&s);
	script_start(&s, steps + 3, 1, PIV_EXT_YES);
	assert_int_equal(piv_put_data(s.card, PIV_OBJ_AUTH, cert, 600), 0);
	script_finish(&s);
	for (int i = 0; i < 4; i++)
		free(h[i]);
	buf_free(&b);
}

/* An error in the middle of a chain stops it there. */
static void test_chaining_error(void **state)
{
	uint8_t data[300] = { 0 };
	struct script_step steps[1] = { { NULL, "6982", 0, NULL } };
	struct script s;

	script_start(&s, steps, 1, PIV_EXT_NO);
	assert_int_equal(
	    piv_command(s.card, 0xdb, 0x3f, 0xff, data, sizeof(data), NULL),
	    TK_ERR_AUTH_REQUIRED);
	script_finish(&s);
}

/* Truncated and garbled answers are TK_ERR_DEVICE. */
static void test_garbage(void **state)
{
	static const struct script_step steps[] = {
		{ GET_CERT_SHORT, "90", 0, NULL },         /* no full SW */
		{ GET_CERT_SHORT, "", 0, NULL },           /* nothing */
		{ GET_CERT_SHORT, "54 00 9000", 0, NULL }, /* wrong tag */
		{ GET_CERT_SHORT, "53 05 01 02 9000", 0, NULL }, /* short */
		{ GET_CERT_SHORT, "53 00 00 9000", 0, NULL },    /* trailing */
		{ GET_CERT_SHORT, "53 84 00 00 00 01 00 9000", 0, NULL },
		{ GET_CERT_SHORT, "9000", 0, NULL },    /* no object */
		{ GET_CERT_SHORT, "AA 6F00", 0, NULL }, /* unknown error */
	};
	struct script s;
	struct buf out;

	SCRIPT(&s, steps, PIV_EXT_NO);
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
				 TK_ERR_DEVICE);
	script_finish(&s);
	buf_free(&out);
}

static int endless_61(void *ctx, const uint8_t *c, size_t cl, uint8_t *r,
		      size_t *rl)
{
	size_t n = *(size_t *)ctx;

	memset(r, 0x11, n);
	r[n] = 0x61;
	r[n + 1] = 0x00;
	*rl = n + 2;
	return 0;
}

/* A 61xx chain that never ends, with or without data, is cut off. */
static void test_endless_chains(void **state)
{
	struct script_step *steps = calloc(400, sizeof(*steps));
	struct script s;
	struct buf out;
	size_t n;

	for (size_t i = 0; i < 400; i++)
		steps[i].card = endless_61;
	buf_init(&out, 0);
	n = 0; /* 61 00 with no data: the step cap stops it */
	script_start(&s, steps, 301, PIV_EXT_NO);
	s.card_ctx = &n;
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_DEVICE);
	script_finish(&s);
	n = 256; /* 256 bytes a time: the 64 KiB cap stops it */
	script_start(&s, steps, 257, PIV_EXT_NO);
	s.card_ctx = &n;
	assert_int_equal(piv_get_data(s.card, PIV_OBJ_AUTH, &out),
			 TK_ERR_DEVICE);
	script_finish(&s);
	buf_free(&out);
	free(steps);
}

static void test_bad_args(void **state)
{
	struct piv_transport t = { NULL, NULL };
	struct piv_card *c = (struct piv_card *)1;
	static const struct script_step none[1];
	struct script s;
	uint16_t sw;

	assert_int_equal(piv_card_new(&t, &c), TK_ERR_ARG);
	assert_null(c);
	piv_card_free(&c);
	piv_card_free(NULL);
	script_start(&s, none, 0, PIV_EXT_NO);
	assert_int_equal(
	    piv_transmit(s.card, 0xdb, 0, 0, NULL, 70000, NULL, &sw),
	    TK_ERR_ARG);
	assert_int_equal(piv_transmit(s.card, 0xdb, 0, 0, NULL, 3, NULL, &sw),
			 TK_ERR_ARG);
	assert_int_equal(piv_get_data(s.card, 0x1000000, NULL), TK_ERR_ARG);
	script_finish(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sw_table),
		cmocka_unit_test(test_ext_probe_one_apdu),
		cmocka_unit_test(test_ext_refused_61xx_chain),
		cmocka_unit_test(test_ext_probe_transport_error),
		cmocka_unit_test(test_removed_reset_pass_through),
		cmocka_unit_test(test_6cxx_retry),
		cmocka_unit_test(test_chaining_and_extended_put),
		cmocka_unit_test(test_chaining_error),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_endless_chains),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
