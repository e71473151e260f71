/* What every cryptographic operation shares: C_*Init (mechanism, key,
 * parameters, login gate), the checks of the single-part, Update and Final
 * calls, the collected parts, the buffer rule, and the raw driver calls. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Multi-part operations of mechanisms the front end does not hash itself
 * (a token's MACs and ciphers, raw mechanisms): the driver contract is one
 * atomic call per operation, with no operation state in the driver, so a
 * client that stops half way pins no module session and holds no token
 * lock between calls. Update only collects the parts here, in the
 * session's op (and returns 0 output bytes, as PKCS#11 allows: a cipher
 * may hold data back until Final), and Final runs the single-part call on
 * all of it. What one operation may collect is capped: a part beyond the
 * cap ends the operation with CKR_DATA_LEN_RANGE and the buffer is freed
 * at once. 1 MiB is far above what is MACed or encrypted with a token key
 * in one go (keys, tokens, small files); bulk data belongs to a session
 * key on the host. The buffer is wiped: it may hold plaintext. */
#define OP_BUFFER_MAX ((size_t)1 << 20)
/* And what they may hold together: an application's (a connection's)
 * operations, and the whole process's, so that a client starting
 * multi-part operations in every session it may open and never ending
 * them pins at most OP_APP_MAX, and all clients OP_TOTAL_MAX (beyond:
 * CKR_HOST_MEMORY, the operation over). */
#define OP_APP_MAX ((size_t)4 << 20)
#define OP_TOTAL_MAX ((size_t)64 << 20)

static _Atomic size_t op_total;

/* Takes n bytes of both budgets, or none. */
static bool op_charge(struct op *op, size_t n)
{
	if (atomic_fetch_add(op->acc_budget, n) + n > OP_APP_MAX) {
		atomic_fetch_sub(op->acc_budget, n);
		return false;
	}
	if (atomic_fetch_add(&op_total, n) + n > OP_TOTAL_MAX) {
		atomic_fetch_sub(&op_total, n);
		atomic_fetch_sub(op->acc_budget, n);
		return false;
	}
	op->acc_charged += n;
	return true;
}

void op_uncharge(struct op *op)
{
	if (!op->acc_charged)
		return;
	atomic_fetch_sub(op->acc_budget, op->acc_charged);
	atomic_fetch_sub(&op_total, op->acc_charged);
	op->acc_charged = 0;
}

static const CK_FLAGS op_flag[OP_N] = {
	[OP_SIGN] = CKF_SIGN,       [OP_VERIFY] = CKF_VERIFY,
	[OP_DECRYPT] = CKF_DECRYPT, [OP_ENCRYPT] = CKF_ENCRYPT,
	[OP_DIGEST] = CKF_DIGEST,
};

bool out_room(size_t need, CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_RV *rv)
{
	if (out && *out_len >= need)
		return true;
	*out_len = need;
	*rv = out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	return false;
}

CK_RV out_copy(const uint8_t *src, size_t len, CK_BYTE_PTR dst,
	       CK_ULONG_PTR dst_len)
{
	CK_RV rv;

	if (!out_room(len, dst, dst_len, &rv))
		return rv;
	if (len)
		memcpy(dst, src, len);
	*dst_len = len;
	return CKR_OK;
}

/* slot->lock held. The key of an operation: private-key operations need a
 * private key; verify and encrypt take the public key (or the private key,
 * whose public half we hold). */
CK_RV op_key(struct app *app, struct session *s, CK_OBJECT_HANDLE h,
	     enum obj_kind want, struct op *op)
{
	struct obj_view v;

	if (obj_view(app, s, h, &v) != CKR_OK)
		return CKR_KEY_HANDLE_INVALID;
	/* A token's secret key: only for the driver's own mechanisms. */
	if (v.kind == OBJ_SECRET && op->whole && !v.secret) {
		op->key = h;
		op->handle = v.handle;
		op->need_login = obj_is_private(&v);
		return CKR_OK;
	}
	if (v.kind == OBJ_SECRET || v.kind == OBJ_CERT || v.kind == OBJ_DATA)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (want == OBJ_PRIV && v.kind != OBJ_PRIV)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!v.key->pub)
		return CKR_KEY_HANDLE_INVALID;
	op->key = h;
	op->handle = v.key->handle;
	op->alg = v.key->alg;
	op->need_login = v.kind == OBJ_PRIV && obj_is_private(&v);
	op->always_auth = v.kind == OBJ_PRIV &&
			  (v.key->pin_policy == TK_PIN_POLICY_ALWAYS ||
			   v.key->pin_policy == TK_PIN_POLICY_MATCH_ALWAYS);
	if (!EVP_PKEY_up_ref(v.key->pub))
		return CKR_HOST_MEMORY;
	op->pub = v.key->pub;
	return CKR_OK;
}

