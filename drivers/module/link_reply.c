/* Reply bodies from the helper: decoded with the RPC codec, matched to the
 * request, and output arrays copied out by p11-kit's client rules. The
 * helper is a process we started, but it runs foreign code: its replies are
 * checked like any peer's. */
#include <string.h>

#include "error.h"
#include "link.h"

int mlink_reply_decode(const struct rpc_codec *c, uint32_t call_id,
		       const uint8_t *body, size_t len, CK_MECHANISM_TYPE pmech,
		       struct mlink_reply *r)
{
	struct rpc_message *m;

	if (!c || !r || (!body && len))
		return TK_ERR_ARG;
	m = &r->msg;
	if (rpc_response_decode(c, body, len, pmech, m) != 0)
		return TK_ERR_INVALID;
	if (m->call_id == RPC_CALL_ERROR) {
		r->rv = m->args[0].ulong;
		rpc_message_clear(m);
		/* An error reply saying "no error" is garbage. */
		return r->rv == CKR_OK ? TK_ERR_INVALID : 0;
	}
	if (m->call_id != call_id) {
		rpc_message_clear(m);
		return TK_ERR_INVALID;
	}
	r->rv = CKR_OK;
	/* "aAu": the attributes come with the call's own CK_RV. */
	if (call_id == RPC_C_GetAttributeValue)
		r->rv = m->args[1].ulong;
	return 0;
}

CK_RV mlink_out_bytes(const struct rpc_arg *a, CK_BYTE_PTR out, CK_ULONG *len)
{
	CK_ULONG room;

	if (!a || a->type != RPC_ARG_BYTES || !len)
		return CKR_DEVICE_ERROR;
	room = *len;
	*len = a->bytes.len;
	/* Only the length: a size, or the buffer was too small. */
	if (a->bytes.null || !a->bytes.p)
		return out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	if (!out)
		return CKR_OK;
	if (a->bytes.len > room)
		return CKR_BUFFER_TOO_SMALL;
	if (a->bytes.len)
		memcpy(out, a->bytes.p, a->bytes.len);
	return CKR_OK;
}

CK_RV mlink_out_ulongs(const struct rpc_arg *a, CK_ULONG_PTR out,
		       CK_ULONG *count)
{
	CK_ULONG room;

	if (!a || a->type != RPC_ARG_ULONGS || !count)
		return CKR_DEVICE_ERROR;
	room = *count;
	*count = a->ulongs.count;
	if (a->ulongs.null || (!a->ulongs.v && a->ulongs.count))
		return out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	if (!out)
		return CKR_OK;
	if (a->ulongs.count > room)
		return CKR_BUFFER_TOO_SMALL;
	if (a->ulongs.count)
		memcpy(out, a->ulongs.v, a->ulongs.count * sizeof(*out));
	return CKR_OK;
}
