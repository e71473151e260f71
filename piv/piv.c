/* The PIV application's commands (SP 800-73-4 part 2): SELECT, GET/PUT DATA,
 * the PIN commands, GENERAL AUTHENTICATE with a private key and GENERATE. */
#include <string.h>

#include "error.h"
#include "internal.h"

static const uint8_t piv_aid[] = { 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00,
				   0x00, 0x10, 0x00, 0x01, 0x00 };

/* Algorithms the card lists in AC; repeated 80 tags are the point here, so
 * this one is walked by hand instead of through piv_tlv_scan. */
static int parse_alg_list(struct reader r, struct piv_app_info *info)
{
	while (reader_left(&r) > 0) {
		uint32_t tag;
		struct reader v;
		uint8_t alg;

		if (reader_get_tlv(&r, &tag, &v) != 0)
			return TK_ERR_DEVICE;
		if (tag != 0x80)
			continue;
		if (reader_left(&v) != 1 || reader_get_u8(&v, &alg) != 0)
			return TK_ERR_DEVICE;
		if (info->nalgs < sizeof(info->algs))
			info->algs[info->nalgs++] = alg;
	}
	return 0;
}

int piv_app_info_parse(const uint8_t *p, size_t len, struct piv_app_info *info)
{
	static const uint32_t tags[] = { 0x4f, 0x79, 0xac };
	struct reader apt, vals[3];
	unsigned found;
	int rc;

	memset(info, 0, sizeof(*info));
	if (len == 0) /* some cards answer SELECT with 9000 alone */
		return 0;
	rc = piv_tlv_unwrap(reader_init(p, len), 0x61, &apt);
	if (rc == 0)
		rc = piv_tlv_scan(apt, tags, 3, vals, &found);
	if (rc)
		return rc;
	if (found & 1) {
		info->aid_len = reader_left(&vals[0]);
		if (info->aid_len > sizeof(info->aid) ||
		    reader_get_bytes(&vals[0], info->aid, info->aid_len) != 0)
			return TK_ERR_DEVICE;
	}
	if (found & 4)
		return parse_alg_list(vals[2], info);
	return 0;
}

int piv_select(struct piv_card *c, struct piv_app_info *info)
{
	struct piv_app_info tmp;
	struct buf resp;
	int rc;

	buf_init(&resp, PIV_RESP_MAX);
	rc = piv_command(c, PIV_INS_SELECT, 0x04, 0x00, piv_aid,
			 sizeof(piv_aid), &resp);
	if (rc == 0)
		rc =
		    piv_app_info_parse(resp.data, resp.len, info ? info : &tmp);
	buf_free(&resp);
	return rc;
}

/* The tag list of GET/PUT DATA: 5C and the tag's one to three bytes. */
static void add_tag_list(struct buf *b, uint32_t tag)
{
	size_t n = tag > 0xffff ? 3 : tag > 0xff ? 2 : 1;

	buf_add_u8(b, 0x5c);
	buf_add_u8(b, (uint8_t)n);
	for (size_t i = n; i-- > 0;)
		buf_add_u8(b, (uint8_t)(tag >> (8 * i)));
}

/* Discovery and the BIT group template come back under their own tag. */
static uint32_t object_wrapper(uint32_t tag)
{
	return (tag == PIV_OBJ_DISCOVERY || tag == PIV_OBJ_BITGT) ? tag : 0x53;
}

int piv_get_data(struct piv_card *c, uint32_t tag, struct buf *out)
{
	struct buf cmd, resp;
	struct reader val;
	int rc;

	if (tag == 0 || tag > 0xffffff)
		return TK_ERR_ARG;
	buf_init(&cmd, 8);
	buf_init(&resp, PIV_RESP_MAX);
	add_tag_list(&cmd, tag);
	rc = buf_failed(&cmd) ? TK_ERR_NOMEM : 0;
	if (rc == 0)
		rc = piv_command(c, PIV_INS_GET_DATA, 0x3f, 0xff, cmd.data,
				 cmd.len, &resp);
	if (rc == 0)
		rc = piv_tlv_unwrap(reader_init(resp.data, resp.len),
				    object_wrapper(tag), &val);
	if (rc == 0) {
		buf_reset(out);
		buf_add(out, val.p, val.len);
		rc = buf_failed(out) ? TK_ERR_NOMEM : 0;
	}
	buf_free(&cmd);
	buf_free(&resp);
	return rc;
}

