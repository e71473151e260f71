#include "rpc_msg.h"

#include <string.h>

#include "error.h"

static const struct {
	const char *tok;
	enum rpc_arg_type type;
} tokens[] = {
	{ "ay", RPC_ARG_BYTES },      { "au", RPC_ARG_ULONGS },
	{ "aA", RPC_ARG_ATTRS },      { "fy", RPC_ARG_BYTE_BUF },
	{ "fu", RPC_ARG_ULONG_BUF },  { "fA", RPC_ARG_ATTR_BUF },
	{ "y", RPC_ARG_BYTE },        { "u", RPC_ARG_ULONG },
	{ "z", RPC_ARG_ZSTRING },     { "s", RPC_ARG_SPACE },
	{ "v", RPC_ARG_VERSION },     { "M", RPC_ARG_MECH },
	{ "P", RPC_ARG_MECH_UPDATE },
};

/* Splits a signature into argument types; -1 on a malformed table entry. */
static int sig_types(const char *sig, enum rpc_arg_type *types, size_t *n)
{
	size_t i, k, len;

	for (*n = 0; *sig; (*n)++) {
		for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
			len = strlen(tokens[i].tok);
			if (strncmp(sig, tokens[i].tok, len) == 0)
				break;
		}
		if (i == sizeof(tokens) / sizeof(tokens[0]) ||
		    *n >= RPC_MAX_ARGS)
			return -1;
		k = *n;
		types[k] = tokens[i].type;
		sig += len;
	}
	return 0;
}

void rpc_codec_init(struct rpc_codec *c, uint8_t offered)
{
	c->offered = offered;
	c->limits.max_attrs = RPC_DEFAULT_MAX_ATTRS;
	c->limits.max_arena = RPC_DEFAULT_MAX_ARENA;
	c->limits.max_depth = RPC_DEFAULT_MAX_DEPTH;
}

void rpc_message_clear(struct rpc_message *m)
{
	rpc_arena_free(&m->arena);
	memset(m->args, 0, sizeof(m->args));
	m->nargs = 0;
	m->call = NULL;
	m->call_id = 0;
}

/* 'ay': u8 present; present: array (may be NULL); else u32 length only. */
static int bytes_decode(struct reader *r, struct rpc_dctx *d, struct rpc_arg *a)
{
	uint8_t present;
	uint32_t n;
	uint8_t *p;
	size_t len;
	bool null;
	int rc;

	if (reader_get_u8(r, &present))
		return TK_ERR_INVALID;
	if (!present) {
		if (rpc_get_u32(r, &n))
			return TK_ERR_INVALID;
		a->bytes.null = true;
		a->bytes.len = n;
		return 0;
	}
	rc = rpc_get_array_dup(r, d->arena, &p, &len, &null);
	if (rc)
		return rc;
	a->bytes.p = null ? NULL : p;
	a->bytes.len = len;
	a->bytes.null = null;
	return 0;
}

/* 'au': u8 present, u32 count, then count u64 when present. */
static int ulongs_decode(struct reader *r, struct rpc_dctx *d,
			 struct rpc_arg *a)
{
	uint8_t present;
	uint32_t n, i;
	CK_ULONG *v;

	if (reader_get_u8(r, &present) || rpc_get_u32(r, &n))
		return TK_ERR_INVALID;
	a->ulongs.count = n;
	a->ulongs.null = !present;
	if (!present)
		return 0;
	if ((size_t)n > reader_left(r) / 8)
		return TK_ERR_INVALID;
	v = rpc_arena_array(d->arena, n ? n : 1, sizeof(*v));
	if (!v)
		return TK_ERR_TOO_LARGE;
	for (i = 0; i < n; i++)
		if (rpc_get_ulong(r, &v[i]))
			return TK_ERR_INVALID;
	a->ulongs.v = v;
	return 0;
}

static int string_decode(struct reader *r, struct rpc_dctx *d,
			 struct rpc_arg *a)
{
	uint8_t *p;
	size_t len;
	bool null;
	int rc;

	rc = rpc_get_array_dup(r, d->arena, &p, &len, &null);
	if (rc)
		return rc;
	/* 's' must be present; 'z' NULL reads as "" as in p11-kit. */
	if (a->type == RPC_ARG_SPACE && null)
		return TK_ERR_INVALID;
	a->bytes.p = p;
	a->bytes.len = len;
	a->bytes.null = null;
	return 0;
}

