/* The udev watcher against a faked /sys and udev netlink (umockdev): run
 * under umockdev-wrapper (see run_umockdev.sh). A YubiKey and a tpmrm0 come
 * and go, found by the initial scan and by events; a mouse is ignored; no
 * device is reported twice. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <umockdev.h>

#include "hotplug.h"

#define MAX_EVENTS 32

struct seen {
	enum hotplug_event ev;
	enum hotplug_kind kind;
	char sysname[64];
	char serial[64];
	char known_name[64];
	uint16_t vendor, product;
	bool ccid;
	bool has_time;
};

struct fixture {
	UMockdevTestbed *tb;
	struct hotplug_udev *w;
	struct seen ev[MAX_EVENTS];
	size_t n;
};

static void on_event(void *ctx, enum hotplug_event ev,
		     const struct hotplug_device *d)
{
	struct fixture *f = ctx;
	struct seen *s;

	assert_true(f->n < MAX_EVENTS);
	s = &f->ev[f->n++];
	s->ev = ev;
	s->kind = d->kind;
	snprintf(s->sysname, sizeof(s->sysname), "%s", d->sysname);
	snprintf(s->serial, sizeof(s->serial), "%s",
		 d->serial ? d->serial : "");
	snprintf(s->known_name, sizeof(s->known_name), "%s",
		 d->known_name ? d->known_name : "");
	s->vendor = d->vendor;
	s->product = d->product;
	s->ccid = d->ccid;
	s->has_time = d->arrived_at.tv_sec != 0 || d->arrived_at.tv_nsec != 0;
	assert_non_null(d->devpath);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->tb = umockdev_testbed_new();
	assert_non_null(f->tb);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	hotplug_udev_free(&f->w);
	assert_null(f->w);
	g_object_unref(f->tb);
	free(f);
	return 0;
}

static void start(struct fixture *f)
{
	assert_int_equal(hotplug_udev_new(&f->w, on_event, f), 0);
	assert_true(hotplug_udev_fd(f->w) >= 0);
	assert_int_equal(hotplug_udev_scan(f->w), 0);
}

/* Waits until the monitor has something (or a second passed: then there is
 * nothing to deliver, which the caller's count checks) and dispatches. */
static void pump(struct fixture *f)
{
	struct pollfd p = { .fd = hotplug_udev_fd(f->w), .events = POLLIN };

	while (poll(&p, 1, 1000) > 0) {
		assert_int_equal(hotplug_udev_dispatch(f->w), 0);
		p.revents = 0;
		/* Later events of the same burst follow quickly. */
		if (poll(&p, 1, 100) <= 0)
			break;
	}
}

/* A YubiKey 5 as the kernel shows it: the device, its CCID interface and
 * a HID one; ID_USB_INTERFACES as udevd's usb_id sets it. */
static char *add_yubikey(struct fixture *f, const char *name, bool ccid)
{
	char intf[64];
	char *dev = umockdev_testbed_add_device(
	    f->tb, "usb", name, NULL, "idVendor", "1050", "idProduct", "0407",
	    "serial", "", "manufacturer", "Yubico", "product",
	    "YubiKey OTP+FIDO+CCID", NULL, "DEVTYPE", "usb_device",
	    "ID_USB_INTERFACES",
	    ccid ? ":030101:030000:0b0000:" : ":030000:", NULL);

	assert_non_null(dev);
	snprintf(intf, sizeof(intf), "%s:1.0", name);
	g_free(umockdev_testbed_add_device(
	    f->tb, "usb", intf, dev, "bInterfaceClass", "03",
	    "bInterfaceNumber", "00", NULL, "DEVTYPE", "usb_interface", NULL));
	if (ccid) {
		snprintf(intf, sizeof(intf), "%s:1.2", name);
		g_free(umockdev_testbed_add_device(
		    f->tb, "usb", intf, dev, "bInterfaceClass", "0b",
		    "bInterfaceNumber", "02", NULL, "DEVTYPE", "usb_interface",
		    NULL));
	}
	return dev;
}

static char *add_mouse(struct fixture *f)
{
	char *dev = umockdev_testbed_add_device(
	    f->tb, "usb", "1-3", NULL, "idVendor", "046d", "idProduct", "c077",
	    "product", "USB Optical Mouse", NULL, "DEVTYPE", "usb_device",
	    NULL);

	assert_non_null(dev);
	g_free(umockdev_testbed_add_device(
	    f->tb, "usb", "1-3:1.0", dev, "bInterfaceClass", "03",
	    "bInterfaceNumber", "00", NULL, "DEVTYPE", "usb_interface", NULL));
	return dev;
}

