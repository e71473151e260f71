/* The token-driver interface: what the PKCS#11 front end (pkcs11/) may ask of
 * a token, whatever its kind (PIV card, TPM, another PKCS#11 module).
 *
 * Rules of the contract:
 *  - Errors are 0 or a negative TK_ERR_* from common/error.h. TK_ERR_REMOVED
 *    means the device is gone for good: the front end closes the token and
 *    every session on it.
 *  - The front end serialises calls per token (one lock per slot), so a driver
 *    needs no lock of its own for one token; different tokens may be called
 *    from different threads at once. Except on a token that sets
 *    tk_token.concurrent: there sign, decrypt, encrypt, derive and
 *    digest_parts may run on several threads at once (with each other
 *    only: every other call still runs alone), so the driver guards what
 *    they share. They must then change neither info() nor objects().
 *  - Opening a token reads only what the token's description needs (info():
 *    identity, firmware, PIN retries). Objects are read on first need
 *    through discover(), each part at most once per open, and kept (the
 *    cache); info() and objects() answer from memory and cost no device
 *    round trip. objects() returns what has been discovered so far.
 *  - login, pin_status, puk_status and set_pin must not change objects()
 *    (nor what it returned): the front end runs them while other threads
 *    read the cached objects, holding the device for the call but not the
 *    cache. Every other call that talks to the device may change it.
 *  - Objects are what the driver says they are: each key, secret key and
 *    data object carries the driver's handle for it (stable while the token
 *    is open: PIV the slot or container tag, a module its object handle, a
 *    TPM its persistent handle), its CKA_ID as bytes, its labels, and the
 *    attributes the front end derives from them (key type, modulus, ...).
 *    Anything else (vendor attributes, labels per object kind) comes from
 *    the optional attr() op.
 *  - Mechanisms: a token without mechanisms() offers the front end's own
 *    table narrowed by its caps, all TK_MECH_RAW: the front end hashes and
 *    pads (PKCS#1, PSS, OAEP) and hands the driver exactly what the device
 *    consumes (PIV). A token with mechanisms() lists what it offers; a
 *    TK_MECH_WHOLE entry is handed to the driver as the application asked
 *    (mechanism, parameter, whole message: a module hashes, pads and signs
 *    inside).
 *  - Login: the token's info says which users exist and what the front end
 *    may do with them (TK_LOGIN_*). Secrets go to the driver as the
 *    application gave them; the driver decodes what it must (PIV: the SO
 *    PIN is the management key in hex). A driver never sleeps in a PIN
 *    call (the front end holds the token's lock around it): a token that
 *    makes wrong PINs wait says until when (login_not_before_ms) and
 *    refuses an earlier try with TK_ERR_NOT_YET.
 *  - Secrets passed in (PIN, PUK, SO secret) are the caller's; the driver
 *    copies what it must keep (to re-verify after another program reset
 *    the card) into memory it wipes on logout and on close. */
#ifndef TOKEND_DRIVER_H
#define TOKEND_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "error.h"

/* The longest CKA_ID a driver may give an object (SoftHSMv2 and OpenSC use
 * 20-byte SHA-1 IDs; PIV one byte). */
#define TK_ID_MAX 128

struct tk_id {
	size_t len;
	uint8_t b[TK_ID_MAX];
};

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
	TK_USER_PUK,   /* only for set_pin */
	TK_USER_ADMIN, /* CKU_SO: PIV the management key, a module its SO PIN */
};

