/* The libudev watcher: USB security keys and TPM resource managers.
 *
 * Order matters: the monitor is enabled in _new(), before the first
 * enumeration in _scan(), so a device that comes or goes during the scan
 * waits in the monitor's socket instead of slipping between the two (as in
 * pcsc-lite's libudev backend). Seeing a device twice (in the scan and as an
 * event, or as "add" then "bind") reports it once: devices are kept by kind
 * and sysname. */
#include <errno.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hotplug.h"
#include "usb_keys.h"

/* Events handled per _dispatch(); the rest wait for the next poll. */
#define DISPATCH_MAX 256

struct known {
	struct known *next;
	enum hotplug_kind kind;
	char *sysname, *devpath, *devnode;
	char *serial, *manufacturer, *model;
	const char *known_name;
	uint16_t vendor, product;
	bool ccid;
	struct timespec arrived_at;
	unsigned seen; /* scan generation that last saw it */
};

struct hotplug_udev {
	struct udev *udev;
	struct udev_monitor *mon;
	hotplug_cb cb;
	void *ctx;
	struct known *devices;
	unsigned gen;
};

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : TK_ERR_NOMEM;
}

static void known_free(struct known *k)
{
	if (!k)
		return;
	free(k->sysname);
	free(k->devpath);
	free(k->devnode);
	free(k->serial);
	free(k->manufacturer);
	free(k->model);
	free(k);
}

static struct known **known_find(struct hotplug_udev *w, enum hotplug_kind kind,
				 const char *sysname)
{
	struct known **pp;

	for (pp = &w->devices; *pp; pp = &(*pp)->next)
		if ((*pp)->kind == kind && strcmp((*pp)->sysname, sysname) == 0)
			break;
	return pp;
}

static void report(struct hotplug_udev *w, enum hotplug_event ev,
		   const struct known *k)
{
	struct hotplug_device d = {
		.kind = k->kind,
		.sysname = k->sysname,
		.devpath = k->devpath,
		.devnode = k->devnode,
		.vendor = k->vendor,
		.product = k->product,
		.serial = k->serial,
		.manufacturer = k->manufacturer,
		.model = k->model,
		.known_name = k->known_name,
		.ccid = k->ccid,
		.arrived_at = k->arrived_at,
	};

	w->cb(w->ctx, ev, &d);
}

/* Takes the common identity of dev into a new entry. */
static int known_new(struct udev_device *dev, enum hotplug_kind kind,
		     struct known **out)
{
	struct known *k = calloc(1, sizeof(*k));
	int rc = TK_ERR_NOMEM;

	if (!k)
		goto out;
	k->kind = kind;
	if ((rc = dup_opt(udev_device_get_sysname(dev), &k->sysname)) < 0 ||
	    (rc = dup_opt(udev_device_get_devpath(dev), &k->devpath)) < 0 ||
	    (rc = dup_opt(udev_device_get_devnode(dev), &k->devnode)) < 0)
		goto out;
	if (!k->sysname || !k->devpath) {
		rc = TK_ERR_INVALID;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &k->arrived_at);
	*out = k;
	k = NULL;
	rc = 0;
out:
	known_free(k);
	return rc;
}

static void add_and_report(struct hotplug_udev *w, struct known *k)
{
	k->seen = w->gen;
	k->next = w->devices;
	w->devices = k;
	report(w, HOTPLUG_ARRIVED, k);
}

static void leave(struct hotplug_udev *w, enum hotplug_kind kind,
		  const char *sysname)
{
	struct known **pp, *k;

	if (!sysname)
		return;
	pp = known_find(w, kind, sysname);
	if (!(k = *pp))
		return;
	*pp = k->next;
	report(w, HOTPLUG_LEFT, k);
	known_free(k);
}

/* sysattr first (live sysfs), then udev's property (from the event, when
 * sysfs is already gone). */
static int usb_id(struct udev_device *dev, const char *attr, const char *prop,
		  uint16_t *out)
{
	if (usb_keys_parse_id(udev_device_get_sysattr_value(dev, attr), out) ==
	    0)
		return 0;
	return usb_keys_parse_id(udev_device_get_property_value(dev, prop),
				 out);
}

static bool interface_is_ccid(struct udev_device *intf)
{
	uint8_t cls;

	return usb_keys_parse_class(
		   udev_device_get_sysattr_value(intf, "bInterfaceClass"),
		   &cls) == 0 &&
	       cls == USB_CLASS_CCID;
}

