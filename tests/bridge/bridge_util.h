/* Shared by the bridge tests: PKCS#11 calls over a module link, with the
 * request arguments built inline. */
#ifndef TOKEND_TESTS_BRIDGE_UTIL_H
#define TOKEND_TESTS_BRIDGE_UTIL_H

#include <time.h>

#include "link.h"

/* What call() answers when the link, not the module, failed. */
#define LINK_FAILED ((CK_RV)(CKR_VENDOR_DEFINED | 0x4c4e4bUL))

#define U(v) ((struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = (v) })
#define Y(v) ((struct rpc_arg){ .type = RPC_ARG_BYTE, .byte = (v) })
#define AY(p, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_BYTES,                              \
			   .bytes = { (const CK_BYTE *)(p), (n), false } })
#define FY(n) ((struct rpc_arg){ .type = RPC_ARG_BYTE_BUF, .room = (n) })
#define FU(n) ((struct rpc_arg){ .type = RPC_ARG_ULONG_BUF, .room = (n) })
#define AA(t, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_ATTRS, .attrs = { (t), (n) } })
#define FA(t, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_ATTR_BUF, .attrs = { (t), (n) } })
#define MECH(t)                                                                \
	((struct rpc_arg){ .type = RPC_ARG_MECH,                               \
			   .mech = { false, { (t), NULL, 0 } } })
#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* The module's CK_RV, or LINK_FAILED (r->fail says why). r is cleared
 * first; the caller clears it after. */
static inline CK_RV call(struct mlink *l, uint32_t id, const struct rpc_arg *a,
			 size_t n, struct mlink_reply *r)
{
	int rc = mlink_call(l, id, a, n, 0, r);

	return rc ? LINK_FAILED : r->rv;
}

/* The same, with the reply thrown away. */
static inline CK_RV call0(struct mlink *l, uint32_t id, const struct rpc_arg *a,
			  size_t n)
{
	struct mlink_reply r;
	CK_RV rv = call(l, id, a, n, &r);

	mlink_reply_clear(&r);
	return rv;
}

static inline double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#endif
