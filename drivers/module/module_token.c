/* A module's token through driver.h: one read-write session per token in
 * the helper, and a small pool more for key operations that overlap when
 * the module runs calls concurrently (CKF_OS_LOCKING_OK); whole operations
 * (the module hashes and pads), the module's own identity so PKCS#11 URIs
 * that name it keep working.
 *
 * Design note: per-client login over a module whose login is global.
 *
 * Inside the helper the module has one login state per token for every
 * session. The front end (pkcs11/login.c) already keeps login per
 * application, exactly as for PIV, whose VERIFY is global to the card too:
 * every application's C_Login reaches this driver's login() (the front end
 * never assumes a login from another application's), the application is
 * marked logged in only when login() returns 0, key use is checked against
 * the application's own state before the driver is called, and logout()
 * reaches the driver only when the last application logged in leaves
 * (slot_logout). So B never signs because A logged in, and A's logout or
 * exit does not log B out.
 *
 * What the front end cannot do is make the module check B's PIN while A
 * keeps it logged in: a PKCS#11 module answers C_Login with
 * CKR_USER_ALREADY_LOGGED_IN without looking at the PIN. So login() here
 * keeps the PIN the module last accepted (wiped on logout and close, as
 * driver.h allows for re-verifying) and, while the module is logged in:
 *  - a PIN equal to it (compared in constant time) is accepted without a
 *    module call;
 *  - any other PIN is put to the module for real: C_Logout, C_Login with
 *    it (which spends one of the module's tries when wrong, as a wrong PIN
 *    should), and on failure C_Login with the kept PIN, so A stays logged
 *    in. Logins run alone on a token (the front end's io, held alone; only
 *    key operations share it), so no operation of A's runs in that
 *    window.
 * A second helper per logged-in application would isolate the module's
 * state too, at a process, a module start-up (SoftHSMv2 reads its whole
 * token directory) and a session per application: far more than a memcmp.
 * Wrong PINs are bounded above this driver: the front end's PIN guard
 * (pkcs11/pin_guard.c) keeps tries back for socket clients, using
 * pin_status(), which reads the module's CKF_USER_PIN_* flags. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "module_int.h"

static struct mtok *tok_of(struct tk_token *tok)
{
	return (struct mtok *)tok;
}

static void pin_forget(uint8_t *p, size_t *len)
{
	explicit_bzero(p, 256);
	*len = 0;
}

/* ---- the sessions of key operations ----
 *
 * Fairness: one caller holds at most MT_POOL_SHARE of the pool's sessions
 * at once, so while its operations are slow (a module waiting on its
 * device) a neighbour still finds a session instead of waiting for the
 * module's timeout. The caller is the front end's share key (tk_caller):
 * in the daemon the peer's uid, for all of its connections together, as
 * the worker pool shares (daemon/worker.c). Per uid rather than per
 * application, because a peer opens as many connections as it likes (up
 * to max-connections-per-peer), each an application: per application two
 * of them would hold the whole pool again. The worker pool's own share
 * does not bound this: max-workers / 2 threads (32 by default) is far
 * more than MT_POOL_MAX sessions. */

/* pool_lock held: caller who's entry, or where a new one goes. */
static size_t pool_user(const struct mtok *t, uint64_t who)
{
	size_t i = 0;

	while (i < t->nusers && t->users[i].who != who)
		i++;
	return i;
}

/* pool_lock held: who may take a session now (at i, pool_user's). At most
 * MT_POOL_MAX sessions are taken, so a new caller always finds a free
 * entry in users[] when there is a session for it. */
static bool pool_may(const struct mtok *t, uint64_t who, size_t *i)
{
	*i = pool_user(t, who);
	if (*i < t->nusers && t->users[*i].busy >= MT_POOL_SHARE)
		return false;
	return t->npool || t->nopen < MT_POOL_MAX;
}

/* pool_lock held: one session less for who; wakes every waiter (they wait
 * for different things: a session, or room in their share). */
static void pool_user_drop(struct mtok *t, uint64_t who)
{
	size_t i = pool_user(t, who);

	if (i < t->nusers && --t->users[i].busy == 0)
		t->users[i] = t->users[--t->nusers];
	pthread_cond_broadcast(&t->pool_cond);
}

/* A session for one key operation of who: s when operations do not
 * overlap, else an idle one of the pool, a new one while the pool has
 * room, or the next one given back, within who's share. */
