/* The RPC server's per-connection bookkeeping: the sessions this connection
 * opened (for the session limit and to name slot and token in audit
 * records), the key each private-key operation uses, and the audit records
 * themselves. The front end owns the real session state; this table only
 * mirrors it and forgets entries the front end no longer knows. */
#include <stdlib.h>
#include <string.h>

#include "rpc_srv_int.h"

/* ---- the session table (srv->lock held) ---- */

static struct srv_session *find_locked(struct rpc_server *srv,
				       CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < srv->nsessions; i++)
		if (srv->sessions[i].h == h)
			return &srv->sessions[i];
	return NULL;
}

static void drop_locked(struct rpc_server *srv, struct srv_session *s)
{
	*s = srv->sessions[--srv->nsessions];
	explicit_bzero(&srv->sessions[srv->nsessions], sizeof(*s));
}

/* Forgets the sessions the front end dropped on its own (token removed). */
static void srv_sessions_prune(struct rpc_server *srv)
{
	CK_SESSION_HANDLE *hs;
	CK_SESSION_INFO info;
	size_t n, i;

	pthread_mutex_lock(&srv->lock);
	n = srv->nsessions;
	if ((hs = calloc(n ? n : 1, sizeof(*hs))))
		for (i = 0; i < n; i++)
			hs[i] = srv->sessions[i].h;
	pthread_mutex_unlock(&srv->lock);
	if (!hs)
		return;
	for (i = 0; i < n; i++)
		if (fe_C_GetSessionInfo(srv->app, hs[i], &info) ==
		    CKR_SESSION_HANDLE_INVALID)
			srv_session_forget(srv, hs[i]);
	free(hs);
}

/* Makes room for one more session, or CKR_SESSION_COUNT. */
CK_RV srv_session_reserve(struct rpc_server *srv)
{
	size_t max = srv->policy.limits.max_sessions;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&srv->lock);
	if (srv->nsessions + srv->opening >= max) {
		pthread_mutex_unlock(&srv->lock);
		srv_sessions_prune(srv);
		pthread_mutex_lock(&srv->lock);
	}
	if (srv->nsessions + srv->opening >= max)
		rv = CKR_SESSION_COUNT;
	else
		srv->opening++;
	pthread_mutex_unlock(&srv->lock);
	return rv;
}

static void serial_of(struct rpc_server *srv, CK_SLOT_ID slot, char out[17])
{
	CK_TOKEN_INFO ti;
	size_t n = sizeof(ti.serialNumber);

	out[0] = '\0';
	if (fe_C_GetTokenInfo(srv->app, slot, &ti) != CKR_OK)
		return;
	while (n && (ti.serialNumber[n - 1] == ' ' ||
		     ti.serialNumber[n - 1] == '\0'))
		n--;
	memcpy(out, ti.serialNumber, n);
	out[n] = '\0';
}

/* Ends a reservation; records the session when rv is CKR_OK. */
void srv_session_opened(struct rpc_server *srv, CK_RV rv, CK_SESSION_HANDLE h,
			CK_SLOT_ID slot)
{
	struct srv_session s = { .h = h, .slot = slot };

	if (rv == CKR_OK)
		serial_of(srv, slot, s.serial);
	pthread_mutex_lock(&srv->lock);
	srv->opening--;
	if (rv == CKR_OK && srv->nsessions < srv->policy.limits.max_sessions)
		srv->sessions[srv->nsessions++] = s;
	pthread_mutex_unlock(&srv->lock);
}

void srv_session_forget(struct rpc_server *srv, CK_SESSION_HANDLE h)
{
	struct srv_session *s;

	pthread_mutex_lock(&srv->lock);
	if ((s = find_locked(srv, h)))
		drop_locked(srv, s);
	pthread_mutex_unlock(&srv->lock);
}

void srv_sessions_forget_slot(struct rpc_server *srv, CK_SLOT_ID slot)
{
	size_t i = 0;

	pthread_mutex_lock(&srv->lock);
	while (i < srv->nsessions) {
		if (srv->sessions[i].slot == slot)
			drop_locked(srv, &srv->sessions[i]);
		else
			i++;
	}
	pthread_mutex_unlock(&srv->lock);
}

void srv_sessions_forget_all(struct rpc_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	explicit_bzero(srv->sessions, srv->nsessions * sizeof(*srv->sessions));
	srv->nsessions = 0;
	pthread_mutex_unlock(&srv->lock);
}

/* Copies what the table knows of session h (slot, serial, one op). */
static bool session_copy(struct rpc_server *srv, CK_SESSION_HANDLE h,
			 enum srv_op op, bool clear_op, struct srv_session *out)
{
	struct srv_session *s;

