/* p11-kit RPC message codec (rpc/rpc_msg.c, rpc_attr.c): requests recorded
 * from Debian 12's p11-kit-client.so (p11-kit 0.24.1, protocol 0) through
 * PyKCS11, round trips of every argument type, and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "error.h"
#include "rpc_msg.h"
#include "unit_filter.h"

/* Message bodies (frame data) captured from the real client. */
static const char fx_initialize[] =
    "000000010000000561797961790100000029505249564154452d474e4f4d452d"
    "4b455952494e472d504b435331312d50524f544f434f4c2d562d310001000000"
    "0100";
static const char fx_getinfo[] = "0000000300000000";
static const char fx_slotlist[] = "00000004000000037966750000000000";
static const char fx_slotlist2[] = "00000004000000037966750000000001";
static const char fx_mechlist[] =
    "0000000700000003756675000000000000000700000400";
static const char fx_opensession[] =
    "0000000a00000002757500000000000000070000000000000006";
static const char fx_login[] =
    "0000001200000004757561790000000000000011000000000000000101000000"
    "06313233343536";
static const char fx_findinit[] =
    "0000001a00000003756141000000000000001100000004000000000100000008"
    "0000000000000003000001020100000001000000010100000108010000000101"
    "000000030100000007000000076b6579206f6e65";
static const char fx_signinit[] =
    "0000002a00000003754d7500000000000000110000000d000000000000025000"
    "0000000000000200000000000000200000000000000002";
static const char fx_sign[] =
    "0000002b00000005756179667900000000000000110100000020aaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa00000000";
static const char fx_sign2[] =
    "0000002b00000005756179667900000000000000110100000020aaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa00000010";
static const char fx_signinit2[] =
    "0000002a00000003754d75000000000000001100000001ffffffff0000000000"
    "000002";
static const char fx_sign3[] =
    "0000002b00000005756179667900000000000000110100000014bbbbbbbbbbbb"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbb00000000";
static const char fx_sign4[] =
    "0000002b00000005756179667900000000000000110100000014bbbbbbbbbbbb"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbb00000010";
static const char fx_getattr[] =
    "0000001800000004757566410000000000000011000000000000000200000002"
    "00000003000000000000012100000000";
static const char fx_getattr2[] =
    "0000001800000004757566410000000000000011000000000000000200000002"
    "00000003000000030000012100000008";
static const char fx_getattr_all[] =
    "000000180000000475756641000000000000001100000000000000020000006b"
    "0000000000000000000000010000000000000002000000000000000300000000"
    "0000000400000000000000100000000000000011000000000000001200000000"
    "0000008000000000000000810000000000000082000000000000008300000000"
    "0000008400000000000000850000000000000086000000000000008700000000"
    "000000880000000000000089000000000000008a000000000000008b00000000"
    "0000008c00000000000000900000000000000100000000000000010100000000"
    "0000010200000000000001030000000000000104000000000000010500000000"
    "0000010600000000000001070000000000000108000000000000010900000000"
    "0000010a000000000000010b000000000000010c000000000000011000000000"
    "0000011100000000000001200000000000000121000000000000012200000000"
    "0000012300000000000001240000000000000125000000000000012600000000"
    "0000012700000000000001280000000000000129000000000000013000000000"
    "0000013100000000000001320000000000000133000000000000013400000000"
    "0000016000000000000001610000000000000162000000000000016300000000"
    "0000016400000000000001650000000000000166000000000000017000000000"
    "0000017100000000000001720000000000000180000000000000018100000000"
    "0000020000000000000002010000000000000202000000000000021000000000"
    "4000021100000000400002120000000040000213000000000000022000000000"
    "0000022100000000000002220000000000000223000000000000022400000000"
    "0000022500000000000002260000000000000227000000000000022e00000000"
    "0000022f000000000000022a000000000000022b000000000000022c00000000"
    "0000022d00000000000002500000000000000251000000000000025200000000"
    "0000030000000000000003010000000000000302000000000000040000000000"
    "0000040100000000000004020000000000000403000000000000040400000000"
    "0000040500000000000004060000000000000480000000000000048100000000"
    "0000048200000000000005000000000000000501000000000000050200000000"
    "000005030000000040000600000000000000060100000000";

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

