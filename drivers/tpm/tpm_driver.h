/* The TPM driver: the TPM 2.0 as one token ([tpm] in tokend.conf). Its
 * token is the device "tpm:TPM", announced as a HOTPLUG_MODULE_TOKEN
 * message (a token no hardware watcher reports, like a bridged module's)
 * when the TPM answers, and withdrawn when it stops answering. */
#ifndef TOKEND_TPM_DRIVER_H
#define TOKEND_TPM_DRIVER_H

#include <stdbool.h>

#include "driver.h"
#include "drv_config.h"

#define TPM_DEVICE_NAME "tpm:TPM"

struct hotplug_queue;

/* TK_ERR_NOT_FOUND when [tpm] is off (or auto and no TPM present). */
int tpm_driver_new(const struct drv_config *cfg, struct tk_driver **out);
bool tpm_driver_is(const struct tk_driver *drv);
void tpm_driver_watch(struct tk_driver *drv, struct hotplug_queue *q);

struct hotplug_msg;
/* A TPM resource manager appeared (udev): while the TPM is not open, the
 * thread tries now instead of at the end of its back-off. */
void tpm_driver_hint(struct tk_driver *drv, const struct hotplug_msg *m);
/* Clients look at the slots (drivers_attend): the liveness check, which
 * backs off while the TPM answers, comes at its shortest interval again. */
void tpm_driver_attend(struct tk_driver *drv, bool waiting);

#endif
