/* A PIV card as a tk_token: open/close, the cache accessors, login state,
 * the private-key operations, and the recovery rules every operation runs
 * under (piv_token_run).
 *
 * Recovery, once per operation, inside one PC/SC transaction:
 *  - the card was reset by someone else (SCARD_W_RESET_CARD at the start of
 *    the transaction or on an APDU): reconnect, re-SELECT, re-VERIFY when
 *    the PIN is held, and run the operation (again, once);
 *  - PIV_RUN_RESELECT: the card answered as if another applet were selected
 *    (6D00, 6E00, 6A81 -> UNSUPPORTED; 6A82 -> NOT_FOUND; 6A80/6A86/6B00 ->
 *    INVALID): re-SELECT (and re-VERIFY when the PIN is held), retry once;
 *  - PIV_RUN_REVERIFY: 6982 while the PIN is held: VERIFY, retry once.
 *  - TK_ERR_REMOVED is final: the token answers it to everything after.
 *
 * The held PIN. login(TK_USER_PIN) keeps a copy of the PIN that succeeded;
 * logout(TK_USER_PIN) and close wipe it. The front end calls login for its
 * first logged-in application and logout when the last one logs out, so a
 * held PIN means "the front end says an application is logged in". It is
 * sent only to restore the card's verified state the front end already
 * established: after a reset or re-SELECT (above), and when a PIN-ONCE key
 * operation answers 6982 (a PIN-ALWAYS operation or another program
 * consumed the state). It is never sent on its own for a PIN-ALWAYS key:
 * those need a login(TK_USER_PIN) right before (CKU_CONTEXT_SPECIFIC), so
 * each use stays authorised by the user; only when the front end says such
 * an authorised operation lost its VERIFY to another program (reauth) is
 * it sent again. This is the one copy of the PIN: the front end keeps
 * none. An automatic VERIFY that fails forgets the PIN
 * at once (the PIN was changed elsewhere): it costs at most one try. The
 * management key is never kept: after a reset, admin operations answer
 * TK_ERR_AUTH_REQUIRED and the front end logs in again. */
#include <stdlib.h>
#include <string.h>

#include "drv_log.h"
#include "drv_setpin.h"
#include "piv_int.h"

static const struct tk_token_ops piv_token_ops;

static struct piv_token *token_of(struct tk_token *tok)
{
	return (struct piv_token *)tok;
}

void piv_token_forget_pin(struct piv_token *t)
{
	explicit_bzero(t->pin, sizeof(t->pin));
	t->pin_len = 0;
}

void piv_pin_tries_set(struct piv_token *t, int tries)
{
	if (tries < 0)
		return;
	t->info.pin_tries_left = tries;
	if (tries > t->pin_tries_high)
		t->pin_tries_high = tries;
}

void piv_pin_tries_full(struct piv_token *t)
{
	t->info.pin_tries_left = t->info.pin_tries_max >= 0
				     ? t->info.pin_tries_max
				     : t->pin_tries_high;
}

void piv_token_changed(struct piv_token *t)
{
	t->objs.gen++;
}

static bool wrong_applet(int rc)
{
	return rc == TK_ERR_UNSUPPORTED || rc == TK_ERR_NOT_FOUND ||
	       rc == TK_ERR_INVALID;
}

/* VERIFY with the held PIN, to restore a state the front end had. */
static int token_reverify(struct piv_token *t)
{
	int tries = -1;
	int rc = piv_verify(t->piv, PIV_REF_PIN, t->pin, t->pin_len, &tries);

	if (rc == TK_ERR_PIN_INCORRECT || rc == TK_ERR_PIN_LOCKED) {
		DRV_LOG("held PIN refused: forgotten");
		piv_token_forget_pin(t);
		piv_pin_tries_set(t, rc == TK_ERR_PIN_LOCKED ? 0 : tries);
		rc = TK_ERR_AUTH_REQUIRED;
	} else if (rc == 0) {
		piv_pin_tries_full(t);
	}
	return rc;
}

/* SELECT, and VERIFY when the PIN is held. Management-key authentication
 * is lost with the SELECT. */
static int token_restore(struct piv_token *t)
{
	int rc = piv_select(t->piv, NULL);

	t->admin = false;
	if (rc == 0 && t->pin_len)
		rc = token_reverify(t);
	return rc;
}

