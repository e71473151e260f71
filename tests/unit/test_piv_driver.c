/* The PIV driver (drivers/piv/) through its driver.h ops, without pcscd:
 * the PC/SC calls of drivers/pcsc.c are wrapped (-Wl,--wrap) onto a
 * scripted card (script.c), so every APDU the driver sends is checked byte
 * for byte and counted. The card is a YubiKey 5.7.2, serial 10000001. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "driver.h"
#include "error.h"
#include "internal.h"
#include "pcsc.h"
#include "piv.h"
#include "piv_driver.h"
#include "script.h"

#define SELECT "00 A4 04 00 0B A0000003080000100001 00 00"
#define SELECT_OK "61 11 4F 06 000010000100 79 07 4F 05 A000000308 9000"
#define GET_VERSION "00 FD 00 00 00"
#define GET_SERIAL "00 F8 00 00 00"
#define PIN_METADATA "00 F7 00 80 00"
/* Open of a YubiKey 5.3+: SELECT, FD, F8, F7 of the PIN (default PIN, 3
 * tries, 3 left). */
#define OPEN_STEPS                                                             \
	{ SELECT, SELECT_OK, 0, NULL },                                        \
	    { GET_VERSION, "05 07 02 9000", 0, NULL },                         \
	    { GET_SERIAL, "00 98 96 81 9000", 0, NULL },                       \
	{                                                                      \
		PIN_METADATA, "05 01 01 06 02 03 03 9000", 0, NULL             \
	}
#define NOPEN 4
#define VERIFY_123456 "00 20 00 80 08 313233343536FFFF"

/* ---- The PC/SC seam ---- */

static struct script *cur; /* the card in the reader */
static int begin_rc;       /* what the next transaction start answers */
static int fake_card;      /* stands for the struct pcsc_card */
static unsigned transactions;

int __wrap_pcsc_card_open(struct pcsc_ctx *ctx, const char *reader,
			  struct pcsc_card **out)
{
	*out = (struct pcsc_card *)&fake_card;
	return 0;
}

void __wrap_pcsc_card_free(struct pcsc_card **card)
{
	*card = NULL;
}

int __wrap_pcsc_card_begin(struct pcsc_card *card, bool *was_reset)
{
	*was_reset = false;
	transactions++;
	return begin_rc;
}

void __wrap_pcsc_card_end(struct pcsc_card *card)
{
}

int __wrap_pcsc_card_reconnect(struct pcsc_card *card, bool reset)
{
	fail_msg("unexpected reconnect");
	return TK_ERR_TRANSPORT;
}

int __wrap_pcsc_card_transmit(void *card, const uint8_t *capdu, size_t clen,
			      uint8_t *rapdu, size_t *rlen)
{
	assert_ptr_equal(card, &fake_card);
	return cur->t.transmit(cur->t.ctx, capdu, clen, rapdu, rlen);
}

/* ---- Helpers ---- */

static struct tk_driver *drv;

static int setup(void **state)
{
	begin_rc = 0;
	transactions = 0;
	return piv_driver_new(NULL, &drv);
}

static int teardown(void **state)
{
	drv->ops->free(drv);
	drv = NULL;
	return 0;
}

/* Opens the token on s (whose script starts with what open sends). */
static struct tk_token *open_on(struct script *s,
				const struct script_step *steps, size_t n)
{
	struct tk_token *tok = NULL;

	script_begin(s, steps, n);
	cur = s;
	assert_int_equal(drv->ops->open(drv, "Yubico YubiKey 00 00", &tok), 0);
	assert_non_null(tok);
	assert_int_equal(s->pos, NOPEN);
	return tok;
}

#define OPEN(s, steps) open_on((s), (steps), sizeof(steps) / sizeof((steps)[0]))

static void done(struct script *s, struct tk_token *tok)
{
	tok->ops->close(tok);
	assert_int_equal(s->pos, s->n);
}

/* F7 of a P-256 key, PIN once, touch never, generated, with its public key;
 * the hex of the answer (malloc'd) and the key. */
