/* Object handles (per application), template helpers, C_FindObjects* and
 * C_GetAttributeValue. Token objects are views over the driver's cached
 * tk_objects; session objects are the secrets C_DeriveKey makes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- handles ---- */

/* A new, zeroed handle record with a fresh handle. */
static struct objref *objref_alloc(struct app *app)
{
	struct objref *r;

	if (app->nobjs == app->cap_objs) {
		size_t ncap = app->cap_objs ? app->cap_objs * 2 : 32;
		struct objref *n = reallocarray(app->objs, ncap, sizeof(*n));
		if (!n)
			return NULL;
		app->objs = n;
		app->cap_objs = ncap;
	}
	r = &app->objs[app->nobjs++];
	memset(r, 0, sizeof(*r));
	r->h = app->next_obj++;
	return r;
}

CK_OBJECT_HANDLE obj_handle(struct app *app, struct fe_slot *slot,
			    enum obj_kind kind, uint32_t ident)
{
	uint64_t epoch = slot_epoch(slot);
	struct objref *r;

	for (size_t i = 0; i < app->nobjs;) {
		r = &app->objs[i];
		if (r->slot != slot || r->secret) {
			i++;
		} else if (r->epoch != epoch) {
			/* A token object of a removed token: its handle is
			 * invalid already (obj_view); without this an app
			 * would grow with every reinsertion. */
			*r = app->objs[--app->nobjs];
		} else if (r->kind == kind && r->ident == ident) {
			return r->h;
		} else {
			i++;
		}
	}
	if (!(r = objref_alloc(app)))
		return CK_INVALID_HANDLE;
	r->slot = slot;
	r->epoch = epoch;
	r->kind = kind;
	r->ident = ident;
	return r->h;
}

CK_OBJECT_HANDLE obj_add_secret(struct app *app, struct session *s,
				struct secret *sec)
{
	struct objref *r;
	size_t n = 0;

	for (size_t i = 0; i < app->nobjs; i++)
		n += app->objs[i].secret != NULL;
	if (n >= FE_MAX_SESSION_OBJECTS || !(r = objref_alloc(app)))
		return CK_INVALID_HANDLE;
	r->slot = s->slot;
	r->epoch = s->epoch;
	r->kind = OBJ_SECRET;
	r->secret = sec;
	r->owner = s->h;
	return r->h;
}

struct objref *obj_ref(struct app *app, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < app->nobjs; i++)
		if (app->objs[i].h == h)
			return &app->objs[i];
	return NULL;
}

void obj_drop(struct app *app, CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < app->nobjs; i++) {
		if (app->objs[i].h != h)
			continue;
		secret_free(&app->objs[i].secret);
		app->objs[i] = app->objs[--app->nobjs];
		return;
	}
}

CK_OBJECT_HANDLE obj_own(struct app *app, struct session *s, enum obj_kind kind,
			 uint32_t ident)
{
	CK_OBJECT_HANDLE h = obj_handle(app, s->slot, kind, ident);
	struct objref *r = h ? obj_ref(app, h) : NULL;

	if (r)
		r->owner = s->h;
	return h;
}

static void obj_destroy_in_token(const struct objref *o);

void obj_drop_session(struct app *app, CK_SESSION_HANDLE owner)
{
	struct objref o;

	for (size_t i = 0; i < app->nobjs;) {
		if (app->objs[i].owner != owner) {
			i++;
			continue;
		}
		o = app->objs[i];
		app->objs[i] = app->objs[--app->nobjs];
		if (o.secret)
			secret_free(&o.secret);
		else /* a token's session object the session made */
			obj_destroy_in_token(&o);
	}
}

void secret_free(struct secret **p)
{
	struct secret *s;

	if (!p || !(s = *p))
		return;
	if (s->value) {
		explicit_bzero(s->value, s->len);
		free(s->value);
	}
	free(s);
	*p = NULL;
}

const struct tk_key *obj_key_by_handle(const struct tk_objects *objs,
				       uint32_t handle)
{
	for (size_t i = 0; i < objs->nkeys; i++)
		if (objs->keys[i].handle == handle)
			return &objs->keys[i];
	return NULL;
}