/* The login model (tk_token_info.login). */
enum {
	/* The user logs in with a PIN before private objects are used. */
	TK_LOGIN_USER = 1u << 0,
	/* CKU_SO exists (login(TK_USER_ADMIN) with the secret as given). */
	TK_LOGIN_SO = 1u << 1,
	/* The SO sets the user PIN: C_InitPIN calls init_pin(). */
	TK_LOGIN_INIT_PIN = 1u << 2,
	/* The device takes the PIN itself (PIN pad, biometric): C_Login with
	 * no PIN reaches login() with len 0. */
	TK_LOGIN_PROTECTED_PATH = 1u << 3,
	/* C_InitToken is a factory reset the SO secret authorises. */
	TK_LOGIN_SO_RESET = 1u << 4,
	/* Objects are generated, created and destroyed by the logged-in user
	 * (a PKCS#11 module: its SO may touch only public objects), as well
	 * as by the SO. */
	TK_LOGIN_USER_WRITES = 1u << 5,
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
	bool admin_is_default; /* the factory SO secret is still set */
	/* Set by a token that starts blank (TPM): C_InitToken has not set
	 * the SO PIN yet (no CKF_TOKEN_INITIALIZED), no user PIN is set (no
	 * CKF_USER_PIN_INITIALIZED). False (PIV, modules): both are set. */
	bool uninitialised;
	bool user_pin_unset;
	/* CLOCK_MONOTONIC ms (hotplug_now_ms) before which the token takes
	 * no PIN (TPM: its wrong-PIN delay); 0: none. The front end waits
	 * it out holding no lock; a PIN call before it is refused with
	 * TK_ERR_NOT_YET at once, never slept in the driver. */
	uint64_t login_not_before_ms;
	uint32_t caps;  /* TK_CAP_* */
	uint32_t login; /* TK_LOGIN_* */
};

/* One private key the token holds, with its public key and certificate
 * (three objects sharing the CKA_ID), or a certificate alone. */
struct tk_key {
	uint32_t handle; /* the driver's name for the key */
	struct tk_id id; /* CKA_ID */
	char label[64];  /* of the private key */
	char pub_label[64];
	char cert_label[64];
	enum tk_alg alg;
	EVP_PKEY
	*pub; /* always set: from metadata, certificate or generation */
	uint8_t *cert; /* DER X.509 or NULL */
	size_t cert_len;
	enum tk_pin_policy pin_policy; /* resolved, never DEFAULT */
	enum tk_touch_policy touch_policy;
	bool generated; /* on the device (attestable); false: imported or
			   unknown */
	bool cert_only; /* only the certificate is an object (PIV: F9) */
	/* TK_OBJ_PRIVATE|PUBLIC|CERT: the parts that are session objects
	 * (CKA_TOKEN false, made through create_tmpl and the like below);
	 * the front end shows them only to the application that made them. */
	uint8_t session;
	/* TK_OBJ_PRIVATE|PUBLIC|CERT: the parts that are objects of their
	 * own (a module: what it holds; a public key without its private key,
	 * a private key whose public key object is gone). The front end shows
	 * only those, and destroys one of them alone (destroy()). 0: as
	 * cert_only and cert say, the private key and its public key one
	 * (PIV: delete_key deletes the slot). */
	uint8_t parts;
};

/* A secret key (CKO_SECRET_KEY) the token holds; its value never leaves. */
struct tk_secret_key {
	uint32_t handle;
	struct tk_id id;
	char label[64];
	unsigned long key_type; /* CKK_* */
	size_t value_len;       /* bytes, 0: unknown */
	unsigned long usage;    /* CKF_SIGN|CKF_VERIFY|CKF_ENCRYPT|... */
	bool private;           /* usable and visible only after login */
	bool generated;
	bool session; /* a session object (see tk_key.session) */
};

/* A data object (CKO_DATA). */
struct tk_data {
	uint32_t handle; /* PIV: the container's tag, e.g. 0x5FC102 */
	char label[64];
	char application[32]; /* CKA_APPLICATION */
	uint8_t oid[24];      /* CKA_OBJECT_ID as DER, oid_len 0: none */
	size_t oid_len;
	uint8_t *value;
	size_t len;
	bool private; /* readable only after login */
	bool session; /* a session object (see tk_key.session) */
};

/* The token's objects. Owned by the driver; valid until the next call that
 * changes the token (generate, import, write, delete, reset) or close. gen is
 * bumped by every change so the front end can notice. */
struct tk_objects {
	const struct tk_key *keys;
	size_t nkeys;
	const struct tk_secret_key *secrets;
	size_t nsecrets;
	const struct tk_data *data;
	size_t ndata;
	uint64_t gen;
	/* TK_OBJ_* kinds a read after login (load_private) may add besides
	 * data objects and secret keys (a module: private keys it hides
	 * before login). 0: those two only. */
	uint8_t login_reveals;
};

