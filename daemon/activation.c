/* systemd socket activation. */
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "error.h"
#include "log.h"

static char *activation_path(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] != '/')
		return NULL;
	sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
	return strdup(sun.sun_path);
}

int activation_collect(struct activation *act)
{
	char **names = NULL;
	int n, fd, fl, r = 0;

	memset(act, 0, sizeof(*act));
	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		if (n < 0)
			log_warn("sd_listen_fds: %s", strerror(-n));
		return 0;
	}
	if ((act->fds = calloc((size_t)n, sizeof(*act->fds))) == NULL) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_warn("inherited fd %d (%s) is not a listening Unix "
				 "stream socket; closing it",
				 fd, names ? names[i] : "?");
			close(fd);
			continue;
		}
		if ((fl = fcntl(fd, F_GETFL)) >= 0)
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		act->fds[act->n].fd = fd;
		act->fds[act->n].name = strdup(names ? names[i] : "unknown");
		act->fds[act->n].path = activation_path(fd);
		log_info("inherited socket %s (%s) from systemd",
			 act->fds[act->n].path ? act->fds[act->n].path : "?",
			 act->fds[act->n].name ? act->fds[act->n].name : "?");
		act->n++;
	}
out:
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int activation_find(struct activation *act, const char *name, const char *path)
{
	struct activation_fd *a;
	size_t i;

	for (i = 0; i < act->n; i++) {
		a = &act->fds[i];
		if (!a->used && a->name && strcmp(a->name, name) == 0)
			break;
	}
	for (size_t j = 0; i == act->n && j < act->n; j++) {
		a = &act->fds[j];
		if (!a->used && a->path && strcmp(a->path, path) == 0)
			i = j;
	}
	if (i == act->n)
		return -1;
	a = &act->fds[i];
	if (a->path && strcmp(a->path, path) != 0)
		log_warn("export %s uses the socket systemd passed as '%s' at "
			 "%s, not %s",
			 name, a->name, a->path, path);
	a->used = true;
	return a->fd;
}

void activation_release(struct activation *act, int fd)
{
	for (size_t i = 0; i < act->n; i++)
		if (act->fds[i].fd == fd)
			act->fds[i].used = false;
}

void activation_clear(struct activation *act)
{
	for (size_t i = 0; i < act->n; i++) {
		close(act->fds[i].fd);
		free(act->fds[i].name);
		free(act->fds[i].path);
	}
	free(act->fds);
	memset(act, 0, sizeof(*act));
}
