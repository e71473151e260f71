/* The PKCS#11 front end as a library, for the module and for the daemon.
 *
 * The front end owns the drivers and the slot table (one process-wide
 * instance: frontend_init / frontend_fini). Everything a PKCS#11 application
 * owns — sessions, object handles, login state, operations — lives in a
 * struct app. The in-process module has exactly one app; the daemon creates
 * one per client connection and calls fe_C_*(app, ...) on its behalf, so one
 * connection's login never authorises another's key use, and app_free()
 * releases whatever a vanished client left behind.
 *
 * fe_C_X has the arguments of the PKCS#11 function C_X with the app in front
 * and returns the CK_RV the specification prescribes. The caller checks that
 * the library is initialised (CKR_CRYPTOKI_NOT_INITIALIZED). Every fe_C_*
 * function is thread-safe. */
#ifndef TOKEND_FRONTEND_H
#define TOKEND_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "drv_config.h"
#include "p11.h"

struct app;
struct hotplug_msg;
struct hotplug_queue;

/* Takes ownership of the drivers (array and each driver, freed in
 * frontend_fini). Returns 0 or a TK_ERR_*. */
int frontend_init(struct tk_driver **drivers, size_t ndrivers);
void frontend_fini(void);
/* The drivers the driver sections of a config name (drivers/registry.c);
 * cfg NULL: the defaults (PIV on every PC/SC reader). */
int frontend_drivers(const struct drv_config *cfg, struct tk_driver ***out,
		     size_t *n);
/* The in-process module's drivers: the driver sections of $TOKEND_CONF,
 * default /etc/tokend/tokend.conf; a file that does not exist gives the
 * defaults. Every other section is skipped unread (an export's pin-file is
 * the daemon's). A file that cannot be read or is malformed: one line on
 * stderr, and TK_ERR_IO or TK_ERR_INVALID (the module then refuses to
 * initialise rather than serve cards against the admin's config). */
int frontend_module_drivers(struct tk_driver ***out, size_t *n);

/* ---- devices: the watchers' messages (hotplug.h) drive the slot table ----
 *
 * Nobody scans: a slot is a device a watcher reported (a PC/SC reader),
 * created on first sight with an id kept for the life of the process (the
 * same reader name, e.g. the same YubiKey re-inserted, gets the same slot;
 * a token that comes back in another reader gets the id it had, by its
 * serial, when that slot is free), and it stays in
 * C_GetSlotList(CK_FALSE), empty, after its device left. A
 * card that arrives is probed by each driver in turn (open()), with the
 * slot locked, so a client asking meanwhile waits for the probe (and the
 * read, frontend_read_on_arrival) instead of starting one.
 * A card or reader that left closes its token: the sessions on it are
 * gone, logins with them (a re-inserted card needs a new login), other
 * tokens are untouched. */

/* What one device event did, for the caller's log. */
struct fe_device_report {
	CK_SLOT_ID slot;    /* 0: the message concerned no slot */
	bool opened;        /* a driver serves the card that arrived: */
	const char *driver; /* its name */
	struct tk_token_info info;
	size_t nkeys;
	bool closed; /* a token was closed (the card left) */
	/* A card no driver serves now: why (TK_ERR_NOT_FOUND: none
	 * understands it; anything else may pass: retry is set). */
	int err;
	bool retry;
};

/* The daemon: a card that arrives is read whole at once (every key,
 * certificate and public data object), so that the first client after an
 * insert costs the card what every later client costs. Off (the module's
 * way: a process is one client), tokens read what a search needs when it
 * needs it. */
void frontend_read_on_arrival(bool on);
/* The daemon: applies one message now (in the order they came; calls are
 * serialised). May block for the card's I/O: not on an event loop. rep may
 * be NULL. Returns 0 or a negative TK_ERR_*. */
int frontend_device_event(const struct hotplug_msg *m,
			  struct fe_device_report *rep);
