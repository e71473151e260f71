/* The pin guard: tries kept back for the token's owner.
 *
 * An application with a guard (app_set_pin_guard, reserved > 0: the
 * daemon's socket clients) may send a PIN -- or a PUK -- to the token only
 * while the token has more than `reserved` tries of it left, or when it is
 * the one the token last accepted through this front end. Anything else is
 * refused with CKR_PIN_LOCKED and never reaches the token, so guesses stop
 * `reserved` tries above a locked card while the owner's right PIN keeps
 * working, and the owner can still recover with the card's own tools.
 *
 * "The one last accepted" is kept per slot as a salted PBKDF2 hash (a random
 * salt per process, memory only), compared in constant time. It belongs to
 * the token the slot held then (the slot's epoch): a token removed and put
 * back starts without one.
 *
 * Tries left come from the driver's cached token info (kept fresh by every
 * VERIFY answer), so the right-PIN path costs no extra APDU; only an unknown
 * PIN counter is asked for (pin_status), an unknown PUK counter with
 * puk_status where the driver has it. A counter that stays unknown counts as
 * "not above reserved": only the remembered secret passes then. */
#ifndef TOKEND_PKCS11_PIN_GUARD_H
#define TOKEND_PKCS11_PIN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"

#define PIN_GUARD_HASH_LEN 32

/* A secret's hash (set: computed). */
struct pin_hash {
	uint8_t h[PIN_GUARD_HASH_LEN];
	bool set;
};

/* Per slot, under slot->lock. */
struct pin_guard {
	uint64_t epoch;           /* the token the hashes below belong to */
	struct pin_hash pin, puk; /* last accepted; set false: none */
};

/* Hashes secret (slow on purpose: call it without holding a lock). Returns
 * 0 or TK_ERR_CRYPTO. */
int pin_guard_hash(const uint8_t *secret, size_t len, struct pin_hash *out);

/* Whether a secret of `which` (TK_USER_PIN or TK_USER_PUK) with hash h may
 * go to the token now: tries_left is the token's counter (-1 unknown).
 * reserved 0 always allows. The decision alone, for callers and tests. */
bool pin_guard_allows(const struct pin_guard *g, uint64_t epoch,
		      enum tk_user which, int tries_left, unsigned reserved,
		      const struct pin_hash *h);

/* After the token answered a secret of `which` with hash h: r is the
 * driver's result. A success remembers h; a refusal of the remembered
 * secret forgets it (it was changed elsewhere), so it costs one try at
 * most. */
void pin_guard_result(struct pin_guard *g, uint64_t epoch, enum tk_user which,
		      const struct pin_hash *h, int r);
/* The token now holds `which` = the secret of hash h (a change or unblock
 * succeeded); h unset forgets. */
void pin_guard_set(struct pin_guard *g, uint64_t epoch, enum tk_user which,
		   const struct pin_hash *h);
void pin_guard_wipe(struct pin_hash *h);

#endif
