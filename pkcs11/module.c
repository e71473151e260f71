/* The in-process module: one application context, the 2.40 and 3.0
 * function lists, and the only exported symbols (C_GetFunctionList,
 * C_GetInterfaceList, C_GetInterface). Every entry point is a thin wrapper
 * over fe_C_* with the module's app. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testing.h"

#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mod_idle = PTHREAD_COND_INITIALIZER; /* mod_waiters 0 */
static struct app *mod_app;
static unsigned mod_waiters; /* calls in C_WaitForSlotEvent */
static struct tk_driver **test_drivers;
static size_t test_ndrivers;
static struct hotplug_queue *test_queue;
static bool test_set;

void frontend_set_drivers_for_test(struct tk_driver **drivers, size_t n)
{
	pthread_mutex_lock(&mod_lock);
	test_drivers = drivers;
	test_ndrivers = n;
	test_set = true;
	pthread_mutex_unlock(&mod_lock);
}

void frontend_set_queue_for_test(struct hotplug_queue *q)
{
	pthread_mutex_lock(&mod_lock);
	test_queue = q;
	pthread_mutex_unlock(&mod_lock);
}

static struct app *mod_get(void)
{
	struct app *app;

	pthread_mutex_lock(&mod_lock);
	app = mod_app;
	pthread_mutex_unlock(&mod_lock);
	return app;
}

/* Custom mutex callbacks are fine only with CKF_OS_LOCKING_OK: we always
 * lock with pthreads. */
static CK_RV mod_check_args(const CK_C_INITIALIZE_ARGS *a)
{
	int n;

	if (!a)
		return CKR_OK;
	if (a->pReserved)
		return CKR_ARGUMENTS_BAD;
	n = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex +
	    !!a->UnlockMutex;
	if (n != 0 && n != 4)
		return CKR_ARGUMENTS_BAD;
	if (n == 4 && !(a->flags & CKF_OS_LOCKING_OK))
		return CKR_CANT_LOCK;
	return CKR_OK;
}

static CK_RV mod_C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct tk_driver **drv = NULL;
	struct hotplug_queue *q = NULL;
	bool test = false;
	size_t n = 0;
	CK_RV rv;
	int r;

	if ((rv = mod_check_args(pInitArgs)) != CKR_OK)
		return rv;
	pthread_mutex_lock(&mod_lock);
	if (mod_app) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	if (test_set) {
		drv = test_drivers;
		n = test_ndrivers;
		q = test_queue;
		test = true;
		test_set = false;
	} else if ((r = frontend_module_drivers(&drv, &n)) < 0) {
		/* A config it cannot use (said on stderr): the function
		 * failed; nothing is wrong with a device. */
		rv = r == TK_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_FUNCTION_FAILED;
		goto out;
	}
	if ((r = frontend_init(drv, n)) < 0) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	/* Devices come from our own PC/SC watcher (or a test's queue). */
	if (test)
		frontend_events_queue(q);
	else if ((r = frontend_events_pcsc()) < 0) {
		frontend_fini();
		rv = rv_from_tk(r);
		goto out;
	}
	if (app_new(&mod_app) < 0) {
		frontend_fini();
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	app_events_reset(mod_app);
out:
	pthread_mutex_unlock(&mod_lock);
	return rv;
}

/* A blocked C_WaitForSlotEvent returns CKR_CRYPTOKI_NOT_INITIALIZED, and
 * the app goes once no thread is inside it any more. */
static CK_RV mod_C_Finalize(CK_VOID_PTR pReserved)
{
	struct app *app;
	struct timespec ts;
	CK_RV rv = CKR_OK;

	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&mod_lock);
	if (!(app = mod_app)) {
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		goto out;
	}
	mod_app = NULL;
	while (mod_waiters) {
		app_wait_cancel(
		    app); /* again: a wake can be lost (frontend.c) */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&mod_idle, &mod_lock, &ts);
	}
	app_free(&app);
	frontend_fini();
out:
	pthread_mutex_unlock(&mod_lock);
	return rv;
}

#define APP_OR_FAIL(a)                                                         \
	struct app *a = mod_get();                                             \
	if (!a)                                                                \
	return CKR_CRYPTOKI_NOT_INITIALIZED

/* A wrapper per implemented function: W(name, (params), (args)). */
#define W(name, params, args)                                                  \
	static CK_RV mod_##name params                                         \
	{                                                                      \
		APP_OR_FAIL(app);                                              \
		return fe_##name args;                                         \
	}

