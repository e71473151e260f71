#include "rpc_mech.h"

#include <string.h>

#include "error.h"

typedef int (*param_dec)(struct reader *r, struct rpc_arena *a, void **p,
			 CK_ULONG *len);
typedef int (*param_enc)(struct buf *b, const void *p, CK_ULONG len);

/* Copies a wire byte array into the arena; NULL stays NULL. */
static int get_bytes(struct reader *r, struct rpc_arena *a, CK_BYTE_PTR *p,
		     CK_ULONG *len)
{
	const uint8_t *src;
	size_t n;

	if (rpc_get_array(r, &src, &n))
		return TK_ERR_INVALID;
	*len = n;
	*p = NULL;
	if (!src)
		return 0;
	/* a non-NULL empty array stays non-NULL */
	*p = rpc_arena_alloc(a, n ? n : 1);
	if (!*p)
		return TK_ERR_TOO_LARGE;
	if (n)
		memcpy(*p, src, n);
	return 0;
}

static void *new_param(struct rpc_arena *a, size_t size, void **p,
		       CK_ULONG *len)
{
	*p = rpc_arena_alloc(a, size);
	*len = size;
	return *p;
}

static int pss_dec(struct reader *r, struct rpc_arena *a, void **p,
		   CK_ULONG *len)
{
	CK_RSA_PKCS_PSS_PARAMS *v = new_param(a, sizeof(*v), p, len);

	if (!v)
		return TK_ERR_TOO_LARGE;
	if (rpc_get_ulong(r, &v->hashAlg) || rpc_get_ulong(r, &v->mgf) ||
	    rpc_get_ulong(r, &v->sLen))
		return TK_ERR_INVALID;
	return 0;
}

static int pss_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const CK_RSA_PKCS_PSS_PARAMS *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	rpc_put_ulong(b, v->hashAlg);
	rpc_put_ulong(b, v->mgf);
	rpc_put_ulong(b, v->sLen);
	return 0;
}

static int oaep_dec(struct reader *r, struct rpc_arena *a, void **p,
		    CK_ULONG *len)
{
	CK_RSA_PKCS_OAEP_PARAMS *v = new_param(a, sizeof(*v), p, len);

	if (!v)
		return TK_ERR_TOO_LARGE;
	if (rpc_get_ulong(r, &v->hashAlg) || rpc_get_ulong(r, &v->mgf) ||
	    rpc_get_ulong(r, &v->source))
		return TK_ERR_INVALID;
	return get_bytes(r, a, (CK_BYTE_PTR *)&v->pSourceData,
			 &v->ulSourceDataLen);
}

static int oaep_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const CK_RSA_PKCS_OAEP_PARAMS *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	rpc_put_ulong(b, v->hashAlg);
	rpc_put_ulong(b, v->mgf);
	rpc_put_ulong(b, v->source);
	rpc_put_array(b, v->pSourceData, v->ulSourceDataLen);
	return 0;
}

static int ecdh_dec(struct reader *r, struct rpc_arena *a, void **p,
		    CK_ULONG *len)
{
	CK_ECDH1_DERIVE_PARAMS *v = new_param(a, sizeof(*v), p, len);
	int rc;

	if (!v)
		return TK_ERR_TOO_LARGE;
	if (rpc_get_ulong(r, &v->kdf))
		return TK_ERR_INVALID;
	rc = get_bytes(r, a, &v->pSharedData, &v->ulSharedDataLen);
	if (!rc)
		rc = get_bytes(r, a, &v->pPublicData, &v->ulPublicDataLen);
	return rc;
}

static int ecdh_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const CK_ECDH1_DERIVE_PARAMS *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	rpc_put_ulong(b, v->kdf);
	rpc_put_array(b, v->pSharedData, v->ulSharedDataLen);
	rpc_put_array(b, v->pPublicData, v->ulPublicDataLen);
	return 0;
}

static int eddsa_dec(struct reader *r, struct rpc_arena *a, void **p,
		     CK_ULONG *len)
{
	struct rpc_eddsa_params *v = new_param(a, sizeof(*v), p, len);
	uint8_t flag;

	if (!v)
		return TK_ERR_TOO_LARGE;
	if (reader_get_u8(r, &flag))
		return TK_ERR_INVALID;
	v->phFlag = flag ? CK_TRUE : CK_FALSE;
	return get_bytes(r, a, &v->pContextData, &v->ulContextDataLen);
}

