/* APDU encoding and the exchange rules of ISO 7816-4: short and extended
 * length, command chaining, 61xx / GET RESPONSE, 6Cxx, and the status word
 * table. Everything the card sends is checked here before anyone parses it. */
#include "iso7816.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "reader.h"

/* Longest a 61xx chain may run: 64 KiB in 256-byte pieces, and a card that
 * answers 61xx with no data never loops us forever. */
#define GET_RESPONSE_MAX 300

struct iso7816_card {
	struct iso7816_transport t;
	enum iso7816_ext ext;
	unsigned long apdus;
	uint8_t *rapdu; /* ISO7816_RAPDU_MAX bytes, reused; wiped after use */
};

int iso7816_card_new(const struct iso7816_transport *t,
		     struct iso7816_card **out)
{
	struct iso7816_card *c;

	*out = NULL;
	if (!t || !t->transmit)
		return TK_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TK_ERR_NOMEM;
	c->rapdu = malloc(ISO7816_RAPDU_MAX);
	if (!c->rapdu) {
		free(c);
		return TK_ERR_NOMEM;
	}
	c->t = *t;
	c->ext = ISO7816_EXT_UNKNOWN;
	*out = c;
	return 0;
}

void iso7816_card_free(struct iso7816_card **c)
{
	if (!c || !*c)
		return;
	free((*c)->rapdu);
	explicit_bzero(*c, sizeof(**c));
	free(*c);
	*c = NULL;
}

enum iso7816_ext iso7816_card_extended(const struct iso7816_card *c)
{
	return c->ext;
}

void iso7816_card_set_extended(struct iso7816_card *c, enum iso7816_ext e)
{
	c->ext = e;
}

unsigned long iso7816_card_apdu_count(const struct iso7816_card *c)
{
	return c->apdus;
}

/* A status-word class and what it means for us. */
struct sw_map {
	uint16_t sw, mask;
	int err;
};

static const struct sw_map sw_table[] = {
	{ 0x9000, 0xffff, 0 },
	{ 0x63c0, 0xfff0, TK_ERR_PIN_INCORRECT },
	{ 0x6300, 0xffff, TK_ERR_PIN_INCORRECT },
	{ 0x6983, 0xffff, TK_ERR_PIN_LOCKED },
	{ 0x6982, 0xffff, TK_ERR_AUTH_REQUIRED },
	{ 0x6a82, 0xffff, TK_ERR_NOT_FOUND },
	{ 0x6a88, 0xffff, TK_ERR_NOT_FOUND },
	{ 0x6985, 0xffff, TK_ERR_DENIED },
	{ 0x6984, 0xffff, TK_ERR_DENIED },
	{ 0x6a80, 0xffff, TK_ERR_INVALID },
	{ 0x6a86, 0xffff, TK_ERR_INVALID },
	{ 0x6700, 0xffff, TK_ERR_INVALID },
	{ 0x6b00, 0xffff, TK_ERR_INVALID },
	{ 0x6a81, 0xffff, TK_ERR_UNSUPPORTED },
	{ 0x6d00, 0xffff, TK_ERR_UNSUPPORTED },
	{ 0x6e00, 0xffff, TK_ERR_UNSUPPORTED },
	{ 0x6880, 0xfff0, TK_ERR_UNSUPPORTED },
	{ 0x6a84, 0xffff, TK_ERR_TOO_LARGE },
};

int iso7816_sw_error(uint16_t sw)
{
	for (size_t i = 0; i < sizeof(sw_table) / sizeof(sw_table[0]); i++)
		if ((sw & sw_table[i].mask) == sw_table[i].sw)
			return sw_table[i].err;
	return TK_ERR_DEVICE;
}

int iso7816_sw_tries(uint16_t sw)
{
	if ((sw & 0xfff0) == 0x63c0)
		return sw & 0x0f;
	if (sw == 0x6983)
		return 0;
	return -1;
}

/* One C-APDU. le: 0 none, else the expected length (256 or 65536 for the
 * encoded zero). Case 2/4 short uses one Le byte, extended uses two (three
 * when there is no Lc). */
static void encode(struct buf *cmd, uint8_t cla, uint8_t ins, uint8_t p1,
		   uint8_t p2, const uint8_t *data, size_t len, size_t le,
		   bool ext)
{
	buf_reset(cmd);
	buf_add_u8(cmd, cla);
	buf_add_u8(cmd, ins);
	buf_add_u8(cmd, p1);
	buf_add_u8(cmd, p2);
	if (len) {
		if (ext) {
			buf_add_u8(cmd, 0);
			buf_add_u16be(cmd, (uint16_t)len);
		} else {
			buf_add_u8(cmd, (uint8_t)len);
		}
		buf_add(cmd, data, len);
	}
	if (le) {
		if (ext) {
			if (!len)
				buf_add_u8(cmd, 0);
			buf_add_u16be(cmd, (uint16_t)(le & 0xffff));
		} else {
			buf_add_u8(cmd, (uint8_t)(le & 0xff));
		}
	}
}

/* Sends cmd, appends the response data to resp (capped at ISO7816_RESP_MAX
 * across calls via *total) and returns the status word. */
static int exchange(struct iso7816_card *c, const struct buf *cmd,
		    struct buf *resp, size_t *total, uint16_t *sw)
{
	struct reader r;
	const uint8_t *data;
	size_t rlen = ISO7816_RAPDU_MAX, dlen;
	int rc;