/* What we do not do. */
#define NS(name, params)                                                       \
	static CK_RV mod_##name params                                         \
	{                                                                      \
		APP_OR_FAIL(app);                                              \
		(void)app;                                                     \
		return CKR_FUNCTION_NOT_SUPPORTED;                             \
	}

typedef CK_SESSION_HANDLE SH;
typedef CK_OBJECT_HANDLE OH;

W(C_GetInfo, (CK_INFO_PTR i), (app, i))
W(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (app, p, l, n))
W(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (app, s, i))
W(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (app, s, i))
W(C_GetMechanismList, (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n),
  (app, s, l, n))
W(C_GetMechanismInfo,
  (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), (app, s, t, i))
W(C_InitToken,
  (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG l, CK_UTF8CHAR_PTR lab),
  (app, s, p, l, lab))
W(C_InitPIN, (SH h, CK_UTF8CHAR_PTR p, CK_ULONG l), (app, h, p, l))
W(C_SetPIN,
  (SH h, CK_UTF8CHAR_PTR o, CK_ULONG ol, CK_UTF8CHAR_PTR n, CK_ULONG nl),
  (app, h, o, ol, n, nl))
W(C_OpenSession, (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, SH *h),
  (app, s, f, a, n, h))
W(C_CloseSession, (SH h), (app, h))
W(C_CloseAllSessions, (CK_SLOT_ID s), (app, s))
W(C_GetSessionInfo, (SH h, CK_SESSION_INFO_PTR i), (app, h, i))
NS(C_GetOperationState, (SH h, CK_BYTE_PTR s, CK_ULONG_PTR l))
NS(C_SetOperationState, (SH h, CK_BYTE_PTR s, CK_ULONG l, OH e, OH a))
W(C_Login, (SH h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG l),
  (app, h, u, p, l))
W(C_Logout, (SH h), (app, h))
W(C_CreateObject, (SH h, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *o),
  (app, h, t, n, o))
NS(C_CopyObject, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *no))
W(C_DestroyObject, (SH h, OH o), (app, h, o))
W(C_GetObjectSize, (SH h, OH o, CK_ULONG_PTR s), (app, h, o, s))
W(C_GetAttributeValue, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
  (app, h, o, t, n))
NS(C_SetAttributeValue, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n))
W(C_FindObjectsInit, (SH h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (app, h, t, n))
W(C_FindObjects, (SH h, OH *o, CK_ULONG m, CK_ULONG_PTR n), (app, h, o, m, n))
W(C_FindObjectsFinal, (SH h), (app, h))
W(C_EncryptInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k))
W(C_Encrypt, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el),
  (app, h, d, l, e, el))
NS(C_EncryptUpdate,
   (SH h, CK_BYTE_PTR p, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el))
NS(C_EncryptFinal, (SH h, CK_BYTE_PTR e, CK_ULONG_PTR el))
W(C_DecryptInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k))
W(C_Decrypt, (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR d, CK_ULONG_PTR l),
  (app, h, e, el, d, l))
NS(C_DecryptUpdate,
   (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR l))
NS(C_DecryptFinal, (SH h, CK_BYTE_PTR p, CK_ULONG_PTR l))
W(C_DigestInit, (SH h, CK_MECHANISM_PTR m), (app, h, m))
W(C_Digest, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol),
  (app, h, d, l, o, ol))
W(C_DigestUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l))
NS(C_DigestKey, (SH h, OH k))
W(C_DigestFinal, (SH h, CK_BYTE_PTR o, CK_ULONG_PTR ol), (app, h, o, ol))
W(C_SignInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k))
W(C_Sign, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl),
  (app, h, d, l, s, sl))
W(C_SignUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l))
W(C_SignFinal, (SH h, CK_BYTE_PTR s, CK_ULONG_PTR sl), (app, h, s, sl))
NS(C_SignRecoverInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_SignRecover,
   (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl))
W(C_VerifyInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k))
W(C_Verify, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG sl),
  (app, h, d, l, s, sl))
W(C_VerifyUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l))
W(C_VerifyFinal, (SH h, CK_BYTE_PTR s, CK_ULONG sl), (app, h, s, sl))
NS(C_VerifyRecoverInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_VerifyRecover,
   (SH h, CK_BYTE_PTR s, CK_ULONG sl, CK_BYTE_PTR d, CK_ULONG_PTR l))
