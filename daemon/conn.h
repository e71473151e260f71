/* One client connection on an export. It is one PKCS#11 application: the
 * RPC server hangs its per-connection state (the front end's struct app,
 * in-flight requests) on `server` and releases all of it in conn_close().
 *
 * Lifetime: created by conn_accept() on the loop thread, listed on its
 * export, closed by conn_close() on the loop thread — when the peer hangs
 * up, when its export is removed at reload, or at shutdown. Worker threads
 * bracket every request with conn_work_begin()/conn_work_end(); conn_close()
 * waits until no request is in flight, so a request never outlives its
 * connection. A worker that wants the connection closed asks the loop
 * thread with conn_close_later(). */
#ifndef TOKEND_CONN_H
#define TOKEND_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "export.h"

struct loop_watch;

struct conn {
	uint64_t id;                 /* unique in this process, for logs */
	int fd;                      /* non-blocking, close-on-exec */
	struct export *export;       /* owner; outlives the connection */
	struct export_conf *conf;    /* settings at accept time (a reference) */
	struct config_limits limits; /* limits at accept time */
	struct peer peer;
	struct loop_watch *watch;
	struct conn *prev, *next; /* the export's list (loop thread) */

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t idle;  /* signalled when inflight drops to 0 */
	unsigned inflight;
	bool closing;
	bool close_queued;

	void *server; /* the RPC server's per-connection state */
};

/* Takes fd (closed on failure) from an accepted, allowed peer: counts it
 * against the export's connection limit, registers it in the event loop and
 * starts serving. Returns 0 or a TK_ERR_*. Loop thread. */
int conn_accept(struct export *ex, int fd, const struct peer *peer);

/* Stops serving, waits for in-flight work, releases everything the client
 * owned and frees; nulls *p. Loop thread. */
void conn_close(struct conn **p);
/* From a worker, between conn_work_begin() and conn_work_end(): have the
 * loop thread close c soon (after the worker's conn_work_end()). */
void conn_close_later(struct conn *c);

/* A worker starts a request; false when the connection is closing (then
 * do not start, and do not call conn_work_end). */
bool conn_work_begin(struct conn *c);
void conn_work_end(struct conn *c);

#endif