int piv_put_data(struct piv_card *c, uint32_t tag, const uint8_t *value,
		 size_t len)
{
	struct buf cmd;
	int rc;

	if (tag == 0 || tag > 0xffffff || (len && !value))
		return TK_ERR_ARG;
	buf_init(&cmd, 0xffff);
	if (tag != PIV_OBJ_DISCOVERY)
		add_tag_list(&cmd, tag);
	buf_add_tlv(&cmd, object_wrapper(tag), value, len);
	rc = buf_failed(&cmd) ? TK_ERR_ARG : 0;
	if (rc == 0)
		rc = piv_command(c, PIV_INS_PUT_DATA, 0x3f, 0xff, cmd.data,
				 cmd.len, NULL);
	buf_free(&cmd);
	return rc;
}

/* PIV PINs are sent as 8 bytes padded with FF. */
static int pin_pad(const uint8_t *pin, size_t len, uint8_t out[8])
{
	if (!pin || len == 0 || len > 8)
		return TK_ERR_ARG;
	memset(out, 0xff, 8);
	memcpy(out, pin, len);
	return 0;
}

/* Runs a PIN command and reports tries left from 63Cx / 6983. */
static int pin_command(struct piv_card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		       const uint8_t *data, size_t len, int *tries)
{
	uint16_t sw;
	int rc;

	if (tries)
		*tries = -1;
	rc = piv_transmit(c, ins, p1, p2, data, len, NULL, &sw);
	if (rc)
		return rc;
	if (tries)
		*tries = piv_sw_tries(sw);
	return piv_sw_error(sw);
}

int piv_verify(struct piv_card *c, uint8_t ref, const uint8_t *pin, size_t len,
	       int *tries)
{
	uint8_t padded[8];
	int rc = pin_pad(pin, len, padded);

	if (rc == 0)
		rc =
		    pin_command(c, PIV_INS_VERIFY, 0x00, ref, padded, 8, tries);
	explicit_bzero(padded, sizeof(padded));
	return rc;
}

int piv_pin_status(struct piv_card *c, uint8_t ref, int *tries)
{
	int rc = pin_command(c, PIV_INS_VERIFY, 0x00, ref, NULL, 0, tries);

	/* Here 63Cx is no failed attempt, only "not verified yet". */
	return rc == TK_ERR_PIN_INCORRECT ? TK_ERR_AUTH_REQUIRED : rc;
}

int piv_logout(struct piv_card *c, uint8_t ref)
{
	return piv_command(c, PIV_INS_VERIFY, 0xff, ref, NULL, 0, NULL);
}

/* CHANGE REFERENCE DATA and RESET RETRY COUNTER: two padded secrets. */
static int two_pins(struct piv_card *c, uint8_t ins, uint8_t ref,
		    const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen, int *tries)
{
	uint8_t data[16];
	int rc = pin_pad(a, alen, data);

	if (rc == 0)
		rc = pin_pad(b, blen, data + 8);
	if (rc == 0)
		rc = pin_command(c, ins, 0x00, ref, data, sizeof(data), tries);
	explicit_bzero(data, sizeof(data));
	return rc;
}

int piv_change_reference(struct piv_card *c, uint8_t ref, const uint8_t *old,
			 size_t oldlen, const uint8_t *new_, size_t newlen,
			 int *tries)
{
	return two_pins(c, PIV_INS_CHANGE_REF, ref, old, oldlen, new_, newlen,
			tries);
}

int piv_unblock_pin(struct piv_card *c, const uint8_t *puk, size_t puklen,
		    const uint8_t *pin, size_t pinlen, int *tries)
{
	return two_pins(c, PIV_INS_RESET_RETRY, PIV_REF_PIN, puk, puklen, pin,
			pinlen, tries);
}

