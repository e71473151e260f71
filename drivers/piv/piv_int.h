/* Shared between the PIV driver's sources only (piv_driver.c, piv_token.c,
 * piv_read.c, piv_admin.c, piv_slots.c, piv_p11.c). */
#ifndef TOKEND_DRIVERS_PIV_INT_H
#define TOKEND_DRIVERS_PIV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "pcsc.h"
#include "piv.h"
#include "yubikey.h"

/* Key slots in CKA_ID order: index i has id i + 1 (9A..9E = 1..4, 82..95 =
 * 5..24, F9 = 25). */
#define PIV_NKEYS 25
/* CHUID, CCC, Discovery, Key History, Printed Information. */
#define PIV_NDATA 5

extern const uint8_t piv_key_refs[PIV_NKEYS];

struct piv_token {
	struct tk_token base;
	struct pcsc_card *card;
	struct piv_card *piv;
	struct tk_token_info info;
	bool yubikey;
	bool has_metadata; /* F7 (firmware 5.3+) */
	bool dead;         /* TK_ERR_REMOVED seen: every call fails fast */
	uint8_t mgm_alg;   /* 9B algorithm from F7, else 3DES */
	uint8_t ident[16]; /* CHUID GUID, else a digest of the FASC-N */
	bool has_ident;
	struct piv_app_info app; /* from SELECT: algorithms a card lists */
	uint8_t retired_on_card; /* Key History: retired certificates */
	bool has_key_history;

	/* The cache: keys[i] is slot piv_key_refs[i] when has_key[i]. */
	struct tk_key keys[PIV_NKEYS];
	bool has_key[PIV_NKEYS];
	struct tk_data data[PIV_NDATA];
	bool has_data[PIV_NDATA];
	bool private_loaded; /* Printed Information read since login */
	/* What discovery has read since open (bit i: slot / data index i);
	 * see piv_read.c. */
	uint32_t key_seen;
	uint32_t cert_seen;
	uint32_t data_seen;
	bool mgm_seen; /* 9B's F7 (management-key algorithm) */
	/* The last attestation of each slot's key (F9 signs anew each time,
	 * and an ECDSA signature's length varies: a size query and the read
	 * that follows must agree). Dropped when the key changes. */
	uint8_t *attest_der[PIV_NKEYS];
	size_t attest_len[PIV_NKEYS];
	/* What objects() hands out: the present entries, packed. */
	struct tk_key key_view[PIV_NKEYS];
	struct tk_data data_view[PIV_NDATA];
	struct tk_objects objs;

	/* The PIN of the logged-in user, kept only to restore the card's
	 * verified state (see piv_token.c); wiped on logout and close. */
	uint8_t pin[8];
	size_t pin_len;
	bool admin; /* management key authenticated (this session) */
	/* The most PIN tries left seen since the card was read: what a
	 * success restores at least when the card does not tell its maximum
	 * (plain PIV), so the front end's guard need not ask again. */
	int pin_tries_high;
	unsigned long open_apdus; /* what reading the card cost */
};

/* Recoveries an operation allows (piv_token_run). */
enum {
	PIV_RUN_RESELECT = 1u << 0, /* wrong applet: re-SELECT, retry once */
	PIV_RUN_REVERIFY = 1u << 1, /* 6982 with the PIN held: VERIFY, retry */
};

typedef int (*piv_op_fn)(struct piv_token *t, void *arg);

/* Runs fn inside one PC/SC transaction with the recoveries of piv_token.c:
 * a reset card is reconnected, re-SELECTed and re-VERIFYed (PIN held) and
 * fn retried once; flags add the other two. */
int piv_token_run(struct piv_token *t, piv_op_fn fn, void *arg, unsigned flags);
/* Bumps gen after a change to the cache. */
void piv_token_changed(struct piv_token *t);
/* Index of a key reference in piv_key_refs, -1 if none. */
int piv_key_index(uint8_t ref);
/* Frees one cache entry's key material and certificate. */
void piv_key_clear(struct tk_key *k);
/* The slot's default policies, per SP 800-73-4 / YubiKey. */
enum tk_pin_policy piv_slot_pin_default(uint8_t ref);
/* Algorithm and policy conversions; TK_ALG_NONE / 0 when unknown. */
enum tk_alg piv_alg_to_tk(uint8_t alg);
uint8_t piv_alg_from_tk(enum tk_alg alg);
enum tk_pin_policy piv_pin_policy_to_tk(uint8_t ref, uint8_t p);
enum tk_touch_policy piv_touch_policy_to_tk(uint8_t p);
uint8_t piv_pin_policy_from_tk(enum tk_pin_policy p);
uint8_t piv_touch_policy_from_tk(enum tk_touch_policy p);
/* Fills the fixed parts of keys[i] (handle, id, labels). */
void piv_key_init(struct tk_key *k, int i);
/* A DER certificate into keys[i] (takes a copy); pub from it when unset. */
int piv_key_set_cert(struct tk_key *k, const uint8_t *der, size_t len);
/* Index of a data-object tag in the cache, -1 if not cached. */
int piv_data_index(uint32_t tag);
/* Replaces a cached data object (len 0 removes it). */
int piv_data_set(struct piv_token *t, int i, const uint8_t *v, size_t len);

