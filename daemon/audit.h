/* The audit trail: one line per login attempt and per private-key
 * operation, to stderr (the journal under systemd) with a stable prefix:
 *
 *   <5>AUDIT login export=NAME uid=U gid=G pid=P token=SERIAL user=CKU_USER
 *       result=CKR_OK
 *   <5>AUDIT key-op export=NAME uid=U gid=G pid=P token=SERIAL op=sign
 *       key-id=01ab.. key-label="..." mech=CKM_ECDSA result=CKR_OK
 *   <5>AUDIT set-pin export=NAME uid=U gid=G pid=P token=SERIAL
 *       result=CKR_PIN_LOCKED
 *   <5>AUDIT refused export=NAME uid=U gid=G pid=P call=C_SetPIN
 *       needs=admin result=CKR_TOKEN_WRITE_PROTECTED
 *
 * (one line each). Strings from tokens and clients are quoted with
 * non-printable bytes, quotes and backslashes escaped as \xNN, so a label
 * cannot forge a line. A PIN is never an argument here. */
#ifndef TOKEND_AUDIT_H
#define TOKEND_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct peer;

/* Which token and key; serial and label may be NULL (shown as "-"). */
struct audit_key {
	const char *token_serial; /* CK_TOKEN_INFO.serialNumber, trimmed */
	const uint8_t *id;        /* CKA_ID */
	size_t id_len;
	const char *label; /* CKA_LABEL */
};

void audit_login(const char *export_name, const struct peer *peer,
		 const char *token_serial, CK_USER_TYPE user, CK_RV rv);
/* C_SetPIN (PIN, PUK or unblock) and its result. */
void audit_set_pin(const char *export_name, const struct peer *peer,
		   const char *token_serial, CK_RV rv);
/* A call the export's access level does not allow (it never ran): call is
 * the PKCS#11 name, needs the level it would need ("full", "admin"). */
void audit_refused(const char *export_name, const struct peer *peer,
		   const char *call, const char *needs, CK_RV rv);
/* op: "sign", "decrypt", "derive", "unwrap", ... */
void audit_key_op(const char *export_name, const struct peer *peer,
		  const struct audit_key *key, const char *op,
		  CK_MECHANISM_TYPE mech, CK_RV rv);

#endif
