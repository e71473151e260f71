/* Pairs USB keys (udev) with PC/SC readers. A reader belongs to at most
 * one key; a key takes a reader whose name carries its USB manufacturer or
 * product string (libccid names readers "<manufacturer> <product> ..."),
 * or any reader when the key has neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "correlate.h"
#include "error.h"

struct key {
	struct key *next;
	struct hotplug_msg m; /* its arrival */
	uint64_t deadline;
	char *reader; /* the reader it took, or NULL */
	bool reported;
};

struct rdr {
	struct rdr *next;
	char *name;
	bool taken;
};

struct hotplug_correlate {
	unsigned grace_ms;
	hotplug_log_fn log;
	void *log_ctx;
	struct key *keys; /* newest first */
	struct rdr *readers;
	bool pcscd_down;
};

int hotplug_correlate_new(struct hotplug_correlate **out, unsigned grace_ms,
			  hotplug_log_fn log, void *log_ctx)
{
	struct hotplug_correlate *c;

	if (!out)
		return TK_ERR_ARG;
	if (!(c = calloc(1, sizeof(*c)))) {
		*out = NULL;
		return TK_ERR_NOMEM;
	}
	c->grace_ms = grace_ms ? grace_ms : HOTPLUG_CORRELATE_GRACE_MS;
	c->log = log;
	c->log_ctx = log_ctx;
	*out = c;
	return 0;
}

static void key_free(struct key *k)
{
	free(k->reader);
	free(k);
}

void hotplug_correlate_free(struct hotplug_correlate **pc)
{
	struct hotplug_correlate *c;

	if (!pc || !(c = *pc))
		return;
	while (c->keys) {
		struct key *k = c->keys;
		c->keys = k->next;
		key_free(k);
	}
	while (c->readers) {
		struct rdr *r = c->readers;
		c->readers = r->next;
		free(r->name);
		free(r);
	}
	free(c);
	*pc = NULL;
}

static bool reader_fits(const struct hotplug_msg *key, const char *reader)
{
	size_t ml = strlen(key->manufacturer);

	if (!key->manufacturer[0] && !key->model[0])
		return true;
	return (ml && strncmp(reader, key->manufacturer, ml) == 0) ||
	       (key->model[0] && strstr(reader, key->model));
}

static void take(struct key *k, struct rdr *r)
{
	char *name = strdup(r->name);

	if (!name)
		return; /* it stays unpaired: at worst one needless line */
	r->taken = true;
	k->reader = name;
}

/* The oldest key without a reader that fits r takes it. */
static void give_reader(struct hotplug_correlate *c, struct rdr *r)
{
	struct key *best = NULL;

	for (struct key *k = c->keys; k; k = k->next)
		if (!k->reader && reader_fits(&k->m, r->name))
			best = k; /* newest first: the last is the oldest */
	if (best)
		take(best, r);
}

static int reader_arrived(struct hotplug_correlate *c, const char *name)
{
	struct rdr *r;

	for (r = c->readers; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return 0;
	if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name))) {
		free(r);
		return TK_ERR_NOMEM;
	}
	r->next = c->readers;
	c->readers = r;
	give_reader(c, r);
	return 0;
}

static void reader_left(struct hotplug_correlate *c, const char *name,
			uint64_t now_ms)
{
	struct rdr **pp, *r;

	for (pp = &c->readers; (r = *pp); pp = &r->next)
		if (strcmp(r->name, name) == 0)
			break;
	if (!r)
		return;
	*pp = r->next;
	for (struct key *k = c->keys; k; k = k->next)
		if (k->reader && strcmp(k->reader, name) == 0) {
			free(k->reader);
			k->reader = NULL;
			k->deadline = now_ms + c->grace_ms; /* give it time */
		}
	free(r->name);
	free(r);
}

static int key_arrived(struct hotplug_correlate *c, const struct hotplug_msg *m,
		       uint64_t now_ms)
{
	struct key *k;

	for (k = c->keys; k; k = k->next)
		if (strcmp(k->m.id, m->id) == 0)
			return 0;
	if (!(k = calloc(1, sizeof(*k))))
		return TK_ERR_NOMEM;
	k->m = *m;
	k->deadline = now_ms + c->grace_ms;
	k->next = c->keys;
	c->keys = k;
	for (struct rdr *r = c->readers; r; r = r->next)
		if (!r->taken && reader_fits(m, r->name)) {
			take(k, r);
			break;
		}
	return 0;
}

static void key_left(struct hotplug_correlate *c, const char *id)
{
	struct key **pp, *k;

	for (pp = &c->keys; (k = *pp); pp = &k->next)
		if (strcmp(k->m.id, id) == 0)
			break;
	if (!k)
		return;
	*pp = k->next;
	for (struct rdr *r = c->readers; r && k->reader; r = r->next)
		if (strcmp(r->name, k->reader) == 0)
			r->taken = false;
	key_free(k);
}

int hotplug_correlate_feed(struct hotplug_correlate *c,
			   const struct hotplug_msg *m, uint64_t now_ms)
{
	if (!c || !m)
		return TK_ERR_ARG;
	if (m->ev == HOTPLUG_SERVICE_LOST || m->ev == HOTPLUG_SERVICE_BACK) {
		c->pcscd_down = m->ev == HOTPLUG_SERVICE_LOST;
		return 0;
	}
	if (m->kind == HOTPLUG_PCSC_READER && m->ev == HOTPLUG_ARRIVED)
		return reader_arrived(c, m->id);
	if (m->kind == HOTPLUG_PCSC_READER && m->ev == HOTPLUG_LEFT)
		reader_left(c, m->id, now_ms);
	if (m->kind == HOTPLUG_USB_KEY && m->ev == HOTPLUG_ARRIVED)
		return key_arrived(c, m, now_ms);
	if (m->kind == HOTPLUG_USB_KEY && m->ev == HOTPLUG_LEFT)
		key_left(c, m->id);
	return 0;
}

static const char *why(const struct hotplug_correlate *c,
		       const struct hotplug_msg *k)
{
	if (!k->ccid)
		return "it has no CCID (smart card) interface: that function "
		       "is disabled on the key (YubiKey: ykman config usb "
		       "--enable PIV) or it is a FIDO-only key";
	if (c->pcscd_down)
		return "pcscd is not reachable (not installed, not running, "
		       "or polkit does not allow this user)";
	return "pcscd added no reader for it (is libccid installed and does "
	       "it know this key? may pcscd open the USB device?)";
}

static void report(struct hotplug_correlate *c, struct key *k)
{
	const struct hotplug_msg *m = &k->m;
	const char *name = m->known_name ? m->known_name
			   : m->model[0] ? m->model
					 : "security key";
	char line[512];

	k->reported = true;
	if (!c->log)
		return;
	snprintf(line, sizeof(line),
		 "USB key %s (%04x:%04x%s%s) at %s shows no PC/SC reader "
		 "after %u s: %s",
		 name, m->vendor, m->product, m->serial[0] ? ", serial " : "",
		 m->serial, m->id, (c->grace_ms + 999) / 1000, why(c, m));
	c->log(c->log_ctx, LOG_WARNING, line);
}

long hotplug_correlate_tick(struct hotplug_correlate *c, uint64_t now_ms)
{
	long next = -1;

	if (!c)
		return -1;
	for (struct key *k = c->keys; k; k = k->next) {
		if (k->reader || k->reported)
			continue;
		if (k->deadline <= now_ms) {
			report(c, k);
			continue;
		}
		if (next < 0 || (long)(k->deadline - now_ms) < next)
			next = (long)(k->deadline - now_ms);
	}
	return next;
}
