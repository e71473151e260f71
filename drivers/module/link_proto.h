/* What tokend and tokend-module-helper agree on: the socket is fd 3 in the
 * helper; tokend sends one version byte and the helper answers it once the
 * module is loaded; then p11-kit RPC frames (rpc_frame.h) whose call code is
 * tokend's request id, echoed in the reply, so replies come in any order.
 * Options are always empty. */
#ifndef TOKEND_MODULE_LINK_PROTO_H
#define TOKEND_MODULE_LINK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MLINK_HELPER_FD 3
#define MLINK_HELPER_NAME "tokend-module-helper"
/* Options + data of one frame, either way; checked before allocating. */
#define MLINK_MAX_FRAME ((size_t)4 << 20)
/* In a request's id: the next frame is chained to this one. The helper runs
 * it right after, on the same thread, only if this one answered CKR_OK
 * (else it answers CKR_OPERATION_NOT_INITIALIZED), and sends both replies
 * in one write: an operation's init and its call in one round trip. */
#define MLINK_ID_CHAIN 0x80000000u
/* In the id of the reply to C_Initialize: the module took
 * CKF_OS_LOCKING_OK, so the helper runs calls concurrently (different
 * sessions of a token may be busy at once). */
#define MLINK_ID_THREADED 0x40000000u
/* Worker threads in the helper (environment override). */
#define MLINK_ENV_WORKERS "TOKEND_HELPER_WORKERS"
#define MLINK_DEFAULT_WORKERS 8

/* A frame header without options. */
static inline void mlink_put_header(uint8_t *p, uint32_t id, size_t len)
{
	uint32_t v[3] = { id, 0, (uint32_t)len };

	for (int i = 0; i < 3; i++) {
		p[4 * i] = (uint8_t)(v[i] >> 24);
		p[4 * i + 1] = (uint8_t)(v[i] >> 16);
		p[4 * i + 2] = (uint8_t)(v[i] >> 8);
		p[4 * i + 3] = (uint8_t)v[i];
	}
}

#endif
