/* Single config values: ids, modes, sizes, lists, URIs. */
#include "config_value.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define CV_NAME_MAX 256

static int cv_number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return TK_ERR_INVALID;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return TK_ERR_INVALID;
	*out = v;
	return 0;
}

int config_value_user(const char *s, uid_t *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	unsigned long v;

	/* (uid_t)-1 means "no change" to chown: never a valid id here. */
	if (cv_number(s, UINT32_MAX - 1, &v) == 0) {
		*out = (uid_t)v;
		return 0;
	}
	if (getpwnam_r(s, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return TK_ERR_NOT_FOUND;
	*out = pw.pw_uid;
	return 0;
}

int config_value_group(const char *s, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[16384];
	unsigned long v;

	if (cv_number(s, UINT32_MAX - 1, &v) == 0) {
		*out = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(s, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return TK_ERR_NOT_FOUND;
	*out = gr.gr_gid;
	return 0;
}

int config_value_mode(const char *s, mode_t *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 4)
		return TK_ERR_INVALID;
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return TK_ERR_INVALID;
		v = v * 8 + (unsigned long)(*s - '0');
	}
	if (v > 0777)
		return TK_ERR_INVALID;
	*out = (mode_t)v;
	return 0;
}

int config_value_size(const char *s, size_t min, size_t max, size_t *out)
{
	char digits[32];
	size_t len = strlen(s), mul = 1;
	unsigned long v;

	if (len == 0 || len >= sizeof(digits))
		return TK_ERR_INVALID;
	memcpy(digits, s, len + 1);
	if (digits[len - 1] == 'K' || digits[len - 1] == 'k')
		mul = 1024;
	else if (digits[len - 1] == 'M')
		mul = 1024 * 1024;
	if (mul != 1)
		digits[len - 1] = '\0';
	if (cv_number(digits, ULONG_MAX, &v) != 0 ||
	    __builtin_mul_overflow((size_t)v, mul, out) || *out < min ||
	    *out > max)
		return TK_ERR_INVALID;
	return 0;
}

/* Splits off the next item; returns its length, 0 at the end. */
static size_t cv_next(const char **s, const char *seps)
{
	size_t n;

	*s += strspn(*s, seps);
	n = strcspn(*s, seps);
	return n;
}

static int cv_item(const char **s, const char *seps, char *item, size_t itemlen,
		   char *bad, size_t badlen)
{
	size_t n = cv_next(s, seps);

	if (n == 0)
		return 0;
	if (n >= itemlen) {
		snprintf(bad, badlen, "%.*s", (int)n, *s);
		*s += n;
		return TK_ERR_INVALID;
	}
	memcpy(item, *s, n);
	item[n] = '\0';
	*s += n;
	return 1;
}

int config_value_uid_list(const char *s, uid_t **v, size_t *n, char *bad,
			  size_t badlen)
{
	char item[CV_NAME_MAX];
	uid_t id, *nv;
	int r;

	while ((r = cv_item(&s, ", \t", item, sizeof(item), bad, badlen)) > 0) {
		if (config_value_user(item, &id) != 0) {
			snprintf(bad, badlen, "%s", item);
			return TK_ERR_NOT_FOUND;
		}
		if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL)
			return TK_ERR_NOMEM;
		*v = nv;
		nv[(*n)++] = id;
	}
	return r == 0 ? 0 : TK_ERR_NOT_FOUND;
}

int config_value_gid_list(const char *s, gid_t **v, size_t *n, char *bad,
			  size_t badlen)
{
	char item[CV_NAME_MAX];
	gid_t id, *nv;
	int r;

	while ((r = cv_item(&s, ", \t", item, sizeof(item), bad, badlen)) > 0) {
		if (config_value_group(item, &id) != 0) {
			snprintf(bad, badlen, "%s", item);
			return TK_ERR_NOT_FOUND;
		}
		if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL)
			return TK_ERR_NOMEM;
		*v = nv;
		nv[(*n)++] = id;
	}
	return r == 0 ? 0 : TK_ERR_NOT_FOUND;
}

static int cv_uri_add(const char *item, int flags, P11KitUri ***uris,
		      char ***strs, size_t *n, const char **why)
{
	P11KitUri *uri, **nu;
	char *str, **ns;
	int ur;

	if ((uri = p11_kit_uri_new()) == NULL)
		return TK_ERR_NOMEM;
	ur = p11_kit_uri_parse(item, flags, uri);
	if (ur != P11_KIT_URI_OK) {
		*why = p11_kit_uri_message(ur);
		p11_kit_uri_free(uri);
		return TK_ERR_INVALID;
	}
	nu = reallocarray(*uris, *n + 1, sizeof(*nu));
	if (nu != NULL)
		*uris = nu;
	ns = reallocarray(*strs, *n + 1, sizeof(*ns));
	if (ns != NULL)
		*strs = ns;
	if (nu == NULL || ns == NULL || (str = strdup(item)) == NULL) {
		p11_kit_uri_free(uri);
		return TK_ERR_NOMEM;
	}
	(*uris)[*n] = uri;
	(*strs)[(*n)++] = str;
	return 0;
}

int config_value_uri_list(const char *s, int flags, P11KitUri ***uris,
			  char ***strs, size_t *n, char *bad, size_t badlen,
			  const char **why)
{
	char item[2048];
	int r;

	*why = "too long";
	while ((r = cv_item(&s, " \t", item, sizeof(item), bad, badlen)) > 0) {
		r = cv_uri_add(item, flags, uris, strs, n, why);
		if (r == TK_ERR_INVALID)
			snprintf(bad, badlen, "%s", item);
		if (r != 0)
			return r;
	}
	return r;
}
