#include "usb_keys.h"

#include <string.h>

#include "error.h"
#include "hex.h"

/* Keep udev/70-tokend.rules in step: tests/hotplug/check_rules.py compares
 * the two. One entry per line, product 0x0000 for "any". */
static const struct usb_key_vendor keys[] = {
	{ 0x1050, 0x0000, "Yubico YubiKey" },
	{ 0x20a0, 0x4108, "Nitrokey Pro" },
	{ 0x20a0, 0x4109, "Nitrokey Storage" },
	{ 0x20a0, 0x4211, "Nitrokey Start" },
	{ 0x20a0, 0x4230, "Nitrokey HSM" },
	{ 0x20a0, 0x42b1, "Nitrokey 3" },
	{ 0x096e, 0x0000, "Feitian" },
	{ 0x0529, 0x0000, "SafeNet eToken" },
};

const struct usb_key_vendor *usb_keys_table(size_t *n)
{
	*n = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

const char *usb_keys_lookup(uint16_t vendor, uint16_t product)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].vendor != vendor)
			continue;
		if (keys[i].product == 0 || keys[i].product == product)
			return keys[i].name;
	}
	return NULL;
}

/* Exactly `digits` hex digits, then nothing or one newline. */
static int parse_hex(const char *s, size_t digits, unsigned *out)
{
	unsigned v = 0;

	if (!s)
		return TK_ERR_INVALID;
	for (size_t i = 0; i < digits; i++) {
		int d = hex_digit(s[i]);
		if (d < 0)
			return TK_ERR_INVALID;
		v = v << 4 | (unsigned)d;
	}
	s += digits;
	if (*s == '\n')
		s++;
	if (*s != '\0')
		return TK_ERR_INVALID;
	*out = v;
	return 0;
}

int usb_keys_parse_id(const char *s, uint16_t *out)
{
	unsigned v;
	int rc = parse_hex(s, 4, &v);

	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

int usb_keys_parse_class(const char *s, uint8_t *out)
{
	unsigned v;
	int rc = parse_hex(s, 2, &v);

	if (rc == 0)
		*out = (uint8_t)v;
	return rc;
}

bool usb_keys_interfaces_have_ccid(const char *ifs)
{
	/* ":0b0000:030000:" — six hex digits between colons; the first two
	 * are the class. */
	if (!ifs || ifs[0] != ':')
		return false;
	for (const char *p = ifs; *p == ':';) {
		const char *end = strchr(p + 1, ':');
		if (!end)
			break;
		if (end - (p + 1) == 6 && hex_digit(p[1]) == 0 &&
		    (p[2] == 'b' || p[2] == 'B'))
			return true;
		p = end;
	}
	return false;
}

bool usb_keys_match(uint16_t vendor, uint16_t product, bool ccid, bool tagged)
{
	return ccid || tagged || usb_keys_lookup(vendor, product) != NULL;
}
