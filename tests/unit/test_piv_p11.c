/* The PIV driver's PKCS#11 conventions (drivers/piv/piv_p11.c), which the
 * front end no longer knows: CKA_ID <-> slot, labels, container OIDs and
 * data templates, the SO PIN as a hex management key, and C_SetPIN's
 * prefixes (drivers/drv_setpin.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "drv_setpin.h"
#include "p11.h"
#include "piv_int.h"
#include "tokend-pkcs11.h"

static void test_ids(void **state)
{
	struct tk_id id;

	(void)state;
	piv_id_of(0, &id); /* 9A */
	assert_int_equal(id.len, 1);
	assert_int_equal(id.b[0], 1);
	piv_id_of(24, &id); /* F9 */
	assert_int_equal(id.b[0], 0x19);
	assert_int_equal(piv_key_refs[piv_id_index((uint8_t[]){ 5 }, 1)], 0x82);
	assert_int_equal(piv_id_index((uint8_t[]){ 0x19 }, 1), 24);
	assert_int_equal(piv_id_index((uint8_t[]){ 0 }, 1), -1);
	assert_int_equal(piv_id_index((uint8_t[]){ 0x1a }, 1), -1);
	assert_int_equal(piv_id_index((uint8_t[]){ 1, 1 }, 2), -1);
	assert_int_equal(piv_id_index(NULL, 0), -1);
}

/* As OpenSC's PIV emulation names them. */
static void test_labels(void **state)
{
	struct tk_key k;

	(void)state;
	piv_key_init(&k, 0);
	assert_string_equal(k.label, "PIV AUTH key");
	assert_string_equal(k.pub_label, "PIV AUTH pubkey");
	assert_string_equal(k.cert_label, "Certificate for PIV Authentication");
	assert_false(k.cert_only);
	piv_key_init(&k, 5); /* 83 */
	assert_string_equal(k.label, "RETIRED KEY 2");
	assert_string_equal(k.pub_label, "RETIRED KEY 2 pubkey");
	assert_string_equal(k.cert_label, "Certificate for Retired Key 2");
	piv_key_init(&k, 24);
	assert_int_equal(k.handle, 0xf9);
	assert_true(k.cert_only);
	assert_string_equal(k.cert_label, "Certificate for PIV Attestation");
	assert_int_equal(k.pin_policy, TK_PIN_POLICY_ONCE);
	piv_key_init(&k, 1);
	assert_int_equal(k.pin_policy, TK_PIN_POLICY_ALWAYS); /* 9C */
}

static void test_mgm_key(void **state)
{
	uint8_t key[64];
	size_t n = 0;
	static const char hex[] =
	    "01:02:03:04 05060708 0102030405060708 0102030405060708";

	(void)state;
	assert_int_equal(piv_mgm_key_decode((const uint8_t *)hex, strlen(hex),
					    key, sizeof(key), &n),
			 0);
	assert_int_equal(n, 24);
	assert_int_equal(key[23], 8);
	assert_int_equal(
	    piv_mgm_key_decode((const uint8_t *)"xyz", 3, key, sizeof(key), &n),
	    TK_ERR_PIN_INCORRECT);
	assert_int_equal(
	    piv_mgm_key_decode((const uint8_t *)"010", 3, key, sizeof(key), &n),
	    TK_ERR_PIN_INCORRECT);
	assert_int_equal(
	    piv_mgm_key_decode((const uint8_t *)"0102", 4, key, 1, &n),
	    TK_ERR_PIN_INCORRECT);
}

static void test_setpin_prefixes(void **state)
{
	struct tk_setpin q;

	(void)state;
	assert_int_equal(
	    drv_setpin_prefixes(NULL, (const uint8_t *)"123456", 6, &q), 0);
	assert_int_equal(q.spends, TK_USER_PIN);
	assert_int_equal(q.sets, TK_USER_PIN);
	assert_int_equal(q.old_len, 6);
	drv_setpin_prefixes(NULL, (const uint8_t *)"puk:12345678", 12, &q);
	assert_int_equal(q.spends, TK_USER_PUK);
	assert_int_equal(q.sets, TK_USER_PUK);
	assert_int_equal(q.old_len, 8);
	assert_memory_equal(q.old, "12345678", 8);
	drv_setpin_prefixes(NULL, (const uint8_t *)"unblock:12345678", 16, &q);
	assert_int_equal(q.spends, TK_USER_PUK);
	assert_int_equal(q.sets, TK_USER_PIN);
	assert_int_equal(q.old_len, 8);
}

/* CKO_DATA templates: a container by CKA_OBJECT_ID and/or
 * CKA_TOKEND_OBJECT_TAG (errors as driver.h's create_data gives them). */
static void test_data_request(void **state)
{
	static const uint8_t chuid_oid[] = {
		0x06, 0x0a, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x07, 0x02, 0x30, 0x00
	};
	static const uint8_t bad_oid[] = { 0x06, 0x03, 0x2a, 0x03, 0x04 };
	CK_ULONG tag = 0x5FC102, sec = 0x5FC106, cert = 0x5FC105;
	struct tk_attr t[] = {
		{ CKA_VALUE, "NEW", 3 },
		{ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) },
		{ CKA_TOKEND_OBJECT_TAG, &tag, sizeof(tag) },
	};
	const uint8_t *v = NULL;
	uint32_t got = 0;
	size_t len = 0;
	struct tk_data d;

	(void)state;
	assert_int_equal(piv_data_request(t, 1, &got, &v, &len),
			 TK_ERR_NOT_FOUND); /* no name */
	assert_int_equal(piv_data_request(t, 3, &got, &v, &len), 0);
	assert_int_equal(got, 0x5FC102);
	assert_int_equal(len, 3);
	assert_int_equal(piv_data_request(t + 1, 1, &got, &v, &len),
			 TK_ERR_NOT_FOUND); /* no value */
	t[1] = t[2];                        /* by tag alone */
	assert_int_equal(piv_data_request(t, 2, &got, &v, &len), 0);
	assert_int_equal(got, 0x5FC102);
	t[1] = (struct tk_attr){ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) };
	t[2].value = &sec; /* disagreeing */
	assert_int_equal(piv_data_request(t, 3, &got, &v, &len),
			 TK_ERR_INVALID);
	t[1] = t[2]; /* not a container the driver writes */
	assert_int_equal(piv_data_request(t, 2, &got, &v, &len), TK_ERR_ARG);
	t[1].value = &cert; /* certificates are CKO_CERTIFICATE */
	assert_int_equal(piv_data_request(t, 2, &got, &v, &len), TK_ERR_ARG);
	t[1] = (struct tk_attr){ CKA_OBJECT_ID, bad_oid, sizeof(bad_oid) };
	assert_int_equal(piv_data_request(t, 2, &got, &v, &len), TK_ERR_ARG);
	t[0].len = 0;
	t[1] = (struct tk_attr){ CKA_OBJECT_ID, chuid_oid, sizeof(chuid_oid) };
	assert_int_equal(piv_data_request(t, 2, &got, &v, &len), TK_ERR_ARG);
	/* The OID the object reads back is the one that names it. */
	piv_data_oid(0x5FC102, &d);
	assert_int_equal(d.oid_len, sizeof(chuid_oid));
	assert_memory_equal(d.oid, chuid_oid, sizeof(chuid_oid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_mgm_key),
		cmocka_unit_test(test_setpin_prefixes),
		cmocka_unit_test(test_data_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
