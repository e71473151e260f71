/* See soft_token.h. */
#include "soft_token.h"
#include "drv_setpin.h"
#include "p11.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hotplug.h"

struct soft_stats soft_stats;
struct soft_control soft_control = { .present = true, .pin_tries_left = 3 };

#define NKEYS 16

struct soft_tok {
	struct tk_token tok;
	struct tk_key keys[NKEYS];
	EVP_PKEY *priv[NKEYS];
	size_t nkeys;
	uint32_t next_handle;
	struct tk_secret_key secret;
	struct tk_data data[2];
	size_t ndata;
	uint64_t gen;
	bool verified, admin, always_ok;
	int tries, puk_tries;
	char pin[16], puk[16];
	unsigned long serial; /* SOFT_CKA_SERIAL: counts reads */
};

const uint8_t soft_secret_value[32] = "soft token's hmac key, 32 bytes";

/* Keys are made once per process: RSA generation is slow. */
static EVP_PKEY *cache[5];

static EVP_PKEY *make_key(int i)
{
	switch (i) {
	case 0:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case 1:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case 2:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case 3:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	default:
		return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	}
}

static uint8_t *make_cert(EVP_PKEY *k, const char *cn, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *n;
	uint8_t *der = NULL;
	int l;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_sign(x, k,
		  EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256());
	l = i2d_X509(x, &der);
	X509_free(x);
	*len = (size_t)l;
	return der;
}

static struct tk_key *tok_key(struct soft_tok *t, uint32_t handle,
			      EVP_PKEY **priv)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (t->keys[i].handle == handle) {
			if (priv)
				*priv = t->priv[i];
			return &t->keys[i];
		}
	return NULL;
}

/* The SHA-1 of the public key's SubjectPublicKeyInfo, as SoftHSMv2 and
 * OpenSC make CKA_IDs. */
static struct tk_id id_of_key(EVP_PKEY *k)
{
	struct tk_id id = { .len = 20 };
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);

	if (n > 0)
		EVP_Digest(der, (size_t)n, id.b, NULL, EVP_sha1(), NULL);
	OPENSSL_free(der);
	return id;
}

/* A key with CKA_ID id (NULL: the SHA-1 of its public key), replacing
 * one with the same ID. Returns its handle. */
static uint32_t key_set(struct soft_tok *t, const struct tk_id *id,
			enum tk_alg alg, EVP_PKEY *k, enum tk_pin_policy pin,
			bool generated)
{
	struct tk_id kid = id ? *id : id_of_key(k);
	struct tk_key *key = NULL;
	size_t i;

	for (i = 0; i < t->nkeys && !key; i++)
		if (t->keys[i].id.len == kid.len &&
		    memcmp(t->keys[i].id.b, kid.b, kid.len) == 0)
			key = &t->keys[i];
	if (!key) {
		i = t->nkeys++;
		key = &t->keys[i];
		memset(key, 0, sizeof(*key));
		key->handle = t->next_handle++;
	} else {
		i = (size_t)(key - t->keys);
		EVP_PKEY_free(t->priv[i]);
		free(key->cert);
		key->cert = NULL;
		key->cert_len = 0;
	}
	key->id = kid;
	snprintf(key->label, sizeof(key->label), "soft key %u",
		 (unsigned)key->handle);
	memcpy(key->pub_label, key->label, sizeof(key->label));
	memcpy(key->cert_label, key->label, sizeof(key->label));
	key->alg = alg;
	key->pub = k;
	key->pin_policy = pin ? pin
			      : (key->handle == 2 ? TK_PIN_POLICY_ALWAYS
						  : TK_PIN_POLICY_ONCE);
	key->touch_policy = TK_TOUCH_POLICY_NEVER;
	key->generated = generated;
	t->priv[i] = k;
	t->gen++;
	return key->handle;
}

static void tok_close(struct tk_token *tok)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.close++;
	for (size_t i = 0; i < t->nkeys; i++) {
		EVP_PKEY_free(t->priv[i]);
		free(t->keys[i].cert);
	}
	for (size_t i = 0; i < t->ndata; i++)
		free(t->data[i].value);
	free(t);
}

static void soft_card_hook(const char *op)
{
	if (soft_control.card_hook)
		soft_control.card_hook(op);
}

