#include "rpc_attr.h"

#include <string.h>

#include "error.h"

/* Every attribute p11-kit does not list travels as a byte array. */
static const struct {
	CK_ATTRIBUTE_TYPE type;
	enum rpc_attr_kind kind;
} attr_kinds[] = {
	{ CKA_TOKEN, RPC_ATTR_BYTE },
	{ CKA_PRIVATE, RPC_ATTR_BYTE },
	{ CKA_TRUSTED, RPC_ATTR_BYTE },
	{ CKA_SENSITIVE, RPC_ATTR_BYTE },
	{ CKA_ENCRYPT, RPC_ATTR_BYTE },
	{ CKA_DECRYPT, RPC_ATTR_BYTE },
	{ CKA_WRAP, RPC_ATTR_BYTE },
	{ CKA_UNWRAP, RPC_ATTR_BYTE },
	{ CKA_SIGN, RPC_ATTR_BYTE },
	{ CKA_SIGN_RECOVER, RPC_ATTR_BYTE },
	{ CKA_VERIFY, RPC_ATTR_BYTE },
	{ CKA_VERIFY_RECOVER, RPC_ATTR_BYTE },
	{ CKA_DERIVE, RPC_ATTR_BYTE },
	{ CKA_EXTRACTABLE, RPC_ATTR_BYTE },
	{ CKA_LOCAL, RPC_ATTR_BYTE },
	{ CKA_NEVER_EXTRACTABLE, RPC_ATTR_BYTE },
	{ CKA_ALWAYS_SENSITIVE, RPC_ATTR_BYTE },
	{ CKA_MODIFIABLE, RPC_ATTR_BYTE },
	{ CKA_COPYABLE, RPC_ATTR_BYTE },
	{ CKA_SECONDARY_AUTH, RPC_ATTR_BYTE },
	{ CKA_ALWAYS_AUTHENTICATE, RPC_ATTR_BYTE },
	{ CKA_WRAP_WITH_TRUSTED, RPC_ATTR_BYTE },
	{ CKA_RESET_ON_INIT, RPC_ATTR_BYTE },
	{ CKA_HAS_RESET, RPC_ATTR_BYTE },
	{ CKA_COLOR, RPC_ATTR_BYTE },
	{ CKA_CLASS, RPC_ATTR_ULONG },
	{ CKA_CERTIFICATE_TYPE, RPC_ATTR_ULONG },
	{ CKA_CERTIFICATE_CATEGORY, RPC_ATTR_ULONG },
	{ CKA_JAVA_MIDP_SECURITY_DOMAIN, RPC_ATTR_ULONG },
	{ CKA_KEY_TYPE, RPC_ATTR_ULONG },
	{ CKA_MODULUS_BITS, RPC_ATTR_ULONG },
	{ CKA_PRIME_BITS, RPC_ATTR_ULONG },
	{ CKA_SUB_PRIME_BITS, RPC_ATTR_ULONG },
	{ CKA_VALUE_BITS, RPC_ATTR_ULONG },
	{ CKA_VALUE_LEN, RPC_ATTR_ULONG },
	{ CKA_KEY_GEN_MECHANISM, RPC_ATTR_ULONG },
	{ CKA_AUTH_PIN_FLAGS, RPC_ATTR_ULONG },
	{ CKA_HW_FEATURE_TYPE, RPC_ATTR_ULONG },
	{ CKA_PIXEL_X, RPC_ATTR_ULONG },
	{ CKA_PIXEL_Y, RPC_ATTR_ULONG },
	{ CKA_RESOLUTION, RPC_ATTR_ULONG },
	{ CKA_CHAR_ROWS, RPC_ATTR_ULONG },
	{ CKA_CHAR_COLUMNS, RPC_ATTR_ULONG },
	{ CKA_BITS_PER_PIXEL, RPC_ATTR_ULONG },
	{ CKA_MECHANISM_TYPE, RPC_ATTR_ULONG },
	{ CKA_WRAP_TEMPLATE, RPC_ATTR_TEMPLATE },
	{ CKA_UNWRAP_TEMPLATE, RPC_ATTR_TEMPLATE },
	{ CKA_DERIVE_TEMPLATE, RPC_ATTR_TEMPLATE },
	{ CKA_ALLOWED_MECHANISMS, RPC_ATTR_MECH_ARRAY },
	{ CKA_START_DATE, RPC_ATTR_DATE },
	{ CKA_END_DATE, RPC_ATTR_DATE },
};