static int arg_decode(struct reader *r, struct rpc_dctx *d,
		      CK_MECHANISM_TYPE pmech, struct rpc_arg *a)
{
	uint32_t n;
	bool present;
	int rc;

	switch (a->type) {
	case RPC_ARG_BYTE:
		return reader_get_u8(r, &a->byte) ? TK_ERR_INVALID : 0;
	case RPC_ARG_ULONG:
		return rpc_get_ulong(r, &a->ulong);
	case RPC_ARG_VERSION:
		return reader_get_u8(r, &a->version.major) ||
			       reader_get_u8(r, &a->version.minor)
			   ? TK_ERR_INVALID
			   : 0;
	case RPC_ARG_ZSTRING:
	case RPC_ARG_SPACE:
		return string_decode(r, d, a);
	case RPC_ARG_BYTES:
		return bytes_decode(r, d, a);
	case RPC_ARG_ULONGS:
		return ulongs_decode(r, d, a);
	case RPC_ARG_ATTRS:
		return rpc_attrs_decode(r, d, &a->attrs.v, &a->attrs.count);
	case RPC_ARG_ATTR_BUF:
		return rpc_attr_buffer_decode(r, d, &a->attrs.v,
					      &a->attrs.count);
	case RPC_ARG_BYTE_BUF:
	case RPC_ARG_ULONG_BUF:
		if (rpc_get_u32(r, &n))
			return TK_ERR_INVALID;
		a->room = n;
		return 0;
	case RPC_ARG_MECH:
		return rpc_mech_decode(r, d, &a->mech);
	case RPC_ARG_MECH_UPDATE:
		rc = rpc_mech_update_decode(r, pmech, &present);
		a->update.mechanism = pmech;
		a->update.pParameter = present ? (void *)&a->update : NULL;
		return rc;
	}
	return TK_ERR_INVALID;
}

static int message_decode(const struct rpc_codec *c, const uint8_t *data,
			  size_t len, bool request, CK_MECHANISM_TYPE pmech,
			  struct rpc_message *out)
{
	enum rpc_arg_type types[RPC_MAX_ARGS];
	struct reader r = reader_init(data, len);
	struct rpc_dctx d = { &out->arena, &c->limits, 0, c->offered,
			      !request };
	const char *sig;
	const uint8_t *wire_sig;
	size_t i, n, sig_len;
	int rc = TK_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	rpc_arena_init(&out->arena, c->limits.max_arena);
	if (rpc_get_u32(&r, &out->call_id))
		goto out;
	out->call = rpc_call_lookup(out->call_id);
	if (!out->call || (request && out->call_id == RPC_CALL_ERROR))
		goto out;
	sig = request ? out->call->request : out->call->response;
	if (rpc_get_array(&r, &wire_sig, &sig_len) || !wire_sig ||
	    sig_len != strlen(sig) || memcmp(wire_sig, sig, sig_len) != 0 ||
	    sig_types(sig, types, &n))
		goto out;
	for (i = 0; i < n; i++) {
		out->args[i].type = types[i];
		rc = arg_decode(&r, &d, pmech, &out->args[i]);
		if (rc)
			goto out;
		out->nargs = i + 1;
	}
	rc = reader_left(&r) ? TK_ERR_INVALID : 0;
out:
	if (rc)
		rpc_message_clear(out);
	return rc;
}

int rpc_request_decode(const struct rpc_codec *c, const uint8_t *data,
		       size_t len, struct rpc_message *out)
{
	if (!c || (!data && len) || !out)
		return TK_ERR_ARG;
	return message_decode(c, data, len, true, 0, out);
}

int rpc_response_decode(const struct rpc_codec *c, const uint8_t *data,
			size_t len, CK_MECHANISM_TYPE pmech,
			struct rpc_message *out)
{
	if (!c || (!data && len) || !out)
		return TK_ERR_ARG;
	return message_decode(c, data, len, false, pmech, out);
}

static int bytes_encode(struct buf *b, const struct rpc_arg *a)
{
	if (a->bytes.len > UINT32_MAX)
		return TK_ERR_ARG;
	if (!a->bytes.p && a->bytes.len) {
		buf_add_u8(b, 0);
		buf_add_u32be(b, (uint32_t)a->bytes.len);
		return 0;
	}
	buf_add_u8(b, 1);
	rpc_put_array(b, a->bytes.p, a->bytes.len);
	return 0;
}