NS(C_DigestEncryptUpdate,
   (SH h, CK_BYTE_PTR p, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el))
NS(C_DecryptDigestUpdate,
   (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR l))
NS(C_SignEncryptUpdate,
   (SH h, CK_BYTE_PTR p, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el))
NS(C_DecryptVerifyUpdate,
   (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR l))
NS(C_GenerateKey,
   (SH h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k))
W(C_GenerateKeyPair,
  (SH h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn,
   CK_ATTRIBUTE_PTR vt, CK_ULONG vn, OH *pk, OH *vk),
  (app, h, m, pt, pn, vt, vn, pk, vk))
NS(C_WrapKey,
   (SH h, CK_MECHANISM_PTR m, OH w, OH k, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NS(C_UnwrapKey, (SH h, CK_MECHANISM_PTR m, OH u, CK_BYTE_PTR w, CK_ULONG wl,
		 CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k))
W(C_DeriveKey,
  (SH h, CK_MECHANISM_PTR m, OH b, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k),
  (app, h, m, b, t, n, k))
W(C_SeedRandom, (SH h, CK_BYTE_PTR s, CK_ULONG l), (app, h, s, l))
W(C_GenerateRandom, (SH h, CK_BYTE_PTR r, CK_ULONG l), (app, h, r, l))
/* Counted, so C_Finalize frees the app only after the call left it. */
static CK_RV mod_C_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
{
	struct app *app;
	CK_RV rv;

	pthread_mutex_lock(&mod_lock);
	if ((app = mod_app))
		mod_waiters++;
	pthread_mutex_unlock(&mod_lock);
	if (!app)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	rv = fe_C_WaitForSlotEvent(app, f, s, r);
	pthread_mutex_lock(&mod_lock);
	if (--mod_waiters == 0)
		pthread_cond_broadcast(&mod_idle);
	pthread_mutex_unlock(&mod_lock);
	return rv;
}
NS(C_SessionCancel, (SH h, CK_FLAGS f))
NS(C_MessageEncryptInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_EncryptMessage,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al, CK_BYTE_PTR i,
    CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NS(C_EncryptMessageBegin,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al))
NS(C_EncryptMessageNext,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
    CK_ULONG_PTR ol, CK_FLAGS f))
NS(C_MessageEncryptFinal, (SH h))
NS(C_MessageDecryptInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_DecryptMessage,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al, CK_BYTE_PTR i,
    CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol))
NS(C_DecryptMessageBegin,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al))
NS(C_DecryptMessageNext,
   (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
    CK_ULONG_PTR ol, CK_FLAGS f))
NS(C_MessageDecryptFinal, (SH h))
NS(C_MessageSignInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_SignMessage, (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d, CK_ULONG dl,
		   CK_BYTE_PTR s, CK_ULONG_PTR sl))
NS(C_SignMessageBegin, (SH h, CK_VOID_PTR p, CK_ULONG pl))
NS(C_SignMessageNext, (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
		       CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG_PTR sl))
NS(C_MessageSignFinal, (SH h))
NS(C_MessageVerifyInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_VerifyMessage, (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
		     CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl))
NS(C_VerifyMessageBegin, (SH h, CK_VOID_PTR p, CK_ULONG pl))
NS(C_VerifyMessageNext, (SH h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
			 CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl))
NS(C_MessageVerifyFinal, (SH h))

