/* drivers/drv_poll.c: a polling driver's interval doubles from its
 * minimum to its maximum while nothing changes, goes back to the minimum
 * on a change or when clients look, and stays there while a client waits
 * for slot events; the deadline is the last poll plus the interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "drv_poll.h"

static void test_backoff(void **state)
{
	static const unsigned want[] = { 4000, 8000, 16000, 30000, 30000 };
	struct drv_poll p;

	(void)state;
	drv_poll_init(&p, 2000, 30000);
	assert_int_equal(p.cur_ms, 2000);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		drv_poll_done(&p, false);
		assert_int_equal(p.cur_ms, want[i]);
	}
	drv_poll_done(&p, true); /* a change */
	assert_int_equal(p.cur_ms, 2000);
}

static void test_attend(void **state)
{
	struct drv_poll p;
	struct timespec ts;

	(void)state;
	drv_poll_init(&p, 2000, 30000);
	/* At the minimum already: nothing to move. */
	assert_false(drv_poll_attend(&p, false));
	drv_poll_done(&p, false);
	drv_poll_done(&p, false);
	assert_int_equal(p.cur_ms, 8000);
	/* A look: the next poll comes sooner, at the minimum. */
	assert_true(drv_poll_attend(&p, false));
	assert_int_equal(p.cur_ms, 2000);
	drv_poll_deadline(&p, &ts);
	assert_int_equal((uint64_t)ts.tv_sec * 1000u +
			     (uint64_t)ts.tv_nsec / 1000000u,
			 p.last_ms + 2000);
	/* A client waits: no back-off until it stops. */
	assert_false(drv_poll_attend(&p, true));
	drv_poll_done(&p, false);
	drv_poll_done(&p, false);
	assert_int_equal(p.cur_ms, 2000);
	drv_poll_attend(&p, false);
	drv_poll_done(&p, false);
	assert_int_equal(p.cur_ms, 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_attend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
