/* The module driver: the tokens of one PKCS#11 module ([module NAME] in
 * tokend.conf), served through driver.h like any other token. The module
 * runs in its own helper process (link.h); each of its tokens is a device
 * "module:NAME:SLOTID" that the driver announces itself (there is no PC/SC
 * event for it): into a hotplug queue (module_driver_watch) as
 * HOTPLUG_MODULE_TOKEN messages, and through the driver's scan()/wait(). */
#ifndef TOKEND_MODULE_DRIVER_H
#define TOKEND_MODULE_DRIVER_H

#include "driver.h"
#include "drv_config.h"

struct hotplug_queue;

/* How often the module's slot list is read again when the module has no
 * C_WaitForSlotEvent (SoftHSMv2): a token created meanwhile shows up. */
#define MODULE_POLL_MS 2000u

/* Starts the module's helper and returns the driver at once (the helper
 * comes up in the background; its tokens are announced as it does).
 * Returns 0 or a negative TK_ERR_* (TK_ERR_NOT_FOUND: no helper
 * executable; TK_ERR_ARG: a bad cfg, e.g. a token URI that does not
 * parse). */
int module_driver_new(const struct drv_module_cfg *cfg, struct tk_driver **out);
/* The same for all->modules[self], which may need to know the readers the
 * other drivers own (an OpenSC module's OPENSC_CONF, opensc_conf.h). */
int module_driver_new_in(const struct drv_config *all, size_t self,
			 struct tk_driver **out);

/* Whether drv is a module driver. */
bool module_driver_is(const struct tk_driver *drv);

/* From now on the driver pushes its tokens' arrivals and departures into
 * q (which must outlive the driver), starting with the tokens present now.
 * One queue per driver. */
void module_driver_watch(struct tk_driver *drv, struct hotplug_queue *q);

/* Clients look at the slots (drivers_attend): the probes of a module
 * without slot events, which back off while they find nothing new, come
 * at poll_ms again (and stay there while a client waits for events). */
void module_driver_attend(struct tk_driver *drv, bool waiting);

/* Reads the slot list again now (tests; a wake() does the same). */
void module_driver_rescan(struct tk_driver *drv);

/* For tests: the helper's process id (0 when none is up) and the
 * generation up. */
void module_driver_helper(struct tk_driver *drv, pid_t *pid, uint64_t *gen);

#endif