static int decode_hex(uint8_t offered, const char *hex, struct rpc_message *m)
{
	struct rpc_codec c;
	uint8_t *p;
	size_t n;
	int rc;

	rpc_codec_init(&c, offered);
	p = unhex(hex, &n);
	rc = rpc_request_decode(&c, p, n, m);
	/* values were copied out: the input may go away */
	memset(p, 0xee, n);
	free(p);
	return rc;
}

static void test_real_initialize(void **state)
{
	struct rpc_message m;

	(void)state;
	assert_int_equal(decode_hex(0, fx_initialize, &m), 0);
	assert_int_equal(m.call_id, RPC_C_Initialize);
	assert_int_equal(m.nargs, 3);
	assert_int_equal(m.args[0].bytes.len, 41);
	assert_memory_equal(m.args[0].bytes.p,
			    "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1", 41);
	assert_int_equal(m.args[1].byte, 0);
	assert_int_equal(m.args[2].bytes.len, 1); /* "" with its NUL */
	rpc_message_clear(&m);
}

static void test_real_simple_calls(void **state)
{
	struct rpc_message m;

	(void)state;
	assert_int_equal(decode_hex(0, fx_getinfo, &m), 0);
	assert_int_equal(m.call_id, RPC_C_GetInfo);
	assert_int_equal(m.nargs, 0);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_slotlist, &m), 0);
	assert_int_equal(m.args[0].byte, 0);
	assert_int_equal(m.args[1].type, RPC_ARG_ULONG_BUF);
	assert_int_equal(m.args[1].room, 0); /* NULL list: count query */
	rpc_message_clear(&m);
	assert_int_equal(decode_hex(0, fx_slotlist2, &m), 0);
	assert_int_equal(m.args[1].room, 1);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_mechlist, &m), 0);
	assert_int_equal(m.args[0].ulong, 7);
	assert_int_equal(m.args[1].room, 1024);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_opensession, &m), 0);
	assert_int_equal(m.call_id, RPC_C_OpenSession);
	assert_int_equal(m.args[1].ulong, CKF_SERIAL_SESSION | CKF_RW_SESSION);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_login, &m), 0);
	assert_int_equal(m.args[0].ulong, 0x11);
	assert_int_equal(m.args[1].ulong, CKU_USER);
	assert_int_equal(m.args[2].bytes.len, 6);
	assert_memory_equal(m.args[2].bytes.p, "123456", 6);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_sign, &m), 0);
	assert_int_equal(m.args[1].bytes.len, 32);
	assert_int_equal(m.args[1].bytes.p[31], 0xaa);
	assert_int_equal(m.args[2].room, 0);
	rpc_message_clear(&m);
	assert_int_equal(decode_hex(0, fx_sign2, &m), 0);
	assert_int_equal(m.args[2].room, 16);
	rpc_message_clear(&m);
}

static void test_real_template(void **state)
{
	struct rpc_message m;
	CK_ATTRIBUTE *a;

	(void)state;
	assert_int_equal(decode_hex(0, fx_findinit, &m), 0);
	assert_int_equal(m.call_id, RPC_C_FindObjectsInit);
	assert_int_equal(m.args[1].attrs.count, 4);
	a = m.args[1].attrs.v;
	assert_int_equal(a[0].type, CKA_CLASS);
	assert_int_equal(a[0].ulValueLen, sizeof(CK_ULONG));
	assert_int_equal(*(CK_ULONG *)a[0].pValue, CKO_PRIVATE_KEY);
	assert_int_equal(a[1].type, CKA_ID);
	assert_int_equal(a[1].ulValueLen, 1);
	assert_int_equal(((CK_BYTE *)a[1].pValue)[0], 1);
	assert_int_equal(a[2].type, CKA_SIGN);
	assert_int_equal(*(CK_BBOOL *)a[2].pValue, CK_TRUE);
	assert_int_equal(a[3].type, CKA_LABEL);
	assert_int_equal(a[3].ulValueLen, 7);
	assert_memory_equal(a[3].pValue, "key one", 7);
	rpc_message_clear(&m);
}

