/* Private to pkcs11/: the slot table, application contexts, sessions,
 * operations and object views shared by the front end's files.
 *
 * Locking, always in this order and never the other way round:
 *   app->lock   (one application's sessions, handles, login records;
 *                never held while waiting for io: a call that talks to
 *                the card marks its session busy and drops app->lock for
 *                the card part (session_run / session_done), so the app's
 *                other sessions answer cached calls meanwhile. Sign,
 *                decrypt, derive, login, logout, PIN and admin calls and
 *                a search's first read of the card all do; a call on a
 *                busy session waits (app->idle) as if it held the lock.
 *                C_Login and C_Logout also mark the session (auth): the
 *                app's other logins and logouts on that slot wait, so one
 *                VERIFY is sent and the second login sees the first's
 *                result. Closing sessions and attestation reads still
 *                wait for io with app->lock held)
 *   fe.apply    (device events applied one at a time: frontend.c)
 *   fe.lock     (the slot table; held briefly, never across card I/O)
 *   slot->io    (card I/O: every driver call that may talk to the device;
 *                drivers stay single-threaded per token; the pin guard's
 *                check, card call and record happen under one hold. A
 *                rwlock: held alone by every call, except the key
 *                operations of a token whose driver lets them overlap
 *                (tk_token.concurrent), which share it: slot_op_lock)
 *   slot->lock  (short: the token pointer, epoch, discover memo, pin
 *                guard and the driver's object cache)
 *   slot->info_lock (innermost, short: the copy of the token's info and
 *                its mechanism list, for token info and mechanism lists
 *                without slot->lock)
 * The token pointer changes (open, close) only with io and lock both held,
 * so either keeps it alive. Driver calls that change the object cache
 * (discover, load_private, logout, admin writes, init_pin, reset) run
 * with both held, so same-slot attribute reads and searches wait for
 * them; sign, decrypt, derive, login, pin_status, puk_status and set_pin
 * change no cached object (driver.h) and run with io only (lock taken
 * only around the pin guard and the login count), so cached reads
 * (attributes, search, session/token/slot info, mechanisms) go on beside
 * them. Holding io, never take app->lock. app->lock and slot->lock are
 * recursive so the daemon's loop thread can take them with trylock first
 * (fe_try_*) and then run an ordinary call that cannot block; a busy
 * session makes fe_try_session answer false (run it elsewhere).
 * A token's sessions and logins carry the slot's epoch; when the token is
 * closed the epoch moves and they are stale, without touching other apps. */
#ifndef TOKEND_PKCS11_INTERNAL_H
#define TOKEND_PKCS11_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <openssl/evp.h>

#include "buf.h"
#include "frontend.h"
#include "pin_guard.h"
#include "tokend-pkcs11.h"

#define FE_MAX_SLOTS 64
#define FE_MAX_PIN 64
/* Session objects (derived secrets) one application may hold at once: a
 * client deriving in a loop must not grow the daemon without bound. */
#define FE_MAX_SESSION_OBJECTS 256
/* CKA_IDs whose discovery a slot remembers. */
#define FE_DISC_IDS 32

/* ---- frontend.c: slots and tokens ---- */

/* A place a token can be (a PC/SC reader), as the watchers reported it. */
struct fe_device {
	char name[128];       /* the watcher's id: the slot's identity */
	char description[64]; /* CK_SLOT_INFO.slotDescription */
	char manufacturer[32];
	/* Under fe.lock (and lock): what C_WaitForSlotEvent compares. */
	bool present;    /* a token is open in it */
	uint32_t events; /* moves with every card arrival and departure */
};

