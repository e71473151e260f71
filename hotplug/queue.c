/* The queue between the watchers and their consumer: a list of messages
 * under a mutex, a condition variable for blocking waiters and an eventfd
 * for an epoll loop. The eventfd holds a count of 1 exactly while the list
 * is not empty, so a level-triggered epoll fires until the last _pop(). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "hotplug.h"

struct node {
	struct node *next;
	struct hotplug_msg m;
};

struct hotplug_queue {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct node *head, **tail;
	int efd;
	/* _wake(): waiters blocked then see wake_gen move; wake_pending
	 * keeps a wake that came while nobody waited for the next wait. */
	unsigned long wake_gen;
	bool wake_pending;
};

int hotplug_queue_new(struct hotplug_queue **out)
{
	struct hotplug_queue *q = NULL;
	pthread_condattr_t ca;
	int rc = TK_ERR_ARG;

	if (!out)
		goto out;
	*out = NULL;
	rc = TK_ERR_NOMEM;
	if (!(q = calloc(1, sizeof(*q))))
		goto out;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		rc = TK_ERR_IO;
		free(q);
		q = NULL;
		goto out;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	q->tail = &q->head;
	*out = q;
	rc = 0;
out:
	return rc;
}

void hotplug_queue_free(struct hotplug_queue **pq)
{
	struct hotplug_queue *q;

	if (!pq || !(q = *pq))
		return;
	while (q->head) {
		struct node *n = q->head;
		q->head = n->next;
		free(n);
	}
	close(q->efd);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->lock);
	free(q);
	*pq = NULL;
}

int hotplug_queue_push(struct hotplug_queue *q, const struct hotplug_msg *m)
{
	struct node *n;
	uint64_t one = 1;

	if (!q || !m)
		return TK_ERR_ARG;
	if (!(n = malloc(sizeof(*n))))
		return TK_ERR_NOMEM;
	n->next = NULL;
	n->m = *m;
	pthread_mutex_lock(&q->lock);
	if (!q->head) /* empty to non-empty: make the fd readable */
		(void)!write(q->efd, &one, sizeof(one));
	*q->tail = n;
	q->tail = &n->next;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void hotplug_queue_push_device(void *q, enum hotplug_event ev,
			       const struct hotplug_device *dev)
{
	struct hotplug_msg m;

	hotplug_msg_from_device(ev, dev, &m);
	(void)hotplug_queue_push(q, &m);
}

int hotplug_queue_pop(struct hotplug_queue *q, struct hotplug_msg *out)
{
	struct node *n;
	uint64_t v;

	if (!q || !out)
		return 0;
	pthread_mutex_lock(&q->lock);
	if ((n = q->head)) {
		q->head = n->next;
		if (!q->head) { /* now empty: the fd stops being readable */
			q->tail = &q->head;
			(void)!read(q->efd, &v, sizeof(v));
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (!n)
		return 0;
	*out = n->m;
	free(n);
	return 1;
}

int hotplug_queue_fd(const struct hotplug_queue *q)
{
	return q ? q->efd : TK_ERR_ARG;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

enum hotplug_wait hotplug_queue_wait(struct hotplug_queue *q, int timeout_ms)
{
	enum hotplug_wait r = HOTPLUG_WAIT_TIMEOUT;
	struct timespec until;
	unsigned long gen;
	int e = 0;

	if (!q)
		return HOTPLUG_WAIT_TIMEOUT;
	if (timeout_ms >= 0)
		deadline_after(&until, timeout_ms);
	pthread_mutex_lock(&q->lock);
	gen = q->wake_gen;
	for (;;) {
		if (q->wake_pending || q->wake_gen != gen) {
			q->wake_pending = false;
			r = HOTPLUG_WAIT_WOKEN;
			break;
		}
		if (q->head) {
			r = HOTPLUG_WAIT_EVENT;
			break;
		}
		if (e == ETIMEDOUT)
			break;
		e = timeout_ms < 0
			? pthread_cond_wait(&q->cv, &q->lock)
			: pthread_cond_timedwait(&q->cv, &q->lock, &until);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void hotplug_queue_wake(struct hotplug_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->wake_gen++;
	q->wake_pending = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->lock);
}
