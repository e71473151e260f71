/* The drivers a module or daemon uses by default. The single place that
 * names a driver: pkcs11/ and daemon/ see only driver.h and this. */
#ifndef TOKEND_DRIVERS_REGISTRY_H
#define TOKEND_DRIVERS_REGISTRY_H

#include <stddef.h>

#include "driver.h"

/* A new array of the default drivers (*out freed with free() after each
 * driver's ops->free). A driver that cannot start is left out and logged;
 * returns 0 or TK_ERR_NOMEM. */
int drivers_default(struct tk_driver ***out, size_t *n);

#endif
