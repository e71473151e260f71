/* Who sees which objects: private objects only for an application logged
 * in itself (finding, reading and using handles alike, whatever other
 * applications do), and an application's object filter (the daemon's
 * `objects` export key) showing only the keys it accepts. */
#include <stdlib.h>

#include "test_pkcs11_util.h"

#include "frontend.h"

static CK_OBJECT_CLASS c_priv = CKO_PRIVATE_KEY, c_data = CKO_DATA;

/* Up to 64 handles app finds with template t. */
static CK_ULONG app_find(struct app *app, CK_SESSION_HANDLE s, CK_ATTRIBUTE *t,
			 CK_ULONG n, CK_OBJECT_HANDLE *h)
{
	CK_ULONG got = 0;

	assert_int_equal(fe_C_FindObjectsInit(app, s, t, n), CKR_OK);
	assert_int_equal(fe_C_FindObjects(app, s, h, 64, &got), CKR_OK);
	assert_int_equal(fe_C_FindObjectsFinal(app, s), CKR_OK);
	return got;
}

static CK_OBJECT_HANDLE app_find_one(struct app *app, CK_SESSION_HANDLE s,
				     CK_OBJECT_CLASS cls, uint8_t id)
{
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
			     { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN } };
	CK_OBJECT_HANDLE h[64];

	return app_find(app, s, t, id ? 2 : 1, h) == 1 ? h[0]
						       : CK_INVALID_HANDLE;
}

/* The private data object (printed information), found while logged in. */
static CK_OBJECT_HANDLE app_find_printed(struct app *app, CK_SESSION_HANDLE s)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &c_data, sizeof(c_data) },
			     { CKA_PRIVATE, &yes, 1 } };
	CK_OBJECT_HANDLE h[64];

	return app_find(app, s, t, 2, h) == 1 ? h[0] : CK_INVALID_HANDLE;
}

/* Every handle number up to 64: none that app can read is private. */
static void assert_no_private_handle(struct app *app, CK_SESSION_HANDLE s)
{
	for (CK_OBJECT_HANDLE h = 1; h <= 64; h++) {
		CK_BBOOL priv = CK_TRUE;
		CK_ATTRIBUTE a = { CKA_PRIVATE, &priv, 1 };
		CK_RV rv = fe_C_GetAttributeValue(app, s, h, &a, 1);

		assert_true(rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_OK);
		if (rv == CKR_OK)
			assert_int_equal(priv, CK_FALSE);
	}
}

static CK_SESSION_HANDLE app_open(struct app *app)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(fe_C_OpenSession(app, slot,
					  CKF_SERIAL_SESSION | CKF_RW_SESSION,
					  NULL, NULL, &s),
			 CKR_OK);
	return s;
}

/* B logged out (or never logged in) while A stays logged in: B neither
 * finds, reads nor uses a private object, also by its old handles. */
