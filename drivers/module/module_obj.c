/* The module driver's object cache: every object the token's session
 * sees, read in one pass (a search, then one C_GetAttributeValue per
 * object), grouped into tk_keys (a private key, the public key and the
 * certificate with its public value: CKA_IDs may repeat, keys_group()),
 * secret keys and data objects. The driver's handles are its own numbers,
 * kept across re-reads (keys by the module handles of their parts, the
 * others by the module's handle), since a module's handles need not fit
 * 32 bits. An object the driver made or destroyed changes the cache
 * alone (objects_add, mt_objects_gone); module_lookup.c reads it. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "module_int.h"

/* The attributes read of every object (one call each); rooms in bytes. */
enum {
	A_CLASS,
	A_ID,
	A_LABEL,
	A_KEY_TYPE,
	A_PRIVATE,
	A_MODULUS,
	A_EXPONENT,
	A_EC_PARAMS,
	A_EC_POINT,
	A_ALWAYS_AUTH,
	A_CERT_TYPE,
	A_VALUE_LEN,
	A_SIGN,
	A_VERIFY,
	A_ENCRYPT,
	A_DECRYPT,
	A_WRAP,
	A_UNWRAP,
	A_DERIVE,
	A_APPLICATION,
	A_OBJECT_ID,
	A_LOCAL,
	A_TOKEN,
	A_MODIFIABLE,
	A_COPYABLE,
	A_COUNT
};

static const struct {
	CK_ATTRIBUTE_TYPE type;
	CK_ULONG room;
} attr_list[A_COUNT] = {
	[A_CLASS] = { CKA_CLASS, sizeof(CK_ULONG) },
	[A_ID] = { CKA_ID, TK_ID_MAX },
	[A_LABEL] = { CKA_LABEL, 256 },
	[A_KEY_TYPE] = { CKA_KEY_TYPE, sizeof(CK_ULONG) },
	[A_PRIVATE] = { CKA_PRIVATE, 1 },
	[A_MODULUS] = { CKA_MODULUS, 1024 },
	[A_EXPONENT] = { CKA_PUBLIC_EXPONENT, 16 },
	[A_EC_PARAMS] = { CKA_EC_PARAMS, 128 },
	[A_EC_POINT] = { CKA_EC_POINT, 256 },
	[A_ALWAYS_AUTH] = { CKA_ALWAYS_AUTHENTICATE, 1 },
	[A_CERT_TYPE] = { CKA_CERTIFICATE_TYPE, sizeof(CK_ULONG) },
	[A_VALUE_LEN] = { CKA_VALUE_LEN, sizeof(CK_ULONG) },
	[A_SIGN] = { CKA_SIGN, 1 },
	[A_VERIFY] = { CKA_VERIFY, 1 },
	[A_ENCRYPT] = { CKA_ENCRYPT, 1 },
	[A_DECRYPT] = { CKA_DECRYPT, 1 },
	[A_WRAP] = { CKA_WRAP, 1 },
	[A_UNWRAP] = { CKA_UNWRAP, 1 },
	[A_DERIVE] = { CKA_DERIVE, 1 },
	[A_APPLICATION] = { CKA_APPLICATION, 32 },
	[A_OBJECT_ID] = { CKA_OBJECT_ID, 24 },
	[A_LOCAL] = { CKA_LOCAL, 1 },
	[A_TOKEN] = { CKA_TOKEN, 1 },
	[A_MODIFIABLE] = { CKA_MODIFIABLE, 1 },
	[A_COPYABLE] = { CKA_COPYABLE, 1 },
};

static CK_ULONG a_ulong(const CK_ATTRIBUTE *a, CK_ULONG dflt)
{
	CK_ULONG v;

	if (!mt_has(a) || a->ulValueLen != sizeof(v))
		return dflt;
	memcpy(&v, a->pValue, sizeof(v));
	return v;
}

static bool a_bool(const CK_ATTRIBUTE *a)
{
	return mt_has(a) && a->ulValueLen == 1 && *(CK_BBOOL *)a->pValue;
}

