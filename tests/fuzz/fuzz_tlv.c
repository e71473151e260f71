/* libFuzzer: common/reader's BER-TLV walking, nested a few levels deep. */
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

static void walk(struct reader r, int depth)
{
	uint32_t tag;
	struct reader v, found;

	(void)reader_find_tlv(&r, 0x53, &found);
	while (reader_get_tlv(&r, &tag, &v) == 0) {
		/* Constructed tags (bit 6 of the first byte) nest further. */
		uint32_t first = tag > 0xffff ? tag >> 16
				 : tag > 0xff ? tag >> 8
					      : tag;

		if (depth < 8 && (first & 0x20))
			walk(v, depth + 1);
		(void)reader_expect_tlv(&v, 0x80, &found);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = reader_init(data, size);
	uint64_t u64;
	uint8_t u8;

	walk(r, 0);
	(void)reader_get_u64be(&r, &u64);
	while (reader_get_u8(&r, &u8) == 0)
		;
	return 0;
}
