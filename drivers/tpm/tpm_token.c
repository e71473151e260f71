/* The TPM token's ops (driver.h): PINs through tpm_pin.c, objects through
 * tpm_objs.c, private-key operations raw (TK_MECH_RAW: the front end
 * hashes and pads, as for PIV). Loaded keys stay loaded between
 * operations; the TPM layer context-saves them where slots are few. */
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/objects.h>
#include <openssl/sha.h>

#include "drv_log.h"
#include "p11.h"
#include "tokend-pkcs11.h"
#include "tpm_int.h"

static struct tpm_tok *tok_of(struct tk_token *tok)
{
	return (struct tpm_tok *)tok;
}

/* Takes the TPM for a call: TK_ERR_REMOVED when it went away. */
static int io_begin(struct tpm_tok *t)
{
	pthread_mutex_lock(&t->drv->io);
	if (t->dead || !t->drv->ctx || t->drv->gen != t->gen) {
		t->dead = true;
		pthread_mutex_unlock(&t->drv->io);
		return TK_ERR_REMOVED;
	}
	return 0;
}

static int io_end(struct tpm_tok *t, int rc)
{
	rc = tpm_drv_io_done(t->drv, t->gen, rc);
	if (rc == TK_ERR_REMOVED) {
		t->dead = true;
		/* the context is gone: forget the keys loaded in it */
		for (size_t i = 0; i < t->nobjs; i++)
			t->objs[i].key = NULL;
	}
	pthread_mutex_unlock(&t->drv->io);
	return rc;
}

static void secrets_wipe(struct tpm_tok *t)
{
	explicit_bzero(t->s, sizeof(t->s));
	explicit_bzero(t->so_pin, sizeof(t->so_pin));
	t->so_len = 0;
	t->so_pending = false;
	t->user_in = t->so_in = false;
}

static void keys_unload(struct tpm_tok *t)
{
	for (size_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].key) {
			if (!t->dead)
				tpm_key_unload(t->drv->ctx, t->objs[i].key);
			t->objs[i].key = NULL;
		}
}

static void tok_close(struct tk_token *tok)
{
	struct tpm_tok *t = tok_of(tok);

	pthread_mutex_lock(&t->drv->io);
	if (t->drv->gen != t->gen || !t->drv->ctx)
		t->dead = true;
	keys_unload(t);
	tpm_objs_free(t);
	pthread_mutex_unlock(&t->drv->io);
	secrets_wipe(t);
	tpm_pin_clear(&t->pin);
	tpm_store_free(&t->store);
	free(t);
}

static int tok_info(struct tk_token *tok, struct tk_token_info *out)
{
	struct tpm_tok *t = tok_of(tok);
	const struct tpm_caps *c = &t->caps; /* no TPM round trip */

	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "%s", t->drv->label);
	snprintf(out->manufacturer, sizeof(out->manufacturer), "%s",
		 c->manufacturer[0] ? c->manufacturer : "TPM");
	snprintf(out->model, sizeof(out->model), "TPM 2.0");
	snprintf(out->serial, sizeof(out->serial), "%s", t->serial);
	out->fw_major = (uint8_t)(c->fw1 >> 16);
	out->fw_minor = (uint8_t)c->fw1;
	out->pin_min = 4;
	out->pin_max = 64;
	/* tokend never locks the PIN (tpm_pin.c): a counter that never runs
	 * low, so the pin guard never refuses for it. */
	out->pin_tries_left = 100;
	out->pin_tries_max = 100;
	out->puk_tries_left = -1;
	out->uninitialised = !tpm_pin_initialized(&t->pin);
	out->user_pin_unset = !tpm_pin_user_set(&t->pin);
	out->login_not_before_ms = tpm_pin_not_before(&t->pin);
	out->caps = TK_CAP_GENERATE | TK_CAP_DELETE_KEY | TK_CAP_RESET;
	if (c->rsa2048)
		out->caps |= TK_CAP_RSA2048;
	if (c->rsa3072)
		out->caps |= TK_CAP_RSA3072;
	if (c->p256)
		out->caps |= TK_CAP_P256;
	if (c->p384)
		out->caps |= TK_CAP_P384;
	out->login = TK_LOGIN_USER | TK_LOGIN_SO | TK_LOGIN_INIT_PIN |
		     TK_LOGIN_SO_RESET | TK_LOGIN_USER_WRITES;
	return 0;
}

