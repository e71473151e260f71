/* The helper's dispatch: every PKCS#11 2.40 call of the p11-kit RPC table,
 * decoded request in, the module's function, reply arguments out. Most calls
 * share one of a few shapes, so the table names the shape and the function
 * list member; the rest have a handler of their own. Output buffers are the
 * helper's (request arena), sized from the peer's room and capped, and a
 * module's claimed output length is checked against them. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"

/* p11-kit's client sends this in C_Initialize. */
static const char rpc_handshake[] = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";
/* p11-kit 0.25+ clients send it for a buffer of zero bytes, 0 for none. */
#define RPC_EMPTY_BUFFER 0xffffffffu

typedef void (*any_fn)(void);
typedef CK_RV (*fn_u)(CK_ULONG);
typedef CK_RV (*fn_uu)(CK_ULONG, CK_ULONG);
typedef CK_RV (*fn_uay)(CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*fn_uayay)(CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
			  CK_ULONG);
typedef CK_RV (*fn_init)(CK_ULONG, CK_MECHANISM_PTR, CK_ULONG);
typedef CK_RV (*fn_data)(CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
			 CK_ULONG_PTR);
typedef CK_RV (*fn_final)(CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*hfn)(struct hcall *c, size_t off);

/* The function list member at off, as its own type. */
#define MEMBER(c, off, type) (*(type *)((char *)(c)->h->fl + (off)))

/* ---- arguments and reply helpers ---- */

static inline CK_ULONG hu(const struct hcall *c, size_t i)
{
	return c->req.args[i].ulong;
}

/* 'ay' argument i: NULL for the NULL and length-only forms. */
static CK_BYTE_PTR hbytes(const struct hcall *c, size_t i, CK_ULONG *len)
{
	const struct rpc_arg *a = &c->req.args[i];

	if (a->bytes.null || !a->bytes.p) {
		*len = 0;
		return NULL;
	}
	*len = a->bytes.len;
	return (CK_BYTE_PTR)a->bytes.p;
}

static CK_MECHANISM_PTR hmech(struct hcall *c, size_t i)
{
	struct rpc_arg *a = &c->req.args[i];

	return a->mech.is_null ? NULL : &a->mech.mech;
}

static void *halloc(struct hcall *c, size_t n)
{
	return rpc_arena_alloc(&c->req.arena, n ? n : 1);
}

static void out_ulong(struct hcall *c, CK_ULONG v)
{
	c->out[c->nout++] =
	    (struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = v };
}

/* An 'fy' argument as a buffer: NULL for a size query (room 0), else the
 * room capped at max_out. */
static CK_RV byte_buffer(struct hcall *c, size_t i, CK_BYTE_PTR *p,
			 CK_ULONG *len)
{
	CK_ULONG room = c->req.args[i].room;

	*p = NULL;
	*len = 0;
	if (room == 0)
		return CKR_OK;
	if (room == RPC_EMPTY_BUFFER)
		room = 0;
	*len = room < c->h->max_out ? room : c->h->max_out;
	*p = halloc(c, *len);
	return *p ? CKR_OK : CKR_DEVICE_MEMORY;
}

/* An 'fu' argument: NULL for room 0, else at most max entries. */
static CK_RV ulong_buffer(struct hcall *c, size_t i, CK_ULONG max,
			  CK_ULONG_PTR *p, CK_ULONG *n)
{
	CK_ULONG room = c->req.args[i].room;

	*p = NULL;
	*n = 0;
	if (room == 0)
		return CKR_OK;
	*n = room < max ? room : max;
	*p = halloc(c, *n * sizeof(CK_ULONG));
	return *p ? CKR_OK : CKR_DEVICE_MEMORY;
}

static CK_RV module_overran(struct hcall *c, CK_ULONG len, CK_ULONG room)
{
	fprintf(stderr,
		"tokend-module-helper: %s: module reported %lu units in a "
		"buffer of %lu\n",
		c->req.call->name, (unsigned long)len, (unsigned long)room);
	return CKR_DEVICE_ERROR;
}

/* The 'ay' reply after the module filled p (room bytes) up to len: only the
 * length for a size query or CKR_BUFFER_TOO_SMALL, as p11-kit's server. */
