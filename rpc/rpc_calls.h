/* The p11-kit RPC call table: every call id of p11-kit 0.24-0.26 with its
 * request and response signatures, what it does to a token (for an access
 * policy) and its name in audit lines. One row per call says all of it.
 * Signature tokens: y byte, u CK_ULONG
 * (u64), z string, s space-padded string, v CK_VERSION, ay byte array,
 * au ulong array, aA attribute array, fy/fu/fA output buffers (lengths
 * only), M mechanism, P mechanism-parameter update. */
#ifndef TOKEND_RPC_CALLS_H
#define TOKEND_RPC_CALLS_H

#include <stdint.h>

enum rpc_call_id {
	RPC_CALL_ERROR = 0,
	RPC_C_Initialize,
	RPC_C_Finalize,
	RPC_C_GetInfo,
	RPC_C_GetSlotList,
	RPC_C_GetSlotInfo,
	RPC_C_GetTokenInfo,
	RPC_C_GetMechanismList,
	RPC_C_GetMechanismInfo,
	RPC_C_InitToken,
	RPC_C_OpenSession,
	RPC_C_CloseSession,
	RPC_C_CloseAllSessions,
	RPC_C_GetSessionInfo,
	RPC_C_InitPIN,
	RPC_C_SetPIN,
	RPC_C_GetOperationState,
	RPC_C_SetOperationState,
	RPC_C_Login,
	RPC_C_Logout,
	RPC_C_CreateObject,
	RPC_C_CopyObject,
	RPC_C_DestroyObject,
	RPC_C_GetObjectSize,
	RPC_C_GetAttributeValue,
	RPC_C_SetAttributeValue,
	RPC_C_FindObjectsInit,
	RPC_C_FindObjects,
	RPC_C_FindObjectsFinal,
	RPC_C_EncryptInit,
	RPC_C_Encrypt,
	RPC_C_EncryptUpdate,
	RPC_C_EncryptFinal,
	RPC_C_DecryptInit,
	RPC_C_Decrypt,
	RPC_C_DecryptUpdate,
	RPC_C_DecryptFinal,
	RPC_C_DigestInit,
	RPC_C_Digest,
	RPC_C_DigestUpdate,
	RPC_C_DigestKey,
	RPC_C_DigestFinal,
	RPC_C_SignInit,
	RPC_C_Sign,
	RPC_C_SignUpdate,
	RPC_C_SignFinal,
	RPC_C_SignRecoverInit,
	RPC_C_SignRecover,
	RPC_C_VerifyInit,
	RPC_C_Verify,
	RPC_C_VerifyUpdate,
	RPC_C_VerifyFinal,
	RPC_C_VerifyRecoverInit,
	RPC_C_VerifyRecover,
	RPC_C_DigestEncryptUpdate,
	RPC_C_DecryptDigestUpdate,
	RPC_C_SignEncryptUpdate,
	RPC_C_DecryptVerifyUpdate,
	RPC_C_GenerateKey,
	RPC_C_GenerateKeyPair,
	RPC_C_WrapKey,
	RPC_C_UnwrapKey,
	RPC_C_DeriveKey,
	RPC_C_SeedRandom,
	RPC_C_GenerateRandom,
	RPC_C_WaitForSlotEvent, /* 65 */
	/* PKCS #11 3.0 */
	RPC_C_LoginUser,
	RPC_C_SessionCancel,
	RPC_C_MessageEncryptInit,
	RPC_C_EncryptMessage,
	RPC_C_EncryptMessageBegin,
	RPC_C_EncryptMessageNext,
	RPC_C_MessageEncryptFinal,
	RPC_C_MessageDecryptInit,
	RPC_C_DecryptMessage,
	RPC_C_DecryptMessageBegin,
	RPC_C_DecryptMessageNext,
	RPC_C_MessageDecryptFinal,
	RPC_C_MessageSignInit,
	RPC_C_SignMessage,
	RPC_C_SignMessageBegin,
	RPC_C_SignMessageNext,
	RPC_C_MessageSignFinal,
	RPC_C_MessageVerifyInit,
	RPC_C_VerifyMessage,
	RPC_C_VerifyMessageBegin,
	RPC_C_VerifyMessageNext,
	RPC_C_MessageVerifyFinal, /* 87 */
	RPC_C_InitToken2,         /* 88, protocol 1 */
	RPC_C_DeriveKey2,         /* 89, protocol 2 */
	RPC_CALL_COUNT
};

/* What a call changes on a token: its write class. Reads, and calls that
 * change only session state (C_Login, C_SignInit ...), are RPC_WRITE_NONE.
 * SO login is not here: it depends on an argument, not on the call. */
enum rpc_write {
	RPC_WRITE_NONE = 0,
	RPC_WRITE_INIT_TOKEN,
	RPC_WRITE_INIT_PIN,
	RPC_WRITE_SET_PIN,
	RPC_WRITE_GENERATE_KEY,
	RPC_WRITE_CREATE_OBJECT,
	RPC_WRITE_DESTROY_OBJECT,
	RPC_WRITE_SET_ATTRIBUTE,
	RPC_WRITE_COUNT
};

struct rpc_call {
	uint32_t id;
	uint8_t since; /* lowest protocol version that has it */
	const char *name;
	const char *request; /* NULL for RPC_CALL_ERROR */
	const char *response;
	uint8_t write; /* enum rpc_write */
	/* -1: a call with a write class always writes. Else the index of the
	 * request's 'aA' template: the call writes only when it asks for a
	 * token object (CKA_TOKEN true), see rpc_request_writes(). */
	int8_t token_arg;
	/* The operation in audit lines: "sign", "decrypt", "derive",
	 * "unwrap" for the calls that use a key so; else the call's name. */
	const char *audit;
};

/* NULL for ids out of range. */
const struct rpc_call *rpc_call_lookup(uint32_t id);

#endif
