/* The recent-errors ring behind tokenctl status: errors and warnings only,
 * the newest LOG_RECENT_MAX of them, oldest first, each with the function
 * that logged it but without the journald priority prefix, and its time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static void test_ring(void **state)
{
	struct log_recent r[LOG_RECENT_MAX + 5];
	time_t before = time(NULL);
	char want[64];
	size_t n;

	(void)state;
	assert_int_equal(log_recent(r, LOG_RECENT_MAX), 0);
	log_notice("a notice is not an error");
	log_info("nor is info");
	log_err("first error");
	n = log_recent(r, LOG_RECENT_MAX);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].line, "test_ring: first error");
	assert_int_equal(r[0].level, LOG_ERR);
	assert_true(r[0].when >= before && r[0].when <= time(NULL));

	for (int i = 0; i < LOG_RECENT_MAX + 3; i++)
		log_warn("warning %d", i);
	n = log_recent(r, LOG_RECENT_MAX + 5);
	assert_int_equal(n, LOG_RECENT_MAX);
	/* the first error and the first three warnings fell out */
	assert_string_equal(r[0].line, "test_ring: warning 3");
	snprintf(want, sizeof(want), "test_ring: warning %d",
		 LOG_RECENT_MAX + 2);
	assert_string_equal(r[LOG_RECENT_MAX - 1].line, want);
	assert_int_equal(r[0].level, LOG_WARNING);

	/* fewer asked: the newest ones */
	n = log_recent(r, 2);
	assert_int_equal(n, 2);
	assert_string_equal(r[1].line, want);

	/* a quieter log-level drops the line from the ring too */
	log_set_level(LOG_ERR);
	log_warn("dropped");
	n = log_recent(r, LOG_RECENT_MAX);
	assert_string_equal(r[n - 1].line, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
