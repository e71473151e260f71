/* The p11-kit RPC server: one request body in, one response body out, for
 * one client connection. It decodes the request with the tk_rpc codec, runs
 * the call on the connection's application context (pkcs11/frontend.h) under
 * the export's policy, and encodes the reply the way p11-kit's own server
 * does, so a stock p11-kit-client.so (0.24 .. 0.26) understands it.
 *
 * Knows nothing of sockets: the connection layer reads frames, hands each
 * frame's data to rpc_server_handle() and writes the body it gets back in a
 * frame carrying the request's call code. */
#ifndef TOKEND_RPC_SERVER_H
#define TOKEND_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rpc_msg.h"

struct app;
struct rpc_server;

enum rpc_audit_kind {
	RPC_AUDIT_LOGIN,   /* C_Login, C_LoginUser */
	RPC_AUDIT_KEY_USE, /* C_Sign, C_SignFinal, C_Decrypt, C_DeriveKey(2) */
	RPC_AUDIT_SET_PIN, /* C_SetPIN (PIN, PUK, unblock) */
};

/* One audit record. Pointers are valid during the callback only. Never
 * carries a PIN. */
struct rpc_audit_event {
	enum rpc_audit_kind kind;
	const char *call;       /* "C_Login", "C_Sign", ... */
	const char *op;         /* the call's audit name: "sign", ... */
	CK_SLOT_ID slot;        /* CK_UNAVAILABLE_INFORMATION: unknown */
	const char *serial;     /* token serial, trimmed; "" unknown */
	CK_USER_TYPE user;      /* LOGIN */
	bool server_pin;        /* LOGIN: NULL PIN, the export's PIN used */
	CK_MECHANISM_TYPE mech; /* KEY_USE; CK_UNAVAILABLE_INFORMATION */
	const uint8_t *key_id;  /* KEY_USE: CKA_ID of the key, may be NULL */
	size_t key_id_len;
	const char *key_label; /* KEY_USE: CKA_LABEL, "" unknown */
	CK_RV rv;              /* the call's result */
};

/* One traced call: the decoded request, the reply's arguments (valid when
 * rv is CKR_OK), the result and how long the call took. Pointers are valid
 * during the callback only. */
struct rpc_trace_call {
	const struct rpc_message *req;
	const struct rpc_arg *out;
	size_t nout;
	CK_RV rv;
	uint64_t ns;
};

/* Per-connection limits (from the daemon's config). 0 picks the default. */
struct rpc_server_limits {
	size_t max_sessions; /* open sessions; beyond: CKR_SESSION_COUNT (64) */
	size_t max_inflight; /* concurrent calls; beyond: close (16) */
	size_t max_out;      /* bytes one output buffer may take (64 KiB) */
	size_t max_attrs;    /* attributes per message (codec default) */
};

#define RPC_SERVER_DEFAULT_SESSIONS 64
#define RPC_SERVER_DEFAULT_INFLIGHT 16
#define RPC_SERVER_DEFAULT_OUT ((size_t)64 << 10)

/* Filled by the daemon from the export. Every callback is optional and may
 * be called from several threads at once. */
struct rpc_policy {
	void *ctx;
	/* read-only export: calls that would change a token
	 * (rpc_request_writes) are refused with CKR_TOKEN_WRITE_PROTECTED, and
	 * tokens show CKF_WRITE_PROTECTED. */
	bool read_only;
	/* Further per-call policy: CKR_OK allows, anything else is the reply.
	 */
	CK_RV(*check_call)
	(void *ctx, uint32_t call_id, const struct rpc_message *req);
	/* The export's token filter. ti is NULL for a slot without a token.
	 * Slots whose token is not shown are not listed, and calls naming
	 * them answer CKR_SLOT_ID_INVALID. NULL: every token is shown. */
	bool (*shows_token)(void *ctx, const CK_TOKEN_INFO *ti);
	/* The fallback export (prefer=): sets *slot to the front end's slot
	 * whose token the export shows now and returns true, or false when
	 * none. When set, the client sees one slot, id 0, always listed,
	 * with that token in it (export.h says why); a session on another
	 * token answers its next call CKR_DEVICE_REMOVED and is closed, as
	 * if its card had left; a blocked C_WaitForSlotEvent answers 0 when
	 * the token shown changes; and no call takes rpc_server_try's fast
	 * path (picking reads every token, which the locks a fast call holds
	 * would not allow). NULL: no such export. */
	bool (*picks_slot)(void *ctx, struct app *app, CK_SLOT_ID *slot);
	/* One call per login attempt, PIN change and private-key operation. */
	void (*audit)(void *ctx, const struct rpc_audit_event *ev);
	/* Every call, timed, while rpc_server_tracing is not 0. */
	void (*trace)(void *ctx, const struct rpc_trace_call *tc);
	struct rpc_server_limits limits;
};

/* How many tracers there are (the daemon's control socket counts them):
 * with 0, calls are neither timed nor handed to policy.trace. */
extern _Atomic unsigned rpc_server_tracing;

/* offered: the version byte the client sent in the handshake (it picks the
 * mechanism encoding). The policy is copied. Takes ownership of app (with
 * whatever PIN provider the daemon set on it): rpc_server_free() frees it,
 * closing every session the client left and logging it out. Returns NULL
 * when out of memory (app is then freed too). */
struct rpc_server *rpc_server_new(uint8_t offered,
				  const struct rpc_policy *policy,
				  struct app *app);
void rpc_server_free(struct rpc_server **p);
/* Wakes the connection's blocked C_WaitForSlotEvent requests (they answer
 * CKR_CRYPTOKI_NOT_INITIALIZED) without waiting for them, and makes every
 * later one answer so at once: call it when the connection closes, before
 * waiting for its requests. NULL is fine. */
void rpc_server_cancel(struct rpc_server *srv);

/* Decodes the request body req[0..len), runs the call and appends the
 * response body to resp. Returns 0 when a reply was produced (PKCS#11 errors
 * are replies), or a negative TK_ERR_* when the connection must be closed:
 * TK_ERR_INVALID (malformed or unknown call), TK_ERR_TOO_LARGE (a limit),
 * TK_ERR_NOMEM. Thread-safe: calls on one connection may run concurrently
 * (a slow call does not hold up the others). C_WaitForSlotEvent never
 * waits, whatever its flags: CKR_NO_EVENT when there is none, and the
 * caller waits for the next event (daemon/conn.c parks it). */
int rpc_server_handle(struct rpc_server *srv, const uint8_t *req, size_t len,
		      struct buf *resp);

/* Like rpc_server_handle(), for a thread that must not wait (the event
 * loop): runs the request only when it is one of the calls answered from
 * what the front end has cached (C_GetAttributeValue without an
 * attestation, C_FindObjects*, C_GetSessionInfo, C_GetInfo, C_GetSlotInfo,
 * C_GetTokenInfo, C_GetMechanismList/Info) and the locks it needs are free.
 * Returns 0 with the reply appended to resp, TK_ERR_WOULD_BLOCK having
 * done nothing (resp unchanged: run it with rpc_server_handle() where
 * waiting is fine), or an error as rpc_server_handle() does. */
int rpc_server_try(struct rpc_server *srv, const uint8_t *req, size_t len,
		   struct buf *resp);

/* The connection's application context (for read-only status). */
struct app *rpc_server_app(struct rpc_server *srv);

#endif
