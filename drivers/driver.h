/* The token-driver interface: what the PKCS#11 front end (pkcs11/) may ask of
 * a token, whatever its kind (PIV card, TPM, another PKCS#11 module).
 *
 * Rules of the contract:
 *  - Errors are 0 or a negative TK_ERR_* from common/error.h. TK_ERR_REMOVED
 *    means the device is gone for good: the front end closes the token and
 *    every session on it.
 *  - The front end serialises calls per token (one lock per slot), so a driver
 *    needs no lock of its own for one token; different tokens may be called
 *    from different threads at once.
 *  - Opening a token reads only what the token's description needs (info():
 *    identity, firmware, PIN retries). Objects are read on first need
 *    through discover(), each part at most once per open, and kept (the
 *    cache); info() and objects() answer from memory and cost no device
 *    round trip. objects() returns what has been discovered so far.
 *  - Private-key operations are raw: the front end applies hashing and
 *    padding (PKCS#1, PSS, OAEP) with OpenSSL and hands the driver exactly
 *    what the device consumes.
 *  - Secrets passed in (PIN, PUK, management key) are the caller's; the
 *    driver copies what it must keep (to re-verify after another program
 *    reset the card) into memory it wipes on logout and on close. */
#ifndef TOKEND_DRIVER_H
#define TOKEND_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "error.h"

enum tk_alg {
	TK_ALG_NONE = 0,
	TK_ALG_RSA1024,
	TK_ALG_RSA2048,
	TK_ALG_RSA3072,
	TK_ALG_RSA4096,
	TK_ALG_P256,
	TK_ALG_P384,
	TK_ALG_ED25519,
	TK_ALG_X25519,
};

enum tk_pin_policy {
	TK_PIN_POLICY_DEFAULT = 0, /* the slot's default */
	TK_PIN_POLICY_NEVER,
	TK_PIN_POLICY_ONCE,
	TK_PIN_POLICY_ALWAYS,
	TK_PIN_POLICY_MATCH_ONCE, /* biometric, YubiKey Bio */
	TK_PIN_POLICY_MATCH_ALWAYS,
};

enum tk_touch_policy {
	TK_TOUCH_POLICY_DEFAULT = 0,
	TK_TOUCH_POLICY_NEVER,
	TK_TOUCH_POLICY_ALWAYS,
	TK_TOUCH_POLICY_CACHED,
};

/* Who logs in. */
enum tk_user {
	TK_USER_PIN,   /* CKU_USER and CKU_CONTEXT_SPECIFIC */
	TK_USER_PUK,   /* only for change_pin / unblock */
	TK_USER_ADMIN, /* CKU_SO: the PIV management key */
};

/* Capabilities of a token, from its firmware or kind. */
enum {
	TK_CAP_RSA1024 = 1u << 0,
	TK_CAP_RSA2048 = 1u << 1,
	TK_CAP_RSA3072 = 1u << 2,
	TK_CAP_RSA4096 = 1u << 3,
	TK_CAP_P256 = 1u << 4,
	TK_CAP_P384 = 1u << 5,
	TK_CAP_ED25519 = 1u << 6,
	TK_CAP_X25519 = 1u << 7,
	TK_CAP_GENERATE = 1u << 8,
	TK_CAP_IMPORT = 1u << 9, /* private-key import */
	TK_CAP_ATTEST = 1u << 10,
	TK_CAP_DELETE_KEY = 1u << 11,
	TK_CAP_POLICIES = 1u
			  << 12, /* PIN/touch policy on generate and import */
	TK_CAP_RESET = 1u << 13,
};

struct tk_token_info {
	char label[33]; /* e.g. "YubiKey PIV #10000001" */
	char manufacturer[33];
	char model[17];
	char serial[17];
	uint8_t fw_major, fw_minor, fw_patch;
	size_t pin_min, pin_max;
	int pin_tries_left;    /* -1: unknown */
	int pin_tries_max;     /* -1: unknown */
	int puk_tries_left;    /* -1: unknown */
	bool pin_is_default;   /* the factory PIN is still set */
	bool admin_is_default; /* the factory management key is still set */
	uint32_t caps;         /* TK_CAP_* */
};