static int eddsa_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const struct rpc_eddsa_params *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	buf_add_u8(b, v->phFlag ? 1 : 0);
	rpc_put_array(b, v->pContextData, v->ulContextDataLen);
	return 0;
}

static int fixed_dec(struct reader *r, struct rpc_arena *a, void **p,
		     CK_ULONG *len, size_t want)
{
	CK_BYTE_PTR v;
	int rc = get_bytes(r, a, &v, len);

	if (rc)
		return rc;
	if (!v || *len != want)
		return TK_ERR_INVALID;
	*p = v;
	return 0;
}

static int aes_iv_dec(struct reader *r, struct rpc_arena *a, void **p,
		      CK_ULONG *len)
{
	return fixed_dec(r, a, p, len, 16);
}

static int des_iv_dec(struct reader *r, struct rpc_arena *a, void **p,
		      CK_ULONG *len)
{
	return fixed_dec(r, a, p, len, 8);
}

static int aes_iv_enc(struct buf *b, const void *p, CK_ULONG len)
{
	if (!p || len != 16)
		return TK_ERR_ARG;
	rpc_put_array(b, p, len);
	return 0;
}

static int des_iv_enc(struct buf *b, const void *p, CK_ULONG len)
{
	if (!p || len != 8)
		return TK_ERR_ARG;
	rpc_put_array(b, p, len);
	return 0;
}

static int ctr_dec(struct reader *r, struct rpc_arena *a, void **p,
		   CK_ULONG *len)
{
	CK_AES_CTR_PARAMS *v = new_param(a, sizeof(*v), p, len);
	const uint8_t *cb;
	size_t n;

	if (!v)
		return TK_ERR_TOO_LARGE;
	if (rpc_get_ulong(r, &v->ulCounterBits) || rpc_get_array(r, &cb, &n) ||
	    !cb || n != sizeof(v->cb))
		return TK_ERR_INVALID;
	memcpy(v->cb, cb, n);
	return 0;
}

static int ctr_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const CK_AES_CTR_PARAMS *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	rpc_put_ulong(b, v->ulCounterBits);
	rpc_put_array(b, v->cb, sizeof(v->cb));
	return 0;
}

static int gcm_dec(struct reader *r, struct rpc_arena *a, void **p,
		   CK_ULONG *len)
{
	CK_GCM_PARAMS *v = new_param(a, sizeof(*v), p, len);
	int rc;

	if (!v)
		return TK_ERR_TOO_LARGE;
	rc = get_bytes(r, a, &v->pIv, &v->ulIvLen);
	if (!rc && rpc_get_ulong(r, &v->ulIvBits))
		rc = TK_ERR_INVALID;
	if (!rc)
		rc = get_bytes(r, a, &v->pAAD, &v->ulAADLen);
	if (!rc && rpc_get_ulong(r, &v->ulTagBits))
		rc = TK_ERR_INVALID;
	return rc;
}

static int gcm_enc(struct buf *b, const void *p, CK_ULONG len)
{
	const CK_GCM_PARAMS *v = p;

	if (!p || len != sizeof(*v))
		return TK_ERR_ARG;
	rpc_put_array(b, v->pIv, v->ulIvLen);
	rpc_put_ulong(b, v->ulIvBits);
	rpc_put_array(b, v->pAAD, v->ulAADLen);
	rpc_put_ulong(b, v->ulTagBits);
	return 0;
}

static int mac_dec(struct reader *r, struct rpc_arena *a, void **p,
		   CK_ULONG *len)
{
	CK_ULONG *v = new_param(a, sizeof(*v), p, len);

	if (!v)
		return TK_ERR_TOO_LARGE;
	return rpc_get_ulong(r, v) ? TK_ERR_INVALID : 0;
}

static int mac_enc(struct buf *b, const void *p, CK_ULONG len)
{
	if (!p || len != sizeof(CK_ULONG))
		return TK_ERR_ARG;
	rpc_put_ulong(b, *(const CK_ULONG *)p);
	return 0;
}

static int dh_dec(struct reader *r, struct rpc_arena *a, void **p,
		  CK_ULONG *len)
{
	CK_BYTE_PTR v;
	int rc = get_bytes(r, a, &v, len);

	if (rc)
		return rc;
	if (!v || !*len)
		return TK_ERR_INVALID;
	*p = v;
	return 0;
}

