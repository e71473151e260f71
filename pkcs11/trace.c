/* One trace line per PKCS#11 call: names from the table below, values
 * decoded by their kind, secrets replaced by their length. */
#include "trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ckname.h"
#include "p11.h"

#define TRACE_HEX_MAX 32  /* bytes shown in full; longer: the first 16 */
#define TRACE_LIST_MAX 16 /* handles or mechanisms listed */
#define TRACE_DEPTH_MAX 2 /* nested templates shown */

/* The arguments' names per call, in RPC signature order (rpc_calls.c):
 * request, then response. '!' marks a secret: never shown. A call not
 * here has its byte arrays hidden and arguments named argN. */
static const struct trace_names {
	const char *call, *in, *out;
} trace_names[] = {
	{ "C_Initialize", "handshake reserved_present reserved", "" },
	{ "C_GetInfo", "",
	  "cryptoki_version manufacturer flags description version" },
	{ "C_GetSlotList", "token_present slots", "slots" },
	{ "C_GetSlotInfo", "slot",
	  "description manufacturer flags hardware_version "
	  "firmware_version" },
	{ "C_GetTokenInfo", "slot",
	  "label manufacturer model serial flags max_sessions sessions "
	  "max_rw_sessions rw_sessions max_pin_len min_pin_len "
	  "total_public_memory free_public_memory total_private_memory "
	  "free_private_memory hardware_version firmware_version utc_time" },
	{ "C_GetMechanismList", "slot mechanisms", "mechanisms" },
	{ "C_GetMechanismInfo", "slot type",
	  "min_key_size max_key_size flags" },
	{ "C_InitToken", "slot !so_pin label", "" },
	{ "C_InitToken2", "slot !so_pin label", "" },
	{ "C_OpenSession", "slot flags", "session" },
	{ "C_CloseSession", "session", "" },
	{ "C_CloseAllSessions", "slot", "" },
	{ "C_GetSessionInfo", "session", "slot state flags device_error" },
	{ "C_InitPIN", "session !pin", "" },
	{ "C_SetPIN", "session !old_pin !new_pin", "" },
	{ "C_GetOperationState", "session state", "!state" },
	{ "C_SetOperationState", "session !state encryption_key auth_key", "" },
	{ "C_Login", "session user !pin", "" },
	{ "C_LoginUser", "session user !pin username", "" },
	{ "C_Logout", "session", "" },
	{ "C_CreateObject", "session template", "object" },
	{ "C_CopyObject", "session object template", "new_object" },
	{ "C_DestroyObject", "session object", "" },
	{ "C_GetObjectSize", "session object", "size" },
	{ "C_GetAttributeValue", "session object template", "template rv" },
	{ "C_SetAttributeValue", "session object template", "" },
	{ "C_FindObjectsInit", "session template", "" },
	{ "C_FindObjects", "session objects", "objects" },
	{ "C_FindObjectsFinal", "session", "" },
	{ "C_EncryptInit", "session mechanism key", "" },
	{ "C_Encrypt", "session !data encrypted", "encrypted" },
	{ "C_EncryptUpdate", "session !part encrypted", "encrypted" },
	{ "C_EncryptFinal", "session encrypted", "encrypted" },
	{ "C_DecryptInit", "session mechanism key", "" },
	{ "C_Decrypt", "session encrypted data", "!data" },
	{ "C_DecryptUpdate", "session encrypted part", "!part" },
	{ "C_DecryptFinal", "session part", "!part" },
	{ "C_DigestInit", "session mechanism", "" },
	{ "C_Digest", "session data digest", "digest" },
	{ "C_DigestUpdate", "session part", "" },
	{ "C_DigestKey", "session key", "" },
	{ "C_DigestFinal", "session digest", "digest" },
	{ "C_SignInit", "session mechanism key", "" },
	{ "C_Sign", "session data signature", "signature" },
	{ "C_SignUpdate", "session part", "" },
	{ "C_SignFinal", "session signature", "signature" },
	{ "C_SignRecoverInit", "session mechanism key", "" },
	{ "C_SignRecover", "session data signature", "signature" },
	{ "C_VerifyInit", "session mechanism key", "" },
	{ "C_Verify", "session data signature", "" },
	{ "C_VerifyUpdate", "session part", "" },
	{ "C_VerifyFinal", "session signature", "" },
	{ "C_VerifyRecoverInit", "session mechanism key", "" },
	{ "C_VerifyRecover", "session signature data", "data" },
	{ "C_DigestEncryptUpdate", "session !part encrypted", "encrypted" },
	{ "C_DecryptDigestUpdate", "session encrypted part", "!part" },
	{ "C_SignEncryptUpdate", "session !part encrypted", "encrypted" },
	{ "C_DecryptVerifyUpdate", "session encrypted part", "!part" },
	{ "C_GenerateKey", "session mechanism template", "key" },
	{ "C_GenerateKeyPair",
	  "session mechanism public_template private_template",
	  "public_key private_key" },
	{ "C_WrapKey", "session mechanism wrapping_key key wrapped",
	  "!wrapped" },
	{ "C_UnwrapKey", "session mechanism unwrapping_key !wrapped template",
	  "key" },
	{ "C_DeriveKey", "session mechanism base_key template", "key" },
	{ "C_DeriveKey2", "session mechanism base_key template",
	  "key mechanism rv" },
	{ "C_SeedRandom", "session !seed", "" },
	{ "C_GenerateRandom", "session random", "!random" },
	{ "C_WaitForSlotEvent", "flags", "slot" },
	{ "C_SessionCancel", "session flags", "" },
	{ "C_Finalize", "", "" },
};

