/* tokend-module-helper's core: one PKCS#11 module behind the p11-kit RPC
 * codec. helper_handle() turns one request body into one reply body by
 * calling the module's function list; it does no I/O, so the process glue
 * (helper_main.c) and the tests can drive it alike.
 *
 * Replies carry only what fits the buffers the helper gave the module: a
 * module that reports more bytes, handles or attribute bytes than it was
 * given room for gets CKR_DEVICE_ERROR instead of an over-read. */
#ifndef TOKEND_MODULE_HELPER_H
#define TOKEND_MODULE_HELPER_H

#include <pthread.h>
#include <stdbool.h>

#include "buf.h"
#include "rpc_msg.h"

/* Bytes of output the helper hands the module for one buffer. */
#define HELPER_MAX_OUT ((size_t)1 << 20)
/* Handles one C_FindObjects returns at most. */
#define HELPER_FIND_MAX 1024

struct helper {
	CK_FUNCTION_LIST_PTR fl;
	struct rpc_codec codec;
	size_t max_out;
	size_t workers; /* threads that may call the module at once */
	pthread_mutex_t lock;
	/* under lock: */
	bool initialized;
	bool threaded;  /* the module took CKF_OS_LOCKING_OK */
	size_t blocked; /* blocking C_WaitForSlotEvent calls under way */
};

/* One request being served. */
struct hcall {
	struct helper *h;
	struct rpc_message req;
	struct rpc_arg out[RPC_MAX_ARGS];
	size_t nout;
};

void helper_init(struct helper *h, CK_FUNCTION_LIST_PTR fl, size_t workers);
void helper_fini(struct helper *h);

/* Decodes the request body, calls the module, appends the reply body to
 * resp (an error reply for a module's error). Returns 0, or a negative
 * TK_ERR_* when the request is malformed (the peer is broken: close). */
int helper_handle(struct helper *h, const uint8_t *req, size_t len,
		  struct buf *resp);

/* Whether calls may run concurrently now (after a C_Initialize that took
 * CKF_OS_LOCKING_OK). */
bool helper_threaded(struct helper *h);

/* helper_call.c: runs c->req against the module; CKR_OK when c->out is the
 * reply, else the CK_RV to send as an error reply. */
CK_RV helper_dispatch(struct hcall *c);

#endif