static char *slot_metadata(EVP_PKEY **pk)
{
	struct buf tmpl, resp;
	char *hex;

	*pk = EVP_EC_gen("P-256");
	assert_non_null(*pk);
	buf_init(&tmpl, 0);
	buf_init(&resp, 0);
	assert_int_equal(piv_pubkey_encode(*pk, NULL, &tmpl), 0);
	buf_add_tlv(&resp, 0x01, (const uint8_t[]){ PIV_ALG_ECCP256 }, 1);
	buf_add_tlv(&resp, 0x02, (const uint8_t[]){ 2, 1 }, 2);
	buf_add_tlv(&resp, 0x03, (const uint8_t[]){ 1 }, 1);
	buf_add_tlv(&resp, 0x04, tmpl.data, tmpl.len);
	hex = bin2hex(resp.data, resp.len);
	hex = realloc(hex, strlen(hex) + 5);
	assert_non_null(hex);
	strcat(hex, "9000");
	buf_free(&tmpl);
	buf_free(&resp);
	return hex;
}

static const uint8_t id_9a[] = { 0x01 }; /* CKA_ID of slot 9A */

/* ---- Tests ---- */

/* Opening reads only what info() needs, and info() answers from it. */
static void test_open_reads_info_only(void **state)
{
	static const struct script_step steps[] = { OPEN_STEPS };
	struct tk_token_info in;
	const struct tk_objects *objs;
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);

	assert_int_equal(tok->ops->info(tok, &in), 0);
	assert_string_equal(in.label, "YubiKey PIV #10000001");
	assert_string_equal(in.serial, "10000001");
	assert_string_equal(in.manufacturer, "Yubico");
	assert_int_equal(in.fw_major, 5);
	assert_int_equal(in.fw_minor, 7);
	assert_int_equal(in.fw_patch, 2);
	assert_int_equal(in.pin_tries_left, 3);
	assert_int_equal(in.pin_tries_max, 3);
	assert_true(in.pin_is_default);
	assert_true(in.caps & TK_CAP_ED25519);
	/* No object read yet, and asking costs nothing. */
	assert_int_equal(tok->ops->objects(tok, &objs), 0);
	assert_int_equal(objs->nkeys, 0);
	assert_int_equal(objs->ndata, 0);
	assert_int_equal(s.pos, NOPEN);
	done(&s, tok);
}

/* discover(KEY) of slot 9A costs its F7 and nothing else, once. */
static void test_discover_one_key(void **state)
{
	EVP_PKEY *pk;
	char *md = slot_metadata(&pk);
	const struct script_step steps[] = {
		OPEN_STEPS,
		{ "00 F7 00 9A 00", md, 0, NULL },
	};
	const struct tk_objects *objs;
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);

	assert_int_equal(
	    tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a, sizeof(id_9a)), 0);
	assert_int_equal(s.pos, NOPEN + 1);
	/* Known now: a second ask costs no APDU. */
	assert_int_equal(
	    tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a, sizeof(id_9a)), 0);
	assert_int_equal(s.pos, NOPEN + 1);
	assert_int_equal(tok->ops->objects(tok, &objs), 0);
	assert_int_equal(objs->nkeys, 1);
	assert_int_equal(objs->keys[0].handle, 0x9a);
	assert_int_equal(objs->keys[0].id.len, 1);
	assert_int_equal(objs->keys[0].id.b[0], 0x01);
	assert_int_equal(objs->keys[0].alg, TK_ALG_P256);
	assert_int_equal(objs->keys[0].pin_policy, TK_PIN_POLICY_ONCE);
	assert_true(objs->keys[0].generated);
	assert_null(objs->keys[0].cert);
	assert_int_equal(EVP_PKEY_eq(objs->keys[0].pub, pk), 1);
	done(&s, tok);
	EVP_PKEY_free(pk);
	free(md);
}

/* VERIFY answered with sw: login() gives want (as CK_RV want_rv) and info()
 * shows tries tries left; nothing is held, so close sends no logout. */
static void login_refused(const char *sw, int want, CK_RV want_rv, int tries)
{
	const struct script_step steps[] = {
		OPEN_STEPS,
		{ VERIFY_123456, sw, 0, NULL },
	};
	struct tk_token_info in;
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);
	int rc =
	    tok->ops->login(tok, TK_USER_PIN, (const uint8_t *)"123456", 6);

	assert_int_equal(rc, want);
	assert_int_equal(rv_from_tk(rc), want_rv);
	assert_int_equal(tok->ops->info(tok, &in), 0);
	assert_int_equal(in.pin_tries_left, tries);
	done(&s, tok);
}