static const struct trace_names *trace_names_find(const char *call)
{
	for (size_t i = 0; i < sizeof(trace_names) / sizeof(trace_names[0]);
	     i++)
		if (strcmp(trace_names[i].call, call) == 0)
			return &trace_names[i];
	return NULL;
}

/* The i-th space-separated word of list into name; false when there is
 * none. */
static bool trace_word(const char *list, size_t i, char *name, size_t len)
{
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (i-- == 0) {
			snprintf(name, len, "%.*s", (int)n, p);
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* ---- output helpers ---- */

static void tp(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tp(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Into a JSON string, text is escaped as it is written: a value is built
 * in a scratch buf, then copied with escapes. */
static void trace_json_str(struct buf *b, const uint8_t *p, size_t n)
{
	buf_add_u8(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			tp(b, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] > 0x7e)
			tp(b, "\\u%04x", p[i]);
		else
			buf_add_u8(b, p[i]);
	}
	buf_add_u8(b, '"');
}

static void trace_hidden(struct buf *b, CK_ULONG len)
{
	tp(b, "<hidden, %lu bytes>", (unsigned long)len);
}

static void trace_hex(struct buf *b, const uint8_t *p, CK_ULONG len)
{
	CK_ULONG show = len > TRACE_HEX_MAX ? 16 : len;

	if (len == 0) {
		tp(b, "<0 bytes>");
		return;
	}
	for (CK_ULONG i = 0; i < show; i++)
		tp(b, "%02x", p[i]);
	if (show < len)
		tp(b, "..(%lu bytes)", (unsigned long)len);
}

/* Printable text in quotes, trailing blanks dropped. */
static void trace_text(struct buf *b, const uint8_t *p, CK_ULONG len)
{
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\0'))
		len--;
	buf_add_u8(b, '\'');
	for (CK_ULONG i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '\'' || p[i] == '\\')
			tp(b, "\\x%02x", p[i]);
		else
			buf_add_u8(b, p[i]);
	}
	buf_add_u8(b, '\'');
}

/* ---- attributes ---- */

static bool trace_attr_secret(CK_ATTRIBUTE_TYPE t, bool value_public)
{
	switch (t) {
	case CKA_VALUE:
		return !value_public;
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		return true;
	}
	return false;
}

static bool trace_attr_bool(CK_ATTRIBUTE_TYPE t)
{
	static const CK_ATTRIBUTE_TYPE bools[] = {
		CKA_TOKEN,
		CKA_PRIVATE,
		CKA_MODIFIABLE,
		CKA_COPYABLE,
		CKA_DESTROYABLE,
		CKA_SENSITIVE,
		CKA_ENCRYPT,
		CKA_DECRYPT,
		CKA_WRAP,
		CKA_UNWRAP,
		CKA_SIGN,
		CKA_SIGN_RECOVER,
		CKA_VERIFY,
		CKA_VERIFY_RECOVER,
		CKA_DERIVE,
		CKA_EXTRACTABLE,
		CKA_LOCAL,
		CKA_NEVER_EXTRACTABLE,
		CKA_ALWAYS_SENSITIVE,
		CKA_ALWAYS_AUTHENTICATE,
		CKA_WRAP_WITH_TRUSTED,
		CKA_TRUSTED,
	};

	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (bools[i] == t)
			return true;
	return false;
}

/* The template says its CKA_VALUE is public: a certificate, public key or
 * data object. */
static bool trace_value_public(const CK_ATTRIBUTE *a, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls;

		if (a[i].type != CKA_CLASS || !a[i].pValue ||
		    a[i].ulValueLen != sizeof(cls))
			continue;
		memcpy(&cls, a[i].pValue, sizeof(cls));
		return cls == CKO_CERTIFICATE || cls == CKO_PUBLIC_KEY ||
		       cls == CKO_DATA;
	}
	return false;
}

static void trace_attrs(struct buf *b, const CK_ATTRIBUTE *a, CK_ULONG n,
			int depth);

static void trace_attr_value(struct buf *b, const CK_ATTRIBUTE *a,
			     bool value_public, int depth)
{
	char nb[CKNAME_BUF];
	CK_ULONG v;

	if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		tp(b, "unavailable");
		return;
	}
	/* Only these hold a template: a vendor type with the array bit set
	 * holds bytes like any other. */
	if ((a->type == CKA_WRAP_TEMPLATE || a->type == CKA_UNWRAP_TEMPLATE ||
	     a->type == CKA_DERIVE_TEMPLATE) &&
	    a->pValue) {
		trace_attrs(b, a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE),
			    depth + 1);
		return;
	}
	if (!a->pValue) {
		tp(b, "[room %lu]", (unsigned long)a->ulValueLen);
		return;
	}
	if (trace_attr_secret(a->type, value_public)) {
		trace_hidden(b, a->ulValueLen);
		return;
	}
	if (trace_attr_bool(a->type) && a->ulValueLen == sizeof(CK_BBOOL)) {
		tp(b, "%s", *(const CK_BBOOL *)a->pValue ? "true" : "false");
		return;
	}
	if (a->type == CKA_LABEL || a->type == CKA_APPLICATION ||
	    a->type == CKA_URL) {
		trace_text(b, a->pValue, a->ulValueLen);
		return;
	}
	if (a->ulValueLen == sizeof(CK_ULONG) &&
	    (a->type == CKA_CLASS || a->type == CKA_KEY_TYPE ||
	     a->type == CKA_KEY_GEN_MECHANISM || a->type == CKA_MODULUS_BITS ||
	     a->type == CKA_VALUE_LEN || a->type == CKA_CERTIFICATE_TYPE ||
	     a->type == CKA_CERTIFICATE_CATEGORY)) {
		memcpy(&v, a->pValue, sizeof(v));
		if (a->type == CKA_CLASS)
			tp(b, "%s", ckname_class(v, nb));
		else if (a->type == CKA_KEY_TYPE)
			tp(b, "%s", ckname_keytype(v, nb));
		else if (a->type == CKA_KEY_GEN_MECHANISM)
			tp(b, "%s", ckname_mech(v, nb));
		else
			tp(b, "%lu", (unsigned long)v);
		return;
	}
	trace_hex(b, a->pValue, a->ulValueLen);
}

