/* RPC handlers: library, slots and tokens, sessions, PINs and login. The
 * export's token filter applies to every call that names a slot. */
#include <stdlib.h>
#include <string.h>

#include "rpc_srv_int.h"

/* What p11-kit's client sends as C_Initialize's first argument. */
static const char rpc_handshake[] = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";

/* ---- library ---- */

/* "ayyay": handshake, reserved-present byte, reserved bytes. The reserved
 * argument (p11-kit's x-init-reserved) means nothing to us. */
CK_RV srv_C_Initialize(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_ULONG n;
	CK_BYTE_PTR hs = srv_bytes(c, 0, &n);
	CK_RV rv = CKR_OK;

	if (!hs || n != sizeof(rpc_handshake) - 1 ||
	    memcmp(hs, rpc_handshake, n))
		return CKR_GENERAL_ERROR;
	pthread_mutex_lock(&srv->lock);
	if (srv->initialized)
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
	srv->initialized = true;
	pthread_mutex_unlock(&srv->lock);
	if (rv == CKR_OK) { /* slot events count from here */
		app_events_reset(srv->app);
		(void)srv_pick_moved(srv, &(CK_SLOT_ID){ 0 });
	}
	return rv;
}

/* Ends this connection's blocked C_WaitForSlotEvent calls and closes its
 * sessions on every slot (which logs it out), and nobody else's. */
CK_RV srv_C_Finalize(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;

	pthread_mutex_lock(&srv->lock);
	srv->initialized = false;
	pthread_mutex_unlock(&srv->lock);
	app_wait_cancel(srv->app);
	if (fe_C_GetSlotList(srv->app, CK_FALSE, NULL, &n) == CKR_OK && n &&
	    (ids = srv_alloc(c, n * sizeof(*ids))) &&
	    fe_C_GetSlotList(srv->app, CK_FALSE, ids, &n) == CKR_OK)
		for (i = 0; i < n; i++)
			(void)fe_C_CloseAllSessions(srv->app, ids[i]);
	return CKR_OK;
}

CK_RV srv_C_GetInfo(struct srv_call *c)
{
	CK_INFO *info = srv_alloc(c, sizeof(*info));
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if ((rv = fe_C_GetInfo(c->srv->app, info)) != CKR_OK)
		return rv;
	c->nout = rpc_args_info(info, c->out);
	return CKR_OK;
}

/* ---- slots and tokens ---- */

/* The slots the front end lists, less those the export hides. */
static CK_RV visible_slots(struct srv_call *c, CK_BBOOL present,
			   CK_SLOT_ID **out, CK_ULONG *count)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i, k = 0;
	CK_RV rv = CKR_BUFFER_TOO_SMALL;

	/* Devices may come between the two calls: try a few times. */
	for (int tries = 0; tries < 4 && rv == CKR_BUFFER_TOO_SMALL; tries++) {
		if ((rv = fe_C_GetSlotList(srv->app, present, NULL, &n)) !=
		    CKR_OK)
			return rv;
		n += 4;
		if (!(ids = srv_alloc(c, n * sizeof(*ids))))
			return CKR_DEVICE_MEMORY;
		rv = fe_C_GetSlotList(srv->app, present, ids, &n);
	}
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < n; i++)
		if (srv_slot_shown(srv, ids[i])) {
			(void)srv_slot_note(srv, ids[i], true);
			ids[k++] = ids[i];
		}
	*out = ids;
	*count = k;
	return CKR_OK;
}

/* "yfu" -> "au" */
CK_RV srv_C_GetSlotList(struct srv_call *c)
{
	CK_ULONG room = c->req.args[1].room, n;
	CK_SLOT_ID *ids;
	CK_RV rv;

	if ((rv = visible_slots(c, c->req.args[0].byte, &ids, &n)) != CKR_OK)
		return rv;
	if (room == 0)
		return srv_out_ulongs(c, CKR_OK, NULL, n);
	return srv_out_ulongs(c, room < n ? CKR_BUFFER_TOO_SMALL : CKR_OK, ids,
			      n);
}