/* A wrong PIN: 63 C1 says one try is left. */
static void test_login_wrong_pin(void **state)
{
	(void)state;
	login_refused("63C1", TK_ERR_PIN_INCORRECT, CKR_PIN_INCORRECT, 1);
}

/* The right PIN: tries restored to the maximum; closing the token leaves
 * no verified PIN behind for other programs (VERIFY P1=FF). */
static void test_login_close_logs_out(void **state)
{
	static const struct script_step steps[] = {
		OPEN_STEPS,
		{ VERIFY_123456, "9000", 0, NULL },
		{ "00 20 FF 80", "9000", 0, NULL },
	};
	struct tk_token_info in;
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);

	assert_int_equal(
	    tok->ops->login(tok, TK_USER_PIN, (const uint8_t *)"123456", 6), 0);
	assert_int_equal(tok->ops->info(tok, &in), 0);
	assert_int_equal(in.pin_tries_left, 3);
	assert_int_equal(s.pos, NOPEN + 1);
	done(&s, tok);
}

/* The card pulled while being opened: REMOVED, no token. */
static void test_removed_during_open(void **state)
{
	static const struct script_step steps[] = {
		{ SELECT, SELECT_OK, 0, NULL },
		{ GET_VERSION, NULL, TK_ERR_REMOVED, NULL },
	};
	struct tk_token *tok = (struct tk_token *)&steps;
	struct script s;
	int rc;

	script_begin(&s, steps, 2);
	cur = &s;
	rc = drv->ops->open(drv, "Yubico YubiKey 00 00", &tok);
	assert_int_equal(rc, TK_ERR_REMOVED);
	assert_null(tok);
	assert_int_equal(s.pos, s.n);
}

/* A blocked PIN (69 83): locked, no tries left. */
static void test_login_blocked_pin(void **state)
{
	(void)state;
	login_refused("6983", TK_ERR_PIN_LOCKED, CKR_PIN_LOCKED, 0);
}

/* GENERAL AUTHENTICATE, ECDSA P-256 (11) with slot 9A: 7C { 82 (response,
 * empty), 81 (challenge: the 32-byte digest) }, short APDU, Le 00. */
#define SIGN_9A                                                                \
	"00 87 11 9A 26 7C 24 82 00 81 20"                                     \
	"0101010101010101010101010101010101010101010101010101010101010101 00"

/* Raw ECDSA: GENERAL AUTHENTICATE with the digest as the challenge; the
 * driver hands back the card's DER, which the front end turns into r||s. */
static void test_sign_ecdsa(void **state)
{
	EVP_PKEY *pk;
	char *md = slot_metadata(&pk);
	static const char r[] =
	    "1111111111111111111111111111111111111111111111111111111111111111";
	static const char s_[] =
	    "2222222222222222222222222222222222222222222222222222222222222222";
	char answer[512];
	const struct script_step *steps;
	struct script_step st[NOPEN + 2] = {
		OPEN_STEPS,
		{ "00 F7 00 9A 00", md, 0, NULL },
		{ SIGN_9A, answer, 0, NULL },
	};
	uint8_t digest[32], out[80], raw[64], want[64];
	size_t out_len = sizeof(out), max = 0;
	struct script s;
	struct tk_token *tok;

	snprintf(answer, sizeof(answer),
		 "7C 48 82 46 30 44 02 20 %s 02 20 %s 9000", r, s_);
	steps = st;
	tok = open_on(&s, steps, NOPEN + 2);
	memset(digest, 1, sizeof(digest));
	assert_int_equal(
	    tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a, sizeof(id_9a)), 0);
	/* A size query talks to no card. */
	assert_int_equal(
	    tok->ops->sign(tok, 0x9a, NULL, digest, 32, NULL, &max), 0);
	assert_true(max >= 72);
	assert_int_equal(s.pos, NOPEN + 1);
	assert_int_equal(tok->ops->sign(tok, 0x9a, NULL, digest, sizeof(digest),
					out, &out_len),
			 0);
	assert_int_equal(out_len, 0x46);
	assert_int_equal(ecdsa_der_to_raw(out, out_len, 32, raw), 0);
	hex2bin(r, want, 32);
	hex2bin(s_, want + 32, 32);
	assert_memory_equal(raw, want, 64);
	done(&s, tok);
	EVP_PKEY_free(pk);
	free(md);
}

