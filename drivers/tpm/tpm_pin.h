/* The TPM token's PINs: a token secret sealed under each PIN, tokend's own
 * wrong-PIN counter, and the keys' auth values derived from the secret.
 * The reasoning is at the top of tpm_pin.c. Not thread-safe: the driver
 * serialises. */
#ifndef TOKEND_TPM_PIN_H
#define TOKEND_TPM_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "tpm_esys.h"
#include "tpm_store.h"

#define TPM_SECRET_LEN 32
#define TPM_PIN_DELAY_CAP_MS 5000u
#define TPM_PIN_FILE_SALT "salt"
#define TPM_PIN_FILE_SO "so.seal"
#define TPM_PIN_FILE_USER "user.seal"
#define TPM_PIN_FILE_COUNTER "counter"

struct tpm_pin {
	struct tpm_store *store;
	bool have_salt, have_so, have_user;
	uint8_t salt[TPM_SALT_LEN];
	uint32_t iterations;
	struct tpm_blob so, user;
	uint32_t fails;        /* wrong PINs since the last right one */
	uint64_t last_fail_ms; /* CLOCK_MONOTONIC; the load counts as one */
	unsigned cap_ms;       /* the delay's bound */
};

/* Reads salt, sealed secrets and counter from the store. */
int tpm_pin_load(struct tpm_pin *p, struct tpm_store *store);
void tpm_pin_clear(struct tpm_pin *p);
/* Whether the SO PIN was set (the first C_InitToken happened). */
bool tpm_pin_initialized(const struct tpm_pin *p);
bool tpm_pin_user_set(const struct tpm_pin *p);

/* The wait before the try after `fails` wrong ones: 0, 0, 1 s, 2 s, 4 s
 * ... at most cap_ms. Pure. */
unsigned tpm_pin_delay_ms(uint32_t fails, unsigned cap_ms);

/* CLOCK_MONOTONIC ms before which tpm_pin_check refuses (TK_ERR_NOT_YET);
 * 0: none. */
uint64_t tpm_pin_not_before(const struct tpm_pin *p);

/* A new token: new salt and token secret S, S sealed under the SO PIN,
 * the user PIN unset. S out. */
int tpm_pin_init_token(struct tpm_pin *p, struct tpm_ctx *ctx,
		       const uint8_t *so, size_t so_len,
		       uint8_t s[TPM_SECRET_LEN]);
/* Checks a PIN (TK_USER_PIN or TK_USER_ADMIN) by unsealing S with it;
 * counts and logs a wrong one. Never waits: TK_ERR_NOT_YET before
 * tpm_pin_not_before (nothing counted). TK_ERR_PIN_INCORRECT,
 * TK_ERR_PIN_LOCKED (the TPM in lockout), TK_ERR_AUTH_REQUIRED (that PIN
 * is not set). */
int tpm_pin_check(struct tpm_pin *p, struct tpm_ctx *ctx, enum tk_user who,
		  const uint8_t *pin, size_t len, uint8_t s[TPM_SECRET_LEN]);
/* Seals S under a new PIN of `who`. */
int tpm_pin_set(struct tpm_pin *p, struct tpm_ctx *ctx, enum tk_user who,
		const uint8_t s[TPM_SECRET_LEN], const uint8_t *pin,
		size_t len);
/* A key's auth value: HMAC-SHA256(S, "key" || file name). */
int tpm_pin_key_auth(const uint8_t s[TPM_SECRET_LEN], const char *name,
		     uint8_t out[TPM_AUTH_MAX]);

#endif