/* What discover() reads (flags, combinable). */
enum tk_discover {
	/* The key with the given CKA_ID (PIV: its slot's F7 metadata;
	 * without metadata, its certificate, which is how the key is found).
	 */
	TK_DISCOVER_KEY = 1u << 0,
	/* That key and its certificate. */
	TK_DISCOVER_CERT = 1u << 1,
	/* With KEY or CERT: every key (the id is ignored). */
	TK_DISCOVER_ALL = 1u << 2,
	/* The public data objects (CHUID, CCC, ...). */
	TK_DISCOVER_DATA = 1u << 3,
};

/* Object kinds, as attr() is asked about them (the front end's values). */
enum tk_obj_kind {
	TK_OBJ_PRIVATE = 1,
	TK_OBJ_PUBLIC = 2,
	TK_OBJ_CERT = 4,
	TK_OBJ_DATA = 8,
	TK_OBJ_SECRET = 16,
};

/* attr()'s answers besides 0 (written) and a TK_ERR_*. */
enum {
	TK_ATTR_DEFAULT = 1,   /* not the driver's: the front end answers */
	TK_ATTR_INVALID = 2,   /* the object has no such attribute */
	TK_ATTR_SENSITIVE = 3, /* it has, but it is not revealed */
};

/* How a mechanism reaches the token. */
enum tk_mech_mode {
	TK_MECH_RAW = 0, /* the front end hashes and pads; the driver does
			    the raw private-key operation */
	TK_MECH_WHOLE,   /* the driver does all of it */
};

/* A mechanism a token offers (mechanisms()). */
struct tk_mech {
	unsigned long type; /* CKM_* */
	unsigned long min_bits, max_bits;
	unsigned long
	    flags; /* CKF_SIGN, CKF_DECRYPT, ... (CK_MECHANISM_INFO) */
	enum tk_mech_mode mode;
};

/* The application's mechanism for a TK_MECH_WHOLE operation. */
struct tk_mech_arg {
	unsigned long type;
	const void *param; /* as the application gave it (CK_*_PARAMS) */
	size_t param_len;
};

/* A part of a digest (digest_parts()): bytes, or a secret key's value. */
struct tk_digest_part {
	bool is_key;
	uint32_t key; /* is_key: the tk_secret_key's handle */
	const uint8_t *data;
	size_t len;
};

/* An attribute of a template (C_CreateObject), as the application gave it.
 */
struct tk_attr {
	unsigned long type;
	const void *value;
	size_t len;
};

/* What C_SetPIN's old-secret argument asks for (setpin_parse). */
struct tk_setpin {
	enum tk_user spends; /* whose retry counter the old secret spends */
	enum tk_user sets;   /* whose secret the new one becomes */
	const uint8_t *old;  /* the old secret itself (inside the argument) */
	size_t old_len;
};

struct tk_token;

struct tk_token_ops {
	void (*close)(struct tk_token *tok);
	/* From the cache; refreshed by the driver after login and PIN changes.
	 */
	int (*info)(struct tk_token *tok, struct tk_token_info *out);
	int (*objects)(struct tk_token *tok, const struct tk_objects **out);
	/* Reads the objects that need login (e.g. PIV printed information).
	 * Called by the front end only when a search could match them (see
	 * tk_objects.login_reveals). Optional. */
	int (*load_private)(struct tk_token *tok);
	/* Reads the objects what (TK_DISCOVER_* flags) names into the cache,
	 * unless read before: a part already read costs nothing, so callers
	 * just ask for what they are about to look at. Objects already handed
	 * out keep their identity (kind + handle). A key or object the token
	 * does not have is not an error. The administrative ops below discover
	 * what they change themselves. NULL: open() reads everything. */
	int (*discover)(struct tk_token *tok, unsigned what, const uint8_t *id,
			size_t id_len);
	/* Optional: the mechanisms the token offers (see above); the list
	 * lives as long as the token. */
	int (*mechanisms)(struct tk_token *tok, const struct tk_mech **list,
			  size_t *n);
	/* Optional: attribute type of an object (kind, handle) into out, or
	 * TK_ATTR_DEFAULT / _INVALID / _SENSITIVE. Answers from the cache
	 * unless the driver's attr_on_device() says the type costs a device
	 * round trip. */
	int (*attr)(struct tk_token *tok, enum tk_obj_kind kind,
		    uint32_t handle, unsigned long type, struct buf *out);