	if (buf_failed(cmd))
		return TK_ERR_NOMEM;
	c->apdus++;
	rc = c->t.transmit(c->t.ctx, cmd->data, cmd->len, c->rapdu, &rlen);
	if (rc > 0)
		rc = TK_ERR_TRANSPORT;
	if (rc < 0)
		return rc;
	if (rlen < 2 || rlen > ISO7816_RAPDU_MAX)
		return TK_ERR_DEVICE;
	dlen = rlen - 2;
	r = reader_init(c->rapdu, rlen);
	if (reader_get_ref(&r, dlen, &data) != 0 ||
	    reader_get_u16be(&r, sw) != 0)
		return TK_ERR_DEVICE;
	/* Data to a command that expects none is dropped, not trusted. */
	if (dlen && resp) {
		if (dlen > ISO7816_RESP_MAX - *total) {
			rc = TK_ERR_DEVICE;
		} else {
			buf_add(resp, data, dlen);
			*total += dlen;
			rc = buf_failed(resp) ? TK_ERR_NOMEM : 0;
		}
	}
	explicit_bzero(c->rapdu, rlen);
	return rc;
}

/* Follows 61xx with GET RESPONSE until the card is done. */
static int get_responses(struct iso7816_card *c, uint8_t cla, struct buf *cmd,
			 struct buf *resp, size_t *total, uint16_t *sw)
{
	int rc = 0;

	for (int n = 0; (*sw >> 8) == 0x61; n++) {
		if (n >= GET_RESPONSE_MAX || !resp)
			return TK_ERR_DEVICE;
		encode(cmd, cla, ISO7816_INS_GET_RESPONSE, 0, 0, NULL, 0,
		       (*sw & 0xff) ? (*sw & 0xff) : 256, false);
		rc = exchange(c, cmd, resp, total, sw);
		if (rc)
			return rc;
	}
	return rc;
}

/* Sends a command short, chained in 255-byte parts when the data needs it,
 * or as one extended APDU. Retries once with the right Le on 6Cxx. */
static int send_command(struct iso7816_card *c, struct buf *cmd,
			const struct iso7816_apdu *a, struct buf *resp,
			bool ext, size_t *total, uint16_t *sw)
{
	struct reader in = reader_init(a->data, a->len);
	const uint8_t *part;
	size_t le = resp ? (ext ? 65536 : 256) : 0, len;
	int rc;

	while (!ext && reader_left(&in) > 255) {
		if (reader_get_ref(&in, 255, &part) != 0)
			return TK_ERR_ARG;
		encode(cmd, a->cla | 0x10, a->ins, a->p1, a->p2, part, 255, 0,
		       false);
		rc = exchange(c, cmd, resp, total, sw);
		if (rc || *sw != 0x9000)
			return rc;
	}
	len = reader_left(&in);
	if (reader_get_ref(&in, len, &part) != 0)
		return TK_ERR_ARG;
	encode(cmd, a->cla, a->ins, a->p1, a->p2, part, len, le, ext);
	rc = exchange(c, cmd, resp, total, sw);
	if (rc == 0 && (*sw >> 8) == 0x6c && resp) {
		encode(cmd, a->cla, a->ins, a->p1, a->p2, part, len,
		       (*sw & 0xff) ? (*sw & 0xff) : 256, false);
		rc = exchange(c, cmd, resp, total, sw);
		if (rc == 0 && (*sw >> 8) == 0x6c)
			rc = TK_ERR_DEVICE;
	}
	return rc;
}

/* Answers that mean "this card or reader does not take extended length". */
static bool ext_refused(int rc, uint16_t sw)
{
	if (rc == TK_ERR_TRANSPORT)
		return true;
	return rc == 0 &&
	       (sw == 0x6700 || sw == 0x6d00 || sw == 0x6e00 || sw == 0x6f00);
}

int iso7816_transmit(struct iso7816_card *c, const struct iso7816_apdu *a,
		     struct buf *resp, uint16_t *sw)
{
	struct buf cmd;
	size_t total = 0, start = resp ? resp->len : 0;
	bool probe = c->ext == ISO7816_EXT_UNKNOWN && a->probe && resp &&
		     a->len <= 0xffff;
	bool ext = c->ext == ISO7816_EXT_YES || probe;
	int rc;

	*sw = 0;
	if (a->len > 0xffff || (a->len && !a->data))
		return TK_ERR_ARG;
	/* Commands carry PINs and keys: the encoding buffer wipes itself. */
	buf_init(&cmd, 0);
	cmd.secret = true;
	rc = send_command(c, &cmd, a, resp, ext, &total, sw);
	if (probe) {
		if (ext_refused(rc, *sw)) {
			c->ext = ISO7816_EXT_NO;
			resp->len = start;
			total = 0;
			rc = send_command(c, &cmd, a, resp, false, &total, sw);
		} else if (rc == 0) {
			c->ext = ISO7816_EXT_YES;
		}
	}
	/* GET RESPONSE is interindustry: CLA 0X on the command's channel. */
	if (rc == 0)
		rc = get_responses(c, a->cla & 0x03, &cmd, resp, &total, sw);
	buf_free(&cmd);
	return rc;
}
