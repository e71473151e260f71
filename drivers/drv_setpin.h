/* C_SetPIN's prefix convention (tokend-pkcs11.h), for drivers of tokens
 * with a PUK: "puk:<PUK>" changes the PUK, "unblock:<PUK>" unblocks and
 * sets the PIN, anything else is the PIN changing the PIN. */
#ifndef TOKEND_DRIVERS_SETPIN_H
#define TOKEND_DRIVERS_SETPIN_H

#include "driver.h"

/* A setpin_parse op (driver.h). */
int drv_setpin_prefixes(struct tk_token *tok, const uint8_t *old,
			size_t old_len, struct tk_setpin *q);

#endif