static int tok_info(struct tk_token *tok, struct tk_token_info *out)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.info++;
	memset(out, 0, sizeof(*out));
	strcpy(out->label, "Soft token #1");
	strcpy(out->manufacturer, "tokend tests");
	strcpy(out->model, "soft");
	strcpy(out->serial, "1");
	out->fw_major = 5;
	out->fw_minor = 7;
	out->pin_min = 6;
	out->pin_max = 8;
	out->pin_tries_left = t->tries;
	out->pin_tries_max = 3;
	out->puk_tries_left = t->puk_tries;
	out->pin_is_default = strcmp(t->pin, SOFT_PIN) == 0;
	out->caps = 0x3fff; /* everything */
	out->login =
	    TK_LOGIN_USER | TK_LOGIN_SO | TK_LOGIN_INIT_PIN | TK_LOGIN_SO_RESET;
	return 0;
}

static int tok_objects(struct tk_token *tok, const struct tk_objects **out)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	static __thread struct tk_objects o;

	soft_stats.objects++;
	o.keys = t->keys;
	o.nkeys = t->nkeys;
	o.secrets = &t->secret;
	o.nsecrets = 1;
	o.data = t->data;
	o.ndata = t->ndata;
	o.gen = t->gen;
	o.login_reveals = soft_control.parts ? TK_OBJ_PRIVATE : 0;
	*out = &o;
	return 0;
}

static int tok_load_private(struct tk_token *tok)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.load_private++;
	soft_card_hook("load_private");
	if (!t->verified)
		return TK_ERR_AUTH_REQUIRED;
	if (t->ndata < 2) {
		t->data[1] = (struct tk_data){ .handle = 2, .private = true };
		strcpy(t->data[1].label, "private data");
		t->data[1].value = (uint8_t *)strdup("JOHN DOE");
		t->data[1].len = 8;
		t->ndata = 2;
		t->gen++;
	}
	return 0;
}

static int tok_login(struct tk_token *tok, enum tk_user user, const uint8_t *s,
		     size_t len)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.login++;
	soft_card_hook("login");
	if (user == TK_USER_ADMIN) { /* a plain PIN, as a module's SO */
		if (len != strlen(SOFT_SO_PIN) || memcmp(s, SOFT_SO_PIN, len))
			return TK_ERR_PIN_INCORRECT;
		t->admin = true;
		return 0;
	}
	if (t->tries == 0)
		return TK_ERR_PIN_LOCKED;
	if (len == strlen(t->pin) && memcmp(s, t->pin, len) == 0) {
		t->tries = 3;
		t->verified = t->always_ok = true;
		return 0;
	}
	t->verified = false;
	return --t->tries == 0 ? TK_ERR_PIN_LOCKED : TK_ERR_PIN_INCORRECT;
}

/* The PIN the last login verified, verified again (a PIN-always key's
 * authorisation consumed elsewhere). */
static int tok_reauth(struct tk_token *tok)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.reauth++;
	if (!t->verified)
		return TK_ERR_AUTH_REQUIRED;
	t->always_ok = true;
	return 0;
}

static int tok_logout(struct tk_token *tok, enum tk_user user)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.logout++;
	soft_card_hook("logout");
	if (user == TK_USER_ADMIN) {
		t->admin = false;
		return 0;
	}
	t->verified = t->always_ok = false;
	if (t->ndata == 2) { /* the private object goes with the login */
		free(t->data[1].value);
		memset(&t->data[1], 0, sizeof(t->data[1]));
		t->ndata = 1;
		t->gen++;
	}
	return 0;
}

static int tok_pin_status(struct tk_token *tok, int *tries, bool *verified)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	*tries = t->tries;
	*verified = t->verified;
	return 0;
}

/* PIN policy as a card enforces it. */
static int key_use(struct soft_tok *t, uint32_t handle, struct tk_key **key,
		   EVP_PKEY **priv)
{
	if (!(*key = tok_key(t, handle, priv)))
		return TK_ERR_NOT_FOUND;
	if ((*key)->pin_policy != TK_PIN_POLICY_NEVER && !t->verified)
		return TK_ERR_AUTH_REQUIRED;
	if ((*key)->pin_policy == TK_PIN_POLICY_ALWAYS) {
		if (!t->always_ok)
			return TK_ERR_AUTH_REQUIRED;
		t->always_ok = false;
	}
	return 0;
}

static int rsa_raw(EVP_PKEY *k, const uint8_t *in, size_t len, uint8_t *out,
		   size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok = c && EVP_PKEY_decrypt_init(c) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) == 1 &&
		 EVP_PKEY_decrypt(c, out, out_len, in, len) == 1;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : TK_ERR_DEVICE;
}