static int op_session(struct mtok *t, uint64_t who, CK_SESSION_HANDLE *s)
{
	struct rpc_arg o[] = { MT_U(t->slot), MT_U(t->sflags) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	size_t i;
	int e;

	*s = t->s;
	if (!t->base.concurrent)
		return 0;
	pthread_mutex_lock(&t->pool_lock);
	while (!pool_may(t, who, &i))
		pthread_cond_wait(&t->pool_cond, &t->pool_lock);
	if (i == t->nusers)
		t->users[t->nusers++] = (struct mt_user){ who, 0 };
	t->users[i].busy++;
	if (t->npool) {
		*s = t->pool[--t->npool];
		pthread_mutex_unlock(&t->pool_lock);
		return 0;
	}
	t->nopen++;
	pthread_mutex_unlock(&t->pool_lock);
	if ((e = mt_call(t, RPC_C_OpenSession, o, MT_N(o), &r, &rv)) == 0 &&
	    (e = mt_err(rv)) == 0 && r.msg.nargs < 1)
		e = TK_ERR_INVALID;
	if (e == 0)
		*s = r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	if (e < 0) {
		pthread_mutex_lock(&t->pool_lock);
		t->nopen--;
		pool_user_drop(t, who);
		pthread_mutex_unlock(&t->pool_lock);
	}
	return e;
}

/* s back after who's operation that answered e. A failed one may leave
 * the session in a state the next would trip on (an operation still
 * active): it is closed; one the module no longer knows
 * (CKR_SESSION_HANDLE_INVALID, mt_err's TK_ERR_REMOVED) is only
 * forgotten. */
static void op_session_put(struct mtok *t, uint64_t who, CK_SESSION_HANDLE s,
			   int e)
{
	if (!t->base.concurrent)
		return;
	if (e == TK_ERR_SIGNATURE)
		e = 0; /* C_Verify's answer: the operation ended cleanly */
	if (e < 0 && e != TK_ERR_REMOVED)
		(void)mt_call0(t, RPC_C_CloseSession,
			       (struct rpc_arg[]){ MT_U(s) }, 1);
	pthread_mutex_lock(&t->pool_lock);
	if (e < 0)
		t->nopen--;
	else
		t->pool[t->npool++] = s;
	pool_user_drop(t, who);
	pthread_mutex_unlock(&t->pool_lock);
}

/* The idle sessions of the pool closed (what the module still knows of
 * them). */
static void op_sessions_drop(struct mtok *t)
{
	CK_SESSION_HANDLE idle[MT_POOL_MAX];
	size_t n;

	pthread_mutex_lock(&t->pool_lock);
	n = t->npool;
	memcpy(idle, t->pool, n * sizeof(*idle));
	t->nopen -= n;
	t->npool = 0;
	pthread_cond_broadcast(&t->pool_cond);
	pthread_mutex_unlock(&t->pool_lock);
	for (size_t i = 0; i < n; i++)
		(void)mt_call0(t, RPC_C_CloseSession,
			       (struct rpc_arg[]){ MT_U(idle[i]) }, 1);
}

/* One key operation, fn on a session of the pool (t->s when operations do
 * not overlap) for the calling application.
 *
 * A pooled session the module no longer knows (CKR_SESSION_HANDLE_INVALID
 * or _CLOSED: a module that closes idle sessions, or closed them all)
 * answers TK_ERR_REMOVED, which the front end takes for the token gone:
 * the session is forgotten and the operation runs once more on a fresh
 * one. The module lost the pool's idle sessions too, most likely (an idle
 * timeout hits them all), so they go first. Opening the fresh one fails
 * as removed when the token is gone indeed. */
static int op_run(struct mtok *t,
		  int (*fn)(struct mtok *, CK_SESSION_HANDLE, void *),
		  void *ctx)
{
	uint64_t who = tk_caller();
	CK_SESSION_HANDLE s;
	int e;

	for (int tries = 0;; tries++) {
		if ((e = op_session(t, who, &s)) < 0)
			return e;
		e = fn(t, s, ctx);
		op_session_put(t, who, s, e);
		if (e != TK_ERR_REMOVED || !t->base.concurrent || tries)
			return e;
		op_sessions_drop(t);
	}
}

static void tok_close(struct tk_token *tok)
{
	struct mtok *t = tok_of(tok);
	struct rpc_arg a[] = { MT_U(t->s) };

	op_sessions_drop(t);
	(void)mt_call0(t, RPC_C_CloseSession, a, 1);
	mt_objects_free(t);
	free(t->mechs);
	pin_forget(t->pin, &t->pin_len);
	pin_forget(t->so, &t->so_len);
	pthread_mutex_destroy(&t->late_lock);
	pthread_mutex_destroy(&t->priv_lock);
	pthread_mutex_destroy(&t->pool_lock);
	pthread_cond_destroy(&t->pool_cond);
	free(t);
}

static int tok_info(struct tk_token *tok, struct tk_token_info *out)
{
	*out = tok_of(tok)->info;
	return 0;
}

static int tok_objects(struct tk_token *tok, const struct tk_objects **out)
{
	struct mtok *t = tok_of(tok);

	mt_objects_late(t);
	t->objs.keys = t->keys;
	t->objs.nkeys = t->nkeys;
	t->objs.secrets = t->secrets;
	t->objs.nsecrets = t->nsecrets;
	t->objs.data = t->data;
	t->objs.ndata = t->ndata;
	*out = &t->objs;
	return 0;
}

/* Everything the session sees is read at once: a module answers from
 * memory (or its own cache), unlike a card. */
static int tok_discover(struct tk_token *tok, unsigned what, const uint8_t *id,
			size_t id_len)
{
	struct mtok *t = tok_of(tok);
	int e;

	(void)what;
	(void)id;
	(void)id_len;
	if (t->discovered)
		return 0;
	if ((e = mt_objects_read(t)) == 0)
		t->discovered = true;
	return e;
}

/* After login: the private objects too. */
static int tok_load_private(struct tk_token *tok)
{
	struct mtok *t = tok_of(tok);
	int e;

	if (!t->user_in)
		return TK_ERR_AUTH_REQUIRED;
	if ((e = mt_objects_read(t)) == 0)
		t->discovered = true;
	return e;
}

static int tok_mechanisms(struct tk_token *tok, const struct tk_mech **list,
			  size_t *n)
{
	*list = tok_of(tok)->mechs;
	*n = tok_of(tok)->nmechs;
	return 0;
}

/* ---- login ---- */

static int module_login(struct mtok *t, CK_USER_TYPE user, const uint8_t *s,
			size_t len)
{
	struct rpc_arg a[] = { MT_U(t->s), MT_U(user), MT_AY(s, len) };

	if (!s) /* protected authentication path: the module asks */
		a[2].bytes.null = true;
	t->parts_whole = false; /* private handles may change (SoftHSMv2) */
	return mt_call0(t, RPC_C_Login, a, MT_N(a));
}

static int module_logout(struct mtok *t)
{
	struct rpc_arg a[] = { MT_U(t->s) };
	int e = mt_call0(t, RPC_C_Logout, a, 1);

	return e == TK_ERR_AUTH_REQUIRED ? 0 : e;
}

static bool pin_same(const struct mtok *t, const uint8_t *s, size_t len)
{
	return len == t->pin_len && CRYPTO_memcmp(s, t->pin, len) == 0;
}

/* The module already logged in (another application's PIN): see the
 * design note above. */
static int login_again(struct mtok *t, const uint8_t *s, size_t len)
{
	int e, back;

	if (pin_same(t, s, len))
		return 0;
	if ((e = module_logout(t)) < 0)
		return e;
	if ((e = module_login(t, CKU_USER, s, len)) == 0) {
		memcpy(t->pin, s, len); /* changed by someone else */
		t->pin_len = len;
		return 0;
	}
	back = module_login(t, CKU_USER, t->pin, t->pin_len);
	if (back < 0) { /* the module no longer takes it: nobody is in */
		t->user_in = false;
		pin_forget(t->pin, &t->pin_len);
	}
	return e;
}

static int tok_login(struct tk_token *tok, enum tk_user user, const uint8_t *s,
		     size_t len)
{
	struct mtok *t = tok_of(tok);
	int e;

	if (len > sizeof(t->pin))
		return TK_ERR_PIN_INCORRECT;
	if (user == TK_USER_ADMIN) {
		if (t->so_in)
			return len == t->so_len &&
				       CRYPTO_memcmp(s, t->so, len) == 0
				   ? 0
				   : TK_ERR_PIN_INCORRECT;
		if ((e = module_login(t, CKU_SO, len ? s : NULL, len)) < 0)
			return e;
		t->so_in = true;
		memcpy(t->so, s, len);
		t->so_len = len;
		return 0;
	}
	if (user != TK_USER_PIN)
		return TK_ERR_ARG;
	if (t->user_in && len)
		return login_again(t, s, len);
	if (t->user_in) /* PIN pad: the module verified it once */
		return 0;
	e = module_login(t, CKU_USER, len ? s : NULL, len);
	if (e < 0)
		return e;
	t->user_in = true;
	memcpy(t->pin, s, len);
	t->pin_len = len;
	/* The first search may come next, not load_private(): what the read
	 * before login could not see of the private keys (their labels) must
	 * match now (issue 9). */
	mt_objects_late_read(t);
	return 0;
}

static int tok_logout(struct tk_token *tok, enum tk_user user)
{
	struct mtok *t = tok_of(tok);
	int e = 0;

	if (user == TK_USER_ADMIN && t->so_in)
		e = module_logout(t);
	else if (user != TK_USER_ADMIN && t->user_in)
		e = module_logout(t);
	if (user == TK_USER_ADMIN) {
		t->so_in = false;
		pin_forget(t->so, &t->so_len);
	} else {
		t->user_in = false;
		pin_forget(t->pin, &t->pin_len);
	}
	return e;
}

/* The token's flags as they are now. */
static int token_flags(struct mtok *t, CK_FLAGS *flags)
{
	struct rpc_arg a[] = { MT_U(t->slot) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	int e = mt_call(t, RPC_C_GetTokenInfo, a, 1, &r, &rv);

	if (!e && !(e = mt_err(rv)))
		e = r.msg.nargs >= 5 ? 0 : TK_ERR_INVALID;
	if (!e)
		*flags = r.msg.args[4].ulong;
	mlink_reply_clear(&r);
	return e;
}

static int tok_pin_status(struct tk_token *tok, int *tries_left, bool *verified)
{
	struct mtok *t = tok_of(tok);
	CK_FLAGS f = 0;
	int e = token_flags(t, &f);

	if (e < 0)
		return e;
	/* PKCS#11 gives flags, not a count: without FINAL_TRY at least two
	 * tries are left, a lower bound the pin guard can work with (-1,
	 * unknown, would let only a remembered PIN through). */
	*tries_left = (f & CKF_USER_PIN_LOCKED)      ? 0
		      : (f & CKF_USER_PIN_FINAL_TRY) ? 1
						     : 2;
	if (verified) /* NULL: the pin guard asks only for the count */
		*verified = t->user_in;
	return 0;
}

/* ---- private-key operations: whole, in the module ---- */

/* The most an operation with the key can return, without the module. */
static size_t out_max(struct mtok *t, uint32_t handle)
{
	struct tk_key *k;
	struct tk_secret_key *sk;

	/* PKCS#11's ECDSA signature is r||s, not OpenSSL's DER. */
	if (mt_key(t, handle, &k))
		return k->alg == TK_ALG_P256   ? 64
		       : k->alg == TK_ALG_P384 ? 96
		       : k->alg == TK_ALG_ED25519
			   ? 64
			   : (size_t)EVP_PKEY_get_size(k->pub);
	if (mt_secret(t, handle, &sk))
		return 512; /* a MAC, or a block-cipher decryption's answer */
	return 0;
}

/* The module's handle of a key. A private key's is found by CKA_ID on
 * first use and kept (kx[].priv); priv_lock makes overlapping operations
 * find it once, on s (a search there never meets their operations, which
 * run on sessions of the pool). stale: the handle the module just refused
 * (renumbered), to look up again unless another operation did already. */
static int key_handle(struct mtok *t, uint32_t handle, CK_OBJECT_HANDLE stale,
		      CK_OBJECT_HANDLE *h)
{
	struct mobj_key *x;

	*h = mt_secret(t, handle, NULL);
	if (*h)
		return 0;
	pthread_mutex_lock(&t->priv_lock);
	if (stale && (x = mt_key(t, handle, NULL)) && x->priv == stale)
		x->priv = 0;
	*h = mt_key_priv(t, handle);
	pthread_mutex_unlock(&t->priv_lock);
	if (*h)
		return 0;
	return mt_key(t, handle, NULL) ? TK_ERR_AUTH_REQUIRED
				       : TK_ERR_NOT_FOUND;
}

/* A whole operation (init and call) with its arguments, for op_run. */
struct whole {
	uint32_t init, call;
	uint32_t handle;
	CK_OBJECT_HANDLE h; /* the module's, key_handle's */
	const struct tk_mech_arg *mech;
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t *out_len;
};

static int whole_on(struct mtok *t, CK_SESSION_HANDLE s, void *ctx)
{
	struct whole *w = ctx;
	struct rpc_arg a[] = {
		MT_U(s),
		MT_M(w->mech->type, w->mech->param, w->mech->param_len), MT_U(0)
	};
	struct rpc_arg b[] = { MT_U(s), MT_AY(w->in, w->in_len),
			       MT_FY(*w->out_len) };
	struct mlink_reply r = { 0 };
	CK_ULONG n = *w->out_len;
	CK_RV rv = CKR_OK;
	int e;

	a[2].ulong = w->h;
	/* The init and the call in one round trip. */
	e = mt_call_init(t, w->init, a, MT_N(a), w->call, b, MT_N(b), &r, &rv);
	if (e == TK_ERR_NOT_FOUND && mt_key(t, w->handle, NULL)) {
		/* A module may renumber private objects at every login
		 * (SoftHSMv2): find the key again by its CKA_ID. */
		mlink_reply_clear(&r);
		if ((e = key_handle(t, w->handle, w->h, &w->h)) < 0)
			goto out;
		a[2].ulong = w->h;
		e = mt_call_init(t, w->init, a, MT_N(a), w->call, b, MT_N(b),
				 &r, &rv);
	}
	if (e == 0 && (e = mt_err(rv)) == 0)
		e = mt_err(mlink_out_bytes(&r.msg.args[0], w->out, &n));
	if (e == 0)
		*w->out_len = n;
out:
	mlink_reply_clear(&r);
	return e;
}

static int whole_op(struct mtok *t, uint32_t init, uint32_t call,
		    uint32_t handle, const struct tk_mech_arg *mech,
		    const uint8_t *in, size_t in_len, uint8_t *out,
		    size_t *out_len)
{
	struct whole w = {
		init, call, handle, 0, mech, in, in_len, out, out_len
	};
	int e;

	if (!out) {
		*out_len = out_max(t, handle);
		return *out_len ? 0 : TK_ERR_NOT_FOUND;
	}
	if (!mech)
		return TK_ERR_UNSUPPORTED; /* every mechanism is whole */
	if ((e = key_handle(t, handle, 0, &w.h)) < 0)
		return e;
	return op_run(t, whole_on, &w);
}

static int tok_sign(struct tk_token *tok, uint32_t key,
		    const struct tk_mech_arg *mech, const uint8_t *in,
		    size_t in_len, uint8_t *out, size_t *out_len)
{
	return whole_op(tok_of(tok), RPC_C_SignInit, RPC_C_Sign, key, mech, in,
			in_len, out, out_len);
}

static int tok_decrypt(struct tk_token *tok, uint32_t key,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len)
{
	return whole_op(tok_of(tok), RPC_C_DecryptInit, RPC_C_Decrypt, key,
			mech, in, in_len, out, out_len);
}

static int tok_encrypt(struct tk_token *tok, uint32_t key,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len)
{
	return whole_op(tok_of(tok), RPC_C_EncryptInit, RPC_C_Encrypt, key,
			mech, in, in_len, out, out_len);
}

/* A verification's arguments, for op_run. */
struct verify {
	CK_OBJECT_HANDLE h;
	const struct tk_mech_arg *mech;
	const uint8_t *in, *sig;
	size_t in_len, sig_len;
};

static int verify_on(struct mtok *t, CK_SESSION_HANDLE s, void *ctx)
{
	const struct verify *v = ctx;
	struct rpc_arg a[] = { MT_U(s),
			       MT_M(v->mech->type, v->mech->param,
				    v->mech->param_len),
			       MT_U(v->h) };
	struct rpc_arg b[] = { MT_U(s), MT_AY(v->in, v->in_len),
			       MT_AY(v->sig, v->sig_len) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	int e;

	/* The init and the call in one round trip. */
	e = mt_call_init(t, RPC_C_VerifyInit, a, MT_N(a), RPC_C_Verify, b,
			 MT_N(b), &r, &rv);
	if (e == 0)
		e = mt_err(rv);
	mlink_reply_clear(&r);
	return e;
}

/* A whole verification in the module: a secret key's MAC, or a signature
 * with the key's public key object. */
static int tok_verify(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, const uint8_t *sig, size_t sig_len)
{
	struct mtok *t = tok_of(tok);
	struct mobj_key *x;
	struct verify v = {
		mt_secret(t, key, NULL), mech, in, sig, in_len, sig_len
	};

	if (!v.h && (x = mt_key(t, key, NULL)))
		v.h = x->pub;
	if (!v.h)
		return TK_ERR_NOT_FOUND;
	return op_run(t, verify_on, &v);
}

/* The module's RNG, in pieces: one call's answer never makes the helper
 * (or the link) hold more than MT_RANDOM_PIECE bytes, whatever a client
 * asks for. */
#define MT_RANDOM_PIECE 4096

struct random {
	uint8_t *out;
	size_t len;
};

static int random_on(struct mtok *t, CK_SESSION_HANDLE s, void *ctx)
{
	const struct random *q = ctx;
	uint8_t *out = q->out;
	size_t len = q->len;
	int e = 0;

	while (len && !e) {
		CK_ULONG n = len < MT_RANDOM_PIECE ? len : MT_RANDOM_PIECE;
		struct rpc_arg a[] = { MT_U(s), MT_FY(n) };
		struct mlink_reply r;
		CK_ULONG got = n;
		CK_RV rv = CKR_OK;

		if ((e = mt_call(t, RPC_C_GenerateRandom, a, MT_N(a), &r,
				 &rv)) == 0 &&
		    (e = mt_err(rv)) == 0 &&
		    (e = mt_err(mlink_out_bytes(
			 r.msg.nargs ? &r.msg.args[0] : NULL, out, &got))) ==
			0 &&
		    got != n)
			e = TK_ERR_INVALID; /* a short answer is no answer */
		mlink_reply_clear(&r);
		out += n;
		len -= n;
	}
	return e;
}

static int tok_random(struct tk_token *tok, uint8_t *out, size_t len)
{
	struct random q = { out, len };

	return op_run(tok_of(tok), random_on, &q);
}

/* C_DigestKey's digest, for op_run. */
struct digest {
	const struct tk_mech_arg *mech;
	const struct tk_digest_part *parts;
	size_t n;
	uint8_t *out;
	size_t *out_len;
};

/* One part into the digest active on s. */
static int digest_part(struct mtok *t, CK_SESSION_HANDLE s,
		       const struct tk_digest_part *p)
{
	CK_OBJECT_HANDLE h;

	if (!p->is_key)
		return p->len ? mt_call0(t, RPC_C_DigestUpdate,
					 (struct rpc_arg[]){
					     MT_U(s), MT_AY(p->data, p->len) },
					 2)
			      : 0;
	if (!(h = mt_secret(t, p->key, NULL)))
		return TK_ERR_NOT_FOUND;
	return mt_call0(t, RPC_C_DigestKey,
			(struct rpc_arg[]){ MT_U(s), MT_U(h) }, 2);
}

/* Init, the parts, Final on one session. A part the module refused may
 * leave its digest active there (not every module ends it): a Final
 * ends it before the session serves another operation. */
static int digest_on(struct mtok *t, CK_SESSION_HANDLE s, void *ctx)
{
	const struct digest *q = ctx;
	struct rpc_arg a[] = { MT_U(s), MT_M(q->mech->type, NULL, 0) };
	struct rpc_arg f[] = { MT_U(s), MT_FY(*q->out_len) };
	struct mlink_reply r = { 0 };
	CK_ULONG n = *q->out_len;
	CK_RV rv = CKR_OK;
	int e;

	if ((e = mt_call0(t, RPC_C_DigestInit, a, MT_N(a))) < 0)
		return e;
	for (size_t i = 0; i < q->n && e == 0; i++)
		e = digest_part(t, s, &q->parts[i]);
	if (e < 0) {
		(void)mt_call0(t, RPC_C_DigestFinal, f, MT_N(f));
		return e;
	}
	if ((e = mt_call(t, RPC_C_DigestFinal, f, MT_N(f), &r, &rv)) == 0 &&
	    (e = mt_err(rv)) == 0)
		e = mt_err(mlink_out_bytes(r.msg.nargs ? &r.msg.args[0] : NULL,
					   q->out, &n));
	if (e == 0)
		*q->out_len = n;
	mlink_reply_clear(&r);
	return e;
}

static int tok_digest_parts(struct tk_token *tok,
			    const struct tk_mech_arg *mech,
			    const struct tk_digest_part *parts, size_t n,
			    uint8_t *out, size_t *out_len)
{
	struct digest q = { mech, parts, n, out, out_len };

	return op_run(tok_of(tok), digest_on, &q);
}

/* An ECDH derivation's arguments, for op_run. */
struct derive {
	uint32_t key;
	CK_OBJECT_HANDLE h; /* the private key's, key_handle's */
	const uint8_t *peer;
	size_t peer_len;
	CK_ULONG len; /* the shared secret's */
	uint8_t *out;
	size_t *out_len;
};

/* ECDH into a session secret of s the module lets us read, then gone. */
static int derive_on(struct mtok *t, CK_SESSION_HANDLE s, void *ctx)
{
	struct derive *q = ctx;
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, q->peer_len,
				     (CK_BYTE_PTR)q->peer };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_KEY_TYPE, &kt, sizeof(kt) },
				{ CKA_TOKEN, &no, 1 },
				{ CKA_SENSITIVE, &no, 1 },
				{ CKA_EXTRACTABLE, &yes, 1 },
				{ CKA_VALUE_LEN, &q->len, sizeof(q->len) } };
	CK_ATTRIBUTE v = { CKA_VALUE, NULL, q->len };
	struct rpc_arg a[] = { MT_U(s), MT_M(CKM_ECDH1_DERIVE, &p, sizeof(p)),
			       MT_U(0), MT_AA(tmpl, MT_N(tmpl)) };
	struct mlink_reply r;
	CK_OBJECT_HANDLE sec;
	CK_RV rv = CKR_OK;
	int e;

	a[2].ulong = q->h;
	if ((e = mt_call(t, RPC_C_DeriveKey, a, MT_N(a), &r, &rv)) == 0)
		e = mt_err(rv);
	if (e == TK_ERR_NOT_FOUND) {
		/* renumbered at a login (SoftHSMv2): whole_on */
		mlink_reply_clear(&r);
		if ((e = key_handle(t, q->key, q->h, &q->h)) < 0)
			return e;
		a[2].ulong = q->h;
		if ((e = mt_call(t, RPC_C_DeriveKey, a, MT_N(a), &r, &rv)) == 0)
			e = mt_err(rv);
	}
	if (e < 0) {
		mlink_reply_clear(&r);
		return e;
	}
	sec = r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	if ((e = mt_attrs_on(t, s, sec, &v, 1, &r)) == 0 &&
	    (!v.pValue || v.ulValueLen > *q->out_len))
		e = TK_ERR_DEVICE;
	if (e == 0) {
		memcpy(q->out, v.pValue, v.ulValueLen);
		*q->out_len = v.ulValueLen;
	}
	mlink_reply_clear(&r);
	(void)mt_call0(t, RPC_C_DestroyObject,
		       (struct rpc_arg[]){ MT_U(s), MT_U(sec) }, 2);
	return e;
}

