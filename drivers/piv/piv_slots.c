/* The PIV driver's tables: key slots and their CKA_ID and labels, data
 * objects, algorithm and policy conversions, and the cache entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "drv_log.h"
#include "piv_int.h"

const uint8_t piv_key_refs[PIV_NKEYS] = {
	0x9a, 0x9c, 0x9d, 0x9e, 0x82, 0x83, 0x84, 0x85, 0x86,
	0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0xf9,
};

struct data_def {
	uint32_t tag;
	const char *label;
	bool private;
};

static const struct data_def data_defs[PIV_NDATA] = {
	{ PIV_OBJ_CHUID, "Card Holder Unique Identifier", false },
	{ PIV_OBJ_CCC, "Card Capability Container", false },
	{ PIV_OBJ_DISCOVERY, "Discovery Object", false },
	{ PIV_OBJ_KEY_HISTORY, "Key History Object", false },
	{ PIV_OBJ_PRINTED, "Printed Information", true },
};

struct alg_def {
	uint8_t piv;
	enum tk_alg tk;
};

static const struct alg_def alg_defs[] = {
	{ PIV_ALG_RSA1024, TK_ALG_RSA1024 },
	{ PIV_ALG_RSA2048, TK_ALG_RSA2048 },
	{ PIV_ALG_RSA3072, TK_ALG_RSA3072 },
	{ PIV_ALG_RSA4096, TK_ALG_RSA4096 },
	{ PIV_ALG_ECCP256, TK_ALG_P256 },
	{ PIV_ALG_ECCP384, TK_ALG_P384 },
	{ PIV_ALG_ED25519, TK_ALG_ED25519 },
	{ PIV_ALG_X25519, TK_ALG_X25519 },
};

/* YubiKey policy bytes <-> ours; index = the card's value. */
static const enum tk_pin_policy pin_policies[] = {
	TK_PIN_POLICY_DEFAULT,    TK_PIN_POLICY_NEVER,
	TK_PIN_POLICY_ONCE,       TK_PIN_POLICY_ALWAYS,
	TK_PIN_POLICY_MATCH_ONCE, TK_PIN_POLICY_MATCH_ALWAYS,
};
static const enum tk_touch_policy touch_policies[] = {
	TK_TOUCH_POLICY_DEFAULT,
	TK_TOUCH_POLICY_NEVER,
	TK_TOUCH_POLICY_ALWAYS,
	TK_TOUCH_POLICY_CACHED,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int piv_key_index(uint8_t ref)
{
	for (size_t i = 0; i < PIV_NKEYS; i++)
		if (piv_key_refs[i] == ref)
			return (int)i;
	return -1;
}

void piv_key_init(struct tk_key *k, int i)
{
	memset(k, 0, sizeof(*k));
	k->handle = piv_key_refs[i];
	piv_id_of(i, &k->id);
	piv_key_labels(k, i);
	/* A YubiKey does not use F9 for GENERAL AUTHENTICATE: only its
	 * certificate is an object. */
	k->cert_only = k->handle == PIV_SLOT_ATTEST;
	k->pin_policy = piv_slot_pin_default((uint8_t)k->handle);
	k->touch_policy = TK_TOUCH_POLICY_NEVER;
}

void piv_key_clear(struct tk_key *k)
{
	EVP_PKEY_free(k->pub);
	free(k->cert);
	k->pub = NULL;
	k->cert = NULL;
	k->cert_len = 0;
	k->alg = TK_ALG_NONE;
	k->generated = false;
	k->pin_policy = piv_slot_pin_default((uint8_t)k->handle);
	k->touch_policy = TK_TOUCH_POLICY_NEVER;
}

enum tk_pin_policy piv_slot_pin_default(uint8_t ref)
{
	if (ref == PIV_SLOT_SIGN)
		return TK_PIN_POLICY_ALWAYS;
	if (ref == PIV_SLOT_CARDAUTH)
		return TK_PIN_POLICY_NEVER;
	return TK_PIN_POLICY_ONCE;
}

enum tk_alg piv_alg_to_tk(uint8_t alg)
{
	for (size_t i = 0; i < COUNT(alg_defs); i++)
		if (alg_defs[i].piv == alg)
			return alg_defs[i].tk;
	return TK_ALG_NONE;
}

uint8_t piv_alg_from_tk(enum tk_alg alg)
{
	for (size_t i = 0; i < COUNT(alg_defs); i++)
		if (alg_defs[i].tk == alg)
			return alg_defs[i].piv;
	return 0;
}

enum tk_pin_policy piv_pin_policy_to_tk(uint8_t ref, uint8_t p)
{
	if (p == 0 || p >= COUNT(pin_policies))
		return piv_slot_pin_default(ref);
	return pin_policies[p];
}

enum tk_touch_policy piv_touch_policy_to_tk(uint8_t p)
{
	if (p == 0 || p >= COUNT(touch_policies))
		return TK_TOUCH_POLICY_NEVER;
	return touch_policies[p];
}

uint8_t piv_pin_policy_from_tk(enum tk_pin_policy p)
{
	for (size_t i = 0; i < COUNT(pin_policies); i++)
		if (pin_policies[i] == p)
			return (uint8_t)i;
	return 0;
}

uint8_t piv_touch_policy_from_tk(enum tk_touch_policy p)
{
	for (size_t i = 0; i < COUNT(touch_policies); i++)
		if (touch_policies[i] == p)
			return (uint8_t)i;
	return 0;
}

/* The public key of a DER certificate and its PIV algorithm. */
static int cert_pubkey(const uint8_t *der, size_t len, EVP_PKEY **pub,
		       enum tk_alg *alg)
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t a = 0;
	int rc = TK_ERR_INVALID;

	*pub = NULL;
	if (!x || p != der + len)
		goto out;
	*pub = X509_get_pubkey(x);
	if (!*pub || piv_pubkey_alg(*pub, &a) != 0 || piv_alg_to_tk(a) == 0) {
		EVP_PKEY_free(*pub);
		*pub = NULL;
		goto out;
	}
	*alg = piv_alg_to_tk(a);
	rc = 0;
out:
	X509_free(x);
	return rc;
}

