/* libFuzzer: card responses. The input is split into R-APDUs (two-byte
 * length, then bytes); a transport hands them out one per command, so
 * whole exchanges (chaining, 61xx, 6Cxx, the extended-length probe, mgm
 * auth, GENERAL AUTHENTICATE, metadata) run on hostile answers. The same
 * bytes also go straight to the response parsers. */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "error.h"
#include "piv.h"
#include "yubikey.h"

struct feed {
	const uint8_t *p;
	size_t len;
};

static int fuzz_transmit(void *ctx, const uint8_t *c, size_t cl, uint8_t *r,
			 size_t *rl)
{
	struct feed *f = ctx;
	size_t n;

	if (f->len < 2)
		return TK_ERR_REMOVED;
	n = (size_t)f->p[0] << 8 | f->p[1];
	f->p += 2;
	f->len -= 2;
	if (n > f->len)
		n = f->len;
	if (n > *rl)
		n = *rl;
	memcpy(r, f->p, n);
	f->p += n;
	f->len -= n;
	*rl = n;
	return 0;
}

static void parsers(const uint8_t *data, size_t size)
{
	static const uint8_t algs[] = { PIV_ALG_RSA1024, PIV_ALG_RSA2048,
					PIV_ALG_ECCP256, PIV_ALG_ECCP384,
					PIV_ALG_ED25519, PIV_ALG_X25519 };
	struct piv_app_info info;
	struct yk_metadata md;

	(void)piv_app_info_parse(data, size, &info);
	(void)yk_metadata_parse(data, size, &md);
	for (size_t i = 0; i < sizeof(algs); i++) {
		EVP_PKEY *pk = NULL;

		if (piv_pubkey_parse(algs[i], data, size, &pk) == 0)
			EVP_PKEY_free(pk);
	}
}

static void exchanges(struct piv_card *c)
{
	static const uint8_t key[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t in[256] = { 0 }, res[512];
	size_t len;
	struct buf out;
	struct yk_metadata md;
	struct yk_version v;
	EVP_PKEY *pk = NULL;
	uint32_t serial;
	int tries;

	buf_init(&out, 0);
	(void)piv_select(c, NULL);
	(void)yk_get_version(c, &v);
	(void)yk_get_serial(c, &serial);
	(void)piv_get_data(c, PIV_OBJ_AUTH, &out);
	(void)piv_get_data(c, PIV_OBJ_DISCOVERY, &out);
	(void)piv_pin_status(c, PIV_REF_PIN, &tries);
	(void)piv_verify(c, PIV_REF_PIN, (const uint8_t *)"123456", 6, &tries);
	(void)yk_get_metadata(c, 0x9a, &md);
	len = sizeof(res);
	(void)piv_sign(c, PIV_ALG_ECCP256, 0x9a, in, 32, res, &len);
	len = sizeof(res);
	(void)piv_sign(c, PIV_ALG_RSA2048, 0x9a, in, 256, res, &len);
	len = sizeof(res);
	(void)piv_ecdh(c, PIV_ALG_X25519, 0x9d, in, 32, res, &len);
	(void)piv_mgm_auth(c, PIV_ALG_3DES, key, sizeof(key));
	if (piv_generate(c, 0x9a, PIV_ALG_ECCP256, 0, 0, &pk) == 0)
		EVP_PKEY_free(pk);
	(void)yk_attest(c, 0x9a, &out);
	(void)piv_put_data(c, PIV_OBJ_AUTH, in, sizeof(in));
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed f = { data, size };
	struct piv_transport t = { fuzz_transmit, &f };
	struct piv_card *c;

	parsers(data, size);
	/* Run twice: extended length unknown (probe) and refused. */
	for (int mode = 0; mode < 2; mode++) {
		f.p = data;
		f.len = size;
		if (piv_card_new(&t, &c) != 0)
			return 0;
		piv_card_set_extended(c, mode ? PIV_EXT_NO : PIV_EXT_UNKNOWN);
		exchanges(c);
		piv_card_free(&c);
	}
	return 0;
}
