/* YubiKey extensions to PIV: version, serial, metadata, attestation, key
 * import, management key, reset, retries, move/delete key. */
#include "piv_app_int.h"

#include <string.h>

#include <openssl/crypto.h>

uint16_t piv_ins_version(struct vcard_app *app, const struct vcard_apdu *cmd,
			 struct buf *out, bool *key_op)
{
	buf_add(out, app->fw, 3);
	return SW_OK;
}

uint16_t piv_ins_serial(struct vcard_app *app, const struct vcard_apdu *cmd,
			struct buf *out, bool *key_op)
{
	if (!piv_fw_at_least(app, 5, 0))
		return SW_INS_NOT_SUPPORTED;
	buf_add_u32be(out, app->serial);
	return SW_OK;
}

static void meta_ref(const struct piv_ref *ref, const char *dflt,
		     struct buf *out)
{
	uint8_t alg = 0xff, dflag = piv_ref_is(ref, dflt) ? 1 : 0;
	uint8_t tries[2] = { ref->tries, ref->left };

	buf_add_tlv(out, 0x01, &alg, 1);
	buf_add_tlv(out, 0x05, &dflag, 1);
	buf_add_tlv(out, 0x06, tries, 2);
}

static void meta_mgm(const struct vcard_app *app, struct buf *out)
{
	static const uint8_t dflt[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					  5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t pol[2] = { 0xff, app->mgm_touch };
	uint8_t dflag = app->mgm_len == sizeof(dflt) &&
			CRYPTO_memcmp(app->mgm_key, dflt, sizeof(dflt)) == 0;

	buf_add_tlv(out, 0x01, &app->mgm_alg, 1);
	buf_add_tlv(out, 0x02, pol, 2);
	buf_add_tlv(out, 0x05, &dflag, 1);
}

uint16_t piv_ins_metadata(struct vcard_app *app, const struct vcard_apdu *cmd,
			  struct buf *out, bool *key_op)
{
	struct piv_key *key;
	struct buf pub;
	uint8_t pol[2];

	if (!piv_fw_at_least(app, 5, 3))
		return SW_INS_NOT_SUPPORTED;
	if (cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (cmd->p2 == 0x80 || cmd->p2 == 0x81) {
		meta_ref(cmd->p2 == 0x80 ? &app->pin : &app->puk,
			 cmd->p2 == 0x80 ? DEFAULT_PIN : DEFAULT_PUK, out);
		return SW_OK;
	}
	if (cmd->p2 == SLOT_MGM) {
		meta_mgm(app, out);
		return SW_OK;
	}
	key = piv_key_of(app, cmd->p2);
	if (!key)
		return SW_WRONG_P1P2;
	if (key->alg == 0)
		return SW_NOT_FOUND;
	pol[0] = key->pin_policy;
	pol[1] = key->touch_policy;
	buf_add_tlv(out, 0x01, &key->alg, 1);
	buf_add_tlv(out, 0x02, pol, 2);
	buf_add_tlv(out, 0x03, &key->origin, 1);
	buf_init(&pub, 0);
	if (piv_pubkey_encode(key->alg, key->pkey, &pub) != 0) {
		buf_free(&pub);
		return SW_NO_INFO;
	}
	buf_add_tlv(out, 0x04, pub.data, pub.len);
	buf_free(&pub);
	return SW_OK;
}

uint16_t piv_ins_attest(struct vcard_app *app, const struct vcard_apdu *cmd,
			struct buf *out, bool *key_op)
{
	struct piv_key *key = piv_key_of(app, cmd->p1);
	struct piv_key *ca = piv_key_of(app, SLOT_ATTEST);

	if (!key || cmd->p2 != 0x00)
		return SW_WRONG_P1P2;
	if (key->alg == 0)
		return SW_NOT_FOUND;
	if (key->origin != ORIGIN_GENERATED)
		return SW_WRONG_DATA;
	if (ca->alg == 0 || !piv_obj_find(app, TAG_ATTEST_CERT))
		return SW_NOT_FOUND;
	*key_op = true;
	return piv_attest_cert(app, cmd->p1, out) == 0 ? SW_OK : SW_NO_INFO;
}

static EVP_PKEY *import_key(uint8_t alg, struct reader *data)
{
	struct reader v;
	int id = alg == ALG_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519;

	switch (alg) {
	case ALG_RSA1024:
	case ALG_RSA2048:
	case ALG_RSA3072:
	case ALG_RSA4096:
		return piv_import_rsa(alg, data);
	case ALG_ECCP256:
	case ALG_ECCP384:
		if (reader_find_tlv(data, 0x06, &v) != 0)
			return NULL;
		return piv_import_ec(alg, v.p, reader_left(&v));
	case ALG_ED25519:
	case ALG_X25519:
		if (reader_find_tlv(data, alg == ALG_ED25519 ? 0x07 : 0x08,
				    &v) != 0 ||
		    reader_left(&v) != 32)
			return NULL;
		return EVP_PKEY_new_raw_private_key(id, NULL, v.p, 32);
	default:
		return NULL;
	}
}

/* IMPORT ASYMMETRIC KEY: FE alg slot, key TLVs then AA/AB policies. */
uint16_t piv_ins_import(struct vcard_app *app, const struct vcard_apdu *cmd,
			struct buf *out, bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len), v;
	struct piv_key *key = piv_key_of(app, cmd->p2);
	uint8_t pp = POL_DEFAULT, tp = POL_DEFAULT;
	EVP_PKEY *pkey;

	if (!key)
		return SW_WRONG_P1P2;
	if (!app->mgm_authed)
		return SW_SECURITY;
	if (!piv_alg_supported(app, cmd->p1))
		return SW_WRONG_P1P2;
	if (reader_find_tlv(&r, 0xaa, &v) == 0 && reader_get_u8(&v, &pp) != 0)
		return SW_WRONG_DATA;
	if (reader_find_tlv(&r, 0xab, &v) == 0 && reader_get_u8(&v, &tp) != 0)
		return SW_WRONG_DATA;
	if (piv_policies(cmd->p2, &pp, &tp) != 0)
		return SW_WRONG_DATA;
	pkey = import_key(cmd->p1, &r);
	if (!pkey)
		return SW_WRONG_DATA;
	piv_key_clear(key);
	key->alg = cmd->p1;
	key->pin_policy = pp;
	key->touch_policy = tp;
	key->origin = ORIGIN_IMPORTED;
	key->pkey = pkey;
	return piv_commit(app, SW_OK);
}

/* SET MANAGEMENT KEY: FF FF FF|FE, data alg 9B len key. */
uint16_t piv_ins_set_mgm(struct vcard_app *app, const struct vcard_apdu *cmd,
			 struct buf *out, bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len);
	uint8_t alg, slot, len;
	const uint8_t *k;

	if (cmd->p1 != 0xff || (cmd->p2 != 0xff && cmd->p2 != 0xfe))
		return SW_WRONG_P1P2;
	if (!app->mgm_authed)
		return SW_SECURITY;
	if (reader_get_u8(&r, &alg) != 0 || reader_get_u8(&r, &slot) != 0 ||
	    reader_get_u8(&r, &len) != 0 || slot != SLOT_MGM ||
	    reader_get_ref(&r, len, &k) != 0 || reader_left(&r) != 0)
		return SW_WRONG_DATA;
	if (piv_mgm_key_len(alg) == 0 || piv_mgm_key_len(alg) != len)
		return SW_WRONG_DATA;
	if (alg != VCARD_MGM_3DES && !piv_fw_at_least(app, 5, 4))
		return SW_WRONG_DATA;
	OPENSSL_cleanse(app->mgm_key, sizeof(app->mgm_key));
	memcpy(app->mgm_key, k, len);
	app->mgm_len = len;
	app->mgm_alg = alg;
	app->mgm_touch = cmd->p2 == 0xfe ? TOUCH_ALWAYS : TOUCH_NEVER;
	return piv_commit(app, SW_OK);
}

