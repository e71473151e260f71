/* Inside the module driver: the driver (module_driver.c: the helper, the
 * slot watch), its tokens (module_token.c: the tk_token ops), their
 * objects (module_obj.c) and the calls they share (module_call.c). */
#ifndef TOKEND_MODULE_INT_H
#define TOKEND_MODULE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <p11-kit/uri.h>

#include "driver.h"
#include "drv_poll.h"
#include "link.h"
#include "module_driver.h"
#include "opensc_conf.h"
#include "p11.h" /* definitions newer than p11-kit 0.24's header */

#define MDRV_MAX_SLOTS 64
#define MDRV_DEVICE_PREFIX "module:"
/* The helper processes of one module: the first, and one more for each
 * batch of tokens a fresh probe found that the running ones cannot see. */
#define MDRV_MAX_LINKS 8
/* How long tokend's start waits for a module's first slot list, counted
 * from the helper's start: one deadline for modules started together. */
#define MDRV_START_WAIT_MS 3000
/* In a probe helper's environment: tells it from a serving one (tests). */
#define MDRV_PROBE_ENV "TOKEND_MODULE_PROBE=1"
/* Module sessions a token keeps for overlapping key operations (the
 * helper's workers: MLINK_DEFAULT_WORKERS), and the most one caller
 * (tk_caller) holds at once (module_token.c). */
#define MT_POOL_MAX 8
#define MT_POOL_SHARE (MT_POOL_MAX / 2)

struct mdrv;

/* One helper of the module. A link once serving a token is kept until the
 * driver goes (tokens hold its address); a probe that found nothing new is
 * freed at once. */
struct mdrv_link {
	struct mdrv *d;
	struct mlink *link;
	bool used;
	/* under d->lock: */
	bool up; /* the helper of gen is up (link's on_state) */
	uint64_t gen;
	/* A probe not (yet) kept: its coming and going wakes nobody (the
	 * watch thread runs it, and a wake-up would start the next one at
	 * once instead of after the interval). */
	bool probing;
	/* A later link serves only the tokens it was started for (serial
	 * number and label), never those of a helper that is restarting. */
	uint8_t own[MDRV_MAX_SLOTS][48];
	size_t nown;
};

struct mdrv_slot {
	CK_SLOT_ID id;
	unsigned li;      /* the link that serves it */
	char device[128]; /* "module:NAME:SLOTID" */
	CK_TOKEN_INFO ti; /* as the module reported it */
	bool present;
	uint32_t events; /* bumped when a token arrived */
};

struct mdrv {
	struct tk_driver base;
	char name[64];
	struct mlink *link;
	P11KitUri **uris; /* the tokens to serve; none: all */
	size_t nuris;
	unsigned poll_ms;
	struct mlink_config lc; /* for probes (env: the probe's) */
	const char **probe_env;
	/* The module has no C_WaitForSlotEvent: its slot list is the one it
	 * read at C_Initialize (SoftHSMv2), so only a fresh helper sees a
	 * token made since: one is started every poll_ms (a probe). Under
	 * lock. */
	bool static_view;
	/* The probes' interval: poll_ms after a change, doubling to
	 * DRV_POLL_MAX_MS while they find nothing new, poll_ms again when
	 * clients look (module_driver_attend; rearm: the thread takes its
	 * deadline again). changes: bumped by every announcement. */
	struct drv_poll probes;
	bool rearm;
	unsigned long changes;
	/* Tokens the last probe saw whole that no helper serves: a probe
	 * is kept for a token only the one before it saw too (one that
	 * starts while softhsm2-util writes the token keeps it half made). */
	uint8_t seen[MDRV_MAX_SLOTS][48];
	size_t nseen;
	pthread_t thread, event;
	bool thread_on, event_on;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock: */
	bool stop, kick;
	bool waiting;   /* the event thread is in C_WaitForSlotEvent */
	bool read_once; /* the first helper's slot list is in slots[] */
	struct timespec start_until; /* MDRV_START_WAIT_MS after the start */
	struct mdrv_link links[MDRV_MAX_LINKS]; /* [0]: the first helper */
	struct mdrv_slot slots[MDRV_MAX_SLOTS];
	size_t nslots;
	struct hotplug_queue *q;
	struct osc *osc; /* OpenSC's readers (opensc_conf.h); NULL: none */
};

