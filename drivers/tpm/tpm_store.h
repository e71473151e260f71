/* The TPM token's state directory: one file per record (a key's wrapped
 * blobs with its CKA_ID, label and kind; a certificate; a data object; a
 * sealed token secret; the PIN salt; the wrong-PIN counter).
 *
 * File format (version 1), big-endian, self-describing:
 *   "TKTPM" | version u8 | kind u8 | fields...
 *   field: tag u8 | length u32 | bytes        (unknown tags are skipped)
 * Every length is checked against what remains and against the field's
 * own limit; a file that does not parse is skipped with one log line.
 *
 * Writes are atomic: a temporary file is written and fsynced, renamed over
 * the name, and the directory fsynced, so a power cut leaves the old file or
 * the new one, never half a key. The directory is 0700, files 0600. tokend
 * is the only writer: no lock file. */
#ifndef TOKEND_TPM_STORE_H
#define TOKEND_TPM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "tpm_esys.h"

#define TPM_STORE_FILE_MAX (64 * 1024) /* the largest file read */
#define TPM_STORE_NAME_MAX 40
#define TPM_SALT_LEN 32

enum tpm_rec_kind {
	TPM_REC_KEY = 1,
	TPM_REC_CERT = 2,
	TPM_REC_DATA = 3,
	TPM_REC_SEAL = 4,    /* a sealed token secret (so.seal, user.seal) */
	TPM_REC_SALT = 5,    /* PBKDF2 salt and iterations */
	TPM_REC_COUNTER = 6, /* wrong PINs since the last right one */
};

struct tpm_rec {
	enum tpm_rec_kind kind;
	char name[TPM_STORE_NAME_MAX]; /* file name in the directory */
	struct tk_id id;               /* KEY, CERT */
	char label[64];                /* KEY, CERT, DATA */
	uint8_t key_kind;              /* KEY: enum tpm_key_kind */
	uint16_t bits;                 /* KEY */
	struct tpm_blob blob;          /* KEY, SEAL */
	uint8_t *value;                /* CERT, DATA (malloc'd) */
	size_t len;
	char application[32]; /* DATA */
	uint8_t oid[24];      /* DATA: DER, oid_len 0: none */
	size_t oid_len;
	bool priv;                  /* DATA: CKA_PRIVATE */
	uint8_t salt[TPM_SALT_LEN]; /* SALT */
	uint32_t iterations;        /* SALT */
	uint32_t count;             /* COUNTER */
};

/* Parses one file's bytes (untrusted: fuzzed). 0 or TK_ERR_INVALID;
 * out->value is the caller's to free (tpm_rec_clear) on success. */
int tpm_rec_parse(const uint8_t *p, size_t len, struct tpm_rec *out);
/* Serialises rec into a malloc'd buffer. */
int tpm_rec_encode(const struct tpm_rec *rec, uint8_t **out, size_t *len);
void tpm_rec_clear(struct tpm_rec *rec);

struct tpm_store;

/* Opens (creates, 0700) the directory dir. */
int tpm_store_open(const char *dir, struct tpm_store **out);
void tpm_store_free(struct tpm_store **s);
const char *tpm_store_dir(const struct tpm_store *s);

/* Every record that parses, in name order, into a malloc'd array; a file
 * that does not (corrupt, foreign, too large) is skipped with one log
 * line. Temporary files left by a power cut are removed. */
int tpm_store_load(struct tpm_store *s, struct tpm_rec **out, size_t *n);
void tpm_recs_free(struct tpm_rec **recs, size_t n);
/* One record by file name: TK_ERR_NOT_FOUND when absent. */
int tpm_store_read(struct tpm_store *s, const char *name, struct tpm_rec *out);
/* Writes rec atomically under rec->name. */
int tpm_store_write(struct tpm_store *s, const struct tpm_rec *rec);
/* Removes a file (absent is not an error); the directory is fsynced. */
int tpm_store_remove(struct tpm_store *s, const char *name);
/* A fresh object file name with prefix ("key-", "cert-", "data-"):
 * prefix + 16 hex digits from rnd. */
void tpm_store_name(char *out, const char *prefix, const uint8_t rnd[8]);

#endif