enum rpc_attr_kind rpc_attr_kind(CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < sizeof(attr_kinds) / sizeof(attr_kinds[0]); i++)
		if (attr_kinds[i].type == type)
			return attr_kinds[i].kind;
	return RPC_ATTR_BYTES;
}

static int attr_decode(struct reader *r, struct rpc_dctx *d, unsigned depth,
		       CK_ATTRIBUTE *a);

/* u32 count of things at least `min` wire bytes each: refuse counts the
 * input cannot hold before anything is allocated. */
static int get_count(struct reader *r, size_t min, uint32_t *n)
{
	size_t need;

	if (rpc_get_u32(r, n))
		return TK_ERR_INVALID;
	if (__builtin_mul_overflow((size_t)*n, min, &need) ||
	    need > reader_left(r))
		return TK_ERR_INVALID;
	return 0;
}

static int count_attrs(struct rpc_dctx *d, uint32_t n)
{
	if (n > d->limits->max_attrs || d->nattrs > d->limits->max_attrs - n)
		return TK_ERR_TOO_LARGE;
	d->nattrs += n;
	return 0;
}

static int template_decode(struct reader *r, struct rpc_dctx *d, unsigned depth,
			   CK_ATTRIBUTE **out, CK_ULONG *n_out)
{
	CK_ATTRIBUTE *attrs = NULL;
	uint32_t n, i;
	int rc;

	if (depth >= d->limits->max_depth)
		return TK_ERR_INVALID;
	rc = get_count(r, 5, &n); /* type + validity byte */
	if (!rc)
		rc = count_attrs(d, n);
	if (rc)
		return rc;
	if (n) {
		attrs = rpc_arena_array(d->arena, n, sizeof(*attrs));
		if (!attrs)
			return TK_ERR_TOO_LARGE;
	}
	for (i = 0; i < n; i++) {
		rc = attr_decode(r, d, depth + 1, &attrs[i]);
		if (rc)
			return rc;
	}
	*out = attrs;
	*n_out = n;
	return 0;
}

static int mech_array_decode(struct reader *r, struct rpc_dctx *d,
			     CK_MECHANISM_TYPE **out, CK_ULONG *n_out)
{
	CK_MECHANISM_TYPE *v = NULL;
	uint32_t n, i;

	if (get_count(r, 8, &n))
		return TK_ERR_INVALID;
	if (n) {
		v = rpc_arena_array(d->arena, n, sizeof(*v));
		if (!v)
			return TK_ERR_TOO_LARGE;
	}
	for (i = 0; i < n; i++)
		if (rpc_get_ulong(r, &v[i]))
			return TK_ERR_INVALID;
	*out = v;
	*n_out = n;
	return 0;
}

/* Decodes the value of kind k into host form: *val (arena) and *vlen. */
static int value_decode(struct reader *r, struct rpc_dctx *d, unsigned depth,
			enum rpc_attr_kind k, void **val, CK_ULONG *vlen)
{
	const uint8_t *p;
	size_t len;
	uint8_t byte;
	CK_ULONG ul, n;
	CK_ATTRIBUTE *tmpl;
	CK_MECHANISM_TYPE *mechs;
	int rc;

	switch (k) {
	case RPC_ATTR_BYTE:
		if (reader_get_u8(r, &byte))
			return TK_ERR_INVALID;
		*vlen = sizeof(CK_BBOOL);
		*val = rpc_arena_dup(d->arena, &byte, 1);
		break;
	case RPC_ATTR_ULONG:
		if (rpc_get_ulong(r, &ul))
			return TK_ERR_INVALID;
		*vlen = sizeof(CK_ULONG);
		*val = rpc_arena_dup(d->arena, &ul, sizeof(ul));
		break;
	case RPC_ATTR_TEMPLATE:
		rc = template_decode(r, d, depth, &tmpl, &n);
		if (rc)
			return rc;
		*vlen = n * sizeof(CK_ATTRIBUTE);
		*val = tmpl ? tmpl : rpc_arena_alloc(d->arena, 0);
		break;
	case RPC_ATTR_MECH_ARRAY:
		rc = mech_array_decode(r, d, &mechs, &n);
		if (rc)
			return rc;
		*vlen = n * sizeof(CK_MECHANISM_TYPE);
		*val = mechs ? (void *)mechs : rpc_arena_alloc(d->arena, 0);
		break;
	case RPC_ATTR_DATE:
	case RPC_ATTR_BYTES:
	default:
		if (rpc_get_array(r, &p, &len) ||
		    (k == RPC_ATTR_DATE && len != 0 && len != sizeof(CK_DATE)))
			return TK_ERR_INVALID;
		*vlen = len;
		*val = rpc_arena_dup(d->arena, p, len);
		break;
	}
	return *val ? 0 : TK_ERR_TOO_LARGE;
}