/* The daemon: delta (+1 queued, -1 applied or dropped) device messages
 * are on their way to frontend_device_event(). While any is, a client's
 * C_GetSlotList size query waits for them (at most FE_PENDING_WAIT_MS), so
 * the first client of a tokend that reads the cards present at start in
 * the background, or one that asks right after an insert, sees the card's
 * slot rather than an empty list. */
void frontend_devices_pending(int delta);
/* Probes again one card whose last probe failed for a reason that may
 * pass (after rep->retry). Returns true when one was probed (see rep),
 * false when none waits. */
bool frontend_device_retry(struct fe_device_report *rep);

/* The in-process module: the front end owns a queue and a PC/SC watcher
 * (hotplug.h) and applies their messages itself: C_GetSlotList and a
 * non-blocking C_WaitForSlotEvent make the watcher look once; a blocking
 * C_WaitForSlotEvent runs the watcher's thread while it waits (the first
 * waiter starts it, the last one out stops it). Call after frontend_init. */
int frontend_events_pcsc(void);
/* A queue someone else pushes into (a scripted watcher in tests), applied
 * the same way; not owned: it must outlive frontend_fini(). */
void frontend_events_queue(struct hotplug_queue *q);
/* Tokens that no hardware watcher sees (a bridged module's) are announced
 * into q from now on (the daemon's device queue; the module's own). */
void frontend_drivers_watch(struct hotplug_queue *q);
/* A watcher's message that may concern a driver's device (a TPM resource
 * manager appeared): the driver looks again now (registry.h). */
struct hotplug_msg;
void frontend_drivers_hint(const struct hotplug_msg *m);

/* Moves whenever a token is opened or closed in any slot (an arrival, a
 * departure, a reopen after a reset): a cache of which tokens are present
 * (prefer='s pick) holds while it stays. Any thread, no lock. */
uint64_t frontend_tokens_gen(void);

int app_new(struct app **out);
/* Closes every session (logging the app out of its tokens) and frees. */
void app_free(struct app **p);

/* "Server-side PIN": when set, tokens show CKF_PROTECTED_AUTHENTICATION_PATH
 * and C_Login with a NULL PIN asks this callback for the PIN of the token in
 * the slot. It writes at most *len bytes to pin and sets *len; returns 0 or a
 * TK_ERR_*. */
typedef int (*app_pin_provider)(void *ctx, CK_SLOT_ID slot, enum tk_user user,
				uint8_t *pin, size_t *len);
void app_set_pin_provider(struct app *app, app_pin_provider cb, void *ctx);

/* An object filter (the daemon's per-export `objects`): when set, the app
 * sees and uses only the token objects of keys the filter accepts, and no
 * data objects; the session objects it derives stay its own. A key's
 * private key, public key and certificate show together when the filter
 * accepts one of them, given the token's info (label, manufacturerID,
 * model, serialNumber) and that object's CKA_CLASS, CKA_ID and CKA_LABEL.
 * A filtered object is absent from searches and its handle is invalid.
 * Called with the app's and the slot's locks held: it must not call the
 * front end. Set it before the app's first call. */
typedef bool (*app_object_filter)(void *ctx, const CK_TOKEN_INFO *token,
				  const CK_ATTRIBUTE *attrs, CK_ULONG n);
void app_set_object_filter(struct app *app, app_object_filter cb, void *ctx);
/* Tries kept back (pkcs11/pin_guard.h): the app's PINs and PUKs reach a
 * token only while it has more than `reserved` tries of them left, or when
 * they are the ones it last accepted through the front end; anything else
 * is CKR_PIN_LOCKED without a device round trip. 0 (the default, the
 * in-process module: its user owns the card) sends every PIN as before. */
void app_set_pin_guard(struct app *app, unsigned reserved);

/* Whose share of a token's overlapping key operations the app's count
 * against (driver.h, tk_caller): by default its own; the daemon gives every
 * connection of a peer the peer's uid, so one peer's many connections
 * together get no more than one application would. Before the app is
 * used. */
