/* See registry.h. */
#include <stdlib.h>

#include "drv_log.h"
#include "piv_driver.h"
#include "registry.h"
#ifdef TOKEND_HAVE_MODULE_DRIVER
#include "module_driver.h"
#endif

/* [module NAME]: the module bridge, when it is built. */
static int registry_module(const struct drv_config *cfg, size_t i,
			   struct tk_driver **out)
{
#ifdef TOKEND_HAVE_MODULE_DRIVER
	return module_driver_new_in(cfg, i, out);
#else
	const struct drv_module_cfg *m = &cfg->modules[i];

	*out = NULL;
	DRV_LOG("[module %s]: this build has no module bridge", m->name);
	return TK_ERR_UNSUPPORTED;
#endif
}

int drivers_from_config(const struct drv_config *cfg, struct tk_driver ***out,
			size_t *n)
{
	size_t max = 1 + (cfg ? cfg->nmodules : 0), k = 0;
	struct tk_driver **list;
	int r;

	*out = NULL;
	*n = 0;
	if (!(list = calloc(max, sizeof(*list))))
		return TK_ERR_NOMEM;
	if (cfg && !cfg->piv.enabled)
		DRV_LOG("PIV driver: disabled by [piv] enabled = no");
	else if ((r = piv_driver_new(cfg, &list[k])) == 0)
		k++;
	else if (r == TK_ERR_NOMEM)
		goto out;
	else
		DRV_LOG("PIV driver: %s; serving no PIV tokens",
			tk_strerror(r));
	for (size_t i = 0; cfg && i < cfg->nmodules; i++) {
		if ((r = registry_module(cfg, i, &list[k])) == 0)
			k++;
		else if (r == TK_ERR_NOMEM)
			goto out;
		else
			DRV_LOG("[module %s]: %s; serving none of its tokens",
				cfg->modules[i].name, tk_strerror(r));
	}
	*out = list;
	*n = k;
	return 0;
out:
	while (k > 0) {
		k--;
		list[k]->ops->free(list[k]);
	}
	free(list);
	return TK_ERR_NOMEM;
}

void drivers_watch(struct tk_driver **list, size_t n, struct hotplug_queue *q)
{
#ifdef TOKEND_HAVE_MODULE_DRIVER
	for (size_t i = 0; i < n; i++)
		if (list[i] && module_driver_is(list[i]))
			module_driver_watch(list[i], q);
#else
	(void)list;
	(void)n;
	(void)q;
#endif
}
