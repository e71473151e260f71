/* libFuzzer target for the module link's reply path (drivers/module): the
 * bytes after the first are what a helper wrote back, split into frames as
 * the link's reader does (capped at MLINK_MAX_FRAME), each body decoded as
 * the reply to the call the first byte names, and its output arrays copied
 * out by p11-kit's client rules into buffers too small and large enough. */
#include <stddef.h>
#include <stdint.h>

#include "link.h"
#include "link_proto.h"
#include "rpc_frame.h"

static void copy_out(const struct rpc_message *m)
{
	CK_BYTE bytes[64];
	CK_ULONG ulongs[8], n;

	for (size_t i = 0; i < m->nargs; i++) {
		const struct rpc_arg *a = &m->args[i];

		n = sizeof(bytes);
		(void)mlink_out_bytes(a, bytes, &n);
		n = 0;
		(void)mlink_out_bytes(a, NULL, &n);
		n = 8;
		(void)mlink_out_ulongs(a, ulongs, &n);
		n = 1;
		(void)mlink_out_ulongs(a, ulongs, &n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlink_reply r;
	struct rpc_codec c;
	struct rpc_frame f;
	uint32_t call_id;
	size_t used;

	if (size < 1)
		return 0;
	call_id = 1 + data[0] % (RPC_CALL_COUNT - 1);
	data++;
	size--;
	rpc_codec_init(&c, RPC_PROTOCOL_MAX);
	while (size &&
	       rpc_frame_parse(data, size, MLINK_MAX_FRAME, &f, &used) == 0) {
		r = (struct mlink_reply){ 0 };
		if (mlink_reply_decode(&c, call_id, f.data, f.data_len,
				       CKM_ECDH1_DERIVE, &r) == 0)
			copy_out(&r.msg);
		mlink_reply_clear(&r);
		data += used;
		size -= used;
	}
	return 0;
}
