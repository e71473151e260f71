/* The driver sections of tokend.conf, shared by the daemon and the
 * in-process module (which reads only these sections, never an export's
 * pin-file):
 *
 *   [piv]            enabled = yes|no, readers = GLOB, GLOB ...
 *   [module NAME]    path, env = KEY=VALUE (repeatable), tokens = URI ...,
 *                    readers = GLOB, ..., timeout = seconds
 *   [tpm]            enabled = yes|no, tcti, state, label,
 *                    in-process = yes|no, srk-handle = 0x81......
 *
 * Reader globs (fnmatch) are comma-separated (reader names contain
 * spaces). A card is served by exactly one driver: a reader a module
 * claims is left alone by the PIV driver, which serves only the readers
 * its own globs match (none: every other reader).
 *
 * The file is read with inih through drv_ini_parse(), which both the
 * daemon's parser (daemon/config.c, every section) and drv_config_load()
 * (the module: driver sections only) use, so errors name FILE:LINE the
 * same way. Nothing here is secret. */
#ifndef TOKEND_DRV_CONFIG_H
#define TOKEND_DRV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DRV_MODULE_TIMEOUT_DEFAULT 60 /* seconds */
#define DRV_MODULE_TIMEOUT_MAX 3600
#define DRV_CONFIG_PATH "/etc/tokend/tokend.conf"
#define DRV_CONFIG_ENV "TOKEND_CONF" /* the module's config file */

struct drv_piv_cfg {
	bool enabled;   /* default yes */
	char **readers; /* globs; none: every reader not claimed elsewhere */
	size_t nreaders;
};

struct drv_module_cfg {
	char name[64]; /* [module NAME] */
	char *path;    /* the PKCS#11 module file */
	char **env;    /* "KEY=VALUE" for the helper process */
	size_t nenv;
	char **tokens; /* PKCS#11 URIs: only these tokens; none: all */
	size_t ntokens;
	char **readers; /* globs of PC/SC readers the module owns */
	size_t nreaders;
	unsigned timeout; /* seconds per module call; 0: the default */
	unsigned line;    /* of the section header, for messages */
};

#define DRV_TPM_TCTI_DEFAULT "device:/dev/tpmrm0"
#define DRV_TPM_DEVICE "/dev/tpmrm0"
#define DRV_STATE_DIR_DEFAULT "/var/lib/tokend"

struct drv_tpm_cfg {
	int enabled;         /* -1: not said (yes when a TPM is present or tcti
				is given), 0 no, 1 yes */
	char *tcti;          /* NULL: DRV_TPM_TCTI_DEFAULT */
	char *state;         /* NULL: tpm/ under the state directory */
	char *label;         /* NULL: the host name */
	bool in_process;     /* the in-process module serves the TPM too */
	uint32_t srk_handle; /* 0: none (the SRK is recreated) */
};

struct drv_config {
	struct drv_piv_cfg piv;
	struct drv_tpm_cfg tpm;
	/* [tokend] state-dir (the daemon sets it; NULL: the default). */
	char *state_dir;
	/* Loaded by the in-process module (drv_config_load). */
	bool in_process;
	struct drv_module_cfg *modules;
	size_t nmodules;
};

/* The defaults: PIV on every reader, no module. */
int drv_config_new(struct drv_config **out);
void drv_config_free(struct drv_config **cfg);

/* The module's loader: the driver sections of path; every other section
 * ([tokend], [export NAME], ...) is skipped unread. A file that does not
 * exist (ENOENT) gives the defaults. On failure returns TK_ERR_IO (cannot
 * open or read) or TK_ERR_INVALID (malformed) and writes "FILE:LINE:
 * reason" (or "FILE: reason") to err. */
int drv_config_load(const char *path, struct drv_config **out, char *err,
		    size_t errlen);

/* Whether a reader name matches one of the globs. */
bool drv_globs_match(char *const *globs, size_t n, const char *reader);
/* A section's NAME ([module NAME], [export NAME]): letters, digits, "_.-",
 * at least one. */
bool drv_config_name_ok(const char *name);

/* ---- parsing inside another parser (daemon/config.c) ---- */

/* One pass's state over one struct drv_config. */
struct drv_parse {
	struct drv_config *cfg;
	/* -1: outside, 0: [piv], k: cfg->modules[k - 1], DRV_CUR_TPM */
	int cur;
	uint32_t seen; /* single-value keys seen in this section */
	unsigned piv_line, tpm_line;
};

#define DRV_CUR_TPM (-2)

void drv_parse_init(struct drv_parse *p, struct drv_config *cfg);
/* Whether [section] is a driver section. */
bool drv_parse_is_section(const char *section);
/* A section header at line: 0 when it is a driver section (now current),
 * 1 when it is not (p is outside), TK_ERR_INVALID with why, or
 * TK_ERR_NOMEM. */
int drv_parse_section(struct drv_parse *p, const char *section, unsigned line,
		      char *why, size_t whylen);
/* key = value in the current driver section: 0, TK_ERR_INVALID with why
 * (unknown key, bad value, duplicate), or TK_ERR_NOMEM. */
int drv_parse_key(struct drv_parse *p, const char *key, const char *value,
		  char *why, size_t whylen);
/* Checks that need the whole file (a module without path): 0 or
 * TK_ERR_INVALID with why and the line it concerns. */
int drv_parse_finish(struct drv_parse *p, unsigned *line, char *why,
		     size_t whylen);

/* ---- the INI reader both parsers use ---- */

struct drv_ini_ops {
	/* A section header (also an indented one); nonzero stops. */
	int (*section)(void *user, const char *section, unsigned line);
	/* key = value (a continuation line repeats key); nonzero stops. */
	int (*key)(void *user, const char *section, const char *key,
		   const char *value, unsigned line);
	/* Optional: whether the lines of the current section are skipped
	 * unparsed (the module's loader: sections not its own). */
	bool (*skip)(void *user);
	/* A problem of the file itself; line 0: not of one line. */
	void (*fail)(void *user, unsigned line, const char *why);
};

/* inih over f with line counting (so every error names its line) and a
 * UTF-8 BOM skipped. Returns 0, the first nonzero an op returned, or
 * TK_ERR_INVALID / TK_ERR_IO / TK_ERR_NOMEM after ops->fail(). */
int drv_ini_parse(FILE *f, const struct drv_ini_ops *ops, void *user);

#endif
