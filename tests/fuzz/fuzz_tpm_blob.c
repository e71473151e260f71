/* libFuzzer: tpm_blob_pubkey, the public half of a key blob read from the
 * TPM token's state directory (drivers/tpm/tpm_blob.c). The seeds are the
 * four key kinds the layer makes and a sealed object, made on swtpm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpm_esys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tpm_blob blob;
	struct tpm_pubkey pk;

	if (size > sizeof(blob.pub))
		return 0;
	memcpy(blob.pub, data, size);
	blob.pub_len = size;
	if (tpm_blob_pubkey(&blob, &pk) < 0)
		return 0;
	/* What the driver relies on when it says yes. */
	if (pk.kind == TPM_KEY_RSA) {
		if ((pk.bits != 2048 && pk.bits != 3072) ||
		    pk.n_len != pk.bits / 8 || !(pk.e & 1))
			abort();
	} else if (pk.kind == TPM_KEY_EC) {
		if ((pk.bits != 256 && pk.bits != 384) ||
		    pk.coord_len != pk.bits / 8)
			abort();
	} else {
		abort();
	}
	return 0;
}
