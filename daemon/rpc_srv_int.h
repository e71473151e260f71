/* Private to the RPC server (rpc_server.c, rpc_srv_*.c): the connection's
 * state, one call in progress, and the helpers the handlers share.
 *
 * A handler reads the decoded request (c->req.args, in the signature's
 * order), calls the front end and fills c->out with the response's
 * arguments. It returns CKR_OK when c->out is the reply, or the CK_RV to
 * send as an error reply. Everything a handler allocates comes from the
 * request's arena (srv_alloc), freed and wiped with the message. */
#ifndef TOKEND_RPC_SRV_INT_H
#define TOKEND_RPC_SRV_INT_H

#include <pthread.h>

#include "frontend.h"
#include "rpc_server.h"

#define SRV_MAX_SHOWN 64
/* The one slot id a prefer= export shows (export.h says why one). */
#define SRV_PREFER_SLOT ((CK_SLOT_ID)0)

struct rpc_server {
	struct rpc_codec codec;
	struct rpc_policy policy;
	struct app *app;
	pthread_mutex_t lock;
	/* under lock: */
	bool initialized;
	/* C_OpenSession calls under way; the sessions themselves are the
	 * front end's (fe_session_count, fe_session_describe). */
	size_t opening;
	size_t inflight;
	/* Slots the client was shown (listed, or reported by a wait with a
	 * token the export shows): their token's removal is an event for it
	 * even when the export's filter hides the empty slot. */
	CK_SLOT_ID shown[SRV_MAX_SHOWN];
	size_t nshown;
	/* prefer=: the front end's slot whose token the export showed when
	 * the client last looked (C_Initialize, a wait); pick_none: none. */
	CK_SLOT_ID pick;
	bool pick_none;
};

struct srv_call {
	struct rpc_server *srv;
	struct rpc_message req;
	struct rpc_arg out[RPC_MAX_ARGS];
	size_t nout;
};

typedef CK_RV (*srv_handler)(struct srv_call *c);

/* ---- rpc_server.c: shared helpers ---- */

void *srv_alloc(struct srv_call *c, size_t n);
static inline CK_ULONG srv_u(const struct srv_call *c, size_t i)
{
	return c->req.args[i].ulong;
}
/* 'ay' argument i as a pointer and length (NULL for the NULL forms). */
CK_BYTE_PTR srv_bytes(const struct srv_call *c, size_t i, CK_ULONG *len);
/* 'M' argument i (NULL for the NULL mechanism). */
CK_MECHANISM_PTR srv_mech(struct srv_call *c, size_t i);

void srv_out_ulong(struct srv_call *c, CK_ULONG v);
/* p11-kit 0.25+ clients send 0xffffffff for a buffer of zero bytes, 0 for
 * no buffer at all. */
#define RPC_EMPTY_BUFFER 0xffffffffu
/* An 'fy' request argument as the buffer to hand the front end: NULL for a
 * size query, else the client's room clamped to limits.max_out. */
CK_RV srv_byte_buffer(struct srv_call *c, size_t i, CK_BYTE_PTR *p,
		      CK_ULONG *len);
/* An 'fu' request argument: NULL for a size query, else at most
 * max_out / sizeof(CK_ULONG) entries. */
CK_RV srv_ulong_buffer(struct srv_call *c, size_t i, CK_ULONG_PTR *p,
		       CK_ULONG *n);
/* The 'ay' / 'au' reply after a call that filled p / *len, as p11-kit's
 * server: CKR_BUFFER_TOO_SMALL or no buffer send only the length. Returns
 * rv for every other error. */
CK_RV srv_out_bytes(struct srv_call *c, CK_RV rv, const CK_BYTE *p,
		    CK_ULONG len);
CK_RV srv_out_ulongs(struct srv_call *c, CK_RV rv, const CK_ULONG *v,
		     CK_ULONG n);

/* Whether the export shows the slot's token (policy.shows_token). */
bool srv_slot_shown(struct rpc_server *srv, CK_SLOT_ID slot);
/* Records whether the client is shown slot now; returns whether it was. */
bool srv_slot_note(struct rpc_server *srv, CK_SLOT_ID slot, bool shown);
/* prefer=: records which token slot the export shows now; true when that
 * changed since the last record, or when slot (a front-end event's) is the
 * one shown before or now (its token was replaced): an event for the
 * client's one slot. */
bool srv_pick_event(struct rpc_server *srv, CK_SLOT_ID slot);

/* The slot id argument 0 names, as the front end's slot id. A plain
 * export passes it on (CKR_SLOT_ID_INVALID when hidden). A prefer= export
 * shows its client one slot, SRV_PREFER_SLOT, whatever token is behind
 * it: CKR_SLOT_ID_INVALID for any other id, CKR_TOKEN_NOT_PRESENT when
 * no preferred token is present. */
CK_RV srv_slot_arg(struct srv_call *c, CK_SLOT_ID *slot);
/* Closes every session of the client (rpc_srv_general.c). */
void srv_close_all(struct srv_call *c);

/* The session limit: room for one more of the app's sessions, or
 * CKR_SESSION_COUNT; then srv_session_opened when C_OpenSession ends. */
CK_RV srv_session_reserve(struct rpc_server *srv);
void srv_session_opened(struct rpc_server *srv);

