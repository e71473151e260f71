/* The p11-kit RPC server core: the dispatch table, the per-connection state
 * (initialised or not, the sessions it opened, the calls in flight), the
 * output-buffer rules p11-kit's client relies on, the audit records and the
 * trace hook.
 * The handlers live in rpc_srv_general.c, rpc_srv_object.c and
 * rpc_srv_crypto.c. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "trace.h"
#include "rpc_srv_int.h"

/* ---- the dispatch table ---- */

enum { SRV_SESSION = 1 }; /* argument 0 is a session handle */

struct srv_entry {
	srv_handler fn; /* NULL: CKR_FUNCTION_NOT_SUPPORTED */
	unsigned flags;
};

#define H(name) [RPC_##name] = { srv_##name, 0 }
#define HS(name) [RPC_##name] = { srv_##name, SRV_SESSION }
#define NS(name) [RPC_##name] = { NULL, SRV_SESSION }

static const struct srv_entry table[RPC_CALL_COUNT] = {
	H(C_Initialize),
	H(C_Finalize),
	H(C_GetInfo),
	H(C_GetSlotList),
	H(C_GetSlotInfo),
	H(C_GetTokenInfo),
	H(C_GetMechanismList),
	H(C_GetMechanismInfo),
	H(C_InitToken),
	H(C_OpenSession),
	HS(C_CloseSession),
	H(C_CloseAllSessions),
	HS(C_GetSessionInfo),
	HS(C_InitPIN),
	HS(C_SetPIN),
	NS(C_GetOperationState),
	NS(C_SetOperationState),
	HS(C_Login),
	HS(C_Logout),
	HS(C_CreateObject),
	HS(C_CopyObject),
	HS(C_DestroyObject),
	HS(C_GetObjectSize),
	HS(C_GetAttributeValue),
	HS(C_SetAttributeValue),
	HS(C_FindObjectsInit),
	HS(C_FindObjects),
	HS(C_FindObjectsFinal),
	HS(C_EncryptInit),
	HS(C_Encrypt),
	HS(C_EncryptUpdate),
	HS(C_EncryptFinal),
	HS(C_DecryptInit),
	HS(C_Decrypt),
	HS(C_DecryptUpdate),
	HS(C_DecryptFinal),
	HS(C_DigestInit),
	HS(C_Digest),
	HS(C_DigestUpdate),
	HS(C_DigestKey),
	HS(C_DigestFinal),
	HS(C_SignInit),
	HS(C_Sign),
	HS(C_SignUpdate),
	HS(C_SignFinal),
	NS(C_SignRecoverInit),
	NS(C_SignRecover),
	HS(C_VerifyInit),
	HS(C_Verify),
	HS(C_VerifyUpdate),
	HS(C_VerifyFinal),
	NS(C_VerifyRecoverInit),
	NS(C_VerifyRecover),
	NS(C_DigestEncryptUpdate),
	NS(C_DecryptDigestUpdate),
	NS(C_SignEncryptUpdate),
	NS(C_DecryptVerifyUpdate),
	HS(C_GenerateKey),
	HS(C_GenerateKeyPair),
	HS(C_WrapKey),
	HS(C_UnwrapKey),
	HS(C_DeriveKey),
	HS(C_SeedRandom),
	HS(C_GenerateRandom),
	H(C_WaitForSlotEvent),
	HS(C_LoginUser),
	NS(C_SessionCancel),
	NS(C_MessageEncryptInit),
	NS(C_EncryptMessage),
	NS(C_EncryptMessageBegin),
	NS(C_EncryptMessageNext),
	NS(C_MessageEncryptFinal),
	NS(C_MessageDecryptInit),
	NS(C_DecryptMessage),
	NS(C_DecryptMessageBegin),
	NS(C_DecryptMessageNext),
	NS(C_MessageDecryptFinal),
	NS(C_MessageSignInit),
	NS(C_SignMessage),
	NS(C_SignMessageBegin),
	NS(C_SignMessageNext),
	NS(C_MessageSignFinal),
	NS(C_MessageVerifyInit),
	NS(C_VerifyMessage),
	NS(C_VerifyMessageBegin),
	NS(C_VerifyMessageNext),
	NS(C_MessageVerifyFinal),
	H(C_InitToken2),
	HS(C_DeriveKey2),
};

