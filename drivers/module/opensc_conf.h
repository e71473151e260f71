/* One owner per card for a bridged module that opens PC/SC readers itself:
 * OpenSC's opensc-pkcs11.so, or any [module NAME] given `readers`. Such a
 * module's helper gets an OPENSC_CONF that tokend writes (a private
 * directory, mode 0600) whose ignored_readers keeps OpenSC off the readers
 * the module does not own.
 *
 * Ownership (osc_reader_mine): a module with `readers` owns the readers its
 * globs match; a module without them (OpenSC left at its defaults) owns
 * the readers nobody else does (no other module's globs, and not served by
 * the PIV driver). The PIV driver already leaves every reader a module
 * claims alone (drivers/piv/piv_driver.c).
 *
 * OpenSC reads its config once, at C_Initialize, and its ignored_readers
 * are substrings (strstr), not globs. So the list holds (1) the exact names
 * of the readers present when the helper starts that the module does not
 * own, and (2) for readers still to come, the longest literal part of each
 * other owner's glob ("Yubico YubiKey*" gives "Yubico YubiKey") unless a
 * reader the module owns contains it. A reader that arrives later and that
 * this list gets wrong (OpenSC would use it though another driver owns it,
 * or would ignore one the module owns) makes the list stale: tokend writes
 * it again and restarts the helper, before the module's next slot-list
 * read (which is when OpenSC looks for new readers). Readers that leave
 * never need a restart. */
#ifndef TOKEND_MODULE_OPENSC_CONF_H
#define TOKEND_MODULE_OPENSC_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "drv_config.h"

#define OSC_ENV "OPENSC_CONF"

/* Who owns which readers, from the config (copies: the config may go). */
struct osc_owners {
	char **mine; /* this module's globs; none: what nobody else owns */
	size_t nmine;
	bool piv_on;
	char **piv; /* the PIV driver's globs; none: every unclaimed one */
	size_t npiv;
	char **others; /* every other module's globs */
	size_t nothers;
};

/* The ignored_readers of one helper start, and the readers known then. */
struct osc_plan {
	char **ignore;
	size_t nignore;
	char **known;
	size_t nknown;
};

/* Whether module self of all gets an OPENSC_CONF: OpenSC's module (by its
 * file name) or any module with `readers`. */
bool osc_wanted(const struct drv_module_cfg *m);

int osc_owners_make(const struct drv_config *all, size_t self,
		    struct osc_owners *o);
void osc_owners_clear(struct osc_owners *o);
bool osc_reader_mine(const struct osc_owners *o, const char *reader);

/* The longest run of literal characters in a glob, into out (size bytes);
 * 0, or TK_ERR_NOT_FOUND when it has none ("*"). */
int osc_glob_literal(const char *glob, char *out, size_t size);

/* The plan for readers present now (n names). */
int osc_plan_make(const struct osc_owners *o, char *const *readers, size_t n,
		  struct osc_plan *p);
void osc_plan_clear(struct osc_plan *p);
/* Whether OpenSC, configured by p, would treat one of the readers present
 * now differently from the ownership rule (only readers p did not know:
 * for those it knew, p is as right as a substring list can be). */
bool osc_plan_stale(const struct osc_owners *o, const struct osc_plan *p,
		    char *const *readers, size_t n);
/* OpenSC's config text for p, for module name. */
void osc_plan_render(const struct osc_plan *p, const char *name,
		     struct buf *out);

/* ---- the file and the readers (PC/SC) ---- */

struct osc;

/* The file for module self, written for the readers present now (none
 * when pcscd cannot be reached: later arrivals make it stale). *out is
 * NULL (and 0 returned) when the module needs none (osc_wanted), or when
 * its env sets OPENSC_CONF itself (then the user's file decides). */
int osc_new(const struct drv_config *all, size_t self, struct osc **out);
void osc_free(struct osc **o);
/* "OPENSC_CONF=PATH" for the helper's environment. */
const char *osc_env(const struct osc *o);
/* Lists the readers and, when the plan is stale, writes the file again:
 * 1 (the helper must restart to read it), 0 (nothing to do, or pcscd not
 * reachable), or a negative TK_ERR_* when the file could not be written. */
int osc_refresh(struct osc *o);

#endif
