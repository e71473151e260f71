/* Audit lines for logins and private-key operations. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "ckname.h"
#include "peer.h"
#include "log.h"

#define AUDIT_STR_MAX 64 /* characters kept of a label or serial */
#define AUDIT_ID_MAX 64  /* bytes of CKA_ID shown */

/* Quotes s into out, escaping what could break the line. */
static const char *audit_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (s == NULL)
		return "-";
	out[o++] = '"';
	for (i = 0; s[i] && i < AUDIT_STR_MAX && o + 10 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x",
					      ch);
		else
			out[o++] = (char)ch;
	}
	if (s[i])
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

static const char *audit_hex(const uint8_t *p, size_t n, char *out,
			     size_t outlen)
{
	size_t i;

	if (p == NULL || n == 0)
		return "-";
	for (i = 0; i < n && i < AUDIT_ID_MAX && 2 * i + 2 < outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * i] = '\0';
	return out;
}

void audit_login(const char *export_name, const struct peer *peer,
		 const char *token_serial, CK_USER_TYPE user, CK_RV rv)
{
	char serial[AUDIT_STR_MAX * 4 + 8], ub[CKNAME_BUF], rb[CKNAME_BUF];

	log_audit("AUDIT login export=%s uid=%u gid=%u pid=%d token=%s user=%s "
		"result=%s",
		export_name, (unsigned)peer->uid, (unsigned)peer->gid,
		(int)peer->pid,
		audit_quote(token_serial, serial, sizeof(serial)),
		ckname_user(user, ub), ckname_rv(rv, rb));
}

void audit_key_op(const char *export_name, const struct peer *peer,
		  const struct audit_key *key, const char *op,
		  CK_MECHANISM_TYPE mech, CK_RV rv)
{
	char serial[AUDIT_STR_MAX * 4 + 8], label[AUDIT_STR_MAX * 4 + 8];
	char id[AUDIT_ID_MAX * 2 + 1], mb[CKNAME_BUF], rb[CKNAME_BUF];

	log_audit("AUDIT key-op export=%s uid=%u gid=%u pid=%d token=%s op=%s "
		"key-id=%s key-label=%s mech=%s result=%s",
		export_name, (unsigned)peer->uid, (unsigned)peer->gid,
		(int)peer->pid,
		audit_quote(key->token_serial, serial, sizeof(serial)), op,
		audit_hex(key->id, key->id_len, id, sizeof(id)),
		audit_quote(key->label, label, sizeof(label)),
		/* no operation (a Final after it ended): no mechanism */
		mech == CK_UNAVAILABLE_INFORMATION ? "-" : ckname_mech(mech, mb),
		ckname_rv(rv, rb));
}

void audit_refused(const char *export_name, const struct peer *peer,
		   const char *call, const char *needs, CK_RV rv)
{
	char rb[CKNAME_BUF];

	log_audit("AUDIT refused export=%s uid=%u gid=%u pid=%d call=%s "
		"needs=%s result=%s",
		export_name, (unsigned)peer->uid, (unsigned)peer->gid,
		(int)peer->pid, call, needs, ckname_rv(rv, rb));
}

void audit_set_pin(const char *export_name, const struct peer *peer,
		   const char *token_serial, CK_RV rv)
{
	char serial[AUDIT_STR_MAX * 4 + 8], rb[CKNAME_BUF];

	log_audit("AUDIT set-pin export=%s uid=%u gid=%u pid=%d token=%s "
		"result=%s",
		export_name, (unsigned)peer->uid, (unsigned)peer->gid,
		(int)peer->pid,
		audit_quote(token_serial, serial, sizeof(serial)),
		ckname_rv(rv, rb));
}
