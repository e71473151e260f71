/* See registry.h. */
#include <stdlib.h>

#include "drv_log.h"
#include "piv_driver.h"
#include "registry.h"
#ifdef TOKEND_HAVE_MODULE_DRIVER
#include "module_driver.h"
#endif
#ifdef TOKEND_HAVE_TPM_DRIVER
#include "tpm_driver.h"
#endif

/* [tpm]: TK_ERR_NOT_FOUND when off. */
static int registry_tpm(const struct drv_config *cfg, struct tk_driver **out)
{
	*out = NULL;
	if (!cfg)
		return TK_ERR_NOT_FOUND;
#ifdef TOKEND_HAVE_TPM_DRIVER
	return tpm_driver_new(cfg, out);
#else
	if (cfg->tpm.enabled == 1 || cfg->tpm.tcti)
		DRV_LOG("[tpm]: this build has no TPM driver");
	return TK_ERR_NOT_FOUND;
#endif
}

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
	size_t max = 2 + (cfg ? cfg->nmodules : 0), k = 0;
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
	if ((r = registry_tpm(cfg, &list[k])) == 0)
		k++;
	else if (r == TK_ERR_NOMEM)
		goto out;
	else if (r != TK_ERR_NOT_FOUND)
		DRV_LOG("TPM driver: %s; serving no TPM token", tk_strerror(r));
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

static _Thread_local uint64_t caller;

void tk_caller_set(uint64_t who)
{
	caller = who;
}

uint64_t tk_caller(void)
{
	return caller;
}

void drivers_watch(struct tk_driver **list, size_t n, struct hotplug_queue *q)
{
#if defined(TOKEND_HAVE_MODULE_DRIVER) || defined(TOKEND_HAVE_TPM_DRIVER)
	for (size_t i = 0; i < n; i++) {
#ifdef TOKEND_HAVE_MODULE_DRIVER
		if (list[i] && module_driver_is(list[i]))
			module_driver_watch(list[i], q);
#endif
#ifdef TOKEND_HAVE_TPM_DRIVER
		if (list[i] && tpm_driver_is(list[i]))
			tpm_driver_watch(list[i], q);
#endif
	}
#else
	(void)list;
	(void)n;
	(void)q;
#endif
}

void drivers_attend(struct tk_driver **list, size_t n, bool waiting)
{
	for (size_t i = 0; i < n; i++) {
#ifdef TOKEND_HAVE_MODULE_DRIVER
		if (list[i] && module_driver_is(list[i]))
			module_driver_attend(list[i], waiting);
#endif
#ifdef TOKEND_HAVE_TPM_DRIVER
		if (list[i] && tpm_driver_is(list[i]))
			tpm_driver_attend(list[i], waiting);
#endif
	}
	(void)list;
	(void)waiting;
}

void drivers_hint(struct tk_driver **list, size_t n,
		  const struct hotplug_msg *m)
{
#ifdef TOKEND_HAVE_TPM_DRIVER
	for (size_t i = 0; i < n; i++)
		if (list[i] && tpm_driver_is(list[i]))
			tpm_driver_hint(list[i], m);
#else
	(void)list;
	(void)n;
	(void)m;
#endif
}