/* The token's whole operations: HMAC with the secret key, and
 * CKM_SHA256_RSA_PKCS hashed and padded here, not by the front end. */
static int sign_whole(struct soft_tok *t, uint32_t handle,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t len, uint8_t *out, size_t *out_len)
{
	struct tk_key *key;
	EVP_PKEY *k;
	EVP_MD_CTX *m;
	unsigned int n = 32;
	int r, ok;

	if (out) {
		soft_stats.sign_whole++;
		soft_stats.whole_mech = mech->type;
	}
	if (mech->type == CKM_SHA256_HMAC && handle == SOFT_SECRET) {
		if (!out) {
			*out_len = 32;
			return 0;
		}
		if (!t->verified)
			return TK_ERR_AUTH_REQUIRED;
		if (*out_len < 32)
			return TK_ERR_TOO_LARGE;
		if (!HMAC(EVP_sha256(), soft_secret_value, 32, in, len, out,
			  &n))
			return TK_ERR_CRYPTO;
		*out_len = n;
		return 0;
	}
	if (mech->type != CKM_SHA256_RSA_PKCS || mech->param_len)
		return TK_ERR_UNSUPPORTED;
	if (!(key = tok_key(t, handle, NULL)) || key->alg != TK_ALG_RSA2048)
		return TK_ERR_NOT_FOUND;
	if (!out) {
		*out_len = 256;
		return 0;
	}
	if ((r = key_use(t, handle, &key, &k)) < 0)
		return r;
	m = EVP_MD_CTX_new();
	ok = m && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestSign(m, out, out_len, in, len) == 1;
	EVP_MD_CTX_free(m);
	return ok ? 0 : TK_ERR_DEVICE;
}

static int tok_sign(struct tk_token *tok, uint32_t handle,
		    const struct tk_mech_arg *mech, const uint8_t *in,
		    size_t len, uint8_t *out, size_t *out_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key;
	EVP_PKEY *k;
	EVP_PKEY_CTX *c = NULL;
	EVP_MD_CTX *m = NULL;
	int r, ok = 0;

	if (out) { /* a signature, not a size query */
		soft_stats.sign++;
		if (soft_control.sign_hook)
			soft_control.sign_hook();
	} else {
		soft_stats.size_query++;
	}
	if (mech)
		return sign_whole(t, handle, mech, in, len, out, out_len);
	if (!out) { /* the most a raw signature takes */
		*out_len = 512;
		return 0;
	}
	if ((r = key_use(t, handle, &key, &k)) < 0)
		return r;
	switch (key->alg) {
	case TK_ALG_RSA2048:
		if (len != 256)
			return TK_ERR_INVALID;
		return rsa_raw(k, in, len, out, out_len);
	case TK_ALG_P256:
	case TK_ALG_P384:
		if (len != (key->alg == TK_ALG_P256 ? 32u : 48u))
			return TK_ERR_INVALID;
		c = EVP_PKEY_CTX_new(k, NULL);
		ok = c && EVP_PKEY_sign_init(c) == 1 &&
		     EVP_PKEY_sign(c, out, out_len, in, len) == 1;
		break;
	case TK_ALG_ED25519:
		m = EVP_MD_CTX_new();
		ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
		     EVP_DigestSign(m, out, out_len, in, len) == 1;
		break;
	default:
		return TK_ERR_UNSUPPORTED;
	}
	EVP_PKEY_CTX_free(c);
	EVP_MD_CTX_free(m);
	return ok ? 0 : TK_ERR_DEVICE;
}

static int tok_decrypt(struct tk_token *tok, uint32_t handle,
		       const struct tk_mech_arg *mech, const uint8_t *in,
		       size_t len, uint8_t *out, size_t *out_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key;
	EVP_PKEY *k;
	int r;

	if (mech)
		return TK_ERR_UNSUPPORTED;
	if (!out) {
		soft_stats.size_query++;
		*out_len = 512;
		return 0;
	}
	soft_stats.decrypt++;
	if ((r = key_use(t, handle, &key, &k)) < 0)
		return r;
	if (key->alg != TK_ALG_RSA2048 || len != 256)
		return TK_ERR_INVALID;
	return rsa_raw(k, in, len, out, out_len);
}

