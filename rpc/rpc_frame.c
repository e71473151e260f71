#include "rpc_frame.h"

#include "error.h"
#include "reader.h"

uint8_t rpc_handshake_answer(uint8_t offered)
{
	return offered < RPC_PROTOCOL_MAX ? offered : RPC_PROTOCOL_MAX;
}

int rpc_frame_parse(const uint8_t *p, size_t len, size_t max,
		    struct rpc_frame *out, size_t *consumed)
{
	struct reader r;
	uint32_t code, olen, dlen;
	size_t body, total;

	if ((!p && len) || !out || !consumed)
		return TK_ERR_ARG;
	if (!max)
		max = RPC_FRAME_DEFAULT_MAX;
	*consumed = RPC_FRAME_HEADER_LEN;
	if (len < RPC_FRAME_HEADER_LEN)
		return RPC_FRAME_NEED_MORE;
	r = reader_init(p, len);
	if (reader_get_u32be(&r, &code) || reader_get_u32be(&r, &olen) ||
	    reader_get_u32be(&r, &dlen))
		return TK_ERR_INVALID;
	/* Cap before anyone sizes a buffer from the peer's lengths. */
	if (olen > max || dlen > max - olen)
		return TK_ERR_TOO_LARGE;
	body = (size_t)olen + dlen;
	if (__builtin_add_overflow(body, RPC_FRAME_HEADER_LEN, &total))
		return TK_ERR_TOO_LARGE;
	*consumed = total;
	if (body > reader_left(&r))
		return RPC_FRAME_NEED_MORE;
	out->call_code = code;
	out->options_len = olen;
	out->data_len = dlen;
	if (reader_get_ref(&r, olen, &out->options) ||
	    reader_get_ref(&r, dlen, &out->data))
		return TK_ERR_INVALID;
	return 0;
}

int rpc_frame_write(struct buf *b, uint32_t call_code, const void *options,
		    size_t options_len, const void *data, size_t data_len)
{
	if (!b || (!options && options_len) || (!data && data_len) ||
	    options_len > UINT32_MAX || data_len > UINT32_MAX)
		return TK_ERR_ARG;
	buf_add_u32be(b, call_code);
	buf_add_u32be(b, (uint32_t)options_len);
	buf_add_u32be(b, (uint32_t)data_len);
	if (options_len)
		buf_add(b, options, options_len);
	if (data_len)
		buf_add(b, data, data_len);
	return buf_failed(b) ? TK_ERR_NOMEM : 0;
}