/* RESET: only once PIN and PUK are both blocked. */
uint16_t piv_ins_reset(struct vcard_app *app, const struct vcard_apdu *cmd,
		       struct buf *out, bool *key_op)
{
	if (app->pin.left != 0 || app->puk.left != 0)
		return SW_CONDITIONS;
	piv_factory_pins(app, DEFAULT_TRIES, DEFAULT_TRIES);
	OPENSSL_cleanse(app->mgm_key, sizeof(app->mgm_key));
	piv_mgm_default(app);
	for (int i = 0; i < PIV_NSLOTS; i++)
		if (piv_slot_of_index(i) != SLOT_ATTEST)
			piv_key_clear(&app->keys[i]);
	piv_objs_clear(app, true);
	app->pin_verified = app->pin_fresh = false;
	app->mgm_authed = false;
	app->pending = MGM_NONE;
	return piv_commit(app, SW_OK);
}

/* SET PIN RETRIES: FA pin-tries puk-tries; PIN and PUK go back to default. */
uint16_t piv_ins_set_retries(struct vcard_app *app,
			     const struct vcard_apdu *cmd, struct buf *out,
			     bool *key_op)
{
	if (!app->mgm_authed || !app->pin_verified)
		return SW_SECURITY;
	if (cmd->p1 == 0 || cmd->p2 == 0)
		return SW_WRONG_P1P2;
	piv_factory_pins(app, cmd->p1, cmd->p2);
	return piv_commit(app, SW_OK);
}

/* MOVE KEY: F6 dest src, dest FF deletes. */
uint16_t piv_ins_move_key(struct vcard_app *app, const struct vcard_apdu *cmd,
			  struct buf *out, bool *key_op)
{
	struct piv_key *src = piv_key_of(app, cmd->p2), *dst;

	if (!piv_fw_at_least(app, 5, 7))
		return SW_INS_NOT_SUPPORTED;
	if (!src || cmd->p2 == SLOT_ATTEST)
		return SW_WRONG_P1P2;
	dst = cmd->p1 == 0xff ? NULL : piv_key_of(app, cmd->p1);
	if (cmd->p1 != 0xff && (!dst || cmd->p1 == SLOT_ATTEST))
		return SW_WRONG_P1P2;
	if (!app->mgm_authed)
		return SW_SECURITY;
	if (src->alg == 0)
		return SW_NOT_FOUND;
	if (dst == src)
		return SW_OK;
	if (dst) {
		piv_key_clear(dst);
		*dst = *src;
		memset(src, 0, sizeof(*src));
	} else {
		piv_key_clear(src);
	}
	return piv_commit(app, SW_OK);
}