/* Audit, from what the front end knows of the session (no mirror here). */
/* C_SetPIN's outcome (never its PINs). */
void srv_audit_set_pin(struct srv_call *c, CK_SESSION_HANDLE h, CK_RV rv);
void srv_audit_login(struct srv_call *c, CK_SESSION_HANDLE h, CK_USER_TYPE user,
		     bool server_pin, CK_RV rv);
/* Before C_Sign / C_SignFinal / C_Decrypt: the operation's key and
 * mechanism (false: not a session of this connection). */
bool srv_op_describe(struct srv_call *c, enum fe_op_kind op,
		     CK_SESSION_HANDLE h, struct fe_session_desc *d);
/* After it: audits once the operation has ended (not after a size query
 * or a short buffer), with what srv_op_describe read. */
void srv_op_end(struct srv_call *c, const struct fe_session_desc *d, bool known,
		CK_BYTE_PTR out, CK_RV rv);
void srv_audit_derive(struct srv_call *c, CK_SESSION_HANDLE h,
		      const CK_MECHANISM *mech, CK_OBJECT_HANDLE key, CK_RV rv);

/* ---- handlers: rpc_srv_general.c ---- */
CK_RV srv_C_Initialize(struct srv_call *c);
CK_RV srv_C_Finalize(struct srv_call *c);
CK_RV srv_C_GetInfo(struct srv_call *c);
CK_RV srv_C_GetSlotList(struct srv_call *c);
CK_RV srv_C_GetSlotInfo(struct srv_call *c);
CK_RV srv_C_GetTokenInfo(struct srv_call *c);
CK_RV srv_C_GetMechanismList(struct srv_call *c);
CK_RV srv_C_GetMechanismInfo(struct srv_call *c);
CK_RV srv_C_InitToken(struct srv_call *c);
CK_RV srv_C_InitToken2(struct srv_call *c);
CK_RV srv_C_WaitForSlotEvent(struct srv_call *c);
CK_RV srv_C_OpenSession(struct srv_call *c);
CK_RV srv_C_CloseSession(struct srv_call *c);
CK_RV srv_C_CloseAllSessions(struct srv_call *c);
CK_RV srv_C_GetSessionInfo(struct srv_call *c);
CK_RV srv_C_InitPIN(struct srv_call *c);
CK_RV srv_C_SetPIN(struct srv_call *c);
CK_RV srv_C_Login(struct srv_call *c);
CK_RV srv_C_LoginUser(struct srv_call *c);
CK_RV srv_C_Logout(struct srv_call *c);

/* ---- rpc_srv_object.c ---- */
CK_RV srv_C_CreateObject(struct srv_call *c);
CK_RV srv_C_DestroyObject(struct srv_call *c);
CK_RV srv_C_CopyObject(struct srv_call *c);
CK_RV srv_C_SetAttributeValue(struct srv_call *c);

CK_RV srv_C_GetObjectSize(struct srv_call *c);
CK_RV srv_C_GetAttributeValue(struct srv_call *c);
CK_RV srv_C_FindObjectsInit(struct srv_call *c);
CK_RV srv_C_FindObjects(struct srv_call *c);
CK_RV srv_C_FindObjectsFinal(struct srv_call *c);
CK_RV srv_C_GenerateKey(struct srv_call *c);
CK_RV srv_C_GenerateKeyPair(struct srv_call *c);
CK_RV srv_C_DeriveKey(struct srv_call *c);
CK_RV srv_C_DeriveKey2(struct srv_call *c);

/* ---- rpc_srv_crypto.c ---- */
CK_RV srv_C_EncryptInit(struct srv_call *c);
CK_RV srv_C_Encrypt(struct srv_call *c);
CK_RV srv_C_DecryptInit(struct srv_call *c);
CK_RV srv_C_Decrypt(struct srv_call *c);
CK_RV srv_C_EncryptUpdate(struct srv_call *c);
CK_RV srv_C_EncryptFinal(struct srv_call *c);
CK_RV srv_C_DecryptUpdate(struct srv_call *c);
CK_RV srv_C_DecryptFinal(struct srv_call *c);
CK_RV srv_C_DigestInit(struct srv_call *c);
CK_RV srv_C_Digest(struct srv_call *c);
CK_RV srv_C_DigestUpdate(struct srv_call *c);
CK_RV srv_C_DigestKey(struct srv_call *c);
CK_RV srv_C_DigestFinal(struct srv_call *c);
CK_RV srv_C_SignInit(struct srv_call *c);
CK_RV srv_C_Sign(struct srv_call *c);
CK_RV srv_C_SignUpdate(struct srv_call *c);
CK_RV srv_C_SignFinal(struct srv_call *c);
CK_RV srv_C_VerifyInit(struct srv_call *c);
CK_RV srv_C_Verify(struct srv_call *c);
CK_RV srv_C_VerifyUpdate(struct srv_call *c);
CK_RV srv_C_VerifyFinal(struct srv_call *c);
CK_RV srv_C_SeedRandom(struct srv_call *c);
CK_RV srv_C_GenerateRandom(struct srv_call *c);
CK_RV srv_C_WrapKey(struct srv_call *c);
CK_RV srv_C_UnwrapKey(struct srv_call *c);

#endif
