/* The watchers' queue: its fd is readable exactly while a message waits;
 * a blocking wait returns for a message, a timeout, or a wake from another
 * thread (also one that came just before the wait); message lines. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hotplug.h"

static bool readable(struct hotplug_queue *q)
{
	struct pollfd p = { .fd = hotplug_queue_fd(q), .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static struct hotplug_msg card(const char *reader)
{
	struct hotplug_msg m = { .ev = HOTPLUG_ARRIVED,
				 .kind = HOTPLUG_PCSC_CARD,
				 .atr = { 0x3b, 0x8c, 0x80 },
				 .atr_len = 3 };

	snprintf(m.id, sizeof(m.id), "%s", reader);
	return m;
}

static void test_fd_follows_queue(void **state)
{
	struct hotplug_queue *q;
	struct hotplug_msg a = card("A"), b = card("B"), out;

	assert_int_equal(hotplug_queue_new(&q), 0);
	assert_false(readable(q));
	assert_int_equal(hotplug_queue_push(q, &a), 0);
	assert_int_equal(hotplug_queue_push(q, &b), 0);
	assert_true(readable(q));
	assert_int_equal(hotplug_queue_pop(q, &out), 1);
	assert_string_equal(out.id, "A");
	assert_true(readable(q));
	assert_int_equal(hotplug_queue_pop(q, &out), 1);
	assert_string_equal(out.id, "B");
	assert_int_equal(out.atr_len, 3);
	assert_false(readable(q));
	assert_int_equal(hotplug_queue_pop(q, &out), 0);
	/* Freed with a message still in it (ASan checks the leak). */
	assert_int_equal(hotplug_queue_push(q, &a), 0);
	hotplug_queue_free(&q);
	assert_null(q);
}

struct later {
	struct hotplug_queue *q;
	bool push;
};

static void *act_later(void *arg)
{
	struct later *l = arg;
	struct hotplug_msg m = card("late");

	usleep(100 * 1000);
	if (l->push)
		hotplug_queue_push(l->q, &m);
	else
		hotplug_queue_wake(l->q);
	return NULL;
}

static void test_wait(void **state)
{
	struct hotplug_queue *q;
	struct later l;
	pthread_t t;
	uint64_t t0;

	assert_int_equal(hotplug_queue_new(&q), 0);
	t0 = hotplug_now_ms();
	assert_int_equal(hotplug_queue_wait(q, 50), HOTPLUG_WAIT_TIMEOUT);
	assert_true(hotplug_now_ms() - t0 >= 50);

	/* A wake before the wait is not lost, and is used up. */
	hotplug_queue_wake(q);
	assert_int_equal(hotplug_queue_wait(q, 5000), HOTPLUG_WAIT_WOKEN);
	assert_int_equal(hotplug_queue_wait(q, 10), HOTPLUG_WAIT_TIMEOUT);

	l = (struct later){ .q = q, .push = false };
	pthread_create(&t, NULL, act_later, &l);
	assert_int_equal(hotplug_queue_wait(q, -1), HOTPLUG_WAIT_WOKEN);
	pthread_join(t, NULL);

	l.push = true;
	pthread_create(&t, NULL, act_later, &l);
	assert_int_equal(hotplug_queue_wait(q, 5000), HOTPLUG_WAIT_EVENT);
	pthread_join(t, NULL);
	/* Still queued: the wait does not take it. */
	assert_int_equal(hotplug_queue_wait(q, 0), HOTPLUG_WAIT_EVENT);
	hotplug_queue_free(&q);
}

static void test_format(void **state)
{
	struct hotplug_msg m = card("Virtual PCD 00 00");
	char line[256];

	hotplug_msg_format(&m, line, sizeof(line));
	assert_string_equal(
	    line, "card arrived in 'Virtual PCD 00 00' (ATR 3B 8C 80)");
	m.mute = true;
	m.atr_len = 0;
	hotplug_msg_format(&m, line, sizeof(line));
	assert_non_null(strstr(line, "does not answer"));
	m = (struct hotplug_msg){ .ev = HOTPLUG_ARRIVED, .kind = HOTPLUG_TPM };
	snprintf(m.id, sizeof(m.id), "tpmrm0");
	snprintf(m.devnode, sizeof(m.devnode), "/dev/tpmrm0");
	hotplug_msg_format(&m, line, sizeof(line));
	assert_non_null(strstr(line, "TPM arrived: /dev/tpmrm0"));
	hotplug_msg_format(&m, line, 8); /* cut, terminated */
	assert_int_equal(strlen(line), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_follows_queue),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
