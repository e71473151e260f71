/* Shared by conn.c, conn_park.c and conn_peer.c; nothing else includes it. */
#ifndef TOKEND_CONN_INT_H
#define TOKEND_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* One request frame's body, from the loop thread to a worker (or parked on
 * the loop thread in between). */
struct conn_req {
	struct conn *c;
	uint32_t call_code;
	uint32_t call_id;
	/* A blocking C_WaitForSlotEvent: its flags were changed to
	 * CKF_DONT_BLOCK; "no event" parks it rather than answering. */
	bool wait;
	/* Answer CKR_CRYPTOKI_NOT_INITIALIZED without running (a parked
	 * wait of a connection that sent C_Finalize). */
	bool cancel;
	unsigned epoch;                 /* c->wait_epoch at dispatch */
	uint64_t gen;                   /* slot generation when it last ran */
	struct loop_timer *timer;       /* a login held back */
	struct conn_req *prev, *next;   /* c->parked */
	struct conn_req *gprev, *gnext; /* parked waits, process-wide */
	bool in_waits;
	size_t len;
	uint8_t data[];
};

/* conn.c */
/* Hands q to a worker (counted in flight). False when the connection is
 * closing or no worker could take it: then q is freed. Loop thread. */
bool conn_run(struct conn_req *q);
void conn_req_free(struct conn_req *q);
/* Makes a held (or new) connection a served one: watched, handshake timer
 * started. Returns 0 or a TK_ERR_* (then the caller closes it). */
int conn_activate(struct conn *c);

/* conn_park.c (loop thread) */
/* The slot generation: moves when the watcher saw the slots change. */
uint64_t conn_park_gen(void);
/* Parks a wait that found no event; it runs again when the slots change
 * (at once if they changed since it ran). */
void conn_park_wait(struct conn_req *q);
/* Runs q (a login) once the peer's back-off is over. */
int conn_park_login(struct conn_req *q, unsigned delay_ms);
/* C_Finalize: the connection's parked waits answer
 * CKR_CRYPTOKI_NOT_INITIALIZED. */
void conn_park_finalize(struct conn *c);
/* Closing: drops every parked request unanswered. */
void conn_park_drop(struct conn *c);

/* conn_peer.c (loop thread) */
/* Counts c for its peer; true when it may be served now, false when it
 * is held (then conn_peer_release() promotes it later). */
int conn_peer_add(struct conn *c, bool *held);
/* c ends (or is being closed): uncounted; the peer's oldest held
 * connections are activated while it is under its cap. */
void conn_peer_release(struct conn *c);

#endif
