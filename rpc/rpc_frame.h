/* p11-kit RPC transport: the one-byte version handshake and the frame
 * (12-byte header of three big-endian u32: call code, options length, data
 * length; then options; then data). Pure functions over byte buffers, so a
 * non-blocking event loop can feed them whatever it has read so far. */
#ifndef TOKEND_RPC_FRAME_H
#define TOKEND_RPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Highest protocol version we speak: 0 = p11-kit 0.24, 1 = 0.25.0-0.25.5,
 * 2 = 0.25.6 and later. */
#define RPC_PROTOCOL_MAX 2
#define RPC_FRAME_HEADER_LEN 12
#define RPC_FRAME_DEFAULT_MAX ((size_t)1 << 20) /* options + data */

/* rpc_frame_parse() result besides 0 (complete) and negative TK_ERR_*. */
#define RPC_FRAME_NEED_MORE 1

struct rpc_frame {
	uint32_t call_code; /* opaque to us, echoed in the reply */
	const uint8_t *options;
	size_t options_len;
	const uint8_t *data;
	size_t data_len;
};

/* The byte we answer to a client that offered `offered`: min(offered, 2).
 * Every value is acceptable; a client offering 200 gets 2. */
uint8_t rpc_handshake_answer(uint8_t offered);

/* Parses one frame from the front of p[0..len). Returns 0 with *out filled
 * (pointers into p) and *consumed = frame size; RPC_FRAME_NEED_MORE with
 * *consumed = the total bytes needed so far (12 until the header is in);
 * TK_ERR_TOO_LARGE when options + data exceed max (0: the default);
 * TK_ERR_ARG on NULL arguments. Nothing is allocated. */
int rpc_frame_parse(const uint8_t *p, size_t len, size_t max,
		    struct rpc_frame *out, size_t *consumed);

/* Appends a frame to b (check buf_failed() or the return value). */
int rpc_frame_write(struct buf *b, uint32_t call_code, const void *options,
		    size_t options_len, const void *data, size_t data_len);

#endif
