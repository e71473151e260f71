/* The TPM token's PINs.
 *
 * Design. A random 32-byte token secret S is sealed in the TPM twice
 * (tpm_seal): under an auth value derived from the SO PIN (so.seal) and
 * under one derived from the user PIN (user.seal). The auth value is
 * PBKDF2-HMAC-SHA256(PIN, salt) cut to 32 bytes, the salt random per token
 * (file "salt", with the iteration count calibrated to ~20 ms when the
 * token is made). A PIN is checked by unsealing S with it: only the TPM
 * can say whether a PIN is right. Each key's auth value is
 * HMAC-SHA256(S, "key" || the key's file name), so the PINs unlock S and
 * not each key: C_InitPIN (the SO unseals S with the SO PIN and seals it
 * again under the new user PIN) and C_SetPIN leave every key usable.
 *
 * Offline guessing. The state directory holds no PIN hash: salt and sealed
 * blobs are testable only by TPM2_Unseal on this TPM (the blobs are
 * wrapped by its storage key, which never leaves it). A stolen state
 * directory is useless elsewhere, and guessing on this TPM goes through
 * tokend's counter below.
 *
 * Lockout. Sealed objects and keys are noDA (tpm_esys.c), so wrong PINs
 * never move the TPM's dictionary-attack counter, which is TPM-wide and
 * would lock every user of the TPM (swtpm: after 3). tokend counts wrong
 * PINs itself in the file "counter" (persisted at each one, so it
 * survives a restart) and waits a bounded, growing time before it answers
 * the next try (0, 0, 1 s, 2 s, 4 s, capped at 5 s); it never locks, so
 * the owner's right PIN always works in the end. The wait here is
 * token-wide (every client, the in-process module too, and across
 * restarts); the daemon adds its per-peer back-off (daemon/backoff.c,
 * where the peer is known) and its pin guard (pkcs11/pin_guard.c) sees a
 * counter that never runs low (tk_token_info.pin_tries_left stays high),
 * so it never refuses for the TPM token. The wait is never slept here:
 * the driver's PIN calls run with the token held, and a client sending
 * wrong PINs would stall every other client's signatures. The token says
 * when the next try may come (tpm_pin_not_before, in its info); the front
 * end waits that out holding no lock, and a try before it is refused at
 * once (TK_ERR_NOT_YET), without the TPM and without counting. Each
 * refusal is logged with the count; the daemon audits every login
 * attempt. TOKEND_TPM_DELAY_CAP_MS lowers the cap (tests). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "drv_log.h"
#include "tpm_pin.h"

#define PBKDF2_TARGET_MS 20
#define PBKDF2_MIN_ITER 10000u
#define PBKDF2_MAX_ITER 5000000u

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

unsigned tpm_pin_delay_ms(uint32_t fails, unsigned cap_ms)
{
	uint64_t d;

	if (fails < 2)
		return 0;
	d = fails - 2 >= 16 ? UINT64_MAX : 1000ull << (fails - 2);
	return d > cap_ms ? cap_ms : (unsigned)d;
}

uint64_t tpm_pin_not_before(const struct tpm_pin *p)
{
	unsigned d = tpm_pin_delay_ms(p->fails, p->cap_ms);

	return d ? p->last_fail_ms + d : 0;
}

int tpm_pin_load(struct tpm_pin *p, struct tpm_store *store)
{
	struct tpm_rec r;
	const char *cap = getenv("TOKEND_TPM_DELAY_CAP_MS");
	int rc;

	memset(p, 0, sizeof(*p));
	p->store = store;
	p->cap_ms =
	    cap ? (unsigned)strtoul(cap, NULL, 10) : TPM_PIN_DELAY_CAP_MS;
	if (p->cap_ms > TPM_PIN_DELAY_CAP_MS)
		p->cap_ms = TPM_PIN_DELAY_CAP_MS;
	if (tpm_store_read(store, TPM_PIN_FILE_SALT, &r) == 0 &&
	    r.kind == TPM_REC_SALT) {
		memcpy(p->salt, r.salt, TPM_SALT_LEN);
		p->iterations = r.iterations;
		p->have_salt = r.iterations <= PBKDF2_MAX_ITER;
	}
	tpm_rec_clear(&r);
	if (tpm_store_read(store, TPM_PIN_FILE_SO, &r) == 0 &&
	    r.kind == TPM_REC_SEAL) {
		p->so = r.blob;
		p->have_so = true;
	}
	tpm_rec_clear(&r);
	if (tpm_store_read(store, TPM_PIN_FILE_USER, &r) == 0 &&
	    r.kind == TPM_REC_SEAL) {
		p->user = r.blob;
		p->have_user = true;
	}
	tpm_rec_clear(&r);
	rc = tpm_store_read(store, TPM_PIN_FILE_COUNTER, &r);
	if (rc == 0 && r.kind == TPM_REC_COUNTER)
		p->fails = r.count;
	tpm_rec_clear(&r);
	/* After a restart the wait runs from now: restarting tokend does
	 * not buy an attacker a try. */
	p->last_fail_ms = now_ms();
	return 0;
}

