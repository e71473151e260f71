/* The PIV driver's PKCS#11 conventions, which the front end does not know:
 * CKA_ID <-> key slot, the SO PIN as the management key in hex, C_SetPIN's
 * "puk:" / "unblock:" prefixes, data objects named by their SP 800-73-4 OID
 * or tag, and the vendor attributes (policies, attestation, tag). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "p11.h"
#include "piv_int.h"
#include "tokend-pkcs11.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- CKA_ID ---- */

void piv_id_of(int i, struct tk_id *id)
{
	memset(id, 0, sizeof(*id));
	id->len = 1;
	id->b[0] = (uint8_t)(i + 1);
}

int piv_id_index(const uint8_t *id, size_t len)
{
	if (!id || len != 1 || id[0] == 0 || id[0] > PIV_NKEYS)
		return -1;
	return id[0] - 1;
}

/* ---- labels, as OpenSC's PIV emulation names the objects ---- */

static const struct {
	const char *base, *cert;
} named_slots[] = {
	{ "PIV AUTH", "Certificate for PIV Authentication" },
	{ "SIGN", "Certificate for Digital Signature" },
	{ "KEY MAN", "Certificate for Key Management" },
	{ "CARD AUTH", "Certificate for Card Authentication" },
};

void piv_key_labels(struct tk_key *k, int i)
{
	const char *base = i < 4 ? named_slots[i].base : "ATTESTATION";

	if (i >= 4 && k->handle != PIV_SLOT_ATTEST) {
		snprintf(k->label, sizeof(k->label), "RETIRED KEY %d", i - 3);
		snprintf(k->pub_label, sizeof(k->pub_label),
			 "RETIRED KEY %d pubkey", i - 3);
		snprintf(k->cert_label, sizeof(k->cert_label),
			 "Certificate for Retired Key %d", i - 3);
		return;
	}
	snprintf(k->label, sizeof(k->label), "%s key", base);
	snprintf(k->pub_label, sizeof(k->pub_label), "%s pubkey", base);
	snprintf(k->cert_label, sizeof(k->cert_label), "%s",
		 i < 4 ? named_slots[i].cert
		       : "Certificate for PIV Attestation");
}

/* ---- the SO PIN ---- */

int piv_mgm_key_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		       size_t *out_len)
{
	size_t n = 0;
	int hi = -1, d;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == ' ' || in[i] == ':') /* as people write keys */
			continue;
		if ((d = hex_digit(in[i])) < 0)
			return TK_ERR_PIN_INCORRECT;
		if (hi < 0) {
			hi = d;
			continue;
		}
		if (n == cap)
			return TK_ERR_PIN_INCORRECT;
		out[n++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	if (hi >= 0 || n == 0)
		return TK_ERR_PIN_INCORRECT;
	*out_len = n;
	return 0;
}

/* ---- data objects ---- */

/* The DER OID 2.16.840.1.101.3.7.2.x.y SP 800-73-4 gives a container. */
static const struct {
	uint32_t tag;
	uint8_t x[2], y;
	size_t xlen;
} piv_oids[] = {
	{ PIV_OBJ_CHUID, { 0x30 }, 0x00, 1 },       /* 48.0 */
	{ PIV_OBJ_CCC, { 0x81, 0x5B }, 0x00, 2 },   /* 219.0 */
	{ PIV_OBJ_DISCOVERY, { 0x60 }, 0x50, 1 },   /* 96.80 */
	{ PIV_OBJ_KEY_HISTORY, { 0x60 }, 0x60, 1 }, /* 96.96 */
	{ PIV_OBJ_PRINTED, { 0x30 }, 0x01, 1 },     /* 48.1 */
	{ 0x5FC106, { 0x81, 0x10 }, 0x00, 2 },      /* Security Object */
};

void piv_data_oid(uint32_t tag, struct tk_data *d)
{
	static const uint8_t prefix[] = { 0x60, 0x86, 0x48, 0x01,
					  0x65, 0x03, 0x07, 0x02 };
	size_t n;

	d->oid_len = 0;
	for (size_t i = 0; i < COUNT(piv_oids); i++) {
		if (piv_oids[i].tag != tag)
			continue;
		n = sizeof(prefix) + piv_oids[i].xlen + 1;
		d->oid[0] = 0x06;
		d->oid[1] = (uint8_t)n;
		memcpy(d->oid + 2, prefix, sizeof(prefix));
		memcpy(d->oid + 2 + sizeof(prefix), piv_oids[i].x,
		       piv_oids[i].xlen);
		d->oid[2 + n - 1] = piv_oids[i].y;
		d->oid_len = 2 + n;
		return;
	}
}