static const struct tk_data *obj_data_by_handle(const struct tk_objects *objs,
						uint32_t handle)
{
	for (size_t i = 0; i < objs->ndata; i++)
		if (objs->data[i].handle == handle)
			return &objs->data[i];
	return NULL;
}

static const struct tk_secret_key *
obj_secret_by_handle(const struct tk_objects *objs, uint32_t handle)
{
	for (size_t i = 0; i < objs->nsecrets; i++)
		if (objs->secrets[i].handle == handle)
			return &objs->secrets[i];
	return NULL;
}

static bool obj_kind_exists(const struct tk_key *k, enum obj_kind kind)
{
	if (kind == OBJ_CERT && !k->cert)
		return false;
	if (k->parts) /* the driver says which parts are objects */
		return (k->parts & kind) != 0;
	return kind == OBJ_CERT || !k->cert_only;
}

/* slot->lock held. Fills v for a token object of slot; TK_ERR_NOT_FOUND. */
static int obj_resolve(struct fe_slot *slot, enum obj_kind kind, uint32_t ident,
		       struct obj_view *v)
{
	const struct tk_objects *objs;
	int r;

	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->slot = slot;
	v->handle = ident;
	if (!slot->tok)
		return TK_ERR_REMOVED;
	if ((r = slot->tok->ops->objects(slot->tok, &objs)) < 0)
		return r;
	if (kind == OBJ_DATA)
		v->data = obj_data_by_handle(objs, ident);
	else if (kind == OBJ_SECRET)
		v->skey = obj_secret_by_handle(objs, ident);
	else
		v->key = obj_key_by_handle(objs, ident);
	if (!v->data && !v->key && !v->skey)
		return TK_ERR_NOT_FOUND;
	if (v->key && !obj_kind_exists(v->key, kind))
		return TK_ERR_NOT_FOUND;
	return 0;
}

/* ---- visibility ---- */

/* Objects of one namespace share idents: a tk_key's parts. */
static bool obj_same_family(enum obj_kind a, enum obj_kind b)
{
	const unsigned keys = OBJ_PRIV | OBJ_PUB | OBJ_CERT;

	return a == b || ((a & keys) && (b & keys));
}

bool obj_is_session(const struct obj_view *v)
{
	if (v->secret)
		return false; /* the front end's own */
	switch (v->kind) {
	case OBJ_PRIV:
	case OBJ_PUB:
	case OBJ_CERT:
		return v->key && (v->key->session & v->kind);
	case OBJ_SECRET:
		return v->skey && v->skey->session;
	case OBJ_DATA:
		return v->data && v->data->session;
	}
	return false;
}

/* Whether a session of app made the token's session object (kind, ident)
 * (obj_own), and has not closed since. */
static bool obj_owned(struct app *app, struct fe_slot *slot, enum obj_kind kind,
		      uint32_t ident)
{
	uint64_t epoch = slot_epoch(slot);

	for (size_t i = 0; i < app->nobjs; i++) {
		const struct objref *r = &app->objs[i];
		if (r->slot == slot && r->owner && !r->secret &&
		    r->epoch == epoch && r->ident == ident &&
		    obj_same_family(r->kind, kind))
			return true;
	}
	return false;
}

/* A session object in the token (made through the driver: it lives in the
 * one device session every app shares) is the app's that made it, as
 * PKCS#11 wants: other apps neither see nor use it. */
static bool obj_owner_allows(struct app *app, const struct obj_view *v)
{
	return !obj_is_session(v) ||
	       obj_owned(app, v->slot, v->kind, v->handle);
}

bool obj_token_session(struct fe_slot *slot, enum obj_kind kind, uint32_t ident)
{
	struct obj_view v;

	return obj_resolve(slot, kind, ident, &v) == 0 && obj_is_session(&v);
}

/* The card lock taken here, app->lock held (as slot_logout): destroys in
 * the token the session parts of what o names. */
