/* Config file parsing and validation. The file is read by the drivers' INI
 * reader (drv_ini_parse: inih with lines counted, so every error names
 * its line); the driver sections ([piv], [module NAME]) are handed to the
 * drivers' parser (drv_config.c), the rest is checked here. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_value.h"
#include "error.h"
#include "log.h"
#include "secret.h"

struct cfg_parser {
	const char *path;
	unsigned line; /* of the key or header being read */
	struct config *cfg;
	struct export_conf *cur; /* NULL in [tokend] */
	struct drv_parse drv;    /* the driver sections */
	bool in_tokend;
	bool in_driver;
	uint32_t seen; /* scalar keys seen in this section */
	char *err;
	size_t errlen;
	bool failed;
};

struct cfg_key {
	const char *name;
	int (*set)(struct cfg_parser *p, const char *value);
	bool list; /* may repeat (continuation lines append) */
};

static void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_fail(struct cfg_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = true;
	n = line ? snprintf(p->err, p->errlen, "%s:%u: ", p->path, line)
		 : snprintf(p->err, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- [export NAME] keys ---- */

static int cfg_export_socket(struct cfg_parser *p, const char *v)
{
	struct sockaddr_un sun;

	if (v[0] != '/') {
		cfg_fail(p, p->line, "socket path must be absolute: '%s'", v);
		return TK_ERR_INVALID;
	}
	if (strlen(v) >= sizeof(sun.sun_path)) {
		cfg_fail(p, p->line, "socket path longer than %zu bytes: '%s'",
			 sizeof(sun.sun_path) - 1, v);
		return TK_ERR_INVALID;
	}
	for (size_t i = 0; i < p->cfg->n_exports; i++) {
		const struct export_conf *o = p->cfg->exports[i];

		if (o != p->cur && o->socket && strcmp(o->socket, v) == 0) {
			cfg_fail(p, p->line,
				 "socket %s is already used by [export %s] "
				 "(line %u)",
				 v, o->name, o->line);
			return TK_ERR_INVALID;
		}
	}
	if ((p->cur->socket = strdup(v)) == NULL)
		return TK_ERR_NOMEM;
	return 0;
}

static int cfg_export_owner(struct cfg_parser *p, const char *v)
{
	if (config_value_user(v, &p->cur->owner) != 0) {
		cfg_fail(p, p->line, "unknown user '%s'", v);
		return TK_ERR_INVALID;
	}
	return 0;
}

static int cfg_export_group(struct cfg_parser *p, const char *v)
{
	if (config_value_group(v, &p->cur->group) != 0) {
		cfg_fail(p, p->line, "unknown group '%s'", v);
		return TK_ERR_INVALID;
	}
	return 0;
}

static int cfg_export_mode(struct cfg_parser *p, const char *v)
{
	if (config_value_mode(v, &p->cur->mode) != 0) {
		cfg_fail(p, p->line,
			 "bad mode '%s': expected octal digits, at most 0777",
			 v);
		return TK_ERR_INVALID;
	}
	return 0;
}

static int cfg_export_allow_users(struct cfg_parser *p, const char *v)
{
	struct export_conf *ec = p->cur;
	char bad[128];
	int r;

	r = config_value_uid_list(v, &ec->allow_uids, &ec->n_allow_uids, bad,
				  sizeof(bad));
	if (r == TK_ERR_NOT_FOUND)
		cfg_fail(p, p->line, "unknown user '%s' in allow-users", bad);
	return r;
}

static int cfg_export_allow_groups(struct cfg_parser *p, const char *v)
{
	struct export_conf *ec = p->cur;
	char bad[128];
	int r;

	r = config_value_gid_list(v, &ec->allow_gids, &ec->n_allow_gids, bad,
				  sizeof(bad));
	if (r == TK_ERR_NOT_FOUND)
		cfg_fail(p, p->line, "unknown group '%s' in allow-groups", bad);
	return r;
}

/* A list of PKCS#11 URIs (tokens, objects, prefer); kind names them in
 * the error. */
static int cfg_export_uris(struct cfg_parser *p, const char *v, int flags,
			   const char *kind, P11KitUri ***uris, char ***strs,
			   size_t *n)
{
	char bad[512];
	const char *why = NULL;
	int r;

	r = config_value_uri_list(v, flags, uris, strs, n, bad, sizeof(bad),
				  &why);
	if (r == TK_ERR_INVALID)
		cfg_fail(p, p->line, "bad PKCS#11 %s URI '%s': %s", kind, bad,
			 why);
	return r;
}

/* prefer already names the tokens it shows: a tokens filter beside it
 * would only be a second, possibly contradicting, list. */
static int cfg_export_exclusive(struct cfg_parser *p, const char *key)
{
	cfg_fail(p, p->line,
		 "'%s' in [export %s]: 'prefer' and 'tokens' exclude each "
		 "other (prefer's URIs already say which tokens it shows)",
		 key, p->cur->name);
	return TK_ERR_INVALID;
}

static int cfg_export_tokens(struct cfg_parser *p, const char *v)
{
	struct export_conf *ec = p->cur;

	if (ec->n_prefer > 0)
		return cfg_export_exclusive(p, "tokens");
	return cfg_export_uris(p, v, P11_KIT_URI_FOR_TOKEN, "token",
			       &ec->tokens, &ec->token_strs, &ec->n_tokens);
}

static int cfg_export_prefer(struct cfg_parser *p, const char *v)
{
	struct export_conf *ec = p->cur;

	if (ec->n_tokens > 0)
		return cfg_export_exclusive(p, "prefer");
	return cfg_export_uris(p, v, P11_KIT_URI_FOR_TOKEN, "token",
			       &ec->prefer, &ec->prefer_strs, &ec->n_prefer);
}

static int cfg_export_objects(struct cfg_parser *p, const char *v)
{
	struct export_conf *ec = p->cur;

	return cfg_export_uris(p, v, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, "object",
			       &ec->objects, &ec->object_strs, &ec->n_objects);
}

static int cfg_export_access(struct cfg_parser *p, const char *v)
{
	if (strcmp(v, "full") == 0) {
		p->cur->access = EXPORT_ACCESS_FULL;
	} else if (strcmp(v, "read-only") == 0) {
		p->cur->access = EXPORT_ACCESS_READ_ONLY;
	} else if (strcmp(v, "admin") == 0) {
		p->cur->access = EXPORT_ACCESS_ADMIN;
	} else {
		cfg_fail(p, p->line,
			 "bad access '%s': expected 'read-only', 'full' or "
			 "'admin'",
			 v);
		return TK_ERR_INVALID;
	}
	return 0;
}

/* Reads the export's PIN from path for key (pin-file, pin-credential):
 * one PIN per export, the same checks whichever key names it. */
static int cfg_export_pin_read(struct cfg_parser *p, const char *key,
			       const char *path)
{
	struct export_conf *ec = p->cur;
	int r;

	if (ec->pin != NULL) {
		cfg_fail(p, p->line,
			 "%s: the export already has a PIN (pin-file and "
			 "pin-credential exclude each other)",
			 key);
		return TK_ERR_INVALID;
	}
	/* Type, mode and owner are checked on the opened file. */
	r = secret_read_file(path, CONFIG_PIN_MAX, &ec->pin);
	if (r == TK_ERR_IO)
		cfg_fail(p, p->line, "%s %s: %s", key, path, strerror(errno));
	else if (r == TK_ERR_DENIED)
		cfg_fail(p, p->line,
			 "%s %s must be a regular file that group and "
			 "others cannot access (mode 0600 or stricter), owned "
			 "by root or the daemon's user, not on /proc, /sys or "
			 "another kernel pseudo file system",
			 key, path);
	else if (r == TK_ERR_TOO_LARGE)
		cfg_fail(p, p->line,
			 "%s %s: longer than %d bytes, the longest PIN "
			 "tokend can send to a token",
			 key, path, CONFIG_PIN_MAX);
	else if (r == TK_ERR_INVALID)
		cfg_fail(p, p->line, "%s %s is empty", key, path);
	if (r != 0)
		return r == TK_ERR_NOMEM ? r : TK_ERR_INVALID;
	if ((ec->pin_file = strdup(path)) == NULL)
		return TK_ERR_NOMEM;
	return 0;
}

static int cfg_export_pin_file(struct cfg_parser *p, const char *v)
{
	if (v[0] != '/') {
		cfg_fail(p, p->line, "pin-file path must be absolute: '%s'", v);
		return TK_ERR_INVALID;
	}
	return cfg_export_pin_read(p, "pin-file", v);
}

/* A systemd credential (LoadCredential=, LoadCredentialEncrypted=): the
 * file NAME in $CREDENTIALS_DIRECTORY, which systemd sets for the service
 * (decrypted, mode 0400, owned by the service's user). */
static int cfg_export_pin_credential(struct cfg_parser *p, const char *v)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[PATH_MAX];
	int n;

	if (v[0] == 0 || strchr(v, '/') || strcmp(v, ".") == 0 ||
	    strcmp(v, "..") == 0) {
		cfg_fail(p, p->line,
			 "pin-credential must be a credential's name, not a "
			 "path: '%s'",
			 v);
		return TK_ERR_INVALID;
	}
	if (dir == NULL || dir[0] != '/') {
		cfg_fail(p, p->line,
			 "pin-credential %s: $CREDENTIALS_DIRECTORY is not set "
			 "(give the unit LoadCredential=%s:... or "
			 "LoadCredentialEncrypted=%s:...)",
			 v, v, v);
		return TK_ERR_INVALID;
	}
	n = snprintf(path, sizeof(path), "%s/%s", dir, v);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		cfg_fail(p, p->line, "pin-credential %s: path too long", v);
		return TK_ERR_INVALID;
	}
	return cfg_export_pin_read(p, "pin-credential", path);
}