static CK_RV mod_C_GetFunctionStatus(SH h)
{
	APP_OR_FAIL(app);
	(void)app;
	return CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV mod_C_CancelFunction(SH h)
{
	APP_OR_FAIL(app);
	(void)app;
	return CKR_FUNCTION_NOT_PARALLEL;
}

/* Our tokens have no user names: C_LoginUser is C_Login, the name ignored. */
static CK_RV mod_C_LoginUser(SH h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p,
			     CK_ULONG l, CK_UTF8CHAR_PTR name,
			     CK_ULONG name_len)
{
	APP_OR_FAIL(app);
	return fe_C_Login(app, h, u, p, l);
}

/* The 2.40 functions in the specification's order, shared by both lists. */
#define FUNCS_240                                                              \
	mod_C_Initialize, mod_C_Finalize, mod_C_GetInfo, C_GetFunctionList,    \
	    mod_C_GetSlotList, mod_C_GetSlotInfo, mod_C_GetTokenInfo,          \
	    mod_C_GetMechanismList, mod_C_GetMechanismInfo, mod_C_InitToken,   \
	    mod_C_InitPIN, mod_C_SetPIN, mod_C_OpenSession,                    \
	    mod_C_CloseSession, mod_C_CloseAllSessions, mod_C_GetSessionInfo,  \
	    mod_C_GetOperationState, mod_C_SetOperationState, mod_C_Login,     \
	    mod_C_Logout, mod_C_CreateObject, mod_C_CopyObject,                \
	    mod_C_DestroyObject, mod_C_GetObjectSize, mod_C_GetAttributeValue, \
	    mod_C_SetAttributeValue, mod_C_FindObjectsInit, mod_C_FindObjects, \
	    mod_C_FindObjectsFinal, mod_C_EncryptInit, mod_C_Encrypt,          \
	    mod_C_EncryptUpdate, mod_C_EncryptFinal, mod_C_DecryptInit,        \
	    mod_C_Decrypt, mod_C_DecryptUpdate, mod_C_DecryptFinal,            \
	    mod_C_DigestInit, mod_C_Digest, mod_C_DigestUpdate,                \
	    mod_C_DigestKey, mod_C_DigestFinal, mod_C_SignInit, mod_C_Sign,    \
	    mod_C_SignUpdate, mod_C_SignFinal, mod_C_SignRecoverInit,          \
	    mod_C_SignRecover, mod_C_VerifyInit, mod_C_Verify,                 \
	    mod_C_VerifyUpdate, mod_C_VerifyFinal, mod_C_VerifyRecoverInit,    \
	    mod_C_VerifyRecover, mod_C_DigestEncryptUpdate,                    \
	    mod_C_DecryptDigestUpdate, mod_C_SignEncryptUpdate,                \
	    mod_C_DecryptVerifyUpdate, mod_C_GenerateKey,                      \
	    mod_C_GenerateKeyPair, mod_C_WrapKey, mod_C_UnwrapKey,             \
	    mod_C_DeriveKey, mod_C_SeedRandom, mod_C_GenerateRandom,           \
	    mod_C_GetFunctionStatus, mod_C_CancelFunction,                     \
	    mod_C_WaitForSlotEvent

static CK_FUNCTION_LIST list_240 = { { 2, 40 }, FUNCS_240 };

static CK_FUNCTION_LIST_3_0 list_30 = {
	{ 3, 0 },
	FUNCS_240,
	C_GetInterfaceList,
	C_GetInterface,
	mod_C_LoginUser,
	mod_C_SessionCancel,
	mod_C_MessageEncryptInit,
	mod_C_EncryptMessage,
	mod_C_EncryptMessageBegin,
	mod_C_EncryptMessageNext,
	mod_C_MessageEncryptFinal,
	mod_C_MessageDecryptInit,
	mod_C_DecryptMessage,
	mod_C_DecryptMessageBegin,
	mod_C_DecryptMessageNext,
	mod_C_MessageDecryptFinal,
	mod_C_MessageSignInit,
	mod_C_SignMessage,
	mod_C_SignMessageBegin,
	mod_C_SignMessageNext,
	mod_C_MessageSignFinal,
	mod_C_MessageVerifyInit,
	mod_C_VerifyMessage,
	mod_C_VerifyMessageBegin,
	mod_C_VerifyMessageNext,
	mod_C_MessageVerifyFinal,
};

static CK_INTERFACE interfaces[] = {
	{ (CK_CHAR *)"PKCS 11", &list_30, 0 },
	{ (CK_CHAR *)"PKCS 11", &list_240, 0 },
};

#define NIFACES (sizeof(interfaces) / sizeof(interfaces[0]))

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list_240;
	return CKR_OK;
}

EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
				CK_ULONG_PTR pulCount)
{
	CK_RV rv = CKR_OK;

	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList && *pulCount < NIFACES)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pInterfacesList)
		memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	*pulCount = NIFACES;
	return rv;
}

EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName,
			    CK_VERSION_PTR pVersion,
			    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (!ppInterface)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < NIFACES; i++) {
		const CK_VERSION *v =
		    (const CK_VERSION *)interfaces[i].pFunctionList;
		if (pInterfaceName &&
		    strcmp((const char *)pInterfaceName,
			   (const char *)interfaces[i].pInterfaceName))
			continue;
		if (pVersion && (pVersion->major != v->major ||
				 pVersion->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	*ppInterface = NULL;
	return CKR_ARGUMENTS_BAD;
}
