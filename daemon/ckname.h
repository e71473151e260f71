/* Names of PKCS#11 return values and mechanisms for logs and the audit
 * trail: "CKR_PIN_INCORRECT", "CKM_ECDSA". Unknown values are formatted as
 * hex into the caller's buffer. */
#ifndef TOKEND_CKNAME_H
#define TOKEND_CKNAME_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#define CKNAME_BUF 32

const char *ckname_rv(CK_RV rv, char buf[CKNAME_BUF]);
const char *ckname_mech(CK_MECHANISM_TYPE mech, char buf[CKNAME_BUF]);
const char *ckname_user(CK_USER_TYPE user, char buf[CKNAME_BUF]);

#endif
