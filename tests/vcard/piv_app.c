/* The virtual YubiKey PIV application: card object, dispatch by INS,
 * SELECT, GET DATA, PUT DATA and the PIN/PUK commands. */
#include "piv_app_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const uint8_t piv_aid[] = { 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00,
				   0x00, 0x10, 0x00, 0x01, 0x00 };

/* ---- slots and objects ---- */

int piv_slot_index(uint8_t slot)
{
	switch (slot) {
	case 0x9a:
		return 0;
	case 0x9c:
		return 1;
	case 0x9d:
		return 2;
	case 0x9e:
		return 3;
	case SLOT_ATTEST:
		return 24;
	default:
		if (slot >= 0x82 && slot <= 0x95)
			return 4 + (slot - 0x82);
		return -1;
	}
}

uint8_t piv_slot_of_index(int idx)
{
	static const uint8_t first[4] = { 0x9a, 0x9c, 0x9d, 0x9e };

	if (idx < 4)
		return first[idx];
	if (idx == 24)
		return SLOT_ATTEST;
	return (uint8_t)(0x82 + idx - 4);
}

bool piv_fw_at_least(const struct vcard_app *app, int major, int minor)
{
	return app->fw[0] > major ||
	       (app->fw[0] == major && app->fw[1] >= minor);
}

struct piv_key *piv_key_of(struct vcard_app *app, uint8_t slot)
{
	int i = piv_slot_index(slot);

	return i < 0 ? NULL : &app->keys[i];
}

const struct piv_obj *piv_obj_find(const struct vcard_app *app, uint32_t tag)
{
	for (size_t i = 0; i < app->nobjs; i++)
		if (app->objs[i].tag == tag)
			return &app->objs[i];
	return NULL;
}

void piv_obj_delete(struct vcard_app *app, uint32_t tag)
{
	for (size_t i = 0; i < app->nobjs; i++) {
		if (app->objs[i].tag != tag)
			continue;
		free(app->objs[i].data);
		app->objs[i] = app->objs[app->nobjs - 1];
		app->nobjs--;
		return;
	}
}

int piv_obj_set(struct vcard_app *app, uint32_t tag, const uint8_t *data,
		size_t len)
{
	struct piv_obj *o;
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -1;
	if (len)
		memcpy(copy, data, len);
	o = (struct piv_obj *)piv_obj_find(app, tag);
	if (!o) {
		o = realloc(app->objs, (app->nobjs + 1) * sizeof(*o));
		if (!o) {
			free(copy);
			return -1;
		}
		app->objs = o;
		o = &app->objs[app->nobjs++];
		o->data = NULL;
	}
	free(o->data);
	o->tag = tag;
	o->data = copy;
	o->len = len;
	return 0;
}

void piv_objs_clear(struct vcard_app *app, bool keep_attest)
{
	size_t i = 0;

	while (i < app->nobjs) {
		if (keep_attest && app->objs[i].tag == TAG_ATTEST_CERT) {
			i++;
			continue;
		}
		piv_obj_delete(app, app->objs[i].tag);
	}
}

/* ---- PIN and PUK ---- */

void piv_ref_set(struct piv_ref *ref, const char *value, uint8_t tries)
{
	size_t n = strlen(value);

	memset(ref->value, 0xff, sizeof(ref->value));
	memcpy(ref->value, value, n > 8 ? 8 : n);
	ref->tries = ref->left = tries;
}

bool piv_ref_is(const struct piv_ref *ref, const char *value)
{
	struct piv_ref tmp;
	bool same;

	piv_ref_set(&tmp, value, 0);
	same = CRYPTO_memcmp(tmp.value, ref->value, 8) == 0;
	OPENSSL_cleanse(&tmp, sizeof(tmp));
	return same;
}

void piv_factory_pins(struct vcard_app *app, uint8_t pin_tries,
		      uint8_t puk_tries)
{
	piv_ref_set(&app->pin, DEFAULT_PIN, pin_tries);
	piv_ref_set(&app->puk, DEFAULT_PUK, puk_tries);
}