/* Within a transaction: the card was reset under us. */
static int token_reconnect(struct piv_token *t)
{
	bool was_reset;
	int rc;

	pcsc_card_end(t->card);
	rc = pcsc_card_reconnect(t->card, false);
	if (rc == 0)
		rc = pcsc_card_begin(t->card, &was_reset);
	if (rc)
		return rc == TK_ERR_REMOVED ? rc : TK_ERR_TRANSPORT;
	return token_restore(t);
}

/* One retry of fn after the recovery its failure calls for. */
static int token_retry(struct piv_token *t, piv_op_fn fn, void *arg,
		       unsigned flags, int rc)
{
	if (rc == TK_ERR_RESET) {
		DRV_LOG("card reset by another program: reconnecting");
		rc = token_reconnect(t);
	} else if ((flags & PIV_RUN_RESELECT) && wrong_applet(rc)) {
		rc = token_restore(t);
	} else if ((flags & PIV_RUN_REVERIFY) && rc == TK_ERR_AUTH_REQUIRED &&
		   t->pin_len) {
		rc = token_reverify(t);
	} else {
		return rc;
	}
	return rc ? rc : fn(t, arg);
}

int piv_token_run(struct piv_token *t, piv_op_fn fn, void *arg, unsigned flags)
{
	bool was_reset = false;
	int rc;

	if (t->dead)
		return TK_ERR_REMOVED;
	rc = pcsc_card_begin(t->card, &was_reset);
	if (rc)
		goto out;
	if (was_reset)
		rc = token_restore(t);
	if (rc == 0)
		rc = fn(t, arg);
	if (rc)
		rc = token_retry(t, fn, arg, flags, rc);
	pcsc_card_end(t->card);
out:
	if (rc == TK_ERR_REMOVED)
		t->dead = true;
	/* A second reset within one operation is not retried again. */
	return rc == TK_ERR_RESET ? TK_ERR_TRANSPORT : rc;
}

/* ---- The cache ---- */

static int token_info(struct tk_token *tok, struct tk_token_info *out)
{
	*out = token_of(tok)->info;
	return 0;
}

static int token_objects(struct tk_token *tok, const struct tk_objects **out)
{
	struct piv_token *t = token_of(tok);
	size_t nk = 0, nd = 0;

	for (size_t i = 0; i < PIV_NKEYS; i++)
		if (t->has_key[i])
			t->key_view[nk++] = t->keys[i];
	for (size_t i = 0; i < PIV_NDATA; i++)
		if (t->has_data[i])
			t->data_view[nd++] = t->data[i];
	t->objs.keys = t->key_view;
	t->objs.nkeys = nk;
	t->objs.data = t->data_view;
	t->objs.ndata = nd;
	*out = &t->objs;
	return 0;
}

static int token_discover(struct tk_token *tok, unsigned what,
			  const uint8_t *id, size_t id_len)
{
	return piv_discover_id(token_of(tok), what, id, id_len);
}

const struct tk_key *piv_token_key(struct tk_token *tok, uint32_t ref)
{
	struct piv_token *t = token_of(tok);
	int i = ref > 0xff ? -1 : piv_key_index((uint8_t)ref);

	return i >= 0 && t->has_key[i] ? &t->keys[i] : NULL;
}

static int token_load_private(struct tk_token *tok)
{
	struct piv_token *t = token_of(tok);

	if (t->private_loaded)
		return 0;
	return piv_token_run(t, piv_read_private, NULL,
			     PIV_RUN_RESELECT | PIV_RUN_REVERIFY);
}

/* ---- Login state ---- */

struct secret_arg {
	const uint8_t *p;
	size_t len;
	const uint8_t *p2; /* second secret: new PIN */
	size_t len2;
	uint8_t ref;
	int tries;
	bool verified;
};

static int op_verify(struct piv_token *t, void *arg)
{
	struct secret_arg *a = arg;

	return piv_verify(t->piv, PIV_REF_PIN, a->p, a->len, &a->tries);
}

/* The first SO login reads which algorithm the management key has. */
static int op_mgm_auth(struct piv_token *t, void *arg)
{
	struct secret_arg *a = arg;
	int rc = piv_read_mgm(t);

	if (rc == 0 && a->len != piv_mgm_key_len(t->mgm_alg))
		rc = TK_ERR_ARG;
	if (rc == 0)
		rc = piv_mgm_auth(t->piv, t->mgm_alg, a->p, a->len);
	t->admin = rc == 0;
	return rc;
}