void tpm_pin_clear(struct tpm_pin *p)
{
	explicit_bzero(p, sizeof(*p));
}

bool tpm_pin_initialized(const struct tpm_pin *p)
{
	return p->have_salt && p->have_so;
}

bool tpm_pin_user_set(const struct tpm_pin *p)
{
	return tpm_pin_initialized(p) && p->have_user;
}

static int pin_auth(const struct tpm_pin *p, const uint8_t *pin, size_t len,
		    uint8_t out[TPM_AUTH_MAX])
{
	return PKCS5_PBKDF2_HMAC((const char *)pin, (int)len, p->salt,
				 TPM_SALT_LEN, (int)p->iterations, EVP_sha256(),
				 TPM_AUTH_MAX, out) == 1
		   ? 0
		   : TK_ERR_CRYPTO;
}

/* Iterations for ~PBKDF2_TARGET_MS on this machine. */
static uint32_t pin_calibrate(void)
{
	uint8_t out[32], salt[16] = { 0 };
	uint64_t t0 = now_ms(), dt;
	uint64_t it;

	PKCS5_PBKDF2_HMAC("calibrate", 9, salt, sizeof(salt),
			  (int)PBKDF2_MIN_ITER, EVP_sha256(), sizeof(out), out);
	dt = now_ms() - t0;
	it = dt ? (uint64_t)PBKDF2_MIN_ITER * PBKDF2_TARGET_MS / dt
		: (uint64_t)PBKDF2_MIN_ITER * PBKDF2_TARGET_MS;
	if (it < PBKDF2_MIN_ITER)
		it = PBKDF2_MIN_ITER;
	if (it > PBKDF2_MAX_ITER)
		it = PBKDF2_MAX_ITER;
	return (uint32_t)it;
}

static int counter_write(struct tpm_pin *p)
{
	struct tpm_rec r = { .kind = TPM_REC_COUNTER, .count = p->fails };

	snprintf(r.name, sizeof(r.name), "%s", TPM_PIN_FILE_COUNTER);
	return tpm_store_write(p->store, &r);
}

static int seal_write(struct tpm_pin *p, struct tpm_ctx *ctx, const char *name,
		      const uint8_t s[TPM_SECRET_LEN], const uint8_t *pin,
		      size_t len, struct tpm_blob *blob)
{
	struct tpm_rec r = { .kind = TPM_REC_SEAL };
	uint8_t auth[TPM_AUTH_MAX];
	int rc;

	snprintf(r.name, sizeof(r.name), "%s", name);
	if ((rc = pin_auth(p, pin, len, auth)) < 0 ||
	    (rc = tpm_seal(ctx, s, TPM_SECRET_LEN, auth, sizeof(auth),
			   &r.blob)) < 0 ||
	    (rc = tpm_store_write(p->store, &r)) < 0)
		goto out;
	*blob = r.blob;
out:
	explicit_bzero(auth, sizeof(auth));
	explicit_bzero(&r, sizeof(r));
	return rc;
}

