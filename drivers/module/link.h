/* The link from tokend to one PKCS#11 module's helper process
 * (tokend-module-helper): spawns it (socketpair, fork, exec, the module's
 * environment), initialises the module, carries PKCS#11 calls as p11-kit RPC
 * messages with several in flight at once, and watches it. A helper that
 * dies, hangs past the call timeout or answers garbage is killed, reaped and
 * restarted after a back-off (backoff_ms, doubling up to backoff_max_ms while
 * it keeps failing); every start is a new generation, so handles from an
 * older one are known to be stale.
 *
 * Threads: mlink_call() may be called from any number of threads. The link
 * runs one thread of its own (it supervises the helper; the callers read
 * the replies);
 * on_state is called from it, with no lock held. */
#ifndef TOKEND_MODULE_LINK_H
#define TOKEND_MODULE_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc_msg.h"

#define MLINK_DEFAULT_TIMEOUT_MS 60000u
#define MLINK_DEFAULT_BACKOFF_MS 1000u
#define MLINK_DEFAULT_BACKOFF_MAX_MS 60000u
#define MLINK_DEFAULT_INFLIGHT 64u

struct mlink;

/* Why a call got no answer from the module. */
enum mlink_fail {
	MLINK_OK = 0,
	MLINK_DOWN,     /* no helper up (starting or waiting to restart) */
	MLINK_DIED,     /* the helper died with the call in flight */
	MLINK_TIMEOUT,  /* no answer in time: the helper was killed */
	MLINK_PROTOCOL, /* a malformed answer: the helper was killed */
	MLINK_LOCAL,    /* the request could not be encoded or sent */
};

struct mlink_config {
	const char *module; /* path of the PKCS#11 module */
	/* The helper executable; NULL: tokend-module-helper in the directory
	 * of the running binary (/proc/self/exe), in the build tree and when
	 * installed. */
	const char *helper;
	/* "NAME=VALUE" strings set in the helper's environment on top of
	 * tokend's (NULL-terminated; may be NULL). */
	const char *const *env;
	/* C_Initialize's pReserved string (NSS-style modules), or NULL. */
	const char *init_reserved;
	unsigned timeout_ms;     /* per call; 0: 60 s. C_WaitForSlotEvent:
				    never */
	unsigned backoff_ms;     /* first restart delay; 0: 1 s */
	unsigned backoff_max_ms; /* 0: 60 s */
	unsigned max_inflight;   /* calls in flight at once; 0: 64 */
	unsigned workers;        /* helper threads; 0: the helper's default */
	/* The helper came up (module initialised) as generation gen, or went
	 * down (up false; every handle of gen is gone). */
	void (*on_state)(void *ctx, uint64_t gen, bool up);
	void *ctx;
};

/* The answer to one call. */
struct mlink_reply {
	uint64_t gen;         /* the generation the call went to */
	enum mlink_fail fail; /* MLINK_OK when the module answered */
	/* The module's CK_RV: an error reply's, or CKR_OK with msg holding
	 * the response's arguments. C_GetAttributeValue's response travels
	 * with its own CK_RV (CKR_ATTRIBUTE_SENSITIVE ...): rv is that one
	 * and msg is filled too. */
	CK_RV rv;
	struct rpc_message msg;
};

struct mlink_stats {
	bool up;
	uint64_t gen;      /* current (or last) generation, 0 before any */
	pid_t pid;         /* the helper's, 0 when none */
	uint64_t starts;   /* helpers that came up */
	uint64_t deaths;   /* helpers that went down, for any reason */
	uint64_t timeouts; /* calls that timed out (helper killed) */
	uint64_t protocol; /* malformed answers (helper killed) */
	/* How the last helper ended: "killed by signal 9", "exited with
	 * status 1", "exited"; "" before any did. */
	char last_exit[48];
};