static void obj_destroy_in_token(const struct objref *o)
{
	static const enum obj_kind parts[] = { OBJ_PRIV, OBJ_PUB, OBJ_CERT };
	struct fe_slot *slot = o->slot;
	const struct tk_objects *objs;
	const struct tk_key *k;
	struct tk_token *tok;
	uint8_t session = 0;

	slot_card_lock(slot);
	tok = slot->tok;
	if (o->epoch != slot_epoch(slot) || !tok || !tok->ops->destroy ||
	    tok->ops->objects(tok, &objs) < 0)
		goto out;
	if (obj_same_family(o->kind, OBJ_PRIV)) {
		if ((k = obj_key_by_handle(objs, o->ident)))
			session = k->session; /* the cache changes below */
		for (size_t i = 0; i < 3; i++)
			if (session & parts[i])
				(void)tok->ops->destroy(
				    tok, (enum tk_obj_kind)parts[i], o->ident);
	} else if (obj_token_session(slot, o->kind, o->ident)) {
		(void)tok->ops->destroy(tok, (enum tk_obj_kind)o->kind,
					o->ident);
	}
out:
	slot_card_unlock(slot);
}

/* Whether the app's login lets it see v: a private object only while the
 * app is logged in on the slot as the user, whatever other apps did. A
 * private key also while it is logged in as SO: the SO generates and
 * replaces keys, so their public attributes are no secret to it;
 * PIN-protected data and secret keys stay the user's. */
static bool obj_login_allows(struct app *app, const struct obj_view *v)
{
	CK_USER_TYPE u;

	if (!obj_is_private(v))
		return true;
	u = app_user(app, v->slot);
	return u == CKU_USER || (u == CKU_SO && v->kind == OBJ_PRIV);
}

static void obj_pad(unsigned char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len);

	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

/* slot->lock held: what an object filter matches token URIs against. An
 * unreadable token leaves the fields empty, which no URI naming them
 * matches. */
static void obj_token_info(struct fe_slot *slot, CK_TOKEN_INFO *ti)
{
	struct tk_token_info info;

	memset(ti, 0, sizeof(*ti));
	if (slot_info(slot, &info) < 0)
		return;
	obj_pad(ti->label, sizeof(ti->label), info.label);
	obj_pad(ti->manufacturerID, sizeof(ti->manufacturerID),
		info.manufacturer);
	obj_pad(ti->model, sizeof(ti->model), info.model);
	obj_pad(ti->serialNumber, sizeof(ti->serialNumber), info.serial);
}

/* Whether the app's object filter accepts key k's objects: CKA_CLASS,
 * CKA_ID and CKA_LABEL of its private key, public key or certificate
 * matching makes all three visible. */
static bool obj_filter_key(struct app *app, const CK_TOKEN_INFO *ti,
			   struct fe_slot *slot, const struct tk_key *k)
{
	static const enum obj_kind kinds[] = { OBJ_PRIV, OBJ_PUB, OBJ_CERT };
	static const CK_ATTRIBUTE_TYPE types[] = { CKA_CLASS, CKA_ID,
						   CKA_LABEL };
	struct obj_view v = { .slot = slot, .key = k, .handle = k->handle };
	CK_ATTRIBUTE a[3];
	struct buf b[3];
	bool shown = false, ok;

	for (size_t i = 0; i < 3; i++)
		buf_init(&b[i], 0);
	for (size_t n = 0; n < 3 && !shown; n++) {
		v.kind = kinds[n];
		if (!obj_kind_exists(k, v.kind))
			continue;
		ok = true;
		for (size_t i = 0; i < 3 && ok; i++) {
			buf_reset(&b[i]);
			ok = attr_get(&v, types[i], &b[i]) == ATTR_OK &&
			     !buf_failed(&b[i]);
			a[i].type = types[i];
			a[i].pValue = b[i].data;
			a[i].ulValueLen = b[i].len;
		}
		shown = ok && app->obj_filter(app->obj_filter_ctx, ti, a, 3);
	}
	for (size_t i = 0; i < 3; i++)
		buf_free(&b[i]);
	return shown;
}

/* slot->lock held: whether the app's object filter shows v. Session
 * objects are the app's own (derived from a key it could use); data
 * objects and secret keys belong to no key pair and are never shown. */
