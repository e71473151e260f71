/* One client connection on an export. It is one PKCS#11 application: it
 * owns an RPC server (rpc_server.h) with the front end's struct app, i.e.
 * its sessions and login state, and releases all of it when it ends.
 *
 * The wire: the client's one-byte version offer, our one-byte answer, then
 * frames (rpc_frame.h). The loop thread reads and splits frames; each
 * request runs on a worker thread (worker.h), which writes the reply frame
 * with the request's call code as soon as it is done, so replies may leave
 * in completion order (p11-kit's client matches them by call code) and a
 * slow call does not hold up the others. Replies are written whole, one at
 * a time (a per-connection write lock).
 *
 * Requests that would hold a thread for long are parked on the loop
 * thread instead (conn_park.c): a blocking C_WaitForSlotEvent runs with
 * CKF_DONT_BLOCK and, without an event, waits in a list until the slots
 * change; a login of a peer in back-off (backoff.h) waits on a timer.
 *
 * Limits: a connection must complete the handshake and send C_Initialize
 * within handshake-timeout seconds. A peer (uid) with
 * max-connections-per-peer connections over all exports has its next ones
 * accepted and held unread (not watched, no handshake) until one of its
 * connections ends (conn_peer.c). The per-export cap is the export's: it
 * stops accepting while full (export.c).
 *
 * Lifetime: created by conn_accept() on the loop thread, listed on its
 * export. conn_close() (loop thread) stops reading, shuts the socket
 * down and drops the parked requests; requests queued for a worker and
 * not started are skipped. The connection is finished — taken off the
 * export, fd closed, then its RPC server freed on a worker (sessions
 * closed, logged out) — as soon as no request is in flight: at once, or
 * when the last worker is done. conn_close_wait() does the same and waits
 * for the workers (export removal, shutdown), still running the queued
 * requests; past its deadline the connection is abandoned to its workers
 * with its socket closed. A worker that finds the connection broken calls
 * conn_abort(). */
#ifndef TOKEND_CONN_H
#define TOKEND_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "peer.h"

struct export;
struct loop;
struct loop_timer;
struct loop_watch;
struct rpc_server;
struct conn_peer;
struct conn_req;

struct conn {
	uint64_t id;           /* unique in this process, for logs */
	int fd;                /* non-blocking, close-on-exec */
	struct export *export; /* owner; NULL once detached from it */
	/* Takes c off its owner's list (conn_owner.remove). */
	void (*owner_remove)(struct export *ex, struct conn *c);
	struct loop *loop;           /* the export's loop */
	struct export_conf *conf;    /* settings at accept time (a reference) */
	struct config_limits limits; /* limits at accept time */
	struct peer peer;
	struct loop_watch *watch;
	struct conn *prev, *next; /* the export's list (loop thread) */

	/* Loop thread only. */
	struct conn_peer *pr;        /* its peer's count (conn_peer.c) */
	bool held;                   /* over the peer's cap: not read yet */
	struct conn *held_next;      /* the peer's held ones, oldest first */
	struct loop_timer *hs_timer; /* handshake + C_Initialize deadline */
	bool initialized;            /* C_Initialize received */
	struct conn_req *parked;     /* parked requests (conn_park.c) */
	unsigned nparked;
	unsigned wait_epoch; /* moves at C_Finalize: parked waits end */
	/* the bytes read and not yet handed out */
	bool handshaken;
	uint8_t offered; /* the client's version byte */
	uint8_t *in;
	size_t in_len, in_cap;

	pthread_mutex_t wlock; /* one reply at a time on fd */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t idle;  /* signalled when inflight drops to 0 */
	unsigned inflight;    /* requests handed to workers, not done */
	unsigned posts;       /* finishes queued on the loop thread */
	bool closing;         /* no new requests; socket shut down */
	bool aborted;         /* a worker found it broken */
	bool waited;   /* a closer waits for idle: workers post nothing */
	bool finished; /* off the list, fd closed (loop thread) */
	bool released; /* server freed: sessions closed, logged out */

