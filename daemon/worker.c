/* The elastic worker pool. All counters are guarded by pool.lock:
 *   nthreads  threads alive (idle or running a job)
 *   nidle     threads waiting for work
 *   njobs     jobs queued, not yet taken
 * A submit wakes an idle thread when there are more idle threads than
 * queued jobs, otherwise it starts a new thread. */
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
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stopping */
	pthread_cond_t gone; /* a thread exited */
	struct job *head, **tail;
	size_t nthreads, nidle, njobs, max_idle;
	bool up, stopping;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.gone = PTHREAD_COND_INITIALIZER,
};

static void *worker_main(void *unused)
{
	struct job *j;

	(void)unused;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (pool.head == NULL && !pool.stopping) {
			pool.nidle++;
			pthread_cond_wait(&pool.work, &pool.lock);
			pool.nidle--;
		}
		if ((j = pool.head) == NULL)
			break; /* stopping, nothing left */
		if ((pool.head = j->next) == NULL)
			pool.tail = &pool.head;
		pool.njobs--;
		pthread_mutex_unlock(&pool.lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&pool.lock);
		if (pool.head == NULL && pool.nidle >= pool.max_idle)
			break;
	}
	pool.nthreads--;
	pthread_cond_broadcast(&pool.gone);
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* pool.lock held. */
static int worker_spawn(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int e;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
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
		pool.head = NULL;
		pool.tail = &pool.head;
		pool.max_idle = max_idle;
	}
	pthread_mutex_unlock(&pool.lock);
	return r;
}

int worker_submit(worker_fn fn, void *arg)
{
	struct job *j;
	int r = TK_ERR_BUSY;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return TK_ERR_NOMEM;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&pool.lock);
	if (!pool.up || pool.stopping)
		goto out;
	if (pool.nidle <= pool.njobs && (r = worker_spawn()) != 0)
		goto out;
	*pool.tail = j;
	pool.tail = &j->next;
	pool.njobs++;
	j = NULL;
	pthread_cond_signal(&pool.work);
	r = 0;
out:
	pthread_mutex_unlock(&pool.lock);
	free(j);
	return r;
}

bool worker_pool_stop(unsigned timeout_ms)
{
	struct timespec until;
	bool done;

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
	if (done)
		pool.up = false;
	pthread_mutex_unlock(&pool.lock);
	return done;
}