/* CKA_TOKEN said false (a module that does not answer: a token object). */
static bool a_session(const CK_ATTRIBUTE *a)
{
	return mt_has(&a[A_TOKEN]) && !a_bool(&a[A_TOKEN]);
}

/* CKA_MODIFIABLE and CKA_COPYABLE as MOBJ_F_* (m, c: their places). */
static uint8_t a_flags(const CK_ATTRIBUTE *m, const CK_ATTRIBUTE *c)
{
	return (mt_has(m) ? MOBJ_F_MOD_SET : 0) | (a_bool(m) ? MOBJ_F_MOD : 0) |
	       (mt_has(c) ? MOBJ_F_COPY_SET : 0) |
	       (a_bool(c) ? MOBJ_F_COPY : 0);
}

static void a_str(const CK_ATTRIBUTE *a, char *out, size_t size)
{
	size_t n = mt_has(a) ? a->ulValueLen : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(out, a->pValue, n);
	out[n] = 0;
}

/* ---- public keys ---- */

static EVP_PKEY *pub_of(const CK_ATTRIBUTE *a, enum tk_alg *alg)
{
	CK_ULONG kt = a_ulong(&a[A_KEY_TYPE], (CK_ULONG)-1);

	if (kt == CKK_RSA)
		return mt_pub_rsa(&a[A_MODULUS], &a[A_EXPONENT], alg);
	if (kt == CKK_EC || kt == CKK_EC_EDWARDS || kt == CKK_EC_MONTGOMERY)
		return mt_pub_ec(&a[A_EC_PARAMS], &a[A_EC_POINT], alg);
	return NULL;
}

/* ---- the cache ---- */

struct cache {
	struct tk_key *keys;
	struct mobj_key *kx;
	size_t nkeys;
	struct tk_secret_key *secrets;
	CK_OBJECT_HANDLE *sx;
	uint8_t *sfl;
	size_t nsecrets;
	struct tk_data *data;
	CK_OBJECT_HANDLE *dx;
	uint8_t *dfl;
	size_t ndata;
	struct mobj_part *parts;
	size_t nparts;
};

static void parts_free(struct cache *c)
{
	for (size_t i = 0; c->parts && i < c->nparts; i++) {
		EVP_PKEY_free(c->parts[i].pub);
		free(c->parts[i].cert);
	}
	free(c->parts);
	c->parts = NULL;
	c->nparts = 0;
}

static void keys_free(struct tk_key *keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++) {
		EVP_PKEY_free(keys[i].pub);
		free(keys[i].cert);
	}
	free(keys);
}

static void cache_free(struct cache *c)
{
	keys_free(c->keys, c->nkeys);
	for (size_t i = 0; c->data && i < c->ndata; i++)
		free(c->data[i].value);
	parts_free(c);
	free(c->kx);
	free(c->secrets);
	free(c->sx);
	free(c->sfl);
	free(c->data);
	free(c->dx);
	free(c->dfl);
	memset(c, 0, sizeof(*c));
}

static bool id_eq(const struct tk_id *a, const struct tk_id *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static bool pub_eq(const EVP_PKEY *a, const EVP_PKEY *b)
{
	return a && b && EVP_PKEY_eq(a, b) == 1;
}

static uint32_t keep_handle(struct mtok *t, const CK_OBJECT_HANDLE *old,
			    const uint32_t *old_handles, size_t n,
			    CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < n; i++)
		if (old[i] == h)
			return old_handles[i];
	return t->next_handle++;
}