static void pin_tries_update(struct piv_token *t, int rc, int tries)
{
	if (rc == 0)
		piv_pin_tries_full(t);
	else if (rc == TK_ERR_PIN_INCORRECT || rc == TK_ERR_PIN_LOCKED)
		piv_pin_tries_set(t, rc == TK_ERR_PIN_LOCKED ? 0 : tries);
}

static int login_pin(struct piv_token *t, const uint8_t *pin, size_t len)
{
	struct secret_arg a = { .p = pin, .len = len, .tries = -1 };
	int rc;

	if (!pin || len == 0 || len > sizeof(t->pin))
		return TK_ERR_ARG;
	rc = piv_token_run(t, op_verify, &a, PIV_RUN_RESELECT);
	pin_tries_update(t, rc, a.tries);
	if (rc == 0) {
		piv_token_forget_pin(t);
		memcpy(t->pin, pin, len);
		t->pin_len = len;
	} else if (rc == TK_ERR_PIN_LOCKED) {
		piv_token_forget_pin(t);
	}
	/* A wrong PIN leaves a held one in place: the application that
	 * logged in with it still is, and a later 6982 re-verifies. */
	return rc;
}

static int token_login(struct tk_token *tok, enum tk_user user,
		       const uint8_t *secret, size_t len)
{
	struct piv_token *t = token_of(tok);
	uint8_t key[64];
	struct secret_arg a = { .p = key };
	int rc;

	switch (user) {
	case TK_USER_PIN:
		return login_pin(t, secret, len);
	case TK_USER_ADMIN: /* the management key, in hex */
		if (!secret || len == 0)
			return TK_ERR_ARG;
		rc = piv_mgm_key_decode(secret, len, key, sizeof(key), &a.len);
		if (rc == 0)
			rc =
			    piv_token_run(t, op_mgm_auth, &a, PIV_RUN_RESELECT);
		explicit_bzero(key, sizeof(key));
		return rc;
	default:
		return TK_ERR_ARG;
	}
}

static int op_reauth(struct piv_token *t, void *arg)
{
	return t->pin_len ? token_reverify(t) : TK_ERR_AUTH_REQUIRED;
}

static int token_reauth(struct tk_token *tok)
{
	return piv_token_run(token_of(tok), op_reauth, NULL, PIV_RUN_RESELECT);
}

static int op_logout_pin(struct piv_token *t, void *arg)
{
	return piv_logout(t->piv, PIV_REF_PIN);
}

static int op_reselect(struct piv_token *t, void *arg)
{
	return token_restore(t);
}

/* Forgets Printed Information and the like with the login. */
static void drop_private(struct piv_token *t)
{
	int i = piv_data_index(PIV_OBJ_PRINTED);

	if (t->has_data[i] || t->private_loaded) {
		piv_data_set(t, i, NULL, 0);
		t->private_loaded = false;
		piv_token_changed(t);
	}
}

/* Cards before YubiKey 5 refuse VERIFY P1=FF: then only a reset of the
 * card drops the PIN's state, which we do (other programs see a reset). */
static int logout_pin(struct piv_token *t)
{
	int rc;

	piv_token_forget_pin(t);
	drop_private(t);
	rc = piv_token_run(t, op_logout_pin, NULL, PIV_RUN_RESELECT);
	if (rc == TK_ERR_UNSUPPORTED || rc == TK_ERR_INVALID) {
		rc = pcsc_card_reconnect(t->card, true);
		if (rc == 0)
			rc = piv_token_run(t, op_reselect, NULL, 0);
	}
	return rc;
}

static int token_logout(struct tk_token *tok, enum tk_user user)
{
	struct piv_token *t = token_of(tok);

	switch (user) {
	case TK_USER_PIN:
		return logout_pin(t);
	case TK_USER_ADMIN:
		/* SELECT drops the management key's authentication. */
		t->admin = false;
		return piv_token_run(t, op_reselect, NULL, 0);
	default:
		return TK_ERR_ARG;
	}
}

static int op_pin_status(struct piv_token *t, void *arg)
{
	struct secret_arg *a = arg;
	int rc = piv_pin_status(t->piv, PIV_REF_PIN, &a->tries);

	a->verified = rc == 0;
	if (rc == TK_ERR_AUTH_REQUIRED || rc == TK_ERR_PIN_LOCKED)
		rc = 0;
	return rc;
}