static EVP_PKEY *peer_key(enum tk_alg alg, const uint8_t *p, size_t len)
{
	OSSL_PARAM_BLD *b;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *c;
	EVP_PKEY *pk = NULL;

	if (alg == TK_ALG_X25519)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, p,
						   len);
	b = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(
	    b, "group", alg == TK_ALG_P256 ? "P-256" : "P-384", 0);
	OSSL_PARAM_BLD_push_octet_string(b, "pub", p, len);
	params = OSSL_PARAM_BLD_to_param(b);
	c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (c && EVP_PKEY_fromdata_init(c) == 1)
		EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	return pk;
}

static int tok_derive(struct tk_token *tok, uint32_t ref, const uint8_t *peer,
		      size_t len, uint8_t *out, size_t *out_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key;
	EVP_PKEY *k, *pk;
	EVP_PKEY_CTX *c;
	int r, ok;

	soft_stats.derive++;
	if ((r = key_use(t, ref, &key, &k)) < 0)
		return r;
	if (!(pk = peer_key(key->alg, peer, len)))
		return TK_ERR_INVALID;
	c = EVP_PKEY_CTX_new(k, NULL);
	ok = c && EVP_PKEY_derive_init(c) == 1 &&
	     EVP_PKEY_derive_set_peer(c, pk) == 1 &&
	     EVP_PKEY_derive(c, out, out_len) == 1;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
	return ok ? 0 : TK_ERR_DEVICE;
}

static int tok_generate(struct tk_token *tok, const struct tk_id *id,
			enum tk_alg alg, enum tk_pin_policy pin,
			enum tk_touch_policy touch, uint32_t *handle)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	EVP_PKEY *k;

	soft_stats.generate++;
	soft_card_hook("generate");
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	switch (alg) {
	case TK_ALG_RSA2048:
		k = soft_control.cached_keygen ? soft_key(1) : make_key(0);
		break;
	case TK_ALG_P256:
		k = make_key(1);
		break;
	case TK_ALG_P384:
		k = make_key(2);
		break;
	case TK_ALG_ED25519:
		k = make_key(3);
		break;
	case TK_ALG_X25519:
		k = make_key(4);
		break;
	default:
		return TK_ERR_UNSUPPORTED;
	}
	*handle = key_set(t, id->len ? id : NULL, alg, k, pin, true);
	return 0;
}

static int tok_import(struct tk_token *tok, const struct tk_id *id,
		      EVP_PKEY *priv, enum tk_pin_policy pin,
		      enum tk_touch_policy touch, uint32_t *handle)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	enum tk_alg alg;

	soft_stats.import_key++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	switch (EVP_PKEY_get_id(priv)) {
	case EVP_PKEY_RSA:
		alg = TK_ALG_RSA2048;
		break;
	case EVP_PKEY_EC:
		alg =
		    EVP_PKEY_get_bits(priv) == 256 ? TK_ALG_P256 : TK_ALG_P384;
		break;
	case EVP_PKEY_ED25519:
		alg = TK_ALG_ED25519;
		break;
	default:
		alg = TK_ALG_X25519;
		break;
	}
	EVP_PKEY_up_ref(priv);
	*handle = key_set(t, id->len ? id : NULL, alg, priv, pin, false);
	return 0;
}

/* A certificate goes with the key of its CKA_ID. */
static int tok_write_cert(struct tk_token *tok, const struct tk_id *id,
			  const uint8_t *der, size_t len, uint32_t *handle)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = NULL;

	soft_stats.write_cert++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	for (size_t i = 0; i < t->nkeys && !key; i++)
		if (t->keys[i].id.len == id->len &&
		    memcmp(t->keys[i].id.b, id->b, id->len) == 0)
			key = &t->keys[i];
	if (!key)
		return TK_ERR_NOT_FOUND;
	*handle = key->handle;
	free(key->cert);
	key->cert = malloc(len);
	memcpy(key->cert, der, len);
	key->cert_len = len;
	t->gen++;
	return 0;
}

static int tok_delete_cert(struct tk_token *tok, uint32_t ref)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = tok_key(t, ref, NULL);

	soft_stats.delete_cert++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (!key)
		return TK_ERR_NOT_FOUND;
	free(key->cert);
	key->cert = NULL;
	key->cert_len = 0;
	t->gen++;
	return 0;
}

