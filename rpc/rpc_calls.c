#include "rpc_calls.h"

#include <stddef.h>

/* One row: the call, the protocol version that brought it, its request and
 * response signatures, its write class and token_arg, its audit name. */
#define CALL(id, since, req, resp, wr, targ, op)                               \
	[RPC_##id] = { RPC_##id, since, #id, req, resp, wr, targ, op }
/* Changes no token; audited (if at all) under its own name. */
#define C(id, since, req, resp)                                                \
	CALL(id, since, req, resp, RPC_WRITE_NONE, -1, #id)
/* Uses a key: audited as the operation op. */
#define K(id, req, resp, op) CALL(id, 0, req, resp, RPC_WRITE_NONE, -1, op)
/* Writes: always (token_arg -1) or when template token_arg makes a token
 * object. */
#define W(id, since, req, resp, write, token_arg)                              \
	CALL(id, since, req, resp, RPC_WRITE_##write, token_arg, #id)

static const struct rpc_call calls[RPC_CALL_COUNT] = {
	[RPC_CALL_ERROR] = { RPC_CALL_ERROR, 0, "ERROR", NULL, "u",
			     RPC_WRITE_NONE, -1, "ERROR" },
	C(C_Initialize, 0, "ayyay", ""),
	C(C_Finalize, 0, "", ""),
	C(C_GetInfo, 0, "", "vsusv"),
	C(C_GetSlotList, 0, "yfu", "au"),
	C(C_GetSlotInfo, 0, "u", "ssuvv"),
	C(C_GetTokenInfo, 0, "u", "ssssuuuuuuuuuuuvvs"),
	C(C_GetMechanismList, 0, "ufu", "au"),
	C(C_GetMechanismInfo, 0, "uu", "uuu"),
	W(C_InitToken, 0, "uayz", "", INIT_TOKEN, -1),
	C(C_OpenSession, 0, "uu", "u"),
	C(C_CloseSession, 0, "u", ""),
	C(C_CloseAllSessions, 0, "u", ""),
	C(C_GetSessionInfo, 0, "u", "uuuu"),
	W(C_InitPIN, 0, "uay", "", INIT_PIN, -1),
	W(C_SetPIN, 0, "uayay", "", SET_PIN, -1),
	C(C_GetOperationState, 0, "ufy", "ay"),
	C(C_SetOperationState, 0, "uayuu", ""),
	C(C_Login, 0, "uuay", ""),
	C(C_Logout, 0, "u", ""),
	W(C_CreateObject, 0, "uaA", "u", CREATE_OBJECT, 1),
	W(C_CopyObject, 0, "uuaA", "u", CREATE_OBJECT, 2),
	W(C_DestroyObject, 0, "uu", "", DESTROY_OBJECT, -1),
	C(C_GetObjectSize, 0, "uu", "u"),
	C(C_GetAttributeValue, 0, "uufA", "aAu"),
	W(C_SetAttributeValue, 0, "uuaA", "", SET_ATTRIBUTE, -1),
	C(C_FindObjectsInit, 0, "uaA", ""),
	C(C_FindObjects, 0, "ufu", "au"),
	C(C_FindObjectsFinal, 0, "u", ""),
	C(C_EncryptInit, 0, "uMu", ""),
	C(C_Encrypt, 0, "uayfy", "ay"),
	C(C_EncryptUpdate, 0, "uayfy", "ay"),
	C(C_EncryptFinal, 0, "ufy", "ay"),
	K(C_DecryptInit, "uMu", "", "decrypt"),
	K(C_Decrypt, "uayfy", "ay", "decrypt"),
	K(C_DecryptUpdate, "uayfy", "ay", "decrypt"),
	K(C_DecryptFinal, "ufy", "ay", "decrypt"),
	C(C_DigestInit, 0, "uM", ""),
	C(C_Digest, 0, "uayfy", "ay"),
	C(C_DigestUpdate, 0, "uay", ""),
	C(C_DigestKey, 0, "uu", ""),
	C(C_DigestFinal, 0, "ufy", "ay"),
	K(C_SignInit, "uMu", "", "sign"),
	K(C_Sign, "uayfy", "ay", "sign"),
	K(C_SignUpdate, "uay", "", "sign"),
	K(C_SignFinal, "ufy", "ay", "sign"),
	K(C_SignRecoverInit, "uMu", "", "sign"),
	K(C_SignRecover, "uayfy", "ay", "sign"),
	C(C_VerifyInit, 0, "uMu", ""),
	C(C_Verify, 0, "uayay", ""),
	C(C_VerifyUpdate, 0, "uay", ""),
	C(C_VerifyFinal, 0, "uay", ""),
	C(C_VerifyRecoverInit, 0, "uMu", ""),
	C(C_VerifyRecover, 0, "uayfy", "ay"),
	C(C_DigestEncryptUpdate, 0, "uayfy", "ay"),
	K(C_DecryptDigestUpdate, "uayfy", "ay", "decrypt"),
	K(C_SignEncryptUpdate, "uayfy", "ay", "sign"),
	K(C_DecryptVerifyUpdate, "uayfy", "ay", "decrypt"),
	W(C_GenerateKey, 0, "uMaA", "u", GENERATE_KEY, 2),
	W(C_GenerateKeyPair, 0, "uMaAaA", "uu", GENERATE_KEY, -1),
	C(C_WrapKey, 0, "uMuufy", "ay"),
	CALL(C_UnwrapKey, 0, "uMuayaA", "u", RPC_WRITE_CREATE_OBJECT, 4,
	     "unwrap"),
	CALL(C_DeriveKey, 0, "uMuaA", "u", RPC_WRITE_CREATE_OBJECT, 3,
	     "derive"),
	C(C_SeedRandom, 0, "uay", ""),
	C(C_GenerateRandom, 0, "ufy", "ay"),
	C(C_WaitForSlotEvent, 0, "u", "u"),
	C(C_LoginUser, 0, "uuayay", ""),
	C(C_SessionCancel, 0, "uu", ""),
	C(C_MessageEncryptInit, 0, "uMu", ""),
	C(C_EncryptMessage, 0, "uayayayfy", "ay"),
	C(C_EncryptMessageBegin, 0, "uayay", ""),
	C(C_EncryptMessageNext, 0, "uayayfyu", "ay"),
	C(C_MessageEncryptFinal, 0, "u", ""),
	C(C_MessageDecryptInit, 0, "uMu", ""),
	K(C_DecryptMessage, "uayayayfy", "ay", "decrypt"),
	K(C_DecryptMessageBegin, "uayay", "", "decrypt"),
	K(C_DecryptMessageNext, "uayayfyu", "ay", "decrypt"),
	C(C_MessageDecryptFinal, 0, "u", ""),
	C(C_MessageSignInit, 0, "uMu", ""),
	K(C_SignMessage, "uayayfy", "ay", "sign"),
	K(C_SignMessageBegin, "uay", "", "sign"),
	K(C_SignMessageNext, "uayayyfy", "ay", "sign"),
	C(C_MessageSignFinal, 0, "u", ""),
	C(C_MessageVerifyInit, 0, "uMu", ""),
	C(C_VerifyMessage, 0, "uayayay", ""),
	C(C_VerifyMessageBegin, 0, "uay", ""),
	C(C_VerifyMessageNext, 0, "uayayay", ""),
	C(C_MessageVerifyFinal, 0, "u", ""),
	W(C_InitToken2, 1, "uays", "", INIT_TOKEN, -1),
	CALL(C_DeriveKey2, 2, "uMuaA", "uPu", RPC_WRITE_CREATE_OBJECT, 3,
	     "derive"),
};

const struct rpc_call *rpc_call_lookup(uint32_t id)
{
	if (id >= RPC_CALL_COUNT)
		return NULL;
	return &calls[id];
}