static const struct cfg_key cfg_export_keys[] = {
	{ "socket", cfg_export_socket, false },
	{ "owner", cfg_export_owner, false },
	{ "group", cfg_export_group, false },
	{ "mode", cfg_export_mode, false },
	{ "allow-users", cfg_export_allow_users, true },
	{ "allow-groups", cfg_export_allow_groups, true },
	{ "tokens", cfg_export_tokens, true },
	{ "prefer", cfg_export_prefer, true },
	{ "objects", cfg_export_objects, true },
	{ "access", cfg_export_access, false },
	{ "pin-file", cfg_export_pin_file, false },
	{ "pin-credential", cfg_export_pin_credential, false },
	{ NULL, NULL, false },
};

/* ---- [tokend] keys ---- */

static int cfg_tokend_log_level(struct cfg_parser *p, const char *v)
{
	int level = log_level_parse(v);

	if (level < 0) {
		cfg_fail(p, p->line,
			 "bad log-level '%s': expected err, warning, notice, "
			 "info or debug",
			 v);
		return TK_ERR_INVALID;
	}
	p->cfg->log_level = level;
	return 0;
}

static int cfg_tokend_state_dir(struct cfg_parser *p, const char *v)
{
	if (v[0] != '/') {
		cfg_fail(p, p->line, "state-dir must be absolute: '%s'", v);
		return TK_ERR_INVALID;
	}
	free(p->cfg->state_dir);
	if ((p->cfg->state_dir = strdup(v)) == NULL)
		return TK_ERR_NOMEM;
	return 0;
}