/* Key i gone from the token. */
static void key_drop(struct soft_tok *t, size_t i)
{
	struct tk_key *key = &t->keys[i];

	EVP_PKEY_free(t->priv[i]);
	free(key->cert);
	t->keys[i] = t->keys[t->nkeys - 1];
	t->priv[i] = t->priv[t->nkeys - 1];
	t->nkeys--;
	t->gen++;
}

static int tok_delete_key(struct tk_token *tok, uint32_t ref)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = tok_key(t, ref, NULL);

	soft_stats.delete_key++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (!key)
		return TK_ERR_NOT_FOUND;
	key_drop(t, (size_t)(key - t->keys));
	return 0;
}

/* soft_control.parts: one part of a key; the key goes with its last. */
static int tok_destroy(struct tk_token *tok, enum tk_obj_kind kind,
		       uint32_t handle)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = tok_key(t, handle, NULL);

	soft_stats.destroy++;
	soft_stats.destroy_kind = kind;
	if (!key || !(key->parts & kind))
		return TK_ERR_NOT_FOUND;
	key->parts &= (uint8_t)~kind;
	if (kind == TK_OBJ_CERT) {
		free(key->cert);
		key->cert = NULL;
		key->cert_len = 0;
	}
	if (!key->parts)
		key_drop(t, (size_t)(key - t->keys));
	t->gen++;
	return 0;
}

static int tok_change_pin(struct soft_tok *t, enum tk_user which,
			  const uint8_t *old, size_t old_len, const uint8_t *n,
			  size_t n_len)
{
	char *cur = which == TK_USER_PUK ? t->puk : t->pin;
	int *tries = which == TK_USER_PUK ? &t->puk_tries : &t->tries;

	soft_stats.change_pin++;
	soft_card_hook("change_pin");
	if (*tries == 0)
		return TK_ERR_PIN_LOCKED;
	if (old_len != strlen(cur) || memcmp(old, cur, old_len))
		return --*tries == 0 ? TK_ERR_PIN_LOCKED : TK_ERR_PIN_INCORRECT;
	if (n_len >= sizeof(t->pin))
		return TK_ERR_ARG;
	*tries = 3;
	memcpy(cur, n, n_len);
	cur[n_len] = '\0';
	return 0;
}

static int tok_unblock(struct soft_tok *t, const uint8_t *puk, size_t puk_len,
		       const uint8_t *n, size_t n_len)
{
	soft_stats.unblock_pin++;
	if (t->puk_tries == 0)
		return TK_ERR_PIN_LOCKED;
	if (puk_len != strlen(t->puk) || memcmp(puk, t->puk, puk_len))
		return --t->puk_tries == 0 ? TK_ERR_PIN_LOCKED
					   : TK_ERR_PIN_INCORRECT;
	memcpy(t->pin, n, n_len);
	t->pin[n_len] = '\0';
	t->tries = 3;
	return 0;
}

static int tok_set_pin(struct tk_token *tok, const struct tk_setpin *q,
		       const uint8_t *n, size_t n_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	if (q->spends == TK_USER_PUK && q->sets == TK_USER_PIN)
		return tok_unblock(t, q->old, q->old_len, n, n_len);
	return tok_change_pin(t, q->sets, q->old, q->old_len, n, n_len);
}

/* The SO sets the user PIN (SoftHSMv2's C_InitPIN). */
static int tok_init_pin(struct tk_token *tok, const uint8_t *pin, size_t len)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.init_pin++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (len >= sizeof(t->pin))
		return TK_ERR_ARG;
	memcpy(t->pin, pin, len);
	t->pin[len] = '\0';
	t->tries = 3;
	return 0;
}

static int tok_reset(struct tk_token *tok)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.reset++;
	if (t->tries || t->puk_tries)
		return TK_ERR_DENIED;
	return 0;
}

/* Everything is loaded at open: only records what the front end asked. */
static int tok_discover(struct tk_token *tok, unsigned what, const uint8_t *id,
			size_t id_len)
{
	soft_stats.discover++;
	soft_card_hook("discover");
	soft_stats.discover_what = what;
	soft_stats.discover_id.len = id_len;
	if (id_len && id_len <= TK_ID_MAX)
		memcpy(soft_stats.discover_id.b, id, id_len);
	return __atomic_load_n(&soft_control.discover_fails, __ATOMIC_SEQ_CST)
		   ? TK_ERR_TRANSPORT
		   : 0;
}

