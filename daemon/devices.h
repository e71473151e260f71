/* The daemon's hardware glue: one hotplug queue fed by the udev watcher and
 * the PC/SC watcher (hotplug/hotplug.h), drained on the loop thread, which
 * feeds the key/reader correlator and hands every reader and card message,
 * in order, to one background job on a worker thread. That job applies it
 * to the front end's slot table (frontend_device_event: a card that
 * arrives is probed and read there, never on the loop thread) and writes
 * the one log line an admin can act on: a token arrived (reader, driver,
 * model, serial, keys) or left, a card no driver serves and why. pcscd
 * lost and back are logged once by the watcher; what leaves and comes back
 * with pcscd is logged at debug only, so a flapping pcscd floods nothing. */
#ifndef TOKEND_DEVICES_H
#define TOKEND_DEVICES_H

struct loop;
struct devices;

/* Starts the watchers and adds the queue (and the udev monitor) to the
 * loop. Without udev (a container) it goes on with PC/SC alone. Needs the
 * worker pool and the front end up. Returns 0 or a TK_ERR_*. */
int devices_new(struct loop *loop, struct devices **out);
/* Stops the watchers (PC/SC first, then udev), waits for the job under way
 * and drops what is still queued. Loop thread, before frontend_fini. */
void devices_free(struct devices **d);

#endif
