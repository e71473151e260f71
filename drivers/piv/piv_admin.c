/* Administration of a PIV token: key generation and import, certificates,
 * data objects, attestation, key deletion and reset. The card checks the
 * management key (and the PIN where it wants it); each success updates the
 * cache and bumps gen, so the card is never read again for it. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "drv_log.h"
#include "piv_int.h"

static struct piv_token *token_of(struct tk_token *tok)
{
	return (struct piv_token *)tok;
}

/* TK_CAP_RSA1024..TK_CAP_X25519 follow enum tk_alg's order. */
static bool alg_allowed(const struct piv_token *t, enum tk_alg alg)
{
	return alg >= TK_ALG_RSA1024 && alg <= TK_ALG_X25519 &&
	       (t->info.caps & (1u << (alg - TK_ALG_RSA1024)));
}

static int policies_check(const struct piv_token *t, enum tk_pin_policy pin,
			  enum tk_touch_policy touch)
{
	if (pin == TK_PIN_POLICY_DEFAULT && touch == TK_TOUCH_POLICY_DEFAULT)
		return 0;
	if (!(t->info.caps & TK_CAP_POLICIES))
		return TK_ERR_UNSUPPORTED;
	if (piv_pin_policy_from_tk(pin) == 0 && pin != TK_PIN_POLICY_DEFAULT)
		return TK_ERR_ARG;
	if (piv_touch_policy_from_tk(touch) == 0 &&
	    touch != TK_TOUCH_POLICY_DEFAULT)
		return TK_ERR_ARG;
	return 0;
}

/* A new key in slot i: the certificate there (if any) stays as the card
 * keeps it. */
static void key_replace(struct piv_token *t, int i, enum tk_alg alg,
			EVP_PKEY *pub, enum tk_pin_policy pin,
			enum tk_touch_policy touch, bool generated)
{
	struct tk_key *k = &t->keys[i];

	piv_attest_forget(t, i);
	EVP_PKEY_free(k->pub);
	k->pub = pub;
	k->alg = alg;
	k->pin_policy = pin != TK_PIN_POLICY_DEFAULT
			    ? pin
			    : piv_slot_pin_default((uint8_t)k->handle);
	k->touch_policy =
	    touch != TK_TOUCH_POLICY_DEFAULT ? touch : TK_TOUCH_POLICY_NEVER;
	k->generated = generated;
	t->has_key[i] = true;
	t->key_seen |= 1u << i; /* the certificate stays to be discovered */
	piv_token_changed(t);
}

struct admin_arg {
	uint8_t ref, alg, pin, touch;
	const EVP_PKEY *key;
	EVP_PKEY *pub;
	uint32_t tag;
	const uint8_t *p;
	size_t len;
	struct buf out;
};

static int op_generate(struct piv_token *t, void *arg)
{
	struct admin_arg *a = arg;

	EVP_PKEY_free(a->pub);
	a->pub = NULL;
	return piv_generate(t->piv, a->ref, a->alg, a->pin, a->touch, &a->pub);
}

/* The slot a new key's CKA_ID names: TK_ERR_NOT_FOUND for none. */
static int slot_of_id(const struct tk_id *id, uint8_t *ref)
{
	int i = id ? piv_id_index(id->b, id->len) : -1;

	if (i < 0)
		return TK_ERR_NOT_FOUND;
	*ref = piv_key_refs[i];
	return i;
}

int piv_admin_generate(struct tk_token *tok, const struct tk_id *id,
		       enum tk_alg alg, enum tk_pin_policy pin,
		       enum tk_touch_policy touch, uint32_t *handle)
{
	struct piv_token *t = token_of(tok);
	struct admin_arg a = { .alg = piv_alg_from_tk(alg) };
	int i = slot_of_id(id, &a.ref);
	uint8_t ref = a.ref;
	int rc;

