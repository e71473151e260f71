/* Reading a PIV card into the cache: little at open, the rest on first need,
 * each part at most once per open.
 *
 * Open (piv_read_card) reads what the token's description needs:
 *   SELECT; FD version (6D00: not a YubiKey); F8 serial (5.0+);
 *   5.3+: F7 of the PIN (retries, default PIN); else an empty VERIFY;
 *   no serial (plain PIV card, YubiKey 4): the CHUID for the identity.
 * A YubiKey 5.3+ opens in 4 APDUs.
 *
 * Discovery (piv_discover), when the front end is about to look:
 *   a key slot: 5.3+: its F7 (keys are found without certificates; policies,
 *   origin and public key come with them); without F7, its certificate;
 *   a certificate: GET DATA of the slot's object (with F7: only for a slot
 *   that holds a key); F9 is only its certificate;
 *   all slots: as above for each; without F7, the retired slots the Key
 *   History counts (all twenty without one) and F9 on YubiKey 4.3+ only;
 *   data: CHUID, CCC, Discovery, Key History.
 * The 9B F7 (management-key algorithm) is read at the first SO login.
 * Printed Information needs the PIN: piv_read_private, after login. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "drv_log.h"
#include "piv_int.h"

#define BIT(i) (1u << (i))
/* The data objects discovery reads: all but Printed Information. */
static const uint32_t public_tags[] = { PIV_OBJ_CHUID, PIV_OBJ_CCC,
					PIV_OBJ_DISCOVERY,
					PIV_OBJ_KEY_HISTORY };
#define NPUBLIC_TAGS (sizeof(public_tags) / sizeof(public_tags[0]))

/* Errors that end the read (the card or the link failed), as opposed to a
 * card answering "not here" or "not supported" for one object. */
static bool read_fatal(int rc)
{
	return rc == TK_ERR_REMOVED || rc == TK_ERR_RESET ||
	       rc == TK_ERR_TRANSPORT || rc == TK_ERR_BUSY ||
	       rc == TK_ERR_NOMEM;
}

/* For the YubiKey instructions of a card known to have them (F8 on 5+,
 * F7 on 5.3+): an answer we cannot parse is a broken card, not an absent
 * object, and must not silently hide a key. FD itself stays lenient: other
 * PIV cards answer it with whatever status they like. */