/* udev's usb_id lists the interfaces from the configuration descriptor, so
 * it is right even before the interfaces appear in sysfs; without udevd,
 * look at the interfaces in sysfs. */
static bool usb_device_has_ccid(struct hotplug_udev *w, struct udev_device *dev)
{
	const char *ifs =
	    udev_device_get_property_value(dev, "ID_USB_INTERFACES");
	struct udev_enumerate *e;
	struct udev_list_entry *it;
	bool ccid = false;

	if (ifs) /* udevd ran: its list is complete */
		return usb_keys_interfaces_have_ccid(ifs);
	if (!(e = udev_enumerate_new(w->udev)))
		return false;
	if (udev_enumerate_add_match_parent(e, dev) < 0 ||
	    udev_enumerate_add_match_subsystem(e, "usb") < 0 ||
	    udev_enumerate_scan_devices(e) < 0)
		goto out;
	udev_list_entry_foreach(it, udev_enumerate_get_list_entry(e))
	{
		struct udev_device *c = udev_device_new_from_syspath(
		    w->udev, udev_list_entry_get_name(it));
		const char *type = c ? udev_device_get_devtype(c) : NULL;

		if (type && strcmp(type, "usb_interface") == 0)
			ccid = interface_is_ccid(c);
		udev_device_unref(c);
		if (ccid)
			break;
	}
out:
	udev_enumerate_unref(e);
	return ccid;
}

/* A usb_device was added (or is present, or has a CCID interface: ccid). */
static int arrive_usb(struct hotplug_udev *w, struct udev_device *dev,
		      bool ccid)
{
	const char *sysname = udev_device_get_sysname(dev);
	const char *tag = udev_device_get_property_value(dev, "TOKEND_KEY");
	struct known *k = NULL;
	uint16_t vendor, product;
	int rc;

	if (!sysname)
		return 0;
	if ((k = *known_find(w, HOTPLUG_USB_KEY, sysname))) {
		k->seen = w->gen;
		/* Its CCID interface showed up after the device. */
		k->ccid = k->ccid || ccid;
		return 0;
	}
	if (usb_id(dev, "idVendor", "ID_VENDOR_ID", &vendor) < 0 ||
	    usb_id(dev, "idProduct", "ID_MODEL_ID", &product) < 0)
		return 0; /* no USB device we can name */
	ccid = ccid || usb_device_has_ccid(w, dev);
	if (!usb_keys_match(vendor, product, ccid, tag && !strcmp(tag, "1")))
		return 0;
	if ((rc = known_new(dev, HOTPLUG_USB_KEY, &k)) < 0)
		return rc;
	k->vendor = vendor;
	k->product = product;
	k->ccid = ccid;
	k->known_name = usb_keys_lookup(vendor, product);
	if ((rc = dup_opt(udev_device_get_sysattr_value(dev, "serial"),
			  &k->serial)) < 0 ||
	    (rc = dup_opt(udev_device_get_sysattr_value(dev, "manufacturer"),
			  &k->manufacturer)) < 0 ||
	    (rc = dup_opt(udev_device_get_sysattr_value(dev, "product"),
			  &k->model)) < 0) {
		known_free(k);
		return rc;
	}
	add_and_report(w, k);
	return 0;
}