/* Checks the configuration and the helper's presence, then starts the
 * link's thread, which spawns the helper. Returns 0 or a negative TK_ERR_*
 * (TK_ERR_NOT_FOUND: no helper executable). */
int mlink_new(const struct mlink_config *cfg, struct mlink **out);
/* C_Finalize for a helper that is up, then stops it and the thread. */
void mlink_free(struct mlink **l);

/* Waits until a helper of a generation after `after` is up (0: any); 0
 * with *gen, or TK_ERR_TRANSPORT when none came up within timeout_ms. */
int mlink_wait_up(struct mlink *l, unsigned timeout_ms, uint64_t after,
		  uint64_t *gen);

/* Sends one call (args as the request signature in rpc_calls.h lists them)
 * and waits for its answer. pmech: the request's mechanism, for a 'P' in
 * the response (C_DeriveKey2). Returns 0 when the module answered (r->rv),
 * TK_ERR_TRANSPORT when it could not (r->fail says why), TK_ERR_ARG.
 * Free r with mlink_reply_clear() in every case. C_Initialize and
 * C_Finalize are the link's own: the module is initialised at every start. */
int mlink_call(struct mlink *l, uint32_t call_id, const struct rpc_arg *args,
	       size_t nargs, CK_MECHANISM_TYPE pmech, struct mlink_reply *r);
/* The same, sent only to generation gen (0: any): handles of an older
 * helper never reach a newer one, where they could name something else.
 * MLINK_DOWN when gen is not the one up. */
int mlink_call_gen(struct mlink *l, uint64_t gen, uint32_t call_id,
		   const struct rpc_arg *args, size_t nargs,
		   CK_MECHANISM_TYPE pmech, struct mlink_reply *r);
/* Two calls in one round trip, e.g. an operation's init and the call: the
 * helper runs the second right after the first, on the same thread, and
 * only when the first answered CKR_OK (else r2->rv is
 * CKR_OPERATION_NOT_INITIALIZED). Returns as mlink_call_gen(), 0 when the
 * module answered both. */
int mlink_call2_gen(struct mlink *l, uint64_t gen, uint32_t id1,
		    const struct rpc_arg *a1, size_t n1, struct mlink_reply *r1,
		    uint32_t id2, const struct rpc_arg *a2, size_t n2,
		    struct mlink_reply *r2);
void mlink_reply_clear(struct mlink_reply *r);

/* Whether generation gen is up and its module took CKF_OS_LOCKING_OK:
 * calls on different sessions then run in the helper at once. */
bool mlink_threaded(struct mlink *l, uint64_t gen);
/* Kills the helper of generation gen (if it is still the current one), e.g.
 * after the module broke a promise the driver checks. */
void mlink_kill(struct mlink *l, uint64_t gen);
void mlink_stats(struct mlink *l, struct mlink_stats *st);

/* ---- link_reply.c: reply decoding (pure, fuzzed) ---- */

/* Decodes the reply body to a request call_id: an error reply (rv) or the
 * call's response. TK_ERR_INVALID for anything else, r->msg left empty. */
int mlink_reply_decode(const struct rpc_codec *c, uint32_t call_id,
		       const uint8_t *body, size_t len, CK_MECHANISM_TYPE pmech,
		       struct mlink_reply *r);

/* p11-kit's client rules for an 'ay' / 'au' output argument of a reply:
 * copies into out (room *len, NULL for a size query) and sets *len, or
 * answers CKR_BUFFER_TOO_SMALL with *len the size needed. */
CK_RV mlink_out_bytes(const struct rpc_arg *a, CK_BYTE_PTR out, CK_ULONG *len);
CK_RV mlink_out_ulongs(const struct rpc_arg *a, CK_ULONG_PTR out,
		       CK_ULONG *count);

/* ---- link_spawn.c ---- */

/* tokend-module-helper beside /proc/self/exe; 0 or TK_ERR_NOT_FOUND. */
int mlink_helper_path(char *out, size_t size);

#endif
