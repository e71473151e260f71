/* A bounds-carrying reader over untrusted bytes. Every get fails (returns -1
 * and leaves the reader unchanged) when fewer bytes remain than asked for, so
 * callers never do pointer arithmetic on input themselves. */
#ifndef TOKEND_READER_H
#define TOKEND_READER_H

#include <stddef.h>
#include <stdint.h>

struct reader {
	const uint8_t *p;
	size_t len;
};

static inline struct reader reader_init(const void *p, size_t len)
{
	struct reader r = { (const uint8_t *)p, p ? len : 0 };
	return r;
}

static inline size_t reader_left(const struct reader *r)
{
	return r->len;
}

int reader_get_u8(struct reader *r, uint8_t *v);
int reader_get_u16be(struct reader *r, uint16_t *v);
int reader_get_u32be(struct reader *r, uint32_t *v);
int reader_get_u64be(struct reader *r, uint64_t *v);
/* Copies n bytes out. */
int reader_get_bytes(struct reader *r, void *out, size_t n);
/* Points *out at the next n bytes without copying and advances. */
int reader_get_ref(struct reader *r, size_t n, const uint8_t **out);
/* Splits off the next n bytes as a reader of their own. */
int reader_get_sub(struct reader *r, size_t n, struct reader *sub);
int reader_skip(struct reader *r, size_t n);

/* BER-TLV as used by ISO 7816 / PIV: one- to three-byte tags, definite
 * lengths in short form or long form 81/82/83. Indefinite lengths and lengths
 * past the input are refused. */
int reader_get_tlv(struct reader *r, uint32_t *tag, struct reader *value);
/* Reads one TLV and requires its tag to be want. */
int reader_expect_tlv(struct reader *r, uint32_t want, struct reader *value);
/* Searches the remaining TLVs (one level, not recursing) for tag. The reader
 * itself is not advanced. Returns -1 when absent or when the TLVs are
 * malformed before it is found. */
int reader_find_tlv(const struct reader *r, uint32_t tag, struct reader *value);

#endif
