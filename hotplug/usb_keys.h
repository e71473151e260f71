/* Which USB devices are security keys: the matching rules, without libudev,
 * so they are unit-tested on their own. */
#ifndef TOKEND_HOTPLUG_USB_KEYS_H
#define TOKEND_HOTPLUG_USB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USB_CLASS_CCID 0x0b

struct usb_key_vendor {
	uint16_t vendor;
	uint16_t product; /* 0: every product of the vendor */
	const char *name;
};

/* The table of known keys, for keys whose CCID interface is disabled (a
 * YubiKey with only FIDO/OTP enabled) and for the udev rules' check. */
const struct usb_key_vendor *usb_keys_table(size_t *n);

/* The known name of vendor:product, or NULL. */
const char *usb_keys_lookup(uint16_t vendor, uint16_t product);

/* Whether udev's ID_USB_INTERFACES (":0b0000:030000:", one class, subclass
 * and protocol per interface) lists a CCID interface. */
bool usb_keys_interfaces_have_ccid(const char *id_usb_interfaces);

/* Parses a sysfs idVendor/idProduct value: exactly four hex digits,
 * optionally followed by a newline. 0 or TK_ERR_INVALID. */
int usb_keys_parse_id(const char *s, uint16_t *out);

/* Parses a sysfs bInterfaceClass value ("0b"). 0 or TK_ERR_INVALID. */
int usb_keys_parse_class(const char *s, uint8_t *out);

/* A USB device is a key when it has a CCID interface, is in our table, or
 * a udev rule set TOKEND_KEY=1 on it (an admin's own additions). */
bool usb_keys_match(uint16_t vendor, uint16_t product, bool ccid, bool tagged);

#endif
