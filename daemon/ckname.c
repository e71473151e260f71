/* PKCS#11 names for logs and the audit trail (a table per kind). */
#include "ckname.h"

#include <stdio.h>

#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN (0x1055UL)
#endif
#ifndef CKM_EC_MONTGOMERY_KEY_PAIR_GEN
#define CKM_EC_MONTGOMERY_KEY_PAIR_GEN (0x1056UL)
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA (0x1057UL)
#endif

struct ckname {
	CK_ULONG value;
	const char *name;
};

#define N(prefix, x)                                                           \
	{                                                                      \
		prefix##x, #prefix #x                                          \
	}

static const struct ckname ckname_rvs[] = {
    N(CKR_, OK),
    N(CKR_, CANCEL),
    N(CKR_, HOST_MEMORY),
    N(CKR_, SLOT_ID_INVALID),
    N(CKR_, GENERAL_ERROR),
    N(CKR_, FUNCTION_FAILED),
    N(CKR_, ARGUMENTS_BAD),
    N(CKR_, NO_EVENT),
    N(CKR_, NEED_TO_CREATE_THREADS),
    N(CKR_, CANT_LOCK),
    N(CKR_, ATTRIBUTE_READ_ONLY),
    N(CKR_, ATTRIBUTE_SENSITIVE),
    N(CKR_, ATTRIBUTE_TYPE_INVALID),
    N(CKR_, ATTRIBUTE_VALUE_INVALID),
    N(CKR_, ACTION_PROHIBITED),
    N(CKR_, DATA_INVALID),
    N(CKR_, DATA_LEN_RANGE),
    N(CKR_, DEVICE_ERROR),
    N(CKR_, DEVICE_MEMORY),
    N(CKR_, DEVICE_REMOVED),
    N(CKR_, ENCRYPTED_DATA_INVALID),
    N(CKR_, ENCRYPTED_DATA_LEN_RANGE),
    N(CKR_, FUNCTION_CANCELED),
    N(CKR_, FUNCTION_NOT_PARALLEL),
    N(CKR_, FUNCTION_NOT_SUPPORTED),
    N(CKR_, KEY_HANDLE_INVALID),
    N(CKR_, KEY_SIZE_RANGE),
    N(CKR_, KEY_TYPE_INCONSISTENT),
    N(CKR_, KEY_NOT_NEEDED),
    N(CKR_, KEY_CHANGED),
    N(CKR_, KEY_NEEDED),
    N(CKR_, KEY_INDIGESTIBLE),
    N(CKR_, KEY_FUNCTION_NOT_PERMITTED),
    N(CKR_, KEY_NOT_WRAPPABLE),
    N(CKR_, KEY_UNEXTRACTABLE),
    N(CKR_, MECHANISM_INVALID),
    N(CKR_, MECHANISM_PARAM_INVALID),
    N(CKR_, OBJECT_HANDLE_INVALID),
    N(CKR_, OPERATION_ACTIVE),
    N(CKR_, OPERATION_NOT_INITIALIZED),
    N(CKR_, PIN_INCORRECT),
    N(CKR_, PIN_INVALID),
    N(CKR_, PIN_LEN_RANGE),
    N(CKR_, PIN_EXPIRED),
    N(CKR_, PIN_LOCKED),
    N(CKR_, SESSION_CLOSED),
    N(CKR_, SESSION_COUNT),
    N(CKR_, SESSION_HANDLE_INVALID),
    N(CKR_, SESSION_PARALLEL_NOT_SUPPORTED),
    N(CKR_, SESSION_READ_ONLY),
    N(CKR_, SESSION_EXISTS),
    N(CKR_, SESSION_READ_ONLY_EXISTS),
    N(CKR_, SESSION_READ_WRITE_SO_EXISTS),
    N(CKR_, SIGNATURE_INVALID),
    N(CKR_, SIGNATURE_LEN_RANGE),
    N(CKR_, TEMPLATE_INCOMPLETE),
    N(CKR_, TEMPLATE_INCONSISTENT),
    N(CKR_, TOKEN_NOT_PRESENT),
    N(CKR_, TOKEN_NOT_RECOGNIZED),
    N(CKR_, TOKEN_WRITE_PROTECTED),
    N(CKR_, UNWRAPPING_KEY_HANDLE_INVALID),
    N(CKR_, UNWRAPPING_KEY_SIZE_RANGE),
    N(CKR_, UNWRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_, USER_ALREADY_LOGGED_IN),
    N(CKR_, USER_NOT_LOGGED_IN),
    N(CKR_, USER_PIN_NOT_INITIALIZED),
    N(CKR_, USER_TYPE_INVALID),
    N(CKR_, USER_ANOTHER_ALREADY_LOGGED_IN),
    N(CKR_, USER_TOO_MANY_TYPES),
    N(CKR_, WRAPPED_KEY_INVALID),
    N(CKR_, WRAPPED_KEY_LEN_RANGE),
    N(CKR_, WRAPPING_KEY_HANDLE_INVALID),
    N(CKR_, WRAPPING_KEY_SIZE_RANGE),
    N(CKR_, WRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_, RANDOM_SEED_NOT_SUPPORTED),
    N(CKR_, RANDOM_NO_RNG),
    N(CKR_, DOMAIN_PARAMS_INVALID),
    N(CKR_, CURVE_NOT_SUPPORTED),
    N(CKR_, BUFFER_TOO_SMALL),
    N(CKR_, SAVED_STATE_INVALID),
    N(CKR_, INFORMATION_SENSITIVE),
    N(CKR_, STATE_UNSAVEABLE),
    N(CKR_, CRYPTOKI_NOT_INITIALIZED),
    N(CKR_, CRYPTOKI_ALREADY_INITIALIZED),
    N(CKR_, MUTEX_BAD),
    N(CKR_, MUTEX_NOT_LOCKED),
    N(CKR_, FUNCTION_REJECTED),
};