/* On a pooled session like the other key operations: overlapping ones run
 * at once, and a derivation never meets a search on t->s. */
static int tok_derive(struct tk_token *tok, uint32_t key, const uint8_t *peer,
		      size_t peer_len, uint8_t *out, size_t *out_len)
{
	struct mtok *t = tok_of(tok);
	struct tk_key *k;
	struct derive q = { key, 0, peer, peer_len, 0, out, out_len };
	int e;

	if (!mt_key(t, key, &k))
		return TK_ERR_NOT_FOUND;
	q.len = (CK_ULONG)(EVP_PKEY_get_bits(k->pub) + 7) / 8;
	if (!out) {
		*out_len = q.len;
		return 0;
	}
	if (*out_len < q.len)
		return TK_ERR_TOO_LARGE;
	if ((e = key_handle(t, key, 0, &q.h)) < 0)
		return e;
	return op_run(t, derive_on, &q);
}

/* ---- administration, forwarded ---- */

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
				    0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t oid_x25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x6e };

/* A call that makes objects (C_GenerateKeyPair, C_GenerateKey,
 * C_CreateObject): the driver's handle of the last its answer names (a
 * pair's private key), once they are in the cache. */
static int call_made(struct mtok *t, uint32_t id, const struct rpc_arg *a,
		     size_t n, uint32_t *handle)
{
	struct mlink_reply r;
	enum tk_obj_kind kind;
	CK_OBJECT_HANDLE h[2];
	size_t nh = 0;
	CK_RV rv = CKR_OK;
	int e = mt_call(t, id, a, n, &r, &rv);

	if (e == 0)
		e = mt_err(rv);
	for (size_t i = 0; e == 0 && i < r.msg.nargs && nh < MT_N(h); i++)
		if (r.msg.args[i].type == RPC_ARG_ULONG)
			h[nh++] = r.msg.args[i].ulong;
	mlink_reply_clear(&r);
	if (e == 0 && !nh)
		e = TK_ERR_DEVICE;
	if (e == 0 && (e = mt_obj_named(t, h, nh, &kind, handle)) < 0)
		e = e == TK_ERR_NOT_FOUND ? TK_ERR_DEVICE : e;
	return e;
}