/* An object the module holds, as the driver shows it. */
/* What a key's private half says that the read before login could not
 * see (a module hides private objects): read at login, copied into the
 * tk_key by mt_objects_late(). Guarded by mtok.late_lock. */
struct mobj_late {
	bool set;
	bool always_auth, local;
	uint8_t fl; /* MOBJ_F_* */
	char label[64];
};

/* An object's CKA_MODIFIABLE and CKA_COPYABLE as the module said them
 * (_SET: it said; else the front end answers). */
enum {
	MOBJ_F_MOD = 1,
	MOBJ_F_MOD_SET = 2,
	MOBJ_F_COPY = 4,
	MOBJ_F_COPY_SET = 8,
};

/* A key's parts: each private key is a key of its own; a public key and
 * a certificate join it when they carry its public value (module_obj.c). */
struct mobj_key {
	CK_OBJECT_HANDLE priv, pub, cert; /* 0: none seen */
	uint8_t fpriv, fpub, fcert;       /* MOBJ_F_* of each part */
	struct mobj_late late;
};

struct mobj_part; /* below */

struct mtok {
	struct tk_token base;
	struct mdrv *d;
	struct mlink *link; /* the helper serving the token */
	uint64_t gen;       /* the helper generation the session belongs to */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_FLAGS sflags; /* how s was opened */
	/* On a threaded helper (base.concurrent) every key operation runs on
	 * a session of its own from this pool, opened on first need, at most
	 * MT_POOL_MAX; s serves everything else. */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;            /* a session came back */
	CK_SESSION_HANDLE pool[MT_POOL_MAX]; /* idle, under pool_lock */
	size_t npool, nopen;                 /* idle; open (idle or busy) */
	/* Under pool_lock: the callers holding sessions now (taken, or
	 * being opened), each with how many: at most MT_POOL_MAX callers. */
	struct mt_user {
		uint64_t who;
		size_t busy;
	} users[MT_POOL_MAX];
	size_t nusers;
	/* kx[].priv: overlapping operations find a key again by its CKA_ID
	 * (module_token.c key_handle) */
	pthread_mutex_t priv_lock;
	CK_TOKEN_INFO ti;
	struct tk_token_info info;
	struct tk_mech *mechs;
	size_t nmechs;
	/* objects: tk_* arrays and the module handles behind them, by index */
	struct tk_key *keys;
	struct mobj_key *kx;
	size_t nkeys;
	/* the keys' parts as the last read found them; whole: read with the
	 * user's login (private objects seen, handles as the module has them
	 * now: a module may renumber them at login) */
	struct mobj_part *parts;
	size_t nparts;
	bool parts_whole;
	struct tk_secret_key *secrets;
	CK_OBJECT_HANDLE *sx;
	uint8_t *sfl; /* MOBJ_F_* */
	size_t nsecrets;
	struct tk_data *data;
	CK_OBJECT_HANDLE *dx;
	uint8_t *dfl;
	size_t ndata;
	struct tk_objects objs;
	/* login() may not touch the cache (driver.h): the private halves it
	 * reads wait in kx[].late behind this lock for objects() */
	pthread_mutex_t late_lock;
	uint32_t next_handle;
	bool discovered;
	/* The module's login is global (one per token in the helper): what
	 * the driver keeps of it (see the design note in module_token.c). */
	bool user_in;
	uint8_t pin[256]; /* the PIN the module last accepted; wiped */
	size_t pin_len;
	bool so_in;
	uint8_t so[256]; /* the SO PIN, for C_InitToken after the SO login */
	size_t so_len;
};

/* ---- module_call.c ---- */

/* A PKCS#11 call to t's helper generation: 0 with *rv the module's answer
 * (r to be cleared by the caller), or TK_ERR_REMOVED when that helper is
 * gone. */
int mt_call(struct mtok *t, uint32_t id, const struct rpc_arg *a, size_t n,
	    struct mlink_reply *r, CK_RV *rv);
/* The same with the reply dropped; the module's CK_RV as a TK_ERR_*. */
int mt_call0(struct mtok *t, uint32_t id, const struct rpc_arg *a, size_t n);
/* An operation's init (its CK_RV as a TK_ERR_*: a nonzero return) and, when
 * that succeeds, the call, in one round trip: 0 with r and *rv as mt_call
 * gives them. r to be cleared by the caller in every case. */
