/* The driver sections of tokend.conf (see drv_config.h) and the INI reader
 * that the daemon's parser shares. */
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

#include "drv_config.h"
#include "error.h"

/* ---- the INI reader ---- */

struct drv_ini {
	FILE *f;
	const struct drv_ini_ops *ops;
	void *user;
	unsigned line; /* of the chunk inih is working on */
	char section[128];
	int stop; /* what an op returned, or our own failure */
};

static void ini_section(struct drv_ini *in, const char *section, unsigned line)
{
	snprintf(in->section, sizeof(in->section), "%s", section);
	if (!in->stop)
		in->stop = in->ops->section(in->user, section, line);
}

/* fgets for inih that counts lines and spots section headers, so that an
 * error found before the section's first key names the right line. */
static char *ini_read_line(char *str, int num, void *user)
{
	struct drv_ini *in = user;
	char *s = fgets(str, num, in->f), *end;
	size_t len;

	if (s == NULL)
		return NULL;
	in->line++;
	len = strlen(s);
	if (len > 0 && s[len - 1] != '\n' && !feof(in->f)) {
		char why[96];

		snprintf(why, sizeof(why),
			 "line longer than %d characters (split lists over "
			 "indented continuation lines)",
			 num - 2);
		if (!in->stop) {
			in->ops->fail(in->user, in->line, why);
			in->stop = TK_ERR_INVALID;
		}
		return NULL;
	}
	if (in->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	if (s[0] != '[' && in->ops->skip && in->ops->skip(in->user)) {
		strcpy(str, "\n"); /* another's section: not even parsed */
		return str;
	}
	if (s[0] != '[' || in->stop)
		return str;
	if ((end = strchr(s, ']')) == NULL)
		return str; /* inih reports the syntax error */
	*end = '\0';
	ini_section(in, s + 1, in->line);
	*end = ']';
	return str;
}

static int ini_on_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct drv_ini *in = user;
	char why[160];

	if (in->stop)
		return 1;
	/* A header our reader did not see (indented): take it here. */
	if (strcmp(section, in->section) != 0)
		ini_section(in, section, in->line);
	if (in->stop)
		return 0;
	if (section[0] == '\0') {
		snprintf(why, sizeof(why), "key '%s' outside of a section",
			 name);
		in->ops->fail(in->user, in->line, why);
		in->stop = TK_ERR_INVALID;
		return 0;
	}
	in->stop = in->ops->key(in->user, section, name, value, in->line);
	return in->stop == 0;
}

int drv_ini_parse(FILE *f, const struct drv_ini_ops *ops, void *user)
{
	struct drv_ini in = { .f = f, .ops = ops, .user = user };
	int ir = ini_parse_stream(ini_read_line, &in, ini_on_key, &in);

	if (in.stop)
		return in.stop;
	if (ir > 0) {
		ops->fail(user, (unsigned)ir,
			  "syntax error (expected [section], key = value or "
			  "a comment)");
		return TK_ERR_INVALID;
	}
	if (ir < 0) {
		ops->fail(user, 0, "cannot parse (out of memory)");
		return TK_ERR_NOMEM;
	}
	if (ferror(f)) {
		ops->fail(user, 0, "read error");
		return TK_ERR_IO;
	}
	return 0;
}

/* ---- values ---- */

static int why_set(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return TK_ERR_INVALID;
}

static int strv_add(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = reallocarray(*v, *n + 1, sizeof(**v));

	if (!nv)
		return TK_ERR_NOMEM;
	*v = nv;
	if (!(nv[*n] = strndup(s, len)))
		return TK_ERR_NOMEM;
	(*n)++;
	return 0;
}

static void strv_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* Comma-separated globs, each trimmed of blanks. */
static int globs_add(char ***v, size_t *n, const char *s, char *why,
		     size_t whylen)
{
	for (;;) {
		size_t len = strcspn(s, ","), a = strspn(s, " \t"), b = len;
		int r;

		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b == a)
			return why_set(why, whylen,
				       "empty reader glob in '%s' (globs are "
				       "separated by commas)",
				       s);
		if ((r = strv_add(v, n, s + a, b - a)) != 0)
			return r;
		if (s[len] == '\0')
			return 0;
		s += len + 1;
	}
}

bool drv_globs_match(char *const *globs, size_t n, const char *reader)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], reader, 0) == 0)
			return true;
	return false;
}

bool drv_config_name_ok(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name; name++)
		if (!strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789_.-",
			*name))
			return false;
	return true;
}

/* ---- [piv] ---- */

static int piv_enabled(struct drv_parse *p, const char *v, char *why,
		       size_t len)
{
	if (strcmp(v, "yes") == 0)
		p->cfg->piv.enabled = true;
	else if (strcmp(v, "no") == 0)
		p->cfg->piv.enabled = false;
	else
		return why_set(why, len, "bad enabled '%s': expected yes or no",
			       v);
	return 0;
}

