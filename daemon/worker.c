/* The bounded worker pool. All of it is guarded by pool.lock:
 *   nthreads  threads alive (idle or running a job)
 *   nidle     threads waiting for work; nwake of them signalled already
 *   njobs     jobs queued, not yet taken
 *   shares    per key: jobs of that key running now
 * A submit wakes an idle thread not yet woken, else starts a thread while
 * under the cap, else leaves the job queued for the next thread that is
 * done. A thread takes the oldest job whose key is under its share.
 *
 * Threads are joined, not detached: a thread that has left the pool still
 * runs its thread-local destructors (OpenSSL's among them), and the exit
 * that follows worker_pool_stop() runs OpenSSL's atexit cleanup, which
 * assumes that every other thread is gone; the two freed the same memory
 * (a double free under ASan). A thread that leaves joins the one that
 * left before it and takes its place as pool.last_gone, which
 * worker_pool_stop() joins: joining the last one waits for them all, and
 * no join ever runs on the loop thread (under TSan a thread's end takes
 * long enough for 1000 clients' handshakes to time out). */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"

/* Enough for the front end, OpenSSL and the RPC codec; keeps the address
 * space of many threads small. */
#define WORKER_STACK_SIZE ((size_t)512 << 10)

struct job {
	worker_fn fn;
	void *arg;
	uint64_t key;
	struct job *prev, *next;
};

struct share {
	uint64_t key;
	size_t running;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stopping */
	pthread_cond_t gone; /* a thread exited */
	struct job *head, *tail;
	size_t nthreads, nidle, nwake, njobs, max_idle, max_threads;
	pthread_t last_gone;  /* left, not joined yet (if any_gone) */
	bool any_gone;
	struct share *shares; /* keys with a running job */
	size_t nshares, cap_shares;
	bool up, stopping;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.gone = PTHREAD_COND_INITIALIZER,
};

/* pool.lock held. How many jobs of one key may run at once. */
static size_t worker_share_max(void)
{
	if (pool.max_threads == 0)
		return SIZE_MAX;
	return pool.max_threads / 2 > 0 ? pool.max_threads / 2 : 1;
}

static struct share *worker_share_find(uint64_t key)
{
	for (size_t i = 0; i < pool.nshares; i++)
		if (pool.shares[i].key == key)
			return &pool.shares[i];
	return NULL;
}

static bool worker_eligible(const struct job *j)
{
	const struct share *s;

	if (j->key == WORKER_NO_KEY)
		return true;
	s = worker_share_find(j->key);
	return s == NULL || s->running < worker_share_max();
}

/* Counts j as running. The table has room: it is grown at submit time
 * for every queued job's key, so this cannot fail. */
static void worker_share_take(const struct job *j)
{
	struct share *s;

	if (j->key == WORKER_NO_KEY)
		return;
	if ((s = worker_share_find(j->key)) == NULL) {
		s = &pool.shares[pool.nshares++];
		s->key = j->key;
		s->running = 0;
	}
	s->running++;
}

static void worker_share_drop(uint64_t key)
{
	struct share *s;

	if (key == WORKER_NO_KEY || (s = worker_share_find(key)) == NULL)
		return;
	if (--s->running == 0)
		*s = pool.shares[--pool.nshares];
}

/* The oldest job that may run now, taken off the queue; NULL if none. */
static struct job *worker_take(void)
{
	struct job *j;

	for (j = pool.head; j != NULL && !worker_eligible(j); j = j->next)
		;
	if (j == NULL)
		return NULL;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		pool.head = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		pool.tail = j->prev;
	pool.njobs--;
	worker_share_take(j);
	return j;
}

static void *worker_main(void *arg)
{
	pthread_t prev;
	bool joins;
	struct job *j;
	uint64_t key;

	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while ((j = worker_take()) == NULL &&
		       !(pool.stopping && pool.head == NULL)) {
			if (pool.nidle >= pool.max_idle && !pool.stopping)
				goto out; /* enough others idle */
			pool.nidle++;
			pthread_cond_wait(&pool.work, &pool.lock);
			pool.nidle--;
			if (pool.nwake > 0)
				pool.nwake--;
		}
		if (j == NULL)
			break; /* stopping, nothing left */
		key = j->key;
		pthread_mutex_unlock(&pool.lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&pool.lock);
		worker_share_drop(key);
		if (pool.stopping) /* idle ones may be waiting for this */
			pthread_cond_broadcast(&pool.work);
	}