static CK_RV out_bytes(struct hcall *c, CK_RV rv, const CK_BYTE *p,
		       CK_ULONG len, CK_ULONG room)
{
	struct rpc_arg *a = &c->out[c->nout];

	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	if (rv == CKR_OK && p && len > room)
		return module_overran(c, len, room);
	*a = (struct rpc_arg){ .type = RPC_ARG_BYTES };
	a->bytes.null = rv == CKR_BUFFER_TOO_SMALL || !p;
	a->bytes.p = a->bytes.null ? NULL : p;
	a->bytes.len = len;
	c->nout++;
	return CKR_OK;
}

static CK_RV out_ulongs(struct hcall *c, CK_RV rv, const CK_ULONG *v,
			CK_ULONG n, CK_ULONG room)
{
	struct rpc_arg *a = &c->out[c->nout];

	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	if (rv == CKR_OK && v && n > room)
		return module_overran(c, n, room);
	*a = (struct rpc_arg){ .type = RPC_ARG_ULONGS };
	a->ulongs.null = rv == CKR_BUFFER_TOO_SMALL || !v;
	a->ulongs.v = a->ulongs.null ? NULL : v;
	a->ulongs.count = n;
	c->nout++;
	return CKR_OK;
}

/* ---- shapes: the function list member at off ---- */

/* "u" -> "" */
static CK_RV shape_u(struct hcall *c, size_t off)
{
	return MEMBER(c, off, fn_u)(hu(c, 0));
}

/* "uu" -> "" */
static CK_RV shape_uu(struct hcall *c, size_t off)
{
	return MEMBER(c, off, fn_uu)(hu(c, 0), hu(c, 1));
}

/* "uay" -> "" */
static CK_RV shape_uay(struct hcall *c, size_t off)
{
	CK_ULONG len;
	CK_BYTE_PTR p = hbytes(c, 1, &len);

	return MEMBER(c, off, fn_uay)(hu(c, 0), p, len);
}

/* "uayay" -> "" */
static CK_RV shape_uayay(struct hcall *c, size_t off)
{
	CK_ULONG l1, l2;
	CK_BYTE_PTR p1 = hbytes(c, 1, &l1), p2 = hbytes(c, 2, &l2);

	return MEMBER(c, off, fn_uayay)(hu(c, 0), p1, l1, p2, l2);
}

/* "uMu" -> "" */
static CK_RV shape_init(struct hcall *c, size_t off)
{
	return MEMBER(c, off, fn_init)(hu(c, 0), hmech(c, 1), hu(c, 2));
}

/* "uayfy" -> "ay" */
static CK_RV shape_data(struct hcall *c, size_t off)
{
	CK_BYTE_PTR in, out;
	CK_ULONG in_len, out_len, room;
	CK_RV rv;

	in = hbytes(c, 1, &in_len);
	if ((rv = byte_buffer(c, 2, &out, &room)) != CKR_OK)
		return rv;
	out_len = room;
	rv = MEMBER(c, off, fn_data)(hu(c, 0), in, in_len, out, &out_len);
	return out_bytes(c, rv, out, out_len, room);
}

/* "ufy" -> "ay" */
static CK_RV shape_final(struct hcall *c, size_t off)
{
	CK_BYTE_PTR out;
	CK_ULONG out_len, room;
	CK_RV rv;

	if ((rv = byte_buffer(c, 1, &out, &room)) != CKR_OK)
		return rv;
	out_len = room;
	rv = MEMBER(c, off, fn_final)(hu(c, 0), out, &out_len);
	return out_bytes(c, rv, out, out_len, room);
}

/* ---- general ---- */