/* Malformed answers to a signature: TK_ERR_DEVICE (CKR_DEVICE_ERROR),
 * never a crash or a success, and not retried: only status words that
 * suggest another applet (6A80, 6D00, ...) earn a re-SELECT. */
static void test_sign_malformed(void **state)
{
	EVP_PKEY *pk;
	char *md = slot_metadata(&pk);
	static const char *const bad[] = {
		"7C 05 82 03 00 9000",    /* 82 longer than its data */
		"7C 48 82 46 30 44 9000", /* truncated: 7C claims 0x48 */
		"7D 03 82 01 00 9000",    /* not 7C */
		"7C 03 81 01 00 9000",    /* no 82 */
	};
	uint8_t digest[32], out[80];
	struct tk_token_info in;

	memset(digest, 1, sizeof(digest));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct script_step steps[] = {
			OPEN_STEPS,
			{ "00 F7 00 9A 00", md, 0, NULL },
			{ SIGN_9A, bad[i], 0, NULL },
		};
		size_t out_len = sizeof(out);
		struct script s;
		struct tk_token *tok = OPEN(&s, steps);
		int rc;

		assert_int_equal(tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a,
						    sizeof(id_9a)),
				 0);
		rc = tok->ops->sign(tok, 0x9a, NULL, digest, sizeof(digest),
				    out, &out_len);
		assert_int_equal(rc, TK_ERR_DEVICE);
		assert_int_equal(rv_from_tk(rc), CKR_DEVICE_ERROR);
		/* The token still answers. */
		assert_int_equal(tok->ops->info(tok, &in), 0);
		done(&s, tok);
	}
	/* 6F 00 (no precise diagnosis): a device error, not retried. */
	{
		const struct script_step steps[] = {
			OPEN_STEPS,
			{ "00 F7 00 9A 00", md, 0, NULL },
			{ SIGN_9A, "6F00", 0, NULL },
		};
		size_t out_len = sizeof(out);
		struct script s;
		struct tk_token *tok = OPEN(&s, steps);
		int rc;

		assert_int_equal(tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a,
						    sizeof(id_9a)),
				 0);
		rc = tok->ops->sign(tok, 0x9a, NULL, digest, sizeof(digest),
				    out, &out_len);
		assert_int_equal(rc, TK_ERR_DEVICE);
		assert_int_equal(rv_from_tk(rc), CKR_DEVICE_ERROR);
		done(&s, tok);
	}
	/* 6A 80 (wrong data) looks like another applet's answer: one
	 * re-SELECT and retry, then TK_ERR_INVALID, also a device error. */
	{
		const struct script_step steps[] = {
			OPEN_STEPS,
			{ "00 F7 00 9A 00", md, 0, NULL },
			{ SIGN_9A, "6A80", 0, NULL },
			{ SELECT, SELECT_OK, 0, NULL },
			{ SIGN_9A, "6A80", 0, NULL },
		};
		size_t out_len = sizeof(out);
		struct script s;
		struct tk_token *tok = OPEN(&s, steps);
		int rc;

		assert_int_equal(tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a,
						    sizeof(id_9a)),
				 0);
		rc = tok->ops->sign(tok, 0x9a, NULL, digest, sizeof(digest),
				    out, &out_len);
		assert_int_equal(rc, TK_ERR_INVALID);
		assert_int_equal(rv_from_tk(rc), CKR_DEVICE_ERROR);
		done(&s, tok);
	}
	EVP_PKEY_free(pk);
	free(md);
}

/* Malformed metadata and serials: open or discovery fails with a device
 * error instead of hiding a key or inventing a serial. */
