/* See soft_token.h. */
#include "soft_token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hotplug.h"

struct soft_stats soft_stats;
struct soft_control soft_control = { .present = true, .pin_tries_left = 3 };

#define NKEYS 26

struct soft_tok {
	struct tk_token tok;
	struct tk_key keys[NKEYS];
	EVP_PKEY *priv[NKEYS];
	size_t nkeys;
	struct tk_data data[2];
	size_t ndata;
	uint64_t gen;
	bool verified, admin, always_ok;
	int tries, puk_tries;
	char pin[16], puk[16];
};

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

static struct tk_key *tok_key(struct soft_tok *t, uint8_t ref, EVP_PKEY **priv)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (t->keys[i].ref == ref) {
			if (priv)
				*priv = t->priv[i];
			return &t->keys[i];
		}
	return NULL;
}

static const uint8_t piv_refs[NKEYS] = {
	0,    0x9A, 0x9C, 0x9D, 0x9E, 0x82, 0x83, 0x84, 0x85,
	0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E,
	0x8F, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0xF9,
};

static uint8_t ref_id(uint8_t ref)
{
	for (uint8_t i = 1; i < NKEYS; i++)
		if (piv_refs[i] == ref)
			return i;
	return 0;
}

static void key_set(struct soft_tok *t, uint8_t ref, enum tk_alg alg,
		    EVP_PKEY *k, enum tk_pin_policy pin, bool generated)
{
	EVP_PKEY *old = NULL;
	struct tk_key *key = tok_key(t, ref, &old);
	size_t i;

	if (!key) {
		i = t->nkeys++;
		key = &t->keys[i];
	} else {
		i = (size_t)(key - t->keys);
		EVP_PKEY_free(old);
		free(key->cert);
	}
	memset(key, 0, sizeof(*key));
	key->ref = ref;
	key->id = ref_id(ref);
	key->alg = alg;
	key->pub = k;
	key->pin_policy =
	    pin ? pin
		: (ref == 0x9C ? TK_PIN_POLICY_ALWAYS : TK_PIN_POLICY_ONCE);
	key->touch_policy = TK_TOUCH_POLICY_NEVER;
	key->generated = generated;
	t->priv[i] = k;
	t->gen++;
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
	strcpy(out->label, "Soft PIV #1");
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
	return 0;
}