static void test_real_attribute_buffer(void **state)
{
	struct rpc_message m;
	CK_ATTRIBUTE *a;
	CK_ULONG i;

	(void)state;
	assert_int_equal(decode_hex(0, fx_getattr, &m), 0);
	assert_int_equal(m.args[2].attrs.count, 2);
	a = m.args[2].attrs.v;
	assert_int_equal(a[0].type, CKA_LABEL);
	assert_int_equal(a[0].ulValueLen, 0);
	assert_int_equal(a[1].type, CKA_MODULUS_BITS);
	rpc_message_clear(&m);
	assert_int_equal(decode_hex(0, fx_getattr2, &m), 0);
	a = m.args[2].attrs.v;
	assert_int_equal(a[0].ulValueLen, 3);
	assert_int_equal(a[1].ulValueLen, 8);
	assert_null(a[1].pValue);
	rpc_message_clear(&m);

	/* PyKCS11's "all attributes" query: 107, templates included */
	assert_int_equal(decode_hex(0, fx_getattr_all, &m), 0);
	assert_int_equal(m.args[2].attrs.count, 107);
	a = m.args[2].attrs.v;
	for (i = 0; i < 107; i++)
		if (a[i].type == CKA_WRAP_TEMPLATE)
			break;
	assert_true(i < 107);
	assert_int_equal(a[i].ulValueLen, 0);
	rpc_message_clear(&m);
}

static void test_real_mechanisms(void **state)
{
	struct rpc_message m;
	CK_RSA_PKCS_PSS_PARAMS *pss;

	(void)state;
	assert_int_equal(decode_hex(0, fx_signinit, &m), 0);
	assert_int_equal(m.args[1].mech.mech.mechanism, CKM_RSA_PKCS_PSS);
	assert_int_equal(m.args[1].mech.mech.ulParameterLen, sizeof(*pss));
	pss = m.args[1].mech.mech.pParameter;
	assert_int_equal(pss->hashAlg, CKM_SHA256);
	assert_int_equal(pss->mgf, CKG_MGF1_SHA256);
	assert_int_equal(pss->sLen, 32);
	assert_int_equal(m.args[2].ulong, 2);
	rpc_message_clear(&m);

	assert_int_equal(decode_hex(0, fx_signinit2, &m), 0);
	assert_int_equal(m.args[1].mech.mech.mechanism, CKM_RSA_PKCS);
	assert_false(m.args[1].mech.is_null);
	assert_null(m.args[1].mech.mech.pParameter);
	rpc_message_clear(&m);
	/* the same bytes are garbage to a client that offered 2 */
	assert_int_not_equal(decode_hex(2, fx_signinit, &m), 0);
}

/* Every truncation of every real request fails cleanly, on an exact-size
 * heap copy (ASan would see an over-read); the full one still decodes. */
static void test_truncations(void **state)
{
	const char *all[] = { fx_initialize, fx_slotlist,  fx_mechlist,
			      fx_login,      fx_findinit,  fx_signinit,
			      fx_sign,       fx_signinit2, fx_sign3,
			      fx_sign4,      fx_getattr,   fx_getattr_all };
	struct rpc_codec c;
	struct rpc_message m;
	uint8_t *p, *copy;
	size_t i, n, k;

	(void)state;
	rpc_codec_init(&c, 0);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		p = unhex(all[i], &n);
		for (k = 0; k < n; k++) {
			copy = malloc(k ? k : 1);
			memcpy(copy, p, k);
			assert_true(rpc_request_decode(&c, copy, k, &m) < 0);
			free(copy);
		}
		assert_int_equal(rpc_request_decode(&c, p, n, &m), 0);
		rpc_message_clear(&m);
		free(p);
	}
}

/* Flipping any bit of a real request never crashes or leaks: an ASan build
 * catches a bad read or a leak (the reason for the asan-only label). Every
 * build checks the outcome: a refusal is a TK_ERR_*, the input is left as
 * it was, and what decodes is a whole call that encodes and decodes again. */