/* The front end's mechanisms as raw ones, but two whole operations. */
static const struct tk_mech mechs[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, 1024, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR,
	  TK_MECH_RAW },
	{ CKM_RSA_PKCS, 1024, 4096,
	  CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_DECRYPT | CKF_ENCRYPT,
	  TK_MECH_RAW },
	{ CKM_RSA_X_509, 1024, 4096,
	  CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_DECRYPT | CKF_ENCRYPT,
	  TK_MECH_RAW },
	{ CKM_RSA_PKCS_OAEP, 1024, 4096, CKF_HW | CKF_DECRYPT | CKF_ENCRYPT,
	  TK_MECH_RAW },
	{ CKM_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA1_RSA_PKCS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA224_RSA_PKCS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA256_RSA_PKCS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_WHOLE },
	{ CKM_SHA384_RSA_PKCS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA512_RSA_PKCS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA1_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA224_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA256_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA384_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA512_RSA_PKCS_PSS, 1024, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_SHA_1, 0, 0, CKF_DIGEST, TK_MECH_RAW },
	{ CKM_SHA256, 0, 0, CKF_DIGEST, TK_MECH_RAW },
	{ CKM_SHA224, 0, 0, CKF_DIGEST, TK_MECH_RAW },
	{ CKM_SHA384, 0, 0, CKF_DIGEST, TK_MECH_RAW },
	{ CKM_SHA512, 0, 0, CKF_DIGEST, TK_MECH_RAW },
	{ CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_HW | CKF_GENERATE_KEY_PAIR,
	  TK_MECH_RAW },
	{ CKM_ECDSA, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY, TK_MECH_RAW },
	{ CKM_ECDSA_SHA1, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_ECDSA_SHA224, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_ECDSA_SHA256, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_ECDSA_SHA384, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_ECDSA_SHA512, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_RAW },
	{ CKM_ECDH1_DERIVE, 255, 384, CKF_HW | CKF_DERIVE, TK_MECH_RAW },
	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_HW | CKF_GENERATE_KEY_PAIR,
	  TK_MECH_RAW },
	{ CKM_EC_MONTGOMERY_KEY_PAIR_GEN, 255, 255,
	  CKF_HW | CKF_GENERATE_KEY_PAIR, TK_MECH_RAW },
	{ CKM_EDDSA, 255, 255, CKF_HW | CKF_SIGN | CKF_VERIFY, TK_MECH_RAW },
	{ CKM_SHA256_HMAC, 256, 256, CKF_HW | CKF_SIGN | CKF_VERIFY,
	  TK_MECH_WHOLE },
};

static int tok_mechanisms(struct tk_token *tok, const struct tk_mech **list,
			  size_t *n)
{
	*list = mechs;
	*n = sizeof(mechs) / sizeof(mechs[0]);
	return 0;
}

/* A vendor attribute of private keys that the "device" answers anew each
 * time (as PIV's attestation): it counts its reads. */
static int tok_attr(struct tk_token *tok, enum tk_obj_kind kind,
		    uint32_t handle, unsigned long type, struct buf *out)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	CK_ULONG v;

	if (type != SOFT_CKA_SERIAL)
		return TK_ATTR_DEFAULT;
	if (kind != TK_OBJ_PRIVATE || !tok_key(t, handle, NULL))
		return TK_ATTR_INVALID;
	soft_stats.attr_device++;
	v = ++t->serial;
	buf_add(out, &v, sizeof(v));
	return 0;
}

static bool drv_attr_on_device(unsigned long type)
{
	return type == SOFT_CKA_SERIAL;
}

/* A data object by its label and value; the same label replaces it. */
static int tok_create_data(struct tk_token *tok, const struct tk_attr *a,
			   size_t n, uint32_t *handle)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	const struct tk_attr *v = NULL;
	uint8_t *copy;

	soft_stats.create_data++;
	soft_card_hook("create_data");
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	for (size_t i = 0; i < n; i++)
		if (a[i].type == CKA_VALUE)
			v = &a[i];
	if (!v)
		return TK_ERR_NOT_FOUND;
	if (!v->len || !(copy = malloc(v->len)))
		return TK_ERR_ARG;
	memcpy(copy, v->value, v->len);
	free(t->data[0].value);
	t->data[0].value = copy;
	t->data[0].len = v->len;
	*handle = t->data[0].handle;
	t->gen++;
	return 0;
}

static int tok_delete_data(struct tk_token *tok, uint32_t handle)
{
	return TK_ERR_DENIED;
}