out:
	pool.nthreads--;
	prev = pool.last_gone;
	joins = pool.any_gone;
	pool.last_gone = pthread_self();
	pool.any_gone = true;
	pthread_cond_broadcast(&pool.gone);
	pthread_mutex_unlock(&pool.lock);
	if (joins)
		pthread_join(prev, NULL);
	return NULL;
}

/* pool.lock held. */
static int worker_spawn(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int e;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
	e = pthread_create(&t, &attr, worker_main, NULL);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		log_err("pthread_create: %s", strerror(e));
		return TK_ERR_NOMEM;
	}
	pool.nthreads++;
	return 0;
}

int worker_pool_start(size_t max_idle)
{
	int r = 0;

	pthread_mutex_lock(&pool.lock);
	if (pool.up) {
		r = TK_ERR_BUSY;
	} else {
		pool.up = true;
		pool.stopping = false;
		pool.head = pool.tail = NULL;
		pool.max_idle = max_idle;
		pool.nwake = 0;
	}
	pthread_mutex_unlock(&pool.lock);
	return r;
}

void worker_pool_set_max(size_t max_threads)
{
	pthread_mutex_lock(&pool.lock);
	pool.max_threads = max_threads;
	pthread_mutex_unlock(&pool.lock);
}

/* pool.lock held: room in the share table for a key per running and
 * queued job, one more included, so worker_share_take() never fails. */
static int worker_share_room(void)
{
	struct share *s;
	size_t n, need = pool.nshares + pool.njobs + 1;

	if (need <= pool.cap_shares)
		return 0;
	n = pool.cap_shares ? pool.cap_shares : 16;
	while (n < need)
		n *= 2;
	if ((s = realloc(pool.shares, n * sizeof(*s))) == NULL)
		return TK_ERR_NOMEM;
	pool.shares = s;
	pool.cap_shares = n;
	return 0;
}

int worker_submit_key(uint64_t key, worker_fn fn, void *arg)
{
	struct job *j;
	bool wake = false;
	int r = TK_ERR_BUSY;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return TK_ERR_NOMEM;
	j->fn = fn;
	j->arg = arg;
	j->key = key;
	pthread_mutex_lock(&pool.lock);
	if (!pool.up || pool.stopping)
		goto out;
	if ((r = worker_share_room()) != 0)
		goto out;
	if (pool.nidle > pool.nwake) {
		pool.nwake++;
		wake = true;
	} else if (pool.max_threads == 0 || pool.nthreads < pool.max_threads) {
		/* No thread at all is fatal for the job; over some, it
		 * waits for one of them. */
		if ((r = worker_spawn()) != 0 && pool.nthreads == 0)
			goto out;
	}
	j->prev = pool.tail;
	if (pool.tail != NULL)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	pool.njobs++;
	j = NULL;
	r = 0;
out:
	pthread_mutex_unlock(&pool.lock);
	/* After the unlock: a thread woken under it would wake only to wait
	 * for the lock (two switches per request instead of one). */
	if (wake)
		pthread_cond_signal(&pool.work);
	free(j);
	return r;
}

int worker_submit(worker_fn fn, void *arg)
{
	return worker_submit_key(WORKER_NO_KEY, fn, arg);
}

void worker_pool_counts(size_t *threads, size_t *queued)
{
	pthread_mutex_lock(&pool.lock);
	*threads = pool.nthreads;
	*queued = pool.njobs;
	pthread_mutex_unlock(&pool.lock);
}

bool worker_pool_stop(unsigned timeout_ms)
{
	struct timespec until;
	pthread_t last;
	bool done, joins;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.lock);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.work);
	while (pool.nthreads > 0 &&
	       pthread_cond_timedwait(&pool.gone, &pool.lock, &until) !=
		   ETIMEDOUT)
		;
	done = pool.nthreads == 0;
	if (done) {
		pool.up = false;
		free(pool.shares);
		pool.shares = NULL;
		pool.nshares = pool.cap_shares = 0;
	}
	last = pool.last_gone;
	joins = pool.any_gone;
	pool.any_gone = false;
	pthread_mutex_unlock(&pool.lock);
	/* Every thread that left is over once the last is joined; one still
	 * running a job (not done) is left alone: the caller then ends
	 * without cleaning up. */
	if (joins)
		pthread_join(last, NULL);
	return done;
}
