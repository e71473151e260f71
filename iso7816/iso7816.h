/* The ISO 7816-4 exchange of a smart card application: C-APDU encoding
 * (short and extended length), command chaining, 61xx / GET RESPONSE, the
 * 6Cxx retry and the status-word table. Card-neutral: PIV (piv/) is built
 * on it and any other card protocol can be. The card is reached through a
 * transmit callback, so the driver above owns the reader and unit tests can
 * script the card. Returns 0 or a negative TK_ERR_* (common/error.h). */
#ifndef TOKEND_ISO7816_H
#define TOKEND_ISO7816_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A card response: up to 64 KiB of data plus the status word. */
#define ISO7816_RAPDU_MAX (65536 + 2)
/* Most response data we accept for one command, across 61xx chains. */
#define ISO7816_RESP_MAX 65536

enum { ISO7816_INS_GET_RESPONSE = 0xc0 };

/* Sends one C-APDU and receives the R-APDU (data and SW1 SW2) into rapdu;
 * *rlen is the buffer size on entry (ISO7816_RAPDU_MAX) and the response
 * length on return. Returns 0, or TK_ERR_REMOVED / TK_ERR_RESET /
 * TK_ERR_TRANSPORT, which are handed up unchanged. */
struct iso7816_transport {
	int (*transmit)(void *ctx, const uint8_t *capdu, size_t clen,
			uint8_t *rapdu, size_t *rlen);
	void *ctx;
};

struct iso7816_card;

/* Extended-length state. UNKNOWN: the first command marked probe is sent
 * extended (no extra APDU); a refusal (6700, 6D00, 6E00, 6F00 or a
 * transport error) resends it short and remembers NO, anything else
 * remembers YES. With YES every command is one APDU (no chaining, no
 * 61xx). Until it is known, unmarked commands go short. */
enum iso7816_ext { ISO7816_EXT_UNKNOWN = 0, ISO7816_EXT_YES, ISO7816_EXT_NO };

int iso7816_card_new(const struct iso7816_transport *t,
		     struct iso7816_card **out);
void iso7816_card_free(struct iso7816_card **c);
enum iso7816_ext iso7816_card_extended(const struct iso7816_card *c);
/* For a driver that knows better (reader limits, ATR), or to re-probe. */
void iso7816_card_set_extended(struct iso7816_card *c, enum iso7816_ext e);
/* C-APDUs sent so far, GET RESPONSEs and chained parts included. */
unsigned long iso7816_card_apdu_count(const struct iso7816_card *c);

/* One command. cla is the class byte of an unchained command (chained
 * parts add 0x10; GET RESPONSE keeps only its channel bits). probe: this
 * command may probe extended length (a command with response data whose refusal
 * costs nothing, such as a read). */
struct iso7816_apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data;
	size_t len; /* at most 0xffff */
	bool probe;
};

/* Sends a: chained in 255-byte parts when short APDUs need it, or as one
 * extended APDU; 6Cxx retried once with the right Le; 61xx followed with
 * GET RESPONSE. Response data, if any, is appended to resp (NULL: the
 * command has no response data and no Le is sent). Returns transport and
 * garbage errors only; the status word is left in *sw for the caller. The
 * encoded commands, which may carry PINs and keys, are wiped. */
int iso7816_transmit(struct iso7816_card *c, const struct iso7816_apdu *a,
		     struct buf *resp, uint16_t *sw);

/* The one place status words become TK_ERR codes (9000 -> 0):
 * 63Cx, 6300 TK_ERR_PIN_INCORRECT; 6983 TK_ERR_PIN_LOCKED; 6982
 * TK_ERR_AUTH_REQUIRED; 6A82, 6A88 TK_ERR_NOT_FOUND; 6985, 6984
 * TK_ERR_DENIED; 6A80, 6A86, 6700, 6B00 TK_ERR_INVALID; 6A81, 6D00, 6E00,
 * 688x TK_ERR_UNSUPPORTED; 6A84 TK_ERR_TOO_LARGE; else TK_ERR_DEVICE. */
int iso7816_sw_error(uint16_t sw);
/* Tries left from 63Cx (and 0 from 6983), else -1. */
int iso7816_sw_tries(uint16_t sw);

#endif
