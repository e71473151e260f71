/* A connection's calls for tokenctl trace: the RPC server's decoded
 * request and reply (rpc_server.h) as trace arguments (pkcs11/trace.h),
 * posted to the tracers of the connection's export or of the connection
 * (control.h). Runs on the call's worker only while someone traces. */
#include <stdio.h>

#include "conn.h"
#include "control_watch.h"
#include "rpc_server.h"
#include "trace.h"

/* One RPC argument as a trace argument. */
static struct trace_arg conn_trace_arg(const struct rpc_arg *a)
{
	switch (a->type) {
	case RPC_ARG_BYTE:
		return (struct trace_arg){ TRACE_BYTE, a->byte, NULL };
	case RPC_ARG_ULONG:
		return (struct trace_arg){ TRACE_ULONG, a->ulong, NULL };
	case RPC_ARG_ZSTRING:
	case RPC_ARG_SPACE:
		return (struct trace_arg){ TRACE_STRING, a->bytes.len,
					   a->bytes.p };
	case RPC_ARG_VERSION:
		return (struct trace_arg){ TRACE_VERSION,
					   (CK_ULONG)a->version.major << 8 |
					       a->version.minor,
					   NULL };
	case RPC_ARG_BYTES:
		return (struct trace_arg){ TRACE_BYTES, a->bytes.len,
					   a->bytes.null ? NULL : a->bytes.p };
	case RPC_ARG_ULONGS:
		return (struct trace_arg){ TRACE_ULONGS, a->ulongs.count,
					   a->ulongs.null ? NULL
							  : a->ulongs.v };
	case RPC_ARG_ATTRS:
	case RPC_ARG_ATTR_BUF: /* pValue NULL: shown as the room */
		return (struct trace_arg){ TRACE_ATTRS, a->attrs.count,
					   a->attrs.v };
	case RPC_ARG_BYTE_BUF:
	case RPC_ARG_ULONG_BUF:
		return (struct trace_arg){ TRACE_ROOM, a->room, NULL };
	case RPC_ARG_MECH:
		return (struct trace_arg){ TRACE_MECH, 0,
					   a->mech.is_null ? NULL
							   : &a->mech.mech };
	case RPC_ARG_MECH_UPDATE:
		return (struct trace_arg){ TRACE_MECH, 0, &a->update };
	}
	return (struct trace_arg){ TRACE_ROOM, 0, NULL };
}

struct conn_trace_ctx {
	const struct conn *c;
	const struct rpc_trace_call *tc;
};

static void conn_trace_format(struct buf *b, bool json, void *ctx)
{
	const struct conn_trace_ctx *x = ctx;
	const struct rpc_trace_call *tc = x->tc;
	const struct conn *c = x->c;
	struct trace_arg in[RPC_MAX_ARGS], out[RPC_MAX_ARGS];
	char who[96], who_json[96];
	struct trace_call call = {
		.name = tc->req->call ? tc->req->call->name : "?",
		.who = who,
		.who_json = who_json,
		.in = in,
		.nin = tc->req->nargs,
		.out = out,
		.nout = tc->nout,
		.rv = tc->rv,
		.ns = tc->ns,
	};

	snprintf(who, sizeof(who), "conn %llu pid %d",
		 (unsigned long long)c->id, (int)c->peer.pid);
	snprintf(
	    who_json, sizeof(who_json), "\"conn\":%llu,\"uid\":%u,\"pid\":%d",
	    (unsigned long long)c->id, (unsigned)c->peer.uid, (int)c->peer.pid);
	for (size_t i = 0; i < tc->req->nargs && i < RPC_MAX_ARGS; i++)
		in[i] = conn_trace_arg(&tc->req->args[i]);
	for (size_t i = 0; i < tc->nout && i < RPC_MAX_ARGS; i++)
		out[i] = conn_trace_arg(&tc->out[i]);
	trace_format(b, json, &call);
}

void conn_trace_call(void *ctx, const struct rpc_trace_call *tc)
{
	struct conn *c = ctx;
	struct conn_trace_ctx x = { c, tc };

	control_trace(c->conf->name, c->id, conn_trace_format, &x);
}