static const struct ckname ckname_mechs[] = {
    N(CKM_, RSA_PKCS_KEY_PAIR_GEN),
    N(CKM_, RSA_PKCS),
    N(CKM_, RSA_X_509),
    N(CKM_, SHA1_RSA_PKCS),
    N(CKM_, SHA256_RSA_PKCS),
    N(CKM_, SHA384_RSA_PKCS),
    N(CKM_, SHA512_RSA_PKCS),
    N(CKM_, SHA224_RSA_PKCS),
    N(CKM_, RSA_PKCS_OAEP),
    N(CKM_, RSA_PKCS_PSS),
    N(CKM_, SHA1_RSA_PKCS_PSS),
    N(CKM_, SHA256_RSA_PKCS_PSS),
    N(CKM_, SHA384_RSA_PKCS_PSS),
    N(CKM_, SHA512_RSA_PKCS_PSS),
    N(CKM_, SHA224_RSA_PKCS_PSS),
    N(CKM_, EC_KEY_PAIR_GEN),
    N(CKM_, ECDSA),
    N(CKM_, ECDSA_SHA1),
    N(CKM_, ECDSA_SHA224),
    N(CKM_, ECDSA_SHA256),
    N(CKM_, ECDSA_SHA384),
    N(CKM_, ECDSA_SHA512),
    N(CKM_, ECDH1_DERIVE),
    N(CKM_, ECDH1_COFACTOR_DERIVE),
    N(CKM_, SHA_1),
    N(CKM_, SHA224),
    N(CKM_, SHA256),
    N(CKM_, SHA384),
    N(CKM_, SHA512),
    N(CKM_, SHA1_RSA_X9_31),
    N(CKM_, RSA_X9_31),
    N(CKM_, MD5_RSA_PKCS),
    N(CKM_, AES_KEY_GEN),
    N(CKM_, AES_ECB),
    N(CKM_, AES_CBC),
    N(CKM_, AES_CBC_PAD),
    N(CKM_, AES_GCM),
    N(CKM_, DES3_KEY_GEN),
    N(CKM_, DES3_ECB),
    N(CKM_, DES3_CBC),
    N(CKM_, GENERIC_SECRET_KEY_GEN),
    N(CKM_, SHA256_HMAC),
    N(CKM_, SHA384_HMAC),
    N(CKM_, SHA512_HMAC),
    N(CKM_, SHA_1_HMAC),
    N(CKM_, EC_EDWARDS_KEY_PAIR_GEN),
    N(CKM_, EC_MONTGOMERY_KEY_PAIR_GEN),
    N(CKM_, EDDSA),
};

static const struct ckname ckname_users[] = {
    N(CKU_, SO),
    N(CKU_, USER),
    N(CKU_, CONTEXT_SPECIFIC),
};

static const char *ckname_find(const struct ckname *t, size_t n, CK_ULONG v,
                               const char *prefix, char buf[CKNAME_BUF])
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == v)
			return t[i].name;
	snprintf(buf, CKNAME_BUF, "%s0x%lx", prefix, (unsigned long)v);
	return buf;
}

#define CKNAME_FIND(t, v, prefix, buf)                                         \
	ckname_find(t, sizeof(t) / sizeof(t[0]), v, prefix, buf)

const char *ckname_rv(CK_RV rv, char buf[CKNAME_BUF])
{
	return CKNAME_FIND(ckname_rvs, rv, "CKR_", buf);
}

const char *ckname_mech(CK_MECHANISM_TYPE mech, char buf[CKNAME_BUF])
{
	return CKNAME_FIND(ckname_mechs, mech, "CKM_", buf);
}

const char *ckname_user(CK_USER_TYPE user, char buf[CKNAME_BUF])
{
	return CKNAME_FIND(ckname_users, user, "CKU_", buf);
}