struct fe_slot {
	/* The slot's identity (under fe.lock): its id, dev.events, its place
	 * in fe.slots and the serial of the last token opened in it. A token
	 * that comes back in another reader takes its old identity back
	 * (slot_identity_claim). */
	CK_SLOT_ID id;
	char serial[17];       /* "" when none (or the token has none) */
	struct tk_driver *drv; /* the driver that opened tok (or last did) */
	struct fe_device dev;
	bool card_in;         /* the watcher reports a card (not mute) */
	bool open_failed;     /* no driver serves the card: no retry */
	int probe_err;        /* a transient probe failure to retry; 0 */
	pthread_rwlock_t io;  /* card I/O (see the lock order above) */
	pthread_mutex_t lock; /* recursive */
	/* A driver call found the token gone and closed it: the watcher's
	 * departure, which follows, still reports it (once), with this. */
	bool left_unsaid;
	struct tk_token_info left_info;
	/* under lock (tok, epoch: changed with io held too): */
	struct tk_token *tok; /* NULL: no token */
	uint64_t epoch;       /* moves whenever tok is opened or closed */
	bool private_loaded;
	unsigned n_user, n_so; /* apps logged in at this epoch */
	/* The driver's info, copied with io held; read under lock or
	 * info_lock (innermost, short), so token info and mechanism lists
	 * need not wait for a card call that holds lock. */
	pthread_mutex_t info_lock;
	struct tk_token_info info;
	bool info_tok; /* a token was there at the copy */
	/* The token's mechanisms() list (it lives as long as the token) or
	 * NULL, published with info and withdrawn before the token closes,
	 * so it too is read under lock or info_lock. */
	const struct tk_mech *mechs;
	size_t nmechs;
	/* What discover() has read at this epoch (TK_DISCOVER_* with ALL,
	 * and per CKA_ID), so a search that needs nothing new does not wait
	 * for the card. */
	unsigned disc_all;
	struct fe_disc {
		struct tk_id id;
		unsigned parts;
	} disc[FE_DISC_IDS];
	size_t ndisc;           /* disc[] is a ring once full */
	struct pin_guard guard; /* the secrets last accepted (pin_guard.h) */
};

struct hotplug_queue;
struct hotplug_pcsc;

/* The process-wide state (frontend.c owns it; fe_events.c waits on it). */
struct fe_table {
	pthread_mutex_t lock;   /* the table; never held across card I/O */
	pthread_cond_t changed; /* a slot changed; a wait was cancelled */
	/* Device events are applied one at a time, in order: taken before
	 * lock, never while holding it. */
	pthread_mutex_t apply;
	bool up;
	bool read_all; /* frontend_read_on_arrival */
	struct tk_driver **drivers;
	size_t ndrivers;
	struct fe_slot *slots[FE_MAX_SLOTS];
	size_t nslots;
	CK_SLOT_ID next_id;
	/* The events the front end pumps itself (the module, tests); NULL
	 * in the daemon, which calls frontend_device_event(). */
	struct hotplug_queue *q;
	struct hotplug_pcsc *pcsc; /* the module's own PC/SC watcher */
	bool own_q;
	unsigned blocked;    /* threads in a blocking wait (under lock) */
	bool draining;       /* one of them waits on q (under lock) */
	bool pcsc_started;   /* under lock */
	unsigned pending;    /* frontend_devices_pending (under lock) */
	uint64_t tokens_gen; /* atomic: frontend_tokens_gen */
};
extern struct fe_table fe;

