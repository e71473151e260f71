/* PKCS#11 call traces: one line per call with its decoded arguments (names
 * from one table per call, templates with attribute names and values,
 * mechanisms with their parameters), the result and the time it took, as
 * aligned text or one JSON object. Shared by the daemon (`tokenctl trace`,
 * arguments taken from the decoded RPC message) and the in-process module
 * (TOKEND_TRACE=FILE, arguments from the call). The arguments follow the
 * p11-kit RPC signature of the call (rpc/rpc_calls.c), so both sides name
 * them alike.
 *
 * Never written: PINs (C_Login, C_LoginUser, C_InitPIN, C_SetPIN,
 * C_InitToken), decrypted and to-be-encrypted data, random bytes, wrapped
 * key blobs, and the secret attributes of a template (CKA_VALUE unless the
 * template says it is a certificate, public key or data object,
 * CKA_PRIVATE_EXPONENT, the CRT primes and exponents): each shows as
 * "<hidden, N bytes>". */
#ifndef TOKEND_TRACE_H
#define TOKEND_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

struct buf;

enum trace_kind {
	TRACE_ULONG,   /* u */
	TRACE_BYTE,    /* u */
	TRACE_BYTES,   /* p, u bytes; p NULL: the length only */
	TRACE_ULONGS,  /* p (CK_ULONG[]), u of them; p NULL: the count only */
	TRACE_STRING,  /* p, u bytes (space padded or not) */
	TRACE_ATTRS,   /* p (CK_ATTRIBUTE[]), u of them */
	TRACE_ROOMS,   /* a template to be filled: types and room only */
	TRACE_MECH,    /* p (CK_MECHANISM *), NULL: none */
	TRACE_ROOM,    /* u: the room of an output buffer (0: none) */
	TRACE_VERSION, /* u: major << 8 | minor */
};

struct trace_arg {
	enum trace_kind kind;
	CK_ULONG u;
	const void *p;
};

struct trace_call {
	const char *name; /* "C_Sign" */
	/* Who made the call, text ("conn 3 export ssh") and JSON members
	 * without braces ("\"conn\":3,..."); NULL: none. */
	const char *who;
	const char *who_json;
	const struct trace_arg *in;
	size_t nin;
	const struct trace_arg *out; /* only when rv is CKR_OK */
	size_t nout;
	CK_RV rv;
	uint64_t ns; /* how long it took */
};

/* Appends one line ending in "\n". */
void trace_format(struct buf *b, bool json, const struct trace_call *c);

/* CLOCK_MONOTONIC in ns, for the call's duration. */
uint64_t trace_now(void);

/* ---- trace_module.c: the in-process module's TOKEND_TRACE=FILE ---- */

/* The file's descriptor, -1 when not tracing: one branch per call. */
extern int trace_module_fd;
/* Opens $TOKEND_TRACE (O_APPEND|O_CLOEXEC, created 0600) once; later
 * calls do nothing. */
void trace_module_open(void);
/* Formats and appends one call's line (one write(2), so lines of threads
 * and processes sharing the file do not mix). */
void trace_module_call(const char *name, const struct trace_arg *in, size_t nin,
		       const struct trace_arg *out, size_t nout, CK_RV rv,
		       uint64_t ns);

#endif