/* GENERAL AUTHENTICATE 7C { 82 00, <intag> in } -> 7C { 82 result }. */
static int gen_auth(struct piv_card *c, uint8_t alg, uint8_t slot,
		    uint32_t intag, const uint8_t *in, size_t inlen,
		    uint8_t *out, size_t *out_len)
{
	struct buf inner, cmd, resp;
	struct reader tmpl, res;
	unsigned found = 0;
	uint32_t want = 0x82;
	int rc;

	piv_secret_buf(&inner, 0xffff);
	piv_secret_buf(&cmd, 0xffff);
	piv_secret_buf(&resp, PIV_RESP_MAX);
	buf_add_tlv(&inner, 0x82, NULL, 0);
	buf_add_tlv(&inner, intag, in, inlen);
	if (!buf_failed(&inner))
		buf_add_tlv(&cmd, 0x7c, inner.data, inner.len);
	else
		cmd.failed = true;
	buf_free(&inner);
	rc = buf_failed(&cmd) ? TK_ERR_ARG : 0;
	if (rc == 0)
		rc = piv_command(c, PIV_INS_GENERAL_AUTH, alg, slot, cmd.data,
				 cmd.len, &resp);
	if (rc == 0)
		rc = piv_tlv_unwrap(reader_init(resp.data, resp.len), 0x7c,
				    &tmpl);
	if (rc == 0)
		rc = piv_tlv_scan(tmpl, &want, 1, &res, &found);
	if (rc == 0 && (!found || reader_left(&res) == 0))
		rc = TK_ERR_DEVICE;
	if (rc == 0 && res.len > *out_len)
		rc = TK_ERR_TOO_LARGE;
	if (rc == 0) { /* the one copy out of the response */
		memcpy(out, res.p, res.len);
		*out_len = res.len;
	}
	buf_free(&cmd);
	buf_free(&resp);
	return rc;
}

int piv_sign(struct piv_card *c, uint8_t alg, uint8_t slot, const uint8_t *in,
	     size_t inlen, uint8_t *sig, size_t *sig_len)
{
	size_t n = piv_alg_size(alg);

	if (!in || inlen == 0)
		return TK_ERR_ARG;
	/* RSA: the padded block; ECDSA: the digest shaped to the field. */
	if ((piv_alg_is_rsa(alg) || piv_alg_is_ec(alg)) && inlen == n)
		return gen_auth(c, alg, slot, 0x81, in, inlen, sig, sig_len);
	if (alg == PIV_ALG_ED25519)
		return gen_auth(c, alg, slot, 0x81, in, inlen, sig, sig_len);
	return TK_ERR_ARG;
}

int piv_decipher(struct piv_card *c, uint8_t alg, uint8_t slot,
		 const uint8_t *in, size_t inlen, uint8_t *out, size_t *out_len)
{
	if (!piv_alg_is_rsa(alg) || !in || inlen != piv_alg_size(alg))
		return TK_ERR_ARG;
	return gen_auth(c, alg, slot, 0x81, in, inlen, out, out_len);
}

int piv_ecdh(struct piv_card *c, uint8_t alg, uint8_t slot,
	     const uint8_t *point, size_t len, uint8_t *out, size_t *out_len)
{
	size_t n = piv_alg_size(alg);

	if (!point)
		return TK_ERR_ARG;
	if (piv_alg_is_ec(alg) && (len != 2 * n + 1 || point[0] != 0x04))
		return TK_ERR_ARG;
	if (alg == PIV_ALG_X25519 && len != n)
		return TK_ERR_ARG;
	if (!piv_alg_is_ec(alg) && alg != PIV_ALG_X25519)
		return TK_ERR_ARG;
	return gen_auth(c, alg, slot, 0x85, point, len, out, out_len);
}

int piv_generate(struct piv_card *c, uint8_t slot, uint8_t alg,
		 uint8_t pin_policy, uint8_t touch_policy, EVP_PKEY **pub)
{
	struct buf cmd, resp;
	struct reader tmpl;
	uint8_t ctl[9];
	size_t n = 0;
	int rc;

	*pub = NULL;
	if (piv_alg_size(alg) == 0 || !piv_slot_is_key(slot))
		return TK_ERR_ARG;
	ctl[n++] = 0x80, ctl[n++] = 1, ctl[n++] = alg;
	if (pin_policy)
		ctl[n++] = 0xaa, ctl[n++] = 1, ctl[n++] = pin_policy;
	if (touch_policy)
		ctl[n++] = 0xab, ctl[n++] = 1, ctl[n++] = touch_policy;
	buf_init(&cmd, 64);
	buf_init(&resp, PIV_RESP_MAX);
	buf_add_tlv(&cmd, 0xac, ctl, n);
	rc = buf_failed(&cmd) ? TK_ERR_NOMEM : 0;
	if (rc == 0)
		rc = piv_command(c, PIV_INS_GENERATE, 0x00, slot, cmd.data,
				 cmd.len, &resp);
	if (rc == 0)
		rc = piv_tlv_unwrap(reader_init(resp.data, resp.len), 0x7f49,
				    &tmpl);
	if (rc == 0)
		rc = piv_pubkey_parse(alg, tmpl.p, tmpl.len, pub);
	buf_free(&cmd);
	buf_free(&resp);
	return rc;
}