static void trace_attrs(struct buf *b, const CK_ATTRIBUTE *a, CK_ULONG n,
			int depth)
{
	bool value_public = trace_value_public(a, n);
	char nb[CKNAME_BUF];

	if (depth > TRACE_DEPTH_MAX || (!a && n)) {
		tp(b, "{%lu attributes}", (unsigned long)n);
		return;
	}
	buf_add_u8(b, '{');
	for (CK_ULONG i = 0; i < n; i++) {
		tp(b, "%s%s=", i ? ", " : "", ckname_attr(a[i].type, nb));
		trace_attr_value(b, &a[i], value_public, depth);
	}
	buf_add_u8(b, '}');
}

/* A template the call fills: its buffers hold nothing yet. */
static void trace_rooms(struct buf *b, const CK_ATTRIBUTE *a, CK_ULONG n)
{
	char nb[CKNAME_BUF];

	if (!a && n) {
		tp(b, "{%lu attributes}", (unsigned long)n);
		return;
	}
	buf_add_u8(b, '{');
	for (CK_ULONG i = 0; i < n; i++) {
		tp(b, "%s%s=", i ? ", " : "", ckname_attr(a[i].type, nb));
		if (a[i].pValue) /* else a length query */
			tp(b, "[room %lu]", (unsigned long)a[i].ulValueLen);
		else
			tp(b, "NULL");
	}
	buf_add_u8(b, '}');
}

