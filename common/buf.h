/* A growable output buffer with a sticky failure flag: write everything,
 * check buf_failed() once at the end. */
#ifndef TOKEND_BUF_H
#define TOKEND_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0: no cap beyond SIZE_MAX */
	bool failed;
	bool secret; /* wipe on growth and free */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
static inline bool buf_failed(const struct buf *b)
{
	return b->failed;
}

void buf_add(struct buf *b, const void *p, size_t n);
void buf_add_u8(struct buf *b, uint8_t v);
void buf_add_u16be(struct buf *b, uint16_t v);
void buf_add_u32be(struct buf *b, uint32_t v);
void buf_add_u64be(struct buf *b, uint64_t v);
/* BER-TLV: tag of one to three bytes, definite length. */
void buf_add_tlv_header(struct buf *b, uint32_t tag, size_t len);
void buf_add_tlv(struct buf *b, uint32_t tag, const void *p, size_t n);
/* Reserves n bytes and returns a pointer to them (NULL on failure). */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* Hands the bytes to the caller; the buf is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
