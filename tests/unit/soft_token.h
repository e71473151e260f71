/* A software token driver for the front end's unit tests: OpenSSL keys in
 * memory behind the driver interface (drivers/driver.h), a PIN with a retry
 * counter, and counters of every call so tests can prove what reached the
 * "device". Not for production. */
#ifndef TOKEND_TEST_SOFT_TOKEN_H
#define TOKEND_TEST_SOFT_TOKEN_H

#include "driver.h"

#define SOFT_PIN "123456"
#define SOFT_PUK "12345678"
/* The management key as CKU_SO takes it (hex). */
#define SOFT_MGM_HEX "010203040506070801020304050607080102030405060708"
#define SOFT_DEVICE "Soft Reader 00"

/* What the soft token holds after open():
 *  9A (ID 01) RSA-2048, PIN once, with a certificate
 *  9C (ID 02) P-256, PIN always, with a certificate
 *  9D (ID 03) P-384, PIN once (ECDH)
 *  9E (ID 04) Ed25519, PIN never
 *  82 (ID 05) X25519, PIN once
 * and a public CHUID data object; a PIN-protected "printed" object appears
 * after load_private(). */
struct soft_stats {
	int scan, open, close, info, objects, load_private;
	int login, logout, sign, decrypt, derive;
	int generate, import_key, write_cert, delete_cert, delete_key;
	int change_pin, unblock_pin, reset;
	int discover, attest, write_data;
	unsigned discover_what; /* of the last discover() */
	uint8_t discover_ref;
};

extern struct soft_stats soft_stats;

/* Test controls, applied to the (single) device. */
struct soft_control {
	bool present;
	uint32_t events;
	int pin_tries_left;      /* set before open to start with fewer tries */
	void (*sign_hook)(void); /* called as sign() starts: a slow card */
	/* Called as login, logout, change_pin, generate, discover and
	 * load_private start, with the op's name: a slow card. */
	void (*card_hook)(const char *op);
	bool discover_fails;     /* discover() fails (TK_ERR_TRANSPORT) */
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
/* The key the token holds in ref (a new reference), for verification. */
EVP_PKEY *soft_key(uint8_t ref);
void soft_reset_all(void);

#endif
