/* The TPM token's objects: the store's records as the front end sees them
 * (struct tk_objects), rebuilt after each change. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "buf.h"
#include "drv_log.h"
#include "piv.h"
#include "tpm_int.h"

/* The public key of a blob, through the PIV public-key parser (the same
 * checks): the TPM's fields as PIV's 7F49 inner TLVs. */
int tpm_obj_pubkey(const struct tpm_blob *blob, EVP_PKEY **out,
		   enum tk_alg *alg)
{
	struct tpm_pubkey pk;
	uint8_t e[4], alg_piv;
	struct buf b;
	int r;

	*out = NULL;
	if ((r = tpm_blob_pubkey(blob, &pk)) < 0)
		return r;
	buf_init(&b, 2048);
	if (pk.kind == TPM_KEY_RSA) {
		alg_piv = pk.bits == 2048   ? PIV_ALG_RSA2048
			  : pk.bits == 3072 ? PIV_ALG_RSA3072
					    : 0;
		*alg = pk.bits == 2048 ? TK_ALG_RSA2048 : TK_ALG_RSA3072;
		for (int i = 0; i < 4; i++)
			e[i] = (uint8_t)(pk.e >> (24 - 8 * i));
		buf_add_tlv(&b, 0x81, pk.n, pk.n_len);
		buf_add_tlv(&b, 0x82, e, 4);
	} else {
		alg_piv = pk.bits == 256   ? PIV_ALG_ECCP256
			  : pk.bits == 384 ? PIV_ALG_ECCP384
					   : 0;
		*alg = pk.bits == 256 ? TK_ALG_P256 : TK_ALG_P384;
		if (pk.coord_len > sizeof(pk.x)) {
			buf_free(&b);
			return TK_ERR_INVALID;
		}
		buf_add_tlv_header(&b, 0x86, 1 + 2 * pk.coord_len);
		buf_add_u8(&b, 0x04);
		buf_add(&b, pk.x, pk.coord_len);
		buf_add(&b, pk.y, pk.coord_len);
	}
	r = !alg_piv || buf_failed(&b)
		? TK_ERR_INVALID
		: piv_pubkey_parse(alg_piv, b.data, b.len, out);
	buf_free(&b);
	return r < 0 ? TK_ERR_INVALID : 0;
}

static int cert_pubkey(const struct tpm_rec *rec, EVP_PKEY **out)
{
	const uint8_t *p = rec->value;
	X509 *x = d2i_X509(NULL, &p, (long)rec->len);

	*out = x ? X509_get_pubkey(x) : NULL;
	X509_free(x);
	return *out ? 0 : TK_ERR_INVALID;
}

static void obj_clear(struct tpm_tok *t, struct tpm_obj *o)
{
	if (o->key)
		tpm_key_unload(t->drv->ctx, o->key);
	EVP_PKEY_free(o->pub);
	tpm_rec_clear(&o->rec);
	memset(o, 0, sizeof(*o));
}

/* Fills o from rec (taken); a record whose public part does not parse is
 * refused. */
static int obj_fill(struct tpm_tok *t, struct tpm_obj *o, struct tpm_rec *rec)
{
	enum tk_alg alg;
	int r = 0;

	memset(o, 0, sizeof(*o));
	if (rec->kind == TPM_REC_KEY)
		r = tpm_obj_pubkey(&rec->blob, &o->pub, &alg);
	else if (rec->kind == TPM_REC_CERT)
		r = cert_pubkey(rec, &o->pub);
	else if (rec->kind != TPM_REC_DATA)
		return TK_ERR_ARG;
	if (r < 0)
		return r;
	o->rec = *rec;
	memset(rec, 0, sizeof(*rec)); /* value is o's now */
	o->handle = t->next_handle++;
	t->dirty = true;
	return 0;
}

int tpm_objs_load(struct tpm_tok *t)
{
	struct tpm_rec *recs = NULL;
	size_t n = 0;
	int r;

	if ((r = tpm_store_load(t->store, &recs, &n)) < 0)
		return r;
	if (n && !(t->objs = calloc(n, sizeof(*t->objs)))) {
		tpm_recs_free(&recs, n);
		return TK_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (recs[i].kind != TPM_REC_KEY &&
		    recs[i].kind != TPM_REC_CERT &&
		    recs[i].kind != TPM_REC_DATA)
			continue;
		if (obj_fill(t, &t->objs[t->nobjs], &recs[i]) < 0) {
			DRV_NOTICE("TPM state %s/%s: skipped (its public key "
				   "does not parse)",
				   tpm_store_dir(t->store), recs[i].name);
			continue;
		}
		t->nobjs++;
	}
	tpm_recs_free(&recs, n);
	t->dirty = true;
	return 0;
}

static void view_free(struct tpm_tok *t)
{
	free(t->keys);
	free(t->data);
	t->keys = NULL;
	t->data = NULL;
}

void tpm_objs_free(struct tpm_tok *t)
{
	for (size_t i = 0; i < t->nobjs; i++)
		obj_clear(t, &t->objs[i]);
	free(t->objs);
	t->objs = NULL;
	t->nobjs = 0;
	view_free(t);
}

struct tpm_obj *tpm_obj_find(struct tpm_tok *t, uint32_t handle)
{
	for (size_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].handle == handle)
			return &t->objs[i];
	return NULL;
}

