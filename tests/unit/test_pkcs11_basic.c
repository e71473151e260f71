/* The front end's PKCS#11 surface on the soft token: initialisation, slots,
 * token info, sessions, login (also isolation between applications),
 * objects and attribute semantics, argument checks. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "test_pkcs11_util.h"

#include "frontend.h"

static void test_interfaces(void **state)
{
	CK_INTERFACE list[4];
	CK_ULONG n = 0;
	CK_FUNCTION_LIST_PTR f2 = NULL;
	CK_INTERFACE *iface = NULL;
	CK_VERSION v240 = { 2, 40 }, v9 = { 9, 9 };

	assert_int_equal(C_GetInterfaceList(NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	n = 1;
	assert_int_equal(C_GetInterfaceList(list, &n), CKR_BUFFER_TOO_SMALL);
	n = 4;
	assert_int_equal(C_GetInterfaceList(list, &n), CKR_OK);
	assert_string_equal((char *)list[0].pInterfaceName, "PKCS 11");
	assert_int_equal(C_GetInterfaceList(list, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(C_GetInterface(NULL, &v240, &iface, 0), CKR_OK);
	assert_int_equal(((CK_VERSION *)iface->pFunctionList)->minor, 40);
	assert_int_equal(C_GetInterface(NULL, &v9, &iface, 0),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(
	    C_GetInterface((CK_UTF8CHAR_PTR) "Vendor", NULL, &iface, 0),
	    CKR_ARGUMENTS_BAD);
	assert_int_equal(C_GetFunctionList(&f2), CKR_OK);
	assert_int_equal(f2->version.major, 2);
	assert_int_equal(C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
}

static CK_RV dummy_mutex(CK_VOID_PTR p)
{
	return CKR_OK;
}

static CK_RV dummy_create(CK_VOID_PTR_PTR p)
{
	return CKR_OK;
}

static void test_initialize(void **state)
{
	CK_C_INITIALIZE_ARGS a = { 0 };
	struct tk_driver **drv = calloc(1, sizeof(*drv));
	CK_INTERFACE *iface = NULL;
	CK_ULONG n;

	assert_int_equal(C_GetInterface(NULL, NULL, &iface, 0), CKR_OK);
	fl = iface->pFunctionList;
	assert_int_equal(fl->version.major, 3);
	soft_driver_new(&drv[0]);
	frontend_set_drivers_for_test(drv, 1);
	frontend_set_queue_for_test(soft_queue());
	/* Not initialised yet. */
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(fl->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	a.CreateMutex = dummy_create;
	assert_int_equal(fl->C_Initialize(&a),
			 CKR_ARGUMENTS_BAD); /* some callbacks only */
	a.DestroyMutex = a.LockMutex = a.UnlockMutex = dummy_mutex;
	assert_int_equal(fl->C_Initialize(&a), CKR_CANT_LOCK);
	a.pReserved = &a;
	assert_int_equal(fl->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	a.pReserved = NULL;
	a.flags = CKF_OS_LOCKING_OK;
	assert_int_equal(fl->C_Initialize(&a), CKR_OK);
	assert_int_equal(fl->C_Initialize(NULL),
			 CKR_CRYPTOKI_ALREADY_INITIALIZED);
	assert_int_equal(fl->C_Finalize(&a), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static void test_slots_and_token(void **state)
{
	CK_SLOT_ID ids[2];
	CK_ULONG n = 0;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_INFO info;

	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(info.cryptokiVersion.major, 3);
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, NULL),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, ids, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 1);
	assert_int_equal(fl->C_GetSlotInfo(slot, &si), CKR_OK);
	assert_true(si.flags & CKF_TOKEN_PRESENT);
	assert_int_equal(fl->C_GetSlotInfo(slot + 100, &si),
			 CKR_SLOT_ID_INVALID);
	assert_int_equal(fl->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_memory_equal(ti.label, "Soft token #1   ", 16);
	assert_true(ti.flags & CKF_LOGIN_REQUIRED);
	assert_true(ti.flags & CKF_TOKEN_INITIALIZED);
	assert_true(ti.flags & CKF_USER_PIN_TO_BE_CHANGED);
	assert_false(ti.flags & CKF_USER_PIN_COUNT_LOW);
	assert_int_equal(ti.ulMinPinLen, 6);
	assert_int_equal(fl->C_GetTokenInfo(slot + 100, &ti),
			 CKR_SLOT_ID_INVALID);
	/* The card was opened once; nothing here talked to it again. */
	assert_int_equal(soft_stats.open, 1);
	assert_int_equal(soft_stats.login + soft_stats.sign, 0);
}

static void test_hotplug(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE old = p11_find(s, CKO_PUBLIC_KEY, 1), h;
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	CK_SESSION_INFO si;
	CK_ULONG n = 1;
	CK_SLOT_ID id;

	assert_int_not_equal(old, CK_INVALID_HANDLE);
	/* Same device, new card: sessions of the old one are gone; same slot
	 * id. */
	soft_swap();
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(soft_stats.open, 2);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_DEVICE_REMOVED);
	assert_int_equal(fl->C_GetSessionInfo(s, &si),
			 CKR_SESSION_HANDLE_INVALID);
	n = 1;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, &id, &n), CKR_OK);
	assert_int_equal(id, slot);
	/* Removed: no token; present again: a token, still the same slot. */
	soft_remove();
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_TOKEN_NOT_PRESENT);
	soft_insert();
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 1);
	s = p11_open(false);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_OK);
	assert_int_equal(si.slotID, slot);
	/* The old card's handles stay invalid once a search of the new card
	 * has dropped their records; the new handle works. */
	h = p11_find(s, CKO_PUBLIC_KEY, 1);
	assert_int_not_equal(h, CK_INVALID_HANDLE);
	assert_int_not_equal(h, old);
	assert_int_equal(fl->C_GetAttributeValue(s, old, &a, 1),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fl->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
	assert_int_equal(p11_find(s, CKO_PUBLIC_KEY, 1), h);
}