static void test_mutations(void **state)
{
	struct rpc_codec c;
	struct rpc_message m, again;
	struct buf b;
	uint8_t *p, *orig;
	size_t n, k, decoded = 0, refused = 0;
	int bit, rv;

	(void)state;
	rpc_codec_init(&c, 2);
	p = unhex(fx_findinit, &n);
	orig = malloc(n);
	memcpy(orig, p, n);
	for (k = 0; k < n; k++)
		for (bit = 0; bit < 8; bit++) {
			p[k] ^= (uint8_t)(1u << bit);
			rv = rpc_request_decode(&c, p, n, &m);
			p[k] ^= (uint8_t)(1u << bit);
			assert_memory_equal(p, orig, n);
			if (rv < 0) {
				/* malformed, or a length beyond the limits */
				assert_true(rv == TK_ERR_INVALID ||
					    rv == TK_ERR_TOO_LARGE);
				refused++;
				continue;
			}
			assert_int_equal(rv, 0);
			assert_non_null(m.call);
			assert_int_equal(m.call->id, m.call_id);
			buf_init(&b, 0);
			assert_int_equal(rpc_request_encode(&c, m.call_id,
							    m.args, m.nargs,
							    &b),
					 0);
			assert_int_equal(
			    rpc_request_decode(&c, b.data, b.len, &again), 0);
			assert_int_equal(again.call_id, m.call_id);
			rpc_message_clear(&again);
			buf_free(&b);
			rpc_message_clear(&m);
			decoded++;
		}
	/* A flip in a value (a handle, an attribute type) still decodes; one
	 * in a length or the signature does not. */
	assert_true(decoded > 0);
	assert_true(refused > 0);
	free(orig);
	free(p);
}

static void expect_fail(const char *hex, int want)
{
	struct rpc_message m;

	assert_int_equal(decode_hex(2, hex, &m), want);
}

static void test_garbled(void **state)
{
	(void)state;
	/* unknown call id 90, error id 0 as a request, no signature */
	expect_fail("0000005a00000000", TK_ERR_INVALID);
	expect_fail("0000000000000001"
		    "75"
		    "0000000000000005",
		    TK_ERR_INVALID);
	expect_fail("00000003", TK_ERR_INVALID);
	/* C_GetInfo with a wrong signature, a NULL signature, trailing byte */
	expect_fail("0000000300000001"
		    "75",
		    TK_ERR_INVALID);
	expect_fail("00000003ffffffff", TK_ERR_INVALID);
	expect_fail("0000000300000000"
		    "00",
		    TK_ERR_INVALID);
	/* C_Login: PIN array claiming 0x7fffffff and 0xfffffffe bytes */
	expect_fail("00000012000000047575617900000000000000110000000000000001"
		    "017fffffff31",
		    TK_ERR_INVALID);
	expect_fail("00000012000000047575617900000000000000110000000000000001"
		    "01fffffffe31",
		    TK_ERR_INVALID);
	/* C_FindObjectsInit: 0xffffffff attributes -- refused before any
	 * allocation */
	expect_fail("0000001a00000003756141"
		    "0000000000000011"
		    "ffffffff",
		    TK_ERR_INVALID);
	/* C_GetObjectSize: a u64 cut short */
	expect_fail("000000170000000275750000000000000011000000",
		    TK_ERR_INVALID);
}

static void test_attribute_limit(void **state)
{
	struct rpc_codec c;
	struct rpc_message m;
	struct buf b;
	int i;

	(void)state;
	rpc_codec_init(&c, 0);
	buf_init(&b, 0);
	buf_add_u32be(&b, RPC_C_FindObjectsInit);
	buf_add_u32be(&b, 3);
	buf_add(&b, "uaA", 3);
	buf_add_u64be(&b, 1);
	buf_add_u32be(&b, 300);
	for (i = 0; i < 300; i++) {
		buf_add_u32be(&b, CKA_TOKEN);
		buf_add_u8(&b, 1);
		buf_add_u32be(&b, 1);
		buf_add_u8(&b, 1);
	}
	assert_int_equal(rpc_request_decode(&c, b.data, b.len, &m),
			 TK_ERR_TOO_LARGE);
	c.limits.max_attrs = 300;
	assert_int_equal(rpc_request_decode(&c, b.data, b.len, &m), 0);
	rpc_message_clear(&m);
	c.limits.max_arena = 1024;
	assert_int_equal(rpc_request_decode(&c, b.data, b.len, &m),
			 TK_ERR_TOO_LARGE);
	buf_free(&b);
}

/* Encodes args as a request (or response), decodes it back into m. */
static void roundtrip(uint8_t offered, bool request, uint32_t id,
		      const struct rpc_arg *args, size_t n,
		      CK_MECHANISM_TYPE pmech, struct rpc_message *m)
{
	struct rpc_codec c;
	struct buf b;

	rpc_codec_init(&c, offered);
	buf_init(&b, 0);
	if (request) {
		assert_int_equal(rpc_request_encode(&c, id, args, n, &b), 0);
		assert_int_equal(rpc_request_decode(&c, b.data, b.len, m), 0);
	} else {
		assert_int_equal(rpc_response_encode(&c, id, args, n, &b), 0);
		assert_int_equal(
		    rpc_response_decode(&c, b.data, b.len, pmech, m), 0);
	}
	assert_int_equal(m->call_id, id);
	assert_int_equal(m->nargs, n);
	buf_free(&b);
}