/* ---- life cycle ---- */

struct rpc_server *rpc_server_new(uint8_t offered,
				  const struct rpc_policy *policy,
				  struct app *app)
{
	struct rpc_server *srv;
	struct rpc_server_limits *l;

	if (!app)
		return NULL;
	if (!(srv = calloc(1, sizeof(*srv)))) {
		app_free(&app);
		return NULL;
	}
	rpc_codec_init(&srv->codec, offered);
	if (policy)
		srv->policy = *policy;
	l = &srv->policy.limits;
	if (!l->max_sessions)
		l->max_sessions = RPC_SERVER_DEFAULT_SESSIONS;
	if (!l->max_inflight)
		l->max_inflight = RPC_SERVER_DEFAULT_INFLIGHT;
	if (!l->max_out)
		l->max_out = RPC_SERVER_DEFAULT_OUT;
	if (l->max_attrs)
		srv->codec.limits.max_attrs = l->max_attrs;
	pthread_mutex_init(&srv->lock, NULL);
	srv->app = app;
	return srv;
}

void rpc_server_free(struct rpc_server **p)
{
	struct rpc_server *srv;

	if (!p || !(srv = *p))
		return;
	app_free(&srv->app);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	*p = NULL;
}

void rpc_server_cancel(struct rpc_server *srv)
{
	if (srv)
		app_wait_close(srv->app); /* later waits too */
}

/* ---- one request ---- */

static bool srv_enter(struct rpc_server *srv)
{
	bool ok;

	pthread_mutex_lock(&srv->lock);
	ok = srv->inflight < srv->policy.limits.max_inflight;
	if (ok)
		srv->inflight++;
	pthread_mutex_unlock(&srv->lock);
	return ok;
}

static void srv_leave(struct rpc_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->inflight--;
	pthread_mutex_unlock(&srv->lock);
}

/* prefer=: a session on a token the export stopped showing answers as
 * a session on a pulled card does (app.c): CKR_DEVICE_REMOVED once, and
 * the handle is gone (the app is logged out of that token with its last
 * session there). Checked when the session is used: a session idle for
 * the whole time another token was shown (a key plugged in and pulled
 * again with no call of it in between) goes on with the token it was
 * opened on, which is shown again. */
static CK_RV srv_session_hidden(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	struct fe_session_desc d;
	CK_RV rv;

	if (!srv->policy.picks_slot || c->req.nargs < 1 ||
	    c->req.args[0].type != RPC_ARG_ULONG)
		return CKR_OK;
	rv = fe_session_describe(srv->app, srv_u(c, 0), FE_OP_NONE,
				 CK_INVALID_HANDLE, &d);
	/* Its card left: the look dropped it, and this call says so. */
	if (rv == CKR_DEVICE_REMOVED)
		return rv;
	if (rv != CKR_OK || srv_slot_shown(srv, d.slot))
		return CKR_OK; /* the call answers for itself */
	(void)fe_C_CloseSession(srv->app, srv_u(c, 0));
	return CKR_DEVICE_REMOVED;
}

static CK_RV srv_dispatch(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	const struct srv_entry *e = &table[c->req.call_id];
	bool init;
	CK_RV rv;

	pthread_mutex_lock(&srv->lock);
	init = srv->initialized;
	pthread_mutex_unlock(&srv->lock);
	if (!init && c->req.call_id != RPC_C_Initialize)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((e->flags & SRV_SESSION) && c->req.call_id != RPC_C_CloseSession &&
	    (rv = srv_session_hidden(c)) != CKR_OK)
		return rv;
	/* The policy's own check first: it audits what it refuses. */
	if (srv->policy.check_call &&
	    (rv = srv->policy.check_call(srv->policy.ctx, c->req.call_id,
					 &c->req)) != CKR_OK)
		return rv;
	if (srv->policy.read_only &&
	    rpc_request_writes(&c->req) != RPC_WRITE_NONE)
		return CKR_TOKEN_WRITE_PROTECTED;
	if (!e->fn)
		return CKR_FUNCTION_NOT_SUPPORTED;
	return e->fn(c);
}