/* A whole verification: the secret key's HMAC, compared here. */
static int tok_verify(struct tk_token *tok, uint32_t handle,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t len, const uint8_t *sig, size_t sig_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	uint8_t mac[32];
	unsigned int n = sizeof(mac);

	soft_stats.verify++;
	if (mech->type != CKM_SHA256_HMAC || handle != SOFT_SECRET)
		return TK_ERR_UNSUPPORTED;
	if (!t->verified)
		return TK_ERR_AUTH_REQUIRED;
	if (!HMAC(EVP_sha256(), soft_secret_value, 32, in, len, mac, &n))
		return TK_ERR_CRYPTO;
	return sig_len == n && CRYPTO_memcmp(mac, sig, n) == 0
		   ? 0
		   : TK_ERR_SIGNATURE;
}

static int tok_random(struct tk_token *tok, uint8_t *out, size_t len)
{
	(void)tok;
	soft_stats.random++;
	return len > INT_MAX || RAND_bytes(out, (int)len) != 1 ? TK_ERR_CRYPTO
							       : 0;
}

static const struct tk_token_ops tok_ops = {
	.close = tok_close,
	.info = tok_info,
	.objects = tok_objects,
	.load_private = tok_load_private,
	.login = tok_login,
	.reauth = tok_reauth,
	.logout = tok_logout,
	.pin_status = tok_pin_status,
	.mechanisms = tok_mechanisms,
	.attr = tok_attr,
	.sign = tok_sign,
	.decrypt = tok_decrypt,
	.derive = tok_derive,
	.generate = tok_generate,
	.import_key = tok_import,
	.write_cert = tok_write_cert,
	.delete_cert = tok_delete_cert,
	.delete_key = tok_delete_key,
	.create_data = tok_create_data,
	.delete_data = tok_delete_data,
	.setpin_parse = drv_setpin_prefixes,
	.set_pin = tok_set_pin,
	.init_pin = tok_init_pin,
	.reset = tok_reset,
	.discover = tok_discover,
	.verify = tok_verify,
};

/* The same with an RNG (soft_control.rng) or destroy() (.parts). */
static struct tk_token_ops tok_ops_var;

EVP_PKEY *soft_key(int n)
{
	if (n < 1 || n > SOFT_NKEYS)
		return NULL;
	if (!cache[n - 1])
		cache[n - 1] = make_key(n - 1);
	EVP_PKEY_up_ref(cache[n - 1]);
	return cache[n - 1];
}

struct tk_id soft_id(int n)
{
	struct tk_id id = { .len = 20 };
	EVP_PKEY *k;

	if (n == SOFT_SECRET) { /* any 20 bytes will do */
		memset(id.b, 0x5e, id.len);
		return id;
	}
	if (!(k = soft_key(n)))
		return id;
	id = id_of_key(k);
	EVP_PKEY_free(k);
	return id;
}

const uint8_t *soft_idb(int n)
{
	static uint8_t ids[256][SOFT_ID_LEN];
	static bool made[256];
	struct tk_id id;

	n &= 0xff;
	if (!made[n]) {
		if (n == SOFT_SECRET || (n >= 1 && n <= SOFT_NKEYS))
			id = soft_id(n);
		else
			memset(id.b, 0xa0 ^ n, SOFT_ID_LEN);
		memcpy(ids[n], id.b, SOFT_ID_LEN);
		made[n] = true;
	}
	return ids[n];
}

int soft_id_num(const void *id, size_t len)
{
	for (int n = 1; n < 256; n++)
		if (len == SOFT_ID_LEN && memcmp(soft_idb(n), id, len) == 0)
			return n;
	return 0;
}

static int drv_open(struct tk_driver *drv, const char *device,
		    struct tk_token **out)
{
	static const enum tk_alg algs[SOFT_NKEYS] = { TK_ALG_RSA2048,
						      TK_ALG_P256, TK_ALG_P384,
						      TK_ALG_ED25519,
						      TK_ALG_X25519 };
	struct soft_tok *t = calloc(1, sizeof(*t));

