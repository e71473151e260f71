/* tokenctl: asks a running tokend over its control socket
 * (daemon/control.h has the protocol) and checks config files with the
 * daemon's own loader. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "control.h"

#ifndef TOKEND_VERSION
#define TOKEND_VERSION "unknown"
#endif

/* Exit statuses: the daemon refused or failed the request; the command
 * line was wrong; the daemon could not be reached. */
enum { CTL_EXIT_FAILED = 1, CTL_EXIT_USAGE = 2, CTL_EXIT_UNREACHABLE = 3 };

struct ctl_args {
	const char *socket;
	bool json;
	const char *cmd;
	const char *arg;
};

static void ctl_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: tokenctl [--json] [-s SOCKET] COMMAND\n"
	    "  status              tokens, exports, connections, helpers\n"
	    "                      and recent errors\n"
	    "  reload              reload the config, as SIGHUP does\n"
	    "  check-config FILE   check a config file\n"
	    "  watch               live events until interrupted\n"
	    "  trace EXPORT|CONN   every PKCS#11 call of an export's "
	    "connections,\n"
	    "                      or of one connection (its id in status)\n"
	    "  -s, --socket PATH   control socket (default %s)\n"
	    "  -j, --json          JSON output for scripts\n",
	    CONFIG_DEFAULT_CONTROL);
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tokenctl: %s: path too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, "tokenctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "tokenctl: cannot reach tokend at %s: %s\n",
			path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static bool ctl_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* Reads the status line ("ok" or "error ..."), then copies the body to
 * stdout as it comes. */
static int ctl_request(const struct ctl_args *a, const char *verb)
{
	char line[CONTROL_MAX_REQUEST], head[512], chunk[4096];
	size_t hlen = 0;
	bool in_head = true;
	int fd, send_err, rc = CTL_EXIT_FAILED;
	ssize_t r;

	if (a->arg && strcspn(a->arg, " \n") != strlen(a->arg)) {
		fprintf(stderr, "tokenctl: %s: no such export\n", a->arg);
		return CTL_EXIT_USAGE;
	}
	snprintf(line, sizeof(line), "%s%s%s%s\n", verb, a->arg ? " " : "",
		 a->arg ? a->arg : "", a->json ? " json" : "");
	if ((fd = ctl_connect(a->socket)) < 0)
		return CTL_EXIT_UNREACHABLE;
	/* A refused peer may be answered and closed before its request is
	 * sent: read the answer all the same. */
	send_err = ctl_write_all(fd, line, strlen(line)) ? 0 : errno;
	while ((r = recv(fd, chunk, sizeof(chunk), 0)) != 0) {
		const char *body = chunk;
		size_t blen = r > 0 ? (size_t)r : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "tokenctl: recv: %s\n",
				strerror(errno));
			goto out;
		}
		if (in_head) {
			char *nl = memchr(chunk, '\n', blen);
			size_t take = nl ? (size_t)(nl - chunk) + 1 : blen;

			if (hlen + take >= sizeof(head)) {
				fprintf(stderr, "tokenctl: reply too long\n");
				goto out;
			}
			memcpy(head + hlen, chunk, take);
			hlen += take;
			if (nl == NULL)
				continue;
			head[hlen - 1] = '\0';
			in_head = false;
			if (strncmp(head, "error ", 6) == 0) {
				fprintf(stderr, "tokenctl: %s\n", head + 6);
				goto out;
			}
			if (strcmp(head, "ok") != 0) {
				fprintf(stderr, "tokenctl: unexpected reply\n");
				goto out;
			}
			body = chunk + take;
			blen -= take;
		}
		if (blen > 0 && fwrite(body, 1, blen, stdout) != blen)
			goto out;
		fflush(stdout);
	}
	if (in_head && send_err)
		fprintf(stderr, "tokenctl: send: %s\n", strerror(send_err));
	else if (in_head)
		fprintf(stderr, "tokenctl: tokend closed the connection\n");
	else
		rc = 0;
out:
	close(fd);
	return rc;
}

/* The daemon's loader, run here: the same verdict as tokend
 * --check-config -c FILE. */
static int ctl_check_config(const struct ctl_args *a)
{
	struct config *cfg = NULL;
	char err[512];
	struct buf b;

	if (config_load(a->arg, true, &cfg, err, sizeof(err)) != 0) {
		if (!a->json) {
			fprintf(stderr, "tokenctl: %s\n", err);
			return CTL_EXIT_FAILED;
		}
		buf_init(&b, 0);
		control_printf(&b, "{\"file\":");
		control_json_str(&b, a->arg);
		control_printf(&b, ",\"ok\":false,\"error\":");
		control_json_str(&b, err);
		control_printf(&b, "}\n");
		fwrite(b.data, 1, b.len, stdout);
		buf_free(&b);
		return CTL_EXIT_FAILED;
	}
	if (a->json) {
		buf_init(&b, 0);
		control_printf(&b, "{\"file\":");
		control_json_str(&b, a->arg);
		control_printf(&b, ",\"ok\":true,\"exports\":%zu}\n",
			       cfg->n_exports);
		fwrite(b.data, 1, b.len, stdout);
		buf_free(&b);
	} else {
		printf("%s: OK, %zu export(s)\n", a->arg, cfg->n_exports);
	}
	config_free(&cfg);
	return 0;
}

/* Returns -1 to go on, else the exit status. */
static int ctl_parse(int argc, char **argv, struct ctl_args *a)
{
	enum { OPT_VERSION = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->socket = CONFIG_DEFAULT_CONTROL;
	while ((c = getopt_long(argc, argv, "+js:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("tokenctl %s\n", TOKEND_VERSION);
			return 0;
		default:
			ctl_usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	/* --json may follow the command too: "tokenctl status --json". */
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 ||
		    strcmp(argv[i], "-j") == 0)
			a->json = true;
		else if (a->cmd == NULL)
			a->cmd = argv[i];
		else if (a->arg == NULL)
			a->arg = argv[i];
		else
			a->cmd = "";
	}
	if (a->cmd == NULL || a->cmd[0] == '\0') {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		bool arg;
	} verbs[] = {
		{ "status", false },
		{ "reload", false },
		{ "watch", false },
		{ "trace", true },
	};
	struct ctl_args a = { 0 };
	int r;

	if ((r = ctl_parse(argc, argv, &a)) >= 0)
		return r;
	if (strcmp(a.cmd, "check-config") == 0 && a.arg != NULL)
		return ctl_check_config(&a);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(a.cmd, verbs[i].name) == 0 &&
		    verbs[i].arg == (a.arg != NULL))
			return ctl_request(&a, verbs[i].name);
	ctl_usage(stderr);
	return CTL_EXIT_USAGE;
}
