/* The p11-kit RPC server (daemon/rpc_server.c) driven with request bodies
 * built by the codec (and recorded from Debian's p11-kit-client.so), against
 * the real front end over the software token: full client flows, two
 * connections' isolation, export policy (read-only, token filter,
 * server-side PIN), audit records, limits and malformed input. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "error.h"
#include "frontend.h"
#include "reader.h"
#include "rpc_server.h"
#include "soft_token.h"
#include "tokend-pkcs11.h"

/* C_Initialize as Debian 12's p11-kit-client.so (0.24.1) sends it. */
static const char fx_initialize[] =
    "000000010000000561797961790100000029505249564154452d474e4f4d452d"
    "4b455952494e472d504b435331312d50524f544f434f4c2d562d310001000000"
    "0100";
static const char fx_getinfo[] = "0000000300000000";
static const char fx_slotlist[] = "00000004000000037966750000000000";
static const char fx_slotlist2[] = "00000004000000037966750000000001";

static const char handshake[] = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";
static const uint8_t msg[] = "the quick brown fox";

/* ---- a client: encodes requests, decodes replies ---- */

struct client {
	struct rpc_server *srv;
	struct rpc_codec codec;
	struct rpc_message r; /* the last reply */
	uint8_t *last;        /* its bytes */
	size_t last_len;
};

#define U(v) ((struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = (v) })
#define Y(v) ((struct rpc_arg){ .type = RPC_ARG_BYTE, .byte = (v) })
#define AY(p, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_BYTES,                              \
			   .bytes = { (p), (n), false } })
#define AY_NULL                                                                \
	((struct rpc_arg){ .type = RPC_ARG_BYTES, .bytes = { NULL, 0, true } })
#define FY(n) ((struct rpc_arg){ .type = RPC_ARG_BYTE_BUF, .room = (n) })
#define FU(n) ((struct rpc_arg){ .type = RPC_ARG_ULONG_BUF, .room = (n) })
#define AA(v, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_ATTRS, .attrs = { (v), (n) } })
#define FA(v, n)                                                               \
	((struct rpc_arg){ .type = RPC_ARG_ATTR_BUF, .attrs = { (v), (n) } })
#define MECH(t)                                                                \
	((struct rpc_arg){ .type = RPC_ARG_MECH,                               \
			   .mech = { false, { (t), NULL, 0 } } })
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void client_new(struct client *cl, uint8_t offered,
		       const struct rpc_policy *pol, struct app *app)
{
	memset(cl, 0, sizeof(*cl));
	if (!app)
		assert_int_equal(app_new(&app), 0);
	cl->srv = rpc_server_new(offered, pol, app);
	assert_non_null(cl->srv);
	rpc_codec_init(&cl->codec, offered);
}

static void client_free(struct client *cl)
{
	rpc_message_clear(&cl->r);
	free(cl->last);
	rpc_server_free(&cl->srv);
	assert_null(cl->srv);
}

/* Sends raw bytes; returns rpc_server_handle's result, reply in cl->r. */
static int raw(struct client *cl, const uint8_t *p, size_t n, uint32_t want_id)
{
	struct buf b;
	int rc;

	rpc_message_clear(&cl->r);
	buf_init(&b, 0);
	rc = rpc_server_handle(cl->srv, p, n, &b);
	free(cl->last);
	cl->last = malloc(b.len + 1);
	memcpy(cl->last, b.data ? b.data : (uint8_t *)"", b.len);
	cl->last_len = b.len;
	if (rc == 0) {
		assert_int_equal(rpc_response_decode(&cl->codec, b.data, b.len,
						     CKM_ECDH1_DERIVE, &cl->r),
				 0);
		if (cl->r.call_id != RPC_CALL_ERROR)
			assert_int_equal(cl->r.call_id, want_id);
	} else {
		assert_int_equal(b.len, 0);
	}
	buf_free(&b);
	return rc;
}

/* One call; the CK_RV it answered (error replies and C_GetAttributeValue's
 * trailing CK_RV included). */
static CK_RV call(struct client *cl, uint32_t id, const struct rpc_arg *args,
		  size_t n)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	assert_int_equal(rpc_request_encode(&cl->codec, id, args, n, &b), 0);
	rc = raw(cl, b.data, b.len, id);
	buf_free(&b);
	assert_int_equal(rc, 0);
	if (cl->r.call_id == RPC_CALL_ERROR)
		return cl->r.args[0].ulong;
	if (id == RPC_C_GetAttributeValue)
		return cl->r.args[1].ulong;
	return CKR_OK;
}

/* The length C_GetAttributeValue's reply declares for attribute i, all of
 * them byte arrays (the codec's decoder keeps only what came with a value;
 * p11-kit's client keeps the declared length of a size query). */
static uint32_t reply_attr_len(const struct client *cl, uint32_t want)
{
	struct reader r = reader_init(cl->last, cl->last_len);
	uint32_t id, n, type, len = 0, vlen;
	uint8_t valid;

	assert_int_equal(reader_get_u32be(&r, &id), 0);
	assert_int_equal(reader_get_u32be(&r, &n), 0);
	assert_int_equal(reader_skip(&r, n), 0);
	assert_int_equal(reader_get_u32be(&r, &n), 0);
	for (uint32_t i = 0; i <= want && i < n; i++) {
		assert_int_equal(reader_get_u32be(&r, &type), 0);
		assert_int_equal(reader_get_u8(&r, &valid), 0);
		len = (uint32_t)CK_UNAVAILABLE_INFORMATION;
		if (!valid)
			continue;
		assert_int_equal(reader_get_u32be(&r, &len), 0);
		assert_int_equal(reader_get_u32be(&r, &vlen), 0);
		if (vlen != 0xffffffffu)
			assert_int_equal(reader_skip(&r, vlen), 0);
	}
	return len;
}

static uint8_t *unhex(const char *s, size_t *len)
{
	size_t i, n = strlen(s) / 2;
	uint8_t *p = malloc(n ? n : 1);
	unsigned v;

	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		p[i] = (uint8_t)v;
	}
	*len = n;
	return p;
}

static int raw_hex(struct client *cl, const char *hex, uint32_t want_id)
{
	size_t n;
	uint8_t *p = unhex(hex, &n);
	int rc = raw(cl, p, n, want_id);

	free(p);
	return rc;
}

/* ---- flows ---- */

static void init(struct client *cl)
{
	struct rpc_arg a[] = { AY((const CK_BYTE *)handshake,
				  sizeof(handshake) - 1),
			       Y(0), AY((const CK_BYTE *)"", 1) };

	assert_int_equal(call(cl, RPC_C_Initialize, a, 3), CKR_OK);
}

