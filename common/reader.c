#include "reader.h"

#include <string.h>

int reader_get_ref(struct reader *r, size_t n, const uint8_t **out)
{
	if (n > r->len)
		return -1;
	*out = r->p;
	if (n) { /* an empty reader may hold NULL: NULL + 0 is UB */
		r->p += n;
		r->len -= n;
	}
	return 0;
}

int reader_get_bytes(struct reader *r, void *out, size_t n)
{
	const uint8_t *p;

	if (reader_get_ref(r, n, &p) != 0)
		return -1;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int reader_get_sub(struct reader *r, size_t n, struct reader *sub)
{
	const uint8_t *p;

	if (reader_get_ref(r, n, &p) != 0)
		return -1;
	*sub = reader_init(p, n);
	return 0;
}

int reader_skip(struct reader *r, size_t n)
{
	const uint8_t *p;

	return reader_get_ref(r, n, &p);
}

int reader_get_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *p;

	if (reader_get_ref(r, 1, &p) != 0)
		return -1;
	*v = p[0];
	return 0;
}

int reader_get_u16be(struct reader *r, uint16_t *v)
{
	const uint8_t *p;

	if (reader_get_ref(r, 2, &p) != 0)
		return -1;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return 0;
}

int reader_get_u32be(struct reader *r, uint32_t *v)
{
	const uint8_t *p;

	if (reader_get_ref(r, 4, &p) != 0)
		return -1;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	     ((uint32_t)p[2] << 8) | p[3];
	return 0;
}

int reader_get_u64be(struct reader *r, uint64_t *v)
{
	uint32_t hi, lo;
	struct reader save = *r;

	if (reader_get_u32be(r, &hi) != 0 || reader_get_u32be(r, &lo) != 0) {
		*r = save;
		return -1;
	}
	*v = ((uint64_t)hi << 32) | lo;
	return 0;
}

static int tlv_get_tag(struct reader *r, uint32_t *tag)
{
	uint8_t b;
	uint32_t t;
	int n = 1;

	if (reader_get_u8(r, &b) != 0)
		return -1;
	t = b;
	if ((b & 0x1f) == 0x1f) {
		/* Multi-byte tag: continuation while bit 8 is set; PIV uses at
		 * most three bytes (e.g. 5F C1 05 is a context tag 5F + 2). */
		do {
			if (n >= 3 || reader_get_u8(r, &b) != 0)
				return -1;
			t = (t << 8) | b;
			n++;
		} while (b & 0x80);
	}
	*tag = t;
	return 0;
}

static int tlv_get_len(struct reader *r, size_t *len)
{
	uint8_t b;
	size_t l = 0;

	if (reader_get_u8(r, &b) != 0)
		return -1;
	if (b < 0x80) {
		*len = b;
		return 0;
	}
	if (b == 0x80 || b > 0x83)
		return -1;
	for (int i = 0; i < (b & 0x7f); i++) {
		uint8_t c;

		if (reader_get_u8(r, &c) != 0)
			return -1;
		l = (l << 8) | c;
	}
	*len = l;
	return 0;
}

int reader_get_tlv(struct reader *r, uint32_t *tag, struct reader *value)
{
	struct reader save = *r;
	size_t len;

	if (tlv_get_tag(r, tag) != 0 || tlv_get_len(r, &len) != 0 ||
	    reader_get_sub(r, len, value) != 0) {
		*r = save;
		return -1;
	}
	return 0;
}

int reader_expect_tlv(struct reader *r, uint32_t want, struct reader *value)
{
	struct reader save = *r;
	uint32_t tag;

	if (reader_get_tlv(r, &tag, value) != 0)
		return -1;
	if (tag != want) {
		*r = save;
		return -1;
	}
	return 0;
}

int reader_find_tlv(const struct reader *r, uint32_t tag, struct reader *value)
{
	struct reader cur = *r;

	while (reader_left(&cur) > 0) {
		uint32_t t;
		struct reader v;

		if (reader_get_tlv(&cur, &t, &v) != 0)
			return -1;
		if (t == tag) {
			*value = v;
			return 0;
		}
	}
	return -1;
}