static int attr_decode(struct reader *r, struct rpc_dctx *d, unsigned depth,
		       CK_ATTRIBUTE *a)
{
	uint32_t type, len;
	uint8_t valid;
	void *val;
	CK_ULONG vlen;
	int rc;

	if (rpc_get_u32(r, &type) || reader_get_u8(r, &valid))
		return TK_ERR_INVALID;
	a->type = type;
	a->pValue = NULL;
	a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
	if (!valid)
		return 0;
	if (rpc_get_u32(r, &len))
		return TK_ERR_INVALID;
	rc = value_decode(r, d, depth, rpc_attr_kind(type), &val, &vlen);
	if (rc)
		return rc;
	/* As p11-kit: the declared length must hold the value. A zero
	 * length means the sender had no buffer: the value is dropped. */
	a->ulValueLen = 0;
	if (len == 0)
		return 0;
	if (rpc_attr_kind(type) == RPC_ATTR_BYTES && vlen > len)
		return TK_ERR_INVALID;
	a->pValue = val;
	a->ulValueLen = vlen;
	return 0;
}

int rpc_attrs_decode(struct reader *r, struct rpc_dctx *d, CK_ATTRIBUTE **out,
		     CK_ULONG *count)
{
	/* A top-level template: depth 0 */
	return template_decode(r, d, 0, out, count);
}

static int attrs_encode(struct buf *b, const CK_ATTRIBUTE *attrs,
			CK_ULONG count, unsigned depth);

static int value_encode(struct buf *b, const CK_ATTRIBUTE *a, unsigned depth)
{
	const CK_ULONG *ul = a->pValue;
	const CK_BYTE *byte = a->pValue;
	CK_ULONG i, n;

	switch (rpc_attr_kind(a->type)) {
	case RPC_ATTR_BYTE:
		if (a->ulValueLen > sizeof(CK_BYTE))
			return TK_ERR_ARG;
		buf_add_u8(b, byte && a->ulValueLen ? *byte : 0);
		return 0;
	case RPC_ATTR_ULONG:
		if (a->ulValueLen != 0 && a->ulValueLen != sizeof(CK_ULONG))
			return TK_ERR_ARG;
		rpc_put_ulong(b, ul && a->ulValueLen ? *ul : 0);
		return 0;
	case RPC_ATTR_TEMPLATE:
		n = a->pValue ? a->ulValueLen / sizeof(CK_ATTRIBUTE) : 0;
		return attrs_encode(b, a->pValue, n, depth + 1);
	case RPC_ATTR_MECH_ARRAY:
		/* p11-kit writes a count without elements for a NULL value;
		 * we write 0 so that a reader never runs past the value. */
		n = a->pValue ? a->ulValueLen / sizeof(CK_MECHANISM_TYPE) : 0;
		if (n > UINT32_MAX)
			return TK_ERR_ARG;
		buf_add_u32be(b, (uint32_t)n);
		for (i = 0; i < n; i++)
			rpc_put_ulong(b, ul[i]);
		return 0;
	case RPC_ATTR_DATE:
		if (a->ulValueLen != 0 && a->ulValueLen != sizeof(CK_DATE))
			return TK_ERR_ARG;
		rpc_put_array(b, a->ulValueLen ? a->pValue : NULL,
			      a->ulValueLen);
		return 0;
	case RPC_ATTR_BYTES:
	default:
		rpc_put_array(b, a->pValue, a->ulValueLen);
		return 0;
	}
}

