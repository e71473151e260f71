/* The RPC server's per-connection bookkeeping: the session limit and the
 * audit records. The sessions are the front end's: the limit counts them
 * (fe_session_count) and the audit reads slot, serial, key and mechanism
 * from it (fe_session_describe); nothing here mirrors them. */
#include <string.h>

#include "rpc_srv_int.h"

/* Makes room for one more session, or CKR_SESSION_COUNT. */
CK_RV srv_session_reserve(struct rpc_server *srv)
{
	size_t max = srv->policy.limits.max_sessions;
	/* Counted before srv->lock: the front end takes app->lock, and the
	 * loop thread's fast path holds app->lock while it takes srv->lock.
	 * A session opened meanwhile can only make this count high by one
	 * (still in opening), never let one too many through. */
	size_t open = fe_session_count(srv->app);
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&srv->lock);
	if (open + srv->opening >= max)
		rv = CKR_SESSION_COUNT;
	else
		srv->opening++;
	pthread_mutex_unlock(&srv->lock);
	return rv;
}

/* Ends a reservation (the session, if opened, is the front end's now). */
void srv_session_opened(struct rpc_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->opening--;
	pthread_mutex_unlock(&srv->lock);
}

/* ---- audit ---- */

static const char *call_name(const struct srv_call *c)
{
	return c->req.call ? c->req.call->name : "?";
}

static const char *call_audit_name(const struct srv_call *c)
{
	return c->req.call ? c->req.call->audit : "?";
}

/* A session's slot and serial, or unavailable and "" when the app has no
 * such session. */
static bool describe(struct srv_call *c, CK_SESSION_HANDLE h,
		     enum fe_op_kind op, CK_OBJECT_HANDLE key,
		     struct fe_session_desc *d)
{
	return fe_session_describe(c->srv->app, h, op, key, d) == CKR_OK;
}

static void audit_session(struct srv_call *c, enum rpc_audit_kind kind,
			  CK_SESSION_HANDLE h, CK_USER_TYPE user,
			  bool server_pin, CK_RV rv)
{
	struct rpc_server *srv = c->srv;
	struct rpc_audit_event ev = { .kind = kind };
	struct fe_session_desc d;

	if (!srv->policy.audit)
		return;
	describe(c, h, FE_OP_NONE, CK_INVALID_HANDLE, &d);
	ev.call = call_name(c);
	ev.op = call_audit_name(c);
	ev.slot = d.slot;
	ev.serial = d.serial;
	ev.user = user;
	ev.server_pin = server_pin;
	ev.mech = CK_UNAVAILABLE_INFORMATION;
	ev.key_label = "";
	ev.rv = rv;
	srv->policy.audit(srv->policy.ctx, &ev);
}

void srv_audit_login(struct srv_call *c, CK_SESSION_HANDLE h, CK_USER_TYPE user,
		     bool server_pin, CK_RV rv)
{
	audit_session(c, RPC_AUDIT_LOGIN, h, user, server_pin, rv);
}

void srv_audit_set_pin(struct srv_call *c, CK_SESSION_HANDLE h, CK_RV rv)
{
	audit_session(c, RPC_AUDIT_SET_PIN, h, CK_UNAVAILABLE_INFORMATION,
		      false, rv);
}

static void audit_key(struct srv_call *c, const struct fe_session_desc *d,
		      CK_RV rv)
{
	struct rpc_audit_event ev = { .kind = RPC_AUDIT_KEY_USE };

	ev.call = call_name(c);
	ev.op = call_audit_name(c);
	ev.slot = d->slot;
	ev.serial = d->serial;
	ev.user = CK_UNAVAILABLE_INFORMATION;
	ev.mech = d->mech;
	ev.key_id = d->key_id_len ? d->key_id : NULL;
	ev.key_id_len = d->key_id_len;
	ev.key_label = d->key_label;
	ev.rv = rv;
	c->srv->policy.audit(c->srv->policy.ctx, &ev);
}

bool srv_op_describe(struct srv_call *c, enum fe_op_kind op,
		     CK_SESSION_HANDLE h, struct fe_session_desc *d)
{
	if (!c->srv->policy.audit) {
		memset(d, 0, sizeof(*d));
		return false;
	}
	return describe(c, h, op, CK_INVALID_HANDLE, d);
}

void srv_op_end(struct srv_call *c, const struct fe_session_desc *d, bool known,
		CK_BYTE_PTR out, CK_RV rv)
{
	/* A size query or a short buffer leaves the operation active. */
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !out))
		return;
	/* Not a session of this connection: nothing to audit against. */
	if (known && c->srv->policy.audit)
		audit_key(c, d, rv);
}

void srv_audit_derive(struct srv_call *c, CK_SESSION_HANDLE h,
		      const CK_MECHANISM *mech, CK_OBJECT_HANDLE key, CK_RV rv)
{
	struct fe_session_desc d;

	if (!c->srv->policy.audit ||
	    !describe(c, h, FE_OP_NONE, mech ? key : CK_INVALID_HANDLE, &d))
		return;
	d.mech = mech ? mech->mechanism : CK_UNAVAILABLE_INFORMATION;
	audit_key(c, &d, rv);
}
