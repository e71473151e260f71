#include "rpc_wire.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct rpc_arena_block {
	struct rpc_arena_block *next;
	size_t size;
	alignas(max_align_t) unsigned char data[];
};

void rpc_arena_init(struct rpc_arena *a, size_t max)
{
	a->head = NULL;
	a->used = 0;
	a->max = max;
}

void rpc_arena_free(struct rpc_arena *a)
{
	struct rpc_arena_block *blk, *next;

	for (blk = a->head; blk; blk = next) {
		next = blk->next;
		explicit_bzero(blk->data, blk->size);
		free(blk);
	}
	a->head = NULL;
	a->used = 0;
}

void *rpc_arena_alloc(struct rpc_arena *a, size_t n)
{
	struct rpc_arena_block *blk;
	size_t total, used;

	if (__builtin_add_overflow(n, sizeof(*blk), &total) ||
	    __builtin_add_overflow(a->used, total, &used) ||
	    (a->max && used > a->max))
		return NULL;
	blk = calloc(1, total);
	if (!blk)
		return NULL;
	blk->size = n;
	blk->next = a->head;
	a->head = blk;
	a->used = used;
	return blk->data;
}

void *rpc_arena_array(struct rpc_arena *a, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n))
		return NULL;
	return rpc_arena_alloc(a, n);
}

void *rpc_arena_dup(struct rpc_arena *a, const void *p, size_t n)
{
	void *d = rpc_arena_alloc(a, n);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

int rpc_get_u32(struct reader *r, uint32_t *v)
{
	return reader_get_u32be(r, v) ? TK_ERR_INVALID : 0;
}

int rpc_get_ulong(struct reader *r, CK_ULONG *v)
{
	uint64_t x;

	if (reader_get_u64be(r, &x) || x > (uint64_t)(CK_ULONG)-1)
		return TK_ERR_INVALID;
	*v = (CK_ULONG)x;
	return 0;
}

int rpc_get_array(struct reader *r, const uint8_t **p, size_t *len)
{
	struct reader save = *r;
	uint32_t n;

	if (reader_get_u32be(r, &n))
		return TK_ERR_INVALID;
	if (n == RPC_NULL_ARRAY) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	if (n > RPC_MAX_ARRAY || reader_get_ref(r, n, p)) {
		*r = save;
		return TK_ERR_INVALID;
	}
	*len = n;
	return 0;
}

int rpc_get_array_dup(struct reader *r, struct rpc_arena *a, uint8_t **p,
		      size_t *len, bool *null)
{
	const uint8_t *src;
	size_t n, alloc;
	int rc;

	rc = rpc_get_array(r, &src, &n);
	if (rc)
		return rc;
	*null = src == NULL;
	if (__builtin_add_overflow(n, 1, &alloc))
		return TK_ERR_TOO_LARGE;
	*p = rpc_arena_alloc(a, alloc);
	if (!*p)
		return TK_ERR_TOO_LARGE;
	if (n)
		memcpy(*p, src, n);
	*len = n;
	return 0;
}

void rpc_put_ulong(struct buf *b, CK_ULONG v)
{
	buf_add_u64be(b, (uint64_t)v);
}

void rpc_put_array(struct buf *b, const void *p, size_t len)
{
	if (!p) {
		buf_add_u32be(b, RPC_NULL_ARRAY);
		return;
	}
	if (len > RPC_MAX_ARRAY) {
		b->failed = true;
		return;
	}
	buf_add_u32be(b, (uint32_t)len);
	buf_add(b, p, len);
}
