/* p11-kit RPC message bodies: u32 call id, the call's signature as a byte
 * array, then the arguments the signature lists (rpc_calls.h). Decoding
 * checks every argument against the signature, copies every value into the
 * message's arena (so the input may be freed) and enforces rpc_limits; it
 * returns 0 or a negative TK_ERR_*. CK_RV values are only ever data here. */
#ifndef TOKEND_RPC_MSG_H
#define TOKEND_RPC_MSG_H

#include "rpc_attr.h"
#include "rpc_calls.h"
#include "rpc_mech.h"
#include "rpc_wire.h"

#define RPC_MAX_ARGS 18 /* C_GetTokenInfo's response */

enum rpc_arg_type {
	RPC_ARG_BYTE,        /* y */
	RPC_ARG_ULONG,       /* u */
	RPC_ARG_ZSTRING,     /* z */
	RPC_ARG_SPACE,       /* s */
	RPC_ARG_VERSION,     /* v */
	RPC_ARG_BYTES,       /* ay */
	RPC_ARG_ULONGS,      /* au */
	RPC_ARG_ATTRS,       /* aA */
	RPC_ARG_BYTE_BUF,    /* fy */
	RPC_ARG_ULONG_BUF,   /* fu */
	RPC_ARG_ATTR_BUF,    /* fA */
	RPC_ARG_MECH,        /* M */
	RPC_ARG_MECH_UPDATE, /* P */
};

struct rpc_arg {
	enum rpc_arg_type type;
	union {
		CK_BYTE byte;
		CK_ULONG ulong;
		CK_VERSION version;
		/* ay, z, s. For ay, null = the "length only" form (no buffer
		 * on the sender's side; len is its size) or a NULL array. z
		 * is NUL-terminated in the arena. */
		struct {
			const CK_BYTE *p;
			CK_ULONG len;
			bool null;
		} bytes;
		/* au; null as for ay */
		struct {
			const CK_ULONG *v;
			CK_ULONG count;
			bool null;
		} ulongs;
		/* aA, fA (fA: pValue NULL, ulValueLen = room) */
		struct {
			CK_ATTRIBUTE *v;
			CK_ULONG count;
		} attrs;
		/* fy: bytes of room, fu: ulongs of room. Never allocated by
		 * the codec; a server must clamp what it allocates. */
		CK_ULONG room;
		struct rpc_mech mech; /* M */
		/* P: mechanism type; parameter present iff pParameter */
		CK_MECHANISM update;
	};
};

struct rpc_codec {
	uint8_t offered; /* the version byte the client sent (a client: ours) */
	struct rpc_limits limits;
};

struct rpc_message {
	uint32_t call_id; /* RPC_CALL_ERROR for an error response */
	const struct rpc_call *call;
	size_t nargs;
	struct rpc_arg args[RPC_MAX_ARGS];
	struct rpc_arena arena; /* owns everything the args point to */
};

/* Default limits, for a client that offered `offered`. */
void rpc_codec_init(struct rpc_codec *c, uint8_t offered);

int rpc_request_decode(const struct rpc_codec *c, const uint8_t *data,
		       size_t len, struct rpc_message *out);
/* pmech: the mechanism of the request, for a 'P' argument. */
int rpc_response_decode(const struct rpc_codec *c, const uint8_t *data,
			size_t len, CK_MECHANISM_TYPE pmech,
			struct rpc_message *out);
/* The args must match the call's signature in number and type. */
int rpc_request_encode(const struct rpc_codec *c, uint32_t call_id,
		       const struct rpc_arg *args, size_t nargs,
		       struct buf *out);
int rpc_response_encode(const struct rpc_codec *c, uint32_t call_id,
			const struct rpc_arg *args, size_t nargs,
			struct buf *out);
/* The error reply: call id 0, signature "u", the CK_RV. */
int rpc_error_encode(CK_RV rv, struct buf *out);
/* A server's answer to call_id: with rv CKR_OK the reply arguments, else
 * (or when a value cannot go on the wire, e.g. a length over 32 bits for
 * an old peer: then CKR_DEVICE_ERROR, the connection stays) the error
 * reply. Nonzero only when out could not grow. */
int rpc_reply_encode(const struct rpc_codec *c, uint32_t call_id, CK_RV rv,
		     const struct rpc_arg *args, size_t nargs, struct buf *out);
/* Frees and wipes the arena; the message can be reused. */
void rpc_message_clear(struct rpc_message *m);

/* What the decoded request would change on a token: its call's write class
 * (rpc_calls.h), or RPC_WRITE_NONE when the call reads, or creates only a
 * session object (its template has CKA_TOKEN false or none). A template that
 * is missing or not an 'aA' counts as a token object. */
enum rpc_write rpc_request_writes(const struct rpc_message *req);

/* Fill args for the info structures' responses; return the count. */
size_t rpc_args_info(const CK_INFO *i, struct rpc_arg *args);
size_t rpc_args_slot_info(const CK_SLOT_INFO *i, struct rpc_arg *args);
size_t rpc_args_token_info(const CK_TOKEN_INFO *i, struct rpc_arg *args);
size_t rpc_args_mechanism_info(const CK_MECHANISM_INFO *i,
			       struct rpc_arg *args);
size_t rpc_args_session_info(const CK_SESSION_INFO *i, struct rpc_arg *args);

#endif
