/* iso7816/: the status-word table, and what a card-neutral caller controls
 * that the PIV tests (test_piv_apdu.c) do not: the class byte through
 * chaining and GET RESPONSE, and which commands may probe extended length. */
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
#include "script.h"

/* The expected C-APDUs and the answers, as for script.c. */
struct exp {
	const struct script_step *steps;
	size_t n, pos;
};

static int exp_transmit(void *ctx, const uint8_t *capdu, size_t clen,
			uint8_t *rapdu, size_t *rlen)
{
	struct exp *e = ctx;
	static uint8_t want[70000];
	size_t wl;

	assert_true(e->pos < e->n);
	wl = hex2bin(e->steps[e->pos].capdu, want, sizeof(want));
	assert_int_equal(clen, wl);
	assert_memory_equal(capdu, want, wl);
	*rlen = hex2bin(e->steps[e->pos++].rapdu, rapdu, *rlen);
	return 0;
}

static struct iso7816_card *card(struct exp *e, const struct script_step *s,
				 size_t n, enum iso7816_ext ext)
{
	struct iso7816_transport t = { exp_transmit, e };
	struct iso7816_card *c;

	e->steps = s;
	e->n = n;
	e->pos = 0;
	assert_int_equal(iso7816_card_new(&t, &c), 0);
	iso7816_card_set_extended(c, ext);
	return c;
}

static void test_sw_table(void **state)
{
	static const struct {
		uint16_t sw;
		int err;
	} t[] = {
		{ 0x9000, 0 },
		{ 0x63c2, TK_ERR_PIN_INCORRECT },
		{ 0x6300, TK_ERR_PIN_INCORRECT },
		{ 0x6983, TK_ERR_PIN_LOCKED },
		{ 0x6982, TK_ERR_AUTH_REQUIRED },
		{ 0x6a82, TK_ERR_NOT_FOUND },
		{ 0x6a88, TK_ERR_NOT_FOUND },
		{ 0x6985, TK_ERR_DENIED },
		{ 0x6a80, TK_ERR_INVALID },
		{ 0x6a86, TK_ERR_INVALID },
		{ 0x6700, TK_ERR_INVALID },
		{ 0x6d00, TK_ERR_UNSUPPORTED },
		{ 0x6e00, TK_ERR_UNSUPPORTED },
		{ 0x6a81, TK_ERR_UNSUPPORTED },
		{ 0x6f00, TK_ERR_DEVICE },
		{ 0x1234, TK_ERR_DEVICE },
		{ 0x6100, TK_ERR_DEVICE },
		{ 0x6a84, TK_ERR_TOO_LARGE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(iso7816_sw_error(t[i].sw), t[i].err);
	assert_int_equal(iso7816_sw_tries(0x63c2), 2);
	assert_int_equal(iso7816_sw_tries(0x63c0), 0);
	assert_int_equal(iso7816_sw_tries(0x6983), 0);
	assert_int_equal(iso7816_sw_tries(0x9000), -1);
}

/* A proprietary class (80) with 300 bytes: the first part goes as 90 (the
 * chaining bit), the last as 80; the 61xx that follows is fetched with an
 * interindustry GET RESPONSE on the same channel (00). */
static void test_class_byte(void **state)
{
	uint8_t data[300];
	char c1[16 + 2 * 255], c2[16 + 2 * 45];
	struct script_step steps[3];
	struct exp e;
	struct iso7816_card *c;
	struct iso7816_apdu a = { 0x80, 0xe2,         0x01, 0x02,
				  data, sizeof(data), false };
	struct buf resp;
	uint16_t sw;
	char *h;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	h = bin2hex(data, sizeof(data));
	snprintf(c1, sizeof(c1), "90E20102FF%.510s", h);
	snprintf(c2, sizeof(c2), "80E201022D%s00", h + 510);
	steps[0] = (struct script_step){ c1, "9000", 0, NULL };
	steps[1] = (struct script_step){ c2, "AABB 6102", 0, NULL };
	steps[2] = (struct script_step){ "00C0000002", "CCDD 9000", 0, NULL };
	c = card(&e, steps, 3, ISO7816_EXT_NO);
	buf_init(&resp, 0);
	assert_int_equal(iso7816_transmit(c, &a, &resp, &sw), 0);
	assert_int_equal(sw, 0x9000);
	assert_int_equal(resp.len, 4);
	assert_memory_equal(resp.data, "\xaa\xbb\xcc\xdd", 4);
	assert_int_equal(e.pos, 3);
	assert_int_equal(iso7816_card_apdu_count(c), 3);
	buf_free(&resp);
	free(h);
	iso7816_card_free(&c);
	assert_null(c);
}

/* While extended length is unknown only a command marked probe tests it:
 * an unmarked one goes short and learns nothing. */
static void test_probe_only_when_marked(void **state)
{
	static const struct script_step steps[] = {
		{ "00B0000000", "0102 9000", 0, NULL },
		{ "00B00000000000", "0304 9000", 0, NULL },
		{ "00B00000000000", "6A82", 0, NULL },
	};
	struct iso7816_apdu a = { 0x00, 0xb0, 0, 0, NULL, 0, false };
	struct exp e;
	struct iso7816_card *c = card(&e, steps, 3, ISO7816_EXT_UNKNOWN);
	struct buf resp;
	uint16_t sw;

	(void)state;
	buf_init(&resp, 0);
	assert_int_equal(iso7816_transmit(c, &a, &resp, &sw), 0);
	assert_int_equal(iso7816_card_extended(c), ISO7816_EXT_UNKNOWN);
	a.probe = true;
	assert_int_equal(iso7816_transmit(c, &a, &resp, &sw), 0);
	assert_int_equal(iso7816_card_extended(c), ISO7816_EXT_YES);
	/* Known now: every command goes extended, marked or not. */
	a.probe = false;
	assert_int_equal(iso7816_transmit(c, &a, &resp, &sw), 0);
	assert_int_equal(sw, 0x6a82);
	assert_int_equal(iso7816_sw_error(sw), TK_ERR_NOT_FOUND);
	assert_int_equal(resp.len, 4);
	assert_int_equal(e.pos, 3);
	buf_free(&resp);
	iso7816_card_free(&c);
	iso7816_card_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sw_table),
		cmocka_unit_test(test_class_byte),
		cmocka_unit_test(test_probe_only_when_marked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
