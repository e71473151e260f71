/* Internal interface of the virtual YubiKey PIV application: the card state
 * and the handlers shared between piv_app.c, piv_auth.c, piv_keys.c,
 * piv_yk.c, piv_attest.c and piv_state.c. */
#ifndef TOKEND_PIV_APP_INT_H
#define TOKEND_PIV_APP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "reader.h"
#include "vcard.h"

/* Status words, as a YubiKey returns them. */
#define SW_OK 0x9000
#define SW_WRONG_LENGTH 0x6700
#define SW_SECURITY 0x6982
#define SW_AUTH_BLOCKED 0x6983
#define SW_CONDITIONS 0x6985
#define SW_WRONG_DATA 0x6a80
#define SW_FUNC_NOT_SUPPORTED 0x6a81
#define SW_NOT_FOUND 0x6a82
#define SW_NO_SPACE 0x6a84
#define SW_WRONG_P1P2 0x6a86
#define SW_INS_NOT_SUPPORTED 0x6d00
#define SW_CLA_NOT_SUPPORTED 0x6e00
#define SW_MEMORY 0x6581
#define SW_NO_INFO 0x6f00
#define SW_RETRIES(n) ((uint16_t)(0x63c0 | ((n) > 15 ? 15 : (n))))

/* Algorithms (P1 of GENERAL AUTHENTICATE / GENERATE, metadata tag 01). */
#define ALG_RSA1024 0x06
#define ALG_RSA2048 0x07
#define ALG_RSA3072 0x05
#define ALG_RSA4096 0x16
#define ALG_ECCP256 0x11
#define ALG_ECCP384 0x14
#define ALG_ED25519 0xe0
#define ALG_X25519 0xe1

/* PIN and touch policies as YubiKeys number them. */
#define POL_DEFAULT 0
#define PIN_NEVER 1
#define PIN_ONCE 2
#define PIN_ALWAYS 3
#define TOUCH_NEVER 1
#define TOUCH_ALWAYS 2
#define TOUCH_CACHED 3

#define ORIGIN_GENERATED 1
#define ORIGIN_IMPORTED 2

#define SLOT_MGM 0x9b
#define SLOT_ATTEST 0xf9
#define PIV_NSLOTS 25

#define OBJ_MAX 3063 /* bytes stored after the 5C tag, YubiKey 5 limit */
#define TAG_ATTEST_CERT 0x5fff01u
#define TAG_DISCOVERY 0x7eu
#define TAG_BIT_GROUP 0x7f61u

#define DEFAULT_PIN "123456"
#define DEFAULT_PUK "12345678"
#define DEFAULT_TRIES 3

struct piv_key {
	uint8_t alg; /* 0: slot empty */
	uint8_t pin_policy;
	uint8_t touch_policy;
	uint8_t origin;
	EVP_PKEY *pkey;
};

struct piv_obj {
	uint32_t tag;
	uint8_t *data; /* everything after the 5C tag, usually 53 len value */
	size_t len;
};

struct piv_ref {          /* a PIN or the PUK */
	uint8_t value[8]; /* padded with FF */
	uint8_t tries;
	uint8_t left;
};

enum mgm_pending { MGM_NONE, MGM_SINGLE, MGM_MUTUAL };

struct vcard_app {
	uint32_t serial;
	uint8_t fw[3];
	bool plain; /* a standard PIV card (vcard_opts.plain_piv) */
	char *state_path;

	struct piv_ref pin, puk;
	uint8_t mgm_alg;
	uint8_t mgm_key[32];
	size_t mgm_len;
	uint8_t mgm_touch; /* TOUCH_NEVER or TOUCH_ALWAYS */
	struct piv_key keys[PIV_NSLOTS];
	struct piv_obj *objs;
	size_t nobjs;

	/* Security status, dropped by vcard_app_reset. */
	bool selected;
	bool pin_verified;
	bool pin_fresh; /* VERIFY since the last PIN-always operation */
	bool mgm_authed;
	enum mgm_pending pending;
	uint8_t chal[16];
	size_t chal_len;
};

typedef uint16_t (*piv_handler)(struct vcard_app *app,
				const struct vcard_apdu *cmd, struct buf *out,
				bool *key_op);

