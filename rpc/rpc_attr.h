/* CK_ATTRIBUTE on the p11-kit wire. A value travels as the type's own
 * encoding (p11-kit's map): booleans as one byte, CK_ULONG as u64, dates and
 * everything else as byte arrays, templates (CKA_WRAP_TEMPLATE...) as nested
 * attribute arrays, CKA_ALLOWED_MECHANISMS as u64 arrays. Decoded values are
 * host-native (CK_BBOOL, CK_ULONG, CK_DATE, CK_ATTRIBUTE[] ...) in the arena,
 * with ulValueLen the host size. */
#ifndef TOKEND_RPC_ATTR_H
#define TOKEND_RPC_ATTR_H

#include "rpc_wire.h"

enum rpc_attr_kind {
	RPC_ATTR_BYTE,
	RPC_ATTR_ULONG,
	RPC_ATTR_TEMPLATE,
	RPC_ATTR_MECH_ARRAY,
	RPC_ATTR_DATE,
	RPC_ATTR_BYTES,
};

enum rpc_attr_kind rpc_attr_kind(CK_ATTRIBUTE_TYPE type);

/* 'aA': u32 count, then per attribute u32 type, u8 valid, [u32 length,
 * value]. Invalid attributes decode as pValue NULL, ulValueLen
 * CK_UNAVAILABLE_INFORMATION; a zero length as pValue NULL, ulValueLen 0. */
int rpc_attrs_decode(struct reader *r, struct rpc_dctx *d, CK_ATTRIBUTE **out,
		     CK_ULONG *count);
int rpc_attrs_encode(struct buf *b, const CK_ATTRIBUTE *attrs, CK_ULONG count);

/* 'fA' (C_GetAttributeValue's request): u32 count, per attribute u32 type and
 * u32 buffer length (0: NULL buffer). Clients that offered protocol 1 or more
 * follow a template attribute that has a buffer with the nested template.
 * Decoded as pValue NULL (or a nested CK_ATTRIBUTE array for templates) and
 * ulValueLen the length the client has room for. */
int rpc_attr_buffer_decode(struct reader *r, struct rpc_dctx *d,
			   CK_ATTRIBUTE **out, CK_ULONG *count);
int rpc_attr_buffer_encode(struct buf *b, uint8_t offered,
			   const CK_ATTRIBUTE *attrs, CK_ULONG count);

#endif