/* A key part's attributes a (the object h of class cls) into p. */
static void part_fill(struct mobj_part *p, CK_OBJECT_HANDLE h,
		      CK_OBJECT_CLASS cls, const CK_ATTRIBUTE *a)
{
	memset(p, 0, sizeof(*p));
	p->h = h;
	p->cls = cls;
	if (mt_has(&a[A_ID]) && a[A_ID].ulValueLen <= TK_ID_MAX) {
		p->id.len = a[A_ID].ulValueLen;
		memcpy(p->id.b, a[A_ID].pValue, p->id.len);
	}
	p->kt = cls == CKO_CERTIFICATE ? (CK_ULONG)-1
				       : a_ulong(&a[A_KEY_TYPE], (CK_ULONG)-1);
	p->curve = mt_curve_of(&a[A_EC_PARAMS]);
	a_str(&a[A_LABEL], p->label, sizeof(p->label));
	/* RSA private keys carry the public half; EC ones (SoftHSMv2) not */
	if (cls != CKO_CERTIFICATE)
		p->pub = pub_of(a, &p->alg);
	p->always_auth = a_bool(&a[A_ALWAYS_AUTH]);
	p->local = a_bool(&a[A_LOCAL]);
	p->session = a_session(a);
	p->fl = a_flags(&a[A_MODIFIABLE], &a[A_COPYABLE]);
}

static void add_part(struct mtok *t, struct cache *c, CK_OBJECT_HANDLE h,
		     CK_OBJECT_CLASS cls, const CK_ATTRIBUTE *a)
{
	struct mobj_part *p = &c->parts[c->nparts];
	const uint8_t *q;
	X509 *cert;

	part_fill(p, h, cls, a);
	if (cls == CKO_CERTIFICATE) {
		if (mt_attr_alloc(t, h, CKA_VALUE, &p->cert, &p->cert_len) < 0)
			return; /* unreadable: not shown */
		q = p->cert;
		if ((cert = d2i_X509(NULL, &q, (long)p->cert_len))) {
			if ((p->pub = X509_get_pubkey(cert)))
				p->alg = mt_alg_of(p->pub);
			X509_free(cert);
		}
	}
	c->nparts++;
}

/* A new key in c; its handle is named by keys_name(). */
static size_t key_new(struct cache *c, const struct tk_id *id)
{
	struct tk_key *k = &c->keys[c->nkeys];

	memset(k, 0, sizeof(*k));
	memset(&c->kx[c->nkeys], 0, sizeof(c->kx[0]));
	k->id = *id;
	k->pin_policy = TK_PIN_POLICY_ONCE;
	k->touch_policy = TK_TOUCH_POLICY_NEVER;
	return c->nkeys++;
}

/* Part p becomes a part of key i. The key's public value: the public key
 * object's, else the private key's, else the certificate's. */
static void key_join(struct cache *c, size_t i, struct mobj_part *p)
{
	struct tk_key *k = &c->keys[i];
	struct mobj_key *x = &c->kx[i];

	p->joined = true;
	p->key = i;
	if (p->cls == CKO_PRIVATE_KEY) {
		x->priv = p->h;
		x->fpriv = p->fl;
		memcpy(k->label, p->label, sizeof(k->label));
		if (p->always_auth)
			k->pin_policy = TK_PIN_POLICY_ALWAYS;
		k->generated = p->local;
	} else if (p->cls == CKO_PUBLIC_KEY) {
		x->pub = p->h;
		x->fpub = p->fl;
		memcpy(k->pub_label, p->label, sizeof(k->pub_label));
	} else {
		x->cert = p->h;
		x->fcert = p->fl;
		memcpy(k->cert_label, p->label, sizeof(k->cert_label));
		/* NULL when out of memory: then not shown */
		if ((k->cert = malloc(p->cert_len)))
			memcpy(k->cert, p->cert, p->cert_len);
		k->cert_len = p->cert_len;
	}
	if (p->session)
		k->session |= p->cls == CKO_PRIVATE_KEY  ? TK_OBJ_PRIVATE
			      : p->cls == CKO_PUBLIC_KEY ? TK_OBJ_PUBLIC
							 : TK_OBJ_CERT;
	if (p->pub && (!k->pub || p->cls == CKO_PUBLIC_KEY) &&
	    EVP_PKEY_up_ref(p->pub) == 1) {
		EVP_PKEY_free(k->pub);
		k->pub = p->pub;
		k->alg = p->alg;
	}
}

/* How well public key q fits private key p (grouped) when p shows no
 * public value (EC: no CKA_EC_POINT): 0 not (paired already, another
 * CKA_ID, key type or curve); 4 for the pair the last read made; else 2
 * for the same label (tools give both halves one), 1 for none. */