/* ---- mechanisms ---- */

static const char *trace_mgf(CK_ULONG mgf, char nb[CKNAME_BUF])
{
	static const char *const names[] = { NULL,
					     "CKG_MGF1_SHA1",
					     "CKG_MGF1_SHA256",
					     "CKG_MGF1_SHA384",
					     "CKG_MGF1_SHA512",
					     "CKG_MGF1_SHA224" };

	if (mgf < sizeof(names) / sizeof(names[0]) && names[mgf])
		return names[mgf];
	snprintf(nb, CKNAME_BUF, "CKG_0x%lx", (unsigned long)mgf);
	return nb;
}

static bool trace_is_pss(CK_MECHANISM_TYPE t)
{
	return t == CKM_RSA_PKCS_PSS || t == CKM_SHA1_RSA_PKCS_PSS ||
	       t == CKM_SHA224_RSA_PKCS_PSS || t == CKM_SHA256_RSA_PKCS_PSS ||
	       t == CKM_SHA384_RSA_PKCS_PSS || t == CKM_SHA512_RSA_PKCS_PSS;
}

/* PKCS #11 3.0 CK_EDDSA_PARAMS (p11-kit 0.24's header lacks it). */
struct trace_eddsa {
	CK_BBOOL ph;
	CK_ULONG ctx_len;
	CK_BYTE_PTR ctx;
};

/* The parameter's fields for the structured kinds the RPC codec knows
 * (rpc/rpc_mech.h); any other parameter as bytes. */
