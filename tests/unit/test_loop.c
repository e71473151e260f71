/* daemon/loop.c: timers fire in deadline order (ties in the order they
 * were added) and not when cancelled; fd watches report readiness and may
 * be removed from their own callback; posts from other threads run on the
 * loop thread; loop_quit's code is loop_run's result. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

static char order[16];
static size_t norder;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void note(struct loop *loop, void *ctx)
{
	(void)loop;
	order[norder++] = *(const char *)ctx;
}

static void quit(struct loop *loop, void *ctx)
{
	note(loop, ctx);
	loop_quit(loop, 7);
}

static void test_timers_in_order(void **state)
{
	struct loop *loop = NULL;
	struct loop_timer *t[6], *never;
	uint64_t t0;

	(void)state;
	norder = 0;
	assert_int_equal(loop_new(&loop), 0);
	t0 = now_ms();
	/* 200 ms apart: each add reads the clock, and a sanitizer build on a
	 * loaded machine may stall between two adds. */
	assert_int_equal(loop_timer_add(loop, 600, note, "c", &t[0]), 0);
	assert_int_equal(loop_timer_add(loop, 200, note, "a", &t[1]), 0);
	assert_int_equal(loop_timer_add(loop, 400, note, "b", &t[2]), 0);
	assert_int_equal(loop_timer_add(loop, 400, note, "B", &t[3]), 0);
	assert_int_equal(loop_timer_add(loop, 500, note, "x", &never), 0);
	assert_int_equal(loop_timer_add(loop, 800, quit, "q", &t[4]), 0);
	assert_int_equal(loop_timer_add(loop, 50000, note, "z", &t[5]), 0);
	loop_timer_cancel(loop, &never);
	assert_null(never);
	loop_timer_cancel(loop, &never); /* NULL is fine */
	assert_int_equal(loop_run(loop), 7);
	order[norder] = '\0';
	assert_string_equal(order, "abBcq");
	/* Not early: the last one was due 800 ms after they were set. */
	assert_true(now_ms() - t0 >= 800);
	assert_true(now_ms() - t0 < 20000);
	loop_free(&loop); /* frees the pending 50 s timer */
	assert_null(loop);
}

struct pipe_ctx {
	int fds[2];
	struct loop_watch *w;
	int calls;
	uint32_t events;
};

static void on_readable(struct loop *loop, int fd, uint32_t events, void *ctx)
{
	struct pipe_ctx *p = ctx;
	char c;

	p->calls++;
	p->events = events;
	assert_int_equal(fd, p->fds[0]);
	assert_int_equal(read(fd, &c, 1), 1);
	/* Removing itself from its own callback is allowed. */
	loop_remove(loop, &p->w);
	assert_null(p->w);
	loop_quit(loop, 1);
}

static void write_byte(struct loop *loop, void *ctx)
{
	struct pipe_ctx *p = ctx;

	(void)loop;
	assert_int_equal(write(p->fds[1], "x", 1), 1);
}

static void test_fd_watch(void **state)
{
	struct loop *loop = NULL;
	struct pipe_ctx p = { .calls = 0 };
	struct loop_timer *t, *guard;

	(void)state;
	assert_int_equal(pipe(p.fds), 0);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(
	    loop_add(loop, p.fds[0], EPOLLIN, on_readable, &p, &p.w), 0);
	assert_int_equal(loop_timer_add(loop, 10, write_byte, &p, &t), 0);
	assert_int_equal(loop_timer_add(loop, 3000, quit, "g", &guard), 0);
	assert_int_equal(loop_run(loop), 1);
	assert_int_equal(p.calls, 1);
	assert_true(p.events & EPOLLIN);
	/* Removed: more data wakes nobody; the guard timer ends the run. */
	assert_int_equal(write(p.fds[1], "y", 1), 1);
	loop_timer_cancel(loop, &guard);
	assert_int_equal(loop_timer_add(loop, 50, quit, "g", &guard), 0);
	assert_int_equal(loop_run(loop), 7);
	assert_int_equal(p.calls, 1);
	loop_free(&loop);
	close(p.fds[0]);
	close(p.fds[1]);
}

struct post_ctx {
	struct loop *loop;
	pthread_t loop_thread;
	int ran;
	bool on_loop_thread;
};

static void posted(struct loop *loop, void *ctx)
{
	struct post_ctx *c = ctx;

	c->ran++;
	c->on_loop_thread = pthread_equal(pthread_self(), c->loop_thread);
	loop_quit(loop, 3);
}

static void *poster(void *arg)
{
	struct post_ctx *c = arg;

	usleep(20000);
	assert_int_equal(loop_post(c->loop, posted, c), 0);
	return NULL;
}

static void never_runs(struct loop *loop, void *ctx)
{
	(void)loop;
	(*(int *)ctx)++;
}

static void test_post_from_thread(void **state)
{
	struct post_ctx c = { .ran = 0 };
	struct loop_timer *guard;
	pthread_t th;
	int dropped = 0;

	(void)state;
	assert_int_equal(loop_new(&c.loop), 0);
	c.loop_thread = pthread_self();
	assert_int_equal(loop_timer_add(c.loop, 3000, quit, "g", &guard), 0);
	assert_int_equal(pthread_create(&th, NULL, poster, &c), 0);
	assert_int_equal(loop_run(c.loop), 3);
	pthread_join(th, NULL);
	assert_int_equal(c.ran, 1);
	assert_true(c.on_loop_thread);
	loop_timer_cancel(c.loop, &guard);

	/* Queued after the loop stopped: run by loop_flush_posts, or
	 * released unrun by loop_free. */
	assert_int_equal(loop_post(c.loop, posted, &c), 0);
	loop_flush_posts(c.loop);
	assert_int_equal(c.ran, 2);
	assert_int_equal(loop_post(c.loop, never_runs, &dropped), 0);
	loop_free(&c.loop);
	assert_int_equal(dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_fd_watch),
		cmocka_unit_test(test_post_from_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
