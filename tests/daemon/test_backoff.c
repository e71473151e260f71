/* The per-peer login back-off: grows with failures, capped, per peer,
 * forgotten on success, bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static int setup(void **state)
{
	(void)state;
	backoff_reset();
	return 0;
}

static void test_grows_and_caps(void **state)
{
	unsigned prev = 0, d;

	(void)state;
	assert_int_equal(backoff_delay_ms(1000), 0);
	for (int i = 0; i < 12; i++) {
		backoff_record(1000, true);
		d = backoff_delay_ms(1000);
		assert_true(d <= BACKOFF_MAX_MS);
		assert_true(d + 50 >= prev || d + 50 >= BACKOFF_MAX_MS);
		prev = d;
	}
	assert_true(prev > BACKOFF_MAX_MS - 1000);
	/* Another peer is not slowed. */
	assert_int_equal(backoff_delay_ms(1001), 0);
	/* A success forgets the peer. */
	backoff_record(1000, false);
	assert_int_equal(backoff_delay_ms(1000), 0);
}

static void test_first_failure_short(void **state)
{
	(void)state;
	backoff_record(7, true);
	assert_true(backoff_delay_ms(7) <= BACKOFF_BASE_MS);
}

static void test_table_bounded(void **state)
{
	(void)state;
	/* More failing uids than entries: the table reuses old ones and the
	 * newest peers are still slowed. */
	for (uid_t u = 0; u < BACKOFF_PEERS * 4; u++)
		backoff_record(50000 + u, true);
	backoff_record(50000 + BACKOFF_PEERS * 4 - 1, true);
	assert_true(backoff_delay_ms(50000 + BACKOFF_PEERS * 4 - 1) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_grows_and_caps, setup),
		cmocka_unit_test_setup(test_first_failure_short, setup),
		cmocka_unit_test_setup(test_table_bounded, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