static int tok_objects(struct tk_token *tok, const struct tk_objects **out)
{
	return tpm_objs_view(tok_of(tok), out);
}

/* ---- login ---- */

static int tok_login(struct tk_token *tok, enum tk_user user,
		     const uint8_t *secret, size_t len)
{
	struct tpm_tok *t = tok_of(tok);
	uint8_t s[TPM_SECRET_LEN];
	int r;

	if (user == TK_USER_PUK)
		return TK_ERR_UNSUPPORTED;
	if (!secret || len == 0)
		return TK_ERR_PIN_INCORRECT;
	if (user == TK_USER_ADMIN && len > sizeof(t->so_pin))
		return TK_ERR_PIN_INCORRECT;
	if (user == TK_USER_ADMIN && !tpm_pin_initialized(&t->pin)) {
		/* The first C_InitToken: this becomes the SO PIN at reset. */
		memcpy(t->so_pin, secret, len);
		t->so_len = len;
		t->so_pending = true;
		return 0;
	}
	if ((r = io_begin(t)) < 0)
		return r;
	r = io_end(t,
		   tpm_pin_check(&t->pin, t->drv->ctx, user, secret, len, s));
	if (r == 0) {
		memcpy(t->s, s, sizeof(s));
		if (user == TK_USER_ADMIN) {
			t->so_in = true;
			memcpy(t->so_pin, secret, len);
			t->so_len = len;
		} else {
			t->user_in = true;
		}
	}
	explicit_bzero(s, sizeof(s));
	return r;
}

static int tok_logout(struct tk_token *tok, enum tk_user user)
{
	struct tpm_tok *t = tok_of(tok);

	if (user == TK_USER_ADMIN) {
		t->so_in = false;
		t->so_pending = false;
		explicit_bzero(t->so_pin, sizeof(t->so_pin));
		t->so_len = 0;
	} else {
		t->user_in = false;
	}
	if (!t->so_in && !t->user_in) {
		explicit_bzero(t->s, sizeof(t->s));
		if (io_begin(t) == 0) {
			keys_unload(t);
			io_end(t, 0);
		}
	}
	return 0;
}

static int tok_pin_status(struct tk_token *tok, int *tries_left, bool *verified)
{
	struct tpm_tok *t = tok_of(tok);

	*tries_left = 100;
	if (verified)
		*verified = t->user_in;
	return t->dead ? TK_ERR_REMOVED : 0;
}

static bool have_secret(const struct tpm_tok *t)
{
	return t->user_in || t->so_in;
}

static int tok_set_pin(struct tk_token *tok, const struct tk_setpin *req,
		       const uint8_t *new_pin, size_t new_len)
{
	struct tpm_tok *t = tok_of(tok);
	uint8_t s[TPM_SECRET_LEN];
	int r;

	if (req->sets == TK_USER_PUK || req->spends != req->sets)
		return TK_ERR_UNSUPPORTED;
	if (!new_len || new_len > sizeof(t->so_pin))
		return TK_ERR_ARG;
	if ((r = io_begin(t)) < 0)
		return r;
	r = tpm_pin_check(&t->pin, t->drv->ctx, req->sets, req->old,
			  req->old_len, s);
	if (r == 0)
		r = tpm_pin_set(&t->pin, t->drv->ctx, req->sets, s, new_pin,
				new_len);
	explicit_bzero(s, sizeof(s));
	return io_end(t, r);
}

/* C_SetPIN: "so:<SO PIN>", or the SO logged in and no user (PKCS#11: the
 * PIN of who is logged in; token-wide here), changes the SO PIN; anything
 * else is the user PIN changing itself. */
static int tok_setpin_parse(struct tk_token *tok, const uint8_t *old,
			    size_t old_len, struct tk_setpin *q)
{
	const struct tpm_tok *t = tok_of(tok);
	size_t n = strlen(TOKEND_SETPIN_SO_PREFIX);

	q->spends = q->sets =
	    t->so_in && !t->user_in ? TK_USER_ADMIN : TK_USER_PIN;
	q->old = old;
	q->old_len = old_len;
	if (old_len >= n && memcmp(old, TOKEND_SETPIN_SO_PREFIX, n) == 0) {
		q->spends = q->sets = TK_USER_ADMIN;
		q->old += n;
		q->old_len -= n;
	}
	return 0;
}

