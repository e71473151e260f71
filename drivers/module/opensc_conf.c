/* See opensc_conf.h: the ignored_readers of an OpenSC helper, the file
 * that carries them, and when it must be written again. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include "drv_log.h"
#include "error.h"
#include "opensc_conf.h"

#define OSC_MAX_READERS 64
#define OSC_MAX_LIST 65536 /* bytes of SCardListReaders' answer */

/* ---- string vectors ---- */

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = reallocarray(*v, *n + 1, sizeof(**v));

	if (!nv)
		return TK_ERR_NOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return TK_ERR_NOMEM;
	(*n)++;
	return 0;
}

static int strv_copy(char ***v, size_t *n, char *const *from, size_t nfrom)
{
	int r;

	for (size_t i = 0; i < nfrom; i++)
		if ((r = strv_add(v, n, from[i])) != 0)
			return r;
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

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* ---- ownership ---- */

bool osc_wanted(const struct drv_module_cfg *m)
{
	const char *base = strrchr(m->path, '/');

	base = base ? base + 1 : m->path;
	return m->nreaders > 0 || strstr(base, "opensc") != NULL;
}

int osc_owners_make(const struct drv_config *all, size_t self,
		    struct osc_owners *o)
{
	int r;

	memset(o, 0, sizeof(*o));
	if (self >= all->nmodules)
		return TK_ERR_ARG;
	o->piv_on = all->piv.enabled;
	if ((r = strv_copy(&o->mine, &o->nmine, all->modules[self].readers,
			   all->modules[self].nreaders)) != 0 ||
	    (r = strv_copy(&o->piv, &o->npiv, all->piv.readers,
			   all->piv.nreaders)) != 0)
		goto out;
	for (size_t i = 0; i < all->nmodules; i++)
		if (i != self && (r = strv_copy(&o->others, &o->nothers,
						all->modules[i].readers,
						all->modules[i].nreaders)) != 0)
			goto out;
	return 0;
out:
	osc_owners_clear(o);
	return r;
}

void osc_owners_clear(struct osc_owners *o)
{
	strv_free(&o->mine, &o->nmine);
	strv_free(&o->piv, &o->npiv);
	strv_free(&o->others, &o->nothers);
}

bool osc_reader_mine(const struct osc_owners *o, const char *reader)
{
	if (o->nmine)
		return drv_globs_match(o->mine, o->nmine, reader);
	if (drv_globs_match(o->others, o->nothers, reader))
		return false;
	/* The PIV driver serves what its globs match, or everything. */
	return !o->piv_on ||
	       (o->npiv && !drv_globs_match(o->piv, o->npiv, reader));
}

int osc_glob_literal(const char *glob, char *out, size_t size)
{
	size_t best = 0, run = 0;
	char cur[256];
	const char *s = glob;

	out[0] = '\0';
	for (;;) {
		char c = *s;
		bool lit = c && c != '*' && c != '?' && c != '[';

		if (c == '\\' && s[1])
			c = *++s; /* an escaped character is a literal one */
		if (lit) {
			if (run < sizeof(cur) - 1)
				cur[run++] = c;
			s++;
			continue;
		}
		if (run > best && run < size) {
			memcpy(out, cur, run);
			out[run] = '\0';
			best = run;
		}
		run = 0;
		if (c == '\0')
			break;
		if (c == '[') /* a bracket expression is one character */
			s += strcspn(s + 1, "]") + 1;
		if (*s)
			s++;
	}
	return best ? 0 : TK_ERR_NOT_FOUND;
}

/* What scconf can carry inside double quotes. */
static bool quotable(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static bool ignored_by(const struct osc_plan *p, const char *reader)
{
	for (size_t i = 0; i < p->nignore; i++)
		if (strstr(reader, p->ignore[i]))
			return true;
	return false;
}

/* The literal part of each other owner's glob, for readers to come, unless
 * a reader the module owns now contains it. */
static int plan_add_globs(struct osc_plan *p, char *const *globs, size_t ng,
			  char *const *readers, size_t n,
			  const struct osc_owners *o)
{
	char lit[256];
	int r;

	for (size_t g = 0; g < ng; g++) {
		bool hits_mine = false;

		if (osc_glob_literal(globs[g], lit, sizeof(lit)) != 0 ||
		    !quotable(lit) || strv_has(p->ignore, p->nignore, lit))
			continue;
		for (size_t i = 0; i < n && !hits_mine; i++)
			hits_mine = strstr(readers[i], lit) &&
				    osc_reader_mine(o, readers[i]);
		if (!hits_mine && (r = strv_add(&p->ignore, &p->nignore, lit)))
			return r;
	}
	return 0;
}

int osc_plan_make(const struct osc_owners *o, char *const *readers, size_t n,
		  struct osc_plan *p)
{
	int r = 0;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n && r == 0; i++) {
		r = strv_add(&p->known, &p->nknown, readers[i]);
		if (r || osc_reader_mine(o, readers[i]))
			continue;
		if (!quotable(readers[i])) {
			DRV_LOG("reader '%s': its name cannot go into "
				"OpenSC's ignored_readers",
				readers[i]);
			continue;
		}
		r = strv_add(&p->ignore, &p->nignore, readers[i]);
	}
	/* A name inside a name the module owns ignores that one too: one
	 * owner first, the module is told. */
	for (size_t i = 0; i < n && r == 0; i++)
		if (osc_reader_mine(o, readers[i]) && ignored_by(p, readers[i]))
			DRV_LOG("reader '%s' is the module's but OpenSC will "
				"ignore it: another reader's name is part of "
				"its name",
				readers[i]);
	if (r == 0 && o->piv_on)
		r = plan_add_globs(p, o->piv, o->npiv, readers, n, o);
	if (r == 0)
		r = plan_add_globs(p, o->others, o->nothers, readers, n, o);
	if (r)
		osc_plan_clear(p);
	return r;
}

void osc_plan_clear(struct osc_plan *p)
{
	strv_free(&p->ignore, &p->nignore);
	strv_free(&p->known, &p->nknown);
}

bool osc_plan_stale(const struct osc_owners *o, const struct osc_plan *p,
		    char *const *readers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strv_has(p->known, p->nknown, readers[i]) &&
		    ignored_by(p, readers[i]) == osc_reader_mine(o, readers[i]))
			return true;
	return false;
}