/* A PIN block: 6 to 8 bytes, then FF padding to 8. */
static bool pin_block_valid(const uint8_t *p)
{
	size_t n = 0;

	while (n < 8 && p[n] != 0xff)
		n++;
	for (size_t i = n; i < 8; i++)
		if (p[i] != 0xff)
			return false;
	return n >= 6;
}

/* Checks a PIN block against ref, counting down on failure. */
static uint16_t ref_check(struct vcard_app *app, struct piv_ref *ref,
			  const uint8_t *given)
{
	if (ref->left == 0)
		return SW_AUTH_BLOCKED;
	if (CRYPTO_memcmp(ref->value, given, 8) != 0) {
		ref->left--;
		return piv_commit(app, SW_RETRIES(ref->left));
	}
	if (ref->left != ref->tries) {
		ref->left = ref->tries;
		return piv_commit(app, SW_OK);
	}
	return SW_OK;
}

uint16_t piv_commit(struct vcard_app *app, uint16_t sw)
{
	if (piv_state_save(app) != 0)
		return SW_MEMORY;
	return sw;
}

static struct piv_ref *ref_of(struct vcard_app *app, uint8_t p2)
{
	if (p2 == 0x80)
		return &app->pin;
	if (p2 == 0x81)
		return &app->puk;
	return NULL;
}

static uint16_t ins_verify(struct vcard_app *app, const struct vcard_apdu *cmd,
			   struct buf *out, bool *key_op)
{
	struct piv_ref *ref = ref_of(app, cmd->p2);
	uint16_t sw;

	if (!ref || (cmd->p1 != 0x00 && cmd->p1 != 0xff))
		return SW_WRONG_P1P2;
	if (cmd->p1 == 0xff) {
		if (cmd->len != 0)
			return SW_WRONG_DATA;
		if (ref == &app->pin)
			app->pin_verified = app->pin_fresh = false;
		return SW_OK;
	}
	if (cmd->len == 0) {
		if (ref->left == 0)
			return SW_AUTH_BLOCKED;
		if (ref == &app->pin && app->pin_verified)
			return SW_OK;
		return SW_RETRIES(ref->left);
	}
	if (cmd->len != 8)
		return SW_WRONG_DATA;
	if (ref == &app->pin)
		app->pin_verified = app->pin_fresh = false;
	sw = ref_check(app, ref, cmd->data);
	if (sw == SW_OK && ref == &app->pin)
		app->pin_verified = app->pin_fresh = true;
	return sw;
}

static uint16_t ins_change_ref(struct vcard_app *app,
			       const struct vcard_apdu *cmd, struct buf *out,
			       bool *key_op)
{
	struct piv_ref *ref = ref_of(app, cmd->p2);
	struct reader r = reader_init(cmd->data, cmd->len);
	const uint8_t *old, *new;
	uint16_t sw;

	if (!ref || cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (cmd->len != 16 || reader_get_ref(&r, 8, &old) != 0 ||
	    reader_get_ref(&r, 8, &new) != 0)
		return SW_WRONG_DATA;
	if (ref->left == 0)
		return SW_AUTH_BLOCKED;
	if (!pin_block_valid(new))
		return SW_WRONG_DATA;
	sw = ref_check(app, ref, old);
	if (sw != SW_OK)
		return sw;
	memcpy(ref->value, new, 8);
	return piv_commit(app, SW_OK);
}

static uint16_t ins_reset_retry(struct vcard_app *app,
				const struct vcard_apdu *cmd, struct buf *out,
				bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len);
	const uint8_t *puk, *new;
	uint16_t sw;

	if (cmd->p1 != 0x00 || cmd->p2 != 0x80)
		return SW_WRONG_P1P2;
	if (cmd->len != 16 || reader_get_ref(&r, 8, &puk) != 0 ||
	    reader_get_ref(&r, 8, &new) != 0)
		return SW_WRONG_DATA;
	if (app->puk.left == 0)
		return SW_AUTH_BLOCKED;
	if (!pin_block_valid(new))
		return SW_WRONG_DATA;
	sw = ref_check(app, &app->puk, puk);
	if (sw != SW_OK)
		return sw;
	memcpy(app->pin.value, new, 8);
	app->pin.left = app->pin.tries;
	return piv_commit(app, SW_OK);
}

