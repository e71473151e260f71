/* Per-peer back-off for logins: a peer (uid) whose logins keep failing
 * waits a bounded, growing time before its next login runs; other peers
 * are not slowed, and a right PIN is never refused, only delayed.
 *
 * After n consecutive failures the next login of that peer may start
 * BACKOFF_BASE_MS << (n - 1) after the last failure, at most BACKOFF_MAX_MS;
 * a success forgets the peer. Thread-safe; a fixed table (oldest entry
 * reused), so a flood of uids cannot grow it. */
#ifndef TOKEND_BACKOFF_H
#define TOKEND_BACKOFF_H

#include <stdbool.h>
#include <sys/types.h>

#define BACKOFF_BASE_MS 250u
#define BACKOFF_MAX_MS 10000u
#define BACKOFF_PEERS 256

/* Milliseconds this peer's next login must still wait; 0: may run now. */
unsigned backoff_delay_ms(uid_t uid);
/* The outcome of a login that ran: failed for a wrong PIN (or a refusal
 * that stands for one), false for a success. */
void backoff_record(uid_t uid, bool failed);
/* Forgets every peer (tests). */
void backoff_reset(void);

#endif