static bool obj_filter_allows(struct app *app, const struct obj_view *v)
{
	CK_TOKEN_INFO ti;

	if (!app->obj_filter || v->secret || obj_is_session(v))
		return true;
	if (v->kind == OBJ_DATA || v->kind == OBJ_SECRET)
		return false;
	obj_token_info(v->slot, &ti);
	return obj_filter_key(app, &ti, v->slot, v->key);
}

/* slot->lock held: whether app may see (find, read, use) v now. */
static bool obj_visible(struct app *app, const struct obj_view *v)
{
	return obj_login_allows(app, v) && obj_owner_allows(app, v) &&
	       obj_filter_allows(app, v);
}

CK_RV obj_view(struct app *app, struct session *s, CK_OBJECT_HANDLE h,
	       struct obj_view *v)
{
	struct objref *r = obj_ref(app, h);

	if (!r || r->slot != s->slot || r->epoch != slot_epoch(s->slot))
		return CKR_OBJECT_HANDLE_INVALID;
	if (r->secret) {
		memset(v, 0, sizeof(*v));
		v->kind = OBJ_SECRET;
		v->slot = r->slot;
		v->secret = r->secret;
		v->skey = &r->secret->desc;
	} else if (obj_resolve(s->slot, r->kind, r->ident, v) < 0) {
		return CKR_OBJECT_HANDLE_INVALID;
	}
	/* A handle the app may not use now names nothing (PKCS#11: C_Logout
	 * invalidates the handles of private objects). */
	if (!obj_visible(app, v))
		return CKR_OBJECT_HANDLE_INVALID;
	return CKR_OK;
}

bool obj_is_private(const struct obj_view *v)
{
	switch (v->kind) {
	case OBJ_PRIV:
		return v->key->pin_policy != TK_PIN_POLICY_NEVER;
	case OBJ_DATA:
		return v->data->private;
	case OBJ_SECRET:
		return v->skey->private;
	default:
		return false;
	}
}

/* ---- templates ---- */

const CK_ATTRIBUTE *tmpl_find(const CK_ATTRIBUTE *t, CK_ULONG n,
			      CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

CK_RV tmpl_check(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	if (n && !t)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < n; i++)
		if (!t[i].pValue && t[i].ulValueLen)
			return CKR_ATTRIBUTE_VALUE_INVALID;
	return CKR_OK;
}

CK_RV tmpl_get_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
		     CK_ULONG *out, bool *found)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, type);

	*found = a != NULL;
	if (!a)
		return CKR_OK;
	if (a->ulValueLen != sizeof(CK_ULONG) || !a->pValue)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(out, a->pValue, sizeof(CK_ULONG));
	return CKR_OK;
}

CK_RV tmpl_get_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
		    bool *out, bool *found)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, type);

	*found = a != NULL;
	if (!a)
		return CKR_OK;
	if (a->ulValueLen != sizeof(CK_BBOOL) || !a->pValue)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = *(const CK_BBOOL *)a->pValue != CK_FALSE;
	return CKR_OK;
}

/* ---- find ---- */

static bool obj_matches(const struct obj_view *v, const CK_ATTRIBUTE *t,
			CK_ULONG n)
{
	struct buf b;
	bool ok = true;

	buf_init(&b, 0);
	for (CK_ULONG i = 0; i < n && ok; i++) {
		if (attr_on_device(v->slot, t[i].type)) { /* a round trip */
			ok = false;
			break;
		}
		buf_reset(&b);
		ok = attr_get(v, t[i].type, &b) == ATTR_OK && !buf_failed(&b) &&
		     b.len == t[i].ulValueLen &&
		     (b.len == 0 || memcmp(b.data, t[i].pValue, b.len) == 0);
	}
	buf_free(&b);
	return ok;
}

struct find_ctx {
	struct app *app;
	struct session *s;
	const CK_ATTRIBUTE *t;
	CK_ULONG n;
	bool logged_in;   /* as the user: private data may be loaded */
	CK_TOKEN_INFO ti; /* for the app's object filter */
	CK_OBJECT_HANDLE *found;
	size_t nfound, cap;
};

