/* Tries kept back: see pin_guard.h. */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "error.h"
#include "pin_guard.h"

/* PBKDF2-HMAC-SHA256: slow enough that a memory dump does not give the PIN
 * away at once (a PIV PIN has few bits), fast enough for every login of
 * many clients (1-4 ms here, computed outside the slot locks). */
#define GUARD_ITER 4096
#define GUARD_SALT_LEN 16

static uint8_t guard_salt[GUARD_SALT_LEN];
static bool guard_salt_ok;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_salt_init(void)
{
	guard_salt_ok = RAND_bytes(guard_salt, sizeof(guard_salt)) == 1;
}

int pin_guard_hash(const uint8_t *secret, size_t len, struct pin_hash *out)
{
	memset(out, 0, sizeof(*out));
	pthread_once(&guard_once, guard_salt_init);
	if (!guard_salt_ok || len > INT32_MAX)
		return TK_ERR_CRYPTO;
	if (PKCS5_PBKDF2_HMAC((const char *)secret, (int)len, guard_salt,
			      sizeof(guard_salt), GUARD_ITER, EVP_sha256(),
			      sizeof(out->h), out->h) != 1) {
		pin_guard_wipe(out);
		return TK_ERR_CRYPTO;
	}
	out->set = true;
	return 0;
}

void pin_guard_wipe(struct pin_hash *h)
{
	explicit_bzero(h, sizeof(*h));
}

static const struct pin_hash *guard_kept(const struct pin_guard *g,
					 uint64_t epoch, enum tk_user which)
{
	const struct pin_hash *k = which == TK_USER_PUK ? &g->puk : &g->pin;

	return g->epoch == epoch && k->set ? k : NULL;
}

static bool guard_match(const struct pin_guard *g, uint64_t epoch,
			enum tk_user which, const struct pin_hash *h)
{
	const struct pin_hash *k = guard_kept(g, epoch, which);

	return k && h && h->set && CRYPTO_memcmp(k->h, h->h, sizeof(k->h)) == 0;
}

bool pin_guard_allows(const struct pin_guard *g, uint64_t epoch,
		      enum tk_user which, int tries_left, unsigned reserved,
		      const struct pin_hash *h)
{
	if (reserved == 0)
		return true;
	if (tries_left >= 0 && (unsigned)tries_left > reserved)
		return true;
	/* At or below the reserve (or unknown): only the remembered secret,
	 * and never to a token that is locked already. */
	return tries_left != 0 && guard_match(g, epoch, which, h);
}

/* Hashes of another token (the slot's epoch moved) are dropped first. */
static void guard_epoch(struct pin_guard *g, uint64_t epoch)
{
	if (g->epoch == epoch)
		return;
	pin_guard_wipe(&g->pin);
	pin_guard_wipe(&g->puk);
	g->epoch = epoch;
}

void pin_guard_set(struct pin_guard *g, uint64_t epoch, enum tk_user which,
		   const struct pin_hash *h)
{
	struct pin_hash *k;

	if (which != TK_USER_PIN && which != TK_USER_PUK)
		return;
	guard_epoch(g, epoch);
	k = which == TK_USER_PUK ? &g->puk : &g->pin;
	if (h && h->set)
		*k = *h;
	else
		pin_guard_wipe(k);
}

void pin_guard_result(struct pin_guard *g, uint64_t epoch, enum tk_user which,
		      const struct pin_hash *h, int r)
{
	if (which != TK_USER_PIN && which != TK_USER_PUK)
		return;
	if (r == 0 && h && h->set)
		pin_guard_set(g, epoch, which, h);
	else if ((r == TK_ERR_PIN_INCORRECT || r == TK_ERR_PIN_LOCKED) &&
		 guard_match(g, epoch, which, h))
		pin_guard_set(g, epoch, which, NULL);
}