/* One private key the token holds (a PIV key slot that is occupied). */
struct tk_key {
	uint8_t ref; /* the device's reference: 9A, 9C, 82..95, F9 */
	uint8_t id; /* CKA_ID: 9A,9C,9D,9E = 01..04, 82..95 = 05..18, F9 = 19 */
	char label[64];
	enum tk_alg alg;
	EVP_PKEY
	    *pub; /* always set: from metadata, certificate or generation */
	uint8_t *cert; /* DER X.509 or NULL */
	size_t cert_len;
	enum tk_pin_policy pin_policy; /* resolved, never DEFAULT */
	enum tk_touch_policy touch_policy;
	bool generated; /* on the device (attestable); false: imported or
			   unknown */
};

/* A data object (CKO_DATA). */
struct tk_data {
	uint32_t tag; /* e.g. 0x5FC102 CHUID */
	char label[64];
	uint8_t *value;
	size_t len;
	bool private; /* readable only after login */
};

/* The token's objects. Owned by the driver; valid until the next call that
 * changes the token (generate, import, write, delete, reset) or close. gen is
 * bumped by every change so the front end can notice. */
struct tk_objects {
	const struct tk_key *keys;
	size_t nkeys;
	const struct tk_data *data;
	size_t ndata;
	uint64_t gen;
};

/* What discover() reads (flags, combinable). */
enum tk_discover {
	/* The key in slot ref (PIV: its F7 metadata; without metadata, its
	 * certificate, which is how the key is found). */
	TK_DISCOVER_KEY = 1u << 0,
	/* The key in slot ref and its certificate. */
	TK_DISCOVER_CERT = 1u << 1,
	/* With KEY or CERT: every key slot (ref is ignored). */
	TK_DISCOVER_ALL = 1u << 2,
	/* The public data objects (CHUID, CCC, ...). */
	TK_DISCOVER_DATA = 1u << 3,
};

struct tk_token;

struct tk_token_ops {
	void (*close)(struct tk_token *tok);
	/* From the cache; refreshed by the driver after login and PIN changes.
	 */
	int (*info)(struct tk_token *tok, struct tk_token_info *out);
	int (*objects)(struct tk_token *tok, const struct tk_objects **out);
	/* Reads the objects that need login (e.g. PIV printed information).
	 * Called by the front end only when a search could match them. */
	int (*load_private)(struct tk_token *tok);
	/* Reads the objects what (TK_DISCOVER_* flags) names into the cache,
	 * unless read before: a part already read costs nothing, so callers
	 * just ask for what they are about to look at. Objects already handed
	 * out keep their identity (kind + ref/tag). A slot or object the token
	 * does not have is not an error. The administrative ops below discover
	 * the slot they change themselves. NULL: open() reads everything. */
	int (*discover)(struct tk_token *tok, unsigned what, uint8_t ref);

	/* TK_USER_PIN: verify the PIN (an empty PIN with len 0 is refused).
	 * TK_USER_ADMIN: authenticate with the management key. */
	int (*login)(struct tk_token *tok, enum tk_user user,
		     const uint8_t *secret, size_t len);
	/* Returns the device to the logged-out state and forgets secrets. */
	int (*logout)(struct tk_token *tok, enum tk_user user);
	/* Current PIN retry counter without changing it (PIV: empty VERIFY). */
	int (*pin_status)(struct tk_token *tok, int *tries_left,
			  bool *verified);
	/* The PUK's retry counter without changing it (PIV: YubiKey F7
	 * metadata). Optional: NULL or TK_ERR_UNSUPPORTED when the token
	 * cannot tell without spending a try. */
	int (*puk_status)(struct tk_token *tok, int *tries_left);

