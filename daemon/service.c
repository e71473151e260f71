/* The daemon's state, reload and shutdown. */
#include "service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "activation.h"
#include "conn.h"
#include "control.h"
#include "devices.h"
#include "error.h"
#include "export.h"
#include "log.h"
#include "loop.h"
#include "worker.h"

struct service {
	char *config_path;
	bool config_explicit;
	bool verbose;
	struct config *cfg;
	struct loop *loop;
	int sigfd;
	struct loop_watch *sigwatch;
	struct activation act;
	struct export **exports; /* parallel to cfg->exports */
	struct devices *devices; /* the watchers feeding the slot table */
	struct control *control; /* tokenctl's socket (control.h) */
};

static void service_apply_log_level(struct service *s)
{
	log_set_level(s->verbose ? LOG_DEBUG : s->cfg->log_level);
}

static void service_notify_status(struct service *s)
{
	size_t conns = 0;

	for (size_t i = 0; i < s->cfg->n_exports; i++)
		conns += s->exports[i]->nconns;
	sd_notifyf(0, "STATUS=%zu export(s), %zu connection(s)",
		   s->cfg->n_exports, conns);
}

static int service_open_export(struct service *s, struct export_conf *ec,
			       const struct config_limits *limits,
			       struct export **out)
{
	int fd = activation_find(&s->act, ec->name, ec->socket);
	int r;

	r = export_open(s->loop, ec, limits, fd, out);
	if (r != 0 && fd >= 0)
		activation_release(&s->act, fd);
	return r;
}

static void service_close_export(struct service *s, struct export **ex)
{
	int fd;

	if (*ex == NULL)
		return;
	fd = (*ex)->borrowed ? (*ex)->fd : -1;
	export_close(ex);
	if (fd >= 0)
		activation_release(&s->act, fd);
}

static size_t service_n_exports(const struct service *s)
{
	return s->cfg ? s->cfg->n_exports : 0;
}

static struct export *service_find_export(struct service *s, const char *socket)
{
	for (size_t i = 0; i < service_n_exports(s); i++)
		if (s->exports[i] &&
		    strcmp(s->exports[i]->conf->socket, socket) == 0)
			return s->exports[i];
	return NULL;
}

/* Builds the export list for cfg: kept exports are taken over (not yet
 * updated), new ones opened. On failure the new ones are closed again and
 * nothing has changed. kept[i] tells which were taken over. */
static int service_prepare(struct service *s, struct config *cfg,
			   struct export **next, bool *kept)
{
	int r = 0;

	for (size_t i = 0; i < cfg->n_exports; i++) {
		struct export_conf *ec = cfg->exports[i];

		next[i] = service_find_export(s, ec->socket);
		kept[i] = next[i] != NULL;
		if (kept[i])
			continue;
		r = service_open_export(s, ec, &cfg->limits, &next[i]);
		if (r != 0) {
			log_err("export %s: cannot open %s: %s", ec->name,
				ec->socket, tk_strerror(r));
			break;
		}
	}
	if (r == 0)
		return 0;
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (!kept[i])
			service_close_export(s, &next[i]);
	return r;
}

/* Closes the old exports the new config no longer has. */
static void service_drop_removed(struct service *s, struct export **next,
				 size_t n)
{
	for (size_t i = 0; i < service_n_exports(s); i++) {
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = next[j] == s->exports[i];
		if (found)
			continue;
		log_info("export %s: removed (%zu connection(s) closed)",
			 s->exports[i]->conf->name, s->exports[i]->nconns);
		service_close_export(s, &s->exports[i]);
	}
}

static int service_apply(struct service *s, struct config *cfg)
{
	struct export **next;
	bool *kept;
	int r = TK_ERR_NOMEM;

	next = calloc(cfg->n_exports, sizeof(*next));
	kept = calloc(cfg->n_exports, sizeof(*kept));
	if (next == NULL || kept == NULL)
		goto out;
	if ((r = service_prepare(s, cfg, next, kept)) != 0)
		goto out;
	for (size_t i = 0; i < cfg->n_exports; i++) {
		struct export_conf *ec = cfg->exports[i];

		if (!kept[i])
			continue;
		if (!export_conf_equal(next[i]->conf, ec))
			log_info("export %s: settings changed; they apply to "
				 "new connections",
				 ec->name);
		if (export_update(next[i], ec, &cfg->limits) != 0)
			log_err("export %s: could not apply owner/mode to %s",
				ec->name, ec->socket);
	}
	service_drop_removed(s, next, cfg->n_exports);
	worker_pool_set_max(cfg->limits.max_workers);
	free(s->exports);
	s->exports = next;
	next = NULL;
	config_free(&s->cfg);
	s->cfg = cfg;
	service_apply_log_level(s);
	r = 0;
out:
	free(next);
	free(kept);
	return r;
}

static int service_reload_why(struct service *s, char *err, size_t errlen);

int service_reload(struct service *s)
{
	char err[512];

	return service_reload_why(s, err, sizeof(err));
}

/* service_reload(), telling why a refused config was refused. */
static int service_reload_why(struct service *s, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	int r;

	sd_notify(0, "RELOADING=1");
	log_info("reloading %s", s->config_path);
	r = config_load(s->config_path, s->config_explicit, &cfg, err, errlen);
	if (r != 0) {
		log_err("reload refused, keeping the running config: %s", err);
		goto out;
	}
	if ((r = service_apply(s, cfg)) != 0) {
		snprintf(err, errlen, "an export could not be opened (%s)",
			 tk_strerror(r));
		log_err("reload refused, keeping the running config: %s", err);
		config_free(&cfg);
		goto out;
	}
	log_info("reloaded: %zu export(s)", s->cfg->n_exports);
out:
	sd_notify(0, "READY=1");
	service_notify_status(s);
	return r;
}