static int tok_generate(struct tk_token *tok, const struct tk_id *id,
			enum tk_alg alg, enum tk_pin_policy pin,
			enum tk_touch_policy touch, uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = alg == TK_ALG_RSA1024   ? 1024
			: alg == TK_ALG_RSA2048 ? 2048
			: alg == TK_ALG_RSA3072 ? 3072
						: 4096;
	const uint8_t *params = alg == TK_ALG_P256      ? oid_p256
				: alg == TK_ALG_P384    ? oid_p384
				: alg == TK_ALG_ED25519 ? oid_ed25519
							: oid_x25519;
	size_t plen = alg == TK_ALG_P256      ? sizeof(oid_p256)
		      : alg == TK_ALG_P384    ? sizeof(oid_p384)
		      : alg == TK_ALG_ED25519 ? sizeof(oid_ed25519)
					      : sizeof(oid_x25519);
	bool rsa = alg >= TK_ALG_RSA1024 && alg <= TK_ALG_RSA4096;
	bool x25519 = alg == TK_ALG_X25519;
	CK_MECHANISM_TYPE m = rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN
			      : alg == TK_ALG_ED25519
				  ? CKM_EC_EDWARDS_KEY_PAIR_GEN
			      : x25519 ? CKM_EC_MONTGOMERY_KEY_PAIR_GEN
				       : CKM_EC_KEY_PAIR_GEN;
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_ID, (void *)id->b, id->len },
		{ x25519 ? CKA_DERIVE : CKA_VERIFY, &yes, 1 },
		{ rsa ? CKA_MODULUS_BITS : CKA_EC_PARAMS,
		  rsa ? (void *)&bits : (void *)params,
		  rsa ? sizeof(bits) : plen },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_ID, (void *)id->b, id->len },
		{ CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 },
		{ x25519 ? CKA_DERIVE : CKA_SIGN, &yes, 1 },
		{ rsa ? CKA_DECRYPT : CKA_DERIVE, &yes, 1 },
	};
	struct rpc_arg a[] = { MT_U(t->s), MT_M(m, NULL, 0),
			       MT_AA(pub, MT_N(pub)), MT_AA(priv, MT_N(priv)) };

	if (pin != TK_PIN_POLICY_DEFAULT || touch != TK_TOUCH_POLICY_DEFAULT)
		return TK_ERR_UNSUPPORTED;
	/* ECDSA keys that may also derive: SoftHSMv2 takes both. */
	if (alg == TK_ALG_ED25519)
		priv[5].type = CKA_SIGN;
	return call_made(t, RPC_C_GenerateKeyPair, a, MT_N(a), handle);
}