static CK_RV h_initialize(struct hcall *c, size_t off)
{
	struct helper *h = c->h;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_ULONG n;
	CK_BYTE_PTR hs = hbytes(c, 0, &n);
	bool threaded = true;
	CK_RV rv;

	if (!hs || n != sizeof(rpc_handshake) - 1 ||
	    memcmp(hs, rpc_handshake, n) != 0)
		return CKR_GENERAL_ERROR;
	/* NSS-style modules read their configuration from pReserved. */
	if (c->req.args[1].byte)
		args.pReserved = hbytes(c, 2, &n);
	rv = h->fl->C_Initialize(&args);
	if (rv == CKR_CANT_LOCK) {
		/* One call at a time, then (helper_main.c). */
		args.flags = 0;
		threaded = false;
		rv = h->fl->C_Initialize(&args);
	}
	pthread_mutex_lock(&h->lock);
	if (rv == CKR_OK) {
		h->initialized = true;
		h->threaded = threaded;
	}
	pthread_mutex_unlock(&h->lock);
	return rv;
}

static CK_RV h_finalize(struct hcall *c, size_t off)
{
	struct helper *h = c->h;
	CK_RV rv = h->fl->C_Finalize(NULL);

	pthread_mutex_lock(&h->lock);
	if (rv == CKR_OK)
		h->initialized = false;
	pthread_mutex_unlock(&h->lock);
	return rv;
}

static CK_RV h_get_info(struct hcall *c, size_t off)
{
	CK_INFO *i = halloc(c, sizeof(*i));
	CK_RV rv;

	if (!i)
		return CKR_DEVICE_MEMORY;
	if ((rv = c->h->fl->C_GetInfo(i)) == CKR_OK)
		c->nout = rpc_args_info(i, c->out);
	return rv;
}

/* "yfu" -> "au" and "ufu" -> "au": slots and mechanisms. */
static CK_RV h_get_slot_list(struct hcall *c, size_t off)
{
	CK_ULONG_PTR v;
	CK_ULONG n, room;
	CK_RV rv;

	rv = ulong_buffer(c, 1, c->h->max_out / sizeof(CK_ULONG), &v, &room);
	if (rv != CKR_OK)
		return rv;
	n = room;
	rv = c->h->fl->C_GetSlotList(c->req.args[0].byte, v, &n);
	return out_ulongs(c, rv, v, n, room);
}

static CK_RV h_get_mechanism_list(struct hcall *c, size_t off)
{
	CK_ULONG_PTR v;
	CK_ULONG n, room;
	CK_RV rv;

	rv = ulong_buffer(c, 1, c->h->max_out / sizeof(CK_ULONG), &v, &room);
	if (rv != CKR_OK)
		return rv;
	n = room;
	rv = c->h->fl->C_GetMechanismList(hu(c, 0), v, &n);
	return out_ulongs(c, rv, v, n, room);
}

static CK_RV h_get_slot_info(struct hcall *c, size_t off)
{
	CK_SLOT_INFO *i = halloc(c, sizeof(*i));
	CK_RV rv;

	if (!i)
		return CKR_DEVICE_MEMORY;
	if ((rv = c->h->fl->C_GetSlotInfo(hu(c, 0), i)) == CKR_OK)
		c->nout = rpc_args_slot_info(i, c->out);
	return rv;
}

static CK_RV h_get_token_info(struct hcall *c, size_t off)
{
	CK_TOKEN_INFO *i = halloc(c, sizeof(*i));
	CK_RV rv;

	if (!i)
		return CKR_DEVICE_MEMORY;
	if ((rv = c->h->fl->C_GetTokenInfo(hu(c, 0), i)) == CKR_OK)
		c->nout = rpc_args_token_info(i, c->out);
	return rv;
}

static CK_RV h_get_mechanism_info(struct hcall *c, size_t off)
{
	CK_MECHANISM_INFO *i = halloc(c, sizeof(*i));
	CK_RV rv;

	if (!i)
		return CKR_DEVICE_MEMORY;
	rv = c->h->fl->C_GetMechanismInfo(hu(c, 0), hu(c, 1), i);
	if (rv == CKR_OK)
		c->nout = rpc_args_mechanism_info(i, c->out);
	return rv;
}

/* "uayz": the label arrives as a C string; the module wants 32 bytes
 * padded with blanks. */