static int dh_enc(struct buf *b, const void *p, CK_ULONG len)
{
	if (!p || !len)
		return TK_ERR_ARG;
	rpc_put_array(b, p, len);
	return 0;
}

static int raw_dec(struct reader *r, struct rpc_arena *a, void **p,
		   CK_ULONG *len)
{
	CK_BYTE_PTR v = NULL;
	int rc = get_bytes(r, a, &v, len);

	*p = v;
	return rc;
}

static int raw_enc(struct buf *b, const void *p, CK_ULONG len)
{
	rpc_put_array(b, p, len);
	return 0;
}

struct param_codec {
	param_dec dec;
	param_enc enc;
};

static const struct param_codec PSS = { pss_dec, pss_enc };
static const struct param_codec OAEP = { oaep_dec, oaep_enc };
static const struct param_codec ECDH = { ecdh_dec, ecdh_enc };
static const struct param_codec EDDSA = { eddsa_dec, eddsa_enc };
static const struct param_codec AES_IV = { aes_iv_dec, aes_iv_enc };
static const struct param_codec DES_IV = { des_iv_dec, des_iv_enc };
static const struct param_codec CTR = { ctr_dec, ctr_enc };
static const struct param_codec GCM = { gcm_dec, gcm_enc };
static const struct param_codec MAC = { mac_dec, mac_enc };
static const struct param_codec DH = { dh_dec, dh_enc };
static const struct param_codec RAW = { raw_dec, raw_enc };

static const struct {
	CK_MECHANISM_TYPE type;
	const struct param_codec *codec;
} param_codecs[] = {
	{ CKM_RSA_PKCS_PSS, &PSS },
	{ CKM_SHA1_RSA_PKCS_PSS, &PSS },
	{ CKM_SHA224_RSA_PKCS_PSS, &PSS },
	{ CKM_SHA256_RSA_PKCS_PSS, &PSS },
	{ CKM_SHA384_RSA_PKCS_PSS, &PSS },
	{ CKM_SHA512_RSA_PKCS_PSS, &PSS },
	{ CKM_RSA_PKCS_OAEP, &OAEP },
	{ CKM_ECDH1_DERIVE, &ECDH },
	{ CKM_EDDSA, &EDDSA },
	{ CKM_AES_CBC, &AES_IV },
	{ CKM_AES_CBC_PAD, &AES_IV },
	{ CKM_AES_OFB, &AES_IV },
	{ CKM_AES_CFB1, &AES_IV },
	{ CKM_AES_CFB8, &AES_IV },
	{ CKM_AES_CFB64, &AES_IV },
	{ CKM_AES_CFB128, &AES_IV },
	{ CKM_AES_CTS, &AES_IV },
	{ CKM_AES_CTR, &CTR },
	{ CKM_AES_GCM, &GCM },
	{ CKM_DES_CBC, &DES_IV },
	{ CKM_DES_CBC_PAD, &DES_IV },
	{ CKM_DES3_CBC, &DES_IV },
	{ CKM_DES3_CBC_PAD, &DES_IV },
	{ CKM_DES_CFB8, &DES_IV },
	{ CKM_DES_CFB64, &DES_IV },
	{ CKM_DES_OFB64, &DES_IV },
	{ CKM_SHA_1_HMAC_GENERAL, &MAC },
	{ CKM_SHA224_HMAC_GENERAL, &MAC },
	{ CKM_SHA256_HMAC_GENERAL, &MAC },
	{ CKM_SHA384_HMAC_GENERAL, &MAC },
	{ CKM_SHA512_HMAC_GENERAL, &MAC },
	{ CKM_SHA512_224_HMAC_GENERAL, &MAC },
	{ CKM_SHA512_256_HMAC_GENERAL, &MAC },
	{ CKM_AES_MAC_GENERAL, &MAC },
	{ CKM_AES_CMAC_GENERAL, &MAC },
	{ CKM_DES3_MAC_GENERAL, &MAC },
	{ CKM_DES3_CMAC_GENERAL, &MAC },
	{ CKM_DH_PKCS_DERIVE, &DH },
};

static const struct param_codec *codec_for(CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < sizeof(param_codecs) / sizeof(param_codecs[0]); i++)
		if (param_codecs[i].type == type)
			return param_codecs[i].codec;
	return &RAW;
}

/* p11-kit's list of mechanisms sent without a parameter (its IBM and
 * PKCS #11 3.2 entries aside, which we do not serve). */