static int piv_readers(struct drv_parse *p, const char *v, char *why,
		       size_t len)
{
	struct drv_piv_cfg *c = &p->cfg->piv;

	return globs_add(&c->readers, &c->nreaders, v, why, len);
}

/* ---- [module NAME] ---- */

static struct drv_module_cfg *cur_module(struct drv_parse *p)
{
	return &p->cfg->modules[p->cur - 1];
}

static int module_path(struct drv_parse *p, const char *v, char *why,
		       size_t len)
{
	if (v[0] != '/')
		return why_set(why, len, "module path must be absolute: '%s'",
			       v);
	return (cur_module(p)->path = strdup(v)) ? 0 : TK_ERR_NOMEM;
}

static int module_env(struct drv_parse *p, const char *v, char *why, size_t len)
{
	struct drv_module_cfg *m = cur_module(p);
	size_t k = strcspn(v, "=");

	if (v[k] != '=' || k == 0 ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_") != k ||
	    (v[0] >= '0' && v[0] <= '9'))
		return why_set(why, len,
			       "bad env '%s': expected KEY=VALUE, KEY of "
			       "letters, digits and '_' (one per env line)",
			       v);
	return strv_add(&m->env, &m->nenv, v, strlen(v));
}

/* Whitespace-separated token URIs, checked as p11-kit reads them. */
static int module_tokens(struct drv_parse *p, const char *v, char *why,
			 size_t len)
{
	struct drv_module_cfg *m = cur_module(p);

	for (;;) {
		size_t n;
		char *item;
		P11KitUri *uri;
		int ur, r;

		v += strspn(v, " \t");
		if ((n = strcspn(v, " \t")) == 0)
			return 0;
		if (!(item = strndup(v, n)) || !(uri = p11_kit_uri_new())) {
			free(item);
			return TK_ERR_NOMEM;
		}
		ur = p11_kit_uri_parse(item, P11_KIT_URI_FOR_TOKEN, uri);
		p11_kit_uri_free(uri);
		if (ur != P11_KIT_URI_OK)
			r = why_set(why, len, "bad PKCS#11 token URI '%s': %s",
				    item, p11_kit_uri_message(ur));
		else
			r = strv_add(&m->tokens, &m->ntokens, item, n);
		free(item);
		if (r)
			return r;
		v += n;
	}
}

static int module_readers(struct drv_parse *p, const char *v, char *why,
			  size_t len)
{
	struct drv_module_cfg *m = cur_module(p);

	return globs_add(&m->readers, &m->nreaders, v, why, len);
}

static int module_timeout(struct drv_parse *p, const char *v, char *why,
			  size_t len)
{
	char *end;
	unsigned long t;

	errno = 0;
	t = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || t < 1 ||
	    t > DRV_MODULE_TIMEOUT_MAX)
		return why_set(why, len,
			       "bad timeout '%s': expected seconds from 1 to "
			       "%d",
			       v, DRV_MODULE_TIMEOUT_MAX);
	cur_module(p)->timeout = (unsigned)t;
	return 0;
}

/* ---- [tpm] ---- */

static int yes_no(const char *key, const char *v, bool *out, char *why,
		  size_t len)
{
	if (strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0)
		*out = false;
	else
		return why_set(why, len, "bad %s '%s': expected yes or no", key,
			       v);
	return 0;
}

static int tpm_enabled(struct drv_parse *p, const char *v, char *why,
		       size_t len)
{
	bool b = false;
	int r = yes_no("enabled", v, &b, why, len);

	if (r == 0)
		p->cfg->tpm.enabled = b;
	return r;
}

static int tpm_in_process(struct drv_parse *p, const char *v, char *why,
			  size_t len)
{
	return yes_no("in-process", v, &p->cfg->tpm.in_process, why, len);
}

static int tpm_str(char **dst, const char *v)
{
	free(*dst);
	return (*dst = strdup(v)) ? 0 : TK_ERR_NOMEM;
}

/* An explicit TCTI: device:PATH, swtpm:..., mssim:... (never the loader's
 * probing, which may try D-Bus). */
static int tpm_tcti(struct drv_parse *p, const char *v, char *why, size_t len)
{
	if (!strchr(v, ':') || v[0] == ':')
		return why_set(why, len,
			       "bad tcti '%s': expected NAME:CONFIG, e.g. "
			       "device:/dev/tpmrm0 or "
			       "swtpm:host=127.0.0.1,port=2321",
			       v);
	return tpm_str(&p->cfg->tpm.tcti, v);
}

