/* libFuzzer: the TPM token's state-file parser, as tpm_store_load() runs
 * it on every file of the state directory; what parses encodes and parses
 * again to the same record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpm_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm_rec a, b;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (tpm_rec_parse(data, size, &a) != 0)
		return 0;
	if (tpm_rec_encode(&a, &enc, &len) == 0) {
		if (tpm_rec_parse(enc, len, &b) != 0 || b.kind != a.kind ||
		    b.len != a.len || b.id.len != a.id.len ||
		    (a.len && memcmp(a.value, b.value, a.len) != 0))
			abort();
		tpm_rec_clear(&b);
		free(enc);
	}
	tpm_rec_clear(&a);
	return 0;
}