static void trace_mech_param(struct buf *b, const CK_MECHANISM *m)
{
	const void *p = m->pParameter;
	char n1[CKNAME_BUF], n2[CKNAME_BUF];

	if (trace_is_pss(m->mechanism) &&
	    m->ulParameterLen == sizeof(CK_RSA_PKCS_PSS_PARAMS)) {
		const CK_RSA_PKCS_PSS_PARAMS *q = p;

		tp(b, "{hash=%s, mgf=%s, salt=%lu}",
		   ckname_mech(q->hashAlg, n1), trace_mgf(q->mgf, n2),
		   (unsigned long)q->sLen);
	} else if (m->mechanism == CKM_RSA_PKCS_OAEP &&
		   m->ulParameterLen == sizeof(CK_RSA_PKCS_OAEP_PARAMS)) {
		const CK_RSA_PKCS_OAEP_PARAMS *q = p;

		tp(b, "{hash=%s, mgf=%s, source=%lu, label=",
		   ckname_mech(q->hashAlg, n1), trace_mgf(q->mgf, n2),
		   (unsigned long)q->source);
		trace_hex(b, q->pSourceData,
			  q->pSourceData ? q->ulSourceDataLen : 0);
		buf_add_u8(b, '}');
	} else if (m->mechanism == CKM_ECDH1_DERIVE &&
		   m->ulParameterLen == sizeof(CK_ECDH1_DERIVE_PARAMS)) {
		const CK_ECDH1_DERIVE_PARAMS *q = p;

		tp(b, "{kdf=0x%lx, shared=", (unsigned long)q->kdf);
		trace_hex(b, q->pSharedData,
			  q->pSharedData ? q->ulSharedDataLen : 0);
		tp(b, ", public=");
		trace_hex(b, q->pPublicData,
			  q->pPublicData ? q->ulPublicDataLen : 0);
		buf_add_u8(b, '}');
	} else if (m->mechanism == CKM_AES_GCM &&
		   m->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *q = p;

		tp(b, "{iv=");
		trace_hex(b, q->pIv, q->pIv ? q->ulIvLen : 0);
		tp(b, ", aad=");
		trace_hex(b, q->pAAD, q->pAAD ? q->ulAADLen : 0);
		tp(b, ", tag_bits=%lu}", (unsigned long)q->ulTagBits);
	} else if (m->mechanism == CKM_EDDSA &&
		   m->ulParameterLen == sizeof(struct trace_eddsa)) {
		const struct trace_eddsa *q = p;

		tp(b, "{prehash=%s, context=", q->ph ? "true" : "false");
		trace_hex(b, q->ctx, q->ctx ? q->ctx_len : 0);
		buf_add_u8(b, '}');
	} else {
		/* Parameters without pointers (IVs, counters, lengths). */
		buf_add_u8(b, '{');
		trace_hex(b, p, m->ulParameterLen);
		buf_add_u8(b, '}');
	}
}

static void trace_mech(struct buf *b, const CK_MECHANISM *m)
{
	char nb[CKNAME_BUF];

	if (!m) {
		tp(b, "NULL");
		return;
	}
	tp(b, "%s", ckname_mech(m->mechanism, nb));
	if (m->pParameter && m->ulParameterLen > 0)
		trace_mech_param(b, m);
}

/* ---- one argument ---- */

static void trace_ulong(struct buf *b, const char *name, CK_ULONG v)
{
	char nb[CKNAME_BUF];

	if (strcmp(name, "user") == 0)
		tp(b, "%s", ckname_user(v, nb));
	else if (strcmp(name, "flags") == 0)
		tp(b, "0x%lx", (unsigned long)v);
	else if (strcmp(name, "type") == 0)
		tp(b, "%s", ckname_mech(v, nb));
	else if (strcmp(name, "rv") == 0)
		tp(b, "%s", ckname_rv(v, nb));
	else
		tp(b, "%lu", (unsigned long)v);
}

static void trace_ulongs(struct buf *b, const char *name, const CK_ULONG *v,
			 CK_ULONG n)
{
	bool mechs = strcmp(name, "mechanisms") == 0;
	char nb[CKNAME_BUF];

	if (!v) {
		tp(b, "[count %lu]", (unsigned long)n);
		return;
	}
	buf_add_u8(b, '[');
	for (CK_ULONG i = 0; i < n && i < TRACE_LIST_MAX; i++) {
		if (mechs)
			tp(b, "%s%s", i ? " " : "", ckname_mech(v[i], nb));
		else
			tp(b, "%s%lu", i ? " " : "", (unsigned long)v[i]);
	}
	if (n > TRACE_LIST_MAX)
		tp(b, " ..(%lu)", (unsigned long)n);
	buf_add_u8(b, ']');
}