static void test_malformed_card_data(void **state)
{
	static const struct {
		const char *serial, *pin_md;
	} bad_open[] = {
		{ "00 98 96 9000", NULL },               /* serial: 3 bytes */
		{ "00 98 96 81 9000", "06 02 03 9000" }, /* 06 too short */
		{ "00 98 96 81 9000", "06 05 03 03 9000" }, /* 06 past end */
		{ "00 98 96 81 9000", "6F00" },
	};

	for (size_t i = 0; i < sizeof(bad_open) / sizeof(bad_open[0]); i++) {
		struct script_step steps[] = {
			{ SELECT, SELECT_OK, 0, NULL },
			{ GET_VERSION, "05 07 02 9000", 0, NULL },
			{ GET_SERIAL, bad_open[i].serial, 0, NULL },
			{ PIN_METADATA, bad_open[i].pin_md, 0, NULL },
		};
		struct tk_token *tok = (struct tk_token *)&steps;
		struct script s;
		int rc;

		script_begin(&s, steps, bad_open[i].pin_md ? 4 : 3);
		cur = &s;
		rc = drv->ops->open(drv, "Yubico YubiKey 00 00", &tok);
		assert_int_equal(rc, TK_ERR_DEVICE);
		assert_int_equal(rv_from_tk(rc), CKR_DEVICE_ERROR);
		assert_null(tok);
		assert_int_equal(s.pos, s.n);
	}
	/* A key slot's F7 cut short. */
	{
		static const struct script_step steps[] = {
			OPEN_STEPS,
			{ "00 F7 00 9A 00", "01 01 11 04 45 86 41 04 9000", 0,
			  NULL },
		};
		const struct tk_objects *objs;
		struct script s;
		struct tk_token *tok = OPEN(&s, steps);
		int rc = tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a,
					    sizeof(id_9a));

		assert_int_equal(rc, TK_ERR_DEVICE);
		assert_int_equal(rv_from_tk(rc), CKR_DEVICE_ERROR);
		assert_int_equal(tok->ops->objects(tok, &objs), 0);
		assert_int_equal(objs->nkeys, 0);
		done(&s, tok);
	}
}

/* The card pulled mid-operation: REMOVED, and every later call fails at
 * once without touching the card (close included). */
static void test_removed(void **state)
{
	EVP_PKEY *pk;
	char *md = slot_metadata(&pk);
	const struct script_step steps[] = {
		OPEN_STEPS,
		{ "00 F7 00 9A 00", md, 0, NULL },
		{ SIGN_9A, NULL, TK_ERR_REMOVED, NULL },
	};
	uint8_t digest[32], out[80];
	size_t out_len = sizeof(out);
	struct tk_token_info in;
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);
	unsigned before;
	int rc;

	memset(digest, 1, sizeof(digest));
	assert_int_equal(
	    tok->ops->discover(tok, TK_DISCOVER_KEY, id_9a, sizeof(id_9a)), 0);
	rc = tok->ops->sign(tok, 0x9a, NULL, digest, sizeof(digest), out,
			    &out_len);
	assert_int_equal(rc, TK_ERR_REMOVED);
	assert_int_equal(rv_from_tk(rc), CKR_DEVICE_REMOVED);
	before = transactions;
	assert_int_equal(
	    tok->ops->login(tok, TK_USER_PIN, (const uint8_t *)"123456", 6),
	    TK_ERR_REMOVED);
	assert_int_equal(
	    tok->ops->discover(tok, TK_DISCOVER_CERT, id_9a, sizeof(id_9a)),
	    TK_ERR_REMOVED);
	assert_int_equal(transactions, before);
	assert_int_equal(tok->ops->info(tok, &in), 0);
	done(&s, tok);
	EVP_PKEY_free(pk);
	free(md);
}

/* Removed between operations: the transaction cannot start. */
static void test_removed_at_begin(void **state)
{
	static const struct script_step steps[] = { OPEN_STEPS };
	struct script s;
	struct tk_token *tok = OPEN(&s, steps);
	int tries = -1;
	bool verified;

	begin_rc = TK_ERR_REMOVED;
	assert_int_equal(tok->ops->pin_status(tok, &tries, &verified),
			 TK_ERR_REMOVED);
	assert_int_equal(
	    tok->ops->login(tok, TK_USER_PIN, (const uint8_t *)"123456", 6),
	    TK_ERR_REMOVED);
	done(&s, tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_reads_info_only,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_discover_one_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_wrong_pin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_blocked_pin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_login_close_logs_out,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_during_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sign_ecdsa, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sign_malformed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_card_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_at_begin, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