static CK_SLOT_ID first_slot(struct client *cl)
{
	struct rpc_arg a[] = { Y(CK_TRUE), FU(8) };

	assert_int_equal(call(cl, RPC_C_GetSlotList, a, 2), CKR_OK);
	assert_int_equal(cl->r.args[0].ulongs.count, 1);
	return cl->r.args[0].ulongs.v[0];
}

static CK_SESSION_HANDLE open_session(struct client *cl, CK_SLOT_ID slot)
{
	struct rpc_arg a[] = { U(slot),
			       U(CKF_SERIAL_SESSION | CKF_RW_SESSION) };

	assert_int_equal(call(cl, RPC_C_OpenSession, a, 2), CKR_OK);
	return cl->r.args[0].ulong;
}

static CK_RV login(struct client *cl, CK_SESSION_HANDLE s, const char *pin)
{
	struct rpc_arg a[] = { U(s), U(CKU_USER),
			       pin ? AY((const CK_BYTE *)pin, strlen(pin))
				   : AY_NULL };

	return call(cl, RPC_C_Login, a, 3);
}

/* How many private keys with CKA_ID id this connection can see. */
static CK_ULONG find_keys(struct client *cl, CK_SESSION_HANDLE s, uint8_t id)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN } };
	struct rpc_arg a[] = { U(s), AA(t, 2) };
	struct rpc_arg f[] = { U(s), FU(4) };
	CK_ULONG n;

	assert_int_equal(call(cl, RPC_C_FindObjectsInit, a, 2), CKR_OK);
	assert_int_equal(call(cl, RPC_C_FindObjects, f, 2), CKR_OK);
	n = cl->r.args[0].ulongs.count;
	assert_int_equal(call(cl, RPC_C_FindObjectsFinal, a, 1), CKR_OK);
	return n;
}

static CK_OBJECT_HANDLE find_key(struct client *cl, CK_SESSION_HANDLE s,
				 uint8_t id)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN } };
	struct rpc_arg a[] = { U(s), AA(t, 2) };
	struct rpc_arg f[] = { U(s), FU(4) };
	CK_OBJECT_HANDLE h;

	assert_int_equal(call(cl, RPC_C_FindObjectsInit, a, 2), CKR_OK);
	assert_int_equal(call(cl, RPC_C_FindObjects, f, 2), CKR_OK);
	assert_int_equal(cl->r.args[0].ulongs.count, 1);
	h = cl->r.args[0].ulongs.v[0];
	assert_int_equal(call(cl, RPC_C_FindObjectsFinal, a, 1), CKR_OK);
	return h;
}

static CK_RV sign_init(struct client *cl, CK_SESSION_HANDLE s,
		       CK_OBJECT_HANDLE k)
{
	struct rpc_arg a[] = { U(s), MECH(CKM_SHA256_RSA_PKCS), U(k) };

	return call(cl, RPC_C_SignInit, a, 3);
}

static bool rsa_verify(const uint8_t *sig, size_t len)
{
	EVP_PKEY *k = soft_key(1);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	bool ok = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
		  EVP_DigestVerify(m, sig, len, msg, sizeof(msg) - 1) == 1;

	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	return ok;
}

/* C_Sign with a size query first, then the signature; verified. */
static void sign_ok(struct client *cl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
	struct rpc_arg q[] = { U(s), AY(msg, sizeof(msg) - 1), FY(0) };
	struct rpc_arg a[] = { U(s), AY(msg, sizeof(msg) - 1), FY(16) };
	CK_ULONG len;

	assert_int_equal(sign_init(cl, s, k), CKR_OK);
	assert_int_equal(call(cl, RPC_C_Sign, q, 3), CKR_OK);
	assert_true(cl->r.args[0].bytes.null);
	len = cl->r.args[0].bytes.len;
	assert_int_equal(len, 256);
	/* too small: only the length comes back, the operation stays */
	assert_int_equal(call(cl, RPC_C_Sign, a, 3), CKR_OK);
	assert_true(cl->r.args[0].bytes.null);
	assert_int_equal(cl->r.args[0].bytes.len, 256);
	a[2] = FY(len);
	assert_int_equal(call(cl, RPC_C_Sign, a, 3), CKR_OK);
	assert_false(cl->r.args[0].bytes.null);
	assert_int_equal(cl->r.args[0].bytes.len, 256);
	assert_true(rsa_verify(cl->r.args[0].bytes.p, cl->r.args[0].bytes.len));
}

static int group_setup(void **state)
{
	struct tk_driver **drv = calloc(1, sizeof(*drv));

	(void)state;
	soft_reset_all();
	if (!drv || soft_driver_new(&drv[0]) < 0)
		return -1;
	if (frontend_init(drv, 1) != 0)
		return -1;
	frontend_events_queue(soft_queue());
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	frontend_fini();
	return 0;
}