static int attrs_encode(struct buf *b, const CK_ATTRIBUTE *attrs,
			CK_ULONG count, unsigned depth)
{
	const CK_ATTRIBUTE *a;
	CK_ULONG i;
	int rc;

	if (depth > RPC_DEFAULT_MAX_DEPTH || count > UINT32_MAX ||
	    (count && !attrs))
		return TK_ERR_ARG;
	buf_add_u32be(b, (uint32_t)count);
	for (i = 0; i < count; i++) {
		a = &attrs[i];
		if (a->type > UINT32_MAX)
			return TK_ERR_ARG;
		buf_add_u32be(b, (uint32_t)a->type);
		if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION) {
			buf_add_u8(b, 0);
			continue;
		}
		if (a->ulValueLen > UINT32_MAX)
			return TK_ERR_ARG;
		buf_add_u8(b, 1);
		buf_add_u32be(b, (uint32_t)a->ulValueLen);
		rc = value_encode(b, a, depth);
		if (rc)
			return rc;
	}
	return buf_failed(b) ? TK_ERR_NOMEM : 0;
}

int rpc_attrs_encode(struct buf *b, const CK_ATTRIBUTE *attrs, CK_ULONG count)
{
	return attrs_encode(b, attrs, count, 0);
}

static int buffer_decode(struct reader *r, struct rpc_dctx *d, unsigned depth,
			 CK_ATTRIBUTE **out, CK_ULONG *count)
{
	CK_ATTRIBUTE *attrs = NULL;
	uint32_t n, i, type, len;
	CK_ULONG nn;
	int rc;

	if (depth >= d->limits->max_depth)
		return TK_ERR_INVALID;
	rc = get_count(r, 8, &n);
	if (!rc)
		rc = count_attrs(d, n);
	if (rc)
		return rc;
	if (n && !(attrs = rpc_arena_array(d->arena, n, sizeof(*attrs))))
		return TK_ERR_TOO_LARGE;
	for (i = 0; i < n; i++) {
		if (rpc_get_u32(r, &type) || rpc_get_u32(r, &len))
			return TK_ERR_INVALID;
		attrs[i].type = type;
		attrs[i].ulValueLen = len;
		attrs[i].pValue = NULL;
		if (d->offered < 1 || !len ||
		    rpc_attr_kind(type) != RPC_ATTR_TEMPLATE)
			continue;
		rc = buffer_decode(r, d, depth + 1,
				   (CK_ATTRIBUTE **)&attrs[i].pValue, &nn);
		if (rc)
			return rc;
		attrs[i].ulValueLen = nn * sizeof(CK_ATTRIBUTE);
	}
	*out = attrs;
	*count = n;
	return 0;
}

int rpc_attr_buffer_decode(struct reader *r, struct rpc_dctx *d,
			   CK_ATTRIBUTE **out, CK_ULONG *count)
{
	return buffer_decode(r, d, 0, out, count);
}

static int buffer_encode(struct buf *b, uint8_t offered,
			 const CK_ATTRIBUTE *attrs, CK_ULONG count,
			 unsigned depth)
{
	CK_ULONG i, len;
	int rc;

	if (depth > RPC_DEFAULT_MAX_DEPTH || count > UINT32_MAX ||
	    (count && !attrs))
		return TK_ERR_ARG;
	buf_add_u32be(b, (uint32_t)count);
	for (i = 0; i < count; i++) {
		len = attrs[i].pValue ? attrs[i].ulValueLen : 0;
		if (attrs[i].type > UINT32_MAX || len > UINT32_MAX)
			return TK_ERR_ARG;
		buf_add_u32be(b, (uint32_t)attrs[i].type);
		buf_add_u32be(b, (uint32_t)len);
		if (offered < 1 || !len ||
		    rpc_attr_kind(attrs[i].type) != RPC_ATTR_TEMPLATE)
			continue;
		rc = buffer_encode(b, offered, attrs[i].pValue,
				   len / sizeof(CK_ATTRIBUTE), depth + 1);
		if (rc)
			return rc;
	}
	return buf_failed(b) ? TK_ERR_NOMEM : 0;
}

int rpc_attr_buffer_encode(struct buf *b, uint8_t offered,
			   const CK_ATTRIBUTE *attrs, CK_ULONG count)
{
	return buffer_encode(b, offered, attrs, count, 0);
}
