/* The driver sections of tokend.conf, shared by the daemon and the
 * in-process module (which reads only these sections, never an export's
 * pin-file):
 *
 *   [piv]            enabled = yes|no, readers = GLOB, GLOB ...
 *   [module NAME]    path, env = KEY=VALUE (repeatable), tokens = URI ...,
 *                    readers = GLOB, ..., timeout = seconds
 *
 * Reader globs are comma-separated (reader names contain spaces). A card is
 * served by exactly one driver: the first whose readers match. */
#ifndef TOKEND_DRV_CONFIG_H
#define TOKEND_DRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define DRV_MODULE_TIMEOUT_DEFAULT 60 /* seconds */

struct drv_piv_cfg {
	bool enabled;    /* default yes */
	char **readers;  /* globs; none: every reader not claimed elsewhere */
	size_t nreaders;
};

struct drv_module_cfg {
	char name[64];    /* [module NAME] */
	char *path;       /* the PKCS#11 module file */
	char **env;       /* "KEY=VALUE" for the helper process */
	size_t nenv;
	char **tokens;    /* PKCS#11 URIs: only these tokens; none: all */
	size_t ntokens;
	char **readers;   /* globs of PC/SC readers the module owns */
	size_t nreaders;
	unsigned timeout; /* seconds per module call; 0: the default */
};

struct drv_config {
	struct drv_piv_cfg piv;
	struct drv_module_cfg *modules;
	size_t nmodules;
};

#endif
