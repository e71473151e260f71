/* The in-process module: one application context, the 2.40 and 3.0
 * function lists, and the only exported symbols (C_GetFunctionList,
 * C_GetInterfaceList, C_GetInterface). Every entry point is a thin wrapper
 * over fe_C_* with the module's app, traced to $TOKEND_TRACE when set
 * (trace.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "testing.h"
#include "trace.h"

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

static CK_RV mod_initialize(CK_VOID_PTR pInitArgs)
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
static CK_RV mod_finalize(CK_VOID_PTR pReserved)
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

/* A wrapper per function: T(name, (params), (args), (trace in), (trace
 * out)). The trace arguments follow the call's RPC signature (trace.h);
 * the out ones are read after the call, and shown only on CKR_OK. With no
 * TOKEND_TRACE the one branch is all it costs. */
#define UNPAREN(...) __VA_ARGS__
#define NARGS(a) (sizeof(a) / sizeof((a)[0]))
#define TRACED(name, call, tin, tout)                                          \
	do {                                                                   \
		if (__builtin_expect(trace_module_fd < 0, 1))                  \
			return call;                                           \
		const struct trace_arg in_[] = { UNPAREN tin };                \
		uint64_t t0_ = trace_now();                                    \
		CK_RV rv_ = call;                                              \
		uint64_t t1_ = trace_now();                                    \
		if (rv_ != CKR_OK) { /* the outputs may point nowhere */       \
			trace_module_call(#name, in_, NARGS(in_), NULL, 0,     \
					  rv_, t1_ - t0_);                     \
			return rv_;                                            \
		}                                                              \
		const struct trace_arg out_[] = { UNPAREN tout };              \
		trace_module_call(#name, in_, NARGS(in_), out_, NARGS(out_),   \
				  rv_, t1_ - t0_);                             \
		return rv_;                                                    \
	} while (0)

#define T(name, params, args, tin, tout)                                       \
	static CK_RV mod_##name params                                         \
	{                                                                      \
		APP_OR_FAIL(app);                                              \
		TRACED(name, fe_##name args, tin, tout);                       \
	}

/* What we do not do. */
#define NS(name, params)                                                       \
	static CK_RV mod_##name params                                         \
	{                                                                      \
		APP_OR_FAIL(app);                                              \
		(void)app;                                                     \
		TRACED(name, CKR_FUNCTION_NOT_SUPPORTED, (), ());              \
	}

/* Trace arguments: a number, bytes, a buffer's room, a list, a template,
 * a template to fill, a mechanism, a fixed-size string. */
#define U(x)                                                                   \
	{                                                                      \
		TRACE_ULONG, (CK_ULONG)(x), NULL                               \
	}
#define B(p, l)                                                                \
	{                                                                      \
		TRACE_BYTES, (CK_ULONG)(l), (p)                                \
	}
#define ROOM(p, lp)                                                            \
	{                                                                      \
		TRACE_ROOM, (p) && (lp) ? *(lp) : 0, NULL                      \
	}
#define OUTB(p, lp)                                                            \
	{                                                                      \
		TRACE_BYTES, (lp) ? *(lp) : 0, (p)                             \
	}
#define LIST(v, np)                                                            \
	{                                                                      \
		TRACE_ULONGS, (np) ? *(np) : 0, (v)                            \
	}
#define TMPL(t, n)                                                             \
	{                                                                      \
		TRACE_ATTRS, (CK_ULONG)(n), (t)                                \
	}
#define ROOMS(t, n)                                                            \
	{                                                                      \
		TRACE_ROOMS, (CK_ULONG)(n), (t)                                \
	}
#define MECH(m)                                                                \
	{                                                                      \
		TRACE_MECH, 0, (m)                                             \
	}
#define STR(s, n)                                                              \
	{                                                                      \
		TRACE_STRING, (s) ? (CK_ULONG)(n) : 0, (s)                     \
	}
#define OUTU(p)                                                                \
	{                                                                      \
		TRACE_ULONG, (p) ? *(p) : 0, NULL                              \
	}

typedef CK_SESSION_HANDLE SH;
typedef CK_OBJECT_HANDLE OH;

T(C_GetInfo, (CK_INFO_PTR i), (app, i), (), ())
T(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (app, p, l, n),
  ({ TRACE_BYTE, p, NULL }, ROOM(l, n)), (LIST(l, n)))
T(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (app, s, i), (U(s)),
  (STR(i->slotDescription, 64), STR(i->manufacturerID, 32), U(i->flags)))
T(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (app, s, i), (U(s)),
  (STR(i->label, 32), STR(i->manufacturerID, 32), STR(i->model, 16),
   STR(i->serialNumber, 16), U(i->flags)))
T(C_GetMechanismList, (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n),
  (app, s, l, n), (U(s), ROOM(l, n)), (LIST(l, n)))
T(C_GetMechanismInfo,
  (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), (app, s, t, i),
  (U(s), U(t)), (U(i->ulMinKeySize), U(i->ulMaxKeySize), U(i->flags)))
T(C_InitToken,
  (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG l, CK_UTF8CHAR_PTR lab),
  (app, s, p, l, lab), (U(s), B(p, l), STR(lab, 32)), ())
T(C_InitPIN, (SH h, CK_UTF8CHAR_PTR p, CK_ULONG l), (app, h, p, l),
  (U(h), B(p, l)), ())
T(C_SetPIN,
  (SH h, CK_UTF8CHAR_PTR o, CK_ULONG ol, CK_UTF8CHAR_PTR n, CK_ULONG nl),
  (app, h, o, ol, n, nl), (U(h), B(o, ol), B(n, nl)), ())
T(C_OpenSession, (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, SH *h),
  (app, s, f, a, n, h), (U(s), U(f)), (OUTU(h)))
T(C_CloseSession, (SH h), (app, h), (U(h)), ())
T(C_CloseAllSessions, (CK_SLOT_ID s), (app, s), (U(s)), ())
T(C_GetSessionInfo, (SH h, CK_SESSION_INFO_PTR i), (app, h, i), (U(h)),
  (U(i->slotID), U(i->state), U(i->flags), U(i->ulDeviceError)))
NS(C_GetOperationState, (SH h, CK_BYTE_PTR s, CK_ULONG_PTR l))
NS(C_SetOperationState, (SH h, CK_BYTE_PTR s, CK_ULONG l, OH e, OH a))
T(C_Login, (SH h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG l),
  (app, h, u, p, l), (U(h), U(u), B(p, l)), ())
T(C_Logout, (SH h), (app, h), (U(h)), ())
T(C_CreateObject, (SH h, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *o),
  (app, h, t, n, o), (U(h), TMPL(t, n)), (OUTU(o)))
T(C_CopyObject, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *no),
  (app, h, o, t, n, no), (U(h), U(o), TMPL(t, n)), (OUTU(no)))