/* tmpl (n) into out (room n + 2), with CKA_ID id appended where it has
 * none (the front end names a module's keys by CKA_ID). On the token
 * unless the template says CKA_TOKEN false: then a session key, which the
 * cache flags (tk_key.session) and the front end gives the session. */
static size_t tmpl_with_id(const struct tk_attr *tmpl, size_t n,
			   const struct tk_id *id, CK_ATTRIBUTE *out)
{
	static CK_BBOOL yes = CK_TRUE;
	bool has = false, token = false;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		out[k++] = (CK_ATTRIBUTE){ tmpl[i].type, (void *)tmpl[i].value,
					   tmpl[i].len };
		has |= tmpl[i].type == CKA_ID;
		token |= tmpl[i].type == CKA_TOKEN;
	}
	if (!has)
		out[k++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id->b, id->len };
	if (!token) /* tokend's keys were always token keys */
		out[k++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	return k;
}

/* C_GenerateKey (generate_tmpl without a public template): the secret
 * key's template as the application gave it. */
static int generate_secret(struct mtok *t, const struct tk_id *id,
			   const struct tk_mech_arg *mech,
			   const struct tk_attr *tmpl, size_t n,
			   uint32_t *handle)
{
	CK_ATTRIBUTE *a = calloc(n + 2, sizeof(*a));
	size_t k;
	int e;

	if (!a)
		return TK_ERR_NOMEM;
	k = tmpl_with_id(tmpl, n, id, a);
	{
		struct rpc_arg r[] = {
			MT_U(t->s),
			MT_M(mech->type, mech->param, mech->param_len),
			MT_AA(a, k),
		};

		e = call_made(t, RPC_C_GenerateKey, r, MT_N(r), handle);
	}
	free(a);
	return e;
}