static int ulongs_encode(struct buf *b, const struct rpc_arg *a)
{
	CK_ULONG i;

	if (a->ulongs.count > UINT32_MAX ||
	    (!a->ulongs.null && a->ulongs.count && !a->ulongs.v))
		return TK_ERR_ARG;
	buf_add_u8(b, a->ulongs.null ? 0 : 1);
	buf_add_u32be(b, (uint32_t)a->ulongs.count);
	for (i = 0; !a->ulongs.null && i < a->ulongs.count; i++)
		rpc_put_ulong(b, a->ulongs.v[i]);
	return 0;
}

static int arg_encode(struct buf *b, uint8_t offered, const struct rpc_arg *a)
{
	switch (a->type) {
	case RPC_ARG_BYTE:
		buf_add_u8(b, a->byte);
		return 0;
	case RPC_ARG_ULONG:
		rpc_put_ulong(b, a->ulong);
		return 0;
	case RPC_ARG_VERSION:
		buf_add_u8(b, a->version.major);
		buf_add_u8(b, a->version.minor);
		return 0;
	case RPC_ARG_ZSTRING:
	case RPC_ARG_SPACE:
		if (!a->bytes.p || a->bytes.len > RPC_MAX_ARRAY)
			return TK_ERR_ARG;
		rpc_put_array(b, a->bytes.p, a->bytes.len);
		return 0;
	case RPC_ARG_BYTES:
		return bytes_encode(b, a);
	case RPC_ARG_ULONGS:
		return ulongs_encode(b, a);
	case RPC_ARG_ATTRS:
		return rpc_attrs_encode(b, a->attrs.v, a->attrs.count);
	case RPC_ARG_ATTR_BUF:
		return rpc_attr_buffer_encode(b, offered, a->attrs.v,
					      a->attrs.count);
	case RPC_ARG_BYTE_BUF:
	case RPC_ARG_ULONG_BUF:
		if (a->room > UINT32_MAX)
			return TK_ERR_ARG;
		buf_add_u32be(b, (uint32_t)a->room);
		return 0;
	case RPC_ARG_MECH:
		return rpc_mech_encode(b, rpc_mech_encoding(offered), &a->mech);
	case RPC_ARG_MECH_UPDATE:
		return rpc_mech_update_encode(b, &a->update);
	}
	return TK_ERR_ARG;
}

static int message_encode(const struct rpc_codec *c, uint32_t call_id,
			  bool request, const struct rpc_arg *args,
			  size_t nargs, struct buf *out)
{
	enum rpc_arg_type types[RPC_MAX_ARGS];
	const struct rpc_call *call = rpc_call_lookup(call_id);
	const char *sig;
	size_t i, n, start;
	int rc = TK_ERR_ARG;

	if (!call || !out || (nargs && !args))
		return TK_ERR_ARG;
	sig = request ? call->request : call->response;
	if (!sig || sig_types(sig, types, &n) || n != nargs)
		return TK_ERR_ARG;
	start = out->len;
	buf_add_u32be(out, call_id);
	rpc_put_array(out, sig, strlen(sig));
	for (i = 0; i < n; i++) {
		if (args[i].type != types[i])
			goto out;
		rc = arg_encode(out, c->offered, &args[i]);
		if (rc)
			goto out;
	}
	rc = buf_failed(out) ? TK_ERR_NOMEM : 0;
out:
	if (rc && !buf_failed(out))
		out->len = start;
	return rc;
}

int rpc_request_encode(const struct rpc_codec *c, uint32_t call_id,
		       const struct rpc_arg *args, size_t nargs,
		       struct buf *out)
{
	if (!c || call_id == RPC_CALL_ERROR)
		return TK_ERR_ARG;
	return message_encode(c, call_id, true, args, nargs, out);
}

int rpc_response_encode(const struct rpc_codec *c, uint32_t call_id,
			const struct rpc_arg *args, size_t nargs,
			struct buf *out)
{
	if (!c)
		return TK_ERR_ARG;
	return message_encode(c, call_id, false, args, nargs, out);
}

int rpc_error_encode(CK_RV rv, struct buf *out)
{
	struct rpc_codec c;
	struct rpc_arg a = { .type = RPC_ARG_ULONG, .ulong = rv };

	/* p11-kit clients treat CKR_OK (or less) in an error reply as garbage
	 */
	if (rv == CKR_OK)
		return TK_ERR_ARG;
	rpc_codec_init(&c, 0);
	return message_encode(&c, RPC_CALL_ERROR, false, &a, 1, out);
}