static const CK_MECHANISM_TYPE no_params[] = {
	CKM_RSA_PKCS_KEY_PAIR_GEN,
	CKM_RSA_X9_31_KEY_PAIR_GEN,
	CKM_RSA_PKCS,
	CKM_RSA_9796,
	CKM_RSA_X_509,
	CKM_RSA_X9_31,
	CKM_MD2_RSA_PKCS,
	CKM_MD5_RSA_PKCS,
	CKM_SHA1_RSA_PKCS,
	CKM_SHA224_RSA_PKCS,
	CKM_SHA256_RSA_PKCS,
	CKM_SHA384_RSA_PKCS,
	CKM_SHA512_RSA_PKCS,
	CKM_RIPEMD128_RSA_PKCS,
	CKM_RIPEMD160_RSA_PKCS,
	CKM_SHA1_RSA_X9_31,
	CKM_DSA_KEY_PAIR_GEN,
	CKM_DSA_PARAMETER_GEN,
	CKM_DSA,
	CKM_DSA_SHA1,
	CKM_FORTEZZA_TIMESTAMP,
	CKM_EC_KEY_PAIR_GEN,
	CKM_ECDSA,
	CKM_ECDSA_SHA1,
	CKM_ECDSA_SHA224,
	CKM_ECDSA_SHA256,
	CKM_ECDSA_SHA384,
	CKM_ECDSA_SHA512,
	CKM_EC_EDWARDS_KEY_PAIR_GEN,
	CKM_DH_PKCS_KEY_PAIR_GEN,
	CKM_DH_PKCS_PARAMETER_GEN,
	CKM_X9_42_DH_KEY_PAIR_GEN,
	CKM_X9_42_DH_PARAMETER_GEN,
	CKM_KEA_KEY_PAIR_GEN,
	CKM_GENERIC_SECRET_KEY_GEN,
	CKM_RC2_KEY_GEN,
	CKM_RC4_KEY_GEN,
	CKM_RC4,
	CKM_RC5_KEY_GEN,
	CKM_AES_KEY_GEN,
	CKM_AES_ECB,
	CKM_AES_MAC,
	CKM_AES_CMAC,
	CKM_DES_KEY_GEN,
	CKM_DES2_KEY_GEN,
	CKM_DES3_KEY_GEN,
	CKM_CDMF_KEY_GEN,
	CKM_CAST_KEY_GEN,
	CKM_CAST3_KEY_GEN,
	CKM_CAST128_KEY_GEN,
	CKM_IDEA_KEY_GEN,
	CKM_SSL3_PRE_MASTER_KEY_GEN,
	CKM_TLS_PRE_MASTER_KEY_GEN,
	CKM_SKIPJACK_KEY_GEN,
	CKM_BATON_KEY_GEN,
	CKM_JUNIPER_KEY_GEN,
	CKM_RC2_ECB,
	CKM_DES_ECB,
	CKM_DES3_ECB,
	CKM_CDMF_ECB,
	CKM_CAST_ECB,
	CKM_CAST3_ECB,
	CKM_CAST128_ECB,
	CKM_RC5_ECB,
	CKM_IDEA_ECB,
	CKM_RC2_MAC,
	CKM_DES_MAC,
	CKM_DES3_MAC,
	CKM_DES3_CMAC,
	CKM_CDMF_MAC,
	CKM_CAST_MAC,
	CKM_CAST3_MAC,
	CKM_RC5_MAC,
	CKM_IDEA_MAC,
	CKM_SSL3_MD5_MAC,
	CKM_SSL3_SHA1_MAC,
	CKM_SKIPJACK_WRAP,
	CKM_BATON_WRAP,
	CKM_JUNIPER_WRAP,
	CKM_MD2,
	CKM_MD2_HMAC,
	CKM_MD5,
	CKM_MD5_HMAC,
	CKM_SHA_1,
	CKM_SHA_1_HMAC,
	CKM_SHA1_KEY_DERIVATION,
	CKM_SHA224,
	CKM_SHA224_HMAC,
	CKM_SHA224_KEY_DERIVATION,
	CKM_SHA256,
	CKM_SHA256_HMAC,
	CKM_SHA256_KEY_DERIVATION,
	CKM_SHA384,
	CKM_SHA384_HMAC,
	CKM_SHA384_KEY_DERIVATION,
	CKM_SHA512,
	CKM_SHA512_HMAC,
	CKM_SHA512_KEY_DERIVATION,
	CKM_SHA512_T,
	CKM_SHA512_T_HMAC,
	CKM_SHA512_T_KEY_DERIVATION,
	CKM_SHA512_224,
	CKM_SHA512_224_HMAC,
	CKM_SHA512_224_KEY_DERIVATION,
	CKM_SHA512_256,
	CKM_SHA512_256_HMAC,
	CKM_SHA512_256_KEY_DERIVATION,
	CKM_FASTHASH,
	CKM_RIPEMD128,
	CKM_RIPEMD128_HMAC,
	CKM_RIPEMD160,
	CKM_RIPEMD160_HMAC,
	CKM_KEY_WRAP_LYNKS,
};