	if (i < 0)
		return i;
	*handle = ref;
	if (!piv_slot_is_key(ref) || !a.alg)
		return TK_ERR_ARG;
	if (!alg_allowed(t, alg) || !(t->info.caps & TK_CAP_GENERATE))
		return TK_ERR_UNSUPPORTED;
	rc = policies_check(t, pin, touch);
	if (rc)
		return rc;
	a.pin = piv_pin_policy_from_tk(pin);
	a.touch = piv_touch_policy_from_tk(touch);
	rc = piv_token_run(t, op_generate, &a, PIV_RUN_RESELECT);
	if (rc == 0)
		key_replace(t, i, alg, a.pub, pin, touch, true);
	else
		EVP_PKEY_free(a.pub);
	return rc;
}

/* The public half of a key, as a key of its own. */
static EVP_PKEY *public_of(const EVP_PKEY *priv)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int n = i2d_PUBKEY(priv, &der);

	if (n > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, n);
	}
	OPENSSL_free(der);
	return pub;
}

static int op_import(struct piv_token *t, void *arg)
{
	struct admin_arg *a = arg;

	return yk_import_key(t->piv, a->ref, a->key, a->pin, a->touch);
}

int piv_admin_import_key(struct tk_token *tok, const struct tk_id *id,
			 EVP_PKEY *priv, enum tk_pin_policy pin,
			 enum tk_touch_policy touch, uint32_t *handle)
{
	struct piv_token *t = token_of(tok);
	struct admin_arg a = { .key = priv };
	int i = slot_of_id(id, &a.ref);
	uint8_t ref = a.ref;
	enum tk_alg alg;
	int rc;

	if (i < 0)
		return i;
	*handle = ref;
	if (!piv_slot_is_key(ref) || !priv)
		return TK_ERR_ARG;
	if (!(t->info.caps & TK_CAP_IMPORT))
		return TK_ERR_UNSUPPORTED;
	rc = piv_pubkey_alg(priv, &a.alg);
	alg = rc == 0 ? piv_alg_to_tk(a.alg) : TK_ALG_NONE;
	if (rc == 0 && !alg_allowed(t, alg))
		rc = TK_ERR_UNSUPPORTED;
	if (rc == 0)
		rc = policies_check(t, pin, touch);
	if (rc)
		return rc;
	a.pub = public_of(priv);
	if (!a.pub)
		return TK_ERR_CRYPTO;
	a.pin = piv_pin_policy_from_tk(pin);
	a.touch = piv_touch_policy_from_tk(touch);
	rc = piv_token_run(t, op_import, &a, PIV_RUN_RESELECT);
	if (rc == 0)
		key_replace(t, i, alg, a.pub, pin, touch, false);
	else
		EVP_PKEY_free(a.pub);
	return rc;
}

static int op_put(struct piv_token *t, void *arg)
{
	struct admin_arg *a = arg;

	return piv_put_data(t->piv, a->tag, a->p, a->len);
}

/* PUT DATA of a certificate object; one the card finds too large is sent
 * again gzip'd, as YubiKey tools do. */
static int put_cert(struct piv_token *t, uint32_t tag, const uint8_t *der,
		    size_t len)
{
	struct admin_arg a = { .tag = tag };
	struct buf obj;
	int rc = TK_ERR_TOO_LARGE;

	buf_init(&obj, 0xffff);
	for (int compress = 0; compress < 2 && rc == TK_ERR_TOO_LARGE;
	     compress++) {
		rc = piv_cert_build(der, len, compress, &obj);
		a.p = obj.data;
		a.len = obj.len;
		if (rc == 0)
			rc = piv_token_run(t, op_put, &a, PIV_RUN_RESELECT);
	}
	buf_free(&obj);
	return rc;
}

/* A certificate in a slot whose key the card's metadata does not list is
 * written but not shown: a key is listed only with its private half. On a
 * card without metadata the certificate is how keys are found. */