static int tok_objects(struct tk_token *tok, const struct tk_objects **out)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	static __thread struct tk_objects o;

	soft_stats.objects++;
	o.keys = t->keys;
	o.nkeys = t->nkeys;
	o.data = t->data;
	o.ndata = t->ndata;
	o.gen = t->gen;
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
		t->data[1] =
		    (struct tk_data){ .tag = 0x5FC109, .private = true };
		strcpy(t->data[1].label, "Printed Information");
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
	if (user == TK_USER_ADMIN) {
		static const uint8_t mgm[24] = { 1, 2, 3, 4, 5, 6, 7, 8,
						 1, 2, 3, 4, 5, 6, 7, 8,
						 1, 2, 3, 4, 5, 6, 7, 8 };
		if (len != sizeof(mgm) || memcmp(s, mgm, len))
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
	if (t->ndata == 2) { /* as the PIV driver: Printed Information goes */
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

/* PIN policy as a PIV card enforces it. */
static int key_use(struct soft_tok *t, uint8_t ref, struct tk_key **key,
		   EVP_PKEY **priv)
{
	if (!(*key = tok_key(t, ref, priv)))
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

static int tok_sign(struct tk_token *tok, uint8_t ref, const uint8_t *in,
		    size_t len, uint8_t *out, size_t *out_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key;
	EVP_PKEY *k;
	EVP_PKEY_CTX *c = NULL;
	EVP_MD_CTX *m = NULL;
	int r, ok = 0;

	soft_stats.sign++;
	if (soft_control.sign_hook)
		soft_control.sign_hook();
	if ((r = key_use(t, ref, &key, &k)) < 0)
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

static int tok_decrypt(struct tk_token *tok, uint8_t ref, const uint8_t *in,
		       size_t len, uint8_t *out, size_t *out_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key;
	EVP_PKEY *k;
	int r;

	soft_stats.decrypt++;
	if ((r = key_use(t, ref, &key, &k)) < 0)
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

static int tok_derive(struct tk_token *tok, uint8_t ref, const uint8_t *peer,
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

static int tok_generate(struct tk_token *tok, uint8_t ref, enum tk_alg alg,
			enum tk_pin_policy pin, enum tk_touch_policy touch)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	EVP_PKEY *k;

	soft_stats.generate++;
	soft_card_hook("generate");
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	switch (alg) {
	case TK_ALG_RSA2048:
		k = make_key(0);
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
	key_set(t, ref, alg, k, pin, true);
	return 0;
}

static int tok_import(struct tk_token *tok, uint8_t ref, EVP_PKEY *priv,
		      enum tk_pin_policy pin, enum tk_touch_policy touch)
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
	key_set(t, ref, alg, priv, pin, false);
	return 0;
}

static int tok_write_cert(struct tk_token *tok, uint8_t ref, const uint8_t *der,
			  size_t len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = tok_key(t, ref, NULL);

	soft_stats.write_cert++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (!key)
		return TK_ERR_NOT_FOUND;
	free(key->cert);
	key->cert = malloc(len);
	memcpy(key->cert, der, len);
	key->cert_len = len;
	t->gen++;
	return 0;
}

static int tok_delete_cert(struct tk_token *tok, uint8_t ref)
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

static int tok_delete_key(struct tk_token *tok, uint8_t ref)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	struct tk_key *key = tok_key(t, ref, NULL);
	size_t i;

	soft_stats.delete_key++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (!key)
		return TK_ERR_NOT_FOUND;
	i = (size_t)(key - t->keys);
	EVP_PKEY_free(t->priv[i]);
	free(key->cert);
	t->keys[i] = t->keys[t->nkeys - 1];
	t->priv[i] = t->priv[t->nkeys - 1];
	t->nkeys--;
	t->gen++;
	return 0;
}

static int tok_change_pin(struct tk_token *tok, enum tk_user which,
			  const uint8_t *old, size_t old_len, const uint8_t *n,
			  size_t n_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
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

static int tok_unblock(struct tk_token *tok, const uint8_t *puk, size_t puk_len,
		       const uint8_t *n, size_t n_len)
{
	struct soft_tok *t = (struct soft_tok *)tok;

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

static int tok_reset(struct tk_token *tok)
{
	struct soft_tok *t = (struct soft_tok *)tok;

	soft_stats.reset++;
	if (t->tries || t->puk_tries)
		return TK_ERR_DENIED;
	return 0;
}

/* Everything is loaded at open: only records what the front end asked. */
static int tok_discover(struct tk_token *tok, unsigned what, uint8_t ref)
{
	soft_stats.discover++;
	soft_card_hook("discover");
	soft_stats.discover_what = what;
	soft_stats.discover_ref = ref;
	return __atomic_load_n(&soft_control.discover_fails, __ATOMIC_SEQ_CST)
		   ? TK_ERR_TRANSPORT
		   : 0;
}

/* A certificate for the generated key in ref, signed by itself. */
static int tok_attest(struct tk_token *tok, uint8_t ref, uint8_t **der,
		      size_t *len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	EVP_PKEY *priv = NULL;
	struct tk_key *k = tok_key(t, ref, &priv);
	uint8_t *d;

	soft_stats.attest++;
	if (!k || !k->generated || !priv)
		return TK_ERR_NOT_FOUND;
	d = make_cert(priv, "attested", len);
	if (!d || !(*der = malloc(*len))) {
		OPENSSL_free(d);
		return TK_ERR_NOMEM;
	}
	memcpy(*der, d, *len);
	OPENSSL_free(d);
	return 0;
}

/* Replaces the CHUID (data[0]); other containers are accepted and dropped. */
static int tok_write_data(struct tk_token *tok, uint32_t tag, const uint8_t *v,
			  size_t len)
{
	struct soft_tok *t = (struct soft_tok *)tok;
	uint8_t *copy;

	soft_stats.write_data++;
	if (!t->admin)
		return TK_ERR_AUTH_REQUIRED;
	if (tag != t->data[0].tag || !len)
		return 0;
	if (!(copy = malloc(len)))
		return TK_ERR_NOMEM;
	memcpy(copy, v, len);
	free(t->data[0].value);
	t->data[0].value = copy;
	t->data[0].len = len;
	t->gen++;
	return 0;
}

static const struct tk_token_ops tok_ops = {
	.close = tok_close,
	.info = tok_info,
	.objects = tok_objects,
	.load_private = tok_load_private,
	.login = tok_login,
	.logout = tok_logout,
	.pin_status = tok_pin_status,
	.sign = tok_sign,
	.decrypt = tok_decrypt,
	.derive = tok_derive,
	.generate = tok_generate,
	.import_key = tok_import,
	.write_cert = tok_write_cert,
	.delete_cert = tok_delete_cert,
	.delete_key = tok_delete_key,
	.change_pin = tok_change_pin,
	.unblock_pin = tok_unblock,
	.reset = tok_reset,
	.discover = tok_discover,
	.attest = tok_attest,
	.write_data = tok_write_data,
};

EVP_PKEY *soft_key(uint8_t ref)
{
	static const uint8_t refs[5] = { 0x9A, 0x9C, 0x9D, 0x9E, 0x82 };

	for (int i = 0; i < 5; i++)
		if (refs[i] == ref) {
			if (!cache[i])
				cache[i] = make_key(i);
			EVP_PKEY_up_ref(cache[i]);
			return cache[i];
		}
	return NULL;
}

static int drv_open(struct tk_driver *drv, const char *device,
		    struct tk_token **out)
{
	static const enum tk_alg algs[5] = { TK_ALG_RSA2048, TK_ALG_P256,
					     TK_ALG_P384, TK_ALG_ED25519,
					     TK_ALG_X25519 };
	static const uint8_t refs[5] = { 0x9A, 0x9C, 0x9D, 0x9E, 0x82 };
	struct soft_tok *t = calloc(1, sizeof(*t));

	soft_stats.open++;
	t->tok.ops = &tok_ops;
	t->tries = soft_control.pin_tries_left;
	t->puk_tries = 3;
	strcpy(t->pin, SOFT_PIN);
	strcpy(t->puk, SOFT_PUK);
	for (int i = 0; i < 5; i++)
		key_set(t, refs[i], algs[i], soft_key(refs[i]),
			i == 3 ? TK_PIN_POLICY_NEVER : TK_PIN_POLICY_DEFAULT,
			i < 2);
	t->keys[0].cert =
	    make_cert(t->priv[0], "soft rsa", &t->keys[0].cert_len);
	t->keys[1].cert =
	    make_cert(t->priv[1], "soft p256", &t->keys[1].cert_len);
	t->data[0] = (struct tk_data){ .tag = 0x5FC102 };
	strcpy(t->data[0].label, "Card Holder Unique Identifier");
	t->data[0].value = (uint8_t *)strdup("CHUID-BYTES");
	t->data[0].len = 11;
	t->ndata = 1;
	*out = &t->tok;
	return 0;
}

static int drv_scan(struct tk_driver *drv, struct tk_device **list, size_t *n)
{
	struct tk_device *d = calloc(1, sizeof(*d));

	__atomic_add_fetch(&soft_stats.scan, 1, __ATOMIC_SEQ_CST);
	strcpy(d->name, SOFT_DEVICE);
	strcpy(d->description, "Soft reader");
	strcpy(d->manufacturer, "tokend");
	d->present = __atomic_load_n(&soft_control.present, __ATOMIC_SEQ_CST);
	d->events = __atomic_load_n(&soft_control.events, __ATOMIC_SEQ_CST);
	*list = d;
	*n = 1;
	return 0;
}

static void drv_free(struct tk_driver *drv)
{
	free(drv);
}

static const struct tk_driver_ops drv_ops = {
	.name = "soft",
	.scan = drv_scan,
	.open = drv_open,
	.free = drv_free,
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
