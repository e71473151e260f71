/* A connection's RPC server: the front end's application context with the
 * export's PIN provider, and the rpc_policy callbacks that put the export's
 * settings (token filter, access, audit) in front of every call. The
 * callbacks run on worker threads while a request of the connection is in
 * flight, so the connection and its settings (c->conf, a reference of its
 * own) are alive; they only read. */
#include "audit.h"
#include "backoff.h"
#include "ckname.h"
#include "conn.h"
#include "control_watch.h"
#include "error.h"
#include "export.h"
#include "frontend.h"
#include "log.h"
#include "rpc_server.h"

/* The export's pin-file PIN for the user PIN (and context-specific login,
 * which PIV does with the same PIN); never for the SO. Copied straight into
 * the front end's buffer, which the front end wipes. */
static int policy_pin(void *ctx, CK_SLOT_ID slot, enum tk_user user,
		      uint8_t *pin, size_t *len)
{
	struct conn *c = ctx;
	int r = TK_ERR_DENIED;

	(void)slot;
	if (user != TK_USER_PIN)
		return r;
	/* c->export is freed only after the connection is detached, which
	 * takes c->lock. */
	pthread_mutex_lock(&c->lock);
	if (c->export != NULL)
		r = export_pin_get(c->export, pin, len);
	pthread_mutex_unlock(&c->lock);
	if (r != 0)
		log_warn("export %s: no server-side PIN for uid %u pid %d: %s",
			 c->conf->name, (unsigned)c->peer.uid, (int)c->peer.pid,
			 tk_strerror(r));
	return r;
}

static bool policy_shows_token(void *ctx, const CK_TOKEN_INFO *ti)
{
	struct conn *c = ctx;

	if (ti == NULL) /* an empty slot matches no token URI */
		return c->conf->n_tokens == 0;
	return export_shows_token(c->conf, ti);
}

static bool policy_picks_slot(void *ctx, struct app *app, CK_SLOT_ID *slot)
{
	struct conn *c = ctx;

	return export_pick_slot(c->conf, app, slot);
}

/* The export's objects= filter, for the front end (app_set_object_filter). */
static bool policy_shows_object(void *ctx, const CK_TOKEN_INFO *ti,
				const CK_ATTRIBUTE *attrs, CK_ULONG n)
{
	struct conn *c = ctx;

	return export_shows_object(c->conf, ti, attrs, n);
}

/* C_Login / C_LoginUser as CKU_SO (argument 1 is the user type). */
static bool policy_so_login(uint32_t call_id, const struct rpc_message *req)
{
	if (call_id != RPC_C_Login && call_id != RPC_C_LoginUser)
		return false;
	return req->nargs > 1 && req->args[1].type == RPC_ARG_ULONG &&
	       req->args[1].ulong == CKU_SO;
}

/* For the audit line: what the export would need to allow op. */
static const char *policy_needs(const struct export_conf *ec, enum export_op op)
{
	if (op == EXPORT_OP_INIT_TOKEN || op == EXPORT_OP_INIT_PIN ||
	    op == EXPORT_OP_SET_PIN)
		return "admin";
	if (op != EXPORT_OP_SO_LOGIN && ec->n_objects > 0)
		return "no-objects-filter";
	return "full";
}

/* Every call the access level refuses is refused here, before it runs,
 * and audited. The refusal is CKR_TOKEN_WRITE_PROTECTED (export.h), for
 * an SO login too: PKCS#11 has no code that says "this user type is not
 * allowed here" (CKR_USER_TYPE_INVALID would claim the token has no SO,
 * CKR_PIN_INCORRECT would invite guessing). */
static CK_RV policy_check_call(void *ctx, uint32_t call_id,
			       const struct rpc_message *req)
{
	struct conn *c = ctx;
	enum export_op op;
	enum rpc_write w;

	if (policy_so_login(call_id, req))
		op = EXPORT_OP_SO_LOGIN;
	else if ((w = rpc_request_writes(req)) == RPC_WRITE_NONE)
		return CKR_OK;
	else
		op = (enum export_op)w; /* export.h: same values */
	if (export_allows(c->conf, op))
		return CKR_OK;
	audit_refused(c->conf->name, &c->peer,
		      req->call ? req->call->name : "?",
		      policy_needs(c->conf, op), EXPORT_READ_ONLY_RV);
	return EXPORT_READ_ONLY_RV;
}

/* The login reached a decision: a wrong PIN (or the guard's refusal,
 * which stands for one) slows the peer's next login (conn.c waits
 * backoff_delay_ms() before running it); a success forgets the peer. */
static void policy_backoff(struct conn *c, CK_RV rv)
{
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
		backoff_record(c->peer.uid, true);
	else if (rv == CKR_OK)
		backoff_record(c->peer.uid, false);
}