/* ---- SELECT, GET DATA, PUT DATA ---- */

/* A standard card's application property template: AID, authority and the
 * cryptographic algorithms it supports (AC { 80 alg ... 06 00 }). */
static void add_plain_select(struct buf *out)
{
	static const uint8_t algs[] = { ALG_RSA1024, ALG_RSA2048, ALG_ECCP256,
					ALG_ECCP384 };
	size_t ac_len = sizeof(algs) * 3 + 2;

	buf_add_tlv_header(out, 0x61, 8 + 9 + 2 + ac_len);
	buf_add_tlv(out, 0x4f, piv_aid + 5, 6);
	buf_add_tlv_header(out, 0x79, 7);
	buf_add_tlv(out, 0x4f, piv_aid, 5);
	buf_add_tlv_header(out, 0xac, ac_len);
	for (size_t i = 0; i < sizeof(algs); i++)
		buf_add_tlv(out, 0x80, &algs[i], 1);
	buf_add_tlv(out, 0x06, NULL, 0);
}

static uint16_t ins_select(struct vcard_app *app, const struct vcard_apdu *cmd,
			   struct buf *out, bool *key_op)
{
	if (cmd->p1 != 0x04)
		return SW_NOT_FOUND;
	if (cmd->len < 5 || cmd->len > sizeof(piv_aid) ||
	    memcmp(cmd->data, piv_aid, cmd->len) != 0)
		return SW_NOT_FOUND;
	app->selected = true;
	if (app->plain) /* SP 800-73-4 3.1.1: with the algorithms (AC) */
		add_plain_select(out);
	else {
		buf_add_tlv_header(out, 0x61, 0x11);
		buf_add_tlv(out, 0x4f, piv_aid + 5, 6);
		buf_add_tlv_header(out, 0x79, 7);
		buf_add_tlv(out, 0x4f, piv_aid, 5);
	}
	return SW_OK;
}

static bool tag_is_object(uint32_t tag)
{
	if (tag == TAG_DISCOVERY || tag == TAG_BIT_GROUP)
		return true;
	if (tag >= 0x5fc101 && tag <= 0x5fc123)
		return true;
	return (tag & 0xffff00u) == 0x5fff00u;
}

static bool tag_needs_pin(uint32_t tag)
{
	return tag == 0x5fc103 || tag == 0x5fc108 || tag == 0x5fc109 ||
	       tag == 0x5fc121;
}

/* Parses `5C len tag` at the start of r. */
static int parse_tag_list(struct reader *r, uint32_t *tag)
{
	struct reader v;
	uint8_t b;

	if (reader_expect_tlv(r, 0x5c, &v) != 0)
		return -1;
	if (reader_left(&v) < 1 || reader_left(&v) > 3)
		return -1;
	*tag = 0;
	while (reader_get_u8(&v, &b) == 0)
		*tag = (*tag << 8) | b;
	return tag_is_object(*tag) ? 0 : -1;
}

static void add_discovery(struct buf *out)
{
	static const uint8_t policy[2] = { 0x40, 0x10 };

	buf_add_tlv_header(out, TAG_DISCOVERY, 2 + sizeof(piv_aid) + 5);
	buf_add_tlv(out, 0x4f, piv_aid, sizeof(piv_aid));
	buf_add_tlv(out, 0x5f2f, policy, sizeof(policy));
}

static uint16_t ins_get_data(struct vcard_app *app,
			     const struct vcard_apdu *cmd, struct buf *out,
			     bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len);
	const struct piv_obj *o;
	uint32_t tag;

	if (cmd->p1 != 0x3f || cmd->p2 != 0xff)
		return SW_WRONG_P1P2;
	if (parse_tag_list(&r, &tag) != 0 || reader_left(&r) != 0)
		return SW_WRONG_DATA;
	if (tag == TAG_DISCOVERY) {
		add_discovery(out);
		return SW_OK;
	}
	if (tag_needs_pin(tag) && !app->pin_verified)
		return SW_SECURITY;
	o = piv_obj_find(app, tag);
	if (!o)
		return SW_NOT_FOUND;
	buf_add(out, o->data, o->len);
	return SW_OK;
}