	soft_stats.open++;
	if (soft_control.rng || soft_control.parts) { /* only when asked */
		tok_ops_var = tok_ops;
		if (soft_control.rng)
			tok_ops_var.random = tok_random;
		if (soft_control.parts)
			tok_ops_var.destroy = tok_destroy;
	}
	t->tok.ops =
	    soft_control.rng || soft_control.parts ? &tok_ops_var : &tok_ops;
	t->tries = soft_control.pin_tries_left;
	t->puk_tries = 3;
	t->next_handle = 1;
	strcpy(t->pin, SOFT_PIN);
	strcpy(t->puk, SOFT_PUK);
	for (int i = 0; i < SOFT_NKEYS; i++)
		key_set(t, NULL, algs[i], soft_key(i + 1),
			i == 3 ? TK_PIN_POLICY_NEVER : TK_PIN_POLICY_DEFAULT,
			i < 2);
	t->keys[0].cert =
	    make_cert(t->priv[0], "soft rsa", &t->keys[0].cert_len);
	t->keys[1].cert =
	    make_cert(t->priv[1], "soft p256", &t->keys[1].cert_len);
	if (soft_control.parts) {
		static const uint8_t parts[SOFT_NKEYS] = {
			TK_OBJ_PRIVATE | TK_OBJ_PUBLIC | TK_OBJ_CERT,
			TK_OBJ_PRIVATE | TK_OBJ_CERT,
			TK_OBJ_PRIVATE | TK_OBJ_PUBLIC,
			TK_OBJ_PUBLIC,
			TK_OBJ_PRIVATE | TK_OBJ_PUBLIC,
		};
		for (int i = 0; i < SOFT_NKEYS; i++)
			t->keys[i].parts = parts[i];
	}
	t->secret = (struct tk_secret_key){
		.handle = SOFT_SECRET,
		.id = soft_id(SOFT_SECRET),
		.key_type = CKK_GENERIC_SECRET,
		.value_len = sizeof(soft_secret_value),
		.usage = CKF_SIGN | CKF_VERIFY,
		.private = true,
	};
	strcpy(t->secret.label, "soft hmac");
	t->data[0] = (struct tk_data){ .handle = 1 };
	strcpy(t->data[0].label, "public data");
	strcpy(t->data[0].application, "soft");
	t->data[0].value = (uint8_t *)strdup("PUBLIC-BYTES");
	t->data[0].len = 12;
	t->ndata = 1;
	*out = &t->tok;
	return 0;
}

static void drv_free(struct tk_driver *drv)
{
	free(drv);
}

static const struct tk_driver_ops drv_ops = {
	.name = "soft",
	.open = drv_open,
	.free = drv_free,
	.attr_on_device = drv_attr_on_device,
};

int soft_driver_new(struct tk_driver **out)
{
	struct tk_driver *d = calloc(1, sizeof(*d));

	d->ops = &drv_ops;
	*out = d;
	return 0;
}

static struct hotplug_queue *soft_q;

struct hotplug_queue *soft_queue(void)
{
	if (!soft_q && hotplug_queue_new(&soft_q) < 0)
		abort();
	return soft_q;
}

static void soft_push(enum hotplug_event ev, enum hotplug_kind kind)
{
	struct hotplug_msg m = { .ev = ev, .kind = kind };

	strcpy(m.id, SOFT_DEVICE);
	if (kind == HOTPLUG_PCSC_CARD) {
		m.atr[0] = 0x3B;
		m.atr_len = 1;
	}
	if (hotplug_queue_push(soft_queue(), &m) < 0)
		abort();
}

void soft_insert(void)
{
	__atomic_store_n(&soft_control.present, true, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&soft_control.events, 1, __ATOMIC_SEQ_CST);
	soft_push(HOTPLUG_ARRIVED, HOTPLUG_PCSC_CARD);
}

void soft_remove(void)
{
	__atomic_store_n(&soft_control.present, false, __ATOMIC_SEQ_CST);
	soft_push(HOTPLUG_LEFT, HOTPLUG_PCSC_CARD);
}

void soft_swap(void)
{
	soft_remove();
	soft_insert();
}

void soft_reset_all(void)
{
	struct hotplug_msg m;

	while (hotplug_queue_pop(soft_queue(), &m) == 1)
		;
	soft_push(HOTPLUG_ARRIVED, HOTPLUG_PCSC_READER);
	soft_push(HOTPLUG_ARRIVED, HOTPLUG_PCSC_CARD);
	memset(&soft_stats, 0, sizeof(soft_stats));
	__atomic_store_n(&soft_control.present, true, __ATOMIC_SEQ_CST);
	soft_control.events = 0;
	soft_control.pin_tries_left = 3;
	soft_control.sign_hook = NULL;
	soft_control.card_hook = NULL;
	soft_control.discover_fails = false;
}
