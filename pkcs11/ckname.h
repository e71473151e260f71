/* Names of PKCS#11 return values, mechanisms, attributes, classes and key
 * types for logs, the audit trail and traces: "CKR_PIN_INCORRECT", "CKM_ECDSA".
 * Unknown values are formatted as hex into the caller's buffer. */
#ifndef TOKEND_CKNAME_H
#define TOKEND_CKNAME_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#define CKNAME_BUF 32

const char *ckname_rv(CK_RV rv, char buf[CKNAME_BUF]);
const char *ckname_mech(CK_MECHANISM_TYPE mech, char buf[CKNAME_BUF]);
const char *ckname_user(CK_USER_TYPE user, char buf[CKNAME_BUF]);
const char *ckname_attr(CK_ATTRIBUTE_TYPE type, char buf[CKNAME_BUF]);
const char *ckname_class(CK_OBJECT_CLASS cls, char buf[CKNAME_BUF]);
const char *ckname_keytype(CK_KEY_TYPE kt, char buf[CKNAME_BUF]);

#endif
