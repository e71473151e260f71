/* The PIV driver: scans PC/SC readers and opens the PIV card in one. */
#include <stdlib.h>

#include "piv_driver.h"
#include "piv_int.h"

struct piv_driver {
	struct tk_driver base;
	struct pcsc_ctx *pcsc;
};

static struct piv_driver *driver_of(struct tk_driver *drv)
{
	return (struct piv_driver *)drv;
}

static int driver_scan(struct tk_driver *drv, struct tk_device **list,
		       size_t *n)
{
	if (!list || !n)
		return TK_ERR_ARG;
	return pcsc_scan(driver_of(drv)->pcsc, list, n);
}

static int driver_open(struct tk_driver *drv, const char *device,
		       struct tk_token **out)
{
	if (!device || !out)
		return TK_ERR_ARG;
	return piv_token_open(driver_of(drv)->pcsc, device, out);
}

static int driver_wait(struct tk_driver *drv, unsigned timeout_ms)
{
	return pcsc_wait(driver_of(drv)->pcsc, timeout_ms);
}

static void driver_wake(struct tk_driver *drv)
{
	pcsc_wake(driver_of(drv)->pcsc);
}

static void driver_free(struct tk_driver *drv)
{
	struct piv_driver *d = driver_of(drv);

	if (!d)
		return;
	pcsc_ctx_free(&d->pcsc);
	free(d);
}

static const struct tk_driver_ops piv_driver_ops = {
	.name = "piv",
	.scan = driver_scan,
	.open = driver_open,
	.free = driver_free,
	.wait = driver_wait,
	.wake = driver_wake,
	.attr_on_device = piv_attr_on_device,
};

int piv_driver_new(struct tk_driver **out)
{
	struct piv_driver *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return TK_ERR_NOMEM;
	rc = pcsc_ctx_new(&d->pcsc);
	if (rc) {
		free(d);
		return rc;
	}
	d->base.ops = &piv_driver_ops;
	*out = &d->base;
	return 0;
}