static CK_RV h_init_token(struct hcall *c, size_t off)
{
	CK_UTF8CHAR label[32];
	const struct rpc_arg *l = &c->req.args[2];
	CK_ULONG pin_len, n = l->bytes.len < 32 ? l->bytes.len : 32;
	CK_BYTE_PTR pin = hbytes(c, 1, &pin_len);

	memset(label, ' ', sizeof(label));
	if (n)
		memcpy(label, l->bytes.p, n);
	return c->h->fl->C_InitToken(hu(c, 0), pin, pin_len, label);
}

/* "uays": the label is already 32 blank-padded bytes. */
static CK_RV h_init_token2(struct hcall *c, size_t off)
{
	const struct rpc_arg *l = &c->req.args[2];
	CK_ULONG pin_len;
	CK_BYTE_PTR pin = hbytes(c, 1, &pin_len);

	if (l->bytes.len != 32)
		return CKR_ARGUMENTS_BAD;
	return c->h->fl->C_InitToken(hu(c, 0), pin, pin_len,
				     (CK_UTF8CHAR_PTR)l->bytes.p);
}

/* A blocking wait holds a worker until an event: only when calls run
 * concurrently, and never on every worker. */
static CK_RV h_wait_for_slot_event(struct hcall *c, size_t off)
{
	struct helper *h = c->h;
	CK_FLAGS flags = hu(c, 0);
	CK_SLOT_ID slot = 0;
	bool blocking = !(flags & CKF_DONT_BLOCK);
	CK_RV rv = CKR_OK;

	if (blocking) {
		pthread_mutex_lock(&h->lock);
		if (!h->threaded)
			rv = CKR_FUNCTION_NOT_SUPPORTED;
		else if (h->blocked + 1 >= h->workers)
			rv = CKR_FUNCTION_FAILED;
		else
			h->blocked++;
		pthread_mutex_unlock(&h->lock);
		if (rv != CKR_OK)
			return rv;
	}
	rv = h->fl->C_WaitForSlotEvent(flags, &slot, NULL);
	if (blocking) {
		pthread_mutex_lock(&h->lock);
		h->blocked--;
		pthread_mutex_unlock(&h->lock);
	}
	if (rv == CKR_OK)
		out_ulong(c, slot);
	return rv;
}

/* ---- sessions ---- */

static CK_RV h_open_session(struct hcall *c, size_t off)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = c->h->fl->C_OpenSession(hu(c, 0), hu(c, 1), NULL, NULL, &s);
	if (rv == CKR_OK)
		out_ulong(c, s);
	return rv;
}

static CK_RV h_get_session_info(struct hcall *c, size_t off)
{
	CK_SESSION_INFO *i = halloc(c, sizeof(*i));
	CK_RV rv;

	if (!i)
		return CKR_DEVICE_MEMORY;
	if ((rv = c->h->fl->C_GetSessionInfo(hu(c, 0), i)) == CKR_OK)
		c->nout = rpc_args_session_info(i, c->out);
	return rv;
}

static CK_RV h_set_operation_state(struct hcall *c, size_t off)
{
	CK_ULONG len;
	CK_BYTE_PTR st = hbytes(c, 1, &len);

	return c->h->fl->C_SetOperationState(hu(c, 0), st, len, hu(c, 2),
					     hu(c, 3));
}

static CK_RV h_login(struct hcall *c, size_t off)
{
	CK_ULONG len;
	CK_BYTE_PTR pin = hbytes(c, 2, &len);

	return c->h->fl->C_Login(hu(c, 0), hu(c, 1), pin, len);
}

/* ---- objects ---- */

/* "u?aA" -> "u" style: the template argument i. */
#define TMPL(c, i) (c)->req.args[i].attrs.v, (c)->req.args[i].attrs.count

static CK_RV out_handle(struct hcall *c, CK_RV rv, CK_OBJECT_HANDLE h)
{
	if (rv == CKR_OK)
		out_ulong(c, h);
	return rv;
}

static CK_RV h_create_object(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	/* h read after the call: an argument beside it could be read first */
	CK_RV rv = c->h->fl->C_CreateObject(hu(c, 0), TMPL(c, 1), &h);

	return out_handle(c, rv, h);
}

static CK_RV h_copy_object(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = c->h->fl->C_CopyObject(hu(c, 0), hu(c, 1), TMPL(c, 2), &h);

	return out_handle(c, rv, h);
}