int tpm_pin_init_token(struct tpm_pin *p, struct tpm_ctx *ctx,
		       const uint8_t *so, size_t so_len,
		       uint8_t s[TPM_SECRET_LEN])
{
	struct tpm_rec r = { .kind = TPM_REC_SALT };
	int rc;

	snprintf(r.name, sizeof(r.name), "%s", TPM_PIN_FILE_SALT);
	if ((rc = tpm_random(ctx, r.salt, TPM_SALT_LEN)) < 0 ||
	    (rc = tpm_random(ctx, s, TPM_SECRET_LEN)) < 0)
		return rc;
	r.iterations = pin_calibrate();
	/* The user PIN of the old secret is worthless now: gone first. */
	if ((rc = tpm_store_remove(p->store, TPM_PIN_FILE_USER)) < 0)
		return rc;
	p->have_user = false;
	p->have_so = false;
	if ((rc = tpm_store_write(p->store, &r)) < 0)
		return rc;
	memcpy(p->salt, r.salt, TPM_SALT_LEN);
	p->iterations = r.iterations;
	p->have_salt = true;
	if ((rc = seal_write(p, ctx, TPM_PIN_FILE_SO, s, so, so_len, &p->so)) <
	    0)
		return rc;
	p->have_so = true;
	p->fails = 0;
	return counter_write(p);
}

int tpm_pin_check(struct tpm_pin *p, struct tpm_ctx *ctx, enum tk_user who,
		  const uint8_t *pin, size_t len, uint8_t s[TPM_SECRET_LEN])
{
	const struct tpm_blob *blob = who == TK_USER_ADMIN ? &p->so : &p->user;
	uint8_t auth[TPM_AUTH_MAX];
	size_t slen = TPM_SECRET_LEN;
	int rc;

	if (!tpm_pin_initialized(p) || (who == TK_USER_PIN && !p->have_user))
		return TK_ERR_AUTH_REQUIRED;
	if (now_ms() < tpm_pin_not_before(p))
		return TK_ERR_NOT_YET;
	if ((rc = pin_auth(p, pin, len, auth)) < 0)
		goto out;
	rc = tpm_unseal(ctx, blob, auth, sizeof(auth), s, &slen);
	if (rc == 0 && slen != TPM_SECRET_LEN)
		rc = TK_ERR_INVALID;
	if (rc == TK_ERR_PIN_INCORRECT) {
		p->fails++;
		p->last_fail_ms = now_ms();
		DRV_NOTICE(
		    "TPM token: wrong %s PIN refused (%u wrong since the "
		    "last right one; the next try waits %u ms)",
		    who == TK_USER_ADMIN ? "SO" : "user", p->fails,
		    tpm_pin_delay_ms(p->fails, p->cap_ms));
		if (counter_write(p) < 0)
			DRV_NOTICE("TPM token: the wrong-PIN counter could not "
				   "be saved");
	} else if (rc == 0 && p->fails) {
		p->fails = 0;
		(void)counter_write(p);
	}
out:
	explicit_bzero(auth, sizeof(auth));
	if (rc < 0)
		explicit_bzero(s, TPM_SECRET_LEN);
	return rc;
}

int tpm_pin_set(struct tpm_pin *p, struct tpm_ctx *ctx, enum tk_user who,
		const uint8_t s[TPM_SECRET_LEN], const uint8_t *pin, size_t len)
{
	int rc;

	if (!tpm_pin_initialized(p))
		return TK_ERR_AUTH_REQUIRED;
	if (who == TK_USER_ADMIN)
		return seal_write(p, ctx, TPM_PIN_FILE_SO, s, pin, len, &p->so);
	if ((rc = seal_write(p, ctx, TPM_PIN_FILE_USER, s, pin, len,
			     &p->user)) == 0)
		p->have_user = true;
	return rc;
}

int tpm_pin_key_auth(const uint8_t s[TPM_SECRET_LEN], const char *name,
		     uint8_t out[TPM_AUTH_MAX])
{
	uint8_t msg[3 + TPM_STORE_NAME_MAX];
	size_t nl = strnlen(name, TPM_STORE_NAME_MAX);
	unsigned olen = 0;

	memcpy(msg, "key", 3);
	memcpy(msg + 3, name, nl);
	if (!HMAC(EVP_sha256(), s, TPM_SECRET_LEN, msg, 3 + nl, out, &olen) ||
	    olen != TPM_AUTH_MAX)
		return TK_ERR_CRYPTO;
	return 0;
}