_Atomic unsigned rpc_server_tracing;

/* The call, timed and handed to the policy's tracer: only while someone
 * traces (rpc_server_tracing), so untraced calls pay one load. */
static CK_RV srv_run(struct srv_call *c)
{
	struct rpc_trace_call tc = { .req = &c->req };
	uint64_t t0;

	if (__builtin_expect(!rpc_server_tracing, 1) || !c->srv->policy.trace)
		return srv_dispatch(c);
	t0 = trace_now();
	tc.rv = srv_dispatch(c);
	tc.ns = trace_now() - t0;
	if (tc.rv != CKR_TOKEND_WOULD_BLOCK) {
		tc.out = c->out;
		tc.nout = c->nout;
		c->srv->policy.trace(c->srv->policy.ctx, &tc);
	}
	return tc.rv;
}

static int srv_reply(struct srv_call *c, CK_RV rv, struct buf *resp)
{
	return rpc_reply_encode(&c->srv->codec, c->req.call_id, rv, c->out,
				c->nout, resp);
}

int rpc_server_handle(struct rpc_server *srv, const uint8_t *req, size_t len,
		      struct buf *resp)
{
	struct srv_call *c;
	int rc;

	if (!srv || !resp || (!req && len))
		return TK_ERR_ARG;
	if (!srv_enter(srv))
		return TK_ERR_TOO_LARGE;
	if (!(c = calloc(1, sizeof(*c)))) {
		rc = TK_ERR_NOMEM;
		goto out;
	}
	c->srv = srv;
	rc = rpc_request_decode(&srv->codec, req, len, &c->req);
	if (rc == 0) {
		rc = srv_reply(c, srv_run(c), resp);
		rpc_message_clear(&c->req);
	}
	free(c);
out:
	srv_leave(srv);
	return rc;
}

/* ---- the fast path: calls answered from the cache ---- */

enum { FAST_NO = 0, FAST_SESSION, FAST_SLOT, FAST_NOLOCK };

/* The calls that need no card when the front end has what they read. A
 * search that would have to read the card answers CKR_TOKEND_WOULD_BLOCK
 * and runs on a worker. An operation's init only records it (op_begin):
 * one that came to need the token must answer the same under
 * fe_would_block(). Half of every single-part signature is its C_SignInit,
 * which so costs no hop to a worker thread. */
static const uint8_t fast_class[RPC_CALL_COUNT] = {
	[RPC_C_SignInit] = FAST_SESSION,
	[RPC_C_VerifyInit] = FAST_SESSION,
	[RPC_C_DecryptInit] = FAST_SESSION,
	[RPC_C_EncryptInit] = FAST_SESSION,
	[RPC_C_DigestInit] = FAST_SESSION,
	[RPC_C_GetInfo] = FAST_NOLOCK,
	[RPC_C_GetSlotInfo] = FAST_SLOT,
	[RPC_C_GetTokenInfo] = FAST_SLOT,
	[RPC_C_GetMechanismList] = FAST_SLOT,
	[RPC_C_GetMechanismInfo] = FAST_SLOT,
	[RPC_C_GetSessionInfo] = FAST_SESSION,
	[RPC_C_GetAttributeValue] = FAST_SESSION,
	[RPC_C_FindObjectsInit] = FAST_SESSION,
	[RPC_C_FindObjects] = FAST_SESSION,
	[RPC_C_FindObjectsFinal] = FAST_SESSION,
};

