/* The credentials of a peer connected to one of our sockets: who it is,
 * for the exports' allow-lists, the per-peer connection cap and the logs. */
#ifndef TOKEND_PEER_H
#define TOKEND_PEER_H

#include <stddef.h>
#include <sys/types.h>

/* The credentials of a connected peer, as the daemon's user namespace sees
 * them (SO_PEERCRED / SO_PEERGROUPS translate a container's ids). */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

/* Reads SO_PEERCRED and SO_PEERGROUPS of a connected socket. */
int peer_from_socket(int fd, struct peer *out);
int peer_copy(const struct peer *src, struct peer *dst);
void peer_clear(struct peer *p);

#endif