static uint16_t ins_put_data(struct vcard_app *app,
			     const struct vcard_apdu *cmd, struct buf *out,
			     bool *key_op)
{
	struct reader r = reader_init(cmd->data, cmd->len);
	struct reader probe = r, v;
	uint32_t tag;

	if (cmd->p1 != 0x3f || cmd->p2 != 0xff)
		return SW_WRONG_P1P2;
	if (!app->mgm_authed)
		return SW_SECURITY;
	if (reader_expect_tlv(&probe, TAG_BIT_GROUP, &v) == 0)
		tag = TAG_BIT_GROUP; /* SP 800-73-4: sent without a 5C list */
	else if (parse_tag_list(&r, &tag) != 0)
		return SW_WRONG_DATA;
	if (tag == TAG_DISCOVERY)
		return SW_WRONG_DATA;
	if (reader_left(&r) > OBJ_MAX)
		return SW_NO_SPACE;
	probe = r;
	if (reader_left(&r) == 0 ||
	    (reader_expect_tlv(&probe, 0x53, &v) == 0 && reader_left(&v) == 0 &&
	     reader_left(&probe) == 0)) {
		if (!piv_obj_find(app, tag))
			return SW_OK;
		piv_obj_delete(app, tag);
		return piv_commit(app, SW_OK);
	}
	if (piv_obj_set(app, tag, r.p, reader_left(&r)) != 0)
		return SW_MEMORY;
	return piv_commit(app, SW_OK);
}

/* ---- dispatch ---- */

static const struct {
	uint8_t ins;
	bool yubikey; /* a YubiKey extension: 6D00 on a plain PIV card */
	piv_handler fn;
} handlers[] = {
	{ 0xa4, false, ins_select },
	{ 0xcb, false, ins_get_data },
	{ 0xdb, false, ins_put_data },
	{ 0x20, false, ins_verify },
	{ 0x24, false, ins_change_ref },
	{ 0x2c, false, ins_reset_retry },
	{ 0x87, false, piv_ins_general_auth },
	{ 0x47, false, piv_ins_generate },
	{ 0xfd, true, piv_ins_version },
	{ 0xf8, true, piv_ins_serial },
	{ 0xf7, true, piv_ins_metadata },
	{ 0xf9, true, piv_ins_attest },
	{ 0xfe, true, piv_ins_import },
	{ 0xff, true, piv_ins_set_mgm },
	{ 0xfb, true, piv_ins_reset },
	{ 0xfa, true, piv_ins_set_retries },
	{ 0xf6, true, piv_ins_move_key },
};

uint16_t vcard_app_command(struct vcard_app *app, const struct vcard_apdu *cmd,
			   struct buf *out, bool *key_op)
{
	size_t start = out->len;
	uint16_t sw;

	*key_op = false;
	if (cmd->cla != 0x00)
		return SW_CLA_NOT_SUPPORTED;
	if (cmd->len && !cmd->data)
		return SW_WRONG_DATA;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].ins != cmd->ins)
			continue;
		if (handlers[i].yubikey && app->plain)
			return SW_INS_NOT_SUPPORTED;
		if (!app->selected && cmd->ins != 0xa4)
			return SW_INS_NOT_SUPPORTED;
		sw = handlers[i].fn(app, cmd, out, key_op);
		if (buf_failed(out))
			sw = SW_MEMORY;
		if (sw != SW_OK)
			out->len = start; /* no data with an error */
		return sw;
	}
	return SW_INS_NOT_SUPPORTED;
}

/* ---- life cycle ---- */

/* A plain card leaves personalisation with a CHUID: FASC-N, a GUID made
 * from the serial (70 69 76 2D "piv-" serial, then 0x5A..) and an expiry. */