T(C_DestroyObject, (SH h, OH o), (app, h, o), (U(h), U(o)), ())
T(C_GetObjectSize, (SH h, OH o, CK_ULONG_PTR s), (app, h, o, s), (U(h), U(o)),
  (OUTU(s)))
T(C_GetAttributeValue, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
  (app, h, o, t, n), (U(h), U(o), ROOMS(t, n)), (TMPL(t, n)))
T(C_SetAttributeValue, (SH h, OH o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
  (app, h, o, t, n), (U(h), U(o), TMPL(t, n)), ())
T(C_FindObjectsInit, (SH h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (app, h, t, n),
  (U(h), TMPL(t, n)), ())
T(C_FindObjects, (SH h, OH *o, CK_ULONG m, CK_ULONG_PTR n), (app, h, o, m, n),
  (U(h), { TRACE_ROOM, m, NULL }), (LIST(o, n)))
T(C_FindObjectsFinal, (SH h), (app, h), (U(h)), ())
T(C_EncryptInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k),
  (U(h), MECH(m), U(k)), ())
T(C_Encrypt, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el),
  (app, h, d, l, e, el), (U(h), B(d, l), ROOM(e, el)), (OUTB(e, el)))
T(C_EncryptUpdate,
  (SH h, CK_BYTE_PTR p, CK_ULONG l, CK_BYTE_PTR e, CK_ULONG_PTR el),
  (app, h, p, l, e, el), (U(h), B(p, l), ROOM(e, el)), (OUTB(e, el)))
T(C_EncryptFinal, (SH h, CK_BYTE_PTR e, CK_ULONG_PTR el), (app, h, e, el),
  (U(h), ROOM(e, el)), (OUTB(e, el)))
T(C_DecryptInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k),
  (U(h), MECH(m), U(k)), ())
T(C_Decrypt, (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR d, CK_ULONG_PTR l),
  (app, h, e, el, d, l), (U(h), B(e, el), ROOM(d, l)), (OUTB(d, l)))
T(C_DecryptUpdate,
  (SH h, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR p, CK_ULONG_PTR l),
  (app, h, e, el, p, l), (U(h), B(e, el), ROOM(p, l)), (OUTB(p, l)))
T(C_DecryptFinal, (SH h, CK_BYTE_PTR p, CK_ULONG_PTR l), (app, h, p, l),
  (U(h), ROOM(p, l)), (OUTB(p, l)))
T(C_DigestInit, (SH h, CK_MECHANISM_PTR m), (app, h, m), (U(h), MECH(m)), ())
T(C_Digest, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR o, CK_ULONG_PTR ol),
  (app, h, d, l, o, ol), (U(h), B(d, l), ROOM(o, ol)), (OUTB(o, ol)))
T(C_DigestUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l),
  (U(h), B(p, l)), ())