/* The application's own templates: its label, usage flags, sizes and
 * curves reach the module as it gave them. */
static int tok_generate_tmpl(struct tk_token *tok, const struct tk_id *id,
			     const struct tk_mech_arg *mech,
			     const struct tk_attr *pub, size_t npub,
			     const struct tk_attr *priv, size_t npriv,
			     uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_ATTRIBUTE *a = calloc(npub + npriv + 4, sizeof(*a));
	size_t n1, n2;
	int e;

	if (!pub) {
		free(a);
		return generate_secret(t, id, mech, priv, npriv, handle);
	}
	if (!a)
		return TK_ERR_NOMEM;
	n1 = tmpl_with_id(pub, npub, id, a);
	n2 = tmpl_with_id(priv, npriv, id, a + n1);
	{
		struct rpc_arg r[] = {
			MT_U(t->s),
			MT_M(mech->type, mech->param, mech->param_len),
			MT_AA(a, n1),
			MT_AA(a + n1, n2),
		};

		e = call_made(t, RPC_C_GenerateKeyPair, r, MT_N(r), handle);
	}
	free(a);
	return e;
}

static int tok_write_cert(struct tk_token *tok, const struct tk_id *id,
			  const uint8_t *der, size_t len, uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE;
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t *subj = NULL;
	int slen = x ? i2d_X509_NAME(X509_get_subject_name(x), &subj) : -1;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
				{ CKA_TOKEN, &yes, 1 },
				{ CKA_ID, (void *)id->b, id->len },
				{ CKA_VALUE, (void *)der, len },
				{ CKA_SUBJECT, subj, slen > 0 ? slen : 0 } };
	struct rpc_arg a[] = { MT_U(t->s), MT_AA(tmpl, MT_N(tmpl)) };
	int e = slen > 0 ? call_made(t, RPC_C_CreateObject, a, MT_N(a), handle)
			 : TK_ERR_ARG;

	X509_free(x);
	OPENSSL_free(subj);
	return e;
}

static int destroy(struct mtok *t, CK_OBJECT_HANDLE h)
{
	struct rpc_arg a[] = { MT_U(t->s), MT_U(h) };

	return h ? mt_call0(t, RPC_C_DestroyObject, a, MT_N(a)) : 0;
}

static int tok_delete_cert(struct tk_token *tok, uint32_t key)
{
	struct mtok *t = tok_of(tok);
	struct mobj_key *x = mt_key(t, key, NULL);
	CK_OBJECT_HANDLE h;
	int e;

	if (!x || !x->cert)
		return TK_ERR_NOT_FOUND;
	h = x->cert;
	if ((e = destroy(t, h)) < 0)
		return e;
	return mt_objects_gone(t, &h, 1);
}

static int tok_delete_key(struct tk_token *tok, uint32_t key)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE priv = mt_key_priv(t, key), hs[2];
	struct mobj_key *x = mt_key(t, key, NULL);
	int e;

	if (!x)
		return TK_ERR_NOT_FOUND;
	hs[0] = priv;
	hs[1] = x->pub;
	if ((e = destroy(t, priv)) < 0 || (e = destroy(t, hs[1])) < 0)
		return e;
	return mt_objects_gone(t, hs, MT_N(hs));
}

