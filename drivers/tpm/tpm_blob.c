/* tpm_blob_pubkey: the public area of a key blob from the state directory,
 * parsed as untrusted bytes (common/reader.h) without the TPM. Only the keys
 * tpm_key_create makes are accepted: RSA 2048/3072 or ECC P-256/P-384,
 * sign|decrypt, not restricted, no symmetric part, scheme NULL. */
#include <string.h>

#include "reader.h"
#include "tpm_esys.h"

/* TPM 2.0 Part 2 constants (the tss2 headers stay in tpm_esys.c). */
enum {
	ALG_RSA = 0x0001,
	ALG_SHA256 = 0x000b,
	ALG_NULL = 0x0010,
	ALG_ECC = 0x0023,
	ECC_NIST_P256 = 0x0003,
	ECC_NIST_P384 = 0x0004,
	ATTR_RESTRICTED = 1u << 16,
	ATTR_DECRYPT = 1u << 17,
	ATTR_SIGN = 1u << 18,
	AUTH_POLICY_MAX = 64,
};

/* A TPM2B: u16 size, then size bytes. */
static int get_tpm2b(struct reader *r, struct reader *value)
{
	uint16_t n;

	if (reader_get_u16be(r, &n) < 0 || reader_get_sub(r, n, value) < 0)
		return -1;
	return 0;
}

/* The parameters both key types start with: symmetric (NULL) and scheme
 * (NULL), as tpm_key_create makes them. */
static int get_null_sym_scheme(struct reader *r)
{
	uint16_t sym, scheme;

	if (reader_get_u16be(r, &sym) < 0 || sym != ALG_NULL ||
	    reader_get_u16be(r, &scheme) < 0 || scheme != ALG_NULL)
		return -1;
	return 0;
}

static int get_rsa(struct reader *r, struct tpm_pubkey *out)
{
	struct reader n;
	uint16_t bits;
	uint32_t e;

	if (get_null_sym_scheme(r) < 0 || reader_get_u16be(r, &bits) < 0 ||
	    reader_get_u32be(r, &e) < 0 || get_tpm2b(r, &n) < 0)
		return -1;
	if (bits != 2048 && bits != 3072)
		return -1;
	if (e == 0)
		e = 65537;
	if (e < 3 || !(e & 1))
		return -1;
	if (reader_left(&n) != bits / 8u || bits / 8u > sizeof(out->n) ||
	    reader_get_bytes(&n, out->n, bits / 8u) < 0)
		return -1;
	out->kind = TPM_KEY_RSA;
	out->bits = bits;
	out->n_len = bits / 8u;
	out->e = e;
	return 0;
}

static int get_ecc(struct reader *r, struct tpm_pubkey *out)
{
	struct reader x, y;
	uint16_t curve, kdf;
	unsigned bits;

	if (get_null_sym_scheme(r) < 0 || reader_get_u16be(r, &curve) < 0 ||
	    reader_get_u16be(r, &kdf) < 0 || kdf != ALG_NULL ||
	    get_tpm2b(r, &x) < 0 || get_tpm2b(r, &y) < 0)
		return -1;
	if (curve == ECC_NIST_P256)
		bits = 256;
	else if (curve == ECC_NIST_P384)
		bits = 384;
	else
		return -1;
	if (reader_left(&x) != bits / 8u || reader_left(&y) != bits / 8u ||
	    reader_get_bytes(&x, out->x, bits / 8u) < 0 ||
	    reader_get_bytes(&y, out->y, bits / 8u) < 0)
		return -1;
	out->kind = TPM_KEY_EC;
	out->bits = bits;
	out->coord_len = bits / 8u;
	return 0;
}

int tpm_blob_pubkey(const struct tpm_blob *blob, struct tpm_pubkey *out)
{
	struct reader all, r, policy;
	uint16_t type, name_alg;
	uint32_t attrs;
	int rc = -1;

	if (!blob || !out || blob->pub_len > sizeof(blob->pub))
		return TK_ERR_ARG;
	memset(out, 0, sizeof(*out));
	all = reader_init(blob->pub, blob->pub_len);
	/* TPM2B_PUBLIC: the size covers the TPMT_PUBLIC exactly, and nothing
	 * may follow it. */
	if (get_tpm2b(&all, &r) < 0 || reader_left(&all) != 0)
		goto out;
	if (reader_get_u16be(&r, &type) < 0 ||
	    reader_get_u16be(&r, &name_alg) < 0 || name_alg != ALG_SHA256 ||
	    reader_get_u32be(&r, &attrs) < 0 || get_tpm2b(&r, &policy) < 0 ||
	    reader_left(&policy) > AUTH_POLICY_MAX)
		goto out;
	if ((attrs & (ATTR_SIGN | ATTR_DECRYPT)) !=
		(ATTR_SIGN | ATTR_DECRYPT) ||
	    (attrs & ATTR_RESTRICTED))
		goto out;
	if (type == ALG_RSA)
		rc = get_rsa(&r, out);
	else if (type == ALG_ECC)
		rc = get_ecc(&r, out);
	if (rc == 0 && reader_left(&r) != 0)
		rc = -1;
out:
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return TK_ERR_INVALID;
	}
	return 0;
}