/* Appends a found handle; TK_ERR_NOMEM. */
static int find_push(struct find_ctx *c, CK_OBJECT_HANDLE h)
{
	if (c->nfound == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		CK_OBJECT_HANDLE *nf =
		    reallocarray(c->found, ncap, sizeof(*nf));
		if (!nf)
			return TK_ERR_NOMEM;
		c->found = nf;
		c->cap = ncap;
	}
	c->found[c->nfound++] = h;
	return 0;
}

static int find_consider(struct find_ctx *c, const struct obj_view *v,
			 uint32_t ident)
{
	CK_OBJECT_HANDLE h;

	if (!obj_login_allows(c->app, v) || !obj_owner_allows(c->app, v))
		return 0;
	if (!obj_matches(v, c->t, c->n))
		return 0;
	h = obj_handle(c->app, c->s->slot, v->kind, ident);
	if (h == CK_INVALID_HANDLE)
		return TK_ERR_NOMEM;
	return find_push(c, h);
}

/* slot->lock held: token objects then the app's session objects. */
static int find_token(struct find_ctx *c, const struct tk_objects *objs)
{
	struct obj_view v = { .slot = c->s->slot };
	static const enum obj_kind kinds[] = { OBJ_PRIV, OBJ_PUB, OBJ_CERT };
	int r = 0;

	if (c->app->obj_filter)
		obj_token_info(c->s->slot, &c->ti);
	for (size_t i = 0; i < objs->nkeys && r == 0; i++) {
		v.key = &objs->keys[i];
		if (c->app->obj_filter &&
		    !obj_filter_key(c->app, &c->ti, v.slot, v.key))
			continue;
		for (size_t k = 0; k < 3 && r == 0; k++) {
			v.kind = kinds[k];
			if (!obj_kind_exists(v.key, v.kind))
				continue;
			v.handle = v.key->handle;
			r = find_consider(c, &v, v.handle);
		}
	}
	v.key = NULL;
	v.kind = OBJ_SECRET;
	for (size_t i = 0; i < objs->nsecrets && r == 0 && !c->app->obj_filter;
	     i++) {
		v.skey = &objs->secrets[i];
		v.handle = v.skey->handle;
		r = find_consider(c, &v, v.handle);
	}
	v.skey = NULL;
	v.kind = OBJ_DATA;
	for (size_t i = 0; i < objs->ndata && r == 0 && !c->app->obj_filter;
	     i++) {
		v.data = &objs->data[i];
		v.handle = v.data->handle;
		r = find_consider(c, &v, v.handle);
	}
	return r;
}

static int find_session_objs(struct find_ctx *c)
{
	struct obj_view v = { .kind = OBJ_SECRET, .slot = c->s->slot };

	for (size_t i = 0; i < c->app->nobjs; i++) {
		struct objref *r = &c->app->objs[i];
		if (!r->secret || r->slot != c->s->slot ||
		    r->epoch != c->s->epoch)
			continue;
		v.secret = r->secret;
		v.skey = &r->secret->desc;
		if (!obj_login_allows(c->app, &v))
			continue;
		if (obj_matches(&v, c->t, c->n) && find_push(c, r->h) < 0)
			return TK_ERR_NOMEM;
	}
	return 0;
}

/* Whether a search could match private data objects (so they are loaded). */
static bool find_wants_data(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, CKA_CLASS);
	CK_OBJECT_CLASS cls;

	/* a module's private secret keys (made before tokend read the token)
	 * show only to a read after login */
	if (a && a->ulValueLen == sizeof(cls)) {
		memcpy(&cls, a->pValue, sizeof(cls));
		if (cls == CKO_SECRET_KEY)
			return true;
	}
	if (tmpl_find(t, n, CKA_ID)) /* data objects have none */
		return false;
	if (!a)
		return true;
	if (a->ulValueLen != sizeof(cls))
		return false;
	memcpy(&cls, a->pValue, sizeof(cls));
	return cls == CKO_DATA;
}

/* Whether a search could match keys or certificates of the kinds a read
 * after login may add (tk_objects.login_reveals). */