static int token_pin_status(struct tk_token *tok, int *tries_left,
			    bool *verified)
{
	struct piv_token *t = token_of(tok);
	struct secret_arg a = { .tries = -1 };
	int rc = piv_token_run(t, op_pin_status, &a, PIV_RUN_RESELECT);

	if (rc)
		return rc;
	if (a.verified)
		a.tries = t->info.pin_tries_left;
	else
		piv_pin_tries_set(t, a.tries);
	if (tries_left)
		*tries_left = a.tries;
	if (verified)
		*verified = a.verified;
	return 0;
}

/* ---- Private-key operations ---- */

enum keyop_kind { KEYOP_SIGN, KEYOP_DECRYPT, KEYOP_DERIVE };

struct keyop_arg {
	enum keyop_kind kind;
	uint8_t alg, ref;
	const uint8_t *in;
	size_t in_len;
	uint8_t *out; /* the caller's buffer */
	size_t *out_len;
};

static int op_key(struct piv_token *t, void *arg)
{
	struct keyop_arg *a = arg;

	switch (a->kind) {
	case KEYOP_SIGN:
		return piv_sign(t->piv, a->alg, a->ref, a->in, a->in_len,
				a->out, a->out_len);
	case KEYOP_DECRYPT:
		return piv_decipher(t->piv, a->alg, a->ref, a->in, a->in_len,
				    a->out, a->out_len);
	default:
		return piv_ecdh(t->piv, a->alg, a->ref, a->in, a->in_len,
				a->out, a->out_len);
	}
}

/* Most bytes the operation can return (checked before any APDU, so a short
 * buffer never spends a PIN-ALWAYS verification). 0: not for this key. */
static size_t keyop_max(enum keyop_kind kind, uint8_t alg)
{
	size_t n = piv_alg_size(alg);

	if (piv_alg_is_rsa(alg))
		return kind == KEYOP_DERIVE ? 0 : n;
	if (piv_alg_is_ec(alg))
		/* DER SEQUENCE of two INTEGERs, each up to n + 1 bytes. */
		return kind == KEYOP_SIGN     ? 2 * (n + 3) + 3
		       : kind == KEYOP_DERIVE ? n
					      : 0;
	if (alg == PIV_ALG_ED25519)
		return kind == KEYOP_SIGN ? 64 : 0;
	if (alg == PIV_ALG_X25519)
		return kind == KEYOP_DERIVE ? 32 : 0;
	return 0;
}

static int token_keyop(struct piv_token *t, struct keyop_arg *a, uint8_t *out,
		       size_t *out_len)
{
	int i = piv_key_index(a->ref);
	const struct tk_key *k;
	unsigned flags = PIV_RUN_RESELECT;
	size_t max;
	int rc;

	if (!out_len)
		return TK_ERR_ARG;
	if (i < 0 || !t->has_key[i] || a->ref == PIV_SLOT_ATTEST)
		return TK_ERR_NOT_FOUND;
	k = &t->keys[i];
	a->alg = piv_alg_from_tk(k->alg);
	max = keyop_max(a->kind, a->alg);
	if (max == 0)
		return TK_ERR_UNSUPPORTED;
	if (!out || *out_len < max) {
		*out_len = max;
		return out ? TK_ERR_TOO_LARGE : 0;
	}
	if (!a->in)
		return TK_ERR_ARG;
	if (k->pin_policy != TK_PIN_POLICY_ALWAYS &&
	    k->pin_policy != TK_PIN_POLICY_MATCH_ALWAYS)
		flags |= PIV_RUN_REVERIFY;
	/* the card's answer lands in the caller's buffer */
	a->out = out;
	a->out_len = out_len;
	rc = piv_token_run(t, op_key, a, flags);
	return rc == TK_ERR_TOO_LARGE ? TK_ERR_DEVICE : rc;
}

/* Raw operations only (no mechanism: the front end pads). RSA sign: the
 * card's raw output (modulus length). P-256/P-384: the DER ECDSA-Sig-Value
 * the card sends. Ed25519: 64 bytes R || S. Decrypt, raw RSA: the padded
 * plaintext. Derive: the shared secret, the x coordinate (P-256/P-384) or
 * 32 bytes (X25519). With out NULL, *out_len gets the largest possible
 * length and no APDU is sent. */
