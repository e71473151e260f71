/* Hardware watchers: they turn hardware changes into "device arrived" and
 * "device left" events, in the shape of pcsc-lite's hotplug backends. A
 * watcher owns no thread: the caller polls its file descriptor and calls
 * _dispatch() when it is readable, so it fits the daemon's event loop.
 *
 * Today there is one watcher, on libudev: USB security keys and TPM resource
 * managers (/dev/tpmrm*). Inside a container there is no udevd and the
 * monitor sees nothing; callers must not depend on it for correctness. */
#ifndef TOKEND_HOTPLUG_H
#define TOKEND_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum hotplug_kind {
	HOTPLUG_USB_KEY = 1, /* a USB security key (usb_device) */
	HOTPLUG_TPM = 2,     /* a TPM resource manager (subsystem tpmrm) */
};

enum hotplug_event {
	HOTPLUG_ARRIVED = 1,
	HOTPLUG_LEFT = 2,
};

/* What a watcher knows of a device. Strings are owned by the watcher and
 * valid only during the callback; copy what you keep. */
struct hotplug_device {
	enum hotplug_kind kind;
	const char *sysname; /* "1-2" (USB port path), "tpmrm0": the key */
	const char *devpath; /* "/devices/pci0000:00/.../1-2" */
	const char
	    *devnode; /* "/dev/bus/usb/001/005", "/dev/tpmrm0"; or NULL */
	/* USB only (0 / NULL otherwise). */
	uint16_t vendor, product;
	const char *serial;       /* iSerialNumber, NULL when absent */
	const char *manufacturer; /* NULL when absent */
	const char *model;        /* USB product string, NULL when absent */
	const char *known_name;   /* from our vendor table, NULL when unknown */
	/* A CCID interface (class 0b) was seen: pcscd should show a reader
	 * soon. A key without one has its CCID interface disabled (or is a
	 * FIDO-only key); no PC/SC reader will come for it. */
	bool ccid;
	/* CLOCK_MONOTONIC when the watcher first saw it: the daemon compares
	 * with PC/SC reader arrivals to log a key that never became a
	 * reader. */
	struct timespec arrived_at;
};

/* Called once per arrival and once per departure of a device; never twice
 * in a row with the same event for the same sysname. The callback must not
 * free the watcher. */
typedef void (*hotplug_cb)(void *ctx, enum hotplug_event ev,
			   const struct hotplug_device *dev);

struct hotplug_udev;

/* Creates the udev monitor and enables it (events from now on queue up in
 * its socket) but reports nothing yet: call hotplug_udev_scan() next. */
int hotplug_udev_new(struct hotplug_udev **out, hotplug_cb cb, void *ctx);
void hotplug_udev_free(struct hotplug_udev **w);

/* Enumerates the devices present now: reports each new one as arrived, and
 * each known one that is gone as left. Called once after _new(), and again
 * whenever events may have been lost (_dispatch() does that by itself when
 * the monitor's socket overflowed). */
int hotplug_udev_scan(struct hotplug_udev *w);

/* The monitor's socket: poll it for POLLIN, then call _dispatch(). */
int hotplug_udev_fd(const struct hotplug_udev *w);

/* Reads every pending event without blocking and reports what changed.
 * Returns 0, or a negative TK_ERR_*. */
int hotplug_udev_dispatch(struct hotplug_udev *w);

const char *hotplug_kind_name(enum hotplug_kind kind);

#endif