void app_set_share(struct app *app, uint64_t key);

/* C_WaitForSlotEvent reports, per app, a slot whose token appeared or
 * disappeared (or was replaced) since the app last looked; the first look
 * is app_events_reset() (at C_Initialize; without it, the first wait). A
 * blocked call holds no lock of the app or of a slot. app_wait_cancel()
 * ends every call of app blocked now with CKR_CRYPTOKI_NOT_INITIALIZED
 * (C_Finalize, a closing connection) without waiting for them; app_free()
 * does the same and waits. */
void app_events_reset(struct app *app);
void app_wait_cancel(struct app *app);
/* app_wait_cancel() for good: this call and every later one of the app
 * (even one queued and not yet started) answer
 * CKR_CRYPTOKI_NOT_INITIALIZED without blocking. For a closing
 * connection. */
void app_wait_close(struct app *app);

/* For a server that parks its clients' blocking waits rather than holding
 * a thread per wait (the daemon): it answers waits with CKF_DONT_BLOCK and
 * re-checks parked ones when the slots change. frontend_events_watch()
 * blocks until a device event changed the slots or timeout_ms passed (it
 * never polls a device) and returns true when the slots' state (tokens
 * present, inserted, removed) differs from *seen, which it updates; start
 * with *seen = 0 (which returns at once). frontend_events_wake() ends a
 * watch under way. */
bool frontend_events_watch(uint64_t *seen, unsigned timeout_ms);
void frontend_events_wake(void);
CK_RV fe_C_WaitForSlotEvent(struct app *app, CK_FLAGS flags,
			    CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved);

/* For a thread that must not wait (the daemon's event loop). fe_try_session
 * (session calls) or fe_try_slot (slot calls) takes, only if they are free,
 * the locks a call on cached data needs (the app's and the slot's; neither
 * is ever held across a private-key operation, but some card calls that
 * change the cache hold them), and marks the thread: until fe_try_end,
 * fe_C_* calls on that session or slot run without waiting, and a call that
 * would need the card or another lock returns CKR_TOKEND_WOULD_BLOCK having
 * changed nothing. false: busy now (nothing held), run the call elsewhere.
 * Calls that always talk to the card must not be made under it. */
struct fe_hold {
	struct app *app;
	void *slot;
	bool app_held;
};
bool fe_try_session(struct app *app, CK_SESSION_HANDLE h, struct fe_hold *hold);
bool fe_try_slot(struct app *app, CK_SLOT_ID id, struct fe_hold *hold);
void fe_try_end(struct fe_hold *hold);
/* Vendor-defined: never sent to a client. */
#define CKR_TOKEND_WOULD_BLOCK (CKR_VENDOR_DEFINED | 0x544B0001UL)

/* What the daemon's audit records of a session, read from what the front
 * end already knows (no device call): the slot, the token's serial, and
 * the key (CKA_ID, CKA_LABEL as C_GetAttributeValue gives them) and
 * mechanism of the sign or decrypt under way; with FE_OP_NONE, of key
 * (CK_INVALID_HANDLE: none). A session the app does not have is its
 * CK_RV, with slot CK_UNAVAILABLE_INFORMATION and the rest empty. */
enum fe_op_kind { FE_OP_SIGN, FE_OP_DECRYPT, FE_OP_NONE };
struct fe_session_desc {
	CK_SLOT_ID slot;
	char serial[17];        /* trailing blanks dropped */
	bool op_active;         /* the operation asked about is under way */
	CK_MECHANISM_TYPE mech; /* its mechanism, else unavailable */
	uint8_t key_id[64];
	size_t key_id_len; /* 0: none, or longer than key_id */
	char key_label[65];
};
CK_RV fe_session_describe(struct app *app, CK_SESSION_HANDLE h,
			  enum fe_op_kind op, CK_OBJECT_HANDLE key,
			  struct fe_session_desc *d);
