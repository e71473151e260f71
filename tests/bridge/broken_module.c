/* A deliberately broken PKCS#11 module for the bridge's tests. Normal for
 * C_Initialize, C_GetInfo, C_GetSlotList and slot 0; the other slots misbehave
 * when asked about (C_GetSlotInfo, C_GetMechanismList) or used (a session's
 * handle is its slot + 1):
 *   slot 1: abort()            slot 2: hang (sleep forever)
 *   slot 3: report more bytes, handles or attribute bytes than it was given
 *           room for, with CKR_OK
 *   slot 4: slow: C_GetSlotInfo takes 1 s, having created the file
 *           BROKEN_SLOW_MARK names (if set) once it is in the module
 * BROKEN_CANT_LOCK=1 makes C_Initialize refuse CKF_OS_LOCKING_OK. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define NSLOTS 5

static CK_FUNCTION_LIST list;
static int initialized;

static void misbehave(CK_SLOT_ID slot)
{
	if (slot == 1)
		abort();
	if (slot == 2)
		for (;;)
			pause();
	if (slot == 4) {
		const char *mark = getenv("BROKEN_SLOW_MARK");
		int fd = mark ? open(mark, O_WRONLY | O_CREAT, 0600) : -1;

		if (fd >= 0)
			close(fd);
		usleep(1000000);
	}
}

static void pad(CK_UTF8CHAR *dst, size_t n, const char *s)
{
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s) < n ? strlen(s) : n);
}

static CK_RV b_Initialize(CK_VOID_PTR a)
{
	CK_C_INITIALIZE_ARGS *args = a;
	const char *cant = getenv("BROKEN_CANT_LOCK");

	if (initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	if (args && (args->flags & CKF_OS_LOCKING_OK) && cant && *cant == '1')
		return CKR_CANT_LOCK;
	initialized = 1;
	return CKR_OK;
}

static CK_RV b_Finalize(CK_VOID_PTR r)
{
	initialized = 0;
	return CKR_OK;
}

static CK_RV b_GetInfo(CK_INFO_PTR i)
{
	memset(i, 0, sizeof(*i));
	i->cryptokiVersion.major = 2;
	i->cryptokiVersion.minor = 40;
	pad(i->manufacturerID, sizeof(i->manufacturerID), "tokend tests");
	pad(i->libraryDescription, sizeof(i->libraryDescription),
	    "broken module");
	return CKR_OK;
}

static CK_RV b_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR v, CK_ULONG_PTR n)
{
	CK_ULONG i;

	if (!initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (v && *n < NSLOTS) {
		*n = NSLOTS;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; v && i < NSLOTS; i++)
		v[i] = i;
	*n = NSLOTS;
	return CKR_OK;
}

static CK_RV b_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR i)
{
	if (slot >= NSLOTS)
		return CKR_SLOT_ID_INVALID;
	misbehave(slot);
	memset(i, 0, sizeof(*i));
	pad(i->slotDescription, sizeof(i->slotDescription), "broken slot");
	pad(i->manufacturerID, sizeof(i->manufacturerID), "tokend tests");
	i->flags = CKF_TOKEN_PRESENT;
	return CKR_OK;
}

static CK_RV b_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR v,
				CK_ULONG_PTR n)
{
	if (slot >= NSLOTS)
		return CKR_SLOT_ID_INVALID;
	misbehave(slot);
	if (slot == 3 && v) {
		*n += 1000; /* more than the buffer holds */
		return CKR_OK;
	}
	if (v && *n < 1) {
		*n = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (v)
		v[0] = CKM_SHA256;
	*n = 1;
	return CKR_OK;
}

static CK_RV b_OpenSession(CK_SLOT_ID slot, CK_FLAGS f, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE_PTR h)
{
	if (slot >= NSLOTS)
		return CKR_SLOT_ID_INVALID;
	*h = slot + 1;
	return CKR_OK;
}

static CK_RV b_CloseSession(CK_SESSION_HANDLE h)
{
	return h >= 1 && h <= NSLOTS ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

/* Slot 3: the length claimed is past the buffer. */
static CK_RV b_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
				 CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_ULONG i;

	if (h < 1 || h > NSLOTS)
		return CKR_SESSION_HANDLE_INVALID;
	misbehave(h - 1);
	for (i = 0; i < n; i++) {
		if (h - 1 == 3) {
			t[i].ulValueLen += 4096;
			continue;
		}
		if (t[i].pValue && t[i].ulValueLen >= 4)
			memcpy(t[i].pValue, "abcd", 4);
		t[i].ulValueLen = 4;
	}
	return CKR_OK;
}

static CK_RV b_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
			       CK_ULONG n)
{
	return h >= 1 && h <= NSLOTS ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV b_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR v,
			   CK_ULONG max, CK_ULONG_PTR n)
{
	if (h < 1 || h > NSLOTS)
		return CKR_SESSION_HANDLE_INVALID;
	misbehave(h - 1);
	*n = h - 1 == 3 ? max + 100 : 0;
	return CKR_OK;
}

static CK_RV b_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
			CK_OBJECT_HANDLE k)
{
	return h >= 1 && h <= NSLOTS ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV b_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len,
		    CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	if (h < 1 || h > NSLOTS)
		return CKR_SESSION_HANDLE_INVALID;
	misbehave(h - 1);
	if (h - 1 == 3 && sig) {
		*sig_len += 1 << 16;
		return CKR_OK;
	}
	if (sig && *sig_len < 8) {
		*sig_len = 8;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (sig)
		memset(sig, 0x5a, 8);
	*sig_len = 8;
	return CKR_OK;
}

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	list.version.major = 2;
	list.version.minor = 40;
	list.C_Initialize = b_Initialize;
	list.C_Finalize = b_Finalize;
	list.C_GetInfo = b_GetInfo;
	list.C_GetFunctionList = C_GetFunctionList;
	list.C_GetSlotList = b_GetSlotList;
	list.C_GetSlotInfo = b_GetSlotInfo;
	list.C_GetMechanismList = b_GetMechanismList;
	list.C_OpenSession = b_OpenSession;
	list.C_CloseSession = b_CloseSession;
	list.C_GetAttributeValue = b_GetAttributeValue;
	list.C_FindObjectsInit = b_FindObjectsInit;
	list.C_FindObjects = b_FindObjects;
	list.C_SignInit = b_SignInit;
	list.C_Sign = b_Sign;
	*out = &list;
	return CKR_OK;
}
