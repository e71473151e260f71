/* Listening sockets handed over by systemd (socket activation). They stay
 * owned here for the daemon's lifetime: an export borrows one while it
 * exists, and a later export on the same socket can borrow it again. */
#ifndef TOKEND_ACTIVATION_H
#define TOKEND_ACTIVATION_H

#include <stdbool.h>
#include <stddef.h>

struct activation_fd {
	int fd;
	char *name; /* FileDescriptorName= ("unknown" when unset) */
	char *path; /* the socket's path, NULL if not a path socket */
	bool used;
};

struct activation {
	struct activation_fd *fds;
	size_t n;
};

/* Collects $LISTEN_FDS (and unsets the variables). Sockets that are not
 * listening AF_UNIX stream sockets are closed with a warning. */
int activation_collect(struct activation *act);
/* A socket for an export: matched by name, or else by path; -1 if none. */
int activation_find(struct activation *act, const char *name, const char *path);
void activation_release(struct activation *act, int fd);
/* Closes them all. */
void activation_clear(struct activation *act);

#endif