static int tok_init_pin(struct tk_token *tok, const uint8_t *pin, size_t len)
{
	struct tpm_tok *t = tok_of(tok);
	int r;

	if (!t->so_in)
		return TK_ERR_AUTH_REQUIRED;
	if (!len || len > 64)
		return TK_ERR_ARG;
	if ((r = io_begin(t)) < 0)
		return r;
	return io_end(
	    t, tpm_pin_set(&t->pin, t->drv->ctx, TK_USER_PIN, t->s, pin, len));
}

/* C_InitToken after the SO's login: the first sets the SO PIN, the later
 * ones wipe every object and make a new token secret. */
static int tok_reset(struct tk_token *tok)
{
	struct tpm_tok *t = tok_of(tok);
	int r;

	if (!t->so_pending && !t->so_in)
		return TK_ERR_AUTH_REQUIRED;
	if ((r = io_begin(t)) < 0)
		return r;
	keys_unload(t);
	while (t->nobjs && (r = tpm_obj_remove(t, &t->objs[0])) == 0)
		;
	if (r == 0)
		r = tpm_pin_init_token(&t->pin, t->drv->ctx, t->so_pin,
				       t->so_len, t->s);
	r = io_end(t, r);
	secrets_wipe(t);
	if (r == 0)
		DRV_NOTICE("TPM token initialised (SO PIN set, objects wiped)");
	return r;
}

/* ---- keys ---- */

/* o loaded in the TPM, with the auth value derived from the token secret.
 */
static int key_ready(struct tpm_tok *t, struct tpm_obj *o)
{
	uint8_t auth[TPM_AUTH_MAX];
	int r;

	if (o->key)
		return 0;
	if (!have_secret(t))
		return TK_ERR_AUTH_REQUIRED;
	if ((r = tpm_pin_key_auth(t->s, o->rec.name, auth)) == 0)
		r = tpm_key_load(t->drv->ctx, &o->rec.blob, auth, sizeof(auth),
				 &o->key);
	explicit_bzero(auth, sizeof(auth));
	return r;
}

static struct tpm_obj *key_get(struct tpm_tok *t, uint32_t handle)
{
	struct tpm_obj *o = tpm_obj_find(t, handle);

	return o && o->rec.kind == TPM_REC_KEY ? o : NULL;
}

static size_t key_bytes(const struct tpm_obj *o)
{
	return ((size_t)o->rec.bits + 7) / 8;
}

/* r||s into DER, as the front end takes a device's ECDSA answer. */
static int ecdsa_der(const uint8_t *rs, size_t len, uint8_t *out,
		     size_t *out_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL);
	unsigned char *p = out;
	int n, rc = TK_ERR_CRYPTO;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(sig, NULL)) <= 0 || (size_t)n > *out_len) {
		rc = TK_ERR_TOO_LARGE;
		goto out;
	}
	*out_len = (size_t)i2d_ECDSA_SIG(sig, &p);
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

/* Holds the TPM with key o loaded: 0, and io_end() follows the operation;
 * or an error, the TPM released. */
static int key_begin(struct tpm_tok *t, struct tpm_obj *o)
{
	int r;

	if ((r = io_begin(t)) < 0)
		return r;
	if ((r = key_ready(t, o)) < 0)
		return io_end(t, r);
	return 0;
}

static int tok_sign(struct tk_token *tok, uint32_t key,
		    const struct tk_mech_arg *mech, const uint8_t *in,
		    size_t in_len, uint8_t *out, size_t *out_len)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = key_get(t, key);
	uint8_t rs[2 * 66];
	size_t rs_len = sizeof(rs);
	bool ec;
	int r;

	if (mech)
		return TK_ERR_UNSUPPORTED;
	if (!o)
		return TK_ERR_NOT_FOUND;
	ec = o->rec.key_kind == TPM_KEY_EC;
	if (!out) {
		*out_len = ec ? 2 * (key_bytes(o) + 3) + 3 : key_bytes(o);
		return 0;
	}
	if ((r = key_begin(t, o)) < 0)
		return r;
	if (ec)
		r = tpm_ecdsa(t->drv->ctx, o->key, in, in_len, rs, &rs_len);
	else
		r = tpm_rsa_raw(t->drv->ctx, o->key, in, in_len, out, out_len);
	r = io_end(t, r);
	if (r == 0 && ec)
		r = ecdsa_der(rs, rs_len, out, out_len);
	return r;
}