static void test_full_flow(void **state)
{
	struct client cl;
	CK_ATTRIBUTE t[2] = { { CKA_LABEL, NULL, 0 },
			      { CKA_MODULUS, NULL, 0 } };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	CK_SLOT_ID slot;
	uint8_t room[512];

	(void)state;
	client_new(&cl, 0, NULL, NULL);
	/* before C_Initialize nothing works */
	assert_int_equal(raw_hex(&cl, fx_getinfo, RPC_C_GetInfo), 0);
	assert_int_equal(cl.r.call_id, RPC_CALL_ERROR);
	assert_int_equal(cl.r.args[0].ulong, CKR_CRYPTOKI_NOT_INITIALIZED);
	/* the real client's requests */
	assert_int_equal(raw_hex(&cl, fx_initialize, RPC_C_Initialize), 0);
	assert_int_equal(cl.r.call_id, RPC_C_Initialize);
	assert_int_equal(raw_hex(&cl, fx_getinfo, RPC_C_GetInfo), 0);
	assert_memory_equal(cl.r.args[3].bytes.p, "tokend", 6);
	assert_int_equal(raw_hex(&cl, fx_slotlist, RPC_C_GetSlotList), 0);
	assert_true(cl.r.args[0].ulongs.null); /* count only */
	assert_int_equal(cl.r.args[0].ulongs.count, 1);
	assert_int_equal(raw_hex(&cl, fx_slotlist2, RPC_C_GetSlotList), 0);
	assert_false(cl.r.args[0].ulongs.null);
	slot = cl.r.args[0].ulongs.v[0];

	struct rpc_arg ti[] = { U(slot) };
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, ti, 1), CKR_OK);
	assert_memory_equal(cl.r.args[0].bytes.p, "Soft token #1", 13);
	assert_false(cl.r.args[4].ulong & CKF_WRITE_PROTECTED);
	struct rpc_arg ml[] = { U(slot), FU(0) };
	assert_int_equal(call(&cl, RPC_C_GetMechanismList, ml, 2), CKR_OK);
	assert_true(cl.r.args[0].ulongs.count > 3);

	s = open_session(&cl, slot);
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);
	k = find_key(&cl, s, 1);
	/* attributes: a size query, then values */
	struct rpc_arg ga[] = { U(s), U(k), FA(t, 2) };
	assert_int_equal(call(&cl, RPC_C_GetAttributeValue, ga, 3), CKR_OK);
	assert_int_equal(reply_attr_len(&cl, 1), 256);
	t[0].pValue = room;
	t[0].ulValueLen = reply_attr_len(&cl, 0);
	assert_true(t[0].ulValueLen > 0 && t[0].ulValueLen < 256);
	t[1].pValue = room;
	t[1].ulValueLen = 256;
	assert_int_equal(call(&cl, RPC_C_GetAttributeValue, ga, 3), CKR_OK);
	assert_int_equal(cl.r.args[0].attrs.v[0].ulValueLen, t[0].ulValueLen);
	assert_non_null(cl.r.args[0].attrs.v[1].pValue);
	/* one byte short: CKR_BUFFER_TOO_SMALL, value unavailable */
	t[1].ulValueLen = 255;
	assert_int_equal(call(&cl, RPC_C_GetAttributeValue, ga, 3),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(cl.r.args[0].attrs.v[1].ulValueLen,
			 CK_UNAVAILABLE_INFORMATION);

	sign_ok(&cl, s, k);
	struct rpc_arg gs[] = { U(s) };
	assert_int_equal(call(&cl, RPC_C_GetSessionInfo, gs, 1), CKR_OK);
	assert_int_equal(cl.r.args[1].ulong, CKS_RW_USER_FUNCTIONS);
	assert_int_equal(call(&cl, RPC_C_Logout, gs, 1), CKR_OK);
	assert_int_equal(call(&cl, RPC_C_CloseSession, gs, 1), CKR_OK);
	assert_int_equal(call(&cl, RPC_C_CloseSession, gs, 1),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(call(&cl, RPC_C_Finalize, NULL, 0), CKR_OK);
	assert_int_equal(call(&cl, RPC_C_Finalize, NULL, 0),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	client_free(&cl);
}

/* Login belongs to the connection; C_Finalize and disconnects only touch
 * their own connection. */
static void test_two_connections(void **state)
{
	struct client a, b, c;
	CK_SESSION_HANDLE sa, sb, sc;
	CK_OBJECT_HANDLE ka, kb;
	CK_SLOT_ID slot;
	int logouts;
	CK_RV rv;

	(void)state;
	client_new(&a, 2, NULL, NULL);
	client_new(&b, 1, NULL, NULL);
	init(&a);
	init(&b);
	slot = first_slot(&a);
	sa = open_session(&a, slot);
	sb = open_session(&b, slot);
	/* B sees no private key until it logs in */
	assert_int_equal(find_keys(&b, sb, 1), 0);
	assert_int_equal(login(&b, sb, SOFT_PIN), CKR_OK);
	kb = find_key(&b, sb, 1);
	struct rpc_arg lo[] = { U(sb) };
	assert_int_equal(call(&b, RPC_C_Logout, lo, 1), CKR_OK);
	/* A logs in: that does not let B sign */
	assert_int_equal(login(&a, sa, SOFT_PIN), CKR_OK);
	ka = find_key(&a, sa, 1);
	rv = sign_init(&b, sb, kb);
	if (rv == CKR_OK) {
		struct rpc_arg s[] = { U(sb), AY(msg, sizeof(msg) - 1),
				       FY(512) };
		rv = call(&b, RPC_C_Sign, s, 3);
	}
	/* B's handle of the private key died with B's logout */
	assert_int_equal(rv, CKR_KEY_HANDLE_INVALID);
	/* A's handles mean nothing on B */
	struct rpc_arg gs[] = { U(sa) };
	assert_int_equal(call(&b, RPC_C_GetSessionInfo, gs, 1),
			 sa == sb ? CKR_OK : CKR_SESSION_HANDLE_INVALID);
	sign_ok(&a, sa, ka);

	/* B logs in too; A finalizes; B still signs */
	assert_int_equal(login(&b, sb, SOFT_PIN), CKR_OK);
	assert_int_equal(call(&a, RPC_C_Finalize, NULL, 0), CKR_OK);
	assert_int_equal(call(&a, RPC_C_GetSessionInfo, gs, 1),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	sign_ok(&b, sb, kb);
	client_free(&a);

	/* B vanishes without C_Finalize: the card is logged out, a new
	 * client finds a clean token */
	logouts = soft_stats.logout;
	client_free(&b);
	assert_true(soft_stats.logout > logouts);
	client_new(&c, 0, NULL, NULL);
	init(&c);
	sc = open_session(&c, first_slot(&c));
	struct rpc_arg gc[] = { U(sc) };
	assert_int_equal(call(&c, RPC_C_GetSessionInfo, gc, 1), CKR_OK);
	assert_int_equal(c.r.args[1].ulong, CKS_RW_PUBLIC_SESSION);
	assert_int_equal(find_keys(&c, sc, 1), 0);
	client_free(&c);
}

/* ---- export policy and audit ---- */

struct audit_log {
	int n;
	struct rpc_audit_event ev[16];
	uint8_t id[16][64];
	char label[16][65];
	char serial[16][17];
};

static void audit_cb(void *ctx, const struct rpc_audit_event *ev)
{
	struct audit_log *l = ctx;

	if (l->n == 16)
		return;
	l->ev[l->n] = *ev;
	memcpy(l->id[l->n], ev->key_id ? ev->key_id : (const uint8_t *)"",
	       ev->key_id_len);
	snprintf(l->label[l->n], sizeof(l->label[0]), "%s", ev->key_label);
	snprintf(l->serial[l->n], sizeof(l->serial[0]), "%s", ev->serial);
	l->ev[l->n].serial = l->serial[l->n];
	l->ev[l->n].key_label = l->label[l->n];
	l->n++;
}

static const char *filter_serial = "1";

static bool filter_cb(void *ctx, const CK_TOKEN_INFO *ti)
{
	size_t n = strlen(filter_serial);

	(void)ctx;
	return ti && memcmp(ti->serialNumber, filter_serial, n) == 0 &&
	       (n == sizeof(ti->serialNumber) || ti->serialNumber[n] == ' ');
}

static int pin_cb(void *ctx, CK_SLOT_ID slot, enum tk_user user, uint8_t *pin,
		  size_t *len)
{
	const char *p = ctx;

	if (*len < strlen(p))
		return TK_ERR_ARG;
	memcpy(pin, p, strlen(p));
	*len = strlen(p);
	return 0;
}

static void test_read_only(void **state)
{
	struct rpc_policy pol = { .read_only = true };
	struct client cl;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &yes, 1 },
			     { CKA_CLASS, &cls, sizeof(cls) } };
	int generated = soft_stats.generate;

	(void)state;
	client_new(&cl, 0, &pol, NULL);
	init(&cl);
	slot = first_slot(&cl);
	struct rpc_arg ti[] = { U(slot) };
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, ti, 1), CKR_OK);
	assert_true(cl.r.args[4].ulong & CKF_WRITE_PROTECTED);
	s = open_session(&cl, slot);
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);
	struct rpc_arg g[] = { U(s), MECH(CKM_EC_KEY_PAIR_GEN), AA(t, 1),
			       AA(t, 1) };
	assert_int_equal(call(&cl, RPC_C_GenerateKeyPair, g, 4),
			 CKR_TOKEN_WRITE_PROTECTED);
	assert_int_equal(soft_stats.generate, generated);
	struct rpc_arg co[] = { U(s), AA(t, 2) };
	assert_int_equal(call(&cl, RPC_C_CreateObject, co, 2),
			 CKR_TOKEN_WRITE_PROTECTED);
	struct rpc_arg sp[] = { U(s), AY((const CK_BYTE *)SOFT_PIN, 6),
				AY((const CK_BYTE *)"654321", 6) };
	assert_int_equal(call(&cl, RPC_C_SetPIN, sp, 3),
			 CKR_TOKEN_WRITE_PROTECTED);
	/* reading and signing still work */
	sign_ok(&cl, s, find_key(&cl, s, 1));
	client_free(&cl);
}

