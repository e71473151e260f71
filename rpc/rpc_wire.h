/* Shared pieces of the p11-kit RPC codec: the per-message arena that owns
 * every decoded value, and the primitive wire types (big-endian u32/u64,
 * byte arrays with the 0xffffffff NULL marker). Internal to tk_rpc users. */
#ifndef TOKEND_RPC_WIRE_H
#define TOKEND_RPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "buf.h"
#include "reader.h"

/* A byte array of this length on the wire means "NULL pointer". */
#define RPC_NULL_ARRAY 0xffffffffu
/* p11-kit refuses byte arrays of 0x7fffffff bytes and more. */
#define RPC_MAX_ARRAY 0x7ffffffeu

struct rpc_arena_block;

/* Every allocation made while decoding one message; freed (and wiped: PINs
 * pass through here) all at once. max caps the total bytes. */
struct rpc_arena {
	struct rpc_arena_block *head;
	size_t used;
	size_t max;
};

/* Limits applied while decoding one message. */
struct rpc_limits {
	size_t max_attrs;   /* attributes in one message, nested included */
	size_t max_arena;   /* bytes the decoded message may occupy */
	unsigned max_depth; /* nesting of attribute-array attributes */
};

#define RPC_DEFAULT_MAX_ATTRS 256
#define RPC_DEFAULT_MAX_ARENA ((size_t)4 << 20)
#define RPC_DEFAULT_MAX_DEPTH 8

/* Decoding state shared by the attribute and mechanism decoders. */
struct rpc_dctx {
	struct rpc_arena *arena;
	const struct rpc_limits *limits;
	size_t nattrs;   /* attributes decoded so far */
	uint8_t offered; /* protocol version the client offered */
};

void rpc_arena_init(struct rpc_arena *a, size_t max);
void rpc_arena_free(struct rpc_arena *a);
/* Zeroed, aligned for any type; NULL when the cap would be passed. */
void *rpc_arena_alloc(struct rpc_arena *a, size_t n);
void *rpc_arena_array(struct rpc_arena *a, size_t nmemb, size_t size);
void *rpc_arena_dup(struct rpc_arena *a, const void *p, size_t n);

int rpc_get_u32(struct reader *r, uint32_t *v);
/* A CK_ULONG: a big-endian u64 that must fit the host's CK_ULONG. */
int rpc_get_ulong(struct reader *r, CK_ULONG *v);
/* u32 length (0xffffffff: NULL, *p = NULL, *len = 0) then the bytes.
 * *p points into the input. */
int rpc_get_array(struct reader *r, const uint8_t **p, size_t *len);
/* As rpc_get_array, copied into the arena (NUL-terminated, not counted). */
int rpc_get_array_dup(struct reader *r, struct rpc_arena *a, uint8_t **p,
		      size_t *len, bool *null);

void rpc_put_ulong(struct buf *b, CK_ULONG v);
/* p == NULL writes the NULL marker. */
void rpc_put_array(struct buf *b, const void *p, size_t len);

#endif
