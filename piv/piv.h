/* The PIV card protocol (NIST SP 800-73-4): APDUs, the PIV application's
 * commands, its data objects and public-key templates. Knows nothing of
 * PKCS#11 or PC/SC: the card is reached through a transmit callback, so the
 * driver above owns the reader and unit tests can script the card.
 *
 * Every function returns 0 or a negative TK_ERR_* (common/error.h). What the
 * codes mean here:
 *   TK_ERR_REMOVED, TK_ERR_RESET, TK_ERR_TRANSPORT  passed through unchanged
 *       from the transport, so the driver can reconnect, re-SELECT and
 *       re-VERIFY.
 *   TK_ERR_DEVICE   the card sent something we cannot accept: a truncated or
 *       garbled response, a malformed TLV, a status word we do not know, or
 *       more data than PIV_RESP_MAX. This is the one "card sent garbage" code.
 *   TK_ERR_INVALID  the card refused the data or parameters we sent
 *       (SW 6A80, 6A86, 6700, 6B00): e.g. a PIN of a length it won't take,
 *       or an algorithm the slot cannot hold.
 *   TK_ERR_PIN_INCORRECT (63Cx, *tries set), TK_ERR_PIN_LOCKED (6983),
 *   TK_ERR_AUTH_REQUIRED (6982), TK_ERR_NOT_FOUND (6A82, 6A88),
 *   TK_ERR_DENIED (6985, 6984), TK_ERR_UNSUPPORTED (6D00, 6E00, 6A81, 688x),
 *   TK_ERR_TOO_LARGE (6A84; an inflated certificate above PIV_CERT_MAX).
 *   TK_ERR_ARG      our caller's argument is impossible (checked before any
 *       APDU is sent, so a bad argument costs no round trip). */
#ifndef TOKEND_PIV_H
#define TOKEND_PIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "buf.h"
#include "iso7816.h"

/* Algorithm identifiers (SP 800-78-4 and Yubico's additions). */
enum {
	PIV_ALG_3DES = 0x03,
	PIV_ALG_RSA3072 = 0x05,
	PIV_ALG_RSA1024 = 0x06,
	PIV_ALG_RSA2048 = 0x07,
	PIV_ALG_AES128 = 0x08,
	PIV_ALG_AES192 = 0x0a,
	PIV_ALG_AES256 = 0x0c,
	PIV_ALG_ECCP256 = 0x11,
	PIV_ALG_ECCP384 = 0x14,
	PIV_ALG_RSA4096 = 0x16,
	PIV_ALG_ED25519 = 0xe0,
	PIV_ALG_X25519 = 0xe1,
};

/* Key references. Retired slots are 0x82..0x95. */
enum {
	PIV_SLOT_AUTH = 0x9a,
	PIV_SLOT_MGM = 0x9b,
	PIV_SLOT_SIGN = 0x9c,
	PIV_SLOT_KEYMGMT = 0x9d,
	PIV_SLOT_CARDAUTH = 0x9e,
	PIV_SLOT_RETIRED1 = 0x82,
	PIV_SLOT_RETIRED20 = 0x95,
	PIV_SLOT_ATTEST = 0xf9,
};

/* PIN references for VERIFY / CHANGE REFERENCE DATA. */
enum { PIV_REF_PIN = 0x80, PIV_REF_PUK = 0x81 };

/* Data objects (GET DATA tags). */
enum {
	PIV_OBJ_CARDAUTH = 0x5fc101,
	PIV_OBJ_CHUID = 0x5fc102,
	PIV_OBJ_AUTH = 0x5fc105,
	PIV_OBJ_CCC = 0x5fc107,
	PIV_OBJ_PRINTED = 0x5fc109,
	PIV_OBJ_SIGN = 0x5fc10a,
	PIV_OBJ_KEYMGMT = 0x5fc10b,
	PIV_OBJ_KEY_HISTORY = 0x5fc10c,
	PIV_OBJ_RETIRED1 = 0x5fc10d,
	PIV_OBJ_RETIRED20 = 0x5fc120,
	PIV_OBJ_DISCOVERY = 0x7e,
	PIV_OBJ_BITGT = 0x7f61,
	PIV_OBJ_ATTEST = 0x5fff01,
};

/* YubiKey PIN and touch policies (0 = the slot's default). */
enum {
	PIV_PIN_POLICY_DEFAULT = 0,
	PIV_PIN_POLICY_NEVER = 1,
	PIV_PIN_POLICY_ONCE = 2,
	PIV_PIN_POLICY_ALWAYS = 3,
	PIV_TOUCH_POLICY_DEFAULT = 0,
	PIV_TOUCH_POLICY_NEVER = 1,
	PIV_TOUCH_POLICY_ALWAYS = 2,
	PIV_TOUCH_POLICY_CACHED = 3,
};