CK_RV srv_C_GetSlotInfo(struct srv_call *c)
{
	CK_SLOT_INFO *info = srv_alloc(c, sizeof(*info));
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if (!srv_slot_shown(c->srv, srv_u(c, 0)))
		return CKR_SLOT_ID_INVALID;
	if ((rv = fe_C_GetSlotInfo(c->srv->app, srv_u(c, 0), info)) != CKR_OK)
		return rv;
	c->nout = rpc_args_slot_info(info, c->out);
	return CKR_OK;
}

CK_RV srv_C_GetTokenInfo(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_TOKEN_INFO *info = srv_alloc(c, sizeof(*info));
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	rv = fe_C_GetTokenInfo(srv->app, srv_u(c, 0), info);
	if (rv == CKR_OK && srv->policy.picks_slot &&
	    !srv_slot_shown(srv, srv_u(c, 0)))
		rv = CKR_SLOT_ID_INVALID;
	else if (rv == CKR_OK && srv->policy.shows_token &&
		 !srv->policy.shows_token(srv->policy.ctx, info))
		rv = CKR_SLOT_ID_INVALID;
	else if (rv != CKR_OK && !srv_slot_shown(srv, srv_u(c, 0)))
		rv = CKR_SLOT_ID_INVALID;
	if (rv != CKR_OK)
		return rv;
	if (srv->policy.read_only)
		info->flags |= CKF_WRITE_PROTECTED;
	c->nout = rpc_args_token_info(info, c->out);
	return CKR_OK;
}

/* "ufu" -> "au" */
CK_RV srv_C_GetMechanismList(struct srv_call *c)
{
	CK_MECHANISM_TYPE *list;
	CK_ULONG n;
	CK_RV rv;

	if (!srv_slot_shown(c->srv, srv_u(c, 0)))
		return CKR_SLOT_ID_INVALID;
	if ((rv = srv_ulong_buffer(c, 1, &list, &n)) != CKR_OK)
		return rv;
	rv = fe_C_GetMechanismList(c->srv->app, srv_u(c, 0), list, &n);
	return srv_out_ulongs(c, rv, list, n);
}

CK_RV srv_C_GetMechanismInfo(struct srv_call *c)
{
	CK_MECHANISM_INFO *info = srv_alloc(c, sizeof(*info));
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if (!srv_slot_shown(c->srv, srv_u(c, 0)))
		return CKR_SLOT_ID_INVALID;
	rv = fe_C_GetMechanismInfo(c->srv->app, srv_u(c, 0), srv_u(c, 1), info);
	if (rv != CKR_OK)
		return rv;
	c->nout = rpc_args_mechanism_info(info, c->out);
	return CKR_OK;
}

/* The 32-byte space-padded label C_InitToken takes, from 'z' or 's'. */
static CK_RV init_token(struct srv_call *c)
{
	CK_UTF8CHAR label[32];
	const struct rpc_arg *a = &c->req.args[2];
	CK_ULONG pin_len, n = a->bytes.len;
	CK_BYTE_PTR pin = srv_bytes(c, 1, &pin_len);

	if (!srv_slot_shown(c->srv, srv_u(c, 0)))
		return CKR_SLOT_ID_INVALID;
	if (a->type == RPC_ARG_ZSTRING && a->bytes.p)
		n = strnlen((const char *)a->bytes.p, a->bytes.len);
	memset(label, ' ', sizeof(label));
	if (a->bytes.p)
		memcpy(label, a->bytes.p,
		       n < sizeof(label) ? n : sizeof(label));
	return fe_C_InitToken(c->srv->app, srv_u(c, 0), pin, pin_len, label);
}

CK_RV srv_C_InitToken(struct srv_call *c)
{
	return init_token(c);
}

CK_RV srv_C_InitToken2(struct srv_call *c)
{
	return init_token(c);
}