	/* TK_USER_PIN: verify the PIN (len 0 only with
	 * TK_LOGIN_PROTECTED_PATH). TK_USER_ADMIN: the SO secret as the
	 * application gave it (PIV: the management key in hex; one that
	 * does not decode is TK_ERR_PIN_INCORRECT). */
	int (*login)(struct tk_token *tok, enum tk_user user,
		     const uint8_t *secret, size_t len);
	/* Optional. A PIN-always key's authorisation (the login(TK_USER_PIN)
	 * of CKU_CONTEXT_SPECIFIC right before) was consumed by another
	 * program before the operation ran: verify again with the PIN the
	 * driver holds from that login, so the operation the user authorised
	 * can run. TK_ERR_AUTH_REQUIRED when none is held. The front end asks
	 * only for an operation the user authorised that way: the PIN stays
	 * the driver's alone. */
	int (*reauth)(struct tk_token *tok);
	/* Returns the device to the logged-out state and forgets secrets. */
	int (*logout)(struct tk_token *tok, enum tk_user user);
	/* Current PIN retry counter without changing it (PIV: empty VERIFY). */
	int (*pin_status)(struct tk_token *tok, int *tries_left,
			  bool *verified);
	/* The PUK's retry counter without changing it (PIV: YubiKey F7
	 * metadata). Optional: NULL or TK_ERR_UNSUPPORTED when the token
	 * cannot tell without spending a try. */
	int (*puk_status)(struct tk_token *tok, int *tries_left);

	/* Private-key operations; *out_len is capacity in, length out. With
	 * out NULL, *out_len gets the most the operation can return and the
	 * device is not asked. mech NULL: raw (TK_MECH_RAW; RSA: a k-byte
	 * block; ECDSA: the digest; the answer is the device's own: ECDSA as
	 * DER); else the whole operation as the application asked it, the
	 * answer as PKCS#11 defines it. */
	int (*sign)(struct tk_token *tok, uint32_t key,
		    const struct tk_mech_arg *mech, const uint8_t *in,
		    size_t in_len, uint8_t *out, size_t *out_len);
	int (*decrypt)(struct tk_token *tok, uint32_t key,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len);
	/* Optional: a secret key's single-part encryption, the whole
	 * operation (mech never NULL; a module: CKM_AES_CBC_PAD, GCM, ...). */
	int (*encrypt)(struct tk_token *tok, uint32_t key,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len);
	/* ECDH / X25519: peer is an uncompressed point or 32 raw bytes. */
	int (*derive)(struct tk_token *tok, uint32_t key, const uint8_t *peer,
		      size_t peer_len, uint8_t *out, size_t *out_len);

