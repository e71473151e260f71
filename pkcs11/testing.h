/* Test hooks of the module; not exported from tokend-pkcs11.so. */
#ifndef TOKEND_PKCS11_TESTING_H
#define TOKEND_PKCS11_TESTING_H

#include "frontend.h"

/* The next C_Initialize uses these drivers (taking ownership of the array
 * and the drivers) instead of frontend_module_drivers(). One-shot. */
void frontend_set_drivers_for_test(struct tk_driver **drivers, size_t n);
/* With those drivers, device events come from this queue (a scripted
 * watcher: the test pushes hotplug messages) instead of a PC/SC watcher;
 * NULL: none. Kept until changed; the queue must outlive C_Finalize. */
struct hotplug_queue;
void frontend_set_queue_for_test(struct hotplug_queue *q);

#endif