static void test_token_filter(void **state)
{
	struct rpc_policy pol = { .shows_token = filter_cb };
	struct client cl;
	CK_SLOT_ID slot;

	(void)state;
	/* the filter matches: the token is there */
	filter_serial = "1";
	client_new(&cl, 0, &pol, NULL);
	init(&cl);
	slot = first_slot(&cl);
	client_free(&cl);

	/* the filter does not match: no slot, and naming it is invalid */
	filter_serial = "999";
	client_new(&cl, 0, &pol, NULL);
	init(&cl);
	struct rpc_arg sl[] = { Y(CK_FALSE), FU(8) };
	assert_int_equal(call(&cl, RPC_C_GetSlotList, sl, 2), CKR_OK);
	assert_int_equal(cl.r.args[0].ulongs.count, 0);
	struct rpc_arg ts[] = { U(slot) };
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, ts, 1),
			 CKR_SLOT_ID_INVALID);
	assert_int_equal(call(&cl, RPC_C_GetSlotInfo, ts, 1),
			 CKR_SLOT_ID_INVALID);
	struct rpc_arg ml[] = { U(slot), FU(0) };
	assert_int_equal(call(&cl, RPC_C_GetMechanismList, ml, 2),
			 CKR_SLOT_ID_INVALID);
	struct rpc_arg os[] = { U(slot), U(CKF_SERIAL_SESSION) };
	assert_int_equal(call(&cl, RPC_C_OpenSession, os, 2),
			 CKR_SLOT_ID_INVALID);
	assert_int_equal(call(&cl, RPC_C_CloseAllSessions, ts, 1),
			 CKR_SLOT_ID_INVALID);
	client_free(&cl);
}

/* prefer=: the export's pick, scripted: the soft token's slot, another
 * token's, or none. */
static CK_SLOT_ID prefer_pick;
static bool prefer_any;

static bool prefer_cb(void *ctx, struct app *app, CK_SLOT_ID *slot)
{
	(void)ctx;
	(void)app;
	*slot = prefer_pick;
	return prefer_any;
}

/* The client sees one slot, 0, whatever token is behind it; a session on
 * a token no longer shown ends as on a pulled card; a replaced token is a
 * slot event of slot 0; with no token, slot 0 is listed, empty. */
static void test_prefer_one_slot(void **state)
{
	struct rpc_policy pol = { .picks_slot = prefer_cb };
	struct client cl;
	CK_SLOT_ID real;
	CK_SESSION_HANDLE s;

	(void)state;
	client_new(&cl, 0, NULL, NULL);
	init(&cl);
	real = first_slot(&cl);
	client_free(&cl);
	assert_int_not_equal(real, 0);

	prefer_pick = real;
	prefer_any = true;
	client_new(&cl, 0, &pol, NULL);
	init(&cl);
	assert_int_equal(first_slot(&cl), 0);
	struct rpc_arg rs[] = { U(real) };
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, rs, 1),
			 CKR_SLOT_ID_INVALID);
	s = open_session(&cl, 0);
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);
	sign_ok(&cl, s, find_key(&cl, s, 1));
	struct rpc_arg gi[] = { U(s) };
	assert_int_equal(call(&cl, RPC_C_GetSessionInfo, gi, 1), CKR_OK);
	assert_int_equal(cl.r.args[0].ulong, 0); /* slotID */

	/* The card replaced in place: an event of slot 0. */
	struct rpc_arg w[] = { U(CKF_DONT_BLOCK) };
	assert_int_equal(call(&cl, RPC_C_WaitForSlotEvent, w, 1), CKR_NO_EVENT);
	soft_swap();
	assert_int_equal(call(&cl, RPC_C_WaitForSlotEvent, w, 1), CKR_OK);
	assert_int_equal(cl.r.args[0].ulong, 0);
	assert_int_equal(call(&cl, RPC_C_GetSessionInfo, gi, 1),
			 CKR_DEVICE_REMOVED);
	s = open_session(&cl, 0);

	/* Another token shown: the session ends as on a pulled card. */
	prefer_pick = real + 100;
	struct rpc_arg gi2[] = { U(s) };
	assert_int_equal(call(&cl, RPC_C_GetSessionInfo, gi2, 1),
			 CKR_DEVICE_REMOVED);
	assert_int_equal(call(&cl, RPC_C_GetSessionInfo, gi2, 1),
			 CKR_SESSION_HANDLE_INVALID);

	/* None: slot 0 listed, empty; its token calls say so. */
	prefer_any = false;
	struct rpc_arg sl[] = { Y(CK_FALSE), FU(8) };
	assert_int_equal(call(&cl, RPC_C_GetSlotList, sl, 2), CKR_OK);
	assert_int_equal(cl.r.args[0].ulongs.count, 1);
	assert_int_equal(cl.r.args[0].ulongs.v[0], 0);
	sl[0] = Y(CK_TRUE);
	assert_int_equal(call(&cl, RPC_C_GetSlotList, sl, 2), CKR_OK);
	assert_int_equal(cl.r.args[0].ulongs.count, 0);
	struct rpc_arg z[] = { U(0) };
	assert_int_equal(call(&cl, RPC_C_GetSlotInfo, z, 1), CKR_OK);
	assert_int_equal(cl.r.args[2].ulong & CKF_TOKEN_PRESENT, 0);
	assert_int_not_equal(cl.r.args[2].ulong & CKF_REMOVABLE_DEVICE, 0);
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, z, 1),
			 CKR_TOKEN_NOT_PRESENT);
	struct rpc_arg os[] = { U(0), U(CKF_SERIAL_SESSION) };
	assert_int_equal(call(&cl, RPC_C_OpenSession, os, 2),
			 CKR_TOKEN_NOT_PRESENT);
	client_free(&cl);
}