int piv_admin_write_cert(struct tk_token *tok, const struct tk_id *id,
			 const uint8_t *der, size_t len, uint32_t *handle)
{
	struct piv_token *t = token_of(tok);
	struct tk_key tmp = { 0 };
	uint8_t ref = 0;
	int i = slot_of_id(id, &ref);
	uint32_t tag;
	int rc;

	if (i < 0)
		return i;
	*handle = tmp.handle = ref;
	if (!der || !len || piv_slot_object(ref, &tag) != 0)
		return TK_ERR_ARG;
	rc = piv_key_set_cert(&tmp, der, len); /* parses; refuses garbage */
	if (rc)
		return rc == TK_ERR_NOMEM ? rc : TK_ERR_ARG;
	rc = piv_discover(t, TK_DISCOVER_KEY, ref); /* is a key there? */
	if (rc == 0)
		rc = put_cert(t, tag, der, len);
	if (rc == 0)
		t->cert_seen |= 1u << i;
	if (rc == 0 &&
	    (t->has_key[i] || !t->has_metadata || ref == PIV_SLOT_ATTEST)) {
		struct tk_key *k = &t->keys[i];

		free(k->cert);
		k->cert = tmp.cert;
		k->cert_len = tmp.cert_len;
		tmp.cert = NULL;
		if (!t->has_key[i]) {
			k->pub = tmp.pub;
			k->alg = tmp.alg;
			tmp.pub = NULL;
			t->has_key[i] = true;
		}
		piv_token_changed(t);
	}
	EVP_PKEY_free(tmp.pub);
	free(tmp.cert);
	return rc;
}

int piv_admin_delete_cert(struct tk_token *tok, uint32_t key)
{
	struct piv_token *t = token_of(tok);
	struct admin_arg a = { 0 };
	uint8_t ref = (uint8_t)key;
	int i = key > 0xff ? -1 : piv_key_index(ref);
	struct tk_key *k;
	int rc;

	if (i < 0 || piv_slot_object(ref, &a.tag) != 0)
		return TK_ERR_ARG;
	rc = piv_token_run(t, op_put, &a, PIV_RUN_RESELECT);
	if (rc)
		return rc;
	k = &t->keys[i];
	t->cert_seen |= 1u << i;
	if (t->has_metadata && ref != PIV_SLOT_ATTEST) {
		free(k->cert);
		k->cert = NULL;
		k->cert_len = 0;
	} else { /* the key was known by its certificate only */
		piv_key_clear(k);
		t->has_key[i] = false;
		t->key_seen |= 1u << i;
	}
	piv_token_changed(t);
	return 0;
}

static int op_delete_key(struct piv_token *t, void *arg)
{
	struct admin_arg *a = arg;

	return yk_delete_key(t->piv, a->ref);
}

int piv_admin_delete_key(struct tk_token *tok, uint32_t key)
{
	struct piv_token *t = token_of(tok);
	struct admin_arg a = { .ref = (uint8_t)key };
	uint8_t ref = a.ref;
	int i = key > 0xff ? -1 : piv_key_index(ref);
	int rc;

	if (i < 0 || !piv_slot_is_key(ref))
		return TK_ERR_ARG;
	if (!(t->info.caps & TK_CAP_DELETE_KEY))
		return TK_ERR_UNSUPPORTED;
	rc = piv_token_run(t, op_delete_key, &a, PIV_RUN_RESELECT);
	if (rc == 0) {
		piv_key_clear(&t->keys[i]);
		piv_attest_forget(t, i);
		t->has_key[i] = false;
		t->key_seen |= 1u << i;
		t->cert_seen &= ~(1u << i); /* the card keeps it; read again */
		piv_token_changed(t);
	}
	return rc;
}