static int tag_from_oid(const uint8_t *der, size_t len, uint32_t *tag)
{
	struct tk_data d;

	for (size_t i = 0; i < COUNT(piv_oids); i++) {
		piv_data_oid(piv_oids[i].tag, &d);
		if (d.oid_len == len && memcmp(d.oid, der, len) == 0) {
			*tag = piv_oids[i].tag;
			return 0;
		}
	}
	return TK_ERR_NOT_FOUND;
}

static const struct tk_attr *tmpl_find(const struct tk_attr *t, size_t n,
				       unsigned long type)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

/* Errors as driver.h's create_data gives them: TK_ERR_NOT_FOUND
 * (incomplete), TK_ERR_ARG (a value that names no container),
 * TK_ERR_INVALID (the two names disagree). */
int piv_data_request(const struct tk_attr *t, size_t n, uint32_t *tag,
		     const uint8_t **value, size_t *len)
{
	const struct tk_attr *oid = tmpl_find(t, n, CKA_OBJECT_ID);
	const struct tk_attr *ta = tmpl_find(t, n, CKA_TOKEND_OBJECT_TAG);
	const struct tk_attr *v = tmpl_find(t, n, CKA_VALUE);
	CK_ULONG by_tag = 0;
	uint32_t by_oid = 0;

	if (ta && (ta->len != sizeof(CK_ULONG) || !ta->value))
		return TK_ERR_ARG;
	if (ta)
		memcpy(&by_tag, ta->value, sizeof(by_tag));
	if (!oid && !ta)
		return TK_ERR_NOT_FOUND;
	if (oid &&
	    (!oid->value || tag_from_oid(oid->value, oid->len, &by_oid) < 0))
		return TK_ERR_ARG;
	if (oid && ta && by_tag != by_oid)
		return TK_ERR_INVALID;
	*tag = oid ? by_oid : (uint32_t)by_tag;
	/* Only the containers the driver caches; certificates are
	 * CKO_CERTIFICATE. */
	if (piv_data_index(*tag) < 0 || (ta && by_tag != *tag))
		return TK_ERR_ARG;
	if (!v)
		return TK_ERR_NOT_FOUND;
	if (!v->value || !v->len)
		return TK_ERR_ARG;
	*value = v->value;
	*len = v->len;
	return 0;
}

/* ---- vendor attributes ---- */

static void put_ulong(struct buf *b, CK_ULONG v)
{
	buf_add(b, &v, sizeof(v));
}

bool piv_attr_on_device(unsigned long type)
{
	return type == CKA_TOKEND_ATTESTATION;
}

/* One F9 APDU per key the token generated (then kept, piv_admin.c). */
static int attr_attestation(struct tk_token *tok, const struct tk_key *k,
			    struct buf *out)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if (!k->generated)
		return TK_ATTR_INVALID;
	r = piv_admin_attest(tok, (uint8_t)k->handle, &der, &len);
	if (r == TK_ERR_UNSUPPORTED || r == TK_ERR_ARG)
		return TK_ATTR_INVALID;
	if (r < 0)
		return r;
	buf_add(out, der, len);
	free(der);
	return 0;
}

int piv_attr(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	     unsigned long type, struct buf *out)
{
	const struct tk_key *k = piv_token_key(tok, handle);

	if (kind == TK_OBJ_DATA) {
		if (type != CKA_TOKEND_OBJECT_TAG)
			return TK_ATTR_DEFAULT;
		put_ulong(out, handle);
		return 0;
	}
	if (type != CKA_TOKEND_PIN_POLICY && type != CKA_TOKEND_TOUCH_POLICY &&
	    type != CKA_TOKEND_ATTESTATION)
		return TK_ATTR_DEFAULT;
	if (kind != TK_OBJ_PRIVATE || !k)
		return TK_ATTR_INVALID;
	if (type == CKA_TOKEND_ATTESTATION)
		return attr_attestation(tok, k, out);
	put_ulong(out, type == CKA_TOKEND_PIN_POLICY
			   ? (CK_ULONG)k->pin_policy
			   : (CK_ULONG)k->touch_policy);
	return 0;
}