/* A card response: up to 64 KiB of data plus the status word. */
#define PIV_RAPDU_MAX ISO7816_RAPDU_MAX
/* Most response data we accept for one command, across 61xx chains. */
#define PIV_RESP_MAX ISO7816_RESP_MAX
/* Most bytes an inflated (gzip) certificate may grow to. */
#define PIV_CERT_MAX 32768

/* Sends one C-APDU and receives the R-APDU (data and SW1 SW2) into rapdu;
 * *rlen is the buffer size on entry (PIV_RAPDU_MAX) and the response length
 * on return. Returns 0, or TK_ERR_REMOVED / TK_ERR_RESET / TK_ERR_TRANSPORT,
 * which the library hands up unchanged. (The struct iso7816_transport of
 * the APDU layer underneath, iso7816/iso7816.h.) */
struct piv_transport {
	int (*transmit)(void *ctx, const uint8_t *capdu, size_t clen,
			uint8_t *rapdu, size_t *rlen);
	void *ctx;
};

struct piv_card;

/* Extended-length state (enum iso7816_ext): the first GET DATA is the
 * probe. UNKNOWN: it is sent extended (no extra APDU); a refusal (6700,
 * 6D00, 6E00, 6F00 or a transport error) resends it short and remembers NO,
 * anything else remembers YES. With YES every command is one APDU (no
 * chaining, no 61xx). */
enum piv_ext {
	PIV_EXT_UNKNOWN = ISO7816_EXT_UNKNOWN,
	PIV_EXT_YES = ISO7816_EXT_YES,
	PIV_EXT_NO = ISO7816_EXT_NO,
};

int piv_card_new(const struct piv_transport *t, struct piv_card **out);
void piv_card_free(struct piv_card **c);
enum piv_ext piv_card_extended(const struct piv_card *c);
/* For a driver that knows better (reader limits, ATR), or to re-probe. */
void piv_card_set_extended(struct piv_card *c, enum piv_ext e);
/* C-APDUs sent so far, GET RESPONSEs and chained parts included: the
 * APDU budget is measured with this. */
unsigned long piv_card_apdu_count(const struct piv_card *c);

/* ---- APDU layer (apdu.c, on iso7816/iso7816.h) ---- */

/* One command (CLA 00). Response data, if any, is appended to resp (NULL:
 * the command has no response data and no Le is sent). Chaining, 61xx and
 * 6Cxx are handled by iso7816_transmit(). Returns transport/garbage errors
 * only; the status word is left to the caller. */
int piv_transmit(struct piv_card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		 const uint8_t *data, size_t len, struct buf *resp,
		 uint16_t *sw);
/* piv_transmit, with any status word but 9000 mapped by piv_sw_error(). */
int piv_command(struct piv_card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		const uint8_t *data, size_t len, struct buf *resp);
/* iso7816_sw_error() and iso7816_sw_tries(): the status-word table. */
int piv_sw_error(uint16_t sw);
int piv_sw_tries(uint16_t sw);

/* ---- Commands (piv.c) ---- */

struct piv_app_info {
	uint8_t aid[16]; /* from the application property template, tag 4F */
	size_t aid_len;
	uint8_t algs[32]; /* tag AC / 80 entries the card advertises */
	size_t nalgs;
};

/* SELECT the PIV application; info (may be NULL) gets the parsed property
 * template. Needed again after another program selected another applet. */
int piv_select(struct piv_card *c, struct piv_app_info *info);
/* Parses a SELECT response (the 61 template) on its own, for fuzzing. */
int piv_app_info_parse(const uint8_t *p, size_t len, struct piv_app_info *info);
/* GET DATA of a whole object: out is reset and gets the object's value
 * (inside 53, or 7E / 7F61 for those objects). Absent: TK_ERR_NOT_FOUND. */
int piv_get_data(struct piv_card *c, uint32_t tag, struct buf *out);
/* PUT DATA: wraps value in 53 (7E for Discovery). len 0 deletes. */
int piv_put_data(struct piv_card *c, uint32_t tag, const uint8_t *value,
		 size_t len);

/* tries (may be NULL) is set from 63Cx, else -1. PINs are 1..8 bytes, padded
 * with FF here; every copy is wiped. */
int piv_verify(struct piv_card *c, uint8_t ref, const uint8_t *pin, size_t len,
	       int *tries);
/* VERIFY without data: 0 when verified now; TK_ERR_AUTH_REQUIRED with
 * *tries when not; TK_ERR_PIN_LOCKED when blocked. Sends no PIN. */
int piv_pin_status(struct piv_card *c, uint8_t ref, int *tries);
/* VERIFY P1=FF: drops the PIN's security status (needs YubiKey 5+). */
int piv_logout(struct piv_card *c, uint8_t ref);
int piv_change_reference(struct piv_card *c, uint8_t ref, const uint8_t *old,
			 size_t oldlen, const uint8_t *new_, size_t newlen,
			 int *tries);