static int pub_fit(const struct mtok *t, const struct cache *c,
		   const struct mobj_part *p, const struct mobj_part *q)
{
	if (c->kx[p->key].pub || c->keys[p->key].pub ||
	    !id_eq(&p->id, &q->id) || p->kt != q->kt ||
	    (p->curve >= 0 && p->curve != q->curve))
		return 0;
	for (size_t j = 0; j < t->nkeys; j++)
		if (t->kx[j].priv == p->h && t->kx[j].pub == q->h)
			return 4;
	return strcmp(p->label, q->label) == 0 ? 2 : 1;
}

/* Public key q joins the private key it fits best, at least min (the
 * pairs the last read made go first, so a new key of the same CKA_ID
 * takes none of them); false: none fits. */
static bool pub_pair(const struct mtok *t, struct cache *c, struct mobj_part *q,
		     int min)
{
	int best = 0, fit;
	size_t b = 0;

	for (struct mobj_part *p = c->parts; p < c->parts + c->nparts; p++)
		if (p->cls == CKO_PRIVATE_KEY &&
		    (fit = pub_fit(t, c, p, q)) > best) {
			best = fit;
			b = p->key;
		}
	if (best < min)
		return false;
	key_join(c, b, q);
	return true;
}

/* Each private key a key; a public key joins the private key whose
 * public value it is (RSA: CKA_MODULUS), else the best fit of those that
 * show none; a certificate the key whose public key it carries, else the
 * first of its CKA_ID where one public value is unknown (an EC private
 * key alone, a certificate OpenSSL cannot read); the rest keys of their
 * own.
 * PKCS#11 lets CKA_IDs repeat: every part the module shows is shown. */
static void keys_group(const struct mtok *t, struct cache *c)
{
	struct mobj_part *p, *q, *end = c->parts + c->nparts;
	size_t i;

	for (p = c->parts; p < end; p++)
		p->joined = false;
	for (p = c->parts; p < end; p++)
		if (p->cls == CKO_PRIVATE_KEY)
			key_join(c, key_new(c, &p->id), p);
	for (q = c->parts; q < end; q++) {
		if (q->cls != CKO_PUBLIC_KEY)
			continue;
		for (i = 0; !q->joined && i < c->nkeys; i++)
			if (!c->kx[i].pub && id_eq(&c->keys[i].id, &q->id) &&
			    pub_eq(c->keys[i].pub, q->pub))
				key_join(c, i, q);
	}
	for (q = c->parts; q < end; q++)
		if (q->cls == CKO_PUBLIC_KEY && !q->joined)
			(void)pub_pair(t, c, q, 4);
	for (q = c->parts; q < end; q++)
		if (q->cls == CKO_PUBLIC_KEY && !q->joined &&
		    !pub_pair(t, c, q, 1))
			key_join(c, key_new(c, &q->id), q);
	for (q = c->parts; q < end; q++) {
		if (q->cls != CKO_CERTIFICATE || !q->cert)
			continue;
		for (i = 0; !q->joined && i < c->nkeys; i++)
			if (!c->kx[i].cert && id_eq(&c->keys[i].id, &q->id) &&
			    pub_eq(c->keys[i].pub, q->pub))
				key_join(c, i, q);
		for (i = 0; !q->joined && i < c->nkeys; i++)
			if (!c->kx[i].cert && id_eq(&c->keys[i].id, &q->id) &&
			    (!c->keys[i].pub || !q->pub))
				key_join(c, i, q);
		if (!q->joined)
			key_join(c, key_new(c, &q->id), q);
	}
}

/* Keys without a public key cannot be shown (driver.h: pub always set).
 * A key's parts are the objects the module showed; read without the
 * user's login (whole false) a public key may have a private key the
 * module hides: it is assumed, as for a card, until a read with the login
 * (load_private: login_reveals) says. */
