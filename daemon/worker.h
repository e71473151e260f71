/* The daemon's worker threads: RPC requests run here, off the loop thread.
 *
 * A bounded pool: a job goes to an idle thread, or to a new one while
 * fewer than `max_threads` exist; beyond that it waits its turn in the
 * queue (never refused). Threads that find more than `max_idle` others
 * idle exit. Jobs that would block for long (C_WaitForSlotEvent, a login
 * held back) are not run here but parked by the connection layer, so the
 * cap only ever delays work.
 *
 * Fairness: a job may carry a share key (the peer's uid). Jobs of one key
 * run on at most `max_threads / 2` threads at once (at least 1), so one
 * peer flooding the queue leaves half the pool to the others; queued jobs
 * of a key at its share are passed over, not dropped. Key-less jobs
 * (releases) only count against the cap.
 *
 * One process-wide pool, like the front end: worker_pool_start() before the
 * first connection, worker_pool_stop() after the last one closed. */
#ifndef TOKEND_WORKER_H
#define TOKEND_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*worker_fn)(void *arg);

#define WORKER_NO_KEY UINT64_MAX

int worker_pool_start(size_t max_idle);
/* The thread cap (config max-workers); 0 means no cap. Any time. */
void worker_pool_set_max(size_t max_threads);
/* Waits up to timeout_ms for every job to end and every thread to exit.
 * Returns false when some job is still running then (the pool is left as
 * it is: do not tear down what the jobs use). */
bool worker_pool_stop(unsigned timeout_ms);

/* Runs fn(arg) on a worker thread. Returns 0, or TK_ERR_NOMEM /
 * TK_ERR_BUSY (no memory for the job, no thread at all could be made, or
 * the pool is stopping); then fn is not called. Any thread. */
int worker_submit(worker_fn fn, void *arg);
/* The same, counted against key's share. */
int worker_submit_key(uint64_t key, worker_fn fn, void *arg);

/* Threads alive and jobs waiting for one (tests, status). */
void worker_pool_counts(size_t *threads, size_t *queued);

#endif
