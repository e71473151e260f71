/* epoll event loop with deferred watch release, a cross-thread queue and
 * one-shot timers. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

#define LOOP_BATCH 64

struct loop_watch {
	int fd;
	loop_fn fn;
	void *ctx;
	bool dead;
	struct loop_watch *next_dead;
};

struct loop_post {
	loop_post_fn fn;
	void *ctx;
	struct loop_post *next;
};

struct loop_timer {
	uint64_t due_ms; /* CLOCK_MONOTONIC */
	loop_timer_fn fn;
	void *ctx;
	struct loop_timer *prev, *next;
};

struct loop {
	int epfd;
	int wakefd;
	bool quit;
	int code;
	struct loop_watch *dead; /* removed, freed after the batch */
	pthread_mutex_t lock;    /* guards posts */
	struct loop_post *posts, **posts_tail;
	struct loop_timer *timers, *timers_tail; /* by due_ms */
};

static uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void loop_run_posts(struct loop *loop)
{
	struct loop_post *list, *p;
	uint64_t v;

	if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("read eventfd: %s", strerror(errno));
	pthread_mutex_lock(&loop->lock);
	list = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	pthread_mutex_unlock(&loop->lock);
	while ((p = list) != NULL) {
		list = p->next;
		p->fn(loop, p->ctx);
		free(p);
	}
}

void loop_flush_posts(struct loop *loop)
{
	loop_run_posts(loop);
}

int loop_new(struct loop **out)
{
	struct loop *loop;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int r = TK_ERR_NOMEM;

	*out = NULL;
	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return TK_ERR_NOMEM;
	loop->epfd = loop->wakefd = -1;
	pthread_mutex_init(&loop->lock, NULL);
	loop->posts_tail = &loop->posts;
	r = TK_ERR_IO;
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		log_err("epoll/eventfd: %s", strerror(errno));
		goto out;
	}
	/* data.ptr NULL marks the wake-up eventfd. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
		log_err("epoll_ctl: %s", strerror(errno));
		goto out;
	}
	*out = loop;
	loop = NULL;
	r = 0;
out:
	loop_free(&loop);
	return r;
}

static void loop_reap(struct loop *loop)
{
	struct loop_watch *w;

	while ((w = loop->dead) != NULL) {
		loop->dead = w->next_dead;
		free(w);
	}
}

void loop_free(struct loop **p)
{
	struct loop *loop = *p;
	struct loop_post *post;

	if (loop == NULL)
		return;
	loop_reap(loop);
	while (loop->timers != NULL) {
		struct loop_timer *t = loop->timers;
		loop_timer_cancel(loop, &t);
	}
	while ((post = loop->posts) != NULL) {
		loop->posts = post->next;
		free(post);
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
	*p = NULL;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_fn fn, void *ctx,
	     struct loop_watch **out)
{
	struct loop_watch *w;
	struct epoll_event ev = { .events = events };

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return TK_ERR_NOMEM;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_err("epoll_ctl add fd %d: %s", fd, strerror(errno));
		free(w);
		return TK_ERR_IO;
	}
	*out = w;
	return 0;
}

int loop_modify(struct loop *loop, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) {
		log_err("epoll_ctl mod fd %d: %s", w->fd, strerror(errno));
		return TK_ERR_IO;
	}
	return 0;
}

void loop_remove(struct loop *loop, struct loop_watch **p)
{
	struct loop_watch *w = *p;

	if (w == NULL)
		return;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
		log_warn("epoll_ctl del fd %d: %s", w->fd, strerror(errno));
	w->dead = true;
	w->next_dead = loop->dead;
	loop->dead = w;
	*p = NULL;
}

int loop_post(struct loop *loop, loop_post_fn fn, void *ctx)
{
	struct loop_post *p;
	uint64_t one = 1;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return TK_ERR_NOMEM;
	p->fn = fn;
	p->ctx = ctx;
	pthread_mutex_lock(&loop->lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->lock);
	if (write(loop->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("write eventfd: %s", strerror(errno));
	return 0;
}

int loop_timer_add(struct loop *loop, unsigned ms, loop_timer_fn fn, void *ctx,
		   struct loop_timer **out)
{
	struct loop_timer *t, *at;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return TK_ERR_NOMEM;
	t->due_ms = loop_now_ms() + ms;
	t->fn = fn;
	t->ctx = ctx;
	/* From the tail: most timers of a kind have the same length. */
	for (at = loop->timers_tail; at != NULL && at->due_ms > t->due_ms;
	     at = at->prev)
		;
	t->prev = at;
	t->next = at != NULL ? at->next : loop->timers;
	if (t->next != NULL)
		t->next->prev = t;
	else
		loop->timers_tail = t;
	if (at != NULL)
		at->next = t;
	else
		loop->timers = t;
	*out = t;
	return 0;
}

static void loop_timer_unlink(struct loop *loop, struct loop_timer *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		loop->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		loop->timers_tail = t->prev;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer **p)
{
	struct loop_timer *t = *p;

	if (t == NULL)
		return;
	loop_timer_unlink(loop, t);
	free(t);
	*p = NULL;
}

/* Runs the timers that are due; returns epoll_wait's timeout until the
 * next one (-1: none). */
static int loop_run_timers(struct loop *loop)
{
	struct loop_timer *t;
	uint64_t now = loop_now_ms(), left;

	while ((t = loop->timers) != NULL && t->due_ms <= now) {
		loop_timer_unlink(loop, t);
		t->fn(loop, t->ctx);
		free(t);
		if (loop->quit)
			return 0;
	}
	if (t == NULL)
		return -1;
	left = t->due_ms - now;
	return left > 60000 ? 60000 : (int)left;
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[LOOP_BATCH];
	struct loop_watch *w;
	int i, n, timeout;

	loop->quit = false;
	while (!loop->quit) {
		timeout = loop_run_timers(loop);
		if (loop->quit)
			break;
		n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_err("epoll_wait: %s", strerror(errno));
			return TK_ERR_IO;
		}
		for (i = 0; i < n; i++) {
			if ((w = evs[i].data.ptr) == NULL) {
				loop_run_posts(loop);
				continue;
			}
			if (!w->dead && !loop->quit)
				w->fn(loop, w->fd, evs[i].events, w->ctx);
		}
		loop_reap(loop);
	}
	return loop->code;
}

void loop_quit(struct loop *loop, int code)
{
	loop->quit = true;
	loop->code = code;
}