static int cfg_limit(struct cfg_parser *p, const char *v, size_t min,
		     size_t max, size_t *out)
{
	if (config_value_size(v, min, max, out) != 0) {
		cfg_fail(p, p->line,
			 "bad value '%s': expected a number from "
			 "%zu to %zu (suffix K or M allowed)",
			 v, min, max);
		return TK_ERR_INVALID;
	}
	return 0;
}

static int cfg_tokend_max_conns(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 1, 65536,
			 &p->cfg->limits.max_connections_per_export);
}

static int cfg_tokend_max_sessions(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 1, 65536,
			 &p->cfg->limits.max_sessions_per_connection);
}

static int cfg_tokend_max_message(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 4096, 256u << 20,
			 &p->cfg->limits.max_message_size);
}

static int cfg_tokend_max_attrs(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 16, 65536, &p->cfg->limits.max_attributes);
}

static int cfg_tokend_max_peer_conns(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 1, 65536,
			 &p->cfg->limits.max_connections_per_peer);
}

static int cfg_tokend_max_workers(struct cfg_parser *p, const char *v)
{
	return cfg_limit(p, v, 2, 4096, &p->cfg->limits.max_workers);
}

static int cfg_tokend_small(struct cfg_parser *p, const char *v, size_t min,
			    size_t max, unsigned *out)
{
	size_t n;
	int r;

	if ((r = cfg_limit(p, v, min, max, &n)) == 0)
		*out = (unsigned)n;
	return r;
}

static int cfg_tokend_handshake_timeout(struct cfg_parser *p, const char *v)
{
	return cfg_tokend_small(p, v, 1, 3600,
				&p->cfg->limits.handshake_timeout);
}

static int cfg_tokend_pin_tries_reserved(struct cfg_parser *p, const char *v)
{
	return cfg_tokend_small(p, v, 0, 15,
				&p->cfg->limits.pin_tries_reserved);
}

