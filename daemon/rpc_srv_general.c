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
		(void)srv_pick_event(srv, 0);
	}
	return rv;
}

/* Closes the client's sessions on every slot (which logs it out), and
 * nobody else's. */
void srv_close_all(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0, i;

	if (fe_C_GetSlotList(srv->app, CK_FALSE, NULL, &n) == CKR_OK && n &&
	    (ids = srv_alloc(c, n * sizeof(*ids))) &&
	    fe_C_GetSlotList(srv->app, CK_FALSE, ids, &n) == CKR_OK)
		for (i = 0; i < n; i++)
			(void)fe_C_CloseAllSessions(srv->app, ids[i]);
}

/* Ends this connection's blocked C_WaitForSlotEvent calls and closes its
 * sessions. */
CK_RV srv_C_Finalize(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	srv->initialized = false;
	pthread_mutex_unlock(&srv->lock);
	app_wait_cancel(srv->app);
	srv_close_all(c);
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
	CK_SLOT_ID picked;

	if (srv->policy.picks_slot) { /* its one slot, with a token or not */
		if (!(ids = srv_alloc(c, sizeof(*ids))))
			return CKR_DEVICE_MEMORY;
		ids[0] = SRV_PREFER_SLOT;
		*out = ids;
		*count = !present || srv->policy.picks_slot(srv->policy.ctx,
							    srv->app, &picked);
		return CKR_OK;
	}
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

static void space_pad(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	memset(dst, ' ', len);
	memcpy(dst, src, strnlen(src, len));
}

/* A prefer= export's slot describes the device of the token it shows;
 * empty, it is tokend's. Its token comes and goes: removable. */
CK_RV srv_C_GetSlotInfo(struct srv_call *c)
{
	CK_SLOT_INFO *info = srv_alloc(c, sizeof(*info));
	CK_SLOT_ID slot = 0;
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	rv = srv_slot_arg(c, &slot);
	if (rv == CKR_TOKEN_NOT_PRESENT) { /* prefer=, no token */
		memset(info, 0, sizeof(*info));
		space_pad(info->slotDescription, sizeof(info->slotDescription),
			  "tokend: no preferred token present");
		space_pad(info->manufacturerID, sizeof(info->manufacturerID),
			  "tokend");
	} else if (rv != CKR_OK ||
		   (rv = fe_C_GetSlotInfo(c->srv->app, slot, info)) != CKR_OK) {
		return rv;
	}
	if (c->srv->policy.picks_slot)
		info->flags |= CKF_REMOVABLE_DEVICE;
	c->nout = rpc_args_slot_info(info, c->out);
	return CKR_OK;
}

/* A plain export: the token's info, unless the export hides it. */
static CK_RV token_info_filtered(struct rpc_server *srv, CK_SLOT_ID slot,
				 CK_TOKEN_INFO *info)
{
	CK_RV rv = fe_C_GetTokenInfo(srv->app, slot, info);

	if (rv == CKR_OK && srv->policy.shows_token &&
	    !srv->policy.shows_token(srv->policy.ctx, info))
		return CKR_SLOT_ID_INVALID;
	if (rv != CKR_OK && !srv_slot_shown(srv, slot))
		return CKR_SLOT_ID_INVALID;
	return rv;
}

CK_RV srv_C_GetTokenInfo(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_TOKEN_INFO *info = srv_alloc(c, sizeof(*info));
	CK_SLOT_ID slot = 0;
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if (!srv->policy.picks_slot)
		rv = token_info_filtered(srv, srv_u(c, 0), info);
	else if ((rv = srv_slot_arg(c, &slot)) == CKR_OK)
		rv = fe_C_GetTokenInfo(srv->app, slot, info);
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
	CK_SLOT_ID slot;
	CK_ULONG n;
	CK_RV rv;

	if ((rv = srv_slot_arg(c, &slot)) != CKR_OK)
		return rv;
	if ((rv = srv_ulong_buffer(c, 1, &list, &n)) != CKR_OK)
		return rv;
	rv = fe_C_GetMechanismList(c->srv->app, slot, list, &n);
	return srv_out_ulongs(c, rv, list, n);
}

CK_RV srv_C_GetMechanismInfo(struct srv_call *c)
{
	CK_MECHANISM_INFO *info = srv_alloc(c, sizeof(*info));
	CK_SLOT_ID slot;
	CK_RV rv;

	if (!info)
		return CKR_DEVICE_MEMORY;
	if ((rv = srv_slot_arg(c, &slot)) != CKR_OK)
		return rv;
	rv = fe_C_GetMechanismInfo(c->srv->app, slot, srv_u(c, 1), info);
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
	CK_SLOT_ID slot;
	CK_RV rv;

	if ((rv = srv_slot_arg(c, &slot)) != CKR_OK)
		return rv;
	if (a->type == RPC_ARG_ZSTRING && a->bytes.p)
		n = strnlen((const char *)a->bytes.p, a->bytes.len);
	memset(label, ' ', sizeof(label));
	if (a->bytes.p)
		memcpy(label, a->bytes.p,
		       n < sizeof(label) ? n : sizeof(label));
	return fe_C_InitToken(c->srv->app, slot, pin, pin_len, label);
}

CK_RV srv_C_InitToken(struct srv_call *c)
{
	return init_token(c);
}

CK_RV srv_C_InitToken2(struct srv_call *c)
{
	return init_token(c);
}

/* Never waits, whatever the flags: a thread here is a worker, which a
 * client must not pin. The connection parks a blocking wait and asks again
 * when a slot event comes (daemon/conn.c); CKR_NO_EVENT tells it to park.
 * Events of slots the export hides are passed over, except the removal of
 * a token the client was shown. On a prefer= export every event that
 * changes the token its one slot shows (a switch, or the shown token
 * replaced) is an event of that slot. */
CK_RV srv_C_WaitForSlotEvent(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_FLAGS flags = srv_u(c, 0) | CKF_DONT_BLOCK;
	CK_SLOT_ID slot = 0;
	bool shown, was;
	CK_RV rv;

	do {
		rv = fe_C_WaitForSlotEvent(srv->app, flags, &slot, NULL);
		if (rv != CKR_OK)
			break;
		if (srv->policy.picks_slot) {
			shown = srv_pick_event(srv, slot);
			was = false;
			slot = SRV_PREFER_SLOT;
		} else {
			shown = srv_slot_shown(srv, slot);
			was = srv_slot_note(srv, slot, shown);
		}
	} while (!shown && !was);
	if (rv != CKR_OK)
		return rv;
	srv_out_ulong(c, slot);
	return CKR_OK;
}

/* ---- sessions ---- */

CK_RV srv_C_OpenSession(struct srv_call *c)
{
	struct rpc_server *srv = c->srv;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	if ((rv = srv_slot_arg(c, &slot)) != CKR_OK)
		return rv;
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

/* On a prefer= export every session of the client is on its one slot,
 * whichever token it was opened on. */
CK_RV srv_C_CloseAllSessions(struct srv_call *c)
{
	CK_SLOT_ID slot;
	CK_RV rv;

	if (c->srv->policy.picks_slot) {
		if (srv_u(c, 0) != SRV_PREFER_SLOT)
			return CKR_SLOT_ID_INVALID;
		srv_close_all(c);
		return CKR_OK;
	}
	if ((rv = srv_slot_arg(c, &slot)) != CKR_OK)
		return rv;
	return fe_C_CloseAllSessions(c->srv->app, slot);
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
	if (c->srv->policy.picks_slot)
		info->slotID = SRV_PREFER_SLOT;
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
