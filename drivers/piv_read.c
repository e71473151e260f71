/* Reading a PIV card into the cache, once, in as few APDUs as it allows:
 *
 *   SELECT; GET DATA CHUID (the library probes extended length on it, so
 *   every later answer comes in one APDU), CCC, Discovery, Key History;
 *   FD version (6D00: not a YubiKey); F8 serial (5.0+);
 *   5.3+: F7 of PIN, PUK, 9B and of every key slot (keys are found without
 *   certificates; policies, origin and public key come with them), then the
 *   certificate of each occupied slot only;
 *   else: the certificates of 9A/9C/9D/9E, of the retired slots the Key
 *   History counts (all twenty without one), of F9 on YubiKey 4.3+, and
 *   an empty VERIFY for the PIN retry counter.
 *
 * Printed Information needs the PIN: piv_read_private, after login. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "drv_log.h"
#include "piv_int.h"

/* Errors that end the read (the card or the link failed), as opposed to a
 * card answering "not here" or "not supported" for one object. */
static bool read_fatal(int rc)
{
	return rc == TK_ERR_REMOVED || rc == TK_ERR_RESET ||
	       rc == TK_ERR_TRANSPORT || rc == TK_ERR_BUSY ||
	       rc == TK_ERR_NOMEM;
}

static void read_chuid(struct piv_token *t, const struct buf *v)
{
	static const uint8_t zero[16];
	struct piv_chuid ch;
	uint8_t md[32];
	unsigned mdlen = 0;

	if (piv_chuid_parse(v->data, v->len, &ch) != 0)
		return;
	if (ch.has_guid && memcmp(ch.guid, zero, sizeof(zero)) != 0) {
		memcpy(t->ident, ch.guid, sizeof(t->ident));
		t->has_ident = true;
	} else if (ch.has_fascn &&
		   EVP_Digest(ch.fascn, sizeof(ch.fascn), md, &mdlen,
			      EVP_sha256(), NULL) == 1) {
		/* The FASC-N's leading digits name the agency, not the
		 * card: a digest tells cards apart. */
		memcpy(t->ident, md, sizeof(t->ident));
		t->has_ident = true;
	}
}

static void read_key_history(struct piv_token *t, const struct buf *v)
{
	struct piv_key_history kh;

	if (piv_key_history_parse(v->data, v->len, &kh) != 0)
		return;
	t->has_key_history = true;
	t->retired_on_card = kh.on_card > 20 ? 20 : kh.on_card;
}

/* The public data objects, CHUID first: it carries the extended probe. */
static int read_objects(struct piv_token *t)
{
	static const uint32_t tags[] = { PIV_OBJ_CHUID, PIV_OBJ_CCC,
					 PIV_OBJ_DISCOVERY,
					 PIV_OBJ_KEY_HISTORY };
	struct buf v;
	int rc = 0;

	buf_init(&v, PIV_RESP_MAX);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		rc = piv_get_data(t->piv, tags[i], &v);
		if (rc) {
			if (read_fatal(rc))
				break;
			rc = 0;
			continue;
		}
		rc = piv_data_set(t, piv_data_index(tags[i]), v.data, v.len);
		if (rc)
			break;
		if (tags[i] == PIV_OBJ_CHUID)
			read_chuid(t, &v);
		else if (tags[i] == PIV_OBJ_KEY_HISTORY)
			read_key_history(t, &v);
	}
	buf_free(&v);
	return rc;
}

static bool fw_at_least(const struct tk_token_info *in, int maj, int min)
{
	return in->fw_major > maj || (in->fw_major == maj && in->fw_minor >= min);
}

/* FD and F8: a card that refuses FD is a plain PIV card. */
static int read_yubikey(struct piv_token *t)
{
	struct yk_version v;
	uint32_t serial;
	int rc = yk_get_version(t->piv, &v);

	if (rc)
		return read_fatal(rc) ? rc : 0;
	t->yubikey = true;
	t->info.fw_major = v.major;
	t->info.fw_minor = v.minor;
	t->info.fw_patch = v.patch;
	t->has_metadata = fw_at_least(&t->info, 5, 3);
	if (v.major < 5)
		return 0;
	rc = yk_get_serial(t->piv, &serial);
	if (rc)
		return read_fatal(rc) ? rc : 0;
	snprintf(t->info.serial, sizeof(t->info.serial), "%u", serial);
	return 0;
}