static int cfg_tokend_control_socket(struct cfg_parser *p, const char *v)
{
	bool none = v[0] == '\0' || strcmp(v, "none") == 0;

	if (!none &&
	    (v[0] != '/' ||
	     strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
		cfg_fail(p, p->line,
			 "control-socket must be an absolute path that fits a "
			 "socket address, or none: '%s'",
			 v);
		return TK_ERR_INVALID;
	}
	free(p->cfg->control_socket);
	if ((p->cfg->control_socket = strdup(none ? "" : v)) == NULL)
		return TK_ERR_NOMEM;
	return 0;
}

static int cfg_tokend_control_group(struct cfg_parser *p, const char *v)
{
	if (config_value_group(v, &p->cfg->control_gid) != 0) {
		cfg_fail(p, p->line, "unknown control-group '%s'", v);
		return TK_ERR_INVALID;
	}
	return 0;
}

static const struct cfg_key cfg_tokend_keys[] = {
	{ "log-level", cfg_tokend_log_level, false },
	{ "state-dir", cfg_tokend_state_dir, false },
	{ "max-connections-per-export", cfg_tokend_max_conns, false },
	{ "max-sessions-per-connection", cfg_tokend_max_sessions, false },
	{ "max-message-size", cfg_tokend_max_message, false },
	{ "max-attributes", cfg_tokend_max_attrs, false },
	{ "max-connections-per-peer", cfg_tokend_max_peer_conns, false },
	{ "max-workers", cfg_tokend_max_workers, false },
	{ "handshake-timeout", cfg_tokend_handshake_timeout, false },
	{ "pin-tries-reserved", cfg_tokend_pin_tries_reserved, false },
	{ "control-socket", cfg_tokend_control_socket, false },
	{ "control-group", cfg_tokend_control_group, false },
	{ NULL, NULL, false },
};

/* ---- sections ---- */

static int cfg_export_new(const char *name, unsigned line,
			  struct export_conf **out)
{
	struct export_conf *ec;

	*out = NULL;
	if ((ec = calloc(1, sizeof(*ec))) == NULL)
		return TK_ERR_NOMEM;
	ec->refs = 1;
	pthread_mutex_init(&ec->pick_lock, NULL);
	ec->line = line;
	ec->owner = geteuid();
	if (config_value_group(CONFIG_GROUP, &ec->group) != 0)
		ec->group = getegid();
	ec->mode = 0660;
	ec->access = EXPORT_ACCESS_READ_ONLY;
	if ((ec->name = strdup(name)) == NULL) {
		export_conf_unref(&ec);
		return TK_ERR_NOMEM;
	}
	*out = ec;
	return 0;
}

static int cfg_add_export(struct config *cfg, struct export_conf *ec)
{
	struct export_conf **v;

	v = reallocarray(cfg->exports, cfg->n_exports + 1, sizeof(*v));
	if (v == NULL)
		return TK_ERR_NOMEM;
	cfg->exports = v;
	cfg->exports[cfg->n_exports++] = ec;
	return 0;
}

/* Called when a new section header is seen. */
static int cfg_section_begin(struct cfg_parser *p, const char *section,
			     unsigned line)
{
	struct export_conf *ec = NULL;
	const char *name;
	char why[256];
	int r;

	p->cur = NULL;
	p->in_tokend = false;
	p->in_driver = false;
	p->seen = 0;
	r = drv_parse_section(&p->drv, section, line, why, sizeof(why));
	if (r == TK_ERR_INVALID)
		cfg_fail(p, line, "%s", why);
	if (r <= 0) {
		p->in_driver = r == 0;
		return r;
	}
	if (strcmp(section, "tokend") == 0) {
		p->in_tokend = true;
		return 0;
	}
	if (strncmp(section, "export", 6) != 0 ||
	    (section[6] != ' ' && section[6] != '\t')) {
		cfg_fail(p, line, "unknown section [%s]", section);
		return TK_ERR_INVALID;
	}
	name = section + 6 + strspn(section + 6, " \t");
	if (!drv_config_name_ok(name)) {
		cfg_fail(p, line,
			 "bad export name '%s': use letters, digits, "
			 "'_', '.', '-'",
			 name);
		return TK_ERR_INVALID;
	}
	for (size_t i = 0; i < p->cfg->n_exports; i++) {
		if (strcmp(p->cfg->exports[i]->name, name) == 0) {
			cfg_fail(p, line,
				 "duplicate section [export %s] "
				 "(first at line %u)",
				 name, p->cfg->exports[i]->line);
			return TK_ERR_INVALID;
		}
	}
	if ((r = cfg_export_new(name, line, &ec)) != 0)
		return r;
	if ((r = cfg_add_export(p->cfg, ec)) != 0) {
		export_conf_unref(&ec);
		return r;
	}
	p->cur = ec;
	return 0;
}

static int cfg_section(void *user, const char *section, unsigned line)
{
	struct cfg_parser *p = user;

	p->line = line;
	return cfg_section_begin(p, section, line);
}

static int cfg_key(void *user, const char *section, const char *name,
		   const char *value, unsigned line)
{
	struct cfg_parser *p = user;
	const struct cfg_key *keys;
	uint32_t bit = 1;
	char why[640];
	int r;

	p->line = line;
	if (p->in_driver) {
		r = drv_parse_key(&p->drv, name, value, why, sizeof(why));
		if (r == TK_ERR_INVALID)
			cfg_fail(p, line, "%s", why);
		else if (r)
			cfg_fail(p, line, "out of memory");
		return r;
	}
	keys = p->in_tokend ? cfg_tokend_keys : cfg_export_keys;
	for (; keys->name; keys++, bit <<= 1) {
		if (strcmp(keys->name, name) != 0)
			continue;
		if (!keys->list && (p->seen & bit)) {
			cfg_fail(p, line, "duplicate key '%s' in [%s]", name,
				 section);
			return TK_ERR_INVALID;
		}
		p->seen |= bit;
		if ((r = keys->set(p, value)) != 0)
			cfg_fail(p, line, "out of memory");
		return r;
	}
	cfg_fail(p, line, "unknown key '%s' in [%s]", name, section);
	return TK_ERR_INVALID;
}

static void cfg_ini_fail(void *user, unsigned line, const char *why)
{
	cfg_fail(user, line, "%s", why);
}

static const struct drv_ini_ops cfg_ini_ops = {
	.section = cfg_section,
	.key = cfg_key,
	.fail = cfg_ini_fail,
};

/* Checks that need the whole file. */
static void cfg_finish(struct cfg_parser *p)
{
	char why[256];
	unsigned line = 0;

	if (!p->failed &&
	    drv_parse_finish(&p->drv, &line, why, sizeof(why)) != 0)
		cfg_fail(p, line, "%s", why);
	for (size_t i = 0; i < p->cfg->n_exports && !p->failed; i++) {
		const struct export_conf *ec = p->cfg->exports[i];

		if (ec->socket == NULL)
			cfg_fail(p, ec->line, "[export %s] has no 'socket' key",
				 ec->name);
	}
	if (!p->failed && p->cfg->n_exports == 0)
		cfg_fail(p, 0, "no [export NAME] section");
}

static int cfg_new(struct config **out)
{
	struct config *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return TK_ERR_NOMEM;
	cfg->log_level = LOG_INFO;
	cfg->limits.max_connections_per_export = 128;
	cfg->limits.max_sessions_per_connection = 64;
	cfg->limits.max_message_size = 1u << 20;
	cfg->limits.max_attributes = 256;
	cfg->limits.max_connections_per_peer = 32;
	cfg->limits.max_workers = 64;
	cfg->limits.handshake_timeout = 10;
	cfg->limits.pin_tries_reserved = 1;
	if ((cfg->state_dir = strdup(CONFIG_DEFAULT_STATE_DIR)) == NULL ||
	    (cfg->control_socket = strdup(CONFIG_DEFAULT_CONTROL)) == NULL ||
	    drv_config_new(&cfg->drivers) != 0) {
		config_free(&cfg);
		return TK_ERR_NOMEM;
	}
	if (config_value_group(CONFIG_CONTROL_GROUP, &cfg->control_gid) != 0)
		cfg->control_gid = (gid_t)-1;
	*out = cfg;
	return 0;
}

int config_default(struct config **out)
{
	struct config *cfg = NULL;
	struct export_conf *ec = NULL;
	int r;

	*out = NULL;
	if ((r = cfg_new(&cfg)) != 0)
		goto out;
	if ((r = cfg_export_new("default", 0, &ec)) != 0)
		goto out;
	r = TK_ERR_NOMEM;
	if ((ec->socket = strdup(CONFIG_DEFAULT_SOCKET)) == NULL)
		goto out;
	if ((r = cfg_add_export(cfg, ec)) != 0)
		goto out;
	ec = NULL;
	*out = cfg;
	cfg = NULL;
out:
	export_conf_unref(&ec);
	config_free(&cfg);
	return r;
}

int config_load(const char *path, bool must_exist, struct config **out,
		char *err, size_t errlen)
{
	struct cfg_parser p = { .path = path, .err = err, .errlen = errlen };
	FILE *f;
	int r;

	*out = NULL;
	err[0] = '\0';
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return config_default(out);
		cfg_fail(&p, 0, "%s", strerror(errno));
		return TK_ERR_IO;
	}
	if ((r = cfg_new(&p.cfg)) != 0)
		goto out;
	r = TK_ERR_NOMEM;
	if ((p.cfg->path = strdup(path)) == NULL)
		goto out;
	drv_parse_init(&p.drv, p.cfg->drivers);
	r = drv_ini_parse(f, &cfg_ini_ops, &p);
	cfg_finish(&p);
	if (p.failed) {
		r = r == TK_ERR_NOMEM || r == TK_ERR_IO ? r : TK_ERR_INVALID;
		goto out;
	}
	*out = p.cfg;
	p.cfg = NULL;
	r = 0;
out:
	fclose(f);
	config_free(&p.cfg);
	return r;
}

