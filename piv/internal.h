/* Shared between the piv/ sources only; not installed, not for drivers. */
#ifndef TOKEND_PIV_INTERNAL_H
#define TOKEND_PIV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "iso7816.h"
#include "piv.h"
#include "reader.h"

enum {
	PIV_INS_VERIFY = 0x20,
	PIV_INS_CHANGE_REF = 0x24,
	PIV_INS_RESET_RETRY = 0x2c,
	PIV_INS_GENERATE = 0x47,
	PIV_INS_GENERAL_AUTH = 0x87,
	PIV_INS_SELECT = 0xa4,
	PIV_INS_GET_DATA = 0xcb,
	PIV_INS_PUT_DATA = 0xdb,
	YK_INS_MOVE_KEY = 0xf6,
	YK_INS_METADATA = 0xf7,
	YK_INS_SERIAL = 0xf8,
	YK_INS_ATTEST = 0xf9,
	YK_INS_SET_RETRIES = 0xfa,
	YK_INS_RESET = 0xfb,
	YK_INS_VERSION = 0xfd,
	YK_INS_IMPORT = 0xfe,
	YK_INS_SET_MGM = 0xff,
};

struct piv_card {
	struct iso7816_card *iso; /* the APDU exchange */
	/* yubikey.c's record of the firmware version (major, minor, patch),
	 * kept as bytes so this header needs nothing of yubikey.h */
	bool has_version;
	uint8_t version[3];
};

/* Walks every TLV at one level of r: malformed TLVs or a repeated wanted
 * tag are TK_ERR_DEVICE, unknown tags are skipped. vals[i] gets tags[i]'s
 * value and bit i of *found is set. */
int piv_tlv_scan(struct reader r, const uint32_t *tags, size_t n,
		 struct reader *vals, unsigned *found);
/* The whole of r must be one TLV with tag want (trailing bytes refused). */
int piv_tlv_unwrap(struct reader r, uint32_t want, struct reader *val);
/* A buf that wipes itself, for PINs, keys and decrypted data. */
static inline void piv_secret_buf(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->secret = true;
}

#endif