bool rpc_mech_no_params(CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < sizeof(no_params) / sizeof(no_params[0]); i++)
		if (no_params[i] == type)
			return true;
	return false;
}

enum rpc_mech_enc rpc_mech_encoding(uint8_t offered)
{
	return offered >= 2 ? RPC_MECH_ENC_V2 : RPC_MECH_ENC_V0;
}

/* v0: type 0 then anything but a NULL array is the old NULL-mechanism form. */
static bool v0_bare_zero(const struct reader *r)
{
	struct reader peek = *r;
	uint32_t next;

	return reader_get_u32be(&peek, &next) || next != RPC_NULL_ARRAY;
}

int rpc_mech_decode(struct reader *r, struct rpc_dctx *d, struct rpc_mech *out)
{
	enum rpc_mech_enc enc = rpc_mech_encoding(d->offered);
	uint32_t type;
	uint8_t present = 1;

	memset(out, 0, sizeof(*out));
	if (rpc_get_u32(r, &type))
		return TK_ERR_INVALID;
	out->mech.mechanism = type;
	if (type == RPC_MECH_NULL_TYPE ||
	    (enc == RPC_MECH_ENC_V0 && type == 0 && v0_bare_zero(r))) {
		out->is_null = true;
		return 0;
	}
	if (enc == RPC_MECH_ENC_V2) {
		if (rpc_mech_no_params(type))
			return 0;
		if (reader_get_u8(r, &present))
			return TK_ERR_INVALID;
		if (!present)
			return 0;
	}
	return codec_for(type)->dec(r, d->arena, &out->mech.pParameter,
				    &out->mech.ulParameterLen);
}

int rpc_mech_encode(struct buf *b, enum rpc_mech_enc enc,
		    const struct rpc_mech *m)
{
	const CK_MECHANISM *mech = &m->mech;
	bool absent = !mech->pParameter && !mech->ulParameterLen;
	int rc;

	if (m->is_null) {
		buf_add_u32be(b, RPC_MECH_NULL_TYPE);
		return buf_failed(b) ? TK_ERR_NOMEM : 0;
	}
	if (mech->mechanism >= RPC_MECH_NULL_TYPE)
		return TK_ERR_ARG;
	buf_add_u32be(b, (uint32_t)mech->mechanism);
	if (rpc_mech_no_params(mech->mechanism)) {
		if (enc == RPC_MECH_ENC_V0)
			rpc_put_array(b, NULL, 0);
		return buf_failed(b) ? TK_ERR_NOMEM : 0;
	}
	if (enc == RPC_MECH_ENC_V2) {
		buf_add_u8(b, absent ? 0 : 1);
		if (absent)
			return buf_failed(b) ? TK_ERR_NOMEM : 0;
	}
	rc = codec_for(mech->mechanism)
		 ->enc(b, mech->pParameter, mech->ulParameterLen);
	if (rc)
		return rc;
	return buf_failed(b) ? TK_ERR_NOMEM : 0;
}

int rpc_mech_update_encode(struct buf *b, const CK_MECHANISM *m)
{
	if (rpc_mech_no_params(m->mechanism))
		return 0;
	buf_add_u8(b, m->pParameter || m->ulParameterLen ? 1 : 0);
	return buf_failed(b) ? TK_ERR_NOMEM : 0;
}

int rpc_mech_update_decode(struct reader *r, CK_MECHANISM_TYPE type,
			   bool *present)
{
	uint8_t p = 0;

	*present = false;
	if (rpc_mech_no_params(type))
		return 0;
	if (reader_get_u8(r, &p))
		return TK_ERR_INVALID;
	*present = p != 0;
	return 0;
}