static inline void fe_mutex_init_recursive(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* The epoch, readable without slot->lock (written under it). */
static inline uint64_t slot_epoch(const struct fe_slot *slot)
{
	return __atomic_load_n(&slot->epoch, __ATOMIC_ACQUIRE);
}

/* How long C_GetSlotList waits for the device messages under way: a card
 * read costs ~35 APDUs (~0.2 s on a YubiKey); a card that hangs must not
 * hang every client's listing. */
#define FE_PENDING_WAIT_MS 5000
/* Without fe.lock: waits until no device message is on its way
 * (frontend_devices_pending), or FE_PENDING_WAIT_MS. */
void fe_events_settle(void);

/* Returns the slot (stable until frontend_fini) or NULL. Takes no lock. */
struct fe_slot *frontend_slot(CK_SLOT_ID id);
/* With io and lock held: closes the token after TK_ERR_REMOVED. */
void slot_close_token(struct fe_slot *slot);
/* With slot->lock held: the token's info (a copy taken when the card was
 * last used, so it costs no driver call); fails when no token. */
int slot_info(struct fe_slot *slot, struct tk_token_info *info);
/* Without slot->lock: the info copy under info_lock; TK_ERR_REMOVED when
 * no token. */
int slot_info_peek(struct fe_slot *slot, struct tk_token_info *info);
/* Whether this thread must not wait for the card (fe_try_*): sets it and
 * returns what it was. */
bool slot_nonblocking_set(bool on);
/* With slot->lock held: TK_ERR_REMOVED closes the token (io must be held
 * too then); then maps. */
CK_RV slot_rv(struct fe_slot *slot, int err);
/* Reopens the token after a reset (with io and lock held). */
int slot_reopen(struct fe_slot *slot);
/* Card I/O that changes no cached object (sign, decrypt, derive, login,
 * PIN calls): io; the unlock refreshes the info copy. Never with app->lock
 * held; slot->lock may be taken inside, briefly. */
void slot_io_lock(struct fe_slot *slot);
void slot_io_unlock(struct fe_slot *slot);
/* Card I/O that changes the cache: io then lock; the unlock refreshes the
 * info copy. Not with slot->lock held, nor with app->lock except when
 * closing sessions (the busy session's call drops it first). */
void slot_card_lock(struct fe_slot *slot);
void slot_card_unlock(struct fe_slot *slot);
/* A key operation's card I/O (sign, decrypt, encrypt, derive): io shared
 * when the token lets them overlap (tk_token.concurrent), else as
 * slot_io_lock. Returns whether shared, for slot_op_unlock, which refreshes
 * the info copy only after an exclusive hold. */
bool slot_op_lock(struct fe_slot *slot);
void slot_op_unlock(struct fe_slot *slot, bool shared);
/* Inside slot_op_lock: io held alone from now (*shared cleared), for a call
 * that needs it so (closing the token, a reauth). Whether the token of
 * epoch is still there: another call may have changed it in between. */
bool slot_op_alone(struct fe_slot *slot, bool *shared, uint64_t epoch);
/* With slot->lock held (io not): discover() and load_private() for a
 * search. They skip the driver when the memo says it has nothing to read;
 * else they take io (dropping and retaking slot->lock, so the caller must
 * look at slot->tok again). Fail with TK_ERR_WOULD_BLOCK on a thread that
 * must not wait (fe_try_*). */
int slot_discover(struct fe_slot *slot, unsigned what, const uint8_t *id,
		  size_t id_len);
int slot_load_private(struct fe_slot *slot);
/* Whether this thread must not wait (inside fe_try_*). */
bool fe_would_block(void);
/* For app_free: ends the app's C_WaitForSlotEvent calls and waits for
 * them to return. */
void frontend_app_drain(struct app *app);
/* Without fe.lock: applies one watcher message (fe.apply held). */
void fe_device_apply(const struct hotplug_msg *m, struct fe_device_report *rep);
/* Without fe.lock (fe.apply held): probes again one card whose probe
 * failed for a transient reason; false when none waits. */
bool fe_device_retry_one(struct fe_device_report *rep);
/* fe.lock held: clients look at the slots (drivers_attend; whether one
 * waits for slot events: fe.blocked), so drivers that poll with back-off
 * poll soon. Cheap: no device I/O. */
void fe_drivers_attend(void);
/* fe_events.c: the module's own event source; without fe.lock. */
void fe_events_pump(bool scan);
void fe_events_source_free(void);

/* ---- fe_guard.c: the pin guard (pin_guard.h) of an app and a slot ---- */

/* With slot->lock held: 0 when the app may send a secret of `which` with
 * hash h to the slot's token now, TK_ERR_PIN_LOCKED when not (the caller
 * answers CKR_PIN_LOCKED, as if the token had), or the error of a counter
 * query. Asks the token only for a counter it does not know. Apps without
 * a guard always pass. */
int guard_check(struct app *app, struct fe_slot *slot, enum tk_user which,
		const struct pin_hash *h);
/* With slot->lock held: the token answered r (pin_guard_result). */
void guard_result(struct fe_slot *slot, enum tk_user which,
		  const struct pin_hash *h, int r);
/* With slot->lock held: the token now holds `which` = hash h. */
void guard_set(struct fe_slot *slot, enum tk_user which,
	       const struct pin_hash *h);
/* Without io or slot->lock: sleeps until the slot's token takes a PIN
 * again (tk_token_info.login_not_before_ms), so a wrong-PIN delay holds
 * back only the caller, not the token's other users. The caller tries
 * again while the driver answers TK_ERR_NOT_YET (another try failed
 * meanwhile). */
void guard_wait(struct fe_slot *slot);
/* Whether the app has a guard (then the secrets it sends are hashed). */
bool guard_on(const struct app *app);

/* ---- rv.c ---- */
CK_RV rv_from_tk(int err);
/* A driver's answer to a template (driver.h's create_data): NOT_FOUND is
 * incomplete, ARG a value it cannot take, INVALID inconsistent. */
CK_RV rv_from_tk_template(int err);
/* A driver's answer to an object call (driver.h's create_tmpl, copy, ...):
 * an object or template entry missing is not_found, a refusal denied, an
 * inconsistent request invalid; the rest as rv_from_tk_template. */
CK_RV rv_from_tk_object(int err, CK_RV not_found, CK_RV denied, CK_RV invalid);
/* A digest of keys (digest_parts): a key the token will not digest
 * CKR_KEY_INDIGESTIBLE, one it no longer has CKR_KEY_HANDLE_INVALID. */
CK_RV rv_from_tk_digest(int err);

/* ---- mech.c ---- */
enum mech_pad {
	PAD_NONE,
	PAD_PKCS1, /* RSA PKCS#1 v1.5 */
	PAD_X509,  /* raw RSA */
	PAD_PSS,
	PAD_OAEP,
	PAD_ECDSA,
	PAD_EDDSA,
	PAD_ECDH,
	PAD_DIGEST,
	PAD_KEYGEN,
};

enum key_family { KF_NONE = 0, KF_RSA = 1, KF_EC = 2, KF_ED = 4, KF_X = 8 };

struct mech {
	CK_MECHANISM_TYPE type;
	const char *md; /* hash: hash-and-sign or digest */
	enum mech_pad pad;
	unsigned families; /* KF_* it works with */
	CK_FLAGS flags;    /* CKF_SIGN, ... before narrowing by caps */
};

const struct mech *mech_find(CK_MECHANISM_TYPE type);
/* What a token offers: its own list (mechanisms(); list NULL: none) or
 * the table narrowed by caps. *drv: the token's entry, NULL for the
 * table's. false: not offered. */
bool mech_lookup(const struct tk_mech *list, size_t n, uint32_t caps,
		 CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info,
		 const struct tk_mech **drv);
/* mech_lookup for the token in slot (slot->lock held; false: no token). */
bool slot_mech(struct fe_slot *slot, CK_MECHANISM_TYPE type,
	       CK_MECHANISM_INFO *info, const struct tk_mech **drv);
/* The token's own list, or NULL (slot->lock or info_lock held). */
const struct tk_mech *slot_mech_list(struct fe_slot *slot, size_t *n);
/* Iterates the table: mech_next(NULL) is the first. */
const struct mech *mech_next(const struct mech *m);
/* Whether a token with these caps offers the mechanism; its key sizes. */
bool mech_offered(const struct mech *m, uint32_t caps, CK_MECHANISM_INFO *info);
enum key_family alg_family(enum tk_alg alg);
size_t alg_field_len(enum tk_alg alg);
const EVP_MD *md_from_ckm(CK_MECHANISM_TYPE hash);
const EVP_MD *md_from_mgf(CK_ULONG mgf);

/* ---- app.c / session.c: applications and sessions ---- */

enum op_type { OP_SIGN, OP_VERIFY, OP_DECRYPT, OP_ENCRYPT, OP_DIGEST, OP_N };
/* The keys one digest may take (C_DigestKey; beyond: CKR_HOST_MEMORY). */
#define OP_DIGEST_KEYS 8

struct op {
	bool active;
	const struct mech *m;   /* NULL only for a whole operation */
	bool whole;             /* TK_MECH_WHOLE: the driver does it all */
	struct tk_mech_arg arg; /* whole: the mechanism (param owned) */
	CK_OBJECT_HANDLE key;
	uint32_t handle; /* the driver's name for the key */
	enum tk_alg alg;
	EVP_PKEY *pub; /* own reference */
	bool need_login;
	bool always_auth;  /* CKA_ALWAYS_AUTHENTICATE */
	bool ctx_authed;   /* CKU_CONTEXT_SPECIFIC done (the driver holds the
			      PIN: reauth) */
	EVP_MD_CTX *md;    /* hash-and-sign, digest */
	bool updated;      /* a multi-part operation is under way */
	struct buf acc;    /* data of single-part mechanisms */
	_Atomic size_t *acc_budget; /* its app's collected bytes (op_update) */
	size_t acc_charged;         /* what acc took of them */
	struct buf result; /* output kept after CKR_BUFFER_TOO_SMALL */
	bool have_result;
	const EVP_MD *pss_md, *mgf_md;
	size_t salt_len;
	uint8_t *oaep_label;
	size_t oaep_label_len;
	/* A digest on a token whose driver digests keys (digest_parts):
	 * the parts are kept in acc beside the hash until the cap (then
	 * parts_lost), and C_DigestKey's keys are marked in them. */
	bool keep_parts, parts_lost;
	size_t nkeys;
	struct {
		size_t at; /* of acc: the key comes after these bytes */
		uint32_t handle;
	} keys[OP_DIGEST_KEYS];
};

struct find_state {
	bool active;
	CK_OBJECT_HANDLE *found;
	size_t n, pos;
};

struct session {
	struct session *next;
	CK_SESSION_HANDLE h;
	struct fe_slot *slot;
	uint64_t epoch;
	CK_FLAGS flags;
	/* A private-key operation runs without app->lock: other calls on the
	 * session wait for it (app->idle), as if it held the lock. */
	bool busy;
	/* In a call that changes the app's login on slot (C_Login,
	 * C_Logout): the app's other such calls there wait for it. */
	bool auth;
	struct op op[OP_N];
	struct find_state find;
};

enum obj_kind {
	OBJ_PRIV = TK_OBJ_PRIVATE,
	OBJ_PUB = TK_OBJ_PUBLIC,
	OBJ_CERT = TK_OBJ_CERT,
	OBJ_DATA = TK_OBJ_DATA,
	OBJ_SECRET = TK_OBJ_SECRET, /* a token's or a session's */
};

/* A session object: the secret a C_DeriveKey produced. desc says what a
 * token's secret key says of itself (value_len = len). */
struct secret {
	struct tk_secret_key desc;
	uint8_t *value;
	size_t len;
	bool sensitive, extractable;
};

/* What an object handle names, per app. Token objects are named by kind and
 * the driver's handle, so handles survive object changes. */
struct objref {
	CK_OBJECT_HANDLE h;
	struct fe_slot *slot;
	uint64_t epoch;
	enum obj_kind kind;
	uint32_t ident;
	/* session objects: the session that made it (a token's session
	 * object: the objref obj_own made; 0 for others) */
	CK_SESSION_HANDLE owner;
	struct secret *secret;
};

struct app_login {
	struct fe_slot *slot;
	uint64_t epoch;
	CK_USER_TYPE user;
};

/* A slot as an app last saw it (C_WaitForSlotEvent). */
struct app_seen {
	bool known;   /* the slot existed then */
	bool present; /* a token was in it */
	uint32_t events;
};

struct app {
	/* Under the front end's lock (frontend.c), not app->lock: */
	struct app_seen seen[FE_MAX_SLOTS]; /* by position in the slot table */
	bool seen_taken;                    /* else the first wait takes seen */
	unsigned waiters;    /* threads in fe_C_WaitForSlotEvent */
	uint64_t cancel_gen; /* moved by app_wait_cancel */
	bool dead;           /* app_free under way */

	pthread_mutex_t lock; /* recursive */
	pthread_cond_t idle;  /* a session stopped being busy */
	struct session *sessions;
	CK_SESSION_HANDLE next_session;
	struct app_login logins[FE_MAX_SLOTS];
	size_t nlogins;
	struct objref *objs;
	size_t nobjs, cap_objs;
	CK_OBJECT_HANDLE next_obj;
	app_pin_provider pin_cb;
	void *pin_ctx;
	app_object_filter obj_filter; /* NULL: every object (object.c) */
	void *obj_filter_ctx;
	unsigned pin_reserved; /* app_set_pin_guard; 0: no guard */
	uint64_t share; /* app_set_share; the driver's tk_caller() */
	_Atomic size_t collected; /* multi-part data of all its ops (op.c) */
};

/* Finds a live session (stale after token removal: freed, NULL); waits
 * while it is busy. */
struct session *app_session(struct app *app, CK_SESSION_HANDLE h, CK_RV *rv);
/* app->lock held: marks s busy and drops app->lock for a card operation;
 * session_done retakes it and clears the mark. s stays valid between. */
void session_run(struct app *app, struct session *s);
void session_done(struct app *app, struct session *s);
/* app_session, then waits until no other session of the app on its slot
 * is in C_Login / C_Logout and marks s (app_auth_end clears it): one
 * login or logout of an app per slot at a time, as if under app->lock. */
struct session *app_session_auth(struct app *app, CK_SESSION_HANDLE h,
				 CK_RV *rv);
void app_auth_end(struct app *app, struct session *s);
/* app->lock held: waits while a session of the app on slot is marked. */
void app_auth_wait(struct app *app, struct fe_slot *slot);
/* The user the app is logged in as on the slot, or (CK_USER_TYPE)-1. */
CK_USER_TYPE app_user(struct app *app, struct fe_slot *slot);
/* A login in two halves: the slot counts it when the token accepts (io
 * and lock held), the app records it after, with the session's epoch
 * (app->lock held). A private object shows only once the record is there. */
void slot_login_count(struct fe_slot *slot, CK_USER_TYPE user);
void app_login_set(struct app *app, struct fe_slot *slot, uint64_t epoch,
		   CK_USER_TYPE user);
/* A logout in two halves: app_login_take removes the app's record
 * (app->lock held; false: none), slot_logout uncounts it and logs the
 * token out after the last app (takes the card lock: app->lock may be
 * dropped). app_logout_slot does both. */
bool app_login_take(struct app *app, struct fe_slot *slot,
		    struct app_login *out);
void slot_logout(const struct app_login *l);
void app_logout_slot(struct app *app, struct fe_slot *slot);
size_t app_count_sessions(struct app *app, struct fe_slot *slot, bool rw_only);
bool app_has_pin_provider(const struct app *app);
int app_fetch_pin(struct app *app, struct fe_slot *slot, enum tk_user user,
		  uint8_t *pin, size_t *len);

void op_reset(struct op *op);
void session_free(struct session **p);

/* ---- object.c ---- */

struct obj_view {
	enum obj_kind kind;
	struct fe_slot *slot;
	uint32_t handle; /* a token object's, for the driver's attr() */
	const struct tk_key *key;
	const struct tk_data *data;
	const struct tk_secret_key *skey; /* OBJ_SECRET, token or session */
	const struct secret *secret;      /* OBJ_SECRET of a session */
};

CK_OBJECT_HANDLE obj_handle(struct app *app, struct fe_slot *slot,
			    enum obj_kind kind, uint32_t ident);
CK_OBJECT_HANDLE obj_add_secret(struct app *app, struct session *s,
				struct secret *sec);
struct objref *obj_ref(struct app *app, CK_OBJECT_HANDLE h);
/* With slot->lock held: resolves a handle of session s's token. */
CK_RV obj_view(struct app *app, struct session *s, CK_OBJECT_HANDLE h,
	       struct obj_view *v);
void obj_drop(struct app *app, CK_OBJECT_HANDLE h);
/* Forgets the session objects session owner made; those in the token
 * (obj_own) are destroyed there (takes the card lock). */
void obj_drop_session(struct app *app, CK_SESSION_HANDLE owner);
/* obj_handle for a session object the driver made for session s (in the
 * token: CKA_TOKEN false): only s's app sees it, until s closes. */
CK_OBJECT_HANDLE obj_own(struct app *app, struct session *s, enum obj_kind kind,
			 uint32_t ident);
/* Whether v is a session object in the token (the driver's session flag). */
bool obj_is_session(const struct obj_view *v);
/* slot->lock held: the same for the token's object (kind, ident). */
bool obj_token_session(struct fe_slot *slot, enum obj_kind kind,
		       uint32_t ident);

/* ---- admin.c, for objwrite.c ---- */

/* Writes to the token need a read/write session of an app logged in as SO
 * (or the user, where the token lets the user write). */
CK_RV admin_check(struct app *app, struct session *s);
/* The card half of a call that changes the token: s busy, app->lock
 * dropped, the card lock; false when the token is no longer the
 * session's. admin_card_unlock after, whatever it answered. */
bool admin_card_lock(struct app *app, struct session *s);
void admin_card_unlock(struct app *app, struct session *s);
/* A template as the driver takes it (tk_attr), into out (room n). */
void tmpl_to_tk(const CK_ATTRIBUTE *t, CK_ULONG n, struct tk_attr *out);

/* ---- objwrite.c: object calls a token takes whole (driver.h) ---- */

/* Whether the token in slot takes C_CreateObject templates whole
 * (create_tmpl); then fe_C_CreateObject hands over to objw_create. */
bool objw_takes_templates(struct fe_slot *slot);
/* app->lock held (kept): C_CreateObject of any class, passed through. */
CK_RV objw_create(struct app *app, struct session *s, const CK_ATTRIBUTE *t,
		  CK_ULONG n, CK_OBJECT_HANDLE *out);
void secret_free(struct secret **p);
bool obj_is_private(const struct obj_view *v);
const struct tk_key *obj_key_by_handle(const struct tk_objects *objs,
				       uint32_t handle);

/* ---- attr.c ---- */
enum { ATTR_OK = 0, ATTR_INVALID = 1, ATTR_SENSITIVE = 2 };
/* Writes attribute type of v to out: ATTR_*, or a negative TK_ERR_*. */
int attr_get(const struct obj_view *v, CK_ATTRIBUTE_TYPE type, struct buf *out);
/* Whether reading type costs the slot's driver a device round trip. */
bool attr_on_device(const struct fe_slot *slot, CK_ATTRIBUTE_TYPE type);
/* DER helpers for EC keys. */
int attr_ec_params(enum tk_alg alg, struct buf *out);
int attr_ec_point(EVP_PKEY *pub, enum tk_alg alg, struct buf *out);
enum tk_alg attr_alg_from_params(const uint8_t *der, size_t len);

/* ---- template helpers (object.c) ---- */
const CK_ATTRIBUTE *tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n,
			      CK_ATTRIBUTE_TYPE type);