static void keys_finish(struct cache *c, bool whole)
{
	size_t k = 0;

	for (size_t i = 0; i < c->nkeys; i++) {
		const struct mobj_key *x = &c->kx[i];

		if (!c->keys[i].pub) {
			free(c->keys[i].cert);
			continue;
		}
		c->keys[i].parts = 0;
		if (x->priv || (x->pub && !whole))
			c->keys[i].parts |= TK_OBJ_PRIVATE;
		if (x->pub)
			c->keys[i].parts |= TK_OBJ_PUBLIC;
		if (x->cert)
			c->keys[i].parts |= TK_OBJ_CERT;
		c->keys[i].cert_only = !x->priv && !x->pub;
		c->keys[k] = c->keys[i];
		c->kx[k++] = c->kx[i];
	}
	c->nkeys = k;
}

static bool parts_share(const struct mobj_key *a, const struct mobj_key *b)
{
	const CK_OBJECT_HANDLE ha[] = { a->priv, a->pub, a->cert };

	for (size_t i = 0; i < 3; i++)
		if (ha[i] &&
		    (ha[i] == b->priv || ha[i] == b->pub || ha[i] == b->cert))
			return true;
	return false;
}

/* The driver's handles: a key keeps the one of the key it shares a
 * module object and its public value with (its first part's, as the last
 * read grouped them; a module may reuse a handle for another object), else
 * of one with its CKA_ID and public value (a module that renumbers its
 * objects); else a new one. */
static int keys_name(struct mtok *t, struct cache *c)
{
	bool *taken = calloc(t->nkeys + 1, sizeof(*taken));
	size_t i, j;

	if (!taken)
		return TK_ERR_NOMEM;
	for (i = 0; i < c->nkeys; i++)
		for (j = 0; j < t->nkeys && !c->keys[i].handle; j++)
			if (!taken[j] && parts_share(&c->kx[i], &t->kx[j]) &&
			    pub_eq(c->keys[i].pub, t->keys[j].pub)) {
				c->keys[i].handle = t->keys[j].handle;
				taken[j] = true;
			}
	for (i = 0; i < c->nkeys; i++) {
		for (j = 0; j < t->nkeys && !c->keys[i].handle; j++)
			if (!taken[j] &&
			    id_eq(&c->keys[i].id, &t->keys[j].id) &&
			    pub_eq(c->keys[i].pub, t->keys[j].pub)) {
				c->keys[i].handle = t->keys[j].handle;
				taken[j] = true;
			}
		if (!c->keys[i].handle)
			c->keys[i].handle = t->next_handle++;
	}
	free(taken);
	return 0;
}

static void add_secret(struct mtok *t, struct cache *c, CK_OBJECT_HANDLE h,
		       const CK_ATTRIBUTE *a)
{
	struct tk_secret_key *s = &c->secrets[c->nsecrets];
	uint32_t old[t->nsecrets + 1];

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < t->nsecrets; i++)
		old[i] = t->secrets[i].handle;
	s->handle = keep_handle(t, t->sx, old, t->nsecrets, h);
	if (mt_has(&a[A_ID]) && a[A_ID].ulValueLen <= TK_ID_MAX) {
		s->id.len = a[A_ID].ulValueLen;
		memcpy(s->id.b, a[A_ID].pValue, s->id.len);
	}
	a_str(&a[A_LABEL], s->label, sizeof(s->label));
	s->key_type = a_ulong(&a[A_KEY_TYPE], CKK_GENERIC_SECRET);
	s->value_len = a_ulong(&a[A_VALUE_LEN], 0);
	s->usage = (a_bool(&a[A_SIGN]) ? CKF_SIGN : 0) |
		   (a_bool(&a[A_VERIFY]) ? CKF_VERIFY : 0) |
		   (a_bool(&a[A_ENCRYPT]) ? CKF_ENCRYPT : 0) |
		   (a_bool(&a[A_DECRYPT]) ? CKF_DECRYPT : 0) |
		   (a_bool(&a[A_WRAP]) ? CKF_WRAP : 0) |
		   (a_bool(&a[A_UNWRAP]) ? CKF_UNWRAP : 0) |
		   (a_bool(&a[A_DERIVE]) ? CKF_DERIVE : 0);
	s->private = a_bool(&a[A_PRIVATE]);
	s->generated = a_bool(&a[A_LOCAL]);
	s->session = a_session(a);
	c->sfl[c->nsecrets] = a_flags(&a[A_MODIFIABLE], &a[A_COPYABLE]);
	c->sx[c->nsecrets++] = h;
}