/* The request's call id without decoding it (the body starts with it). */
static uint32_t fast_peek(const uint8_t *req, size_t len)
{
	if (len < 4)
		return RPC_CALL_COUNT;
	return (uint32_t)req[0] << 24 | (uint32_t)req[1] << 16 |
	       (uint32_t)req[2] << 8 | req[3];
}

/* The front end's hold for the call, or false when its locks are busy. */
static bool fast_hold(struct srv_call *c, unsigned cls, struct fe_hold *hold)
{
	memset(hold, 0, sizeof(*hold));
	if (cls == FAST_NOLOCK)
		return true;
	if (c->req.nargs < 1 || c->req.args[0].type != RPC_ARG_ULONG)
		return false;
	if (cls == FAST_SESSION)
		return fe_try_session(c->srv->app, srv_u(c, 0), hold);
	return fe_try_slot(c->srv->app, srv_u(c, 0), hold);
}

int rpc_server_try(struct rpc_server *srv, const uint8_t *req, size_t len,
		   struct buf *resp)
{
	uint32_t id = fast_peek(req, len);
	struct fe_hold hold;
	struct srv_call *c;
	int rc = TK_ERR_WOULD_BLOCK;
	CK_RV rv;

	if (!srv || !resp || id >= RPC_CALL_COUNT || !fast_class[id] ||
	    srv->policy.picks_slot)
		return TK_ERR_WOULD_BLOCK;
	if (!srv_enter(srv))
		return TK_ERR_WOULD_BLOCK; /* the slow path says why */
	if (!(c = calloc(1, sizeof(*c))))
		goto out;
	c->srv = srv;
	/* A malformed request goes the slow way, which closes. */
	if (rpc_request_decode(&srv->codec, req, len, &c->req) != 0)
		goto out;
	/* An attribute read from the device (an attestation) is the front
	 * end's CKR_TOKEND_WOULD_BLOCK: the slow path then. */
	if (fast_hold(c, fast_class[id], &hold)) {
		rv = srv_run(c);
		fe_try_end(&hold);
		if (rv != CKR_TOKEND_WOULD_BLOCK)
			rc = srv_reply(c, rv, resp);
	}
	rpc_message_clear(&c->req);
out:
	free(c);
	srv_leave(srv);
	return rc;
}

/* ---- argument and reply helpers ---- */

void *srv_alloc(struct srv_call *c, size_t n)
{
	return rpc_arena_alloc(&c->req.arena, n ? n : 1);
}

CK_BYTE_PTR srv_bytes(const struct srv_call *c, size_t i, CK_ULONG *len)
{
	const struct rpc_arg *a = &c->req.args[i];

	if (a->bytes.null || !a->bytes.p) {
		*len = 0;
		return NULL;
	}
	*len = a->bytes.len;
	return (CK_BYTE_PTR)a->bytes.p;
}

CK_MECHANISM_PTR srv_mech(struct srv_call *c, size_t i)
{
	struct rpc_arg *a = &c->req.args[i];

	return a->mech.is_null ? NULL : &a->mech.mech;
}

void srv_out_ulong(struct srv_call *c, CK_ULONG v)
{
	c->out[c->nout++] =
	    (struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = v };
}

CK_RV srv_byte_buffer(struct srv_call *c, size_t i, CK_BYTE_PTR *p,
		      CK_ULONG *len)
{
	CK_ULONG room = c->req.args[i].room;

	*p = NULL;
	*len = 0;
	if (room == 0)
		return CKR_OK;
	if (room == RPC_EMPTY_BUFFER)
		room = 0;
	*len = room < c->srv->policy.limits.max_out
		   ? room
		   : c->srv->policy.limits.max_out;
	*p = srv_alloc(c, *len);
	return *p ? CKR_OK : CKR_DEVICE_MEMORY;
}

CK_RV srv_ulong_buffer(struct srv_call *c, size_t i, CK_ULONG_PTR *p,
		       CK_ULONG *n)
{
	CK_ULONG room = c->req.args[i].room;
	CK_ULONG max = c->srv->policy.limits.max_out / sizeof(CK_ULONG);

	*p = NULL;
	*n = 0;
	if (room == 0)
		return CKR_OK;
	*n = room < max ? room : max;
	*p = srv_alloc(c, *n * sizeof(CK_ULONG));
	return *p ? CKR_OK : CKR_DEVICE_MEMORY;
}