static bool id_eq(const struct tk_id *a, const struct tk_id *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static struct tpm_obj *key_of(struct tpm_tok *t, const struct tk_id *id)
{
	for (size_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].rec.kind == TPM_REC_KEY &&
		    id_eq(&t->objs[i].rec.id, id))
			return &t->objs[i];
	return NULL;
}

struct tpm_obj *tpm_obj_cert_of(struct tpm_tok *t, const struct tpm_obj *o)
{
	for (size_t i = 0; i < t->nobjs; i++)
		if (t->objs[i].rec.kind == TPM_REC_CERT &&
		    id_eq(&t->objs[i].rec.id, &o->rec.id))
			return &t->objs[i];
	return NULL;
}

int tpm_obj_add(struct tpm_tok *t, struct tpm_rec *rec, uint32_t *handle)
{
	struct tpm_obj *v = reallocarray(t->objs, t->nobjs + 1, sizeof(*v));
	struct tpm_obj *k;
	int r;

	if (!v)
		return TK_ERR_NOMEM;
	t->objs = v;
	if ((r = obj_fill(t, &v[t->nobjs], rec)) < 0)
		return r;
	*handle = v[t->nobjs].handle;
	/* A certificate of a key is named by the key's handle. */
	if (v[t->nobjs].rec.kind == TPM_REC_CERT &&
	    (k = key_of(t, &v[t->nobjs].rec.id)))
		*handle = k->handle;
	t->nobjs++;
	return 0;
}

int tpm_obj_remove(struct tpm_tok *t, struct tpm_obj *o)
{
	int r = tpm_store_remove(t->store, o->rec.name);
	size_t i = (size_t)(o - t->objs);

	if (r < 0)
		return r;
	obj_clear(t, o);
	memmove(&t->objs[i], &t->objs[i + 1],
		(t->nobjs - i - 1) * sizeof(*t->objs));
	t->nobjs--;
	t->dirty = true;
	return 0;
}

static void key_view(struct tpm_tok *t, const struct tpm_obj *o,
		     struct tk_key *k)
{
	const struct tpm_obj *c =
	    o->rec.kind == TPM_REC_KEY ? tpm_obj_cert_of(t, o) : o;
	enum tk_alg alg = TK_ALG_NONE;
	int bits = EVP_PKEY_get_bits(o->pub);

	memset(k, 0, sizeof(*k));
	k->handle = o->handle;
	k->id = o->rec.id;
	if (EVP_PKEY_get_base_id(o->pub) == EVP_PKEY_RSA)
		alg = bits == 2048   ? TK_ALG_RSA2048
		      : bits == 3072 ? TK_ALG_RSA3072
		      : bits == 4096 ? TK_ALG_RSA4096
				     : TK_ALG_RSA1024;
	else if (EVP_PKEY_get_base_id(o->pub) == EVP_PKEY_EC)
		alg = bits == 384 ? TK_ALG_P384 : TK_ALG_P256;
	k->alg = alg;
	k->pub = o->pub;
	snprintf(k->label, sizeof(k->label), "%s", o->rec.label);
	snprintf(k->pub_label, sizeof(k->pub_label), "%s", o->rec.label);
	if (c) {
		k->cert = c->rec.value;
		k->cert_len = c->rec.len;
		snprintf(k->cert_label, sizeof(k->cert_label), "%s",
			 c->rec.label[0] ? c->rec.label : o->rec.label);
	}
	k->pin_policy = TK_PIN_POLICY_ONCE;
	k->touch_policy = TK_TOUCH_POLICY_NEVER;
	k->generated = o->rec.kind == TPM_REC_KEY;
	k->cert_only = o->rec.kind == TPM_REC_CERT;
}

int tpm_objs_view(struct tpm_tok *t, const struct tk_objects **out)
{
	size_t nk = 0, nd = 0;

	if (!t->dirty) {
		*out = &t->view;
		return 0;
	}
	view_free(t);
	if (t->nobjs && (!(t->keys = calloc(t->nobjs, sizeof(*t->keys))) ||
			 !(t->data = calloc(t->nobjs, sizeof(*t->data))))) {
		view_free(t);
		return TK_ERR_NOMEM;
	}
	for (size_t i = 0; i < t->nobjs; i++) {
		struct tpm_obj *o = &t->objs[i];

		if (o->rec.kind == TPM_REC_KEY ||
		    (o->rec.kind == TPM_REC_CERT && !key_of(t, &o->rec.id))) {
			key_view(t, o, &t->keys[nk++]);
		} else if (o->rec.kind == TPM_REC_DATA) {
			struct tk_data *dv = &t->data[nd++];

			dv->handle = o->handle;
			snprintf(dv->label, sizeof(dv->label), "%s",
				 o->rec.label);
			snprintf(dv->application, sizeof(dv->application), "%s",
				 o->rec.application);
			memcpy(dv->oid, o->rec.oid, o->rec.oid_len);
			dv->oid_len = o->rec.oid_len;
			dv->value = o->rec.value;
			dv->len = o->rec.len;
			dv->private = o->rec.priv;
		}
	}
	t->view = (struct tk_objects){ .keys = t->keys,
				       .nkeys = nk,
				       .data = t->data,
				       .ndata = nd,
				       .gen = t->view.gen + 1 };
	t->dirty = false;
	*out = &t->view;
	return 0;
}