/* RESET RETRY COUNTER: unblocks the PIN with the PUK. tries is the PUK's. */
int piv_unblock_pin(struct piv_card *c, const uint8_t *puk, size_t puklen,
		    const uint8_t *pin, size_t pinlen, int *tries);

/* GENERAL AUTHENTICATE with a private key. RSA input must be exactly the
 * modulus length (padding is applied above, PIV cards do raw RSA); EC input
 * exactly the field size (the digest already shaped, above); Ed25519 input
 * is the message. The card's answer as it sent it is written to out
 * (*out_len: capacity in, length out; TK_ERR_TOO_LARGE when it does not
 * fit): RSA the k-byte block, ECDSA its DER, Ed25519 R || S. */
int piv_sign(struct piv_card *c, uint8_t alg, uint8_t slot, const uint8_t *in,
	     size_t inlen, uint8_t *sig, size_t *sig_len);
/* Raw RSA decryption: out gets the padded plaintext (the caller wipes). */
int piv_decipher(struct piv_card *c, uint8_t alg, uint8_t slot,
		 const uint8_t *in, size_t inlen, uint8_t *out,
		 size_t *out_len);
/* ECDH with the peer's point (uncompressed for P-256/384, 32 bytes for
 * X25519); out gets the shared secret. */
int piv_ecdh(struct piv_card *c, uint8_t alg, uint8_t slot,
	     const uint8_t *point, size_t len, uint8_t *out, size_t *out_len);
/* GENERATE ASYMMETRIC KEY PAIR; policies are sent only when non-default. */
int piv_generate(struct piv_card *c, uint8_t slot, uint8_t alg,
		 uint8_t pin_policy, uint8_t touch_policy, EVP_PKEY **pub);

/* ---- Management key (mgm.c) ---- */

/* Mutual authentication with the 9B key (3DES or AES). The card's 6982 on
 * the witness becomes TK_ERR_PIN_INCORRECT (wrong key); a card whose answer
 * to our challenge is wrong gives TK_ERR_DEVICE. */
int piv_mgm_auth(struct piv_card *c, uint8_t alg, const uint8_t *key,
		 size_t keylen);
/* Key length for a management algorithm, 0 if unknown. */
size_t piv_mgm_key_len(uint8_t alg);

/* ---- Algorithms and public keys (pubkey.c) ---- */

bool piv_alg_is_rsa(uint8_t alg);
bool piv_alg_is_ec(uint8_t alg); /* P-256, P-384 */
/* RSA modulus bytes, EC field bytes, 32 for Ed25519/X25519; 0 unknown. */
size_t piv_alg_size(uint8_t alg);
/* Parses the inside of a 7F49 template (81 n 82 e, or 86 point). */
int piv_pubkey_parse(uint8_t alg, const uint8_t *p, size_t len, EVP_PKEY **out);
/* Writes the inside of a 7F49 template for pk; *alg (may be NULL) gets its
 * PIV algorithm. */
int piv_pubkey_encode(const EVP_PKEY *pk, uint8_t *alg, struct buf *out);
/* The PIV algorithm of a key, TK_ERR_UNSUPPORTED if the card has none. */
int piv_pubkey_alg(const EVP_PKEY *pk, uint8_t *alg);

/* ---- Data objects (objects.c) ---- */

/* Slot <-> certificate object; TK_ERR_NOT_FOUND for anything else. */
int piv_slot_object(uint8_t slot, uint32_t *tag);
int piv_object_slot(uint32_t tag, uint8_t *slot);
/* True for 9A, 9C, 9D, 9E, 82..95 (not 9B, not F9). */
bool piv_slot_is_key(uint8_t slot);

/* A certificate object's value (53 contents): der (reset first) gets the
 * certificate, inflated when CertInfo says gzip. An empty object is
 * TK_ERR_NOT_FOUND. */
int piv_cert_parse(const uint8_t *p, size_t len, struct buf *der);
/* Builds a certificate object's value (70, 71, FE), gzip'd if asked. */
int piv_cert_build(const uint8_t *der, size_t len, bool compress,
		   struct buf *out);

struct piv_chuid {
	bool has_fascn, has_guid, has_expiry;
	uint8_t fascn[25];
	uint8_t guid[16];
	char expiry[9]; /* YYYYMMDD */
};
int piv_chuid_parse(const uint8_t *p, size_t len, struct piv_chuid *out);

struct piv_key_history {
	uint8_t on_card;  /* retired keys with their certificate on the card */
	uint8_t off_card; /* ... with the certificate elsewhere (URL) */
	bool has_url;
};
int piv_key_history_parse(const uint8_t *p, size_t len,
			  struct piv_key_history *out);

struct piv_discovery {
	uint8_t aid[16];
	size_t aid_len;
	uint8_t pin_policy[2]; /* 5F2F: global PIN / OCC usage bits */
	bool has_pin_policy;
};
/* The value of the 7E object, as piv_get_data returns it. */
int piv_discovery_parse(const uint8_t *p, size_t len,
			struct piv_discovery *out);

#endif