static bool yk_read_fatal(int rc)
{
	return rc == TK_ERR_DEVICE || read_fatal(rc);
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

/* One public data object, once. */
static int read_data(struct piv_token *t, uint32_t tag, struct buf *v)
{
	int i = piv_data_index(tag);
	int rc;

	if (t->data_seen & BIT(i))
		return 0;
	rc = piv_get_data(t->piv, tag, v);
	if (rc && read_fatal(rc))
		return rc;
	if (rc) { /* absent or unreadable: known not to be there */
		t->data_seen |= BIT(i);
		return 0;
	}
	rc = piv_data_set(t, i, v->data, v->len);
	if (rc)
		return rc;
	t->data_seen |= BIT(i);
	if (tag == PIV_OBJ_CHUID)
		read_chuid(t, v);
	else if (tag == PIV_OBJ_KEY_HISTORY)
		read_key_history(t, v);
	piv_token_changed(t);
	return 0;
}

static bool fw_at_least(const struct tk_token_info *in, int maj, int min)
{
	return in->fw_major > maj ||
	       (in->fw_major == maj && in->fw_minor >= min);
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
		return yk_read_fatal(rc) ? rc : 0;
	snprintf(t->info.serial, sizeof(t->info.serial), "%u", serial);
	return 0;
}

/* F7 of the PIN: retries and whether it is the factory PIN. The PUK's
 * retries stay unknown until a PUK operation tells them. */
static int read_pin_metadata(struct piv_token *t)
{
	struct yk_metadata md;
	int rc = yk_get_metadata(t->piv, PIV_REF_PIN, &md);

	if (rc == 0 && md.has_retries) {
		t->info.pin_tries_max = md.retries_total;
		piv_pin_tries_set(t, md.retries_left);
	}
	t->info.pin_is_default = rc == 0 && md.has_default && md.is_default;
	return yk_read_fatal(rc) ? rc : 0;
}

int piv_read_mgm(struct piv_token *t)
{
	struct yk_metadata md;
	int rc;

	if (t->mgm_seen || !t->has_metadata)
		return 0;
	rc = yk_get_metadata(t->piv, PIV_SLOT_MGM, &md);
	if (rc && yk_read_fatal(rc))
		return rc;
	if (rc == 0 && md.has_algorithm && piv_mgm_key_len(md.algorithm))
		t->mgm_alg = md.algorithm;
	t->info.admin_is_default = rc == 0 && md.has_default && md.is_default;
	t->mgm_seen = true;
	return 0;
}

/* One key slot's F7: the key without any certificate. */
static int read_slot_metadata(struct piv_token *t, int i)
{
	struct tk_key *k = &t->keys[i];
	uint8_t ref = (uint8_t)k->handle;
	struct yk_metadata md;
	int rc = yk_get_metadata(t->piv, ref, &md);

	if (rc)
		return yk_read_fatal(rc) ? rc : 0;
	if (!md.has_algorithm || piv_alg_to_tk(md.algorithm) == TK_ALG_NONE)
		return 0;
	k->alg = piv_alg_to_tk(md.algorithm);
	if (md.has_policy) {
		k->pin_policy = piv_pin_policy_to_tk(ref, md.pin_policy);
		k->touch_policy = piv_touch_policy_to_tk(md.touch_policy);
	}
	k->generated = md.has_origin && md.origin == YK_ORIGIN_GENERATED;
	if (md.pubkey_len && piv_pubkey_parse(md.algorithm, md.pubkey,
					      md.pubkey_len, &k->pub) != 0)
		DRV_LOG("slot %02X: public key in metadata unreadable", ref);
	t->has_key[i] = true;
	return 0;
}

/* Whether slot i's key is found by its certificate (no F7 for it). */
static bool key_by_cert(const struct piv_token *t, int i)
{
	return !t->has_metadata || piv_key_refs[i] == PIV_SLOT_ATTEST;
}

/* Without F7, discovering every slot skips the ones that cannot hold a
 * certificate worth a GET DATA. */
static bool cert_worth_all(const struct piv_token *t, int i)
{
	uint8_t ref = piv_key_refs[i];

	if (ref == PIV_SLOT_ATTEST)
		return t->yubikey && fw_at_least(&t->info, 4, 3);
	if (t->has_metadata)
		return true;
	if (ref >= PIV_SLOT_RETIRED1 && ref <= PIV_SLOT_RETIRED20)
		return !t->has_key_history ||
		       ref - PIV_SLOT_RETIRED1 < t->retired_on_card;
	return true;
}

static int read_cert(struct piv_token *t, int i, struct buf *v, struct buf *der)
{
	struct tk_key *k = &t->keys[i];
	uint32_t tag;
	int rc;

	if (piv_slot_object((uint8_t)k->handle, &tag) != 0)
		return 0;
	rc = piv_get_data(t->piv, tag, v);
	if (rc == 0)
		rc = piv_cert_parse(v->data, v->len, der);
	if (rc == 0)
		rc = piv_key_set_cert(k, der->data, der->len);
	if (rc)
		return read_fatal(rc) ? rc : 0;
	if (key_by_cert(t, i) && !t->has_key[i]) { /* known by its cert */
		k->generated = false;
		t->has_key[i] = true;
	}
	return 0;
}

/* What one discovery reads: slots whose key / certificate is still
 * unknown, and data objects. */
struct discover_plan {
	uint32_t keys, certs;
	bool data, all;
};

/* Slot i's key (F7), then its certificate when planned or needed. */
static int discover_slot(struct piv_token *t, const struct discover_plan *p,
			 int i, struct buf *v, struct buf *der)
{
	bool by_cert = key_by_cert(t, i);
	bool cert = (p->certs & BIT(i)) || (by_cert && (p->keys & BIT(i)));
	int rc = 0;

	if ((p->keys & BIT(i)) && !by_cert) {
		rc = read_slot_metadata(t, i);
		if (rc)
			return rc;
		t->key_seen |= BIT(i);
		/* Every key needs a public key: metadata or certificate. */
		cert = cert || (t->has_key[i] && !t->keys[i].pub);
	}
	if (cert && !(t->cert_seen & BIT(i))) {
		if ((by_cert || t->has_key[i]) &&
		    (!p->all || cert_worth_all(t, i)))
			rc = read_cert(t, i, v, der);
		if (rc)
			return rc;
		t->cert_seen |= BIT(i);
		if (by_cert)
			t->key_seen |= BIT(i);
	}
	if (t->has_key[i] && !t->keys[i].pub)
		t->has_key[i] = false;
	return 0;
}

static int op_discover(struct piv_token *t, void *arg)
{
	const struct discover_plan *p = arg;
	struct buf v, der;
	int rc = 0;

	buf_init(&v, PIV_RESP_MAX);
	buf_init(&der, PIV_CERT_MAX);
	for (size_t j = 0; p->data && rc == 0 && j < NPUBLIC_TAGS; j++)
		rc = read_data(t, public_tags[j], &v);
	/* Without F7, the Key History says which retired slots to read. */
	if (rc == 0 && p->all && !t->has_metadata)
		rc = read_data(t, PIV_OBJ_KEY_HISTORY, &v);
	for (int i = 0; rc == 0 && i < PIV_NKEYS; i++)
		if ((p->keys | p->certs) & BIT(i))
			rc = discover_slot(t, p, i, &v, &der);
	piv_token_changed(t);
	buf_free(&v);
	buf_free(&der);
	return rc;
}

int piv_discover(struct piv_token *t, unsigned what, uint8_t ref)
{
	struct discover_plan p = { .all = what & TK_DISCOVER_ALL };
	uint32_t slots = 0;
	int i = piv_key_index(ref);

	if (what & (TK_DISCOVER_KEY | TK_DISCOVER_CERT))
		slots = p.all ? BIT(PIV_NKEYS) - 1 : i >= 0 ? BIT(i) : 0;
	p.keys = slots & ~t->key_seen;
	if (what & TK_DISCOVER_CERT)
		p.certs = slots & ~t->cert_seen;
	for (size_t j = 0; (what & TK_DISCOVER_DATA) && j < NPUBLIC_TAGS; j++)
		if (!(t->data_seen & BIT(piv_data_index(public_tags[j]))))
			p.data = true;
	if (!p.keys && !p.certs && !p.data)
		return 0;
	return piv_token_run(t, op_discover, &p, PIV_RUN_RESELECT);
}

int piv_discover_id(struct piv_token *t, unsigned what, const uint8_t *id,
		    size_t id_len)
{
	int i = piv_id_index(id, id_len);

	if (what & TK_DISCOVER_ALL)
		return piv_discover(t, what, 0);
	if (i < 0) /* no such slot: only the data objects asked for */
		what &= TK_DISCOVER_DATA;
	return piv_discover(t, what, i < 0 ? 0 : piv_key_refs[i]);
}

/* Without F7: the retry counter from an empty VERIFY. */
static int read_pin_status(struct piv_token *t)
{
	int tries = -1;
	int rc = piv_pin_status(t->piv, PIV_REF_PIN, &tries);

	if (rc == TK_ERR_AUTH_REQUIRED || rc == TK_ERR_PIN_LOCKED)
		piv_pin_tries_set(t, tries);
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
	struct buf v;
	int rc;

	piv_cache_clear(t);
	info_defaults(&t->info);
	t->pin_tries_high = -1;
	t->yubikey = t->has_metadata = t->has_ident = false;
	t->has_key_history = false;
	t->retired_on_card = 0;
	t->mgm_alg = PIV_ALG_3DES;
	rc = piv_select(t->piv, &t->app);
	if (rc)
		return read_fatal(rc) ? rc : TK_ERR_NOT_FOUND;
	rc = read_yubikey(t);
	if (rc == 0)
		rc =
		    t->has_metadata ? read_pin_metadata(t) : read_pin_status(t);
	if (rc == 0 && !t->info.serial[0]) { /* identity from the CHUID */
		buf_init(&v, PIV_RESP_MAX);
		rc = read_data(t, PIV_OBJ_CHUID, &v);
		buf_free(&v);
	}
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
		{ PIV_ALG_RSA1024, TK_CAP_RSA1024 },
		{ PIV_ALG_RSA2048, TK_CAP_RSA2048 },
		{ PIV_ALG_RSA3072, TK_CAP_RSA3072 },
		{ PIV_ALG_RSA4096, TK_CAP_RSA4096 },
		{ PIV_ALG_ECCP256, TK_CAP_P256 },
		{ PIV_ALG_ECCP384, TK_CAP_P384 },
		{ PIV_ALG_ED25519, TK_CAP_ED25519 },
		{ PIV_ALG_X25519, TK_CAP_X25519 },
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
	/* The SO is the management key; C_InitToken a reset it authorises
	 * (refused by cards that cannot reset: TK_ERR_UNSUPPORTED). */
	in->login = TK_LOGIN_USER | TK_LOGIN_SO | TK_LOGIN_SO_RESET;
}