/* Server-side PIN: a NULL PIN logs in; audit records name no PIN. */
static void test_null_pin_and_audit(void **state)
{
	struct audit_log log = { 0 };
	struct rpc_policy pol = { .ctx = &log, .audit = audit_cb };
	struct client cl;
	struct app *app;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;

	(void)state;
	assert_int_equal(app_new(&app), 0);
	app_set_pin_provider(app, pin_cb, (void *)SOFT_PIN);
	client_new(&cl, 2, &pol, app);
	init(&cl);
	slot = first_slot(&cl);
	struct rpc_arg ti[] = { U(slot) };
	assert_int_equal(call(&cl, RPC_C_GetTokenInfo, ti, 1), CKR_OK);
	assert_true(cl.r.args[4].ulong & CKF_PROTECTED_AUTHENTICATION_PATH);
	s = open_session(&cl, slot);
	assert_int_equal(login(&cl, s, "000000"), CKR_PIN_INCORRECT);
	assert_int_equal(login(&cl, s, NULL), CKR_OK);
	sign_ok(&cl, s, find_key(&cl, s, 1));

	assert_int_equal(log.n, 3);
	assert_int_equal(log.ev[0].kind, RPC_AUDIT_LOGIN);
	assert_int_equal(log.ev[0].rv, CKR_PIN_INCORRECT);
	assert_false(log.ev[0].server_pin);
	assert_string_equal(log.ev[0].call, "C_Login");
	assert_string_equal(log.ev[0].serial, "1");
	assert_int_equal(log.ev[0].slot, slot);
	assert_int_equal(log.ev[1].rv, CKR_OK);
	assert_true(log.ev[1].server_pin);
	assert_int_equal(log.ev[1].user, CKU_USER);
	/* one record for the signature, not for the size queries */
	assert_int_equal(log.ev[2].kind, RPC_AUDIT_KEY_USE);
	assert_string_equal(log.ev[2].call, "C_Sign");
	assert_string_equal(log.ev[2].op, "sign");
	assert_int_equal(log.ev[2].mech, CKM_SHA256_RSA_PKCS);
	assert_int_equal(log.ev[2].key_id_len, SOFT_ID_LEN);
	assert_memory_equal(log.id[2], soft_idb(1), SOFT_ID_LEN);
	assert_true(strlen(log.label[2]) > 0);
	assert_int_equal(log.ev[2].rv, CKR_OK);
	client_free(&cl);
}

/* RSA decryption and ECDH through C_DeriveKey2 (a 0.25.6+ client), each
 * audited once with its key and mechanism. */
static void test_decrypt_derive(void **state)
{
	struct audit_log log = { 0 };
	struct rpc_policy pol = { .ctx = &log, .audit = audit_cb };
	struct client cl;
	CK_SESSION_HANDLE s;
	uint8_t ct[256], pt[200], want[64], z[64];
	size_t ctl = sizeof(ct), ptl = sizeof(pt), wl = sizeof(want);
	EVP_PKEY *rsa = soft_key(1), *mine = soft_key(3);
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY_CTX *pc;

	(void)state;
	client_new(&cl, 2, &pol, NULL);
	init(&cl);
	s = open_session(&cl, first_slot(&cl));
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);

	pc = EVP_PKEY_CTX_new(rsa, NULL);
	assert_int_equal(EVP_PKEY_encrypt_init(pc), 1);
	assert_int_equal(EVP_PKEY_encrypt(pc, ct, &ctl, msg, sizeof(msg) - 1),
			 1);
	EVP_PKEY_CTX_free(pc);
	struct rpc_arg di[] = { U(s), MECH(CKM_RSA_PKCS),
				U(find_key(&cl, s, 1)) };
	assert_int_equal(call(&cl, RPC_C_DecryptInit, di, 3), CKR_OK);
	struct rpc_arg dq[] = { U(s), AY(ct, ctl), FY(0) };
	assert_int_equal(call(&cl, RPC_C_Decrypt, dq, 3), CKR_OK);
	assert_true(cl.r.args[0].bytes.null);
	struct rpc_arg dd[] = { U(s), AY(ct, ctl), FY(256) };
	assert_int_equal(call(&cl, RPC_C_Decrypt, dd, 3), CKR_OK);
	assert_int_equal(cl.r.args[0].bytes.len, sizeof(msg) - 1);
	assert_memory_equal(cl.r.args[0].bytes.p, msg, sizeof(msg) - 1);

	EVP_PKEY_get_octet_string_param(peer, "encoded-pub-key", pt, ptl, &ptl);
	pc = EVP_PKEY_CTX_new(peer, NULL);
	EVP_PKEY_derive_init(pc);
	EVP_PKEY_derive_set_peer(pc, mine);
	assert_int_equal(EVP_PKEY_derive(pc, want, &wl), 1);
	EVP_PKEY_CTX_free(pc);
	CK_ECDH1_DERIVE_PARAMS ep = { CKD_NULL, 0, NULL, ptl, pt };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_KEY_TYPE, &kt, sizeof(kt) },
				{ CKA_TOKEN, &f, 1 },
				{ CKA_SENSITIVE, &f, 1 },
				{ CKA_EXTRACTABLE, &t, 1 } };
	struct rpc_arg dk[] = { U(s), MECH(CKM_ECDH1_DERIVE),
				U(find_key(&cl, s, 3)), AA(tmpl, 5) };
	dk[1].mech.mech.pParameter = &ep;
	dk[1].mech.mech.ulParameterLen = sizeof(ep);
	assert_int_equal(call(&cl, RPC_C_DeriveKey2, dk, 4), CKR_OK);
	/* "uPu" = CK_RV, parameter update (present, nothing to update for
	 * ECDH), key: the order p11-kit 0.26's client reads */
	assert_int_equal(cl.r.nargs, 3);
	assert_int_equal(cl.r.args[0].ulong, CKR_OK);
	assert_int_equal(cl.r.args[1].type, RPC_ARG_MECH_UPDATE);
	assert_non_null(cl.r.args[1].update.pParameter);
	assert_int_not_equal(cl.r.args[2].ulong, CK_INVALID_HANDLE);
	/* byte for byte: id 89, "uPu", CKR_OK, present, then the handle */
	static const uint8_t dk2[] = { 0,   0, 0, 89, 0, 0, 0, 3, 'u', 'P',
				       'u', 0, 0, 0,  0, 0, 0, 0, 0,   1 };
	assert_int_equal(cl.last_len, sizeof(dk2) + 8);
	assert_memory_equal(cl.last, dk2, sizeof(dk2));
	uint64_t h = 0;
	for (size_t i = 0; i < 8; i++)
		h = h << 8 | cl.last[sizeof(dk2) + i];
	assert_int_equal(h, cl.r.args[2].ulong);
	CK_ATTRIBUTE val = { CKA_VALUE, z, sizeof(z) };
	struct rpc_arg gv[] = { U(s), U(cl.r.args[2].ulong), FA(&val, 1) };
	assert_int_equal(call(&cl, RPC_C_GetAttributeValue, gv, 3), CKR_OK);
	assert_int_equal(cl.r.args[0].attrs.v[0].ulValueLen, wl);
	assert_memory_equal(cl.r.args[0].attrs.v[0].pValue, want, wl);

	assert_int_equal(log.n, 3); /* login, decrypt, derive */
	assert_string_equal(log.ev[1].call, "C_Decrypt");
	assert_string_equal(log.ev[1].op, "decrypt");
	assert_int_equal(log.ev[1].mech, CKM_RSA_PKCS);
	assert_memory_equal(log.id[1], soft_idb(1), SOFT_ID_LEN);
	assert_string_equal(log.ev[2].call, "C_DeriveKey2");
	assert_string_equal(log.ev[2].op, "derive");
	assert_int_equal(log.ev[2].mech, CKM_ECDH1_DERIVE);
	assert_memory_equal(log.id[2], soft_idb(3), SOFT_ID_LEN);
	assert_int_equal(log.ev[2].rv, CKR_OK);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(mine);
	EVP_PKEY_free(peer);
	client_free(&cl);
}