CK_RV srv_out_bytes(struct srv_call *c, CK_RV rv, const CK_BYTE *p,
		    CK_ULONG len)
{
	struct rpc_arg *a = &c->out[c->nout];

	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	*a = (struct rpc_arg){ .type = RPC_ARG_BYTES };
	if (rv == CKR_BUFFER_TOO_SMALL || !p) {
		a->bytes.p = NULL; /* only the length: size or too small */
		a->bytes.null = true;
	} else {
		a->bytes.p = p;
	}
	a->bytes.len = len;
	c->nout++;
	return CKR_OK;
}

CK_RV srv_out_ulongs(struct srv_call *c, CK_RV rv, const CK_ULONG *v,
		     CK_ULONG n)
{
	struct rpc_arg *a = &c->out[c->nout];

	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	*a = (struct rpc_arg){ .type = RPC_ARG_ULONGS };
	a->ulongs.null = rv == CKR_BUFFER_TOO_SMALL || !v;
	a->ulongs.v = a->ulongs.null ? NULL : v;
	a->ulongs.count = n;
	c->nout++;
	return CKR_OK;
}

bool srv_slot_note(struct rpc_server *srv, CK_SLOT_ID slot, bool shown)
{
	bool was = false;
	size_t i;

	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < srv->nshown && !was; i++)
		was = srv->shown[i] == slot;
	if (was && !shown)
		srv->shown[i - 1] = srv->shown[--srv->nshown];
	else if (!was && shown && srv->nshown < SRV_MAX_SHOWN)
		srv->shown[srv->nshown++] = slot;
	pthread_mutex_unlock(&srv->lock);
	return was;
}

bool srv_pick_event(struct rpc_server *srv, CK_SLOT_ID slot)
{
	CK_SLOT_ID now = 0;
	bool none, ours;

	if (!srv->policy.picks_slot)
		return false;
	none = !srv->policy.picks_slot(srv->policy.ctx, srv->app, &now);
	pthread_mutex_lock(&srv->lock);
	ours = none != srv->pick_none || (!none && now != srv->pick) ||
	       (!none && slot == now) || (!srv->pick_none && slot == srv->pick);
	srv->pick = none ? srv->pick : now;
	srv->pick_none = none;
	pthread_mutex_unlock(&srv->lock);
	return ours;
}

CK_RV srv_slot_arg(struct srv_call *c, CK_SLOT_ID *slot)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID id = srv_u(c, 0);

	if (!srv->policy.picks_slot) {
		*slot = id;
		return srv_slot_shown(srv, id) ? CKR_OK : CKR_SLOT_ID_INVALID;
	}
	if (id != SRV_PREFER_SLOT)
		return CKR_SLOT_ID_INVALID;
	return srv->policy.picks_slot(srv->policy.ctx, srv->app, slot)
		   ? CKR_OK
		   : CKR_TOKEN_NOT_PRESENT;
}

bool srv_slot_shown(struct rpc_server *srv, CK_SLOT_ID slot)
{
	CK_SLOT_ID picked = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (srv->policy.picks_slot) /* prefer= excludes a token filter */
		return srv->policy.picks_slot(srv->policy.ctx, srv->app,
					      &picked) &&
		       picked == slot;
	if (!srv->policy.shows_token)
		return true;
	rv = fe_C_GetTokenInfo(srv->app, slot, &ti);
	if (rv == CKR_OK)
		return srv->policy.shows_token(srv->policy.ctx, &ti);
	if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED)
		return srv->policy.shows_token(srv->policy.ctx, NULL);
	return false;
}

/* For status displays (the control socket): the client's application. */
struct app *rpc_server_app(struct rpc_server *srv)
{
	return srv->app;
}
