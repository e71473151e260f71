/* The module driver's object cache looked up (module_obj.c reads it): the
 * module handles behind the driver's, a private key the read before login
 * could not see found by its CKA_ID and public value, and the attr op. */
#include <string.h>

#include "buf.h"
#include "module_int.h"

struct mobj_key *mt_key(struct mtok *t, uint32_t handle, struct tk_key **key)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (t->keys[i].handle == handle) {
			if (key)
				*key = &t->keys[i];
			return &t->kx[i];
		}
	return NULL;
}

CK_OBJECT_HANDLE mt_secret(struct mtok *t, uint32_t handle,
			   struct tk_secret_key **sk)
{
	for (size_t i = 0; i < t->nsecrets; i++)
		if (t->secrets[i].handle == handle) {
			if (sk)
				*sk = &t->secrets[i];
			return t->sx[i];
		}
	return 0;
}

CK_OBJECT_HANDLE mt_data(struct mtok *t, uint32_t handle)
{
	for (size_t i = 0; i < t->ndata; i++)
		if (t->data[i].handle == handle)
			return t->dx[i];
	return 0;
}

/* Whether private key part p (no public value shown: EC) may be of a key
 * with algorithm alg. */
static bool alg_fits(const struct mobj_part *p, enum tk_alg alg)
{
	if (p->curve >= 0)
		return mt_curve_alg(p->curve) == alg;
	return p->kt == CKK_RSA && alg >= TK_ALG_RSA1024 &&
	       alg <= TK_ALG_RSA4096;
}

/* How well the module's private key h (of k's CKA_ID) fits key k, whose
 * private key the cache has not seen: 0 not (another key's, or another
 * public value, curve or key type), 2 with the public key's label, else
 * 1. */
static int priv_fit(struct mtok *t, const struct tk_key *k, CK_OBJECT_HANDLE h)
{
	struct mobj_part p;
	int fit = 0;

	for (size_t i = 0; i < t->nkeys; i++)
		if (t->kx[i].priv == h)
			return 0;
	if (mt_part_read(t, h, CKO_PRIVATE_KEY, &p) < 0)
		return 0;
	if (p.pub ? EVP_PKEY_eq(p.pub, k->pub) == 1 : alg_fits(&p, k->alg))
		fit = strcmp(p.label, k->pub_label) == 0 ? 2 : 1;
	EVP_PKEY_free(p.pub);
	return fit;
}

CK_OBJECT_HANDLE mt_key_priv(struct mtok *t, uint32_t handle)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	struct tk_key *k = NULL; /* set with x */
	struct mobj_key *x = mt_key(t, handle, &k);
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_ID, NULL, 0 } };
	CK_OBJECT_HANDLE *hs = NULL;
	size_t n = 0;
	int best = 0, fit;

	if (!x || !(k->parts & TK_OBJ_PRIVATE))
		return 0;
	if (x->priv)
		return x->priv;
	tmpl[1].pValue = k->id.b;
	tmpl[1].ulValueLen = k->id.len;
	/* Private: visible once the module is logged in. CKA_IDs repeat:
	 * the one whose public value is the key's. */
	if (mt_find(t, tmpl, 2, &hs, &n) == 0)
		for (size_t i = 0; i < n && best < 2; i++)
			if ((fit = priv_fit(t, k, hs[i])) > best) {
				best = fit;
				x->priv = hs[i];
			}
	free(hs);
	return x->priv;
}

void mt_objects_late_read(struct mtok *t)
{
	struct mobj_late late = { .set = true };
	struct mobj_part p;
	CK_OBJECT_HANDLE h;

	for (size_t i = 0; i < t->nkeys; i++) {
		if (t->kx[i].priv || !(t->keys[i].parts & TK_OBJ_PRIVATE) ||
		    !(h = mt_key_priv(t, t->keys[i].handle)) ||
		    mt_part_read(t, h, CKO_PRIVATE_KEY, &p) < 0)
			continue;
		memcpy(late.label, p.label, sizeof(late.label));
		late.always_auth = p.always_auth;
		late.local = p.local;
		late.fl = p.fl;
		EVP_PKEY_free(p.pub);
		pthread_mutex_lock(&t->late_lock);
		t->kx[i].late = late;
		pthread_mutex_unlock(&t->late_lock);
	}
}

