/* The USB key / PC/SC reader correlator with injected messages and a fake
 * clock: a key whose reader never comes gets exactly one line, saying why;
 * a key whose reader comes (before or after it, or back after pcscd
 * restarted) gets none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "correlate.h"
#include "error.h"

struct fx {
	struct hotplug_correlate *c;
	int lines;
	char last[512];
};

static void on_log(void *ctx, int level, const char *line)
{
	struct fx *f = ctx;

	f->lines++;
	snprintf(f->last, sizeof(f->last), "%s", line);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(hotplug_correlate_new(&f->c, 5000, on_log, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hotplug_correlate_free(&f->c);
	assert_null(f->c);
	free(f);
	return 0;
}

static void feed_key(struct fx *f, enum hotplug_event ev, const char *port,
		     bool ccid, uint64_t now)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_USB_KEY };

	snprintf(m.id, sizeof(m.id), "%s", port);
	snprintf(m.manufacturer, sizeof(m.manufacturer), "Yubico");
	snprintf(m.model, sizeof(m.model), "YubiKey OTP+FIDO+CCID");
	snprintf(m.serial, sizeof(m.serial), "12345678");
	m.vendor = 0x1050;
	m.product = 0x0407;
	m.ccid = ccid;
	assert_int_equal(hotplug_correlate_feed(f->c, &m, now), 0);
}

static void feed_reader(struct fx *f, enum hotplug_event ev, const char *name,
			uint64_t now)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_PCSC_READER };

	snprintf(m.id, sizeof(m.id), "%s", name);
	assert_int_equal(hotplug_correlate_feed(f->c, &m, now), 0);
}

static void feed_service(struct fx *f, enum hotplug_event ev, uint64_t now)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_PCSC_SERVICE };

	snprintf(m.id, sizeof(m.id), "pcscd");
	assert_int_equal(hotplug_correlate_feed(f->c, &m, now), 0);
}

#define YK_READER "Yubico YubiKey OTP+FIDO+CCID 00 00"

static void test_reader_in_time(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 1000);
	assert_int_equal(hotplug_correlate_tick(f->c, 1000), 5000);
	feed_reader(f, HOTPLUG_ARRIVED, YK_READER, 3000);
	assert_int_equal(hotplug_correlate_tick(f->c, 60000), -1);
	assert_int_equal(f->lines, 0);
}

static void test_reader_before_key(void **state)
{
	struct fx *f = *state;

	feed_reader(f, HOTPLUG_ARRIVED, YK_READER, 0);
	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 10);
	assert_int_equal(hotplug_correlate_tick(f->c, 60000), -1);
	assert_int_equal(f->lines, 0);
}

static void test_no_reader_once(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 1000);
	/* Another reader is no reader for this key. */
	feed_reader(f, HOTPLUG_ARRIVED, "Virtual PCD 00 00", 1200);
	assert_int_equal(hotplug_correlate_tick(f->c, 5999), 1);
	assert_int_equal(f->lines, 0);
	assert_int_equal(hotplug_correlate_tick(f->c, 6000), -1);
	assert_int_equal(f->lines, 1);
	assert_non_null(strstr(f->last, "1050:0407"));
	assert_non_null(strstr(f->last, "serial 12345678"));
	assert_non_null(strstr(f->last, "at 1-2"));
	assert_non_null(strstr(f->last, "libccid"));
	hotplug_correlate_tick(f->c, 7000);
	hotplug_correlate_tick(f->c, 70000);
	assert_int_equal(f->lines, 1);
}

static void test_ccid_disabled(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", false, 0);
	hotplug_correlate_tick(f->c, 5000);
	assert_int_equal(f->lines, 1);
	assert_non_null(strstr(f->last, "no CCID"));
	assert_non_null(strstr(f->last, "ykman"));
}

static void test_pcscd_down(void **state)
{
	struct fx *f = *state;

	feed_service(f, HOTPLUG_SERVICE_LOST, 0);
	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 100);
	hotplug_correlate_tick(f->c, 5100);
	assert_int_equal(f->lines, 1);
	assert_non_null(strstr(f->last, "pcscd is not reachable"));
}

static void test_key_left_early(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 0);
	feed_key(f, HOTPLUG_LEFT, "1-2", true, 2000);
	assert_int_equal(hotplug_correlate_tick(f->c, 60000), -1);
	assert_int_equal(f->lines, 0);
}

/* Two identical keys, one reader: the first key takes it, the second gets
 * the line; when the first is pulled its reader goes too. */
static void test_two_keys_one_reader(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 0);
	feed_key(f, HOTPLUG_ARRIVED, "1-3", true, 100);
	feed_reader(f, HOTPLUG_ARRIVED, YK_READER, 500);
	hotplug_correlate_tick(f->c, 6000);
	assert_int_equal(f->lines, 1);
	assert_non_null(strstr(f->last, "at 1-3"));
	/* The second reader comes late: no second line, and it is taken. */
	feed_reader(f, HOTPLUG_ARRIVED, "Yubico YubiKey OTP+FIDO+CCID 01 00",
		    7000);
	feed_key(f, HOTPLUG_ARRIVED, "1-4", true, 8000);
	hotplug_correlate_tick(f->c, 14000);
	assert_int_equal(f->lines, 2);
	assert_non_null(strstr(f->last, "at 1-4"));
}

/* pcscd restarts: the readers leave and come back within the grace. */
static void test_pcscd_flap(void **state)
{
	struct fx *f = *state;

	feed_key(f, HOTPLUG_ARRIVED, "1-2", true, 0);
	feed_reader(f, HOTPLUG_ARRIVED, YK_READER, 300);
	feed_service(f, HOTPLUG_SERVICE_LOST, 10000);
	feed_reader(f, HOTPLUG_LEFT, YK_READER, 10000);
	assert_int_equal(hotplug_correlate_tick(f->c, 12000), 3000);
	feed_service(f, HOTPLUG_SERVICE_BACK, 13000);
	feed_reader(f, HOTPLUG_ARRIVED, YK_READER, 13100);
	assert_int_equal(hotplug_correlate_tick(f->c, 60000), -1);
	assert_int_equal(f->lines, 0);
}

/* Keys without USB strings pair with any reader that comes. */
static void test_key_without_strings(void **state)
{
	struct fx *f = *state;
	struct hotplug_msg m = { .ev = HOTPLUG_ARRIVED,
				 .kind = HOTPLUG_USB_KEY,
				 .ccid = true };

	snprintf(m.id, sizeof(m.id), "2-1");
	assert_int_equal(hotplug_correlate_feed(f->c, &m, 0), 0);
	feed_reader(f, HOTPLUG_ARRIVED, "Some Vendor Reader 00 00", 1000);
	hotplug_correlate_tick(f->c, 60000);
	assert_int_equal(f->lines, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_reader_in_time),      T(test_reader_before_key),
		T(test_no_reader_once),      T(test_ccid_disabled),
		T(test_pcscd_down),          T(test_key_left_early),
		T(test_two_keys_one_reader), T(test_pcscd_flap),
		T(test_key_without_strings),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