CK_RV tmpl_get_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
		     CK_ULONG *out, bool *found);
CK_RV tmpl_get_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
		    bool *out, bool *found);
CK_RV tmpl_check(const CK_ATTRIBUTE *t, CK_ULONG n);

/* ---- import.c ---- */
CK_RV import_private_key(const CK_ATTRIBUTE *t, CK_ULONG n, EVP_PKEY **out,
			 enum tk_alg *alg);

/* ---- pad.c: host-side padding with OpenSSL ---- */
int pad_pkcs1_sign(const uint8_t *in, size_t in_len, uint8_t *out, size_t k);
int pad_pss(EVP_PKEY *pub, const uint8_t *mhash, const EVP_MD *md,
	    const EVP_MD *mgf, size_t salt_len, uint8_t *out, size_t k);
int unpad_pkcs1_decrypt(const uint8_t *in, size_t k, uint8_t *out,
			size_t *out_len);
int unpad_oaep(const uint8_t *in, size_t k, const EVP_MD *md, const EVP_MD *mgf,
	       const uint8_t *label, size_t label_len, uint8_t *out,
	       size_t *out_len);
/* What ECDSA signs of a digest, for a curve of field bytes: its leftmost
 * field bytes, or a shorter digest (a smaller number) left-padded with
 * zeros (SEC 1 4.1.3 step 5). The one place a digest is shaped: drivers
 * get exactly field bytes. */
