/* Test hooks of the module; not exported from tokend-pkcs11.so. */
#ifndef TOKEND_PKCS11_TESTING_H
#define TOKEND_PKCS11_TESTING_H

#include "frontend.h"

/* The next C_Initialize uses these drivers (taking ownership of the array
 * and the drivers) instead of frontend_default_drivers(). One-shot. */
void frontend_set_drivers_for_test(struct tk_driver **drivers, size_t n);

#endif