static void test_sessions(void **state)
{
	CK_SESSION_HANDLE s, r;
	CK_SESSION_INFO si;

	assert_int_equal(fl->C_OpenSession(slot, 0, NULL, NULL, &s),
			 CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL),
	    CKR_ARGUMENTS_BAD);
	assert_int_equal(
	    fl->C_OpenSession(slot + 9, CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_SLOT_ID_INVALID);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &r),
	    CKR_OK);
	s = p11_open(false);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
	assert_int_equal(fl->C_GetSessionInfo(r, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(fl->C_GetSessionInfo(s, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_GetSessionInfo(999, &si),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_equal(fl->C_GetSessionInfo(r, &si), CKR_OK);
	assert_int_equal(si.state,
			 CKS_RO_USER_FUNCTIONS); /* login is per application */
	assert_int_equal(fl->C_Login(r, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_USER_ALREADY_LOGGED_IN);
	assert_int_equal(fl->C_Login(r, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	assert_int_equal(fl->C_Login(r, 7, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_USER_TYPE_INVALID);
	assert_int_equal(
	    fl->C_Login(r, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
	    CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	assert_int_equal(fl->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(fl->C_Logout(r), CKR_OK);
	assert_int_equal(fl->C_Logout(r), CKR_USER_NOT_LOGGED_IN);
	/* The last app out logs the card out. */
	assert_int_equal(soft_stats.logout, 1);
	/* SO login needs every session read/write. */
	assert_int_equal(fl->C_Login(r, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_SESSION_READ_ONLY_EXISTS);
	assert_int_equal(fl->C_CloseAllSessions(slot), CKR_OK);
	assert_int_equal(fl->C_GetSessionInfo(r, &si),
			 CKR_SESSION_HANDLE_INVALID);
	s = p11_open(false);
	assert_int_equal(fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) "zz", 2),
			 CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SOFT_SO_PIN,
				     sizeof(SOFT_SO_PIN) - 1),
			 CKR_OK);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_SO_FUNCTIONS);
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &r),
	    CKR_SESSION_READ_WRITE_SO_EXISTS);
}

static void test_pin_flags(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_TOKEN_INFO ti;

	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6),
	    CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_USER_PIN_COUNT_LOW);
	assert_false(ti.flags & CKF_USER_PIN_FINAL_TRY);
	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6),
	    CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_USER_PIN_FINAL_TRY);
	/* A right PIN resets the counter. */
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_false(ti.flags &
		     (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW));
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6),
		    CKR_PIN_INCORRECT);
	assert_int_equal(
	    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6),
	    CKR_PIN_LOCKED);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_true(ti.flags & CKF_USER_PIN_LOCKED);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_PIN_LOCKED);
	assert_int_equal(fl->C_Login(s, CKU_USER, NULL, 6), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 0),
			 CKR_PIN_LEN_RANGE);
}