static CK_RV h_get_object_size(struct hcall *c, size_t off)
{
	CK_ULONG size = 0;

	CK_RV rv = c->h->fl->C_GetObjectSize(hu(c, 0), hu(c, 1), &size);

	return out_handle(c, rv, size);
}

static CK_RV h_set_attribute_value(struct hcall *c, size_t off)
{
	return c->h->fl->C_SetAttributeValue(hu(c, 0), hu(c, 1), TMPL(c, 2));
}

/* The room given to one attribute; sub for a nested template's members. */
struct aroom {
	CK_ULONG room;
	struct aroom *sub;
};

/* Gives every attribute the room the peer asked for (ulValueLen, 0: a size
 * query), capped; nested templates (decoded as arrays) get theirs. */
static CK_RV attr_buffers(struct hcall *c, CK_ATTRIBUTE *t, CK_ULONG n,
			  struct aroom *room, unsigned depth)
{
	CK_ULONG k;
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		room[i] = (struct aroom){ 0, NULL };
		if (t[i].pValue && depth < RPC_DEFAULT_MAX_DEPTH) {
			k = t[i].ulValueLen / sizeof(CK_ATTRIBUTE);
			if (!(room[i].sub =
				  halloc(c, k * sizeof(struct aroom))))
				return CKR_DEVICE_MEMORY;
			room[i].room = t[i].ulValueLen;
			rv = attr_buffers(c, t[i].pValue, k, room[i].sub,
					  depth + 1);
			if (rv != CKR_OK)
				return rv;
			continue;
		}
		if (t[i].pValue || t[i].ulValueLen == 0) {
			t[i].pValue = NULL;
			continue;
		}
		if (t[i].ulValueLen > c->h->max_out)
			t[i].ulValueLen = c->h->max_out;
		room[i].room = t[i].ulValueLen;
		if (!(t[i].pValue = halloc(c, t[i].ulValueLen)))
			return CKR_DEVICE_MEMORY;
	}
	return CKR_OK;
}