/* F7 of the PIN, the PUK and the management key. */
static int read_ref_metadata(struct piv_token *t)
{
	struct yk_metadata md;
	int rc = yk_get_metadata(t->piv, PIV_REF_PIN, &md);

	if (rc == 0 && md.has_retries) {
		t->info.pin_tries_left = md.retries_left;
		t->info.pin_tries_max = md.retries_total;
	}
	t->info.pin_is_default = rc == 0 && md.has_default && md.is_default;
	if (rc == 0 || !read_fatal(rc))
		rc = yk_get_metadata(t->piv, PIV_REF_PUK, &md);
	if (rc == 0 && md.has_retries)
		t->info.puk_tries_left = md.retries_left;
	if (rc == 0 || !read_fatal(rc))
		rc = yk_get_metadata(t->piv, PIV_SLOT_MGM, &md);
	if (rc == 0 && md.has_algorithm && piv_mgm_key_len(md.algorithm))
		t->mgm_alg = md.algorithm;
	t->info.admin_is_default = rc == 0 && md.has_default && md.is_default;
	return read_fatal(rc) ? rc : 0;
}

/* One key slot's F7: the key without any certificate. */
static int read_slot_metadata(struct piv_token *t, int i)
{
	struct tk_key *k = &t->keys[i];
	struct yk_metadata md;
	int rc = yk_get_metadata(t->piv, k->ref, &md);

	if (rc)
		return read_fatal(rc) ? rc : 0;
	if (!md.has_algorithm || piv_alg_to_tk(md.algorithm) == TK_ALG_NONE)
		return 0;
	k->alg = piv_alg_to_tk(md.algorithm);
	if (md.has_policy) {
		k->pin_policy = piv_pin_policy_to_tk(k->ref, md.pin_policy);
		k->touch_policy = piv_touch_policy_to_tk(md.touch_policy);
	}
	k->generated = md.has_origin && md.origin == YK_ORIGIN_GENERATED;
	if (md.pubkey_len &&
	    piv_pubkey_parse(md.algorithm, md.pubkey, md.pubkey_len,
			     &k->pub) != 0)
		DRV_LOG("slot %02X: public key in metadata unreadable", k->ref);
	t->has_key[i] = true;
	return 0;
}

/* Which slots may hold a certificate worth a GET DATA. */
static bool cert_wanted(const struct piv_token *t, int i)
{
	uint8_t ref = piv_key_refs[i];

	if (t->has_metadata)
		return t->has_key[i];
	if (ref == PIV_SLOT_ATTEST)
		return t->yubikey && fw_at_least(&t->info, 4, 3);
	if (ref >= PIV_SLOT_RETIRED1 && ref <= PIV_SLOT_RETIRED20)
		return !t->has_key_history ||
		       ref - PIV_SLOT_RETIRED1 < t->retired_on_card;
	return true;
}

static int read_cert(struct piv_token *t, int i, struct buf *v,
		     struct buf *der)
{
	struct tk_key *k = &t->keys[i];
	uint32_t tag;
	int rc;

	if (piv_slot_object(k->ref, &tag) != 0)
		return 0;
	rc = piv_get_data(t->piv, tag, v);
	if (rc == 0)
		rc = piv_cert_parse(v->data, v->len, der);
	if (rc == 0)
		rc = piv_key_set_cert(k, der->data, der->len);
	if (rc)
		return read_fatal(rc) ? rc : 0;
	if (!t->has_metadata) { /* a key known from its certificate */
		k->generated = false;
		t->has_key[i] = true;
	}
	return 0;
}

static int read_certs(struct piv_token *t)
{
	struct buf v, der;
	int rc = 0;

	buf_init(&v, PIV_RESP_MAX);
	buf_init(&der, PIV_CERT_MAX);
	for (int i = 0; i < PIV_NKEYS && rc == 0; i++) {
		if (cert_wanted(t, i))
			rc = read_cert(t, i, &v, &der);
		/* Every key needs a public key: metadata or certificate. */
		if (t->has_key[i] && !t->keys[i].pub)
			t->has_key[i] = false;
	}
	buf_free(&v);
	buf_free(&der);
	return rc;
}

/* Without F7: the retry counter from an empty VERIFY. */
static int read_pin_status(struct piv_token *t)
{
	int tries = -1;
	int rc = piv_pin_status(t->piv, PIV_REF_PIN, &tries);

	if (rc == TK_ERR_AUTH_REQUIRED || rc == TK_ERR_PIN_LOCKED)
		t->info.pin_tries_left = tries;
	return read_fatal(rc) ? rc : 0;
}

static void info_defaults(struct tk_token_info *in)
{
	memset(in, 0, sizeof(*in));
	in->pin_min = 6;
	in->pin_max = 8;
	in->pin_tries_left = in->pin_tries_max = in->puk_tries_left = -1;
}