static int tok_decrypt(struct tk_token *tok, uint32_t key,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t in_len, uint8_t *out, size_t *out_len)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = key_get(t, key);
	int r;

	if (mech)
		return TK_ERR_UNSUPPORTED;
	if (!o || o->rec.key_kind != TPM_KEY_RSA)
		return TK_ERR_NOT_FOUND;
	if (!out) {
		*out_len = key_bytes(o);
		return 0;
	}
	if ((r = key_begin(t, o)) < 0)
		return r;
	return io_end(
	    t, tpm_rsa_raw(t->drv->ctx, o->key, in, in_len, out, out_len));
}

static int tok_derive(struct tk_token *tok, uint32_t key, const uint8_t *peer,
		      size_t peer_len, uint8_t *out, size_t *out_len)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = key_get(t, key);
	int r;

	if (!o || o->rec.key_kind != TPM_KEY_EC)
		return TK_ERR_NOT_FOUND;
	if (!out) {
		*out_len = key_bytes(o);
		return 0;
	}
	if ((r = key_begin(t, o)) < 0)
		return r;
	return io_end(
	    t, tpm_ecdh(t->drv->ctx, o->key, peer, peer_len, out, out_len));
}

/* ---- administration ---- */

static int rec_name(struct tpm_tok *t, struct tpm_rec *rec, const char *prefix)
{
	uint8_t rnd[8];
	int r = tpm_random(t->drv->ctx, rnd, sizeof(rnd));

	if (r == 0)
		tpm_store_name(rec->name, prefix, rnd);
	return r;
}

/* A key without a CKA_LABEL (generate) is named after its CKA_ID: "tpm-"
 * and up to 16 bytes of it in hex. */
static void rec_label(struct tpm_rec *rec)
{
	size_t k = (size_t)snprintf(rec->label, sizeof(rec->label), "tpm-");

	for (size_t i = 0; i < rec->id.len && i < 16; i++, k += 2)
		snprintf(rec->label + k, sizeof(rec->label) - k, "%02x",
			 rec->id.b[i]);
}

/* label: the key's CKA_LABEL, or NULL for rec_label's. */
static int gen_locked(struct tpm_tok *t, const struct tk_id *id,
		      enum tk_alg alg, const char *label, uint32_t *handle)
{
	struct tpm_rec rec = { .kind = TPM_REC_KEY };
	uint8_t auth[TPM_AUTH_MAX];
	int r;

	rec.id = *id;
	if (label)
		snprintf(rec.label, sizeof(rec.label), "%s", label);
	else
		rec_label(&rec);
	rec.key_kind =
	    alg == TK_ALG_P256 || alg == TK_ALG_P384 ? TPM_KEY_EC : TPM_KEY_RSA;
	rec.bits = alg == TK_ALG_P256      ? 256
		   : alg == TK_ALG_P384    ? 384
		   : alg == TK_ALG_RSA2048 ? 2048
					   : 3072;
	if ((r = rec_name(t, &rec, "key-")) < 0 ||
	    (r = tpm_pin_key_auth(t->s, rec.name, auth)) < 0 ||
	    (r = tpm_key_create(t->drv->ctx, rec.key_kind, rec.bits, auth,
				sizeof(auth), &rec.blob)) < 0 ||
	    (r = tpm_store_write(t->store, &rec)) < 0)
		goto out;
	if ((r = tpm_obj_add(t, &rec, handle)) < 0)
		(void)tpm_store_remove(t->store, rec.name);
out:
	explicit_bzero(auth, sizeof(auth));
	tpm_rec_clear(&rec);
	return r;
}

static bool alg_ok(enum tk_alg alg)
{
	return alg == TK_ALG_P256 || alg == TK_ALG_P384 ||
	       alg == TK_ALG_RSA2048 || alg == TK_ALG_RSA3072;
}

static int gen_common(struct tpm_tok *t, const struct tk_id *id,
		      enum tk_alg alg, const char *label, uint32_t *handle)
{
	int r;

