/* A software token driver for the front end's unit tests: OpenSSL keys in
 * memory behind the driver interface (drivers/driver.h), shaped like a
 * PKCS#11 module (SoftHSMv2) rather than a PIV card: 20-byte CKA_IDs (the
 * SHA-1 of the public key), a secret key, its own mechanism list with
 * whole operations, an SO PIN that is a plain PIN and may set the user's,
 * a PIN with a retry counter (and a PUK, by tokend's C_SetPIN prefixes),
 * and counters of every call so tests can prove what reached the "device".
 * Not for production. */
#ifndef TOKEND_TEST_SOFT_TOKEN_H
#define TOKEND_TEST_SOFT_TOKEN_H

#include "driver.h"

#define SOFT_PIN "123456"
#define SOFT_PUK "12345678"
/* The SO PIN, as CKU_SO and C_InitToken take it: a plain PIN. */
#define SOFT_SO_PIN "so-secret"
#define SOFT_DEVICE "Soft Reader 00"

/* What the soft token holds after open(), by handle (its key number):
 *  1 RSA-2048, PIN once, with a certificate
 *  2 P-256, PIN always, with a certificate
 *  3 P-384, PIN once (ECDH)
 *  4 Ed25519, PIN never
 *  5 X25519, PIN once
 * each with CKA_ID soft_id(n) (20 bytes) and label "soft key n"; the secret
 * key SOFT_SECRET (HMAC-SHA256, 32 bytes, private); a public data object;
 * and a PIN-protected data object after load_private().
 * Mechanisms: the front end's (raw), but CKM_SHA256_RSA_PKCS and
 * CKM_SHA256_HMAC are whole operations of the token. */
#define SOFT_NKEYS 5
#define SOFT_SECRET 100 /* the secret key's handle */
/* A vendor attribute of private keys read from the "device" each time. */
#define SOFT_CKA_SERIAL (0x80000000UL | 0x534F0001UL)
struct soft_stats {
	int open, close, info, objects, load_private;
	int login, logout, reauth, sign, decrypt, derive;
	int generate, import_key, write_cert, delete_cert, delete_key;
	int change_pin, unblock_pin, reset;
	int discover, attr_device, create_data, init_pin;
	int sign_whole;           /* sign() calls with a mechanism */
	int size_query;           /* sign()/decrypt() with no output buffer */
	unsigned long whole_mech; /* the last one */
	unsigned discover_what;   /* of the last discover() */
	struct tk_id discover_id;
	int verify, random; /* verify() and random() calls */
	int destroy;        /* destroy() calls, the last one's kind */
	unsigned destroy_kind;
};

extern struct soft_stats soft_stats;

/* Test controls, applied to the (single) device. */
struct soft_control {
	bool present;
	uint32_t events;
	int pin_tries_left;      /* set before open to start with fewer tries */
	void (*sign_hook)(void); /* called as sign() starts: a slow card */
	/* Called as login, logout, change_pin, generate, create_data,
	 * discover and load_private start, with the op's name: a slow card. */
	void (*card_hook)(const char *op);
	bool discover_fails; /* discover() fails (TK_ERR_TRANSPORT) */
	/* Set before open: the token has random(). Not reset by
	 * soft_reset_all(): a test sets it before p11_up, clears it after. */
	bool rng;
	/* Set before open, likewise: keys shaped as a module shows them
	 * (tk_key.parts): 1 private+public+certificate, 2 private+certificate
	 * (its public key object gone), 3 and 5 private+public, 4 a public
	 * key alone; the token has destroy() and login_reveals private keys. */
	bool parts;
	/* Set by fuzz targets, likewise: generate() hands out the cached key
	 * of the algorithm (soft_key) instead of a fresh one, so an input
	 * that generates many RSA keys is not slow. */
	bool cached_keygen;
};
extern struct soft_control soft_control;

int soft_driver_new(struct tk_driver **out);

/* The scripted watcher: the queue the front end takes the soft device's
 * events from (frontend_set_queue_for_test, frontend_events_queue), and
 * what a user does to the card. soft_reset_all() empties it and reports
 * the reader and, when soft_control.present, its card. */
struct hotplug_queue *soft_queue(void);
void soft_insert(void); /* a card arrives */
void soft_remove(void); /* the card leaves */
void soft_swap(void);   /* another card in its place: left, arrived */
/* The key the token holds as number n (a new reference), for verification.
 */
EVP_PKEY *soft_key(int n);
/* Its CKA_ID (20 bytes); the secret key's is soft_id(SOFT_SECRET). */
struct tk_id soft_id(int n);
/* soft_id(n)'s bytes in storage that stays (n < 256; keys not on the
 * token get an ID of their own), for templates. */
const uint8_t *soft_idb(int n);
#define SOFT_ID_LEN 20
/* The n that soft_idb(n) names by these bytes, 0 for none. */
int soft_id_num(const void *id, size_t len);
/* The secret key's value, for verifying an HMAC. */
extern const uint8_t soft_secret_value[32];
void soft_reset_all(void);

#endif