int piv_read_card(struct piv_token *t)
{
	int rc;

	piv_cache_clear(t);
	info_defaults(&t->info);
	t->yubikey = t->has_metadata = t->has_ident = false;
	t->has_key_history = false;
	t->retired_on_card = 0;
	t->mgm_alg = PIV_ALG_3DES;
	rc = piv_select(t->piv, &t->app);
	if (rc)
		return read_fatal(rc) ? rc : TK_ERR_NOT_FOUND;
	rc = read_objects(t);
	if (rc == 0)
		rc = read_yubikey(t);
	if (rc == 0 && t->has_metadata)
		rc = read_ref_metadata(t);
	for (int i = 0; rc == 0 && t->has_metadata && i < PIV_NKEYS; i++)
		rc = read_slot_metadata(t, i);
	if (rc == 0 && !t->has_metadata)
		rc = read_pin_status(t);
	if (rc == 0)
		rc = read_certs(t);
	piv_token_changed(t);
	return rc;
}

int piv_read_private(struct piv_token *t, void *arg)
{
	struct buf v;
	int rc;

	buf_init(&v, PIV_RESP_MAX);
	v.secret = true;
	rc = piv_get_data(t->piv, PIV_OBJ_PRINTED, &v);
	if (rc == 0)
		rc = piv_data_set(t, piv_data_index(PIV_OBJ_PRINTED), v.data,
				  v.len);
	if (rc == TK_ERR_NOT_FOUND) /* absent: nothing to load */
		rc = 0;
	if (rc == 0) {
		t->private_loaded = true;
		piv_token_changed(t);
	}
	buf_free(&v);
	return rc;
}

static uint32_t caps_of_alg(uint8_t alg)
{
	static const struct {
		uint8_t alg;
		uint32_t cap;
	} map[] = {
		{ PIV_ALG_RSA1024, TK_CAP_RSA1024 }, { PIV_ALG_RSA2048, TK_CAP_RSA2048 },
		{ PIV_ALG_RSA3072, TK_CAP_RSA3072 }, { PIV_ALG_RSA4096, TK_CAP_RSA4096 },
		{ PIV_ALG_ECCP256, TK_CAP_P256 },    { PIV_ALG_ECCP384, TK_CAP_P384 },
		{ PIV_ALG_ED25519, TK_CAP_ED25519 }, { PIV_ALG_X25519, TK_CAP_X25519 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].alg == alg)
			return map[i].cap;
	return 0;
}

static uint32_t yubikey_caps(const struct tk_token_info *in)
{
	uint32_t caps = TK_CAP_RSA1024 | TK_CAP_RSA2048 | TK_CAP_P256 |
			TK_CAP_GENERATE | TK_CAP_IMPORT | TK_CAP_RESET;

	if (in->fw_major >= 4)
		caps |= TK_CAP_P384 | TK_CAP_POLICIES;
	if (fw_at_least(in, 4, 3))
		caps |= TK_CAP_ATTEST;
	if (fw_at_least(in, 5, 7))
		caps |= TK_CAP_RSA3072 | TK_CAP_RSA4096 | TK_CAP_ED25519 |
			TK_CAP_X25519 | TK_CAP_DELETE_KEY;
	return caps;
}

/* A plain PIV card: what its SELECT lists, else the common two. Keys are
 * generated with the standard's GENERATE; no import, policies or reset. */
static uint32_t piv_card_caps(const struct piv_app_info *app)
{
	uint32_t caps = 0;

	for (size_t i = 0; i < app->nalgs; i++)
		caps |= caps_of_alg(app->algs[i]);
	if (!caps)
		caps = TK_CAP_RSA2048 | TK_CAP_P256;
	return caps | TK_CAP_GENERATE;
}

static void hex_prefix(char *out, size_t size, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 2 < size; i++, o += 2)
		snprintf(out + o, size - o, "%02X", p[i]);
}

void piv_read_info(struct piv_token *t)
{
	struct tk_token_info *in = &t->info;
	char id[17] = "";

	if (t->has_ident)
		hex_prefix(id, sizeof(id), t->ident, sizeof(t->ident));
	if (t->yubikey) {
		snprintf(in->manufacturer, sizeof(in->manufacturer), "Yubico");
		snprintf(in->model, sizeof(in->model), "YubiKey %u",
			 in->fw_major);
		in->caps = yubikey_caps(in);
	} else {
		snprintf(in->manufacturer, sizeof(in->manufacturer), "PIV");
		snprintf(in->model, sizeof(in->model), "PIV");
		in->caps = piv_card_caps(&t->app);
	}
	if (in->serial[0])
		snprintf(in->label, sizeof(in->label), "YubiKey PIV #%s",
			 in->serial);
	else if (id[0])
		snprintf(in->label, sizeof(in->label), "%s %s",
			 t->yubikey ? "YubiKey PIV" : "PIV card", id);
	else
		snprintf(in->label, sizeof(in->label), "%s",
			 t->yubikey ? "YubiKey PIV" : "PIV card");
	if (!in->serial[0])
		snprintf(in->serial, sizeof(in->serial), "%s", id);
}