void mt_objects_late(struct mtok *t)
{
	bool changed = false;

	pthread_mutex_lock(&t->late_lock);
	for (size_t i = 0; i < t->nkeys; i++) {
		struct mobj_late *l = &t->kx[i].late;
		struct tk_key *k = &t->keys[i];

		if (!l->set)
			continue;
		memcpy(k->label, l->label, sizeof(k->label));
		if (l->always_auth)
			k->pin_policy = TK_PIN_POLICY_ALWAYS;
		k->generated = l->local;
		t->kx[i].fpriv = l->fl;
		l->set = false;
		changed = true;
	}
	pthread_mutex_unlock(&t->late_lock);
	if (changed)
		t->objs.gen++;
}

int mt_obj_module(struct mtok *t, enum tk_obj_kind kind, uint32_t handle,
		  CK_OBJECT_HANDLE *h)
{
	struct mobj_key *x = NULL;

	*h = 0;
	if (kind == TK_OBJ_SECRET)
		*h = mt_secret(t, handle, NULL);
	else if (kind == TK_OBJ_DATA)
		*h = mt_data(t, handle);
	else if (kind == TK_OBJ_PRIVATE)
		*h = mt_key_priv(t, handle);
	else if ((x = mt_key(t, handle, NULL)))
		*h = kind == TK_OBJ_PUBLIC ? x->pub : x->cert;
	if (*h)
		return 0;
	/* a private key the module hides until login */
	return kind == TK_OBJ_PRIVATE && mt_key(t, handle, NULL)
		   ? TK_ERR_AUTH_REQUIRED
		   : TK_ERR_NOT_FOUND;
}

int mt_obj_name(struct mtok *t, CK_OBJECT_HANDLE h, enum tk_obj_kind *kind,
		uint32_t *handle)
{
	if (!h) /* a part a key does not have */
		return TK_ERR_NOT_FOUND;
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct mobj_key *x = &t->kx[i];

		*handle = t->keys[i].handle;
		*kind = x->priv == h   ? TK_OBJ_PRIVATE
			: x->pub == h  ? TK_OBJ_PUBLIC
			: x->cert == h ? TK_OBJ_CERT
				       : 0;
		if (*kind)
			return 0;
	}
	for (size_t i = 0; i < t->nsecrets; i++)
		if (t->sx[i] == h) {
			*kind = TK_OBJ_SECRET;
			*handle = t->secrets[i].handle;
			return 0;
		}
	for (size_t i = 0; i < t->ndata; i++)
		if (t->dx[i] == h) {
			*kind = TK_OBJ_DATA;
			*handle = t->data[i].handle;
			return 0;
		}
	return TK_ERR_NOT_FOUND;
}

/* The MOBJ_F_* of object (kind, handle); 0: not known. */
static uint8_t obj_flags(struct mtok *t, enum tk_obj_kind kind, uint32_t handle)
{
	struct mobj_key *x;

	for (size_t i = 0; kind == TK_OBJ_SECRET && i < t->nsecrets; i++)
		if (t->secrets[i].handle == handle)
			return t->sfl[i];
	for (size_t i = 0; kind == TK_OBJ_DATA && i < t->ndata; i++)
		if (t->data[i].handle == handle)
			return t->dfl[i];
	if ((kind & (TK_OBJ_PRIVATE | TK_OBJ_PUBLIC | TK_OBJ_CERT)) &&
	    (x = mt_key(t, handle, NULL)))
		return kind == TK_OBJ_PRIVATE  ? x->fpriv
		       : kind == TK_OBJ_PUBLIC ? x->fpub
					       : x->fcert;
	return 0;
}

int mt_attr(struct tk_token *tok, enum tk_obj_kind kind, uint32_t handle,
	    unsigned long type, struct buf *out)
{
	uint8_t fl, want = type == CKA_MODIFIABLE ? MOBJ_F_MOD
			   : type == CKA_COPYABLE ? MOBJ_F_COPY
						  : 0;
	CK_BBOOL v;

	if (!want)
		return TK_ATTR_DEFAULT;
	fl = obj_flags((struct mtok *)tok, kind, handle);
	/* MOBJ_F_*_SET: the bit above */
	if (!(fl & (want << 1)))
		return TK_ATTR_DEFAULT;
	v = (fl & want) ? CK_TRUE : CK_FALSE;
	buf_add(out, &v, 1);
	return 0;
}