/* The value of a, named name (secret when marked so). */
static void trace_value(struct buf *b, const char *name, bool secret,
			const struct trace_arg *a)
{
	switch (a->kind) {
	case TRACE_ULONG:
		trace_ulong(b, name, a->u);
		break;
	case TRACE_BYTE:
		tp(b, "%lu", (unsigned long)a->u);
		break;
	case TRACE_BYTES:
		if (!a->p)
			tp(b, "[len %lu]", (unsigned long)a->u);
		else if (secret)
			trace_hidden(b, a->u);
		else
			trace_hex(b, a->p, a->u);
		break;
	case TRACE_ULONGS:
		trace_ulongs(b, name, a->p, a->u);
		break;
	case TRACE_STRING:
		if (secret)
			trace_hidden(b, a->u);
		else
			trace_text(b, a->p, a->p ? a->u : 0);
		break;
	case TRACE_ATTRS:
		trace_attrs(b, a->p, a->u, 0);
		break;
	case TRACE_ROOMS:
		trace_rooms(b, a->p, a->u);
		break;
	case TRACE_MECH:
		trace_mech(b, a->p);
		break;
	case TRACE_ROOM:
		if (a->u == 0)
			tp(b, "NULL");
		else
			tp(b, "[room %lu]", (unsigned long)a->u);
		break;
	case TRACE_VERSION:
		tp(b, "%lu.%lu", (unsigned long)(a->u >> 8),
		   (unsigned long)(a->u & 0xff));
		break;
	}
}

/* name=value, ... for args named from names (NULL: an unknown call, whose
 * byte arrays are all hidden). JSON: "name":"value" members. */
static void trace_args(struct buf *b, bool json, const char *names,
		       const struct trace_arg *a, size_t n)
{
	char word[48];
	struct buf v;

	buf_init(&v, 0);
	for (size_t i = 0; i < n; i++) {
		const char *name = word;
		bool secret = names == NULL;

		if (!names || !trace_word(names, i, word, sizeof(word)))
			snprintf(word, sizeof(word), "arg%zu", i);
		if (word[0] == '!') {
			secret = true;
			name++;
		}
		buf_reset(&v);
		trace_value(&v, name, secret, &a[i]);
		if (buf_failed(&v))
			b->failed = true;
		if (json) {
			tp(b, "%s\"%s\":", i ? "," : "", name);
			trace_json_str(b, v.data, v.len);
		} else {
			tp(b, "%s%s=", i ? ", " : "", name);
			buf_add(b, v.data, v.len);
		}
	}
	buf_free(&v);
}

uint64_t trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void trace_clock(char *s, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	snprintf(s, len, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000);
}

void trace_format(struct buf *b, bool json, const struct trace_call *c)
{
	const struct trace_names *tn = trace_names_find(c->name);
	char nb[CKNAME_BUF], when[32];
	bool out = c->rv == CKR_OK && c->nout > 0;

	trace_clock(when, sizeof(when));
	if (json) {
		tp(b, "{\"time\":\"%s\",%s%s\"call\":\"%s\",\"args\":{", when,
		   c->who_json ? c->who_json : "", c->who_json ? "," : "",
		   c->name);
		trace_args(b, true, tn ? tn->in : NULL, c->in, c->nin);
		tp(b, "},\"out\":{");
		if (out)
			trace_args(b, true, tn ? tn->out : NULL, c->out,
				   c->nout);
		tp(b, "},\"rv\":\"%s\",\"ms\":%.3f}\n", ckname_rv(c->rv, nb),
		   (double)c->ns / 1e6);
		return;
	}
	tp(b, "%s %-20s %s(", when, c->who ? c->who : "", c->name);
	trace_args(b, false, tn ? tn->in : NULL, c->in, c->nin);
	buf_add_u8(b, ')');
	if (out) {
		tp(b, " -> (");
		trace_args(b, false, tn ? tn->out : NULL, c->out, c->nout);
		buf_add_u8(b, ')');
	}
	tp(b, " = %s %.3f ms\n", ckname_rv(c->rv, nb), (double)c->ns / 1e6);
}