	/* Administration (needs TK_USER_ADMIN login). A new key is named by
	 * its CKA_ID; an ID the token cannot place is TK_ERR_NOT_FOUND (PIV:
	 * no slot has it). *handle: the key's handle. */
	int (*generate)(struct tk_token *tok, const struct tk_id *id,
			enum tk_alg alg, enum tk_pin_policy pin,
			enum tk_touch_policy touch, uint32_t *handle);
	/* Optional (a module): key-pair generation with the application's
	 * mechanism and templates as it gave them (label, usage flags,
	 * sizes, curves: the token decides), both naming the key's CKA_ID;
	 * used instead of generate() when set. With pub NULL (npub 0):
	 * C_GenerateKey, a secret key (CKM_AES_KEY_GEN, ...) from the
	 * template priv; *handle: its tk_secret_key's. */
	int (*generate_tmpl)(struct tk_token *tok, const struct tk_id *id,
			     const struct tk_mech_arg *mech,
			     const struct tk_attr *pub, size_t npub,
			     const struct tk_attr *priv, size_t npriv,
			     uint32_t *handle);
	int (*import_key)(struct tk_token *tok, const struct tk_id *id,
			  EVP_PKEY *priv, enum tk_pin_policy pin,
			  enum tk_touch_policy touch, uint32_t *handle);
	int (*write_cert)(struct tk_token *tok, const struct tk_id *id,
			  const uint8_t *der, size_t len, uint32_t *handle);
	int (*delete_cert)(struct tk_token *tok, uint32_t key);
	int (*delete_key)(struct tk_token *tok, uint32_t key);
	/* A data object from C_CreateObject's template (CKO_DATA); the driver
	 * decides what the template names (PIV: a container by CKA_OBJECT_ID
	 * or CKA_TOKEND_OBJECT_TAG) and answers TK_ERR_ARG for a template it
	 * cannot take (no CKA_VALUE: TK_ERR_NOT_FOUND). */
	int (*create_data)(struct tk_token *tok, const struct tk_attr *tmpl,
			   size_t n, uint32_t *handle);
	int (*delete_data)(struct tk_token *tok, uint32_t handle);

	/* PIN management. setpin_parse (optional: without it the old secret
	 * is the PIN and the new one replaces it) says what C_SetPIN's old
	 * argument asks for, without the device (PIV: "puk:" and "unblock:"
	 * prefixes); set_pin carries it out. */
	int (*setpin_parse)(struct tk_token *tok, const uint8_t *old,
			    size_t old_len, struct tk_setpin *out);
	int (*set_pin)(struct tk_token *tok, const struct tk_setpin *req,
		       const uint8_t *new_pin, size_t new_len);
	/* TK_LOGIN_INIT_PIN: the logged-in SO sets the user PIN. */
	int (*init_pin)(struct tk_token *tok, const uint8_t *pin, size_t len);
	/* Factory reset (TK_LOGIN_SO_RESET) after login(TK_USER_ADMIN); the
	 * driver refuses (TK_ERR_DENIED) when the device does not allow it now
	 * (PIV: PIN and PUK must be blocked). */
	int (*reset)(struct tk_token *tok);