static void test_private_per_app(void **state)
{
	struct app *b = NULL;
	CK_SESSION_HANDLE sa = p11_open(true), sb;
	CK_OBJECT_HANDLE kb, db, h[64], pub;
	CK_ATTRIBUTE tp = { CKA_CLASS, &c_priv, sizeof(c_priv) };
	CK_ATTRIBUTE td = { CKA_CLASS, &c_data, sizeof(c_data) };
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE label[64];
	CK_ATTRIBUTE al = { CKA_LABEL, label, sizeof(label) };
	CK_ULONG size;
	int signs;

	(void)state;
	assert_int_equal(app_new(&b), 0);
	sb = app_open(b);
	/* B never logged in: only the PIN-never key and the CHUID. */
	assert_int_equal(app_find(b, sb, &tp, 1, h), 1);
	assert_int_equal(app_find(b, sb, &td, 1, h), 1);
	assert_no_private_handle(b, sb);
	/* B logs in, takes handles of a private key and private data. */
	assert_int_equal(
	    fe_C_Login(b, sb, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	kb = app_find_one(b, sb, CKO_PRIVATE_KEY, 3);
	db = app_find_printed(b, sb);
	pub = app_find_one(b, sb, CKO_PUBLIC_KEY, 3);
	assert_int_not_equal(kb, CK_INVALID_HANDLE);
	assert_int_not_equal(db, CK_INVALID_HANDLE);
	assert_int_equal(fe_C_GetAttributeValue(b, sb, db, &al, 1), CKR_OK);
	al.ulValueLen = sizeof(label);
	assert_int_equal(fe_C_Logout(b, sb), CKR_OK);
	/* A is logged in (the card too); B is not. */
	assert_int_equal(app_find(b, sb, &tp, 1, h), 1);
	assert_int_equal(app_find(b, sb, &td, 1, h), 1);
	assert_int_equal(app_find_printed(b, sb), CK_INVALID_HANDLE);
	assert_int_equal(fe_C_GetAttributeValue(b, sb, kb, &al, 1),
			 CKR_OBJECT_HANDLE_INVALID);
	al.ulValueLen = sizeof(label);
	assert_int_equal(fe_C_GetAttributeValue(b, sb, db, &al, 1),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fe_C_GetObjectSize(b, sb, db, &size),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fe_C_DestroyObject(b, sb, db),
			 CKR_OBJECT_HANDLE_INVALID);
	signs = soft_stats.sign;
	assert_int_equal(fe_C_SignInit(b, sb, &m, kb), CKR_KEY_HANDLE_INVALID);
	assert_int_equal(soft_stats.sign, signs);
	assert_no_private_handle(b, sb);
	/* Public objects stay: B still reads its public key's handle. */
	al.ulValueLen = sizeof(label);
	assert_int_equal(fe_C_GetAttributeValue(b, sb, pub, &al, 1), CKR_OK);
	/* A still finds and reads both. */
	assert_int_equal(fl->C_GetAttributeValue(
			     sa, p11_find(sa, CKO_PRIVATE_KEY, 3), &al, 1),
			 CKR_OK);
	/* B logged in again sees them again. */
	assert_int_equal(
	    fe_C_Login(b, sb, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	assert_int_equal(app_find_one(b, sb, CKO_PRIVATE_KEY, 3), kb);
	al.ulValueLen = sizeof(label);
	assert_int_equal(fe_C_GetAttributeValue(b, sb, db, &al, 1), CKR_OK);
	app_free(&b);
}

/* SO (management key): private keys, not PIN-protected data. */
static void test_private_so(void **state)
{
	struct app *b = NULL;
	CK_SESSION_HANDLE sa = p11_open(true), sb;
	CK_ATTRIBUTE tp = { CKA_CLASS, &c_priv, sizeof(c_priv) };
	CK_OBJECT_HANDLE h[64];

	(void)state;
	/* A's search loads the private data into the token's cache. */
	assert_int_equal(fl->C_FindObjectsInit(sa, NULL, 0), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(sa), CKR_OK);
	assert_int_equal(soft_stats.load_private, 1);
	assert_int_equal(app_new(&b), 0);
	sb = app_open(b);
	assert_int_equal(fe_C_Login(b, sb, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				    sizeof(SOFT_SO_PIN) - 1),
			 CKR_OK);
	assert_int_equal(app_find(b, sb, &tp, 1, h), 5);
	assert_int_equal(app_find_printed(b, sb), CK_INVALID_HANDLE);
	for (CK_OBJECT_HANDLE x = 1; x <= 64; x++) {
		CK_OBJECT_CLASS cls = 0;
		CK_BBOOL priv = CK_FALSE;
		CK_ATTRIBUTE a[] = { { CKA_CLASS, &cls, sizeof(cls) },
				     { CKA_PRIVATE, &priv, 1 } };
		if (fe_C_GetAttributeValue(b, sb, x, a, 2) == CKR_OK)
			assert_true(!priv || cls == CKO_PRIVATE_KEY);
	}
	app_free(&b);
}

/* ---- object filter ---- */

static int filter_calls;

/* Accepts the objects of soft key 1, and the certificate of soft key 2
 * (its keys come with it); checks what it is given. */
static bool filter_id01(void *ctx, const CK_TOKEN_INFO *ti,
			const CK_ATTRIBUTE *a, CK_ULONG n)
{
	const CK_OBJECT_CLASS *cls = NULL;
	int id = -1;

	assert_ptr_equal(ctx, &filter_calls);
	assert_memory_equal(ti->label, "Soft token #1 ", 12);
	filter_calls++;
	for (CK_ULONG i = 0; i < n; i++) {
		if (a[i].type == CKA_CLASS) {
			assert_int_equal(a[i].ulValueLen, sizeof(*cls));
			cls = a[i].pValue;
		} else if (a[i].type == CKA_ID) {
			assert_int_equal(a[i].ulValueLen, SOFT_ID_LEN);
			id = soft_id_num(a[i].pValue, a[i].ulValueLen);
		} else {
			assert_int_equal(a[i].type, CKA_LABEL);
		}
	}
	assert_non_null(cls);
	assert_int_not_equal(id, -1);
	return id == 1 || (id == 2 && *cls == CKO_CERTIFICATE);
}

/* The IDs of every object app finds; data objects count as 0. */
static void found_ids(struct app *app, CK_SESSION_HANDLE s, unsigned *ids,
		      CK_ULONG *n)
{
	CK_OBJECT_HANDLE h[64];

	*n = app_find(app, s, NULL, 0, h);
	for (CK_ULONG i = 0; i < *n; i++) {
		uint8_t idb[TK_ID_MAX];
		CK_ATTRIBUTE a = { CKA_ID, idb, sizeof(idb) };
		CK_RV rv = fe_C_GetAttributeValue(app, s, h[i], &a, 1);
		assert_true(rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID);
		ids[i] = rv == CKR_OK ? soft_id_num(idb, a.ulValueLen) : 0;
	}
}

static void test_object_filter(void **state)
{
	struct app *b = NULL;
	CK_SESSION_HANDLE sb;
	CK_OBJECT_HANDLE k2, k1, d, h[64];
	CK_ATTRIBUTE td = { CKA_CLASS, &c_data, sizeof(c_data) };
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE sig[128];
	CK_ULONG n, slen = sizeof(sig);
	unsigned ids[64], per_id[32] = { 0 };

	(void)state;
	assert_int_equal(app_new(&b), 0);
	sb = app_open(b);
	assert_int_equal(
	    fe_C_Login(b, sb, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	/* Handles taken before the filter is set (the daemon sets it first;
	 * this shows that resolving a handle asks the filter too). */
	k2 = app_find_one(b, sb, CKO_PRIVATE_KEY, 3);
	d = app_find_printed(b, sb);
	assert_int_not_equal(d, CK_INVALID_HANDLE);
	app_set_object_filter(b, filter_id01, &filter_calls);
	found_ids(b, sb, ids, &n);
	for (CK_ULONG i = 0; i < n; i++)
		per_id[ids[i]]++;
	/* ID 01: private, public, certificate; ID 02 likewise (via its
	 * certificate); nothing else, no data. */
	assert_int_equal(n, 6);
	assert_int_equal(per_id[1], 3);
	assert_int_equal(per_id[2], 3);
	assert_true(filter_calls > 0);
	assert_int_equal(app_find(b, sb, &td, 1, h), 0);
	assert_int_equal(app_find_one(b, sb, CKO_PRIVATE_KEY, 3),
			 CK_INVALID_HANDLE);
	/* Old handles of hidden objects are invalid for every use. */
	assert_int_equal(fe_C_GetAttributeValue(
			     b, sb, k2, &(CK_ATTRIBUTE){ CKA_ID, NULL, 0 }, 1),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fe_C_GetObjectSize(b, sb, d, &n),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fe_C_SignInit(b, sb, &m, k2), CKR_KEY_HANDLE_INVALID);
	assert_int_equal(fe_C_DestroyObject(b, sb, d),
			 CKR_OBJECT_HANDLE_INVALID);
	/* Every handle number: only IDs 01 and 02 answer. */
	for (CK_OBJECT_HANDLE x = 1; x <= 64; x++) {
		uint8_t idb[TK_ID_MAX];
		CK_ATTRIBUTE a = { CKA_ID, idb, sizeof(idb) };
		CK_RV rv = fe_C_GetAttributeValue(b, sb, x, &a, 1);
		int id = soft_id_num(idb, a.ulValueLen);
		if (rv != CKR_OBJECT_HANDLE_INVALID) {
			assert_int_equal(rv, CKR_OK);
			assert_true(id == 1 || id == 2);
		}
	}
	/* The key shown signs. */
	k1 = app_find_one(b, sb, CKO_PRIVATE_KEY, 2);
	assert_int_equal(fe_C_SignInit(b, sb, &m, k1), CKR_OK);
	assert_int_equal(fe_C_Login(b, sb, CKU_CONTEXT_SPECIFIC,
				    (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_equal(fe_C_Sign(b, sb,
				   (CK_BYTE_PTR) "0123456789abcdef"
						 "0123456789abcdef",
				   32, sig, &slen),
			 CKR_OK);
	app_free(&b);
}

/* CKA_DERIVE agrees between an EC key's private and public halves. */
static void test_derive_pairs(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);

	(void)state;
	for (uint8_t id = 1; id <= 5; id++) {
		CK_BBOOL dpriv = 9, dpub = 8;
		CK_ATTRIBUTE a = { CKA_DERIVE, &dpriv, 1 };
		assert_int_equal(
		    fl->C_GetAttributeValue(s, p11_find(s, CKO_PRIVATE_KEY, id),
					    &a, 1),
		    CKR_OK);
		a.pValue = &dpub;
		assert_int_equal(fl->C_GetAttributeValue(
				     s, p11_find(s, CKO_PUBLIC_KEY, id), &a, 1),
				 CKR_OK);
		assert_int_equal(dpriv, dpub);
		/* EC (03) and X25519 (05) derive; RSA and Ed25519 do not */
		assert_int_equal(dpriv, id == 2 || id == 3 || id == 5);
	}
}

/* The classes of the objects with CKA_ID soft_idb(id), as a bit set:
 * 1 << CKO_*. */
static unsigned classes_of(CK_SESSION_HANDLE s, uint8_t id)
{
	CK_ATTRIBUTE t = { CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN };
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;
	unsigned set = 0;

	assert_int_equal(fl->C_FindObjectsInit(s, &t, 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 8, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls;
		CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof(cls) };
		assert_int_equal(fl->C_GetAttributeValue(s, h[i], &a, 1),
				 CKR_OK);
		assert_false(set & (1u << cls)); /* one of each at most */
		set |= 1u << cls;
	}
	return set;
}

#define PRIV (1u << CKO_PRIVATE_KEY)
#define PUB (1u << CKO_PUBLIC_KEY)
#define CERT (1u << CKO_CERTIFICATE)

/* A driver that says which parts of its keys are objects (a module's
 * public key alone, a private key whose public key object is gone): only
 * those are found, read and used; a search that could match private keys
 * reads them after login (login_reveals); C_DestroyObject of one part
 * destroys that part alone. */
static void test_parts(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true), so;
	CK_OBJECT_HANDLE h;
	CK_BYTE sig[64];
	CK_ULONG len = sizeof(sig);
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };

	(void)state;
	assert_int_equal(soft_stats.load_private, 0);
	assert_int_not_equal(p11_find(s, CKO_PRIVATE_KEY, 3),
			     CK_INVALID_HANDLE);
	assert_int_equal(soft_stats.load_private, 1);
	assert_int_equal(classes_of(s, 1), PRIV | PUB | CERT);
	assert_int_equal(classes_of(s, 2), PRIV | CERT);
	assert_int_equal(classes_of(s, 4), PUB);
	assert_int_equal(p11_find(s, CKO_PRIVATE_KEY, 4), CK_INVALID_HANDLE);
	/* the private key alone signs */
	assert_int_not_equal(h = p11_find(s, CKO_PRIVATE_KEY, 2),
			     CK_INVALID_HANDLE);
	assert_int_equal(fl->C_SignInit(s, &ecdsa, h), CKR_OK);
	assert_int_equal(
	    fl->C_Login(s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_OK); /* key 2: PIN always */
	assert_int_equal(fl->C_Sign(s,
				    (CK_BYTE_PTR) "0123456789abcdef0123456789"
						  "abcdef",
				    32, sig, &len),
			 CKR_OK);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);

	so = p11_open(false);
	assert_int_equal(fl->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_OK);
	assert_int_equal(
	    fl->C_DestroyObject(so, p11_find(so, CKO_PRIVATE_KEY, 3)), CKR_OK);
	assert_int_equal(soft_stats.destroy, 1);
	assert_int_equal(soft_stats.destroy_kind, TK_OBJ_PRIVATE);
	assert_int_equal(soft_stats.delete_key, 0);
	assert_int_equal(classes_of(so, 3), PUB);
	assert_int_equal(
	    fl->C_DestroyObject(so, p11_find(so, CKO_PUBLIC_KEY, 3)), CKR_OK);
	assert_int_equal(soft_stats.destroy_kind, TK_OBJ_PUBLIC);
	assert_int_equal(classes_of(so, 3), 0);
	assert_int_equal(fl->C_Logout(so), CKR_OK);
}

/* Keys without parts (a card): every key a private and a public key
 * object, and a search for keys does not read the private objects. */
static void test_parts_card(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);

	(void)state;
	assert_int_not_equal(p11_find(s, CKO_PRIVATE_KEY, 3),
			     CK_INVALID_HANDLE);
	assert_int_equal(soft_stats.load_private, 0);
	assert_int_equal(classes_of(s, 2), PRIV | PUB | CERT);
	assert_int_equal(classes_of(s, 4), PRIV | PUB);
}

static int p11_up_parts(void **state)
{
	soft_control.parts = true;
	return p11_up(state);
}

static int p11_down_parts(void **state)
{
	soft_control.parts = false;
	return p11_down(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_private_per_app, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_private_so, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_object_filter, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_derive_pairs, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_parts, p11_up_parts,
						p11_down_parts),
		cmocka_unit_test_setup_teardown(test_parts_card, p11_up,
						p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