static int arrive_tpm(struct hotplug_udev *w, struct udev_device *dev)
{
	const char *sysname = udev_device_get_sysname(dev);
	struct known *k;
	int rc;

	if (!sysname)
		return 0;
	if ((k = *known_find(w, HOTPLUG_TPM, sysname))) {
		k->seen = w->gen;
		return 0;
	}
	if ((rc = known_new(dev, HOTPLUG_TPM, &k)) < 0)
		return rc;
	add_and_report(w, k);
	return 0;
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* One device seen with one action, from the monitor or from the scan
 * ("add"). "unbind" is only a driver letting go: the device stays. */
static int handle(struct hotplug_udev *w, struct udev_device *dev,
		  const char *action)
{
	const char *subsystem = udev_device_get_subsystem(dev);
	const char *type = udev_device_get_devtype(dev);
	bool add =
	    is(action, "add") || is(action, "bind") || is(action, "change");
	bool remove = is(action, "remove");
	struct udev_device *parent;

	if (is(subsystem, "tpmrm")) {
		if (remove)
			leave(w, HOTPLUG_TPM, udev_device_get_sysname(dev));
		return add ? arrive_tpm(w, dev) : 0;
	}
	if (!is(subsystem, "usb"))
		return 0;
	if (is(type, "usb_device")) {
		if (remove)
			leave(w, HOTPLUG_USB_KEY, udev_device_get_sysname(dev));
		return add ? arrive_usb(w, dev, false) : 0;
	}
	if (is(type, "usb_interface") && add && interface_is_ccid(dev)) {
		/* Borrowed: freed with dev. */
		parent = udev_device_get_parent_with_subsystem_devtype(
		    dev, "usb", "usb_device");
		return parent ? arrive_usb(w, parent, true) : 0;
	}
	return 0;
}

int hotplug_udev_new(struct hotplug_udev **out, hotplug_cb cb, void *ctx)
{
	struct hotplug_udev *w = NULL;
	int rc = TK_ERR_ARG;

	if (!out || !cb)
		goto out;
	rc = TK_ERR_NOMEM;
	if (!(w = calloc(1, sizeof(*w))))
		goto out;
	w->cb = cb;
	w->ctx = ctx;
	rc = TK_ERR_IO;
	if (!(w->udev = udev_new()))
		goto out;
	/* "udev": events after udevd's rules ran (properties, our tag). */
	if (!(w->mon = udev_monitor_new_from_netlink(w->udev, "udev")))
		goto out;
	if (udev_monitor_filter_add_match_subsystem_devtype(w->mon, "usb",
							    NULL) < 0 ||
	    udev_monitor_filter_add_match_subsystem_devtype(w->mon, "tpmrm",
							    NULL) < 0 ||
	    udev_monitor_enable_receiving(w->mon) < 0)
		goto out;
	/* Needs CAP_NET_ADMIN; without it the default buffer stays and an
	 * overflow is caught by a rescan. */
	(void)udev_monitor_set_receive_buffer_size(w->mon, 1024 * 1024);
	*out = w;
	w = NULL;
	rc = 0;
out:
	hotplug_udev_free(&w);
	return rc;
}

void hotplug_udev_free(struct hotplug_udev **pw)
{
	struct hotplug_udev *w;

	if (!pw || !(w = *pw))
		return;
	while (w->devices) {
		struct known *k = w->devices;
		w->devices = k->next;
		known_free(k);
	}
	udev_monitor_unref(w->mon);
	udev_unref(w->udev);
	free(w);
	*pw = NULL;
}

int hotplug_udev_fd(const struct hotplug_udev *w)
{
	return w ? udev_monitor_get_fd(w->mon) : TK_ERR_ARG;
}

int hotplug_udev_scan(struct hotplug_udev *w)
{
	struct udev_enumerate *e;
	struct udev_list_entry *it;
	struct known **pp;
	int rc = TK_ERR_IO;

	if (!w)
		return TK_ERR_ARG;
	if (!(e = udev_enumerate_new(w->udev)))
		return TK_ERR_NOMEM;
	if (udev_enumerate_add_match_subsystem(e, "usb") < 0 ||
	    udev_enumerate_add_match_subsystem(e, "tpmrm") < 0 ||
	    udev_enumerate_scan_devices(e) < 0)
		goto out;
	w->gen++;
	udev_list_entry_foreach(it, udev_enumerate_get_list_entry(e))
	{
		struct udev_device *dev = udev_device_new_from_syspath(
		    w->udev, udev_list_entry_get_name(it));

		if (!dev)
			continue; /* gone meanwhile: its event is queued */
		rc = handle(w, dev, "add");
		udev_device_unref(dev);
		if (rc < 0)
			goto out;
	}
	/* Known but not present any more: events were lost. */
	for (pp = &w->devices; *pp;) {
		struct known *k = *pp;
		if (k->seen == w->gen) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		report(w, HOTPLUG_LEFT, k);
		known_free(k);
	}
	rc = 0;
out:
	udev_enumerate_unref(e);
	return rc;
}

int hotplug_udev_dispatch(struct hotplug_udev *w)
{
	if (!w)
		return TK_ERR_ARG;
	for (int i = 0; i < DISPATCH_MAX; i++) {
		struct udev_device *dev;
		int rc;

		errno = 0;
		if (!(dev = udev_monitor_receive_device(w->mon))) {
			if (errno == ENOBUFS)
				return hotplug_udev_scan(w);
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == 0)
				return 0;
			return TK_ERR_IO;
		}
		rc = handle(w, dev, udev_device_get_action(dev));
		udev_device_unref(dev);
		if (rc < 0)
			return rc;
	}
	return 0;
}
