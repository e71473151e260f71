#include "error.h"

const char *tk_strerror(int err)
{
	switch (err) {
	case TK_OK:
		return "success";
	case TK_ERR_NOMEM:
		return "out of memory";
	case TK_ERR_ARG:
		return "invalid argument";
	case TK_ERR_INVALID:
		return "malformed data";
	case TK_ERR_TRANSPORT:
		return "transport failure";
	case TK_ERR_REMOVED:
		return "card removed";
	case TK_ERR_RESET:
		return "card reset";
	case TK_ERR_NOT_FOUND:
		return "not found";
	case TK_ERR_PIN_INCORRECT:
		return "PIN incorrect";
	case TK_ERR_PIN_LOCKED:
		return "PIN blocked";
	case TK_ERR_AUTH_REQUIRED:
		return "authentication required";
	case TK_ERR_UNSUPPORTED:
		return "not supported";
	case TK_ERR_DENIED:
		return "conditions of use not satisfied";
	case TK_ERR_DEVICE:
		return "device error";
	case TK_ERR_TOO_LARGE:
		return "too large";
	case TK_ERR_CRYPTO:
		return "cryptographic operation failed";
	case TK_ERR_BUSY:
		return "busy";
	case TK_ERR_IO:
		return "I/O error";
	case TK_ERR_WOULD_BLOCK:
		return "would block";
	case TK_ERR_SIGNATURE:
		return "signature invalid";
	case TK_ERR_NOT_YET:
		return "not yet";
	}
	return "unknown error";
}