static int tok_create_data(struct tk_token *tok, const struct tk_attr *tmpl,
			   size_t n, uint32_t *handle)
{
	struct mtok *t = tok_of(tok);
	CK_ATTRIBUTE a[n + 1];
	CK_OBJECT_CLASS cls = CKO_DATA;
	struct rpc_arg args[] = { MT_U(t->s), MT_AA(a, n + 1) };
	struct mlink_reply r;
	CK_OBJECT_HANDLE h;
	CK_RV rv = CKR_OK;
	size_t k = 0;
	int e;

	for (size_t i = 0; i < n; i++)
		if (tmpl[i].type != CKA_CLASS)
			a[k++] =
			    (CK_ATTRIBUTE){ tmpl[i].type, (void *)tmpl[i].value,
					    tmpl[i].len };
	a[k++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	args[1].attrs.count = k;
	if ((e = mt_call(t, RPC_C_CreateObject, args, MT_N(args), &r, &rv)) ==
	    0)
		e = mt_err(rv);
	h = e ? 0 : r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	if (e < 0 || (e = mt_objects_read(t)) < 0)
		return e;
	for (size_t i = 0; i < t->ndata; i++)
		if (t->dx[i] == h) {
			*handle = t->data[i].handle;
			return 0;
		}
	return TK_ERR_DEVICE;
}

static int tok_delete_data(struct tk_token *tok, uint32_t handle)
{
	struct mtok *t = tok_of(tok);
	CK_OBJECT_HANDLE h = mt_data(t, handle);
	int e;

	if (!h)
		return TK_ERR_NOT_FOUND;
	if ((e = destroy(t, h)) < 0)
		return e;
	return mt_objects_gone(t, &h, 1);
}

static int tok_set_pin(struct tk_token *tok, const struct tk_setpin *q,
		       const uint8_t *new_pin, size_t new_len)
{
	struct mtok *t = tok_of(tok);
	struct rpc_arg a[] = { MT_U(t->s), MT_AY(q->old, q->old_len),
			       MT_AY(new_pin, new_len) };
	int e;

	if (q->spends != q->sets || q->spends == TK_USER_PUK ||
	    new_len > sizeof(t->pin))
		return TK_ERR_UNSUPPORTED;
	if ((e = mt_call0(t, RPC_C_SetPIN, a, MT_N(a))) < 0)
		return e;
	if (q->sets == TK_USER_PIN && t->user_in) {
		memcpy(t->pin, new_pin, new_len);
		t->pin_len = new_len;
	}
	return 0;
}

static int tok_init_pin(struct tk_token *tok, const uint8_t *pin, size_t len)
{
	struct mtok *t = tok_of(tok);
	struct rpc_arg a[] = { MT_U(t->s), MT_AY(pin, len) };

	return mt_call0(t, RPC_C_InitPIN, a, MT_N(a));
}

/* C_InitToken with the SO PIN of the login, the label kept. The module
 * wants no session open: ours closes and reopens. */
static int tok_reset(struct tk_token *tok)
{
	struct mtok *t = tok_of(tok);
	char label[33];
	struct rpc_arg a[] = { MT_U(t->slot),
			       MT_AY(t->so, t->so_len),
			       { .type = RPC_ARG_ZSTRING } };
	struct rpc_arg o[] = { MT_U(t->slot),
			       MT_U(CKF_SERIAL_SESSION | CKF_RW_SESSION) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	int e;

	if (!t->so_in)
		return TK_ERR_AUTH_REQUIRED;
	memcpy(label, t->ti.label, 32);
	label[32] = 0;
	a[2].bytes.p = (const CK_BYTE *)label;
	a[2].bytes.len = 32;
	op_sessions_drop(t); /* C_InitToken wants no session open */
	(void)mt_call0(t, RPC_C_CloseSession, (struct rpc_arg[]){ MT_U(t->s) },
		       1);
	t->so_in = t->user_in = false;
	e = mt_call0(t, RPC_C_InitToken, a, MT_N(a));
	if (mt_call(t, RPC_C_OpenSession, o, MT_N(o), &r, &rv) < 0 ||
	    rv != CKR_OK) {
		mlink_reply_clear(&r);
		return TK_ERR_REMOVED;
	}
	t->s = r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	pin_forget(t->so, &t->so_len);
	pin_forget(t->pin, &t->pin_len);
	return e < 0 ? e : mt_objects_read(t);
}

static const struct tk_token_ops mt_ops = {
	.close = tok_close,
	.info = tok_info,
	.objects = tok_objects,
	.load_private = tok_load_private,
	.discover = tok_discover,
	.mechanisms = tok_mechanisms,
	.login = tok_login,
	.logout = tok_logout,
	.pin_status = tok_pin_status,
	.sign = tok_sign,
	.decrypt = tok_decrypt,
	.encrypt = tok_encrypt,
	.derive = tok_derive,
	.generate = tok_generate,
	.generate_tmpl = tok_generate_tmpl,
	.write_cert = tok_write_cert,
	.delete_cert = tok_delete_cert,
	.delete_key = tok_delete_key,
	.create_data = tok_create_data,
	.delete_data = tok_delete_data,
	.set_pin = tok_set_pin,
	.init_pin = tok_init_pin,
	.reset = tok_reset,
	.verify = tok_verify,
	.random = tok_random,
	.digest_parts = tok_digest_parts,
	.attr = mt_attr,
	.create_tmpl = mt_create_tmpl,
	.copy = mt_copy,
	.set_attrs = mt_set_attrs,
	.wrap = mt_wrap,
	.unwrap = mt_unwrap,
	.destroy = mt_destroy,
};

/* ---- open ---- */

static void copy_padded(char *out, size_t size, const CK_UTF8CHAR *in,
			size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(out, in, len);
	out[len] = 0;
	while (len && out[len - 1] == ' ')
		out[--len] = 0;
}

/* caps from the mechanisms the module offers. */
static uint32_t caps_of(const struct tk_mech *m, size_t n)
{
	uint32_t caps = TK_CAP_DELETE_KEY;

	for (size_t i = 0; i < n; i++) {
		switch (m[i].type) {
		case CKM_RSA_PKCS_KEY_PAIR_GEN:
			caps |= TK_CAP_GENERATE;
			/* fallthrough */
		case CKM_RSA_PKCS:
			caps |= (m[i].min_bits <= 1024 && m[i].max_bits >= 1024
				     ? TK_CAP_RSA1024
				     : 0) |
				(m[i].max_bits >= 2048 ? TK_CAP_RSA2048 : 0) |
				(m[i].max_bits >= 3072 ? TK_CAP_RSA3072 : 0) |
				(m[i].max_bits >= 4096 ? TK_CAP_RSA4096 : 0);
			break;
		case CKM_EC_KEY_PAIR_GEN:
			caps |= TK_CAP_GENERATE;
			/* fallthrough */
		case CKM_ECDSA:
			caps |= (m[i].min_bits <= 256 && m[i].max_bits >= 256
				     ? TK_CAP_P256
				     : 0) |
				(m[i].max_bits >= 384 ? TK_CAP_P384 : 0);
			break;
		case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		case CKM_EDDSA:
			caps |= TK_CAP_ED25519;
			break;
		case CKM_EC_MONTGOMERY_KEY_PAIR_GEN:
			caps |= TK_CAP_X25519;
			break;
		}
	}
	return caps;
}

static int read_mechs(struct mtok *t)
{
	struct rpc_arg a[] = { MT_U(t->slot), MT_FU(1024) };
	struct mlink_reply r, ri;
	CK_RV rv = CKR_OK;
	size_t n, k = 0;
	int e;

	if ((e = mt_call(t, RPC_C_GetMechanismList, a, MT_N(a), &r, &rv)) == 0)
		e = mt_err(rv);
	if (!e && (r.msg.nargs < 1 || r.msg.args[0].type != RPC_ARG_ULONGS))
		e = TK_ERR_INVALID;
	n = e ? 0 : r.msg.args[0].ulongs.count;
	if (!e && !(t->mechs = calloc(n + 1, sizeof(*t->mechs))))
		e = TK_ERR_NOMEM;
	for (size_t i = 0; !e && i < n; i++) {
		CK_MECHANISM_TYPE type = r.msg.args[0].ulongs.v[i];
		struct rpc_arg q[] = { MT_U(t->slot), MT_U(type) };

		if (mt_call(t, RPC_C_GetMechanismInfo, q, MT_N(q), &ri, &rv) ==
			0 &&
		    rv == CKR_OK && ri.msg.nargs >= 3)
			t->mechs[k++] = (struct tk_mech){
				.type = type,
				.min_bits = ri.msg.args[0].ulong,
				.max_bits = ri.msg.args[1].ulong,
				.flags = ri.msg.args[2].ulong,
				.mode = TK_MECH_WHOLE,
			};
		mlink_reply_clear(&ri);
	}
	mlink_reply_clear(&r);
	t->nmechs = k;
	return e;
}

static void fill_info(struct mtok *t)
{
	struct tk_token_info *i = &t->info;

	memset(i, 0, sizeof(*i));
	copy_padded(i->label, sizeof(i->label), t->ti.label, 32);
	copy_padded(i->manufacturer, sizeof(i->manufacturer),
		    t->ti.manufacturerID, 32);
	copy_padded(i->model, sizeof(i->model), t->ti.model, 16);
	copy_padded(i->serial, sizeof(i->serial), t->ti.serialNumber, 16);
	i->fw_major = t->ti.firmwareVersion.major;
	i->fw_minor = t->ti.firmwareVersion.minor;
	i->pin_min = t->ti.ulMinPinLen;
	i->pin_max = t->ti.ulMaxPinLen > 255 ? 255 : t->ti.ulMaxPinLen;
	i->pin_tries_left = (t->ti.flags & CKF_USER_PIN_LOCKED)      ? 0
			    : (t->ti.flags & CKF_USER_PIN_FINAL_TRY) ? 1
								     : -1;
	i->pin_tries_max = -1;
	i->puk_tries_left = -1;
	i->caps = caps_of(t->mechs, t->nmechs);
	i->login = TK_LOGIN_USER | TK_LOGIN_SO | TK_LOGIN_INIT_PIN |
		   TK_LOGIN_SO_RESET | TK_LOGIN_USER_WRITES;
	if (t->ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
		i->login |= TK_LOGIN_PROTECTED_PATH;
	if (i->login & TK_LOGIN_SO_RESET)
		i->caps |= TK_CAP_RESET;
}

int mt_open(struct mdrv *d, struct mlink *link, const struct mdrv_slot *slot,
	    uint64_t gen, struct tk_token **out)
{
	struct mtok *t = calloc(1, sizeof(*t));
	struct rpc_arg o[] = { MT_U(slot->id),
			       MT_U(CKF_SERIAL_SESSION | CKF_RW_SESSION) };
	struct mlink_reply r;
	CK_RV rv = CKR_OK;
	int e;

	if (!t)
		return TK_ERR_NOMEM;
	t->base.ops = &mt_ops;
	t->d = d;
	t->link = link;
	t->gen = gen;
	t->slot = slot->id;
	t->ti = slot->ti;
	t->next_handle = 1;
	pthread_mutex_init(&t->late_lock, NULL);
	pthread_mutex_init(&t->priv_lock, NULL);
	pthread_mutex_init(&t->pool_lock, NULL);
	pthread_cond_init(&t->pool_cond, NULL);
	/* Fixed for the token: a new helper generation is a new token. */
	t->base.concurrent = mlink_threaded(link, gen);
	if ((e = mt_call(t, RPC_C_OpenSession, o, MT_N(o), &r, &rv)) == 0 &&
	    rv == CKR_TOKEN_WRITE_PROTECTED) {
		mlink_reply_clear(&r);
		o[1].ulong = CKF_SERIAL_SESSION;
		e = mt_call(t, RPC_C_OpenSession, o, MT_N(o), &r, &rv);
	}
	t->sflags = o[1].ulong;
	if (!e && !(e = mt_err(rv)))
		t->s = r.msg.args[0].ulong;
	mlink_reply_clear(&r);
	if (e < 0) {
		pthread_mutex_destroy(&t->late_lock);
		pthread_mutex_destroy(&t->priv_lock);
		pthread_mutex_destroy(&t->pool_lock);
		pthread_cond_destroy(&t->pool_cond);
		free(t);
		return e == TK_ERR_REMOVED ? TK_ERR_NOT_FOUND : e;
	}
	if ((e = read_mechs(t)) < 0) {
		tok_close(&t->base);
		return e;
	}
	fill_info(t);
	*out = &t->base;
	return 0;
}