/* Drops every cached object (close, reset). */
void piv_cache_clear(struct piv_token *t);
/* The PIN counter as the card just told it (-1: unknown; kept then), and
 * after a success (the maximum, or the most seen when it is unknown). */
void piv_pin_tries_set(struct piv_token *t, int tries);
void piv_pin_tries_full(struct piv_token *t);
/* Wipes the held PIN. */
void piv_token_forget_pin(struct piv_token *t);

/* piv_read.c: reads what open needs, inside a transaction. */
int piv_read_card(struct piv_token *t);
/* The tk_token_ops discover op (TK_DISCOVER_* flags). */
int piv_discover(struct piv_token *t, unsigned what, uint8_t ref);
/* The same for a CKA_ID (the discover op). */
int piv_discover_id(struct piv_token *t, unsigned what, const uint8_t *id,
		    size_t id_len);
/* Within a transaction: 9B's F7 once (YubiKey 5.3+), for mgm_alg. */
int piv_read_mgm(struct piv_token *t);
int piv_read_private(struct piv_token *t, void *arg);
/* Recomputes capabilities, label, model from what was read. */
void piv_read_info(struct piv_token *t);

/* piv_admin.c: the administrative ops of struct tk_token_ops. */
int piv_admin_generate(struct tk_token *tok, const struct tk_id *id,
		       enum tk_alg alg, enum tk_pin_policy pin,
		       enum tk_touch_policy touch, uint32_t *handle);
int piv_admin_import_key(struct tk_token *tok, const struct tk_id *id,
			 EVP_PKEY *priv, enum tk_pin_policy pin,
			 enum tk_touch_policy touch, uint32_t *handle);
int piv_admin_write_cert(struct tk_token *tok, const struct tk_id *id,
			 const uint8_t *der, size_t len, uint32_t *handle);
int piv_admin_delete_cert(struct tk_token *tok, uint32_t key);
int piv_admin_delete_key(struct tk_token *tok, uint32_t key);
int piv_admin_create_data(struct tk_token *tok, const struct tk_attr *tmpl,
			  size_t n, uint32_t *handle);
int piv_admin_delete_data(struct tk_token *tok, uint32_t tag);
/* One tag's PUT DATA, and the cache after it (len 0 deletes). */
int piv_admin_write_data(struct piv_token *t, uint32_t tag,
			 const uint8_t *value, size_t len);
int piv_admin_attest(struct tk_token *tok, uint8_t ref, uint8_t **der,
		     size_t *len);
int piv_admin_reset(struct tk_token *tok);
/* Drops slot i's cached attestation. */
void piv_attest_forget(struct piv_token *t, int i);

/* piv_token.c */
int piv_token_open(struct pcsc_ctx *ctx, const char *reader,
		   struct tk_token **out);
/* The cached key in slot ref, NULL when none. */
const struct tk_key *piv_token_key(struct tk_token *tok, uint32_t ref);

/* piv_p11.c: the PKCS#11 conventions of PIV tokens. */
/* CKA_ID of slot index i (one byte: 9A..9E = 01..04, 82..95 = 05..18,
 * F9 = 19, as OpenSC numbers them); the index a CKA_ID names, or -1. */
void piv_id_of(int i, struct tk_id *id);
int piv_id_index(const uint8_t *id, size_t len);
/* The labels of slot i's private key, public key and certificate. */
void piv_key_labels(struct tk_key *k, int i);
/* The management key from hex digits (spaces and colons ignored);
 * TK_ERR_PIN_INCORRECT when they do not decode. out may hold part of the
 * key on failure: wipe it. */
int piv_mgm_key_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		       size_t *out_len);
/* A container's CKA_OBJECT_ID into d->oid (none for an unknown tag). */
void piv_data_oid(uint32_t tag, struct tk_data *d);
/* The container and value a C_CreateObject template names (errors as
 * create_data gives them). */
int piv_data_request(const struct tk_attr *t, size_t n, uint32_t *tag,
		     const uint8_t **value, size_t *len);
/* The attr op and the driver's attr_on_device. */
int piv_attr(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	     unsigned long type, struct buf *out);
bool piv_attr_on_device(unsigned long type);

#endif
