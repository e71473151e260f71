/* Shared fixture of the test_pkcs11_* tests: the soft token behind the real
 * module entry points (C_GetInterface -> CK_FUNCTION_LIST_3_0). */
#ifndef TOKEND_TEST_PKCS11_UTIL_H
#define TOKEND_TEST_PKCS11_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "p11.h"
#include "soft_token.h"
#include "testing.h"

static CK_FUNCTION_LIST_3_0 *fl;
static CK_SLOT_ID slot;

static inline int p11_up(void **state)
{
	struct tk_driver **drv = calloc(1, sizeof(*drv));
	CK_VERSION v = { 3, 0 };
	CK_INTERFACE *iface = NULL;
	CK_ULONG n = 1;

	(void)state;
	soft_reset_all();
	soft_driver_new(&drv[0]);
	frontend_set_drivers_for_test(drv, 1);
	frontend_set_queue_for_test(soft_queue());
	if (C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v, &iface, 0) !=
	    CKR_OK)
		return -1;
	fl = iface->pFunctionList;
	if (fl->C_Initialize(NULL) != CKR_OK)
		return -1;
	if (fl->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n != 1)
		return -1;
	return 0;
}

static inline int p11_down(void **state)
{
	(void)state;
	return fl->C_Finalize(NULL) == CKR_OK ? 0 : -1;
}

static inline CK_SESSION_HANDLE p11_open(bool login)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(fl->C_OpenSession(slot,
					   CKF_SERIAL_SESSION | CKF_RW_SESSION,
					   NULL, NULL, &s),
			 CKR_OK);
	if (login)
		assert_int_equal(
		    fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)SOFT_PIN, 6),
		    CKR_OK);
	return s;
}

/* The one object of class cls with CKA_ID soft_idb(id). */
static inline CK_OBJECT_HANDLE p11_find(CK_SESSION_HANDLE s,
					CK_OBJECT_CLASS cls, uint8_t id)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)soft_idb(id), SOFT_ID_LEN },
	};
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0;

	assert_int_equal(fl->C_FindObjectsInit(s, t, 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 4, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

#endif
