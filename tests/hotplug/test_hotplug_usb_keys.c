/* The USB key matching rules (hotplug/usb_keys.c), without udev. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "usb_keys.h"

static void test_lookup(void **state)
{
	assert_string_equal(usb_keys_lookup(0x1050, 0x0407), "Yubico YubiKey");
	assert_string_equal(usb_keys_lookup(0x1050, 0x0010), "Yubico YubiKey");
	assert_string_equal(usb_keys_lookup(0x20a0, 0x42b1), "Nitrokey 3");
	/* 0x20a0 is shared by many open hardware projects: only Nitrokey's
	 * products count. */
	assert_null(usb_keys_lookup(0x20a0, 0x0001));
	assert_string_equal(usb_keys_lookup(0x096e, 0x0858), "Feitian");
	assert_null(usb_keys_lookup(0x046d, 0xc077)); /* a mouse */
	assert_null(usb_keys_lookup(0x0000, 0x0000));
}

static void test_table_sane(void **state)
{
	size_t n;
	const struct usb_key_vendor *t = usb_keys_table(&n);

	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(t[i].vendor, 0);
		assert_non_null(t[i].name);
		/* No entry shadowed by an earlier one. */
		for (size_t j = 0; j < i; j++)
			assert_false(t[j].vendor == t[i].vendor &&
				     (t[j].product == 0 ||
				      t[j].product == t[i].product));
	}
}

static void test_parse_id(void **state)
{
	uint16_t v = 0;
	uint8_t c = 0;

	assert_int_equal(usb_keys_parse_id("1050", &v), 0);
	assert_int_equal(v, 0x1050);
	assert_int_equal(usb_keys_parse_id("20A0\n", &v), 0);
	assert_int_equal(v, 0x20a0);
	v = 7;
	assert_int_equal(usb_keys_parse_id("105", &v), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_id("10500", &v), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_id("1050\n\n", &v), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_id("0x10", &v), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_id("", &v), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_id(NULL, &v), TK_ERR_INVALID);
	assert_int_equal(v, 7); /* untouched on failure */

	assert_int_equal(usb_keys_parse_class("0b", &c), 0);
	assert_int_equal(c, USB_CLASS_CCID);
	assert_int_equal(usb_keys_parse_class("03\n", &c), 0);
	assert_int_equal(c, 3);
	assert_int_equal(usb_keys_parse_class("b", &c), TK_ERR_INVALID);
	assert_int_equal(usb_keys_parse_class("0bb", &c), TK_ERR_INVALID);
}

static void test_interfaces(void **state)
{
	assert_true(usb_keys_interfaces_have_ccid(":0b0000:"));
	assert_true(usb_keys_interfaces_have_ccid(":030101:030000:0b0000:"));
	assert_true(usb_keys_interfaces_have_ccid(":0B0000:"));
	assert_false(usb_keys_interfaces_have_ccid(":030000:"));
	/* 0b only as a subclass or protocol is not CCID. */
	assert_false(usb_keys_interfaces_have_ccid(":030b00:08060b:"));
	assert_false(usb_keys_interfaces_have_ccid(""));
	assert_false(usb_keys_interfaces_have_ccid(NULL));
	assert_false(usb_keys_interfaces_have_ccid("0b0000:"));
	assert_false(usb_keys_interfaces_have_ccid(":0b00:"));
	assert_false(usb_keys_interfaces_have_ccid(":0b0000"));
	assert_false(usb_keys_interfaces_have_ccid(":"));
	assert_false(usb_keys_interfaces_have_ccid("::"));
	assert_false(usb_keys_interfaces_have_ccid(":::0b"));
	assert_true(usb_keys_interfaces_have_ccid("::0b0000:"));
}

static void test_match(void **state)
{
	/* Known vendor with CCID disabled. */
	assert_true(usb_keys_match(0x1050, 0x0402, false, false));
	/* Unknown vendor with a CCID interface (any smart card reader). */
	assert_true(usb_keys_match(0x076b, 0x5422, true, false));
	/* Tagged by an admin's udev rule. */
	assert_true(usb_keys_match(0xabcd, 0x0001, false, true));
	/* A mouse. */
	assert_false(usb_keys_match(0x046d, 0xc077, false, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_table_sane),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_interfaces),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