static void render_list(const struct osc_plan *p, const char *indent,
			struct buf *out)
{
	buf_add(out, indent, strlen(indent));
	buf_add(out, "ignored_readers = ", 18);
	for (size_t i = 0; i < p->nignore; i++) {
		if (i)
			buf_add(out, ", ", 2);
		buf_add(out, "\"", 1);
		buf_add(out, p->ignore[i], strlen(p->ignore[i]));
		buf_add(out, "\"", 1);
	}
	buf_add(out, ";\n", 2);
}

void osc_plan_render(const struct osc_plan *p, const char *name,
		     struct buf *out)
{
	static const char head[] =
	    "# Written by tokend for [module %s]: OpenSC stays off the\n"
	    "# PC/SC readers this module does not own. Rewritten (and the\n"
	    "# helper restarted) when the readers change; do not edit.\n"
	    "app default {\n";
	char line[sizeof(head) + 64];
	int k = snprintf(line, sizeof(line), head, name);

	buf_add(out, line, k > 0 ? (size_t)k : 0);
	/* OpenSC 0.22+ reads it here; older versions in the pkcs11 block. */
	if (p->nignore)
		render_list(p, "\t", out);
	buf_add(out, "\tpkcs11 {\n", 10);
	if (p->nignore)
		render_list(p, "\t\t", out);
	buf_add(out, "\t}\n}\n", 5);
}

/* ---- the file and PC/SC ---- */

struct osc {
	char name[64];
	struct osc_owners owners;
	struct osc_plan plan;
	char dir[PATH_MAX - 32];
	char path[PATH_MAX];
	char env[PATH_MAX + sizeof(OSC_ENV) + 1];
	SCARDCONTEXT h;
	bool h_on;
};

/* The readers pcscd lists now; TK_ERR_TRANSPORT when it cannot be asked
 * (the plan stays as it is). */
static int readers_list(struct osc *o, char ***v, size_t *n)
{
	DWORD len = 0;
	char *names = NULL;
	LONG rv;
	int r = 0;

	*v = NULL;
	*n = 0;
	if (!o->h_on && SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL,
					      &o->h) != SCARD_S_SUCCESS)
		return TK_ERR_TRANSPORT;
	o->h_on = true;
	rv = SCardListReaders(o->h, NULL, NULL, &len);
	if (rv == SCARD_S_SUCCESS && len > 0 && len <= OSC_MAX_LIST &&
	    (names = calloc(1, len + 1)) != NULL)
		rv = SCardListReaders(o->h, NULL, names, &len);
	if (rv == (LONG)SCARD_E_NO_READERS_AVAILABLE)
		goto out;
	if (rv != SCARD_S_SUCCESS || !names) {
		/* pcscd gone (Debian's exits when idle): a new context next
		 * time. */
		SCardReleaseContext(o->h);
		o->h_on = false;
		r = rv == SCARD_S_SUCCESS ? TK_ERR_NOMEM : TK_ERR_TRANSPORT;
		goto out;
	}
	for (char *s = names; *s && *n < OSC_MAX_READERS; s += strlen(s) + 1)
		if ((r = strv_add(v, n, s)) != 0)
			break;
out:
	free(names);
	if (r)
		strv_free(v, n);
	return r;
}