	if (!have_secret(t))
		return TK_ERR_AUTH_REQUIRED;
	if (!alg_ok(alg))
		return TK_ERR_UNSUPPORTED;
	if ((r = io_begin(t)) < 0)
		return r;
	return io_end(t, gen_locked(t, id, alg, label, handle));
}

static int tok_generate(struct tk_token *tok, const struct tk_id *id,
			enum tk_alg alg, enum tk_pin_policy pin,
			enum tk_touch_policy touch, uint32_t *handle)
{
	(void)pin;
	(void)touch;
	return gen_common(tok_of(tok), id, alg, NULL, handle);
}

static const struct tk_attr *tmpl_get(const struct tk_attr *a, size_t n,
				      unsigned long type)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].type == type)
			return &a[i];
	return NULL;
}

/* The algorithm of C_GenerateKeyPair's mechanism and public template;
 * TK_ERR_NOT_FOUND (CKR_ATTRIBUTE_VALUE_INVALID) for a size or curve the
 * TPM token does not make. */
static int tmpl_alg(const struct tk_mech_arg *mech, const struct tk_attr *pub,
		    size_t npub, const struct tk_attr *priv, size_t npriv,
		    enum tk_alg *alg)
{
	const struct tk_attr *a;
	const unsigned char *p;
	ASN1_OBJECT *oid;
	CK_ULONG bits;
	int nid;

	*alg = TK_ALG_NONE;
	if (mech->type == CKM_RSA_PKCS_KEY_PAIR_GEN) {
		a = tmpl_get(pub, npub, CKA_MODULUS_BITS);
		if (!a || !a->value || a->len != sizeof(bits))
			return TK_ERR_NOT_FOUND;
		memcpy(&bits, a->value, sizeof(bits));
		/* The TPM makes keys with e = 65537 only. */
		a = tmpl_get(pub, npub, CKA_PUBLIC_EXPONENT);
		if (a && !(a->len == 3 && a->value &&
			   memcmp(a->value, "\x01\x00\x01", 3) == 0))
			return TK_ERR_NOT_FOUND;
		*alg = bits == 2048   ? TK_ALG_RSA2048
		       : bits == 3072 ? TK_ALG_RSA3072
				      : TK_ALG_NONE;
	} else if (mech->type == CKM_EC_KEY_PAIR_GEN) {
		if (!(a = tmpl_get(pub, npub, CKA_EC_PARAMS)))
			a = tmpl_get(priv, npriv, CKA_EC_PARAMS);
		if (!a || !a->value)
			return TK_ERR_NOT_FOUND;
		p = a->value;
		if (!(oid = d2i_ASN1_OBJECT(NULL, &p, (long)a->len)))
			return TK_ERR_NOT_FOUND;
		nid = OBJ_obj2nid(oid);
		ASN1_OBJECT_free(oid);
		*alg = nid == NID_X9_62_prime256v1 ? TK_ALG_P256
		       : nid == NID_secp384r1      ? TK_ALG_P384
						   : TK_ALG_NONE;
	} else {
		return TK_ERR_UNSUPPORTED;
	}
	return *alg == TK_ALG_NONE ? TK_ERR_NOT_FOUND : 0;
}

/* C_GenerateKeyPair with the application's templates: the key keeps the
 * CKA_LABEL given (the private template's, else the public one's). */
static int tok_generate_tmpl(struct tk_token *tok, const struct tk_id *id,
			     const struct tk_mech_arg *mech,
			     const struct tk_attr *pub, size_t npub,
			     const struct tk_attr *priv, size_t npriv,
			     uint32_t *handle)
{
	const struct tk_attr *a = tmpl_get(priv, npriv, CKA_LABEL);
	char label[sizeof(((struct tpm_rec *)0)->label)];
	enum tk_alg alg;
	int r;

	if (!a)
		a = tmpl_get(pub, npub, CKA_LABEL);
	if (a && (a->len >= sizeof(label) || (a->len && !a->value)))
		return TK_ERR_NOT_FOUND;
	if (a) {
		memcpy(label, a->value, a->len);
		label[a->len] = 0;
	}
	if ((r = tmpl_alg(mech, pub, npub, priv, npriv, &alg)) < 0)
		return r;
	return gen_common(tok_of(tok), id, alg, a ? label : NULL, handle);
}

