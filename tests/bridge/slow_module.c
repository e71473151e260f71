/* A PKCS#11 module that is another one, started slowly: C_GetFunctionList
 * loads the module SLOW_MODULE_TARGET names and hands out its functions,
 * but C_Initialize first sleeps SLOW_MODULE_INIT_MS. For the test that a
 * module's tokens are served from tokend's READY on (start_wait.sh). */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST list;
static CK_C_Initialize real_init;

static CK_RV slow_Initialize(CK_VOID_PTR args)
{
	const char *ms = getenv("SLOW_MODULE_INIT_MS");
	long n = ms ? atol(ms) : 0;
	struct timespec ts = { n / 1000, (n % 1000) * 1000000L };

	while (n > 0 && nanosleep(&ts, &ts) != 0)
		;
	return real_init(args);
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
	list.C_Initialize = slow_Initialize;
	list.C_GetFunctionList = C_GetFunctionList;
	*out = &list;
	return CKR_OK;
}
