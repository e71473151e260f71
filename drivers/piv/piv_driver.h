/* The PIV driver: PIV smart cards and YubiKeys in PC/SC readers, as tokens
 * of the driver interface (driver.h). */
#ifndef TOKEND_DRIVERS_PIV_DRIVER_H
#define TOKEND_DRIVERS_PIV_DRIVER_H

#include "driver.h"
#include "drv_config.h"

/* A driver with its own pcscd connection (made on first use, re-made with
 * back-off when pcscd goes away). It serves the readers cfg's [piv]
 * readers match (none: every reader) that no [module NAME] readers claim;
 * open() answers TK_ERR_NOT_FOUND for any other at once. cfg NULL: every
 * reader. cfg is not kept. Free it with drv->ops->free(drv) after closing
 * its tokens. */
int piv_driver_new(const struct drv_config *cfg, struct tk_driver **out);

#endif