void ecdsa_digest_fit(const uint8_t *in, size_t len, uint8_t *out,
		      size_t field);
int ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t field,
		     uint8_t *out);
int ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der,
		     size_t *der_len);

/* ---- sign.c / crypt.c helpers ---- */
/* Resolves a key for an operation (slot->lock held) and fills op. */
CK_RV op_key(struct app *app, struct session *s, CK_OBJECT_HANDLE h,
	     enum obj_kind want, struct op *op);
/* Front-end login gate for private-key use (slot->lock held). */
CK_RV op_login_check(struct app *app, struct session *s, struct op *op);
/* The buffer rule before an answer of at most need bytes is made: true
 * when out has room; otherwise *out_len = need and *rv the answer
 * (CKR_OK to a size query, out NULL; CKR_BUFFER_TOO_SMALL), and the
 * operation stays. */
bool out_room(size_t need, CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_RV *rv);
/* Writes src to the caller's buffer under that rule. */
CK_RV out_copy(const uint8_t *src, size_t len, CK_BYTE_PTR dst,
	       CK_ULONG_PTR dst_len);
/* The raw private-key call with the CKU_CONTEXT_SPECIFIC re-verify. Called
 * with app->lock held (no slot lock); runs the card operation with the
 * session busy and app->lock dropped (session_run). A removed token is
 * closed here. */