/* ---- limits and refusals ---- */

static void test_session_limit(void **state)
{
	struct rpc_policy pol = { .limits = { .max_sessions = 2 } };
	struct client cl;
	CK_SESSION_HANDLE s1;
	CK_SLOT_ID slot;

	(void)state;
	client_new(&cl, 0, &pol, NULL);
	init(&cl);
	slot = first_slot(&cl);
	s1 = open_session(&cl, slot);
	open_session(&cl, slot);
	struct rpc_arg os[] = { U(slot), U(CKF_SERIAL_SESSION) };
	assert_int_equal(call(&cl, RPC_C_OpenSession, os, 2),
			 CKR_SESSION_COUNT);
	struct rpc_arg cs[] = { U(s1) };
	assert_int_equal(call(&cl, RPC_C_CloseSession, cs, 1), CKR_OK);
	open_session(&cl, slot);
	/* C_CloseAllSessions frees them all */
	struct rpc_arg ca[] = { U(slot) };
	assert_int_equal(call(&cl, RPC_C_CloseAllSessions, ca, 1), CKR_OK);
	open_session(&cl, slot);
	open_session(&cl, slot);
	client_free(&cl);
}

static void test_not_supported(void **state)
{
	struct client cl;
	CK_SESSION_HANDLE s;

	(void)state;
	client_new(&cl, 2, NULL, NULL);
	init(&cl);
	/* a second C_Initialize on the connection */
	struct rpc_arg in[] = { AY((const CK_BYTE *)handshake,
				   sizeof(handshake) - 1),
				Y(0), AY_NULL };
	assert_int_equal(call(&cl, RPC_C_Initialize, in, 3),
			 CKR_CRYPTOKI_ALREADY_INITIALIZED);
	s = open_session(&cl, first_slot(&cl));
	struct rpc_arg w[] = { U(CKF_DONT_BLOCK) };
	assert_int_equal(call(&cl, RPC_C_WaitForSlotEvent, w, 1), CKR_NO_EVENT);
	/* A blocking wait does not hold the thread either (a hang here is
	 * the test's timeout): the connection parks it (daemon/conn.c). */
	struct rpc_arg wb[] = { U(0) };
	assert_int_equal(call(&cl, RPC_C_WaitForSlotEvent, wb, 1),
			 CKR_NO_EVENT);
	/* no RNG on PIV: the front end's answer, as in-process */
	struct rpc_arg gr[] = { U(s), FY(16) };
	assert_int_equal(call(&cl, RPC_C_GenerateRandom, gr, 2),
			 CKR_RANDOM_NO_RNG);
	struct rpc_arg sr[] = { U(s), AY(msg, 4) };
	assert_int_equal(call(&cl, RPC_C_SeedRandom, sr, 2), CKR_RANDOM_NO_RNG);
	struct rpc_arg em[] = { U(s), AY(msg, 4), AY(msg, 4), AY(msg, 4),
				FY(16) };
	assert_int_equal(call(&cl, RPC_C_EncryptMessage, em, 5),
			 CKR_FUNCTION_NOT_SUPPORTED);
	struct rpc_arg sc[] = { U(s), U(0) };
	assert_int_equal(call(&cl, RPC_C_SessionCancel, sc, 2),
			 CKR_FUNCTION_NOT_SUPPORTED);
	/* C_LoginUser is C_Login */
	struct rpc_arg lu[] = { U(s), U(CKU_USER),
				AY((const CK_BYTE *)SOFT_PIN, 6),
				AY((const CK_BYTE *)"me", 2) };
	assert_int_equal(call(&cl, RPC_C_LoginUser, lu, 4), CKR_OK);
	/* a digest, in one part and in several */
	struct rpc_arg di[] = { U(s), MECH(CKM_SHA256) };
	struct rpc_arg dd[] = { U(s), AY(msg, sizeof(msg) - 1), FY(64) };
	assert_int_equal(call(&cl, RPC_C_DigestInit, di, 2), CKR_OK);
	assert_int_equal(call(&cl, RPC_C_Digest, dd, 3), CKR_OK);
	assert_int_equal(cl.r.args[0].bytes.len, 32);
	assert_int_equal(call(&cl, RPC_C_DigestInit, di, 2), CKR_OK);
	struct rpc_arg du[] = { U(s), AY(msg, sizeof(msg) - 1) };
	assert_int_equal(call(&cl, RPC_C_DigestUpdate, du, 2), CKR_OK);
	struct rpc_arg df[] = { U(s), FY(0) };
	assert_int_equal(call(&cl, RPC_C_DigestFinal, df, 2), CKR_OK);
	assert_int_equal(cl.r.args[0].bytes.len, 32);
	client_free(&cl);
}