CK_RV op_login_check(struct app *app, struct session *s, struct op *op)
{
	if (op->need_login && app_user(app, s->slot) != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	if (op->always_auth && !op->ctx_authed)
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* An empty message for a whole operation, never NULL: a module refuses
 * NULL data with CKR_ARGUMENTS_BAD and keeps the operation active in its
 * session (SoftHSMv2), so the next C_*Init there would fail. */
static const uint8_t op_no_bytes[1];

typedef int (*raw_fn)(struct tk_token *, uint32_t, const struct tk_mech_arg *,
		      const uint8_t *, size_t, uint8_t *, size_t *);

/* verify and random in raw_fn's shape: verify's out is the signature (read
 * only), random's the bytes asked for. */
static int drv_verify(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, uint8_t *sig, size_t *sig_len)
{
	return tok->ops->verify(tok, key, mech, in, in_len, sig, *sig_len);
}

static int drv_random(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, uint8_t *out, size_t *out_len)
{
	(void)key, (void)mech, (void)in, (void)in_len;
	return tok->ops->random(tok, out, *out_len);
}

/* digest_parts in raw_fn's shape: in is the parts (struct
 * tk_digest_part), in_len their count (op_digest_parts). */
static int drv_digest(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, uint8_t *out, size_t *out_len)
{
	(void)key;
	return tok->ops->digest_parts(
	    tok, mech, (const struct tk_digest_part *)in, in_len, out, out_len);
}

/* The driver's function for op (one of s's; NULL: the token's RNG). */
static raw_fn op_fn(const struct tk_token_ops *o, struct session *s,
		    const struct op *op)
{
	if (!op)
		return o->random ? drv_random : NULL;
	switch (op - s->op) {
	case OP_SIGN:
		return o->sign;
	case OP_VERIFY:
		return o->verify ? drv_verify : NULL;
	case OP_ENCRYPT:
		return o->encrypt;
	case OP_DIGEST:
		return o->digest_parts ? drv_digest : NULL;
	default:
		return o->decrypt;
	}
}

/* One private-key call (raw, or the whole operation), with the session busy and
 * app->lock dropped so the app's other sessions go on; when another
 * application consumed the authorisation of this op's CKU_CONTEXT_SPECIFIC
 * login (a PIN-always key), the driver verifies its held PIN once more and
 * the call is retried. op NULL: the token's RNG (no key).
 *
 * On a concurrent token (slot_op_lock shares io) other key operations run
 * beside this one, never a login, logout or PIN call (io alone). Why the
 * login check made before (op_login_check, under app->lock) still holds
 * when the call reaches the token: the app's own logout takes its record
 * under app->lock, so an op checked after it is refused there; one checked
 * before it is ordered before that logout, as with one lock. The token's
 * own login is global and ends only in slot_logout, with io held alone,
 * when the last app's record is gone: it waits for the operations in
 * flight and no later one finds the token still logged in for an app that
 * left. B's logout cannot log the token out under A while A is counted
 * (slot->n_user), and A's logout leaves B's record alone. */
static int op_driver_raw(struct app *app, struct session *s, struct op *op,
			 const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t *out_len)
{
	struct fe_slot *slot = s->slot;
	const struct tk_mech_arg *mech;
	struct tk_token *tok;
	size_t cap = *out_len;
	uint32_t key = op ? op->handle : 0;
	bool shared;
	raw_fn fn;
	int r;

	session_run(app, s);
	shared = slot_op_lock(slot);
	tok = slot->tok; /* stable while io is held */
	if (!tok || s->epoch != slot_epoch(slot)) {
		r = TK_ERR_REMOVED;
		goto out;
	}
	if (!(fn = op_fn(tok->ops, s, op))) {
		r = TK_ERR_UNSUPPORTED;
		goto out;
	}
	mech = op && (op->whole || op->nkeys) ? &op->arg : NULL;
	tk_caller_set(app->share);
	r = fn(tok, key, mech, in, in_len, out, out_len);
	if (r == TK_ERR_AUTH_REQUIRED && op && op->ctx_authed &&
	    tok->ops->reauth) {
		/* the driver's held PIN; it changes the driver's state: the
		 * card lock */
		if (!slot_op_alone(slot, &shared, s->epoch)) {
			r = TK_ERR_REMOVED;
			goto out;
		}
		pthread_mutex_lock(&slot->lock);
		r = tok->ops->reauth(tok);
		pthread_mutex_unlock(&slot->lock);
		*out_len = cap;
		if (r == 0)
			r = fn(tok, key, mech, in, in_len, out, out_len);
	}
	if (r == TK_ERR_REMOVED && slot_op_alone(slot, &shared, s->epoch)) {
		pthread_mutex_lock(&slot->lock);
		if (slot->tok == tok)
			slot_close_token(slot);
		pthread_mutex_unlock(&slot->lock);
	}
out:
	slot_op_unlock(slot, shared);
	session_done(app, s);
	return r;
}

int op_driver_sign(struct app *app, struct session *s, struct op *op,
		   const uint8_t *in, size_t in_len, uint8_t *out,
		   size_t *out_len)
{
	return op_driver_raw(app, s, op, in, in_len, out, out_len);
}

int op_driver_decrypt(struct app *app, struct session *s, struct op *op,
		      const uint8_t *in, size_t in_len, uint8_t *out,
		      size_t *out_len)
{
	return op_driver_raw(app, s, op, in, in_len, out, out_len);
}

int op_driver_verify(struct app *app, struct session *s, struct op *op,
		     const uint8_t *in, size_t in_len, const uint8_t *sig,
		     size_t sig_len)
{
	if (!in)
		in = op_no_bytes;
	return op_driver_raw(app, s, op, in, in_len, (uint8_t *)sig, &sig_len);
}

int op_driver_random(struct app *app, struct session *s, uint8_t *out,
		     size_t len)
{
	return op_driver_raw(app, s, NULL, NULL, 0, out, &len);
}

size_t op_sig_size(const struct op *op)
{
	switch (alg_family(op->alg)) {
	case KF_RSA:
		return (size_t)EVP_PKEY_get_size(op->pub);
	case KF_EC:
		return 2 * alg_field_len(op->alg);
	case KF_ED:
		return 64;
	default:
		return 0;
	}
}

int op_out_size(struct app *app, struct session *s, struct op *op, size_t *n)
{
	bool sign = op == &s->op[OP_SIGN];

	*n = 0;
	if (op->whole)
		return op_driver_raw(app, s, op, NULL, 0, NULL, n);
	if (sign)
		*n = op_sig_size(op);
	else if (alg_family(op->alg) == KF_RSA)
		*n = (size_t)EVP_PKEY_get_size(op->pub);
	return *n ? 0 : TK_ERR_UNSUPPORTED;
}

#define SECRET_SLACK 32

/* The size of a MAC mechanism's answer (0: not a MAC this table knows),
 * so a size query is not answered with the driver's generous bound. */
static size_t op_mac_len(const struct tk_mech_arg *a)
{
	CK_ULONG n = 0; /* CK_MAC_GENERAL_PARAMS */

	switch (a->type) {
	case CKM_MD5_HMAC:
	case CKM_AES_CMAC:
		return 16;
	case CKM_SHA_1_HMAC:
		return 20;
	case CKM_SHA224_HMAC:
		return 28;
	case CKM_SHA256_HMAC:
		return 32;
	case CKM_SHA384_HMAC:
		return 48;
	case CKM_SHA512_HMAC:
		return 64;
	case CKM_SHA_1_HMAC_GENERAL:
	case CKM_SHA224_HMAC_GENERAL:
	case CKM_SHA256_HMAC_GENERAL:
	case CKM_SHA384_HMAC_GENERAL:
	case CKM_SHA512_HMAC_GENERAL:
	case CKM_AES_CMAC_GENERAL:
		if (a->param && a->param_len == sizeof(n))
			memcpy(&n, a->param, sizeof(n));
		return n;
	default:
		return 0;
	}
}

CK_RV op_whole_final(struct app *app, struct session *s, struct op *op,
		     const uint8_t *data, size_t len, CK_BYTE_PTR out,
		     CK_ULONG_PTR out_len)
{
	bool sign = op == &s->op[OP_SIGN];
	size_t max = 0, mlen = 0, n;
	const uint8_t *msg = NULL;
	CK_RV rv;
	int r;

	if ((r = op_out_size(app, s, op, &max)) < 0)
		goto fail;
	if (op->updated) /* Final: what the parts collected */
		len = op->acc.len;
	/* A secret key's cipher (no public key; not a MAC): the answer
	 * follows the input, encrypted with room for a padding block or a
	 * tag, decrypted never longer. */
	if (!sign && !op->pub)
		max = op == &s->op[OP_DECRYPT]        ? len
		      : len < SIZE_MAX - SECRET_SLACK ? len + SECRET_SLACK
						      : SIZE_MAX;
	if (sign && !op->pub && (n = op_mac_len(&op->arg)) && n < max)
		max = n;
	if (!out_room(max, out, out_len, &rv))
		return rv;
	if ((rv = op_login_check(app, s, op)) != CKR_OK ||
	    (rv = op_message(op, data, len, NULL, NULL, &msg, &mlen)) !=
		CKR_OK) {
		op_reset(op);
		return rv;
	}
	max = *out_len;
	if (!msg)
		msg = op_no_bytes;
	if ((r = op_driver_raw(app, s, op, msg, mlen, out, &max)) < 0)
		goto fail;
	*out_len = max;
	op_reset(op);
	return CKR_OK;
fail:
	op_reset(op);
	return rv_from_tk(r); /* a removed token is closed already */
}

/* A parameter struct without pointers (size bytes) into p. */
static CK_RV op_params_copy(const CK_MECHANISM *mech, void *p, size_t size)
{
	if (!mech->pParameter || mech->ulParameterLen != size)
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(p, mech->pParameter, size);
	return CKR_OK;
}

/* PSS's and OAEP's hash and MGF1, both known. */
static CK_RV op_params_md(struct op *op, CK_MECHANISM_TYPE hash, CK_ULONG mgf)
{
	op->pss_md = md_from_ckm(hash);
	op->mgf_md = md_from_mgf(mgf);
	return op->pss_md && op->mgf_md ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
}

/* RSA-PSS parameters: hash as the mechanism's, MGF1 known, salt fits. */
static CK_RV op_params_pss(struct op *op, const CK_MECHANISM *mech)
{
	CK_RSA_PKCS_PSS_PARAMS p;
	size_t k = (size_t)EVP_PKEY_get_size(op->pub), hlen;
	CK_RV rv;

	if ((rv = op_params_copy(mech, &p, sizeof(p))) != CKR_OK ||
	    (rv = op_params_md(op, p.hashAlg, p.mgf)) != CKR_OK)
		return rv;
	if (op->m->md &&
	    strcmp(EVP_MD_get0_name(op->pss_md),
		   EVP_MD_get0_name(EVP_get_digestbyname(op->m->md))) != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	hlen = (size_t)EVP_MD_get_size(op->pss_md);
	if (k < hlen + 2 || p.sLen > k - hlen - 2)
		return CKR_MECHANISM_PARAM_INVALID;
	op->salt_len = p.sLen;
	return CKR_OK;
}

static CK_RV op_params_oaep(struct op *op, const CK_MECHANISM *mech)
{
	CK_RSA_PKCS_OAEP_PARAMS p;
	CK_RV rv;

	if ((rv = op_params_copy(mech, &p, sizeof(p))) != CKR_OK ||
	    (rv = op_params_md(op, p.hashAlg, p.mgf)) != CKR_OK)
		return rv;
	if (p.source != 0 && p.source != CKZ_DATA_SPECIFIED)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p.ulSourceDataLen) {
		if (!p.pSourceData || p.source != CKZ_DATA_SPECIFIED ||
		    p.ulSourceDataLen > 4096)
			return CKR_MECHANISM_PARAM_INVALID;
		if (!(op->oaep_label = malloc(p.ulSourceDataLen)))
			return CKR_HOST_MEMORY;
		memcpy(op->oaep_label, p.pSourceData, p.ulSourceDataLen);
		op->oaep_label_len = p.ulSourceDataLen;
	}
	return CKR_OK;
}

/* Parameters that point at more bytes (AES-GCM's IV and AAD, OAEP's
 * label, EdDSA's context): the caller of C_*Init may free those before the
 * operation runs (the RPC server does), so they go along with the struct,
 * in the same block (one free). Each pointer's length is checked first. */
/* PKCS #11 3.0 CK_EDDSA_PARAMS (p11-kit 0.24's header lacks it). */
struct op_eddsa_params {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
};

struct op_ptr {
	size_t ptr_off, len_off; /* of the pointer and its CK_ULONG length */
};

static CK_RV op_deep_dup(const CK_MECHANISM *mech, size_t size,
			 const struct op_ptr *ptrs, size_t n, void **out)
{
	size_t total = size;
	uint8_t *p, *at;

	if (mech->ulParameterLen != size)
		return CKR_MECHANISM_PARAM_INVALID;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *src = mech->pParameter;
		CK_ULONG len;
		void *ptr;

		memcpy(&len, src + ptrs[i].len_off, sizeof(len));
		memcpy(&ptr, src + ptrs[i].ptr_off, sizeof(ptr));
		if (len > 4096 || (len && !ptr))
			return CKR_MECHANISM_PARAM_INVALID;
		total += len;
	}
	if (!(p = malloc(total)))
		return CKR_HOST_MEMORY;
	memcpy(p, mech->pParameter, size);
	at = p + size;
	for (size_t i = 0; i < n; i++) {
		CK_ULONG len;
		void *ptr, *copy = NULL;

		memcpy(&len, p + ptrs[i].len_off, sizeof(len));
		memcpy(&ptr, p + ptrs[i].ptr_off, sizeof(ptr));
		if (len) {
			memcpy(at, ptr, len);
			copy = at;
			at += len;
		}
		memcpy(p + ptrs[i].ptr_off, &copy, sizeof(copy));
	}
	*out = p;
	return CKR_OK;
}

static CK_RV op_param_dup(const CK_MECHANISM *mech, void **out)
{
	static const struct op_ptr gcm[] = {
		{ offsetof(CK_GCM_PARAMS, pIv),
		  offsetof(CK_GCM_PARAMS, ulIvLen) },
		{ offsetof(CK_GCM_PARAMS, pAAD),
		  offsetof(CK_GCM_PARAMS, ulAADLen) },
	};
	static const struct op_ptr oaep[] = {
		{ offsetof(CK_RSA_PKCS_OAEP_PARAMS, pSourceData),
		  offsetof(CK_RSA_PKCS_OAEP_PARAMS, ulSourceDataLen) },
	};
	static const struct op_ptr eddsa[] = {
		{ offsetof(struct op_eddsa_params, pContextData),
		  offsetof(struct op_eddsa_params, ulContextDataLen) },
	};

	switch (mech->mechanism) {
	case CKM_AES_GCM:
		return op_deep_dup(mech, sizeof(CK_GCM_PARAMS), gcm, 2, out);
	case CKM_RSA_PKCS_OAEP:
		return op_deep_dup(mech, sizeof(CK_RSA_PKCS_OAEP_PARAMS), oaep,
				   1, out);
	case CKM_EDDSA:
		return op_deep_dup(mech, sizeof(struct op_eddsa_params), eddsa,
				   1, out);
	default: /* no pointers inside */
		if (!(*out = malloc(mech->ulParameterLen)))
			return CKR_HOST_MEMORY;
		memcpy(*out, mech->pParameter, mech->ulParameterLen);
		return CKR_OK;
	}
}

/* A whole operation's mechanism, with a copy of its parameter. */
static CK_RV op_whole_arg(struct op *op, const CK_MECHANISM *mech)
{
	void *p = NULL;
	CK_RV rv;

	if (mech->ulParameterLen > 4096 ||
	    (mech->ulParameterLen && !mech->pParameter))
		return CKR_MECHANISM_PARAM_INVALID;
	if (mech->ulParameterLen && (rv = op_param_dup(mech, &p)) != CKR_OK)
		return rv;
	op->arg.type = mech->mechanism;
	op->arg.param = p;
	op->arg.param_len = mech->ulParameterLen;
	return CKR_OK;
}

/* slot->lock held: whether h is a token's secret key its driver encrypts
 * with (drv: the driver has the op; a module's AES key: the whole
 * operation on the token). */
static bool op_token_secret(struct app *app, struct session *s,
			    CK_OBJECT_HANDLE h, bool drv)
{
	struct obj_view v;

	return drv && obj_view(app, s, h, &v) == CKR_OK &&
	       v.kind == OBJ_SECRET && !v.secret;
}

/* slot->lock held: a verification the driver does. Its secret keys' MACs,
 * and what the host's table cannot verify; a public-key signature the
 * table knows stays on the host (the same answer without a round trip,
 * also for a key whose public half the token holds no object for). */
static bool op_verify_whole(struct app *app, struct session *s,
			    CK_OBJECT_HANDLE h, const struct mech *m)
{
	bool drv = s->slot->tok->ops->verify != NULL;

	return op_token_secret(app, s, h, drv) ||
	       (drv && !(m && (m->flags & CKF_VERIFY)));
}

/* slot->lock held. Mechanism, key and parameters into op. */
static CK_RV op_setup(struct app *app, struct session *s, enum op_type t,
		      const CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
		      struct op *op)
{
	const struct tk_mech *dm = NULL;
	CK_MECHANISM_INFO mi;
	CK_RV rv;

	if (!s->slot->tok)
		return CKR_DEVICE_REMOVED;
	op->m = mech_find(mech->mechanism);
	if (t == OP_DIGEST) { /* on the host, whatever the token */
		if (!op->m || !(op->m->flags & CKF_DIGEST))
			return CKR_MECHANISM_INVALID;
		/* unless a key comes (op_digest_key): the driver's then */
		op->keep_parts = s->slot->tok->ops->digest_parts != NULL;
		op->arg.type = mech->mechanism;
		return CKR_OK;
	}
	if (!slot_mech(s->slot, mech->mechanism, &mi, &dm) ||
	    !(mi.flags & op_flag[t]))
		return CKR_MECHANISM_INVALID;
	/* The token's whole operations; verify and encrypt stay on the host
	 * where the table knows them. */
	op->whole =
	    dm && dm->mode == TK_MECH_WHOLE &&
	    (t == OP_SIGN || t == OP_DECRYPT ||
	     (t == OP_ENCRYPT &&
	      op_token_secret(app, s, key, s->slot->tok->ops->encrypt)) ||
	     (t == OP_VERIFY && op_verify_whole(app, s, key, op->m)));
	if (op->whole && (rv = op_whole_arg(op, mech)) != CKR_OK)
		return rv;
	if (!op->whole && (!op->m || !(op->m->flags & op_flag[t])))
		return CKR_MECHANISM_INVALID;
	rv = op_key(app, s, key,
		    (t == OP_SIGN || t == OP_DECRYPT) ? OBJ_PRIV : OBJ_PUB, op);
	if (rv != CKR_OK || (op->whole && !op->pub))
		return rv; /* a secret key's: the driver checks the rest */
	if (op->m && !(op->m->families & alg_family(op->alg)))
		return CKR_KEY_TYPE_INCONSISTENT;
	if (op->whole || !op->m)
		return CKR_OK; /* parameters are the driver's */
	if (op->m->pad == PAD_PSS)
		return op_params_pss(op, mech);
	if (op->m->pad == PAD_OAEP)
		return op_params_oaep(op, mech);
	return CKR_OK;
}

CK_RV op_begin(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	       const CK_MECHANISM *mech, CK_OBJECT_HANDLE key)
{
	struct session *s;
	struct op *op;
	CK_RV rv;

	if (!mech)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, h, s, rv);
	op = &s->op[t];
	if (op->active) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	pthread_mutex_lock(&s->slot->lock);
	rv = op_setup(app, s, t, mech, key, op);
	pthread_mutex_unlock(&s->slot->lock);
	if (rv == CKR_OK && op->need_login &&
	    app_user(app, s->slot) != CKU_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	if (rv == CKR_OK && !op->whole && op->m->md) {
		op->md = EVP_MD_CTX_new();
		if (!op->md ||
		    !EVP_DigestInit_ex(op->md, EVP_get_digestbyname(op->m->md),
				       NULL))
			rv = CKR_HOST_MEMORY;
	}
	buf_init(&op->acc, OP_BUFFER_MAX);
	op->acc.secret = true; /* plaintext to encrypt */
	op->acc_budget = &app->collected;
	buf_init(&op->result, 0);
	op->result.secret = true;
	if (rv == CKR_OK)
		op->active = true;
	else
		op_reset(op);
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

static CK_RV op_collect(struct op *op, const uint8_t *part, size_t len)
{
	if (len > OP_BUFFER_MAX - op->acc.len)
		return CKR_DATA_LEN_RANGE;
	if (len && !op_charge(op, len))
		return CKR_HOST_MEMORY;
	buf_add(&op->acc, part, len);
	return buf_failed(&op->acc) ? CKR_DATA_LEN_RANGE : CKR_OK;
}

/* A digest's part kept for a C_DigestKey to come, within the cap and the
 * budgets. Beyond them the digest goes on in software alone (a later key:
 * CKR_HOST_MEMORY), unless a key came already: then it fails. */
static CK_RV op_keep(struct op *op, const uint8_t *part, size_t len)
{
	CK_RV rv;

	if (op->parts_lost)
		return CKR_OK;
	if ((rv = op_collect(op, part, len)) == CKR_OK || op->nkeys)
		return rv;
	op->parts_lost = true;
	op_uncharge(op);
	buf_free(&op->acc);
	return CKR_OK;
}

/* Feeds a part: hash-and-sign mechanisms hash, the others collect. */
CK_RV op_update(struct op *op, const uint8_t *part, size_t len)
{
	op->updated = true;
	if (op->md && !EVP_DigestUpdate(op->md, part, len))
		return CKR_FUNCTION_FAILED;
	if (op->md)
		return op->keep_parts ? op_keep(op, part, len) : CKR_OK;
	return op_collect(op, part, len);
}

/* The message for the final step: a digest for hash mechanisms, the data
 * (single-part) or what was collected (multi-part) for the others. */
CK_RV op_message(struct op *op, const uint8_t *data, size_t len, uint8_t *hash,
		 size_t *hash_len, const uint8_t **msg, size_t *msg_len)
{
	unsigned int n = 0;

	if (!op->md) {
		*msg = op->updated ? op->acc.data : data;
		*msg_len = op->updated ? op->acc.len : len;
		return CKR_OK;
	}
	if (!op->updated && !EVP_DigestUpdate(op->md, data, len))
		return CKR_FUNCTION_FAILED;
	if (!EVP_DigestFinal_ex(op->md, hash, &n))
		return CKR_FUNCTION_FAILED;
	*hash_len = n;
	*msg = hash;
	*msg_len = n;
	return CKR_OK;
}

/* What the calls need besides the data: out_len for an answer; verify's
 * out is the signature it checks (out_len its length). */
static bool op_answer_bad(enum op_type t, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	return t == OP_VERIFY ? !out : !out_len;
}

/* Locks the app and finds s's active operation of type t; NULL with *rv
 * the answer (app unlocked) when there is none. */
static struct op *op_enter(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
			   struct session **sp, CK_RV *rv)
{
	struct session *s;

	pthread_mutex_lock(&app->lock);
	if (!(s = app_session(app, h, rv)))
		goto out;
	if (s->op[t].active) {
		*sp = s;
		return &s->op[t];
	}
	*rv = CKR_OPERATION_NOT_INITIALIZED;
out:
	pthread_mutex_unlock(&app->lock);
	return NULL;
}

CK_RV op_single(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
		const uint8_t *data, size_t len, CK_BYTE_PTR out,
		CK_ULONG_PTR out_len, op_finish_fn finish)
{
	struct session *s;
	struct op *op;
	CK_RV rv;

	if (!(op = op_enter(app, h, t, &s, &rv)))
		return rv;
	/* ciphertext is never empty: C_Decrypt wants it even for 0 bytes */
	if ((!data && (len || t == OP_DECRYPT)) ||
	    op_answer_bad(t, out, out_len))
		rv = CKR_ARGUMENTS_BAD;
	else if (op->updated)
		rv = CKR_OPERATION_ACTIVE;
	else
		rv = finish(app, s, data, len, out, out_len);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV op_part(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	      const uint8_t *part, size_t len, CK_BYTE_PTR out,
	      CK_ULONG_PTR out_len)
{
	bool cipher = t == OP_ENCRYPT || t == OP_DECRYPT;
	struct session *s;
	struct op *op;
	CK_RV rv = CKR_OK;

	if (!(op = op_enter(app, h, t, &s, &rv)))
		return rv;
	if ((!part && len) || (cipher && !out_len))
		rv = CKR_ARGUMENTS_BAD;
	else if (op->have_result) /* a C_Decrypt kept its answer */
		rv = CKR_OPERATION_ACTIVE;
	else if ((!cipher || out) && (rv = op_update(op, part, len)) != CKR_OK)
		op_reset(op);
	if (rv == CKR_OK && cipher)
		*out_len = 0;
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV op_final(struct app *app, CK_SESSION_HANDLE h, enum op_type t,
	       CK_BYTE_PTR out, CK_ULONG_PTR out_len, op_finish_fn finish)
{
	struct session *s;
	struct op *op;
	CK_RV rv;

	if (!(op = op_enter(app, h, t, &s, &rv)))
		return rv;
	if (op_answer_bad(t, out, out_len))
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = finish(app, s, op->acc.data, op->acc.len, out, out_len);
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* C_DigestKey: a token's secret key into s's digest, marked in its kept
 * parts; a refused key adds nothing and the digest goes on. */
CK_RV op_digest_key(struct app *app, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
	bool priv = false;
	struct obj_view v;
	struct session *s;
	struct op *op;
	CK_RV rv = CKR_OK; /* op_enter sets it only when it fails */

	if (!(op = op_enter(app, h, OP_DIGEST, &s, &rv)))
		return rv;
	pthread_mutex_lock(&s->slot->lock);
	if (!op->keep_parts)
		rv = CKR_FUNCTION_NOT_SUPPORTED; /* the driver cannot */
	else if (obj_view(app, s, key, &v) != CKR_OK)
		rv = CKR_KEY_HANDLE_INVALID;
	else if (v.kind != OBJ_SECRET || v.secret)
		rv = CKR_KEY_INDIGESTIBLE; /* only a token's secret keys */
	else if (op->parts_lost || op->nkeys == OP_DIGEST_KEYS)
		rv = CKR_HOST_MEMORY;
	else
		priv = obj_is_private(&v);
	pthread_mutex_unlock(&s->slot->lock);
	if (rv == CKR_OK && priv && app_user(app, s->slot) != CKU_USER)
		rv = CKR_USER_NOT_LOGGED_IN;
	if (rv == CKR_OK) {
		op->need_login |= priv;
		op->keys[op->nkeys].at = op->acc.len;
		op->keys[op->nkeys++].handle = v.handle;
		op->updated = true;
	}
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV op_digest_parts(struct app *app, struct session *s, struct op *op,
		      CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct tk_digest_part p[2 * OP_DIGEST_KEYS + 1];
	size_t n = 0, at = 0, len = *out_len;
	CK_RV rv;
	int r;

	if ((rv = op_login_check(app, s, op)) != CKR_OK)
		return rv;
	for (size_t i = 0; i <= op->nkeys; i++) {
		size_t end = i < op->nkeys ? op->keys[i].at : op->acc.len;

		if (end > at)
			p[n++] =
			    (struct tk_digest_part){ .data = op->acc.data + at,
						     .len = end - at };
		at = end;
		if (i < op->nkeys)
			p[n++] = (struct tk_digest_part){
				.is_key = true, .key = op->keys[i].handle
			};
	}
	if ((r = op_driver_raw(app, s, op, (const uint8_t *)p, n, out, &len)) <
	    0)
		return rv_from_tk_digest(r);
	*out_len = len;
	return CKR_OK;
}
