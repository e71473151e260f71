/* Parsers for single config values. Each returns 0 or a TK_ERR_*; on
 * TK_ERR_NOT_FOUND / TK_ERR_INVALID for a list the offending item is copied
 * to bad. Lists are separated by commas and/or white space and append to
 * what *v already holds. */
#ifndef TOKEND_CONFIG_VALUE_H
#define TOKEND_CONFIG_VALUE_H

#include <stddef.h>
#include <sys/types.h>

#include <p11-kit/uri.h>

/* A user or group name, or a decimal id. */
int config_value_user(const char *s, uid_t *out);
int config_value_group(const char *s, gid_t *out);
/* Octal digits, at most 0777. */
int config_value_mode(const char *s, mode_t *out);
/* Decimal with an optional K or M (x1024, x1024^2) suffix, in [min, max]. */
int config_value_size(const char *s, size_t min, size_t max, size_t *out);

int config_value_uid_list(const char *s, uid_t **v, size_t *n, char *bad,
			  size_t badlen);
int config_value_gid_list(const char *s, gid_t **v, size_t *n, char *bad,
			  size_t badlen);
/* PKCS#11 URIs parsed with flags (P11_KIT_URI_FOR_TOKEN,
 * ..._FOR_OBJECT_ON_TOKEN), separated by white space only (a URI may contain
 * commas). *why gets p11-kit's message on failure. */
int config_value_uri_list(const char *s, int flags, P11KitUri ***uris,
			  char ***strs, size_t *n, char *bad, size_t badlen,
			  const char **why);

#endif
