/* The daemon's event loop: epoll over file descriptors, run by one thread
 * (the loop thread). Callbacks run on that thread. A watch may be removed
 * from any callback, including its own; its memory is released only after
 * the current batch of events, so a pending event for it is skipped safely.
 *
 * Other threads (RPC workers) talk to the loop only through loop_post(),
 * which queues a function to run on the loop thread and wakes it.
 *
 * Timers (loop thread only): one-shot, millisecond resolution on
 * CLOCK_MONOTONIC, kept in a list sorted by deadline; epoll_wait sleeps
 * until the first one is due. */
#ifndef TOKEND_LOOP_H
#define TOKEND_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_watch;

/* events: EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR as reported. */
typedef void (*loop_fn)(struct loop *loop, int fd, uint32_t events, void *ctx);
typedef void (*loop_post_fn)(struct loop *loop, void *ctx);
struct loop_timer;
typedef void (*loop_timer_fn)(struct loop *loop, void *ctx);

int loop_new(struct loop **out);
/* Releases every remaining watch (their fds are not closed) and queued
 * posts (not run). */
void loop_free(struct loop **p);

/* Watches fd for events (EPOLLIN, EPOLLOUT). The fd stays the caller's. */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *ctx,
	     struct loop_watch **out);
int loop_modify(struct loop *loop, struct loop_watch *w, uint32_t events);
/* Stops watching and nulls *w. Call before closing the fd. */
void loop_remove(struct loop *loop, struct loop_watch **w);

/* Thread-safe: fn(loop, ctx) will run on the loop thread. Returns 0 or
 * TK_ERR_NOMEM. */
int loop_post(struct loop *loop, loop_post_fn fn, void *ctx);

/* Calls fn(loop, ctx) once, ms milliseconds from now, unless cancelled
 * first. *out is the timer's handle until it fires (nulled by nobody: a
 * fired timer's handle is dead, so the callback should forget it first).
 * Loop thread. Returns 0 or TK_ERR_NOMEM. */
int loop_timer_add(struct loop *loop, unsigned ms, loop_timer_fn fn, void *ctx,
		   struct loop_timer **out);
/* Cancels a timer that has not fired and nulls *t; NULL is fine. */
void loop_timer_cancel(struct loop *loop, struct loop_timer **t);

/* Runs the queued posts now, on the calling loop thread (after the loop
 * stopped, so none is lost). */
void loop_flush_posts(struct loop *loop);

/* Runs until loop_quit(); returns the code given to it. */
int loop_run(struct loop *loop);
void loop_quit(struct loop *loop, int code);

#endif
