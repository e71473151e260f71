/* libFuzzer target for the p11-kit RPC codec (rpc/): the frame parser, the
 * request decoder and the write class the access policy reads off a decoded
 * request, as the server runs them, and the response decoder a client runs,
 * for every protocol version. */
#include <stddef.h>
#include <stdint.h>

#include "rpc_frame.h"
#include "rpc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t versions[] = { 0, 1, 2, 200 };
	struct rpc_codec c;
	struct rpc_message m;
	struct rpc_frame f;
	size_t used, i;

	for (i = 0; i < sizeof(versions); i++) {
		rpc_codec_init(&c, versions[i]);
		if (rpc_frame_parse(data, size, 0, &f, &used) == 0 &&
		    rpc_request_decode(&c, f.data, f.data_len, &m) == 0)
			rpc_message_clear(&m);
		/* the body alone, too, so the fuzzer need not build headers */
		if (rpc_request_decode(&c, data, size, &m) == 0) {
			(void)rpc_request_writes(&m); /* reads the template */
			rpc_message_clear(&m);
		}
		if (rpc_response_decode(&c, data, size, CKM_ECDH1_DERIVE, &m) ==
		    0)
			rpc_message_clear(&m);
	}
	return 0;
}
