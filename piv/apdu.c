/* The PIV card on the ISO 7816-4 APDU layer (iso7816/): a card is an
 * iso7816_card plus what the PIV and YubiKey commands remember, every
 * command is CLA 00 and GET DATA probes extended length. And the BER-TLV
 * walks the PIV sources share. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "internal.h"

/* Longest a 61xx chain may run: 64 KiB in 256-byte pieces, and a card that
 * answers 61xx with no data never loops us forever. */
#define GET_RESPONSE_MAX 300

int piv_card_new(const struct piv_transport *t, struct piv_card **out)
{
	struct iso7816_transport it;
	struct piv_card *c;
	int rc;

	*out = NULL;
	if (!t || !t->transmit)
		return TK_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return TK_ERR_NOMEM;
	it.transmit = t->transmit;
	it.ctx = t->ctx;
	if ((rc = iso7816_card_new(&it, &c->iso)) != 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void piv_card_free(struct piv_card **c)
{
	if (!c || !*c)
		return;
	iso7816_card_free(&(*c)->iso);
	explicit_bzero(*c, sizeof(**c));
	free(*c);
	*c = NULL;
}

enum piv_ext piv_card_extended(const struct piv_card *c)
{
	return (enum piv_ext)iso7816_card_extended(c->iso);
}

void piv_card_set_extended(struct piv_card *c, enum piv_ext e)
{
	iso7816_card_set_extended(c->iso, (enum iso7816_ext)e);
}

unsigned long piv_card_apdu_count(const struct piv_card *c)
{
	return iso7816_card_apdu_count(c->iso);
}

int piv_sw_error(uint16_t sw)
{
	return iso7816_sw_error(sw);
}

int piv_sw_tries(uint16_t sw)
{
	return iso7816_sw_tries(sw);
}

int piv_transmit(struct piv_card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		 const uint8_t *data, size_t len, struct buf *resp,
		 uint16_t *sw)
{
	/* GET DATA probes extended length: a read, refused at no cost. */
	const struct iso7816_apdu a = {
		.cla = 0x00,
		.ins = ins,
		.p1 = p1,
		.p2 = p2,
		.data = data,
		.len = len,
		.probe = ins == PIV_INS_GET_DATA,
	};

	return iso7816_transmit(c->iso, &a, resp, sw);
}

int piv_command(struct piv_card *c, uint8_t ins, uint8_t p1, uint8_t p2,
		const uint8_t *data, size_t len, struct buf *resp)
{
	uint16_t sw;
	int rc = piv_transmit(c, ins, p1, p2, data, len, resp, &sw);

	return rc ? rc : piv_sw_error(sw);
}

int piv_tlv_scan(struct reader r, const uint32_t *tags, size_t n,
		 struct reader *vals, unsigned *found)
{
	*found = 0;
	while (reader_left(&r) > 0) {
		uint32_t tag;
		struct reader v;

		if (reader_get_tlv(&r, &tag, &v) != 0)
			return TK_ERR_DEVICE;
		for (size_t i = 0; i < n; i++) {
			if (tags[i] != tag)
				continue;
			if (*found & (1u << i))
				return TK_ERR_DEVICE;
			*found |= 1u << i;
			vals[i] = v;
		}
	}
	return 0;
}

int piv_tlv_unwrap(struct reader r, uint32_t want, struct reader *val)
{
	if (reader_expect_tlv(&r, want, val) != 0 || reader_left(&r) != 0)
		return TK_ERR_DEVICE;
	return 0;
}