static CK_ULONG count_objects(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE h[64];
	CK_ULONG got = 0;

	assert_int_equal(fl->C_FindObjectsInit(s, t, n), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 64, &got), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	return got;
}

static void test_find(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, data = CKO_DATA;
	CK_ATTRIBUTE t = { CKA_CLASS, &priv, sizeof(priv) };
	CK_ATTRIBUTE td = { CKA_CLASS, &data, sizeof(data) };
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int opens = soft_stats.open;

	/* Public: 5 public keys, 2 certificates, CHUID, and the PIN-never key.
	 */
	assert_int_equal(count_objects(s, NULL, 0), 9);
	assert_int_equal(count_objects(s, &t, 1), 1);
	assert_int_equal(count_objects(s, &td, 1), 1);
	assert_int_equal(soft_stats.load_private, 0);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_equal(count_objects(s, &t, 1), 5);
	assert_int_equal(count_objects(s, &td, 1),
			 2); /* printed information, after login */
	assert_int_equal(count_objects(s, &td, 1), 2);
	assert_int_equal(soft_stats.load_private, 1);
	/* and the secret key, private too */
	assert_int_equal(count_objects(s, NULL, 0), 15);
	assert_int_equal(soft_stats.open, opens);
	/* The last logout drops it in the driver; the next login reads it
	 * again. */
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(count_objects(s, &td, 1), 1);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
			 CKR_OK);
	assert_int_equal(count_objects(s, &td, 1), 2);
	assert_int_equal(soft_stats.load_private, 2);
	/* Handles are stable. */
	assert_int_equal(p11_find(s, CKO_PRIVATE_KEY, 1),
			 p11_find(s, CKO_PRIVATE_KEY, 1));
	assert_int_equal(p11_find(s, CKO_CERTIFICATE, 3), CK_INVALID_HANDLE);
	/* Argument and state errors. */
	assert_int_equal(fl->C_FindObjects(s, &h, 1, &n),
			 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(fl->C_FindObjectsFinal(s),
			 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(fl->C_FindObjectsInit(s, NULL, 1), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	assert_int_equal(fl->C_FindObjectsInit(s, NULL, 0),
			 CKR_OPERATION_ACTIVE);
	assert_int_equal(fl->C_FindObjects(s, NULL, 1, &n), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_FindObjects(s, &h, 1, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_FindObjects(s, &h, 1, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(fl->C_FindObjectsInit(999, NULL, 0),
			 CKR_SESSION_HANDLE_INVALID);
}

/* C_FindObjectsInit asks the driver for just what the template can match,
 * and only for what it has not read yet (what 0: no call); a CKA_ID is
 * handed on as it is (20 bytes here). */
static void find_expect(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n,
			unsigned what, int idn)
{
	int before = soft_stats.discover;

	count_objects(s, t, n);
	assert_int_equal(soft_stats.discover, before + (what ? 1 : 0));
	if (what) {
		assert_int_equal(soft_stats.discover_what, what);
		if (!(what & TK_DISCOVER_ALL) &&
		    (what & (TK_DISCOVER_KEY | TK_DISCOVER_CERT))) {
			assert_int_equal(soft_stats.discover_id.len,
					 SOFT_ID_LEN);
			assert_memory_equal(soft_stats.discover_id.b,
					    soft_idb(idn), SOFT_ID_LEN);
		}
	}
}

static void test_find_discover(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY,
			cert = CKO_CERTIFICATE, data = CKO_DATA,
			secret = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &priv, sizeof(priv) },
			      { CKA_ID, (void *)soft_idb(1), SOFT_ID_LEN } };

	find_expect(s, t, 2, TK_DISCOVER_KEY, 1);
	/* What was read once is not asked for again (no card round trip). */
	t[0].pValue = &pub;
	find_expect(s, t, 2, 0, 0);
	t[0].pValue = &cert;
	find_expect(s, t, 2, TK_DISCOVER_CERT, 1);
	find_expect(s, t + 1, 1, 0, 0); /* no class: not data; read already */
	/* An ID no key has: asked once, then known to be absent. */
	t[1].pValue = (void *)soft_idb(0x30);
	find_expect(s, t, 2, TK_DISCOVER_CERT, 0x30);
	t[0].pValue = &priv;
	find_expect(s, t, 2, 0, 0);
	find_expect(s, t + 1, 1, 0, 0);
	/* Secret keys are keys of the driver's too. */
	t[0].pValue = &secret;
	find_expect(s, t, 1, TK_DISCOVER_KEY | TK_DISCOVER_ALL, 0);
	t[0].pValue = &cert;
	find_expect(s, t, 1, TK_DISCOVER_CERT | TK_DISCOVER_ALL, 0);
	t[0].pValue = &priv;
	find_expect(s, t, 1, 0, 0);
	t[0].pValue = &data;
	find_expect(s, t, 1, TK_DISCOVER_DATA, 0);
	find_expect(s, NULL, 0, 0, 0);
}

/* No RNG: the front end answers CKR_RANDOM_NO_RNG. */
static void test_random(void **state)
{
	CK_SESSION_HANDLE s = p11_open(false);
	CK_TOKEN_INFO ti;
	CK_BYTE b[8];

	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_false(ti.flags & CKF_RNG);
	assert_int_equal(fl->C_GenerateRandom(s, b, sizeof(b)),
			 CKR_RANDOM_NO_RNG);
	assert_int_equal(fl->C_SeedRandom(s, b, sizeof(b)), CKR_RANDOM_NO_RNG);
	assert_int_equal(fl->C_GenerateRandom(s, NULL, 8), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_GenerateRandom(999, b, 8),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(fl->C_SeedRandom(999, b, 8),
			 CKR_SESSION_HANDLE_INVALID);
}

static void test_attributes(void **state)
{
	CK_SESSION_HANDLE s = p11_open(true);
	CK_OBJECT_HANDLE priv = p11_find(s, CKO_PRIVATE_KEY, 1);
	CK_OBJECT_HANDLE cert = p11_find(s, CKO_CERTIFICATE, 1);
	CK_OBJECT_HANDLE sig = p11_find(s, CKO_PRIVATE_KEY, 2);
	CK_OBJECT_HANDLE ecpub = p11_find(s, CKO_PUBLIC_KEY, 2);
	CK_BYTE label[64], mod[512], small[4], value[32];
	CK_BBOOL b1 = 9, b2 = 9;
	CK_ULONG bits = 0, kt = 99;
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_MODULUS, mod, sizeof(mod) },
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_SENSITIVE, &b1, sizeof(b1) },
		{ CKA_EXTRACTABLE, &b2, sizeof(b2) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_ATTRIBUTE bad[] = {
		{ CKA_PRIVATE_EXPONENT, value, sizeof(value) },
		{ CKA_LABEL, small, sizeof(small) },
		{ CKA_CERTIFICATE_TYPE, value, sizeof(value) },
		{ CKA_ID, value, sizeof(value) },
	};
	CK_ATTRIBUTE q[] = { { CKA_VALUE, NULL, 0 }, { CKA_SUBJECT, NULL, 0 } };
	CK_ATTRIBUTE ec[] = { { CKA_EC_POINT, NULL, 0 },
			      { CKA_EC_PARAMS, NULL, 0 },
			      { CKA_ALWAYS_AUTHENTICATE, &b1, 1 } };

	assert_int_equal(fl->C_GetAttributeValue(s, priv, t, 6), CKR_OK);
	assert_int_equal(t[0].ulValueLen, strlen("soft key 1"));
	assert_memory_equal(label, "soft key 1", t[0].ulValueLen);
	assert_int_equal(t[1].ulValueLen, 256);
	assert_int_equal(bits, 2048);
	assert_int_equal(b1, CK_TRUE);
	assert_int_equal(b2, CK_FALSE);
	assert_int_equal(kt, CKK_RSA);
	/* §5.7: every attribute is processed; each failure marks its own. */
	CK_RV rv = fl->C_GetAttributeValue(s, priv, bad, 4);
	assert_true(rv == CKR_ATTRIBUTE_SENSITIVE ||
		    rv == CKR_BUFFER_TOO_SMALL ||
		    rv == CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(bad[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(bad[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(bad[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(bad[3].ulValueLen, SOFT_ID_LEN); /* the driver's */
	assert_memory_equal(value, soft_idb(1), SOFT_ID_LEN);
	assert_int_equal(fl->C_GetAttributeValue(s, priv, bad, 1),
			 CKR_ATTRIBUTE_SENSITIVE);
	bad[1].ulValueLen = sizeof(small);
	assert_int_equal(fl->C_GetAttributeValue(s, priv, bad + 1, 1),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(fl->C_GetAttributeValue(s, priv, bad + 2, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	/* Size queries. */
	assert_int_equal(fl->C_GetAttributeValue(s, cert, q, 2), CKR_OK);
	assert_true(q[0].ulValueLen > 100 && q[1].ulValueLen > 10);
	bad[1].ulValueLen = sizeof(small);
	assert_int_equal(fl->C_GetAttributeValue(s, cert, bad + 1, 1),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(fl->C_GetAttributeValue(s, ecpub, ec, 2), CKR_OK);
	assert_int_equal(ec[0].ulValueLen, 67); /* 04 41 04 X Y */
	assert_int_equal(ec[1].ulValueLen, 10);
	assert_int_equal(fl->C_GetAttributeValue(s, sig, ec + 2, 1), CKR_OK);
	assert_int_equal(b1, CK_TRUE);
	assert_int_equal(fl->C_GetAttributeValue(s, 9999, t, 1),
			 CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(fl->C_GetAttributeValue(s, priv, NULL, 1),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(soft_stats.sign + soft_stats.decrypt, 0);
}

/* Login isolation: app A's login never lets app B use a key. */
static void test_app_isolation(void **state)
{
	struct app *b = NULL;
	CK_SESSION_HANDLE sa = p11_open(false), sb;
	CK_OBJECT_HANDLE kb;
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[256];
	CK_ULONG n = sizeof(sig);
	int signs;

	assert_int_equal(app_new(&b), 0);
	assert_int_equal(
	    fe_C_OpenSession(b, slot, CKF_SERIAL_SESSION, NULL, NULL, &sb),
	    CKR_OK);
	assert_int_equal(
	    fe_C_Login(b, sb, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	/* B finds the key and starts signing, then logs out. */
	{
		CK_OBJECT_CLASS c = CKO_PRIVATE_KEY;
		CK_BYTE id = 1;
		CK_ATTRIBUTE t[] = { { CKA_CLASS, &c, sizeof(c) },
				     { CKA_ID, (void *)soft_idb(id),
				       SOFT_ID_LEN } };
		assert_int_equal(fe_C_FindObjectsInit(b, sb, t, 2), CKR_OK);
		assert_int_equal(fe_C_FindObjects(b, sb, &kb, 1, &n), CKR_OK);
		assert_int_equal(n, 1);
		assert_int_equal(fe_C_FindObjectsFinal(b, sb), CKR_OK);
	}
	assert_int_equal(fe_C_SignInit(b, sb, &m, kb), CKR_OK);
	assert_int_equal(fe_C_Logout(b, sb), CKR_OK);
	/* A logs in: the card is verified again, but not for B. */
	assert_int_equal(
	    fl->C_Login(sa, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6), CKR_OK);
	signs = soft_stats.sign;
	n = sizeof(sig);
	assert_int_equal(fe_C_Sign(b, sb, (CK_BYTE_PTR) "x", 1, sig, &n),
			 CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(soft_stats.sign, signs);
	/* B's handle of the private key died with B's logout. */
	assert_int_equal(fe_C_SignInit(b, sb, &m, kb), CKR_KEY_HANDLE_INVALID);
	/* A's handles mean nothing to B. */
	assert_int_equal(fe_C_GetSessionInfo(b, sa, &(CK_SESSION_INFO){ 0 }),
			 sa == sb ? CKR_OK : CKR_SESSION_HANDLE_INVALID);
	/* B goes away without logging out; A is still logged in. */
	app_free(&b);
	assert_null(b);
	n = sizeof(sig);
	assert_int_equal(
	    fl->C_SignInit(sa, &m, p11_find(sa, CKO_PRIVATE_KEY, 1)), CKR_OK);
	assert_int_equal(fl->C_Sign(sa, (CK_BYTE_PTR) "x", 1, sig, &n), CKR_OK);
}

/* ---- slot events ---- */

struct waiter {
	struct app *app; /* NULL: the module's */
	CK_FLAGS flags;
	CK_SLOT_ID id;
	CK_RV rv;
	bool done;
};

static void *waiter_run(void *arg)
{
	struct waiter *w = arg;

	CK_RV rv = w->app
		       ? fe_C_WaitForSlotEvent(w->app, w->flags, &w->id, NULL)
		       : fl->C_WaitForSlotEvent(w->flags, &w->id, NULL);

	/* Read by the test thread while the waiter may still run. */
	__atomic_store_n(&w->rv, rv, __ATOMIC_SEQ_CST);
	__atomic_store_n(&w->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_slot_events(void **state)
{
	struct waiter w = { 0 };
	CK_TOKEN_INFO ti;
	CK_INFO info;
	CK_SLOT_ID id = 0;
	pthread_t t;
	double t0;

	/* The token present at C_Initialize is no event. */
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_NO_EVENT);
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL),
			 CKR_ARGUMENTS_BAD);
	/* A removal is reported once, without blocking; the token is gone. */
	soft_remove();
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_OK);
	assert_int_equal(id, slot);
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_NO_EVENT);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_TOKEN_NOT_PRESENT);
	/* Blocked in one thread, the others go on; an insertion ends it. */
	assert_int_equal(pthread_create(&t, NULL, waiter_run, &w), 0);
	usleep(300 * 1000);
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(fl->C_GetSlotInfo(slot, &(CK_SLOT_INFO){ 0 }), CKR_OK);
	soft_insert();
	t0 = now_s();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST), CKR_OK);
	assert_int_equal(w.id, slot);
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_NO_EVENT);
	/* Same device, another card: an event too. */
	soft_swap();
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_OK);
	/* C_Finalize from another thread ends a blocked wait. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(pthread_create(&t, NULL, waiter_run, &w), 0);
	usleep(300 * 1000);
	t0 = now_s();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(now_s() - t0 < 1.0);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(fl->C_WaitForSlotEvent(0, &id, NULL),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(p11_up(NULL), 0); /* for the teardown */
}

/* Per app: one app's events are its own; app_wait_cancel ends its waits
 * only, and they can wait again afterwards. */
static void test_slot_events_apps(void **state)
{
	struct app *b = NULL;
	struct waiter w = { 0 };
	CK_SLOT_ID id = 0;
	pthread_t t;

	assert_int_equal(app_new(&b), 0);
	app_events_reset(b);
	soft_swap();
	assert_int_equal(fe_C_WaitForSlotEvent(b, CKF_DONT_BLOCK, &id, NULL),
			 CKR_OK);
	assert_int_equal(fe_C_WaitForSlotEvent(b, CKF_DONT_BLOCK, &id, NULL),
			 CKR_NO_EVENT);
	/* The module's app has not looked yet. */
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL),
			 CKR_OK);
	w.app = b;
	assert_int_equal(pthread_create(&t, NULL, waiter_run, &w), 0);
	/* A cancel ends the waits running then: again until the waiter,
	 * however late it started, was one of them. */
	usleep(50 * 1000);
	while (!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST)) {
		app_wait_cancel(b);
		usleep(10 * 1000);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	/* A new wait after the cancel blocks again, until an event. */
	__atomic_store_n(&w.rv, CKR_OK, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_create(&t, NULL, waiter_run, &w), 0);
	usleep(300 * 1000);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST),
			 CKR_OK); /* still blocked */
	soft_remove();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(__atomic_load_n(&w.rv, __ATOMIC_SEQ_CST), CKR_OK);
	assert_int_equal(w.id, slot);
	app_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interfaces),
		cmocka_unit_test_setup_teardown(test_initialize, NULL, NULL),
		cmocka_unit_test_setup_teardown(test_slots_and_token, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_hotplug, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_sessions, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_pin_flags, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_find, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_find_discover, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_random, p11_up, p11_down),
		cmocka_unit_test_setup_teardown(test_attributes, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_app_isolation, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_slot_events, p11_up,
						p11_down),
		cmocka_unit_test_setup_teardown(test_slot_events_apps, p11_up,
						p11_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