/* piv_app.c */
int piv_slot_index(uint8_t slot); /* -1 when not a key slot */
uint8_t piv_slot_of_index(int idx);
bool piv_fw_at_least(const struct vcard_app *app, int major, int minor);
struct piv_key *piv_key_of(struct vcard_app *app, uint8_t slot);
const struct piv_obj *piv_obj_find(const struct vcard_app *app, uint32_t tag);
int piv_obj_set(struct vcard_app *app, uint32_t tag, const uint8_t *data,
		size_t len);
void piv_obj_delete(struct vcard_app *app, uint32_t tag);
void piv_objs_clear(struct vcard_app *app, bool keep_attest);
void piv_ref_set(struct piv_ref *ref, const char *value, uint8_t tries);
bool piv_ref_is(const struct piv_ref *ref, const char *value);
void piv_factory_pins(struct vcard_app *app, uint8_t pin_tries,
		      uint8_t puk_tries);
/* Saves the state file after a change: returns sw, or SW_MEMORY when the
 * save failed. */
uint16_t piv_commit(struct vcard_app *app, uint16_t sw);

/* piv_auth.c */
uint16_t piv_ins_general_auth(struct vcard_app *app,
			      const struct vcard_apdu *cmd, struct buf *out,
			      bool *key_op);
size_t piv_mgm_key_len(uint8_t alg); /* 0 when not a management alg */
void piv_mgm_default(struct vcard_app *app);

/* piv_keys.c */
uint16_t piv_ins_generate(struct vcard_app *app, const struct vcard_apdu *cmd,
			  struct buf *out, bool *key_op);
uint16_t piv_key_operation(struct vcard_app *app, uint8_t alg, uint8_t slot,
			   struct reader *tmpl, struct buf *out, bool *key_op);
bool piv_alg_supported(const struct vcard_app *app, uint8_t alg);
/* Resolves POL_DEFAULT and validates: -1 when the value is not allowed. */
int piv_policies(uint8_t slot, uint8_t *pin_policy, uint8_t *touch_policy);
int piv_keygen(uint8_t alg, EVP_PKEY **pkey);
/* Appends the inner TLVs of the 7F49 template (81/82 or 86). */
int piv_pubkey_encode(uint8_t alg, EVP_PKEY *pkey, struct buf *out);
int piv_key_alg_of(EVP_PKEY *pkey, uint8_t *alg);
void piv_key_clear(struct piv_key *key);
EVP_PKEY *piv_import_rsa(uint8_t alg, struct reader *data);
EVP_PKEY *piv_import_ec(uint8_t alg, const uint8_t *d, size_t len);

/* piv_yk.c */
uint16_t piv_ins_version(struct vcard_app *, const struct vcard_apdu *,
			 struct buf *, bool *);
uint16_t piv_ins_serial(struct vcard_app *, const struct vcard_apdu *,
			struct buf *, bool *);
uint16_t piv_ins_metadata(struct vcard_app *, const struct vcard_apdu *,
			  struct buf *, bool *);
uint16_t piv_ins_attest(struct vcard_app *, const struct vcard_apdu *,
			struct buf *, bool *);
uint16_t piv_ins_import(struct vcard_app *, const struct vcard_apdu *,
			struct buf *, bool *);
uint16_t piv_ins_set_mgm(struct vcard_app *, const struct vcard_apdu *,
			 struct buf *, bool *);
uint16_t piv_ins_reset(struct vcard_app *, const struct vcard_apdu *,
		       struct buf *, bool *);
uint16_t piv_ins_set_retries(struct vcard_app *, const struct vcard_apdu *,
			     struct buf *, bool *);
uint16_t piv_ins_move_key(struct vcard_app *, const struct vcard_apdu *,
			  struct buf *, bool *);

/* piv_attest.c */
/* Creates the F9 key and its self-signed CA certificate (object 5FFF01). */
int piv_attest_init(struct vcard_app *app);
/* Appends the DER attestation certificate for the key in slot. */
int piv_attest_cert(struct vcard_app *app, uint8_t slot, struct buf *out);

/* piv_state.c */
int piv_state_load(struct vcard_app *app, const char *path);
int piv_state_save(const struct vcard_app *app);

#endif