/* Blocks this request only (each runs on its own worker). Events of slots
 * the export hides are passed over, except the removal of a token the
 * client was shown, and, on a prefer= export, any event that made it show
 * another token (or none): the client learns of the switch even when it
 * never listed the slot that changed. */
CK_RV srv_C_WaitForSlotEvent(struct srv_call *c)
{
	CK_SLOT_ID slot = 0, picked = 0;
	bool shown, was, moved;
	CK_RV rv;

	do {
		rv = fe_C_WaitForSlotEvent(c->srv->app, srv_u(c, 0), &slot,
					   NULL);
		if (rv != CKR_OK)
			break;
		shown = srv_slot_shown(c->srv, slot);
		was = srv_slot_note(c->srv, slot, shown);
		moved = srv_pick_moved(c->srv, &picked);
	} while (!shown && !was && !moved);
	if (rv == CKR_OK && !shown && !was)
		slot = picked;
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, slot);
	return CKR_OK;
}

/* ---- sessions ---- */

CK_RV srv_C_OpenSession(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID slot = srv_u(c, 0);
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	if (!srv_slot_shown(srv, slot))
		return CKR_SLOT_ID_INVALID;
	if ((rv = srv_session_reserve(srv)) != CKR_OK)
		return rv;
	rv = fe_C_OpenSession(srv->app, slot, srv_u(c, 1), NULL, NULL, &h);
	srv_session_opened(srv);
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, h);
	return CKR_OK;
}

CK_RV srv_C_CloseSession(struct srv_call *c)
{
	return fe_C_CloseSession(c->srv->app, srv_u(c, 0));
}

CK_RV srv_C_CloseAllSessions(struct srv_call *c)
{
	if (!srv_slot_shown(c->srv, srv_u(c, 0)))
		return CKR_SLOT_ID_INVALID;
	return fe_C_CloseAllSessions(c->srv->app, srv_u(c, 0));
}

CK_RV srv_C_GetSessionInfo(struct srv_call *c)
{
	CK_SESSION_INFO *info = srv_alloc(c, sizeof(*info));
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if ((rv = fe_C_GetSessionInfo(c->srv->app, srv_u(c, 0), info)) !=
	    CKR_OK)
		return rv;
	c->nout = rpc_args_session_info(info, c->out);
	return CKR_OK;
}

/* ---- PINs and login ---- */

CK_RV srv_C_InitPIN(struct srv_call *c)
{
	CK_ULONG len;
	CK_BYTE_PTR pin = srv_bytes(c, 1, &len);

	return fe_C_InitPIN(c->srv->app, srv_u(c, 0), pin, len);
}

CK_RV srv_C_SetPIN(struct srv_call *c)
{
	CK_ULONG old_len, new_len;
	CK_BYTE_PTR old_pin = srv_bytes(c, 1, &old_len);
	CK_BYTE_PTR new_pin = srv_bytes(c, 2, &new_len);
	CK_RV rv;

	rv = fe_C_SetPIN(c->srv->app, srv_u(c, 0), old_pin, old_len, new_pin,
			 new_len);
	srv_audit_set_pin(c, srv_u(c, 0), rv);
	return rv;
}

/* A NULL PIN is the protected authentication path: the front end asks the
 * export's PIN provider, if there is one. */
static CK_RV login(struct srv_call *c)
{
	CK_ULONG len;
	CK_BYTE_PTR pin = srv_bytes(c, 2, &len);
	CK_RV rv;

	rv = fe_C_Login(c->srv->app, srv_u(c, 0), srv_u(c, 1), pin, len);
	srv_audit_login(c, srv_u(c, 0), srv_u(c, 1), pin == NULL, rv);
	return rv;
}

CK_RV srv_C_Login(struct srv_call *c)
{
	return login(c);
}

/* Our tokens have no user names: the name is ignored. */
CK_RV srv_C_LoginUser(struct srv_call *c)
{
	return login(c);
}

CK_RV srv_C_Logout(struct srv_call *c)
{
	return fe_C_Logout(c->srv->app, srv_u(c, 0));
}