static int tok_write_cert(struct tk_token *tok, const struct tk_id *id,
			  const uint8_t *der, size_t len, uint32_t *handle)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_rec rec = { .kind = TPM_REC_CERT };
	struct tpm_obj *old = NULL;
	int r;

	if (!len || len > TPM_STORE_FILE_MAX / 2)
		return TK_ERR_TOO_LARGE;
	rec.id = *id;
	rec_label(&rec);
	if (!(rec.value = malloc(len)))
		return TK_ERR_NOMEM;
	memcpy(rec.value, der, len);
	rec.len = len;
	for (size_t i = 0; i < t->nobjs; i++) {
		const struct tpm_rec *o = &t->objs[i].rec;

		if (o->id.len != id->len || memcmp(o->id.b, id->b, id->len))
			continue;
		if (o->kind == TPM_REC_CERT && !old)
			old = &t->objs[i];
		/* write_cert gets no CKA_LABEL: the certificate takes its
		 * key's, as the label an application gave the pair. */
		if (o->kind == TPM_REC_KEY)
			memcpy(rec.label, o->label, sizeof(rec.label));
	}
	if ((r = io_begin(t)) < 0)
		goto out;
	r = io_end(t, rec_name(t, &rec, "cert-"));
	if (r == 0)
		r = tpm_store_write(t->store, &rec);
	if (r == 0 && old && (r = tpm_obj_remove(t, old)) < 0)
		(void)tpm_store_remove(t->store, rec.name);
	if (r == 0 && (r = tpm_obj_add(t, &rec, handle)) < 0)
		(void)tpm_store_remove(t->store, rec.name);
out:
	tpm_rec_clear(&rec);
	return r;
}

static int tok_delete_cert(struct tk_token *tok, uint32_t key)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = tpm_obj_find(t, key);

	if (o && o->rec.kind == TPM_REC_KEY)
		o = tpm_obj_cert_of(t, o);
	if (!o || o->rec.kind != TPM_REC_CERT)
		return TK_ERR_NOT_FOUND;
	return tpm_obj_remove(t, o);
}

static int tok_delete_key(struct tk_token *tok, uint32_t key)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = key_get(t, key);
	int r;

	if (!o)
		return TK_ERR_NOT_FOUND;
	if ((r = io_begin(t)) < 0)
		return r;
	return io_end(t, tpm_obj_remove(t, o));
}

static int data_rec(const struct tk_attr *tmpl, size_t n, struct tpm_rec *rec)
{
	const struct tk_attr *v = tmpl_get(tmpl, n, CKA_VALUE);
	const struct tk_attr *a;

	if (!v || !v->len)
		return TK_ERR_NOT_FOUND;
	if (v->len > TPM_STORE_FILE_MAX / 2)
		return TK_ERR_TOO_LARGE;
	if ((a = tmpl_get(tmpl, n, CKA_LABEL))) {
		if (a->len >= sizeof(rec->label))
			return TK_ERR_ARG;
		memcpy(rec->label, a->value, a->len);
	}
	if ((a = tmpl_get(tmpl, n, CKA_APPLICATION))) {
		if (a->len >= sizeof(rec->application))
			return TK_ERR_ARG;
		memcpy(rec->application, a->value, a->len);
	}
	if ((a = tmpl_get(tmpl, n, CKA_OBJECT_ID))) {
		if (a->len > sizeof(rec->oid))
			return TK_ERR_ARG;
		memcpy(rec->oid, a->value, a->len);
		rec->oid_len = a->len;
	}
	if ((a = tmpl_get(tmpl, n, CKA_PRIVATE)) && a->len == sizeof(CK_BBOOL))
		rec->priv = *(const CK_BBOOL *)a->value;
	if (!(rec->value = malloc(v->len)))
		return TK_ERR_NOMEM;
	memcpy(rec->value, v->value, v->len);
	rec->len = v->len;
	return 0;
}

static int tok_create_data(struct tk_token *tok, const struct tk_attr *tmpl,
			   size_t n, uint32_t *handle)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_rec rec = { .kind = TPM_REC_DATA };
	int r;

	if ((r = data_rec(tmpl, n, &rec)) < 0)
		goto out;
	if ((r = io_begin(t)) < 0)
		goto out;
	r = io_end(t, rec_name(t, &rec, "data-"));
	if (r == 0)
		r = tpm_store_write(t->store, &rec);
	if (r == 0 && (r = tpm_obj_add(t, &rec, handle)) < 0)
		(void)tpm_store_remove(t->store, rec.name);