/* Certificates go through write_cert, so the cache stays right. */
int piv_admin_write_data(struct piv_token *t, uint32_t tag,
			 const uint8_t *value, size_t len)
{
	struct admin_arg a = { .tag = tag, .p = value, .len = len };
	int i = piv_data_index(tag);
	uint8_t slot;
	int rc;

	if (tag == 0 || tag > 0xffffff || (len && !value) ||
	    piv_object_slot(tag, &slot) == 0)
		return TK_ERR_ARG;
	rc = piv_token_run(t, op_put, &a, PIV_RUN_RESELECT);
	if (rc || i < 0)
		return rc;
	if (tag == PIV_OBJ_PRINTED && !t->private_loaded)
		return 0;
	rc = piv_data_set(t, i, value, len);
	if (rc == 0 && tag != PIV_OBJ_PRINTED)
		t->data_seen |= 1u << i;
	if (tag == PIV_OBJ_KEY_HISTORY)
		t->has_key_history = len > 0;
	piv_token_changed(t);
	return rc;
}

int piv_admin_create_data(struct tk_token *tok, const struct tk_attr *tmpl,
			  size_t n, uint32_t *handle)
{
	const uint8_t *value = NULL;
	size_t len = 0;
	uint32_t tag = 0;
	int rc = piv_data_request(tmpl, n, &tag, &value, &len);

	if (rc)
		return rc;
	*handle = tag;
	return piv_admin_write_data(token_of(tok), tag, value, len);
}

/* An empty PUT DATA deletes. */
int piv_admin_delete_data(struct tk_token *tok, uint32_t tag)
{
	return piv_admin_write_data(token_of(tok), tag, NULL, 0);
}

static int op_attest(struct piv_token *t, void *arg)
{
	struct admin_arg *a = arg;

	return yk_attest(t->piv, a->ref, &a->out);
}

void piv_attest_forget(struct piv_token *t, int i)
{
	free(t->attest_der[i]);
	t->attest_der[i] = NULL;
	t->attest_len[i] = 0;
}

/* *der is malloc'd; the caller frees it with free(). One F9 per key: the
 * answer is kept until the key in the slot changes. */
int piv_admin_attest(struct tk_token *tok, uint8_t ref, uint8_t **der,
		     size_t *len)
{
	struct piv_token *t = token_of(tok);
	struct admin_arg a = { .ref = ref };
	int i = piv_key_index(ref);
	int rc;

	if (!der || !len || i < 0 || !piv_slot_is_key(ref))
		return TK_ERR_ARG;
	*der = NULL;
	*len = 0;
	if (!(t->info.caps & TK_CAP_ATTEST))
		return TK_ERR_UNSUPPORTED;
	if (!t->attest_der[i]) {
		buf_init(&a.out, PIV_RESP_MAX);
		rc = piv_token_run(t, op_attest, &a, PIV_RUN_RESELECT);
		if (rc == 0)
			t->attest_der[i] = buf_steal(&a.out, &t->attest_len[i]);
		buf_free(&a.out);
		if (rc)
			return rc;
		if (!t->attest_der[i])
			return TK_ERR_NOMEM;
	}
	*der = malloc(t->attest_len[i]);
	if (!*der)
		return TK_ERR_NOMEM;
	memcpy(*der, t->attest_der[i], t->attest_len[i]);
	*len = t->attest_len[i];
	return 0;
}

static int op_reset(struct piv_token *t, void *arg)
{
	int rc = yk_reset(t->piv);

	if (rc == 0) /* a new card: read it again, in the same transaction */
		rc = piv_read_card(t);
	return rc;
}

int piv_admin_reset(struct tk_token *tok)
{
	struct piv_token *t = token_of(tok);
	int rc;

	if (!(t->info.caps & TK_CAP_RESET))
		return TK_ERR_UNSUPPORTED;
	rc = piv_token_run(t, op_reset, NULL, PIV_RUN_RESELECT);
	if (rc == 0) {
		piv_token_forget_pin(t);
		t->admin = false;
		piv_read_info(t);
	}
	return rc;
}
