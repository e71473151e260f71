/* The PIV driver: PIV smart cards and YubiKeys in PC/SC readers, as tokens
 * of the driver interface (driver.h). */
#ifndef TOKEND_DRIVERS_PIV_DRIVER_H
#define TOKEND_DRIVERS_PIV_DRIVER_H

#include "driver.h"

/* A driver with its own pcscd connection (made on first use, re-made with
 * back-off when pcscd goes away). Free it with drv->ops->free(drv) after
 * closing its tokens. */
int piv_driver_new(struct tk_driver **out);

#endif