static bool find_wants_revealed(const CK_ATTRIBUTE *t, CK_ULONG n,
				uint8_t reveals)
{
	const CK_ATTRIBUTE *a = tmpl_find(t, n, CKA_CLASS);
	CK_OBJECT_CLASS cls;

	if (!reveals)
		return false;
	if (!a)
		return true;
	if (a->ulValueLen != sizeof(cls) || !a->pValue)
		return false;
	memcpy(&cls, a->pValue, sizeof(cls));
	return (cls == CKO_PRIVATE_KEY && (reveals & TK_OBJ_PRIVATE)) ||
	       (cls == CKO_PUBLIC_KEY && (reveals & TK_OBJ_PUBLIC)) ||
	       (cls == CKO_CERTIFICATE && (reveals & TK_OBJ_CERT));
}

/* What a search could match, as TK_DISCOVER_* flags for the driver: a
 * CKA_ID narrows keys and certificates to that ID (data objects have no
 * CKA_ID), a CKA_CLASS to its kind. */
static unsigned find_discover(const CK_ATTRIBUTE *t, CK_ULONG n,
			      const CK_ATTRIBUTE **idp)
{
	const CK_ATTRIBUTE *ca = tmpl_find(t, n, CKA_CLASS);
	const CK_ATTRIBUTE *id = tmpl_find(t, n, CKA_ID);
	CK_OBJECT_CLASS cls = CKO_VENDOR_DEFINED;
	bool keys;
	unsigned what = 0;

	if (ca && (ca->ulValueLen != sizeof(cls) || !ca->pValue))
		return 0; /* matches nothing */
	if (ca)
		memcpy(&cls, ca->pValue, sizeof(cls));
	keys = cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY ||
	       cls == CKO_SECRET_KEY;
	*idp = id;
	if (!ca || cls == CKO_CERTIFICATE)
		what |= TK_DISCOVER_CERT;
	else if (keys)
		what |= TK_DISCOVER_KEY;
	if ((!ca || cls == CKO_DATA) && !id)
		what |= TK_DISCOVER_DATA;
	if (!(what & (TK_DISCOVER_KEY | TK_DISCOVER_CERT)))
		return what;
	if (!id)
		return what | TK_DISCOVER_ALL;
	if (!id->pValue && id->ulValueLen)
		return 0;
	return what;
}

/* slot->lock held: has the driver read what the search could match (the
 * card lock is taken inside, only when there is something to read). */
static int find_prepare(struct find_ctx *c, struct fe_slot *slot)
{
	const CK_ATTRIBUTE *id = NULL;
	unsigned what = find_discover(c->t, c->n, &id);
	const struct tk_objects *objs;
	bool wants;
	int r = 0;

	r = slot_discover(slot, what, id ? id->pValue : NULL,
			  id ? id->ulValueLen : 0);
	if (r < 0 || !c->logged_in || slot->private_loaded)
		return r;
	wants = find_wants_data(c->t, c->n) ||
		(slot->tok && slot->tok->ops->objects(slot->tok, &objs) == 0 &&
		 find_wants_revealed(c->t, c->n, objs->login_reveals));
	if (wants) {
		r = slot_load_private(slot);
		slot->private_loaded = r == 0;
		if (r != TK_ERR_REMOVED && r != TK_ERR_WOULD_BLOCK)
			r = 0; /* the public objects are still there */
	}
	return r;
}

/* app->lock and slot->lock held: find_prepare, first without waiting;
 * when the card must be read, with the session busy and app->lock
 * dropped (so the app's other sessions go on), unless this thread must
 * not wait (then TK_ERR_WOULD_BLOCK). What the search finds is decided
 * after, under app->lock, by the app's login then. */