static int tpm_state(struct drv_parse *p, const char *v, char *why, size_t len)
{
	if (v[0] != '/')
		return why_set(why, len, "state must be absolute: '%s'", v);
	return tpm_str(&p->cfg->tpm.state, v);
}

static int tpm_label(struct drv_parse *p, const char *v, char *why, size_t len)
{
	if (strlen(v) > 32 || !v[0])
		return why_set(why, len,
			       "bad label '%s': 1 to 32 bytes (a PKCS#11 "
			       "token label)",
			       v);
	return tpm_str(&p->cfg->tpm.label, v);
}

static int tpm_srk(struct drv_parse *p, const char *v, char *why, size_t len)
{
	char *end;
	unsigned long h;

	errno = 0;
	h = strtoul(v, &end, 16);
	if (strncmp(v, "0x", 2) != 0 || *end || errno || (h >> 24) != 0x81 ||
	    h > 0xFFFFFFFFul)
		return why_set(why, len,
			       "bad srk-handle '%s': expected a persistent "
			       "handle 0x81000000 to 0x81FFFFFF",
			       v);
	p->cfg->tpm.srk_handle = (uint32_t)h;
	return 0;
}

struct drv_key {
	const char *name;
	int (*set)(struct drv_parse *p, const char *v, char *why, size_t len);
	bool list; /* may repeat (continuation lines append) */
};

static const struct drv_key piv_keys[] = {
	{ "enabled", piv_enabled, false },
	{ "readers", piv_readers, true },
	{ NULL, NULL, false },
};

static const struct drv_key module_keys[] = {
	{ "path", module_path, false },
	{ "env", module_env, true },
	{ "tokens", module_tokens, true },
	{ "readers", module_readers, true },
	{ "timeout", module_timeout, false },
	{ NULL, NULL, false },
};

static const struct drv_key tpm_keys[] = {
	{ "enabled", tpm_enabled, false },
	{ "tcti", tpm_tcti, false },
	{ "state", tpm_state, false },
	{ "label", tpm_label, false },
	{ "in-process", tpm_in_process, false },
	{ "srk-handle", tpm_srk, false },
	{ NULL, NULL, false },
};

/* ---- sections ---- */

void drv_parse_init(struct drv_parse *p, struct drv_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->cur = -1;
}

bool drv_parse_is_section(const char *section)
{
	return strcmp(section, "piv") == 0 || strcmp(section, "tpm") == 0 ||
	       (strncmp(section, "module", 6) == 0 &&
		(section[6] == ' ' || section[6] == '\t'));
}

static int module_section(struct drv_parse *p, const char *name, unsigned line,
			  char *why, size_t len)
{
	struct drv_config *cfg = p->cfg;
	struct drv_module_cfg *v;

	if (!drv_config_name_ok(name) || strlen(name) >= sizeof(v->name))
		return why_set(why, len,
			       "bad module name '%s': up to %zu letters, "
			       "digits, '_', '.', '-'",
			       name, sizeof(v->name) - 1);
	for (size_t i = 0; i < cfg->nmodules; i++)
		if (strcmp(cfg->modules[i].name, name) == 0)
			return why_set(why, len,
				       "duplicate section [module %s] (first "
				       "at line %u)",
				       name, cfg->modules[i].line);
	v = reallocarray(cfg->modules, cfg->nmodules + 1, sizeof(*v));
	if (!v)
		return TK_ERR_NOMEM;
	cfg->modules = v;
	v = &cfg->modules[cfg->nmodules++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->timeout = DRV_MODULE_TIMEOUT_DEFAULT;
	v->line = line;
	p->cur = (int)cfg->nmodules;
	return 0;
}

int drv_parse_section(struct drv_parse *p, const char *section, unsigned line,
		      char *why, size_t whylen)
{
	p->cur = -1;
	p->seen = 0;
	if (!drv_parse_is_section(section))
		return 1;
	if (strcmp(section, "tpm") == 0) {
		if (p->tpm_line)
			return why_set(why, whylen,
				       "duplicate section [tpm] (first at "
				       "line %u)",
				       p->tpm_line);
		p->tpm_line = line;
		p->cur = DRV_CUR_TPM;
		return 0;
	}
	if (strcmp(section, "piv") != 0)
		return module_section(p,
				      section + 6 + strspn(section + 6, " \t"),
				      line, why, whylen);
	if (p->piv_line)
		return why_set(why, whylen,
			       "duplicate section [piv] (first at line %u)",
			       p->piv_line);
	p->piv_line = line;
	p->cur = 0;
	return 0;
}

int drv_parse_key(struct drv_parse *p, const char *key, const char *value,
		  char *why, size_t whylen)
{
	const struct drv_key *k = p->cur == 0             ? piv_keys
				  : p->cur == DRV_CUR_TPM ? tpm_keys
							  : module_keys;
	const char *section = p->cur == 0             ? "[piv]"
			      : p->cur == DRV_CUR_TPM ? "[tpm]"
						      : "[module ...]";
	uint32_t bit = 1;

	if (p->cur == -1)
		return why_set(why, whylen, "key '%s' outside of a section",
			       key);
	for (; k->name; k++, bit <<= 1) {
		if (strcmp(k->name, key) != 0)
			continue;
		if (!k->list && (p->seen & bit))
			return why_set(why, whylen, "duplicate key '%s' in %s",
				       key, section);
		p->seen |= bit;
		return k->set(p, value, why, whylen);
	}
	if (p->cur > 0)
		return why_set(why, whylen, "unknown key '%s' in [module %s]",
			       key, cur_module(p)->name);
	return why_set(why, whylen, "unknown key '%s' in %s", key, section);
}

int drv_parse_finish(struct drv_parse *p, unsigned *line, char *why,
		     size_t whylen)
{
	for (size_t i = 0; i < p->cfg->nmodules; i++) {
		const struct drv_module_cfg *m = &p->cfg->modules[i];

		if (!m->path) {
			*line = m->line;
			return why_set(why, whylen,
				       "[module %s] has no 'path' key",
				       m->name);
		}
	}
	return 0;
}

/* ---- the config ---- */

int drv_config_new(struct drv_config **out)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return TK_ERR_NOMEM;
	(*out)->piv.enabled = true;
	(*out)->tpm.enabled = -1;
	return 0;
}