/* The app's open sessions (not those its tokens' removal closed). */
size_t fe_session_count(struct app *app);

CK_RV fe_C_GetInfo(struct app *app, CK_INFO_PTR pInfo);
CK_RV fe_C_GetSlotList(struct app *app, CK_BBOOL tokenPresent,
		       CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount);
CK_RV fe_C_GetSlotInfo(struct app *app, CK_SLOT_ID slotID,
		       CK_SLOT_INFO_PTR pInfo);
CK_RV fe_C_GetTokenInfo(struct app *app, CK_SLOT_ID slotID,
			CK_TOKEN_INFO_PTR pInfo);
CK_RV fe_C_GetMechanismList(struct app *app, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE_PTR pMechanismList,
			    CK_ULONG_PTR pulCount);
CK_RV fe_C_GetMechanismInfo(struct app *app, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE type,
			    CK_MECHANISM_INFO_PTR pInfo);
CK_RV fe_C_InitToken(struct app *app, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		     CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel);
CK_RV fe_C_InitPIN(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen);
CK_RV fe_C_SetPIN(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
		  CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen);
CK_RV fe_C_OpenSession(struct app *app, CK_SLOT_ID slotID, CK_FLAGS flags,
		       CK_VOID_PTR pApplication, CK_NOTIFY Notify,
		       CK_SESSION_HANDLE_PTR phSession);
CK_RV fe_C_CloseSession(struct app *app, CK_SESSION_HANDLE hSession);
CK_RV fe_C_CloseAllSessions(struct app *app, CK_SLOT_ID slotID);
CK_RV fe_C_GetSessionInfo(struct app *app, CK_SESSION_HANDLE hSession,
			  CK_SESSION_INFO_PTR pInfo);
CK_RV fe_C_Login(struct app *app, CK_SESSION_HANDLE hSession,
		 CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
		 CK_ULONG ulPinLen);
CK_RV fe_C_Logout(struct app *app, CK_SESSION_HANDLE hSession);
CK_RV fe_C_CreateObject(struct app *app, CK_SESSION_HANDLE hSession,
			CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
			CK_OBJECT_HANDLE_PTR phObject);
CK_RV fe_C_DestroyObject(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_OBJECT_HANDLE hObject);
/* objwrite.c: for tokens that take objects whole (driver.h's copy,
 * set_attrs, wrap, unwrap); others answer CKR_FUNCTION_NOT_SUPPORTED. */
CK_RV fe_C_CopyObject(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
		      CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject);
CK_RV fe_C_SetAttributeValue(struct app *app, CK_SESSION_HANDLE hSession,
			     CK_OBJECT_HANDLE hObject,
			     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount);
CK_RV fe_C_WrapKey(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
		   CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
		   CK_ULONG_PTR pulWrappedKeyLen);
CK_RV fe_C_UnwrapKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_MECHANISM_PTR pMechanism,
		     CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
		     CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
		     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey);
CK_RV fe_C_GetObjectSize(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize);
CK_RV fe_C_GetAttributeValue(struct app *app, CK_SESSION_HANDLE hSession,
			     CK_OBJECT_HANDLE hObject,
			     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount);
CK_RV fe_C_FindObjectsInit(struct app *app, CK_SESSION_HANDLE hSession,
			   CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount);
CK_RV fe_C_FindObjects(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
		       CK_ULONG_PTR pulObjectCount);
CK_RV fe_C_FindObjectsFinal(struct app *app, CK_SESSION_HANDLE hSession);

