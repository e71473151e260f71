/* CK_MECHANISM on the p11-kit wire: u32 type, then the parameter.
 *
 * Two encodings exist, chosen by the version the client offered:
 *  - v0 (clients offering 0 or 1: p11-kit 0.24 .. 0.25.5): parameterless
 *    mechanisms carry a NULL byte array (u32 0xffffffff); the others carry
 *    their parameter directly in its structured form below.
 *  - v2 (clients offering 2+, p11-kit 0.25.6+, whatever version is agreed):
 *    parameterless mechanisms carry nothing after the type; the others a
 *    presence byte (0: NULL parameter) then the structured parameter.
 * In both, type 0xffffffff is a NULL mechanism (C_*Init cancelling an
 * operation; p11-kit commit 66f1fc7, 0.25 series). Earlier 0.25 clients sent a
 * bare type 0 for it, told apart from CKM_RSA_PKCS_KEY_PAIR_GEN by the NULL
 * array that follows the latter.
 *
 * Structured parameters: RSA PSS (3 x u64), RSA OAEP (3 x u64, array),
 * ECDH1 derive (u64 kdf, shared array, public array), EdDSA (byte, array),
 * AES/DES IVs (16/8-byte array), AES CTR (u64, 16-byte array), AES GCM
 * (IV array, u64 IV bits, AAD array, u64 tag bits), *_MAC_GENERAL (u64),
 * DH PKCS derive (non-empty array). Every other parameter is a byte array. */
#ifndef TOKEND_RPC_MECH_H
#define TOKEND_RPC_MECH_H

#include "rpc_wire.h"

#define RPC_MECH_NULL_TYPE 0xffffffffu

enum rpc_mech_enc {
	RPC_MECH_ENC_V0 = 0,
	RPC_MECH_ENC_V2 = 2,
};

/* PKCS #11 3.0 CK_EDDSA_PARAMS (absent from p11-kit 0.24's header). */
struct rpc_eddsa_params {
	CK_BBOOL phFlag;
	CK_ULONG ulContextDataLen;
	CK_BYTE_PTR pContextData;
};

struct rpc_mech {
	bool is_null;      /* the NULL mechanism pointer */
	CK_MECHANISM mech; /* pParameter: a CK_*_PARAMS in the arena */
};

enum rpc_mech_enc rpc_mech_encoding(uint8_t offered);
/* In p11-kit's list of mechanisms that take no parameter. */
bool rpc_mech_no_params(CK_MECHANISM_TYPE type);

int rpc_mech_decode(struct reader *r, struct rpc_dctx *d, struct rpc_mech *out);
int rpc_mech_encode(struct buf *b, enum rpc_mech_enc enc,
		    const struct rpc_mech *m);

/* 'P' (C_DeriveKey2's response): nothing for parameterless mechanisms, else a
 * presence byte. The IBM mechanisms whose parameters carry output data are
 * not supported (TK_ERR_UNSUPPORTED when present). */
int rpc_mech_update_encode(struct buf *b, const CK_MECHANISM *m);
int rpc_mech_update_decode(struct reader *r, CK_MECHANISM_TYPE type,
			   bool *present);

#endif