/* Writes the plan to o->path atomically (a helper starting meanwhile reads
 * the old file or the new one, never half of one). */
static int file_write(struct osc *o)
{
	char tmp[PATH_MAX + 8];
	struct buf b;
	int fd = -1, r = TK_ERR_IO;

	buf_init(&b, 1u << 20);
	osc_plan_render(&o->plan, o->name, &b);
	if (buf_failed(&b)) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", o->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ||
	    fsync(fd) != 0 || close(fd) != 0) {
		DRV_LOG("module %s: cannot write %s: %s", o->name, tmp,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, o->path) != 0) {
		DRV_LOG("module %s: cannot rename %s: %s", o->name, tmp,
			strerror(errno));
		unlink(tmp);
		goto out;
	}
	r = 0;
out:
	buf_free(&b);
	return r;
}

/* A fresh plan for the readers v and the file for it. */
static int replan(struct osc *o, char *const *v, size_t n)
{
	struct osc_plan p;
	int r;

	if ((r = osc_plan_make(&o->owners, v, n, &p)) != 0)
		return r;
	osc_plan_clear(&o->plan);
	o->plan = p;
	return file_write(o);
}

/* The runtime directory: systemd's (RuntimeDirectory=, the first of a
 * list), the user's, or /tmp; a private directory inside it. */
static int dir_make(struct osc *o)
{
	const char *base = getenv("RUNTIME_DIRECTORY");
	size_t len;

	if (!base || base[0] != '/')
		base = getenv("XDG_RUNTIME_DIR");
	if (!base || base[0] != '/')
		base = "/tmp";
	len = strcspn(base, ":");
	if (snprintf(o->dir, sizeof(o->dir), "%.*s/tokend-opensc.XXXXXX",
		     (int)len, base) >= (int)sizeof(o->dir) ||
	    !mkdtemp(o->dir)) {
		DRV_LOG("module %s: no private directory in %.*s: %s", o->name,
			(int)len, base, strerror(errno));
		o->dir[0] = '\0';
		return TK_ERR_IO;
	}
	snprintf(o->path, sizeof(o->path), "%s/opensc.conf", o->dir);
	snprintf(o->env, sizeof(o->env), "%s=%s", OSC_ENV, o->path);
	return 0;
}

static bool env_sets_conf(const struct drv_module_cfg *m)
{
	size_t k = strlen(OSC_ENV);

	for (size_t i = 0; i < m->nenv; i++)
		if (strncmp(m->env[i], OSC_ENV, k) == 0 && m->env[i][k] == '=')
			return true;
	return false;
}

int osc_new(const struct drv_config *all, size_t self, struct osc **out)
{
	const struct drv_module_cfg *m;
	struct osc *o;
	char **v = NULL;
	size_t n = 0;
	int r;

	*out = NULL;
	if (!all || self >= all->nmodules)
		return TK_ERR_ARG;
	m = &all->modules[self];
	if (!osc_wanted(m))
		return 0;
	if (env_sets_conf(m)) {
		DRV_LOG("module %s: its env sets %s: that file decides which "
			"readers OpenSC uses, not tokend",
			m->name, OSC_ENV);
		return 0;
	}
	if (!(o = calloc(1, sizeof(*o))))
		return TK_ERR_NOMEM;
	snprintf(o->name, sizeof(o->name), "%s", m->name);
	if ((r = osc_owners_make(all, self, &o->owners)) != 0 ||
	    (r = dir_make(o)) != 0)
		goto out;
	readers_list(o, &v, &n); /* none without pcscd: stale later */
	if ((r = replan(o, v, n)) != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	strv_free(&v, &n);
	osc_free(&o);
	return r;
}

void osc_free(struct osc **po)
{
	struct osc *o = *po;
	char tmp[PATH_MAX + 8];

	if (!o)
		return;
	*po = NULL;
	if (o->h_on)
		SCardReleaseContext(o->h);
	if (o->dir[0]) {
		snprintf(tmp, sizeof(tmp), "%s.new", o->path);
		unlink(tmp);
		unlink(o->path);
		rmdir(o->dir);
	}
	osc_plan_clear(&o->plan);
	osc_owners_clear(&o->owners);
	free(o);
}

const char *osc_env(const struct osc *o)
{
	return o->env;
}

int osc_refresh(struct osc *o)
{
	char **v = NULL;
	size_t n = 0;
	int r = 0;

	if (readers_list(o, &v, &n) != 0)
		return 0;
	if (osc_plan_stale(&o->owners, &o->plan, v, n)) {
		DRV_LOG("module %s: the readers changed: OpenSC's "
			"ignored_readers rewritten, helper restarts",
			o->name);
		r = replan(o, v, n);
		r = r == 0 ? 1 : r;
	}
	strv_free(&v, &n);
	return r;
}