static int find_read(struct find_ctx *c, struct fe_slot *slot)
{
	bool was = slot_nonblocking_set(true);
	int r;

	r = slot->tok ? find_prepare(c, slot) : TK_ERR_REMOVED;
	slot_nonblocking_set(was);
	if (r != TK_ERR_WOULD_BLOCK || was)
		return r;
	pthread_mutex_unlock(&slot->lock);
	session_run(c->app, c->s);
	pthread_mutex_lock(&slot->lock);
	r = slot->tok ? find_prepare(c, slot) : TK_ERR_REMOVED;
	pthread_mutex_unlock(&slot->lock);
	session_done(c->app, c->s);
	pthread_mutex_lock(&slot->lock);
	return r == 0 && !slot->tok ? TK_ERR_REMOVED : r;
}

CK_RV fe_C_FindObjectsInit(struct app *app, CK_SESSION_HANDLE hSession,
			   CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct find_ctx c = { .app = app, .t = pTemplate, .n = ulCount };
	const struct tk_objects *objs;
	struct fe_slot *slot;
	CK_RV rv;
	int r;

	if (ulCount && !pTemplate)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, c.s, rv);
	if (c.s->find.active) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	slot = c.s->slot;
	c.logged_in = app_user(app, slot) == CKU_USER;
	pthread_mutex_lock(&slot->lock);
	r = find_read(&c, slot);
	if (r == 0 && slot->epoch != c.s->epoch) {
		/* a new token came while the session was at the card */
		rv = CKR_DEVICE_REMOVED;
		pthread_mutex_unlock(&slot->lock);
		goto out;
	}
	if (r == 0)
		r = slot->tok->ops->objects(slot->tok, &objs);
	if (r == 0)
		r = find_token(&c, objs);
	rv = r < 0 ? slot_rv(slot, r) : CKR_OK;
	pthread_mutex_unlock(&slot->lock);
	if (rv == CKR_OK && find_session_objs(&c) < 0)
		rv = CKR_HOST_MEMORY;
	if (rv != CKR_OK) {
		free(c.found);
		goto out;
	}
	c.s->find.active = true;
	c.s->find.found = c.found;
	c.s->find.n = c.nfound;
	c.s->find.pos = 0;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_FindObjects(struct app *app, CK_SESSION_HANDLE hSession,
		       CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
		       CK_ULONG_PTR pulObjectCount)
{
	struct session *s;
	CK_ULONG n = 0;
	CK_RV rv;

	if (!phObject || !pulObjectCount)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	if (!s->find.active) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
	while (n < ulMaxObjectCount && s->find.pos < s->find.n)
		phObject[n++] = s->find.found[s->find.pos++];
	*pulObjectCount = n;
out:
	pthread_mutex_unlock(&app->lock);
	return rv;
}

CK_RV fe_C_FindObjectsFinal(struct app *app, CK_SESSION_HANDLE hSession)
{
	struct session *s;
	CK_RV rv;

	APP_SESSION(app, hSession, s, rv);
	if (!s->find.active)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	free(s->find.found);
	memset(&s->find, 0, sizeof(s->find));
	pthread_mutex_unlock(&app->lock);
	return rv;
}

/* ---- attributes ---- */

/* One attribute per PKCS#11 3.0 §5.7: sensitive, invalid, size query, too
 * small, or copied. Returns the CK_RV for this attribute. */
static CK_RV attr_one(const struct obj_view *v, CK_ATTRIBUTE *a, struct buf *b)
{
	int r;

	buf_reset(b);
	r = attr_get(v, a->type, b);
	if (r == ATTR_OK && buf_failed(b))
		r = TK_ERR_NOMEM;
	if (r != ATTR_OK) {
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		if (r == ATTR_SENSITIVE)
			return CKR_ATTRIBUTE_SENSITIVE;
		if (r == ATTR_INVALID)
			return CKR_ATTRIBUTE_TYPE_INVALID;
		return rv_from_tk(r);
	}
	if (!a->pValue) {
		a->ulValueLen = b->len;
		return CKR_OK;
	}
	if (a->ulValueLen < b->len) {
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (b->len)
		memcpy(a->pValue, b->data, b->len);
	a->ulValueLen = b->len;
	return CKR_OK;
}

/* slot->lock held: key's CKA_ID and CKA_LABEL into d, as far as the app
 * may read them. */
static void describe_key(struct app *app, struct session *s,
			 CK_OBJECT_HANDLE key, struct fe_session_desc *d)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_ID, d->key_id, sizeof(d->key_id) },
		{ CKA_LABEL, d->key_label, sizeof(d->key_label) - 1 },
	};
	struct obj_view v;
	struct buf b;

	buf_init(&b, 0);
	if (obj_view(app, s, key, &v) == CKR_OK) {
		if (attr_one(&v, &t[0], &b) == CKR_OK)
			d->key_id_len = t[0].ulValueLen;
		if (attr_one(&v, &t[1], &b) == CKR_OK)
			d->key_label[t[1].ulValueLen] = '\0';
	}
	buf_free(&b);
}