static char *add_tpm(struct fixture *f)
{
	char *dev = umockdev_testbed_add_device(
	    f->tb, "tpmrm", "tpmrm0", NULL, NULL, "DEVNAME", "tpmrm0", "MAJOR",
	    "253", "MINOR", "65536", NULL);

	assert_non_null(dev);
	return dev;
}

static void remove_dev(struct fixture *f, char *syspath)
{
	umockdev_testbed_uevent(f->tb, syspath, "remove");
	umockdev_testbed_remove_device(f->tb, syspath);
	g_free(syspath);
}

static const struct seen *find(const struct fixture *f, enum hotplug_event ev,
			       const char *sysname, size_t *count)
{
	const struct seen *hit = NULL;

	*count = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (f->ev[i].ev == ev && !strcmp(f->ev[i].sysname, sysname)) {
			hit = &f->ev[i];
			(*count)++;
		}
	}
	return hit;
}

static void check_yubikey_arrived(const struct fixture *f, const char *name)
{
	size_t count;
	const struct seen *s = find(f, HOTPLUG_ARRIVED, name, &count);

	assert_non_null(s);
	assert_int_equal(count, 1);
	assert_int_equal(s->kind, HOTPLUG_USB_KEY);
	assert_int_equal(s->vendor, 0x1050);
	assert_int_equal(s->product, 0x0407);
	assert_string_equal(s->serial, "");
	assert_string_equal(s->known_name, "Yubico YubiKey");
	assert_true(s->has_time);
}

static void check_once(const struct fixture *f, enum hotplug_event ev,
		       const char *name, enum hotplug_kind kind)
{
	size_t count;
	const struct seen *s = find(f, ev, name, &count);

	assert_non_null(s);
	assert_int_equal(count, 1);
	assert_int_equal(s->kind, kind);
}

/* Present before the watcher starts: found by the initial scan. */
static void test_initial_scan(void **state)
{
	struct fixture *f = *state;
	char *key = add_yubikey(f, "1-1", true);
	char *mouse = add_mouse(f);
	char *tpm = add_tpm(f);
	size_t count;

	start(f);
	pump(f);
	assert_int_equal(f->n, 2);
	check_yubikey_arrived(f, "1-1");
	assert_true(find(f, HOTPLUG_ARRIVED, "1-1", &count)->ccid);
	check_once(f, HOTPLUG_ARRIVED, "tpmrm0", HOTPLUG_TPM);

	remove_dev(f, key);
	remove_dev(f, tpm);
	pump(f);
	assert_int_equal(f->n, 4);
	check_once(f, HOTPLUG_LEFT, "1-1", HOTPLUG_USB_KEY);
	check_once(f, HOTPLUG_LEFT, "tpmrm0", HOTPLUG_TPM);
	remove_dev(f, mouse);
	pump(f);
	assert_int_equal(f->n, 4);
}

/* Plugged while the watcher runs; a repeated "add" is not a new key. */
static void test_events(void **state)
{
	struct fixture *f = *state;
	char *key, *mouse, *tpm;

	start(f);
	assert_int_equal(f->n, 0);
	key = add_yubikey(f, "1-2", true);
	mouse = add_mouse(f);
	tpm = add_tpm(f);
	pump(f);
	assert_int_equal(f->n, 2);
	check_yubikey_arrived(f, "1-2");
	check_once(f, HOTPLUG_ARRIVED, "tpmrm0", HOTPLUG_TPM);

	umockdev_testbed_uevent(f->tb, key, "add");
	umockdev_testbed_uevent(f->tb, key, "bind");
	umockdev_testbed_uevent(f->tb, tpm, "add");
	umockdev_testbed_uevent(f->tb, mouse, "add");
	pump(f);
	assert_int_equal(f->n, 2);

	remove_dev(f, key);
	remove_dev(f, tpm);
	remove_dev(f, mouse);
	pump(f);
	assert_int_equal(f->n, 4);
	check_once(f, HOTPLUG_LEFT, "1-2", HOTPLUG_USB_KEY);
	check_once(f, HOTPLUG_LEFT, "tpmrm0", HOTPLUG_TPM);
	/* Ordering: each left after its arrival. */
	assert_int_equal(f->ev[0].ev, HOTPLUG_ARRIVED);
	assert_int_equal(f->ev[3].ev, HOTPLUG_LEFT);

	/* Re-inserted (on another port: umockdev keeps the old one's
	 * /sys/bus link): arrives again. */
	key = add_yubikey(f, "1-6", true);
	pump(f);
	assert_int_equal(f->n, 5);
	assert_int_equal(f->ev[4].ev, HOTPLUG_ARRIVED);
	assert_string_equal(f->ev[4].sysname, "1-6");
	g_free(key);
}