T(C_DigestKey, (SH h, OH k), (app, h, k), (U(h), U(k)), ())
T(C_DigestFinal, (SH h, CK_BYTE_PTR o, CK_ULONG_PTR ol), (app, h, o, ol),
  (U(h), ROOM(o, ol)), (OUTB(o, ol)))
T(C_SignInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k),
  (U(h), MECH(m), U(k)), ())
T(C_Sign, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl),
  (app, h, d, l, s, sl), (U(h), B(d, l), ROOM(s, sl)), (OUTB(s, sl)))
T(C_SignUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l),
  (U(h), B(p, l)), ())
T(C_SignFinal, (SH h, CK_BYTE_PTR s, CK_ULONG_PTR sl), (app, h, s, sl),
  (U(h), ROOM(s, sl)), (OUTB(s, sl)))
NS(C_SignRecoverInit, (SH h, CK_MECHANISM_PTR m, OH k))
NS(C_SignRecover,
   (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG_PTR sl))
T(C_VerifyInit, (SH h, CK_MECHANISM_PTR m, OH k), (app, h, m, k),
  (U(h), MECH(m), U(k)), ())
T(C_Verify, (SH h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s, CK_ULONG sl),
  (app, h, d, l, s, sl), (U(h), B(d, l), B(s, sl)), ())
T(C_VerifyUpdate, (SH h, CK_BYTE_PTR p, CK_ULONG l), (app, h, p, l),
  (U(h), B(p, l)), ())
T(C_VerifyFinal, (SH h, CK_BYTE_PTR s, CK_ULONG sl), (app, h, s, sl),
  (U(h), B(s, sl)), ())
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
T(C_GenerateKey,
  (SH h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k),
  (app, h, m, t, n, k), (U(h), MECH(m), TMPL(t, n)), (OUTU(k)))
T(C_GenerateKeyPair,
  (SH h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn,
   CK_ATTRIBUTE_PTR vt, CK_ULONG vn, OH *pk, OH *vk),
  (app, h, m, pt, pn, vt, vn, pk, vk),
  (U(h), MECH(m), TMPL(pt, pn), TMPL(vt, vn)), (OUTU(pk), OUTU(vk)))
T(C_WrapKey,
  (SH h, CK_MECHANISM_PTR m, OH w, OH k, CK_BYTE_PTR o, CK_ULONG_PTR ol),
  (app, h, m, w, k, o, ol), (U(h), MECH(m), U(w), U(k), ROOM(o, ol)),
  (OUTB(o, ol)))
T(C_UnwrapKey,
  (SH h, CK_MECHANISM_PTR m, OH u, CK_BYTE_PTR w, CK_ULONG wl,
   CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k),
  (app, h, m, u, w, wl, t, n, k), (U(h), MECH(m), U(u), B(w, wl), TMPL(t, n)),
  (OUTU(k)))
T(C_DeriveKey,
  (SH h, CK_MECHANISM_PTR m, OH b, CK_ATTRIBUTE_PTR t, CK_ULONG n, OH *k),
  (app, h, m, b, t, n, k), (U(h), MECH(m), U(b), TMPL(t, n)), (OUTU(k)))
T(C_SeedRandom, (SH h, CK_BYTE_PTR s, CK_ULONG l), (app, h, s, l),
  (U(h), B(s, l)), ())
T(C_GenerateRandom, (SH h, CK_BYTE_PTR r, CK_ULONG l), (app, h, r, l),
  (U(h), { TRACE_ROOM, l, NULL }), (B(r, l)))
/* Counted, so C_Finalize frees the app only after the call left it. */
static CK_RV mod_wait(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
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

static CK_RV mod_C_Initialize(CK_VOID_PTR a)
{
	TRACED(C_Initialize, mod_initialize(a), (), ());
}

static CK_RV mod_C_Finalize(CK_VOID_PTR a)
{
	TRACED(C_Finalize, mod_finalize(a), (), ());
}

static CK_RV mod_C_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
{
	TRACED(C_WaitForSlotEvent, mod_wait(f, s, r), (U(f)), (OUTU(s)));
}

/* Our tokens have no user names: C_LoginUser is C_Login, the name ignored. */
static CK_RV mod_C_LoginUser(SH h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p,
			     CK_ULONG l, CK_UTF8CHAR_PTR name,
			     CK_ULONG name_len)
{
	APP_OR_FAIL(app);
	TRACED(C_LoginUser, fe_C_Login(app, h, u, p, l),
	       (U(h), U(u), B(p, l), STR(name, name_len)), ());
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

/* Every application asks one of the getters first: TOKEND_TRACE is read
 * there. */
EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	trace_module_open();
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list_240;
	return CKR_OK;
}

EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
				CK_ULONG_PTR pulCount)
{
	CK_RV rv = CKR_OK;

	trace_module_open();
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
	trace_module_open();
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
