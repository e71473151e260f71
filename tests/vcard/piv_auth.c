/* Management-key authentication (GENERAL AUTHENTICATE on slot 9B): single
 * (challenge 81 / response 82) and mutual (witness 80 + challenge 81). */
#include "piv_app_int.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const uint8_t default_mgm[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };

size_t piv_mgm_key_len(uint8_t alg)
{
	switch (alg) {
	case VCARD_MGM_3DES:
		return 24;
	case VCARD_MGM_AES128:
		return 16;
	case VCARD_MGM_AES192:
		return 24;
	case VCARD_MGM_AES256:
		return 32;
	default:
		return 0;
	}
}

void piv_mgm_default(struct vcard_app *app)
{
	app->mgm_alg = !app->plain && piv_fw_at_least(app, 5, 7)
			   ? VCARD_MGM_AES192
			   : VCARD_MGM_3DES;
	memcpy(app->mgm_key, default_mgm, sizeof(default_mgm));
	app->mgm_len = sizeof(default_mgm);
	app->mgm_touch = TOUCH_NEVER;
}

static size_t mgm_block(uint8_t alg)
{
	return alg == VCARD_MGM_3DES ? 8 : 16;
}

static const EVP_CIPHER *mgm_cipher(uint8_t alg)
{
	switch (alg) {
	case VCARD_MGM_3DES:
		return EVP_des_ede3_ecb();
	case VCARD_MGM_AES128:
		return EVP_aes_128_ecb();
	case VCARD_MGM_AES192:
		return EVP_aes_192_ecb();
	case VCARD_MGM_AES256:
		return EVP_aes_256_ecb();
	default:
		return NULL;
	}
}

/* One block through the management key, encrypting or decrypting. */
static int mgm_crypt(const struct vcard_app *app, int enc, const uint8_t *in,
		     uint8_t *outb)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ret = -1;
	int blk = (int)mgm_block(app->mgm_alg);

	if (!ctx || !mgm_cipher(app->mgm_alg))
		goto out;
	if (EVP_CipherInit_ex(ctx, mgm_cipher(app->mgm_alg), NULL, app->mgm_key,
			      NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, outb, &n, in, blk) != 1 || n != blk)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

static uint16_t mgm_new_challenge(struct vcard_app *app, uint32_t tag,
				  enum mgm_pending kind, struct buf *out)
{
	size_t blk = mgm_block(app->mgm_alg);
	uint8_t sent[16];

	if (RAND_bytes(app->chal, (int)blk) != 1)
		return SW_NO_INFO;
	app->chal_len = blk;
	if (kind == MGM_MUTUAL) {
		/* Witness: the host proves the key by decrypting it. */
		if (mgm_crypt(app, 1, app->chal, sent) != 0)
			return SW_NO_INFO;
	} else {
		memcpy(sent, app->chal, blk);
	}
	app->pending = kind;
	buf_add_tlv_header(out, 0x7c, blk + 2);
	buf_add_tlv(out, tag, sent, blk);
	return SW_OK;
}

/* Host returned 82 = E(our challenge). */
static uint16_t mgm_single_response(struct vcard_app *app, struct reader *resp)
{
	uint8_t expect[16];
	bool ok;

	if (app->pending != MGM_SINGLE || reader_left(resp) != app->chal_len)
		goto fail;
	if (mgm_crypt(app, 1, app->chal, expect) != 0)
		goto fail;
	ok = CRYPTO_memcmp(expect, resp->p, app->chal_len) == 0;
	OPENSSL_cleanse(expect, sizeof(expect));
	if (!ok)
		goto fail;
	app->pending = MGM_NONE;
	app->mgm_authed = true;
	return SW_OK;
fail:
	app->pending = MGM_NONE;
	return SW_SECURITY;
}

/* Host returned 80 = decrypted witness and 81 = its own challenge. */
static uint16_t mgm_mutual_response(struct vcard_app *app,
				    struct reader *witness, struct reader *chal,
				    struct buf *out)
{
	size_t blk = mgm_block(app->mgm_alg);
	uint8_t resp[16];

	if (app->pending != MGM_MUTUAL ||
	    reader_left(witness) != app->chal_len ||
	    CRYPTO_memcmp(witness->p, app->chal, app->chal_len) != 0) {
		app->pending = MGM_NONE;
		return SW_SECURITY;
	}
	app->pending = MGM_NONE;
	if (reader_left(chal) != blk)
		return SW_WRONG_DATA;
	if (mgm_crypt(app, 1, chal->p, resp) != 0)
		return SW_NO_INFO;
	app->mgm_authed = true;
	buf_add_tlv_header(out, 0x7c, blk + 2);
	buf_add_tlv(out, 0x82, resp, blk);
	return SW_OK;
}

static uint16_t mgm_auth(struct vcard_app *app, uint8_t alg,
			 struct reader *tmpl, struct buf *out)
{
	struct reader w, c, r;
	bool has_w = reader_find_tlv(tmpl, 0x80, &w) == 0;
	bool has_c = reader_find_tlv(tmpl, 0x81, &c) == 0;
	bool has_r = reader_find_tlv(tmpl, 0x82, &r) == 0;

	if (alg != app->mgm_alg)
		return SW_WRONG_DATA;
	app->mgm_authed = false;
	if (has_w && reader_left(&w) == 0 && !has_c && !has_r)
		return mgm_new_challenge(app, 0x80, MGM_MUTUAL, out);
	if (has_c && reader_left(&c) == 0 && !has_w && !has_r)
		return mgm_new_challenge(app, 0x81, MGM_SINGLE, out);
	if (has_w && has_c && !has_r)
		return mgm_mutual_response(app, &w, &c, out);
	if (has_r && reader_left(&r) > 0 && !has_w && !has_c)
		return mgm_single_response(app, &r);
	app->pending = MGM_NONE;
	return SW_WRONG_DATA;
}

uint16_t piv_ins_general_auth(struct vcard_app *app,
			      const struct vcard_apdu *cmd, struct buf *out,
			      bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len);
	struct reader tmpl;

	if (reader_expect_tlv(&r, 0x7c, &tmpl) != 0 || reader_left(&r) != 0)
		return SW_WRONG_DATA;
	if (cmd->p2 == SLOT_MGM)
		return mgm_auth(app, cmd->p1, &tmpl, out);
	if (piv_slot_index(cmd->p2) < 0)
		return SW_WRONG_P1P2;
	return piv_key_operation(app, cmd->p1, cmd->p2, &tmpl, out, key_op);
}