static void service_stop(struct service *s)
{
	struct timespec deadline;

	sd_notify(0, "STOPPING=1");
	log_info("stopping");
	/* First nobody new gets in, then the requests in flight finish (all
	 * within one bounded wait) and the connections close. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += EXPORT_CLOSE_WAIT_S;
	control_close(&s->control);
	for (size_t i = 0; i < s->cfg->n_exports; i++)
		export_stop_listening(s->exports[i]);
	for (size_t i = 0; i < s->cfg->n_exports; i++)
		export_close_conns(s->exports[i], &deadline);
	for (size_t i = 0; i < s->cfg->n_exports; i++)
		service_close_export(s, &s->exports[i]);
	loop_quit(s->loop, 0);
}

static void service_on_signal(struct loop *loop, int fd, uint32_t events,
			      void *ctx)
{
	struct service *s = ctx;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			service_reload(s);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("signal %u from pid %u", si.ssi_signo,
				 si.ssi_pid);
			service_stop(s);
			return;
		}
	}
}

int service_new(struct config *cfg, const char *config_path,
		bool config_explicit, bool verbose, struct service **out)
{
	struct service *s;
	sigset_t mask;
	int r = TK_ERR_NOMEM;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		config_free(&cfg);
		return TK_ERR_NOMEM;
	}
	s->cfg = cfg;
	s->sigfd = -1;
	s->verbose = verbose;
	s->config_explicit = config_explicit;
	if ((s->config_path = strdup(config_path)) == NULL)
		goto out;
	if ((r = loop_new(&s->loop)) != 0)
		goto out;
	if ((r = conn_park_start(s->loop)) != 0)
		goto out;
	/* Readers and cards present now are listed before READY and read in
	 * the background; a client asking meanwhile waits for the reads. */
	if ((r = devices_new(s->loop, &s->devices)) != 0)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	r = TK_ERR_IO;
	if ((s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto out;
	}
	r = loop_add(s->loop, s->sigfd, EPOLLIN, service_on_signal, s,
		     &s->sigwatch);
	if (r != 0)
		goto out;
	if ((r = activation_collect(&s->act)) != 0)
		goto out;
	service_apply_log_level(s);
	*out = s;
	s = NULL;
out:
	service_free(&s);
	return r;
}

/* ---- the control socket's view of the service ---- */

static int service_ctl_reload(void *ctx, char *err, size_t errlen)
{
	return service_reload_why(ctx, err, errlen);
}

static struct export *const *service_ctl_exports(void *ctx, size_t *n)
{
	struct service *s = ctx;

	*n = service_n_exports(s);
	return s->exports;
}

static gid_t service_ctl_admin_gid(void *ctx)
{
	return ((struct service *)ctx)->cfg->control_gid;
}

/* A control socket that cannot open is logged; tokend serves anyway. */
static void service_control_open(struct service *s)
{
	const struct control_host host = {
		.ctx = s,
		.reload = service_ctl_reload,
		.exports = service_ctl_exports,
		.admin_gid = service_ctl_admin_gid,
	};

	if (s->cfg->control_socket[0] == '\0')
		return;
	/* The default lives in the unit's RuntimeDirectory: a tokend started
	 * by hand (tests, a developer's config) does not create /run/tokend
	 * just for it. A control-socket named in the config is created as
	 * exports are. */
	if (strcmp(s->cfg->control_socket, CONFIG_DEFAULT_CONTROL) == 0 &&
	    access("/run/tokend", F_OK) != 0) {
		log_info("control: /run/tokend does not exist: no control "
			 "socket (set control-socket to have one)");
		return;
	}
	if (control_open(s->loop, s->cfg->control_socket, s->cfg->control_gid,
			 &host, &s->control) != 0)
		log_err("control: cannot open %s; tokenctl will not reach "
			"this tokend",
			s->cfg->control_socket);
}

int service_run(struct service *s)
{
	struct config *cfg = s->cfg;
	int r;

	/* Start-up is a reload from nothing. */
	s->cfg = NULL;
	if ((r = service_apply(s, cfg)) != 0) {
		config_free(&cfg);
		return r;
	}
	service_control_open(s);
	sd_notify(0, "READY=1");
	service_notify_status(s);
	log_info("tokend ready: %zu export(s)", s->cfg->n_exports);
	return loop_run(s->loop);
}

void service_free(struct service **p)
{
	struct service *s = *p;

	if (s == NULL)
		return;
	control_close(&s->control);
	devices_free(&s->devices);
	for (size_t i = 0; s->exports && i < service_n_exports(s); i++)
		service_close_export(s, &s->exports[i]);
	free(s->exports);
	/* No more wake-ups for parked waits (all dropped with their
	 * connections). */
	conn_park_stop();
	if (s->loop) {
		/* Finishes of connections whose last request ended late. */
		loop_flush_posts(s->loop);
		loop_remove(s->loop, &s->sigwatch);
	}
	if (s->sigfd >= 0)
		close(s->sigfd);
	activation_clear(&s->act);
	loop_free(&s->loop);
	config_free(&s->cfg);
	free(s->config_path);
	free(s);
	*p = NULL;
}
