/* The TPM as the TPM driver uses it: one ESYS context over an explicit TCTI
 * (never the loader's probing), keys created under the TCG standard ECC
 * P-256 storage primary key (SRK), kept outside the TPM as wrapped blobs.
 *
 * Contract between tpm_esys.c (the only file that includes tss2 headers)
 * and the rest of drivers/tpm/:
 *  - Errors are 0 or a negative TK_ERR_* (common/error.h). A TPM that
 *    stopped answering (TCTI I/O error, swtpm killed) or was reset under
 *    the context (its session or our objects gone: swtpm restarted) is
 *    TK_ERR_REMOVED, and so is every later call on that context (close it
 *    and open again). An authorisation that does not match is
 *    TK_ERR_PIN_INCORRECT; the TPM in dictionary-attack lockout is
 *    TK_ERR_PIN_LOCKED (one log line).
 *  - Every authorised command runs in a salted HMAC session (the salt
 *    encrypted to the SRK; not bound: the SRK's auth is empty) with
 *    parameter encryption (decrypt and/or encrypt, as far as the command's
 *    parameters allow), so auth values, sealed data and private-key inputs
 *    and outputs are not readable on the bus.
 *    The session and loaded keys stay alive between operations; where the
 *    TPM has few transient slots (swtpm: 3) keys are context-saved and
 *    reloaded by the layer itself, invisible to the caller.
 *  - Objects are created noDA: wrong PINs are counted by tokend
 *    (tpm_pin.c), never by the TPM's dictionary-attack counter, which is
 *    TPM-wide and would lock other users of the TPM.
 *  - Not thread-safe: the driver serialises calls per context.
 *  - Auth values and unsealed data are the caller's; the layer wipes its
 *    own copies (explicit_bzero).
 *  - Outputs with a length (*len, *out_len): in, the room at the buffer;
 *    out, the bytes written. Too little room is TK_ERR_ARG (ECDSA, RSA,
 *    ECDH) or TK_ERR_TOO_LARGE (unseal). */
#ifndef TOKEND_TPM_ESYS_H
#define TOKEND_TPM_ESYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A TPM2B_PUBLIC and TPM2B_PRIVATE, marshalled (Tss2_MU_*_Marshal). */
#define TPM_BLOB_PUB_MAX 640
#define TPM_BLOB_PRIV_MAX 1024
struct tpm_blob {
	uint8_t pub[TPM_BLOB_PUB_MAX];
	size_t pub_len;
	uint8_t priv[TPM_BLOB_PRIV_MAX];
	size_t priv_len;
};

/* The longest auth value accepted (a TPM's is at most its name-hash size). */
#define TPM_AUTH_MAX 32
/* The longest sealed secret. */
#define TPM_SEALED_MAX 128

enum tpm_key_kind {
	TPM_KEY_RSA = 1, /* bits: 2048 or 3072 */
	TPM_KEY_EC,      /* bits: 256 (P-256) or 384 (P-384) */
};

struct tpm_caps {
	bool rsa2048, rsa3072, p256, p384;
	uint32_t transient_slots;  /* TPM2_PT_HR_TRANSIENT_MIN */
	uint32_t lockout_counter;  /* TPM2_PT_LOCKOUT_COUNTER */
	uint32_t max_auth_fail;    /* TPM2_PT_MAX_AUTH_FAIL */
	bool in_lockout;           /* TPMA_PERMANENT inLockout */
	char manufacturer[5];      /* TPM2_PT_MANUFACTURER, e.g. "IBM" */
	uint32_t fw1, fw2;         /* TPM2_PT_FIRMWARE_VERSION_1/2 */
};

/* The public part of a key blob, parsed without the TPM (pure function over
 * untrusted bytes from the state directory: fuzzed). */
struct tpm_pubkey {
	enum tpm_key_kind kind;
	unsigned bits;
	uint8_t n[512]; /* RSA modulus, big-endian */
	size_t n_len;
	uint32_t e;     /* RSA public exponent (65537 when the TPM says 0) */
	uint8_t x[66], y[66]; /* EC point, big-endian, each bits/8 long */
	size_t coord_len;
};

struct tpm_ctx;
struct tpm_key;

/* Opens the TPM behind tcti ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=N"), starts it if it needs TPM2_Startup, and
 * sets up the SRK (the persistent handle srk_handle when non-zero and
 * present, else created from the standard template) and the salted
 * session. TK_ERR_REMOVED when nothing answers. The template's SRK is the
 * key `tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -a
 * 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|
 * userwithauth|noda'` makes (tpm2-tools' default attributes lack noda and
 * make another key); the layer never makes it persistent itself. */
int tpm_open(const char *tcti, uint32_t srk_handle, struct tpm_ctx **out);
void tpm_close(struct tpm_ctx *ctx);

int tpm_get_caps(struct tpm_ctx *ctx, struct tpm_caps *out);

/* Fills buf with len random bytes from the TPM's RNG. */
int tpm_random(struct tpm_ctx *ctx, uint8_t *buf, size_t len);

/* A new key pair inside the TPM, under the SRK, with auth as its auth value
 * (sign|decrypt, scheme NULL: usable for raw RSA, RSASSA, PSS, OAEP, ECDSA
 * and ECDH), returned wrapped. */
int tpm_key_create(struct tpm_ctx *ctx, enum tpm_key_kind kind, unsigned bits,
		   const uint8_t *auth, size_t auth_len, struct tpm_blob *out);

/* Seals data (at most TPM_SEALED_MAX bytes) under the SRK with auth. */
int tpm_seal(struct tpm_ctx *ctx, const uint8_t *data, size_t len,
	     const uint8_t *auth, size_t auth_len, struct tpm_blob *out);
/* Unseals; TK_ERR_PIN_INCORRECT when auth does not match. */
int tpm_unseal(struct tpm_ctx *ctx, const struct tpm_blob *blob,
	       const uint8_t *auth, size_t auth_len, uint8_t *data,
	       size_t *len);

/* Parses blob->pub. TK_ERR_INVALID for anything malformed or foreign. */
int tpm_blob_pubkey(const struct tpm_blob *blob, struct tpm_pubkey *out);

/* Loads a key blob with its auth value; the key stays usable until
 * tpm_key_unload. TK_ERR_INVALID for a blob the TPM refuses (foreign TPM,
 * corrupt). */
int tpm_key_load(struct tpm_ctx *ctx, const struct tpm_blob *blob,
		 const uint8_t *auth, size_t auth_len, struct tpm_key **out);
void tpm_key_unload(struct tpm_ctx *ctx, struct tpm_key *key);

/* ECDSA over a digest of 1 to 64 bytes (SHA-1 to SHA-512 alike: a longer
 * one is truncated to the curve as ECDSA does, a shorter one taken as the
 * integer it is; the TPM needs no hash of its own for it). out gets r||s,
 * each bits/8 bytes. */
int tpm_ecdsa(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *digest,
	      size_t dlen, uint8_t *out, size_t *out_len);
/* The raw RSA private operation (TPM2_RSA_Decrypt, scheme NULL): in is
 * exactly the modulus length; the caller padded it (PKCS#1, PSS) or will
 * unpad the result (OAEP, PKCS#1 v1.5 decryption). */
int tpm_rsa_raw(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *in,
		size_t in_len, uint8_t *out, size_t *out_len);
/* ECDH (TPM2_ECDH_ZGen): the peer's uncompressed point 04||x||y in, the
 * shared x coordinate out. */
int tpm_ecdh(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *point,
	     size_t point_len, uint8_t *out, size_t *out_len);

#endif
