/* The PIV driver: opens the PIV card in a PC/SC reader it serves. */
#include <stdlib.h>
#include <string.h>

#include "piv_driver.h"
#include "piv_int.h"

struct piv_driver {
	struct tk_driver base;
	struct pcsc_ctx *pcsc;
	/* Readers served: matching one of only (none: every reader) and
	 * none of skip (the readers modules claim). Copies of the config's
	 * globs. */
	char **only, **skip;
	size_t nonly, nskip;
};

static struct piv_driver *driver_of(struct tk_driver *drv)
{
	return (struct piv_driver *)drv;
}

static bool driver_serves(const struct piv_driver *d, const char *reader)
{
	return (d->nonly == 0 || drv_globs_match(d->only, d->nonly, reader)) &&
	       !drv_globs_match(d->skip, d->nskip, reader);
}

static int driver_open(struct tk_driver *drv, const char *device,
		       struct tk_token **out)
{
	struct piv_driver *d = driver_of(drv);

	if (!device || !out)
		return TK_ERR_ARG;
	*out = NULL;
	if (!driver_serves(d, device))
		return TK_ERR_NOT_FOUND; /* another driver's: no card I/O */
	return piv_token_open(d->pcsc, device, out);
}

static void globs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void driver_free(struct tk_driver *drv)
{
	struct piv_driver *d = driver_of(drv);

	if (!d)
		return;
	pcsc_ctx_free(&d->pcsc);
	globs_free(d->only, d->nonly);
	globs_free(d->skip, d->nskip);
	free(d);
}

static const struct tk_driver_ops piv_driver_ops = {
	.name = "piv",
	.open = driver_open,
	.free = driver_free,
	.attr_on_device = piv_attr_on_device,
};

/* Appends copies of n globs to *v. */
static int globs_copy(char ***v, size_t *nv, char *const *g, size_t n)
{
	char **nw;

	if (n == 0)
		return 0;
	if (!(nw = reallocarray(*v, *nv + n, sizeof(*nw))))
		return TK_ERR_NOMEM;
	*v = nw;
	for (size_t i = 0; i < n; i++, (*nv)++)
		if (!(nw[*nv] = strdup(g[i])))
			return TK_ERR_NOMEM;
	return 0;
}

int piv_driver_new(const struct drv_config *cfg, struct tk_driver **out)
{
	struct piv_driver *d = calloc(1, sizeof(*d));
	int rc = TK_ERR_NOMEM;

	*out = NULL;
	if (!d)
		return TK_ERR_NOMEM;
	d->base.ops = &piv_driver_ops;
	if (cfg && (rc = globs_copy(&d->only, &d->nonly, cfg->piv.readers,
				    cfg->piv.nreaders)) != 0)
		goto out;
	for (size_t i = 0; cfg && i < cfg->nmodules; i++)
		if ((rc = globs_copy(&d->skip, &d->nskip,
				     cfg->modules[i].readers,
				     cfg->modules[i].nreaders)) != 0)
			goto out;
	rc = pcsc_ctx_new(&d->pcsc);
out:
	if (rc)
		driver_free(&d->base);
	else
		*out = &d->base;
	return rc;
}
