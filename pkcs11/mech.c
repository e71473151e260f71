/* The mechanism table: what each mechanism does on the host (hash, padding)
 * and which token capabilities it needs, and the hash / MGF lookups. */
#include <string.h>

#include "internal.h"

#define SV (CKF_SIGN | CKF_VERIFY)
#define ED (CKF_ENCRYPT | CKF_DECRYPT)

static const struct mech mechs[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, PAD_KEYGEN, KF_RSA,
	  CKF_GENERATE_KEY_PAIR },
	{ CKM_RSA_PKCS, NULL, PAD_PKCS1, KF_RSA, SV | ED },
	{ CKM_RSA_X_509, NULL, PAD_X509, KF_RSA, SV | ED },
	{ CKM_SHA1_RSA_PKCS, "SHA1", PAD_PKCS1, KF_RSA, SV },
	{ CKM_RSA_PKCS_OAEP, NULL, PAD_OAEP, KF_RSA, ED },
	{ CKM_RSA_PKCS_PSS, NULL, PAD_PSS, KF_RSA, SV },
	{ CKM_SHA1_RSA_PKCS_PSS, "SHA1", PAD_PSS, KF_RSA, SV },
	{ CKM_SHA256_RSA_PKCS, "SHA256", PAD_PKCS1, KF_RSA, SV },
	{ CKM_SHA384_RSA_PKCS, "SHA384", PAD_PKCS1, KF_RSA, SV },
	{ CKM_SHA512_RSA_PKCS, "SHA512", PAD_PKCS1, KF_RSA, SV },
	{ CKM_SHA256_RSA_PKCS_PSS, "SHA256", PAD_PSS, KF_RSA, SV },
	{ CKM_SHA384_RSA_PKCS_PSS, "SHA384", PAD_PSS, KF_RSA, SV },
	{ CKM_SHA512_RSA_PKCS_PSS, "SHA512", PAD_PSS, KF_RSA, SV },
	{ CKM_SHA224_RSA_PKCS, "SHA224", PAD_PKCS1, KF_RSA, SV },
	{ CKM_SHA224_RSA_PKCS_PSS, "SHA224", PAD_PSS, KF_RSA, SV },
	{ CKM_SHA_1, "SHA1", PAD_DIGEST, KF_NONE, CKF_DIGEST },
	{ CKM_SHA256, "SHA256", PAD_DIGEST, KF_NONE, CKF_DIGEST },
	{ CKM_SHA224, "SHA224", PAD_DIGEST, KF_NONE, CKF_DIGEST },
	{ CKM_SHA384, "SHA384", PAD_DIGEST, KF_NONE, CKF_DIGEST },
	{ CKM_SHA512, "SHA512", PAD_DIGEST, KF_NONE, CKF_DIGEST },
	{ CKM_EC_KEY_PAIR_GEN, NULL, PAD_KEYGEN, KF_EC, CKF_GENERATE_KEY_PAIR },
	{ CKM_ECDSA, NULL, PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDSA_SHA1, "SHA1", PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDSA_SHA224, "SHA224", PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDSA_SHA256, "SHA256", PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDSA_SHA384, "SHA384", PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDSA_SHA512, "SHA512", PAD_ECDSA, KF_EC, SV },
	{ CKM_ECDH1_DERIVE, NULL, PAD_ECDH, KF_EC | KF_X, CKF_DERIVE },
	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, PAD_KEYGEN, KF_ED,
	  CKF_GENERATE_KEY_PAIR },
	{ CKM_EC_MONTGOMERY_KEY_PAIR_GEN, NULL, PAD_KEYGEN, KF_X,
	  CKF_GENERATE_KEY_PAIR },
	{ CKM_EDDSA, NULL, PAD_EDDSA, KF_ED, SV },
};

#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

const struct mech *mech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

const struct mech *mech_next(const struct mech *m)
{
	if (!m)
		return &mechs[0];
	return (m + 1 < mechs + NMECHS) ? m + 1 : NULL;
}