int mt_call_init(struct mtok *t, uint32_t init, const struct rpc_arg *ia,
		 size_t in, uint32_t id, const struct rpc_arg *a, size_t n,
		 struct mlink_reply *r, CK_RV *rv);
int mt_err(CK_RV rv);
/* Attributes of object h: a[i].type and a[i].ulValueLen (room) in; on 0,
 * a[i] point into r's arena (ulValueLen (CK_ULONG)-1: absent). */
int mt_attrs(struct mtok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *a, size_t n,
	     struct mlink_reply *r);
/* The same on session s (an object of s's: a derived session key). */
int mt_attrs_on(struct mtok *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
		CK_ATTRIBUTE *a, size_t n, struct mlink_reply *r);
/* One variable-length attribute (a size query, then the value) into a
 * malloc'ed *out; TK_ERR_NOT_FOUND when the object has none. */
int mt_attr_alloc(struct mtok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		  uint8_t **out, size_t *len);
/* The objects matching tmpl, into a malloc'ed *out. */
int mt_find(struct mtok *t, const CK_ATTRIBUTE *tmpl, size_t n,
	    CK_OBJECT_HANDLE **out, size_t *count);

#define MT_U(v) ((struct rpc_arg){ .type = RPC_ARG_ULONG, .ulong = (v) })
#define MT_Y(v) ((struct rpc_arg){ .type = RPC_ARG_BYTE, .byte = (v) })
#define MT_AY(p, n)                                                            \
	((struct rpc_arg){ .type = RPC_ARG_BYTES,                              \
			   .bytes = { (const CK_BYTE *)(p), (n), false } })
#define MT_FY(n) ((struct rpc_arg){ .type = RPC_ARG_BYTE_BUF, .room = (n) })
#define MT_FU(n) ((struct rpc_arg){ .type = RPC_ARG_ULONG_BUF, .room = (n) })
#define MT_AA(t, n)                                                            \
	((struct rpc_arg){ .type = RPC_ARG_ATTRS, .attrs = { (t), (n) } })
#define MT_FA(t, n)                                                            \
	((struct rpc_arg){ .type = RPC_ARG_ATTR_BUF, .attrs = { (t), (n) } })
#define MT_M(t, p, n)                                                          \
	((struct rpc_arg){ .type = RPC_ARG_MECH,                               \
			   .mech = { false, { (t), (void *)(p), (n) } } })
#define MT_N(a) (sizeof(a) / sizeof((a)[0]))

/* An attribute mt_attrs() read: the module answered with a value. */
static inline bool mt_has(const CK_ATTRIBUTE *a)
{
	return a->pValue && a->ulValueLen != (CK_ULONG)-1;
}

/* ---- module_pub.c: public values from a module's attributes ---- */

/* NULL when the attributes are absent or name nothing OpenSSL takes; *alg
 * set with the key (TK_ALG_NONE for a size tokend has no name for). */
EVP_PKEY *mt_pub_rsa(const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e,
		     enum tk_alg *alg);
EVP_PKEY *mt_pub_ec(const CK_ATTRIBUTE *params, const CK_ATTRIBUTE *point,
		    enum tk_alg *alg);
/* The curve CKA_EC_PARAMS names (an index, -1: none known) and its
 * tk_alg (TK_ALG_NONE for -1). */
int mt_curve_of(const CK_ATTRIBUTE *params);
enum tk_alg mt_curve_alg(int curve);
enum tk_alg mt_alg_of(EVP_PKEY *k);

/* ---- module_obj.c ---- */

/* A private key, public key or certificate as read. The parts of the
 * last read are kept (mtok.parts): a new object is grouped with them
 * without reading the others again (objects_add). */
struct mobj_part {
	CK_OBJECT_HANDLE h;
	CK_OBJECT_CLASS cls;
	struct tk_id id;
	CK_ULONG kt; /* CKK_*; (CK_ULONG)-1: a certificate */
	int curve;   /* CKA_EC_PARAMS' curves[] entry, -1: none */
	char label[64];
	EVP_PKEY *pub; /* its public value, where it shows it */
	enum tk_alg alg;
	bool always_auth, local, session;
	uint8_t fl; /* MOBJ_F_* */
	uint8_t *cert;
	size_t cert_len;
	bool joined;
	size_t key; /* joined: the key's index */
};