static void test_malformed(void **state)
{
	static const uint8_t unknown[] = { 0, 0, 0, 90, 0, 0, 0, 0 };
	static const uint8_t huge_id[] = { 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	static const uint8_t error_id[] = { 0, 0, 0, 0, 0, 0, 0, 1, 'u',
					    0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t bad_sig[] = { 0, 0, 0, 3, 0, 0, 0, 1, 'u' };
	static const uint8_t trailing[] = { 0, 0, 0, 3, 0, 0, 0, 0, 0 };
	struct client cl;
	size_t n, i;
	uint8_t *p;

	(void)state;
	client_new(&cl, 0, NULL, NULL);
	assert_int_equal(raw(&cl, NULL, 0, 0), TK_ERR_INVALID);
	assert_int_equal(raw(&cl, unknown, sizeof(unknown), 0), TK_ERR_INVALID);
	assert_int_equal(raw(&cl, huge_id, sizeof(huge_id), 0), TK_ERR_INVALID);
	assert_int_equal(raw(&cl, error_id, sizeof(error_id), 0),
			 TK_ERR_INVALID);
	assert_int_equal(raw(&cl, bad_sig, sizeof(bad_sig), 0), TK_ERR_INVALID);
	assert_int_equal(raw(&cl, trailing, sizeof(trailing), 0),
			 TK_ERR_INVALID);
	/* every truncation of a real request is refused */
	p = unhex(fx_initialize, &n);
	for (i = 0; i < n; i++)
		assert_true(raw(&cl, p, i, 0) < 0);
	assert_int_equal(raw(&cl, p, n, RPC_C_Initialize), 0);
	free(p);
	/* a handshake that is not p11-kit's: an error reply, not a close */
	struct rpc_arg in[] = { AY((const CK_BYTE *)"hello", 5), Y(0),
				AY_NULL };
	client_free(&cl);
	client_new(&cl, 0, NULL, NULL);
	assert_int_equal(call(&cl, RPC_C_Initialize, in, 3), CKR_GENERAL_ERROR);
	client_free(&cl);
}

/* ---- concurrency: one connection, several threads ---- */

struct worker {
	struct client *cl;
	CK_OBJECT_HANDLE key;
	CK_SLOT_ID slot;
	int ok;
};

static CK_RV worker_call(struct worker *w, const struct rpc_codec *codec,
			 uint32_t id, const struct rpc_arg *a, size_t n,
			 struct rpc_message *r)
{
	struct buf q, b;
	CK_RV rv = CKR_GENERAL_ERROR;

	buf_init(&q, 0);
	buf_init(&b, 0);
	if (rpc_request_encode(codec, id, a, n, &q) == 0 &&
	    rpc_server_handle(w->cl->srv, q.data, q.len, &b) == 0 &&
	    rpc_response_decode(codec, b.data, b.len, 0, r) == 0)
		rv = r->call_id == RPC_CALL_ERROR ? r->args[0].ulong : CKR_OK;
	buf_free(&q);
	buf_free(&b);
	return rv;
}

/* Opens its own session on the (logged-in) connection and signs. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct rpc_codec codec;
	struct rpc_message r = { 0 };
	CK_SESSION_HANDLE s;
	struct rpc_arg os[] = { U(w->slot), U(CKF_SERIAL_SESSION) };

	rpc_codec_init(&codec, 0);
	if (worker_call(w, &codec, RPC_C_OpenSession, os, 2, &r) != CKR_OK)
		return NULL;
	s = r.args[0].ulong;
	rpc_message_clear(&r);
	for (int round = 0; round < 10; round++) {
		struct rpc_arg si[] = { U(s), MECH(CKM_SHA256_RSA_PKCS),
					U(w->key) };
		struct rpc_arg sg[] = { U(s), AY(msg, sizeof(msg) - 1),
					FY(512) };

		if (worker_call(w, &codec, RPC_C_SignInit, si, 3, &r) ==
		    CKR_OK) {
			rpc_message_clear(&r);
			if (worker_call(w, &codec, RPC_C_Sign, sg, 3, &r) ==
				CKR_OK &&
			    rsa_verify(r.args[0].bytes.p, r.args[0].bytes.len))
				w->ok++;
		}
		rpc_message_clear(&r);
	}
	return NULL;
}

/* Requests of one connection run in parallel without trampling each other;
 * every signature made there verifies. */
static void test_concurrent(void **state)
{
	struct client cl;
	struct worker w[4];
	pthread_t t[4];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	CK_SLOT_ID slot;

	(void)state;
	client_new(&cl, 0, NULL, NULL);
	init(&cl);
	slot = first_slot(&cl);
	s = open_session(&cl, slot);
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);
	k = find_key(&cl, s, 1);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ &cl, k, slot, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 10);
	}
	sign_ok(&cl, s, k);
	client_free(&cl);
}

/* ---- the loop thread's fast path (rpc_server_try) ---- */

/* rpc_server_try on one request: its result; a reply lands in cl->r. */
static int try_call(struct client *cl, uint32_t id, const struct rpc_arg *a,
		    size_t n)
{
	struct buf q, b;
	int rc;

	rpc_message_clear(&cl->r);
	buf_init(&q, 0);
	buf_init(&b, 0);
	assert_int_equal(rpc_request_encode(&cl->codec, id, a, n, &q), 0);
	rc = rpc_server_try(cl->srv, q.data, q.len, &b);
	if (rc == 0) {
		assert_int_equal(
		    rpc_response_decode(&cl->codec, b.data, b.len, 0, &cl->r),
		    0);
		if (cl->r.call_id != RPC_CALL_ERROR)
			assert_int_equal(cl->r.call_id, id);
	} else {
		assert_int_equal(b.len, 0); /* nothing done, nothing said */
	}
	buf_free(&q);
	buf_free(&b);
	return rc;
}