static const struct {
	enum tk_alg alg;
	uint32_t cap;
	enum key_family family;
	CK_ULONG bits;
} algs[] = {
	{ TK_ALG_RSA1024, TK_CAP_RSA1024, KF_RSA, 1024 },
	{ TK_ALG_RSA2048, TK_CAP_RSA2048, KF_RSA, 2048 },
	{ TK_ALG_RSA3072, TK_CAP_RSA3072, KF_RSA, 3072 },
	{ TK_ALG_RSA4096, TK_CAP_RSA4096, KF_RSA, 4096 },
	{ TK_ALG_P256, TK_CAP_P256, KF_EC, 256 },
	{ TK_ALG_P384, TK_CAP_P384, KF_EC, 384 },
	{ TK_ALG_ED25519, TK_CAP_ED25519, KF_ED, 255 },
	{ TK_ALG_X25519, TK_CAP_X25519, KF_X, 255 },
};

enum key_family alg_family(enum tk_alg alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return algs[i].family;
	return KF_NONE;
}

size_t alg_field_len(enum tk_alg alg)
{
	switch (alg) {
	case TK_ALG_P256:
	case TK_ALG_ED25519:
	case TK_ALG_X25519:
		return 32;
	case TK_ALG_P384:
		return 48;
	default:
		return 0;
	}
}

bool mech_offered(const struct mech *m, uint32_t caps, CK_MECHANISM_INFO *info)
{
	CK_ULONG lo = 0, hi = 0;
	bool any = false;

	memset(info, 0, sizeof(*info));
	if (m->pad == PAD_DIGEST) {
		info->flags = CKF_DIGEST;
		return true;
	}
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (!(m->families & algs[i].family) || !(caps & algs[i].cap))
			continue;
		if (!any || algs[i].bits < lo)
			lo = algs[i].bits;
		if (!any || algs[i].bits > hi)
			hi = algs[i].bits;
		any = true;
	}
	if (!any || (m->pad == PAD_KEYGEN && !(caps & TK_CAP_GENERATE)))
		return false;
	info->ulMinKeySize = lo;
	info->ulMaxKeySize = hi;
	info->flags = CKF_HW | m->flags;
	if (m->families & (KF_EC | KF_ED | KF_X))
		info->flags |=
		    CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
	return true;
}

const struct tk_mech *slot_mech_list(struct fe_slot *slot, size_t *n)
{
	*n = slot->mechs ? slot->nmechs : 0;
	return slot->mechs;
}

bool mech_lookup(const struct tk_mech *list, size_t n, uint32_t caps,
		 CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info,
		 const struct tk_mech **drv)
{
	const struct mech *m;

	if (drv)
		*drv = NULL;
	if (!list)
		return (m = mech_find(type)) && mech_offered(m, caps, info);
	for (size_t i = 0; i < n; i++) {
		if (list[i].type != type)
			continue;
		/* A raw entry is padded here: the table must know it. */
		if (list[i].mode == TK_MECH_RAW && !mech_find(type))
			return false;
		info->ulMinKeySize = list[i].min_bits;
		info->ulMaxKeySize = list[i].max_bits;
		info->flags = list[i].flags;
		if (drv)
			*drv = &list[i];
		return true;
	}
	return false;
}

bool slot_mech(struct fe_slot *slot, CK_MECHANISM_TYPE type,
	       CK_MECHANISM_INFO *info, const struct tk_mech **drv)
{
	if (drv)
		*drv = NULL;
	return slot->tok && mech_lookup(slot->mechs, slot->nmechs,
					slot->info.caps, type, info, drv);
}

static const struct {
	CK_MECHANISM_TYPE ckm;
	CK_ULONG mgf;
	const char *name;
} hashes[] = {
	{ CKM_SHA_1, CKG_MGF1_SHA1, "SHA1" },
	{ CKM_SHA224, CKG_MGF1_SHA224, "SHA224" },
	{ CKM_SHA256, CKG_MGF1_SHA256, "SHA256" },
	{ CKM_SHA384, CKG_MGF1_SHA384, "SHA384" },
	{ CKM_SHA512, CKG_MGF1_SHA512, "SHA512" },
};

const EVP_MD *md_from_ckm(CK_MECHANISM_TYPE hash)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].ckm == hash)
			return EVP_get_digestbyname(hashes[i].name);
	return NULL;
}

const EVP_MD *md_from_mgf(CK_ULONG mgf)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].mgf == mgf)
			return EVP_get_digestbyname(hashes[i].name);
	return NULL;
}
