/* Management-key (9B) mutual authentication: the card proves it holds the
 * key by answering our challenge, we prove it by decrypting its witness.
 * 3DES (8-byte blocks) or AES (16-byte blocks), single-block ECB. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "error.h"
#include "internal.h"

struct mgm_alg {
	uint8_t alg;
	size_t key_len, block;
	const EVP_CIPHER *(*cipher)(void);
};

static const struct mgm_alg mgm_algs[] = {
	{ PIV_ALG_3DES, 24, 8, EVP_des_ede3_ecb },
	{ PIV_ALG_AES128, 16, 16, EVP_aes_128_ecb },
	{ PIV_ALG_AES192, 24, 16, EVP_aes_192_ecb },
	{ PIV_ALG_AES256, 32, 16, EVP_aes_256_ecb },
};

static const struct mgm_alg *mgm_find(uint8_t alg)
{
	for (size_t i = 0; i < sizeof(mgm_algs) / sizeof(mgm_algs[0]); i++)
		if (mgm_algs[i].alg == alg)
			return &mgm_algs[i];
	return NULL;
}

size_t piv_mgm_key_len(uint8_t alg)
{
	const struct mgm_alg *m = mgm_find(alg);

	return m ? m->key_len : 0;
}

/* One block, no padding. */
static int ecb_block(const struct mgm_alg *m, const uint8_t *key, bool enc,
		     const uint8_t *in, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rc = TK_ERR_CRYPTO;

	if (!ctx)
		return TK_ERR_NOMEM;
	if (EVP_CipherInit_ex(ctx, m->cipher(), NULL, key, NULL, enc ? 1 : 0) &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)m->block) &&
	    (size_t)n == m->block)
		rc = 0;
	EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
	return rc;
}

/* Sends a 7C template and returns the value of tag want in the answer,
 * which must be exactly one block. */
static int mgm_step(struct piv_card *c, uint8_t alg, const struct buf *cmd,
		    uint32_t want, size_t block, uint8_t *out)
{
	struct buf resp;
	struct reader tmpl, v;
	unsigned found = 0;
	int rc;

	piv_secret_buf(&resp, PIV_RESP_MAX);
	rc = buf_failed(cmd) ? TK_ERR_NOMEM : 0;
	if (rc == 0)
		rc = piv_command(c, PIV_INS_GENERAL_AUTH, alg, PIV_SLOT_MGM,
				 cmd->data, cmd->len, &resp);
	if (rc == 0)
		rc = piv_tlv_unwrap(reader_init(resp.data, resp.len), 0x7c,
				    &tmpl);
	if (rc == 0)
		rc = piv_tlv_scan(tmpl, &want, 1, &v, &found);
	if (rc == 0 && (!found || reader_get_bytes(&v, out, block) != 0 ||
			reader_left(&v) != 0))
		rc = TK_ERR_DEVICE;
	buf_free(&resp);
	return rc;
}

int piv_mgm_auth(struct piv_card *c, uint8_t alg, const uint8_t *key,
		 size_t keylen)
{
	static const uint8_t ask[] = { 0x7c, 0x02, 0x80, 0x00 };
	const struct mgm_alg *m = mgm_find(alg);
	uint8_t witness[16], challenge[16], answer[16], expect[16];
	struct buf cmd, inner;
	int rc;

	if (!m || !key || keylen != m->key_len)
		return TK_ERR_ARG;
	piv_secret_buf(&cmd, 256);
	piv_secret_buf(&inner, 256);
	buf_add(&cmd, ask, sizeof(ask));
	rc = mgm_step(c, alg, &cmd, 0x80, m->block, witness);
	if (rc == 0)
		rc = ecb_block(m, key, false, witness, witness);
	if (rc == 0 && RAND_bytes(challenge, (int)m->block) != 1)
		rc = TK_ERR_CRYPTO;
	if (rc == 0) {
		buf_add_tlv(&inner, 0x80, witness, m->block);
		buf_add_tlv(&inner, 0x81, challenge, m->block);
		buf_reset(&cmd);
		buf_add_tlv(&cmd, 0x7c, inner.data, inner.len);
		cmd.failed |= inner.failed;
		rc = mgm_step(c, alg, &cmd, 0x82, m->block, answer);
		/* The card refusing our decrypted witness: wrong key. */
		if (rc == TK_ERR_AUTH_REQUIRED)
			rc = TK_ERR_PIN_INCORRECT;
	}
	if (rc == 0)
		rc = ecb_block(m, key, true, challenge, expect);
	if (rc == 0 && CRYPTO_memcmp(answer, expect, m->block) != 0)
		rc = TK_ERR_DEVICE;
	explicit_bzero(witness, sizeof(witness));
	explicit_bzero(challenge, sizeof(challenge));
	explicit_bzero(expect, sizeof(expect));
	buf_free(&cmd);
	buf_free(&inner);
	return rc;
}
