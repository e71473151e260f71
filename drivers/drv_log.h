/* Driver diagnostics: one line on stderr, only when TOKEND_DEBUG is set
 * (the drivers also run inside other programs as a PKCS#11 module, which
 * must stay quiet). Never pass PINs, keys or decrypted data.
 *
 * DRV_NOTICE is for the few lines an operator needs (a state file skipped,
 * a TPM gone or in lockout, a wrong PIN counted): the daemon routes them
 * into its own log (drv_log_set_sink); elsewhere they are DRV_LOG lines.
 * DRV_WARN is for a failure the operator must see (a module's helper died):
 * a warning in the daemon's log, elsewhere always on stderr. */
#ifndef TOKEND_DRIVERS_LOG_H
#define TOKEND_DRIVERS_LOG_H

#include <stdbool.h>

void drv_log(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void drv_notice(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* fn NULL: the line says where it comes from itself. */
void drv_warn(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Where DRV_NOTICE and DRV_WARN lines go (the line without a newline,
 * warning true for DRV_WARN); NULL: stderr. Set once at start, before any
 * driver runs. */
typedef void (*drv_log_sink)(bool warning, const char *line);
void drv_log_set_sink(drv_log_sink sink);

#define DRV_LOG(...) drv_log(__func__, __VA_ARGS__)
#define DRV_NOTICE(...) drv_notice(__func__, __VA_ARGS__)
#define DRV_WARN(...) drv_warn(__func__, __VA_ARGS__)

#endif