int rpc_reply_encode(const struct rpc_codec *c, uint32_t call_id, CK_RV rv,
		     const struct rpc_arg *args, size_t nargs, struct buf *out)
{
	size_t start = out->len;
	int rc;

	if (rv == CKR_OK) {
		rc = rpc_response_encode(c, call_id, args, nargs, out);
		if (rc == 0 || buf_failed(out))
			return rc;
		out->len = start;
		rv = CKR_DEVICE_ERROR;
	}
	rc = rpc_error_encode(rv, out);
	return rc ? rc : (buf_failed(out) ? TK_ERR_NOMEM : 0);
}

#define ARG_U(v) ((struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = (v) })
#define ARG_V(v) ((struct rpc_arg){ .type = RPC_ARG_VERSION, .version = (v) })
#define ARG_S(s)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_SPACE,                              \
			   .bytes = { (s), sizeof(s), false } })

size_t rpc_args_info(const CK_INFO *i, struct rpc_arg *a)
{
	a[0] = ARG_V(i->cryptokiVersion);
	a[1] = ARG_S(i->manufacturerID);
	a[2] = ARG_U(i->flags);
	a[3] = ARG_S(i->libraryDescription);
	a[4] = ARG_V(i->libraryVersion);
	return 5;
}

size_t rpc_args_slot_info(const CK_SLOT_INFO *i, struct rpc_arg *a)
{
	a[0] = ARG_S(i->slotDescription);
	a[1] = ARG_S(i->manufacturerID);
	a[2] = ARG_U(i->flags);
	a[3] = ARG_V(i->hardwareVersion);
	a[4] = ARG_V(i->firmwareVersion);
	return 5;
}

size_t rpc_args_token_info(const CK_TOKEN_INFO *i, struct rpc_arg *a)
{
	a[0] = ARG_S(i->label);
	a[1] = ARG_S(i->manufacturerID);
	a[2] = ARG_S(i->model);
	a[3] = ARG_S(i->serialNumber);
	a[4] = ARG_U(i->flags);
	a[5] = ARG_U(i->ulMaxSessionCount);
	a[6] = ARG_U(i->ulSessionCount);
	a[7] = ARG_U(i->ulMaxRwSessionCount);
	a[8] = ARG_U(i->ulRwSessionCount);
	a[9] = ARG_U(i->ulMaxPinLen);
	a[10] = ARG_U(i->ulMinPinLen);
	a[11] = ARG_U(i->ulTotalPublicMemory);
	a[12] = ARG_U(i->ulFreePublicMemory);
	a[13] = ARG_U(i->ulTotalPrivateMemory);
	a[14] = ARG_U(i->ulFreePrivateMemory);
	a[15] = ARG_V(i->hardwareVersion);
	a[16] = ARG_V(i->firmwareVersion);
	a[17] = ARG_S(i->utcTime);
	return 18;
}

size_t rpc_args_mechanism_info(const CK_MECHANISM_INFO *i, struct rpc_arg *a)
{
	a[0] = ARG_U(i->ulMinKeySize);
	a[1] = ARG_U(i->ulMaxKeySize);
	a[2] = ARG_U(i->flags);
	return 3;
}

size_t rpc_args_session_info(const CK_SESSION_INFO *i, struct rpc_arg *a)
{
	a[0] = ARG_U(i->slotID);
	a[1] = ARG_U(i->state);
	a[2] = ARG_U(i->flags);
	a[3] = ARG_U(i->ulDeviceError);
	return 4;
}

/* CKA_TOKEN of a template argument; an argument we cannot read counts as
 * true (assume the worst), a template without it as dflt. */
static bool tmpl_token(const struct rpc_arg *a, bool dflt)
{
	const CK_ATTRIBUTE *t;
	CK_ULONG i;

	if (a->type != RPC_ARG_ATTRS)
		return true;
	for (i = 0; i < a->attrs.count; i++) {
		t = &a->attrs.v[i];
		if (t->type == CKA_TOKEN && t->pValue && t->ulValueLen >= 1)
			return *(const CK_BBOOL *)t->pValue != CK_FALSE;
	}
	return dflt;
}

enum rpc_write rpc_request_writes(const struct rpc_message *req)
{
	const struct rpc_call *call;

	if (!req || !(call = rpc_call_lookup(req->call_id)))
		return RPC_WRITE_NONE;
	if (call->write == RPC_WRITE_NONE || call->token_arg < 0 ||
	    (size_t)call->token_arg >= req->nargs ||
	    /* without CKA_TOKEN a copy is what its source is (a token
	       object, perhaps), and tokend generates token keys */
	    tmpl_token(&req->args[call->token_arg],
		       call->id == RPC_C_CopyObject ||
			   call->id == RPC_C_GenerateKey))
		return call->write;
	return RPC_WRITE_NONE;
}
