/* Messages: names, the admin's one-line description, and the conversion
 * of the udev watcher's reports. */
#include <stdio.h>
#include <string.h>

#include "hotplug.h"

struct name {
	int v;
	const char *s;
};

static const struct name kinds[] = {
	{ HOTPLUG_USB_KEY, "USB security key" }, { HOTPLUG_TPM, "TPM" },
	{ HOTPLUG_PCSC_READER, "PC/SC reader" }, { HOTPLUG_PCSC_CARD, "card" },
	{ HOTPLUG_PCSC_SERVICE, "pcscd" }, { HOTPLUG_MODULE_TOKEN, "module token" },
};

static const struct name events[] = {
	{ HOTPLUG_ARRIVED, "arrived" },   { HOTPLUG_LEFT, "left" },
	{ HOTPLUG_CHANGED, "changed" },   { HOTPLUG_SERVICE_LOST, "lost" },
	{ HOTPLUG_SERVICE_BACK, "back" },
};

static const char *name_of(const struct name *t, size_t n, int v,
			   const char *dflt)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].v == v)
			return t[i].s;
	return dflt;
}

const char *hotplug_kind_name(enum hotplug_kind kind)
{
	return name_of(kinds, sizeof(kinds) / sizeof(kinds[0]), (int)kind,
		       "device");
}

const char *hotplug_event_name(enum hotplug_event ev)
{
	return name_of(events, sizeof(events) / sizeof(events[0]), (int)ev,
		       "event");
}

uint64_t hotplug_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

void hotplug_msg_from_device(enum hotplug_event ev,
			     const struct hotplug_device *dev,
			     struct hotplug_msg *out)
{
	memset(out, 0, sizeof(*out));
	out->ev = ev;
	out->kind = dev->kind;
	copy_str(out->id, sizeof(out->id), dev->sysname);
	copy_str(out->devnode, sizeof(out->devnode), dev->devnode);
	copy_str(out->serial, sizeof(out->serial), dev->serial);
	copy_str(out->manufacturer, sizeof(out->manufacturer),
		 dev->manufacturer);
	copy_str(out->model, sizeof(out->model), dev->model);
	out->vendor = dev->vendor;
	out->product = dev->product;
	out->known_name = dev->known_name;
	out->ccid = dev->ccid;
	out->at_ms = (uint64_t)dev->arrived_at.tv_sec * 1000u +
		     (uint64_t)dev->arrived_at.tv_nsec / 1000000u;
}

/* "3B F8 13 00" into buf (cut to fit). */
static void atr_hex(const struct hotplug_msg *m, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < m->atr_len && i < sizeof(m->atr); i++) {
		int n = snprintf(buf + off, len - off, "%s%02X", i ? " " : "",
				 m->atr[i]);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

static void format_usb(const struct hotplug_msg *m, char *buf, size_t len)
{
	const char *name = m->known_name ? m->known_name
			   : m->model[0] ? m->model
					 : "unknown key";

	snprintf(buf, len, "USB security key %s: %s (%04x:%04x%s%s) at %s%s",
		 hotplug_event_name(m->ev), name, m->vendor, m->product,
		 m->serial[0] ? ", serial " : "", m->serial, m->id,
		 m->ev == HOTPLUG_ARRIVED && !m->ccid
		     ? "; it has no CCID interface (smart card function "
		       "disabled?)"
		     : "");
}

void hotplug_msg_format(const struct hotplug_msg *m, char *buf, size_t len)
{
	char atr[3 * HOTPLUG_ATR_MAX + 1];

	if (!buf || len == 0)
		return;
	switch (m->kind) {
	case HOTPLUG_USB_KEY:
		format_usb(m, buf, len);
		return;
	case HOTPLUG_TPM:
		snprintf(buf, len, "TPM %s: %s%s", hotplug_event_name(m->ev),
			 m->devnode[0] ? m->devnode : m->id,
			 m->ev == HOTPLUG_ARRIVED
			     ? " (no TPM token driver yet: not used)"
			     : "");
		return;
	case HOTPLUG_PCSC_SERVICE:
		snprintf(buf, len, "pcscd %s", hotplug_event_name(m->ev));
		return;
	case HOTPLUG_PCSC_READER:
		snprintf(buf, len, "PC/SC reader %s: '%s'%s",
			 hotplug_event_name(m->ev), m->id,
			 m->service_lost ? " (pcscd lost)" : "");
		return;
	case HOTPLUG_MODULE_TOKEN:
		break; /* the generic line below */
	case HOTPLUG_PCSC_CARD:
		atr_hex(m, atr, sizeof(atr));
		snprintf(buf, len, "card %s in '%s'%s%s%s%s",
			 hotplug_event_name(m->ev), m->id,
			 atr[0] ? " (ATR " : "", atr, atr[0] ? ")" : "",
			 m->mute ? ": the card does not answer (mute); "
				   "no driver can serve it"
			 : m->service_lost ? " (pcscd lost)"
					   : "");
		return;
	}
	snprintf(buf, len, "%s %s: %s", hotplug_kind_name(m->kind),
		 hotplug_event_name(m->ev), m->id);
}
