#include "buf.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void buf_free(struct buf *b)
{
	if (b->data && b->secret)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	if (b->data && b->secret)
		explicit_bzero(b->data, b->len);
	b->len = 0;
	b->failed = false;
}

static bool buf_grow(struct buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *n;

	if (b->failed)
		return false;
	if (__builtin_add_overflow(b->len, extra, &need) ||
	    (b->max && need > b->max)) {
		b->failed = true;
		return false;
	}
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (__builtin_mul_overflow(ncap, 2, &ncap)) {
			ncap = need;
			break;
		}
	}
	if (b->max && ncap > b->max)
		ncap = b->max;
	if (b->secret) {
		/* realloc could leave a copy of the secret behind. */
		n = malloc(ncap);
		if (n && b->data) {
			memcpy(n, b->data, b->len);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
	} else {
		n = realloc(b->data, ncap);
	}
	if (!n) {
		b->failed = true;
		return false;
	}
	b->data = n;
	b->cap = ncap;
	return true;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
	uint8_t *p;

	if (!buf_grow(b, n))
		return NULL;
	/* An empty buffer asked for 0 bytes has no data: NULL + 0 is UB. */
	p = b->data ? b->data + b->len : NULL;
	b->len += n;
	return p;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	uint8_t *d = buf_reserve(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void buf_add_u8(struct buf *b, uint8_t v)
{
	buf_add(b, &v, 1);
}

void buf_add_u16be(struct buf *b, uint16_t v)
{
	uint8_t t[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	buf_add(b, t, 2);
}

void buf_add_u32be(struct buf *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	buf_add(b, t, 4);
}

void buf_add_u64be(struct buf *b, uint64_t v)
{
	buf_add_u32be(b, (uint32_t)(v >> 32));
	buf_add_u32be(b, (uint32_t)v);
}

void buf_add_tlv_header(struct buf *b, uint32_t tag, size_t len)
{
	if (tag > 0xffff)
		buf_add_u8(b, (uint8_t)(tag >> 16));
	if (tag > 0xff)
		buf_add_u8(b, (uint8_t)(tag >> 8));
	buf_add_u8(b, (uint8_t)tag);
	if (len < 0x80) {
		buf_add_u8(b, (uint8_t)len);
	} else if (len <= 0xff) {
		buf_add_u8(b, 0x81);
		buf_add_u8(b, (uint8_t)len);
	} else if (len <= 0xffff) {
		buf_add_u8(b, 0x82);
		buf_add_u16be(b, (uint16_t)len);
	} else if (len <= 0xffffff) {
		buf_add_u8(b, 0x83);
		buf_add_u8(b, (uint8_t)(len >> 16));
		buf_add_u16be(b, (uint16_t)len);
	} else {
		b->failed = true;
	}
}

void buf_add_tlv(struct buf *b, uint32_t tag, const void *p, size_t n)
{
	buf_add_tlv_header(b, tag, n);
	buf_add(b, p, n);
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
	uint8_t *d = b->data;

	*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
