/* A PKCS#11 module that is another one, made slow or forgetful:
 * C_GetFunctionList loads the module SLOW_MODULE_TARGET names and hands
 * out its functions, but
 *  - C_Initialize first sleeps SLOW_MODULE_INIT_MS (start_wait.sh: a
 *    module's tokens are served from tokend's READY on);
 *  - C_Sign first sleeps SLOW_MODULE_SIGN_MS (pool.sh: a slow device,
 *    one client's signatures must not hold every session);
 *  - every SLOW_MODULE_FORGET_EVERY-th C_SignInit closes its session and
 *    answers CKR_SESSION_HANDLE_INVALID (pool.sh: a module that closes
 *    sessions behind its caller's back, e.g. an idle timeout). */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST list;
static CK_C_Initialize real_init;
static CK_C_SignInit real_sign_init;
static CK_C_Sign real_sign;
static CK_C_CloseSession real_close;
static atomic_ulong sign_inits;

static long env_ms(const char *name)
{
	const char *v = getenv(name);

	return v ? atol(v) : 0;
}

static void sleep_ms(long n)
{
	struct timespec ts = { n / 1000, (n % 1000) * 1000000L };

	while (n > 0 && nanosleep(&ts, &ts) != 0)
		;
}

static CK_RV slow_Initialize(CK_VOID_PTR args)
{
	sleep_ms(env_ms("SLOW_MODULE_INIT_MS"));
	return real_init(args);
}

static CK_RV slow_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
			   CK_OBJECT_HANDLE k)
{
	long every = env_ms("SLOW_MODULE_FORGET_EVERY");

	if (every > 0 && (atomic_fetch_add(&sign_inits, 1) + 1) % every == 0) {
		(void)real_close(s);
		return CKR_SESSION_HANDLE_INVALID;
	}
	return real_sign_init(s, m, k);
}

static CK_RV slow_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
		       CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	if (sig) /* not for a size query */
		sleep_ms(env_ms("SLOW_MODULE_SIGN_MS"));
	return real_sign(s, in, in_len, sig, sig_len);
}

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *target = getenv("SLOW_MODULE_TARGET");
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR real;
	void *h;
	CK_RV rv;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	if (!target || !(h = dlopen(target, RTLD_NOW | RTLD_LOCAL)))
		return CKR_GENERAL_ERROR;
	if (!(get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")))
		return CKR_GENERAL_ERROR;
	if ((rv = get(&real)) != CKR_OK)
		return rv;
	list = *real;
	real_init = real->C_Initialize;
	real_sign_init = real->C_SignInit;
	real_sign = real->C_Sign;
	real_close = real->C_CloseSession;
	list.C_Initialize = slow_Initialize;
	list.C_SignInit = slow_SignInit;
	list.C_Sign = slow_Sign;
	list.C_GetFunctionList = C_GetFunctionList;
	*out = &list;
	return CKR_OK;
}