static int plain_chuid(struct vcard_app *app)
{
	static const uint8_t fascn[25] = {
		0xd4, 0xe7, 0x39, 0xda, 0x73, 0x9c, 0xed, 0x39, 0xce,
		0x73, 0x9d, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
		0x84, 0x21, 0xc8, 0x42, 0x10, 0xc3, 0xeb,
	};
	static const uint8_t expiry[8] = { '2', '0', '3', '5',
					   '1', '2', '3', '1' };
	uint8_t guid[16] = { 0x70, 0x69, 0x76, 0x2d };
	struct buf v, obj;
	int rc;

	for (size_t i = 0; i < 4; i++)
		guid[4 + i] = (uint8_t)(app->serial >> (24 - 8 * i));
	for (size_t i = 8; i < sizeof(guid); i++)
		guid[i] = (uint8_t)(0x50 + i);
	buf_init(&v, 0);
	buf_init(&obj, 0);
	buf_add_tlv(&v, 0x30, fascn, sizeof(fascn));
	buf_add_tlv(&v, 0x34, guid, sizeof(guid));
	buf_add_tlv(&v, 0x35, expiry, sizeof(expiry));
	buf_add_tlv(&v, 0x3e, NULL, 0);
	buf_add_tlv(&v, 0xfe, NULL, 0);
	buf_add_tlv(&obj, 0x53, v.data, v.len);
	rc = buf_failed(&v) || buf_failed(&obj)
		 ? -1
		 : piv_obj_set(app, 0x5fc102, obj.data, obj.len);
	buf_free(&v);
	buf_free(&obj);
	return rc;
}

static int app_fresh(struct vcard_app *app, const struct vcard_opts *opts)
{
	piv_ref_set(&app->pin, opts->pin[0] ? opts->pin : DEFAULT_PIN,
		    DEFAULT_TRIES);
	piv_ref_set(&app->puk, opts->puk[0] ? opts->puk : DEFAULT_PUK,
		    DEFAULT_TRIES);
	piv_mgm_default(app);
	if (opts->mgm_alg)
		app->mgm_alg = opts->mgm_alg;
	if (opts->mgm_key_len) {
		if (opts->mgm_key_len > sizeof(app->mgm_key)) {
			fprintf(stderr, "vcard: management key too long\n");
			return -1;
		}
		memcpy(app->mgm_key, opts->mgm_key, opts->mgm_key_len);
		app->mgm_len = opts->mgm_key_len;
	}
	if (piv_mgm_key_len(app->mgm_alg) != app->mgm_len) {
		fprintf(stderr,
			"vcard: management key of %zu bytes does not "
			"fit algorithm %02x\n",
			app->mgm_len, app->mgm_alg);
		return -1;
	}
	if (app->plain)
		return plain_chuid(app) == 0 ? piv_state_save(app) : -1;
	if (piv_attest_init(app) != 0) {
		fprintf(stderr, "vcard: cannot create the attestation key\n");
		return -1;
	}
	return piv_state_save(app);
}

struct vcard_app *vcard_app_new(const struct vcard_opts *opts)
{
	struct vcard_app *app = calloc(1, sizeof(*app));
	FILE *f;

	if (!app)
		return NULL;
	app->serial = opts->serial;
	app->plain = opts->plain_piv;
	memcpy(app->fw, opts->fw, sizeof(app->fw));
	if (opts->state_path) {
		app->state_path = strdup(opts->state_path);
		if (!app->state_path)
			goto fail;
	}
	f = app->state_path ? fopen(app->state_path, "r") : NULL;
	if (f) {
		fclose(f);
		if (piv_state_load(app, app->state_path) != 0)
			goto fail;
	} else if (app_fresh(app, opts) != 0) {
		goto fail;
	}
	return app;
fail:
	vcard_app_free(&app);
	return NULL;
}

void vcard_app_free(struct vcard_app **papp)
{
	struct vcard_app *app = papp ? *papp : NULL;

	if (!app)
		return;
	for (int i = 0; i < PIV_NSLOTS; i++)
		piv_key_clear(&app->keys[i]);
	piv_objs_clear(app, false);
	free(app->objs);
	free(app->state_path);
	OPENSSL_cleanse(app, sizeof(*app));
	free(app);
	*papp = NULL;
}

void vcard_app_reset(struct vcard_app *app)
{
	if (!app)
		return;
	app->selected = false;
	app->pin_verified = app->pin_fresh = false;
	app->mgm_authed = false;
	app->pending = MGM_NONE;
	OPENSSL_cleanse(app->chal, sizeof(app->chal));
}