	/* Optional: a TK_MECH_WHOLE verification (a module's MAC or
	 * signature, with its secret or public key): 0 when sig is right,
	 * TK_ERR_SIGNATURE when not. Without it the front end verifies on the
	 * host with the public key. */
	int (*verify)(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, const uint8_t *sig, size_t sig_len);
	/* Optional: len bytes from the token's RNG (C_GenerateRandom); the
	 * driver asks the device in pieces of a size it bounds. Without it:
	 * CKR_RANDOM_NO_RNG. */
	int (*random)(struct tk_token *tok, uint8_t *out, size_t len);
	/* Optional: C_DigestKey's digest (mech: CKM_SHA256, ...; no
	 * parameter) of the parts in order, data and secret keys' values
	 * (tk_secret_key handles), which only the token may read. *out_len
	 * is capacity in, length out. Runs beside the other key operations
	 * of a concurrent token. Without it: CKR_FUNCTION_NOT_SUPPORTED. */
	int (*digest_parts)(struct tk_token *tok,
			    const struct tk_mech_arg *mech,
			    const struct tk_digest_part *parts, size_t n,
			    uint8_t *out, size_t *out_len);
	/* Objects as the application describes them (a module: all of it
	 * passes through). All optional; without them the front end answers
	 * as before (create_data, write_cert, import_key; no copy, no
	 * attribute changes, no wrapping). Objects are named by kind and
	 * handle as objects() shows them (a tk_key's parts by kind); a new
	 * object's kind and handle are those objects() shows right after the
	 * call. Templates go to the device as given, CKA_TOKEN included: a
	 * session object (CKA_TOKEN false) is flagged session in objects()
	 * and lives until destroy() (the front end decides whose it is and
	 * when it goes). Errors: TK_ERR_NOT_FOUND for an object that is
	 * gone, template errors as create_data's (TK_ERR_ARG a value the
	 * device refused, TK_ERR_INVALID inconsistent), TK_ERR_AUTH_REQUIRED
	 * when the device wants a login, TK_ERR_DENIED when it refuses (an
	 * attribute it does not let change). The front end checks access
	 * (the application's login and session) before calling. */
	/* C_CreateObject of any class. */
	int (*create_tmpl)(struct tk_token *tok, const struct tk_attr *tmpl,
			   size_t n, enum tk_obj_kind *kind, uint32_t *handle);
	/* C_CopyObject: the object with tmpl's attributes changed. */
	int (*copy)(struct tk_token *tok, enum tk_obj_kind kind,
		    uint32_t handle, const struct tk_attr *tmpl, size_t n,
		    enum tk_obj_kind *new_kind, uint32_t *new_handle);
	/* C_SetAttributeValue. */
	int (*set_attrs)(struct tk_token *tok, enum tk_obj_kind kind,
			 uint32_t handle, const struct tk_attr *tmpl, size_t n);
	/* C_WrapKey: key (kind, handle) under the wrapping key (wkind,
	 * wrapping: a secret or public key) with mech, as the application
	 * gave it. *out_len capacity in, length out; out NULL: the length
	 * only (a device round trip). */
	int (*wrap)(struct tk_token *tok, const struct tk_mech_arg *mech,
		    enum tk_obj_kind wkind, uint32_t wrapping,
		    enum tk_obj_kind kind, uint32_t key, uint8_t *out,
		    size_t *out_len);
	/* C_UnwrapKey: a new key from in, unwrapped by (ukind, unwrapping: a
	 * secret or private key), with the template's attributes. */
	int (*unwrap)(struct tk_token *tok, const struct tk_mech_arg *mech,
		      enum tk_obj_kind ukind, uint32_t unwrapping,
		      const uint8_t *in, size_t in_len,
		      const struct tk_attr *tmpl, size_t n,
		      enum tk_obj_kind *kind, uint32_t *handle);
	/* Destroys one object (of a tk_key, only the part kind names; the
	 * front end prefers it to delete_key/delete_cert for a key that sets
	 * parts). */
	int (*destroy)(struct tk_token *tok, enum tk_obj_kind kind,
		       uint32_t handle);
};

/* Who asks for a key operation: the front end's share key of the
 * application (its peer's uid in the daemon, see app_set_share), set on
 * the calling thread before sign, decrypt, encrypt, verify, random and
 * derive. A driver that shares a device's resources between overlapping
 * operations (the module's session pool) keeps any one caller from taking
 * them all. 0: unknown (one caller for all such calls). */
void tk_caller_set(uint64_t who);
uint64_t tk_caller(void);

struct tk_token {
	const struct tk_token_ops *ops;
	/* Set at open, fixed while open: the key operations may overlap
	 * (see the contract above). */
	bool concurrent;
};

/* A helper process a driver runs (a module's tokend-module-helper), as
 * tokenctl status shows it. */
struct tk_helper_status {
	char name[64];          /* what it serves, e.g. the module's name */
	int pid;                /* 0 when none is running */
	bool up;                /* serving now */
	unsigned long restarts; /* started again after the first */
	char last_exit[48];     /* how the last one ended, "" when none did */
};

struct tk_driver;

struct tk_driver_ops {
	const char *name;
	/* Reads the token in device (a name the device watchers report:
	 * PC/SC the reader's) once and returns it; TK_ERR_NOT_FOUND when
	 * no token this driver understands is there, or the device is not
	 * this driver's (then at once, without device I/O: the front end
	 * asks every driver in turn). */
	int (*open)(struct tk_driver *drv, const char *device,
		    struct tk_token **out);
	void (*free)(struct tk_driver *drv);
	/* Optional: whether reading attribute type costs a device round trip
	 * (PIV: an attestation). Such attributes are read under the card's
	 * lock and never match in a search. Called without any lock. */
	bool (*attr_on_device)(unsigned long type);
	/* Optional: fills out[0..min(n, max)) with the driver's helper
	 * processes and returns n. Never waits on a device; any thread. */
	size_t (*helpers)(struct tk_driver *drv, struct tk_helper_status *out,
			  size_t max);
};

struct tk_driver {
	const struct tk_driver_ops *ops;
};

#endif