static void add_data(struct mtok *t, struct cache *c, CK_OBJECT_HANDLE h,
		     const CK_ATTRIBUTE *a)
{
	struct tk_data *d = &c->data[c->ndata];
	uint32_t old[t->ndata + 1];

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < t->ndata; i++)
		old[i] = t->data[i].handle;
	if (mt_attr_alloc(t, h, CKA_VALUE, &d->value, &d->len) < 0)
		return; /* unreadable: not shown */
	d->handle = keep_handle(t, t->dx, old, t->ndata, h);
	a_str(&a[A_LABEL], d->label, sizeof(d->label));
	a_str(&a[A_APPLICATION], d->application, sizeof(d->application));
	if (mt_has(&a[A_OBJECT_ID]) &&
	    a[A_OBJECT_ID].ulValueLen <= sizeof(d->oid)) {
		d->oid_len = a[A_OBJECT_ID].ulValueLen;
		memcpy(d->oid, a[A_OBJECT_ID].pValue, d->oid_len);
	}
	d->private = a_bool(&a[A_PRIVATE]);
	d->session = a_session(a);
	c->dfl[c->ndata] = a_flags(&a[A_MODIFIABLE], &a[A_COPYABLE]);
	c->dx[c->ndata++] = h;
}

/* Every attribute of attr_list of object h into a (pointing into r's
 * arena, r to be cleared by the caller). */
static int attrs_all(struct mtok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *a,
		     struct mlink_reply *r)
{
	for (size_t i = 0; i < A_COUNT; i++)
		a[i] = (CK_ATTRIBUTE){ attr_list[i].type, NULL,
				       attr_list[i].room };
	return mt_attrs(t, h, a, A_COUNT, r);
}

static int read_one(struct mtok *t, struct cache *c, CK_OBJECT_HANDLE h)
{
	CK_ATTRIBUTE a[A_COUNT];
	struct mlink_reply r;
	CK_OBJECT_CLASS cls;
	int e;

	if ((e = attrs_all(t, h, a, &r)) < 0) {
		mlink_reply_clear(&r);
		/* an object gone meanwhile is not an error */
		return e == TK_ERR_NOT_FOUND ? 0 : e;
	}
	cls = a_ulong(&a[A_CLASS], (CK_ULONG)-1);
	if (cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY ||
	    (cls == CKO_CERTIFICATE &&
	     a_ulong(&a[A_CERT_TYPE], CKC_X_509) == CKC_X_509))
		add_part(t, c, h, cls, a);
	else if (cls == CKO_SECRET_KEY)
		add_secret(t, c, h, a);
	else if (cls == CKO_DATA)
		add_data(t, c, h, a);
	mlink_reply_clear(&r);
	return 0;
}

int mt_part_read(struct mtok *t, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls,
		 struct mobj_part *p)
{
	CK_ATTRIBUTE a[A_COUNT];
	struct mlink_reply r;
	int e = attrs_all(t, h, a, &r);

	if (e == 0)
		part_fill(p, h, cls, a);
	mlink_reply_clear(&r);
	return e;
}