static int token_keyop_raw(struct tk_token *tok, enum keyop_kind kind,
			   uint32_t key, const struct tk_mech_arg *mech,
			   const uint8_t *in, size_t in_len, uint8_t *out,
			   size_t *out_len)
{
	struct keyop_arg a = {
		.kind = kind, .ref = (uint8_t)key, .in = in, .in_len = in_len
	};

	if (mech)
		return TK_ERR_UNSUPPORTED;
	if (key > 0xff)
		return TK_ERR_NOT_FOUND;
	return token_keyop(token_of(tok), &a, out, out_len);
}

static int token_sign(struct tk_token *tok, uint32_t key,
		      const struct tk_mech_arg *mech, const uint8_t *in,
		      size_t in_len, uint8_t *out, size_t *out_len)
{
	return token_keyop_raw(tok, KEYOP_SIGN, key, mech, in, in_len, out,
			       out_len);
}

static int token_decrypt(struct tk_token *tok, uint32_t key,
			 const struct tk_mech_arg *mech, const uint8_t *in,
			 size_t in_len, uint8_t *out, size_t *out_len)
{
	return token_keyop_raw(tok, KEYOP_DECRYPT, key, mech, in, in_len, out,
			       out_len);
}

static int token_derive(struct tk_token *tok, uint32_t key, const uint8_t *peer,
			size_t peer_len, uint8_t *out, size_t *out_len)
{
	return token_keyop_raw(tok, KEYOP_DERIVE, key, NULL, peer, peer_len,
			       out, out_len);
}

/* ---- PIN management ---- */

static int op_change(struct piv_token *t, void *arg)
{
	struct secret_arg *a = arg;

	return piv_change_reference(t->piv, a->ref, a->p, a->len, a->p2,
				    a->len2, &a->tries);
}

static int op_unblock(struct piv_token *t, void *arg)
{
	struct secret_arg *a = arg;

	return piv_unblock_pin(t->piv, a->p, a->len, a->p2, a->len2, &a->tries);
}

/* A success restores the PUK's counter to a maximum we may not know: it
 * is asked again (puk_status) when needed. */
static void puk_tries_update(struct piv_token *t, int rc, int tries)
{
	if (rc == TK_ERR_PIN_INCORRECT || rc == TK_ERR_PIN_LOCKED)
		t->info.puk_tries_left = rc == TK_ERR_PIN_LOCKED ? 0 : tries;
	else if (rc == 0)
		t->info.puk_tries_left = -1;
}

static int op_puk_status(struct piv_token *t, void *arg)
{
	struct yk_metadata md;
	int *tries = arg;
	int rc = yk_get_metadata(t->piv, PIV_REF_PUK, &md);

	if (rc == 0 && md.has_retries)
		*tries = md.retries_left;
	return rc;
}

/* The PUK's counter from the YubiKey's F7 metadata (5.3+); a plain PIV
 * card cannot tell it without spending a try. */
static int token_puk_status(struct tk_token *tok, int *tries_left)
{
	struct piv_token *t = token_of(tok);
	int tries = -1, rc;

	if (!t->has_metadata)
		return TK_ERR_UNSUPPORTED;
	rc = piv_token_run(t, op_puk_status, &tries, PIV_RUN_RESELECT);
	if (rc)
		return rc;
	t->info.puk_tries_left = tries;
	*tries_left = tries;
	return 0;
}

static int token_change_pin(struct tk_token *tok, enum tk_user which,
			    const uint8_t *old, size_t old_len,
			    const uint8_t *new_pin, size_t new_len)
{
	struct piv_token *t = token_of(tok);
	struct secret_arg a = { .p = old,
				.len = old_len,
				.p2 = new_pin,
				.len2 = new_len,
				.tries = -1 };
	int rc;

	if (which != TK_USER_PIN && which != TK_USER_PUK)
		return TK_ERR_ARG;
	if (!old || !new_pin || !old_len || !new_len || new_len > 8)
		return TK_ERR_ARG;
	a.ref = which == TK_USER_PIN ? PIV_REF_PIN : PIV_REF_PUK;
	rc = piv_token_run(t, op_change, &a, PIV_RUN_RESELECT);
	if (which == TK_USER_PUK) {
		puk_tries_update(t, rc, a.tries);
		return rc;
	}
	pin_tries_update(t, rc, a.tries);
	if (rc == 0) {
		t->info.pin_is_default = false;
		if (t->pin_len) { /* keep restoring with the PIN now set */
			/* a longer old PIN's tail must not stay behind */
			piv_token_forget_pin(t);
			memcpy(t->pin, new_pin, new_len);
			t->pin_len = new_len;
		}
	}
	return rc;
}

