/* Yubico's PIV extensions: version, serial, metadata, attestation, key
 * import, management-key change, reset, retry counters, move/delete. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "error.h"
#include "internal.h"
#include "yubikey.h"

/* A command whose answer must be exactly n bytes. */
static int fixed_answer(struct piv_card *c, uint8_t ins, uint8_t *out, size_t n)
{
	struct buf resp;
	int rc;

	buf_init(&resp, PIV_RESP_MAX);
	rc = piv_command(c, ins, 0x00, 0x00, NULL, 0, &resp);
	if (rc == 0 && resp.len != n)
		rc = TK_ERR_DEVICE;
	if (rc == 0)
		memcpy(out, resp.data, n);
	buf_free(&resp);
	return rc;
}

int yk_get_version(struct piv_card *c, struct yk_version *v)
{
	uint8_t b[3];
	int rc = fixed_answer(c, YK_INS_VERSION, b, sizeof(b));

	if (rc)
		return rc;
	v->major = b[0];
	v->minor = b[1];
	v->patch = b[2];
	memcpy(c->version, b, sizeof(c->version));
	c->has_version = true;
	return 0;
}

bool yk_card_version(const struct piv_card *c, struct yk_version *v)
{
	if (c->has_version) {
		v->major = c->version[0];
		v->minor = c->version[1];
		v->patch = c->version[2];
	}
	return c->has_version;
}

int yk_get_serial(struct piv_card *c, uint32_t *serial)
{
	uint8_t b[4];
	struct reader r;
	int rc = fixed_answer(c, YK_INS_SERIAL, b, sizeof(b));

	if (rc)
		return rc;
	r = reader_init(b, sizeof(b));
	return reader_get_u32be(&r, serial) == 0 ? 0 : TK_ERR_DEVICE;
}

/* Copies a field that must be exactly n bytes. */
static int md_field(struct reader v, uint8_t *out, size_t n)
{
	if (reader_left(&v) != n || reader_get_bytes(&v, out, n) != 0)
		return TK_ERR_DEVICE;
	return 0;
}