int op_driver_sign(struct app *app, struct session *s, struct op *op,
		   const uint8_t *in, size_t in_len, uint8_t *out,
		   size_t *out_len);
int op_driver_decrypt(struct app *app, struct session *s, struct op *op,
		      const uint8_t *in, size_t in_len, uint8_t *out,
		      size_t *out_len);
/* The same for the driver's verify (TK_ERR_SIGNATURE: a wrong signature)
 * and its RNG (no key, no login: TK_ERR_UNSUPPORTED when it has none). */
int op_driver_verify(struct app *app, struct session *s, struct op *op,
		     const uint8_t *in, size_t in_len, const uint8_t *sig,
		     size_t sig_len);
int op_driver_random(struct app *app, struct session *s, uint8_t *out,
		     size_t len);

/* The most a sign or decrypt op returns, decided here only and without
 * the device: a whole operation's from its driver (asked with no output
 * buffer), a raw one's from the key's published size (RSA k bytes, ECDSA
 * r || s, EdDSA 64 bytes). 0 with an error: the key cannot do it. */
int op_out_size(struct app *app, struct session *s, struct op *op, size_t *n);
/* A raw signature's size from the key alone (0: no such signature). */
size_t op_sig_size(const struct op *op);

/* The final step of a TK_MECH_WHOLE sign or decrypt (op is s's): the
 * size query, and a buffer shorter than the most the driver says it
 * returns, cost no device call and keep the operation; the driver writes
 * straight into the caller's buffer. */