static int token_unblock_pin(struct tk_token *tok, const uint8_t *puk,
			     size_t puk_len, const uint8_t *new_pin,
			     size_t new_len)
{
	struct piv_token *t = token_of(tok);
	struct secret_arg a = { .p = puk,
				.len = puk_len,
				.p2 = new_pin,
				.len2 = new_len,
				.tries = -1 };
	int rc;

	if (!puk || !new_pin || !puk_len || !new_len)
		return TK_ERR_ARG;
	rc = piv_token_run(t, op_unblock, &a, PIV_RUN_RESELECT);
	puk_tries_update(t, rc, a.tries);
	if (rc == 0) {
		piv_token_forget_pin(t);
		piv_pin_tries_full(t);
		t->info.pin_is_default = false;
	}
	return rc;
}

/* C_SetPIN as setpin_parse read it: the PIN with the PIN, the PUK with
 * the PUK, or the PIN with the PUK (unblock). */
static int token_set_pin(struct tk_token *tok, const struct tk_setpin *q,
			 const uint8_t *new_pin, size_t new_len)
{
	if (q->spends == TK_USER_PUK && q->sets == TK_USER_PIN)
		return token_unblock_pin(tok, q->old, q->old_len, new_pin,
					 new_len);
	if (q->spends != q->sets)
		return TK_ERR_ARG;
	return token_change_pin(tok, q->sets, q->old, q->old_len, new_pin,
				new_len);
}

/* ---- Open and close ---- */

static void token_close(struct tk_token *tok)
{
	struct piv_token *t = token_of(tok);

	if (!t)
		return;
	/* Leave no verified PIN behind for other programs. */
	if (t->pin_len && !t->dead && t->piv)
		piv_token_run(t, op_logout_pin, NULL, 0);
	piv_token_forget_pin(t);
	piv_cache_clear(t);
	piv_card_free(&t->piv);
	pcsc_card_free(&t->card);
	free(t);
}

static int op_read(struct piv_token *t, void *arg)
{
	return piv_read_card(t);
}

int piv_token_open(struct pcsc_ctx *ctx, const char *reader,
		   struct tk_token **out)
{
	struct piv_token *t = calloc(1, sizeof(*t));
	struct piv_transport tr = { pcsc_card_transmit, NULL };
	int rc;

	*out = NULL;
	if (!t)
		return TK_ERR_NOMEM;
	t->base.ops = &piv_token_ops;
	for (int i = 0; i < PIV_NKEYS; i++)
		piv_key_init(&t->keys[i], i);
	rc = pcsc_card_open(ctx, reader, &t->card);
	if (rc)
		goto out;
	tr.ctx = t->card;
	rc = piv_card_new(&tr, &t->piv);
	if (rc == 0)
		rc = piv_token_run(t, op_read, NULL, 0);
	if (rc)
		goto out;
	piv_read_info(t);
	t->open_apdus = piv_card_apdu_count(t->piv);
	DRV_LOG("%s: %s read in %lu APDUs", reader, t->info.label,
		t->open_apdus);
	*out = &t->base;
out:
	if (rc)
		token_close(&t->base);
	return rc;
}

static const struct tk_token_ops piv_token_ops = {
	.close = token_close,
	.info = token_info,
	.objects = token_objects,
	.load_private = token_load_private,
	.discover = token_discover,
	.login = token_login,
	.reauth = token_reauth,
	.logout = token_logout,
	.pin_status = token_pin_status,
	.puk_status = token_puk_status,
	.attr = piv_attr,
	.sign = token_sign,
	.decrypt = token_decrypt,
	.derive = token_derive,
	.generate = piv_admin_generate,
	.import_key = piv_admin_import_key,
	.write_cert = piv_admin_write_cert,
	.delete_cert = piv_admin_delete_cert,
	.delete_key = piv_admin_delete_key,
	.create_data = piv_admin_create_data,
	.delete_data = piv_admin_delete_data,
	.setpin_parse = drv_setpin_prefixes,
	.set_pin = token_set_pin,
	.reset = piv_admin_reset,
};