CK_RV fe_C_EncryptInit(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV fe_C_Encrypt(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_BYTE_PTR pData, CK_ULONG ulDataLen,
		   CK_BYTE_PTR pEncryptedData,
		   CK_ULONG_PTR pulEncryptedDataLen);
CK_RV fe_C_DecryptInit(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV fe_C_Decrypt(struct app *app, CK_SESSION_HANDLE hSession,
		   CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
		   CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen);
/* Multi-part encrypt and decrypt: the parts are collected and the
 * operation runs at Final (op.c); Update answers 0 bytes. */
CK_RV fe_C_EncryptUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
			 CK_BYTE_PTR pEncryptedPart,
			 CK_ULONG_PTR pulEncryptedPartLen);
CK_RV fe_C_EncryptFinal(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pLastEncryptedPart,
			CK_ULONG_PTR pulLastEncryptedPartLen);
CK_RV fe_C_DecryptUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
			 CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen);
CK_RV fe_C_DecryptFinal(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen);
CK_RV fe_C_DigestInit(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_MECHANISM_PTR pMechanism);
CK_RV fe_C_Digest(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
		  CK_ULONG_PTR pulDigestLen);
CK_RV fe_C_DigestUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV fe_C_DigestKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_OBJECT_HANDLE hKey);
CK_RV fe_C_DigestFinal(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen);
CK_RV fe_C_SignInit(struct app *app, CK_SESSION_HANDLE hSession,
		    CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV fe_C_Sign(struct app *app, CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
		CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		CK_ULONG_PTR pulSignatureLen);
CK_RV fe_C_SignUpdate(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV fe_C_SignFinal(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen);
CK_RV fe_C_VerifyInit(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey);
CK_RV fe_C_Verify(struct app *app, CK_SESSION_HANDLE hSession,
		  CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
		  CK_ULONG ulSignatureLen);
CK_RV fe_C_VerifyUpdate(struct app *app, CK_SESSION_HANDLE hSession,
			CK_BYTE_PTR pPart, CK_ULONG ulPartLen);
CK_RV fe_C_VerifyFinal(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen);
CK_RV fe_C_GenerateKey(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
		       CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey);
CK_RV fe_C_GenerateKeyPair(
    struct app *app, CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
    CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
    CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey);
CK_RV fe_C_DeriveKey(struct app *app, CK_SESSION_HANDLE hSession,
		     CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
		     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
		     CK_OBJECT_HANDLE_PTR phKey);
/* PIV has no random-number command: after the session checks both answer
 * CKR_RANDOM_NO_RNG (tokens lack CKF_RNG). */
CK_RV fe_C_SeedRandom(struct app *app, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen);
CK_RV fe_C_GenerateRandom(struct app *app, CK_SESSION_HANDLE hSession,
			  CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen);

/* ---- read-only status (the daemon's control socket) ---- */

struct fe_slot_status {
	CK_SLOT_ID id;
	char reader[128]; /* the watcher's device name */
	bool token;       /* a token is open in the slot */
	bool busy; /* a card call held the slot: the fields below unknown */
	const char *driver; /* static string of the driver serving it */
	struct tk_token_info info;
	size_t nkeys;
	unsigned n_user, n_so; /* apps logged in to the token now */
};
/* Fills out[0..min(max, n)) and returns n, the number of slots. Never
 * waits for a card or a lock held across one. Any thread. */
size_t frontend_status(struct fe_slot_status *out, size_t max);

/* The drivers' helper processes (tk_helper_status), each with the name of
 * its driver. */
struct fe_helper_status {
	const char *driver; /* static string */
	struct tk_helper_status h;
};
/* Fills out[0..min(max, n)) and returns n, the number of helpers. Never
 * waits for a device. Any thread. */
size_t frontend_helpers(struct fe_helper_status *out, size_t max);

#define FE_STATUS_LOGINS 16
struct fe_app_status {
	size_t nsessions;
	size_t nlogins;
	struct {
		CK_SLOT_ID slot;
		CK_USER_TYPE user;
	} logins[FE_STATUS_LOGINS];
};
/* The app's open sessions and current logins, or false (nothing filled
 * but zeros) when the app is in a call that holds it: never waits. */
bool app_status(struct app *app, struct fe_app_status *st);

#endif