void drv_config_free(struct drv_config **pcfg)
{
	struct drv_config *cfg = *pcfg;

	if (!cfg)
		return;
	*pcfg = NULL;
	strv_free(&cfg->piv.readers, &cfg->piv.nreaders);
	free(cfg->tpm.tcti);
	free(cfg->tpm.state);
	free(cfg->tpm.label);
	free(cfg->state_dir);
	for (size_t i = 0; i < cfg->nmodules; i++) {
		struct drv_module_cfg *m = &cfg->modules[i];

		free(m->path);
		strv_free(&m->env, &m->nenv);
		strv_free(&m->tokens, &m->ntokens);
		strv_free(&m->readers, &m->nreaders);
	}
	free(cfg->modules);
	free(cfg);
}

/* ---- the module's loader ---- */

struct drv_load {
	const char *path;
	struct drv_parse parse;
	char *err;
	size_t errlen;
};

static void load_fail(void *user, unsigned line, const char *why)
{
	struct drv_load *l = user;

	if (line)
		snprintf(l->err, l->errlen, "%s:%u: %s", l->path, line, why);
	else
		snprintf(l->err, l->errlen, "%s: %s", l->path, why);
}

static int load_section(void *user, const char *section, unsigned line)
{
	struct drv_load *l = user;
	char why[256];
	int r = drv_parse_section(&l->parse, section, line, why, sizeof(why));

	if (r == TK_ERR_INVALID)
		load_fail(l, line, why);
	return r == 1 ? 0 : r; /* another section: skipped */
}

static int load_key(void *user, const char *section, const char *key,
		    const char *value, unsigned line)
{
	struct drv_load *l = user;
	char why[640];
	int r;

	r = drv_parse_key(&l->parse, key, value, why, sizeof(why));
	if (r == TK_ERR_INVALID)
		load_fail(l, line, why);
	return r;
}

static bool load_skip(void *user)
{
	return ((struct drv_load *)user)->parse.cur == -1;
}

static const struct drv_ini_ops load_ops = {
	.section = load_section,
	.skip = load_skip,
	.key = load_key,
	.fail = load_fail,
};

int drv_config_load(const char *path, struct drv_config **out, char *err,
		    size_t errlen)
{
	struct drv_load l = { .path = path, .err = err, .errlen = errlen };
	struct drv_config *cfg = NULL;
	char why[128];
	unsigned line = 0;
	FILE *f;
	int r;

	*out = NULL;
	err[0] = '\0';
	if ((r = drv_config_new(&cfg)) != 0)
		return r;
	cfg->in_process = true;
	if (!(f = fopen(path, "re"))) {
		if (errno == ENOENT) {
			*out = cfg;
			return 0;
		}
		load_fail(&l, 0, strerror(errno));
		drv_config_free(&cfg);
		return TK_ERR_IO;
	}
	drv_parse_init(&l.parse, cfg);
	r = drv_ini_parse(f, &load_ops, &l);
	if (r == 0 &&
	    (r = drv_parse_finish(&l.parse, &line, why, sizeof(why))) != 0)
		load_fail(&l, line, why);
	fclose(f);
	if (r == 0)
		*out = cfg;
	else
		drv_config_free(&cfg);
	return r;
}
