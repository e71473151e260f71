/* Internal error codes shared by every layer: 0 is success, failures are
 * negative. CK_RV appears only at the PKCS#11 boundary (pkcs11/), which maps
 * these in one place. */
#ifndef TOKEND_ERROR_H
#define TOKEND_ERROR_H

enum {
	TK_OK = 0,
	TK_ERR_NOMEM = -1,     /* allocation failed */
	TK_ERR_ARG = -2,       /* bad argument from our own caller */
	TK_ERR_INVALID = -3,   /* malformed input from a peer or a card */
	TK_ERR_TRANSPORT = -4, /* the card or socket could not be reached */
	TK_ERR_REMOVED = -5,   /* the card is gone */
	TK_ERR_RESET = -6,     /* the card was reset by someone else */
	TK_ERR_NOT_FOUND = -7, /* object, key or slot absent */
	TK_ERR_PIN_INCORRECT = -8,
	TK_ERR_PIN_LOCKED = -9,
	TK_ERR_AUTH_REQUIRED = -10, /* security status not satisfied */
	TK_ERR_UNSUPPORTED = -11,   /* card or firmware cannot do it */
	TK_ERR_DENIED = -12,        /* conditions of use not satisfied */
	TK_ERR_DEVICE = -13,    /* the card answered with an unexpected error */
	TK_ERR_TOO_LARGE = -14, /* above a configured limit */
	TK_ERR_CRYPTO = -15,    /* a libcrypto operation failed */
	TK_ERR_BUSY = -16,
	TK_ERR_IO = -17, /* file or socket I/O failed */
	/* A caller that must not wait (the daemon's loop thread) would have
	 * to: run the call where waiting is fine. */
	TK_ERR_WOULD_BLOCK = -18,
	TK_ERR_SIGNATURE = -19, /* verify: the signature or MAC is wrong */
	/* The token takes no PIN yet (tk_token_info.login_not_before_ms):
	 * the caller waits without the token's lock and tries again. */
	TK_ERR_NOT_YET = -20,
};

const char *tk_strerror(int err);

#endif