int yk_metadata_parse(const uint8_t *p, size_t len, struct yk_metadata *md)
{
	static const uint32_t tags[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
	struct reader v[6];
	uint8_t pair[2], dflt = 0;
	unsigned found;
	int rc;

	memset(md, 0, sizeof(*md));
	rc = piv_tlv_scan(reader_init(p, len), tags, 6, v, &found);
	if (rc == 0 && (md->has_algorithm = found & 1))
		rc = md_field(v[0], &md->algorithm, 1);
	if (rc == 0 && (md->has_policy = found & 2) &&
	    (rc = md_field(v[1], pair, 2)) == 0) {
		md->pin_policy = pair[0];
		md->touch_policy = pair[1];
	}
	if (rc == 0 && (md->has_origin = found & 4))
		rc = md_field(v[2], &md->origin, 1);
	if (rc == 0 && (found & 8)) {
		md->pubkey_len = reader_left(&v[3]);
		rc = md->pubkey_len > sizeof(md->pubkey)
			 ? TK_ERR_DEVICE
			 : md_field(v[3], md->pubkey, md->pubkey_len);
	}
	if (rc == 0 && (md->has_default = found & 16) &&
	    (rc = md_field(v[4], &dflt, 1)) == 0)
		md->is_default = dflt != 0;
	if (rc == 0 && (md->has_retries = found & 32) &&
	    (rc = md_field(v[5], pair, 2)) == 0) {
		md->retries_total = pair[0];
		md->retries_left = pair[1];
	}
	if (rc)
		memset(md, 0, sizeof(*md));
	return rc;
}

int yk_get_metadata(struct piv_card *c, uint8_t slot, struct yk_metadata *md)
{
	struct buf resp;
	int rc;

	buf_init(&resp, PIV_RESP_MAX);
	rc = piv_command(c, YK_INS_METADATA, 0x00, slot, NULL, 0, &resp);
	if (rc == 0)
		rc = yk_metadata_parse(resp.data, resp.len, md);
	buf_free(&resp);
	return rc;
}

int yk_attest(struct piv_card *c, uint8_t slot, struct buf *der)
{
	struct reader cert;
	int rc;

	if (!piv_slot_is_key(slot))
		return TK_ERR_ARG;
	buf_reset(der);
	rc = piv_command(c, YK_INS_ATTEST, slot, 0x00, NULL, 0, der);
	/* One DER SEQUENCE and nothing else, or it is no certificate. */
	if (rc == 0)
		rc = piv_tlv_unwrap(reader_init(der->data, der->len), 0x30,
				    &cert);
	if (rc)
		buf_reset(der);
	return rc;
}

/* A private big number as a tag with exactly n bytes. */
static void add_secret_bn(struct buf *b, uint32_t tag, const EVP_PKEY *key,
			  const char *name, size_t n)
{
	BIGNUM *bn = NULL;
	uint8_t *p;

	if (!EVP_PKEY_get_bn_param(key, name, &bn)) {
		b->failed = true;
		return;
	}
	buf_add_tlv_header(b, tag, n);
	p = buf_reserve(b, n);
	if (p && BN_bn2binpad(bn, p, (int)n) < 0)
		b->failed = true;
	BN_clear_free(bn);
}

static void add_private_key(struct buf *b, const EVP_PKEY *key, uint8_t alg)
{
	static const char *const rsa_parts[] = {
		OSSL_PKEY_PARAM_RSA_FACTOR1,      OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_EXPONENT1,    OSSL_PKEY_PARAM_RSA_EXPONENT2,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	size_t n = piv_alg_size(alg), rawlen = 32;
	uint8_t raw[32];

	if (piv_alg_is_rsa(alg)) {
		for (size_t i = 0; i < 5; i++)
			add_secret_bn(b, (uint32_t)(i + 1), key, rsa_parts[i],
				      n / 2);
	} else if (piv_alg_is_ec(alg)) {
		add_secret_bn(b, 0x06, key, OSSL_PKEY_PARAM_PRIV_KEY, n);
	} else if (EVP_PKEY_get_raw_private_key(key, raw, &rawlen) &&
		   rawlen == 32) {
		buf_add_tlv(b, alg == PIV_ALG_ED25519 ? 0x07 : 0x08, raw, 32);
	} else {
		b->failed = true;
	}
	explicit_bzero(raw, sizeof(raw));
}

int yk_import_key(struct piv_card *c, uint8_t slot, const EVP_PKEY *key,
		  uint8_t pin_policy, uint8_t touch_policy)
{
	struct buf cmd;
	BIGNUM *e = NULL;
	uint8_t alg;
	int rc;

	if (!key || !piv_slot_is_key(slot))
		return TK_ERR_ARG;
	rc = piv_pubkey_alg(key, &alg);
	if (rc)
		return rc;
	if (piv_alg_is_rsa(alg)) {
		/* YubiKeys take no other public exponent. */
		if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) ||
		    !BN_is_word(e, 65537))
			rc = TK_ERR_UNSUPPORTED;
		BN_free(e);
		if (rc)
			return rc;
	}
	piv_secret_buf(&cmd, 0xffff);
	add_private_key(&cmd, key, alg);
	if (pin_policy)
		buf_add_tlv(&cmd, 0xaa, &pin_policy, 1);
	if (touch_policy)
		buf_add_tlv(&cmd, 0xab, &touch_policy, 1);
	rc = buf_failed(&cmd) ? TK_ERR_ARG : 0;
	if (rc == 0)
		rc = piv_command(c, YK_INS_IMPORT, alg, slot, cmd.data, cmd.len,
				 NULL);
	buf_free(&cmd);
	return rc;
}

int yk_set_mgm_key(struct piv_card *c, uint8_t alg, const uint8_t *key,
		   size_t keylen, bool touch)
{
	struct buf cmd;
	int rc;

	if (!key || piv_mgm_key_len(alg) == 0 || keylen != piv_mgm_key_len(alg))
		return TK_ERR_ARG;
	piv_secret_buf(&cmd, 64);
	buf_add_u8(&cmd, alg);
	buf_add_tlv(&cmd, PIV_SLOT_MGM, key, keylen);
	rc = buf_failed(&cmd) ? TK_ERR_NOMEM : 0;
	if (rc == 0)
		rc = piv_command(c, YK_INS_SET_MGM, 0xff, touch ? 0xfe : 0xff,
				 cmd.data, cmd.len, NULL);
	buf_free(&cmd);
	return rc;
}

int yk_reset(struct piv_card *c)
{
	return piv_command(c, YK_INS_RESET, 0x00, 0x00, NULL, 0, NULL);
}

int yk_set_pin_retries(struct piv_card *c, uint8_t pin_tries, uint8_t puk_tries)
{
	if (pin_tries == 0 || puk_tries == 0)
		return TK_ERR_ARG;
	return piv_command(c, YK_INS_SET_RETRIES, pin_tries, puk_tries, NULL, 0,
			   NULL);
}

int yk_move_key(struct piv_card *c, uint8_t from, uint8_t to)
{
	if (!piv_slot_is_key(from) || !piv_slot_is_key(to) || from == to)
		return TK_ERR_ARG;
	return piv_command(c, YK_INS_MOVE_KEY, to, from, NULL, 0, NULL);
}

int yk_delete_key(struct piv_card *c, uint8_t slot)
{
	if (!piv_slot_is_key(slot))
		return TK_ERR_ARG;
	return piv_command(c, YK_INS_MOVE_KEY, 0xff, slot, NULL, 0, NULL);
}
