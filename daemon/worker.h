/* The daemon's worker threads: RPC requests run here, off the loop thread.
 *
 * An elastic pool: a job goes to an idle thread, or to a new one when none
 * is idle, so a request that blocks (a slow card operation, a future
 * blocking C_WaitForSlotEvent) never holds up another. Threads that find
 * more than `max_idle` others idle exit. How many jobs may run at once is
 * bounded by the callers (connections x in-flight limit), not here.
 *
 * One process-wide pool, like the front end: worker_pool_start() before the
 * first connection, worker_pool_stop() after the last one closed. */
#ifndef TOKEND_WORKER_H
#define TOKEND_WORKER_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*worker_fn)(void *arg);

int worker_pool_start(size_t max_idle);
/* Waits up to timeout_ms for every job to end and every thread to exit.
 * Returns false when some job is still running then (the pool is left as
 * it is: do not tear down what the jobs use). */
bool worker_pool_stop(unsigned timeout_ms);

/* Runs fn(arg) on a worker thread. Returns 0, or TK_ERR_NOMEM /
 * TK_ERR_BUSY (no thread could be made, or the pool is stopping); then fn
 * is not called. Any thread. */
int worker_submit(worker_fn fn, void *arg);

#endif