/* Every length the module reported for a buffer of ours must fit it. */
static CK_RV attr_lengths_fit(struct hcall *c, const CK_ATTRIBUTE *t,
			      CK_ULONG n, const struct aroom *room)
{
	CK_RV rv;

	for (CK_ULONG i = 0; i < n; i++) {
		if (!t[i].pValue ||
		    t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			continue;
		if (t[i].ulValueLen > room[i].room)
			return module_overran(c, t[i].ulValueLen, room[i].room);
		if (room[i].sub &&
		    (rv = attr_lengths_fit(
			 c, t[i].pValue, t[i].ulValueLen / sizeof(CK_ATTRIBUTE),
			 room[i].sub)) != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

/* "uufA" -> "aAu": the attributes travel back with the CK_RV for the
 * results that still carry values (p11-kit's rule). */
static CK_RV h_get_attribute_value(struct hcall *c, size_t off)
{
	struct rpc_arg *a = &c->req.args[2];
	struct aroom *room = halloc(c, a->attrs.count * sizeof(*room));
	CK_RV rv;

	if (!room)
		return CKR_DEVICE_MEMORY;
	rv = attr_buffers(c, a->attrs.v, a->attrs.count, room, 0);
	if (rv != CKR_OK)
		return rv;
	rv = c->h->fl->C_GetAttributeValue(hu(c, 0), hu(c, 1), a->attrs.v,
					   a->attrs.count);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	if (attr_lengths_fit(c, a->attrs.v, a->attrs.count, room) != CKR_OK)
		return CKR_DEVICE_ERROR;
	c->out[0] = (struct rpc_arg){ .type = RPC_ARG_ATTRS,
				      .attrs = { a->attrs.v, a->attrs.count } };
	c->nout = 1;
	out_ulong(c, rv);
	return CKR_OK;
}

static CK_RV h_find_objects_init(struct hcall *c, size_t off)
{
	return c->h->fl->C_FindObjectsInit(hu(c, 0), TMPL(c, 1));
}

/* "ufu" -> "au" */
static CK_RV h_find_objects(struct hcall *c, size_t off)
{
	CK_ULONG room = c->req.args[1].room, n = 0;
	CK_OBJECT_HANDLE *v;
	CK_RV rv;

	if (room > HELPER_FIND_MAX)
		room = HELPER_FIND_MAX;
	if (!(v = halloc(c, (room ? room : 1) * sizeof(*v))))
		return CKR_DEVICE_MEMORY;
	rv = c->h->fl->C_FindObjects(hu(c, 0), v, room, &n);
	if (rv != CKR_OK)
		return rv;
	return out_ulongs(c, CKR_OK, v, n, room);
}

/* ---- keys ---- */

static CK_RV h_digest_init(struct hcall *c, size_t off)
{
	return c->h->fl->C_DigestInit(hu(c, 0), hmech(c, 1));
}

static CK_RV h_generate_key(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CK_RV rv =
	    c->h->fl->C_GenerateKey(hu(c, 0), hmech(c, 1), TMPL(c, 2), &h);

	return out_handle(c, rv, h);
}

static CK_RV h_generate_key_pair(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = c->h->fl->C_GenerateKeyPair(hu(c, 0), hmech(c, 1), TMPL(c, 2),
					 TMPL(c, 3), &pub, &priv);
	if (rv != CKR_OK)
		return rv;
	out_ulong(c, pub);
	out_ulong(c, priv);
	return CKR_OK;
}

/* "uMuufy" -> "ay" */
static CK_RV h_wrap_key(struct hcall *c, size_t off)
{
	CK_BYTE_PTR out;
	CK_ULONG len, room;
	CK_RV rv;

	if ((rv = byte_buffer(c, 4, &out, &room)) != CKR_OK)
		return rv;
	len = room;
	rv = c->h->fl->C_WrapKey(hu(c, 0), hmech(c, 1), hu(c, 2), hu(c, 3), out,
				 &len);
	return out_bytes(c, rv, out, len, room);
}

/* "uMuayaA" -> "u" */
static CK_RV h_unwrap_key(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG len;
	CK_BYTE_PTR wrapped = hbytes(c, 3, &len);
	CK_RV rv = c->h->fl->C_UnwrapKey(hu(c, 0), hmech(c, 1), hu(c, 2),
					 wrapped, len, TMPL(c, 4), &h);

	return out_handle(c, rv, h);
}

static CK_RV h_derive_key(struct hcall *c, size_t off)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CK_RV rv = c->h->fl->C_DeriveKey(hu(c, 0), hmech(c, 1), hu(c, 2),
					 TMPL(c, 3), &h);

	return out_handle(c, rv, h);
}

/* -> "uPu": the CK_RV, the mechanism parameter as updated, the key. */
static CK_RV h_derive_key2(struct hcall *c, size_t off)
{
	CK_MECHANISM_PTR mech = hmech(c, 1);
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	if (!mech)
		return CKR_MECHANISM_INVALID;
	rv = c->h->fl->C_DeriveKey(hu(c, 0), mech, hu(c, 2), TMPL(c, 3), &h);
	if (rv != CKR_OK)
		return rv;
	out_ulong(c, rv);
	c->out[c->nout++] =
	    (struct rpc_arg){ .type = RPC_ARG_MECH_UPDATE, .update = *mech };
	out_ulong(c, h);
	return CKR_OK;
}

/* "ufy" -> "ay": the room is the length asked for. */
static CK_RV h_generate_random(struct hcall *c, size_t off)
{
	CK_BYTE_PTR out;
	CK_ULONG room;
	CK_RV rv;

	if ((rv = byte_buffer(c, 1, &out, &room)) != CKR_OK)
		return rv;
	if (!out && !(out = halloc(c, 1)))
		return CKR_DEVICE_MEMORY;
	rv = c->h->fl->C_GenerateRandom(hu(c, 0), out, room);
	return out_bytes(c, rv, out, room, room);
}

/* ---- the table ---- */

struct hentry {
	hfn fn;     /* NULL: CKR_FUNCTION_NOT_SUPPORTED */
	size_t off; /* the function list member the call needs */
};

#define E(id, fn) [RPC_##id] = { fn, offsetof(CK_FUNCTION_LIST, id) }
#define E2(id, fn, member)                                                     \
	[RPC_##id] = { fn, offsetof(CK_FUNCTION_LIST, member) }

static const struct hentry table[RPC_CALL_COUNT] = {
	E(C_Initialize, h_initialize),
	E(C_Finalize, h_finalize),
	E(C_GetInfo, h_get_info),
	E(C_GetSlotList, h_get_slot_list),
	E(C_GetSlotInfo, h_get_slot_info),
	E(C_GetTokenInfo, h_get_token_info),
	E(C_GetMechanismList, h_get_mechanism_list),
	E(C_GetMechanismInfo, h_get_mechanism_info),
	E(C_InitToken, h_init_token),
	E(C_OpenSession, h_open_session),
	E(C_CloseSession, shape_u),
	E(C_CloseAllSessions, shape_u),
	E(C_GetSessionInfo, h_get_session_info),
	E(C_InitPIN, shape_uay),
	E(C_SetPIN, shape_uayay),
	E(C_GetOperationState, shape_final),
	E(C_SetOperationState, h_set_operation_state),
	E(C_Login, h_login),
	E(C_Logout, shape_u),
	E(C_CreateObject, h_create_object),
	E(C_CopyObject, h_copy_object),
	E(C_DestroyObject, shape_uu),
	E(C_GetObjectSize, h_get_object_size),
	E(C_GetAttributeValue, h_get_attribute_value),
	E(C_SetAttributeValue, h_set_attribute_value),
	E(C_FindObjectsInit, h_find_objects_init),
	E(C_FindObjects, h_find_objects),
	E(C_FindObjectsFinal, shape_u),
	E(C_EncryptInit, shape_init),
	E(C_Encrypt, shape_data),
	E(C_EncryptUpdate, shape_data),
	E(C_EncryptFinal, shape_final),
	E(C_DecryptInit, shape_init),
	E(C_Decrypt, shape_data),
	E(C_DecryptUpdate, shape_data),
	E(C_DecryptFinal, shape_final),
	E(C_DigestInit, h_digest_init),
	E(C_Digest, shape_data),
	E(C_DigestUpdate, shape_uay),
	E(C_DigestKey, shape_uu),
	E(C_DigestFinal, shape_final),
	E(C_SignInit, shape_init),
	E(C_Sign, shape_data),
	E(C_SignUpdate, shape_uay),
	E(C_SignFinal, shape_final),
	E(C_SignRecoverInit, shape_init),
	E(C_SignRecover, shape_data),
	E(C_VerifyInit, shape_init),
	E(C_Verify, shape_uayay),
	E(C_VerifyUpdate, shape_uay),
	E(C_VerifyFinal, shape_uay),
	E(C_VerifyRecoverInit, shape_init),
	E(C_VerifyRecover, shape_data),
	E(C_DigestEncryptUpdate, shape_data),
	E(C_DecryptDigestUpdate, shape_data),
	E(C_SignEncryptUpdate, shape_data),
	E(C_DecryptVerifyUpdate, shape_data),
	E(C_GenerateKey, h_generate_key),
	E(C_GenerateKeyPair, h_generate_key_pair),
	E(C_WrapKey, h_wrap_key),
	E(C_UnwrapKey, h_unwrap_key),
	E(C_DeriveKey, h_derive_key),
	E(C_SeedRandom, shape_uay),
	E(C_GenerateRandom, h_generate_random),
	E(C_WaitForSlotEvent, h_wait_for_slot_event),
	/* PKCS #11 3.0 calls need C_GetInterface: not offered yet. */
	E2(C_InitToken2, h_init_token2, C_InitToken),
	E2(C_DeriveKey2, h_derive_key2, C_DeriveKey),
};

CK_RV helper_dispatch(struct hcall *c)
{
	const struct hentry *e =
	    c->req.call_id < RPC_CALL_COUNT ? &table[c->req.call_id] : NULL;

	if (!e || !e->fn || !MEMBER(c, e->off, any_fn))
		return CKR_FUNCTION_NOT_SUPPORTED;
	return e->fn(c, e->off);
}