/* Object h's attributes as a part of class cls (p->pub the caller's). */
int mt_part_read(struct mtok *t, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls,
		 struct mobj_part *p);

/* Reads every object the session sees now into t's cache, keeping the
 * handles of objects already shown. */
int mt_objects_read(struct mtok *t);
void mt_objects_free(struct mtok *t);
/* After the module destroyed the objects hs: gone from the cache (read
 * again whole where the cache cannot tell). */
int mt_objects_gone(struct mtok *t, const CK_OBJECT_HANDLE *hs, size_t n);
/* After the module made the objects hs (n >= 1): they are in the cache
 * (read alone where it can, else with everything again), and the name of
 * hs[n - 1] in it (mt_obj_name). */
int mt_obj_named(struct mtok *t, const CK_OBJECT_HANDLE *hs, size_t n,
		 enum tk_obj_kind *kind, uint32_t *handle);

/* ---- module_lookup.c ---- */

/* The module handles behind a key; NULL for none. */
struct mobj_key *mt_key(struct mtok *t, uint32_t handle, struct tk_key **key);
CK_OBJECT_HANDLE mt_secret(struct mtok *t, uint32_t handle,
			   struct tk_secret_key **sk);
CK_OBJECT_HANDLE mt_data(struct mtok *t, uint32_t handle);
/* The key's private key handle, found by CKA_ID when not seen yet (it is
 * private: visible only after login). 0 for none. */
CK_OBJECT_HANDLE mt_key_priv(struct mtok *t, uint32_t handle);
/* After the user's login (I/O held, the cache's readers may run): reads the
 * label and flags of every private key the cache has not seen into
 * kx[].late. Best effort: a key it cannot read keeps what it had. */
void mt_objects_late_read(struct mtok *t);
/* With the cache's lock held: copies what mt_objects_late_read() found
 * into the keys. */
void mt_objects_late(struct mtok *t);

/* The attr op: CKA_MODIFIABLE and CKA_COPYABLE as the module said them;
 * TK_ATTR_DEFAULT for the rest. */
int mt_attr(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	    unsigned long type, struct buf *out);

/* The module's handle of the object (kind, handle) as the cache names it
 * (a private key found by CKA_ID when not seen yet); TK_ERR_NOT_FOUND, or
 * TK_ERR_AUTH_REQUIRED for a private key hidden until login. */
int mt_obj_module(struct mtok *t, enum tk_obj_kind kind, uint32_t handle,
		  CK_OBJECT_HANDLE *h);
/* The cache's name (kind, handle) of the module's object h;
 * TK_ERR_NOT_FOUND when the cache does not show it. */
int mt_obj_name(struct mtok *t, CK_OBJECT_HANDLE h, enum tk_obj_kind *kind,
		uint32_t *handle);

/* ---- module_write.c: the object calls that pass through ---- */

int mt_create_tmpl(struct tk_token *tok, const struct tk_attr *tmpl, size_t n,
		   enum tk_obj_kind *kind, uint32_t *handle);
int mt_copy(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	    const struct tk_attr *tmpl, size_t n, enum tk_obj_kind *new_kind,
	    uint32_t *new_handle);
int mt_set_attrs(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
		 const struct tk_attr *tmpl, size_t n);
int mt_wrap(struct tk_token *tok, const struct tk_mech_arg *mech,
	    enum tk_obj_kind wkind, uint32_t wrapping, enum tk_obj_kind kind,
	    uint32_t key, uint8_t *out, size_t *out_len);
int mt_unwrap(struct tk_token *tok, const struct tk_mech_arg *mech,
	      enum tk_obj_kind ukind, uint32_t unwrapping, const uint8_t *in,
	      size_t in_len, const struct tk_attr *tmpl, size_t n,
	      enum tk_obj_kind *kind, uint32_t *handle);
int mt_destroy(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle);

/* ---- module_token.c ---- */

int mt_open(struct mdrv *d, struct mlink *link, const struct mdrv_slot *slot,
	    uint64_t gen, struct tk_token **out);

/* ---- module_driver.c ---- */

/* The token info the module reported for the slot with the given device
 * name, if it is present now, and the link and generation serving it. */
bool mdrv_slot_get(struct mdrv *d, const char *device, struct mdrv_slot *out,
		   struct mlink **link, uint64_t *gen);

#endif