int piv_key_set_cert(struct tk_key *k, const uint8_t *der, size_t len)
{
	EVP_PKEY *pub = NULL;
	enum tk_alg alg = TK_ALG_NONE;
	uint8_t *copy;
	int rc = cert_pubkey(der, len, &pub, &alg);

	if (rc) {
		DRV_LOG("slot %02X: certificate unreadable",
			(unsigned)k->handle);
		return rc;
	}
	copy = malloc(len);
	if (!copy) {
		EVP_PKEY_free(pub);
		return TK_ERR_NOMEM;
	}
	memcpy(copy, der, len);
	free(k->cert);
	k->cert = copy;
	k->cert_len = len;
	if (!k->pub) {
		k->pub = pub;
		k->alg = alg;
	} else {
		EVP_PKEY_free(pub);
	}
	return 0;
}

int piv_data_index(uint32_t tag)
{
	for (size_t i = 0; i < PIV_NDATA; i++)
		if (data_defs[i].tag == tag)
			return (int)i;
	return -1;
}

static void data_clear(struct tk_data *d)
{
	if (d->value && d->private)
		explicit_bzero(d->value, d->len);
	free(d->value);
	d->value = NULL;
	d->len = 0;
}

int piv_data_set(struct piv_token *t, int i, const uint8_t *v, size_t len)
{
	struct tk_data *d = &t->data[i];
	uint8_t *copy = NULL;

	if (len) {
		copy = malloc(len);
		if (!copy)
			return TK_ERR_NOMEM;
		memcpy(copy, v, len);
	}
	data_clear(d);
	d->handle = data_defs[i].tag;
	snprintf(d->label, sizeof(d->label), "%s", data_defs[i].label);
	snprintf(d->application, sizeof(d->application), "PIV");
	piv_data_oid(d->handle, d);
	d->private = data_defs[i].private;
	d->value = copy;
	d->len = len;
	t->has_data[i] = len > 0;
	return 0;
}

/* Drops every cached object (close, reset, re-read). */
void piv_cache_clear(struct piv_token *t)
{
	for (int i = 0; i < PIV_NKEYS; i++) {
		piv_key_clear(&t->keys[i]);
		piv_key_init(&t->keys[i], i);
		t->has_key[i] = false;
	}
	for (int i = 0; i < PIV_NDATA; i++) {
		data_clear(&t->data[i]);
		t->has_data[i] = false;
	}
	t->private_loaded = false;
	t->key_seen = t->cert_seen = t->data_seen = 0;
	for (int i = 0; i < PIV_NKEYS; i++)
		piv_attest_forget(t, i);
	t->mgm_seen = false;
}