void config_free(struct config **p)
{
	struct config *cfg = *p;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_exports; i++)
		export_conf_unref(&cfg->exports[i]);
	free(cfg->exports);
	drv_config_free(&cfg->drivers);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->control_socket);
	free(cfg);
	*p = NULL;
}

const struct export_conf *config_find_export(const struct config *cfg,
					     const char *socket)
{
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (strcmp(cfg->exports[i]->socket, socket) == 0)
			return cfg->exports[i];
	return NULL;
}

struct export_conf *export_conf_ref(struct export_conf *ec)
{
	__atomic_add_fetch(&ec->refs, 1, __ATOMIC_RELAXED);
	return ec;
}

static void cfg_uris_free(P11KitUri **uris, char **strs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p11_kit_uri_free(uris[i]);
		free(strs[i]);
	}
	free(uris);
	free(strs);
}

void export_conf_unref(struct export_conf **p)
{
	struct export_conf *ec = *p;

	if (ec == NULL)
		return;
	*p = NULL;
	if (__atomic_sub_fetch(&ec->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	secret_destroy(&ec->pin);
	pthread_mutex_destroy(&ec->pick_lock);
	cfg_uris_free(ec->tokens, ec->token_strs, ec->n_tokens);
	cfg_uris_free(ec->prefer, ec->prefer_strs, ec->n_prefer);
	cfg_uris_free(ec->objects, ec->object_strs, ec->n_objects);
	free(ec->allow_uids);
	free(ec->allow_gids);
	free(ec->pin_file);
	free(ec->socket);
	free(ec->name);
	free(ec);
}

static bool cfg_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

bool export_conf_equal(const struct export_conf *a, const struct export_conf *b)
{
	if (!cfg_str_eq(a->name, b->name) ||
	    !cfg_str_eq(a->socket, b->socket) || a->owner != b->owner ||
	    a->group != b->group || a->mode != b->mode ||
	    a->access != b->access || !cfg_str_eq(a->pin_file, b->pin_file) ||
	    a->n_allow_uids != b->n_allow_uids ||
	    a->n_allow_gids != b->n_allow_gids || a->n_tokens != b->n_tokens ||
	    a->n_prefer != b->n_prefer || a->n_objects != b->n_objects)
		return false;
	if (a->n_allow_uids && memcmp(a->allow_uids, b->allow_uids,
				      a->n_allow_uids * sizeof(uid_t)) != 0)
		return false;
	if (a->n_allow_gids && memcmp(a->allow_gids, b->allow_gids,
				      a->n_allow_gids * sizeof(gid_t)) != 0)
		return false;
	for (size_t i = 0; i < a->n_tokens; i++)
		if (strcmp(a->token_strs[i], b->token_strs[i]) != 0)
			return false;
	for (size_t i = 0; i < a->n_objects; i++)
		if (strcmp(a->object_strs[i], b->object_strs[i]) != 0)
			return false;
	/* Order matters: it is the preference. */
	for (size_t i = 0; i < a->n_prefer; i++)
		if (strcmp(a->prefer_strs[i], b->prefer_strs[i]) != 0)
			return false;
	return true;
}