CK_RV fe_session_describe(struct app *app, CK_SESSION_HANDLE h,
			  enum fe_op_kind op, CK_OBJECT_HANDLE key,
			  struct fe_session_desc *d)
{
	struct tk_token_info ti;
	struct session *s;
	struct op *o;
	size_t n;
	CK_RV rv;

	memset(d, 0, sizeof(*d));
	d->slot = d->mech = CK_UNAVAILABLE_INFORMATION;
	APP_SESSION(app, h, s, rv);
	d->slot = s->slot->id;
	if (slot_info_peek(s->slot, &ti) == 0) {
		n = strnlen(ti.serial, sizeof(d->serial) - 1);
		while (n && ti.serial[n - 1] == ' ')
			n--;
		memcpy(d->serial, ti.serial, n);
	}
	if (op != FE_OP_NONE) {
		o = &s->op[op == FE_OP_SIGN ? OP_SIGN : OP_DECRYPT];
		key = o->active ? o->key : CK_INVALID_HANDLE;
		d->op_active = o->active;
		if (o->active)
			d->mech = o->whole ? o->arg.type : o->m->type;
	}
	if (key != CK_INVALID_HANDLE) {
		pthread_mutex_lock(&s->slot->lock);
		describe_key(app, s, key, d);
		pthread_mutex_unlock(&s->slot->lock);
	}
	pthread_mutex_unlock(&app->lock);
	return CKR_OK;
}

CK_RV fe_C_GetAttributeValue(struct app *app, CK_SESSION_HANDLE hSession,
			     CK_OBJECT_HANDLE hObject,
			     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct obj_view v;
	struct session *s;
	struct buf b;
	CK_RV rv, one;
	bool card;

	if (!pTemplate && ulCount)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	/* An attribute the driver reads from the device: the card lock. */
	card = false;
	for (CK_ULONG i = 0; i < ulCount && !card; i++)
		card = attr_on_device(s->slot, pTemplate[i].type);
	if (card && fe_would_block()) {
		pthread_mutex_unlock(&app->lock);
		return CKR_TOKEND_WOULD_BLOCK;
	}
	buf_init(&b, 0);
	if (card)
		slot_card_lock(s->slot);
	else
		pthread_mutex_lock(&s->slot->lock);
	if ((rv = obj_view(app, s, hObject, &v)) != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < ulCount; i++) {
		one = attr_one(&v, &pTemplate[i], &b);
		/* Keep the first error, but a memory failure wins. */
		if (one != CKR_OK && (rv == CKR_OK || one == CKR_HOST_MEMORY))
			rv = one;
	}
out:
	if (card)
		slot_card_unlock(s->slot);
	else
		pthread_mutex_unlock(&s->slot->lock);
	pthread_mutex_unlock(&app->lock);
	buf_free(&b);
	return rv;
}

CK_RV fe_C_GetObjectSize(struct app *app, CK_SESSION_HANDLE hSession,
			 CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	struct obj_view v;
	struct session *s;
	CK_RV rv;

	if (!pulSize)
		return CKR_ARGUMENTS_BAD;
	APP_SESSION(app, hSession, s, rv);
	pthread_mutex_lock(&s->slot->lock);
	rv = obj_view(app, s, hObject, &v);
	pthread_mutex_unlock(&s->slot->lock);
	pthread_mutex_unlock(&app->lock);
	if (rv == CKR_OK)
		*pulSize = CK_UNAVAILABLE_INFORMATION;
	return rv;
}