	struct rpc_server *server; /* after the handshake */
};

/* Takes fd (closed on failure) from an accepted, allowed peer: lists it on
 * the export, then registers it in the event loop and starts serving, or
 * holds it when the peer is at its cap. The caller checked the export's
 * cap (export_conn_full). Returns 0 or a TK_ERR_*. Loop thread.
 * (conn_export.c: the export as conn_start()'s owner.) */
int conn_accept(struct export *ex, int fd, const struct peer *peer);

/* What a connection needs from its owner (an export), so conn.c knows no
 * export: where it runs, its settings (referenced, not taken) and limits,
 * and how to be listed on and taken off the owner's list (loop thread). */
struct conn_owner {
	struct export *export;
	struct loop *loop;
	struct export_conf *conf;
	const struct config_limits *limits;
	void (*add)(struct export *ex, struct conn *c);
	void (*remove)(struct export *ex, struct conn *c);
};

/* conn_accept() for any owner. */
int conn_start(const struct conn_owner *o, int fd, const struct peer *peer);

struct rpc_trace_call;
/* conn_trace.c: the rpc_policy trace callback (ctx: the connection). */
void conn_trace_call(void *ctx, const struct rpc_trace_call *tc);

/* Stops serving; the rest happens when no request is in flight (see
 * above). Nulls *p. Loop thread. */
void conn_close(struct conn **p);
/* conn_close() and waits for the requests in flight until deadline
 * (CLOCK_MONOTONIC; NULL: no limit), then finishes and frees. When the
 * deadline passes first the connection is detached from its export and
 * left to its workers, and false is returned. Loop thread. */
bool conn_close_wait(struct conn **p, const struct timespec *deadline);

/* From a worker, between conn_work_begin() and conn_work_end(): the
 * connection is unusable; the loop thread closes it soon. Returns true
 * for the first such call on a connection not closing already (log why
 * then, once). */
bool conn_abort(struct conn *c);

/* A request starts; false when the connection is closing (then do not
 * start, and do not call conn_work_end). */
bool conn_work_begin(struct conn *c);
void conn_work_end(struct conn *c);

/* A reload changed the export's settings: closes (and logs) its
 * connections whose peer the new settings no longer allow. Loop thread. */
void conn_revoke_refused(struct export *ex);

/* The slot watcher that wakes parked C_WaitForSlotEvent calls: a thread
 * that exists from conn_park_start() to conn_park_stop() and watches only
 * while some wait is parked. Start with the loop, stop before
 * frontend_fini(). */
int conn_park_start(struct loop *loop);
void conn_park_stop(void);

/* How many connections were left to running workers by
 * conn_close_wait(): the front end must not be torn down then. */
unsigned conn_abandoned(void);

/* conn_policy.c, for conn.c: makes c->server for a client that offered
 * protocol version `offered`, under c->conf. Returns 0 or a TK_ERR_*. */
int conn_server_new(struct conn *c, uint8_t offered);

struct rpc_frame;
/* For conn.c and conn_fast.c: writes a whole reply under c->wlock, waiting
 * for room (a reply that cannot be written for 30 s means the client stopped
 * reading: TK_ERR_BUSY); 0 or a TK_ERR_*. */
int conn_send_all(struct conn *c, const uint8_t *p, size_t len);
void conn_put_u32be(uint8_t *p, uint32_t v);

/* conn_fast.c, for conn.c (loop thread): answers a frame at once when it
 * needs no card and no busy lock (see rpc_server_try). Returns 0 (answered,
 * or its reply handed to a worker), TK_ERR_WOULD_BLOCK (submit it to a
 * worker as usual), or another TK_ERR_* with *why set: close. */
int conn_fast(struct conn *c, const struct rpc_frame *f, const char **why);

#endif
