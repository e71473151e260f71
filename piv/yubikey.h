/* Yubico's extensions to the PIV application. A card without them answers
 * 6D00 (INS not supported), which comes back as TK_ERR_UNSUPPORTED: that is
 * how a driver tells a YubiKey from another PIV card, at the cost of one
 * APDU (yk_get_version). */
#ifndef TOKEND_YUBIKEY_H
#define TOKEND_YUBIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "buf.h"

struct piv_card;

struct yk_version {
	uint8_t major, minor, patch;
};

/* Firmware version (INS FD). Also remembered in the card. */
int yk_get_version(struct piv_card *c, struct yk_version *v);
/* The version last learnt by yk_get_version; false before. */
bool yk_card_version(const struct piv_card *c, struct yk_version *v);
/* Serial number (INS F8, firmware 5+). */
int yk_get_serial(struct piv_card *c, uint32_t *serial);

/* Most public-key template bytes metadata may carry (RSA 4096 fits). */
#define YK_PUBKEY_MAX 1100

/* F7 metadata of a key slot, 9B, or the PIN (80) / PUK (81). Fields the card
 * did not send have their has_ flag false. */
struct yk_metadata {
	bool has_algorithm, has_policy, has_origin, has_default, has_retries;
	uint8_t algorithm;
	uint8_t pin_policy, touch_policy;
	uint8_t origin; /* 1 generated, 2 imported */
	bool is_default;
	uint8_t retries_total, retries_left;
	uint8_t
	    pubkey[YK_PUBKEY_MAX]; /* inside of 7F49: for piv_pubkey_parse */
	size_t pubkey_len;
};
enum { YK_ORIGIN_GENERATED = 1, YK_ORIGIN_IMPORTED = 2 };

/* Firmware 5.3+. An empty key slot is TK_ERR_NOT_FOUND. */
int yk_get_metadata(struct piv_card *c, uint8_t slot, struct yk_metadata *md);
int yk_metadata_parse(const uint8_t *p, size_t len, struct yk_metadata *md);

/* Attestation certificate (DER) for a key generated on the card. */
int yk_attest(struct piv_card *c, uint8_t slot, struct buf *der);
/* Imports RSA (e = 65537; 1024..4096), P-256/P-384, Ed25519 or X25519. */
int yk_import_key(struct piv_card *c, uint8_t slot, const EVP_PKEY *key,
		  uint8_t pin_policy, uint8_t touch_policy);
/* Needs the management key authenticated; touch makes the new key need it. */
int yk_set_mgm_key(struct piv_card *c, uint8_t alg, const uint8_t *key,
		   size_t keylen, bool touch);
/* Resets the PIV application: only accepted once PIN and PUK are blocked. */
int yk_reset(struct piv_card *c);
/* Needs the management key and the PIN; resets both to defaults. */
int yk_set_pin_retries(struct piv_card *c, uint8_t pin_tries,
		       uint8_t puk_tries);
/* Firmware 5.7+. */
int yk_move_key(struct piv_card *c, uint8_t from, uint8_t to);
int yk_delete_key(struct piv_card *c, uint8_t slot);

#endif
