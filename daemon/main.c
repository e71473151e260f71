/* tokend: exports the machine's hardware tokens as PKCS#11 over Unix
 * sockets speaking the p11-kit RPC protocol. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "drv_log.h"
#include "conn.h"
#include "error.h"
#include "frontend.h"
#include "log.h"
#include "service.h"
#include "worker.h"

#ifndef TOKEND_VERSION
#define TOKEND_VERSION "unknown"
#endif

struct main_args {
	const char *config;
	bool config_explicit;
	bool foreground;
	bool check;
	bool verbose;
};

static void main_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: tokend [-c FILE] [-f] [-v] [--check-config] [--version]\n"
	    "  -c, --config FILE   config file (default %s)\n"
	    "  -f, --foreground    do not detach (implied under systemd)\n"
	    "  -v, --verbose       log debug messages\n"
	    "      --check-config  validate the config and exit\n"
	    "      --version       print the version and exit\n",
	    CONFIG_DEFAULT_PATH);
}

/* Returns -1 to go on, else the exit status. */
static int main_parse(int argc, char **argv, struct main_args *a)
{
	enum { OPT_CHECK = 256, OPT_VERSION };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->config = CONFIG_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			a->config_explicit = true;
			break;
		case 'f':
			a->foreground = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case OPT_CHECK:
			a->check = true;
			break;
		case OPT_VERSION:
			printf("tokend %s\n", TOKEND_VERSION);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	return -1;
}

/* Signals arrive through the service's signalfd: block them before any
 * thread exists so every thread inherits the mask. */
static void main_signals(void)
{
	sigset_t mask;
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* A client that vanishes must not kill us mid-write. */
	sigaction(SIGPIPE, &sa, NULL);
}

/* Up to the hard limit: each connection costs one descriptor. */
static void main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit NOFILE: %s", strerror(errno));
	}
}

static bool main_under_systemd(void)
{
	return getenv("NOTIFY_SOCKET") || getenv("LISTEN_FDS") ||
	       getenv("INVOCATION_ID");
}

static int main_check(const struct main_args *a)
{
	struct config *cfg = NULL;
	char err[512];

	if (config_load(a->config, a->config_explicit, &cfg, err,
			sizeof(err)) != 0) {
		fprintf(stderr, "tokend: %s\n", err);
		return 1;
	}
	printf("%s: OK, %zu export(s)%s\n", a->config, cfg->n_exports,
	       cfg->path ? "" : " (built-in default: file absent)");
	config_free(&cfg);
	return 0;
}

/* Idle worker threads kept for the next requests. */
#define MAIN_WORKERS_IDLE 8
/* After the connections are closed: how long their workers may take. */
#define MAIN_WORKERS_STOP_MS 2000

/* The front end with the drivers of cfg's driver sections
 * (drivers/registry.c). Its slots come from the device watchers
 * (devices.c, started with the service); pcscd may be absent: the PC/SC
 * watcher reconnects with back-off, so tokend starts anyway and serves an
 * empty slot list until then. */
/* The drivers' notices (a TPM gone, a state file skipped) in our log. */
static void main_drv_notice(bool warning, const char *line)
{
	if (warning)
		log_msg(LOG_WARNING, NULL, "%s", line);
	else
		log_notice("%s", line);
}

static int main_frontend_start(const struct config *cfg)
{
	struct tk_driver **drivers;
	size_t n = 0;
	int r;

	drv_log_set_sink(main_drv_notice);
	/* The TPM driver keeps its state under [tokend] state-dir. */
	free(cfg->drivers->state_dir);
	if (!(cfg->drivers->state_dir = strdup(cfg->state_dir)))
		return TK_ERR_NOMEM;
	if ((r = frontend_drivers(cfg->drivers, &drivers, &n)) != 0)
		return r;
	if (n == 0)
		log_err("no token driver could start; serving no tokens");
	if ((r = frontend_init(drivers, n)) != 0) {
		log_err("front end: %s", tk_strerror(r));
		for (size_t i = 0; i < n; i++)
			drivers[i]->ops->free(drivers[i]);
		free(drivers);
	}
	return r;
}

/* Every connection is closed: the front end logs out of and releases the
 * cards. Unless a request is still running on some card after the bounded
 * wait; then the process ends without touching what it uses. */
static void main_frontend_stop(void)
{
	if (!worker_pool_stop(MAIN_WORKERS_STOP_MS) || conn_abandoned() > 0) {
		log_err("requests still running at exit: leaving the cards to "
			"the system");
		_exit(0);
	}
	frontend_fini();
}

/* Serves until a stop signal. Returns the exit status. */
static int main_serve(struct config *cfg, const struct main_args *a)
{
	struct service *s = NULL;
	int r;

	if ((r = worker_pool_start(MAIN_WORKERS_IDLE)) != 0 ||
	    (r = main_frontend_start(cfg)) != 0) {
		config_free(&cfg);
		return 1;
	}
	if (service_new(cfg, a->config, a->config_explicit, a->verbose, &s) !=
	    0) {
		main_frontend_stop();
		return 1;
	}
	r = service_run(s);
	service_free(&s);
	main_frontend_stop();
	if (r != 0) {
		log_err("start-up failed: %s", tk_strerror(r));
		return 1;
	}
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct main_args a = { 0 };
	struct config *cfg = NULL;
	char err[512];
	int r;

	if ((r = main_parse(argc, argv, &a)) >= 0)
		return r;
	if (a.check)
		return main_check(&a);
	if (a.verbose)
		log_set_level(LOG_DEBUG);
	if (config_load(a.config, a.config_explicit, &cfg, err, sizeof(err)) !=
	    0) {
		log_err("%s", err);
		return 1;
	}
	if (cfg->path == NULL)
		log_info("%s not found: using the built-in default config",
			 a.config);
	if (!a.foreground && !main_under_systemd() && daemon(0, 1) < 0) {
		log_err("daemon: %s", strerror(errno));
		config_free(&cfg);
		return 1;
	}
	main_signals();
	main_raise_nofile();
	return main_serve(cfg, &a);
}
