/* The drivers a module or daemon uses, built from the driver sections of
 * the config (drv_config.h). The single place that names a driver:
 * pkcs11/ and daemon/ see only driver.h, drv_config.h and this. */
#ifndef TOKEND_DRIVERS_REGISTRY_H
#define TOKEND_DRIVERS_REGISTRY_H

#include <stddef.h>

#include "driver.h"
#include "drv_config.h"

/* A new array of the drivers cfg asks for, in the order the front end
 * probes them: PIV (unless [piv] enabled = no), then each [module NAME] in
 * the file's order, then the TPM ([tpm], tpm/tpm_driver.h). cfg NULL: the
 * defaults (PIV on every reader). *out is freed with free() after each driver's
 * ops->free. A driver that cannot start is left out and logged; returns 0 or
 * TK_ERR_NOMEM. */
int drivers_from_config(const struct drv_config *cfg, struct tk_driver ***out,
			size_t *n);

struct hotplug_queue;

/* Drivers whose tokens no hardware watcher sees (a bridged module's)
 * announce them into q from now on; the others ignore it. Once per list. */
void drivers_watch(struct tk_driver **list, size_t n, struct hotplug_queue *q);

/* A hardware watcher's message that may concern a driver's device (a TPM
 * resource manager, /dev/tpmrm*, appeared): the driver looks again now
 * instead of at the end of its back-off. The others ignore it. */
struct hotplug_msg;
void drivers_hint(struct tk_driver **list, size_t n,
		  const struct hotplug_msg *m);

/* Clients look at the slots (C_GetSlotList's size query,
 * C_WaitForSlotEvent); waiting: whether one waits for slot events now.
 * Drivers that poll with back-off (drv_poll.h: the TPM's liveness check,
 * a module's probes) poll at their shortest interval again, and stay
 * there while a client waits. Never waits on a device; any thread. */
void drivers_attend(struct tk_driver **list, size_t n, bool waiting);

#endif