/* Added after the monitor was enabled but before the scan: both the scan
 * and the queued event see it; it is reported once. */
static void test_between_enable_and_scan(void **state)
{
	struct fixture *f = *state;
	char *key;

	assert_int_equal(hotplug_udev_new(&f->w, on_event, f), 0);
	key = add_yubikey(f, "1-4", true);
	assert_int_equal(hotplug_udev_scan(f->w), 0);
	assert_int_equal(f->n, 1);
	pump(f);
	assert_int_equal(f->n, 1);
	check_yubikey_arrived(f, "1-4");
	g_free(key);
}

/* A YubiKey with its CCID interface disabled is still a key (vendor
 * table), flagged ccid = false so the daemon can say why no reader came. */
static void test_ccid_disabled(void **state)
{
	struct fixture *f = *state;
	char *key;
	size_t count;

	start(f);
	key = add_yubikey(f, "1-5", false);
	pump(f);
	assert_int_equal(f->n, 1);
	check_yubikey_arrived(f, "1-5");
	assert_false(find(f, HOTPLUG_ARRIVED, "1-5", &count)->ccid);
	g_free(key);
}

/* An unknown vendor's CCID reader (no ID_USB_INTERFACES: no udevd ran)
 * is found through its interface, which comes after the device; a rule's
 * TOKEND_KEY=1 makes another unknown device a key. */
static void test_ccid_interface_and_tag(void **state)
{
	struct fixture *f = *state;
	char *reader, *tagged;
	size_t count;
	const struct seen *s;

	start(f);
	reader = umockdev_testbed_add_device(
	    f->tb, "usb", "2-1", NULL, "idVendor", "076b", "idProduct", "5422",
	    "serial", "OK1234", NULL, "DEVTYPE", "usb_device", NULL);
	/* Not a key until its CCID interface shows up. */
	pump(f);
	assert_int_equal(f->n, 0);
	g_free(umockdev_testbed_add_device(
	    f->tb, "usb", "2-1:1.0", reader, "bInterfaceClass", "0b",
	    "bInterfaceNumber", "00", NULL, "DEVTYPE", "usb_interface", NULL));
	tagged = umockdev_testbed_add_device(
	    f->tb, "usb", "2-2", NULL, "idVendor", "abcd", "idProduct", "0001",
	    NULL, "DEVTYPE", "usb_device", "TOKEND_KEY", "1", NULL);
	pump(f);
	assert_int_equal(f->n, 2);
	s = find(f, HOTPLUG_ARRIVED, "2-1", &count);
	assert_non_null(s);
	assert_int_equal(count, 1);
	assert_int_equal(s->vendor, 0x076b);
	assert_true(s->ccid);
	assert_string_equal(s->serial, "OK1234");
	assert_string_equal(s->known_name, "");
	s = find(f, HOTPLUG_ARRIVED, "2-2", &count);
	assert_non_null(s);
	assert_int_equal(s->vendor, 0xabcd);
	assert_false(s->ccid);
	g_free(reader);
	g_free(tagged);
}

/* A rescan after lost events reports what went missing meanwhile. */
static void test_rescan_reports_missing(void **state)
{
	struct fixture *f = *state;
	char *tpm = add_tpm(f);

	start(f);
	assert_int_equal(f->n, 1);
	umockdev_testbed_remove_device(f->tb, tpm); /* no event */
	assert_int_equal(hotplug_udev_scan(f->w), 0);
	assert_int_equal(f->n, 2);
	check_once(f, HOTPLUG_LEFT, "tpmrm0", HOTPLUG_TPM);
	g_free(tpm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_scan, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_between_enable_and_scan,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ccid_disabled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ccid_interface_and_tag,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rescan_reports_missing,
						setup, teardown),
	};

	const char *preload = getenv("LD_PRELOAD");

	/* Outside the wrapper this would watch the real machine. */
	if (!preload || !strstr(preload, "libumockdev-preload")) {
		fprintf(stderr, "run me under umockdev-wrapper\n");
		return 1;
	}
	/* One case per process (ctest passes its name): after a testbed with
	 * removed devices, umockdev 0.17 delivers no more events to a later
	 * testbed's monitor in the same process. */
	if (argc > 1) {
		size_t i, n = sizeof(tests) / sizeof(tests[0]);

		for (i = 0; i < n && strcmp(tests[i].name, argv[1]); i++)
			;
		if (i == n) {
			fprintf(stderr, "no test case %s\n", argv[1]);
			return 1;
		}
		cmocka_set_test_filter(argv[1]);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
