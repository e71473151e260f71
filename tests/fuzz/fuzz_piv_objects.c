/* libFuzzer: the data-object parsers production uses on GET DATA values. */
#include <stddef.h>
#include <stdint.h>

#include "piv.h"
#include "yubikey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf der;
	struct piv_chuid chuid;
	struct piv_key_history kh;
	struct piv_discovery disc;
	struct yk_metadata md;

	buf_init(&der, 0);
	(void)piv_cert_parse(data, size, &der);
	buf_free(&der);
	(void)piv_chuid_parse(data, size, &chuid);
	(void)piv_key_history_parse(data, size, &kh);
	(void)piv_discovery_parse(data, size, &disc);
	(void)yk_metadata_parse(data, size, &md);
	return 0;
}