static void test_roundtrip_scalars_strings(void **state)
{
	static const CK_BYTE pin[] = "1234";
	CK_BYTE label[32];
	struct rpc_message m;
	struct rpc_arg a[4] = {
		{ .type = RPC_ARG_ULONG, .ulong = (CK_ULONG)-2 },
		{ .type = RPC_ARG_BYTES, .bytes = { pin, 4, false } },
		{ .type = RPC_ARG_ZSTRING,
		  .bytes = { (const CK_BYTE *)"lbl", 3, false } },
	};
	uint8_t v;

	(void)state;
	for (v = 0; v <= 2; v++) {
		roundtrip(v, true, RPC_C_InitToken, a, 3, 0, &m);
		assert_int_equal(m.args[0].ulong, (CK_ULONG)-2);
		assert_memory_equal(m.args[1].bytes.p, "1234", 4);
		assert_string_equal((const char *)m.args[2].bytes.p, "lbl");
		rpc_message_clear(&m);
	}
	/* s: C_InitToken2's space-padded label */
	memset(label, ' ', sizeof(label));
	a[2] = (struct rpc_arg){ .type = RPC_ARG_SPACE,
				 .bytes = { label, sizeof(label), false } };
	roundtrip(1, true, RPC_C_InitToken2, a, 3, 0, &m);
	assert_int_equal(m.args[2].bytes.len, 32);
	rpc_message_clear(&m);
	/* y, fu */
	a[0] = (struct rpc_arg){ .type = RPC_ARG_BYTE, .byte = 1 };
	a[1] = (struct rpc_arg){ .type = RPC_ARG_ULONG_BUF, .room = 5 };
	roundtrip(0, true, RPC_C_GetSlotList, a, 2, 0, &m);
	assert_int_equal(m.args[0].byte, 1);
	assert_int_equal(m.args[1].room, 5);
	rpc_message_clear(&m);
	/* ay: NULL array, and the length-only form */
	a[0] = (struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = 9 };
	a[1] = (struct rpc_arg){ .type = RPC_ARG_BYTES,
				 .bytes = { NULL, 0, true } };
	roundtrip(0, true, RPC_C_SeedRandom, a, 2, 0, &m);
	assert_true(m.args[1].bytes.null);
	assert_int_equal(m.args[1].bytes.len, 0);
	rpc_message_clear(&m);
	a[1] = (struct rpc_arg){ .type = RPC_ARG_BYTES,
				 .bytes = { NULL, 77, true } };
	roundtrip(0, false, RPC_C_Sign, &a[1], 1, 0, &m);
	assert_true(m.args[0].bytes.null);
	assert_int_equal(m.args[0].bytes.len, 77);
	rpc_message_clear(&m);
}

static void test_roundtrip_info_and_arrays(void **state)
{
	CK_TOKEN_INFO ti;
	CK_ULONG slots[3] = { 1, 2, (CK_ULONG)-1 };
	struct rpc_arg a[RPC_MAX_ARGS];
	struct rpc_message m;
	size_t n;

	(void)state;
	memset(&ti, ' ', sizeof(ti));
	ti.flags = CKF_TOKEN_INITIALIZED;
	ti.ulMaxPinLen = 8;
	ti.firmwareVersion.major = 5;
	n = rpc_args_token_info(&ti, a);
	roundtrip(0, false, RPC_C_GetTokenInfo, a, n, 0, &m);
	assert_int_equal(m.args[4].ulong, CKF_TOKEN_INITIALIZED);
	assert_int_equal(m.args[9].ulong, 8);
	assert_int_equal(m.args[16].version.major, 5);
	assert_int_equal(m.args[0].bytes.len, 32);
	rpc_message_clear(&m);

	a[0] = (struct rpc_arg){ .type = RPC_ARG_ULONGS,
				 .ulongs = { slots, 3, false } };
	roundtrip(0, false, RPC_C_GetSlotList, a, 1, 0, &m);
	assert_int_equal(m.args[0].ulongs.count, 3);
	assert_int_equal(m.args[0].ulongs.v[2], (CK_ULONG)-1);
	rpc_message_clear(&m);
	a[0].ulongs = (typeof(a[0].ulongs)){ NULL, 12, true };
	roundtrip(0, false, RPC_C_FindObjects, a, 1, 0, &m);
	assert_true(m.args[0].ulongs.null);
	assert_int_equal(m.args[0].ulongs.count, 12);
	rpc_message_clear(&m);
}