out:
	tpm_rec_clear(&rec);
	return r;
}

static int tok_delete_data(struct tk_token *tok, uint32_t handle)
{
	struct tpm_tok *t = tok_of(tok);
	struct tpm_obj *o = tpm_obj_find(t, handle);

	if (!o || o->rec.kind != TPM_REC_DATA)
		return TK_ERR_NOT_FOUND;
	return tpm_obj_remove(t, o);
}

/* TPM2_GetRandom (32 bytes a command, tpm_random), a piece at a time so
 * one large request does not hold the TPM from every other caller. */
#define TPM_RANDOM_PIECE 1024

static int tok_random(struct tk_token *tok, uint8_t *out, size_t len)
{
	struct tpm_tok *t = tok_of(tok);
	int r = 0;

	while (len && r == 0) {
		size_t n = len < TPM_RANDOM_PIECE ? len : TPM_RANDOM_PIECE;

		if ((r = io_begin(t)) < 0)
			break;
		r = io_end(t, tpm_random(t->drv->ctx, out, n));
		out += n;
		len -= n;
	}
	return r;
}

static const struct tk_token_ops tok_ops = {
	.close = tok_close,
	.info = tok_info,
	.objects = tok_objects,
	.login = tok_login,
	.logout = tok_logout,
	.pin_status = tok_pin_status,
	.sign = tok_sign,
	.decrypt = tok_decrypt,
	.derive = tok_derive,
	.generate = tok_generate,
	.generate_tmpl = tok_generate_tmpl,
	.write_cert = tok_write_cert,
	.delete_cert = tok_delete_cert,
	.delete_key = tok_delete_key,
	.create_data = tok_create_data,
	.delete_data = tok_delete_data,
	.setpin_parse = tok_setpin_parse,
	.set_pin = tok_set_pin,
	.init_pin = tok_init_pin,
	.reset = tok_reset,
	.random = tok_random,
};

/* A stable serial: the first 16 hex digits of SHA-256 over a random
 * identity kept in the state directory ("serial"). */
static int tok_serial(struct tpm_tok *t)
{
	struct tpm_rec rec;
	uint8_t h[SHA256_DIGEST_LENGTH];
	int r = tpm_store_read(t->store, "serial", &rec);

	if (r < 0 || rec.kind != TPM_REC_COUNTER || rec.id.len < 8) {
		tpm_rec_clear(&rec);
		rec = (struct tpm_rec){ .kind = TPM_REC_COUNTER };
		snprintf(rec.name, sizeof(rec.name), "serial");
		rec.id.len = 16;
		if ((r = tpm_random(t->drv->ctx, rec.id.b, rec.id.len)) < 0 ||
		    (r = tpm_store_write(t->store, &rec)) < 0)
			return r;
	}
	SHA256(rec.id.b, rec.id.len, h);
	for (int i = 0; i < 8; i++)
		snprintf(t->serial + 2 * i, 3, "%02X", h[i]);
	tpm_rec_clear(&rec);
	return 0;
}

int tpm_tok_open(struct tpm_drv *d, struct tk_token **out)
{
	struct tpm_tok *t = calloc(1, sizeof(*t));
	int r;

	*out = NULL;
	if (!t)
		return TK_ERR_NOMEM;
	t->base.ops = &tok_ops;
	t->drv = d;
	t->next_handle = 1;
	if ((r = tpm_store_open(d->state, &t->store)) < 0) {
		free(t);
		return r;
	}
	pthread_mutex_lock(&d->io);
	t->gen = d->gen;
	t->caps = d->caps;
	if (!d->ctx)
		r = TK_ERR_NOT_FOUND;
	else if ((r = tpm_pin_load(&t->pin, t->store)) == 0 &&
		 (r = tpm_drv_io_done(d, t->gen, tok_serial(t))) == 0)
		r = tpm_objs_load(t);
	pthread_mutex_unlock(&d->io);
	if (r < 0) {
		tpm_objs_free(t);
		tpm_store_free(&t->store);
		free(t);
		return r == TK_ERR_REMOVED ? TK_ERR_NOT_FOUND : r;
	}
	*out = &t->base;
	return 0;
}
