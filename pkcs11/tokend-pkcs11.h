/* tokend-pkcs11.so: what an application needs beyond the PKCS#11 standard.
 *
 * Vendor attributes (on private keys; also accepted in the private-key
 * template of C_GenerateKeyPair and C_CreateObject):
 *   CKA_TOKEND_PIN_POLICY    CK_ULONG, one of TOKEND_PIN_POLICY_*
 *   CKA_TOKEND_TOUCH_POLICY  CK_ULONG, one of TOKEND_TOUCH_POLICY_*
 *   CKA_TOKEND_ATTESTATION   (read only) the DER X.509 attestation certificate
 *                            of a key generated on the token (YubiKey 4.3+),
 *                            signed by the attestation key F9. Read on demand:
 *                            the first read costs one APDU (F9), the answer is
 *                            kept until the key in the slot changes;
 *                            keys not generated on the token have no such
 *                            attribute (CKR_ATTRIBUTE_TYPE_INVALID). It is not
 *                            searchable (a template with it matches nothing).
 *
 * Data objects: C_CreateObject with CKA_CLASS CKO_DATA writes one of the PIV
 * containers CHUID, CCC, Discovery, Key History or Printed Information (needs
 * CKU_SO and a read/write session). The container is named by CKA_OBJECT_ID
 * (the DER OID SP 800-73-4 gives it, e.g. 2.16.840.1.101.3.7.2.48.0 for the
 * CHUID, as the objects' CKA_OBJECT_ID reads) and/or by
 *   CKA_TOKEND_OBJECT_TAG    CK_ULONG, the container's tag (0x5FC102 ...);
 * CKA_VALUE is the container's content (inside its 53 template). Printed
 * Information is PIN-protected: its handle resolves after a user login.
 *
 * Key slots: CKA_ID is one byte. PIV 9A/9C/9D/9E = 01/02/03/04, the retired
 * slots 82..95 = 05..18, the attestation key F9 = 19 (as OpenSC numbers them).
 * F9 shows only its certificate ("Certificate for PIV Attestation"): a YubiKey
 * does not use the F9 key for GENERAL AUTHENTICATE, so no key objects for it.
 * C_GenerateKeyPair and C_CreateObject choose the slot by that CKA_ID.
 *
 * Users:
 *   CKU_USER              the PIV PIN.
 *   CKU_SO                the PIV management key, given as hex digits
 *                         (48 for 3DES / AES-192, 32 for AES-128, 64 for
 * AES-256). CKU_CONTEXT_SPECIFIC  the PIN again, after C_SignInit /
 * C_DecryptInit with a key whose CKA_ALWAYS_AUTHENTICATE is true.
 *
 * PIN management through C_SetPIN (the prefix convention of Yubico's ykcs11;
 * no management key is needed):
 *   C_SetPIN(old = "<PIN>",          new = "<new PIN>")  changes the PIN.
 *   C_SetPIN(old = "puk:<PUK>",      new = "<new PUK>")  changes the PUK.
 *   C_SetPIN(old = "unblock:<PUK>",  new = "<new PIN>")  unblocks the PIN
 *                                                          with the PUK and
 * sets it. C_InitToken resets the PIV application to its factory state; the
 * card only allows it when both PIN and PUK are blocked, else C_InitToken
 * returns CKR_FUNCTION_REJECTED. No session may be open on the token
 * (CKR_SESSION_EXISTS). The pin argument of C_InitToken is the SO PIN, the
 * management key as hex like CKU_SO's: the token authenticates it before
 * anything is reset, and a wrong one answers CKR_PIN_INCORRECT. The label
 * is ignored.
 *
 * Through tokend's sockets, PINs and PUKs reach the card only while it has
 * more than pin-tries-reserved tries of them left, or when they are the
 * ones it last accepted through tokend; otherwise CKR_PIN_LOCKED without
 * touching the card. An export with a pin-file answers a non-NULL user PIN
 * with CKR_PIN_INCORRECT.
 */
#ifndef TOKEND_PKCS11_H
#define TOKEND_PKCS11_H

/* CKA_VENDOR_DEFINED | "TK" << 16 | n */
#define CKA_TOKEND_PIN_POLICY (0x80000000UL | 0x544B0001UL)
#define CKA_TOKEND_TOUCH_POLICY (0x80000000UL | 0x544B0002UL)
#define CKA_TOKEND_ATTESTATION (0x80000000UL | 0x544B0003UL)
#define CKA_TOKEND_OBJECT_TAG (0x80000000UL | 0x544B0004UL)

#define TOKEND_PIN_POLICY_DEFAULT 0UL
#define TOKEND_PIN_POLICY_NEVER 1UL
#define TOKEND_PIN_POLICY_ONCE 2UL
#define TOKEND_PIN_POLICY_ALWAYS 3UL
#define TOKEND_PIN_POLICY_MATCH_ONCE 4UL
#define TOKEND_PIN_POLICY_MATCH_ALWAYS 5UL

#define TOKEND_TOUCH_POLICY_DEFAULT 0UL
#define TOKEND_TOUCH_POLICY_NEVER 1UL
#define TOKEND_TOUCH_POLICY_ALWAYS 2UL
#define TOKEND_TOUCH_POLICY_CACHED 3UL

/* C_SetPIN prefixes of the old-PIN argument. */
#define TOKEND_SETPIN_PUK_PREFIX "puk:"
#define TOKEND_SETPIN_UNBLOCK_PREFIX "unblock:"
/* The TPM token: "so:<SO PIN>" changes the SO PIN. */
#define TOKEND_SETPIN_SO_PREFIX "so:"

#endif