static void test_roundtrip_attributes(void **state)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG cls = CKO_SECRET_KEY;
	CK_DATE date = { { '2', '0', '2', '5' }, { '0', '1' }, { '3', '1' } };
	CK_MECHANISM_TYPE mechs[2] = { CKM_ECDSA, CKM_RSA_PKCS_PSS };
	CK_ATTRIBUTE inner[2] = {
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_LABEL, "in", 2 },
	};
	CK_ATTRIBUTE t[8] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_START_DATE, &date, sizeof(date) },
		{ CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs) },
		{ CKA_WRAP_TEMPLATE, inner, sizeof(inner) },
		{ CKA_ID, NULL, CK_UNAVAILABLE_INFORMATION },
		{ CKA_VALUE, NULL, 0 },
		{ 0x80001234UL, "vendor", 6 },
	};
	struct rpc_arg a[2] = {
		{ .type = RPC_ARG_ATTRS, .attrs = { t, 8 } },
		{ .type = RPC_ARG_ULONG, .ulong = CKR_ATTRIBUTE_SENSITIVE },
	};
	struct rpc_message m;
	CK_ATTRIBUTE *d, *in;

	(void)state;
	roundtrip(0, false, RPC_C_GetAttributeValue, a, 2, 0, &m);
	d = m.args[0].attrs.v;
	assert_int_equal(m.args[0].attrs.count, 8);
	assert_int_equal(*(CK_BBOOL *)d[0].pValue, CK_TRUE);
	assert_int_equal(*(CK_ULONG *)d[1].pValue, CKO_SECRET_KEY);
	assert_memory_equal(d[2].pValue, &date, sizeof(date));
	assert_int_equal(d[3].ulValueLen, sizeof(mechs));
	assert_memory_equal(d[3].pValue, mechs, sizeof(mechs));
	assert_int_equal(d[4].ulValueLen, sizeof(inner));
	in = d[4].pValue;
	assert_int_equal(in[1].type, CKA_LABEL);
	assert_memory_equal(in[1].pValue, "in", 2);
	assert_int_equal(d[5].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_null(d[6].pValue);
	assert_int_equal(d[6].ulValueLen, 0);
	assert_memory_equal(d[7].pValue, "vendor", 6);
	assert_int_equal(m.args[1].ulong, CKR_ATTRIBUTE_SENSITIVE);
	rpc_message_clear(&m);
}

static void test_roundtrip_attribute_buffer(void **state)
{
	CK_ATTRIBUTE inner[3] = { { CKA_LABEL, NULL, 0 } };
	CK_ATTRIBUTE t[2] = {
		{ CKA_MODULUS, (void *)"x", 256 },
		{ CKA_WRAP_TEMPLATE, inner, sizeof(inner) },
	};
	struct rpc_arg a[3] = {
		{ .type = RPC_ARG_ULONG, .ulong = 1 },
		{ .type = RPC_ARG_ULONG, .ulong = 2 },
		{ .type = RPC_ARG_ATTR_BUF, .attrs = { t, 2 } },
	};
	struct rpc_message m;
	CK_ATTRIBUTE *d;

	(void)state;
	/* protocol 0: lengths only */
	roundtrip(0, true, RPC_C_GetAttributeValue, a, 3, 0, &m);
	d = m.args[2].attrs.v;
	assert_int_equal(d[0].ulValueLen, 256);
	assert_null(d[0].pValue);
	assert_int_equal(d[1].ulValueLen, sizeof(inner));
	assert_null(d[1].pValue);
	rpc_message_clear(&m);
	/* offered 1+: the nested template follows */
	roundtrip(1, true, RPC_C_GetAttributeValue, a, 3, 0, &m);
	d = m.args[2].attrs.v;
	assert_int_equal(d[1].ulValueLen, 3 * sizeof(CK_ATTRIBUTE));
	assert_non_null(d[1].pValue);
	assert_int_equal(((CK_ATTRIBUTE *)d[1].pValue)[0].type, CKA_LABEL);
	rpc_message_clear(&m);
}

