/* The back-off table: one entry per recently failing uid. */
#include "backoff.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct backoff_peer {
	bool used;
	uid_t uid;
	unsigned fails;
	uint64_t last_ms; /* CLOCK_MONOTONIC of the last failure */
};

static pthread_mutex_t backoff_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backoff_peer backoff_peers[BACKOFF_PEERS];

static uint64_t backoff_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned backoff_span_ms(unsigned fails)
{
	if (fails == 0)
		return 0;
	if (fails > 16) /* 250 << 6 is past the cap already */
		return BACKOFF_MAX_MS;
	uint64_t ms = (uint64_t)BACKOFF_BASE_MS << (fails - 1);
	return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : (unsigned)ms;
}

/* backoff_lock held. */
static struct backoff_peer *backoff_find(uid_t uid)
{
	for (size_t i = 0; i < BACKOFF_PEERS; i++)
		if (backoff_peers[i].used && backoff_peers[i].uid == uid)
			return &backoff_peers[i];
	return NULL;
}

unsigned backoff_delay_ms(uid_t uid)
{
	struct backoff_peer *p;
	uint64_t now, due;
	unsigned left = 0;

	pthread_mutex_lock(&backoff_lock);
	if ((p = backoff_find(uid)) != NULL) {
		now = backoff_now_ms();
		due = p->last_ms + backoff_span_ms(p->fails);
		if (due > now)
			left = (unsigned)(due - now);
	}
	pthread_mutex_unlock(&backoff_lock);
	return left;
}

void backoff_record(uid_t uid, bool failed)
{
	struct backoff_peer *p, *oldest = NULL;

	pthread_mutex_lock(&backoff_lock);
	p = backoff_find(uid);
	if (!failed) {
		if (p != NULL)
			memset(p, 0, sizeof(*p));
		goto out;
	}
	if (p == NULL) {
		/* A free entry, else the one that failed longest ago. */
		for (size_t i = 0; i < BACKOFF_PEERS && p == NULL; i++) {
			struct backoff_peer *e = &backoff_peers[i];

			if (!e->used)
				p = e;
			else if (oldest == NULL || e->last_ms < oldest->last_ms)
				oldest = e;
		}
		if (p == NULL)
			p = oldest;
		memset(p, 0, sizeof(*p));
		p->used = true;
		p->uid = uid;
	}
	if (p->fails < UINT32_MAX)
		p->fails++;
	p->last_ms = backoff_now_ms();
out:
	pthread_mutex_unlock(&backoff_lock);
}

void backoff_reset(void)
{
	pthread_mutex_lock(&backoff_lock);
	memset(backoff_peers, 0, sizeof(backoff_peers));
	pthread_mutex_unlock(&backoff_lock);
}