/* A card operation the test holds open: the signer waits in sign() until
 * the test lets it go. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool in_sign, release;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static void gate_sign_hook(void)
{
	pthread_mutex_lock(&gate.m);
	gate.in_sign = true;
	pthread_cond_broadcast(&gate.cv);
	while (!gate.release)
		pthread_cond_wait(&gate.cv, &gate.m);
	pthread_mutex_unlock(&gate.m);
}

struct signer {
	struct client *cl;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	bool verified;
};

static void *signer_run(void *arg)
{
	struct signer *g = arg;
	struct worker w = { .cl = g->cl };
	struct rpc_codec codec;
	struct rpc_message r = { 0 };
	struct rpc_arg a[] = { U(g->s), AY(msg, sizeof(msg) - 1), FY(512) };

	rpc_codec_init(&codec, 0);
	g->rv = worker_call(&w, &codec, RPC_C_Sign, a, 3, &r);
	g->verified = g->rv == CKR_OK &&
		      rsa_verify(r.args[0].bytes.p, r.args[0].bytes.len);
	rpc_message_clear(&r);
	return NULL;
}

/* Cached calls run on the caller's thread; calls that need the card, or a
 * session whose operation is at the card, are left for a worker with
 * nothing done; a signature at the card holds up no other session. */
static void test_fast_path(void **state)
{
	struct client cl;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE data[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE label[] = { { CKA_LABEL, NULL, 0 } };
	CK_ATTRIBUTE attest[] = { { SOFT_CKA_SERIAL, NULL, 0 } };
	CK_SESSION_HANDLE s, s2;
	CK_OBJECT_HANDLE k;
	CK_SLOT_ID slot;
	struct signer g;
	pthread_t t;
	int discovers;

	(void)state;
	/* A fresh token whose read at arrival failed: nothing discovered
	 * yet. */
	soft_control.discover_fails = true;
	soft_swap();
	client_new(&cl, 0, NULL, NULL);
	assert_int_equal(try_call(&cl, RPC_C_GetInfo, NULL, 0), 0);
	assert_int_equal(cl.r.args[0].ulong, CKR_CRYPTOKI_NOT_INITIALIZED);
	init(&cl);
	slot = first_slot(&cl);
	soft_control.discover_fails = false;
	s = open_session(&cl, slot);
	s2 = open_session(&cl, slot);
	{
		struct rpc_arg a[] = { U(s), U(CKU_USER),
				       AY((const CK_BYTE *)SOFT_PIN, 6) };
		struct rpc_arg ti[] = { U(slot), FY(0) };
		assert_int_equal(try_call(&cl, RPC_C_Login, a, 3),
				 TK_ERR_WOULD_BLOCK);
		assert_int_equal(try_call(&cl, RPC_C_GetTokenInfo, ti, 1), 0);
		assert_int_equal(try_call(&cl, RPC_C_GetInfo, NULL, 0), 0);
	}
	assert_int_equal(login(&cl, s, SOFT_PIN), CKR_OK);
	/* A search that must read the card first goes to a worker... */
	{
		struct rpc_arg fi[] = { U(s2), AA(data, 1) };
		struct rpc_arg f[] = { U(s2), FU(4) };

		discovers = soft_stats.discover;
		assert_int_equal(try_call(&cl, RPC_C_FindObjectsInit, fi, 2),
				 TK_ERR_WOULD_BLOCK);
		assert_int_equal(soft_stats.discover, discovers);
		assert_int_equal(call(&cl, RPC_C_FindObjectsInit, fi, 2),
				 CKR_OK);
		assert_int_equal(soft_stats.discover, discovers + 1);
		assert_int_equal(try_call(&cl, RPC_C_FindObjects, f, 2), 0);
		/* CHUID, and Printed Information (logged in) */
		assert_int_equal(cl.r.args[0].ulongs.count, 2);
		assert_int_equal(try_call(&cl, RPC_C_FindObjectsFinal, fi, 1),
				 0);
		/* ...once read, the same search runs here. */
		assert_int_equal(try_call(&cl, RPC_C_FindObjectsInit, fi, 2),
				 0);
		assert_int_equal(try_call(&cl, RPC_C_FindObjectsFinal, fi, 1),
				 0);
		assert_int_equal(soft_stats.discover, discovers + 1);
	}
	k = find_key(&cl, s, 1);
	{
		struct rpc_arg a[] = { U(s2), U(k), FA(label, 1) };
		struct rpc_arg at[] = { U(s2), U(k), FA(attest, 1) };
		assert_int_equal(try_call(&cl, RPC_C_GetAttributeValue, a, 3),
				 0);
		assert_int_equal(cl.r.args[1].ulong, CKR_OK);
		assert_int_equal(try_call(&cl, RPC_C_GetAttributeValue, at, 3),
				 TK_ERR_WOULD_BLOCK);
	}
	/* A signature at the card. */
	assert_int_equal(sign_init(&cl, s, k), CKR_OK);
	gate.in_sign = gate.release = false;
	soft_control.sign_hook = gate_sign_hook;
	g = (struct signer){ &cl, s, CKR_GENERAL_ERROR, false };
	assert_int_equal(pthread_create(&t, NULL, signer_run, &g), 0);
	pthread_mutex_lock(&gate.m);
	while (!gate.in_sign)
		pthread_cond_wait(&gate.cv, &gate.m);
	pthread_mutex_unlock(&gate.m);
	{
		struct rpc_arg a[] = { U(s2), U(k), FA(label, 1) };
		struct rpc_arg si[] = { U(s), FY(0) };
		struct rpc_arg si2[] = { U(s2), FY(0) };
		struct rpc_arg ti[] = { U(slot), FY(0) };
		/* other sessions: answered now, on this thread */
		assert_int_equal(try_call(&cl, RPC_C_GetAttributeValue, a, 3),
				 0);
		assert_int_equal(cl.r.args[1].ulong, CKR_OK);
		assert_int_equal(call(&cl, RPC_C_GetAttributeValue, a, 3),
				 CKR_OK);
		assert_int_equal(try_call(&cl, RPC_C_GetSessionInfo, si2, 1),
				 0);
		assert_int_equal(try_call(&cl, RPC_C_GetTokenInfo, ti, 1), 0);
		/* the signing session: not here */
		assert_int_equal(try_call(&cl, RPC_C_GetSessionInfo, si, 1),
				 TK_ERR_WOULD_BLOCK);
	}
	pthread_mutex_lock(&gate.m);
	gate.release = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.m);
	pthread_join(t, NULL);
	soft_control.sign_hook = NULL;
	assert_int_equal(g.rv, CKR_OK);
	assert_true(g.verified);
	{
		struct rpc_arg si[] = { U(s), FY(0) };
		assert_int_equal(try_call(&cl, RPC_C_GetSessionInfo, si, 1), 0);
	}
	client_free(&cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_flow),
		cmocka_unit_test(test_two_connections),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_token_filter),
		cmocka_unit_test(test_null_pin_and_audit),
		cmocka_unit_test(test_decrypt_derive),
		cmocka_unit_test(test_session_limit),
		cmocka_unit_test(test_not_supported),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_prefer_one_slot),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