static void test_error_and_update(void **state)
{
	struct rpc_codec c;
	struct rpc_message m;
	struct buf b;
	struct rpc_arg a[3] = {
		{ .type = RPC_ARG_ULONG, .ulong = 5 },
		{ .type = RPC_ARG_MECH_UPDATE,
		  .update = { CKM_ECDH1_DERIVE, NULL, 0 } },
		{ .type = RPC_ARG_ULONG, .ulong = 0 },
	};
	static const uint8_t want[] = { 0, 0, 0, 0, 0, 0, 0, 1,   'u',
					0, 0, 0, 0, 0, 0, 0, 0xa0 };

	(void)state;
	rpc_codec_init(&c, 2);
	buf_init(&b, 0);
	assert_int_equal(rpc_error_encode(CKR_PIN_INCORRECT, &b), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	assert_int_equal(rpc_response_decode(&c, b.data, b.len, 0, &m), 0);
	assert_int_equal(m.call_id, RPC_CALL_ERROR);
	assert_int_equal(m.args[0].ulong, CKR_PIN_INCORRECT);
	rpc_message_clear(&m);
	assert_int_equal(rpc_error_encode(CKR_OK, &b), TK_ERR_ARG);
	/* a request can never be an error */
	assert_int_equal(rpc_request_decode(&c, b.data, b.len, &m),
			 TK_ERR_INVALID);
	buf_free(&b);

	roundtrip(2, false, RPC_C_DeriveKey2, a, 3, CKM_ECDH1_DERIVE, &m);
	assert_null(m.args[1].update.pParameter);
	rpc_message_clear(&m);
	/* wrong arg type or count is refused without output */
	buf_init(&b, 0);
	a[0].type = RPC_ARG_BYTE;
	assert_int_equal(rpc_response_encode(&c, RPC_C_DeriveKey2, a, 3, &b),
			 TK_ERR_ARG);
	assert_int_equal(b.len, 0);
	assert_int_equal(rpc_response_encode(&c, RPC_C_DeriveKey2, a, 2, &b),
			 TK_ERR_ARG);
	buf_free(&b);
}

static void test_call_table(void **state)
{
	uint32_t i;

	(void)state;
	for (i = 0; i < RPC_CALL_COUNT; i++) {
		assert_non_null(rpc_call_lookup(i));
		assert_int_equal(rpc_call_lookup(i)->id, i);
		assert_non_null(rpc_call_lookup(i)->response);
	}
	assert_null(rpc_call_lookup(RPC_CALL_COUNT));
	assert_int_equal(RPC_C_WaitForSlotEvent, 65);
	assert_int_equal(RPC_C_MessageVerifyFinal, 87);
	assert_string_equal(rpc_call_lookup(88)->name, "C_InitToken2");
	assert_string_equal(rpc_call_lookup(89)->request, "uMuaA");
	assert_string_equal(rpc_call_lookup(89)->response, "uPu");
}

/* The signature token at index arg of sig ("uMuaA", 3: "aA"), length in *n. */
static const char *sig_token(const char *sig, int arg, size_t *n)
{
	for (;; arg--) {
		*n = (*sig == 'a' || *sig == 'f') ? 2 : 1;
		if (!*sig || arg == 0)
			return sig;
		sig += *n;
	}
}

/* Every call's write class and audit name, as the access policy and the
 * audit lines use them. */
static void test_call_classes(void **state)
{
	const struct rpc_call *k;
	const char *t;
	size_t n;
	uint32_t i;

	(void)state;
	for (i = 1; i < RPC_CALL_COUNT; i++) {
		k = rpc_call_lookup(i);
		assert_true(k->write < RPC_WRITE_COUNT);
		assert_non_null(k->audit);
		if (k->token_arg < 0)
			continue;
		/* token_arg names the request's template */
		assert_int_not_equal(k->write, RPC_WRITE_NONE);
		t = sig_token(k->request, k->token_arg, &n);
		assert_int_equal(n, 2);
		assert_memory_equal(t, "aA", 2);
	}
	assert_int_equal(rpc_call_lookup(RPC_C_InitToken2)->write,
			 RPC_WRITE_INIT_TOKEN);
	assert_int_equal(rpc_call_lookup(RPC_C_SetPIN)->write,
			 RPC_WRITE_SET_PIN);
	assert_int_equal(rpc_call_lookup(RPC_C_Login)->write, RPC_WRITE_NONE);
	assert_int_equal(rpc_call_lookup(RPC_C_Sign)->write, RPC_WRITE_NONE);
	assert_string_equal(rpc_call_lookup(RPC_C_SignFinal)->audit, "sign");
	assert_string_equal(rpc_call_lookup(RPC_C_Decrypt)->audit, "decrypt");
	assert_string_equal(rpc_call_lookup(RPC_C_DeriveKey2)->audit, "derive");
	assert_string_equal(rpc_call_lookup(RPC_C_UnwrapKey)->audit, "unwrap");
	assert_string_equal(rpc_call_lookup(RPC_C_Login)->audit, "C_Login");
	assert_string_equal(rpc_call_lookup(RPC_C_MessageSignInit)->audit,
			    "C_MessageSignInit");
}

/* rpc_request_writes() on decoded requests: a creation writes only with
 * CKA_TOKEN true; the others by their call. */
static void test_request_writes(void **state)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tok[] = { { CKA_LABEL, "k", 1 },
			       { CKA_TOKEN, &yes, sizeof(yes) } };
	CK_ATTRIBUTE ses[] = { { CKA_TOKEN, &no, sizeof(no) } };
	struct rpc_arg a[4] = {
		{ .type = RPC_ARG_ULONG, .ulong = 1 },
		{ .type = RPC_ARG_ATTRS, .attrs = { tok, 2 } },
	};
	struct rpc_message m;

	(void)state;
	roundtrip(0, true, RPC_C_CreateObject, a, 2, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_CREATE_OBJECT);
	rpc_message_clear(&m);
	a[1].attrs.v = ses;
	a[1].attrs.count = 1;
	roundtrip(0, true, RPC_C_CreateObject, a, 2, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_NONE);
	rpc_message_clear(&m);
	a[1].attrs.v = tok; /* no CKA_TOKEN */
	a[1].attrs.count = 1;
	roundtrip(0, true, RPC_C_CreateObject, a, 2, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_NONE);
	rpc_message_clear(&m);
	a[1] = (struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = 7 };
	roundtrip(0, true, RPC_C_DestroyObject, a, 2, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_DESTROY_OBJECT);
	rpc_message_clear(&m);
	/* a key pair is a token write even with CKA_TOKEN false */
	a[1] = (struct rpc_arg){ .type = RPC_ARG_MECH,
				 .mech = { false,
					   { CKM_EC_KEY_PAIR_GEN, NULL, 0 } } };
	a[2] = (struct rpc_arg){ .type = RPC_ARG_ATTRS, .attrs = { ses, 1 } };
	a[3] = a[2];
	roundtrip(0, true, RPC_C_GenerateKeyPair, a, 4, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_GENERATE_KEY);
	rpc_message_clear(&m);
	assert_int_equal(rpc_request_writes(NULL), RPC_WRITE_NONE);
	a[0] = (struct rpc_arg){ .type = RPC_ARG_BYTE, .byte = 1 };
	a[1] = (struct rpc_arg){ .type = RPC_ARG_ULONG_BUF, .room = 1 };
	roundtrip(0, true, RPC_C_GetSlotList, a, 2, 0, &m);
	assert_int_equal(rpc_request_writes(&m), RPC_WRITE_NONE);
	rpc_message_clear(&m);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_initialize),
		cmocka_unit_test(test_real_simple_calls),
		cmocka_unit_test(test_real_template),
		cmocka_unit_test(test_real_attribute_buffer),
		cmocka_unit_test(test_real_mechanisms),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_garbled),
		cmocka_unit_test(test_attribute_limit),
		cmocka_unit_test(test_roundtrip_scalars_strings),
		cmocka_unit_test(test_roundtrip_info_and_arrays),
		cmocka_unit_test(test_roundtrip_attributes),
		cmocka_unit_test(test_roundtrip_attribute_buffer),
		cmocka_unit_test(test_error_and_update),
		cmocka_unit_test(test_call_table),
		cmocka_unit_test(test_call_classes),
		cmocka_unit_test(test_request_writes),
	};
	if (unit_filter(argc, argv) < 0)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