CK_RV op_whole_final(struct app *app, struct session *s, struct op *op,
		     const uint8_t *data, size_t len, CK_BYTE_PTR out,
		     CK_ULONG_PTR out_len);

/* op.c: C_*Init for every operation type; feeding parts; the final
 * message (digest or data) of a hash-and-sign or raw mechanism. */
CK_RV op_begin(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	       const CK_MECHANISM *mech, CK_OBJECT_HANDLE key);
CK_RV op_update(struct op *op, const uint8_t *part, size_t len);
/* C_DigestKey (a token's secret key, when its driver has digest_parts). */
CK_RV op_digest_key(struct app *app, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key);
/* C_DigestFinal after C_DigestKey: the kept parts and the keys, in order,
 * through the driver (app->lock held; out has room, the caller ends op). */
CK_RV op_digest_parts(struct app *app, struct session *s, struct op *op,
		      CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* Gives back what op's collected data took of the budgets (op_reset). */
void op_uncharge(struct op *op);
CK_RV op_message(struct op *op, const uint8_t *data, size_t len, uint8_t *hash,
		 size_t *hash_len, const uint8_t **msg, size_t *msg_len);

/* The final step of s's operation (sign.c, crypt.c): data is the single
 * part, or at C_*Final what the parts collected (empty when a hash took
 * them); out and out_len as the caller gave them (verify: the signature
 * and its length). It ends the operation, or keeps it where PKCS#11 says
 * (a size query, CKR_BUFFER_TOO_SMALL). app->lock held. */
typedef CK_RV (*op_finish_fn)(struct app *app, struct session *s,
			      const uint8_t *data, size_t len, CK_BYTE_PTR out,
			      CK_ULONG_PTR out_len);
/* The calls' shared checks around finish and op_update, under app->lock:
 * not initialised, bad arguments, C_X after C_XUpdate
 * (CKR_OPERATION_ACTIVE). op_single is C_Sign, C_Verify, C_Encrypt,
 * C_Decrypt, C_Digest; op_part the C_*Update calls (a part op_update
 * refuses ends the operation; encrypt and decrypt answer 0 bytes, and
 * their size query, out NULL, collects nothing); op_final the C_*Final
 * calls. */
CK_RV op_single(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
		const uint8_t *data, size_t len, CK_BYTE_PTR out,
		CK_ULONG_PTR out_len, op_finish_fn finish);
CK_RV op_part(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	      const uint8_t *part, size_t len, CK_BYTE_PTR out,
	      CK_ULONG_PTR out_len);
CK_RV op_final(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	       CK_BYTE_PTR out, CK_ULONG_PTR out_len, op_finish_fn finish);

/* Locks the app and finds the session; on success the app is locked. */
#define APP_SESSION(app, h, s, rv)                                             \
	do {                                                                   \
		pthread_mutex_lock(&(app)->lock);                              \
		(s) = app_session((app), (h), &(rv));                          \
		if (!(s)) {                                                    \
			pthread_mutex_unlock(&(app)->lock);                    \
			return (rv);                                           \
		}                                                              \
	} while (0)

#endif
