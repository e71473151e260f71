/* The one place internal TK_ERR_* codes become CK_RV. */
#include "internal.h"

static const struct {
	int err;
	CK_RV rv;
} rv_table[] = {
	{ TK_OK, CKR_OK },
	{ TK_ERR_NOMEM, CKR_HOST_MEMORY },
	{ TK_ERR_ARG, CKR_ARGUMENTS_BAD },
	{ TK_ERR_INVALID, CKR_DEVICE_ERROR },
	{ TK_ERR_TRANSPORT, CKR_DEVICE_ERROR },
	{ TK_ERR_REMOVED, CKR_DEVICE_REMOVED },
	{ TK_ERR_RESET, CKR_DEVICE_ERROR },
	{ TK_ERR_NOT_FOUND, CKR_OBJECT_HANDLE_INVALID },
	{ TK_ERR_PIN_INCORRECT, CKR_PIN_INCORRECT },
	{ TK_ERR_PIN_LOCKED, CKR_PIN_LOCKED },
	{ TK_ERR_AUTH_REQUIRED, CKR_USER_NOT_LOGGED_IN },
	{ TK_ERR_UNSUPPORTED, CKR_FUNCTION_NOT_SUPPORTED },
	{ TK_ERR_DENIED, CKR_FUNCTION_REJECTED },
	{ TK_ERR_DEVICE, CKR_DEVICE_ERROR },
	{ TK_ERR_TOO_LARGE, CKR_DATA_LEN_RANGE },
	{ TK_ERR_CRYPTO, CKR_FUNCTION_FAILED },
	{ TK_ERR_BUSY, CKR_FUNCTION_FAILED },
	{ TK_ERR_IO, CKR_DEVICE_ERROR },
	{ TK_ERR_WOULD_BLOCK, CKR_TOKEND_WOULD_BLOCK },
	{ TK_ERR_SIGNATURE, CKR_SIGNATURE_INVALID },
	/* (the front end waits and tries again: only a bug lets it out) */
	{ TK_ERR_NOT_YET, CKR_FUNCTION_FAILED },
};

CK_RV rv_from_tk(int err)
{
	for (size_t i = 0; i < sizeof(rv_table) / sizeof(rv_table[0]); i++)
		if (rv_table[i].err == err)
			return rv_table[i].rv;
	return CKR_GENERAL_ERROR;
}

CK_RV rv_from_tk_template(int err)
{
	switch (err) {
	case TK_ERR_NOT_FOUND:
		return CKR_TEMPLATE_INCOMPLETE;
	case TK_ERR_ARG:
		return CKR_ATTRIBUTE_VALUE_INVALID;
	case TK_ERR_INVALID:
		return CKR_TEMPLATE_INCONSISTENT;
	default:
		return rv_from_tk(err);
	}
}

CK_RV rv_from_tk_object(int err, CK_RV not_found, CK_RV denied, CK_RV invalid)
{
	switch (err) {
	case TK_ERR_NOT_FOUND:
		return not_found;
	case TK_ERR_DENIED:
		return denied;
	case TK_ERR_INVALID:
		return invalid;
	default:
		return rv_from_tk_template(err);
	}
}

CK_RV rv_from_tk_digest(int err)
{
	switch (err) {
	case TK_ERR_UNSUPPORTED:
	case TK_ERR_DENIED:
		return CKR_KEY_INDIGESTIBLE;
	case TK_ERR_NOT_FOUND:
		return CKR_KEY_HANDLE_INVALID;
	default:
		return rv_from_tk(err);
	}
}