int mt_objects_read(struct mtok *t)
{
	struct cache c = { 0 };
	CK_OBJECT_HANDLE *hs = NULL;
	size_t n = 0;
	int e;

	if ((e = mt_find(t, NULL, 0, &hs, &n)) < 0)
		return e;
	c.keys = calloc(n + 1, sizeof(*c.keys));
	c.kx = calloc(n + 1, sizeof(*c.kx));
	c.secrets = calloc(n + 1, sizeof(*c.secrets));
	c.sx = calloc(n + 1, sizeof(*c.sx));
	c.sfl = calloc(n + 1, sizeof(*c.sfl));
	c.data = calloc(n + 1, sizeof(*c.data));
	c.dx = calloc(n + 1, sizeof(*c.dx));
	c.dfl = calloc(n + 1, sizeof(*c.dfl));
	c.parts = calloc(n + 1, sizeof(*c.parts));
	if (!c.keys || !c.kx || !c.secrets || !c.sx || !c.sfl || !c.data ||
	    !c.dx || !c.dfl || !c.parts) {
		e = TK_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && e == 0; i++)
		e = read_one(t, &c, hs[i]);
	if (e < 0)
		goto out;
	keys_group(t, &c);
	keys_finish(&c, t->user_in);
	if ((e = keys_name(t, &c)) < 0)
		goto out;
	mt_objects_free(t);
	t->keys = c.keys;
	t->kx = c.kx;
	t->nkeys = c.nkeys;
	t->parts = c.parts;
	t->nparts = c.nparts;
	/* private objects seen: objects_add may build on the parts */
	t->parts_whole = t->user_in;
	t->secrets = c.secrets;
	t->sx = c.sx;
	t->sfl = c.sfl;
	t->nsecrets = c.nsecrets;
	t->data = c.data;
	t->dx = c.dx;
	t->dfl = c.dfl;
	t->ndata = c.ndata;
	memset(&c, 0, sizeof(c));
	t->objs.gen++;
	/* private keys the read before login could not see */
	t->objs.login_reveals = TK_OBJ_PRIVATE;
out:
	cache_free(&c);
	free(hs);
	return e;
}

void mt_objects_free(struct mtok *t)
{
	struct cache c = { .keys = t->keys,
			   .kx = t->kx,
			   .nkeys = t->nkeys,
			   .parts = t->parts,
			   .nparts = t->nparts,
			   .secrets = t->secrets,
			   .sx = t->sx,
			   .sfl = t->sfl,
			   .nsecrets = t->nsecrets,
			   .data = t->data,
			   .dx = t->dx,
			   .dfl = t->dfl,
			   .ndata = t->ndata };

	cache_free(&c);
	t->keys = NULL;
	t->kx = NULL;
	t->parts = NULL;
	t->nparts = 0;
	t->parts_whole = false;
	t->secrets = NULL;
	t->sx = NULL;
	t->sfl = NULL;
	t->data = NULL;
	t->dx = NULL;
	t->dfl = NULL;
	t->nkeys = t->nsecrets = t->ndata = 0;
}

/* *arr (of n elements of size) with room for more. */
static int grow(void *arr, size_t n, size_t more, size_t size)
{
	void *p;

	memcpy(&p, arr, sizeof(p));
	if (!(p = realloc(p, (n + more + 1) * size)))
		return TK_ERR_NOMEM;
	memcpy(arr, &p, sizeof(p));
	return 0;
}

/* The keys grouped anew from t's parts, their handles kept. */
static int keys_rebuild(struct mtok *t)
{
	struct cache c = { .parts = t->parts, .nparts = t->nparts };
	int e = TK_ERR_NOMEM;

	if ((c.keys = calloc(t->nparts + 1, sizeof(*c.keys))) &&
	    (c.kx = calloc(t->nparts + 1, sizeof(*c.kx)))) {
		keys_group(t, &c);
		keys_finish(&c, true); /* objects_changed: parts_whole */
		e = keys_name(t, &c);
	}
	if (e < 0) {
		keys_free(c.keys, c.nkeys);
		free(c.kx);
		return e;
	}
	keys_free(t->keys, t->nkeys);
	free(t->kx);
	t->keys = c.keys;
	t->kx = c.kx;
	t->nkeys = c.nkeys;
	return 0;
}

/* After objects_add or mt_objects_gone changed t's arrays: the keys again
 * where a part came or went; on failure the next change reads all. */
static int objects_changed(struct mtok *t, size_t nparts, int e)
{
	if (e == 0 && nparts != t->nparts)
		e = keys_rebuild(t);
	if (e < 0)
		t->parts_whole = false;
	t->objs.gen++;
	return e;
}