/* login-refused and key-used for tokenctl watch. */
static void policy_event(struct conn *c, const struct rpc_audit_event *ev)
{
	char id[24], uid[16], pid[16], kid[2 * 64 + 1] = "", nb[CKNAME_BUF],
						    mb[CKNAME_BUF],
						    ub[CKNAME_BUF];
	bool login = ev->kind == RPC_AUDIT_LOGIN;

	if (ev->kind == RPC_AUDIT_SET_PIN || (login && ev->rv == CKR_OK))
		return;
	for (size_t i = 0; ev->key_id && i < ev->key_id_len && i < 64; i++)
		snprintf(kid + 2 * i, 3, "%02x", ev->key_id[i]);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)c->id);
	snprintf(uid, sizeof(uid), "%u", (unsigned)c->peer.uid);
	snprintf(pid, sizeof(pid), "%d", (int)c->peer.pid);

	const struct control_field f[] = {
		{ "export", c->conf->name, false },
		{ "conn", id, true },
		{ "uid", uid, true },
		{ "pid", pid, true },
		{ "token", ev->serial && ev->serial[0] ? ev->serial : NULL,
		  false },
		{ "user", login ? ckname_user(ev->user, ub) : NULL, false },
		{ "op", login ? NULL : ev->op, false },
		{ "key-id", login || !kid[0] ? NULL : kid, false },
		{ "key-label",
		  login || !ev->key_label || !ev->key_label[0] ? NULL
							       : ev->key_label,
		  false },
		{ "mech",
		  login || ev->mech == CK_UNAVAILABLE_INFORMATION
		      ? NULL
		      : ckname_mech(ev->mech, mb),
		  false },
		{ "result", ckname_rv(ev->rv, nb), false },
	};

	control_event(login ? "login-refused" : "key-used", f,
		      sizeof(f) / sizeof(f[0]));
}

static void policy_audit(void *ctx, const struct rpc_audit_event *ev)
{
	struct conn *c = ctx;
	const char *serial = ev->serial && ev->serial[0] ? ev->serial : NULL;
	struct audit_key key = {
		.token_serial = serial,
		.id = ev->key_id,
		.id_len = ev->key_id_len,
		.label =
		    ev->key_label && ev->key_label[0] ? ev->key_label : NULL,
	};

	if (ev->kind == RPC_AUDIT_LOGIN && ev->server_pin &&
	    ev->rv == CKR_PIN_INCORRECT) {
		pthread_mutex_lock(&c->lock);
		if (c->export != NULL)
			export_pin_rejected(c->export);
		pthread_mutex_unlock(&c->lock);
	}
	if (ev->kind == RPC_AUDIT_LOGIN) {
		audit_login(c->conf->name, &c->peer, serial, ev->user, ev->rv);
		policy_backoff(c, ev->rv);
	} else if (ev->kind == RPC_AUDIT_SET_PIN) {
		audit_set_pin(c->conf->name, &c->peer, serial, ev->rv);
	} else {
		audit_key_op(c->conf->name, &c->peer, &key,
			     ev->op ? ev->op : "?", ev->mech, ev->rv);
	}
	policy_event(c, ev);
}

int conn_server_new(struct conn *c, uint8_t offered)
{
	struct rpc_policy policy = {
	    .ctx = c,
	    .read_only = c->conf->access < EXPORT_ACCESS_FULL,
	    .check_call = policy_check_call,
	    .shows_token = policy_shows_token,
	    .picks_slot = c->conf->n_prefer ? policy_picks_slot : NULL,
	    .audit = policy_audit,
	    .trace = conn_trace_call,
	    .limits =
	        {
	            .max_sessions = c->limits.max_sessions_per_connection,
	            .max_inflight = RPC_SERVER_DEFAULT_INFLIGHT,
	            .max_attrs = c->limits.max_attributes,
	        },
	};
	struct app *app = NULL;
	int r;

	if ((r = app_new(&app)) != 0)
		return r;
	if (export_conf_has_pin(c->conf))
		app_set_pin_provider(app, policy_pin, c);
	if (c->conf->n_objects > 0)
		app_set_object_filter(app, policy_shows_object, c);
	/* Socket clients keep tries back for the card's owner. */
	app_set_pin_guard(app, c->limits.pin_tries_reserved);
	/* A peer's connections share as its worker jobs do (worker.c). */
	app_set_share(app, (uint64_t)c->peer.uid);
	/* rpc_server_new() owns app from here, on failure too. */
	if ((c->server = rpc_server_new(offered, &policy, app)) == NULL)
		return TK_ERR_NOMEM;
	return 0;
}
