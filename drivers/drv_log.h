/* Driver diagnostics: one line on stderr, only when TOKEND_DEBUG is set
 * (the drivers also run inside other programs as a PKCS#11 module, which
 * must stay quiet). Never pass PINs, keys or decrypted data. */
#ifndef TOKEND_DRIVERS_LOG_H
#define TOKEND_DRIVERS_LOG_H

void drv_log(const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define DRV_LOG(...) drv_log(__func__, __VA_ARGS__)

#endif