	memset(out, 0, sizeof(*out));
	out->slot = CK_UNAVAILABLE_INFORMATION;
	pthread_mutex_lock(&srv->lock);
	if ((s = find_locked(srv, h))) {
		out->h = s->h;
		out->slot = s->slot;
		memcpy(out->serial, s->serial, sizeof(out->serial));
		if (op < SRV_OP_N) {
			out->op[op] = s->op[op];
			if (clear_op)
				memset(&s->op[op], 0, sizeof(s->op[op]));
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return s != NULL;
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

void srv_audit_login(struct srv_call *c, CK_SESSION_HANDLE h, CK_USER_TYPE user,
		     bool server_pin, CK_RV rv)
{
	struct rpc_server *srv = c->srv;
	struct rpc_audit_event ev = { .kind = RPC_AUDIT_LOGIN };
	struct srv_session s;

	if (!srv->policy.audit)
		return;
	session_copy(srv, h, SRV_OP_NONE, false, &s);
	ev.call = call_name(c);
	ev.op = call_audit_name(c);
	ev.slot = s.slot;
	ev.serial = s.serial;
	ev.user = user;
	ev.server_pin = server_pin;
	ev.mech = CK_UNAVAILABLE_INFORMATION;
	ev.key_label = "";
	ev.rv = rv;
	srv->policy.audit(srv->policy.ctx, &ev);
}

void srv_audit_set_pin(struct srv_call *c, CK_SESSION_HANDLE h, CK_RV rv)
{
	struct rpc_server *srv = c->srv;
	struct rpc_audit_event ev = { .kind = RPC_AUDIT_SET_PIN };
	struct srv_session s;

	if (!srv->policy.audit)
		return;
	session_copy(srv, h, SRV_OP_NONE, false, &s);
	ev.call = call_name(c);
	ev.op = call_audit_name(c);
	ev.slot = s.slot;
	ev.serial = s.serial;
	ev.user = CK_UNAVAILABLE_INFORMATION;
	ev.mech = CK_UNAVAILABLE_INFORMATION;
	ev.key_label = "";
	ev.rv = rv;
	srv->policy.audit(srv->policy.ctx, &ev);
}

/* CKA_ID and CKA_LABEL of key, as far as the front end tells them. */
static void key_info(struct rpc_server *srv, CK_SESSION_HANDLE h,
		     CK_OBJECT_HANDLE key, struct srv_key *k)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_ID, k->id, sizeof(k->id) },
		{ CKA_LABEL, k->label, sizeof(k->label) - 1 },
	};
	CK_RV rv = fe_C_GetAttributeValue(srv->app, h, key, t, 2);

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL)
		t[0].ulValueLen = t[1].ulValueLen = 0;
	k->id_len = t[0].ulValueLen <= sizeof(k->id) ? t[0].ulValueLen : 0;
	if (t[1].ulValueLen >= sizeof(k->label))
		t[1].ulValueLen = 0;
	k->label[t[1].ulValueLen] = '\0';
}

void srv_op_begin(struct srv_call *c, enum srv_op op, CK_SESSION_HANDLE h,
		  const CK_MECHANISM *mech, CK_OBJECT_HANDLE key)
{
	struct rpc_server *srv = c->srv;
	struct srv_key k = { .active = mech != NULL };
	struct srv_session *s;

	if (mech) {
		k.mech = mech->mechanism;
		key_info(srv, h, key, &k);
	}
	pthread_mutex_lock(&srv->lock);
	if ((s = find_locked(srv, h)))
		s->op[op] = k;
	pthread_mutex_unlock(&srv->lock);
}

static void audit_key(struct srv_call *c, const struct srv_session *s,
		      const struct srv_key *k, CK_RV rv)
{
	struct rpc_audit_event ev = { .kind = RPC_AUDIT_KEY_USE };

	ev.call = call_name(c);
	ev.op = call_audit_name(c);
	ev.slot = s->slot;
	ev.serial = s->serial;
	ev.user = CK_UNAVAILABLE_INFORMATION;
	ev.mech = k->active ? k->mech : CK_UNAVAILABLE_INFORMATION;
	ev.key_id = k->id_len ? k->id : NULL;
	ev.key_id_len = k->id_len;
	ev.key_label = k->label;
	ev.rv = rv;
	c->srv->policy.audit(c->srv->policy.ctx, &ev);
}

void srv_op_end(struct srv_call *c, enum srv_op op, CK_SESSION_HANDLE h,
		CK_BYTE_PTR out, CK_RV rv)
{
	struct srv_session s;

	/* A size query or a short buffer leaves the operation active. */
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !out))
		return;
	/* Not ours (never opened here): nothing to audit against. */
	if (!session_copy(c->srv, h, op, true, &s))
		return;
	if (c->srv->policy.audit)
		audit_key(c, &s, &s.op[op], rv);
	explicit_bzero(&s, sizeof(s));
}

void srv_audit_derive(struct srv_call *c, CK_SESSION_HANDLE h,
		      const CK_MECHANISM *mech, CK_OBJECT_HANDLE key, CK_RV rv)
{
	struct srv_key k = { .active = mech != NULL };
	struct srv_session s;

	if (!c->srv->policy.audit ||
	    !session_copy(c->srv, h, SRV_OP_NONE, false, &s))
		return;
	if (mech) {
		k.mech = mech->mechanism;
		key_info(c->srv, h, key, &k);
	}
	audit_key(c, &s, &k, rv);
}