/* The objects hs the module just made, into the cache without reading
 * the others again: secret keys and data objects added, the keys grouped
 * anew from the parts the last read kept. A cache read without the
 * user's login (private objects unseen) is read whole instead. */
static int objects_add(struct mtok *t, const CK_OBJECT_HANDLE *hs, size_t n)
{
	struct cache c = { 0 };
	size_t nparts = t->nparts;
	int e = 0;

	if (!t->parts_whole || !t->user_in)
		return mt_objects_read(t);
	if (grow(&t->parts, t->nparts, n, sizeof(*t->parts)) < 0 ||
	    grow(&t->secrets, t->nsecrets, n, sizeof(*t->secrets)) < 0 ||
	    grow(&t->sx, t->nsecrets, n, sizeof(*t->sx)) < 0 ||
	    grow(&t->sfl, t->nsecrets, n, sizeof(*t->sfl)) < 0 ||
	    grow(&t->data, t->ndata, n, sizeof(*t->data)) < 0 ||
	    grow(&t->dx, t->ndata, n, sizeof(*t->dx)) < 0 ||
	    grow(&t->dfl, t->ndata, n, sizeof(*t->dfl)) < 0)
		return TK_ERR_NOMEM;
	/* t's own arrays, grown in place */
	c.parts = t->parts;
	c.nparts = t->nparts;
	c.secrets = t->secrets;
	c.sx = t->sx;
	c.sfl = t->sfl;
	c.nsecrets = t->nsecrets;
	c.data = t->data;
	c.dx = t->dx;
	c.dfl = t->dfl;
	c.ndata = t->ndata;
	for (size_t i = 0; i < n && e == 0; i++)
		e = read_one(t, &c, hs[i]);
	t->nparts = c.nparts;
	t->nsecrets = c.nsecrets;
	t->ndata = c.ndata;
	return objects_changed(t, nparts, e);
}

/* Element i of arr (n of size) gone: the rest moved down. */
static void drop_at(void *arr, size_t i, size_t n, size_t size)
{
	memmove((char *)arr + i * size, (char *)arr + (i + 1) * size,
		(n - i - 1) * size);
}

int mt_objects_gone(struct mtok *t, const CK_OBJECT_HANDLE *hs, size_t n)
{
	size_t nparts = t->nparts, i;

	if (!t->parts_whole || !t->user_in)
		return mt_objects_read(t);
	for (size_t k = 0; k < n; k++) {
		for (i = 0; i < t->nparts && t->parts[i].h != hs[k]; i++)
			;
		if (i < t->nparts) {
			EVP_PKEY_free(t->parts[i].pub);
			free(t->parts[i].cert);
			drop_at(t->parts, i, t->nparts--, sizeof(*t->parts));
		}
		for (i = 0; i < t->nsecrets && t->sx[i] != hs[k]; i++)
			;
		if (i < t->nsecrets) {
			drop_at(t->secrets, i, t->nsecrets,
				sizeof(*t->secrets));
			drop_at(t->sfl, i, t->nsecrets, sizeof(*t->sfl));
			drop_at(t->sx, i, t->nsecrets--, sizeof(*t->sx));
		}
		for (i = 0; i < t->ndata && t->dx[i] != hs[k]; i++)
			;
		if (i < t->ndata) {
			free(t->data[i].value);
			drop_at(t->data, i, t->ndata, sizeof(*t->data));
			drop_at(t->dfl, i, t->ndata, sizeof(*t->dfl));
			drop_at(t->dx, i, t->ndata--, sizeof(*t->dx));
		}
	}
	return objects_changed(t, nparts, 0);
}

int mt_obj_named(struct mtok *t, const CK_OBJECT_HANDLE *hs, size_t n,
		 enum tk_obj_kind *kind, uint32_t *handle)
{
	int e = objects_add(t, hs, n);

	if (e < 0)
		return e;
	t->discovered = true;
	return mt_obj_name(t, hs[n - 1], kind, handle);
}
