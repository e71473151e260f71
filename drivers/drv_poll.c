/* Polling with back-off: see drv_poll.h. */
#include "drv_poll.h"

static uint64_t poll_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void drv_poll_init(struct drv_poll *p, unsigned min_ms, unsigned max_ms)
{
	p->min_ms = p->cur_ms = min_ms;
	p->max_ms = max_ms < min_ms ? min_ms : max_ms;
	p->last_ms = poll_now_ms();
	p->held = false;
}

void drv_poll_done(struct drv_poll *p, bool changed)
{
	p->last_ms = poll_now_ms();
	if (changed || p->held)
		p->cur_ms = p->min_ms;
	else
		p->cur_ms =
		    p->cur_ms > p->max_ms / 2 ? p->max_ms : p->cur_ms * 2;
}

bool drv_poll_attend(struct drv_poll *p, bool waiting)
{
	bool sooner = p->cur_ms > p->min_ms;

	p->held = waiting;
	p->cur_ms = p->min_ms;
	return sooner;
}

void drv_poll_deadline(const struct drv_poll *p, struct timespec *ts)
{
	uint64_t at = p->last_ms + p->cur_ms;

	ts->tv_sec = (time_t)(at / 1000);
	ts->tv_nsec = (long)(at % 1000) * 1000000L;
}