	/* Raw private-key operations; *out_len is capacity in, length out. */
	int (*sign)(struct tk_token *tok, uint8_t ref, const uint8_t *in,
		    size_t in_len, uint8_t *out, size_t *out_len);
	int (*decrypt)(struct tk_token *tok, uint8_t ref, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len);
	/* ECDH / X25519: peer is an uncompressed point or 32 raw bytes. */
	int (*derive)(struct tk_token *tok, uint8_t ref, const uint8_t *peer,
		      size_t peer_len, uint8_t *out, size_t *out_len);

	/* Administration (needs TK_USER_ADMIN login). */
	int (*generate)(struct tk_token *tok, uint8_t ref, enum tk_alg alg,
			enum tk_pin_policy pin, enum tk_touch_policy touch);
	int (*import_key)(struct tk_token *tok, uint8_t ref, EVP_PKEY *priv,
			  enum tk_pin_policy pin, enum tk_touch_policy touch);
	int (*write_cert)(struct tk_token *tok, uint8_t ref, const uint8_t *der,
			  size_t len);
	int (*delete_cert)(struct tk_token *tok, uint8_t ref);
	int (*delete_key)(struct tk_token *tok, uint8_t ref);
	int (*write_data)(struct tk_token *tok, uint32_t tag,
			  const uint8_t *value, size_t len);
	int (*attest)(struct tk_token *tok, uint8_t ref, uint8_t **der,
		      size_t *len);

	/* PIN management. which: TK_USER_PIN or TK_USER_PUK. */
	int (*change_pin)(struct tk_token *tok, enum tk_user which,
			  const uint8_t *old, size_t old_len,
			  const uint8_t *new_pin, size_t new_len);
	int (*unblock_pin)(struct tk_token *tok, const uint8_t *puk,
			   size_t puk_len, const uint8_t *new_pin,
			   size_t new_len);
	/* Factory reset; the driver refuses (TK_ERR_DENIED) when the device
	 * does not allow it now (PIV: PIN and PUK must be blocked). */
	int (*reset)(struct tk_token *tok);
};

struct tk_token {
	const struct tk_token_ops *ops;
};

/* A place a token can appear: a PC/SC reader, a TPM, a module slot. */
struct tk_device {
	char name[128];       /* stable across scans: the slot's identity */
	char description[64]; /* CK_SLOT_INFO.slotDescription */
	char manufacturer[32];
	bool present;    /* a token is in it now */
	uint32_t events; /* changes when a token was removed/inserted */
};

struct tk_driver;

struct tk_driver_ops {
	const char *name;
	/* The devices now; *list is freed by the caller with free(). No
	 * token round trip (PC/SC: pcscd is asked, the card is not). */
	int (*scan)(struct tk_driver *drv, struct tk_device **list, size_t *n);
	/* Reads the token in device once and returns it; TK_ERR_NOT_FOUND
	 * when no token this driver understands is there. */
	int (*open)(struct tk_driver *drv, const char *device,
		    struct tk_token **out);
	void (*free)(struct tk_driver *drv);
	/* Optional (NULL: the front end polls scan()). Blocks until the devices
	 * may differ from what the last scan() returned (a token inserted or
	 * removed, a device added or removed), timeout_ms passed, or wake()
	 * was called. Returns 1: scan again; 0: timeout or woken; or a
	 * TK_ERR_*. One wait() at a time; scan() and open() may run meanwhile.
	 */
	int (*wait)(struct tk_driver *drv, unsigned timeout_ms);
	/* From another thread: ends a wait() under way soon (PC/SC: at once;
	 * a wake that comes just before the wait blocks may be lost until its
	 * timeout, so callers retry). */
	void (*wake)(struct tk_driver *drv);
};

struct tk_driver {
	const struct tk_driver_ops *ops;
};

#endif
